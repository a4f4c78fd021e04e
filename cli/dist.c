/* Data-parallel collectives over MPI_COMM_WORLD, or single-process stubs. */
#include "dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

void dist_share(long long count, long long *first, long long *own)
{
    long long rank = dist_rank(), size = dist_size();
    *first = count * rank / size;
    *own = count * (rank + 1) / size - *first;
}

int dist_overlap_off(void)
{
    const char *overlap = getenv("RECUR_DIST_OVERLAP");
    return overlap && overlap[0] == '0';
}

int dist_quiet_other_ranks(void)
{
    return dist_rank() > 0 && !freopen("/dev/null", "w", stdout) ? -1 : 0;
}

#ifdef RECUR_HAVE_MPI
#include <mpi.h>

static int dist_active; /* MPI_Init was called by dist_init */
static int dist_rank_value, dist_size_value = 1;
static int dist_local_rank_value, dist_local_size_value = 1; /* on this machine */
static int dist_serialized; /* MPI may be called from another thread (not at once) */

/* One collective moves at most this many elements (MPI counts are ints). */
enum { DIST_CHUNK = INT_MAX / 2 };

void dist_init(int *argc, char ***argv)
{
    if (dist_active || (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE")))
        return;
    int provided = MPI_THREAD_SINGLE;
    MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
    dist_serialized = provided >= MPI_THREAD_SERIALIZED;
    /* a failed MPI call ends the whole job instead of returning */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &dist_rank_value);
    MPI_Comm_size(MPI_COMM_WORLD, &dist_size_value);
    MPI_Comm machine;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &machine);
    MPI_Comm_rank(machine, &dist_local_rank_value);
    MPI_Comm_size(machine, &dist_local_size_value);
    MPI_Comm_free(&machine);
    dist_active = 1;
}

int dist_rank(void) { return dist_rank_value; }

int dist_size(void) { return dist_size_value; }

int dist_local_rank(void) { return dist_local_rank_value; }

int dist_local_size(void) { return dist_local_size_value; }

int dist_threads_ok(void) { return dist_serialized; }

void dist_allreduce_sum_float(float *data, size_t n)
{
    if (dist_size_value == 1)
        return;
    for (size_t at = 0; at < n; at += DIST_CHUNK) {
        size_t count = n - at < DIST_CHUNK ? n - at : DIST_CHUNK;
        MPI_Allreduce(MPI_IN_PLACE, data + at, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
}

void dist_allreduce_mean(float *data, size_t n)
{
    if (dist_size_value == 1)
        return;
    dist_allreduce_sum_float(data, n);
    for (size_t i = 0; i < n; i++)
        data[i] /= (float)dist_size_value;
}

void dist_allreduce_sum_double(double *x, int n)
{
    if (dist_size_value > 1)
        MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void dist_broadcast(void *data, size_t bytes)
{
    if (dist_size_value == 1)
        return;
    for (size_t at = 0; at < bytes; at += DIST_CHUNK) {
        size_t count = bytes - at < DIST_CHUNK ? bytes - at : DIST_CHUNK;
        MPI_Bcast((char *)data + at, (int)count, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
}

void dist_gather_float(const float *local, size_t n, float *all)
{
    if (dist_size_value == 1) {
        for (size_t i = 0; i < n; i++)
            all[i] = local[i];
        return;
    }
    if (n > INT_MAX) /* a carried state of 2^31 floats per process: not supported */
        MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Gather(local, (int)n, MPI_FLOAT, all, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
}

void dist_finalize(void)
{
    if (dist_active)
        MPI_Finalize();
    dist_active = 0;
}

void dist_abort(int code)
{
    if (dist_active)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

#else /* single process */

void dist_init(int *argc, char ***argv)
{
    (void)argc, (void)argv;
}

int dist_rank(void) { return 0; }

int dist_size(void) { return 1; }

int dist_local_rank(void) { return 0; }

int dist_local_size(void) { return 1; }

int dist_threads_ok(void) { return 0; }

void dist_allreduce_mean(float *data, size_t n) { (void)data, (void)n; }

void dist_allreduce_sum_float(float *data, size_t n) { (void)data, (void)n; }

void dist_allreduce_sum_double(double *x, int n) { (void)x, (void)n; }

void dist_broadcast(void *data, size_t bytes) { (void)data, (void)bytes; }

void dist_gather_float(const float *local, size_t n, float *all)
{
    for (size_t i = 0; i < n; i++)
        all[i] = local[i];
}

void dist_finalize(void) {}

void dist_abort(int code) { exit(code); }

#endif
