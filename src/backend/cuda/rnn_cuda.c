/* The recurrent stack on a CUDA GPU (see rnn_cuda.h). Forward and backward
 * follow src/nn/rnn_layer.c and src/nn/rnn.c step by step, with cuBLAS for
 * the products (row-major through the usual transposition: C = op(A) op(B)
 * row-major is C^T = op(B)^T op(A)^T column-major) and the kernels of
 * kernels.cu for the gate math and the packing. All work is queued on the
 * object's stream (lane 0), which a bidirectional layer's reverse
 * direction forks from and joins back (lane 1, see cuda_lane); the
 * host-pointer calls synchronize at the end. */
#include "backend/cuda/rnn_cuda.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_util.h"
#include "backend/cuda/kernels.h"
#include "core/status.h"

/* What one direction's forward saves for its backward (device). */
typedef struct cuda_saved {
    cuda_buffer gates;    /* [N, G*H] gate activations (Elman: h) */
    cuda_buffer cell;     /* LSTM: c_t [N, H] */
    cuda_buffer proj_in;  /* LSTM with projection: m = o * tanh(c) [N, H] */
    cuda_buffer hidden_n; /* GRU: W_hn h_prev + b_hn [N, H] */
    cuda_buffer h0, c0;   /* [B, Hout], [B, H] sorted, when the forward was given them */
    const float *initial_h, *initial_c; /* h0.ptr, c0.ptr, or NULL: zeros (none given) */
} cuda_saved;

/* One direction's weights (or their gradients) in a flat buffer. */
typedef struct cuda_weights {
    const float *weight_ih, *weight_hh, *bias_ih, *bias_hh, *weight_hr;
} cuda_weights;

/* One direction's per-step loop of the forward or the backward: every
 * device pointer and setting it uses besides the plan. Zeroed before it is
 * filled, it is also the key of the loop's CUDA graph. */
typedef struct step_loop {
    int backward, group, reverse, ld_y, ld_dy;
    int no_grad; /* a forward that keeps nothing for a backward */
    recur_math math;
    uint64_t plan_generation;
    cuda_weights w;
    /* bfloat16 copies for the recurrent products (use_bf16_weights): W_hh
     * [G*H, Hout], and scratch for the rows each step multiplies by it; NULL
     * when the products read the float32 arrays. */
    void *weight_hh_bf16, *rows_bf16;
    /* The backward of an LSTM whose weight gradients take bfloat16 operands:
     * all of grad_gates [N, G*H] in bfloat16, written by the cell kernels,
     * read by each step's product and then by the weight and bias gradients'
     * (instead of the step's rows in rows_bf16 and a conversion of
     * grad_gates after the loop; the float32 grad_gates is then not
     * written); else NULL. */
    void *grad_gates_bf16;
    /* forward */
    float *gates, *h_state, *c_state, *cell, *proj_in, *hidden_n, *step, *y;
    /* An LSTM's initial cells [B, H], sorted, for rows with no previous
     * step (the others' are in cell): NULL for zeros. */
    const float *c_init;
    /* backward (also gates, cell, hidden_n, step and y, read) */
    const float *dy;
    float *dh, *dc, *grad_gates, *grad_gh, *h_prev, *grad_h;
} step_loop;

/* A persistent or one-cluster kernel's plan (rk_persistent_plan,
 * rk_cluster_plan) for the batch size `batch` (0: none yet), and whether it
 * fits the GPU. */
typedef struct kernel_plan {
    rk_persistent p;
    int batch, fits;
    int rows_asked, exchange; /* the cluster_rows and cluster_exchange it was made for */
} kernel_plan;

/* A bfloat16 copy of an operand that lasts from a forward to the end of its
 * backward (see bf16_operand), made in pass `pass`. */
typedef struct bf16_kept {
    const float *src;
    size_t count; /* floats */
    uint64_t pass;
    cuda_buffer copy;
} bf16_kept;

/* A stream, its cuBLAS handle and the scratch of one direction's forward or
 * backward. The two directions of a bidirectional layer run on two lanes at
 * once: lane 1 waits for what lane 0 queued before the layer (an event) and
 * lane 0 for lane 1's work before anything after the layer. */
typedef struct cuda_lane {
    cudaStream_t stream;
    cuda_blas blas;
    cudaEvent_t mark; /* recorded where the other lane waits */
    cuda_buffer h_alt; /* [B, H] the persistent kernel's second h buffer */
    cuda_buffer h_flagged; /* [2][B, H] 64-bit: the persistent forward's stamped h */
    cuda_buffer h_state, c_state, step, grad_gates, grad_gh, h_prev, c_prev, grad_h;
    cuda_buffer bias_sums; /* [G*H] an LSTM's or Elman's bias gradient of one backward */
    cuda_buffer weight_bf16, rows_bf16, grad_gates_bf16; /* step_loop's bfloat16 copies */
    cuda_buffer operand_bf16[3]; /* gemm's bfloat16 copies of a and b; [2] a shared_a's */
} cuda_lane;

/* A group's step-loop graphs: the forward with gradients, without, the
 * backward. */
enum { kGraphKinds = 3 };

typedef struct step_graph {
    cudaGraphExec_t exec;
    step_loop key;
} step_graph;

struct rnn_cuda {
    rnn_cuda_layout layout; /* offsets and input_sizes point at the copies below */
    size_t (*offsets)[RNN_CUDA_PARAM_KINDS];
    int *input_sizes;
    int layers, groups;
    float *params, *grads; /* device [param_total] */
    cuda_lane lanes[2];    /* [1] made for two directions only (use_two_lanes) */
    cuda_lane *lane;       /* the one the work queued now goes to */
    recur_math math;

    /* The packing of the last forward, on the device: */
    cuda_buffer map;     /* int [N]: packed row -> row of the [T*B] (or [B*T]) layout */
    int map_identity;    /* map[r] == r for every row of [T*B]: copies instead of gathers */
    cuda_buffer order;   /* int [B]: sorted position -> caller's batch index */
    cuda_buffer prev[2]; /* int [N] per direction: packed row of the previous step, or -(j+1) */
    cuda_buffer steps;   /* int [2T]: batch_sizes, then offsets (the persistent kernel) */
    int *host_ints;      /* staging for the three above */
    size_t host_ints_count;
    recur_pack_plan plan; /* host copy of the last forward's plan */
    int plan_on_device;   /* the arrays above hold `plan` (the next forward with the
                           * same plan skips the upload and its wait) */
    uint64_t plan_generation; /* counts the uploads of a new plan */

    /* CUDA graphs of the per-step loops, [group * kGraphKinds + kind], each valid
     * for the step_loop it was captured from (RECUR_CUDA_GRAPHS=0: none). */
    int graphs_enabled;
    step_graph *graphs;

    int have_forward;  /* the last forward kept what a backward reads */
    int forward_keeps; /* the forward running now keeps it (rnn_cuda_forward's keep) */
    int dropout; /* the last forward used dropout masks */
    cuda_saved *saved;        /* [groups] */
    cuda_buffer *layer_output; /* [L] each [N, D*Hout] */
    cuda_buffer *drop_mask;    /* [L] each [N, D*Hout] */
    cuda_buffer *drop_output;  /* [L] each [N, D*Hout] */
    cuda_buffer input_packed;  /* [N, I] */
    /* Layer 0's input [N, I] in packed order: input_packed, or where the
     * packing is the identity the caller's input in place (which the
     * backward reads again, as PyTorch's autograd keeps it). */
    const float *input;
    cuda_buffer grad_a, grad_b; /* [N, max(I, D*Hout)] */

    /* The plans ([0] forward, [1] backward) of the persistent kernels and of
     * the one-cluster kernels (kernel_plan). */
    kernel_plan persist[2], cluster[2];
    kernel_plan block; /* the one-block forward's (rk_block_plan) */

    cuda_buffer ones;      /* [N] ones, for column sums */
    cuda_buffer ones_bf16; /* [N] ones in bfloat16, for column sums of bfloat16 arrays */
    bf16_kept *kept;  /* [kept_count]: per group W_ih, W_hh (and W_hr); per layer its input */
    int kept_count;
    uint64_t pass;    /* counts the forwards and parameter uploads (bf16_kept.pass) */

    /* The host-pointer calls' device copies of their arguments. */
    cuda_buffer io_input, io_output, io_h0, io_c0, io_hn, io_cn, io_grad_input;
    float *host_grads; /* [param_total] host scratch */
};

#define TRY_CUDA(expr, what) RECUR_TRY(cuda_check((int)(expr), what))
#define TRY_KERNEL(expr) RECUR_TRY(cuda_check((expr), #expr))

/* Whether environment variable name turns a default-on choice off ("0"). */
static int env_on(const char *name)
{
    const char *value = getenv(name);
    return !(value && value[0] == '0');
}

/* A kernel choice's switch (RECUR_CUDA_PERSISTENT, _CLUSTER, _BLOCK): 0
 * never, 1 whenever the kernels fit, anything else (unset) where they were
 * measured to win (RECUR_CUDA_PERSISTENT_FLAGS, not yet measured: 1 or
 * never). */
typedef enum { KERNEL_NEVER, KERNEL_FORCED, KERNEL_MEASURED } kernel_switch;

static kernel_switch kernel_switch_of(const char *name)
{
    const char *value = getenv(name);
    return value && value[0] == '0' ? KERNEL_NEVER
           : value && value[0] == '1' ? KERNEL_FORCED
                                      : KERNEL_MEASURED;
}

/* Whether the environment names the variable at all (set and not empty). */
static int env_set(const char *name)
{
    const char *value = getenv(name);
    return value && value[0];
}

/* Whether gemm converts its operands to bfloat16 first and multiplies them
 * as such (RECUR_MATH_BF16; on unless RECUR_CUDA_BF16_OPERANDS=0): for
 * products of at least 2^33 multiply-adds (input projections and weight
 * gradients of large layers, where the conversion's pass over the operands
 * is small beside the product; =all: every product, for the tests), outside
 * stream capture (the copies may need memory). cuBLAS's bf16 mode otherwise
 * reads float32 operands and rounds them as it loads them; the products are
 * the same (inputs rounded to bfloat16, float32 sums). Measured on an H100
 * (run 12 in docs/BENCHMARKS.md): lstm-h2048-b128-t100 4.30 -> 3.63 ms
 * forward, 12.93 -> 10.60 ms training. */
static int use_bf16_operands(const rnn_cuda *cu, int m, int n, int k)
{
    if (cu->math != RECUR_MATH_BF16)
        return 0; /* float32 and tf32 products: no lookup on their way */
    const char *env = getenv("RECUR_CUDA_BF16_OPERANDS");
    if ((env && env[0] == '0') ||
        (!(env && !strcmp(env, "all")) && (double)m * n * k < 8589934592.0))
        return 0;
    enum cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    return cudaStreamIsCapturing(cu->lane->stream, &capturing) == cudaSuccess &&
           capturing == cudaStreamCaptureStatusNone;
}

/* The floats of rows rows of ld floats, the last with cols. */
static size_t strided_count(int rows, int cols, int ld)
{
    return (size_t)(rows - 1) * (size_t)ld + (size_t)cols;
}

/* x's bfloat16 copy in *copy: rows of ld floats, the last with cols. */
static recur_status bf16_copy(rnn_cuda *cu, cuda_buffer *copy, const float *x, int rows, int cols,
                              int ld, void **out)
{
    const size_t count = strided_count(rows, cols, ld), bf16 = 2; /* bytes */
    RECUR_TRY(cuda_buffer_reserve(copy, bf16 * count));
    TRY_KERNEL(rk_to_bf16(cu->lane->stream, count, x, copy->ptr));
    *out = copy->ptr;
    return RECUR_OK;
}

static const float *layer_input(const rnn_cuda *cu, int layer);

/* Whether x stays unchanged from a forward to the end of its backward: a
 * parameter (the caller updates them between passes, not within one) or a
 * layer's input (saved for the backward). */
static int lasts_the_pass(const rnn_cuda *cu, const float *x)
{
    const uintptr_t at = (uintptr_t)x, params = (uintptr_t)cu->params;
    if (at >= params && at < params + sizeof(float) * cu->layout.param_total)
        return 1;
    for (int l = 0; l < cu->layers; l++)
        if (x == layer_input(cu, l))
            return 1;
    return 0;
}

/* x's bfloat16 copy (as bf16_copy): when x lasts the pass, the copy this
 * forward or its backward made already, or a new one kept for the rest of
 * the pass (a bf16 backward reads W_ih, W_hh and each layer's input again,
 * 0.19 ms of conversions at lstm-h2048-b128-t100); else a fresh one in
 * *scratch. */
static recur_status bf16_operand(rnn_cuda *cu, cuda_buffer *scratch, const float *x, int rows,
                                 int cols, int ld, void **out)
{
    if (!lasts_the_pass(cu, x))
        return bf16_copy(cu, scratch, x, rows, cols, ld, out);
    const size_t count = strided_count(rows, cols, ld);
    bf16_kept *slot = NULL; /* x's of an earlier pass, else a free one */
    for (int i = 0; i < cu->kept_count; i++) {
        bf16_kept *k = &cu->kept[i];
        if (k->src == x && k->count == count) {
            if (k->pass == cu->pass) { /* made in this pass already */
                *out = k->copy.ptr;
                return RECUR_OK;
            }
            slot = k;
            break;
        }
        if (!slot && k->pass != cu->pass)
            slot = k;
    }
    if (!slot) /* not reached: every lasting operand of a pass has a slot */
        return bf16_copy(cu, scratch, x, rows, cols, ld, out);
    RECUR_TRY(bf16_copy(cu, &slot->copy, x, rows, cols, ld, out));
    slot->src = x, slot->count = count, slot->pass = cu->pass;
    return RECUR_OK;
}

/* An operand a that several products in a row read unchanged (the
 * backward's grad_gates): its bfloat16 copy, made by the first of them that
 * converts its operands and read by the others. Starts zeroed. */
typedef struct shared_operand {
    void *copy; /* in operand_bf16[2], or NULL until made */
} shared_operand;

/* c = alpha op(a) op(b) + beta c, in cuBLAS's column-major terms; shared_a
 * (or NULL) keeps a's bfloat16 copy for the next products with that a. A
 * copy made before (shared_a->copy) is read whatever the product's size:
 * its float32 a may not exist (see backward_steps). */
static recur_status gemm_shared_a(rnn_cuda *cu, shared_operand *shared_a, int trans_a,
                                  int trans_b, int m, int n, int k, float alpha, const float *a,
                                  int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m > 0 && n > 0 && k > 0 &&
        ((shared_a && shared_a->copy) || use_bf16_operands(cu, m, n, k))) {
        void *a16 = shared_a ? shared_a->copy : NULL, *b16;
        if (!a16) {
            RECUR_TRY(bf16_operand(cu, &cu->lane->operand_bf16[shared_a ? 2 : 0], a,
                                   trans_a ? k : m, trans_a ? m : k, lda, &a16));
            if (shared_a)
                shared_a->copy = a16;
        }
        RECUR_TRY(bf16_operand(cu, &cu->lane->operand_bf16[1], b, trans_b ? n : k,
                               trans_b ? k : n, ldb, &b16));
        return cuda_gemm_bf16(&cu->lane->blas, trans_a, trans_b, m, n, k, alpha, a16, lda, b16,
                              ldb, beta, c, ldc);
    }
    return cuda_gemm(&cu->lane->blas, cu->math, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb,
                     beta, c, ldc);
}

static recur_status gemm(rnn_cuda *cu, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc)
{
    return gemm_shared_a(cu, NULL, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                         ldc);
}

/* y[n] = column sums of a[m, n] + beta y: a in float32, or (a16 not NULL)
 * its bfloat16 copy, summed in float32. */
static recur_status column_sums(rnn_cuda *cu, int m, int n, const float *a, const void *a16,
                                float beta, float *y)
{
    if (a16)
        return cuda_gemm_bf16(&cu->lane->blas, 0, 0, 1, n, m, 1.0f, cu->ones_bf16.ptr, m, a16, n,
                              beta, y, n);
    return cuda_column_sums(&cu->lane->blas, m, n, a, (const float *)cu->ones.ptr, beta, y);
}

static recur_status copy_rows_async(rnn_cuda *cu, int rows, int n, const float *src, int ld_src,
                                    float *dst, int ld_dst)
{
    if (rows == 0)
        return RECUR_OK;
    TRY_CUDA(cudaMemcpy2DAsync(dst, sizeof(float) * (size_t)ld_dst, src,
                               sizeof(float) * (size_t)ld_src, sizeof(float) * (size_t)n,
                               (size_t)rows, cudaMemcpyDeviceToDevice, cu->lane->stream),
             "cudaMemcpy2DAsync");
    return RECUR_OK;
}

static recur_status zero_async(rnn_cuda *cu, void *dst, size_t bytes)
{
    TRY_CUDA(cudaMemsetAsync(dst, 0, bytes, cu->lane->stream), "cudaMemsetAsync");
    return RECUR_OK;
}

/* dst[count] = src[count], or zeros when src is NULL. */
static recur_status copy_or_zero(rnn_cuda *cu, float *dst, const float *src, size_t count)
{
    if (!src)
        return zero_async(cu, dst, sizeof(float) * count);
    TRY_CUDA(cudaMemcpyAsync(dst, src, sizeof(float) * count, cudaMemcpyDeviceToDevice,
                             cu->lane->stream),
             "cudaMemcpyAsync");
    return RECUR_OK;
}

#define FLT(buffer) ((float *)(buffer).ptr)
#define INTS(buffer) ((int *)(buffer).ptr)

/* ---- lanes ---- */

/* Whether a bidirectional stack runs its two directions on two lanes at
 * once (unless RECUR_CUDA_TWO_STREAMS=0): a direction's step loop is a
 * chain of small kernels or one kernel on a few SMs, which leaves most of
 * the GPU to the other direction. */
static int use_two_lanes(const rnn_cuda_layout *layout)
{
    return layout->directions == 2 && env_on("RECUR_CUDA_TWO_STREAMS");
}

static recur_status lane_open(cuda_lane *lane)
{
    RECUR_TRY(cuda_check((int)cudaStreamCreate(&lane->stream), "cudaStreamCreate"));
    RECUR_TRY(cuda_check((int)cudaEventCreateWithFlags(&lane->mark, cudaEventDisableTiming),
                         "cudaEventCreateWithFlags"));
    return cuda_blas_open(&lane->blas, lane->stream);
}

static void lane_close(cuda_lane *lane)
{
    cuda_buffer *bufs[] = {&lane->h_alt,       &lane->h_flagged,   &lane->h_state,
                           &lane->c_state,     &lane->step,        &lane->grad_gates,
                           &lane->grad_gh,     &lane->h_prev,      &lane->c_prev,
                           &lane->grad_h,      &lane->bias_sums,   &lane->weight_bf16,
                           &lane->rows_bf16,   &lane->grad_gates_bf16, &lane->operand_bf16[0],
                           &lane->operand_bf16[1], &lane->operand_bf16[2]};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        cuda_buffer_release(bufs[i]);
    cuda_blas_close(&lane->blas);
    if (lane->mark)
        cudaEventDestroy(lane->mark);
    if (lane->stream)
        cudaStreamDestroy(lane->stream);
}

/* Queues on lane `to` a wait for what lane `from` queued so far. */
static recur_status lane_wait(rnn_cuda *cu, int to, int from)
{
    TRY_CUDA(cudaEventRecord(cu->lanes[from].mark, cu->lanes[from].stream), "cudaEventRecord");
    TRY_CUDA(cudaStreamWaitEvent(cu->lanes[to].stream, cu->lanes[from].mark, 0),
             "cudaStreamWaitEvent");
    return RECUR_OK;
}

/* The lane direction d of a layer runs on: its own, or lane 0 for all. */
static cuda_lane *lane_of(rnn_cuda *cu, int d)
{
    return cu->lanes[1].stream ? &cu->lanes[d] : &cu->lanes[0];
}

/* Lane 1 waits for lane 0 before a layer's directions are queued (fork). */
static recur_status lanes_fork(rnn_cuda *cu)
{
    return cu->lanes[1].stream ? lane_wait(cu, 1, 0) : RECUR_OK;
}

/* Lane 0 waits for lane 1 once they are (join); the work queued next goes
 * to lane 0. */
static recur_status lanes_join(rnn_cuda *cu)
{
    cu->lane = &cu->lanes[0];
    return cu->lanes[1].stream ? lane_wait(cu, 0, 1) : RECUR_OK;
}

/* ---- creation ---- */

recur_status rnn_cuda_create(const rnn_cuda_layout *layout, const float *values, rnn_cuda **out)
{
    *out = NULL;
    RECUR_TRY(cuda_require_device());
    rnn_cuda *cu = calloc(1, sizeof *cu);
    if (!cu)
        return recur_fail(RECUR_E_NOMEM, "out of memory creating the CUDA stack");
    cu->layout = *layout;
    cu->layers = layout->config.num_layers;
    cu->groups = cu->layers * layout->directions;
    cu->offsets = calloc((size_t)cu->groups, sizeof *cu->offsets);
    cu->input_sizes = calloc((size_t)cu->groups, sizeof *cu->input_sizes);
    cu->saved = calloc((size_t)cu->groups, sizeof *cu->saved);
    cu->layer_output = calloc((size_t)cu->layers, sizeof *cu->layer_output);
    cu->drop_mask = calloc((size_t)cu->layers, sizeof *cu->drop_mask);
    cu->drop_output = calloc((size_t)cu->layers, sizeof *cu->drop_output);
    cu->graphs = calloc((size_t)cu->groups * kGraphKinds, sizeof *cu->graphs);
    cu->kept_count = (layout->dims.proj ? 3 : 2) * cu->groups + cu->layers;
    cu->kept = calloc((size_t)cu->kept_count, sizeof *cu->kept);
    cu->graphs_enabled = env_on("RECUR_CUDA_GRAPHS");
    cu->host_grads = malloc(sizeof(float) * (layout->param_total ? layout->param_total : 1));
    if (!cu->offsets || !cu->input_sizes || !cu->saved || !cu->layer_output || !cu->drop_mask ||
        !cu->drop_output || !cu->graphs || !cu->kept || !cu->host_grads) {
        rnn_cuda_free(cu);
        return recur_fail(RECUR_E_NOMEM, "out of memory creating the CUDA stack");
    }
    memcpy(cu->offsets, layout->offsets, sizeof *cu->offsets * (size_t)cu->groups);
    memcpy(cu->input_sizes, layout->input_sizes, sizeof *cu->input_sizes * (size_t)cu->groups);
    cu->layout.offsets = (const size_t(*)[RNN_CUDA_PARAM_KINDS])cu->offsets;
    cu->layout.input_sizes = cu->input_sizes;

    const size_t bytes = sizeof(float) * layout->param_total;
    cu->lane = &cu->lanes[0];
    recur_status st = lane_open(&cu->lanes[0]);
    if (st == RECUR_OK && use_two_lanes(layout))
        st = lane_open(&cu->lanes[1]);
    if (st == RECUR_OK)
        st = rnn_cuda_set_math(cu, RECUR_MATH_FP32);
    if (st == RECUR_OK)
        st = cuda_check((int)cudaMalloc((void **)&cu->params, bytes), "cudaMalloc (parameters)");
    if (st == RECUR_OK)
        st = cuda_check((int)cudaMalloc((void **)&cu->grads, bytes), "cudaMalloc (gradients)");
    if (st == RECUR_OK)
        st = rnn_cuda_upload_params(cu, values);
    if (st == RECUR_OK)
        st = rnn_cuda_zero_grad(cu);
    if (st == RECUR_OK)
        st = cuda_check((int)cudaStreamSynchronize(cu->lane->stream), "cudaStreamSynchronize");
    if (st != RECUR_OK) {
        rnn_cuda_free(cu);
        return st;
    }
    *out = cu;
    return RECUR_OK;
}

void rnn_cuda_free(rnn_cuda *cu)
{
    if (!cu)
        return;
    if (cu->lanes[0].stream)
        cudaStreamSynchronize(cu->lanes[0].stream);
    for (int g = 0; cu->saved && g < cu->groups; g++) {
        cuda_saved *s = &cu->saved[g];
        cuda_buffer *bufs[] = {&s->gates, &s->cell, &s->proj_in, &s->hidden_n, &s->h0, &s->c0};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            cuda_buffer_release(bufs[i]);
    }
    for (int l = 0; l < cu->layers; l++) {
        if (cu->layer_output)
            cuda_buffer_release(&cu->layer_output[l]);
        if (cu->drop_mask)
            cuda_buffer_release(&cu->drop_mask[l]);
        if (cu->drop_output)
            cuda_buffer_release(&cu->drop_output[l]);
    }
    cuda_buffer *bufs[] = {&cu->steps,     &cu->map,        &cu->order,     &cu->prev[0],
                           &cu->prev[1],   &cu->input_packed, &cu->grad_a,  &cu->grad_b,
                           &cu->ones,      &cu->ones_bf16,  &cu->io_input,  &cu->io_output,
                           &cu->io_h0,     &cu->io_c0,      &cu->io_hn,     &cu->io_cn,
                           &cu->io_grad_input};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        cuda_buffer_release(bufs[i]);
    for (int i = 0; cu->kept && i < cu->kept_count; i++)
        cuda_buffer_release(&cu->kept[i].copy);
    free(cu->kept);
    for (int i = 0; cu->graphs && i < cu->groups * kGraphKinds; i++)
        if (cu->graphs[i].exec)
            cudaGraphExecDestroy(cu->graphs[i].exec);
    free(cu->graphs);
    cudaFree(cu->params);
    cudaFree(cu->grads);
    lane_close(&cu->lanes[1]);
    lane_close(&cu->lanes[0]);
    recur_pack_plan_free(&cu->plan);
    free(cu->host_ints);
    free(cu->host_grads);
    free(cu->saved);
    free(cu->layer_output);
    free(cu->drop_mask);
    free(cu->drop_output);
    free(cu->offsets);
    free(cu->input_sizes);
    free(cu);
}

recur_status rnn_cuda_set_math(rnn_cuda *cu, recur_math math)
{
    if (math != RECUR_MATH_FP32 && math != RECUR_MATH_TF32 && math != RECUR_MATH_BF16)
        return recur_fail(RECUR_E_INVALID, "unknown math mode %d", (int)math);
    cu->math = math;
    for (int i = 0; i < 2; i++) {
        const cuda_blas *blas = &cu->lanes[i].blas;
        if (blas->handle)
            RECUR_TRY(cuda_blas_check(
                blas->set_math_mode(blas->handle, math == RECUR_MATH_TF32
                                                      ? CUBLAS_TF32_TENSOR_OP_MATH
                                                      : CUBLAS_DEFAULT_MATH),
                "set math mode"));
    }
    return RECUR_OK;
}

float *rnn_cuda_params(rnn_cuda *cu) { return cu->params; }
float *rnn_cuda_grads(rnn_cuda *cu) { return cu->grads; }

recur_status rnn_cuda_upload_params(rnn_cuda *cu, const float *values)
{
    cu->pass++; /* the kept bfloat16 copies of the weights are stale */
    TRY_CUDA(cudaMemcpyAsync(cu->params, values, sizeof(float) * cu->layout.param_total,
                             cudaMemcpyHostToDevice, cu->lane->stream),
             "cudaMemcpyAsync (parameters)");
    return RECUR_OK;
}

recur_status rnn_cuda_download(rnn_cuda *cu, float *values, float *grads)
{
    const size_t bytes = sizeof(float) * cu->layout.param_total;
    if (values)
        TRY_CUDA(cudaMemcpyAsync(values, cu->params, bytes, cudaMemcpyDeviceToHost,
                                 cu->lane->stream),
                 "cudaMemcpyAsync (parameters)");
    if (grads)
        TRY_CUDA(cudaMemcpyAsync(grads, cu->grads, bytes, cudaMemcpyDeviceToHost, cu->lane->stream),
                 "cudaMemcpyAsync (gradients)");
    TRY_CUDA(cudaStreamSynchronize(cu->lane->stream), "cudaStreamSynchronize");
    return RECUR_OK;
}

recur_status rnn_cuda_zero_grad(rnn_cuda *cu)
{
    return zero_async(cu, cu->grads, sizeof(float) * cu->layout.param_total);
}

/* ---- one direction ---- */

static const float *param_at(const float *base, size_t offset)
{
    return offset == RNN_CUDA_ABSENT ? NULL : base + offset;
}

static cuda_weights weights_of(const rnn_cuda *cu, int group, const float *base)
{
    const size_t *o = cu->offsets[group];
    cuda_weights w = {param_at(base, o[RNN_CUDA_WEIGHT_IH]), param_at(base, o[RNN_CUDA_WEIGHT_HH]),
                      param_at(base, o[RNN_CUDA_BIAS_IH]), param_at(base, o[RNN_CUDA_BIAS_HH]),
                      param_at(base, o[RNN_CUDA_WEIGHT_HR])};
    return w;
}

static int forward_step(const recur_pack_plan *plan, int reverse, int s)
{
    return reverse ? plan->seq_len - 1 - s : s;
}

/* Whether plan (made again by make when the batch size or what is asked
 * changed) fits the GPU for this direction of the pass (backward 0 or 1);
 * cluster_rows: the batch rows a cluster runs, for rk_cluster_plan (0: all);
 * exchange: its exchange between blocks, cluster_exchange's bits. */
static int plan_fits(rnn_cuda *cu, kernel_plan *plan, int backward,
                     int (*make)(rk_persistent *), int cluster_rows, int exchange)
{
    if (plan->batch != cu->plan.batch || plan->rows_asked != cluster_rows ||
        plan->exchange != exchange) {
        const rnn_dims *dims = &cu->layout.dims;
        rk_persistent *p = &plan->p;
        memset(p, 0, sizeof *p);
        p->cell = (int)dims->cell;
        p->H = dims->hidden;
        p->G = dims->gates;
        p->B = cu->plan.batch;
        p->backward = backward;
        p->cluster_rows = cluster_rows;
        p->cluster_vector = exchange & 1;
        p->cluster_async = exchange >> 1 & 1;
        plan->fits = make(p);
        plan->batch = cu->plan.batch;
        plan->rows_asked = cluster_rows, plan->exchange = exchange;
    }
    return plan->fits;
}

/* Whether this forward (backward 0) or backward (1) runs its steps in the
 * persistent kernel: no projection, and the plan fits the GPU;
 * RECUR_CUDA_PERSISTENT=0 never, =1 whenever it fits, unset when the per-step
 * work of a block is small (a block's dot products read W and h from shared
 * memory, which limits it). */
static int use_persistent(rnn_cuda *cu, int backward)
{
    const kernel_switch choice = kernel_switch_of("RECUR_CUDA_PERSISTENT");
    if (cu->layout.dims.proj || choice == KERNEL_NEVER ||
        !plan_fits(cu, &cu->persist[backward], backward, rk_persistent_plan, 0, 0))
        return 0;
    const rk_persistent *p = &cu->persist[backward].p;
    if (choice == KERNEL_FORCED)
        return 1;
    /* Measured on an H100: 32768 multiply-adds per block and step (lstm
     * H512 B4) gain 1.7x over the per-step kernels, 65536 (H256 B16) lose. */
    return (double)p->B * p->G * p->units * p->H <= 32768.0;
}

/* The cluster kernels' exchange between blocks, both on unless set to 0:
 * bit 0 RECUR_CUDA_CLUSTER_VECTOR, a step's values in 16-byte copies of each
 * block's slice (rk_persistent.cluster_vector); bit 1 RECUR_CUDA_CLUSTER_ASYNC,
 * st.async stores completing on mbarriers in place of the cluster barrier
 * (cluster_async). Measured on an H100 (run 12 in docs/BENCHMARKS.md, T = 100,
 * clusters of 4 rows): lstm H256 B16 0.49 -> 0.39 ms forward, 1.43 -> 0.95 ms
 * training; lstm H128 B1 0.25 -> 0.22 and 0.57 -> 0.45 ms. */
static int cluster_exchange(void)
{
    return env_on("RECUR_CUDA_CLUSTER_VECTOR") | env_on("RECUR_CUDA_CLUSTER_ASYNC") << 1;
}

/* Whether this forward (backward 0) or backward (1) runs its steps on
 * thread-block clusters (rk_cluster_launch: LSTM or GRU, H <= 512, sm_90):
 * RECUR_CUDA_CLUSTER=0 never, =1 whenever it fits; unset, where it was faster
 * than the persistent and per-step kernels on an H100 (run 12 in
 * docs/BENCHMARKS.md, T = 100, both passes): H <= 256, B <= 64 and H * B <=
 * 8192 (lstm H256 B32 1.04 -> 0.72 ms forward, 2.24 -> 1.73 ms training; H64
 * B32 1.01 -> 0.28 and 2.00 -> 0.57 ms; H128 B64 0.78 -> 0.53 and 1.96 ->
 * 1.29 ms; H256 B64 even, H384 and H512 lost to the persistent kernel at
 * B = 1 and to the per-step kernels from B = 32). Never with
 * RECUR_CUDA_PERSISTENT=0, nor when it is set and this is unset. */
static int use_cluster(rnn_cuda *cu, int backward)
{
    const rnn_dims *dims = &cu->layout.dims;
    const kernel_switch choice = kernel_switch_of("RECUR_CUDA_CLUSTER");
    const double hidden_x_batch = (double)dims->hidden * cu->plan.batch;
    if (dims->proj || choice == KERNEL_NEVER ||
        kernel_switch_of("RECUR_CUDA_PERSISTENT") == KERNEL_NEVER)
        return 0;
    if (choice == KERNEL_MEASURED && (env_set("RECUR_CUDA_PERSISTENT") || dims->hidden > 256 ||
                                      cu->plan.batch > 64 || hidden_x_batch > 8192))
        return 0;
    /* RECUR_CUDA_CLUSTER_ROWS=n (1 to 32): the batch split over clusters of n
     * rows; =0: one cluster (B <= 32); unset: 4 rows, the fastest on an H100
     * from B = 4 up (run 12: lstm H128 B32 1.20 -> 0.28 ms forward with the
     * exchange above, against one cluster). */
    const char *rows_env = getenv("RECUR_CUDA_CLUSTER_ROWS");
    const int rows = rows_env ? atoi(rows_env) : 4;
    return plan_fits(cu, &cu->cluster[backward], backward, rk_cluster_plan,
                     rows >= 1 && rows <= 32 ? rows : 0, cluster_exchange());
}

/* Whether this forward runs its steps on one thread block (rk_block_launch:
 * LSTM or GRU, B <= 4, H <= 128 for an LSTM): RECUR_CUDA_BLOCK=0 never, =1
 * whenever it fits; unset, where it fits and a step is at most 65536
 * multiply-adds (B * G * H * H), where it beat the cluster kernels on an
 * H100 (run 14 in docs/BENCHMARKS.md, T = 100, forward ms): lstm H64 B1
 * 0.264 -> 0.158, H96 B1 0.271 -> 0.235, H128 B1 0.255 -> 0.240, gru H128
 * B1 0.248 -> 0.191, gru H64 B4 0.440 -> 0.165; lstm H128 B2 even (0.306,
 * 0.300), lstm H128 B4 lost (0.324 -> 0.468). It trades the cluster
 * kernels' exchange through distributed shared memory and their cluster
 * barrier a step for two block barriers and more products a thread, part of
 * W_hh read from shared memory every step. Also, whatever a step's size,
 * where it takes a variant of split rows (rk_lanes_default; run 15: lstm
 * H128 B2 0.314 -> 0.225 ms, gru H96 B3 0.290 -> 0.211). Unset, never where
 * RECUR_CUDA_PERSISTENT or RECUR_CUDA_CLUSTER picks the kernels. */
static int use_block(rnn_cuda *cu)
{
    const rnn_dims *dims = &cu->layout.dims;
    const kernel_switch choice = kernel_switch_of("RECUR_CUDA_BLOCK");
    if (dims->proj || choice == KERNEL_NEVER)
        return 0;
    const int lanes = rk_lanes_default(dims->cell == RECUR_GRU, dims->hidden, cu->plan.batch);
    if (choice == KERNEL_MEASURED &&
        (env_set("RECUR_CUDA_PERSISTENT") || env_set("RECUR_CUDA_CLUSTER") ||
         (!lanes &&
          (double)cu->plan.batch * dims->gates * dims->hidden * dims->hidden > 65536.0)))
        return 0;
    return plan_fits(cu, &cu->block, 0, rk_block_plan, 0, 0);
}

/* Whether the per-step products with W_hh read bfloat16 copies of W_hh and
 * of the rows (RECUR_MATH_BF16 only). cuBLAS's bf16 mode otherwise reads the
 * float32 W_hh every step: twice the bytes, and from memory rather than L2
 * once W_hh passes about half of an H100's L2 (lstm-h2048-b128-t100 runs at
 * 0.56x cuDNN in bf16, docs/BENCHMARKS.md). The products are the same
 * (inputs rounded to bfloat16, float32 sums). On unless
 * RECUR_CUDA_BF16_WEIGHTS=0: on an H100 (run 9) lstm-h2048-b128-t100 went
 * from 5.82 to 4.31 ms forward and 16.2 to 13.0 ms training, lstm-h1024-b64
 * from 1.38 to 1.21 and 3.68 to 3.42 ms. */
static int use_bf16_weights(const rnn_cuda *cu)
{
    return cu->math == RECUR_MATH_BF16 && env_on("RECUR_CUDA_BF16_WEIGHTS");
}

/* Fills L's bfloat16 copies when use_bf16_weights: W_hh converted now, on the
 * stream (in the forward; its backward reads the same copy, bf16_operand),
 * and scratch for rows of up to max(G*H, Hout) columns. Before the step loop
 * runs or is captured. */
static recur_status prepare_bf16_weights(rnn_cuda *cu, step_loop *L)
{
    if (!use_bf16_weights(cu))
        return RECUR_OK;
    const rnn_dims *dims = &cu->layout.dims;
    const size_t GH = (size_t)dims->gates * dims->hidden, Hout = (size_t)dims->out;
    const size_t B = (size_t)cu->plan.batch, bf16 = 2; /* bytes */
    RECUR_TRY(cuda_buffer_reserve(&cu->lane->rows_bf16, bf16 * B * (GH > Hout ? GH : Hout)));
    RECUR_TRY(bf16_operand(cu, &cu->lane->weight_bf16, L->w.weight_hh, (int)GH, (int)Hout,
                           (int)Hout, &L->weight_hh_bf16));
    L->rows_bf16 = cu->lane->rows_bf16.ptr;
    return RECUR_OK;
}

/* c[rows, n] = a[rows, k] W_hh^T (forward: trans_b 1, k = Hout, n = G*H) or
 * a W_hh (backward: trans_b 0, k = G*H, n = Hout), plus beta c: one step's
 * recurrent product, from L's bfloat16 copies when it has them (a16: a's
 * rows already in bfloat16, written by the LSTM cell kernels; NULL: a is
 * converted into L->rows_bf16 first). */
static recur_status recurrent_gemm(rnn_cuda *cu, const step_loop *L, int trans_b, int rows, int n,
                                   int k, const float *a, const void *a16, float beta, float *c,
                                   int ldc)
{
    const int Hout = cu->layout.dims.out;
    if (!L->weight_hh_bf16)
        return gemm(cu, 0, trans_b, rows, n, k, 1.0f, a, k, L->w.weight_hh, Hout, beta, c, ldc);
    if (!a16) {
        TRY_KERNEL(rk_to_bf16(cu->lane->stream, (size_t)rows * k, a, L->rows_bf16));
        a16 = L->rows_bf16;
    }
    return cuda_gemm_bf16(&cu->lane->blas, 0, trans_b, rows, n, k, 1.0f, a16, k, L->weight_hh_bf16,
                          Hout, beta, c, ldc);
}

/* An LSTM step loop's cells [rows, H] before time step t, read in place by
 * the cell kernels: the first rows of the adjacent step's saved ones in
 * L->cell (the step before t walking forward, after it walking back; the
 * packing sorts by length), *prev_rows of them (the rest take L->c_init);
 * none at the walk's first step. */
static const float *previous_cells(const recur_pack_plan *plan, const step_loop *L, int t,
                                   int rows, int H, int *prev_rows)
{
    const int adjacent = L->reverse ? t + 1 : t - 1;
    *prev_rows = 0;
    if (adjacent < 0 || adjacent >= plan->seq_len)
        return NULL;
    *prev_rows = plan->batch_sizes[adjacent] < rows ? plan->batch_sizes[adjacent] : rows;
    return L->cell + plan->offsets[adjacent] * (size_t)H;
}

/* The forward's steps, one GEMM and one gate kernel each (see step_loop). */
static recur_status forward_steps(rnn_cuda *cu, const step_loop *L)
{
    const rnn_dims *dims = &cu->layout.dims;
    const recur_pack_plan *plan = &cu->plan;
    const int H = dims->hidden, Hout = dims->out, GH = dims->gates * dims->hidden;
    const int relu = dims->cell == RECUR_RNN_RELU, ld_y = L->ld_y;
    const cuda_weights w = L->w;
    float *gates = L->gates, *h_state = L->h_state, *c_state = L->c_state;
    /* bf16 W_hh, LSTM without projection: the cell kernel also writes the
     * bfloat16 h that the next step's product reads (every row from the
     * start, so that rows joining a reverse walk have theirs). */
    void *h_bf16 = dims->cell == RECUR_LSTM && !dims->proj ? L->rows_bf16 : NULL;
    if (h_bf16)
        TRY_KERNEL(rk_to_bf16(cu->lane->stream, (size_t)plan->batch * Hout, h_state, h_bf16));

    for (int s = 0; s < plan->seq_len; s++) {
        const int t = forward_step(plan, L->reverse, s);
        const int rows = plan->batch_sizes[t];
        const size_t row0 = plan->offsets[t];
        float *gates_t = gates + row0 * (size_t)GH;
        float *y_t = L->y + row0 * (size_t)ld_y;
        switch (dims->cell) {
        case RECUR_RNN_TANH:
        case RECUR_RNN_RELU:
            RECUR_TRY(recurrent_gemm(cu, L, 1, rows, GH, Hout, h_state, NULL, 1.0f, gates_t,
                                     GH));
            TRY_KERNEL(rk_elman_forward(cu->lane->stream, rows, H, relu, gates_t, w.bias_ih,
                                        w.bias_hh, h_state, y_t, ld_y));
            break;
        case RECUR_LSTM: {
            RECUR_TRY(recurrent_gemm(cu, L, 1, rows, GH, Hout, h_state, h_bf16, 1.0f, gates_t,
                                     GH));
            /* The previous cells in place (previous_cells); c_state holds
             * only the rows that end here (the next step lacks them), so
             * does h_state where the products read h_bf16. */
            rk_lstm_step step = {gates_t, w.bias_ih, w.bias_hh, NULL, L->c_init, 0,
                                 !L->no_grad, L->cell + row0 * (size_t)H, c_state, 0, y_t, ld_y,
                                 h_state, 0, h_bf16};
            if (L->no_grad) /* no saved cells: c_state (c0 first) in place, every row */
                step.c_prev = c_state, step.prev_rows = rows;
            else
                step.c_prev = previous_cells(plan, L, t, rows, H, &step.prev_rows);
            if (!L->no_grad && s + 1 < plan->seq_len)
                step.state_from = plan->batch_sizes[forward_step(plan, L->reverse, s + 1)];
            if (h_bf16)
                step.h_from = step.state_from;
            if (dims->proj) {
                step.m = L->proj_in + row0 * (size_t)H, step.ld_m = H;
                step.h_state = NULL, step.h_bf16 = NULL;
                TRY_KERNEL(rk_lstm_forward(cu->lane->stream, rows, H, &step));
                RECUR_TRY(gemm(cu, 0, 1, rows, Hout, H, 1.0f, step.m, H, w.weight_hr, H, 0.0f,
                               h_state, Hout));
                RECUR_TRY(copy_rows_async(cu, rows, Hout, h_state, Hout, y_t, ld_y));
            } else {
                TRY_KERNEL(rk_lstm_forward(cu->lane->stream, rows, H, &step));
            }
            break;
        }
        case RECUR_GRU: {
            float *gh = L->step;
            RECUR_TRY(recurrent_gemm(cu, L, 1, rows, GH, Hout, h_state, NULL, 0.0f, gh, GH));
            float *hn_saved = L->no_grad ? NULL : L->hidden_n + row0 * (size_t)H;
            TRY_KERNEL(rk_gru_forward(cu->lane->stream, rows, H, gates_t, gh, w.bias_ih, w.bias_hh,
                                      h_state, hn_saved, y_t, ld_y));
            break;
        }
        }
    }
    return RECUR_OK;
}

/* The backward's steps, walking back in time (see step_loop). */
static recur_status backward_steps(rnn_cuda *cu, const step_loop *L)
{
    const rnn_dims *dims = &cu->layout.dims;
    const recur_pack_plan *plan = &cu->plan;
    const int H = dims->hidden, Hout = dims->out, GH = dims->gates * dims->hidden;
    const int relu = dims->cell == RECUR_RNN_RELU, ld_y = L->ld_y, ld_dy = L->ld_dy;
    const cuda_weights w = L->w;
    const float *y = L->y, *dy = L->dy;
    float *dh = L->dh, *dc = L->dc, *grad_gates = L->grad_gates, *grad_gh = L->grad_gh;
    /* bf16 W_hh, LSTM: the cell kernel also writes the step's bfloat16
     * grad_gates (= grad_gh) that the product reads, into its rows of
     * L->grad_gates_bf16 (and then no float32 grad_gates: what follows the
     * loop reads the bfloat16 ones) or else into L->rows_bf16. */
    const int lstm_bf16 = dims->cell == RECUR_LSTM && L->rows_bf16;
    uint16_t *all_bf16 = L->grad_gates_bf16; /* bfloat16 bit patterns */
    for (int s = plan->seq_len - 1; s >= 0; s--) {
        const int t = forward_step(plan, L->reverse, s);
        const int rows = plan->batch_sizes[t];
        const size_t row0 = plan->offsets[t];
        float *grad_gates_t = grad_gates + row0 * (size_t)GH;
        void *grad_bf16 = NULL;
        if (lstm_bf16)
            grad_bf16 = all_bf16 ? (void *)(all_bf16 + row0 * (size_t)GH) : L->rows_bf16;
        /* The step's output gradient: added to dh by the cell kernel, or
         * first, where the projection reads dh + dy. */
        const float *dy_t = dy + row0 * (size_t)ld_dy;
        switch (dims->cell) {
        case RECUR_RNN_TANH:
        case RECUR_RNN_RELU:
            TRY_KERNEL(rk_elman_backward(cu->lane->stream, rows, H, relu,
                                         y + row0 * (size_t)ld_y, ld_y, dh, dy_t, ld_dy,
                                         grad_gates_t));
            break;
        case RECUR_LSTM: {
            const float *dm = dh, *dm_dy = dy_t;
            if (dims->proj) {
                TRY_KERNEL(rk_add_rows(cu->lane->stream, rows, Hout, dy_t, ld_dy, dh, Hout));
                RECUR_TRY(copy_rows_async(cu, rows, Hout, dh, Hout,
                                          L->grad_h + row0 * (size_t)Hout, Hout));
                RECUR_TRY(gemm(cu, 0, 0, rows, H, Hout, 1.0f, dh, Hout, w.weight_hr, H, 0.0f,
                               L->step, H));
                dm = L->step, dm_dy = NULL;
            }
            int prev_rows;
            const float *c_prev = previous_cells(plan, L, t, rows, H, &prev_rows);
            TRY_KERNEL(rk_lstm_backward(cu->lane->stream, rows, H, L->gates + row0 * (size_t)GH,
                                        L->cell + row0 * (size_t)H, c_prev, prev_rows, L->c_init,
                                        dm, dm_dy, ld_dy, dc, all_bf16 ? NULL : grad_gates_t,
                                        grad_bf16));
            break;
        }
        case RECUR_GRU:
            TRY_KERNEL(rk_gru_backward(cu->lane->stream, rows, H, L->gates + row0 * (size_t)GH,
                                       L->hidden_n + row0 * (size_t)H,
                                       L->h_prev + row0 * (size_t)Hout, dh, dy_t, ld_dy,
                                       grad_gates_t, grad_gh + row0 * (size_t)GH));
            break;
        }
        /* Gradient of h_prev through W_hh (GRU adds it to the direct z * dh). */
        const float beta = dims->cell == RECUR_GRU ? 1.0f : 0.0f;
        RECUR_TRY(recurrent_gemm(cu, L, 0, rows, Hout, GH, grad_gh + row0 * (size_t)GH,
                                 grad_bf16, beta, dh, Hout));
    }

    return RECUR_OK;
}

/* Captures the loop into a CUDA graph on the object's stream. */
static recur_status capture_step_loop(rnn_cuda *cu, const step_loop *L, step_graph *g)
{
    if (g->exec)
        cudaGraphExecDestroy(g->exec);
    g->exec = NULL;
    cudaGraph_t graph = NULL;
    TRY_CUDA(cudaStreamBeginCapture(cu->lane->stream, cudaStreamCaptureModeThreadLocal),
             "cudaStreamBeginCapture");
    recur_status st = L->backward ? backward_steps(cu, L) : forward_steps(cu, L);
    cudaError_t end = cudaStreamEndCapture(cu->lane->stream, &graph);
    if (st == RECUR_OK)
        st = cuda_check((int)end, "cudaStreamEndCapture");
    if (st == RECUR_OK)
        st = cuda_check((int)cudaGraphInstantiate(&g->exec, graph, 0), "cudaGraphInstantiate");
    if (graph)
        cudaGraphDestroy(graph);
    if (st != RECUR_OK) {
        g->exec = NULL;
        return st;
    }
    memcpy(&g->key, L, sizeof *L); /* padding too: the key is compared with memcmp */
    return RECUR_OK;
}

/* Whether the per-step products of this pass (backward 0 or 1) may use
 * cuBLAS's workspace: RECUR_CUDA_STEP_WORKSPACE=1 both passes, =0 neither;
 * unset, all but a forward of at most 16 rows. With it, cuBLAS picks split-K
 * kernels for some of these thin products that take ten times as long: on
 * an H100 (run 12 in docs/BENCHMARKS.md) gru H192 B16's 16 x 576 x 192
 * product ran as a (1, 9, 66) grid, 30 us a step, and without any workspace
 * the per-step forward went from 2.80 to 0.51 ms (lstm H128 B8), 3.03 to
 * 0.69 (gru H192 B16), 3.07 to 0.68 (gru H256 B8), 1.30 to 1.06 (lstm H512
 * B16). Training gained at lstm H128 B8 (8.46 to 1.41 ms) but lost at lstm
 * H512 B16 (2.75 to 3.74), and larger batches were not measured without
 * it, so those keep it until measured apart. */
static int step_workspace(const rnn_cuda *cu, int backward)
{
    const char *env = getenv("RECUR_CUDA_STEP_WORKSPACE");
    return env && env[0] ? env[0] == '1' : backward || cu->plan.batch > 16;
}

static recur_status run_steps(rnn_cuda *cu, step_loop *L)
{
    if (cu->graphs_enabled) {
        step_graph *g = &cu->graphs[L->group * kGraphKinds + (L->backward ? 2 : L->no_grad)];
        if (!g->exec || memcmp(&g->key, L, sizeof *L) != 0) {
            if (capture_step_loop(cu, L, g) != RECUR_OK)
                cu->graphs_enabled = 0; /* and run the steps directly */
        }
        if (cu->graphs_enabled) {
            TRY_CUDA(cudaGraphLaunch(g->exec, cu->lane->stream), "cudaGraphLaunch");
            return RECUR_OK;
        }
    }
    return L->backward ? backward_steps(cu, L) : forward_steps(cu, L);
}

/* Runs the loop: its graph, captured the first time and whenever anything in
 * step_loop changed; launched directly when graphs are off or capturing
 * fails on this GPU (then off for this object). Without cuBLAS's workspace
 * where step_workspace says so (the graph keeps the kernels chosen when it
 * was captured). */
static recur_status run_step_loop(rnn_cuda *cu, step_loop *L)
{
    L->math = cu->math;
    L->plan_generation = cu->plan_generation;
    const int workspace = step_workspace(cu, L->backward);
    if (!workspace)
        RECUR_TRY(cuda_blas_check(cu->lane->blas.set_workspace(cu->lane->blas.handle, NULL, 0),
                                  "cublasSetWorkspace"));
    recur_status st = run_steps(cu, L);
    if (!workspace) {
        const cuda_blas *blas = &cu->lane->blas;
        recur_status restored = cuda_blas_check(blas->set_stream(blas->handle, cu->lane->stream),
                                                "cublasSetStream");
        if (st == RECUR_OK)
            st = restored;
    }
    return st;
}

/* The one-launch forwards: persistent_forward's kernel. */
typedef enum { kOnGrid, kOnCluster, kOnBlock } one_launch;

/* The forward's steps in one launch: the grid-wide persistent kernel, the
 * one-cluster kernel or the one-block kernel. */
static recur_status persistent_forward(rnn_cuda *cu, int group, int reverse,
                                       const cuda_weights *w, float *y, int ld_y, one_launch on)
{
    const rnn_dims *dims = &cu->layout.dims;
    const recur_pack_plan *plan = &cu->plan;
    const size_t B = (size_t)plan->batch, H = (size_t)dims->hidden;
    cuda_saved *saved = &cu->saved[group];
    RECUR_TRY(cuda_buffer_reserve(&cu->lane->h_alt, sizeof(float) * B * H));
    rk_persistent p = on == kOnCluster ? cu->cluster[0].p
                      : on == kOnBlock ? cu->block.p
                                       : cu->persist[0].p;
    p.T = plan->seq_len;
    p.reverse = reverse;
    p.batch_sizes = INTS(cu->steps);
    p.offsets = INTS(cu->steps) + plan->seq_len;
    p.weight_hh = w->weight_hh;
    p.bias_ih = w->bias_ih;
    p.bias_hh = w->bias_hh;
    p.gates = FLT(saved->gates);
    p.h_a = FLT(cu->lane->h_state);
    p.h_b = FLT(cu->lane->h_alt);
    p.c_state = dims->cell == RECUR_LSTM ? FLT(cu->lane->c_state) : NULL;
    p.h0 = saved->initial_h; /* read in place, not copied into h_state first */
    p.c0 = dims->cell == RECUR_LSTM ? saved->initial_c : NULL;
    p.c_saved = dims->cell == RECUR_LSTM ? FLT(saved->cell) : NULL;
    p.hidden_n = dims->cell == RECUR_GRU ? FLT(saved->hidden_n) : NULL;
    p.y = y;
    p.ld_y = ld_y;
    p.h_flagged = NULL;
    if (on == kOnGrid && kernel_switch_of("RECUR_CUDA_PERSISTENT_FLAGS") == KERNEL_FORCED) {
        const size_t bytes = 2 * sizeof(unsigned long long) * B * H;
        RECUR_TRY(cuda_buffer_reserve(&cu->lane->h_flagged, bytes));
        TRY_CUDA(cudaMemsetAsync(cu->lane->h_flagged.ptr, 0, bytes, cu->lane->stream),
                 "cudaMemsetAsync (stamped h)");
        p.h_flagged = (unsigned long long *)cu->lane->h_flagged.ptr;
    }
    if (on == kOnCluster)
        TRY_KERNEL(rk_cluster_launch(cu->lane->stream, &p));
    else if (on == kOnBlock)
        TRY_KERNEL(rk_block_launch(cu->lane->stream, &p));
    else
        TRY_KERNEL(rk_persistent_forward(cu->lane->stream, &p));
    if (plan->seq_len % 2) /* h_n ended in the second buffer */
        TRY_CUDA(cudaMemcpyAsync(cu->lane->h_state.ptr, cu->lane->h_alt.ptr, sizeof(float) * B * H,
                                 cudaMemcpyDeviceToDevice, cu->lane->stream),
                 "cudaMemcpyAsync (h_n)");
    return RECUR_OK;
}

/* The input projection of every step of direction `group`: gates = x
 * W_ih^T [N, G*H], into the buffers the forward saves (reserved here). The
 * kernels that read it add the biases (b_ih + b_hh; GRU b_ih, and b_hh to
 * the recurrent part, since its b_hn sits inside r * (...)), which spares a
 * fill of [N, G*H] with them and its read by the product (two passes over
 * 420 MB at lstm H2048 B128 T100) and, in a GRU's step loop, a fill of b_hh
 * a step. */
static recur_status direction_project(rnn_cuda *cu, int group, const float *x)
{
    const rnn_dims *dims = &cu->layout.dims;
    const int H = dims->hidden, GH = dims->gates * dims->hidden;
    const int in = cu->input_sizes[group];
    const size_t N = cu->plan.rows;
    cuda_saved *saved = &cu->saved[group];
    const cuda_weights w = weights_of(cu, group, cu->params);

    RECUR_TRY(cuda_buffer_reserve(&saved->gates, sizeof(float) * N * (size_t)GH));
    if (dims->cell == RECUR_LSTM) {
        RECUR_TRY(cuda_buffer_reserve(&saved->cell, sizeof(float) * N * (size_t)H));
        if (dims->proj)
            RECUR_TRY(cuda_buffer_reserve(&saved->proj_in, sizeof(float) * N * (size_t)H));
    }
    if (dims->cell == RECUR_GRU)
        RECUR_TRY(cuda_buffer_reserve(&saved->hidden_n, sizeof(float) * N * (size_t)H));
    return gemm(cu, 0, 1, (int)N, GH, in, 1.0f, x, in, w.weight_ih, in, 0.0f, FLT(saved->gates),
                GH);
}

/* Direction `group`'s steps after its projection, on the current lane: h_n
 * (and c_n) end in the lane's h_state (c_state). */
static recur_status direction_forward(rnn_cuda *cu, int group, int reverse, float *y, int ld_y)
{
    const rnn_dims *dims = &cu->layout.dims;
    const int H = dims->hidden, Hout = dims->out, GH = dims->gates * dims->hidden;
    const size_t B = (size_t)cu->plan.batch;
    cuda_saved *saved = &cu->saved[group];
    const cuda_weights w = weights_of(cu, group, cu->params);
    cuda_lane *lane = cu->lane;
    RECUR_TRY(cuda_buffer_reserve(&lane->h_state, sizeof(float) * B * (size_t)Hout));
    RECUR_TRY(cuda_buffer_reserve(&lane->c_state, sizeof(float) * B * (size_t)H));
    if (dims->cell == RECUR_GRU)
        RECUR_TRY(cuda_buffer_reserve(&lane->step, sizeof(float) * B * (size_t)GH));

    if (use_block(cu))
        return persistent_forward(cu, group, reverse, &w, y, ld_y, kOnBlock);
    if (use_cluster(cu, 0))
        return persistent_forward(cu, group, reverse, &w, y, ld_y, kOnCluster);
    if (use_persistent(cu, 0))
        return persistent_forward(cu, group, reverse, &w, y, ld_y, kOnGrid);
    /* (the LSTM step loop reads c0 in place and writes every row's c_n,
     * unless it keeps nothing for a backward) */
    RECUR_TRY(copy_or_zero(cu, FLT(lane->h_state), saved->initial_h, B * (size_t)Hout));
    if (dims->cell == RECUR_LSTM && !cu->forward_keeps)
        RECUR_TRY(copy_or_zero(cu, FLT(lane->c_state), saved->initial_c, B * (size_t)H));
    step_loop loop;
    memset(&loop, 0, sizeof loop);
    loop.no_grad = !cu->forward_keeps;
    loop.group = group, loop.reverse = reverse, loop.ld_y = ld_y, loop.w = w;
    loop.gates = FLT(saved->gates), loop.h_state = FLT(lane->h_state);
    loop.c_state = FLT(lane->c_state), loop.y = y;
    loop.c_init = dims->cell == RECUR_LSTM ? saved->initial_c : NULL;
    loop.cell = FLT(saved->cell), loop.proj_in = FLT(saved->proj_in);
    loop.hidden_n = FLT(saved->hidden_n), loop.step = FLT(lane->step);
    RECUR_TRY(prepare_bf16_weights(cu, &loop));
    return run_step_loop(cu, &loop);
}

/* shared's rows from `row` on, of ld elements each, as an operand of its
 * own (no copy when shared has none). */
static shared_operand shared_rows(const shared_operand *shared, size_t row, int ld)
{
    shared_operand rows = {NULL};
    if (shared->copy)
        rows.copy = (uint16_t *)shared->copy + row * (size_t)ld;
    return rows;
}

/* dW_hh [G*H, Hout] += grad_gates^T h_prev when every step has all B rows
 * (equal lengths): the previous h of a step's rows is the adjacent step's
 * rows of y [N, ld_y] (the step before walking forward, after walking back),
 * h0 [B, Hout] (sorted; NULL: zeros) at the walk's first step. Two products
 * that read y in place, instead of one over a gathered copy of it (a pass of
 * 105 MB read and written at lstm-h2048-b128-t100). gates16: grad_gates'
 * bfloat16 copy when there is one (then the float32 one may not exist). */
static recur_status weight_hh_gradient_shifted(rnn_cuda *cu, const shared_operand *gates16,
                                               const float *grad_gates, const float *y, int ld_y,
                                               const float *h0, int reverse, float *grad_weight_hh)
{
    const rnn_dims *dims = &cu->layout.dims;
    const int GH = dims->gates * dims->hidden, Hout = dims->out;
    const size_t B = (size_t)cu->plan.batch, N = cu->plan.rows;
    /* rows [first, first + N - B) of grad_gates meet y's rows [y_first, ...) */
    const size_t first = reverse ? 0 : B, y_first = reverse ? B : 0;
    const size_t start = reverse ? N - B : 0; /* the walk's first step's rows */
    if (N > B) {
        shared_operand rows = shared_rows(gates16, first, GH);
        RECUR_TRY(gemm_shared_a(cu, &rows, 1, 0, GH, Hout, (int)(N - B), 1.0f,
                                grad_gates + first * GH, GH, y + y_first * ld_y, ld_y, 1.0f,
                                grad_weight_hh, Hout));
    }
    if (!h0)
        return RECUR_OK;
    shared_operand rows = shared_rows(gates16, start, GH);
    return gemm_shared_a(cu, &rows, 1, 0, GH, Hout, (int)B, 1.0f, grad_gates + start * GH, GH, h0,
                         Hout, 1.0f, grad_weight_hh, Hout);
}

static recur_status gather_state(rnn_cuda *cu, const float *src, int group, int n, float *dst);
static recur_status scatter_state(rnn_cuda *cu, const float *src, int group, int n, float *dst);

/* Direction `group`'s backward on the current lane, from the gradients of
 * its h_n (and c_n) in args to those of its h0 (c0) there and the
 * parameters'; dx [N, in]: the input's gradient, written by direction 0,
 * added to by direction 1 (NULL: none). */
static recur_status direction_backward(rnn_cuda *cu, int group, int reverse, const float *x,
                                       const float *y, int ld_y, const float *dy, int ld_dy,
                                       const recur_rnn_backward_args *args, float *dx, int d)
{
    const rnn_dims *dims = &cu->layout.dims;
    const recur_pack_plan *plan = &cu->plan;
    const int H = dims->hidden, Hout = dims->out, GH = dims->gates * dims->hidden;
    const int in = cu->input_sizes[group];
    const size_t N = plan->rows, B = (size_t)plan->batch;
    const cuda_saved *saved = &cu->saved[group];
    const cuda_weights w = weights_of(cu, group, cu->params);
    const cuda_weights g = weights_of(cu, group, cu->grads);
    cuda_lane *lane = cu->lane;

    RECUR_TRY(cuda_buffer_reserve(&lane->grad_gates, sizeof(float) * N * (size_t)GH));
    RECUR_TRY(cuda_buffer_reserve(&lane->h_state, sizeof(float) * B * (size_t)Hout));
    RECUR_TRY(cuda_buffer_reserve(&lane->c_state, sizeof(float) * B * (size_t)H));
    RECUR_TRY(gather_state(cu, args->grad_h_n, group, Hout, FLT(lane->h_state)));
    if (dims->cell == RECUR_LSTM)
        RECUR_TRY(gather_state(cu, args->grad_c_n, group, H, FLT(lane->c_state)));
    if (dims->cell == RECUR_GRU)
        RECUR_TRY(cuda_buffer_reserve(&lane->grad_gh, sizeof(float) * N * (size_t)GH));
    if (dims->cell == RECUR_LSTM) {
        RECUR_TRY(cuda_buffer_reserve(&lane->step, sizeof(float) * B * (size_t)H));
        if (dims->proj)
            RECUR_TRY(cuda_buffer_reserve(&lane->grad_h, sizeof(float) * N * (size_t)Hout));
    }
    float *dh = FLT(lane->h_state), *dc = FLT(lane->c_state);
    float *grad_gates = FLT(lane->grad_gates);
    /* The recurrent pre-activation gradients equal grad_gates except for GRU. */
    float *grad_gh = dims->cell == RECUR_GRU ? FLT(lane->grad_gh) : grad_gates;
    const int *prev = INTS(cu->prev[reverse]);
    /* Each row's previous h gathered [N, Hout], for a GRU's cells and for
     * dW_hh, which reads y in place instead where every step has B rows
     * (then h_prev is not read). */
    const int shifted_y = dims->cell != RECUR_GRU && N == B * (size_t)plan->seq_len;
    if (!shifted_y) {
        RECUR_TRY(cuda_buffer_reserve(&lane->h_prev, sizeof(float) * N * (size_t)Hout));
        TRY_KERNEL(rk_gather_previous(lane->stream, (int)N, Hout, prev, y, ld_y, saved->initial_h,
                                      FLT(lane->h_prev)));
    }
    float *h_prev = FLT(lane->h_prev);
    const int on_cluster = use_cluster(cu, 1);
    const int persistent = on_cluster || use_persistent(cu, 1);
    if (persistent && dims->cell == RECUR_LSTM) { /* the step loop reads them in place */
        RECUR_TRY(cuda_buffer_reserve(&lane->c_prev, sizeof(float) * N * (size_t)H));
        TRY_KERNEL(rk_gather_previous(lane->stream, (int)N, H, prev, FLT(saved->cell), H,
                                      saved->initial_c, FLT(lane->c_prev)));
    }
    /* grad_gates in bfloat16 for the weight gradients' products (see
     * gemm_shared_a): made by the first of them, or by the step loop. */
    shared_operand gates16 = {NULL};
    if (persistent) {
        rk_persistent p = on_cluster ? cu->cluster[1].p : cu->persist[1].p;
        p.T = plan->seq_len;
        p.reverse = reverse;
        p.batch_sizes = INTS(cu->steps);
        p.offsets = INTS(cu->steps) + plan->seq_len;
        p.weight_hh = w.weight_hh;
        p.gates = FLT(saved->gates); /* activations, read only */
        p.c_saved = dims->cell == RECUR_LSTM ? FLT(saved->cell) : NULL;
        p.c_prev = dims->cell == RECUR_LSTM ? FLT(lane->c_prev) : NULL;
        p.hidden_n = dims->cell == RECUR_GRU ? FLT(saved->hidden_n) : NULL;
        p.h_prev = h_prev;
        p.y = (float *)y; /* read only in the backward */
        p.ld_y = ld_y;
        p.dy = dy;
        p.ld_dy = ld_dy;
        p.grad_gates = grad_gates;
        p.grad_gh = grad_gh;
        p.dh = dh;
        p.dc = dims->cell == RECUR_LSTM ? dc : NULL;
        if (on_cluster)
            TRY_KERNEL(rk_cluster_launch(lane->stream, &p));
        else
            TRY_KERNEL(rk_persistent_backward(lane->stream, &p));
    }
    if (!persistent) {
        step_loop loop;
        memset(&loop, 0, sizeof loop);
        loop.backward = 1, loop.group = group, loop.reverse = reverse, loop.w = w;
        loop.ld_y = ld_y, loop.ld_dy = ld_dy, loop.dy = dy, loop.y = (float *)y;
        loop.gates = FLT(saved->gates), loop.cell = FLT(saved->cell);
        loop.hidden_n = FLT(saved->hidden_n), loop.step = FLT(lane->step);
        loop.dh = dh, loop.dc = dc, loop.grad_gates = grad_gates, loop.grad_gh = grad_gh;
        loop.h_prev = h_prev, loop.c_init = saved->initial_c, loop.grad_h = FLT(lane->grad_h);
        RECUR_TRY(prepare_bf16_weights(cu, &loop));
        if (loop.rows_bf16 && dims->cell == RECUR_LSTM &&
            use_bf16_operands(cu, GH, Hout, (int)N)) {
            RECUR_TRY(cuda_buffer_reserve(&lane->grad_gates_bf16, 2 * N * (size_t)GH));
            loop.grad_gates_bf16 = lane->grad_gates_bf16.ptr;
        }
        RECUR_TRY(run_step_loop(cu, &loop));
        gates16.copy = loop.grad_gates_bf16;
    }

    /* Parameter gradients and the input gradient: large GEMMs over all rows,
     * three of them reading grad_gates [N, GH] (two unless LSTM or Elman). */
    RECUR_TRY(gemm_shared_a(cu, &gates16, 1, 0, GH, in, (int)N, 1.0f, grad_gates, GH, x, in, 1.0f,
                            (float *)g.weight_ih, in));
    if (shifted_y)
        RECUR_TRY(weight_hh_gradient_shifted(cu, &gates16, grad_gates, y, ld_y,
                                             saved->initial_h, reverse, (float *)g.weight_hh));
    else
        RECUR_TRY(gemm_shared_a(cu, grad_gh == grad_gates ? &gates16 : NULL, 1, 0, GH, Hout,
                                (int)N, 1.0f, grad_gh, GH, h_prev, Hout, 1.0f,
                                (float *)g.weight_hh, Hout));
    if (g.bias_ih && grad_gh == grad_gates) { /* the same sums for both: one pass */
        RECUR_TRY(cuda_buffer_reserve(&lane->bias_sums, sizeof(float) * (size_t)GH));
        RECUR_TRY(column_sums(cu, (int)N, GH, grad_gates, gates16.copy, 0.0f,
                              FLT(lane->bias_sums)));
        TRY_KERNEL(rk_accumulate(lane->stream, (size_t)GH, FLT(lane->bias_sums),
                                 (float *)g.bias_ih, (float *)g.bias_hh));
    } else if (g.bias_ih) {
        RECUR_TRY(column_sums(cu, (int)N, GH, grad_gates, NULL, 1.0f, (float *)g.bias_ih));
        RECUR_TRY(column_sums(cu, (int)N, GH, grad_gh, NULL, 1.0f, (float *)g.bias_hh));
    }
    if (dims->proj)
        RECUR_TRY(gemm(cu, 1, 0, Hout, H, (int)N, 1.0f, FLT(lane->grad_h), Hout,
                       FLT(saved->proj_in), H, 1.0f, (float *)g.weight_hr, H));
    if (dx) {
        /* direction 1 adds to what direction 0 wrote, on lane 0 */
        if (d == 1 && lane != &cu->lanes[0])
            RECUR_TRY(lane_wait(cu, 1, 0));
        RECUR_TRY(gemm_shared_a(cu, &gates16, 0, 0, (int)N, in, GH, 1.0f, grad_gates, GH,
                                w.weight_ih, in, d == 0 ? 0.0f : 1.0f, dx, in));
    }
    RECUR_TRY(scatter_state(cu, FLT(lane->h_state), group, Hout, args->grad_h0));
    if (dims->cell == RECUR_LSTM)
        RECUR_TRY(scatter_state(cu, FLT(lane->c_state), group, H, args->grad_c0));
    return RECUR_OK;
}

/* ---- the stack ---- */

/* The plan's index arrays on the device: map, order and the previous rows
 * of both directions. */
static recur_status upload_plan(rnn_cuda *cu, const recur_pack_plan *plan, int batch_first)
{
    const size_t N = plan->rows, B = (size_t)plan->batch, T = (size_t)plan->seq_len;
    const size_t count = 3 * N + B + 2 * T;
    if (cu->host_ints_count < count) {
        int *grown = realloc(cu->host_ints, sizeof(int) * count);
        if (!grown)
            return recur_fail(RECUR_E_NOMEM, "out of memory packing a batch");
        cu->host_ints = grown;
        cu->host_ints_count = count;
    }
    int *map = cu->host_ints, *prev0 = map + N, *prev1 = prev0 + N, *order = prev1 + N;
    int *steps = order + B;
    for (size_t j = 0; j < B; j++)
        order[j] = plan->order[j];
    for (size_t t = 0; t < T; t++) {
        steps[t] = plan->batch_sizes[t];
        steps[T + t] = (int)plan->offsets[t];
    }
    for (int t = 0; t < plan->seq_len; t++) {
        for (int j = 0; j < plan->batch_sizes[t]; j++) {
            const size_t r = plan->offsets[t] + (size_t)j, b = (size_t)plan->order[j];
            map[r] = (int)(batch_first ? b * T + (size_t)t : (size_t)t * B + b);
            const int before = t - 1, after = t + 1;
            prev0[r] = before >= 0 && j < plan->batch_sizes[before]
                           ? (int)(plan->offsets[before] + (size_t)j)
                           : -(j + 1);
            prev1[r] = after < plan->seq_len && j < plan->batch_sizes[after]
                           ? (int)(plan->offsets[after] + (size_t)j)
                           : -(j + 1);
        }
    }
    cu->map_identity = N == T * B;
    for (size_t r = 0; r < N && cu->map_identity; r++)
        cu->map_identity = map[r] == (int)r;
    cuda_buffer *dst[5] = {&cu->map, &cu->prev[0], &cu->prev[1], &cu->order, &cu->steps};
    const int *src[5] = {map, prev0, prev1, order, steps};
    const size_t counts[5] = {N, N, N, B, 2 * T};
    for (int i = 0; i < 5; i++) {
        RECUR_TRY(cuda_buffer_reserve(dst[i], sizeof(int) * counts[i]));
        TRY_CUDA(cudaMemcpyAsync(dst[i]->ptr, src[i], sizeof(int) * counts[i],
                                 cudaMemcpyHostToDevice, cu->lane->stream),
                 "cudaMemcpyAsync (plan)");
    }
    /* The staging array is reused by the next forward: wait for the copies. */
    TRY_CUDA(cudaStreamSynchronize(cu->lane->stream), "cudaStreamSynchronize");
    return RECUR_OK;
}

static int same_plan(const recur_pack_plan *a, const recur_pack_plan *b)
{
    const size_t T = (size_t)b->seq_len, B = (size_t)b->batch;
    return a->seq_len == b->seq_len && a->batch == b->batch && a->rows == b->rows &&
           a->batch_sizes && !memcmp(a->batch_sizes, b->batch_sizes, sizeof(int) * T) &&
           !memcmp(a->offsets, b->offsets, sizeof(size_t) * (T + 1)) &&
           !memcmp(a->order, b->order, sizeof(int) * B);
}

static recur_status copy_plan(recur_pack_plan *dst, const recur_pack_plan *src)
{
    recur_pack_plan_free(dst);
    const size_t T = (size_t)src->seq_len, B = (size_t)src->batch;
    dst->batch_sizes = malloc(sizeof(int) * T);
    dst->offsets = malloc(sizeof(size_t) * (T + 1));
    dst->order = malloc(sizeof(int) * B);
    if (!dst->batch_sizes || !dst->offsets || !dst->order) {
        recur_pack_plan_free(dst);
        return recur_fail(RECUR_E_NOMEM, "out of memory packing a batch");
    }
    memcpy(dst->batch_sizes, src->batch_sizes, sizeof(int) * T);
    memcpy(dst->offsets, src->offsets, sizeof(size_t) * (T + 1));
    memcpy(dst->order, src->order, sizeof(int) * B);
    dst->seq_len = src->seq_len;
    dst->batch = src->batch;
    dst->rows = src->rows;
    return RECUR_OK;
}

/* State [L*D, B, n] in the caller's order (NULL = zeros) -> group's sorted [B, n]. */
static recur_status gather_state(rnn_cuda *cu, const float *src, int group, int n, float *dst)
{
    const int B = cu->plan.batch;
    if (!src)
        return zero_async(cu, dst, sizeof(float) * (size_t)B * (size_t)n);
    TRY_KERNEL(rk_gather_rows(cu->lane->stream, B, n, INTS(cu->order),
                              src + (size_t)group * B * n, n, dst, n));
    return RECUR_OK;
}

/* The forward's initial state of group from src (as gather_state) into
 * *buf, *at = its data; or, without src, *at = NULL: zeros, neither stored
 * nor copied (the kernels and gathers that read it take NULL as zeros). */
static recur_status save_state(rnn_cuda *cu, const float *src, int group, int n,
                               cuda_buffer *buf, const float **at)
{
    *at = NULL;
    if (!src)
        return RECUR_OK;
    RECUR_TRY(cuda_buffer_reserve(buf, sizeof(float) * (size_t)cu->plan.batch * (size_t)n));
    RECUR_TRY(gather_state(cu, src, group, n, FLT(*buf)));
    *at = FLT(*buf);
    return RECUR_OK;
}

static recur_status scatter_state(rnn_cuda *cu, const float *src, int group, int n, float *dst)
{
    if (!dst)
        return RECUR_OK;
    const int B = cu->plan.batch;
    TRY_KERNEL(rk_scatter_rows(cu->lane->stream, B, n, INTS(cu->order), src, n,
                               dst + (size_t)group * B * n, n));
    return RECUR_OK;
}

/* Rows [N, n] of the caller's layout -> packed order by the plan's map
 * (with no reordering, map_identity, the callers read the rows in place). */
static recur_status gather_packed(rnn_cuda *cu, int n, const float *src, float *dst)
{
    const size_t N = cu->plan.rows;
    TRY_KERNEL(rk_gather_rows(cu->lane->stream, (int)N, n, INTS(cu->map), src, n, dst, n));
    return RECUR_OK;
}

/* The reverse of gather_packed; the caller's rows past each length are
 * zeroed. */
static recur_status scatter_packed(rnn_cuda *cu, int n, const float *src, float *dst)
{
    const size_t N = cu->plan.rows, all = (size_t)cu->plan.seq_len * (size_t)cu->plan.batch;
    if (cu->map_identity)
        return copy_or_zero(cu, dst, src, N * (size_t)n);
    if (N != all)
        RECUR_TRY(zero_async(cu, dst, sizeof(float) * all * (size_t)n));
    TRY_KERNEL(rk_scatter_rows(cu->lane->stream, (int)N, n, INTS(cu->map), src, n, dst, n));
    return RECUR_OK;
}

static const float *layer_input(const rnn_cuda *cu, int layer)
{
    if (layer == 0)
        return cu->input;
    return cu->dropout ? FLT(cu->drop_output[layer - 1]) : FLT(cu->layer_output[layer - 1]);
}

/* Whether [a, a + a_bytes) and [b, b + b_bytes) share a byte. */
static int overlaps(const void *a, size_t a_bytes, const void *b, size_t b_bytes)
{
    const uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return x < y + b_bytes && y < x + a_bytes;
}

recur_status rnn_cuda_forward(rnn_cuda *cu, const recur_pack_plan *plan,
                              const recur_rnn_forward_args *args, const float *const *drop_masks,
                              int keep)
{
    const recur_rnn_config *c = &cu->layout.config;
    const rnn_dims *dims = &cu->layout.dims;
    cu->have_forward = 0;
    cu->forward_keeps = keep;
    cu->pass++;
    if (!cu->plan_on_device || !same_plan(&cu->plan, plan)) {
        cu->plan_on_device = 0;
        RECUR_TRY(copy_plan(&cu->plan, plan));
        RECUR_TRY(upload_plan(cu, plan, c->batch_first));
        cu->plan_on_device = 1;
        cu->plan_generation++;
    }
    const int D = cu->layout.directions, Hout = dims->out, H = dims->hidden;
    const size_t N = plan->rows, width = (size_t)D * (size_t)Hout;
    const int I = c->input_size;
    cu->dropout = drop_masks != NULL && c->num_layers > 1;

    cu->input = args->input;
    if (!cu->map_identity) {
        RECUR_TRY(cuda_buffer_reserve(&cu->input_packed, sizeof(float) * N * (size_t)I));
        RECUR_TRY(gather_packed(cu, I, args->input, FLT(cu->input_packed)));
        cu->input = FLT(cu->input_packed);
    }
    /* Without gradients nothing reads the last layer's output again: where
     * the packing is the identity it goes to the caller's in place (unless
     * that overlaps the input). */
    const int output_in_place =
        !keep && cu->map_identity &&
        !overlaps(args->output, sizeof(float) * N * width, args->input,
                  sizeof(float) * N * (size_t)I);
    for (int layer = 0; layer < c->num_layers; layer++) {
        cuda_buffer *y = &cu->layer_output[layer];
        float *y_out = args->output;
        if (layer < c->num_layers - 1 || !output_in_place) {
            RECUR_TRY(cuda_buffer_reserve(y, sizeof(float) * N * width));
            y_out = FLT(*y);
        }
        const float *x = layer_input(cu, layer);
        /* the projections on lane 0 (they share x's bfloat16 copy), then
         * each direction's steps on its lane */
        for (int d = 0; d < D; d++) {
            const int group = layer * D + d;
            cuda_saved *saved = &cu->saved[group];
            RECUR_TRY(save_state(cu, args->h0, group, Hout, &saved->h0, &saved->initial_h));
            if (c->cell == RECUR_LSTM)
                RECUR_TRY(save_state(cu, args->c0, group, H, &saved->c0, &saved->initial_c));
            RECUR_TRY(direction_project(cu, group, x));
        }
        recur_status st = lanes_fork(cu);
        for (int d = 0; d < D && st == RECUR_OK; d++) {
            const int group = layer * D + d;
            cu->lane = lane_of(cu, d);
            st = direction_forward(cu, group, d, y_out + (size_t)d * Hout, (int)width);
            if (st == RECUR_OK)
                st = scatter_state(cu, FLT(cu->lane->h_state), group, Hout, args->h_n);
            if (st == RECUR_OK && c->cell == RECUR_LSTM)
                st = scatter_state(cu, FLT(cu->lane->c_state), group, H, args->c_n);
        }
        const recur_status joined = lanes_join(cu);
        RECUR_TRY(st);
        RECUR_TRY(joined);
        if (cu->dropout && layer < c->num_layers - 1) {
            const size_t n = N * width;
            RECUR_TRY(cuda_buffer_reserve(&cu->drop_mask[layer], sizeof(float) * n));
            RECUR_TRY(cuda_buffer_reserve(&cu->drop_output[layer], sizeof(float) * n));
            TRY_CUDA(cudaMemcpyAsync(cu->drop_mask[layer].ptr, drop_masks[layer],
                                     sizeof(float) * n, cudaMemcpyHostToDevice, cu->lane->stream),
                     "cudaMemcpyAsync (dropout mask)");
            TRY_CUDA(cudaMemcpyAsync(cu->drop_output[layer].ptr, y->ptr, sizeof(float) * n,
                                     cudaMemcpyDeviceToDevice, cu->lane->stream),
                     "cudaMemcpyAsync");
            TRY_KERNEL(rk_multiply(cu->lane->stream, n, FLT(cu->drop_mask[layer]),
                                   FLT(cu->drop_output[layer])));
        }
    }
    if (!output_in_place)
        RECUR_TRY(scatter_packed(cu, (int)width, FLT(cu->layer_output[c->num_layers - 1]),
                                 args->output));
    cu->have_forward = keep;
    return RECUR_OK;
}

/* RECUR_E_STATE unless the last forward kept what a backward reads (the
 * stack says why first: src/nn/rnn.c's check_backward). */
static recur_status check_backward(const rnn_cuda *cu)
{
    if (!cu->have_forward)
        return recur_fail(RECUR_E_STATE, "recur_rnn_backward called without a forward pass");
    return RECUR_OK;
}

recur_status rnn_cuda_backward(rnn_cuda *cu, const recur_rnn_backward_args *args,
                               void (*layer_done)(void *context, int layer), void *context)
{
    RECUR_TRY(check_backward(cu));
    const recur_rnn_config *c = &cu->layout.config;
    const rnn_dims *dims = &cu->layout.dims;
    const recur_pack_plan *plan = &cu->plan;
    const int D = cu->layout.directions, Hout = dims->out;
    const int L = c->num_layers, I = c->input_size;
    const size_t N = plan->rows, width = (size_t)D * (size_t)Hout;
    const size_t widest = (size_t)I > width ? (size_t)I : width;
    RECUR_TRY(cuda_buffer_reserve(&cu->grad_a, sizeof(float) * N * widest));
    RECUR_TRY(cuda_buffer_reserve(&cu->grad_b, sizeof(float) * N * widest));

    /* The output gradient, read in place where the packing is the
     * identity; each layer's dx into one of two buffers in turn (layer 0's
     * into the caller's grad_input in place where the packing allows). */
    float *scratch[2] = {FLT(cu->grad_a), FLT(cu->grad_b)};
    const float *grad_y = scratch[0];
    if (!args->grad_output)
        RECUR_TRY(zero_async(cu, scratch[0], sizeof(float) * N * width));
    else if (cu->map_identity)
        grad_y = args->grad_output;
    else
        RECUR_TRY(gather_packed(cu, (int)width, args->grad_output, scratch[0]));
    const size_t input_bytes = sizeof(float) * N * (size_t)I;
    const int grad_input_in_place =
        args->grad_input && cu->map_identity &&
        !overlaps(args->grad_input, input_bytes, cu->input, input_bytes) &&
        !(args->grad_output &&
          overlaps(args->grad_input, input_bytes, args->grad_output, sizeof(float) * N * width));

    if (cu->ones.size < sizeof(float) * N) { /* for the bias gradients */
        RECUR_TRY(cuda_buffer_reserve(&cu->ones, sizeof(float) * N));
        RECUR_TRY(cuda_buffer_reserve(&cu->ones_bf16, 2 * N));
        TRY_KERNEL(rk_fill(cu->lane->stream, N, 1.0f, FLT(cu->ones)));
        TRY_KERNEL(rk_to_bf16(cu->lane->stream, N, FLT(cu->ones), cu->ones_bf16.ptr));
    }
    for (int layer = L - 1; layer >= 0; layer--) {
        const float *x = layer_input(cu, layer);
        const float *y = FLT(cu->layer_output[layer]);
        float *dx = scratch[(L - layer) % 2]; /* not the one grad_y is */
        if (layer == 0 && !args->grad_input)
            dx = NULL;
        else if (layer == 0 && grad_input_in_place)
            dx = args->grad_input;
        recur_status st = lanes_fork(cu);
        for (int d = 0; d < D && st == RECUR_OK; d++) {
            const int group = layer * D + d;
            cu->lane = lane_of(cu, d);
            st = direction_backward(cu, group, d, x, y + (size_t)d * Hout, (int)width,
                                    grad_y + (size_t)d * Hout, (int)width, args, dx, d);
        }
        const recur_status joined = lanes_join(cu);
        RECUR_TRY(st);
        RECUR_TRY(joined);
        if (layer_done) /* this layer's parameter gradients are queued */
            layer_done(context, layer);
        if (layer > 0 && cu->dropout)
            TRY_KERNEL(rk_multiply(cu->lane->stream, N * width, FLT(cu->drop_mask[layer - 1]),
                                   dx));
        grad_y = dx;
    }
    if (args->grad_input && !grad_input_in_place)
        RECUR_TRY(scatter_packed(cu, I, grad_y, args->grad_input));
    return RECUR_OK;
}

/* ---- host pointers ---- */

static recur_status upload(rnn_cuda *cu, cuda_buffer *dst, const float *src, size_t count,
                           const float **out)
{
    *out = NULL;
    if (!src)
        return RECUR_OK;
    RECUR_TRY(cuda_buffer_reserve(dst, sizeof(float) * count));
    TRY_CUDA(cudaMemcpyAsync(dst->ptr, src, sizeof(float) * count, cudaMemcpyHostToDevice,
                             cu->lane->stream),
             "cudaMemcpyAsync (to the GPU)");
    *out = FLT(*dst);
    return RECUR_OK;
}

static recur_status room(cuda_buffer *dst, const float *host, size_t count, float **out)
{
    *out = NULL;
    if (!host)
        return RECUR_OK;
    RECUR_TRY(cuda_buffer_reserve(dst, sizeof(float) * count));
    *out = FLT(*dst);
    return RECUR_OK;
}

static recur_status download(rnn_cuda *cu, float *dst, const float *src, size_t count)
{
    if (!dst)
        return RECUR_OK;
    TRY_CUDA(cudaMemcpyAsync(dst, src, sizeof(float) * count, cudaMemcpyDeviceToHost,
                             cu->lane->stream),
             "cudaMemcpyAsync (from the GPU)");
    return RECUR_OK;
}

/* Sizes of the host-pointer tensors of the last (or this) forward. */
typedef struct io_sizes {
    size_t input, output, state, cell;
} io_sizes;

static io_sizes sizes_of(const rnn_cuda *cu, const recur_pack_plan *plan)
{
    const recur_rnn_config *c = &cu->layout.config;
    const size_t TB = (size_t)plan->seq_len * (size_t)plan->batch;
    const size_t LDB = (size_t)cu->groups * (size_t)plan->batch;
    io_sizes s = {TB * (size_t)c->input_size,
                  TB * (size_t)cu->layout.directions * (size_t)cu->layout.dims.out,
                  LDB * (size_t)cu->layout.dims.out,
                  c->cell == RECUR_LSTM ? LDB * (size_t)cu->layout.dims.hidden : 0};
    return s;
}

recur_status rnn_cuda_forward_host(rnn_cuda *cu, const float *values,
                                   const recur_pack_plan *plan, const recur_rnn_forward_args *args,
                                   const float *const *drop_masks, int keep)
{
    const io_sizes n = sizes_of(cu, plan);
    recur_rnn_forward_args dev = *args;
    RECUR_TRY(rnn_cuda_upload_params(cu, values));
    RECUR_TRY(upload(cu, &cu->io_input, args->input, n.input, &dev.input));
    RECUR_TRY(upload(cu, &cu->io_h0, args->h0, n.state, &dev.h0));
    RECUR_TRY(upload(cu, &cu->io_c0, args->c0, n.cell, &dev.c0));
    RECUR_TRY(room(&cu->io_output, args->output, n.output, &dev.output));
    RECUR_TRY(room(&cu->io_hn, args->h_n, n.state, &dev.h_n));
    RECUR_TRY(room(&cu->io_cn, args->c_n, n.cell, &dev.c_n));
    RECUR_TRY(rnn_cuda_forward(cu, plan, &dev, drop_masks, keep));
    RECUR_TRY(download(cu, args->output, dev.output, n.output));
    RECUR_TRY(download(cu, args->h_n, dev.h_n, n.state));
    RECUR_TRY(download(cu, args->c_n, dev.c_n, n.cell));
    TRY_CUDA(cudaStreamSynchronize(cu->lane->stream), "cudaStreamSynchronize");
    return RECUR_OK;
}

recur_status rnn_cuda_backward_host(rnn_cuda *cu, const recur_rnn_backward_args *args,
                                    float *grads)
{
    RECUR_TRY(check_backward(cu));
    const io_sizes n = sizes_of(cu, &cu->plan);
    recur_rnn_backward_args dev = *args;
    /* The host buffers io_output / io_hn / io_cn of the forward are free now
     * (not io_input: the backward may read the forward's input in place). */
    RECUR_TRY(upload(cu, &cu->io_output, args->grad_output, n.output, &dev.grad_output));
    RECUR_TRY(upload(cu, &cu->io_hn, args->grad_h_n, n.state, &dev.grad_h_n));
    RECUR_TRY(upload(cu, &cu->io_cn, args->grad_c_n, n.cell, &dev.grad_c_n));
    RECUR_TRY(room(&cu->io_grad_input, args->grad_input, n.input, &dev.grad_input));
    RECUR_TRY(room(&cu->io_h0, args->grad_h0, n.state, &dev.grad_h0));
    RECUR_TRY(room(&cu->io_c0, args->grad_c0, n.cell, &dev.grad_c0));
    RECUR_TRY(rnn_cuda_zero_grad(cu));
    RECUR_TRY(rnn_cuda_backward(cu, &dev, NULL, NULL));
    RECUR_TRY(download(cu, args->grad_input, dev.grad_input, n.input));
    RECUR_TRY(download(cu, args->grad_h0, dev.grad_h0, n.state));
    RECUR_TRY(download(cu, args->grad_c0, dev.grad_c0, n.cell));
    RECUR_TRY(download(cu, cu->host_grads, cu->grads, cu->layout.param_total));
    TRY_CUDA(cudaStreamSynchronize(cu->lane->stream), "cudaStreamSynchronize");
    for (size_t i = 0; i < cu->layout.param_total; i++)
        grads[i] += cu->host_grads[i];
    return RECUR_OK;
}
