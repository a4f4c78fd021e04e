/* safetensors files: an 8-byte little-endian header length N, N bytes of
 * JSON {name: {"dtype", "shape", "data_offsets": [begin, end]},
 * "__metadata__": {str: str}}, then the data buffer, which the tensors tile
 * exactly (offsets are relative to its start).
 *
 * The reader checks every length, offset, dtype, shape and name before any
 * data is touched and keeps the tensors in the order of their data offsets,
 * which is their order in the file (zero-size tensors sharing an offset keep
 * their JSON order). The writer lays tensors out in insertion order and
 * replaces files atomically (temporary file, fsync, rename). */
#define _POSIX_C_SOURCE 200809L

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/status.h"
#include "io/atomic_file.h"
#include "io/dtype.h"

#define MAX_HEADER_BYTES 100000000u /* the reference implementation's limit */
#define MAX_JSON_INTEGER ((uint64_t)1 << 53) /* larger integers are inexact in a double */
#define METADATA_KEY "__metadata__"

typedef struct st_pair {
    char *key;
    char *value;
} st_pair;

struct recur_st_file {
    char *label;
    unsigned char *bytes; /* the whole file */
    size_t size;
    recur_tensor_view *tensors; /* in data-offset order, see the top of the file */
    size_t count;
    st_pair *metadata; /* in JSON order */
    size_t metadata_count;
};

/* ------------------------------------------------------------------ */
/* Strings                                                             */
/* ------------------------------------------------------------------ */

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800 to
 * U+DFFF), nothing above U+10FFFF, no truncated sequences. */
static int utf8_valid(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        unsigned lead = *s;
        int continuation;
        uint32_t code, smallest;
        if (lead < 0x80) {
            s++;
            continue;
        }
        if ((lead & 0xe0) == 0xc0)
            continuation = 1, code = lead & 0x1f, smallest = 0x80;
        else if ((lead & 0xf0) == 0xe0)
            continuation = 2, code = lead & 0x0f, smallest = 0x800;
        else if ((lead & 0xf8) == 0xf0)
            continuation = 3, code = lead & 0x07, smallest = 0x10000;
        else
            return 0; /* a stray continuation byte, or 0xf8..0xff */
        /* The terminating NUL is not a continuation byte, so this never reads past it. */
        for (int i = 1; i <= continuation; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            code = (code << 6) | (s[i] & 0x3f);
        }
        if (code < smallest || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
            return 0;
        s += continuation + 1;
    }
    return 1;
}

/* Tensor names appear in one-line messages: no control characters. */
static int has_control_character(const char *text)
{
    for (const unsigned char *s = (const unsigned char *)text; *s; s++)
        if (*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fails naming the first duplicate among `names` (sorted, so a hostile
 * header with millions of names costs n log n, not n^2). */
static recur_status check_unique(const char *label, const char *const *names, size_t n,
                                 const char *what)
{
    const char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory checking %s names", label, what);
    if (n)
        memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_strings);
    recur_status status = RECUR_OK;
    for (size_t i = 1; i < n && status == RECUR_OK; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            status = recur_fail(RECUR_E_FORMAT, "%s: duplicate %s '%.80s'", label, what,
                                sorted[i]);
    free(sorted);
    return status;
}

/* ------------------------------------------------------------------ */
/* Reading: the header's pieces                                        */
/* ------------------------------------------------------------------ */

/* A JSON number holding an integer in [0, 2^53]. cJSON keeps numbers as
 * doubles, exact up to 2^53; fractions, negatives, inf and nan fail. */
static int json_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    if (!(v >= 0.0 && v <= (double)MAX_JSON_INTEGER) || floor(v) != v)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

/* cJSON is more lenient than JSON and the reference parser: it takes every
 * byte below 0x20 for whitespace, keeps raw control characters inside
 * strings, and silently ends a string at a \u0000 escape (which would
 * rename a tensor). Rejects all three before parsing. */
static recur_status check_json_characters(const char *label, const char *json, size_t length)
{
    int in_string = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)json[i];
        if (in_string) {
            if (c < 0x20)
                return recur_fail(RECUR_E_FORMAT,
                                  "%s: header byte %zu: control character 0x%02x in a string",
                                  label, i, c);
            if (c == '"')
                in_string = 0;
            else if (c == '\\' && i + 1 < length) {
                if (length - i >= 6 && memcmp(json + i + 1, "u0000", 5) == 0)
                    return recur_fail(RECUR_E_FORMAT,
                                      "%s: header byte %zu: \\u0000 in a string", label, i);
                i++; /* skip the escaped character, which may be a quote */
            }
        } else if (c == '"') {
            in_string = 1;
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            return recur_fail(RECUR_E_FORMAT, "%s: header byte %zu: control character 0x%02x",
                              label, i, c);
        }
    }
    return RECUR_OK;
}

static int only_json_whitespace(const char *s, const char *end)
{
    for (; s < end; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

/* The member `key` of a tensor entry, which must occur exactly once
 * (cJSON keeps duplicate keys; the reference parser rejects them). */
static recur_status entry_member(const char *label, const cJSON *entry, const char *key,
                                 const cJSON **out)
{
    const cJSON *found = NULL, *member;
    cJSON_ArrayForEach(member, entry)
    {
        if (strcmp(member->string, key) != 0)
            continue;
        if (found)
            return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.80s': duplicate \"%s\"", label,
                              entry->string, key);
        found = member;
    }
    if (!found)
        return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.80s': missing \"%s\"", label,
                          entry->string, key);
    *out = found;
    return RECUR_OK;
}

static recur_status parse_dtype(const char *label, const char *name, const cJSON *dtype,
                                recur_tensor_view *t)
{
    if (!cJSON_IsString(dtype))
        return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.80s': dtype is not a string", label,
                          name);
    if (!recur_dtype_parse(dtype->valuestring, &t->dtype))
        return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.80s': unknown dtype '%.20s'", label,
                          name, utf8_valid(dtype->valuestring) ? dtype->valuestring : "?");
    return RECUR_OK;
}

/* Fills ndim, shape, numel and nbytes (dtype already set). */
static recur_status parse_shape(const char *label, const char *name, const cJSON *shape,
                                recur_tensor_view *t)
{
    if (!cJSON_IsArray(shape))
        return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.80s': shape is not an array", label,
                          name);
    size_t numel = 1;
    int ndim = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape)
    {
        uint64_t extent;
        if (ndim == RECUR_MAX_DIMS)
            return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.80s': more than %d dimensions",
                              label, name, RECUR_MAX_DIMS);
        if (!json_uint(dim, &extent))
            return recur_fail(RECUR_E_FORMAT,
                              "%s: tensor '%.80s': shape[%d] is not an integer in [0, 2^53]",
                              label, name, ndim);
        if (extent > SIZE_MAX || !recur_mul_size(numel, (size_t)extent, &numel))
            return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.80s': element count overflows",
                              label, name);
        t->shape[ndim++] = (int64_t)extent;
    }
    if (!recur_mul_size(numel, recur_dtype_size(t->dtype), &t->nbytes))
        return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.80s': byte size overflows", label, name);
    t->ndim = ndim;
    t->numel = numel;
    return RECUR_OK;
}

static recur_status parse_offsets(const char *label, const char *name, const cJSON *offsets,
                                  size_t data_size, uint64_t *begin, uint64_t *end)
{
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_uint(offsets->child, begin) || !json_uint(offsets->child->next, end))
        return recur_fail(RECUR_E_FORMAT,
                          "%s: tensor '%.80s': data_offsets is not two integers in [0, 2^53]",
                          label, name);
    if (*begin > *end)
        return recur_fail(RECUR_E_FORMAT,
                          "%s: tensor '%.80s': data_offsets [%" PRIu64 ", %" PRIu64
                          "] end before they begin",
                          label, name, *begin, *end);
    if (*end > data_size)
        return recur_fail(RECUR_E_FORMAT,
                          "%s: tensor '%.80s': data_offsets [%" PRIu64 ", %" PRIu64
                          "] exceed the data size %zu",
                          label, name, *begin, *end, data_size);
    return RECUR_OK;
}

/* One tensor entry into t (its name borrowed from the JSON tree) and its
 * byte range [*begin, *end) in the data buffer. */
static recur_status parse_tensor(const char *label, const cJSON *entry, size_t data_size,
                                 recur_tensor_view *t, uint64_t *begin, uint64_t *end)
{
    const char *name = entry->string;
    if (!utf8_valid(name))
        return recur_fail(RECUR_E_FORMAT, "%s: a tensor name is not valid UTF-8", label);
    if (has_control_character(name))
        return recur_fail(RECUR_E_FORMAT, "%s: a tensor name holds a control character", label);
    if (!cJSON_IsObject(entry))
        return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.80s' is not a JSON object", label,
                          name);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    RECUR_TRY(entry_member(label, entry, "dtype", &dtype));
    RECUR_TRY(entry_member(label, entry, "shape", &shape));
    RECUR_TRY(entry_member(label, entry, "data_offsets", &offsets));
    t->name = name;
    RECUR_TRY(parse_dtype(label, name, dtype, t));
    RECUR_TRY(parse_shape(label, name, shape, t));
    RECUR_TRY(parse_offsets(label, name, offsets, data_size, begin, end));
    if (*end - *begin != t->nbytes)
        return recur_fail(RECUR_E_FORMAT,
                          "%s: tensor '%.80s': data_offsets [%" PRIu64 ", %" PRIu64
                          "] hold %" PRIu64 " bytes but %zu elements of %s need %zu",
                          label, name, *begin, *end, *end - *begin, t->numel,
                          recur_dtype_name(t->dtype), t->nbytes);
    return RECUR_OK;
}

static recur_status parse_metadata(recur_st_file *f, const cJSON *meta)
{
    if (!cJSON_IsObject(meta))
        return recur_fail(RECUR_E_FORMAT, "%s: __metadata__ is not a JSON object", f->label);
    size_t n = (size_t)cJSON_GetArraySize(meta);
    f->metadata = calloc(n ? n : 1, sizeof *f->metadata);
    if (!f->metadata)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory reading metadata", f->label);
    const cJSON *item;
    cJSON_ArrayForEach(item, meta)
    {
        if (!utf8_valid(item->string))
            return recur_fail(RECUR_E_FORMAT, "%s: a metadata key is not valid UTF-8", f->label);
        if (!cJSON_IsString(item))
            return recur_fail(RECUR_E_FORMAT, "%s: metadata value of '%.80s' is not a string",
                              f->label, item->string);
        if (!utf8_valid(item->valuestring))
            return recur_fail(RECUR_E_FORMAT, "%s: metadata value of '%.80s' is not valid UTF-8",
                              f->label, item->string);
        st_pair *pair = &f->metadata[f->metadata_count++];
        pair->key = copy_string(item->string);
        pair->value = copy_string(item->valuestring);
        if (!pair->key || !pair->value)
            return recur_fail(RECUR_E_NOMEM, "%s: out of memory reading metadata", f->label);
    }
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory reading metadata", f->label);
    for (size_t i = 0; i < f->metadata_count; i++)
        keys[i] = f->metadata[i].key;
    recur_status status = check_unique(f->label, keys, f->metadata_count, "metadata key");
    free(keys);
    return status;
}

/* ------------------------------------------------------------------ */
/* Reading: the whole header                                           */
/* ------------------------------------------------------------------ */

typedef struct span {
    uint64_t begin, end;
    size_t index; /* into the tensors in JSON order */
} span;

static int compare_spans(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The tensors must tile the data buffer, as the reference implementation
 * requires: sorted by offsets, each starts where the previous one ended and
 * the last ends at the data size. Sorts `spans`. */
static recur_status check_tiling(const char *label, span *spans, size_t count,
                                 const recur_tensor_view *tensors, size_t data_size)
{
    qsort(spans, count, sizeof *spans, compare_spans);
    uint64_t expected = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name = tensors[spans[i].index].name;
        if (spans[i].begin < expected)
            return recur_fail(RECUR_E_FORMAT, "%s: tensor '%.80s' overlaps tensor '%.80s'",
                              label, name, tensors[spans[i - 1].index].name);
        if (spans[i].begin > expected)
            return recur_fail(RECUR_E_FORMAT,
                              "%s: tensor '%.80s' starts at data byte %" PRIu64
                              ", leaving a hole after byte %" PRIu64,
                              label, name, spans[i].begin, expected);
        expected = spans[i].end;
    }
    if (expected != data_size)
        return recur_fail(RECUR_E_FORMAT,
                          "%s: tensors cover %" PRIu64 " bytes but the data has %zu", label,
                          expected, data_size);
    return RECUR_OK;
}

/* Copies the validated tensors into f in data-offset order. */
static recur_status store_tensors(recur_st_file *f, const recur_tensor_view *parsed,
                                  const span *spans, size_t count, const unsigned char *data)
{
    f->tensors = calloc(count ? count : 1, sizeof *f->tensors);
    if (!f->tensors)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory", f->label);
    for (size_t i = 0; i < count; i++) {
        recur_tensor_view *t = &f->tensors[i];
        *t = parsed[spans[i].index];
        t->data = data + spans[i].begin;
        t->name = copy_string(t->name);
        if (!t->name)
            return recur_fail(RECUR_E_NOMEM, "%s: out of memory", f->label);
        f->count = i + 1;
    }
    return RECUR_OK;
}

/* Parses every member of the header object; tensors go to parsed/spans in
 * JSON order. */
static recur_status parse_members(recur_st_file *f, const cJSON *root, size_t data_size,
                                  recur_tensor_view *parsed, span *spans, size_t *count)
{
    int seen_metadata = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (strcmp(item->string, METADATA_KEY) == 0) {
            if (seen_metadata++)
                return recur_fail(RECUR_E_FORMAT, "%s: duplicate __metadata__", f->label);
            RECUR_TRY(parse_metadata(f, item));
            continue;
        }
        span *s = &spans[*count];
        RECUR_TRY(parse_tensor(f->label, item, data_size, &parsed[*count], &s->begin, &s->end));
        s->index = *count;
        ++*count;
    }
    return RECUR_OK;
}

/* Parses, checks and stores the tensors, with scratch arrays of one slot
 * per header member. */
static recur_status parse_tensors(recur_st_file *f, const cJSON *root, size_t data_offset,
                                  recur_tensor_view *parsed, span *spans, const char **names)
{
    const size_t data_size = f->size - data_offset;
    size_t count = 0;
    RECUR_TRY(parse_members(f, root, data_size, parsed, spans, &count));
    for (size_t i = 0; i < count; i++)
        names[i] = parsed[i].name;
    RECUR_TRY(check_unique(f->label, names, count, "tensor name"));
    RECUR_TRY(check_tiling(f->label, spans, count, parsed, data_size));
    return store_tensors(f, parsed, spans, count, f->bytes + data_offset);
}

static recur_status parse_header(recur_st_file *f, const cJSON *root, size_t data_offset)
{
    if (!cJSON_IsObject(root))
        return recur_fail(RECUR_E_FORMAT, "%s: header is not a JSON object", f->label);
    size_t slots = (size_t)cJSON_GetArraySize(root);
    if (slots == 0)
        slots = 1;
    recur_tensor_view *parsed = calloc(slots, sizeof *parsed);
    span *spans = calloc(slots, sizeof *spans);
    const char **names = calloc(slots, sizeof *names);
    recur_status status;
    if (!parsed || !spans || !names)
        status = recur_fail(RECUR_E_NOMEM, "%s: out of memory reading the header", f->label);
    else
        status = parse_tensors(f, root, data_offset, parsed, spans, names);
    free(names);
    free(spans);
    free(parsed);
    return status;
}

static recur_status read_header_length(const recur_st_file *f, size_t *out)
{
    if (f->size < 8)
        return recur_fail(RECUR_E_FORMAT,
                          "%s: file is %zu bytes, too short for the 8-byte header length",
                          f->label, f->size);
    uint64_t length = 0;
    for (int i = 7; i >= 0; i--)
        length = (length << 8) | f->bytes[i];
    if (length == 0)
        return recur_fail(RECUR_E_FORMAT, "%s: header length is 0", f->label);
    if (length > MAX_HEADER_BYTES)
        return recur_fail(RECUR_E_FORMAT, "%s: header length %" PRIu64 " exceeds the limit %u",
                          f->label, length, MAX_HEADER_BYTES);
    if (length > f->size - 8)
        return recur_fail(RECUR_E_FORMAT,
                          "%s: header length %" PRIu64 " exceeds the %zu bytes after it",
                          f->label, length, f->size - 8);
    *out = (size_t)length;
    return RECUR_OK;
}

static recur_status parse_file(recur_st_file *f)
{
    size_t header_length = 0;
    RECUR_TRY(read_header_length(f, &header_length));
    const char *json = (const char *)f->bytes + 8;
    RECUR_TRY(check_json_characters(f->label, json, header_length));
    const char *parse_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, header_length, &parse_end, 0);
    recur_status status;
    if (!root)
        status = recur_fail(RECUR_E_FORMAT, "%s: header is not valid JSON (near header byte %zu)",
                            f->label, parse_end ? (size_t)(parse_end - json) : (size_t)0);
    else if (!parse_end || !only_json_whitespace(parse_end, json + header_length))
        status = recur_fail(RECUR_E_FORMAT, "%s: header has trailing bytes after the JSON",
                            f->label);
    else
        status = parse_header(f, root, 8 + header_length);
    cJSON_Delete(root);
    return status;
}

/* Takes ownership of bytes. */
static recur_status open_bytes(unsigned char *bytes, size_t size, const char *label,
                               recur_st_file **out)
{
    recur_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->label = copy_string(label))) {
        free(f);
        free(bytes);
        return recur_fail(RECUR_E_NOMEM, "out of memory opening %s", label);
    }
    f->bytes = bytes;
    f->size = size;
    recur_status status = parse_file(f);
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
    *out = NULL;
    if (!label)
        label = "(memory)";
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory copying %zu bytes", label, size);
    if (size)
        memcpy(copy, bytes, size);
    return open_bytes(copy, size, label, out);
}

/* Reads a whole regular file into *bytes (malloc'd). */
static recur_status read_file(const char *path, unsigned char **bytes, size_t *size)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return recur_fail(RECUR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat info;
    if (fstat(fileno(file), &info) != 0) {
        int error = errno;
        fclose(file);
        return recur_fail(RECUR_E_IO, "%s: cannot stat: %s", path, strerror(error));
    }
    if (!S_ISREG(info.st_mode)) {
        fclose(file);
        return recur_fail(RECUR_E_IO, "%s: not a regular file", path);
    }
    if (info.st_size < 0 || (uintmax_t)info.st_size > SIZE_MAX) {
        fclose(file);
        return recur_fail(RECUR_E_NOMEM, "%s: file too large for memory", path);
    }
    *size = (size_t)info.st_size;
    *bytes = malloc(*size ? *size : 1);
    if (!*bytes) {
        fclose(file);
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory reading %zu bytes", path, *size);
    }
    size_t got = fread(*bytes, 1, *size, file);
    int error = ferror(file) ? errno : 0;
    fclose(file);
    if (got == *size && !error)
        return RECUR_OK;
    free(*bytes);
    *bytes = NULL;
    if (error)
        return recur_fail(RECUR_E_IO, "%s: read error: %s", path, strerror(error));
    return recur_fail(RECUR_E_IO, "%s: file shrank from %zu to %zu bytes while being read",
                      path, *size, got);
}

recur_status recur_st_open(const char *path, recur_st_file **out)
{
    if (!path || !out)
        return recur_fail(RECUR_E_INVALID, "recur_st_open: NULL argument");
    *out = NULL;
    unsigned char *bytes = NULL;
    size_t size = 0;
    RECUR_TRY(read_file(path, &bytes, &size));
    return open_bytes(bytes, size, path, out);
}

void recur_st_close(recur_st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->count; i++)
        free((char *)f->tensors[i].name);
    for (size_t i = 0; i < f->metadata_count; i++) {
        free(f->metadata[i].key);
        free(f->metadata[i].value);
    }
    free(f->metadata);
    free(f->tensors);
    free(f->bytes);
    free(f->label);
    free(f);
}

/* ------------------------------------------------------------------ */
/* Reading: accessors                                                  */
/* ------------------------------------------------------------------ */

const char *recur_st_label(const recur_st_file *f) { return f ? f->label : ""; }

size_t recur_st_count(const recur_st_file *f) { return f ? f->count : 0; }

const recur_tensor_view *recur_st_tensor(const recur_st_file *f, size_t index)
{
    return f && index < f->count ? &f->tensors[index] : NULL;
}

const recur_tensor_view *recur_st_find(const recur_st_file *f, const char *name)
{
    if (!f || !name)
        return NULL;
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const char *recur_st_metadata(const recur_st_file *f, const char *key)
{
    if (!f || !key)
        return NULL;
    for (size_t i = 0; i < f->metadata_count; i++)
        if (strcmp(f->metadata[i].key, key) == 0)
            return f->metadata[i].value;
    return NULL;
}

size_t recur_st_metadata_count(const recur_st_file *f) { return f ? f->metadata_count : 0; }

void recur_st_metadata_at(const recur_st_file *f, size_t index, const char **key,
                          const char **value)
{
    int present = f && index < f->metadata_count;
    if (key)
        *key = present ? f->metadata[index].key : NULL;
    if (value)
        *value = present ? f->metadata[index].value : NULL;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

typedef struct st_entry {
    char *name;
    recur_dtype dtype;
    int ndim;
    int64_t shape[RECUR_MAX_DIMS];
    unsigned char *data; /* a copy */
    size_t nbytes;
} st_entry;

struct recur_st_writer {
    st_entry *entries; /* in insertion order, which is also the data order */
    size_t count, capacity;
    st_pair *metadata; /* in insertion order */
    size_t metadata_count, metadata_capacity;
    uint64_t data_size; /* sum of the entries' nbytes */
};

/* Doubles an array's capacity; NULL (array untouched) when out of memory. */
static void *grow_array(void *array, size_t *capacity, size_t element_size)
{
    size_t grown = *capacity ? 2 * *capacity : 8, bytes;
    if (grown <= *capacity || !recur_mul_size(grown, element_size, &bytes)) /* overflow */
        return NULL;
    void *larger = realloc(array, bytes);
    if (larger)
        *capacity = grown;
    return larger;
}

recur_status recur_st_writer_create(recur_st_writer **out)
{
    if (!out)
        return recur_fail(RECUR_E_INVALID, "recur_st_writer_create: NULL argument");
    *out = calloc(1, sizeof **out);
    return *out ? RECUR_OK : recur_fail(RECUR_E_NOMEM, "out of memory creating a writer");
}

void recur_st_writer_free(recur_st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->count; i++) {
        free(w->entries[i].name);
        free(w->entries[i].data);
    }
    for (size_t i = 0; i < w->metadata_count; i++) {
        free(w->metadata[i].key);
        free(w->metadata[i].value);
    }
    free(w->entries);
    free(w->metadata);
    free(w);
}

static recur_status check_new_name(const recur_st_writer *w, const char *name)
{
    if (!utf8_valid(name) || has_control_character(name))
        return recur_fail(RECUR_E_INVALID,
                          "tensor name is not valid UTF-8 or holds a control character");
    if (strcmp(name, METADATA_KEY) == 0)
        return recur_fail(RECUR_E_INVALID, "tensor name '%s' is reserved", METADATA_KEY);
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            return recur_fail(RECUR_E_INVALID, "duplicate tensor name '%.80s'", name);
    return RECUR_OK;
}

/* The byte size of a tensor the reader will accept back: dimensions in
 * [0, 2^53], no overflow. */
static recur_status tensor_bytes(const char *name, recur_dtype dtype, int ndim,
                                 const int64_t *shape, size_t *nbytes)
{
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (uint64_t)shape[d] > MAX_JSON_INTEGER)
            return recur_fail(RECUR_E_INVALID, "tensor '%.80s': dimension %d is %" PRId64, name,
                              d, shape[d]);
        if ((uint64_t)shape[d] > SIZE_MAX || !recur_mul_size(numel, (size_t)shape[d], &numel))
            return recur_fail(RECUR_E_INVALID, "tensor '%.80s': element count overflows", name);
    }
    if (!recur_mul_size(numel, recur_dtype_size(dtype), nbytes))
        return recur_fail(RECUR_E_INVALID, "tensor '%.80s': byte size overflows", name);
    return RECUR_OK;
}

recur_status recur_st_writer_add(recur_st_writer *w, const char *name, recur_dtype dtype,
                                 int ndim, const int64_t *shape, const void *data)
{
    if (!w || !name)
        return recur_fail(RECUR_E_INVALID, "recur_st_writer_add: NULL argument");
    if ((unsigned)dtype >= RECUR_DTYPE_COUNT)
        return recur_fail(RECUR_E_INVALID, "tensor '%.80s': unknown dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > RECUR_MAX_DIMS || (ndim > 0 && !shape))
        return recur_fail(RECUR_E_INVALID, "tensor '%.80s': ndim %d is not in [0, %d] or no shape",
                          name, ndim, RECUR_MAX_DIMS);
    RECUR_TRY(check_new_name(w, name));
    size_t nbytes = 0;
    RECUR_TRY(tensor_bytes(name, dtype, ndim, shape, &nbytes));
    if (nbytes && !data)
        return recur_fail(RECUR_E_INVALID, "tensor '%.80s': NULL data", name);
    if (nbytes > MAX_JSON_INTEGER - w->data_size)
        return recur_fail(RECUR_E_INVALID, "tensor '%.80s': the data would exceed 2^53 bytes",
                          name);
    if (w->count == w->capacity) {
        st_entry *entries = grow_array(w->entries, &w->capacity, sizeof *entries);
        if (!entries)
            return recur_fail(RECUR_E_NOMEM, "out of memory adding tensor '%.80s'", name);
        w->entries = entries;
    }
    st_entry *e = &w->entries[w->count];
    memset(e, 0, sizeof *e);
    e->name = copy_string(name);
    e->data = malloc(nbytes ? nbytes : 1);
    if (!e->name || !e->data) {
        free(e->name);
        free(e->data);
        return recur_fail(RECUR_E_NOMEM, "out of memory copying tensor '%.80s'", name);
    }
    if (nbytes)
        memcpy(e->data, data, nbytes);
    e->dtype = dtype;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        e->shape[d] = shape[d];
    e->nbytes = nbytes;
    w->data_size += nbytes;
    w->count++;
    return RECUR_OK;
}

/* Sets a key; a key set twice keeps its first position and its last value. */
recur_status recur_st_writer_set_metadata(recur_st_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value)
        return recur_fail(RECUR_E_INVALID, "recur_st_writer_set_metadata: NULL argument");
    if (!utf8_valid(key) || !utf8_valid(value))
        return recur_fail(RECUR_E_INVALID, "metadata key and value must be valid UTF-8");
    char *value_copy = copy_string(value);
    if (!value_copy)
        return recur_fail(RECUR_E_NOMEM, "out of memory setting metadata");
    for (size_t i = 0; i < w->metadata_count; i++)
        if (strcmp(w->metadata[i].key, key) == 0) {
            free(w->metadata[i].value);
            w->metadata[i].value = value_copy;
            return RECUR_OK;
        }
    char *key_copy = copy_string(key);
    if (key_copy && w->metadata_count == w->metadata_capacity) {
        st_pair *grown = grow_array(w->metadata, &w->metadata_capacity, sizeof *grown);
        if (grown)
            w->metadata = grown;
        else {
            free(key_copy);
            key_copy = NULL;
        }
    }
    if (!key_copy) {
        free(value_copy);
        return recur_fail(RECUR_E_NOMEM, "out of memory setting metadata");
    }
    w->metadata[w->metadata_count].key = key_copy;
    w->metadata[w->metadata_count].value = value_copy;
    w->metadata_count++;
    return RECUR_OK;
}

/* Appends an integer to a JSON array, written exactly as digits (cJSON
 * would print a double, as 1e+15 from 10^15 on). */
static int append_integer(cJSON *array, uint64_t value)
{
    char digits[24];
    snprintf(digits, sizeof digits, "%" PRIu64, value);
    cJSON *item = cJSON_CreateRaw(digits);
    if (!item)
        return 0;
    if (!cJSON_AddItemToArray(array, item)) {
        cJSON_Delete(item);
        return 0;
    }
    return 1;
}

static int add_entry_json(cJSON *root, const st_entry *e, uint64_t begin)
{
    cJSON *entry = cJSON_AddObjectToObject(root, e->name);
    if (!entry || !cJSON_AddStringToObject(entry, "dtype", recur_dtype_name(e->dtype)))
        return 0;
    cJSON *shape = cJSON_AddArrayToObject(entry, "shape");
    if (!shape)
        return 0;
    for (int d = 0; d < e->ndim; d++)
        if (!append_integer(shape, (uint64_t)e->shape[d]))
            return 0;
    cJSON *offsets = cJSON_AddArrayToObject(entry, "data_offsets");
    return offsets && append_integer(offsets, begin) && append_integer(offsets, begin + e->nbytes);
}

/* The JSON header, unformatted (free with cJSON_free), or NULL when out of memory. */
static char *build_header(const recur_st_writer *w)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && w->metadata_count) {
        cJSON *meta = cJSON_AddObjectToObject(root, METADATA_KEY);
        ok = meta != NULL;
        for (size_t i = 0; ok && i < w->metadata_count; i++)
            ok = cJSON_AddStringToObject(meta, w->metadata[i].key, w->metadata[i].value) != NULL;
    }
    uint64_t offset = 0;
    for (size_t i = 0; ok && i < w->count; i++) {
        ok = add_entry_json(root, &w->entries[i], offset);
        offset += w->entries[i].nbytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

typedef struct st_contents {
    const recur_st_writer *writer;
    const char *header;
} st_contents;

/* Writes the length, the header padded with spaces so that the data starts
 * at a multiple of 8, and the data. Returns 0 or an errno value. */
static int write_st_contents(FILE *file, void *context)
{
    const recur_st_writer *w = ((const st_contents *)context)->writer;
    const char *header = ((const st_contents *)context)->header;
    static const char spaces[8] = "        ";
    size_t json_length = strlen(header);
    size_t padded = (json_length + 7) & ~(size_t)7;
    unsigned char length_bytes[8];
    for (int i = 0; i < 8; i++)
        length_bytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(length_bytes, 1, 8, file) == 8 &&
             fwrite(header, 1, json_length, file) == json_length &&
             fwrite(spaces, 1, padded - json_length, file) == padded - json_length;
    for (size_t i = 0; ok && i < w->count; i++)
        ok = fwrite(w->entries[i].data, 1, w->entries[i].nbytes, file) == w->entries[i].nbytes;
    return ok ? 0 : (errno ? errno : EIO);
}

recur_status recur_st_writer_save(const recur_st_writer *w, const char *path)
{
    if (!w || !path)
        return recur_fail(RECUR_E_INVALID, "recur_st_writer_save: NULL argument");
    char *header = build_header(w);
    if (!header)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory writing the header", path);
    st_contents contents = {w, header};
    recur_status status = recur_write_file_atomic(path, write_st_contents, &contents);
    cJSON_free(header);
    return status;
}
