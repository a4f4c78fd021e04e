/* The one-cluster forward and backward kernels (src/backend/cuda/cluster_rnn.cu) run on
 * the CPU by tests/emulation/ -- every thread a coroutine, warps, barriers,
 * the cluster's distributed shared memory and the order of threads between
 * barriers drawn at random -- against a plain loop over the steps: the gate
 * activations, c or GRU's hidden_n, y (with a row stride), h_n (in the buffer
 * the kernel's contract names) and c_n, for LSTM and GRU, forward and
 * reverse, variable lengths, one row and up to 32 rows, every weight in
 * registers and some in shared memory, one block and several, the batch in
 * one cluster and split over several, each with the four exchanges between
 * the blocks (single floats or 16-byte copies of each block's slice, through
 * the cluster barrier or asynchronous stores completing on mbarriers).
 * This checks the kernel's indexing and synchronization where no GPU is;
 * test_cuda_rnn checks it on a GPU (RECUR_CUDA_CLUSTER=1). First the
 * emulation itself: small kernels without a barrier they need must read
 * stale values in most of the scheduler's orders, and with it never. */
#define RECUR_CLUSTER_EMULATION 1
#define __CUDA_ARCH__ 900
#include "cuda_emulation.h"

#include "backend/cuda/cluster_rnn.cu"

#include <stdio.h>

#include <algorithm>
#include <vector>

namespace {

int checks, failures;

void check(bool ok, const char *what, int index)
{
    checks++;
    if (!ok) {
        failures++;
        if (failures <= 20)
            fprintf(stderr, "FAIL: %s (element %d)\n", what, index);
    }
}

/* Every element within 1e-5 (absolute, and relative past 1). */
void compare(const std::vector<float> &got, const std::vector<float> &want, const char *what)
{
    int bad = -1;
    for (size_t i = 0; i < want.size() && bad < 0; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-5f * std::max(1.0f, fabsf(want[i]))))
            bad = (int)i;
    check(bad < 0, what, bad);
}

uint64_t rng_state;
float uniform(float lo, float hi)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((rng_state >> 40) & 0xffffff) / 16777216.0f;
}

std::vector<float> random_vector(size_t n, float scale)
{
    std::vector<float> v(n);
    for (float &x : v)
        x = uniform(-scale, scale);
    return v;
}

struct problem {
    int cell, H, B, T, reverse;
    std::vector<int> lengths; /* sorted longest first */
    int cluster_rows = 0;     /* rows a cluster runs (0: all B in one) */
};

/* The exchange between the blocks (rk_persistent's cluster_vector and
 * cluster_async). */
const char *exchange_name(int vector, int async)
{
    static const char *names[4] = {"scalar", "vector", "async scalar", "async vector"};
    return names[(vector ? 1 : 0) + (async ? 2 : 0)];
}

/* The rows a cluster of p runs and the clusters of the grid. */
int rows_of(const problem &p) { return p.cluster_rows > 0 ? p.cluster_rows : p.B; }
int clusters_of(const problem &p) { return (p.B + rows_of(p) - 1) / rows_of(p); }

/* body as every cluster of p's grid, one after another (they share
 * nothing); 0, or -1 when one deadlocked. */
int run_clusters(const problem &p, int blocks, int threads, size_t smem, uint64_t seed,
                 const std::function<void()> &body)
{
    int result = 0;
    for (int k = 0; k < clusters_of(p); k++)
        result |= emu::run(blocks, threads, smem, seed + 1000 * (uint64_t)k, body, k * blocks);
    return result;
}

/* The packed layout of p's lengths: rows active at each step and the first
 * packed row of each step; returns the number of rows. */
int pack(const problem &p, std::vector<int> &batch_sizes, std::vector<int> &offsets)
{
    batch_sizes.assign((size_t)p.T, 0);
    offsets.assign((size_t)p.T, 0);
    int rows = 0;
    for (int t = 0; t < p.T; t++) {
        batch_sizes[t] = (int)std::count_if(p.lengths.begin(), p.lengths.end(),
                                            [t](int length) { return length > t; });
        offsets[t] = rows;
        rows += batch_sizes[t];
    }
    return rows;
}

/* What the kernel must leave: the persistent forward's outputs. */
struct outputs {
    std::vector<float> gates, c_saved, hidden_n, y, h_n, c_n;
};

const int kYPad = 3; /* y's row stride is H + kYPad */

outputs reference(const problem &p, const std::vector<int> &batch_sizes,
                  const std::vector<int> &offsets, const std::vector<float> &weight_hh,
                  const std::vector<float> &bias_ih, const std::vector<float> &bias_hh,
                  const std::vector<float> &pre, const std::vector<float> &h0,
                  const std::vector<float> &c0)
{
    const int H = p.H, G = p.cell == kCellLstm ? 4 : 3, N = (int)pre.size() / (G * H);
    outputs o;
    o.gates = pre; /* plus the input biases: b_ih + b_hh, a GRU's b_ih */
    for (size_t i = 0; i < o.gates.size(); i++) {
        const size_t at = i % ((size_t)G * H);
        o.gates[i] += p.cell == kCellLstm ? bias_ih[at] + bias_hh[at] : bias_ih[at];
    }
    o.c_saved.assign((size_t)N * H, 0.0f);
    o.hidden_n.assign((size_t)N * H, 0.0f);
    o.y.assign((size_t)N * (H + kYPad), 0.0f);
    o.h_n = h0;
    o.c_n = c0;
    std::vector<float> h_new(h0.size());
    for (int s = 0; s < p.T; s++) {
        const int t = p.reverse ? p.T - 1 - s : s;
        for (int j = 0; j < batch_sizes[t]; j++) {
            const size_t row = (size_t)offsets[t] + j;
            for (int u = 0; u < H; u++) {
                float rec[4] = {0, 0, 0, 0};
                for (int g = 0; g < G; g++) {
                    double sum = 0.0;
                    for (int k = 0; k < H; k++)
                        sum += (double)weight_hh[((size_t)g * H + u) * H + k] * o.h_n[(size_t)j * H + k];
                    rec[g] = (float)sum;
                }
                float *gr = &o.gates[row * G * H + u];
                float hv;
                if (p.cell == kCellLstm) {
                    const float i = sigmoid(gr[0] + rec[0]), f = sigmoid(gr[H] + rec[1]);
                    const float gg = tanhf(gr[2 * H] + rec[2]), og = sigmoid(gr[3 * H] + rec[3]);
                    const float c = f * o.c_n[(size_t)j * H + u] + i * gg;
                    gr[0] = i, gr[H] = f, gr[2 * H] = gg, gr[3 * H] = og;
                    o.c_saved[row * H + u] = c;
                    o.c_n[(size_t)j * H + u] = c;
                    hv = og * tanhf(c);
                } else {
                    const float hn = rec[2] + bias_hh[2 * H + u];
                    const float r = sigmoid(gr[0] + rec[0] + bias_hh[u]);
                    const float z = sigmoid(gr[H] + rec[1] + bias_hh[H + u]);
                    const float n = tanhf(gr[2 * H] + r * hn);
                    gr[0] = r, gr[H] = z, gr[2 * H] = n;
                    o.hidden_n[row * H + u] = hn;
                    hv = (1.0f - z) * n + z * o.h_n[(size_t)j * H + u];
                }
                o.y[row * (H + kYPad) + u] = hv;
                h_new[(size_t)j * H + u] = hv;
            }
        }
        for (int j = 0; j < batch_sizes[t]; j++)
            for (int u = 0; u < H; u++)
                o.h_n[(size_t)j * H + u] = h_new[(size_t)j * H + u];
    }
    return o;
}

/* cluster_forward<WARPS, KW, KS> on problem p (H <= 8 (KW + KS) columns),
 * the threads' order drawn from seed, against reference; zero_state: no h0
 * and c0 (NULL, zeros). */
template <int WARPS, int KW, int KS>
void check_forward_exchange(const problem &p, uint64_t seed, int vector, int async,
                            bool zero_state = false)
{
    static_assert(KW % 4 == 0 && KS % 4 == 0, "weights come in float4 chunks");
    const int H = p.H, B = p.B, T = p.T, G = p.cell == kCellLstm ? 4 : 3;
    rng_state = seed;
    std::vector<int> batch_sizes, offsets;
    const int N = pack(p, batch_sizes, offsets);
    const std::vector<float> weight_hh = random_vector((size_t)G * H * H, 0.3f);
    const std::vector<float> bias_ih = random_vector((size_t)G * H, 0.5f);
    const std::vector<float> bias_hh = random_vector((size_t)G * H, 0.5f);
    const std::vector<float> pre = random_vector((size_t)N * G * H, 1.5f);
    const std::vector<float> h0 =
        zero_state ? std::vector<float>((size_t)B * H, 0.0f) : random_vector((size_t)B * H, 0.8f);
    const std::vector<float> c0 =
        zero_state ? std::vector<float>((size_t)B * H, 0.0f) : random_vector((size_t)B * H, 0.8f);
    const outputs want =
        reference(p, batch_sizes, offsets, weight_hh, bias_ih, bias_hh, pre, h0, c0);

    outputs got;
    got.gates = pre;
    got.c_saved.assign((size_t)N * H, 0.0f);
    got.hidden_n.assign((size_t)N * H, 0.0f);
    got.y.assign((size_t)N * (H + kYPad), 0.0f);
    std::vector<float> h_a((size_t)B * H, -7.0f), h_b((size_t)B * H, -7.0f);
    std::vector<float> c_state((size_t)B * H, -7.0f);
    rk_persistent a;
    memset(&a, 0, sizeof a);
    a.cell = p.cell, a.H = H, a.G = G, a.B = B, a.T = T, a.reverse = p.reverse;
    a.batch_sizes = batch_sizes.data(), a.offsets = offsets.data();
    a.weight_hh = weight_hh.data();
    a.bias_ih = bias_ih.data(), a.bias_hh = bias_hh.data();
    a.gates = got.gates.data(), a.h_a = h_a.data(), a.h_b = h_b.data();
    a.h0 = zero_state ? nullptr : h0.data();
    a.c0 = p.cell == kCellLstm && !zero_state ? c0.data() : nullptr;
    a.c_state = p.cell == kCellLstm ? c_state.data() : nullptr;
    a.c_saved = p.cell == kCellLstm ? got.c_saved.data() : nullptr;
    a.hidden_n = p.cell == kCellGru ? got.hidden_n.data() : nullptr;
    a.y = got.y.data(), a.ld_y = H + kYPad;
    const int blocks = (H + WARPS - 1) / WARPS;
    /* no st.async in a cluster of one block (rk_cluster_plan) */
    a.cluster_rows = p.cluster_rows, a.cluster_vector = vector;
    a.cluster_async = async && blocks > 1;
    const size_t smem = sizeof(float) * cluster_smem_floats(WARPS, KS, KW + KS, rows_of(p));
    const int ran = run_clusters(p, blocks, 32 * WARPS, smem, seed,
                                 [&a] { cluster_forward<WARPS, KW, KS>(a); });
    check(ran == 0, "the emulated threads ended (no deadlock)", 0);
    got.h_n = T % 2 ? h_b : h_a;
    got.c_n = p.cell == kCellLstm ? c_state : c0; /* a GRU has none */

    char what[160];
    const char *names[6] = {"gates", "c_saved", "hidden_n", "y", "h_n", "c_n"};
    const std::vector<float> *pairs[6][2] = {
        {&got.gates, &want.gates}, {&got.c_saved, &want.c_saved}, {&got.hidden_n, &want.hidden_n},
        {&got.y, &want.y},         {&got.h_n, &want.h_n},         {&got.c_n, &want.c_n}};
    for (int i = 0; i < 6; i++) {
        snprintf(what, sizeof what,
                 "%s: %s H%d B%d T%d%s, %d warps, %d+%d weights, %s exchange, seed %llu",
                 names[i], p.cell == kCellLstm ? "LSTM" : "GRU", H, B, T,
                 p.reverse ? " reverse" : "", WARPS, KW, KS, exchange_name(vector, a.cluster_async),
                 (unsigned long long)seed);
        compare(*pairs[i][0], *pairs[i][1], what);
    }
    printf("%s H%d B%d T%d%s, %d cluster(s) of %d blocks of %d warps, %d+%d weights a lane, "
           "%s exchange: %s\n",
           p.cell == kCellLstm ? "LSTM" : "GRU", H, B, T, p.reverse ? " reverse" : "",
           clusters_of(p), blocks, WARPS, KW, KS, exchange_name(vector, a.cluster_async),
           failures ? "FAILURES so far" : "ok");
}

/* check_forward_exchange with the four exchanges of h between the blocks,
 * and once more without h0 and c0. */
template <int WARPS, int KW, int KS>
void check_problem(const problem &p, uint64_t seed)
{
    for (int way = 0; way < 4; way++)
        check_forward_exchange<WARPS, KW, KS>(p, seed + (uint64_t)way * 7919, way & 1, way >> 1);
    check_forward_exchange<WARPS, KW, KS>(p, seed + 4 * 7919, 1, 1, true);
}

/* What the backward must leave (persistent_backward's contract). */
struct gradients {
    std::vector<float> grad_gates, grad_gh, dh, dc;
};

const int kDyPad = 2; /* dy's row stride is H + kDyPad */

gradients reference_backward(const problem &p, const std::vector<int> &batch_sizes,
                             const std::vector<int> &offsets, const std::vector<float> &weight_hh,
                             const std::vector<float> &act, const std::vector<float> &cell,
                             const std::vector<float> &cell_prev, const std::vector<float> &dy,
                             const std::vector<float> &dh0, const std::vector<float> &dc0)
{
    const int H = p.H, G = p.cell == kCellLstm ? 4 : 3, GH = G * H, N = (int)act.size() / GH;
    gradients o;
    o.grad_gates.assign((size_t)N * GH, 0.0f);
    o.grad_gh.assign((size_t)N * GH, 0.0f);
    o.dh = dh0;
    o.dc = dc0;
    for (int s = p.T - 1; s >= 0; s--) {
        const int t = p.reverse ? p.T - 1 - s : s;
        for (int j = 0; j < batch_sizes[t]; j++) {
            const size_t row = (size_t)offsets[t] + j;
            for (int u = 0; u < H; u++) {
                const size_t at = (size_t)j * H + u, ru = row * H + u;
                const float d = o.dh[at] + dy[row * (H + kDyPad) + u];
                const float *a = &act[row * GH + u];
                float *dx = &o.grad_gates[row * GH + u], *dg = &o.grad_gh[row * GH + u];
                if (p.cell == kCellLstm) {
                    const float i = a[0], f = a[H], g = a[2 * H], og = a[3 * H];
                    const float tanh_c = tanhf(cell[ru]);
                    const float dc_total = o.dc[at] + d * og * (1.0f - tanh_c * tanh_c);
                    dx[3 * H] = d * tanh_c * og * (1.0f - og);
                    dx[0] = dc_total * g * i * (1.0f - i);
                    dx[H] = dc_total * cell_prev[ru] * f * (1.0f - f);
                    dx[2 * H] = dc_total * i * (1.0f - g * g);
                    for (int k = 0; k < 4; k++)
                        dg[k * H] = dx[k * H];
                    o.dc[at] = dc_total * f;
                } else {
                    const float r = a[0], z = a[H], n = a[2 * H];
                    const float dn = d * (1.0f - z) * (1.0f - n * n);
                    const float dz = d * (cell[ru] - n) * z * (1.0f - z);
                    const float dr = dn * cell_prev[ru] * r * (1.0f - r);
                    dx[0] = dr, dx[H] = dz, dx[2 * H] = dn;
                    dg[0] = dr, dg[H] = dz, dg[2 * H] = dn * r;
                    o.dh[at] = d * z;
                }
            }
        }
        for (int j = 0; j < batch_sizes[t]; j++) {
            const size_t row = (size_t)offsets[t] + j;
            for (int u = 0; u < H; u++) {
                double sum = 0.0;
                for (int r = 0; r < GH; r++)
                    sum += (double)o.grad_gh[row * GH + r] * weight_hh[(size_t)r * H + u];
                const size_t at = (size_t)j * H + u;
                o.dh[at] = (p.cell == kCellGru ? o.dh[at] : 0.0f) + (float)sum;
            }
        }
    }
    return o;
}

/* cluster_backward<WARPS, KW, KS> on problem p against reference_backward
 * (random activations and saved states: the contract is elementwise). */
template <int WARPS, int KW, int KS>
void check_backward_exchange(const problem &p, uint64_t seed, int vector, int async)
{
    const int H = p.H, B = p.B, T = p.T, G = p.cell == kCellLstm ? 4 : 3, GH = G * H;
    rng_state = seed;
    std::vector<int> batch_sizes, offsets;
    const int N = pack(p, batch_sizes, offsets);
    const std::vector<float> weight_hh = random_vector((size_t)GH * H, 0.3f);
    std::vector<float> act = random_vector((size_t)N * GH, 1.0f);
    for (float &x : act) /* gate activations: sigmoid-like in (0, 1), tanh-like in (-1, 1) */
        x = p.cell == kCellLstm || x > 0.0f ? 0.5f + 0.45f * x : x;
    const std::vector<float> cell = random_vector((size_t)N * H, 1.0f);
    const std::vector<float> cell_prev = random_vector((size_t)N * H, 1.0f);
    const std::vector<float> dy = random_vector((size_t)N * (H + kDyPad), 1.0f);
    const std::vector<float> dh0 = random_vector((size_t)B * H, 1.0f);
    const std::vector<float> dc0 = random_vector((size_t)B * H, 1.0f);
    const gradients want = reference_backward(p, batch_sizes, offsets, weight_hh, act, cell,
                                              cell_prev, dy, dh0, dc0);

    gradients got;
    got.grad_gates.assign((size_t)N * GH, 0.0f);
    got.grad_gh.assign((size_t)N * GH, 0.0f);
    got.dh = dh0;
    got.dc = dc0;
    const bool lstm = p.cell == kCellLstm;
    rk_persistent a;
    memset(&a, 0, sizeof a);
    a.cell = p.cell, a.H = H, a.G = G, a.B = B, a.T = T, a.reverse = p.reverse, a.backward = 1;
    a.batch_sizes = batch_sizes.data(), a.offsets = offsets.data();
    a.weight_hh = weight_hh.data();
    a.gates = act.data();
    a.c_saved = lstm ? (float *)cell.data() : nullptr;
    a.c_prev = lstm ? cell_prev.data() : nullptr;
    a.h_prev = lstm ? nullptr : cell.data();
    a.hidden_n = lstm ? nullptr : (float *)cell_prev.data();
    a.dy = dy.data(), a.ld_dy = H + kDyPad;
    a.grad_gates = got.grad_gates.data();
    a.grad_gh = lstm ? got.grad_gates.data() : got.grad_gh.data();
    a.dh = got.dh.data();
    a.dc = lstm ? got.dc.data() : nullptr;
    const int blocks = (H + WARPS - 1) / WARPS;
    /* no st.async in a cluster of one block (rk_cluster_plan) */
    a.cluster_rows = p.cluster_rows, a.cluster_vector = vector;
    a.cluster_async = async && blocks > 1;
    const size_t smem =
        sizeof(float) * cluster_backward_smem_floats(WARPS, KS, KW + KS, rows_of(p));
    const int ran = run_clusters(p, blocks, 32 * WARPS, smem, seed,
                                 [&a] { cluster_backward<WARPS, KW, KS>(a); });
    check(ran == 0, "the emulated threads ended (no deadlock)", 0);
    if (lstm)
        got.grad_gh = want.grad_gh; /* LSTM's recurrent gradients are grad_gates */

    char what[160];
    const char *names[4] = {"grad_gates", "grad_gh", "dh0", "dc0"};
    const std::vector<float> *pairs[4][2] = {{&got.grad_gates, &want.grad_gates},
                                             {&got.grad_gh, &want.grad_gh},
                                             {&got.dh, &want.dh},
                                             {&got.dc, &want.dc}};
    for (int i = 0; i < 4; i++) {
        snprintf(what, sizeof what,
                 "backward %s: %s H%d B%d T%d%s, %d warps, %d+%d weights, %s exchange",
                 names[i], lstm ? "LSTM" : "GRU", H, B, T, p.reverse ? " reverse" : "", WARPS,
                 KW, KS, exchange_name(vector, a.cluster_async));
        compare(*pairs[i][0], *pairs[i][1], what);
    }
    printf("backward %s H%d B%d T%d%s, %d cluster(s) of %d blocks of %d warps, %d+%d weights "
           "a lane, %s exchange: %s\n",
           lstm ? "LSTM" : "GRU", H, B, T, p.reverse ? " reverse" : "", clusters_of(p), blocks,
           WARPS, KW, KS, exchange_name(vector, a.cluster_async),
           failures ? "FAILURES so far" : "ok");
}

/* check_backward_exchange with the four exchanges of the gradient rows. */
template <int WARPS, int KW, int KS>
void check_backward(const problem &p, uint64_t seed)
{
    for (int way = 0; way < 4; way++)
        check_backward_exchange<WARPS, KW, KS>(p, seed + (uint64_t)way * 7919, way & 1, way >> 1);
}

} // namespace

/* The emulation's own power, so that the checks above cannot pass by the
 * scheduler's luck: threads write their slot of a buffer, wait, read
 * another thread's slot, step after step, and count the values that are
 * not that step's. Without the barrier that keeps the next step's write
 * from overtaking a slow thread's read, the scheduler's orders expose the
 * race; with it, never. scope 0: a block's shared memory and
 * __syncthreads; 1: other blocks' shared memory (map_shared_rank) and the
 * cluster barrier, the blocks drifting apart; 2: a warp's shuffles, many
 * in a row (no barrier to leave out: they must never read a stale value). */
int stale_reads(int scope, bool guarded, uint64_t seed)
{
    const int blocks = scope == 1 ? 3 : 1, threads = 64, steps = 6;
    int stale = 0;
    const int ran = emu::run(blocks, threads, threads * sizeof(float), seed, [&] {
        const int t = (int)threadIdx.x, rank = (int)blockIdx.x;
        float *buf = (float *)dynamic_shared_memory();
        cooperative_groups::cluster_group cluster = cooperative_groups::this_cluster();
        for (int s = 0; s < steps; s++) {
            if (scope == 2) {
                const int mask = 1 + (s * 7 + t / 32) % 31;
                const float got = __shfl_xor_sync(0xffffffffu, (float)(s * 1000 + t), mask);
                stale += got != (float)(s * 1000 + (t ^ mask));
                continue;
            }
            if (scope == 0) {
                buf[t] = (float)(s * 1000 + t);
                __syncthreads();
                stale += buf[(t + 1) % threads] != (float)(s * 1000 + (t + 1) % threads);
                if (guarded)
                    __syncthreads();
            } else {
                *cluster.map_shared_rank(&buf[t], (unsigned)((rank + 1) % blocks)) =
                    (float)(s * 1000 + rank);
                cluster.sync();
                stale += buf[t] != (float)(s * 1000 + (rank + blocks - 1) % blocks);
                if (guarded)
                    cluster.sync();
            }
        }
    });
    return ran == 0 ? stale : -1;
}

void check_emulation_exposes_races()
{
    static const char *scopes[3] = {"block", "cluster", "warp shuffles"};
    for (int scope = 0; scope < 3; scope++) {
        int guarded_stale = 0, exposed = 0;
        for (uint64_t seed = 1; seed <= 8; seed++) {
            guarded_stale += stale_reads(scope, true, seed) != 0;
            exposed += scope < 2 && stale_reads(scope, false, seed) > 0;
        }
        char what[96];
        snprintf(what, sizeof what, "%s: no stale value with the barrier", scopes[scope]);
        check(guarded_stale == 0, what, guarded_stale);
        if (scope < 2) {
            snprintf(what, sizeof what, "%s: the missing barrier exposed in most orders",
                     scopes[scope]);
            check(exposed >= 6, what, exposed);
        }
    }
}

int main()
{
    check_emulation_exposes_races();
    /* Every weight in registers, 16 warps a block, as H <= 256 runs. */
    check_problem<16, 4, 0>({kCellLstm, 20, 3, 5, 0, {5, 3, 2}}, 1);
    check_problem<16, 8, 0>({kCellGru, 40, 5, 6, 1, {6, 6, 4, 1, 1}}, 2);
    check_problem<16, 8, 0>({kCellLstm, 33, 1, 7, 1, {7}}, 3); /* one row: 1-row products */
    check_problem<16, 4, 0>({kCellLstm, 16, 32, 4, 0, std::vector<int>(32, 4)}, 4);
    check_problem<16, 4, 0>({kCellGru, 7, 9, 3, 0, {3, 3, 3, 3, 2, 2, 1, 1, 1}}, 5);
    /* Weights in shared memory too, 32 warps a block, as 256 < H <= 512
     * runs (with fewer columns, so that the emulation stays small). */
    check_problem<32, 4, 4>({kCellLstm, 50, 6, 5, 0, {5, 5, 4, 3, 3, 1}}, 6);
    check_problem<32, 4, 8>({kCellGru, 70, 2, 4, 1, {4, 2}}, 7);
    /* Another order of the threads, same problem. */
    check_problem<16, 8, 0>({kCellGru, 40, 5, 6, 1, {6, 6, 4, 1, 1}}, 8);
    /* The batch split over clusters: 3 of 2 rows, the last cluster's rows
     * ending first; 4 of 3 rows, the last with one; 40 rows (past one
     * cluster's 32) in 5 of 8. */
    check_problem<16, 8, 0>({kCellGru, 40, 5, 6, 1, {6, 6, 4, 1, 1}, 2}, 9);
    check_problem<16, 4, 0>({kCellLstm, 20, 10, 5, 0, {5, 5, 5, 4, 4, 3, 3, 2, 2, 1}, 3}, 10);
    check_problem<32, 4, 4>({kCellLstm, 50, 40, 3, 1, std::vector<int>(40, 3), 8}, 17);
    /* The backward through time, the same layouts. */
    check_backward<16, 4, 0>({kCellLstm, 20, 3, 5, 0, {5, 3, 2}}, 11);
    check_backward<16, 8, 0>({kCellGru, 40, 5, 6, 1, {6, 6, 4, 1, 1}}, 12);
    check_backward<16, 8, 0>({kCellLstm, 33, 1, 7, 1, {7}}, 13);
    check_backward<16, 4, 0>({kCellGru, 16, 32, 3, 0, std::vector<int>(32, 3)}, 14);
    check_backward<32, 4, 4>({kCellLstm, 50, 6, 5, 1, {5, 5, 4, 3, 3, 1}}, 15);
    check_backward<32, 4, 8>({kCellGru, 70, 2, 4, 0, {4, 2}}, 16);
    check_backward<16, 8, 0>({kCellGru, 40, 5, 6, 1, {6, 6, 4, 1, 1}, 2}, 18);
    check_backward<16, 4, 0>({kCellLstm, 20, 10, 5, 0, {5, 5, 5, 4, 4, 3, 3, 2, 2, 1}, 3}, 19);
    printf("test_cluster_emulated: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
