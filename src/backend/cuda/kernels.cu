/* Element-wise CUDA kernels of the recurrent stack (see kernels.h): one
 * thread per element, grid-stride loops, the cell math of
 * src/backend/cpu/cell_*.c with the accurate expf/tanhf (no fast math). */
#include "backend/cuda/kernels.h"
#include "backend/cuda/cell_math.cuh"
#include "backend/cuda/launch.cuh"

#include <cuda_bf16.h>

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

__global__ void fill_rows(size_t total, int n, const float *vec, float *dst, int ld_dst)
{
    GRID_FOR(i, total) {
        size_t r = i / n, k = i % n;
        dst[r * ld_dst + k] = vec ? vec[k] : 0.0f;
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
        dst[i] = p >= 0  ? states[(size_t)p * ld_states + k]
                 : init ? init[(size_t)(-p - 1) * n + k]
                        : 0.0f;
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

__global__ void elman_forward(size_t total, int H, int relu, const float *pre,
                              const float *bias_ih, const float *bias_hh, float *h_state,
                              float *out, int ld_out)
{
    GRID_FOR(i, total) {
        size_t j = i / H, k = i % H;
        float p = plus_input_bias(pre[i], bias_ih, bias_hh, kCellTanh, 0, H, (int)k);
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

__global__ void lstm_forward(size_t total, int H, rk_lstm_step p)
{
    GRID_FOR(idx, total) {
        size_t j = idx / H, k = idx % H;
        float *g = p.gates + j * 4 * H + k;
        const int u = (int)k, row = (int)j;
        /* read first: loaded with the gates */
        const float c_prev = row < p.prev_rows ? p.c_prev[idx] : p.c_init ? p.c_init[idx] : 0.0f;
        float i = sigmoid(plus_input_bias(g[0], p.bias_ih, p.bias_hh, kCellLstm, 0, H, u));
        float f = sigmoid(plus_input_bias(g[H], p.bias_ih, p.bias_hh, kCellLstm, 1, H, u));
        float gg = tanhf(plus_input_bias(g[2 * H], p.bias_ih, p.bias_hh, kCellLstm, 2, H, u));
        float o = sigmoid(plus_input_bias(g[3 * H], p.bias_ih, p.bias_hh, kCellLstm, 3, H, u));
        float c = f * c_prev + i * gg;
        if (p.keep) {
            g[0] = i;
            g[H] = f;
            g[2 * H] = gg;
            g[3 * H] = o;
            p.c_saved[idx] = c;
        }
        if (row >= p.state_from)
            p.c_state[idx] = c;
        float out = o * tanhf(c);
        p.m[j * p.ld_m + k] = out;
        if (p.h_state && row >= p.h_from)
            p.h_state[idx] = out;
        if (p.h_bf16)
            ((__nv_bfloat16 *)p.h_bf16)[idx] = __float2bfloat16_rn(out);
    }
}

__global__ void lstm_backward(size_t total, int H, const float *gates, const float *c,
                              const float *c_prev, int prev_rows, const float *c_init,
                              const float *dm, const float *dy, int ld_dy, float *dc,
                              float *grad_gates, __nv_bfloat16 *grad_gates_bf16)
{
    GRID_FOR(idx, total) {
        size_t j = idx / H, k = idx % H;
        const float *g = gates + j * 4 * H + k;
        float i = g[0], f = g[H], gg = g[2 * H], o = g[3 * H];
        const float cp = (int)j < prev_rows ? c_prev[idx] : c_init ? c_init[idx] : 0.0f;
        float tanh_c = tanhf(c[idx]);
        float d = with_dy(dm[idx], dy, ld_dy, j, k);
        float dc_total = dc[idx] + d * o * (1.0f - tanh_c * tanh_c);
        const float dg[4] = {dc_total * gg * i * (1.0f - i),
                             dc_total * cp * f * (1.0f - f),
                             dc_total * i * (1.0f - gg * gg), d * tanh_c * o * (1.0f - o)};
#pragma unroll
        for (int q = 0; q < 4; q++) {
            if (grad_gates)
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
        const float h_prev = h_state[idx]; /* read first: loaded with the gates */
        float xb[3], hb[3];
#pragma unroll
        for (int q = 0; q < 3; q++) {
            xb[q] = plus_input_bias(x[q * H], bias_ih, bias_hh, kCellGru, q, H, (int)k);
            hb[q] = bias_hh ? h[q * H] + bias_hh[q * H + k] : h[q * H];
        }
        float r = sigmoid(xb[0] + hb[0]);
        float z = sigmoid(xb[1] + hb[1]);
        float hn = hb[2];
        float n = tanhf(xb[2] + r * hn);
        float hv = (1.0f - z) * n + z * h_prev;
        if (hn_saved) {
            x[0] = r;
            x[H] = z;
            x[2 * H] = n;
            hn_saved[idx] = hn;
        }
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
} // namespace

/* kernel(total, ...) over blocks_for(total) blocks on `stream`; the
 * launch's error. */
#define RK_LAUNCH(kernel, total, ...)                                      \
    do {                                                                   \
        size_t rk_total_ = (total);                                        \
        if (rk_total_ == 0)                                                \
            return 0;                                                      \
        FLAT_LAUNCH(kernel, blocks_for(rk_total_), rk_total_, __VA_ARGS__); \
        return launched();                                                 \
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

int rk_fill_rows(cudaStream_t stream, int rows, int n, const float *vec, float *dst, int ld_dst)
{
    RK_LAUNCH(fill_rows, (size_t)rows * n, n, vec, dst, ld_dst);
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

int rk_lstm_forward(cudaStream_t stream, int rows, int H, const rk_lstm_step *step)
{
    RK_LAUNCH(lstm_forward, (size_t)rows * H, H, *step);
}

int rk_lstm_backward(cudaStream_t stream, int rows, int H, const float *gates, const float *c,
                     const float *c_prev, int prev_rows, const float *c_init, const float *dm,
                     const float *dy, int ld_dy, float *dc, float *grad_gates,
                     void *grad_gates_bf16)
{
    RK_LAUNCH(lstm_backward, (size_t)rows * H, H, gates, c, c_prev, prev_rows, c_init, dm, dy,
              ld_dy, dc, grad_gates, (__nv_bfloat16 *)grad_gates_bf16);
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

} // extern "C"
