/* recur forecast tune: picks the hidden size and the lookback by
 * rolling-origin cross-validation on the part of the data before the holdout
 * (which it never reads as a target). Fold i trains on rows [0, end_i) and is
 * scored on the next block of rows, with the scaler (and mean filling) fit on
 * [0, end_i) only; the score is the MASE over the block (all horizon steps,
 * every target averaged), scaled by the naive forecast's in-sample MAE. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "forecast_data.h"

static const char tune_usage[] =
    "usage: recur forecast tune DATA.csv --target COL [train options] [--hidden-grid 32,64]\n"
    "                           [--lookback-grid 12,24] [--folds 3]\n"
    "\n"
    "Cross-validates each hidden size x lookback by rolling origin on the data\n"
    "before the holdout, prints the table of scores and the best pair.\n";

/* Parses "a,b,c" into at most max positive integers; returns the count, or
 * -1 after the error (not a number, an empty item such as a trailing comma,
 * or more than max values). */
static int parse_grid(const char *flag, const char *text, long *values, int max)
{
    int count = 0;
    for (const char *p = text;; p++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 100000 || (*end && *end != ','))
            return cli_error("%s: '%s' is not a list of positive integers", flag, text), -1;
        if (count == max)
            return cli_error("%s: more than %d values", flag, max), -1;
        values[count++] = v;
        if (!*end)
            return count;
        p = end;
    }
}

/* The MASE of one fold: train on [0, end), score the origins of [end, end + block). */
static int score_fold(const char *path, cli_options *o, int64_t steps, int64_t end,
                      int64_t block, double *mase)
{
    forecast_series fs;
    /* holdout = everything after the fold's block (> 0: the real holdout at
     * least); validation = the block */
    int64_t holdout = steps - (end + block);
    double val_fraction = (double)block / (double)(end + block);
    int rc = forecast_series_load(&fs, path, o, holdout, val_fraction, NULL, NULL, 0);
    size_t *train = NULL, *val = NULL;
    forecaster net = {0};
    float *out = NULL, *actual = NULL, *forecast = NULL;
    float *train_rows = NULL; /* the MASE scale's: the training rows as seen at their end */
    const forecast_data *d = &fs.data;
    int64_t n_train = rc ? 0 : forecast_origins(&fs, 0, fs.train_end, (int64_t)o->num[FC_STRIDE], &train);
    int64_t n_val = rc ? 0 : forecast_origins(&fs, fs.train_end, fs.val_end, 1, &val);
    if (!rc && (n_train <= 0 || n_val <= 0))
        rc = cli_error("tune: a fold of %lld rows is too short for --lookback %d and --horizon %d",
                       (long long)block, d->lookback, d->horizon);
    if (!rc)
        rc = forecast_build_and_fit(&fs, o, train, n_train, val, n_val, NULL, 1, &net);
    size_t width = rc ? 0 : (size_t)d->horizon * (size_t)d->target_count;
    size_t cells = rc ? 0 : (size_t)n_val * (size_t)d->horizon;
    if (!rc && (!(out = malloc((size_t)n_val * width * sizeof(float))) ||
                !(actual = malloc(cells * sizeof(float))) ||
                !(forecast = malloc(cells * sizeof(float))) ||
                !(train_rows = forecast_rows_seen(&fs, fs.series->values, fs.train_end,
                                                  fs.train_end))))
        rc = cli_error("out of memory");
    if (!rc) {
        recur_status st = forecast_predict(&net, d, val, (size_t)n_val, out);
        if (st == RECUR_OK)
            st = recur_scaler_inverse_channels(fs.scaler, out, n_val * d->horizon,
                                               d->target_count, d->targets);
        double total = 0;
        const recur_series *s = fs.series;
        for (int k = 0; st == RECUR_OK && k < d->target_count; k++) {
            const float *x = s->values + d->targets[k];
            for (int64_t i = 0; i < n_val; i++)
                for (int h = 0; h < d->horizon; h++) {
                    size_t row = val[i] + (size_t)h;
                    actual[i * d->horizon + h] =
                        fs.target_observed[row * d->target_count + k] ? x[row * s->channels] : NAN;
                    forecast[i * d->horizon + h] = out[((size_t)i * d->horizon + h) * d->target_count + k];
                }
            double scale;
            recur_forecast_metric overall;
            st = recur_mase_scale(train_rows + d->targets[k], fs.train_end, s->channels, 1,
                                  &scale);
            if (st == RECUR_OK)
                st = recur_forecast_metrics(actual, forecast, n_val, d->horizon, scale, NULL,
                                            &overall);
            if (st == RECUR_OK)
                total += overall.mase;
        }
        if (st != RECUR_OK)
            rc = cli_status_error(st);
        *mase = total / d->target_count;
    }
    free(out), free(actual), free(forecast), free(train), free(val), free(train_rows);
    forecaster_free(&net);
    forecast_series_free(&fs);
    return rc;
}

int forecast_tune(int argc, char **argv)
{
    cli_options o;
    forecast_options_init(&o, "forecast tune");
    o.usage = tune_usage;
    int rc = cli_options_parse(&o, argc, argv, 1);
    if (rc >= 0)
        return rc;
    if (!o.positional_count || !o.str[FC_TARGET])
        return cli_error("forecast tune: DATA.csv and --target are needed (see --help)");
    long hidden[16], lookback[16];
    int n_hidden = parse_grid("--hidden-grid", o.str[FC_HIDDEN_GRID], hidden, 16);
    int n_lookback;
    if (o.str[FC_LOOKBACK_GRID])
        n_lookback = parse_grid("--lookback-grid", o.str[FC_LOOKBACK_GRID], lookback, 16);
    else {
        long w = (long)o.num[FC_LOOKBACK];
        lookback[0] = w > 1 ? w / 2 : 1, lookback[1] = w, lookback[2] = 2 * w;
        n_lookback = w > 1 ? 3 : 2;
        if (w <= 1)
            lookback[0] = w, lookback[1] = 2 * w;
    }
    if (n_hidden < 1 || n_lookback < 1)
        return CLI_EXIT_BAD_INPUT;
    /* the sizes: steps and the tuning region before the holdout */
    forecast_series whole;
    if ((rc = forecast_series_load(&whole, o.positional[0], &o, (int64_t)o.num[FC_HOLDOUT],
                                   o.num[FC_VAL_FRACTION], NULL, NULL, 0)) != 0) {
        forecast_series_free(&whole);
        return rc;
    }
    const int64_t steps = (int64_t)whole.data.steps, region = whole.val_end;
    forecast_series_free(&whole);
    const int folds = (int)o.num[FC_FOLDS];
    const int64_t block = region / (folds + 2);
    printf("tuning on rows [0, %lld) of %lld: %d folds of %lld rows (fold i trains on the rows "
           "before its block)\n",
           (long long)region, (long long)steps, folds, (long long)block);
    printf("%8s %8s %10s\n", "hidden", "lookback", "mean MASE");
    double best = INFINITY;
    long best_hidden = 0, best_lookback = 0;
    for (int a = 0; !rc && a < n_hidden; a++)
        for (int b = 0; !rc && b < n_lookback; b++) {
            o.num[FC_HIDDEN] = (double)hidden[a];
            o.num[FC_LOOKBACK] = (double)lookback[b];
            double sum = 0;
            for (int i = 0; !rc && i < folds; i++) {
                double mase = NAN;
                int64_t end = region - (int64_t)(folds - i) * block;
                rc = score_fold(o.positional[0], &o, steps, end, block, &mase);
                sum += mase;
            }
            if (rc)
                break;
            double mean = sum / folds;
            printf("%8ld %8ld %10.4f\n", hidden[a], lookback[b], mean);
            fflush(stdout);
            if (mean < best)
                best = mean, best_hidden = hidden[a], best_lookback = lookback[b];
        }
    if (!rc)
        printf("best: --hidden %ld --lookback %ld (mean MASE %.4f)\n", best_hidden,
               best_lookback, best);
    return rc;
}
