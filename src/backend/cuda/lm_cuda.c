/* The language model's embedding, head and state on a CUDA GPU (see
 * lm_cuda.h): the arithmetic of src/nn/embedding.c and src/nn/linear.c with
 * cuBLAS and the kernels of train_kernels.cu, on the default stream. */
#include "backend/cuda/lm_cuda.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdlib.h>

#include "backend/cuda/cuda_util.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/train_kernels.h"
#include "core/status.h"

#define STREAM ((cudaStream_t)0)
#define TRY_CUDA(expr, what) RECUR_TRY(cuda_check((int)(expr), what))
#define TRY_KERNEL(expr) RECUR_TRY(cuda_check((expr), #expr))
#define FLT(buffer) ((float *)(buffer).ptr)

struct lm_cuda {
    int vocab, embed, hidden;
    size_t numel[LM_CUDA_TENSORS];
    float *values, *grads; /* device: the tensors one after another */
    cuda_blas blas;
    /* the last forward */
    int rows, masked, have_forward;
    size_t state_n, cell_n;
    cuda_buffer ids;                 /* int64 [rows] */
    cuda_buffer embedded, rnn_out;   /* [rows, E], [rows, H] */
    cuda_buffer logits, mask, ones;  /* [rows, V], [rows, H], [rows] */
    cuda_buffer grad_rnn_out, grad_embedded;
    cuda_buffer h, c, h_n, c_n;      /* carried state and the stack's final state */
};

static size_t offset_of(const lm_cuda *cu, int tensor)
{
    size_t at = 0;
    for (int i = 0; i < tensor; i++)
        at += cu->numel[i];
    return at;
}

static size_t total_of(const lm_cuda *cu) { return offset_of(cu, LM_CUDA_TENSORS); }

float *lm_cuda_value(lm_cuda *cu, int tensor) { return cu->values + offset_of(cu, tensor); }
float *lm_cuda_grad(lm_cuda *cu, int tensor) { return cu->grads + offset_of(cu, tensor); }

recur_status lm_cuda_create(int vocab, int embed, int hidden, const float *const *values,
                            lm_cuda **out)
{
    *out = NULL;
    RECUR_TRY(cuda_require_device());
    lm_cuda *cu = calloc(1, sizeof *cu);
    if (!cu)
        return recur_fail(RECUR_E_NOMEM, "out of memory");
    cu->vocab = vocab, cu->embed = embed, cu->hidden = hidden;
    cu->numel[LM_CUDA_EMBEDDING] = (size_t)vocab * (size_t)embed;
    cu->numel[LM_CUDA_HEAD_WEIGHT] = (size_t)vocab * (size_t)hidden;
    cu->numel[LM_CUDA_HEAD_BIAS] = (size_t)vocab;
    const size_t bytes = sizeof(float) * total_of(cu);
    recur_status st = cuda_blas_open(&cu->blas, NULL); /* the default stream, FP32 math */
    if (st == RECUR_OK)
        st = cuda_check((int)cudaMalloc((void **)&cu->values, bytes), "cudaMalloc (parameters)");
    if (st == RECUR_OK)
        st = cuda_check((int)cudaMalloc((void **)&cu->grads, bytes), "cudaMalloc (gradients)");
    if (st == RECUR_OK)
        st = lm_cuda_upload(cu, values);
    if (st == RECUR_OK)
        st = lm_cuda_zero_grad(cu);
    if (st != RECUR_OK) {
        lm_cuda_free(cu);
        return st;
    }
    *out = cu;
    return RECUR_OK;
}

void lm_cuda_free(lm_cuda *cu)
{
    if (!cu)
        return;
    cudaDeviceSynchronize();
    cuda_buffer *buffers[] = {&cu->ids,  &cu->embedded,     &cu->rnn_out,       &cu->logits,
                              &cu->mask, &cu->ones,         &cu->grad_rnn_out,  &cu->grad_embedded,
                              &cu->h,    &cu->c,            &cu->h_n,           &cu->c_n};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
        cuda_buffer_release(buffers[i]);
    cudaFree(cu->values);
    cudaFree(cu->grads);
    cuda_blas_close(&cu->blas);
    free(cu);
}

recur_status lm_cuda_upload(lm_cuda *cu, const float *const *values)
{
    for (int i = 0; i < LM_CUDA_TENSORS; i++)
        TRY_CUDA(cudaMemcpy(lm_cuda_value(cu, i), values[i], sizeof(float) * cu->numel[i],
                            cudaMemcpyHostToDevice),
                 "cudaMemcpy (parameters)");
    return RECUR_OK;
}

recur_status lm_cuda_download(lm_cuda *cu, float *const *values, float *const *grads)
{
    for (int i = 0; i < LM_CUDA_TENSORS; i++) {
        const size_t bytes = sizeof(float) * cu->numel[i];
        if (values)
            TRY_CUDA(cudaMemcpy(values[i], lm_cuda_value(cu, i), bytes, cudaMemcpyDeviceToHost),
                     "cudaMemcpy (parameters)");
        if (grads)
            TRY_CUDA(cudaMemcpy(grads[i], lm_cuda_grad(cu, i), bytes, cudaMemcpyDeviceToHost),
                     "cudaMemcpy (gradients)");
    }
    return RECUR_OK;
}

recur_status lm_cuda_zero_grad(lm_cuda *cu)
{
    TRY_CUDA(cudaMemsetAsync(cu->grads, 0, sizeof(float) * total_of(cu), STREAM),
             "cudaMemsetAsync");
    return RECUR_OK;
}

recur_status lm_cuda_embed(lm_cuda *cu, int rows, size_t state_n, size_t cell_n,
                           const int64_t *ids, lm_cuda_buffers *out)
{
    const size_t R = (size_t)rows;
    cu->have_forward = 0;
    RECUR_TRY(cuda_buffer_reserve(&cu->ids, sizeof(int64_t) * R));
    RECUR_TRY(cuda_buffer_reserve(&cu->embedded, sizeof(float) * R * (size_t)cu->embed));
    RECUR_TRY(cuda_buffer_reserve(&cu->rnn_out, sizeof(float) * R * (size_t)cu->hidden));
    RECUR_TRY(cuda_buffer_reserve(&cu->logits, sizeof(float) * R * (size_t)cu->vocab));
    cuda_buffer *state[] = {&cu->h, &cu->h_n, &cu->c, &cu->c_n};
    for (int i = 0; i < 4; i++)
        RECUR_TRY(cuda_buffer_reserve(state[i], sizeof(float) * (i < 2 ? state_n : cell_n + 1)));
    cu->rows = rows, cu->state_n = state_n, cu->cell_n = cell_n;
    TRY_CUDA(cudaMemcpyAsync(cu->ids.ptr, ids, sizeof(int64_t) * R, cudaMemcpyDeviceToDevice,
                             STREAM),
             "cudaMemcpyAsync (ids)");
    TRY_KERNEL(tk_embedding_forward(STREAM, rows, cu->embed, cu->vocab,
                                    (const int64_t *)cu->ids.ptr, lm_cuda_value(cu, 0),
                                    FLT(cu->embedded)));
    *out = (lm_cuda_buffers){FLT(cu->embedded), FLT(cu->rnn_out), FLT(cu->h),
                             FLT(cu->c), FLT(cu->h_n), FLT(cu->c_n)};
    return RECUR_OK;
}

recur_status lm_cuda_head(lm_cuda *cu, const float *mask, const float **logits)
{
    const int rows = cu->rows, V = cu->vocab, H = cu->hidden;
    const size_t n = (size_t)rows * (size_t)H;
    cu->masked = mask != NULL;
    if (mask) {
        RECUR_TRY(cuda_buffer_reserve(&cu->mask, sizeof(float) * n));
        TRY_CUDA(cudaMemcpyAsync(cu->mask.ptr, mask, sizeof(float) * n, cudaMemcpyHostToDevice,
                                 STREAM),
                 "cudaMemcpyAsync (dropout mask)");
        TRY_KERNEL(rk_multiply(STREAM, n, FLT(cu->mask), FLT(cu->rnn_out)));
    }
    /* logits [rows, V] = bias + rnn_out [rows, H] W^T, as recur_linear_forward */
    TRY_KERNEL(rk_fill_rows(STREAM, rows, V, lm_cuda_value(cu, LM_CUDA_HEAD_BIAS),
                            FLT(cu->logits), V));
    RECUR_TRY(cuda_gemm(&cu->blas, RECUR_MATH_FP32, 0, 1, rows, V, H, 1.0f, FLT(cu->rnn_out),
                        H, lm_cuda_value(cu, LM_CUDA_HEAD_WEIGHT), H, 1.0f, FLT(cu->logits), V));
    /* the final state (detached) is the next call's initial state */
    TRY_CUDA(cudaMemcpyAsync(cu->h.ptr, cu->h_n.ptr, sizeof(float) * cu->state_n,
                             cudaMemcpyDeviceToDevice, STREAM),
             "cudaMemcpyAsync (state)");
    if (cu->cell_n)
        TRY_CUDA(cudaMemcpyAsync(cu->c.ptr, cu->c_n.ptr, sizeof(float) * cu->cell_n,
                                 cudaMemcpyDeviceToDevice, STREAM),
                 "cudaMemcpyAsync (state)");
    cu->have_forward = 1;
    *logits = FLT(cu->logits);
    return RECUR_OK;
}

/* ones [rows] for the bias gradient's column sums. */
static recur_status reserve_ones(lm_cuda *cu, int rows)
{
    if (cu->ones.size >= sizeof(float) * (size_t)rows)
        return RECUR_OK;
    RECUR_TRY(cuda_buffer_reserve(&cu->ones, sizeof(float) * (size_t)rows));
    TRY_KERNEL(rk_fill(STREAM, (size_t)rows, 1.0f, FLT(cu->ones)));
    return RECUR_OK;
}

recur_status lm_cuda_head_backward(lm_cuda *cu, const float *grad_logits, float **grad_rnn_out,
                                   float **grad_embedded)
{
    if (!cu->have_forward)
        return recur_fail(RECUR_E_STATE, "recur_lm_backward called without a forward pass");
    const int rows = cu->rows, V = cu->vocab, H = cu->hidden;
    const size_t n = (size_t)rows * (size_t)H;
    RECUR_TRY(cuda_buffer_reserve(&cu->grad_rnn_out, sizeof(float) * n));
    RECUR_TRY(cuda_buffer_reserve(&cu->grad_embedded,
                                  sizeof(float) * (size_t)rows * (size_t)cu->embed));
    RECUR_TRY(reserve_ones(cu, rows));
    /* as recur_linear_backward: dW [V, H] += grad^T x, db += column sums, dx = grad W */
    RECUR_TRY(cuda_gemm(&cu->blas, RECUR_MATH_FP32, 1, 0, V, H, rows, 1.0f, grad_logits, V,
                        FLT(cu->rnn_out), H, 1.0f, lm_cuda_grad(cu, LM_CUDA_HEAD_WEIGHT), H));
    RECUR_TRY(cuda_column_sums(&cu->blas, rows, V, grad_logits, FLT(cu->ones), 1.0f,
                               lm_cuda_grad(cu, LM_CUDA_HEAD_BIAS)));
    RECUR_TRY(cuda_gemm(&cu->blas, RECUR_MATH_FP32, 0, 0, rows, H, V, 1.0f, grad_logits, V,
                        lm_cuda_value(cu, LM_CUDA_HEAD_WEIGHT), H, 0.0f,
                        FLT(cu->grad_rnn_out), H));
    if (cu->masked)
        TRY_KERNEL(rk_multiply(STREAM, n, FLT(cu->mask), FLT(cu->grad_rnn_out)));
    *grad_rnn_out = FLT(cu->grad_rnn_out);
    *grad_embedded = FLT(cu->grad_embedded);
    return RECUR_OK;
}

recur_status lm_cuda_embed_backward(lm_cuda *cu)
{
    TRY_KERNEL(tk_embedding_backward(STREAM, cu->rows, cu->embed, cu->vocab, -1,
                                     (const int64_t *)cu->ids.ptr, FLT(cu->grad_embedded),
                                     lm_cuda_grad(cu, LM_CUDA_EMBEDDING)));
    return RECUR_OK;
}

recur_status lm_cuda_get_state(lm_cuda *cu, float *h, float *c)
{
    TRY_CUDA(cudaMemcpy(h, cu->h.ptr, sizeof(float) * cu->state_n, cudaMemcpyDeviceToHost),
             "cudaMemcpy (state)");
    if (cu->cell_n)
        TRY_CUDA(cudaMemcpy(c, cu->c.ptr, sizeof(float) * cu->cell_n, cudaMemcpyDeviceToHost),
                 "cudaMemcpy (state)");
    return RECUR_OK;
}

recur_status lm_cuda_set_state(lm_cuda *cu, size_t state_n, size_t cell_n, const float *h,
                               const float *c)
{
    RECUR_TRY(cuda_buffer_reserve(&cu->h, sizeof(float) * state_n));
    RECUR_TRY(cuda_buffer_reserve(&cu->c, sizeof(float) * (cell_n + 1)));
    cu->state_n = state_n, cu->cell_n = cell_n;
    TRY_CUDA(cudaMemcpy(cu->h.ptr, h, sizeof(float) * state_n, cudaMemcpyHostToDevice),
             "cudaMemcpy (state)");
    if (cell_n)
        TRY_CUDA(cudaMemcpy(cu->c.ptr, c, sizeof(float) * cell_n, cudaMemcpyHostToDevice),
                 "cudaMemcpy (state)");
    return RECUR_OK;
}
