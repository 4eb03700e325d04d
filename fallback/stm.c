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
 * docs/design.md for why a flag-based design was not chosen).  Every
 * software attempt announces an epoch while it runs, and blocks freed by a
 * committed section are retired to fallback/epoch.c.
 */
#include "fallback/stm.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

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
HG_TLS struct hg_stm_tx *hg_stm_tls;
struct hg_stm_active hg_stm_active;

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

static void hg_ptr_log_push(struct hg_ptr_log *l, void *p)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->p = hg_stm_xrealloc(l->p, l->cap * sizeof(*l->p));
	}
	l->p[l->n++] = p;
}

struct hg_stm_tx *hg_stm_self_slow(void)
{
	struct hg_stm_tx *tx;
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
	tx->pub.wlog = hg_stm_xrealloc(NULL, tx->wcap * sizeof(*tx->pub.wlog));
	tx->pub.wpos = tx->pub.wlog;
	tx->pub.wend = tx->pub.wlog + HG_TX_WRITE_INLINE; /* wcap >= HG_TX_WRITE_INLINE */
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

static void hg_stm_thread_exit(void *p)
{
	struct hg_stm_tx *tx = p;
	hg_epoch_thread_fini(&tx->ep);
	free(tx->rlog);
	free(tx->pub.wlog);
	free(tx->widx);
	free(tx->allocs.p);
	free(tx->frees.p);
	free(tx);
	hg_stm_tls = NULL;
	hg_atomic_fetch_add_relaxed32(&hg_stm_threads, (uint32_t)-1);
}

/* ------------------------------------------------------------- write log */

/* Entries in the write log (inline stores append to it too). */
static inline size_t hg_stm_wn(const struct hg_stm_tx *tx)
{
	return (size_t)(tx->pub.wpos - tx->pub.wlog);
}

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
	for (size_t i = 0; i < hg_stm_wn(tx); i++) {
		size_t h = hg_stm_hash(tx->pub.wlog[i].word, cap);
		while (tx->widx[h])
			h = (h + 1) & (cap - 1);
		tx->widx[h] = (uint32_t)(i + 1);
	}
}

static struct hg_stm_write *hg_stm_wfind(struct hg_stm_tx *tx, uintptr_t word)
{
	/* Short logs: a linear scan beats hashing. */
	if (hg_stm_wn(tx) <= HG_TX_WRITE_INLINE) {
		for (size_t i = 0; i < hg_stm_wn(tx); i++)
			if (tx->pub.wlog[i].word == word)
				return &tx->pub.wlog[i];
		return NULL;
	}
	size_t cap = tx->widx_cap;
	for (size_t h = hg_stm_hash(word, cap);; h = (h + 1) & (cap - 1)) {
		uint32_t k = tx->widx[h];
		if (k == 0)
			return NULL;
		if (tx->pub.wlog[k - 1].word == word)
			return &tx->pub.wlog[k - 1];
	}
}

static struct hg_stm_write *hg_stm_wget(struct hg_stm_tx *tx, uintptr_t word)
{
	if (tx->pub.wfilter & hg_stm_filter_bit(word)) {
		struct hg_stm_write *e = hg_stm_wfind(tx, word);
		if (e)
			return e;
	}
	size_t i = hg_stm_wn(tx);
	if (i == tx->wcap) {
		tx->wcap *= 2;
		tx->pub.wlog = hg_stm_xrealloc(tx->pub.wlog, tx->wcap * sizeof(*tx->pub.wlog));
		tx->pub.wend = tx->pub.wlog + HG_TX_WRITE_INLINE;
	}
	tx->pub.wpos = tx->pub.wlog + i + 1;
	tx->pub.wlog[i] = (struct hg_stm_write){ word, 0, 0 };
	tx->pub.wfilter |= hg_stm_filter_bit(word);
	if (tx->pub.log == HG_TX_LOG_OFF)
		tx->pub.log = HG_TX_LOG_OFF_WROTE; /* reads must now check the filter */
	if (hg_stm_wn(tx) > HG_TX_WRITE_INLINE) {
		if (2 * hg_stm_wn(tx) > tx->widx_cap || hg_stm_wn(tx) == HG_TX_WRITE_INLINE + 1) {
			size_t cap = tx->widx_cap;
			while (2 * hg_stm_wn(tx) > cap)
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
	return &tx->pub.wlog[i];
}

static void hg_stm_logs_clear(struct hg_stm_tx *tx)
{
	tx->pub.rpos = tx->rlog;
	if (hg_stm_wn(tx) > HG_TX_WRITE_INLINE) {
		if (tx->widx_cap > 4 * HG_STM_WIDX_MIN)
			hg_stm_widx_rebuild(tx, HG_STM_WIDX_MIN);
		else
			memset(tx->widx, 0, tx->widx_cap * sizeof(*tx->widx));
	}
	tx->pub.wpos = tx->pub.wlog;
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
	hg_epoch_enter(&tx->ep);
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
	if (hg_stm_wn(tx) && (tx->pub.wfilter & hg_stm_filter_bit(word))) {
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
	for (size_t i = 0; i < hg_stm_wn(tx); i++) {
		const struct hg_stm_write *e = &tx->pub.wlog[i];
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
	hg_epoch_exit(&tx->ep);
	tx->allocs.n = 0;
	hg_epoch_retire(&tx->ep, tx->frees.p, tx->frees.n);
	tx->frees.n = 0;
	hg_stm_logs_clear(tx);
	hg_stm_commit_note(tx);
}

bool hg_stm_commit(struct hg_stm_tx *tx)
{
	if (hg_stm_wn(tx) == 0) {
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
	hg_epoch_exit(&tx->ep);
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
		hg_epoch_retire(&tx->ep, tx->frees.p, tx->frees.n);
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
	hg_stm_seq_exit_inline(l);
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
