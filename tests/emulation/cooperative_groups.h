/* The thread-block cluster and the grid of cooperative_groups, for kernels
 * run by cuda_emulation.h (one cluster a launch). */
#ifndef RECUR_TESTS_EMULATION_COOPERATIVE_GROUPS_H
#define RECUR_TESTS_EMULATION_COOPERATIVE_GROUPS_H

#include "cuda_emulation.h"

namespace cooperative_groups {

struct cluster_group {
    unsigned block_rank() const { return (unsigned)emu::self().block; }
    unsigned num_blocks() const { return (unsigned)emu::active()->blocks; }
    /* The same place in block rank's shared memory. */
    template <typename T> T *map_shared_rank(T *addr, unsigned rank) const
    {
        emu::launch *l = emu::active();
        const char *mine = (const char *)l->shared[emu::self().block].data();
        char *theirs = (char *)l->shared[rank].data();
        return (T *)(theirs + ((const char *)addr - mine));
    }
    void barrier_arrive() const
    {
        emu::self().cluster_generation = emu::arrive(emu::active()->cluster);
    }
    void barrier_wait() const
    {
        emu::wait(emu::active()->cluster, emu::self().cluster_generation);
    }
    void sync() const
    {
        barrier_arrive();
        barrier_wait();
    }
};

inline cluster_group this_cluster() { return cluster_group(); }

/* The grid of a cooperative launch, emulated as one cluster of all its
 * blocks (emu::run): its sync is the cluster barrier. */
struct grid_group {
    void sync() const { cluster_group().sync(); }
};

inline grid_group this_grid() { return grid_group(); }

} // namespace cooperative_groups

#endif
