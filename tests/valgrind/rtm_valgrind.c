/* SPDX-License-Identifier: MIT */
/*
 * tests/valgrind/rtm_valgrind.c - the real RTM code path under valgrind.
 *
 * Valgrind executes XBEGIN as an immediate abort with the CAPACITY status,
 * whatever the host CPU, so under valgrind HTMGIL_HTM=rtm is let through the
 * gate (test mode) and every section runs: XBEGIN -> abort -> capacity retry
 * -> demotion -> real lock, with re-probes later.  The test checks that the
 * results are right and that the aborts were counted as capacity aborts.
 * Outside valgrind (and without RTM) it skips: nothing may execute XBEGIN.
 */
#include <pthread.h>

#include "hg_test.h"
#include "htm/detect.h"
#include "htmgil/htmgil.h"

#define THREADS 2
#define OPS 3000

static struct hg_lock l;
static long counter;

static void *worker(void *arg)
{
	(void)arg;
	uint64_t site = hg_site("valgrind.counter");
	for (int i = 0; i < OPS; i++) {
		hg_lock_acquire(&l, site);
		counter++;
		hg_lock_release(&l);
		if (hg_lock_tryacquire(&l, site) == 0) {
			counter++;
			hg_lock_release(&l);
		}
	}
	return NULL;
}

static void test_rtm_abort_path(void)
{
	if (!hg_under_valgrind())
		HG_SKIP("not running under valgrind");
	HG_ASSERT_EQ(hg_htm_set_mode(HG_HTM_REQ_RTM), HG_HTM_RTM);
	const struct hg_cpu_info *ci = hg_cpu_detect();
	printf("verdict: %s\n", hg_rtm_verdict_str(ci->verdict));
	HG_EXPECT_EQ(ci->verdict, HG_RTM_VALGRIND);

	pthread_t t[THREADS];
	hg_lock_init(&l, "valgrind");
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	struct hg_site_stats s;
	hg_stats_get(&l, hg_site("valgrind.counter"), &s);
	printf("acquisitions %" PRIu64 " attempts %" PRIu64 " capacity aborts %" PRIu64
	       " htm commits %" PRIu64 " lock commits %" PRIu64 " demotions %" PRIu64 " reprobes %" PRIu64 "\n",
	    s.acquisitions, s.attempts, s.aborts[HG_CAUSE_CAPACITY], s.commits[HG_TIER_HTM],
	    s.commits[HG_TIER_LOCK], s.demotions[HG_REASON_CAPACITY], s.reprobes);
	HG_EXPECT_EQ(counter, (long)s.commits[HG_TIER_LOCK]);
	HG_EXPECT(counter >= THREADS * OPS);
	HG_EXPECT(s.attempts > 0);
	HG_EXPECT_EQ(s.aborts[HG_CAUSE_CAPACITY], s.attempts); /* every XBEGIN aborted, as CAPACITY */
	HG_EXPECT_EQ(s.commits[HG_TIER_HTM], 0);
	HG_EXPECT(s.demotions[HG_REASON_CAPACITY] >= THREADS); /* each thread's site demoted */
	HG_EXPECT(s.reprobes > 0);  /* and re-probed later, through XBEGIN again */
	HG_EXPECT_EQ(s.promotions[HG_REASON_REPROBE], 0);
	HG_EXPECT(!hg_mutex_is_locked(&l.mutex));
}

int main(void)
{
	static const struct hg_test t[] = { HG_TEST(test_rtm_abort_path) };
	return HG_RUN_TESTS(t);
}
