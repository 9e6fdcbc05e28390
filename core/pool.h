/* The engine's one thread pool. GEMMs (single-threaded OpenBLAS calls on row or column blocks)
 * and row loops take turns on the same threads, so nothing spins while the other works.
 * Work is split statically into contiguous ranges, one per thread, so results depend on the
 * thread count only, never on timing; which thread runs a range is decided as they come
 * free, so a thread that is late (asleep, or its core taken) does not hold the others up. */
#ifndef RILL_POOL_H
#define RILL_POOL_H

#include <stddef.h>

#include "err.h"

typedef void (*rill_range_fn)(void *ctx, size_t begin, size_t end, int worker);

/* Starts the pool with nthreads in all (the caller counts as one). nthreads <= 0 means one per
 * core. Calling again with another count restarts the pool. Also pins OpenBLAS to one thread. */
int rill_pool_start(int nthreads, rill_err *err);
void rill_pool_stop(void);
int rill_pool_threads(void);

/* Runs fn over [0, n) split into rill_pool_threads() ranges (fewer when n / min_chunk is
 * smaller). fn's worker argument is the range's index (0, 1, ...), the same whichever thread
 * runs it, and no two threads run one range at once: per-worker scratch and partial sums are
 * indexed by it. The caller runs ranges too. Nested calls run serially in the calling thread. */
void rill_parallel_for(size_t n, size_t min_chunk, rill_range_fn fn, void *ctx);

/* Runs fn(ctx, i, i + 1, worker) for every i in [0, n), handing indexes to whichever thread
 * is free. For independent items of uneven cost (one per embedding table): which thread
 * takes an item changes nothing in the results. */
void rill_parallel_each(size_t n, rill_range_fn fn, void *ctx);

#endif
