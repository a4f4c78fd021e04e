/* The recurrent layer API: configuration checks, parameter names and
 * initialization, errors, equivalences between options, save/load. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "test_util.h"

static float *random_floats(size_t n, uint64_t seed)
{
    recur_rng rng;
    recur_rng_seed(&rng, seed);
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = recur_rng_uniform(&rng, -1.0f, 1.0f);
    return x;
}

static void test_invalid_configs(void)
{
    recur_rnn *rnn = NULL;
    recur_rnn_config c = recur_rnn_config_default(RECUR_LSTM, 4, 8);
    recur_rnn_config bad;
    bad = c, bad.input_size = 0;
    CHECK_STATUS(recur_rnn_create(&bad, 1, &rnn), RECUR_E_INVALID);
    CHECK(rnn == NULL && strlen(recur_last_error()) > 0);
    bad = c, bad.hidden_size = -3;
    CHECK_STATUS(recur_rnn_create(&bad, 1, &rnn), RECUR_E_INVALID);
    bad = c, bad.num_layers = 0;
    CHECK_STATUS(recur_rnn_create(&bad, 1, &rnn), RECUR_E_INVALID);
    bad = c, bad.proj_size = 8;
    CHECK_STATUS(recur_rnn_create(&bad, 1, &rnn), RECUR_E_INVALID);
    bad = c, bad.bidirectional = 2;
    CHECK_STATUS(recur_rnn_create(&bad, 1, &rnn), RECUR_E_INVALID);
    bad = recur_rnn_config_default(RECUR_GRU, 4, 8), bad.proj_size = 2;
    CHECK_STATUS(recur_rnn_create(&bad, 1, &rnn), RECUR_E_INVALID);
    bad = c, bad.cell = (recur_cell)17;
    CHECK_STATUS(recur_rnn_create(&bad, 1, &rnn), RECUR_E_INVALID);
    CHECK_STATUS(recur_rnn_create(NULL, 1, &rnn), RECUR_E_INVALID);
    recur_rnn_free(NULL);
}

static void test_parameter_names_and_init(void)
{
    recur_rnn_config c = recur_rnn_config_default(RECUR_LSTM, 3, 8);
    c.num_layers = 2, c.bidirectional = 1, c.proj_size = 5;
    recur_rnn *rnn = NULL, *same = NULL, *other = NULL;
    CHECK_OK(recur_rnn_create(&c, 7, &rnn));
    CHECK_OK(recur_rnn_create(&c, 7, &same));
    CHECK_OK(recur_rnn_create(&c, 8, &other));
    static const char *names[] = {
        "weight_ih_l0",         "weight_hh_l0",         "bias_ih_l0",         "bias_hh_l0",
        "weight_hr_l0",         "weight_ih_l0_reverse", "weight_hh_l0_reverse",
        "bias_ih_l0_reverse",   "bias_hh_l0_reverse",   "weight_hr_l0_reverse",
        "weight_ih_l1",         "weight_hh_l1",         "bias_ih_l1",         "bias_hh_l1",
        "weight_hr_l1",         "weight_ih_l1_reverse", "weight_hh_l1_reverse",
        "bias_ih_l1_reverse",   "bias_hh_l1_reverse",   "weight_hr_l1_reverse"};
    CHECK(recur_rnn_param_count(rnn) == 20);
    for (int i = 0; i < 20 && i < recur_rnn_param_count(rnn); i++) {
        recur_param p;
        CHECK_OK(recur_rnn_param(rnn, i, &p));
        CHECK(strcmp(p.name, names[i]) == 0);
    }
    recur_param p;
    CHECK_OK(recur_rnn_find_param(rnn, "weight_ih_l1", &p));
    CHECK(p.ndim == 2 && p.shape[0] == 32 && p.shape[1] == 10); /* input = 2 * proj */
    CHECK_OK(recur_rnn_find_param(rnn, "weight_hh_l0", &p));
    CHECK(p.shape[0] == 32 && p.shape[1] == 5);
    CHECK_OK(recur_rnn_find_param(rnn, "weight_hr_l0_reverse", &p));
    CHECK(p.shape[0] == 5 && p.shape[1] == 8);
    CHECK_OK(recur_rnn_find_param(rnn, "bias_hh_l1", &p));
    CHECK(p.ndim == 1 && p.shape[0] == 32);
    CHECK_STATUS(recur_rnn_find_param(rnn, "weight_ih_l2", &p), RECUR_E_SHAPE);
    CHECK_STATUS(recur_rnn_param(rnn, 20, &p), RECUR_E_INVALID);

    /* U(-1/sqrt(H), 1/sqrt(H)), deterministic per seed, spread over the range. */
    size_t n = recur_rnn_param_total(rnn);
    const float *v = recur_rnn_param_data(rnn), *v_same = recur_rnn_param_data(same);
    const float *v_other = recur_rnn_param_data(other);
    float k = 1.0f / sqrtf(8.0f), lo = 1, hi = -1;
    int in_range = 1, differs = 0;
    for (size_t i = 0; i < n; i++) {
        in_range &= v[i] >= -k && v[i] <= k;
        lo = fminf(lo, v[i]), hi = fmaxf(hi, v[i]);
        differs |= v[i] != v_other[i];
    }
    CHECK(in_range && lo < -0.9f * k && hi > 0.9f * k);
    CHECK(memcmp(v, v_same, n * sizeof(float)) == 0);
    CHECK(differs);
    recur_rnn_free(rnn), recur_rnn_free(same), recur_rnn_free(other);

    c = recur_rnn_config_default(RECUR_GRU, 3, 4);
    c.bias = 0;
    CHECK_OK(recur_rnn_create(&c, 1, &rnn));
    CHECK(recur_rnn_param_count(rnn) == 2);
    recur_rnn_free(rnn);
}

static void test_call_errors(void)
{
    recur_rnn_config c = recur_rnn_config_default(RECUR_GRU, 2, 3);
    recur_rnn *rnn = NULL;
    CHECK_OK(recur_rnn_create(&c, 1, &rnn));
    float *x = random_floats(4 * 2 * 2, 3), out[4 * 2 * 3], h_n[2 * 3], c0[6] = {0};
    recur_rnn_backward_args bwd = {0};
    CHECK_STATUS(recur_rnn_backward(rnn, &bwd), RECUR_E_STATE);
    int64_t bad_lengths[2] = {4, 5};
    recur_rnn_forward_args fwd = {4, 2, x, bad_lengths, NULL, NULL, out, h_n, NULL};
    CHECK_STATUS(recur_rnn_forward(rnn, &fwd), RECUR_E_SHAPE);
    bad_lengths[1] = 0;
    CHECK_STATUS(recur_rnn_forward(rnn, &fwd), RECUR_E_SHAPE);
    /* A failed forward leaves nothing for backward. */
    CHECK_STATUS(recur_rnn_backward(rnn, &bwd), RECUR_E_STATE);
    fwd.lengths = NULL, fwd.seq_len = 0;
    CHECK_STATUS(recur_rnn_forward(rnn, &fwd), RECUR_E_SHAPE);
    fwd.seq_len = 4, fwd.c0 = c0;
    CHECK_STATUS(recur_rnn_forward(rnn, &fwd), RECUR_E_INVALID);
    fwd.c0 = NULL, fwd.input = NULL;
    CHECK_STATUS(recur_rnn_forward(rnn, &fwd), RECUR_E_INVALID);
    fwd.input = x;
    CHECK_OK(recur_rnn_forward(rnn, &fwd));
    CHECK_OK(recur_rnn_backward(rnn, &bwd));
    free(x);
    recur_rnn_free(rnn);
}

/* Runs forward (and backward with grad_output = g) and returns output,
 * h_n and the parameter gradients in freshly allocated arrays. */
typedef struct run_result {
    float *output, *h_n, *grad_input, *grads;
} run_result;

static run_result run_once(recur_rnn *rnn, int T, int B, const float *x, const int64_t *lengths,
                           const float *grad_output)
{
    run_result r;
    size_t out_n = recur_rnn_output_numel(rnn, T, B);
    r.output = calloc(out_n, sizeof(float));
    r.h_n = calloc(recur_rnn_state_numel(rnn, B), sizeof(float));
    r.grad_input = calloc((size_t)T * B * recur_rnn_get_config(rnn)->input_size, sizeof(float));
    recur_rnn_forward_args fwd = {T, B, x, lengths, NULL, NULL, r.output, r.h_n, NULL};
    CHECK_OK(recur_rnn_forward(rnn, &fwd));
    recur_rnn_backward_args bwd = {grad_output, NULL, NULL, r.grad_input, NULL, NULL};
    recur_rnn_zero_grad(rnn);
    CHECK_OK(recur_rnn_backward(rnn, &bwd));
    size_t total = recur_rnn_param_total(rnn);
    r.grads = malloc(total * sizeof(float));
    memcpy(r.grads, recur_rnn_grad_data(rnn), total * sizeof(float));
    return r;
}

static void free_result(run_result *r)
{
    free(r->output), free(r->h_n), free(r->grad_input), free(r->grads);
}

/* [T, B, F] <-> [B, T, F]. */
static float *transpose_tb(const float *x, int T, int B, int F)
{
    float *y = malloc((size_t)T * B * F * sizeof(float));
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            memcpy(y + ((size_t)b * T + t) * F, x + ((size_t)t * B + b) * F, F * sizeof(float));
    return y;
}

static void test_batch_first_equivalence(void)
{
    const int T = 5, B = 3, I = 4;
    recur_rnn_config c = recur_rnn_config_default(RECUR_LSTM, I, 6);
    c.bidirectional = 1;
    recur_rnn *time_major = NULL, *batch_major = NULL;
    CHECK_OK(recur_rnn_create(&c, 5, &time_major));
    c.batch_first = 1;
    CHECK_OK(recur_rnn_create(&c, 5, &batch_major));
    const int F = 12;
    float *x = random_floats((size_t)T * B * I, 11), *g = random_floats((size_t)T * B * F, 12);
    float *xb = transpose_tb(x, T, B, I), *gb = transpose_tb(g, T, B, F);
    int64_t lengths[3] = {2, 5, 3};
    run_result a = run_once(time_major, T, B, x, lengths, g);
    run_result b = run_once(batch_major, T, B, xb, lengths, gb);
    float *a_out_b = transpose_tb(a.output, T, B, F), *a_gin_b = transpose_tb(a.grad_input, T, B, I);
    CHECK(memcmp(a_out_b, b.output, (size_t)T * B * F * sizeof(float)) == 0);
    CHECK(memcmp(a_gin_b, b.grad_input, (size_t)T * B * I * sizeof(float)) == 0);
    CHECK(memcmp(a.h_n, b.h_n, recur_rnn_state_numel(time_major, B) * sizeof(float)) == 0);
    CHECK(memcmp(a.grads, b.grads, recur_rnn_param_total(time_major) * sizeof(float)) == 0);
    free_result(&a), free_result(&b);
    free(x), free(g), free(xb), free(gb), free(a_out_b), free(a_gin_b);
    recur_rnn_free(time_major), recur_rnn_free(batch_major);
}

/* A sequence in a padded batch gives what it gives alone, and the padding
 * gets zero output and zero input gradient. */
static void test_lengths_isolate_sequences(void)
{
    const int T = 6, B = 3, I = 3, H = 4, D = 2, F = D * H;
    recur_rnn_config c = recur_rnn_config_default(RECUR_GRU, I, H);
    c.bidirectional = 1, c.num_layers = 2;
    recur_rnn *rnn = NULL;
    CHECK_OK(recur_rnn_create(&c, 9, &rnn));
    float *x = random_floats((size_t)T * B * I, 21), *g = random_floats((size_t)T * B * F, 22);
    int64_t lengths[3] = {4, 6, 1};
    run_result batch = run_once(rnn, T, B, x, lengths, g);
    for (int b = 0; b < B; b++) {
        int len = (int)lengths[b];
        float *xs = malloc((size_t)len * I * sizeof(float)), *gs = malloc((size_t)len * F * sizeof(float));
        for (int t = 0; t < len; t++) {
            memcpy(xs + (size_t)t * I, x + ((size_t)t * B + b) * I, I * sizeof(float));
            memcpy(gs + (size_t)t * F, g + ((size_t)t * B + b) * F, F * sizeof(float));
        }
        run_result alone = run_once(rnn, len, 1, xs, NULL, gs);
        double worst = 0;
        for (int t = 0; t < T; t++)
            for (int k = 0; k < F; k++) {
                float got = batch.output[((size_t)t * B + b) * F + k];
                float want = t < len ? alone.output[(size_t)t * F + k] : 0.0f;
                worst = fmax(worst, fabs(got - want));
            }
        for (int t = len; t < T; t++)
            for (int k = 0; k < I; k++)
                worst = fmax(worst, fabs(batch.grad_input[((size_t)t * B + b) * I + k]));
        for (int s = 0; s < 2 * D; s++)
            for (int k = 0; k < H; k++)
                worst = fmax(worst, fabs(batch.h_n[((size_t)s * B + b) * H + k] -
                                         alone.h_n[(size_t)s * H + k]));
        CHECK(worst < 1e-6);
        free_result(&alone);
        free(xs), free(gs);
    }
    /* All lengths = T is the same as no lengths. */
    int64_t full[3] = {T, T, T};
    run_result with = run_once(rnn, T, B, x, full, g), without = run_once(rnn, T, B, x, NULL, g);
    CHECK(memcmp(with.output, without.output, (size_t)T * B * F * sizeof(float)) == 0);
    CHECK(memcmp(with.grads, without.grads, recur_rnn_param_total(rnn) * sizeof(float)) == 0);
    free_result(&with), free_result(&without), free_result(&batch);
    free(x), free(g);
    recur_rnn_free(rnn);
}

static void test_gradient_accumulates(void)
{
    recur_rnn_config c = recur_rnn_config_default(RECUR_RNN_TANH, 3, 4);
    recur_rnn *rnn = NULL;
    CHECK_OK(recur_rnn_create(&c, 3, &rnn));
    float *x = random_floats(5 * 2 * 3, 1), *g = random_floats(5 * 2 * 4, 2);
    float out[40], h_n[8];
    recur_rnn_forward_args fwd = {5, 2, x, NULL, NULL, NULL, out, h_n, NULL};
    recur_rnn_backward_args bwd = {g, NULL, NULL, NULL, NULL, NULL};
    CHECK_OK(recur_rnn_forward(rnn, &fwd));
    recur_rnn_zero_grad(rnn);
    CHECK_OK(recur_rnn_backward(rnn, &bwd));
    size_t n = recur_rnn_param_total(rnn);
    float *once = malloc(n * sizeof(float));
    memcpy(once, recur_rnn_grad_data(rnn), n * sizeof(float));
    CHECK_OK(recur_rnn_backward(rnn, &bwd));
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(recur_rnn_grad_data(rnn)[i] - 2 * once[i]));
    CHECK(worst < 1e-6);
    recur_rnn_zero_grad(rnn);
    CHECK(recur_rnn_grad_data(rnn)[0] == 0.0f);
    free(once), free(x), free(g);
    recur_rnn_free(rnn);
}

static void test_save_and_load(const char *scratch)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/api_model.safetensors", scratch);
    recur_rnn_config c = recur_rnn_config_default(RECUR_LSTM, 3, 6);
    c.num_layers = 2, c.bidirectional = 1, c.proj_size = 2, c.batch_first = 1;
    recur_rnn *rnn = NULL, *loaded = NULL;
    CHECK_OK(recur_rnn_create(&c, 77, &rnn));
    CHECK_OK(recur_rnn_save(rnn, path));
    recur_st_file *file = NULL;
    CHECK_OK(recur_st_open(path, &file));
    if (file) {
        CHECK(strcmp(recur_st_metadata(file, "recur.module"), "lstm") == 0);
        CHECK(strcmp(recur_st_metadata(file, "proj_size"), "2") == 0);
        CHECK_OK(recur_rnn_from_safetensors(file, &loaded));
    }
    if (loaded) {
        CHECK(memcmp(recur_rnn_get_config(loaded), &c, sizeof c) == 0);
        CHECK(memcmp(recur_rnn_param_data(loaded), recur_rnn_param_data(rnn),
                     recur_rnn_param_total(rnn) * sizeof(float)) == 0);
    }
    recur_rnn_free(loaded);
    recur_st_close(file);
    remove(path);
    recur_rnn_free(rnn);
}

/* Writes a model file with the given metadata and tensors and tries to load it. */
static recur_status load_variant(const char *scratch, const char *module, const char *layers,
                                 const char *extra_tensor, int64_t wrong_rows)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/api_variant.safetensors", scratch);
    recur_st_writer *w = NULL;
    CHECK_OK(recur_st_writer_create(&w));
    if (module)
        recur_st_writer_set_metadata(w, "recur.module", module);
    if (layers)
        recur_st_writer_set_metadata(w, "num_layers", layers);
    float data[64] = {0};
    int64_t wih[2] = {wrong_rows ? wrong_rows : 12, 2}, whh[2] = {12, 4}, b[1] = {12};
    recur_st_writer_add(w, "weight_ih_l0", RECUR_F32, 2, wih, data);
    recur_st_writer_add(w, "weight_hh_l0", RECUR_F32, 2, whh, data);
    recur_st_writer_add(w, "bias_ih_l0", RECUR_F32, 1, b, data);
    recur_st_writer_add(w, "bias_hh_l0", RECUR_F32, 1, b, data);
    if (extra_tensor)
        recur_st_writer_add(w, extra_tensor, RECUR_F32, 1, b, data);
    CHECK_OK(recur_st_writer_save(w, path));
    recur_st_writer_free(w);
    recur_st_file *file = NULL;
    recur_rnn *rnn = NULL;
    recur_status st = recur_st_open(path, &file);
    if (st == RECUR_OK)
        st = recur_rnn_from_safetensors(file, &rnn);
    if (st == RECUR_OK) {
        const recur_rnn_config *c = recur_rnn_get_config(rnn);
        CHECK(c->input_size == 2 && c->hidden_size == 4 && c->num_layers == 1);
    }
    recur_rnn_free(rnn);
    recur_st_close(file);
    remove(path);
    return st;
}

static void test_model_file_errors(const char *scratch)
{
    /* A GRU of hidden 4 has 12 gate rows; sizes are read off weight_ih_l0. */
    CHECK_OK(load_variant(scratch, "gru", NULL, NULL, 0));
    CHECK_STATUS(load_variant(scratch, NULL, NULL, NULL, 0), RECUR_E_FORMAT);
    CHECK(strstr(recur_last_error(), "recur.module") != NULL);
    CHECK_STATUS(load_variant(scratch, "transformer", NULL, NULL, 0), RECUR_E_FORMAT);
    CHECK_STATUS(load_variant(scratch, "gru", "2", NULL, 0), RECUR_E_SHAPE);
    CHECK_STATUS(load_variant(scratch, "gru", "two", NULL, 0), RECUR_E_FORMAT);
    CHECK_STATUS(load_variant(scratch, "gru", NULL, "weight_ih_l9", 0), RECUR_E_SHAPE);
    CHECK(strstr(recur_last_error(), "weight_ih_l9") != NULL);
    CHECK_STATUS(load_variant(scratch, "gru", "0", NULL, 0), RECUR_E_FORMAT);
    /* An LSTM reading a GRU's tensors: weight_hh_l0 has the wrong shape. */
    CHECK_STATUS(load_variant(scratch, "lstm", NULL, NULL, 16), RECUR_E_SHAPE);
}

int main(int argc, char **argv)
{
    const char *scratch = argc > 1 ? argv[1] : ".";
    test_invalid_configs();
    test_parameter_names_and_init();
    test_call_errors();
    test_batch_first_equivalence();
    test_lengths_isolate_sequences();
    test_gradient_accumulates();
    test_save_and_load(scratch);
    test_model_file_errors(scratch);
    return test_finish("test_rnn_api");
}
