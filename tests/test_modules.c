/* Linear, Embedding and cross-entropy against PyTorch fixtures
 * (tests/fixtures/make_module_fixtures.py), plus finite-difference checks.
 * usage: test_modules FIXTURE_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "test_util.h"

#define TOLERANCE 1e-5

static float *read_f32(const recur_st_file *f, const char *name, size_t *numel)
{
    const recur_tensor_view *t = recur_st_find(f, name);
    if (!t)
        return NULL;
    float *data = malloc((t->numel + 1) * sizeof(float));
    if (recur_tensor_to_f32(t, data, t->numel) != RECUR_OK) {
        free(data);
        return NULL;
    }
    if (numel)
        *numel = t->numel;
    return data;
}

static void expect_close(const char *c, const recur_st_file *f, const char *name,
                         const float *actual)
{
    size_t n = 0;
    float *want = read_f32(f, name, &n);
    double err = want ? test_rel_error(actual, want, n, 1e-6) : INFINITY;
    test_checks++;
    if (!(err <= TOLERANCE)) {
        test_failures++;
        fprintf(stderr, "%s: %s error %.3g\n", c, name, err);
    }
    free(want);
}

static void check_linear(const char *c, const recur_st_file *f)
{
    const recur_tensor_view *x = recur_st_find(f, "x"), *w = recur_st_find(f, "weight");
    int rows = (int)x->shape[0], n_in = (int)x->shape[1], n_out = (int)w->shape[0];
    int bias = recur_st_find(f, "bias") != NULL;
    recur_linear *lin = NULL;
    CHECK_OK(recur_linear_create(n_in, n_out, bias, 1, &lin));
    recur_param pw, pb;
    CHECK_OK(recur_linear_param(lin, 0, &pw));
    CHECK_OK(recur_tensor_to_f32(w, pw.value, pw.numel));
    if (bias) {
        CHECK_OK(recur_linear_param(lin, 1, &pb));
        CHECK_OK(recur_tensor_to_f32(recur_st_find(f, "bias"), pb.value, pb.numel));
    }
    float *xs = read_f32(f, "x", NULL), *gy = read_f32(f, "grad_y", NULL);
    float *y = calloc((size_t)rows * n_out, sizeof(float)), *gx = calloc((size_t)rows * n_in, sizeof(float));
    CHECK_OK(recur_linear_forward(lin, rows, xs, y));
    recur_linear_zero_grad(lin);
    CHECK_OK(recur_linear_backward(lin, gy, gx));
    expect_close(c, f, "expected.y", y);
    expect_close(c, f, "expected.grad_x", gx);
    expect_close(c, f, "expected.grad_weight", pw.grad);
    if (bias)
        expect_close(c, f, "expected.grad_bias", pb.grad);
    free(xs), free(gy), free(y), free(gx);
    recur_linear_free(lin);
}

static void check_embedding(const char *c, const recur_st_file *f)
{
    const recur_tensor_view *w = recur_st_find(f, "weight"), *ids_t = recur_st_find(f, "ids");
    int padding = atoi(recur_st_metadata(f, "padding_idx"));
    int n = (int)ids_t->numel, dim = (int)w->shape[1];
    recur_embedding *emb = NULL;
    CHECK_OK(recur_embedding_create((int)w->shape[0], dim, padding, 1, &emb));
    recur_param p;
    CHECK_OK(recur_embedding_param(emb, &p));
    CHECK_OK(recur_tensor_to_f32(w, p.value, p.numel));
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)n);
    CHECK_OK(recur_tensor_to_i64(ids_t, ids, (size_t)n));
    float *gy = read_f32(f, "grad_y", NULL), *y = calloc((size_t)n * dim, sizeof(float));
    CHECK_OK(recur_embedding_forward(emb, n, ids, y));
    recur_embedding_zero_grad(emb);
    CHECK_OK(recur_embedding_backward(emb, gy));
    expect_close(c, f, "expected.y", y);
    expect_close(c, f, "expected.grad_weight", p.grad);
    ids[0] = (int64_t)w->shape[0];
    CHECK_STATUS(recur_embedding_forward(emb, n, ids, y), RECUR_E_SHAPE);
    free(ids), free(gy), free(y);
    recur_embedding_free(emb);
}

static void check_cross_entropy(const char *c, const recur_st_file *f)
{
    const recur_tensor_view *logits_t = recur_st_find(f, "logits");
    int n = (int)logits_t->shape[0], classes = (int)logits_t->shape[1];
    float *logits = read_f32(f, "logits", NULL), *weights = read_f32(f, "class_weights", NULL);
    int64_t *targets = malloc(sizeof(int64_t) * (size_t)n);
    CHECK_OK(recur_tensor_to_i64(recur_st_find(f, "targets"), targets, (size_t)n));
    recur_cross_entropy_options o = recur_cross_entropy_defaults();
    o.label_smoothing = (float)atof(recur_st_metadata(f, "label_smoothing"));
    o.class_weights = weights;
    o.reduction = strcmp(recur_st_metadata(f, "reduction"), "sum") ? RECUR_REDUCE_MEAN
                                                                    : RECUR_REDUCE_SUM;
    float loss = 0, *grad = calloc((size_t)n * classes, sizeof(float));
    CHECK_OK(recur_cross_entropy(n, classes, logits, targets, &o, &loss, grad));
    expect_close(c, f, "expected.loss", &loss);
    expect_close(c, f, "expected.grad_logits", grad);
    free(logits), free(weights), free(targets), free(grad);
}

/* Finite differences of cross-entropy with every option on. */
static void gradcheck_cross_entropy(void)
{
    const int n = 6, classes = 5;
    recur_rng rng;
    recur_rng_seed(&rng, 5);
    float logits[30], grad[30], weights[5];
    int64_t targets[6] = {0, 4, -100, 2, 2, 1};
    for (int i = 0; i < 30; i++)
        logits[i] = recur_rng_uniform(&rng, -2, 2);
    for (int i = 0; i < 5; i++)
        weights[i] = recur_rng_uniform(&rng, 0.5f, 1.5f);
    recur_cross_entropy_options o = recur_cross_entropy_defaults();
    o.label_smoothing = 0.15f, o.class_weights = weights;
    float loss;
    CHECK_OK(recur_cross_entropy(n, classes, logits, targets, &o, &loss, grad));
    double worst = 0;
    for (int i = 0; i < n * classes; i++) {
        float saved = logits[i], plus, minus;
        logits[i] = saved + 1e-2f;
        recur_cross_entropy(n, classes, logits, targets, &o, &plus, NULL);
        logits[i] = saved - 1e-2f;
        recur_cross_entropy(n, classes, logits, targets, &o, &minus, NULL);
        logits[i] = saved;
        worst = fmax(worst, fabs((plus - minus) / 2e-2 - grad[i]));
    }
    CHECK(worst < 1e-3);
    int64_t all_ignored[6] = {-100, -100, -100, -100, -100, -100};
    CHECK_OK(recur_cross_entropy(n, classes, logits, all_ignored, &o, &loss, grad));
    CHECK(loss == 0.0f && grad[0] == 0.0f);
    /* counted targets whose classes all weigh 0: also 0 (PyTorch: 0/0 = NaN) */
    int64_t zero_weighted[6] = {3, -100, 3, 3, -100, 3};
    weights[3] = 0.0f;
    CHECK_OK(recur_cross_entropy(n, classes, logits, zero_weighted, &o, &loss, grad));
    int grad_zero = 1;
    for (int i = 0; i < n * classes; i++)
        grad_zero &= grad[i] == 0.0f;
    CHECK(loss == 0.0f && grad_zero);
    targets[0] = 5;
    CHECK_STATUS(recur_cross_entropy(n, classes, logits, targets, &o, &loss, grad), RECUR_E_SHAPE);
}

static void check_errors(void)
{
    recur_linear *lin = NULL;
    recur_embedding *emb = NULL;
    CHECK_STATUS(recur_linear_create(0, 3, 1, 1, &lin), RECUR_E_INVALID);
    CHECK_STATUS(recur_embedding_create(5, 3, 5, 1, &emb), RECUR_E_INVALID);
    CHECK_OK(recur_linear_create(3, 2, 1, 1, &lin));
    float g[2] = {1, 1};
    CHECK_STATUS(recur_linear_backward(lin, g, NULL), RECUR_E_STATE);
    recur_param p;
    CHECK_OK(recur_linear_param(lin, 0, &p));
    int in_range = 1;
    for (size_t i = 0; i < p.numel; i++)
        in_range &= fabsf(p.value[i]) <= 1.0f / sqrtf(3.0f);
    CHECK(in_range);
    recur_linear_free(lin);
    CHECK_OK(recur_embedding_create(50, 40, 3, 1, &emb));
    CHECK_OK(recur_embedding_param(emb, &p));
    double mean = 0, var = 0;
    for (size_t i = 0; i < p.numel; i++)
        mean += p.value[i], var += (double)p.value[i] * p.value[i];
    mean /= (double)p.numel, var = var / (double)p.numel - mean * mean;
    CHECK(fabs(mean) < 0.1 && fabs(var - 1.0) < 0.15); /* N(0, 1) */
    CHECK(p.value[3 * 40] == 0.0f && p.value[3 * 40 + 39] == 0.0f); /* padding row */
    recur_embedding_free(emb);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    char path[1024], name[128];
    snprintf(path, sizeof path, "%s/module_cases.txt", argv[1]);
    FILE *list = fopen(path, "r");
    CHECK(list != NULL);
    int cases = 0;
    while (list && fscanf(list, "%127s", name) == 1) {
        recur_st_file *f = NULL;
        snprintf(path, sizeof path, "%s/module_%s.safetensors", argv[1], name);
        CHECK_OK(recur_st_open(path, &f));
        if (!f)
            continue;
        const char *kind = recur_st_metadata(f, "kind");
        if (!strcmp(kind, "linear"))
            check_linear(name, f);
        else if (!strcmp(kind, "embedding"))
            check_embedding(name, f);
        else
            check_cross_entropy(name, f);
        recur_st_close(f);
        cases++;
    }
    if (list)
        fclose(list);
    CHECK(cases == 11);
    gradcheck_cross_entropy();
    check_errors();
    return test_finish("test_modules");
}
