/* The persistent kernels (see kernels.h): all steps of one direction's
 * forward or backward in one cooperative launch, each block keeping its
 * units' part of W_hh in shared memory and the grid meeting once a step;
 * the cell math of kernels.cu's step kernels. */
#include "backend/cuda/kernels.h"
#include "backend/cuda/cell_math.cuh"
#include "backend/cuda/launch.cuh"

#include <cooperative_groups.h>
#include <stdint.h>
#include <stdlib.h>

namespace cg = cooperative_groups;

namespace {

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

/* The forward's exchange of h without the grid barrier (h_flagged): each
 * value goes out in one 64-bit word with its step's stamp, value | stamp <<
 * 32, so that a reader that sees the stamp has the value (relaxed loads
 * and stores at gpu scope, single-copy atomic at 8 bytes). */
#ifdef RECUR_CUDA_EMULATION
__device__ __forceinline__ unsigned long long ld_stamped(const unsigned long long *p)
{
    return *(const volatile unsigned long long *)p;
}
__device__ __forceinline__ unsigned long long wait_stamped(const unsigned long long *p,
                                                           unsigned stamp)
{
    return emu::wait_stamp((const uint64_t *)p, stamp);
}
__device__ __forceinline__ void st_stamped(unsigned long long *p, unsigned long long word)
{
    *(volatile unsigned long long *)p = word;
}
#else
__device__ __forceinline__ unsigned long long ld_stamped(const unsigned long long *p)
{
    unsigned long long word;
    asm volatile("ld.relaxed.gpu.global.b64 %0, [%1];" : "=l"(word) : "l"(p) : "memory");
    return word;
}
__device__ __forceinline__ unsigned long long wait_stamped(const unsigned long long *p,
                                                           unsigned stamp)
{
    unsigned long long word;
    do
        word = ld_stamped(p);
    while ((unsigned)(word >> 32) != stamp);
    return word;
}
__device__ __forceinline__ void st_stamped(unsigned long long *p, unsigned long long word)
{
    asm volatile("st.relaxed.gpu.global.b64 [%0], %1;" ::"l"(p), "l"(word) : "memory");
}
#endif
__device__ __forceinline__ unsigned long long stamped(float value, unsigned stamp)
{
    return (unsigned long long)stamp << 32 | __float_as_uint(value);
}

/* dst[0..n) (shared memory) = the values of src[0..n) once their stamps are
 * `stamp` (other blocks store them): eight loads in flight a thread, then
 * the stale ones read again until their stamps come. */
__device__ __forceinline__ void load_stamped(float *dst, const unsigned long long *src, int n,
                                             unsigned stamp)
{
    const int tid = threadIdx.x, nthreads = blockDim.x;
    for (int base = tid; base < n; base += 8 * nthreads) {
        unsigned long long word[8];
#pragma unroll
        for (int k = 0; k < 8; k++)
            if (base + k * nthreads < n)
                word[k] = ld_stamped(src + base + k * nthreads);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            const int idx = base + k * nthreads;
            if (idx < n) {
                if ((unsigned)(word[k] >> 32) != stamp)
                    word[k] = wait_stamped(src + idx, stamp);
                dst[idx] = __uint_as_float((unsigned)word[k]);
            }
        }
    }
}

/* w . h_j over n floats (shared memory) for the NJ rows h_j = h + j n by
 * one warp, each load of w feeding every row; lane 0 gets them in sum[j].
 * float4 loads when n is a multiple of 128 and both are 16-byte aligned. */
template <int NJ>
__device__ __forceinline__ void warp_dots(const float *w, const float *h, int n, int lane,
                                          float sum[NJ])
{
#pragma unroll
    for (int j = 0; j < NJ; j++)
        sum[j] = 0.0f;
    if (n % 128 == 0 && ((uintptr_t)w | (uintptr_t)h) % 16 == 0) {
        const float4 *w4 = (const float4 *)w, *h4 = (const float4 *)h;
        const int n4 = n / 4;
        for (int k = lane; k < n4; k += 32) {
            const float4 x = w4[k];
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                const float4 y = h4[(size_t)j * n4 + k];
                sum[j] += x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
            }
        }
    } else {
        for (int k = lane; k < n; k += 32) {
            const float x = w[k];
#pragma unroll
            for (int j = 0; j < NJ; j++)
                sum[j] += x * h[(size_t)j * n + k];
        }
    }
    for (int off = 16; off > 0; off >>= 1) {
#pragma unroll
        for (int j = 0; j < NJ; j++)
            sum[j] += __shfl_down_sync(0xffffffffu, sum[j], off);
    }
}

/* Shared memory: w [G][units][H] (the block's rows of W_hh), h [B][H]
 * (h_prev), acc [B][G][units] (the recurrent products of this step).
 * STAMPED: h passes between blocks through a.h_flagged, else the grid
 * barrier (the one without keeps its registers: 64 against 80 on sm_90). */
template <bool STAMPED> __global__ void __launch_bounds__(256) persistent_forward(rk_persistent a)
{
    float *smem = (float *)dynamic_shared_memory();
    const int U = a.units, G = a.G, H = a.H;
    const int u0 = blockIdx.x * U;
    const int nu = min(U, H - u0);
    float *w = smem, *h = w + (size_t)G * U * H, *acc = h + (size_t)a.B * H;
    /* h_flagged: step s reads [(s - 1) % 2] (stamps s) and writes [s % 2]
     * (stamps s + 1), all B rows (finished ones carried over) in both, even
     * at steps without active rows: a block writes [s % 2] again only after
     * every block has read it, since it waits for all of their next values
     * first. */
    unsigned long long *const flagged = STAMPED ? a.h_flagged : NULL;
    const size_t BH = (size_t)a.B * H;
    const int tid = threadIdx.x, nthreads = blockDim.x;
    const int lane = tid & 31, warp = tid >> 5, nwarps = nthreads >> 5;

    for (int idx = tid; idx < G * nu * H; idx += nthreads) {
        int g = idx / (nu * H), rem = idx % (nu * H), uu = rem / H, k = rem % H;
        w[((size_t)g * U + uu) * H + k] = a.weight_hh[((size_t)g * H + u0 + uu) * H + k];
    }
    cg::grid_group grid = cg::this_grid();
    /* h_prev: the step's h (h0 at the first; NULL: zeros); h_next: where
     * the step writes, h_b and h_a in turn. */
    const float *h_prev = a.h0;
    float *h_next = a.h_b, *h_other = a.h_a;
    /* When every (row, unit) pair of the block has a thread of its own, that
     * thread keeps its c in a register and loads its input pre-activations
     * before the step's dot products, hiding their latency. */
    const int own = a.B * nu <= nthreads;
    const int own_j = tid / nu, own_u = u0 + tid % nu;
    float c_reg = 0.0f;
    if (own && own_j < a.B && a.cell == kCellLstm)
        c_reg = a.c0 ? a.c0[(size_t)own_j * H + own_u] : 0.0f;
    /* c0 into c_state, where the step reads c_prev without a thread of its
     * own (the loop's first barrier orders it): this block's units alone. */
    for (int idx = tid; a.cell == kCellLstm && idx < a.B * nu; idx += nthreads) {
        const size_t at = (size_t)(idx / nu) * H + u0 + idx % nu;
        a.c_state[at] = a.c0 ? a.c0[at] : 0.0f;
    }
    for (int s = 0; s < a.T; s++) {
        const int t = a.reverse ? a.T - 1 - s : s;
        const int rows = a.batch_sizes[t];
        const size_t row0 = (size_t)a.offsets[t];
        /* The input pre-activations, loaded before the step's barriers and
         * products so that their latency overlaps them; their biases are
         * added where the cell reads them (an addition here would wait for
         * the loads before the first barrier). */
        float pre[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (own && own_j < rows) {
            const float *gr = a.gates + (row0 + (size_t)own_j) * (size_t)G * H + own_u;
#pragma unroll
            for (int g = 0; g < 4; g++)
                if (g < G)
                    pre[g] = gr[(size_t)g * H];
        }
        __syncthreads(); /* the previous step's readers of h and acc are done */
        if (flagged && s > 0) /* every row, so that every block's last step is done */
            load_stamped(h, flagged + (size_t)((s - 1) & 1) * BH, a.B * H, (unsigned)s);
        else if (h_prev)
            load_l2(h, h_prev, rows * H);
        else
            for (int idx = tid; idx < rows * H; idx += nthreads)
                h[idx] = 0.0f;
        __syncthreads();
        /* a warp's task: one row of W_hh against up to 4 rows of h */
        const int w_rows = G * nu, tasks = w_rows * ((rows + 3) / 4);
        for (int d = warp; d < tasks; d += nwarps) {
            const int j0 = d / w_rows * 4, g = d % w_rows / nu, uu = d % nu;
            const int nj = min(4, rows - j0);
            const float *w_row = w + ((size_t)g * U + uu) * H, *h_rows = h + (size_t)j0 * H;
            float sum[4];
            switch (nj) {
            case 1: warp_dots<1>(w_row, h_rows, H, lane, sum); break;
            case 2: warp_dots<2>(w_row, h_rows, H, lane, sum); break;
            case 3: warp_dots<3>(w_row, h_rows, H, lane, sum); break;
            default: warp_dots<4>(w_row, h_rows, H, lane, sum);
            }
#pragma unroll
            for (int j = 0; j < 4; j++)
                if (lane == 0 && j < nj)
                    acc[((size_t)(j0 + j) * G + g) * U + uu] = sum[j];
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
#pragma unroll
            for (int g = 0; g < 4; g++)
                if (g < G)
                    pre[g] = plus_input_bias(pre[g], a.bias_ih, a.bias_hh, a.cell, g, H, u);
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
            if (flagged)
                st_stamped(flagged + (size_t)(s & 1) * BH + (size_t)j * H + u,
                           stamped(hv, (unsigned)s + 1));
        }
        /* Finished sequences keep their state in the other buffer too (its
         * units' h_prev: this block wrote it). */
        for (int idx = tid; idx < (a.B - rows) * nu; idx += nthreads) {
            const size_t at = (size_t)(rows + idx / nu) * H + u0 + idx % nu;
            const float kept = h_prev ? __ldcg(h_prev + at) : 0.0f;
            h_next[at] = kept;
            if (flagged)
                st_stamped(flagged + (size_t)(s & 1) * BH + at, stamped(kept, (unsigned)s + 1));
        }
        if (!flagged)
            grid.sync();
        h_prev = h_next;
        float *swap = h_next;
        h_next = h_other;
        h_other = swap;
    }
}

/* Shared memory: w [units][G*H] (the columns of W_hh for the block's units),
 * grad [B][G*H] (this step's rows of grad_gh). dh and dc entries of a unit
 * are read and written by its block only. */
__global__ void __launch_bounds__(256) persistent_backward(rk_persistent a)
{
    float *smem = (float *)dynamic_shared_memory();
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
            float sum;
            warp_dots<1>(w + (size_t)uu * GH, grad + (size_t)j * GH, GH, lane, &sum);
            if (lane == 0) {
                const size_t at = (size_t)j * H + u0 + uu;
                a.dh[at] = (a.cell == kCellGru ? a.dh[at] : 0.0f) + sum;
            }
        }
    }
}
} // namespace

extern "C" {

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
    const char *env = getenv("RECUR_CUDA_PERSISTENT_UNITS");
    const int least = env && atoi(env) > 0 ? atoi(env) : 4;
    int units = (p->H + sms - 1) / sms;
    if (units < least)
        units = least;
    if (units > p->H)
        units = p->H;
    const size_t G = (size_t)p->G, H = (size_t)p->H, B = (size_t)p->B;
    const size_t smem = sizeof(float) * (p->backward ? G * units * H + B * G * H
                                                     : G * units * H + B * H + B * G * units);
    if (smem > (size_t)optin)
        return 0;
    const void *kernel = p->backward ? (const void *)persistent_backward
                                     : (const void *)persistent_forward<false>;
    const void *stamped = (const void *)persistent_forward<true>;
    /* The attribute is the function's, for every handle: always the device's
     * limit (the stamped forward's too: the same shared memory, and at its
     * registers still the one block an SM that the grid needs). */
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin) !=
            cudaSuccess ||
        (!p->backward && cudaFuncSetAttribute(stamped, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              optin) != cudaSuccess)) {
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

/* One cooperative launch of a persistent kernel with its argument block
 * (tests/emulation/kernels_emulated.cpp: its threads as coroutines on the
 * CPU, the grid one emulated cluster). */
static int launch_persistent(void (*kernel)(rk_persistent), cudaStream_t stream,
                             const rk_persistent *p)
{
    rk_persistent copy = *p;
#ifdef RECUR_CUDA_EMULATION
    return (int)emu::submit(stream, [copy, kernel] {
        emu::run_or_abort(copy.blocks, 256, copy.smem, [&copy, kernel] { kernel(copy); });
    });
#else
    void *args[] = {&copy};
    cudaError_t e = cudaLaunchCooperativeKernel((const void *)kernel, dim3((unsigned)p->blocks),
                                                dim3(256), args, p->smem, stream);
    return e != cudaSuccess ? (int)e : launched();
#endif
}

int rk_persistent_backward(cudaStream_t stream, const rk_persistent *p)
{
    return launch_persistent(persistent_backward, stream, p);
}

int rk_persistent_forward(cudaStream_t stream, const rk_persistent *p)
{
    return launch_persistent(p->h_flagged ? persistent_forward<true> : persistent_forward<false>,
                             stream, p);
}

} // extern "C"
