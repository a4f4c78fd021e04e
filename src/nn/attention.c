/* Attention over a sequence: additive (Bahdanau), dot and general (Luong),
 * single-head scaled dot-product with projections; forward and backward.
 *
 * Every kind is "features of the queries (qf) against features of the keys
 * (kf), a masked softmax, a weighted sum of value features (vf)":
 *   DOT         qf = queries, kf = keys, vf = values
 *   GENERAL     qf = queries, kf = keys W^T, vf = values
 *   SCALED_DOT  qf, kf, vf = the three projections, scores scaled by 1/sqrt(d)
 *   ADDITIVE    qf = queries W_q^T + b, kf = keys W_k^T, vf = values; the
 *               scores are v . tanh(qf + kf) instead of qf . kf
 * Keys and values are time-major, so sequence b's rows are a strided matrix
 * (row stride B*D) that the GEMMs take as is, cut to its first lengths[b]
 * rows: padded positions are never part of a product. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"

enum { P_QW, P_QB, P_KW, P_KB, P_VW, P_VB, P_V, P_SLOTS };

static const char *const slot_names[P_SLOTS] = {"query.weight", "query.bias", "key.weight",
                                                "key.bias",     "value.weight", "value.bias",
                                                "v.weight"};

typedef struct attn_slot {
    int present;
    int rows, cols; /* cols 0: a bias [rows] */
    int fan_in;
    size_t offset;
} attn_slot;

struct recur_attention {
    recur_attention_config cfg;
    int dout;
    attn_slot slots[P_SLOTS];
    int order[P_SLOTS], count; /* present slots in parameter order */
    size_t total;
    float *values, *grads;
    /* The last forward (B = 0: none). */
    int B, Q, T;
    int *len;     /* [B] */
    int len_capacity;
    recur_buffer q, k, v;      /* input copies, padded rows zero */
    recur_buffer qf, kf, vf;   /* projections, where the kind has them */
    recur_buffer energy;       /* ADDITIVE: tanh(qf + kf) [B, Q, T, H] */
    recur_buffer w;            /* weights [B, Q, T] */
    /* Backward scratch. */
    recur_buffer dw, dqf, dkf, dvf, ones;
};

static float *param_value(const recur_attention *a, int slot)
{
    return a->slots[slot].present ? a->values + a->slots[slot].offset : NULL;
}

static float *param_grad(const recur_attention *a, int slot)
{
    return a->slots[slot].present ? a->grads + a->slots[slot].offset : NULL;
}

static void add_slot(recur_attention *a, int slot, int rows, int cols, int fan_in)
{
    a->slots[slot] = (attn_slot){1, rows, cols, fan_in, a->total};
    a->order[a->count++] = slot;
    a->total += (size_t)rows * (size_t)(cols ? cols : 1);
}

recur_status recur_attention_create(const recur_attention_config *c, uint64_t seed,
                                    recur_attention **out)
{
    if (!out || !c)
        return recur_fail(RECUR_E_INVALID, "attention: NULL argument");
    *out = NULL;
    const int limit = 1 << 24;
    if (c->query_size < 1 || c->key_size < 1 || c->value_size < 1 || c->query_size > limit ||
        c->key_size > limit || c->value_size > limit)
        return recur_fail(RECUR_E_INVALID,
                          "attention: query/key/value sizes %d, %d, %d must be in 1..2^24",
                          c->query_size, c->key_size, c->value_size);
    if (c->bias != 0 && c->bias != 1)
        return recur_fail(RECUR_E_INVALID, "attention: bias must be 0 or 1, not %d", c->bias);
    switch (c->kind) {
    case RECUR_ATTN_ADDITIVE:
    case RECUR_ATTN_SCALED_DOT:
        if (c->hidden_size < 1 || c->hidden_size > limit)
            return recur_fail(RECUR_E_INVALID, "attention: hidden_size %d must be in 1..2^24",
                              c->hidden_size);
        break;
    case RECUR_ATTN_DOT:
    case RECUR_ATTN_GENERAL:
        if (c->kind == RECUR_ATTN_DOT && c->query_size != c->key_size)
            return recur_fail(RECUR_E_INVALID,
                              "attention: dot scores need query_size == key_size (%d != %d)",
                              c->query_size, c->key_size);
        if (c->hidden_size != 0 || c->bias != 0)
            return recur_fail(RECUR_E_INVALID,
                              "attention: dot and general take no hidden_size or bias");
        break;
    default:
        return recur_fail(RECUR_E_INVALID, "attention: unknown kind %d", (int)c->kind);
    }
    recur_attention *a = calloc(1, sizeof *a);
    if (!a)
        return recur_fail(RECUR_E_NOMEM, "attention: out of memory");
    a->cfg = *c;
    const int H = c->hidden_size;
    a->dout = c->kind == RECUR_ATTN_SCALED_DOT ? H : c->value_size;
    switch (c->kind) {
    case RECUR_ATTN_ADDITIVE:
        add_slot(a, P_QW, H, c->query_size, c->query_size);
        if (c->bias)
            add_slot(a, P_QB, H, 0, c->query_size);
        add_slot(a, P_KW, H, c->key_size, c->key_size);
        add_slot(a, P_V, 1, H, H);
        break;
    case RECUR_ATTN_GENERAL:
        add_slot(a, P_KW, c->query_size, c->key_size, c->key_size);
        break;
    case RECUR_ATTN_SCALED_DOT:
        add_slot(a, P_QW, H, c->query_size, c->query_size);
        if (c->bias)
            add_slot(a, P_QB, H, 0, c->query_size);
        add_slot(a, P_KW, H, c->key_size, c->key_size);
        if (c->bias)
            add_slot(a, P_KB, H, 0, c->key_size);
        add_slot(a, P_VW, H, c->value_size, c->value_size);
        if (c->bias)
            add_slot(a, P_VB, H, 0, c->value_size);
        break;
    default:
        break;
    }
    a->values = recur_alloc_floats(a->total);
    a->grads = recur_alloc_floats(a->total);
    if (!a->values || !a->grads) {
        size_t total = a->total;
        recur_attention_free(a);
        return recur_fail(RECUR_E_NOMEM, "attention: out of memory for %zu parameters", total);
    }
    recur_rng rng;
    recur_rng_seed(&rng, seed);
    for (int i = 0; i < a->count; i++) {
        const attn_slot *s = &a->slots[a->order[i]];
        const float bound = 1.0f / sqrtf((float)s->fan_in);
        size_t n = (size_t)s->rows * (size_t)(s->cols ? s->cols : 1);
        for (size_t j = 0; j < n; j++)
            a->values[s->offset + j] = recur_rng_uniform(&rng, -bound, bound);
    }
    *out = a;
    return RECUR_OK;
}

void recur_attention_free(recur_attention *a)
{
    if (!a)
        return;
    free(a->values);
    free(a->grads);
    free(a->len);
    recur_buffer *buffers[] = {&a->q,  &a->k,   &a->v,   &a->qf,  &a->kf,  &a->vf,  &a->energy,
                               &a->w,  &a->dw,  &a->dqf, &a->dkf, &a->dvf, &a->ones};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
        recur_buffer_release(buffers[i]);
    free(a);
}

const recur_attention_config *recur_attention_get_config(const recur_attention *a)
{
    return &a->cfg;
}

int recur_attention_output_size(const recur_attention *a) { return a->dout; }

int recur_attention_param_count(const recur_attention *a) { return a->count; }

recur_status recur_attention_param(const recur_attention *a, int index, recur_param *p)
{
    if (!a || !p)
        return recur_fail(RECUR_E_INVALID, "attention: NULL argument");
    memset(p, 0, sizeof *p);
    if (index < 0 || index >= a->count)
        return recur_fail(RECUR_E_INVALID, "attention: no parameter %d (it has %d)", index,
                          a->count);
    const int slot = a->order[index];
    const attn_slot *s = &a->slots[slot];
    p->name = slot_names[slot];
    p->ndim = s->cols ? 2 : 1;
    p->shape[0] = s->rows;
    p->shape[1] = s->cols;
    p->numel = (size_t)s->rows * (size_t)(s->cols ? s->cols : 1);
    p->value = a->values + s->offset;
    p->grad = a->grads + s->offset;
    return RECUR_OK;
}

recur_status recur_attention_find_param(const recur_attention *a, const char *name,
                                        recur_param *p)
{
    if (!a || !name || !p)
        return recur_fail(RECUR_E_INVALID, "attention: NULL argument");
    for (int i = 0; i < a->count; i++)
        if (!strcmp(slot_names[a->order[i]], name))
            return recur_attention_param(a, i, p);
    return recur_fail(RECUR_E_SHAPE, "attention: no parameter named \"%s\"", name);
}

void recur_attention_zero_grad(recur_attention *a)
{
    memset(a->grads, 0, sizeof(float) * a->total);
}

/* ---- helpers ---- */

/* y [rows, out] = x [rows, in] W^T + b (b may be NULL). */
static void project(int rows, int in, int outn, const float *x, const float *W, const float *b,
                    float *y)
{
    for (int r = 0; r < rows; r++) {
        float *row = y + (size_t)r * outn;
        if (b)
            memcpy(row, b, sizeof(float) * (size_t)outn);
        else
            memset(row, 0, sizeof(float) * (size_t)outn);
    }
    recur_gemm(0, 1, rows, outn, in, 1.0f, x, in, W, in, 1.0f, y, outn);
}

static recur_status ensure_ones(recur_attention *a, size_t n)
{
    if (a->ones.capacity >= n)
        return RECUR_OK;
    RECUR_TRY(recur_buffer_reserve(&a->ones, n));
    for (size_t i = 0; i < n; i++)
        a->ones.data[i] = 1.0f;
    return RECUR_OK;
}

/* Backward of project(): gW += dy^T x, gb += column sums of dy, dx = dy W. */
static recur_status project_backward(recur_attention *a, int rows, int in, int outn,
                                     const float *x, const float *W, const float *dy, float *gW,
                                     float *gb, float *dx)
{
    recur_gemm(1, 0, outn, in, rows, 1.0f, dy, outn, x, in, 1.0f, gW, in);
    if (gb) {
        RECUR_TRY(ensure_ones(a, (size_t)rows));
        recur_add_column_sums(rows, outn, dy, outn, a->ones.data, gb);
    }
    if (dx)
        recur_gemm(0, 0, rows, in, outn, 1.0f, dy, outn, W, in, 0.0f, dx, in);
    return RECUR_OK;
}

/* Copies src [T, B, D] with the rows past each length left zero. */
static void copy_valid(int T, int B, int D, const int *len, const float *src, float *dst)
{
    memset(dst, 0, sizeof(float) * (size_t)T * B * D);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            if (t < len[b])
                memcpy(dst + ((size_t)t * B + b) * D, src + ((size_t)t * B + b) * D,
                       sizeof(float) * (size_t)D);
}

/* Zeroes rows t >= len[b] of x [T, B, D]. */
static void zero_padded(int T, int B, int D, const int *len, float *x)
{
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            if (t >= len[b])
                memset(x + ((size_t)t * B + b) * D, 0, sizeof(float) * (size_t)D);
}

static int is_dot_like(const recur_attention *a) { return a->cfg.kind != RECUR_ATTN_ADDITIVE; }

/* Feature size of qf and kf. */
static int score_dim(const recur_attention *a)
{
    switch (a->cfg.kind) {
    case RECUR_ATTN_DOT:
    case RECUR_ATTN_GENERAL:
        return a->cfg.query_size;
    default:
        return a->cfg.hidden_size;
    }
}

/* ---- forward ---- */

recur_status recur_attention_forward(recur_attention *a, const recur_attention_forward_args *args)
{
    if (!a || !args || !args->queries || !args->keys || !args->values || !args->context)
        return recur_fail(RECUR_E_INVALID, "attention forward: NULL argument");
    const int B = args->batch, Q = args->num_queries, T = args->seq_len;
    if (B < 1 || Q < 1 || T < 1)
        return recur_fail(RECUR_E_INVALID,
                          "attention forward: batch %d, num_queries %d, seq_len %d must be >= 1",
                          B, Q, T);
    const recur_attention_config *c = &a->cfg;
    const int Dq = c->query_size, Dk = c->key_size, Dv = c->value_size, H = c->hidden_size;
    const int D = score_dim(a), Do = a->dout;
    int widest = Dq > Dk ? Dq : Dk;
    widest = widest > Dv ? widest : Dv;
    widest = widest > H ? widest : H;
    /* Every row count and row stride handed to the GEMMs must fit an int. */
    const int64_t imax = 2147483647;
    if ((int64_t)T * B * widest > imax || (int64_t)B * Q * widest > imax ||
        (int64_t)B * Q * T > imax ||
        (c->kind == RECUR_ATTN_ADDITIVE && (int64_t)B * Q * T * H > imax))
        return recur_fail(RECUR_E_NOMEM, "attention forward: B %d, Q %d, T %d too large", B, Q,
                          T);
    a->B = 0;
    if (a->len_capacity < B) {
        int *grown = malloc(sizeof(int) * (size_t)B);
        if (!grown)
            return recur_fail(RECUR_E_NOMEM, "attention forward: out of memory");
        free(a->len);
        a->len = grown, a->len_capacity = B;
    }
    for (int b = 0; b < B; b++) {
        int64_t l = args->lengths ? args->lengths[b] : T;
        if (l < 1 || l > T)
            return recur_fail(RECUR_E_INVALID,
                              "attention forward: lengths[%d] = %lld is not in 1..%d", b,
                              (long long)l, T);
        a->len[b] = (int)l;
    }
    const int *len = a->len;
    const size_t nq = (size_t)B * Q, nk = (size_t)T * B, nw = nq * T;
    RECUR_TRY(recur_buffer_reserve(&a->q, nq * Dq));
    RECUR_TRY(recur_buffer_reserve(&a->k, nk * Dk));
    RECUR_TRY(recur_buffer_reserve(&a->v, nk * Dv));
    RECUR_TRY(recur_buffer_reserve(&a->w, nw));
    memcpy(a->q.data, args->queries, sizeof(float) * nq * Dq);
    copy_valid(T, B, Dk, len, args->keys, a->k.data);
    copy_valid(T, B, Dv, len, args->values, a->v.data);

    /* Features. */
    const float *qf = a->q.data, *kf = a->k.data, *vf = a->v.data;
    switch (c->kind) {
    case RECUR_ATTN_GENERAL:
        RECUR_TRY(recur_buffer_reserve(&a->kf, nk * D));
        project((int)nk, Dk, D, a->k.data, param_value(a, P_KW), NULL, a->kf.data);
        kf = a->kf.data;
        break;
    case RECUR_ATTN_SCALED_DOT:
        RECUR_TRY(recur_buffer_reserve(&a->vf, nk * H));
        project((int)nk, Dv, H, a->v.data, param_value(a, P_VW), param_value(a, P_VB),
                a->vf.data);
        vf = a->vf.data;
        /* fall through */
    case RECUR_ATTN_ADDITIVE:
        RECUR_TRY(recur_buffer_reserve(&a->qf, nq * H));
        RECUR_TRY(recur_buffer_reserve(&a->kf, nk * H));
        project((int)nq, Dq, H, a->q.data, param_value(a, P_QW), param_value(a, P_QB),
                a->qf.data);
        project((int)nk, Dk, H, a->k.data, param_value(a, P_KW), param_value(a, P_KB),
                a->kf.data);
        qf = a->qf.data, kf = a->kf.data;
        break;
    default:
        break;
    }

    /* Scores into w [B, Q, T] (only t < len[b] is written). */
    float *w = a->w.data;
    memset(w, 0, sizeof(float) * nw);
    if (is_dot_like(a)) {
        const float scale =
            c->kind == RECUR_ATTN_SCALED_DOT ? 1.0f / sqrtf((float)H) : 1.0f;
        for (int b = 0; b < B; b++)
            recur_gemm(0, 1, Q, len[b], D, scale, qf + (size_t)b * Q * D, D, kf + (size_t)b * D,
                       B * D, 0.0f, w + (size_t)b * Q * T, T);
    } else {
        RECUR_TRY(recur_buffer_reserve(&a->energy, nw * H));
        float *e = a->energy.data;
        memset(e, 0, sizeof(float) * nw * H);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Q; i++) {
                const float *qrow = qf + ((size_t)b * Q + i) * H;
                for (int t = 0; t < len[b]; t++) {
                    const float *krow = kf + ((size_t)t * B + b) * H;
                    float *erow = e + (((size_t)b * Q + i) * T + t) * H;
                    for (int h = 0; h < H; h++)
                        erow[h] = tanhf(qrow[h] + krow[h]);
                }
            }
        /* s [B*Q*T, 1] = E [B*Q*T, H] v^T; padded rows of E are 0. */
        recur_gemm(0, 1, (int)nw, 1, H, 1.0f, e, H, param_value(a, P_V), H, 0.0f, w, 1);
    }

    /* Softmax over the valid steps of each (b, query) row. */
    for (int b = 0; b < B; b++)
        for (int i = 0; i < Q; i++) {
            float *row = w + ((size_t)b * Q + i) * T;
            float m = row[0];
            for (int t = 1; t < len[b]; t++)
                m = row[t] > m ? row[t] : m;
            double sum = 0;
            for (int t = 0; t < len[b]; t++) {
                row[t] = expf(row[t] - m);
                sum += row[t];
            }
            const float inv = (float)(1.0 / sum);
            for (int t = 0; t < len[b]; t++)
                row[t] *= inv;
            for (int t = len[b]; t < T; t++)
                row[t] = 0.0f;
        }

    /* context [Q, Do] of sequence b = w_b [Q, len] vf_b [len, Do]. */
    for (int b = 0; b < B; b++)
        recur_gemm(0, 0, Q, Do, len[b], 1.0f, w + (size_t)b * Q * T, T, vf + (size_t)b * Do,
                   B * Do, 0.0f, args->context + (size_t)b * Q * Do, Do);
    if (args->weights)
        memcpy(args->weights, w, sizeof(float) * nw);
    a->B = B, a->Q = Q, a->T = T;
    return RECUR_OK;
}

/* ---- backward ---- */

recur_status recur_attention_backward(recur_attention *a,
                                      const recur_attention_backward_args *args)
{
    if (!a || !args)
        return recur_fail(RECUR_E_INVALID, "attention backward: NULL argument");
    if (!a->B)
        return recur_fail(RECUR_E_STATE, "attention backward called without a forward pass");
    const recur_attention_config *c = &a->cfg;
    const int B = a->B, Q = a->Q, T = a->T;
    const int Dq = c->query_size, Dk = c->key_size, Dv = c->value_size, H = c->hidden_size;
    const int D = score_dim(a), Do = a->dout;
    const int *len = a->len;
    const size_t nq = (size_t)B * Q, nk = (size_t)T * B, nw = nq * T;
    const float *dc = args->grad_context, *gw = args->grad_weights;
    const float *w = a->w.data;
    const float *qf = a->q.data, *kf = a->k.data, *vf = a->v.data;
    if (c->kind == RECUR_ATTN_GENERAL)
        kf = a->kf.data;
    if (c->kind == RECUR_ATTN_ADDITIVE || c->kind == RECUR_ATTN_SCALED_DOT)
        qf = a->qf.data, kf = a->kf.data;
    if (c->kind == RECUR_ATTN_SCALED_DOT)
        vf = a->vf.data;

    RECUR_TRY(recur_buffer_reserve(&a->dw, nw));
    RECUR_TRY(recur_buffer_reserve(&a->dvf, nk * Do));
    float *ds = a->dw.data, *dvf = a->dvf.data;

    /* d weights = dc vf^T (+ grad_weights); d vf = w^T dc. */
    memset(ds, 0, sizeof(float) * nw);
    memset(dvf, 0, sizeof(float) * nk * Do);
    if (dc)
        for (int b = 0; b < B; b++) {
            const float *dcb = dc + (size_t)b * Q * Do;
            recur_gemm(0, 1, Q, len[b], Do, 1.0f, dcb, Do, vf + (size_t)b * Do, B * Do, 0.0f,
                       ds + (size_t)b * Q * T, T);
            recur_gemm(1, 0, len[b], Do, Q, 1.0f, w + (size_t)b * Q * T, T, dcb, Do, 0.0f,
                       dvf + (size_t)b * Do, B * Do);
        }
    /* Softmax backward, in place: ds = w (dw - sum_t w dw); 0 past the length. */
    for (int b = 0; b < B; b++)
        for (int i = 0; i < Q; i++) {
            const size_t at = ((size_t)b * Q + i) * T;
            float *row = ds + at;
            const float *wrow = w + at;
            if (gw)
                for (int t = 0; t < len[b]; t++)
                    row[t] += gw[at + t];
            double dot = 0;
            for (int t = 0; t < len[b]; t++)
                dot += (double)wrow[t] * row[t];
            for (int t = 0; t < len[b]; t++)
                row[t] = wrow[t] * (row[t] - (float)dot);
            for (int t = len[b]; t < T; t++)
                row[t] = 0.0f;
        }

    /* ds -> d qf [B*Q, D] and d kf [T*B, D]. */
    RECUR_TRY(recur_buffer_reserve(&a->dqf, nq * D));
    RECUR_TRY(recur_buffer_reserve(&a->dkf, nk * D));
    float *dqf = a->dqf.data, *dkf = a->dkf.data;
    memset(dkf, 0, sizeof(float) * nk * D);
    if (is_dot_like(a)) {
        const float scale =
            c->kind == RECUR_ATTN_SCALED_DOT ? 1.0f / sqrtf((float)H) : 1.0f;
        for (int b = 0; b < B; b++) {
            const float *dsb = ds + (size_t)b * Q * T;
            recur_gemm(0, 0, Q, D, len[b], scale, dsb, T, kf + (size_t)b * D, B * D, 0.0f,
                       dqf + (size_t)b * Q * D, D);
            recur_gemm(1, 0, len[b], D, Q, scale, dsb, T, qf + (size_t)b * Q * D, D, 0.0f,
                       dkf + (size_t)b * D, B * D);
        }
    } else {
        /* s = v . E, E = tanh(qf + kf): dv += ds^T E; d pre = ds v (1 - E^2), kept in
         * the energy buffer, summed over t into dqf and over queries into dkf. */
        float *e = a->energy.data;
        const float *v = param_value(a, P_V);
        recur_gemm(1, 0, 1, H, (int)nw, 1.0f, ds, 1, e, H, 1.0f, param_grad(a, P_V), H);
        memset(dqf, 0, sizeof(float) * nq * H);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Q; i++) {
                float *dq = dqf + ((size_t)b * Q + i) * H;
                for (int t = 0; t < len[b]; t++) {
                    const size_t at = ((size_t)b * Q + i) * T + t;
                    float *erow = e + at * H;
                    float *dk = dkf + ((size_t)t * B + b) * H;
                    const float g = ds[at];
                    for (int h = 0; h < H; h++) {
                        const float d = g * v[h] * (1.0f - erow[h] * erow[h]);
                        dq[h] += d;
                        dk[h] += d;
                    }
                }
            }
    }

    /* Back through the projections to the inputs and parameters. */
    switch (c->kind) {
    case RECUR_ATTN_DOT:
        if (args->grad_queries)
            memcpy(args->grad_queries, dqf, sizeof(float) * nq * Dq);
        if (args->grad_keys)
            memcpy(args->grad_keys, dkf, sizeof(float) * nk * Dk);
        break;
    case RECUR_ATTN_GENERAL:
        if (args->grad_queries)
            memcpy(args->grad_queries, dqf, sizeof(float) * nq * Dq);
        RECUR_TRY(project_backward(a, (int)nk, Dk, D, a->k.data, param_value(a, P_KW), dkf,
                                   param_grad(a, P_KW), NULL, args->grad_keys));
        break;
    case RECUR_ATTN_SCALED_DOT:
        RECUR_TRY(project_backward(a, (int)nk, Dv, H, a->v.data, param_value(a, P_VW), dvf,
                                   param_grad(a, P_VW), param_grad(a, P_VB), args->grad_values));
        /* fall through */
    case RECUR_ATTN_ADDITIVE:
        RECUR_TRY(project_backward(a, (int)nq, Dq, H, a->q.data, param_value(a, P_QW), dqf,
                                   param_grad(a, P_QW), param_grad(a, P_QB), args->grad_queries));
        RECUR_TRY(project_backward(a, (int)nk, Dk, H, a->k.data, param_value(a, P_KW), dkf,
                                   param_grad(a, P_KW), param_grad(a, P_KB), args->grad_keys));
        break;
    }
    if (c->kind != RECUR_ATTN_SCALED_DOT && args->grad_values)
        memcpy(args->grad_values, dvf, sizeof(float) * nk * Dv);
    if (args->grad_keys)
        zero_padded(T, B, Dk, len, args->grad_keys);
    if (args->grad_values)
        zero_padded(T, B, Dv, len, args->grad_values);
    return RECUR_OK;
}
