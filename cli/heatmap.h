/* Attention maps: a heatmap of weights [rows, columns] in [0, 1] as a PNG. */
#ifndef RECUR_CLI_HEATMAP_H
#define RECUR_CLI_HEATMAP_H

/* Returns 0, or 2 after printing the error. */
int cli_heatmap(const char *path, const char *title, const char *const *row_labels, int rows,
                const char *const *column_labels, int columns, const float *weights);

#endif
