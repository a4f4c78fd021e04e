/* What src/backend/cuda/kernels.h and launch.cuh need of the CUDA runtime,
 * for kernels run by cuda_emulation.h. */
#ifndef RECUR_TESTS_EMULATION_CUDA_RUNTIME_API_H
#define RECUR_TESTS_EMULATION_CUDA_RUNTIME_API_H

typedef struct CUstream_st *cudaStream_t;

/* Emulated launches do not fail. */
static inline int cudaGetLastError(void) { return 0; }

#endif
