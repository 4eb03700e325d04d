/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_stm_ds.h - the STM benchmark workloads written once against
 * the barrier API: bank (transfer, audit) and three integer sets (sorted
 * linked list, chained hash set, skip list).  Used by bench/bench_stm.cc for
 * every htmgil tier and for the pthread_mutex baseline (which passes a
 * direct-mode handle, so the barriers are plain accesses).  The libitm
 * baseline (bench/bench_stm_itm.c) mirrors these structures with
 * __transaction_atomic.
 */
#ifndef HG_BENCH_STM_DS_H
#define HG_BENCH_STM_DS_H

#include <stdint.h>
#include <stdlib.h>

#include <htmgil/stm.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HG_BANK_ACCOUNTS 1024
#define HG_SET_RANGE 512    /* keys are drawn from 1..RANGE */
#define HG_SET_INITIAL 256  /* keys present at start */
#define HG_HASH_BUCKETS 128
#define HG_SKIP_LEVELS 8

/* When set (mutex baseline), nodes come from malloc and are freed at once. */
extern int hg_bench_plain_alloc;

static inline void *hg_bench_alloc(struct hg_tx *tx, size_t n)
{
	return hg_bench_plain_alloc ? malloc(n) : hg_tx_malloc(tx, n);
}
static inline void hg_bench_free(struct hg_tx *tx, void *p)
{
	if (hg_bench_plain_alloc)
		free(p);
	else
		hg_tx_free(tx, p);
}

/* ------------------------------------------------------------------ bank */

struct hg_bank_op {
	int64_t *accounts;
	unsigned i, j;
	int64_t sum; /* audit result */
};

static inline void hg_bank_transfer(struct hg_tx *tx, void *p)
{
	struct hg_bank_op *o = (struct hg_bank_op *)p;
	uint64_t *a = (uint64_t *)&o->accounts[o->i];
	uint64_t *b = (uint64_t *)&o->accounts[o->j];
	hg_store64(tx, a, hg_load64(tx, a) - 1);
	hg_store64(tx, b, hg_load64(tx, b) + 1);
}

static inline void hg_bank_audit(struct hg_tx *tx, void *p)
{
	struct hg_bank_op *o = (struct hg_bank_op *)p;
	int64_t s = 0;
	for (unsigned k = 0; k < HG_BANK_ACCOUNTS; k++)
		s += (int64_t)hg_load64(tx, (const uint64_t *)&o->accounts[k]);
	o->sum = s;
}

/* ------------------------------------------------------------ set ops */

enum { HG_SET_CONTAINS = 0, HG_SET_ADD, HG_SET_REMOVE };

struct hg_set_op {
	void *set;
	int kind;
	uint64_t key;
	int result;
};

/* Sorted linked list with a sentinel head (key 0). */
struct hg_ll_node {
	uint64_t key;
	struct hg_ll_node *next;
};

static inline void hg_ll_op(struct hg_tx *tx, void *p)
{
	struct hg_set_op *o = (struct hg_set_op *)p;
	struct hg_ll_node *prev = (struct hg_ll_node *)o->set;
	struct hg_ll_node *cur = (struct hg_ll_node *)hg_loadptr(tx, (void *const *)&prev->next);
	uint64_t k = 0;
	while (cur && (k = hg_load64(tx, &cur->key)) < o->key) {
		prev = cur;
		cur = (struct hg_ll_node *)hg_loadptr(tx, (void *const *)&cur->next);
	}
	int found = cur && k == o->key;
	o->result = found;
	if (o->kind == HG_SET_ADD && !found) {
		struct hg_ll_node *n = (struct hg_ll_node *)hg_bench_alloc(tx, sizeof(*n));
		hg_store64(tx, &n->key, o->key);
		hg_storeptr(tx, (void **)&n->next, cur);
		hg_storeptr(tx, (void **)&prev->next, n);
	} else if (o->kind == HG_SET_REMOVE && found) {
		hg_storeptr(tx, (void **)&prev->next, hg_loadptr(tx, (void *const *)&cur->next));
		hg_bench_free(tx, cur);
	}
}

/* Chained hash set: HG_HASH_BUCKETS sorted lists with sentinel heads. */
static inline void hg_hs_op(struct hg_tx *tx, void *p)
{
	struct hg_set_op *o = (struct hg_set_op *)p;
	struct hg_ll_node *heads = (struct hg_ll_node *)o->set;
	struct hg_set_op sub = *o;
	sub.set = &heads[(o->key * 2654435761u) % HG_HASH_BUCKETS];
	hg_ll_op(tx, &sub);
	o->result = sub.result;
}

/* Skip list with a sentinel head of HG_SKIP_LEVELS levels. */
struct hg_sl_node {
	uint64_t key;
	uint64_t level;
	struct hg_sl_node *next[HG_SKIP_LEVELS];
};

static inline unsigned hg_sl_level(uint64_t key)
{
	/* Deterministic per key (a hash), so every tier builds the same shape. */
	uint64_t h = key * 0x9E3779B97F4A7C15ull;
	unsigned l = 1;
	while (l < HG_SKIP_LEVELS && (h >> (63 - l)) & 1)
		l++;
	return l;
}

static inline void hg_sl_op(struct hg_tx *tx, void *p)
{
	struct hg_set_op *o = (struct hg_set_op *)p;
	struct hg_sl_node *head = (struct hg_sl_node *)o->set;
	struct hg_sl_node *preds[HG_SKIP_LEVELS];
	struct hg_sl_node *x = head, *nx = NULL;
	for (int l = HG_SKIP_LEVELS - 1; l >= 0; l--) {
		for (;;) {
			nx = (struct hg_sl_node *)hg_loadptr(tx, (void *const *)&x->next[l]);
			if (!nx || hg_load64(tx, &nx->key) >= o->key)
				break;
			x = nx;
		}
		preds[l] = x;
	}
	int found = nx && hg_load64(tx, &nx->key) == o->key;
	o->result = found;
	if (o->kind == HG_SET_ADD && !found) {
		unsigned lv = hg_sl_level(o->key);
		struct hg_sl_node *n = (struct hg_sl_node *)hg_bench_alloc(tx, sizeof(*n));
		hg_store64(tx, &n->key, o->key);
		hg_store64(tx, &n->level, lv);
		for (unsigned l = 0; l < lv; l++) {
			hg_storeptr(tx, (void **)&n->next[l],
			    hg_loadptr(tx, (void *const *)&preds[l]->next[l]));
			hg_storeptr(tx, (void **)&preds[l]->next[l], n);
		}
	} else if (o->kind == HG_SET_REMOVE && found) {
		unsigned lv = (unsigned)hg_load64(tx, &nx->level);
		for (unsigned l = 0; l < lv; l++)
			hg_storeptr(tx, (void **)&preds[l]->next[l],
			    hg_loadptr(tx, (void *const *)&nx->next[l]));
		hg_bench_free(tx, nx);
	}
}

#ifdef __cplusplus
}
#endif
#endif /* HG_BENCH_STM_DS_H */
