/* Data-parallel training across processes (recur train under mpirun).
 * Built with Open MPI when RECUR_HAVE_MPI is defined; otherwise, and when the
 * program was not started by mpirun, a single process: size 1, rank 0, and
 * every collective is the identity. */
#ifndef RECUR_CLI_DIST_H
#define RECUR_CLI_DIST_H

#include <stddef.h>

/* Joins the job when launched by mpirun (OMPI_COMM_WORLD_SIZE or PMI_SIZE
 * set); otherwise stays a single process without touching MPI. */
void dist_init(int *argc, char ***argv);
int dist_rank(void);
int dist_size(void);
/* This process's rank among the processes of its machine, and their count. */
int dist_local_rank(void);
int dist_local_size(void);
/* 1 when the collectives may be called from a thread other than the main
 * one (never two at once: MPI_THREAD_SERIALIZED was granted). */
int dist_threads_ok(void);
/* In place: the element-wise sum over all processes, divided by their count. */
void dist_allreduce_mean(float *data, size_t n);
/* In place: the element-wise sum over all processes. */
void dist_allreduce_sum_float(float *data, size_t n);
/* In place: the element-wise sum over all processes. */
void dist_allreduce_sum_double(double *x, int n);
/* Rank 0's bytes to every process. */
void dist_broadcast(void *data, size_t bytes);
/* Rank r's n floats to all[r * n .. (r + 1) * n) on rank 0 (all may be NULL elsewhere). */
void dist_gather_float(const float *local, size_t n, float *all);
/* This rank's contiguous share [*first, *first + *own) of count items:
 * rank r of N takes [count r / N, count (r + 1) / N), possibly empty. */
void dist_share(long long count, long long *first, long long *own);
/* RECUR_DIST_OVERLAP=0: gradients are averaged after the backward pass
 * instead of during it (the same numbers). */
int dist_overlap_off(void);
/* Ranks other than 0 discard their stdout (rank 0 reports); 0, or -1 when
 * stdout cannot be redirected. */
int dist_quiet_other_ranks(void);
void dist_finalize(void);
/* Ends every process of the job with this exit status (exit(code) alone). */
void dist_abort(int code);

#endif
