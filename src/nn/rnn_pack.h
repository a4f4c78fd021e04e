/* Variable-length batches as PyTorch's PackedSequence: sequences sorted by
 * length (longest first, ties in input order), steps stored time-major with
 * only the active rows, so that the active rows of step t are always the
 * first batch_sizes[t] rows and padding costs no compute. */
#ifndef RECUR_NN_RNN_PACK_H
#define RECUR_NN_RNN_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "recur.h"

typedef struct recur_pack_plan {
    int seq_len;      /* T */
    int batch;        /* B */
    int *batch_sizes; /* [T] active rows at step t, non-increasing */
    size_t *offsets;  /* [T + 1] first packed row of step t; offsets[T] = rows */
    int *order;       /* [B] sorted position -> index in the caller's batch */
    size_t rows;      /* N = sum of the lengths */
} recur_pack_plan;

/* Builds the plan; lengths NULL means every sequence has T steps. Fails with
 * RECUR_E_SHAPE when a length is outside 1..T. */
recur_status recur_pack_plan_build(recur_pack_plan *plan, int seq_len, int batch,
                                   const int64_t *lengths);
void recur_pack_plan_free(recur_pack_plan *plan);

/* src [T, B, F] (or [B, T, F]) -> dst [N, F]. */
void recur_pack_sequence(const recur_pack_plan *plan, const float *src, int feat, int batch_first,
                         float *dst);
/* src [N, F] -> dst [T, B, F] (or [B, T, F]), zeros past each length. */
void recur_unpack_sequence(const recur_pack_plan *plan, const float *src, int feat,
                           int batch_first, float *dst);
/* src [B, F] in the caller's order (NULL = zeros) -> dst [B, F] sorted. */
void recur_gather_state(const recur_pack_plan *plan, const float *src, int feat, float *dst);
/* src [B, F] sorted -> dst [B, F] in the caller's order. */
void recur_scatter_state(const recur_pack_plan *plan, const float *src, int feat, float *dst);

#endif
