/* The losses of recur classify train: the labels' loss (cross-entropy, or
 * BCE on one output for two classes), class weights in both as PyTorch's
 * weighted mean, and the auxiliary next-token loss. */
#ifndef RECUR_CLI_CLASSIFY_LOSS_H
#define RECUR_CLI_CLASSIFY_LOSS_H

#include <stdint.h>

#include "recur.h"

/* Mean loss of n examples and its gradient d loss / d logits (grad may be
 * NULL). bce: logits [n] (one output, class 1's logit), else [n, classes].
 * class_weights [classes] or NULL: with them the mean is
 * sum_i w[y_i] l_i / sum_i w[y_i], as torch's CrossEntropyLoss(weight=w);
 * for BCE the same rule with binary_cross_entropy_with_logits(weight=w[y]),
 * so two classes give the loss of CrossEntropyLoss(weight=w) on the logits
 * [0, z] (0 when every weight is 0). */
recur_status cls_labels_loss(int n, int classes, int bce, const float *class_weights,
                             const float *logits, const int64_t *targets, float *loss,
                             float *grad);

/* The auxiliary next-token task on the stack's outputs [T, B, D*H] of a
 * batch of token ids [T, B] with lengths [B]: head (Linear H -> vocab) reads
 * only the forward direction's half [.., 0:H] of each output (the reverse
 * direction's at step t has read token t + 1), and predicts token t + 1 from
 * step t (t + 1 < length; cross-entropy, mean over the predicted tokens).
 * Writes the loss and grad_outputs [T, B, D*H] = scale x d loss / d outputs
 * (zero in the reverse half) and adds scale x the head's gradients. */
typedef struct cls_aux_batch {
    int steps, batch, hidden, directions;
    const float *outputs;  /* [T, B, D*H] */
    const int64_t *ids;    /* [T, B] */
    const int64_t *lengths; /* [B] */
} cls_aux_batch;

recur_status cls_aux_loss(recur_linear *head, int vocab_size, const cls_aux_batch *b,
                          float scale, float *loss, float *grad_outputs);

#endif
