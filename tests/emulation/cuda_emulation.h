/* Runs CUDA kernel code on the CPU for tests: every thread of a launch is a
 * coroutine (its own stack) on one OS thread; a scheduler resumes them in a
 * seeded random order, each running until it waits at a barrier (warp,
 * block, cluster or mbarrier) or ends; in half the rounds the blocks run one
 * after another, so that blocks drift apart between cluster barriers as they
 * do on a GPU, and now and then a thread that begins to wait on an mbarrier
 * sleeps for some rounds, as a warp can be held back. What the kernels of
 * src/backend/cuda/cluster_rnn.cu and persistent_rnn.cu use is here:
 * threadIdx, float4, the warp shuffles, __syncwarp and __syncthreads,
 * dynamic shared memory per block, loads through L2, waits for a word's
 * stamp (wait_stamp: the stamped persistent forward), mbarriers with
 * asynchronous stores that land in a random order and at random moments
 * (within the scheduler's round), and (cooperative_groups.h beside this
 * file) one thread-block cluster with distributed shared memory and its
 * barrier, or a cooperative grid as one cluster. run_flat runs kernels that
 * never wait (the element-wise ones) a thread after another, without
 * coroutines.
 * Warps run their lanes one after another, so code that is only correct in
 * warp lockstep without __syncwarp is not caught; barriers and the order of
 * blocks are. Header-only: included once in a program (by
 * test_cluster_emulated.cpp, test_kernels_emulated.cpp, or the
 * recur_emulated library's kernels_emulated.cpp). */
#ifndef RECUR_TESTS_EMULATION_CUDA_EMULATION_H
#define RECUR_TESTS_EMULATION_CUDA_EMULATION_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "cuda_runtime_api.h"
#include "emulated_stream.h"

/* Under AddressSanitizer the coroutines tell it of each stack switch
 * (its fiber interface), so that the kernels' loads and stores are checked
 * on the coroutines' stacks as elsewhere. */
#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#ifdef EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#include <functional>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct float4 {
    float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }


namespace emu {

/* A group of threads that wait for each other: a warp, a block or the
 * cluster. */
struct barrier {
    int size = 0, arrived = 0;
    unsigned generation = 0;
};

/* An mbarrier (PTX): `count` arrivals and the bytes of asynchronous stores
 * announced (expect_tx) are awaited each phase; the phase completes when
 * both are in (pending == 0 and tx == 0; tx may run below zero while stores
 * land before their announcement). */
struct mbarrier {
    int count = 0, pending = 0;
    long tx = 0;
    unsigned phase = 0;
};

/* An asynchronous store (st.async) in flight: its floats land at dst, then
 * complete their bytes on bar, at a moment the scheduler draws. */
struct async_store {
    float *dst;
    float values[4];
    int n;
    uint64_t *bar;
};

/* c's stack, where a pooled one may hold the frames (and ASan's poisoned
 * redzones) of the coroutine that ended on it. */
template <typename Context> inline void take_stack(Context &c, char *stack, size_t size)
{
    c.stack = stack, c.stack_size = size;
#ifdef EMU_ASAN
    __asan_unpoison_memory_region(stack, size);
#endif
}

/* A coroutine's machine state. On x86-64 a stack pointer, switched by
 * emu_switch (the callee-saved registers pushed on the old stack, popped
 * from the new one: no system call, where swapcontext saves and restores
 * the signal mask with two); elsewhere a ucontext. */
#if defined(__x86_64__)
extern "C" void emu_switch(void **from, void *to);
asm(R"(
    .pushsection .text
    .weak emu_switch
    .type emu_switch, @function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch
    .popsection
)");

struct context {
    void *sp = nullptr;
    const void *stack = nullptr; /* its stack (for ASan; learned for the scheduler's) */
    size_t stack_size = 0;
    void *fake_stack = nullptr; /* ASan's, while switched away */
};

/* c starts fn (which never returns) on stack [stack, stack + size). */
inline void context_start(context &c, char *stack, size_t size, void (*fn)())
{
    take_stack(c, stack, size);
    void **sp = (void **)(((uintptr_t)(stack + size)) & ~(uintptr_t)15);
    *--sp = nullptr;       /* fn's return address: fn never returns */
    *--sp = (void *)fn;    /* where emu_switch returns to, the stack as after a call */
    for (int i = 0; i < 6; i++)
        *--sp = nullptr;   /* the six registers emu_switch pops */
    c.sp = sp;
}

inline void context_jump(context &from, context &to) { emu_switch(&from.sp, to.sp); }
#else
struct context {
    ucontext_t uc;
    const void *stack = nullptr;
    size_t stack_size = 0;
    void *fake_stack = nullptr;
};

inline void context_start(context &c, char *stack, size_t size, void (*fn)())
{
    take_stack(c, stack, size);
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = stack;
    c.uc.uc_stack.ss_size = size;
    c.uc.uc_link = nullptr;
    makecontext(&c.uc, fn, 0);
}

inline void context_jump(context &from, context &to) { swapcontext(&from.uc, &to.uc); }
#endif

/* Switches from `from` to `to`; returns when something switches back, which
 * is `to` again: a coroutine switches only to the scheduler, which switches
 * only to the coroutine that has just come back. */
inline void context_switch(context &from, context &to)
{
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(&from.fake_stack, to.stack, to.stack_size);
#endif
    context_jump(from, to);
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(from.fake_stack, &to.stack, &to.stack_size);
#endif
}

struct thread {
    context machine;
    int block = 0, index = 0; /* block of the cluster, thread of the block */
    bool done = false;
    const barrier *at_barrier = nullptr; /* waiting at a barrier ... */
    unsigned barrier_generation = 0;     /* ... for the end of this generation */
    unsigned cluster_generation = 0; /* the cluster barrier's generation it arrived at */
    const uint64_t *at_mbarrier = nullptr; /* waiting for the phase of parity */
    unsigned mbarrier_parity = 0;          /* at_mbarrier's phase waited for */
    unsigned long asleep_until = 0;        /* not resumed before this round */
    bool begins_mbarrier_wait = false;     /* yielded on entering mbarrier_wait */
    const uint64_t *at_stamped = nullptr;  /* waiting for this word's stamp ... */
    uint32_t stamp = 0;                    /* ... to be this (wait_stamp) */
    unsigned exchanges = 0;                /* warp exchanges taken part in */
};

struct launch {
    int blocks = 0, threads = 0;
    int first_block = 0; /* blockIdx.x of the cluster's first block in the grid */
    int grid_x = 0, grid_y = 1, block_y = 0; /* gridDim.x (0: blocks), gridDim.y, blockIdx.y */
    bool flat = false;   /* run_flat: threads one after another, no waiting */
    std::vector<thread> all;
    std::vector<barrier> warps;        /* [blocks * threads / 32] */
    std::vector<barrier> block_groups; /* [blocks] */
    barrier cluster;
    std::vector<std::vector<float4>> shared; /* per block */
    /* the shuffles' values, [2][blocks * threads]: a warp's exchanges
     * alternate between the halves, so that one warp barrier each suffices
     * (a lane writes the half of exchange k + 2 only after every lane has
     * arrived at exchange k + 1's barrier, past its read of exchange k) */
    std::vector<float> exchange;
    std::map<const uint64_t *, mbarrier> mbarriers; /* by their place in shared memory */
    std::vector<async_store> in_flight;
    unsigned long progress = 0; /* barriers passed, phases completed and stores landed */
    context scheduler;
    thread *current = nullptr;
    std::function<void()> body;
};

inline launch *&active()
{
    static launch *the_launch = nullptr;
    return the_launch;
}

inline thread &self() { return *active()->current; }

/* Each coroutine's stack. */
const size_t kStackBytes = 64 * 1024;

/* Stacks kept from launch to launch (a launch runs at a time): a training
 * step launches blocks of 256 threads by the thousand, and fresh stacks for
 * each cost more than the kernels (allocation and page faults). */
inline char *pooled_stack(size_t i)
{
    static std::vector<std::unique_ptr<char[]>> pool;
    while (pool.size() <= i)
        pool.emplace_back(new char[kStackBytes]);
    return pool[i].get();
}

inline void yield()
{
    launch *l = active();
    if (l->flat)
        abort(); /* a kernel run by run_flat waits: it needs run() */
    context_switch(l->current->machine, l->scheduler);
}

/* Arrives at b; returns the generation to wait for the end of. */
inline unsigned arrive(barrier &b)
{
    const unsigned generation = b.generation;
    if (++b.arrived == b.size) {
        b.arrived = 0;
        b.generation++;
        active()->progress++;
    }
    return generation;
}

inline void wait(const barrier &b, unsigned generation)
{
    thread &t = *active()->current;
    t.at_barrier = &b;
    t.barrier_generation = generation;
    if (b.generation != generation) {
        t.at_barrier = nullptr;
        yield(); /* the barrier's last to arrive: the others run on first, in any order */
        return;
    }
    while (b.generation == generation)
        yield(); /* resumed, after the barrier, in the round's random order */
    t.at_barrier = nullptr;
}

inline barrier &my_warp()
{
    launch *l = active();
    thread &t = self();
    return l->warps[(size_t)(t.block * l->threads + t.index) / 32];
}

inline void syncwarp()
{
    barrier &w = my_warp();
    wait(w, arrive(w));
}

inline void syncthreads()
{
    barrier &b = active()->block_groups[(size_t)self().block];
    wait(b, arrive(b));
}

inline void mbarrier_init(uint64_t *bar, int count)
{
    mbarrier &m = active()->mbarriers[bar];
    m = mbarrier();
    m.count = m.pending = count;
}

/* Completes m's phase when its arrivals and bytes are in. */
inline void mbarrier_check(mbarrier &m)
{
    if (m.pending == 0 && m.tx == 0) {
        m.phase++;
        m.pending = m.count;
        active()->progress++;
    }
}

inline mbarrier &mbarrier_at(const uint64_t *bar)
{
    auto found = active()->mbarriers.find(bar);
    if (found == active()->mbarriers.end())
        abort(); /* not initialized: a kernel bug */
    return found->second;
}

inline void mbarrier_arrive_expect_tx(uint64_t *bar, unsigned bytes)
{
    mbarrier &m = mbarrier_at(bar);
    m.tx += bytes;
    m.pending--;
    mbarrier_check(m);
}

/* Until the phase of parity `parity` of bar has completed. */
inline void mbarrier_wait(const uint64_t *bar, unsigned parity)
{
    thread &t = self();
    t.begins_mbarrier_wait = true;
    yield(); /* where the scheduler may hold this thread back */
    t.at_mbarrier = bar;
    t.mbarrier_parity = parity;
    while ((mbarrier_at(bar).phase & 1u) == parity)
        yield(); /* resumed, once the phase completed, in the round's random order */
    t.at_mbarrier = nullptr;
}

/* n floats to dst (another block's shared memory, or this one's), their
 * bytes completed on bar (in dst's block) when they land. As on the GPU
 * (compute-sanitizer: "Cluster needs to have at least 2 blocks"), only in a
 * cluster of two blocks or more. */
inline void store_async(float *dst, const float *values, int n, uint64_t *bar)
{
    if (active()->blocks < 2)
        abort(); /* a kernel bug */
    async_store a{dst, {0, 0, 0, 0}, n, bar};
    for (int i = 0; i < n; i++)
        a.values[i] = values[i];
    active()->in_flight.push_back(a);
}

/* Lands in-flight store i (in any order: stores may overtake each other). */
inline void land(size_t i)
{
    launch *l = active();
    const async_store a = l->in_flight[i];
    l->in_flight[i] = l->in_flight.back();
    l->in_flight.pop_back();
    for (int k = 0; k < a.n; k++)
        a.dst[k] = a.values[k];
    mbarrier &m = mbarrier_at(a.bar);
    m.tx -= 4 * a.n;
    l->progress++;
    mbarrier_check(m);
}

/* Whether t waits for something that has not happened yet. */
inline bool blocked(const thread &t)
{
    return (t.at_barrier && t.at_barrier->generation == t.barrier_generation) ||
           (t.at_mbarrier && (mbarrier_at(t.at_mbarrier).phase & 1u) == t.mbarrier_parity) ||
           (t.at_stamped && (uint32_t)(*t.at_stamped >> 32) != t.stamp);
}

/* The word at p (global memory, another block's store: a value in the low
 * 32 bits, its stamp in the high 32) once its stamp is `stamp`: the thread
 * yields first, as a load's latency lets other warps run, then waits,
 * blocked, until a store brings that stamp. */
inline uint64_t wait_stamp(const uint64_t *p, uint32_t stamp)
{
    thread &t = self();
    t.at_stamped = p;
    t.stamp = stamp;
    do
        yield();
    while ((uint32_t)(*p >> 32) != stamp);
    t.at_stamped = nullptr;
    return *p;
}

/* What read(warp, lane) makes of the values the warp's 32 lanes give
 * (warp[i]: lane i's), as the warp-wide intrinsics exchange them. */
template <typename Read> inline auto warp_exchange(float value, Read read)
{
    launch *l = active();
    thread &t = self();
    const size_t half = l->exchange.size() / 2;
    const size_t at = (t.exchanges++ & 1u) * half + (size_t)t.block * l->threads + t.index;
    l->exchange[at] = value;
    syncwarp();
    return read(&l->exchange[at & ~(size_t)31], t.index & 31);
}

/* The value of lane source(lane) of this thread's warp (its own past the
 * warp's end), as the warp shuffles read it. */
template <typename Source> inline float shuffle(float value, Source source)
{
    return warp_exchange(value, [value, source](const float *warp, int lane) {
        const int from = source(lane);
        return from < 32 ? warp[from] : value;
    });
}

/* The warp's predicates, lane i's in bit i. */
inline unsigned ballot(int predicate)
{
    return warp_exchange(predicate ? 1.0f : 0.0f, [](const float *warp, int) {
        unsigned bits = 0;
        for (int lane = 0; lane < 32; lane++)
            bits |= warp[lane] != 0.0f ? 1u << lane : 0u;
        return bits;
    });
}

inline float shfl_xor(float value, int mask)
{
    return shuffle(value, [mask](int lane) { return lane ^ mask; });
}

inline void entry()
{
#ifdef EMU_ASAN /* the first switch to this coroutine ends here: the scheduler's stack */
    __sanitizer_finish_switch_fiber(nullptr, &active()->scheduler.stack,
                                    &active()->scheduler.stack_size);
#endif
    active()->body();
    self().done = true;
    yield();
}

/* Seeds for launches that draw no seed of their own (1, 2, ...). */
inline uint64_t next_seed()
{
    static uint64_t seed = 0;
    return ++seed;
}

/* Runs body as `threads` threads in each of `blocks` blocks of one cluster,
 * with shared_bytes of dynamic shared memory each, in an order drawn from
 * seed; the cluster is the one at first_block of a grid of several (blockIdx.x
 * from first_block). Returns 0, or -1 when the threads deadlock. */
inline int run(int blocks, int threads, size_t shared_bytes, uint64_t seed,
               std::function<void()> body, int first_block = 0, int grid_x = 0, int grid_y = 1,
               int block_y = 0)
{
    launch l;
    l.blocks = blocks;
    l.first_block = first_block;
    l.grid_x = grid_x, l.grid_y = grid_y, l.block_y = block_y;
    l.threads = threads;
    l.body = std::move(body);
    l.all.resize((size_t)blocks * threads);
    l.warps.resize((size_t)blocks * threads / 32);
    for (barrier &w : l.warps)
        w.size = 32;
    l.block_groups.resize((size_t)blocks);
    for (barrier &b : l.block_groups)
        b.size = threads;
    l.cluster.size = blocks * threads;
    l.shared.assign((size_t)blocks, std::vector<float4>((shared_bytes + 15) / 16));
    l.exchange.assign(2 * (((size_t)blocks * threads + 31) & ~(size_t)31), 0.0f);
    active() = &l;
    for (size_t i = 0; i < l.all.size(); i++) {
        thread &t = l.all[i];
        t.block = (int)(i / threads);
        t.index = (int)(i % threads);
        context_start(t.machine, pooled_stack(i), kStackBytes, entry);
    }
    std::vector<size_t> order(l.all.size());
    for (size_t i = 0; i < order.size(); i++)
        order[i] = i;
    uint64_t state = seed * 2862933555777941757ull + 3037000493ull;
    int result = 0, idle_rounds = 0;
    unsigned long round = 0;
    for (size_t remaining = l.all.size(); remaining > 0; round++) {
        for (size_t i = order.size() - 1; i > 0; i--) { /* a new order every round */
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            const size_t j = (size_t)(state >> 33) % (i + 1);
            const size_t swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        /* Half the rounds run every thread once, in a random order; the
         * others run the blocks one after another, each until all its
         * threads wait (at the cluster barrier, or for a sleeping thread or
         * another block) or end: the last block to arrive then runs on into
         * the next phase while the others have not yet left the barrier, as
         * blocks drift apart on a GPU. */
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        const bool serial = (state >> 63) != 0;
        const unsigned long progress_before = l.progress;
        size_t ended = 0;
        auto resume = [&](thread &t) {
            if (t.asleep_until > round)
                return;
            /* half the time, one store in flight lands first */
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            if (!l.in_flight.empty() && (state >> 63))
                land((size_t)((state >> 20) % l.in_flight.size()));
            l.current = &t;
            context_switch(l.scheduler, t.machine);
            ended += t.done;
            /* 1 in 256 threads that begin waiting on an mbarrier sleeps for
             * 40 rounds, as a warp can be held back on a GPU while others run
             * on (several steps of theirs, when nothing they wait for comes
             * from it) */
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            if (t.begins_mbarrier_wait && (state >> 56) == 0)
                t.asleep_until = round + 40;
            t.begins_mbarrier_wait = false;
        };
        if (!serial) { /* a thread still waiting would only yield again */
            for (size_t i : order)
                if (!l.all[i].done && !blocked(l.all[i]))
                    resume(l.all[i]);
        } else {
            for (size_t i : order) {
                if (i % (size_t)threads != 0) /* each block once, in the order's order */
                    continue;
                const size_t first = i;
                for (int guard = 0; guard < 100000; guard++) {
                    bool runnable = false;
                    for (size_t k = first; k < first + (size_t)threads; k++) {
                        thread &t = l.all[k];
                        if (!t.done && !blocked(t) && t.asleep_until <= round) {
                            runnable = true;
                            resume(t);
                        }
                    }
                    if (!runnable)
                        break;
                }
            }
        }
        while (!l.in_flight.empty()) /* the rest of the stores land by the round's end */
            land(0);
        remaining -= ended;
        /* Deadlock: rounds in which nobody ended, no barrier moved and no
         * mbarrier phase or store completed (l.progress counts all three),
         * far more of them than a sleeping thread holds the others back. */
        idle_rounds = ended || l.progress != progress_before ? 0 : idle_rounds + 1;
        if (idle_rounds > 10000) {
            result = -1;
            break;
        }
    }
    active() = nullptr;
    return result;
}

/* Runs body as `threads` threads in each of `blocks` blocks (a grid), one
 * thread after another, each to its end: for kernels that never wait for
 * each other (no barriers, shuffles or shared memory; the element-wise
 * kernels of src/backend/cuda/kernels.cu). */
inline void run_flat(int blocks, int threads, const std::function<void()> &body)
{
    launch l;
    l.blocks = blocks;
    l.threads = threads;
    l.flat = true;
    l.all.resize(1);
    l.current = &l.all[0];
    active() = &l;
    for (int b = 0; b < blocks; b++)
        for (int t = 0; t < threads; t++) {
            l.all[0].block = b;
            l.all[0].index = t;
            body();
        }
    active() = nullptr;
}

/* Runs body over a grid of grid_x by grid_y blocks of `threads` threads,
 * one block after another (each block's threads as coroutines: barriers
 * and warp votes work; a kernel's static shared arrays serve each block in
 * turn). 0, or -1 when a block deadlocked. */
inline int run_grid(int grid_x, int grid_y, int threads, const std::function<void()> &body)
{
    int result = 0;
    for (int y = 0; y < grid_y; y++)
        for (int x = 0; x < grid_x; x++)
            result |= run(1, threads, 0, next_seed(), body, x, grid_x, grid_y, y);
    return result;
}

/* run() of a kernel queued on a stream, whose caller is gone when it runs:
 * a deadlock (a kernel bug) aborts. */
inline void run_or_abort(int blocks, int threads, size_t shared_bytes, std::function<void()> body,
                         int first_block = 0)
{
    if (run(blocks, threads, shared_bytes, next_seed(), std::move(body), first_block)) {
        fputs("emulated kernel deadlocked\n", stderr);
        abort();
    }
}

/* launch() on stream: queued, or in the graph the stream is capturing, or
 * now on the legacy stream (emulated_stream.h). */
inline cudaError_t submit(cudaStream_t stream, std::function<void()> launch)
{
    typedef std::function<void()> call;
    return emu_submit(
        stream, [](void *context) { (*(call *)context)(); },
        [](void *context) { delete (call *)context; }, new call(std::move(launch)));
}

/* run_grid and run_flat of kernel body f on stream. */
template <typename F>
cudaError_t submit_grid(cudaStream_t stream, int grid_x, int grid_y, int threads, F f)
{
    return submit(stream, [=] { run_grid(grid_x, grid_y, threads, f); });
}
template <typename F> cudaError_t submit_flat(cudaStream_t stream, int blocks, int threads, F f)
{
    return submit(stream, [=] { run_flat(blocks, threads, f); });
}

} // namespace emu

/* A launch with clusters (cudaLaunchConfig_t of cuda_runtime_api.h) on the
 * config's stream: each cluster of the grid run by emu::run in turn
 * (clusters share nothing) when the stream runs it; a deadlock aborts. */
template <typename... Args>
cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t *config, void (*kernel)(Args...),
                               Args... args)
{
    unsigned cluster = 1;
    for (unsigned i = 0; i < config->numAttrs; i++)
        if (config->attrs[i].id == cudaLaunchAttributeClusterDimension)
            cluster = config->attrs[i].val.clusterDim.x;
    const unsigned grid = config->gridDim.x, threads = config->blockDim.x;
    const size_t smem = config->dynamicSmemBytes;
    return emu::submit(config->stream, [=] {
        for (unsigned first = 0; first < grid; first += cluster)
            emu::run_or_abort((int)cluster, (int)threads, smem, [&] { kernel(args...); },
                              (int)first);
    });
}

/* What the kernels read and call. */
/* threadIdx, blockIdx, blockDim and gridDim: objects whose x, y and z
 * read the running thread's values when used as numbers (variables, not
 * macros, so that host code may name a field gridDim); grids and blocks are
 * one-dimensional but for a grid's y (run_grid). */
struct emu_component {
    unsigned (*read)();
    operator unsigned() const { return read(); }
};
struct emu_builtin {
    emu_component x, y, z;
};
inline unsigned emu_zero() { return 0; }
inline unsigned emu_block_y() { return (unsigned)emu::active()->block_y; }
inline unsigned emu_grid_y() { return (unsigned)emu::active()->grid_y; }
inline unsigned emu_one() { return 1; }
inline unsigned emu_thread_index() { return (unsigned)emu::self().index; }
inline unsigned emu_block_index()
{
    return (unsigned)(emu::active()->first_block + emu::self().block);
}
inline unsigned emu_block_size() { return (unsigned)emu::active()->threads; }
/* The launch's blocks (run: the cluster's unless the launch names its grid). */
inline unsigned emu_grid_size()
{
    const emu::launch *l = emu::active();
    return (unsigned)(l->grid_x ? l->grid_x : l->blocks);
}
static const emu_builtin threadIdx = {{emu_thread_index}, {emu_zero}, {emu_zero}};
static const emu_builtin blockIdx = {{emu_block_index}, {emu_block_y}, {emu_zero}};
static const emu_builtin blockDim = {{emu_block_size}, {emu_one}, {emu_one}};
static const emu_builtin gridDim = {{emu_grid_size}, {emu_grid_y}, {emu_one}};

inline float __shfl_xor_sync(unsigned, float value, int mask) { return emu::shfl_xor(value, mask); }
inline float __shfl_down_sync(unsigned, float value, unsigned delta)
{
    return emu::shuffle(value, [delta](int lane) { return lane + (int)delta; });
}
inline float __shfl_sync(unsigned, float value, int source)
{
    return emu::shuffle(value, [source](int) { return source & 31; });
}
inline unsigned __ballot_sync(unsigned, int predicate) { return emu::ballot(predicate); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
/* A kernel's static shared arrays: one for all blocks, which run_grid runs
 * one after another. */
#define __shared__ static
/* A load through L2 (the persistent kernels read what other blocks wrote). */
template <typename T> inline T __ldcg(const T *p) { return *p; }
inline float __uint_as_float(unsigned x)
{
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}
inline unsigned __float_as_uint(float f)
{
    unsigned x;
    memcpy(&x, &f, sizeof x);
    return x;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::syncwarp(); }
inline void __syncthreads() { emu::syncthreads(); }

namespace {
inline float4 *dynamic_shared_memory() { return emu::active()->shared[emu::self().block].data(); }
} // namespace

#endif
