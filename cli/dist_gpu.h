/* Data-parallel training on GPUs (recur train --device cuda under mpirun):
 * which GPU each process uses, and how the gradients that live on the GPUs
 * are averaged over the processes -- by NCCL, GPU to GPU, when every process
 * has a GPU of its own and recur was built with NCCL (RECUR_HAVE_NCCL); else
 * through host memory with the CPU path's MPI reducer (cli/grad_reducer.h),
 * e.g. when two processes share one GPU, which NCCL refuses. Every process
 * makes the same choice. */
#ifndef RECUR_CLI_DIST_GPU_H
#define RECUR_CLI_DIST_GPU_H

#include <stddef.h>

#include "recur.h"

typedef struct dist_gpu dist_gpu;

/* Selects this process's GPU: its rank among the processes of its machine,
 * modulo that machine's GPUs (before any other CUDA work of the process).
 * 0, or an exit status after printing the error. */
int dist_gpu_select(void);

/* --device TEXT (cpu|cuda) of a model whose stack alone goes to the GPU
 * (recur_seqnet_set_device: classify, forecast): moves net's stack there,
 * under mpirun after taking this process's GPU (dist_gpu_select). FLAG names
 * the option in errors. 0, or an exit status after printing the error. */
int dist_gpu_place_seqnet(const char *flag, const char *text, recur_seqnet *net);

/* Collective, before any other CUDA work of the process: selects this
 * process's GPU (dist_gpu_select) and the transport. RECUR_DIST_TRANSPORT=mpi forces the
 * host path; =nccl fails when NCCL cannot be used. 0, or an exit status
 * after printing the error. */
int dist_gpu_init(dist_gpu **out);
/* 1 when the gradients go by NCCL (dist_gpu_mean), 0 through the host. */
int dist_gpu_uses_nccl(const dist_gpu *g);
/* "NCCL between 2 GPUs", "MPI through host memory (2 processes share 1 GPU)". */
const char *dist_gpu_describe(const dist_gpu *g);
/* NCCL only: queues on NCCL's own stream, after the work queued so far on
 * the GPU's default stream, the element-wise mean over the processes of
 * count device tensors data[i] of sizes[i] floats, in place, as one group;
 * the work queued later on the default stream may overlap it until
 * dist_gpu_join. Every process makes the same calls with the same sizes. A
 * failure ends the whole job after printing it, as a failed MPI call does
 * (cli/dist.h). */
void dist_gpu_mean(dist_gpu *g, int count, float *const *data, const size_t *sizes);
/* NCCL only: the work queued from now on on the default stream waits for
 * every dist_gpu_mean so far. */
void dist_gpu_join(dist_gpu *g);
void dist_gpu_free(dist_gpu *g);

#endif
