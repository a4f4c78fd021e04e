/* Element types and conversions to float32 / int64. File data is
 * little-endian (see the host check in dtype.h) and may be unaligned, so
 * every element is read with memcpy. F16 and BF16 are widened bit by bit:
 * every value, subnormals, infinities and NaN payloads included, is exact. */
#include "io/dtype.h"

#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"

static const struct {
    const char *name;
    size_t size;
} dtype_table[RECUR_DTYPE_COUNT] = {
    [RECUR_F32] = {"F32", 4},   [RECUR_F64] = {"F64", 8}, [RECUR_F16] = {"F16", 2},
    [RECUR_BF16] = {"BF16", 2}, [RECUR_I64] = {"I64", 8}, [RECUR_I32] = {"I32", 4},
    [RECUR_I16] = {"I16", 2},   [RECUR_I8] = {"I8", 1},   [RECUR_U8] = {"U8", 1},
    [RECUR_BOOL] = {"BOOL", 1},
};

static int dtype_known(recur_dtype dtype) { return (unsigned)dtype < RECUR_DTYPE_COUNT; }

const char *recur_dtype_name(recur_dtype dtype)
{
    return dtype_known(dtype) ? dtype_table[dtype].name : "?";
}

size_t recur_dtype_size(recur_dtype dtype)
{
    return dtype_known(dtype) ? dtype_table[dtype].size : 0;
}

int recur_dtype_parse(const char *s, recur_dtype *out)
{
    if (!s)
        return 0;
    for (int d = 0; d < RECUR_DTYPE_COUNT; d++)
        if (strcmp(s, dtype_table[d].name) == 0) {
            *out = (recur_dtype)d;
            return 1;
        }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Half-precision formats                                              */
/* ------------------------------------------------------------------ */

static float float_from_bits(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* IEEE 754 binary16 (1 sign, 5 exponent bits with bias 15, 10 mantissa bits)
 * to binary32 (bias 127, 23 mantissa bits). */
static float f16_to_f32(uint16_t half)
{
    uint32_t sign = (uint32_t)(half & 0x8000u) << 16;
    uint32_t exponent = (half >> 10) & 0x1fu;
    uint32_t mantissa = half & 0x3ffu;
    if (exponent == 0x1f) /* infinity, or NaN with its payload kept */
        return float_from_bits(sign | 0x7f800000u | (mantissa << 13));
    if (exponent != 0) /* normal: rebias the exponent */
        return float_from_bits(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
    if (mantissa == 0) /* signed zero */
        return float_from_bits(sign);
    /* Subnormal, mantissa * 2^-24: every one is a normal float. Shift the
     * leading 1 up to the implicit bit (bit 10); each shift halves the scale. */
    uint32_t shifts = 0;
    while (!(mantissa & 0x400u)) {
        mantissa <<= 1;
        shifts++;
    }
    /* 1.f * 2^(-14 - shifts), biased: 127 - 14 - shifts. */
    return float_from_bits(sign | ((127 - 14 - shifts) << 23) | ((mantissa & 0x3ffu) << 13));
}

/* bfloat16 is the upper half of a binary32. */
static float bf16_to_f32(uint16_t bf16) { return float_from_bits((uint32_t)bf16 << 16); }

/* ------------------------------------------------------------------ */
/* Conversions                                                         */
/* ------------------------------------------------------------------ */

static const char *tensor_name(const recur_tensor_view *t) { return t->name ? t->name : "?"; }

/* Checks the arguments common to both conversions; the dtype has already
 * been checked. `count` must be numel, and the view must be self-consistent
 * (a hand-made view may not be). */
static recur_status check_request(const recur_tensor_view *t, const void *dst, size_t count)
{
    size_t nbytes = 0;
    if (count != t->numel)
        return recur_fail(RECUR_E_SHAPE,
                          "tensor '%.80s' (%s) has %zu elements but %zu were requested",
                          tensor_name(t), recur_dtype_name(t->dtype), t->numel, count);
    if (!recur_mul_size(t->numel, recur_dtype_size(t->dtype), &nbytes) || nbytes != t->nbytes ||
        (count && (!dst || !t->data)))
        return recur_fail(RECUR_E_INVALID,
                          "tensor '%.80s' (%s): inconsistent view or NULL buffer", tensor_name(t),
                          recur_dtype_name(t->dtype));
    return RECUR_OK;
}

static int is_float_dtype(recur_dtype d)
{
    return d == RECUR_F32 || d == RECUR_F64 || d == RECUR_F16 || d == RECUR_BF16;
}

static int is_integer_dtype(recur_dtype d)
{
    return d == RECUR_I64 || d == RECUR_I32 || d == RECUR_I16 || d == RECUR_I8 || d == RECUR_U8;
}

/* Each reader converts n elements at src (unaligned) into dst. */

static void read_f64(const unsigned char *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double value;
        memcpy(&value, src + 8 * i, 8);
        dst[i] = (float)value; /* rounds to nearest; beyond the float range gives +-inf */
    }
}

static void read_f16(const unsigned char *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t bits;
        memcpy(&bits, src + 2 * i, 2);
        dst[i] = f16_to_f32(bits);
    }
}

static void read_bf16(const unsigned char *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t bits;
        memcpy(&bits, src + 2 * i, 2);
        dst[i] = bf16_to_f32(bits);
    }
}

static void read_i32(const unsigned char *src, int64_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int32_t value;
        memcpy(&value, src + 4 * i, 4);
        dst[i] = value;
    }
}

static void read_i16(const unsigned char *src, int64_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int16_t value;
        memcpy(&value, src + 2 * i, 2);
        dst[i] = value;
    }
}

static void read_i8(const unsigned char *src, int64_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) /* two's complement: 0x80..0xff are -128..-1 */
        dst[i] = (int64_t)src[i] - (src[i] >= 0x80 ? 256 : 0);
}

static void read_u8(const unsigned char *src, int64_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
}

recur_status recur_tensor_to_f32(const recur_tensor_view *t, float *dst, size_t count)
{
    if (!t)
        return recur_fail(RECUR_E_INVALID, "recur_tensor_to_f32: NULL tensor");
    if (!is_float_dtype(t->dtype))
        return recur_fail(RECUR_E_SHAPE,
                          "tensor '%.80s' has dtype %s, expected F32, F64, F16 or BF16",
                          tensor_name(t), recur_dtype_name(t->dtype));
    RECUR_TRY(check_request(t, dst, count));
    if (count == 0)
        return RECUR_OK; /* dst and data may be NULL */
    switch (t->dtype) {
    case RECUR_F32: memcpy(dst, t->data, t->nbytes); break;
    case RECUR_F64: read_f64(t->data, dst, count); break;
    case RECUR_F16: read_f16(t->data, dst, count); break;
    default: read_bf16(t->data, dst, count); break;
    }
    return RECUR_OK;
}

recur_status recur_tensor_to_i64(const recur_tensor_view *t, int64_t *dst, size_t count)
{
    if (!t)
        return recur_fail(RECUR_E_INVALID, "recur_tensor_to_i64: NULL tensor");
    if (!is_integer_dtype(t->dtype))
        return recur_fail(RECUR_E_SHAPE,
                          "tensor '%.80s' has dtype %s, expected I64, I32, I16, I8 or U8",
                          tensor_name(t), recur_dtype_name(t->dtype));
    RECUR_TRY(check_request(t, dst, count));
    if (count == 0)
        return RECUR_OK;
    switch (t->dtype) {
    case RECUR_I64: memcpy(dst, t->data, t->nbytes); break;
    case RECUR_I32: read_i32(t->data, dst, count); break;
    case RECUR_I16: read_i16(t->data, dst, count); break;
    case RECUR_I8: read_i8(t->data, dst, count); break;
    default: read_u8(t->data, dst, count); break;
    }
    return RECUR_OK;
}
