/* SPDX-License-Identifier: MIT */
/*
 * tests/rtm/test_rtm_run_cost.c - hg_run's three-tier policy on real RTM,
 * under a fake clock: a site on the hardware tier compares its cost with
 * the lock and the STM, and moves to the cheaper one (docs/design.md,
 * "Instrumented sites: the three-tier policy").  Each tier is made to cost
 * a fixed number of fake cycles (the body adds them to the clock), so the
 * decisions are the policy's, not the machine's.  One thread: the
 * transactions commit unless an interrupt aborts one.  Exits 77 where RTM
 * is not usable.
 */
#include <stdint.h>
#include <stdio.h>

#include "hg_fake_clock.h"
#include "hg_test.h"
#include "htmgil/htmgil.h"
#include "engine/policy.h"
#include "rtm_test.h"

static unsigned fake_par = 1;

static unsigned fake_parallelism(void)
{
	return fake_par;
}

static double fake_hz(void)
{
	return 1e9;
}

static const struct hg_policy_clock fake_clock = {
	.cycles = fake_cycles,
	.random = fake_random,
	.parallelism = fake_parallelism,
	.hz = fake_hz,
};

static uint64_t cost_of[HG_TIER_COUNT];
static struct hg_lock L;

/* Reads and writes one word; costs its tier's fake cycles.  Inside a
 * transaction the clock's store commits with it. */
static void cost_body(struct hg_tx *tx, void *p)
{
	uint64_t *x = p;
	hg_store64(tx, x, hg_load64(tx, x) + 1);
	fake_now += cost_of[hg_tx_tier(tx)];
}

static struct hg_site_stats run_site(const char *name, uint64_t htm, uint64_t stm, uint64_t lock,
    int n)
{
	static uint64_t x;
	cost_of[HG_TIER_HTM] = htm;
	cost_of[HG_TIER_STM] = stm;
	cost_of[HG_TIER_LOCK] = lock;
	uint64_t site = hg_site(name);
	uint64_t x0 = x;
	for (int i = 0; i < n; i++) {
		fake_now += 50; /* the caller's own work */
		hg_run(&L, site, cost_body, &x);
	}
	HG_EXPECT_EQ(x, x0 + (uint64_t)n);
	struct hg_site_stats s;
	hg_stats_get(&L, site, &s);
	printf("%s: htm %llu stm %llu lock %llu commits, tier %d, cost moves down %llu up %llu\n", name,
	    (unsigned long long)s.commits[HG_TIER_HTM], (unsigned long long)s.commits[HG_TIER_STM],
	    (unsigned long long)s.commits[HG_TIER_LOCK], s.tier_now,
	    (unsigned long long)s.demotions[HG_REASON_COST],
	    (unsigned long long)s.promotions[HG_REASON_REPROBE]);
	return s;
}

/* The lock is cheaper than a transaction (one thread): the site leaves HTM. */
static void test_lock_cheaper_than_htm(void)
{
	struct hg_site_stats s = run_site("run-cost-lock", 300, 200, 60, 20000);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);
	HG_EXPECT(s.demotions[HG_REASON_COST] >= 1);
	HG_EXPECT(s.commits[HG_TIER_LOCK] > 20000 * 9 / 10);
}

/* The STM is the cheapest: the site ends there. */
static void test_stm_cheapest(void)
{
	struct hg_site_stats s = run_site("run-cost-stm", 300, 60, 200, 20000);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_STM);
	HG_EXPECT(s.commits[HG_TIER_STM] > 20000 * 8 / 10);
}

/* HTM is the cheapest: the site stays, and its probes of the other tiers
 * back off (a doubling period). */
static void test_htm_cheapest_stays(void)
{
	struct hg_site_stats s = run_site("run-cost-htm", 60, 200, 300, 20000);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_HTM);
	HG_EXPECT_EQ(s.demotions[HG_REASON_COST], 0);
	HG_EXPECT(s.commits[HG_TIER_STM] + s.commits[HG_TIER_LOCK] > 0);
	HG_EXPECT(s.commits[HG_TIER_HTM] > 20000 * 9 / 10);
}

/*
 * With other threads on hg_run the comparison from HTM is off (a lock
 * probe's charge is only a lower bound there): the site stays on HTM,
 * though its lock is cheaper, until aborts demote it.
 */
static void test_others_no_cost_moves(void)
{
	fake_par = 2;
	struct hg_site_stats s = run_site("run-cost-par", 300, 200, 60, 20000);
	fake_par = 1;
	HG_EXPECT_EQ(s.tier_now, HG_TIER_HTM);
	HG_EXPECT_EQ(s.demotions[HG_REASON_COST], 0);
	HG_EXPECT_EQ(s.commits[HG_TIER_STM] + s.commits[HG_TIER_LOCK], 0);
}

static const struct hg_test tests[] = {
	HG_TEST(test_lock_cheaper_than_htm),
	HG_TEST(test_stm_cheapest),
	HG_TEST(test_htm_cheapest_stays),
	HG_TEST(test_others_no_cost_moves),
};

int main(void)
{
	if (!hg_rtm_test_usable())
		return 77;
	hg_policy_set_clock(&fake_clock);
	hg_lock_init(&L, "rtm-run-cost");
	if (hg_lock_set_mode(&L, HG_HTM_RTM) != 0) {
		fprintf(stderr, "test_rtm_run_cost: hg_lock_set_mode(HG_HTM_RTM) refused\n");
		return 1;
	}
	int rc = HG_RUN_TESTS(tests);
	hg_lock_destroy(&L);
	hg_policy_set_clock(NULL);
	return rc;
}
