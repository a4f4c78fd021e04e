/* Training and running a forecaster: a recur_seqnet that reads a window of
 * `lookback` rows of every channel and predicts the next `horizon` values of
 * each target channel, all in scaled units. */
#ifndef RECUR_CLI_FORECAST_FIT_H
#define RECUR_CLI_FORECAST_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "metrics_csv.h"
#include "recur.h"

typedef struct forecast_data {
    const float *values;         /* [steps, channels], scaled */
    const unsigned char *target_observed; /* [steps, target_count]: 0 where the target was
                                             imputed (not scored), or NULL = all observed */
    size_t steps;
    int channels;
    const int *targets;          /* [target_count] channel indexes */
    int target_count;
    int lookback, horizon;
    int delta;                   /* targets are changes from the last input row's value */
} forecast_data;

/* The window of origin o: inputs rows [o - lookback, o), targets rows
 * [o, o + horizon). x [lookback, batch, channels] time-major; y and mask
 * [batch, horizon * target_count] ordered (step, target); y NULL: inputs only
 * (the origin may then be the end of the data); mask may be NULL. */
void forecast_fill(const forecast_data *d, const size_t *origins, int batch, float *x, float *y,
                   float *mask);

typedef struct forecast_fit_options {
    int epochs, batch, early_stop; /* early_stop: validations without improvement, 0 = off */
    recur_optimizer_kind optimizer;
    double lr, clip, weight_decay;
    uint64_t seed;                 /* shuffling */
    int quiet;                     /* no progress lines */
} forecast_fit_options;

/* Trains on the train origins (shuffled each epoch) with the masked MSE,
 * validates after every epoch on the validation origins (if any), keeps the
 * weights of the best validation loss, writes a metrics row per epoch
 * (epoch, train_loss, val_loss, lr, elapsed_s) and prints a progress line.
 * Returns 0, or an exit status after printing the error. */
int forecast_fit(recur_seqnet *net, const forecast_data *d, const size_t *train, size_t n_train,
                 const size_t *val, size_t n_val, const forecast_fit_options *options,
                 metrics_csv *metrics);

/* Forecasts for each origin (eval mode), out [n, the net's output_size] scaled. */
recur_status forecast_predict(recur_seqnet *net, const forecast_data *d, const size_t *origins,
                              size_t n, float *out);

#endif
