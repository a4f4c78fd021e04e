/* One direction of one layer of a recurrent stack: forward and backward
 * through time over a packed batch (see rnn_pack.h). Internal. */
#ifndef RECUR_NN_RNN_LAYER_H
#define RECUR_NN_RNN_LAYER_H

#include "backend/cpu/gemm.h"
#include "core/alloc.h"
#include "nn/rnn_pack.h"
#include "recur.h"

/* Sizes shared by every direction of a stack. */
typedef struct rnn_dims {
    recur_cell cell;
    int hidden;  /* H */
    int proj;    /* P, 0 = none (LSTM only) */
    int out;     /* Hout = P if P else H: size of h */
    int gates;   /* G: 1 (Elman), 4 (LSTM), 3 (GRU) */
    /* Set by the stack for each forward (and kept for its backward): */
    int rec_dropout; /* saved->rec_mask multiplies h_prev in W_hh h_prev */
    int zoneout;     /* saved->zone_h (and zone_c) mix the previous state in */
    int layer_norm;  /* LSTM (no projection) and GRU */
} rnn_dims;

/* Parameters of one direction (pointers into the stack's flat buffers);
 * the bias and projection pointers are NULL when absent. */
typedef struct rnn_weights {
    const float *weight_ih; /* [G*H, in] */
    const float *weight_hh; /* [G*H, Hout] */
    const float *bias_ih;   /* [G*H] */
    const float *bias_hh;   /* [G*H] */
    const float *weight_hr; /* [P, H] */
    /* Layer norm gains and shifts: ih, hh [G*H]; c [H] (LSTM). */
    const float *ln_ih_w, *ln_ih_b, *ln_hh_w, *ln_hh_b, *ln_c_w, *ln_c_b;
} rnn_weights;

typedef struct rnn_grads {
    float *weight_ih, *weight_hh, *bias_ih, *bias_hh, *weight_hr;
    float *ln_ih_w, *ln_ih_b, *ln_hh_w, *ln_hh_b, *ln_c_w, *ln_c_b;
} rnn_grads;

/* What forward saves for backward, per direction. N = packed rows. */
typedef struct rnn_saved {
    recur_buffer gates;     /* [N, G*H] gate activations (Elman: pre-activations) */
    recur_buffer cell;      /* LSTM: c_t [N, H] */
    recur_buffer proj_in;   /* LSTM with projection: o * tanh(c_t) [N, H] */
    recur_buffer hidden_n;  /* GRU: W_hn h_prev + b_hn [N, H] */
    recur_buffer h0;        /* [B, Hout] initial state, sorted */
    recur_buffer c0;        /* [B, H] LSTM initial cell state, sorted */
    /* Regularization, filled by the stack before the forward: */
    recur_buffer rec_mask;  /* [B, Hout] sorted: 0 or 1/(1-p), recurrent dropout */
    recur_buffer zone_h;    /* [N, Hout] weight of h_prev (0/1 training, z eval) */
    recur_buffer zone_c;    /* [N, H] same for c (LSTM) */
    /* ... and by the forward: */
    recur_buffer h_tilde;   /* zoneout: [N, Hout] the cell's new h before mixing */
    recur_buffer cell_carry;/* zoneout, LSTM: [N, H] carried c (cell holds c~) */
    recur_buffer ln_ih;     /* layer norm: [N, G*H] normalized W_ih x */
    recur_buffer ln_hh;     /* [N, G*H] normalized W_hh h */
    recur_buffer ln_c;      /* LSTM: [N, H] normalized c */
    recur_buffer ln_rstd;   /* [3, N] 1/std of ih, hh, c rows */
} rnn_saved;

/* Scratch space shared by all directions. */
typedef struct rnn_workspace {
    recur_buffer h_state;    /* [B, Hout] running h (forward) or grad of h (backward) */
    recur_buffer c_state;    /* [B, H]    running c or grad of c */
    recur_buffer bias;       /* [G*H] folded bias of the input projection */
    recur_buffer step;       /* [B, 3H] GRU recurrent pre-activations; [B, H] LSTM grad of m */
    recur_buffer ones;       /* [N] for column sums */
    recur_buffer grad_gates; /* [N, G*H] */
    recur_buffer grad_gh;    /* GRU: [N, 3H] recurrent pre-activation grads */
    recur_buffer h_prev;     /* [N, Hout] h before each step */
    recur_buffer c_prev;     /* LSTM: [N, H] c before each step */
    recur_buffer grad_h;     /* LSTM with projection: [N, P] grad of h per step */
    recur_buffer h_masked;   /* recurrent dropout: [B, Hout] h * mask, or [N, Hout] in backward */
    recur_buffer zone_prev;  /* zoneout: [B, Hout + H] state before the step; grads kept */
    recur_buffer rec_tmp;    /* recurrent dropout, backward: [B, Hout] grad of h * mask */
    recur_buffer grad_raw;   /* layer norm: [N, G*H] grad of W_hh h, then [H] scratch */
    recur_buffer grad_xraw;  /* layer norm: [N, G*H] grad of W_ih x */
    recur_gemm_team *team;   /* threads for the products, made by the first call large
                                enough to use them; kept until the handle is freed */
} rnn_workspace;

/* Runs one direction over all steps. x [N, in] is the packed input; y points
 * at this direction's columns of the packed output [N, ld_y]. The saved h0/c0
 * must be filled by the caller. Leaves h_n in ws->h_state and c_n in
 * ws->c_state (sorted order). */
recur_status rnn_direction_forward(const rnn_dims *dims, const rnn_weights *w, int reverse,
                                   const recur_pack_plan *plan, const float *x, int in,
                                   float *y, int ld_y, rnn_saved *saved, rnn_workspace *ws);

/* Backpropagation through time for one direction. dy: this direction's
 * columns of the output gradient [N, ld_dy]; ws->h_state / ws->c_state hold
 * the gradients of h_n / c_n (sorted) and receive those of h0 / c0. Adds the
 * parameter gradients to g and writes (dx_beta = 0) or adds (1) the input
 * gradient dx [N, in]. */
recur_status rnn_direction_backward(const rnn_dims *dims, const rnn_weights *w,
                                    const rnn_grads *g, int reverse,
                                    const recur_pack_plan *plan, const float *x, int in,
                                    const float *y, int ld_y, const float *dy, int ld_dy,
                                    float *dx, float dx_beta, const rnn_saved *saved,
                                    rnn_workspace *ws);

#endif
