/* SPDX-License-Identifier: MIT */
/*
 * gil/wait.h - waiting for a busy GIL without taking it (docs/gil.md,
 * "Falling back without serializing").
 *
 * A thread whose transaction found the GIL held (HG_ABORT_BUSY) waits for the
 * holder to release it and then speculates again.  Taking the real GIL to
 * wait (take_gil, then drop_gil) would write gil->locked twice, aborting
 * every transaction in flight each time, and hold the GIL while running no
 * bytecode.  So the wait only reads the word, and says that it waits in a
 * count that a holder on the lock tier reads at each of its yield points:
 * while the count is nonzero, the holder gives the GIL back after a bounded
 * stretch of yield points.  A holder that never reaches a forced yield point
 * (a long C call, a thread that is not in a section of ours) is met by a
 * budget: the caller then waits once through CPython's own take_gil, whose
 * drop request makes any holder yield.
 *
 * struct hg_gil_waiters.n: the threads inside hg_gil_wait_unlocked, on a
 * cache line of its own (waiters write it; only holders read it, outside
 * transactions, so no transaction ever has it in its read set).  Relaxed
 * throughout: it is a hint; a holder that reads it late gives the GIL back
 * one stretch later, and nothing is ordered by it.
 */
#ifndef HG_GIL_WAIT_H
#define HG_GIL_WAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/atomic.h"
#include "base/util.h"

struct hg_gil_waiters {
	_Alignas(HG_CACHELINE) uint32_t n;
	char pad[HG_CACHELINE - sizeof(uint32_t)];
};

/* CPython's default switch interval: a holder that takes this long is not one of ours. */
#define HG_GIL_WAIT_BUDGET_NS 5000000ull

/*
 * Waits until *word reads 0 (true) or budget_ns of CLOCK_MONOTONIC have
 * passed (false), reading it only: spin reads with PAUSE, then
 * sched_yield.  Counted in w->n meanwhile.  Outside transactions.
 */
HG_INTERNAL bool hg_gil_wait_unlocked(const uint32_t *word, struct hg_gil_waiters *w,
    unsigned spin, uint64_t budget_ns);

/* Whether some thread waits to speculate (a holder's question at a yield point). */
static inline bool hg_gil_waiters_any(struct hg_gil_waiters *w)
{
	return hg_atomic_load_relaxed32(&w->n) != 0; /* relaxed: a hint, see above */
}

#endif /* HG_GIL_WAIT_H */
