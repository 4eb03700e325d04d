/* SPDX-License-Identifier: MIT */
/*
 * engine/engine.h - the elision engine, shared by every front end: the elided
 * lock (engine/elide.c), the GIL (gil/), pthread mode (gil/) and hg_run (STM).
 *
 * A front end describes its real lock with struct hg_target_ops
 * (htm/target.h) and a subscription word; the engine asks the policy
 * (engine/policy.h) whether a section speculates (RTM, or emulated HTM),
 * runs the retry loop, reports each outcome to the policy and keeps the
 * counters.  Everything here runs outside transactions except the code
 * between a successful begin and the return of hg_engine_enter() with
 * HG_TIER_HTM.  This header also declares what the rest of engine/ shares:
 * the lock registry, the STM announcement of a lock and the report's hooks.
 */
#ifndef HG_ENGINE_H
#define HG_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "htmgil/htm.h"
#include "htmgil/elide.h"
#include "htmgil/prof.h"
#include "base/util.h"
#include "engine/policy.h"
#include "engine/site.h"
#include "htm/detect.h"
#include "htm/target.h"

/* The mode a lock runs in: its override, else the process mode. */
static inline enum hg_htm_mode hg_lock_mode(const struct hg_lock *l)
{
	return l->mode_set ? (enum hg_htm_mode)l->mode : hg_htm_mode();
}

/*
 * Enters a section.  Returns HG_TIER_HTM when the caller now runs inside a
 * transaction (RTM, or an emulated one that holds the real lock), or
 * HG_TIER_LOCK when it holds the real lock.  *rec receives the site record.
 * Must be called outside any transaction.
 */
HG_INTERNAL enum hg_tier hg_engine_enter(void *target, const struct hg_target_ops *ops,
    const uint32_t *sub_word, enum hg_htm_mode mode, struct hg_site_rec *rec);
/*
 * hg_engine_enter with the acquisition already counted and its timing
 * decided (timed: hg_engine_time_sampled said so).  first: the abort
 * status of an attempt the caller made itself (counted in st.attempts,
 * outside the PMU's counting), or HG_STATUS_STARTED when none was made; the
 * loop then goes on as after that attempt.
 */
HG_INTERNAL enum hg_tier hg_engine_enter_counted(void *target, const struct hg_target_ops *ops,
    const uint32_t *sub_word, enum hg_htm_mode mode, struct hg_site_rec *rec, bool timed,
    uint32_t first);

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
 * What the retry loop does after an abort (docs/design.md, "The engine" and
 * the state machine under "The policy"): a pure function of the status
 * word and the acquisition's budgets, which it consumes.  hg_engine_enter
 * and hg_engine_try act on it; tests call it directly for statuses only
 * real RTM produces.
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

/*
 * Timing (docs/report.md, "Time"; engine/engine.c).  Short sections are
 * timed one in 64 of a record's acquisitions: those n whose fraction
 * {n * phi} is below 1/64 (the top six bits of n times 2^64 / phi are
 * zero), not every 64th, so that a periodic pattern of the program (a
 * hand-off every k sections) cannot alias with the sample and bias the
 * estimates.  A timed section is counted in st.timed.  Call outside
 * transactions, after counting the acquisition.
 */
#define HG_TIME_SAMPLE_SHIFT 58 /* 64 - 6: one in 2^6 */
static inline bool hg_engine_time_pick(uint64_t acquisitions)
{
	return (acquisitions * 0x9e3779b97f4a7c15ull) >> HG_TIME_SAMPLE_SHIFT == 0;
}
static inline bool hg_engine_time_sampled(struct hg_site_rec *rec)
{
	if (HG_LIKELY(!hg_engine_time_pick(rec->st.acquisitions)))
		return false;
	hg_counter_add(&rec->st.timed, 1);
	return true;
}
/*
 * Counts an acquisition and says whether it is sampled, as counting
 * st.acquisitions and then hg_engine_time_sampled() do, but from the count
 * in a register: a reload of the count just
 * stored would wait for store-to-load forwarding, and on the lock tier's
 * fast path that wait is ahead of the release's atomic.
 */
static inline bool hg_engine_count_sampled(struct hg_site_rec *rec)
{
	uint64_t n = hg_atomic_load_relaxed64(&rec->st.acquisitions) + 1;
	hg_atomic_store_relaxed64(&rec->st.acquisitions, n);
	if (HG_LIKELY(!hg_engine_time_pick(n)))
		return false;
	hg_counter_add(&rec->st.timed, 1);
	return true;
}
/* Whether the next acquisition of rec will be sampled (before counting it). */
static inline bool hg_engine_time_due(const struct hg_site_rec *rec)
{
	return hg_engine_time_pick(rec->st.acquisitions + 1);
}
/*
 * Waiting is not scaled in the report: a wait after an abort is timed
 * always, with weight 1; a sampled section's other waits (the elided lock's
 * contended path among them) count HG_TIME_WEIGHT times, the inverse of the
 * sampling rate, so the sum estimates every section's waits without bias.
 */
#define HG_TIME_WEIGHT 64u
static inline void hg_engine_time_wait(struct hg_site_rec *rec, uint64_t *t, unsigned weight)
{
	uint64_t now = hg_cycles();
	hg_counter_add(&rec->st.time[HG_TIME_WAITING], (now - *t) * weight);
	*t = now;
}
/*
 * The real lock's release, from the stamp t of hg_engine_time_stop: counted
 * as waiting, since the unlock may wake a waiter that takes the CPU (the
 * releasing thread is then off it, not in its section); weight as above.
 */
static inline void hg_engine_time_released(struct hg_site_rec *rec, uint64_t t, unsigned weight)
{
	if (t)
		hg_engine_time_wait(rec, &t, weight);
}
/* Adds the cycles since *t to st.time[kind] and moves *t to now. */
static inline void hg_engine_time_add(struct hg_site_rec *rec, enum hg_time_kind kind, uint64_t *t)
{
	uint64_t now = hg_cycles();
	hg_counter_add(&rec->st.time[kind], now - *t);
	*t = now;
}

/*
 * Ends a timed section's clock (st.cycles and st.time by tier) and returns
 * the stamp; 0 when untimed.  A section on the real lock stops it before
 * the unlock and passes the stamp to hg_engine_time_released() after it.
 */
static inline uint64_t hg_engine_time_stop(struct hg_site_rec *rec, enum hg_tier tier)
{
	if (HG_LIKELY(rec->t0 == 0))
		return 0;
	uint64_t now = hg_cycles(), dt = now - rec->t0;
	rec->t0 = 0;
	hg_counter_add(&rec->st.cycles[tier], dt);
	hg_counter_add(&rec->st.time[tier == HG_TIER_HTM ? HG_TIME_SPEC : HG_TIME_LOCK], dt);
	return now;
}

/* Counting helpers for front ends that run their own loops (outside transactions). */
HG_INTERNAL void hg_engine_note_abort(struct hg_site_rec *rec, uint32_t status);
HG_INTERNAL void hg_engine_note_commit(struct hg_site_rec *rec, enum hg_tier tier);

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
/* A fork child: the parent pid the report records; its clock starts again. */
HG_INTERNAL void hg_report_forked(void);
/*
 * Process time (docs/report.md, "Time").  A front end that passes a hold
 * of its lock to the host without the engine (the GIL taken directly) adds
 * the hold and the wait for it here, outside any transaction.
 * hg_report_set_gil() names the GIL's lock id (the GIL's figures).
 * hg_report_time_reset() starts the process clock again (hg_stats_reset).
 */
HG_INTERNAL void hg_report_direct_time(uint64_t hold_cycles, uint64_t wait_cycles);
HG_INTERNAL void hg_report_set_gil(uint32_t lock_id);
HG_INTERNAL void hg_report_time_reset(void);
/* The tier's name in reports: the speculative tier is "emu" for emulated sites. */
HG_INTERNAL const char *hg_site_tier_name(const struct hg_site_stats *s, uint32_t tier);
/* Registers the fork handlers: a child's counters start at zero, its own alone. */
HG_INTERNAL void hg_stats_atfork_install(void);

#endif /* HG_ENGINE_H */
