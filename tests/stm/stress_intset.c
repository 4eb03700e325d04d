/* SPDX-License-Identifier: MIT */
/*
 * tests/stm/stress_intset.c - a sorted linked-list set shared by all
 * threads, checked against per-thread sequential models.
 *
 * Keys 1..KEYS; thread t owns the keys k with k % threads == t, so the
 * result of each of its operations is predicted exactly by its private
 * model, while the list's links are shared by everyone.  Nodes are
 * allocated with hg_tx_malloc and unlinked nodes freed with hg_tx_free, so
 * under ASan a reclamation that frees too early shows up as a
 * use-after-free in a software reader.  Tiers are mixed as in
 * stress_bank.c.
 *   HG_STRESS_THREADS, HG_STRESS_SECTIONS (default 4, 1000000)
 *   HG_STRESS_HTM (emu or rtm, see stm_test.h)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "htmgil/htmgil.h"
#include "htmgil/stm.h"
#include "stm_test.h"

#define KEYS 512

static int htm_mode = HG_HTM_EMU;

struct node {
	uint64_t key;
	struct node *next;
};

static struct hg_lock L;
static struct node head_node; /* sentinel, key 0 */
static unsigned long per_thread, nthreads;
static uint64_t mismatches;

enum { OP_CONTAINS, OP_INSERT, OP_REMOVE };

struct op {
	int kind;
	uint64_t key;
	int result;
};

static void set_body(struct hg_tx *tx, void *p)
{
	struct op *o = p;
	struct node *prev = &head_node;
	struct node *cur = hg_loadptr(tx, (void *const *)&prev->next);
	while (cur && hg_load64(tx, &cur->key) < o->key) {
		prev = cur;
		cur = hg_loadptr(tx, (void *const *)&cur->next);
	}
	int found = cur && hg_load64(tx, &cur->key) == o->key;
	o->result = found;
	if (o->kind == OP_INSERT && !found) {
		struct node *n = hg_tx_malloc(tx, sizeof(*n));
		hg_store64(tx, &n->key, o->key);
		hg_storeptr(tx, (void **)&n->next, cur);
		hg_storeptr(tx, (void **)&prev->next, n);
	} else if (o->kind == OP_REMOVE && found) {
		hg_storeptr(tx, (void **)&prev->next, hg_loadptr(tx, (void *const *)&cur->next));
		hg_tx_free(tx, cur);
	}
}

static void *worker(void *p)
{
	unsigned id = (unsigned)(uintptr_t)p;
	static const int tiers[4] = { -1, HG_TIER_STM, HG_TIER_LOCK, HG_TIER_HTM };
	hg_run_force_thread(tiers[id % 4]);
	unsigned char *model = calloc(KEYS + 1, 1);
	uint64_t x = 0x2545F4914F6CDD1Dull * (id + 1);
	uint64_t site = hg_site("intset");
	uint64_t bad = 0;
	for (unsigned long n = 0; n < per_thread; n++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t k = (x >> 16) % (KEYS / nthreads) * nthreads + id + 1;
		if (k > KEYS)
			continue;
		unsigned r = (unsigned)(x % 100);
		struct op o = { r < 60 ? OP_CONTAINS : r < 80 ? OP_INSERT : OP_REMOVE, k, -1 };
		hg_run(&L, site, set_body, &o);
		if (o.result != model[k])
			bad++;
		if (o.kind == OP_INSERT)
			model[k] = 1;
		else if (o.kind == OP_REMOVE)
			model[k] = 0;
	}
	__atomic_fetch_add(&mismatches, bad, __ATOMIC_RELAXED);
	return model;
}

static void stress_intset(void)
{
	nthreads = hg_test_env("HG_STRESS_THREADS", 4);
	if (nthreads > 64)
		nthreads = 64;
	unsigned long sections = hg_test_env("HG_STRESS_SECTIONS", 1000000);
	per_thread = sections / nthreads;
	if (hg_emu_configure("conflict=0.1,other=0.02,seed=11") != 0)
		HG_ASSERT(!"the emulation settings were refused");
	hg_lock_init(&L, "stress-intset");
	HG_ASSERT(hg_lock_set_mode(&L, (enum hg_htm_mode)htm_mode) == 0);
	pthread_t t[64];
	unsigned char *models[64];
	for (unsigned long i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
	for (unsigned long i = 0; i < nthreads; i++)
		pthread_join(t[i], (void **)&models[i]);
	HG_EXPECT_EQ(mismatches, 0);
	/* The final list: sorted, and exactly the union of the models. */
	unsigned char seen[KEYS + 1] = { 0 };
	uint64_t last = 0;
	unsigned bad_order = 0, extra = 0, missing = 0;
	for (struct node *n = head_node.next; n; n = n->next) {
		if (n->key <= last)
			bad_order++;
		last = n->key;
		if (n->key <= KEYS)
			seen[n->key] = 1;
	}
	for (uint64_t k = 1; k <= KEYS; k++) {
		unsigned char want = models[(k - 1) % nthreads][k];
		if (seen[k] && !want)
			extra++;
		if (!seen[k] && want)
			missing++;
	}
	HG_EXPECT_EQ(bad_order, 0);
	HG_EXPECT_EQ(extra, 0);
	HG_EXPECT_EQ(missing, 0);
	struct hg_site_stats st;
	hg_stats_get(&L, hg_site("intset"), &st);
	/* The hardware tier really ran: emulated commits under emu, RTM's under rtm. */
	HG_EXPECT((htm_mode == HG_HTM_EMU ? st.commits_emu : st.commits[HG_TIER_HTM]) > 0);
	fprintf(stderr, "intset (%s): %lu threads, %lu sections, mismatches %llu, commits htm %llu "
	    "emu %llu stm %llu lock %llu\n", hg_htm_mode_name((enum hg_htm_mode)htm_mode), nthreads,
	    per_thread * nthreads, (unsigned long long)mismatches,
	    (unsigned long long)st.commits[HG_TIER_HTM], (unsigned long long)st.commits_emu,
	    (unsigned long long)st.commits[HG_TIER_STM], (unsigned long long)st.commits[HG_TIER_LOCK]);
	for (struct node *n = head_node.next, *m; n; n = m) {
		m = n->next;
		free(n);
	}
	for (unsigned long i = 0; i < nthreads; i++)
		free(models[i]);
	hg_lock_destroy(&L);
}

static const struct hg_test tests[] = { HG_TEST(stress_intset) };

int main(void)
{
	htm_mode = hg_test_stress_mode();
	if (htm_mode < 0)
		return htm_mode == -1 ? 77 : 1;
	return HG_RUN_TESTS(tests);
}
