/* Per-channel scaling fit on training rows (see recur.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

static recur_status scaler_alloc(recur_scaler_kind kind, int channels, recur_scaler **out)
{
    recur_scaler *s = calloc(1, sizeof *s);
    if (s) {
        s->offset = calloc((size_t)channels, sizeof *s->offset);
        s->scale = calloc((size_t)channels, sizeof *s->scale);
    }
    if (!s || !s->offset || !s->scale) {
        recur_scaler_free(s);
        return recur_fail(RECUR_E_NOMEM, "scaler: out of memory");
    }
    s->kind = kind;
    s->channels = channels;
    *out = s;
    return RECUR_OK;
}

void recur_scaler_free(recur_scaler *s)
{
    if (!s)
        return;
    free(s->offset);
    free(s->scale);
    free(s);
}

recur_status recur_scaler_fit(const float *values, int64_t rows, int channels, int64_t fit_rows,
                              recur_scaler_kind kind, const unsigned char *mask,
                              recur_scaler **out)
{
    if (!out)
        return recur_fail(RECUR_E_INVALID, "scaler: NULL argument");
    *out = NULL;
    if (!values || channels < 1 || rows < 1 || fit_rows < 1 || fit_rows > rows ||
        (unsigned)kind > RECUR_SCALER_MINMAX)
        return recur_fail(RECUR_E_INVALID, "scaler: need values, channels >= 1 and 1 <= fit_rows "
                          "(%lld) <= rows (%lld)", (long long)fit_rows, (long long)rows);
    RECUR_TRY(scaler_alloc(kind, channels, out));
    recur_scaler *s = *out;
    for (int c = 0; c < channels; c++) {
        double offset = 0, scale = 1;
        if (kind != RECUR_SCALER_NONE && (!mask || mask[c])) {
            double sum = 0, lo = INFINITY, hi = -INFINITY;
            int64_t n = 0;
            for (int64_t r = 0; r < fit_rows; r++) {
                double v = values[(size_t)r * (size_t)channels + (size_t)c];
                if (!isfinite(v))
                    continue;
                sum += v;
                n++;
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
            if (n && kind == RECUR_SCALER_ZSCORE) {
                double mean = sum / (double)n, ss = 0;
                for (int64_t r = 0; r < fit_rows; r++) {
                    double v = values[(size_t)r * (size_t)channels + (size_t)c];
                    if (isfinite(v))
                        ss += (v - mean) * (v - mean);
                }
                offset = mean;
                scale = sqrt(ss / (double)n);
            } else if (n) {
                offset = lo;
                scale = hi - lo;
            }
            /* Constant channel: keep the offset, do not divide by (nearly) zero. */
            if (!(scale > 1e-12 * (fabs(offset) > 1 ? fabs(offset) : 1)) || !isfinite(scale) ||
                (float)scale == 0.0f)
                scale = 1;
        }
        s->offset[c] = (float)offset;
        s->scale[c] = (float)scale;
    }
    return RECUR_OK;
}

recur_status recur_scaler_from_arrays(recur_scaler_kind kind, int channels, const float *offset,
                                      const float *scale, recur_scaler **out)
{
    if (!out)
        return recur_fail(RECUR_E_INVALID, "scaler: NULL argument");
    *out = NULL;
    if (!offset || !scale || channels < 1 || (unsigned)kind > RECUR_SCALER_MINMAX)
        return recur_fail(RECUR_E_INVALID, "scaler: bad arrays");
    for (int c = 0; c < channels; c++)
        if (!isfinite(offset[c]) || !isfinite(scale[c]) || scale[c] == 0.0f)
            return recur_fail(RECUR_E_FORMAT, "scaler: channel %d has offset %g, scale %g", c,
                              (double)offset[c], (double)scale[c]);
    RECUR_TRY(scaler_alloc(kind, channels, out));
    memcpy((*out)->offset, offset, (size_t)channels * sizeof *offset);
    memcpy((*out)->scale, scale, (size_t)channels * sizeof *scale);
    return RECUR_OK;
}

void recur_scaler_apply(const recur_scaler *s, float *values, int64_t rows)
{
    if (!s || !values)
        return;
    for (int64_t r = 0; r < rows; r++)
        for (int c = 0; c < s->channels; c++) {
            float *v = &values[(size_t)r * (size_t)s->channels + (size_t)c];
            *v = (*v - s->offset[c]) / s->scale[c];
        }
}

void recur_scaler_inverse(const recur_scaler *s, float *values, int64_t rows)
{
    if (!s || !values)
        return;
    for (int64_t r = 0; r < rows; r++)
        for (int c = 0; c < s->channels; c++) {
            float *v = &values[(size_t)r * (size_t)s->channels + (size_t)c];
            *v = *v * s->scale[c] + s->offset[c];
        }
}

static recur_status check_index(const recur_scaler *s, const float *values, int count,
                                const int *index)
{
    if (!s || !values || !index || count < 1)
        return recur_fail(RECUR_E_INVALID, "scaler: NULL argument or count < 1");
    for (int j = 0; j < count; j++)
        if (index[j] < 0 || index[j] >= s->channels)
            return recur_fail(RECUR_E_INVALID, "scaler: channel index %d out of range [0, %d)",
                              index[j], s->channels);
    return RECUR_OK;
}

recur_status recur_scaler_apply_channels(const recur_scaler *s, float *values, int64_t rows,
                                         int count, const int *index)
{
    RECUR_TRY(check_index(s, values, count, index));
    for (int64_t r = 0; r < rows; r++)
        for (int j = 0; j < count; j++) {
            float *v = &values[(size_t)r * (size_t)count + (size_t)j];
            *v = (*v - s->offset[index[j]]) / s->scale[index[j]];
        }
    return RECUR_OK;
}

recur_status recur_scaler_inverse_channels(const recur_scaler *s, float *values, int64_t rows,
                                           int count, const int *index)
{
    RECUR_TRY(check_index(s, values, count, index));
    for (int64_t r = 0; r < rows; r++)
        for (int j = 0; j < count; j++) {
            float *v = &values[(size_t)r * (size_t)count + (size_t)j];
            *v = *v * s->scale[index[j]] + s->offset[index[j]];
        }
    return RECUR_OK;
}

static const char *const kind_names[] = {"none", "zscore", "minmax"};

recur_status recur_scaler_kind_parse(const char *text, recur_scaler_kind *out)
{
    if (text && out) {
        for (int i = 0; i < 3; i++)
            if (!strcmp(text, kind_names[i])) {
                *out = (recur_scaler_kind)i;
                return RECUR_OK;
            }
        if (!strcmp(text, "standard")) {
            *out = RECUR_SCALER_ZSCORE;
            return RECUR_OK;
        }
    }
    return recur_fail(RECUR_E_INVALID, "scaler '%s': expected none, zscore or minmax",
                      text ? text : "(null)");
}

const char *recur_scaler_kind_name(recur_scaler_kind kind)
{
    return (unsigned)kind <= RECUR_SCALER_MINMAX ? kind_names[kind] : "?";
}

static int key(char *buf, size_t size, const char *prefix, const char *name)
{
    return snprintf(buf, size, "%s%s", prefix ? prefix : "", name) < (int)size;
}

recur_status recur_scaler_write(const recur_scaler *s, recur_st_writer *writer,
                                const char *prefix)
{
    char k[256];
    if (!s || !writer)
        return recur_fail(RECUR_E_INVALID, "scaler: NULL argument");
    int64_t shape[1] = {s->channels};
    if (!key(k, sizeof k, prefix, "offset"))
        return recur_fail(RECUR_E_INVALID, "scaler: prefix too long");
    RECUR_TRY(recur_st_writer_add(writer, k, RECUR_F32, 1, shape, s->offset));
    key(k, sizeof k, prefix, "scale");
    RECUR_TRY(recur_st_writer_add(writer, k, RECUR_F32, 1, shape, s->scale));
    key(k, sizeof k, prefix, "kind");
    return recur_st_writer_set_metadata(writer, k, recur_scaler_kind_name(s->kind));
}

recur_status recur_scaler_read(const recur_st_file *file, const char *prefix, recur_scaler **out)
{
    char k[256];
    if (!file || !out)
        return recur_fail(RECUR_E_INVALID, "scaler: NULL argument");
    *out = NULL;
    if (!key(k, sizeof k, prefix, "kind"))
        return recur_fail(RECUR_E_INVALID, "scaler: prefix too long");
    const char *kind_text = recur_st_metadata(file, k);
    recur_scaler_kind kind = RECUR_SCALER_ZSCORE; /* set by the parse below */
    if (!kind_text)
        return recur_fail(RECUR_E_FORMAT, "%s: no metadata %s", recur_st_label(file), k);
    RECUR_TRY(recur_scaler_kind_parse(kind_text, &kind));
    key(k, sizeof k, prefix, "offset");
    const recur_tensor_view *off = recur_st_find(file, k);
    key(k, sizeof k, prefix, "scale");
    const recur_tensor_view *sc = recur_st_find(file, k);
    if (!off || !sc || off->ndim != 1 || sc->ndim != 1 || off->numel != sc->numel ||
        off->numel < 1 || off->numel > (size_t)1 << 30)
        return recur_fail(RECUR_E_SHAPE, "%s: scaler tensors %soffset/%sscale missing or of "
                          "different shapes", recur_st_label(file), prefix ? prefix : "",
                          prefix ? prefix : "");
    int channels = (int)off->numel;
    float *a = malloc(off->numel * sizeof *a), *b = malloc(off->numel * sizeof *b);
    recur_status st = (!a || !b) ? recur_fail(RECUR_E_NOMEM, "scaler: out of memory") : RECUR_OK;
    if (st == RECUR_OK)
        st = recur_tensor_to_f32(off, a, off->numel);
    if (st == RECUR_OK)
        st = recur_tensor_to_f32(sc, b, sc->numel);
    if (st == RECUR_OK)
        st = recur_scaler_from_arrays(kind, channels, a, b, out);
    free(a);
    free(b);
    return st;
}
