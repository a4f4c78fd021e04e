/* Training and running a forecaster: a network that reads a window of
 * `lookback` rows of every channel and predicts the next `horizon` values of
 * each target channel, all in scaled units: a recur_seqnet (direct head: all
 * horizon x targets values at once) or a recur_seqdec (seq2seq decoder: one
 * step at a time, fed its previous values). */
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
    /* The rows as a forecast at origin o sees them (NULL: as they are): the
     * value of row r < o of channel c is final when o >= final_from[r *
     * channels + c]; before that it was filled from an observation at or
     * after o (linear fill toward a later value), and the forecast reads row
     * held_row[r * channels + c] instead: the last observation before r, as
     * forecast predict fills a gap at the end of its data. */
    const int64_t *final_from;
    const int64_t *held_row;
} forecast_data;

/* The row whose value of `channel` a forecast at `origin` reads for row
 * `row` < origin: `row`, or the row held in its place (see final_from). */
size_t forecast_row_seen(const forecast_data *d, size_t origin, size_t row, int channel);

/* The window of origin o: inputs rows [o - lookback, o) as seen from o
 * (forecast_row_seen), targets rows [o, o + horizon) (as changes from the
 * last input row's value with delta). x [lookback, batch, channels] time-major; y and mask
 * [batch, horizon * target_count] ordered (step, target); y NULL: inputs only
 * (the origin may then be the end of the data); mask may be NULL. */
void forecast_fill(const forecast_data *d, const size_t *origins, int batch, float *x, float *y,
                   float *mask);

/* The model behind recur forecast: exactly one of the two is set. */
typedef struct forecaster {
    recur_seqnet *net; /* --decoder direct */
    recur_seqdec *dec; /* --decoder seq2seq */
} forecaster;

void forecaster_free(forecaster *f); /* frees the network, leaves f empty */
int forecaster_param_count(const forecaster *f);
recur_status forecaster_param(const forecaster *f, int index, recur_param *out);
void forecaster_zero_grad(forecaster *f);
void forecaster_set_training(forecaster *f, int training);
/* x [lookback, batch, channels] (forecast_fill); *result [batch, horizon *
 * targets] ordered (step, target), inside the network. The decoder starts
 * from the last input row's target values (0 in delta mode: its inputs and
 * outputs are then changes from that value too) and reads teacher [batch,
 * horizon * targets] (teacher forcing, needed before backward) or, with
 * teacher NULL, its own predictions. The direct head ignores teacher. */
recur_status forecaster_forward(forecaster *f, const forecast_data *d, int batch, const float *x,
                                const float *teacher, const float **result);
recur_status forecaster_backward(forecaster *f, const float *grad_result);
recur_status forecaster_write(const forecaster *f, recur_st_writer *writer);
/* The network of a model file (recur.model seqdec or seqnet). */
recur_status forecaster_read(const recur_st_file *file, forecaster *f);

typedef struct forecast_fit_options {
    int epochs, batch, early_stop; /* early_stop: validations without improvement, 0 = off */
    recur_optimizer_kind optimizer;
    double lr, clip, weight_decay;
    uint64_t seed;                 /* shuffling */
    int quiet;                     /* no progress lines */
} forecast_fit_options;

/* Trains on the train origins (shuffled each epoch) with the masked MSE
 * (the decoder teacher-forced), validates after every epoch on the
 * validation origins (if any; the decoder free running), keeps the weights
 * of the best validation loss, writes a metrics row per epoch
 * (epoch, train_loss, val_loss, lr, elapsed_s) and prints a progress line.
 * Returns 0, or an exit status after printing the error. */
int forecast_fit(forecaster *net, const forecast_data *d, const size_t *train, size_t n_train,
                 const size_t *val, size_t n_val, const forecast_fit_options *options,
                 metrics_csv *metrics);

/* Forecasts for each origin (eval mode), out [n, horizon * targets] scaled. */
recur_status forecast_predict(forecaster *net, const forecast_data *d, const size_t *origins,
                              size_t n, float *out);

#endif
