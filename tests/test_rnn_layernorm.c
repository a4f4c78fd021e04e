/* Layer-norm LSTM / GRU against the PyTorch float64 reference of
 * tests/fixtures/make_layernorm_fixtures.py (forward, h_n, c_n and the
 * gradients of input, h0, c0 and every parameter), and the save/load round
 * trip of the regularization options.
 * usage: test_rnn_layernorm FIXTURE_DIR SCRATCH_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define STATE_TOLERANCE 1e-4
#define GRAD_TOLERANCE 1e-3

static double worst_state, worst_grad;
static char worst_state_name[160], worst_grad_name[160];

static recur_st_file *open_kind(const char *dir, const char *name, const char *kind)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s.safetensors", dir, name, kind);
    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open(path, &f));
    return f;
}

static float *read_f32(const recur_st_file *f, const char *name, size_t *numel)
{
    const recur_tensor_view *t = f ? recur_st_find(f, name) : NULL;
    if (!t)
        return NULL;
    float *data = malloc((t->numel ? t->numel : 1) * sizeof(float));
    CHECK_OK(recur_tensor_to_f32(t, data, t->numel));
    if (numel)
        *numel = t->numel;
    return data;
}

static void compare(const char *case_name, const recur_st_file *expected, const char *name,
                    const float *actual, size_t numel)
{
    size_t n = 0;
    float *want = read_f32(expected, name, &n);
    test_checks++;
    if (!want || n != numel) {
        test_failures++;
        fprintf(stderr, "%s: %s missing or of the wrong size\n", case_name, name);
        free(want);
        return;
    }
    int grad = strncmp(name, "grad", 4) == 0;
    double err = test_rel_error(actual, want, n, 1e-6);
    double *worst = grad ? &worst_grad : &worst_state;
    if (err > *worst) {
        *worst = err;
        snprintf(grad ? worst_grad_name : worst_state_name, 160, "%s %s", case_name, name);
    }
    if (!(err <= (grad ? GRAD_TOLERANCE : STATE_TOLERANCE))) {
        test_failures++;
        fprintf(stderr, "%s: %s relative error %.3g\n", case_name, name, err);
    }
    free(want);
}

static void check_case(const char *dir, const char *name)
{
    recur_st_file *model = open_kind(dir, name, "model"), *in = open_kind(dir, name, "in");
    recur_st_file *go = open_kind(dir, name, "grad"), *expected = open_kind(dir, name, "expected");
    recur_rnn *rnn = NULL;
    if (model)
        CHECK_OK(recur_rnn_from_safetensors(model, &rnn));
    if (!rnn || !in || !go || !expected)
        goto done;
    const recur_rnn_config *c = recur_rnn_get_config(rnn);
    CHECK(c->layer_norm == 1);
    const recur_tensor_view *x = recur_st_find(in, "input");
    int T = (int)x->shape[c->batch_first ? 1 : 0], B = (int)x->shape[c->batch_first ? 0 : 1];
    float *input = read_f32(in, "input", NULL), *h0 = read_f32(in, "h0", NULL);
    float *c0 = read_f32(in, "c0", NULL);
    int64_t *lengths = NULL;
    const recur_tensor_view *len = recur_st_find(in, "lengths");
    if (len) {
        lengths = malloc(sizeof(int64_t) * len->numel);
        CHECK_OK(recur_tensor_to_i64(len, lengths, len->numel));
    }
    size_t out_n = recur_rnn_output_numel(rnn, T, B), st_n = recur_rnn_state_numel(rnn, B);
    size_t cell_n = recur_rnn_cell_state_numel(rnn, B);
    float *out = calloc(out_n, sizeof(float)), *h_n = calloc(st_n, sizeof(float));
    float *c_n = calloc(cell_n + 1, sizeof(float));
    recur_rnn_forward_args fwd = {T, B, input, lengths, h0, c0, out, h_n, cell_n ? c_n : NULL};
    CHECK_OK(recur_rnn_forward(rnn, &fwd));
    compare(name, expected, "output", out, out_n);
    compare(name, expected, "h_n", h_n, st_n);
    if (cell_n)
        compare(name, expected, "c_n", c_n, cell_n);
    float *g_out = read_f32(go, "grad_output", NULL), *g_h = read_f32(go, "grad_h_n", NULL);
    float *g_c = read_f32(go, "grad_c_n", NULL);
    float *gx = calloc(x->numel, sizeof(float)), *gh0 = calloc(st_n, sizeof(float));
    float *gc0 = calloc(cell_n + 1, sizeof(float));
    recur_rnn_backward_args bwd = {g_out, g_h, g_c, gx, gh0, cell_n ? gc0 : NULL};
    recur_rnn_zero_grad(rnn);
    CHECK_OK(recur_rnn_backward(rnn, &bwd));
    compare(name, expected, "grad_input", gx, x->numel);
    if (h0)
        compare(name, expected, "grad_h0", gh0, st_n);
    if (c0)
        compare(name, expected, "grad_c0", gc0, cell_n);
    for (int i = 0; i < recur_rnn_param_count(rnn); i++) {
        recur_param p;
        char key[96];
        CHECK_OK(recur_rnn_param(rnn, i, &p));
        snprintf(key, sizeof key, "grad.%s", p.name);
        compare(name, expected, key, p.grad, p.numel);
    }
    free(input), free(h0), free(c0), free(lengths), free(out), free(h_n), free(c_n);
    free(g_out), free(g_h), free(g_c), free(gx), free(gh0), free(gc0);
done:
    recur_rnn_free(rnn);
    recur_st_close(model), recur_st_close(in), recur_st_close(go), recur_st_close(expected);
}

static void round_trip(const char *scratch)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/layernorm_round_trip.safetensors", scratch);
    recur_rnn_config c = recur_rnn_config_default(RECUR_GRU, 3, 4);
    c.num_layers = 2, c.bidirectional = 1, c.layer_norm = 1;
    c.dropout = 0.25f, c.recurrent_dropout = 0.1f, c.zoneout = 0.3f;
    recur_rnn *a = NULL, *b = NULL;
    CHECK_OK(recur_rnn_create(&c, 3, &a));
    if (!a)
        return;
    float *v = recur_rnn_param_data(a);
    for (size_t i = 0; i < recur_rnn_param_total(a); i++)
        v[i] += 0.001f * (float)(i % 17);
    CHECK_OK(recur_rnn_save(a, path));
    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open(path, &f));
    if (f) {
        CHECK(strcmp(recur_st_metadata(f, "layer_norm"), "true") == 0);
        CHECK(strcmp(recur_st_metadata(f, "zoneout"), "0.300000012") == 0);
        CHECK_OK(recur_rnn_from_safetensors(f, &b));
    }
    if (b) {
        const recur_rnn_config *d = recur_rnn_get_config(b);
        CHECK(d->layer_norm == 1 && d->dropout == c.dropout &&
              d->recurrent_dropout == c.recurrent_dropout && d->zoneout == c.zoneout);
        CHECK(recur_rnn_param_total(a) == recur_rnn_param_total(b));
        CHECK(memcmp(recur_rnn_param_data(a), recur_rnn_param_data(b),
                     recur_rnn_param_total(a) * sizeof(float)) == 0);
    }
    recur_rnn_free(b);
    recur_st_close(f);
    recur_rnn_free(a);
    /* A bad value in the metadata is a format error. */
    recur_st_writer *w = NULL;
    CHECK_OK(recur_st_writer_create(&w));
    c = recur_rnn_config_default(RECUR_LSTM, 2, 3);
    CHECK_OK(recur_rnn_create(&c, 1, &a));
    if (w && a) {
        CHECK_OK(recur_rnn_write(a, w, ""));
        CHECK_OK(recur_st_writer_set_metadata(w, "dropout", "1.5"));
        CHECK_OK(recur_st_writer_save(w, path));
        CHECK_OK(recur_st_open(path, &f));
        b = NULL;
        if (f)
            CHECK_STATUS(recur_rnn_from_safetensors(f, &b), RECUR_E_FORMAT);
        recur_st_close(f);
        CHECK_OK(recur_st_writer_set_metadata(w, "dropout", "abc"));
        CHECK_OK(recur_st_writer_save(w, path));
        CHECK_OK(recur_st_open(path, &f));
        if (f)
            CHECK_STATUS(recur_rnn_from_safetensors(f, &b), RECUR_E_FORMAT);
        recur_st_close(f);
    }
    recur_st_writer_free(w);
    recur_rnn_free(a);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s FIXTURE_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    char path[1024], line[256];
    snprintf(path, sizeof path, "%s/cases.txt", argv[1]);
    FILE *list = fopen(path, "r");
    CHECK(list != NULL);
    int cases = 0;
    while (list && fgets(line, sizeof line, list)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        check_case(argv[1], line);
        cases++;
    }
    if (list)
        fclose(list);
    CHECK(cases >= 6);
    round_trip(argv[2]);
    printf("%d cases; worst state error %.3g (%s), worst gradient error %.3g (%s)\n", cases,
           worst_state, worst_state_name, worst_grad, worst_grad_name);
    return test_finish("test_rnn_layernorm");
}
