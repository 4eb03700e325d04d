/* SPDX-License-Identifier: MIT */
/*
 * tests/stm/test_stm.c - unit tests of the software tier and hg_run():
 * read-after-write at every width, restart on a failed validation, unlogged
 * attempts restarting in logging mode, opacity
 * against in-place lock-tier writers, allocation visibility, irrevocability,
 * nesting, and the three-tier policy's demotions.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "htmgil/htmgil.h"
#include "htmgil/stm.h"
#include "fallback/stm.h"
#include "base/atomic.h"
#include "engine/engine.h"
#include "stm_test.h"

static struct hg_lock L;

/* The calling thread's next n software attempts log their reads. */
static void next_attempts_logged(uint32_t n)
{
	hg_stm_self()->log_skip = n;
}

/* The calling thread's next software attempt runs unlogged. */
static void next_attempt_unlogged(void)
{
	struct hg_stm_tx *tx = hg_stm_self();
	tx->log_skip = 0;
	tx->log_pen = HG_STM_RELOG_MIN;
}

/* ---------------------------------------------------- read-after-write */

struct raw_arg {
	uint64_t word;
	uint64_t other;
	uint64_t seen64, seen_mixed;
	uint32_t seen32;
	uint16_t seen16;
	uint8_t seen8;
	unsigned char bytes[13];
	unsigned char bytes_seen[13];
	uint64_t before_commit_mem;
};

static void raw_body(struct hg_tx *tx, void *p)
{
	struct raw_arg *a = p;
	hg_store64(tx, &a->word, 0x1122334455667788ull);
	a->seen64 = hg_load64(tx, &a->word);
	/* Sub-word stores land in the same logged word and merge. */
	hg_store8(tx, (uint8_t *)&a->word + 1, 0xAB);
	hg_store16(tx, (uint16_t *)&a->word + 2, 0xCDEF);
	a->seen8 = hg_load8(tx, (uint8_t *)&a->word + 1);
	a->seen16 = hg_load16(tx, (uint16_t *)&a->word + 2);
	a->seen32 = hg_load32(tx, (uint32_t *)&a->word);
	a->seen_mixed = hg_load64(tx, &a->word);
	/* A partial write merged with unwritten bytes read from memory. */
	hg_store8(tx, (uint8_t *)&a->other, 0x01);
	a->before_commit_mem = __atomic_load_n(&a->other, __ATOMIC_RELAXED);
	uint64_t o = hg_load64(tx, &a->other);
	hg_store64(tx, &a->other, o + 0x100);
	const unsigned char src[13] = "hello, stm!!";
	hg_store_bytes(tx, a->bytes + 1, src, 12);
	hg_load_bytes(tx, a->bytes_seen, a->bytes, 13);
}

static void test_read_after_write(void)
{
	static struct raw_arg a;
	memset(&a, 0, sizeof(a));
	a.other = 0xFFFFFFFFFFFF0000ull;
	hg_run_force_thread(HG_TIER_STM);
	hg_run(&L, hg_site("raw"), raw_body, &a);
	hg_run_force_thread(-1);
	HG_EXPECT_EQ(a.seen64, 0x1122334455667788ull);
	HG_EXPECT_EQ(a.seen8, 0xAB);
	HG_EXPECT_EQ(a.seen16, 0xCDEF);
	HG_EXPECT_EQ(a.seen32, 0x5566AB88u);
	HG_EXPECT_EQ(a.seen_mixed, 0x1122CDEF5566AB88ull);
	HG_EXPECT_EQ(a.word, 0x1122CDEF5566AB88ull);
	/* Buffered, not written through, until commit. */
	HG_EXPECT_EQ(a.before_commit_mem, 0xFFFFFFFFFFFF0000ull);
	HG_EXPECT_EQ(a.other, 0xFFFFFFFFFFFF0101ull);
	HG_EXPECT(memcmp(a.bytes + 1, "hello, stm!!", 12) == 0);
	HG_EXPECT(a.bytes_seen[0] == 0 && memcmp(a.bytes_seen + 1, "hello, stm!!", 12) == 0);
}

/* ------------------------------------------------------- abort and retry */

struct retry_arg {
	uint64_t x, y;
	unsigned runs;
	uint64_t sum;
};

static void retry_body(struct hg_tx *tx, void *p)
{
	struct retry_arg *a = p;
	a->runs++;
	uint64_t x = hg_load64(tx, &a->x);
	if (a->runs == 1) {
		/*
		 * Play a concurrent committer: change x in memory and move the
		 * sequence word by 2, as a committed writer would.  The next read
		 * must notice, revalidate by value and restart this attempt.
		 */
		__atomic_store_n(&a->x, 10, __ATOMIC_RELEASE);
		hg_atomic_store_release32(&L.stm_seq, hg_atomic_load_relaxed32(&L.stm_seq) + 2);
	}
	uint64_t y = hg_load64(tx, &a->y);
	hg_store64(tx, &a->y, y + 1);
	a->sum = x + y;
}

static void test_abort_and_retry(void)
{
	static struct retry_arg a = { 1, 5, 0, 0 };
	struct hg_stm_thread_stats before, after;
	hg_stm_thread_stats(&before);
	hg_run_force_thread(HG_TIER_STM);
	next_attempts_logged(2);
	hg_run(&L, hg_site("retry"), retry_body, &a);
	hg_run_force_thread(-1);
	hg_stm_thread_stats(&after);
	HG_EXPECT_EQ(a.runs, 2);
	HG_EXPECT_EQ(a.sum, 15);     /* the second attempt saw the new x */
	HG_EXPECT_EQ(a.y, 6);        /* the first attempt's store was discarded */
	HG_EXPECT_EQ(after.aborts - before.aborts, 1);
	HG_EXPECT_EQ(after.commits - before.commits, 1);
	HG_EXPECT(after.validations > before.validations);
	HG_EXPECT_EQ(after.relogs - before.relogs, 0);
}

/*
 * The same conflict met by an unlogged attempt: it cannot revalidate, so it
 * restarts at once, and the retry logs its reads.
 */
static void test_unlogged_relog(void)
{
	static struct retry_arg a = { 1, 5, 0, 0 };
	struct hg_stm_thread_stats before, after;
	hg_stm_thread_stats(&before);
	hg_run_force_thread(HG_TIER_STM);
	next_attempt_unlogged();
	hg_run(&L, hg_site("relog"), retry_body, &a);
	hg_run_force_thread(-1);
	hg_stm_thread_stats(&after);
	HG_EXPECT_EQ(a.runs, 2);
	HG_EXPECT_EQ(a.sum, 15);
	HG_EXPECT_EQ(a.y, 6);
	HG_EXPECT_EQ(after.relogs - before.relogs, 1);
	HG_EXPECT_EQ(after.unlogged - before.unlogged, 1); /* the retry was logged */
	HG_EXPECT_EQ(after.validations - before.validations, 0);
	HG_EXPECT_EQ(after.escalations - before.escalations, 0);
	HG_EXPECT_EQ(after.commits - before.commits, 1);
}

/* A writer whose stm_seq moves after its last read: the commit CAS fails. */
static void late_move_body(struct hg_tx *tx, void *p)
{
	struct retry_arg *a = p;
	a->runs++;
	uint64_t x = hg_load64(tx, &a->x);
	hg_store64(tx, &a->y, x + 100);
	if (a->runs == 1) {
		__atomic_store_n(&a->x, 7, __ATOMIC_RELEASE);
		hg_atomic_store_release32(&L.stm_seq, hg_atomic_load_relaxed32(&L.stm_seq) + 2);
	}
}

static void test_unlogged_commit_relog(void)
{
	static struct retry_arg a = { 1, 0, 0, 0 };
	struct hg_stm_thread_stats before, after;
	hg_stm_thread_stats(&before);
	hg_run_force_thread(HG_TIER_STM);
	next_attempt_unlogged();
	hg_run(&L, hg_site("late-move"), late_move_body, &a);
	hg_run_force_thread(-1);
	hg_stm_thread_stats(&after);
	HG_EXPECT_EQ(a.runs, 2);
	HG_EXPECT_EQ(a.y, 107); /* written from the x of the retry, not the stale 1 */
	HG_EXPECT_EQ(after.relogs - before.relogs, 1);
	HG_EXPECT_EQ(after.commits - before.commits, 1);
}

/* An unlogged commit relaxes the thread's logging; relogs make it stricter. */
static void ro_body(struct hg_tx *tx, void *p)
{
	struct retry_arg *a = p;
	a->sum = hg_load64(tx, &a->x) + hg_load64(tx, &a->y);
}

static void test_relog_penalty(void)
{
	static struct retry_arg a = { 2, 3, 0, 0 };
	struct hg_stm_tx *tx = hg_stm_self();
	struct hg_stm_thread_stats before, after;
	hg_run_force_thread(HG_TIER_STM);
	next_attempt_unlogged();
	tx->log_pen = 64;
	hg_stm_thread_stats(&before);
	hg_run(&L, hg_site("ro"), ro_body, &a);
	hg_stm_thread_stats(&after);
	HG_EXPECT_EQ(a.sum, 5);
	HG_EXPECT_EQ(after.unlogged - before.unlogged, 1);
	HG_EXPECT_EQ(tx->log_pen, 32);
	/* A relog at penalty 32: the next 32 attempts log, the 33rd does not. */
	a.runs = 0;
	hg_run(&L, hg_site("relog"), retry_body, &a);
	HG_EXPECT_EQ(a.runs, 2);
	HG_EXPECT_EQ(tx->log_pen, 64);
	hg_stm_thread_stats(&before);
	for (int i = 0; i < 31; i++)
		hg_run(&L, hg_site("ro"), ro_body, &a);
	hg_stm_thread_stats(&after);
	HG_EXPECT_EQ(after.unlogged - before.unlogged, 0);
	hg_run(&L, hg_site("ro"), ro_body, &a);
	hg_stm_thread_stats(&after);
	HG_EXPECT_EQ(after.unlogged - before.unlogged, 1);
	hg_run_force_thread(-1);
}

/* A value change that is undone before revalidation is not a conflict. */
static void aba_body(struct hg_tx *tx, void *p)
{
	struct retry_arg *a = p;
	a->runs++;
	uint64_t x = hg_load64(tx, &a->x);
	if (a->runs == 1)
		hg_atomic_store_release32(&L.stm_seq, hg_atomic_load_relaxed32(&L.stm_seq) + 2);
	a->sum = x + hg_load64(tx, &a->y);
}

static void test_value_validation(void)
{
	static struct retry_arg a = { 3, 4, 0, 0 };
	hg_run_force_thread(HG_TIER_STM);
	next_attempts_logged(1);
	hg_run(&L, hg_site("aba"), aba_body, &a);
	hg_run_force_thread(-1);
	HG_EXPECT_EQ(a.runs, 1);
	HG_EXPECT_EQ(a.sum, 7);
}

/* ------------------------------------------------------------- opacity */

#define OPQ_N 8
static uint64_t opq[OPQ_N];     /* invariant: all equal */
static uint64_t opq_torn;       /* sections that saw unequal values */
static uint64_t opq_stop;

static void opq_write(struct hg_tx *tx, void *p)
{
	(void)p;
	uint64_t v = hg_load64(tx, &opq[0]) + 1;
	for (int i = 0; i < OPQ_N; i++)
		hg_store64(tx, &opq[i], v);
}

static void opq_read(struct hg_tx *tx, void *p)
{
	uint64_t *torn = p;
	uint64_t v0 = hg_load64(tx, &opq[0]);
	for (int i = 1; i < OPQ_N; i++) {
		/* With opacity this never differs, even before commit. */
		if (hg_load64(tx, &opq[i]) != v0)
			(*torn)++;
	}
}

static void *opq_writer(void *p)
{
	int tier = (int)(intptr_t)p;
	hg_run_force_thread(tier);
	uint64_t site = hg_site("opq-w");
	while (!hg_atomic_load_relaxed64(&opq_stop))
		hg_run(&L, site, opq_write, NULL);
	return NULL;
}

static void test_opacity(void)
{
	/* Writers: one on the lock tier (writes in place), one on the STM. */
	pthread_t w[2];
	pthread_create(&w[0], NULL, opq_writer, (void *)(intptr_t)HG_TIER_LOCK);
	pthread_create(&w[1], NULL, opq_writer, (void *)(intptr_t)HG_TIER_STM);
	hg_run_force_thread(HG_TIER_STM);
	uint64_t site = hg_site("opq-r");
	unsigned long n = hg_test_env("HG_TEST_OPACITY_SECTIONS", 200000);
	uint64_t torn = 0;
	for (unsigned long i = 0; i < n; i++) {
		uint64_t t = 0;
		hg_run(&L, site, opq_read, &t);
		/* Only the committed attempt's count is kept (t reset per run
		 * would hide torn reads of aborted attempts, so count them all). */
		torn += t;
	}
	hg_run_force_thread(-1);
	hg_atomic_store_relaxed64(&opq_stop, 1);
	pthread_join(w[0], NULL);
	pthread_join(w[1], NULL);
	opq_torn = torn;
	HG_EXPECT_EQ(opq_torn, 0);
	for (int i = 1; i < OPQ_N; i++)
		HG_EXPECT_EQ(opq[i], opq[0]);
	HG_EXPECT(opq[0] > 0);
}

/* ----------------------------------------------------------- allocation */

struct node {
	uint64_t val;
	struct node *next;
};
static struct node *head;

struct alloc_arg {
	unsigned runs;
	void *first_attempt_ptr;
	struct node *made;
	int published_early;
};

static void alloc_body(struct hg_tx *tx, void *p)
{
	struct alloc_arg *a = p;
	a->runs++;
	struct node *n = hg_tx_malloc(tx, sizeof(*n));
	hg_store64(tx, &n->val, 42);
	hg_storeptr(tx, (void **)&n->next, hg_loadptr(tx, (void *const *)&head));
	hg_storeptr(tx, (void **)&head, n);
	a->made = n;
	if (a->runs == 1) {
		a->first_attempt_ptr = n;
		/* Not published before commit. */
		a->published_early = __atomic_load_n(&head, __ATOMIC_RELAXED) == n;
		hg_atomic_store_release32(&L.stm_seq, hg_atomic_load_relaxed32(&L.stm_seq) + 2);
		__atomic_store_n(&head, NULL, __ATOMIC_RELEASE); /* value change: restart */
		(void)hg_loadptr(tx, (void *const *)&head);
	}
}

static void pop_body(struct hg_tx *tx, void *p)
{
	uint64_t *out = p;
	struct node *n = hg_loadptr(tx, (void *const *)&head);
	if (!n) {
		*out = 0;
		return;
	}
	*out = hg_load64(tx, &n->val);
	hg_storeptr(tx, (void **)&head, hg_loadptr(tx, (void *const *)&n->next));
	hg_tx_free(tx, n);
}

static void test_allocation(void)
{
	struct node *dummy = malloc(sizeof(*dummy));
	dummy->val = 7;
	dummy->next = NULL;
	head = dummy;
	struct alloc_arg a = { 0, NULL, NULL, 0 };
	hg_run_force_thread(HG_TIER_STM);
	hg_run(&L, hg_site("alloc"), alloc_body, &a);
	HG_EXPECT_EQ(a.runs, 2);
	HG_EXPECT(!a.published_early);
	HG_EXPECT(head == a.made);
	HG_EXPECT_EQ(head->val, 42);
	HG_EXPECT(head->next == NULL); /* the restart saw the emptied list */
	uint64_t v = 1;
	hg_run(&L, hg_site("pop"), pop_body, &v);
	HG_EXPECT_EQ(v, 42);
	hg_run(&L, hg_site("pop"), pop_body, &v);
	HG_EXPECT_EQ(v, 0);
	hg_run_force_thread(-1);
	free(dummy);
}

/* ---------------------------------------------------------- irrevocable */

struct irr_arg {
	uint64_t x;
	unsigned runs;
	int tier_before, tier_after;
};

static void irr_body(struct hg_tx *tx, void *p)
{
	struct irr_arg *a = p;
	a->runs++;
	hg_store64(tx, &a->x, hg_load64(tx, &a->x) + 1);
	if (a->runs == 1)
		a->tier_before = hg_tx_tier(tx);
	hg_tx_irrevocable(tx);
	a->tier_after = hg_tx_tier(tx);
	/* Holding the real lock now: a plain check of the lock word is safe. */
	if (!hg_mutex_is_locked(&L.mutex))
		a->tier_after = -2;
}

static void test_irrevocable(void)
{
	struct irr_arg a = { 0, 0, -1, -1 };
	hg_run_force_thread(HG_TIER_STM);
	hg_run(&L, hg_site("irr"), irr_body, &a);
	hg_run_force_thread(-1);
	HG_EXPECT_EQ(a.runs, 2);
	HG_EXPECT_EQ(a.tier_before, HG_TIER_STM);
	HG_EXPECT_EQ(a.tier_after, HG_TIER_LOCK);
	HG_EXPECT_EQ(a.x, 1); /* the software attempt's increment was discarded */
	HG_EXPECT((L.stm_seq & 1u) == 0);
	HG_EXPECT(!hg_mutex_is_locked(&L.mutex));
}

/* --------------------------------------------------------------- nesting */

static struct hg_lock L2;

struct nest_arg {
	uint64_t a, b;
	int inner_tier;
};

static void nest_inner(struct hg_tx *tx, void *p)
{
	struct nest_arg *n = p;
	hg_store64(tx, &n->b, hg_load64(tx, &n->a) + 1);
	n->inner_tier = hg_tx_tier(tx);
}

static void nest_outer_same(struct hg_tx *tx, void *p)
{
	struct nest_arg *n = p;
	hg_store64(tx, &n->a, 10);
	hg_run(&L, 0, nest_inner, n); /* sees the outer's buffered store */
}

static void nest_outer_other(struct hg_tx *tx, void *p)
{
	struct nest_arg *n = p;
	hg_store64(tx, &n->a, 20);
	hg_run(&L2, 0, nest_inner, n);
}

static void test_nesting(void)
{
	struct nest_arg n = { 0, 0, -1 };
	hg_run_force_thread(HG_TIER_STM);
	hg_run(&L, hg_site("nest"), nest_outer_same, &n);
	HG_EXPECT_EQ(n.a, 10);
	HG_EXPECT_EQ(n.b, 11);
	HG_EXPECT_EQ(n.inner_tier, HG_TIER_STM); /* flattened */
	hg_run(&L, hg_site("nest2"), nest_outer_other, &n);
	HG_EXPECT_EQ(n.a, 20);
	HG_EXPECT_EQ(n.b, 21);
	HG_EXPECT_EQ(n.inner_tier, HG_TIER_LOCK);
	hg_run_force_thread(-1);
	HG_EXPECT(!hg_mutex_is_locked(&L.mutex) && !hg_mutex_is_locked(&L2.mutex));
	HG_EXPECT((L.stm_seq & 1u) == 0 && (L2.stm_seq & 1u) == 0);
}

/* ---------------------------------------------------------------- policy */

static void conflict_body(struct hg_tx *tx, void *p)
{
	uint64_t *x = p;
	uint64_t v = hg_load64(tx, x);
	if (tx->soft) {
		/* Every software attempt is invalidated: the abort rate is 1. */
		__atomic_store_n(x, v + 1, __ATOMIC_RELEASE);
		hg_atomic_store_release32(&L.stm_seq, hg_atomic_load_relaxed32(&L.stm_seq) + 2);
		(void)hg_load64(tx, x);
	}
}

static void test_policy_abort_rate(void)
{
	static uint64_t x;
	uint64_t site = hg_site("policy-aborts");
	struct hg_site_rec *rec = hg_site_rec_get(L.id, site);
	hg_run_force(HG_TIER_ADAPTIVE);
	for (int i = 0; i < 200; i++)
		hg_run(&L, site, conflict_body, &x);
	HG_EXPECT(rec->st.demotions[HG_REASON_ABORT_RATE] >= 1);
	HG_EXPECT(rec->st.stm_aborts > 0);
	HG_EXPECT(rec->st.commits[HG_TIER_LOCK] > 0);
	HG_EXPECT_EQ(hg_site_tier(rec), HG_TIER_LOCK);
	HG_EXPECT_EQ(L.stm_seq & 1u, 0);
}

static uint64_t big[512];

static void many_reads(struct hg_tx *tx, void *p)
{
	uint64_t s = 0;
	for (int i = 0; i < 512; i++)
		s += hg_load64(tx, &big[i]);
	*(uint64_t *)p = s;
}

static void test_policy_cost(void)
{
	/* One thread, 512 logged reads per section: the lock is far cheaper,
	 * so the cost probe must demote the site to the lock tier. */
	uint64_t site = hg_site("policy-cost");
	struct hg_site_rec *rec = hg_site_rec_get(L.id, site);
	uint64_t s;
	for (int i = 0; i < 2000; i++)
		hg_run(&L, site, many_reads, &s);
	HG_EXPECT(rec->st.demotions[HG_REASON_COST] >= 1);
	HG_EXPECT(rec->st.commits[HG_TIER_STM] > 0);
	HG_EXPECT(rec->st.commits[HG_TIER_LOCK] > rec->st.commits[HG_TIER_STM]);
	HG_EXPECT_EQ(hg_site_tier(rec), HG_TIER_LOCK);
}

static void spin_cycles(uint64_t n)
{
	uint64_t t0 = hg_cycles();
	while (hg_cycles() - t0 < n)
		;
}

/*
 * Cheap on the STM except one section in 16, which stalls as a preempted
 * one would; slow on the lock tier.  Every burst of 16 STM sections holds
 * one stall, which must not make the lock look cheaper.
 */
static unsigned outlier_n;

static void outlier_body(struct hg_tx *tx, void *p)
{
	uint64_t *x = p;
	uint64_t v = hg_load64(tx, x);
	if (hg_tx_tier(tx) == HG_TIER_STM) {
		if (++outlier_n % 16 == 0)
			spin_cycles(8000000);
	} else {
		/* Far above a software section's cost, even under a sanitizer;
		 * far below a stall over 16 sections. */
		spin_cycles(200000);
	}
	*x = v; /* unchanged: no shared write */
}

static void test_policy_outlier(void)
{
	static uint64_t x;
	uint64_t site = hg_site("policy-outlier");
	struct hg_site_rec *rec = hg_site_rec_get(L.id, site);
	hg_run_force(HG_TIER_ADAPTIVE);
	for (int i = 0; i < 1500; i++)
		hg_run(&L, site, outlier_body, &x);
	HG_EXPECT_EQ(rec->st.demotions[HG_REASON_COST], 0);
	HG_EXPECT(rec->st.commits[HG_TIER_LOCK] > 0); /* the lock was probed */
	HG_EXPECT(rec->st.commits[HG_TIER_STM] > 10 * rec->st.commits[HG_TIER_LOCK]);
	HG_EXPECT_EQ(hg_site_tier(rec), HG_TIER_STM);
}

/*
 * As above, with a stall in every 6th software section: up to 3 of a
 * burst's 16, more than one largest sample can hide.  The lock must still
 * not look cheaper.
 */
static unsigned stalls_n;

static void stalls_body(struct hg_tx *tx, void *p)
{
	uint64_t *x = p;
	uint64_t v = hg_load64(tx, x);
	if (hg_tx_tier(tx) == HG_TIER_STM) {
		if (++stalls_n % 6 == 0)
			spin_cycles(2000000);
	} else {
		spin_cycles(200000);
	}
	*x = v;
}

static void test_policy_stalls(void)
{
	static uint64_t x;
	uint64_t site = hg_site("policy-stalls");
	struct hg_site_rec *rec = hg_site_rec_get(L.id, site);
	hg_run_force(HG_TIER_ADAPTIVE);
	for (int i = 0; i < 600; i++)
		hg_run(&L, site, stalls_body, &x);
	HG_EXPECT_EQ(rec->st.demotions[HG_REASON_COST], 0);
	HG_EXPECT(rec->st.commits[HG_TIER_LOCK] > 0);
	HG_EXPECT_EQ(hg_site_tier(rec), HG_TIER_STM);
}

/*
 * A site settled on the STM runs its clean sections on the fast path
 * (nothing accounted); when its sections start to abort it must still be
 * demoted on the abort rate, as a site that accounts every section is.
 * settled_conflict: software attempts of the current section still to be
 * invalidated (3: an unlogged attempt restarts logged, uncounted, then at
 * least 2 aborts and a commit: a rate of 2/3 or more, above the default
 * 0.5, and far from escalation, so the section completes on the STM).
 */
static int settled_conflict;

static void settled_body(struct hg_tx *tx, void *p)
{
	uint64_t *x = p;
	uint64_t v = hg_load64(tx, x);
	if (hg_tx_tier(tx) == HG_TIER_LOCK)
		spin_cycles(100000); /* the lock loses every cost probe */
	if (tx->soft && settled_conflict > 0) {
		settled_conflict--;
		__atomic_store_n(x, v + 1, __ATOMIC_RELEASE);
		hg_atomic_store_release32(&L.stm_seq, hg_atomic_load_relaxed32(&L.stm_seq) + 2);
		(void)hg_load64(tx, x);
	}
}

static void test_policy_settled_reacts(void)
{
	static uint64_t x;
	uint64_t site = hg_site("policy-settled");
	struct hg_site_rec *rec = hg_site_rec_get(L.id, site);
	hg_run_force(HG_TIER_ADAPTIVE);
	settled_conflict = 0;
	for (int i = 0; i < 5000; i++)
		hg_run(&L, site, settled_body, &x);
	HG_EXPECT_EQ(hg_site_tier(rec), HG_TIER_STM);
	HG_EXPECT_EQ(rec->st.demotions[HG_REASON_ABORT_RATE], 0);
	uint64_t lock_before = rec->st.commits[HG_TIER_LOCK];
	for (int i = 0; i < 100; i++) {
		settled_conflict = 3;
		hg_run(&L, site, settled_body, &x);
	}
	settled_conflict = 0;
	HG_EXPECT_EQ(rec->st.demotions[HG_REASON_ABORT_RATE], 1);
	HG_EXPECT_EQ(hg_site_tier(rec), HG_TIER_LOCK);
	HG_EXPECT(rec->st.commits[HG_TIER_LOCK] > lock_before);
	/* Per-thread records own their cache lines (written every section). */
	HG_EXPECT_EQ((uintptr_t)rec % 64, 0);
}

/*
 * Sections whose cost varies widely from one to the next (uniform over
 * 0..200k cycles, as a list walked to a random key varies), times
 * noisy_pm[0] per mille on the lock tier and noisy_pm[1] on the STM.  Two
 * 16-section bursts on one tier then differ by a fifth or more, so a
 * comparison that trusts one pair of bursts moves the site between equal
 * tiers again and again.  reprobe_max 64 makes the site compare often.
 */
static uint64_t noisy_x = 0x2545F4914F6CDD1Dull;
static unsigned noisy_pm[2] = { 1000, 1000 };

static void noisy_body(struct hg_tx *tx, void *p)
{
	uint64_t *x = p;
	uint64_t v = hg_load64(tx, x);
	noisy_x ^= noisy_x << 13;
	noisy_x ^= noisy_x >> 7;
	noisy_x ^= noisy_x << 17;
	uint64_t c = noisy_x % 200000;
	spin_cycles(c * noisy_pm[hg_tx_tier(tx) == HG_TIER_STM] / 1000);
	*x = v;
}

/*
 * Runs sections of `site` under the noisy policy (reprobe period 64) with
 * the given cost factors, n of them, or fewer when `until_tier` (>= 0) is
 * reached first; returns the sections run.
 */
static int noisy_phase(uint64_t site, unsigned lock_pm, unsigned stm_pm, int n, int until_tier)
{
	static uint64_t x;
	struct hg_policy saved, p;
	struct hg_site_rec *rec = hg_site_rec_get(L.id, site);
	hg_policy_get(&saved);
	p = saved;
	p.reprobe_base = 64;
	p.reprobe_max = 64;
	hg_policy_set(&p);
	hg_run_force(HG_TIER_ADAPTIVE);
	noisy_pm[0] = lock_pm;
	noisy_pm[1] = stm_pm;
	int i = 0;
	for (; i < n; i++) {
		if (until_tier >= 0 && hg_site_tier(rec) == (uint32_t)until_tier)
			break;
		hg_run(&L, site, noisy_body, &x);
	}
	hg_policy_set(&saved);
	return i;
}

static void noisy_print(const char *name, const struct hg_site_rec *rec)
{
	fprintf(stderr, "%s: commits stm %llu lock %llu; cost demotions %llu, promotions %llu\n", name,
	    (unsigned long long)rec->st.commits[HG_TIER_STM], (unsigned long long)rec->st.commits[HG_TIER_LOCK],
	    (unsigned long long)rec->st.demotions[HG_REASON_COST],
	    (unsigned long long)rec->st.promotions[HG_REASON_REPROBE]);
}

static void test_policy_noisy_equal(void)
{
	/* Equal tiers: every move is one the noise made. */
	uint64_t site = hg_site("policy-noisy-equal");
	struct hg_site_rec *rec = hg_site_rec_get(L.id, site);
	noisy_phase(site, 1000, 1000, 3000, -1);
	noisy_print("policy-noisy-equal", rec);
	HG_EXPECT(rec->st.commits[HG_TIER_LOCK] > 0); /* the lock was probed */
	HG_EXPECT(rec->st.demotions[HG_REASON_COST] + rec->st.promotions[HG_REASON_REPROBE] <= 2);
}

static void test_policy_noisy_decides(void)
{
	/* The same noise, the STM twice as dear: the comparison must still
	 * decide, and the site settle on the lock. */
	uint64_t site = hg_site("policy-noisy-decides");
	struct hg_site_rec *rec = hg_site_rec_get(L.id, site);
	noisy_phase(site, 1000, 2000, 3000, -1);
	noisy_print("policy-noisy-decides", rec);
	HG_EXPECT(rec->st.demotions[HG_REASON_COST] >= 1);
	HG_EXPECT(rec->st.commits[HG_TIER_LOCK] > rec->st.commits[HG_TIER_STM]);
	HG_EXPECT_EQ(hg_site_tier(rec), HG_TIER_LOCK);
}

/*
 * A win is checked: a site settled on the lock moves to the STM while the
 * lock is dear for a spell; when the spell ends the STM is 10 % dearer
 * than the lock, which the noisy bursts cannot tell apart.  The check of
 * the win must send the site back (an undecided check is no confirmation);
 * a site that kept an unconfirmed win would stay on the dearer STM.
 */
static void test_policy_win_checked(void)
{
	uint64_t site = hg_site("policy-win-checked");
	struct hg_site_rec *rec = hg_site_rec_get(L.id, site);
	noisy_phase(site, 1000, 3000, 2000, HG_TIER_LOCK);
	noisy_phase(site, 1000, 3000, 500, -1); /* the move to the lock is checked */
	HG_ASSERT(hg_site_tier(rec) == HG_TIER_LOCK);
	noisy_phase(site, 3000, 1100, 2000, HG_TIER_STM); /* the spell */
	HG_ASSERT(hg_site_tier(rec) == HG_TIER_STM);
	uint64_t stm0 = rec->st.commits[HG_TIER_STM];
	noisy_phase(site, 1000, 1100, 600, -1);
	noisy_print("policy-win-checked", rec);
	HG_EXPECT_EQ(hg_site_tier(rec), HG_TIER_LOCK);
	HG_EXPECT(rec->st.commits[HG_TIER_STM] - stm0 < 450);
}

static void small_update(struct hg_tx *tx, void *p)
{
	uint64_t *x = p;
	hg_store64(tx, x, hg_load64(tx, x) + 1);
}

static void test_policy_htm_to_stm_and_back(void)
{
	/*
	 * Emulated HTM with 95 % injected conflicts: the engine demotes the
	 * hardware tier and an instrumented site lands on the STM, not the
	 * lock.  With injection off again, a re-probe must promote it back.
	 */
	static struct hg_lock LE;
	static uint64_t x;
	hg_lock_init(&LE, "stm-unit-emu");
	HG_ASSERT(hg_lock_set_mode(&LE, HG_HTM_EMU) == 0);
	HG_ASSERT(hg_emu_configure("conflict=0.95,seed=5") == 0);
	uint64_t site = hg_site("policy-htm");
	struct hg_site_rec *rec = hg_site_rec_get(LE.id, site);
	int n = 0;
	for (; n < 400; n++)
		hg_run(&LE, site, small_update, &x);
	HG_EXPECT(rec->st.demotions[HG_REASON_ABORT_RATE] >= 1);
	HG_EXPECT(rec->st.commits[HG_TIER_STM] > 0);
	HG_ASSERT(hg_emu_configure("conflict=0,seed=5") == 0);
	uint64_t stm_commits = rec->st.commits[HG_TIER_STM];
	uint64_t emu_commits = rec->st.commits_emu;
	for (int i = 0; i < 20000; i++, n++)
		hg_run(&LE, site, small_update, &x);
	fprintf(stderr, "policy-htm: commits emu %llu stm %llu lock %llu; demotions %llu, promotions %llu\n",
	    (unsigned long long)rec->st.commits_emu, (unsigned long long)rec->st.commits[HG_TIER_STM],
	    (unsigned long long)rec->st.commits[HG_TIER_LOCK],
	    (unsigned long long)rec->st.demotions[HG_REASON_ABORT_RATE],
	    (unsigned long long)rec->st.promotions[HG_REASON_REPROBE]);
	HG_EXPECT(rec->st.promotions[HG_REASON_REPROBE] >= 1);
	HG_EXPECT(rec->st.commits_emu > emu_commits + 1000);
	HG_EXPECT(rec->st.commits[HG_TIER_STM] >= stm_commits);
	HG_EXPECT_EQ(x, (uint64_t)n);
	HG_EXPECT_EQ(LE.stm_seq & 1u, 0);
	HG_ASSERT(hg_emu_configure("") == 0);
	hg_lock_destroy(&LE);
}

static const struct hg_test tests[] = {
	HG_TEST(test_read_after_write),
	HG_TEST(test_abort_and_retry),
	HG_TEST(test_unlogged_relog),
	HG_TEST(test_unlogged_commit_relog),
	HG_TEST(test_relog_penalty),
	HG_TEST(test_value_validation),
	HG_TEST(test_opacity),
	HG_TEST(test_allocation),
	HG_TEST(test_irrevocable),
	HG_TEST(test_nesting),
	HG_TEST(test_policy_abort_rate),
	HG_TEST(test_policy_cost),
	HG_TEST(test_policy_outlier),
	HG_TEST(test_policy_stalls),
	HG_TEST(test_policy_settled_reacts),
	HG_TEST(test_policy_noisy_equal),
	HG_TEST(test_policy_noisy_decides),
	HG_TEST(test_policy_win_checked),
	HG_TEST(test_policy_htm_to_stm_and_back),
};

int main(void)
{
	hg_lock_init(&L, "stm-unit");
	hg_lock_init(&L2, "stm-unit-2");
	/*
	 * Hardware tier off on these locks whatever the process mode: the
	 * policy tests start adaptive sites on the STM and compare it with the
	 * lock.  The hardware tier's own policy is tested on an emulated lock
	 * (test_policy_htm_to_stm_and_back) and on real RTM in tests/rtm/.
	 */
	if (hg_lock_set_mode(&L, HG_HTM_OFF) != 0 || hg_lock_set_mode(&L2, HG_HTM_OFF) != 0) {
		fprintf(stderr, "test_stm: hg_lock_set_mode(HG_HTM_OFF) refused\n");
		return 1;
	}
	int rc = HG_RUN_TESTS(tests);
	hg_lock_destroy(&L);
	hg_lock_destroy(&L2);
	return rc;
}
