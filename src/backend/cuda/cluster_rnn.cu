/* The small-batch LSTM/GRU forward and backward through time on one
 * thread-block cluster (sm_90), with the recurrent weights on chip: in
 * registers, and past KW of them a lane in shared memory (see kernels.h,
 * rk_cluster_plan). The forward is described here; cluster_backward, its
 * mirror, below.
 *
 * Layout. Block r of the cluster has WARPS warps; warp w owns hidden unit
 * u = r * WARPS + w. Lane l of that warp holds gate g = l / 8's row of W_hh
 * for unit u, columns 32 q + 4 (l % 8) + e (e < 4): chunks q < KW / 4 in KW
 * registers, the next KS / 4 chunks in shared memory (wsm [WARPS][KS/4][32]
 * float4, a warp's lanes reading 512 consecutive bytes), zero past H. Every
 * block keeps all of h in its shared memory (double buffer [2][Bp][HS]:
 * HS = 8 (KW + KS) + 4 floats a row, zero past H; the 4 extra floats put the
 * lanes' single-float stores of a column into different banks).
 *
 * Batch. A cluster runs rows first .. first + count - 1 of the batch
 * (cluster_slice): all B <= 32 of them, or a.cluster_rows when the grid holds
 * several clusters, which never exchange anything (rows are independent
 * through time), so that B rows take the time of cluster_rows on more SMs.
 * Below, "row j" is the cluster's j-th.
 *
 * One step: each warp forms its unit's G gate products for the active rows,
 * four batch rows at a time, or one when one is left (float4 loads of h that
 * the 8 lanes of a gate spread over 32 consecutive floats, then a butterfly
 * over the 8 lanes); lane j then applies the cell to batch row j, writes the
 * new h value into the next buffer of every block through distributed shared
 * memory (a.cluster_vector: into its own block's, and after a block barrier
 * the block's threads copy its slice of the rows, WARPS consecutive floats a
 * row, to every other block in 16-byte stores, a quarter of the remote
 * stores), arrives at the cluster barrier, stores what the backward needs and
 * waits at the barrier (the arrival's release fence, a GPU-wide memory
 * barrier, so waits for the h stores only); or (a.cluster_async) stores
 * through st.async and waits on its block's mbarrier for the buffer instead
 * of the barrier (step_exchange). The input pre-activations of
 * step s + 1 and the row counts of step s + 2 are loaded during step s, so
 * that their latency overlaps a step's work (nothing reads them before:
 * the input biases are added where the cell reads them). The arithmetic and what is
 * stored are those of persistent_forward. */
/* tests/test_cluster_emulated.cpp compiles the kernel (not the launch code)
 * as C++ with RECUR_CLUSTER_EMULATION defined, over the emulated threads,
 * warps and cluster of tests/emulation/; the recur_emulated library's
 * kernels_emulated.cpp the launch code too (RECUR_CUDA_EMULATION). */
#include "backend/cuda/cell_math.cuh"
#include "backend/cuda/kernels.h"
#if !defined(RECUR_CLUSTER_EMULATION) || defined(RECUR_CUDA_EMULATION)
#include "backend/cuda/launch.cuh"
#define RECUR_CLUSTER_LAUNCH 1 /* the launch code below */
#endif

#include <cooperative_groups.h>

namespace cg = cooperative_groups;

namespace {

/* The asynchronous exchange (a.cluster_async): an mbarrier a buffer in every
 * block, armed each step with the bytes the step will bring (arrive with
 * expect_tx, by thread 0), the stores into other blocks as st.async, each
 * completing its bytes on the target's mbarrier, and a wait for the phase
 * in place of the cluster barrier. The emulation's versions are in
 * tests/emulation/cuda_emulation.h. */
#if defined(RECUR_CLUSTER_EMULATION)
__device__ __forceinline__ void mbarrier_init(uint64_t *bar) { emu::mbarrier_init(bar, 1); }
__device__ __forceinline__ void mbarrier_init_fence() {}
__device__ __forceinline__ void mbarrier_expect(uint64_t *bar, unsigned bytes)
{
    emu::mbarrier_arrive_expect_tx(bar, bytes);
}
__device__ __forceinline__ void mbarrier_wait(uint64_t *bar, unsigned parity)
{
    emu::mbarrier_wait(bar, parity);
}
template <typename Cluster>
__device__ __forceinline__ void store_async(const Cluster &cluster, float *dst, float value,
                                            uint64_t *bar, unsigned rank)
{
    emu::store_async(cluster.map_shared_rank(dst, rank), &value, 1,
                     cluster.map_shared_rank(bar, rank));
}
template <typename Cluster>
__device__ __forceinline__ void store_async(const Cluster &cluster, float4 *dst, float4 value,
                                            uint64_t *bar, unsigned rank)
{
    const float values[4] = {value.x, value.y, value.z, value.w};
    emu::store_async((float *)cluster.map_shared_rank(dst, rank), values, 4,
                     cluster.map_shared_rank(bar, rank));
}
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ unsigned shared_address(const void *p)
{
    return (unsigned)__cvta_generic_to_shared(p);
}
/* p's place in block rank's shared memory, as a shared::cluster address. */
__device__ __forceinline__ unsigned cluster_address(const void *p, unsigned rank)
{
    unsigned address;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;"
                 : "=r"(address)
                 : "r"(shared_address(p)), "r"(rank));
    return address;
}
__device__ __forceinline__ void mbarrier_init(uint64_t *bar)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(shared_address(bar)) : "memory");
}
/* Makes the initializations visible to the cluster (before its barrier). */
__device__ __forceinline__ void mbarrier_init_fence()
{
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}
__device__ __forceinline__ void mbarrier_expect(uint64_t *bar, unsigned bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(
                     shared_address(bar)),
                 "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void mbarrier_wait(uint64_t *bar, unsigned parity)
{
    unsigned done = 0;
    do {
        asm volatile("{\n\t.reg .pred p;\n\t"
                     "mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 p, [%1], %2;\n\t"
                     "selp.u32 %0, 1, 0, p;\n\t}"
                     : "=r"(done)
                     : "r"(shared_address(bar)), "r"(parity)
                     : "memory");
    } while (!done);
}
template <typename Cluster>
__device__ __forceinline__ void store_async(const Cluster &, float *dst, float value,
                                            uint64_t *bar, unsigned rank)
{
    asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.b32 [%0], %1, [%2];" ::"r"(
                     cluster_address(dst, rank)),
                 "r"(__float_as_uint(value)), "r"(cluster_address(bar, rank))
                 : "memory");
}
template <typename Cluster>
__device__ __forceinline__ void store_async(const Cluster &, float4 *dst, float4 value,
                                            uint64_t *bar, unsigned rank)
{
    asm volatile(
        "st.async.shared::cluster.mbarrier::complete_tx::bytes.v4.b32 [%0], {%1, %2, %3, %4}, "
        "[%5];" ::"r"(cluster_address(dst, rank)),
        "r"(__float_as_uint(value.x)), "r"(__float_as_uint(value.y)),
        "r"(__float_as_uint(value.z)), "r"(__float_as_uint(value.w)),
        "r"(cluster_address(bar, rank))
        : "memory");
}
#endif

const int kClusterBlocks = 16; /* non-portable cluster maximum (H100) */
const int kClusterRows = 32;   /* batch rows: one lane each */
const int kLanesPerGate = 8;   /* lanes sharing one gate row */

/* Floats a row of h takes in shared memory for KW + KS weights a lane. */
__host__ __device__ constexpr int cluster_row_floats(int weights)
{
    return kLanesPerGate * weights + 4;
}

/* The two mbarriers of the asynchronous exchange (one a buffer), in floats
 * of shared memory, at its end. */
const int kBarrierFloats = 4;

/* Floats of shared memory for WARPS warps, KS shared weights a lane, KW + KS
 * weights a lane in all and batch B: wsm, the h double buffer [2][Bp][HS]
 * (Bp: B rounded up to 4), the gate sums [WARPS][4][32] and the mbarriers. */
size_t cluster_smem_floats(int warps, int ks, int weights, int B)
{
    const size_t Bp = (size_t)((B + 3) & ~3);
    return (size_t)warps * 32 * ks + 2 * Bp * (size_t)cluster_row_floats(weights) +
           (size_t)warps * 4 * kClusterRows + kBarrierFloats;
}

/* This lane's weights from weight(q, e) (element e of column chunk q): the
 * first KW in the registers w, the next KS in shared memory (wsm_all
 * [WARPS][KS/4][32] float4, this warp's lane `lane`). */
template <int KW, int KS, typename Weight>
__device__ __forceinline__ void load_weights(float (&w)[KW], float4 *wsm_all, int warp, int lane,
                                             Weight weight)
{
#pragma unroll
    for (int q = 0; q < KW / 4; q++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            w[4 * q + e] = weight(q, e);
    for (int qs = 0; qs < KS / 4; qs++) {
        const int q = KW / 4 + qs;
        wsm_all[(warp * (KS / 4) + qs) * 32 + lane] =
            make_float4(weight(q, 0), weight(q, 1), weight(q, 2), weight(q, 3));
    }
}

/* sum[jj] (jj < JB) = this lane's products of its weights (w: KW registers;
 * wsm: its first shared chunk, stride 32 float4) with row j0 + jj of rows4
 * (row r's chunk q of this lane at rows4[r * row_stride4 + 8 q + seg]): four
 * accumulators, then added. */
template <int JB, int KW, int KS>
__device__ __forceinline__ void lane_products(const float (&w)[KW], const float4 *wsm,
                                              const float4 *rows4, int row_stride4, int j0,
                                              int seg, float (&sum)[JB])
{
    constexpr int P = 4 / JB; /* accumulators a row */
    float part[JB][P];
#pragma unroll
    for (int jj = 0; jj < JB; jj++)
#pragma unroll
        for (int k = 0; k < P; k++)
            part[jj][k] = 0.0f;
#pragma unroll
    for (int q = 0; q < (KW + KS) / 4; q++) {
        const float4 wv = q < KW / 4
                              ? make_float4(w[4 * q], w[4 * q + 1], w[4 * q + 2], w[4 * q + 3])
                              : wsm[(q - KW / 4) * 32];
#pragma unroll
        for (int jj = 0; jj < JB; jj++) {
            const float4 xv = rows4[(j0 + jj) * row_stride4 + kLanesPerGate * q + seg];
            float v = part[jj][q % P];
            v = fmaf(wv.x, xv.x, v);
            v = fmaf(wv.y, xv.y, v);
            v = fmaf(wv.z, xv.z, v);
            v = fmaf(wv.w, xv.w, v);
            part[jj][q % P] = v;
        }
    }
#pragma unroll
    for (int jj = 0; jj < JB; jj++) {
        sum[jj] = part[jj][0];
#pragma unroll
        for (int k = 1; k < P; k++)
            sum[jj] += part[jj][k];
    }
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
/* How a step's values reach every block of the cluster: single floats
 * stored into every block, or (vector) into this block alone, after which
 * send_slice copies the block's slice; through plain stores and the cluster
 * barrier, or (bar: this step's buffer's mbarrier, a.cluster_async) through
 * st.async stores that complete on the target's mbarrier, armed with
 * expect(). */
template <int WARPS, typename Cluster> struct step_exchange {
    const Cluster &cluster;
    int rank, blocks, tid;
    bool vector;
    uint64_t *bar; /* NULL: the cluster barrier */

    /* Arms bar with the bytes that reach this block in the step: `values`
     * floats (every block's sends), or with vector the other blocks' slices
     * of `slice_rows` rows. By one thread, before the step's sends (bar's
     * previous phase has completed: it was waited for two steps ago). */
    __device__ __forceinline__ void expect(int values, int slice_rows) const
    {
        if (bar && tid == 0)
            mbarrier_expect(bar, (unsigned)(sizeof(float) *
                                            (vector ? slice_rows * (blocks - 1) * WARPS : values)));
    }
    /* This thread's value at *at, in buf's layout, to every block (vector:
     * to this one). */
    __device__ __forceinline__ void send(float *at, float value) const
    {
        if (vector)
            *at = value;
        else if (bar)
            for (int target = 0; target < blocks; target++)
                store_async(cluster, at, value, bar, (unsigned)target);
        else
            for (int target = 0; target < blocks; target++)
                *cluster.map_shared_rank(at, (unsigned)target) = value;
    }
    /* vector: after every thread's send, this block's slice (columns rank *
     * WARPS .. + WARPS - 1) of rows 0 .. rows - 1 of buf (row_floats a row, a
     * multiple of 4) to the same place in every other block, in 16-byte
     * stores spread over the block's threads. */
    __device__ __forceinline__ void send_slice(float *buf, int rows, int row_floats) const
    {
        static_assert(WARPS % 4 == 0, "a slice row is whole float4s");
        if (!vector)
            return;
        __syncthreads();
        constexpr int row4 = WARPS / 4; /* float4s of a slice row */
        const int slice4 = rows * row4, total4 = slice4 * (blocks - 1);
        for (int i = tid; i < total4; i += 32 * WARPS) {
            const int other = i / slice4, r = i - other * slice4;
            const unsigned dest = (unsigned)(other + (other >= rank)); /* all but this one */
            float4 *at = (float4 *)(buf + (size_t)(r / row4) * row_floats +
                                    (size_t)rank * WARPS + 4 * (size_t)(r % row4));
            if (bar)
                store_async(cluster, at, *at, bar, dest);
            else
                *cluster.map_shared_rank(at, dest) = *at;
        }
    }
    /* After the sends: the cluster barrier's arrival (its release covers
     * them); the asynchronous stores need none. */
    __device__ __forceinline__ void arrive() const
    {
        if (!bar)
            cluster.barrier_arrive();
    }
    /* Until every block's values of the step are in this block: the cluster
     * barrier, or the phase of parity `parity` of bar (and the warp's lanes
     * in step, as the barrier leaves them). */
    __device__ __forceinline__ void wait(unsigned parity) const
    {
        if (bar) {
            mbarrier_wait(bar, parity);
            __syncwarp();
        } else {
            cluster.barrier_wait();
        }
    }
};

/* Whether this warp sits out the steps: a warp past H (the last block's)
 * sends nothing in the asynchronous exchange of single floats, so no block
 * waits for it, and it could fall two phases behind an mbarrier and miss
 * one; it has nothing else to do. (With the vector exchange its threads
 * copy slices, and the block barrier keeps them in step.) */
__device__ __forceinline__ bool idle_warp(const rk_persistent &a, bool unit_ok)
{
    return !unit_ok && a.cluster_async && !a.cluster_vector;
}

/* The mbarriers of bars [2] (this block's; a.cluster_async) initialized
 * before the cluster barrier that follows, which publishes them. */
__device__ __forceinline__ void init_step_barriers(const rk_persistent &a, uint64_t *bars, int tid)
{
    if (a.cluster_async && tid == 0) {
        mbarrier_init(&bars[0]);
        mbarrier_init(&bars[1]);
        mbarrier_init_fence();
    }
}
#endif

/* acc[gate][j0 + jj] (jj < JB) = this warp's gate row . h row j0 + jj (h4:
 * [Bp][HS4]): the lanes' products, then the butterfly over the gate's 8
 * lanes. */
template <int JB, int KW, int KS, int HS4>
__device__ __forceinline__ void gate_sums(const float (&w)[KW], const float4 *wsm,
                                          const float4 *h4, int j0, int gate, int seg, float *acc)
{
    float sum[JB];
    lane_products<JB, KW, KS>(w, wsm, h4, HS4, j0, seg, sum);
#pragma unroll
    for (int off = 1; off < kLanesPerGate; off <<= 1)
#pragma unroll
        for (int jj = 0; jj < JB; jj++)
            sum[jj] += __shfl_xor_sync(0xffffffffu, sum[jj], off);
    if (seg == 0) {
#pragma unroll
        for (int jj = 0; jj < JB; jj++)
            acc[gate * kClusterRows + j0 + jj] = sum[jj];
    }
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
/* The active rows and first packed row of the step a kernel runs, of the
 * next step and (fetched during a step) of the one after: each read two
 * steps ahead of its use, so that no load waits on a step's critical path.
 * time_of(s) is the time step at position s of the walk. */
struct step_rows {
    int rows = 0, row0 = 0, rows_next = 0, row0_next = 0, rows_after = 0, row0_after = 0;
    int first = 0, count = 0; /* the cluster's batch rows: first .. first + count - 1 */

    /* The cluster's active rows of time step t and the packed row of its first. */
    __device__ __forceinline__ void of_step(const rk_persistent &a, int t, int &r, int &r0) const
    {
        const int left = a.batch_sizes[t] - first; /* of the rows active at t */
        r = left < 0 ? 0 : left < count ? left : count;
        r0 = a.offsets[t] + first;
    }
    template <typename TimeOf>
    __device__ __forceinline__ void start(const rk_persistent &a, TimeOf time_of)
    {
        if (a.T > 0)
            of_step(a, time_of(0), rows, row0);
        if (a.T > 1)
            of_step(a, time_of(1), rows_next, row0_next);
    }
    /* During position s: the step at s + 2. */
    template <typename TimeOf>
    __device__ __forceinline__ void fetch_after(const rk_persistent &a, int s, TimeOf time_of)
    {
        rows_after = row0_after = 0;
        if (s + 2 < a.T)
            of_step(a, time_of(s + 2), rows_after, row0_after);
    }
    __device__ __forceinline__ void advance()
    {
        rows = rows_next, row0 = row0_next;
        rows_next = rows_after, row0_next = row0_after;
    }
};

/* The batch rows of this block's cluster: the grid's clusters take
 * a.cluster_rows rows each (the last the rest), in the order of blockIdx. */
__device__ __forceinline__ step_rows cluster_slice(const rk_persistent &a, int blocks)
{
    step_rows steps;
    const int per = a.cluster_rows > 0 ? a.cluster_rows : a.B;
    steps.first = (int)(blockIdx.x / (unsigned)blocks) * per;
    steps.count = a.B - steps.first < per ? a.B - steps.first : per;
    return steps;
}
#endif

template <int WARPS, int KW, int KS>
__global__ void __launch_bounds__(32 * WARPS, 1) cluster_forward(rk_persistent a)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    constexpr int HS = cluster_row_floats(KW + KS); /* floats a row of h in shared memory */
    constexpr int HS4 = HS / 4;
    constexpr int threads = 32 * WARPS;
    float4 *smem4 = dynamic_shared_memory();
    cg::cluster_group cluster = cg::this_cluster();
    const int H = a.H, G = a.G, T = a.T;
    const int blocks = (int)cluster.num_blocks();
    step_rows steps = cluster_slice(a, blocks);
    const int B = steps.count, b0 = steps.first; /* this cluster's rows of the batch */
    const int Bp = (B + 3) & ~3;
    float4 *wsm_all = smem4;                                  /* [WARPS][KS/4][32] */
    float4 *hbuf4 = wsm_all + WARPS * (KS / 4) * 32;          /* [2][Bp][HS4] */
    float *acc_all = (float *)(hbuf4 + 2 * (size_t)Bp * HS4); /* [WARPS][4][32] */
    uint64_t *bars = (uint64_t *)(acc_all + WARPS * 4 * kClusterRows); /* [2], async */

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int gate = lane / kLanesPerGate, seg = lane % kLanesPerGate;
    const int rank = (int)cluster.block_rank();
    const int u = rank * WARPS + warp;
    const bool unit_ok = u < H;
    const float4 *wsm = wsm_all + warp * (KS / 4) * 32 + lane;
    float *acc = acc_all + warp * 4 * kClusterRows; /* [gate][row] of this warp's unit */
    /* The time step of position s (a reverse direction runs backwards). */
    auto step_time = [&](int s) { return a.reverse ? T - 1 - s : s; };
    /* Weight e of chunk q of this lane's gate row, zero past H. */
    auto weight = [&](int q, int e) {
        const int col = 32 * q + 4 * seg + e;
        return unit_ok && gate < G && col < H ? a.weight_hh[((size_t)gate * H + u) * H + col]
                                              : 0.0f;
    };

    float w[KW];
    load_weights<KW, KS>(w, wsm_all, warp, lane, weight);
    float *hbuf = (float *)hbuf4;
    for (int idx = tid; idx < 2 * Bp * HS; idx += threads) {
        const int j = (idx / HS) % Bp, col = idx % HS;
        hbuf[idx] = idx < Bp * HS && j < B && col < H && a.h0
                        ? a.h0[(size_t)(b0 + j) * H + col]
                        : 0.0f;
    }
    /* Lane j carries the cluster's batch row j of unit u: its c, and its
     * input pre-activations. */
    const bool row_lane = unit_ok && lane < B;
    const size_t state_at = (size_t)(b0 + lane) * H + u; /* in [B, H] states */
    float c_reg = 0.0f;
    if (row_lane && a.cell == kCellLstm)
        c_reg = a.c0 ? a.c0[state_at] : 0.0f;
    steps.start(a, step_time);
    /* Lane j's input pre-activations of unit u in the step of (rows, row0),
     * without their biases: loaded a step ahead, they are first used a step
     * later (an addition here would wait for the load at once, inside the
     * step; in_pre adds the biases where the cell reads them). */
    auto load_pre = [&](float(&pre)[4], int rows, int row0) {
#pragma unroll
        for (int g = 0; g < 4; g++)
            pre[g] = row_lane && lane < rows && g < G
                         ? a.gates[((size_t)row0 + lane) * (size_t)G * H + (size_t)g * H + u]
                         : 0.0f;
    };
    auto in_pre = [&](const float(&pre)[4], int g) {
        return plus_input_bias(pre[g], a.bias_ih, a.bias_hh, a.cell, g, H, u);
    };
    float pre[4];
    load_pre(pre, steps.rows, steps.row0);
    init_step_barriers(a, bars, tid);
    cluster.sync(); /* every block's buffers are written before anyone stores into them */

    for (int s = 0; s < (idle_warp(a, unit_ok) ? 0 : T); s++) {
        /* Loads for later steps, consumed one step from now. */
        steps.fetch_after(a, s, step_time);
        float pre_next[4];
        load_pre(pre_next, steps.rows_next, steps.row0_next);
        const int rows = steps.rows, row0 = steps.row0;

        const float4 *h4 = hbuf4 + (size_t)(s & 1) * Bp * HS4;
        float *h_next = hbuf + (size_t)((s + 1) & 1) * Bp * HS;
        const step_exchange<WARPS, cg::cluster_group> exchange = {
            cluster, rank, blocks, tid, a.cluster_vector != 0,
            a.cluster_async ? &bars[(s + 1) & 1] : nullptr};
        exchange.expect(B * H, B); /* every row: finished ones carry their h */
        /* The gate products of the active rows (rows is the same in every lane). */
        for (int j0 = 0; j0 < rows; j0 += 4) {
            if (rows - j0 == 1)
                gate_sums<1, KW, KS, HS4>(w, wsm, h4, j0, gate, seg, acc);
            else
                gate_sums<4, KW, KS, HS4>(w, wsm, h4, j0, gate, seg, acc);
        }
        __syncwarp();

        /* Lane j's cell for batch row j; the new h goes to every block first,
         * the stores for the backward after this block's arrival at the
         * barrier, so that its release waits for the h stores alone. */
        float hv = 0.0f, act[4] = {0.0f, 0.0f, 0.0f, 0.0f}, saved = 0.0f;
        const bool active = row_lane && lane < rows;
        if (row_lane) {
            const float hp = ((const float *)h4)[(size_t)lane * HS + u];
            hv = hp; /* finished sequences keep their state */
            if (active) {
                const float *rec = acc + lane; /* rec[g * kClusterRows] */
                if (a.cell == kCellLstm) {
                    act[0] = sigmoid(in_pre(pre, 0) + rec[0]);
                    act[1] = sigmoid(in_pre(pre, 1) + rec[kClusterRows]);
                    act[2] = tanhf(in_pre(pre, 2) + rec[2 * kClusterRows]);
                    act[3] = sigmoid(in_pre(pre, 3) + rec[3 * kClusterRows]);
                    saved = c_reg = act[1] * c_reg + act[0] * act[2]; /* c */
                    hv = act[3] * tanhf(c_reg);
                } else { /* kCellGru */
                    const float *b = a.bias_hh;
                    const float hr = rec[0] + (b ? b[u] : 0.0f);
                    const float hz = rec[kClusterRows] + (b ? b[H + u] : 0.0f);
                    saved = rec[2 * kClusterRows] + (b ? b[2 * H + u] : 0.0f); /* hn */
                    act[0] = sigmoid(in_pre(pre, 0) + hr);
                    act[1] = sigmoid(in_pre(pre, 1) + hz);
                    act[2] = tanhf(in_pre(pre, 2) + act[0] * saved);
                    hv = (1.0f - act[1]) * act[2] + act[1] * hp;
                }
            }
            exchange.send(&h_next[(size_t)lane * HS + u], hv);
        }
        exchange.send_slice(h_next, B, HS);
        exchange.arrive(); /* the barrier's release: h_next's stores */
        if (active) {
            const size_t row = (size_t)row0 + lane;
            float *gr = a.gates + row * (size_t)G * H + u;
#pragma unroll
            for (int g = 0; g < 4; g++)
                if (g < G)
                    gr[(size_t)g * H] = act[g];
            (a.cell == kCellLstm ? a.c_saved : a.hidden_n)[row * H + u] = saved;
            a.y[row * a.ld_y + u] = hv;
        }
        exchange.wait((unsigned)(s >> 1) & 1u); /* h_next complete here; h, acc free again */

        steps.advance();
#pragma unroll
        for (int g = 0; g < 4; g++)
            pre[g] = pre_next[g];
    }

    /* h_n where the grid version leaves it: h_a when T is even, else h_b. */
    if (row_lane) {
        const float *h_last = hbuf + (size_t)(T & 1) * Bp * HS;
        float *h_out = T % 2 ? a.h_b : a.h_a;
        h_out[state_at] = h_last[(size_t)lane * HS + u];
        if (a.cell == kCellLstm)
            a.c_state[state_at] = c_reg;
    }
    if (a.cluster_async)
        cluster.sync(); /* no block leaves while a store of its own may be in flight */
#else
    (void)a;
#endif
}

/* Floats of shared memory of cluster_backward: wsm, the double buffer of
 * the step's recurrent gate gradients [2][Bp][4][HS] (GRU's fourth gate row
 * stays zero) and the mbarriers. */
size_t cluster_backward_smem_floats(int warps, int ks, int weights, int B)
{
    const size_t Bp = (size_t)((B + 3) & ~3);
    return (size_t)warps * 32 * ks + 2 * Bp * 4 * (size_t)cluster_row_floats(weights) +
           kBarrierFloats;
}

/* Sums of rows j0 .. j0+JB-1 of the step's recurrent gate gradients (gbuf4:
 * [Bp][4][HS4]) with this warp's column of W_hh: the lanes' products over
 * their gate and columns, then the butterfly over all 32 lanes; lane
 * j0 + jj keeps row j0 + jj's sum in *mine. */
template <int JB, int KW, int KS, int HS4>
__device__ __forceinline__ void column_sums(const float (&w)[KW], const float4 *wsm,
                                            const float4 *gbuf4, int j0, int gate, int seg,
                                            int lane, float *mine)
{
    float sum[JB];
    lane_products<JB, KW, KS>(w, wsm, gbuf4 + gate * HS4, 4 * HS4, j0, seg, sum);
#pragma unroll
    for (int jj = 0; jj < JB; jj++) {
#pragma unroll
        for (int off = 1; off < 32; off <<= 1)
            sum[jj] += __shfl_xor_sync(0xffffffffu, sum[jj], off);
        if (lane == j0 + jj)
            *mine = sum[jj];
    }
}

/* What lane j reads for its cell backward of one step (row of the step). */
struct backward_inputs {
    float dy, act[4], cell, cell_prev; /* LSTM: c_t, c_{t-1}; GRU: h_prev, hidden_n */
};

/* The backward through time of cluster_forward's layout (rk_persistent with
 * backward = 1, the contract of persistent_backward): warp w of block r owns
 * unit u = r * WARPS + w and holds column u of W_hh, lane l the rows of gate
 * l / 8, columns 32 q + 4 (l % 8) + e, as cluster_forward holds rows. One
 * step, walking back: lane j applies the cell backward of unit u to batch row
 * j (dh and dc in registers, the step's inputs loaded a step ahead), writes
 * the recurrent gate gradients of (j, u) into the step's buffer of every
 * block, arrives at the cluster barrier, stores grad_gates (and GRU's
 * grad_gh), waits; then every warp forms dh_prev(j, u) = grad_gh(j, :) .
 * W_hh(:, u) for the active rows (GRU adds its direct z * dh). */
template <int WARPS, int KW, int KS>
__global__ void __launch_bounds__(32 * WARPS, 1) cluster_backward(rk_persistent a)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    constexpr int HS = cluster_row_floats(KW + KS);
    constexpr int HS4 = HS / 4;
    constexpr int threads = 32 * WARPS;
    float4 *smem4 = dynamic_shared_memory();
    cg::cluster_group cluster = cg::this_cluster();
    const int H = a.H, G = a.G, T = a.T, GH = a.G * a.H;
    const int blocks = (int)cluster.num_blocks();
    step_rows steps = cluster_slice(a, blocks);
    const int B = steps.count, b0 = steps.first; /* this cluster's rows of the batch */
    const int Bp = (B + 3) & ~3;
    float4 *wsm_all = smem4;                         /* [WARPS][KS/4][32] */
    float4 *gbuf4 = wsm_all + WARPS * (KS / 4) * 32; /* [2][Bp][4][HS4] */
    float *gbuf = (float *)gbuf4;
    uint64_t *bars = (uint64_t *)(gbuf + 2 * (size_t)Bp * 4 * HS); /* [2], async */

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int gate = lane / kLanesPerGate, seg = lane % kLanesPerGate;
    const int rank = (int)cluster.block_rank();
    const int u = rank * WARPS + warp;
    const bool unit_ok = u < H;
    const float4 *wsm = wsm_all + warp * (KS / 4) * 32 + lane;
    /* W_hh[gate * H + col][u] for chunk q, element e; zero past H. */
    auto weight = [&](int q, int e) {
        const int col = 32 * q + 4 * seg + e;
        return unit_ok && gate < G && col < H ? a.weight_hh[((size_t)gate * H + col) * H + u]
                                              : 0.0f;
    };

    float w[KW];
    load_weights<KW, KS>(w, wsm_all, warp, lane, weight);
    for (int idx = tid; idx < 2 * Bp * 4 * HS; idx += threads)
        gbuf[idx] = 0.0f;
    /* Lane j carries the cluster's batch row j of unit u: dh, dc and the
     * step's inputs. */
    const bool row_lane = unit_ok && lane < B;
    const size_t state_at = (size_t)(b0 + lane) * H + u; /* in [B, H] states */
    float dh = row_lane ? a.dh[state_at] : 0.0f;
    float dc = row_lane && a.cell == kCellLstm ? a.dc[state_at] : 0.0f;
    auto load_inputs = [&](backward_inputs &in, int rows, int row0) {
        const bool on = row_lane && lane < rows;
        const size_t row = (size_t)row0 + lane;
        in.dy = on ? a.dy[row * a.ld_dy + u] : 0.0f;
#pragma unroll
        for (int g = 0; g < 4; g++)
            in.act[g] = on && g < G ? a.gates[row * GH + (size_t)g * H + u] : 0.0f;
        const bool lstm = a.cell == kCellLstm;
        in.cell = on ? (lstm ? a.c_saved : a.h_prev)[row * H + u] : 0.0f;
        in.cell_prev = on ? (lstm ? a.c_prev : a.hidden_n)[row * H + u] : 0.0f;
    };
    /* The time step of position s: the walk runs back over the forward's
     * order (a reverse direction's forward ran from T - 1 down). */
    auto position_time = [&](int s) { return a.reverse ? s : T - 1 - s; };
    steps.start(a, position_time);
    backward_inputs in;
    load_inputs(in, steps.rows, steps.row0);
    init_step_barriers(a, bars, tid);
    cluster.sync(); /* every block's buffers are zero before anyone stores into them */

    /* Steps with active rows so far: their buffers and mbarrier phases
     * alternate. A step without (a cluster's rows all finished or not yet
     * begun) has nothing to compute or exchange, and is skipped: the
     * asynchronous exchange keeps the blocks in step only through the
     * values they exchange. */
    int exchanges = 0;
    for (int s = 0; s < (idle_warp(a, unit_ok) ? 0 : T); s++) {
        /* Loads for later steps, consumed one step from now. */
        steps.fetch_after(a, s, position_time);
        backward_inputs in_next;
        load_inputs(in_next, steps.rows_next, steps.row0_next);
        const int rows = steps.rows, row0 = steps.row0;
        if (rows == 0) {
            steps.advance();
            in = in_next;
            continue;
        }

        float *g_step = gbuf + (size_t)(exchanges & 1) * Bp * 4 * HS; /* [Bp][4][HS] */
        const step_exchange<WARPS, cg::cluster_group> exchange = {
            cluster, rank, blocks, tid, a.cluster_vector != 0,
            a.cluster_async ? &bars[exchanges & 1] : nullptr};
        exchange.expect(rows * G * H, 4 * rows); /* the active rows' gate rows */
        const bool active = row_lane && lane < rows;
        float dx[4] = {0.0f, 0.0f, 0.0f, 0.0f}, dgh[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        float dh_direct = 0.0f; /* GRU's z * dh */
        if (active) {
            const float d = dh + in.dy;
            if (a.cell == kCellLstm) {
                const float i = in.act[0], f = in.act[1], g = in.act[2], o = in.act[3];
                const float tanh_c = tanhf(in.cell);
                const float dc_total = dc + d * o * (1.0f - tanh_c * tanh_c);
                dx[3] = d * tanh_c * o * (1.0f - o);
                dx[0] = dc_total * g * i * (1.0f - i);
                dx[1] = dc_total * in.cell_prev * f * (1.0f - f);
                dx[2] = dc_total * i * (1.0f - g * g);
                dc = dc_total * f;
#pragma unroll
                for (int g4 = 0; g4 < 4; g4++)
                    dgh[g4] = dx[g4];
            } else { /* kCellGru: cell = h_prev, cell_prev = hidden_n */
                const float r = in.act[0], z = in.act[1], n = in.act[2];
                const float dn_pre = d * (1.0f - z) * (1.0f - n * n);
                const float dz_pre = d * (in.cell - n) * z * (1.0f - z);
                const float dr_pre = dn_pre * in.cell_prev * r * (1.0f - r);
                dx[0] = dr_pre, dx[1] = dz_pre, dx[2] = dn_pre;
                dgh[0] = dr_pre, dgh[1] = dz_pre, dgh[2] = dn_pre * r;
                dh_direct = d * z;
            }
#pragma unroll
            for (int g = 0; g < 4; g++)
                if (g < G)
                    exchange.send(&g_step[((size_t)lane * 4 + g) * HS + u], dgh[g]);
        }
        exchange.send_slice(g_step, 4 * rows, HS);
        exchange.arrive(); /* the barrier's release: the step's gradient rows */
        if (active) {
            const size_t row = (size_t)row0 + lane;
#pragma unroll
            for (int g = 0; g < 4; g++)
                if (g < G) {
                    a.grad_gates[row * GH + (size_t)g * H + u] = dx[g];
                    if (a.cell == kCellGru)
                        a.grad_gh[row * GH + (size_t)g * H + u] = dgh[g];
                }
        }
        exchange.wait((unsigned)(exchanges >> 1) & 1u); /* every row of the step's gradients */
        exchanges++;

        /* dh_prev of the active rows (rows is the same in every lane). */
        float product = 0.0f;
        for (int j0 = 0; j0 < rows; j0 += 4) {
            if (rows - j0 == 1)
                column_sums<1, KW, KS, HS4>(w, wsm, (const float4 *)g_step, j0, gate, seg, lane,
                                            &product);
            else
                column_sums<4, KW, KS, HS4>(w, wsm, (const float4 *)g_step, j0, gate, seg, lane,
                                            &product);
        }
        if (active)
            dh = dh_direct + product; /* finished rows keep theirs */

        steps.advance();
        in = in_next;
    }

    if (row_lane) { /* the gradients of h0 and c0 */
        a.dh[state_at] = dh;
        if (a.cell == kCellLstm)
            a.dc[state_at] = dc;
    }
    if (a.cluster_async)
        cluster.sync(); /* no block leaves while a store of its own may be in flight */
#else
    (void)a;
#endif
}

} // namespace

#ifdef RECUR_CLUSTER_LAUNCH
namespace {

/* One instance of the kernels: warps a block, weights a lane in registers
 * (kw) and in shared memory (ks). */
typedef struct cluster_variant {
    void (*forward)(rk_persistent);
    void (*backward)(rk_persistent);
    int warps, kw, ks;
} cluster_variant;

#define VARIANT(warps, kw, ks) \
    {cluster_forward<warps, kw, ks>, cluster_backward<warps, kw, ks>, warps, kw, ks}
/* By ceil(H / 32) - 1: up to H = 256, 16 warps with every weight in
 * registers (4 ceil(H / 32) a lane); up to 512, 32 warps (1024 threads, so at
 * most 64 registers a thread) with 24 weights a lane in registers and the
 * rest in shared memory. */
const cluster_variant kVariants[16] = {
    VARIANT(16, 4, 0),   VARIANT(16, 8, 0),   VARIANT(16, 12, 0),  VARIANT(16, 16, 0),
    VARIANT(16, 20, 0),  VARIANT(16, 24, 0),  VARIANT(16, 28, 0),  VARIANT(16, 32, 0),
    VARIANT(32, 24, 12), VARIANT(32, 24, 16), VARIANT(32, 24, 20), VARIANT(32, 24, 24),
    VARIANT(32, 24, 28), VARIANT(32, 24, 32), VARIANT(32, 24, 36), VARIANT(32, 24, 40)};
#undef VARIANT

const cluster_variant *cluster_variant_for(int H)
{
    const int index = (H + 31) / 32 - 1;
    return index >= 0 && index < 16 ? &kVariants[index] : NULL;
}

/* The launch of plan p: ceil(B / cluster_rows) clusters of p->blocks blocks
 * of p->units warps. */
cudaLaunchConfig_t cluster_config(cudaStream_t stream, const rk_persistent *p,
                                  cudaLaunchAttribute *attribute)
{
    cudaLaunchConfig_t config = {};
    const int clusters = (p->B + p->cluster_rows - 1) / p->cluster_rows;
    config.gridDim = dim3((unsigned)(p->blocks * clusters));
    config.blockDim = dim3(32 * (unsigned)p->units);
    config.dynamicSmemBytes = p->smem;
    config.stream = stream;
    attribute[0].id = cudaLaunchAttributeClusterDimension;
    attribute[0].val.clusterDim.x = (unsigned)p->blocks;
    attribute[0].val.clusterDim.y = 1;
    attribute[0].val.clusterDim.z = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
    return config;
}

} // namespace

extern "C" {

int rk_cluster_plan(rk_persistent *p)
{
    const cluster_variant *v = cluster_variant_for(p->H);
    const int rows = p->cluster_rows > 0 && p->cluster_rows < p->B ? p->cluster_rows : p->B;
    if ((p->cell != kCellLstm && p->cell != kCellGru) || !v || rows < 1 || rows > kClusterRows)
        return 0;
    int dev = 0, major = 0, optin = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) !=
            cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    const size_t smem =
        sizeof(float) * (p->backward
                             ? cluster_backward_smem_floats(v->warps, v->ks, v->kw + v->ks, rows)
                             : cluster_smem_floats(v->warps, v->ks, v->kw + v->ks, rows));
    const void *kernel = (const void *)(p->backward ? v->backward : v->forward);
    const int blocks = (p->H + v->warps - 1) / v->warps;
    if (major < 9 || smem > (size_t)optin || blocks > kClusterBlocks)
        return 0;
    /* The attribute is the function's, for every handle: always the device's limit. */
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin) !=
            cudaSuccess ||
        (blocks > 8 && cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed,
                                            1) != cudaSuccess)) {
        cudaGetLastError();
        return 0;
    }
    p->units = v->warps;
    p->blocks = blocks;
    /* st.async needs a cluster of two blocks or more; one block's exchange is
     * its own barrier. */
    if (blocks == 1)
        p->cluster_async = 0;
    p->cluster_rows = rows;
    p->smem = smem;
    cudaLaunchAttribute attribute[1];
    const cudaLaunchConfig_t config = cluster_config(0, p, attribute);
    int clusters = 0;
    if (cudaOccupancyMaxActiveClusters(&clusters, kernel, &config) != cudaSuccess ||
        clusters < 1) {
        cudaGetLastError();
        return 0;
    }
    return 1;
}

/* One launch of plan p's kernel (forward or backward). */
int rk_cluster_launch(cudaStream_t stream, const rk_persistent *p)
{
    rk_persistent copy = *p;
    cudaLaunchAttribute attribute[1];
    const cudaLaunchConfig_t config = cluster_config(stream, p, attribute);
    const cluster_variant *v = cluster_variant_for(p->H);
    const cudaError_t e = cudaLaunchKernelEx(&config, p->backward ? v->backward : v->forward, copy);
    return e != cudaSuccess ? (int)e : launched();
}

} // extern "C"
#endif /* RECUR_CLUSTER_LAUNCH */
