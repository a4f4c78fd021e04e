/* recur_keras_import and the .npz reader: archives built here byte by byte
 * (stored and deflated members), Keras's LSTM/GRU math recomputed in double
 * against the imported stack, the naming convention, and hostile archives
 * (truncated, corrupt, huge shapes, bad headers: each rejected with a
 * message, never a crash; CI runs this under ASan/UBSan).
 * argv[1]: a scratch directory. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/npz.h"
#include "test_util.h"

static const char *scratch = ".";

/* ------------------------------------------------------------------ */
/* Building .npy and .npz bytes                                        */
/* ------------------------------------------------------------------ */

typedef struct bytes {
    unsigned char *data;
    size_t size, capacity;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (b->size + n > b->capacity) {
        b->capacity = (b->size + n) * 2 + 64;
        b->data = realloc(b->data, b->capacity);
    }
    memcpy(b->data + b->size, src, n);
    b->size += n;
}

static void put16(bytes *b, uint32_t v)
{
    unsigned char p[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(b, p, 2);
}

static void put32(bytes *b, uint32_t v)
{
    put16(b, v & 0xffff);
    put16(b, v >> 16);
}

/* An .npy image with a free-form header dict and raw data. */
static bytes npy_raw(const char *dict, const void *data, size_t nbytes)
{
    bytes b = {0};
    static const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    put(&b, magic, 8);
    size_t length = strlen(dict) + 1, padded = (10 + length + 63) / 64 * 64 - 10;
    put16(&b, (uint32_t)padded);
    put(&b, dict, strlen(dict));
    for (size_t i = length; i < padded; i++)
        put(&b, " ", 1);
    put(&b, "\n", 1);
    put(&b, data, nbytes);
    return b;
}

/* A float32 array of the given shape in C order. */
static bytes npy_f32(int ndim, const int64_t *shape, const float *values)
{
    char dict[256], dims[128] = "";
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        char one[32];
        snprintf(one, sizeof one, "%lld,%s", (long long)shape[d], d + 1 < ndim ? " " : "");
        strcat(dims, one);
        numel *= (size_t)shape[d];
    }
    if (ndim > 1)
        dims[strlen(dims) - 1] = '\0'; /* (2, 3) but (3,) */
    snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }",
             dims);
    return npy_raw(dict, values, numel * sizeof(float));
}

static bytes npy_f64(int ndim, const int64_t *shape, const float *values)
{
    size_t numel = 1;
    for (int d = 0; d < ndim; d++)
        numel *= (size_t)shape[d];
    double *v = malloc(numel * sizeof(double));
    for (size_t i = 0; i < numel; i++)
        v[i] = values[i];
    bytes f = npy_f32(ndim, shape, values);
    /* same header text with <f8 */
    char dict[256];
    const char *open = memchr(f.data, '{', f.size);
    size_t n = (size_t)((const unsigned char *)memchr(f.data, '}', f.size) -
                        (const unsigned char *)open) + 1;
    snprintf(dict, sizeof dict, "%.*s", (int)n, open);
    char *t = strstr(dict, "<f4");
    t[2] = '8';
    free(f.data);
    bytes b = npy_raw(dict, v, numel * sizeof(double));
    free(v);
    return b;
}

typedef struct member {
    const char *name;
    bytes npy;
    int deflate;
} member;

static bytes raw_deflate(const bytes *in)
{
    bytes out = {0};
    z_stream s;
    memset(&s, 0, sizeof s);
    deflateInit2(&s, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    out.capacity = deflateBound(&s, (uLong)in->size) + 16;
    out.data = malloc(out.capacity);
    s.next_in = in->data;
    s.avail_in = (uInt)in->size;
    s.next_out = out.data;
    s.avail_out = (uInt)out.capacity;
    deflate(&s, Z_FINISH);
    out.size = s.total_out;
    deflateEnd(&s);
    return out;
}

/* A zip archive as np.savez writes it (central sizes, local header first). */
static bytes zip_of(member *m, int count)
{
    bytes z = {0}, central = {0};
    for (int i = 0; i < count; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s.npy", m[i].name);
        bytes packed = m[i].deflate ? raw_deflate(&m[i].npy) : m[i].npy;
        uint32_t crc = (uint32_t)crc32(0, m[i].npy.data, (uInt)m[i].npy.size);
        uint32_t offset = (uint32_t)z.size, method = m[i].deflate ? 8 : 0;
        put32(&z, 0x04034b50), put16(&z, 20), put16(&z, 0), put16(&z, method);
        put32(&z, 0), put32(&z, crc), put32(&z, (uint32_t)packed.size);
        put32(&z, (uint32_t)m[i].npy.size), put16(&z, (uint32_t)strlen(name)), put16(&z, 0);
        put(&z, name, strlen(name));
        put(&z, packed.data, packed.size);
        put32(&central, 0x02014b50), put16(&central, 20), put16(&central, 20);
        put16(&central, 0), put16(&central, method), put32(&central, 0), put32(&central, crc);
        put32(&central, (uint32_t)packed.size), put32(&central, (uint32_t)m[i].npy.size);
        put16(&central, (uint32_t)strlen(name)), put16(&central, 0), put16(&central, 0);
        put16(&central, 0), put16(&central, 0), put32(&central, 0), put32(&central, offset);
        put(&central, name, strlen(name));
        if (m[i].deflate)
            free(packed.data);
    }
    uint32_t directory = (uint32_t)z.size;
    put(&z, central.data, central.size);
    put32(&z, 0x06054b50), put16(&z, 0), put16(&z, 0), put16(&z, (uint32_t)count);
    put16(&z, (uint32_t)count), put32(&z, (uint32_t)central.size), put32(&z, directory);
    put16(&z, 0);
    free(central.data);
    return z;
}

static void free_members(member *m, int count)
{
    for (int i = 0; i < count; i++)
        free(m[i].npy.data);
}

/* ------------------------------------------------------------------ */
/* Keras's math in double                                              */
/* ------------------------------------------------------------------ */

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* One Keras layer over x [T, I] (batch 1): kernel [I, G*H], recurrent
 * [H, G*H], bias (LSTM [4H]; GRU reset_after [2, 3H]). Writes y [T, H]. */
static void keras_layer(int lstm, int T, int I, int H, const float *kernel,
                        const float *recurrent, const float *bias, const double *x, double *y)
{
    int G = lstm ? 4 : 3;
    double *h = calloc((size_t)H, sizeof(double)), *c = calloc((size_t)H, sizeof(double));
    double *gx = malloc((size_t)G * H * sizeof(double)), *gh = malloc((size_t)G * H * sizeof(double));
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < G * H; k++) {
            gx[k] = bias ? bias[k] : 0;
            gh[k] = bias && !lstm ? bias[G * H + k] : 0;
            for (int i = 0; i < I; i++)
                gx[k] += x[(size_t)t * I + i] * kernel[(size_t)i * G * H + k];
            for (int j = 0; j < H; j++)
                gh[k] += h[j] * recurrent[(size_t)j * G * H + k];
        }
        for (int j = 0; j < H; j++) {
            if (lstm) {
                double i_ = sigmoid(gx[j] + gh[j]), f = sigmoid(gx[H + j] + gh[H + j]);
                double g = tanh(gx[2 * H + j] + gh[2 * H + j]);
                double o = sigmoid(gx[3 * H + j] + gh[3 * H + j]);
                c[j] = f * c[j] + i_ * g;
                y[(size_t)t * H + j] = o * tanh(c[j]);
            } else {
                double z = sigmoid(gx[j] + gh[j]), r = sigmoid(gx[H + j] + gh[H + j]);
                double hh = tanh(gx[2 * H + j] + r * gh[2 * H + j]);
                y[(size_t)t * H + j] = z * h[j] + (1 - z) * hh;
            }
        }
        for (int j = 0; j < H; j++)
            h[j] = y[(size_t)t * H + j];
    }
    free(h), free(c), free(gx), free(gh);
}

static void fill(float *v, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 8) % 2001) / 1000.0f - 1.0f;
    }
}

/* Runs the stack on x [T, 1, I] and compares with the double reference y [T, Hout]. */
static void check_forward(recur_rnn *rnn, int T, const double *x, const double *y, size_t width)
{
    const recur_rnn_config *c = recur_rnn_get_config(rnn);
    float *xf = malloc((size_t)T * c->input_size * sizeof(float));
    float *out = malloc(recur_rnn_output_numel(rnn, T, 1) * sizeof(float));
    for (size_t i = 0; i < (size_t)T * c->input_size; i++)
        xf[i] = (float)x[i];
    recur_rnn_forward_args a = {.seq_len = T, .batch = 1, .input = xf, .output = out};
    CHECK_OK(recur_rnn_forward(rnn, &a));
    double worst = 0;
    for (size_t i = 0; i < (size_t)T * width; i++)
        worst = fmax(worst, fabs(out[i] - y[i]));
    CHECK(worst < 1e-5);
    if (worst >= 1e-5)
        fprintf(stderr, "forward differs from Keras's math by %g\n", worst);
    free(xf), free(out);
}

/* ------------------------------------------------------------------ */
/* Cases                                                               */
/* ------------------------------------------------------------------ */

enum { T_STEPS = 5, IN = 3, HID = 4 };

/* Two stacked LSTM layers named lstm/..., lstm_1/... (stored, float32). */
static void test_lstm_two_layers(void)
{
    float k0[IN * 4 * HID], r0[HID * 4 * HID], b0[4 * HID];
    float k1[HID * 4 * HID], r1[HID * 4 * HID], b1[4 * HID];
    fill(k0, sizeof k0 / 4, 1), fill(r0, sizeof r0 / 4, 2), fill(b0, sizeof b0 / 4, 3);
    fill(k1, sizeof k1 / 4, 4), fill(r1, sizeof r1 / 4, 5), fill(b1, sizeof b1 / 4, 6);
    int64_t sk0[2] = {IN, 4 * HID}, sr[2] = {HID, 4 * HID}, sb[1] = {4 * HID};
    int64_t sk1[2] = {HID, 4 * HID};
    /* listed out of order on purpose, with TF's ":0" and cell scopes */
    member m[6] = {{"lstm_1/lstm_cell_1/kernel:0", npy_f32(2, sk1, k1), 0},
                   {"lstm_1/lstm_cell_1/recurrent_kernel:0", npy_f32(2, sr, r1), 0},
                   {"lstm_1/lstm_cell_1/bias:0", npy_f32(1, sb, b1), 0},
                   {"lstm/lstm_cell/kernel:0", npy_f32(2, sk0, k0), 0},
                   {"lstm/lstm_cell/recurrent_kernel:0", npy_f32(2, sr, r0), 0},
                   {"lstm/lstm_cell/bias:0", npy_f32(1, sb, b0), 0}};
    bytes z = zip_of(m, 6);
    recur_keras_options o = recur_keras_options_default(RECUR_LSTM);
    recur_rnn *rnn = NULL;
    CHECK_OK(recur_keras_import_memory(z.data, z.size, "two.npz", &o, &rnn));
    if (rnn) {
        const recur_rnn_config *c = recur_rnn_get_config(rnn);
        CHECK(c->num_layers == 2 && c->input_size == IN && c->hidden_size == HID &&
              !c->bidirectional && c->bias);
        recur_param p;
        CHECK_OK(recur_rnn_find_param(rnn, "weight_ih_l0", &p));
        CHECK(p.value[1 * IN + 2] == k0[2 * 4 * HID + 1]); /* W_ih[1, 2] = kernel[2, 1] */
        CHECK_OK(recur_rnn_find_param(rnn, "bias_hh_l1", &p));
        CHECK(p.value[0] == 0.0f && p.value[4 * HID - 1] == 0.0f);
        double x[T_STEPS * IN], y0[T_STEPS * HID], y1[T_STEPS * HID];
        for (int i = 0; i < T_STEPS * IN; i++)
            x[i] = sin(i * 0.7);
        keras_layer(1, T_STEPS, IN, HID, k0, r0, b0, x, y0);
        keras_layer(1, T_STEPS, HID, HID, k1, r1, b1, y0, y1);
        check_forward(rnn, T_STEPS, x, y1, HID);
        recur_rnn_free(rnn);
    }
    free(z.data);
    free_members(m, 6);
}

/* One GRU layer, reset_after: deflated float64 members named kernel, ... */
static void test_gru_reset_after(void)
{
    float k[IN * 3 * HID], r[HID * 3 * HID], b[2 * 3 * HID];
    fill(k, sizeof k / 4, 7), fill(r, sizeof r / 4, 8), fill(b, sizeof b / 4, 9);
    int64_t sk[2] = {IN, 3 * HID}, sr[2] = {HID, 3 * HID}, sb[2] = {2, 3 * HID};
    member m[3] = {{"kernel", npy_f64(2, sk, k), 1},
                   {"recurrent_kernel", npy_f64(2, sr, r), 1},
                   {"bias", npy_f64(2, sb, b), 1}};
    bytes z = zip_of(m, 3);
    char path[1024];
    snprintf(path, sizeof path, "%s/import_gru.npz", scratch);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(z.data, 1, z.size, f) == z.size);
    if (f)
        fclose(f);
    recur_keras_options o = recur_keras_options_default(RECUR_GRU);
    recur_rnn *rnn = NULL;
    CHECK_OK(recur_keras_import(path, &o, &rnn));
    if (rnn) {
        recur_param p;
        CHECK_OK(recur_rnn_find_param(rnn, "weight_ih_l0", &p));
        /* PyTorch's r block (rows 0..H) is Keras's second block */
        CHECK(p.value[0 * IN + 1] == k[1 * 3 * HID + HID + 0]);
        CHECK(p.value[(size_t)HID * IN + 1] == k[1 * 3 * HID + 0]);
        CHECK_OK(recur_rnn_find_param(rnn, "bias_hh_l0", &p));
        CHECK(p.value[2 * HID] == b[3 * HID + 2 * HID]);
        double x[T_STEPS * IN], y[T_STEPS * HID];
        for (int i = 0; i < T_STEPS * IN; i++)
            x[i] = cos(i * 0.3);
        keras_layer(0, T_STEPS, IN, HID, k, r, b, x, y);
        check_forward(rnn, T_STEPS, x, y, HID);
        recur_rnn_free(rnn);
    }
    /* the same archive as reset_after=False: a clear refusal */
    o.reset_after = 0;
    CHECK_STATUS(recur_keras_import(path, &o, &rnn), RECUR_E_SHAPE);
    CHECK(strstr(recur_last_error(), "reset_after=True") != NULL);
    free(z.data);
    free_members(m, 3);
}

/* GRU reset_after=False: refused, unless the candidate's recurrent kernel is 0. */
static void test_gru_reset_before(void)
{
    float k[IN * 3 * HID], r[HID * 3 * HID], b[3 * HID];
    fill(k, sizeof k / 4, 10), fill(r, sizeof r / 4, 11), fill(b, sizeof b / 4, 12);
    int64_t sk[2] = {IN, 3 * HID}, sr[2] = {HID, 3 * HID}, sb[1] = {3 * HID};
    recur_keras_options o = recur_keras_options_default(RECUR_GRU);
    o.reset_after = 0;
    for (int zero = 0; zero < 2; zero++) {
        if (zero)
            for (int j = 0; j < HID; j++)
                memset(r + (size_t)j * 3 * HID + 2 * HID, 0, HID * sizeof(float));
        member m[3] = {{"gru/kernel", npy_f32(2, sk, k), 0},
                       {"gru/recurrent_kernel", npy_f32(2, sr, r), 1},
                       {"gru/bias", npy_f32(1, sb, b), 0}};
        bytes z = zip_of(m, 3);
        recur_rnn *rnn = NULL;
        recur_status st = recur_keras_import_memory(z.data, z.size, "gru.npz", &o, &rnn);
        if (!zero) {
            CHECK(st == RECUR_E_INVALID && strstr(recur_last_error(), "reset_after=False"));
        } else {
            CHECK_OK(st);
            /* Keras: candidate tanh(x W_h + b_h + (r*h) 0); bias [3H] as the input bias */
            float b2[6 * HID] = {0};
            memcpy(b2, b, sizeof b);
            double x[T_STEPS * IN], y[T_STEPS * HID];
            for (int i = 0; i < T_STEPS * IN; i++)
                x[i] = sin(i * 1.3);
            keras_layer(0, T_STEPS, IN, HID, k, r, b2, x, y);
            if (rnn)
                check_forward(rnn, T_STEPS, x, y, HID);
        }
        recur_rnn_free(rnn);
        free(z.data);
        free_members(m, 3);
    }
}

/* Keras's Bidirectional names, without bias, from a safetensors file. */
static void test_bidirectional_safetensors(void)
{
    float k[IN * 4 * HID], r[HID * 4 * HID], kb[IN * 4 * HID], rb[HID * 4 * HID];
    fill(k, sizeof k / 4, 13), fill(r, sizeof r / 4, 14);
    fill(kb, sizeof kb / 4, 15), fill(rb, sizeof rb / 4, 16);
    int64_t sk[2] = {IN, 4 * HID}, sr[2] = {HID, 4 * HID};
    recur_st_writer *w;
    CHECK_OK(recur_st_writer_create(&w));
    recur_st_writer_add(w, "bidirectional/forward_lstm/lstm_cell_1/kernel:0", RECUR_F32, 2, sk, k);
    recur_st_writer_add(w, "bidirectional/forward_lstm/lstm_cell_1/recurrent_kernel:0", RECUR_F32,
                        2, sr, r);
    recur_st_writer_add(w, "bidirectional/backward_lstm/lstm_cell_2/kernel:0", RECUR_F32, 2, sk,
                        kb);
    recur_st_writer_add(w, "bidirectional/backward_lstm/lstm_cell_2/recurrent_kernel:0",
                        RECUR_F32, 2, sr, rb);
    char path[1024];
    snprintf(path, sizeof path, "%s/import_bidir.safetensors", scratch);
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);
    recur_keras_options o = recur_keras_options_default(RECUR_LSTM);
    recur_rnn *rnn = NULL;
    CHECK_OK(recur_keras_import(path, &o, &rnn));
    if (rnn) {
        const recur_rnn_config *c = recur_rnn_get_config(rnn);
        CHECK(c->bidirectional && c->num_layers == 1 && !c->bias);
        recur_param p;
        CHECK_OK(recur_rnn_find_param(rnn, "weight_hh_l0_reverse", &p));
        CHECK(p.value[2 * HID + 1] == rb[1 * 4 * HID + 2]);
        /* forward half of the output = a forward Keras layer */
        double x[T_STEPS * IN], y[T_STEPS * HID];
        for (int i = 0; i < T_STEPS * IN; i++)
            x[i] = sin(i * 0.4);
        keras_layer(1, T_STEPS, IN, HID, k, r, NULL, x, y);
        float xf[T_STEPS * IN], out[T_STEPS * 2 * HID];
        for (int i = 0; i < T_STEPS * IN; i++)
            xf[i] = (float)x[i];
        recur_rnn_forward_args a = {.seq_len = T_STEPS, .batch = 1, .input = xf, .output = out};
        CHECK_OK(recur_rnn_forward(rnn, &a));
        double worst = 0;
        for (int t = 0; t < T_STEPS; t++)
            for (int j = 0; j < HID; j++)
                worst = fmax(worst, fabs(out[t * 2 * HID + j] - y[t * HID + j]));
        CHECK(worst < 1e-5);
        recur_rnn_free(rnn);
    }
}

/* layers.N. names sort as numbers; bad names and shapes are refused. */
static void test_names(void)
{
    enum { L = 11 };
    float k[HID * 4 * HID], r[HID * 4 * HID];
    fill(k, sizeof k / 4, 17), fill(r, sizeof r / 4, 18);
    int64_t sk[2] = {HID, 4 * HID}, sr[2] = {HID, 4 * HID};
    member m[2 * L];
    char names[2 * L][48];
    for (int l = 0; l < L; l++) {
        snprintf(names[2 * l], sizeof names[0], "layers.%d.kernel", l);
        snprintf(names[2 * l + 1], sizeof names[0], "layers.%d.recurrent_kernel", l);
        k[0] = (float)l; /* tags the layer */
        m[2 * l] = (member){names[2 * l], npy_f32(2, sk, k), l % 2};
        m[2 * l + 1] = (member){names[2 * l + 1], npy_f32(2, sr, r), 0};
    }
    bytes z = zip_of(m, 2 * L);
    recur_keras_options o = recur_keras_options_default(RECUR_LSTM);
    recur_rnn *rnn = NULL;
    CHECK_OK(recur_keras_import_memory(z.data, z.size, "layers.npz", &o, &rnn));
    if (rnn) {
        CHECK(recur_rnn_get_config(rnn)->num_layers == L);
        for (int l = 0; l < L; l++) {
            char name[32];
            recur_param p;
            snprintf(name, sizeof name, "weight_ih_l%d", l);
            CHECK_OK(recur_rnn_find_param(rnn, name, &p));
            CHECK(p.value[0] == (float)l);
        }
        recur_rnn_free(rnn);
    }
    free(z.data);
    free_members(m, 2 * L);

    /* an unknown tensor; a missing recurrent kernel; LSTM weights read as GRU */
    int64_t s1[1] = {4};
    float four[4] = {0};
    member bad[2] = {{"kernel", npy_f32(2, sk, k), 0}, {"gamma", npy_f32(1, s1, four), 0}};
    z = zip_of(bad, 2);
    CHECK_STATUS(recur_keras_import_memory(z.data, z.size, "a.npz", &o, &rnn), RECUR_E_FORMAT);
    CHECK(strstr(recur_last_error(), "gamma") != NULL);
    free(z.data);
    z = zip_of(bad, 1);
    CHECK_STATUS(recur_keras_import_memory(z.data, z.size, "b.npz", &o, &rnn), RECUR_E_SHAPE);
    CHECK(strstr(recur_last_error(), "recurrent_kernel") != NULL);
    free(z.data);
    free_members(bad, 2);
    member lstm[2] = {{"kernel", npy_f32(2, sk, k), 0}, {"recurrent_kernel", npy_f32(2, sr, r), 0}};
    z = zip_of(lstm, 2);
    recur_keras_options g = recur_keras_options_default(RECUR_GRU);
    CHECK_STATUS(recur_keras_import_memory(z.data, z.size, "c.npz", &g, &rnn), RECUR_E_SHAPE);
    CHECK(rnn == NULL);
    free(z.data);
    free_members(lstm, 2);
}

/* ------------------------------------------------------------------ */
/* Hostile archives                                                    */
/* ------------------------------------------------------------------ */

static recur_status open_npz(const bytes *z)
{
    recur_npz *npz = NULL;
    recur_status st = recur_npz_open_memory(z->data, z->size, "hostile.npz", &npz);
    CHECK((st == RECUR_OK) == (npz != NULL));
    if (st != RECUR_OK && strchr(recur_last_error(), '\n'))
        CHECK(!"multi-line message");
    recur_npz_close(npz);
    return st;
}

/* An archive of one member with this header dict and data. */
static recur_status open_dict(const char *dict, size_t nbytes, int deflate)
{
    unsigned char *data = calloc(nbytes ? nbytes : 1, 1);
    member m = {"x", npy_raw(dict, data, nbytes), deflate};
    bytes z = zip_of(&m, 1);
    recur_status st = open_npz(&z);
    free(z.data), free(m.npy.data), free(data);
    return st;
}

static void test_hostile(void)
{
    float v[12];
    fill(v, 12, 19);
    int64_t s[2] = {3, 4};
    member m[2] = {{"a", npy_f32(2, s, v), 0}, {"b", npy_f32(2, s, v), 1}};
    bytes z = zip_of(m, 2);
    CHECK_OK(open_npz(&z));
    recur_npz *npz = NULL;
    CHECK_OK(recur_npz_open_memory(z.data, z.size, "ok.npz", &npz));
    if (npz) {
        CHECK(recur_npz_count(npz) == 2 && !strcmp(recur_npz_tensor(npz, 1)->name, "b"));
        float back[12];
        CHECK_OK(recur_tensor_to_f32(recur_npz_tensor(npz, 1), back, 12));
        CHECK(!memcmp(back, v, sizeof v));
        recur_npz_close(npz);
    }
    /* every truncation fails cleanly */
    int truncated_ok = 0;
    for (size_t n = 0; n < z.size; n++) {
        bytes cut = {z.data, n, n};
        if (open_npz(&cut) == RECUR_OK)
            truncated_ok++;
    }
    CHECK(truncated_ok == 0);
    /* every single byte flipped: no crash (a CRC or format error, or a harmless change) */
    for (size_t i = 0; i < z.size; i++) {
        z.data[i] ^= 0x5a;
        open_npz(&z);
        z.data[i] ^= 0x5a;
    }
    /* a data byte flipped in the stored member: CRC */
    size_t data_at = 30 + 5 + 80; /* local header, "a.npy", 64-byte header, 16 bytes in */
    z.data[data_at] ^= 1;
    CHECK_STATUS(open_npz(&z), RECUR_E_FORMAT);
    CHECK(strstr(recur_last_error(), "CRC") != NULL);
    z.data[data_at] ^= 1;
    /* a deflated member declaring a huge size */
    size_t central = z.size - 22 - (46 + 5) * 2;
    size_t second = central + 46 + 5;
    unsigned char saved[4];
    memcpy(saved, z.data + second + 24, 4);
    memset(z.data + second + 24, 0xfe, 4);
    CHECK_STATUS(open_npz(&z), RECUR_E_FORMAT);
    CHECK(strstr(recur_last_error(), "impossible") != NULL);
    memcpy(z.data + second + 24, saved, 4);
    /* unknown compression method; encryption; local header offset out of range */
    z.data[second + 10] = 12;
    CHECK_STATUS(open_npz(&z), RECUR_E_FORMAT);
    z.data[second + 10] = 8;
    z.data[second + 8] = 1;
    CHECK_STATUS(open_npz(&z), RECUR_E_FORMAT);
    z.data[second + 8] = 0;
    memcpy(saved, z.data + second + 42, 4);
    memset(z.data + second + 42, 0x7f, 4);
    CHECK_STATUS(open_npz(&z), RECUR_E_FORMAT);
    memcpy(z.data + second + 42, saved, 4);
    /* the end record pointing past itself */
    z.data[z.size - 6] ^= 0x40;
    CHECK_STATUS(open_npz(&z), RECUR_E_FORMAT);
    z.data[z.size - 6] ^= 0x40;
    CHECK_OK(open_npz(&z));
    free(z.data);
    free_members(m, 2);

    /* duplicate names, a member that is not .npy, not a zip */
    member dup[2] = {{"a", npy_f32(2, s, v), 0}, {"a", npy_f32(2, s, v), 1}};
    z = zip_of(dup, 2);
    CHECK_STATUS(open_npz(&z), RECUR_E_FORMAT);
    CHECK(strstr(recur_last_error(), "twice") != NULL);
    memcpy(z.data + z.size - 22 - 46 - 5 + 46 + 2, "txt", 3); /* the second central name a.npy -> a.txt */
    CHECK_STATUS(open_npz(&z), RECUR_E_FORMAT);
    free(z.data);
    free_members(dup, 2);
    bytes junk = {(unsigned char *)"PK\3\4 not really a zip file at all", 34, 34};
    CHECK_STATUS(open_npz(&junk), RECUR_E_FORMAT);

    /* headers */
    CHECK_OK(open_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 12, 0));
    CHECK_OK(open_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 8, 1));
    CHECK_OK(open_dict("{\"shape\": (2, 0), \"fortran_order\": False, \"descr\": \"<f4\"}", 0, 0));
    const char *bad[] = {
        "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
        "{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }",
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",          /* 16 != 12 bytes */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }",
        "{'descr': '<f4', 'fortran_order': False, }",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,) junk",
        "['descr', '<f4']",
        "{'descr': '<f4\\'', 'fortran_order': False, 'shape': (3,), }",
        "{'descr': '<f4",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        recur_status st = open_dict(bad[i], 12, (int)(i % 2));
        CHECK(st == RECUR_E_FORMAT);
        if (st != RECUR_E_FORMAT)
            fprintf(stderr, "accepted bad header %s\n", bad[i]);
    }
    /* Fortran order is converted: [[0, 1, 2], [3, 4, 5]] stored column by column */
    float column_major[6] = {0, 3, 1, 4, 2, 5};
    member fm = {"f", npy_raw("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                              column_major, sizeof column_major), 1};
    z = zip_of(&fm, 1);
    CHECK_OK(recur_npz_open_memory(z.data, z.size, "fortran.npz", &npz));
    if (npz) {
        float c_order[6];
        CHECK_OK(recur_tensor_to_f32(recur_npz_tensor(npz, 0), c_order, 6));
        for (int i = 0; i < 6; i++)
            CHECK(c_order[i] == (float)i);
        recur_npz_close(npz);
    }
    free(z.data), free(fm.npy.data);
    /* a header length beyond the member */
    member m1 = {"x", npy_f32(2, s, v), 0};
    m1.npy.data[8] = 0xff, m1.npy.data[9] = 0x7f;
    z = zip_of(&m1, 1);
    CHECK_STATUS(open_npz(&z), RECUR_E_FORMAT);
    free(z.data);
    m1.npy.data[0] = 'X'; /* bad magic */
    z = zip_of(&m1, 1);
    CHECK_STATUS(open_npz(&z), RECUR_E_FORMAT);
    free(z.data);
    free(m1.npy.data);
    /* neither zip nor safetensors */
    recur_keras_options o = recur_keras_options_default(RECUR_LSTM);
    recur_rnn *rnn = NULL;
    CHECK_STATUS(recur_keras_import_memory("hello", 5, "junk", &o, &rnn), RECUR_E_FORMAT);
    char path[1024];
    snprintf(path, sizeof path, "%s/import_missing.npz", scratch);
    remove(path);
    CHECK_STATUS(recur_keras_import(path, &o, &rnn), RECUR_E_IO);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        scratch = argv[1];
    test_lstm_two_layers();
    test_gru_reset_after();
    test_gru_reset_before();
    test_bidirectional_safetensors();
    test_names();
    test_hostile();
    return test_finish("test_import");
}
