/* Data-parallel gradient averaging overlapped with the backward pass: the
 * model's grad-ready hook (recur_lm_set_grad_ready) hands each run of final
 * gradients to a communication thread, which averages it over the processes
 * (cli/dist.h) as one bucket while the backward goes on with the layers
 * below; grad_reducer_finish waits for the last bucket. The buckets come in
 * the same order on every rank, so the collectives match. Needs
 * dist_threads_ok(); without it, every bucket is averaged at finish on the
 * calling thread, with the same result. */
#ifndef RECUR_CLI_GRAD_REDUCER_H
#define RECUR_CLI_GRAD_REDUCER_H

#include <stddef.h>

typedef struct grad_reducer grad_reducer;

/* For `count` gradient tensors grads[i] of sizes[i] floats (kept by the
 * caller); NULL when out of memory or when the thread cannot start. */
grad_reducer *grad_reducer_create(int count, float *const *grads, const size_t *sizes);
/* The hook: tensors [first, first + n) are final (a recur_grad_ready_fn). */
void grad_reducer_ready(void *reducer, int first, int n);
/* Waits until every tensor of this backward has been averaged; then the
 * next backward may start. */
void grad_reducer_finish(grad_reducer *reducer);
void grad_reducer_free(grad_reducer *reducer);

#endif
