/* SPDX-License-Identifier: MIT */
/*
 * tests/engine/test_lock_cost.c - the elided lock's cost comparison
 * (engine/policy.c, struct hg_policy_lcost), driven deterministically: the
 * policy's clock is a counter that each simulated section advances by what
 * its tier is made to cost, and the sections make the calls the elided
 * lock makes in mode rtm (pick, entered, released, commit, abort), so
 * every decision follows from the costs below, never from this machine.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hg_fake_clock.h"
#include "hg_test.h"
#include "htmgil/htmgil.h"
#include "engine/engine.h"
#include "engine/policy.h"
#include "engine/site.h"

static unsigned fake_par = 1;
static unsigned fake_parallelism(void) { return 1; }
static unsigned fake_lock_parallelism(uint32_t lock_id)
{
	(void)lock_id;
	return fake_par;
}
static double fake_hz(void) { return 1e9; }

static const struct hg_policy_clock fake_clock = {
	.cycles = fake_cycles,
	.random = fake_random,
	.parallelism = fake_parallelism,
	.hz = fake_hz,
	.lock_parallelism = fake_lock_parallelism,
};

/*
 * What a section costs, in fake cycles: on the HTM tier, on the lock tier
 * (of which `hold` is spent holding it), and the caller's own work after
 * it.  noise adds up to that many cycles, drawn per section.
 */
static uint64_t c_htm, c_lock, c_hold, c_work = 50, noise;
/* Every htm_fail_every-th speculative section aborts and ends on the lock. */
static unsigned htm_fail_every;
/* Speculative sections abort while the site is settled on HTM, not while
 * it probes HTM from the lock (another thread's transactions conflict
 * with this one's only once both run there). */
static bool htm_fail_settled;
static unsigned long sections;

struct counts {
	unsigned long on[HG_TIER_COUNT];
	unsigned switches;
};

static uint64_t jitter(void)
{
	return noise ? fake_random() % noise : 0;
}

/* One section of rec, as hg_lock_acquire/hg_lock_release make it. */
static void section(struct hg_site_rec *rec, struct counts *k)
{
	enum hg_tier before = (enum hg_tier)rec->pol.tier;
	enum hg_tier t = hg_policy_lock_fast(rec);
	bool sampled = false;
	if (t == HG_TIER_COUNT)
		t = hg_policy_lock_pick(rec, &sampled);
	sections++;
	rec->st.acquisitions++;
	if (t == HG_TIER_HTM) {
		bool fail = (htm_fail_every && sections % htm_fail_every == 0) ||
		    (htm_fail_settled && before == HG_TIER_HTM);
		if (!fail) {
			fake_now += c_htm + jitter();
			hg_policy_commit(rec);
			k->on[HG_TIER_HTM]++;
		} else {
			/* An abort, then the lock (as the engine's loop does). */
			fake_now += c_htm;
			hg_policy_abort(rec, false);
			hg_policy_check_rate(rec);
			hg_policy_lock_entered(rec, HG_TIER_HTM, HG_TIER_LOCK);
			fake_now += c_hold;
			hg_policy_lock_released(rec);
			fake_now += c_lock - c_hold;
			k->on[HG_TIER_LOCK]++;
		}
	} else {
		fake_now += c_lock - c_hold; /* acquiring */
		hg_policy_lock_entered(rec, HG_TIER_LOCK, HG_TIER_LOCK);
		fake_now += c_hold + jitter();
		hg_policy_lock_released(rec);
		k->on[HG_TIER_LOCK]++;
	}
	fake_now += c_work;
	if ((enum hg_tier)rec->pol.tier != before)
		k->switches++;
}

static struct counts run(struct hg_site_rec *rec, unsigned long n)
{
	struct counts k;
	memset(&k, 0, sizeof k);
	for (unsigned long i = 0; i < n; i++)
		section(rec, &k);
	hg_policy_close_open();
	return k;
}

/* Runs sections of rec while it stays on `tier`, at most max; returns how many ran. */
static int run_while(struct hg_site_rec *rec, enum hg_tier tier, int max, struct counts *k)
{
	memset(k, 0, sizeof *k);
	int i = 0;
	for (; i < max && (enum hg_tier)rec->pol.tier == tier; i++)
		section(rec, k);
	return i;
}

static uint32_t lock_id;

static struct hg_site_rec *fresh(const char *name)
{
	struct hg_site_rec *rec = hg_site_rec_get(lock_id, hg_site(name));
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_HTM);
	HG_EXPECT(rec->pol.lcost == NULL);
	return rec;
}

static void costs(uint64_t htm, uint64_t lock, uint64_t hold)
{
	c_htm = htm;
	c_lock = lock;
	c_hold = hold;
	noise = 0;
	htm_fail_every = 0;
	htm_fail_settled = false;
	fake_par = 1;
}

/* Uncontended: the lock's path is cheaper than XBEGIN + XEND; the site moves once. */
static void test_cheaper_lock_wins(void)
{
	struct hg_site_rec *rec = fresh("lc-lock-wins");
	costs(40, 20, 10);
	/* It moves at the first comparison: reprobe_base quiet sections, 16
	 * samples on HTM, 4 + 16 on the lock, each a group of sections. */
	struct counts k;
	int i = run_while(rec, HG_TIER_HTM, 4000, &k);
	HG_EXPECT(i <= (int)(hg_policy_now.reprobe_base + HG_LC_GROUP * (16 + 4 + 16) + 1));
	k = run(rec, 8000);
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_LOCK);
	HG_EXPECT_EQ(rec->st.demotions[HG_REASON_COST], 1);
	HG_EXPECT_EQ(k.switches, 0);
	/* Then only the check and the comparisons of a doubling period run
	 * HTM probes (20 groups each). */
	HG_EXPECT(k.on[HG_TIER_LOCK] > 7200);
}

/* HTM cheaper: stays, and compares ever less often. */
static void test_cheaper_htm_stays(void)
{
	struct hg_site_rec *rec = fresh("lc-htm-stays");
	costs(20, 60, 30);
	struct counts k = run(rec, 20000);
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_HTM);
	HG_EXPECT_EQ(k.switches, 0);
	HG_EXPECT_EQ(rec->st.demotions[HG_REASON_COST], 0);
	/* Every comparison spends 20 groups on the lock, and the period
	 * doubles from 64: far fewer than a fixed period would spend. */
	HG_EXPECT(k.on[HG_TIER_LOCK] > 0);
	HG_EXPECT(k.on[HG_TIER_LOCK] < HG_LC_GROUP * 20 * 12);
	HG_EXPECT(rec->pol.lcost->period >= 64u << 6);
}

/*
 * A lock-tier section holds the lock every other thread would wait for:
 * charged at least its holding time times the parallelism.  A section
 * and the caller's work take 90 cycles on HTM, 80 on the lock.  Alone
 * (par 1) the lock is cheaper; with four threads its 25-cycle hold
 * saturates it (100 cycles a section per thread).
 */
static void test_lock_probe_charged_parallelism(void)
{
	struct hg_site_rec *a = fresh("lc-par-1");
	costs(40, 30, 25);
	run(a, 3000);
	HG_EXPECT_EQ(a->pol.tier, HG_TIER_LOCK);

	struct hg_site_rec *b = fresh("lc-par-4");
	costs(40, 30, 25);
	fake_par = 4;
	run(b, 3000);
	HG_EXPECT_EQ(b->pol.tier, HG_TIER_HTM);
	HG_EXPECT_EQ(b->st.demotions[HG_REASON_COST], 0);
	fake_par = 1;
}

/* A phase change: the lock becomes dearer; the HTM probe brings the site back. */
static void test_back_to_htm(void)
{
	struct hg_site_rec *rec = fresh("lc-back");
	costs(40, 20, 10);
	run(rec, 2000);
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_LOCK);
	costs(40, 200, 100);
	struct counts k = run(rec, 20000);
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_HTM);
	HG_EXPECT_EQ(rec->st.promotions[HG_REASON_COST], 1);
	HG_EXPECT_EQ(k.switches, 1);
	HG_EXPECT(k.on[HG_TIER_HTM] > k.on[HG_TIER_LOCK]);
}

/*
 * Equal costs with noise: the comparison cannot tell them apart; no
 * flapping (a false win and the check that undoes it are two moves).
 */
static void test_noisy_equal(void)
{
	struct hg_site_rec *rec = fresh("lc-equal");
	costs(100, 100, 50);
	noise = 60;
	struct counts k = run(rec, 50000);
	HG_EXPECT(k.switches <= 2);
	noise = 0;
}

/*
 * A win is checked after reprobe_base sections: the lock is cheaper only
 * until the site moves to it; the check finds the tier it left cheaper
 * again and moves back, so the wrong tier ran for about one check's worth
 * of sections, not a period.
 */
static void test_win_checked(void)
{
	struct hg_site_rec *rec = fresh("lc-checked");
	costs(40, 20, 10);
	struct counts k;
	run_while(rec, HG_TIER_HTM, 2000, &k);
	HG_ASSERT_EQ(rec->pol.tier, HG_TIER_LOCK);
	HG_EXPECT_EQ(rec->pol.lcost->verify, 1);
	costs(20, 60, 30);
	run_while(rec, HG_TIER_LOCK, 2000, &k);
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_HTM);
	HG_EXPECT(k.on[HG_TIER_LOCK] <= hg_policy_now.reprobe_base + HG_LC_GROUP * (16 + 4 + 16));
	HG_EXPECT_EQ(rec->st.demotions[HG_REASON_COST], 1);
	HG_EXPECT_EQ(rec->st.promotions[HG_REASON_COST], 1);
	/* The move back is not checked: the site stays, comparing less often. */
	HG_EXPECT_EQ(rec->pol.lcost->verify, 0);
	HG_EXPECT(rec->pol.lcost->period > hg_policy_now.reprobe_base);
	k = run(rec, 20000);
	HG_EXPECT_EQ(k.switches, 0);
}

/* Noise but a clear difference (2x): decided all the same. */
static void test_noisy_decides(void)
{
	struct hg_site_rec *rec = fresh("lc-noisy");
	costs(200, 100, 50);
	noise = 80;
	struct counts k = run(rec, 20000);
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_LOCK);
	HG_EXPECT_EQ(k.switches, 1);
	noise = 0;
}

/*
 * The abort rate still demotes a site on HTM (a phase change): the site
 * goes to the lock by abort rate, not by cost, and compares again soon.
 */
static void test_aborts_demote(void)
{
	struct hg_site_rec *rec = fresh("lc-aborts");
	costs(20, 60, 30);
	htm_fail_every = 1; /* every speculative section aborts */
	struct counts k;
	run_while(rec, HG_TIER_HTM, 200, &k);
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_LOCK);
	HG_EXPECT_EQ(rec->st.demotions[HG_REASON_ABORT_RATE], 1);
	HG_EXPECT_EQ(rec->st.demotions[HG_REASON_COST], 0);
	HG_EXPECT_EQ(rec->pol.lcost->period, hg_policy_now.reprobe_base);
	/* While every attempt fails, the HTM probes lose at their first
	 * section, and the period grows. */
	run(rec, 5000);
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_LOCK);
	HG_EXPECT(rec->pol.lcost->period > hg_policy_now.reprobe_base);
	/* The aborts stop: a probe wins on cost (HTM 20 against 60). */
	htm_fail_every = 0;
	run(rec, 100000);
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_HTM);
	HG_EXPECT_EQ(rec->st.promotions[HG_REASON_COST], 1);
}

/*
 * A cost win that the aborts undo: the HTM probes from the lock commit and
 * look cheaper, but once the site is on HTM its sections abort until the
 * rate demotes it.  Each such round trip doubles the period, so the site
 * ends up comparing every reprobe_max sections instead of every
 * reprobe_base (each round trip then wastes a few hundred sections).
 */
static void test_undone_win_backs_off(void)
{
	struct hg_site_rec *rec = fresh("lc-undone");
	costs(20, 60, 30);
	htm_fail_settled = true;
	struct counts k = run(rec, 400000);
	uint64_t trips = rec->st.demotions[HG_REASON_ABORT_RATE];
	HG_EXPECT(trips >= 2);
	HG_EXPECT_EQ(rec->st.promotions[HG_REASON_COST], trips - (rec->pol.tier == HG_TIER_LOCK));
	/* 64 .. 65536: ten doublings, then one trip per reprobe_max. */
	HG_EXPECT(trips <= 10 + 400000 / hg_policy_now.reprobe_max + 2);
	HG_EXPECT_EQ(rec->pol.lcost->period, hg_policy_now.reprobe_max);
	HG_EXPECT(k.on[HG_TIER_LOCK] > 400000 * 9 / 10);

	/* A site that held HTM for reprobe_max sections before its aborts
	 * began is in a new phase: it compares again after reprobe_base. */
	struct hg_site_rec *b = fresh("lc-phase");
	costs(60, 20, 10);
	run_while(b, HG_TIER_HTM, 4000, &k);
	HG_ASSERT_EQ(b->pol.tier, HG_TIER_LOCK);
	costs(20, 60, 30);
	run_while(b, HG_TIER_LOCK, 400000, &k);
	HG_ASSERT_EQ(b->pol.tier, HG_TIER_HTM);
	run(b, hg_policy_now.reprobe_max + 1000);
	HG_EXPECT_EQ(b->pol.tier, HG_TIER_HTM);
	htm_fail_every = 1;
	run_while(b, HG_TIER_HTM, 400, &k);
	HG_EXPECT_EQ(b->pol.tier, HG_TIER_LOCK);
	HG_EXPECT_EQ(b->st.demotions[HG_REASON_ABORT_RATE], 1);
	HG_EXPECT_EQ(b->pol.lcost->period, hg_policy_now.reprobe_base);
}

/*
 * The sample runs to the thread's next entry, whatever the site: two sites
 * taken alternately each see their own section plus the other's.
 */
static void test_interleaved_sites(void)
{
	struct hg_site_rec *a = fresh("lc-inter-a");
	struct hg_site_rec *b = fresh("lc-inter-b");
	costs(40, 20, 10);
	struct counts ka, kb;
	memset(&ka, 0, sizeof ka);
	memset(&kb, 0, sizeof kb);
	for (int i = 0; i < 4000; i++) {
		section(a, &ka);
		section(b, &kb);
	}
	hg_policy_close_open();
	/* A sample closes at the other site's entry, so a verdict (and a
	 * move) of one site lands in a section of the other: count moves. */
	HG_EXPECT_EQ(a->pol.tier, HG_TIER_LOCK);
	HG_EXPECT_EQ(b->pol.tier, HG_TIER_LOCK);
	HG_EXPECT_EQ(a->st.demotions[HG_REASON_COST] + a->st.promotions[HG_REASON_COST], 1);
	HG_EXPECT_EQ(b->st.demotions[HG_REASON_COST] + b->st.promotions[HG_REASON_COST], 1);
	HG_EXPECT(ka.on[HG_TIER_LOCK] > 3500 && kb.on[HG_TIER_LOCK] > 3500);
}

/* A reset record starts over: on HTM, quiet for reprobe_base sections. */
static void test_reset(void)
{
	struct hg_site_rec *rec = fresh("lc-reset");
	costs(40, 20, 10);
	run(rec, 2000);
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_LOCK);
	hg_policy_site_reset(&rec->pol);
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_HTM);
	HG_EXPECT(rec->pol.lcost != NULL);
	HG_EXPECT_EQ(rec->pol.lcost->phase, HG_LC_QUIET);
	struct counts k = run(rec, 2000);
	HG_EXPECT_EQ(rec->pol.tier, HG_TIER_LOCK);
	HG_EXPECT_EQ(k.switches, 1);
}

/*
 * The parallelism a lock-tier sample is charged: live threads with a record
 * of the lock (two sites of one thread count once), not every thread.
 */
static uint32_t par_a, par_b;
static pthread_barrier_t par_in, par_out;

static void *par_thread(void *arg)
{
	int both = *(int *)arg;
	hg_site_rec_get(par_a, hg_site("lc-par-a1"));
	hg_site_rec_get(par_a, hg_site("lc-par-a2"));
	if (both)
		hg_site_rec_get(par_b, hg_site("lc-par-b"));
	pthread_barrier_wait(&par_in);
	pthread_barrier_wait(&par_out);
	return NULL;
}

static void test_lock_threads_counted(void)
{
	static struct hg_lock a, b;
	hg_lock_init(&a, "lc-par-a");
	hg_lock_init(&b, "lc-par-b");
	par_a = a.id;
	par_b = b.id;
	HG_EXPECT_EQ(hg_site_lock_threads(par_a), 0);
	pthread_barrier_init(&par_in, NULL, 3);
	pthread_barrier_init(&par_out, NULL, 3);
	int both[2] = { 1, 0 };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, par_thread, &both[i]);
	pthread_barrier_wait(&par_in);
	HG_EXPECT_EQ(hg_site_lock_threads(par_a), 2);
	HG_EXPECT_EQ(hg_site_lock_threads(par_b), 1);
	pthread_barrier_wait(&par_out);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	HG_EXPECT_EQ(hg_site_lock_threads(par_a), 0);
	HG_EXPECT_EQ(hg_site_lock_threads(par_b), 0);
	pthread_barrier_destroy(&par_in);
	pthread_barrier_destroy(&par_out);
}

static const struct hg_test tests[] = {
	HG_TEST(test_lock_threads_counted),
	HG_TEST(test_cheaper_lock_wins),
	HG_TEST(test_cheaper_htm_stays),
	HG_TEST(test_lock_probe_charged_parallelism),
	HG_TEST(test_back_to_htm),
	HG_TEST(test_noisy_equal),
	HG_TEST(test_win_checked),
	HG_TEST(test_noisy_decides),
	HG_TEST(test_aborts_demote),
	HG_TEST(test_undone_win_backs_off),
	HG_TEST(test_interleaved_sites),
	HG_TEST(test_reset),
};

int main(void)
{
	hg_policy_set_clock(&fake_clock);
	static struct hg_lock l;
	hg_lock_init(&l, "lock-cost");
	lock_id = l.id;
	int rc = HG_RUN_TESTS(tests);
	hg_policy_set_clock(NULL);
	return rc;
}
