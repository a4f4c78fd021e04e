/* Built without CUDA (RECUR_CUDA=OFF): the device calls of recur.h and the
 * internal CUDA stack say so. */
#include <stdio.h>

#include "backend/cuda/lm_cuda.h"
#include "backend/cuda/rnn_cuda.h"
#include "core/status.h"
#include "train/optim_device.h"

#define NO_CUDA "recur was built without CUDA (configure with -DRECUR_CUDA=ON and nvcc)"

int recur_cuda_device_count(void) { return 0; }

void recur_cuda_describe(char *buf, size_t size)
{
    if (buf && size)
        snprintf(buf, size, "no CUDA: %s", NO_CUDA);
}

recur_status recur_cuda_set_device(int ordinal)
{
    (void)ordinal;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
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
                              const recur_rnn_forward_args *args, const float *const *drop_masks,
                              int keep)
{
    (void)cuda, (void)plan, (void)args, (void)drop_masks, (void)keep;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status rnn_cuda_backward(rnn_cuda *cuda, const recur_rnn_backward_args *args,
                               void (*layer_done)(void *context, int layer), void *context)
{
    (void)cuda, (void)args, (void)layer_done, (void)context;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status rnn_cuda_forward_host(rnn_cuda *cuda, const float *values,
                                   const recur_pack_plan *plan, const recur_rnn_forward_args *args,
                                   const float *const *drop_masks, int keep)
{
    (void)cuda, (void)values, (void)plan, (void)args, (void)drop_masks, (void)keep;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status rnn_cuda_backward_host(rnn_cuda *cuda, const recur_rnn_backward_args *args,
                                    float *grads)
{
    (void)cuda, (void)args, (void)grads;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}

recur_status recur_cuda_memcpy_async(void *dst, const void *src, size_t bytes,
                                     recur_copy_kind kind)
{
    return recur_cuda_memcpy(dst, src, bytes, kind);
}

recur_status recur_cross_entropy_device(int n, int classes, const float *logits,
                                        const int64_t *targets, float *loss, float *grad_logits)
{
    (void)n, (void)classes, (void)logits, (void)targets, (void)loss, (void)grad_logits;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status recur_weight_penalty_device(int count, const float *const *values,
                                         float *const *grads, const size_t *sizes, float l1,
                                         float l2, float *loss)
{
    (void)count, (void)values, (void)grads, (void)sizes, (void)l1, (void)l2, (void)loss;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status recur_clip_grad_norm_device(int count, float *const *grads, const size_t *sizes,
                                         float max_norm, float *total_norm)
{
    (void)count, (void)grads, (void)sizes, (void)max_norm, (void)total_norm;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status recur_clip_grad_value_device(int count, float *const *grads, const size_t *sizes,
                                          float clip_value)
{
    (void)count, (void)grads, (void)sizes, (void)clip_value;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}

recur_status optim_device_update(const optim_update *u)
{
    (void)u;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status optim_device_alloc(size_t floats, float fill, float **out)
{
    (void)floats, (void)fill;
    *out = NULL;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
void optim_device_free(float *block) { (void)block; }
recur_status optim_device_copy(float *dst, const float *src, size_t floats, int to_device)
{
    (void)dst, (void)src, (void)floats, (void)to_device;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}

recur_status lm_cuda_create(int vocab, int embed, int hidden, const float *const *values,
                            lm_cuda **out)
{
    (void)vocab, (void)embed, (void)hidden, (void)values;
    *out = NULL;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
void lm_cuda_free(lm_cuda *cu) { (void)cu; }
/* Unreachable without a created object: */
float *lm_cuda_value(lm_cuda *cu, int tensor) { (void)cu, (void)tensor; return NULL; }
float *lm_cuda_grad(lm_cuda *cu, int tensor) { (void)cu, (void)tensor; return NULL; }
recur_status lm_cuda_upload(lm_cuda *cu, const float *const *values)
{
    (void)cu, (void)values;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status lm_cuda_download(lm_cuda *cu, float *const *values, float *const *grads)
{
    (void)cu, (void)values, (void)grads;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status lm_cuda_zero_grad(lm_cuda *cu)
{
    (void)cu;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status lm_cuda_embed(lm_cuda *cu, int rows, size_t state_n, size_t cell_n,
                           const int64_t *ids, lm_cuda_buffers *out)
{
    (void)cu, (void)rows, (void)state_n, (void)cell_n, (void)ids, (void)out;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status lm_cuda_head(lm_cuda *cu, const float *mask, const float **logits)
{
    (void)cu, (void)mask, (void)logits;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status lm_cuda_head_backward(lm_cuda *cu, const float *grad_logits, float **grad_rnn_out,
                                   float **grad_embedded)
{
    (void)cu, (void)grad_logits, (void)grad_rnn_out, (void)grad_embedded;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status lm_cuda_embed_backward(lm_cuda *cu)
{
    (void)cu;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status lm_cuda_get_state(lm_cuda *cu, float *h, float *c)
{
    (void)cu, (void)h, (void)c;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
recur_status lm_cuda_set_state(lm_cuda *cu, size_t state_n, size_t cell_n, const float *h,
                               const float *c)
{
    (void)cu, (void)state_n, (void)cell_n, (void)h, (void)c;
    return recur_fail(RECUR_E_INVALID, NO_CUDA);
}
