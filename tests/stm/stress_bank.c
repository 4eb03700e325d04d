/* SPDX-License-Identifier: MIT */
/*
 * tests/stm/stress_bank.c - bank invariants with all tiers mixed on one lock.
 *
 * 1024 accounts; each thread runs transfers (one per section) and, one time
 * in five, an audit that reads every account and checks the total.  Threads
 * are pinned to different tiers (lock, STM, HTM = emulated HTM with injected
 * aborts, or real RTM, adaptive) so software transactions, hardware
 * transactions and real-lock holders run against each other.
 *   HG_STRESS_THREADS   threads (default 4, 2..8 meaningful)
 *   HG_STRESS_SECTIONS  sections in total (default 2000000)
 *   HG_STRESS_HTM       emu (default) or rtm (see stm_test.h)
 * Checks: the total is conserved, every audit saw the initial total, and
 * the sequence word is even and the lock free at the end.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "htmgil/htmgil.h"
#include "htmgil/stm.h"
#include "base/atomic.h"
#include "stm_test.h"

#define ACCOUNTS 1024
#define INITIAL 1000

static struct hg_lock L;
static int64_t accounts[ACCOUNTS];
static uint64_t bad_audits;
static unsigned long per_thread;
static int htm_mode = HG_HTM_EMU;

struct transfer {
	unsigned i, j;
	int64_t amount;
};

static void transfer_body(struct hg_tx *tx, void *p)
{
	const struct transfer *t = p;
	uint64_t *a = (uint64_t *)&accounts[t->i];
	uint64_t *b = (uint64_t *)&accounts[t->j];
	hg_store64(tx, a, hg_load64(tx, a) - (uint64_t)t->amount);
	hg_store64(tx, b, hg_load64(tx, b) + (uint64_t)t->amount);
}

static void audit_body(struct hg_tx *tx, void *p)
{
	int64_t sum = 0;
	for (unsigned k = 0; k < ACCOUNTS; k++)
		sum += (int64_t)hg_load64(tx, (const uint64_t *)&accounts[k]);
	*(int64_t *)p = sum;
}

static void *worker(void *p)
{
	unsigned id = (unsigned)(uintptr_t)p;
	/* Thread 0 adaptive, then lock, STM, HTM in turn. */
	static const int tiers[4] = { -1, HG_TIER_LOCK, HG_TIER_STM, HG_TIER_HTM };
	hg_run_force_thread(tiers[id % 4]);
	uint64_t x = 0x9E3779B97F4A7C15ull * (id + 1);
	uint64_t s_tr = hg_site("bank-transfer"), s_au = hg_site("bank-audit");
	uint64_t bad = 0;
	for (unsigned long n = 0; n < per_thread; n++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (x % 5 == 0) {
			int64_t sum = 0;
			hg_run(&L, s_au, audit_body, &sum);
			if (sum != (int64_t)ACCOUNTS * INITIAL)
				bad++;
		} else {
			struct transfer t = { (unsigned)(x >> 8) % ACCOUNTS,
				(unsigned)(x >> 28) % ACCOUNTS, (int64_t)(x >> 50) % 100 };
			hg_run(&L, s_tr, transfer_body, &t);
		}
	}
	__atomic_fetch_add(&bad_audits, bad, __ATOMIC_RELAXED);
	return NULL;
}

static void stress_bank(void)
{
	unsigned long threads = hg_test_env("HG_STRESS_THREADS", 4);
	unsigned long sections = hg_test_env("HG_STRESS_SECTIONS", 2000000);
	if (threads > 64)
		threads = 64;
	per_thread = sections / threads;
	/* Emulated HTM with injected aborts of every class on this lock. */
	if (hg_emu_configure("conflict=0.1,capacity=0.02,retry=0.05,other=0.02,seed=7") != 0)
		HG_ASSERT(!"the emulation settings were refused");
	hg_lock_init(&L, "stress-bank");
	HG_ASSERT(hg_lock_set_mode(&L, (enum hg_htm_mode)htm_mode) == 0);
	for (unsigned k = 0; k < ACCOUNTS; k++)
		accounts[k] = INITIAL;
	pthread_t t[64];
	for (unsigned long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
	for (unsigned long i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	int64_t total = 0;
	for (unsigned k = 0; k < ACCOUNTS; k++)
		total += accounts[k];
	HG_EXPECT_EQ(total, (int64_t)ACCOUNTS * INITIAL);
	HG_EXPECT_EQ(bad_audits, 0);
	HG_EXPECT_EQ(L.stm_seq & 1u, 0);
	HG_EXPECT(!hg_mutex_is_locked(&L.mutex));
	/* Every tier really ran on this lock. */
	struct hg_site_stats tr;
	hg_stats_get(&L, hg_site("bank-transfer"), &tr);
	/* The hardware tier committed: emulated commits under emu, RTM's under rtm. */
	HG_EXPECT((htm_mode == HG_HTM_EMU ? tr.commits_emu : tr.commits[HG_TIER_HTM]) > 0);
	HG_EXPECT(tr.commits[HG_TIER_STM] > 0);
	HG_EXPECT(tr.commits[HG_TIER_LOCK] > 0);
	if (htm_mode == HG_HTM_EMU)
		HG_EXPECT(tr.aborts[HG_CAUSE_CONFLICT] > 0); /* injected */
	fprintf(stderr, "bank (%s): commits htm %llu emu %llu stm %llu lock %llu, htm aborts conflict %llu "
	    "capacity %llu other %llu, stm aborts %llu\n", hg_htm_mode_name((enum hg_htm_mode)htm_mode),
	    (unsigned long long)tr.commits[HG_TIER_HTM], (unsigned long long)tr.commits_emu,
	    (unsigned long long)tr.commits[HG_TIER_STM],
	    (unsigned long long)tr.commits[HG_TIER_LOCK], (unsigned long long)tr.aborts[HG_CAUSE_CONFLICT],
	    (unsigned long long)tr.aborts[HG_CAUSE_CAPACITY], (unsigned long long)tr.aborts[HG_CAUSE_OTHER],
	    (unsigned long long)tr.stm_aborts);
	fprintf(stderr, "bank: %lu threads, %lu sections, total %lld, bad audits %llu\n",
	    threads, per_thread * threads, (long long)total, (unsigned long long)bad_audits);
	hg_lock_destroy(&L);
}

static const struct hg_test tests[] = { HG_TEST(stress_bank) };

int main(void)
{
	htm_mode = hg_test_stress_mode();
	if (htm_mode < 0)
		return htm_mode == -1 ? 77 : 1;
	return HG_RUN_TESTS(tests);
}
