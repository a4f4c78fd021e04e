/* recur_gemm (src/backend/cpu/gemm.c), in particular its one-row case (batch
 * 1), which runs SIMD matrix-vector products instead of sgemm on x86: against
 * a double-precision reference for both orientations of B, beta 0 (over NaN),
 * 1 and 0.5, widths with and without tails; and the same bits whatever the
 * alignment of B (the kernels align their loads themselves). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "test_util.h"

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
                    worst = fmax(worst, err);
                    test_checks++;
                    if (!(err <= 1e-6)) {
                        test_failures++;
                        fprintf(stderr, "n=%d k=%d trans_b=%d beta=%g offset %d: error %.3g\n", n,
                                k, trans_b, betas[bi], offset, err);
                    }
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
    return test_finish("test_gemm");
}
