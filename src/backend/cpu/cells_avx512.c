/* The SIMD cell kernels for AVX-512F + FMA (compiled with -mavx512f -mavx2 -mfma). */
#include "backend/cpu/simd.h"

#if RECUR_SIMD_X86
#define RECUR_VL 16
#define RECUR_SUFFIX avx512
#include "backend/cpu/cells_simd.inc"
#else
typedef int recur_no_avx512_kernels;
#endif
