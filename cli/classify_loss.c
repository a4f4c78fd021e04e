/* The losses of recur classify train (classify_loss.h). */
#include "classify_loss.h"

#include <stdlib.h>

/* BCE with logits on one output, each example weighted by its class's weight,
 * divided by the summed weights (0 when they sum to 0, as cross-entropy). */
static recur_status weighted_bce(int n, const float *class_weights, const float *logits,
                                 const int64_t *targets, float *loss, float *grad)
{
    float *target = malloc((size_t)n * sizeof(float));
    float *weight = malloc((size_t)n * sizeof(float));
    recur_status st = target && weight ? RECUR_OK : RECUR_E_NOMEM;
    double total_weight = 0;
    for (int k = 0; st == RECUR_OK && k < n; k++) {
        target[k] = (float)targets[k];
        weight[k] = class_weights ? class_weights[targets[k]] : 1.0f;
        total_weight += weight[k];
    }
    recur_loss_options lo = recur_loss_defaults();
    lo.reduction = RECUR_REDUCE_SUM, lo.weight = weight;
    if (st == RECUR_OK)
        st = recur_elementwise_loss(RECUR_LOSS_BCE_LOGITS, (size_t)n, logits, target, &lo, loss,
                                    grad);
    const float scale = total_weight > 0 ? (float)(1.0 / total_weight) : 0.0f;
    if (st == RECUR_OK)
        *loss *= scale;
    for (int k = 0; st == RECUR_OK && grad && k < n; k++)
        grad[k] *= scale;
    free(target), free(weight);
    return st;
}

recur_status cls_labels_loss(int n, int classes, int bce, const float *class_weights,
                             const float *logits, const int64_t *targets, float *loss,
                             float *grad)
{
    if (bce)
        return weighted_bce(n, class_weights, logits, targets, loss, grad);
    recur_cross_entropy_options ce = recur_cross_entropy_defaults();
    ce.class_weights = class_weights;
    return recur_cross_entropy(n, classes, logits, targets, &ce, loss, grad);
}
