/* Keeping one array in the GPU's L2 cache while a stream's kernels read it
 * again and again: an access-policy window on the stream that marks the
 * array's lines persisting, in the part of L2 set aside for them. Internal;
 * compiled only with RECUR_CUDA. */
#ifndef RECUR_BACKEND_CUDA_L2_WINDOW_H
#define RECUR_BACKEND_CUDA_L2_WINDOW_H

#include <cuda_runtime_api.h>
#include <stddef.h>

#include "recur.h"

/* What this GPU allows, queried once (zeros: no persisting lines). */
typedef struct cuda_l2_window {
    int queried;
    size_t max_set_aside, max_window; /* bytes */
    size_t set_aside;                 /* what was set aside so far */
} cuda_l2_window;

/* The work queued on `stream` from now on keeps [base, base + bytes) in L2
 * as far as the set-aside part holds it (grown to min(bytes, the GPU's
 * maximum); the device-wide limit, never shrunk by this object): lines of a
 * window larger than that persist with the ratio that fits. Nothing where
 * the GPU has no persisting lines. */
recur_status cuda_l2_window_set(cuda_l2_window *window, cudaStream_t stream, const void *base,
                                size_t bytes);
/* Ends the stream's window (its lines stay until later ones evict them). */
recur_status cuda_l2_window_clear(cuda_l2_window *window, cudaStream_t stream);

#endif
