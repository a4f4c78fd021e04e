/* Data-parallel gradient reduction overlapped with the backward pass: the
 * model's grad-ready hook (recur_lm_set_grad_ready, recur_seqnet_set_grad_ready)
 * marks tensors final, and a communication thread sums or averages them over
 * the processes (cli/dist.h) in fixed buckets while the backward goes on with
 * the layers below; grad_reducer_finish ends the backward and waits for the
 * last bucket. Every rank issues the same collectives in the same order (see
 * grad_reducer.c). Without dist_threads_ok() (or with RECUR_DIST_OVERLAP=0)
 * every bucket is reduced at finish on the calling thread, with the same
 * result. */
#ifndef RECUR_CLI_GRAD_REDUCER_H
#define RECUR_CLI_GRAD_REDUCER_H

#include <stddef.h>

typedef struct grad_reducer grad_reducer;

/* For `count` gradient tensors grads[i] of sizes[i] floats (kept by the
 * caller), summed over the processes, or averaged when `mean`; NULL when out
 * of memory. */
grad_reducer *grad_reducer_create(int count, float *const *grads, const size_t *sizes, int mean);
/* The hook: tensors [first, first + n) are final (a recur_grad_ready_fn). */
void grad_reducer_ready(void *reducer, int first, int n);
/* Ends this backward (every tensor is final now) and waits until all are
 * reduced; then the next backward may start. */
void grad_reducer_finish(grad_reducer *reducer);
void grad_reducer_free(grad_reducer *reducer);

#endif
