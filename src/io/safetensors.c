/* safetensors files: an 8-byte little-endian header length N, N bytes of
 * JSON {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}},
 * then the data. The reader checks every length, offset, dtype, shape and
 * name before any data is touched; the writer replaces files atomically. */
#define _POSIX_C_SOURCE 200809L

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/status.h"
#include "io/dtype.h"

#define MAX_HEADER_BYTES (100u << 20) /* as the reference implementation */
#define MAX_JSON_INTEGER 9007199254740992.0 /* 2^53: integers exact in a double */
#define METADATA_KEY "__metadata__"

struct recur_st_file {
    char *label;
    unsigned char *bytes; /* the whole file */
    size_t size;
    recur_tensor_view *tensors; /* in data-offset order */
    size_t count;
    char **meta_keys, **meta_values;
    size_t meta_count;
};

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int valid_utf8(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        unsigned c = *s;
        int extra;
        unsigned min, code;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xe0) == 0xc0)
            extra = 1, min = 0x80, code = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            extra = 2, min = 0x800, code = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            extra = 3, min = 0x10000, code = c & 0x07;
        else
            return 0;
        for (int i = 1; i <= extra; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            code = (code << 6) | (s[i] & 0x3f);
        }
        if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
            return 0;
        s += extra + 1;
    }
    return 1;
}

/* A JSON number that is a non-negative integer below 2^53. */
static int json_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    if (!(v >= 0.0) || v > MAX_JSON_INTEGER || floor(v) != v)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

static recur_status parse_metadata(recur_st_file *f, const cJSON *meta)
{
    if (!cJSON_IsObject(meta))
        return recur_fail(RECUR_E_FORMAT, "%s: __metadata__ is not an object", f->label);
    size_t n = (size_t)cJSON_GetArraySize(meta);
    f->meta_keys = calloc(n ? n : 1, sizeof(char *));
    f->meta_values = calloc(n ? n : 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_values)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory reading metadata", f->label);
    const cJSON *item;
    cJSON_ArrayForEach(item, meta)
    {
        if (!cJSON_IsString(item) || !item->string)
            return recur_fail(RECUR_E_FORMAT, "%s: metadata value of '%.60s' is not a string",
                              f->label, item->string ? item->string : "?");
        if (!valid_utf8(item->string) || !valid_utf8(item->valuestring))
            return recur_fail(RECUR_E_FORMAT, "%s: metadata is not valid UTF-8", f->label);
        for (size_t i = 0; i < f->meta_count; i++)
            if (!strcmp(f->meta_keys[i], item->string))
                return recur_fail(RECUR_E_FORMAT, "%s: duplicate metadata key '%.60s'",
                                  f->label, item->string);
        f->meta_keys[f->meta_count] = copy_string(item->string);
        f->meta_values[f->meta_count] = copy_string(item->valuestring);
        f->meta_count++;
        if (!f->meta_keys[f->meta_count - 1] || !f->meta_values[f->meta_count - 1])
            return recur_fail(RECUR_E_NOMEM, "%s: out of memory reading metadata", f->label);
    }
    return RECUR_OK;
}

/* Parses one tensor entry into t (offsets relative to the data buffer in
 * *begin / *end); checks dtype, shape, overflow and size. */
static recur_status parse_tensor(const recur_st_file *f, const cJSON *entry, size_t data_size,
                                 recur_tensor_view *t, uint64_t *begin, uint64_t *end)
{
    const char *name = entry->string;
    if (!valid_utf8(name))
        return recur_fail(RECUR_E_FORMAT, "%s: a tensor name is not valid UTF-8", f->label);
    if (!cJSON_IsObject(entry))
        return recur_fail(RECUR_E_FORMAT, "%s: entry '%.60s' is not an object", f->label, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsString(dtype) || !recur_dtype_parse(dtype->valuestring, &t->dtype))
        return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.60s' has a missing or unknown dtype",
                          f->label, name);
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > RECUR_MAX_DIMS)
        return recur_fail(RECUR_E_FORMAT,
                          "%s: tensor '%.60s': shape is not an array of at most %d dimensions",
                          f->label, name, RECUR_MAX_DIMS);
    size_t numel = 1;
    t->ndim = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape)
    {
        uint64_t d;
        if (!json_uint(dim, &d))
            return recur_fail(RECUR_E_FORMAT,
                              "%s: tensor '%.60s': shape holds something other than a "
                              "non-negative integer",
                              f->label, name);
        if (!recur_mul_size(numel, (size_t)d, &numel))
            return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.60s': shape overflows", f->label,
                              name);
        t->shape[t->ndim++] = (int64_t)d;
    }
    size_t nbytes;
    if (!recur_mul_size(numel, recur_dtype_size(t->dtype), &nbytes))
        return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.60s': shape overflows", f->label, name);
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_uint(cJSON_GetArrayItem(offsets, 0), begin) ||
        !json_uint(cJSON_GetArrayItem(offsets, 1), end))
        return recur_fail(RECUR_E_FORMAT,
                          "%s: tensor '%.60s': data_offsets is not two non-negative integers",
                          f->label, name);
    if (*begin > *end || *end > data_size)
        return recur_fail(RECUR_E_FORMAT,
                          "%s: tensor '%.60s': data_offsets [%llu, %llu] exceed the data size %zu",
                          f->label, name, (unsigned long long)*begin, (unsigned long long)*end,
                          data_size);
    if (*end - *begin != nbytes)
        return recur_fail(RECUR_E_FORMAT,
                          "%s: tensor '%.60s': data_offsets hold %llu bytes but shape and dtype "
                          "need %zu",
                          f->label, name, (unsigned long long)(*end - *begin), nbytes);
    t->numel = numel;
    t->nbytes = nbytes;
    return RECUR_OK;
}

typedef struct span {
    uint64_t begin, end;
    size_t index;
} span;

static int compare_spans(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static recur_status parse_header(recur_st_file *f, const cJSON *root, size_t data_offset)
{
    const size_t data_size = f->size - data_offset;
    if (!cJSON_IsObject(root))
        return recur_fail(RECUR_E_FORMAT, "%s: header is not a JSON object", f->label);
    size_t entries = (size_t)cJSON_GetArraySize(root);
    f->tensors = calloc(entries ? entries : 1, sizeof *f->tensors);
    span *spans = calloc(entries ? entries : 1, sizeof *spans);
    recur_tensor_view *parsed = calloc(entries ? entries : 1, sizeof *parsed);
    recur_status status = RECUR_OK;
    if (!f->tensors || !spans || !parsed)
        status = recur_fail(RECUR_E_NOMEM, "%s: out of memory reading the header", f->label);
    size_t count = 0;
    int seen_metadata = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (status != RECUR_OK)
            break;
        if (!strcmp(item->string, METADATA_KEY)) {
            if (seen_metadata++)
                status = recur_fail(RECUR_E_FORMAT, "%s: duplicate __metadata__", f->label);
            else
                status = parse_metadata(f, item);
            continue;
        }
        for (size_t i = 0; i < count && status == RECUR_OK; i++)
            if (!strcmp(parsed[i].name, item->string))
                status = recur_fail(RECUR_E_FORMAT, "%s: duplicate tensor name '%.60s'",
                                    f->label, item->string);
        if (status != RECUR_OK)
            break;
        parsed[count].name = item->string; /* replaced by a copy below */
        status = parse_tensor(f, item, data_size, &parsed[count], &spans[count].begin,
                              &spans[count].end);
        spans[count].index = count;
        count++;
    }
    if (status == RECUR_OK) {
        /* Tensors must tile the data buffer: no overlap, no hole. */
        qsort(spans, count, sizeof *spans, compare_spans);
        uint64_t expected = 0;
        for (size_t i = 0; i < count && status == RECUR_OK; i++) {
            const recur_tensor_view *t = &parsed[spans[i].index];
            if (spans[i].begin != expected)
                status = recur_fail(RECUR_E_FORMAT,
                                    "%s: tensor '%.60s' starts at byte %llu of the data, "
                                    "expected %llu (tensors overlap or leave a hole)",
                                    f->label, t->name, (unsigned long long)spans[i].begin,
                                    (unsigned long long)expected);
            expected = spans[i].end;
        }
        if (status == RECUR_OK && expected != data_size)
            status = recur_fail(RECUR_E_FORMAT,
                                "%s: tensors cover %llu bytes but the data has %zu", f->label,
                                (unsigned long long)expected, data_size);
    }
    for (size_t i = 0; i < count && status == RECUR_OK; i++) {
        recur_tensor_view *t = &f->tensors[i];
        *t = parsed[spans[i].index];
        t->data = f->bytes + data_offset + spans[i].begin;
        t->name = copy_string(t->name);
        f->count = i + 1;
        if (!t->name)
            status = recur_fail(RECUR_E_NOMEM, "%s: out of memory", f->label);
    }
    free(spans);
    free(parsed);
    return status;
}

static int only_whitespace(const char *s, const char *end)
{
    for (; s < end; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

/* Takes ownership of bytes. */
static recur_status open_bytes(unsigned char *bytes, size_t size, const char *label,
                               recur_st_file **out)
{
    *out = NULL;
    recur_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->label = copy_string(label ? label : "safetensors"))) {
        free(f);
        free(bytes);
        return recur_fail(RECUR_E_NOMEM, "out of memory opening %s", label);
    }
    f->bytes = bytes;
    f->size = size;
    recur_status status = RECUR_OK;
    uint64_t header_len = 0;
    if (size < 8)
        status = recur_fail(RECUR_E_FORMAT,
                            "%s: file is %zu bytes, too short for a safetensors header", f->label,
                            size);
    else {
        for (int i = 7; i >= 0; i--)
            header_len = (header_len << 8) | bytes[i];
        if (header_len > MAX_HEADER_BYTES || header_len > size - 8)
            status = recur_fail(RECUR_E_FORMAT,
                                "%s: header length %llu exceeds the file size %zu or the %u-byte "
                                "limit",
                                f->label, (unsigned long long)header_len, size, MAX_HEADER_BYTES);
        else if (header_len < 2)
            status = recur_fail(RECUR_E_FORMAT, "%s: header of %llu bytes is too short",
                                f->label, (unsigned long long)header_len);
    }
    if (status == RECUR_OK) {
        const char *json = (const char *)bytes + 8, *parse_end = NULL;
        cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)header_len, &parse_end, 0);
        if (!root || !parse_end || !only_whitespace(parse_end, json + header_len))
            status = recur_fail(RECUR_E_FORMAT, "%s: header is not valid JSON", f->label);
        else
            status = parse_header(f, root, 8 + (size_t)header_len);
        cJSON_Delete(root);
    }
    if (status != RECUR_OK) {
        recur_st_close(f);
        return status;
    }
    *out = f;
    return RECUR_OK;
}

recur_status recur_st_open_memory(const void *bytes, size_t size, const char *label,
                                  recur_st_file **out)
{
    if (!out || (!bytes && size))
        return recur_fail(RECUR_E_INVALID, "recur_st_open_memory: NULL argument");
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy)
        return recur_fail(RECUR_E_NOMEM, "out of memory copying %zu bytes", size);
    if (size)
        memcpy(copy, bytes, size);
    return open_bytes(copy, size, label, out);
}

recur_status recur_st_open(const char *path, recur_st_file **out)
{
    if (!path || !out)
        return recur_fail(RECUR_E_INVALID, "recur_st_open: NULL argument");
    *out = NULL;
    FILE *file = fopen(path, "rb");
    if (!file)
        return recur_fail(RECUR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat info;
    if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode)) {
        fclose(file);
        return recur_fail(RECUR_E_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)info.st_size;
    unsigned char *bytes = malloc(size ? size : 1);
    if (!bytes) {
        fclose(file);
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory reading %zu bytes", path, size);
    }
    size_t got = fread(bytes, 1, size, file);
    int failed = ferror(file);
    fclose(file);
    if (failed || got != size) {
        free(bytes);
        return recur_fail(RECUR_E_IO, "%s: read error", path);
    }
    return open_bytes(bytes, size, path, out);
}

void recur_st_close(recur_st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->count; i++)
        free((char *)f->tensors[i].name);
    for (size_t i = 0; i < f->meta_count; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->tensors);
    free(f->bytes);
    free(f->label);
    free(f);
}

const char *recur_st_label(const recur_st_file *f) { return f->label; }
size_t recur_st_count(const recur_st_file *f) { return f->count; }

const recur_tensor_view *recur_st_tensor(const recur_st_file *f, size_t index)
{
    return index < f->count ? &f->tensors[index] : NULL;
}

const recur_tensor_view *recur_st_find(const recur_st_file *f, const char *name)
{
    for (size_t i = 0; i < f->count; i++)
        if (!strcmp(f->tensors[i].name, name))
            return &f->tensors[i];
    return NULL;
}

const char *recur_st_metadata(const recur_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->meta_count; i++)
        if (!strcmp(f->meta_keys[i], key))
            return f->meta_values[i];
    return NULL;
}

size_t recur_st_metadata_count(const recur_st_file *f) { return f->meta_count; }

void recur_st_metadata_at(const recur_st_file *f, size_t index, const char **key,
                          const char **value)
{
    *key = index < f->meta_count ? f->meta_keys[index] : NULL;
    *value = index < f->meta_count ? f->meta_values[index] : NULL;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

typedef struct st_entry {
    char *name;
    recur_dtype dtype;
    int ndim;
    int64_t shape[RECUR_MAX_DIMS];
    unsigned char *data;
    size_t nbytes;
} st_entry;

struct recur_st_writer {
    st_entry *entries;
    size_t count, capacity;
    char **meta_keys, **meta_values;
    size_t meta_count, meta_capacity;
};

recur_status recur_st_writer_create(recur_st_writer **out)
{
    if (!out)
        return recur_fail(RECUR_E_INVALID, "recur_st_writer_create: NULL argument");
    *out = calloc(1, sizeof **out);
    return *out ? RECUR_OK : recur_fail(RECUR_E_NOMEM, "out of memory");
}

void recur_st_writer_free(recur_st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->count; i++) {
        free(w->entries[i].name);
        free(w->entries[i].data);
    }
    for (size_t i = 0; i < w->meta_count; i++) {
        free(w->meta_keys[i]);
        free(w->meta_values[i]);
    }
    free(w->entries);
    free(w->meta_keys);
    free(w->meta_values);
    free(w);
}

recur_status recur_st_writer_add(recur_st_writer *w, const char *name, recur_dtype dtype,
                                 int ndim, const int64_t *shape, const void *data)
{
    if (!w || !name || (unsigned)dtype >= RECUR_DTYPE_COUNT || ndim < 0 ||
        ndim > RECUR_MAX_DIMS || (ndim > 0 && !shape))
        return recur_fail(RECUR_E_INVALID, "recur_st_writer_add: bad argument for '%.60s'",
                          name ? name : "?");
    if (!valid_utf8(name) || !strcmp(name, METADATA_KEY))
        return recur_fail(RECUR_E_INVALID, "tensor name '%.60s' is not allowed", name);
    for (size_t i = 0; i < w->count; i++)
        if (!strcmp(w->entries[i].name, name))
            return recur_fail(RECUR_E_INVALID, "duplicate tensor name '%.60s'", name);
    size_t numel = 1, nbytes;
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0 || !recur_mul_size(numel, (size_t)shape[d], &numel))
            return recur_fail(RECUR_E_INVALID, "tensor '%.60s' has a bad shape", name);
    if (!recur_mul_size(numel, recur_dtype_size(dtype), &nbytes) || (nbytes && !data))
        return recur_fail(RECUR_E_INVALID, "tensor '%.60s' is too large or has no data", name);
    if (w->count == w->capacity) {
        size_t grown = w->capacity ? 2 * w->capacity : 16;
        st_entry *entries = realloc(w->entries, grown * sizeof *entries);
        if (!entries)
            return recur_fail(RECUR_E_NOMEM, "out of memory");
        w->entries = entries;
        w->capacity = grown;
    }
    st_entry *e = &w->entries[w->count];
    memset(e, 0, sizeof *e);
    e->name = copy_string(name);
    e->data = malloc(nbytes ? nbytes : 1);
    if (!e->name || !e->data) {
        free(e->name);
        free(e->data);
        return recur_fail(RECUR_E_NOMEM, "out of memory copying tensor '%.60s'", name);
    }
    if (nbytes)
        memcpy(e->data, data, nbytes);
    e->dtype = dtype;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        e->shape[d] = shape[d];
    e->nbytes = nbytes;
    w->count++;
    return RECUR_OK;
}

recur_status recur_st_writer_set_metadata(recur_st_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value || !valid_utf8(key) || !valid_utf8(value))
        return recur_fail(RECUR_E_INVALID, "metadata key and value must be UTF-8 strings");
    for (size_t i = 0; i < w->meta_count; i++)
        if (!strcmp(w->meta_keys[i], key)) {
            char *copy = copy_string(value);
            if (!copy)
                return recur_fail(RECUR_E_NOMEM, "out of memory");
            free(w->meta_values[i]);
            w->meta_values[i] = copy;
            return RECUR_OK;
        }
    if (w->meta_count == w->meta_capacity) {
        size_t grown = w->meta_capacity ? 2 * w->meta_capacity : 8;
        char **keys = realloc(w->meta_keys, grown * sizeof *keys);
        if (keys)
            w->meta_keys = keys;
        char **values = realloc(w->meta_values, grown * sizeof *values);
        if (values)
            w->meta_values = values;
        if (!keys || !values)
            return recur_fail(RECUR_E_NOMEM, "out of memory");
        w->meta_capacity = grown;
    }
    char *k = copy_string(key), *v = copy_string(value);
    if (!k || !v) {
        free(k);
        free(v);
        return recur_fail(RECUR_E_NOMEM, "out of memory");
    }
    w->meta_keys[w->meta_count] = k;
    w->meta_values[w->meta_count] = v;
    w->meta_count++;
    return RECUR_OK;
}

/* The JSON header, unformatted, or NULL when out of memory. */
static char *build_header(const recur_st_writer *w)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && w->meta_count) {
        cJSON *meta = cJSON_AddObjectToObject(root, METADATA_KEY);
        ok = meta != NULL;
        for (size_t i = 0; ok && i < w->meta_count; i++)
            ok = cJSON_AddStringToObject(meta, w->meta_keys[i], w->meta_values[i]) != NULL;
    }
    size_t offset = 0;
    for (size_t i = 0; ok && i < w->count; i++) {
        const st_entry *e = &w->entries[i];
        cJSON *entry = cJSON_AddObjectToObject(root, e->name);
        cJSON *shape = entry ? cJSON_AddArrayToObject(entry, "shape") : NULL;
        cJSON *offsets = entry ? cJSON_AddArrayToObject(entry, "data_offsets") : NULL;
        ok = entry && shape && offsets &&
             cJSON_AddStringToObject(entry, "dtype", recur_dtype_name(e->dtype));
        for (int d = 0; ok && d < e->ndim; d++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        ok = ok && cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset)) &&
             cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(offset + e->nbytes)));
        offset += e->nbytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static int write_all(FILE *file, const void *data, size_t n)
{
    return n == 0 || fwrite(data, 1, n, file) == n;
}

recur_status recur_st_writer_save(const recur_st_writer *w, const char *path)
{
    if (!w || !path)
        return recur_fail(RECUR_E_INVALID, "recur_st_writer_save: NULL argument");
    char *header = build_header(w);
    size_t tmp_len = strlen(path) + sizeof ".tmp.XXXXXX";
    char *tmp_path = malloc(tmp_len);
    if (!header || !tmp_path) {
        free(header);
        free(tmp_path);
        return recur_fail(RECUR_E_NOMEM, "out of memory writing %s", path);
    }
    snprintf(tmp_path, tmp_len, "%s.tmp.XXXXXX", path);
    /* Pad with spaces so that the data starts 8-byte aligned. */
    size_t json_len = strlen(header), padded = (json_len + 7) & ~(size_t)7;
    unsigned char length_bytes[8];
    for (int i = 0; i < 8; i++)
        length_bytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    static const char spaces[8] = "        ";

    int fd = mkstemp(tmp_path);
    FILE *file = fd >= 0 ? fdopen(fd, "wb") : NULL;
    int ok = file != NULL;
    if (!ok && fd >= 0)
        close(fd);
    int saved_errno = errno;
    if (ok) {
        fchmod(fd, 0644);
        ok = write_all(file, length_bytes, 8) && write_all(file, header, json_len) &&
             write_all(file, spaces, padded - json_len);
        for (size_t i = 0; ok && i < w->count; i++)
            ok = write_all(file, w->entries[i].data, w->entries[i].nbytes);
        ok = ok && fflush(file) == 0 && fsync(fd) == 0;
        saved_errno = errno;
        ok = (fclose(file) == 0) && ok;
        if (ok && rename(tmp_path, path) != 0)
            ok = 0, saved_errno = errno;
        if (!ok)
            remove(tmp_path);
    }
    free(header);
    free(tmp_path);
    if (!ok)
        return recur_fail(RECUR_E_IO, "%s: cannot write: %s", path, strerror(saved_errno));
    return RECUR_OK;
}
