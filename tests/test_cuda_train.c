/* Device-resident training (CUDA) against the host: the *_device loss,
 * penalty and clipping calls, the optimizers on the GPU (steps, checked
 * steps, their state written out and read back into a host optimizer) and a
 * language model trained for a few steps both ways. Every check runs the
 * device call and its host counterpart on the same random data (fixed
 * seeds) and reports the largest absolute and relative differences.
 * Without a GPU the test reports itself skipped (exit 77).
 * usage: test_cuda_train [SEED] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "test_util.h"

/* Differences are |got - want| / max(|got|, |want|, floor), element by
 * element; floor is FLOOR unless stated (the scale of operands that may
 * cancel, or of the whole tensor for the model). NaN matches NaN. */
#define FLOOR 1e-3
#define ELEMENT_TOLERANCE 1e-6   /* element-wise results, optimizer updates */
#define REDUCTION_TOLERANCE 1e-5 /* sums, and what is scaled by one (norm, log-sum-exp) */
#define MODEL_TOLERANCE 1e-4     /* a model trained both ways, relative to each tensor's scale */
#define MODEL_GRAD_TOLERANCE 1e-3 /* its last gradients (test_cuda_rnn's GPU tolerance) */

/* ---------------------------------------------------------------- */
/* Helpers                                                           */
/* ---------------------------------------------------------------- */

/* Records one check of a status; prints the library's message on failure. */
static int ok_at(recur_status st, const char *call, int line)
{
    test_checks++;
    if (st == RECUR_OK)
        return 1;
    test_failures++;
    fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, line, call, recur_status_name(st),
            recur_last_error());
    return 0;
}
#define OK(call) ok_at((call), #call, __LINE__)

static int pick(recur_rng *rng, int lo, int hi)
{
    return lo + (int)(recur_rng_next(rng) % (uint64_t)(hi - lo + 1));
}

static float *random_floats(recur_rng *rng, size_t n, float low, float high)
{
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = recur_rng_uniform(rng, low, high);
    return x;
}

/* Magnitudes in [0.5, 1.5], random signs: values that the optimizer steps
 * below never bring near 0 (where one rounding would be a large relative
 * difference). */
static float *signed_magnitudes(recur_rng *rng, size_t n)
{
    float *x = random_floats(rng, n, 0.5f, 1.5f);
    for (size_t i = 0; i < n; i++)
        if (recur_rng_next(rng) & 1)
            x[i] = -x[i];
    return x;
}

static float *copy_floats(const float *src, size_t n)
{
    float *x = malloc((n ? n : 1) * sizeof(float));
    memcpy(x, src, n * sizeof(float));
    return x;
}

/* A device copy of `bytes` of host memory (host NULL: uninitialized); NULL,
 * reported, on failure. */
static void *upload(const void *host, size_t bytes)
{
    void *d = NULL;
    if (!OK(recur_cuda_malloc(&d, bytes)))
        return NULL;
    if (host && !OK(recur_cuda_memcpy(d, host, bytes, RECUR_HOST_TO_DEVICE))) {
        recur_cuda_free(d);
        return NULL;
    }
    return d;
}

/* Overwrites device memory with host data. */
static int put(void *device, const void *host, size_t bytes)
{
    return OK(recur_cuda_memcpy(device, host, bytes, RECUR_HOST_TO_DEVICE));
}

/* Waits for the GPU, then copies n floats back. */
static int download(float *host, const float *device, size_t n)
{
    return OK(recur_cuda_synchronize()) &&
           OK(recur_cuda_memcpy(host, device, n * sizeof(float), RECUR_DEVICE_TO_HOST));
}

static double max_magnitude(const float *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)x[i]));
    return m;
}

/* The largest differences seen over a group of comparisons. */
typedef struct worst {
    double abs, rel;
} worst;

/* One check: got against want over n floats. Failures go to stderr with
 * `label`; the differences also go into *w (may be NULL) for the summary. */
static void compare(worst *w, const char *label, const float *got, const float *want, size_t n,
                    double floor, double tolerance)
{
    double max_abs = 0.0, max_rel = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double a = got[i], b = want[i];
        if (a == b || (isnan(a) && isnan(b)))
            continue; /* equal infinities too */
        double d = fabs(a - b);
        double r = d / fmax(fmax(fabs(a), fabs(b)), floor);
        if (isnan(r)) /* a NaN, or an infinity against a finite value */
            d = r = INFINITY;
        max_abs = fmax(max_abs, d);
        if (r > max_rel)
            max_rel = r, at = i;
    }
    test_checks++;
    if (!(max_rel <= tolerance)) {
        test_failures++;
        fprintf(stderr, "%s: relative difference %.3g > %.0e at [%zu] (%.9g, expected %.9g); "
                        "max abs %.3g\n",
                label, max_rel, tolerance, at, (double)got[at], (double)want[at], max_abs);
    }
    if (w) {
        w->abs = fmax(w->abs, max_abs);
        w->rel = fmax(w->rel, max_rel);
    }
}

static void report(const char *what, worst w, double tolerance)
{
    char bound[32] = "exact";
    if (tolerance > 0.0)
        snprintf(bound, sizeof bound, "tolerance %.0e", tolerance);
    printf("  %-56s max abs %.3g, max rel %.3g (%s)\n", what, w.abs, w.rel, bound);
}

/* ---------------------------------------------------------------- */
/* Cross-entropy                                                     */
/* ---------------------------------------------------------------- */

/* logits [n, classes], targets [n]. On the device, targets -100, classes
 * and -7 are out of range and count as ignored; the host gets -100 (its
 * default ignore_index) there. all_ignored: every target is -100 (the loss
 * is then 0, as on the host). Row 0 is shifted by +80 (n > 1), where a
 * softmax without the max subtracted overflows. */
static void check_cross_entropy_case(recur_rng *rng, worst *loss_w, worst *grad_w, int n,
                                     int classes, int all_ignored)
{
    const size_t count = (size_t)n * (size_t)classes;
    float *logits = random_floats(rng, count, -3.0f, 3.0f);
    float *want = malloc(count * sizeof(float)), *got = malloc(count * sizeof(float));
    int64_t *targets = malloc((size_t)n * sizeof(int64_t));
    int64_t *device_targets = malloc((size_t)n * sizeof(int64_t));
    for (int i = 0; i < n; i++)
        targets[i] = device_targets[i] = all_ignored ? -100 : pick(rng, 0, classes - 1);
    if (n > 1)
        for (int c = 0; c < classes; c++)
            logits[c] += 80.0f;
    if (n >= 7 && !all_ignored) {
        targets[3] = device_targets[3] = -100;
        targets[n - 1] = -100, device_targets[n - 1] = classes;
    }
    if (n >= 300 && !all_ignored)
        targets[42] = -100, device_targets[42] = -7;
    for (size_t i = 0; i < count; i++)
        got[i] = 9.0f; /* written, not added to: garbage before */
    float want_loss = 0.0f, got_loss = 7.0f;
    float *d_logits = upload(logits, count * sizeof(float));
    float *d_grad = upload(got, count * sizeof(float));
    float *d_loss = upload(&got_loss, sizeof(float));
    int64_t *d_targets = upload(device_targets, (size_t)n * sizeof(int64_t));
    char label[96];
    if (d_logits && d_grad && d_loss && d_targets &&
        OK(recur_cross_entropy(n, classes, logits, targets, NULL, &want_loss, want)) &&
        OK(recur_cross_entropy_device(n, classes, d_logits, d_targets, d_loss, d_grad)) &&
        download(&got_loss, d_loss, 1) && download(got, d_grad, count)) {
        snprintf(label, sizeof label, "cross_entropy n=%d classes=%d%s: loss", n, classes,
                 all_ignored ? " (all ignored)" : "");
        compare(loss_w, label, &got_loss, &want_loss, 1, FLOOR, REDUCTION_TOLERANCE);
        /* (p - [c == y]) / (rows counted), p from the row's log-sum-exp: floor 1/n. */
        snprintf(label, sizeof label, "cross_entropy n=%d classes=%d%s: grad_logits", n,
                 classes, all_ignored ? " (all ignored)" : "");
        compare(grad_w, label, got, want, count, 1.0 / n, REDUCTION_TOLERANCE);
    }
    recur_cuda_free(d_logits), recur_cuda_free(d_grad), recur_cuda_free(d_loss);
    recur_cuda_free(d_targets);
    free(logits), free(want), free(got), free(targets), free(device_targets);
}

static void check_cross_entropy(recur_rng *rng)
{
    static const int rows[] = {1, 7, 300}, classes[] = {3, 65, 1000};
    worst loss_w = {0}, grad_w = {0};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            check_cross_entropy_case(rng, &loss_w, &grad_w, rows[r], classes[c], 0);
    check_cross_entropy_case(rng, &loss_w, &grad_w, 1, 3, 1);
    check_cross_entropy_case(rng, &loss_w, &grad_w, 7, 65, 1);
    printf("cross_entropy_device:\n");
    report("loss", loss_w, REDUCTION_TOLERANCE);
    report("grad_logits (floor 1/n)", grad_w, REDUCTION_TOLERANCE);
}

/* ---------------------------------------------------------------- */
/* Weight penalty and gradient clipping                              */
/* ---------------------------------------------------------------- */

enum { TENSORS = 3 };
static const size_t tensor_sizes[TENSORS] = {1, 1000, 70000};

/* Three tensors of tensor_sizes, host copies and device copies. */
typedef struct tensor_set {
    float *host[TENSORS], *device[TENSORS];
} tensor_set;

static int tensors_upload(tensor_set *s, float *const values[TENSORS])
{
    int ok = 1;
    for (int i = 0; i < TENSORS; i++) {
        s->host[i] = copy_floats(values[i], tensor_sizes[i]);
        s->device[i] = upload(values[i], tensor_sizes[i] * sizeof(float));
        ok = ok && s->device[i];
    }
    return ok;
}

/* Downloads the device copies and compares them with the host copies. */
static void tensors_compare(const tensor_set *s, worst *w, const char *label, double floor,
                            double tolerance)
{
    for (int i = 0; i < TENSORS; i++) {
        float *got = malloc(tensor_sizes[i] * sizeof(float));
        char name[96];
        snprintf(name, sizeof name, "%s, tensor %d", label, i);
        if (download(got, s->device[i], tensor_sizes[i]))
            compare(w, name, got, s->host[i], tensor_sizes[i], floor, tolerance);
        free(got);
    }
}

static void tensors_free(tensor_set *s)
{
    for (int i = 0; i < TENSORS; i++) {
        free(s->host[i]);
        recur_cuda_free(s->device[i]);
    }
}

/* l1 1e-3, l2 1e-2 over values in [-1, 1] (a few exactly 0: sign 0),
 * gradients in [-1, 1] added to; the loss starts at 0.5 on both. */
static void check_weight_penalty(recur_rng *rng)
{
    float *values[TENSORS], *grads[TENSORS];
    for (int i = 0; i < TENSORS; i++) {
        values[i] = random_floats(rng, tensor_sizes[i], -1.0f, 1.0f);
        grads[i] = random_floats(rng, tensor_sizes[i], -1.0f, 1.0f);
    }
    values[1][0] = values[2][5] = values[2][69999] = 0.0f;
    tensor_set v = {0}, g = {0};
    float want_loss = 0.5f, got_loss = 0.5f;
    float *d_loss = upload(&got_loss, sizeof(float));
    int ready = tensors_upload(&v, values) && tensors_upload(&g, grads) && d_loss;
    const float *host_values[TENSORS], *device_values[TENSORS];
    for (int i = 0; i < TENSORS; i++)
        host_values[i] = v.host[i], device_values[i] = v.device[i];
    worst loss_w = {0}, grad_w = {0}, value_w = {0};
    if (ready &&
        OK(recur_weight_penalty(TENSORS, host_values, g.host, tensor_sizes, 1e-3f, 1e-2f,
                                &want_loss)) &&
        OK(recur_weight_penalty_device(TENSORS, device_values, g.device, tensor_sizes, 1e-3f,
                                       1e-2f, d_loss)) &&
        download(&got_loss, d_loss, 1)) {
        compare(&loss_w, "weight_penalty: loss", &got_loss, &want_loss, 1, FLOOR,
                REDUCTION_TOLERANCE);
        /* g + l1 sign(w) + 2 l2 w can cancel: relative to the operands' scale, 1. */
        tensors_compare(&g, &grad_w, "weight_penalty: grads", 1.0, ELEMENT_TOLERANCE);
        tensors_compare(&v, &value_w, "weight_penalty: values (unchanged)", FLOOR, 0.0);
    }
    printf("weight_penalty_device (l1 1e-3, l2 1e-2, sizes 1, 1000, 70000):\n");
    report("loss (0.5 before)", loss_w, REDUCTION_TOLERANCE);
    report("grads (floor 1)", grad_w, ELEMENT_TOLERANCE);
    tensors_free(&v), tensors_free(&g);
    recur_cuda_free(d_loss);
    for (int i = 0; i < TENSORS; i++)
        free(values[i]), free(grads[i]);
}

/* Gradients in [-1, 1] (norm about 154): max_norm 10 clips, 1000 does not
 * (and then nothing may change). */
static void check_clip_grad_norm(recur_rng *rng, float max_norm)
{
    float *grads[TENSORS];
    for (int i = 0; i < TENSORS; i++)
        grads[i] = random_floats(rng, tensor_sizes[i], -1.0f, 1.0f);
    tensor_set g = {0};
    float want_norm = 0.0f, got_norm = 0.0f;
    float *d_norm = upload(&got_norm, sizeof(float));
    worst norm_w = {0}, grad_w = {0};
    int clips = 0;
    if (tensors_upload(&g, grads) && d_norm &&
        OK(recur_clip_grad_norm(TENSORS, g.host, tensor_sizes, max_norm, &want_norm)) &&
        OK(recur_clip_grad_norm_device(TENSORS, g.device, tensor_sizes, max_norm, d_norm)) &&
        download(&got_norm, d_norm, 1)) {
        clips = want_norm > max_norm;
        CHECK(clips == (max_norm < 100.0f));
        compare(&norm_w, "clip_grad_norm: total_norm", &got_norm, &want_norm, 1, FLOOR,
                REDUCTION_TOLERANCE);
        /* Scaled by max_norm / (norm + 1e-6), or untouched. */
        tensors_compare(&g, &grad_w, "clip_grad_norm: grads", FLOOR,
                        clips ? REDUCTION_TOLERANCE : 0.0);
    }
    char what[96];
    snprintf(what, sizeof what, "max_norm %g (norm %.6g, %s): total_norm", (double)max_norm,
             (double)want_norm, clips ? "clipped" : "not clipped");
    report(what, norm_w, REDUCTION_TOLERANCE);
    snprintf(what, sizeof what, "max_norm %g: grads", (double)max_norm);
    report(what, grad_w, clips ? REDUCTION_TOLERANCE : 0.0);
    tensors_free(&g);
    recur_cuda_free(d_norm);
    for (int i = 0; i < TENSORS; i++)
        free(grads[i]);
}

/* A NaN among the gradients makes the norm NaN and every gradient NaN, on
 * the device as on the host (torch's clamp(coef, max=1)). */
static void check_clip_grad_norm_nan(recur_rng *rng)
{
    float *grads[TENSORS];
    for (int i = 0; i < TENSORS; i++)
        grads[i] = random_floats(rng, tensor_sizes[i], -1.0f, 1.0f);
    grads[1][0] = NAN;
    tensor_set g = {0};
    float want_norm = 0.0f, got_norm = 0.0f;
    float *d_norm = upload(&got_norm, sizeof(float));
    int all_nan = 0;
    if (tensors_upload(&g, grads) && d_norm &&
        OK(recur_clip_grad_norm(TENSORS, g.host, tensor_sizes, 10.0f, &want_norm)) &&
        OK(recur_clip_grad_norm_device(TENSORS, g.device, tensor_sizes, 10.0f, d_norm)) &&
        download(&got_norm, d_norm, 1)) {
        CHECK(isnan(want_norm) && isnan(got_norm));
        all_nan = 1;
        for (int i = 0; i < TENSORS; i++) {
            float *got = malloc(tensor_sizes[i] * sizeof(float));
            all_nan = all_nan && got && download(got, g.device[i], tensor_sizes[i]);
            for (size_t k = 0; all_nan && k < tensor_sizes[i]; k++)
                all_nan = isnan(got[k]) && isnan(g.host[i][k]);
            free(got);
        }
    }
    CHECK(all_nan);
    printf("clip_grad_norm with a NaN gradient: every gradient NaN on both: %s\n",
           all_nan ? "yes" : "NO");
    tensors_free(&g);
    recur_cuda_free(d_norm);
    for (int i = 0; i < TENSORS; i++)
        free(grads[i]);
}

/* Values in [-2, 2] clamped to [-0.5, 0.5], with NaN (stays NaN), +-inf
 * and +-0.5 exactly: the results must be identical. */
static void check_clip_grad_value(recur_rng *rng)
{
    float *grads[TENSORS];
    for (int i = 0; i < TENSORS; i++)
        grads[i] = random_floats(rng, tensor_sizes[i], -2.0f, 2.0f);
    grads[0][0] = NAN;
    grads[2][0] = NAN, grads[2][1] = INFINITY, grads[2][2] = -INFINITY;
    grads[2][3] = 0.5f, grads[2][4] = -0.5f, grads[2][5] = 0.0f;
    tensor_set g = {0};
    worst w = {0};
    if (tensors_upload(&g, grads) &&
        OK(recur_clip_grad_value(TENSORS, g.host, tensor_sizes, 0.5f)) &&
        OK(recur_clip_grad_value_device(TENSORS, g.device, tensor_sizes, 0.5f))) {
        tensors_compare(&g, &w, "clip_grad_value", FLOOR, 0.0);
        float nan_value = 0.0f;
        if (download(&nan_value, g.device[0], 1))
            CHECK(isnan(nan_value));
    }
    report("clip_value 0.5 (NaN, +-inf included)", w, 0.0);
    tensors_free(&g);
    for (int i = 0; i < TENSORS; i++)
        free(grads[i]);
}

static void check_clipping(recur_rng *rng)
{
    printf("clip_grad_norm_device (sizes 1, 1000, 70000):\n");
    check_clip_grad_norm(rng, 10.0f);
    check_clip_grad_norm(rng, 1000.0f);
    check_clip_grad_norm_nan(rng);
    printf("clip_grad_value_device:\n");
    check_clip_grad_value(rng);
}

/* ---------------------------------------------------------------- */
/* Optimizers                                                        */
/* ---------------------------------------------------------------- */

enum { OPT_TENSORS = 2, OPT_STEPS = 5 };
static const size_t opt_sizes[OPT_TENSORS] = {5, 3000};

/* Learning rates keep every value (|v| >= 0.5 at first) far from 0 over the
 * steps: SGD 1e-2, RMSprop 1e-3, the others their defaults. */
static int optimizer_cases(recur_optimizer_config *c, const char **names)
{
    int n = 0;
    names[n] = "SGD";
    c[n] = recur_optimizer_config_default(RECUR_SGD);
    c[n++].lr = 1e-2f;
    names[n] = "SGD momentum 0.9, dampening 0.1";
    c[n] = c[0];
    c[n].momentum = 0.9f, c[n++].dampening = 0.1f;
    names[n] = "SGD nesterov 0.9, weight_decay 1e-2";
    c[n] = c[0];
    c[n].momentum = 0.9f, c[n].nesterov = 1, c[n++].weight_decay = 1e-2f;
    names[n] = "Adam weight_decay 1e-2";
    c[n] = recur_optimizer_config_default(RECUR_ADAM);
    c[n++].weight_decay = 1e-2f;
    names[n] = "Adam amsgrad, weight_decay 1e-2";
    c[n] = c[n - 1];
    c[n++].amsgrad = 1;
    names[n] = "AdamW";
    c[n++] = recur_optimizer_config_default(RECUR_ADAMW);
    names[n] = "RMSprop";
    c[n] = recur_optimizer_config_default(RECUR_RMSPROP);
    c[n++].lr = 1e-3f;
    names[n] = "RMSprop momentum 0.5, centered";
    c[n] = c[n - 1];
    c[n].momentum = 0.5f, c[n++].centered = 1;
    names[n] = "Adagrad lr_decay 1e-2, initial_accumulator 0.1";
    c[n] = recur_optimizer_config_default(RECUR_ADAGRAD);
    c[n].lr_decay = 1e-2f, c[n++].initial_accumulator_value = 0.1f;
    return n;
}

/* Tensors [5] and [3000]: values and gradients on the host and the device. */
typedef struct opt_tensors {
    float *value[OPT_TENSORS], *grad[OPT_TENSORS];
    float *d_value[OPT_TENSORS], *d_grad[OPT_TENSORS];
    float *got[OPT_TENSORS]; /* device values, downloaded */
} opt_tensors;

/* New gradients in [-1, 1], the same on both sides. */
static int new_gradients(recur_rng *rng, opt_tensors *t)
{
    int ok = 1;
    for (int i = 0; i < OPT_TENSORS; i++) {
        for (size_t k = 0; k < opt_sizes[i]; k++)
            t->grad[i][k] = recur_rng_uniform(rng, -1.0f, 1.0f);
        ok = ok && put(t->d_grad[i], t->grad[i], opt_sizes[i] * sizeof(float));
    }
    return ok;
}

static int download_values(opt_tensors *t)
{
    int ok = 1;
    for (int i = 0; i < OPT_TENSORS; i++)
        ok = ok && download(t->got[i], t->d_value[i], opt_sizes[i]);
    return ok;
}

/* The device optimizer's state, through a file, into a fresh host optimizer
 * on copies of the device values: one more step of the three (the device
 * one unchecked) agrees. */
static void check_state_transfer(recur_rng *rng, const recur_optimizer_config *c,
                                 const char *name, const char *scratch, opt_tensors *t,
                                 recur_optimizer *host, recur_optimizer *device, worst *w)
{
    recur_st_writer *writer = NULL;
    recur_st_file *file = NULL;
    recur_optimizer *fresh = NULL;
    float *fresh_value[OPT_TENSORS] = {0};
    char label[160];
    if (!OK(recur_st_writer_create(&writer)) ||
        !OK(recur_optimizer_write(device, writer, "optim.")) ||
        !OK(recur_st_writer_save(writer, scratch)) || !OK(recur_st_open(scratch, &file)) ||
        !download_values(t) || !OK(recur_optimizer_create(c, &fresh)))
        goto done;
    for (int i = 0; i < OPT_TENSORS; i++) {
        fresh_value[i] = copy_floats(t->got[i], opt_sizes[i]);
        if (!OK(recur_optimizer_add(fresh, fresh_value[i], t->grad[i], opt_sizes[i])))
            goto done;
    }
    if (!OK(recur_optimizer_read(fresh, file, "optim.")))
        goto done;
    CHECK(recur_optimizer_step_count(fresh) == recur_optimizer_step_count(device));
    CHECK(recur_optimizer_get_lr(fresh) == recur_optimizer_get_lr(device));
    if (!new_gradients(rng, t) || !OK(recur_optimizer_step(host)) ||
        !OK(recur_optimizer_step(fresh)) || !OK(recur_optimizer_step(device)) ||
        !download_values(t))
        goto done;
    for (int i = 0; i < OPT_TENSORS; i++) {
        snprintf(label, sizeof label, "%s: step after the state transfer, tensor %d", name, i);
        compare(w, label, t->got[i], fresh_value[i], opt_sizes[i], FLOOR, ELEMENT_TOLERANCE);
        snprintf(label, sizeof label, "%s: read host optimizer against the host one, tensor %d",
                 name, i);
        compare(w, label, fresh_value[i], t->value[i], opt_sizes[i], FLOOR, ELEMENT_TOLERANCE);
    }
done:
    for (int i = 0; i < OPT_TENSORS; i++)
        free(fresh_value[i]);
    recur_optimizer_free(fresh);
    recur_st_close(file);
    recur_st_writer_free(writer);
}

/* A checked step with a NaN among the checks moves nothing (on the device
 * and on the host) but counts; with `forget`, forget_step uncounts it and the
 * steps after it go as if it had never been taken (SGD's first momentum
 * step, Adam's bias corrections, Adagrad's lr_decay). Without, both sides
 * must still agree on what the counted step left behind. */
static void check_skipped_step(recur_rng *rng, const char *name, opt_tensors *t,
                               recur_optimizer *host, recur_optimizer *device, float *d_check,
                               int forget)
{
    float check[2] = {1.5f, NAN};
    float *before[OPT_TENSORS], *host_before[OPT_TENSORS];
    const int64_t device_steps = recur_optimizer_step_count(device);
    const int64_t host_steps = recur_optimizer_step_count(host);
    char label[160];
    if (!download_values(t))
        return;
    for (int i = 0; i < OPT_TENSORS; i++) {
        before[i] = copy_floats(t->got[i], opt_sizes[i]);
        host_before[i] = copy_floats(t->value[i], opt_sizes[i]);
    }
    if (put(d_check, check, sizeof check) && new_gradients(rng, t) &&
        OK(recur_optimizer_step_checked(device, d_check, 2)) &&
        OK(recur_optimizer_step_checked(host, check, 2)) && download_values(t)) {
        CHECK(recur_optimizer_step_count(device) == device_steps + 1);
        CHECK(recur_optimizer_step_count(host) == host_steps + 1);
        for (int i = 0; i < OPT_TENSORS; i++) {
            snprintf(label, sizeof label, "%s: NaN check after %d steps, device tensor %d",
                     name, (int)device_steps, i);
            compare(NULL, label, t->got[i], before[i], opt_sizes[i], FLOOR, 0.0);
            snprintf(label, sizeof label, "%s: NaN check after %d steps, host tensor %d", name,
                     (int)host_steps, i);
            compare(NULL, label, t->value[i], host_before[i], opt_sizes[i], FLOOR, 0.0);
        }
        if (forget) {
            recur_optimizer_forget_step(device);
            recur_optimizer_forget_step(host);
            CHECK(recur_optimizer_step_count(device) == device_steps);
            CHECK(recur_optimizer_step_count(host) == host_steps);
        }
    }
    check[1] = 2.0f;
    put(d_check, check, sizeof check);
    for (int i = 0; i < OPT_TENSORS; i++)
        free(before[i]), free(host_before[i]);
}

/* A skipped step first (forgotten or not), then OPT_STEPS steps of
 * recur_optimizer_step on the host and of recur_optimizer_step_checked (two
 * finite device floats) on the device, another skipped step (forgotten), and
 * the state transfer. */
static void check_optimizer(recur_rng *rng, const recur_optimizer_config *c, const char *name,
                            const char *scratch, int forget_first)
{
    opt_tensors t = {0};
    recur_optimizer *host = NULL, *device = NULL;
    float check[2] = {1.5f, 2.0f};
    float *d_check = upload(check, sizeof check);
    worst w = {0};
    char label[160];
    int ready = d_check != NULL;
    for (int i = 0; i < OPT_TENSORS; i++) {
        t.value[i] = signed_magnitudes(rng, opt_sizes[i]);
        t.grad[i] = calloc(opt_sizes[i], sizeof(float));
        t.got[i] = malloc(opt_sizes[i] * sizeof(float));
        t.d_value[i] = upload(t.value[i], opt_sizes[i] * sizeof(float));
        t.d_grad[i] = upload(t.grad[i], opt_sizes[i] * sizeof(float));
        ready = ready && t.d_value[i] && t.d_grad[i];
    }
    ready = ready && OK(recur_optimizer_create(c, &host)) &&
            OK(recur_optimizer_create(c, &device)) &&
            OK(recur_optimizer_set_device(device, RECUR_DEVICE_CUDA));
    for (int i = 0; i < OPT_TENSORS && ready; i++)
        ready = OK(recur_optimizer_add(host, t.value[i], t.grad[i], opt_sizes[i])) &&
                OK(recur_optimizer_add(device, t.d_value[i], t.d_grad[i], opt_sizes[i]));
    if (ready)
        check_skipped_step(rng, name, &t, host, device, d_check, forget_first);
    for (int step = 0; step < OPT_STEPS && ready; step++) {
        ready = new_gradients(rng, &t) && OK(recur_optimizer_step(host)) &&
                OK(recur_optimizer_step_checked(device, d_check, 2)) && download_values(&t);
        for (int i = 0; i < OPT_TENSORS && ready; i++) {
            snprintf(label, sizeof label, "%s: step %d, tensor %d", name, step + 1, i);
            compare(&w, label, t.got[i], t.value[i], opt_sizes[i], FLOOR, ELEMENT_TOLERANCE);
        }
    }
    if (ready) {
        CHECK(recur_optimizer_step_count(device) == OPT_STEPS + !forget_first);
        check_skipped_step(rng, name, &t, host, device, d_check, 1);
        check_state_transfer(rng, c, name, scratch, &t, host, device, &w);
    }
    snprintf(label, sizeof label, "%s%s", name, forget_first ? "" : ", first skip kept");
    report(label, w, ELEMENT_TOLERANCE);
    recur_optimizer_free(host);
    recur_optimizer_free(device);
    recur_cuda_free(d_check);
    for (int i = 0; i < OPT_TENSORS; i++) {
        free(t.value[i]), free(t.grad[i]), free(t.got[i]);
        recur_cuda_free(t.d_value[i]), recur_cuda_free(t.d_grad[i]);
    }
}

static void check_optimizers(recur_rng *rng, const char *scratch)
{
    recur_optimizer_config configs[16];
    const char *names[16];
    int n = optimizer_cases(configs, names);
    printf("optimizers on the device (tensors [5], [3000]: a skipped step, %d steps, a "
           "skipped step, state written and read, one more step):\n",
           OPT_STEPS);
    for (int forget_first = 1; forget_first >= 0; forget_first--)
        for (int i = 0; i < n; i++)
            check_optimizer(rng, &configs[i], names[i], scratch, forget_first);
}

/* ---------------------------------------------------------------- */
/* Language model                                                    */
/* ---------------------------------------------------------------- */

enum { LM_T = 12, LM_B = 4, LM_VOCAB = 40, LM_STEPS = 3 };
#define LM_ROWS (LM_T * LM_B)

/* One model on the host, one on the device, same seed; parameter arrays
 * for the optimizers and clipping. */
typedef struct lm_pair {
    recur_lm *host, *device;
    recur_optimizer *host_opt, *device_opt;
    int count;
    float **host_grads, **device_grads;
    size_t *sizes;
} lm_pair;

static int lm_pair_create(lm_pair *m, recur_cell cell)
{
    recur_lm_config c = {cell, LM_VOCAB, 16, 32, 2, 0.0f, 0.0f, 0.0f, 0};
    /* Adam with eps 1e-5: at a gradient near 0, lr / eps bounds how much of
     * the GPU's rounding of that gradient reaches the parameter (default eps
     * 1e-8 would amplify it 1e5 times). */
    recur_optimizer_config oc = recur_optimizer_config_default(RECUR_ADAM);
    oc.eps = 1e-5f;
    if (!OK(recur_lm_create(&c, 21, &m->host)) || !OK(recur_lm_create(&c, 21, &m->device)) ||
        !OK(recur_lm_set_device(m->device, RECUR_DEVICE_CUDA)) ||
        !OK(recur_optimizer_create(&oc, &m->host_opt)) ||
        !OK(recur_optimizer_create(&oc, &m->device_opt)) ||
        !OK(recur_optimizer_set_device(m->device_opt, RECUR_DEVICE_CUDA)))
        return 0;
    m->count = recur_lm_param_count(m->host);
    CHECK(recur_lm_param_count(m->device) == m->count);
    m->host_grads = calloc((size_t)m->count, sizeof(float *));
    m->device_grads = calloc((size_t)m->count, sizeof(float *));
    m->sizes = calloc((size_t)m->count, sizeof(size_t));
    for (int i = 0; i < m->count; i++) {
        recur_param hp, dp, own;
        if (!OK(recur_lm_param(m->host, i, &hp)) || !OK(recur_lm_device_param(m->device, i, &dp)) ||
            !OK(recur_lm_param(m->device, i, &own)))
            return 0;
        CHECK(dp.numel == hp.numel && dp.name && strcmp(dp.name, hp.name) == 0);
        if (i == 0) /* the embedding has a GPU copy of its own */
            CHECK(dp.value != own.value && dp.grad != own.grad);
        m->host_grads[i] = hp.grad, m->device_grads[i] = dp.grad, m->sizes[i] = hp.numel;
        if (!OK(recur_optimizer_add(m->host_opt, hp.value, hp.grad, hp.numel)) ||
            !OK(recur_optimizer_add(m->device_opt, dp.value, dp.grad, dp.numel)))
            return 0;
    }
    return 1;
}

static void lm_pair_free(lm_pair *m)
{
    recur_optimizer_free(m->host_opt), recur_optimizer_free(m->device_opt);
    recur_lm_free(m->host), recur_lm_free(m->device);
    free(m->host_grads), free(m->device_grads), free(m->sizes);
}

/* One training step on both: ids and targets [T, B] (flattened [T*B]).
 * scalars: device floats {loss, gradient norm}, the step's checks. */
static int lm_train_step(lm_pair *m, const int64_t *ids, const int64_t *targets,
                         int64_t *d_ids, int64_t *d_targets, float *d_grad_logits,
                         float *d_scalars, float *grad_logits, worst *loss_w, int step)
{
    const float max_norm = 1e6f; /* never clips */
    const float *logits = NULL, *d_logits = NULL;
    float want[2] = {0}, got[2] = {0}; /* loss, norm */
    char label[96];
    recur_lm_zero_grad(m->host);
    if (!OK(recur_lm_forward(m->host, LM_T, LM_B, ids, &logits)) ||
        !OK(recur_cross_entropy(LM_ROWS, LM_VOCAB, logits, targets, NULL, &want[0],
                                grad_logits)) ||
        !OK(recur_lm_backward(m->host, grad_logits)) ||
        !OK(recur_clip_grad_norm(m->count, m->host_grads, m->sizes, max_norm, &want[1])) ||
        !OK(recur_optimizer_step(m->host_opt)))
        return 0;
    recur_lm_zero_grad(m->device);
    if (!put(d_ids, ids, LM_ROWS * sizeof(int64_t)) ||
        !put(d_targets, targets, LM_ROWS * sizeof(int64_t)) ||
        !OK(recur_lm_forward_device(m->device, LM_T, LM_B, d_ids, &d_logits)) ||
        !OK(recur_cross_entropy_device(LM_ROWS, LM_VOCAB, d_logits, d_targets, &d_scalars[0],
                                       d_grad_logits)) ||
        !OK(recur_lm_backward_device(m->device, d_grad_logits)) ||
        !OK(recur_clip_grad_norm_device(m->count, m->device_grads, m->sizes, max_norm,
                                        &d_scalars[1])) ||
        !OK(recur_optimizer_step_checked(m->device_opt, d_scalars, 2)) ||
        !download(got, d_scalars, 2))
        return 0;
    snprintf(label, sizeof label, "step %d: loss", step);
    compare(loss_w, label, &got[0], &want[0], 1, FLOOR, REDUCTION_TOLERANCE);
    snprintf(label, sizeof label, "step %d: gradient norm", step);
    compare(loss_w, label, &got[1], &want[1], 1, FLOOR, REDUCTION_TOLERANCE);
    return 1;
}

/* After training: every parameter (and the last gradients) through
 * recur_lm_params_to_host, and the carried state [L, B, H] (h, then c). */
static void lm_compare_params(const char *name, lm_pair *m)
{
    worst value_w = {0}, grad_w = {0}, state_w = {0};
    char label[128];
    if (!OK(recur_lm_params_to_host(m->device)))
        return;
    for (int i = 0; i < m->count; i++) {
        recur_param want, got;
        if (!OK(recur_lm_param(m->host, i, &want)) || !OK(recur_lm_param(m->device, i, &got)))
            return;
        snprintf(label, sizeof label, "%s: %s", name, want.name);
        compare(&value_w, label, got.value, want.value, want.numel,
                fmax(max_magnitude(want.value, want.numel), 1e-6), MODEL_TOLERANCE);
        snprintf(label, sizeof label, "%s: %s gradient", name, want.name);
        compare(&grad_w, label, got.grad, want.grad, want.numel,
                fmax(max_magnitude(want.grad, want.numel), 1e-6), MODEL_GRAD_TOLERANCE);
    }
    size_t n = recur_lm_state_numel(m->host, LM_B);
    float *want_state = calloc(n, sizeof(float)), *got_state = calloc(n, sizeof(float));
    CHECK(recur_lm_get_state(m->host, want_state) == LM_B);
    CHECK(recur_lm_get_state(m->device, got_state) == LM_B);
    snprintf(label, sizeof label, "%s: carried state", name);
    compare(&state_w, label, got_state, want_state, n, fmax(max_magnitude(want_state, n), 1e-6),
            MODEL_TOLERANCE);
    free(want_state), free(got_state);
    report("parameters (relative to each tensor's largest)", value_w, MODEL_TOLERANCE);
    report("last gradients (relative to each tensor's largest)", grad_w, MODEL_GRAD_TOLERANCE);
    report("carried state", state_w, MODEL_TOLERANCE);
}

/* From a fresh state: the device model's host-pointer forward (its host
 * parameters, just copied back) against the host model's, and against its
 * own device forward. */
static void lm_compare_logits(const char *name, lm_pair *m, const int64_t *ids, int64_t *d_ids)
{
    const float *logits = NULL, *d_logits = NULL;
    const size_t n = (size_t)LM_ROWS * LM_VOCAB;
    float *host = malloc(n * sizeof(float));      /* host model */
    float *via_host = malloc(n * sizeof(float));  /* device model, host pointers */
    float *via_device = malloc(n * sizeof(float)); /* device model, device pointers */
    worst w = {0};
    char label[128];
    recur_lm_reset_state(m->host);
    recur_lm_reset_state(m->device);
    if (!OK(recur_lm_forward(m->host, LM_T, LM_B, ids, &logits)))
        goto done;
    memcpy(host, logits, n * sizeof(float));
    if (!OK(recur_lm_forward(m->device, LM_T, LM_B, ids, &logits)))
        goto done;
    memcpy(via_host, logits, n * sizeof(float));
    snprintf(label, sizeof label, "%s: host-pointer forward of the device model", name);
    compare(&w, label, via_host, host, n, fmax(max_magnitude(host, n), 1e-6), MODEL_TOLERANCE);
    recur_lm_reset_state(m->device);
    if (put(d_ids, ids, LM_ROWS * sizeof(int64_t)) &&
        OK(recur_lm_forward_device(m->device, LM_T, LM_B, d_ids, &d_logits)) &&
        download(via_device, d_logits, n)) {
        snprintf(label, sizeof label, "%s: device forward against the host-pointer one", name);
        compare(&w, label, via_device, via_host, n, fmax(max_magnitude(via_host, n), 1e-6),
                MODEL_TOLERANCE);
    }
done:
    report("logits from a fresh state", w, MODEL_TOLERANCE);
    free(host), free(via_host), free(via_device);
}

/* vocab 40, embed 16, hidden 32, 2 layers; T 12, B 4; LM_STEPS steps of
 * forward, cross-entropy, backward, clipping (no-op) and Adam, the state
 * carried from step to step. */
static void check_lm(recur_rng *rng, recur_cell cell, const char *name)
{
    lm_pair m = {0};
    int64_t ids[LM_ROWS], targets[LM_ROWS];
    float *grad_logits = malloc((size_t)LM_ROWS * LM_VOCAB * sizeof(float));
    int64_t *d_ids = upload(NULL, sizeof ids), *d_targets = upload(NULL, sizeof targets);
    float *d_grad_logits = upload(NULL, (size_t)LM_ROWS * LM_VOCAB * sizeof(float));
    float zeros[2] = {0};
    float *d_scalars = upload(zeros, sizeof zeros);
    worst loss_w = {0};
    printf("language model, %s (vocab 40, embed 16, hidden 32, 2 layers, T 12, B 4, Adam):\n",
           name);
    int ready = d_ids && d_targets && d_grad_logits && d_scalars && lm_pair_create(&m, cell);
    /* the device backward reports the same tensors in the same order */
    test_ready_log host_log = {{0}, {0}, 0}, device_log = {{0}, {0}, 0};
    if (ready) {
        recur_lm_set_grad_ready(m.host, test_log_ready, &host_log);
        recur_lm_set_grad_ready(m.device, test_log_ready, &device_log);
    }
    for (int step = 1; step <= LM_STEPS && ready; step++) {
        for (int i = 0; i < LM_ROWS; i++) {
            ids[i] = pick(rng, 0, LM_VOCAB - 1);
            targets[i] = pick(rng, 0, LM_VOCAB - 1);
        }
        ready = lm_train_step(&m, ids, targets, d_ids, d_targets, d_grad_logits, d_scalars,
                              grad_logits, &loss_w, step);
    }
    if (ready) {
        CHECK(host_log.calls > 0 && host_log.calls <= 64 && device_log.calls == host_log.calls &&
              memcmp(host_log.first, device_log.first, sizeof host_log.first) == 0 &&
              memcmp(host_log.count, device_log.count, sizeof host_log.count) == 0);
        printf("  grad-ready reports: %d on the host, %d on the GPU (the same ranges: %s)\n",
               host_log.calls, device_log.calls,
               memcmp(host_log.first, device_log.first, sizeof host_log.first) ? "no" : "yes");
        report("loss and gradient norm, every step", loss_w, REDUCTION_TOLERANCE);
        lm_compare_params(name, &m);
        lm_compare_logits(name, &m, ids, d_ids);
    }
    lm_pair_free(&m);
    recur_cuda_free(d_ids), recur_cuda_free(d_targets), recur_cuda_free(d_grad_logits);
    recur_cuda_free(d_scalars);
    free(grad_logits);
}

/* ---------------------------------------------------------------- */
/* Classifier with its stack on the GPU (recur_seqnet_set_device)     */
/* ---------------------------------------------------------------- */

/* The same seqnet twice, one with its stack on the GPU: in training mode
 * (dropout between the layers and on the inputs: the same masks) the results,
 * input gradients and parameter gradients of three steps agree with the CPU's
 * (parameters updated by plain SGD on the host in between), for every pooling,
 * with lengths. */
static void check_seqnet_pool(recur_rng *rng, recur_pool pool, worst *out_w, worst *grad_w)
{
    enum { T = 7, B = 5, I = 6, H = 8, O = 3 };
    recur_seqnet_config c = recur_seqnet_config_default(RECUR_LSTM, I, H, O);
    c.rnn.num_layers = 2, c.rnn.bidirectional = 1, c.rnn.dropout = 0.25f;
    c.input_dropout = 0.1f;
    c.pool = pool;
    recur_seqnet *cpu = NULL, *gpu = NULL;
    CHECK_OK(recur_seqnet_create(&c, 9, &cpu));
    CHECK_OK(recur_seqnet_create(&c, 9, &gpu));
    if (!cpu || !gpu || !OK(recur_seqnet_set_device(gpu, RECUR_DEVICE_CUDA))) {
        recur_seqnet_free(cpu), recur_seqnet_free(gpu);
        return;
    }
    recur_seqnet_set_training(cpu, 1), recur_seqnet_set_training(gpu, 1);
    const int64_t lengths[B] = {7, 3, 7, 1, 5};
    float input[T * B * I], grad_result[B * O], grad_in_cpu[T * B * I], grad_in_gpu[T * B * I];
    char label[96];
    for (int step = 0; step < 3; step++) {
        for (int k = 0; k < T * B * I; k++)
            input[k] = recur_rng_uniform(rng, -1.0f, 1.0f);
        for (int k = 0; k < B * O; k++)
            grad_result[k] = recur_rng_uniform(rng, -0.5f, 0.5f);
        const float *r_cpu = NULL, *r_gpu = NULL;
        recur_seqnet_zero_grad(cpu), recur_seqnet_zero_grad(gpu);
        if (!OK(recur_seqnet_forward(cpu, T, B, input, lengths, &r_cpu)) ||
            !OK(recur_seqnet_forward(gpu, T, B, input, lengths, &r_gpu)))
            break;
        snprintf(label, sizeof label, "seqnet pool %d step %d: result", (int)pool, step);
        compare(out_w, label, r_gpu, r_cpu, B * O, 1e-3, 1e-5);
        if (!OK(recur_seqnet_backward(cpu, grad_result, grad_in_cpu)) ||
            !OK(recur_seqnet_backward(gpu, grad_result, grad_in_gpu)))
            break;
        snprintf(label, sizeof label, "seqnet pool %d step %d: grad_input", (int)pool, step);
        compare(grad_w, label, grad_in_gpu, grad_in_cpu, T * B * I, 1e-3, 1e-5);
        /* Parameter gradients relative to the model's largest: the GPU's
         * sums round differently (1.7e-8 on an element of 5.7e-4 of
         * head.weight, 1.5e-10 on pool.query's, whose largest is 1.3e-7) */
        double largest_grad = 1e-6;
        for (int i = 0; i < recur_seqnet_param_count(cpu); i++) {
            recur_param a;
            if (OK(recur_seqnet_param(cpu, i, &a)))
                largest_grad = fmax(largest_grad, max_magnitude(a.grad, a.numel));
        }
        for (int i = 0; i < recur_seqnet_param_count(cpu); i++) {
            recur_param a, b;
            if (!OK(recur_seqnet_param(cpu, i, &a)) || !OK(recur_seqnet_param(gpu, i, &b)))
                break;
            snprintf(label, sizeof label, "seqnet pool %d step %d: grad %s", (int)pool, step,
                     a.name);
            compare(grad_w, label, b.grad, a.grad, a.numel, largest_grad, 1e-5);
            for (size_t k = 0; k < a.numel; k++) { /* SGD on both, from the CPU's gradient */
                a.value[k] -= 0.1f * a.grad[k];
                b.value[k] = a.value[k];
            }
        }
    }
    recur_seqnet_free(cpu);
    recur_seqnet_free(gpu);
}

static void check_seqnet(recur_rng *rng)
{
    worst out_w = {0, 0}, grad_w = {0, 0};
    for (int pool = RECUR_POOL_LAST; pool <= RECUR_POOL_ATTENTION; pool++)
        check_seqnet_pool(rng, (recur_pool)pool, &out_w, &grad_w);
    report("seqnet, stack on the GPU: results", out_w, 1e-5);
    report("seqnet, stack on the GPU: input and parameter gradients", grad_w, 1e-5);
}

/* What must fail cleanly, with or without a GPU: the device calls on a
 * model or optimizer that is not on the GPU, and bad arguments. */
static void check_errors(int have_gpu)
{
    recur_lm_config c = {RECUR_LSTM, 10, 4, 6, 1, 0.0f, 0.0f, 0.0f, 0};
    recur_lm *lm = NULL;
    CHECK_OK(recur_lm_create(&c, 1, &lm));
    int64_t ids[2] = {1, 2};
    const float *logits = NULL;
    recur_param p;
    CHECK_STATUS(recur_lm_forward_device(lm, 1, 2, ids, &logits), RECUR_E_INVALID);
    CHECK_STATUS(recur_lm_backward_device(lm, (const float *)ids), RECUR_E_INVALID);
    CHECK_STATUS(recur_lm_device_param(lm, 0, &p), RECUR_E_INVALID);
    CHECK_STATUS(recur_lm_params_to_host(lm), RECUR_E_INVALID);
    CHECK_STATUS(recur_lm_params_to_device(lm), RECUR_E_INVALID);
    if (!have_gpu) {
        CHECK_STATUS(recur_lm_set_device(lm, RECUR_DEVICE_CUDA), RECUR_E_INVALID);
        CHECK(strlen(recur_last_error()) > 0);
        recur_seqnet_config sc = recur_seqnet_config_default(RECUR_GRU, 3, 4, 2);
        recur_seqnet *net = NULL;
        CHECK_OK(recur_seqnet_create(&sc, 1, &net));
        CHECK_STATUS(recur_seqnet_set_device(net, RECUR_DEVICE_CUDA), RECUR_E_INVALID);
        CHECK_OK(recur_seqnet_set_device(net, RECUR_DEVICE_CPU));
        recur_seqnet_free(net);
        float loss, x = 1.0f, *grads[1] = {&x};
        size_t sizes[1] = {1};
        CHECK_STATUS(recur_cross_entropy_device(1, 2, &x, ids, &loss, &x), RECUR_E_INVALID);
        CHECK_STATUS(recur_clip_grad_norm_device(1, grads, sizes, 1.0f, &loss), RECUR_E_INVALID);
        CHECK_STATUS(recur_clip_grad_value_device(1, grads, sizes, 1.0f), RECUR_E_INVALID);
        CHECK_STATUS(recur_weight_penalty_device(1, (const float *const *)grads, grads, sizes,
                                                 0.1f, 0.1f, &loss),
                     RECUR_E_INVALID);
    }
    CHECK_STATUS(recur_cross_entropy_device(0, 2, NULL, NULL, NULL, NULL), RECUR_E_INVALID);
    CHECK_STATUS(recur_seqnet_set_device(NULL, RECUR_DEVICE_CPU), RECUR_E_INVALID);
    recur_lm_free(lm);
    recur_optimizer_config oc = recur_optimizer_config_default(RECUR_ADAM);
    recur_optimizer *opt = NULL;
    CHECK_OK(recur_optimizer_create(&oc, &opt));
    CHECK_STATUS(recur_optimizer_set_device(opt, (recur_device)7), RECUR_E_INVALID);
    CHECK_OK(recur_optimizer_set_device(opt, RECUR_DEVICE_CPU));
    float value[2] = {0}, grad[2] = {0};
    CHECK_OK(recur_optimizer_add(opt, value, grad, 2));
    CHECK_STATUS(recur_optimizer_set_device(opt, RECUR_DEVICE_CUDA), RECUR_E_STATE);
    recur_optimizer_free(opt);
}

int main(int argc, char **argv)
{
    const uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    const int have_gpu = recur_cuda_device_count() > 0;
    check_errors(have_gpu);
    if (!have_gpu) {
        printf("skip: no CUDA GPU (only the error paths ran: %d checks, %d failed)\n",
               test_checks, test_failures);
        return test_failures ? 1 : 77;
    }
    char device[256];
    recur_cuda_describe(device, sizeof device);
    printf("device: %s\n", device);
    const char *tmp = getenv("TMPDIR");
    char scratch[512];
    snprintf(scratch, sizeof scratch, "%s/test_cuda_train_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(scratch);
    CHECK(fd >= 0);
    if (fd < 0)
        return test_finish("test_cuda_train");
    close(fd);

    recur_rng rng;
    recur_rng_seed(&rng, seed);
    check_cross_entropy(&rng);
    check_weight_penalty(&rng);
    check_clipping(&rng);
    check_optimizers(&rng, scratch);
    check_lm(&rng, RECUR_LSTM, "LSTM");
    check_lm(&rng, RECUR_GRU, "GRU");
    check_seqnet(&rng);
    unlink(scratch);
    return test_finish("test_cuda_train");
}
