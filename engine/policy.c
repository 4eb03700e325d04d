/* SPDX-License-Identifier: MIT */
/*
 * engine/policy.c - the one policy (contract in engine/policy.h, state
 * machine and reasoning in docs/design.md, "The policy").
 *
 * One record per (lock, site, thread) holds the tier and everything the
 * decision needs.  Two kinds of sites share it:
 *   - every site: HTM <-> lock by the decaying abort rate of speculative
 *     attempts, capacity demotion, skips, re-probes with a doubling period,
 *     and the GIL's transaction length;
 *   - instrumented sites (hg_run) add the STM tier and a cost comparison:
 *     probe bursts of another tier measured side by side with a burst on
 *     the site's own tier (struct hg_policy_cost);
 *   - elided-lock sites in mode rtm compare HTM and the lock the same way
 *     (struct hg_policy_lcost), on top of the abort-driven moves.
 * A demotion from HTM goes to the STM on an instrumented site, to the lock
 * otherwise; every change of tier goes through hg_policy_move(), which
 * counts it with its reason.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/atomic.h"
#include "engine/engine.h"
#include "engine/policy.h"
#include "engine/site.h"
#include "fallback/stm.h"
#include "htm/emu.h"

/* ---------------------------------------------------------------- knobs */

struct hg_policy hg_policy_now = HG_POLICY_DEFAULTS;
struct hg_policy_fixed hg_policy_q = { (uint32_t)(HG_Q16 / 64), HG_Q16 / 2 };

static inline uint32_t hg_q16(double x)
{
	return (uint32_t)(x * HG_Q16 + 0.5);
}

void hg_policy_clamp(struct hg_policy *p)
{
	if (p->retry_capacity > 1)
		p->retry_capacity = 1; /* capacity is persistent: at most one retry */
	if (p->retry_conflict > 1000)
		p->retry_conflict = 1000;
	if (p->retry_busy > 1000)
		p->retry_busy = 1000;
	if (!(p->demote_rate >= 0.0) || p->demote_rate > 1.0)
		p->demote_rate = 0.5;
	if (!(p->decay > 0.0) || p->decay > 1.0)
		p->decay = 1.0 / 64;
	if (p->reprobe_base == 0)
		p->reprobe_base = 1;
	if (p->reprobe_max < p->reprobe_base)
		p->reprobe_max = p->reprobe_base;
	if (p->txtime_us > 1000000)
		p->txtime_us = 1000000;
}

void hg_policy_get(struct hg_policy *out)
{
	*out = hg_policy_now;
}

void hg_policy_set(const struct hg_policy *p)
{
	struct hg_policy c = *p;
	hg_policy_clamp(&c);
	/* Sites read the knobs at their next acquisition; callers change the
	 * policy while sections are quiescent (start-up, tests). */
	hg_policy_now = c;
	hg_policy_q.decay_q16 = hg_q16(c.decay);
	if (hg_policy_q.decay_q16 == 0)
		hg_policy_q.decay_q16 = 1;
	hg_policy_q.demote_q16 = hg_q16(c.demote_rate);
}

/* ---------------------------------------------------- time and randomness */

static uint64_t hg_clock_cycles(void)
{
	return hg_cycles();
}

/*
 * The parallelism a lock-tier choice gives up: threads that use hg_run,
 * at most the CPUs online (docs/design.md, "Instrumented sites: the
 * three-tier policy").
 */
static unsigned hg_clock_ncpu(void)
{
	static uint32_t ncpu; /* relaxed: idempotent cache */
	uint32_t c = hg_atomic_load_relaxed32(&ncpu);
	if (!c) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		c = n > 0 ? (uint32_t)n : 1;
		hg_atomic_store_relaxed32(&ncpu, c);
	}
	return c;
}

static unsigned hg_clock_parallelism(void)
{
	unsigned c = hg_clock_ncpu();
	unsigned t = hg_stm_thread_count();
	return t < 1 ? 1 : t > c ? c : t;
}

/* The same for an elided lock: live threads that have entered a section of it. */
static unsigned hg_clock_lock_parallelism(uint32_t lock_id)
{
	unsigned c = hg_clock_ncpu();
	unsigned t = hg_site_lock_threads(lock_id);
	return t < 1 ? 1 : t > c ? c : t;
}

/*
 * Cycles per second: the cycle counter against CLOCK_MONOTONIC, from the
 * first call to the first call at least HG_HZ_SPAN_NS later (0 before):
 * over 2 ms, two nanosecond clocks read a few tens of ns apart agree to
 * about 1e-4, far finer than a length needs.
 * The start pair is set once (pthread_once, which also publishes it); the
 * result is cached with relaxed stores of its bits, since any thread that
 * computes it computes nearly the same value and a reader that misses the
 * cache only computes it again.  clock_gettime is a vDSO read: no system
 * call, and the callers run outside transactions anyway.
 */
#define HG_HZ_SPAN_NS 2000000ull
static pthread_once_t hg_hz_once = PTHREAD_ONCE_INIT;
static uint64_t hg_hz_c0, hg_hz_ns0, hg_hz_bits;

static uint64_t hg_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void hg_hz_start(void)
{
	hg_hz_ns0 = hg_mono_ns();
	hg_hz_c0 = hg_cycles();
}

static double hg_clock_hz(void)
{
	uint64_t bits = hg_atomic_load_relaxed64(&hg_hz_bits);
	double hz;
	if (HG_LIKELY(bits)) {
		memcpy(&hz, &bits, sizeof hz);
		return hz;
	}
	pthread_once(&hg_hz_once, hg_hz_start);
	uint64_t ns = hg_mono_ns(), c = hg_cycles();
	if (ns - hg_hz_ns0 < HG_HZ_SPAN_NS || c <= hg_hz_c0)
		return 0;
	hz = (double)(c - hg_hz_c0) * 1e9 / (double)(ns - hg_hz_ns0);
	memcpy(&bits, &hz, sizeof bits);
	hg_atomic_store_relaxed64(&hg_hz_bits, bits);
	return hz;
}

static const struct hg_policy_clock hg_clock_real = {
	.cycles = hg_clock_cycles,
	.random = hg_rand,
	.parallelism = hg_clock_parallelism,
	.hz = hg_clock_hz,
	.lock_parallelism = hg_clock_lock_parallelism,
};
const struct hg_policy_clock *hg_policy_clock_now = &hg_clock_real;

void hg_policy_set_clock(const struct hg_policy_clock *c)
{
	hg_policy_clock_now = c ? c : &hg_clock_real;
}

/* ------------------------------------------------ instrumented-site state */


HG_TLS struct hg_open_sample hg_policy_open;

static void hg_cost_reset(struct hg_policy_cost *c)
{
	memset(c, 0, sizeof *c);
	c->probe = HG_TIER_COUNT;
	c->from = HG_TIER_COUNT;
}

static struct hg_policy_cost *hg_cost_alloc(void)
{
	/* Own cache lines: the fast path writes it on every section. */
	size_t sz = (sizeof(struct hg_policy_cost) + HG_CACHELINE - 1) & ~(size_t)(HG_CACHELINE - 1);
	struct hg_policy_cost *c = aligned_alloc(HG_CACHELINE, sz);
	if (!c) {
		hg_warn("out of memory allocating hg_run policy state");
		abort();
	}
	hg_cost_reset(c);
	return c;
}

/* ------------------------------------------------------- record lifecycle */

void hg_policy_site_init(struct hg_site_policy *p)
{
	memset(p, 0, sizeof *p);
	p->tier = HG_TIER_HTM;
	p->reprobe_period = hg_policy_now.reprobe_base;
}

void hg_policy_site_reset(struct hg_site_policy *p)
{
	struct hg_policy_cost *c = p->cost;
	struct hg_policy_lcost *lc = p->lcost;
	if (hg_policy_open.rec && &hg_policy_open.rec->pol == p)
		hg_policy_open.rec = NULL;
	hg_policy_site_init(p);
	if (c) {
		hg_cost_reset(c);
		p->cost = c;
	}
	if (lc) {
		memset(lc, 0, sizeof *lc);
		p->lcost = lc;
	}
}

void hg_policy_site_fini(struct hg_site_policy *p)
{
	if (hg_policy_open.rec && &hg_policy_open.rec->pol == p)
		hg_policy_open.rec = NULL;
	free(p->cost);
	p->cost = NULL;
	p->fast = 0;
	free(p->lcost);
	p->lcost = NULL;
}

/* ------------------------------------------------------------- moves */

/*
 * Moves rec to tier `to` for reason why, counted as a demotion (down the
 * tier order) or a promotion (up).  Entering a tier starts its sample count
 * again; entering HTM starts the estimate below the threshold, so a phase
 * that is still bad re-demotes after a handful of attempts rather than at
 * once or never.  Leaving HTM arms the re-probe countdown.
 */
static void hg_policy_move(struct hg_site_rec *rec, enum hg_tier to, enum hg_reason why)
{
	struct hg_site_policy *p = &rec->pol;
	if (p->tier == (uint32_t)to)
		return;
	if ((uint32_t)to > p->tier)
		hg_counter_add(&rec->st.demotions[why], 1);
	else
		hg_counter_add(&rec->st.promotions[why], 1);
	hg_atomic_store_relaxed32(&p->tier, to);
	p->samples = 0;
	if (to == HG_TIER_HTM) {
		hg_atomic_store_relaxed32(&p->rate_q16, hg_policy_q.demote_q16 / 2);
		p->reprobe_period = hg_policy_now.reprobe_base;
		p->skip = 0;
	} else {
		p->reprobe_left = p->reprobe_period;
	}
}

/* Where a site demoted from HTM goes: the STM for an instrumented one. */
static inline enum hg_tier hg_policy_below_htm(const struct hg_site_rec *rec)
{
	return rec->pol.cost ? HG_TIER_STM : HG_TIER_LOCK;
}

static void hg_cost_switch(struct hg_site_rec *rec, enum hg_tier to, enum hg_reason why);
static void hg_lcost_switch(struct hg_site_rec *rec, enum hg_tier to, enum hg_reason why);

/* Demotes an HTM site (abort rate, capacity): the one path for every kind of site. */
static void hg_policy_demote_htm(struct hg_site_rec *rec, enum hg_reason why)
{
	enum hg_tier to = hg_policy_below_htm(rec);
	if (rec->pol.cost)
		hg_cost_switch(rec, to, why);
	else if (rec->pol.lcost)
		hg_lcost_switch(rec, to, why);
	else
		hg_policy_move(rec, to, why);
}

/* ------------------------------------------------- the engine's questions */

enum hg_policy_go hg_policy_enter_slow(struct hg_site_rec *rec)
{
	struct hg_site_policy *p = &rec->pol;
	if (p->tier == HG_TIER_HTM) {
		if (p->skip > 0) {
			p->skip--;
			hg_counter_add(&rec->st.skips, 1);
			return HG_GO_LOCK;
		}
		return HG_GO_SPECULATE;
	}
	if (p->cost) {
		/* hg_run runs speculatively only for an HTM probe burst, whose
		 * first section is one attempt (a re-probe). */
		return p->cost->probe == HG_TIER_HTM && p->cost->probe_n == 0 ? HG_GO_PROBE
		                                                              : HG_GO_SPECULATE;
	}
	if (p->lcost) {
		/* Asked only for an HTM probe burst (hg_policy_lock_pick): its
		 * first section is one attempt. */
		if (p->lcost->phase != HG_LC_PROBE)
			return HG_GO_LOCK;
		if (p->lcost->n[1] == 0 && hg_policy_open.nsec <= 1) {
			hg_counter_add(&rec->st.reprobes, 1);
			return HG_GO_PROBE;
		}
		return HG_GO_SPECULATE;
	}
	if (p->reprobe_left > 0) {
		p->reprobe_left--;
		return HG_GO_LOCK;
	}
	hg_counter_add(&rec->st.reprobes, 1);
	return HG_GO_PROBE;
}

void hg_policy_abort(struct hg_site_rec *rec, bool busy)
{
	/* A busy lock is not the section's fault: it does not raise the rate. */
	if (busy)
		return;
	struct hg_site_policy *p = &rec->pol;
	hg_atomic_store_relaxed32(&p->rate_q16, hg_policy_decay(p->rate_q16, HG_Q16));
	p->samples++;
}

void hg_policy_reprobe_won(struct hg_site_rec *rec)
{
	hg_policy_move(rec, HG_TIER_HTM, HG_REASON_REPROBE);
}

void hg_policy_skip(struct hg_site_rec *rec)
{
	rec->pol.skip = hg_policy_now.skip_other;
}

void hg_policy_capacity(struct hg_site_rec *rec)
{
	if (rec->pol.tier == HG_TIER_HTM)
		hg_policy_demote_htm(rec, HG_REASON_CAPACITY);
}

bool hg_policy_check_rate(struct hg_site_rec *rec)
{
	struct hg_site_policy *p = &rec->pol;
	if (p->tier == HG_TIER_HTM && p->samples >= hg_policy_now.demote_min &&
	    p->rate_q16 > hg_policy_q.demote_q16) {
		hg_policy_demote_htm(rec, HG_REASON_ABORT_RATE);
		return true;
	}
	return false;
}

void hg_policy_probe_lost(struct hg_site_rec *rec)
{
	struct hg_site_policy *p = &rec->pol;
	if (p->tier == HG_TIER_HTM || p->cost || p->lcost)
		return;
	uint32_t n = p->reprobe_period * 2;
	p->reprobe_period = n > hg_policy_now.reprobe_max ? hg_policy_now.reprobe_max : n;
	p->reprobe_left = p->reprobe_period;
}

/* ---------------------------------------------------- transaction length */

/* Aborts that a shorter transaction could have avoided (not a busy lock). */
static inline uint32_t hg_txlen_aborts(const struct hg_site_rec *rec)
{
	return (uint32_t)(rec->st.aborts[HG_CAUSE_CONFLICT] + rec->st.aborts[HG_CAUSE_CAPACITY] +
	    rec->st.aborts[HG_CAUSE_RETRY] + rec->st.aborts[HG_CAUSE_OTHER]);
}

static inline void hg_txlen_set(struct hg_site_rec *rec, uint32_t len)
{
	hg_atomic_store_relaxed32(&rec->pol.txlen, len);
	rec->pol.txlen_aux = ((uint32_t)rec->st.attempts & 0xffffu) | (hg_txlen_aborts(rec) << 16);
}

uint32_t hg_policy_txlen(struct hg_site_rec *rec)
{
	struct hg_site_policy *p = &rec->pol;
	uint32_t len = p->txlen;
	if (hg_txlen_fixed) {
		if (len != hg_txlen_fixed)
			hg_txlen_set(rec, hg_txlen_fixed);
		return hg_txlen_fixed;
	}
	if (HG_UNLIKELY(len == 0)) {
		hg_policy_clock_now->hz(); /* starts the calibration before the first sample */
		hg_txlen_set(rec, HG_TXLEN_INIT);
		return HG_TXLEN_INIT;
	}
	/* Window deltas modulo 2^16: a window never spans that many attempts. */
	uint32_t att = ((uint32_t)rec->st.attempts - p->txlen_aux) & 0xffffu;
	uint32_t ab = (hg_txlen_aborts(rec) - (p->txlen_aux >> 16)) & 0xffffu;
	if (p->tier != HG_TIER_HTM && ab > 0) {
		hg_txlen_set(rec, len > HG_TXLEN_MIN * 2 ? len / 2 : HG_TXLEN_MIN);
	} else if (att >= HG_TXLEN_WINDOW) {
		if (ab * 8 > att)
			len = len > HG_TXLEN_MIN * 2 ? len / 2 : HG_TXLEN_MIN;
		else if (ab == 0)
			len = len < HG_TXLEN_MAX / 2 ? len * 2 : HG_TXLEN_MAX;
		hg_txlen_set(rec, len);
	}
	if (p->txlen_cap && p->txlen > p->txlen_cap)
		hg_txlen_set(rec, p->txlen_cap);
	return p->txlen;
}

/*
 * A sample counts at most HG_YIELD_CLIP times the mean so far: an emulated
 * section (the real GIL held) can include time the thread was descheduled,
 * which a hardware transaction never commits with.
 */
#define HG_YIELD_CLIP 4u
void hg_policy_txlen_sample(struct hg_site_rec *rec, uint32_t yields, uint64_t cycles)
{
	struct hg_site_policy *p = &rec->pol;
	if (yields == 0)
		return;
	uint64_t per = cycles / yields, mean = p->yield_cyc;
	if (per == 0)
		per = 1;
	if (mean == 0) {
		mean = per;
	} else {
		if (per > mean * HG_YIELD_CLIP)
			per = mean * HG_YIELD_CLIP;
		/* decaying mean, the newest sample weighing 1/8 */
		mean = per >= mean ? mean + (per - mean + 7) / 8 : mean - (mean - per) / 8;
	}
	if (mean > UINT32_MAX)
		mean = UINT32_MAX;
	/* relaxed: the report reads both (one writer) */
	hg_atomic_store_relaxed32(&p->yield_cyc, (uint32_t)mean);
	unsigned us = hg_policy_now.txtime_us;
	double hz = us ? hg_policy_clock_now->hz() : 0;
	uint32_t cap = 0;
	if (hz > 0) {
		double n = (double)us * 1e-6 * hz / (double)mean;
		cap = n >= HG_TXLEN_MAX ? HG_TXLEN_MAX : n < HG_TXLEN_MIN ? HG_TXLEN_MIN : (uint32_t)n;
	}
	hg_atomic_store_relaxed32(&p->txlen_cap, cap);
	if (cap && p->txlen > cap && !hg_txlen_fixed)
		hg_txlen_set(rec, cap);
}

/* ------------------------------------------------- the cost comparison */

static inline uint32_t hg_period_double(uint32_t period)
{
	uint32_t maxp = hg_policy_now.reprobe_max;
	return period < maxp / 2 ? period * 2 : maxp;
}

/* Forgets a cost comparison under way (its samples, its repeated probe). */
static void hg_cost_comparison_reset(struct hg_policy_cost *c)
{
	c->rounds = 0;
	memset(c->acc, 0, sizeof c->acc);
}

/*
 * Moves an instrumented site to `to`.  A phase change (abort rate,
 * capacity) probes again soon; a cost or re-probe win keeps the period, so
 * two tiers of similar cost do not make a site flap, and a win that goes
 * back to the tier the last one left doubles it.  The first probe after a
 * win comes after reprobe_base sections: it checks the win.
 */
static void hg_cost_switch(struct hg_site_rec *rec, enum hg_tier to, enum hg_reason why)
{
	struct hg_policy_cost *c = rec->pol.cost;
	enum hg_tier cur = (enum hg_tier)rec->pol.tier;
	bool phase = why == HG_REASON_ABORT_RATE || why == HG_REASON_CAPACITY;
	bool back = to == c->from;
	if (hg_policy_open.rec == rec)
		hg_policy_open.rec = NULL; /* measured on the tier being left */
	c->from = phase ? HG_TIER_COUNT : cur;
	c->verify = !phase && to != HG_TIER_HTM && cur != HG_TIER_HTM;
	hg_policy_move(rec, to, why);
	c->probe = HG_TIER_COUNT;
	rec->pol.fast = 0;
	c->samples = 0;
	c->cur_n = 0;
	hg_cost_comparison_reset(c);
	c->stm_rate = 0;
	c->htm_fail = 0;
	unsigned base = hg_policy_now.reprobe_base;
	if (phase)
		c->period = base;
	else if (back)
		c->period = hg_period_double(c->period);
	c->left = c->period < base ? c->period : base;
}

/*
 * Adds a burst without its largest quarter to acc (count, sum, sum of
 * squares): a section preempted or hit by an interrupt would otherwise
 * decide (sorts s in place; n <= HG_PROBE_BURST).
 */
static void hg_cost_trim_add(uint32_t *s, uint32_t n, double acc[3])
{
	for (uint32_t i = 1; i < n; i++) {
		uint32_t v = s[i], j = i;
		for (; j > 0 && s[j - 1] > v; j--)
			s[j] = s[j - 1];
		s[j] = v;
	}
	uint32_t keep = n - n / 4;
	for (uint32_t i = 0; i < keep; i++) {
		acc[0] += 1;
		acc[1] += s[i];
		acc[2] += (double)s[i] * s[i];
	}
}

enum hg_verdict { HG_VERDICT_WIN, HG_VERDICT_LOSE, HG_VERDICT_MORE };

/*
 * Judges a cost comparison from the samples so far: d = own mean - probed
 * mean * margin, against the standard error of that difference.  The probed
 * tier wins at HG_COST_Z standard errors above zero and loses as far below;
 * in between the bursts cannot tell the tiers apart yet.
 */
static enum hg_verdict hg_cost_judge(const double own[3], const double pr[3], double own_mean)
{
	/* The probed side always holds a whole trimmed burst (12 samples). */
	double mp = pr[1] / pr[0];
	double mc, se2 = 0;
	if (own[0] >= 1) {
		mc = own[1] / own[0];
		if (own[0] >= 2) {
			double vc = own[2] / own[0] - mc * mc, vp = pr[2] / pr[0] - mp * mp;
			double m = HG_COST_MARGIN / 1000.0;
			se2 = (vc > 0 ? vc / own[0] : 0) + (vp > 0 ? vp / pr[0] * m * m : 0);
		}
	} else {
		mc = own_mean; /* no burst on the own tier */
		if (mc <= 0)
			return HG_VERDICT_WIN;
	}
	double d = mc - mp * HG_COST_MARGIN / 1000.0;
	if (d * d <= HG_COST_Z * HG_COST_Z * se2)
		return HG_VERDICT_MORE;
	return d > 0 ? HG_VERDICT_WIN : HG_VERDICT_LOSE;
}

static enum hg_verdict hg_cost_verdict(const struct hg_site_rec *rec)
{
	const struct hg_policy_cost *c = rec->pol.cost;
	return hg_cost_judge(c->acc[0], c->acc[1], (double)c->cost[rec->pol.tier]);
}

static void hg_cost_probe_done(struct hg_site_rec *rec)
{
	struct hg_policy_cost *c = rec->pol.cost;
	enum hg_tier probed = (enum hg_tier)c->probe;
	enum hg_tier cur = (enum hg_tier)rec->pol.tier;
	bool better, check = false;
	c->probe = HG_TIER_COUNT;
	/* An HTM probe loses when more than demote_rate of its burst's
	 * sections ended off the hardware tier; else, under emulation, it
	 * wins, and in mode rtm it is judged on cost like the others. */
	bool htm_ok = probed != HG_TIER_HTM || (uint64_t)c->probe_fail * HG_Q16 <=
	    (uint64_t)hg_policy_q.demote_q16 * (HG_PROBE_WARM + HG_PROBE_BURST);
	if (probed == HG_TIER_HTM && (!htm_ok || !c->rtm)) {
		c->cur_n = 0;
		hg_cost_comparison_reset(c);
		better = htm_ok;
	} else {
		hg_cost_trim_add(c->probe_s, c->probe_n - HG_PROBE_WARM, c->acc[1]);
		hg_cost_trim_add(c->cur_s, c->cur_n, c->acc[0]);
		c->cur_n = 0;
		enum hg_verdict v = hg_cost_verdict(rec);
		if (v == HG_VERDICT_MORE && ++c->rounds < HG_PROBE_ROUNDS) {
			/* Another pair: a warm-up and a burst on the own tier,
			 * then the same tier is probed again. */
			c->left = HG_PROBE_WARM + HG_PROBE_BURST + 1;
			rec->pol.fast = 0;
			return;
		}
		hg_cost_comparison_reset(c);
		if (c->verify && probed == c->from) {
			/* The check of the last win: unless the bursts find the
			 * new tier cheaper, go back. */
			check = true;
			c->verify = 0;
			if (v == HG_VERDICT_MORE)
				v = HG_VERDICT_WIN;
		}
		better = v == HG_VERDICT_WIN;
	}
	if (better) {
		hg_cost_switch(rec, probed, probed < cur ? HG_REASON_REPROBE : HG_REASON_COST);
		if (check)
			c->verify = 0;
		return;
	}
	/* The probe lost: the site stays, and probes again after a doubled period. */
	c->htm_fail = 0;
	c->period = hg_period_double(c->period);
	c->left = c->period;
}

static void hg_cost_note(uint64_t *cost, uint64_t dt)
{
	/* Decaying mean, weight 1/16, integer cycles. */
	*cost = *cost ? *cost - (*cost >> 4) + (dt >> 4) : dt;
}

static void hg_lcost_sample_close(uint64_t now);

/* Closes the open cost sample at `now` (an hg_run entry of this thread). */
static void hg_cost_sample_close(uint64_t now)
{
	if (hg_policy_open.lock) {
		hg_lcost_sample_close(now);
		return;
	}
	struct hg_site_rec *rec = hg_policy_open.rec;
	struct hg_policy_cost *c = rec->pol.cost;
	hg_policy_open.rec = NULL;
	uint64_t dt = now - hg_policy_open.t0;
	dt = dt > hg_policy_open.sub ? dt - hg_policy_open.sub : 1;
	if (dt < hg_policy_open.hold)
		dt = hg_policy_open.hold;
	if (dt > UINT32_MAX)
		dt = UINT32_MAX;
	if (!c->init)
		return; /* the record was reset since */
	if (hg_policy_open.probe) {
		if (c->probe == HG_TIER_COUNT)
			return;
		/* Still in its burst: only this close ends a burst, and a tier
		 * switch drops the open sample (hg_cost_switch). */
		if (c->probe_n >= HG_PROBE_WARM) {
			hg_cost_note(&c->cost[c->probe], dt);
			c->probe_s[c->probe_n - HG_PROBE_WARM] = (uint32_t)dt;
		}
		c->probe_n++;
		if (c->probe_n >= HG_PROBE_WARM + HG_PROBE_BURST)
			hg_cost_probe_done(rec);
		return;
	}
	/* The burst on the site's own tier just before the probe. */
	if (c->cur_n < HG_PROBE_BURST)
		c->cur_s[c->cur_n++] = (uint32_t)dt;
	hg_cost_note(&c->cost[rec->pol.tier], dt);
}

static void hg_cost_init(struct hg_site_rec *rec, enum hg_htm_mode mode)
{
	struct hg_policy_cost *c = rec->pol.cost;
	/* Without a hardware tier the site starts on the STM (nothing was
	 * demoted, nothing is counted). */
	if (mode == HG_HTM_OFF && rec->pol.tier == HG_TIER_HTM)
		hg_atomic_store_relaxed32(&rec->pol.tier, HG_TIER_STM);
	c->period = hg_policy_now.reprobe_base;
	c->left = c->period;
	c->probe = HG_TIER_COUNT;
	c->init = 1;
}

/* The tier the next adaptive section runs on (the slow path of hg_policy_pick). */
static enum hg_tier hg_cost_pick(struct hg_site_rec *rec, enum hg_htm_mode mode)
{
	struct hg_policy_cost *c = rec->pol.cost;
	if (HG_UNLIKELY(!c->init))
		hg_cost_init(rec, mode);
	c->left += rec->pol.fast;
	rec->pol.fast = 0;
	if (rec->pol.tier == HG_TIER_HTM && mode == HG_HTM_OFF)
		hg_atomic_store_relaxed32(&rec->pol.tier, HG_TIER_STM); /* the lock's mode changed */
	enum hg_tier tier = (enum hg_tier)rec->pol.tier;
	if (c->probe != HG_TIER_COUNT)
		return (enum hg_tier)c->probe;
	if (c->left > 0 && --c->left > 0)
		return tier;
	/* Start a probe burst: down to the lock from STM (cost check), up from
	 * the lock to STM, up to HTM when a mode allows it; in mode rtm from
	 * HTM down to the lock and to the STM (cost checks).  A cost
	 * comparison not yet decided probes the same tier again. */
	if (c->rounds > 0) {
		c->probe = c->last;
		c->probe_n = 0;
		c->probe_fail = 0;
		return (enum hg_tier)c->probe;
	}
	/*
	 * HTM's cost is compared only in mode rtm and with one thread on
	 * hg_run (emulated HTM holds the real lock, so its cost says nothing).
	 * With other threads a lock probe's charge (its holding time times the
	 * parallelism) is only a lower bound of what the lock costs them, and a
	 * probe on any tier makes the other threads' transactions look dearer
	 * (their subscription sees it): there HTM sites leave on aborts only,
	 * and an HTM probe wins when its sections commit.
	 */
	c->rtm = mode == HG_HTM_RTM && hg_policy_clock_now->parallelism() == 1;
	switch (tier) {
	case HG_TIER_STM:
		c->flip ^= 1;
		c->probe = (mode != HG_HTM_OFF && c->flip) ? HG_TIER_HTM : HG_TIER_LOCK;
		break;
	case HG_TIER_LOCK:
		c->flip ^= 1;
		c->probe = (mode != HG_HTM_OFF && c->flip) ? HG_TIER_HTM : HG_TIER_STM;
		break;
	default:
		if (!c->rtm) {
			c->left = c->period;
			return tier;
		}
		c->flip ^= 1;
		c->probe = c->flip ? HG_TIER_LOCK : HG_TIER_STM;
		break;
	}
	c->last = c->probe;
	c->probe_n = 0;
	c->probe_fail = 0;
	if (c->probe < tier)
		hg_counter_add(&rec->st.reprobes, 1);
	return (enum hg_tier)c->probe;
}

void hg_policy_pick_slow(struct hg_site_rec *rec, enum hg_htm_mode mode, enum hg_tier forced,
    struct hg_policy_ticket *t)
{
	/* This entry ends the thread's open cost sample, if any. */
	uint64_t now = 0;
	if (HG_UNLIKELY(hg_policy_open.rec != NULL)) {
		now = hg_policy_cycles();
		hg_cost_sample_close(now);
	}
	t->fast = false;
	t->sample = false;
	t->par = 1;
	t->t0 = now;
	if (forced != HG_TIER_ADAPTIVE) {
		t->tier = forced;
		t->adaptive = false;
		return;
	}
	t->adaptive = true;
	if (HG_UNLIKELY(rec->pol.cost == NULL))
		rec->pol.cost = hg_cost_alloc();
	struct hg_policy_cost *c = rec->pol.cost;
	if (HG_LIKELY(rec->pol.fast > 0) && (rec->pol.tier != HG_TIER_HTM || mode != HG_HTM_OFF)) {
		rec->pol.fast--;
		t->tier = (enum hg_tier)rec->pol.tier;
		t->fast = true;
		return;
	}
	t->tier = hg_cost_pick(rec, mode);
	/* The policy times every section of a probe burst and of the burst on
	 * the site's own tier just before it. */
	t->sample = c->probe != HG_TIER_COUNT || c->left <= HG_PROBE_BURST;
	if (t->sample) {
		if (c->probe == HG_TIER_LOCK)
			t->par = hg_policy_clock_now->parallelism();
		if (!now)
			t->t0 = hg_policy_cycles();
	}
}

/*
 * When the site is quiet (no probe, and no abort rate of its own tier being
 * tracked), the sections up to the burst before the next probe may take
 * the fast path, which accounts nothing unless a section aborted or ended
 * on another tier: a quiet site has no rate that a clean section could
 * move, so skipping the accounting changes no decision.  Only the site's
 * tier's rate counts: a software rate left by a lost STM probe of a site
 * on the lock moves only when the STM runs again (the next probe), so it
 * must not keep every lock section on the accounted path until then.
 */
static inline void hg_cost_fast_grant(struct hg_site_rec *rec)
{
	struct hg_policy_cost *c = rec->pol.cost;
	uint32_t all = c->left + rec->pol.fast;
	uint32_t rate = rec->pol.tier == HG_TIER_STM ? c->stm_rate :
	    rec->pol.tier == HG_TIER_HTM ? c->htm_fail : 0;
	if (c->probe == HG_TIER_COUNT && rate == 0 && all > HG_PROBE_BURST + 1) {
		rec->pol.fast = all - (HG_PROBE_BURST + 1);
		c->left = HG_PROBE_BURST + 1;
	} else {
		rec->pol.fast = 0;
		c->left = all;
	}
}

void hg_policy_account_slow(struct hg_site_rec *rec, const struct hg_policy_ticket *t,
    enum hg_tier used, unsigned stm_aborts, uint64_t wait_cycles, uint64_t t1)
{
	if (stm_aborts)
		hg_counter_add(&rec->st.stm_aborts, stm_aborts);
	if (!t->adaptive || (t->fast && used == t->tier && stm_aborts == 0))
		return;
	struct hg_policy_cost *c = rec->pol.cost;
	enum hg_tier picked = t->tier;
	if (picked == HG_TIER_HTM && rec->pol.tier != HG_TIER_HTM && c->probe != HG_TIER_HTM) {
		/* The engine demoted the site during this section
		 * (hg_policy_demote_htm): the switch reset its state. */
		hg_cost_fast_grant(rec);
		return;
	}
	if (t->sample) {
		hg_policy_open.rec = rec;
		hg_policy_open.t0 = t->t0;
		hg_policy_open.probe = c->probe != HG_TIER_COUNT;
		hg_policy_open.lock = false;
		hg_policy_open.sub = 0;
		hg_policy_open.hold = 0;
		if (hg_policy_open.probe) {
			/* A probe measures a tier the other threads are not on
			 * (docs/design.md, "Instrumented sites: the three-tier
			 * policy"). */
			hg_policy_open.sub = wait_cycles;
			if (t->par > 1 && t1 - t->t0 > wait_cycles)
				hg_policy_open.hold = (t1 - t->t0 - wait_cycles) * t->par;
		}
	}
	if (picked == HG_TIER_STM) {
		/* Software abort rate: aborted attempts over attempts.  The common
		 * case (no abort, rate already 0) costs one test. */
		if (stm_aborts || c->stm_rate) {
			uint32_t frac = stm_aborts ? (uint32_t)(((uint64_t)stm_aborts * HG_Q16) /
			    (stm_aborts + (used == HG_TIER_STM))) : 0;
			c->stm_rate = hg_policy_decay(c->stm_rate, frac);
		}
	} else if (picked == HG_TIER_HTM) {
		if (used != HG_TIER_HTM || c->htm_fail)
			c->htm_fail = hg_policy_decay(c->htm_fail, used != HG_TIER_HTM ? HG_Q16 : 0);
		if (c->probe == HG_TIER_HTM && used != HG_TIER_HTM) {
			c->probe_fail++;
			if (c->probe_n == 0) {
				/* The burst's first section, a single attempt,
				 * did not commit: the probe is lost at once. */
				hg_policy_open.rec = NULL;
				c->probe_fail = HG_PROBE_WARM + HG_PROBE_BURST;
				hg_cost_probe_done(rec);
				hg_cost_fast_grant(rec);
				return;
			}
		}
	}
	if (c->probe == HG_TIER_COUNT) {
		/* Abort-driven demotions; a probe burst is judged by its cost
		 * when it ends. */
		c->samples++;
		const unsigned min = hg_policy_now.demote_min;
		const uint32_t thr = hg_policy_q.demote_q16;
		if (rec->pol.tier == HG_TIER_HTM) {
			if (c->samples >= min && c->htm_fail > thr)
				hg_cost_switch(rec, HG_TIER_STM, HG_REASON_ABORT_RATE);
		} else if (rec->pol.tier == HG_TIER_STM) {
			if (c->samples >= min && c->stm_rate > thr)
				hg_cost_switch(rec, HG_TIER_LOCK, HG_REASON_ABORT_RATE);
		}
	}
	hg_cost_fast_grant(rec);
}

/* ----------------------------- elided-lock sites: the cost of each tier */

static struct hg_policy_lcost *hg_lcost_get(struct hg_site_rec *rec)
{
	struct hg_policy_lcost *c = rec->pol.lcost;
	if (HG_LIKELY(c != NULL))
		return c;
	/* Own cache lines, apart from the record's hot fields. */
	size_t sz = (sizeof *c + HG_CACHELINE - 1) & ~(size_t)(HG_CACHELINE - 1);
	c = aligned_alloc(HG_CACHELINE, sz);
	if (!c) {
		hg_warn("out of memory allocating the elided lock's policy state");
		abort();
	}
	memset(c, 0, sizeof *c);
	rec->pol.lcost = c;
	return c;
}

/* Ends the comparison under way; the next starts after `period` sections. */
static void hg_lcost_quiet(struct hg_site_rec *rec)
{
	struct hg_policy_lcost *c = rec->pol.lcost;
	c->phase = HG_LC_QUIET;
	c->rounds = 0;
	c->n[0] = c->n[1] = 0;
	memset(c->acc, 0, sizeof c->acc);
	rec->pol.lquiet = c->period;
}

/*
 * Moves an elided-lock site.  A phase change (abort rate, capacity)
 * compares again after reprobe_base sections, unless it ends a stay on HTM
 * that a cost win began less than reprobe_max sections before; a cost win
 * keeps the period.
 */
static void hg_lcost_switch(struct hg_site_rec *rec, enum hg_tier to, enum hg_reason why)
{
	struct hg_policy_lcost *c = rec->pol.lcost;
	if (hg_policy_open.rec == rec)
		hg_policy_open.rec = NULL; /* measured on the tier being left */
	bool demoted = why == HG_REASON_ABORT_RATE || why == HG_REASON_CAPACITY;
	if (demoted && c->htm_at != 0 &&
	    rec->st.acquisitions + 1 - c->htm_at < (uint64_t)hg_policy_now.reprobe_max) {
		/* A cost win that the site's aborts undid: the hardware tier
		 * did not hold, so compare less often. */
		c->period = hg_period_double(c->period);
	} else if (demoted || c->period == 0) {
		c->period = hg_policy_now.reprobe_base; /* a phase change */
	}
	hg_policy_move(rec, to, why);
	c->htm_at = to == HG_TIER_HTM && why == HG_REASON_COST ? rec->st.acquisitions + 1 : 0;
	c->verify = 0;
	hg_lcost_quiet(rec);
}

static inline enum hg_tier hg_lcost_other(enum hg_tier t)
{
	return t == HG_TIER_HTM ? HG_TIER_LOCK : HG_TIER_HTM;
}

static void hg_lcost_probe_done(struct hg_site_rec *rec)
{
	struct hg_policy_lcost *c = rec->pol.lcost;
	hg_cost_trim_add(c->s[1], c->n[1] - HG_PROBE_WARM, c->acc[1]);
	hg_cost_trim_add(c->s[0], c->n[0], c->acc[0]);
	enum hg_verdict v = hg_cost_judge(c->acc[0], c->acc[1], 0);
	if (v == HG_VERDICT_MORE && ++c->rounds < HG_PROBE_ROUNDS) {
		/* Another pair of bursts, own tier first. */
		c->phase = HG_LC_OWN;
		c->n[0] = c->n[1] = 0;
		return;
	}
	enum hg_tier other = hg_lcost_other((enum hg_tier)rec->pol.tier);
	if (c->verify) {
		/* The check of the last win: unless the tier it left is measured
		 * dearer, go back (not checked itself), and compare less often. */
		if (v != HG_VERDICT_LOSE) {
			c->period = hg_period_double(c->period);
			hg_lcost_switch(rec, other, HG_REASON_COST);
		} else {
			c->verify = 0;
			hg_lcost_quiet(rec);
		}
		return;
	}
	if (v == HG_VERDICT_WIN) {
		/* A win is checked soon: a noisy spell then costs reprobe_base
		 * sections, not a period. */
		hg_lcost_switch(rec, other, HG_REASON_COST);
		c->verify = 1;
		rec->pol.lquiet = hg_policy_now.reprobe_base;
		return;
	}
	/* The own tier is not dearer: compare again after a doubled period. */
	c->period = hg_period_double(c->period);
	hg_lcost_quiet(rec);
}

static void hg_lcost_sample_close(uint64_t now)
{
	struct hg_site_rec *rec = hg_policy_open.rec;
	struct hg_policy_lcost *c = rec->pol.lcost;
	hg_policy_open.rec = NULL;
	uint64_t dt = now - hg_policy_open.t0;
	if (dt < hg_policy_open.hold)
		dt = hg_policy_open.hold;
	/* Per section of the group (another entry may have ended it early). */
	dt /= hg_policy_open.nsec ? hg_policy_open.nsec : 1;
	if (dt > UINT32_MAX)
		dt = UINT32_MAX;
	/* A sample of a phase that has ended since (reset, switch) is dropped. */
	if (!c || c->phase == HG_LC_QUIET || hg_policy_open.probe != (c->phase == HG_LC_PROBE))
		return;
	if (!hg_policy_open.probe) {
		if (c->n[0] < HG_PROBE_BURST)
			c->s[0][c->n[0]++] = (uint32_t)dt;
		return;
	}
	if (c->n[1] >= HG_PROBE_WARM)
		c->s[1][c->n[1] - HG_PROBE_WARM] = (uint32_t)dt;
	if (++c->n[1] >= HG_PROBE_WARM + HG_PROBE_BURST)
		hg_lcost_probe_done(rec);
}

/* The parallelism a lock-tier section of rec is charged for. */
static unsigned hg_lcost_par(const struct hg_site_rec *rec)
{
	const struct hg_policy_clock *k = hg_policy_clock_now;
	return k->lock_parallelism ? k->lock_parallelism(rec->lock_id) : k->parallelism();
}

void hg_policy_close_open(void)
{
	if (hg_policy_open.rec != NULL)
		hg_cost_sample_close(hg_policy_cycles());
}

enum hg_tier hg_policy_lock_pick(struct hg_site_rec *rec, bool *sampled)
{
	uint64_t now = 0;
	if (hg_policy_open.rec == rec && hg_policy_open.lock &&
	    hg_policy_open.nsec < HG_LC_GROUP) {
		/* The next section of the sample's group: no stamp. */
		hg_policy_open.nsec++;
		enum hg_tier t = (enum hg_tier)rec->pol.tier;
		*sampled = true;
		return hg_policy_open.probe ? hg_lcost_other(t) : t;
	}
	if (hg_policy_open.rec != NULL) {
		now = hg_policy_cycles();
		hg_cost_sample_close(now);
	}
	struct hg_policy_lcost *c = hg_lcost_get(rec);
	if (HG_UNLIKELY(c->period == 0)) {
		/* New, or reset with its record (hg_stats_reset). */
		c->period = hg_policy_now.reprobe_base;
		rec->pol.lquiet = c->period;
	}
	enum hg_tier tier = (enum hg_tier)rec->pol.tier;
	*sampled = false;
	if (c->phase == HG_LC_QUIET) {
		if (rec->pol.lquiet > 0) {
			rec->pol.lquiet--;
			return tier;
		}
		c->phase = HG_LC_OWN;
		c->n[0] = 0;
	}
	if (c->phase == HG_LC_OWN && c->n[0] >= HG_PROBE_BURST) {
		c->phase = HG_LC_PROBE;
		c->n[1] = 0;
	}
	bool probe = c->phase == HG_LC_PROBE;
	hg_policy_open.rec = rec;
	hg_policy_open.t0 = now ? now : hg_policy_cycles();
	hg_policy_open.probe = probe;
	hg_policy_open.lock = true;
	hg_policy_open.sub = 0;
	hg_policy_open.hold = 0;
	hg_policy_open.t1 = 0;
	hg_policy_open.par = 1;
	hg_policy_open.nsec = 1;
	enum hg_tier run = probe ? hg_lcost_other(tier) : tier;
	if (run == HG_TIER_LOCK)
		hg_policy_open.par = hg_lcost_par(rec);
	*sampled = true;
	return run;
}

void hg_policy_lock_entered(struct hg_site_rec *rec, enum hg_tier picked, enum hg_tier got)
{
	if (hg_policy_open.rec != rec || got != HG_TIER_LOCK)
		return;
	struct hg_policy_lcost *c = rec->pol.lcost;
	if (picked == HG_TIER_HTM && c->phase == HG_LC_PROBE && c->n[1] == 0 &&
	    hg_policy_open.nsec == 1 && rec->pol.tier != HG_TIER_HTM) {
		/* The HTM probe's first section, one attempt, did not commit:
		 * the probe is lost at once. */
		hg_policy_open.rec = NULL;
		c->period = hg_period_double(c->period);
		hg_lcost_quiet(rec);
		return;
	}
	if (picked == HG_TIER_HTM)
		hg_policy_open.par = hg_lcost_par(rec); /* ended on the lock: charged as a lock pick */
	/* Alone, the holding time adds nothing to the sample: no stamps. */
	if (hg_policy_open.par > 1)
		hg_policy_open.t1 = hg_policy_cycles();
}

void hg_policy_lock_released(struct hg_site_rec *rec)
{
	if (hg_policy_open.rec != rec || !hg_policy_open.lock || hg_policy_open.t1 == 0)
		return;
	hg_policy_open.hold += (hg_policy_cycles() - hg_policy_open.t1) * hg_policy_open.par;
	hg_policy_open.t1 = 0;
}
