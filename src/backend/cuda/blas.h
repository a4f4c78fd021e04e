/* cuBLAS, loaded when the first GPU object of a process needs it: dlopen of
 * the library the build was compiled against, the calls recur makes resolved
 * into a table per handle. A process that never touches the GPU (every CPU
 * run of a CUDA build) does not map libcublasLt, whose relocations cost about
 * 80 ms of page faults at every start when it is linked. Internal; compiled
 * only with RECUR_CUDA. */
#ifndef RECUR_BACKEND_CUDA_BLAS_H
#define RECUR_BACKEND_CUDA_BLAS_H

#include <cublas_v2.h>

#include "recur.h"

typedef struct cuda_blas {
    void *library; /* the dlopen handle (never unloaded: RTLD_NODELETE) */
    cublasHandle_t handle;
    __typeof__(&cublasDestroy_v2) destroy;
    __typeof__(&cublasSetStream_v2) set_stream; /* also resets the workspace to cuBLAS's */
    __typeof__(&cublasSetWorkspace_v2) set_workspace;
    __typeof__(&cublasSetMathMode) set_math_mode;
    __typeof__(&cublasSgemm_v2) sgemm;
    __typeof__(&cublasGemmEx) gemm_ex;
    __typeof__(&cublasSgemv_v2) sgemv;
} cuda_blas;

/* Loads cuBLAS if this process has not yet, resolves the table and creates
 * blas->handle on `stream` (NULL: the default stream) with the default math
 * mode; RECUR_E_DEVICE with the loader's or cuBLAS's message otherwise, and
 * then *blas is empty. */
recur_status cuda_blas_open(cuda_blas *blas, cudaStream_t stream);
/* Destroys the handle; an empty or closed *blas is left alone. */
void cuda_blas_close(cuda_blas *blas);

#endif
