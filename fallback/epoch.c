/* SPDX-License-Identifier: MIT */
/*
 * fallback/epoch.c - epoch-based reclamation; the protocol and its
 * invariants are in fallback/epoch.h.
 *
 * Slots, one per thread that ever announced, sit in a list that only grows;
 * an exited thread's slot is reused by the next thread that needs one.
 */
#include "fallback/epoch.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/atomic.h"

struct hg_epoch_slot {
	uint64_t epoch;
	uint32_t used; /* under hg_epoch_mu */
	struct hg_epoch_slot *next;
} __attribute__((aligned(HG_CACHELINE))); /* one line each: no false sharing */

struct hg_epoch_limbo {
	void *p;
	uint64_t epoch; /* r: G before the retirement's fetch_add */
};

static uint64_t hg_epoch_global = 1;
static struct hg_epoch_slot *hg_epoch_slots; /* published with release, read with acquire */
static pthread_mutex_t hg_epoch_mu = PTHREAD_MUTEX_INITIALIZER;
/* Retired memory of exited threads, freed by later scans (under hg_epoch_mu). */
static struct hg_epoch_limbo *hg_orphans;
static uint64_t hg_orphans_n; /* written under hg_epoch_mu; read unlocked as a hint */
static size_t hg_orphans_cap;

/* Test hook (fallback/epoch.h): written only while no thread scans. */
static void (*hg_epoch_free_hook)(void *);

/*
 * Asymmetric fencing: when the kernel offers private expedited membarrier,
 * an announcement needs no fence of its own; the rare scanner makes every
 * running thread execute one instead.  Otherwise both sides fence.
 * Written once, before any announcement (pthread_once).
 */
static bool hg_epoch_asym;
static pthread_once_t hg_epoch_asym_once = PTHREAD_ONCE_INIT;

static void hg_epoch_asym_init(void)
{
	long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
		hg_epoch_asym = true;
}

/*
 * Registered at load time: while the process has one thread the kernel
 * registers without waiting for an RCU grace period, which otherwise
 * stalls the registering thread for milliseconds.
 */
__attribute__((constructor)) static void hg_epoch_asym_load(void)
{
	pthread_once(&hg_epoch_asym_once, hg_epoch_asym_init);
}

static struct hg_epoch_slot *hg_epoch_slot_get(struct hg_epoch_thread *t)
{
	struct hg_epoch_slot *s = t->slot;
	if (HG_LIKELY(s != NULL))
		return s;
	pthread_once(&hg_epoch_asym_once, hg_epoch_asym_init);
	pthread_mutex_lock(&hg_epoch_mu);
	for (s = hg_epoch_slots; s; s = s->next)
		if (!s->used)
			break;
	if (!s) {
		s = aligned_alloc(HG_CACHELINE, sizeof(*s));
		if (!s) {
			hg_warn("out of memory allocating an epoch slot");
			abort();
		}
		memset(s, 0, sizeof(*s));
		s->next = hg_epoch_slots;
		/* Release: pairs with the acquire in hg_epoch_min_active(). */
		hg_atomic_store_release_ptr((void **)&hg_epoch_slots, s);
	}
	s->used = 1;
	pthread_mutex_unlock(&hg_epoch_mu);
	t->slot = s;
	return s;
}

void hg_epoch_enter(struct hg_epoch_thread *t)
{
	struct hg_epoch_slot *s = hg_epoch_slot_get(t);
	/* Relaxed load of G: the fence below acquires the retirers' release. */
	hg_atomic_store_relaxed64(&s->epoch, hg_atomic_load_relaxed64(&hg_epoch_global));
	/*
	 * The announcement must be visible before this attempt reads shared
	 * memory (store -> load); pairs with the fence (or membarrier) in
	 * hg_epoch_scan().  With membarrier only the compiler must keep the
	 * order; the scanner's membarrier fences this thread wherever it is.
	 */
	if (hg_epoch_asym)
		hg_fence_compiler();
	else
		hg_fence_store_load();
}

void hg_epoch_exit(struct hg_epoch_thread *t)
{
	/* Release: every read of this attempt happens before the slot says idle
	 * (pairs with the acquire loads in hg_epoch_min_active()). */
	hg_atomic_store_release64(&t->slot->epoch, 0);
}

static uint64_t hg_epoch_min_active(void)
{
	uint64_t min = UINT64_MAX;
	struct hg_epoch_slot *s = hg_atomic_load_acquire_ptr((void *const *)&hg_epoch_slots);
	for (; s; s = s->next) {
		/* Acquire: pairs with the release in hg_epoch_exit(). */
		uint64_t e = hg_atomic_load_acquire64(&s->epoch);
		if (e != 0 && e < min)
			min = e;
	}
	return min;
}

static size_t hg_epoch_free_below(struct hg_epoch_limbo *v, size_t n, uint64_t min,
    void (*release)(void *))
{
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].epoch < min)
			release(v[i].p);
		else
			v[kept++] = v[i];
	}
	return kept;
}

void hg_epoch_scan(struct hg_epoch_thread *t)
{
	/* Pairs with the fence in hg_epoch_enter(): a reader whose announcement
	 * this scan misses starts after the retiring commit and cannot reach the
	 * retired memory.  membarrier fences every running thread of the
	 * process, which stands in for the readers' own fences. */
	if (!hg_epoch_asym)
		hg_fence_store_load();
	else if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
		return; /* cannot prove anything safe this time; keep it all */
	uint64_t min = hg_epoch_min_active();
	void (*release)(void *) = hg_epoch_free_hook ? hg_epoch_free_hook : free;
	t->limbo_n = hg_epoch_free_below(t->limbo, t->limbo_n, min, release);
	/* Relaxed: a hint only; the list itself is read under hg_epoch_mu. */
	if (hg_atomic_load_relaxed64(&hg_orphans_n) != 0 &&
	    pthread_mutex_trylock(&hg_epoch_mu) == 0) {
		hg_atomic_store_relaxed64(&hg_orphans_n,
		    hg_epoch_free_below(hg_orphans, hg_orphans_n, min, release));
		pthread_mutex_unlock(&hg_epoch_mu);
	}
}

void hg_epoch_retire(struct hg_epoch_thread *t, void **p, size_t n)
{
	if (n == 0)
		return;
	/*
	 * Called after the unlinking section committed.  Acq_rel: the release
	 * orders that commit before r (an attempt that reads r + 1 or later
	 * acquires it through its fence in hg_epoch_enter()).
	 */
	uint64_t r = hg_atomic_fetch_add_acq_rel64(&hg_epoch_global, 1);
	t->limbo = hg_reserve(t->limbo, &t->limbo_cap, t->limbo_n + n, sizeof(*t->limbo),
	    "a list of retired blocks");
	for (size_t i = 0; i < n; i++)
		t->limbo[t->limbo_n++] = (struct hg_epoch_limbo){ p[i], r };
	if (t->limbo_n >= HG_EPOCH_SCAN_EVERY)
		hg_epoch_scan(t);
}

void hg_epoch_thread_fini(struct hg_epoch_thread *t)
{
	if (t->limbo_n)
		hg_epoch_scan(t);
	pthread_mutex_lock(&hg_epoch_mu);
	if (t->limbo_n) {
		hg_orphans = hg_reserve(hg_orphans, &hg_orphans_cap, hg_orphans_n + t->limbo_n,
		    sizeof(*hg_orphans), "a list of retired blocks");
		memcpy(hg_orphans + hg_orphans_n, t->limbo, t->limbo_n * sizeof(*t->limbo));
		hg_atomic_store_relaxed64(&hg_orphans_n, hg_orphans_n + t->limbo_n);
	}
	if (t->slot) {
		/* Relaxed: the slot is idle already (hg_epoch_exit()) or never
		 * announced; the mutex orders its reuse. */
		hg_atomic_store_relaxed64(&t->slot->epoch, 0);
		t->slot->used = 0;
	}
	pthread_mutex_unlock(&hg_epoch_mu);
	free(t->limbo);
	memset(t, 0, sizeof(*t));
}

void (*hg_epoch_set_free_hook(void (*fn)(void *)))(void *)
{
	void (*old)(void *) = hg_epoch_free_hook;
	hg_epoch_free_hook = fn;
	return old;
}
