/* Optimizers with torch.optim's update rules (the single-tensor, foreach=False
 * path of PyTorch 1.13 / 2.x), computed in float32 as PyTorch does for float32
 * parameters: scalar coefficients are formed in double, as Python does, and
 * rounded to float where the tensor kernels would round them. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>

#include "core/alloc.h"
#include "core/status.h"

/* One registered tensor and its optimizer state (flat arrays of numel floats,
 * NULL where the configuration does not need them). */
typedef struct optim_tensor {
    float *value;
    const float *grad;
    size_t numel;
    int64_t steps;             /* torch keeps the step per parameter */
    int has_momentum_buffer;   /* SGD: torch's buffer is None before the first step */
    float *state_block;        /* owns every array below */
    float *momentum_buffer;    /* SGD, RMSprop with momentum */
    float *exp_avg;            /* Adam, AdamW */
    float *exp_avg_sq;         /* Adam, AdamW */
    float *max_exp_avg_sq;     /* Adam, AdamW with amsgrad */
    float *square_avg;         /* RMSprop */
    float *grad_avg;           /* RMSprop centered */
    float *state_sum;          /* Adagrad */
} optim_tensor;

struct recur_optimizer {
    recur_optimizer_config config;
    optim_tensor *tensors;
    int tensor_count, tensor_capacity;
    int64_t step_count;
};

recur_optimizer_config recur_optimizer_config_default(recur_optimizer_kind kind)
{
    recur_optimizer_config c = {0};
    c.kind = kind;
    switch (kind) {
    case RECUR_SGD:
        c.lr = 1e-3f;
        break;
    case RECUR_ADAM:
    case RECUR_ADAMW:
        c.lr = 1e-3f;
        c.beta1 = 0.9f;
        c.beta2 = 0.999f;
        c.eps = 1e-8f;
        c.weight_decay = kind == RECUR_ADAMW ? 1e-2f : 0.0f;
        break;
    case RECUR_RMSPROP:
        c.lr = 1e-2f;
        c.alpha = 0.99f;
        c.eps = 1e-8f;
        break;
    case RECUR_ADAGRAD:
        c.lr = 1e-2f;
        c.eps = 1e-10f;
        break;
    }
    return c;
}

/* ---------------------------------------------------------------- */
/* Validation (torch.optim's constructor checks)                     */
/* ---------------------------------------------------------------- */

static const char *kind_name(recur_optimizer_kind kind)
{
    switch (kind) {
    case RECUR_SGD:
        return "SGD";
    case RECUR_ADAM:
        return "Adam";
    case RECUR_ADAMW:
        return "AdamW";
    case RECUR_RMSPROP:
        return "RMSprop";
    case RECUR_ADAGRAD:
        return "Adagrad";
    }
    return "unknown";
}

/* Fails unless value >= 0 (NaN fails too). */
static recur_status require_non_negative(const recur_optimizer_config *c, const char *field,
                                         float value)
{
    if (value >= 0.0f && !isinf(value))
        return RECUR_OK;
    return recur_fail(RECUR_E_INVALID, "%s: invalid %s %g (must be finite and >= 0)",
                      kind_name(c->kind), field, (double)value);
}

static recur_status require_beta(const recur_optimizer_config *c, const char *field, float value)
{
    if (value >= 0.0f && value < 1.0f)
        return RECUR_OK;
    return recur_fail(RECUR_E_INVALID, "%s: invalid %s %g (must be in [0, 1))",
                      kind_name(c->kind), field, (double)value);
}

static recur_status validate_sgd(const recur_optimizer_config *c)
{
    RECUR_TRY(require_non_negative(c, "momentum", c->momentum));
    RECUR_TRY(require_non_negative(c, "dampening", c->dampening));
    if (c->nesterov && (c->momentum <= 0.0f || c->dampening != 0.0f))
        return recur_fail(RECUR_E_INVALID,
                          "SGD: nesterov momentum requires a momentum > 0 and zero dampening");
    return RECUR_OK;
}

static recur_status validate_adam(const recur_optimizer_config *c)
{
    RECUR_TRY(require_non_negative(c, "eps", c->eps));
    RECUR_TRY(require_beta(c, "beta1", c->beta1));
    return require_beta(c, "beta2", c->beta2);
}

static recur_status validate_rmsprop(const recur_optimizer_config *c)
{
    RECUR_TRY(require_non_negative(c, "eps", c->eps));
    RECUR_TRY(require_non_negative(c, "momentum", c->momentum));
    return require_non_negative(c, "alpha", c->alpha);
}

static recur_status validate_adagrad(const recur_optimizer_config *c)
{
    RECUR_TRY(require_non_negative(c, "eps", c->eps));
    RECUR_TRY(require_non_negative(c, "lr_decay", c->lr_decay));
    return require_non_negative(c, "initial_accumulator_value", c->initial_accumulator_value);
}

static recur_status validate_config(const recur_optimizer_config *c)
{
    if (c->kind != RECUR_SGD && c->kind != RECUR_ADAM && c->kind != RECUR_ADAMW &&
        c->kind != RECUR_RMSPROP && c->kind != RECUR_ADAGRAD)
        return recur_fail(RECUR_E_INVALID, "optimizer: unknown kind %d", (int)c->kind);
    RECUR_TRY(require_non_negative(c, "learning rate", c->lr));
    RECUR_TRY(require_non_negative(c, "weight_decay", c->weight_decay));
    switch (c->kind) {
    case RECUR_SGD:
        return validate_sgd(c);
    case RECUR_ADAM:
    case RECUR_ADAMW:
        return validate_adam(c);
    case RECUR_RMSPROP:
        return validate_rmsprop(c);
    case RECUR_ADAGRAD:
        return validate_adagrad(c);
    }
    return RECUR_OK;
}

/* ---------------------------------------------------------------- */
/* Creation and registration                                         */
/* ---------------------------------------------------------------- */

recur_status recur_optimizer_create(const recur_optimizer_config *config, recur_optimizer **out)
{
    if (!config || !out)
        return recur_fail(RECUR_E_INVALID, "optimizer_create: NULL argument");
    *out = NULL;
    RECUR_TRY(validate_config(config));
    recur_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt)
        return recur_fail(RECUR_E_NOMEM, "optimizer_create: out of memory");
    opt->config = *config;
    *out = opt;
    return RECUR_OK;
}

void recur_optimizer_free(recur_optimizer *opt)
{
    if (!opt)
        return;
    for (int i = 0; i < opt->tensor_count; i++)
        free(opt->tensors[i].state_block);
    free(opt->tensors);
    free(opt);
}

/* How many state arrays of numel floats the configuration keeps per tensor. */
static int state_array_count(const recur_optimizer_config *c)
{
    switch (c->kind) {
    case RECUR_SGD:
        return c->momentum != 0.0f ? 1 : 0;
    case RECUR_ADAM:
    case RECUR_ADAMW:
        return c->amsgrad ? 3 : 2;
    case RECUR_RMSPROP:
        return 1 + (c->momentum > 0.0f) + (c->centered != 0);
    case RECUR_ADAGRAD:
        return 1;
    }
    return 0;
}

/* Points the named state arrays into the tensor's block and sets their
 * initial values (zeros, or Adagrad's initial accumulator). */
static void assign_state(const recur_optimizer_config *c, optim_tensor *t)
{
    float *next = t->state_block;
    size_t n = t->numel;
    switch (c->kind) {
    case RECUR_SGD:
        if (c->momentum != 0.0f)
            t->momentum_buffer = next;
        break;
    case RECUR_ADAM:
    case RECUR_ADAMW:
        t->exp_avg = next;
        t->exp_avg_sq = next + n;
        if (c->amsgrad)
            t->max_exp_avg_sq = next + 2 * n;
        break;
    case RECUR_RMSPROP:
        t->square_avg = next;
        next += n;
        if (c->momentum > 0.0f) {
            t->momentum_buffer = next;
            next += n;
        }
        if (c->centered)
            t->grad_avg = next;
        break;
    case RECUR_ADAGRAD:
        t->state_sum = next;
        for (size_t k = 0; k < n; k++)
            t->state_sum[k] = c->initial_accumulator_value;
        break;
    }
}

recur_status recur_optimizer_add(recur_optimizer *opt, float *value, const float *grad,
                                 size_t numel)
{
    if (!opt || (numel > 0 && (!value || !grad)))
        return recur_fail(RECUR_E_INVALID, "optimizer_add: NULL argument");
    if (opt->tensor_count == opt->tensor_capacity) {
        if (opt->tensor_capacity > (1 << 28))
            return recur_fail(RECUR_E_NOMEM, "optimizer_add: too many tensors");
        int capacity = opt->tensor_capacity ? 2 * opt->tensor_capacity : 8;
        optim_tensor *grown = realloc(opt->tensors, (size_t)capacity * sizeof *grown);
        if (!grown)
            return recur_fail(RECUR_E_NOMEM, "optimizer_add: out of memory");
        opt->tensors = grown;
        opt->tensor_capacity = capacity;
    }
    optim_tensor t = {0};
    t.value = value;
    t.grad = grad;
    t.numel = numel;
    size_t state_floats;
    if (!recur_mul_size(numel, (size_t)state_array_count(&opt->config), &state_floats))
        return recur_fail(RECUR_E_NOMEM, "optimizer_add: state of %zu floats overflows", numel);
    t.state_block = recur_alloc_floats(state_floats);
    if (!t.state_block)
        return recur_fail(RECUR_E_NOMEM, "optimizer_add: out of memory for %zu floats of state",
                          state_floats);
    assign_state(&opt->config, &t);
    opt->tensors[opt->tensor_count++] = t;
    return RECUR_OK;
}

/* ---------------------------------------------------------------- */
/* Update rules, one per kind                                        */
/* ---------------------------------------------------------------- */

/* grad + weight_decay * param, as grad.add(param, alpha=weight_decay). */
static inline float decayed_grad(float grad, float param, float weight_decay)
{
    return weight_decay != 0.0f ? grad + weight_decay * param : grad;
}

static void sgd_update(const recur_optimizer_config *c, optim_tensor *t)
{
    float neg_lr = -c->lr;
    float keep_grad = (float)(1.0 - (double)c->dampening);
    int first = !t->has_momentum_buffer;
    for (size_t k = 0; k < t->numel; k++) {
        float d_p = decayed_grad(t->grad[k], t->value[k], c->weight_decay);
        if (t->momentum_buffer) {
            float *buf = &t->momentum_buffer[k];
            *buf = first ? d_p : *buf * c->momentum + keep_grad * d_p;
            d_p = c->nesterov ? d_p + c->momentum * *buf : *buf;
        }
        t->value[k] += neg_lr * d_p;
    }
    t->has_momentum_buffer = 1;
}

/* Adam and AdamW; `decoupled` selects AdamW's weight decay. */
static void adam_update(const recur_optimizer_config *c, optim_tensor *t, int decoupled)
{
    double step = (double)t->steps;
    double bias_correction1 = 1.0 - pow((double)c->beta1, step);
    double bias_correction2 = 1.0 - pow((double)c->beta2, step);
    float neg_step_size = (float)(-((double)c->lr / bias_correction1));
    float bias_correction2_sqrt = (float)sqrt(bias_correction2);
    float one_minus_beta1 = (float)(1.0 - (double)c->beta1);
    float one_minus_beta2 = (float)(1.0 - (double)c->beta2);
    float param_scale = (float)(1.0 - (double)c->lr * (double)c->weight_decay);
    float l2 = decoupled ? 0.0f : c->weight_decay;
    for (size_t k = 0; k < t->numel; k++) {
        if (decoupled)
            t->value[k] *= param_scale;
        float g = decayed_grad(t->grad[k], t->value[k], l2);
        float m = t->exp_avg[k] * c->beta1 + one_minus_beta1 * g;
        float v = t->exp_avg_sq[k] * c->beta2 + one_minus_beta2 * g * g;
        t->exp_avg[k] = m;
        t->exp_avg_sq[k] = v;
        if (t->max_exp_avg_sq) {
            if (v > t->max_exp_avg_sq[k])
                t->max_exp_avg_sq[k] = v;
            v = t->max_exp_avg_sq[k];
        }
        float denom = sqrtf(v) / bias_correction2_sqrt + c->eps;
        t->value[k] += neg_step_size * m / denom;
    }
}

static void rmsprop_update(const recur_optimizer_config *c, optim_tensor *t)
{
    float one_minus_alpha = (float)(1.0 - (double)c->alpha);
    float neg_lr = -c->lr;
    for (size_t k = 0; k < t->numel; k++) {
        float g = decayed_grad(t->grad[k], t->value[k], c->weight_decay);
        float square_avg = t->square_avg[k] * c->alpha + one_minus_alpha * g * g;
        t->square_avg[k] = square_avg;
        float avg;
        if (t->grad_avg) {
            float grad_avg = t->grad_avg[k] * c->alpha + one_minus_alpha * g;
            t->grad_avg[k] = grad_avg;
            avg = sqrtf(square_avg - grad_avg * grad_avg);
        } else {
            avg = sqrtf(square_avg);
        }
        avg += c->eps;
        if (t->momentum_buffer) {
            float buf = t->momentum_buffer[k] * c->momentum + g / avg;
            t->momentum_buffer[k] = buf;
            t->value[k] += neg_lr * buf;
        } else {
            t->value[k] += neg_lr * g / avg;
        }
    }
}

static void adagrad_update(const recur_optimizer_config *c, optim_tensor *t)
{
    double clr = (double)c->lr / (1.0 + (double)(t->steps - 1) * (double)c->lr_decay);
    float neg_clr = (float)-clr;
    for (size_t k = 0; k < t->numel; k++) {
        float g = decayed_grad(t->grad[k], t->value[k], c->weight_decay);
        float sum = t->state_sum[k] + g * g;
        t->state_sum[k] = sum;
        float std = sqrtf(sum) + c->eps;
        t->value[k] += neg_clr * g / std;
    }
}

recur_status recur_optimizer_step(recur_optimizer *opt)
{
    if (!opt)
        return recur_fail(RECUR_E_INVALID, "optimizer_step: NULL optimizer");
    const recur_optimizer_config *c = &opt->config;
    for (int i = 0; i < opt->tensor_count; i++) {
        optim_tensor *t = &opt->tensors[i];
        t->steps++;
        switch (c->kind) {
        case RECUR_SGD:
            sgd_update(c, t);
            break;
        case RECUR_ADAM:
            adam_update(c, t, 0);
            break;
        case RECUR_ADAMW:
            adam_update(c, t, 1);
            break;
        case RECUR_RMSPROP:
            rmsprop_update(c, t);
            break;
        case RECUR_ADAGRAD:
            adagrad_update(c, t);
            break;
        }
    }
    opt->step_count++;
    return RECUR_OK;
}

void recur_optimizer_set_lr(recur_optimizer *opt, float lr)
{
    if (opt)
        opt->config.lr = lr;
}

float recur_optimizer_get_lr(const recur_optimizer *opt)
{
    return opt ? opt->config.lr : 0.0f;
}

int64_t recur_optimizer_step_count(const recur_optimizer *opt)
{
    return opt ? opt->step_count : 0;
}

/* ---------------------------------------------------------------- */
/* State in checkpoints                                              */
/* ---------------------------------------------------------------- */

/* Per tensor i: "<prefix><i>.state" F32 [arrays * numel] (the arrays in the
 * order of assign_state) and "<prefix><i>.steps" I64 [2] (steps, whether
 * SGD's momentum buffer exists); "<prefix>step_count" I64 [1] and
 * "<prefix>lr" F32 [1]. */
recur_status recur_optimizer_write(const recur_optimizer *opt, recur_st_writer *writer,
                                   const char *prefix)
{
    if (!opt || !writer || !prefix)
        return recur_fail(RECUR_E_INVALID, "optimizer_write: NULL argument");
    char name[160];
    int arrays = state_array_count(&opt->config);
    for (int i = 0; i < opt->tensor_count; i++) {
        const optim_tensor *t = &opt->tensors[i];
        int64_t count = (int64_t)t->numel * arrays;
        if (count > 0) {
            snprintf(name, sizeof name, "%s%d.state", prefix, i);
            RECUR_TRY(recur_st_writer_add(writer, name, RECUR_F32, 1, &count, t->state_block));
        }
        int64_t steps[2] = {t->steps, t->has_momentum_buffer}, two = 2;
        snprintf(name, sizeof name, "%s%d.steps", prefix, i);
        RECUR_TRY(recur_st_writer_add(writer, name, RECUR_I64, 1, &two, steps));
    }
    int64_t one = 1;
    snprintf(name, sizeof name, "%sstep_count", prefix);
    RECUR_TRY(recur_st_writer_add(writer, name, RECUR_I64, 1, &one, &opt->step_count));
    snprintf(name, sizeof name, "%slr", prefix);
    return recur_st_writer_add(writer, name, RECUR_F32, 1, &one, &opt->config.lr);
}

/* Finds "<prefix><suffix>" with exactly `numel` elements of `dtype`. */
static recur_status find_state_tensor(const recur_st_file *file, const char *name,
                                      recur_dtype dtype, size_t numel,
                                      const recur_tensor_view **out)
{
    const recur_tensor_view *t = recur_st_find(file, name);
    if (!t || t->dtype != dtype || t->numel != numel)
        return recur_fail(RECUR_E_SHAPE,
                          "%s: optimizer state '%s' is missing or does not match the optimizer "
                          "(%zu %s values expected)",
                          recur_st_label(file), name, numel, recur_dtype_name(dtype));
    *out = t;
    return RECUR_OK;
}

recur_status recur_optimizer_read(recur_optimizer *opt, const recur_st_file *file,
                                  const char *prefix)
{
    if (!opt || !file || !prefix)
        return recur_fail(RECUR_E_INVALID, "optimizer_read: NULL argument");
    char name[160];
    const recur_tensor_view *view = NULL;
    int arrays = state_array_count(&opt->config);
    for (int i = 0; i < opt->tensor_count; i++) {
        optim_tensor *t = &opt->tensors[i];
        size_t count = t->numel * (size_t)arrays;
        if (count > 0) {
            snprintf(name, sizeof name, "%s%d.state", prefix, i);
            RECUR_TRY(find_state_tensor(file, name, RECUR_F32, count, &view));
            RECUR_TRY(recur_tensor_to_f32(view, t->state_block, count));
        }
        int64_t steps[2];
        snprintf(name, sizeof name, "%s%d.steps", prefix, i);
        RECUR_TRY(find_state_tensor(file, name, RECUR_I64, 2, &view));
        RECUR_TRY(recur_tensor_to_i64(view, steps, 2));
        t->steps = steps[0];
        t->has_momentum_buffer = steps[1] != 0;
    }
    snprintf(name, sizeof name, "%sstep_count", prefix);
    RECUR_TRY(find_state_tensor(file, name, RECUR_I64, 1, &view));
    RECUR_TRY(recur_tensor_to_i64(view, &opt->step_count, 1));
    snprintf(name, sizeof name, "%slr", prefix);
    RECUR_TRY(find_state_tensor(file, name, RECUR_F32, 1, &view));
    return recur_tensor_to_f32(view, &opt->config.lr, 1);
}
