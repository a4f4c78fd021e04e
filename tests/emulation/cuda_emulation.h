/* Runs CUDA kernel code on the CPU for tests: every thread of a launch is a
 * coroutine (ucontext) on one OS thread; a scheduler resumes them in a seeded
 * random order, each running until it waits at a barrier (warp or cluster)
 * or ends; in half the rounds the blocks run one after another, so that
 * blocks drift apart between cluster barriers as they do on a GPU. What the kernel of src/backend/cuda/cluster_rnn.cu uses is
 * here: threadIdx, float4, the warp shuffle and __syncwarp, dynamic shared
 * memory per block, and (cooperative_groups.h beside this file) one
 * thread-block cluster with distributed shared memory and its barrier.
 * Warps run their lanes one after another, so code that is only correct in
 * warp lockstep without __syncwarp is not caught; barriers and the order of
 * blocks are. Header-only: included once, by the test. */
#ifndef RECUR_TESTS_EMULATION_CUDA_EMULATION_H
#define RECUR_TESTS_EMULATION_CUDA_EMULATION_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <functional>
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

struct emu_dim3 {
    unsigned x, y, z;
};

namespace emu {

/* A group of threads that wait for each other: a warp, a block or the
 * cluster. */
struct barrier {
    int size = 0, arrived = 0;
    unsigned generation = 0;
};

struct thread {
    ucontext_t context;
    std::vector<char> stack;
    int block = 0, index = 0; /* block of the cluster, thread of the block */
    bool done = false;
    bool at_cluster = false;         /* waiting at the cluster barrier */
    unsigned cluster_generation = 0; /* the cluster barrier's generation it arrived at */
};

struct launch {
    int blocks = 0, threads = 0;
    int first_block = 0; /* blockIdx.x of the cluster's first block in the grid */
    std::vector<thread> all;
    std::vector<barrier> warps;        /* [blocks * threads / 32] */
    std::vector<barrier> block_groups; /* [blocks] */
    barrier cluster;
    std::vector<std::vector<float4>> shared; /* per block */
    std::vector<float> exchange;             /* the shuffles' values, [blocks * threads] */
    ucontext_t scheduler;
    thread *current = nullptr;
    std::function<void()> body;
};

inline launch *&active()
{
    static launch *the_launch = nullptr;
    return the_launch;
}

inline thread &self() { return *active()->current; }

inline void yield()
{
    launch *l = active();
    swapcontext(&l->current->context, &l->scheduler);
}

/* Arrives at b; returns the generation to wait for the end of. */
inline unsigned arrive(barrier &b)
{
    const unsigned generation = b.generation;
    if (++b.arrived == b.size) {
        b.arrived = 0;
        b.generation++;
    }
    return generation;
}

inline void wait(const barrier &b, unsigned generation)
{
    thread &t = *active()->current;
    t.at_cluster = &b == &active()->cluster;
    while (b.generation == generation)
        yield();
    t.at_cluster = false;
    yield(); /* let others run first, in any order */
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

inline float shfl_xor(float value, int mask)
{
    launch *l = active();
    thread &t = self();
    const size_t at = (size_t)t.block * l->threads + t.index;
    l->exchange[at] = value;
    syncwarp();
    const float other = l->exchange[(at & ~(size_t)31) | ((t.index & 31) ^ mask)];
    syncwarp();
    return other;
}

inline void entry()
{
    active()->body();
    self().done = true;
    yield();
}

/* Runs body as `threads` threads in each of `blocks` blocks of one cluster,
 * with shared_bytes of dynamic shared memory each, in an order drawn from
 * seed; the cluster is the one at first_block of a grid of several (blockIdx.x
 * from first_block). Returns 0, or -1 when the threads deadlock. */
inline int run(int blocks, int threads, size_t shared_bytes, uint64_t seed,
               std::function<void()> body, int first_block = 0)
{
    launch l;
    l.blocks = blocks;
    l.first_block = first_block;
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
    l.exchange.assign((size_t)blocks * threads, 0.0f);
    active() = &l;
    for (size_t i = 0; i < l.all.size(); i++) {
        thread &t = l.all[i];
        t.block = (int)(i / threads);
        t.index = (int)(i % threads);
        t.stack.resize(64 * 1024);
        getcontext(&t.context);
        t.context.uc_stack.ss_sp = t.stack.data();
        t.context.uc_stack.ss_size = t.stack.size();
        t.context.uc_link = nullptr;
        makecontext(&t.context, entry, 0);
    }
    std::vector<size_t> order(l.all.size());
    for (size_t i = 0; i < order.size(); i++)
        order[i] = i;
    uint64_t state = seed * 2862933555777941757ull + 3037000493ull;
    int result = 0, idle_rounds = 0;
    for (size_t remaining = l.all.size(); remaining > 0;) {
        for (size_t i = order.size() - 1; i > 0; i--) { /* a new order every round */
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            const size_t j = (size_t)(state >> 33) % (i + 1);
            const size_t swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        /* Half the rounds run every thread once, in a random order; the
         * others run the blocks one after another, each until all its
         * threads wait at the cluster barrier (or end): the last block to
         * arrive then runs on into the next phase while the others have not
         * yet left the barrier, as blocks drift apart on a GPU. */
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        const bool serial = (state >> 63) != 0;
        const unsigned before = l.cluster.generation;
        size_t ended = 0, resumed = 0;
        auto resume = [&](thread &t) {
            l.current = &t;
            swapcontext(&l.scheduler, &t.context);
            resumed++;
            ended += t.done;
        };
        if (!serial) {
            for (size_t i : order)
                if (!l.all[i].done)
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
                        const bool blocked =
                            t.at_cluster && l.cluster.generation == t.cluster_generation;
                        if (!t.done && !blocked) {
                            runnable = true;
                            resume(t);
                        }
                    }
                    if (!runnable)
                        break;
                }
            }
        }
        remaining -= ended;
        /* Deadlock: rounds in which nobody ended and the cluster barrier did
         * not move, far more of them than a step's warp barriers take. */
        idle_rounds = (ended || l.cluster.generation != before) ? 0 : idle_rounds + 1;
        if (resumed && idle_rounds > 10000) {
            result = -1;
            break;
        }
    }
    active() = nullptr;
    return result;
}

} // namespace emu

/* What the kernels read and call. */
#define threadIdx (emu_dim3{(unsigned)emu::self().index, 0u, 0u})
#define blockIdx (emu_dim3{(unsigned)(emu::active()->first_block + emu::self().block), 0u, 0u})
#define blockDim (emu_dim3{(unsigned)emu::active()->threads, 1u, 1u})

inline float __shfl_xor_sync(unsigned, float value, int mask) { return emu::shfl_xor(value, mask); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::syncwarp(); }
inline void __syncthreads() { emu::syncthreads(); }

namespace {
inline float4 *dynamic_shared_memory() { return emu::active()->shared[emu::self().block].data(); }
} // namespace

#endif
