/* Thread safety: two handles used from two threads at once give the same
 * results, bit for bit, as one at a time (distinct handles are independent;
 * recur_last_error is per thread). Run under ThreadSanitizer by
 * scripts/tsan.sh. Each thread trains its own LSTM stack (forward, backward,
 * optimizer step) for a few rounds, and also provokes an error to check that
 * its message stays its own. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

enum { T = 12, B = 3, I = 5, H = 16, ROUNDS = 4 };

typedef struct job {
    uint64_t seed;
    float *params;  /* out: the parameters after training */
    size_t count;
    float loss;     /* out: the last round's sum of outputs */
    int failures;   /* calls that failed, or a foreign error message */
} job;

static void *train(void *arg)
{
    job *j = arg;
    recur_rnn_config c = recur_rnn_config_default(RECUR_LSTM, I, H);
    c.num_layers = 2;
    c.bidirectional = j->seed & 1;
    recur_rnn *rnn = NULL;
    recur_optimizer *opt = NULL;
    recur_optimizer_config oc = recur_optimizer_config_default(RECUR_ADAM);
    if (recur_rnn_create(&c, j->seed, &rnn) != RECUR_OK ||
        recur_optimizer_create(&oc, &opt) != RECUR_OK ||
        recur_optimizer_add(opt, recur_rnn_param_data(rnn), recur_rnn_grad_data(rnn),
                            recur_rnn_param_total(rnn)) != RECUR_OK) {
        j->failures++;
        recur_optimizer_free(opt);
        recur_rnn_free(rnn);
        return NULL;
    }
    size_t out_n = recur_rnn_output_numel(rnn, T, B);
    float *x = malloc(sizeof(float) * T * B * I), *y = malloc(sizeof(float) * out_n);
    float *dy = malloc(sizeof(float) * out_n);
    for (size_t i = 0; i < (size_t)T * B * I; i++)
        x[i] = (float)((i * 2654435761u + j->seed) % 1000) / 500.0f - 1.0f;
    for (size_t i = 0; i < out_n; i++)
        dy[i] = 1.0f;
    for (int round = 0; round < ROUNDS; round++) {
        recur_rnn_forward_args fwd = {T, B, x, NULL, NULL, NULL, y, NULL, NULL};
        recur_rnn_backward_args bwd = {dy, NULL, NULL, NULL, NULL, NULL};
        recur_rnn_zero_grad(rnn);
        if (recur_rnn_forward(rnn, &fwd) != RECUR_OK ||
            recur_rnn_backward(rnn, &bwd) != RECUR_OK || recur_optimizer_step(opt) != RECUR_OK)
            j->failures++;
        float sum = 0.0f;
        for (size_t i = 0; i < out_n; i++)
            sum += y[i];
        j->loss = sum;
        /* An error of this thread: its message must survive the other's. */
        recur_rnn_forward_args bad = {0, B, x, NULL, NULL, NULL, y, NULL, NULL};
        if (recur_rnn_forward(rnn, &bad) != RECUR_E_SHAPE ||
            !strstr(recur_last_error(), "sequence length 0"))
            j->failures++;
    }
    j->count = recur_rnn_param_total(rnn);
    j->params = malloc(sizeof(float) * j->count);
    memcpy(j->params, recur_rnn_param_data(rnn), sizeof(float) * j->count);
    free(x), free(y), free(dy);
    recur_optimizer_free(opt);
    recur_rnn_free(rnn);
    return NULL;
}

/* The outputs and the gradients (of the parameters and the input, after a
 * training step's backward of grad_output all ones) of a bidirectional LSTM
 * of H 128, 100 steps, with `threads` threads. At batch 1, from 2 threads
 * on, the layer's team computes the input projection (6.5 M multiply-adds)
 * ahead of the steps, which run on the calling thread and read each step's
 * rows as they become final (recur_gemm_ahead, forward and reverse order),
 * then on the team once it is done, each thread a range of units (and the
 * backward's steps too). At batch 4 with lengths 100, 70, 40 and 10 the
 * steps run alone throughout (the projection holds the team, one row or
 * not). */
static float *ahead_outputs(const char *threads, int batch, size_t *count)
{
    enum { AT = 100, AH = 128 };
    const int64_t lengths[4] = {100, 70, 40, 10};
    setenv("RECUR_NUM_THREADS", threads, 1); /* read when the stack makes its team */
    recur_rnn_config c = recur_rnn_config_default(RECUR_LSTM, AH, AH);
    c.bidirectional = 1;
    recur_rnn *rnn = NULL;
    const size_t in_n = (size_t)AT * batch * AH;
    float *x = malloc(sizeof(float) * in_n), *dx = malloc(sizeof(float) * in_n);
    CHECK_OK(recur_rnn_create(&c, 5, &rnn));
    const size_t out_n = recur_rnn_output_numel(rnn, AT, batch);
    const size_t params = recur_rnn_param_total(rnn);
    *count = out_n + params + in_n;
    float *all = malloc(sizeof(float) * *count), *dy = malloc(sizeof(float) * out_n);
    for (size_t i = 0; i < in_n; i++)
        x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    for (size_t i = 0; i < out_n; i++)
        dy[i] = 1.0f;
    recur_rnn_forward_args f = {.seq_len = AT, .batch = batch, .input = x,
                                .lengths = batch == 4 ? lengths : NULL, .output = all};
    recur_rnn_set_grad_enabled(rnn, 0);
    for (int call = 0; call < 3; call++) /* the team lives from the first call on */
        CHECK_OK(recur_rnn_forward(rnn, &f));
    recur_rnn_set_grad_enabled(rnn, 1);
    recur_rnn_zero_grad(rnn);
    CHECK_OK(recur_rnn_forward(rnn, &f));
    recur_rnn_backward_args b = {.grad_output = dy, .grad_input = dx};
    CHECK_OK(recur_rnn_backward(rnn, &b));
    memcpy(all + out_n, recur_rnn_grad_data(rnn), sizeof(float) * params);
    memcpy(all + out_n + params, dx, sizeof(float) * in_n);
    recur_rnn_free(rnn);
    free(x), free(dx), free(dy);
    unsetenv("RECUR_NUM_THREADS");
    return all;
}

static void test_ahead_projection(void)
{
    const int before = test_blas_one_thread("projection ahead of the steps");
    if (before < 0)
        return;
    for (int batch = 1; batch <= 4; batch += 3) {
        size_t n1 = 0, n2 = 0;
        float *one = ahead_outputs("1", batch, &n1), *two = ahead_outputs("2", batch, &n2);
        double worst = 0.0;
        CHECK(n1 == n2);
        for (size_t i = 0; i < n1 && n1 == n2; i++)
            worst = fmax(worst, fabs((double)one[i] - two[i]));
        CHECK(worst <= 1e-5);
        printf("batch %d, projection ahead of the steps: 2 threads against 1, worst "
               "difference %.3g (outputs, gradients)\n",
               batch, worst);
        free(one), free(two);
    }
    test_blas_threads_restore(before);
}

/* The outputs of a 2-layer LSTM of H 128 fed one token at a time, 40
 * calls of one step, batch 1, each starting from the last one's h_n and c_n
 * (as recur generate runs), with `threads` threads: from 2 on, each step's
 * products, the input projection's too, are matrix-vector products that
 * the team's threads take a range of units each. */
static float *token_outputs(const char *threads)
{
    enum { CALLS = 40, TH = 128, LAYERS = 2 };
    setenv("RECUR_NUM_THREADS", threads, 1);
    recur_rnn_config c = recur_rnn_config_default(RECUR_LSTM, TH, TH);
    c.num_layers = LAYERS;
    recur_rnn *rnn = NULL;
    CHECK_OK(recur_rnn_create(&c, 9, &rnn));
    recur_rnn_set_grad_enabled(rnn, 0);
    float *y = malloc(sizeof(float) * CALLS * TH), x[TH];
    float h[2][LAYERS * TH] = {{0}}, cs[2][LAYERS * TH] = {{0}};
    for (int call = 0; call < CALLS; call++) {
        for (int i = 0; i < TH; i++)
            x[i] = (float)((call * 31 + i * 7) % 23) / 11.0f - 1.0f;
        const int from = call & 1, to = from ^ 1;
        recur_rnn_forward_args f = {.seq_len = 1,  .batch = 1,        .input = x,
                                    .h0 = h[from], .c0 = cs[from],    .output = y + call * TH,
                                    .h_n = h[to],  .c_n = cs[to]};
        CHECK_OK(recur_rnn_forward(rnn, &f));
    }
    recur_rnn_free(rnn);
    unsetenv("RECUR_NUM_THREADS");
    return y;
}

static void test_tokens(void)
{
    const int before = test_blas_one_thread("one token at a time");
    if (before < 0)
        return;
    float *one = token_outputs("1"), *two = token_outputs("2");
    CHECK(memcmp(one, two, sizeof(float) * 40 * 128) == 0);
    printf("one token at a time: 2 threads against 1, %s\n",
           memcmp(one, two, sizeof(float) * 40 * 128) ? "DIFFERENT" : "the same bits");
    free(one), free(two);
    test_blas_threads_restore(before);
}

int main(void)
{
    test_ahead_projection();
    test_tokens();
    job alone[2] = {{.seed = 11}, {.seed = 12}}, together[2] = {{.seed = 11}, {.seed = 12}};
    for (int k = 0; k < 2; k++)
        train(&alone[k]);
    pthread_t threads[2];
    for (int k = 0; k < 2; k++)
        CHECK(pthread_create(&threads[k], NULL, train, &together[k]) == 0);
    for (int k = 0; k < 2; k++)
        CHECK(pthread_join(threads[k], NULL) == 0);
    for (int k = 0; k < 2; k++) {
        CHECK(alone[k].failures == 0 && together[k].failures == 0);
        CHECK(alone[k].count == together[k].count && alone[k].params && together[k].params);
        if (alone[k].params && together[k].params && alone[k].count == together[k].count)
            CHECK(memcmp(alone[k].params, together[k].params,
                         sizeof(float) * alone[k].count) == 0);
        CHECK(memcmp(&alone[k].loss, &together[k].loss, sizeof(float)) == 0);
        free(alone[k].params);
        free(together[k].params);
    }
    return test_finish("test_threads");
}
