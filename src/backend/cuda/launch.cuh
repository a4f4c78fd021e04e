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

/* kernel<<<dim3(grid_x, grid_y), kThreads, 0, stream>>>(...), on `stream`
 * of the caller. GRID_LAUNCH is for any kernel, FLAT_LAUNCH (a 1-D grid)
 * for kernels whose threads never wait for each other. Under
 * RECUR_CUDA_EMULATION (tests/emulation/) the grid runs on the CPU, block
 * after block (threads as coroutines, or one after another for the flat
 * kind), when its stream runs it (or the graph that captured it); the
 * arguments are evaluated at the launch, as CUDA copies them. */
#ifdef RECUR_CUDA_EMULATION
#define RECUR_EMULATED_CALL(kernel, ...) \
    [rk_args_ = std::make_tuple(__VA_ARGS__)] { std::apply(kernel, rk_args_); }
#define GRID_LAUNCH(kernel, grid_x, grid_y, ...)                     \
    emu::submit_grid(stream, (int)(grid_x), (int)(grid_y), kThreads, \
                     RECUR_EMULATED_CALL(kernel, __VA_ARGS__))
#define FLAT_LAUNCH(kernel, blocks, ...) \
    emu::submit_flat(stream, (int)(blocks), kThreads, RECUR_EMULATED_CALL(kernel, __VA_ARGS__))
#else
#define GRID_LAUNCH(kernel, grid_x, grid_y, ...) \
    kernel<<<dim3((unsigned)(grid_x), (unsigned)(grid_y)), kThreads, 0, stream>>>(__VA_ARGS__)
#define FLAT_LAUNCH(kernel, blocks, ...) GRID_LAUNCH(kernel, blocks, 1, __VA_ARGS__)
#endif

/* for i in [0, total): this thread's elements. */
#define GRID_FOR(i, total) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (total); \
         i += (size_t)gridDim.x * blockDim.x)

#endif
