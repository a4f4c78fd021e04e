#define _POSIX_C_SOURCE 200809L
#include "backend/cpu/gemm.h"

#include <cblas.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
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

/* ---- Packed B and the thread team ---- */

/* OpenBLAS's thread count, absent from other CBLAS libraries: weak. */
int openblas_get_num_threads(void) __attribute__((weak));

enum { TEAM_MAX = 16, SPIN_WAIT = 4000 };

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

int recur_gemm_threads(void)
{
    const char *env = getenv("RECUR_NUM_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1)
            return v > TEAM_MAX ? TEAM_MAX : (int)v;
    }
    if (openblas_get_num_threads) {
        int v = openblas_get_num_threads();
        return v < 1 ? 1 : v > TEAM_MAX ? TEAM_MAX : v;
    }
    return 1;
}

typedef struct team_slot {
    struct recur_gemm_team *team;
    int index;
} team_slot;

struct recur_gemm_team {
    int size; /* threads, the caller included */
    pthread_t threads[TEAM_MAX];
    team_slot slots[TEAM_MAX];
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_uint generation; /* bumped for each product */
    atomic_int pending;     /* workers yet to finish the current product */
    atomic_int sleepers;    /* workers blocked on wake */
    atomic_int quit;
    /* the current product */
    const recur_packed_b *p;
    int m, lda, ldc, beta_one;
    const float *a;
    float *c;
};

/* The panels of thread `index` of `size`, computed. */
static void panels_part(const recur_packed_b *p, int index, int size, int m, const float *a,
                        int lda, int beta_one, float *c, int ldc)
{
#if RECUR_SIMD_X86
    const int p0 = (int)((long)p->count * index / size);
    const int p1 = (int)((long)p->count * (index + 1) / size);
    if (p0 >= p1)
        return;
    if (p->level == RECUR_SIMD_AVX512)
        recur_gemm_panels_avx512(m, p->n, p->k, a, lda, p->panels, p0, p1, beta_one, c, ldc);
    else
        recur_gemm_panels_avx2(m, p->n, p->k, a, lda, p->panels, p0, p1, beta_one, c, ldc);
#else
    (void)p, (void)index, (void)size, (void)m, (void)a, (void)lda, (void)beta_one, (void)c;
    (void)ldc;
#endif
}

static void *team_worker(void *arg)
{
    const team_slot *slot = arg;
    struct recur_gemm_team *t = slot->team;
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&t->generation, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&t->quit, memory_order_acquire)) {
            if (++spins < SPIN_WAIT) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&t->lock);
            atomic_fetch_add(&t->sleepers, 1);
            while (atomic_load(&t->generation) == seen && !atomic_load(&t->quit))
                pthread_cond_wait(&t->wake, &t->lock);
            atomic_fetch_sub(&t->sleepers, 1);
            pthread_mutex_unlock(&t->lock);
        }
        if (atomic_load_explicit(&t->quit, memory_order_acquire))
            return NULL;
        seen = gen;
        panels_part(t->p, slot->index, t->size, t->m, t->a, t->lda, t->beta_one, t->c, t->ldc);
        atomic_fetch_sub_explicit(&t->pending, 1, memory_order_release);
    }
}

static void team_wake(struct recur_gemm_team *t)
{
    if (atomic_load(&t->sleepers) > 0) {
        pthread_mutex_lock(&t->lock);
        pthread_cond_broadcast(&t->wake);
        pthread_mutex_unlock(&t->lock);
    }
}

recur_gemm_team *recur_gemm_team_create(double max_macs)
{
    if (recur_simd_level() == RECUR_SIMD_SCALAR || max_macs < (double)RECUR_GEMM_TEAM_MIN_MACS)
        return NULL;
    const int size = recur_gemm_threads();
    if (size < 2)
        return NULL;
    struct recur_gemm_team *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (pthread_mutex_init(&t->lock, NULL)) {
        free(t);
        return NULL;
    }
    if (pthread_cond_init(&t->wake, NULL)) {
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
    }
    atomic_init(&t->generation, 0u);
    atomic_init(&t->pending, 0);
    atomic_init(&t->sleepers, 0);
    atomic_init(&t->quit, 0);
    t->size = 1;
    for (int i = 1; i < size; i++) {
        t->slots[i].team = t;
        t->slots[i].index = i;
        if (pthread_create(&t->threads[i], NULL, team_worker, &t->slots[i]))
            break;
        t->size = i + 1;
    }
    if (t->size < 2) {
        recur_gemm_team_destroy(t);
        return NULL;
    }
    return t;
}

void recur_gemm_team_destroy(recur_gemm_team *t)
{
    if (!t)
        return;
    atomic_store(&t->quit, 1);
    pthread_mutex_lock(&t->lock);
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    for (int i = 1; i < t->size; i++)
        pthread_join(t->threads[i], NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void recur_packed_b_init(recur_packed_b *p, int trans_b, int n, int k, const float *b, int ldb)
{
    memset(p, 0, sizeof *p);
    p->trans_b = trans_b, p->n = n, p->k = k, p->b = b, p->ldb = ldb;
    p->level = recur_simd_level();
    if (p->level == RECUR_SIMD_SCALAR || n <= 0 || k <= 0)
        return;
    const int w = p->level == RECUR_SIMD_AVX512 ? RECUR_PANEL_W_AVX512 : RECUR_PANEL_W_AVX2;
    const int count = (n + w - 1) / w;
    const size_t bytes = sizeof(float) * (size_t)count * (size_t)k * (size_t)w; /* 64 | bytes */
    float *panels = aligned_alloc(64, bytes);
    if (!panels)
        return;
    for (int q = 0; q < count; q++) {
        float *dst = panels + (size_t)q * (size_t)k * (size_t)w;
        const int j0 = q * w, cols = n - j0 < w ? n - j0 : w;
        if (trans_b) { /* column j of op(B) is row j of B */
            for (int kk = 0; kk < k; kk++) {
                float *row = dst + (size_t)kk * (size_t)w;
                for (int j = 0; j < cols; j++)
                    row[j] = b[(size_t)(j0 + j) * (size_t)ldb + (size_t)kk];
                for (int j = cols; j < w; j++)
                    row[j] = 0.0f;
            }
        } else {
            for (int kk = 0; kk < k; kk++) {
                float *row = dst + (size_t)kk * (size_t)w;
                memcpy(row, b + (size_t)kk * (size_t)ldb + (size_t)j0, sizeof(float) * (size_t)cols);
                memset(row + cols, 0, sizeof(float) * (size_t)(w - cols));
            }
        }
    }
    p->panels = panels, p->width = w, p->count = count;
}

void recur_packed_b_free(recur_packed_b *p)
{
    free(p->panels);
    p->panels = NULL;
}

void recur_gemm_packed(recur_gemm_team *t, const recur_packed_b *p, int m, const float *a,
                       int lda, float beta, float *c, int ldc)
{
    if (!p->panels || m <= 0 || p->n <= 0 || p->k <= 0) {
        recur_gemm(0, p->trans_b, m, p->n, p->k, 1.0f, a, lda, p->b, p->ldb, beta, c, ldc);
        return;
    }
    if (beta != 0.0f && beta != 1.0f)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < p->n; j++)
                c[(size_t)i * (size_t)ldc + (size_t)j] *= beta;
    const int beta_one = beta != 0.0f;
    if (!t || (double)m * p->n * p->k < (double)RECUR_GEMM_TEAM_MIN_MACS || p->count < 2) {
        panels_part(p, 0, 1, m, a, lda, beta_one, c, ldc);
        return;
    }
    t->p = p, t->m = m, t->a = a, t->lda = lda, t->beta_one = beta_one, t->c = c, t->ldc = ldc;
    atomic_store_explicit(&t->pending, t->size - 1, memory_order_relaxed);
    atomic_fetch_add(&t->generation, 1u); /* seq_cst: ordered before the sleepers test */
    team_wake(t);
    panels_part(p, 0, t->size, m, a, lda, beta_one, c, ldc);
    int spins = 0;
    while (atomic_load_explicit(&t->pending, memory_order_acquire) > 0) {
        if (++spins < SPIN_WAIT)
            cpu_relax();
        else
            sched_yield();
    }
}
