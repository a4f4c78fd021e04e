/* Forecast evaluation: seasonality, rolling origins, baselines, metrics (see recur.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

recur_status recur_detect_season(const float *x, int64_t n, int64_t stride, const int *candidates,
                                 int candidate_count, int *period, double *strength)
{
    if (!x || !period || n < 4 || stride < 1 || candidate_count < 0 ||
        (candidate_count > 0 && !candidates))
        return recur_fail(RECUR_E_INVALID, "season: need a series of at least 4 values");
    *period = 0;
    if (strength)
        *strength = 0;
    int64_t max_period = n / 2;
    if (candidates) {
        int64_t top = 0;
        for (int i = 0; i < candidate_count; i++)
            top = candidates[i] > top ? candidates[i] : top;
        max_period = top < max_period ? top : max_period;
    } else if (max_period > 1000) {
        max_period = 1000;
    }
    if (max_period < 2)
        return RECUR_OK;
    double *y = malloc((size_t)n * sizeof *y);
    double *r = malloc((size_t)(max_period + 2) * sizeof *r);
    if (!y || !r) {
        free(y);
        free(r);
        return recur_fail(RECUR_E_NOMEM, "season: out of memory");
    }
    /* Least-squares line over i = 0..n-1. */
    double si = 0, sy = 0, sii = 0, siy = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[(size_t)i * (size_t)stride];
        if (!isfinite(v)) {
            free(y);
            free(r);
            return recur_fail(RECUR_E_INVALID, "season: value %lld is not finite", (long long)i);
        }
        y[i] = v;
        si += (double)i;
        sy += v;
        sii += (double)i * (double)i;
        siy += (double)i * v;
    }
    double dn = (double)n, slope = (dn * siy - si * sy) / (dn * sii - si * si);
    double icept = (sy - slope * si) / dn, var = 0;
    for (int64_t i = 0; i < n; i++) {
        y[i] -= icept + slope * (double)i;
        var += y[i] * y[i];
    }
    if (!(var > 0)) {
        free(y);
        free(r);
        return RECUR_OK;
    }
    int64_t kmax = max_period + 1 < n ? max_period + 1 : n - 1;
    for (int64_t k = 0; k <= kmax; k++) {
        double acc = 0;
        for (int64_t t = 0; t + k < n; t++)
            acc += y[t] * y[t + k];
        r[k] = acc / var;
    }
    double best = -INFINITY, threshold = 4.0 / sqrt(dn);
    int best_p = 0;
    if (threshold < 0.3)
        threshold = 0.3;
    int64_t count = candidates ? candidate_count : max_period - 1;
    for (int64_t i = 0; i < count; i++) {
        int64_t k = candidates ? candidates[i] : i + 2;
        if (k < 2 || k > max_period)
            continue;
        int peak = r[k] > r[k - 1] && (k + 1 > kmax || r[k] >= r[k + 1]);
        double score = r[k] - r[k / 2];
        if ((candidates || peak) && r[k] > 0 && score > best) {
            best = score;
            best_p = (int)k;
        }
    }
    if (best_p && best >= threshold) {
        *period = best_p;
        if (strength)
            *strength = r[best_p];
    }
    free(y);
    free(r);
    return RECUR_OK;
}

int recur_season_candidates(recur_freq freq, int *out)
{
    int n = 0;
    if (!out)
        return 0;
    if (freq.months > 0) {
        if (freq.months < 12 && 12 % freq.months == 0)
            out[n++] = 12 / freq.months;
        return n;
    }
    int64_t f = freq.seconds;
    if (f <= 0)
        return 0;
    static const int64_t spans[3] = {3600, 86400, 604800};
    for (int i = 0; i < 3; i++)
        if (spans[i] % f == 0 && spans[i] / f >= 2)
            out[n++] = (int)(spans[i] / f);
    if (f >= 86400) {
        double year = 365.25 * 86400.0 / (double)f;
        int p = (int)(31536000 % f == 0 ? 31536000 / f : (int64_t)floor(year + 0.5));
        if (p >= 2 && n < 4)
            out[n++] = p;
    }
    return n;
}

recur_status recur_rolling_windows(int64_t steps, int64_t window, int64_t horizon, int64_t start,
                                   int64_t end, int64_t stride, recur_window *out,
                                   int64_t capacity, int64_t *count)
{
    if (!count || window < 1 || horizon < 1 || stride < 1 || steps < 0 || capacity < 0 ||
        (out == NULL && capacity > 0))
        return recur_fail(RECUR_E_INVALID, "windows: need window, horizon, stride >= 1");
    if (start < window)
        start = window;
    if (end > steps - horizon + 1)
        end = steps - horizon + 1;
    *count = end > start ? (end - start + stride - 1) / stride : 0;
    int64_t w = 0;
    for (int64_t o = start; o < end && w < capacity; o += stride, w++)
        out[w] = (recur_window){o, o - window, o, o, o + horizon};
    return RECUR_OK;
}

recur_status recur_gather_windows(const float *values, int64_t steps, int channels,
                                  const recur_window *windows, int64_t n, float *inputs,
                                  int target_count, const int *target_index, float *targets)
{
    if (!values || !windows || channels < 1 || n < 0 || (targets && (!target_index ||
                                                                     target_count < 1)))
        return recur_fail(RECUR_E_INVALID, "windows: bad arguments");
    for (int j = 0; targets && j < target_count; j++)
        if (target_index[j] < 0 || target_index[j] >= channels)
            return recur_fail(RECUR_E_INVALID, "windows: target channel %d out of range",
                              target_index[j]);
    int64_t W = n ? windows[0].input_end - windows[0].input_start : 0;
    int64_t H = n ? windows[0].target_end - windows[0].target_start : 0;
    for (int64_t i = 0; i < n; i++) {
        const recur_window *w = &windows[i];
        if (w->input_start < 0 || w->input_end != w->origin || w->target_start != w->origin ||
            w->target_end > steps || w->input_end - w->input_start != W ||
            w->target_end - w->target_start != H || W < 1 || H < 1)
            return recur_fail(RECUR_E_INVALID, "windows: window %lld (origin %lld) is out of "
                              "range or of another size", (long long)i, (long long)w->origin);
        size_t C = (size_t)channels;
        if (inputs)
            memcpy(inputs + (size_t)i * (size_t)W * C, values + (size_t)w->input_start * C,
                   (size_t)W * C * sizeof *values);
        if (targets)
            for (int64_t h = 0; h < H; h++)
                for (int j = 0; j < target_count; j++)
                    targets[((size_t)i * (size_t)H + (size_t)h) * (size_t)target_count +
                            (size_t)j] = values[(size_t)(w->target_start + h) * C +
                                                (size_t)target_index[j]];
    }
    return RECUR_OK;
}

recur_status recur_naive_forecast(const float *x, int64_t steps, int64_t stride,
                                  const int64_t *origins, int64_t n, int horizon, int period,
                                  float *forecast)
{
    if (!x || !origins || !forecast || stride < 1 || horizon < 1 || period < 0 || n < 0)
        return recur_fail(RECUR_E_INVALID, "naive forecast: bad arguments");
    int64_t p = period < 1 ? 1 : period;
    for (int64_t i = 0; i < n; i++) {
        int64_t o = origins[i];
        if (o < p || o > steps)
            return recur_fail(RECUR_E_INVALID, "naive forecast: origin %lld needs %lld earlier "
                              "values and at most %lld", (long long)o, (long long)p,
                              (long long)steps);
        for (int h = 0; h < horizon; h++) {
            int64_t src = p == 1 ? o - 1 : o - p + (h % p);
            forecast[(size_t)i * (size_t)horizon + (size_t)h] = x[(size_t)src * (size_t)stride];
        }
    }
    return RECUR_OK;
}

recur_status recur_mase_scale(const float *x, int64_t fit_rows, int64_t stride, int period,
                              double *scale)
{
    if (!x || !scale || stride < 1 || period < 0 || fit_rows < 0)
        return recur_fail(RECUR_E_INVALID, "MASE scale: bad arguments");
    int64_t p = period < 1 ? 1 : period, n = 0;
    double sum = 0;
    for (int64_t t = p; t < fit_rows; t++) {
        double d = (double)x[(size_t)t * (size_t)stride] - (double)x[(size_t)(t - p) * (size_t)stride];
        if (isnan(d))
            continue;
        sum += fabs(d);
        n++;
    }
    *scale = n ? sum / (double)n : NAN;
    return RECUR_OK;
}

typedef struct acc {
    int64_t n;
    double abs, sq, sm;
} acc;

static void acc_add(acc *a, double actual, double forecast)
{
    if (isnan(actual) || isnan(forecast))
        return;
    double e = forecast - actual, den = fabs(actual) + fabs(forecast);
    a->n++;
    a->abs += fabs(e);
    a->sq += e * e;
    a->sm += den > 0 ? fabs(e) / den : 0.0;
}

static recur_forecast_metric acc_metric(const acc *a, double scale)
{
    recur_forecast_metric m;
    m.count = a->n;
    if (!a->n) {
        m.mae = m.rmse = m.smape = m.mase = NAN;
        return m;
    }
    m.mae = a->abs / (double)a->n;
    m.rmse = sqrt(a->sq / (double)a->n);
    m.smape = 200.0 * a->sm / (double)a->n;
    m.mase = scale > 0 && isfinite(scale) ? m.mae / scale : NAN;
    return m;
}

recur_status recur_forecast_metrics(const float *actual, const float *forecast, int64_t n_origins,
                                    int horizon, double scale, recur_forecast_metric *per_step,
                                    recur_forecast_metric *overall)
{
    if (!actual || !forecast || n_origins < 0 || horizon < 1)
        return recur_fail(RECUR_E_INVALID, "metrics: bad arguments");
    acc all = {0};
    for (int h = 0; h < horizon; h++) {
        acc step = {0};
        for (int64_t i = 0; i < n_origins; i++) {
            size_t at = (size_t)i * (size_t)horizon + (size_t)h;
            acc_add(&step, actual[at], forecast[at]);
            acc_add(&all, actual[at], forecast[at]);
        }
        if (per_step)
            per_step[h] = acc_metric(&step, scale);
    }
    if (overall)
        *overall = acc_metric(&all, scale);
    return RECUR_OK;
}
