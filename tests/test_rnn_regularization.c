/* Regularization of the recurrent stack: dropout between layers, recurrent
 * (variational) dropout, zoneout and layer normalization.
 *  - finite-difference gradient checks in training mode with fixed masks
 *    (the mask generator's state is restored before every forward);
 *  - statistics of the masks, eval mode against the plain layer;
 *  - step-by-step references for zoneout and recurrent dropout built from
 *    the plain layer, and a layer-by-layer reference for dropout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "nn/rnn_internal.h"
#include "nn/rnn_pack.h"
#include "test_util.h"

#define EPS 1e-3f
#define TOLERANCE 1e-2
/* When the central difference with step 1e-3 disagrees, two more estimates
 * are tried and the best counts: step 3e-4, and the Richardson extrapolation
 * of the two (removes the O(eps^2) error where layer norm of a small-variance
 * vector makes the loss strongly curved). ReLU is piecewise linear, and an
 * interval straddling a kink is wrong by O(1): for ReLU also step 1e-4. A real
 * gradient bug disagrees at every step size. */
static int relu_case;

static void fill_uniform(recur_rng *rng, float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = recur_rng_uniform(rng, -scale, scale);
}

/* ------------------------------------------------------------------ */
/* Gradient checks                                                     */
/* ------------------------------------------------------------------ */

typedef struct problem {
    recur_rnn *rnn;
    uint64_t rng_state[4]; /* restored before every forward: the same masks */
    int T, B;
    float *input, *h0, *c0;
    int64_t *lengths;
    float *r_out, *r_h, *r_c;
    float *output, *h_n, *c_n;
    size_t in_n, out_n, state_n, cell_n;
} problem;

static double loss(problem *p)
{
    CHECK_OK(recur_rnn_set_rng_state(p->rnn, p->rng_state));
    recur_rnn_forward_args fwd = {p->T,      p->B,      p->input, p->lengths, p->h0,
                                  p->c0,     p->output, p->h_n,   p->cell_n ? p->c_n : NULL};
    if (recur_rnn_forward(p->rnn, &fwd) != RECUR_OK)
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

static double directional(problem *p, float *x, const float *saved, const signed char *v,
                          size_t n, float eps)
{
    for (size_t i = 0; i < n; i++)
        x[i] = saved[i] + eps * v[i];
    double plus = loss(p);
    for (size_t i = 0; i < n; i++)
        x[i] = saved[i] - eps * v[i];
    double minus = loss(p);
    memcpy(x, saved, n * sizeof(float));
    return (plus - minus) / (2.0 * eps);
}

static void check_direction(problem *p, const char *label, float *x, const float *grad, size_t n,
                            recur_rng *rng)
{
    float *saved = malloc(n * sizeof(float));
    signed char *v = malloc(n);
    memcpy(saved, x, n * sizeof(float));
    double analytic = 0.0;
    for (size_t i = 0; i < n; i++) {
        v[i] = (recur_rng_next(rng) >> 63) ? 1 : -1;
        analytic += (double)grad[i] * v[i];
    }
    double numeric = directional(p, x, saved, v, n, EPS);
#define REL_ERR(num) (fabs((num) - analytic) / fmax(fmax(fabs(num), fabs(analytic)), 1e-1))
    double err = REL_ERR(numeric);
    if (!(err <= TOLERANCE)) {
        const double d1 = numeric, d2 = directional(p, x, saved, v, n, EPS * 0.3f);
        double candidates[3] = {d2, d2 + (d2 - d1) * (0.09 / 0.91), NAN};
        if (relu_case)
            candidates[2] = directional(p, x, saved, v, n, EPS * 0.1f);
        for (int i = 0; i < 3; i++)
            if (REL_ERR(candidates[i]) < err)
                err = REL_ERR(candidates[i]), numeric = candidates[i];
    }
#undef REL_ERR
    test_checks++;
    if (!(err <= TOLERANCE)) {
        test_failures++;
        fprintf(stderr, "  %s: numeric %.6f analytic %.6f (error %.3g)\n", label, numeric,
                analytic, err);
    }
    free(saved);
    free(v);
}

static void gradcheck(const char *name, recur_rnn_config config, int training, int T, int B,
                      int use_lengths, int use_h0)
{
    relu_case = config.cell == RECUR_RNN_RELU;
    printf("gradcheck %s (%s)\n", name, training ? "training" : "eval");
    recur_rng rng;
    recur_rng_seed(&rng, 777);
    problem p = {0};
    p.T = T, p.B = B;
    CHECK_OK(recur_rnn_create(&config, 42, &p.rnn));
    if (!p.rnn)
        return;
    recur_rnn_set_training(p.rnn, training);
    recur_rnn_get_rng_state(p.rnn, p.rng_state);
    /* Layer-norm gains and shifts away from 1 and 0, so that they matter.
     * W_hh is scaled up: LN of a W_hh h with tiny variance (small or mostly
     * dropped h) is too curved for finite differences in float32. */
    for (int i = 0; i < recur_rnn_param_count(p.rnn); i++) {
        recur_param prm;
        CHECK_OK(recur_rnn_param(p.rnn, i, &prm));
        if (strncmp(prm.name, "layer_norm_", 11) == 0)
            for (size_t j = 0; j < prm.numel; j++)
                prm.value[j] += recur_rng_uniform(&rng, -0.3f, 0.3f);
        if (config.layer_norm && strncmp(prm.name, "weight_hh", 9) == 0)
            for (size_t j = 0; j < prm.numel; j++)
                prm.value[j] *= 4.0f;
    }
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

    CHECK(!isnan(loss(&p)));
    /* Padding stays zero. */
    if (p.lengths) {
        int zero = 1;
        const int F = (int)(p.out_n / ((size_t)T * B));
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++)
                if (t >= p.lengths[b])
                    for (int k = 0; k < F; k++) {
                        size_t at = config.batch_first ? ((size_t)b * T + t) * F + k
                                                       : ((size_t)t * B + b) * F + k;
                        zero &= p.output[at] == 0.0f;
                    }
        CHECK(zero);
    }
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

static recur_rnn_config reg_config(recur_cell cell, int layers, int bidir, float dropout,
                                   float rec, float zone, int ln)
{
    recur_rnn_config c = recur_rnn_config_default(cell, 4, 5);
    c.num_layers = layers;
    c.bidirectional = bidir;
    c.dropout = dropout;
    c.recurrent_dropout = rec;
    c.zoneout = zone;
    c.layer_norm = ln;
    return c;
}

static void gradchecks(void)
{
    static const struct {
        const char *name;
        recur_cell cell;
    } cells[] = {{"rnn_tanh", RECUR_RNN_TANH}, {"rnn_relu", RECUR_RNN_RELU},
                 {"lstm", RECUR_LSTM},         {"gru", RECUR_GRU}};
    char name[128];
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        recur_cell cell = cells[i].cell;
        snprintf(name, sizeof name, "%s dropout 2 layers bidir lengths h0", cells[i].name);
        gradcheck(name, reg_config(cell, 2, 1, 0.4f, 0, 0, 0), 1, 6, 4, 1, 1);
        snprintf(name, sizeof name, "%s recurrent_dropout bidir lengths h0", cells[i].name);
        gradcheck(name, reg_config(cell, 1, 1, 0, 0.4f, 0, 0), 1, 6, 4, 1, 1);
        snprintf(name, sizeof name, "%s zoneout bidir lengths h0", cells[i].name);
        gradcheck(name, reg_config(cell, 1, 1, 0, 0, 0.4f, 0), 1, 6, 4, 1, 1);
        snprintf(name, sizeof name, "%s zoneout 2 layers", cells[i].name);
        gradcheck(name, reg_config(cell, 2, 0, 0, 0, 0.3f, 0), 0, 5, 3, 0, 1);
        snprintf(name, sizeof name, "%s all three 3 layers bidir lengths h0", cells[i].name);
        gradcheck(name, reg_config(cell, 3, 1, 0.3f, 0.3f, 0.3f, 0), 1, 6, 4, 1, 1);
    }
    recur_rnn_config c = reg_config(RECUR_LSTM, 2, 1, 0.3f, 0.3f, 0.3f, 0);
    c.proj_size = 3, c.batch_first = 1;
    gradcheck("lstm proj all three 2 layers bidir batch_first lengths h0 c0", c, 1, 6, 4, 1, 1);
    gradcheck("lstm proj all three (eval)", c, 0, 6, 4, 1, 1);
    c.bias = 0;
    gradcheck("lstm proj all three no bias", c, 1, 5, 3, 0, 1);

    /* Layer normalization, alone and with everything else. */
    gradcheck("lstm layer_norm", reg_config(RECUR_LSTM, 1, 0, 0, 0, 0, 1), 0, 5, 3, 0, 0);
    gradcheck("lstm layer_norm 2 layers bidir lengths h0 c0",
              reg_config(RECUR_LSTM, 2, 1, 0, 0, 0, 1), 0, 6, 4, 1, 1);
    gradcheck("gru layer_norm", reg_config(RECUR_GRU, 1, 0, 0, 0, 0, 1), 0, 5, 3, 0, 0);
    gradcheck("gru layer_norm 2 layers bidir lengths h0",
              reg_config(RECUR_GRU, 2, 1, 0, 0, 0, 1), 0, 6, 4, 1, 1);
    c = reg_config(RECUR_LSTM, 2, 1, 0.3f, 0.3f, 0.3f, 1);
    c.batch_first = 1;
    gradcheck("lstm layer_norm all three 2 layers bidir batch_first lengths h0 c0", c, 1, 6, 4,
              1, 1);
    c.bias = 0;
    gradcheck("lstm layer_norm all three no bias", c, 1, 5, 3, 1, 1);
    c = reg_config(RECUR_GRU, 2, 1, 0.3f, 0.3f, 0.3f, 1);
    gradcheck("gru layer_norm all three 2 layers bidir lengths h0", c, 1, 6, 4, 1, 1);
    gradcheck("gru layer_norm all three (eval)", c, 0, 6, 4, 1, 1);
    c.bias = 0;
    gradcheck("gru layer_norm all three no bias", c, 1, 5, 3, 1, 1);
}

/* ------------------------------------------------------------------ */
/* Configuration and generator state                                   */
/* ------------------------------------------------------------------ */

static void api_checks(void)
{
    recur_rnn *rnn = NULL;
    recur_rnn_config c = recur_rnn_config_default(RECUR_LSTM, 3, 4);
    CHECK(c.dropout == 0.0f && c.recurrent_dropout == 0.0f && c.zoneout == 0.0f &&
          c.layer_norm == 0);
    const float bad[] = {-0.1f, 1.0f, 1.5f, NAN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        recur_rnn_config b = c;
        b.dropout = bad[i];
        CHECK_STATUS(recur_rnn_create(&b, 1, &rnn), RECUR_E_INVALID);
        b = c, b.recurrent_dropout = bad[i];
        CHECK_STATUS(recur_rnn_create(&b, 1, &rnn), RECUR_E_INVALID);
        b = c, b.zoneout = bad[i];
        CHECK_STATUS(recur_rnn_create(&b, 1, &rnn), RECUR_E_INVALID);
    }
    recur_rnn_config b = recur_rnn_config_default(RECUR_RNN_TANH, 3, 4);
    b.layer_norm = 1;
    CHECK_STATUS(recur_rnn_create(&b, 1, &rnn), RECUR_E_INVALID);
    CHECK(strstr(recur_last_error(), "layer_norm") != NULL);
    b = c, b.layer_norm = 1, b.proj_size = 2;
    CHECK_STATUS(recur_rnn_create(&b, 1, &rnn), RECUR_E_INVALID);
    b = c, b.layer_norm = 2;
    CHECK_STATUS(recur_rnn_create(&b, 1, &rnn), RECUR_E_INVALID);

    /* Layer-norm parameters: names, order, sizes and initial values. */
    b = recur_rnn_config_default(RECUR_LSTM, 3, 4);
    b.layer_norm = 1, b.bidirectional = 1;
    CHECK_OK(recur_rnn_create(&b, 5, &rnn));
    if (rnn) {
        static const char *names[] = {
            "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
            "layer_norm_ih_weight_l0", "layer_norm_ih_bias_l0", "layer_norm_hh_weight_l0",
            "layer_norm_hh_bias_l0", "layer_norm_c_weight_l0", "layer_norm_c_bias_l0",
            "weight_ih_l0_reverse"};
        CHECK(recur_rnn_param_count(rnn) == 20);
        for (int i = 0; i < 11; i++) {
            recur_param p;
            CHECK_OK(recur_rnn_param(rnn, i, &p));
            CHECK(strcmp(p.name, names[i]) == 0);
        }
        recur_param p;
        CHECK_OK(recur_rnn_find_param(rnn, "layer_norm_c_weight_l0_reverse", &p));
        CHECK(p.numel == 4 && p.value[0] == 1.0f && p.value[3] == 1.0f);
        CHECK_OK(recur_rnn_find_param(rnn, "layer_norm_hh_bias_l0", &p));
        CHECK(p.numel == 16 && p.value[0] == 0.0f);
        /* The usual parameters equal those of the same seed without layer norm. */
        recur_rnn *plain = NULL;
        recur_rnn_config pc = b;
        pc.layer_norm = 0;
        CHECK_OK(recur_rnn_create(&pc, 5, &plain));
        recur_param a, q;
        CHECK_OK(recur_rnn_find_param(rnn, "bias_hh_l0_reverse", &a));
        CHECK_OK(recur_rnn_find_param(plain, "bias_hh_l0_reverse", &q));
        CHECK(memcmp(a.value, q.value, a.numel * sizeof(float)) == 0);
        recur_rnn_free(plain);
        recur_rnn_free(rnn);
    }
    b = recur_rnn_config_default(RECUR_GRU, 3, 4);
    b.layer_norm = 1;
    CHECK_OK(recur_rnn_create(&b, 5, &rnn));
    if (rnn) {
        recur_param p;
        CHECK(recur_rnn_param_count(rnn) == 8);
        CHECK_STATUS(recur_rnn_find_param(rnn, "layer_norm_c_weight_l0", &p), RECUR_E_SHAPE);
        recur_rnn_free(rnn);
    }

    /* Generator state: distinct from the init stream, resumable, never zero. */
    recur_rnn *x = NULL, *y = NULL;
    CHECK_OK(recur_rnn_create(&c, 9, &x));
    CHECK_OK(recur_rnn_create(&c, 9, &y));
    if (x && y) {
        uint64_t sx[4], sy[4], zero[4] = {0, 0, 0, 0};
        recur_rng init;
        recur_rng_seed(&init, 9);
        recur_rnn_get_rng_state(x, sx);
        recur_rnn_get_rng_state(y, sy);
        CHECK(memcmp(sx, sy, sizeof sx) == 0);
        CHECK(memcmp(sx, init.state, sizeof sx) != 0);
        CHECK_STATUS(recur_rnn_set_rng_state(x, zero), RECUR_E_INVALID);
        CHECK(!recur_rnn_is_training(x));
        recur_rnn_set_training(x, 1);
        CHECK(recur_rnn_is_training(x));
    }
    recur_rnn_free(x);
    recur_rnn_free(y);
}

/* ------------------------------------------------------------------ */
/* Statistics and eval mode                                            */
/* ------------------------------------------------------------------ */

/* Fraction of nonzero entries must be near `keep` (5 sigma), every nonzero
 * entry exactly `value`. */
static void check_mask(const char *what, const float *mask, size_t n, double keep, float value)
{
    CHECK(mask != NULL);
    if (!mask)
        return;
    size_t kept = 0, wrong = 0;
    for (size_t i = 0; i < n; i++) {
        if (mask[i] != 0.0f) {
            kept++;
            wrong += mask[i] != value;
        }
    }
    double frac = (double)kept / (double)n, sigma = sqrt(keep * (1.0 - keep) / (double)n);
    printf("  %s: kept %.4f (expected %.4f +- %.4f) of %zu\n", what, frac, keep, sigma, n);
    CHECK(fabs(frac - keep) < 5.0 * sigma);
    CHECK(wrong == 0);
}

static void run_forward(recur_rnn *rnn, int T, int B, const float *x, const int64_t *lengths,
                        float *out, float *h_n, float *c_n)
{
    recur_rnn_forward_args fwd = {T, B, x, lengths, NULL, NULL, out, h_n, c_n};
    CHECK_OK(recur_rnn_forward(rnn, &fwd));
}

static void statistics(void)
{
    printf("statistics\n");
    const int T = 20, B = 64, I = 8, H = 32;
    recur_rng rng;
    recur_rng_seed(&rng, 99);
    float *x = malloc(sizeof(float) * T * B * I);
    fill_uniform(&rng, x, (size_t)T * B * I, 1.0f);
    recur_rnn_config c = recur_rnn_config_default(RECUR_LSTM, I, H);
    c.num_layers = 2, c.bidirectional = 1;
    recur_rnn *plain = NULL, *reg = NULL;
    CHECK_OK(recur_rnn_create(&c, 3, &plain));
    c.dropout = 0.3f, c.recurrent_dropout = 0.6f, c.zoneout = 0.2f;
    CHECK_OK(recur_rnn_create(&c, 3, &reg));
    if (!plain || !reg)
        return;
    size_t out_n = recur_rnn_output_numel(plain, T, B), st_n = recur_rnn_state_numel(plain, B);
    size_t cell_n = recur_rnn_cell_state_numel(plain, B);
    float *o1 = malloc(sizeof(float) * out_n), *o2 = malloc(sizeof(float) * out_n);
    float *h1 = malloc(sizeof(float) * st_n), *h2 = malloc(sizeof(float) * st_n);
    float *c1 = malloc(sizeof(float) * cell_n), *c2 = malloc(sizeof(float) * cell_n);

    recur_rnn_set_training(reg, 1);
    run_forward(reg, T, B, x, NULL, o1, h1, c1);
    const size_t N = (size_t)T * B;
    check_mask("dropout", rnn_internal_dropout_mask(reg, 0), N * 2 * H, 0.7, 1.0f / (1.0f - 0.3f));
    CHECK(rnn_internal_dropout_mask(reg, 1) == NULL); /* never after the last layer */
    for (int g = 0; g < 4; g++)
        check_mask("recurrent dropout", rnn_internal_recurrent_mask(reg, g / 2, g % 2),
                   (size_t)B * H, 0.4, 1.0f / (1.0f - 0.6f));
    check_mask("zoneout h", rnn_internal_zoneout_mask(reg, 1, 1, 0), N * H, 0.2, 1.0f);
    check_mask("zoneout c", rnn_internal_zoneout_mask(reg, 0, 0, 1), N * H, 0.2, 1.0f);
    /* Independent masks: zoneout of h and c agree no more than chance. */
    const float *zh = rnn_internal_zoneout_mask(reg, 0, 0, 0), *zc = rnn_internal_zoneout_mask(reg, 0, 0, 1);
    size_t both = 0;
    for (size_t i = 0; zh && zc && i < N * H; i++)
        both += zh[i] != 0.0f && zc[i] != 0.0f;
    CHECK(fabs((double)both / (double)(N * H) - 0.04) < 5.0 * sqrt(0.04 * 0.96 / (double)(N * H)));

    /* A second forward draws new masks; restoring the state repeats the first. */
    uint64_t state[4];
    recur_rnn_get_rng_state(reg, state);
    run_forward(reg, T, B, x, NULL, o2, h2, c2);
    CHECK(memcmp(o1, o2, sizeof(float) * out_n) != 0);
    float *o3 = malloc(sizeof(float) * out_n);
    CHECK_OK(recur_rnn_set_rng_state(reg, state));
    run_forward(reg, T, B, x, NULL, o3, h2, c2);
    CHECK(memcmp(o2, o3, sizeof(float) * out_n) == 0);
    free(o3);

    /* Eval mode: dropout and recurrent dropout are the identity; without
     * zoneout the layer is the plain layer, bit for bit. */
    recur_rnn_free(reg);
    c.zoneout = 0.0f;
    CHECK_OK(recur_rnn_create(&c, 3, &reg));
    run_forward(plain, T, B, x, NULL, o1, h1, c1);
    run_forward(reg, T, B, x, NULL, o2, h2, c2);
    CHECK(memcmp(o1, o2, sizeof(float) * out_n) == 0);
    CHECK(memcmp(h1, h2, sizeof(float) * st_n) == 0);
    CHECK(memcmp(c1, c2, sizeof(float) * cell_n) == 0);
    CHECK(rnn_internal_dropout_mask(reg, 0) == NULL && rnn_internal_recurrent_mask(reg, 0, 0) == NULL);
    /* ... and training mode draws something that differs. */
    recur_rnn_set_training(reg, 1);
    run_forward(reg, T, B, x, NULL, o2, h2, c2);
    CHECK(memcmp(o1, o2, sizeof(float) * out_n) != 0);
    /* Training with all probabilities 0 is the plain layer too. */
    recur_rnn_free(reg);
    c.dropout = 0.0f, c.recurrent_dropout = 0.0f;
    CHECK_OK(recur_rnn_create(&c, 3, &reg));
    recur_rnn_set_training(reg, 1);
    run_forward(reg, T, B, x, NULL, o2, h2, c2);
    CHECK(memcmp(o1, o2, sizeof(float) * out_n) == 0);

    recur_rnn_free(plain);
    recur_rnn_free(reg);
    free(x), free(o1), free(o2), free(h1), free(h2), free(c1), free(c2);
}

/* ------------------------------------------------------------------ */
/* Step-by-step references from the plain layer                        */
/* ------------------------------------------------------------------ */

/* One-layer one-direction layer with zoneout and/or recurrent dropout
 * against T single steps of the plain layer (same seed, same weights):
 *   h~, c~ = plain step from (mask * h_prev, c_prev)
 *   h = d h_prev + (1 - d) h~,  c = d_c c_prev + (1 - d_c) c~. */
static void stepwise_reference(const char *name, recur_cell cell, float rec, float zone,
                               int training)
{
    const int T = 6, B = 5, I = 3, H = 7;
    recur_rng rng;
    recur_rng_seed(&rng, 5);
    recur_rnn_config c = recur_rnn_config_default(cell, I, H);
    recur_rnn *plain = NULL, *reg = NULL;
    CHECK_OK(recur_rnn_create(&c, 11, &plain));
    c.recurrent_dropout = rec, c.zoneout = zone;
    CHECK_OK(recur_rnn_create(&c, 11, &reg));
    if (!plain || !reg)
        return;
    recur_rnn_set_training(reg, training);
    const int lstm = cell == RECUR_LSTM;
    float *x = malloc(sizeof(float) * T * B * I), *out = malloc(sizeof(float) * T * B * H);
    float *h0 = malloc(sizeof(float) * B * H), *c0 = malloc(sizeof(float) * B * H);
    float *hn = malloc(sizeof(float) * B * H), *cn = malloc(sizeof(float) * B * H);
    fill_uniform(&rng, x, (size_t)T * B * I, 1.0f);
    fill_uniform(&rng, h0, (size_t)B * H, 0.5f);
    fill_uniform(&rng, c0, (size_t)B * H, 0.5f);
    recur_rnn_forward_args fwd = {T, B, x, NULL, h0, lstm ? c0 : NULL, out, hn, lstm ? cn : NULL};
    CHECK_OK(recur_rnn_forward(reg, &fwd));
    /* No lengths: packed row t*B + b is sequence b at step t. */
    const float *rmask = rnn_internal_recurrent_mask(reg, 0, 0);
    const float *zh = rnn_internal_zoneout_mask(reg, 0, 0, 0);
    const float *zc = rnn_internal_zoneout_mask(reg, 0, 0, 1);
    CHECK((rmask != NULL) == (rec > 0 && training));
    CHECK((zh != NULL) == (zone > 0) && (zc != NULL) == (zone > 0 && lstm));

    float *h = malloc(sizeof(float) * B * H), *cs = malloc(sizeof(float) * B * H);
    float *hin = malloc(sizeof(float) * B * H), *ht = malloc(sizeof(float) * B * H);
    float *ct = malloc(sizeof(float) * B * H), *step_out = malloc(sizeof(float) * B * H);
    memcpy(h, h0, sizeof(float) * B * H);
    memcpy(cs, c0, sizeof(float) * B * H);
    double worst = 0.0;
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < B * H; i++)
            hin[i] = rmask ? h[i] * rmask[i] : h[i];
        recur_rnn_forward_args step = {1,    B,  x + (size_t)t * B * I, NULL, hin,
                                       lstm ? cs : NULL, step_out, ht, lstm ? ct : NULL};
        CHECK_OK(recur_rnn_forward(plain, &step));
        for (int i = 0; i < B * H; i++) {
            const size_t at = (size_t)t * B * H + (size_t)i;
            float d = zh ? zh[at] : 0.0f;
            h[i] = d * h[i] + (1.0f - d) * ht[i];
            if (lstm) {
                float dc = zc ? zc[at] : 0.0f;
                cs[i] = dc * cs[i] + (1.0f - dc) * ct[i];
            }
        }
        double err = test_rel_error(out + (size_t)t * B * H, h, (size_t)B * H, 1e-3);
        if (err > worst)
            worst = err;
    }
    if (lstm) {
        double err = test_rel_error(cn, cs, (size_t)B * H, 1e-3);
        worst = err > worst ? err : worst;
    }
    printf("stepwise %s: worst error %.3g\n", name, worst);
    CHECK(worst < 1e-5);
    free(x), free(out), free(h0), free(c0), free(hn), free(cn), free(h), free(cs), free(hin);
    free(ht), free(ct), free(step_out);
    recur_rnn_free(plain);
    recur_rnn_free(reg);
}

/* ------------------------------------------------------------------ */
/* Dropout between layers: a 2-layer net against its layers run one by one */
/* ------------------------------------------------------------------ */

/* Copies the parameters of layer `layer` of src into the one-layer dst. */
static void copy_layer(recur_rnn *src, int layer, recur_rnn *dst)
{
    for (int i = 0; i < recur_rnn_param_count(dst); i++) {
        recur_param p, q;
        char name[64];
        CHECK_OK(recur_rnn_param(dst, i, &p));
        const char *suffix = strstr(p.name, "_l0");
        snprintf(name, sizeof name, "%.*s_l%d%s", (int)(suffix - p.name), p.name, layer,
                 suffix + 3);
        CHECK_OK(recur_rnn_find_param(src, name, &q));
        memcpy(p.value, q.value, p.numel * sizeof(float));
    }
}

static void compare_grads(recur_rnn *full, int layer, recur_rnn *part, double *worst)
{
    for (int i = 0; i < recur_rnn_param_count(part); i++) {
        recur_param p, q;
        char name[64];
        CHECK_OK(recur_rnn_param(part, i, &p));
        const char *suffix = strstr(p.name, "_l0");
        snprintf(name, sizeof name, "%.*s_l%d%s", (int)(suffix - p.name), p.name, layer,
                 suffix + 3);
        CHECK_OK(recur_rnn_find_param(full, name, &q));
        double err = test_rel_error(q.grad, p.grad, p.numel, 1e-3);
        *worst = err > *worst ? err : *worst;
    }
}

static void dropout_reference(recur_cell cell, int layer_norm)
{
    const int T = 6, B = 4, I = 3, H = 5, D = 2;
    const int64_t lengths[4] = {3, 6, 1, 5};
    const int lstm = cell == RECUR_LSTM;
    recur_rng rng;
    recur_rng_seed(&rng, 8);
    recur_rnn_config c = recur_rnn_config_default(cell, I, H);
    c.num_layers = 2, c.bidirectional = 1, c.dropout = 0.5f, c.layer_norm = layer_norm;
    recur_rnn *full = NULL, *first = NULL, *second = NULL;
    CHECK_OK(recur_rnn_create(&c, 21, &full));
    recur_rnn_config c1 = c;
    c1.num_layers = 1;
    CHECK_OK(recur_rnn_create(&c1, 1, &first));
    c1.input_size = D * H;
    CHECK_OK(recur_rnn_create(&c1, 1, &second));
    if (!full || !first || !second)
        return;
    copy_layer(full, 0, first);
    copy_layer(full, 1, second);
    recur_rnn_set_training(full, 1);

    const size_t in_n = (size_t)T * B * I, out_n = (size_t)T * B * D * H, st = (size_t)D * B * H;
    float *x = malloc(sizeof(float) * in_n), *h0 = malloc(sizeof(float) * 2 * st);
    float *c0 = malloc(sizeof(float) * 2 * st), *g_out = malloc(sizeof(float) * out_n);
    float *g_h = malloc(sizeof(float) * 2 * st), *g_c = malloc(sizeof(float) * 2 * st);
    fill_uniform(&rng, x, in_n, 1.0f);
    fill_uniform(&rng, h0, 2 * st, 0.5f);
    fill_uniform(&rng, c0, 2 * st, 0.5f);
    fill_uniform(&rng, g_out, out_n, 1.0f);
    fill_uniform(&rng, g_h, 2 * st, 1.0f);
    fill_uniform(&rng, g_c, 2 * st, 1.0f);

    /* The whole net. */
    float *out = calloc(out_n, sizeof(float)), *hn = calloc(2 * st, sizeof(float));
    float *cn = calloc(2 * st, sizeof(float)), *gx = calloc(in_n, sizeof(float));
    float *gh0 = calloc(2 * st, sizeof(float)), *gc0 = calloc(2 * st, sizeof(float));
    recur_rnn_forward_args fwd = {T, B, x, lengths, h0, lstm ? c0 : NULL, out, hn,
                                  lstm ? cn : NULL};
    CHECK_OK(recur_rnn_forward(full, &fwd));
    recur_rnn_backward_args bwd = {g_out, g_h, lstm ? g_c : NULL, gx, gh0, lstm ? gc0 : NULL};
    recur_rnn_zero_grad(full);
    CHECK_OK(recur_rnn_backward(full, &bwd));
    /* The mask, unpacked to [T, B, D*H] (zeros at padding). */
    const float *packed = rnn_internal_dropout_mask(full, 0);
    CHECK(packed != NULL);
    if (!packed)
        return;
    float *mask = malloc(sizeof(float) * out_n);
    recur_unpack_sequence(rnn_internal_plan(full), packed, D * H, 0, mask);
    size_t zeros = 0;
    for (size_t i = 0; i < rnn_internal_plan(full)->rows * (size_t)(D * H); i++)
        zeros += packed[i] == 0.0f;
    CHECK(zeros > 0);

    /* Layer by layer. */
    float *y1 = calloc(out_n, sizeof(float)), *x2 = calloc(out_n, sizeof(float));
    float *out2 = calloc(out_n, sizeof(float)), *hn2 = calloc(2 * st, sizeof(float));
    float *cn2 = calloc(2 * st, sizeof(float)), *gx2 = calloc(out_n, sizeof(float));
    float *gx1 = calloc(in_n, sizeof(float)), *gh02 = calloc(2 * st, sizeof(float));
    float *gc02 = calloc(2 * st, sizeof(float));
    recur_rnn_forward_args f1 = {T, B, x, lengths, h0, lstm ? c0 : NULL, y1, hn2,
                                 lstm ? cn2 : NULL};
    CHECK_OK(recur_rnn_forward(first, &f1));
    for (size_t i = 0; i < out_n; i++)
        x2[i] = y1[i] * mask[i];
    recur_rnn_forward_args f2 = {T, B, x2, lengths, h0 + st, lstm ? c0 + st : NULL, out2,
                                 hn2 + st, lstm ? cn2 + st : NULL};
    CHECK_OK(recur_rnn_forward(second, &f2));
    recur_rnn_zero_grad(first);
    recur_rnn_zero_grad(second);
    recur_rnn_backward_args b2 = {g_out, g_h + st, lstm ? g_c + st : NULL, gx2, gh02 + st,
                                  lstm ? gc02 + st : NULL};
    CHECK_OK(recur_rnn_backward(second, &b2));
    for (size_t i = 0; i < out_n; i++)
        gx2[i] *= mask[i];
    recur_rnn_backward_args b1 = {gx2, g_h, lstm ? g_c : NULL, gx1, gh02, lstm ? gc02 : NULL};
    CHECK_OK(recur_rnn_backward(first, &b1));

    double worst = 0.0, e;
    e = test_rel_error(out, out2, out_n, 1e-3), worst = e > worst ? e : worst;
    e = test_rel_error(hn, hn2, 2 * st, 1e-3), worst = e > worst ? e : worst;
    e = test_rel_error(gx, gx1, in_n, 1e-3), worst = e > worst ? e : worst;
    e = test_rel_error(gh0, gh02, 2 * st, 1e-3), worst = e > worst ? e : worst;
    if (lstm) {
        e = test_rel_error(cn, cn2, 2 * st, 1e-3), worst = e > worst ? e : worst;
        e = test_rel_error(gc0, gc02, 2 * st, 1e-3), worst = e > worst ? e : worst;
    }
    compare_grads(full, 0, first, &worst);
    compare_grads(full, 1, second, &worst);
    printf("dropout reference %s%s: worst error %.3g\n", lstm ? "lstm" : "gru",
           layer_norm ? " layer_norm" : "", worst);
    CHECK(worst < 1e-5);
    free(x), free(h0), free(c0), free(g_out), free(g_h), free(g_c), free(out), free(hn);
    free(cn), free(gx), free(gh0), free(gc0), free(mask), free(y1), free(x2), free(out2);
    free(hn2), free(cn2), free(gx2), free(gx1), free(gh02), free(gc02);
    recur_rnn_free(full), recur_rnn_free(first), recur_rnn_free(second);
}

int main(void)
{
    api_checks();
    statistics();
    stepwise_reference("rnn_tanh zoneout eval", RECUR_RNN_TANH, 0, 0.3f, 0);
    stepwise_reference("rnn_tanh zoneout + recurrent dropout training", RECUR_RNN_TANH, 0.4f,
                       0.3f, 1);
    stepwise_reference("lstm zoneout eval", RECUR_LSTM, 0, 0.3f, 0);
    stepwise_reference("lstm zoneout + recurrent dropout training", RECUR_LSTM, 0.4f, 0.3f, 1);
    stepwise_reference("lstm recurrent dropout training", RECUR_LSTM, 0.5f, 0, 1);
    stepwise_reference("gru zoneout eval", RECUR_GRU, 0, 0.3f, 0);
    stepwise_reference("gru zoneout training", RECUR_GRU, 0, 0.5f, 1);
    dropout_reference(RECUR_LSTM, 0);
    dropout_reference(RECUR_GRU, 0);
    dropout_reference(RECUR_LSTM, 1);
    gradchecks();
    return test_finish("test_rnn_regularization");
}
