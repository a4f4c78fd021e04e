/* The element-wise kernels of src/backend/cuda/kernels.cu run on the CPU
 * (tests/emulation/: each launch's threads one after another, blockIdx,
 * threadIdx and the grid-stride loops as on a GPU) through their rk_*
 * launch functions, against the CPU backend's cells (src/backend/cpu/
 * cell_*.c, which test_rnn_reference checks against PyTorch) and plain
 * loops: every cell's forward and backward with and without the biases the
 * per-step loop leaves to them, with and without the step's output gradient
 * dy, the bfloat16 rows the LSTM kernels write, and the row moves, fills and
 * sums. Each output array starts filled with a sentinel and is compared
 * whole, so a write outside the rows and columns a kernel owns fails too;
 * in a sanitizer build the inputs are sized exactly, so a read past them is
 * caught. This checks the kernels' indexing and math where no GPU is;
 * test_cuda_rnn checks them on a GPU. */
#define RECUR_CUDA_EMULATION 1
#include "cuda_emulation.h"

#include "backend/cuda/kernels.cu"

extern "C" {
#include "backend/cpu/cells.h"
}

#include <math.h>
#include <stdio.h>

#include <vector>

namespace {

int checks, failures;

void check(bool ok, const char *what, const char *detail)
{
    checks++;
    if (!ok) {
        failures++;
        if (failures <= 30)
            fprintf(stderr, "FAIL: %s (%s)\n", what, detail);
    }
}

/* got and want agree everywhere: within 2e-6 (absolute, relative past 1),
 * or both the same NaN-ness. */
void compare(const std::vector<float> &got, const std::vector<float> &want, const char *what,
             const char *detail)
{
    bool same = got.size() == want.size();
    for (size_t i = 0; same && i < want.size(); i++) {
        const float g = got[i], w = want[i];
        same = (isnan(g) && isnan(w)) || fabsf(g - w) <= 2e-6f * fmaxf(1.0f, fabsf(w));
        if (!same)
            fprintf(stderr, "  %s: element %zu: %.9g, want %.9g\n", what, i, (double)g,
                    (double)w);
    }
    check(same, what, detail);
}

uint64_t rng_state = 12345;
float uniform(float lo, float hi)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((rng_state >> 40) & 0xffffff) / 16777216.0f;
}

std::vector<float> random_vector(size_t n, float scale = 2.0f)
{
    std::vector<float> v(n);
    for (float &x : v)
        x = uniform(-scale, scale);
    return v;
}

const float kSentinel = -777.0f;
std::vector<float> sentinel(size_t n) { return std::vector<float>(n, kSentinel); }

/* The bfloat16 nearest to x (ties to the even pattern; past the largest
 * finite value, infinity counts as 2^128), found by comparing the two
 * candidates in double: independent of the kernels' bit trick. */
uint16_t nearest_bf16(float x)
{
    if (isnan(x))
        return 0x7fc0;
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    const uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1); /* toward, away from 0 */
    if ((lo & 0x7fff) == 0x7f80) /* x is infinite */
        return lo;
    auto value = [](uint16_t pattern) {
        if ((pattern & 0x7fff) == 0x7f80)
            return ldexp(pattern & 0x8000 ? -1.0 : 1.0, 128);
        const uint32_t bits = (uint32_t)pattern << 16;
        float f;
        memcpy(&f, &bits, sizeof f);
        return (double)f;
    };
    const double dlo = fabs((double)x - value(lo)), dhi = fabs((double)x - value(hi));
    return dlo < dhi || (dlo == dhi && !(lo & 1)) ? lo : hi;
}

/* Every pattern of bf16 [n] is the bfloat16 nearest to src [n]. */
void compare_bf16(const std::vector<__nv_bfloat16> &bf16, const std::vector<float> &src,
                  const char *what, const char *detail)
{
    bool same = bf16.size() == src.size();
    for (size_t i = 0; same && i < src.size(); i++) {
        same = bf16[i].x == nearest_bf16(src[i]);
        if (!same)
            fprintf(stderr, "  %s: element %zu: %#06x, want %#06x (of %.9g)\n", what, i,
                    bf16[i].x, nearest_bf16(src[i]), (double)src[i]);
    }
    check(same, what, detail);
}

void check_to_bf16()
{
    const float inf = INFINITY;
    const std::vector<float> values = {1.0f,
                                       1.00390625f,            /* tie: to 0x3f80 (even) */
                                       1.01171875f,            /* tie: to 0x3f82 (even) */
                                       1.00390625f + 1.0f / (1 << 20), /* past the tie */
                                       -0.0f, inf, -inf, NAN, 3.0e38f,
                                       3.4028235e38f, /* FLT_MAX: rounds to infinity */
                                       1e-40f /* subnormal */};
    const uint16_t want[] = {0x3f80, 0x3f80, 0x3f82, 0x3f81, 0x8000, 0x7f80,
                             0xff80, 0x7fc0, 0x7f62, 0x7f80, 0x0001};
    std::vector<__nv_bfloat16> got(values.size());
    check(rk_to_bf16(nullptr, values.size(), values.data(), got.data()) == 0, "rk_to_bf16",
          "launch");
    for (size_t i = 0; i < values.size(); i++) {
        const bool nan = isnan(values[i]);
        const bool ok = nan ? (got[i].x & 0x7f80) == 0x7f80 && (got[i].x & 0x7f) != 0
                            : got[i].x == want[i] && nearest_bf16(values[i]) == want[i];
        char detail[64];
        snprintf(detail, sizeof detail, "value %zu: %#06x, want %#06x", i, got[i].x, want[i]);
        check(ok, "rk_to_bf16 of a chosen value", detail);
    }
    const std::vector<float> many = random_vector(1000, 100.0f);
    std::vector<__nv_bfloat16> bf16(many.size());
    rk_to_bf16(nullptr, many.size(), many.data(), bf16.data());
    compare_bf16(bf16, many, "rk_to_bf16 of random values", "1000 values");
}

/* ---- moving rows, fills and sums ---- */

void check_rows(int rows, int n, const char *detail)
{
    const int ld_src = n + 2, ld_dst = n + 3, src_rows = rows + 2;
    std::vector<int> map(rows);
    for (int r = 0; r < rows; r++)
        map[r] = (r * 7 + 3) % src_rows;
    const std::vector<float> src = random_vector((size_t)src_rows * ld_src);

    std::vector<float> got = sentinel((size_t)rows * ld_dst), want = got;
    rk_gather_rows(nullptr, rows, n, map.data(), src.data(), ld_src, got.data(), ld_dst);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < n; k++)
            want[(size_t)r * ld_dst + k] = src[(size_t)map[r] * ld_src + k];
    compare(got, want, "rk_gather_rows", detail);

    /* scatter: rows to distinct places of a larger array */
    std::vector<int> places(rows);
    for (int r = 0; r < rows; r++)
        places[r] = rows - 1 - r + 1;
    got = sentinel((size_t)(rows + 1) * ld_dst), want = got;
    rk_scatter_rows(nullptr, rows, n, places.data(), src.data(), ld_src, got.data(), ld_dst);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < n; k++)
            want[(size_t)places[r] * ld_dst + k] = src[(size_t)r * ld_src + k];
    compare(got, want, "rk_scatter_rows", detail);

    const std::vector<float> vec = random_vector((size_t)n);
    for (int with_vec = 0; with_vec < 2; with_vec++) { /* zeros, then vec */
        got = sentinel((size_t)rows * ld_dst), want = got;
        rk_fill_rows(nullptr, rows, n, with_vec ? vec.data() : nullptr, got.data(), ld_dst);
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < n; k++)
                want[(size_t)r * ld_dst + k] = with_vec ? vec[k] : 0.0f;
        compare(got, want, "rk_fill_rows", detail);
    }

    got = random_vector((size_t)rows * ld_dst), want = got;
    rk_add_rows(nullptr, rows, n, src.data(), ld_src, got.data(), ld_dst);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < n; k++)
            want[(size_t)r * ld_dst + k] += src[(size_t)r * ld_src + k];
    compare(got, want, "rk_add_rows", detail);

    /* previous rows: a state row (>= 0) or an initial one (-(j+1)) */
    const int init_rows = 3;
    const std::vector<float> init = random_vector((size_t)init_rows * n);
    std::vector<int> prev(rows);
    for (int r = 0; r < rows; r++)
        prev[r] = r % 2 ? (r * 5) % src_rows : -(r % init_rows) - 1;
    got = sentinel((size_t)rows * n), want = got;
    rk_gather_previous(nullptr, rows, n, prev.data(), src.data(), ld_src, init.data(),
                       got.data());
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < n; k++)
            want[(size_t)r * n + k] = prev[r] >= 0 ? src[(size_t)prev[r] * ld_src + k]
                                                   : init[(size_t)(-prev[r] - 1) * n + k];
    compare(got, want, "rk_gather_previous", detail);
    got = sentinel((size_t)rows * n); /* no initial rows: zeros */
    rk_gather_previous(nullptr, rows, n, prev.data(), src.data(), ld_src, nullptr, got.data());
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < n && prev[r] < 0; k++)
            want[(size_t)r * n + k] = 0.0f;
    compare(got, want, "rk_gather_previous (zero initial rows)", detail);

    const size_t count = (size_t)rows * n;
    const std::vector<float> x = random_vector(count);
    got = random_vector(count);
    std::vector<float> got2 = random_vector(count), want2 = got2;
    want = got;
    rk_accumulate(nullptr, count, x.data(), got.data(), got2.data());
    for (size_t i = 0; i < count; i++)
        want[i] += x[i], want2[i] += x[i];
    compare(got, want, "rk_accumulate (dst)", detail);
    compare(got2, want2, "rk_accumulate (dst2)", detail);
    rk_accumulate(nullptr, count, x.data(), got.data(), nullptr);
    for (size_t i = 0; i < count; i++)
        want[i] += x[i];
    compare(got, want, "rk_accumulate (dst alone)", detail);

    rk_multiply(nullptr, count, x.data(), got.data());
    for (size_t i = 0; i < count; i++)
        want[i] *= x[i];
    compare(got, want, "rk_multiply", detail);
    rk_fill(nullptr, count, 0.5f, got.data());
    compare(got, std::vector<float>(count, 0.5f), "rk_fill", detail);
}

/* ---- the cells ---- */

/* pre [rows, width] plus, when bias_ih is not empty, bias_ih + bias_hh
 * (each [width]) on every row, as the kernels add them. */
std::vector<float> plus_biases(std::vector<float> pre, int rows, int width,
                               const std::vector<float> &bias_ih,
                               const std::vector<float> &bias_hh)
{
    if (bias_ih.empty())
        return pre;
    for (int j = 0; j < rows; j++)
        for (int q = 0; q < width; q++)
            pre[(size_t)j * width + q] += bias_ih[q] + bias_hh[q];
    return pre;
}

/* dh [rows, H] plus dy [rows, ld_dy] when dy is not empty. */
std::vector<float> plus_dy(std::vector<float> dh, int rows, int H, const std::vector<float> &dy,
                           int ld_dy)
{
    if (dy.empty())
        return dh;
    for (int j = 0; j < rows; j++)
        for (int k = 0; k < H; k++)
            dh[(size_t)j * H + k] += dy[(size_t)j * ld_dy + k];
    return dh;
}

const float *or_null(const std::vector<float> &v) { return v.empty() ? nullptr : v.data(); }

void check_elman(int rows, int H, int relu, bool biases, bool with_dy, const char *detail)
{
    const int ld_out = H + 3, ld_dy = H + 2;
    const std::vector<float> pre = random_vector((size_t)rows * H);
    const std::vector<float> bias_ih = biases ? random_vector((size_t)H) : std::vector<float>();
    const std::vector<float> bias_hh = biases ? random_vector((size_t)H) : std::vector<float>();

    std::vector<float> h = sentinel((size_t)rows * H), out = sentinel((size_t)rows * ld_out);
    std::vector<float> h_want = h, out_want = out;
    rk_elman_forward(nullptr, rows, H, relu, pre.data(), or_null(bias_ih), or_null(bias_hh),
                     h.data(), out.data(), ld_out);
    const std::vector<float> pre_want = plus_biases(pre, rows, H, bias_ih, bias_hh);
    recur_elman_forward(rows, H, relu, pre_want.data(), h_want.data(), out_want.data(), ld_out);
    compare(h, h_want, "rk_elman_forward h_state", detail);
    compare(out, out_want, "rk_elman_forward out", detail);

    const std::vector<float> dh = random_vector((size_t)rows * H);
    const std::vector<float> dy = with_dy ? random_vector((size_t)rows * ld_dy)
                                          : std::vector<float>();
    std::vector<float> grad = sentinel((size_t)rows * H), grad_want = grad;
    rk_elman_backward(nullptr, rows, H, relu, out.data(), ld_out, dh.data(), or_null(dy), ld_dy,
                      grad.data());
    const std::vector<float> dh_want = plus_dy(dh, rows, H, dy, ld_dy);
    recur_elman_backward(rows, H, relu, out.data(), ld_out, dh_want.data(), grad_want.data());
    compare(grad, grad_want, "rk_elman_backward", detail);
}

void check_lstm(int rows, int H, bool biases, bool with_dy, bool bf16, const char *detail)
{
    const int G = 4 * H, ld_m = H + 3, ld_dy = H + 1;
    const std::vector<float> pre = random_vector((size_t)rows * G, 3.0f);
    const std::vector<float> bias_ih = biases ? random_vector((size_t)G) : std::vector<float>();
    const std::vector<float> bias_hh = biases ? random_vector((size_t)G) : std::vector<float>();
    const std::vector<float> c0 = random_vector((size_t)rows * H);

    std::vector<float> gates = pre, c = sentinel((size_t)rows * H), c_saved = c;
    std::vector<float> m = sentinel((size_t)rows * ld_m), h = sentinel((size_t)rows * H);
    std::vector<__nv_bfloat16> h_bf16((size_t)rows * H, __nv_bfloat16{0x1234});
    rk_lstm_step step = {gates.data(), or_null(bias_ih), or_null(bias_hh), c0.data(), nullptr,
                         rows, 1, c_saved.data(), c.data(), 0, m.data(), ld_m, h.data(), 0,
                         bf16 ? h_bf16.data() : nullptr};
    rk_lstm_forward(nullptr, rows, H, &step);
    std::vector<float> gates_want = plus_biases(pre, rows, G, bias_ih, bias_hh), c_want = c0;
    std::vector<float> c_saved_want = c_saved, m_want = m;
    recur_lstm_forward(rows, H, 0, H, gates_want.data(), c_want.data(), c_saved_want.data(),
                       m_want.data(), ld_m);
    compare(gates, gates_want, "rk_lstm_forward activations", detail);
    compare(c, c_want, "rk_lstm_forward c_state", detail);
    compare(c_saved, c_saved_want, "rk_lstm_forward c_saved", detail);
    compare(m, m_want, "rk_lstm_forward m", detail);
    std::vector<float> h_want((size_t)rows * H);
    for (int j = 0; j < rows; j++)
        for (int k = 0; k < H; k++)
            h_want[(size_t)j * H + k] = m_want[(size_t)j * ld_m + k];
    compare(h, h_want, "rk_lstm_forward h_state", detail);
    if (bf16)
        compare_bf16(h_bf16, h, "rk_lstm_forward h_bf16", detail);

    /* Without gradients (keep 0): the pre-activations and c_saved untouched,
     * the states and m as before; c_state read and written in place. */
    {
        std::vector<float> g_only = pre, c_only = c0, saved_only = sentinel((size_t)rows * H);
        std::vector<float> m_only = sentinel((size_t)rows * ld_m), h_only = saved_only;
        rk_lstm_step only = {g_only.data(), or_null(bias_ih), or_null(bias_hh), c_only.data(),
                             nullptr, rows, 0, saved_only.data(), c_only.data(), 0,
                             m_only.data(), ld_m, h_only.data(), 0, nullptr};
        rk_lstm_forward(nullptr, rows, H, &only);
        compare(g_only, pre, "rk_lstm_forward without gradients: gates unchanged", detail);
        compare(saved_only, sentinel((size_t)rows * H),
                "rk_lstm_forward without gradients: no c_saved", detail);
        compare(c_only, c_want, "rk_lstm_forward without gradients: c_state", detail);
        compare(m_only, m_want, "rk_lstm_forward without gradients: m", detail);
        compare(h_only, h_want, "rk_lstm_forward without gradients: h_state", detail);
    }

    /* The previous cells split as a step loop reads them (the first rows
     * from c_prev, the others from c_init, each with the other's rows
     * spoiled; zeros without c_init) and the states of the rows from
     * state_from (c) and h_from (h) alone. */
    const int split = rows / 2, from = (rows + 1) / 3;
    std::vector<float> c_prev = c0, c_init = c0;
    for (size_t at = 0; at < c0.size(); at++)
        ((int)(at / H) < split ? c_init : c_prev)[at] = 1e30f;
    for (int zeros = 0; zeros < 2; zeros++) {
        std::vector<float> cell_prev = c0;
        if (zeros)
            std::fill(cell_prev.begin() + (size_t)split * H, cell_prev.end(), 0.0f);
        std::vector<float> g_split = pre, c_split = sentinel((size_t)rows * H);
        std::vector<float> saved_split = c_split, m_split = sentinel((size_t)rows * ld_m);
        std::vector<float> h_split = c_split, c_ref = cell_prev, saved_ref = c_split;
        std::vector<float> m_ref = m_split, g_ref = plus_biases(pre, rows, G, bias_ih, bias_hh);
        rk_lstm_step split_step = {g_split.data(), or_null(bias_ih), or_null(bias_hh),
                                   c_prev.data(), zeros ? nullptr : c_init.data(), split, 1,
                                   saved_split.data(), c_split.data(), from, m_split.data(),
                                   ld_m, h_split.data(), rows - 1, nullptr};
        rk_lstm_forward(nullptr, rows, H, &split_step);
        recur_lstm_forward(rows, H, 0, H, g_ref.data(), c_ref.data(), saved_ref.data(),
                           m_ref.data(), ld_m);
        std::vector<float> c_part = sentinel((size_t)rows * H), h_part = c_part;
        for (size_t at = (size_t)from * H; at < c_part.size(); at++)
            c_part[at] = c_ref[at];
        for (size_t at = (size_t)(rows - 1) * H; at < h_part.size(); at++)
            h_part[at] = m_ref[(at / H) * ld_m + at % H];
        const char *what[2][4] = {{"rk_lstm_forward c_saved, c_init past prev_rows",
                                   "rk_lstm_forward m, c_init past prev_rows",
                                   "rk_lstm_forward c_state from state_from",
                                   "rk_lstm_forward h_state from h_from"},
                                  {"rk_lstm_forward c_saved, zeros past prev_rows",
                                   "rk_lstm_forward m, zeros past prev_rows",
                                   "rk_lstm_forward c_state from state_from (zeros)",
                                   "rk_lstm_forward h_state from h_from (zeros)"}};
        compare(saved_split, saved_ref, what[zeros][0], detail);
        compare(m_split, m_ref, what[zeros][1], detail);
        compare(c_split, c_part, what[zeros][2], detail);
        compare(h_split, h_part, what[zeros][3], detail);
    }

    /* backward from those activations */
    const std::vector<float> dm = random_vector((size_t)rows * H);
    const std::vector<float> dy = with_dy ? random_vector((size_t)rows * ld_dy)
                                          : std::vector<float>();
    const std::vector<float> dc0 = random_vector((size_t)rows * H);
    std::vector<float> dc = dc0, grad = sentinel((size_t)rows * G), grad_want = grad;
    std::vector<__nv_bfloat16> grad_bf16((size_t)rows * G, __nv_bfloat16{0x1234});
    rk_lstm_backward(nullptr, rows, H, gates.data(), c.data(), c0.data(), rows, nullptr, dm.data(),
                     or_null(dy), ld_dy, dc.data(), grad.data(), bf16 ? grad_bf16.data() : nullptr);
    std::vector<float> dc_want = dc0;
    const std::vector<float> dm_want = plus_dy(dm, rows, H, dy, ld_dy);
    recur_lstm_backward(rows, H, 0, H, gates_want.data(), c_want.data(), c0.data(),
                        dm_want.data(), dc_want.data(), grad_want.data());
    compare(dc, dc_want, "rk_lstm_backward dc", detail);
    compare(grad, grad_want, "rk_lstm_backward grad_gates", detail);
    if (bf16) {
        compare_bf16(grad_bf16, grad, "rk_lstm_backward grad_gates_bf16", detail);
        /* the bfloat16 grad_gates alone (the float32 ones not written) */
        std::vector<__nv_bfloat16> only_bf16((size_t)rows * G, __nv_bfloat16{0x1234});
        std::vector<float> dc_only = dc0;
        rk_lstm_backward(nullptr, rows, H, gates.data(), c.data(), c0.data(), rows, nullptr,
                         dm.data(), or_null(dy), ld_dy, dc_only.data(), nullptr, only_bf16.data());
        compare(dc_only, dc_want, "rk_lstm_backward dc (bfloat16 grad_gates alone)", detail);
        compare_bf16(only_bf16, grad, "rk_lstm_backward grad_gates_bf16 alone", detail);
    }
    /* The previous cells split as in the forward above. */
    for (int zeros = 0; zeros < 2; zeros++) {
        std::vector<float> cell_prev = c0;
        if (zeros)
            std::fill(cell_prev.begin() + (size_t)split * H, cell_prev.end(), 0.0f);
        std::vector<float> dc_split = dc0, grad_split = sentinel((size_t)rows * G);
        std::vector<float> dc_ref = dc0, grad_ref = grad_split;
        rk_lstm_backward(nullptr, rows, H, gates.data(), c.data(), c_prev.data(), split,
                         zeros ? nullptr : c_init.data(), dm.data(), or_null(dy), ld_dy,
                         dc_split.data(), grad_split.data(), nullptr);
        recur_lstm_backward(rows, H, 0, H, gates_want.data(), c_want.data(), cell_prev.data(),
                            dm_want.data(), dc_ref.data(), grad_ref.data());
        compare(dc_split, dc_ref,
                zeros ? "rk_lstm_backward dc, zeros past prev_rows"
                      : "rk_lstm_backward dc, c_init past prev_rows",
                detail);
        compare(grad_split, grad_ref,
                zeros ? "rk_lstm_backward grad_gates, zeros past prev_rows"
                      : "rk_lstm_backward grad_gates, c_init past prev_rows",
                detail);
    }
}

void check_gru(int rows, int H, bool biases, bool with_dy, const char *detail)
{
    const int G = 3 * H, ld_out = H + 2, ld_dy = H + 3;
    const std::vector<float> gx0 = random_vector((size_t)rows * G, 3.0f);
    const std::vector<float> gh = random_vector((size_t)rows * G, 3.0f);
    const std::vector<float> bias_ih = biases ? random_vector((size_t)G) : std::vector<float>();
    const std::vector<float> bias_hh = biases ? random_vector((size_t)G) : std::vector<float>();
    const std::vector<float> h0 = random_vector((size_t)rows * H);

    std::vector<float> gx = gx0, h = h0, hn = sentinel((size_t)rows * H);
    std::vector<float> out = sentinel((size_t)rows * ld_out);
    rk_gru_forward(nullptr, rows, H, gx.data(), gh.data(), or_null(bias_ih), or_null(bias_hh),
                   h.data(), hn.data(), out.data(), ld_out);
    const std::vector<float> zeros((size_t)G, 0.0f); /* each bias alone */
    std::vector<float> gx_want = plus_biases(gx0, rows, G, bias_ih, zeros);
    const std::vector<float> gh_want = plus_biases(gh, rows, G, bias_hh, zeros);
    std::vector<float> h_want = h0, hn_want = hn, out_want = out;
    recur_gru_forward(rows, H, 0, H, gx_want.data(), gh_want.data(), h_want.data(),
                      hn_want.data(), out_want.data(), ld_out);
    compare(gx, gx_want, "rk_gru_forward activations", detail);
    compare(h, h_want, "rk_gru_forward h_state", detail);
    compare(hn, hn_want, "rk_gru_forward hidden_n", detail);
    compare(out, out_want, "rk_gru_forward out", detail);
    /* without gradients (hn_saved NULL): gx and no hidden_n written */
    std::vector<float> gx_kept = gx0, h_only = h0, out_only = sentinel((size_t)rows * ld_out);
    rk_gru_forward(nullptr, rows, H, gx_kept.data(), gh.data(), or_null(bias_ih),
                   or_null(bias_hh), h_only.data(), nullptr, out_only.data(), ld_out);
    compare(gx_kept, gx0, "rk_gru_forward without gradients: gx unchanged", detail);
    compare(h_only, h_want, "rk_gru_forward without gradients: h_state", detail);
    compare(out_only, out_want, "rk_gru_forward without gradients: out", detail);

    const std::vector<float> dh0 = random_vector((size_t)rows * H);
    const std::vector<float> dy = with_dy ? random_vector((size_t)rows * ld_dy)
                                          : std::vector<float>();
    std::vector<float> dh = dh0, grad_gx = sentinel((size_t)rows * G);
    std::vector<float> grad_gh = sentinel((size_t)rows * G);
    rk_gru_backward(nullptr, rows, H, gx.data(), hn.data(), h0.data(), dh.data(), or_null(dy),
                    ld_dy, grad_gx.data(), grad_gh.data());
    std::vector<float> dh_want = plus_dy(dh0, rows, H, dy, ld_dy);
    std::vector<float> grad_gx_want = grad_gx, grad_gh_want = grad_gh;
    recur_gru_backward(rows, H, gx_want.data(), hn_want.data(), h0.data(), dh_want.data(),
                       grad_gx_want.data(), grad_gh_want.data());
    compare(dh, dh_want, "rk_gru_backward dh", detail);
    compare(grad_gx, grad_gx_want, "rk_gru_backward grad_gx", detail);
    compare(grad_gh, grad_gh_want, "rk_gru_backward grad_gh", detail);
}

} // namespace

int main()
{
    check_to_bf16();
    /* Shapes from one element to more than one grid-stride pass of a
     * block, and more than one block (256 threads each). */
    const int shapes[][2] = {{1, 1}, {1, 7}, {3, 5}, {2, 64}, {5, 37}, {4, 200}, {7, 90}};
    for (const auto &shape : shapes) {
        const int rows = shape[0], H = shape[1];
        char detail[96];
        snprintf(detail, sizeof detail, "rows %d, H %d", rows, H);
        check_rows(rows, H, detail);
        for (int variant = 0; variant < 4; variant++) {
            const bool biases = variant & 1, with_dy = variant & 2;
            snprintf(detail, sizeof detail, "rows %d, H %d, biases %d, dy %d", rows, H,
                     (int)biases, (int)with_dy);
            check_elman(rows, H, 0, biases, with_dy, detail);
            check_elman(rows, H, 1, biases, with_dy, detail);
            check_lstm(rows, H, biases, with_dy, variant != 1, detail);
            check_gru(rows, H, biases, with_dy, detail);
        }
    }
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
