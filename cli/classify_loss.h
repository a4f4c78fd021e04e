/* The losses of recur classify train: the labels' loss (cross-entropy, or
 * BCE on one output for two classes), class weights in both as PyTorch's
 * weighted mean. */
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

#endif
