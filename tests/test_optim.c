/* Compares the optimizers with torch.optim fixtures (tests/fixtures/).
 * usage: test_optim FIXTURE_DIR
 * For every case in FIXTURE_DIR/optim_cases.txt: builds the optimizer from
 * the file's metadata, registers param0 and param1, and for every step copies
 * the step's gradients in (and sets the step's learning rate when the case has
 * an `lr` tensor), steps, and checks the parameters against torch's, and at
 * the end the optimizer's saved state against torch's state.
 * Also checks config validation, the learning-rate accessors and the step count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define PARAM_TOLERANCE 1e-5 /* max |error| / max |expected| */
/* The state after the last step, each array relative to its largest value:
 * rounding leaves ~1e-7; Adam's second moment formed from 1 - 0.999f instead
 * of torch's 1 - 0.999 is 1.3e-5 off, RMSprop's from 1 - 0.99f 1e-6. */
#define STATE_TOLERANCE 5e-7
#define PARAM_TENSORS 2

static double worst_error, worst_state_error;
static char worst_case[256];

/* Reads a tensor as float32 (NULL if absent); *numel receives its size. */
static float *read_f32(const recur_st_file *file, const char *name, size_t *numel)
{
    const recur_tensor_view *t = recur_st_find(file, name);
    if (!t)
        return NULL;
    float *data = malloc((t->numel ? t->numel : 1) * sizeof(float));
    if (!data || recur_tensor_to_f32(t, data, t->numel) != RECUR_OK) {
        free(data);
        return NULL;
    }
    *numel = t->numel;
    return data;
}

static double metadata_number(const recur_st_file *file, const char *key)
{
    const char *text = recur_st_metadata(file, key);
    test_checks++;
    if (!text) {
        test_failures++;
        fprintf(stderr, "%s: metadata %s missing\n", recur_st_label(file), key);
        return 0.0;
    }
    return strtod(text, NULL);
}

static int parse_kind(const char *text, recur_optimizer_kind *kind)
{
    static const struct {
        const char *name;
        recur_optimizer_kind kind;
    } kinds[] = {{"sgd", RECUR_SGD},
                 {"adam", RECUR_ADAM},
                 {"adamw", RECUR_ADAMW},
                 {"rmsprop", RECUR_RMSPROP},
                 {"adagrad", RECUR_ADAGRAD}};
    for (size_t i = 0; text && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(text, kinds[i].name) == 0) {
            *kind = kinds[i].kind;
            return 1;
        }
    return 0;
}

static int read_config(const recur_st_file *file, recur_optimizer_config *c)
{
    recur_optimizer_kind kind;
    if (!parse_kind(recur_st_metadata(file, "kind"), &kind))
        return 0;
    *c = recur_optimizer_config_default(kind);
    c->lr = (float)metadata_number(file, "lr");
    c->momentum = (float)metadata_number(file, "momentum");
    c->dampening = (float)metadata_number(file, "dampening");
    c->nesterov = (int)metadata_number(file, "nesterov");
    c->weight_decay = (float)metadata_number(file, "weight_decay");
    c->beta1 = (float)metadata_number(file, "beta1");
    c->beta2 = (float)metadata_number(file, "beta2");
    c->eps = (float)metadata_number(file, "eps");
    c->amsgrad = (int)metadata_number(file, "amsgrad");
    c->alpha = (float)metadata_number(file, "alpha");
    c->centered = (int)metadata_number(file, "centered");
    c->lr_decay = (float)metadata_number(file, "lr_decay");
    c->initial_accumulator_value = (float)metadata_number(file, "initial_accumulator_value");
    return 1;
}

/* Checks `actual` against the expected tensor `name`; records the worst error. */
static void compare(const char *case_name, const recur_st_file *file, const char *name,
                    const float *actual, size_t numel, double tolerance)
{
    size_t expected_numel = 0;
    float *want = read_f32(file, name, &expected_numel);
    test_checks++;
    if (!want || expected_numel != numel) {
        test_failures++;
        fprintf(stderr, "%s: tensor %s missing or of the wrong size\n", case_name, name);
        free(want);
        return;
    }
    double err = test_rel_error(actual, want, numel, 1e-6);
    if (err > worst_error) {
        worst_error = err;
        snprintf(worst_case, sizeof worst_case, "%s %s", case_name, name);
    }
    if (!(err <= tolerance)) {
        test_failures++;
        fprintf(stderr, "%s: %s relative error %.3g > %.0e\n", case_name, name, err,
                tolerance);
    }
    free(want);
}

/* Checks the state arrays of one tensor (numel floats: arrays of `size` each)
 * against the expected tensor `name`, each array relative to its own largest
 * value (Adam's second moment is far smaller than its first). */
static void compare_arrays(const char *case_name, const recur_st_file *file, const char *name,
                           const float *state, size_t numel, size_t size)
{
    size_t expected_numel = 0;
    float *want = read_f32(file, name, &expected_numel);
    test_checks++;
    if (!want || expected_numel != numel || size == 0 || numel % size != 0) {
        test_failures++;
        fprintf(stderr, "%s: %s missing or of the wrong size\n", case_name, name);
        free(want);
        return;
    }
    for (size_t first = 0; first < numel; first += size) {
        double err = test_rel_error(state + first, want + first, size, 1e-12);
        test_checks++;
        if (!(err <= STATE_TOLERANCE)) {
            test_failures++;
            fprintf(stderr, "%s: %s array %zu relative error %.3g > %.0e\n", case_name, name,
                    first / size, err, STATE_TOLERANCE);
        }
        worst_state_error = err > worst_state_error ? err : worst_state_error;
    }
    free(want);
}

/* Compares the optimizer's state (as recur_optimizer_write saves it, read back
 * from a file in the working directory) with the case's expected_state.param<i>,
 * where the case has one. */
static void compare_state(const char *case_name, const recur_st_file *file,
                          const recur_optimizer *opt, const size_t *sizes)
{
    char path[300], name[64];
    snprintf(path, sizeof path, "test_optim_%s.safetensors", case_name);
    recur_st_writer *writer = NULL;
    CHECK_OK(recur_st_writer_create(&writer));
    if (!writer)
        return;
    CHECK_OK(recur_optimizer_write(opt, writer, "optimizer."));
    CHECK_OK(recur_st_writer_save(writer, path));
    recur_st_writer_free(writer);
    recur_st_file *saved = NULL;
    CHECK_OK(recur_st_open(path, &saved));
    for (int i = 0; i < PARAM_TENSORS && saved; i++) {
        snprintf(name, sizeof name, "expected_state.param%d", i);
        if (!recur_st_find(file, name))
            continue;
        char state_name[64];
        size_t numel = 0;
        snprintf(state_name, sizeof state_name, "optimizer.%d.state", i);
        float *state = read_f32(saved, state_name, &numel);
        CHECK(state != NULL);
        if (state)
            compare_arrays(case_name, file, name, state, numel, sizes[i]);
        free(state);
    }
    recur_st_close(saved);
    remove(path);
}

/* Copies tensor `name` into dst of numel floats; 0 if absent or of another size. */
static int load_into(const recur_st_file *file, const char *name, float *dst, size_t numel)
{
    size_t got = 0;
    float *data = read_f32(file, name, &got);
    int ok = data && got == numel;
    if (ok)
        memcpy(dst, data, numel * sizeof(float));
    free(data);
    return ok;
}

static void check_case(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    recur_st_file *file = NULL;
    CHECK_OK(recur_st_open(path, &file));
    if (!file)
        return;
    recur_optimizer_config config;
    int have_config = read_config(file, &config);
    CHECK(have_config);
    int steps = (int)metadata_number(file, "steps");
    CHECK(steps > 0);
    float *values[PARAM_TENSORS] = {0}, *grads[PARAM_TENSORS] = {0};
    size_t sizes[PARAM_TENSORS] = {0};
    recur_optimizer *opt = NULL;
    if (have_config)
        CHECK_OK(recur_optimizer_create(&config, &opt));
    for (int i = 0; i < PARAM_TENSORS && opt; i++) {
        char tensor[64];
        snprintf(tensor, sizeof tensor, "param%d", i);
        values[i] = read_f32(file, tensor, &sizes[i]);
        CHECK(values[i] != NULL);
        if (!values[i])
            goto done;
        grads[i] = calloc(sizes[i], sizeof(float));
        CHECK_OK(recur_optimizer_add(opt, values[i], grads[i], sizes[i]));
    }
    size_t lr_count = 0;
    float *lrs = read_f32(file, "lr", &lr_count); /* NULL: the configuration's lr throughout */
    CHECK(!lrs || lr_count == (size_t)steps);
    for (int step = 0; step < steps && opt; step++) {
        char tensor[64];
        for (int i = 0; i < PARAM_TENSORS; i++) {
            snprintf(tensor, sizeof tensor, "grad%d.param%d", step, i);
            CHECK(load_into(file, tensor, grads[i], sizes[i]));
        }
        if (lrs && (size_t)step < lr_count)
            recur_optimizer_set_lr(opt, lrs[step]);
        CHECK_OK(recur_optimizer_step(opt));
        for (int i = 0; i < PARAM_TENSORS; i++) {
            snprintf(tensor, sizeof tensor, "expected%d.param%d", step, i);
            compare(name, file, tensor, values[i], sizes[i], PARAM_TOLERANCE);
        }
    }
    if (opt) {
        CHECK(recur_optimizer_step_count(opt) == steps);
        compare_state(name, file, opt, sizes);
    }
    free(lrs);
done:
    for (int i = 0; i < PARAM_TENSORS; i++) {
        free(values[i]);
        free(grads[i]);
    }
    recur_optimizer_free(opt);
    recur_st_close(file);
}

static int run_fixture_cases(const char *dir)
{
    char list_path[1024], name[128];
    snprintf(list_path, sizeof list_path, "%s/optim_cases.txt", dir);
    FILE *list = fopen(list_path, "r");
    CHECK(list != NULL);
    int cases = 0;
    while (list && fscanf(list, "%127s", name) == 1) {
        check_case(dir, name);
        cases++;
    }
    if (list)
        fclose(list);
    CHECK(cases > 0);
    return cases;
}

/* Creating the optimizer from `config` fails with RECUR_E_INVALID and a message. */
static void expect_invalid(recur_optimizer_config config)
{
    recur_optimizer *sentinel = (recur_optimizer *)&config, *opt = sentinel;
    CHECK_STATUS(recur_optimizer_create(&config, &opt), RECUR_E_INVALID);
    CHECK(opt == NULL); /* reset on failure */
    CHECK(recur_last_error()[0] != '\0');
    if (opt != sentinel)
        recur_optimizer_free(opt);
}

static void test_invalid_configs(void)
{
    recur_optimizer_config c = recur_optimizer_config_default(RECUR_SGD);
    c.lr = -1.0f;
    expect_invalid(c);
    c = recur_optimizer_config_default(RECUR_SGD);
    c.lr = NAN;
    expect_invalid(c);
    c = recur_optimizer_config_default(RECUR_SGD);
    c.momentum = -0.5f;
    expect_invalid(c);
    c = recur_optimizer_config_default(RECUR_SGD);
    c.weight_decay = -0.1f;
    expect_invalid(c);
    c = recur_optimizer_config_default(RECUR_SGD);
    c.nesterov = 1; /* needs momentum */
    expect_invalid(c);
    c.momentum = 0.9f;
    c.dampening = 0.1f; /* and no dampening */
    expect_invalid(c);
    c = recur_optimizer_config_default(RECUR_ADAM);
    c.beta1 = 1.0f;
    expect_invalid(c);
    c = recur_optimizer_config_default(RECUR_ADAMW);
    c.beta2 = -0.1f;
    expect_invalid(c);
    c = recur_optimizer_config_default(RECUR_ADAM);
    c.eps = -1e-8f;
    expect_invalid(c);
    c = recur_optimizer_config_default(RECUR_RMSPROP);
    c.alpha = -0.5f;
    expect_invalid(c);
    c = recur_optimizer_config_default(RECUR_RMSPROP);
    c.momentum = -0.1f;
    expect_invalid(c);
    c = recur_optimizer_config_default(RECUR_ADAGRAD);
    c.lr_decay = -0.1f;
    expect_invalid(c);
    c = recur_optimizer_config_default(RECUR_ADAGRAD);
    c.initial_accumulator_value = -1.0f;
    expect_invalid(c);
    c = recur_optimizer_config_default(RECUR_SGD);
    c.kind = (recur_optimizer_kind)42;
    expect_invalid(c);

    recur_optimizer *opt = NULL;
    CHECK_STATUS(recur_optimizer_create(NULL, &opt), RECUR_E_INVALID);
    c = recur_optimizer_config_default(RECUR_SGD);
    CHECK_OK(recur_optimizer_create(&c, &opt));
    CHECK_STATUS(recur_optimizer_add(opt, NULL, NULL, 3), RECUR_E_INVALID);
    recur_optimizer_free(opt);
}

static void test_defaults(void)
{
    recur_optimizer_config c = recur_optimizer_config_default(RECUR_SGD);
    CHECK(c.kind == RECUR_SGD && c.lr == 1e-3f && c.momentum == 0.0f && !c.nesterov);
    c = recur_optimizer_config_default(RECUR_ADAM);
    CHECK(c.lr == 1e-3f && c.beta1 == 0.9f && c.beta2 == 0.999f && c.eps == 1e-8f);
    CHECK(c.weight_decay == 0.0f && !c.amsgrad);
    c = recur_optimizer_config_default(RECUR_ADAMW);
    CHECK(c.kind == RECUR_ADAMW && c.weight_decay == 1e-2f && c.beta2 == 0.999f);
    c = recur_optimizer_config_default(RECUR_RMSPROP);
    CHECK(c.lr == 1e-2f && c.alpha == 0.99f && c.eps == 1e-8f && !c.centered);
    c = recur_optimizer_config_default(RECUR_ADAGRAD);
    CHECK(c.lr == 1e-2f && c.eps == 1e-10f && c.lr_decay == 0.0f);
    for (int kind = RECUR_SGD; kind <= RECUR_ADAGRAD; kind++) {
        recur_optimizer *opt = NULL;
        c = recur_optimizer_config_default((recur_optimizer_kind)kind);
        CHECK_OK(recur_optimizer_create(&c, &opt));
        recur_optimizer_free(opt);
    }
}

/* set_lr changes the next step; the step count follows step(). */
static void test_lr_and_step_count(void)
{
    recur_optimizer_config c = recur_optimizer_config_default(RECUR_SGD);
    c.lr = 0.5f;
    recur_optimizer *opt = NULL;
    CHECK_OK(recur_optimizer_create(&c, &opt));
    if (!opt)
        return;
    float value[2] = {1.0f, -2.0f}, grad[2] = {1.0f, 2.0f};
    CHECK_OK(recur_optimizer_add(opt, value, grad, 2));
    CHECK(recur_optimizer_get_lr(opt) == 0.5f);
    CHECK(recur_optimizer_step_count(opt) == 0);
    CHECK_OK(recur_optimizer_step(opt));
    CHECK(value[0] == 0.5f && value[1] == -3.0f);
    recur_optimizer_set_lr(opt, 0.25f);
    CHECK(recur_optimizer_get_lr(opt) == 0.25f);
    CHECK_OK(recur_optimizer_step(opt));
    CHECK(value[0] == 0.25f && value[1] == -3.5f);
    CHECK(recur_optimizer_step_count(opt) == 2);
    /* An empty tensor is accepted and a step with it changes nothing else. */
    CHECK_OK(recur_optimizer_add(opt, NULL, NULL, 0));
    CHECK_OK(recur_optimizer_step(opt));
    CHECK(recur_optimizer_step_count(opt) == 3);
    recur_optimizer_free(opt);
    recur_optimizer_free(NULL);
}

/* A checked step with a non-finite check moves nothing but counts; forgotten,
 * the steps after it are those of an optimizer that never saw it (SGD's
 * first momentum step, Adam's bias correction). Without a GPU the device
 * optimizer is refused at the first registration. */
static void test_checked_steps(recur_optimizer_kind kind)
{
    recur_optimizer_config c = recur_optimizer_config_default(kind);
    c.momentum = kind == RECUR_SGD ? 0.9f : 0.0f;
    recur_optimizer *plain = NULL, *checked = NULL;
    CHECK_OK(recur_optimizer_create(&c, &plain));
    CHECK_OK(recur_optimizer_create(&c, &checked));
    if (!plain || !checked)
        return;
    float a[3] = {1.0f, -2.0f, 0.5f}, b[3] = {1.0f, -2.0f, 0.5f};
    float grad[3] = {0.25f, -1.0f, 2.0f};
    CHECK_OK(recur_optimizer_add(plain, a, grad, 3));
    CHECK_OK(recur_optimizer_add(checked, b, grad, 3));
    const float bad[2] = {1.0f, NAN}, good[2] = {1.0f, 2.0f};
    CHECK_OK(recur_optimizer_step_checked(checked, bad, 2));
    CHECK(recur_optimizer_step_count(checked) == 1);
    CHECK(b[0] == 1.0f && b[1] == -2.0f && b[2] == 0.5f);
    recur_optimizer_forget_step(checked);
    CHECK(recur_optimizer_step_count(checked) == 0);
    for (int step = 0; step < 3; step++) {
        CHECK_OK(recur_optimizer_step(plain));
        CHECK_OK(recur_optimizer_step_checked(checked, good, 2));
    }
    CHECK(!memcmp(a, b, sizeof a));
    CHECK(recur_optimizer_step_checked(checked, NULL, 1) == RECUR_E_INVALID);
    recur_optimizer_free(plain);
    recur_optimizer_free(checked);
    recur_optimizer *device = NULL;
    CHECK_OK(recur_optimizer_create(&c, &device));
    if (recur_cuda_device_count() == 0 && device) {
        CHECK_OK(recur_optimizer_set_device(device, RECUR_DEVICE_CUDA));
        CHECK(recur_optimizer_add(device, b, grad, 3) == RECUR_E_INVALID);
    }
    recur_optimizer_free(device);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    int cases = run_fixture_cases(argv[1]);
    test_invalid_configs();
    test_defaults();
    test_lr_and_step_count();
    test_checked_steps(RECUR_SGD);
    test_checked_steps(RECUR_ADAM);
    printf("%d optimizer cases; worst parameter error %.3g (%s), worst state error %.3g\n",
           cases, worst_error, worst_case, worst_state_error);
    return test_finish("test_optim");
}
