/* metrics.csv: one row per evaluation, appended and flushed as training goes. */
#ifndef RECUR_CLI_METRICS_CSV_H
#define RECUR_CLI_METRICS_CSV_H

#include <stdio.h>

typedef struct metrics_csv metrics_csv;

/* Starts PATH with a header row of `columns`. With keep_through_step >= 0
 * (a resumed run) an existing file keeps its rows up to that step (the first
 * column) and loses later ones, so the file reads as one uninterrupted run.
 * Returns 0, or 2 after printing an error. */
int metrics_csv_open(const char *path, const char *const *columns, int count,
                     long keep_through_step, metrics_csv **out);
/* Appends one row of `count` numbers (NaN: empty cell) and flushes it. */
int metrics_csv_append(metrics_csv *csv, const double *row);
void metrics_csv_close(metrics_csv *csv);

#endif
