/* Attention maps: a heatmap of weights [rows, columns] in [0, 1] as a PNG. */
#ifndef RECUR_CLI_HEATMAP_H
#define RECUR_CLI_HEATMAP_H

/* Writes a cairo image surface as a PNG at path (atomically: a temporary
 * file beside it, synced, renamed over it); also recur plot's. Returns 0, or
 * the exit status after printing the error. */
int cli_save_png(void *surface, const char *path);

/* Returns 0, or 2 after printing the error. */
int cli_heatmap(const char *path, const char *title, const char *const *row_labels, int rows,
                const char *const *column_labels, int columns, const float *weights);

#endif
