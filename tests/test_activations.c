/* The SIMD activations and cell kernels (src/backend/cpu/simd.h) on every
 * instruction set this machine has:
 * 1. exp, sigmoid and tanh against double precision over a dense sweep of
 *    [-20, 20] (1e6 points), tiny and huge values and the special values;
 *    prints the measured maximum errors (the scalar libm ones beside them);
 * 2. every cell kernel (forward and backward, each cell, widths with and
 *    without a tail) against the scalar kernel on random inputs, including
 *    that nothing outside the rows is written.
 * On a machine without AVX2 only the scalar numbers are printed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/activations.h"
#include "backend/cpu/cells.h"
#include "backend/cpu/simd.h"
#include "test_util.h"

#define SWEEP_POINTS 1000000
#define ABS_TOLERANCE 2e-7  /* sigmoid, tanh: |f - f_exact| */
#define REL_TOLERANCE 3e-7  /* tanh (all x), sigmoid (normal results), exp: relative */
#define KERNEL_TOLERANCE 2e-6 /* SIMD kernel vs scalar kernel, relative to the largest value */

typedef void (*array_fn)(size_t n, const float *x, float *y);

static void scalar_exp(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}
static void scalar_sigmoid(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = recur_sigmoid(x[i]);
}
static void scalar_tanh(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

static double exact_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The sweep: [-20, 20] densely, then tiny, then large magnitudes. */
static size_t make_sweep(float *x)
{
    size_t n = 0;
    for (int i = 0; i < SWEEP_POINTS; i++)
        x[n++] = -20.0f + 40.0f * (float)i / (float)(SWEEP_POINTS - 1);
    for (int e = -40; e <= 0; e++)
        for (int s = 0; s < 100; s++) {
            float v = (float)pow(10.0, e + s / 100.0);
            x[n++] = v;
            x[n++] = -v;
        }
    for (int i = 0; i <= 2000; i++) {
        float v = 20.0f + 100.0f * (float)i / 2000.0f;
        x[n++] = v;
        x[n++] = -v;
    }
    return n;
}

typedef struct {
    double max_abs, max_rel;
    float at_abs, at_rel;
} error_stats;

static void record(error_stats *s, float x, double got, double want, int rel_ok)
{
    double abs_err = fabs(got - want);
    if (abs_err > s->max_abs) {
        s->max_abs = abs_err;
        s->at_abs = x;
    }
    if (rel_ok && want != 0.0 && abs_err / fabs(want) > s->max_rel) {
        s->max_rel = abs_err / fabs(want);
        s->at_rel = x;
    }
}

/* Measures one implementation set; checks the bounds when `check`. */
static void sweep(const char *name, array_fn f_exp, array_fn f_sig, array_fn f_tanh,
                  const float *x, size_t n, float *y, int check)
{
    error_stats se = {0}, ss = {0}, st = {0};
    f_exp(n, x, y);
    for (size_t i = 0; i < n; i++)
        if (x[i] >= -87.0f && x[i] <= 88.0f) /* normal results */
            record(&se, x[i], y[i], exp((double)x[i]), 1);
    f_sig(n, x, y);
    for (size_t i = 0; i < n; i++)
        record(&ss, x[i], y[i], exact_sigmoid(x[i]), x[i] >= -87.0f);
    f_tanh(n, x, y);
    for (size_t i = 0; i < n; i++)
        record(&st, x[i], y[i], tanh((double)x[i]), 1);
    printf("%-7s exp: max rel %.3g (x=%g) | sigmoid: max abs %.3g (x=%g), max rel %.3g (x=%g) | "
           "tanh: max abs %.3g (x=%g), max rel %.3g (x=%g)\n",
           name, se.max_rel, se.at_rel, ss.max_abs, ss.at_abs, ss.max_rel, ss.at_rel, st.max_abs,
           st.at_abs, st.max_rel, st.at_rel);
    if (!check)
        return;
    CHECK(se.max_rel <= REL_TOLERANCE);
    CHECK(ss.max_abs <= ABS_TOLERANCE);
    CHECK(ss.max_rel <= REL_TOLERANCE);
    CHECK(st.max_abs <= ABS_TOLERANCE);
    CHECK(st.max_rel <= REL_TOLERANCE);

    /* Special values, and the sign of zero. */
    const float inf = INFINITY;
    float sx[] = {0.0f, -0.0f, inf, -inf, NAN, 200.0f, -200.0f, 1e-45f, -1e-45f};
    float sy[9];
    f_tanh(9, sx, sy);
    CHECK(sy[0] == 0.0f && !signbit(sy[0]) && sy[1] == 0.0f && signbit(sy[1]));
    CHECK(sy[2] == 1.0f && sy[3] == -1.0f && isnan(sy[4]) && sy[5] == 1.0f && sy[6] == -1.0f);
    CHECK(sy[7] == 1e-45f && sy[8] == -1e-45f);
    f_sig(9, sx, sy);
    CHECK(sy[0] == 0.5f && sy[1] == 0.5f && sy[2] == 1.0f && sy[3] == 0.0f && isnan(sy[4]));
    CHECK(sy[5] == 1.0f && sy[6] >= 0.0f && sy[6] < 1e-37f);
    f_exp(9, sx, sy);
    CHECK(sy[0] == 1.0f && sy[1] == 1.0f && sy[2] == inf && sy[3] == 0.0f && isnan(sy[4]));
    CHECK(sy[5] == inf && sy[6] == 0.0f && sy[7] == 1.0f);
}

/* ---- kernels against the scalar ones ---- */

#if RECUR_SIMD_X86
static uint64_t rng_state = 88172645463325252ull;
static float uniform(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((rng_state >> 40) / 16777216.0);
}

#define MAX_BUFS 14
typedef struct {
    int count;
    size_t n[MAX_BUFS];
    float *a[MAX_BUFS], *b[MAX_BUFS]; /* a: scalar kernel, b: SIMD kernel */
} bufs;

/* count buffers of the given sizes, equal random contents in a and b. */
static void bufs_make(bufs *s, int count, const size_t *n, float lo, float hi)
{
    s->count = count;
    for (int i = 0; i < count; i++) {
        s->n[i] = n[i];
        s->a[i] = malloc(n[i] * sizeof(float));
        s->b[i] = malloc(n[i] * sizeof(float));
        for (size_t k = 0; k < n[i]; k++)
            s->a[i][k] = uniform(lo, hi);
        /* positive buffers where the kernels need them (rstd) are set by the caller */
        memcpy(s->b[i], s->a[i], n[i] * sizeof(float));
    }
}

static void bufs_check(bufs *s, const char *what, const char *set, int H)
{
    for (int i = 0; i < s->count; i++) {
        double max_ref = 1e-3, max_diff = 0.0;
        for (size_t k = 0; k < s->n[i]; k++) {
            max_ref = fmax(max_ref, fabs(s->a[i][k]));
            max_diff = fmax(max_diff, fabs((double)s->a[i][k] - s->b[i][k]));
        }
        test_checks++;
        if (!(max_diff / max_ref <= KERNEL_TOLERANCE)) {
            test_failures++;
            fprintf(stderr, "%s (%s, H=%d): buffer %d differs by %.3g (relative)\n", what, set, H,
                    i, max_diff / max_ref);
        }
        free(s->a[i]);
        free(s->b[i]);
    }
}

typedef struct {
    const char *name;
    void (*elman_forward)(int, int, int, const float *, float *, float *, int);
    void (*elman_backward)(int, int, int, const float *, int, const float *, float *);
    void (*lstm_forward)(int, int, int, int, float *, float *, float *, float *, int);
    void (*lstm_backward)(int, int, int, int, const float *, const float *, const float *,
                          const float *, float *, float *);
    void (*gru_forward)(int, int, int, int, float *, const float *, float *, float *, float *,
                        int);
    void (*gru_backward)(int, int, const float *, const float *, const float *, float *, float *,
                         float *);
    void (*lstm_ln_forward)(int, int, float *, float *, float *, const float *, const float *,
                            float *, float *, float *, int);
    void (*lstm_ln_backward)(int, int, const float *, const float *, const float *, const float *,
                             const float *, const float *, const float *, float *, float *,
                             float *, float *, float *);
} kernel_set;

#define KERNEL_SET(SUFFIX)                                                                      \
    {                                                                                           \
        #SUFFIX, recur_elman_forward_##SUFFIX, recur_elman_backward_##SUFFIX,                   \
            recur_lstm_forward_##SUFFIX, recur_lstm_backward_##SUFFIX,                          \
            recur_gru_forward_##SUFFIX, recur_gru_backward_##SUFFIX,                            \
            recur_lstm_ln_forward_##SUFFIX, recur_lstm_ln_backward_##SUFFIX                     \
    }


/* The LSTM kernels (and for a part of the units the GRU's forward) on units
 * [u0, u0 + units) of every row. */
static void lstm_checks(const kernel_set *ref, const kernel_set *k, int H, int u0, int units)
{
    const int R = 3, ld = H + 5;
    const size_t h = (size_t)R * H, pad = (size_t)R * ld, g4 = 4 * h;
    const char *range = u0 || units < H ? " (unit range)" : "";
    char what[64];
    bufs s;
    size_t n_fwd[] = {g4, h, h, pad};
    bufs_make(&s, 4, n_fwd, -6.0f, 6.0f);
    ref->lstm_forward(R, H, u0, units, s.a[0], s.a[1], s.a[2], s.a[3], ld);
    k->lstm_forward(R, H, u0, units, s.b[0], s.b[1], s.b[2], s.b[3], ld);
    snprintf(what, sizeof what, "lstm forward%s", range);
    bufs_check(&s, what, k->name, H);
    size_t n_bwd[] = {g4, h, h, h, h, g4};
    bufs_make(&s, 6, n_bwd, -1.0f, 1.0f);
    ref->lstm_backward(R, H, u0, units, s.a[0], s.a[1], s.a[2], s.a[3], s.a[4], s.a[5]);
    k->lstm_backward(R, H, u0, units, s.b[0], s.b[1], s.b[2], s.b[3], s.b[4], s.b[5]);
    snprintf(what, sizeof what, "lstm backward%s", range);
    bufs_check(&s, what, k->name, H);
    if (!*range)
        return; /* the GRU's forward on all units is checked with its backward */
    size_t n_gru[] = {3 * h, 3 * h, h, h, pad};
    bufs_make(&s, 5, n_gru, -4.0f, 4.0f);
    ref->gru_forward(R, H, u0, units, s.a[0], s.a[1], s.a[2], s.a[3], s.a[4], ld);
    k->gru_forward(R, H, u0, units, s.b[0], s.b[1], s.b[2], s.b[3], s.b[4], ld);
    bufs_check(&s, "gru forward (unit range)", k->name, H);
}
static void check_kernels(const kernel_set *ref, const kernel_set *k, int H)
{
    const int R = 3, ld = H + 5; /* ld > H: padding that must stay untouched */
    const size_t h = (size_t)R * H, pad = (size_t)R * ld, g3 = 3 * h, g4 = 4 * h;
    bufs s;
    for (int relu = 0; relu <= 1; relu++) {
        size_t n_fwd[] = {h, h, pad};
        bufs_make(&s, 3, n_fwd, -4.0f, 4.0f);
        ref->elman_forward(R, H, relu, s.a[0], s.a[1], s.a[2], ld);
        k->elman_forward(R, H, relu, s.b[0], s.b[1], s.b[2], ld);
        bufs_check(&s, relu ? "elman relu forward" : "elman tanh forward", k->name, H);
        size_t n_bwd[] = {pad, h, h};
        bufs_make(&s, 3, n_bwd, -1.0f, 1.0f);
        ref->elman_backward(R, H, relu, s.a[0], ld, s.a[1], s.a[2]);
        k->elman_backward(R, H, relu, s.b[0], ld, s.b[1], s.b[2]);
        bufs_check(&s, relu ? "elman relu backward" : "elman tanh backward", k->name, H);
    }
    lstm_checks(ref, k, H, 0, H); /* all units */
    {
        size_t n[] = {g3, g3, h, h, pad};
        bufs_make(&s, 5, n, -4.0f, 4.0f);
        ref->gru_forward(R, H, 0, H, s.a[0], s.a[1], s.a[2], s.a[3], s.a[4], ld);
        k->gru_forward(R, H, 0, H, s.b[0], s.b[1], s.b[2], s.b[3], s.b[4], ld);
        bufs_check(&s, "gru forward", k->name, H);
    }
    {
        size_t n[] = {g3, h, h, h, g3, g3};
        bufs_make(&s, 6, n, -1.0f, 1.0f);
        ref->gru_backward(R, H, s.a[0], s.a[1], s.a[2], s.a[3], s.a[4], s.a[5]);
        k->gru_backward(R, H, s.b[0], s.b[1], s.b[2], s.b[3], s.b[4], s.b[5]);
        bufs_check(&s, "gru backward", k->name, H);
    }
    {
        /* gates, c_state, c_saved, gamma, beta, chat, rstd, m */
        size_t n[] = {g4, h, h, (size_t)H, (size_t)H, h, (size_t)R, pad};
        bufs_make(&s, 8, n, -3.0f, 3.0f);
        ref->lstm_ln_forward(R, H, s.a[0], s.a[1], s.a[2], s.a[3], s.a[4], s.a[5], s.a[6],
                             s.a[7], ld);
        k->lstm_ln_forward(R, H, s.b[0], s.b[1], s.b[2], s.b[3], s.b[4], s.b[5], s.b[6], s.b[7],
                           ld);
        bufs_check(&s, "lstm layer-norm forward", k->name, H);
    }
    {
        /* gates, chat, rstd, gamma, beta, c_prev, dm, dc, grad_gates, scratch, dgamma, dbeta */
        size_t n[] = {g4, h, (size_t)R, (size_t)H, (size_t)H, h, h, h, g4, (size_t)H,
                      (size_t)H, (size_t)H};
        bufs_make(&s, 12, n, -1.0f, 1.0f);
        for (int j = 0; j < R; j++)
            s.a[2][j] = s.b[2][j] = 1.5f + (float)j;
        ref->lstm_ln_backward(R, H, s.a[0], s.a[1], s.a[2], s.a[3], s.a[4], s.a[5], s.a[6],
                              s.a[7], s.a[8], s.a[9], s.a[10], s.a[11]);
        k->lstm_ln_backward(R, H, s.b[0], s.b[1], s.b[2], s.b[3], s.b[4], s.b[5], s.b[6],
                            s.b[7], s.b[8], s.b[9], s.b[10], s.b[11]);
        bufs_check(&s, "lstm layer-norm backward", k->name, H);
    }
    /* a range of units: what one thread of a fused step runs */
    lstm_checks(ref, k, H, H / 3, H - H / 3 - (H > 2));
}
#endif

/* ReLU as torch 2 computes it on the CPU (relu, threshold_backward): NaN
 * and -0 stay (torch.relu(tensor([nan, -0.])) is [nan, -0.]), NaN passes its
 * gradient on, and the gradient is cut where the output is <= 0. Every
 * element of a row of 19 (full and masked SIMD blocks). */
static void check_relu_specials(const char *name,
                                void (*forward)(int, int, int, const float *, float *, float *,
                                                int),
                                void (*backward)(int, int, int, const float *, int,
                                                 const float *, float *))
{
    enum { H = 19 };
    const float inf = INFINITY;
    const float pre[H] = {NAN, -0.0f, -1.0f, 2.0f, inf, -inf, 0.0f, 0.5f, -3.0f, NAN,
                          1e-30f, -1e-30f, 7.0f, NAN, -0.0f, 1.0f, -2.0f, 3.0f, NAN};
    float h[H], out[H], dh[H], grad[H];
    forward(1, H, 1, pre, h, out, H);
    int ok = 1;
    for (int k = 0; k < H; k++) {
        const float p = pre[k];
        if (isnan(p))
            ok &= isnan(out[k]) && isnan(h[k]);
        else {
            const float want = p < 0.0f ? 0.0f : p;
            ok &= out[k] == want && signbit(out[k]) == signbit(want) && h[k] == out[k];
        }
        dh[k] = 3.0f + (float)k;
    }
    backward(1, H, 1, out, H, dh, grad);
    for (int k = 0; k < H; k++)
        ok &= grad[k] == (out[k] <= 0.0f ? 0.0f : dh[k]);
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "%s: ReLU on NaN, -0, infinities differs from torch's\n", name);
}

int main(void)
{
    size_t cap = SWEEP_POINTS + 20000;
    float *x = malloc(cap * sizeof(float)), *y = malloc(cap * sizeof(float));
    size_t n = make_sweep(x);
    printf("sweep of %zu points; level chosen by the dispatcher: %d (0 scalar, 1 avx2, 2 avx512)\n",
           n, recur_simd_level());
    sweep("libm", scalar_exp, scalar_sigmoid, scalar_tanh, x, n, y, 0);
    check_relu_specials("dispatched", recur_elman_forward, recur_elman_backward);
#if RECUR_SIMD_X86
    check_relu_specials("scalar", recur_elman_forward_scalar, recur_elman_backward_scalar);
    const kernel_set scalar = KERNEL_SET(scalar);
    const int widths[] = {1, 5, 8, 13, 16, 19, 37, 64, 100};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        sweep("avx2", recur_vexp_avx2, recur_vsigmoid_avx2, recur_vtanh_avx2, x, n, y, 1);
        const kernel_set avx2 = KERNEL_SET(avx2);
        check_relu_specials("avx2", avx2.elman_forward, avx2.elman_backward);
        for (size_t i = 0; i < sizeof widths / sizeof *widths; i++)
            check_kernels(&scalar, &avx2, widths[i]);
    } else {
        printf("avx2: not supported here\n");
    }
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        sweep("avx512", recur_vexp_avx512, recur_vsigmoid_avx512, recur_vtanh_avx512, x, n, y, 1);
        const kernel_set avx512 = KERNEL_SET(avx512);
        check_relu_specials("avx512", avx512.elman_forward, avx512.elman_backward);
        for (size_t i = 0; i < sizeof widths / sizeof *widths; i++)
            check_kernels(&scalar, &avx512, widths[i]);
    } else {
        printf("avx512: not supported here\n");
    }
#endif
    free(x);
    free(y);
    return test_finish("test_activations");
}
