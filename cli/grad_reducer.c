/* Gradient averaging overlapped with the backward pass (see grad_reducer.h).
 *
 * The tensors are cut once into buckets of consecutive indexes, from the
 * last tensor down (the order in which a backward finishes them: the head
 * first, the input side last), each at least BUCKET_FLOATS floats but for
 * the last. Every process therefore has the same buckets, and the
 * communication thread reduces them strictly in that order, each as soon as
 * all of its tensors have been reported final (grad_reducer_ready) or the
 * backward has ended (grad_reducer_finish): the collectives match on every
 * rank whatever the hooks report, even on a rank without examples in this
 * batch, whose model never ran a backward. */
#define _POSIX_C_SOURCE 200809L
#include "grad_reducer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

/* Bucket size in floats: 1 MB, or RECUR_DIST_BUCKET_FLOATS (tests: many buckets). */
static size_t bucket_floats(void)
{
    const char *env = getenv("RECUR_DIST_BUCKET_FLOATS");
    long v = env ? strtol(env, NULL, 10) : 0;
    return v > 0 ? (size_t)v : (size_t)1 << 18;
}

struct grad_reducer {
    int count, mean;
    float *const *grads;
    const size_t *sizes;
    float *staging;               /* one bucket, packed */
    int buckets;
    int *bucket_lo, *bucket_hi;   /* bucket b: tensors [lo, hi], in reduction order */
    /* this backward (under lock) */
    unsigned char *ready;         /* [count] the tensor is final */
    int ended;                    /* grad_reducer_finish was called: everything is final */
    int next;                     /* buckets reduced */
    int threaded, quit;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
};

/* Sums (or averages) bucket b's tensors over the processes, as one collective. */
static void reduce_bucket(grad_reducer *r, int b)
{
    size_t at = 0;
    for (int i = r->bucket_lo[b]; i <= r->bucket_hi[b]; i++) {
        memcpy(r->staging + at, r->grads[i], r->sizes[i] * sizeof(float));
        at += r->sizes[i];
    }
    if (r->mean)
        dist_allreduce_mean(r->staging, at);
    else
        dist_allreduce_sum_float(r->staging, at);
    at = 0;
    for (int i = r->bucket_lo[b]; i <= r->bucket_hi[b]; i++) {
        memcpy(r->grads[i], r->staging + at, r->sizes[i] * sizeof(float));
        at += r->sizes[i];
    }
}

/* Under lock: bucket b may be reduced. */
static int bucket_ready(const grad_reducer *r, int b)
{
    if (r->ended)
        return 1;
    for (int i = r->bucket_lo[b]; i <= r->bucket_hi[b]; i++)
        if (!r->ready[i])
            return 0;
    return 1;
}

static void *communicate(void *arg)
{
    grad_reducer *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->quit && (r->next == r->buckets || !bucket_ready(r, r->next)))
            pthread_cond_wait(&r->changed, &r->lock);
        if (r->quit)
            break;
        const int b = r->next;
        pthread_mutex_unlock(&r->lock);
        reduce_bucket(r, b);
        pthread_mutex_lock(&r->lock);
        r->next++;
        pthread_cond_broadcast(&r->changed);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* Cuts the tensors into buckets from the last one down. */
static void make_buckets(grad_reducer *r)
{
    const size_t limit = bucket_floats();
    size_t floats = 0;
    int hi = r->count - 1;
    for (int i = r->count - 1; i >= 0; i--) {
        floats += r->sizes[i];
        if (floats >= limit || i == 0) {
            r->bucket_lo[r->buckets] = i;
            r->bucket_hi[r->buckets] = hi;
            r->buckets++;
            hi = i - 1;
            floats = 0;
        }
    }
}

grad_reducer *grad_reducer_create(int count, float *const *grads, const size_t *sizes, int mean)
{
    grad_reducer *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    size_t total = 1;
    for (int i = 0; i < count; i++)
        total += sizes[i];
    const size_t slots = (size_t)count + 1;
    r->count = count, r->mean = mean, r->grads = grads, r->sizes = sizes;
    r->staging = malloc(total * sizeof(float));
    r->bucket_lo = malloc(slots * sizeof(int));
    r->bucket_hi = malloc(slots * sizeof(int));
    r->ready = calloc(slots, 1);
    if (!r->staging || !r->bucket_lo || !r->bucket_hi || !r->ready ||
        pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r->staging), free(r->bucket_lo), free(r->bucket_hi), free(r->ready), free(r);
        return NULL;
    }
    pthread_cond_init(&r->changed, NULL);
    make_buckets(r);
    r->threaded = dist_threads_ok() && !dist_overlap_off() && /* else all at finish */
                  pthread_create(&r->thread, NULL, communicate, r) == 0;
    return r;
}

void grad_reducer_ready(void *reducer, int first, int n)
{
    grad_reducer *r = reducer;
    pthread_mutex_lock(&r->lock);
    for (int i = first; i < first + n; i++)
        if (i >= 0 && i < r->count)
            r->ready[i] = 1;
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
}

void grad_reducer_finish(grad_reducer *r)
{
    pthread_mutex_lock(&r->lock);
    r->ended = 1;
    if (r->threaded) {
        pthread_cond_broadcast(&r->changed);
        while (r->next < r->buckets)
            pthread_cond_wait(&r->changed, &r->lock);
    } else {
        for (; r->next < r->buckets; r->next++)
            reduce_bucket(r, r->next);
    }
    /* the next backward: nothing final, no bucket reduced */
    memset(r->ready, 0, (size_t)r->count);
    r->ended = 0;
    r->next = 0;
    pthread_mutex_unlock(&r->lock);
}

void grad_reducer_free(grad_reducer *r)
{
    if (!r)
        return;
    if (r->threaded) {
        pthread_mutex_lock(&r->lock);
        r->quit = 1;
        pthread_cond_broadcast(&r->changed);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
    }
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->lock);
    free(r->staging), free(r->bucket_lo), free(r->bucket_hi), free(r->ready);
    free(r);
}
