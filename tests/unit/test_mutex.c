/* SPDX-License-Identifier: MIT */
/* tests/unit/test_mutex.c - the real lock (fallback/mutex.c). */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "hg_test.h"
#include "base/atomic.h"
#include "htmgil/lock.h"

static void test_basic(void)
{
	struct hg_mutex m = HG_MUTEX_INITIALIZER;
	HG_EXPECT(!hg_mutex_is_locked(&m));
	hg_mutex_lock(&m);
	HG_EXPECT(hg_mutex_is_locked(&m));
	HG_EXPECT(!hg_mutex_trylock(&m));
	HG_EXPECT_EQ(hg_mutex_unlock(&m), 0);
	HG_EXPECT(!hg_mutex_is_locked(&m));
	HG_EXPECT_EQ(m.word, 0);
	HG_EXPECT(hg_mutex_trylock(&m));
	HG_EXPECT_EQ(hg_mutex_unlock(&m), 0);
}

static void test_unlock_unheld(void)
{
	struct hg_mutex m = HG_MUTEX_INITIALIZER;
	HG_EXPECT_EQ(hg_mutex_unlock(&m), EPERM);
	HG_EXPECT_EQ(m.word, 0);
}

static struct hg_mutex xm = HG_MUTEX_INITIALIZER;
static void *other_unlock(void *arg)
{
	*(int *)arg = hg_mutex_unlock(&xm);
	return NULL;
}

static void test_unlock_by_other_thread(void)
{
	int r = -1;
	pthread_t t;
	hg_mutex_lock(&xm);
	pthread_create(&t, NULL, other_unlock, &r);
	pthread_join(t, NULL);
	HG_EXPECT_EQ(r, EPERM);
	HG_EXPECT(hg_mutex_is_locked(&xm)); /* still ours */
	HG_EXPECT_EQ(hg_mutex_unlock(&xm), 0);
}

/* A waiter parked while the lock is held, then woken by the release. */
static struct hg_mutex wm = HG_MUTEX_INITIALIZER;
static uint32_t wstate;
static void *waiter(void *arg)
{
	(void)arg;
	hg_atomic_store_release32(&wstate, 1);
	hg_mutex_wait_free(&wm, 16);
	hg_atomic_store_release32(&wstate, 2);
	return NULL;
}

static void test_wait_free(void)
{
	pthread_t t;
	hg_mutex_lock(&wm);
	pthread_create(&t, NULL, waiter, NULL);
	while (hg_atomic_load_acquire32(&wstate) != 1)
		usleep(100);
	usleep(20000); /* long enough to park */
	HG_EXPECT_EQ(hg_atomic_load_acquire32(&wstate), 1);
	HG_EXPECT(hg_atomic_load_relaxed32(&wm.word) & HG_MUTEX_WAITERS);
	hg_mutex_unlock(&wm);
	pthread_join(t, NULL);
	HG_EXPECT_EQ(wstate, 2);
	HG_EXPECT(!hg_mutex_is_locked(&wm)); /* waiting never takes the lock */
}

/*
 * No starvation: the main thread releases and at once re-takes the lock, so
 * a woken waiter keeps losing the race; the hand-off must give it the lock
 * within a few rounds.  A barging lock without hand-off fails this.
 */
static struct hg_mutex sm = HG_MUTEX_INITIALIZER;
static uint32_t got;
static void *starver(void *arg)
{
	(void)arg;
	hg_mutex_lock(&sm);
	hg_atomic_store_release32(&got, 1);
	hg_mutex_unlock(&sm);
	return NULL;
}

static void test_no_starvation(void)
{
	pthread_t t;
	unsigned rounds = 0;
	hg_mutex_lock(&sm);
	pthread_create(&t, NULL, starver, NULL);
	while (!hg_atomic_load_acquire32(&got) && rounds < 200) {
		usleep(2000);      /* the waiter parks */
		hg_mutex_unlock(&sm);
		hg_mutex_lock(&sm); /* and races it at once */
		rounds++;
	}
	hg_mutex_unlock(&sm);
	pthread_join(t, NULL);
	printf("waiter got the lock after %u rounds; hand-offs granted: %u\n", rounds, hg_atomic_load_relaxed32(&sm.serving));
	HG_EXPECT(rounds < 200);
	HG_EXPECT_EQ(hg_atomic_load_relaxed32(&sm.word), 0);
}

int main(void)
{
	static const struct hg_test t[] = {
		HG_TEST(test_basic), HG_TEST(test_unlock_unheld), HG_TEST(test_unlock_by_other_thread),
		HG_TEST(test_wait_free), HG_TEST(test_no_starvation),
	};
	return HG_RUN_TESTS(t);
}
