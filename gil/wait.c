/* SPDX-License-Identifier: MIT */
/*
 * gil/wait.c - waiting for a busy GIL without taking it (gil/wait.h).
 */
#include "gil/wait.h"

#include <time.h>

static uint64_t hg_gil_wait_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool hg_gil_wait_unlocked(const uint32_t *word, struct hg_gil_waiters *w, unsigned spin,
    uint64_t budget_ns)
{
	/* relaxed: see struct hg_gil_waiters */
	hg_atomic_fetch_add_relaxed32(&w->n, 1);
	uint64_t t0 = 0;
	bool freed = false;
	for (unsigned i = 0;;) {
		/*
		 * Relaxed: the caller's next transaction reads the word again inside
		 * it, and that read, not this one, decides; this one only says
		 * when to try.
		 */
		if (hg_atomic_load_relaxed32(word) == 0) {
			freed = true;
			break;
		}
		hg_spin_then_yield(&i, spin);
		if (i < spin)
			continue;
		/* Past the spin: each pass yields the CPU; the clock is a vDSO read. */
		uint64_t now = hg_gil_wait_now_ns();
		if (!t0)
			t0 = now;
		else if (now - t0 >= budget_ns)
			break;
	}
	hg_atomic_fetch_add_relaxed32(&w->n, UINT32_MAX); /* minus one */
	return freed;
}
