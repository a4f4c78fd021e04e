/* torch.nn.Embedding: a lookup table, forward and backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"

struct recur_embedding {
    int count, dim, padding_idx;
    float *weight, *grad; /* [count, dim] */
    int64_t *saved_ids;   /* ids of the last forward */
    size_t saved_capacity;
    int saved_n;          /* 0 = no forward */
};

/* A standard normal sample (Box-Muller). */
static float normal_sample(recur_rng *rng)
{
    float u1 = recur_rng_uniform(rng, 0.0f, 1.0f), u2 = recur_rng_uniform(rng, 0.0f, 1.0f);
    if (u1 < 1e-30f)
        u1 = 1e-30f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

recur_status recur_embedding_create(int num_embeddings, int dim, int padding_idx, uint64_t seed,
                                    recur_embedding **out)
{
    if (!out || num_embeddings < 1 || dim < 1 || num_embeddings > (1 << 26) || dim > (1 << 20))
        return recur_fail(RECUR_E_INVALID, "embedding: %d x %d is not a valid table size",
                          num_embeddings, dim);
    if (padding_idx < -1 || padding_idx >= num_embeddings)
        return recur_fail(RECUR_E_INVALID, "embedding: padding_idx %d outside 0..%d",
                          padding_idx, num_embeddings - 1);
    *out = NULL;
    recur_embedding *e = calloc(1, sizeof *e);
    size_t n = (size_t)num_embeddings * (size_t)dim;
    if (e) {
        e->weight = recur_alloc_floats(n);
        e->grad = recur_alloc_floats(n);
    }
    if (!e || !e->weight || !e->grad) {
        recur_embedding_free(e);
        return recur_fail(RECUR_E_NOMEM, "embedding: out of memory for %zu floats", n);
    }
    e->count = num_embeddings, e->dim = dim, e->padding_idx = padding_idx;
    recur_rng rng;
    recur_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        e->weight[i] = normal_sample(&rng);
    if (padding_idx >= 0)
        memset(e->weight + (size_t)padding_idx * dim, 0, sizeof(float) * (size_t)dim);
    *out = e;
    return RECUR_OK;
}

void recur_embedding_free(recur_embedding *e)
{
    if (!e)
        return;
    free(e->weight);
    free(e->grad);
    free(e->saved_ids);
    free(e);
}

recur_status recur_embedding_param(const recur_embedding *e, recur_param *p)
{
    *p = (recur_param){"weight", 2, {e->count, e->dim}, (size_t)e->count * e->dim, e->weight,
                       e->grad};
    return RECUR_OK;
}

void recur_embedding_zero_grad(recur_embedding *e)
{
    memset(e->grad, 0, sizeof(float) * (size_t)e->count * (size_t)e->dim);
}

recur_status recur_embedding_forward(recur_embedding *e, int n, const int64_t *ids, float *out)
{
    if (!e || !ids || !out || n < 1)
        return recur_fail(RECUR_E_INVALID, "embedding forward: NULL argument or n < 1");
    e->saved_n = 0;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= e->count)
            return recur_fail(RECUR_E_SHAPE, "embedding: index %lld at position %d is outside 0..%d",
                              (long long)ids[i], i, e->count - 1);
    if ((size_t)n > e->saved_capacity) {
        int64_t *grown = realloc(e->saved_ids, sizeof(int64_t) * (size_t)n);
        if (!grown)
            return recur_fail(RECUR_E_NOMEM, "embedding: out of memory");
        e->saved_ids = grown;
        e->saved_capacity = (size_t)n;
    }
    memcpy(e->saved_ids, ids, sizeof(int64_t) * (size_t)n);
    for (int i = 0; i < n; i++)
        memcpy(out + (size_t)i * e->dim, e->weight + (size_t)ids[i] * e->dim,
               sizeof(float) * (size_t)e->dim);
    e->saved_n = n;
    return RECUR_OK;
}

recur_status recur_embedding_backward(recur_embedding *e, const float *grad_out)
{
    if (!e || !grad_out)
        return recur_fail(RECUR_E_INVALID, "embedding backward: NULL argument");
    if (!e->saved_n)
        return recur_fail(RECUR_E_STATE, "embedding backward called without a forward pass");
    for (int i = 0; i < e->saved_n; i++) {
        int64_t id = e->saved_ids[i];
        if (id == e->padding_idx)
            continue;
        float *row = e->grad + (size_t)id * e->dim;
        const float *g = grad_out + (size_t)i * e->dim;
        for (int k = 0; k < e->dim; k++)
            row[k] += g[k];
    }
    return RECUR_OK;
}
