/* Where recur classify's examples come from: a CSV/TSV file with a text and
 * a label column, plain-text files with one example per line (a label per
 * file), or IDX image files (each row of pixels one time step). */
#ifndef RECUR_CLI_CLASSIFY_SOURCES_H
#define RECUR_CLI_CLASSIFY_SOURCES_H

#include "classify_data.h"
#include "recur.h"

/* Texts and their label names, before tokenization. */
typedef struct cls_texts {
    int64_t n;
    char **texts;       /* NUL-terminated copies */
    size_t *lengths;
    char **labels;      /* NULL entries: no label */
    size_t capacity;
} cls_texts;

void cls_texts_free(cls_texts *t);

/* CSV/TSV: the text column and the label column (names or 0-based indexes;
 * label may be NULL for predict). delimiter 0 = detect; has_header 0/1.
 * Returns 0 or 2 after printing the error. */
int cls_texts_from_table(cls_texts *t, const char *path, char delimiter, int has_header,
                         const char *text_column, const char *label_column);

/* "FILE=LABEL,FILE=LABEL": every non-empty line of FILE is an example of
 * LABEL (a line's trailing CR/LF removed). */
int cls_texts_from_lines(cls_texts *t, const char *spec);

/* Tokenizes texts[idx] into a vocabulary (counting). */
int cls_texts_count(const cls_texts *t, const int64_t *idx, int64_t n,
                    const recur_token_options *options, recur_vocab *vocab);

/* Appends every text as token ids with its label (classes added when
 * add_classes, else an unknown label is an error naming the row). */
int cls_texts_encode(const cls_texts *t, const recur_token_options *options,
                     const recur_vocab *vocab, cls_dataset *d, int add_classes);

/* IDX (optionally gzip-compressed) images [N, rows, cols] of unsigned bytes as
 * N examples of `rows` steps and `cols` features scaled to [0, 1], with the
 * labels of an IDX label file [N] (NULL: unlabeled), classes "0".."9". */
int cls_dataset_from_idx(cls_dataset *d, const char *images, const char *labels);

/* Windows of a CSV time series read by the forecasting pipeline
 * (recur_series_from_table: time column, regular grid, forward fill): the
 * numeric `inputs` columns over `window` steps (every `stride`-th end step),
 * labelled by the `label` column at the window's last step (a categorical or
 * numeric column; NULL: unlabelled, for predict). Inputs are z-scored by *scaler, fit on the first
 * fit_fraction of the steps when *scaler is NULL (then returned). The grid
 * is *freq ({0, 0}: detected, and returned), so a model's windows span the
 * same time whatever the spacing of the rows it reads. */
int cls_dataset_from_series(cls_dataset *d, const char *path, const char *time,
                            const char *inputs, const char *label, int window, int stride,
                            double fit_fraction, recur_scaler **scaler, recur_freq *freq,
                            int add_classes);

#endif
