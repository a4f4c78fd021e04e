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

/* The processes of this job on this machine: Open MPI's local size under
 * mpirun (read before MPI starts), else 1. */
static int processes_here(void)
{
    const char *env = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    const int n = env ? atoi(env) : 1;
    return n > 1 ? n : 1;
}

int cli_threads_init(int threads)
{
    if (threads < 1) {
        const char *env = getenv("RECUR_NUM_THREADS");
        if (env && *env) {
            threads = -1; /* the user's choice stays */
        } else if (openblas_get_num_threads) {
            /* ranks on one machine share its cores: two processes at once
             * on 2 cores, two threads each, took lstm-h128-b1-t100's forward
             * to 0.48-0.59 ms a process, one thread each to 0.405 ms
             * (threads waiting for descheduled ones) */
            threads = openblas_get_num_threads() / processes_here();
            threads = threads > 1 ? threads : 1;
        }
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
