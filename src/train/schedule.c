/* Learning-rate schedules (torch.optim.lr_scheduler's StepLR, ExponentialLR,
 * LinearLR warmup + CosineAnnealingLR, ReduceLROnPlateau) and Keras-style
 * early stopping. The per-step schedules use torch's closed forms, in double. */
#include <math.h>

#include "core/status.h"

#define SCHEDULE_PI 3.14159265358979323846

recur_schedule_config recur_schedule_config_default(recur_schedule_kind kind)
{
    recur_schedule_config c = {0};
    c.kind = kind;
    c.gamma = kind == RECUR_SCHEDULE_STEP ? 0.1 : 0.0; /* StepLR's default; ExponentialLR has none */
    c.warmup_start_factor = 1.0 / 3.0;                 /* LinearLR's default */
    c.factor = 0.1;
    c.patience = 10;
    c.threshold = 1e-4;
    c.threshold_mode = RECUR_THRESHOLD_REL;
    c.eps = 1e-8;
    return c;
}

static recur_status check_gamma(double gamma)
{
    if (!(gamma > 0.0 && isfinite(gamma)))
        return recur_fail(RECUR_E_INVALID, "schedule: gamma %g must be positive and finite", gamma);
    return RECUR_OK;
}

static recur_status check_config(const recur_schedule_config *c)
{
    switch (c->kind) {
    case RECUR_SCHEDULE_CONSTANT:
        return RECUR_OK;
    case RECUR_SCHEDULE_STEP:
        if (c->step_size < 1)
            return recur_fail(RECUR_E_INVALID, "schedule step: step_size %lld must be >= 1",
                              (long long)c->step_size);
        return check_gamma(c->gamma);
    case RECUR_SCHEDULE_EXPONENTIAL:
        return check_gamma(c->gamma);
    case RECUR_SCHEDULE_WARMUP_COSINE:
        if (c->warmup_steps < 0 || c->total_steps <= c->warmup_steps)
            return recur_fail(RECUR_E_INVALID,
                              "schedule warmup_cosine: need 0 <= warmup_steps (%lld) < "
                              "total_steps (%lld)",
                              (long long)c->warmup_steps, (long long)c->total_steps);
        if (!(c->warmup_start_factor > 0.0 && c->warmup_start_factor <= 1.0))
            return recur_fail(RECUR_E_INVALID,
                              "schedule warmup_cosine: warmup_start_factor %g outside (0, 1]",
                              c->warmup_start_factor);
        if (!(c->min_lr >= 0.0 && isfinite(c->min_lr)))
            return recur_fail(RECUR_E_INVALID, "schedule warmup_cosine: min_lr %g must be >= 0",
                              c->min_lr);
        return RECUR_OK;
    case RECUR_SCHEDULE_PLATEAU:
        if (!(c->factor > 0.0 && c->factor < 1.0))
            return recur_fail(RECUR_E_INVALID, "schedule plateau: factor %g outside (0, 1)",
                              c->factor);
        if (c->patience < 0 || c->cooldown < 0)
            return recur_fail(RECUR_E_INVALID,
                              "schedule plateau: patience %lld and cooldown %lld must be >= 0",
                              (long long)c->patience, (long long)c->cooldown);
        if (c->threshold_mode != RECUR_THRESHOLD_REL && c->threshold_mode != RECUR_THRESHOLD_ABS)
            return recur_fail(RECUR_E_INVALID, "schedule plateau: unknown threshold_mode %d",
                              (int)c->threshold_mode);
        if (!(c->threshold >= 0.0 && isfinite(c->threshold)) ||
            (c->threshold_mode == RECUR_THRESHOLD_REL && !(c->threshold < 1.0)))
            return recur_fail(RECUR_E_INVALID,
                              "schedule plateau: threshold %g must be >= 0 (and < 1 when relative)",
                              c->threshold);
        if (!(c->min_lr >= 0.0 && isfinite(c->min_lr)) || !(c->eps >= 0.0 && isfinite(c->eps)))
            return recur_fail(RECUR_E_INVALID,
                              "schedule plateau: min_lr %g and eps %g must be finite and >= 0",
                              c->min_lr, c->eps);
        return RECUR_OK;
    }
    return recur_fail(RECUR_E_INVALID, "schedule: unknown kind %d", (int)c->kind);
}

/* The learning rate after `t` calls of recur_schedule_step (per-step kinds). */
static double closed_form_lr(const recur_schedule_config *c, double base, int64_t t)
{
    switch (c->kind) {
    case RECUR_SCHEDULE_STEP: {
        const int64_t periods_done = t / c->step_size; /* StepLR: whole periods only */
        return base * pow(c->gamma, (double)periods_done);
    }
    case RECUR_SCHEDULE_EXPONENTIAL:
        return base * pow(c->gamma, (double)t);
    case RECUR_SCHEDULE_WARMUP_COSINE: {
        const int64_t warmup = c->warmup_steps;
        if (t < warmup) /* LinearLR(start_factor, end_factor=1, total_iters=warmup) */
            return base * (c->warmup_start_factor +
                           (1.0 - c->warmup_start_factor) * (double)t / (double)warmup);
        /* CosineAnnealingLR(T_max=total-warmup, eta_min=min_lr), restarted at the milestone */
        const double t_max = (double)(c->total_steps - warmup);
        return c->min_lr + (base - c->min_lr) *
                               (1.0 + cos(SCHEDULE_PI * (double)(t - warmup) / t_max)) / 2.0;
    }
    default:
        return base;
    }
}

recur_status recur_schedule_init(recur_schedule *s, const recur_schedule_config *config,
                                 float base_lr)
{
    if (!s || !config)
        return recur_fail(RECUR_E_INVALID, "schedule_init: schedule and config must not be NULL");
    if (!(base_lr >= 0.0f && isfinite(base_lr)))
        return recur_fail(RECUR_E_INVALID, "schedule_init: base_lr %g must be finite and >= 0",
                          (double)base_lr);
    RECUR_TRY(check_config(config));
    recur_schedule z = {0};
    *s = z;
    s->config = *config;
    s->base_lr = base_lr;
    s->steps = 0;
    s->lr = closed_form_lr(config, base_lr, 0);
    s->best = INFINITY;
    s->num_bad_epochs = 0;
    s->cooldown_counter = 0;
    s->plateau_updates = 0;
    return RECUR_OK;
}

float recur_schedule_lr(const recur_schedule *s) { return s ? (float)s->lr : 0.0f; }

recur_status recur_schedule_step(recur_schedule *s)
{
    if (!s)
        return recur_fail(RECUR_E_INVALID, "schedule_step: schedule must not be NULL");
    s->steps++;
    if (s->config.kind != RECUR_SCHEDULE_PLATEAU && s->config.kind != RECUR_SCHEDULE_CONSTANT)
        s->lr = closed_form_lr(&s->config, s->base_lr, s->steps);
    return RECUR_OK;
}

/* ReduceLROnPlateau.step(metrics) in mode 'min'. */
recur_status recur_schedule_plateau(recur_schedule *s, float val_loss)
{
    if (!s)
        return recur_fail(RECUR_E_INVALID, "schedule_plateau: schedule must not be NULL");
    if (s->config.kind != RECUR_SCHEDULE_PLATEAU)
        return RECUR_OK;
    const recur_schedule_config *c = &s->config;
    const double current = val_loss;
    s->plateau_updates++;
    int better = c->threshold_mode == RECUR_THRESHOLD_REL ? current < s->best * (1.0 - c->threshold)
                                                          : current < s->best - c->threshold;
    if (better) {
        s->best = current;
        s->num_bad_epochs = 0;
    } else {
        s->num_bad_epochs++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad_epochs = 0; /* bad epochs in cooldown are ignored */
    }
    if (s->num_bad_epochs > c->patience) {
        double old_lr = s->lr, new_lr = fmax(old_lr * c->factor, c->min_lr);
        if (old_lr - new_lr > c->eps)
            s->lr = new_lr;
        s->cooldown_counter = c->cooldown;
        s->num_bad_epochs = 0;
    }
    return RECUR_OK;
}

recur_status recur_early_stopping_init(recur_early_stopping *e, double min_delta,
                                       int64_t patience)
{
    if (!e)
        return recur_fail(RECUR_E_INVALID, "early_stopping_init: state must not be NULL");
    if (!(min_delta >= 0.0 && isfinite(min_delta)) || patience < 0)
        return recur_fail(RECUR_E_INVALID,
                          "early_stopping_init: min_delta %g and patience %lld must be >= 0",
                          min_delta, (long long)patience);
    recur_early_stopping z = {0};
    *e = z;
    e->min_delta = min_delta;
    e->patience = patience;
    e->best = INFINITY;
    e->best_epoch = -1;
    e->stopped_epoch = -1;
    return RECUR_OK;
}

/* keras.callbacks.EarlyStopping.on_epoch_end, mode 'min', no baseline. */
int recur_early_stopping_update(recur_early_stopping *e, float value)
{
    if (!e)
        return 0;
    const int64_t epoch = e->epochs++;
    e->improved = 0;
    e->wait++;
    if ((double)value + e->min_delta < e->best) {
        e->best = value;
        e->best_epoch = epoch;
        e->improved = 1;
        e->wait = 0;
        return 0;
    }
    if (e->wait >= e->patience && epoch > 0) {
        e->stopped_epoch = epoch;
        return 1;
    }
    return 0;
}
