/* recur_seqnet, recur_seqdec and recur_seq2seq against PyTorch references
 * (tests/fixtures/make_model_fixtures.py): every output and every parameter
 * gradient. Error = max |recur - torch| / max |torch| (floor 1e-6): at most
 * 1e-4 for outputs and losses, 1e-3 for gradients (a gradient that is 0 in
 * exact arithmetic: max |recur| <= 1e-6).
 * usage: test_model_reference FIXTURE_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define TOL_OUTPUT 1e-4
#define TOL_GRAD 1e-3

static double worst_output, worst_grad;
static char worst_output_at[160], worst_grad_at[160];

static int meta_int(const recur_st_file *f, const char *key)
{
    const char *v = recur_st_metadata(f, key);
    CHECK(v != NULL);
    return v ? atoi(v) : 0;
}

static float *read_f32(const recur_st_file *f, const char *name, size_t *numel)
{
    const recur_tensor_view *t = recur_st_find(f, name);
    if (!t)
        return NULL;
    float *data = malloc((t->numel + 1) * sizeof(float));
    if (!data || recur_tensor_to_f32(t, data, t->numel) != RECUR_OK) {
        free(data);
        return NULL;
    }
    if (numel)
        *numel = t->numel;
    return data;
}

static int64_t *read_i64(const recur_st_file *f, const char *name, size_t *numel)
{
    const recur_tensor_view *t = recur_st_find(f, name);
    if (!t)
        return NULL;
    int64_t *data = malloc((t->numel + 1) * sizeof(int64_t));
    if (!data || recur_tensor_to_i64(t, data, t->numel) != RECUR_OK) {
        free(data);
        return NULL;
    }
    if (numel)
        *numel = t->numel;
    return data;
}

/* Compares n values against the fixture tensor `name` (which must hold n). */
static void expect_close(const char *c, const recur_st_file *f, const char *name,
                         const float *actual, size_t n, int is_grad)
{
    size_t count = 0;
    float *want = read_f32(f, name, &count);
    double err = want && count == n ? test_rel_error(actual, want, n, 1e-6) : INFINITY;
    if (want && count == n && is_grad) {
        /* a gradient that is 0 in exact arithmetic (scaled dot-product's key bias:
         * it adds q . b_k to every score of a softmax) is float32 noise in recur:
         * then |recur| <= 1e-6 is required instead */
        double ref = 0, got = 0;
        for (size_t i = 0; i < n; i++)
            ref = fmax(ref, fabs(want[i])), got = fmax(got, fabs(actual[i]));
        if (ref < 1e-9)
            err = got <= 1e-6 ? 0 : INFINITY;
    }
    double tol = is_grad ? TOL_GRAD : TOL_OUTPUT;
    double *worst = is_grad ? &worst_grad : &worst_output;
    char *at = is_grad ? worst_grad_at : worst_output_at;
    if (!(err <= *worst)) {
        *worst = err;
        snprintf(at, 160, "%s %s", c, name);
    }
    test_checks++;
    if (!(err <= tol)) {
        test_failures++;
        fprintf(stderr, "%s: %s error %.3g (limit %.0e)%s\n", c, name, err, tol,
                want ? (count == n ? "" : " (size mismatch)") : " (missing)");
    }
    free(want);
}

/* Copies "param.<name>" into every parameter; every fixture parameter must be used. */
static void load_params(const char *c, const recur_st_file *f, int count,
                        recur_status (*get)(const void *, int, recur_param *), const void *model)
{
    int used = 0;
    for (int i = 0; i < count; i++) {
        recur_param p;
        CHECK_OK(get(model, i, &p));
        char key[128];
        snprintf(key, sizeof key, "param.%s", p.name);
        const recur_tensor_view *t = recur_st_find(f, key);
        if (!t || t->numel != p.numel) {
            test_checks++, test_failures++;
            fprintf(stderr, "%s: %s %s\n", c, key, t ? "has the wrong size" : "missing");
            continue;
        }
        CHECK_OK(recur_tensor_to_f32(t, p.value, p.numel));
        used++;
    }
    size_t in_file = 0;
    for (size_t i = 0; i < recur_st_count(f); i++)
        in_file += !strncmp(recur_st_tensor(f, i)->name, "param.", 6);
    if ((size_t)used != in_file) {
        test_checks++, test_failures++;
        fprintf(stderr, "%s: the model has %d parameters, the fixture %zu\n", c, used, in_file);
    }
}

static void check_grads(const char *c, const recur_st_file *f, int count,
                        recur_status (*get)(const void *, int, recur_param *), const void *model)
{
    for (int i = 0; i < count; i++) {
        recur_param p;
        CHECK_OK(get(model, i, &p));
        char key[128];
        snprintf(key, sizeof key, "expected.grad.%s", p.name);
        expect_close(c, f, key, p.grad, p.numel, 1);
    }
}

static recur_status seqnet_param(const void *m, int i, recur_param *p)
{
    return recur_seqnet_param((const recur_seqnet *)m, i, p);
}

static recur_status seq2seq_param(const void *m, int i, recur_param *p)
{
    return recur_seq2seq_param((const recur_seq2seq *)m, i, p);
}

static recur_cell cell_of(const recur_st_file *f)
{
    static const char *names[] = {"rnn_tanh", "rnn_relu", "lstm", "gru"};
    const char *cell = recur_st_metadata(f, "cell");
    for (int i = 0; cell && i < 4; i++)
        if (!strcmp(cell, names[i]))
            return (recur_cell)i;
    CHECK(!"a known cell");
    return RECUR_GRU;
}

static recur_status seqdec_param(const void *m, int i, recur_param *p)
{
    return recur_seqdec_param((const recur_seqdec *)m, i, p);
}

static void check_seqnet(const char *c, const recur_st_file *f)
{
    static const char *pools[] = {"last", "mean", "max", "attention"};
    recur_seqnet_config cfg = recur_seqnet_config_default(
        cell_of(f), meta_int(f, "input_size"), meta_int(f, "hidden_size"),
        meta_int(f, "output_size"));
    cfg.rnn.num_layers = meta_int(f, "num_layers");
    cfg.rnn.bidirectional = meta_int(f, "bidirectional");
    cfg.rnn.proj_size = meta_int(f, "proj_size");
    cfg.vocab_size = meta_int(f, "vocab_size");
    cfg.padding_idx = meta_int(f, "padding_idx");
    const char *pool = recur_st_metadata(f, "pool");
    for (int i = 0; pool && i < 4; i++)
        if (!strcmp(pool, pools[i]))
            cfg.pool = (recur_pool)i;
    recur_seqnet *net = NULL;
    CHECK_OK(recur_seqnet_create(&cfg, 7, &net));
    if (!net)
        return;
    load_params(c, f, recur_seqnet_param_count(net), seqnet_param, net);

    const recur_tensor_view *in = recur_st_find(f, cfg.vocab_size ? "ids" : "input");
    CHECK(in != NULL);
    if (!in) {
        recur_seqnet_free(net);
        return;
    }
    const int T = (int)in->shape[0], B = (int)in->shape[1], O = cfg.output_size;
    int64_t *lengths = read_i64(f, "lengths", NULL), *ids = NULL;
    float *input = NULL, *grad_input = NULL, *grad_result = read_f32(f, "grad_result", NULL);
    const float *result = NULL;
    /* twice: the second forward and backward must not depend on the first */
    for (int pass = 0; pass < 2; pass++) {
        if (cfg.vocab_size) {
            if (!ids)
                ids = read_i64(f, "ids", NULL);
            CHECK_OK(recur_seqnet_forward_ids(net, T, B, ids, lengths, &result));
        } else {
            if (!input) {
                input = read_f32(f, "input", NULL);
                grad_input = malloc(in->numel * sizeof(float));
            }
            CHECK_OK(recur_seqnet_forward(net, T, B, input, lengths, &result));
        }
        recur_seqnet_zero_grad(net);
        CHECK_OK(recur_seqnet_backward(net, grad_result, grad_input));
    }
    if (result)
        expect_close(c, f, "expected.result", result, (size_t)B * O, 0);
    if (grad_input)
        expect_close(c, f, "expected.grad_input", grad_input, in->numel, 1);
    check_grads(c, f, recur_seqnet_param_count(net), seqnet_param, net);
    free(lengths), free(ids), free(input), free(grad_input), free(grad_result);
    recur_seqnet_free(net);
}

/* Free running first, then teacher-forced forward and backward twice. */
static void check_seqdec(const char *c, const recur_st_file *f)
{
    recur_seqdec_config cfg = recur_seqdec_config_default(
        cell_of(f), meta_int(f, "input_size"), meta_int(f, "hidden_size"), meta_int(f, "targets"),
        meta_int(f, "horizon"));
    cfg.rnn.num_layers = meta_int(f, "num_layers");
    cfg.rnn.proj_size = meta_int(f, "proj_size");
    recur_seqdec *net = NULL;
    CHECK_OK(recur_seqdec_create(&cfg, 7, &net));
    const recur_tensor_view *in = recur_st_find(f, "input");
    CHECK(in != NULL);
    if (!net || !in) {
        recur_seqdec_free(net);
        return;
    }
    load_params(c, f, recur_seqdec_param_count(net), seqdec_param, net);
    const int W = (int)in->shape[0], B = (int)in->shape[1];
    const size_t n = (size_t)B * cfg.horizon * cfg.targets;
    float *input = read_f32(f, "input", NULL), *start = read_f32(f, "start", NULL);
    float *teacher = read_f32(f, "teacher", NULL), *grad = read_f32(f, "grad_result", NULL);
    float *grad_input = malloc(in->numel * sizeof(float));
    const float *result = NULL;
    CHECK_OK(recur_seqdec_forward(net, W, B, input, start, NULL, &result));
    if (result)
        expect_close(c, f, "expected.result_free", result, n, 0);
    for (int pass = 0; pass < 2; pass++) {
        CHECK_OK(recur_seqdec_forward(net, W, B, input, start, teacher, &result));
        recur_seqdec_zero_grad(net);
        CHECK_OK(recur_seqdec_backward(net, grad, grad_input));
    }
    if (result)
        expect_close(c, f, "expected.result", result, n, 0);
    expect_close(c, f, "expected.grad_input", grad_input, in->numel, 1);
    check_grads(c, f, recur_seqdec_param_count(net), seqdec_param, net);
    free(input), free(start), free(teacher), free(grad), free(grad_input);
    recur_seqdec_free(net);
}

static void check_seq2seq(const char *c, const recur_st_file *f)
{
    recur_seq2seq_config cfg = recur_seq2seq_config_default(
        cell_of(f), meta_int(f, "source_vocab"), meta_int(f, "target_vocab"),
        meta_int(f, "embed_size"), meta_int(f, "hidden_size"));
    cfg.num_layers = meta_int(f, "num_layers");
    cfg.bidirectional = meta_int(f, "bidirectional");
    cfg.attention_size = meta_int(f, "attention_size");
    const char *attn = recur_st_metadata(f, "attention");
    CHECK(attn != NULL);
    attn = attn ? attn : "none";
    cfg.attention = strcmp(attn, "none") != 0;
    cfg.attention_kind = !strcmp(attn, "dot")          ? RECUR_ATTN_DOT
                         : !strcmp(attn, "general")    ? RECUR_ATTN_GENERAL
                         : !strcmp(attn, "scaled_dot") ? RECUR_ATTN_SCALED_DOT
                                                       : RECUR_ATTN_ADDITIVE;
    recur_seq2seq *model = NULL;
    CHECK_OK(recur_seq2seq_create(&cfg, 7, &model));
    if (!model)
        return;
    load_params(c, f, recur_seq2seq_param_count(model), seq2seq_param, model);
    const recur_tensor_view *src = recur_st_find(f, "source"), *tgt = recur_st_find(f, "target");
    CHECK(src != NULL && tgt != NULL);
    if (!src || !tgt) {
        recur_seq2seq_free(model);
        return;
    }
    int64_t *source = read_i64(f, "source", NULL), *target = read_i64(f, "target", NULL);
    int64_t *slen = read_i64(f, "source_lengths", NULL), *tlen = read_i64(f, "target_lengths", NULL);
    recur_seq2seq_batch batch = {(int)src->shape[1], (int)src->shape[0], source, slen,
                                 (int)tgt->shape[0], target, tlen};
    const int T = batch.target_len, B = batch.batch, V = cfg.target_vocab;
    float loss = NAN;
    const float *logits = NULL;
    for (int pass = 0; pass < 2; pass++) {
        CHECK_OK(recur_seq2seq_forward(model, &batch, &loss, &logits));
        recur_seq2seq_zero_grad(model);
        CHECK_OK(recur_seq2seq_backward(model));
    }
    expect_close(c, f, "expected.loss", &loss, 1, 0);
    if (logits)
        expect_close(c, f, "expected.logits", logits, (size_t)T * B * V, 0);
    check_grads(c, f, recur_seq2seq_param_count(model), seq2seq_param, model);
    free(source), free(target), free(slen), free(tlen);
    recur_seq2seq_free(model);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    char path[1024], name[128];
    snprintf(path, sizeof path, "%s/model_cases.txt", argv[1]);
    FILE *list = fopen(path, "r");
    CHECK(list != NULL);
    int cases = 0;
    while (list && fscanf(list, "%127s", name) == 1) {
        recur_st_file *f = NULL;
        snprintf(path, sizeof path, "%s/model_%s.safetensors", argv[1], name);
        CHECK_OK(recur_st_open(path, &f));
        if (!f)
            continue;
        const char *model = recur_st_metadata(f, "model");
        CHECK(model != NULL);
        if (model && !strcmp(model, "seqnet"))
            check_seqnet(name, f);
        else if (model && !strcmp(model, "seqdec"))
            check_seqdec(name, f);
        else if (model)
            check_seq2seq(name, f);
        recur_st_close(f);
        cases++;
    }
    if (list)
        fclose(list);
    CHECK(cases >= 34);
    printf("%d cases; worst output error %.3g (%s), worst gradient error %.3g (%s)\n", cases,
           worst_output, worst_output_at, worst_grad, worst_grad_at);
    return test_finish("test_model_reference");
}
