/* safetensors: round trips, dtype conversions, atomic saves and hostile files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/rng.h"
#include "test_util.h"

static const char *scratch;

/* Builds a file image from a JSON header and `data_len` bytes of data. */
static unsigned char *make_file(const char *json, size_t data_len, size_t *size)
{
    size_t n = strlen(json);
    *size = 8 + n + data_len;
    unsigned char *bytes = calloc(*size, 1);
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(bytes + 8, json, n);
    for (size_t i = 0; i < data_len; i++)
        bytes[8 + n + i] = (unsigned char)i;
    return bytes;
}

static recur_status open_json(const char *json, size_t data_len)
{
    size_t size;
    unsigned char *bytes = make_file(json, data_len, &size);
    recur_st_file *f = NULL;
    recur_status st = recur_st_open_memory(bytes, size, "test.safetensors", &f);
    CHECK((st == RECUR_OK) == (f != NULL));
    recur_st_close(f);
    free(bytes);
    return st;
}

static void test_round_trip(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/round.safetensors", scratch);
    recur_st_writer *w = NULL;
    CHECK_OK(recur_st_writer_create(&w));
    float f32[6] = {1, -2, 3.5f, 0, 1e-30f, -7};
    double f64[2] = {1.0 / 3.0, -1e300};
    int64_t i64[3] = {-1, 0, (int64_t)1 << 40};
    int32_t i32[2] = {-5, 7};
    int64_t s23[2] = {2, 3}, s2[1] = {2}, s3[1] = {3}, s0[1] = {0};
    float scalar = 42.0f;
    CHECK_OK(recur_st_writer_add(w, "weights", RECUR_F32, 2, s23, f32));
    CHECK_OK(recur_st_writer_add(w, "doubles", RECUR_F64, 1, s2, f64));
    CHECK_OK(recur_st_writer_add(w, "ints", RECUR_I64, 1, s3, i64));
    CHECK_OK(recur_st_writer_add(w, "small_ints", RECUR_I32, 1, s2, i32));
    CHECK_OK(recur_st_writer_add(w, "scalar", RECUR_F32, 0, NULL, &scalar));
    CHECK_OK(recur_st_writer_add(w, "empty", RECUR_F32, 1, s0, NULL));
    CHECK_OK(recur_st_writer_add(w, "\xc3\xa9t\xc3\xa9", RECUR_F32, 0, NULL, &scalar));
    CHECK_STATUS(recur_st_writer_add(w, "weights", RECUR_F32, 1, s2, f32), RECUR_E_INVALID);
    CHECK_STATUS(recur_st_writer_add(w, "bad\xff", RECUR_F32, 1, s2, f32), RECUR_E_INVALID);
    CHECK_OK(recur_st_writer_set_metadata(w, "recur.module", "gru"));
    CHECK_OK(recur_st_writer_set_metadata(w, "note", "first"));
    CHECK_OK(recur_st_writer_set_metadata(w, "note", "second"));
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);

    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open(path, &f));
    if (!f)
        return;
    CHECK(recur_st_count(f) == 7);
    CHECK(recur_st_metadata_count(f) == 2);
    CHECK(strcmp(recur_st_metadata(f, "note"), "second") == 0);
    CHECK(recur_st_metadata(f, "missing") == NULL);
    const recur_tensor_view *t = recur_st_find(f, "weights");
    float back[6];
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->dtype == RECUR_F32);
    if (t) {
        CHECK_OK(recur_tensor_to_f32(t, back, 6));
        CHECK(memcmp(back, f32, sizeof f32) == 0);
        CHECK_STATUS(recur_tensor_to_f32(t, back, 5), RECUR_E_SHAPE);
        int64_t as_int[6];
        CHECK_STATUS(recur_tensor_to_i64(t, as_int, 6), RECUR_E_SHAPE);
    }
    t = recur_st_find(f, "doubles");
    if (t) {
        CHECK_OK(recur_tensor_to_f32(t, back, 2));
        CHECK(back[0] == (float)(1.0 / 3.0) && isinf(back[1]) && back[1] < 0);
    }
    int64_t ints[3];
    t = recur_st_find(f, "ints");
    if (t) {
        CHECK_OK(recur_tensor_to_i64(t, ints, 3));
        CHECK(ints[0] == -1 && ints[2] == ((int64_t)1 << 40));
    }
    t = recur_st_find(f, "small_ints");
    if (t) {
        CHECK_OK(recur_tensor_to_i64(t, ints, 2));
        CHECK(ints[0] == -5 && ints[1] == 7);
    }
    t = recur_st_find(f, "scalar");
    CHECK(t && t->ndim == 0 && t->numel == 1);
    t = recur_st_find(f, "empty");
    CHECK(t && t->numel == 0 && t->nbytes == 0);
    CHECK(recur_st_find(f, "\xc3\xa9t\xc3\xa9") != NULL);
    recur_st_close(f);

    /* Saving leaves no temporary file; a missing directory fails cleanly. */
    char listing[1200];
    snprintf(listing, sizeof listing, "ls '%s' | grep -q '\\.tmp\\.'", scratch);
    CHECK(system(listing) != 0);
    CHECK_OK(recur_st_writer_create(&w));
    snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", scratch);
    CHECK_STATUS(recur_st_writer_save(w, path), RECUR_E_IO);
    recur_st_writer_free(w);
    CHECK_STATUS(recur_st_open(path, &f), RECUR_E_IO);
    CHECK_STATUS(recur_st_open(scratch, &f), RECUR_E_IO); /* a directory */
}

static float convert_one(recur_dtype dtype, uint16_t bits)
{
    unsigned char raw[2] = {(unsigned char)bits, (unsigned char)(bits >> 8)};
    recur_tensor_view t = {"x", dtype, 1, {1}, 1, 2, raw};
    float out = -12345.0f;
    CHECK_OK(recur_tensor_to_f32(&t, &out, 1));
    return out;
}

static void test_half_conversions(void)
{
    CHECK(convert_one(RECUR_F16, 0x3c00) == 1.0f);
    CHECK(convert_one(RECUR_F16, 0xc000) == -2.0f);
    CHECK(convert_one(RECUR_F16, 0x7bff) == 65504.0f);
    CHECK(convert_one(RECUR_F16, 0x0001) == ldexpf(1.0f, -24)); /* smallest subnormal */
    CHECK(convert_one(RECUR_F16, 0x03ff) == ldexpf(1023.0f, -24));
    float negative_zero = convert_one(RECUR_F16, 0x8000);
    CHECK(negative_zero == 0.0f && signbit(negative_zero));
    CHECK(isinf(convert_one(RECUR_F16, 0x7c00)) && convert_one(RECUR_F16, 0xfc00) < 0);
    CHECK(isnan(convert_one(RECUR_F16, 0x7e00)));
    CHECK(convert_one(RECUR_BF16, 0x3f80) == 1.0f);
    CHECK(convert_one(RECUR_BF16, 0xc0a0) == -5.0f);
    CHECK(isinf(convert_one(RECUR_BF16, 0x7f80)));
    CHECK(isnan(convert_one(RECUR_BF16, 0x7fc0)));
    CHECK(convert_one(RECUR_BF16, 0x0001) == ldexpf(1.0f, -133));
}

static void test_hostile_headers(void)
{
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    CHECK_OK(open_json(ok, 8));
    CHECK_OK(open_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}    ", 8));
    CHECK_OK(open_json("{}", 0));
    struct {
        const char *json;
        size_t data;
    } bad[] = {
        {"", 0},
        {"{", 0},
        {"[]", 0},
        {"null", 0},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8},
        {"{\"a\":5}", 0},
        {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", 10},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,8]}}", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
         "\"data_offsets\":[0,8]}}", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,80]}}", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12},  /* overlap */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20}, /* hole */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12},  /* trailing */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16},  /* duplicate */
        {"{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8},
        {"{\"a\xc0\x80\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8},
        {"{\"a\xed\xa0\x80\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8},
        {"{\"\\ud800\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8},
        {"{\"__metadata__\":{\"k\":5}}", 0},
        {"{\"__metadata__\":[\"k\"]}", 0},
        {"{\"__metadata__\":{\"k\":\"\xff\"}}", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        recur_status st = open_json(bad[i].json, bad[i].data);
        test_checks++;
        if (st != RECUR_E_FORMAT) {
            test_failures++;
            fprintf(stderr, "hostile header %zu accepted (status %s): %s\n", i,
                    recur_status_name(st), bad[i].json);
        }
    }
    /* Header lengths beyond the file or absurdly large. */
    uint64_t lengths[] = {0, 1, 1000, (uint64_t)1 << 63, UINT64_MAX};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        unsigned char bytes[16] = "........{}      ";
        for (int b = 0; b < 8; b++)
            bytes[b] = (unsigned char)(lengths[i] >> (8 * b));
        recur_st_file *f = NULL;
        CHECK_STATUS(recur_st_open_memory(bytes, sizeof bytes, "len", &f), RECUR_E_FORMAT);
    }
}

/* Every truncation and thousands of random byte flips of a valid file:
 * any status is fine, a crash or sanitizer report is not. */
static void test_truncation_and_corruption(void)
{
    size_t size;
    unsigned char *bytes = make_file(
        "{\"__metadata__\":{\"recur.module\":\"lstm\"},"
        "\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[12,18]}}",
        18, &size);
    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open_memory(bytes, size, "valid", &f));
    recur_st_close(f);
    for (size_t n = 0; n < size; n++) {
        recur_st_file *g = NULL;
        CHECK(recur_st_open_memory(bytes, n, "truncated", &g) == RECUR_E_FORMAT);
    }
    recur_rng rng;
    recur_rng_seed(&rng, 99);
    unsigned char *copy = malloc(size);
    int accepted = 0;
    for (int iter = 0; iter < 5000; iter++) {
        memcpy(copy, bytes, size);
        int flips = 1 + (int)(recur_rng_next(&rng) % 4);
        for (int k = 0; k < flips; k++)
            copy[recur_rng_next(&rng) % size] = (unsigned char)recur_rng_next(&rng);
        recur_st_file *g = NULL;
        if (recur_st_open_memory(copy, size, "fuzz", &g) == RECUR_OK) {
            accepted++;
            for (size_t i = 0; i < recur_st_count(g); i++) {
                const recur_tensor_view *t = recur_st_tensor(g, i);
                float *out = malloc((t->numel + 1) * sizeof(float));
                recur_tensor_to_f32(t, out, t->numel);
                free(out);
            }
            recur_st_close(g);
        }
    }
    CHECK(accepted > 0); /* flips inside the data keep the file valid */
    free(copy);
    free(bytes);
}

int main(int argc, char **argv)
{
    scratch = argc > 1 ? argv[1] : ".";
    mkdir(scratch, 0755);
    test_round_trip();
    test_half_conversions();
    test_hostile_headers();
    test_truncation_and_corruption();
    return test_finish("test_safetensors");
}
