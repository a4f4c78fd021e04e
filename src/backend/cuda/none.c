/* Built without CUDA (RECUR_CUDA=OFF): the device calls of recur.h and the
 * internal CUDA stack say so. */
#include <stdio.h>

#include "backend/cuda/rnn_cuda.h"
#include "core/status.h"

#define NO_CUDA "recur was built without CUDA (configure with -DRECUR_CUDA=ON and nvcc)"

int recur_cuda_device_count(void) { return 0; }

void recur_cuda_describe(char *buf, size_t size)
{
    if (buf && size)
        snprintf(buf, size, "no CUDA: %s", NO_CUDA);
}

recur_status recur_cuda_malloc(void **ptr, size_t bytes)
{
    (void)bytes;
    if (ptr)
        *ptr = NULL;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}

void recur_cuda_free(void *ptr) { (void)ptr; }

recur_status recur_cuda_memcpy(void *dst, const void *src, size_t bytes, recur_copy_kind kind)
{
    (void)dst, (void)src, (void)bytes, (void)kind;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}

recur_status recur_cuda_synchronize(void) { return recur_fail(RECUR_E_INVALID, NO_CUDA); }

recur_status rnn_cuda_create(const rnn_cuda_layout *layout, const float *values, rnn_cuda **out)
{
    (void)layout, (void)values;
    *out = NULL;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}

void rnn_cuda_free(rnn_cuda *cuda) { (void)cuda; }

/* Unreachable without a created object; kept failing for safety. */
recur_status rnn_cuda_set_math(rnn_cuda *cuda, recur_math math)
{
    (void)cuda, (void)math;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
float *rnn_cuda_params(rnn_cuda *cuda) { (void)cuda; return NULL; }
float *rnn_cuda_grads(rnn_cuda *cuda) { (void)cuda; return NULL; }
recur_status rnn_cuda_upload_params(rnn_cuda *cuda, const float *values)
{
    (void)cuda, (void)values;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status rnn_cuda_download(rnn_cuda *cuda, float *values, float *grads)
{
    (void)cuda, (void)values, (void)grads;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status rnn_cuda_zero_grad(rnn_cuda *cuda)
{
    (void)cuda;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status rnn_cuda_forward(rnn_cuda *cuda, const recur_pack_plan *plan,
                              const recur_rnn_forward_args *args, const float *const *drop_masks)
{
    (void)cuda, (void)plan, (void)args, (void)drop_masks;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status rnn_cuda_backward(rnn_cuda *cuda, const recur_rnn_backward_args *args)
{
    (void)cuda, (void)args;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status rnn_cuda_forward_host(rnn_cuda *cuda, const float *values,
                                   const recur_pack_plan *plan, const recur_rnn_forward_args *args,
                                   const float *const *drop_masks)
{
    (void)cuda, (void)values, (void)plan, (void)args, (void)drop_masks;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status rnn_cuda_backward_host(rnn_cuda *cuda, const recur_rnn_backward_args *args,
                                    float *grads)
{
    (void)cuda, (void)args, (void)grads;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
