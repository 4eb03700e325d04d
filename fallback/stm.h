/* SPDX-License-Identifier: MIT */
/*
 * fallback/stm.h - the software tier's private state (NOrec family).
 *
 * The sequence word (struct hg_lock.stm_seq, 32 bits, on the lock's
 * subscription line):
 *
 *   stm_seq even   no software commit is writing back and no hg_run section
 *                  holds the real lock; memory is a committed state
 *   stm_seq odd    exactly one party writes memory in place: an STM
 *                  committer during write-back, or an hg_run section on the
 *                  lock tier (emulated HTM included) for its whole section
 *
 * Invariants:
 *   stm_seq changes only by CAS even -> odd (the writer's entry) and by a
 *   store odd -> odd + 1 (its exit), or, inside a hardware transaction that
 *   wrote while hg_stm_active.n was not 0, by +2 from an even value (so
 *   software readers revalidate);
 *   a software transaction's snapshot s is even, and every value in its read
 *   log was the committed value of its word while stm_seq == s.
 *
 * Writers: any thread, through the CAS above; the odd holder is the only
 * writer of the data it publishes until its closing store.
 */
#ifndef HG_FALLBACK_STM_H
#define HG_FALLBACK_STM_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "htmgil/stm.h"
#include "base/atomic.h"
#include "base/util.h"
#include "fallback/epoch.h"

/*
 * Software sections in progress, process-wide, on a line of their own: a
 * section counts from before its first software attempt's snapshot to its
 * commit or its escalation to the lock tier (hg_run_soft).  A hardware
 * writer on an STM lock reads it just before XEND, inside its transaction,
 * and moves stm_seq only when it is not 0, so hardware sections do not
 * conflict with each other on stm_seq while no software section runs
 * (Hybrid NOrec's split counters; docs/design.md, "Who reads and writes
 * what").  Why that is enough: a writer that read 0 and committed did so
 * before the increment (the increment would have aborted it), so the
 * section's reads, all after the increment (seq_cst RMW), see its data.
 * Invariant: n is the number of sections between hg_stm_active_enter and
 * hg_stm_active_exit.
 */
struct hg_stm_active {
	uint32_t n;
} __attribute__((aligned(HG_CACHELINE)));
HG_INTERNAL extern struct hg_stm_active hg_stm_active;

static inline void hg_stm_active_enter(void)
{
	/* seq_cst: the snapshot and every read of the section come after it. */
	hg_atomic_fetch_add_seq_cst32(&hg_stm_active.n, 1);
}
static inline void hg_stm_active_exit(void)
{
	/* Release: after the section's commit (a late exit only makes
	 * hardware writers bump stm_seq for a while). */
	hg_atomic_fetch_add_release32(&hg_stm_active.n, (uint32_t)-1);
}
/* Inside a hardware transaction: must a writer move stm_seq? */
static inline bool hg_stm_active_any(void)
{
	return hg_atomic_load_relaxed32(&hg_stm_active.n) != 0;
}

/* One logged write (include/htmgil/stm.h). */
#define hg_stm_write hg_tx_write

/* A growable array of pointers (allocations and frees of one section). */
struct hg_ptr_log {
	void **p;
	size_t n, cap;
};

/*
 * The per-thread transaction descriptor.  .pub is what bodies see; the rest
 * is owned by the thread.  Write-log index: open addressing on the word
 * address, HG_STM_WIDX_MIN slots or more, at most half full; slot value is
 * the write-log index + 1 (0 = empty).  .pub.wfilter is a 64-bit summary of
 * the words written, so most reads skip the index.  The read log's entries
 * carry their access size in bits HG_TX_READ_SIZE_SHIFT and up of .addr.
 */
struct hg_stm_tx {
	struct hg_tx pub;
	struct hg_lock *lock;      /* lock of the outermost section */
	uint32_t depth;            /* hg_run nesting depth (flattened) */
	int tier;                  /* enum hg_tier of the current attempt, -1 idle */
	int restart_reason;        /* why the last software attempt restarted */
	uint8_t run_mode;          /* enum hg_htm_mode of the current direct attempt */
	struct hg_tx_read *rlog;   /* read log: rlog .. pub.rpos used, pub.rend = rlog + rcap */
	size_t rcap;
	size_t wcap;               /* entries at pub.wlog; pub.wpos - pub.wlog used */
	uint32_t *widx;
	size_t widx_cap;
	struct hg_ptr_log allocs;  /* hg_tx_malloc'd in this attempt */
	struct hg_ptr_log frees;   /* hg_tx_free'd in this attempt */
	struct hg_epoch_thread ep; /* announced during software attempts; retires .frees */
	uint64_t rng;              /* backoff randomness */
	uint64_t wait_cycles;      /* cycles spent waiting for an even stm_seq (reset by hg_run) */
	uint32_t log_skip;         /* attempts still to run logged before an unlogged one */
	uint32_t log_pen;          /* log_skip given by the next relog (HG_STM_RELOG_MIN..MAX) */
	sigjmp_buf restart;        /* software attempts restart here */
	struct hg_stm_thread_stats st;
};

#define HG_STM_WIDX_MIN 64

/*
 * Unlogged attempts (struct hg_tx.log == 0).  A software attempt first runs
 * without a read log: every read checks stm_seq == snapshot, so all values
 * it saw belong to the snapshot state, and nothing needs revalidating while
 * stm_seq stays put.  When stm_seq moves (a read sees it, or the commit CAS
 * fails) the attempt cannot revalidate, so it restarts at once (no backoff,
 * not counted towards escalation) in logging mode.  Each such relog makes
 * the thread run its next log_pen attempts logged, and log_pen doubles (up
 * to HG_STM_RELOG_MAX); an unlogged commit halves it (down to
 * HG_STM_RELOG_MIN).  So a thread whose sections keep overlapping other
 * parties' commits settles on logging, and one that rarely does pays no
 * logging at all.
 */
#define HG_STM_RELOG_MIN 4
#define HG_STM_RELOG_MAX 1024

/* Reasons a software attempt restarts (restart_reason). */
enum hg_stm_restart {
	HG_STM_RESTART_NONE = 0,
	HG_STM_RESTART_CONFLICT,    /* validation failed */
	HG_STM_RESTART_IRREVOCABLE, /* body asked for the lock tier */
	HG_STM_RESTART_RELOG,       /* an unlogged attempt saw stm_seq move */
};

/* The calling thread's descriptor (created on first use). */
HG_INTERNAL extern HG_TLS struct hg_stm_tx *hg_stm_tls;
HG_INTERNAL struct hg_stm_tx *hg_stm_self_slow(void);
static inline struct hg_stm_tx *hg_stm_self(void)
{
	struct hg_stm_tx *tx = hg_stm_tls;
	return HG_LIKELY(tx != NULL) ? tx : hg_stm_self_slow();
}
/* Threads that currently have a descriptor (ran hg_run and have not exited). */
HG_INTERNAL unsigned hg_stm_thread_count(void);

/* Starts a software attempt on l: waits for an even stm_seq and takes it as snapshot. */
HG_INTERNAL void hg_stm_begin(struct hg_stm_tx *tx, struct hg_lock *l);
/* Tries to commit; true on success, false when validation failed (the attempt is rolled back). */
HG_INTERNAL bool hg_stm_commit(struct hg_stm_tx *tx);
/* Rolls back the current software attempt (logs cleared, allocations freed). */
HG_INTERNAL void hg_stm_rollback(struct hg_stm_tx *tx);
/* Ends a direct-tier section: hand this section's frees to reclamation. */
HG_INTERNAL void hg_stm_direct_done(struct hg_stm_tx *tx, bool committed);
/* Randomized exponential backoff after the n-th consecutive software abort. */
HG_INTERNAL void hg_stm_backoff(struct hg_stm_tx *tx, unsigned n);

/*
 * Lock-tier side of the protocol: called with the real lock held, waits for
 * any software write-back to finish and makes stm_seq odd, so running
 * software transactions revalidate and new commits wait.
 */
HG_INTERNAL void hg_stm_seq_enter(struct hg_lock *l);
/* Makes stm_seq even again (before the real lock is released). */
HG_INTERNAL void hg_stm_seq_exit(struct hg_lock *l);

/*
 * The same, inline for the settled lock tier (engine/run.c): one CAS from
 * the even value read (the try: false when stm_seq was odd or the CAS
 * lost), else hg_stm_seq_enter() waits.  Memory orders as
 * there (fallback/stm.c).
 */
static inline bool hg_stm_seq_try_enter_inline(struct hg_lock *l)
{
	uint32_t s = hg_atomic_load_relaxed32(&l->stm_seq);
	return !(s & 1u) && hg_atomic_cas_acq_rel32(&l->stm_seq, &s, s + 1);
}
static inline void hg_stm_seq_enter_inline(struct hg_lock *l)
{
	if (HG_UNLIKELY(!hg_stm_seq_try_enter_inline(l)))
		hg_stm_seq_enter(l);
}
static inline void hg_stm_seq_exit_inline(struct hg_lock *l)
{
	hg_atomic_store_release32(&l->stm_seq, hg_atomic_load_relaxed32(&l->stm_seq) + 1);
}

#endif /* HG_FALLBACK_STM_H */
