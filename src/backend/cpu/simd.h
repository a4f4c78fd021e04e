/* Runtime choice between the scalar cell kernels and the x86 SIMD ones.
 *
 * Every public kernel of cells.h (recur_lstm_forward, ...) is a dispatcher:
 * it asks recur_simd_level() (a few bit tests of the CPU model that libgcc /
 * compiler-rt fills in at load time; no state of our own) and calls
 *   NAME_avx512  16 lanes, AVX-512F + FMA  (cells_avx512.c)
 *   NAME_avx2     8 lanes, AVX2 + FMA      (cells_avx2.c)
 *   NAME_scalar  the portable C code        (cell_*.c)
 * The SIMD files are one template, cells_simd.inc, compiled twice with the
 * matching -m flags; their exp/sigmoid/tanh are range-reduced polynomials
 * (tests/test_activations.c measures them against double precision). On a
 * given machine the choice never changes, so results stay deterministic. */
#ifndef RECUR_BACKEND_CPU_SIMD_H
#define RECUR_BACKEND_CPU_SIMD_H

#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define RECUR_SIMD_X86 1
#else
#define RECUR_SIMD_X86 0
#endif

enum { RECUR_SIMD_SCALAR = 0, RECUR_SIMD_AVX2 = 1, RECUR_SIMD_AVX512 = 2 };

/* Building with -DRECUR_SIMD_MAX_LEVEL=0 or 1 caps the choice (to test or
 * time the narrower kernels on a wider machine). */
#ifndef RECUR_SIMD_MAX_LEVEL
#define RECUR_SIMD_MAX_LEVEL RECUR_SIMD_AVX512
#endif

/* The widest kernel set this CPU (and OS) can run. */
static inline int recur_simd_level(void)
{
#if RECUR_SIMD_X86
    if (RECUR_SIMD_MAX_LEVEL >= RECUR_SIMD_AVX2 && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        if (RECUR_SIMD_MAX_LEVEL >= RECUR_SIMD_AVX512 && __builtin_cpu_supports("avx512f"))
            return RECUR_SIMD_AVX512;
        return RECUR_SIMD_AVX2;
    }
#endif
    return RECUR_SIMD_SCALAR;
}

/* One declaration per variant of each kernel (arguments as in cells.h). */
#define RECUR_CELL_KERNELS(SUFFIX)                                                              \
    void recur_elman_forward_##SUFFIX(int rows, int H, int relu, const float *pre,              \
                                      float *h_state, float *out, int ld_out);                  \
    void recur_elman_backward_##SUFFIX(int rows, int H, int relu, const float *h, int ld_h,     \
                                       const float *dh, float *grad_pre);                       \
    void recur_lstm_forward_##SUFFIX(int rows, int H, int u0, int units, float *gates,          \
                                     float *c_state, float *c_saved, float *m, int ld_m);       \
    void recur_lstm_backward_##SUFFIX(int rows, int H, int u0, int units,                       \
                                      const float *gates, const float *c,                       \
                                      const float *c_prev, const float *dm, float *dc,          \
                                      float *grad_gates);                                       \
    void recur_gru_forward_##SUFFIX(int rows, int H, int u0, int units, float *gx,              \
                                    const float *gh, float *h_state, float *hn_saved,           \
                                    float *out, int ld_out);                                    \
    void recur_gru_backward_##SUFFIX(int rows, int H, const float *act, const float *hn,        \
                                     const float *h_prev, float *dh, float *grad_gx,            \
                                     float *grad_gh);                                           \
    void recur_lstm_ln_forward_##SUFFIX(int rows, int H, float *gates, float *c_state,          \
                                        float *c_saved, const float *gamma, const float *beta,  \
                                        float *chat, float *rstd, float *m, int ld_m);          \
    void recur_lstm_ln_backward_##SUFFIX(                                                       \
        int rows, int H, const float *gates, const float *chat, const float *rstd,              \
        const float *gamma, const float *beta, const float *c_prev, const float *dm,            \
        float *dc, float *grad_gates, float *scratch, float *dgamma, float *dbeta);

RECUR_CELL_KERNELS(scalar)
#if RECUR_SIMD_X86
RECUR_CELL_KERNELS(avx2)
RECUR_CELL_KERNELS(avx512)
/* y[i] = f(x[i]) for n values with the SIMD math of each set (y may be x);
 * for tests and measurements. */
void recur_vexp_avx2(size_t n, const float *x, float *y);
void recur_vsigmoid_avx2(size_t n, const float *x, float *y);
void recur_vtanh_avx2(size_t n, const float *x, float *y);
void recur_vexp_avx512(size_t n, const float *x, float *y);
void recur_vsigmoid_avx512(size_t n, const float *x, float *y);
void recur_vtanh_avx512(size_t n, const float *x, float *y);
/* One-row GEMMs (gemm.c): y[j] += W[j, 0:k] . x for j < n (W row stride ldw),
 * and y[0:n] += sum over i < k of a[i] B[i, 0:n] (B row stride ldb). */
void recur_gemv_rows_avx2(int n, int k, const float *w, int ldw, const float *x, float *y);
void recur_gemv_cols_avx2(int n, int k, const float *b, int ldb, const float *a, float *y);
void recur_gemv_rows_avx512(int n, int k, const float *w, int ldw, const float *x, float *y);
void recur_gemv_cols_avx512(int n, int k, const float *b, int ldb, const float *a, float *y);
/* Products with a packed B (gemm.c, recur_gemm_packed): C[0:m, panels p0..p1)
 * = (beta_one ? C : 0) + A[m, k] times panels of RECUR_PANEL_W_* columns,
 * each k rows of that many floats; n is the width of op(B); gate_h > 0:
 * panels in gate order (cells_simd.inc), n a multiple of gate_h. */
/* The columns [*j0, *j0 + *cols) of op(B) (and of C) that panel p of width w
 * holds: p w.. in order, or with gate_h > 0 (n = G gate_h) those of gate
 * p % G for units p / G w.. */
static inline void recur_panel_columns(int p, int n, int gate_h, int w, int *j0, int *cols)
{
    const int G = gate_h > 0 ? n / gate_h : 1, u0 = gate_h > 0 ? p / G * w : 0;
    *j0 = gate_h > 0 ? p % G * gate_h + u0 : p * w;
    const int end = gate_h > 0 ? gate_h - u0 : n - *j0; /* columns left in the gate (or C) */
    *cols = end < w ? end : w;
}
#define RECUR_PANEL_W_AVX2 16
#define RECUR_PANEL_W_AVX512 32
/* Rows of A per tile; recur_gemm_pack_a_* writes ceil(m / MR) MR k floats. */
#define RECUR_PANEL_MR_AVX2 6
#define RECUR_PANEL_MR_AVX512 8
void recur_gemm_pack_a_avx2(int m, int k, const float *a, int lda, float *packed);
void recur_gemm_pack_a_avx512(int m, int k, const float *a, int lda, float *packed);
void recur_gemm_panels_avx2(int m, int n, int k, int gate_h, const float *packed_a,
                            const float *panels, int p0, int p1, int beta_one, float *c, int ldc);
void recur_gemm_panels_avx512(int m, int n, int k, int gate_h, const float *packed_a,
                              const float *panels, int p0, int p1, int beta_one, float *c,
                              int ldc);

#endif

/* Calls NAME_avx512, NAME_avx2 or NAME_scalar with ARGS (a parenthesized list). */
#if RECUR_SIMD_X86
#define RECUR_SIMD_DISPATCH(NAME, ARGS)                                                         \
    do {                                                                                        \
        switch (recur_simd_level()) {                                                           \
        case RECUR_SIMD_AVX512:                                                                 \
            NAME##_avx512 ARGS;                                                                 \
            return;                                                                             \
        case RECUR_SIMD_AVX2:                                                                   \
            NAME##_avx2 ARGS;                                                                   \
            return;                                                                             \
        default:                                                                                \
            NAME##_scalar ARGS;                                                                 \
            return;                                                                             \
        }                                                                                       \
    } while (0)
#else
#define RECUR_SIMD_DISPATCH(NAME, ARGS)                                                         \
    do {                                                                                        \
        NAME##_scalar ARGS;                                                                     \
    } while (0)
#endif

#endif
