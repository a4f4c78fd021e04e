/* Reading recur classify's examples. */
#include "classify_sources.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cli_util.h"
#include "idx.h"

void cls_texts_free(cls_texts *t)
{
    for (int64_t i = 0; i < t->n; i++)
        free(t->texts[i]), free(t->labels[i]);
    free(t->texts), free(t->lengths), free(t->labels);
    memset(t, 0, sizeof *t);
}

static char *copy_text(const char *text, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, text, n);
        p[n] = '\0';
    }
    return p;
}

static int add_text(cls_texts *t, const char *text, size_t n, const char *label)
{
    if ((size_t)t->n == t->capacity) {
        size_t capacity = t->capacity ? 2 * t->capacity : 1024;
        char **texts = realloc(t->texts, capacity * sizeof *texts);
        if (texts)
            t->texts = texts;
        char **labels = realloc(t->labels, capacity * sizeof *labels);
        if (labels)
            t->labels = labels;
        size_t *lengths = realloc(t->lengths, capacity * sizeof *lengths);
        if (lengths)
            t->lengths = lengths;
        if (!texts || !labels || !lengths)
            return cli_error("out of memory");
        t->capacity = capacity;
    }
    char *text_copy = copy_text(text, n);
    char *label_copy = label ? copy_text(label, strlen(label)) : NULL;
    if (!text_copy || (label && !label_copy)) {
        free(text_copy), free(label_copy);
        return cli_error("out of memory");
    }
    t->texts[t->n] = text_copy, t->lengths[t->n] = n, t->labels[t->n] = label_copy;
    t->n++;
    return 0;
}

int cls_texts_from_table(cls_texts *t, const char *path, char delimiter, int has_header,
                         const char *text_column, const char *label_column)
{
    recur_table *table;
    recur_status st = recur_table_read(path, delimiter, has_header, &table);
    if (st != RECUR_OK)
        return cli_status_error(st);
    int text = recur_table_find_column(table, text_column);
    int label = label_column ? recur_table_find_column(table, label_column) : -1;
    int rc = 0;
    if (text < 0)
        rc = cli_error("%s: no column '%s' (--text)", path, text_column);
    else if (label_column && label < 0)
        rc = cli_error("%s: no column '%s' (--label)", path, label_column);
    for (int64_t r = 0; !rc && r < recur_table_rows(table); r++) {
        const char *cell = recur_table_cell(table, r, text);
        const char *name = label >= 0 ? recur_table_cell(table, r, label) : NULL;
        if (name && !name[0])
            rc = cli_error("%s: line %lld: the label is empty", path,
                           (long long)recur_table_row_line(table, r));
        else
            rc = add_text(t, cell, strlen(cell), name);
    }
    if (!rc && t->n == 0)
        rc = cli_error("%s: no rows", path);
    recur_table_free(table);
    return rc;
}

int cls_texts_from_lines(cls_texts *t, const char *spec)
{
    const char *p = spec;
    while (*p) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
        const char *equals = memchr(p, '=', (size_t)(end - p));
        if (!equals || equals == p || equals + 1 == end)
            return cli_error("--lines: '%.*s' is not FILE=LABEL", (int)(end - p), p);
        char *path = copy_text(p, (size_t)(equals - p));
        char *label = copy_text(equals + 1, (size_t)(end - equals - 1));
        unsigned char *bytes = NULL;
        size_t size = 0;
        int rc = !path || !label ? cli_error("out of memory") : cli_read_file(path, &bytes, &size);
        int64_t before = t->n;
        for (size_t at = 0; !rc && at < size;) {
            const unsigned char *nl = memchr(bytes + at, '\n', size - at);
            size_t n = nl ? (size_t)(nl - (bytes + at)) : size - at;
            size_t len = n;
            while (len && (bytes[at + len - 1] == '\r'))
                len--;
            if (len)
                rc = add_text(t, (const char *)bytes + at, len, label);
            at += n + 1;
        }
        if (!rc && t->n == before)
            rc = cli_error("%s: no lines", path);
        free(bytes), free(path), free(label);
        if (rc)
            return rc;
        p = comma ? comma + 1 : end;
    }
    return 0;
}

typedef struct count_context {
    recur_vocab *vocab;
} count_context;

static recur_status count_token(const char *token, size_t length, void *context)
{
    return recur_vocab_add(((count_context *)context)->vocab, token, length);
}

int cls_texts_count(const cls_texts *t, const int64_t *idx, int64_t n,
                    const recur_token_options *options, recur_vocab *vocab)
{
    count_context c = {vocab};
    for (int64_t i = 0; i < n; i++) {
        recur_status st =
            recur_tokenize(t->texts[idx[i]], t->lengths[idx[i]], options, count_token, &c);
        if (st != RECUR_OK)
            return cli_status_error(st);
    }
    return 0;
}

typedef struct encode_context {
    const recur_vocab *vocab;
    int64_t *ids;
    size_t count, capacity;
} encode_context;

static recur_status encode_token(const char *token, size_t length, void *context)
{
    encode_context *c = context;
    if (c->count == c->capacity) {
        size_t capacity = c->capacity ? 2 * c->capacity : 256;
        int64_t *grown = realloc(c->ids, capacity * sizeof *grown);
        if (!grown)
            return cli_out_of_memory("classify: token ids");
        c->ids = grown, c->capacity = capacity;
    }
    c->ids[c->count++] = recur_vocab_id(c->vocab, token, length);
    return RECUR_OK;
}

int cls_texts_encode(const cls_texts *t, const recur_token_options *options,
                     const recur_vocab *vocab, cls_dataset *d, int add_classes)
{
    encode_context c = {vocab, NULL, 0, 0};
    int rc = 0;
    for (int64_t i = 0; !rc && i < t->n; i++) {
        int label = -1;
        if (t->labels[i]) {
            label = cls_dataset_class(d, t->labels[i], add_classes);
            if (label < 0) {
                rc = cli_error("example %lld: label '%s' is not one of the model's classes",
                               (long long)i + 1, t->labels[i]);
                break;
            }
        }
        c.count = 0;
        if (recur_tokenize(t->texts[i], t->lengths[i], options, encode_token, &c) != RECUR_OK)
            rc = cli_error("out of memory");
        else
            rc = cls_dataset_add_ids(d, c.ids, (int64_t)c.count, label);
    }
    free(c.ids);
    return rc;
}

/* ---------------------------------------------------------------- */
/* IDX files                                                         */
/* ---------------------------------------------------------------- */

/* Reads a whole (gzip or plain) file; gzread passes plain files through. */
static int read_gz(const char *path, unsigned char **data, size_t *size)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return cli_error("%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    size_t capacity = 1 << 20, used = 0;
    unsigned char *buf = malloc(capacity);
    int n = 0;
    while (buf && (n = gzread(f, buf + used, (unsigned)(capacity - used))) > 0) {
        used += (size_t)n;
        if (used == capacity) {
            unsigned char *grown = realloc(buf, capacity * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown, capacity *= 2;
        }
    }
    int failed = n < 0;
    gzclose(f);
    if (!buf || failed) {
        free(buf);
        return cli_error("%s: %s", path, buf ? "not a readable gzip or IDX file" : "out of memory");
    }
    *data = buf, *size = used;
    return 0;
}

int cls_dataset_from_idx(cls_dataset *d, const char *images, const char *labels)
{
    unsigned char *pixels = NULL, *classes = NULL;
    size_t pixel_bytes = 0, class_bytes = 0;
    uint32_t shape[3] = {0, 0, 0}, label_count = 0;
    int rc = read_gz(images, &pixels, &pixel_bytes);
    if (!rc)
        rc = idx_check_header(images, pixels, pixel_bytes, 3, shape);
    if (!rc && labels) {
        rc = read_gz(labels, &classes, &class_bytes);
        if (!rc)
            rc = idx_check_header(labels, classes, class_bytes, 1, &label_count);
        if (!rc && label_count != shape[0])
            rc = cli_error("%s: %u labels for %u images", labels, label_count, shape[0]);
    }
    if (!rc && d->features && d->features != (int)shape[2])
        rc = cli_error("%s: images %u pixels wide, expected %d", images, shape[2], d->features);
    float *row = rc ? NULL : malloc((size_t)shape[1] * shape[2] * sizeof(float));
    if (!rc && !row)
        rc = cli_error("out of memory");
    d->features = (int)shape[2];
    for (int c = 0; !rc && c < 10; c++) {
        const char name[2] = {(char)('0' + c), '\0'}; /* the digit */
        if (cls_dataset_class(d, name, 1) < 0)
            rc = CLI_EXIT_FAILURE;
    }
    const unsigned char *image = pixels + 16;
    for (uint32_t i = 0; !rc && i < shape[0]; i++) {
        size_t n = (size_t)shape[1] * shape[2];
        for (size_t k = 0; k < n; k++)
            row[k] = (float)image[(size_t)i * n + k] / 255.0f;
        int label = -1;
        if (classes) {
            label = classes[8 + i];
            if (label > 9)
                rc = cli_error("%s: label %d of image %u is not 0..9", labels, label, i);
        }
        if (!rc)
            rc = cls_dataset_add_values(d, row, shape[1], label);
    }
    free(row), free(pixels), free(classes);
    return rc;
}

/* ---------------------------------------------------------------- */
/* Windows of a time series                                          */
/* ---------------------------------------------------------------- */

/* The class name of step t: the one-hot channel "label=v" that is largest,
 * or a numeric label channel's value. */
static void series_label(const recur_series *s, int64_t t, int first, int count, char *name,
                         size_t size)
{
    const float *row = s->values + t * s->channels;
    if (count == 1 && s->kinds[first] == RECUR_CHANNEL_NUMERIC) {
        snprintf(name, size, "%g", row[first]);
        return;
    }
    int best = first;
    for (int c = first + 1; c < first + count; c++)
        if (row[c] > row[best])
            best = c;
    const char *equals = strchr(s->names[best], '=');
    snprintf(name, size, "%s", equals ? equals + 1 : s->names[best]);
}

int cls_dataset_from_series(cls_dataset *d, const char *path, const char *time,
                            const char *inputs, const char *label, int window, int stride,
                            double fit_fraction, recur_scaler **scaler, recur_freq *freq,
                            int add_classes)
{
    recur_table *table = NULL;
    recur_series *s = NULL;
    float *values = NULL;
    recur_status st = recur_table_read(path, 0, 1, &table);
    recur_series_options so = recur_series_options_default();
    so.time = time, so.targets = inputs, so.features = label, so.missing_mask = 0;
    so.freq = *freq;
    /* the loader's errors name classify's flags, not forecast's roles */
    so.role_names[0] = "--time", so.role_names[1] = "--inputs", so.role_names[2] = "--label";
    if (st == RECUR_OK)
        st = recur_series_from_table(table, &so, &s);
    int rc = st == RECUR_OK ? 0 : cli_status_error(st);
    if (!rc)
        *freq = s->freq;
    const int K = rc ? 0 : s->targets; /* the input channels come first */
    if (!rc && s->steps < window)
        rc = cli_error("%s: %lld steps, fewer than --window %d", path, (long long)s->steps, window);
    if (!rc && d->features && d->features != K)
        rc = cli_error("%s: %d input columns, the model reads %d", path, K, d->features);
    if (!rc && !(values = malloc((size_t)s->steps * K * sizeof(float))))
        rc = cli_error("out of memory");
    for (int64_t t = 0; !rc && t < s->steps; t++)
        for (int k = 0; k < K; k++)
            values[t * K + k] = s->values[t * s->channels + s->target_index[k]];
    if (!rc && !*scaler) {
        int64_t fit = (int64_t)((double)s->steps * fit_fraction);
        st = recur_scaler_fit(values, s->steps, K, fit < 1 ? 1 : fit, RECUR_SCALER_ZSCORE, NULL,
                              scaler);
        if (st != RECUR_OK)
            rc = cli_status_error(st);
    }
    if (!rc && (*scaler)->channels != K)
        rc = cli_error("%s: %d input columns, the model's scaler has %d", path, K,
                       (*scaler)->channels);
    if (!rc)
        recur_scaler_apply(*scaler, values, s->steps);
    d->features = K;
    for (int64_t end = window - 1; !rc && end < s->steps; end += stride) {
        char name[256] = "";
        if (label) /* else unlabelled windows (predict) */
            series_label(s, end, K, s->channels - K, name, sizeof name);
        int label_index = label ? cls_dataset_class(d, name, add_classes) : -1;
        if (label && label_index < 0)
            rc = add_classes ? CLI_EXIT_FAILURE
                             : cli_error("%s: label '%s' at step %lld is not one of the model's "
                                         "classes",
                                         path, name, (long long)end);
        else
            rc = cls_dataset_add_values(d, values + (end - window + 1) * K, window, label_index);
    }
    free(values);
    recur_series_free(s);
    recur_table_free(table);
    return rc;
}
