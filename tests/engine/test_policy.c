/* SPDX-License-Identifier: MIT */
/*
 * tests/engine/test_policy.c - the policy (engine/policy.c), driven
 * deterministically: the policy's clock is replaced by a counter that the
 * section bodies advance by what their tier is made to cost, so every
 * decision follows from the costs below and from fixed seeds, never from
 * how fast this machine runs.  Results are read through the public
 * statistics (hg_stats_get); the hardware tier runs emulated with seeded
 * injection.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hg_fake_clock.h"
#include "hg_test.h"
#include "htmgil/htmgil.h"
#include "engine/engine.h"
#include "engine/policy.h"
#include "engine/site.h"
#include "engine/trace.h"
#include "htm/status.h"

/* ------------------------------------------------------------ the clock */

static unsigned fake_par = 1;

static unsigned fake_parallelism(void)
{
	return fake_par;
}

static double fake_hz_now = 1e9; /* one fake cycle per nanosecond */

static double fake_hz(void)
{
	return fake_hz_now;
}

static const struct hg_policy_clock fake_clock = {
	.cycles = fake_cycles,
	.random = fake_random,
	.parallelism = fake_parallelism,
	.hz = fake_hz,
};

/* The costs a section is made to have, per tier, in fake cycles. */
static uint64_t cost_of[HG_TIER_COUNT];
/* Extra cost of every stall_every-th software section (0: none). */
static unsigned stall_every;
static uint64_t stall_cost;
static unsigned stm_sections;
/* Noise: each section costs a uniform fraction 0..2 of its tier's cost. */
static int noisy;
static uint64_t noise_rng = 0x2545F4914F6CDD1Dull;

static void cost_body(struct hg_tx *tx, void *p)
{
	uint64_t *x = p;
	uint64_t v = hg_load64(tx, x);
	int t = hg_tx_tier(tx);
	uint64_t c = cost_of[t];
	if (noisy) {
		noise_rng ^= noise_rng << 13;
		noise_rng ^= noise_rng >> 7;
		noise_rng ^= noise_rng << 17;
		c = c * (noise_rng % 2001) / 1000;
	}
	if (t == HG_TIER_STM && stall_every && ++stm_sections % stall_every == 0)
		c += stall_cost;
	fake_now += c;
	*x = v; /* unchanged: no shared write */
}

static struct hg_lock L;

static void costs(uint64_t stm, uint64_t lock)
{
	cost_of[HG_TIER_HTM] = 100;
	cost_of[HG_TIER_STM] = stm;
	cost_of[HG_TIER_LOCK] = lock;
}

/* n sections of body on site, each after the caller's own work. */
static void run_body(uint64_t site, hg_body_fn body, int n)
{
	static uint64_t x;
	for (int i = 0; i < n; i++) {
		fake_now += 50; /* the caller's own work between sections */
		hg_run(&L, site, body, &x);
	}
}

static void run_n(uint64_t site, int n)
{
	run_body(site, cost_body, n);
}

static struct hg_site_stats stats(const struct hg_lock *l, uint64_t site)
{
	struct hg_site_stats s;
	hg_stats_get(l, site, &s);
	return s;
}

/* ---------------------------------------------------------- abort rate */

/*
 * Invalidates the running software attempt that read v from *x: another
 * party's commit (x changed, stm_seq moved by 2), which its next read sees.
 */
static void stm_invalidate(struct hg_tx *tx, uint64_t *x, uint64_t v)
{
	__atomic_store_n(x, v + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&L.stm_seq, __atomic_load_n(&L.stm_seq, __ATOMIC_RELAXED) + 2,
	    __ATOMIC_RELEASE);
	(void)hg_load64(tx, x);
}

/* Every software attempt is invalidated. */
static void conflict_body(struct hg_tx *tx, void *p)
{
	uint64_t *x = p;
	uint64_t v = hg_load64(tx, x);
	if (tx->soft)
		stm_invalidate(tx, x, v);
}

static void test_abort_rate_demotes(void)
{
	static uint64_t x;
	uint64_t site = hg_site("policy-aborts");
	for (int i = 0; i < 200; i++)
		hg_run(&L, site, conflict_body, &x);
	struct hg_site_stats s = stats(&L, site);
	HG_EXPECT_EQ(s.demotions[HG_REASON_ABORT_RATE], 1);
	HG_EXPECT(s.stm_aborts > 0);
	HG_EXPECT(s.commits[HG_TIER_LOCK] > 0);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);
	HG_EXPECT_EQ(L.stm_seq & 1u, 0);
}

/* --------------------------------------------------------------- costs */

static void test_cheaper_lock_wins(void)
{
	/* The STM four times dearer than the lock: the cost probe moves the site. */
	uint64_t site = hg_site("policy-cost");
	costs(4000, 1000);
	run_n(site, 2000);
	struct hg_site_stats s = stats(&L, site);
	HG_EXPECT_EQ(s.demotions[HG_REASON_COST], 1);
	HG_EXPECT(s.commits[HG_TIER_STM] > 0);
	HG_EXPECT(s.commits[HG_TIER_LOCK] > s.commits[HG_TIER_STM]);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);
}

/*
 * The lock tier costs 1000 on the path settled sections take (stm_seq
 * alone) and 6000 where a section holds the mutex (the engine's path): the
 * cost probe must measure the path the site would run on, or the STM (2000)
 * would look cheaper.
 */
static void path_body(struct hg_tx *tx, void *p)
{
	uint64_t *x = p;
	uint64_t v = hg_load64(tx, x);
	int t = hg_tx_tier(tx);
	if (t == HG_TIER_LOCK)
		fake_now += __atomic_load_n(&L.mutex.word, __ATOMIC_RELAXED) ? 6000 : 1000;
	else
		fake_now += 2000;
	*x = v;
}

static void test_lock_probe_measures_fast_path(void)
{
	uint64_t site = hg_site("policy-lock-path");
	run_body(site, path_body, 2000);
	struct hg_site_stats s = stats(&L, site);
	HG_EXPECT_EQ(s.demotions[HG_REASON_COST], 1);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);
}

static void test_settled_lock_reprobes(void)
{
	/* Settled on the lock, the site's sections take hg_run's quick path;
	 * they must still count towards the next probe of the STM, whose
	 * period doubles each time the lock stays cheaper. */
	uint64_t site = hg_site("policy-lock-reprobes");
	costs(4000, 1000);
	run_n(site, 2000);
	HG_ASSERT_EQ(stats(&L, site).tier_now, HG_TIER_LOCK);
	uint64_t probes = stats(&L, site).reprobes;
	run_n(site, 20000);
	struct hg_site_stats s = stats(&L, site);
	/* Periods 64 * 2^k from the settling on: four probes in 20000 (a
	 * quick path that did not count would leave one or two). */
	HG_EXPECT(s.reprobes - probes >= 3);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);
}

/*
 * A site settled on the lock whose STM probes abort (every other software
 * attempt is invalidated): the software rate they leave moves only when the
 * STM runs again, so it must not keep the lock's sections off the quiet
 * path between probes.  Sampled after each section: outstanding quiet
 * tickets most of the time (none at all would mean every section was
 * accounted).
 */
static unsigned flip_attempt;
static void flip_body(struct hg_tx *tx, void *p)
{
	uint64_t *x = p;
	uint64_t v = hg_load64(tx, x);
	int t = hg_tx_tier(tx);
	fake_now += t == HG_TIER_LOCK ? 1000 : 4000;
	if (tx->soft && (flip_attempt ^= 1))
		stm_invalidate(tx, x, v);
}

static void test_lock_quiet_after_stm_aborts(void)
{
	uint64_t site = hg_site("policy-lock-quiet");
	run_body(site, flip_body, 3000);
	struct hg_site_stats s0 = stats(&L, site);
	HG_ASSERT_EQ(s0.tier_now, HG_TIER_LOCK);
	struct hg_site_rec *rec = hg_site_rec_get(L.id, site);
	unsigned quiet = 0, n = 20000;
	for (unsigned i = 0; i < n; i++) {
		run_body(site, flip_body, 1);
		quiet += rec->pol.fast > 0;
	}
	struct hg_site_stats s = stats(&L, site);
	HG_EXPECT(s.stm_aborts > s0.stm_aborts); /* the probes did abort */
	HG_EXPECT(s.reprobes > s0.reprobes);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);
	HG_EXPECT(quiet > n / 2);
}

static void test_cheaper_stm_stays(void)
{
	uint64_t site = hg_site("policy-stm-cheap");
	costs(1000, 4000);
	run_n(site, 3000);
	struct hg_site_stats s = stats(&L, site);
	HG_EXPECT(s.commits[HG_TIER_LOCK] > 0); /* the lock was probed */
	HG_EXPECT_EQ(s.demotions[HG_REASON_COST], 0);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_STM);
}

static void test_margin(void)
{
	/* The lock 2 % cheaper: within the margin (4 %), so the site stays. */
	uint64_t site = hg_site("policy-margin");
	costs(1020, 1000);
	run_n(site, 3000);
	HG_EXPECT_EQ(stats(&L, site).demotions[HG_REASON_COST], 0);
	/* 10 % cheaper: beyond it. */
	uint64_t site2 = hg_site("policy-margin-2");
	costs(1100, 1000);
	run_n(site2, 3000);
	HG_EXPECT_EQ(stats(&L, site2).demotions[HG_REASON_COST], 1);
}

/* n sections of a site cheap on the STM (1000) and dear on the lock (20000),
 * except every `every`-th software section, which stalls for `stall`. */
static struct hg_site_stats stalled_site(const char *name, unsigned every, uint64_t stall, int n)
{
	uint64_t site = hg_site(name);
	costs(1000, 20000);
	stall_every = every;
	stall_cost = stall;
	run_n(site, n);
	stall_every = 0;
	return stats(&L, site);
}

static void test_outlier(void)
{
	/* One section in 16 stalls as a preempted one would: the stall must
	 * not make the lock look cheaper. */
	struct hg_site_stats s = stalled_site("policy-outlier", 16, 8000000, 1500);
	HG_EXPECT_EQ(s.demotions[HG_REASON_COST], 0);
	HG_EXPECT(s.commits[HG_TIER_LOCK] > 0);
	HG_EXPECT(s.commits[HG_TIER_STM] > 10 * s.commits[HG_TIER_LOCK]);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_STM);
}

static void test_stalls(void)
{
	/* A stall in every 6th software section: up to 3 of a burst's 16. */
	struct hg_site_stats s = stalled_site("policy-stalls", 6, 2000000, 600);
	HG_EXPECT_EQ(s.demotions[HG_REASON_COST], 0);
	HG_EXPECT(s.commits[HG_TIER_LOCK] > 0);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_STM);
}

static void test_lock_probe_charged_parallelism(void)
{
	/* The lock probe holds the lock for 600 against 1000 on the STM: cheaper
	 * for one thread, dearer once 4 threads would queue on it. */
	uint64_t site = hg_site("policy-par");
	costs(1000, 600);
	fake_par = 4;
	run_n(site, 2000);
	fake_par = 1;
	struct hg_site_stats s = stats(&L, site);
	HG_EXPECT_EQ(s.demotions[HG_REASON_COST], 0);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_STM);
}

/* --------------------------------------------------------------- noise */

static void with_period(unsigned base, unsigned max, struct hg_policy *saved)
{
	struct hg_policy p;
	hg_policy_get(saved);
	p = *saved;
	p.reprobe_base = base;
	p.reprobe_max = max;
	hg_policy_set(&p);
}

/* n sections, or fewer when the site reaches tier `until` (>= 0). */
static void noisy_phase(uint64_t site, uint64_t stm, uint64_t lock, int n, int until)
{
	struct hg_policy saved;
	with_period(64, 64, &saved);
	costs(stm, lock);
	noisy = 1;
	for (int i = 0; i < n; i++) {
		if (until >= 0 && stats(&L, site).tier_now == (uint32_t)until)
			break;
		run_n(site, 1);
	}
	noisy = 0;
	hg_policy_set(&saved);
}

static void test_noisy_equal(void)
{
	/* Equal tiers under heavy noise: every move would be one the noise made. */
	uint64_t site = hg_site("policy-noisy-equal");
	noisy_phase(site, 1000, 1000, 3000, -1);
	struct hg_site_stats s = stats(&L, site);
	HG_EXPECT(s.commits[HG_TIER_LOCK] > 0);
	HG_EXPECT(s.demotions[HG_REASON_COST] + s.promotions[HG_REASON_REPROBE] <= 2);
}

static void test_noisy_decides(void)
{
	/* The same noise, the STM twice as dear: the comparison still decides. */
	uint64_t site = hg_site("policy-noisy-decides");
	noisy_phase(site, 2000, 1000, 3000, -1);
	struct hg_site_stats s = stats(&L, site);
	HG_EXPECT(s.demotions[HG_REASON_COST] >= 1);
	HG_EXPECT(s.commits[HG_TIER_LOCK] > s.commits[HG_TIER_STM]);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);
}

static void test_win_checked(void)
{
	/* A site on the lock moves to the STM while the lock is dear for a
	 * spell; afterwards the STM is 10 % dearer, which the noisy bursts
	 * cannot tell apart: the check of the win must send the site back. */
	uint64_t site = hg_site("policy-win-checked");
	noisy_phase(site, 3000, 1000, 2000, HG_TIER_LOCK);
	noisy_phase(site, 3000, 1000, 500, -1);
	HG_ASSERT_EQ(stats(&L, site).tier_now, HG_TIER_LOCK);
	noisy_phase(site, 1100, 3000, 2000, HG_TIER_STM);
	HG_ASSERT_EQ(stats(&L, site).tier_now, HG_TIER_STM);
	uint64_t stm0 = stats(&L, site).commits[HG_TIER_STM];
	noisy_phase(site, 1100, 1000, 600, -1);
	struct hg_site_stats s = stats(&L, site);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);
	HG_EXPECT(s.commits[HG_TIER_STM] - stm0 < 450);
}

/* ------------------------------------------------- the quiet fast path */

static int settled_conflict;

static void settled_body(struct hg_tx *tx, void *p)
{
	if (hg_tx_tier(tx) == HG_TIER_LOCK)
		fake_now += 100000; /* the lock loses every cost probe */
	else
		fake_now += 1000;
	if (tx->soft && settled_conflict > 0) {
		settled_conflict--;
		conflict_body(tx, p);
	}
}

static void test_settled_reacts(void)
{
	/* A site settled on the STM runs on the fast path; when its sections
	 * start to abort (a rate of 2/3 or more, above 0.5) it must still be
	 * demoted on the abort rate. */
	static uint64_t x;
	uint64_t site = hg_site("policy-settled");
	for (int i = 0; i < 5000; i++)
		hg_run(&L, site, settled_body, &x);
	struct hg_site_stats s = stats(&L, site);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_STM);
	HG_EXPECT_EQ(s.demotions[HG_REASON_ABORT_RATE], 0);
	uint64_t lock_before = s.commits[HG_TIER_LOCK];
	for (int i = 0; i < 100; i++) {
		settled_conflict = 3;
		hg_run(&L, site, settled_body, &x);
	}
	settled_conflict = 0;
	s = stats(&L, site);
	HG_EXPECT_EQ(s.demotions[HG_REASON_ABORT_RATE], 1);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);
	HG_EXPECT(s.commits[HG_TIER_LOCK] > lock_before);
}

/* ------------------------------------------------------ one set of knobs */

static void test_zero_knobs_mean_zero(void)
{
	/*
	 * demote_rate=0 and demote_min=0 mean "any abort demotes at once" on
	 * every kind of site: the first aborted software section demotes an
	 * instrumented site, as the first aborted attempt demotes an elided one.
	 */
	static uint64_t x;
	struct hg_policy saved, p;
	hg_policy_get(&saved);
	p = saved;
	p.demote_rate = 0;
	p.demote_min = 0;
	hg_policy_set(&p);
	uint64_t site = hg_site("policy-zero-stm");
	costs(1000, 1000);
	run_n(site, 3);
	settled_conflict = 1;
	hg_run(&L, site, settled_body, &x);
	settled_conflict = 0;
	struct hg_site_stats s = stats(&L, site);
	HG_EXPECT_EQ(s.demotions[HG_REASON_ABORT_RATE], 1);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);

	struct hg_lock le;
	hg_lock_init(&le, "policy-zero-emu");
	HG_ASSERT(hg_lock_set_mode(&le, HG_HTM_EMU) == 0);
	HG_ASSERT(hg_emu_configure("conflict=0.5,seed=3") == 0);
	uint64_t s2 = hg_site("policy-zero-elided");
	for (int i = 0; i < 50; i++) {
		hg_lock_acquire(&le, s2);
		hg_lock_release(&le);
	}
	struct hg_site_stats e = stats(&le, s2);
	HG_EXPECT(e.demotions[HG_REASON_ABORT_RATE] >= 1);
	HG_EXPECT(e.aborts[HG_CAUSE_CONFLICT] >= 1);
	HG_ASSERT(hg_emu_configure("") == 0);
	hg_lock_destroy(&le);
	hg_policy_set(&saved);
}

static void test_clamp(void)
{
	/* The one clamp: out-of-range knobs come back in range. */
	struct hg_policy saved, p, got;
	hg_policy_get(&saved);
	p = saved;
	p.retry_capacity = 7;
	p.decay = 0;
	p.demote_rate = 3;
	p.reprobe_base = 0;
	p.reprobe_max = 0;
	p.txtime_us = 5000000;
	hg_policy_set(&p);
	hg_policy_get(&got);
	HG_EXPECT_EQ(got.retry_capacity, 1);
	HG_EXPECT(got.decay > 0 && got.decay <= 1);
	HG_EXPECT(got.demote_rate >= 0 && got.demote_rate <= 1);
	HG_EXPECT(got.reprobe_base >= 1);
	HG_EXPECT(got.reprobe_max >= got.reprobe_base);
	HG_EXPECT_EQ(got.txtime_us, 1000000);
	hg_policy_set(&saved);
}

static int seen_tier = -1;

static void tier_body(struct hg_tx *tx, void *p)
{
	(void)p;
	seen_tier = hg_tx_tier(tx);
}

static void test_reset_resets_policy(void)
{
	/* hg_stats_reset resets every policy state: a site moved to the lock
	 * by its costs starts on the STM again. */
	uint64_t site = hg_site("policy-reset");
	costs(4000, 1000);
	run_n(site, 2000);
	HG_ASSERT_EQ(stats(&L, site).tier_now, HG_TIER_LOCK);
	hg_stats_reset();
	hg_run(&L, site, tier_body, NULL);
	HG_EXPECT_EQ(seen_tier, HG_TIER_STM);
	HG_EXPECT_EQ(stats(&L, site).tier_now, HG_TIER_STM);
}

/* ------------------------------------------------------- the HTM tier */

static void small_update(struct hg_tx *tx, void *p)
{
	uint64_t *x = p;
	hg_store64(tx, x, hg_load64(tx, x) + 1);
	fake_now += 500;
}

static void test_htm_to_stm_and_back(void)
{
	/* Emulated HTM with 95 % injected conflicts: the engine demotes the
	 * hardware tier and the instrumented site lands on the STM, not the
	 * lock.  With injection off again, a probe must promote it back. */
	static struct hg_lock le;
	static uint64_t x;
	hg_lock_init(&le, "policy-emu");
	HG_ASSERT(hg_lock_set_mode(&le, HG_HTM_EMU) == 0);
	HG_ASSERT(hg_emu_configure("conflict=0.95,seed=5") == 0);
	uint64_t site = hg_site("policy-htm");
	int n = 0;
	for (; n < 400; n++)
		hg_run(&le, site, small_update, &x);
	struct hg_site_stats s = stats(&le, site);
	HG_EXPECT_EQ(s.demotions[HG_REASON_ABORT_RATE], 1);
	HG_EXPECT(s.commits[HG_TIER_STM] > 0);
	HG_ASSERT(hg_emu_configure("conflict=0,seed=5") == 0);
	uint64_t emu0 = s.commits_emu;
	for (int i = 0; i < 20000; i++, n++)
		hg_run(&le, site, small_update, &x);
	s = stats(&le, site);
	HG_EXPECT_EQ(s.promotions[HG_REASON_REPROBE], 1);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_HTM);
	HG_EXPECT(s.commits_emu > emu0 + 1000);
	HG_EXPECT_EQ(x, (uint64_t)n);
	HG_EXPECT_EQ(le.stm_seq & 1u, 0);
	HG_ASSERT(hg_emu_configure("") == 0);
	hg_lock_destroy(&le);
}

static void test_lost_probe_counts_nothing(void)
{
	/*
	 * Every emulated attempt aborts: the site is demoted to the STM once,
	 * and every later HTM probe loses.  A lost probe moves nothing, so it
	 * counts neither a promotion nor a demotion; only the probes are
	 * counted.
	 */
	static struct hg_lock le;
	static uint64_t x;
	struct hg_policy saved;
	with_period(64, 64, &saved);
	hg_lock_init(&le, "policy-emu-lost");
	HG_ASSERT(hg_lock_set_mode(&le, HG_HTM_EMU) == 0);
	HG_ASSERT(hg_emu_configure("conflict=1,seed=9") == 0);
	uint64_t site = hg_site("policy-lost");
	costs(1000, 4000);
	for (int i = 0; i < 5000; i++)
		hg_run(&le, site, small_update, &x);
	struct hg_site_stats s = stats(&le, site);
	HG_EXPECT_EQ(s.demotions[HG_REASON_ABORT_RATE], 1);
	HG_EXPECT_EQ(s.promotions[HG_REASON_REPROBE], 0);
	HG_EXPECT(s.reprobes >= 20);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_STM);
	HG_EXPECT_EQ(x, 5000u);
	HG_ASSERT(hg_emu_configure("") == 0);
	hg_lock_destroy(&le);
	hg_policy_set(&saved);
}

static void test_plain_site_reprobes(void)
{
	/*
	 * An elided (uninstrumented) site under 100 % conflicts: demoted to
	 * the lock (there is no STM for it), re-probes back off (doubling
	 * periods: few probes), and a re-probe after the conflicts stop
	 * promotes it.
	 */
	struct hg_lock le;
	hg_lock_init(&le, "policy-plain");
	HG_ASSERT(hg_lock_set_mode(&le, HG_HTM_EMU) == 0);
	HG_ASSERT(hg_emu_configure("conflict=1,seed=2") == 0);
	uint64_t site = hg_site("policy-plain");
	for (int i = 0; i < 4000; i++) {
		hg_lock_acquire(&le, site);
		hg_lock_release(&le);
	}
	struct hg_site_stats s = stats(&le, site);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);
	HG_EXPECT_EQ(s.demotions[HG_REASON_ABORT_RATE], 1);
	/* periods 64, 128, 256, ... within 4000 acquisitions: at most 6 probes */
	HG_EXPECT(s.reprobes >= 3 && s.reprobes <= 6);
	HG_ASSERT(hg_emu_configure("conflict=0,seed=2") == 0);
	for (int i = 0; i < 9000; i++) {
		hg_lock_acquire(&le, site);
		hg_lock_release(&le);
	}
	s = stats(&le, site);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_HTM);
	HG_EXPECT_EQ(s.promotions[HG_REASON_REPROBE], 1);
	HG_ASSERT(hg_emu_configure("") == 0);
	hg_lock_destroy(&le);
}

/* ---------------------------------------------------- transaction length */

/* n speculative attempts on rec, of which `aborts` aborted with cause c. */
static void attempts(struct hg_site_rec *rec, unsigned n, unsigned aborts, enum hg_abort_cause c)
{
	rec->st.attempts += n;
	rec->st.aborts[c] += aborts;
}

static void test_txlen_adapts(void)
{
	struct hg_site_rec rec = { .pol.tier = HG_TIER_HTM };
	hg_txlen_fixed = 0;
	HG_EXPECT_EQ(hg_policy_txlen(&rec), HG_TXLEN_INIT);
	attempts(&rec, HG_TXLEN_WINDOW - 1, 0, HG_CAUSE_CONFLICT);
	HG_EXPECT_EQ(hg_policy_txlen(&rec), HG_TXLEN_INIT); /* window not full yet */
	attempts(&rec, 1, 0, HG_CAUSE_CONFLICT);
	HG_EXPECT_EQ(hg_policy_txlen(&rec), HG_TXLEN_INIT * 2); /* a clean window doubles */
	for (int i = 0; i < 10; i++) {
		attempts(&rec, HG_TXLEN_WINDOW, 0, HG_CAUSE_CONFLICT);
		hg_policy_txlen(&rec);
	}
	HG_EXPECT_EQ(rec.pol.txlen, HG_TXLEN_MAX); /* bounded above */
	/* Busy aborts (a held lock) are not the length's fault. */
	attempts(&rec, HG_TXLEN_WINDOW, HG_TXLEN_WINDOW, HG_CAUSE_EXPLICIT);
	HG_EXPECT_EQ(hg_policy_txlen(&rec), HG_TXLEN_MAX);
	/* Exactly 1 in 8 aborted: kept; more: halved. */
	attempts(&rec, HG_TXLEN_WINDOW, HG_TXLEN_WINDOW / 8, HG_CAUSE_CONFLICT);
	HG_EXPECT_EQ(hg_policy_txlen(&rec), HG_TXLEN_MAX);
	attempts(&rec, HG_TXLEN_WINDOW, HG_TXLEN_WINDOW / 8 + 1, HG_CAUSE_CAPACITY);
	HG_EXPECT_EQ(hg_policy_txlen(&rec), HG_TXLEN_MAX / 2);
	/* Demoted after an abort: halved at once, without a full window. */
	attempts(&rec, 1, 1, HG_CAUSE_OTHER);
	rec.pol.tier = HG_TIER_LOCK;
	HG_EXPECT_EQ(hg_policy_txlen(&rec), HG_TXLEN_MAX / 4);
	HG_EXPECT_EQ(hg_policy_txlen(&rec), HG_TXLEN_MAX / 4); /* no new abort: kept */
	for (int i = 0; i < 20; i++) {
		attempts(&rec, 1, 1, HG_CAUSE_RETRY);
		hg_policy_txlen(&rec);
	}
	HG_EXPECT_EQ(rec.pol.txlen, HG_TXLEN_MIN); /* bounded below */
	/* A fixed length overrides the adaptation. */
	hg_txlen_fixed = 5;
	HG_EXPECT_EQ(hg_policy_txlen(&rec), 5);
	attempts(&rec, HG_TXLEN_WINDOW, 0, HG_CAUSE_CONFLICT);
	HG_EXPECT_EQ(hg_policy_txlen(&rec), 5);
	hg_txlen_fixed = 0;
}

/* n committed sections of `yields` intervals at `per` fake cycles (ns) each. */
static void spec_sections(struct hg_site_rec *rec, unsigned n, uint32_t yields, uint64_t per)
{
	for (unsigned i = 0; i < n; i++)
		hg_policy_txlen_sample(rec, yields, per * yields);
}

static void test_txlen_sized_by_time(void)
{
	struct hg_site_rec rec = { .pol.tier = HG_TIER_HTM };
	struct hg_policy saved, p;
	hg_policy_get(&saved);
	HG_EXPECT_EQ(saved.txtime_us, 20); /* the default: 20 us */
	hg_txlen_fixed = 0;
	HG_EXPECT_EQ(hg_policy_txlen(&rec), HG_TXLEN_INIT);
	/* 100 ns per interval: 200 fit in 20 us; clean windows grow to that, not to 256. */
	spec_sections(&rec, 1, HG_TXLEN_INIT, 100);
	HG_EXPECT_EQ(rec.pol.yield_cyc, 100);
	HG_EXPECT_EQ(rec.pol.txlen_cap, 200);
	for (int i = 0; i < 10; i++) {
		attempts(&rec, HG_TXLEN_WINDOW, 0, HG_CAUSE_CONFLICT);
		hg_policy_txlen(&rec);
	}
	HG_EXPECT_EQ(rec.pol.txlen, 200);
	/* The intervals get 10x longer: the cap follows the decaying mean down
	 * and the length follows the cap at once, without a window. */
	spec_sections(&rec, 64, 8, 1000);
	HG_EXPECT(rec.pol.yield_cyc >= 990 && rec.pol.yield_cyc <= 1000);
	HG_EXPECT_EQ(rec.pol.txlen_cap, 20);
	HG_EXPECT_EQ(hg_policy_txlen(&rec), 20);
	/* One section 1000x slower (descheduled while emulated): clipped to 4x the
	 * mean, weighing 1/8, so the cap drops by less than half. */
	spec_sections(&rec, 1, 4, 1000000);
	HG_EXPECT(rec.pol.txlen_cap >= 14 && rec.pol.txlen_cap < 20);
	/* Intervals longer than the budget: one per transaction, not zero. */
	spec_sections(&rec, 200, 1, 100000);
	HG_EXPECT_EQ(rec.pol.txlen_cap, HG_TXLEN_MIN);
	HG_EXPECT_EQ(hg_policy_txlen(&rec), HG_TXLEN_MIN);
	/* No yield point passed: not a sample. */
	uint32_t mean = rec.pol.yield_cyc;
	hg_policy_txlen_sample(&rec, 0, 5);
	HG_EXPECT_EQ(rec.pol.yield_cyc, mean);
	/* A fixed length overrides the cap. */
	hg_txlen_fixed = 64;
	HG_EXPECT_EQ(hg_policy_txlen(&rec), 64);
	hg_txlen_fixed = 0;
	/* txtime_us=0 lifts the cap at the next sample; so does a clock not yet calibrated. */
	HG_EXPECT_EQ(hg_policy_parse("txtime_us=0"), 0);
	hg_policy_get(&p);
	HG_EXPECT_EQ(p.txtime_us, 0);
	spec_sections(&rec, 1, 1, 100000);
	HG_EXPECT_EQ(rec.pol.txlen_cap, 0);
	hg_policy_set(&saved);
	fake_hz_now = 0;
	spec_sections(&rec, 1, 1, 100000);
	HG_EXPECT_EQ(rec.pol.txlen_cap, 0);
	fake_hz_now = 1e9;
	uint32_t len = rec.pol.txlen;
	attempts(&rec, HG_TXLEN_WINDOW, 0, HG_CAUSE_CONFLICT);
	HG_EXPECT_EQ(hg_policy_txlen(&rec), len * 2); /* grows again, uncapped */
	/* Calibrated again: capped again at the next sample. */
	spec_sections(&rec, 1, 1, 100000);
	HG_EXPECT_EQ(rec.pol.txlen_cap, HG_TXLEN_MIN);
	hg_policy_set(&saved);
}

/* Aborts of one-interval transactions are counted apart, by cause, busy excluded. */
static void test_aborts_localised(void)
{
	struct hg_site_rec rec = { .pol.tier = HG_TIER_HTM };
	rec.pol.txlen = 4;
	hg_engine_note_abort(&rec, HG_STATUS_CONFLICT);
	HG_EXPECT_EQ(rec.st.aborts[HG_CAUSE_CONFLICT], 1);
	HG_EXPECT_EQ(rec.st.aborts_one[HG_CAUSE_CONFLICT], 0); /* four intervals: anywhere */
	rec.pol.txlen = 1;
	hg_engine_note_abort(&rec, HG_STATUS_CONFLICT);
	hg_engine_note_abort(&rec, HG_STATUS_CAPACITY);
	hg_engine_note_abort(&rec, 0);
	hg_engine_note_abort(&rec, HG_STATUS_MAKE_EXPLICIT(HG_ABORT_BUSY)); /* the lock's state */
	HG_EXPECT_EQ(rec.st.aborts_one[HG_CAUSE_CONFLICT], 1);
	HG_EXPECT_EQ(rec.st.aborts_one[HG_CAUSE_CAPACITY], 1);
	HG_EXPECT_EQ(rec.st.aborts_one[HG_CAUSE_OTHER], 1);
	HG_EXPECT_EQ(rec.st.aborts_one[HG_CAUSE_EXPLICIT], 0);
	HG_EXPECT_EQ(rec.st.aborts[HG_CAUSE_EXPLICIT], 1);
	rec.pol.txlen = 0; /* not a GIL site */
	hg_engine_note_abort(&rec, HG_STATUS_CONFLICT);
	HG_EXPECT_EQ(rec.st.aborts_one[HG_CAUSE_CONFLICT], 1);
}

/* The real clock's rate: 0 until calibrated over 2 ms, then the counter's. */
static void test_real_hz(void)
{
	hg_policy_set_clock(NULL);
	double first = hg_policy_clock_now->hz();
	struct timespec pause = { 0, 30 * 1000 * 1000 };
	while (nanosleep(&pause, &pause) != 0)
		;
	double hz = hg_policy_clock_now->hz(), ref = hg_trace_tsc_hz();
	fprintf(stderr, "hz: first %.4g, calibrated %.4g, the report's %.4g\n", first, hz, ref);
	HG_EXPECT(first == 0 || (first > 0.9 * ref && first < 1.1 * ref));
	HG_EXPECT(hz > 0.9 * ref && hz < 1.1 * ref);
	HG_EXPECT_EQ(hg_policy_clock_now->hz(), hz); /* cached */
	hg_policy_set_clock(&fake_clock);
}

/*
 * A thread's record lookups, whatever their order, return the record made
 * for that (lock, site) the first time: alternating between two sites (the
 * second cached record) and a third that evicts one of them.
 */
static void test_site_recs_alternating(void)
{
	uint64_t a = hg_site("policy-recs-a"), b = hg_site("policy-recs-b"),
		 c = hg_site("policy-recs-c");
	struct hg_site_rec *ra = hg_site_rec_get(L.id, a), *rb = hg_site_rec_get(L.id, b),
			   *rc = hg_site_rec_get(L.id, c);
	HG_ASSERT(ra != rb && rb != rc && ra != rc);
	static const int order[] = { 0, 1, 0, 1, 1, 2, 0, 2, 1, 0, 0, 2, 2, 1 };
	uint64_t sites[3] = { a, b, c };
	struct hg_site_rec *recs[3] = { ra, rb, rc };
	for (unsigned i = 0; i < sizeof order / sizeof order[0]; i++) {
		struct hg_site_rec *r = hg_site_rec_get(L.id, sites[order[i]]);
		HG_ASSERT(r == recs[order[i]]);
		HG_ASSERT_EQ(r->site, sites[order[i]]);
	}
	/* Another lock at the same site is another record. */
	struct hg_lock M;
	hg_lock_init(&M, "policy-recs-other");
	struct hg_site_rec *rm = hg_site_rec_get(M.id, a);
	HG_ASSERT(rm != ra && rm->lock_id == M.id);
	HG_ASSERT(hg_site_rec_get(L.id, a) == ra);
	HG_ASSERT(hg_site_rec_get(M.id, a) == rm);
	hg_lock_destroy(&M);
}

static const struct hg_test tests[] = {
	HG_TEST(test_site_recs_alternating),
	HG_TEST(test_abort_rate_demotes),
	HG_TEST(test_cheaper_lock_wins), HG_TEST(test_lock_probe_measures_fast_path),
	HG_TEST(test_settled_lock_reprobes),
	HG_TEST(test_lock_quiet_after_stm_aborts),
	HG_TEST(test_cheaper_stm_stays),
	HG_TEST(test_margin),
	HG_TEST(test_outlier),
	HG_TEST(test_stalls),
	HG_TEST(test_lock_probe_charged_parallelism),
	HG_TEST(test_noisy_equal),
	HG_TEST(test_noisy_decides),
	HG_TEST(test_win_checked),
	HG_TEST(test_settled_reacts),
	HG_TEST(test_zero_knobs_mean_zero),
	HG_TEST(test_clamp),
	HG_TEST(test_reset_resets_policy),
	HG_TEST(test_htm_to_stm_and_back),
	HG_TEST(test_lost_probe_counts_nothing),
	HG_TEST(test_plain_site_reprobes),
	HG_TEST(test_txlen_adapts),
	HG_TEST(test_txlen_sized_by_time),
	HG_TEST(test_real_hz),
	HG_TEST(test_aborts_localised),
};

int main(void)
{
	hg_policy_set_clock(&fake_clock);
	hg_lock_init(&L, "policy-unit");
	/* Hardware tier off on L whatever the process mode: its sites start
	 * on the STM and compare it with the lock. */
	if (hg_lock_set_mode(&L, HG_HTM_OFF) != 0) {
		fprintf(stderr, "test_policy: hg_lock_set_mode(HG_HTM_OFF) refused\n");
		return 1;
	}
	int rc = HG_RUN_TESTS(tests);
	hg_lock_destroy(&L);
	hg_policy_set_clock(NULL);
	return rc;
}
