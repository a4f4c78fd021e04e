/* Scaling fit on training rows, rolling-origin windows, naive baselines,
 * forecast metrics and seasonal period detection. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static const char *shared = "../shared/data";
static const char *scratch = ".";

static int near(double a, double b) { return fabs(a - b) <= 1e-6 * (1 + fabs(b)); }

static void test_scaler(void)
{
    /* 4 rows x 3 channels; the scaler sees rows 0-1 only. */
    float v[12] = {1, 5, 0, 3, 5, 4, 100, -7, 1e6f, -5, 9, -3};
    recur_scaler *z = NULL, *m = NULL, *z2 = NULL;
    CHECK_OK(recur_scaler_fit(v, 4, 3, 2, RECUR_SCALER_ZSCORE, NULL, &z));
    CHECK_OK(recur_scaler_fit(v, 4, 3, 2, RECUR_SCALER_MINMAX, NULL, &m));
    if (!z || !m)
        return;
    CHECK(z->kind == RECUR_SCALER_ZSCORE && z->channels == 3);
    CHECK(z->offset[0] == 2 && z->scale[0] == 1);
    CHECK(z->offset[1] == 5 && z->scale[1] == 1); /* constant: no division by zero */
    CHECK(z->offset[2] == 2 && z->scale[2] == 2);
    CHECK(m->offset[0] == 1 && m->scale[0] == 2);
    CHECK(m->offset[1] == 5 && m->scale[1] == 1);
    CHECK(m->offset[2] == 0 && m->scale[2] == 4);
    /* Changing the test rows does not change the scaler. */
    float w[12];
    memcpy(w, v, sizeof w);
    for (int i = 6; i < 12; i++)
        w[i] = (float)(i * i) - 1000;
    CHECK_OK(recur_scaler_fit(w, 4, 3, 2, RECUR_SCALER_ZSCORE, NULL, &z2));
    CHECK(z2 && !memcmp(z2->offset, z->offset, 3 * sizeof(float)) &&
          !memcmp(z2->scale, z->scale, 3 * sizeof(float)));
    recur_scaler_free(z2);
    /* Apply, inverse. */
    float a[12];
    memcpy(a, v, sizeof a);
    recur_scaler_apply(z, a, 4);
    CHECK(a[0] == -1 && a[3] == 1 && a[1] == 0 && a[4] == 0 && a[2] == -1 && a[5] == 1);
    CHECK(a[6] == 98 && a[7] == -12);
    recur_scaler_inverse(z, a, 4);
    CHECK(test_rel_error(a, v, 12, 1.0) < 1e-6);
    memcpy(a, v, sizeof a);
    recur_scaler_apply(m, a, 4);
    CHECK(a[0] == 0 && a[3] == 1 && a[2] == 0 && a[5] == 1 && a[1] == 0);
    /* Target channels only: [rows, 2] holding channels 2 and 0. */
    float t[4] = {4, 3, 0, 1};
    int idx[2] = {2, 0};
    CHECK_OK(recur_scaler_apply_channels(z, t, 2, 2, idx));
    CHECK(t[0] == 1 && t[1] == 1 && t[2] == -1 && t[3] == -1);
    CHECK_OK(recur_scaler_inverse_channels(z, t, 2, 2, idx));
    CHECK(t[0] == 4 && t[1] == 3 && t[2] == 0 && t[3] == 1);
    int bad_idx[1] = {3};
    CHECK_STATUS(recur_scaler_inverse_channels(z, t, 2, 1, bad_idx), RECUR_E_INVALID);
    /* Mask: channel 1 left alone; NaN skipped in the fit and kept. */
    float n[6] = {NAN, 2, 4, 3, 2, 8};
    unsigned char mask[2] = {1, 0};
    recur_scaler *k = NULL;
    CHECK_OK(recur_scaler_fit(n, 3, 2, 3, RECUR_SCALER_ZSCORE, mask, &k));
    CHECK(k && k->offset[0] == 3 && k->scale[0] == 1 && k->offset[1] == 0 && k->scale[1] == 1);
    if (k) {
        recur_scaler_apply(k, n, 3);
        CHECK(isnan(n[0]) && n[2] == 1 && n[3] == 3);
    }
    recur_scaler_free(k);
    /* A channel with no finite value. */
    float allnan[2] = {NAN, NAN};
    CHECK_OK(recur_scaler_fit(allnan, 2, 1, 2, RECUR_SCALER_MINMAX, NULL, &k));
    CHECK(k && k->offset[0] == 0 && k->scale[0] == 1);
    recur_scaler_free(k);
    CHECK_STATUS(recur_scaler_fit(v, 4, 3, 5, RECUR_SCALER_ZSCORE, NULL, &k), RECUR_E_INVALID);
    CHECK_STATUS(recur_scaler_fit(v, 4, 3, 0, RECUR_SCALER_ZSCORE, NULL, &k), RECUR_E_INVALID);
    /* Arrays and safetensors round trips. */
    CHECK_OK(recur_scaler_from_arrays(RECUR_SCALER_MINMAX, 3, m->offset, m->scale, &k));
    CHECK(k && k->kind == RECUR_SCALER_MINMAX && !memcmp(k->scale, m->scale, 3 * sizeof(float)));
    recur_scaler_free(k);
    float zero[1] = {0};
    CHECK_STATUS(recur_scaler_from_arrays(RECUR_SCALER_MINMAX, 1, zero, zero, &k),
                 RECUR_E_FORMAT);
    char path[512];
    snprintf(path, sizeof path, "%s/scaler_roundtrip.safetensors", scratch);
    recur_st_writer *wr = NULL;
    CHECK_OK(recur_st_writer_create(&wr));
    CHECK_OK(recur_scaler_write(z, wr, "scaler."));
    CHECK_OK(recur_st_writer_save(wr, path));
    recur_st_writer_free(wr);
    recur_st_file *f = NULL;
    CHECK_OK(recur_st_open(path, &f));
    if (f) {
        CHECK_OK(recur_scaler_read(f, "scaler.", &k));
        CHECK(k && k->kind == RECUR_SCALER_ZSCORE && k->channels == 3 &&
              !memcmp(k->offset, z->offset, 3 * sizeof(float)) &&
              !memcmp(k->scale, z->scale, 3 * sizeof(float)));
        recur_scaler_free(k);
        CHECK_STATUS(recur_scaler_read(f, "other.", &k), RECUR_E_FORMAT);
        recur_st_close(f);
    }
    remove(path);
    recur_scaler_kind kind;
    CHECK_OK(recur_scaler_kind_parse("standard", &kind));
    CHECK(kind == RECUR_SCALER_ZSCORE && !strcmp(recur_scaler_kind_name(RECUR_SCALER_MINMAX),
                                                 "minmax"));
    recur_scaler_free(z);
    recur_scaler_free(m);
}

/* Proof-style: for every window of several layouts, every input row is
 * strictly before the origin and every target row at or after it. */
static void test_windows(void)
{
    enum { STEPS = 40, C = 3 };
    float values[STEPS * C];
    for (int r = 0; r < STEPS; r++)
        for (int c = 0; c < C; c++)
            values[r * C + c] = (float)r + 0.1f * (float)c;
    int violations = 0, windows_seen = 0;
    for (int64_t W = 1; W <= 9; W += 2)
        for (int64_t H = 1; H <= 7; H += 3)
            for (int64_t stride = 1; stride <= 3; stride++)
                for (int64_t start = 0; start <= 12; start += 6) {
                    int64_t end = STEPS + 5, count = -1;
                    CHECK_OK(recur_rolling_windows(STEPS, W, H, start, end, stride, NULL, 0,
                                                   &count));
                    recur_window *w = malloc((size_t)(count ? count : 1) * sizeof *w);
                    int64_t again = 0;
                    CHECK_OK(recur_rolling_windows(STEPS, W, H, start, end, stride, w, count,
                                                   &again));
                    CHECK(again == count);
                    int64_t first = start > W ? start : W;
                    int64_t expect = (STEPS - H + 1 - first + stride - 1) / stride;
                    CHECK(count == (expect > 0 ? expect : 0));
                    float *in = malloc((size_t)(count ? count : 1) * (size_t)(W * C) * sizeof *in);
                    float *tg = malloc((size_t)(count ? count : 1) * (size_t)H * 2 * sizeof *tg);
                    int tidx[2] = {2, 0};
                    CHECK_OK(recur_gather_windows(values, STEPS, C, w, count, in, 2, tidx, tg));
                    for (int64_t i = 0; i < count; i++) {
                        int64_t o = w[i].origin;
                        windows_seen++;
                        violations += o < W || o + H > STEPS || (i && o != w[i - 1].origin + stride);
                        for (int64_t j = 0; j < W; j++)
                            for (int c = 0; c < C; c++) {
                                float row = floorf(in[(i * W + j) * C + c]);
                                violations += row >= (float)o || row != (float)(o - W + j);
                            }
                        for (int64_t h = 0; h < H; h++) {
                            float r0 = tg[(i * H + h) * 2 + 1], r2 = tg[(i * H + h) * 2];
                            violations += r0 != (float)(o + h) || floorf(r2) != (float)(o + h) ||
                                          r0 < (float)o;
                        }
                    }
                    free(in);
                    free(tg);
                    free(w);
                }
    CHECK(violations == 0 && windows_seen > 1000);
    int64_t count;
    CHECK_OK(recur_rolling_windows(10, 8, 4, 0, 100, 1, NULL, 0, &count));
    CHECK(count == 0);
    recur_window w[3];
    CHECK_OK(recur_rolling_windows(10, 3, 2, 5, 8, 2, w, 3, &count));
    CHECK(count == 2 && w[0].origin == 5 && w[0].input_start == 2 && w[0].input_end == 5 &&
          w[0].target_start == 5 && w[0].target_end == 7 && w[1].origin == 7);
    w[1].input_start = 5; /* a window that reaches the origin is refused */
    CHECK_STATUS(recur_gather_windows(values, STEPS, C, w, 2, NULL, 0, NULL, NULL),
                 RECUR_E_INVALID);
    CHECK_STATUS(recur_rolling_windows(10, 0, 2, 0, 10, 1, NULL, 0, &count), RECUR_E_INVALID);
}

static void test_baselines_and_metrics(void)
{
    float x[6] = {10, 20, 30, 40, 50, 60}, f[6];
    int64_t origins[2] = {4, 6};
    CHECK_OK(recur_naive_forecast(x, 6, 1, origins, 2, 3, 1, f));
    CHECK(f[0] == 40 && f[1] == 40 && f[2] == 40 && f[3] == 60 && f[5] == 60);
    CHECK_OK(recur_naive_forecast(x, 6, 1, origins, 2, 3, 2, f));
    CHECK(f[0] == 30 && f[1] == 40 && f[2] == 30 && f[3] == 50 && f[4] == 60 && f[5] == 50);
    /* Strided (channel 1 of [3, 2] data). */
    float xs[6] = {0, 1, 0, 2, 0, 3};
    int64_t o3 = 3;
    CHECK_OK(recur_naive_forecast(xs + 1, 3, 2, &o3, 1, 2, 0, f));
    CHECK(f[0] == 3 && f[1] == 3);
    int64_t early = 1;
    CHECK_STATUS(recur_naive_forecast(x, 6, 1, &early, 1, 3, 2, f), RECUR_E_INVALID);

    float y[5] = {1, 3, 2, 5, 4};
    double scale;
    CHECK_OK(recur_mase_scale(y, 5, 1, 1, &scale));
    CHECK(near(scale, 7.0 / 4));
    CHECK_OK(recur_mase_scale(y, 5, 1, 2, &scale));
    CHECK(near(scale, 5.0 / 3));
    CHECK_OK(recur_mase_scale(y, 3, 1, 0, &scale));
    CHECK(near(scale, 1.5));
    CHECK_OK(recur_mase_scale(y, 1, 1, 1, &scale));
    CHECK(isnan(scale));

    float actual[4] = {1, 2, 3, 4}, forecast[4] = {2, 2, 1, 8};
    recur_forecast_metric step[2], all;
    CHECK_OK(recur_forecast_metrics(actual, forecast, 2, 2, 0.5, step, &all));
    CHECK(step[0].count == 2 && near(step[0].mae, 1.5) && near(step[0].rmse, sqrt(2.5)) &&
          near(step[0].smape, 100.0 * (1.0 / 3 + 0.5)) && near(step[0].mase, 3));
    CHECK(near(step[1].mae, 2) && near(step[1].rmse, sqrt(8.0)) &&
          near(step[1].smape, 100.0 / 3) && near(step[1].mase, 4));
    CHECK(all.count == 4 && near(all.mae, 1.75) && near(all.rmse, sqrt(5.25)) &&
          near(all.smape, 50.0 * (1.0 / 3 + 0.5 + 1.0 / 3)) && near(all.mase, 3.5));
    /* 0/0 counts 0 in sMAPE; NaN pairs are left out; a zero scale gives NaN MASE. */
    float a2[3] = {0, NAN, 2}, f2[3] = {0, 5, -2};
    CHECK_OK(recur_forecast_metrics(a2, f2, 3, 1, 0.0, NULL, &all));
    CHECK(all.count == 2 && near(all.mae, 2) && near(all.smape, 100.0) && isnan(all.mase));
    CHECK_OK(recur_forecast_metrics(a2 + 1, f2 + 1, 1, 1, 1.0, step, NULL));
    CHECK(step[0].count == 0 && isnan(step[0].mae));
}

static void test_season(void)
{
    enum { N = 120 };
    float x[N];
    for (int t = 0; t < N; t++)
        x[t] = (float)(sin(2 * 3.14159265358979323846 * t / 12.0) + 0.01 * t);
    int p = -1;
    double strength = 0;
    CHECK_OK(recur_detect_season(x, N, 1, NULL, 0, &p, &strength));
    CHECK(p == 12 && strength > 0.8);
    int cands[3] = {4, 24, 12};
    CHECK_OK(recur_detect_season(x, N, 1, cands, 3, &p, NULL));
    CHECK(p == 12);
    for (int t = 0; t < N; t++)
        x[t] = (float)(3.0 * t - 7);
    CHECK_OK(recur_detect_season(x, N, 1, NULL, 0, &p, &strength));
    CHECK(p == 0 && strength == 0); /* a line has no season */
    uint64_t s = 12345;
    for (int t = 0; t < N; t++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[t] = (float)((s >> 11) * (1.0 / 9007199254740992.0));
    }
    CHECK_OK(recur_detect_season(x, N, 1, cands, 3, &p, &strength));
    CHECK(p == 0); /* noise */
    x[3] = NAN;
    CHECK_STATUS(recur_detect_season(x, N, 1, NULL, 0, &p, NULL), RECUR_E_INVALID);

    int c[4];
    CHECK(recur_season_candidates((recur_freq){3600, 0}, c) == 2 && c[0] == 24 && c[1] == 168);
    CHECK(recur_season_candidates((recur_freq){86400, 0}, c) == 2 && c[0] == 7 && c[1] == 365);
    CHECK(recur_season_candidates((recur_freq){604800, 0}, c) == 1 && c[0] == 52);
    CHECK(recur_season_candidates((recur_freq){0, 1}, c) == 1 && c[0] == 12);
    CHECK(recur_season_candidates((recur_freq){0, 3}, c) == 1 && c[0] == 4);
    CHECK(recur_season_candidates((recur_freq){0, 12}, c) == 0);
    CHECK(recur_season_candidates((recur_freq){900, 0}, c) == 3 && c[0] == 4 && c[1] == 96 &&
          c[2] == 672);
}

/* Loads one target column of a shared CSV as a series (NULL when absent). */
static recur_series *load_shared(const char *file, const char *time, const char *target)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", shared, file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("skip: %s absent\n", path);
        return NULL;
    }
    fclose(f);
    recur_table *t = NULL;
    recur_series *s = NULL;
    CHECK_OK(recur_table_read(path, 0, 1, &t));
    recur_series_options o = recur_series_options_default();
    o.time = time;
    o.targets = target;
    if (t)
        CHECK_OK(recur_series_from_table(t, &o, &s));
    recur_table_free(t);
    return s;
}

static void test_shared_seasons(void)
{
    recur_series *s = load_shared("airline-passengers.csv", "Month", "Passengers");
    if (s) {
        int p = -1, c[4];
        double strength;
        CHECK(s->steps == 144 && s->freq.months == 1);
        CHECK_OK(recur_detect_season(s->values, s->steps, s->channels, NULL, 0, &p, &strength));
        CHECK(p == 12);
        printf("airline passengers: period %d (r = %.3f)\n", p, strength);
        int n = recur_season_candidates(s->freq, c);
        CHECK_OK(recur_detect_season(s->values, s->steps, s->channels, c, n, &p, NULL));
        CHECK(p == 12);
        /* Seasonal naive beats naive over the last two years (MASE scale: seasonal, train part). */
        int64_t origins[12];
        for (int i = 0; i < 12; i++)
            origins[i] = 120 + i;
        float actual[12 * 12], naive[12 * 12], snaive[12 * 12];
        for (int i = 0; i < 12; i++)
            for (int h = 0; h < 12; h++)
                actual[i * 12 + h] = s->values[(origins[i] + h) * s->channels];
        double scale;
        CHECK_OK(recur_mase_scale(s->values, 120, s->channels, 12, &scale));
        CHECK_OK(recur_naive_forecast(s->values, s->steps, s->channels, origins, 12, 12, 1, naive));
        CHECK_OK(recur_naive_forecast(s->values, s->steps, s->channels, origins, 12, 12, 12,
                                      snaive));
        recur_forecast_metric mn, ms;
        CHECK_OK(recur_forecast_metrics(actual, naive, 12, 12, scale, NULL, &mn));
        CHECK_OK(recur_forecast_metrics(actual, snaive, 12, 12, scale, NULL, &ms));
        CHECK(ms.mae < mn.mae && ms.count == 144);
        printf("airline passengers, 12 origins x 12 months: naive MAE %.2f sMAPE %.2f%% MASE %.3f; "
               "seasonal naive MAE %.2f sMAPE %.2f%% MASE %.3f\n", mn.mae, mn.smape, mn.mase,
               ms.mae, ms.smape, ms.mase);
        recur_series_free(s);
    }
    s = load_shared("daily-min-temperatures.csv", "Date", "Temp");
    if (s) {
        int p = -1, c[4];
        double strength;
        int n = recur_season_candidates(s->freq, c);
        CHECK_OK(recur_detect_season(s->values, s->steps, s->channels, c, n, &p, &strength));
        CHECK(p == 365);
        printf("daily minimum temperatures: period %d (r = %.3f)\n", p, strength);
        recur_series_free(s);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1)
        shared = argv[1];
    if (argc > 2)
        scratch = argv[2];
    test_scaler();
    test_windows();
    test_baselines_and_metrics();
    test_season();
    test_shared_seasons();
    return test_finish("test_forecast_eval");
}
