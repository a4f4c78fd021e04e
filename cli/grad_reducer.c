/* Gradient averaging overlapped with the backward pass (see grad_reducer.h):
 * a queue of buckets (runs of tensors) filled by the grad-ready hook on the
 * training thread and emptied by one communication thread. */
#define _POSIX_C_SOURCE 200809L
#include "grad_reducer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

struct grad_reducer {
    int count;
    float *const *grads;
    const size_t *sizes;
    float *staging;        /* one bucket, packed */
    int *bucket_first, *bucket_n; /* the queue: at most `count` buckets per backward */
    int queued, taken;     /* buckets queued / taken in this backward */
    int reduced;           /* tensors averaged in this backward */
    int threaded, quit;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
};

/* Averages tensors [first, first + n) over the processes, as one collective. */
static void reduce_bucket(grad_reducer *r, int first, int n)
{
    size_t at = 0;
    for (int i = first; i < first + n; i++) {
        memcpy(r->staging + at, r->grads[i], r->sizes[i] * sizeof(float));
        at += r->sizes[i];
    }
    dist_allreduce_mean(r->staging, at);
    at = 0;
    for (int i = first; i < first + n; i++) {
        memcpy(r->grads[i], r->staging + at, r->sizes[i] * sizeof(float));
        at += r->sizes[i];
    }
}

static void *communicate(void *arg)
{
    grad_reducer *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (r->taken == r->queued && !r->quit)
            pthread_cond_wait(&r->changed, &r->lock);
        if (r->taken == r->queued) /* quit, nothing left */
            break;
        const int first = r->bucket_first[r->taken], n = r->bucket_n[r->taken];
        r->taken++;
        pthread_mutex_unlock(&r->lock);
        reduce_bucket(r, first, n);
        pthread_mutex_lock(&r->lock);
        r->reduced += n;
        pthread_cond_broadcast(&r->changed);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

grad_reducer *grad_reducer_create(int count, float *const *grads, const size_t *sizes)
{
    grad_reducer *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    size_t total = 1;
    for (int i = 0; i < count; i++)
        total += sizes[i];
    r->count = count, r->grads = grads, r->sizes = sizes;
    r->staging = malloc(total * sizeof(float));
    r->bucket_first = malloc(((size_t)count + 1) * sizeof(int));
    r->bucket_n = malloc(((size_t)count + 1) * sizeof(int));
    if (!r->staging || !r->bucket_first || !r->bucket_n ||
        pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r->staging), free(r->bucket_first), free(r->bucket_n), free(r);
        return NULL;
    }
    pthread_cond_init(&r->changed, NULL);
    const char *overlap = getenv("RECUR_DIST_OVERLAP"); /* 0: average at finish */
    r->threaded = dist_threads_ok() && !(overlap && overlap[0] == '0') &&
                  pthread_create(&r->thread, NULL, communicate, r) == 0;
    return r;
}

void grad_reducer_ready(void *reducer, int first, int n)
{
    grad_reducer *r = reducer;
    pthread_mutex_lock(&r->lock);
    if (r->queued <= r->count) {
        r->bucket_first[r->queued] = first;
        r->bucket_n[r->queued] = n;
        r->queued++;
    }
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
}

void grad_reducer_finish(grad_reducer *r)
{
    pthread_mutex_lock(&r->lock);
    if (r->threaded) {
        while (r->reduced < r->count)
            pthread_cond_wait(&r->changed, &r->lock);
    } else {
        for (; r->taken < r->queued; r->taken++)
            reduce_bucket(r, r->bucket_first[r->taken], r->bucket_n[r->taken]);
    }
    r->queued = r->taken = r->reduced = 0;
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
    free(r->staging), free(r->bucket_first), free(r->bucket_n);
    free(r);
}
