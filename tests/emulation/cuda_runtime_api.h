/* What src/backend/cuda/kernels.h needs of the CUDA runtime's types, for
 * kernels run by cuda_emulation.h. */
#ifndef RECUR_TESTS_EMULATION_CUDA_RUNTIME_API_H
#define RECUR_TESTS_EMULATION_CUDA_RUNTIME_API_H

typedef struct CUstream_st *cudaStream_t;

#endif
