/* GRU cell (gate order r, z, n as in PyTorch): forward and backward. */
#include "backend/cpu/activations.h"
#include "backend/cpu/cells.h"
#include "backend/cpu/simd.h"

void recur_gru_forward_scalar(int rows, int H, int u0, int units, float *gx, const float *gh,
                              float *h_state, float *hn_saved, float *out, int ld_out)
{
    for (int j = 0; j < rows; j++) {
        float *xr = gx + (long)j * 3 * H + u0, *xz = xr + H, *xn = xz + H;
        const float *hr = gh + (long)j * 3 * H + u0, *hz = hr + H, *hn = hz + H;
        float *h_row = h_state + (long)j * H + u0;
        float *hn_row = hn_saved + (long)j * H + u0;
        float *out_row = out + (long)j * ld_out + u0;
        for (int k = 0; k < units; k++) {
            float r = recur_sigmoid(xr[k] + hr[k]);
            float z = recur_sigmoid(xz[k] + hz[k]);
            float n = tanhf(xn[k] + r * hn[k]);
            float h = (1.0f - z) * n + z * h_row[k];
            xr[k] = r;
            xz[k] = z;
            xn[k] = n;
            hn_row[k] = hn[k];
            h_row[k] = h;
            out_row[k] = h;
        }
    }
}

void recur_gru_backward_scalar(int rows, int H, const float *act, const float *hn,
                               const float *h_prev, float *dh, float *grad_gx, float *grad_gh)
{
    for (int j = 0; j < rows; j++) {
        const float *ar = act + (long)j * 3 * H, *az = ar + H, *an = az + H;
        const float *hn_row = hn + (long)j * H;
        const float *h_prev_row = h_prev + (long)j * H;
        float *dh_row = dh + (long)j * H;
        float *dxr = grad_gx + (long)j * 3 * H, *dxz = dxr + H, *dxn = dxz + H;
        float *dhr = grad_gh + (long)j * 3 * H, *dhz = dhr + H, *dhn = dhz + H;
        for (int k = 0; k < H; k++) {
            float r = ar[k], z = az[k], n = an[k], d = dh_row[k];
            float dn_pre = d * (1.0f - z) * (1.0f - n * n);
            float dz_pre = d * (h_prev_row[k] - n) * z * (1.0f - z);
            float dr_pre = dn_pre * hn_row[k] * r * (1.0f - r);
            dxr[k] = dr_pre;
            dxz[k] = dz_pre;
            dxn[k] = dn_pre;
            dhr[k] = dr_pre;
            dhz[k] = dz_pre;
            dhn[k] = dn_pre * r;
            dh_row[k] = d * z;
        }
    }
}

/* Dispatchers (simd.h): the SIMD variants where the CPU has them, else the above. */

void recur_gru_forward(int rows, int H, int u0, int units, float *gx, const float *gh,
                       float *h_state, float *hn_saved, float *out, int ld_out)
{
    RECUR_SIMD_DISPATCH(recur_gru_forward,
                        (rows, H, u0, units, gx, gh, h_state, hn_saved, out, ld_out));
}

void recur_gru_backward(int rows, int H, const float *act, const float *hn, const float *h_prev,
                        float *dh, float *grad_gx, float *grad_gh)
{
    RECUR_SIMD_DISPATCH(recur_gru_backward, (rows, H, act, hn, h_prev, dh, grad_gx, grad_gh));
}
