/* Element types and conversions to float32 / int64. File data is little-endian
 * and may be unaligned, so every element is read with memcpy. */
#include "io/dtype.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"

static const struct {
    const char *name;
    size_t size;
} dtype_table[RECUR_DTYPE_COUNT] = {
    [RECUR_F32] = {"F32", 4}, [RECUR_F64] = {"F64", 8}, [RECUR_F16] = {"F16", 2},
    [RECUR_BF16] = {"BF16", 2}, [RECUR_I64] = {"I64", 8}, [RECUR_I32] = {"I32", 4},
    [RECUR_I16] = {"I16", 2}, [RECUR_I8] = {"I8", 1},   [RECUR_U8] = {"U8", 1},
    [RECUR_BOOL] = {"BOOL", 1},
};

const char *recur_dtype_name(recur_dtype dtype)
{
    return (unsigned)dtype < RECUR_DTYPE_COUNT ? dtype_table[dtype].name : "?";
}

size_t recur_dtype_size(recur_dtype dtype)
{
    return (unsigned)dtype < RECUR_DTYPE_COUNT ? dtype_table[dtype].size : 0;
}

int recur_dtype_parse(const char *name, recur_dtype *out)
{
    for (int d = 0; d < RECUR_DTYPE_COUNT; d++)
        if (strcmp(name, dtype_table[d].name) == 0) {
            *out = (recur_dtype)d;
            return 1;
        }
    return 0;
}

/* IEEE half precision to float, exactly (subnormals, inf, nan included). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    int exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    float magnitude;
    if (exponent == 0)
        magnitude = ldexpf((float)mantissa, -24); /* zero or subnormal */
    else if (exponent == 31)
        magnitude = mantissa ? NAN : INFINITY;
    else
        magnitude = ldexpf((float)(mantissa | 0x400), exponent - 25);
    uint32_t bits;
    memcpy(&bits, &magnitude, 4);
    bits |= sign;
    memcpy(&magnitude, &bits, 4);
    return magnitude;
}

/* bfloat16 is the top half of a float32. */
static float bf16_to_float(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static recur_status check_count(const recur_tensor_view *t, size_t count)
{
    if (count != t->numel)
        return recur_fail(RECUR_E_SHAPE, "tensor '%s' has %zu elements, expected %zu", t->name,
                          t->numel, count);
    return RECUR_OK;
}

recur_status recur_tensor_to_f32(const recur_tensor_view *t, float *dst, size_t count)
{
    RECUR_TRY(check_count(t, count));
    const unsigned char *src = t->data;
    switch (t->dtype) {
    case RECUR_F32:
        memcpy(dst, src, count * 4);
        return RECUR_OK;
    case RECUR_F64:
        for (size_t i = 0; i < count; i++) {
            double v;
            memcpy(&v, src + 8 * i, 8);
            dst[i] = (float)v;
        }
        return RECUR_OK;
    case RECUR_F16:
    case RECUR_BF16:
        for (size_t i = 0; i < count; i++) {
            uint16_t v;
            memcpy(&v, src + 2 * i, 2);
            dst[i] = t->dtype == RECUR_F16 ? half_to_float(v) : bf16_to_float(v);
        }
        return RECUR_OK;
    default:
        return recur_fail(RECUR_E_SHAPE,
                          "tensor '%s' has dtype %s, expected a float type (F32, F64, F16, BF16)",
                          t->name, recur_dtype_name(t->dtype));
    }
}

recur_status recur_tensor_to_i64(const recur_tensor_view *t, int64_t *dst, size_t count)
{
    RECUR_TRY(check_count(t, count));
    const unsigned char *src = t->data;
    for (size_t i = 0; i < count; i++) {
        switch (t->dtype) {
        case RECUR_I64: memcpy(&dst[i], src + 8 * i, 8); break;
        case RECUR_I32: { int32_t v; memcpy(&v, src + 4 * i, 4); dst[i] = v; break; }
        case RECUR_I16: { int16_t v; memcpy(&v, src + 2 * i, 2); dst[i] = v; break; }
        case RECUR_I8: dst[i] = (int8_t)src[i]; break;
        case RECUR_U8: dst[i] = src[i]; break;
        default:
            return recur_fail(RECUR_E_SHAPE,
                              "tensor '%s' has dtype %s, expected an integer type (I64, I32)",
                              t->name, recur_dtype_name(t->dtype));
        }
    }
    return RECUR_OK;
}
