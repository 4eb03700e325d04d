/* SPDX-License-Identifier: MIT */
/*
 * fallback/mutex.c - the real lock (struct hg_mutex, include/htmgil/lock.h).
 *
 * Protocol (the word's encoding and invariants are at the definition):
 *
 *  acquire  fast path: CAS word 0 -> LOCKED.
 *           slow path: CAS guessing the word is 0; otherwise park at once:
 *           set WAITERS and FUTEX_WAIT on the word.  No spinning, as in
 *           glibc's default mutex: a waiter that reads the word takes the
 *           line from the holder, whose release then misses in its cache
 *           (docs/design.md, "The real lock: measured costs").  A thread
 *           whose wait has spanned HG_MUTEX_STARVE_NS (1 ms, as Go's
 *           sync.Mutex), timed from its first wake-up or 32nd failed
 *           wait, becomes starving: while the lock is held it
 *           adds STARVE_ONE to the word (so the holder must hand the lock
 *           over), takes a ticket, and waits on .serving until its ticket
 *           is granted.
 *  release  if starving(word) > 0: subtract STARVE_ONE keeping LOCKED, then
 *           serving += 1 and wake the starving waiters: the lowest ticket
 *           now owns the lock without it ever being free.  Otherwise CAS
 *           the word from LOCKED to 0 without reading it first (a read
 *           would fetch the line shared and the CAS fetch it again); when
 *           it was not plain LOCKED, CAS it to 0 and, if WAITERS was set,
 *           wake every parked thread: a woken hg_mutex_wait_free() caller
 *           does not take the lock, so waking one could leave an acquirer
 *           asleep.
 *
 * Barging keeps uncontended and lightly contended throughput at the level
 * of a plain futex mutex; the hand-off bounds how often one waiter can be
 * overtaken (for about STARVE_NS, then FIFO among the starving),
 * so no thread starves under sustained contention.
 *
 * Memory order: every CAS that takes the lock is acquire, pairing with the
 * release CAS / release fetch_add on .serving in hg_mutex_unlock().  A
 * granted waiter reads .serving with acquire for the same reason.
 */
#include <errno.h>
#include <limits.h>
#include <time.h>

#include "base/atomic.h"
#include "base/util.h"
#include "htmgil/lock.h"
#include "fallback/mutex.h"

#define HG_MUTEX_STARVE_NS 1000000 /* a waiter parked this long asks for a hand-off */

#define HG_STARVING(w) ((w) >> 8)

void hg_mutex_init(struct hg_mutex *m)
{
	m->word = 0;
	m->serving = 0;
	m->next = 0;
	m->owner = 0;
}

bool hg_mutex_is_locked(const struct hg_mutex *m)
{
	/* Relaxed: a snapshot for decisions that are re-checked (or transactional). */
	return hg_atomic_load_relaxed32(&m->word) != 0;
}

static inline void hg_mutex_set_owner(struct hg_mutex *m)
{
	/* Only the holder writes .owner, and only while LOCKED; relaxed because
	 * it is read only by the holder itself (unlock's ownership check). */
	hg_atomic_store_relaxed32(&m->owner, hg_thread_id());
}

bool hg_mutex_trylock(struct hg_mutex *m)
{
	uint32_t w = 0;
	/* acquire: pairs with the release in hg_mutex_unlock() */
	if (hg_atomic_cas_acquire32(&m->word, &w, HG_MUTEX_LOCKED)) {
		hg_mutex_set_owner(m);
		return true;
	}
	return false;
}

/* Queue for a direct hand-off; returns once this thread owns the lock. */
static void hg_mutex_lock_starving(struct hg_mutex *m)
{
	uint32_t w = hg_atomic_load_relaxed32(&m->word);
	for (;;) {
		if (w == 0) {
			/* Free: take it, keeping WAITERS since others may be parked. */
			if (hg_atomic_cas_acquire32(&m->word, &w,
			        HG_MUTEX_LOCKED | HG_MUTEX_WAITERS))
				return;
			continue;
		}
		/* Held: register; the holder will see it and hand the lock over. */
		if (hg_atomic_cas_relaxed32(&m->word, &w, w + HG_MUTEX_STARVE_ONE))
			break;
	}
	/* Relaxed: the ticket only orders starving waiters among themselves. */
	uint32_t ticket = hg_atomic_fetch_add_relaxed32(&m->next, 1);
	for (;;) {
		/* acquire: pairs with the release fetch_add in hg_mutex_unlock() */
		uint32_t s = hg_atomic_load_acquire32(&m->serving);
		if ((int32_t)(s - ticket) > 0)
			return;
		hg_futex_wait(&m->serving, s);
	}
}

static uint64_t hg_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hg_mutex_lock_slow(struct hg_mutex *m)
{
	uint32_t w = 0;
	unsigned polls = 0;
	bool timing = false;
	uint64_t since = 0;

	/* No spin before parking: see the header comment. */
	for (;;) {
		if (w == 0) {
			/*
			 * Guess that the word is free and CAS without reading it
			 * first: one exclusive fetch of the line instead of a
			 * shared one and then an exclusive one.  On failure w
			 * holds the word.  Plain LOCKED even after parking: the
			 * release that freed the word woke every parked thread,
			 * and one that parks again sets WAITERS itself.
			 */
			if (hg_atomic_cas_acquire32(&m->word, &w, HG_MUTEX_LOCKED))
				return;
			continue;
		}
		if (!(w & HG_MUTEX_WAITERS)) {
			if (!hg_atomic_cas_relaxed32(&m->word, &w, w | HG_MUTEX_WAITERS))
				continue;
			w |= HG_MUTEX_WAITERS;
		}
		/*
		 * The clock is read after a real sleep and every 32nd wait
		 * that found the word changed, not on every round: under
		 * contention most waits return at once, and a clock read per
		 * round slowed the two-thread counter by a third
		 * (docs/design.md, "The real lock: measured costs").
		 */
		if (hg_futex_wait(&m->word, w) || (++polls & 31) == 0) {
			uint64_t now = hg_now_ns();
			if (!timing) {
				timing = true;
				since = now;
			} else if (now - since >= HG_MUTEX_STARVE_NS) {
				hg_mutex_lock_starving(m);
				return;
			}
		}
		w = 0;
	}
}

void hg_mutex_lock(struct hg_mutex *m)
{
	hg_mutex_lock_inline(m);
}

int hg_mutex_unlock(struct hg_mutex *m)
{
	return hg_mutex_unlock_inline(m);
}

/* The release when waiters may be parked or starving; w was read by the caller. */
int hg_mutex_unlock_slow(struct hg_mutex *m, uint32_t w)
{
	for (;;) {
		if (HG_STARVING(w)) {
			/* Hand over: stays LOCKED; the oldest starving ticket owns it. */
			if (!hg_atomic_cas_relaxed32(&m->word, &w, w - HG_MUTEX_STARVE_ONE))
				continue;
			/* release: pairs with the acquire load of .serving in
			 * hg_mutex_lock_starving(): publishes the section's writes. */
			hg_atomic_fetch_add_release32(&m->serving, 1);
			hg_futex_wake(&m->serving, INT_MAX);
			return 0;
		}
		/* release: pairs with the acquire CAS of the next holder. */
		if (hg_atomic_cas_release32(&m->word, &w, 0)) {
			if (w & HG_MUTEX_WAITERS)
				hg_futex_wake(&m->word, INT_MAX);
			return 0;
		}
	}
}

void hg_mutex_wait_free(struct hg_mutex *m, unsigned spin_iters)
{
	for (unsigned i = 0; i < spin_iters; i++) {
		if (hg_atomic_load_relaxed32(&m->word) == 0)
			return;
		hg_cpu_relax();
	}
	for (;;) {
		uint32_t w = hg_atomic_load_relaxed32(&m->word);
		if (w == 0)
			return;
		if (!(w & HG_MUTEX_WAITERS) &&
		    !hg_atomic_cas_relaxed32(&m->word, &w, w | HG_MUTEX_WAITERS))
			continue;
		hg_futex_wait(&m->word, w | HG_MUTEX_WAITERS);
	}
}
