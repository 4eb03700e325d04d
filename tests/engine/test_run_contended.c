/* SPDX-License-Identifier: MIT */
/*
 * tests/engine/test_run_contended.c - hg_run's settled lock tier under
 * contention (engine/run.c, HG_RUN_CONTENDED; docs/design.md, "Sections
 * that run on any tier"): a section whose fast path finds stm_seq held
 * waits for it, and the thread's next 64 lock-tier sections run under the
 * mutex, which parks waiters, before the fast path (stm_seq alone) is
 * tried again.  The body tells the two apart: the fast path leaves the
 * mutex free.
 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "hg_test.h"
#include "htmgil/htmgil.h"
#include "htmgil/stm.h"
#include "fallback/stm.h"

static struct hg_lock L;
static uint64_t site;
static int locked_in[200];
static int n_run; /* sections the worker has run (atomic: main reads it while it runs) */

static void body(struct hg_tx *tx, void *p)
{
	(void)tx;
	int *i = p;
	locked_in[*i] = hg_mutex_is_locked(&L.mutex);
}

static void *worker(void *arg)
{
	(void)arg;
	hg_run_force_thread(HG_TIER_LOCK);
	for (int i = 0; i < 200; i++) {
		hg_run(&L, site, body, &i);
		__atomic_store_n(&n_run, i + 1, __ATOMIC_RELAXED);
	}
	hg_run_force_thread(-1);
	return NULL;
}

static void settle(void)
{
	/* The site's record and the lock's STM readiness, on this thread. */
	hg_run_force_thread(HG_TIER_LOCK);
	for (int i = 0; i < 10; i++)
		hg_run(&L, site, body, &i);
	hg_run_force_thread(-1);
}

static void test_contended_takes_the_mutex(void)
{
	settle();
	/* Uncontended: every section on the fast path. */
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	pthread_join(t, NULL);
	for (int i = 0; i < 200; i++)
		HG_EXPECT_EQ(locked_in[i], 0);

	/* The first section finds stm_seq held and waits; the next 64 run
	 * under the mutex; the rest on the fast path again. */
	__atomic_store_n(&n_run, 0, __ATOMIC_RELAXED);
	hg_stm_seq_enter(&L);
	pthread_create(&t, NULL, worker, NULL);
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	HG_EXPECT_EQ(__atomic_load_n(&n_run, __ATOMIC_RELAXED), 0);
	hg_stm_seq_exit(&L);
	pthread_join(t, NULL);
	HG_EXPECT_EQ(locked_in[0], 0);
	int under = 0;
	for (int i = 1; i <= 64; i++)
		under += locked_in[i];
	HG_EXPECT_EQ(under, 64);
	for (int i = 65; i < 200; i++)
		HG_EXPECT_EQ(locked_in[i], 0);
	HG_EXPECT_EQ(L.stm_seq & 1u, 0);
	HG_EXPECT(!hg_mutex_is_locked(&L.mutex));
}

static const struct hg_test tests[] = {
	HG_TEST(test_contended_takes_the_mutex),
};

int main(void)
{
	hg_lock_init(&L, "run-contended");
	site = hg_site("run-contended");
	int rc = HG_RUN_TESTS(tests);
	hg_lock_destroy(&L);
	return rc;
}
