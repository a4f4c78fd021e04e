/* The cuBLAS calls of cublas_v2.h (this folder) over host memory and the
 * CBLAS, for the recur_emulated library: a shared library that
 * src/backend/cuda/blas.c loads with dlopen as it loads cuBLAS. Each call
 * runs on the handle's stream: queued, or recorded while the stream is
 * captured, or at once on the legacy stream (emulated_stream.h). The
 * precision modes round the operands first as the tensor cores read them:
 * TF32 math keeps 10 bits of mantissa, the bf16 compute type and bfloat16
 * arrays 7 (to nearest even); sums are float32 either way. */
#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cublas_v2.h"
#include "emulated_stream.h"

struct cublasContext {
    cublasMath_t math;
    cudaStream_t stream; /* the calls go to it (emulated_stream.h) */
};

cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)
{
    *handle = calloc(1, sizeof **handle);
    return *handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)
{
    free(handle);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream)
{
    if (!handle)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t bytes)
{
    (void)workspace, (void)bytes;
    return handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
{
    if (!handle)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

/* x rounded to nearest even at `bits` bits of mantissa (NaN and infinity
 * kept). */
static float round_mantissa(float x, int bits)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u)
        return x;
    const int drop = 23 - bits;
    const uint32_t half = 1u << (drop - 1), keep = ~((1u << drop) - 1u);
    u = (u + half - 1u + ((u >> drop) & 1u)) & keep;
    memcpy(&x, &u, sizeof x);
    return x;
}

static float bf16_to_float(uint16_t pattern)
{
    const uint32_t u = (uint32_t)pattern << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The columns x rows column-major operand (ld) of type `type`, read as
 * float32 rounded to `bits` (23: as is) into a dense copy. */
static float *operand(const void *x, cudaDataType type, int rows, int cols, int ld, int bits)
{
    float *copy = malloc(sizeof(float) * ((size_t)rows * (size_t)cols + 1));
    if (!copy)
        return NULL;
    for (int c = 0; c < cols; c++)
        for (int r = 0; r < rows; r++) {
            const size_t at = (size_t)c * (size_t)ld + (size_t)r;
            const float v = type == CUDA_R_16BF ? bf16_to_float(((const uint16_t *)x)[at])
                                                : ((const float *)x)[at];
            copy[(size_t)c * rows + r] = bits < 23 ? round_mantissa(v, bits) : v;
        }
    return copy;
}

static enum CBLAS_TRANSPOSE op(cublasOperation_t t)
{
    return t == CUBLAS_OP_T ? CblasTrans : CblasNoTrans;
}

/* One product C[m, n] = alpha op(A) op(B) + beta C, column-major, the
 * operands rounded to `bits` bits of mantissa. */
typedef struct gemm_op {
    cublasOperation_t transa, transb;
    int m, n, k, lda, ldb, ldc, bits;
    float alpha, beta;
    const void *a, *b;
    cudaDataType a_type, b_type;
    float *c;
} gemm_op;

static void run_gemm(void *context)
{
    const gemm_op *g = context;
    const int a_rows = g->transa == CUBLAS_OP_N ? g->m : g->k;
    const int a_cols = g->transa == CUBLAS_OP_N ? g->k : g->m;
    const int b_rows = g->transb == CUBLAS_OP_N ? g->k : g->n;
    const int b_cols = g->transb == CUBLAS_OP_N ? g->n : g->k;
    float *a32 = operand(g->a, g->a_type, a_rows, a_cols, g->lda, g->bits);
    float *b32 = operand(g->b, g->b_type, b_rows, b_cols, g->ldb, g->bits);
    if (!a32 || !b32)
        abort(); /* a test harness out of memory */
    if (g->beta == 0.0f) /* C is not read (cuBLAS's contract): garbage stays out */
        for (int col = 0; col < g->n; col++)
            memset(g->c + (size_t)col * g->ldc, 0, sizeof(float) * (size_t)g->m);
    cblas_sgemm(CblasColMajor, op(g->transa), op(g->transb), g->m, g->n, g->k, g->alpha, a32,
                a_rows > 1 ? a_rows : 1, b32, b_rows > 1 ? b_rows : 1, g->beta, g->c, g->ldc);
    free(a32), free(b32);
}

/* Checks the product's shape, then runs it on handle's stream. */
static cublasStatus_t gemm(cublasHandle_t handle, gemm_op g)
{
    if (g.m < 0 || g.n < 0 || g.k < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (g.m == 0 || g.n == 0)
        return CUBLAS_STATUS_SUCCESS;
    const int a_rows = g.transa == CUBLAS_OP_N ? g.m : g.k;
    const int b_rows = g.transb == CUBLAS_OP_N ? g.k : g.n;
    if (g.lda < (a_rows > 1 ? a_rows : 1) || g.ldb < (b_rows > 1 ? b_rows : 1) || g.ldc < g.m)
        return CUBLAS_STATUS_INVALID_VALUE;
    gemm_op *copy = malloc(sizeof *copy);
    if (!copy)
        return CUBLAS_STATUS_ALLOC_FAILED;
    *copy = g;
    return emu_submit(handle->stream, run_gemm, free, copy) == cudaSuccess
               ? CUBLAS_STATUS_SUCCESS
               : CUBLAS_STATUS_ALLOC_FAILED;
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa,
                              cublasOperation_t transb, int m, int n, int k, const float *alpha,
                              const float *a, int lda, const float *b, int ldb, const float *beta,
                              float *c, int ldc)
{
    if (!handle)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    const gemm_op g = {transa, transb, m, n, k, lda, ldb, ldc,
                       handle->math == CUBLAS_TF32_TENSOR_OP_MATH ? 10 : 23,
                       *alpha, *beta, a, b, CUDA_R_32F, CUDA_R_32F, c};
    return gemm(handle, g);
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k, const void *alpha,
                            const void *a, cudaDataType a_type, int lda, const void *b,
                            cudaDataType b_type, int ldb, const void *beta, void *c,
                            cudaDataType c_type, int ldc, cublasComputeType_t compute,
                            cublasGemmAlgo_t algo)
{
    (void)algo;
    if (!handle)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (c_type != CUDA_R_32F || a_type != b_type)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    int bits = 23;
    if (compute == CUBLAS_COMPUTE_32F_FAST_16BF)
        bits = 7;
    else if (compute == CUBLAS_COMPUTE_32F_FAST_TF32 ||
             (compute == CUBLAS_COMPUTE_32F && a_type == CUDA_R_32F &&
              handle->math == CUBLAS_TF32_TENSOR_OP_MATH))
        bits = 10;
    const gemm_op g = {transa, transb, m, n, k, lda, ldb, ldc, bits, *(const float *)alpha,
                       *(const float *)beta, a, b, a_type, b_type, (float *)c};
    return gemm(handle, g);
}

/* y = alpha op(A) x + beta y, column-major. */
typedef struct gemv_op {
    cublasOperation_t trans;
    int m, n, lda, incx, incy;
    float alpha, beta;
    const float *a, *x;
    float *y;
} gemv_op;

static void run_gemv(void *context)
{
    const gemv_op *g = context;
    if (g->beta == 0.0f) { /* y is not read */
        const int len = g->trans == CUBLAS_OP_N ? g->m : g->n;
        for (int i = 0; i < len; i++)
            g->y[(size_t)i * (size_t)(g->incy > 0 ? g->incy : -g->incy)] = 0.0f;
    }
    cblas_sgemv(CblasColMajor, op(g->trans), g->m, g->n, g->alpha, g->a, g->lda, g->x, g->incx,
                g->beta, g->y, g->incy);
}

cublasStatus_t cublasSgemv_v2(cublasHandle_t handle, cublasOperation_t trans, int m, int n,
                              const float *alpha, const float *a, int lda, const float *x,
                              int incx, const float *beta, float *y, int incy)
{
    if (!handle)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (m < 0 || n < 0 || lda < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0)
        return CUBLAS_STATUS_SUCCESS;
    gemv_op *g = malloc(sizeof *g);
    if (!g)
        return CUBLAS_STATUS_ALLOC_FAILED;
    const gemv_op values = {trans, m, n, lda, incx, incy, *alpha, *beta, a, x, y};
    *g = values;
    return emu_submit(handle->stream, run_gemv, free, g) == cudaSuccess
               ? CUBLAS_STATUS_SUCCESS
               : CUBLAS_STATUS_ALLOC_FAILED;
}
