/* log(sum_i exp(x_i)) of a row, stable: shifted by the maximum and summed in
 * double. Shared by cross-entropy and the seq2seq decoder's log-softmax.
 * Internal. */
#ifndef RECUR_TRAIN_LOG_SUM_EXP_H
#define RECUR_TRAIN_LOG_SUM_EXP_H

#include <math.h>

static inline double recur_log_sum_exp(int n, const float *x)
{
    double max = x[0];
    for (int i = 1; i < n; i++)
        max = x[i] > max ? x[i] : max;
    double sum = exp((double)x[0] - max); /* n >= 1 terms, the largest exp(0) = 1 */
    for (int i = 1; i < n; i++)
        sum += exp((double)x[i] - max);
    return max + log(sum);
}

#endif
