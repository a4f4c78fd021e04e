/* bfloat16 as src/backend/cuda/kernels.cu uses it, for kernels run by
 * cuda_emulation.h: the 16-bit pattern and the conversion from float32,
 * rounded to nearest even (NaN stays NaN, quiet). */
#ifndef RECUR_TESTS_EMULATION_CUDA_BF16_H
#define RECUR_TESTS_EMULATION_CUDA_BF16_H

#include <stdint.h>
#include <string.h>

struct __nv_bfloat16 {
    uint16_t x;
};

inline __nv_bfloat16 __float2bfloat16_rn(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN */
        return __nv_bfloat16{(uint16_t)((u >> 16) | 0x40u)};
    u += 0x7fffu + ((u >> 16) & 1u);
    return __nv_bfloat16{(uint16_t)(u >> 16)};
}

#endif
