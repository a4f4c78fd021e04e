/* metrics.csv writer. */
#define _POSIX_C_SOURCE 200809L

#include "metrics_csv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "io/atomic_file.h"

struct metrics_csv {
    FILE *file;
    const char *path;
    int count;
};

/* The rows of an earlier run's file up to keep_through_step (header included),
 * or NULL when there is no such file. */
static char *kept_rows(const char *path, long keep_through_step)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t size = 0;
    char *kept = NULL, *line = NULL;
    size_t line_cap = 0;
    FILE *out = open_memstream(&kept, &size);
    int first = 1;
    while (out && getline(&line, &line_cap, f) > 0) {
        char *end;
        long step = strtol(line, &end, 10);
        if (first || (end != line && step <= keep_through_step))
            fputs(line, out);
        first = 0;
    }
    free(line);
    fclose(f);
    if (out)
        fclose(out);
    return kept;
}

typedef struct metrics_start {
    const char *kept; /* an earlier run's rows, or NULL */
    const char *const *columns;
    int count;
} metrics_start;

/* The header (or the kept rows) as file contents (io/atomic_file.h). */
static int write_metrics_start(FILE *f, void *context)
{
    const metrics_start *start = context;
    if (start->kept)
        fputs(start->kept, f);
    else
        for (int i = 0; i < start->count; i++)
            fprintf(f, "%s%s", start->columns[i], i + 1 < start->count ? "," : "\n");
    return ferror(f) ? (errno ? errno : EIO) : 0;
}

int metrics_csv_open(const char *path, const char *const *columns, int count,
                     long keep_through_step, metrics_csv **out)
{
    *out = NULL;
    char *kept = keep_through_step >= 0 ? kept_rows(path, keep_through_step) : NULL;
    metrics_start start = {kept, columns, count};
    recur_status st = recur_write_file_atomic(path, write_metrics_start, &start);
    free(kept);
    if (st != RECUR_OK)
        return cli_status_error(st);
    metrics_csv *csv = calloc(1, sizeof *csv);
    if (!csv || !(csv->file = fopen(path, "a"))) {
        free(csv);
        return cli_error("%s: cannot append: %s", path, strerror(errno));
    }
    csv->path = path;
    csv->count = count;
    *out = csv;
    return 0;
}

int metrics_csv_append(metrics_csv *csv, const double *row)
{
    for (int i = 0; i < csv->count; i++) {
        if (isfinite(row[i]))
            fprintf(csv->file, "%.9g", row[i]);
        fputc(i + 1 < csv->count ? ',' : '\n', csv->file);
    }
    if (fflush(csv->file) != 0)
        return cli_error("%s: cannot write: %s", csv->path, strerror(errno));
    return 0;
}

void metrics_csv_close(metrics_csv *csv)
{
    if (!csv)
        return;
    fclose(csv->file);
    free(csv);
}
