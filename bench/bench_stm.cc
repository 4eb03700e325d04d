/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_stm.cc - hg_run on each tier against pthread_mutex and libitm.
 *
 * Workloads (bench/bench_stm_ds.h): bank (1024 accounts, one transfer per
 * section), bank-audit (the same plus 20 % read-all audits), and integer
 * sets of 256 keys drawn from 1..512 as a sorted linked list, a chained
 * hash set and a skip list, with 0, 20 and 50 % updates.  Variants:
 *   lock      hg_run forced to the real lock
 *   stm       hg_run forced to the software tier
 *   emu       hg_run forced to the HTM tier with the lock in emulated mode
 *   htm       hg_run forced to the HTM tier with the lock in mode rtm
 *             (registered only where RTM is usable)
 *   adaptive  hg_run's three-tier policy (process HTM mode)
 *   mutex     pthread_mutex around the same bodies (barriers in direct mode)
 *   itm       GCC libitm (__transaction_atomic); pin ITM_DEFAULT_METHOD
 * Names are WORKLOAD/Nt/VARIANT.  Throughput is items_per_second (sections
 * per second, all threads, real time).  Part of htmgil-bench (main() is in
 * bench/main.cc); bench/run_stm_matrix.py runs the whole matrix and writes
 * docs/results.md.
 */
#include <benchmark/benchmark.h>
#include <pthread.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <htmgil/htmgil.h>

#include "bench_stm_ds.h"
#include "bench_stm_itm.h"

/* The libitm baseline exists only when the compiler has -fgnu-tm. */
#ifdef HG_BENCH_HAVE_ITM
#define HG_ITM(call) (call)
#else
#define HG_ITM(call) (std::abort(), 0) /* unreachable: itm variants are not registered */
#endif

extern "C" {
int hg_bench_plain_alloc;
}

namespace {

enum Variant { V_LOCK, V_STM, V_EMU, V_ADAPTIVE, V_MUTEX, V_ITM, V_HTM, V_COUNT };
const char *const variant_names[V_COUNT] = { "lock", "stm", "emu", "adaptive", "mutex", "itm",
	                                     "htm" };

enum Work { W_BANK, W_BANK_AUDIT, W_LIST, W_HASH, W_SKIP };

struct Config {
	Work work;
	Variant variant;
	unsigned update_pct;
};

struct hg_lock g_lock;
pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
alignas(64) int64_t g_accounts[HG_BANK_ACCOUNTS];
struct hg_ll_node g_list;
struct hg_ll_node g_hash[HG_HASH_BUCKETS];
struct hg_sl_node g_skip;
uint64_t g_site_transfer, g_site_audit, g_site_set; /* one site per body, as code locations would be */
thread_local struct hg_tx t_direct{}; /* soft == 0: direct barriers */

inline uint64_t next_rand(uint64_t &x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

void *set_of(Work w)
{
	switch (w) {
	case W_LIST: return &g_list;
	case W_HASH: return g_hash;
	default: return &g_skip;
	}
}

hg_body_fn set_body(Work w)
{
	switch (w) {
	case W_LIST: return hg_ll_op;
	case W_HASH: return hg_hs_op;
	default: return hg_sl_op;
	}
}

#ifdef HG_BENCH_HAVE_ITM
int itm_set(Work w)
{
	return w == W_LIST ? HG_ITM_LIST : w == W_HASH ? HG_ITM_HASH : HG_ITM_SKIP;
}
#endif

inline void section(Variant v, uint64_t site, hg_body_fn body, void *arg)
{
	if (v == V_MUTEX) {
		pthread_mutex_lock(&g_mutex);
		body(&t_direct, arg);
		pthread_mutex_unlock(&g_mutex);
	} else {
		hg_run(&g_lock, site, body, arg);
	}
}

void free_sets()
{
	for (struct hg_ll_node *n = g_list.next, *m; n; n = m) {
		m = n->next;
		free(n);
	}
	g_list.next = nullptr;
	for (auto &h : g_hash) {
		for (struct hg_ll_node *n = h.next, *m; n; n = m) {
			m = n->next;
			free(n);
		}
		h.next = nullptr;
	}
	for (struct hg_sl_node *n = g_skip.next[0], *m; n; n = m) {
		m = n->next[0];
		free(n);
	}
	for (auto &p : g_skip.next)
		p = nullptr;
}

void setup(const Config &c)
{
	hg_lock_init(&g_lock, "bench-stm");
	g_site_transfer = hg_site("bench-transfer");
	g_site_audit = hg_site("bench-audit");
	g_site_set = hg_site("bench-set");
	switch (c.variant) {
	case V_LOCK: hg_run_force(HG_TIER_LOCK); break;
	case V_STM: hg_run_force(HG_TIER_STM); break;
	case V_EMU:
		hg_run_force(HG_TIER_HTM);
		hg_lock_set_mode(&g_lock, HG_HTM_EMU);
		break;
	case V_HTM:
		hg_run_force(HG_TIER_HTM);
		hg_lock_set_mode(&g_lock, HG_HTM_RTM);
		break;
	default: hg_run_force(HG_TIER_ADAPTIVE); break;
	}
	hg_bench_plain_alloc = c.variant == V_MUTEX;
	for (auto &a : g_accounts)
		a = 0;
	free_sets();
	if (c.variant == V_ITM) {
		HG_ITM((hg_itm_bank_reset(), 0));
		HG_ITM((hg_itm_set_reset(), 0));
	}
	if (c.work == W_BANK || c.work == W_BANK_AUDIT)
		return;
	/* Fill to HG_SET_INITIAL keys, the same keys for every variant. */
	uint64_t x = 0x5DEECE66Dull;
	unsigned have = 0;
	int plain = hg_bench_plain_alloc;
	hg_bench_plain_alloc = 1;
	while (have < HG_SET_INITIAL) {
		uint64_t key = 1 + next_rand(x) % HG_SET_RANGE;
		if (c.variant == V_ITM) {
			have += !HG_ITM(hg_itm_set_op(itm_set(c.work), HG_SET_ADD, key));
		} else {
			struct hg_set_op o = { set_of(c.work), HG_SET_ADD, key, 0 };
			set_body(c.work)(&t_direct, &o);
			have += !o.result;
		}
	}
	hg_bench_plain_alloc = plain;
}

void bench(benchmark::State &state, Config c)
{
	if (state.thread_index() == 0)
		setup(c);
	uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(state.thread_index() + 1);
	const bool itm = c.variant == V_ITM;
	int64_t bad = 0;
	for (auto _ : state) {
		uint64_t r = next_rand(x);
		switch (c.work) {
		case W_BANK:
		case W_BANK_AUDIT: {
			if (c.work == W_BANK_AUDIT && r % 100 < 20) {
				int64_t sum;
				if (itm) {
					sum = HG_ITM(hg_itm_bank_audit());
				} else {
					struct hg_bank_op o = { g_accounts, 0, 0, 0 };
					section(c.variant, g_site_audit, hg_bank_audit, &o);
					sum = o.sum;
				}
				bad += sum != 0;
				break;
			}
			unsigned i = (unsigned)(r % HG_BANK_ACCOUNTS);
			unsigned j = (unsigned)((r >> 20) % HG_BANK_ACCOUNTS);
			if (itm) {
				HG_ITM((hg_itm_bank_transfer(i, j), 0));
			} else {
				struct hg_bank_op o = { g_accounts, i, j, 0 };
				section(c.variant, g_site_transfer, hg_bank_transfer, &o);
			}
			break;
		}
		default: {
			uint64_t key = 1 + (r >> 8) % HG_SET_RANGE;
			int kind = HG_SET_CONTAINS;
			if (r % 100 < c.update_pct)
				kind = (r >> 40) & 1 ? HG_SET_ADD : HG_SET_REMOVE;
			if (itm) {
				benchmark::DoNotOptimize(HG_ITM(hg_itm_set_op(itm_set(c.work), kind, key)));
			} else {
				struct hg_set_op o = { set_of(c.work), kind, key, 0 };
				section(c.variant, g_site_set, set_body(c.work), &o);
				benchmark::DoNotOptimize(o.result);
			}
			break;
		}
		}
	}
	state.SetItemsProcessed(state.iterations());
	if (bad)
		state.SkipWithError("an audit saw a total other than 0");
	if (state.thread_index() == 0 && (c.work == W_BANK || c.work == W_BANK_AUDIT) && !itm) {
		/* After the stop barrier every thread is out of its sections. */
		int64_t s = 0;
		for (auto a : g_accounts)
			s += a;
		if (s != 0)
			state.SkipWithError("bank total not conserved");
	}
}

struct Registrar {
	Registrar()
	{
		struct W {
			const char *name;
			Work work;
			unsigned upd;
		};
		const W works[] = {
			{ "bank", W_BANK, 0 }, { "bank-audit", W_BANK_AUDIT, 0 },
			{ "list-0", W_LIST, 0 }, { "list-20", W_LIST, 20 }, { "list-50", W_LIST, 50 },
			{ "hash-0", W_HASH, 0 }, { "hash-20", W_HASH, 20 }, { "hash-50", W_HASH, 50 },
			{ "skip-0", W_SKIP, 0 }, { "skip-20", W_SKIP, 20 }, { "skip-50", W_SKIP, 50 },
		};
		const bool rtm = hg_cpu_detect()->verdict == HG_RTM_USABLE;
		for (const W &w : works)
			for (int t = 1; t <= 2; t++)
				for (int v = 0; v < V_COUNT; v++) {
#ifndef HG_BENCH_HAVE_ITM
					if (v == V_ITM)
						continue; /* built without -fgnu-tm */
#endif
					if (v == V_HTM && !rtm)
						continue; /* RTM instructions only where detection allows */
					std::string n = std::string(w.name) + "/" + std::to_string(t) + "t/" +
					    variant_names[v];
					Config c = { w.work, (Variant)v, w.upd };
					benchmark::RegisterBenchmark(n.c_str(), bench, c)
					    ->Threads(t)
					    ->UseRealTime();
				}
	}
} registrar;

} // namespace
