/* LSTM cell (gate order i, f, g, o as in PyTorch): forward and backward. */
#include "backend/cpu/activations.h"
#include "backend/cpu/cells.h"
#include "backend/cpu/simd.h"

/* One row's gates in place (pre-activations -> i, f, g, o) and the new cell
 * c = f c_prev + i g, written to c_row (c_prev before) and c_save_row, for
 * `units` units (the gates H apart); the part the plain and the
 * layer-normalized cells share. */
static void lstm_gates_row(int units, int H, float *gates, float *c_row, float *c_save_row)
{
    float *gi = gates, *gf = gi + H, *gg = gf + H, *go = gg + H;
    for (int k = 0; k < units; k++) {
        float i = recur_sigmoid(gi[k]);
        float f = recur_sigmoid(gf[k]);
        float g = tanhf(gg[k]);
        float o = recur_sigmoid(go[k]);
        float c = f * c_row[k] + i * g;
        gi[k] = i;
        gf[k] = f;
        gg[k] = g;
        go[k] = o;
        c_row[k] = c;
        c_save_row[k] = c;
    }
}

void recur_lstm_forward_scalar(int rows, int H, int u0, int units, float *gates, float *c_state,
                               float *c_saved, float *m, int ld_m)
{
    for (int j = 0; j < rows; j++) {
        float *g_row = gates + (long)j * 4 * H + u0, *go = g_row + 3 * H;
        float *c_row = c_state + (long)j * H + u0;
        float *m_row = m + (long)j * ld_m + u0;
        lstm_gates_row(units, H, g_row, c_row, c_saved + (long)j * H + u0);
        for (int k = 0; k < units; k++)
            m_row[k] = go[k] * tanhf(c_row[k]);
    }
}

void recur_lstm_backward_scalar(int rows, int H, int u0, int units, const float *gates,
                                const float *c, const float *c_prev, const float *dm, float *dc,
                                float *grad_gates)
{
    for (int j = 0; j < rows; j++) {
        const float *gi = gates + (long)j * 4 * H + u0, *gf = gi + H, *gg = gf + H, *go = gg + H;
        const float *c_row = c + (long)j * H + u0;
        const float *c_prev_row = c_prev + (long)j * H + u0;
        const float *dm_row = dm + (long)j * H + u0;
        float *dc_row = dc + (long)j * H + u0;
        float *di = grad_gates + (long)j * 4 * H + u0, *df = di + H, *dg = df + H, *dout = dg + H;
        for (int k = 0; k < units; k++) {
            float i = gi[k], f = gf[k], g = gg[k], o = go[k];
            float tanh_c = tanhf(c_row[k]);
            float dc_total = dc_row[k] + dm_row[k] * o * (1.0f - tanh_c * tanh_c);
            dout[k] = dm_row[k] * tanh_c * o * (1.0f - o);
            di[k] = dc_total * g * i * (1.0f - i);
            df[k] = dc_total * c_prev_row[k] * f * (1.0f - f);
            dg[k] = dc_total * i * (1.0f - g * g);
            dc_row[k] = dc_total * f;
        }
    }
}

void recur_lstm_ln_forward_scalar(int rows, int H, float *gates, float *c_state, float *c_saved,
                                  const float *gamma, const float *beta, float *chat, float *rstd,
                                  float *m, int ld_m)
{
    for (int j = 0; j < rows; j++) {
        float *go = gates + (long)j * 4 * H + 3 * H;
        float *c_row = c_state + (long)j * H;
        float *chat_row = chat + (long)j * H;
        float *m_row = m + (long)j * ld_m;
        lstm_gates_row(H, H, gates + (long)j * 4 * H, c_row, c_saved + (long)j * H);
        for (int k = 0; k < H; k++)
            chat_row[k] = c_row[k];
        /* m = o * tanh(LN(c)), the LN output written to m first. */
        recur_layer_norm_forward(1, H, chat_row, rstd + j, gamma, beta, m_row, 0);
        for (int k = 0; k < H; k++)
            m_row[k] = go[k] * tanhf(m_row[k]);
    }
}

void recur_lstm_ln_backward_scalar(int rows, int H, const float *gates, const float *chat,
                                   const float *rstd, const float *gamma, const float *beta,
                                   const float *c_prev, const float *dm, float *dc,
                                   float *grad_gates, float *scratch, float *dgamma, float *dbeta)
{
    for (int j = 0; j < rows; j++) {
        const float *gi = gates + (long)j * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;
        const float *chat_row = chat + (long)j * H;
        const float *c_prev_row = c_prev + (long)j * H;
        const float *dm_row = dm + (long)j * H;
        float *dc_row = dc + (long)j * H;
        float *di = grad_gates + (long)j * 4 * H, *df = di + H, *dg = df + H, *dout = dg + H;
        for (int k = 0; k < H; k++) {
            float o = go[k];
            float t = tanhf(chat_row[k] * gamma[k] + beta[k]);
            dout[k] = dm_row[k] * t * o * (1.0f - o);
            scratch[k] = dm_row[k] * o * (1.0f - t * t); /* gradient of LN(c) */
        }
        recur_layer_norm_backward(1, H, scratch, chat_row, rstd + j, gamma, scratch, dgamma, dbeta);
        for (int k = 0; k < H; k++) {
            float i = gi[k], f = gf[k], g = gg[k];
            float dc_total = dc_row[k] + scratch[k];
            di[k] = dc_total * g * i * (1.0f - i);
            df[k] = dc_total * c_prev_row[k] * f * (1.0f - f);
            dg[k] = dc_total * i * (1.0f - g * g);
            dc_row[k] = dc_total * f;
        }
    }
}

/* Dispatchers (simd.h): the SIMD variants where the CPU has them, else the above. */

void recur_lstm_forward(int rows, int H, int u0, int units, float *gates, float *c_state,
                        float *c_saved, float *m, int ld_m)
{
    RECUR_SIMD_DISPATCH(recur_lstm_forward,
                        (rows, H, u0, units, gates, c_state, c_saved, m, ld_m));
}

void recur_lstm_backward(int rows, int H, int u0, int units, const float *gates, const float *c,
                         const float *c_prev, const float *dm, float *dc, float *grad_gates)
{
    RECUR_SIMD_DISPATCH(recur_lstm_backward,
                        (rows, H, u0, units, gates, c, c_prev, dm, dc, grad_gates));
}

void recur_lstm_ln_forward(int rows, int H, float *gates, float *c_state, float *c_saved,
                           const float *gamma, const float *beta, float *chat, float *rstd,
                           float *m, int ld_m)
{
    RECUR_SIMD_DISPATCH(recur_lstm_ln_forward,
                        (rows, H, gates, c_state, c_saved, gamma, beta, chat, rstd, m, ld_m));
}

void recur_lstm_ln_backward(int rows, int H, const float *gates, const float *chat,
                            const float *rstd, const float *gamma, const float *beta,
                            const float *c_prev, const float *dm, float *dc, float *grad_gates,
                            float *scratch, float *dgamma, float *dbeta)
{
    RECUR_SIMD_DISPATCH(recur_lstm_ln_backward, (rows, H, gates, chat, rstd, gamma, beta, c_prev,
                                                 dm, dc, grad_gates, scratch, dgamma, dbeta));
}
