/* The sequence-to-sequence forecaster: finite differences of every parameter
 * and the input through the teacher-forced pass (each cell, stacked layers,
 * LSTM projections), free-running inference against teacher forcing on its
 * own predictions, bad arguments, and the file round trip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

enum { W = 5, B = 3, C = 3, HID = 4, K = 2, HZ = 4 };

static float input[W * B * C], start[B * K], teacher[B * HZ * K], weights_out[B * HZ * K];

/* sum(result * weights_out), teacher-forced. */
static double net_loss(recur_seqdec *net)
{
    const float *result;
    CHECK_OK(recur_seqdec_forward(net, W, B, input, start, teacher, &result));
    double loss = 0;
    for (int k = 0; k < B * HZ * K; k++)
        loss += (double)result[k] * weights_out[k];
    return loss;
}

static void gradcheck(recur_cell cell, int layers, int proj)
{
    recur_seqdec_config c = recur_seqdec_config_default(cell, C, HID, K, HZ);
    c.rnn.num_layers = layers;
    c.rnn.proj_size = proj;
    recur_seqdec *net;
    CHECK_OK(recur_seqdec_create(&c, 11, &net));
    if (!net)
        return;
    float grad_input[W * B * C];
    net_loss(net);
    recur_seqdec_zero_grad(net);
    CHECK_OK(recur_seqdec_backward(net, weights_out, grad_input));
    /* ReLU has kinks: smaller steps */
    const double eps = cell == RECUR_RNN_RELU ? 1e-3 : 1e-2;
    double worst = 0;
    int seen_encoder = 0, seen_decoder = 0, seen_head = 0;
    for (int i = 0; i < recur_seqdec_param_count(net); i++) {
        recur_param p;
        CHECK_OK(recur_seqdec_param(net, i, &p));
        seen_encoder += !strncmp(p.name, "encoder.", 8);
        seen_decoder += !strncmp(p.name, "decoder.", 8);
        seen_head += !strncmp(p.name, "head.", 5);
        double param_worst = 0, grad_norm = 0;
        for (size_t k = 0; k < p.numel; k += 1 + p.numel / 9) {
            float saved = p.value[k];
            p.value[k] = saved + (float)eps;
            double plus = net_loss(net);
            p.value[k] = saved - (float)eps;
            double minus = net_loss(net);
            p.value[k] = saved;
            param_worst = fmax(param_worst, fabs((plus - minus) / (2 * eps) - p.grad[k]));
            grad_norm += fabs(p.grad[k]);
        }
        if (param_worst > 2e-3)
            fprintf(stderr, "seqdec gradcheck cell %d layers %d proj %d: %s worst %.3g\n",
                    (int)cell, layers, proj, p.name, param_worst);
        CHECK(grad_norm > 0); /* every parameter takes part */
        worst = fmax(worst, param_worst);
    }
    for (int k = 0; k < W * B * C; k += 2) {
        float saved = input[k];
        input[k] = saved + (float)eps;
        double plus = net_loss(net);
        input[k] = saved - (float)eps;
        double minus = net_loss(net);
        input[k] = saved;
        worst = fmax(worst, fabs((plus - minus) / (2 * eps) - grad_input[k]));
    }
    CHECK(seen_encoder > 0 && seen_decoder == seen_encoder && seen_head == 2);
    if (worst > 2e-3)
        fprintf(stderr, "seqdec gradcheck cell %d layers %d proj %d: worst %.3g\n", (int)cell,
                layers, proj, worst);
    CHECK(worst <= 2e-3);
    recur_seqdec_free(net);
}

/* Free running = teacher forcing with the model's own predictions as the
 * teacher; a different teacher changes every step but the first. */
static void check_free_running(recur_cell cell, int layers)
{
    recur_seqdec_config c = recur_seqdec_config_default(cell, C, HID, K, HZ);
    c.rnn.num_layers = layers;
    recur_seqdec *net;
    CHECK_OK(recur_seqdec_create(&c, 5, &net));
    if (!net)
        return;
    const float *result;
    float free_run[B * HZ * K], forced[B * HZ * K];
    CHECK_OK(recur_seqdec_forward(net, W, B, input, start, NULL, &result));
    memcpy(free_run, result, sizeof free_run);
    CHECK_STATUS(recur_seqdec_backward(net, weights_out, NULL), RECUR_E_STATE);
    CHECK_OK(recur_seqdec_forward(net, W, B, input, start, free_run, &result));
    memcpy(forced, result, sizeof forced);
    CHECK(test_rel_error(forced, free_run, B * HZ * K, 1e-3) < 1e-5);
    /* step by step: step h of a teacher-forced pass depends only on the
     * teacher's steps before h, so feeding each step's forecast back one
     * pass at a time builds the free-running forecast */
    float fed[B * HZ * K];
    for (int k = 0; k < B * HZ * K; k++)
        fed[k] = 1e3f; /* not read yet */
    for (int h = 0; h < HZ; h++) {
        CHECK_OK(recur_seqdec_forward(net, W, B, input, start, fed, &result));
        for (int b = 0; b < B; b++)
            memcpy(fed + (b * HZ + h) * K, result + (b * HZ + h) * K, K * sizeof(float));
    }
    CHECK(test_rel_error(fed, free_run, B * HZ * K, 1e-3) < 1e-5);
    CHECK_OK(recur_seqdec_forward(net, W, B, input, start, teacher, &result));
    int first_same = 1, later_differ = 1;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < HZ; h++)
            for (int k = 0; k < K; k++) {
                size_t at = (size_t)b * HZ * K + (size_t)h * K + k;
                if (h == 0)
                    first_same &= fabsf(result[at] - free_run[at]) < 1e-6f;
                else
                    later_differ &= result[at] != free_run[at];
            }
    CHECK(first_same && later_differ);
    /* a batch of one gives the same forecast as its row in the batch */
    float x1[W * C], s1[K];
    for (int t = 0; t < W; t++)
        memcpy(x1 + t * C, input + (t * B + 1) * C, C * sizeof(float));
    memcpy(s1, start + K, K * sizeof(float));
    CHECK_OK(recur_seqdec_forward(net, W, 1, x1, s1, NULL, &result));
    CHECK(test_rel_error(result, free_run + HZ * K, HZ * K, 1e-3) < 1e-5);
    recur_seqdec_free(net);
}

static void check_arguments(void)
{
    recur_seqdec *net = NULL;
    recur_seqdec_config c = recur_seqdec_config_default(RECUR_GRU, C, HID, K, HZ);
    c.rnn.bidirectional = 1;
    CHECK_STATUS(recur_seqdec_create(&c, 1, &net), RECUR_E_INVALID);
    c = recur_seqdec_config_default(RECUR_GRU, C, HID, 0, HZ);
    CHECK_STATUS(recur_seqdec_create(&c, 1, &net), RECUR_E_INVALID);
    c = recur_seqdec_config_default(RECUR_GRU, C, HID, K, 0);
    CHECK_STATUS(recur_seqdec_create(&c, 1, &net), RECUR_E_INVALID);
    CHECK(net == NULL);
    c = recur_seqdec_config_default(RECUR_GRU, C, HID, K, HZ);
    CHECK_OK(recur_seqdec_create(&c, 1, &net));
    const float *result;
    CHECK_STATUS(recur_seqdec_backward(net, weights_out, NULL), RECUR_E_STATE);
    CHECK_STATUS(recur_seqdec_forward(net, W, B, input, NULL, NULL, &result), RECUR_E_INVALID);
    CHECK_STATUS(recur_seqdec_forward(net, 0, B, input, start, NULL, &result), RECUR_E_INVALID);
    recur_seqdec_free(net);
}

static void check_file(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/seqdec.safetensors", dir);
    recur_seqdec_config c = recur_seqdec_config_default(RECUR_LSTM, C, HID, K, HZ);
    c.rnn.num_layers = 2;
    c.rnn.dropout = 0.25f;
    recur_seqdec *net, *back = NULL;
    CHECK_OK(recur_seqdec_create(&c, 3, &net));
    recur_st_writer *w;
    CHECK_OK(recur_st_writer_create(&w));
    CHECK_OK(recur_seqdec_write(net, w));
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);
    recur_st_file *f;
    CHECK_OK(recur_st_open(path, &f));
    CHECK_OK(recur_seqdec_read(f, &back));
    recur_seqnet *wrong = NULL;
    CHECK_STATUS(recur_seqnet_read(f, &wrong), RECUR_E_FORMAT);
    recur_st_close(f);
    if (!back) {
        recur_seqdec_free(net);
        return;
    }
    const recur_seqdec_config *bc = recur_seqdec_get_config(back);
    CHECK(bc->targets == K && bc->horizon == HZ && bc->rnn.cell == RECUR_LSTM &&
          bc->rnn.num_layers == 2 && bc->rnn.input_size == C && bc->rnn.hidden_size == HID &&
          fabsf(bc->rnn.dropout - 0.25f) < 1e-7f);
    CHECK(recur_seqdec_param_count(back) == recur_seqdec_param_count(net));
    for (int i = 0; i < recur_seqdec_param_count(net); i++) {
        recur_param a, b;
        CHECK_OK(recur_seqdec_param(net, i, &a));
        CHECK_OK(recur_seqdec_param(back, i, &b));
        CHECK(!strcmp(a.name, b.name) && a.numel == b.numel &&
              !memcmp(a.value, b.value, a.numel * sizeof(float)));
    }
    const float *r1, *r2;
    float first[B * HZ * K];
    CHECK_OK(recur_seqdec_forward(net, W, B, input, start, NULL, &r1));
    memcpy(first, r1, sizeof first);
    CHECK_OK(recur_seqdec_forward(back, W, B, input, start, NULL, &r2));
    CHECK(!memcmp(first, r2, sizeof first));
    recur_seqdec_free(net);
    recur_seqdec_free(back);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_seqdec SCRATCH_DIR\n");
        return 2;
    }
    for (int k = 0; k < W * B * C; k++)
        input[k] = (float)sin(0.7 * k + 0.3);
    for (int k = 0; k < B * K; k++)
        start[k] = (float)cos(1.3 * k);
    for (int k = 0; k < B * HZ * K; k++) {
        teacher[k] = (float)sin(0.9 * k + 1.0);
        weights_out[k] = (float)((k * 37) % 11) / 11.0f - 0.5f;
    }
    static const recur_cell cells[] = {RECUR_LSTM, RECUR_GRU, RECUR_RNN_TANH, RECUR_RNN_RELU};
    for (int i = 0; i < 4; i++) {
        gradcheck(cells[i], 1, 0);
        gradcheck(cells[i], 2, 0);
        check_free_running(cells[i], 2);
    }
    gradcheck(RECUR_LSTM, 2, 3);
    check_arguments();
    check_file(argv[1]);
    return test_finish("test_seqdec");
}
