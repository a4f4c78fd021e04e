/* L1/L2 weight penalties as Keras's L1L2 regularizer. */
#include <math.h>

#include "core/status.h"

recur_status recur_weight_penalty(int count, const float *const *values, float *const *grads,
                                  const size_t *sizes, float l1, float l2, float *loss)
{
    if (count < 0 || (count > 0 && (!values || !sizes)))
        return recur_fail(RECUR_E_INVALID, "weight_penalty: bad arguments (count %d)", count);
    if (!(l1 >= 0.0f && isfinite(l1)) || !(l2 >= 0.0f && isfinite(l2)))
        return recur_fail(RECUR_E_INVALID,
                          "weight_penalty: l1 %g and l2 %g must be finite and >= 0", (double)l1,
                          (double)l2);
    for (int i = 0; i < count; i++)
        if (sizes[i] > 0 && (!values[i] || (grads && !grads[i])))
            return recur_fail(RECUR_E_INVALID, "weight_penalty: tensor %d is NULL", i);
    double abs_sum = 0.0, sq_sum = 0.0;
    for (int i = 0; i < count; i++)
        for (size_t k = 0; k < sizes[i]; k++) {
            double w = values[i][k];
            abs_sum += fabs(w);
            sq_sum += w * w;
            if (grads) {
                double sign = w > 0.0 ? 1.0 : (w < 0.0 ? -1.0 : 0.0); /* tf.sign(0) = 0 */
                grads[i][k] = (float)((double)grads[i][k] + (double)l1 * sign + 2.0 * l2 * w);
            }
        }
    if (loss)
        *loss = (float)((double)*loss + (double)l1 * abs_sum + (double)l2 * sq_sum);
    return RECUR_OK;
}
