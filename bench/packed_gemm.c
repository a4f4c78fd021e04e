/* The per-step product kernel alone (not a test): C = A W^T + 0 C through
 * recur_gemm_packed (W packed once, as a layer does for a whole call) with
 * and without a thread team, and the BLAS's sgemm on the same shape.
 * usage: build/bench/packed_gemm M N K THREADS    e.g. 64 2048 512 2
 * (M: batch rows, N: gate width G*H, K: H). Prints ms and GFLOP/s. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend/cpu/gemm.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void report(const char *what, double seconds, int m, int n, int k)
{
    printf("%-28s %8.3f ms %8.1f GFLOP/s\n", what, 1e3 * seconds,
           2.0 * m * n * (double)k / seconds * 1e-9);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s M N K THREADS\n", argv[0]);
        return 2;
    }
    const int m = atoi(argv[1]), n = atoi(argv[2]), k = atoi(argv[3]), threads = atoi(argv[4]);
    if (m < 1 || n < 1 || k < 1 || threads < 1 || threads > 16) {
        fprintf(stderr, "%s: M, N, K >= 1 and THREADS in 1..16\n", argv[0]);
        return 2;
    }
    float *a = malloc(sizeof(float) * (size_t)m * (size_t)k);
    float *w = malloc(sizeof(float) * (size_t)n * (size_t)k);
    float *c = malloc(sizeof(float) * (size_t)m * (size_t)n);
    if (!a || !w || !c) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return 1;
    }
    for (size_t i = 0; i < (size_t)m * (size_t)k; i++)
        a[i] = 0.001f * (float)(i % 97);
    for (size_t i = 0; i < (size_t)n * (size_t)k; i++)
        w[i] = 0.001f * (float)(i % 89);
    recur_gemm_team *team = threads > 1 ? recur_gemm_team_create_sized(threads, 0.0) : NULL;
    recur_packed_b packed;
    recur_packed_b_init(&packed, 1, n, k, w, k);
    recur_gemm_packed(team, &packed, m, a, k, 0.0f, c, n); /* packs W, warms up */
    const int reps = 200;
    double t0 = now_seconds();
    for (int r = 0; r < reps; r++)
        recur_gemm_packed(team, &packed, m, a, k, 0.0f, c, n);
    char label[64];
    snprintf(label, sizeof label, "packed kernel, %d thread%s", threads, threads > 1 ? "s" : "");
    report(label, (now_seconds() - t0) / reps, m, n, k);
    recur_packed_b_free(&packed);
    recur_gemm_team_destroy(team);
    recur_gemm(0, 1, m, n, k, 1.0f, a, k, w, k, 0.0f, c, n);
    t0 = now_seconds();
    for (int r = 0; r < reps / 10; r++)
        recur_gemm(0, 1, m, n, k, 1.0f, a, k, w, k, 0.0f, c, n);
    report("BLAS sgemm", (now_seconds() - t0) / (reps / 10), m, n, k);
    free(a), free(w), free(c);
    return 0;
}
