/* Examples and batches of recur classify. */
#include "classify_data.h"

#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

void cls_dataset_free(cls_dataset *d)
{
    for (int c = 0; c < d->classes; c++)
        free(d->class_names[c]);
    free(d->class_names), free(d->offsets), free(d->ids), free(d->values), free(d->labels);
    memset(d, 0, sizeof *d);
}

/* Grows an array of `size`-byte items to hold `need`; 0 on failure. */
static int reserve(void **items, size_t size, size_t need, size_t *capacity)
{
    if (need <= *capacity)
        return 1;
    size_t grown = *capacity ? *capacity : 64;
    while (grown < need)
        grown *= 2;
    void *p = realloc(*items, grown * size);
    if (!p)
        return 0;
    *items = p, *capacity = grown;
    return 1;
}

static int add_example(cls_dataset *d, int64_t steps, int label)
{
    size_t n = (size_t)d->n, offsets_capacity = d->example_capacity;
    if (!reserve((void **)&d->offsets, sizeof *d->offsets, n + 2, &offsets_capacity) ||
        !reserve((void **)&d->labels, sizeof *d->labels, n + 2, &d->example_capacity))
        return cli_error("out of memory");
    if (offsets_capacity != d->example_capacity) /* keep both arrays the same size */
        return cli_error("out of memory");
    if (!n)
        d->offsets[0] = 0;
    d->offsets[n + 1] = d->offsets[n] + steps;
    d->labels[n] = label;
    d->n++;
    return 0;
}

int cls_dataset_add_ids(cls_dataset *d, const int64_t *ids, int64_t length, int label)
{
    size_t used = d->n ? (size_t)d->offsets[d->n] : 0;
    if (!reserve((void **)&d->ids, sizeof *d->ids, used + (size_t)length + 1, &d->ids_capacity))
        return cli_error("out of memory");
    if (length > 0) /* an empty text has no tokens (ids may be NULL) */
        memcpy(d->ids + used, ids, (size_t)length * sizeof *ids);
    return add_example(d, length, label);
}

int cls_dataset_add_values(cls_dataset *d, const float *values, int64_t steps, int label)
{
    size_t F = (size_t)d->features;
    size_t used = d->n ? (size_t)d->offsets[d->n] * F : 0;
    if (!reserve((void **)&d->values, sizeof *d->values, used + (size_t)steps * F + 1,
                 &d->values_capacity))
        return cli_error("out of memory");
    if (steps > 0 && F > 0)
        memcpy(d->values + used, values, (size_t)steps * F * sizeof *values);
    return add_example(d, steps, label);
}

int cls_dataset_class(cls_dataset *d, const char *name, int add)
{
    for (int c = 0; c < d->classes; c++)
        if (!strcmp(d->class_names[c], name))
            return c;
    if (!add)
        return -1;
    char **grown = realloc(d->class_names, (size_t)(d->classes + 1) * sizeof *grown);
    char *copy = grown ? malloc(strlen(name) + 1) : NULL;
    if (!copy) {
        if (grown)
            d->class_names = grown;
        cli_error("out of memory");
        return -1;
    }
    strcpy(copy, name);
    d->class_names = grown;
    d->class_names[d->classes] = copy;
    return d->classes++;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cls_dataset_sort_classes(cls_dataset *d)
{
    char **old = malloc((size_t)(d->classes ? d->classes : 1) * sizeof *old);
    int *map = malloc((size_t)(d->classes ? d->classes : 1) * sizeof *map);
    if (!old || !map) {
        free(old), free(map);
        return cli_error("out of memory");
    }
    memcpy(old, d->class_names, (size_t)d->classes * sizeof *old);
    qsort(d->class_names, (size_t)d->classes, sizeof *d->class_names, compare_names);
    for (int c = 0; c < d->classes; c++)
        for (int k = 0; k < d->classes; k++)
            if (old[c] == d->class_names[k])
                map[c] = k;
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] >= 0)
            d->labels[i] = map[d->labels[i]];
    free(old), free(map);
    return 0;
}

int cls_batch_fill(cls_batch *b, const cls_dataset *d, const int64_t *idx, int count,
                   int max_steps)
{
    int steps = 1;
    for (int k = 0; k < count; k++) {
        int64_t n = d->offsets[idx[k] + 1] - d->offsets[idx[k]];
        if (max_steps > 0 && n > max_steps)
            n = max_steps;
        if (n > steps)
            steps = (int)n;
    }
    size_t cells = (size_t)steps * (size_t)count;
    if (!reserve((void **)&b->lengths, sizeof *b->lengths, (size_t)count, &b->batch_capacity))
        return cli_error("out of memory");
    size_t bc = b->batch_capacity;
    b->targets = realloc(b->targets, bc * sizeof *b->targets);
    if (!b->targets)
        return cli_error("out of memory");
    if (d->features == 0) {
        if (!reserve((void **)&b->ids, sizeof *b->ids, cells, &b->ids_capacity))
            return cli_error("out of memory");
        for (size_t k = 0; k < cells; k++)
            b->ids[k] = RECUR_VOCAB_PAD;
    } else {
        if (!reserve((void **)&b->values, sizeof *b->values, cells * (size_t)d->features,
                     &b->values_capacity))
            return cli_error("out of memory");
        memset(b->values, 0, cells * (size_t)d->features * sizeof *b->values);
    }
    for (int k = 0; k < count; k++) {
        int64_t begin = d->offsets[idx[k]], n = d->offsets[idx[k] + 1] - begin;
        if (max_steps > 0 && n > max_steps)
            begin += n - max_steps, n = max_steps;
        if (n == 0) { /* an empty example reads one padding step */
            n = 1;
            b->lengths[k] = 1;
        } else
            b->lengths[k] = n;
        for (int64_t t = 0; t < n && t < d->offsets[idx[k] + 1] - begin; t++) {
            if (d->features == 0)
                b->ids[(size_t)t * count + k] = d->ids[begin + t];
            else
                memcpy(b->values + ((size_t)t * count + k) * d->features,
                       d->values + (size_t)(begin + t) * d->features,
                       (size_t)d->features * sizeof(float));
        }
        b->targets[k] = d->labels[idx[k]];
    }
    b->batch = count, b->steps = steps;
    return 0;
}

void cls_batch_free(cls_batch *b)
{
    free(b->ids), free(b->values), free(b->lengths), free(b->targets);
    memset(b, 0, sizeof *b);
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void cls_shuffle(int64_t *idx, int64_t n, uint64_t *rng)
{
    for (int64_t i = n; i > 1; i--) {
        int64_t j = (int64_t)(next_random(rng) % (uint64_t)i), tmp = idx[i - 1];
        idx[i - 1] = idx[j], idx[j] = tmp;
    }
}

typedef struct length_index {
    int64_t length, index;
} length_index;

static int compare_lengths(const void *pa, const void *pb)
{
    const length_index *a = pa, *b = pb;
    if (a->length != b->length)
        return (a->length > b->length) - (a->length < b->length);
    return (a->index > b->index) - (a->index < b->index);
}

void cls_bucket_order(const cls_dataset *d, int64_t *idx, int64_t n, int batch, uint64_t *rng)
{
    cls_shuffle(idx, n, rng);
    int64_t window = (int64_t)batch * 50;
    length_index *items = malloc((size_t)(n < window ? n : window) * sizeof *items + 1);
    for (int64_t at = 0; items && at < n; at += window) {
        int64_t count = n - at < window ? n - at : window;
        for (int64_t k = 0; k < count; k++)
            items[k] = (length_index){d->offsets[idx[at + k] + 1] - d->offsets[idx[at + k]],
                                      idx[at + k]};
        qsort(items, (size_t)count, sizeof *items, compare_lengths);
        for (int64_t k = 0; k < count; k++)
            idx[at + k] = items[k].index;
    }
    free(items); /* without memory the order stays merely shuffled */
    /* shuffle whole batches */
    int64_t batches = (n + batch - 1) / batch;
    for (int64_t i = batches; i > 1; i--) {
        int64_t j = (int64_t)(next_random(rng) % (uint64_t)i);
        if (j == i - 1)
            continue;
        int64_t a = (i - 1) * batch, bstart = j * batch;
        int64_t la = n - a < batch ? n - a : batch, lb = batch; /* j < i - 1: full batch */
        if (la == lb)
            for (int64_t k = 0; k < la; k++) {
                int64_t tmp = idx[a + k];
                idx[a + k] = idx[bstart + k], idx[bstart + k] = tmp;
            }
    }
}
