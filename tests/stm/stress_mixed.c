/* SPDX-License-Identifier: MIT */
/*
 * tests/stm/stress_mixed.c - plain sections (hg_lock_acquire/release,
 * uninstrumented) and hg_run sections forced onto the STM tier, on one lock
 * at the same time.
 *
 * Half the threads move money between accounts with plain stores inside
 * hg_lock_acquire sections (the lock tier, or emulated HTM with injected
 * aborts), writing the two accounts with a pause in between so a software
 * transaction that ignored them would see the transfer half done; the other
 * half transfer and audit with hg_run on the STM tier.  Every audit, software
 * or plain, must see the total unchanged, and so must the end.
 * HG_STRESS_HTM=rtm (stm_test.h) runs the plain sections on real RTM instead
 * of the emulated HTM, with a window of plain instructions (PAUSE aborts a
 * hardware transaction).
 */
#include <pthread.h>
#include <stdlib.h>

#include "base/atomic.h"
#include "htmgil/htmgil.h"
#include "stm_test.h"

#define ACCOUNTS 64
#define TOTAL (ACCOUNTS * 1000)

static struct hg_lock lock;
static int64_t accounts[ACCOUNTS];
static uint32_t bad_audits, stm_audits;
static unsigned sections;
static int htm_mode = HG_HTM_EMU;

struct xfer { unsigned a, b; int64_t amount; int64_t sum; };

static void stm_transfer(struct hg_tx *tx, void *arg)
{
	struct xfer *x = arg;
	uint64_t *a = (uint64_t *)&accounts[x->a], *b = (uint64_t *)&accounts[x->b];
	hg_store64(tx, a, hg_load64(tx, a) - (uint64_t)x->amount);
	hg_store64(tx, b, hg_load64(tx, b) + (uint64_t)x->amount);
}

static void stm_audit(struct hg_tx *tx, void *arg)
{
	struct xfer *x = arg;
	x->sum = 0;
	for (unsigned k = 0; k < ACCOUNTS; k++)
		x->sum += (int64_t)hg_load64(tx, (const uint64_t *)&accounts[k]);
}

static void *stm_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	uint64_t site = hg_site("mixed.stm");
	hg_run_force_thread(HG_TIER_STM);
	for (unsigned i = 0; i < sections; i++) {
		struct xfer x = { rand_r(&seed) % ACCOUNTS, rand_r(&seed) % ACCOUNTS, rand_r(&seed) % 50, 0 };
		if (i % 8 == 0) {
			hg_run(&lock, site, stm_audit, &x);
			hg_atomic_fetch_add_relaxed32(&stm_audits, 1);
			if (x.sum != TOTAL) {
				hg_atomic_fetch_add_relaxed32(&bad_audits, 1);
			}
		} else {
			hg_run(&lock, site, stm_transfer, &x);
		}
	}
	return NULL;
}

static void *plain_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	uint64_t site = hg_site("mixed.plain");
	for (unsigned i = 0; i < sections; i++) {
		unsigned a = rand_r(&seed) % ACCOUNTS, b = rand_r(&seed) % ACCOUNTS;
		int64_t amount = rand_r(&seed) % 50;
		hg_lock_acquire(&lock, site);
		if (i % 8 == 0) {
			int64_t sum = 0;
			for (unsigned k = 0; k < ACCOUNTS; k++)
				sum += __atomic_load_n(&accounts[k], __ATOMIC_RELAXED);
			if (sum != TOTAL) {
				hg_atomic_fetch_add_relaxed32(&bad_audits, 1);
			}
		} else {
			/*
			 * Uninstrumented stores, with a window between them.  Relaxed
			 * atomics compile to the plain MOVs any code would use; they
			 * only tell ThreadSanitizer that software readers may look at
			 * these words while they change (and then revalidate).
			 */
			__atomic_store_n(&accounts[a], __atomic_load_n(&accounts[a], __ATOMIC_RELAXED) - amount,
			    __ATOMIC_RELAXED);
			if (htm_mode == HG_HTM_RTM)
				for (int k = 0; k < 200; k++)
					__asm__ volatile("" ::: "memory");
			else
				for (int k = 0; k < 20; k++)
					hg_cpu_relax();
			__atomic_store_n(&accounts[b], __atomic_load_n(&accounts[b], __ATOMIC_RELAXED) + amount,
			    __ATOMIC_RELAXED);
		}
		hg_lock_release(&lock);
	}
	return NULL;
}

static void run(enum hg_htm_mode mode, const char *emu)
{
	unsigned n = 4;
	pthread_t t[8];
	hg_lock_init(&lock, "mixed");
	HG_ASSERT_EQ(hg_lock_set_mode(&lock, mode), 0);
	HG_ASSERT_EQ(hg_emu_configure(emu), 0);
	for (unsigned k = 0; k < ACCOUNTS; k++)
		accounts[k] = 1000;
	bad_audits = stm_audits = 0;
	sections = (unsigned)(40000 * hg_test_scale());
	for (unsigned i = 0; i < n; i++)
		pthread_create(&t[i], NULL, i % 2 ? stm_worker : plain_worker, (void *)(uintptr_t)(i + 1));
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	int64_t sum = 0;
	for (unsigned k = 0; k < ACCOUNTS; k++)
		sum += accounts[k];
	struct hg_site_stats s;
	hg_stats_get(&lock, hg_site("mixed.stm"), &s);
	printf("mode %s: total %lld (want %d), bad audits %u of %u software + plain, stm commits %" PRIu64
	       ", stm aborts %" PRIu64 "\n",
	    hg_htm_mode_name(mode), (long long)sum, TOTAL, bad_audits, stm_audits,
	    s.commits[HG_TIER_STM], s.stm_aborts);
	HG_EXPECT_EQ(sum, TOTAL);
	HG_EXPECT_EQ(bad_audits, 0);
	HG_EXPECT(s.commits[HG_TIER_STM] > 0); /* the software tier really ran */
	HG_EXPECT(lock.stm_used);
	HG_EXPECT_EQ(hg_atomic_load_relaxed32(&lock.stm_seq) & 1, 0);
	if (mode == HG_HTM_RTM) {
		struct hg_site_stats p;
		hg_stats_get(&lock, hg_site("mixed.plain"), &p);
		printf("plain sections: commits htm %" PRIu64 " lock %" PRIu64 "\n", p.commits[HG_TIER_HTM],
		    p.commits[HG_TIER_LOCK]);
		HG_EXPECT(p.commits[HG_TIER_HTM] > 0); /* plain sections ran in hardware */
	}
}

static void test_plain_and_stm_lock_tier(void)
{
	if (htm_mode == HG_HTM_RTM)
		HG_SKIP("HG_STRESS_HTM=rtm runs the hardware tier only");
	run(HG_HTM_OFF, "seed=1");
}
/* The injected aborts apply to the emulated HTM only. */
static void test_plain_and_stm_emu(void)
{
	run((enum hg_htm_mode)htm_mode, "conflict=0.3,capacity=0.05,other=0.02,seed=2");
}
static void test_plain_and_stm_emu_noabort(void)
{
	if (htm_mode == HG_HTM_RTM)
		HG_SKIP("the same run as test_plain_and_stm_emu on real RTM");
	run(HG_HTM_EMU, "seed=2");
}

int main(void)
{
	htm_mode = hg_test_stress_mode();
	if (htm_mode < 0)
		return htm_mode == -1 ? 77 : 1;
	static const struct hg_test t[] = {
		HG_TEST(test_plain_and_stm_lock_tier), HG_TEST(test_plain_and_stm_emu), HG_TEST(test_plain_and_stm_emu_noabort),
	};
	return HG_RUN_TESTS(t);
}
