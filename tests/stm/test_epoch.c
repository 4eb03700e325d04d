/* SPDX-License-Identifier: MIT */
/*
 * tests/stm/test_epoch.c - unit tests of epoch-based reclamation
 * (fallback/epoch.h) on its own and as the STM uses it: a block retired
 * while some thread is announced in an epoch not newer than the block's is
 * not freed until that announcement ends, and is freed by the next scan
 * after; a newer announcement does not hold it; the periodic scan, an
 * exited thread's leftovers, and a software attempt's announcement obey
 * the same rule.  Frees are observed through the library's free hook.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "htmgil/htmgil.h"
#include "htmgil/stm.h"
#include "fallback/epoch.h"
#include "base/atomic.h"
#include "hg_test.h"

static struct hg_lock L;

/* ------------------------------------------------------ observing frees */

#define MAX_TRACKED (HG_EPOCH_SCAN_EVERY + 8)

static void *tracked[MAX_TRACKED];
static uint32_t tracked_freed[MAX_TRACKED]; /* set by the hook, any thread */
static size_t n_tracked;

/* Forgets earlier blocks; called while no other thread scans. */
static void track_reset(void)
{
	for (size_t i = 0; i < MAX_TRACKED; i++) {
		tracked[i] = NULL;
		hg_atomic_store_relaxed32(&tracked_freed[i], 0);
	}
	n_tracked = 0;
}

/* A new block whose free the hook records; called before other threads see it. */
static void *track_new(void)
{
	void *p = malloc(32);
	if (!p || n_tracked == MAX_TRACKED)
		abort();
	tracked[n_tracked++] = p;
	return p;
}

static void counting_free(void *p)
{
	for (size_t i = 0; i < n_tracked; i++) {
		if (tracked[i] == p) {
			/* Release: pairs with the acquire in freed_count(). */
			hg_atomic_store_release32(&tracked_freed[i],
			    hg_atomic_load_relaxed32(&tracked_freed[i]) + 1);
			break;
		}
	}
	free(p);
}

/* How many of the tracked blocks were freed (a block freed twice counts twice). */
static unsigned freed_count(void)
{
	unsigned n = 0;
	for (size_t i = 0; i < n_tracked; i++)
		n += hg_atomic_load_acquire32(&tracked_freed[i]);
	return n;
}

static bool is_freed(const void *p)
{
	for (size_t i = 0; i < n_tracked; i++)
		if (tracked[i] == p)
			return hg_atomic_load_acquire32(&tracked_freed[i]) != 0;
	return false;
}

/* Spin until *flag == v (acquire: pairs with the setter's release). */
static void wait_for(uint32_t *flag, uint32_t v)
{
	while (hg_atomic_load_acquire32(flag) != v)
		sched_yield();
}

/* ---------------------------------------------------- one thread, two parts */

static void test_older_announcement_holds(void)
{
	struct hg_epoch_thread r = { 0 }, w = { 0 };
	track_reset();
	void *p = track_new();
	hg_epoch_enter(&r);
	hg_epoch_retire(&w, &p, 1);
	hg_epoch_scan(&w);
	HG_EXPECT(!is_freed(p));
	HG_EXPECT_EQ(w.limbo_n, 1);
	hg_epoch_exit(&r);
	hg_epoch_scan(&w);
	HG_EXPECT(is_freed(p));
	HG_EXPECT_EQ(w.limbo_n, 0);
	HG_EXPECT_EQ(freed_count(), 1);
	hg_epoch_thread_fini(&r);
	hg_epoch_thread_fini(&w);
}

static void test_newer_announcement_does_not_hold(void)
{
	struct hg_epoch_thread r = { 0 }, w = { 0 };
	track_reset();
	void *p = track_new();
	hg_epoch_retire(&w, &p, 1);
	/* Announced after the retirement: cannot have reached p. */
	hg_epoch_enter(&r);
	hg_epoch_scan(&w);
	HG_EXPECT(is_freed(p));
	HG_EXPECT_EQ(w.limbo_n, 0);
	hg_epoch_exit(&r);
	hg_epoch_thread_fini(&r);
	hg_epoch_thread_fini(&w);
	HG_EXPECT_EQ(freed_count(), 1);
}

/* ------------------------------------------ a reader thread, periodic scans */

struct reader_arg {
	uint32_t in, go, out;
};

static void *reader_thread(void *p)
{
	struct reader_arg *a = p;
	struct hg_epoch_thread r = { 0 };
	hg_epoch_enter(&r);
	hg_atomic_store_release32(&a->in, 1);
	wait_for(&a->go, 1);
	hg_epoch_exit(&r);
	hg_epoch_thread_fini(&r);
	hg_atomic_store_release32(&a->out, 1);
	return NULL;
}

static void test_reader_thread_and_periodic_scan(void)
{
	struct hg_epoch_thread w = { 0 };
	struct reader_arg a = { 0, 0, 0 };
	pthread_t th;
	track_reset();
	for (int i = 0; i < HG_EPOCH_SCAN_EVERY + 1; i++)
		track_new();
	HG_ASSERT(pthread_create(&th, NULL, reader_thread, &a) == 0);
	wait_for(&a.in, 1);
	/* One at a time: the last ones cross HG_EPOCH_SCAN_EVERY and scan. */
	for (int i = 0; i < HG_EPOCH_SCAN_EVERY; i++)
		hg_epoch_retire(&w, &tracked[i], 1);
	HG_EXPECT_EQ(freed_count(), 0);
	HG_EXPECT_EQ(w.limbo_n, HG_EPOCH_SCAN_EVERY);
	hg_atomic_store_release32(&a.go, 1);
	wait_for(&a.out, 1);
	hg_epoch_retire(&w, &tracked[HG_EPOCH_SCAN_EVERY], 1); /* scans again */
	HG_EXPECT_EQ(freed_count(), HG_EPOCH_SCAN_EVERY + 1);
	HG_EXPECT_EQ(w.limbo_n, 0);
	pthread_join(th, NULL);
	hg_epoch_thread_fini(&w);
}

/* --------------------------------------------------- through the STM tier */

struct free_arg {
	void *p;
	int tier; /* enum hg_tier forced in the thread */
};

static void free_body(struct hg_tx *tx, void *p)
{
	struct free_arg *a = p;
	hg_tx_free(tx, a->p);
}

/* Frees a->p in one section and exits: its leftovers go to the orphans. */
static void *freeing_thread(void *p)
{
	struct free_arg *a = p;
	hg_run_force_thread(a->tier);
	hg_run(&L, hg_site("epoch-free"), free_body, a);
	return NULL;
}

/* A section's frees outlive its thread while an older announcement stands. */
static void exited_thread_orphans(int tier)
{
	struct hg_epoch_thread r = { 0 }, w = { 0 };
	track_reset();
	struct free_arg a = { track_new(), tier };
	void *p = a.p;
	pthread_t th;
	hg_epoch_enter(&r);
	HG_ASSERT(pthread_create(&th, NULL, freeing_thread, &a) == 0);
	pthread_join(th, NULL);
	hg_epoch_scan(&w);
	HG_EXPECT(!is_freed(p));
	hg_epoch_exit(&r);
	hg_epoch_scan(&w);
	HG_EXPECT(is_freed(p));
	HG_EXPECT_EQ(freed_count(), 1);
	hg_epoch_thread_fini(&r);
	hg_epoch_thread_fini(&w);
}

static void test_exited_thread_orphans_stm(void)
{
	exited_thread_orphans(HG_TIER_STM);
}

static void test_exited_thread_orphans_lock(void)
{
	exited_thread_orphans(HG_TIER_LOCK);
}

struct section_arg {
	uint64_t word;
	uint32_t inside, go;
	int attempts;
};

/* The first attempt waits, announced, until the main thread has scanned. */
static void waiting_body(struct hg_tx *tx, void *p)
{
	struct section_arg *a = p;
	(void)hg_load64(tx, &a->word);
	if (a->attempts++ == 0) {
		hg_atomic_store_release32(&a->inside, 1);
		wait_for(&a->go, 1);
	}
}

static void *section_thread(void *p)
{
	hg_run_force_thread(HG_TIER_STM);
	hg_run(&L, hg_site("epoch-wait"), waiting_body, p);
	return NULL;
}

static void test_stm_attempt_announces(void)
{
	struct hg_epoch_thread w = { 0 };
	struct section_arg a = { 0, 0, 0, 0 };
	pthread_t th;
	track_reset();
	void *p = track_new();
	HG_ASSERT(pthread_create(&th, NULL, section_thread, &a) == 0);
	wait_for(&a.inside, 1);
	hg_epoch_retire(&w, &p, 1);
	hg_epoch_scan(&w);
	HG_EXPECT(!is_freed(p));
	hg_atomic_store_release32(&a.go, 1);
	pthread_join(th, NULL);
	hg_epoch_scan(&w);
	HG_EXPECT(is_freed(p));
	HG_EXPECT_EQ(freed_count(), 1);
	hg_epoch_thread_fini(&w);
}

static const struct hg_test tests[] = {
	HG_TEST(test_older_announcement_holds),
	HG_TEST(test_newer_announcement_does_not_hold),
	HG_TEST(test_reader_thread_and_periodic_scan),
	HG_TEST(test_exited_thread_orphans_stm),
	HG_TEST(test_exited_thread_orphans_lock),
	HG_TEST(test_stm_attempt_announces),
};

int main(void)
{
	hg_lock_init(&L, "epoch-unit");
	/* Hardware tier off on this lock whatever the process mode. */
	if (hg_lock_set_mode(&L, HG_HTM_OFF) != 0) {
		fprintf(stderr, "test_epoch: hg_lock_set_mode(HG_HTM_OFF) refused\n");
		return 1;
	}
	hg_epoch_set_free_hook(counting_free);
	int rc = HG_RUN_TESTS(tests);
	hg_epoch_set_free_hook(NULL);
	hg_lock_destroy(&L);
	return rc;
}
