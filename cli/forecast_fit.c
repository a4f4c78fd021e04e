/* Training loop of the forecaster. */
#define _POSIX_C_SOURCE 200809L

#include "forecast_fit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_util.h"
#include "dist.h"
#include "dist_gpu.h"
#include "grad_reducer.h"
#include "forecast_data.h"

size_t forecast_row_seen(const forecast_data *d, size_t origin, size_t row, int channel)
{
    size_t at = row * (size_t)d->channels + (size_t)channel;
    if (!d->final_from || (int64_t)origin >= d->final_from[at])
        return row;
    return (size_t)d->held_row[at];
}

/* Input row `row` of the window of `origin` into dst [channels]. */
static void copy_row_seen(const forecast_data *d, size_t origin, size_t row, float *dst)
{
    const int C = d->channels;
    memcpy(dst, d->values + row * C, (size_t)C * sizeof(float));
    for (int c = 0; d->final_from && c < C; c++)
        dst[c] = d->values[forecast_row_seen(d, origin, row, c) * C + c];
}

/* The last input value of target k that a forecast at `origin` sees. */
static float last_seen(const forecast_data *d, size_t origin, int k)
{
    const int channel = d->targets[k];
    return d->values[forecast_row_seen(d, origin, origin - 1, channel) * d->channels + channel];
}

void forecast_fill(const forecast_data *d, const size_t *origins, int batch, float *x, float *y,
                   float *mask)
{
    const int W = d->lookback, H = d->horizon, C = d->channels, K = d->target_count;
    for (int b = 0; b < batch; b++) {
        size_t o = origins[b];
        for (int t = 0; t < W; t++)
            copy_row_seen(d, o, o - W + (size_t)t, x + ((size_t)t * batch + b) * C);
        for (int h = 0; y && h < H; h++)
            for (int k = 0; k < K; k++) {
                size_t row = o + (size_t)h, at = (size_t)b * H * K + (size_t)h * K + k;
                y[at] = d->values[row * C + d->targets[k]];
                if (d->delta)
                    y[at] -= last_seen(d, o, k);
                if (mask)
                    mask[at] = !d->target_observed || d->target_observed[row * K + k] ? 1.0f : 0.0f;
            }
    }
}

/* ---------------------------------------------------------------- */
/* The forecaster: direct head or seq2seq decoder                     */
/* ---------------------------------------------------------------- */

void forecaster_free(forecaster *f)
{
    recur_seqnet_free(f->net);
    recur_seqdec_free(f->dec);
    f->net = NULL, f->dec = NULL;
}

int forecaster_param_count(const forecaster *f)
{
    return f->dec ? recur_seqdec_param_count(f->dec) : recur_seqnet_param_count(f->net);
}

recur_status forecaster_param(const forecaster *f, int index, recur_param *out)
{
    return f->dec ? recur_seqdec_param(f->dec, index, out) : recur_seqnet_param(f->net, index, out);
}

void forecaster_zero_grad(forecaster *f)
{
    if (f->dec)
        recur_seqdec_zero_grad(f->dec);
    else
        recur_seqnet_zero_grad(f->net);
}

void forecaster_set_training(forecaster *f, int training)
{
    if (f->dec)
        recur_seqdec_set_training(f->dec, training);
    else
        recur_seqnet_set_training(f->net, training);
}

recur_status forecaster_forward(forecaster *f, const forecast_data *d, int batch, const float *x,
                                const float *teacher, const float **result)
{
    if (!f->dec)
        return recur_seqnet_forward(f->net, d->lookback, batch, x, NULL, result);
    /* the decoder's first input: the last input row's targets (as deltas: 0) */
    const int K = d->target_count, C = d->channels;
    float *start = malloc((size_t)batch * (size_t)K * sizeof(float));
    if (!start)
        return cli_out_of_memory("forecast: the decoder's first inputs");
    const float *last = x + (size_t)(d->lookback - 1) * (size_t)batch * (size_t)C;
    for (int b = 0; b < batch; b++)
        for (int k = 0; k < K; k++)
            start[(size_t)b * K + k] = d->delta ? 0.0f : last[(size_t)b * C + d->targets[k]];
    recur_status st =
        recur_seqdec_forward(f->dec, d->lookback, batch, x, start, teacher, result);
    free(start);
    return st;
}

recur_status forecaster_backward(forecaster *f, const float *grad_result)
{
    return f->dec ? recur_seqdec_backward(f->dec, grad_result, NULL)
                  : recur_seqnet_backward(f->net, grad_result, NULL);
}

recur_status forecaster_write(const forecaster *f, recur_st_writer *writer)
{
    return f->dec ? recur_seqdec_write(f->dec, writer) : recur_seqnet_write(f->net, writer);
}

recur_status forecaster_read(const recur_st_file *file, forecaster *f)
{
    f->net = NULL, f->dec = NULL;
    const char *model = recur_st_metadata(file, "recur.model");
    if (model && !strcmp(model, "seqdec"))
        return recur_seqdec_read(file, &f->dec);
    return recur_seqnet_read(file, &f->net);
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Buffers of one batch. */
typedef struct batch_buffers {
    float *x, *y, *mask, *grad;
} batch_buffers;

static int buffers_alloc(batch_buffers *b, const forecast_data *d, int batch)
{
    size_t outputs = (size_t)batch * d->horizon * d->target_count;
    b->x = malloc((size_t)d->lookback * batch * d->channels * sizeof(float));
    b->y = malloc(outputs * sizeof(float));
    b->mask = malloc(outputs * sizeof(float));
    b->grad = malloc(outputs * sizeof(float));
    return b->x && b->y && b->mask && b->grad;
}

static void buffers_free(batch_buffers *b)
{
    free(b->x), free(b->y), free(b->mask), free(b->grad);
}

/* Masked MSE of one batch (sum over scored values, count in *scored);
 * with grad, backward too (mean over the batch's scored values). */
static recur_status batch_loss(forecaster *net, const forecast_data *d, const size_t *origins,
                               int batch, batch_buffers *buf, int backward, double *sum,
                               double *scored)
{
    const size_t outputs = (size_t)batch * d->horizon * d->target_count;
    forecast_fill(d, origins, batch, buf->x, buf->y, buf->mask);
    const float *result;
    /* training: the decoder reads the true values (teacher forcing) */
    CLI_TRY(forecaster_forward(net, d, batch, buf->x, backward ? buf->y : NULL, &result));
    recur_loss_options lo = recur_loss_defaults();
    lo.mask = buf->mask;
    lo.reduction = RECUR_REDUCE_SUM;
    float loss_sum;
    CLI_TRY(recur_elementwise_loss(RECUR_LOSS_MSE, outputs, result, buf->y, &lo, &loss_sum, NULL));
    double count = 0;
    for (size_t k = 0; k < outputs; k++)
        count += buf->mask[k];
    *sum += loss_sum, *scored += count;
    if (!backward || count == 0)
        return RECUR_OK;
    lo.reduction = RECUR_REDUCE_MEAN;
    float mean;
    CLI_TRY(recur_elementwise_loss(RECUR_LOSS_MSE, outputs, result, buf->y, &lo, &mean, buf->grad));
    return forecaster_backward(net, buf->grad);
}

/* Mean masked MSE over origins, in eval mode. */
static recur_status mean_loss(forecaster *net, const forecast_data *d, const size_t *origins,
                              size_t n, int batch, batch_buffers *buf, double *loss)
{
    double sum = 0, scored = 0;
    forecaster_set_training(net, 0);
    for (size_t at = 0; at < n; at += (size_t)batch) {
        int b = (int)(n - at < (size_t)batch ? n - at : (size_t)batch);
        CLI_TRY(batch_loss(net, d, origins + at, b, buf, 0, &sum, &scored));
    }
    *loss = scored > 0 ? sum / scored : NAN;
    return RECUR_OK;
}

/* Fisher-Yates with splitmix64. */
static void shuffle(size_t *items, size_t n, uint64_t *state)
{
    for (size_t i = n; i > 1; i--) {
        uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        size_t j = (size_t)(z % i), tmp = items[i - 1];
        items[i - 1] = items[j], items[j] = tmp;
    }
}

typedef struct fit_state {
    recur_optimizer *opt;
    int count;
    float **values, **grads;
    size_t *sizes, total;
    float *best;
    grad_reducer *reducer; /* under mpirun: sums the gradients during the backward */
} fit_state;

static void fit_state_free(fit_state *s)
{
    recur_optimizer_free(s->opt);
    grad_reducer_free(s->reducer);
    free(s->values), free(s->grads), free(s->sizes), free(s->best);
}

static recur_status fit_state_init(fit_state *s, forecaster *net, const forecast_fit_options *fo)
{
    recur_optimizer_config oc = recur_optimizer_config_default(fo->optimizer);
    oc.lr = (float)fo->lr;
    oc.weight_decay = (float)fo->weight_decay;
    CLI_TRY(recur_optimizer_create(&oc, &s->opt));
    s->count = forecaster_param_count(net);
    s->values = calloc((size_t)s->count, sizeof *s->values);
    s->grads = calloc((size_t)s->count, sizeof *s->grads);
    s->sizes = calloc((size_t)s->count, sizeof *s->sizes);
    if (!s->values || !s->grads || !s->sizes)
        return cli_out_of_memory("forecast: the parameter lists");
    for (int i = 0; i < s->count; i++) {
        recur_param p;
        CLI_TRY(forecaster_param(net, i, &p));
        s->values[i] = p.value, s->grads[i] = p.grad, s->sizes[i] = p.numel;
        s->total += p.numel;
        CLI_TRY(recur_optimizer_add(s->opt, p.value, p.grad, p.numel));
    }
    s->best = malloc(s->total * sizeof(float));
    if (dist_size() > 1) {
        s->reducer = grad_reducer_create(s->count, s->grads, s->sizes, 0);
        if (s->reducer && net->net) /* the seq2seq decoder reports nothing: all at the end */
            recur_seqnet_set_grad_ready(net->net, grad_reducer_ready, s->reducer);
    }
    return s->best && (dist_size() == 1 || s->reducer)
               ? RECUR_OK
               : cli_out_of_memory("forecast: the best weights or the gradient reducer");
}

static void copy_params(fit_state *s, int to_best)
{
    size_t at = 0;
    for (int i = 0; i < s->count; i++) {
        if (to_best)
            memcpy(s->best + at, s->values[i], s->sizes[i] * sizeof(float));
        else
            memcpy(s->values[i], s->best + at, s->sizes[i] * sizeof(float));
        at += s->sizes[i];
    }
}

/* One training batch of this rank's `own` origins under mpirun: the masked
 * MSE's mean gradient weighted by this rank's share of the batch's scored
 * values (counted over all ranks first), so that the summed gradients equal
 * the whole batch's mean. */
static recur_status split_batch_loss(forecaster *net, const forecast_data *d,
                                     const size_t *origins, int own, batch_buffers *buf,
                                     double *sum, double *scored)
{
    const size_t outputs = (size_t)own * d->horizon * d->target_count;
    double count = 0, batch_scored;
    if (own)
        forecast_fill(d, origins, own, buf->x, buf->y, buf->mask);
    for (size_t k = 0; k < outputs; k++)
        count += buf->mask[k];
    batch_scored = count;
    dist_allreduce_sum_double(&batch_scored, 1);
    if (!own || count == 0)
        return RECUR_OK;
    const float *result;
    CLI_TRY(forecaster_forward(net, d, own, buf->x, buf->y, &result));
    recur_loss_options lo = recur_loss_defaults();
    lo.mask = buf->mask;
    lo.reduction = RECUR_REDUCE_SUM;
    float loss_sum, mean;
    CLI_TRY(recur_elementwise_loss(RECUR_LOSS_MSE, outputs, result, buf->y, &lo, &loss_sum, NULL));
    *sum += loss_sum, *scored += count;
    lo.reduction = RECUR_REDUCE_MEAN;
    CLI_TRY(recur_elementwise_loss(RECUR_LOSS_MSE, outputs, result, buf->y, &lo, &mean, buf->grad));
    const float share = (float)(count / batch_scored);
    for (size_t k = 0; k < outputs; k++)
        buf->grad[k] *= share;
    return forecaster_backward(net, buf->grad);
}

/* Under mpirun each batch is split among the ranks (dist_share) and the
 * gradients summed before clipping: every rank takes the same step. */
static recur_status train_epoch(forecaster *net, const forecast_data *d, size_t *order,
                                size_t n, const forecast_fit_options *fo, fit_state *s,
                                batch_buffers *buf, double *train_loss)
{
    double sums[2] = {0, 0}; /* the loss sum and the scored values */
    const int split = dist_size() > 1;
    forecaster_set_training(net, 1);
    for (size_t at = 0; at < n; at += (size_t)fo->batch) {
        int b = (int)(n - at < (size_t)fo->batch ? n - at : (size_t)fo->batch);
        forecaster_zero_grad(net);
        if (split) {
            long long first, own;
            dist_share(b, &first, &own);
            CLI_TRY(split_batch_loss(net, d, order + at + first, (int)own, buf, &sums[0],
                                     &sums[1]));
            grad_reducer_finish(s->reducer); /* summed over the ranks */
        } else
            CLI_TRY(batch_loss(net, d, order + at, b, buf, 1, &sums[0], &sums[1]));
        if (fo->clip > 0)
            CLI_TRY(recur_clip_grad_norm(s->count, s->grads, s->sizes, (float)fo->clip, NULL));
        CLI_TRY(recur_optimizer_step(s->opt));
    }
    if (split)
        dist_allreduce_sum_double(sums, 2);
    *train_loss = sums[1] > 0 ? sums[0] / sums[1] : NAN;
    return RECUR_OK;
}

int forecast_fit(forecaster *net, const forecast_data *d, const size_t *train, size_t n_train,
                 const size_t *val, size_t n_val, const forecast_fit_options *fo,
                 metrics_csv *metrics)
{
    fit_state s = {0};
    batch_buffers buf = {0};
    size_t *order = malloc((n_train ? n_train : 1) * sizeof(size_t));
    recur_status st = fit_state_init(&s, net, fo);
    if (st == RECUR_OK && (!order || !buffers_alloc(&buf, d, fo->batch)))
        st = cli_out_of_memory("forecast: the batch buffers");
    int rc = st == RECUR_OK ? 0 : cli_status_error(st);
    if (!rc)
        memcpy(order, train, n_train * sizeof(size_t));
    uint64_t shuffle_state = fo->seed;
    double best = INFINITY, start = seconds_now();
    int best_epoch = 0, bad = 0;
    for (int epoch = 1; !rc && epoch <= fo->epochs; epoch++) {
        double train_loss, val_loss = NAN;
        shuffle(order, n_train, &shuffle_state);
        st = train_epoch(net, d, order, n_train, fo, &s, &buf, &train_loss);
        if (st == RECUR_OK && n_val)
            st = mean_loss(net, d, val, n_val, fo->batch, &buf, &val_loss);
        if (st != RECUR_OK) {
            rc = cli_status_error(st);
            break;
        }
        if (!isfinite(train_loss)) {
            cli_error("training diverged in epoch %d: the loss is %s (try a lower --lr)",
                      epoch, isnan(train_loss) ? "NaN" : "infinite");
            rc = CLI_EXIT_FAILURE; /* as recur train: 1 for a diverged run */
            break;
        }
        double score = n_val ? val_loss : train_loss;
        if (score < best) {
            best = score, best_epoch = epoch, bad = 0;
            copy_params(&s, 1);
        } else
            bad++;
        double row[] = {epoch, train_loss, val_loss, fo->lr, seconds_now() - start};
        if (metrics && metrics_csv_append(metrics, row))
            rc = CLI_EXIT_BAD_INPUT;
        if (!fo->quiet)
            printf("epoch %d/%d  train mse %.5f  val mse %.5f  %.1fs\n", epoch, fo->epochs,
                   train_loss, val_loss, seconds_now() - start);
        fflush(stdout);
        if (fo->early_stop > 0 && bad >= fo->early_stop) {
            if (!fo->quiet)
                printf("early stopping: no validation improvement in %d epochs\n",
                       fo->early_stop);
            break;
        }
    }
    if (!rc && best_epoch > 0) {
        copy_params(&s, 0);
        if (!fo->quiet)
            printf("kept the weights of epoch %d (%s mse %.5f)\n", best_epoch,
               n_val ? "validation" : "train", best);
    }
    buffers_free(&buf);
    fit_state_free(&s);
    free(order);
    return rc;
}

recur_status forecast_predict(forecaster *net, const forecast_data *d, const size_t *origins,
                              size_t n, float *out)
{
    enum { BATCH = 256 };
    float *x = malloc((size_t)d->lookback * BATCH * d->channels * sizeof(float));
    if (!x)
        return cli_out_of_memory("forecast: the input windows");
    forecaster_set_training(net, 0);
    const size_t width = (size_t)d->horizon * (size_t)d->target_count;
    recur_status st = RECUR_OK;
    for (size_t at = 0; st == RECUR_OK && at < n; at += BATCH) {
        int b = (int)(n - at < BATCH ? n - at : BATCH);
        const float *result;
        forecast_fill(d, origins + at, b, x, NULL, NULL);
        st = forecaster_forward(net, d, b, x, NULL, &result);
        if (st == RECUR_OK)
            memcpy(out + at * width, result, (size_t)b * width * sizeof(float));
        for (int i = 0; st == RECUR_OK && d->delta && i < b; i++)
            for (size_t j = 0; j < width; j++)
                out[(at + i) * width + j] +=
                    last_seen(d, origins[at + i], (int)(j % (size_t)d->target_count));
    }
    free(x);
    return st;
}

int forecast_build_and_fit(const forecast_series *fs, const cli_options *o, const size_t *train,
                           int64_t n_train, const size_t *val, int64_t n_val,
                           metrics_csv *metrics, int quiet, forecaster *out)
{
    const forecast_data *d = &fs->data;
    static const recur_cell cells[] = {RECUR_LSTM, RECUR_GRU, RECUR_RNN_TANH};
    const recur_cell cell = cells[cli_options_choice(o, FC_MODEL)];
    const uint64_t seed = (uint64_t)o->num[FC_SEED];
    recur_status st;
    out->net = NULL, out->dec = NULL;
    if (cli_options_choice(o, FC_DECODER) == 1) {
        recur_seqdec_config c = recur_seqdec_config_default(
            cell, d->channels, (int)o->num[FC_HIDDEN], d->target_count, d->horizon);
        c.rnn.num_layers = (int)o->num[FC_LAYERS];
        c.rnn.dropout = (float)o->num[FC_DROPOUT];
        st = recur_seqdec_create(&c, seed, &out->dec);
    } else {
        recur_seqnet_config c = recur_seqnet_config_default(
            cell, d->channels, (int)o->num[FC_HIDDEN], d->horizon * d->target_count);
        c.rnn.num_layers = (int)o->num[FC_LAYERS];
        c.rnn.dropout = (float)o->num[FC_DROPOUT];
        st = recur_seqnet_create(&c, seed, &out->net);
    }
    if (st != RECUR_OK)
        return cli_status_error(st);
    if (out->dec && strcmp(o->str[FC_DEVICE], "cpu") != 0)
        return cli_error("--device %s: the seq2seq decoder runs on the CPU only (--decoder direct "
                         "runs its stack on the GPU)",
                         o->str[FC_DEVICE]);
    int rc = out->net ? dist_gpu_place_seqnet("--device", o->str[FC_DEVICE], out->net) : 0;
    if (rc)
        return rc;
    forecast_fit_options fo = {(int)o->num[FC_EPOCHS],
                               (int)o->num[FC_BATCH],
                               (int)o->num[FC_EARLY_STOP],
                               (recur_optimizer_kind)cli_options_choice(o, FC_OPTIMIZER),
                               o->num[FC_LR],
                               o->num[FC_CLIP],
                               o->num[FC_WEIGHT_DECAY],
                               seed,
                               quiet};
    return forecast_fit(out, d, train, (size_t)n_train, val, (size_t)n_val, &fo, metrics);
}
