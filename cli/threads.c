/* How the tool uses the cores: OpenBLAS on one thread, recur's team on all.
 *
 * The layers run their per-step products on recur's own thread team and,
 * when OpenBLAS computes on one thread, also cut their large products into
 * slices that the team's threads give to OpenBLAS at once (backend/cpu/gemm.h).
 * OpenBLAS's own threads would instead spin for a long time after each
 * product and take the cores from the team's (measured: lstm-h512-b64-t50
 * forward 100 -> 73 ms on 2 cores, docs/BENCHMARKS.md). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "cli_util.h"

/* OpenBLAS's thread controls, absent from other CBLAS libraries: weak. */
int openblas_get_num_threads(void) __attribute__((weak));
void openblas_set_num_threads(int num_threads) __attribute__((weak));

int cli_threads_init(int threads)
{
    if (threads < 1) {
        const char *env = getenv("RECUR_NUM_THREADS");
        if (env && *env)
            threads = -1; /* the user's choice stays */
        else if (openblas_get_num_threads)
            threads = openblas_get_num_threads();
    }
    if (threads >= 1) {
        char text[16];
        snprintf(text, sizeof text, "%d", threads);
        setenv("RECUR_NUM_THREADS", text, 1);
    }
    cli_blas_threads(1);
    return recur_num_threads();
}

void cli_blas_threads(int threads)
{
    if (openblas_set_num_threads && openblas_get_num_threads &&
        openblas_get_num_threads() != threads)
        openblas_set_num_threads(threads);
}
