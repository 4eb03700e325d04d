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
#include "htmgil/htm.h"

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
 *                   (commits stop counting there; aborts go on)
 *   rate_q16        decaying abort rate of speculative attempts
 *   txlen, txlen_aux  the GIL's transaction length (hg_policy_txlen)
 *   yield_cyc       decaying cycles per yield interval of the site's
 *                   committed speculative sections (0: none measured)
 *   txlen_cap       the longest length that ends within txtime_us at
 *                   yield_cyc (0: no cap)
 *   cost            the three-tier state of an instrumented site (NULL
 *                   until its first hg_run section)
 *   lcost           the two-tier cost state of an elided-lock site in mode
 *                   rtm (NULL until its first such acquisition)
 *   lquiet          such a site's sections left before its next cost
 *                   comparison, counted down by the elided lock's fast
 *                   paths (hg_policy_lock_fast; 0: ask the policy)
 * Invariants: tier < HG_TIER_COUNT; tier == HG_TIER_STM only when cost !=
 * NULL; rate_q16 <= HG_Q16; txlen_cap == 0 or HG_TXLEN_MIN <= txlen_cap
 * <= HG_TXLEN_MAX; txlen <= txlen_cap when txlen_cap != 0 and no length is
 * fixed.
 */
struct hg_policy_cost;
struct hg_policy_lcost;
struct hg_site_policy {
	uint32_t tier;
	/* Quiet tickets of an instrumented site: sections before the next
	 * probe that may take the fast path (hg_cost_fast_grant); kept here,
	 * beside tier, not in the cost state, so hg_run's quick path reads one
	 * line of the record and no pointer (docs/design.md, "Sections that run
	 * on any tier").  0 whenever cost is NULL. */
	uint32_t fast;
	uint32_t skip;
	uint32_t reprobe_left;
	uint32_t reprobe_period;
	uint32_t samples;
	uint32_t rate_q16;
	uint32_t txlen;
	uint32_t txlen_aux;
	uint32_t yield_cyc;
	uint32_t txlen_cap;
	struct hg_policy_cost *cost;
	struct hg_policy_lcost *lcost;
	uint32_t lquiet;
};

/*
 * The record of one (lock, site, thread): identity, counters and the
 * policy's state.  Owned and written by one thread, outside transactions;
 * engine/site.c keeps the tables and snapshots, the report reads it.
 */
struct hg_site_rec {
	/* The first line holds all that the lock tier's fast path reads and
	 * writes (engine/elide.c, hg_lock_acquire): the ids, the hint, t0,
	 * the acquisition and commit counters. */
	uint32_t lock_id;
	uint8_t lock_first;        /* the thread's first record of lock_id (engine/site.c) */
	uint8_t lock_off;          /* hint: the lock of lock_tag was in mode off at its last entry */
	uint16_t lock_tag;         /* hint: hg_lock_tag() of the lock last entered through this
	                            * record; compared, never trusted (engine/elide.c) */
	uint64_t site;
	uint64_t t0;               /* cycle stamp of a section timed for st.cycles (0: not timed) */
	struct hg_site_stats st;   /* counters; st.abort_rate/tier_now/txlen are filled by snapshots */
	struct hg_site_policy pol; /* the policy's state */
	struct hg_site_rec *next;  /* hash chain within the thread's table */
	struct hg_site_rec *all;   /* list of the thread's records, for snapshots */
};

#define HG_PROBE_BURST 16 /* sections per cost probe of another tier */
#define HG_PROBE_WARM 4   /* probe sections run first and not counted (warm-up) */
/* A tier must be this much cheaper (per mille) to win a cost comparison. */
#define HG_COST_MARGIN 1040
/* A comparison decides at HG_COST_Z standard errors, after at most HG_PROBE_ROUNDS pairs. */
#define HG_COST_Z 3.0
#define HG_PROBE_ROUNDS 8

/*
 * struct hg_policy_cost: the three-tier state of an instrumented site,
 * beside its record's tier.  Owned by the record's thread.
 *   left      sections before the next probe of another tier, after the
 *             record's pol.fast that run on the fast path first
 *             (hg_cost_fast_grant)
 *   period    current probe period (reprobe_base .. reprobe_max, doubling
 *             each time a probe confirms the current tier)
 *   probe     tier being probed (HG_TIER_COUNT: none); probe_n sections of
 *             the burst done so far (the first HG_PROBE_WARM unsampled),
 *             their costs in probe_s
 *   cur_n, cur_s  the HG_PROBE_BURST sections on the site's own tier just
 *             before a probe, compared side by side with the probe's
 *   rounds, acc  pairs of bursts of the comparison under way and their
 *             trimmed samples (count, sum, sum of squares) per side
 *   from      the tier the last cost or re-probe win left (HG_TIER_COUNT:
 *             none): a win that goes back to it doubles the period
 *   verify    the last cost win is not confirmed yet: the next comparison
 *             with `from` must find the new tier cheaper, or the site goes
 *             back (that move back is not checked itself)
 *   flip      alternates the two probes a tier has
 *   samples   sections accounted since the last tier change (demote_min)
 *   probe_fail  sections of the HTM probe burst under way that ended on
 *             the lock
 *   stm_rate  decaying fraction of software attempts that aborted
 *   htm_fail  decaying fraction of HTM sections that ended on the lock
 *   cost      decaying cycles per section, by tier (the fallback of a
 *             comparison without a burst on the own tier)
 * Invariants: probe == HG_TIER_COUNT or probe != the record's tier;
 * cur_n, probe_n - HG_PROBE_WARM <= HG_PROBE_BURST; init == 0 until the
 * site's first pick.
 */
struct hg_policy_cost {
	uint8_t init;
	uint8_t probe;
	uint8_t flip;
	uint8_t from;
	uint8_t verify;
	uint8_t rounds;
	uint8_t last; /* the tier of the last probe burst (a repeated round probes it again) */
	uint8_t rtm;  /* at the last probe's start, mode rtm and one thread on hg_run: HTM is costed */
	uint32_t left;
	uint32_t period;
	uint32_t probe_n;
	uint32_t probe_s[HG_PROBE_BURST];
	uint32_t cur_n;
	uint32_t cur_s[HG_PROBE_BURST];
	double acc[2][3]; /* [own tier, probed tier][samples, sum, sum of squares] */
	uint64_t cost[HG_TIER_COUNT];
	uint32_t samples; /* sections accounted since the last tier change */
	uint32_t probe_fail; /* sections of an HTM probe burst that ended off HTM */
	uint32_t stm_rate;
	uint32_t htm_fail;
};

/*
 * struct hg_policy_lcost: the cost comparison of an elided-lock site
 * (struct hg_lock in mode rtm, unless hg_lock_set_cost turned it off;
 * docs/design.md, "Elided-lock sites: the cost of each tier").  Owned by the
 * record's thread.  The site runs on rec->pol.tier (HTM or LOCK); every
 * `period` sections it times HG_PROBE_BURST samples on that tier (phase
 * OWN), then HG_PROBE_WARM + HG_PROBE_BURST on the other one (phase PROBE),
 * each sample a group of HG_LC_GROUP sections,
 * and moves when the other tier is cheaper by HG_COST_MARGIN at HG_COST_Z
 * standard errors.
 *   period  sections between comparisons (reprobe_base .. reprobe_max,
 *           doubling each time the site's own tier wins)
 *   phase   HG_LC_QUIET, HG_LC_OWN or HG_LC_PROBE
 *   rounds  pairs of bursts of the comparison under way
 *   verify  the last cost win is not confirmed yet: the next comparison
 *           (after reprobe_base sections) must find the tier it left
 *           dearer, or the site goes back
 *   n       closed samples of the own burst and of the probe burst (the
 *           probe's first HG_PROBE_WARM are not kept)
 *   s, acc  the kept samples and their trimmed sums per side (count, sum,
 *           sum of squares), as in struct hg_policy_cost
 *   htm_at  1 + rec->st.acquisitions when the site last moved to HTM on a
 *           cost win (0: it is not there by one): an abort-rate or
 *           capacity demotion fewer than reprobe_max sections later backs
 *           off (the period doubles) instead of comparing again after
 *           reprobe_base
 * Invariants: rec->pol.tier is HTM or LOCK; phase == HG_LC_QUIET or an
 * open sample of this record is pending or about to be opened; n[0] <=
 * HG_PROBE_BURST; n[1] <= HG_PROBE_WARM + HG_PROBE_BURST.
 */
enum { HG_LC_QUIET = 0, HG_LC_OWN, HG_LC_PROBE };
/*
 * An elided-lock sample spans this many consecutive sections of its site,
 * with one counter read at each end: a read before every section overlaps
 * XBEGIN/XEND's latency but not the lock's CAS, and so hides most of what
 * a transaction costs (docs/design.md, "Elided-lock sites").
 */
#define HG_LC_GROUP 4u
struct hg_policy_lcost {
	uint32_t period;
	uint8_t phase;
	uint8_t rounds;
	uint8_t verify;
	uint32_t n[2];
	uint32_t s[2][HG_PROBE_BURST];
	double acc[2][3];
	uint64_t htm_at;
};

/*
 * The thread's open cost sample (hg_policy_open.rec == NULL: none).  A sampled
 * section's cost runs from its entry to the thread's next hg_run or
 * hg_lock_acquire entry:
 * the section, what its tier costs around it, and the caller's work up to
 * the next section, which is the same on every tier.  The cycle counter is
 * read once per sampled section, at entries.
 *   t0    entry stamp
 *   sub   cycles to leave out (waits for other parties)
 *   hold  lock probe with other threads: its holding time times the
 *         parallelism; the cost is at least that
 *   probe the sample belongs to a probe burst (else to the own-tier burst)
 *   lock  the sample is an elided-lock section's (rec->pol.lcost)
 *   par   an elided-lock sample on the lock tier: the parallelism it is
 *         charged for (1: none)
 *   t1    such a sample with par > 1: the stamp after its section acquired
 *         (hold then sums its sections' holding times times par)
 *   nsec  an elided-lock sample: the sections of its group so far (1 ..
 *         HG_LC_GROUP); its cost is per section
 */
struct hg_open_sample {
	struct hg_site_rec *rec;
	uint64_t t0, sub, hold, t1;
	unsigned par;
	unsigned nsec;
	bool probe;
	bool lock;
};


HG_INTERNAL extern HG_TLS struct hg_open_sample hg_policy_open;

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

/* rate += decay * (sample - rate), in HG_Q16 fixed point; sample in [0, HG_Q16]. */
static inline uint32_t hg_policy_decay(uint32_t rate, uint32_t sample)
{
	int64_t r = rate;
	r += (((int64_t)sample - r) * hg_policy_q.decay_q16) >> 16;
	return r < 0 ? 0 : r > HG_Q16 ? HG_Q16 : (uint32_t)r;
}

/* ---------------------------------------------------- time and randomness */

struct hg_policy_clock {
	uint64_t (*cycles)(void);      /* a monotonic cycle count */
	uint64_t (*random)(void);      /* a uniform 64-bit draw */
	unsigned (*parallelism)(void); /* threads a lock-tier choice would serialize */
	double (*hz)(void);            /* cycles per second (0: not known yet) */
	/* The same for an elided lock's lock tier (NULL: parallelism). */
	unsigned (*lock_parallelism)(uint32_t lock_id);
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

/* What an acquisition on the engine does (hg_policy_enter). */
enum hg_policy_go {
	HG_GO_LOCK,      /* take the real lock */
	HG_GO_SPECULATE, /* run the retry loop */
	HG_GO_PROBE,     /* one speculative attempt: a re-probe of a demoted site */
};
HG_INTERNAL enum hg_policy_go hg_policy_enter_slow(struct hg_site_rec *rec);
static inline enum hg_policy_go hg_policy_enter(struct hg_site_rec *rec)
{
	if (HG_LIKELY(rec->pol.tier == HG_TIER_HTM && rec->pol.skip == 0))
		return HG_GO_SPECULATE;
	return hg_policy_enter_slow(rec);
}
/* A speculative attempt aborted (busy: the lock was held, not the section's fault). */
HG_INTERNAL void hg_policy_abort(struct hg_site_rec *rec, bool busy);
/* A re-probe of an uninstrumented site committed: back to HTM. */
HG_INTERNAL void hg_policy_reprobe_won(struct hg_site_rec *rec);
/*
 * A speculative section committed.  An instrumented site's probe burst is
 * judged when it ends (engine/policy.c, hg_cost_probe_done).
 */
static inline void hg_policy_commit(struct hg_site_rec *rec)
{
	struct hg_site_policy *p = &rec->pol;
	/* Relaxed: single writer; the report reads a possibly stale value.
	 * A rate already 0 and a count past demote_min (all the count is
	 * compared with) are not stored again: no store on a settled site. */
	uint32_t r = p->rate_q16;
	if (r != 0)
		__atomic_store_n(&p->rate_q16, hg_policy_decay(r, 0), __ATOMIC_RELAXED);
	if (p->samples < hg_policy_now.demote_min)
		p->samples++;
	if (HG_UNLIKELY(p->tier != HG_TIER_HTM) && !p->cost && !p->lcost)
		hg_policy_reprobe_won(rec);
}
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
 * The length is also sized by time: never above txlen_cap, the most yield
 * intervals that fit in the policy's txtime_us at the site's measured
 * cycles per interval (hg_policy_txlen_sample), since the hardware aborts
 * long transactions at timer interrupts whatever they touch.
 * A fixed length (HTMGIL_TXLEN=N, hg_txlen_fixed) disables the adaptation.
 */
#define HG_TXLEN_MIN 1u
#define HG_TXLEN_MAX 256u
#define HG_TXLEN_INIT 16u
#define HG_TXLEN_WINDOW 32u
HG_INTERNAL uint32_t hg_policy_txlen(struct hg_site_rec *rec);
/*
 * A speculative section of rec committed after `yields` yield intervals
 * (>= 1) that took `cycles` from the return of hg_engine_enter to the
 * commit: updates yield_cyc and txlen_cap.  Outside transactions.
 */
HG_INTERNAL void hg_policy_txlen_sample(struct hg_site_rec *rec, uint32_t yields, uint64_t cycles);
/* 0: adapt per site; 1..HG_TXLEN_MAX: every transaction spans that many yield points. */
HG_INTERNAL extern uint32_t hg_txlen_fixed;
/* HTMGIL_TXLEN=off: front ends force no yield points (sections end where the host releases). */
HG_INTERNAL extern bool hg_txlen_off;

/* ------------------------------------------- the elided lock's questions */

/*
 * An acquisition of a cost-aware elided-lock site in mode rtm (engine/
 * elide.c).  The quiet path: while no sample is open and the site is quiet,
 * the acquisition runs on rec->pol.tier without asking (returns it), else
 * HG_TIER_COUNT and the caller asks hg_policy_lock_pick.
 */
static inline enum hg_tier hg_policy_lock_fast(struct hg_site_rec *rec)
{
	struct hg_site_policy *p = &rec->pol;
	if (HG_LIKELY(p->lquiet > 0 && hg_policy_open.rec == NULL)) {
		p->lquiet--;
		return (enum hg_tier)p->tier;
	}
	return HG_TIER_COUNT;
}
/*
 * Closes the thread's open cost sample (hg_run's or the elided lock's), if
 * any: every entry of a section does, so a sample runs to the next one.
 */
HG_INTERNAL void hg_policy_close_open(void);
/*
 * The tier of the next section of rec (HTM or LOCK); closes the thread's
 * open sample and, when *sampled, opens one for this section.
 */
HG_INTERNAL enum hg_tier hg_policy_lock_pick(struct hg_site_rec *rec, bool *sampled);
/*
 * The section picked for `picked` is entered and runs on `got` (an HTM
 * pick may end on the lock).  A lock-tier sample takes its stamp here.
 */
HG_INTERNAL void hg_policy_lock_entered(struct hg_site_rec *rec, enum hg_tier picked, enum hg_tier got);
/* A sampled lock-tier section released the real lock: its holding time. */
HG_INTERNAL void hg_policy_lock_released(struct hg_site_rec *rec);

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
HG_INTERNAL void hg_policy_pick_slow(struct hg_site_rec *rec, enum hg_htm_mode mode,
    enum hg_tier forced, struct hg_policy_ticket *t);
static inline void hg_policy_pick(struct hg_site_rec *rec, enum hg_htm_mode mode,
    enum hg_tier forced, struct hg_policy_ticket *t)
{
	if (HG_LIKELY(hg_policy_open.rec == NULL)) {
		/* A forced tier, or the quiet fast path (hg_cost_fast_grant). */
		t->sample = false;
		t->par = 1;
		t->t0 = 0;
		if (forced != HG_TIER_ADAPTIVE) {
			t->tier = forced;
			t->adaptive = false;
			t->fast = false;
			return;
		}
		if (HG_LIKELY(rec->pol.fast > 0) && (rec->pol.tier != HG_TIER_HTM || mode != HG_HTM_OFF)) {
			rec->pol.fast--;
			t->tier = (enum hg_tier)rec->pol.tier;
			t->adaptive = true;
			t->fast = true;
			return;
		}
	}
	hg_policy_pick_slow(rec, mode, forced, t);
}
/*
 * Reports the section: the tier it ended on, its software aborts, and the
 * cycles it waited for other parties (left out of its cost): for an STM
 * section the waits for an even stm_seq, for a lock section the waits for
 * another holder.  t1 is the exit stamp when the caller read one (0 if not).
 */
HG_INTERNAL void hg_policy_account_slow(struct hg_site_rec *rec, const struct hg_policy_ticket *t,
    enum hg_tier used, unsigned stm_aborts, uint64_t wait_cycles, uint64_t t1);
/*
 * hg_policy_pick's quiet fast path for an adaptive site settled on the lock
 * tier, asked before anything else is loaded (hg_run's quick path): true
 * when the pick would hand out a fast LOCK ticket, consuming it as the pick
 * would; false changes nothing, and the caller asks hg_policy_pick.
 */
static inline bool hg_policy_quiet_lock(struct hg_site_rec *rec)
{
	if (HG_LIKELY(hg_policy_open.rec == NULL && rec->pol.fast > 0 &&
	        rec->pol.tier == HG_TIER_LOCK)) {
		rec->pol.fast--;
		return true;
	}
	return false;
}
static inline void hg_policy_account(struct hg_site_rec *rec, const struct hg_policy_ticket *t,
    enum hg_tier used, unsigned stm_aborts, uint64_t wait_cycles, uint64_t t1)
{
	if (HG_LIKELY(stm_aborts == 0 && (!t->adaptive || (t->fast && used == t->tier))))
		return;
	hg_policy_account_slow(rec, t, used, stm_aborts, wait_cycles, t1);
}

#endif /* HG_ENGINE_POLICY_H */
