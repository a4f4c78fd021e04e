/* Element-wise CUDA kernels of the recurrent stack, callable from C: each
 * rk_* function launches one kernel on `stream` and returns cudaGetLastError()
 * as an int (0 = cudaSuccess). Matrices are row-major with the stated row
 * strides (ld); the math of each cell is that of src/backend/cpu/cell_*.c.
 * Internal. */
#ifndef RECUR_BACKEND_CUDA_KERNELS_H
#define RECUR_BACKEND_CUDA_KERNELS_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- moving rows ---- */

/* dst[r, :n] = src[map[r], :n] for r < rows. */
int rk_gather_rows(cudaStream_t stream, int rows, int n, const int *map, const float *src,
                   int ld_src, float *dst, int ld_dst);
/* dst[map[r], :n] = src[r, :n] for r < rows. */
int rk_scatter_rows(cudaStream_t stream, int rows, int n, const int *map, const float *src,
                    int ld_src, float *dst, int ld_dst);
/* dst[r, :n] = vec (zeros when vec is NULL) for r < rows. */
int rk_fill_rows(cudaStream_t stream, int rows, int n, const float *vec, float *dst, int ld_dst);
/* dst[r, :n] += src[r, :n]. */
int rk_add_rows(cudaStream_t stream, int rows, int n, const float *src, int ld_src, float *dst,
                int ld_dst);
/* dst[r, :n] = prev[r] >= 0 ? states[prev[r], :n] (row stride ld_states)
 *                           : init[-prev[r] - 1, :n] (dense; NULL: zeros). */
int rk_gather_previous(cudaStream_t stream, int rows, int n, const int *prev, const float *states,
                       int ld_states, const float *init, float *dst);
/* dst[i] = value, i < n. */
int rk_fill(cudaStream_t stream, size_t n, float value, float *dst);
/* dst[i] += src[i], and dst2[i] += src[i] when dst2 is not NULL, i < n. */
int rk_accumulate(cudaStream_t stream, size_t n, const float *src, float *dst, float *dst2);
/* dst[i] *= src[i], i < n. */
int rk_multiply(cudaStream_t stream, size_t n, const float *src, float *dst);
/* dst[i] = src[i] rounded to bfloat16 (to nearest even), i < n; dst holds
 * the 16-bit patterns. */
int rk_to_bf16(cudaStream_t stream, size_t n, const float *src, void *dst);

/* ---- cells: one time step of `rows` rows (see src/backend/cpu/cells.h) ----
 *
 * The forward kernels add the biases to their pre-activations when
 * bias_ih is not NULL (b_ih + b_hh, each [G*H]; GRU: b_ih to the input
 * projection gx, b_hh to the recurrent product gh): the per-step loop's
 * products leave them out. */

/* h = act(pre + biases) into h_state [rows, H] and out [rows, ld_out]. */
int rk_elman_forward(cudaStream_t stream, int rows, int H, int relu, const float *pre,
                     const float *bias_ih, const float *bias_hh, float *h_state, float *out,
                     int ld_out);
/* The backward kernels take the gradient of h as dh [rows, H] (LSTM: dm)
 * plus, when dy is not NULL, the step's output gradient dy [rows, ld_dy]. */
int rk_elman_backward(cudaStream_t stream, int rows, int H, int relu, const float *h, int ld_h,
                      const float *dh, const float *dy, int ld_dy, float *grad_pre);
/* One step of an LSTM forward's cells, rows [0, rows) of [rows, H] (gates
 * [rows, 4H]): as recur_lstm_forward, with row j's previous cell from
 * c_prev[j] for j < prev_rows and c_init[j] (zeros when NULL) for the
 * others, so that a step loop reads the cells its previous step saved in
 * place. Unless keep is 0 (a forward without gradients: neither is
 * written), the activations replace the pre-activations in gates and the
 * new cells go to c_saved; they go to c_state for the rows from state_from
 * on (those that end here keep their c_n there); m also to
 * h_state (when not NULL) for the rows from h_from on, and rounded to
 * bfloat16 into h_bf16 (when not NULL) for every row. */
typedef struct rk_lstm_step {
    float *gates; /* pre-activations in, activations out */
    const float *bias_ih, *bias_hh;
    const float *c_prev, *c_init;
    int prev_rows;
    int keep; /* what a backward reads: activations, c_saved */
    float *c_saved, *c_state;
    int state_from;
    float *m;
    int ld_m;
    float *h_state;
    int h_from;
    void *h_bf16;
} rk_lstm_step;
int rk_lstm_forward(cudaStream_t stream, int rows, int H, const rk_lstm_step *step);
/* As recur_lstm_backward, with row j's previous cell c_prev[j] for j <
 * prev_rows and c_init[j] (zeros when NULL) for the others; also grad_gates
 * [rows, 4H] rounded to bfloat16 into grad_gates_bf16 when not NULL, and
 * only there when grad_gates is NULL. */
int rk_lstm_backward(cudaStream_t stream, int rows, int H, const float *gates, const float *c,
                     const float *c_prev, int prev_rows, const float *c_init, const float *dm,
                     const float *dy, int ld_dy, float *dc, float *grad_gates,
                     void *grad_gates_bf16);
/* hn_saved gets gh's n part with b_hn, and gx the activations, unless
 * hn_saved is NULL (a forward without gradients). */
int rk_gru_forward(cudaStream_t stream, int rows, int H, float *gx, const float *gh,
                   const float *bias_ih, const float *bias_hh, float *h_state, float *hn_saved,
                   float *out, int ld_out);
/* dh [rows, H] gets the direct part z * (dh + dy) of h_prev's gradient. */
int rk_gru_backward(cudaStream_t stream, int rows, int H, const float *act, const float *hn,
                    const float *h_prev, float *dh, const float *dy, int ld_dy, float *grad_gx,
                    float *grad_gh);

/* ---- the persistent forward: all steps of one direction in one kernel ----
 *
 * For small batches (no projection): one cooperative launch of `blocks`
 * blocks, each owning `units` hidden units and keeping their rows of W_hh
 * (all gates) in shared memory for the whole sequence; per step every block
 * reads h_prev (L2), computes its gate rows (a warp takes a row of W_hh
 * against up to 4 rows of h), applies the cell to its units and writes h,
 * then the grid synchronizes. The gate math and what is saved for the
 * backward are those of the kernels above. */
typedef struct rk_persistent {
    int cell;  /* recur_cell */
    int H, G, B, T, reverse;
    int units, blocks;
    int cluster_rows; /* cluster kernels: batch rows a cluster runs (0: all B);
                         the grid is ceil(B / cluster_rows) clusters */
    int cluster_vector; /* cluster kernels: a step's exchange as 16-byte copies
                           of each block's slice (1) or single floats (0) */
    int cluster_async;  /* cluster kernels: the exchange as st.async stores
                           completing on mbarriers (1) or plain stores and the
                           cluster barrier (0) */
    size_t smem;
    const int *batch_sizes, *offsets; /* device [T]: active rows and first packed row */
    const float *weight_hh;           /* [G*H, H] */
    /* [G*H] each, or both NULL: the forward adds b_ih + b_hh (GRU: b_ih) to
     * the input projection it reads, and a GRU's b_hh to its recurrent part. */
    const float *bias_ih, *bias_hh;
    float *gates;    /* [N, G*H]: input projection in, as the step kernels out */
    const float *h0, *c0; /* the forward's initial h [B, H] and (LSTM) c [B, H]; NULL: zeros */
    float *h_a, *h_b; /* [B, H] double buffer: h_n ends in h_a if T is even, else h_b */
    /* persistent forward: [2][B, H] zeros before the launch, where h passes
     * between blocks with its step's stamp (value | stamp << 32) in place of
     * the grid barrier a step; NULL: the grid barrier */
    unsigned long long *h_flagged;
    float *c_state;  /* LSTM [B, H]: c_n out */
    float *c_saved;  /* LSTM [N, H] c_t */
    float *hidden_n; /* GRU [N, H] */
    float *y;        /* [N, ld_y] (backward: the forward's output, read) */
    int ld_y;
    /* The backward (backward = 1): block b owns the same units, keeps the
     * columns of W_hh for them ([G*H] each) and computes, per step, the gate
     * gradients of its units (the cell backward of the step kernels), then
     * after the grid barrier its units' part of dh_prev = grad_gh W_hh from all
     * of grad_gh's row (read through L2). gates above holds the activations. */
    int backward;
    const float *c_prev; /* LSTM [N, H] (c_saved above holds c_t) */
    const float *h_prev; /* GRU [N, H] */
    const float *dy;     /* [N, ld_dy] */
    int ld_dy;
    float *grad_gates;   /* [N, G*H] */
    float *grad_gh;      /* [N, G*H]: GRU's recurrent gradients, else grad_gates */
    float *dh, *dc;      /* [B, H]: grad of h_n / c_n in, of h0 / c0 out */
} rk_persistent;

/* Fills units, blocks and smem for hidden size H, G gates, batch B and the
 * pass (backward); returns 1 when that persistent kernel fits this GPU
 * (co-resident blocks, shared memory, cooperative launch), else 0. A block
 * takes ceil(H / SMs) units, at least 4, or at least n with
 * RECUR_CUDA_PERSISTENT_UNITS=n (fewer blocks meeting each step, each
 * computing more: for measurements). */
int rk_persistent_plan(rk_persistent *p);
int rk_persistent_forward(cudaStream_t stream, const rk_persistent *p);
int rk_persistent_backward(cudaStream_t stream, const rk_persistent *p);

/* The forward (backward = 0) or the backward through time (1) of an LSTM or
 * GRU layer with H <= 512 and B <= 32 on one thread-block cluster (sm_90;
 * cluster_rnn.cu): a warp per hidden unit, `units` warps a block (16 up to
 * H = 256, else 32), ceil(H / units) <= 16 blocks, W_hh in registers (and in
 * shared memory past H = 256), the step's h (forward) or recurrent gate
 * gradients (backward) exchanged through distributed shared memory (by
 * each thread's floats, or cluster_vector: by 16-byte copies of each block's
 * slice after a block barrier), one cluster barrier per step (cluster_async:
 * none, st.async stores and a wait on an mbarrier instead). The same inputs and outputs as
 * rk_persistent_forward / rk_persistent_backward. The batch may be split
 * over several independent clusters of cluster_rows rows each (<= 32; 0: one
 * cluster, B <= 32). rk_cluster_plan fills units, blocks and smem (and
 * cluster_rows, at most B) for p's cell, H, G, B, cluster_rows and backward
 * and returns 1 when it fits this GPU (shared memory limits the rows a
 * cluster past H = 256: 4 at H = 512), else 0; rk_cluster_launch runs the
 * planned kernel. */
int rk_cluster_plan(rk_persistent *p);
int rk_cluster_launch(cudaStream_t stream, const rk_persistent *p);

/* The forward of an LSTM or GRU layer at B <= 4 on one thread block
 * (block_rnn.cu): thread t takes C columns of one gate row (C from 16 to
 * 64 at up to 1024 threads, or a whole row of up to 128 at 512: the one
 * that reads the fewest weights from shared memory), its first 16 to 80
 * weights in registers and the rest in shared memory; two block barriers a
 * step and no exchange between blocks (RECUR_CUDA_BLOCK_LANES=1 or 2, H <=
 * 128: the variants of split rows, 1 or 2 rows' worth of weights a thread
 * over 8 or 16 rows, one barrier a step). The same inputs and outputs as
 * rk_persistent_forward.
 * rk_block_plan fills units (the block's threads), blocks (1) and smem for
 * p's cell, H, G and B and returns 1 when it fits this GPU (an LSTM up to
 * H = 128), else 0; rk_block_launch runs it. */
int rk_block_plan(rk_persistent *p);
int rk_block_launch(cudaStream_t stream, const rk_persistent *p);

/* The one-block forward's variant of split rows (OUT rows' worth of weights
 * a thread) taken by default, 0 for none (then its columns variants): H <=
 * RK_LANES_COLUMNS, OUT = 1 for a GRU at B <= 2 or H > 64, OUT = 2 for an
 * LSTM at B = 1 or B = 2 and H > 64 (run 15 in docs/BENCHMARKS.md, H100, T
 * = 100, forward ms against the columns variants and the cluster kernels:
 * lstm H128 B1 0.204 -> 0.144, H128 B2 0.303, 0.314 -> 0.225, gru H64 B1
 * 0.132 -> 0.087, gru H96 B3 0.265, 0.290 -> 0.211; lost at lstm H64 B2,
 * 0.177 -> 0.206, and at B >= 3 for an LSTM). Where it is not 0, the
 * one-block forward is the default kernel whatever a step's size.
 * gru: 1 for a GRU, 0 for an LSTM. */
#define RK_BLOCK_ROWS 4 /* the one-block forward's batch rows at most */
#define RK_LANES_COLUMNS 128
static inline int rk_lanes_default(int gru, int hidden, int batch)
{
    if (hidden > RK_LANES_COLUMNS || batch > RK_BLOCK_ROWS)
        return 0;
    if (gru)
        return batch <= 2 || hidden > 64 ? 1 : 0;
    return batch == 1 || (batch == 2 && hidden > 64) ? 2 : 0;
}

#ifdef __cplusplus
}
#endif

#endif
