#include "core/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void recur_rng_seed(recur_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->state[i] = splitmix64(&seed);
}

uint64_t recur_rng_next(recur_rng *rng)
{
    uint64_t *s = rng->state;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float recur_rng_uniform(recur_rng *rng, float low, float high)
{
    /* 24 random bits: an exact float in [0, 1). */
    float unit = (float)(recur_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
    return low + (high - low) * unit;
}

int recur_rng_bernoulli(recur_rng *rng, double p)
{
    double unit = (double)(recur_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
    return unit < p;
}

void recur_rng_jump(recur_rng *rng)
{
    static const uint64_t jump[4] = {0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL,
                                     0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL};
    uint64_t s[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 64; b++) {
            if (jump[i] & ((uint64_t)1 << b))
                for (int k = 0; k < 4; k++)
                    s[k] ^= rng->state[k];
            recur_rng_next(rng);
        }
    for (int k = 0; k < 4; k++)
        rng->state[k] = s[k];
}

void recur_rng_dropout_mask(recur_rng *rng, float *mask, size_t n, float p)
{
    const float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++)
        mask[i] = recur_rng_bernoulli(rng, 1.0 - (double)p) ? scale : 0.0f;
}
