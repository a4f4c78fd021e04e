/* Element-wise losses, clip_grad_value, clip_grad_norm and the weight penalty against PyTorch
 * fixtures (tests/fixtures/make_train_fixtures.py), finite differences of every
 * loss gradient, and argument checks.
 * usage: test_losses FIXTURE_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "test_util.h"

#define LOSS_TOLERANCE 1e-5

static double worst_loss_error, worst_grad_error, worst_fd_error;

/* Case tensor "case.key" as float32 (NULL if absent); *numel its size. */
static float *read_case(const recur_st_file *f, const char *c, const char *key, size_t *numel)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", c, key);
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

static const char *case_meta(const recur_st_file *f, const char *c, const char *key)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", c, key);
    return recur_st_metadata(f, name);
}

/* Case tensor "case.key" as double (F64 read exactly, other types through
 * float32); *numel its size. */
static double *read_case_f64(const recur_st_file *f, const char *c, const char *key,
                             size_t *numel)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", c, key);
    const recur_tensor_view *t = recur_st_find(f, name);
    if (!t)
        return NULL;
    double *data = malloc((t->numel + 1) * sizeof(double));
    if (t->dtype == RECUR_F64) {
        memcpy(data, t->data, t->numel * sizeof(double)); /* little-endian host */
    } else {
        float *tmp = read_case(f, c, key, NULL);
        for (size_t i = 0; tmp && i < t->numel; i++)
            data[i] = tmp[i];
        free(tmp);
    }
    *numel = t->numel;
    return data;
}

/* Compares actual [n] with the case's tensor `key`: max |error| / max(max |expected|,
 * 1e-6) over the finite expected values, in double; a NaN or infinite expected
 * value must be matched exactly (NaN by NaN). Returns the error. */
static double expect_close(const recur_st_file *f, const char *c, const char *key,
                           const float *actual, size_t n)
{
    size_t m = 0;
    double *want = read_case_f64(f, c, key, &m);
    double err = INFINITY;
    if (want && m == n) {
        double max_diff = 0.0, max_ref = 1e-6;
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(want[i])) {
                int same = isnan(want[i]) ? isnan(actual[i]) : (double)actual[i] == want[i];
                max_diff = same ? max_diff : INFINITY;
                continue;
            }
            double d = fabs((double)actual[i] - want[i]);
            max_diff = d <= max_diff ? max_diff : (isnan(d) ? INFINITY : d);
            max_ref = fmax(max_ref, fabs(want[i]));
        }
        err = max_diff / max_ref;
    }
    test_checks++;
    if (!(err <= LOSS_TOLERANCE)) {
        test_failures++;
        fprintf(stderr, "%s: %s error %.3g\n", c, key, err);
    }
    free(want);
    return err;
}

static int parse_kind(const char *s, recur_loss_kind *kind)
{
    static const char *names[] = {"bce_logits", "mse", "l1", "huber"};
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, names[i])) {
            *kind = (recur_loss_kind)i;
            return 1;
        }
    return 0;
}

static void check_loss_case(const recur_st_file *f, const char *c)
{
    recur_loss_kind kind = RECUR_LOSS_MSE;
    CHECK(parse_kind(case_meta(f, c, "kind"), &kind));
    size_t n = 0, pw_n = 0;
    float *x = read_case(f, c, "input", &n), *y = read_case(f, c, "target", NULL);
    float *mask = read_case(f, c, "mask", NULL), *pw = read_case(f, c, "pos_weight", &pw_n);
    float *weight = read_case(f, c, "weight", NULL);
    recur_loss_options o = recur_loss_defaults();
    o.reduction = strcmp(case_meta(f, c, "reduction"), "sum") ? RECUR_REDUCE_MEAN
                                                               : RECUR_REDUCE_SUM;
    o.huber_delta = (float)atof(case_meta(f, c, "delta"));
    o.mask = mask;
    o.pos_weight = pw;
    o.pos_weight_size = (int)pw_n;
    o.weight = weight;
    float loss = NAN, *grad = calloc(n + 1, sizeof(float));
    CHECK(x && y && grad);
    CHECK_OK(recur_elementwise_loss(kind, n, x, y, &o, &loss, grad));
    worst_loss_error = fmax(worst_loss_error, expect_close(f, c, "expected.loss", &loss, 1));
    worst_grad_error = fmax(worst_grad_error, expect_close(f, c, "expected.grad", grad, n));
    /* the value alone (no gradient) is the same */
    float loss2 = NAN;
    CHECK_OK(recur_elementwise_loss(kind, n, x, y, &o, &loss2, NULL));
    CHECK(loss2 == loss);
    free(x), free(y), free(mask), free(pw), free(weight), free(grad);
}

static void check_clip_case(const recur_st_file *f, const char *c)
{
    size_t n0 = 0, n1 = 0;
    float *g0 = read_case(f, c, "g0", &n0), *g1 = read_case(f, c, "g1", &n1);
    float *grads[2] = {g0, g1};
    size_t sizes[2] = {n0, n1};
    const char *clip = case_meta(f, c, "clip_value"), *max_norm = case_meta(f, c, "max_norm");
    if (clip) {
        CHECK_OK(recur_clip_grad_value(2, grads, sizes, (float)atof(clip)));
    } else if (max_norm) {
        float norm = 0.0f;
        CHECK_OK(recur_clip_grad_norm(2, grads, sizes, (float)atof(max_norm), &norm));
        worst_loss_error = fmax(worst_loss_error, expect_close(f, c, "expected.norm", &norm, 1));
    } else {
        float *w0 = read_case(f, c, "w0", NULL), *w1 = read_case(f, c, "w1", NULL);
        const float *values[2] = {w0, w1};
        float loss = (float)atof(case_meta(f, c, "loss0"));
        CHECK_OK(recur_weight_penalty(2, values, grads, sizes, (float)atof(case_meta(f, c, "l1")),
                                      (float)atof(case_meta(f, c, "l2")), &loss));
        worst_loss_error = fmax(worst_loss_error, expect_close(f, c, "expected.loss", &loss, 1));
        free(w0), free(w1);
    }
    worst_grad_error = fmax(worst_grad_error, expect_close(f, c, "expected.g0", g0, n0));
    worst_grad_error = fmax(worst_grad_error, expect_close(f, c, "expected.g1", g1, n1));
    free(g0), free(g1);
}

/* Runs every case of FIXTURE_DIR/NAME; returns the number of cases. */
static int run_file(const char *dir, const char *name,
                    void (*check)(const recur_st_file *, const char *))
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open(path, &f));
    if (!f)
        return 0;
    const char *list = recur_st_metadata(f, "cases");
    CHECK(list != NULL);
    int cases = 0;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", list ? list : "");
    for (char *c = strtok(buf, ","); c; c = strtok(NULL, ",")) {
        check(f, c);
        cases++;
    }
    recur_st_close(f);
    return cases;
}

/* Central differences of every loss, mean and sum, with a mask and (BCE)
 * pos_weight and per-element weights; inputs kept away from the kinks of L1
 * and Huber. */
static void gradcheck_losses(void)
{
    enum { N = 18 };
    recur_rng rng;
    recur_rng_seed(&rng, 11);
    for (int kind = RECUR_LOSS_BCE_LOGITS; kind <= RECUR_LOSS_HUBER; kind++)
        for (int reduction = 0; reduction < 2; reduction++) {
            float x[N], y[N], mask[N], weight[N], grad[N], pw[3] = {0.5f, 1.0f, 2.5f};
            recur_loss_options o = recur_loss_defaults();
            o.reduction = (recur_reduction)reduction;
            o.huber_delta = 0.7f;
            o.mask = mask;
            if (kind == RECUR_LOSS_BCE_LOGITS)
                o.pos_weight = pw, o.pos_weight_size = 3, o.weight = weight;
            for (int i = 0; i < N; i++) {
                weight[i] = recur_rng_uniform(&rng, 0.5f, 2.0f);
                x[i] = recur_rng_uniform(&rng, -3, 3);
                if (kind == RECUR_LOSS_BCE_LOGITS) {
                    y[i] = recur_rng_uniform(&rng, 0, 1);
                } else {
                    float d;
                    do
                        d = recur_rng_uniform(&rng, -2, 2);
                    while (fabsf(d) < 0.05f || fabsf(fabsf(d) - o.huber_delta) < 0.05f);
                    y[i] = x[i] - d;
                }
                mask[i] = i % 5 == 2 ? 0.0f : 1.0f;
            }
            float loss;
            CHECK_OK(recur_elementwise_loss((recur_loss_kind)kind, N, x, y, &o, &loss, grad));
            double worst = 0;
            for (int i = 0; i < N; i++) {
                float saved = x[i], plus, minus;
                const float h = 1e-2f;
                x[i] = saved + h;
                recur_elementwise_loss((recur_loss_kind)kind, N, x, y, &o, &plus, NULL);
                x[i] = saved - h;
                recur_elementwise_loss((recur_loss_kind)kind, N, x, y, &o, &minus, NULL);
                x[i] = saved;
                worst = fmax(worst, fabs(((double)plus - minus) / (2.0 * h) - grad[i]));
            }
            worst_fd_error = fmax(worst_fd_error, worst);
            CHECK(worst < 2e-3);
            if (!(worst < 2e-3))
                fprintf(stderr, "finite differences: kind %d reduction %d error %.3g\n", kind,
                        reduction, worst);
        }
}

static void check_edge_cases(void)
{
    float x[4] = {NAN, 1.0f, INFINITY, -2.0f}, y[4] = {0.0f, 0.5f, 1.0f, 1.0f};
    float mask[4] = {0, 0, 0, 0}, grad[4] = {1, 1, 1, 1}, loss = 1.0f;
    recur_loss_options o = recur_loss_defaults();
    CHECK(o.reduction == RECUR_REDUCE_MEAN && o.huber_delta == 1.0f && !o.mask && !o.pos_weight &&
          !o.weight);
    o.mask = mask;
    /* all masked: 0, not NaN, for every kind and reduction; garbage is not read */
    for (int kind = RECUR_LOSS_BCE_LOGITS; kind <= RECUR_LOSS_HUBER; kind++)
        for (int reduction = 0; reduction < 2; reduction++) {
            o.reduction = (recur_reduction)reduction;
            loss = 1.0f, grad[0] = grad[3] = 1.0f;
            CHECK_OK(recur_elementwise_loss((recur_loss_kind)kind, 4, x, y, &o, &loss, grad));
            CHECK(loss == 0.0f && grad[0] == 0.0f && grad[3] == 0.0f);
        }
    /* padding may hold NaN: only the unmasked element counts */
    mask[3] = 1.0f;
    o.reduction = RECUR_REDUCE_MEAN;
    CHECK_OK(recur_elementwise_loss(RECUR_LOSS_MSE, 4, x, y, &o, &loss, grad));
    CHECK(loss == 9.0f && grad[3] == -6.0f && grad[0] == 0.0f && grad[2] == 0.0f);
    /* n = 0: loss 0 */
    loss = 1.0f;
    CHECK_OK(recur_elementwise_loss(RECUR_LOSS_L1, 0, x, y, NULL, &loss, NULL));
    CHECK(loss == 0.0f);
    /* NULL options = defaults (mean); L1 tie has gradient 0 */
    float a[3] = {1.0f, 2.0f, 3.0f}, b[3] = {1.0f, 0.0f, 5.0f}, g[3];
    CHECK_OK(recur_elementwise_loss(RECUR_LOSS_L1, 3, a, b, NULL, &loss, g));
    CHECK(fabsf(loss - 4.0f / 3.0f) < 1e-7f && g[0] == 0.0f && fabsf(g[1] - 1.0f / 3.0f) < 1e-7f &&
          fabsf(g[2] + 1.0f / 3.0f) < 1e-7f);
    /* Huber exactly at |d| = delta: 0.5 delta^2, gradient +-delta (sum) */
    recur_loss_options h = recur_loss_defaults();
    h.reduction = RECUR_REDUCE_SUM, h.huber_delta = 2.0f;
    CHECK_OK(recur_elementwise_loss(RECUR_LOSS_HUBER, 3, a, b, &h, &loss, g));
    CHECK(loss == 0.0f + 2.0f + 2.0f && g[0] == 0.0f && g[1] == 2.0f && g[2] == -2.0f);
    /* errors */
    CHECK_STATUS(recur_elementwise_loss(RECUR_LOSS_MSE, 3, NULL, b, NULL, &loss, g),
                 RECUR_E_INVALID);
    CHECK_STATUS(recur_elementwise_loss(RECUR_LOSS_MSE, 3, a, NULL, NULL, &loss, g),
                 RECUR_E_INVALID);
    CHECK_STATUS(recur_elementwise_loss(RECUR_LOSS_MSE, 3, a, b, NULL, NULL, g), RECUR_E_INVALID);
    CHECK(strlen(recur_last_error()) > 0);
    CHECK_STATUS(recur_elementwise_loss((recur_loss_kind)7, 3, a, b, NULL, &loss, g),
                 RECUR_E_INVALID);
    recur_loss_options bad = recur_loss_defaults();
    bad.reduction = (recur_reduction)5;
    CHECK_STATUS(recur_elementwise_loss(RECUR_LOSS_MSE, 3, a, b, &bad, &loss, g), RECUR_E_INVALID);
    bad = recur_loss_defaults();
    bad.huber_delta = 0.0f;
    CHECK_STATUS(recur_elementwise_loss(RECUR_LOSS_HUBER, 3, a, b, &bad, &loss, g),
                 RECUR_E_INVALID);
    CHECK(strstr(recur_last_error(), "delta") != NULL);
    bad.huber_delta = NAN;
    CHECK_STATUS(recur_elementwise_loss(RECUR_LOSS_HUBER, 3, a, b, &bad, &loss, g),
                 RECUR_E_INVALID);
    CHECK_OK(recur_elementwise_loss(RECUR_LOSS_MSE, 3, a, b, &bad, &loss, g)); /* delta unused */
    float pw[2] = {1.0f, 2.0f};
    bad = recur_loss_defaults();
    bad.pos_weight = pw, bad.pos_weight_size = 2;
    CHECK_STATUS(recur_elementwise_loss(RECUR_LOSS_BCE_LOGITS, 3, a, b, &bad, &loss, g),
                 RECUR_E_INVALID); /* 2 does not divide 3 */
    CHECK_STATUS(recur_elementwise_loss(RECUR_LOSS_MSE, 4, x, y, &bad, &loss, grad),
                 RECUR_E_INVALID); /* pos_weight with MSE */
    bad.pos_weight_size = 0;
    CHECK_STATUS(recur_elementwise_loss(RECUR_LOSS_BCE_LOGITS, 4, x, y, &bad, &loss, grad),
                 RECUR_E_INVALID);
    float weights[4] = {1.0f, 2.0f, 0.5f, 1.0f};
    bad = recur_loss_defaults();
    bad.weight = weights;
    CHECK_STATUS(recur_elementwise_loss(RECUR_LOSS_MSE, 4, x, y, &bad, &loss, grad),
                 RECUR_E_INVALID); /* weight with MSE */
    CHECK(strstr(recur_last_error(), "weight") != NULL);
    float half[3] = {1.0f, 0.5f, 1.0f};
    bad = recur_loss_defaults();
    bad.mask = half;
    CHECK_STATUS(recur_elementwise_loss(RECUR_LOSS_L1, 3, a, b, &bad, &loss, g), RECUR_E_INVALID);
    CHECK(strstr(recur_last_error(), "mask") != NULL);
    /* BCE stays finite for saturated logits */
    float big[2] = {100.0f, -100.0f}, t01[2] = {0.0f, 1.0f};
    CHECK_OK(recur_elementwise_loss(RECUR_LOSS_BCE_LOGITS, 2, big, t01, NULL, &loss, g));
    CHECK(fabsf(loss - 100.0f) < 1e-4f && fabsf(g[0] - 0.5f) < 1e-7f && fabsf(g[1] + 0.5f) < 1e-7f);
}

static void check_clip_and_penalty_errors(void)
{
    float g0[3] = {NAN, 5.0f, -5.0f}, w[3] = {0.0f, -2.0f, 3.0f};
    float *grads[1] = {g0};
    const float *values[1] = {w};
    size_t sizes[1] = {3};
    CHECK_OK(recur_clip_grad_value(1, grads, sizes, 1.0f));
    CHECK(isnan(g0[0]) && g0[1] == 1.0f && g0[2] == -1.0f); /* torch's clamp keeps NaN */
    CHECK_OK(recur_clip_grad_value(1, grads, sizes, INFINITY));
    CHECK(g0[1] == 1.0f);
    CHECK_OK(recur_clip_grad_value(0, NULL, NULL, 1.0f));
    CHECK_STATUS(recur_clip_grad_value(1, grads, sizes, -1.0f), RECUR_E_INVALID);
    CHECK_STATUS(recur_clip_grad_value(1, grads, sizes, NAN), RECUR_E_INVALID);
    CHECK_STATUS(recur_clip_grad_value(1, NULL, sizes, 1.0f), RECUR_E_INVALID);
    CHECK_STATUS(recur_clip_grad_value(-1, grads, sizes, 1.0f), RECUR_E_INVALID);
    float *null_grads[1] = {NULL};
    CHECK_STATUS(recur_clip_grad_norm(1, null_grads, sizes, 1.0f, NULL), RECUR_E_INVALID);
    CHECK(strstr(recur_last_error(), "NULL") != NULL);
    CHECK_STATUS(recur_clip_grad_norm(1, grads, sizes, 0.0f, NULL), RECUR_E_INVALID);

    float loss = 1.0f, g[3] = {0, 0, 0};
    float *gs[1] = {g};
    CHECK_OK(recur_weight_penalty(1, values, NULL, sizes, 0.5f, 0.25f, &loss));
    CHECK(loss == 1.0f + 0.5f * 5.0f + 0.25f * 13.0f);
    CHECK_OK(recur_weight_penalty(1, values, gs, sizes, 0.5f, 0.25f, NULL));
    CHECK(g[0] == 0.0f && g[1] == -0.5f - 1.0f && g[2] == 0.5f + 1.5f); /* sign(0) = 0 */
    CHECK_STATUS(recur_weight_penalty(1, values, gs, sizes, -0.1f, 0.0f, &loss), RECUR_E_INVALID);
    CHECK(strstr(recur_last_error(), "l1") != NULL);
    CHECK_STATUS(recur_weight_penalty(1, values, gs, sizes, 0.0f, NAN, &loss), RECUR_E_INVALID);
    CHECK_STATUS(recur_weight_penalty(1, NULL, gs, sizes, 0.1f, 0.1f, &loss), RECUR_E_INVALID);
    const float *null_values[1] = {NULL};
    CHECK_STATUS(recur_weight_penalty(1, null_values, gs, sizes, 0.1f, 0.1f, &loss),
                 RECUR_E_INVALID);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int loss_cases = run_file(argv[1], "train_losses.safetensors", check_loss_case);
    int clip_cases = run_file(argv[1], "train_clip.safetensors", check_clip_case);
    CHECK(loss_cases == 30);
    CHECK(clip_cases == 12);
    gradcheck_losses();
    check_edge_cases();
    check_clip_and_penalty_errors();
    printf("test_losses: %d loss cases, %d clip/penalty cases; worst error: loss %.3g, "
           "gradient %.3g, finite differences %.3g\n",
           loss_cases, clip_cases, worst_loss_error, worst_grad_error, worst_fd_error);
    return test_finish("test_losses");
}
