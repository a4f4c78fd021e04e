/* The data side of recur forecast: a CSV file as a regular, scaled series
 * with its chronological split into train, validation and holdout. */
#ifndef RECUR_CLI_FORECAST_DATA_H
#define RECUR_CLI_FORECAST_DATA_H

#include "forecast_fit.h"
#include "options.h"
#include "recur.h"

/* The options that define the data (saved with the model, so predict reads
 * a new file the same way). */
enum {
    FC_TARGET, FC_TIME, FC_TIME_COLS, FC_FEATURES, FC_FREQ, FC_AGG, FC_FILL, FC_MAX_GAP,
    FC_MISSING_MASK, FC_SCALE, FC_LOOKBACK, FC_HORIZON, FC_SEASON, FC_DELIMITER, FC_TARGET_MODE,
    FC_DATA_OPTION_COUNT
};

enum {
    FC_OUTPUT = FC_DATA_OPTION_COUNT, FC_PREDICTIONS, FC_HOLDOUT, FC_VAL_FRACTION, FC_STRIDE,
    FC_MODEL, FC_HIDDEN, FC_LAYERS, FC_DROPOUT, FC_EPOCHS, FC_BATCH, FC_OPTIMIZER, FC_LR,
    FC_WEIGHT_DECAY, FC_CLIP, FC_EARLY_STOP, FC_SEED, FC_DECODER, FC_HIDDEN_GRID,
    FC_LOOKBACK_GRID, FC_FOLDS, FC_DEVICE, FC_OPTION_COUNT
};

/* The options of recur forecast train (shared by predict, which restores
 * them from the model, and tune). */
void forecast_options_init(cli_options *o, const char *command);

typedef struct forecast_series {
    recur_table *table;
    recur_series *series;
    recur_scaler *scaler;
    float *scaled;                 /* [steps, channels] */
    unsigned char *target_observed; /* [steps, targets] */
    int64_t *final_from, *held_row; /* [steps, channels] or NULL: see forecast_data */
    forecast_data data;            /* views of the above */
    int64_t train_end, val_end;    /* rows [0, train_end) train; [train_end, val_end) validation;
                                      [val_end, steps) holdout */
} forecast_series;

/* Reads the CSV file at `path` into a series as the options say. fit_rows:
 * rows used for mean-filling and scaling (-1: decide from the split, which
 * needs holdout and val_fraction: two passes). With `scaler` (predict), the
 * saved scaler is used instead of fitting one; fs owns it from then on, even
 * when loading fails; with fill_means (predict, --fill mean: the model's, one
 * per channel) so are the means that fill the gaps. In training, with
 * --fill linear, final_from/held_row say which filled values a forecast at
 * each origin may read (forecast_data), and the scaler is fit on the training
 * rows as seen at their end. Returns 0 or an exit status after printing the
 * error. */
int forecast_series_load(forecast_series *fs, const char *path, const cli_options *o,
                         int64_t holdout, double val_fraction, recur_scaler *scaler,
                         const double *fill_means, int fill_means_count);
void forecast_series_free(forecast_series *fs);

/* A malloc'd copy of rows [0, rows) of values [steps, channels] (the
 * series' or the scaled values) as a forecast at `origin` >= rows sees them
 * (forecast_row_seen): what is fit on the training part reads no value after
 * it. NULL when out of memory. */
float *forecast_rows_seen(const forecast_series *fs, const float *values, int64_t rows,
                          int64_t origin);

/* Origins whose windows lie inside rows [begin, end): inputs need lookback
 * rows before the origin (which may lie before begin: history is allowed)
 * and the targets must end by `end`. *out malloc'd; returns the count or -1
 * (out of memory, printed). */
int64_t forecast_origins(const forecast_series *fs, int64_t begin, int64_t end, int64_t stride,
                         size_t **out);

/* Creates the network the options describe (its input is every channel, its
 * output horizon x targets; --decoder picks the direct head or the seq2seq
 * decoder) and trains it on the given origins (see
 * forecast_fit). Returns 0 or an exit status after printing the error; *out
 * is set either way (forecaster_free it). */
int forecast_build_and_fit(const forecast_series *fs, const cli_options *o, const size_t *train,
                           int64_t n_train, const size_t *val, int64_t n_val,
                           metrics_csv *metrics, int quiet, forecaster *out);

/* recur forecast tune (forecast_tune.c). */
int forecast_tune(int argc, char **argv);

/* Writes the series report (rows, gaps, per-column missing and filled). */
void forecast_series_print_report(const forecast_series *fs);

#endif
