/* The L2 access-policy window (see l2_window.h). */
#include "backend/cuda/l2_window.h"

#include "backend/cuda/cuda_util.h"
#include "core/status.h"

static recur_status query(cuda_l2_window *window)
{
    if (window->queried)
        return RECUR_OK;
    int device = 0, set_aside = 0, max_window = 0;
    RECUR_TRY(cuda_check((int)cudaGetDevice(&device), "cudaGetDevice"));
    if (cudaDeviceGetAttribute(&set_aside, cudaDevAttrMaxPersistingL2CacheSize, device) !=
            cudaSuccess ||
        cudaDeviceGetAttribute(&max_window, cudaDevAttrMaxAccessPolicyWindowSize, device) !=
            cudaSuccess)
        set_aside = max_window = 0; /* an older GPU: no persisting lines */
    window->max_set_aside = set_aside > 0 ? (size_t)set_aside : 0;
    window->max_window = max_window > 0 ? (size_t)max_window : 0;
    window->queried = 1;
    return RECUR_OK;
}

static recur_status set_stream_window(cudaStream_t stream, const void *base, size_t bytes,
                                      float hit_ratio)
{
    cudaLaunchAttributeValue value;
    value.accessPolicyWindow.base_ptr = (void *)base;
    value.accessPolicyWindow.num_bytes = bytes;
    value.accessPolicyWindow.hitRatio = hit_ratio;
    value.accessPolicyWindow.hitProp = cudaAccessPropertyPersisting;
    value.accessPolicyWindow.missProp = cudaAccessPropertyStreaming;
    return cuda_check((int)cudaStreamSetAttribute(stream, cudaLaunchAttributeAccessPolicyWindow,
                                                  &value),
                      "cudaStreamSetAttribute (L2 window)");
}

recur_status cuda_l2_window_set(cuda_l2_window *window, cudaStream_t stream, const void *base,
                                size_t bytes)
{
    RECUR_TRY(query(window));
    if (!window->max_set_aside || !window->max_window || !bytes)
        return RECUR_OK;
    if (bytes > window->max_window)
        bytes = window->max_window;
    const size_t wanted = bytes < window->max_set_aside ? bytes : window->max_set_aside;
    if (wanted > window->set_aside) {
        RECUR_TRY(cuda_check((int)cudaDeviceSetLimit(cudaLimitPersistingL2CacheSize, wanted),
                             "cudaDeviceSetLimit (persisting L2)"));
        window->set_aside = wanted;
    }
    const float hit_ratio = (float)((double)window->set_aside / (double)bytes);
    return set_stream_window(stream, base, bytes, hit_ratio > 1.0f ? 1.0f : hit_ratio);
}

recur_status cuda_l2_window_clear(cuda_l2_window *window, cudaStream_t stream)
{
    if (!window->set_aside)
        return RECUR_OK; /* never set */
    return set_stream_window(stream, NULL, 0, 0.0f);
}
