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
    memset(fs, 0, sizeof *fs);
}

static int build_series(forecast_series *fs, const cli_options *o, int64_t fit_steps)
{
    recur_series_options so = recur_series_options_default();
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
    recur_series_free(fs->series);
    fs->series = NULL;
    recur_status st = recur_series_from_table(fs->table, &so, &fs->series);
    return st == RECUR_OK ? 0 : cli_status_error(st);
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

int forecast_series_load(forecast_series *fs, const char *path, const cli_options *o,
                         int64_t holdout, double val_fraction, recur_scaler *scaler)
{
    memset(fs, 0, sizeof *fs);
    const char *delimiter = o->str[FC_DELIMITER];
    char delim = !delimiter || !strcmp(delimiter, "auto") ? 0
                 : !strcmp(delimiter, "tab")            ? '\t'
                                                        : delimiter[0];
    recur_status st = recur_table_read(path, delim, 1, &fs->table);
    if (st != RECUR_OK)
        return cli_status_error(st);
    if (build_series(fs, o, 0))
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
        if (!strcmp(o->str[FC_FILL], "mean") && build_series(fs, o, fs->train_end))
            return CLI_EXIT_BAD_INPUT;
    } else
        fs->train_end = fs->val_end = steps;
    const recur_series *s = fs->series;
    size_t count = (size_t)s->steps * (size_t)s->channels;
    if (!(fs->scaled = malloc(count * sizeof(float))))
        return cli_error("out of memory");
    memcpy(fs->scaled, s->values, count * sizeof(float));
    if (scaler)
        fs->scaler = scaler;
    else {
        recur_scaler_kind kind;
        if (recur_scaler_kind_parse(o->str[FC_SCALE], &kind) != RECUR_OK)
            return cli_error("--scale: %s", recur_last_error());
        /* one-hot and mask channels stay 0/1 */
        unsigned char *mask = malloc((size_t)s->channels);
        if (!mask)
            return cli_error("out of memory");
        for (int c = 0; c < s->channels; c++)
            mask[c] = s->kinds[c] == RECUR_CHANNEL_NUMERIC;
        st = recur_scaler_fit(s->values, s->steps, s->channels, fs->train_end, kind, mask,
                              &fs->scaler);
        free(mask);
        if (st != RECUR_OK)
            return cli_status_error(st);
    }
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
                               cli_options_choice(o, FC_TARGET_MODE) == 1};
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
