/* Learning-rate schedules against torch.optim.lr_scheduler fixtures
 * (tests/fixtures/make_train_fixtures.py), state save/restore, config
 * validation, and early stopping against Keras's EarlyStopping semantics.
 * usage: test_schedule FIXTURE_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define LR_TOLERANCE 1e-6 /* |lr - torch| / max(|torch|, 1e-9) */

static double worst_lr_error;

static const char *case_meta(const recur_st_file *f, const char *c, const char *key)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", c, key);
    return recur_st_metadata(f, name);
}

static const recur_tensor_view *case_tensor(const recur_st_file *f, const char *c, const char *key)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", c, key);
    return recur_st_find(f, name);
}

/* Builds the configuration from the case's metadata; absent keys keep
 * recur_schedule_config_default's values (torch's defaults). */
static recur_schedule_config case_config(const recur_st_file *f, const char *c)
{
    static const struct {
        const char *name;
        recur_schedule_kind kind;
    } kinds[] = {{"constant", RECUR_SCHEDULE_CONSTANT},
                 {"step", RECUR_SCHEDULE_STEP},
                 {"exponential", RECUR_SCHEDULE_EXPONENTIAL},
                 {"warmup_cosine", RECUR_SCHEDULE_WARMUP_COSINE},
                 {"plateau", RECUR_SCHEDULE_PLATEAU}};
    const char *kind = case_meta(f, c, "kind");
    recur_schedule_kind k = RECUR_SCHEDULE_CONSTANT;
    int found = 0;
    for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kind, kinds[i].name))
            k = kinds[i].kind, found = 1;
    CHECK(found);
    recur_schedule_config cfg = recur_schedule_config_default(k);
    const char *v;
#define INT_KEY(key)                          \
    if ((v = case_meta(f, c, #key)) != NULL)  \
        cfg.key = strtoll(v, NULL, 10);
#define REAL_KEY(key)                         \
    if ((v = case_meta(f, c, #key)) != NULL)  \
        cfg.key = strtod(v, NULL);
    INT_KEY(step_size)
    REAL_KEY(gamma)
    INT_KEY(warmup_steps)
    INT_KEY(total_steps)
    REAL_KEY(warmup_start_factor)
    REAL_KEY(min_lr)
    REAL_KEY(factor)
    INT_KEY(patience)
    REAL_KEY(threshold)
    INT_KEY(cooldown)
    REAL_KEY(eps)
#undef INT_KEY
#undef REAL_KEY
    if ((v = case_meta(f, c, "threshold_mode")) != NULL)
        cfg.threshold_mode = strcmp(v, "abs") ? RECUR_THRESHOLD_REL : RECUR_THRESHOLD_ABS;
    return cfg;
}

static double lr_error(float actual, double want)
{
    return fabs((double)actual - want) / fmax(fabs(want), 1e-9);
}

static void check_schedule_case(const recur_st_file *f, const char *c)
{
    recur_schedule_config cfg = case_config(f, c);
    const recur_tensor_view *lr_t = case_tensor(f, c, "lr"), *val_t = case_tensor(f, c, "val_loss");
    CHECK(lr_t != NULL && lr_t->dtype == RECUR_F64);
    if (!lr_t || lr_t->dtype != RECUR_F64)
        return;
    size_t count = lr_t->numel;
    double *want = malloc(count * sizeof(double));
    memcpy(want, lr_t->data, count * sizeof(double)); /* little-endian host assumed, as F64 */
    float *vals = NULL;
    if (val_t) {
        vals = malloc(val_t->numel * sizeof(float));
        CHECK_OK(recur_tensor_to_f32(val_t, vals, val_t->numel));
        CHECK(val_t->numel + 1 == count);
    }
    recur_schedule s, saved;
    CHECK_OK(recur_schedule_init(&s, &cfg, (float)strtod(case_meta(f, c, "base_lr"), NULL)));
    double worst = lr_error(recur_schedule_lr(&s), want[0]);
    size_t half = count / 2;
    for (size_t t = 1; t < count; t++) {
        CHECK_OK(recur_schedule_step(&s)); /* once per optimizer step (no-op for plateau) */
        if (vals)
            CHECK_OK(recur_schedule_plateau(&s, vals[t - 1]));
        worst = fmax(worst, lr_error(recur_schedule_lr(&s), want[t]));
        if (t == half)
            saved = s;
    }
    /* the plain struct is the whole state: a copy resumes identically */
    for (size_t t = half + 1; t < count; t++) {
        recur_schedule_step(&saved);
        if (vals)
            recur_schedule_plateau(&saved, vals[t - 1]);
    }
    CHECK(recur_schedule_lr(&saved) == recur_schedule_lr(&s) && saved.steps == s.steps &&
          saved.num_bad_epochs == s.num_bad_epochs && saved.best == s.best);
    test_checks++;
    if (!(worst <= LR_TOLERANCE)) {
        test_failures++;
        fprintf(stderr, "%s: lr error %.3g\n", c, worst);
    }
    worst_lr_error = fmax(worst_lr_error, worst);
    free(want), free(vals);
}

static void check_config_errors(void)
{
    recur_schedule s;
    recur_schedule_config c = recur_schedule_config_default(RECUR_SCHEDULE_STEP);
    CHECK(c.gamma == 0.1 && c.step_size == 0);
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID); /* step_size unset */
    CHECK(strstr(recur_last_error(), "step_size") != NULL);
    c.step_size = 3;
    CHECK_OK(recur_schedule_init(&s, &c, 0.1f));
    CHECK_STATUS(recur_schedule_init(&s, &c, -0.1f), RECUR_E_INVALID);
    CHECK_STATUS(recur_schedule_init(&s, &c, NAN), RECUR_E_INVALID);
    CHECK_STATUS(recur_schedule_init(NULL, &c, 0.1f), RECUR_E_INVALID);
    CHECK_STATUS(recur_schedule_init(&s, NULL, 0.1f), RECUR_E_INVALID);
    c = recur_schedule_config_default(RECUR_SCHEDULE_EXPONENTIAL);
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID); /* gamma unset */
    CHECK(strstr(recur_last_error(), "gamma") != NULL);
    c.gamma = INFINITY;
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID);
    c = recur_schedule_config_default(RECUR_SCHEDULE_WARMUP_COSINE);
    CHECK(fabs(c.warmup_start_factor - 1.0 / 3.0) < 1e-15);
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID); /* total_steps unset */
    c.warmup_steps = 10, c.total_steps = 10;
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID);
    CHECK(strstr(recur_last_error(), "total_steps") != NULL);
    c.total_steps = 11, c.warmup_start_factor = 0.0;
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID);
    c.warmup_start_factor = 1.5;
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID);
    c.warmup_start_factor = 1.0, c.min_lr = -1e-3;
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID);
    c.min_lr = 0.0, c.warmup_steps = -1;
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID);
    c = recur_schedule_config_default(RECUR_SCHEDULE_PLATEAU);
    CHECK(c.factor == 0.1 && c.patience == 10 && c.threshold == 1e-4 &&
          c.threshold_mode == RECUR_THRESHOLD_REL && c.cooldown == 0 && c.min_lr == 0.0 &&
          c.eps == 1e-8);
    CHECK_OK(recur_schedule_init(&s, &c, 0.1f));
    c.factor = 1.0;
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID);
    CHECK(strstr(recur_last_error(), "factor") != NULL);
    c.factor = 0.5, c.patience = -1;
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID);
    c.patience = 0, c.cooldown = -2;
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID);
    c.cooldown = 0, c.threshold = 1.0;
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID); /* rel needs < 1 */
    c.threshold_mode = RECUR_THRESHOLD_ABS;
    CHECK_OK(recur_schedule_init(&s, &c, 0.1f));
    c.threshold_mode = (recur_threshold_mode)9;
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID);
    c = recur_schedule_config_default(RECUR_SCHEDULE_PLATEAU);
    c.eps = -1.0;
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID);
    c = recur_schedule_config_default((recur_schedule_kind)42);
    CHECK_STATUS(recur_schedule_init(&s, &c, 0.1f), RECUR_E_INVALID);
    CHECK_STATUS(recur_schedule_step(NULL), RECUR_E_INVALID);
    CHECK_STATUS(recur_schedule_plateau(NULL, 1.0f), RECUR_E_INVALID);

    /* each update is a no-op for the kinds it does not drive */
    c = recur_schedule_config_default(RECUR_SCHEDULE_EXPONENTIAL);
    c.gamma = 0.5;
    CHECK_OK(recur_schedule_init(&s, &c, 1.0f));
    CHECK_OK(recur_schedule_plateau(&s, 1.0f));
    CHECK(recur_schedule_lr(&s) == 1.0f);
    CHECK_OK(recur_schedule_step(&s));
    CHECK(recur_schedule_lr(&s) == 0.5f && s.steps == 1);
    c = recur_schedule_config_default(RECUR_SCHEDULE_PLATEAU);
    c.patience = 0;
    CHECK_OK(recur_schedule_init(&s, &c, 1.0f));
    CHECK_OK(recur_schedule_step(&s));
    CHECK(recur_schedule_lr(&s) == 1.0f && s.steps == 1);
    CHECK_OK(recur_schedule_plateau(&s, 2.0f)); /* first value: better than +inf */
    CHECK_OK(recur_schedule_plateau(&s, 2.0f)); /* bad, 1 > patience 0: reduce */
    CHECK(recur_schedule_lr(&s) == 0.1f);
}

/* Keras EarlyStopping (mode min): wait += 1 every epoch; a value with
 * value + min_delta < best is a new best (best = value, wait = 0, no stop);
 * otherwise stop when wait >= patience and epoch > 0. */
static void check_early_stopping(void)
{
    recur_early_stopping e;
    CHECK_OK(recur_early_stopping_init(&e, 0.01, 2));
    CHECK(e.best == INFINITY && e.best_epoch == -1 && e.epochs == 0);
    /* epoch 0: 1.00 + 0.01 < inf -> best 1.00, wait 0 */
    CHECK(recur_early_stopping_update(&e, 1.00f) == 0 && e.improved && e.best_epoch == 0);
    /* epoch 1: 0.96 < 1.00 -> best 0.95 */
    CHECK(recur_early_stopping_update(&e, 0.95f) == 0 && e.improved && e.best_epoch == 1);
    /* epoch 2: 0.945 + 0.01 = 0.955 is not < 0.95 (too small a gain): wait 1 < 2 */
    CHECK(recur_early_stopping_update(&e, 0.945f) == 0 && !e.improved && e.wait == 1);
    CHECK(e.best == (double)0.95f);
    /* epoch 3: 0.91 < 0.95 -> best 0.90, wait 0 */
    CHECK(recur_early_stopping_update(&e, 0.90f) == 0 && e.improved && e.best_epoch == 3);
    /* epoch 4: worse, wait 1 */
    CHECK(recur_early_stopping_update(&e, 0.95f) == 0 && !e.improved && e.wait == 1);
    /* epoch 5: 0.905 not < 0.90: wait 2 >= patience 2 -> stop */
    CHECK(recur_early_stopping_update(&e, 0.895f) == 1 && !e.improved && e.stopped_epoch == 5);
    CHECK(e.best == (double)0.90f && e.best_epoch == 3 && e.epochs == 6);
    /* (fed on anyway) epoch 6: a new best resets wait and does not stop */
    CHECK(recur_early_stopping_update(&e, 0.5f) == 0 && e.improved && e.wait == 0);

    /* patience 0, min_delta 0: stop at the first value that is not strictly lower */
    CHECK_OK(recur_early_stopping_init(&e, 0.0, 0));
    CHECK(recur_early_stopping_update(&e, 1.0f) == 0); /* epoch 0: new best */
    CHECK(recur_early_stopping_update(&e, 0.9f) == 0); /* epoch 1: new best */
    CHECK(recur_early_stopping_update(&e, 0.9f) == 1); /* epoch 2: equal, wait 1 >= 0 */

    /* NaN is never an improvement; epoch 0 never stops (Keras: epoch > 0) */
    CHECK_OK(recur_early_stopping_init(&e, 0.0, 0));
    CHECK(recur_early_stopping_update(&e, NAN) == 0 && !e.improved && e.best_epoch == -1);
    CHECK(recur_early_stopping_update(&e, 3.0f) == 0 && e.improved && e.best_epoch == 1);
    CHECK(recur_early_stopping_update(&e, NAN) == 1);

    /* patience 3: three values in a row without improvement, the third stops */
    CHECK_OK(recur_early_stopping_init(&e, 0.0, 3));
    CHECK(recur_early_stopping_update(&e, 5.0f) == 0);
    CHECK(recur_early_stopping_update(&e, 6.0f) == 0); /* wait 1 */
    CHECK(recur_early_stopping_update(&e, 5.0f) == 0); /* wait 2 (equal is no gain) */
    CHECK(recur_early_stopping_update(&e, 7.0f) == 1); /* wait 3 */

    CHECK_STATUS(recur_early_stopping_init(&e, -0.1, 2), RECUR_E_INVALID);
    CHECK(strstr(recur_last_error(), "min_delta") != NULL);
    CHECK_STATUS(recur_early_stopping_init(&e, 0.0, -1), RECUR_E_INVALID);
    CHECK_STATUS(recur_early_stopping_init(&e, NAN, 1), RECUR_E_INVALID);
    CHECK_STATUS(recur_early_stopping_init(NULL, 0.0, 1), RECUR_E_INVALID);
    CHECK(recur_early_stopping_update(NULL, 1.0f) == 0);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    char path[1024];
    snprintf(path, sizeof path, "%s/train_schedules.safetensors", argv[1]);
    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open(path, &f));
    int cases = 0;
    const char *list = f ? recur_st_metadata(f, "cases") : NULL;
    if (list) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", list);
        for (char *c = strtok(buf, ","); c; c = strtok(NULL, ",")) {
            check_schedule_case(f, c);
            cases++;
        }
    }
    recur_st_close(f);
    CHECK(cases == 13);
    check_config_errors();
    check_early_stopping();
    printf("test_schedule: %d schedule cases, worst lr error %.3g\n", cases, worst_lr_error);
    return test_finish("test_schedule");
}
