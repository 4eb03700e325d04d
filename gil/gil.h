/* SPDX-License-Identifier: MIT */
/*
 * gil/gil.h - the interpreter-lock front ends (private to gil/).
 *
 *   gil/gil3.c    CPython 3.11-3.13: take_gil/drop_gil entry patches
 *   gil/gil27.c   CPython 2.7: PyThread_acquire_lock/release_lock interposition
 *   gil/pthread.c pthread mode: default/normal pthread mutexes
 *   gil/preload.c the constructor that picks one of them
 *
 * GIL totals are process-wide counters updated with relaxed atomics, only
 * outside transactions, at GIL switches (not per bytecode), so their cache
 * line is not on any hot path.
 */
#ifndef HG_GIL_GIL_H
#define HG_GIL_GIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gil/pyident.h"
#include "base/atomic.h"
#include "htmgil/htm.h"
#include "htmgil/prof.h"

struct hg_gil_totals {
	uint64_t takes;          /* GIL acquisitions asked for by the interpreter */
	uint64_t direct;         /* ... passed straight to the original (mode off, refused) */
	uint64_t sections[HG_TIER_COUNT]; /* ... entered through the engine, by tier */
	uint64_t drops;          /* GIL releases */
	uint64_t forks;          /* children that reinitialized after fork() */
	uint64_t yields;         /* forced yield points passed inside speculative sections */
	uint64_t restarts;       /* ... at which the transaction committed and a new one began */
	uint64_t lock_stretches; /* lock-tier holds given back at a yield point to waiting speculators */
	uint64_t waits_polled;   /* waits for a busy GIL that ended by reading it free (RTM) */
	uint64_t waits_taken;    /* ... that went through take_gil/drop_gil (budget spent, no yields) */
};
extern struct hg_gil_totals hg_gil_totals;

/* What the front end did with this process; written once by the constructor. */
struct hg_gil_state {
	struct hg_py py;
	bool active;          /* hooks installed */
	uint32_t lock_id;     /* engine lock id of the GIL ("gil") */
	const char *hooked;   /* what was hooked, for the report */
	const char *yields;   /* forced yield points: on, off, or why not available */
};
extern struct hg_gil_state hg_gil_state;

static inline void hg_gil_count(uint64_t *c)
{
	/* relaxed: a statistic, read only by the report at exit */
	hg_atomic_fetch_add_relaxed64(c, 1);
}

/* Install the 3.x hooks; 0, or -1 after printing one line (nothing changed). */
HG_INTERNAL int hg_gil3_install(struct hg_gil_state *g);
/* Enable the 2.7 interposition; 0, or -1 after printing one line. */
HG_INTERNAL int hg_gil27_install(struct hg_gil_state *g);
/* Pthread mode; 0, or -1 after printing one line. */
HG_INTERNAL int hg_pthread_install(void);

/* The GIL section of the exit report (hg_report_set_hook). */
HG_INTERNAL void hg_gil_report(FILE *f, enum hg_report_format fmt);

#endif /* HG_GIL_GIL_H */
