/* Element-wise CUDA kernels of the recurrent stack (see kernels.h): one
 * thread per element, grid-stride loops, the cell math of
 * src/backend/cpu/cell_*.c with the accurate expf/tanhf (no fast math). */
#include "backend/cuda/kernels.h"
#include "backend/cuda/cell_math.cuh"
#include "backend/cuda/launch.cuh"

#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <stdint.h>

namespace cg = cooperative_groups;

namespace {

__global__ void gather_rows(size_t total, int n, const int *map, const float *src, int ld_src,
                            float *dst, int ld_dst)
{
    GRID_FOR(i, total) {
        size_t r = i / n, k = i % n;
        dst[r * ld_dst + k] = src[(size_t)map[r] * ld_src + k];
    }
}

__global__ void scatter_rows(size_t total, int n, const int *map, const float *src, int ld_src,
                             float *dst, int ld_dst)
{
    GRID_FOR(i, total) {
        size_t r = i / n, k = i % n;
        dst[(size_t)map[r] * ld_dst + k] = src[r * ld_src + k];
    }
}

__global__ void fill_rows(size_t total, int n, const float *a, const float *b, float *dst,
                          int ld_dst)
{
    GRID_FOR(i, total) {
        size_t r = i / n, k = i % n;
        const float v = a ? a[k] : 0.0f;
        dst[r * ld_dst + k] = b ? v + b[k] : v;
    }
}

__global__ void add_rows(size_t total, int n, const float *src, int ld_src, float *dst, int ld_dst)
{
    GRID_FOR(i, total) {
        size_t r = i / n, k = i % n;
        dst[r * ld_dst + k] += src[r * ld_src + k];
    }
}

__global__ void gather_previous(size_t total, int n, const int *prev, const float *states,
                                int ld_states, const float *init, float *dst)
{
    GRID_FOR(i, total) {
        size_t r = i / n, k = i % n;
        int p = prev[r];
        dst[i] = p >= 0 ? states[(size_t)p * ld_states + k] : init[(size_t)(-p - 1) * n + k];
    }
}

__global__ void fill(size_t n, float value, float *dst)
{
    GRID_FOR(i, n) dst[i] = value;
}

__global__ void accumulate(size_t n, const float *src, float *dst, float *dst2)
{
    GRID_FOR(i, n) {
        dst[i] += src[i];
        if (dst2)
            dst2[i] += src[i];
    }
}

__global__ void multiply(size_t n, const float *src, float *dst)
{
    GRID_FOR(i, n) dst[i] *= src[i];
}

__global__ void to_bf16(size_t n, const float *src, __nv_bfloat16 *dst)
{
    GRID_FOR(i, n) dst[i] = __float2bfloat16_rn(src[i]);
}

/* The step kernels' pre-activations: pre plus b_ih[at] + b_hh[at] when
 * the biases are not NULL (the per-step loop: its products leave them
 * out), as the one-launch kernels get them from the input projection. */
__device__ __forceinline__ float biased(float pre, const float *b_ih, const float *b_hh,
                                        size_t at)
{
    return b_ih ? pre + (b_ih[at] + b_hh[at]) : pre;
}

__global__ void elman_forward(size_t total, int H, int relu, const float *pre,
                              const float *bias_ih, const float *bias_hh, float *h_state,
                              float *out, int ld_out)
{
    GRID_FOR(i, total) {
        size_t j = i / H, k = i % H;
        float p = biased(pre[i], bias_ih, bias_hh, k);
        float h = relu ? (p < 0.0f ? 0.0f : p) : tanhf(p); /* NaN and -0 stay, as torch's */
        h_state[i] = h;
        out[j * ld_out + k] = h;
    }
}

/* The backward kernels' gradient of the step's output: dh plus the output's
 * own gradient dy (row stride ld_dy) when not NULL (the per-step loop adds
 * it here rather than in a kernel of its own). */
__device__ __forceinline__ float with_dy(float dh, const float *dy, int ld_dy, size_t j,
                                         size_t k)
{
    return dy ? dh + dy[j * ld_dy + k] : dh;
}

__global__ void elman_backward(size_t total, int H, int relu, const float *h, int ld_h,
                               const float *dh, const float *dy, int ld_dy, float *grad_pre)
{
    GRID_FOR(i, total) {
        size_t j = i / H, k = i % H;
        float y = h[j * ld_h + k];
        float d = with_dy(dh[i], dy, ld_dy, j, k);
        grad_pre[i] = relu ? (y <= 0.0f ? 0.0f : d) : d * (1.0f - y * y);
    }
}

__global__ void lstm_forward(size_t total, int H, float *gates, const float *bias_ih,
                             const float *bias_hh, float *c_state, float *c_saved, float *m,
                             int ld_m, float *h_state, __nv_bfloat16 *h_bf16)
{
    GRID_FOR(idx, total) {
        size_t j = idx / H, k = idx % H;
        float *g = gates + j * 4 * H + k;
        float i = sigmoid(biased(g[0], bias_ih, bias_hh, k));
        float f = sigmoid(biased(g[H], bias_ih, bias_hh, H + k));
        float gg = tanhf(biased(g[2 * H], bias_ih, bias_hh, 2 * H + k));
        float o = sigmoid(biased(g[3 * H], bias_ih, bias_hh, 3 * H + k));
        float c = f * c_state[idx] + i * gg;
        g[0] = i;
        g[H] = f;
        g[2 * H] = gg;
        g[3 * H] = o;
        c_state[idx] = c;
        c_saved[idx] = c;
        float out = o * tanhf(c);
        m[j * ld_m + k] = out;
        if (h_state)
            h_state[idx] = out;
        if (h_bf16)
            h_bf16[idx] = __float2bfloat16_rn(out);
    }
}

__global__ void lstm_backward(size_t total, int H, const float *gates, const float *c,
                              const float *c_prev, const float *dm, const float *dy, int ld_dy,
                              float *dc, float *grad_gates, __nv_bfloat16 *grad_gates_bf16)
{
    GRID_FOR(idx, total) {
        size_t j = idx / H, k = idx % H;
        const float *g = gates + j * 4 * H + k;
        float i = g[0], f = g[H], gg = g[2 * H], o = g[3 * H];
        float tanh_c = tanhf(c[idx]);
        float d = with_dy(dm[idx], dy, ld_dy, j, k);
        float dc_total = dc[idx] + d * o * (1.0f - tanh_c * tanh_c);
        const float dg[4] = {dc_total * gg * i * (1.0f - i),
                             dc_total * c_prev[idx] * f * (1.0f - f),
                             dc_total * i * (1.0f - gg * gg), d * tanh_c * o * (1.0f - o)};
#pragma unroll
        for (int q = 0; q < 4; q++) {
            grad_gates[j * 4 * H + q * H + k] = dg[q];
            if (grad_gates_bf16)
                grad_gates_bf16[j * 4 * H + q * H + k] = __float2bfloat16_rn(dg[q]);
        }
        dc[idx] = dc_total * f;
    }
}

/* GRU's step kernel: gx [rows, 3H] the input projection, gh [rows, 3H] the
 * recurrent product; each plus its own bias when not NULL (b_hn stays
 * inside r * (...)). */
__global__ void gru_forward(size_t total, int H, float *gx, const float *gh,
                            const float *bias_ih, const float *bias_hh, float *h_state,
                            float *hn_saved, float *out, int ld_out)
{
    GRID_FOR(idx, total) {
        size_t j = idx / H, k = idx % H;
        float *x = gx + j * 3 * H + k;
        const float *h = gh + j * 3 * H + k;
        float xb[3], hb[3];
#pragma unroll
        for (int q = 0; q < 3; q++) {
            xb[q] = bias_ih ? x[q * H] + bias_ih[q * H + k] : x[q * H];
            hb[q] = bias_hh ? h[q * H] + bias_hh[q * H + k] : h[q * H];
        }
        float r = sigmoid(xb[0] + hb[0]);
        float z = sigmoid(xb[1] + hb[1]);
        float hn = hb[2];
        float n = tanhf(xb[2] + r * hn);
        float hv = (1.0f - z) * n + z * h_state[idx];
        x[0] = r;
        x[H] = z;
        x[2 * H] = n;
        hn_saved[idx] = hn;
        h_state[idx] = hv;
        out[j * ld_out + k] = hv;
    }
}

__global__ void gru_backward(size_t total, int H, const float *act, const float *hn,
                             const float *h_prev, float *dh, const float *dy, int ld_dy,
                             float *grad_gx, float *grad_gh)
{
    GRID_FOR(idx, total) {
        size_t j = idx / H, k = idx % H;
        const float *a = act + j * 3 * H + k;
        float *dx = grad_gx + j * 3 * H + k;
        float *dhh = grad_gh + j * 3 * H + k;
        float r = a[0], z = a[H], n = a[2 * H], d = with_dy(dh[idx], dy, ld_dy, j, k);
        float dn_pre = d * (1.0f - z) * (1.0f - n * n);
        float dz_pre = d * (h_prev[idx] - n) * z * (1.0f - z);
        float dr_pre = dn_pre * hn[idx] * r * (1.0f - r);
        dx[0] = dr_pre;
        dx[H] = dz_pre;
        dx[2 * H] = dn_pre;
        dhh[0] = dr_pre;
        dhh[H] = dz_pre;
        dhh[2 * H] = dn_pre * r;
        dh[idx] = d * z;
    }
}


/* dst[0..n) (shared memory) = src[0..n) read through L2 (other blocks wrote
 * it), each thread issuing four loads before it waits for them (float4 when
 * both sides are 16-byte aligned): a step's h or gradient rows arrive in
 * about one L2 latency instead of one per element a thread copies. */
template <typename T>
__device__ __forceinline__ void copy_rows_l2(T *dst, const T *src, int n)
{
    const int tid = threadIdx.x, nthreads = blockDim.x;
    int idx = tid;
    for (; idx + 3 * nthreads < n; idx += 4 * nthreads) {
        const T a = __ldcg(src + idx), b = __ldcg(src + idx + nthreads);
        const T c = __ldcg(src + idx + 2 * nthreads), d = __ldcg(src + idx + 3 * nthreads);
        dst[idx] = a, dst[idx + nthreads] = b, dst[idx + 2 * nthreads] = c;
        dst[idx + 3 * nthreads] = d;
    }
    for (; idx < n; idx += nthreads)
        dst[idx] = __ldcg(src + idx);
}

__device__ __forceinline__ void load_l2(float *dst, const float *src, int n)
{
    if (((uintptr_t)dst | (uintptr_t)src) % 16 == 0 && n % 4 == 0)
        copy_rows_l2((float4 *)dst, (const float4 *)src, n / 4);
    else
        copy_rows_l2(dst, src, n);
}

/* a . b over n floats (shared memory) by one warp; lane 0 gets the sum.
 * float4 loads when n is a multiple of 128 and both are 16-byte aligned. */
__device__ __forceinline__ float warp_dot(const float *a, const float *b, int n, int lane)
{
    float sum = 0.0f;
    if (n % 128 == 0 && ((uintptr_t)a | (uintptr_t)b) % 16 == 0) {
        const float4 *a4 = (const float4 *)a, *b4 = (const float4 *)b;
        for (int k = lane; k < n / 4; k += 32) {
            const float4 x = a4[k], y = b4[k];
            sum += x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
        }
    } else {
        for (int k = lane; k < n; k += 32)
            sum += a[k] * b[k];
    }
    for (int off = 16; off > 0; off >>= 1)
        sum += __shfl_down_sync(0xffffffffu, sum, off);
    return sum;
}

/* Shared memory: w [G][units][H] (the block's rows of W_hh), h [B][H]
 * (h_prev), acc [B][G][units] (the recurrent products of this step). */
__global__ void __launch_bounds__(256) persistent_forward(rk_persistent a)
{
    extern __shared__ float smem[];
    const int U = a.units, G = a.G, H = a.H;
    const int u0 = blockIdx.x * U;
    const int nu = min(U, H - u0);
    float *w = smem, *h = w + (size_t)G * U * H, *acc = h + (size_t)a.B * H;
    const int tid = threadIdx.x, nthreads = blockDim.x;
    const int lane = tid & 31, warp = tid >> 5, nwarps = nthreads >> 5;

    for (int idx = tid; idx < G * nu * H; idx += nthreads) {
        int g = idx / (nu * H), rem = idx % (nu * H), uu = rem / H, k = rem % H;
        w[((size_t)g * U + uu) * H + k] = a.weight_hh[((size_t)g * H + u0 + uu) * H + k];
    }
    cg::grid_group grid = cg::this_grid();
    float *h_prev = a.h_a, *h_next = a.h_b;
    /* When every (row, unit) pair of the block has a thread of its own, that
     * thread keeps its c in a register and loads its input pre-activations
     * before the step's dot products, hiding their latency. */
    const int own = a.B * nu <= nthreads;
    const int own_j = tid / nu, own_u = u0 + tid % nu;
    float c_reg = 0.0f;
    if (own && own_j < a.B && a.cell == kCellLstm)
        c_reg = a.c_state[(size_t)own_j * H + own_u];
    for (int s = 0; s < a.T; s++) {
        const int t = a.reverse ? a.T - 1 - s : s;
        const int rows = a.batch_sizes[t];
        const size_t row0 = (size_t)a.offsets[t];
        float pre[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (own && own_j < rows) {
            const float *gr = a.gates + (row0 + (size_t)own_j) * (size_t)G * H + own_u;
#pragma unroll
            for (int g = 0; g < 4; g++)
                if (g < G)
                    pre[g] = gr[(size_t)g * H];
        }
        __syncthreads(); /* the previous step's readers of h and acc are done */
        load_l2(h, h_prev, rows * H);
        __syncthreads();
        const int dots = rows * G * nu;
        for (int d = warp; d < dots; d += nwarps) {
            int j = d / (G * nu), r = d % (G * nu), g = r / nu, uu = r % nu;
            const float sum = warp_dot(w + ((size_t)g * U + uu) * H, h + (size_t)j * H, H, lane);
            if (lane == 0)
                acc[((size_t)j * G + g) * U + uu] = sum;
        }
        __syncthreads();
        for (int idx = tid; idx < rows * nu; idx += nthreads) {
            const int j = idx / nu, uu = idx % nu, u = u0 + uu;
            const size_t row = row0 + (size_t)j;
            const float *rec = acc + (size_t)j * G * U + uu; /* rec[g * U] */
            float *gr = a.gates + row * (size_t)G * H;
            if (!own) {
#pragma unroll
                for (int g = 0; g < 4; g++)
                    if (g < G)
                        pre[g] = gr[(size_t)g * H + u];
            }
            const float hp = h[(size_t)j * H + u];
            float hv;
            if (a.cell == kCellLstm) {
                float i = sigmoid(pre[0] + rec[0]);
                float f = sigmoid(pre[1] + rec[U]);
                float gg = tanhf(pre[2] + rec[2 * U]);
                float o = sigmoid(pre[3] + rec[3 * U]);
                float c_prev = own ? c_reg : a.c_state[(size_t)j * H + u];
                float c = f * c_prev + i * gg;
                c_reg = c;
                gr[u] = i, gr[H + u] = f, gr[2 * H + u] = gg, gr[3 * H + u] = o;
                a.c_state[(size_t)j * H + u] = c;
                a.c_saved[row * H + u] = c;
                hv = o * tanhf(c);
            } else if (a.cell == kCellGru) {
                const float *b = a.bias_hh;
                float hr_ = rec[0] + (b ? b[u] : 0.0f);
                float hz = rec[U] + (b ? b[H + u] : 0.0f);
                float hn = rec[2 * U] + (b ? b[2 * H + u] : 0.0f);
                float r = sigmoid(pre[0] + hr_);
                float z = sigmoid(pre[1] + hz);
                float n = tanhf(pre[2] + r * hn);
                hv = (1.0f - z) * n + z * hp;
                gr[u] = r, gr[H + u] = z, gr[2 * H + u] = n;
                a.hidden_n[row * H + u] = hn;
            } else {
                float p = pre[0] + rec[0];
                gr[u] = p;
                hv = a.cell == kCellRelu ? (p < 0.0f ? 0.0f : p) : tanhf(p);
            }
            h_next[(size_t)j * H + u] = hv;
            a.y[row * a.ld_y + u] = hv;
        }
        /* Finished sequences keep their state in the other buffer too. */
        for (int idx = tid; idx < (a.B - rows) * nu; idx += nthreads) {
            const size_t at = (size_t)(rows + idx / nu) * H + u0 + idx % nu;
            h_next[at] = __ldcg(h_prev + at);
        }
        grid.sync();
        float *swap = h_prev;
        h_prev = h_next;
        h_next = swap;
    }
}

/* Shared memory: w [units][G*H] (the columns of W_hh for the block's units),
 * grad [B][G*H] (this step's rows of grad_gh). dh and dc entries of a unit
 * are read and written by its block only. */
__global__ void __launch_bounds__(256) persistent_backward(rk_persistent a)
{
    extern __shared__ float smem[];
    const int U = a.units, H = a.H, GH = a.G * a.H;
    const int u0 = blockIdx.x * U;
    const int nu = min(U, H - u0);
    float *w = smem, *grad = w + (size_t)U * GH;
    const int tid = threadIdx.x, nthreads = blockDim.x;
    const int lane = tid & 31, warp = tid >> 5, nwarps = nthreads >> 5;

    for (int idx = tid; idx < nu * GH; idx += nthreads) {
        int uu = idx / GH, r = idx % GH;
        w[(size_t)uu * GH + r] = a.weight_hh[(size_t)r * H + u0 + uu];
    }
    cg::grid_group grid = cg::this_grid();
    for (int s = a.T - 1; s >= 0; s--) {
        const int t = a.reverse ? a.T - 1 - s : s;
        const int rows = a.batch_sizes[t];
        const size_t row0 = (size_t)a.offsets[t];
        __syncthreads(); /* the previous step's dh writes (other threads) are done */
        for (int idx = tid; idx < rows * nu; idx += nthreads) {
            const int j = idx / nu, u = u0 + idx % nu;
            const size_t row = row0 + (size_t)j, at = (size_t)j * H + u;
            const float d = a.dh[at] + a.dy[row * a.ld_dy + u];
            const float *act = a.gates + row * (size_t)GH;
            float *dx = a.grad_gates + row * (size_t)GH;
            if (a.cell == kCellLstm) {
                float i = act[u], f = act[H + u], g = act[2 * H + u], o = act[3 * H + u];
                float tanh_c = tanhf(a.c_saved[row * H + u]);
                float dc_total = a.dc[at] + d * o * (1.0f - tanh_c * tanh_c);
                dx[3 * H + u] = d * tanh_c * o * (1.0f - o);
                dx[u] = dc_total * g * i * (1.0f - i);
                dx[H + u] = dc_total * a.c_prev[row * H + u] * f * (1.0f - f);
                dx[2 * H + u] = dc_total * i * (1.0f - g * g);
                a.dc[at] = dc_total * f;
            } else if (a.cell == kCellGru) {
                float r = act[u], z = act[H + u], n = act[2 * H + u];
                float dn_pre = d * (1.0f - z) * (1.0f - n * n);
                float dz_pre = d * (a.h_prev[row * H + u] - n) * z * (1.0f - z);
                float dr_pre = dn_pre * a.hidden_n[row * H + u] * r * (1.0f - r);
                float *dg = a.grad_gh + row * (size_t)GH;
                dx[u] = dr_pre, dx[H + u] = dz_pre, dx[2 * H + u] = dn_pre;
                dg[u] = dr_pre, dg[H + u] = dz_pre, dg[2 * H + u] = dn_pre * r;
                a.dh[at] = d * z; /* the direct part; the products are added below */
            } else {
                float y = a.y[row * a.ld_y + u];
                dx[u] = a.cell == kCellRelu ? (y <= 0.0f ? 0.0f : d) : d * (1.0f - y * y);
            }
        }
        grid.sync(); /* every unit's gradients of this step are in grad_gh */
        const float *gh = a.grad_gh + row0 * (size_t)GH;
        load_l2(grad, gh, rows * GH);
        __syncthreads();
        const int dots = rows * nu;
        for (int dd = warp; dd < dots; dd += nwarps) {
            const int j = dd / nu, uu = dd % nu;
            const float sum = warp_dot(w + (size_t)uu * GH, grad + (size_t)j * GH, GH, lane);
            if (lane == 0) {
                const size_t at = (size_t)j * H + u0 + uu;
                a.dh[at] = (a.cell == kCellGru ? a.dh[at] : 0.0f) + sum;
            }
        }
    }
}
} // namespace

#define RK_LAUNCH(kernel, total, ...)                                                  \
    do {                                                                               \
        size_t rk_total_ = (total);                                                    \
        if (rk_total_ == 0)                                                            \
            return 0;                                                                  \
        kernel<<<blocks_for(rk_total_), kThreads, 0, stream>>>(rk_total_, __VA_ARGS__); \
        return launched();                                                             \
    } while (0)

extern "C" {

int rk_gather_rows(cudaStream_t stream, int rows, int n, const int *map, const float *src,
                   int ld_src, float *dst, int ld_dst)
{
    RK_LAUNCH(gather_rows, (size_t)rows * n, n, map, src, ld_src, dst, ld_dst);
}

int rk_scatter_rows(cudaStream_t stream, int rows, int n, const int *map, const float *src,
                    int ld_src, float *dst, int ld_dst)
{
    RK_LAUNCH(scatter_rows, (size_t)rows * n, n, map, src, ld_src, dst, ld_dst);
}

int rk_fill_rows(cudaStream_t stream, int rows, int n, const float *a, const float *b,
                 float *dst, int ld_dst)
{
    RK_LAUNCH(fill_rows, (size_t)rows * n, n, a, b, dst, ld_dst);
}

int rk_add_rows(cudaStream_t stream, int rows, int n, const float *src, int ld_src, float *dst,
                int ld_dst)
{
    RK_LAUNCH(add_rows, (size_t)rows * n, n, src, ld_src, dst, ld_dst);
}

int rk_gather_previous(cudaStream_t stream, int rows, int n, const int *prev, const float *states,
                       int ld_states, const float *init, float *dst)
{
    RK_LAUNCH(gather_previous, (size_t)rows * n, n, prev, states, ld_states, init, dst);
}

int rk_fill(cudaStream_t stream, size_t n, float value, float *dst)
{
    RK_LAUNCH(fill, n, value, dst);
}

int rk_accumulate(cudaStream_t stream, size_t n, const float *src, float *dst, float *dst2)
{
    RK_LAUNCH(accumulate, n, src, dst, dst2);
}

int rk_multiply(cudaStream_t stream, size_t n, const float *src, float *dst)
{
    RK_LAUNCH(multiply, n, src, dst);
}

int rk_to_bf16(cudaStream_t stream, size_t n, const float *src, void *dst)
{
    RK_LAUNCH(to_bf16, n, src, (__nv_bfloat16 *)dst);
}

int rk_elman_forward(cudaStream_t stream, int rows, int H, int relu, const float *pre,
                     const float *bias_ih, const float *bias_hh, float *h_state, float *out,
                     int ld_out)
{
    RK_LAUNCH(elman_forward, (size_t)rows * H, H, relu, pre, bias_ih, bias_hh, h_state, out,
              ld_out);
}

int rk_elman_backward(cudaStream_t stream, int rows, int H, int relu, const float *h, int ld_h,
                      const float *dh, const float *dy, int ld_dy, float *grad_pre)
{
    RK_LAUNCH(elman_backward, (size_t)rows * H, H, relu, h, ld_h, dh, dy, ld_dy, grad_pre);
}

int rk_lstm_forward(cudaStream_t stream, int rows, int H, float *gates, const float *bias_ih,
                    const float *bias_hh, float *c_state, float *c_saved, float *m, int ld_m,
                    float *h_state, void *h_bf16)
{
    RK_LAUNCH(lstm_forward, (size_t)rows * H, H, gates, bias_ih, bias_hh, c_state, c_saved, m,
              ld_m, h_state, (__nv_bfloat16 *)h_bf16);
}

int rk_lstm_backward(cudaStream_t stream, int rows, int H, const float *gates, const float *c,
                     const float *c_prev, const float *dm, const float *dy, int ld_dy, float *dc,
                     float *grad_gates, void *grad_gates_bf16)
{
    RK_LAUNCH(lstm_backward, (size_t)rows * H, H, gates, c, c_prev, dm, dy, ld_dy, dc, grad_gates,
              (__nv_bfloat16 *)grad_gates_bf16);
}

int rk_gru_forward(cudaStream_t stream, int rows, int H, float *gx, const float *gh,
                   const float *bias_ih, const float *bias_hh, float *h_state, float *hn_saved,
                   float *out, int ld_out)
{
    RK_LAUNCH(gru_forward, (size_t)rows * H, H, gx, gh, bias_ih, bias_hh, h_state, hn_saved, out,
              ld_out);
}

int rk_gru_backward(cudaStream_t stream, int rows, int H, const float *act, const float *hn,
                    const float *h_prev, float *dh, const float *dy, int ld_dy, float *grad_gx,
                    float *grad_gh)
{
    RK_LAUNCH(gru_backward, (size_t)rows * H, H, act, hn, h_prev, dh, dy, ld_dy, grad_gx,
              grad_gh);
}

int rk_persistent_plan(rk_persistent *p)
{
    int dev = 0, sms = 0, optin = 0, coop = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) !=
            cudaSuccess ||
        cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    if (!coop || sms < 1)
        return 0;
    int units = (p->H + sms - 1) / sms;
    if (units < 4)
        units = 4;
    if (units > p->H)
        units = p->H;
    const size_t G = (size_t)p->G, H = (size_t)p->H, B = (size_t)p->B;
    const size_t smem = sizeof(float) * (p->backward ? G * units * H + B * G * H
                                                     : G * units * H + B * H + B * G * units);
    if (smem > (size_t)optin)
        return 0;
    const void *kernel = p->backward ? (const void *)persistent_backward
                                     : (const void *)persistent_forward;
    /* The attribute is the function's, for every handle: always the device's limit. */
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin) !=
        cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    int per_sm = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, 256, smem) !=
        cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    const int blocks = (p->H + units - 1) / units;
    if (blocks > per_sm * sms)
        return 0;
    p->units = units;
    p->blocks = blocks;
    p->smem = smem;
    return 1;
}

/* One cooperative launch of a persistent kernel with its argument block. */
static int launch_persistent(const void *kernel, cudaStream_t stream, const rk_persistent *p)
{
    rk_persistent copy = *p;
    void *args[] = {&copy};
    cudaError_t e = cudaLaunchCooperativeKernel(kernel, dim3((unsigned)p->blocks), dim3(256),
                                                args, p->smem, stream);
    return e != cudaSuccess ? (int)e : launched();
}

int rk_persistent_backward(cudaStream_t stream, const rk_persistent *p)
{
    return launch_persistent((const void *)persistent_backward, stream, p);
}

int rk_persistent_forward(cudaStream_t stream, const rk_persistent *p)
{
    return launch_persistent((const void *)persistent_forward, stream, p);
}

} // extern "C"
