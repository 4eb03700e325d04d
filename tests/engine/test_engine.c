/* SPDX-License-Identifier: MIT */
/*
 * tests/engine/test_engine.c - the retry loop and the HTM/lock state
 * machine of elided sites, driven by emulated HTM with seeded abort
 * injection; the action table for statuses only real RTM produces.
 */
#include <pthread.h>
#include <unistd.h>

#include "hg_test.h"
#include "base/atomic.h"
#include "engine/engine.h"
#include "htm/status.h"
#include "htmgil/htmgil.h"

static struct hg_policy defaults = HG_POLICY_DEFAULTS;

static void fresh(struct hg_lock *l, const char *name, const char *emu)
{
	hg_policy_set(&defaults);
	hg_lock_init(l, name);
	HG_ASSERT_EQ(hg_lock_set_mode(l, HG_HTM_EMU), 0);
	HG_ASSERT_EQ(hg_emu_configure(emu), 0);
}

static void run(struct hg_lock *l, uint64_t site, unsigned n, long *counter)
{
	for (unsigned i = 0; i < n; i++) {
		hg_lock_acquire(l, site);
		(*counter)++;
		hg_lock_release(l);
	}
}

static void test_capacity_demotes_within_two_attempts(void)
{
	struct hg_lock l;
	struct hg_site_stats s;
	long c = 0;
	uint64_t site = hg_site("capacity");
	fresh(&l, "cap", "capacity=1,seed=1");
	run(&l, site, 1, &c);
	hg_stats_get(&l, site, &s);
	HG_EXPECT_EQ(s.attempts, 2);
	HG_EXPECT_EQ(s.aborts[HG_CAUSE_CAPACITY], 2);
	HG_EXPECT_EQ(s.demotions[HG_REASON_CAPACITY], 1);
	HG_EXPECT_EQ(s.commits[HG_TIER_LOCK], 1);
	HG_EXPECT_EQ(s.commits_emu, 0);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);
	/* Demoted: the next acquisitions do not begin at all. */
	run(&l, site, 10, &c);
	hg_stats_get(&l, site, &s);
	HG_EXPECT_EQ(s.attempts, 2);
	HG_EXPECT_EQ(c, 11);
}

static void test_conflict_30_stays_elided(void)
{
	struct hg_lock l;
	struct hg_site_stats s;
	long c = 0;
	uint64_t site = hg_site("conflict30");
	fresh(&l, "c30", "conflict=0.3,seed=2");
	run(&l, site, 20000, &c);
	hg_stats_get(&l, site, &s);
	uint64_t dem = 0;
	for (int r = 0; r < HG_REASON_COUNT; r++)
		dem += s.demotions[r];
	HG_EXPECT_EQ(dem, 0);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_HTM);
	HG_EXPECT(s.commits_emu >= 19900); /* 0.3^6 of sections exhaust retries */
	HG_EXPECT(s.aborts[HG_CAUSE_CONFLICT] > 20000 * 0.3);
	HG_EXPECT(s.abort_rate > 0.15 && s.abort_rate < 0.5);
	HG_EXPECT_EQ(c, 20000);
}

static void test_phase_change_repromotes(void)
{
	struct hg_lock l;
	struct hg_site_stats s;
	long c = 0;
	uint64_t site = hg_site("phase");
	fresh(&l, "phase", "conflict=0.95,seed=3");
	run(&l, site, 200, &c);
	hg_stats_get(&l, site, &s);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_LOCK);
	HG_EXPECT(s.demotions[HG_REASON_ABORT_RATE] >= 1);
	/* The phase ends: no more aborts.  A re-probe must notice. */
	HG_ASSERT_EQ(hg_emu_configure("seed=3"), 0);
	run(&l, site, 2000, &c);
	hg_stats_get(&l, site, &s);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_HTM);
	HG_EXPECT(s.promotions[HG_REASON_REPROBE] >= 1);
	HG_EXPECT(s.commits_emu > 1000);
	HG_EXPECT_EQ(c, 2200);
}

static void test_reprobe_backoff(void)
{
	struct hg_lock l;
	struct hg_site_stats s;
	long c = 0;
	uint64_t site = hg_site("backoff");
	fresh(&l, "backoff", "capacity=1,seed=4");
	/* Demoted at 1; probes at 66, 195, 452, 965 (periods 64, 128, 256, 512). */
	run(&l, site, 1000, &c);
	hg_stats_get(&l, site, &s);
	HG_EXPECT_EQ(s.reprobes, 4);
	HG_EXPECT_EQ(s.attempts, 2 + 4);
	HG_EXPECT_EQ(s.promotions[HG_REASON_REPROBE], 0);
}

/* Status 0 every time: one immediate retry, then skip_other acquisitions on the lock. */
static void test_no_retry_skips(void)
{
	struct hg_lock l;
	struct hg_site_stats s;
	long c = 0;
	uint64_t site = hg_site("other");
	fresh(&l, "other", "other=1,seed=5");
	run(&l, site, 1 + defaults.skip_other, &c);
	hg_stats_get(&l, site, &s);
	HG_EXPECT_EQ(s.attempts, 2);
	HG_EXPECT_EQ(s.aborts[HG_CAUSE_OTHER], 2);
	HG_EXPECT_EQ(s.skips, defaults.skip_other);
	HG_EXPECT_EQ(s.commits[HG_TIER_LOCK], 1 + defaults.skip_other);
	run(&l, site, 1, &c); /* skip used up: speculates again */
	hg_stats_get(&l, site, &s);
	HG_EXPECT_EQ(s.attempts, 4);
	/* tryacquire makes the same one retry. */
	uint64_t tsite = hg_site("other_try");
	HG_ASSERT_EQ(hg_lock_tryacquire(&l, tsite), 0);
	HG_EXPECT_EQ(hg_lock_held_tier(&l), HG_TIER_LOCK);
	HG_EXPECT_EQ(hg_lock_release(&l), 0);
	hg_stats_get(&l, tsite, &s);
	HG_EXPECT_EQ(s.attempts, 2);
	HG_EXPECT_EQ(s.aborts[HG_CAUSE_OTHER], 2);
}

/*
 * Status 0 at rate P: a first status-0 abort is retried at once; only a
 * second one in a row sends the site to the lock for skip_other
 * acquisitions.  Per speculative acquisition: attempts = 1 + [first
 * aborted], aborts = [first aborted] + [second aborted], and a skip period
 * starts exactly when the second aborted too (it then ends on the lock).
 */
static void test_status0_retried_once(void)
{
	struct hg_lock l;
	struct hg_site_stats s;
	long c = 0;
	const unsigned n = 4000;
	uint64_t site = hg_site("other30");
	fresh(&l, "other30", "other=0.3,seed=8");
	run(&l, site, n, &c);
	hg_stats_get(&l, site, &s);
	HG_EXPECT_EQ(c, n);
	HG_EXPECT_EQ(s.acquisitions, n);
	HG_EXPECT_EQ(s.tier_now, HG_TIER_HTM);
	HG_EXPECT_EQ(s.aborts[HG_CAUSE_CONFLICT], 0);
	uint64_t spec = s.acquisitions - s.skips;
	uint64_t retried = s.attempts - spec;        /* first attempts that aborted */
	uint64_t periods = spec - s.commits_emu; /* two status-0 aborts in a row */
	HG_EXPECT(s.attempts > spec);                /* status 0 was retried */
	HG_EXPECT_EQ(s.aborts[HG_CAUSE_OTHER], retried + periods);
	HG_EXPECT_EQ(s.commits[HG_TIER_LOCK], s.skips + periods);
	HG_EXPECT(periods > 0);
	/* skip_other per period, the last one possibly cut short by the end of the run */
	HG_EXPECT(s.skips <= periods * defaults.skip_other);
	HG_EXPECT(s.skips > (periods - 1) * defaults.skip_other);
	/* P(second | first) = 0.3: far fewer periods than retries. */
	HG_EXPECT(periods * 2 < retried);
}

/* The retry loop's decisions, as a pure function of the status word. */
static void test_action_table(void)
{
	struct hg_abort_budget b;
	hg_policy_set(&defaults);
	const struct hg_policy *p = &defaults;

	/* The lock itself busy: wait and retry, retry_busy times. */
	hg_abort_budget_init(&b, p);
	for (unsigned i = 0; i < p->retry_busy; i++)
		HG_EXPECT_EQ(hg_engine_action(HG_STATUS_MAKE_EXPLICIT(HG_ABORT_BUSY), &b), HG_ACT_WAIT);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_MAKE_EXPLICIT(HG_ABORT_BUSY), &b), HG_ACT_LOCK);

	/* An inner lock busy: as a conflict (back off), never a wait on the outer lock. */
	hg_abort_budget_init(&b, p);
	for (unsigned i = 0; i < p->retry_conflict; i++)
		HG_EXPECT_EQ(hg_engine_action(HG_STATUS_MAKE_EXPLICIT(HG_ABORT_NESTED_BUSY), &b),
		    HG_ACT_BACKOFF);
	HG_EXPECT_EQ(b.busy, p->retry_busy);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_MAKE_EXPLICIT(HG_ABORT_NESTED_BUSY), &b), HG_ACT_LOCK);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_CONFLICT | HG_STATUS_RETRY, &b), HG_ACT_LOCK);

	/* A trylock or a system call in the section: the site stops speculating for a while. */
	hg_abort_budget_init(&b, p);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_MAKE_EXPLICIT(HG_ABORT_NESTED_TRYLOCK), &b), HG_ACT_SKIP);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_MAKE_EXPLICIT(HG_ABORT_SYSCALL), &b), HG_ACT_SKIP);
	/* Other codes: the lock, this acquisition only. */
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_MAKE_EXPLICIT(HG_ABORT_IRREVOCABLE), &b), HG_ACT_LOCK);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_MAKE_EXPLICIT(HG_ABORT_FINALIZING), &b), HG_ACT_LOCK);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_MAKE_EXPLICIT(HG_ABORT_STM_BUSY), &b), HG_ACT_LOCK);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_MAKE_EXPLICIT(0x42), &b), HG_ACT_LOCK);

	/* Capacity: one retry, then demote. */
	hg_abort_budget_init(&b, p);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_CAPACITY, &b), HG_ACT_RETRY);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_CAPACITY, &b), HG_ACT_DEMOTE);

	/* Status 0: retry once; only a second one in a row skips. */
	hg_abort_budget_init(&b, p);
	HG_EXPECT_EQ(hg_engine_action(0, &b), HG_ACT_RETRY);
	HG_EXPECT_EQ(hg_engine_action(0, &b), HG_ACT_SKIP);
	hg_abort_budget_init(&b, p);
	HG_EXPECT_EQ(hg_engine_action(0, &b), HG_ACT_RETRY);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_CONFLICT | HG_STATUS_RETRY, &b), HG_ACT_BACKOFF);
	HG_EXPECT_EQ(hg_engine_action(0, &b), HG_ACT_RETRY); /* not in a row */
	HG_EXPECT_EQ(hg_engine_action(0, &b), HG_ACT_SKIP);
	/* DEBUG or NESTED without RETRY: no retry. */
	hg_abort_budget_init(&b, p);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_DEBUG, &b), HG_ACT_SKIP);
	HG_EXPECT_EQ(hg_engine_action(HG_STATUS_NESTED, &b), HG_ACT_SKIP);
}

static void test_conflict_budget(void)
{
	struct hg_lock l;
	struct hg_site_stats s;
	long c = 0;
	uint64_t site = hg_site("budget");
	fresh(&l, "budget", "conflict=1,seed=6");
	run(&l, site, 1, &c);
	hg_stats_get(&l, site, &s);
	HG_EXPECT_EQ(s.attempts, 1 + defaults.retry_conflict);
	HG_EXPECT_EQ(s.commits[HG_TIER_LOCK], 1);
}

/* A real holder makes emulated begins report busy; the policy waits, then commits. */
static struct hg_lock bl;
static uint32_t holding;
static void *holder(void *arg)
{
	(void)arg;
	hg_mutex_lock(&bl.mutex);
	hg_atomic_store_release32(&holding, 1);
	usleep(30000);
	hg_mutex_unlock(&bl.mutex);
	return NULL;
}

static void test_busy_waits_then_elides(void)
{
	struct hg_site_stats s;
	long c = 0;
	pthread_t t;
	uint64_t site = hg_site("busy");
	fresh(&bl, "busy", "seed=7");
	pthread_create(&t, NULL, holder, NULL);
	while (!hg_atomic_load_acquire32(&holding))
		usleep(100);
	run(&bl, site, 1, &c);
	pthread_join(t, NULL);
	hg_stats_get(&bl, site, &s);
	HG_EXPECT(s.explicit_codes[0] >= 1); /* slot 0 = HG_ABORT_BUSY */
	HG_EXPECT_EQ(s.commits_emu, 1);
	HG_EXPECT_EQ(s.commits[HG_TIER_HTM], 0); /* emulated commits are not RTM's */
	HG_EXPECT(s.abort_rate == 0.0); /* busy aborts do not count against the site */
}

static void test_policy_grammar(void)
{
	struct hg_policy p;
	hg_policy_set(&defaults);
	HG_EXPECT_EQ(hg_policy_parse("retry_conflict=9,demote_rate=0.25"), 0);
	hg_policy_get(&p);
	HG_EXPECT_EQ(p.retry_conflict, 9);
	HG_EXPECT(p.demote_rate == 0.25);
	HG_EXPECT_EQ(hg_policy_parse("retry_conflict=-1"), -1);
	HG_EXPECT_EQ(hg_policy_parse("nope=1"), -1);
	HG_EXPECT_EQ(hg_policy_parse("demote_rate=2"), -1);
	HG_EXPECT_EQ(hg_policy_parse("retry_busy"), -1);
	hg_policy_get(&p);
	HG_EXPECT_EQ(p.retry_conflict, 9); /* a bad spec changes nothing */
	HG_EXPECT_EQ(hg_policy_parse("retry_capacity=5"), 0);
	hg_policy_get(&p);
	HG_EXPECT_EQ(p.retry_capacity, 1); /* clamped: capacity retries at most once */
	hg_policy_set(&defaults);
}

int main(void)
{
	static const struct hg_test t[] = {
		HG_TEST(test_capacity_demotes_within_two_attempts), HG_TEST(test_conflict_30_stays_elided),
		HG_TEST(test_phase_change_repromotes), HG_TEST(test_reprobe_backoff),
		HG_TEST(test_no_retry_skips), HG_TEST(test_conflict_budget),
		HG_TEST(test_busy_waits_then_elides), HG_TEST(test_policy_grammar),
		HG_TEST(test_status0_retried_once), HG_TEST(test_action_table),
	};
	return HG_RUN_TESTS(t);
}
