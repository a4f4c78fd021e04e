/* torch.nn.Linear: y = x W^T + b, forward and backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"

struct recur_linear {
    int in, out, has_bias;
    float *values, *grads;   /* weight [out, in] then bias [out] */
    recur_buffer saved_x;    /* [rows, in] */
    recur_buffer ones;       /* [rows] for the bias gradient */
    int rows;                /* of the last forward, 0 = none */
};

recur_status recur_linear_create(int in_features, int out_features, int bias, uint64_t seed,
                                 recur_linear **out)
{
    if (!out || in_features < 1 || out_features < 1 || in_features > (1 << 24) ||
        out_features > (1 << 24))
        return recur_fail(RECUR_E_INVALID, "linear: sizes %d -> %d must be in 1..2^24",
                          in_features, out_features);
    *out = NULL;
    recur_linear *l = calloc(1, sizeof *l);
    size_t total = (size_t)in_features * (size_t)out_features + (bias ? (size_t)out_features : 0);
    if (l) {
        l->values = recur_alloc_floats(total);
        l->grads = recur_alloc_floats(total);
    }
    if (!l || !l->values || !l->grads) {
        recur_linear_free(l);
        return recur_fail(RECUR_E_NOMEM, "linear: out of memory for %zu parameters", total);
    }
    l->in = in_features, l->out = out_features, l->has_bias = bias != 0;
    recur_rng rng;
    recur_rng_seed(&rng, seed);
    const float bound = 1.0f / sqrtf((float)in_features);
    for (size_t i = 0; i < total; i++)
        l->values[i] = recur_rng_uniform(&rng, -bound, bound);
    *out = l;
    return RECUR_OK;
}

void recur_linear_free(recur_linear *l)
{
    if (!l)
        return;
    free(l->values);
    free(l->grads);
    recur_buffer_release(&l->saved_x);
    recur_buffer_release(&l->ones);
    free(l);
}

int recur_linear_param_count(const recur_linear *l) { return l->has_bias ? 2 : 1; }

recur_status recur_linear_param(const recur_linear *l, int index, recur_param *p)
{
    size_t weight_n = (size_t)l->in * (size_t)l->out;
    memset(p, 0, sizeof *p);
    if (index == 0) {
        *p = (recur_param){"weight", 2, {l->out, l->in}, weight_n, l->values, l->grads};
        return RECUR_OK;
    }
    if (index == 1 && l->has_bias) {
        *p = (recur_param){"bias", 1, {l->out, 0}, (size_t)l->out, l->values + weight_n,
                           l->grads + weight_n};
        return RECUR_OK;
    }
    return recur_fail(RECUR_E_INVALID, "linear: no parameter %d", index);
}

void recur_linear_zero_grad(recur_linear *l)
{
    memset(l->grads, 0, sizeof(float) * ((size_t)l->in * l->out + (l->has_bias ? l->out : 0)));
}

recur_status recur_linear_forward(recur_linear *l, int rows, const float *x, float *y)
{
    if (!l || !x || !y || rows < 1)
        return recur_fail(RECUR_E_INVALID, "linear forward: NULL argument or rows < 1");
    l->rows = 0;
    RECUR_TRY(recur_buffer_reserve(&l->saved_x, (size_t)rows * (size_t)l->in));
    memcpy(l->saved_x.data, x, sizeof(float) * (size_t)rows * (size_t)l->in);
    const float *bias = l->has_bias ? l->values + (size_t)l->in * l->out : NULL;
    for (int r = 0; r < rows; r++) {
        float *row = y + (size_t)r * l->out;
        if (bias)
            memcpy(row, bias, sizeof(float) * (size_t)l->out);
        else
            memset(row, 0, sizeof(float) * (size_t)l->out);
    }
    recur_gemm(0, 1, rows, l->out, l->in, 1.0f, x, l->in, l->values, l->in, 1.0f, y, l->out);
    l->rows = rows;
    return RECUR_OK;
}

recur_status recur_linear_backward(recur_linear *l, const float *grad_y, float *grad_x)
{
    if (!l || !grad_y)
        return recur_fail(RECUR_E_INVALID, "linear backward: NULL argument");
    if (!l->rows)
        return recur_fail(RECUR_E_STATE, "linear backward called without a forward pass");
    const int rows = l->rows;
    /* dW [out, in] += grad_y^T [out, rows] x [rows, in] */
    recur_gemm(1, 0, l->out, l->in, rows, 1.0f, grad_y, l->out, l->saved_x.data, l->in, 1.0f,
               l->grads, l->in);
    if (l->has_bias) {
        if (l->ones.capacity < (size_t)rows) {
            RECUR_TRY(recur_buffer_reserve(&l->ones, (size_t)rows));
            for (int r = 0; r < rows; r++)
                l->ones.data[r] = 1.0f;
        }
        recur_add_column_sums(rows, l->out, grad_y, l->out, l->ones.data,
                              l->grads + (size_t)l->in * l->out);
    }
    if (grad_x) /* dx [rows, in] = grad_y [rows, out] W [out, in] */
        recur_gemm(0, 0, rows, l->in, l->out, 1.0f, grad_y, l->out, l->values, l->in, 0.0f,
                   grad_x, l->in);
    return RECUR_OK;
}
