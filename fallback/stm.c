/* SPDX-License-Identifier: MIT */
/*
 * fallback/stm.c - the software tier: a word-based STM of the NOrec family.
 *
 * One sequence word per lock (struct hg_lock.stm_seq, see fallback/stm.h)
 * replaces ownership records.  A software transaction:
 *   1. begins by waiting for an even stm_seq and taking it as its snapshot;
 *   2. reads through a redo log (read-after-write), otherwise reads memory
 *      and logs (address, size, value); whenever stm_seq has moved since the
 *      snapshot it revalidates by value: waits for an even stm_seq, re-reads
 *      every logged word, and restarts if any differs (opacity: the body only
 *      ever sees values that were all committed at one snapshot).  An
 *      unlogged attempt (fallback/stm.h) skips the log and restarts in
 *      logging mode instead of revalidating;
 *   3. buffers writes in the redo log, per aligned 8-byte word with a byte
 *      mask, indexed by a small open-addressing hash and a 64-bit filter;
 *   4. commits a writer by CAS stm_seq snapshot -> snapshot + 1 (revalidating
 *      and retrying if another party moved it), writes back, and stores
 *      snapshot + 2.  A read-only transaction commits at its last
 *      validation, without writing anything shared.
 * A restart unwinds the body with siglongjmp to hg_run's restart point (see
 * docs/design.md for why a flag-based design was not chosen).
 */
#include "fallback/stm.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/atomic.h"

/* PAUSEs a waiter on an odd stm_seq spends before it yields (hg_spin_then_yield). */
#define HG_STM_SPIN 256

/* ---------------------------------------------------------------- sizes */

/* Natural-size atomic accesses to data words (acquire loads, release stores). */
static inline uint64_t hg_stm_mem_load(uintptr_t a, unsigned size)
{
	/*
	 * Acquire: orders the following stm_seq load after this one, and pairs
	 * with the release stores of write-back (hg_stm_writeback()) and of the
	 * lock tier (HG_TX_DIRECT_STORE), so a value written by an odd holder
	 * makes the stm_seq load below see that holder's odd value or later.
	 */
	switch (size) {
	case 1: return __atomic_load_n((const uint8_t *)a, __ATOMIC_ACQUIRE);
	case 2: return __atomic_load_n((const uint16_t *)a, __ATOMIC_ACQUIRE);
	case 4: return __atomic_load_n((const uint32_t *)a, __ATOMIC_ACQUIRE);
	default: return __atomic_load_n((const uint64_t *)a, __ATOMIC_ACQUIRE);
	}
}

static inline void hg_stm_mem_store(uintptr_t a, uint64_t v, unsigned size)
{
	/*
	 * Release: orders the CAS that made stm_seq odd before this store
	 * (pairs with the acquire in hg_stm_mem_load()).
	 */
	switch (size) {
	case 1: __atomic_store_n((uint8_t *)a, (uint8_t)v, __ATOMIC_RELEASE); break;
	case 2: __atomic_store_n((uint16_t *)a, (uint16_t)v, __ATOMIC_RELEASE); break;
	case 4: __atomic_store_n((uint32_t *)a, (uint32_t)v, __ATOMIC_RELEASE); break;
	default: __atomic_store_n((uint64_t *)a, v, __ATOMIC_RELEASE); break;
	}
}

static inline uint32_t hg_stm_mask(unsigned off, unsigned size)
{
	return ((1u << size) - 1u) << off;
}

static inline uint64_t hg_stm_filter_bit(uintptr_t word)
{
	return 1ull << ((word >> 3) & 63);
}

static inline size_t hg_stm_hash(uintptr_t word, size_t cap)
{
	return (size_t)(((word >> 3) * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

/* ------------------------------------------------------------ descriptor */

static pthread_key_t hg_stm_key;
/* Live descriptors; relaxed: a statistic for the policy's contention estimate. */
static uint32_t hg_stm_threads;

unsigned hg_stm_thread_count(void)
{
	return hg_atomic_load_relaxed32(&hg_stm_threads);
}
static pthread_once_t hg_stm_key_once = PTHREAD_ONCE_INIT;
static HG_TLS struct hg_stm_tx *hg_stm_tls;

static void hg_stm_thread_exit(void *p);

static void hg_stm_key_init(void)
{
	if (pthread_key_create(&hg_stm_key, hg_stm_thread_exit) != 0)
		hg_warn("cannot create the STM thread key; per-thread logs will leak at thread exit");
}

static void *hg_stm_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q) {
		hg_warn("out of memory growing a software-transaction log (%zu bytes)", n);
		abort();
	}
	return q;
}

/*
 * The array p of *cap elements of size bytes, grown (doubling from 64) to hold
 * at least need; *cap is updated.  Returns p itself when it is large enough.
 */
static void *hg_stm_reserve(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	*cap = c;
	return hg_stm_xrealloc(p, c * size);
}

static void hg_ptr_log_push(struct hg_ptr_log *l, void *p)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->p = hg_stm_xrealloc(l->p, l->cap * sizeof(*l->p));
	}
	l->p[l->n++] = p;
}

struct hg_stm_tx *hg_stm_self(void)
{
	struct hg_stm_tx *tx = hg_stm_tls;
	if (HG_LIKELY(tx != NULL))
		return tx;
	pthread_once(&hg_stm_key_once, hg_stm_key_init);
	/* Cache-line aligned, so two threads' descriptors never share a line. */
	size_t sz = (sizeof(*tx) + HG_CACHELINE - 1) & ~(size_t)(HG_CACHELINE - 1);
	tx = aligned_alloc(HG_CACHELINE, sz);
	if (!tx) {
		hg_warn("out of memory allocating a transaction descriptor");
		abort();
	}
	memset(tx, 0, sz);
	tx->tier = -1;
	tx->rcap = 256;
	tx->rlog = hg_stm_xrealloc(NULL, tx->rcap * sizeof(*tx->rlog));
	tx->pub.rpos = tx->rlog;
	tx->pub.rend = tx->rlog + tx->rcap;
	tx->wcap = 16;
	tx->wlog = hg_stm_xrealloc(NULL, tx->wcap * sizeof(*tx->wlog));
	tx->widx_cap = HG_STM_WIDX_MIN;
	tx->widx = calloc(tx->widx_cap, sizeof(*tx->widx));
	if (!tx->widx) {
		hg_warn("out of memory allocating a transaction descriptor");
		abort();
	}
	tx->rng = 0x9E3779B97F4A7C15ull * (hg_thread_id() + 1u);
	tx->log_pen = HG_STM_RELOG_MIN;
	hg_stm_tls = tx;
	pthread_setspecific(hg_stm_key, tx);
	hg_atomic_fetch_add_relaxed32(&hg_stm_threads, 1);
	return tx;
}

/* ----------------------------------------------------------------- epochs */

/*
 * Epoch slots, one per thread that ever ran a software transaction, kept in
 * a list that only grows (slots are reused after their thread exits).
 *   slot.epoch == 0        the thread runs no software attempt
 *   slot.epoch == e > 0    it runs one that began when the global epoch was e
 * hg_epoch_global only grows; memory retired at r (the global value read
 * just after the retiring commit) is freed once every slot is 0 or > r.
 * Written: slot.epoch by its owner; slot.used by the registry (under
 * hg_epoch_mu); hg_epoch_global by retirers (fetch_add).
 */
struct hg_epoch_slot {
	uint64_t epoch;
	uint32_t used;
	struct hg_epoch_slot *next;
} __attribute__((aligned(HG_CACHELINE))); /* one line each: no false sharing */

struct hg_limbo {
	void *p;
	uint64_t epoch;
};

static uint64_t hg_epoch_global = 1;
static struct hg_epoch_slot *hg_epoch_slots; /* published with release, read with acquire */
static pthread_mutex_t hg_epoch_mu = PTHREAD_MUTEX_INITIALIZER;
/* Retired memory of exited threads, freed by later scans (under hg_epoch_mu). */
static struct hg_limbo *hg_orphans;
static uint64_t hg_orphans_n; /* written under hg_epoch_mu; read unlocked as a hint */
static size_t hg_orphans_cap;

/*
 * Asymmetric fencing: when the kernel offers private expedited membarrier,
 * a software attempt's announcement needs no fence of its own; the rare
 * scanner makes every running thread execute one instead (as
 * userspace-rcu's membarrier flavour does).  Otherwise both sides fence.
 * Written once, before any software attempt runs (pthread_once).
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

static HG_TLS struct hg_epoch_slot *hg_epoch_mine;
static HG_TLS struct hg_limbo *hg_limbo;
static HG_TLS size_t hg_limbo_n, hg_limbo_cap;

#define HG_LIMBO_SCAN 256 /* retirements between scans (each scan costs a membarrier) */

static struct hg_epoch_slot *hg_epoch_slot_get(void)
{
	struct hg_epoch_slot *s = hg_epoch_mine;
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
	hg_epoch_mine = s;
	return s;
}

void hg_epoch_enter(struct hg_stm_tx *tx)
{
	(void)tx;
	struct hg_epoch_slot *s = hg_epoch_slot_get();
	hg_atomic_store_relaxed64(&s->epoch, hg_atomic_load_relaxed64(&hg_epoch_global));
	/*
	 * The announcement must be visible before this attempt reads shared
	 * memory (store -> load); pairs with the fence (or membarrier) in
	 * hg_epoch_scan() after the retirer bumped the epoch.  With membarrier
	 * only the compiler must keep the order; the scanner's membarrier
	 * fences this thread wherever it is.
	 */
	if (hg_epoch_asym)
		hg_fence_compiler();
	else
		hg_fence_store_load();
}

void hg_epoch_exit(struct hg_stm_tx *tx)
{
	(void)tx;
	/* Release: every read of this attempt happens before the slot says idle
	 * (pairs with the acquire loads in hg_epoch_min_active()). */
	hg_atomic_store_release64(&hg_epoch_mine->epoch, 0);
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

static size_t hg_limbo_free_below(struct hg_limbo *v, size_t n, uint64_t min)
{
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].epoch < min)
			free(v[i].p);
		else
			v[kept++] = v[i];
	}
	return kept;
}

static void hg_epoch_scan(void)
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
	hg_limbo_n = hg_limbo_free_below(hg_limbo, hg_limbo_n, min);
	/* Relaxed: a hint only; the list itself is read under hg_epoch_mu. */
	if (hg_atomic_load_relaxed64(&hg_orphans_n) != 0 &&
	    pthread_mutex_trylock(&hg_epoch_mu) == 0) {
		hg_atomic_store_relaxed64(&hg_orphans_n,
		    hg_limbo_free_below(hg_orphans, hg_orphans_n, min));
		pthread_mutex_unlock(&hg_epoch_mu);
	}
}

void hg_epoch_retire(struct hg_stm_tx *tx, void **p, size_t n)
{
	(void)tx;
	if (n == 0)
		return;
	/* Called after the unlinking section committed; r is read after it. */
	uint64_t r = hg_atomic_fetch_add_acq_rel64(&hg_epoch_global, 1);
	hg_limbo = hg_stm_reserve(hg_limbo, &hg_limbo_cap, hg_limbo_n + n, sizeof(*hg_limbo));
	for (size_t i = 0; i < n; i++)
		hg_limbo[hg_limbo_n++] = (struct hg_limbo){ p[i], r };
	if (hg_limbo_n >= HG_LIMBO_SCAN)
		hg_epoch_scan();
}

static void hg_stm_thread_exit(void *p)
{
	struct hg_stm_tx *tx = p;
	if (hg_limbo_n)
		hg_epoch_scan();
	pthread_mutex_lock(&hg_epoch_mu);
	if (hg_limbo_n) {
		hg_orphans = hg_stm_reserve(hg_orphans, &hg_orphans_cap, hg_orphans_n + hg_limbo_n,
		    sizeof(*hg_orphans));
		memcpy(hg_orphans + hg_orphans_n, hg_limbo, hg_limbo_n * sizeof(*hg_limbo));
		hg_atomic_store_relaxed64(&hg_orphans_n, hg_orphans_n + hg_limbo_n);
	}
	if (hg_epoch_mine) {
		hg_atomic_store_relaxed64(&hg_epoch_mine->epoch, 0);
		hg_epoch_mine->used = 0;
	}
	pthread_mutex_unlock(&hg_epoch_mu);
	free(hg_limbo);
	hg_limbo = NULL;
	hg_limbo_n = hg_limbo_cap = 0;
	hg_epoch_mine = NULL;
	free(tx->rlog);
	free(tx->wlog);
	free(tx->widx);
	free(tx->allocs.p);
	free(tx->frees.p);
	free(tx);
	hg_stm_tls = NULL;
	hg_atomic_fetch_add_relaxed32(&hg_stm_threads, (uint32_t)-1);
}

/* ------------------------------------------------------------- write log */

static void hg_stm_widx_rebuild(struct hg_stm_tx *tx, size_t cap)
{
	if (cap != tx->widx_cap) {
		free(tx->widx);
		tx->widx = calloc(cap, sizeof(*tx->widx));
		if (!tx->widx) {
			hg_warn("out of memory growing a write-log index");
			abort();
		}
		tx->widx_cap = cap;
	} else {
		memset(tx->widx, 0, cap * sizeof(*tx->widx));
	}
	for (size_t i = 0; i < tx->wn; i++) {
		size_t h = hg_stm_hash(tx->wlog[i].word, cap);
		while (tx->widx[h])
			h = (h + 1) & (cap - 1);
		tx->widx[h] = (uint32_t)(i + 1);
	}
}

static struct hg_stm_write *hg_stm_wfind(struct hg_stm_tx *tx, uintptr_t word)
{
	/* Short logs: a linear scan beats hashing. */
	if (tx->wn <= 8) {
		for (size_t i = 0; i < tx->wn; i++)
			if (tx->wlog[i].word == word)
				return &tx->wlog[i];
		return NULL;
	}
	size_t cap = tx->widx_cap;
	for (size_t h = hg_stm_hash(word, cap);; h = (h + 1) & (cap - 1)) {
		uint32_t k = tx->widx[h];
		if (k == 0)
			return NULL;
		if (tx->wlog[k - 1].word == word)
			return &tx->wlog[k - 1];
	}
}

static struct hg_stm_write *hg_stm_wget(struct hg_stm_tx *tx, uintptr_t word)
{
	if (tx->pub.wfilter & hg_stm_filter_bit(word)) {
		struct hg_stm_write *e = hg_stm_wfind(tx, word);
		if (e)
			return e;
	}
	if (tx->wn == tx->wcap) {
		tx->wcap *= 2;
		tx->wlog = hg_stm_xrealloc(tx->wlog, tx->wcap * sizeof(*tx->wlog));
	}
	size_t i = tx->wn++;
	tx->wlog[i] = (struct hg_stm_write){ word, 0, 0 };
	tx->pub.wfilter |= hg_stm_filter_bit(word);
	if (tx->pub.log == HG_TX_LOG_OFF)
		tx->pub.log = HG_TX_LOG_OFF_WROTE; /* reads must now check the filter */
	if (tx->wn > 8) {
		if (2 * tx->wn > tx->widx_cap || tx->wn == 9) {
			size_t cap = tx->widx_cap;
			while (2 * tx->wn > cap)
				cap *= 2;
			hg_stm_widx_rebuild(tx, cap); /* also indexes entry i */
		} else {
			size_t cap = tx->widx_cap;
			size_t h = hg_stm_hash(word, cap);
			while (tx->widx[h])
				h = (h + 1) & (cap - 1);
			tx->widx[h] = (uint32_t)(i + 1);
		}
	}
	return &tx->wlog[i];
}

static void hg_stm_logs_clear(struct hg_stm_tx *tx)
{
	tx->pub.rpos = tx->rlog;
	if (tx->wn > 8) {
		if (tx->widx_cap > 4 * HG_STM_WIDX_MIN)
			hg_stm_widx_rebuild(tx, HG_STM_WIDX_MIN);
		else
			memset(tx->widx, 0, tx->widx_cap * sizeof(*tx->widx));
	}
	tx->wn = 0;
	tx->pub.wfilter = 0;
}

/* ------------------------------------------------------------ validation */

static void hg_stm_wait_even(struct hg_stm_tx *tx, const uint32_t *seq, uint32_t *out)
{
	unsigned spins = 0;
	uint64_t t0 = 0;
	for (;;) {
		/* Acquire: pairs with the release store that made stm_seq even
		 * (hg_stm_commit(), hg_stm_seq_exit()), so the data it published
		 * is visible to the re-reads that follow. */
		uint32_t s = hg_atomic_load_acquire32(seq);
		if (!(s & 1u)) {
			*out = s;
			if (t0)
				tx->wait_cycles += hg_cycles() - t0;
			return;
		}
		/* Waiting for another party's write phase: the policy does not
		 * charge this time to the software tier (see engine/run.c). */
		if (!t0)
			t0 = hg_cycles();
		hg_spin_then_yield(&spins, HG_STM_SPIN);
	}
}

/*
 * Revalidates the read log against a fresh even stm_seq.  Returns true with
 * tx->pub.snapshot advanced when every logged value still holds, false when the
 * attempt must restart.
 */
static bool hg_stm_revalidate(struct hg_stm_tx *tx)
{
	const uint32_t *seq = &tx->lock->stm_seq;
	tx->st.validations++;
	for (;;) {
		uint32_t s;
		hg_stm_wait_even(tx, seq, &s);
		const uintptr_t amask = ((uintptr_t)1 << HG_TX_READ_SIZE_SHIFT) - 1;
		for (const struct hg_tx_read *r = tx->rlog; r != tx->pub.rpos; r++) {
			unsigned size = (unsigned)(r->addr >> HG_TX_READ_SIZE_SHIFT);
			if (hg_stm_mem_load(r->addr & amask, size) != r->val)
				return false;
		}
		/* Acquire: the re-reads above are ordered before this check. */
		if (hg_atomic_load_acquire32(seq) == s) {
			tx->pub.snapshot = s;
			return true;
		}
	}
}

static void hg_stm_restart(struct hg_stm_tx *tx, int reason) __attribute__((noreturn));
static void hg_stm_restart(struct hg_stm_tx *tx, int reason)
{
	hg_stm_rollback(tx);
	tx->restart_reason = reason;
	siglongjmp(tx->restart, 1);
}

/*
 * stm_seq moved under the current attempt: a logging attempt revalidates
 * (false: it must restart on a conflict); an unlogged one restarts in
 * logging mode at once.
 */
static void hg_stm_relog_note(struct hg_stm_tx *tx)
{
	tx->st.relogs++;
	tx->log_skip = tx->log_pen;
	tx->log_pen = tx->log_pen < HG_STM_RELOG_MAX / 2 ? 2 * tx->log_pen : HG_STM_RELOG_MAX;
}

static bool hg_stm_moved(struct hg_stm_tx *tx)
{
	if (HG_LIKELY(tx->pub.log == HG_TX_LOG_ON))
		return hg_stm_revalidate(tx);
	hg_stm_relog_note(tx);
	hg_stm_restart(tx, HG_STM_RESTART_RELOG);
}

/* ----------------------------------------------------------- transactions */

void hg_stm_begin(struct hg_stm_tx *tx, struct hg_lock *l)
{
	tx->lock = l;
	tx->pub.seq = &l->stm_seq;
	tx->pub.soft = 1;
	tx->pub.wrote = 0;
	tx->tier = HG_TIER_STM;
	/* After a relog the retry is logged (log_skip was just set). */
	if (tx->log_skip) {
		tx->log_skip--;
		tx->pub.log = HG_TX_LOG_ON;
	} else {
		tx->pub.log = HG_TX_LOG_OFF;
		tx->st.unlogged++;
	}
	tx->restart_reason = HG_STM_RESTART_NONE;
	tx->st.starts++;
	hg_epoch_enter(tx);
	hg_stm_wait_even(tx, &l->stm_seq, &tx->pub.snapshot);
}

static uint64_t hg_stm_read_mem(struct hg_stm_tx *tx, uintptr_t a, unsigned size)
{
	const uint32_t *seq = &tx->lock->stm_seq;
	uint64_t v;
	for (;;) {
		v = hg_stm_mem_load(a, size);
		/* Ordered after the data load by its acquire (see hg_stm_mem_load). */
		if (HG_LIKELY(hg_atomic_load_relaxed32(seq) == tx->pub.snapshot))
			break;
		if (!hg_stm_moved(tx))
			hg_stm_restart(tx, HG_STM_RESTART_CONFLICT);
	}
	if (tx->pub.log != HG_TX_LOG_ON)
		return v;
	if (HG_UNLIKELY(tx->pub.rpos == tx->pub.rend)) {
		size_t n = (size_t)(tx->pub.rpos - tx->rlog);
		tx->rcap *= 2;
		tx->rlog = hg_stm_xrealloc(tx->rlog, tx->rcap * sizeof(*tx->rlog));
		tx->pub.rpos = tx->rlog + n;
		tx->pub.rend = tx->rlog + tx->rcap;
	}
	*tx->pub.rpos++ = (struct hg_tx_read){ a | ((uintptr_t)size << HG_TX_READ_SIZE_SHIFT), v };
	return v;
}

uint64_t hg_stm_load(struct hg_tx *pub, const void *addr, unsigned size)
{
	struct hg_stm_tx *tx = (struct hg_stm_tx *)pub;
	uintptr_t a = (uintptr_t)addr;
	if (!pub->soft)
		return hg_stm_mem_load(a, size);
	uintptr_t word = a & ~(uintptr_t)7;
	unsigned off = (unsigned)(a & 7);
	struct hg_stm_write *e = NULL;
	if (tx->wn && (tx->pub.wfilter & hg_stm_filter_bit(word))) {
		e = hg_stm_wfind(tx, word);
		if (e) {
			uint32_t need = hg_stm_mask(off, size);
			uint64_t v = e->val >> (8 * off);
			if (size < 8)
				v &= (1ull << (8 * size)) - 1;
			if ((e->mask & need) == need)
				return v;
		}
	}
	uint64_t v = hg_stm_read_mem(tx, a, size);
	if (e) {
		/* Some bytes were written by this attempt: they win. */
		for (unsigned b = 0; b < size; b++) {
			if (e->mask & (1u << (off + b))) {
				uint64_t byte = (e->val >> (8 * (off + b))) & 0xff;
				v = (v & ~(0xffull << (8 * b))) | (byte << (8 * b));
			}
		}
	}
	return v;
}

void hg_stm_store(struct hg_tx *pub, void *addr, uint64_t v, unsigned size)
{
	struct hg_stm_tx *tx = (struct hg_stm_tx *)pub;
	uintptr_t a = (uintptr_t)addr;
	if (!pub->soft) {
		pub->wrote = 1;
		hg_stm_mem_store(a, v, size);
		return;
	}
	uintptr_t word = a & ~(uintptr_t)7;
	unsigned off = (unsigned)(a & 7);
	struct hg_stm_write *e = hg_stm_wget(tx, word);
	if (size == 8) {
		e->val = v;
	} else {
		uint64_t m = ((1ull << (8 * size)) - 1) << (8 * off);
		e->val = (e->val & ~m) | ((v << (8 * off)) & m);
	}
	e->mask |= hg_stm_mask(off, size);
}

/* Splits [p, p+n) into naturally aligned pieces of 1, 2, 4 or 8 bytes. */
static unsigned hg_stm_piece(uintptr_t p, size_t n)
{
	unsigned s = 8;
	while (s > 1 && ((p & (s - 1)) || s > n))
		s >>= 1;
	return s;
}

void hg_stm_load_bytes(struct hg_tx *tx, void *dst, const void *src, size_t n)
{
	uintptr_t s = (uintptr_t)src;
	unsigned char *d = dst;
	while (n) {
		unsigned k = hg_stm_piece(s, n);
		uint64_t v = hg_stm_load(tx, (const void *)s, k);
		memcpy(d, &v, k); /* little endian: the low k bytes */
		s += k, d += k, n -= k;
	}
}

void hg_stm_store_bytes(struct hg_tx *tx, void *dst, const void *src, size_t n)
{
	uintptr_t d = (uintptr_t)dst;
	const unsigned char *s = src;
	while (n) {
		unsigned k = hg_stm_piece(d, n);
		uint64_t v = 0;
		memcpy(&v, s, k);
		hg_stm_store(tx, (void *)d, v, k);
		s += k, d += k, n -= k;
	}
}

static void hg_stm_writeback(struct hg_stm_tx *tx)
{
	for (size_t i = 0; i < tx->wn; i++) {
		const struct hg_stm_write *e = &tx->wlog[i];
		if (e->mask == 0xff) {
			hg_stm_mem_store(e->word, e->val, 8);
			continue;
		}
		for (unsigned o = 0; o < 8;) {
			unsigned k;
			if (!(o & 3) && ((e->mask >> o) & 0xf) == 0xf)
				k = 4;
			else if (!(o & 1) && ((e->mask >> o) & 0x3) == 0x3)
				k = 2;
			else if (e->mask & (1u << o))
				k = 1;
			else {
				o++;
				continue;
			}
			uint64_t v = (e->val >> (8 * o)) & ((k == 8) ? ~0ull : ((1ull << (8 * k)) - 1));
			hg_stm_mem_store(e->word + o, v, k);
			o += k;
		}
	}
}

/* An unlogged attempt committed: its thread logs less eagerly. */
static inline void hg_stm_commit_note(struct hg_stm_tx *tx)
{
	if (tx->pub.log != HG_TX_LOG_ON && tx->log_pen > HG_STM_RELOG_MIN)
		tx->log_pen >>= 1;
	tx->st.commits++;
}

/* After a commit point: leave the epoch, keep the allocations, retire the
 * frees, reset the logs. */
static void hg_stm_commit_finish(struct hg_stm_tx *tx)
{
	hg_epoch_exit(tx);
	tx->allocs.n = 0;
	hg_epoch_retire(tx, tx->frees.p, tx->frees.n);
	tx->frees.n = 0;
	hg_stm_logs_clear(tx);
	hg_stm_commit_note(tx);
}

bool hg_stm_commit(struct hg_stm_tx *tx)
{
	if (tx->wn == 0) {
		/* Read-only: consistent at its last validation point. */
		hg_stm_commit_finish(tx);
		return true;
	}
	uint32_t *seq = &tx->lock->stm_seq;
	for (;;) {
		uint32_t s = tx->pub.snapshot;
		/*
		 * Acq_rel: acquire pairs with the release that made s even (the
		 * previous writer's closing store); release publishes nothing yet
		 * but keeps this attempt's reads before the claim.  Write-back
		 * stores are ordered after it by their own release.
		 */
		if (hg_atomic_cas_acq_rel32(seq, &s, tx->pub.snapshot + 1))
			break;
		if (tx->pub.log != HG_TX_LOG_ON) {
			/* Cannot revalidate: restart in logging mode (see hg_stm_moved()). */
			hg_stm_relog_note(tx);
			hg_stm_rollback(tx);
			tx->restart_reason = HG_STM_RESTART_RELOG;
			return false;
		}
		if (!hg_stm_revalidate(tx)) {
			hg_stm_rollback(tx);
			tx->restart_reason = HG_STM_RESTART_CONFLICT;
			return false;
		}
	}
	hg_stm_writeback(tx);
	/* Release: publishes the write-back; pairs with the acquire loads in
	 * hg_stm_wait_even() and hg_stm_revalidate(). */
	hg_atomic_store_release32(seq, tx->pub.snapshot + 2);
	hg_stm_commit_finish(tx);
	return true;
}

void hg_stm_rollback(struct hg_stm_tx *tx)
{
	hg_epoch_exit(tx);
	for (size_t i = 0; i < tx->allocs.n; i++)
		free(tx->allocs.p[i]);
	tx->allocs.n = 0;
	tx->frees.n = 0;
	hg_stm_logs_clear(tx);
	tx->st.aborts++;
}

void hg_stm_direct_done(struct hg_stm_tx *tx, bool committed)
{
	if (committed) {
		tx->allocs.n = 0;
		hg_epoch_retire(tx, tx->frees.p, tx->frees.n);
	} else {
		for (size_t i = 0; i < tx->allocs.n; i++)
			free(tx->allocs.p[i]);
		tx->allocs.n = 0;
	}
	tx->frees.n = 0;
}

void hg_stm_backoff(struct hg_stm_tx *tx, unsigned n)
{
	/* xorshift64 */
	uint64_t x = tx->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	tx->rng = x;
	unsigned cap = 16u << (n < 10 ? n : 10);
	unsigned spins = (unsigned)(x % cap);
	for (unsigned i = 0; i < spins; i++)
		hg_cpu_relax();
	if (n > 6)
		sched_yield();
}

/* ------------------------------------------------------- lock-tier side */

void hg_stm_seq_enter(struct hg_lock *l)
{
	unsigned spins = 0;
	for (;;) {
		uint32_t s = hg_atomic_load_relaxed32(&l->stm_seq);
		/*
		 * Acq_rel: acquire pairs with the closing release store of the
		 * last software writer, so its write-back is visible to this
		 * section; the odd value is then seen by software readers before
		 * any in-place store of this section (release on those stores).
		 */
		if (!(s & 1u) && hg_atomic_cas_acq_rel32(&l->stm_seq, &s, s + 1))
			return;
		hg_spin_then_yield(&spins, HG_STM_SPIN);
	}
}

void hg_stm_seq_exit(struct hg_lock *l)
{
	/* Only the odd holder writes stm_seq now, so relaxed load is enough.
	 * Release: publishes this section's in-place stores; pairs with the
	 * acquire loads in hg_stm_wait_even(). */
	hg_atomic_store_release32(&l->stm_seq, hg_atomic_load_relaxed32(&l->stm_seq) + 1);
}

/* -------------------------------------------------------------- allocation */

void *hg_tx_malloc(struct hg_tx *pub, size_t n)
{
	struct hg_stm_tx *tx = (struct hg_stm_tx *)pub;
	void *p = malloc(n ? n : 1);
	if (!p)
		return NULL;
	hg_ptr_log_push(&tx->allocs, p);
	return p;
}

void hg_tx_free(struct hg_tx *pub, void *p)
{
	struct hg_stm_tx *tx = (struct hg_stm_tx *)pub;
	if (!p)
		return;
	hg_ptr_log_push(&tx->frees, p);
}

void hg_stm_thread_stats(struct hg_stm_thread_stats *out)
{
	struct hg_stm_tx *tx = hg_stm_self();
	*out = tx->st;
}
