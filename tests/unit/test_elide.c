/* SPDX-License-Identifier: MIT */
/* tests/unit/test_elide.c - the elided lock's API, nesting, misuse and the report. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "hg_test.h"
#include "base/atomic.h"
#include "htmgil/htmgil.h"

static const enum hg_htm_mode modes[] = { HG_HTM_OFF, HG_HTM_EMU };

static void test_acquire_release(void)
{
	for (unsigned m = 0; m < 2; m++) {
		struct hg_lock l;
		hg_lock_init(&l, "basic");
		HG_ASSERT_EQ(hg_lock_set_mode(&l, modes[m]), 0);
		HG_ASSERT_EQ(hg_emu_configure("seed=1"), 0);
		hg_lock_acquire(&l, 0);
		HG_EXPECT_EQ(hg_lock_held_tier(&l), modes[m] == HG_HTM_EMU ? HG_TIER_HTM : HG_TIER_LOCK);
		HG_EXPECT_EQ(hg_in_transaction(), modes[m] == HG_HTM_EMU);
		HG_EXPECT(hg_mutex_is_locked(&l.mutex)); /* emulated sections hold it too */
		HG_EXPECT_EQ(hg_lock_release(&l), 0);
		HG_EXPECT_EQ(hg_lock_held_tier(&l), -1);
		HG_EXPECT(!hg_mutex_is_locked(&l.mutex));
		HG_EXPECT(!hg_in_transaction());
	}
}

static struct hg_lock tl;
static void *try_other(void *arg)
{
	*(int *)arg = hg_lock_tryacquire(&tl, 0);
	if (*(int *)arg == 0)
		hg_lock_release(&tl);
	return NULL;
}

static void test_tryacquire(void)
{
	for (unsigned m = 0; m < 2; m++) {
		int r = -1;
		pthread_t t;
		hg_lock_init(&tl, "try");
		HG_ASSERT_EQ(hg_lock_set_mode(&tl, modes[m]), 0);
		HG_EXPECT_EQ(hg_lock_tryacquire(&tl, 0), 0);
		pthread_create(&t, NULL, try_other, &r);
		pthread_join(t, NULL);
		HG_EXPECT_EQ(r, EBUSY);
		HG_EXPECT_EQ(hg_lock_release(&tl), 0);
		pthread_create(&t, NULL, try_other, &r);
		pthread_join(t, NULL);
		HG_EXPECT_EQ(r, 0);
	}
}

static void test_trylock_nested_same_lock(void)
{
	/* POSIX: a default mutex's trylock by its holder fails with EBUSY. */
	for (unsigned m = 0; m < 2; m++) {
		struct hg_lock l;
		hg_lock_init(&l, "self");
		HG_ASSERT_EQ(hg_lock_set_mode(&l, modes[m]), 0);
		hg_lock_acquire(&l, 0);
		HG_EXPECT_EQ(hg_lock_tryacquire(&l, 0), EBUSY);
		HG_EXPECT_EQ(hg_lock_release(&l), 0);
		HG_EXPECT(!hg_mutex_is_locked(&l.mutex));
	}
}

static void test_bad_release(void)
{
	struct hg_lock l;
	struct hg_site_stats s;
	hg_lock_init(&l, "misused");
	HG_EXPECT_EQ(hg_lock_release(&l), EPERM); /* reported, not a crash */
	HG_EXPECT_EQ(hg_lock_release(&l), EPERM);
	hg_stats_get(&l, 0, &s);
	HG_EXPECT_EQ(s.bad_releases, 2);
	HG_EXPECT(!hg_mutex_is_locked(&l.mutex));
	/* still usable */
	hg_lock_acquire(&l, 0);
	HG_EXPECT_EQ(hg_lock_release(&l), 0);
}

static void test_nested_any_order(void)
{
	for (unsigned m = 0; m < 2; m++) {
		struct hg_lock a, b;
		hg_lock_init(&a, "a");
		hg_lock_init(&b, "b");
		hg_lock_set_mode(&a, modes[m]);
		hg_lock_set_mode(&b, modes[m]);
		hg_lock_acquire(&a, 0);
		hg_lock_acquire(&b, 0);
		HG_EXPECT(hg_lock_held_tier(&a) >= 0 && hg_lock_held_tier(&b) >= 0);
		HG_EXPECT_EQ(hg_lock_release(&a), 0); /* hand-over-hand order */
		HG_EXPECT_EQ(hg_lock_held_tier(&a), -1);
		HG_EXPECT(hg_lock_held_tier(&b) >= 0);
		HG_EXPECT_EQ(hg_lock_release(&b), 0);
		HG_EXPECT(!hg_mutex_is_locked(&a.mutex) && !hg_mutex_is_locked(&b.mutex));
	}
}

/*
 * Deeper nesting than the held stack tracks (64): the 65th acquisition and
 * tryacquisition take the real lock (never a speculative begin, never an
 * XABORT outside a transaction), and everything releases cleanly.
 */
#define NEST 65
static void test_nest_beyond_tracked(void)
{
	static struct hg_lock ls[NEST + 1];
	struct hg_site_stats s;
	uint64_t site = hg_site("deep");
	for (unsigned m = 0; m < 2; m++) {
		/* The lock at depth 65 in the given mode; the ones below in every combination. */
		for (unsigned below = 0; below < 2; below++) {
			HG_ASSERT_EQ(hg_emu_configure("seed=9"), 0);
			for (unsigned i = 0; i <= NEST; i++) {
				hg_lock_init(&ls[i], i < NEST - 1 ? "deep_outer" : "deep_inner");
				HG_ASSERT_EQ(hg_lock_set_mode(&ls[i], i < NEST - 1 ? modes[below] : modes[m]), 0);
			}
			hg_stats_reset();
			for (unsigned i = 0; i < NEST - 1; i++)
				hg_lock_acquire(&ls[i], site);
			hg_lock_acquire(&ls[NEST - 1], site);
			HG_EXPECT(hg_mutex_is_locked(&ls[NEST - 1].mutex));
			HG_EXPECT_EQ(hg_lock_tryacquire(&ls[NEST], site), 0);
			HG_EXPECT(hg_mutex_is_locked(&ls[NEST].mutex));
			HG_EXPECT_EQ(hg_in_transaction(), modes[below] == HG_HTM_EMU);
			HG_EXPECT_EQ(hg_lock_release(&ls[NEST]), 0);
			HG_EXPECT_EQ(hg_lock_release(&ls[NEST - 1]), 0);
			for (unsigned i = NEST - 1; i-- > 0;)
				HG_EXPECT_EQ(hg_lock_release(&ls[i]), 0);
			for (unsigned i = 0; i <= NEST; i++)
				HG_EXPECT(!hg_mutex_is_locked(&ls[i].mutex));
			HG_EXPECT(!hg_in_transaction());
			/* The two beyond the stack: no speculative attempt, a real lock each. */
			for (unsigned i = NEST - 1; i <= NEST; i++) {
				hg_stats_get(&ls[i], site, &s);
				HG_EXPECT_EQ(s.acquisitions, 1);
				HG_EXPECT_EQ(s.attempts, 0);
				HG_EXPECT_EQ(s.bad_releases, 0);
			}
			/* Still usable as usual afterwards. */
			hg_lock_acquire(&ls[NEST - 1], site);
			HG_EXPECT_EQ(hg_lock_held_tier(&ls[NEST - 1]),
			    modes[m] == HG_HTM_EMU ? HG_TIER_HTM : HG_TIER_LOCK);
			HG_EXPECT_EQ(hg_lock_release(&ls[NEST - 1]), 0);
		}
	}
}

static void test_set_mode_rtm(void)
{
	struct hg_lock l;
	hg_lock_init(&l, "rtm");
	const struct hg_cpu_info *ci = hg_cpu_detect();
	if (ci->verdict == HG_RTM_USABLE)
		HG_EXPECT_EQ(hg_lock_set_mode(&l, HG_HTM_RTM), 0);
	else
		HG_EXPECT_EQ(hg_lock_set_mode(&l, HG_HTM_RTM), -1); /* never where RTM is absent */
}

static int resolver(uint64_t key, char *buf, unsigned len)
{
	if (key != 0x1234)
		return -1;
	snprintf(buf, len, "resolved-site");
	return 0;
}

static void test_report(void)
{
	struct hg_lock l;
	char buf[16384];
	hg_lock_init(&l, "reported \"lock\"");
	hg_lock_set_mode(&l, HG_HTM_EMU);
	HG_ASSERT_EQ(hg_emu_configure("conflict=0.5,seed=9"), 0);
	hg_site_set_resolver(resolver);
	for (int i = 0; i < 100; i++) {
		hg_lock_acquire(&l, 0x1234);
		hg_lock_release(&l);
		hg_lock_acquire(&l, hg_site("named.site"));
		hg_lock_release(&l);
	}
	HG_ASSERT_EQ(hg_emu_configure("seed=1"), 0);

	FILE *f = fmemopen(buf, sizeof buf, "w");
	HG_ASSERT(f != NULL);
	HG_EXPECT_EQ(hg_report_write(f, HG_REPORT_JSON), 0);
	fclose(f);
	HG_EXPECT(strstr(buf, "\"schema\":\"htmgil-report\",\"version\":4,\"process\":{\"pid\":") != NULL);
	/* A lock forced to emu: its sections are "emu", and the report says they were emulated. */
	HG_EXPECT(strstr(buf, "\"emulated\":{\"serialized\":true,\"injected\":\"seed=1\"") != NULL);
	HG_EXPECT(strstr(buf, "\"commits\":{\"htm\":0,\"emu\":") != NULL);
	HG_EXPECT(strstr(buf, "\"tier\":\"emu\"") != NULL);
	HG_EXPECT(strstr(buf, "\"pmu\":") == NULL); /* no hardware counters were read */
	HG_EXPECT(strstr(buf, "\"name\":\"reported \\\"lock\\\"\"") != NULL); /* escaped */
	HG_EXPECT(strstr(buf, "\"name\":\"resolved-site\"") != NULL);
	HG_EXPECT(strstr(buf, "\"name\":\"named.site\"") != NULL);
	HG_EXPECT(strstr(buf, "\"conflict\":") != NULL);
	HG_EXPECT(buf[strlen(buf) - 2] == '}');

	f = fmemopen(buf, sizeof buf, "w");
	HG_ASSERT(f != NULL);
	HG_EXPECT_EQ(hg_report_write(f, HG_REPORT_TEXT), 0);
	fclose(f);
	HG_EXPECT(strstr(buf, "htmgil report: mode") != NULL);
	HG_EXPECT(strstr(buf, "\nprocess ") != NULL);
	HG_EXPECT(strstr(buf, "\nemulated HTM: sections ran serialized") != NULL);
	HG_EXPECT(strstr(buf, "were injected (HTMGIL_EMU=seed=1)") != NULL);
	HG_EXPECT(strstr(buf, "resolved-site") != NULL);
	HG_EXPECT(strstr(buf, "conflict") != NULL);

	struct hg_site_stats s;
	hg_stats_get(&l, 0x1234, &s);
	HG_EXPECT_EQ(s.acquisitions, 100);
	HG_EXPECT_EQ(s.commits[HG_TIER_HTM] + s.commits_emu + s.commits[HG_TIER_LOCK], 100);
	HG_EXPECT(s.commits_emu > 0);
	HG_EXPECT_EQ(s.commits[HG_TIER_HTM], 0); /* the lock is forced to emu */
	HG_EXPECT(s.aborts[HG_CAUSE_CONFLICT] > 0);
}

/* Counters of an exited thread are kept (folded at thread exit). */
static struct hg_lock xl;
static void *short_lived(void *arg)
{
	(void)arg;
	for (int i = 0; i < 500; i++) {
		hg_lock_acquire(&xl, 77);
		hg_lock_release(&xl);
	}
	return NULL;
}

static void test_exited_threads_counted(void)
{
	pthread_t t[3];
	struct hg_site_stats s;
	hg_lock_init(&xl, "exited");
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, short_lived, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	hg_stats_get(&xl, 77, &s);
	HG_EXPECT_EQ(s.acquisitions, 1500);
	HG_EXPECT_EQ(s.commits[HG_TIER_HTM] + s.commits_emu + s.commits[HG_TIER_LOCK], 1500);
}

/*
 * The lock tier's fast path trusts a per-site hint (the lock's address and
 * mode off at the last slow entry) and checks it after its CAS: a mode set
 * since, or another lock at the same address, must leave the fast path.
 */
static struct hg_lock hl;
static void test_stale_fast_path_hint(void)
{
	struct hg_site_stats s;
	hg_lock_init(&hl, "hint-first");
	HG_ASSERT_EQ(hg_lock_set_mode(&hl, HG_HTM_OFF), 0);
	HG_ASSERT_EQ(hg_emu_configure("seed=1"), 0);
	for (int i = 0; i < 10; i++) {
		hg_lock_acquire(&hl, 55);
		HG_EXPECT_EQ(hg_lock_held_tier(&hl), HG_TIER_LOCK);
		HG_EXPECT_EQ(hg_lock_release(&hl), 0);
	}
	/* Same lock, same site, now emulated: the hint is stale. */
	HG_ASSERT_EQ(hg_lock_set_mode(&hl, HG_HTM_EMU), 0);
	hg_lock_acquire(&hl, 55);
	HG_EXPECT(hg_in_transaction());
	HG_EXPECT_EQ(hg_lock_held_tier(&hl), HG_TIER_HTM);
	HG_EXPECT_EQ(hg_lock_release(&hl), 0);
	HG_EXPECT(!hg_mutex_is_locked(&hl.mutex));
	hg_stats_get(&hl, 55, &s);
	HG_EXPECT_EQ(s.acquisitions, 11);
	HG_EXPECT_EQ(s.commits[HG_TIER_LOCK], 10);
	HG_EXPECT_EQ(s.commits_emu, 1);
	/* Back to off, then another lock at the same address. */
	HG_ASSERT_EQ(hg_lock_set_mode(&hl, HG_HTM_OFF), 0);
	hg_lock_acquire(&hl, 55);
	HG_EXPECT_EQ(hg_lock_release(&hl), 0);
	hg_lock_destroy(&hl);
	hg_lock_init(&hl, "hint-second");
	HG_ASSERT_EQ(hg_lock_set_mode(&hl, HG_HTM_OFF), 0);
	for (int i = 0; i < 5; i++) {
		hg_lock_acquire(&hl, 55);
		HG_EXPECT(hg_mutex_is_locked(&hl.mutex));
		HG_EXPECT_EQ(hg_lock_release(&hl), 0);
	}
	HG_EXPECT(!hg_mutex_is_locked(&hl.mutex));
	hg_stats_get(&hl, 55, &s);
	HG_EXPECT_EQ(s.acquisitions, 5); /* the second lock's, not the first's */
	HG_EXPECT_EQ(s.commits[HG_TIER_LOCK], 5);
}

int main(void)
{
	static const struct hg_test t[] = {
		HG_TEST(test_acquire_release), HG_TEST(test_tryacquire), HG_TEST(test_trylock_nested_same_lock),
		HG_TEST(test_bad_release), HG_TEST(test_nested_any_order), HG_TEST(test_set_mode_rtm),
		HG_TEST(test_report), HG_TEST(test_exited_threads_counted), HG_TEST(test_nest_beyond_tracked),
		HG_TEST(test_stale_fast_path_hint),
	};
	return HG_RUN_TESTS(t);
}
