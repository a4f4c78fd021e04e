/* recur forecast: CSV -> regular series -> scaled arrays and split. */
#include "forecast_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

void forecast_series_free(forecast_series *fs)
{
    recur_table_free(fs->table);
    recur_series_free(fs->series);
    recur_scaler_free(fs->scaler);
    free(fs->scaled);
    free(fs->target_observed);
    free(fs->final_from);
    free(fs->held_row);
    memset(fs, 0, sizeof *fs);
}

/* The series of fs->table into *out (freed first). fill_means (a model's, or
 * NULL to fit them over [0, fit_steps)): see recur_series_options. With
 * leave_gaps, missing values stay NaN whatever --fill says. */
static int build_series(forecast_series *fs, const cli_options *o, int64_t fit_steps,
                        const double *fill_means, int fill_means_count, int leave_gaps,
                        recur_series **out)
{
    recur_series_options so = recur_series_options_default();
    so.fill_means = fill_means, so.fill_means_count = fill_means_count;
    so.time = o->str[FC_TIME] ? o->str[FC_TIME] : o->str[FC_TIME_COLS];
    so.targets = o->str[FC_TARGET];
    so.features = o->str[FC_FEATURES];
    so.max_gap = (int64_t)o->num[FC_MAX_GAP];
    so.missing_mask = (int)o->num[FC_MISSING_MASK];
    so.fit_steps = fit_steps;
    const char *freq = o->str[FC_FREQ];
    if (freq && strcmp(freq, "auto") && recur_freq_parse(freq, &so.freq) != RECUR_OK)
        return cli_error("--freq: %s", recur_last_error());
    if (recur_agg_parse(o->str[FC_AGG], &so.agg) != RECUR_OK ||
        recur_fill_parse(o->str[FC_FILL], &so.fill) != RECUR_OK)
        return cli_error("%s", recur_last_error());
    if (leave_gaps)
        so.fill = RECUR_FILL_NONE;
    recur_series_free(*out);
    *out = NULL;
    recur_status st = recur_series_from_table(fs->table, &so, out);
    return st == RECUR_OK ? 0 : cli_status_error(st);
}

/* final_from and held_row (forecast_data) of one channel: a missing value
 * that linear filling took toward the observation at `next` is final from
 * origin next + 1; before that a forecast holds the last observation. A
 * leading gap (no observation before it) keeps its back-filled value. */
static void mark_channel_seen(forecast_series *fs, const recur_series *gaps, int c)
{
    const int64_t steps = gaps->steps;
    const int C = gaps->channels;
    int64_t next = steps, last = -1;
    for (int64_t t = steps - 1; t >= 0; t--) { /* next observation at or after t */
        if (!isnan(gaps->values[t * C + c]))
            next = t;
        fs->final_from[t * C + c] = next;
    }
    for (int64_t t = 0; t < steps; t++) {
        size_t at = (size_t)t * (size_t)C + (size_t)c;
        int observed = !isnan(gaps->values[at]);
        if (observed)
            last = t;
        int from_later = !observed && last >= 0 && fs->final_from[at] < steps;
        fs->final_from[at] = from_later ? fs->final_from[at] + 1 : t + 1;
        fs->held_row[at] = from_later ? last : t;
    }
}

/* With --fill linear and missing values: which rows a forecast at each
 * origin may read (forecast_data.final_from), from the series built again
 * with its gaps left open. */
static int mark_rows_seen(forecast_series *fs, const cli_options *o)
{
    const recur_series_report *r = &fs->series->report;
    int any_missing = 0;
    for (int c = 0; c < r->columns; c++)
        any_missing |= r->column[c].missing > 0;
    if (strcmp(o->str[FC_FILL], "linear") || !any_missing)
        return 0;
    recur_series *gaps = NULL;
    if (build_series(fs, o, 0, NULL, 0, 1, &gaps))
        return CLI_EXIT_BAD_INPUT;
    size_t count = (size_t)gaps->steps * (size_t)gaps->channels;
    fs->final_from = malloc(count * sizeof *fs->final_from);
    fs->held_row = malloc(count * sizeof *fs->held_row);
    int rc = fs->final_from && fs->held_row ? 0 : cli_error("out of memory");
    for (int c = 0; !rc && c < gaps->channels; c++)
        mark_channel_seen(fs, gaps, c);
    recur_series_free(gaps);
    return rc;
}

/* target_observed from the mask channels "<target>.missing" (all observed
 * when a target has none: nothing was missing, or masks are off). */
static int mark_observed(forecast_series *fs)
{
    const recur_series *s = fs->series;
    fs->target_observed = malloc((size_t)s->steps * (size_t)s->targets);
    if (!fs->target_observed)
        return cli_error("out of memory");
    for (int k = 0; k < s->targets; k++) {
        char name[512];
        snprintf(name, sizeof name, "%s.missing", s->names[s->target_index[k]]);
        int mask = recur_series_find_channel(s, name);
        for (int64_t t = 0; t < s->steps; t++)
            fs->target_observed[t * s->targets + k] =
                mask < 0 || s->values[t * s->channels + mask] == 0.0f;
    }
    return 0;
}

float *forecast_rows_seen(const forecast_series *fs, const float *values, int64_t rows,
                          int64_t origin)
{
    const int C = fs->series->channels;
    float *seen = malloc(((size_t)rows * (size_t)C + 1) * sizeof *seen);
    if (!seen)
        return NULL;
    memcpy(seen, values, (size_t)rows * (size_t)C * sizeof *seen);
    for (int64_t r = 0; fs->final_from && r < rows; r++)
        for (int c = 0; c < C; c++) {
            size_t at = (size_t)r * (size_t)C + (size_t)c;
            if (origin < fs->final_from[at])
                seen[at] = values[(size_t)fs->held_row[at] * (size_t)C + (size_t)c];
        }
    return seen;
}

/* The scaler of the training rows [0, train_end), as a forecast at
 * train_end sees them (no gap filled toward a later value). */
static int fit_scaler(forecast_series *fs, const cli_options *o)
{
    const recur_series *s = fs->series;
    recur_scaler_kind kind;
    if (recur_scaler_kind_parse(o->str[FC_SCALE], &kind) != RECUR_OK)
        return cli_error("--scale: %s", recur_last_error());
    float *seen = forecast_rows_seen(fs, s->values, fs->train_end, fs->train_end);
    if (!seen)
        return cli_error("out of memory");
    /* one-hot and mask channels stay 0/1 */
    unsigned char *mask = malloc((size_t)s->channels);
    if (!mask) {
        free(seen);
        return cli_error("out of memory");
    }
    for (int c = 0; c < s->channels; c++)
        mask[c] = s->kinds[c] == RECUR_CHANNEL_NUMERIC;
    recur_status st =
        recur_scaler_fit(seen, fs->train_end, s->channels, fs->train_end, kind, mask, &fs->scaler);
    free(mask), free(seen);
    return st == RECUR_OK ? 0 : cli_status_error(st);
}

int forecast_series_load(forecast_series *fs, const char *path, const cli_options *o,
                         int64_t holdout, double val_fraction, recur_scaler *scaler,
                         const double *fill_means, int fill_means_count)
{
    memset(fs, 0, sizeof *fs);
    fs->scaler = scaler; /* owned from here on, freed with fs */
    const char *delimiter = o->str[FC_DELIMITER];
    char delim = !delimiter || !strcmp(delimiter, "auto") ? 0
                 : !strcmp(delimiter, "tab")            ? '\t'
                                                        : delimiter[0];
    recur_status st = recur_table_read(path, delim, 1, &fs->table);
    if (st != RECUR_OK)
        return cli_status_error(st);
    if (build_series(fs, o, 0, fill_means, fill_means_count, 0, &fs->series))
        return CLI_EXIT_BAD_INPUT;
    const int64_t steps = fs->series->steps;
    const int W = (int)o->num[FC_LOOKBACK], H = (int)o->num[FC_HORIZON];
    if (!scaler) { /* training: the split */
        if (holdout <= 0)
            holdout = steps / 5;
        int64_t rest = steps - holdout;
        int64_t val = (int64_t)((double)rest * val_fraction);
        fs->val_end = rest;
        fs->train_end = rest - val;
        if (fs->train_end < W + H + 1)
            return cli_error("%s: %lld steps leave %lld for training after --holdout %lld and "
                             "--val-fraction %g: too few for --lookback %d and --horizon %d",
                             path, (long long)steps, (long long)fs->train_end, (long long)holdout,
                             val_fraction, W, H);
        if (holdout < H)
            return cli_error("--holdout %lld is shorter than --horizon %d", (long long)holdout, H);
        /* means (fill) come from the training part only: build again */
        if (!strcmp(o->str[FC_FILL], "mean") &&
            build_series(fs, o, fs->train_end, NULL, 0, 0, &fs->series))
            return CLI_EXIT_BAD_INPUT;
        /* forecasts at origins inside the data read only the rows before them */
        if (mark_rows_seen(fs, o))
            return CLI_EXIT_BAD_INPUT;
    } else
        fs->train_end = fs->val_end = steps;
    const recur_series *s = fs->series;
    size_t count = (size_t)s->steps * (size_t)s->channels;
    if (!(fs->scaled = malloc(count * sizeof(float))))
        return cli_error("out of memory");
    memcpy(fs->scaled, s->values, count * sizeof(float));
    int rc = scaler ? 0 : fit_scaler(fs, o);
    if (rc)
        return rc;
    if (fs->scaler->channels != s->channels)
        return cli_error("%s: %d channels, but the model's scaler has %d", path, s->channels,
                         fs->scaler->channels);
    recur_scaler_apply(fs->scaler, fs->scaled, s->steps);
    for (size_t k = 0; k < count; k++)
        if (!isfinite(fs->scaled[k]))
            return cli_error("%s: channel '%s' has a value missing after filling (use --fill)",
                             path, s->names[k % (size_t)s->channels]);
    if (mark_observed(fs))
        return CLI_EXIT_BAD_INPUT;
    fs->data = (forecast_data){fs->scaled, fs->target_observed, (size_t)s->steps, s->channels,
                               s->target_index, s->targets, W, H,
                               cli_options_choice(o, FC_TARGET_MODE) == 1, fs->final_from,
                               fs->held_row};
    return 0;
}

int64_t forecast_origins(const forecast_series *fs, int64_t begin, int64_t end, int64_t stride,
                         size_t **out)
{
    const forecast_data *d = &fs->data;
    int64_t count;
    *out = NULL;
    /* origins o in [begin, end - horizon + 1): targets end by `end` */
    int64_t last = end - d->horizon + 1;
    if (recur_rolling_windows(end, d->lookback, d->horizon, begin, last, stride, NULL, 0,
                              &count) != RECUR_OK || count <= 0)
        return 0;
    recur_window *windows = malloc((size_t)count * sizeof *windows);
    size_t *origins = malloc((size_t)count * sizeof *origins);
    if (!windows || !origins) {
        free(windows), free(origins);
        cli_error("out of memory");
        return -1;
    }
    recur_rolling_windows(end, d->lookback, d->horizon, begin, last, stride, windows, count,
                          &count);
    for (int64_t i = 0; i < count; i++)
        origins[i] = (size_t)windows[i].origin;
    free(windows);
    *out = origins;
    return count;
}

void forecast_series_print_report(const forecast_series *fs)
{
    const recur_series *s = fs->series;
    const recur_series_report *r = &s->report;
    char freq[32];
    recur_freq_format(s->freq, freq, sizeof freq);
    printf("%s: %lld rows -> %lld steps of %s (%lld empty slots in %lld gaps, %lld longer than "
           "--max-gap, longest %lld; %lld rows out of order, %lld sharing a slot), %d channels\n",
           recur_table_label(fs->table), (long long)r->rows, (long long)s->steps, freq,
           (long long)r->empty_slots, (long long)r->gaps, (long long)r->long_gaps,
           (long long)r->longest_gap, (long long)r->out_of_order, (long long)r->duplicates,
           s->channels);
    for (int c = 0; c < r->columns; c++) {
        const recur_series_column_report *col = &r->column[c];
        if (col->missing || col->categorical)
            printf("  %-12s %s%lld missing cells, %lld missing slots, %lld filled, longest gap "
                   "%lld\n",
                   col->name, col->categorical ? "categorical, " : "",
                   (long long)col->missing_cells, (long long)col->missing, (long long)col->filled,
                   (long long)col->longest_gap);
    }
}

/* ---------------------------------------------------------------- */
/* Options                                                           */
/* ---------------------------------------------------------------- */

static const cli_option forecast_specs[] = {
    {FC_TARGET, "target", OPTION_PATH, SCOPE_FIXED, NULL, 0, 0, NULL,
     "column(s) to forecast, comma-separated (required)"},
    {FC_TIME, "time", OPTION_PATH, SCOPE_FIXED, NULL, 0, 0, NULL,
     "time column (ISO 8601, YYYY-MM, YYYY); none: the row number"},
    {FC_TIME_COLS, "time-cols", OPTION_PATH, SCOPE_FIXED, NULL, 0, 0, NULL,
     "time split over columns year,month[,day[,hour]]"},
    {FC_FEATURES, "features", OPTION_PATH, SCOPE_FIXED, NULL, 0, 0, NULL,
     "input columns besides the targets (every other column)"},
    {FC_FREQ, "freq", OPTION_PATH, SCOPE_FIXED, "auto", 0, 0, NULL,
     "grid step: 30s, 15min, 1h, 1d, 1w, 1mo, 1y; auto = the most common"},
    {FC_AGG, "agg", OPTION_CHOICE, SCOPE_FIXED, "mean", 0, 0, "mean|sum|last|first|max|min",
     "rows in one grid step"},
    {FC_FILL, "fill", OPTION_CHOICE, SCOPE_FIXED, "linear", 0, 0, "linear|forward|mean|zero",
     "missing values"},
    {FC_MAX_GAP, "max-gap", OPTION_INT, SCOPE_FIXED, "24", 0, 1e12, NULL,
     "longer runs of missing steps are reported"},
    {FC_MISSING_MASK, "missing-mask", OPTION_INT, SCOPE_FIXED, "1", 0, 2, NULL,
     "missingness channels: 0 none, 1 columns with gaps, 2 all"},
    {FC_SCALE, "scale", OPTION_CHOICE, SCOPE_FIXED, "zscore", 0, 0, "zscore|minmax|none",
     "scaling, fit on the training part"},
    {FC_LOOKBACK, "lookback", OPTION_INT, SCOPE_FIXED, "24", 1, 100000, NULL,
     "past steps the model reads"},
    {FC_HORIZON, "horizon", OPTION_INT, SCOPE_FIXED, "1", 1, 10000, NULL,
     "future steps it forecasts"},
    {FC_SEASON, "season", OPTION_INT, SCOPE_FIXED, "0", 0, 100000, NULL,
     "seasonal period in steps, 0 = detect"},
    {FC_DELIMITER, "delimiter", OPTION_PATH, SCOPE_FIXED, "auto", 0, 0, NULL,
     "CSV delimiter: auto, ',', ';', tab"},
    {FC_TARGET_MODE, "predict", OPTION_CHOICE, SCOPE_FIXED, "delta", 0, 0, "level|delta",
     "the model outputs the values, or their changes from the last one"},
    {FC_OUTPUT, "output", OPTION_PATH, SCOPE_RUN, "forecast-model", 0, 0, NULL,
     "model folder, also -o"},
    {FC_PREDICTIONS, "predictions", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "CSV of every holdout forecast: time,step,actual,forecast"},
    {FC_HOLDOUT, "holdout", OPTION_INT, SCOPE_FIXED, "0", 0, 1e12, NULL,
     "last steps held out for the test, 0 = 20 %"},
    {FC_VAL_FRACTION, "val-fraction", OPTION_FLOAT, SCOPE_FIXED, "0.1", 0, 0.5, NULL,
     "share of the rest, before the holdout, for early stopping"},
    {FC_STRIDE, "stride", OPTION_INT, SCOPE_FIXED, "1", 1, 1e9, NULL,
     "steps between origins (training and holdout)"},
    {FC_MODEL, "model", OPTION_CHOICE, SCOPE_FIXED, "lstm", 0, 0, "lstm|gru|rnn", "cell"},
    {FC_HIDDEN, "hidden", OPTION_INT, SCOPE_FIXED, "64", 1, 65536, NULL, "hidden size"},
    {FC_LAYERS, "layers", OPTION_INT, SCOPE_FIXED, "1", 1, 16, NULL, "stacked layers"},
    {FC_DROPOUT, "dropout", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 0.99, NULL, "between layers"},
    {FC_EPOCHS, "epochs", OPTION_INT, SCOPE_FIXED, "30", 1, 100000, NULL, "passes over the data"},
    {FC_BATCH, "batch", OPTION_INT, SCOPE_FIXED, "64", 1, 65536, NULL, "windows per step"},
    {FC_OPTIMIZER, "optimizer", OPTION_CHOICE, SCOPE_FIXED, "adam", 0, 0,
     "sgd|adam|adamw|rmsprop|adagrad", "optimizer"},
    {FC_LR, "lr", OPTION_FLOAT, SCOPE_FIXED, "0.001", 0, 10, NULL, "learning rate"},
    {FC_WEIGHT_DECAY, "weight-decay", OPTION_FLOAT, SCOPE_FIXED, "0", 0, 10, NULL,
     "weight decay"},
    {FC_CLIP, "clip", OPTION_FLOAT, SCOPE_FIXED, "1", 0, 1e9, NULL, "gradient norm clip, 0 = off"},
    {FC_EARLY_STOP, "early-stop", OPTION_INT, SCOPE_FIXED, "5", 0, 100000, NULL,
     "epochs without validation improvement, 0 = off"},
    {FC_SEED, "seed", OPTION_INT, SCOPE_FIXED, "1", 0, 2147483647, NULL, "seed"},
    {FC_DECODER, "decoder", OPTION_CHOICE, SCOPE_FIXED, "direct", 0, 0, "direct|seq2seq",
     "multi-step output: one head for all steps, or a decoder fed its last values"},
    {FC_HIDDEN_GRID, "hidden-grid", OPTION_PATH, SCOPE_RUN, "32,64,128", 0, 0, NULL,
     "tune: hidden sizes to try (16 at most)"},
    {FC_LOOKBACK_GRID, "lookback-grid", OPTION_PATH, SCOPE_RUN, NULL, 0, 0, NULL,
     "tune: lookbacks to try, 16 at most (--lookback, x2, /2)"},
    {FC_FOLDS, "folds", OPTION_INT, SCOPE_RUN, "3", 1, 20, NULL,
     "tune: rolling-origin folds over the training part"},
    {FC_DEVICE, "device", OPTION_CHOICE, SCOPE_RUN, "cpu", 0, 0, "cpu|cuda",
     "cuda: the recurrent stack on the GPU (the rest on the CPU; direct decoder)"},
};
enum { FORECAST_SPEC_COUNT = sizeof forecast_specs / sizeof forecast_specs[0] };

static const char train_usage[] =
    "usage: recur forecast train DATA.csv --target COL[,COL...] [options] -o MODEL_DIR\n"
    "\n"
    "Reads a CSV file as it comes (gaps, NA, uneven timestamps, categorical columns),\n"
    "puts it on a regular grid, trains an RNN that reads --lookback steps of every\n"
    "column and forecasts the next --horizon values of the targets, and scores it on\n"
    "the last --holdout steps by rolling origin against naive and seasonal-naive\n"
    "forecasts (MAE, RMSE, sMAPE, MASE per horizon step).\n";

static const char train_example[] =
    "  recur forecast train pollution.csv --target pm2.5 --time-cols year,month,day,hour \\\n"
    "      --features DEWP,TEMP,PRES,cbwd,Iws,Is,Ir --lookback 24 --horizon 24 --holdout 8760 -o pm25\n";

void forecast_options_init(cli_options *o, const char *command)
{
    cli_options_init(o, forecast_specs, FORECAST_SPEC_COUNT, command, train_usage, train_example);
}
