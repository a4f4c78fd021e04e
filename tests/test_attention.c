/* Attention layers: against PyTorch fixtures (tests/fixtures/make_attention_fixtures.py),
 * finite differences of every input and parameter gradient, padding that
 * changes nothing, and argument errors.
 * usage: test_attention FIXTURE_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "test_util.h"

#define OUTPUT_TOLERANCE 1e-4
#define GRAD_TOLERANCE 1e-3
#define FD_TOLERANCE 2e-3

static double worst_output, worst_grad, worst_fd;

static const char *kind_name(recur_attention_kind kind)
{
    static const char *const names[] = {"additive", "dot", "general", "scaled_dot"};
    return names[kind];
}

static float *read_f32(const recur_st_file *f, const char *name, size_t *numel)
{
    const recur_tensor_view *t = recur_st_find(f, name);
    if (!t)
        return NULL;
    float *data = malloc((t->numel + 1) * sizeof(float));
    if (recur_tensor_to_f32(t, data, t->numel) != RECUR_OK) {
        free(data);
        return NULL;
    }
    if (numel)
        *numel = t->numel;
    return data;
}

static void expect_close(const char *c, const recur_st_file *f, const char *name,
                         const float *actual, size_t count, double tolerance, double *worst)
{
    size_t n = 0;
    float *want = read_f32(f, name, &n);
    double err = want && n == count ? test_rel_error(actual, want, n, 1e-6) : INFINITY;
    test_checks++;
    if (err > *worst)
        *worst = err;
    if (!(err <= tolerance)) {
        test_failures++;
        fprintf(stderr, "%s: %s error %.3g\n", c, name, err);
    }
    free(want);
}

static int meta_int(const recur_st_file *f, const char *key)
{
    const char *v = recur_st_metadata(f, key);
    return v ? atoi(v) : -1;
}

static void check_fixture(const char *c, const recur_st_file *f)
{
    const char *kind = recur_st_metadata(f, "kind");
    recur_attention_config cfg = {0};
    for (int i = 0; i < 4; i++)
        if (kind && !strcmp(kind, kind_name((recur_attention_kind)i)))
            cfg.kind = (recur_attention_kind)i;
    cfg.query_size = meta_int(f, "query_size");
    cfg.key_size = meta_int(f, "key_size");
    cfg.value_size = meta_int(f, "value_size");
    cfg.hidden_size = meta_int(f, "hidden_size");
    cfg.bias = meta_int(f, "bias");
    const int Q = meta_int(f, "num_queries");
    const recur_tensor_view *kt = recur_st_find(f, "keys"), *qt = recur_st_find(f, "queries");
    CHECK(kt != NULL && qt != NULL && Q >= 1);
    if (!kt || !qt || Q < 1)
        return;
    const int T = (int)kt->shape[0], B = (int)kt->shape[1];
    CHECK(qt->ndim == (Q == 1 ? 2 : 3)); /* Q = 1 cases store queries as [B, Dq] */
    recur_attention *a = NULL;
    CHECK_OK(recur_attention_create(&cfg, 7, &a));
    if (!a)
        return;
    const int Do = recur_attention_output_size(a);
    for (int i = 0; i < recur_attention_param_count(a); i++) {
        recur_param p;
        CHECK_OK(recur_attention_param(a, i, &p));
        const recur_tensor_view *t = recur_st_find(f, p.name);
        CHECK(t != NULL && t->numel == p.numel);
        if (t && t->numel == p.numel)
            CHECK_OK(recur_tensor_to_f32(t, p.value, p.numel));
    }
    int64_t *lengths = NULL;
    const recur_tensor_view *lt = recur_st_find(f, "lengths");
    if (lt) {
        lengths = malloc(sizeof(int64_t) * (size_t)B);
        CHECK_OK(recur_tensor_to_i64(lt, lengths, (size_t)B));
    }
    float *q = read_f32(f, "queries", NULL), *k = read_f32(f, "keys", NULL),
          *v = read_f32(f, "values", NULL), *gc = read_f32(f, "grad_context", NULL),
          *gw = read_f32(f, "grad_weights", NULL);
    const size_t nq = (size_t)B * Q, nk = (size_t)T * B;
    float *ctx = calloc(nq * Do, sizeof(float)), *w = calloc(nq * T, sizeof(float));
    float *gq = calloc(nq * cfg.query_size, sizeof(float));
    float *gk = calloc(nk * cfg.key_size, sizeof(float));
    float *gv = calloc(nk * cfg.value_size, sizeof(float));
    recur_attention_forward_args fa = {B, Q, T, q, k, v, lengths, ctx, w};
    CHECK_OK(recur_attention_forward(a, &fa));
    recur_attention_zero_grad(a);
    recur_attention_backward_args ba = {gc, gw, gq, gk, gv};
    CHECK_OK(recur_attention_backward(a, &ba));
    expect_close(c, f, "expected.context", ctx, nq * Do, OUTPUT_TOLERANCE, &worst_output);
    expect_close(c, f, "expected.weights", w, nq * T, OUTPUT_TOLERANCE, &worst_output);
    expect_close(c, f, "expected.grad_queries", gq, nq * cfg.query_size, GRAD_TOLERANCE,
                 &worst_grad);
    expect_close(c, f, "expected.grad_keys", gk, nk * cfg.key_size, GRAD_TOLERANCE, &worst_grad);
    expect_close(c, f, "expected.grad_values", gv, nk * cfg.value_size, GRAD_TOLERANCE,
                 &worst_grad);
    for (int i = 0; i < recur_attention_param_count(a); i++) {
        recur_param p;
        char name[128];
        recur_attention_param(a, i, &p);
        snprintf(name, sizeof name, "expected.grad.%s", p.name);
        /* key.bias has a gradient of exactly 0 in exact arithmetic (it adds the same
         * q . b to every score): compare against the parameter's scale instead. */
        if (!strcmp(p.name, "key.bias")) {
            double m = 0;
            for (size_t j = 0; j < p.numel; j++)
                m = fmax(m, fabs(p.grad[j]));
            CHECK(m < 1e-5);
            continue;
        }
        expect_close(c, f, name, p.grad, p.numel, GRAD_TOLERANCE, &worst_grad);
    }
    free(q), free(k), free(v), free(gc), free(gw), free(ctx), free(w), free(gq), free(gk),
        free(gv), free(lengths);
    recur_attention_free(a);
}

/* ---- finite differences ---- */

typedef struct problem {
    recur_attention *a;
    int B, Q, T, Do;
    float *q, *k, *v, *gc, *gw;
    int64_t *lengths;
    float *ctx, *w;
} problem;

static double loss_of(problem *p)
{
    recur_attention_forward_args fa = {p->B,      p->Q,       p->T,   p->q, p->k,
                                       p->v,      p->lengths, p->ctx, p->w};
    if (recur_attention_forward(p->a, &fa) != RECUR_OK)
        return NAN;
    double s = 0;
    for (size_t i = 0; i < (size_t)p->B * p->Q * p->Do; i++)
        s += (double)p->ctx[i] * p->gc[i];
    for (size_t i = 0; i < (size_t)p->B * p->Q * p->T; i++)
        s += (double)p->w[i] * p->gw[i];
    return s;
}

/* Worst |fd - analytic| / max(max |analytic|, 1e-2) over x[n]; `skip` (may be NULL)
 * leaves out the padded positions of a [T, B, D] tensor, whose analytic gradient
 * must then be exactly 0. */
static double fd_compare(problem *p, float *x, const float *analytic, size_t n, int D,
                         const int64_t *lengths)
{
    const float eps = 1e-2f;
    double scale = 1e-2, worst = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(analytic[i]));
    for (size_t i = 0; i < n; i++) {
        if (lengths) {
            size_t row = i / (size_t)D;
            int t = (int)(row / (size_t)p->B), b = (int)(row % (size_t)p->B);
            if (t >= lengths[b]) {
                CHECK(analytic[i] == 0.0f);
                continue;
            }
        }
        const float saved = x[i];
        x[i] = saved + eps;
        double plus = loss_of(p);
        x[i] = saved - eps;
        double minus = loss_of(p);
        x[i] = saved;
        double fd = (plus - minus) / (2.0 * eps);
        worst = fmax(worst, fabs(fd - analytic[i]) / scale);
    }
    return worst;
}

static void fill(recur_rng *rng, float *x, size_t n, float r)
{
    for (size_t i = 0; i < n; i++)
        x[i] = recur_rng_uniform(rng, -r, r);
}

static void gradcheck(recur_attention_kind kind, int bias, int with_lengths, int Q)
{
    const int B = 3, T = 5, Dq = 4, Dk = kind == RECUR_ATTN_DOT ? 4 : 3, Dv = 2;
    recur_attention_config cfg = {kind, Dq, Dk, Dv, 0, 0};
    if (kind == RECUR_ATTN_ADDITIVE || kind == RECUR_ATTN_SCALED_DOT)
        cfg.hidden_size = 6, cfg.bias = bias;
    problem p = {0};
    CHECK_OK(recur_attention_create(&cfg, 11 + (uint64_t)kind, &p.a));
    if (!p.a)
        return;
    p.B = B, p.Q = Q, p.T = T, p.Do = recur_attention_output_size(p.a);
    recur_rng rng;
    recur_rng_seed(&rng, 100 + (uint64_t)kind * 10 + (uint64_t)with_lengths);
    const size_t nq = (size_t)B * Q, nk = (size_t)T * B;
    p.q = malloc(sizeof(float) * nq * Dq), p.k = malloc(sizeof(float) * nk * Dk);
    p.v = malloc(sizeof(float) * nk * Dv), p.gc = malloc(sizeof(float) * nq * p.Do);
    p.gw = malloc(sizeof(float) * nq * T);
    p.ctx = malloc(sizeof(float) * nq * p.Do), p.w = malloc(sizeof(float) * nq * T);
    fill(&rng, p.q, nq * Dq, 1), fill(&rng, p.k, nk * Dk, 1), fill(&rng, p.v, nk * Dv, 1);
    fill(&rng, p.gc, nq * p.Do, 1), fill(&rng, p.gw, nq * T, 1);
    int64_t lengths[3] = {5, 2, 4};
    p.lengths = with_lengths ? lengths : NULL;
    float *gq = malloc(sizeof(float) * nq * Dq), *gk = malloc(sizeof(float) * nk * Dk),
          *gv = malloc(sizeof(float) * nk * Dv);
    loss_of(&p);
    recur_attention_zero_grad(p.a);
    recur_attention_backward_args ba = {p.gc, p.gw, gq, gk, gv};
    CHECK_OK(recur_attention_backward(p.a, &ba));
    double worst = 0;
    worst = fmax(worst, fd_compare(&p, p.q, gq, nq * Dq, Dq, NULL));
    worst = fmax(worst, fd_compare(&p, p.k, gk, nk * Dk, Dk, p.lengths));
    worst = fmax(worst, fd_compare(&p, p.v, gv, nk * Dv, Dv, p.lengths));
    for (int i = 0; i < recur_attention_param_count(p.a); i++) {
        recur_param par;
        CHECK_OK(recur_attention_param(p.a, i, &par));
        float *g = malloc(sizeof(float) * par.numel);
        memcpy(g, par.grad, sizeof(float) * par.numel);
        worst = fmax(worst, fd_compare(&p, par.value, g, par.numel, 1, NULL));
        free(g);
    }
    worst_fd = fmax(worst_fd, worst);
    test_checks++;
    if (!(worst <= FD_TOLERANCE)) {
        test_failures++;
        fprintf(stderr, "gradcheck %s bias %d lengths %d Q %d: error %.3g\n", kind_name(kind),
                bias, with_lengths, Q, worst);
    }
    free(p.q), free(p.k), free(p.v), free(p.gc), free(p.gw), free(p.ctx), free(p.w);
    free(gq), free(gk), free(gv);
    recur_attention_free(p.a);
}

/* ---- padding changes nothing ---- */

typedef struct run_out {
    float ctx[3 * 2 * 6], w[3 * 2 * 5], gq[3 * 2 * 4], gk[5 * 3 * 4], gv[5 * 3 * 2];
    float grads[256];
} run_out;

static void run_once(recur_attention *a, const float *q, const float *k, const float *v,
                     const int64_t *lengths, const float *gc, const float *gw, run_out *o)
{
    memset(o, 0x7f, sizeof *o); /* anything the calls forget to write shows */
    recur_attention_forward_args fa = {3, 2, 5, q, k, v, lengths, o->ctx, o->w};
    CHECK_OK(recur_attention_forward(a, &fa));
    recur_attention_zero_grad(a);
    recur_attention_backward_args ba = {gc, gw, o->gq, o->gk, o->gv};
    CHECK_OK(recur_attention_backward(a, &ba));
    size_t at = 0;
    for (int i = 0; i < recur_attention_param_count(a); i++) {
        recur_param p;
        recur_attention_param(a, i, &p);
        memcpy(o->grads + at, p.grad, sizeof(float) * p.numel);
        at += p.numel;
    }
}

static void check_masking(recur_attention_kind kind)
{
    const int B = 3, Q = 2, T = 5, Dq = 4, Dk = kind == RECUR_ATTN_DOT ? 4 : 3, Dv = 2;
    recur_attention_config cfg = {kind, Dq, Dk, Dv, 0, 0};
    if (kind == RECUR_ATTN_ADDITIVE || kind == RECUR_ATTN_SCALED_DOT)
        cfg.hidden_size = 6, cfg.bias = 1;
    recur_attention *a = NULL;
    CHECK_OK(recur_attention_create(&cfg, 3, &a));
    if (!a)
        return;
    const int Do = recur_attention_output_size(a);
    recur_rng rng;
    recur_rng_seed(&rng, 77);
    float q[3 * 2 * 4], k[5 * 3 * 4], v[5 * 3 * 2], gc[3 * 2 * 6], gw[3 * 2 * 5];
    fill(&rng, q, sizeof q / sizeof q[0], 1), fill(&rng, k, sizeof k / sizeof k[0], 1);
    fill(&rng, v, sizeof v / sizeof v[0], 1), fill(&rng, gc, sizeof gc / sizeof gc[0], 1);
    fill(&rng, gw, sizeof gw / sizeof gw[0], 1);
    const int64_t lengths[3] = {2, 5, 1};
    static run_out first, second;
    run_once(a, q, k, v, lengths, gc, gw, &first);
    /* Garbage, then NaN and infinities, at every padded position. */
    for (int round = 0; round < 2; round++) {
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++)
                if (t >= lengths[b]) {
                    for (int d = 0; d < Dk; d++)
                        k[(t * B + b) * Dk + d] = round ? NAN : recur_rng_uniform(&rng, -50, 50);
                    for (int d = 0; d < Dv; d++)
                        v[(t * B + b) * Dv + d] =
                            round ? INFINITY : recur_rng_uniform(&rng, -50, 50);
                }
        /* grad_weights past the lengths are ignored too. */
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Q; i++)
                for (int t = (int)lengths[b]; t < T; t++)
                    gw[(b * Q + i) * T + t] = round ? NAN : 1e3f;
        run_once(a, q, k, v, lengths, gc, gw, &second);
        const size_t nq = (size_t)B * Q, nk = (size_t)T * B;
        size_t ngrads = 0;
        for (int i = 0; i < recur_attention_param_count(a); i++) {
            recur_param p;
            recur_attention_param(a, i, &p);
            ngrads += p.numel;
        }
        CHECK(!memcmp(first.ctx, second.ctx, sizeof(float) * nq * Do));
        CHECK(!memcmp(first.w, second.w, sizeof(float) * nq * T));
        CHECK(!memcmp(first.gq, second.gq, sizeof(float) * nq * Dq));
        CHECK(!memcmp(first.gk, second.gk, sizeof(float) * nk * Dk));
        CHECK(!memcmp(first.gv, second.gv, sizeof(float) * nk * Dv));
        CHECK(!memcmp(first.grads, second.grads, sizeof(float) * ngrads));
    }
    /* Padded weights and gradients are exactly 0, weights sum to 1. */
    int zeros = 1;
    double worst_sum = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < Q; i++) {
            double s = 0;
            for (int t = 0; t < T; t++) {
                float wt = second.w[(b * Q + i) * T + t];
                s += wt;
                if (t >= lengths[b])
                    zeros &= wt == 0.0f;
            }
            worst_sum = fmax(worst_sum, fabs(s - 1));
        }
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            if (t >= lengths[b]) {
                for (int d = 0; d < Dk; d++)
                    zeros &= second.gk[(t * B + b) * Dk + d] == 0.0f;
                for (int d = 0; d < Dv; d++)
                    zeros &= second.gv[(t * B + b) * Dv + d] == 0.0f;
            }
    CHECK(zeros);
    CHECK(worst_sum < 1e-6);
    /* Length-1 row: all the weight on step 0. */
    CHECK(second.w[(2 * Q) * T] == 1.0f && second.w[(2 * Q + 1) * T] == 1.0f);
    recur_attention_free(a);
}

/* ---- API ---- */

static void check_api(void)
{
    recur_attention *a = NULL;
    recur_attention_config cfg = {RECUR_ATTN_DOT, 4, 3, 2, 0, 0};
    CHECK_STATUS(recur_attention_create(&cfg, 1, &a), RECUR_E_INVALID); /* Dq != Dk */
    cfg = (recur_attention_config){RECUR_ATTN_GENERAL, 4, 3, 2, 0, 1};
    CHECK_STATUS(recur_attention_create(&cfg, 1, &a), RECUR_E_INVALID); /* bias */
    cfg = (recur_attention_config){RECUR_ATTN_ADDITIVE, 4, 3, 2, 0, 1};
    CHECK_STATUS(recur_attention_create(&cfg, 1, &a), RECUR_E_INVALID); /* no hidden */
    cfg = (recur_attention_config){(recur_attention_kind)9, 4, 3, 2, 5, 0};
    CHECK_STATUS(recur_attention_create(&cfg, 1, &a), RECUR_E_INVALID);
    cfg = (recur_attention_config){RECUR_ATTN_SCALED_DOT, 0, 3, 2, 5, 0};
    CHECK_STATUS(recur_attention_create(&cfg, 1, &a), RECUR_E_INVALID);
    CHECK(a == NULL);

    /* Names, shapes, initialization bounds. */
    cfg = (recur_attention_config){RECUR_ATTN_SCALED_DOT, 9, 16, 25, 8, 1};
    CHECK_OK(recur_attention_create(&cfg, 1, &a));
    if (!a)
        return;
    static const char *const names[] = {"query.weight", "query.bias", "key.weight",
                                        "key.bias",     "value.weight", "value.bias"};
    static const int fan_in[] = {9, 9, 16, 16, 25, 25};
    CHECK(recur_attention_param_count(a) == 6);
    CHECK(recur_attention_output_size(a) == 8);
    CHECK(recur_attention_get_config(a)->value_size == 25);
    for (int i = 0; i < 6; i++) {
        recur_param p;
        CHECK_OK(recur_attention_param(a, i, &p));
        CHECK(!strcmp(p.name, names[i]));
        CHECK(p.shape[0] == 8 && p.ndim == (i % 2 ? 1 : 2));
        CHECK(p.ndim == 1 || p.shape[1] == fan_in[i]);
        const float bound = 1.0f / sqrtf((float)fan_in[i]);
        float m = 0;
        for (size_t j = 0; j < p.numel; j++)
            m = fmaxf(m, fabsf(p.value[j]));
        CHECK(m <= bound && m > 0.5f * bound);
    }
    recur_param p;
    CHECK_OK(recur_attention_find_param(a, "value.bias", &p));
    CHECK(p.numel == 8);
    CHECK_STATUS(recur_attention_find_param(a, "v.weight", &p), RECUR_E_SHAPE);
    CHECK_STATUS(recur_attention_param(a, 6, &p), RECUR_E_INVALID);

    float q[2 * 9] = {0}, k[3 * 2 * 16] = {0}, v[3 * 2 * 25] = {0}, ctx[2 * 8], w[2 * 3];
    float gc[2 * 8] = {0};
    recur_attention_backward_args ba = {gc, NULL, NULL, NULL, NULL};
    CHECK_STATUS(recur_attention_backward(a, &ba), RECUR_E_STATE);
    int64_t lengths[2] = {3, 0};
    recur_attention_forward_args fa = {2, 1, 3, q, k, v, lengths, ctx, w};
    CHECK_STATUS(recur_attention_forward(a, &fa), RECUR_E_INVALID); /* fully masked row */
    lengths[1] = 4;
    CHECK_STATUS(recur_attention_forward(a, &fa), RECUR_E_INVALID);
    CHECK_STATUS(recur_attention_backward(a, &ba), RECUR_E_STATE); /* failed forward */
    lengths[1] = 2;
    fa.context = NULL;
    CHECK_STATUS(recur_attention_forward(a, &fa), RECUR_E_INVALID);
    fa.context = ctx, fa.batch = 0;
    CHECK_STATUS(recur_attention_forward(a, &fa), RECUR_E_INVALID);
    fa.batch = 2;
    CHECK_OK(recur_attention_forward(a, &fa));
    /* Equal scores: uniform weights over the valid steps. */
    CHECK(fabsf(w[0] - 1.0f / 3) < 1e-7f && w[3] == 0.5f && w[5] == 0.0f);
    CHECK_OK(recur_attention_backward(a, &ba));
    recur_attention_free(a);
    recur_attention_free(NULL);
}

/* Gradients accumulate; Q queries at once equal Q calls with one query. */
static void check_accumulate_and_queries(void)
{
    recur_attention_config cfg = {RECUR_ATTN_ADDITIVE, 3, 4, 2, 5, 1};
    recur_attention *a = NULL;
    CHECK_OK(recur_attention_create(&cfg, 9, &a));
    if (!a)
        return;
    recur_rng rng;
    recur_rng_seed(&rng, 5);
    enum { B = 2, Q = 3, T = 4 };
    float q[B * Q * 3], k[T * B * 4], v[T * B * 2], gc[B * Q * 2], ctx[B * Q * 2], w[B * Q * T];
    fill(&rng, q, sizeof q / sizeof q[0], 1), fill(&rng, k, sizeof k / sizeof k[0], 1);
    fill(&rng, v, sizeof v / sizeof v[0], 1), fill(&rng, gc, sizeof gc / sizeof gc[0], 1);
    const int64_t lengths[B] = {3, 4};
    recur_attention_forward_args fa = {B, Q, T, q, k, v, lengths, ctx, w};
    CHECK_OK(recur_attention_forward(a, &fa));
    recur_attention_zero_grad(a);
    recur_attention_backward_args ba = {gc, NULL, NULL, NULL, NULL};
    CHECK_OK(recur_attention_backward(a, &ba));
    recur_param p;
    CHECK_OK(recur_attention_find_param(a, "v.weight", &p));
    float once[5];
    memcpy(once, p.grad, sizeof once);
    CHECK_OK(recur_attention_backward(a, &ba));
    int doubled = 1;
    for (int i = 0; i < 5; i++)
        doubled &= fabsf(p.grad[i] - 2 * once[i]) <= 1e-6f * (1 + fabsf(once[i]));
    CHECK(doubled);
    /* One query at a time ([B, Dq] queries). */
    double worst = 0;
    for (int i = 0; i < Q; i++) {
        float q1[B * 3], c1[B * 2], w1[B * T];
        for (int b = 0; b < B; b++)
            memcpy(q1 + b * 3, q + (b * Q + i) * 3, sizeof(float) * 3);
        recur_attention_forward_args f1 = {B, 1, T, q1, k, v, lengths, c1, w1};
        CHECK_OK(recur_attention_forward(a, &f1));
        for (int b = 0; b < B; b++) {
            for (int d = 0; d < 2; d++)
                worst = fmax(worst, fabs(c1[b * 2 + d] - ctx[(b * Q + i) * 2 + d]));
            for (int t = 0; t < T; t++)
                worst = fmax(worst, fabs(w1[b * T + t] - w[(b * Q + i) * T + t]));
        }
    }
    CHECK(worst < 1e-6);
    recur_attention_free(a);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    char path[1024], name[128];
    snprintf(path, sizeof path, "%s/attention_cases.txt", argv[1]);
    FILE *list = fopen(path, "r");
    CHECK(list != NULL);
    int cases = 0;
    while (list && fscanf(list, "%127s", name) == 1) {
        recur_st_file *f = NULL;
        snprintf(path, sizeof path, "%s/attention_%s.safetensors", argv[1], name);
        CHECK_OK(recur_st_open(path, &f));
        if (!f)
            continue;
        check_fixture(name, f);
        recur_st_close(f);
        cases++;
    }
    if (list)
        fclose(list);
    CHECK(cases == 12);
    for (int kind = 0; kind < 4; kind++)
        for (int lengths = 0; lengths < 2; lengths++) {
            gradcheck((recur_attention_kind)kind, 1, lengths, 2);
            gradcheck((recur_attention_kind)kind, 0, lengths, 1);
        }
    for (int kind = 0; kind < 4; kind++)
        check_masking((recur_attention_kind)kind);
    check_api();
    check_accumulate_and_queries();
    printf("test_attention: %d fixture cases; worst relative error: outputs %.3g, gradients "
           "%.3g, finite differences %.3g\n",
           cases, worst_output, worst_grad, worst_fd);
    return test_finish("test_attention");
}
