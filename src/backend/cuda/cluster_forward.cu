/* The small-batch LSTM/GRU forward on one thread-block cluster (sm_90), with
 * the recurrent weights in registers (see kernels.h, rk_cluster_plan).
 *
 * Layout. Block r of the cluster has kClusterWarps warps; warp w owns hidden
 * unit u = r * kClusterWarps + w. Lane l of that warp holds gate g = l / 8's
 * row of W_hh for unit u, columns 32 q + 4 (l % 8) + e (q < KW / 4, e < 4),
 * in KW registers, zero past H. Every block keeps all of h in its shared
 * memory (double buffer [2][Bp][HS]: HS = 8 KW + 4 floats a row, zero past H;
 * the 4 extra floats put the lanes' single-float stores of a column into
 * different banks).
 *
 * One step: each warp forms its unit's G gate products for the active rows,
 * four batch rows at a time (float4 loads of h that the 8 lanes of a gate
 * spread over 32 consecutive floats, then a butterfly over the 8 lanes);
 * lane j then applies the cell to batch row j, stores what the backward
 * needs, and writes the new h value into the next buffer of every block
 * through distributed shared memory; one cluster barrier ends the step. The
 * input pre-activations of step s + 1 and the row counts of step s + 2 are
 * loaded during step s, so no global load waits on the step's critical path.
 * The arithmetic and what is stored are those of persistent_forward. */
#include "backend/cuda/cell_math.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"

#include <cooperative_groups.h>

namespace cg = cooperative_groups;

namespace {

const int kClusterWarps = 16;                    /* hidden units per block */
const int kClusterThreads = 32 * kClusterWarps;  /* threads per block */
const int kClusterBlocks = 16;                   /* non-portable cluster maximum (H100) */
const int kClusterRows = 32;                     /* batch rows: one lane each */
const int kLanesPerGate = 8;                     /* lanes sharing one gate row */

/* Floats a row of h takes in shared memory for KW weights a lane. */
__host__ __device__ constexpr int cluster_row_floats(int kw) { return kLanesPerGate * kw + 4; }

/* Floats of shared memory for batch B and hidden size H: the h double buffer
 * [2][Bp][HS] (Bp: B rounded up to 4) and the gate sums [warps][4][32]. */
size_t cluster_smem_floats(int B, int H)
{
    const size_t Bp = (size_t)((B + 3) & ~3);
    const int kw = 4 * ((H + 31) / 32);
    return 2 * Bp * (size_t)cluster_row_floats(kw) + (size_t)kClusterWarps * 4 * kClusterRows;
}

template <int KW>
__global__ void __launch_bounds__(kClusterThreads, 1) cluster_forward(rk_persistent a)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    constexpr int HS = cluster_row_floats(KW); /* floats a row of h in shared memory */
    constexpr int HS4 = HS / 4;
    extern __shared__ float4 smem4[];
    cg::cluster_group cluster = cg::this_cluster();
    const int H = a.H, G = a.G, B = a.B, T = a.T;
    const int Bp = (B + 3) & ~3;
    const int blocks = (int)cluster.num_blocks();
    float4 *hbuf4 = smem4;                                  /* [2][Bp][HS4] */
    float *acc_all = (float *)(hbuf4 + 2 * (size_t)Bp * HS4); /* [warps][4][32] */

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int gate = lane / kLanesPerGate, seg = lane % kLanesPerGate;
    const int u = (int)cluster.block_rank() * kClusterWarps + warp;
    const bool unit_ok = u < H;
    float *acc = acc_all + warp * 4 * kClusterRows; /* [gate][row] of this warp's unit */
    /* The time step of position s (a reverse direction runs backwards). */
    auto step_time = [&](int s) { return a.reverse ? T - 1 - s : s; };

    float w[KW];
#pragma unroll
    for (int q = 0; q < KW / 4; q++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int col = 32 * q + 4 * seg + e;
            w[4 * q + e] = unit_ok && gate < G && col < H
                               ? a.weight_hh[((size_t)gate * H + u) * H + col]
                               : 0.0f;
        }
    }
    float *hbuf = (float *)hbuf4;
    for (int idx = tid; idx < 2 * Bp * HS; idx += kClusterThreads) {
        const int j = (idx / HS) % Bp, col = idx % HS;
        hbuf[idx] = idx < Bp * HS && j < B && col < H ? a.h_a[(size_t)j * H + col] : 0.0f;
    }
    /* Lane j carries batch row j of unit u: its c, and its input pre-activations. */
    const bool row_lane = unit_ok && lane < B;
    float c_reg = 0.0f;
    if (row_lane && a.cell == kCellLstm)
        c_reg = a.c_state[(size_t)lane * H + u];
    int rows = 0, row0 = 0, rows_next = 0, row0_next = 0;
    if (T > 0)
        rows = a.batch_sizes[step_time(0)], row0 = a.offsets[step_time(0)];
    if (T > 1)
        rows_next = a.batch_sizes[step_time(1)], row0_next = a.offsets[step_time(1)];
    float pre[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (row_lane && lane < rows) {
        const float *gr = a.gates + ((size_t)row0 + lane) * (size_t)G * H + u;
#pragma unroll
        for (int g = 0; g < 4; g++)
            if (g < G)
                pre[g] = gr[(size_t)g * H];
    }
    cluster.sync(); /* every block's buffers are written before anyone stores into them */

    for (int s = 0; s < T; s++) {
        /* Loads for later steps, consumed one step from now. */
        int rows_after = 0, row0_after = 0;
        if (s + 2 < T) {
            rows_after = a.batch_sizes[step_time(s + 2)];
            row0_after = a.offsets[step_time(s + 2)];
        }
        float pre_next[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (row_lane && lane < rows_next) {
            const float *gr = a.gates + ((size_t)row0_next + lane) * (size_t)G * H + u;
#pragma unroll
            for (int g = 0; g < 4; g++)
                if (g < G)
                    pre_next[g] = gr[(size_t)g * H];
        }

        const float4 *h4 = hbuf4 + (size_t)(s & 1) * Bp * HS4;
        float *h_next = hbuf + (size_t)((s + 1) & 1) * Bp * HS;
        /* The gate products of the active rows, four rows at a time. */
        for (int j0 = 0; j0 < rows; j0 += 4) {
            float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
            for (int q = 0; q < KW / 4; q++) {
#pragma unroll
                for (int jj = 0; jj < 4; jj++) {
                    const float4 hv = h4[(size_t)(j0 + jj) * HS4 + kLanesPerGate * q + seg];
                    float v = sum[jj];
                    v = fmaf(w[4 * q], hv.x, v);
                    v = fmaf(w[4 * q + 1], hv.y, v);
                    v = fmaf(w[4 * q + 2], hv.z, v);
                    v = fmaf(w[4 * q + 3], hv.w, v);
                    sum[jj] = v;
                }
            }
#pragma unroll
            for (int off = 1; off < kLanesPerGate; off <<= 1) {
#pragma unroll
                for (int jj = 0; jj < 4; jj++)
                    sum[jj] += __shfl_xor_sync(0xffffffffu, sum[jj], off);
            }
            if (seg == 0) {
#pragma unroll
                for (int jj = 0; jj < 4; jj++)
                    acc[gate * kClusterRows + j0 + jj] = sum[jj];
            }
        }
        __syncwarp();

        if (row_lane) {
            const float *h = (const float *)h4;
            const float hp = h[(size_t)lane * HS + u];
            float hv = hp; /* finished sequences keep their state */
            if (lane < rows) {
                const size_t row = (size_t)row0 + lane;
                const float *rec = acc + lane; /* rec[g * kClusterRows] */
                float *gr = a.gates + row * (size_t)G * H;
                if (a.cell == kCellLstm) {
                    const float i = sigmoid(pre[0] + rec[0]);
                    const float f = sigmoid(pre[1] + rec[kClusterRows]);
                    const float gg = tanhf(pre[2] + rec[2 * kClusterRows]);
                    const float o = sigmoid(pre[3] + rec[3 * kClusterRows]);
                    const float c = f * c_reg + i * gg;
                    c_reg = c;
                    gr[u] = i, gr[H + u] = f, gr[2 * H + u] = gg, gr[3 * H + u] = o;
                    a.c_saved[row * H + u] = c;
                    hv = o * tanhf(c);
                } else { /* kCellGru */
                    const float *b = a.bias_hh;
                    const float hr = rec[0] + (b ? b[u] : 0.0f);
                    const float hz = rec[kClusterRows] + (b ? b[H + u] : 0.0f);
                    const float hn = rec[2 * kClusterRows] + (b ? b[2 * H + u] : 0.0f);
                    const float r = sigmoid(pre[0] + hr);
                    const float z = sigmoid(pre[1] + hz);
                    const float n = tanhf(pre[2] + r * hn);
                    hv = (1.0f - z) * n + z * hp;
                    gr[u] = r, gr[H + u] = z, gr[2 * H + u] = n;
                    a.hidden_n[row * H + u] = hn;
                }
                a.y[row * a.ld_y + u] = hv;
            }
            for (int rank = 0; rank < blocks; rank++)
                cluster.map_shared_rank(h_next, rank)[(size_t)lane * HS + u] = hv;
        }
        cluster.sync(); /* h_next complete in every block; h and acc free again */

        rows = rows_next, row0 = row0_next;
        rows_next = rows_after, row0_next = row0_after;
#pragma unroll
        for (int g = 0; g < 4; g++)
            pre[g] = pre_next[g];
    }

    /* h_n where the grid version leaves it: h_a when T is even, else h_b. */
    if (row_lane) {
        const float *h_last = hbuf + (size_t)(T & 1) * Bp * HS;
        float *h_out = T % 2 ? a.h_b : a.h_a;
        h_out[(size_t)lane * H + u] = h_last[(size_t)lane * HS + u];
        if (a.cell == kCellLstm)
            a.c_state[(size_t)lane * H + u] = c_reg;
    }
#else
    (void)a;
#endif
}

typedef void (*cluster_kernel)(rk_persistent);

/* The instance for hidden size H: KW = 4 ceil(H / 32) weights a lane. */
cluster_kernel cluster_kernel_for(int H)
{
    switch ((H + 31) / 32) {
    case 1: return cluster_forward<4>;
    case 2: return cluster_forward<8>;
    case 3: return cluster_forward<12>;
    case 4: return cluster_forward<16>;
    case 5: return cluster_forward<20>;
    case 6: return cluster_forward<24>;
    case 7: return cluster_forward<28>;
    case 8: return cluster_forward<32>;
    default: return NULL;
    }
}

/* The launch of plan p: one cluster of p->blocks blocks. */
cudaLaunchConfig_t cluster_config(cudaStream_t stream, const rk_persistent *p,
                                  cudaLaunchAttribute *attribute)
{
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3((unsigned)p->blocks);
    config.blockDim = dim3(kClusterThreads);
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
    if (p->backward || (p->cell != kCellLstm && p->cell != kCellGru) || p->H < 1 ||
        p->H > kClusterWarps * kClusterBlocks || p->B < 1 || p->B > kClusterRows)
        return 0;
    int dev = 0, major = 0, optin = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) !=
            cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    const cluster_kernel kernel = cluster_kernel_for(p->H);
    const size_t smem = sizeof(float) * cluster_smem_floats(p->B, p->H);
    if (major < 9 || !kernel || smem > (size_t)optin)
        return 0;
    const int blocks = (p->H + kClusterWarps - 1) / kClusterWarps;
    /* The attribute is the function's, for every handle: always the device's limit. */
    if (cudaFuncSetAttribute((const void *)kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             optin) != cudaSuccess ||
        (blocks > 8 && cudaFuncSetAttribute((const void *)kernel,
                                            cudaFuncAttributeNonPortableClusterSizeAllowed,
                                            1) != cudaSuccess)) {
        cudaGetLastError();
        return 0;
    }
    p->units = kClusterWarps;
    p->blocks = blocks;
    p->smem = smem;
    cudaLaunchAttribute attribute[1];
    const cudaLaunchConfig_t config = cluster_config(0, p, attribute);
    int clusters = 0;
    if (cudaOccupancyMaxActiveClusters(&clusters, (const void *)kernel, &config) !=
            cudaSuccess ||
        clusters < 1) {
        cudaGetLastError();
        return 0;
    }
    return 1;
}

int rk_cluster_forward(cudaStream_t stream, const rk_persistent *p)
{
    rk_persistent copy = *p;
    cudaLaunchAttribute attribute[1];
    const cudaLaunchConfig_t config = cluster_config(stream, p, attribute);
    const cudaError_t e = cudaLaunchKernelEx(&config, cluster_kernel_for(p->H), copy);
    return e != cudaSuccess ? (int)e : launched();
}

} // extern "C"
