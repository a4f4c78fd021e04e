/* recur_gemm (src/backend/cpu/gemm.c), in particular its one-row case (batch
 * 1), which runs SIMD matrix-vector products instead of sgemm on x86: against
 * a double-precision reference for both orientations of B, beta 0 (over NaN),
 * 1 and 0.5, widths with and without tails; and the same bits whatever the
 * alignment of B (the kernels align their loads themselves).
 * Then recur_gemm_packed (B packed once, the recurrent products) against
 * cblas_sgemm over many shapes (m 1..70, n and k with and without vector
 * tails, strided A and C), both orientations of B, beta 0 (over NaN), 1 and
 * 0.5, alone and with teams of 2 and 3 threads (which must give the same
 * bits as one). Then recur_gemm_split, large products cut into slices that
 * OpenBLAS (set to one thread) computes on the team's threads. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cells.h"
#include "backend/cpu/gemm.h"
#include "test_util.h"

/* One check that err <= tolerance, the largest err kept in *worst; a
 * failure prints the printf-style context and the error. */
static void check_error(double err, double tolerance, double *worst, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void check_error(double err, double tolerance, double *worst, const char *fmt, ...)
{
    *worst = fmax(*worst, err);
    test_checks++;
    if (err <= tolerance)
        return;
    test_failures++;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": error %.3g\n", err);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) / 16777216.0) * 2.0f - 1.0f;
}

/* C[1, n] = a[1, k] op(B) + beta C with B [n, ldb] (trans_b) or [k, ldb]; B
 * placed `offset` floats into a fresh buffer. Returns max relative error. */
static double check_one(int trans_b, int n, int k, float beta, int offset, float *out)
{
    const int ldb = ((trans_b ? k : n) + 15) / 16 * 16; /* rows share an alignment */
    const int brows = trans_b ? n : k;
    float *buf = malloc(sizeof(float) * ((size_t)brows * ldb + 64));
    float *b = buf + offset;
    float *a = malloc(sizeof(float) * (size_t)k), *c = malloc(sizeof(float) * (size_t)n);
    double *want = malloc(sizeof(double) * (size_t)n);
    uint64_t saved = rng;
    for (int i = 0; i < brows * ldb; i++)
        b[i] = uniform();
    for (int i = 0; i < k; i++)
        a[i] = uniform();
    for (int j = 0; j < n; j++)
        c[j] = beta == 0.0f ? NAN : uniform();
    rng = saved; /* the same data for every offset */
    double scale = 1e-30;
    for (int j = 0; j < n; j++) {
        double s = 0.0, abs_sum = 0.0;
        for (int i = 0; i < k; i++) {
            double p = (double)a[i] * (trans_b ? b[(long)j * ldb + i] : b[(long)i * ldb + j]);
            s += p;
            abs_sum += fabs(p);
        }
        want[j] = (beta == 0.0f ? 0.0 : beta * (double)c[j]) + s;
        scale = fmax(scale, abs_sum + fabs(want[j]));
    }
    recur_gemm(0, trans_b, 1, n, k, 1.0f, a, k, b, ldb, beta, c, n);
    double err = 0.0;
    for (int j = 0; j < n; j++)
        err = fmax(err, isnan(c[j]) ? INFINITY : fabs(c[j] - want[j]) / scale);
    memcpy(out, c, sizeof(float) * (size_t)n);
    free(buf), free(a), free(c), free(want);
    return err;
}

/* One packed product against cblas_sgemm; returns the error relative to the
 * sum of |products| of each element, or INFINITY for NaN. Stores C in out. */
static double check_packed(recur_gemm_team *team, recur_packed_b *p, int m, int n, int k,
                           const float *a, int lda, const float *b, int ldb, int trans_b,
                           float beta, const float *c0, int ldc, float *c, float *out)
{
    float *want = malloc(sizeof(float) * (size_t)m * (size_t)ldc);
    memcpy(want, c0, sizeof(float) * (size_t)m * (size_t)ldc);
    memcpy(c, c0, sizeof(float) * (size_t)m * (size_t)ldc);
    if (beta == 0.0f)
        for (int i = 0; i < m * ldc; i++)
            c[i] = NAN;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                a, lda, b, ldb, beta, want, ldc);
    recur_gemm_packed(team, p, m, a, lda, beta, c, ldc);
    double err = 0.0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < ldc; j++) {
            const size_t at = (size_t)i * (size_t)ldc + (size_t)j;
            if (j >= n) { /* past the product: untouched */
                if (memcmp(&c[at], beta == 0.0f ? &c[at] : &c0[at], sizeof(float)))
                    err = INFINITY;
                continue;
            }
            double scale = fabs((double)beta * c0[at]) + 1e-30;
            for (int q = 0; q < k; q++)
                scale += fabs((double)a[(size_t)i * lda + q] *
                              (trans_b ? b[(size_t)j * ldb + q] : b[(size_t)q * ldb + j]));
            double e = isnan(c[at]) ? INFINITY : fabs((double)c[at] - want[at]) / scale;
            err = fmax(err, e);
        }
    memcpy(out, c, sizeof(float) * (size_t)m * (size_t)ldc);
    free(want);
    return err;
}

static void test_packed(void)
{
    const int ns[] = {1, 15, 32, 33, 100, 257}, ks[] = {1, 16, 17, 130};
    const float betas[] = {0.0f, 1.0f, 0.5f};
    recur_gemm_team *teams[3] = {NULL, recur_gemm_team_create_sized(2, 0.0),
                                 recur_gemm_team_create_sized(3, 0.0)};
    double worst = 0.0;
    long products = 0;
    for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
            for (int trans_b = 0; trans_b <= 1; trans_b++) {
                const int n = ns[ni], k = ks[ki], M = 70;
                const int lda = k + 3, ldc = n + 2, ldb = (trans_b ? k : n) + 1;
                const int brows = trans_b ? n : k;
                float *b = malloc(sizeof(float) * (size_t)brows * ldb);
                float *a = malloc(sizeof(float) * (size_t)M * lda);
                float *c0 = malloc(sizeof(float) * (size_t)M * ldc);
                float *c = malloc(sizeof(float) * (size_t)M * ldc);
                float *first = malloc(sizeof(float) * (size_t)M * ldc);
                float *other = malloc(sizeof(float) * (size_t)M * ldc);
                for (int i = 0; i < brows * ldb; i++)
                    b[i] = uniform();
                for (int i = 0; i < M * lda; i++)
                    a[i] = uniform();
                for (int i = 0; i < M * ldc; i++)
                    c0[i] = uniform();
                recur_packed_b p;
                recur_packed_b_init(&p, trans_b, n, k, b, ldb);
                for (int m = 1; m <= M; m++)
                    for (int bi = 0; bi < 3; bi++)
                        for (int ti = 0; ti < 3; ti++) {
                            double err = check_packed(teams[ti], &p, m, n, k, a, lda, b, ldb,
                                                      trans_b, betas[bi], c0, ldc, c,
                                                      ti ? other : first);
                            products++;
                            check_error(err, 1e-6, &worst,
                                        "packed m=%d n=%d k=%d trans_b=%d beta=%g threads=%d", m,
                                        n, k, trans_b, betas[bi], ti + 1);
                            if (ti) {
                                test_checks++;
                                if (memcmp(first, other, sizeof(float) * (size_t)m * ldc)) {
                                    test_failures++;
                                    fprintf(stderr,
                                            "packed m=%d n=%d k=%d trans_b=%d: %d threads "
                                            "change the bits\n",
                                            m, n, k, trans_b, ti + 1);
                                }
                            }
                        }
                recur_packed_b_free(&p);
                free(b), free(a), free(c0), free(c), free(first), free(other);
            }
    recur_gemm_team_destroy(teams[1]);
    recur_gemm_team_destroy(teams[2]);
    printf("packed GEMMs: %ld products, worst error %.3g (relative to the sum of |products|)\n",
           products, worst);
}

typedef struct cell_job {
    int rows, H, ld_out;
    float *gates, *c_state, *c_saved, *out;
} cell_job;

static void cell_units(void *job, int u0, int units)
{
    const cell_job *j = job;
    recur_lstm_forward(j->rows, j->H, u0, units, j->gates, j->c_state, j->c_saved, j->out,
                       j->ld_out);
}

/* recur_gemm_packed_each with W_hh packed in gate order and the LSTM cell as
 * its `done` (the forward step of a layer) gives the bits of
 * recur_gemm_packed on the plainly packed W_hh followed by the cell on all
 * units: gates, c, the saved c and the output (strided), for hidden sizes
 * around the vector widths, rows 1..13 (one row: the matrix-vector path),
 * alone and on teams of 2 and 3. */
static void test_packed_lstm(void)
{
    const int hs[] = {1, 5, 8, 16, 17, 40}, ks[] = {1, 7, 33};
    recur_gemm_team *teams[3] = {NULL, recur_gemm_team_create_sized(2, 0.0),
                                 recur_gemm_team_create_sized(3, 0.0)};
    long steps = 0;
    for (size_t hi = 0; hi < sizeof hs / sizeof *hs; hi++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
            const int H = hs[hi], k = ks[ki], G = 4 * H, M = 13, lda = k + 1, ld_out = H + 3;
            float *w = malloc(sizeof(float) * (size_t)G * k), *a = malloc(sizeof(float) * M * lda);
            float *gates0 = malloc(sizeof(float) * (size_t)M * G);
            float *c0 = malloc(sizeof(float) * (size_t)M * H);
            float *buf[2][4]; /* gates, c_state, c_saved, out: plain then fused */
            for (int v = 0; v < 2; v++) {
                buf[v][0] = malloc(sizeof(float) * (size_t)M * G);
                buf[v][1] = malloc(sizeof(float) * (size_t)M * H);
                buf[v][2] = malloc(sizeof(float) * (size_t)M * H);
                buf[v][3] = malloc(sizeof(float) * (size_t)M * ld_out);
            }
            for (int i = 0; i < G * k; i++)
                w[i] = uniform();
            for (int i = 0; i < M * lda; i++)
                a[i] = uniform();
            for (int i = 0; i < M * G; i++)
                gates0[i] = 2.0f * uniform();
            for (int i = 0; i < M * H; i++)
                c0[i] = uniform();
            recur_packed_b plain, fused;
            recur_packed_b_init(&plain, 1, G, k, w, k);
            recur_packed_b_init_gates(&fused, 4, H, k, w, k);
            for (int m = 1; m <= M; m++)
                for (int ti = 0; ti < 3; ti++) {
                    for (int v = 0; v < 2; v++) {
                        memcpy(buf[v][0], gates0, sizeof(float) * (size_t)m * G);
                        memcpy(buf[v][1], c0, sizeof(float) * (size_t)m * H);
                        memset(buf[v][2], 0, sizeof(float) * (size_t)M * H);
                        memset(buf[v][3], 0, sizeof(float) * (size_t)M * ld_out);
                    }
                    recur_gemm_packed(teams[ti], &plain, m, a, lda, 1.0f, buf[0][0], G);
                    recur_lstm_forward(m, H, 0, H, buf[0][0], buf[0][1], buf[0][2], buf[0][3],
                                       ld_out);
                    cell_job cell = {m, H, ld_out, buf[1][0], buf[1][1], buf[1][2], buf[1][3]};
                    recur_gemm_packed_each(teams[ti], &fused, m, a, lda, 1.0f, buf[1][0], G,
                                           cell_units, &cell);
                    const size_t sizes[4] = {(size_t)m * G, (size_t)m * H, (size_t)M * H,
                                             (size_t)M * ld_out};
                    for (int q = 0; q < 4; q++) {
                        test_checks++;
                        if (memcmp(buf[0][q], buf[1][q], sizeof(float) * sizes[q])) {
                            test_failures++;
                            fprintf(stderr, "fused LSTM H=%d k=%d m=%d threads=%d: buffer %d "
                                    "differs\n", H, k, m, ti + 1, q);
                        }
                    }
                    steps++;
                }
            recur_packed_b_free(&plain);
            recur_packed_b_free(&fused);
            for (int v = 0; v < 2; v++)
                for (int q = 0; q < 4; q++)
                    free(buf[v][q]);
            free(w), free(a), free(gates0), free(c0);
        }
    recur_gemm_team_destroy(teams[1]);
    recur_gemm_team_destroy(teams[2]);
    printf("fused LSTM steps: %ld, the bits of product then cell\n", steps);
}

typedef struct done_job {
    int m, ldc, gates, H;  /* H: units (columns per gate) */
    const float *c, *want; /* the product being computed, and its bits */
    int *seen;             /* [H] per unit: calls that covered it, + 1000 if not final */
} done_job;

/* The units handed over (all their gates' columns) must be final already;
 * each once (different threads touch different units). */
static void check_done(void *job, int u0, int units)
{
    const done_job *d = job;
    for (int u = u0; u < u0 + units; u++) {
        d->seen[u]++;
        for (int g = 0; g < d->gates; g++)
            for (int i = 0; i < d->m; i++) {
                const size_t at = (size_t)i * d->ldc + (size_t)g * d->H + (size_t)u;
                if (memcmp(&d->c[at], &d->want[at], sizeof(float)))
                    d->seen[u] += 1000;
            }
    }
}

/* recur_gemm_packed_each with plainly packed panels (a backward step's dh)
 * and with W_hh's panels in the gate order of 1, 3 and 4 gates (the forward
 * of an Elman, GRU and LSTM step): done sees every unit once, after its
 * values are final, alone and on teams of 2 and 3; C has the bits of
 * recur_gemm_packed on the plainly packed matrix. */
static void test_packed_each(void)
{
    const int hs[] = {1, 31, 32, 100}, k = 40, M = 11;
    recur_gemm_team *teams[3] = {NULL, recur_gemm_team_create_sized(2, 0.0),
                                 recur_gemm_team_create_sized(3, 0.0)};
    for (int gates = 0; gates <= 4; gates++) /* 0: plain panels of B = W, not W^T */
        for (size_t hi = 0; gates != 2 && hi < sizeof hs / sizeof *hs; hi++) {
            const int H = hs[hi], n = gates ? gates * H : H;
            float *b = malloc(sizeof(float) * (size_t)k * n), *a = malloc(sizeof(float) * M * k);
            float *c = malloc(sizeof(float) * (size_t)M * n);
            float *want = malloc(sizeof(float) * (size_t)M * n);
            int *seen = malloc(sizeof(int) * (size_t)H);
            for (int i = 0; i < k * n; i++)
                b[i] = uniform();
            for (int i = 0; i < M * k; i++)
                a[i] = uniform();
            recur_packed_b plain, p;
            recur_packed_b_init(&plain, gates ? 1 : 0, n, k, b, gates ? k : n);
            if (gates)
                recur_packed_b_init_gates(&p, gates, H, k, b, k);
            else
                recur_packed_b_init(&p, 0, n, k, b, n);
            for (int m = 1; m <= M; m += 5)
                for (int ti = 0; ti < 3; ti++) {
                    recur_gemm_packed(teams[ti], &plain, m, a, k, 0.0f, want, n);
                    memset(c, 0, sizeof(float) * (size_t)M * n);
                    memset(seen, 0, sizeof(int) * (size_t)H);
                    done_job d = {m, n, gates ? gates : 1, H, c, want, seen};
                    recur_gemm_packed_each(teams[ti], &p, m, a, k, 0.0f, c, n, check_done, &d);
                    int once = 1;
                    for (int u = 0; u < H; u++)
                        once &= seen[u] == 1;
                    CHECK(once && !memcmp(c, want, sizeof(float) * (size_t)m * n));
                }
            recur_packed_b_free(&plain);
            recur_packed_b_free(&p);
            free(b), free(a), free(c), free(want), free(seen);
        }
    recur_gemm_team_destroy(teams[1]);
    recur_gemm_team_destroy(teams[2]);
    printf("packed products with a done call per range: checked\n");
}

/* A GRU step's cell writes its units of h in place, and h is the row the
 * step multiplies: batch 1 on a team (each thread a range of units), done
 * overwriting its units of A must not change what the other ranges read,
 * whichever thread runs first (many rounds, teams of 2 and 3). */
typedef struct overwrite_job {
    done_job check;
    float *a; /* [H]: A, overwritten for each range handed over */
} overwrite_job;

static void check_done_overwrite(void *job, int u0, int units)
{
    overwrite_job *o = job;
    check_done(&o->check, u0, units);
    for (int u = u0; u < u0 + units; u++)
        o->a[u] = NAN;
}

static void test_row_in_place(void)
{
    enum { H = 72, G = 3 };
    float *b = malloc(sizeof(float) * G * H * H), *a = malloc(sizeof(float) * H);
    float *a0 = malloc(sizeof(float) * H), *c = malloc(sizeof(float) * G * H);
    float *want = malloc(sizeof(float) * G * H);
    int seen[H];
    for (int i = 0; i < G * H * H; i++)
        b[i] = uniform();
    for (int i = 0; i < H; i++)
        a0[i] = uniform();
    recur_packed_b alone;
    recur_packed_b_init_gates(&alone, G, H, H, b, H);
    recur_gemm_packed(NULL, &alone, 1, a0, H, 0.0f, want, G * H);
    int clean = 1;
    for (int size = 2; size <= 3; size++) {
        recur_gemm_team *team = recur_gemm_team_create_sized(size, 0.0);
        recur_packed_b p;
        recur_packed_b_init_gates(&p, G, H, H, b, H);
        for (int round = 0; round < 200; round++) {
            memcpy(a, a0, sizeof(float) * H);
            memset(seen, 0, sizeof seen);
            overwrite_job o = {{1, G * H, G, H, c, want, seen}, a};
            recur_gemm_packed_each(team, &p, 1, a, H, 0.0f, c, G * H, check_done_overwrite, &o);
            for (int u = 0; u < H; u++)
                clean &= seen[u] == 1;
            clean &= !memcmp(c, want, sizeof(float) * G * H);
        }
        recur_packed_b_free(&p);
        recur_gemm_team_destroy(team);
    }
    CHECK(clean);
    recur_packed_b_free(&alone);
    free(b), free(a), free(a0), free(c), free(want);
    printf("one-row products on teams, A overwritten by done: %s\n", clean ? "checked" : "FAILED");
}

/* recur_gemm_split (slices of rows or columns on a team's threads) against
 * cblas_sgemm: every transposition, alpha and beta, slices with remainders,
 * strides wider than the matrices (C past n untouched); then recur_gemm's
 * own team for a product of RECUR_GEMM_ALONE_MAX_MACS. */
static void test_split(void)
{
    const int before = test_blas_one_thread("split GEMMs");
    if (before < 0)
        return;
    const int dims[] = {1, 17, 40, 70};
    recur_gemm_team *teams[2] = {recur_gemm_team_create_sized(2, 0.0),
                                 recur_gemm_team_create_sized(3, 0.0)};
    double worst = 0.0;
    long products = 0;
    for (int ti = 0; ti < 2; ti++)
        for (int ta = 0; ta <= 1; ta++)
            for (int tb = 0; tb <= 1; tb++)
                for (int mi = 0; mi < 4; mi++)
                    for (int ni = 0; ni < 4; ni++)
                        for (int k = 1; k <= 33; k += 32) {
                            const int m = dims[mi], n = dims[ni];
                            const int lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 3, ldc = n + 1;
                            const float alpha = ti ? 0.5f : 1.0f, beta = ta ? 1.0f : 0.0f;
                            float *a = malloc(sizeof(float) * (size_t)(ta ? k : m) * lda);
                            float *b = malloc(sizeof(float) * (size_t)(tb ? n : k) * ldb);
                            float *c = malloc(sizeof(float) * (size_t)m * ldc);
                            float *want = malloc(sizeof(float) * (size_t)m * ldc);
                            for (int i = 0; i < (ta ? k : m) * lda; i++)
                                a[i] = uniform();
                            for (int i = 0; i < (tb ? n : k) * ldb; i++)
                                b[i] = uniform();
                            for (int i = 0; i < m * ldc; i++)
                                c[i] = want[i] = uniform();
                            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                                        tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
                                        ldb, beta, want, ldc);
                            recur_gemm_split(teams[ti], ta, tb, m, n, k, alpha, a, lda, b, ldb,
                                             beta, c, ldc);
                            double err = 0.0;
                            for (int i = 0; i < m * ldc; i++)
                                err = fmax(err, isnan(c[i]) ? INFINITY : fabs(c[i] - want[i]));
                            products++;
                            check_error(err, 1e-5, &worst,
                                        "split m=%d n=%d k=%d ta=%d tb=%d threads=%d", m, n, k,
                                        ta, tb, ti + 2);
                            free(a), free(b), free(c), free(want);
                        }
    recur_gemm_team_destroy(teams[0]);
    recur_gemm_team_destroy(teams[1]);

    /* recur_gemm alone: a team of RECUR_NUM_THREADS made for the product. */
    setenv("RECUR_NUM_THREADS", "2", 1);
    const int m = 512, n = 512, k = (int)(RECUR_GEMM_ALONE_MAX_MACS / (512L * 512L));
    float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n);
    float *c = malloc(sizeof(float) * (size_t)m * n), *want = malloc(sizeof(float) * (size_t)m * n);
    for (int i = 0; i < m * k; i++)
        a[i] = uniform();
    for (int i = 0; i < k * n; i++)
        b[i] = uniform();
    for (int i = 0; i < m * n; i++)
        c[i] = want[i] = uniform();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 1.0f, want,
                n);
    recur_gemm(0, 0, m, n, k, 1.0f, a, k, b, n, 1.0f, c, n);
    double err = 0.0;
    for (int i = 0; i < m * n; i++)
        err = fmax(err, fabs(c[i] - want[i]));
    CHECK(err <= 1e-4);
    unsetenv("RECUR_NUM_THREADS");
    free(a), free(b), free(c), free(want);
    test_blas_threads_restore(before);
    printf("split GEMMs: %ld products on teams of 2 and 3, worst absolute error %.3g; "
           "recur_gemm's own team: %.3g\n",
           products, worst, err);
}

/* recur_gemm_ahead: rows read as soon as recur_gemm_ahead_wait returns for
 * them, a few at a time in either order as a layer's steps read them, are
 * cblas_sgemm's (to its rounding: OpenBLAS's kernels for small blocks of
 * rows sum in another order; a row not yet computed is off by about 1);
 * order 0 and a single block compute at once; under ThreadSanitizer
 * (scripts/tsan.sh) the hand-over of each block. */
static void test_ahead(void)
{
    const int before = test_blas_one_thread("ahead GEMMs");
    if (before < 0)
        return;
    recur_gemm_team *teams[2] = {recur_gemm_team_create_sized(2, 0.0),
                                 recur_gemm_team_create_sized(3, 0.0)};
    const int ms[] = {1, 16, 17, 100, 600}, orders[] = {1, -1, 0};
    long products = 0, mismatches = 0;
    for (int ti = 0; ti < 2; ti++)
        for (int mi = 0; mi < 5; mi++)
            for (int oi = 0; oi < 3; oi++)
                for (int tb = 0; tb <= 1; tb++) {
                    const int m = ms[mi], n = 70, k = 33, lda = k + 1, ldb = (tb ? k : n) + 2;
                    const int ldc = n + 3, rows_a_step = 1 + mi % 3;
                    float *a = malloc(sizeof(float) * (size_t)m * lda);
                    float *b = malloc(sizeof(float) * (size_t)(tb ? n : k) * ldb);
                    float *c = malloc(sizeof(float) * (size_t)m * ldc);
                    float *want = malloc(sizeof(float) * (size_t)m * ldc);
                    for (int i = 0; i < m * lda; i++)
                        a[i] = uniform();
                    for (int i = 0; i < (tb ? n : k) * ldb; i++)
                        b[i] = uniform();
                    for (int i = 0; i < m * ldc; i++)
                        c[i] = want[i] = uniform();
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                                n, k, 0.5f, a, lda, b, ldb, 1.0f, want, ldc);
                    recur_gemm_ahead g;
                    recur_gemm_ahead_start(&g, teams[ti], orders[oi], tb, m, n, k, 0.5f, a, lda,
                                           b, ldb, 1.0f, c, ldc);
                    for (int s = 0; s * rows_a_step < m; s++) {
                        int r0 = s * rows_a_step, r1 = r0 + rows_a_step < m ? r0 + rows_a_step : m;
                        if (orders[oi] < 0) /* from the last rows back */
                            r0 = m - r1, r1 = m - s * rows_a_step;
                        recur_gemm_ahead_wait(&g, r0, r1);
                        for (int i = r0 * ldc; i < r1 * ldc; i++)
                            mismatches += !(fabsf(c[i] - want[i]) <= 1e-5f);
                    }
                    recur_gemm_ahead_finish(&g);
                    for (int i = 0; i < m * ldc; i++)
                        mismatches += !(fabsf(c[i] - want[i]) <= 1e-5f);
                    products++;
                    free(a), free(b), free(c), free(want);
                }
    recur_gemm_team_destroy(teams[0]);
    recur_gemm_team_destroy(teams[1]);
    test_blas_threads_restore(before);
    CHECK(mismatches == 0);
    printf("ahead GEMMs: %ld products on teams of 2 and 3, rows read as they became final: "
           "%ld values off cblas_sgemm's by more than 1e-5\n",
           products, mismatches);
}

int main(void)
{
    const int sizes[][2] = {{1, 1},   {7, 5},   {8, 16},   {16, 128}, {37, 19},
                            {128, 512}, {512, 128}, {100, 300}, {129, 257}, {1000, 40}};
    const float betas[] = {0.0f, 1.0f, 0.5f};
    double worst = 0.0;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int trans_b = 0; trans_b <= 1; trans_b++)
            for (int bi = 0; bi < 3; bi++) {
                const int n = sizes[s][0], k = sizes[s][1];
                float *first = malloc(sizeof(float) * (size_t)n);
                float *other = malloc(sizeof(float) * (size_t)n);
                for (int offset = 0; offset < 16; offset++) {
                    double err = check_one(trans_b, n, k, betas[bi], offset,
                                           offset ? other : first);
                    check_error(err, 1e-6, &worst, "n=%d k=%d trans_b=%d beta=%g offset %d", n,
                                k, trans_b, betas[bi], offset);
                    if (offset) {
                        test_checks++;
                        if (memcmp(first, other, sizeof(float) * (size_t)n) != 0) {
                            test_failures++;
                            fprintf(stderr,
                                    "n=%d k=%d trans_b=%d beta=%g: offset %d changes the bits\n",
                                    n, k, trans_b, betas[bi], offset);
                        }
                    }
                }
                free(first);
                free(other);
            }
    printf("one-row GEMMs: worst error %.3g (relative to the sum of |products|)\n", worst);
    test_packed();
    test_packed_lstm();
    test_packed_each();
    test_row_in_place();
    test_split();
    test_ahead();
    return test_finish("test_gemm");
}
