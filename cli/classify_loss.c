/* The losses of recur classify train (classify_loss.h). */
#include "classify_loss.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* BCE with logits on one output, each example weighted by its class's weight,
 * divided by the summed weights (0 when they sum to 0, as cross-entropy). */
static recur_status weighted_bce(int n, const float *class_weights, const float *logits,
                                 const int64_t *targets, float *loss, float *grad)
{
    float *target = malloc((size_t)n * sizeof(float));
    float *weight = malloc((size_t)n * sizeof(float));
    recur_status st = target && weight
                          ? RECUR_OK
                          : recur_fail(RECUR_E_NOMEM, "classify: loss weights: out of memory");
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

/* The forward direction's half [rows, H] of outputs [rows, D*H]. */
static void forward_half(const cls_aux_batch *b, float *half)
{
    const size_t rows = (size_t)b->steps * (size_t)b->batch, H = (size_t)b->hidden;
    const size_t width = (size_t)b->directions * H;
    for (size_t r = 0; r < rows; r++)
        memcpy(half + r * H, b->outputs + r * width, H * sizeof(float));
}

/* grad_outputs [rows, D*H] from the gradient of the forward half [rows, H]. */
static void spread_half(const cls_aux_batch *b, const float *grad_half, float *grad_outputs)
{
    const size_t rows = (size_t)b->steps * (size_t)b->batch, H = (size_t)b->hidden;
    const size_t width = (size_t)b->directions * H;
    memset(grad_outputs, 0, rows * width * sizeof(float));
    for (size_t r = 0; r < rows; r++)
        memcpy(grad_outputs + r * width, grad_half + r * H, H * sizeof(float));
}

recur_status cls_aux_loss(recur_linear *head, int vocab_size, const cls_aux_batch *b,
                          float scale, float *loss, float *grad_outputs)
{
    const int rows = b->steps * b->batch, V = vocab_size;
    float *half = malloc((size_t)rows * (size_t)b->hidden * sizeof(float));
    float *grad_half = malloc((size_t)rows * (size_t)b->hidden * sizeof(float));
    float *logits = malloc((size_t)rows * V * sizeof(float));
    float *grad_logits = malloc((size_t)rows * V * sizeof(float));
    int64_t *next = malloc((size_t)rows * sizeof(int64_t));
    recur_status st = half && grad_half && logits && grad_logits && next
                          ? RECUR_OK
                          : recur_fail(RECUR_E_NOMEM, "classify: auxiliary task: out of memory");
    for (int t = 0; st == RECUR_OK && t < b->steps; t++)
        for (int k = 0; k < b->batch; k++) /* the next token, or ignored */
            next[t * b->batch + k] =
                t + 1 < b->lengths[k] ? b->ids[(t + 1) * b->batch + k] : -100;
    if (st == RECUR_OK) {
        forward_half(b, half);
        st = recur_linear_forward(head, rows, half, logits);
    }
    recur_cross_entropy_options ce = recur_cross_entropy_defaults();
    if (st == RECUR_OK)
        st = recur_cross_entropy(rows, V, logits, next, &ce, loss, grad_logits);
    for (size_t k = 0; st == RECUR_OK && k < (size_t)rows * V; k++)
        grad_logits[k] *= scale;
    if (st == RECUR_OK)
        st = recur_linear_backward(head, grad_logits, grad_half);
    if (st == RECUR_OK)
        spread_half(b, grad_half, grad_outputs);
    free(half), free(grad_half), free(logits), free(grad_logits), free(next);
    return st;
}
