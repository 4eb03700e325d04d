/* SPDX-License-Identifier: MIT */
/*
 * tests/install/consumer/consumer_stm.c - README's transfer example built
 * against an installed htmgil: two threads move amounts between accounts
 * with hg_run() and the barriers, adaptively, then with the software tier
 * and the lock tier forced, under emulated HTM.  The total must be kept, and
 * the forced software tier must have committed every section that it did
 * not escalate to the lock after repeated aborts, which needs the library's
 * out-of-line barriers (hg_stm_load, hg_stm_store).
 */
#include <pthread.h>
#include <stdio.h>

#include <htmgil/htmgil.h>

#define CONSUMER_ACCOUNTS 8
#define CONSUMER_START 1000u
#define CONSUMER_MOVES 5000u

static struct hg_lock bank = HG_LOCK_INITIALIZER;
static uint64_t acct[CONSUMER_ACCOUNTS]; /* reached only through the barriers */
static uint64_t transfer_site;

struct move {
	unsigned from, to;
	uint64_t amount;
};

static void transfer(struct hg_tx *tx, void *arg)
{
	struct move *m = arg;
	hg_store64(tx, &acct[m->from], hg_load64(tx, &acct[m->from]) - m->amount);
	hg_store64(tx, &acct[m->to], hg_load64(tx, &acct[m->to]) + m->amount);
}

static void sum_body(struct hg_tx *tx, void *arg)
{
	uint64_t s = 0;
	for (unsigned i = 0; i < CONSUMER_ACCOUNTS; i++)
		s += hg_load64(tx, &acct[i]);
	*(uint64_t *)arg = s;
}

static uint64_t consumer_stm_commits[2], consumer_stm_escalations[2];

static void *consumer_worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	for (unsigned i = 0; i < CONSUMER_MOVES; i++) {
		struct move m = { (i + id) % CONSUMER_ACCOUNTS, (i * 3 + 1 + id) % CONSUMER_ACCOUNTS,
			i % 7 + 1 };
		hg_run(&bank, transfer_site, transfer, &m);
	}
	struct hg_stm_thread_stats st;
	hg_stm_thread_stats(&st);
	consumer_stm_commits[id] = st.commits;
	consumer_stm_escalations[id] = st.escalations;
	return NULL;
}

static int consumer_round(enum hg_tier tier, const char *name)
{
	pthread_t a, b;
	hg_run_force(tier);
	pthread_create(&a, NULL, consumer_worker, (void *)(uintptr_t)0);
	pthread_create(&b, NULL, consumer_worker, (void *)(uintptr_t)1);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	uint64_t total = 0;
	hg_run(&bank, transfer_site, sum_body, &total);
	uint64_t soft = consumer_stm_commits[0] + consumer_stm_commits[1];
	uint64_t esc = consumer_stm_escalations[0] + consumer_stm_escalations[1];
	printf("consumer_stm: %s: total %llu, software commits %llu, escalated %llu\n", name,
	    (unsigned long long)total, (unsigned long long)soft, (unsigned long long)esc);
	if (total != (uint64_t)CONSUMER_ACCOUNTS * CONSUMER_START)
		return 1;
	/* Forced software tier: each section commits there or escalates to the lock. */
	if (tier == HG_TIER_STM && (soft == 0 || soft + esc != 2 * CONSUMER_MOVES))
		return 1;
	return 0;
}

int main(void)
{
	hg_lock_init(&bank, "bank");
	if (hg_lock_set_mode(&bank, HG_HTM_EMU) != 0) {
		fprintf(stderr, "consumer_stm: cannot force emulated HTM\n");
		return 1;
	}
	transfer_site = hg_site("bank.transfer");
	for (unsigned i = 0; i < CONSUMER_ACCOUNTS; i++)
		acct[i] = CONSUMER_START;
	int bad = consumer_round(HG_TIER_ADAPTIVE, "adaptive");
	bad |= consumer_round(HG_TIER_STM, "stm");
	bad |= consumer_round(HG_TIER_LOCK, "lock");
	hg_lock_destroy(&bank);
	return bad;
}
