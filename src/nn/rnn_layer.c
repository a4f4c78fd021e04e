/* Forward and backward through time of one direction of one layer.
 *
 * Forward:  gates[N, G*H] = x W_ih^T + bias       (one GEMM for all steps)
 *           for each step t (in time order, or reversed):
 *             gates[t] += h_prev W_hh^T           (one GEMM, active rows only)
 *             fused gate kernel -> h, c           (src/backend/cpu/cell_*.c)
 * Backward: for each step in the opposite order:
 *             fused gate gradient kernel -> grad_gates[t]
 *             grad h_prev = grad_gates[t] W_hh    (one GEMM)
 *           then the weight gradients and dx as large GEMMs over all steps.
 * The per-step products go through recur_gemm_packed (backend/cpu/gemm.h):
 * W_hh (and W_hr) packed once per call, on the handle's thread team, which
 * also takes slices of the large products (recur_gemm_split). */
#include "nn/rnn_layer.h"

#include <string.h>

#include "backend/cpu/cells.h"
#include "backend/cpu/gemm.h"
#include "core/status.h"

/* Copies rows of width n between strided matrices. */
static void copy_rows(int rows, int n, const float *src, int ld_src, float *dst, int ld_dst)
{
    for (int j = 0; j < rows; j++)
        memcpy(dst + (size_t)j * (size_t)ld_dst, src + (size_t)j * (size_t)ld_src,
               sizeof(float) * (size_t)n);
}

/* dst[j][k] += src[j][k] for columns k in [k0, k1) of rows strided matrices. */
static void add_rows(int rows, int k0, int k1, const float *src, int ld_src, float *dst,
                     int ld_dst)
{
    for (int j = 0; j < rows; j++) {
        const float *src_row = src + (size_t)j * (size_t)ld_src;
        float *dst_row = dst + (size_t)j * (size_t)ld_dst;
        for (int k = k0; k < k1; k++)
            dst_row[k] += src_row[k];
    }
}

/* Fills rows of width n with the same vector (zeros when vec is NULL). */
static void fill_rows(size_t rows, int n, const float *vec, float *dst)
{
    for (size_t j = 0; j < rows; j++) {
        float *row = dst + j * (size_t)n;
        if (vec)
            memcpy(row, vec, sizeof(float) * (size_t)n);
        else
            memset(row, 0, sizeof(float) * (size_t)n);
    }
}

/* The step processed at position s of the forward pass. */
static int forward_step(const recur_pack_plan *plan, int reverse, int s)
{
    return reverse ? plan->seq_len - 1 - s : s;
}

/* The step whose state a step starts from, or -1 for the initial state. */
static int previous_step(const recur_pack_plan *plan, int reverse, int t)
{
    int prev = reverse ? t + 1 : t - 1;
    return prev >= 0 && prev < plan->seq_len ? prev : -1;
}

/* Bias folded into the input projection: b_ih + b_hh for Elman and LSTM
 * (both sit outside any gate product), b_ih alone for GRU (b_hn is
 * multiplied by r, so b_hh is added per step). NULL without bias. */
static const float *input_bias(const rnn_dims *dims, const rnn_weights *w, float *scratch)
{
    int gh = dims->gates * dims->hidden;
    if (!w->bias_ih)
        return NULL;
    if (dims->cell == RECUR_GRU)
        return w->bias_ih;
    for (int k = 0; k < gh; k++)
        scratch[k] = w->bias_ih[k] + w->bias_hh[k];
    return scratch;
}

static recur_status reserve_forward(const rnn_dims *dims, const recur_pack_plan *plan,
                                    rnn_saved *saved, rnn_workspace *ws)
{
    size_t n = plan->rows, b = (size_t)plan->batch, h = (size_t)dims->hidden;
    size_t gh = (size_t)dims->gates * h, hout = (size_t)dims->out;
    RECUR_TRY(recur_buffer_reserve(&saved->gates, n * gh));
    if (dims->cell == RECUR_LSTM) {
        RECUR_TRY(recur_buffer_reserve(&saved->cell, n * h));
        if (dims->proj)
            RECUR_TRY(recur_buffer_reserve(&saved->proj_in, n * h));
    }
    if (dims->cell == RECUR_GRU) {
        RECUR_TRY(recur_buffer_reserve(&saved->hidden_n, n * h));
        RECUR_TRY(recur_buffer_reserve(&ws->step, b * gh));
    }
    RECUR_TRY(recur_buffer_reserve(&ws->h_state, b * hout));
    RECUR_TRY(recur_buffer_reserve(&ws->c_state, b * h));
    RECUR_TRY(recur_buffer_reserve(&ws->bias, gh));
    if (dims->rec_dropout)
        RECUR_TRY(recur_buffer_reserve(&ws->h_masked, b * hout));
    if (dims->zoneout) {
        RECUR_TRY(recur_buffer_reserve(&saved->h_tilde, n * hout));
        RECUR_TRY(recur_buffer_reserve(&ws->zone_prev, b * (hout + h)));
        if (dims->cell == RECUR_LSTM)
            RECUR_TRY(recur_buffer_reserve(&saved->cell_carry, n * h));
    }
    if (dims->layer_norm) {
        RECUR_TRY(recur_buffer_reserve(&saved->ln_ih, n * gh));
        RECUR_TRY(recur_buffer_reserve(&saved->ln_hh, n * gh));
        RECUR_TRY(recur_buffer_reserve(&saved->ln_rstd, 3 * n));
        if (dims->cell == RECUR_LSTM)
            RECUR_TRY(recur_buffer_reserve(&saved->ln_c, n * h));
    }
    return RECUR_OK;
}

/* acc[rows, G*H] += W_hh h_in (layer norm: LN_hh(W_hh h_in), the normalized
 * product kept in ln_t [rows, G*H] and the row scales in rstd_t). */
static void recurrent_product(const rnn_dims *dims, const rnn_weights *w,
                              recur_gemm_team *team, recur_packed_b *whh, int rows,
                              const float *h_in, float *acc, float *ln_t, float *rstd_t)
{
    const int GH = dims->gates * dims->hidden, Hout = dims->out;
    if (!dims->layer_norm) {
        recur_gemm_packed(team, whh, rows, h_in, Hout, 1.0f, acc, GH);
        return;
    }
    recur_gemm_packed(team, whh, rows, h_in, Hout, 0.0f, ln_t, GH);
    recur_layer_norm_forward(rows, GH, ln_t, rstd_t, w->ln_hh_w, w->ln_hh_b, acc, 1);
}

/* dst[rows, n] = src * mask, mask [rows, n]. */
static void mask_rows(int rows, int n, const float *src, const float *mask, float *dst)
{
    for (size_t i = 0; i < (size_t)rows * (size_t)n; i++)
        dst[i] = src[i] * mask[i];
}

/* Zoneout: state = keep * prev + (1 - keep) * tilde, all [rows, n]. */
static void zone_mix(int rows, int n, const float *keep, const float *prev, const float *tilde,
                     float *state)
{
    for (size_t i = 0; i < (size_t)rows * (size_t)n; i++)
        state[i] = keep[i] * prev[i] + (1.0f - keep[i]) * tilde[i];
}

/* Its gradient: kept = keep * grad (to the previous state), grad *= 1 - keep. */
static void zone_split(int rows, int n, const float *keep, float *grad, float *kept)
{
    for (size_t i = 0; i < (size_t)rows * (size_t)n; i++) {
        kept[i] = keep[i] * grad[i];
        grad[i] *= 1.0f - keep[i];
    }
}

/* One LSTM step's cell on the units whose gates a team task has computed
 * (recur_gemm_packed_each): the forward, and the backward after adding the
 * output's gradient to dh. Plain LSTM only (no projection, zoneout, layer
 * norm or recurrent dropout; then Hout = H). */
typedef struct lstm_units_job {
    int rows, H, ld;
    float *gates, *c_state, *c_saved, *m; /* forward (ld: of m) */
    const float *dy, *c, *c_prev;         /* backward (ld: of dy), gates read */
    float *dh, *dc, *grad_gates;
} lstm_units_job;

static void lstm_forward_units(void *job, int u0, int units)
{
    const lstm_units_job *j = job;
    recur_lstm_forward(j->rows, j->H, u0, units, j->gates, j->c_state, j->c_saved, j->m, j->ld);
}

static void lstm_backward_units(void *job, int u0, int units)
{
    const lstm_units_job *j = job;
    add_rows(j->rows, u0, u0 + units, j->dy, j->ld, j->dh, j->H);
    recur_lstm_backward(j->rows, j->H, u0, units, j->gates, j->c, j->c_prev, j->dh, j->dc,
                        j->grad_gates);
}

/* Points the backward job at step t's rows (dy, saved gates and cells,
 * c_prev [N, H], grad_gates [N, 4H]). */
static void lstm_backward_at(lstm_units_job *j, const recur_pack_plan *plan, int t,
                             const float *dy, const rnn_saved *saved, const float *c_prev,
                             float *grad_gates)
{
    const size_t row0 = plan->offsets[t], H = (size_t)j->H;
    j->rows = plan->batch_sizes[t];
    j->dy = dy + row0 * (size_t)j->ld;
    j->gates = saved->gates.data + row0 * 4 * H;
    j->c = saved->cell.data + row0 * H;
    j->c_prev = c_prev + row0 * H;
    j->grad_gates = grad_gates + row0 * 4 * H;
}

/* The backward time loop of a plain LSTM (no projection, zoneout, layer norm
 * or recurrent dropout): each step's product dh = grad_gates W_hh, unit range
 * by unit range on the team, fused with the earlier step's dh += dy and cell
 * backward (the same bits as the general loop of rnn_direction_backward);
 * the last product leaves the gradient of h0 in ws->h_state. */
static void lstm_backward_fused(const rnn_dims *dims, recur_gemm_team *team, recur_packed_b *whh,
                                const recur_pack_plan *plan, int reverse, const float *dy,
                                int ld_dy, const rnn_saved *saved, rnn_workspace *ws,
                                float *grad_gates)
{
    if (plan->seq_len < 1)
        return;
    const int H = dims->hidden, GH = 4 * dims->hidden, Hout = dims->out;
    float *dh = ws->h_state.data;
    lstm_units_job cell = {.H = H, .ld = ld_dy, .dh = dh, .dc = ws->c_state.data};
    lstm_backward_at(&cell, plan, forward_step(plan, reverse, plan->seq_len - 1), dy, saved,
                     ws->c_prev.data, grad_gates);
    lstm_backward_units(&cell, 0, H);
    for (int s = plan->seq_len - 1; s >= 0; s--) {
        const int t = forward_step(plan, reverse, s), rows = plan->batch_sizes[t];
        const float *grad_t = grad_gates + plan->offsets[t] * (size_t)GH;
        if (s == 0) { /* dh: the gradient of h0 */
            recur_gemm_packed(team, whh, rows, grad_t, GH, 0.0f, dh, Hout);
            break;
        }
        lstm_backward_at(&cell, plan, forward_step(plan, reverse, s - 1), dy, saved,
                         ws->c_prev.data, grad_gates);
        recur_gemm_packed_each(team, whh, rows, grad_t, GH, 0.0f, dh, Hout, lstm_backward_units,
                               &cell);
    }
}

/* A GRU step's cell on the units whose gates a team task has computed. */
typedef struct gru_units_job {
    int rows, H, ld_out;
    float *gx, *h_state, *hn_saved, *out;
    const float *gh;
} gru_units_job;

static void gru_forward_units(void *job, int u0, int units)
{
    const gru_units_job *j = job;
    recur_gru_forward(j->rows, j->H, u0, units, j->gx, j->gh, j->h_state, j->hn_saved, j->out,
                      j->ld_out);
}

/* The handle's team, made at the first call whose products are large enough
 * (threads are started once, not per call). */
static recur_gemm_team *layer_team(rnn_workspace *ws, int step_m, int step_n, int step_k,
                                   double split_macs)
{
    if (!ws->team)
        ws->team = recur_gemm_team_create(step_m, step_n, step_k, split_macs);
    return ws->team;
}

recur_status rnn_direction_forward(const rnn_dims *dims, const rnn_weights *w, int reverse,
                                   const recur_pack_plan *plan, const float *x, int in,
                                   float *y, int ld_y, rnn_saved *saved, rnn_workspace *ws)
{
    RECUR_TRY(reserve_forward(dims, plan, saved, ws));
    const int H = dims->hidden, Hout = dims->out, GH = dims->gates * dims->hidden;
    const int relu = dims->cell == RECUR_RNN_RELU;
    const size_t N = plan->rows, B = (size_t)plan->batch;
    float *gates = saved->gates.data;
    float *h_state = ws->h_state.data, *c_state = ws->c_state.data;
    float *rstd = saved->ln_rstd.data; /* [3N] with layer norm */

    /* Threads for the whole call. */
    recur_gemm_team *team = layer_team(ws, (int)B, GH, Hout, (double)N * GH * in);

    /* Input projection of every step at once; when the steps' products run
     * on this thread alone (small batches, batch 1 until the projection is
     * done), the team's other threads compute it ahead of the steps, in
     * their order, while they run. */
    const float *bias = input_bias(dims, w, ws->bias.data);
    fill_rows(plan->rows, GH, bias, gates);
    recur_gemm_ahead projection = {.team = NULL};
    if (dims->layer_norm) {
        recur_gemm_split(team, 0, 1, (int)N, GH, in, 1.0f, x, in, w->weight_ih, in, 0.0f,
                         saved->ln_ih.data, GH);
        recur_layer_norm_forward((int)N, GH, saved->ln_ih.data, rstd, w->ln_ih_w, w->ln_ih_b,
                                 gates, 1);
    } else if (N == 1) { /* one token: a matrix-vector product, on the team as the step's */
        recur_packed_b wih;
        recur_packed_b_init(&wih, 1, GH, in, w->weight_ih, in);
        recur_gemm_packed(team, &wih, 1, x, in, 1.0f, gates, GH);
        recur_packed_b_free(&wih);
    } else {
        const int ahead = B == 1 || !recur_gemm_team_takes(team, (int)B, GH, Hout);
        recur_gemm_ahead_start(&projection, team, ahead ? (reverse ? -1 : 1) : 0, 1, (int)N, GH,
                               in, 1.0f, x, in, w->weight_ih, in, 1.0f, gates, GH);
    }

    memcpy(h_state, saved->h0.data, sizeof(float) * B * (size_t)Hout);
    if (dims->cell == RECUR_LSTM)
        memcpy(c_state, saved->c0.data, sizeof(float) * B * (size_t)H);
    float *prev_h = dims->zoneout ? ws->zone_prev.data : NULL;
    float *prev_c = dims->zoneout ? ws->zone_prev.data + B * (size_t)Hout : NULL;

    /* W_hh (and W_hr) packed once for all steps; an LSTM's or GRU's in gate
     * order, the step's product fused with the cell (recur_gemm_packed_each). */
    const int fused = (dims->cell == RECUR_LSTM || dims->cell == RECUR_GRU) && !dims->layer_norm;
    recur_packed_b whh, whr;
    if (fused)
        recur_packed_b_init_gates(&whh, dims->gates, H, Hout, w->weight_hh, Hout);
    else
        recur_packed_b_init(&whh, 1, GH, Hout, w->weight_hh, Hout);
    if (dims->proj)
        recur_packed_b_init(&whr, 1, Hout, H, w->weight_hr, H);

    for (int s = 0; s < plan->seq_len; s++) {
        const int t = forward_step(plan, reverse, s);
        const int rows = plan->batch_sizes[t];
        const size_t row0 = plan->offsets[t];
        float *gates_t = gates + row0 * (size_t)GH;
        recur_gemm_ahead_wait(&projection, (int)row0, (int)row0 + rows);
        /* The team runs the steps' products (batch 1: matrix-vector products
         * split by units) once the projection no longer holds it. */
        if (projection.team && recur_gemm_ahead_complete(&projection))
            recur_gemm_ahead_finish(&projection);
        recur_gemm_team *const step_team = projection.team ? NULL : team;
        float *y_t = y + row0 * (size_t)ld_y;
        float *ln_hh_t = dims->layer_norm ? saved->ln_hh.data + row0 * (size_t)GH : NULL;
        float *rstd_hh_t = dims->layer_norm ? rstd + N + row0 : NULL;
        /* What W_hh multiplies: h, or h times the recurrent dropout mask. */
        const float *h_in = h_state;
        if (dims->rec_dropout) {
            mask_rows(rows, Hout, h_state, saved->rec_mask.data, ws->h_masked.data);
            h_in = ws->h_masked.data;
        }
        /* With zoneout the cell's new h goes to h_tilde, mixed in below. */
        float *out_t = y_t;
        int ld_out = ld_y;
        if (dims->zoneout) {
            memcpy(prev_h, h_state, sizeof(float) * (size_t)rows * (size_t)Hout);
            if (dims->cell == RECUR_LSTM)
                memcpy(prev_c, c_state, sizeof(float) * (size_t)rows * (size_t)H);
            out_t = saved->h_tilde.data + row0 * (size_t)Hout;
            ld_out = Hout;
        }
        float *c_t = NULL;
        switch (dims->cell) {
        case RECUR_RNN_TANH:
        case RECUR_RNN_RELU:
            recurrent_product(dims, w, step_team, &whh, rows, h_in, gates_t, ln_hh_t, rstd_hh_t);
            recur_elman_forward(rows, H, relu, gates_t, h_state, out_t, ld_out);
            break;
        case RECUR_LSTM: {
            c_t = saved->cell.data + row0 * (size_t)H;
            float *m_t = dims->proj ? saved->proj_in.data + row0 * (size_t)H : out_t;
            int ld_m = dims->proj ? H : ld_out;
            if (fused) {
                lstm_units_job cell = {.rows = rows, .H = H, .ld = ld_m, .gates = gates_t,
                                       .c_state = c_state, .c_saved = c_t, .m = m_t};
                recur_gemm_packed_each(step_team, &whh, rows, h_in, Hout, 1.0f, gates_t, GH,
                                       lstm_forward_units, &cell);
            } else { /* layer norm */
                recurrent_product(dims, w, step_team, &whh, rows, h_in, gates_t, ln_hh_t,
                                  rstd_hh_t);
                recur_lstm_ln_forward(rows, H, gates_t, c_state, c_t, w->ln_c_w, w->ln_c_b,
                                      saved->ln_c.data + row0 * (size_t)H, rstd + 2 * N + row0,
                                      m_t, ld_m);
            }
            if (dims->proj && dims->zoneout) {
                recur_gemm_packed(step_team, &whr, rows, m_t, H, 0.0f, out_t, Hout);
            } else if (dims->proj) {
                recur_gemm_packed(step_team, &whr, rows, m_t, H, 0.0f, h_state, Hout);
                copy_rows(rows, Hout, h_state, Hout, y_t, ld_y);
            } else if (!dims->zoneout) {
                copy_rows(rows, Hout, y_t, ld_y, h_state, Hout);
            }
            break;
        }
        case RECUR_GRU: {
            float *gh = ws->step.data;
            fill_rows((size_t)rows, GH, w->bias_hh, gh);
            gru_units_job cell = {rows,   H,  ld_out, gates_t, h_state,
                                  saved->hidden_n.data + row0 * (size_t)H, out_t, gh};
            if (fused) {
                recur_gemm_packed_each(step_team, &whh, rows, h_in, Hout, 1.0f, gh, GH,
                                       gru_forward_units, &cell);
            } else {
                recurrent_product(dims, w, step_team, &whh, rows, h_in, gh, ln_hh_t, rstd_hh_t);
                gru_forward_units(&cell, 0, H);
            }
            break;
        }
        }
        if (dims->zoneout) {
            zone_mix(rows, Hout, saved->zone_h.data + row0 * (size_t)Hout, prev_h, out_t,
                     h_state);
            copy_rows(rows, Hout, h_state, Hout, y_t, ld_y);
            if (c_t) {
                zone_mix(rows, H, saved->zone_c.data + row0 * (size_t)H, prev_c, c_t, c_state);
                memcpy(saved->cell_carry.data + row0 * (size_t)H, c_state,
                       sizeof(float) * (size_t)rows * (size_t)H);
            }
        }
    }
    recur_gemm_ahead_finish(&projection);
    recur_packed_b_free(&whh);
    if (dims->proj)
        recur_packed_b_free(&whr);
    return RECUR_OK;
}

/* prev[N, n]: for every packed row, the state its step started from: the
 * previous step's row of `states` [N, ld_states] while that sequence was
 * active there, else the initial state init [B, n]. */
static void gather_previous(const recur_pack_plan *plan, int reverse, const float *states,
                            int ld_states, const float *init, int n, float *prev)
{
    for (int t = 0; t < plan->seq_len; t++) {
        const int rows = plan->batch_sizes[t];
        const int tp = previous_step(plan, reverse, t);
        const int from_states =
            tp < 0 ? 0 : (plan->batch_sizes[tp] < rows ? plan->batch_sizes[tp] : rows);
        float *dst = prev + plan->offsets[t] * (size_t)n;
        if (from_states)
            copy_rows(from_states, n, states + plan->offsets[tp] * (size_t)ld_states, ld_states,
                      dst, n);
        copy_rows(rows - from_states, n, init + (size_t)from_states * (size_t)n, n,
                  dst + (size_t)from_states * (size_t)n, n);
    }
}

static recur_status reserve_backward(const rnn_dims *dims, const recur_pack_plan *plan,
                                     rnn_workspace *ws)
{
    size_t n = plan->rows, b = (size_t)plan->batch, h = (size_t)dims->hidden;
    size_t gh = (size_t)dims->gates * h, hout = (size_t)dims->out;
    RECUR_TRY(recur_buffer_reserve(&ws->grad_gates, n * gh));
    RECUR_TRY(recur_buffer_reserve(&ws->h_prev, n * hout));
    if (ws->ones.capacity < n) {
        RECUR_TRY(recur_buffer_reserve(&ws->ones, n));
        for (size_t j = 0; j < n; j++)
            ws->ones.data[j] = 1.0f;
    }
    if (dims->cell == RECUR_GRU)
        RECUR_TRY(recur_buffer_reserve(&ws->grad_gh, n * gh));
    if (dims->cell == RECUR_LSTM) {
        RECUR_TRY(recur_buffer_reserve(&ws->c_prev, n * h));
        RECUR_TRY(recur_buffer_reserve(&ws->step, b * h));
        if (dims->proj)
            RECUR_TRY(recur_buffer_reserve(&ws->grad_h, n * (size_t)dims->proj));
    }
    if (dims->rec_dropout) {
        RECUR_TRY(recur_buffer_reserve(&ws->h_masked, n * hout));
        RECUR_TRY(recur_buffer_reserve(&ws->rec_tmp, b * hout));
    }
    if (dims->zoneout)
        RECUR_TRY(recur_buffer_reserve(&ws->zone_prev, b * (hout + h)));
    if (dims->layer_norm) {
        RECUR_TRY(recur_buffer_reserve(&ws->grad_raw, n * gh + h));
        RECUR_TRY(recur_buffer_reserve(&ws->grad_xraw, n * gh));
    }
    return RECUR_OK;
}

recur_status rnn_direction_backward(const rnn_dims *dims, const rnn_weights *w,
                                    const rnn_grads *g, int reverse,
                                    const recur_pack_plan *plan, const float *x, int in,
                                    const float *y, int ld_y, const float *dy, int ld_dy,
                                    float *dx, float dx_beta, const rnn_saved *saved,
                                    rnn_workspace *ws)
{
    RECUR_TRY(reserve_backward(dims, plan, ws));
    const int H = dims->hidden, Hout = dims->out, GH = dims->gates * dims->hidden;
    const int N = (int)plan->rows;
    const size_t B = (size_t)plan->batch;
    const int relu = dims->cell == RECUR_RNN_RELU;
    float *dh = ws->h_state.data, *dc = ws->c_state.data;
    float *grad_gates = ws->grad_gates.data;
    /* The recurrent pre-activation gradients equal grad_gates except for GRU. */
    float *grad_gh = dims->cell == RECUR_GRU ? ws->grad_gh.data : grad_gates;
    /* What the W_hh GEMMs use: grad_gh, or with layer norm its LN backward. */
    float *grad_raw = dims->layer_norm ? ws->grad_raw.data : grad_gh;
    float *h_prev = ws->h_prev.data;
    const float *rstd = saved->ln_rstd.data;

    gather_previous(plan, reverse, y, ld_y, saved->h0.data, Hout, h_prev);
    if (dims->cell == RECUR_LSTM)
        gather_previous(plan, reverse, dims->zoneout ? saved->cell_carry.data : saved->cell.data,
                        H, saved->c0.data, H, ws->c_prev.data);
    /* W_hh saw h_prev times the recurrent dropout mask. */
    const float *h_prev_w = h_prev;
    if (dims->rec_dropout) {
        for (int t = 0; t < plan->seq_len; t++)
            mask_rows(plan->batch_sizes[t], Hout, h_prev + plan->offsets[t] * (size_t)Hout,
                      saved->rec_mask.data, ws->h_masked.data + plan->offsets[t] * (size_t)Hout);
        h_prev_w = ws->h_masked.data;
    }
    float *kept_h = dims->zoneout ? ws->zone_prev.data : NULL;
    float *kept_c = dims->zoneout ? ws->zone_prev.data + B * (size_t)Hout : NULL;

    /* W_hh (and W_hr) packed once for all steps; threads for the whole call. */
    recur_gemm_team *team =
        layer_team(ws, (int)B, GH, Hout, (double)N * GH * (in > Hout ? in : Hout));
    recur_packed_b whh, whr;
    recur_packed_b_init(&whh, 0, Hout, GH, w->weight_hh, Hout);
    if (dims->proj)
        recur_packed_b_init(&whr, 0, H, Hout, w->weight_hr, H);

    /* A plain LSTM: each step's product fused with the earlier step's cell. */
    const int fused_lstm = dims->cell == RECUR_LSTM && !dims->proj && !dims->zoneout &&
                           !dims->layer_norm && !dims->rec_dropout;
    if (fused_lstm)
        lstm_backward_fused(dims, team, &whh, plan, reverse, dy, ld_dy, saved, ws, grad_gates);
    else
        for (int s = plan->seq_len - 1; s >= 0; s--) {
            const int t = forward_step(plan, reverse, s);
            const int rows = plan->batch_sizes[t];
            const size_t row0 = plan->offsets[t];
            float *grad_gates_t = grad_gates + row0 * (size_t)GH;
            add_rows(rows, 0, Hout, dy + row0 * (size_t)ld_dy, ld_dy, dh, Hout);
            if (dims->zoneout) {
                zone_split(rows, Hout, saved->zone_h.data + row0 * (size_t)Hout, dh, kept_h);
                if (dims->cell == RECUR_LSTM)
                    zone_split(rows, H, saved->zone_c.data + row0 * (size_t)H, dc, kept_c);
            }

            switch (dims->cell) {
            case RECUR_RNN_TANH:
            case RECUR_RNN_RELU:
                if (dims->zoneout)
                    recur_elman_backward(rows, H, relu, saved->h_tilde.data + row0 * (size_t)Hout,
                                         Hout, dh, grad_gates_t);
                else
                    recur_elman_backward(rows, H, relu, y + row0 * (size_t)ld_y, ld_y, dh,
                                         grad_gates_t);
                break;
            case RECUR_LSTM: {
                const float *dm = dh;
                if (dims->proj) {
                    copy_rows(rows, Hout, dh, Hout, ws->grad_h.data + row0 * (size_t)Hout, Hout);
                    recur_gemm_packed(team, &whr, rows, dh, Hout, 0.0f, ws->step.data, H);
                    dm = ws->step.data;
                }
                if (dims->layer_norm)
                    recur_lstm_ln_backward(rows, H, saved->gates.data + row0 * (size_t)GH,
                                           saved->ln_c.data + row0 * (size_t)H,
                                           rstd + 2 * (size_t)N + row0, w->ln_c_w, w->ln_c_b,
                                           ws->c_prev.data + row0 * (size_t)H, dm, dc, grad_gates_t,
                                           ws->grad_raw.data + (size_t)N * (size_t)GH, g->ln_c_w,
                                           g->ln_c_b);
                else
                    recur_lstm_backward(rows, H, 0, H, saved->gates.data + row0 * (size_t)GH,
                                        saved->cell.data + row0 * (size_t)H,
                                        ws->c_prev.data + row0 * (size_t)H, dm, dc, grad_gates_t);
                if (dims->zoneout)
                    for (size_t i = 0; i < (size_t)rows * (size_t)H; i++)
                        dc[i] += kept_c[i];
                break;
            }
            case RECUR_GRU:
                recur_gru_backward(rows, H, saved->gates.data + row0 * (size_t)GH,
                                   saved->hidden_n.data + row0 * (size_t)H,
                                   h_prev + row0 * (size_t)Hout, dh, grad_gates_t,
                                   grad_gh + row0 * (size_t)GH);
                break;
            }

            /* Gradient of h_prev through W_hh (GRU adds it to the direct z * dh). */
            float *grad_raw_t = grad_raw + row0 * (size_t)GH;
            if (dims->layer_norm)
                recur_layer_norm_backward(rows, GH, grad_gh + row0 * (size_t)GH,
                                          saved->ln_hh.data + row0 * (size_t)GH,
                                          rstd + (size_t)N + row0, w->ln_hh_w, grad_raw_t,
                                          g->ln_hh_w, g->ln_hh_b);
            const float beta = dims->cell == RECUR_GRU ? 1.0f : 0.0f;
            if (dims->rec_dropout) {
                float *tmp = ws->rec_tmp.data;
                recur_gemm_packed(team, &whh, rows, grad_raw_t, GH, 0.0f, tmp, Hout);
                const float *mask = saved->rec_mask.data;
                for (size_t i = 0; i < (size_t)rows * (size_t)Hout; i++)
                    dh[i] = beta * dh[i] + tmp[i] * mask[i];
            } else {
                recur_gemm_packed(team, &whh, rows, grad_raw_t, GH, beta, dh, Hout);
            }
            if (dims->zoneout)
                for (size_t i = 0; i < (size_t)rows * (size_t)Hout; i++)
                    dh[i] += kept_h[i];
        }
    recur_packed_b_free(&whh);
    if (dims->proj)
        recur_packed_b_free(&whr);

    /* Parameter gradients and the input gradient: large GEMMs over all rows. */
    const float *grad_in = grad_gates;
    if (dims->layer_norm) {
        recur_layer_norm_backward(N, GH, grad_gates, saved->ln_ih.data, rstd, w->ln_ih_w,
                                  ws->grad_xraw.data, g->ln_ih_w, g->ln_ih_b);
        grad_in = ws->grad_xraw.data;
    }
    recur_gemm_split(team, 1, 0, GH, in, N, 1.0f, grad_in, GH, x, in, 1.0f, g->weight_ih, in);
    recur_gemm_split(team, 1, 0, GH, Hout, N, 1.0f, grad_raw, GH, h_prev_w, Hout, 1.0f,
                     g->weight_hh, Hout);
    if (g->bias_ih) {
        recur_add_column_sums(N, GH, grad_gates, GH, ws->ones.data, g->bias_ih);
        recur_add_column_sums(N, GH, grad_gh, GH, ws->ones.data, g->bias_hh);
    }
    if (dims->proj)
        recur_gemm_split(team, 1, 0, Hout, H, N, 1.0f, ws->grad_h.data, Hout,
                         saved->proj_in.data, H, 1.0f, g->weight_hr, H);
    if (dx)
        recur_gemm_split(team, 0, 0, N, in, GH, 1.0f, grad_in, GH, w->weight_ih, in, dx_beta, dx,
                         in);
    return RECUR_OK;
}
