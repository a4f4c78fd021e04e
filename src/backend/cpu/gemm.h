/* Matrix products through the CBLAS (row-major), the only place that calls it. */
#ifndef RECUR_BACKEND_CPU_GEMM_H
#define RECUR_BACKEND_CPU_GEMM_H

/* C[m, n] = alpha * op(A) * op(B) + beta * C, where op(A) is [m, k] (A is
 * [k, m] when trans_a) and op(B) is [k, n] (B is [n, k] when trans_b).
 * lda, ldb, ldc are row strides. Nothing happens when m or n is 0; C is
 * scaled by beta when k is 0. */
void recur_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* y[n] += sum over the m rows of A[m, n] (row stride lda): column sums,
 * as a GEMV with a vector of ones of length >= m. */
void recur_add_column_sums(int m, int n, const float *a, int lda, const float *ones, float *y);

#endif
