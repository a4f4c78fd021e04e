/* Internal views into a recurrent stack, for tests: the masks of the last
 * forward (NULL when that forward used none). Internal. */
#ifndef RECUR_NN_RNN_INTERNAL_H
#define RECUR_NN_RNN_INTERNAL_H

#include "nn/rnn_pack.h"
#include "recur.h"

/* The packing of the last forward (sorted order, see rnn_pack.h). */
const recur_pack_plan *rnn_internal_plan(const recur_rnn *rnn);
/* Dropout after layer `layer` (< L-1): packed [N, D*Hout], 0 or 1/(1-p). */
const float *rnn_internal_dropout_mask(const recur_rnn *rnn, int layer);
/* Recurrent dropout: [B, Hout] in sorted batch order, 0 or 1/(1-p). */
const float *rnn_internal_recurrent_mask(const recur_rnn *rnn, int layer, int direction);
/* Zoneout weight of the previous h (cell 0, [N, Hout]) or c (cell 1, [N, H]),
 * per packed row: 0/1 in training mode, z in eval mode. */
const float *rnn_internal_zoneout_mask(const recur_rnn *rnn, int layer, int direction, int cell);

#endif
