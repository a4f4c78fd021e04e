#include "backend/cpu/gemm.h"

#include <cblas.h>

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
