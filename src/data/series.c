/* Regular time series from tables: times, frequencies, resampling, missing
 * values, one-hot categories (see "Tables and time series" in recur.h). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* ---- civil time (proleptic Gregorian, UTC; H. Hinnant's algorithms) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int month_days(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

recur_status recur_time_from_civil(int64_t year, int month, int day, int hour, int minute,
                                   int second, int64_t *out)
{
    if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 ||
        day > month_days(year, month) || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
        second < 0 || second > 59)
        return recur_fail(RECUR_E_FORMAT, "no such date/time %lld-%d-%d %d:%d:%d",
                          (long long)year, month, day, hour, minute, second);
    *out = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    return RECUR_OK;
}

/* Reads between min and max digits. */
static int read_digits(const char **p, int min, int max, int *value)
{
    int n = 0, v = 0;
    while (n < max && isdigit((unsigned char)(*p)[n])) {
        v = v * 10 + ((*p)[n] - '0');
        n++;
    }
    if (n < min)
        return 0;
    *p += n;
    *value = v;
    return 1;
}

recur_status recur_time_parse(const char *text, int64_t *out)
{
    if (!text || !out)
        return recur_fail(RECUR_E_INVALID, "time: NULL argument");
    const char *p = text;
    int year, month = 1, day = 1, hour = 0, minute = 0, second = 0;
    int64_t offset = 0;
    if (!read_digits(&p, 4, 4, &year))
        goto bad;
    if (*p == '-' || *p == '/') {
        char sep = *p++;
        if (!read_digits(&p, 1, 2, &month))
            goto bad;
        if (*p == sep) {
            p++;
            if (!read_digits(&p, 1, 2, &day))
                goto bad;
            if (*p == 'T' || *p == ' ') {
                while (*p == ' ')
                    p++;
                if (*p == 'T')
                    p++;
                if (!read_digits(&p, 1, 2, &hour) || *p++ != ':' || !read_digits(&p, 2, 2, &minute))
                    goto bad;
                if (*p == ':') {
                    p++;
                    if (!read_digits(&p, 2, 2, &second))
                        goto bad;
                    if (*p == '.' || *p == ',') {
                        p++;
                        if (!isdigit((unsigned char)*p))
                            goto bad;
                        while (isdigit((unsigned char)*p))
                            p++;
                    }
                }
                while (*p == ' ')
                    p++;
                if (*p == 'Z') {
                    p++;
                } else if (*p == '+' || *p == '-') {
                    int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
                    if (!read_digits(&p, 2, 2, &oh))
                        goto bad;
                    if (*p == ':')
                        p++;
                    if (isdigit((unsigned char)*p) && !read_digits(&p, 2, 2, &om))
                        goto bad;
                    if (oh > 23 || om > 59)
                        goto bad;
                    offset = sign * (oh * 3600 + om * 60);
                }
            }
        }
    }
    if (*p)
        goto bad;
    int64_t t;
    if (recur_time_from_civil(year, month, day, hour, minute, second, &t) != RECUR_OK)
        goto bad;
    *out = t - offset;
    return RECUR_OK;
bad:
    return recur_fail(RECUR_E_FORMAT, "cannot read the time '%s'", text);
}

/* ---- frequencies ---- */

recur_status recur_freq_parse(const char *text, recur_freq *out)
{
    if (!text || !out)
        return recur_fail(RECUR_E_INVALID, "freq: NULL argument");
    const char *p = text;
    while (*p == ' ')
        p++;
    int64_t n = 1;
    if (isdigit((unsigned char)*p)) {
        n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > 1000000000)
                goto bad;
            n = n * 10 + (*p++ - '0');
        }
    }
    while (*p == ' ')
        p++;
    char unit[16];
    size_t len = strlen(p);
    while (len && p[len - 1] == ' ')
        len--;
    if (len >= sizeof unit)
        goto bad;
    for (size_t i = 0; i < len; i++)
        unit[i] = (char)tolower((unsigned char)p[i]);
    unit[len] = '\0';
    if (n <= 0 || (p == text && !len))
        goto bad;
    static const struct {
        const char *name;
        int64_t seconds;
        int32_t months;
    } units[] = {{"", 1, 0},          {"s", 1, 0},        {"sec", 1, 0},
                 {"secs", 1, 0},      {"second", 1, 0},   {"seconds", 1, 0},
                 {"min", 60, 0},      {"mins", 60, 0},    {"minute", 60, 0},
                 {"minutes", 60, 0},  {"h", 3600, 0},     {"hr", 3600, 0},
                 {"hrs", 3600, 0},    {"hour", 3600, 0},  {"hours", 3600, 0},
                 {"d", 86400, 0},     {"day", 86400, 0},  {"days", 86400, 0},
                 {"w", 604800, 0},    {"wk", 604800, 0},  {"week", 604800, 0},
                 {"weeks", 604800, 0}, {"mo", 0, 1},      {"mon", 0, 1},
                 {"month", 0, 1},     {"months", 0, 1},   {"q", 0, 3},
                 {"y", 0, 12},        {"yr", 0, 12},      {"year", 0, 12},
                 {"years", 0, 12}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (strcmp(unit, units[i].name) != 0)
            continue;
        if (units[i].seconds) {
            if (n > INT64_MAX / units[i].seconds)
                goto bad;
            *out = (recur_freq){n * units[i].seconds, 0};
        } else {
            if (n * units[i].months > 120000)
                goto bad;
            *out = (recur_freq){0, (int32_t)(n * units[i].months)};
        }
        return RECUR_OK;
    }
    if (!strcmp(unit, "m"))
        return recur_fail(RECUR_E_INVALID,
                          "freq '%s': 'm' is ambiguous, write 'min' (minutes) or 'mo' (months)",
                          text);
bad:
    return recur_fail(RECUR_E_INVALID,
                      "freq '%s': expected a count and a unit: s, min, h, d, w, mo, q, y "
                      "(as 30s, 15min, 1h, 1d, 1w, 1mo, 1y)",
                      text);
}

void recur_freq_format(recur_freq f, char *buf, size_t size)
{
    if (!buf || !size)
        return;
    if (f.months > 0) {
        if (f.months % 12 == 0)
            snprintf(buf, size, "%dy", (int)(f.months / 12));
        else
            snprintf(buf, size, "%dmo", (int)f.months);
        return;
    }
    static const struct {
        int64_t s;
        const char *u;
    } units[] = {{604800, "w"}, {86400, "d"}, {3600, "h"}, {60, "min"}};
    for (size_t i = 0; i < 4; i++)
        if (f.seconds > 0 && f.seconds % units[i].s == 0) {
            snprintf(buf, size, "%lld%s", (long long)(f.seconds / units[i].s), units[i].u);
            return;
        }
    snprintf(buf, size, "%llds", (long long)f.seconds);
}

static int64_t month_index(int64_t t)
{
    int64_t y;
    int m, d;
    civil_from_days(floor_div(t, 86400), &y, &m, &d);
    return y * 12 + (m - 1);
}

static int64_t month_start(int64_t mi)
{
    return days_from_civil(floor_div(mi, 12), (int)(mi - floor_div(mi, 12) * 12) + 1, 1) * 86400;
}

int64_t recur_freq_add(int64_t t, recur_freq f, int64_t k)
{
    if (f.months <= 0)
        return t + k * f.seconds;
    int64_t days = floor_div(t, 86400), tod = t - days * 86400, y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t mi = y * 12 + (m - 1) + k * f.months;
    y = floor_div(mi, 12);
    m = (int)(mi - y * 12) + 1;
    if (d > month_days(y, m))
        d = month_days(y, m);
    return days_from_civil(y, m, d) * 86400 + tod;
}

void recur_time_format(int64_t t, recur_freq f, char *buf, size_t size)
{
    if (!buf || !size)
        return;
    int64_t days = floor_div(t, 86400), tod = t - days * 86400, y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int hh = (int)(tod / 3600), mm = (int)(tod / 60 % 60), ss = (int)(tod % 60);
    if (f.months > 0 && tod == 0 && d == 1) {
        if (f.months % 12 == 0 && m == 1)
            snprintf(buf, size, "%04lld", (long long)y);
        else
            snprintf(buf, size, "%04lld-%02d", (long long)y, m);
    } else if (tod == 0 && (f.months > 0 || f.seconds == 0 || f.seconds % 86400 == 0)) {
        snprintf(buf, size, "%04lld-%02d-%02d", (long long)y, m, d);
    } else if (ss == 0 && (f.months > 0 || f.seconds % 60 == 0)) {
        snprintf(buf, size, "%04lld-%02d-%02d %02d:%02d", (long long)y, m, d, hh, mm);
    } else {
        snprintf(buf, size, "%04lld-%02d-%02d %02d:%02d:%02d", (long long)y, m, d, hh, mm, ss);
    }
}

/* ---- names ---- */

static const char *const fill_names[] = {"forward", "linear", "mean", "zero", "none"};
static const char *const agg_names[] = {"mean", "sum", "last", "first", "max", "min"};

recur_status recur_fill_parse(const char *text, recur_fill *out)
{
    if (text && out) {
        if (!strcmp(text, "ffill")) {
            *out = RECUR_FILL_FORWARD;
            return RECUR_OK;
        }
        for (int i = 0; i < 5; i++)
            if (!strcmp(text, fill_names[i])) {
                *out = (recur_fill)i;
                return RECUR_OK;
            }
    }
    return recur_fail(RECUR_E_INVALID, "fill '%s': expected ffill, linear, mean, zero or none",
                      text ? text : "(null)");
}

recur_status recur_agg_parse(const char *text, recur_agg *out)
{
    if (text && out)
        for (int i = 0; i < 6; i++)
            if (!strcmp(text, agg_names[i])) {
                *out = (recur_agg)i;
                return RECUR_OK;
            }
    return recur_fail(RECUR_E_INVALID,
                      "aggregation '%s': expected mean, sum, last, first, max or min",
                      text ? text : "(null)");
}

const char *recur_fill_name(recur_fill fill)
{
    return (unsigned)fill < 5 ? fill_names[fill] : "?";
}

const char *recur_agg_name(recur_agg agg)
{
    return (unsigned)agg < 6 ? agg_names[agg] : "?";
}

recur_series_options recur_series_options_default(void)
{
    recur_series_options o;
    memset(&o, 0, sizeof o);
    o.agg = RECUR_AGG_MEAN;
    o.fill = RECUR_FILL_FORWARD;
    o.max_gap = 24;
    o.max_categories = 64;
    o.missing_mask = 1;
    return o;
}

/* ---- series ---- */

void recur_series_free(recur_series *s)
{
    if (!s)
        return;
    if (s->names)
        for (int c = 0; c < s->channels; c++)
            free(s->names[c]);
    free(s->names);
    free(s->times);
    free(s->values);
    free(s->kinds);
    free(s->source);
    free(s->target_index);
    free(s->fill_means);
    if (s->report.column)
        for (int i = 0; i < s->report.columns; i++)
            free((char *)s->report.column[i].name);
    free(s->report.column);
    free(s);
}

int recur_series_find_channel(const recur_series *s, const char *name)
{
    if (!s || !name)
        return -1;
    for (int c = 0; c < s->channels; c++)
        if (!strcmp(s->names[c], name))
            return c;
    return -1;
}

static char *dup_printf2(const char *a, const char *sep, const char *b)
{
    size_t size = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *d = malloc(size);
    if (d)
        snprintf(d, size, "%s%s%s", a, sep, b);
    return d;
}

/* A column selected for the series. */
typedef struct column {
    int index;          /* in the table */
    char name[64];      /* display name for messages/channels is table's (or #j) */
    int target;
    int categorical;
    int ncat;
    const char **cats;  /* sorted category texts (point into the table) */
    int first_channel;  /* value channels [first_channel, first_channel + width) */
    int width;
    recur_series_column_report rep;
} column;

typedef struct builder {
    const recur_table *table;
    const recur_series_options *opt;
    const char *label;
    column *cols;
    int ncols, cap;
    struct time_cols *tc;
} builder;

static const char *col_name(const recur_table *t, int j, char *buf, size_t size)
{
    const char *n = recur_table_column_name(t, j);
    if (*n)
        return n;
    snprintf(buf, size, "#%d", j);
    return buf;
}

/* Splits a comma-separated list into trimmed names; calls fn for each. */
typedef recur_status (*name_fn)(builder *b, const char *name, int role);

static recur_status for_each_name(builder *b, const char *list, int role, name_fn fn,
                                  int *count)
{
    char name[256];
    const char *p = list;
    *count = 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p;
        while (len && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len >= sizeof name)
            return recur_fail(RECUR_E_INVALID, "%s: column name too long", b->label);
        memcpy(name, s, len);
        name[len] = '\0';
        if (!len)
            return recur_fail(RECUR_E_INVALID, "%s: empty column name in the list '%s'",
                              b->label, list);
        RECUR_TRY(fn(b, name, role));
        (*count)++;
        p = comma ? comma + 1 : p + strlen(p);
        if (comma && !*p)
            return recur_fail(RECUR_E_INVALID, "%s: empty column name in the list '%s'",
                              b->label, list);
    }
    return RECUR_OK;
}

/* What errors call role r (0 time, 1 target, 2 feature): the caller's
 * recur_series_options.role_names, else these. */
static const char *role_name(const builder *b, int role)
{
    static const char *const defaults[] = {"time", "target", "feature"};
    const char *name = b->opt->role_names[role];
    return name ? name : defaults[role];
}

static int find_selected(const builder *b, int index)
{
    for (int i = 0; i < b->ncols; i++)
        if (b->cols[i].index == index)
            return i;
    return -1;
}

static recur_status add_column(builder *b, int j, int role)
{
    if (b->ncols == b->cap) {
        int cap = b->cap ? 2 * b->cap : 8;
        column *g = realloc(b->cols, (size_t)cap * sizeof *g);
        if (!g)
            return recur_fail(RECUR_E_NOMEM, "%s: out of memory", b->label);
        b->cols = g;
        b->cap = cap;
    }
    column *c = &b->cols[b->ncols++];
    memset(c, 0, sizeof *c);
    c->index = j;
    c->target = role == 1;
    return RECUR_OK;
}

/* Time columns are collected separately in time_idx. */
typedef struct time_cols {
    int idx[6];
    int n;
} time_cols;

static recur_status add_named(builder *b, const char *name, int role)
{
    time_cols *g_time = b->tc;
    int j = recur_table_find_column(b->table, name);
    if (j < 0)
        return recur_fail(RECUR_E_INVALID, "%s: no column named '%s' (%s)", b->label, name,
                          role_name(b, role));
    char buf[32];
    if (role == 0) {
        if (g_time->n == 6)
            return recur_fail(RECUR_E_INVALID,
                              "%s: at most 6 time columns (year,month,day,hour,minute,second)",
                              b->label);
        g_time->idx[g_time->n++] = j;
        return RECUR_OK;
    }
    for (int i = 0; i < g_time->n; i++)
        if (g_time->idx[i] == j)
            return recur_fail(RECUR_E_INVALID, "%s: column '%s' is a time column and a %s",
                              b->label, col_name(b->table, j, buf, sizeof buf),
                              role_name(b, role));
    if (find_selected(b, j) >= 0)
        return recur_fail(RECUR_E_INVALID, "%s: column '%s' is named twice", b->label,
                          col_name(b->table, j, buf, sizeof buf));
    return add_column(b, j, role);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Classifies a column: numbers, missing, categories. auto_feature: skip
 * instead of failing; *skip set. */
static recur_status analyse_column(builder *b, column *c, int auto_feature, int *skip)
{
    const recur_table *t = b->table;
    int64_t rows = recur_table_rows(t);
    char buf[32];
    const char *name = col_name(t, c->index, buf, sizeof buf);
    int64_t numbers = 0, texts = 0, first_text = -1;
    *skip = 0;
    for (int64_t r = 0; r < rows; r++) {
        const char *cell = recur_table_cell(t, r, c->index);
        if (recur_cell_is_missing(cell))
            c->rep.missing_cells++;
        else if (recur_cell_number(cell, NULL))
            numbers++;
        else {
            texts++;
            if (first_text < 0)
                first_text = r;
        }
    }
    c->rep.observed = numbers + texts;
    if (c->target) {
        if (texts)
            return recur_fail(RECUR_E_FORMAT, "%s: line %lld, column '%s': '%s' is not a number "
                              "(%s)", b->label, (long long)recur_table_row_line(t, first_text),
                              name, recur_table_cell(t, first_text, c->index), role_name(b, 1));
        if (!numbers)
            return recur_fail(RECUR_E_FORMAT, "%s: %s column '%s' has no numeric value",
                              b->label, role_name(b, 1), name);
        c->width = 1;
        return RECUR_OK;
    }
    if (!c->rep.observed) {
        if (auto_feature) {
            *skip = 1;
            return RECUR_OK;
        }
        return recur_fail(RECUR_E_FORMAT, "%s: %s column '%s' has no value", b->label,
                          role_name(b, 2), name);
    }
    if (!texts) {
        c->width = 1;
        return RECUR_OK;
    }
    /* Categorical: distinct texts of the non-missing cells. */
    const char **all = malloc((size_t)c->rep.observed * sizeof *all);
    if (!all)
        return recur_fail(RECUR_E_NOMEM, "%s: out of memory", b->label);
    int64_t n = 0;
    for (int64_t r = 0; r < rows; r++) {
        const char *cell = recur_table_cell(t, r, c->index);
        if (!recur_cell_is_missing(cell))
            all[n++] = cell;
    }
    qsort(all, (size_t)n, sizeof *all, cmp_str);
    int64_t distinct = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || strcmp(all[i], all[i - 1]) != 0)
            all[distinct++] = all[i];
    if (distinct > b->opt->max_categories) {
        free(all);
        if (auto_feature) {
            *skip = 1;
            return RECUR_OK;
        }
        return recur_fail(RECUR_E_FORMAT,
                          "%s: column '%s' has %lld distinct non-numeric values, more than "
                          "max_categories %d (first text '%s' at line %lld)",
                          b->label, name, (long long)distinct, b->opt->max_categories,
                          recur_table_cell(t, first_text, c->index),
                          (long long)recur_table_row_line(t, first_text));
    }
    c->categorical = 1;
    c->ncat = (int)distinct;
    c->cats = all;
    c->width = (int)distinct;
    c->rep.categorical = 1;
    c->rep.categories = (int)distinct;
    return RECUR_OK;
}

static int category_of(const column *c, const char *cell)
{
    int lo = 0, hi = c->ncat - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, k = strcmp(cell, c->cats[mid]);
        if (!k)
            return mid;
        if (k < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

/* Row times. */
static recur_status row_time(builder *b, const time_cols *tc, int64_t r, int64_t *out)
{
    const recur_table *t = b->table;
    char buf[32];
    if (tc->n == 1) {
        const char *cell = recur_table_cell(t, r, tc->idx[0]);
        if (recur_time_parse(cell, out) != RECUR_OK)
            return recur_fail(RECUR_E_FORMAT, "%s: line %lld, column '%s': cannot read the time "
                              "'%s' (expected YYYY-MM-DD[ HH:MM[:SS]], YYYY-MM or YYYY)",
                              b->label, (long long)recur_table_row_line(t, r),
                              col_name(t, tc->idx[0], buf, sizeof buf), cell);
        return RECUR_OK;
    }
    int parts[6] = {0, 1, 1, 0, 0, 0};
    for (int i = 0; i < tc->n; i++) {
        const char *cell = recur_table_cell(t, r, tc->idx[i]);
        double v;
        if (!recur_cell_number(cell, &v) || v != floor(v) || v < 0 || v > 9999)
            return recur_fail(RECUR_E_FORMAT, "%s: line %lld, column '%s': '%s' is not a %s",
                              b->label, (long long)recur_table_row_line(t, r),
                              col_name(t, tc->idx[i], buf, sizeof buf), cell,
                              (const char *[]){"year", "month", "day", "hour", "minute",
                                               "second"}[i]);
        parts[i] = (int)v;
    }
    if (recur_time_from_civil(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], out) !=
        RECUR_OK)
        return recur_fail(RECUR_E_FORMAT, "%s: line %lld: no such date/time %d-%d-%d %d:%d:%d",
                          b->label, (long long)recur_table_row_line(t, r), parts[0], parts[1],
                          parts[2], parts[3], parts[4], parts[5]);
    return RECUR_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The most common positive value of sorted diffs (ties: the smaller). */
static int64_t most_common(int64_t *d, int64_t n)
{
    qsort(d, (size_t)n, sizeof *d, cmp_i64);
    int64_t best = 0, best_run = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && d[j] == d[i])
            j++;
        if (d[i] > 0 && j - i > best_run) {
            best = d[i];
            best_run = j - i;
        }
        i = j;
    }
    return best;
}

typedef struct {
    int64_t t;
    int64_t row;
} timed_row;

static int cmp_timed(const void *a, const void *b)
{
    const timed_row *x = a, *y = b;
    if (x->t != y->t)
        return (x->t > y->t) - (x->t < y->t);
    return (x->row > y->row) - (x->row < y->row);
}

static void free_builder(builder *b)
{
    for (int i = 0; i < b->ncols; i++) {
        free(b->cols[i].cats);
        free((char *)b->cols[i].rep.name);
    }
    free(b->cols);
}

static void gap_runs(const unsigned char *missing, int64_t steps, int64_t max_gap,
                     int64_t *runs, int64_t *long_runs, int64_t *longest)
{
    *runs = *long_runs = *longest = 0;
    for (int64_t k = 0; k < steps;) {
        if (!missing[k]) {
            k++;
            continue;
        }
        int64_t j = k;
        while (j < steps && missing[j])
            j++;
        (*runs)++;
        if (j - k > max_gap)
            (*long_runs)++;
        if (j - k > *longest)
            *longest = j - k;
        k = j;
    }
}

recur_status recur_series_from_table(const recur_table *table,
                                     const recur_series_options *options, recur_series **out)
{
    if (!table || !out)
        return recur_fail(RECUR_E_INVALID, "series: NULL argument");
    *out = NULL;
    recur_series_options opt = options ? *options : recur_series_options_default();
    time_cols tc = {{0}, 0};
    builder b = {table, &opt, recur_table_label(table), NULL, 0, 0, &tc};
    recur_series *s = NULL;
    timed_row *order = NULL;
    int64_t *slot = NULL, *diffs = NULL;
    double *acc = NULL;
    int64_t *cnt = NULL;
    unsigned char *miss = NULL;
    recur_status st = RECUR_OK;
    int64_t rows = recur_table_rows(table);
    char buf[32];

    if (opt.max_categories == 0)
        opt.max_categories = 64;
    if ((unsigned)opt.agg > RECUR_AGG_MIN || (unsigned)opt.fill > RECUR_FILL_NONE)
        return recur_fail(RECUR_E_INVALID, "%s: unknown aggregation or fill rule", b.label);
    if (opt.fit_steps < 0 || opt.max_gap < 0 || opt.max_categories < 0)
        return recur_fail(RECUR_E_INVALID, "%s: fit_steps, max_gap and max_categories must be "
                          ">= 0", b.label);
    if (opt.missing_mask < 0 || opt.missing_mask > 2)
        return recur_fail(RECUR_E_INVALID, "%s: missing_mask must be 0, 1 or 2", b.label);
    if (opt.freq.seconds < 0 || opt.freq.months < 0 ||
        (opt.freq.seconds > 0 && opt.freq.months > 0))
        return recur_fail(RECUR_E_INVALID, "%s: bad freq (seconds or months, not both)", b.label);
    if (!opt.targets || !*opt.targets)
        return recur_fail(RECUR_E_INVALID, "%s: no %s column given", b.label, role_name(&b, 1));
    if (rows < 1)
        return recur_fail(RECUR_E_FORMAT, "%s: the table has no data rows", b.label);

    int count;
    if (opt.time && *opt.time)
        st = for_each_name(&b, opt.time, 0, add_named, &count);
    if (st == RECUR_OK)
        st = for_each_name(&b, opt.targets, 1, add_named, &count);
    int ntargets = b.ncols;
    int auto_features = opt.features == NULL;
    if (st == RECUR_OK && !auto_features)
        st = for_each_name(&b, opt.features, 2, add_named, &count);
    if (st == RECUR_OK && auto_features)
        for (int j = 0; j < recur_table_columns(table) && st == RECUR_OK; j++) {
            int is_time = 0;
            for (int i = 0; i < tc.n; i++)
                is_time |= tc.idx[i] == j;
            if (!is_time && find_selected(&b, j) < 0)
                st = add_column(&b, j, 2);
        }
    if (st != RECUR_OK)
        goto done;

    /* Columns: classify, drop skipped automatic features, name. */
    int skipped = 0;
    for (int i = 0; i < b.ncols && st == RECUR_OK;) {
        int skip;
        st = analyse_column(&b, &b.cols[i], auto_features && !b.cols[i].target, &skip);
        if (st == RECUR_OK && skip) {
            free(b.cols[i].cats);
            memmove(&b.cols[i], &b.cols[i + 1], (size_t)(b.ncols - i - 1) * sizeof *b.cols);
            b.ncols--;
            skipped++;
            continue;
        }
        if (st == RECUR_OK) {
            const char *n = col_name(table, b.cols[i].index, buf, sizeof buf);
            b.cols[i].rep.name = dup_printf2(n, "", "");
            if (!b.cols[i].rep.name)
                st = recur_fail(RECUR_E_NOMEM, "%s: out of memory", b.label);
        }
        i++;
    }
    if (st != RECUR_OK)
        goto done;

    /* Times, sorted. */
    order = malloc((size_t)rows * sizeof *order);
    if (!order)
        goto nomem;
    int64_t out_of_order = 0;
    for (int64_t r = 0; r < rows; r++) {
        order[r].row = r;
        if (tc.n == 0)
            order[r].t = r;
        else if ((st = row_time(&b, &tc, r, &order[r].t)) != RECUR_OK)
            goto done;
        if (r > 0 && order[r].t < order[r - 1].t)
            out_of_order++;
    }
    if (out_of_order)
        qsort(order, (size_t)rows, sizeof *order, cmp_timed);

    /* Frequency. */
    recur_freq freq = tc.n == 0 ? (recur_freq){1, 0} : opt.freq;
    if (freq.seconds == 0 && freq.months == 0) {
        diffs = malloc((size_t)rows * sizeof *diffs);
        if (!diffs)
            goto nomem;
        int monthly = 1;
        for (int64_t r = 0; r < rows && monthly; r++)
            monthly = order[r].t == month_start(month_index(order[r].t));
        int64_t n = 0;
        for (int64_t r = 1; r < rows; r++)
            diffs[n++] = monthly ? month_index(order[r].t) - month_index(order[r - 1].t)
                                 : order[r].t - order[r - 1].t;
        int64_t f = most_common(diffs, n);
        if (f <= 0) {
            st = recur_fail(RECUR_E_FORMAT, "%s: fewer than 2 distinct times, cannot detect the "
                            "frequency (give one)", b.label);
            goto done;
        }
        if (monthly)
            freq.months = (int32_t)f;
        else
            freq.seconds = f;
    }

    /* Grid. */
    int64_t t0 = order[0].t, origin, origin_month = 0;
    if (freq.months) {
        int64_t mi = month_index(t0);
        if (12 % freq.months == 0)
            mi -= (mi - floor_div(mi, 12) * 12) % freq.months;
        origin_month = mi;
        origin = month_start(mi);
    } else if (freq.seconds % 86400 == 0) {
        origin = floor_div(t0, 86400) * 86400;
    } else {
        origin = floor_div(t0, freq.seconds) * freq.seconds;
    }
    slot = malloc((size_t)rows * sizeof *slot);
    if (!slot)
        goto nomem;
    for (int64_t r = 0; r < rows; r++)
        slot[r] = freq.months ? floor_div(month_index(order[r].t) - origin_month, freq.months)
                              : floor_div(order[r].t - origin, freq.seconds);
    int64_t steps = slot[rows - 1] + 1;

    int vchan = 0;
    for (int i = 0; i < b.ncols; i++) {
        b.cols[i].first_channel = vchan;
        vchan += b.cols[i].width;
    }
    if (ntargets < 1 || vchan < ntargets) { /* impossible: >= 1 target, each 1 numeric channel */
        st = recur_fail(RECUR_E_INVALID, "%s: no %s channel", b.label, role_name(&b, 1));
        goto done;
    }
    const double cells_asked = (double)steps * (vchan + b.ncols);
    if (steps > ((int64_t)1 << 31) || cells_asked > 1e9) {
        st = recur_fail(RECUR_E_INVALID, "%s: the grid would have %lld steps: is the frequency "
                        "too small?", b.label, (long long)steps);
        goto done;
    }
    /* A grid of over 2^24 cells and over 1024 cells for each value of the
     * table (rows times columns; one-hot channels count up to their
     * categories, at most 64 a column, so a dense grid stays far below) is
     * nearly all missing values: a time stamp far from the others (a typo,
     * or a hostile file: three rows could ask for gigabytes), or a frequency
     * far below the data's. */
    if (cells_asked > (double)(1 << 24) && cells_asked > 1024.0 * (double)rows * b.ncols) {
        st = recur_fail(RECUR_E_INVALID,
                        "%s: the grid would have %lld steps for %lld rows (nearly all missing): "
                        "is a time stamp wrong, or the frequency too small?",
                        b.label, (long long)steps, (long long)rows);
        goto done;
    }

    /* Aggregation. */
    size_t cells = (size_t)steps * (size_t)vchan;
    acc = calloc(cells ? cells : 1, sizeof *acc);
    cnt = calloc(cells ? cells : 1, sizeof *cnt);
    miss = calloc((size_t)steps, 1);
    if (!acc || !cnt || !miss)
        goto nomem;
    int64_t duplicates = 0;
    for (int64_t k = 0; k < steps; k++)
        miss[k] = 1;
    for (int64_t r = 0; r < rows; r++) {
        int64_t k = slot[r];
        if (!miss[k])
            duplicates++;
        miss[k] = 0;
        for (int i = 0; i < b.ncols; i++) {
            column *c = &b.cols[i];
            const char *cell = recur_table_cell(table, order[r].row, c->index);
            if (recur_cell_is_missing(cell))
                continue;
            int cat = -1;
            double v = 0;
            if (c->categorical)
                cat = category_of(c, cell);
            else
                recur_cell_number(cell, &v);
            for (int w = 0; w < c->width; w++) {
                if (c->categorical)
                    v = w == cat;
                size_t at = (size_t)k * (size_t)vchan + (size_t)(c->first_channel + w);
                double *a = &acc[at];
                int64_t n = cnt[at]++;
                switch (opt.agg) {
                case RECUR_AGG_MEAN:
                case RECUR_AGG_SUM: *a += v; break;
                case RECUR_AGG_LAST: *a = v; break;
                case RECUR_AGG_FIRST: if (n == 0) *a = v; break;
                case RECUR_AGG_MAX: if (n == 0 || v > *a) *a = v; break;
                case RECUR_AGG_MIN: if (n == 0 || v < *a) *a = v; break;
                }
            }
        }
    }
    if (opt.agg == RECUR_AGG_MEAN)
        for (size_t i = 0; i < cells; i++)
            if (cnt[i])
                acc[i] /= (double)cnt[i];

    /* The series. */
    s = calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    int nmask = 0;
    for (int i = 0; i < b.ncols; i++) {
        column *c = &b.cols[i];
        for (int64_t k = 0; k < steps; k++)
            c->rep.missing += cnt[(size_t)k * vchan + c->first_channel] == 0;
        if (opt.missing_mask == 2 || (opt.missing_mask == 1 && c->rep.missing))
            nmask++;
    }
    s->steps = steps;
    s->channels = vchan + nmask;
    s->freq = freq;
    s->targets = ntargets;
    s->times = malloc((size_t)steps * sizeof *s->times);
    s->values = malloc((size_t)steps * (size_t)s->channels * sizeof *s->values);
    s->names = calloc((size_t)s->channels, sizeof *s->names);
    s->kinds = calloc((size_t)s->channels, sizeof *s->kinds);
    s->source = calloc((size_t)s->channels, sizeof *s->source);
    s->target_index = calloc((size_t)ntargets, sizeof *s->target_index);
    s->report.column = calloc((size_t)b.ncols, sizeof *s->report.column);
    s->fill_means = calloc((size_t)s->channels, sizeof *s->fill_means);
    if (!s->times || !s->values || !s->names || !s->kinds || !s->source || !s->target_index ||
        !s->report.column || !s->fill_means)
        goto nomem;
    if (opt.fill == RECUR_FILL_MEAN && opt.fill_means && opt.fill_means_count != s->channels) {
        st = recur_fail(RECUR_E_SHAPE, "%s: %d fill means given for %d channels", b.label,
                        opt.fill_means_count, s->channels);
        goto done;
    }
    for (int64_t k = 0; k < steps; k++)
        s->times[k] = tc.n == 0 ? k
                      : freq.months ? month_start(origin_month + k * freq.months)
                                    : origin + k * freq.seconds;
    for (int i = 0; i < ntargets; i++)
        s->target_index[i] = b.cols[i].first_channel;

    unsigned char *colmiss = malloc((size_t)steps);
    if (!colmiss)
        goto nomem;
    int mask_channel = vchan;
    int C = s->channels;
    for (int i = 0; i < b.ncols && st == RECUR_OK; i++) {
        column *c = &b.cols[i];
        const char *name = c->rep.name;
        for (int64_t k = 0; k < steps; k++)
            colmiss[k] = cnt[(size_t)k * vchan + c->first_channel] == 0;
        int64_t gaps; /* the column report counts only the long ones */
        gap_runs(colmiss, steps, opt.max_gap, &gaps, &c->rep.long_gaps, &c->rep.longest_gap);
        int64_t fit = opt.fit_steps > 0 && opt.fit_steps < steps ? opt.fit_steps : steps;
        for (int w = 0; w < c->width && st == RECUR_OK; w++) {
            int ch = c->first_channel + w;
            s->names[ch] = c->categorical ? dup_printf2(name, "=", c->cats[w])
                                          : dup_printf2(name, "", "");
            s->kinds[ch] = c->categorical ? RECUR_CHANNEL_ONEHOT : RECUR_CHANNEL_NUMERIC;
            s->source[ch] = c->index;
            if (!s->names[ch]) {
                st = recur_fail(RECUR_E_NOMEM, "%s: out of memory", b.label);
                break;
            }
            double fill_mean = 0;
            if (opt.fill == RECUR_FILL_MEAN && opt.fill_means)
                fill_mean = opt.fill_means[ch];
            else if (opt.fill == RECUR_FILL_MEAN) {
                double sum = 0;
                int64_t n = 0;
                for (int64_t k = 0; k < fit; k++)
                    if (!colmiss[k]) {
                        sum += acc[(size_t)k * vchan + ch];
                        n++;
                    }
                if (!n && c->rep.missing) {
                    st = recur_fail(RECUR_E_FORMAT, "%s: column '%s' has no value in the first "
                                    "%lld steps to take a mean from", b.label, name,
                                    (long long)fit);
                    break;
                }
                fill_mean = n ? sum / (double)n : 0;
            }
            s->fill_means[ch] = fill_mean;
            int64_t prev = -1, next = -1; /* last and next observed slots */
            for (int64_t k = 0; k < steps; k++) {
                float *dst = &s->values[(size_t)k * C + ch];
                size_t at = (size_t)k * vchan + ch;
                if (!colmiss[k]) {
                    *dst = (float)acc[at];
                    prev = k;
                    continue;
                }
                if (next < k) {
                    next = k;
                    while (next < steps && colmiss[next])
                        next++;
                }
                double v = NAN;
                switch (opt.fill) {
                case RECUR_FILL_FORWARD:
                    v = prev >= 0 ? acc[(size_t)prev * vchan + ch]
                                  : acc[(size_t)next * vchan + ch];
                    break;
                case RECUR_FILL_LINEAR:
                    if (prev < 0)
                        v = acc[(size_t)next * vchan + ch];
                    else if (next >= steps)
                        v = acc[(size_t)prev * vchan + ch];
                    else {
                        double a = acc[(size_t)prev * vchan + ch],
                               z = acc[(size_t)next * vchan + ch];
                        double u = (double)(s->times[k] - s->times[prev]) /
                                   (double)(s->times[next] - s->times[prev]);
                        v = a + (z - a) * u;
                    }
                    break;
                case RECUR_FILL_MEAN: v = fill_mean; break;
                case RECUR_FILL_ZERO: v = 0; break;
                case RECUR_FILL_NONE: v = NAN; break;
                }
                *dst = (float)v;
            }
        }
        c->rep.filled = opt.fill == RECUR_FILL_NONE ? 0 : c->rep.missing;
        if (st == RECUR_OK &&
            (opt.missing_mask == 2 || (opt.missing_mask == 1 && c->rep.missing))) {
            int ch = mask_channel++;
            s->names[ch] = dup_printf2(name, ".missing", "");
            s->kinds[ch] = RECUR_CHANNEL_MASK;
            s->source[ch] = c->index;
            if (!s->names[ch])
                st = recur_fail(RECUR_E_NOMEM, "%s: out of memory", b.label);
            for (int64_t k = 0; k < steps; k++)
                s->values[(size_t)k * C + ch] = colmiss[k];
        }
        s->report.column[i] = c->rep;
        c->rep.name = NULL; /* now owned by the report */
        s->report.columns = i + 1;
    }
    free(colmiss);
    if (st != RECUR_OK)
        goto done;
    s->report.rows = rows;
    s->report.out_of_order = out_of_order;
    s->report.duplicates = duplicates;
    for (int64_t k = 0; k < steps; k++)
        s->report.empty_slots += miss[k];
    gap_runs(miss, steps, opt.max_gap, &s->report.gaps, &s->report.long_gaps,
             &s->report.longest_gap);
    s->report.skipped_columns = skipped;
    *out = s;
    s = NULL;
    goto done;
nomem:
    st = recur_fail(RECUR_E_NOMEM, "%s: out of memory", b.label);
done:
    free_builder(&b);
    free(order);
    free(slot);
    free(diffs);
    free(acc);
    free(cnt);
    free(miss);
    recur_series_free(s);
    return st;
}
