/* What the fuzz targets do with what they read: tensors converted as the
 * readers would, and a short run of a stack that loads. */
#ifndef RECUR_FUZZ_COMMON_H
#define RECUR_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>

#include "recur.h"

/* A tensor that is not huge, converted to float32 and int64. */
static void fuzz_convert(const recur_tensor_view *t)
{
    if (t->numel > (1u << 16))
        return;
    float *f = malloc(sizeof(float) * (t->numel ? t->numel : 1));
    int64_t *n = malloc(sizeof(int64_t) * (t->numel ? t->numel : 1));
    if (f && n) {
        recur_tensor_to_f32(t, f, t->numel);
        recur_tensor_to_i64(t, n, t->numel);
    }
    free(f);
    free(n);
}

/* A small stack runs two steps of one sequence, forward and (backward 1)
 * backward. */
static void fuzz_run_stack(recur_rnn *rnn, int backward)
{
    const recur_rnn_config *c = recur_rnn_get_config(rnn);
    if ((size_t)c->input_size * (size_t)c->hidden_size * (size_t)c->num_layers > (1u << 16))
        return;
    size_t in_n = 2 * (size_t)c->input_size, out_n = recur_rnn_output_numel(rnn, 2, 1);
    float *x = calloc(in_n, sizeof(float)), *y = calloc(out_n, sizeof(float));
    float *dy = calloc(out_n, sizeof(float)), *dx = calloc(in_n, sizeof(float));
    if (x && y && dy && dx) {
        recur_rnn_forward_args fwd = {2, 1, x, NULL, NULL, NULL, y, NULL, NULL};
        if (recur_rnn_forward(rnn, &fwd) == RECUR_OK && backward) {
            recur_rnn_backward_args bwd = {dy, NULL, NULL, dx, NULL, NULL};
            recur_rnn_backward(rnn, &bwd);
        }
    }
    free(x), free(y), free(dy), free(dx);
}

#endif
