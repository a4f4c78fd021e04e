/* The examples of recur classify: token-id sequences (text) or float
 * sequences (images read row by row, windows of a numeric CSV file), each
 * with a class, and their batches. */
#ifndef RECUR_CLI_CLASSIFY_DATA_H
#define RECUR_CLI_CLASSIFY_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "recur.h"

typedef struct cls_dataset {
    int64_t n;              /* examples */
    int features;           /* 0: token ids; > 0: floats per time step */
    int64_t *offsets;       /* [n + 1]: example i is steps [offsets[i], offsets[i+1]) */
    int64_t *ids;           /* token ids of all examples (features 0) */
    float *values;          /* [steps, features] (features > 0) */
    int *labels;            /* [n] class index; -1 = none (predict on unlabeled data) */
    int classes;
    char **class_names;     /* [classes] */
    size_t example_capacity, ids_capacity, values_capacity; /* allocated items */
} cls_dataset;

void cls_dataset_free(cls_dataset *d);

/* Appends one example; returns 0 or 2 after printing "out of memory". */
int cls_dataset_add_ids(cls_dataset *d, const int64_t *ids, int64_t length, int label);
int cls_dataset_add_values(cls_dataset *d, const float *values, int64_t steps, int label);

/* Index of a class name, adding it when `add`; -1 when absent and not added
 * (or out of memory, printed). */
int cls_dataset_class(cls_dataset *d, const char *name, int add);
/* Sorts the class names (strcmp) and renumbers the labels. */
int cls_dataset_sort_classes(cls_dataset *d);

/* A batch: examples idx[0..B), time-major, padded to the longest. */
typedef struct cls_batch {
    int batch, steps;
    int64_t *ids;     /* [T, B] (features 0), padding RECUR_VOCAB_PAD */
    float *values;    /* [T, B, F] (features > 0), padding 0 */
    int64_t *lengths; /* [B] */
    int64_t *targets; /* [B] labels */
    size_t ids_capacity, values_capacity, batch_capacity;
} cls_batch;

/* Fills a batch; steps are clipped to max_steps (> 0) from the end of each
 * example when it is longer (keeps the last tokens). Returns 0 or 2 (printed). */
int cls_batch_fill(cls_batch *b, const cls_dataset *d, const int64_t *idx, int count,
                   int max_steps);
void cls_batch_free(cls_batch *b);

/* Orders examples into batches of similar lengths: shuffles (splitmix64 state),
 * sorts windows of 50 batches by length, and shuffles the batch order. */
void cls_bucket_order(const cls_dataset *d, int64_t *idx, int64_t n, int batch, uint64_t *rng);

/* Fisher-Yates with splitmix64. */
void cls_shuffle(int64_t *idx, int64_t n, uint64_t *rng);

#endif
