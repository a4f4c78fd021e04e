/* Optimizers with torch.optim's update rules (the single-tensor, foreach=False
 * path of PyTorch 1.13; 2.x's lerp_ for Adam's exp_avg and RMSprop's grad_avg
 * rounds differently in the last bit), computed in float32 as PyTorch does for
 * float32 parameters: scalar coefficients are formed in double, as Python
 * does, from the decimal each float hyper-parameter stands for (0.999f is
 * 0.999), and rounded to float where the tensor kernels would round them. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>

#include "core/alloc.h"
#include "core/status.h"
#include "train/optim_device.h"

/* One registered tensor and its optimizer state: `arrays` (see
 * state_array_count) flat arrays of numel floats in one block, in the order
 * make_update reads them. */
typedef struct optim_tensor {
    float *value;
    const float *grad;
    size_t numel;
    int64_t steps;             /* torch keeps the step per parameter */
    int has_momentum_buffer;   /* SGD: torch's buffer is None before the first step */
    float *state_block;        /* host: the state (on the GPU: the copy for checkpoints) */
    float *device_block;       /* on the GPU: the state */
} optim_tensor;

/* The hyper-parameters that torch's scalar arithmetic takes as Python
 * floats, as the doubles they stand for (see written_value). */
typedef struct written_params {
    double lr, weight_decay, beta1, beta2, alpha, dampening, lr_decay;
} written_params;

struct recur_optimizer {
    recur_optimizer_config config;
    written_params written; /* follows config (set_lr and read included) */
    optim_tensor *tensors;
    int tensor_count, tensor_capacity;
    int64_t step_count;
    int on_device; /* tensors and state on the GPU */
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

/* The double a float hyper-parameter stands for: the shortest decimal that
 * rounds to it (0.999f: 0.999), as the Python float a torch user writes.
 * torch forms 1 - beta and beta^step from that double; formed from the float
 * itself, 1 - 0.999f is 1.3e-5 away from 1 - 0.999 (in relative terms), and
 * Adam's second moment with it. */
static double written_value(float x)
{
    char text[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)x);
        double value = strtod(text, NULL);
        if ((float)value == x)
            return value;
    }
    return x; /* not reached: 9 significant digits always round-trip */
}

static void update_written(recur_optimizer *opt)
{
    const recur_optimizer_config *c = &opt->config;
    written_params w = {written_value(c->lr),    written_value(c->weight_decay),
                        written_value(c->beta1), written_value(c->beta2),
                        written_value(c->alpha), written_value(c->dampening),
                        written_value(c->lr_decay)};
    opt->written = w;
}

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
    update_written(opt);
    *out = opt;
    return RECUR_OK;
}

void recur_optimizer_free(recur_optimizer *opt)
{
    if (!opt)
        return;
    for (int i = 0; i < opt->tensor_count; i++) {
        free(opt->tensors[i].state_block);
        optim_device_free(opt->tensors[i].device_block);
    }
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

/* The state's initial value: zeros, or Adagrad's initial accumulator. */
static float initial_state(const recur_optimizer_config *c)
{
    return c->kind == RECUR_ADAGRAD ? c->initial_accumulator_value : 0.0f;
}

recur_status recur_optimizer_set_device(recur_optimizer *opt, recur_device device)
{
    if (!opt || (device != RECUR_DEVICE_CPU && device != RECUR_DEVICE_CUDA))
        return recur_fail(RECUR_E_INVALID, "optimizer_set_device: bad arguments");
    if (opt->tensor_count > 0)
        return recur_fail(RECUR_E_STATE,
                          "optimizer_set_device: call it before registering tensors");
    opt->on_device = device == RECUR_DEVICE_CUDA;
    return RECUR_OK;
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
    for (size_t k = 0; k < state_floats; k++)
        t.state_block[k] = initial_state(&opt->config);
    if (opt->on_device) {
        recur_status st = optim_device_alloc(state_floats, initial_state(&opt->config),
                                             &t.device_block);
        if (st != RECUR_OK) {
            free(t.state_block);
            return st;
        }
    }
    opt->tensors[opt->tensor_count++] = t;
    return RECUR_OK;
}

/* ---------------------------------------------------------------- */
/* Update rules, one per kind: coefficients, then the element loop   */
/* ---------------------------------------------------------------- */

/* grad + weight_decay * param, as grad.add(param, alpha=weight_decay). */
static inline float decayed_grad(float grad, float param, float weight_decay)
{
    return weight_decay != 0.0f ? grad + weight_decay * param : grad;
}

/* The coefficients of tensor t's update (its step already counted), with
 * the state arrays of `state` (the host or the device block). Scalars are
 * formed in double from the written hyper-parameters w, as torch forms them
 * from Python floats, and rounded to float where its tensor kernels do. */
static optim_update make_update(const recur_optimizer_config *c, const written_params *w,
                                const optim_tensor *t, float *state)
{
    optim_update u = {0};
    u.kind = c->kind;
    u.numel = t->numel;
    u.value = t->value;
    u.grad = t->grad;
    u.weight_decay = c->weight_decay;
    u.momentum = c->momentum;
    u.eps = c->eps;
    size_t n = t->numel;
    switch (c->kind) {
    case RECUR_SGD:
        u.momentum_buffer = c->momentum != 0.0f ? state : NULL;
        u.step = -c->lr;
        u.keep_grad = (float)(1.0 - w->dampening);
        u.first = !t->has_momentum_buffer;
        u.nesterov = c->nesterov;
        break;
    case RECUR_ADAM:
    case RECUR_ADAMW: {
        double step = (double)t->steps;
        double bias_correction1 = 1.0 - pow(w->beta1, step);
        double bias_correction2 = 1.0 - pow(w->beta2, step);
        u.exp_avg = state;
        u.exp_avg_sq = state + n;
        u.max_exp_avg_sq = c->amsgrad ? state + 2 * n : NULL;
        u.decoupled = c->kind == RECUR_ADAMW;
        u.step = (float)(-(w->lr / bias_correction1));
        u.bias_correction2_sqrt = (float)sqrt(bias_correction2);
        u.beta1 = c->beta1;
        u.beta2 = c->beta2;
        u.one_minus_beta1 = (float)(1.0 - w->beta1);
        u.one_minus_beta2 = (float)(1.0 - w->beta2);
        u.param_scale = (float)(1.0 - w->lr * w->weight_decay);
        u.l2 = u.decoupled ? 0.0f : c->weight_decay;
        break;
    }
    case RECUR_RMSPROP:
        u.square_avg = state;
        u.momentum_buffer = c->momentum > 0.0f ? state + n : NULL;
        u.grad_avg = c->centered ? state + n * (c->momentum > 0.0f ? 2 : 1) : NULL;
        u.alpha = c->alpha;
        u.one_minus_alpha = (float)(1.0 - w->alpha);
        u.step = -c->lr;
        break;
    case RECUR_ADAGRAD:
        u.state_sum = state;
        u.step = (float)-(w->lr / (1.0 + (double)(t->steps - 1) * w->lr_decay));
        break;
    }
    return u;
}

static void sgd_update(const optim_update *u)
{
    for (size_t k = 0; k < u->numel; k++) {
        float d_p = decayed_grad(u->grad[k], u->value[k], u->weight_decay);
        if (u->momentum_buffer) {
            float *buf = &u->momentum_buffer[k];
            *buf = u->first ? d_p : *buf * u->momentum + u->keep_grad * d_p;
            d_p = u->nesterov ? d_p + u->momentum * *buf : *buf;
        }
        u->value[k] += u->step * d_p;
    }
}

/* Adam and AdamW (u->decoupled: AdamW's weight decay). */
static void adam_update(const optim_update *u)
{
    for (size_t k = 0; k < u->numel; k++) {
        if (u->decoupled)
            u->value[k] *= u->param_scale;
        float g = decayed_grad(u->grad[k], u->value[k], u->l2);
        float m = u->exp_avg[k] * u->beta1 + u->one_minus_beta1 * g;
        float v = u->exp_avg_sq[k] * u->beta2 + u->one_minus_beta2 * g * g;
        u->exp_avg[k] = m;
        u->exp_avg_sq[k] = v;
        if (u->max_exp_avg_sq) {
            if (v > u->max_exp_avg_sq[k])
                u->max_exp_avg_sq[k] = v;
            v = u->max_exp_avg_sq[k];
        }
        float denom = sqrtf(v) / u->bias_correction2_sqrt + u->eps;
        u->value[k] += u->step * m / denom;
    }
}

static void rmsprop_update(const optim_update *u)
{
    for (size_t k = 0; k < u->numel; k++) {
        float g = decayed_grad(u->grad[k], u->value[k], u->weight_decay);
        float square_avg = u->square_avg[k] * u->alpha + u->one_minus_alpha * g * g;
        u->square_avg[k] = square_avg;
        float avg;
        if (u->grad_avg) {
            float grad_avg = u->grad_avg[k] * u->alpha + u->one_minus_alpha * g;
            u->grad_avg[k] = grad_avg;
            avg = sqrtf(square_avg - grad_avg * grad_avg);
        } else {
            avg = sqrtf(square_avg);
        }
        avg += u->eps;
        if (u->momentum_buffer) {
            float buf = u->momentum_buffer[k] * u->momentum + g / avg;
            u->momentum_buffer[k] = buf;
            u->value[k] += u->step * buf;
        } else {
            u->value[k] += u->step * g / avg;
        }
    }
}

static void adagrad_update(const optim_update *u)
{
    for (size_t k = 0; k < u->numel; k++) {
        float g = decayed_grad(u->grad[k], u->value[k], u->weight_decay);
        float sum = u->state_sum[k] + g * g;
        u->state_sum[k] = sum;
        float std = sqrtf(sum) + u->eps;
        u->value[k] += u->step * g / std;
    }
}

static void host_update(const optim_update *u)
{
    switch (u->kind) {
    case RECUR_SGD:
        sgd_update(u);
        break;
    case RECUR_ADAM:
    case RECUR_ADAMW:
        adam_update(u);
        break;
    case RECUR_RMSPROP:
        rmsprop_update(u);
        break;
    case RECUR_ADAGRAD:
        adagrad_update(u);
        break;
    }
}

static int all_finite(const float *check, int check_count)
{
    for (int i = 0; i < check_count; i++)
        if (!isfinite(check[i]))
            return 0;
    return 1;
}

recur_status recur_optimizer_step_checked(recur_optimizer *opt, const float *check,
                                          int check_count)
{
    if (!opt || check_count < 0 || (check_count > 0 && !check))
        return recur_fail(RECUR_E_INVALID, "optimizer_step: bad arguments");
    const recur_optimizer_config *c = &opt->config;
    const int skip = !opt->on_device && !all_finite(check, check_count);
    for (int i = 0; i < opt->tensor_count; i++) {
        optim_tensor *t = &opt->tensors[i];
        t->steps++;
        if (!skip) {
            optim_update u = make_update(c, &opt->written, t,
                                         opt->on_device ? t->device_block : t->state_block);
            u.check = check;
            u.check_count = check_count;
            if (opt->on_device)
                RECUR_TRY(optim_device_update(&u));
            else
                host_update(&u);
        }
        /* A counted step makes SGD's momentum buffer exist, zeros when the
         * update was skipped (the GPU cannot tell the host that it skipped). */
        t->has_momentum_buffer = 1;
    }
    opt->step_count++;
    return RECUR_OK;
}

recur_status recur_optimizer_step(recur_optimizer *opt)
{
    return recur_optimizer_step_checked(opt, NULL, 0);
}

void recur_optimizer_forget_step(recur_optimizer *opt)
{
    if (!opt || opt->step_count == 0)
        return;
    for (int i = 0; i < opt->tensor_count; i++) {
        optim_tensor *t = &opt->tensors[i];
        if (t->steps > 0)
            t->steps--;
        t->has_momentum_buffer = t->steps > 0;
    }
    opt->step_count--;
}

void recur_optimizer_set_lr(recur_optimizer *opt, float lr)
{
    if (!opt)
        return;
    opt->config.lr = lr;
    opt->written.lr = written_value(lr);
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
        if (count > 0 && opt->on_device)
            RECUR_TRY(optim_device_copy(t->state_block, t->device_block, (size_t)count, 0));
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
            if (opt->on_device)
                RECUR_TRY(optim_device_copy(t->device_block, t->state_block, count, 1));
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
    RECUR_TRY(recur_tensor_to_f32(view, &opt->config.lr, 1));
    opt->written.lr = written_value(opt->config.lr);
    return RECUR_OK;
}
