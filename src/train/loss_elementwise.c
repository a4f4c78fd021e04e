/* Element-wise losses (torch.nn.functional.binary_cross_entropy_with_logits,
 * with pos_weight and weight, mse_loss, l1_loss, huber_loss) with an optional
 * 0/1 padding mask; value and
 * gradient together, each element computed in double from the float inputs. */
#include <math.h>
#include <stddef.h>

#include "core/status.h"

recur_loss_options recur_loss_defaults(void)
{
    recur_loss_options o = {RECUR_REDUCE_MEAN, 1.0f, NULL, 0, NULL, NULL};
    return o;
}

static const char *loss_name(recur_loss_kind kind)
{
    switch (kind) {
    case RECUR_LOSS_BCE_LOGITS:
        return "bce_logits";
    case RECUR_LOSS_MSE:
        return "mse";
    case RECUR_LOSS_L1:
        return "l1";
    case RECUR_LOSS_HUBER:
        return "huber";
    }
    return "loss";
}

/* Loss of one element and its derivative with respect to the input, with
 * PyTorch's formulas (and its subgradients at the kinks). */
static double element_loss(recur_loss_kind kind, double x, double y, double pos_weight,
                           double delta, double *grad)
{
    switch (kind) {
    case RECUR_LOSS_BCE_LOGITS: {
        /* torch: (1 - y) x + (1 + (pw - 1) y) (log(1 + exp(-|x|)) + max(-x, 0));
         * backward: (pw y + 1 - y) sigmoid(x) - pw y. */
        double log_weight = 1.0 + (pos_weight - 1.0) * y;
        double softplus_neg = log1p(exp(-fabs(x))) + (x < 0.0 ? -x : 0.0);
        double t = pos_weight * y;
        *grad = (t + 1.0 - y) / (1.0 + exp(-x)) - t;
        return (1.0 - y) * x + log_weight * softplus_neg;
    }
    case RECUR_LOSS_MSE: {
        double d = x - y;
        *grad = 2.0 * d;
        return d * d;
    }
    case RECUR_LOSS_L1: {
        double d = x - y;
        *grad = d > 0.0 ? 1.0 : (d < 0.0 ? -1.0 : 0.0); /* sign(0) = 0, as abs's backward */
        return fabs(d);
    }
    case RECUR_LOSS_HUBER: {
        /* torch: 0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta); the
         * backward clamps d to [-delta, delta] (both sides agree at |d| = delta). */
        double d = x - y, a = fabs(d);
        *grad = d <= -delta ? -delta : (d >= delta ? delta : d);
        return a < delta ? 0.5 * d * d : delta * (a - 0.5 * delta);
    }
    }
    *grad = 0.0;
    return 0.0;
}

recur_status recur_elementwise_loss(recur_loss_kind kind, size_t n, const float *input,
                                    const float *target, const recur_loss_options *options,
                                    float *loss, float *grad_input)
{
    recur_loss_options o = options ? *options : recur_loss_defaults();
    if (kind < RECUR_LOSS_BCE_LOGITS || kind > RECUR_LOSS_HUBER)
        return recur_fail(RECUR_E_INVALID, "elementwise_loss: unknown loss kind %d", (int)kind);
    const char *name = loss_name(kind);
    if (!input || !target || !loss)
        return recur_fail(RECUR_E_INVALID, "%s loss: input, target and loss must not be NULL",
                          name);
    if (o.reduction != RECUR_REDUCE_MEAN && o.reduction != RECUR_REDUCE_SUM)
        return recur_fail(RECUR_E_INVALID, "%s loss: unknown reduction %d", name,
                          (int)o.reduction);
    if (kind == RECUR_LOSS_HUBER && !(o.huber_delta > 0.0f && isfinite(o.huber_delta)))
        return recur_fail(RECUR_E_INVALID, "huber loss: delta %g must be positive and finite",
                          (double)o.huber_delta);
    if (o.pos_weight) {
        if (kind != RECUR_LOSS_BCE_LOGITS)
            return recur_fail(RECUR_E_INVALID, "%s loss: pos_weight applies to bce_logits only",
                              name);
        if (o.pos_weight_size < 1 || n % (size_t)o.pos_weight_size != 0)
            return recur_fail(RECUR_E_INVALID,
                              "bce_logits loss: pos_weight size %d does not divide n = %zu",
                              o.pos_weight_size, n);
    }
    if (o.weight && kind != RECUR_LOSS_BCE_LOGITS)
        return recur_fail(RECUR_E_INVALID, "%s loss: weight applies to bce_logits only", name);
    double count = (double)n;
    if (o.mask) {
        count = 0.0;
        for (size_t i = 0; i < n; i++) {
            if (o.mask[i] != 0.0f && o.mask[i] != 1.0f)
                return recur_fail(RECUR_E_INVALID, "%s loss: mask[%zu] = %g is not 0 or 1", name,
                                  i, (double)o.mask[i]);
            count += o.mask[i];
        }
    }
    const double scale = o.reduction == RECUR_REDUCE_SUM ? 1.0 : (count > 0.0 ? 1.0 / count : 0.0);
    const double delta = o.huber_delta;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (o.mask && o.mask[i] == 0.0f) {
            if (grad_input)
                grad_input[i] = 0.0f;
            continue;
        }
        double pw = o.pos_weight ? o.pos_weight[i % (size_t)o.pos_weight_size] : 1.0, g;
        double weight = o.weight ? o.weight[i] : 1.0;
        total += weight * element_loss(kind, input[i], target[i], pw, delta, &g);
        if (grad_input)
            grad_input[i] = (float)(weight * g * scale);
    }
    *loss = (float)(total * scale);
    return RECUR_OK;
}
