/* recur forecast train|predict: forecasting from CSV files with an RNN
 * (window of the past -> the next `horizon` values), scored by rolling
 * origin on a holdout against naive and seasonal-naive baselines. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "commands.h"
#include "dist.h"
#include "forecast_data.h"
#include "forecast_fit.h"
#include "io/atomic_file.h"

/* ---------------------------------------------------------------- */
/* Holdout evaluation                                                */
/* ---------------------------------------------------------------- */

typedef struct method_scores {
    const char *name;
    float *forecast;               /* [n, H] original units */
    recur_forecast_metric *steps;  /* [H] */
    recur_forecast_metric overall;
} method_scores;

/* The seasonal period: --season, else detected on the training part
 * (train [train_end, channels]: forecast_rows_seen). */
static int find_season(const forecast_series *fs, const cli_options *o, const float *train,
                       int target_channel)
{
    if (o->num[FC_SEASON] > 0)
        return (int)o->num[FC_SEASON];
    const recur_series *s = fs->series;
    int candidates[4], count = recur_season_candidates(s->freq, candidates);
    int period = 0;
    if (count > 0 && fs->train_end >= 4)
        recur_detect_season(train + target_channel, fs->train_end, s->channels, candidates,
                            count, &period, NULL);
    return period;
}

static void print_metric_row(const char *label, const method_scores *m, int count, int step)
{
    printf("%-8s", label);
    for (int i = 0; i < count; i++) {
        const recur_forecast_metric *x = step < 0 ? &m[i].overall : &m[i].steps[step];
        printf(" | %9.4g %9.4g %7.2f %7.3f", x->mae, x->rmse, x->smape, x->mase);
    }
    printf("\n");
}

static int write_predictions(FILE *f, const forecast_series *fs, const size_t *origins,
                             int64_t n, int k, const float *actual, const float *forecast)
{
    const recur_series *s = fs->series;
    const int H = fs->data.horizon;
    for (int64_t i = 0; i < n; i++)
        for (int h = 0; h < H; h++) {
            char when[48];
            recur_time_format(s->times[origins[i] + (size_t)h], s->freq, when, sizeof when);
            if (s->targets > 1)
                fprintf(f, "%s,", s->names[s->target_index[k]]);
            float a = actual[i * H + h];
            if (isnan(a))
                fprintf(f, "%s,%d,,%.9g\n", when, h + 1, forecast[i * H + h]);
            else
                fprintf(f, "%s,%d,%.9g,%.9g\n", when, h + 1, a, forecast[i * H + h]);
        }
    return ferror(f) ? -1 : 0;
}

typedef struct holdout_rows {
    const forecast_series *fs;
    int k;
    const size_t *origins;
    int64_t n;
    const method_scores *m;
    int methods;
} holdout_rows;

/* MODEL_DIR/holdout.csv for recur forecast plot: the history before the
 * holdout (actual only), then each holdout step with the one-step-ahead
 * forecasts of the model and the baselines (file contents, io/atomic_file.h). */
static int write_holdout_rows(FILE *f, void *context)
{
    const holdout_rows *rows = context;
    const forecast_series *fs = rows->fs;
    const size_t *origins = rows->origins;
    const int64_t n = rows->n;
    const method_scores *m = rows->m;
    const int methods = rows->methods;
    const recur_series *s = fs->series;
    const int H = fs->data.horizon, C = s->channels, channel = s->target_index[rows->k];
    fprintf(f, "step,time,actual,model,naive%s\n", methods > 2 ? ",seasonal" : "");
    int64_t history = n < 1000 ? n : 1000;
    int64_t first = n ? (int64_t)origins[0] : 0;
    for (int64_t t = first - history < 0 ? 0 : first - history; t < first; t++) {
        char when[48];
        recur_time_format(s->times[t], s->freq, when, sizeof when);
        fprintf(f, "%lld,%s,%.9g,,%s\n", (long long)t, when, s->values[t * C + channel],
                methods > 2 ? "," : "");
    }
    for (int64_t i = 0; i < n; i++) {
        char when[48];
        size_t t = origins[i];
        recur_time_format(s->times[t], s->freq, when, sizeof when);
        fprintf(f, "%zu,%s,%.9g", t, when, s->values[t * (size_t)C + (size_t)channel]);
        for (int j = 0; j < methods; j++)
            fprintf(f, ",%.9g", m[j].forecast[i * H]);
        fputc('\n', f);
    }
    return ferror(f) ? (errno ? errno : EIO) : 0;
}

static int write_holdout(const char *dir, const forecast_series *fs, int k, const size_t *origins,
                         int64_t n, const method_scores *m, int methods)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/holdout.csv", dir);
    holdout_rows rows = {fs, k, origins, n, m, methods};
    recur_status st = recur_write_file_atomic(path, write_holdout_rows, &rows);
    return st == RECUR_OK ? 0 : cli_status_error(st);
}

/* The naive forecasts of recur_naive_forecast (period 1: the last value;
 * P > 1: one season earlier) read again as a forecast at each origin sees
 * the rows before it (forecast_row_seen): no value filled from the future. */
static void naive_as_seen(const forecast_series *fs, int channel, const size_t *origins,
                          int64_t n, int period, float *forecast)
{
    const forecast_data *d = &fs->data;
    const float *x = fs->series->values;
    const size_t C = (size_t)fs->series->channels, p = period > 1 ? (size_t)period : 1;
    const int H = d->horizon;
    for (int64_t i = 0; d->final_from && i < n; i++)
        for (int h = 0; h < H; h++) {
            size_t o = origins[i], row = p == 1 ? o - 1 : o - p + (size_t)h % p;
            forecast[i * H + h] = x[forecast_row_seen(d, o, row, channel) * C + (size_t)channel];
        }
}

/* Scores one target; writes its rows of evaluation.csv and predictions. */
static int score_target(const forecast_series *fs, const cli_options *o, const char *dir, int k,
                        const size_t *origins, int64_t n, const float *model_out, FILE *evaluation,
                        FILE *predictions)
{
    const recur_series *s = fs->series;
    const int H = fs->data.horizon, K = s->targets, C = s->channels;
    const int channel = s->target_index[k];
    const float *x = s->values + channel;
    /* the season and the MASE scale: from the training rows as seen at its end */
    float *train = forecast_rows_seen(fs, s->values, fs->train_end, fs->train_end);
    if (!train)
        return cli_error("out of memory");
    int season = find_season(fs, o, train, channel);
    size_t cells = (size_t)n * (size_t)H;
    float *actual = malloc(cells * sizeof(float));
    int64_t *origin64 = malloc((size_t)n * sizeof(int64_t));
    method_scores m[3] = {{"model", NULL, NULL, {0}}, {"naive", NULL, NULL, {0}},
                          {"seasonal", NULL, NULL, {0}}};
    int methods = season > 1 ? 3 : 2, rc = 0;
    for (int i = 0; i < methods; i++) {
        m[i].forecast = malloc(cells * sizeof(float));
        m[i].steps = calloc((size_t)H, sizeof *m[i].steps);
        if (!m[i].forecast || !m[i].steps)
            rc = cli_error("out of memory");
    }
    if (!actual || !origin64)
        rc = cli_error("out of memory");
    double scale = NAN;
    recur_status st = RECUR_OK;
    if (!rc) {
        for (int64_t i = 0; i < n; i++) {
            origin64[i] = (int64_t)origins[i];
            for (int h = 0; h < H; h++) {
                size_t row = origins[i] + (size_t)h;
                /* imputed values are not scored */
                actual[i * H + h] = fs->target_observed[row * K + k] ? x[row * C] : NAN;
                m[0].forecast[i * H + h] = model_out[((size_t)i * H + h) * K + k];
            }
        }
        st = recur_naive_forecast(x, s->steps, C, origin64, n, H, 1, m[1].forecast);
        if (st == RECUR_OK)
            naive_as_seen(fs, channel, origins, n, 1, m[1].forecast);
        if (st == RECUR_OK && methods == 3)
            st = recur_naive_forecast(x, s->steps, C, origin64, n, H, season, m[2].forecast);
        if (st == RECUR_OK && methods == 3)
            naive_as_seen(fs, channel, origins, n, season, m[2].forecast);
        if (st == RECUR_OK)
            st = recur_mase_scale(train + channel, fs->train_end, C, season > 1 ? season : 1,
                                  &scale);
        for (int i = 0; st == RECUR_OK && i < methods; i++)
            st = recur_forecast_metrics(actual, m[i].forecast, n, H, scale, m[i].steps,
                                        &m[i].overall);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
    }
    if (!rc) {
        printf("\n%s: %lld holdout origins, horizon %d, season %d%s; MASE scaled by the "
               "in-sample MAE of the %s forecast\n",
               s->names[channel], (long long)n, H, season,
               o->num[FC_SEASON] > 0 ? " (given)" : season ? " (detected)" : " (none found)",
               season > 1 ? "seasonal-naive" : "naive");
        printf("%-8s", "step");
        for (int i = 0; i < methods; i++)
            printf(" | %-8s MAE      RMSE   sMAPE    MASE", m[i].name);
        printf("\n");
        for (int h = 0; h < H; h++) {
            char label[16];
            snprintf(label, sizeof label, "%d", h + 1);
            print_metric_row(label, m, methods, h);
        }
        if (H > 1)
            print_metric_row("all", m, methods, -1);
        for (int i = 0; i < methods; i++)
            for (int h = 0; h <= H; h++) {
                const recur_forecast_metric *x2 = h < H ? &m[i].steps[h] : &m[i].overall;
                char step[16] = "all";
                if (h < H)
                    snprintf(step, sizeof step, "%d", h + 1);
                fprintf(evaluation, "%s,%s,%s,%.9g,%.9g,%.9g,%.9g,%lld\n", s->names[channel],
                        m[i].name, step, x2->mae, x2->rmse, x2->smape, x2->mase,
                        (long long)x2->count);
            }
        if (predictions && write_predictions(predictions, fs, origins, n, k, actual, m[0].forecast))
            rc = cli_error("cannot write the predictions: %s", strerror(errno));
        if (!rc && k == 0)
            rc = write_holdout(dir, fs, k, origins, n, m, methods);
    }
    for (int i = 0; i < 3; i++)
        free(m[i].forecast), free(m[i].steps);
    free(actual), free(origin64), free(train);
    return rc;
}

/* ---------------------------------------------------------------- */
/* Saving                                                            */
/* ---------------------------------------------------------------- */

static recur_status save_model(const char *path, const forecaster *net,
                               const forecast_series *fs, const cli_options *o)
{
    recur_st_writer *w;
    CLI_TRY(recur_st_writer_create(&w));
    recur_status st = forecaster_write(net, w);
    if (st == RECUR_OK)
        st = recur_scaler_write(fs->scaler, w, "scaler.");
    if (st == RECUR_OK)
        st = cli_options_write(o, w, "recur.forecast.");
    int64_t channels = fs->series->channels;
    if (st == RECUR_OK && !strcmp(o->str[FC_FILL], "mean")) /* what predict fills gaps with */
        st = recur_st_writer_add(w, "fill.means", RECUR_F64, 1, &channels,
                                 fs->series->fill_means);
    char freq[32];
    recur_freq_format(fs->series->freq, freq, sizeof freq);
    if (st == RECUR_OK)
        st = recur_st_writer_set_metadata(w, "recur.forecast.grid", freq);
    /* the channel names, one per line, so predict can check its input */
    size_t length = 1;
    for (int c = 0; c < fs->series->channels; c++)
        length += strlen(fs->series->names[c]) + 1;
    char *names = calloc(length, 1);
    if (!names)
        st = cli_out_of_memory("forecast: the channel names");
    for (int c = 0; names && c < fs->series->channels; c++)
        strcat(strcat(names, fs->series->names[c]), "\n");
    if (st == RECUR_OK)
        st = recur_st_writer_set_metadata(w, "recur.forecast.channels", names);
    free(names);
    if (st == RECUR_OK)
        st = recur_st_writer_save(w, path);
    recur_st_writer_free(w);
    return st;
}

/* A CSV file gathered in memory and written atomically once complete, so a
 * failed run leaves an earlier file whole. */
typedef struct csv_buffer {
    FILE *stream; /* open_memstream over data, NULL when not in use */
    char *data;
    size_t size;
} csv_buffer;

static int open_csv(csv_buffer *csv, const char *header)
{
    if (!(csv->stream = open_memstream(&csv->data, &csv->size)))
        return cli_error("out of memory");
    fputs(header, csv->stream);
    return 0;
}

static int write_csv_data(FILE *f, void *context)
{
    const csv_buffer *csv = context;
    return fwrite(csv->data, 1, csv->size, f) == csv->size ? 0 : EIO;
}

/* Closes the stream; writes the contents to path when `keep`. */
static int close_csv(csv_buffer *csv, const char *path, int keep)
{
    if (!csv->stream)
        return 0;
    int failed = ferror(csv->stream) != 0;
    failed |= fclose(csv->stream) != 0;
    csv->stream = NULL;
    int rc = keep && failed ? cli_error("%s: out of memory", path) : 0;
    if (keep && !rc) {
        recur_status st = recur_write_file_atomic(path, write_csv_data, csv);
        rc = st == RECUR_OK ? 0 : cli_status_error(st);
    }
    free(csv->data);
    csv->data = NULL;
    return rc;
}

/* ---------------------------------------------------------------- */
/* recur forecast train                                              */
/* ---------------------------------------------------------------- */

/* Rank 0's part after training: the holdout scores, evaluation.csv, the
 * predictions, holdout.csv and the model file. */
static int score_and_save(forecast_series *fs, const cli_options *o, const char *dir,
                          forecaster *net, const size_t *test, int64_t n_test)
{
    const forecast_data *d = &fs->data;
    size_t width = (size_t)d->horizon * (size_t)d->target_count;
    float *out = malloc((size_t)n_test * width * sizeof(float));
    int rc = out ? 0 : cli_error("out of memory");
    if (!rc) {
        recur_status st = forecast_predict(net, d, test, (size_t)n_test, out);
        if (st == RECUR_OK)
            st = recur_scaler_inverse_channels(fs->scaler, out, n_test * d->horizon,
                                               d->target_count, d->targets);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
    }
    char path[4200];
    csv_buffer evaluation = {0}, predictions = {0};
    if (!rc)
        rc = open_csv(&evaluation, "target,method,step,mae,rmse,smape,mase,count\n");
    const char *pred_path = o->str[FC_PREDICTIONS];
    if (!rc && pred_path)
        rc = open_csv(&predictions, d->target_count > 1 ? "target,time,step,actual,forecast\n"
                                                        : "time,step,actual,forecast\n");
    for (int k = 0; !rc && k < d->target_count; k++)
        rc = score_target(fs, o, dir, k, test, n_test, out, evaluation.stream, predictions.stream);
    snprintf(path, sizeof path, "%s/evaluation.csv", dir);
    int closed = close_csv(&evaluation, path, !rc);
    rc = rc ? rc : closed;
    closed = close_csv(&predictions, pred_path, !rc);
    rc = rc ? rc : closed;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc) {
        recur_status st = save_model(path, net, fs, o);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
        else
            printf("\nsaved %s (with metrics.csv and evaluation.csv)\n", path);
    }
    free(out);
    return rc;
}

/* Under mpirun every rank trains (cli/dist.h); rank 0 alone writes files. */
static int train_and_score(forecast_series *fs, const cli_options *o, const char *dir)
{
    const forecast_data *d = &fs->data;
    const int64_t stride = (int64_t)o->num[FC_STRIDE];
    size_t *train = NULL, *val = NULL, *test = NULL;
    int64_t n_train = forecast_origins(fs, 0, fs->train_end, stride, &train);
    int64_t n_val = forecast_origins(fs, fs->train_end, fs->val_end, stride, &val);
    int64_t n_test = forecast_origins(fs, fs->val_end, (int64_t)d->steps, stride, &test);
    int rc = 0;
    if (n_train <= 0 || n_val < 0 || n_test <= 0)
        rc = n_train < 0 || n_val < 0 || n_test < 0
                 ? CLI_EXIT_FAILURE
                 : cli_error("no %s windows: the data is too short for --lookback %d and "
                             "--horizon %d",
                             n_train <= 0 ? "training" : "holdout", d->lookback, d->horizon);
    forecaster net = {0};
    metrics_csv *metrics = NULL;
    char path[4200];
    static const char *const columns[] = {"epoch", "train_loss", "val_loss", "lr", "elapsed_s"};
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    if (!rc && dist_rank() == 0)
        rc = metrics_csv_open(path, columns, 5, -1, &metrics);
    if (!rc) {
        printf("windows: %lld train, %lld validation, %lld holdout (rows %lld / %lld / %zu)\n",
               (long long)n_train, (long long)n_val, (long long)n_test, (long long)fs->train_end,
               (long long)(fs->val_end - fs->train_end), d->steps - (size_t)fs->val_end);
        if (dist_size() > 1)
            printf("data-parallel over %d processes: each batch split among them\n", dist_size());
        rc = forecast_build_and_fit(fs, o, train, n_train, val, n_val, metrics, 0, &net);
    }
    if (!rc && dist_rank() == 0)
        rc = score_and_save(fs, o, dir, &net, test, n_test);
    metrics_csv_close(metrics);
    forecaster_free(&net);
    free(train), free(val), free(test);
    return rc;
}

static int forecast_train(int argc, char **argv)
{
    cli_options o;
    forecast_options_init(&o, "forecast train");
    int rc = cli_options_parse(&o, argc, argv, 1);
    if (rc >= 0)
        return rc;
    if (!o.positional_count)
        return cli_error("forecast train: DATA.csv is missing (see recur forecast train --help)");
    if (!o.str[FC_TARGET])
        return cli_error("forecast train: --target COL is missing");
    if (o.str[FC_TIME] && o.str[FC_TIME_COLS])
        return cli_error("forecast train: give --time or --time-cols, not both");
    if (cli_check_output_not_input(o.str[FC_PREDICTIONS], o.positional[0]))
        return CLI_EXIT_BAD_INPUT;
    if (dist_quiet_other_ranks() != 0) /* rank 0 reports and writes the files */
        return cli_error("forecast train: rank %d: cannot silence stdout", dist_rank());
    const char *dir = o.str[FC_OUTPUT];
    if (dist_rank() == 0 && mkdir(dir, 0755) != 0 && errno != EEXIST)
        return cli_error("%s: cannot create the model folder: %s", dir, strerror(errno));
    forecast_series fs;
    rc = forecast_series_load(&fs, o.positional[0], &o, (int64_t)o.num[FC_HOLDOUT],
                              o.num[FC_VAL_FRACTION], NULL, NULL, 0);
    if (!rc) {
        forecast_series_print_report(&fs);
        rc = train_and_score(&fs, &o, dir);
    }
    forecast_series_free(&fs);
    return rc;
}

/* ---------------------------------------------------------------- */
/* recur forecast predict                                            */
/* ---------------------------------------------------------------- */

static const char predict_usage[] =
    "usage: recur forecast predict MODEL_DIR DATA.csv [--horizon H] -o OUT.csv\n"
    "\n"
    "Forecasts the next H steps (at most the trained horizon) after the end of\n"
    "DATA.csv, read the way the model was trained, and writes time,TARGET... rows.\n";

/* The means that filled the training data's gaps (--fill mean), if the
 * model has them (*means NULL otherwise: older models, other fills). */
static int read_fill_means(const recur_st_file *file, double **means, int *count)
{
    const recur_tensor_view *t = recur_st_find(file, "fill.means");
    *means = NULL, *count = 0;
    if (!t)
        return 0;
    if (t->dtype != RECUR_F64 || t->ndim != 1 || t->numel < 1 || t->numel > (1 << 24))
        return cli_error("%s: fill.means is not a vector of F64 values", recur_st_label(file));
    if (!(*means = malloc(t->nbytes)))
        return cli_error("out of memory");
    memcpy(*means, t->data, t->nbytes); /* may be unaligned; little-endian as every host */
    *count = (int)t->numel;
    return 0;
}

typedef struct forecast_rows {
    const forecast_series *fs;
    const float *values; /* [horizon of the model, targets] */
    int steps;           /* rows to write */
} forecast_rows;

/* time,TARGET... rows after the end of the data as file contents
 * (io/atomic_file.h). */
static int write_forecast_rows(FILE *f, void *context)
{
    const forecast_rows *rows = context;
    const forecast_data *d = &rows->fs->data;
    const recur_series *s = rows->fs->series;
    fputs("time", f);
    for (int k = 0; k < d->target_count; k++)
        fprintf(f, ",%s", s->names[d->targets[k]]);
    fputc('\n', f);
    int64_t end = s->times[d->steps - 1];
    for (int h = 0; h < rows->steps; h++) {
        char when[48];
        recur_time_format(recur_freq_add(end, s->freq, h + 1), s->freq, when, sizeof when);
        fputs(when, f);
        for (int k = 0; k < d->target_count; k++)
            fprintf(f, ",%.9g", rows->values[h * d->target_count + k]);
        fputc('\n', f);
    }
    return ferror(f) ? (errno ? errno : EIO) : 0;
}

static int forecast_predict_cmd(int argc, char **argv)
{
    enum { P_OUTPUT, P_HORIZON };
    static const cli_option predict_specs[] = {
        {P_OUTPUT, "output", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL, "forecast CSV (required)"},
        {P_HORIZON, "horizon", OPTION_INT, SCOPE_RUN, "0", 0, 10000, NULL,
         "steps to forecast, 0 = the trained horizon"},
    };
    cli_options p;
    cli_options_init(&p, predict_specs, 2, "forecast predict", predict_usage,
                     "  recur forecast predict pm25 pollution.csv --horizon 24 -o next.csv\n");
    int rc = cli_options_parse(&p, argc, argv, 2);
    if (rc >= 0)
        return rc;
    if (p.positional_count < 2)
        return cli_error("forecast predict: MODEL_DIR and DATA.csv are needed (see --help)");
    if (!p.str[P_OUTPUT])
        return cli_error("forecast predict: -o OUT.csv is missing");
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", p.positional[0]);
    if (cli_check_output_not_input(p.str[P_OUTPUT], p.positional[1]) ||
        cli_check_output_not_input(p.str[P_OUTPUT], path))
        return CLI_EXIT_BAD_INPUT;
    recur_st_file *file = NULL;
    forecaster net = {0};
    recur_scaler *scaler = NULL;
    forecast_series fs = {0};
    cli_options o;
    forecast_options_init(&o, "forecast train");
    recur_status st = recur_st_open(path, &file);
    if (st == RECUR_OK)
        st = forecaster_read(file, &net);
    if (st == RECUR_OK)
        st = recur_scaler_read(file, "scaler.", &scaler);
    rc = st == RECUR_OK ? 0 : cli_status_error(st);
    if (!rc)
        rc = cli_options_restore(&o, file, "recur.forecast.", 0);
    double *means = NULL;
    int mean_count = 0;
    if (!rc)
        rc = read_fill_means(file, &means, &mean_count);
    if (!rc) { /* the grid, scaler and fill means the model was trained with */
        o.str[FC_FREQ] = recur_st_metadata(file, "recur.forecast.grid");
        rc = forecast_series_load(&fs, p.positional[1], &o, 0, 0, scaler, means, mean_count);
        scaler = NULL; /* owned by fs now */
    }
    free(means);
    const char *channels = file ? recur_st_metadata(file, "recur.forecast.channels") : NULL;
    for (int c = 0; !rc && c < fs.series->channels; c++) {
        size_t n = strlen(fs.series->names[c]);
        if (!channels || strncmp(channels, fs.series->names[c], n) || channels[n] != '\n')
            rc = cli_error("%s: its channels differ from the model's (channel %d is '%s'): the "
                           "file needs the same columns and categories",
                           p.positional[1], c, fs.series->names[c]);
        else
            channels += n + 1;
    }
    const forecast_data *d = &fs.data;
    int H = p.num[P_HORIZON] > 0 ? (int)p.num[P_HORIZON] : (rc ? 0 : d->horizon);
    if (!rc && H > d->horizon)
        rc = cli_error("--horizon %d is longer than the model's %d", H, d->horizon);
    if (!rc && d->steps < (size_t)d->lookback)
        rc = cli_error("%s: %zu steps, fewer than the model's lookback %d", p.positional[1],
                       d->steps, d->lookback);
    float *out = NULL;
    if (!rc && !(out = malloc((size_t)d->horizon * d->target_count * sizeof(float))))
        rc = cli_error("out of memory");
    if (!rc) {
        /* origin = steps: the window is the last lookback rows */
        size_t origin = d->steps;
        st = forecast_predict(&net, d, &origin, 1, out);
        if (st == RECUR_OK)
            st = recur_scaler_inverse_channels(fs.scaler, out, d->horizon, d->target_count,
                                               d->targets);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
    }
    if (!rc) {
        forecast_rows rows = {&fs, out, H};
        st = recur_write_file_atomic(p.str[P_OUTPUT], write_forecast_rows, &rows);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
        else
            printf("wrote %d forecast steps to %s\n", H, p.str[P_OUTPUT]);
    }
    free(out);
    forecast_series_free(&fs);
    recur_scaler_free(scaler);
    forecaster_free(&net);
    recur_st_close(file);
    return rc;
}

/* ---------------------------------------------------------------- */
/* recur forecast plot                                               */
/* ---------------------------------------------------------------- */

static int forecast_plot(int argc, char **argv)
{
    static const char usage[] =
        "usage: recur forecast plot MODEL_DIR -o OUT.png [--title TEXT]\n"
        "\n"
        "Draws the history before the holdout and, over the holdout, the actual values\n"
        "with the model's and the baselines' one-step-ahead forecasts (from\n"
        "MODEL_DIR/holdout.csv, written by recur forecast train; first target).\n";
    enum { FP_OUTPUT, FP_TITLE };
    static const cli_option specs[] = {
        {FP_OUTPUT, "output", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL, "PNG to write (required)"},
        {FP_TITLE, "title", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL, "title"},
    };
    cli_options p;
    cli_options_init(&p, specs, 2, "forecast plot", usage,
                     "  recur forecast plot pm25 -o pm25.png\n");
    int rc = cli_options_parse(&p, argc, argv, 1);
    if (rc >= 0)
        return rc;
    if (!p.positional_count || !p.str[FP_OUTPUT])
        return cli_error("forecast plot: MODEL_DIR and -o OUT.png are needed (see --help)");
    char path[4200], title[4300];
    snprintf(path, sizeof path, "%s/holdout.csv", p.positional[0]);
    snprintf(title, sizeof title, "%s: holdout, one step ahead", p.positional[0]);
    char *plot_argv[] = {"plot", path, "-o", (char *)p.str[FP_OUTPUT], "--x", "step", "--y",
                         "actual,model,naive,seasonal", "--y-title", "value", "--title",
                         p.str[FP_TITLE] ? (char *)p.str[FP_TITLE] : title};
    return cmd_plot(12, plot_argv);
}

int cmd_forecast(int argc, char **argv)
{
    static const char usage[] =
        "usage: recur forecast train|predict|plot|tune ...\n"
        "\n"
        "  train    fit a forecaster to a CSV file and score it on a holdout\n"
        "  predict  forecast past the end of a CSV file with a trained model\n"
        "  plot     draw the holdout: actual values, model and baselines\n"
        "  tune     pick hidden size and lookback by rolling-origin cross-validation\n"
        "\n"
        "Run 'recur forecast train --help' for the options.\n"
        "\n"
        "example:\n"
        "  recur forecast train pollution.csv --target pm2.5 --time-cols year,month,day,hour \\\n"
        "      --lookback 24 --horizon 24 --holdout 8760 -o pm25\n"
        "  recur forecast predict pm25 pollution.csv -o next.csv\n";
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_BAD_INPUT : CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "train"))
        return forecast_train(argc - 1, argv + 1);
    if (dist_size() > 1)
        return cli_error("forecast %s: only forecast train runs under mpirun", argv[1]);
    if (!strcmp(argv[1], "predict"))
        return forecast_predict_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "plot"))
        return forecast_plot(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tune"))
        return forecast_tune(argc - 1, argv + 1);
    return cli_error("forecast: unknown command '%s' (train, predict, plot or tune)", argv[1]);
}
