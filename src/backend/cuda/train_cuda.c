/* The training step's device calls of recur.h (loss, penalty, clipping) and
 * the optimizer's device updates (src/train/optim_device.h), queued on the
 * default stream, which orders them after the stacks' streams' work. Scratch
 * memory comes from the stream-ordered allocator, so nothing waits. */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdlib.h>

#include "backend/cuda/cuda_util.h"
#include "backend/cuda/train_kernels.h"
#include "core/status.h"
#include "train/optim_device.h"

#define DEFAULT_STREAM ((cudaStream_t)0)
#define TRY_KERNEL(expr) RECUR_TRY(cuda_check((expr), #expr))

/* Stream-ordered scratch of `count` doubles. */
static recur_status scratch_alloc(size_t count, double **out)
{
    *out = NULL;
    return cuda_check((int)cudaMallocAsync((void **)out, sizeof(double) * (count ? count : 1),
                                           DEFAULT_STREAM),
                      "cudaMallocAsync");
}

static void scratch_free(double *scratch)
{
    if (scratch)
        cudaFreeAsync(scratch, DEFAULT_STREAM);
}

recur_status recur_cross_entropy_device(int n, int classes, const float *logits,
                                        const int64_t *targets, float *loss, float *grad_logits)
{
    if (n < 1 || classes < 1 || !logits || !targets || !loss || !grad_logits)
        return recur_fail(RECUR_E_INVALID, "cross_entropy_device: bad arguments");
    RECUR_TRY(cuda_require_device());
    double *scratch;
    RECUR_TRY(scratch_alloc((size_t)n + 1, &scratch));
    recur_status st = cuda_check(tk_cross_entropy(DEFAULT_STREAM, n, classes, logits, targets,
                                                  scratch, loss, grad_logits),
                                 "cross-entropy kernels");
    scratch_free(scratch);
    return st;
}

/* ---- tensor lists, in chunks of TK_LIST_MAX ---- */

static recur_status check_list(const char *who, int count, const void *pointers,
                               const size_t *sizes)
{
    if (count < 0 || (count > 0 && (!pointers || !sizes)))
        return recur_fail(RECUR_E_INVALID, "%s: bad arguments (count %d)", who, count);
    return cuda_require_device();
}

/* Tensors [first, first + TK_LIST_MAX) of the arrays (values may be NULL). */
static tk_list list_chunk(int count, int first, float *const *grads, const float *const *values,
                          const size_t *sizes)
{
    tk_list list = {0};
    for (int i = first; i < count && list.count < TK_LIST_MAX; i++, list.count++) {
        list.grad[list.count] = grads ? grads[i] : NULL;
        list.value[list.count] = values ? values[i] : NULL;
        list.size[list.count] = sizes[i];
    }
    return list;
}

static int chunk_count(int count) { return (count + TK_LIST_MAX - 1) / TK_LIST_MAX; }

recur_status recur_weight_penalty_device(int count, const float *const *values,
                                         float *const *grads, const size_t *sizes, float l1,
                                         float l2, float *loss)
{
    RECUR_TRY(check_list("weight_penalty_device", count, values, sizes));
    if (!(l1 >= 0.0f && isfinite(l1)) || !(l2 >= 0.0f && isfinite(l2)))
        return recur_fail(RECUR_E_INVALID,
                          "weight_penalty_device: l1 %g and l2 %g must be finite and >= 0",
                          (double)l1, (double)l2);
    const int chunks = chunk_count(count);
    const size_t n = (size_t)chunks * TK_PARTIALS;
    double *partials;
    RECUR_TRY(scratch_alloc(2 * n, &partials));
    recur_status st = RECUR_OK;
    for (int c = 0; st == RECUR_OK && c < chunks; c++) {
        tk_list list = list_chunk(count, c * TK_LIST_MAX, grads, values, sizes);
        st = cuda_check(tk_penalty(DEFAULT_STREAM, &list, l1, l2, partials + c * TK_PARTIALS,
                                   partials + n + c * TK_PARTIALS),
                        "penalty kernel");
    }
    if (st == RECUR_OK && loss && n > 0)
        st = cuda_check(tk_finish_penalty(DEFAULT_STREAM, (int)n, partials, l1, l2, loss),
                        "penalty kernel");
    scratch_free(partials);
    return st;
}

recur_status recur_clip_grad_norm_device(int count, float *const *grads, const size_t *sizes,
                                         float max_norm, float *total_norm)
{
    RECUR_TRY(check_list("clip_grad_norm_device", count, grads, sizes));
    if (!(max_norm > 0.0f) || !total_norm)
        return recur_fail(RECUR_E_INVALID,
                          "clip_grad_norm_device: max_norm %g must be > 0, total_norm a device "
                          "float",
                          (double)max_norm);
    const int chunks = chunk_count(count) ? chunk_count(count) : 1;
    const size_t n = (size_t)chunks * TK_PARTIALS;
    double *partials;
    RECUR_TRY(scratch_alloc(n, &partials));
    recur_status st = RECUR_OK;
    for (int c = 0; st == RECUR_OK && c < chunks; c++) {
        tk_list list = list_chunk(count, c * TK_LIST_MAX, grads, NULL, sizes);
        st = cuda_check(tk_sum_squares(DEFAULT_STREAM, &list, partials + c * TK_PARTIALS),
                        "norm kernel");
    }
    if (st == RECUR_OK)
        st = cuda_check(tk_finish_norm(DEFAULT_STREAM, (int)n, partials, total_norm),
                        "norm kernel");
    for (int c = 0; st == RECUR_OK && c < chunks; c++) {
        tk_list list = list_chunk(count, c * TK_LIST_MAX, grads, NULL, sizes);
        st = cuda_check(tk_scale_by_norm(DEFAULT_STREAM, &list, max_norm, total_norm),
                        "clip kernel");
    }
    scratch_free(partials);
    return st;
}

recur_status recur_clip_grad_value_device(int count, float *const *grads, const size_t *sizes,
                                          float clip_value)
{
    RECUR_TRY(check_list("clip_grad_value_device", count, grads, sizes));
    if (!(clip_value >= 0.0f))
        return recur_fail(RECUR_E_INVALID, "clip_grad_value_device: clip_value %g must be >= 0",
                          (double)clip_value);
    for (int c = 0; c < chunk_count(count); c++) {
        tk_list list = list_chunk(count, c * TK_LIST_MAX, grads, NULL, sizes);
        TRY_KERNEL(tk_clip_value(DEFAULT_STREAM, &list, clip_value));
    }
    return RECUR_OK;
}

/* ---- the optimizer's device side ---- */

recur_status optim_device_update(const optim_update *u)
{
    if (u->numel == 0)
        return RECUR_OK;
    tk_check check = {u->check, u->check_count};
    switch (u->kind) {
    case RECUR_SGD:
        TRY_KERNEL(tk_sgd(DEFAULT_STREAM, u->numel, u->value, u->grad, u->momentum_buffer,
                          u->first, u->weight_decay, u->momentum, u->keep_grad, u->nesterov,
                          u->step, check));
        break;
    case RECUR_ADAM:
    case RECUR_ADAMW: {
        tk_adam_coefficients k = {u->beta1,
                                  u->beta2,
                                  u->one_minus_beta1,
                                  u->one_minus_beta2,
                                  u->step,
                                  u->bias_correction2_sqrt,
                                  u->eps,
                                  u->param_scale,
                                  u->l2,
                                  u->decoupled};
        TRY_KERNEL(tk_adam(DEFAULT_STREAM, u->numel, u->value, u->grad, u->exp_avg,
                           u->exp_avg_sq, u->max_exp_avg_sq, k, check));
        break;
    }
    case RECUR_RMSPROP:
        TRY_KERNEL(tk_rmsprop(DEFAULT_STREAM, u->numel, u->value, u->grad, u->square_avg,
                              u->grad_avg, u->momentum_buffer, u->alpha, u->one_minus_alpha,
                              u->eps, u->weight_decay, u->momentum, u->step, check));
        break;
    case RECUR_ADAGRAD:
        TRY_KERNEL(tk_adagrad(DEFAULT_STREAM, u->numel, u->value, u->grad, u->state_sum,
                              u->weight_decay, u->eps, u->step, check));
        break;
    }
    return RECUR_OK;
}

recur_status optim_device_alloc(size_t floats, float fill, float **out)
{
    *out = NULL;
    if (floats == 0)
        return RECUR_OK;
    RECUR_TRY(cuda_require_device());
    RECUR_TRY(cuda_check((int)cudaMalloc((void **)out, sizeof(float) * floats),
                         "cudaMalloc (optimizer state)"));
    if (fill == 0.0f)
        return cuda_check((int)cudaMemset(*out, 0, sizeof(float) * floats), "cudaMemset");
    float *host = malloc(sizeof(float) * floats);
    if (!host) {
        optim_device_free(*out);
        *out = NULL;
        return recur_fail(RECUR_E_NOMEM, "out of memory for the optimizer state");
    }
    for (size_t k = 0; k < floats; k++)
        host[k] = fill;
    recur_status st = cuda_check((int)cudaMemcpy(*out, host, sizeof(float) * floats,
                                                 cudaMemcpyHostToDevice),
                                 "cudaMemcpy (optimizer state)");
    free(host);
    return st;
}

void optim_device_free(float *block)
{
    if (block)
        cudaFree(block);
}

recur_status optim_device_copy(float *dst, const float *src, size_t floats, int to_device)
{
    RECUR_TRY(cuda_check((int)cudaDeviceSynchronize(), "cudaDeviceSynchronize"));
    return cuda_check((int)cudaMemcpy(dst, src, sizeof(float) * floats,
                                      to_device ? cudaMemcpyHostToDevice
                                                : cudaMemcpyDeviceToHost),
                      "cudaMemcpy (optimizer state)");
}
