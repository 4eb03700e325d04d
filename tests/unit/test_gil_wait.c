/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_gil_wait.c - waiting for a busy GIL without taking it
 * (gil/wait.h): the waiter only reads the word (it sees it through a
 * read-only mapping, so a write would fault), is counted while it waits,
 * returns once the word reads 0, and gives up after its budget.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hg_test.h"
#include "gil/wait.h"

static struct hg_gil_waiters waiters;
static uint32_t *word_rw;       /* the holder's view */
static const uint32_t *word_ro; /* the waiter's: the same page, read-only */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { 0, ns };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void setup(void)
{
	int fd = memfd_create("hg_gil_wait", 0);
	HG_ASSERT(fd >= 0);
	HG_ASSERT_EQ(ftruncate(fd, 4096), 0);
	word_rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	word_ro = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	HG_ASSERT(word_rw != MAP_FAILED && word_ro != MAP_FAILED);
}

static void test_free_at_once(void)
{
	hg_atomic_store_relaxed32(word_rw, 0);
	uint64_t t = now_ns();
	HG_EXPECT(hg_gil_wait_unlocked(word_ro, &waiters, 512, HG_GIL_WAIT_BUDGET_NS));
	HG_EXPECT(now_ns() - t < HG_GIL_WAIT_BUDGET_NS);
	HG_EXPECT(!hg_gil_waiters_any(&waiters));
}

static int holder_saw_waiter;

static void *holder(void *arg)
{
	(void)arg;
	/* Until the waiter is counted (at most 1 s), then 2 ms more. */
	for (int i = 0; i < 1000 && !hg_gil_waiters_any(&waiters); i++)
		sleep_ns(1000000);
	holder_saw_waiter = hg_gil_waiters_any(&waiters);
	sleep_ns(2000000);
	hg_atomic_store_relaxed32(word_rw, 0);
	return NULL;
}

static void test_released(void)
{
	hg_atomic_store_relaxed32(word_rw, 1);
	pthread_t h;
	HG_ASSERT_EQ(pthread_create(&h, NULL, holder, NULL), 0);
	uint64_t t = now_ns();
	bool freed = hg_gil_wait_unlocked(word_ro, &waiters, 64, 2000000000ull);
	uint64_t dt = now_ns() - t;
	pthread_join(h, NULL);
	HG_EXPECT(freed);
	HG_EXPECT(holder_saw_waiter);   /* counted while it waited */
	HG_EXPECT(dt >= 2000000);       /* not before the release */
	HG_EXPECT(!hg_gil_waiters_any(&waiters));
	HG_EXPECT_EQ(hg_atomic_load_relaxed32(word_rw), 0);
}

static void test_budget(void)
{
	hg_atomic_store_relaxed32(word_rw, 1);
	uint64_t t = now_ns();
	HG_EXPECT(!hg_gil_wait_unlocked(word_ro, &waiters, 64, 3000000));
	uint64_t dt = now_ns() - t;
	HG_EXPECT(dt >= 3000000);
	HG_EXPECT(!hg_gil_waiters_any(&waiters));
	HG_EXPECT_EQ(hg_atomic_load_relaxed32(word_rw), 1); /* never written */
}

static const struct hg_test tests[] = {
	HG_TEST(test_free_at_once),
	HG_TEST(test_released),
	HG_TEST(test_budget),
};

int main(void)
{
	setup();
	return HG_RUN_TESTS(tests);
}
