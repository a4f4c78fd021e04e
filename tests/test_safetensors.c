/* safetensors: dtypes and conversions, round trips, atomic saves, and
 * hostile files (each rejected with RECUR_E_FORMAT, never a crash; this
 * test runs under ASan/UBSan in CI). argv[1]: a scratch directory. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_util.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Checks that the last error is one line holding `fragment`. */
#define CHECK_MESSAGE(fragment) check_message(fragment, __LINE__)

static void check_message(const char *fragment, int line)
{
    const char *message = recur_last_error();
    test_checks++;
    if (!strstr(message, fragment) || strchr(message, '\n')) {
        test_failures++;
        fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\" or spans lines\n", __FILE__, line,
                message, fragment);
    }
}

/* A file image: the header length, the JSON and data_len bytes 0, 1, 2... */
static unsigned char *file_image(const char *json, size_t json_length, size_t data_length,
                                 size_t *size)
{
    *size = 8 + json_length + data_length;
    unsigned char *bytes = malloc(*size);
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)((uint64_t)json_length >> (8 * i));
    memcpy(bytes + 8, json, json_length);
    for (size_t i = 0; i < data_length; i++)
        bytes[8 + json_length + i] = (unsigned char)i;
    return bytes;
}

/* Opens a JSON header with data_length bytes of data from memory. */
static recur_status open_json(const char *json, size_t data_length, recur_st_file **out)
{
    size_t size;
    unsigned char *bytes = file_image(json, strlen(json), data_length, &size);
    recur_st_file *file = NULL;
    recur_status status = recur_st_open_memory(bytes, size, "test.safetensors", &file);
    free(bytes);
    CHECK((status == RECUR_OK) == (file != NULL));
    if (out)
        *out = file;
    else
        recur_st_close(file);
    return status;
}

static unsigned char *read_whole(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    fseek(file, 0, SEEK_END);
    *size = (size_t)ftell(file);
    fseek(file, 0, SEEK_SET);
    unsigned char *bytes = malloc(*size ? *size : 1);
    if (fread(bytes, 1, *size, file) != *size) {
        free(bytes);
        bytes = NULL;
    }
    fclose(file);
    return bytes;
}

static int write_whole(const char *path, const void *bytes, size_t size)
{
    FILE *file = fopen(path, "wb");
    if (!file)
        return 0;
    int ok = fwrite(bytes, 1, size, file) == size;
    return fclose(file) == 0 && ok;
}

/* Names in `dir` that contain ".tmp." (left-over temporary files). */
static int count_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL)
        count += strstr(entry->d_name, ".tmp.") != NULL;
    closedir(d);
    return count;
}

static int is_directory(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

static int exists(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0;
}

static uint32_t float_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    return bits;
}

static recur_tensor_view make_view(const char *name, recur_dtype dtype, size_t numel,
                                   const void *data)
{
    recur_tensor_view t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = dtype;
    t.ndim = 1;
    t.shape[0] = (int64_t)numel;
    t.numel = numel;
    t.nbytes = numel * recur_dtype_size(dtype);
    t.data = data;
    return t;
}

/* One F16 or BF16 value (little-endian bytes) to float; NaN with a
 * recognizable payload if the conversion fails. */
static float half_to_f32(recur_dtype dtype, uint16_t bits)
{
    unsigned char raw[2] = {(unsigned char)bits, (unsigned char)(bits >> 8)};
    recur_tensor_view t = make_view("h", dtype, 1, raw);
    float out = NAN;
    if (recur_tensor_to_f32(&t, &out, 1) != RECUR_OK)
        memcpy(&out, &(uint32_t){0x7fbadbadu}, 4);
    return out;
}

static int same_bits(float a, float b) { return float_bits(a) == float_bits(b); }

/* ------------------------------------------------------------------ */
/* dtypes and conversions                                              */
/* ------------------------------------------------------------------ */

static void test_dtype_table(void)
{
    static const char *names[RECUR_DTYPE_COUNT] = {"F32", "F64", "F16", "BF16", "I64",
                                                   "I32", "I16", "I8",  "U8",   "BOOL"};
    static const size_t sizes[RECUR_DTYPE_COUNT] = {4, 8, 2, 2, 8, 4, 2, 1, 1, 1};
    for (int d = 0; d < RECUR_DTYPE_COUNT; d++) {
        CHECK(strcmp(recur_dtype_name((recur_dtype)d), names[d]) == 0);
        CHECK(recur_dtype_size((recur_dtype)d) == sizes[d]);
    }
    CHECK(recur_dtype_size(RECUR_DTYPE_COUNT) == 0);
    CHECK(strcmp(recur_dtype_name((recur_dtype)-1), "?") == 0);
}

/* binary16 by arithmetic in double, independent of the bit manipulation. */
static double f16_reference(uint16_t h)
{
    int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    double magnitude = exponent == 0 ? ldexp(mantissa, -24) : ldexp(1024 + mantissa, exponent - 25);
    return (h & 0x8000) ? -magnitude : magnitude;
}

static void test_f16_every_value(void)
{
    int mismatches = 0;
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float got = half_to_f32(RECUR_F16, (uint16_t)h);
        uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
        int ok;
        if (exponent == 0x1f) /* inf or NaN: sign and payload carried over */
            ok = float_bits(got) == (((h & 0x8000u) << 16) | 0x7f800000u | (mantissa << 13));
        else
            ok = same_bits(got, (float)f16_reference((uint16_t)h)) &&
                 (double)got == f16_reference((uint16_t)h);
        mismatches += !ok;
    }
    CHECK(mismatches == 0);
    /* The special values by name. */
    CHECK(same_bits(half_to_f32(RECUR_F16, 0x0000), 0.0f));
    CHECK(same_bits(half_to_f32(RECUR_F16, 0x8000), -0.0f));
    CHECK(half_to_f32(RECUR_F16, 0x0001) == ldexpf(1.0f, -24)); /* smallest subnormal */
    CHECK(half_to_f32(RECUR_F16, 0x8001) == -ldexpf(1.0f, -24));
    CHECK(half_to_f32(RECUR_F16, 0x03ff) == ldexpf(1023.0f, -24)); /* largest subnormal */
    CHECK(half_to_f32(RECUR_F16, 0x0400) == ldexpf(1.0f, -14));    /* smallest normal */
    CHECK(half_to_f32(RECUR_F16, 0x3c00) == 1.0f);
    CHECK(half_to_f32(RECUR_F16, 0x3555) == 0.333251953125f);
    CHECK(half_to_f32(RECUR_F16, 0xc000) == -2.0f);
    CHECK(half_to_f32(RECUR_F16, 0x7bff) == 65504.0f); /* max */
    CHECK(half_to_f32(RECUR_F16, 0xfbff) == -65504.0f);
    CHECK(isinf(half_to_f32(RECUR_F16, 0x7c00)) && half_to_f32(RECUR_F16, 0x7c00) > 0);
    CHECK(isinf(half_to_f32(RECUR_F16, 0xfc00)) && half_to_f32(RECUR_F16, 0xfc00) < 0);
    CHECK(isnan(half_to_f32(RECUR_F16, 0x7e00)));
    CHECK(isnan(half_to_f32(RECUR_F16, 0x7c01))); /* signaling */
    CHECK(isnan(half_to_f32(RECUR_F16, 0xfe00)) && signbit(half_to_f32(RECUR_F16, 0xfe00)));
}

static void test_bf16_every_value(void)
{
    int mismatches = 0;
    for (uint32_t b = 0; b <= 0xffff; b++)
        mismatches += float_bits(half_to_f32(RECUR_BF16, (uint16_t)b)) != b << 16;
    CHECK(mismatches == 0);
    CHECK(same_bits(half_to_f32(RECUR_BF16, 0x0000), 0.0f));
    CHECK(same_bits(half_to_f32(RECUR_BF16, 0x8000), -0.0f));
    CHECK(half_to_f32(RECUR_BF16, 0x0001) == ldexpf(1.0f, -133)); /* smallest subnormal */
    CHECK(half_to_f32(RECUR_BF16, 0x007f) == ldexpf(127.0f, -133));
    CHECK(half_to_f32(RECUR_BF16, 0x3f80) == 1.0f);
    CHECK(half_to_f32(RECUR_BF16, 0xc0a0) == -5.0f);
    CHECK(half_to_f32(RECUR_BF16, 0x7f7f) == ldexpf(255.0f, 120)); /* max */
    CHECK(isinf(half_to_f32(RECUR_BF16, 0x7f80)) && half_to_f32(RECUR_BF16, 0x7f80) > 0);
    CHECK(isinf(half_to_f32(RECUR_BF16, 0xff80)) && half_to_f32(RECUR_BF16, 0xff80) < 0);
    CHECK(isnan(half_to_f32(RECUR_BF16, 0x7fc0)));
    CHECK(isnan(half_to_f32(RECUR_BF16, 0x7f81)));
}

static void test_float_conversions(void)
{
    /* F64, from an unaligned address. */
    double doubles[7] = {1.0 / 3.0, -1e300, 1e-320, -0.0, 65504.0, 3.4028234663852886e38, NAN};
    unsigned char raw[1 + sizeof doubles];
    memcpy(raw + 1, doubles, sizeof doubles);
    recur_tensor_view t = make_view("d", RECUR_F64, 7, raw + 1);
    float out[7];
    CHECK_OK(recur_tensor_to_f32(&t, out, 7));
    CHECK(out[0] == (float)(1.0 / 3.0));
    CHECK(isinf(out[1]) && out[1] < 0);
    CHECK(same_bits(out[2], 0.0f));
    CHECK(same_bits(out[3], -0.0f));
    CHECK(out[4] == 65504.0f && out[5] == 3.4028234663852886e38f && isnan(out[6]));

    /* F32 unaligned, bit for bit. */
    float floats[4] = {1.5f, -0.0f, INFINITY, ldexpf(1.0f, -149)};
    unsigned char raw32[3 + sizeof floats];
    memcpy(raw32 + 3, floats, sizeof floats);
    t = make_view("f", RECUR_F32, 4, raw32 + 3);
    CHECK_OK(recur_tensor_to_f32(&t, out, 4));
    CHECK(memcmp(out, floats, sizeof floats) == 0);

    /* F16 and BF16 arrays, unaligned. */
    unsigned char halves[1 + 6] = {0, 0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b};
    t = make_view("h", RECUR_F16, 3, halves + 1);
    CHECK_OK(recur_tensor_to_f32(&t, out, 3));
    CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == 65504.0f);
    t = make_view("b", RECUR_BF16, 3, halves + 1);
    CHECK_OK(recur_tensor_to_f32(&t, out, 3));
    CHECK(out[0] == 0.0078125f && out[1] == -2.0f && out[2] == ldexpf(255.0f, 113));
}

static void test_integer_conversions(void)
{
    int64_t out[4];
    int64_t i64[3] = {INT64_MIN, -1, INT64_MAX};
    unsigned char raw[5 + sizeof i64];
    memcpy(raw + 5, i64, sizeof i64);
    recur_tensor_view t = make_view("i64", RECUR_I64, 3, raw + 5);
    CHECK_OK(recur_tensor_to_i64(&t, out, 3));
    CHECK(out[0] == INT64_MIN && out[1] == -1 && out[2] == INT64_MAX);

    int32_t i32[3] = {INT32_MIN, -7, INT32_MAX};
    memcpy(raw + 1, i32, sizeof i32);
    t = make_view("i32", RECUR_I32, 3, raw + 1);
    CHECK_OK(recur_tensor_to_i64(&t, out, 3));
    CHECK(out[0] == INT32_MIN && out[1] == -7 && out[2] == INT32_MAX);

    int16_t i16[3] = {INT16_MIN, -1, INT16_MAX};
    memcpy(raw + 1, i16, sizeof i16);
    t = make_view("i16", RECUR_I16, 3, raw + 1);
    CHECK_OK(recur_tensor_to_i64(&t, out, 3));
    CHECK(out[0] == -32768 && out[1] == -1 && out[2] == 32767);

    unsigned char bytes[4] = {0x80, 0xff, 0x00, 0x7f};
    t = make_view("i8", RECUR_I8, 4, bytes);
    CHECK_OK(recur_tensor_to_i64(&t, out, 4));
    CHECK(out[0] == -128 && out[1] == -1 && out[2] == 0 && out[3] == 127);
    t = make_view("u8", RECUR_U8, 4, bytes);
    CHECK_OK(recur_tensor_to_i64(&t, out, 4));
    CHECK(out[0] == 128 && out[1] == 255 && out[2] == 0 && out[3] == 127);
}

static void test_conversion_errors(void)
{
    float f[4] = {0};
    int64_t i[4] = {0};
    recur_tensor_view t = make_view("weight_ih_l0", RECUR_F32, 4, f);
    CHECK_STATUS(recur_tensor_to_i64(&t, i, 4), RECUR_E_SHAPE);
    CHECK_MESSAGE("tensor 'weight_ih_l0' has dtype F32");
    CHECK_STATUS(recur_tensor_to_f32(&t, f, 3), RECUR_E_SHAPE);
    CHECK_MESSAGE("tensor 'weight_ih_l0' (F32) has 4 elements but 3 were requested");
    t = make_view("ids", RECUR_I32, 4, i);
    CHECK_STATUS(recur_tensor_to_f32(&t, f, 4), RECUR_E_SHAPE);
    CHECK_MESSAGE("tensor 'ids' has dtype I32");
    CHECK_STATUS(recur_tensor_to_i64(&t, i, 5), RECUR_E_SHAPE);
    CHECK_MESSAGE("'ids' (I32)");
    t = make_view("mask", RECUR_BOOL, 4, i);
    CHECK_STATUS(recur_tensor_to_f32(&t, f, 4), RECUR_E_SHAPE);
    CHECK_STATUS(recur_tensor_to_i64(&t, i, 4), RECUR_E_SHAPE);
    CHECK_MESSAGE("has dtype BOOL");
    /* A wrong dtype fails even with nothing to convert. */
    t = make_view("empty", RECUR_BOOL, 0, NULL);
    CHECK_STATUS(recur_tensor_to_f32(&t, NULL, 0), RECUR_E_SHAPE);
    t = make_view("empty", RECUR_F16, 0, NULL);
    CHECK_OK(recur_tensor_to_f32(&t, NULL, 0));
    t = make_view("empty", RECUR_U8, 0, NULL);
    CHECK_OK(recur_tensor_to_i64(&t, NULL, 0));
    CHECK_STATUS(recur_tensor_to_f32(NULL, f, 1), RECUR_E_INVALID);
    CHECK_STATUS(recur_tensor_to_i64(NULL, i, 1), RECUR_E_INVALID);
    t = make_view("odd", RECUR_F32, 4, f);
    t.nbytes = 12; /* a hand-made view that contradicts itself */
    CHECK_STATUS(recur_tensor_to_f32(&t, f, 4), RECUR_E_INVALID);
    t = make_view("null", RECUR_F32, 4, f);
    CHECK_STATUS(recur_tensor_to_f32(&t, NULL, 4), RECUR_E_INVALID);
}

/* ------------------------------------------------------------------ */
/* Round trips                                                         */
/* ------------------------------------------------------------------ */

typedef struct sample {
    const char *name;
    recur_dtype dtype;
    int ndim;
    int64_t shape[RECUR_MAX_DIMS];
    const void *data;
    size_t nbytes;
} sample;

static void test_round_trip(const char *scratch)
{
    static const float f32[6] = {1, -2, 3.5f, 0, 1e-30f, -7};
    static const double f64[2] = {1.0 / 3.0, -1e300};
    static const uint16_t f16[4] = {0x3c00, 0x8000, 0x7c00, 0x0001};
    static const uint16_t bf16[4] = {0x3f80, 0xc0a0, 0x7f7f, 0x0001};
    static const int64_t i64[3] = {INT64_MIN, 0, (int64_t)1 << 40};
    static const int32_t i32[2] = {-5, 7};
    static const int16_t i16[3] = {-32768, 1, 32767};
    static const int8_t i8[4] = {-128, -1, 0, 127};
    static const uint8_t u8[5] = {0, 1, 2, 254, 255};
    static const uint8_t mask[3] = {1, 0, 1};
    static const float scalar = 42.0f, one = 1.0f;
    const sample samples[] = {
        {"weight", RECUR_F32, 2, {2, 3}, f32, sizeof f32},
        {"doubles", RECUR_F64, 1, {2}, f64, sizeof f64},
        {"halves", RECUR_F16, 2, {2, 2}, f16, sizeof f16},
        {"brains", RECUR_BF16, 1, {4}, bf16, sizeof bf16},
        {"i64", RECUR_I64, 1, {3}, i64, sizeof i64},
        {"i32", RECUR_I32, 2, {1, 2}, i32, sizeof i32},
        {"i16", RECUR_I16, 1, {3}, i16, sizeof i16},
        {"i8", RECUR_I8, 1, {4}, i8, sizeof i8},
        {"u8", RECUR_U8, 1, {5}, u8, sizeof u8},
        {"mask", RECUR_BOOL, 1, {3}, mask, sizeof mask},
        {"scalar", RECUR_F32, 0, {0}, &scalar, 4},
        {"empty", RECUR_F32, 1, {0}, NULL, 0},
        {"empty_3d", RECUR_I64, 3, {3, 0, 2}, NULL, 0},
        {"eight_dims", RECUR_F32, 8, {1, 1, 1, 1, 1, 1, 1, 1}, &one, 4},
        {"\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80", RECUR_F32, 0, {0}, &one, 4},
        {"quote\"back\\slash/", RECUR_F32, 1, {1}, &scalar, 4},
        {"empty_last", RECUR_F16, 2, {0, 5}, NULL, 0},
    };
    const size_t count = sizeof samples / sizeof samples[0];
    char path[1024];
    snprintf(path, sizeof path, "%s/round.safetensors", scratch);
    recur_st_writer *w = NULL;
    CHECK_OK(recur_st_writer_create(&w));
    if (!w)
        return;
    size_t data_size = 0;
    for (size_t i = 0; i < count; i++) {
        const sample *s = &samples[i];
        CHECK_OK(recur_st_writer_add(w, s->name, s->dtype, s->ndim, s->shape, s->data));
        data_size += s->nbytes;
    }
    CHECK_OK(recur_st_writer_set_metadata(w, "recur.module", "gru"));
    CHECK_OK(recur_st_writer_set_metadata(w, "note", "first"));
    CHECK_OK(recur_st_writer_set_metadata(w, "quote", "say \"hi\"\n\tthen \\ \xe2\x82\xac"));
    CHECK_OK(recur_st_writer_set_metadata(w, "note", "second")); /* keeps its place */
    CHECK_OK(recur_st_writer_set_metadata(w, "", ""));
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);
    CHECK(count_temporaries(scratch) == 0);

    /* The layout: padded header, data right after it, 8-byte aligned. */
    size_t size = 0;
    unsigned char *bytes = read_whole(path, &size);
    CHECK(bytes != NULL);
    if (!bytes)
        return;
    uint64_t header_length = 0;
    for (int i = 7; i >= 0; i--)
        header_length = (header_length << 8) | bytes[i];
    CHECK((8 + header_length) % 8 == 0);
    CHECK(size == 8 + header_length + data_size);
    CHECK(memcmp(bytes + 8, "{\"__metadata__\":{\"recur.module\":\"gru\"", 37) == 0);
    CHECK(bytes[8 + header_length - 1] == ' ' || bytes[8 + header_length - 1] == '}');

    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open(path, &f));
    if (f) {
        CHECK(strcmp(recur_st_label(f), path) == 0);
        CHECK(recur_st_count(f) == count);
        for (size_t i = 0; i < count && i < recur_st_count(f); i++) {
            const sample *s = &samples[i];
            const recur_tensor_view *t = recur_st_tensor(f, i); /* insertion = file order */
            CHECK(t != NULL && strcmp(t->name, s->name) == 0);
            CHECK(recur_st_find(f, s->name) == t);
            if (!t)
                continue;
            size_t numel = 1;
            for (int d = 0; d < s->ndim; d++)
                numel *= (size_t)s->shape[d];
            CHECK(t->dtype == s->dtype && t->ndim == s->ndim);
            CHECK(memcmp(t->shape, s->shape, sizeof t->shape) == 0); /* zeros past ndim */
            CHECK(t->numel == numel && t->nbytes == s->nbytes);
            CHECK(s->nbytes == 0 || memcmp(t->data, s->data, s->nbytes) == 0);
        }
        CHECK(recur_st_tensor(f, count) == NULL);
        CHECK(recur_st_find(f, "missing") == NULL);
        CHECK(recur_st_find(f, "weigh") == NULL);
        CHECK(recur_st_metadata_count(f) == 4);
        const char *key = NULL, *value = NULL;
        recur_st_metadata_at(f, 1, &key, &value);
        CHECK(key && value && strcmp(key, "note") == 0 && strcmp(value, "second") == 0);
        recur_st_metadata_at(f, 4, &key, &value);
        CHECK(key == NULL && value == NULL);
        CHECK(strcmp(recur_st_metadata(f, "recur.module"), "gru") == 0);
        CHECK(strcmp(recur_st_metadata(f, "quote"), "say \"hi\"\n\tthen \\ \xe2\x82\xac") == 0);
        CHECK(strcmp(recur_st_metadata(f, ""), "") == 0);
        CHECK(recur_st_metadata(f, "missing") == NULL);

        /* Conversions through the file's (unaligned) data. */
        float values[6];
        CHECK_OK(recur_tensor_to_f32(recur_st_find(f, "weight"), values, 6));
        CHECK(memcmp(values, f32, sizeof f32) == 0);
        CHECK_OK(recur_tensor_to_f32(recur_st_find(f, "halves"), values, 4));
        CHECK(values[0] == 1.0f && signbit(values[1]) && isinf(values[2]) &&
              values[3] == ldexpf(1.0f, -24));
        int64_t ints[5];
        CHECK_OK(recur_tensor_to_i64(recur_st_find(f, "u8"), ints, 5));
        CHECK(ints[0] == 0 && ints[4] == 255);
        CHECK_OK(recur_tensor_to_i64(recur_st_find(f, "empty_3d"), ints, 0));
    }
    recur_st_close(f);

    /* The same bytes from memory. */
    f = NULL;
    CHECK_OK(recur_st_open_memory(bytes, size, "copy", &f));
    CHECK(f && recur_st_count(f) == count && strcmp(recur_st_label(f), "copy") == 0);
    recur_st_close(f);
    free(bytes);
}

/* No metadata: no __metadata__ key; integers are written as digits. */
static void test_plain_header(const char *scratch)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/plain.safetensors", scratch);
    recur_st_writer *w = NULL;
    CHECK_OK(recur_st_writer_create(&w));
    if (!w)
        return;
    const int64_t huge[2] = {0, (int64_t)1 << 53}, big[2] = {(int64_t)1000000000000000, 0};
    CHECK_OK(recur_st_writer_add(w, "huge", RECUR_F32, 2, huge, NULL));
    CHECK_OK(recur_st_writer_add(w, "big", RECUR_F64, 2, big, NULL));
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);
    size_t size = 0;
    unsigned char *bytes = read_whole(path, &size);
    CHECK(bytes != NULL);
    if (!bytes)
        return;
    char *text = calloc(size + 1, 1);
    memcpy(text, bytes, size);
    CHECK(strstr(text + 8, "__metadata__") == NULL);
    CHECK(strstr(text + 8, "[0,9007199254740992]") != NULL);
    CHECK(strstr(text + 8, "[1000000000000000,0]") != NULL);
    CHECK(strstr(text + 8, "e+") == NULL);
    free(text);
    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open_memory(bytes, size, "plain", &f));
    const recur_tensor_view *t = recur_st_find(f, "huge");
    CHECK(t && t->shape[1] == ((int64_t)1 << 53) && t->numel == 0);
    CHECK(recur_st_metadata_count(f) == 0 && recur_st_metadata(f, "x") == NULL);
    recur_st_close(f);
    free(bytes);

    /* An empty writer saves an empty, valid file. */
    CHECK_OK(recur_st_writer_create(&w));
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);
    f = NULL;
    CHECK_OK(recur_st_open(path, &f));
    CHECK(f && recur_st_count(f) == 0);
    recur_st_close(f);
}

static void test_writer_rejects(void)
{
    recur_st_writer *w = NULL;
    CHECK_OK(recur_st_writer_create(&w));
    if (!w)
        return;
    const float data[4] = {1, 2, 3, 4};
    const int64_t two[1] = {2}, negative[2] = {2, -1}, nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const int64_t overflow[3] = {(int64_t)1 << 40, (int64_t)1 << 40, 2};
    const int64_t beyond[2] = {0, ((int64_t)1 << 53) + 1};
    CHECK_OK(recur_st_writer_add(w, "a", RECUR_F32, 1, two, data));
    CHECK_STATUS(recur_st_writer_add(w, "a", RECUR_F32, 1, two, data), RECUR_E_INVALID);
    CHECK_MESSAGE("duplicate tensor name 'a'");
    CHECK_STATUS(recur_st_writer_add(w, "b", RECUR_F32, 9, nine, data), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_add(w, "b", RECUR_F32, -1, two, data), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_add(w, "b", RECUR_F32, 2, negative, data), RECUR_E_INVALID);
    CHECK_MESSAGE("tensor 'b': dimension 1 is -1");
    CHECK_STATUS(recur_st_writer_add(w, "b", RECUR_F32, 3, overflow, data), RECUR_E_INVALID);
    CHECK_MESSAGE("overflows");
    CHECK_STATUS(recur_st_writer_add(w, "b", RECUR_F32, 2, beyond, data), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_add(w, "b", RECUR_F32, 1, NULL, data), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_add(w, "b", RECUR_F32, 1, two, NULL), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_add(w, "b", RECUR_DTYPE_COUNT, 1, two, data), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_add(w, "__metadata__", RECUR_F32, 1, two, data),
                 RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_add(w, "bad\xff", RECUR_F32, 1, two, data), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_add(w, "bad\xed\xa0\x80", RECUR_F32, 1, two, data),
                 RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_add(w, "new\nline", RECUR_F32, 1, two, data), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_add(w, NULL, RECUR_F32, 1, two, data), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_add(NULL, "b", RECUR_F32, 1, two, data), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_set_metadata(w, "k", "\xc0\x80"), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_set_metadata(w, "\xff", "v"), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_set_metadata(w, "k", NULL), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_save(w, NULL), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_save(NULL, "x"), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_create(NULL), RECUR_E_INVALID);
    recur_st_writer_free(w);
    recur_st_writer_free(NULL);
}

/* ------------------------------------------------------------------ */
/* Atomic saves and file errors                                        */
/* ------------------------------------------------------------------ */

static recur_status save_one(const char *path, float value)
{
    recur_st_writer *w = NULL;
    recur_status status = recur_st_writer_create(&w);
    const int64_t shape[1] = {1};
    if (status == RECUR_OK)
        status = recur_st_writer_add(w, "x", RECUR_F32, 1, shape, &value);
    if (status == RECUR_OK)
        status = recur_st_writer_save(w, path);
    recur_st_writer_free(w);
    return status;
}

static float load_one(const char *path)
{
    recur_st_file *f = NULL;
    float value = NAN;
    if (recur_st_open(path, &f) == RECUR_OK)
        recur_tensor_to_f32(recur_st_find(f, "x"), &value, 1);
    recur_st_close(f);
    return value;
}

static void test_saves(const char *scratch)
{
    char path[1200], missing_dir[1024], dir_target[1024];
    snprintf(path, sizeof path, "%s/replace.safetensors", scratch);
    CHECK_OK(save_one(path, 1.0f));
    CHECK(load_one(path) == 1.0f);
    CHECK_OK(save_one(path, 2.0f)); /* replaces the file */
    CHECK(load_one(path) == 2.0f);
    CHECK(count_temporaries(scratch) == 0);

    /* A directory that does not exist: RECUR_E_IO, nothing created. */
    snprintf(missing_dir, sizeof missing_dir, "%s/no_such_dir", scratch);
    snprintf(path, sizeof path, "%s/x.safetensors", missing_dir);
    CHECK_STATUS(save_one(path, 3.0f), RECUR_E_IO);
    CHECK_MESSAGE(path);
    CHECK_MESSAGE(strerror(ENOENT));
    CHECK(!exists(missing_dir) && count_temporaries(scratch) == 0);

    /* PATH is a directory: the temporary file is written, the rename
     * fails, and the temporary file is removed. */
    snprintf(dir_target, sizeof dir_target, "%s/a_directory.safetensors", scratch);
    mkdir(dir_target, 0755);
    CHECK(is_directory(dir_target));
    CHECK_STATUS(save_one(dir_target, 4.0f), RECUR_E_IO);
    CHECK_MESSAGE(dir_target);
    CHECK(is_directory(dir_target) && count_temporaries(scratch) == 0);
}

static void test_open_errors(const char *scratch)
{
    char path[1024];
    recur_st_file *f = NULL;
    snprintf(path, sizeof path, "%s/does_not_exist.safetensors", scratch);
    CHECK_STATUS(recur_st_open(path, &f), RECUR_E_IO);
    CHECK_MESSAGE(path);
    CHECK_MESSAGE(strerror(ENOENT));
    CHECK(f == NULL);
    CHECK_STATUS(recur_st_open(scratch, &f), RECUR_E_IO); /* a directory */
    CHECK_MESSAGE("not a regular file");
    CHECK_STATUS(recur_st_open(NULL, &f), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_open(path, NULL), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_open_memory(NULL, 4, "x", &f), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_open_memory(NULL, 0, NULL, &f), RECUR_E_FORMAT);
    CHECK_MESSAGE("(memory): file is 0 bytes");

    /* Hostile files on disk. */
    snprintf(path, sizeof path, "%s/empty.safetensors", scratch);
    CHECK(write_whole(path, "", 0));
    CHECK_STATUS(recur_st_open(path, &f), RECUR_E_FORMAT);
    CHECK_MESSAGE(path);
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t size;
    unsigned char *bytes = file_image(json, strlen(json), 8, &size);
    snprintf(path, sizeof path, "%s/short.safetensors", scratch);
    CHECK(write_whole(path, bytes, size - 1));
    CHECK_STATUS(recur_st_open(path, &f), RECUR_E_FORMAT);
    CHECK_MESSAGE("exceed the data size 7");
    snprintf(path, sizeof path, "%s/huge_header.safetensors", scratch);
    memset(bytes, 0xff, 8);
    CHECK(write_whole(path, bytes, size));
    CHECK_STATUS(recur_st_open(path, &f), RECUR_E_FORMAT);
    CHECK_MESSAGE("header length 18446744073709551615 exceeds");
    free(bytes);
    recur_st_close(NULL);
    CHECK(recur_st_count(NULL) == 0 && recur_st_find(NULL, "x") == NULL);
}

/* ------------------------------------------------------------------ */
/* Hostile headers                                                     */
/* ------------------------------------------------------------------ */

#define T(name, dtype, shape, offsets) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"

static void test_accepted_headers(void)
{
    recur_st_file *f = NULL;
    CHECK_OK(open_json("{}", 0, NULL));
    CHECK_OK(open_json(" \t\r\n{ } \n\t  ", 0, NULL));
    CHECK_OK(open_json("{\"__metadata__\":{}}", 0, NULL));
    CHECK_OK(open_json("{" T("a", "F32", "[2]", "[0,8]") "}     ", 8, NULL));
    CHECK_OK(open_json("{" T("a", "F32", "[2]", "[0,8]") ",\"__metadata__\":{\"k\":\"\\n\"}}", 8,
                       NULL));

    /* JSON order differs from data order: tensors come in data order. */
    CHECK_OK(open_json("{" T("b", "F32", "[2]", "[8,16]") "," T("a", "F32", "[2]", "[0,8]") "}",
                       16, &f));
    CHECK(f && strcmp(recur_st_tensor(f, 0)->name, "a") == 0 &&
          strcmp(recur_st_tensor(f, 1)->name, "b") == 0);
    if (f) {
        const unsigned char *b_data = recur_st_find(f, "b")->data;
        CHECK(b_data[0] == 8 && b_data[7] == 15); /* the image's data bytes are 0, 1, 2... */
    }
    recur_st_close(f);

    /* Zero-size tensors anywhere, in JSON order where they share an offset. */
    CHECK_OK(open_json("{" T("z2", "F32", "[0]", "[12,12]") "," T("b", "I32", "[1]", "[8,12]")
                       "," T("z1", "I8", "[0,3]", "[8,8]") "," T("a", "F64", "[1]", "[0,8]")
                       "," T("z0", "F32", "[0]", "[0,0]") "," T("z1b", "U8", "[0]", "[8,8]")
                       "}",
                       12, &f));
    const char *order[] = {"z0", "a", "z1", "z1b", "b", "z2"};
    CHECK(f && recur_st_count(f) == 6);
    for (size_t i = 0; f && i < 6; i++)
        CHECK(strcmp(recur_st_tensor(f, i)->name, order[i]) == 0);
    recur_st_close(f);

    /* A surrogate pair escape decodes to one 4-byte character; unknown
     * members of an entry are ignored; 2^53 is a valid dimension. */
    CHECK_OK(open_json("{\"\\ud83d\\ude00\":{\"dtype\":\"F32\",\"shape\":[0,9007199254740992],"
                       "\"data_offsets\":[0,0],\"extra\":[1,{}]}}",
                       0, &f));
    CHECK(f && recur_st_find(f, "\xf0\x9f\x98\x80") != NULL);
    recur_st_close(f);
}

typedef struct hostile {
    const char *json;
    size_t data;
    const char *message; /* a fragment of the expected message */
} hostile;

static const hostile hostile_headers[] = {
    {" ", 0, "not valid JSON"},
    {"{", 0, "not valid JSON"},
    {"{\"a\":1,}", 0, "not valid JSON"},
    {"[]", 0, "header is not a JSON object"},
    {"null", 0, "header is not a JSON object"},
    {"\"{}\"", 0, "header is not a JSON object"},
    {"5", 0, "header is not a JSON object"},
    {"{} x", 0, "trailing bytes"},
    {"{}{}", 0, "trailing bytes"},
    {"{\"a\":5}", 0, "tensor 'a' is not a JSON object"},
    {"{\"a\":[]}", 0, "tensor 'a' is not a JSON object"},
    {"{\"a\":null}", 0, "tensor 'a' is not a JSON object"},
    /* dtype */
    {"{" T("a", "F33", "[2]", "[0,8]") "}", 8, "tensor 'a': unknown dtype 'F33'"},
    {"{" T("a", "f32", "[2]", "[0,8]") "}", 8, "unknown dtype 'f32'"},
    {"{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype is not a string"},
    {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'a': missing \"dtype\""},
    {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing \"shape\""},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing \"data_offsets\""},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
     "duplicate \"dtype\""},
    /* shape */
    {"{" T("a", "F32", "2", "[0,8]") "}", 8, "shape is not an array"},
    {"{" T("a", "F32", "{\"0\":2}", "[0,8]") "}", 8, "shape is not an array"},
    {"{" T("a", "F32", "[-2]", "[0,8]") "}", 8, "shape[0] is not an integer"},
    {"{" T("a", "F32", "[2.5]", "[0,10]") "}", 10, "shape[0] is not an integer"},
    {"{" T("a", "F32", "[1,0.5]", "[0,2]") "}", 2, "shape[1] is not an integer"},
    {"{" T("a", "F32", "[\"2\"]", "[0,8]") "}", 8, "shape[0] is not an integer"},
    {"{" T("a", "F32", "[true]", "[0,4]") "}", 4, "shape[0] is not an integer"},
    {"{" T("a", "F32", "[null]", "[0,4]") "}", 4, "shape[0] is not an integer"},
    {"{" T("a", "F32", "[[2]]", "[0,8]") "}", 8, "shape[0] is not an integer"},
    {"{" T("a", "F32", "[1e300]", "[0,8]") "}", 8, "shape[0] is not an integer"},
    {"{" T("a", "F32", "[1e999]", "[0,8]") "}", 8, "shape[0] is not an integer"},
    {"{" T("a", "F32", "[9007199254740994]", "[0,8]") "}", 8, "shape[0] is not an integer"},
    {"{" T("a", "F32", "[4294967296,4294967296,4294967296]", "[0,8]") "}", 8,
     "element count overflows"},
    {"{" T("a", "F32", "[4294967296,2147483648]", "[0,8]") "}", 8, "byte size overflows"},
    {"{" T("a", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4, "more than 8 dimensions"},
    /* data_offsets */
    {"{" T("a", "F32", "[2]", "[0,80]") "}", 8,
     "test.safetensors: tensor 'a': data_offsets [0, 80] exceed the data size 8"},
    {"{" T("a", "F32", "[2]", "[8,0]") "}", 8, "data_offsets [8, 0] end before they begin"},
    {"{" T("a", "F32", "[2]", "[0,12]") "}", 12, "hold 12 bytes but 2 elements of F32 need 8"},
    {"{" T("a", "F16", "[2]", "[0,8]") "}", 8, "hold 8 bytes but 2 elements of F16 need 4"},
    {"{" T("a", "F32", "[2]", "[0]") "}", 8, "data_offsets is not two integers"},
    {"{" T("a", "F32", "[2]", "[0,4,8]") "}", 8, "data_offsets is not two integers"},
    {"{" T("a", "F32", "[2]", "[-8,0]") "}", 8, "data_offsets is not two integers"},
    {"{" T("a", "F32", "[2]", "[0,8.5]") "}", 8, "data_offsets is not two integers"},
    {"{" T("a", "F32", "[2]", "[\"0\",\"8\"]") "}", 8, "data_offsets is not two integers"},
    {"{" T("a", "F32", "[2]", "\"0-8\"") "}", 8, "data_offsets is not two integers"},
    {"{" T("a", "F32", "[2]", "[0,1e20]") "}", 8, "data_offsets is not two integers"},
    {"{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[2]", "[4,12]") "}", 12,
     "tensor 'b' overlaps tensor 'a'"},
    {"{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[0]", "[4,4]") "}", 8, "overlaps"},
    {"{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[2]", "[0,8]") "}", 8, "overlaps"},
    {"{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[2]", "[12,20]") "}", 20,
     "tensor 'b' starts at data byte 12, leaving a hole after byte 8"},
    {"{" T("a", "F32", "[2]", "[4,12]") "}", 12, "leaving a hole after byte 0"},
    {"{" T("a", "F32", "[2]", "[0,8]") "}", 12, "tensors cover 8 bytes but the data has 12"},
    {"{}", 4, "tensors cover 0 bytes but the data has 4"},
    /* names */
    {"{" T("a", "F32", "[2]", "[0,8]") "," T("a", "F32", "[2]", "[8,16]") "}", 16,
     "duplicate tensor name 'a'"},
    {"{" T("a\xff", "F32", "[2]", "[0,8]") "}", 8, "not valid UTF-8"},
    {"{" T("\x80", "F32", "[2]", "[0,8]") "}", 8, "not valid UTF-8"},
    {"{" T("a\xc0\x80", "F32", "[2]", "[0,8]") "}", 8, "not valid UTF-8"},
    {"{" T("a\xc1\xbf", "F32", "[2]", "[0,8]") "}", 8, "not valid UTF-8"},
    {"{" T("a\xe0\x80\xaf", "F32", "[2]", "[0,8]") "}", 8, "not valid UTF-8"},
    {"{" T("a\xf0\x80\x80\xaf", "F32", "[2]", "[0,8]") "}", 8, "not valid UTF-8"},
    {"{" T("a\xed\xa0\x80", "F32", "[2]", "[0,8]") "}", 8, "not valid UTF-8"},
    {"{" T("a\xed\xbf\xbf", "F32", "[2]", "[0,8]") "}", 8, "not valid UTF-8"},
    {"{" T("a\xf4\x90\x80\x80", "F32", "[2]", "[0,8]") "}", 8, "not valid UTF-8"},
    {"{" T("a\xf8\x88\x80\x80\x80", "F32", "[2]", "[0,8]") "}", 8, "not valid UTF-8"},
    {"{" T("a\xe2\x82", "F32", "[2]", "[0,8]") "}", 8, "not valid UTF-8"},
    {"{" T("\\ud800", "F32", "[2]", "[0,8]") "}", 8, "not valid JSON"},
    {"{" T("\\udc00", "F32", "[2]", "[0,8]") "}", 8, "not valid JSON"},
    {"{" T("x\\ud800\\u0041", "F32", "[2]", "[0,8]") "}", 8, "not valid JSON"},
    {"{" T("a\\u0000b", "F32", "[2]", "[0,8]") "}", 8, "\\u0000 in a string"},
    {"{" T("a\\\\", "F32", "[2]", "[0,8]") "," T("a\\u0000", "F32", "[2]", "[8,16]") "}", 16,
     "\\u0000 in a string"},
    {"{" T("a\x01", "F32", "[2]", "[0,8]") "}", 8, "control character 0x01 in a string"},
    {"{" T("a\n", "F32", "[2]", "[0,8]") "}", 8, "control character 0x0a in a string"},
    {"{" T("a\\n", "F32", "[2]", "[0,8]") "}", 8, "a tensor name holds a control character"},
    {"{\x01}", 0, "header byte 1: control character 0x01"},
    {"{}\x0c", 0, "control character 0x0c"},
    /* metadata */
    {"{\"__metadata__\":{\"k\":5}}", 0, "metadata value of 'k' is not a string"},
    {"{\"__metadata__\":{\"k\":null}}", 0, "is not a string"},
    {"{\"__metadata__\":{\"k\":{}}}", 0, "is not a string"},
    {"{\"__metadata__\":{\"k\":[\"v\"]}}", 0, "is not a string"},
    {"{\"__metadata__\":[\"k\"]}", 0, "__metadata__ is not a JSON object"},
    {"{\"__metadata__\":\"k\"}", 0, "__metadata__ is not a JSON object"},
    {"{\"__metadata__\":{\"k\":\"\xff\"}}", 0, "metadata value of 'k' is not valid UTF-8"},
    {"{\"__metadata__\":{\"\xc0\xaf\":\"v\"}}", 0, "metadata key is not valid UTF-8"},
    {"{\"__metadata__\":{\"k\":\"\\udfff\"}}", 0, "not valid JSON"},
    {"{\"__metadata__\":{\"k\":\"a\\u0000\"}}", 0, "\\u0000"},
    {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate metadata key 'k'"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate __metadata__"},
    {"{\"__metadata__\":{" T("a", "F32", "[2]", "[0,8]") "}}", 8, "is not a string"},
};

static void test_hostile_headers(void)
{
    const size_t n = sizeof hostile_headers / sizeof hostile_headers[0];
    for (size_t i = 0; i < n; i++) {
        const hostile *h = &hostile_headers[i];
        recur_status status = open_json(h->json, h->data, NULL);
        const char *message = recur_last_error();
        test_checks++;
        if (status != RECUR_E_FORMAT || !strstr(message, h->message) ||
            strncmp(message, "test.safetensors: ", 18) != 0 || strchr(message, '\n')) {
            test_failures++;
            fprintf(stderr, "hostile header %zu: %s \"%s\" (expected \"%s\") for %s\n", i,
                    recur_status_name(status), message, h->message, h->json);
        }
    }

    /* A NUL byte in the header (raw bytes, not a C string). */
    static const char with_nul[] = "{\"a\0\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}";
    size_t size;
    unsigned char *bytes = file_image(with_nul, sizeof with_nul - 1, 0, &size);
    recur_st_file *f = NULL;
    CHECK_STATUS(recur_st_open_memory(bytes, size, "nul", &f), RECUR_E_FORMAT);
    CHECK_MESSAGE("control character 0x00 in a string");
    free(bytes);
}

static void test_header_lengths(void)
{
    const struct {
        uint64_t length;
        const char *message;
    } cases[] = {
        {0, "header length is 0"},
        {9, "header length 9 exceeds the 8 bytes after it"},
        {1000, "header length 1000 exceeds"},
        {100000001, "header length 100000001 exceeds the limit 100000000"},
        {(uint64_t)1 << 63, "header length 9223372036854775808 exceeds"},
        {UINT64_MAX, "header length 18446744073709551615 exceeds"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char bytes[16] = "........{}      ";
        for (int b = 0; b < 8; b++)
            bytes[b] = (unsigned char)(cases[i].length >> (8 * b));
        recur_st_file *f = NULL;
        CHECK_STATUS(recur_st_open_memory(bytes, sizeof bytes, "len", &f), RECUR_E_FORMAT);
        CHECK_MESSAGE(cases[i].message);
        CHECK(f == NULL);
    }
    for (size_t size = 0; size < 8; size++) {
        unsigned char bytes[8] = {2, 0, 0, 0, 0, 0, 0, 0};
        recur_st_file *f = NULL;
        CHECK_STATUS(recur_st_open_memory(bytes, size, "tiny", &f), RECUR_E_FORMAT);
        CHECK_MESSAGE("too short for the 8-byte header length");
    }
}

/* ------------------------------------------------------------------ */
/* Truncation and random corruption                                    */
/* ------------------------------------------------------------------ */

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static const char fuzz_json[] =
    "{\"__metadata__\":{\"recur.module\":\"lstm\",\"\xc3\xa9\":\"\\u00e9\"},"
    T("w", "F16", "[2,3]", "[0,12]") "," T("b", "BF16", "[3]", "[12,18]")
    "," T("z", "F32", "[0]", "[18,18]") "," T("d", "F64", "[1]", "[18,26]")
    "," T("i", "I32", "[2]", "[26,34]") "," T("u", "U8", "[2]", "[34,36]") "}    ";
#define FUZZ_DATA 36

/* Converts every tensor of an accepted file, so that ASan sees any view
 * that points outside the buffer. */
static void touch_all(const recur_st_file *f)
{
    for (size_t i = 0; i < recur_st_count(f); i++) {
        const recur_tensor_view *t = recur_st_tensor(f, i);
        float *floats = malloc((t->numel ? t->numel : 1) * sizeof *floats);
        int64_t *ints = malloc((t->numel ? t->numel : 1) * sizeof *ints);
        recur_status a = recur_tensor_to_f32(t, floats, t->numel);
        recur_status b = recur_tensor_to_i64(t, ints, t->numel);
        CHECK(a == RECUR_OK || b == RECUR_OK || t->dtype == RECUR_BOOL);
        free(floats);
        free(ints);
    }
}

static void test_truncation(const char *scratch)
{
    size_t size;
    unsigned char *bytes = file_image(fuzz_json, strlen(fuzz_json), FUZZ_DATA, &size);
    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open_memory(bytes, size, "valid", &f));
    CHECK(recur_st_count(f) == 6 && recur_st_metadata_count(f) == 2);
    CHECK(f && strcmp(recur_st_metadata(f, "\xc3\xa9"), "\xc3\xa9") == 0);
    touch_all(f);
    recur_st_close(f);
    int rejected = 0;
    for (size_t n = 0; n < size; n++) {
        f = NULL;
        rejected += recur_st_open_memory(bytes, n, "truncated", &f) == RECUR_E_FORMAT && !f;
    }
    CHECK(rejected == (int)size);
    /* A few through real files. */
    char path[1024];
    snprintf(path, sizeof path, "%s/truncated.safetensors", scratch);
    const size_t lengths[] = {3, 8, 20, size - FUZZ_DATA, size - 1};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        CHECK(write_whole(path, bytes, lengths[i]));
        CHECK_STATUS(recur_st_open(path, &f), RECUR_E_FORMAT);
    }
    free(bytes);
}

static void test_random_corruption(void)
{
    size_t size;
    unsigned char *bytes = file_image(fuzz_json, strlen(fuzz_json), FUZZ_DATA, &size);
    unsigned char *copy = malloc(size);
    uint64_t state = 20240601;
    int accepted = 0, bad_status = 0;
    for (int iteration = 0; iteration < 6000; iteration++) {
        memcpy(copy, bytes, size);
        /* Half the time aim at the header only, where the parsing happens. */
        size_t span = iteration % 2 ? size : size - FUZZ_DATA;
        int flips = 1 + (int)(next_random(&state) % 4);
        for (int k = 0; k < flips; k++) {
            size_t at = (size_t)(next_random(&state) % span);
            if (next_random(&state) % 2)
                copy[at] ^= (unsigned char)(1u << (next_random(&state) % 8));
            else
                copy[at] = (unsigned char)next_random(&state);
        }
        recur_st_file *f = NULL;
        recur_status status = recur_st_open_memory(copy, size, "fuzz", &f);
        bad_status += status != RECUR_OK && status != RECUR_E_FORMAT;
        if (status == RECUR_OK) {
            accepted++;
            touch_all(f);
            recur_st_close(f);
        }
    }
    CHECK(bad_status == 0);
    CHECK(accepted > 0); /* flips inside the data keep the file valid */
    free(copy);
    free(bytes);
}

int main(int argc, char **argv)
{
    /* A private subdirectory: other tests save into argv[1] too, and their
     * temporary files must not count as ours under a parallel ctest. */
    const char *parent = argc > 1 ? argv[1] : "st_scratch";
    char scratch[900];
    snprintf(scratch, sizeof scratch, "%.800s/test_safetensors.d", parent);
    if ((mkdir(parent, 0755) != 0 && errno != EEXIST) ||
        (mkdir(scratch, 0755) != 0 && errno != EEXIST)) {
        fprintf(stderr, "cannot create %s: %s\n", scratch, strerror(errno));
        return 1;
    }
    test_dtype_table();
    test_f16_every_value();
    test_bf16_every_value();
    test_float_conversions();
    test_integer_conversions();
    test_conversion_errors();
    test_round_trip(scratch);
    test_plain_header(scratch);
    test_writer_rejects();
    test_saves(scratch);
    test_open_errors(scratch);
    test_accepted_headers();
    test_hostile_headers();
    test_header_lengths();
    test_truncation(scratch);
    test_random_corruption();
    return test_finish("test_safetensors");
}
