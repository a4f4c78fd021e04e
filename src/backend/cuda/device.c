/* The CUDA runtime behind recur.h's device calls, and the helpers of
 * cuda_util.h. */
#include <cuda_runtime_api.h>
#include <stdio.h>

#include "backend/cuda/cuda_util.h"
#include "core/status.h"

recur_status cuda_check(int error, const char *what)
{
    if (error == (int)cudaSuccess)
        return RECUR_OK;
    cudaGetLastError(); /* clears a sticky-free error so that later calls can go on */
    return recur_fail(error == (int)cudaErrorMemoryAllocation ? RECUR_E_NOMEM : RECUR_E_DEVICE,
                      "CUDA %s failed: %s", what, cudaGetErrorString((cudaError_t)error));
}

int recur_cuda_device_count(void)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return count;
}

recur_status cuda_require_device(void)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return recur_fail(RECUR_E_INVALID, "no CUDA GPU is usable: %s", cudaGetErrorString(e));
    }
    if (count < 1)
        return recur_fail(RECUR_E_INVALID, "no CUDA GPU is present");
    return RECUR_OK;
}

recur_status recur_cuda_set_device(int ordinal)
{
    int count = recur_cuda_device_count();
    if (ordinal < 0 || ordinal >= count)
        return recur_fail(RECUR_E_INVALID, "CUDA GPU %d does not exist (%d usable)", ordinal,
                          count);
    return cuda_check((int)cudaSetDevice(ordinal), "cudaSetDevice");
}

void recur_cuda_describe(char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    int runtime = 0, count = 0;
    cudaRuntimeGetVersion(&runtime);
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count < 1) {
        cudaGetLastError();
        snprintf(buf, size, "no CUDA GPU (CUDA runtime %d.%d: %s)", runtime / 1000,
                 runtime % 1000 / 10, e != cudaSuccess ? cudaGetErrorString(e) : "no device");
        return;
    }
    struct cudaDeviceProp prop;
    int ordinal = 0;
    if (cudaGetDevice(&ordinal) != cudaSuccess ||
        cudaGetDeviceProperties(&prop, ordinal) != cudaSuccess) {
        cudaGetLastError();
        snprintf(buf, size, "CUDA GPU %d (properties unavailable)", ordinal);
        return;
    }
    snprintf(buf, size, "%s (GPU %d of %d), sm_%d%d, %d SMs, %.0f GiB, CUDA runtime %d.%d",
             prop.name, ordinal, count,
             prop.major, prop.minor, prop.multiProcessorCount,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), runtime / 1000,
             runtime % 1000 / 10);
}

recur_status cuda_buffer_reserve(cuda_buffer *buffer, size_t bytes)
{
    if (buffer->size >= bytes && buffer->ptr)
        return RECUR_OK;
    cuda_buffer_release(buffer);
    void *ptr = NULL;
    RECUR_TRY(cuda_check((int)cudaMalloc(&ptr, bytes ? bytes : 1), "cudaMalloc"));
    buffer->ptr = ptr;
    buffer->size = bytes;
    return RECUR_OK;
}

void cuda_buffer_release(cuda_buffer *buffer)
{
    if (buffer->ptr)
        cudaFree(buffer->ptr);
    buffer->ptr = NULL;
    buffer->size = 0;
}

recur_status recur_cuda_malloc(void **ptr, size_t bytes)
{
    if (!ptr)
        return recur_fail(RECUR_E_INVALID, "recur_cuda_malloc: NULL pointer");
    *ptr = NULL;
    RECUR_TRY(cuda_require_device());
    return cuda_check((int)cudaMalloc(ptr, bytes ? bytes : 1), "cudaMalloc");
}

void recur_cuda_free(void *ptr)
{
    if (ptr)
        cudaFree(ptr);
}

/* cudaMemcpy, or cudaMemcpyAsync on the default stream: from pageable host
 * memory the runtime stages the data before returning; to the host it
 * returns when the copy is done. */
static recur_status copy(void *dst, const void *src, size_t bytes, recur_copy_kind kind,
                         int async, const char *who)
{
    static const enum cudaMemcpyKind kinds[] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                                                cudaMemcpyDeviceToDevice};
    if ((int)kind < 0 || kind > RECUR_DEVICE_TO_DEVICE)
        return recur_fail(RECUR_E_INVALID, "%s: unknown kind %d", who, (int)kind);
    if (bytes == 0)
        return RECUR_OK;
    if (!dst || !src)
        return recur_fail(RECUR_E_INVALID, "%s: NULL pointer", who);
    cudaError_t e = async ? cudaMemcpyAsync(dst, src, bytes, kinds[kind], (cudaStream_t)0)
                          : cudaMemcpy(dst, src, bytes, kinds[kind]);
    return cuda_check((int)e, async ? "cudaMemcpyAsync" : "cudaMemcpy");
}

recur_status recur_cuda_memcpy(void *dst, const void *src, size_t bytes, recur_copy_kind kind)
{
    return copy(dst, src, bytes, kind, 0, "recur_cuda_memcpy");
}

recur_status recur_cuda_memcpy_async(void *dst, const void *src, size_t bytes,
                                     recur_copy_kind kind)
{
    return copy(dst, src, bytes, kind, 1, "recur_cuda_memcpy_async");
}

recur_status recur_cuda_synchronize(void)
{
    return cuda_check((int)cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

recur_status cuda_blas_check(cublasStatus_t status, const char *what)
{
    if (status == CUBLAS_STATUS_SUCCESS)
        return RECUR_OK;
    return recur_fail(status == CUBLAS_STATUS_ALLOC_FAILED ? RECUR_E_NOMEM : RECUR_E_DEVICE,
                      "cuBLAS %s failed: status %d", what, (int)status);
}

/* Row-major through the column-major transposition: C = op(A) op(B) is
 * C^T = op(B)^T op(A)^T. */
recur_status cuda_gemm(const cuda_blas *blas, recur_math math, int trans_a, int trans_b, int m,
                       int n, int k, float alpha, const float *a, int lda, const float *b,
                       int ldb, float beta, float *c, int ldc)
{
    if (m == 0 || n == 0)
        return RECUR_OK;
    const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (math == RECUR_MATH_BF16)
        return cuda_blas_check(blas->gemm_ex(blas->handle, op_b, op_a, n, m, k, &alpha, b,
                                             CUDA_R_32F, ldb, a, CUDA_R_32F, lda, &beta, c,
                                             CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F_FAST_16BF,
                                             CUBLAS_GEMM_DEFAULT),
                               "gemm (bf16)");
    return cuda_blas_check(blas->sgemm(blas->handle, op_b, op_a, n, m, k, &alpha, b, ldb, a, lda,
                                       &beta, c, ldc),
                           "sgemm");
}

recur_status cuda_gemm_bf16(const cuda_blas *blas, int trans_a, int trans_b, int m, int n, int k,
                            float alpha, const void *a, int lda, const void *b, int ldb,
                            float beta, float *c, int ldc)
{
    if (m == 0 || n == 0)
        return RECUR_OK;
    const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    return cuda_blas_check(blas->gemm_ex(blas->handle, op_b, op_a, n, m, k, &alpha, b,
                                         CUDA_R_16BF, ldb, a, CUDA_R_16BF, lda, &beta, c,
                                         CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT),
                           "gemm (bf16 inputs)");
}

recur_status cuda_column_sums(const cuda_blas *blas, int m, int n, const float *a,
                              const float *ones, float beta, float *y)
{
    const float one = 1.0f;
    return cuda_blas_check(
        blas->sgemv(blas->handle, CUBLAS_OP_N, n, m, &one, a, n, ones, 1, &beta, y, 1), "sgemv");
}
