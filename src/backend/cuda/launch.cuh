/* What the kernels of the .cu files share: the block size, the grid for n
 * elements, the grid-stride loop and the dynamic shared memory. Internal;
 * included by .cu files only. */
#ifndef RECUR_BACKEND_CUDA_LAUNCH_CUH
#define RECUR_BACKEND_CUDA_LAUNCH_CUH

#include <cuda_runtime_api.h>
#include <stddef.h>

namespace {

const int kThreads = 256;

/* Enough blocks for n elements, capped (the loops stride over the rest). */
inline unsigned blocks_for(size_t n)
{
    size_t b = (n + kThreads - 1) / kThreads;
    if (b < 1)
        b = 1;
    return (unsigned)(b > 65535 * 8 ? 65535 * 8 : b);
}

/* The launch's error (0 = cudaSuccess). */
inline int launched() { return (int)cudaGetLastError(); }

#ifndef RECUR_CUDA_EMULATION /* tests/emulation/cuda_emulation.h has its own */
/* The block's dynamic shared memory. */
__device__ __forceinline__ float4 *dynamic_shared_memory()
{
    extern __shared__ float4 dynamic_shared4[];
    return dynamic_shared4;
}
#endif

} // namespace

/* for i in [0, total): this thread's elements. */
#define GRID_FOR(i, total) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (total); \
         i += (size_t)gridDim.x * blockDim.x)

#endif
