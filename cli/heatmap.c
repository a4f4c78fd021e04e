/* Heatmaps of attention weights with cairo: one cell per (row, column), dark
 * for the largest weight of a row, white for 0, labels on both axes, the value in each cell
 * when there is room. Written to a temporary file and renamed. */
#define _POSIX_C_SOURCE 200809L

#include "heatmap.h"

#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "io/atomic_file.h"

#define PI 3.14159265358979323846

static cairo_status_t write_png_chunk(void *closure, const unsigned char *data,
                                      unsigned int length)
{
    return fwrite(data, 1, length, closure) == length ? CAIRO_STATUS_SUCCESS
                                                      : CAIRO_STATUS_WRITE_ERROR;
}

/* The PNG of a surface as file contents (io/atomic_file.h). */
static int write_png(FILE *file, void *surface)
{
    cairo_status_t st = cairo_surface_write_to_png_stream(surface, write_png_chunk, file);
    return st == CAIRO_STATUS_SUCCESS ? 0 : st == CAIRO_STATUS_NO_MEMORY ? ENOMEM : EIO;
}

int cli_save_png(void *surface, const char *path)
{
    recur_status st = recur_write_file_atomic(path, write_png, surface);
    return st == RECUR_OK ? 0 : cli_status_error(st);
}

static double text_width(cairo_t *cr, const char *text)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, text, &e);
    return e.x_advance;
}

/* Labels can hold any bytes: non-ASCII ones are shown as '?' (cairo wants UTF-8). */
static void printable(const char *text, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && n + 1 < size; p++)
        out[n++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
    out[n] = '\0';
}

int cli_heatmap(const char *path, const char *title, const char *const *row_labels, int rows,
                const char *const *column_labels, int columns, const float *weights)
{
    const double cell = columns > 60 ? 14 : 28, font = 12;
    cairo_surface_t *probe = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *measure = cairo_create(probe);
    cairo_set_font_size(measure, font);
    double left = 20, top = 40;
    char label[256];
    for (int r = 0; r < rows; r++) {
        printable(row_labels[r], label, sizeof label);
        left = fmax(left, text_width(measure, label) + 16);
    }
    for (int c = 0; c < columns; c++) {
        printable(column_labels[c], label, sizeof label);
        top = fmax(top, text_width(measure, label) + 40);
    }
    cairo_destroy(measure);
    cairo_surface_destroy(probe);
    int width = (int)(left + cell * columns + 20), height = (int)(top + cell * rows + 20);
    if (width > 16000 || height > 16000)
        return cli_error("attention map: %d x %d cells is too large to draw", rows, columns);
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, font + 2);
    cairo_set_source_rgb(cr, 0, 0, 0);
    printable(title, label, sizeof label);
    cairo_move_to(cr, 10, 20);
    cairo_show_text(cr, label);
    cairo_set_font_size(cr, font);
    double peak = 1e-12; /* colours scale to the largest weight of each row */
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < columns; c++) {
            if (c == 0) {
                peak = 1e-12;
                for (int k = 0; k < columns; k++)
                    peak = fmax(peak, weights[r * columns + k]);
            }
            double w = fmin(fmax(weights[r * columns + c], 0.0), 1.0), shade = w / peak;
            cairo_set_source_rgb(cr, 1 - 0.85 * shade, 1 - 0.6 * shade, 1 - 0.25 * shade);
            cairo_rectangle(cr, left + c * cell, top + r * cell, cell, cell);
            cairo_fill(cr);
            if (cell >= 28) {
                snprintf(label, sizeof label, "%.2f", w);
                double ink = shade > 0.6 ? 1 : 0;
                cairo_set_source_rgb(cr, ink, ink, ink);
                cairo_set_font_size(cr, 8);
                cairo_move_to(cr, left + c * cell + 3, top + r * cell + cell / 2 + 3);
                cairo_show_text(cr, label);
                cairo_set_font_size(cr, font);
            }
        }
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (int r = 0; r < rows; r++) {
        printable(row_labels[r], label, sizeof label);
        cairo_move_to(cr, left - 8 - text_width(cr, label), top + r * cell + cell / 2 + 4);
        cairo_show_text(cr, label);
    }
    for (int c = 0; c < columns; c++) {
        printable(column_labels[c], label, sizeof label);
        cairo_save(cr);
        cairo_move_to(cr, left + c * cell + cell / 2 + 4, top - 6);
        cairo_rotate(cr, -PI / 2);
        cairo_show_text(cr, label);
        cairo_restore(cr);
    }
    cairo_destroy(cr);
    int rc = cli_save_png(surface, path);
    cairo_surface_destroy(surface);
    /* Releases cairo's and fontconfig's caches, so leak checkers see none. */
    cairo_debug_reset_static_data();
    FcFini();
    return rc;
}
