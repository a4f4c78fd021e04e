/* Embeds a forecaster: hourly readings held in arrays (with gaps and missing
 * values) become a regular series, a small LSTM learns to forecast the next
 * HORIZON hours from the last LOOKBACK, is scored on held-out data against
 * the seasonal-naive forecast, and forecasts the hours after the data.
 * Library parts used: tables and series (the grid, filling), the scaler,
 * rolling windows, recur_seqnet with a regression head, MSE, Adam, season
 * detection, the naive baselines and the forecast metrics.
 * usage: forecaster [STEPS]   (training steps, default 300) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <recur.h>

#define HOURS (24 * 28)
#define LOOKBACK 48
#define HORIZON 12
#define HOLDOUT 96
#define BATCH 32

static int fail(const char *what)
{
    fprintf(stderr, "forecaster: %s: %s\n", what, recur_last_error());
    return 1;
}

/* Readings as an application might hold them: times (Unix seconds) and
 * values, with a few hours missing altogether and a few values unknown (NaN). */
static int make_readings(int64_t *times, float *values)
{
    int64_t start;
    if (recur_time_from_civil(2024, 1, 1, 0, 0, 0, &start) != RECUR_OK)
        return -1;
    uint64_t noise = 12345;
    int n = 0;
    for (int h = 0; h < HOURS; h++) {
        if (h % 97 == 50)
            continue; /* no reading this hour */
        noise = noise * 6364136223846793005u + 1442695040888963407u;
        float jitter = (float)(noise >> 40) / (float)(1 << 24) - 0.5f;
        times[n] = start + 3600 * (int64_t)h;
        values[n] = 20.0f + 6.0f * sinf(6.2831853f * (float)h / 24.0f) + 0.004f * (float)h + jitter;
        if (h % 131 == 7)
            values[n] = NAN; /* a reading that failed */
        n++;
    }
    return n;
}

/* The arrays as CSV text, the form recur_table_parse reads. */
static char *readings_csv(const int64_t *times, const float *values, int n, size_t *size)
{
    size_t capacity = 64 + (size_t)n * 48, used = 0;
    char *csv = malloc(capacity);
    if (!csv)
        return NULL;
    used += (size_t)snprintf(csv, capacity, "time,load\n");
    for (int i = 0; i < n; i++) {
        char when[32];
        recur_time_format(times[i], (recur_freq){3600, 0}, when, sizeof when);
        if (isnan(values[i]))
            used += (size_t)snprintf(csv + used, capacity - used, "%s,NA\n", when);
        else
            used += (size_t)snprintf(csv + used, capacity - used, "%s,%.3f\n", when, values[i]);
    }
    *size = used;
    return csv;
}

/* inputs [n, LOOKBACK, C] (as recur_gather_windows writes them) -> [LOOKBACK, n, C]. */
static void to_time_major(const float *batch_major, int n, int channels, float *time_major)
{
    for (int b = 0; b < n; b++)
        for (int t = 0; t < LOOKBACK; t++)
            memcpy(time_major + ((size_t)t * n + b) * channels,
                   batch_major + ((size_t)b * LOOKBACK + t) * channels, sizeof(float) * channels);
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 300;
    static int64_t times[HOURS];
    static float readings[HOURS];
    int n = make_readings(times, readings);
    size_t csv_size;
    char *csv = n > 0 ? readings_csv(times, readings, n, &csv_size) : NULL;
    if (!csv)
        return fail("readings");

    /* Table -> regular hourly series; gaps and NA filled linearly, and a
     * channel "load.missing" marks the filled hours. */
    recur_table *table;
    if (recur_table_parse(csv, csv_size, "readings", ',', 1, &table) != RECUR_OK)
        return fail("table");
    free(csv);
    recur_series_options options = recur_series_options_default();
    options.time = "time";
    options.targets = "load";
    options.features = "";
    options.fill = RECUR_FILL_LINEAR;
    recur_series *series;
    if (recur_series_from_table(table, &options, &series) != RECUR_OK)
        return fail("series");
    recur_table_free(table);
    const int64_t rows = series->steps, fit_rows = rows - HOLDOUT;
    const int channels = series->channels, target = series->target_index[0];
    char freq_text[16];
    recur_freq_format(series->freq, freq_text, sizeof freq_text);
    printf("series: %lld steps of %s, %d channels, %lld slots filled\n", (long long)rows,
           freq_text, channels, (long long)series->report.column[0].filled);

    /* Scaled copy of the values, statistics from the training rows only. */
    recur_scaler *scaler;
    float *scaled = malloc(sizeof(float) * (size_t)rows * channels);
    if (!scaled)
        return 1;
    memcpy(scaled, series->values, sizeof(float) * (size_t)rows * channels);
    if (recur_scaler_fit(scaled, rows, channels, fit_rows, RECUR_SCALER_ZSCORE, NULL, &scaler) !=
        RECUR_OK)
        return fail("scaler");
    recur_scaler_apply(scaler, scaled, rows);

    /* Training windows end before the holdout; test windows start in it. */
    int64_t train_count, test_count;
    recur_window *train = malloc(sizeof *train * (size_t)rows);
    recur_window *test = malloc(sizeof *test * (size_t)rows);
    if (!train || !test)
        return 1;
    if (recur_rolling_windows(rows, LOOKBACK, HORIZON, LOOKBACK, fit_rows - HORIZON + 1, 1, train,
                              rows, &train_count) != RECUR_OK ||
        recur_rolling_windows(rows, LOOKBACK, HORIZON, fit_rows, rows, HORIZON, test, rows,
                              &test_count) != RECUR_OK)
        return fail("windows");

    /* LSTM -> last state -> Linear to the HORIZON next values, MSE, Adam. */
    recur_seqnet_config config = recur_seqnet_config_default(RECUR_LSTM, channels, 32, HORIZON);
    recur_seqnet *net;
    recur_optimizer *adam;
    recur_optimizer_config adam_config = recur_optimizer_config_default(RECUR_ADAM);
    adam_config.lr = 0.01f;
    if (recur_seqnet_create(&config, 3, &net) != RECUR_OK ||
        recur_optimizer_create(&adam_config, &adam) != RECUR_OK)
        return fail("model");
    for (int i = 0; i < recur_seqnet_param_count(net); i++) {
        recur_param p;
        if (recur_seqnet_param(net, i, &p) != RECUR_OK ||
            recur_optimizer_add(adam, p.value, p.grad, p.numel) != RECUR_OK)
            return fail("register parameters");
    }
    const size_t window_floats = (size_t)LOOKBACK * channels;
    float *gathered = malloc(sizeof(float) * window_floats * (size_t)(test_count > BATCH ? test_count : BATCH));
    float *inputs = malloc(sizeof(float) * window_floats * (size_t)(test_count > BATCH ? test_count : BATCH));
    float targets[BATCH * HORIZON], grad[BATCH * HORIZON];
    if (!gathered || !inputs)
        return 1;
    recur_seqnet_set_training(net, 1);
    uint64_t pick = 1;
    for (int step = 1; step <= steps; step++) {
        recur_window batch[BATCH];
        for (int b = 0; b < BATCH; b++) {
            pick = pick * 6364136223846793005u + 1442695040888963407u;
            batch[b] = train[(pick >> 33) % (uint64_t)train_count];
        }
        const float *forecast;
        float loss;
        recur_seqnet_zero_grad(net);
        if (recur_gather_windows(scaled, rows, channels, batch, BATCH, gathered, 1, &target,
                                 targets) != RECUR_OK)
            return fail("gather");
        to_time_major(gathered, BATCH, channels, inputs);
        if (recur_seqnet_forward(net, LOOKBACK, BATCH, inputs, NULL, &forecast) != RECUR_OK ||
            recur_elementwise_loss(RECUR_LOSS_MSE, BATCH * HORIZON, forecast, targets, NULL, &loss,
                                   grad) != RECUR_OK ||
            recur_seqnet_backward(net, grad, NULL) != RECUR_OK ||
            recur_optimizer_step(adam) != RECUR_OK)
            return fail("training step");
        if (step == 1 || step % 100 == 0)
            printf("step %4d  train MSE (scaled) %.4f\n", step, loss);
    }
    recur_seqnet_set_training(net, 0);

    /* Holdout: the model against the seasonal-naive forecast, in original units. */
    const int n_test = (int)test_count;
    float *actual = malloc(sizeof(float) * (size_t)n_test * HORIZON);
    float *model = malloc(sizeof(float) * (size_t)n_test * HORIZON);
    float *naive = malloc(sizeof(float) * (size_t)n_test * HORIZON);
    int64_t *origins = malloc(sizeof(int64_t) * (size_t)n_test);
    if (!actual || !model || !naive || !origins)
        return 1;
    const float *forecast;
    if (recur_gather_windows(scaled, rows, channels, test, n_test, gathered, 0, NULL, NULL) !=
            RECUR_OK ||
        recur_gather_windows(series->values, rows, channels, test, n_test, NULL, 1, &target,
                             actual) != RECUR_OK)
        return fail("gather holdout");
    to_time_major(gathered, n_test, channels, inputs);
    if (recur_seqnet_forward(net, LOOKBACK, n_test, inputs, NULL, &forecast) != RECUR_OK)
        return fail("forecast holdout");
    memcpy(model, forecast, sizeof(float) * (size_t)n_test * HORIZON);
    /* n_test * HORIZON values, all of the target channel. */
    if (recur_scaler_inverse_channels(scaler, model, (int64_t)n_test * HORIZON, 1, &target) !=
        RECUR_OK)
        return fail("unscale");
    int candidates[4], period;
    int candidate_count = recur_season_candidates(series->freq, candidates);
    double strength, mase_scale;
    if (recur_detect_season(series->values + target, fit_rows, channels, candidates,
                            candidate_count, &period, &strength) != RECUR_OK)
        return fail("season");
    for (int i = 0; i < n_test; i++)
        origins[i] = test[i].origin;
    recur_forecast_metric model_score, naive_score;
    if (recur_naive_forecast(series->values + target, rows, channels, origins, n_test, HORIZON,
                             period, naive) != RECUR_OK ||
        recur_mase_scale(series->values + target, fit_rows, channels, period, &mase_scale) !=
            RECUR_OK ||
        recur_forecast_metrics(actual, model, n_test, HORIZON, mase_scale, NULL, &model_score) !=
            RECUR_OK ||
        recur_forecast_metrics(actual, naive, n_test, HORIZON, mase_scale, NULL, &naive_score) !=
            RECUR_OK)
        return fail("scores");
    printf("season: %d steps (autocorrelation %.2f)\n", period, strength);
    printf("holdout, %d origins x %d steps:  LSTM MAE %.3f MASE %.3f   seasonal naive MAE %.3f "
           "MASE %.3f\n",
           n_test, HORIZON, model_score.mae, model_score.mase, naive_score.mae, naive_score.mase);

    /* The next HORIZON hours after the data, from the last LOOKBACK rows
     * (one sequence: [LOOKBACK, 1, C] is just those rows). */
    if (recur_seqnet_forward(net, LOOKBACK, 1, scaled + (size_t)(rows - LOOKBACK) * channels, NULL,
                             &forecast) != RECUR_OK)
        return fail("forecast");
    float next[HORIZON];
    memcpy(next, forecast, sizeof next);
    if (recur_scaler_inverse_channels(scaler, next, HORIZON, 1, &target) != RECUR_OK)
        return fail("unscale");
    printf("forecast of the next %d steps:\n", HORIZON);
    for (int h = 0; h < HORIZON; h++) {
        char when[32];
        recur_time_format(recur_freq_add(series->times[rows - 1], series->freq, h + 1),
                          series->freq, when, sizeof when);
        printf("  %s  %.2f\n", when, next[h]);
    }

    free(actual), free(model), free(naive), free(origins), free(gathered), free(inputs);
    free(train), free(test), free(scaled);
    recur_optimizer_free(adam);
    recur_seqnet_free(net);
    recur_scaler_free(scaler);
    recur_series_free(series);
    return 0;
}
