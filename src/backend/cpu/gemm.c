#include "backend/cpu/gemm.h"

#include <cblas.h>
#include <string.h>

#include "backend/cpu/simd.h"

/* A GEMM of one row (batch 1: h W_hh^T per step, grad W_hh backward) as a
 * SIMD matrix-vector product (cells_simd.inc). For [1 x 128] x [128 x 512]
 * OpenBLAS 0.3.21 takes ~3.5 us as sgemm, 2.1-3.1 us as sgemv, these ~1.8 us
 * (reading the 256 KB of weights from L2 alone takes ~1.4 us).
 * Returns 0 when it does not apply (no SIMD, alpha != 1, a strided row). */
static int gemm_one_row(int trans_a, int trans_b, int n, int k, float alpha, const float *a,
                        const float *b, int ldb, float beta, float *c)
{
#if RECUR_SIMD_X86
    const int level = recur_simd_level();
    if (level == RECUR_SIMD_SCALAR || trans_a || alpha != 1.0f)
        return 0;
    if (beta == 0.0f)
        memset(c, 0, sizeof(float) * (size_t)n);
    else if (beta != 1.0f)
        for (int j = 0; j < n; j++)
            c[j] *= beta;
    if (level == RECUR_SIMD_AVX512)
        (trans_b ? recur_gemv_rows_avx512 : recur_gemv_cols_avx512)(n, k, b, ldb, a, c);
    else
        (trans_b ? recur_gemv_rows_avx2 : recur_gemv_cols_avx2)(n, k, b, ldb, a, c);
    return 1;
#else
    (void)trans_a, (void)trans_b, (void)n, (void)k, (void)alpha, (void)a, (void)b, (void)ldb;
    (void)beta, (void)c;
    return 0;
#endif
}

void recur_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(long)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(long)i * ldc + j];
        return;
    }
    if (m == 1 && gemm_one_row(trans_a, trans_b, n, k, alpha, a, b, ldb, beta, c))
        return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                ldc);
}

void recur_add_column_sums(int m, int n, const float *a, int lda, const float *ones, float *y)
{
    if (m <= 0 || n <= 0)
        return;
    cblas_sgemv(CblasRowMajor, CblasTrans, m, n, 1.0f, a, lda, ones, 1, 1.0f, y, 1);
}
