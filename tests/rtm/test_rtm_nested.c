/* SPDX-License-Identifier: MIT */
/*
 * tests/rtm/test_rtm_nested.c - the engine's answers to aborts that only real RTM
 * produces (ctest label rtm; skipped, 77, where detection refuses RTM).
 */
#include <pthread.h>
#include <unistd.h>

#include "hg_test.h"
#include "base/atomic.h"
#include "htmgil/htmgil.h"

static struct hg_policy defaults = HG_POLICY_DEFAULTS;

static bool rtm_here(void)
{
	return hg_cpu_detect()->verdict == HG_RTM_USABLE;
}

static struct hg_lock outer, inner;
static uint32_t inner_held, inner_release;
static void *hold_inner(void *arg)
{
	(void)arg;
	hg_mutex_lock(&inner.mutex);
	hg_atomic_store_release32(&inner_held, 1);
	while (!hg_atomic_load_acquire32(&inner_release))
		usleep(1000);
	hg_mutex_unlock(&inner.mutex);
	return NULL;
}

static void *release_later(void *arg)
{
	(void)arg;
	usleep(20000);
	hg_atomic_store_release32(&inner_release, 1);
	return NULL;
}

/* A held inner lock aborts the outer section with its own code, not as busy. */
static void test_inner_busy_is_not_outer_busy(void)
{
	if (!rtm_here())
		HG_SKIP("RTM not usable here");
	struct hg_site_stats s;
	pthread_t h, r;
	uint64_t site = hg_site("rtm_outer");
	hg_policy_set(&defaults);
	hg_lock_init(&outer, "rtm_outer");
	hg_lock_init(&inner, "rtm_inner");
	HG_ASSERT_EQ(hg_lock_set_mode(&outer, HG_HTM_RTM), 0);
	HG_ASSERT_EQ(hg_lock_set_mode(&inner, HG_HTM_RTM), 0);
	hg_lock_set_cost(&outer, 0); /* the hardware tier itself */
	hg_lock_set_cost(&inner, 0);
	pthread_create(&h, NULL, hold_inner, NULL);
	while (!hg_atomic_load_acquire32(&inner_held))
		usleep(100);
	pthread_create(&r, NULL, release_later, NULL);
	hg_lock_acquire(&outer, site);
	hg_lock_acquire(&inner, hg_site("rtm_inner"));
	hg_lock_release(&inner);
	hg_lock_release(&outer);
	pthread_join(r, NULL);
	pthread_join(h, NULL);
	hg_stats_get(&outer, site, &s);
	HG_EXPECT(s.explicit_codes[hg_test_explicit_slot(HG_ABORT_NESTED_BUSY)] >= 1);
	HG_EXPECT_EQ(s.explicit_codes[hg_test_explicit_slot(HG_ABORT_BUSY)], 0);
	HG_EXPECT(s.attempts <= 1 + defaults.retry_conflict);
}

/* A trylock inside the section: one abort, then skip_other acquisitions on the lock. */
static void test_nested_trylock_adapts(void)
{
	if (!rtm_here())
		HG_SKIP("RTM not usable here");
	struct hg_lock a, b;
	struct hg_site_stats s;
	uint64_t site = hg_site("rtm_try_outer");
	hg_policy_set(&defaults);
	hg_lock_init(&a, "rtm_try_outer");
	hg_lock_init(&b, "rtm_try_inner");
	HG_ASSERT_EQ(hg_lock_set_mode(&a, HG_HTM_RTM), 0);
	HG_ASSERT_EQ(hg_lock_set_mode(&b, HG_HTM_RTM), 0);
	hg_lock_set_cost(&a, 0);
	hg_lock_set_cost(&b, 0);
	for (unsigned i = 0; i < 1 + defaults.skip_other; i++) {
		hg_lock_acquire(&a, site);
		HG_EXPECT_EQ(hg_lock_tryacquire(&b, 0), 0);
		hg_lock_release(&b);
		hg_lock_release(&a);
	}
	hg_stats_get(&a, site, &s);
	HG_EXPECT_EQ(s.explicit_codes[hg_test_explicit_slot(HG_ABORT_NESTED_TRYLOCK)], 1);
	HG_EXPECT_EQ(s.skips, defaults.skip_other);
	HG_EXPECT_EQ(s.commits[HG_TIER_LOCK], 1 + defaults.skip_other);
}

int main(void)
{
	static const struct hg_test t[] = {
		HG_TEST(test_inner_busy_is_not_outer_busy), HG_TEST(test_nested_trylock_adapts),
	};
	return HG_RUN_TESTS(t);
}
