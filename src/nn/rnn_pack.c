#include "nn/rnn_pack.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

typedef struct length_entry {
    int64_t length;
    int index;
} length_entry;

/* Longest first; equal lengths keep the caller's order (a stable sort). */
static int compare_length_entries(const void *a, const void *b)
{
    const length_entry *x = a, *y = b;
    if (x->length != y->length)
        return x->length > y->length ? -1 : 1;
    return x->index - y->index;
}

recur_status recur_pack_plan_build(recur_pack_plan *plan, int seq_len, int batch,
                                   const int64_t *lengths)
{
    if (seq_len < 1 || batch < 1)
        return recur_fail(RECUR_E_SHAPE, "sequence length %d and batch %d must be >= 1", seq_len,
                          batch);
    if (lengths) {
        for (int b = 0; b < batch; b++)
            if (lengths[b] < 1 || lengths[b] > seq_len)
                return recur_fail(RECUR_E_SHAPE,
                                  "lengths[%d] = %lld is outside 1..%d (the sequence length)", b,
                                  (long long)lengths[b], seq_len);
    }
    int *batch_sizes = realloc(plan->batch_sizes, sizeof(int) * (size_t)seq_len);
    if (batch_sizes)
        plan->batch_sizes = batch_sizes;
    size_t *offsets = realloc(plan->offsets, sizeof(size_t) * ((size_t)seq_len + 1));
    if (offsets)
        plan->offsets = offsets;
    int *order = realloc(plan->order, sizeof(int) * (size_t)batch);
    if (order)
        plan->order = order;
    length_entry *entries = malloc(sizeof(length_entry) * (size_t)batch);
    if (!batch_sizes || !offsets || !order || !entries) {
        free(entries);
        return recur_fail(RECUR_E_NOMEM, "out of memory planning a batch of %d x %d", seq_len,
                          batch);
    }
    for (int b = 0; b < batch; b++) {
        entries[b].length = lengths ? lengths[b] : seq_len;
        entries[b].index = b;
    }
    qsort(entries, (size_t)batch, sizeof *entries, compare_length_entries);
    for (int k = 0; k < batch; k++)
        order[k] = entries[k].index;
    /* batch_sizes[t] = number of sequences longer than t. */
    int active = batch;
    size_t rows = 0;
    for (int t = 0; t < seq_len; t++) {
        while (active > 0 && entries[active - 1].length <= t)
            active--;
        batch_sizes[t] = active;
        offsets[t] = rows;
        rows += (size_t)active;
    }
    offsets[seq_len] = rows;
    free(entries);
    plan->seq_len = seq_len;
    plan->batch = batch;
    plan->rows = rows;
    return RECUR_OK;
}

void recur_pack_plan_free(recur_pack_plan *plan)
{
    free(plan->batch_sizes);
    free(plan->offsets);
    free(plan->order);
    memset(plan, 0, sizeof *plan);
}

/* Element offset of (t, b) in a [T, B, F] or [B, T, F] tensor. */
static size_t padded_offset(const recur_pack_plan *plan, int t, int b, int feat, int batch_first)
{
    size_t step = batch_first ? (size_t)b * (size_t)plan->seq_len + (size_t)t
                              : (size_t)t * (size_t)plan->batch + (size_t)b;
    return step * (size_t)feat;
}

void recur_pack_sequence(const recur_pack_plan *plan, const float *src, int feat, int batch_first,
                         float *dst)
{
    for (int t = 0; t < plan->seq_len; t++)
        for (int k = 0; k < plan->batch_sizes[t]; k++)
            memcpy(dst + (plan->offsets[t] + (size_t)k) * (size_t)feat,
                   src + padded_offset(plan, t, plan->order[k], feat, batch_first),
                   sizeof(float) * (size_t)feat);
}

void recur_unpack_sequence(const recur_pack_plan *plan, const float *src, int feat,
                           int batch_first, float *dst)
{
    for (int t = 0; t < plan->seq_len; t++)
        for (int k = 0; k < plan->batch; k++) {
            float *row = dst + padded_offset(plan, t, plan->order[k], feat, batch_first);
            if (k < plan->batch_sizes[t])
                memcpy(row, src + (plan->offsets[t] + (size_t)k) * (size_t)feat,
                       sizeof(float) * (size_t)feat);
            else
                memset(row, 0, sizeof(float) * (size_t)feat);
        }
}

void recur_gather_state(const recur_pack_plan *plan, const float *src, int feat, float *dst)
{
    for (int k = 0; k < plan->batch; k++) {
        float *row = dst + (size_t)k * (size_t)feat;
        if (src)
            memcpy(row, src + (size_t)plan->order[k] * (size_t)feat, sizeof(float) * (size_t)feat);
        else
            memset(row, 0, sizeof(float) * (size_t)feat);
    }
}

void recur_scatter_state(const recur_pack_plan *plan, const float *src, int feat, float *dst)
{
    for (int k = 0; k < plan->batch; k++)
        memcpy(dst + (size_t)plan->order[k] * (size_t)feat, src + (size_t)k * (size_t)feat,
               sizeof(float) * (size_t)feat);
}
