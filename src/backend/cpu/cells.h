/* Fused element-wise kernels of one time step, for `rows` batch rows.
 * Forward and backward of each cell sit side by side in cell_<name>.c.
 * H = hidden size. Matrices are row-major with the stated row strides;
 * those without a stride are dense. The recurrent GEMMs are done by the
 * caller (src/nn/rnn_layer.c); these kernels only do the gate math. */
#ifndef RECUR_BACKEND_CPU_CELLS_H
#define RECUR_BACKEND_CPU_CELLS_H

/* ---- Elman RNN: h = act(pre), act = tanh or relu ---- */

/* pre [rows, H]: W_ih x + b_ih + W_hh h + b_hh. Writes h to h_state [rows, H]
 * and to out [rows, ld_out]. */
void recur_elman_forward(int rows, int H, int relu, const float *pre, float *h_state, float *out,
                         int ld_out);

/* h [rows, ld_h]: saved output of the step; dh [rows, H]: gradient w.r.t. h.
 * Writes grad_pre [rows, H] = dh * act'(h). */
void recur_elman_backward(int rows, int H, int relu, const float *h, int ld_h, const float *dh,
                          float *grad_pre);

/* ---- LSTM: gates i, f, g, o; c = f*c_prev + i*g; m = o*tanh(c) ---- */

/* The LSTM kernels touch units [u0, u0 + units) of every row only (0, H:
 * all), so that a thread can run them on the units it has the gates of.
 * gates [rows, 4H]: pre-activations in, activations (i, f, g, o) out.
 * c_state [rows, H]: c_prev in, c out; c_saved [rows, H]: copy of c.
 * m [rows, ld_m]: o * tanh(c). */
void recur_lstm_forward(int rows, int H, int u0, int units, float *gates, float *c_state,
                        float *c_saved, float *m, int ld_m);

/* gates [rows, 4H] activations; c, c_prev [rows, H]; dm [rows, H] gradient
 * w.r.t. m. dc [rows, H]: gradient w.r.t. c from the next step in,
 * gradient w.r.t. c_prev out. Writes grad_gates [rows, 4H] (pre-activation). */
void recur_lstm_backward(int rows, int H, int u0, int units, const float *gates, const float *c,
                         const float *c_prev, const float *dm, float *dc, float *grad_gates);

/* ---- GRU: r, z, n; n = tanh(x_n + r * (W_hn h + b_hn)); h = (1-z)*n + z*h_prev ---- */

/* Units [u0, u0 + units) of every row (0, H: all), as the LSTM's.
 * gx [rows, 3H]: W_ih x + b_ih in, activations (r, z, n) out.
 * gh [rows, 3H]: W_hh h_prev + b_hh. h_state [rows, H]: h_prev in, h out.
 * hn_saved [rows, H]: copy of W_hn h_prev + b_hn. out [rows, ld_out]: h. */
void recur_gru_forward(int rows, int H, int u0, int units, float *gx, const float *gh,
                       float *h_state, float *hn_saved, float *out, int ld_out);

/* act [rows, 3H] (r, z, n); hn [rows, H] saved W_hn h + b_hn; h_prev [rows, H].
 * dh [rows, H]: gradient w.r.t. h in, the direct part z*dh of the gradient
 * w.r.t. h_prev out (the caller adds grad_gh * W_hh). Writes grad_gx and
 * grad_gh [rows, 3H], the gradients w.r.t. the input and recurrent
 * pre-activations (they differ in the n block: grad_gh_n = grad_gx_n * r). */
void recur_gru_backward(int rows, int H, const float *act, const float *hn, const float *h_prev,
                        float *dh, float *grad_gx, float *grad_gh);

/* ---- Layer normalization over rows of width n (eps 1e-5) ---- */

/* xhat [rows, n]: x in, (x - mean) * rstd out; rstd [rows]. Then
 * y [rows, n] += xhat * gamma + beta (y = ... when accumulate is 0). */
void recur_layer_norm_forward(int rows, int n, float *xhat, float *rstd, const float *gamma,
                              const float *beta, float *y, int accumulate);

/* dy [rows, n] gradient w.r.t. y; writes dx [rows, n] (may alias dy) and adds
 * the gradients of gamma and beta [n]. */
void recur_layer_norm_backward(int rows, int n, const float *dy, const float *xhat,
                               const float *rstd, const float *gamma, float *dx, float *dgamma,
                               float *dbeta);

/* ---- LSTM with layer-normalized cell: m = o * tanh(LN(c)) ---- */

/* As recur_lstm_forward, plus chat [rows, H] / rstd [rows] saved for backward. */
void recur_lstm_ln_forward(int rows, int H, float *gates, float *c_state, float *c_saved,
                           const float *gamma, const float *beta, float *chat, float *rstd,
                           float *m, int ld_m);

/* As recur_lstm_backward; scratch [H]; adds the gradients of gamma and beta. */
void recur_lstm_ln_backward(int rows, int H, const float *gates, const float *chat,
                            const float *rstd, const float *gamma, const float *beta,
                            const float *c_prev, const float *dm, float *dc, float *grad_gates,
                            float *scratch, float *dgamma, float *dbeta);

#endif
