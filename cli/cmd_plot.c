/* recur plot METRICS.csv -o OUT.png [--title T] [--width W] [--height H] [--log-y]
 * Draws the *_loss columns of a metrics CSV file (as written by recur train)
 * against its step column into a PNG with cairo. The CSV is read with libcsv;
 * the PNG is written to a temporary file beside OUT and renamed over it. */
#define _POSIX_C_SOURCE 200809L

#include <cairo.h>
#include <csv.h>
#include <fontconfig/fontconfig.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io/atomic_file.h"

#include "cli_util.h"
#include "commands.h"
#include "heatmap.h"

#define PLOT_PI 3.14159265358979323846

static const char plot_usage[] =
    "usage: recur plot METRICS.csv -o OUT.png [--title TEXT] [--width W] [--height H]\n"
    "                  [--log-y]\n"
    "\n"
    "Draws every column of METRICS.csv whose name ends in _loss (train_loss,\n"
    "val_loss, ...) against its step column as a line into a PNG: axes with tick\n"
    "labels, axis titles, a legend and a title. METRICS.csv has a header row, as\n"
    "the metrics file of recur train (step,epoch,train_loss,val_loss,...); empty\n"
    "cells are skipped, so sparse columns such as val_loss join their points.\n"
    "\n"
    "  -o, --output OUT.png  the image to write (required)\n"
    "  --title TEXT          title above the plot (default: the CSV file's name)\n"
    "  --width W             image width in pixels, 200..8000 (default 800)\n"
    "  --height H            image height in pixels, 150..8000 (default 500)\n"
    "  --log-y               logarithmic loss axis (values <= 0 are left out)\n"
    "  --x COLUMN            the x column instead of step (or epoch)\n"
    "  --y COL,COL,...       the columns to draw instead of the *_loss ones\n"
    "  --y-title TEXT        the y axis title (default: loss, or value with --y)\n"
    "\n"
    "example:\n"
    "  recur plot run/metrics.csv -o loss.png --title 'LSTM on fortunes' --log-y\n"
    "\n"
    "Bad input prints one line on stderr and exits with status 2; OUT is written\n"
    "to a temporary file and renamed, so it is never left half-written.\n";

typedef struct plot_options {
    const char *csv, *output, *title;
    const char *x, *y, *y_title; /* column names (NULL: step or epoch, and *_loss) */
    long width, height;
    int log_y;
} plot_options;

/* Returns -1 to continue, else an exit status. */
static int parse_plot_options(int argc, char **argv, plot_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->width = 800;
    opt->height = 500;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            fputs(plot_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(arg, "--log-y")) {
            opt->log_y = 1;
            continue;
        }
        int is_output = !strcmp(arg, "-o") || !strcmp(arg, "--output");
        int is_value_flag = is_output || !strcmp(arg, "--title") || !strcmp(arg, "--width") ||
                            !strcmp(arg, "--height") || !strcmp(arg, "--x") ||
                            !strcmp(arg, "--y") || !strcmp(arg, "--y-title");
        if (!is_value_flag) {
            if (arg[0] == '-' && arg[1] != '\0')
                return cli_error("plot: unknown option '%s' (see recur plot --help)", arg);
            if (opt->csv)
                return cli_error("plot: unexpected argument '%s' (see recur plot --help)", arg);
            opt->csv = arg;
            continue;
        }
        if (i + 1 >= argc)
            return cli_error("plot: option %s needs a value", arg);
        const char *value = argv[++i];
        if (is_output)
            opt->output = value;
        else if (!strcmp(arg, "--title"))
            opt->title = value;
        else if (!strcmp(arg, "--x"))
            opt->x = value;
        else if (!strcmp(arg, "--y"))
            opt->y = value;
        else if (!strcmp(arg, "--y-title"))
            opt->y_title = value;
        else if (!strcmp(arg, "--width")) {
            if (cli_parse_int("--width", value, 200, 8000, &opt->width))
                return CLI_EXIT_BAD_INPUT;
        } else if (cli_parse_int("--height", value, 150, 8000, &opt->height))
            return CLI_EXIT_BAD_INPUT;
    }
    if (!opt->csv)
        return cli_error("plot: METRICS.csv is missing (see recur plot --help)");
    if (!opt->output)
        return cli_error("plot: -o OUT.png is missing");
    if (cli_check_output_not_input(opt->output, opt->csv))
        return CLI_EXIT_BAD_INPUT;
    return -1;
}

/* ------------------------------------------------------------------ */
/* Reading the CSV                                                     */
/* ------------------------------------------------------------------ */

typedef struct point {
    double x, y;
} point;

typedef struct series {
    char *name;
    int column;
    point *points;
    size_t count, capacity;
} series;

/* What the libcsv callbacks build, row by row. */
typedef struct csv_reader {
    char **fields; /* the current row */
    size_t nfields, capacity;
    size_t row; /* rows completed, the header included */
    int step_column;
    const char *x_name; /* "step", or "epoch" when there is no step column */
    const char *want_x, *want_y; /* --x, --y */
    series *series;
    int nseries;
    size_t ncolumns; /* of the header */
    size_t numeric_rows;
    int log_y;
    int out_of_memory;
} csv_reader;

static void reader_clear_row(csv_reader *r)
{
    for (size_t i = 0; i < r->nfields; i++)
        free(r->fields[i]);
    r->nfields = 0;
}

static void reader_free(csv_reader *r)
{
    reader_clear_row(r);
    free(r->fields);
    for (int i = 0; i < r->nseries; i++) {
        free(r->series[i].name);
        free(r->series[i].points);
    }
    free(r->series);
}

/* libcsv: one field; s is NULL for an empty unquoted field (CSV_EMPTY_IS_NULL). */
static void on_field(void *s, size_t len, void *data)
{
    csv_reader *r = data;
    if (r->out_of_memory)
        return;
    if (r->nfields == r->capacity) {
        size_t capacity = r->capacity ? 2 * r->capacity : 16;
        char **grown = realloc(r->fields, capacity * sizeof *grown);
        if (!grown) {
            r->out_of_memory = 1;
            return;
        }
        r->fields = grown;
        r->capacity = capacity;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        r->out_of_memory = 1;
        return;
    }
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    r->fields[r->nfields++] = copy;
}

/* Strips surrounding blanks in place (and a UTF-8 byte order mark). */
static char *trim(char *s)
{
    if (!strncmp(s, "\xEF\xBB\xBF", 3))
        s += 3;
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* A finite number filling the whole cell, else 0. */
static int parse_number(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || !isfinite(v) || fabs(v) > 1e300 || errno == ERANGE)
        return 0;
    *out = v;
    return 1;
}

/* Whether name is one of the comma-separated names in list. */
static int name_in_list(const char *name, const char *list)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return 1;
        p += len + (comma != NULL);
    }
    return 0;
}

static void read_header(csv_reader *r)
{
    r->ncolumns = r->nfields;
    r->series = calloc(r->nfields ? r->nfields : 1, sizeof *r->series);
    if (!r->series) {
        r->out_of_memory = 1;
        return;
    }
    for (size_t c = 0; c < r->nfields; c++) {
        char *name = trim(r->fields[c]);
        size_t n = strlen(name);
        if (r->want_x ? !strcmp(name, r->want_x)
                      : !strcmp(name, "step") || (!strcmp(name, "epoch") && r->step_column < 0)) {
            r->step_column = (int)c;
            r->x_name = r->want_x ? r->want_x : !strcmp(name, "step") ? "step" : "epoch";
        } else if (r->want_y ? name_in_list(name, r->want_y)
                             : n > 5 && !strcmp(name + n - 5, "_loss")) {
            series *s = &r->series[r->nseries];
            s->name = malloc(n + 1);
            if (!s->name) {
                r->out_of_memory = 1;
                return;
            }
            memcpy(s->name, name, n + 1);
            s->column = (int)c;
            r->nseries++;
        }
    }
}

static void add_point(csv_reader *r, series *s, double x, double y)
{
    if (s->count == s->capacity) {
        size_t capacity = s->capacity ? 2 * s->capacity : 64;
        point *grown = realloc(s->points, capacity * sizeof *grown);
        if (!grown) {
            r->out_of_memory = 1;
            return;
        }
        s->points = grown;
        s->capacity = capacity;
    }
    s->points[s->count++] = (point){x, y};
}

/* A data row: rows without a numeric step (a partly written last line) are
 * skipped, and so are empty or non-numeric loss cells. */
static void read_row(csv_reader *r)
{
    double x;
    if (r->step_column < 0 || (size_t)r->step_column >= r->nfields ||
        !parse_number(trim(r->fields[r->step_column]), &x))
        return;
    int any = 0;
    for (int i = 0; i < r->nseries && !r->out_of_memory; i++) {
        series *s = &r->series[i];
        double y;
        if ((size_t)s->column >= r->nfields || !parse_number(trim(r->fields[s->column]), &y))
            continue;
        if (r->log_y && !(y > 0.0))
            continue;
        add_point(r, s, x, y);
        any = 1;
    }
    r->numeric_rows += any;
}

/* libcsv: end of a row (c is -1 at the end of a file without a final newline). */
static void on_row(int c, void *data)
{
    (void)c;
    csv_reader *r = data;
    if (r->out_of_memory)
        return;
    if (r->nfields == 1 && r->fields[0][0] == '\0' && r->row > 0) {
        reader_clear_row(r); /* a blank line */
        return;
    }
    if (r->row == 0)
        read_header(r);
    else
        read_row(r);
    r->row++;
    reader_clear_row(r);
}

static int read_metrics(const plot_options *opt, csv_reader *r)
{
    unsigned char *bytes = NULL;
    size_t size = 0;
    struct stat st;
    if (stat(opt->csv, &st) == 0 && S_ISDIR(st.st_mode))
        return cli_error("%s: is a directory, not a CSV file", opt->csv);
    if (cli_read_file(opt->csv, &bytes, &size))
        return CLI_EXIT_BAD_INPUT;
    struct csv_parser parser;
    if (csv_init(&parser, 0) != 0) {
        free(bytes);
        return cli_error("out of memory");
    }
    size_t parsed = csv_parse(&parser, bytes, size, on_field, on_row, r);
    int failed = parsed != size;
    if (!failed)
        failed = csv_fini(&parser, on_field, on_row, r) != 0;
    int error = csv_error(&parser);
    csv_free(&parser);
    free(bytes);
    if (r->out_of_memory)
        return cli_error("%s: out of memory", opt->csv);
    if (failed)
        return cli_error("%s: not a CSV file: %s", opt->csv, csv_strerror(error));
    if (r->row == 0)
        return cli_error("%s: empty file (expected a header row with step and *_loss columns)",
                         opt->csv);
    if (r->step_column < 0 && opt->x)
        return cli_error("%s: no column '%s' in the header", opt->csv, opt->x);
    if (r->step_column < 0)
        return cli_error("%s: no 'step' (or 'epoch') column in the header", opt->csv);
    if (r->nseries == 0 && opt->y)
        return cli_error("%s: none of the columns %s is in the header", opt->csv, opt->y);
    if (r->nseries == 0)
        return cli_error("%s: no column whose name ends in _loss in the header", opt->csv);
    if (r->numeric_rows == 0)
        return cli_error("%s: no rows with a numeric step and loss%s", opt->csv,
                         opt->log_y ? " (> 0, for --log-y)" : "");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Axes                                                                */
/* ------------------------------------------------------------------ */

#define MAX_TICKS 32

typedef struct axis {
    double lo, hi; /* in plot units (log10 of the value for a log axis) */
    int log;
    int nticks;
    double ticks[MAX_TICKS]; /* in plot units */
    char labels[MAX_TICKS][32];
} axis;

/* Heckbert's nice numbers: 1, 2, 5 or 10 times a power of ten. */
static double nice_number(double x, int round_it)
{
    double e = floor(log10(x));
    double f = x / pow(10.0, e);
    double nf;
    if (round_it)
        nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else
        nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10.0, e);
}

static void format_tick(double v, double spacing, char *buf, size_t size)
{
    if (fabs(v) < spacing * 1e-9)
        v = 0.0; /* not "-0" or "1e-17" */
    double a = fabs(v);
    if (a != 0.0 && (a >= 1e7 || a < 1e-4)) {
        snprintf(buf, size, "%.3g", v);
        return;
    }
    int decimals = spacing >= 1.0 ? 0 : (int)ceil(-log10(spacing) - 1e-9);
    snprintf(buf, size, "%.*f", decimals, v);
}

/* Linear ticks: about `target` nice values covering [lo, hi], at least
 * min_spacing apart; the axis is widened to the outer ticks. */
static void linear_axis(axis *a, double lo, double hi, int target, double min_spacing)
{
    if (!(hi > lo)) {
        double pad = lo != 0.0 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad;
        hi += pad;
    }
    double range = nice_number(hi - lo, 0);
    double spacing = fmax(nice_number(range / (target - 1), 1), min_spacing);
    double first = floor(lo / spacing) * spacing, last = ceil(hi / spacing) * spacing;
    a->lo = first;
    a->hi = last;
    a->log = 0;
    a->nticks = 0;
    for (double t = first; t <= last + 0.5 * spacing && a->nticks < MAX_TICKS;
         t = first + spacing * a->nticks) {
        a->ticks[a->nticks] = t;
        format_tick(t, spacing, a->labels[a->nticks], sizeof a->labels[0]);
        a->nticks++;
    }
}

/* Log ticks at powers of ten (every k-th when there are many decades), with
 * 2x and 5x in between when the axis spans at most two decades. */
static void log_axis(axis *a, double lo_value, double hi_value)
{
    double lo = floor(log10(lo_value)), hi = ceil(log10(hi_value));
    if (hi <= lo)
        hi = lo + 1;
    a->lo = lo;
    a->hi = hi;
    a->log = 1;
    a->nticks = 0;
    int decades = (int)(hi - lo);
    int every = decades <= 10 ? 1 : (decades + 9) / 10;
    for (int d = 0; d <= decades && a->nticks < MAX_TICKS; d++) {
        double base = lo + d;
        static const double mults[] = {1, 2, 5};
        for (int m = 0; m < 3 && a->nticks < MAX_TICKS; m++) {
            if (m > 0 && (decades > 2 || d == decades))
                break;
            if (m == 0 && d % every)
                break;
            double t = base + log10(mults[m]);
            a->ticks[a->nticks] = t;
            snprintf(a->labels[a->nticks], sizeof a->labels[0], "%g", mults[m] * pow(10.0, base));
            a->nticks++;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Drawing                                                             */
/* ------------------------------------------------------------------ */

typedef struct frame {
    double left, top, right, bottom; /* the plot area in pixels */
    axis x, y;
} frame;

static double to_px_x(const frame *f, double x)
{
    return f->left + (x - f->x.lo) / (f->x.hi - f->x.lo) * (f->right - f->left);
}

static double to_px_y(const frame *f, double y)
{
    double v = f->y.log ? log10(y) : y;
    return f->bottom - (v - f->y.lo) / (f->y.hi - f->y.lo) * (f->bottom - f->top);
}

static const double palette[][3] = {
    {0.122, 0.467, 0.706}, /* blue */
    {1.000, 0.498, 0.055}, /* orange */
    {0.173, 0.627, 0.173}, /* green */
    {0.839, 0.153, 0.157}, /* red */
    {0.580, 0.404, 0.741}, /* purple */
    {0.549, 0.337, 0.294}, /* brown */
    {0.890, 0.467, 0.761}, /* pink */
    {0.498, 0.498, 0.498}, /* grey */
};
#define PALETTE_SIZE (sizeof palette / sizeof palette[0])

static void set_color(cairo_t *cr, int index)
{
    const double *c = palette[(size_t)index % PALETTE_SIZE];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
}

static void text_at(cairo_t *cr, const char *text, double x, double y, double align_x,
                    double align_y)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, text, &e);
    cairo_move_to(cr, x - e.x_bearing - align_x * e.width, y - e.y_bearing - align_y * e.height);
    cairo_show_text(cr, text);
}

static void draw_axes(cairo_t *cr, const frame *f, double font, const char *x_title,
                      const char *y_title)
{
    cairo_set_line_width(cr, 1.0);
    cairo_set_font_size(cr, font);
    /* grid and tick labels */
    for (int i = 0; i < f->x.nticks; i++) {
        double px = round(to_px_x(f, f->x.ticks[i])) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, px, f->top);
        cairo_line_to(cr, px, f->bottom);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.0, 0.0, 0.0);
        cairo_move_to(cr, px, f->bottom);
        cairo_line_to(cr, px, f->bottom + 5);
        cairo_stroke(cr);
        text_at(cr, f->x.labels[i], px, f->bottom + 8, 0.5, 0.0);
    }
    for (int i = 0; i < f->y.nticks; i++) {
        double v = f->y.log ? pow(10.0, f->y.ticks[i]) : f->y.ticks[i];
        double py = round(to_px_y(f, v)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, f->left, py);
        cairo_line_to(cr, f->right, py);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.0, 0.0, 0.0);
        cairo_move_to(cr, f->left - 5, py);
        cairo_line_to(cr, f->left, py);
        cairo_stroke(cr);
        text_at(cr, f->y.labels[i], f->left - 8, py, 1.0, 0.5);
    }
    /* frame */
    cairo_set_source_rgb(cr, 0.0, 0.0, 0.0);
    cairo_rectangle(cr, round(f->left) + 0.5, round(f->top) + 0.5,
                    round(f->right) - round(f->left), round(f->bottom) - round(f->top));
    cairo_stroke(cr);
    /* axis titles */
    cairo_set_font_size(cr, font * 1.1);
    text_at(cr, x_title, 0.5 * (f->left + f->right), f->bottom + 14 + 1.9 * font, 0.5, 0.0);
    cairo_save(cr);
    cairo_translate(cr, 14, 0.5 * (f->top + f->bottom));
    cairo_rotate(cr, -PLOT_PI / 2);
    text_at(cr, y_title, 0, 0, 0.5, 0.0);
    cairo_restore(cr);
}

static void draw_series(cairo_t *cr, const frame *f, const series *s, int index)
{
    set_color(cr, index);
    cairo_save(cr);
    cairo_rectangle(cr, f->left, f->top, f->right - f->left, f->bottom - f->top);
    cairo_clip(cr);
    cairo_set_line_width(cr, 2.0);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (size_t i = 0; i < s->count; i++) {
        double px = to_px_x(f, s->points[i].x), py = to_px_y(f, s->points[i].y);
        if (i == 0)
            cairo_move_to(cr, px, py);
        else
            cairo_line_to(cr, px, py);
    }
    if (s->count > 1)
        cairo_stroke(cr);
    cairo_new_path(cr);
    /* markers for sparse series (a single point is only a marker) */
    if (s->count <= 40) {
        double radius = s->count == 1 ? 4.5 : 3.0;
        for (size_t i = 0; i < s->count; i++) {
            cairo_new_sub_path(cr);
            cairo_arc(cr, to_px_x(f, s->points[i].x), to_px_y(f, s->points[i].y), radius, 0,
                      2 * PLOT_PI);
        }
        cairo_fill(cr);
    }
    cairo_restore(cr);
}

static void draw_legend(cairo_t *cr, const frame *f, const csv_reader *r, double font)
{
    cairo_set_font_size(cr, font);
    double width = 0, line_h = font * 1.5;
    int shown = 0;
    for (int i = 0; i < r->nseries; i++) {
        if (!r->series[i].count)
            continue;
        cairo_text_extents_t e;
        cairo_text_extents(cr, r->series[i].name, &e);
        width = fmax(width, e.x_advance);
        shown++;
    }
    double box_w = width + 44, box_h = shown * line_h + 10;
    double x0 = f->right - box_w - 10, y0 = f->top + 10;
    cairo_rectangle(cr, round(x0) + 0.5, round(y0) + 0.5, round(box_w), round(box_h));
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
    int row = 0;
    for (int i = 0; i < r->nseries; i++) {
        if (!r->series[i].count)
            continue;
        double cy = y0 + 5 + (row + 0.5) * line_h;
        set_color(cr, i);
        cairo_set_line_width(cr, 2.0);
        cairo_move_to(cr, x0 + 8, cy);
        cairo_line_to(cr, x0 + 32, cy);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, r->series[i].name, x0 + 38, cy, 0.0, 0.5);
        row++;
    }
}

static void compute_frame(frame *f, const csv_reader *r, const plot_options *opt, double font)
{
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    int integer_steps = 1;
    for (int i = 0; i < r->nseries; i++)
        for (size_t k = 0; k < r->series[i].count; k++) {
            point p = r->series[i].points[k];
            xmin = fmin(xmin, p.x);
            integer_steps &= p.x == floor(p.x);
            xmax = fmax(xmax, p.x);
            ymin = fmin(ymin, p.y);
            ymax = fmax(ymax, p.y);
        }
    double w = (double)opt->width, h = (double)opt->height;
    int xticks = w < 500 ? 4 : 7, yticks = h < 350 ? 4 : 6;
    linear_axis(&f->x, xmin, xmax, xticks, integer_steps ? 1.0 : 0.0);
    if (opt->log_y)
        log_axis(&f->y, ymin, ymax);
    else
        linear_axis(&f->y, ymin, ymax, yticks, 0.0);
    f->left = 30 + font * 4.5;
    f->right = w - 20;
    f->top = 20 + font * 2.2;
    f->bottom = h - (22 + font * 2.8);
}

static int draw_plot(const csv_reader *r, const plot_options *opt)
{
    const char *title = opt->title;
    if (!title) {
        const char *slash = strrchr(opt->csv, '/');
        title = slash ? slash + 1 : opt->csv;
    }
    double font = fmin(fmax(opt->height / 42.0, 10.0), 28.0);
    frame f;
    compute_frame(&f, r, opt, font);

    cairo_surface_t *surface =
        cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)opt->width, (int)opt->height);
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    const char *y_title = opt->y_title ? opt->y_title : opt->y ? "value" : "loss";
    char y_label[256];
    snprintf(y_label, sizeof y_label, "%s%s", y_title, opt->log_y ? " (log scale)" : "");
    draw_axes(cr, &f, font, r->x_name, y_label);
    for (int i = 0; i < r->nseries; i++)
        draw_series(cr, &f, &r->series[i], i);
    draw_legend(cr, &f, r, font);
    /* title */
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, font * 1.3);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, title, 0.5 * (f.left + f.right), 0.5 * f.top, 0.5, 0.5);

    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    int rc;
    if (st != CAIRO_STATUS_SUCCESS)
        rc = cli_error("plot: drawing failed: %s", cairo_status_to_string(st));
    else
        rc = cli_save_png(surface, opt->output);
    cairo_surface_destroy(surface);
    return rc;
}

int cmd_plot(int argc, char **argv)
{
    plot_options opt;
    int rc = parse_plot_options(argc, argv, &opt);
    if (rc >= 0)
        return rc;
    csv_reader reader = {0};
    reader.step_column = -1;
    reader.log_y = opt.log_y;
    reader.want_x = opt.x;
    reader.want_y = opt.y;
    rc = read_metrics(&opt, &reader);
    if (!rc) {
        rc = draw_plot(&reader, &opt);
        /* Releases cairo's and fontconfig's caches, so leak checkers see none. */
        cairo_debug_reset_static_data();
        FcFini();
    }
    reader_free(&reader);
    return rc;
}
