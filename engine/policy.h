/* SPDX-License-Identifier: MIT */
/*
 * engine/policy.h - the one policy: which tier a section runs on.
 *
 * The policy keeps its state in the site record (struct hg_site_rec.pol,
 * one per lock, site and thread) and decides from outcomes that its callers
 * report: the engine's retry loop (engine/engine.c) reports speculative
 * commits and aborts and asks whether to speculate at all; hg_run
 * (engine/run.c) asks it for the tier of an instrumented section and
 * reports the tier the section ended on and, for sampled sections, its
 * cost.  The retry loop's own table (hg_engine_action) is not policy: it
 * decides what one acquisition does after one abort.  docs/design.md, "The
 * policy", describes the state machine; this header states the contract.
 *
 * Everything here runs outside transactions, on the thread that owns the
 * record.  The report reads pol.tier, pol.rate_q16 and pol.txlen with
 * relaxed loads; they are stored with relaxed stores (one writer).
 *
 * Time and randomness reach the policy only through struct hg_policy_clock
 * (hg_policy_cycles, hg_policy_random, hg_policy_parallelism), which tests
 * replace to drive the policy deterministically.
 */
#ifndef HG_ENGINE_POLICY_H
#define HG_ENGINE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "htmgil/elide.h"
#include "htmgil/prof.h"
#include "base/util.h"

/* Fixed point used by every rate of the policy: 1.0 == HG_Q16. */
#define HG_Q16 65536u

/*
 * The policy's state of one (lock, site, thread).
 *   tier            enum hg_tier the site runs on
 *   skip            acquisitions left on the lock after an abort that the
 *                   section would repeat (HG_ACT_SKIP)
 *   reprobe_left    lock-tier acquisitions before the next HTM re-probe of
 *                   an uninstrumented site; reprobe_period is its current
 *                   period (reprobe_base doubling up to reprobe_max)
 *   samples         speculative attempts (or hg_run sections) since the
 *                   last tier change: a demotion needs demote_min of them
 *   rate_q16        decaying abort rate of speculative attempts
 *   txlen, txlen_aux  the GIL's transaction length (hg_policy_txlen)
 *   cost            the three-tier state of an instrumented site (NULL
 *                   until its first hg_run section)
 * Invariants: tier < HG_TIER_COUNT; tier == HG_TIER_STM only when cost !=
 * NULL; rate_q16 <= HG_Q16.
 */
struct hg_policy_cost;
struct hg_site_policy {
	uint32_t tier;
	uint32_t skip;
	uint32_t reprobe_left;
	uint32_t reprobe_period;
	uint32_t samples;
	uint32_t rate_q16;
	uint32_t txlen;
	uint32_t txlen_aux;
	struct hg_policy_cost *cost;
};

/* ---------------------------------------------------------------- knobs */

/* The knobs in force (read-mostly; written by hg_policy_set). */
HG_INTERNAL extern struct hg_policy hg_policy_now;
/*
 * The knobs the fast paths use, converted once by hg_policy_set: decay and
 * demote_rate in HG_Q16 fixed point.
 */
struct hg_policy_fixed {
	uint32_t decay_q16;
	uint32_t demote_q16;
};
HG_INTERNAL extern struct hg_policy_fixed hg_policy_q;
/*
 * The one clamp: brings every knob into its documented range (include/
 * htmgil/elide.h, docs/design.md); hg_policy_set applies it.
 */
HG_INTERNAL void hg_policy_clamp(struct hg_policy *p);

/* ---------------------------------------------------- time and randomness */

struct hg_policy_clock {
	uint64_t (*cycles)(void);      /* a monotonic cycle count */
	uint64_t (*random)(void);      /* a uniform 64-bit draw */
	unsigned (*parallelism)(void); /* threads a lock-tier choice would serialize */
};
HG_INTERNAL extern const struct hg_policy_clock *hg_policy_clock_now;
/* Installs a clock (NULL: the real one); call while no section runs. */
HG_INTERNAL void hg_policy_set_clock(const struct hg_policy_clock *c);
static inline uint64_t hg_policy_cycles(void)
{
	return hg_policy_clock_now->cycles();
}
static inline uint64_t hg_policy_random(void)
{
	return hg_policy_clock_now->random();
}

/* ------------------------------------------------------- record lifecycle */

HG_INTERNAL void hg_policy_site_init(struct hg_site_policy *p);
/* Back to the state of a new record (hg_stats_reset); keeps cost allocated. */
HG_INTERNAL void hg_policy_site_reset(struct hg_site_policy *p);
/* Frees what the record owns (thread exit). */
HG_INTERNAL void hg_policy_site_fini(struct hg_site_policy *p);

/* ------------------------------------------------- the engine's questions */

struct hg_site_rec;

/* What an acquisition on the engine does (hg_policy_enter). */
enum hg_policy_go {
	HG_GO_LOCK,      /* take the real lock */
	HG_GO_SPECULATE, /* run the retry loop */
	HG_GO_PROBE,     /* one speculative attempt: a re-probe of a demoted site */
};
HG_INTERNAL enum hg_policy_go hg_policy_enter(struct hg_site_rec *rec);
/* A speculative attempt aborted (busy: the lock was held, not the section's fault). */
HG_INTERNAL void hg_policy_abort(struct hg_site_rec *rec, bool busy);
/* A speculative section committed. */
HG_INTERNAL void hg_policy_commit(struct hg_site_rec *rec);
/* The section will repeat its abort: send the next skip_other acquisitions to the lock. */
HG_INTERNAL void hg_policy_skip(struct hg_site_rec *rec);
/* Capacity aborts exhausted their retry: demote the site. */
HG_INTERNAL void hg_policy_capacity(struct hg_site_rec *rec);
/* After an abort: demotes when the rate is over demote_rate; true when it did. */
HG_INTERNAL bool hg_policy_check_rate(struct hg_site_rec *rec);
/* A re-probe (HG_GO_PROBE) ended without a commit: back off. */
HG_INTERNAL void hg_policy_probe_lost(struct hg_site_rec *rec);

/*
 * Transaction length, for front ends whose sections span the host's own
 * yield points (the GIL: eval-breaker check sites).  A transaction begun at
 * a site spans hg_policy_txlen(rec) yield points before it commits and a
 * new one begins.  The length is adapted per site from the aborts counted
 * in rec since the last adjustment (conflict, capacity, retry and other
 * causes; a busy lock is not the length's fault):
 *   - the site is off the HTM tier after aborts: halve (the re-probe then
 *     tries shorter transactions);
 *   - every HG_TXLEN_WINDOW speculative attempts: more than 1 in 8
 *     aborted: halve; none aborted: double;
 * always within [HG_TXLEN_MIN, HG_TXLEN_MAX], starting at HG_TXLEN_INIT.
 * A fixed length (HTMGIL_TXLEN=N, hg_txlen_fixed) disables the adaptation.
 */
#define HG_TXLEN_MIN 1u
#define HG_TXLEN_MAX 256u
#define HG_TXLEN_INIT 16u
#define HG_TXLEN_WINDOW 32u
HG_INTERNAL uint32_t hg_policy_txlen(struct hg_site_rec *rec);
/* 0: adapt per site; 1..HG_TXLEN_MAX: every transaction spans that many yield points. */
HG_INTERNAL extern uint32_t hg_txlen_fixed;
/* HTMGIL_TXLEN=off: front ends force no yield points (sections end where the host releases). */
HG_INTERNAL extern bool hg_txlen_off;

/* --------------------------------------------------- hg_run's questions */

/*
 * What hg_run does with one instrumented section, from hg_policy_pick to
 * hg_policy_account.  tier is the tier to run; sample asks the caller to
 * time the section (wait cycles to leave out in *_wait); t0 is its entry
 * stamp when sampled.
 */
struct hg_policy_ticket {
	enum hg_tier tier;
	bool adaptive; /* the policy chose (else the tier was forced) */
	bool fast;     /* the quiet fast path: nothing to account unless it went wrong */
	bool sample;   /* the policy times this section */
	unsigned par;  /* parallelism a lock probe is charged for (1: none) */
	uint64_t t0;
};
/*
 * Picks the tier of the next section of rec (mode: the lock's HTM mode;
 * forced: HG_TIER_ADAPTIVE or a forced tier).  Closes the thread's open
 * cost sample first (its cost runs up to this entry).
 */
HG_INTERNAL void hg_policy_pick(struct hg_site_rec *rec, enum hg_htm_mode mode,
    enum hg_tier forced, struct hg_policy_ticket *t);
/*
 * Reports the section: the tier it ended on, its software aborts, and the
 * cycles it waited for other parties (left out of its cost): for an STM
 * section the waits for an even stm_seq, for a lock section the waits for
 * another holder.  t1 is the exit stamp when the caller read one (0 if not).
 */
HG_INTERNAL void hg_policy_account(struct hg_site_rec *rec, const struct hg_policy_ticket *t,
    enum hg_tier used, unsigned stm_aborts, uint64_t wait_cycles, uint64_t t1);

#endif /* HG_ENGINE_POLICY_H */
