/* Finite-difference checks of every gradient that backward returns.
 * For a scalar loss L = sum(output*R_out) + sum(h_n*R_h) + sum(c_n*R_c)
 * with random R, and for every parameter tensor and the input, h0 and c0,
 * the directional derivative along a random +-1 direction v,
 * (L(x + eps v) - L(x - eps v)) / 2 eps, must match sum(grad * v). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "test_util.h"

#define EPS 1e-3f
#define TOLERANCE 1e-2

typedef struct problem {
    recur_rnn *rnn;
    int T, B;
    float *input, *h0, *c0;
    int64_t *lengths;
    float *r_out, *r_h, *r_c; /* loss weights */
    float *output, *h_n, *c_n;
    size_t in_n, out_n, state_n, cell_n;
} problem;

static void fill_uniform(recur_rng *rng, float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = recur_rng_uniform(rng, -scale, scale);
}

static double loss(problem *p)
{
    recur_rnn_forward_args fwd = {p->T,      p->B,      p->input, p->lengths, p->h0,
                                  p->c0,     p->output, p->h_n,   p->cell_n ? p->c_n : NULL};
    recur_status st = recur_rnn_forward(p->rnn, &fwd);
    if (st != RECUR_OK)
        return NAN;
    double sum = 0.0;
    for (size_t i = 0; i < p->out_n; i++)
        sum += (double)p->output[i] * p->r_out[i];
    for (size_t i = 0; i < p->state_n; i++)
        sum += (double)p->h_n[i] * p->r_h[i];
    for (size_t i = 0; i < p->cell_n; i++)
        sum += (double)p->c_n[i] * p->r_c[i];
    return sum;
}

/* Compares the directional derivative of the loss w.r.t. x[n] with grad. */
static void check_direction(problem *p, const char *label, float *x, const float *grad, size_t n,
                            recur_rng *rng)
{
    float *saved = malloc(n * sizeof(float));
    memcpy(saved, x, n * sizeof(float));
    double analytic = 0.0;
    signed char *v = malloc(n);
    for (size_t i = 0; i < n; i++) {
        v[i] = (recur_rng_next(rng) >> 63) ? 1 : -1;
        analytic += (double)grad[i] * v[i];
    }
    for (size_t i = 0; i < n; i++)
        x[i] = saved[i] + EPS * v[i];
    double plus = loss(p);
    for (size_t i = 0; i < n; i++)
        x[i] = saved[i] - EPS * v[i];
    double minus = loss(p);
    memcpy(x, saved, n * sizeof(float));
    double numeric = (plus - minus) / (2.0 * EPS);
    double scale = fmax(fmax(fabs(numeric), fabs(analytic)), 1e-1);
    double err = fabs(numeric - analytic) / scale;
    test_checks++;
    if (!(err <= TOLERANCE)) {
        test_failures++;
        fprintf(stderr, "  %s: numeric %.6f analytic %.6f (error %.3g)\n", label, numeric,
                analytic, err);
    }
    free(saved);
    free(v);
}

static void run_config(const char *name, recur_rnn_config config, int T, int B, int use_lengths,
                       int use_h0)
{
    printf("%s\n", name);
    recur_rng rng;
    recur_rng_seed(&rng, 1234);
    problem p = {0};
    p.T = T;
    p.B = B;
    CHECK_OK(recur_rnn_create(&config, 42, &p.rnn));
    if (!p.rnn)
        return;
    p.in_n = (size_t)T * B * config.input_size;
    p.out_n = recur_rnn_output_numel(p.rnn, T, B);
    p.state_n = recur_rnn_state_numel(p.rnn, B);
    p.cell_n = recur_rnn_cell_state_numel(p.rnn, B);
    p.input = malloc(p.in_n * sizeof(float));
    fill_uniform(&rng, p.input, p.in_n, 1.0f);
    if (use_h0) {
        p.h0 = malloc(p.state_n * sizeof(float));
        fill_uniform(&rng, p.h0, p.state_n, 0.5f);
        if (p.cell_n) {
            p.c0 = malloc(p.cell_n * sizeof(float));
            fill_uniform(&rng, p.c0, p.cell_n, 0.5f);
        }
    }
    if (use_lengths) {
        p.lengths = malloc(sizeof(int64_t) * B);
        for (int b = 0; b < B; b++)
            p.lengths[b] = 1 + (int64_t)(recur_rng_next(&rng) % (uint64_t)T);
        p.lengths[B / 2] = T;
    }
    p.r_out = malloc(p.out_n * sizeof(float));
    p.r_h = malloc(p.state_n * sizeof(float));
    p.r_c = malloc((p.cell_n + 1) * sizeof(float));
    fill_uniform(&rng, p.r_out, p.out_n, 1.0f);
    fill_uniform(&rng, p.r_h, p.state_n, 1.0f);
    fill_uniform(&rng, p.r_c, p.cell_n, 1.0f);
    p.output = malloc(p.out_n * sizeof(float));
    p.h_n = malloc(p.state_n * sizeof(float));
    p.c_n = malloc((p.cell_n + 1) * sizeof(float));

    /* Analytic gradients. */
    CHECK(!isnan(loss(&p)));
    float *grad_input = calloc(p.in_n, sizeof(float));
    float *grad_h0 = calloc(p.state_n, sizeof(float));
    float *grad_c0 = calloc(p.cell_n + 1, sizeof(float));
    recur_rnn_backward_args bwd = {p.r_out,    p.r_h,   p.cell_n ? p.r_c : NULL,
                                   grad_input, grad_h0, p.cell_n ? grad_c0 : NULL};
    recur_rnn_zero_grad(p.rnn);
    CHECK_OK(recur_rnn_backward(p.rnn, &bwd));
    size_t total = recur_rnn_param_total(p.rnn);
    float *param_grads = malloc(total * sizeof(float));
    memcpy(param_grads, recur_rnn_grad_data(p.rnn), total * sizeof(float));

    check_direction(&p, "input", p.input, grad_input, p.in_n, &rng);
    if (p.h0)
        check_direction(&p, "h0", p.h0, grad_h0, p.state_n, &rng);
    if (p.c0)
        check_direction(&p, "c0", p.c0, grad_c0, p.cell_n, &rng);
    size_t offset = 0;
    for (int i = 0; i < recur_rnn_param_count(p.rnn); i++) {
        recur_param param;
        CHECK_OK(recur_rnn_param(p.rnn, i, &param));
        check_direction(&p, param.name, param.value, param_grads + offset, param.numel, &rng);
        offset += param.numel;
    }
    free(param_grads), free(grad_input), free(grad_h0), free(grad_c0);
    free(p.input), free(p.h0), free(p.c0), free(p.lengths), free(p.r_out), free(p.r_h);
    free(p.r_c), free(p.output), free(p.h_n), free(p.c_n);
    recur_rnn_free(p.rnn);
}

int main(void)
{
    recur_rnn_config c;

    c = recur_rnn_config_default(RECUR_RNN_TANH, 4, 6);
    run_config("rnn tanh", c, 5, 3, 0, 0);
    c.num_layers = 2, c.bidirectional = 1;
    run_config("rnn tanh 2 layers bidirectional lengths h0", c, 6, 4, 1, 1);

    c = recur_rnn_config_default(RECUR_RNN_RELU, 4, 6);
    c.num_layers = 2, c.bidirectional = 1, c.batch_first = 1;
    run_config("rnn relu 2 layers bidirectional batch_first lengths h0", c, 5, 3, 1, 1);

    c = recur_rnn_config_default(RECUR_LSTM, 4, 5);
    run_config("lstm", c, 5, 3, 0, 0);
    c.num_layers = 2, c.bidirectional = 1, c.batch_first = 1;
    run_config("lstm 2 layers bidirectional batch_first lengths h0 c0", c, 6, 4, 1, 1);
    c.proj_size = 3;
    run_config("lstm projection 2 layers bidirectional lengths h0 c0", c, 6, 4, 1, 1);
    c.bias = 0;
    run_config("lstm projection no bias", c, 4, 2, 0, 1);

    c = recur_rnn_config_default(RECUR_GRU, 4, 5);
    run_config("gru", c, 5, 3, 0, 0);
    c.num_layers = 3, c.bidirectional = 1;
    run_config("gru 3 layers bidirectional lengths h0", c, 6, 4, 1, 1);
    c.bias = 0, c.num_layers = 1;
    run_config("gru no bias lengths", c, 5, 3, 1, 1);

    return test_finish("test_rnn_gradcheck");
}
