/* CSV tables read with libcsv (see "Tables and time series" in recur.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#include "core/status.h"

struct recur_table {
    char *label;
    char delimiter;
    int columns;
    int64_t rows;
    char *arena;      /* every data cell, NUL-terminated */
    size_t *offsets;  /* [rows * columns] into arena */
    int64_t *lines;   /* [rows] */
    char **names;     /* [columns] */
};

/* What the libcsv callbacks build. */
typedef struct reader {
    char *arena;
    size_t arena_len, arena_cap;
    size_t *offsets;
    size_t noffsets, offsets_cap;
    int64_t *lines;
    size_t nlines, lines_cap;
    size_t record_fields; /* fields of the record being read */
    size_t expected;      /* fields of the first record, 0 before it */
    int64_t cur_line;     /* 1-based line being fed to the parser */
    int64_t record_line;  /* line where the current record starts */
    int64_t last_row_line; /* line where the last record ended */
    int64_t bad_line;     /* first record with a wrong field count */
    size_t bad_fields;
    int out_of_memory;
} reader;

static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 1;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) {
        if (cap2 > SIZE_MAX / 2 / elem)
            return 0;
        cap2 *= 2;
    }
    void *p = realloc(*buf, cap2 * elem);
    if (!p)
        return 0;
    *buf = p;
    *cap = cap2;
    return 1;
}

static void on_field(void *s, size_t len, void *data)
{
    reader *r = data;
    if (r->out_of_memory || r->bad_line)
        return;
    if (r->record_fields == 0) {
        int64_t newlines = 0;
        for (size_t i = 0; i < len; i++)
            newlines += ((const char *)s)[i] == '\n';
        r->record_line = r->cur_line - newlines;
    }
    r->record_fields++;
    if (!grow((void **)&r->arena, &r->arena_cap, r->arena_len + len + 1, 1) ||
        !grow((void **)&r->offsets, &r->offsets_cap, r->noffsets + 1, sizeof(size_t))) {
        r->out_of_memory = 1;
        return;
    }
    r->offsets[r->noffsets++] = r->arena_len;
    if (len)
        memcpy(r->arena + r->arena_len, s, len);
    r->arena_len += len;
    r->arena[r->arena_len++] = '\0';
}

static void on_row(int c, void *data)
{
    (void)c;
    reader *r = data;
    if (r->out_of_memory || r->bad_line)
        return;
    if (r->record_fields == 0)
        return;
    if (r->expected == 0) {
        r->expected = r->record_fields;
    } else if (r->record_fields != r->expected) {
        r->bad_line = r->record_line;
        r->bad_fields = r->record_fields;
        return;
    }
    if (!grow((void **)&r->lines, &r->lines_cap, r->nlines + 1, sizeof(int64_t))) {
        r->out_of_memory = 1;
        return;
    }
    r->lines[r->nlines++] = r->record_line;
    r->record_fields = 0;
    r->last_row_line = r->cur_line;
}

static int space_only(unsigned char c) { return c == ' '; }
static int space_tab(unsigned char c) { return c == ' ' || c == '\t'; }

/* The delimiter rule of recur.h. */
static char detect_delimiter(const char *bytes, size_t size)
{
    static const char cands[4] = {',', ';', '\t', '|'};
    enum { LINES = 20 };
    int counts[LINES][4];
    int nlines = 0, quoted = 0, blank = 1;
    memset(counts, 0, sizeof counts);
    for (size_t i = 0; i < size && nlines < LINES; i++) {
        char c = bytes[i];
        if (c == '"') {
            quoted = !quoted;
            blank = 0;
        } else if ((c == '\n' || c == '\r') && !quoted) {
            if (!blank)
                nlines++;
            blank = 1;
        } else if (!quoted) {
            if (c != ' ')
                blank = 0;
            for (int k = 0; k < 4; k++)
                if (c == cands[k])
                    counts[nlines][k]++;
        }
    }
    if (!blank && nlines < LINES)
        nlines++;
    int best = -1, best_count = 0;
    for (int k = 0; k < 4; k++) {
        int same = counts[0][k] >= 1;
        for (int l = 1; l < nlines && same; l++)
            same = counts[l][k] == counts[0][k];
        if (same && counts[0][k] > best_count) {
            best = k;
            best_count = counts[0][k];
        }
    }
    if (best < 0)
        for (int k = 0; k < 4; k++)
            if (counts[0][k] > best_count) {
                best = k;
                best_count = counts[0][k];
            }
    return best < 0 ? ',' : cands[best];
}

int recur_cell_is_missing(const char *t)
{
    static const char *const tokens[] = {"NA", "NaN", "nan", "NAN", "N/A", "?", "NULL", "null",
                                         "None", "-nan"};
    if (!t || !*t)
        return 1;
    for (size_t i = 0; i < sizeof tokens / sizeof *tokens; i++)
        if (!strcmp(t, tokens[i]))
            return 1;
    return 0;
}

int recur_cell_number(const char *t, double *out)
{
    if (!t || !*t || isspace((unsigned char)*t))
        return 0;
    char *end = NULL;
    errno = 0;
    double v = strtod(t, &end);
    if (end == t || *end || !isfinite(v))
        return 0;
    if (out)
        *out = v;
    return 1;
}

void recur_table_free(recur_table *t)
{
    if (!t)
        return;
    if (t->names)
        for (int j = 0; j < t->columns; j++)
            free(t->names[j]);
    free(t->names);
    free(t->label);
    free(t->arena);
    free(t->offsets);
    free(t->lines);
    free(t);
}

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

recur_status recur_table_parse(const char *bytes, size_t size, const char *label,
                               char delimiter, int has_header, recur_table **out)
{
    if (!out || (!bytes && size))
        return recur_fail(RECUR_E_INVALID, "table: NULL argument");
    *out = NULL;
    if (!label)
        label = "<memory>";
    if (delimiter == '"' || delimiter == '\n' || delimiter == '\r')
        return recur_fail(RECUR_E_INVALID, "%s: bad delimiter", label);
    if (has_header < -1 || has_header > 1)
        return recur_fail(RECUR_E_INVALID, "%s: has_header must be -1, 0 or 1", label);
    if (size >= 3 && !memcmp(bytes, "\xEF\xBB\xBF", 3)) {
        bytes += 3;
        size -= 3;
    }
    if (!delimiter)
        delimiter = detect_delimiter(bytes, size);

    struct csv_parser parser;
    if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory", label);
    csv_set_delim(&parser, (unsigned char)delimiter);
    csv_set_space_func(&parser, delimiter == '\t' ? space_only : space_tab);
    reader r = {0};
    r.cur_line = 1;
    recur_status st = RECUR_OK;
    size_t pos = 0;
    int parse_error = 0;
    /* One physical line at a time, so that callbacks know the line number. */
    while (pos < size && !r.bad_line && !r.out_of_memory) {
        const char *nl = memchr(bytes + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (bytes + pos)) + 1 : size - pos;
        if (csv_parse(&parser, bytes + pos, len, on_field, on_row, &r) != len) {
            parse_error = 1;
            break;
        }
        pos += len;
        if (nl)
            r.cur_line++;
    }
    if (!parse_error && !r.bad_line && !r.out_of_memory &&
        csv_fini(&parser, on_field, on_row, &r) != 0)
        parse_error = 1;
    if (r.out_of_memory || (parse_error && csv_error(&parser) == CSV_ENOMEM))
        st = recur_fail(RECUR_E_NOMEM, "%s: out of memory", label);
    else if (parse_error && pos < size)
        st = recur_fail(RECUR_E_FORMAT, "%s: line %lld: malformed quoting (a quote inside an "
                        "unquoted field or text after a closing quote)", label,
                        (long long)r.cur_line);
    else if (parse_error)
        st = recur_fail(RECUR_E_FORMAT, "%s: line %lld: unterminated quoted field", label,
                        (long long)(r.record_fields ? r.record_line : r.last_row_line + 1));
    else if (r.bad_line)
        st = recur_fail(RECUR_E_FORMAT, "%s: line %lld: %zu field%s, expected %zu", label,
                        (long long)r.bad_line, r.bad_fields, r.bad_fields == 1 ? "" : "s",
                        r.expected);
    else if (r.nlines == 0 || r.expected == 0) /* every row has >= 1 field: both or neither */
        st = recur_fail(RECUR_E_FORMAT, "%s: empty file, no rows", label);
    csv_free(&parser);
    if (st != RECUR_OK) {
        free(r.arena);
        free(r.offsets);
        free(r.lines);
        return st;
    }

    size_t cols = r.expected;
    if (cols > 1000000) {
        free(r.arena);
        free(r.offsets);
        free(r.lines);
        return recur_fail(RECUR_E_FORMAT, "%s: too many columns (%zu)", label, cols);
    }
    if (has_header < 0) {
        has_header = 0;
        if (r.nlines >= 2)
            for (size_t j = 0; j < cols && !has_header; j++)
                has_header = !recur_cell_number(r.arena + r.offsets[j], NULL) &&
                             recur_cell_number(r.arena + r.offsets[cols + j], NULL);
    }
    recur_table *t = calloc(1, sizeof *t);
    if (!t)
        goto nomem;
    t->arena = r.arena;
    t->lines = r.lines;
    t->delimiter = delimiter;
    t->columns = (int)cols;
    t->rows = (int64_t)r.nlines - (has_header ? 1 : 0);
    r.arena = NULL;
    r.lines = NULL;
    t->label = dup_string(label);
    t->names = calloc(cols, sizeof *t->names);
    if (!t->label || !t->names)
        goto nomem;
    for (size_t j = 0; j < cols; j++) {
        char num[24];
        snprintf(num, sizeof num, "%zu", j);
        t->names[j] = dup_string(has_header ? t->arena + r.offsets[j] : num);
        if (!t->names[j])
            goto nomem;
    }
    if (has_header) {
        memmove(r.offsets, r.offsets + cols, (r.noffsets - cols) * sizeof *r.offsets);
        memmove(t->lines, t->lines + 1, (size_t)t->rows * sizeof *t->lines);
    }
    t->offsets = r.offsets;
    *out = t;
    return RECUR_OK;
nomem:
    free(r.arena);
    free(r.offsets);
    free(r.lines);
    recur_table_free(t);
    return recur_fail(RECUR_E_NOMEM, "%s: out of memory", label);
}

recur_status recur_table_read(const char *path, char delimiter, int has_header,
                              recur_table **out)
{
    if (!path || !out)
        return recur_fail(RECUR_E_INVALID, "table: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return recur_fail(RECUR_E_IO, "%s: %s", path, strerror(errno));
    char *bytes = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (!grow((void **)&bytes, &cap, size + 65536, 1)) {
            free(bytes);
            fclose(f);
            return recur_fail(RECUR_E_NOMEM, "%s: out of memory", path);
        }
        size_t n = fread(bytes + size, 1, cap - size, f);
        size += n;
        if (n == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(bytes);
        return recur_fail(RECUR_E_IO, "%s: read error", path);
    }
    recur_status st = recur_table_parse(bytes, size, path, delimiter, has_header, out);
    free(bytes);
    return st;
}

int recur_table_columns(const recur_table *t) { return t ? t->columns : 0; }
int64_t recur_table_rows(const recur_table *t) { return t ? t->rows : 0; }
const char *recur_table_label(const recur_table *t) { return t ? t->label : ""; }
char recur_table_delimiter(const recur_table *t) { return t ? t->delimiter : 0; }

const char *recur_table_column_name(const recur_table *t, int column)
{
    if (!t || column < 0 || column >= t->columns)
        return "";
    return t->names[column];
}

int recur_table_find_column(const recur_table *t, const char *name)
{
    if (!t || !name)
        return -1;
    for (int j = 0; j < t->columns; j++)
        if (!strcmp(t->names[j], name))
            return j;
    const char *p = name[0] == '#' ? name + 1 : name;
    if (!*p || strlen(p) > 9)
        return -1;
    long v = 0;
    for (const char *q = p; *q; q++) {
        if (*q < '0' || *q > '9')
            return -1;
        v = v * 10 + (*q - '0');
    }
    return v < t->columns ? (int)v : -1;
}

const char *recur_table_cell(const recur_table *t, int64_t row, int column)
{
    if (!t || row < 0 || row >= t->rows || column < 0 || column >= t->columns)
        return NULL;
    return t->arena + t->offsets[(size_t)row * (size_t)t->columns + (size_t)column];
}

int64_t recur_table_row_line(const recur_table *t, int64_t row)
{
    if (!t || row < 0 || row >= t->rows)
        return 0;
    return t->lines[row];
}
