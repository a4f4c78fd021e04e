/* Gradient clipping (torch.nn.utils.clip_grad_norm_). */
#include <math.h>

#include "core/status.h"

recur_status recur_clip_grad_norm(int count, float *const *grads, const size_t *sizes,
                                  float max_norm, float *total_norm)
{
    if (count < 0 || (count > 0 && (!grads || !sizes)) || !(max_norm > 0.0f))
        return recur_fail(RECUR_E_INVALID, "clip_grad_norm: bad arguments (max_norm %g)",
                          (double)max_norm);
    for (int i = 0; i < count; i++)
        if (!grads[i] && sizes[i] > 0)
            return recur_fail(RECUR_E_INVALID, "clip_grad_norm: gradient %d is NULL", i);
    double sum = 0.0;
    for (int i = 0; i < count; i++)
        for (size_t k = 0; k < sizes[i]; k++)
            sum += (double)grads[i][k] * grads[i][k];
    float norm = (float)sqrt(sum);
    if (total_norm)
        *total_norm = norm;
    /* torch multiplies by clamp(coef, max=1), and clamp keeps NaN: a NaN norm
     * makes every gradient NaN, an infinite one zeroes the finite ones. */
    float coef = max_norm / (norm + 1e-6f);
    if (!(coef >= 1.0f))
        for (int i = 0; i < count; i++)
            for (size_t k = 0; k < sizes[i]; k++)
                grads[i][k] *= coef;
    return RECUR_OK;
}

recur_status recur_clip_grad_value(int count, float *const *grads, const size_t *sizes,
                                   float clip_value)
{
    if (count < 0 || (count > 0 && (!grads || !sizes)))
        return recur_fail(RECUR_E_INVALID, "clip_grad_value: bad arguments (count %d)", count);
    if (!(clip_value >= 0.0f))
        return recur_fail(RECUR_E_INVALID, "clip_grad_value: clip_value %g must be >= 0",
                          (double)clip_value);
    for (int i = 0; i < count; i++) {
        if (!grads[i] && sizes[i] > 0)
            return recur_fail(RECUR_E_INVALID, "clip_grad_value: gradient %d is NULL", i);
    }
    /* clamp(min=-c, max=c) as torch: NaN stays NaN. */
    for (int i = 0; i < count; i++)
        for (size_t k = 0; k < sizes[i]; k++) {
            float g = grads[i][k];
            grads[i][k] = g > clip_value ? clip_value : (g < -clip_value ? -clip_value : g);
        }
    return RECUR_OK;
}
