/* GPU selection and NCCL averaging under mpirun (see dist_gpu.h). */
#define _POSIX_C_SOURCE 200809L
#include "dist_gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "dist.h"

#ifdef RECUR_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>
#if NCCL_VERSION_CODE < NCCL_VERSION(2, 10, 0)
#error "NCCL 2.10 or newer is needed (ncclAvg)"
#endif
#endif

struct dist_gpu {
    int nccl;
    char description[160];
#ifdef RECUR_HAVE_NCCL
    ncclComm_t comm;
    cudaStream_t stream;      /* NCCL's own (non-blocking), joined to the default one by: */
    cudaEvent_t ready, done;  /* the gradients are final / averaged */
#endif
};

#ifdef RECUR_HAVE_NCCL
static int nccl_error(ncclResult_t result, ncclComm_t comm, const char *what)
{
    const char *detail = comm ? ncclGetLastError(comm) : NULL;
    return cli_error("rank %d: NCCL %s failed: %s%s%s", dist_rank(), what,
                     ncclGetErrorString(result), detail && *detail ? ": " : "",
                     detail && *detail ? detail : "");
}

/* Rank 0 makes the communicator's id and every process joins. */
static int nccl_join(dist_gpu *g)
{
    struct {
        int ok;
        ncclUniqueId id;
    } shared;
    memset(&shared, 0, sizeof shared);
    ncclResult_t result = ncclSuccess;
    if (dist_rank() == 0)
        shared.ok = (result = ncclGetUniqueId(&shared.id)) == ncclSuccess;
    dist_broadcast(&shared, sizeof shared); /* a failure too: nobody waits in the init */
    if (!shared.ok)
        return dist_rank() == 0 ? nccl_error(result, NULL, "ncclGetUniqueId")
                                : cli_error("rank %d: NCCL: rank 0 could not start", dist_rank());
    if ((result = ncclCommInitRank(&g->comm, dist_size(), shared.id, dist_rank())) != ncclSuccess) {
        g->comm = NULL;
        return nccl_error(result, NULL, "ncclCommInitRank");
    }
    cudaError_t e = cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = cudaEventCreateWithFlags(&g->ready, cudaEventDisableTiming);
    if (e == cudaSuccess)
        e = cudaEventCreateWithFlags(&g->done, cudaEventDisableTiming);
    return e == cudaSuccess ? 0
                            : cli_error("rank %d: CUDA stream for NCCL: %s", dist_rank(),
                                        cudaGetErrorString(e));
}

/* Ends the job after a failed CUDA call of the averaging (as a failed MPI call does). */
static void cuda_or_abort(cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return;
    cli_error("rank %d: CUDA %s failed: %s", dist_rank(), what, cudaGetErrorString(e));
    dist_abort(CLI_EXIT_FAILURE);
}

void dist_gpu_mean(dist_gpu *g, int count, float *const *data, const size_t *sizes)
{
    /* NCCL's stream starts after everything queued so far on the default
     * stream (and, through it, on the stack's blocking streams) */
    cuda_or_abort(cudaEventRecord(g->ready, (cudaStream_t)0), "cudaEventRecord");
    cuda_or_abort(cudaStreamWaitEvent(g->stream, g->ready, 0), "cudaStreamWaitEvent");
    ncclResult_t result = ncclGroupStart();
    for (int i = 0; i < count && result == ncclSuccess; i++)
        result = ncclAllReduce(data[i], data[i], sizes[i], ncclFloat32, ncclAvg, g->comm,
                               g->stream);
    ncclResult_t ended = ncclGroupEnd(); /* after a failure too: the group must be closed */
    if (result == ncclSuccess)
        result = ended;
    if (result != ncclSuccess) {
        nccl_error(result, g->comm, "ncclAllReduce");
        dist_abort(CLI_EXIT_FAILURE);
    }
}

void dist_gpu_join(dist_gpu *g)
{
    cuda_or_abort(cudaEventRecord(g->done, g->stream), "cudaEventRecord");
    cuda_or_abort(cudaStreamWaitEvent((cudaStream_t)0, g->done, 0), "cudaStreamWaitEvent");
}

void dist_gpu_free(dist_gpu *g)
{
    if (g && g->comm)
        ncclCommDestroy(g->comm);
    if (g && g->stream) {
        cudaEventDestroy(g->ready), cudaEventDestroy(g->done);
        cudaStreamDestroy(g->stream);
    }
    free(g);
}

static const int built_with_nccl = 1;
#else
static int nccl_join(dist_gpu *g)
{
    (void)g;
    return cli_error("recur was built without NCCL");
}

void dist_gpu_mean(dist_gpu *g, int count, float *const *data, const size_t *sizes)
{
    (void)g, (void)count, (void)data, (void)sizes;
    cli_error("recur was built without NCCL");
    dist_abort(CLI_EXIT_FAILURE);
}

void dist_gpu_join(dist_gpu *g) { (void)g; }

void dist_gpu_free(dist_gpu *g) { free(g); }

static const int built_with_nccl = 0;
#endif

int dist_gpu_select(void)
{
    int gpus = recur_cuda_device_count();
    if (gpus < 1)
        return cli_error("rank %d: no CUDA GPU is usable", dist_rank());
    if (recur_cuda_set_device(dist_local_rank() % gpus) != RECUR_OK)
        return cli_status_error(RECUR_E_DEVICE);
    return 0;
}

int dist_gpu_place_seqnet(const char *flag, const char *text, recur_seqnet *net)
{
    recur_device device;
    if (cli_parse_device(flag, text, &device))
        return CLI_EXIT_BAD_INPUT;
    if (device == RECUR_DEVICE_CPU)
        return 0;
    int rc = dist_size() > 1 ? dist_gpu_select() : 0;
    if (rc)
        return rc;
    recur_status st = recur_seqnet_set_device(net, device);
    return st == RECUR_OK ? 0 : cli_status_error(st);
}

int dist_gpu_init(dist_gpu **out)
{
    *out = NULL;
    const char *forced = getenv("RECUR_DIST_TRANSPORT");
    if (forced && strcmp(forced, "nccl") != 0 && strcmp(forced, "mpi") != 0)
        return cli_error("RECUR_DIST_TRANSPORT=%s: not nccl or mpi", forced);
    int rc = dist_gpu_select();
    if (rc)
        return rc;
    int gpus = recur_cuda_device_count(), local_size = dist_local_size();
    /* NCCL needs a GPU per process, on every machine of the job */
    double shared = local_size > gpus;
    dist_allreduce_sum_double(&shared, 1);
    const int want_nccl = !(forced && !strcmp(forced, "mpi"));
    if (forced && !strcmp(forced, "nccl") && (!built_with_nccl || shared > 0))
        return cli_error("RECUR_DIST_TRANSPORT=nccl: %s",
                         built_with_nccl ? "NCCL needs a GPU per process (processes share one)"
                                         : "recur was built without NCCL");
    dist_gpu *g = calloc(1, sizeof *g);
    if (!g)
        return cli_error("out of memory");
    g->nccl = built_with_nccl && want_nccl && shared == 0;
    if (g->nccl) {
        rc = nccl_join(g);
        if (rc) {
            dist_gpu_free(g);
            return rc;
        }
        snprintf(g->description, sizeof g->description, "NCCL between %d GPUs", dist_size());
    } else
        snprintf(g->description, sizeof g->description,
                 "MPI through host memory (%d processes on %d GPU%s here%s)", local_size, gpus,
                 gpus == 1 ? "" : "s",
                 !want_nccl         ? ", RECUR_DIST_TRANSPORT=mpi"
                 : !built_with_nccl ? ", built without NCCL"
                                    : "");
    *out = g;
    return 0;
}

int dist_gpu_uses_nccl(const dist_gpu *g) { return g->nccl; }

const char *dist_gpu_describe(const dist_gpu *g) { return g->description; }
