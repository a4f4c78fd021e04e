/* Matrix products through the CBLAS (row-major), the only place that calls it. */
#ifndef RECUR_BACKEND_CPU_GEMM_H
#define RECUR_BACKEND_CPU_GEMM_H

#include <stdatomic.h>
#include <stddef.h>

/* C[m, n] = alpha * op(A) * op(B) + beta * C, where op(A) is [m, k] (A is
 * [k, m] when trans_a) and op(B) is [k, n] (B is [n, k] when trans_b).
 * lda, ldb, ldc are row strides. Nothing happens when m or n is 0; C is
 * scaled by beta when k is 0. A product of RECUR_GEMM_ALONE_MAX_MACS
 * multiply-adds or more, with OpenBLAS set to one thread and a team size
 * (below) above one, is split between the threads of a team made for it. */
#ifndef RECUR_GEMM_ALONE_MAX_MACS
#define RECUR_GEMM_ALONE_MAX_MACS (1L << 26)
#endif
void recur_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* y[n] += sum over the m rows of A[m, n] (row stride lda): column sums,
 * as a GEMV with a vector of ones of length >= m. */
void recur_add_column_sums(int m, int n, const float *a, int lda, const float *ones, float *y);

/* ---- The recurrent products: one B (the weights) times a new A per step ----
 *
 * recur_packed_b_init packs B once (per forward or backward call) into
 * column panels that the SIMD kernels of cells_simd.inc read directly, so no
 * step packs W_hh again; recur_gemm_packed then computes C = A op(B) + beta C
 * for any number of rows m (one row: the matrix-vector kernels of the one-row
 * recur_gemm, on the original B). Without x86 SIMD (or when the panels cannot be
 * allocated) it calls recur_gemm on the original B, the results differing
 * from sgemm's only in the rounding (fp32 sums over k in order).
 *
 * A team splits the panels (the columns of C; for one row, ranges of columns
 * of the original B, or of units in gate order) between threads that live
 * as long as the team (a layer stack keeps one from its first large call
 * until it is freed), meeting once per product; between products they spin
 * briefly, then sleep.
 * Its size: RECUR_NUM_THREADS when set, else OpenBLAS's thread count (1 with
 * another CBLAS); products of fewer than RECUR_GEMM_TEAM_MIN_MACS multiply-adds,
 * and one-row products with a B of fewer than RECUR_GEMM_TEAM_MIN_ROW values,
 * run on the calling thread alone. The bound for one row, 3 * 2^14 (192 KB
 * of B, a GRU's W_hh at H128): on 2 cores (AMD EPYC, 2026-11-28) lstm H128
 * B1's product (256 KB) took 1.57 us on two threads against 2.66 alone, the
 * team's meeting about 0.19 us; the training steps of gru H128 B1 T100 went
 * from 0.69-0.72 to 0.61-0.63 ms, but those of lstm H96 (144 KB) from 0.61
 * to 0.65-0.66 (the backward's column ranges leave 3 vectors a row). */
#ifndef RECUR_GEMM_TEAM_MIN_MACS /* -DRECUR_GEMM_TEAM_MIN_MACS=0: teams for every product */
#define RECUR_GEMM_TEAM_MIN_MACS (1L << 19)
#endif
#ifndef RECUR_GEMM_TEAM_MIN_ROW
#define RECUR_GEMM_TEAM_MIN_ROW (3L << 14)
#endif

typedef struct recur_gemm_team recur_gemm_team;

typedef struct recur_packed_b {
    int trans_b, n, k, ldb;
    int gate_h;     /* > 0: a W_hh of n / gate_h gates, panels in gate order */
    const float *b; /* the original B */
    float *panels;  /* NULL: recur_gemm_packed calls recur_gemm */
    void *block;    /* the allocation holding the panels */
    int level;      /* SIMD level of the kernels (simd.h) */
    int width;      /* columns per panel */
    int count;      /* panels */
    int pending;    /* the panels are to be packed at the first product of m > 1 */
    float *packed_a; /* the current product's A in tiles of rows (grown as needed) */
    size_t packed_a_capacity;
} recur_packed_b;

/* A team for packed products of up to step_m x step_n x step_k each and
 * split products (recur_gemm_split) of up to split_macs multiply-adds: NULL
 * (the calling thread alone) when it would not be used (the steps' products
 * too small for recur_gemm_team_takes, and split_macs below
 * RECUR_GEMM_SPLIT_MIN_MACS or a BLAS with threads of its own), when one
 * thread is asked for, or when threads cannot be started. */
recur_gemm_team *recur_gemm_team_create(int step_m, int step_n, int step_k, double split_macs);
/* A team of exactly `threads` (>= 2; for tests and measurements) in which
 * products of min_macs multiply-adds or more are split. */
recur_gemm_team *recur_gemm_team_create_sized(int threads, double min_macs);
void recur_gemm_team_destroy(recur_gemm_team *team);
/* The thread count a team has: recur_num_threads() (recur.h). */

/* recur_gemm on the team's threads: with OpenBLAS set to one thread (the
 * BLAS's threads would otherwise spin after each product and compete with
 * the team's, which run the per-step products), a product of at least
 * RECUR_GEMM_SPLIT_MIN_MACS multiply-adds (any size for a team made by
 * recur_gemm_team_create_sized) is cut into slices of rows (or columns) of
 * C, two per thread, each computed by the BLAS on one thread. Otherwise, and
 * with team NULL, it is recur_gemm. The bound, 2^22: on 2 cores (AMD EPYC,
 * 2026-11-27) lstm-h128-b1-t100's products of 6.5 M multiply-adds split
 * took the training step from 1.11-1.14 to 0.95-1.00 ms and the forward
 * from 0.40-0.41 to 0.38-0.39 ms (three rounds each, interleaved; on the
 * Xeon of 2026-11-26 the forward had lost 6 % so, waking the sleeping
 * worker, its training step not measured); at 2^20 smaller ones (lstm H64
 * B1) moved within the noise either way. */
#ifndef RECUR_GEMM_SPLIT_MIN_MACS
#define RECUR_GEMM_SPLIT_MIN_MACS (1L << 22)
#endif
void recur_gemm_split(recur_gemm_team *team, int trans_a, int trans_b, int m, int n, int k,
                      float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                      float *c, int ldc);

/* Whether the team's threads take part in a packed product of m rows, n
 * columns and depth k (recur_gemm_packed, recur_gemm_packed_each), or the
 * caller runs it alone: m n k of at least RECUR_GEMM_TEAM_MIN_MACS, or for
 * one row a B of at least RECUR_GEMM_TEAM_MIN_ROW values (n k), which the
 * threads then read a share each (a team of recur_gemm_team_create_sized:
 * min_macs for both, at most RECUR_GEMM_TEAM_MIN_ROW for one row). */
int recur_gemm_team_takes(const recur_gemm_team *team, int m, int n, int k);

/* A product computed ahead of the caller: C = alpha A op(B) + beta C (A
 * [m, k] not transposed) as recur_gemm_split (in blocks of rows, the BLAS's
 * rounding of each block's product, whatever the team), except
 * that recur_gemm_ahead_start returns at once while the team's other threads
 * compute C in blocks of rows, in increasing (order 1) or decreasing (-1)
 * order of rows; recur_gemm_ahead_wait returns once rows [row0, row1) are
 * final, the caller computing the next blocks itself rather than waiting for
 * a worker to take them, and recur_gemm_ahead_finish once all are (before C
 * is read otherwise or the team runs anything else). For a layer's input
 * projection while the steps run on the caller alone (recur_gemm_team_takes
 * false for them). With order 0, a product too small to split or no team it
 * is recur_gemm_split, done before recur_gemm_ahead_start returns. */
enum { RECUR_GEMM_AHEAD_BLOCKS = 32 };
typedef struct recur_gemm_ahead {
    recur_gemm_team *team; /* NULL: C is final */
    unsigned generation;   /* the team's run */
    int trans_b, m, n, k, lda, ldb, ldc, order;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int block, count; /* rows a block (a multiple of 16), blocks */
    atomic_int final[RECUR_GEMM_AHEAD_BLOCKS];
} recur_gemm_ahead;
void recur_gemm_ahead_start(recur_gemm_ahead *g, recur_gemm_team *team, int order, int trans_b,
                            int m, int n, int k, float alpha, const float *a, int lda,
                            const float *b, int ldb, float beta, float *c, int ldc);
void recur_gemm_ahead_wait(recur_gemm_ahead *g, int row0, int row1);
/* Whether every row is final (then recur_gemm_ahead_finish returns at once
 * and the team is free for other products). */
int recur_gemm_ahead_complete(const recur_gemm_ahead *g);
void recur_gemm_ahead_finish(recur_gemm_ahead *g);

/* Prepares op(B) [k, n] (B is [n, k] when trans_b, row stride ldb) for
 * products, packed at the first of more than one row; B must stay unchanged
 * until recur_packed_b_free. Never fails (falls back to recur_gemm). */
void recur_packed_b_init(recur_packed_b *p, int trans_b, int n, int k, const float *b, int ldb);
/* The same for a W_hh [gates H, k] (B transposed, row stride ldb) whose
 * panels go in gate order (the panels of all gates of a range of units side
 * by side), so that recur_gemm_packed_each can apply the cell to those units
 * as soon as all their gates are computed. It serves recur_gemm_packed too
 * (the same results). */
void recur_packed_b_init_gates(recur_packed_b *p, int gates, int H, int k, const float *b,
                               int ldb);
void recur_packed_b_free(recur_packed_b *p);

/* C[m, n] = A[m, k] op(B) + beta C (row strides lda, ldc); team may be NULL. */
void recur_gemm_packed(recur_gemm_team *team, recur_packed_b *p, int m, const float *a, int lda,
                       float beta, float *c, int ldc);

/* recur_gemm_packed, calling done(job, c0, cols) as soon as columns
 * [c0, c0 + cols) of C are final (for an LSTM's W_hh in gate order: units
 * [c0, c0 + cols) of all four gates), on the thread that computed them, while
 * the team computes the others: the per-step cell fused with the product.
 * The ranges cover C once; done must touch only what depends on its range. */
typedef void (*recur_gemm_done)(void *job, int c0, int cols);
void recur_gemm_packed_each(recur_gemm_team *team, recur_packed_b *p, int m, const float *a,
                            int lda, float beta, float *c, int ldc, recur_gemm_done done,
                            void *job);

#endif
