/* The language model (Embedding -> stack -> Linear) as a whole: finite-
 * difference checks of its backward in training mode with every kind of
 * dropout (masks repeated by restoring the generators), and the state,
 * generator, file and optimizer round trips that checkpoints rely on. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "test_util.h"

enum { T = 5, B = 3, V = 7 };

static int64_t ids[T * B], targets[T * B];

/* Mean cross-entropy of one chunk from a zero state, with the generators at
 * `rng` (the same masks every call); grad_logits may be NULL. */
static float chunk_loss(recur_lm *lm, const uint64_t rng[8], float *grad_logits)
{
    const float *logits;
    float loss = NAN;
    CHECK_OK(recur_lm_set_rng_state(lm, rng));
    CHECK_OK(recur_lm_set_state(lm, 0, NULL));
    CHECK_OK(recur_lm_forward(lm, T, B, ids, &logits));
    CHECK_OK(recur_cross_entropy(T * B, V, logits, targets, NULL, &loss, grad_logits));
    return loss;
}

/* Directional finite differences per parameter tensor. */
static void gradcheck_lm(recur_cell cell, float dropout, float recurrent_dropout, float zoneout,
                         int layer_norm)
{
    recur_lm_config c = {cell, V, 4, 6, 2, dropout, recurrent_dropout, zoneout, layer_norm};
    recur_lm *lm;
    CHECK_OK(recur_lm_create(&c, 11, &lm));
    if (!lm)
        return;
    recur_lm_set_training(lm, 1);
    uint64_t rng[8];
    recur_lm_get_rng_state(lm, rng);
    float grad_logits[T * B * V];
    chunk_loss(lm, rng, grad_logits);
    recur_lm_zero_grad(lm);
    CHECK_OK(recur_lm_backward(lm, grad_logits));
    recur_rng dir_rng;
    recur_rng_seed(&dir_rng, 3);
    double worst = 0;
    for (int i = 0; i < recur_lm_param_count(lm); i++) {
        recur_param p;
        CHECK_OK(recur_lm_param(lm, i, &p));
        float *direction = malloc(p.numel * sizeof(float));
        float *saved = malloc(p.numel * sizeof(float));
        double analytic = 0, norm = 0;
        for (size_t k = 0; k < p.numel; k++)
            direction[k] = recur_rng_uniform(&dir_rng, -1, 1), norm += direction[k] * direction[k];
        for (size_t k = 0; k < p.numel; k++)
            direction[k] /= (float)sqrt(norm), analytic += (double)p.grad[k] * direction[k];
        memcpy(saved, p.value, p.numel * sizeof(float));
        const float eps = 1e-2f;
        for (size_t k = 0; k < p.numel; k++)
            p.value[k] = saved[k] + eps * direction[k];
        double plus = chunk_loss(lm, rng, NULL);
        for (size_t k = 0; k < p.numel; k++)
            p.value[k] = saved[k] - eps * direction[k];
        double minus = chunk_loss(lm, rng, NULL);
        memcpy(p.value, saved, p.numel * sizeof(float));
        double numeric = (plus - minus) / (2.0 * eps);
        double error = fabs(numeric - analytic) / fmax(2e-2, fabs(analytic));
        if (error > 5e-2)
            fprintf(stderr, "lm gradcheck cell %d %s: analytic %.6g numeric %.6g\n", (int)cell,
                    p.name, analytic, numeric);
        worst = fmax(worst, error);
        free(direction), free(saved);
    }
    CHECK(worst <= 5e-2);
    /* Training mode draws fresh masks: without restoring the generators the
     * loss changes (when there is dropout), and eval mode is deterministic. */
    const float *logits;
    float first, second;
    if (dropout > 0) {
        CHECK_OK(recur_lm_set_state(lm, 0, NULL));
        CHECK_OK(recur_lm_forward(lm, T, B, ids, &logits));
        CHECK_OK(recur_cross_entropy(T * B, V, logits, targets, NULL, &first, NULL));
        CHECK(first != chunk_loss(lm, rng, NULL));
    }
    recur_lm_set_training(lm, 0);
    CHECK_OK(recur_lm_set_state(lm, 0, NULL));
    CHECK_OK(recur_lm_forward(lm, T, B, ids, &logits));
    CHECK_OK(recur_cross_entropy(T * B, V, logits, targets, NULL, &first, NULL));
    CHECK_OK(recur_lm_set_state(lm, 0, NULL));
    CHECK_OK(recur_lm_forward(lm, T, B, ids, &logits));
    CHECK_OK(recur_cross_entropy(T * B, V, logits, targets, NULL, &second, NULL));
    CHECK(first == second);
    recur_lm_free(lm);
}

/* The carried state: set_state(get_state) continues exactly as carrying does. */
static void check_carried_state(void)
{
    recur_lm_config c = {RECUR_LSTM, V, 4, 6, 2, 0, 0, 0, 0};
    recur_lm *lm;
    CHECK_OK(recur_lm_create(&c, 2, &lm));
    const float *logits;
    float *state = malloc(recur_lm_state_numel(lm, B) * sizeof(float));
    float carried[T * B * V], restored[T * B * V];
    CHECK(recur_lm_get_state(lm, state) == 0);
    CHECK_OK(recur_lm_forward(lm, T, B, ids, &logits));
    CHECK(recur_lm_get_state(lm, state) == B);
    CHECK_OK(recur_lm_forward(lm, T, B, targets, &logits));
    memcpy(carried, logits, sizeof carried);
    CHECK_OK(recur_lm_set_state(lm, 0, NULL));
    CHECK_OK(recur_lm_forward(lm, T, B, ids, &logits)); /* disturb it */
    CHECK_OK(recur_lm_set_state(lm, B, state));
    CHECK_OK(recur_lm_forward(lm, T, B, targets, &logits));
    memcpy(restored, logits, sizeof restored);
    CHECK(memcmp(carried, restored, sizeof carried) == 0);
    CHECK_STATUS(recur_lm_set_state(lm, -1, NULL), RECUR_E_INVALID);
    uint64_t zero[8] = {0};
    CHECK_STATUS(recur_lm_set_rng_state(lm, zero), RECUR_E_INVALID);
    free(state);
    recur_lm_free(lm);
}

/* The head first, then layer 1 and layer 0 of the stack (weight_ih,
 * weight_hh, bias_ih, bias_hh each), the embedding last: every parameter
 * exactly once. */
static void check_grad_ready(void)
{
    recur_lm_config c = {RECUR_LSTM, V, 4, 6, 2, 0, 0, 0, 0};
    recur_lm *lm;
    CHECK_OK(recur_lm_create(&c, 3, &lm));
    test_ready_log log = {{0}, {0}, 0};
    recur_lm_set_grad_ready(lm, test_log_ready, &log);
    float grad_logits[T * B * V];
    const float *logits;
    float loss;
    CHECK_OK(recur_lm_forward(lm, T, B, ids, &logits));
    CHECK_OK(recur_cross_entropy(T * B, V, logits, targets, NULL, &loss, grad_logits));
    CHECK_OK(recur_lm_backward(lm, grad_logits));
    const int count = recur_lm_param_count(lm); /* 1 + 2 x 4 + 2 */
    CHECK(log.calls == 4);
    CHECK(log.first[0] == count - 2 && log.count[0] == 2);
    CHECK(log.first[1] == 5 && log.count[1] == 4);
    CHECK(log.first[2] == 1 && log.count[2] == 4);
    CHECK(log.first[3] == 0 && log.count[3] == 1);
    recur_lm_set_grad_ready(lm, NULL, NULL);
    CHECK_OK(recur_lm_forward(lm, T, B, ids, &logits));
    CHECK_OK(recur_lm_backward(lm, grad_logits));
    CHECK(log.calls == 4);
    recur_lm_free(lm);
}

/* A saved model loads with the same logits (zoneout, which blends the
 * states at inference, included) and the same regularization; optimizer
 * state round-trips so that the next step is the same. */
static void check_files(const char *dir)
{
    recur_lm_config c = {RECUR_GRU, V, 4, 6, 2, 0.1f, 0.2f, 0.3f, 1};
    recur_lm *lm, *loaded = NULL;
    CHECK_OK(recur_lm_create(&c, 5, &lm));
    char path[1024];
    snprintf(path, sizeof path, "%s/test_lm_model.safetensors", dir);
    CHECK_OK(recur_lm_save(lm, path, 0, NULL, NULL));
    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open(path, &f));
    if (f)
        CHECK_OK(recur_lm_load(f, &loaded));
    recur_st_close(f);
    if (loaded) {
        const float *a, *b;
        float first[T * B * V];
        CHECK_OK(recur_lm_forward(lm, T, B, ids, &a));
        memcpy(first, a, sizeof first);
        CHECK_OK(recur_lm_forward(loaded, T, B, ids, &b));
        CHECK(memcmp(first, b, sizeof first) == 0);
        const recur_lm_config *lc = recur_lm_get_config(loaded);
        CHECK(lc->layer_norm == 1);
        CHECK(lc->dropout == 0.1f && lc->recurrent_dropout == 0.2f && lc->zoneout == 0.3f);
    }
    recur_lm_free(loaded);

    /* two optimizers: one saves after a step and the copy restores it */
    recur_optimizer_config oc = recur_optimizer_config_default(RECUR_ADAM);
    oc.amsgrad = 1;
    recur_optimizer *opt, *copy;
    CHECK_OK(recur_optimizer_create(&oc, &opt));
    CHECK_OK(recur_optimizer_create(&oc, &copy));
    recur_param p;
    CHECK_OK(recur_lm_param(lm, 1, &p));
    float *value_copy = malloc(p.numel * sizeof(float)), *grad = malloc(p.numel * sizeof(float));
    for (size_t k = 0; k < p.numel; k++)
        grad[k] = (float)k * 1e-3f - 0.01f;
    memcpy(value_copy, p.value, p.numel * sizeof(float));
    CHECK_OK(recur_optimizer_add(opt, p.value, grad, p.numel));
    CHECK_OK(recur_optimizer_add(copy, value_copy, grad, p.numel));
    CHECK_OK(recur_optimizer_step(opt));
    recur_optimizer_set_lr(opt, 5e-3f);
    recur_st_writer *w;
    CHECK_OK(recur_st_writer_create(&w));
    CHECK_OK(recur_optimizer_write(opt, w, "optimizer."));
    snprintf(path, sizeof path, "%s/test_lm_optim.safetensors", dir);
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);
    CHECK_OK(recur_st_open(path, &f));
    memcpy(value_copy, p.value, p.numel * sizeof(float));
    if (f)
        CHECK_OK(recur_optimizer_read(copy, f, "optimizer."));
    CHECK(recur_optimizer_get_lr(copy) == 5e-3f && recur_optimizer_step_count(copy) == 1);
    CHECK_OK(recur_optimizer_step(opt));
    CHECK_OK(recur_optimizer_step(copy));
    CHECK(memcmp(value_copy, p.value, p.numel * sizeof(float)) == 0);
    /* an optimizer of another kind does not accept that state */
    recur_optimizer *sgd;
    recur_optimizer_config sc = recur_optimizer_config_default(RECUR_SGD);
    sc.momentum = 0.9f;
    CHECK_OK(recur_optimizer_create(&sc, &sgd));
    CHECK_OK(recur_optimizer_add(sgd, value_copy, grad, p.numel));
    if (f)
        CHECK_STATUS(recur_optimizer_read(sgd, f, "optimizer."), RECUR_E_SHAPE);
    recur_st_close(f);
    recur_optimizer_free(sgd), recur_optimizer_free(opt), recur_optimizer_free(copy);
    free(value_copy), free(grad);
    recur_lm_free(lm);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    recur_rng rng;
    recur_rng_seed(&rng, 9);
    for (int i = 0; i < T * B; i++) {
        ids[i] = (int64_t)(recur_rng_next(&rng) % V);
        targets[i] = (int64_t)(recur_rng_next(&rng) % V);
    }
    gradcheck_lm(RECUR_LSTM, 0, 0, 0, 0);
    gradcheck_lm(RECUR_LSTM, 0.3f, 0, 0, 0);
    gradcheck_lm(RECUR_LSTM, 0.3f, 0.2f, 0.2f, 0);
    gradcheck_lm(RECUR_GRU, 0.3f, 0.2f, 0.2f, 1);
    gradcheck_lm(RECUR_LSTM, 0.2f, 0, 0, 1);
    gradcheck_lm(RECUR_RNN_TANH, 0.3f, 0.2f, 0.1f, 0);
    check_carried_state();
    check_grad_ready();
    check_files(argv[1]);
    return test_finish("test_lm");
}
