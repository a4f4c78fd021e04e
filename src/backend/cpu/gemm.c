#define _POSIX_C_SOURCE 200809L
#include "backend/cpu/gemm.h"

#include "recur.h"

#if RECUR_BLAS_DNNL
#include <oneapi/dnnl/dnnl.h>
#else
#include <cblas.h>
#endif
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
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

/* One product on the calling thread (or the BLAS's own threads). */
static void gemm_blas(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
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
#if RECUR_BLAS_DNNL /* row-major, as CBLAS's; fails only for bad arguments */
    (void)dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb,
                     beta, c, ldc);
#else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                ldc);
#endif
}

void recur_add_column_sums(int m, int n, const float *a, int lda, const float *ones, float *y)
{
    if (m <= 0 || n <= 0)
        return;
#if RECUR_BLAS_DNNL /* y [1, n] += ones [1, m] A [m, n] */
    (void)dnnl_sgemm('N', 'N', 1, n, m, 1.0f, ones, m, a, lda, 1.0f, y, n);
#else
    cblas_sgemv(CblasRowMajor, CblasTrans, m, n, 1.0f, a, lda, ones, 1, 1.0f, y, 1);
#endif
}

/* ---- Packed B and the thread team ---- */

/* OpenBLAS's thread count, absent from other CBLAS libraries: weak. */
int openblas_get_num_threads(void) __attribute__((weak));
static int blas_serial(void);

enum { TEAM_MAX = 16, SPIN_WAIT = 4000 };

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

int recur_num_threads(void)
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

/* The team. A product's panels are split into one contiguous range per
 * thread (the same every step, so each thread's share of B stays in its own
 * cache); a thread takes the panels of its range one at a time, then those
 * left in the others' ranges. So a thread that the OS has not run yet (other
 * jobs on the cores) only delays the panels it has taken: the caller never
 * waits for a worker to wake up.
 *
 * The same machinery runs any list of tasks (team_run): the panels of a
 * packed product, or the slices of a large product that the BLAS computes
 * on each thread (recur_gemm_split).
 *
 * Each range's cursor is one atomic word: the run's generation (high 32
 * bits), the range's end (16 bits) and its next task (16 bits). Taking a
 * task is a compare-and-swap that also checks the generation, so a late
 * worker can never run a task of a later run with the arguments of an
 * earlier one: it reads the task function and its job (relaxed atomics)
 * after seeing the generation, and every successful take proves that run
 * still unfinished, its job unchanged (the caller's job lives until every
 * task is done). */
typedef struct team_slot {
    struct recur_gemm_team *team;
    int index;
} team_slot;

typedef struct team_cursor {
    _Alignas(64) atomic_ullong word; /* generation << 32 | end << 16 | next task */
} team_cursor;

typedef void (*team_task_fn)(const void *job, int task);

struct recur_gemm_team {
    int size;              /* threads, the caller included */
    double min_macs;       /* smaller packed products run on the caller alone */
    double min_row;        /* the same for one row: the size n k of B */
    double split_min_macs; /* smaller products are not split (recur_gemm_split) */
    pthread_t threads[TEAM_MAX];
    team_slot slots[TEAM_MAX];
    team_cursor cursors[TEAM_MAX];
    pthread_mutex_t lock;
    pthread_cond_t wake;
    _Alignas(64) atomic_uint generation; /* bumped for each product */
    atomic_int sleepers;                 /* workers blocked on wake */
    atomic_int quit;
    _Alignas(64) atomic_int done; /* tasks finished in the current run */
    /* the current run */
    _Atomic(team_task_fn) run;
    _Atomic(const void *) job;
};

typedef struct team_job {
    const recur_packed_b *p;
    const float *a;
    float *c;
    int m, ldc, beta_one; /* a: A packed by recur_gemm_pack_a_* */
} team_job;

/* Panels [p0, p1) of a product. */
static void panels_run(const team_job *j, int p0, int p1)
{
#if RECUR_SIMD_X86
    const recur_packed_b *p = j->p;
    if (p->level == RECUR_SIMD_AVX512)
        recur_gemm_panels_avx512(j->m, p->n, p->k, p->gate_h, j->a, p->panels, p0, p1,
                                 j->beta_one, j->c, j->ldc);
    else
        recur_gemm_panels_avx2(j->m, p->n, p->k, p->gate_h, j->a, p->panels, p0, p1,
                               j->beta_one, j->c, j->ldc);
#else
    (void)j, (void)p0, (void)p1;
#endif
}

static void panel_task(const void *job, int panel)
{
    panels_run(job, panel, panel + 1);
}

/* The first task of range r of `size` over `count` tasks: with fewer tasks
 * than ranges, task r in range r (the caller's range first, the threads
 * after it), else equal shares. */
static int range_start(int count, int r, int size)
{
    if (count < size)
        return r < count ? r : count;
    return (int)((long)count * r / size);
}

/* Takes the next task of range r in generation gen: its index, or -1. The
 * end of the range comes from the cursor too, not from the arguments a late
 * worker may have read from the next run. */
static int take_task(struct recur_gemm_team *t, int r, unsigned gen)
{
    unsigned long long w = atomic_load_explicit(&t->cursors[r].word, memory_order_relaxed);
    for (;;) {
        const int next = (int)(w & 0xFFFFu), end = (int)((w >> 16) & 0xFFFFu);
        if ((unsigned)(w >> 32) != gen || next >= end)
            return -1;
        if (atomic_compare_exchange_weak_explicit(&t->cursors[r].word, &w, w + 1,
                                                  memory_order_acq_rel, memory_order_relaxed))
            return next;
    }
}

/* Runs tasks of generation gen, own range first, until none is left to take. */
static void team_work(struct recur_gemm_team *t, int self, unsigned gen, team_task_fn run,
                      const void *job)
{
    for (int step = 0; step < t->size; step++) {
        const int r = (self + step) % t->size;
        int q;
        while ((q = take_task(t, r, gen)) >= 0) {
            run(job, q);
            atomic_fetch_add_explicit(&t->done, 1, memory_order_release);
        }
    }
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
        /* run and job may belong to a later run already: then every take
         * fails, and neither is used. */
        team_work(t, slot->index, gen, atomic_load_explicit(&t->run, memory_order_relaxed),
                  atomic_load_explicit(&t->job, memory_order_relaxed));
    }
}

/* Offers tasks [0, count) of run(job, task) to the team's workers (count <=
 * 0xFFFF): one range a thread, or with in_order all in the caller's range,
 * which every thread then takes from in order. Returns the run's
 * generation. */
static unsigned team_launch(struct recur_gemm_team *t, int count, team_task_fn run,
                            const void *job, int in_order)
{
    atomic_store_explicit(&t->run, run, memory_order_relaxed);
    atomic_store_explicit(&t->job, job, memory_order_relaxed);
    atomic_store_explicit(&t->done, 0, memory_order_relaxed);
    const unsigned gen = atomic_load_explicit(&t->generation, memory_order_relaxed) + 1u;
    for (int r = 0; r < t->size; r++) {
        int first = range_start(count, r, t->size), last = range_start(count, r + 1, t->size);
        if (in_order) /* range 0 holds every task, the others none */
            first = r ? count : 0, last = count;
        const unsigned long long start = (unsigned long long)first;
        const unsigned long long end = (unsigned long long)last;
        atomic_store_explicit(&t->cursors[r].word,
                              (unsigned long long)gen << 32 | end << 16 | start,
                              memory_order_relaxed);
    }
    atomic_store(&t->generation, gen); /* seq_cst: before the sleepers test */
    if (atomic_load(&t->sleepers) > 0) {
        pthread_mutex_lock(&t->lock);
        pthread_cond_broadcast(&t->wake);
        pthread_mutex_unlock(&t->lock);
    }
    return gen;
}

/* One round of waiting for another thread: a pause, and from the
 * SPIN_WAIT-th round on the core given up (the other may not be running). */
static void spin_wait(int *spins)
{
    if (++*spins < SPIN_WAIT)
        cpu_relax();
    else
        sched_yield();
}

/* Returns once all `count` tasks of the run are done. */
static void team_wait(struct recur_gemm_team *t, int count)
{
    int spins = 0;
    while (atomic_load_explicit(&t->done, memory_order_acquire) < count)
        spin_wait(&spins);
}

/* Runs tasks [0, count) of run(job, task) on the team, the caller taking
 * part; returns when all are done. count <= 0xFFFF. */
static void team_run(struct recur_gemm_team *t, int count, team_task_fn run, const void *job)
{
    const unsigned gen = team_launch(t, count, run, job, 0);
    team_work(t, 0, gen, run, job);
    team_wait(t, count);
}

/* Ends threads [1, started) of the team and frees it. */
static void team_stop(struct recur_gemm_team *t, int started)
{
    atomic_store(&t->quit, 1);
    pthread_mutex_lock(&t->lock);
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    for (int i = 1; i < started; i++)
        pthread_join(t->threads[i], NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Whether a packed product of m (>= 1) x n x k is worth a team's threads
 * under these bounds (recur_gemm_team_takes). */
static int worth_team(int m, int n, int k, double min_macs, double min_row)
{
    return m == 1 ? (double)n * k >= min_row : (double)m * n * k >= min_macs;
}

recur_gemm_team *recur_gemm_team_create(int step_m, int step_n, int step_k, double split_macs)
{
    if (!worth_team(step_m, step_n, step_k, (double)RECUR_GEMM_TEAM_MIN_MACS,
                    (double)RECUR_GEMM_TEAM_MIN_ROW) &&
        (split_macs < (double)RECUR_GEMM_SPLIT_MIN_MACS || !blas_serial()))
        return NULL;
    recur_gemm_team *t =
        recur_gemm_team_create_sized(recur_num_threads(), (double)RECUR_GEMM_TEAM_MIN_MACS);
    if (t)
        t->split_min_macs = (double)RECUR_GEMM_SPLIT_MIN_MACS;
    return t;
}

recur_gemm_team *recur_gemm_team_create_sized(int size, double min_macs)
{
    if (recur_simd_level() == RECUR_SIMD_SCALAR || size < 2)
        return NULL;
    if (size > TEAM_MAX)
        size = TEAM_MAX;
    struct recur_gemm_team *t = aligned_alloc(64, (sizeof *t + 63) / 64 * 64);
    if (!t)
        return NULL;
    memset(t, 0, sizeof *t);
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
    atomic_init(&t->sleepers, 0);
    atomic_init(&t->quit, 0);
    atomic_init(&t->done, 0);
    atomic_init(&t->run, NULL);
    atomic_init(&t->job, NULL);
    for (int i = 0; i < TEAM_MAX; i++)
        atomic_init(&t->cursors[i].word, 0ull);
    /* The worker count is fixed before any starts (they read t->size). */
    t->size = size;
    t->min_macs = min_macs;
    t->min_row = min_macs < (double)RECUR_GEMM_TEAM_MIN_ROW ? min_macs
                                                            : (double)RECUR_GEMM_TEAM_MIN_ROW;
    t->split_min_macs = min_macs;
    int started = 1;
    for (int i = 1; i < size; i++) {
        t->slots[i].team = t;
        t->slots[i].index = i;
        if (pthread_create(&t->threads[i], NULL, team_worker, &t->slots[i]))
            break;
        started++;
    }
    if (started < size) {
        /* Fewer threads than ranges would still be correct (the caller takes
         * every range), but give up on threads instead. */
        team_stop(t, started);
        return NULL;
    }
    return t;
}

void recur_gemm_team_destroy(recur_gemm_team *t)
{
    if (t)
        team_stop(t, t->size);
}

void recur_packed_b_init(recur_packed_b *p, int trans_b, int n, int k, const float *b, int ldb)
{
    memset(p, 0, sizeof *p);
    p->trans_b = trans_b, p->n = n, p->k = k, p->b = b, p->ldb = ldb;
    p->level = recur_simd_level();
    p->pending = p->level != RECUR_SIMD_SCALAR && n > 0 && k > 0;
}

void recur_packed_b_init_gates(recur_packed_b *p, int gates, int H, int k, const float *b,
                               int ldb)
{
    recur_packed_b_init(p, 1, gates * H, k, b, ldb);
    p->gate_h = H;
}

/* Packs the panels (at the first product of more than one row: batch 1 never
 * needs them); on failure products go to recur_gemm. */
static void pack_panels(recur_packed_b *p)
{
    const int trans_b = p->trans_b, n = p->n, k = p->k, ldb = p->ldb;
    const float *b = p->b;
    p->pending = 0;
    const int w = p->level == RECUR_SIMD_AVX512 ? RECUR_PANEL_W_AVX512 : RECUR_PANEL_W_AVX2;
    /* gate order (cells_simd.inc): G panels, one per gate, per w units */
    const int H = p->gate_h, G = H ? n / H : 1;
    const int count = H ? G * ((H + w - 1) / w) : (n + w - 1) / w;
    const size_t bytes = sizeof(float) * (size_t)count * (size_t)k * (size_t)w; /* 64 | bytes */
    /* malloc, not aligned_alloc: glibc then keeps the freed block for the next
     * call (its dynamic mmap threshold) instead of faulting in fresh pages. */
    void *block = malloc(bytes + 64);
    if (!block)
        return;
    float *panels = (float *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    for (int q = 0; q < count; q++) {
        float *dst = panels + (size_t)q * (size_t)k * (size_t)w;
        int j0, cols;
        recur_panel_columns(q, n, H, w, &j0, &cols);
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
                memcpy(row, b + (size_t)kk * (size_t)ldb + (size_t)j0,
                       sizeof(float) * (size_t)cols);
                memset(row + cols, 0, sizeof(float) * (size_t)(w - cols));
            }
        }
    }
    p->block = block, p->panels = panels, p->width = w, p->count = count;
}

void recur_packed_b_free(recur_packed_b *p)
{
    free(p->block);
    free(p->packed_a);
    p->block = NULL, p->panels = NULL, p->packed_a = NULL, p->packed_a_capacity = 0;
}

/* Packs what a product of m rows needs and fills j; 0 when the product
 * went elsewhere instead (one row, no panels, no memory for A), C then
 * computed already. */
static int packed_prepare(recur_packed_b *p, int m, const float *a, int lda, float beta, float *c,
                          int ldc, team_job *j)
{
    if (p->pending && m > 1)
        pack_panels(p);
    if (!p->panels || m <= 0 || p->n <= 0 || p->k <= 0) {
        gemm_blas(0, p->trans_b, m, p->n, p->k, 1.0f, a, lda, p->b, p->ldb, beta, c, ldc);
        return 0;
    }
    /* One row (that the team did not take: row_on_team): the matrix-vector
     * kernels on the original B, on this thread (the panel kernel would run
     * only 2 accumulator chains, bound by the FMA latency). */
    if (m == 1 && gemm_one_row(0, p->trans_b, p->n, p->k, 1.0f, a, p->b, p->ldb, beta, c))
        return 0;
    /* A packed in tiles of rows, so that a tile's values of one k are
     * adjacent (once per product, by the caller; the team reads it). */
    const int mr = p->level == RECUR_SIMD_AVX512 ? RECUR_PANEL_MR_AVX512 : RECUR_PANEL_MR_AVX2;
    const size_t packed_n = (size_t)((m + mr - 1) / mr) * (size_t)mr * (size_t)p->k;
    if (packed_n > p->packed_a_capacity) {
        float *grown = realloc(p->packed_a, packed_n * sizeof(float));
        if (!grown) {
            gemm_blas(0, p->trans_b, m, p->n, p->k, 1.0f, a, lda, p->b, p->ldb, beta, c, ldc);
            return 0;
        }
        p->packed_a = grown, p->packed_a_capacity = packed_n;
    }
#if RECUR_SIMD_X86
    (p->level == RECUR_SIMD_AVX512 ? recur_gemm_pack_a_avx512 : recur_gemm_pack_a_avx2)(
        m, p->k, a, lda, p->packed_a);
#endif
    *j = (team_job){p, p->packed_a, c, m, ldc, beta != 0.0f};
    if (beta != 0.0f && beta != 1.0f)
        for (int i = 0; i < m; i++)
            for (int jj = 0; jj < p->n; jj++)
                c[(size_t)i * (size_t)ldc + (size_t)jj] *= beta;
    return 1;
}

/* Whether a product of m rows is worth the team's threads. */
static int team_takes(const recur_gemm_team *t, const recur_packed_b *p, int m, int tasks)
{
    return recur_gemm_team_takes(t, m, p->n, p->k) && tasks >= 2 && tasks <= 0xFFFF;
}

/* ---- One row on the team ----
 * Batch 1's products are matrix-vector products bound by reading B (W_hh)
 * from the cache; the team's threads each take ranges of columns of C (in
 * gate order: ranges of units, every gate of them), the same every step, so
 * that each core reads only its share of B, from its own cache. */

typedef struct row_job {
    const recur_packed_b *p;
    const float *a; /* the row [k], copied by the caller (done may overwrite the original) */
    float *copies;  /* [tasks][stride]: each task's own copy of a */
    size_t stride;
    float beta;
    float *c;
    int span; /* columns (units in gate order) a task */
    recur_gemm_done done;
    void *job;
} row_job;

/* Task q: its range of columns (units), then done on them. */
static void row_task(const void *job, int q)
{
    const row_job *r = job;
    const recur_packed_b *p = r->p;
    const int total = p->gate_h ? p->gate_h : p->n, G = p->gate_h ? p->n / p->gate_h : 1;
    const int c0 = q * r->span, cols = total - c0 < r->span ? total - c0 : r->span;
    /* The row copied again: read straight from where another core had just
     * written it, the kernels ran at half speed (AMD EPYC, 2026-11-28); the
     * copy's loads are all in flight at once. */
    float *x = r->copies + (size_t)q * r->stride;
    memcpy(x, r->a, sizeof(float) * (size_t)p->k);
    for (int g = 0; g < G; g++) {
        const int j0 = g * total + c0;
        const float *b = p->trans_b ? p->b + (size_t)j0 * (size_t)p->ldb : p->b + j0;
        gemm_one_row(0, p->trans_b, cols, p->k, 1.0f, x, b, p->ldb, r->beta, r->c + j0);
    }
    if (r->done)
        r->done(r->job, c0, cols);
}

/* C[1, n] = a op(B) + beta C on the team (then done on each range, when not
 * NULL); returns 0 when the team does not take it (nothing done). */
static int row_on_team(recur_gemm_team *t, recur_packed_b *p, const float *a, float beta,
                       float *c, recur_gemm_done done, void *job)
{
    if (p->level == RECUR_SIMD_SCALAR || p->n <= 0 || p->k <= 0 ||
        !recur_gemm_team_takes(t, 1, p->n, p->k))
        return 0;
    /* a range a thread (two took 6 % longer at lstm H128: the kernels' calls
     * cost), but no share under half RECUR_GEMM_TEAM_MIN_ROW values of B (on
     * many cores a smaller share would take less time to read than the
     * meeting), each whole blocks of 8 rows of the kernels; a thread that
     * the OS runs late leaves its range to the others */
    const double shares = (double)p->n * p->k / (RECUR_GEMM_TEAM_MIN_ROW / 2);
    const int ranges = shares >= t->size ? t->size : shares >= 2 ? (int)shares : 2;
    const int total = p->gate_h ? p->gate_h : p->n;
    const int span = ((total + ranges - 1) / ranges + 7) / 8 * 8;
    const int tasks = (total + span - 1) / span;
    const size_t stride = ((size_t)p->k + 15) / 16 * 16; /* whole cache lines */
    const size_t need = (size_t)(tasks + 1) * stride + 16;
    if (tasks < 2)
        return 0;
    if (need > p->packed_a_capacity) {
        float *grown = realloc(p->packed_a, need * sizeof(float));
        if (!grown)
            return 0;
        p->packed_a = grown, p->packed_a_capacity = need;
    }
    /* a copied before any task runs: a task's done may overwrite it (a GRU
     * step's h, in place) while another task has yet to read it */
    float *row = (float *)(((uintptr_t)p->packed_a + 63) & ~(uintptr_t)63);
    memcpy(row, a, sizeof(float) * (size_t)p->k);
    const row_job r = {p, row, row + stride, stride, beta, c, span, done, job};
    team_run(t, tasks, row_task, &r);
    return 1;
}

void recur_gemm_packed(recur_gemm_team *t, recur_packed_b *p, int m, const float *a, int lda,
                       float beta, float *c, int ldc)
{
    team_job j;
    if (m == 1 && row_on_team(t, p, a, beta, c, NULL, NULL))
        return;
    if (!packed_prepare(p, m, a, lda, beta, c, ldc, &j))
        return;
    if (!team_takes(t, p, m, p->count)) {
        panels_run(&j, 0, p->count);
        return;
    }
    team_run(t, p->count, panel_task, &j);
}

typedef struct each_job {
    team_job product;
    int group; /* panels per task */
    recur_gemm_done done;
    void *job;
} each_job;

/* Task q: its group of panels, then done on their columns (units). */
static void each_task(const void *job, int q)
{
    const each_job *e = job;
    const recur_packed_b *p = e->product.p;
    const int p0 = q * e->group, p1 = p0 + e->group < p->count ? p0 + e->group : p->count;
    panels_run(&e->product, p0, p1);
    /* a task's columns: one panel's, or in gate order the units of G */
    const int span = p->width, total = p->gate_h ? p->gate_h : p->n;
    const int c0 = q * span;
    e->done(e->job, c0, total - c0 < span ? total - c0 : span);
}

void recur_gemm_packed_each(recur_gemm_team *t, recur_packed_b *p, int m, const float *a,
                            int lda, float beta, float *c, int ldc, recur_gemm_done done,
                            void *job)
{
    each_job e = {.group = p->gate_h ? p->n / p->gate_h : 1, .done = done, .job = job};
    if (m == 1 && row_on_team(t, p, a, beta, c, done, job))
        return;
    if (!packed_prepare(p, m, a, lda, beta, c, ldc, &e.product)) {
        done(job, 0, p->gate_h ? p->gate_h : p->n);
        return;
    }
    const int tasks = (p->count + e.group - 1) / e.group;
    if (!team_takes(t, p, m, tasks)) {
        for (int q = 0; q < tasks; q++)
            each_task(&e, q);
        return;
    }
    team_run(t, tasks, each_task, &e);
}

/* ---- Large products split between the threads of a team ---- */

/* Whether the BLAS computes a product on the calling thread alone (OpenBLAS
 * set to one thread), so that the team's threads may each compute a slice
 * of one product at the same time. Otherwise the BLAS's own threads would
 * compete with the team's. */
static int blas_serial(void)
{
#if RECUR_BLAS_DNNL
    return 0;
#else
    return openblas_get_num_threads && openblas_get_num_threads() == 1;
#endif
}

typedef struct split_job {
    int trans_a, trans_b, m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int by_rows; /* slices of rows of C, else of columns */
    int block;   /* rows or columns per slice */
    int extent;  /* m or n */
} split_job;

static void split_task(const void *job, int task)
{
    const split_job *s = job;
    const int i0 = task * s->block;
    const int len = s->extent - i0 < s->block ? s->extent - i0 : s->block;
    if (s->by_rows) { /* rows i0.. of op(A) and of C */
        const float *a = s->trans_a ? s->a + i0 : s->a + (size_t)i0 * (size_t)s->lda;
        gemm_blas(s->trans_a, s->trans_b, len, s->n, s->k, s->alpha, a, s->lda, s->b, s->ldb,
                  s->beta, s->c + (size_t)i0 * (size_t)s->ldc, s->ldc);
    } else { /* columns i0.. of op(B) and of C */
        const float *b = s->trans_b ? s->b + (size_t)i0 * (size_t)s->ldb : s->b + i0;
        gemm_blas(s->trans_a, s->trans_b, s->m, len, s->k, s->alpha, s->a, s->lda, b, s->ldb,
                  s->beta, s->c + i0, s->ldc);
    }
}

/* Whether team t (not NULL) cuts a product of m n k into slices for the BLAS
 * on its threads: large enough, and the BLAS on one thread. */
static int team_splits(const recur_gemm_team *t, int m, int n, int k)
{
    return m > 0 && n > 0 && k > 0 && (double)m * n * k >= t->split_min_macs && blas_serial();
}

void recur_gemm_split(recur_gemm_team *t, int trans_a, int trans_b, int m, int n, int k,
                      float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                      float *c, int ldc)
{
    if (!t) {
        recur_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (!team_splits(t, m, n, k)) {
        gemm_blas(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* Two slices per thread (a thread the OS runs late delays only its own
     * slices), in multiples of 16 rows or columns. */
    split_job s = {trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha, beta, a, b, c,
                   m >= n, 0, m >= n ? m : n};
    const int slices = 2 * t->size;
    s.block = ((s.extent + slices - 1) / slices + 15) / 16 * 16;
    const int count = (s.extent + s.block - 1) / s.block;
    if (count < 2) {
        gemm_blas(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    team_run(t, count, split_task, &s);
}

int recur_gemm_team_takes(const recur_gemm_team *t, int m, int n, int k)
{
    return t && m >= 1 && worth_team(m, n, k, t->min_macs, t->min_row);
}

/* Block b (of the ahead product g) of rows of C. */
static void ahead_block(recur_gemm_ahead *g, int b)
{
    const int i0 = b * g->block, rows = g->m - i0 < g->block ? g->m - i0 : g->block;
    gemm_blas(0, g->trans_b, rows, g->n, g->k, g->alpha, g->a + (size_t)i0 * (size_t)g->lda,
              g->lda, g->b, g->ldb, g->beta, g->c + (size_t)i0 * (size_t)g->ldc, g->ldc);
    atomic_store_explicit(&g->final[b], 1, memory_order_release);
}

/* Task q: the q-th block in the product's order. */
static void ahead_task(const void *job, int q)
{
    recur_gemm_ahead *g = (recur_gemm_ahead *)job; /* its blocks' flags change */
    ahead_block(g, g->order < 0 ? g->count - 1 - q : q);
}

void recur_gemm_ahead_start(recur_gemm_ahead *g, recur_gemm_team *t, int order, int trans_b,
                            int m, int n, int k, float alpha, const float *a, int lda,
                            const float *b, int ldb, float beta, float *c, int ldc)
{
    g->team = NULL;
    const int block = (m + 16 * RECUR_GEMM_AHEAD_BLOCKS - 1) / (16 * RECUR_GEMM_AHEAD_BLOCKS) * 16;
    if (!order || !t || !team_splits(t, m, n, k) || m <= block) {
        recur_gemm_split(t, 0, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    *g = (recur_gemm_ahead){.team = t, .trans_b = trans_b, .m = m, .n = n, .k = k, .lda = lda,
                            .ldb = ldb, .ldc = ldc, .order = order, .alpha = alpha, .beta = beta,
                            .a = a, .b = b, .c = c, .block = block,
                            .count = (m + block - 1) / block};
    for (int i = 0; i < g->count; i++)
        atomic_init(&g->final[i], 0);
    g->generation = team_launch(t, g->count, ahead_task, g, 1);
}

/* Runs the product's next block on the caller, if one is left to take;
 * returns whether it did. */
static int ahead_take(recur_gemm_ahead *g)
{
    const int q = take_task(g->team, 0, g->generation);
    if (q < 0)
        return 0;
    ahead_task(g, q);
    atomic_fetch_add_explicit(&g->team->done, 1, memory_order_release);
    return 1;
}

void recur_gemm_ahead_wait(recur_gemm_ahead *g, int row0, int row1)
{
    if (!g->team || row1 <= row0)
        return;
    int spins = 0;
    for (int b = row0 / g->block; b <= (row1 - 1) / g->block; b++)
        while (!atomic_load_explicit(&g->final[b], memory_order_acquire))
            if (!ahead_take(g))
                spin_wait(&spins); /* a worker computes it (maybe descheduled) */
}

int recur_gemm_ahead_complete(const recur_gemm_ahead *g)
{
    return !g->team || atomic_load_explicit(&g->team->done, memory_order_acquire) >= g->count;
}

void recur_gemm_ahead_finish(recur_gemm_ahead *g)
{
    if (!g->team)
        return;
    while (ahead_take(g))
        ;
    team_wait(g->team, g->count);
    g->team = NULL;
}

void recur_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    /* A product too large for one thread, with a BLAS of one thread: the
     * threads of a team made for it (RECUR_NUM_THREADS). */
    if (m > 1 && n > 0 && k > 0 && (double)m * n * k >= (double)RECUR_GEMM_ALONE_MAX_MACS &&
        blas_serial()) {
        recur_gemm_team *t = recur_gemm_team_create_sized(recur_num_threads(), 0.0);
        if (t) { /* NULL also for a size of one */
            recur_gemm_split(t, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            recur_gemm_team_destroy(t);
            return;
        }
    }
    gemm_blas(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
