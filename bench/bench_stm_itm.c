/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_stm_itm.c - the libitm baseline of bench/bench_stm.cc: the
 * same bank and integer-set workloads (see bench/bench_stm_ds.h), written
 * with GCC's __transaction_atomic and compiled with -fgnu-tm.  The method
 * is chosen by libitm from ITM_DEFAULT_METHOD at start-up, so each method
 * is a separate run of the benchmark binary (bench/run_stm_matrix.py).
 */
#include <stdint.h>
#include <stdlib.h>

#include "bench_stm_itm.h"

#define ACCOUNTS 1024
#define BUCKETS 128
#define LEVELS 8

static int64_t itm_accounts[ACCOUNTS];

struct itm_ll {
	uint64_t key;
	struct itm_ll *next;
};

struct itm_sl {
	uint64_t key;
	unsigned level;
	struct itm_sl *next[LEVELS];
};

static struct itm_ll itm_list;
static struct itm_ll itm_hash[BUCKETS];
static struct itm_sl itm_skip;

void hg_itm_bank_reset(void)
{
	for (unsigned k = 0; k < ACCOUNTS; k++)
		itm_accounts[k] = 0;
}

void hg_itm_bank_transfer(unsigned i, unsigned j)
{
	__transaction_atomic {
		itm_accounts[i] -= 1;
		itm_accounts[j] += 1;
	}
}

int64_t hg_itm_bank_audit(void)
{
	int64_t s = 0;
	__transaction_atomic {
		s = 0;
		for (unsigned k = 0; k < ACCOUNTS; k++)
			s += itm_accounts[k];
	}
	return s;
}

static int itm_ll_op(struct itm_ll *head, int kind, uint64_t key)
{
	int found;
	__transaction_atomic {
		struct itm_ll *prev = head, *cur = head->next;
		while (cur && cur->key < key) {
			prev = cur;
			cur = cur->next;
		}
		found = cur && cur->key == key;
		if (kind == 1 && !found) {
			struct itm_ll *n = malloc(sizeof(*n));
			n->key = key;
			n->next = cur;
			prev->next = n;
		} else if (kind == 2 && found) {
			prev->next = cur->next;
			free(cur);
		}
	}
	return found;
}

static unsigned itm_sl_level(uint64_t key)
{
	uint64_t h = key * 0x9E3779B97F4A7C15ull;
	unsigned l = 1;
	while (l < LEVELS && (h >> (63 - l)) & 1)
		l++;
	return l;
}

static int itm_sl_op(int kind, uint64_t key)
{
	int found;
	unsigned lv = itm_sl_level(key);
	__transaction_atomic {
		struct itm_sl *preds[LEVELS];
		struct itm_sl *x = &itm_skip, *nx = 0;
		for (int l = LEVELS - 1; l >= 0; l--) {
			for (;;) {
				nx = x->next[l];
				if (!nx || nx->key >= key)
					break;
				x = nx;
			}
			preds[l] = x;
		}
		found = nx && nx->key == key;
		if (kind == 1 && !found) {
			struct itm_sl *n = malloc(sizeof(*n));
			n->key = key;
			n->level = lv;
			for (unsigned l = 0; l < lv; l++) {
				n->next[l] = preds[l]->next[l];
				preds[l]->next[l] = n;
			}
		} else if (kind == 2 && found) {
			for (unsigned l = 0; l < nx->level; l++)
				preds[l]->next[l] = nx->next[l];
			free(nx);
		}
	}
	return found;
}

int hg_itm_set_op(int set, int kind, uint64_t key)
{
	switch (set) {
	case HG_ITM_LIST: return itm_ll_op(&itm_list, kind, key);
	case HG_ITM_HASH: return itm_ll_op(&itm_hash[(key * 2654435761u) % BUCKETS], kind, key);
	default: return itm_sl_op(kind, key);
	}
}

static void itm_ll_clear(struct itm_ll *head)
{
	for (struct itm_ll *n = head->next, *m; n; n = m) {
		m = n->next;
		free(n);
	}
	head->next = 0;
}

void hg_itm_set_reset(void)
{
	itm_ll_clear(&itm_list);
	for (unsigned b = 0; b < BUCKETS; b++)
		itm_ll_clear(&itm_hash[b]);
	for (struct itm_sl *n = itm_skip.next[0], *m; n; n = m) {
		m = n->next[0];
		free(n);
	}
	for (unsigned l = 0; l < LEVELS; l++)
		itm_skip.next[l] = 0;
}
