/* Elman RNN cell: forward and backward of the activation. */
#include "backend/cpu/cells.h"
#include "backend/cpu/simd.h"

#include <math.h>

void recur_elman_forward_scalar(int rows, int H, int relu, const float *pre, float *h_state,
                                float *out, int ld_out)
{
    for (int j = 0; j < rows; j++) {
        const float *pre_row = pre + (long)j * H;
        float *h_row = h_state + (long)j * H;
        float *out_row = out + (long)j * ld_out;
        for (int k = 0; k < H; k++) {
            /* torch's ReLU: NaN and -0 stay */
            float h = relu ? (pre_row[k] < 0.0f ? 0.0f : pre_row[k]) : tanhf(pre_row[k]);
            h_row[k] = h;
            out_row[k] = h;
        }
    }
}

void recur_elman_backward_scalar(int rows, int H, int relu, const float *h, int ld_h,
                                 const float *dh, float *grad_pre)
{
    for (int j = 0; j < rows; j++) {
        const float *h_row = h + (long)j * ld_h;
        const float *dh_row = dh + (long)j * H;
        float *g_row = grad_pre + (long)j * H;
        for (int k = 0; k < H; k++) {
            float y = h_row[k];
            /* torch's threshold_backward: cut where the output is <= 0 */
            g_row[k] = relu ? (y <= 0.0f ? 0.0f : dh_row[k]) : dh_row[k] * (1.0f - y * y);
        }
    }
}

/* Dispatchers (simd.h): the SIMD variants where the CPU has them, else the above. */

void recur_elman_forward(int rows, int H, int relu, const float *pre, float *h_state, float *out,
                         int ld_out)
{
    RECUR_SIMD_DISPATCH(recur_elman_forward, (rows, H, relu, pre, h_state, out, ld_out));
}

void recur_elman_backward(int rows, int H, int relu, const float *h, int ld_h, const float *dh,
                          float *grad_pre)
{
    RECUR_SIMD_DISPATCH(recur_elman_backward, (rows, H, relu, h, ld_h, dh, grad_pre));
}
