/* SPDX-License-Identifier: MIT */
/*
 * tests/stm/test_stm.c - unit tests of the software tier and hg_run():
 * read-after-write at every width, restart on a failed validation, unlogged
 * attempts restarting in logging mode, opacity
 * against in-place lock-tier writers, allocation visibility, irrevocability,
 * nesting, and the settled lock tier's fast path.  The policy that picks the tier is tested in
 * tests/engine/test_policy.c.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

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

/*
 * Many words: the first HG_TX_WRITE_INLINE are appended inline, the rest go
 * through the indexed log; 80 words share filter bits (64 of them), and
 * rewrites of inline-appended words after the index is built must merge
 * into their entries, never add a second one.
 */
enum { MANY_N = 80 };
struct many_arg {
	uint64_t w[MANY_N];
	uint64_t seen[MANY_N];
	uint64_t mem_before_commit;
	unsigned runs;
};

static void many_body(struct hg_tx *tx, void *p)
{
	struct many_arg *a = p;
	uint64_t base = 10000 * ++a->runs;
	for (unsigned i = 0; i < MANY_N; i++)
		hg_store64(tx, &a->w[i], base + i + 1);
	/* Rewrites: inline entries (0, 5), an indexed one (70), a pointer store (3). */
	hg_store64(tx, &a->w[0], base + 1000);
	hg_store64(tx, &a->w[5], hg_load64(tx, &a->w[5]) + 1000);
	hg_store64(tx, &a->w[70], base + 1070);
	hg_storeptr(tx, (void **)&a->w[3], (void *)(uintptr_t)(base + 1003));
	for (unsigned i = 0; i < MANY_N; i++)
		a->seen[i] = hg_load64(tx, &a->w[i]);
	a->mem_before_commit = __atomic_load_n(&a->w[5], __ATOMIC_RELAXED);
}

static void test_many_words(void)
{
	static struct many_arg a;
	memset(&a, 0, sizeof(a));
	hg_run_force_thread(HG_TIER_STM);
	for (unsigned round = 0; round < 2; round++) /* the second reuses the cleared log */
		hg_run(&L, hg_site("many"), many_body, &a);
	hg_run_force_thread(-1);
	HG_EXPECT_EQ(a.runs, 2);
	unsigned bad = 0;
	for (unsigned i = 0; i < MANY_N; i++) {
		uint64_t want = 20000 + i + 1;
		if (i == 0 || i == 3 || i == 70)
			want = 21000 + i;
		if (i == 5)
			want = 21006;
		if (a.seen[i] != want || a.w[i] != want)
			bad++;
	}
	HG_EXPECT_EQ(bad, 0);
	/* Buffered until commit: memory still holds the first round's value. */
	HG_EXPECT_EQ(a.mem_before_commit, 11006);
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

/* ------------------------------------------------- settled lock tier */

struct lock_arg {
	uint64_t x;
	unsigned runs, wrong;
	struct hg_lock *other;
	struct nest_arg inner;
};

/*
 * Every run must hold stm_seq odd on the lock tier (the fast path holds
 * only that; the engine's path holds the real lock too).
 */
static void lock_body(struct hg_tx *tx, void *p)
{
	struct lock_arg *a = p;
	a->runs++;
	if (hg_tx_tier(tx) != HG_TIER_LOCK || !(L.stm_seq & 1u))
		a->wrong++;
	hg_store64(tx, &a->x, hg_load64(tx, &a->x) + 1);
	if (a->other) {
		hg_run(a->other, 0, nest_inner, &a->inner);
		/* The outer section still holds stm_seq after it. */
		if (hg_tx_tier(tx) != HG_TIER_LOCK || !(L.stm_seq & 1u) ||
		    hg_mutex_is_locked(&L2.mutex) || (L2.stm_seq & 1u))
			a->wrong++;
	}
}

/*
 * A forced lock tier runs most sections on hg_run's fast path and one in
 * 64 through the engine (timed): both count every section, hold the lock
 * and stm_seq odd, and leave both free; a nested section on another lock
 * and a free inside the section work from the fast path.
 */
static void test_lock_tier_settled(void)
{
	enum { N = 2000 };
	uint64_t site = hg_site("lock-settled");
	struct hg_site_stats st0, st;
	hg_stats_get(&L, site, &st0);
	struct lock_arg a = { 0, 0, 0, NULL, { 0, 0, -1 } };
	uint32_t seq0 = L.stm_seq;
	hg_run_force_thread(HG_TIER_LOCK);
	for (unsigned i = 0; i < N; i++)
		hg_run(&L, site, lock_body, &a);
	HG_EXPECT_EQ(a.runs, N);
	HG_EXPECT_EQ(a.wrong, 0);
	HG_EXPECT_EQ(a.x, N);
	HG_EXPECT_EQ(L.stm_seq - seq0, 2u * N);
	HG_EXPECT(!hg_mutex_is_locked(&L.mutex));
	hg_stats_get(&L, site, &st);
	HG_EXPECT_EQ(st.acquisitions - st0.acquisitions, N);
	HG_EXPECT_EQ(st.commits[HG_TIER_LOCK] - st0.commits[HG_TIER_LOCK], N);
	/* About one in 64 timed for the report, on the fast path as well: the
	 * section's cycles and its lock time are there. */
	uint64_t timed = st.timed - st0.timed;
	HG_EXPECT(timed >= N / 64 / 3 && timed <= 3 * N / 64);
	HG_EXPECT(st.cycles[HG_TIER_LOCK] > st0.cycles[HG_TIER_LOCK]);
	HG_EXPECT(st.time[HG_TIME_LOCK] > st0.time[HG_TIME_LOCK]);
	/* Nested on another lock. */
	a.other = &L2;
	a.inner.a = 5;
	hg_run(&L, site, lock_body, &a);
	HG_EXPECT_EQ(a.wrong, 0);
	HG_EXPECT_EQ(a.inner.b, 6);
	HG_EXPECT_EQ(a.inner.inner_tier, HG_TIER_LOCK);
	hg_run_force_thread(-1);
	HG_EXPECT(!hg_mutex_is_locked(&L.mutex) && !hg_mutex_is_locked(&L2.mutex));
	HG_EXPECT((L.stm_seq & 1u) == 0 && (L2.stm_seq & 1u) == 0);
}

/*
 * The lock tier's fast path holds stm_seq odd and not the mutex: a plain
 * section of another thread on the same lock, which finds the mutex free,
 * must still wait until the section has left.
 */
static uint32_t excl_inside, excl_trying, excl_overlap, excl_done;
static void excl_body(struct hg_tx *tx, void *p)
{
	(void)tx;
	(void)p;
	hg_atomic_store_release32(&excl_inside, 1);
	while (!hg_atomic_load_acquire32(&excl_trying))
		hg_cpu_relax();
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&ts, NULL); /* the other thread is acquiring meanwhile */
	hg_atomic_store_release32(&excl_inside, 0);
}

static void *excl_plain(void *p)
{
	(void)p;
	for (unsigned r = 0; r < 4; r++) {
		while (!hg_atomic_load_acquire32(&excl_inside))
			hg_cpu_relax();
		hg_atomic_store_release32(&excl_trying, 1);
		hg_lock_acquire(&L, hg_site("lock-excl-plain"));
		if (hg_atomic_load_acquire32(&excl_inside))
			hg_atomic_store_release32(&excl_overlap, excl_overlap + 1);
		hg_lock_release(&L);
		hg_atomic_store_release32(&excl_trying, 0);
		while (hg_atomic_load_acquire32(&excl_done) == r)
			hg_cpu_relax();
	}
	return NULL;
}

static void test_lock_tier_excludes_plain(void)
{
	pthread_t t;
	uint64_t site = hg_site("lock-excl");
	uint32_t seq0 = L.stm_seq;
	hg_run_force_thread(HG_TIER_LOCK);
	HG_ASSERT_EQ(pthread_create(&t, NULL, excl_plain, NULL), 0);
	for (unsigned r = 0; r < 4; r++) {
		hg_run(&L, site, excl_body, NULL);
		/* The plain section has run before the next round starts. */
		while (hg_atomic_load_acquire32(&excl_trying))
			hg_cpu_relax();
		hg_atomic_store_release32(&excl_done, r + 1);
	}
	pthread_join(t, NULL);
	hg_run_force_thread(-1);
	HG_EXPECT_EQ(excl_overlap, 0);
	HG_EXPECT((L.stm_seq & 1u) == 0);
	HG_EXPECT(L.stm_seq - seq0 >= 2u * 4 * 2); /* both kinds of section took it */
	HG_EXPECT(!hg_mutex_is_locked(&L.mutex));
}

static const struct hg_test tests[] = {
	HG_TEST(test_read_after_write),
	HG_TEST(test_many_words),
	HG_TEST(test_abort_and_retry),
	HG_TEST(test_unlogged_relog),
	HG_TEST(test_unlogged_commit_relog),
	HG_TEST(test_relog_penalty),
	HG_TEST(test_value_validation),
	HG_TEST(test_opacity),
	HG_TEST(test_allocation),
	HG_TEST(test_irrevocable),
	HG_TEST(test_nesting),
	HG_TEST(test_lock_tier_settled), HG_TEST(test_lock_tier_excludes_plain),
};

int main(void)
{
	hg_lock_init(&L, "stm-unit");
	hg_lock_init(&L2, "stm-unit-2");
	/* Hardware tier off on these locks whatever the process mode. */
	if (hg_lock_set_mode(&L, HG_HTM_OFF) != 0 || hg_lock_set_mode(&L2, HG_HTM_OFF) != 0) {
		fprintf(stderr, "test_stm: hg_lock_set_mode(HG_HTM_OFF) refused\n");
		return 1;
	}
	int rc = HG_RUN_TESTS(tests);
	hg_lock_destroy(&L);
	hg_lock_destroy(&L2);
	return rc;
}
