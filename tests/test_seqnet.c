/* The sequence-to-vector network: pooling checked against the stack's own
 * outputs, finite differences of every parameter and the input for each
 * pooling with lengths and both directions, and the file round trip. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "train/seqnet_pool.h"
#include "test_util.h"

enum { T = 6, B = 4, I = 3, H = 5, O = 2 };

static float input[T * B * I], weights_out[B * O];
static const int64_t lengths[B] = {6, 2, 4, 1};

/* sum(result * weights_out): a scalar loss with a known gradient. */
static double net_loss(recur_seqnet *net, const int64_t *lens)
{
    const float *result;
    CHECK_OK(recur_seqnet_forward(net, T, B, input, lens, &result));
    double loss = 0;
    for (int k = 0; k < B * O; k++)
        loss += (double)result[k] * weights_out[k];
    return loss;
}

/* The pooled vector recomputed from recur_rnn_forward's outputs. */
static void check_pooling(recur_seqnet *net, const int64_t *lens)
{
    const recur_seqnet_config *c = recur_seqnet_get_config(net);
    int dirs = c->rnn.bidirectional ? 2 : 1, F = dirs * H;
    float output[T * B * 2 * H], h_n[4 * B * H], pooled[B * 2 * H], expected[B * O];
    recur_rnn_forward_args fwd = {T, B, input, lens, NULL, NULL, output, h_n, NULL};
    CHECK_OK(recur_rnn_forward(recur_seqnet_rnn(net), &fwd));
    /* attention pooling: w_t = softmax(v . tanh(W_k h_t + W_q 1 + b)) over valid t */
    double attn[B][T];
    if (c->pool == RECUR_POOL_ATTENTION) {
        recur_param wq, bq, wk, v;
        CHECK_OK(recur_seqnet_param(net, recur_seqnet_param_count(net) - 6, &wq));
        CHECK_OK(recur_seqnet_param(net, recur_seqnet_param_count(net) - 5, &bq));
        CHECK_OK(recur_seqnet_param(net, recur_seqnet_param_count(net) - 4, &wk));
        CHECK_OK(recur_seqnet_param(net, recur_seqnet_param_count(net) - 3, &v));
        CHECK(!strcmp(wq.name, "pool.query.weight") && !strcmp(v.name, "pool.v.weight"));
        for (int b = 0; b < B; b++) {
            int steps = lens ? (int)lens[b] : T;
            double total = 0, max = -INFINITY;
            for (int t = 0; t < steps; t++) {
                double score = 0;
                for (int j = 0; j < F; j++) {
                    double e = wq.value[j] + bq.value[j];
                    for (int f = 0; f < F; f++)
                        e += (double)wk.value[j * F + f] * output[(t * B + b) * F + f];
                    score += v.value[j] * tanh(e);
                }
                attn[b][t] = score, max = fmax(max, score);
            }
            for (int t = 0; t < steps; t++)
                total += attn[b][t] = exp(attn[b][t] - max);
            for (int t = 0; t < steps; t++)
                attn[b][t] /= total;
        }
    }
    for (int b = 0; b < B; b++) {
        int steps = lens ? (int)lens[b] : T;
        for (int f = 0; f < F; f++) {
            double v;
            if (c->pool == RECUR_POOL_ATTENTION) {
                v = 0;
                for (int t = 0; t < steps; t++)
                    v += attn[b][t] * output[(t * B + b) * F + f];
            } else if (c->pool == RECUR_POOL_LAST) /* forward: last valid step; reverse: step 0 */
                v = output[((f < H ? steps - 1 : 0) * B + b) * F + f];
            else {
                v = c->pool == RECUR_POOL_MEAN ? 0 : -INFINITY;
                for (int t = 0; t < steps; t++) {
                    double x = output[(t * B + b) * F + f];
                    v = c->pool == RECUR_POOL_MEAN ? v + x / steps : fmax(v, x);
                }
            }
            pooled[b * F + f] = (float)v;
        }
    }
    recur_param w, bias;
    int n = recur_seqnet_param_count(net);
    CHECK_OK(recur_seqnet_param(net, n - 2, &w));
    CHECK_OK(recur_seqnet_param(net, n - 1, &bias));
    for (int b = 0; b < B; b++)
        for (int o = 0; o < O; o++) {
            double sum = bias.value[o];
            for (int f = 0; f < F; f++)
                sum += (double)w.value[o * F + f] * pooled[b * F + f];
            expected[b * O + o] = (float)sum;
        }
    const float *result;
    CHECK_OK(recur_seqnet_forward(net, T, B, input, lens, &result));
    CHECK(test_rel_error(result, expected, B * O, 1e-3) < 1e-5);
    const float *weights = recur_seqnet_attention_weights(net);
    CHECK((weights != NULL) == (c->pool == RECUR_POOL_ATTENTION));
    for (int b = 0; weights && b < B; b++)
        for (int t = 0; t < T; t++)
            CHECK(fabs(weights[b * T + t] - (t < (lens ? lens[b] : T) ? attn[b][t] : 0)) < 1e-6);
}

static void gradcheck(recur_cell cell, recur_pool pool, int bidirectional, int layers,
                      const int64_t *lens)
{
    recur_seqnet_config c = recur_seqnet_config_default(cell, I, H, O);
    c.rnn.bidirectional = bidirectional;
    c.rnn.num_layers = layers;
    c.pool = pool;
    recur_seqnet *net;
    CHECK_OK(recur_seqnet_create(&c, 7, &net));
    if (!net)
        return;
    check_pooling(net, lens);
    float grad_input[T * B * I];
    net_loss(net, lens);
    recur_seqnet_zero_grad(net);
    CHECK_OK(recur_seqnet_backward(net, weights_out, grad_input));
    /* max pooling has kinks where the argmax changes: smaller steps */
    const double eps = pool == RECUR_POOL_MAX ? 1e-3 : 1e-2;
    double worst = 0;
    for (int i = 0; i < recur_seqnet_param_count(net); i++) {
        recur_param p;
        CHECK_OK(recur_seqnet_param(net, i, &p));
        for (size_t k = 0; k < p.numel; k += 1 + p.numel / 7) {
            float saved = p.value[k];
            p.value[k] = saved + (float)eps;
            double plus = net_loss(net, lens);
            p.value[k] = saved - (float)eps;
            double minus = net_loss(net, lens);
            p.value[k] = saved;
            worst = fmax(worst, fabs((plus - minus) / (2 * eps) - p.grad[k]));
        }
    }
    for (int k = 0; k < T * B * I; k += 5) {
        float saved = input[k];
        input[k] = saved + (float)eps;
        double plus = net_loss(net, lens);
        input[k] = saved - (float)eps;
        double minus = net_loss(net, lens);
        input[k] = saved;
        double numeric = (plus - minus) / (2 * eps);
        int padding = lens && (k / I) / B >= lens[(k / I) % B];
        CHECK(!padding || grad_input[k] == 0.0f);
        worst = fmax(worst, fabs(numeric - grad_input[k]));
    }
    if (worst > 2e-3)
        fprintf(stderr, "seqnet gradcheck cell %d pool %d bidir %d: worst %.3g\n", (int)cell,
                (int)pool, bidirectional, worst);
    CHECK(worst <= 2e-3);
    recur_seqnet_free(net);
}

/* Token ids through the embedding: finite differences of every parameter. */
static void gradcheck_ids(void)
{
    enum { V = 9 };
    recur_seqnet_config c = recur_seqnet_config_default(RECUR_GRU, I, H, O);
    c.vocab_size = V, c.padding_idx = 0, c.pool = RECUR_POOL_MEAN;
    c.input_dropout = 0.3f, c.rnn.recurrent_dropout = 0.2f;
    recur_seqnet *net;
    CHECK_OK(recur_seqnet_create(&c, 5, &net));
    if (!net)
        return;
    int64_t ids[T * B];
    for (int k = 0; k < T * B; k++)
        ids[k] = (k * 7 + 3) % V;
    /* training mode with input and recurrent dropout; the same masks every call */
    recur_seqnet_set_training(net, 1);
    uint64_t rng[8];
    recur_seqnet_get_rng_state(net, rng);
    const float *result;
    CHECK_OK(recur_seqnet_forward_ids(net, T, B, ids, lengths, &result));
    recur_seqnet_zero_grad(net);
    CHECK_OK(recur_seqnet_backward(net, weights_out, NULL));
    double worst = 0;
    for (int i = 0; i < recur_seqnet_param_count(net); i++) {
        recur_param p;
        CHECK_OK(recur_seqnet_param(net, i, &p));
        CHECK(i != 0 || !strcmp(p.name, "embedding.weight"));
        /* row 0 is the padding row: no gradient, as PyTorch's padding_idx */
        for (size_t k = i == 0 ? I : 0; k < p.numel; k += 1 + p.numel / 11) {
            float saved = p.value[k];
            double loss[2];
            for (int side = 0; side < 2; side++) {
                p.value[k] = saved + (side ? -1e-2f : 1e-2f);
                CHECK_OK(recur_seqnet_set_rng_state(net, rng));
                CHECK_OK(recur_seqnet_forward_ids(net, T, B, ids, lengths, &result));
                loss[side] = 0;
                for (int j = 0; j < B * O; j++)
                    loss[side] += (double)result[j] * weights_out[j];
            }
            p.value[k] = saved;
            double e = fabs((loss[0] - loss[1]) / 2e-2 - p.grad[k]);
            if (e > 2e-3)
                fprintf(stderr, "ids gradcheck %s[%zu]: numeric %.6g analytic %.6g\n", p.name, k,
                        (loss[0] - loss[1]) / 2e-2, p.grad[k]);
            worst = fmax(worst, e);
        }
    }
    CHECK(worst <= 2e-3);
    /* without restoring the generators the masks change */
    double again = 0, first = 0;
    CHECK_OK(recur_seqnet_set_rng_state(net, rng));
    CHECK_OK(recur_seqnet_forward_ids(net, T, B, ids, lengths, &result));
    for (int j = 0; j < B * O; j++)
        first += result[j];
    CHECK_OK(recur_seqnet_forward_ids(net, T, B, ids, lengths, &result));
    for (int j = 0; j < B * O; j++)
        again += result[j];
    CHECK(first != again);
    CHECK_STATUS(recur_seqnet_forward(net, T, B, NULL, NULL, &result), RECUR_E_INVALID);
    recur_seqnet_free(net);
}

/* An extra loss on the stack's outputs: sum(result w) + sum(outputs u). */
static void gradcheck_outputs(recur_pool pool)
{
    recur_seqnet_config c = recur_seqnet_config_default(RECUR_LSTM, I, H, O);
    c.pool = pool, c.rnn.bidirectional = 1;
    recur_seqnet *net;
    CHECK_OK(recur_seqnet_create(&c, 9, &net));
    float u[T * B * 2 * H];
    for (int k = 0; k < T * B * 2 * H; k++)
        u[k] = (float)((k * 37) % 11) / 11.0f - 0.5f;
    const float *result;
    double worst = 0;
    CHECK_OK(recur_seqnet_forward(net, T, B, input, lengths, &result));
    recur_seqnet_zero_grad(net);
    CHECK_OK(recur_seqnet_backward_outputs(net, weights_out, u, NULL));
    for (int i = 0; i < recur_seqnet_param_count(net); i++) {
        recur_param p;
        CHECK_OK(recur_seqnet_param(net, i, &p));
        for (size_t k = 0; k < p.numel; k += 1 + p.numel / 9) {
            float saved = p.value[k];
            double loss[2];
            for (int side = 0; side < 2; side++) {
                p.value[k] = saved + (side ? -1e-2f : 1e-2f);
                CHECK_OK(recur_seqnet_forward(net, T, B, input, lengths, &result));
                const float *outputs = recur_seqnet_outputs(net);
                loss[side] = 0;
                for (int j = 0; j < B * O; j++)
                    loss[side] += (double)result[j] * weights_out[j];
                for (int j = 0; j < T * B * 2 * H; j++)
                    loss[side] += (double)outputs[j] * u[j];
            }
            p.value[k] = saved;
            worst = fmax(worst, fabs((loss[0] - loss[1]) / 2e-2 - p.grad[k]));
        }
    }
    CHECK(worst <= 2e-3);
    recur_seqnet_free(net);
}

/* Padding never changes a result: garbage (even NaN) in the padded steps
 * leaves outputs and every gradient bit-identical, for every pooling. */
static void check_padding(recur_pool pool)
{
    recur_seqnet_config c = recur_seqnet_config_default(RECUR_GRU, I, H, O);
    c.pool = pool, c.rnn.bidirectional = 1, c.rnn.num_layers = 2;
    recur_seqnet *net;
    CHECK_OK(recur_seqnet_create(&c, 13, &net));
    float garbage[T * B * I], first[B * O], grad_first[T * B * I], grad_second[T * B * I];
    memcpy(garbage, input, sizeof garbage);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            if (t >= lengths[b])
                for (int i = 0; i < I; i++)
                    garbage[(t * B + b) * I + i] = (t + b) % 2 ? NAN : 1e30f;
    const float *result;
    size_t total = 0;
    for (int i = 0; i < recur_seqnet_param_count(net); i++) {
        recur_param p;
        CHECK_OK(recur_seqnet_param(net, i, &p));
        total += p.numel;
    }
    float *grads = malloc(2 * total * sizeof(float));
    for (int round = 0; round < 2; round++) {
        CHECK_OK(recur_seqnet_forward(net, T, B, round ? garbage : input, lengths, &result));
        if (round == 0)
            memcpy(first, result, sizeof first);
        else
            CHECK(memcmp(first, result, sizeof first) == 0);
        recur_seqnet_zero_grad(net);
        CHECK_OK(recur_seqnet_backward(net, weights_out, round ? grad_second : grad_first));
        size_t at = round * total;
        for (int i = 0; i < recur_seqnet_param_count(net); i++) {
            recur_param p;
            CHECK_OK(recur_seqnet_param(net, i, &p));
            memcpy(grads + at, p.grad, p.numel * sizeof(float));
            at += p.numel;
        }
    }
    CHECK(memcmp(grads, grads + total, total * sizeof(float)) == 0);
    CHECK(memcmp(grad_first, grad_second, sizeof grad_first) == 0);
    free(grads);
    recur_seqnet_free(net);
}

static void check_file(const char *dir)
{
    recur_seqnet_config c = recur_seqnet_config_default(RECUR_GRU, I, H, O);
    c.rnn.num_layers = 2, c.rnn.bidirectional = 1, c.pool = RECUR_POOL_MEAN;
    c.rnn.zoneout = 0.25f, c.input_dropout = 0.3f; /* kept by the file */
    recur_seqnet *net, *loaded = NULL;
    CHECK_OK(recur_seqnet_create(&c, 3, &net));
    recur_st_writer *w;
    CHECK_OK(recur_st_writer_create(&w));
    CHECK_OK(recur_seqnet_write(net, w));
    float extra = 1;
    int64_t one = 1;
    CHECK_OK(recur_st_writer_add(w, "scaler.mean", RECUR_F32, 1, &one, &extra));
    char path[1024];
    snprintf(path, sizeof path, "%s/test_seqnet.safetensors", dir);
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);
    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open(path, &f));
    if (f)
        CHECK_OK(recur_seqnet_read(f, &loaded));
    recur_st_close(f);
    if (loaded) {
        const float *a, *b;
        float first[B * O];
        CHECK_OK(recur_seqnet_forward(net, T, B, input, lengths, &a));
        memcpy(first, a, sizeof first);
        CHECK_OK(recur_seqnet_forward(loaded, T, B, input, lengths, &b));
        CHECK(memcmp(first, b, sizeof first) == 0);
        const recur_seqnet_config *lc = recur_seqnet_get_config(loaded);
        CHECK(lc->pool == RECUR_POOL_MEAN);
        CHECK(lc->rnn.zoneout == 0.25f && lc->input_dropout == 0.3f);
    }
    CHECK_STATUS(recur_seqnet_backward(loaded, NULL, NULL), RECUR_E_INVALID);
    recur_seqnet_free(loaded);
    recur_seqnet_free(net);
    c.rnn.batch_first = 1;
    CHECK_STATUS(recur_seqnet_create(&c, 3, &net), RECUR_E_INVALID);
}

/* Max pooling over tied steps: an Elman ReLU layer with W_ih = W_hh = 0 and a
 * positive bias outputs the same value at every step; the gradient goes to the
 * first step only, as torch.max(dim) (its index is the first maximum), so
 * dW_ih[f] = sum_b d pooled[b, f] x[0, b] (relu' = 1 there). */
static void check_max_ties(void)
{
    recur_seqnet_config c = recur_seqnet_config_default(RECUR_RNN_RELU, I, H, O);
    c.pool = RECUR_POOL_MAX;
    recur_seqnet *net;
    CHECK_OK(recur_seqnet_create(&c, 11, &net));
    if (!net)
        return;
    recur_param w_ih, p, head;
    CHECK_OK(recur_seqnet_param(net, 0, &w_ih));
    for (int i = 0; i < 4; i++) { /* weight_ih, weight_hh, bias_ih, bias_hh */
        CHECK_OK(recur_seqnet_param(net, i, &p));
        for (size_t k = 0; k < p.numel; k++)
            p.value[k] = i < 2 ? 0.0f : 0.25f;
    }
    CHECK_OK(recur_seqnet_param(net, 4, &head));
    CHECK(!strcmp(w_ih.name, "rnn.weight_ih_l0") && !strcmp(head.name, "head.weight"));
    const float *result;
    CHECK_OK(recur_seqnet_forward(net, T, B, input, lengths, &result));
    recur_seqnet_zero_grad(net);
    CHECK_OK(recur_seqnet_backward(net, weights_out, NULL));
    double worst = 0;
    for (int f = 0; f < H; f++)
        for (int i = 0; i < I; i++) {
            double expected = 0;
            for (int b = 0; b < B; b++) {
                double pooled_grad = 0; /* d loss / d pooled[b, f] */
                for (int o = 0; o < O; o++)
                    pooled_grad += (double)weights_out[b * O + o] * head.value[o * H + f];
                expected += pooled_grad * input[b * I + i]; /* x at step 0 */
            }
            worst = fmax(worst, fabs(w_ih.grad[f * I + i] - expected));
        }
    if (worst > 1e-5)
        fprintf(stderr, "max pooling ties: dW_ih off by %.3g\n", worst);
    CHECK(worst <= 1e-5);
    recur_seqnet_free(net);
}

/* Max pooling and NaN, as torch.max(dim): a NaN anywhere among the valid steps
 * is the max and its first step the index (which takes the gradient); without
 * NaN the first maximum. Then through the network: a NaN input at step 2 of
 * sequence 0 makes its outputs from step 2 on NaN (tanh), so its pooled
 * vector and result are NaN, while the other sequences stay finite. */
static void check_max_nan(void)
{
    const float nan = NAN, inf = INFINITY;
    const float nan_later[] = {1, nan, 5, nan}, nan_first[] = {nan, 2, 3};
    const float ties[] = {1, 3, 3}, minus_inf[] = {-inf, nan}, one[] = {2};
    CHECK(seqnet_max_step(nan_later, 1, 4) == 1);
    CHECK(seqnet_max_step(nan_later, 2, 2) == 1); /* the values 1 and 5 */
    CHECK(seqnet_max_step(nan_later, 2, 1) == 0);
    CHECK(seqnet_max_step(nan_first, 1, 3) == 0);
    CHECK(seqnet_max_step(ties, 1, 3) == 1);
    CHECK(seqnet_max_step(minus_inf, 1, 2) == 1);
    CHECK(seqnet_max_step(one, 1, 1) == 0);

    recur_seqnet_config c = recur_seqnet_config_default(RECUR_RNN_TANH, I, H, O);
    c.pool = RECUR_POOL_MAX;
    recur_seqnet *net;
    CHECK_OK(recur_seqnet_create(&c, 12, &net));
    if (!net)
        return;
    static float with_nan[T * B * I];
    memcpy(with_nan, input, sizeof with_nan);
    with_nan[(2 * B + 0) * I + 1] = NAN; /* step 2, sequence 0 */
    const float *result;
    CHECK_OK(recur_seqnet_forward(net, T, B, with_nan, NULL, &result));
    for (int b = 0; b < B; b++)
        for (int o = 0; o < O; o++) {
            float r = result[b * O + o];
            if (b == 0 ? !isnan(r) : !isfinite(r))
                fprintf(stderr, "max pooling NaN: result[%d, %d] = %g\n", b, o, (double)r);
            CHECK(b == 0 ? isnan(r) : isfinite(r));
        }
    recur_seqnet_free(net);
}

/* A forward that fails leaves no forward behind: after a good forward, one
 * with a token id outside the vocabulary (the embedding fails, after which
 * the last forward's state no longer matches) or with bad lengths (the stack
 * fails), the backward refuses with RECUR_E_STATE and adds no gradient. */
static void check_failed_forward(void)
{
    recur_seqnet_config c = recur_seqnet_config_default(RECUR_GRU, I, H, O);
    c.vocab_size = 7, c.pool = RECUR_POOL_MEAN;
    recur_seqnet *net;
    CHECK_OK(recur_seqnet_create(&c, 13, &net));
    if (!net)
        return;
    static int64_t ids[T * B];
    for (int k = 0; k < T * B; k++)
        ids[k] = k % 7;
    const int64_t bad_lengths[B] = {6, 0, 4, 1};
    recur_param head;
    CHECK_OK(recur_seqnet_param(net, recur_seqnet_param_count(net) - 2, &head));
    for (int failure = 0; failure < 2; failure++) {
        const float *result;
        CHECK_OK(recur_seqnet_forward(net, T, B, input, NULL, &result));
        CHECK(recur_seqnet_outputs(net) != NULL);
        recur_status st;
        if (failure == 0) {
            ids[5] = 7;
            st = recur_seqnet_forward_ids(net, T, B, ids, NULL, &result);
            ids[5] = 5;
        } else
            st = recur_seqnet_forward(net, T, B, input, bad_lengths, &result);
        CHECK(st != RECUR_OK);
        CHECK(recur_seqnet_outputs(net) == NULL);
        recur_seqnet_zero_grad(net);
        CHECK(recur_seqnet_backward(net, weights_out, NULL) == RECUR_E_STATE);
        double touched = 0;
        for (size_t k = 0; k < head.numel; k++)
            touched += fabs(head.grad[k]);
        CHECK(touched == 0);
    }
    recur_seqnet_free(net);
}

/* A token model whose file says padding_idx = `pad`: its read status. */
static recur_status read_with_padding(const char *dir, const char *pad, int *padding_idx)
{
    recur_seqnet_config c = recur_seqnet_config_default(RECUR_GRU, I, H, O);
    c.vocab_size = 7, c.padding_idx = 0;
    recur_seqnet *net, *loaded = NULL;
    CHECK_OK(recur_seqnet_create(&c, 3, &net));
    recur_st_writer *w;
    CHECK_OK(recur_st_writer_create(&w));
    CHECK_OK(recur_seqnet_write(net, w));
    CHECK_OK(recur_st_writer_set_metadata(w, "padding_idx", pad));
    char path[1024];
    snprintf(path, sizeof path, "%s/test_seqnet_padding.safetensors", dir);
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);
    recur_seqnet_free(net);
    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open(path, &f));
    recur_status st = f ? recur_seqnet_read(f, &loaded) : RECUR_E_IO;
    recur_st_close(f);
    if (loaded)
        *padding_idx = recur_seqnet_get_config(loaded)->padding_idx;
    recur_seqnet_free(loaded);
    return st;
}

/* padding_idx in a file: an integer in -1..vocab_size-1, anything else refused
 * (not read as 0, which would silently make row 0 the padding row). */
static void check_padding_metadata(const char *dir)
{
    int padding_idx = -2;
    CHECK_OK(read_with_padding(dir, "3", &padding_idx));
    CHECK(padding_idx == 3);
    CHECK_OK(read_with_padding(dir, "-1", &padding_idx));
    CHECK(padding_idx == -1);
    const char *bad[] = {"none", "", "2x", "7", "-2", " 1", "\t1", "+1", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        padding_idx = -2;
        recur_status st = read_with_padding(dir, bad[i], &padding_idx);
        if (st == RECUR_OK)
            fprintf(stderr, "padding_idx \"%s\" was read as %d\n", bad[i], padding_idx);
        CHECK(st != RECUR_OK);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    recur_rng rng;
    recur_rng_seed(&rng, 4);
    for (int k = 0; k < T * B * I; k++)
        input[k] = recur_rng_uniform(&rng, -1, 1);
    for (int k = 0; k < B * O; k++)
        weights_out[k] = recur_rng_uniform(&rng, -1, 1);
    const recur_cell cells[] = {RECUR_LSTM, RECUR_GRU, RECUR_RNN_TANH};
    for (int c = 0; c < 3; c++)
        for (int pool = 0; pool < 4; pool++) {
            gradcheck(cells[c], (recur_pool)pool, 0, 1, NULL);
            gradcheck(cells[c], (recur_pool)pool, 1, 2, lengths);
        }
    gradcheck_ids();
    for (int pool = 0; pool < 4; pool++)
        check_padding((recur_pool)pool);
    gradcheck_outputs(RECUR_POOL_LAST);
    gradcheck_outputs(RECUR_POOL_MEAN);
    check_file(argv[1]);
    check_padding_metadata(argv[1]);
    check_max_ties();
    check_max_nan();
    check_failed_forward();
    return test_finish("test_seqnet");
}
