/* The SIMD cell kernels for AVX2 + FMA (compiled with -mavx2 -mfma). */
#include "backend/cpu/simd.h"

#if RECUR_SIMD_X86
#define RECUR_VL 8
#define RECUR_SUFFIX avx2
#include "backend/cpu/cells_simd.inc"
#else
typedef int recur_no_avx2_kernels;
#endif
