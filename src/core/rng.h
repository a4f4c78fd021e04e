/* Seeded pseudo-random generator (xoshiro256**, seeded by splitmix64). */
#ifndef RECUR_CORE_RNG_H
#define RECUR_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct recur_rng {
    uint64_t state[4];
} recur_rng;

void recur_rng_seed(recur_rng *rng, uint64_t seed);
uint64_t recur_rng_next(recur_rng *rng);
/* Uniform float in [low, high). */
float recur_rng_uniform(recur_rng *rng, float low, float high);
/* 1 with probability p (0 <= p <= 1), from 53 random bits. */
int recur_rng_bernoulli(recur_rng *rng, double p);
/* Inverted-dropout mask: mask[i] = 1/(1-p) with probability 1-p, else 0. */
void recur_rng_dropout_mask(recur_rng *rng, float *mask, size_t n, float p);
/* Advances by 2^128 steps: a stream that cannot overlap the original's. */
void recur_rng_jump(recur_rng *rng);

#endif
