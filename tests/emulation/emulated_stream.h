/* What the emulated CUDA runtime (cuda_runtime_emulated.c), its cuBLAS
 * (cublas_emulated.c) and its kernel launches (cuda_emulation.h) share: a
 * stream, and the graphs, lists of operations that cudaGraphLaunch runs in
 * order. An operation is a function and its context (a copy of its
 * arguments, taken over by the stream: destroyed once run, or with the
 * graph).
 *
 * A created stream runs nothing when an operation is submitted: it queues
 * it, unless the stream is being captured, when the operation joins the
 * graph being captured (stream capture). The queues run when something
 * waits for them (a synchronization, a copy to the host, an event a stream
 * waits for), the runtime taking the next operation of a stream picked at
 * random among those with work queued, so that the streams' operations
 * interleave in any order their events allow, as on a GPU: work on two
 * streams that a missing event leaves unordered runs in the wrong order
 * sooner or later, and the results show it. The legacy default stream
 * (NULL) runs an operation at once, after every queue (emu_drain_all), as
 * it waits for the blocking streams. */
#ifndef RECUR_TESTS_EMULATION_EMULATED_STREAM_H
#define RECUR_TESTS_EMULATION_EMULATED_STREAM_H

#include <stdlib.h>

#include "cuda_runtime_api.h"

typedef struct emu_op {
    void (*run)(void *context);
    void (*destroy)(void *context);
    void *context;
} emu_op;

typedef struct emu_ops {
    emu_op *ops;
    size_t count, capacity;
} emu_ops;

struct CUstream_st {
    emu_ops *capture; /* the graph being captured, or NULL */
    emu_ops queue;    /* submitted, not yet run: ops[head, count) */
    size_t head;
    size_t submitted, ran; /* operations queued and run since the stream's creation */
    struct CUstream_st *next; /* the runtime's list of streams */
};

struct CUgraph_st {
    emu_ops ops;
};

struct CUgraphExec_st {
    emu_ops ops;
};

#ifdef __cplusplus
extern "C" {
#endif
/* Runs every stream's queue (cuda_runtime_emulated.c). Weak: absent where
 * the runtime is not linked (the kernels' own tests, which use the legacy
 * stream alone), and in the emulated cuBLAS unless the program exports it. */
void emu_drain_all(void) __attribute__((weak));
#ifdef __cplusplus
}
#endif

static inline void emu_ops_clear(emu_ops *list)
{
    for (size_t i = 0; i < list->count; i++)
        list->ops[i].destroy(list->ops[i].context);
    free(list->ops);
    list->ops = NULL;
    list->count = list->capacity = 0;
}

/* Appends op to list; cudaErrorMemoryAllocation when it cannot grow. */
static inline cudaError_t emu_ops_append(emu_ops *list, emu_op op)
{
    if (list->count == list->capacity) {
        const size_t capacity = list->capacity ? 2 * list->capacity : 16;
        emu_op *grown = (emu_op *)realloc(list->ops, capacity * sizeof *grown);
        if (!grown)
            return cudaErrorMemoryAllocation;
        list->ops = grown;
        list->capacity = capacity;
    }
    list->ops[list->count++] = op;
    return cudaSuccess;
}

/* Queues run(context) on stream, or records it when the stream is being
 * captured, or runs it now on the legacy stream; either way the stream
 * takes context over. cudaErrorMemoryAllocation when the queue or graph
 * cannot grow (context destroyed). */
static inline cudaError_t emu_submit(cudaStream_t stream, void (*run)(void *),
                                     void (*destroy)(void *), void *context)
{
    if (!stream) {
        if (emu_drain_all)
            emu_drain_all();
        run(context);
        destroy(context);
        return cudaSuccess;
    }
    emu_op op;
    op.run = run, op.destroy = destroy, op.context = context;
    if (emu_ops_append(stream->capture ? stream->capture : &stream->queue, op) != cudaSuccess) {
        destroy(context);
        return cudaErrorMemoryAllocation;
    }
    if (!stream->capture)
        stream->submitted++;
    return cudaSuccess;
}

#endif
