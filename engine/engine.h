/* SPDX-License-Identifier: MIT */
/*
 * engine/engine.h - the elision engine, shared by every front end: the elided
 * lock (engine/elide.c), the GIL (gil/), pthread mode (gil/) and hg_run (STM).
 *
 * A front end describes its real lock with struct hg_target_ops and a
 * subscription word; the engine decides per (lock, site) and per thread
 * whether a section runs speculatively (RTM, or emulated HTM) or on the real
 * lock, runs the retry loop, and keeps the counters.  Everything here runs
 * outside transactions except the code between a successful begin and the
 * return of hg_engine_enter() with HG_TIER_HTM.
 */
#ifndef HG_ENGINE_H
#define HG_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "htmgil/htm.h"
#include "htmgil/elide.h"
#include "htmgil/prof.h"
#include "base/util.h"
#include "htm/target.h"

/*
 * Per-thread record of one (lock, site): its policy state and counters.
 * Owned and written by one thread, outside transactions; read by the report.
 */
struct hg_site_rec {
	uint32_t lock_id;
	uint64_t site;
	struct hg_site_stats st;  /* counters; st.abort_rate/tier_now/txlen are filled by snapshots */
	/* policy state (tier and rate_q16 are read by the report: relaxed atomics) */
	uint32_t tier;            /* enum hg_tier the site is on for this thread */
	uint32_t skip;            /* acquisitions left on the lock after a no-RETRY abort */
	uint32_t reprobe_left;    /* lock-tier acquisitions left before the next re-probe */
	uint32_t reprobe_period;  /* current backoff period */
	uint32_t samples;         /* attempts seen since the last tier change */
	uint32_t rate_q16;        /* decaying abort-rate estimate, fixed point 1.0 = 65536 */
	uint64_t t0;              /* cycle stamp of a sampled section's entry (0: not sampled) */
	uint32_t txlen;           /* yield points per transaction (hg_engine_txlen; 0: unused) */
	uint32_t txlen_aux;       /* hg_engine_txlen's window start: attempts | aborts << 16 */
	uint64_t cost[HG_TIER_COUNT]; /* decaying cycles per section, per tier (0 = unknown) */
	struct hg_site_rec *next;  /* hash chain within the thread's table */
	struct hg_site_rec *all;   /* list of the thread's records, for snapshots */
};

/* The calling thread's record for (lock_id, site), created on first use. */
HG_INTERNAL struct hg_site_rec *hg_site_rec_lookup(uint32_t lock_id, uint64_t site);
/* The record used last by this thread: most acquisitions hit it. */
extern HG_TLS struct hg_site_rec *hg_site_last;
static inline struct hg_site_rec *hg_site_rec_get(uint32_t lock_id, uint64_t site)
{
	struct hg_site_rec *r = hg_site_last;
	if (HG_LIKELY(r && r->site == site && r->lock_id == lock_id))
		return r;
	return hg_site_rec_lookup(lock_id, site);
}

/* The mode a lock runs in: its override, else the process mode. */
HG_INTERNAL enum hg_htm_mode hg_mode_now(void);

/*
 * Enters a section.  Returns HG_TIER_HTM when the caller now runs inside a
 * transaction (RTM, or an emulated one that holds the real lock), or
 * HG_TIER_LOCK when it holds the real lock.  *rec receives the site record.
 * Must be called outside any transaction.
 */
HG_INTERNAL enum hg_tier hg_engine_enter(void *target, const struct hg_target_ops *ops,
    const uint32_t *sub_word, enum hg_htm_mode mode, struct hg_site_rec *rec);

/* Leaves a section entered with hg_engine_enter (commit or unlock, then count). */
HG_INTERNAL void hg_engine_exit(void *target, const struct hg_target_ops *ops,
    enum hg_htm_mode mode, struct hg_site_rec *rec, enum hg_tier tier);

/*
 * One speculative attempt without the retry loop (tryacquire): returns
 * HG_TIER_HTM when running speculatively, HG_TIER_LOCK when the real lock
 * was taken by trylock, or -1 when busy.
 */
HG_INTERNAL int hg_engine_try(void *target, const struct hg_target_ops *ops,
    const uint32_t *sub_word, enum hg_htm_mode mode, struct hg_site_rec *rec);

/*
 * What the retry loop does after an abort (docs/design.md, "The engine and
 * the policy"): a pure function of the status word and the acquisition's
 * budgets, which it consumes.  hg_engine_enter and hg_engine_try act on it;
 * tests call it directly for statuses only real RTM produces.
 */
enum hg_abort_action {
	HG_ACT_WAIT,      /* the lock is held: wait until it is free, retry */
	HG_ACT_BACKOFF,   /* transient: wait if the lock is held, else back off; retry */
	HG_ACT_RETRY,     /* retry at once (a first CAPACITY or a first status-0 abort) */
	HG_ACT_LOCK,      /* take the lock for this acquisition */
	HG_ACT_SKIP,      /* take the lock and skip speculation for skip_other acquisitions */
	HG_ACT_DEMOTE,    /* take the lock and demote the site (capacity is persistent) */
};
struct hg_abort_budget {
	unsigned conflict; /* retries left after CONFLICT/RETRY or a busy inner lock */
	unsigned busy;     /* retries left after the lock itself was busy */
	unsigned capacity; /* retries left after CAPACITY */
	bool last_zero;    /* the previous attempt of this acquisition aborted with status 0 */
};
HG_INTERNAL void hg_abort_budget_init(struct hg_abort_budget *b, const struct hg_policy *p);
HG_INTERNAL enum hg_abort_action hg_engine_action(uint32_t status, struct hg_abort_budget *b);

/* Counting helpers for front ends that run their own loops (outside transactions). */
HG_INTERNAL void hg_engine_note_abort(struct hg_site_rec *rec, uint32_t status);
HG_INTERNAL void hg_engine_note_commit(struct hg_site_rec *rec, enum hg_tier tier);
HG_INTERNAL void hg_engine_demote(struct hg_site_rec *rec, enum hg_tier to, enum hg_reason why);
HG_INTERNAL void hg_engine_promote(struct hg_site_rec *rec, enum hg_tier to, enum hg_reason why);

/*
 * Transaction length, for front ends whose sections span the host's own
 * yield points (the GIL: eval-breaker check sites).  A transaction begun at
 * a site spans hg_engine_txlen(rec) yield points before it commits and a new
 * one begins.  The length is adapted per site from the aborts the engine
 * counted in rec since the last adjustment (conflict, capacity, retry and
 * other causes; a busy lock is not the length's fault):
 *
 *   - the site was demoted to the lock after aborts: halve (the re-probe
 *     then tries shorter transactions);
 *   - every HG_TXLEN_WINDOW speculative attempts: more than 1 in 8 aborted:
 *     halve; none aborted: double;
 *
 * always within [HG_TXLEN_MIN, HG_TXLEN_MAX], starting at HG_TXLEN_INIT.
 * A fixed length (HTMGIL_TXLEN=N, hg_txlen_fixed) disables the adaptation.
 * Called by the thread that owns rec, outside transactions.
 */
#define HG_TXLEN_MIN 1u
#define HG_TXLEN_MAX 256u
#define HG_TXLEN_INIT 16u
#define HG_TXLEN_WINDOW 32u
HG_INTERNAL uint32_t hg_engine_txlen(struct hg_site_rec *rec);
/* 0: adapt per site; 1..HG_TXLEN_MAX: every transaction spans that many yield points. */
HG_INTERNAL extern uint32_t hg_txlen_fixed;
/* HTMGIL_TXLEN=off: front ends force no yield points (sections end where the host releases). */
HG_INTERNAL extern bool hg_txlen_off;

/* The policy in force (read-mostly; copied at init and by hg_policy_set). */
HG_INTERNAL extern struct hg_policy hg_policy_now;

/*
 * Marks l as used by hg_run() (sticky) and waits out plain sections that
 * started before; call outside any transaction, before the first software
 * transaction on l.
 */
HG_INTERNAL void hg_lock_enable_stm(struct hg_lock *l);
/* struct hg_lock.stm_used: 0, then ANNOUNCED (plain sections join the
 * protocol), then READY (software transactions may run). */
#define HG_STM_USED_ANNOUNCED 1
#define HG_STM_USED_READY 2

/* Registry of named locks: returns a fresh id (>= 1), names kept for reports. */
HG_INTERNAL uint32_t hg_lock_register(const char *name);

/*
 * The exit report (engine/report.c, docs/report.md).  hg_report_init() reads
 * HTMGIL_REPORT once at start-up: it joins the run named by the marker
 * HTMGIL_REPORT_RUN, or starts one (this process is then the top).
 * hg_report_at_exit() writes this process's report when it counted a
 * section of its own; a front end that passes sections to the host lock
 * without the engine says through hg_report_set_active() that it saw some.
 */
HG_INTERNAL void hg_report_init(const char *name);
HG_INTERNAL void hg_report_at_exit(void);
HG_INTERNAL void hg_report_set_active(bool (*fn)(void));
/* A fork child: the parent pid the report records. */
HG_INTERNAL void hg_report_forked(void);
/* The tier's name in reports: the speculative tier is "emu" for emulated sites. */
HG_INTERNAL const char *hg_site_tier_name(const struct hg_site_stats *s, uint32_t tier);
/* Registers the fork handlers: a child's counters start at zero, its own alone. */
HG_INTERNAL void hg_stats_atfork_install(void);

#endif /* HG_ENGINE_H */
