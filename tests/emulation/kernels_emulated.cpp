/* The CUDA backend's kernels for the recur_emulated library, on the CPU:
 * the element-wise kernels of src/backend/cuda/kernels.cu (emu::run_flat, as
 * test_kernels_emulated checks them), the persistent kernels of
 * persistent_rnn.cu (emu::run: the threads as coroutines, the grid one
 * cluster), the cluster kernels of cluster_rnn.cu (each cluster by emu::run,
 * through the emulation's cudaLaunchKernelEx), where cuda_runtime_emulated.c's
 * GPU offers cooperative launch and clusters, and the training step's
 * kernels of train_kernels.cu (emu::run_grid: a block at a time). In
 * sanitizer builds all of them are instrumented as the library's C is, so
 * ASan checks every load and store of the kernels (on the coroutines' stacks
 * too: cuda_emulation.h tells it of each switch). */
#define RECUR_CUDA_EMULATION 1
#define RECUR_CLUSTER_EMULATION 1
#define __CUDA_ARCH__ 900 /* the cluster kernels' code */
#include "cuda_emulation.h"

#include "backend/cuda/kernels.cu"
#include "backend/cuda/persistent_rnn.cu"
#include "backend/cuda/cluster_rnn.cu"
#include "backend/cuda/block_rnn.cu"
#include "backend/cuda/train_kernels.cu"
