/* Losses with torch.nn.functional's semantics, value and gradient together. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "train/log_sum_exp.h"

recur_cross_entropy_options recur_cross_entropy_defaults(void)
{
    recur_cross_entropy_options o = {-100, 0.0f, NULL, RECUR_REDUCE_MEAN};
    return o;
}

/* log_softmax of one row into log_p (double for a stable sum). */
static void log_softmax_row(int classes, const float *logits, double *log_p)
{
    const double log_sum = recur_log_sum_exp(classes, logits);
    for (int c = 0; c < classes; c++)
        log_p[c] = (double)logits[c] - log_sum;
}

/* loss_i = -(1-eps) w[y] log p[y] - (eps/C) sum_c w[c] log p[c]; with mean
 * reduction both terms are divided by sum_i w[y_i] over counted rows
 * (PyTorch's cross_entropy_loss_label_smoothing and nll_loss). */
recur_status recur_cross_entropy(int n, int classes, const float *logits, const int64_t *targets,
                                 const recur_cross_entropy_options *options, float *loss,
                                 float *grad_logits)
{
    recur_cross_entropy_options o = options ? *options : recur_cross_entropy_defaults();
    if (n < 0 || classes < 1 || !logits || !targets || !loss)
        return recur_fail(RECUR_E_INVALID, "cross_entropy: bad arguments");
    if (!(o.label_smoothing >= 0.0f && o.label_smoothing <= 1.0f))
        return recur_fail(RECUR_E_INVALID, "cross_entropy: label_smoothing %g outside [0, 1]",
                          (double)o.label_smoothing);
    for (int i = 0; i < n; i++)
        if (targets[i] != o.ignore_index && (targets[i] < 0 || targets[i] >= classes))
            return recur_fail(RECUR_E_SHAPE, "cross_entropy: target %lld at row %d outside 0..%d",
                              (long long)targets[i], i, classes - 1);
    double *log_p = malloc(sizeof(double) * (size_t)classes);
    if (!log_p)
        return recur_fail(RECUR_E_NOMEM, "cross_entropy: out of memory");
    const double eps = o.label_smoothing, smooth = eps / classes;
    double total = 0.0, weight_sum = 0.0;
    for (int i = 0; i < n; i++)
        if (targets[i] != o.ignore_index)
            weight_sum += o.class_weights ? o.class_weights[targets[i]] : 1.0;
    const double scale = o.reduction == RECUR_REDUCE_MEAN ? (weight_sum != 0.0 ? 1.0 / weight_sum : 0.0) : 1.0;
    for (int i = 0; i < n; i++) {
        const float *row = logits + (size_t)i * classes;
        float *grad_row = grad_logits ? grad_logits + (size_t)i * classes : NULL;
        if (targets[i] == o.ignore_index) {
            if (grad_row)
                memset(grad_row, 0, sizeof(float) * (size_t)classes);
            continue;
        }
        log_softmax_row(classes, row, log_p);
        const int64_t y = targets[i];
        const double w_y = o.class_weights ? o.class_weights[y] : 1.0;
        /* coefficient of -log p[c] in this row's loss, and their sum */
        double coef_sum = (1.0 - eps) * w_y;
        total -= (1.0 - eps) * w_y * log_p[y];
        for (int c = 0; c < classes; c++) {
            double w_c = o.class_weights ? o.class_weights[c] : 1.0;
            total -= smooth * w_c * log_p[c];
            coef_sum += smooth * w_c;
        }
        if (!grad_row)
            continue;
        for (int c = 0; c < classes; c++) {
            double w_c = o.class_weights ? o.class_weights[c] : 1.0;
            double coef = smooth * w_c + (c == y ? (1.0 - eps) * w_y : 0.0);
            grad_row[c] = (float)(scale * (coef_sum * exp(log_p[c]) - coef));
        }
    }
    free(log_p);
    *loss = (float)(total * scale);
    return RECUR_OK;
}
