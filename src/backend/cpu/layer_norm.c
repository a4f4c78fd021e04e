/* Layer normalization over the rows of a matrix: forward and backward. */
#include <math.h>

#include "backend/cpu/cells.h"

#define LN_EPS 1e-5

void recur_layer_norm_forward(int rows, int n, float *xhat, float *rstd, const float *gamma,
                              const float *beta, float *y, int accumulate)
{
    for (int j = 0; j < rows; j++) {
        float *x_row = xhat + (long)j * n;
        float *y_row = y + (long)j * n;
        double sum = 0.0, sq = 0.0;
        for (int k = 0; k < n; k++)
            sum += x_row[k];
        const double mean = sum / n;
        for (int k = 0; k < n; k++) {
            double d = x_row[k] - mean;
            sq += d * d;
        }
        const double r = 1.0 / sqrt(sq / n + LN_EPS);
        rstd[j] = (float)r;
        for (int k = 0; k < n; k++) {
            float xh = (float)((x_row[k] - mean) * r);
            x_row[k] = xh;
            float v = xh * gamma[k] + beta[k];
            y_row[k] = accumulate ? y_row[k] + v : v;
        }
    }
}

void recur_layer_norm_backward(int rows, int n, const float *dy, const float *xhat,
                               const float *rstd, const float *gamma, float *dx, float *dgamma,
                               float *dbeta)
{
    for (int j = 0; j < rows; j++) {
        const float *dy_row = dy + (long)j * n;
        const float *xh_row = xhat + (long)j * n;
        float *dx_row = dx + (long)j * n;
        double m1 = 0.0, m2 = 0.0;
        for (int k = 0; k < n; k++) {
            double g = (double)dy_row[k] * gamma[k];
            m1 += g;
            m2 += g * xh_row[k];
            dgamma[k] += dy_row[k] * xh_row[k];
            dbeta[k] += dy_row[k];
        }
        m1 /= n;
        m2 /= n;
        for (int k = 0; k < n; k++) {
            double g = (double)dy_row[k] * gamma[k];
            dx_row[k] = (float)(rstd[j] * (g - m1 - xh_row[k] * m2));
        }
    }
}
