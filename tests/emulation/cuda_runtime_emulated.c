/* The CUDA runtime of cuda_runtime_api.h (this folder) over host memory, for
 * the recur_emulated library: one "GPU" whose memory is the host's, kernels
 * run by the caller on the CPU (tests/emulation/kernels_emulated.cpp). The
 * GPU is an sm_90 of 4 SMs, one block each, with cooperative launch and
 * clusters, so the backend runs its persistent and cluster kernels where
 * they fit, their threads as coroutines. Streams queue their operations
 * and run them when something waits, interleaved at random as far as their
 * events allow (emulated_stream.h), or record them while captured, so the
 * backend captures its step loops into graphs and replays them as on a GPU;
 * the products go through cublas_emulated.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emulated_stream.h"

static const char *const kName = "recur CPU emulation of a CUDA GPU";

const char *cudaGetErrorString(cudaError_t error)
{
    switch (error) {
    case cudaSuccess:
        return "no error";
    case cudaErrorMemoryAllocation:
        return "out of memory (emulated)";
    case cudaErrorInvalidDevice:
        return "invalid device ordinal (emulated)";
    case cudaErrorStreamCaptureUnsupported:
        return "stream capture is not emulated";
    default:
        return "emulated CUDA error";
    }
}

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    return device == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    if (device != 0)
        return cudaErrorInvalidDevice;
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "%s", kName);
    prop->totalGlobalMem = (size_t)1 << 34;
    prop->major = 9;
    prop->minor = 0;
    prop->multiProcessorCount = 4;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
    if (device != 0)
        return cudaErrorInvalidDevice;
    switch (attr) {
    case cudaDevAttrMultiProcessorCount:
        *value = 4;
        break;
    case cudaDevAttrComputeCapabilityMajor:
        *value = 9;
        break;
    case cudaDevAttrCooperativeLaunch:
        *value = 1;
        break;
    case cudaDevAttrMaxSharedMemoryPerBlock:
        *value = 48 * 1024;
        break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
        *value = 227 * 1024;
        break;
    default:
        return cudaErrorInvalidValue;
    }
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *version)
{
    *version = 13000;
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
    emu_drain_all();
    return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value)
{
    (void)func, (void)attr, (void)value;
    return cudaSuccess;
}

cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *blocks, const void *func,
                                                          int block_size, size_t shared_bytes)
{
    (void)func, (void)block_size, (void)shared_bytes;
    *blocks = 1;
    return cudaSuccess;
}

cudaError_t cudaOccupancyMaxActiveClusters(int *clusters, const void *func,
                                           const cudaLaunchConfig_t *config)
{
    (void)func, (void)config;
    *clusters = 1;
    return cudaSuccess;
}

/* ---- memory: the host's ---- */

/* malloc's blocks of exactly `bytes` (16-byte aligned, not cudaMalloc's
 * 256), so that a sanitizer build catches a kernel or copy running past
 * a buffer; fresh memory holds a pattern no test mistakes for zeros (NaN
 * as floats), as device memory holds garbage. */
cudaError_t cudaMalloc(void **ptr, size_t bytes)
{
    *ptr = NULL;
    if (bytes > ((size_t)1 << 40))
        return cudaErrorMemoryAllocation;
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        return cudaErrorMemoryAllocation;
    memset(p, 0xff, bytes ? bytes : 1);
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr)
{
    emu_drain_all(); /* as cudaFree waits for the device */
    free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMallocAsync(void **ptr, size_t bytes, cudaStream_t stream)
{
    (void)stream;
    return cudaMalloc(ptr, bytes);
}

cudaError_t cudaFreeAsync(void *ptr, cudaStream_t stream)
{
    (void)stream;
    return cudaFree(ptr);
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind)
{
    (void)kind;
    emu_drain_all(); /* the legacy stream's */
    if (bytes)
        memmove(dst, src, bytes);
    return cudaSuccess;
}

/* A copy of height rows of width bytes (pitches apart), or a fill of
 * width bytes with value (src NULL); owned: the source's snapshot, freed
 * with the operation. */
typedef struct memory_op {
    void *dst;
    const void *src;
    size_t dpitch, spitch, width, height;
    int value;
    void *owned;
} memory_op;

static void run_memory_op(void *context)
{
    const memory_op *m = context;
    for (size_t r = 0; r < m->height && m->width; r++) {
        char *dst = (char *)m->dst + r * m->dpitch;
        if (m->src)
            memmove(dst, (const char *)m->src + r * m->spitch, m->width);
        else
            memset(dst, m->value, m->width);
    }
}

static void destroy_memory_op(void *context)
{
    memory_op *m = context;
    free(m->owned);
    free(m);
}

static void drain(cudaStream_t until);

/* Queues m on stream as CUDA orders a copy from or to pageable memory:
 * one to the host is done when the call returns (after the stream's queue);
 * one from the host reads its source before returning (a snapshot here);
 * the legacy stream runs it at once. */
static cudaError_t submit_memory_op(memory_op m, enum cudaMemcpyKind kind, cudaStream_t stream)
{
    const int capturing = stream && stream->capture;
    if (!capturing && m.src && (kind == cudaMemcpyDeviceToHost || !stream)) {
        drain(stream);
        run_memory_op(&m);
        return cudaSuccess;
    }
    if (!capturing && m.src && kind == cudaMemcpyHostToDevice && m.height && m.width) {
        char *snapshot = malloc(m.width * m.height);
        if (!snapshot)
            return cudaErrorMemoryAllocation;
        for (size_t r = 0; r < m.height; r++)
            memcpy(snapshot + r * m.width, (const char *)m.src + r * m.spitch, m.width);
        m.src = m.owned = snapshot;
        m.spitch = m.width;
    }
    memory_op *copy = malloc(sizeof *copy);
    if (!copy) {
        free(m.owned);
        return cudaErrorMemoryAllocation;
    }
    *copy = m;
    return emu_submit(stream, run_memory_op, destroy_memory_op, copy);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                            cudaStream_t stream)
{
    const memory_op m = {dst, src, bytes, bytes, bytes, 1, 0, NULL};
    return submit_memory_op(m, kind, stream);
}

cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
                              size_t width, size_t height, enum cudaMemcpyKind kind,
                              cudaStream_t stream)
{
    if (width > dpitch || width > spitch)
        return cudaErrorInvalidValue;
    const memory_op m = {dst, src, dpitch, spitch, width, height, 0, NULL};
    return submit_memory_op(m, kind, stream);
}

cudaError_t cudaMemset(void *ptr, int value, size_t bytes)
{
    emu_drain_all();
    if (bytes)
        memset(ptr, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t stream)
{
    const memory_op m = {ptr, NULL, bytes, 0, bytes, 1, value, NULL};
    return submit_memory_op(m, cudaMemcpyDeviceToDevice, stream);
}

/* ---- streams and events (emulated_stream.h) ---- */

/* The emulated GPU's streams (a list through next), and the state of the
 * generator that picks the stream whose operation runs next. */
static struct CUstream_st *streams;
static uint64_t schedule = 0x9e3779b97f4a7c15u;

/* Runs stream's oldest queued operation. */
static void run_next(cudaStream_t stream)
{
    const emu_op op = stream->queue.ops[stream->head++];
    if (stream->head == stream->queue.count)
        stream->head = stream->queue.count = 0;
    stream->ran++;
    op.run(op.context);
    op.destroy(op.context);
}

/* Runs queued operations, each the oldest of a stream picked at random
 * among those with a queue, until `until`'s queue is empty (NULL: every
 * queue). */
static void drain(cudaStream_t until)
{
    for (;;) {
        if (until && until->ran == until->submitted)
            return;
        size_t waiting = 0;
        for (cudaStream_t s = streams; s; s = s->next)
            waiting += s->ran < s->submitted;
        if (!waiting)
            return;
        schedule ^= schedule << 13, schedule ^= schedule >> 7, schedule ^= schedule << 17;
        size_t pick = (size_t)(schedule % waiting);
        for (cudaStream_t s = streams; s; s = s->next)
            if (s->ran < s->submitted && pick-- == 0) {
                run_next(s);
                break;
            }
    }
}

void emu_drain_all(void) { drain(NULL); }

cudaError_t cudaStreamCreate(cudaStream_t *stream)
{
    *stream = calloc(1, sizeof **stream);
    if (!*stream)
        return cudaErrorMemoryAllocation;
    (*stream)->next = streams;
    streams = *stream;
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned flags)
{
    (void)flags;
    return cudaStreamCreate(stream);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    if (!stream)
        return cudaSuccess;
    emu_drain_all(); /* what waits for its events, too */
    for (struct CUstream_st **link = &streams; *link; link = &(*link)->next)
        if (*link == stream) {
            *link = stream->next;
            break;
        }
    if (stream->capture) {
        emu_ops_clear(stream->capture);
        free(stream->capture);
    }
    free(stream->queue.ops);
    free(stream);
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    drain(stream);
    return cudaSuccess;
}

/* An event: the point of its stream's queue where it was recorded (the
 * count of operations submitted before it). A stream waiting for it runs
 * that stream's queue up to that point first; the recording stream must
 * outlive those that wait. */
struct CUevent_st {
    cudaStream_t stream; /* NULL: nothing to wait for */
    size_t position;
};

/* Runs stream's queue, in order, until `position` of its operations ran. */
static void run_until(cudaStream_t stream, size_t position)
{
    while (stream && stream->ran < position)
        run_next(stream);
}

static void run_wait(void *context)
{
    const struct CUevent_st *mark = context;
    run_until(mark->stream, mark->position);
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags)
{
    (void)flags;
    if (!event)
        return cudaErrorInvalidValue;
    if (!stream) {
        run_until(event->stream, event->position);
        return cudaSuccess;
    }
    if (stream->capture) /* fork and join in a captured graph: not emulated */
        return cudaErrorStreamCaptureUnsupported;
    struct CUevent_st *mark = malloc(sizeof *mark);
    if (!mark)
        return cudaErrorMemoryAllocation;
    *mark = *event;
    return emu_submit(stream, run_wait, free, mark);
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned flags)
{
    (void)flags;
    *event = calloc(1, sizeof **event);
    return *event ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    if (!event)
        return cudaErrorInvalidValue;
    if (stream && stream->capture)
        return cudaErrorStreamCaptureUnsupported;
    event->stream = stream;
    event->position = stream ? stream->submitted : 0;
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    free(event);
    return cudaSuccess;
}

/* ---- stream capture and graphs (emulated_stream.h) ---- */

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode)
{
    (void)mode;
    if (!stream || stream->capture) /* not the legacy stream, not twice */
        return cudaErrorStreamCaptureUnsupported;
    stream->capture = calloc(1, sizeof *stream->capture);
    return stream->capture ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph)
{
    *graph = NULL;
    if (!stream || !stream->capture)
        return cudaErrorStreamCaptureUnsupported;
    cudaGraph_t g = malloc(sizeof *g);
    if (!g) {
        emu_ops_clear(stream->capture);
        free(stream->capture);
        stream->capture = NULL;
        return cudaErrorMemoryAllocation;
    }
    g->ops = *stream->capture;
    free(stream->capture);
    stream->capture = NULL;
    *graph = g;
    return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, enum cudaStreamCaptureStatus *status)
{
    *status = stream && stream->capture ? cudaStreamCaptureStatusActive
                                        : cudaStreamCaptureStatusNone;
    return cudaSuccess;
}

/* The executable graph takes the graph's operations over. */
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph,
                                 unsigned long long flags)
{
    (void)flags;
    *exec = NULL;
    if (!graph)
        return cudaErrorInvalidValue;
    cudaGraphExec_t e = malloc(sizeof *e);
    if (!e)
        return cudaErrorMemoryAllocation;
    e->ops = graph->ops;
    memset(&graph->ops, 0, sizeof graph->ops);
    *exec = e;
    return cudaSuccess;
}

static void run_graph(void *context)
{
    const emu_ops *ops = &((cudaGraphExec_t)context)->ops;
    for (size_t i = 0; i < ops->count; i++)
        ops->ops[i].run(ops->ops[i].context);
}

static void keep_graph(void *context) { (void)context; /* the graph owns its operations */ }

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream)
{
    if (!exec || (stream && stream->capture))
        return cudaErrorInvalidValue;
    return emu_submit(stream, run_graph, keep_graph, exec);
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    if (exec) {
        emu_drain_all(); /* a queued launch of it */
        emu_ops_clear(&exec->ops);
        free(exec);
    }
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    if (graph) {
        emu_ops_clear(&graph->ops);
        free(graph);
    }
    return cudaSuccess;
}
