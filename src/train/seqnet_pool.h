/* Max pooling's choice of step (internal; tests/test_seqnet.c pins it). */
#ifndef RECUR_TRAIN_SEQNET_POOL_H
#define RECUR_TRAIN_SEQNET_POOL_H

#include <stddef.h>

/* The step whose value torch.max(dim) returns among column[t * stride],
 * t < steps (steps >= 1): the first NaN if there is one (NaN propagates),
 * else the first maximum. */
int seqnet_max_step(const float *column, size_t stride, int steps);

#endif
