/* The forward of a small LSTM or GRU layer (H <= 128 or so) at batch <= 4 on
 * one thread block, W_hh on chip: no exchange between blocks and no cluster
 * barrier a step, only two block barriers (see kernels.h, rk_block_plan);
 * block_forward is described here, the variants of split rows
 * (lanes_forward, one block barrier a step) further down.
 *
 * Layout. Gate row r (of R = G*H) is cut into S = ceil(H / C) segments of C
 * columns; thread t < R*S takes row r = t % R, segment q = t / R: columns
 * q*C .. q*C + C - 1 (zero past H), its first KW weights in registers, the
 * other KS in shared memory (wsm [KS/4][threads] float4: a warp's threads
 * read 512 consecutive bytes). The block keeps h [4][HP] (HP = S*C floats a
 * row, zero past H) and the partial sums part [S][4][R] in shared memory.
 *
 * One step: every thread forms its segment's products with the active rows
 * of h (float4 loads that a warp's threads share) and stores them in part;
 * block barrier; thread t < B*H, which carries batch row b = t / H of unit
 * u = t % H (its c in a register), adds the S parts of its G gate rows,
 * applies the cell, writes the new h into the block's h (a finished row
 * keeps its h) and what the backward reads; block barrier. One buffer of h
 * suffices: the products read it before the first barrier, the cells write
 * it after. The input pre-activations load while the products run, the next
 * step's row counts while the cells do.
 *
 * With one segment a row (S = 1, "whole rows"), the thread of gate row r
 * holds that row's whole pre-activation, so it applies the gate's
 * activation itself (a GRU's r and z; of n it keeps W_hn h + b_hn) and
 * stores it, in part and for the backward, before the barrier: the G*H
 * threads share the activations that the B*H cell threads would otherwise
 * compute one after another (the cell phase was about 40 % of a step at
 * lstm H128 B1, run 14). The arithmetic and what is stored are those of
 * persistent_forward. */
#include <stdlib.h>

#include <type_traits>

#include "backend/cuda/cell_math.cuh"
#include "backend/cuda/kernels.h"
#if !defined(RECUR_CLUSTER_EMULATION) || defined(RECUR_CUDA_EMULATION)
#include "backend/cuda/launch.cuh"
#define RECUR_BLOCK_LAUNCH 1 /* the launch code below */
#endif

namespace {

const int kBlockRows = RK_BLOCK_ROWS; /* batch rows at most */
const int kWholeRowColumns = 128; /* the columns of the variant of whole rows */

/* Floats of shared memory: wsm [KS/4][threads] float4, h [kBlockRows][HP],
 * part [S][kBlockRows][R]. */
__host__ __device__ constexpr size_t block_smem_floats(int ks, int threads, int hp, int s, int r)
{
    return (size_t)ks * threads + (size_t)kBlockRows * hp + (size_t)s * kBlockRows * r;
}

/* This thread's weights k .. k + 3 (k a multiple of 4): from w below KW,
 * else from shared memory (wsm: its first float4 there, `threads` float4s
 * apart). */
template <int KW>
__device__ __forceinline__ float4 weights4(const float *w, const float4 *wsm, int threads, int k)
{
    return k < KW ? make_float4(w[k], w[k + 1], w[k + 2], w[k + 3])
                  : wsm[(size_t)((k - KW) / 4) * threads];
}

/* acc + w . h over the four lanes of the float4s, in order. */
__device__ __forceinline__ float dot4(float4 w, float4 h, float acc)
{
    acc = fmaf(w.x, h.x, acc);
    acc = fmaf(w.y, h.y, acc);
    acc = fmaf(w.z, h.z, acc);
    return fmaf(w.w, h.w, acc);
}

/* sum[j] (j < JB) = this thread's weights (w, then wsm: its first float4 in
 * shared memory, `threads` float4s apart) . its segment of h row j (h4: the
 * segment's first float4 of row 0, hp4 float4s a row). */
template <int JB, int KW, int KS>
__device__ __forceinline__ void segment_products(const float (&w)[KW], const float4 *wsm,
                                                 int threads, const float4 *h4, int hp4,
                                                 float (&sum)[kBlockRows])
{
#pragma unroll
    for (int j = 0; j < kBlockRows; j++)
        sum[j] = 0.0f;
#pragma unroll
    for (int q = 0; q < (KW + KS) / 4; q++) {
        const float4 wv = weights4<KW>(w, wsm, threads, 4 * q);
#pragma unroll
        for (int j = 0; j < JB; j++)
            sum[j] = dot4(wv, h4[j * hp4 + q], sum[j]);
    }
}

template <int CELL, int C, int KW, int THREADS>
__global__ void __launch_bounds__(THREADS, 1) block_forward(rk_persistent a)
{
    constexpr int KS = C - KW;
    const int H = a.H, G = a.G, T = a.T, B = a.B;
    const int R = G * H, S = (H + C - 1) / C, HP = S * C, HP4 = HP / 4;
    const int threads = (int)blockDim.x, tid = (int)threadIdx.x;
    float4 *wsm_all = dynamic_shared_memory();                  /* [KS/4][threads] */
    float *h = (float *)(wsm_all + (size_t)(KS / 4) * threads); /* [kBlockRows][HP] */
    float *part = h + (size_t)kBlockRows * HP;                  /* [S][kBlockRows][R] */

    /* This thread's gate row and segment, and its weights. */
    const bool row_ok = tid < R * S;
    const int r = tid % R, q = tid / R, col0 = q * C;
    auto weight = [&](int k) {
        return row_ok && col0 + k < H ? a.weight_hh[(size_t)r * H + col0 + k] : 0.0f;
    };
    float w[KW];
#pragma unroll
    for (int k = 0; k < KW; k++)
        w[k] = weight(k);
    for (int k = KW; k < C; k += 4)
        wsm_all[(size_t)((k - KW) / 4) * threads + tid] =
            make_float4(weight(k), weight(k + 1), weight(k + 2), weight(k + 3));
    const float4 *wsm = wsm_all + tid;
    for (int i = tid; i < kBlockRows * HP; i += threads) {
        const int j = i / HP, col = i % HP;
        h[i] = j < B && col < H && a.h0 ? a.h0[(size_t)j * H + col] : 0.0f;
    }

    /* The cell this thread carries: batch row b of unit u. */
    const bool cell_ok = tid < B * H;
    const int b = cell_ok ? tid / H : 0, u = tid % H;
    const size_t state_at = (size_t)b * H + u;
    float c_reg = cell_ok && CELL == kCellLstm && a.c0 ? a.c0[state_at] : 0.0f;
    auto step_time = [&](int s) { return a.reverse ? T - 1 - s : s; };
    /* Its input pre-activations of the step with (rows, row0), without biases. */
    auto load_pre = [&](float(&pre)[4], int rows, int row0) {
#pragma unroll
        for (int g = 0; g < 4; g++)
            pre[g] = cell_ok && b < rows && g < G
                         ? a.gates[((size_t)row0 + b) * (size_t)R + (size_t)g * H + u]
                         : 0.0f;
    };
    auto in_pre = [&](const float(&pre)[4], int g) {
        return plus_input_bias(pre[g], a.bias_ih, a.bias_hh, CELL, g, H, u);
    };
    /* Whole rows (S = 1; compiled into the variant of whole rows only, whose
     * registers have room for it: the others spilled more and lost up to 30 %
     * on an H100, run 14): this thread's gate g_row and its row's bias (b_ih +
     * b_hh; a GRU's b_ih, and its b_hh apart). */
    const bool whole_rows = C >= kWholeRowColumns && S == 1;
    const int g_row = r / H;
    const bool has_bias = a.bias_ih != NULL;
    const float bias_row = has_bias ? input_bias(a.bias_ih, a.bias_hh, CELL, r) : 0.0f;
    const float bias_hh_row = CELL == kCellGru && a.bias_hh ? a.bias_hh[r] : 0.0f;
    const bool gru_n_row = CELL == kCellGru && g_row == 2;

    /* Whole rows: this thread's products with the step's first JB rows of h
     * (rows of them active), its gate's activations (or a GRU's W_hn h +
     * b_hn) into part and gates; the input pre-activations load as the
     * products run. */
    int rows = 0, row0 = 0; /* the step's active rows and its first packed row */
    auto whole_gate_rows = [&](auto rows_tag) {
        constexpr int JB = decltype(rows_tag)::value;
        float pre_row[JB], sum[kBlockRows];
#pragma unroll
        for (int j = 0; j < JB; j++)
            pre_row[j] = j < rows && !gru_n_row
                             ? a.gates[((size_t)row0 + j) * (size_t)R + r]
                             : 0.0f;
        segment_products<JB, KW, KS>(w, wsm, threads, (const float4 *)h, HP4, sum);
#pragma unroll
        for (int j = 0; j < JB; j++) {
            if (j >= rows)
                continue;
            const float rec = 0.0f + sum[j];
            const float in = has_bias ? pre_row[j] + bias_row : pre_row[j];
            float v;
            if (CELL == kCellLstm)
                v = g_row == 2 ? tanhf(in + rec) : sigmoid(in + rec);
            else if (gru_n_row)
                v = rec + bias_hh_row;
            else
                v = sigmoid(in + (rec + bias_hh_row));
            if (!gru_n_row)
                a.gates[((size_t)row0 + j) * (size_t)R + r] = v;
            part[(size_t)j * R + r] = v;
        }
    };
    if (T > 0)
        rows = a.batch_sizes[step_time(0)], row0 = a.offsets[step_time(0)];
    __syncthreads(); /* h and wsm written */

    for (int s = 0; s < T; s++) {
        /* The step's pre-activations for the cells (whole rows: a GRU's n
         * only): loaded as the products run. */
        float pre[4];
        if (whole_rows) {
#pragma unroll
            for (int g = 0; g < 4; g++)
                pre[g] = CELL == kCellGru && g == 2 && cell_ok && b < rows
                             ? a.gates[((size_t)row0 + b) * (size_t)R + 2 * (size_t)H + u]
                             : 0.0f;
        } else {
            load_pre(pre, rows, row0);
        }
        if (row_ok && whole_rows) {
            if (rows == 1)
                whole_gate_rows(std::integral_constant<int, 1>());
            else if (rows == 2)
                whole_gate_rows(std::integral_constant<int, 2>());
            else
                whole_gate_rows(std::integral_constant<int, kBlockRows>());
        } else if (row_ok) {
            float sum[kBlockRows];
            const float4 *h4 = (const float4 *)h + col0 / 4;
            if (rows == 1)
                segment_products<1, KW, KS>(w, wsm, threads, h4, HP4, sum);
            else if (rows == 2)
                segment_products<2, KW, KS>(w, wsm, threads, h4, HP4, sum);
            else
                segment_products<kBlockRows, KW, KS>(w, wsm, threads, h4, HP4, sum);
#pragma unroll
            for (int j = 0; j < kBlockRows; j++)
                if (j < rows)
                    part[((size_t)q * kBlockRows + j) * R + r] = sum[j];
        }
        /* The next step's rows, loaded as the cells run. */
        int rows_next = 0, row0_next = 0;
        if (s + 1 < T)
            rows_next = a.batch_sizes[step_time(s + 1)], row0_next = a.offsets[step_time(s + 1)];
        __syncthreads(); /* part complete; h read */

        if (cell_ok && b < rows) {
            float rec[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int p = 0; p < S; p++)
#pragma unroll
                for (int g = 0; g < 4; g++)
                    if (g < G)
                        rec[g] += part[((size_t)p * kBlockRows + b) * R + (size_t)g * H + u];
            float act[4] = {0.0f, 0.0f, 0.0f, 0.0f}, saved, hv;
            if (CELL == kCellLstm) {
                if (whole_rows) { /* rec holds the activations */
#pragma unroll
                    for (int g = 0; g < 4; g++)
                        act[g] = rec[g];
                } else {
                    act[0] = sigmoid(in_pre(pre, 0) + rec[0]);
                    act[1] = sigmoid(in_pre(pre, 1) + rec[1]);
                    act[2] = tanhf(in_pre(pre, 2) + rec[2]);
                    act[3] = sigmoid(in_pre(pre, 3) + rec[3]);
                }
                saved = c_reg = act[1] * c_reg + act[0] * act[2]; /* c */
                hv = act[3] * tanhf(c_reg);
            } else { /* kCellGru */
                if (whole_rows) { /* rec holds r, z and W_hn h + b_hn */
                    act[0] = rec[0], act[1] = rec[1], saved = rec[2];
                } else {
                    const float *bh = a.bias_hh;
                    const float hr = rec[0] + (bh ? bh[u] : 0.0f);
                    const float hz = rec[1] + (bh ? bh[H + u] : 0.0f);
                    saved = rec[2] + (bh ? bh[2 * H + u] : 0.0f); /* hn */
                    act[0] = sigmoid(in_pre(pre, 0) + hr);
                    act[1] = sigmoid(in_pre(pre, 1) + hz);
                }
                act[2] = tanhf(in_pre(pre, 2) + act[0] * saved);
                hv = (1.0f - act[1]) * act[2] + act[1] * h[(size_t)b * HP + u];
            }
            h[(size_t)b * HP + u] = hv; /* finished rows keep theirs */
            const size_t row = (size_t)row0 + b;
            float *gr = a.gates + row * (size_t)R + u;
#pragma unroll
            for (int g = 0; g < 4; g++) /* (whole rows: the gate rows' threads stored theirs) */
                if (g < G && !(whole_rows && (CELL == kCellLstm || g < 2)))
                    gr[(size_t)g * H] = act[g];
            (CELL == kCellLstm ? a.c_saved : a.hidden_n)[row * H + u] = saved;
            a.y[row * a.ld_y + u] = hv;
        }
        __syncthreads(); /* the new h in place */

        rows = rows_next, row0 = row0_next;
    }

    /* h_n where the grid version leaves it: h_a when T is even, else h_b. */
    if (cell_ok) {
        (T % 2 ? a.h_b : a.h_a)[state_at] = h[(size_t)b * HP + u];
        if (CELL == kCellLstm)
            a.c_state[state_at] = c_reg;
    }
}

/* The variant of split rows ("lanes": RECUR_CUDA_BLOCK_LANES=1 or 2, H <=
 * 128), for the case the whole-row variant serves: OUT rows' worth of
 * weights a thread (KW in registers), cut the other way, so that a load of
 * h feeds 8 OUT rows, not one, and a step reads far fewer h wavefronts from
 * shared memory (64 against 512 at lstm H128 with OUT = 1, plus 7 shuffles
 * a warp), with 8 OUT independent chains of products in place of one of
 * 128; and the cell of a unit in the warp that holds its gate rows, so that
 * a step has one block barrier, not two. OUT = 2 halves the threads (256
 * at lstm H128) so that each may keep more of W_hh in registers (255
 * registers a thread against 128), for fewer weights read from shared
 * memory a step.
 *
 * Layout. The gate rows are taken in slot order, z = 4 u + g for gate g of
 * unit u (a GRU's fourth slot idle); thread t ends a step with rows
 * t OUT .. t OUT + OUT - 1, so that a unit's gate rows sit in 4 / OUT
 * consecutive lanes. The 8 lanes first = t & ~7 .. first + 7 share the 8 OUT
 * rows that they end with; lane seg = t % 8 of them holds its 16 columns of
 * each, 32 q + 4 seg + e (q, e < 4), h zero-padded to 128 columns: weight
 * k = slot(i) * 16 + 4 q + e of row i (a GRU's idle rows have no slot), the
 * first KW in registers, the others in shared memory (wsm [KS/4][threads]
 * float4). A float4 load of h by a warp reads 8 consecutive float4s (one
 * wavefront); the 8 OUT partial sums of a lane then meet in a butterfly
 * over the 8 lanes (4 + 2 + 1 shuffles of OUT sums) that leaves each lane
 * its own rows.
 *
 * One step, for each active batch row j: the products, the gates'
 * activations in their rows' lanes (a GRU's n: W_hn h + b_hn) and, by four
 * shuffles, the unit's gates in the lane that carries batch row j of the
 * unit: lane p of a unit's 4 / OUT carries rows p, p + 4 / OUT, .. (its c
 * in registers) and applies their cells. h is double-buffered ([2]
 * [kBlockRows][128] floats: the cells write the buffer the step does not
 * read, a finished row's h carried over), so one block barrier ends the
 * step. The arithmetic (but the order of the sums) and what is stored are
 * those of block_forward. */
const int kUnitSlots = 4;      /* a unit's gate rows in slot order (a GRU's fourth idle) */
const int kShareLanes = 8;     /* the lanes that share their rows */
const int kLanesColumns = RK_LANES_COLUMNS; /* h's columns, zero past H */
const int kLanesQuads = kLanesColumns / (4 * kShareLanes); /* float4s of a row a lane */

/* Row i's place among a lane's weights (a GRU's idle rows, i % 4 == 3, have
 * none), and the weights a lane holds. */
template <int CELL> __host__ __device__ constexpr int lane_slot(int i)
{
    return CELL == kCellGru ? i - i / kUnitSlots : i;
}
template <int CELL, int OUT> __host__ __device__ constexpr int lane_weights()
{
    return lane_slot<CELL>(kShareLanes * OUT) * 4 * kLanesQuads;
}
template <int CELL> __host__ __device__ constexpr bool idle_slot(int i)
{
    return CELL == kCellGru && i % kUnitSlots == kUnitSlots - 1;
}

/* out[o] = this lane's row t OUT + o . h row h4 ([kLanesColumns / 4]
 * float4): the 16 columns' products of the 8 OUT rows, then the butterfly
 * over the 8 lanes. */
template <int CELL, int OUT, int KW, int KS>
__device__ __forceinline__ void lanes_row_products(const float (&w)[KW], const float4 *wsm,
                                                   int threads, const float4 *h4, int seg,
                                                   float (&out)[OUT])
{
    float sum[kShareLanes * OUT];
#pragma unroll
    for (int i = 0; i < kShareLanes * OUT; i++)
        sum[i] = 0.0f;
#pragma unroll
    for (int q = 0; q < kLanesQuads; q++) {
        const float4 hv = h4[q * kShareLanes + seg];
#pragma unroll
        for (int i = 0; i < kShareLanes * OUT; i++) {
            if (idle_slot<CELL>(i))
                continue;
            const int k = lane_slot<CELL>(i) * 4 * kLanesQuads + 4 * q;
            sum[i] = dot4(weights4<KW>(w, wsm, threads, k), hv, sum[i]);
        }
    }
    /* Each round halves the rows a lane sums: it keeps the half of its
     * lane bit and adds the partner's sums of them. */
#pragma unroll
    for (int round = 0; round < 3; round++) { /* 2^3 = kShareLanes */
        const int half = kShareLanes / 2 >> round;
        const bool upper = (seg & half) != 0;
#pragma unroll
        for (int i = 0; i < kShareLanes / 2 * OUT; i++) { /* (constant bounds: unrolled) */
            if (i >= half * OUT)
                break;
            const float lo = sum[i], hi = sum[i + half * OUT];
            sum[i] = (upper ? hi : lo) + __shfl_xor_sync(0xffffffffu, upper ? lo : hi, half);
        }
    }
#pragma unroll
    for (int o = 0; o < OUT; o++)
        out[o] = sum[o];
}

template <int CELL, int OUT, int KW, int THREADS>
__global__ void __launch_bounds__(THREADS, 1) lanes_forward(rk_persistent a)
{
    constexpr int KS = lane_weights<CELL, OUT>() - KW;
    constexpr int UNIT_LANES = kUnitSlots / OUT; /* a unit's lanes */
    static_assert(KW > 0 && KW % 4 == 0 && KS >= 0, "whole float4s in registers");
    const int H = a.H, G = a.G, T = a.T, B = a.B, R = G * H;
    const int threads = (int)blockDim.x, tid = (int)threadIdx.x;
    const int lane = tid % 32, seg = tid % kShareLanes, first = tid - seg;
    float4 *wsm_all = dynamic_shared_memory();                  /* [KS/4][threads] */
    float *h = (float *)(wsm_all + (size_t)(KS / 4) * threads); /* [2][kBlockRows][128] */
    const int hb = kBlockRows * kLanesColumns;                  /* floats a buffer */

    /* The weights of the 8 OUT rows, this lane's columns. */
    auto weight = [&](int i, int col) {
        const int z = first * OUT + i, u = z / kUnitSlots, g = z % kUnitSlots;
        return u < H && g < G && col < H ? a.weight_hh[((size_t)g * H + u) * H + col] : 0.0f;
    };
    float w[KW];
#pragma unroll
    for (int i = 0; i < kShareLanes * OUT; i++) {
        if (idle_slot<CELL>(i))
            continue;
#pragma unroll
        for (int q = 0; q < kLanesQuads; q++) {
            const int k = lane_slot<CELL>(i) * 4 * kLanesQuads + 4 * q;
            const int col = 4 * (q * kShareLanes + seg);
            const float4 v = make_float4(weight(i, col), weight(i, col + 1), weight(i, col + 2),
                                         weight(i, col + 3));
            if (k < KW)
                w[k] = v.x, w[k + 1] = v.y, w[k + 2] = v.z, w[k + 3] = v.w;
            else
                wsm_all[(size_t)((k - KW) / 4) * threads + tid] = v;
        }
    }
    const float4 *wsm = wsm_all + tid;
    for (int i = tid; i < 2 * hb; i += threads) {
        const int j = i / kLanesColumns % kBlockRows, col = i % kLanesColumns;
        h[i] = i < hb && j < B && col < H && a.h0 ? a.h0[(size_t)j * H + col] : 0.0f;
    }

    /* This lane's unit u, the gates g0 .. g0 + OUT - 1 of its rows, and the
     * batch rows it carries: p, p + UNIT_LANES, .. (their c in c_reg). */
    const int u = tid * OUT / kUnitSlots, g0 = tid * OUT % kUnitSlots, p = tid % UNIT_LANES;
    const bool unit_ok = u < H;
    const bool has_bias = a.bias_ih != NULL;
    float bias_row[OUT], bias_hh_row[OUT], c_reg[OUT];
#pragma unroll
    for (int o = 0; o < OUT; o++) {
        const int g = g0 + o, r = g * H + u;
        const bool row_ok = unit_ok && g < G;
        bias_row[o] = row_ok && has_bias ? input_bias(a.bias_ih, a.bias_hh, CELL, r) : 0.0f;
        bias_hh_row[o] = CELL == kCellGru && row_ok && a.bias_hh ? a.bias_hh[r] : 0.0f;
        const int b = p + o * UNIT_LANES;
        c_reg[o] = CELL == kCellLstm && unit_ok && b < B && a.c0 ? a.c0[(size_t)b * H + u] : 0.0f;
    }
    auto step_time = [&](int s) { return a.reverse ? T - 1 - s : s; };
    int rows = 0, row0 = 0; /* the step's active rows and its first packed row */
    if (T > 0)
        rows = a.batch_sizes[step_time(0)], row0 = a.offsets[step_time(0)];
    __syncthreads(); /* h and wsm written */

    for (int s = 0; s < T; s++) {
        const float *h_in = h + (size_t)(s % 2) * hb;
        float *h_out = h + (size_t)(1 - s % 2) * hb;
        /* The input pre-activations (without biases) of a GRU's n for this
         * lane's cells, and below of its rows at batch row j: they load as
         * the products run. (Which rows a lane reads, and stores the
         * activations of, is written out at both places: kept in a bool
         * array before the steps, GCC 12 at -O2 with both ASan and UBSan
         * compiled the emulated OUT = 2 LSTM wrong, c_reg[1] reading what
         * c_reg[0] was given; -O1, either sanitizer alone, -O3 were right.) */
        float pre_n[OUT];
#pragma unroll
        for (int o = 0; o < OUT; o++) {
            const int b = p + o * UNIT_LANES;
            pre_n[o] = CELL == kCellGru && unit_ok && b < rows
                           ? a.gates[((size_t)row0 + b) * (size_t)R + 2 * (size_t)H + u]
                           : 0.0f;
        }
        float act[OUT][kUnitSlots] = {}; /* the gates of unit u at batch row p + o UNIT_LANES */
#pragma unroll
        for (int j = 0; j < kBlockRows; j++) {
            if (j >= rows) /* the same in every thread */
                break;
            float pre[OUT], rec[OUT], v[OUT];
#pragma unroll
            for (int o = 0; o < OUT; o++)
                pre[o] = unit_ok && g0 + o < G && !(CELL == kCellGru && g0 + o == 2)
                             ? a.gates[((size_t)row0 + j) * (size_t)R + (size_t)(g0 + o) * H + u]
                             : 0.0f;
            lanes_row_products<CELL, OUT, KW, KS>(
                w, wsm, threads, (const float4 *)(h_in + (size_t)j * kLanesColumns), seg, rec);
#pragma unroll
            for (int o = 0; o < OUT; o++) {
                const int g = g0 + o;
                const bool n_row = CELL == kCellGru && g == 2;
                const float in = has_bias ? pre[o] + bias_row[o] : pre[o];
                const float r_sum = 0.0f + rec[o];
                if (CELL == kCellLstm)
                    v[o] = g == 2 ? tanhf(in + r_sum) : sigmoid(in + r_sum);
                else if (n_row)
                    v[o] = r_sum + bias_hh_row[o];
                else
                    v[o] = sigmoid(in + (r_sum + bias_hh_row[o]));
                if (unit_ok && g < G && !n_row) /* (as for pre above) */
                    a.gates[((size_t)row0 + j) * (size_t)R + (size_t)g * H + u] = v[o];
            }
            /* Gate g of the unit sits in its lane g / OUT, value g % OUT. */
#pragma unroll
            for (int g = 0; g < kUnitSlots; g++) {
                if (idle_slot<CELL>(g))
                    continue;
                const float from =
                    __shfl_sync(0xffffffffu, v[g % OUT], (lane & ~(UNIT_LANES - 1)) + g / OUT);
                if (j % UNIT_LANES == p)
                    act[j / UNIT_LANES][g] = from;
            }
        }
        /* The next step's rows, loaded as the cells run. */
        int rows_next = 0, row0_next = 0;
        if (s + 1 < T)
            rows_next = a.batch_sizes[step_time(s + 1)], row0_next = a.offsets[step_time(s + 1)];

#pragma unroll
        for (int o = 0; o < OUT; o++) {
            const int b = p + o * UNIT_LANES;
            if (!unit_ok || b >= B)
                continue;
            if (b >= rows) { /* a row not active this step keeps its h */
                h_out[(size_t)b * kLanesColumns + u] = h_in[(size_t)b * kLanesColumns + u];
                continue;
            }
            const size_t row = (size_t)row0 + b;
            const float *gate = act[o];
            float saved, hv;
            if (CELL == kCellLstm) {
                saved = c_reg[o] = gate[1] * c_reg[o] + gate[0] * gate[2]; /* c */
                hv = gate[3] * tanhf(c_reg[o]);
            } else { /* kCellGru: gate holds r, z and W_hn h + b_hn */
                saved = gate[2];
                const float n = tanhf(
                    plus_input_bias(pre_n[o], a.bias_ih, a.bias_hh, CELL, 2, H, u) +
                    gate[0] * saved);
                hv = (1.0f - gate[1]) * n + gate[1] * h_in[(size_t)b * kLanesColumns + u];
                a.gates[row * (size_t)R + 2 * (size_t)H + u] = n;
            }
            h_out[(size_t)b * kLanesColumns + u] = hv;
            (CELL == kCellLstm ? a.c_saved : a.hidden_n)[row * H + u] = saved;
            a.y[row * a.ld_y + u] = hv;
        }
        __syncthreads(); /* the new h in place; h_in read */

        rows = rows_next, row0 = row0_next;
    }

    /* h_n where the grid version leaves it: h_a when T is even, else h_b. */
#pragma unroll
    for (int o = 0; o < OUT; o++) {
        const int b = p + o * UNIT_LANES;
        if (!unit_ok || b >= B)
            continue;
        const size_t state_at = (size_t)b * H + u;
        (T % 2 ? a.h_b : a.h_a)[state_at] =
            h[(size_t)(T % 2) * hb + (size_t)b * kLanesColumns + u];
        if (CELL == kCellLstm)
            a.c_state[state_at] = c_reg[o];
    }
}

} // namespace

#ifdef RECUR_BLOCK_LAUNCH
namespace {

/* One instance: C columns a thread, KW of them in registers, up to
 * `threads` threads (the registers a thread may have: 64 at 1024); LSTM's
 * and GRU's. */
typedef struct block_variant {
    void (*forward[2])(rk_persistent);
    int columns, kw, threads;
} block_variant;

#define VARIANT(c, kw, t)                                                                   \
    {{block_forward<kCellLstm, c, kw, t>, block_forward<kCellGru, c, kw, t>}, c, kw, t}
/* At 64 registers a thread, ptxas spills a few (8 to 56 bytes, CUDA 13.0)
 * with any of the first four; more weights in registers spill more. The
 * last, a whole row a thread at 128 registers (8 to 32 bytes spilled),
 * reads 48 weights a thread from shared memory at half the threads: 24576
 * floats a step at lstm H128 where 64 columns read 40960. */
const block_variant kBlockVariants[] = {VARIANT(16, 16, 1024), VARIANT(32, 28, 1024),
                                        VARIANT(48, 28, 1024), VARIANT(64, 24, 1024),
                                        VARIANT(kWholeRowColumns, 80, 512)};
#undef VARIANT
/* The variants of split rows (lanes_forward; RECUR_CUDA_BLOCK_LANES=OUT):
 * of a thread's 128 OUT (LSTM) or 96 OUT (GRU) weights, KW in registers,
 * as many as ptxas (CUDA 13.0) keeps there with a spilled register or two
 * read back in a step: at OUT = 1 (128 registers) LSTM 80 and GRU 88, at
 * OUT = 2 (255 registers) LSTM 192 (200 spills 52 bytes, read back 184
 * times) and GRU all 192. */
typedef struct lanes_variant {
    void (*forward[2])(rk_persistent);
    int out, ks[2]; /* ks: LSTM's and GRU's weights a thread in shared memory */
} lanes_variant;
#define LANES(out, kw_lstm, kw_gru, t)                                                          \
    {{lanes_forward<kCellLstm, out, kw_lstm, t>, lanes_forward<kCellGru, out, kw_gru, t>},       \
     out,                                                                                       \
     {lane_weights<kCellLstm, out>() - kw_lstm, lane_weights<kCellGru, out>() - kw_gru}}
const lanes_variant kLanesVariants[] = {LANES(1, 80, 88, 512), LANES(2, 192, 192, 256)};
#undef LANES

typedef void (*block_kernel)(rk_persistent);

/* p's kernel (NULL: none fits a block), with its threads (whole warps) and
 * shared memory in bytes: of the variants of block_forward that fit, the
 * one that reads the fewest weights from shared memory a step (the bound
 * of a step, estimated from its shared-memory traffic), the fewest columns
 * a thread among equals; RECUR_CUDA_BLOCK_COLUMNS=n: the one of n columns
 * where it fits. Before them, lanes_forward with OUT = rk_lanes_default
 * where that is not 0; RECUR_CUDA_BLOCK_LANES=n: OUT = n (1, 2) wherever H
 * <= 128, 0 never (nor where RECUR_CUDA_BLOCK_COLUMNS is set). */
block_kernel block_kernel_for(const rk_persistent *p, int *threads, size_t *smem)
{
    const int R = p->G * p->H, gru = p->cell == kCellGru;
    const char *lanes = getenv("RECUR_CUDA_BLOCK_LANES");
    const char *env = getenv("RECUR_CUDA_BLOCK_COLUMNS");
    const int out = lanes ? atoi(lanes) : env ? 0 : rk_lanes_default(gru, p->H, p->B);
    for (const lanes_variant &v : kLanesVariants) {
        if (v.out != out || p->H > kLanesColumns)
            continue;
        *threads = (kUnitSlots * p->H / out + 31) / 32 * 32;
        *smem = sizeof(float) * ((size_t)v.ks[gru] * *threads + 2 * kBlockRows * kLanesColumns);
        return v.forward[gru];
    }
    const int asked = env ? atoi(env) : 0;
    const block_variant *best = NULL;
    long best_reads = 0;
    for (const block_variant &v : kBlockVariants) {
        const int S = (p->H + v.columns - 1) / v.columns;
        const int t = (R * S + 31) / 32 * 32;
        const long reads = (long)(v.columns - v.kw) * t;
        if (t > v.threads || p->B * p->H > t || (asked && v.columns != asked) ||
            (best && reads >= best_reads))
            continue;
        best = &v, best_reads = reads;
        *threads = t;
        *smem = sizeof(float) * block_smem_floats(v.columns - v.kw, t, S * v.columns, S, R);
    }
    return best ? best->forward[gru] : NULL;
}

} // namespace

extern "C" {

int rk_block_plan(rk_persistent *p)
{
    int threads = 0, dev = 0, optin = 0;
    size_t smem = 0;
    if ((p->cell != kCellLstm && p->cell != kCellGru) || p->backward || p->B < 1 ||
        p->B > kBlockRows)
        return 0;
    const block_kernel kernel = block_kernel_for(p, &threads, &smem);
    if (!kernel || cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) !=
            cudaSuccess ||
        smem > (size_t)optin ||
        cudaFuncSetAttribute((const void *)kernel,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, optin) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    p->units = threads; /* the block's threads */
    p->blocks = 1;
    p->smem = smem;
    return 1;
}

int rk_block_launch(cudaStream_t stream, const rk_persistent *p)
{
    int threads = 0;
    size_t smem = 0;
    const block_kernel kernel = block_kernel_for(p, &threads, &smem);
    if (!kernel)
        return (int)cudaErrorInvalidValue;
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(1);
    config.blockDim = dim3((unsigned)threads);
    config.dynamicSmemBytes = smem;
    config.stream = stream;
    rk_persistent copy = *p;
    const cudaError_t e = cudaLaunchKernelEx(&config, kernel, copy);
    return e != cudaSuccess ? (int)e : launched();
}

} // extern "C"
#endif /* RECUR_BLOCK_LAUNCH */
