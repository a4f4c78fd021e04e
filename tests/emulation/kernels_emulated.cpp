/* The CUDA backend's kernels for the recur_emulated library, on the CPU:
 * the element-wise kernels of src/backend/cuda/kernels.cu (emu::run_flat, as
 * test_kernels_emulated checks them), the persistent kernels of
 * persistent_rnn.cu (emu::run: the threads as coroutines, the grid one
 * cluster), the cluster kernels of cluster_rnn.cu (each cluster by emu::run,
 * through the emulation's cudaLaunchKernelEx), where cuda_runtime_emulated.c's
 * GPU offers cooperative launch and clusters, and the training step's
 * kernels of train_kernels.cu (emu::run_grid: a block at a time). A
 * sanitizer build (RECUR_EMULATION_NO_COROUTINES), whose runtime cannot
 * follow the coroutines, has the first alone: there the training step's
 * calls fail with cudaErrorNotSupported. */
#define RECUR_CUDA_EMULATION 1
#define RECUR_CLUSTER_EMULATION 1
#define __CUDA_ARCH__ 900 /* the cluster kernels' code */
#include "cuda_emulation.h"

#include "backend/cuda/kernels.cu"
#include "backend/cuda/persistent_rnn.cu"
#include "backend/cuda/cluster_rnn.cu"
#ifndef RECUR_EMULATION_NO_COROUTINES
#include "backend/cuda/train_kernels.cu"
#else
#include "backend/cuda/train_kernels.h"

extern "C" {

int tk_embedding_forward(cudaStream_t, int, int, int, const int64_t *, const float *, float *)
{
    return cudaErrorNotSupported;
}
int tk_embedding_backward(cudaStream_t, int, int, int, int, const int64_t *, const float *,
                          float *)
{
    return cudaErrorNotSupported;
}
int tk_cross_entropy(cudaStream_t, int, int, const float *, const int64_t *, double *, float *,
                     float *)
{
    return cudaErrorNotSupported;
}
int tk_sum_squares(cudaStream_t, const tk_list *, double *) { return cudaErrorNotSupported; }
int tk_penalty(cudaStream_t, const tk_list *, float, float, double *, double *)
{
    return cudaErrorNotSupported;
}
int tk_finish_penalty(cudaStream_t, int, const double *, float, float, float *)
{
    return cudaErrorNotSupported;
}
int tk_finish_norm(cudaStream_t, int, const double *, float *) { return cudaErrorNotSupported; }
int tk_scale_by_norm(cudaStream_t, const tk_list *, float, const float *)
{
    return cudaErrorNotSupported;
}
int tk_clip_value(cudaStream_t, const tk_list *, float) { return cudaErrorNotSupported; }
int tk_sgd(cudaStream_t, size_t, float *, const float *, float *, int, float, float, float, int,
           float, tk_check)
{
    return cudaErrorNotSupported;
}
int tk_adam(cudaStream_t, size_t, float *, const float *, float *, float *, float *,
            tk_adam_coefficients, tk_check)
{
    return cudaErrorNotSupported;
}
int tk_rmsprop(cudaStream_t, size_t, float *, const float *, float *, float *, float *, float,
               float, float, float, float, float, tk_check)
{
    return cudaErrorNotSupported;
}
int tk_adagrad(cudaStream_t, size_t, float *, const float *, float *, float, float, float,
               tk_check)
{
    return cudaErrorNotSupported;
}

} // extern "C"
#endif
