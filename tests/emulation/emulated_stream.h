/* What the emulated CUDA runtime (cuda_runtime_emulated.c), its cuBLAS
 * (cublas_emulated.c) and its kernel launches (cuda_emulation.h) share: a
 * stream, which runs each operation at once unless it is being captured,
 * when the operation joins the graph being captured (stream capture), and
 * the graphs, lists of operations that cudaGraphLaunch runs in order. An
 * operation is a function and its context (a copy of its arguments, taken
 * over by the stream: destroyed once run, or with the graph). */
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
};

struct CUgraph_st {
    emu_ops ops;
};

struct CUgraphExec_st {
    emu_ops ops;
};

static inline void emu_ops_clear(emu_ops *list)
{
    for (size_t i = 0; i < list->count; i++)
        list->ops[i].destroy(list->ops[i].context);
    free(list->ops);
    list->ops = NULL;
    list->count = list->capacity = 0;
}

/* Runs run(context) now, or records it when stream is being captured;
 * either way the stream takes context over. cudaErrorMemoryAllocation when
 * the graph cannot grow (context destroyed). */
static inline cudaError_t emu_submit(cudaStream_t stream, void (*run)(void *),
                                     void (*destroy)(void *), void *context)
{
    emu_ops *list = stream ? stream->capture : NULL;
    if (!list) {
        run(context);
        destroy(context);
        return cudaSuccess;
    }
    if (list->count == list->capacity) {
        const size_t capacity = list->capacity ? 2 * list->capacity : 16;
        emu_op *grown = (emu_op *)realloc(list->ops, capacity * sizeof *grown);
        if (!grown) {
            destroy(context);
            return cudaErrorMemoryAllocation;
        }
        list->ops = grown;
        list->capacity = capacity;
    }
    list->ops[list->count].run = run;
    list->ops[list->count].destroy = destroy;
    list->ops[list->count].context = context;
    list->count++;
    return cudaSuccess;
}

#endif
