/* Helpers of the CUDA backend: error conversion and growable device
 * buffers. Internal; compiled only with RECUR_CUDA. */
#ifndef RECUR_BACKEND_CUDA_CUDA_UTIL_H
#define RECUR_BACKEND_CUDA_CUDA_UTIL_H

#include <cublas_v2.h>
#include <stddef.h>

#include "backend/cuda/blas.h"

#include "recur.h"

/* RECUR_OK for cudaSuccess (0); else RECUR_E_NOMEM (out of memory) or
 * RECUR_E_DEVICE with "CUDA <what> failed: <error string>". */
recur_status cuda_check(int error, const char *what);
/* RECUR_E_INVALID with a message unless a GPU is usable. */
recur_status cuda_require_device(void);

/* Device memory that grows on demand (contents are not kept when it grows). */
typedef struct cuda_buffer {
    void *ptr;
    size_t size; /* bytes */
} cuda_buffer;

recur_status cuda_buffer_reserve(cuda_buffer *buffer, size_t bytes);
void cuda_buffer_release(cuda_buffer *buffer);

/* RECUR_OK for CUBLAS_STATUS_SUCCESS, else a status with "cuBLAS <what> failed". */
recur_status cuda_blas_check(cublasStatus_t status, const char *what);
/* Row-major C[m, n] = alpha op(A) op(B) + beta C as in backend/cpu/gemm.h;
 * RECUR_MATH_BF16 computes with bfloat16 inputs (TF32 is the handle's math
 * mode, see rnn_cuda_set_math). */
recur_status cuda_gemm(const cuda_blas *blas, recur_math math, int trans_a, int trans_b, int m,
                       int n, int k,
                       float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                       float *c, int ldc);
/* The same product with A and B already in bfloat16 (device arrays of
 * uint16 bit patterns) and C in float32, accumulated in float32. */
recur_status cuda_gemm_bf16(const cuda_blas *blas, int trans_a, int trans_b, int m, int n, int k,
                            float alpha, const void *a, int lda, const void *b, int ldb,
                            float beta, float *c, int ldc);
/* y[n] = column sums of A[m, n] (dense) + beta y, through a GEMV with
 * ones [m]. */
recur_status cuda_column_sums(const cuda_blas *blas, int m, int n, const float *a,
                              const float *ones, float beta, float *y);

#endif
