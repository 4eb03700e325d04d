/* SPDX-License-Identifier: MIT */
/*
 * htmgil/stm.h - sections that run on any tier: hardware (RTM or emulated),
 * software (the STM) or the real lock.
 *
 * A section is a body function plus an argument, run through an elided lock
 * with hg_run().  The body reaches shared memory only through the typed
 * barriers below, passing the handle it was given.  On the HTM tier and the
 * lock tier a barrier is a plain access behind one predictable test of
 * tx->soft; on the STM tier it is the software transaction (a NOrec-style
 * redo log with value-based validation, see docs/design.md, "The STM tier and
 * the coexistence protocol").
 *
 * Rules for bodies:
 *   - every access to memory that another section may touch concurrently goes
 *     through a barrier; barriers need naturally aligned addresses;
 *   - a body may run more than once (software aborts restart it from the
 *     top), so it must not have effects outside the barriers: no I/O, no
 *     blocking calls, no locks, unless it first calls hg_tx_irrevocable();
 *   - a body must not longjmp out of the section or throw through it;
 *   - memory shared with other sections is allocated with hg_tx_malloc() and
 *     freed with hg_tx_free(), never with free() directly;
 *   - the same lock may also be taken with hg_lock_acquire() by
 *     uninstrumented code: such sections run on the HTM and lock tiers and
 *     take part in the sequence protocol (docs/design.md).
 * A nested hg_run() on the same lock flattens into the enclosing section; on
 * another lock it makes the enclosing section irrevocable first.
 */
#ifndef HTMGIL_STM_H
#define HTMGIL_STM_H

#include <stddef.h>
#include <stdint.h>

#include <htmgil/api.h>
#include <htmgil/htm.h>
#include <htmgil/elide.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One logged software read: address (size in bits 56..59) and value seen. */
struct hg_tx_read {
	uintptr_t addr;
	uint64_t val;
};
#define HG_TX_READ_SIZE_SHIFT 56

/*
 * One logged write, per naturally aligned 8-byte word: the pending bytes in
 * memory order (little endian) and a mask of the bytes written.
 */
struct hg_tx_write {
	uintptr_t word;
	uint64_t val;
	uint32_t mask;
};
/* Write-log entries an inline store may append (the log is scanned, not indexed, up to here). */
#define HG_TX_WRITE_INLINE 8

/*
 * The handle a body receives.  The leading fields are public so the
 * barriers can be inlined; the STM keeps its other state behind them.
 *   soft     0: direct tier (HTM or lock), barriers are plain accesses
 *            1: software transaction, barriers run the STM
 *   wrote    a direct-tier store happened (a hardware writer then bumps the
 *            lock's stm_seq before it commits)
 *   seq      the lock's stm_seq; snapshot: the even value this software
 *            attempt is consistent with
 *   log      HG_TX_LOG_ON: reads are logged (the attempt can revalidate
 *            when stm_seq moves); HG_TX_LOG_OFF: an unlogged attempt that
 *            has not written (a read needs only the snapshot check);
 *            HG_TX_LOG_OFF_WROTE: unlogged, with writes (reads check the
 *            write filter first).  An unlogged attempt is valid only while
 *            stm_seq == snapshot and restarts in logging mode when it moves
 *   wfilter  one bit per (address / 8) mod 64 written by this attempt: a
 *            read whose bit is clear cannot hit the write log
 *   rpos, rend  the read log's free space
 *   wlog, wpos, wend  the write log: wlog .. wpos used; an inline store
 *            may append while wpos < wend (wend = wlog +
 *            HG_TX_WRITE_INLINE) and its word's filter bit is clear
 * All fields are written only by the owning thread.
 */
struct hg_tx {
	uint32_t soft;
	uint32_t wrote;
	const uint32_t *seq;
	uint32_t snapshot;
	uint32_t log;
	uint64_t wfilter;
	struct hg_tx_read *rpos, *rend;
	struct hg_tx_write *wlog, *wpos, *wend;
};

#define HG_TX_LOG_OFF 0u
#define HG_TX_LOG_ON 1u
#define HG_TX_LOG_OFF_WROTE 2u

typedef void (*hg_body_fn)(struct hg_tx *tx, void *arg);

/* Runs body(tx, arg) as one atomic section of lock l, on whatever tier the policy picks. */
HG_API void hg_run(struct hg_lock *l, uint64_t site, hg_body_fn body, void *arg);

/*
 * Tier selection for hg_run, process-wide (benchmarks and tests):
 * HG_TIER_ADAPTIVE (the default, the policy picks), or one tier forced.
 * HG_TIER_HTM runs on the lock's HTM mode (RTM or emulated; the lock tier
 * when the mode is off).  HTMGIL_RUN_TIER (adaptive|htm|stm|lock) sets it
 * at start-up.  Anything else is refused with one line on stderr.
 */
HG_API void hg_run_force(enum hg_tier t);
HG_API enum hg_tier hg_run_forced(void);
/*
 * The same for the calling thread only (overrides the process setting);
 * -1 returns the thread to the process setting.  Tests use it to run
 * different tiers on one lock at the same time.
 */
HG_API void hg_run_force_thread(int t);

/* The tier the calling thread's current section runs on (enum hg_tier), or -1 outside one. */
HG_API int hg_tx_tier(const struct hg_tx *tx);

/*
 * Makes the rest of the section irrevocable: from here on it runs holding
 * the real lock.  A software or hardware transaction is rolled back and the
 * body restarts on the lock tier; on the lock tier (or emulated HTM, which
 * already holds the real lock) it returns at once.
 */
HG_API void hg_tx_irrevocable(struct hg_tx *tx);

/*
 * Allocation inside a section.  hg_tx_malloc memory is the caller's until the
 * section publishes a pointer to it; if the section aborts, it is freed.
 * hg_tx_free takes effect only if the section commits, and the memory is
 * returned to the allocator only once no software transaction that may still
 * read it is running (epoch-based reclamation).
 */
HG_API void *hg_tx_malloc(struct hg_tx *tx, size_t n);
HG_API void hg_tx_free(struct hg_tx *tx, void *p);

/* Out-of-line software barriers (called by the inline ones when tx->soft). */
HG_API uint64_t hg_stm_load(struct hg_tx *tx, const void *addr, unsigned size);
HG_API void hg_stm_store(struct hg_tx *tx, void *addr, uint64_t v, unsigned size);
HG_API void hg_stm_load_bytes(struct hg_tx *tx, void *dst, const void *src, size_t n);
HG_API void hg_stm_store_bytes(struct hg_tx *tx, void *dst, const void *src, size_t n);

/*
 * Direct-tier accesses are atomic (relaxed loads, release stores) because
 * software transactions may read the same words concurrently: a release
 * store orders the lock tier's stm_seq bump before the data it writes (pairs
 * with the acquire loads in hg_stm_load()).  On x86 both are plain MOVs.
 */
#define HG_TX_DIRECT_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define HG_TX_DIRECT_STORE(tx, p, v)                                           \
	do {                                                                   \
		(tx)->wrote = 1;                                               \
		__atomic_store_n((p), (v), __ATOMIC_RELEASE);                  \
	} while (0)

/*
 * Software read fast path: no pending write to the word and stm_seq still
 * equal to the snapshot after the value was read (the acquire load orders
 * the stm_seq load after it; see fallback/stm.c); then, in a logging
 * attempt, room in the log.  An unlogged attempt that has not written skips
 * the write filter.  Anything else goes to hg_stm_load(), which
 * revalidates or restarts.
 */
static inline uint64_t hg_tx_mem_load_acquire(const void *p, unsigned size)
{
	switch (size) {
	case 1: return __atomic_load_n((const uint8_t *)p, __ATOMIC_ACQUIRE);
	case 2: return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
	case 4: return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
	default: return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
	}
}

static inline uint64_t hg_tx_soft_load(struct hg_tx *tx, const void *p, unsigned size)
{
	uintptr_t a = (uintptr_t)p;
	if (__builtin_expect(tx->log == HG_TX_LOG_OFF, 1)) {
		uint64_t v = hg_tx_mem_load_acquire(p, size);
		if (__builtin_expect(__atomic_load_n(tx->seq, __ATOMIC_RELAXED) == tx->snapshot, 1))
			return v;
	} else if (!(tx->wfilter & (1ull << ((a >> 3) & 63)))) {
		uint64_t v = hg_tx_mem_load_acquire(p, size);
		if (__builtin_expect(__atomic_load_n(tx->seq, __ATOMIC_RELAXED) == tx->snapshot, 1)) {
			if (tx->log != HG_TX_LOG_ON)
				return v;
			struct hg_tx_read *r = tx->rpos;
			if (__builtin_expect(r != tx->rend, 1)) {
				tx->rpos = r + 1;
				r->addr = a | ((uintptr_t)size << HG_TX_READ_SIZE_SHIFT);
				r->val = v;
				return v;
			}
		}
	}
	return hg_stm_load(tx, p, size);
}

static inline uint8_t hg_load8(struct hg_tx *tx, const uint8_t *p)
{
	if (__builtin_expect(!tx->soft, 1))
		return HG_TX_DIRECT_LOAD(p);
	return (uint8_t)hg_tx_soft_load(tx, p, 1);
}
static inline uint16_t hg_load16(struct hg_tx *tx, const uint16_t *p)
{
	if (__builtin_expect(!tx->soft, 1))
		return HG_TX_DIRECT_LOAD(p);
	return (uint16_t)hg_tx_soft_load(tx, p, 2);
}
static inline uint32_t hg_load32(struct hg_tx *tx, const uint32_t *p)
{
	if (__builtin_expect(!tx->soft, 1))
		return HG_TX_DIRECT_LOAD(p);
	return (uint32_t)hg_tx_soft_load(tx, p, 4);
}
static inline uint64_t hg_load64(struct hg_tx *tx, const uint64_t *p)
{
	if (__builtin_expect(!tx->soft, 1))
		return HG_TX_DIRECT_LOAD(p);
	return hg_tx_soft_load(tx, p, 8);
}
static inline void *hg_loadptr(struct hg_tx *tx, void *const *p)
{
	if (__builtin_expect(!tx->soft, 1))
		return HG_TX_DIRECT_LOAD(p);
	return (void *)(uintptr_t)hg_tx_soft_load(tx, p, sizeof(void *));
}

static inline void hg_store8(struct hg_tx *tx, uint8_t *p, uint8_t v)
{
	if (__builtin_expect(!tx->soft, 1))
		HG_TX_DIRECT_STORE(tx, p, v);
	else
		hg_stm_store(tx, p, v, 1);
}
static inline void hg_store16(struct hg_tx *tx, uint16_t *p, uint16_t v)
{
	if (__builtin_expect(!tx->soft, 1))
		HG_TX_DIRECT_STORE(tx, p, v);
	else
		hg_stm_store(tx, p, v, 2);
}
static inline void hg_store32(struct hg_tx *tx, uint32_t *p, uint32_t v)
{
	if (__builtin_expect(!tx->soft, 1))
		HG_TX_DIRECT_STORE(tx, p, v);
	else
		hg_stm_store(tx, p, v, 4);
}
/*
 * Software store fast path for a whole word: a word not written yet in this
 * attempt (filter bit clear) is appended to a short write log; anything else
 * (a rewrite, a longer log) goes to hg_stm_store(), which merges or indexes.
 */
static inline void hg_tx_soft_store64(struct hg_tx *tx, uint64_t *p, uint64_t v)
{
	uintptr_t a = (uintptr_t)p;
	uint64_t bit = 1ull << ((a >> 3) & 63);
	struct hg_tx_write *w = tx->wpos;
	if (__builtin_expect(!(tx->wfilter & bit) && w < tx->wend, 1)) {
		tx->wpos = w + 1;
		w->word = a;
		w->val = v;
		w->mask = 0xff;
		tx->wfilter |= bit;
		if (tx->log == HG_TX_LOG_OFF)
			tx->log = HG_TX_LOG_OFF_WROTE; /* reads must now check the filter */
		return;
	}
	hg_stm_store(tx, p, v, 8);
}

static inline void hg_store64(struct hg_tx *tx, uint64_t *p, uint64_t v)
{
	if (__builtin_expect(!tx->soft, 1))
		HG_TX_DIRECT_STORE(tx, p, v);
	else
		hg_tx_soft_store64(tx, p, v);
}
static inline void hg_storeptr(struct hg_tx *tx, void **p, void *v)
{
	if (__builtin_expect(!tx->soft, 1))
		HG_TX_DIRECT_STORE(tx, p, v);
	else
		if (sizeof(void *) == 8)
			hg_tx_soft_store64(tx, (uint64_t *)(void *)p, (uint64_t)(uintptr_t)v);
		else
			hg_stm_store(tx, p, (uint64_t)(uintptr_t)v, sizeof(void *));
}

/* Small copies (any alignment, any size; meant for a few words). */
static inline void hg_load_bytes(struct hg_tx *tx, void *dst, const void *src, size_t n)
{
	hg_stm_load_bytes(tx, dst, src, n);
}
static inline void hg_store_bytes(struct hg_tx *tx, void *dst, const void *src, size_t n)
{
	hg_stm_store_bytes(tx, dst, src, n);
}

/* Software-tier counters of the calling thread since it started (for tests). */
struct hg_stm_thread_stats {
	uint64_t starts;      /* software attempts begun */
	uint64_t commits;     /* software commits (read-only ones included) */
	uint64_t aborts;      /* software attempts rolled back */
	uint64_t validations; /* read-log revalidations */
	uint64_t escalations; /* sections sent to the lock tier after repeated aborts */
	uint64_t unlogged;    /* unlogged attempts begun (a subset of starts) */
	uint64_t relogs;      /* unlogged attempts restarted in logging mode (a subset of aborts) */
};
HG_API void hg_stm_thread_stats(struct hg_stm_thread_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* HTMGIL_STM_H */
