/* Extreme shapes: T = 1, H = 1, B = 1 for every cell; a 100,000-step
 * sequence forward and backward; and sizes that must be refused clearly
 * (zero, negative, overflowing) rather than crash or allocate wildly. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* Forward and backward of one configuration; returns 1 when both succeed
 * with finite results. */
static int run(recur_cell cell, int input, int hidden, int T, int B)
{
    recur_rnn_config c = recur_rnn_config_default(cell, input, hidden);
    recur_rnn *rnn = NULL;
    if (recur_rnn_create(&c, 1, &rnn) != RECUR_OK)
        return 0;
    size_t in_n = (size_t)T * B * input, out_n = recur_rnn_output_numel(rnn, T, B);
    float *x = malloc(sizeof(float) * in_n), *y = malloc(sizeof(float) * out_n);
    float *dy = malloc(sizeof(float) * out_n), *dx = malloc(sizeof(float) * in_n);
    for (size_t i = 0; i < in_n; i++)
        x[i] = sinf((float)i * 0.37f);
    for (size_t i = 0; i < out_n; i++)
        dy[i] = 1.0f / (float)out_n;
    recur_rnn_forward_args fwd = {T, B, x, NULL, NULL, NULL, y, NULL, NULL};
    recur_rnn_backward_args bwd = {dy, NULL, NULL, dx, NULL, NULL};
    int good = recur_rnn_forward(rnn, &fwd) == RECUR_OK && all_finite(y, out_n) &&
               recur_rnn_backward(rnn, &bwd) == RECUR_OK && all_finite(dx, in_n) &&
               all_finite(recur_rnn_grad_data(rnn), recur_rnn_param_total(rnn));
    free(x), free(y), free(dy), free(dx);
    recur_rnn_free(rnn);
    return good;
}

int main(void)
{
    const recur_cell cells[4] = {RECUR_RNN_TANH, RECUR_RNN_RELU, RECUR_LSTM, RECUR_GRU};
    for (int k = 0; k < 4; k++) {
        CHECK(run(cells[k], 1, 1, 1, 1));
        CHECK(run(cells[k], 3, 2, 1, 1));
    }
    /* A long stream in one call: 100,000 steps of one sequence. */
    CHECK(run(RECUR_LSTM, 2, 3, 100000, 1));
    CHECK(run(RECUR_GRU, 2, 3, 100000, 1));

    /* Refused clearly. */
    recur_rnn_config c = recur_rnn_config_default(RECUR_LSTM, 4, 4);
    recur_rnn *rnn = NULL;
    c.hidden_size = 0;
    CHECK_STATUS(recur_rnn_create(&c, 1, &rnn), RECUR_E_INVALID);
    c.hidden_size = -5;
    CHECK_STATUS(recur_rnn_create(&c, 1, &rnn), RECUR_E_INVALID);
    c.hidden_size = 1 << 30;
    CHECK_STATUS(recur_rnn_create(&c, 1, &rnn), RECUR_E_INVALID);
    c = recur_rnn_config_default(RECUR_LSTM, 1 << 20, 1 << 20); /* 2^43 weights */
    recur_status st = recur_rnn_create(&c, 1, &rnn);
    CHECK(st == RECUR_E_NOMEM || st == RECUR_E_INVALID);
    CHECK(strlen(recur_last_error()) > 0);
    c = recur_rnn_config_default(RECUR_GRU, 2, 2);
    CHECK_OK(recur_rnn_create(&c, 1, &rnn));
    float x[4] = {0}, y[4] = {0};
    recur_rnn_forward_args zero_steps = {0, 1, x, NULL, NULL, NULL, y, NULL, NULL};
    CHECK_STATUS(recur_rnn_forward(rnn, &zero_steps), RECUR_E_SHAPE);
    recur_rnn_forward_args zero_batch = {1, 0, x, NULL, NULL, NULL, y, NULL, NULL};
    CHECK_STATUS(recur_rnn_forward(rnn, &zero_batch), RECUR_E_SHAPE);
    recur_rnn_forward_args huge = {INT32_MAX, INT32_MAX, x, NULL, NULL, NULL, y, NULL, NULL};
    CHECK_STATUS(recur_rnn_forward(rnn, &huge), RECUR_E_NOMEM);
    int64_t bad_length[1] = {5};
    recur_rnn_forward_args too_long = {2, 1, x, bad_length, NULL, NULL, y, NULL, NULL};
    CHECK_STATUS(recur_rnn_forward(rnn, &too_long), RECUR_E_SHAPE);
    recur_rnn_free(rnn);
    return test_finish("test_limits");
}
