/* CUDA kernels of the training step around the recurrent stack, callable
 * from C: embedding, cross-entropy, weight penalty, gradient clipping and the
 * optimizers' update rules. Each tk_* function queues its kernels on
 * `stream` and returns a cudaError_t as an int (0 = cudaSuccess). The math is
 * that of the host code named at each function, operation for operation
 * (compiled without fused multiply-adds), and every sum runs in a fixed
 * order, so results are deterministic. Internal. */
#ifndef RECUR_BACKEND_CUDA_TRAIN_KERNELS_H
#define RECUR_BACKEND_CUDA_TRAIN_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- embedding (src/nn/embedding.c) ---- */

/* out[r, :dim] = weight[ids[r], :dim]; zeros when ids[r] is outside 0..count-1. */
int tk_embedding_forward(cudaStream_t stream, int rows, int dim, int count, const int64_t *ids,
                         const float *weight, float *out);
/* grad_weight[ids[r], :] += grad_out[r, :] for r in increasing order (rows
 * whose id is out of range or padding_idx add nothing). */
int tk_embedding_backward(cudaStream_t stream, int rows, int dim, int count, int padding_idx,
                          const int64_t *ids, const float *grad_out, float *grad_weight);

/* ---- loss (src/train/loss.c, default options) ---- */

/* Mean cross-entropy over the rows whose target is in 0..classes-1 into
 * *loss, and its gradient into grad_logits [n, classes] (zero rows for the
 * others). scratch: n + 1 doubles of device memory. */
int tk_cross_entropy(cudaStream_t stream, int n, int classes, const float *logits,
                     const int64_t *targets, double *scratch, float *loss, float *grad_logits);

/* ---- tensor lists (src/train/penalty.c, src/train/clip.c) ---- */

#define TK_LIST_MAX 32
/* Up to TK_LIST_MAX device tensors. */
typedef struct tk_list {
    int count;
    float *grad[TK_LIST_MAX];
    const float *value[TK_LIST_MAX];
    size_t size[TK_LIST_MAX];
} tk_list;

/* Blocks of the partial sums: a reduction over one list writes TK_PARTIALS
 * doubles per sum. */
#define TK_PARTIALS 128

/* Sum of grad^2 over the list into partials[0..TK_PARTIALS). */
int tk_sum_squares(cudaStream_t stream, const tk_list *list, double *partials);
/* grad += l1 * sign(value) + 2 l2 value (in double, as the host; grad may be
 * NULL), and the sums of |value| and value^2 into abs_partials and
 * sq_partials [TK_PARTIALS]. */
int tk_penalty(cudaStream_t stream, const tk_list *list, float l1, float l2,
               double *abs_partials, double *sq_partials);
/* With s1, s2 the sums of partials[0..n) and partials[n..2n):
 * *loss = (float)((double)*loss + l1 s1 + l2 s2), and *norm = (float)sqrt(s1). */
int tk_finish_penalty(cudaStream_t stream, int n, const double *partials, float l1, float l2,
                      float *loss);
int tk_finish_norm(cudaStream_t stream, int n, const double *partials, float *norm);
/* grad *= max_norm / (*norm + 1e-6f) when that is < 1. */
int tk_scale_by_norm(cudaStream_t stream, const tk_list *list, float max_norm, const float *norm);
/* grad = clamp(grad, -clip_value, clip_value), NaN kept. */
int tk_clip_value(cudaStream_t stream, const tk_list *list, float clip_value);

/* ---- optimizers (src/train/optim.c) ----
 * Every update leaves the tensor alone when any of check[0..check_count) is
 * not finite. Coefficients are formed on the host as in optim.c. */
typedef struct tk_check {
    const float *values; /* device, or NULL */
    int count;
} tk_check;

int tk_sgd(cudaStream_t stream, size_t n, float *value, const float *grad, float *momentum_buffer,
           int first, float weight_decay, float momentum, float keep_grad, int nesterov,
           float neg_lr, tk_check check);
typedef struct tk_adam_coefficients {
    float beta1, beta2, one_minus_beta1, one_minus_beta2;
    float neg_step_size, bias_correction2_sqrt, eps;
    float param_scale; /* AdamW: 1 - lr * weight_decay */
    float l2;          /* Adam: weight_decay added to the gradient */
    int decoupled;
} tk_adam_coefficients;
int tk_adam(cudaStream_t stream, size_t n, float *value, const float *grad, float *exp_avg,
            float *exp_avg_sq, float *max_exp_avg_sq, tk_adam_coefficients k, tk_check check);
int tk_rmsprop(cudaStream_t stream, size_t n, float *value, const float *grad, float *square_avg,
               float *grad_avg, float *momentum_buffer, float alpha, float one_minus_alpha,
               float eps, float weight_decay, float momentum, float neg_lr, tk_check check);
int tk_adagrad(cudaStream_t stream, size_t n, float *value, const float *grad, float *state_sum,
               float weight_decay, float eps, float neg_clr, tk_check check);

#ifdef __cplusplus
}
#endif

#endif
