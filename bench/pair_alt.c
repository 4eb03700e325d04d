/* SPDX-License-Identifier: MIT */
/*
 * bench/pair_alt.c - the uncontended pair, measured by alternation.
 *
 *   htmgil-pair-alt [--pairs N] [--rounds R]
 *
 * One thread runs rounds of N lock/increment/unlock pairs on each lock
 * variant (pthread_mutex, hg_mutex, hg_lock, hg_lock forced to mode off),
 * and N bank transfers (two of 1024 accounts, as in bench/bench_stm.cc)
 * under pthread_mutex around the body and through hg_run on its lock tier
 * forced and adaptive, the variants' order rotated from round to round, so
 * that every round's figures are measured milliseconds apart.  It prints
 * each variant's median time per section and the median and quartiles of
 * its per-round ratio to pthread_mutex (for the transfers, to
 * pthread_mutex around the same body).  On a shared machine whose speed changes from second to
 * second, these ratios move far less than those of benchmarks run one
 * after another (docs/results.md); bench/ratios.py's figures are the suite's
 * record, this is the steadier check of one path.
 *
 * As in htmgil-bench (bench/main.cc), a thread parked for the whole run
 * keeps glibc on its multi-threaded path.  Exits 1 when a counter lost an
 * increment or a bank does not balance, 2 on bad arguments.
 */
#include <htmgil/htmgil.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_stm_ds.h"

enum { V_PTHREAD, V_HG_MUTEX, V_HG_LOCK, V_HG_LOCK_OFF, V_BANK_MUTEX, V_BANK_LOCK, V_BANK_ADAPTIVE, V_COUNT };
static const char *const names[V_COUNT] = { "pthread_mutex", "hg_mutex", "hg_lock", "hg_lock_off",
	"bank/mutex", "bank/hg_run_lock", "bank/hg_run_adaptive" };
/* The variant each one's ratio is taken against. */
static const int base_of[V_COUNT] = { V_PTHREAD, V_PTHREAD, V_PTHREAD, V_PTHREAD,
	V_BANK_MUTEX, V_BANK_MUTEX, V_BANK_MUTEX };

#define MAX_ROUNDS 1001

static pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
static _Alignas(64) struct hg_mutex hm;
static _Alignas(64) struct hg_lock hl;
static _Alignas(64) struct hg_lock hl_off;
/* Each variant's counter on a line of its own, guarded by its lock. */
static _Alignas(64) volatile uint64_t counter[V_COUNT][8];
static uint64_t site, site_off;

/* The transfers: one lock per variant, each with its own accounts and site. */
enum { BANK_MUTEX, BANK_LOCK, BANK_ADAPTIVE, BANK_N };
static pthread_mutex_t bank_pm = PTHREAD_MUTEX_INITIALIZER;
static _Alignas(64) struct hg_lock bank_lock[BANK_N];
static int64_t accounts[BANK_N][HG_BANK_ACCOUNTS];
static uint64_t bank_site[BANK_N];
static _Thread_local struct hg_tx t_direct; /* soft == 0: the barriers are plain accesses */

static pthread_mutex_t park_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_c = PTHREAD_COND_INITIALIZER;
static int park_done;

static void *park(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&park_m);
	while (!park_done)
		pthread_cond_wait(&park_c, &park_m);
	pthread_mutex_unlock(&park_m);
	return NULL;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One loop per variant, not inlined into the timing loop, so each is the same shape. */
__attribute__((noinline)) static void run_pthread(long n)
{
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(&pm);
		counter[V_PTHREAD][0]++;
		pthread_mutex_unlock(&pm);
	}
}

__attribute__((noinline)) static void run_hg_mutex(long n)
{
	for (long i = 0; i < n; i++) {
		hg_mutex_lock(&hm);
		counter[V_HG_MUTEX][0]++;
		hg_mutex_unlock(&hm);
	}
}

__attribute__((noinline)) static void run_hg_lock(long n)
{
	for (long i = 0; i < n; i++) {
		hg_lock_acquire(&hl, site);
		counter[V_HG_LOCK][0]++;
		hg_lock_release(&hl);
	}
}

__attribute__((noinline)) static void run_hg_lock_off(long n)
{
	for (long i = 0; i < n; i++) {
		hg_lock_acquire(&hl_off, site_off);
		counter[V_HG_LOCK_OFF][0]++;
		hg_lock_release(&hl_off);
	}
}

static inline uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* n transfers on bank b, each between two accounts drawn at random. */
static void run_bank(int b, long n)
{
	uint64_t x = 88172645463325252ull;
	struct hg_bank_op o = { .accounts = accounts[b] };
	for (long i = 0; i < n; i++) {
		o.i = (unsigned)(next_rand(&x) % HG_BANK_ACCOUNTS);
		o.j = (unsigned)(next_rand(&x) % HG_BANK_ACCOUNTS);
		if (b == BANK_MUTEX) {
			pthread_mutex_lock(&bank_pm);
			hg_bank_transfer(&t_direct, &o);
			pthread_mutex_unlock(&bank_pm);
		} else {
			hg_run(&bank_lock[b], bank_site[b], hg_bank_transfer, &o);
		}
	}
}

__attribute__((noinline)) static void run_bank_mutex(long n) { run_bank(BANK_MUTEX, n); }
__attribute__((noinline)) static void run_bank_lock(long n)
{
	hg_run_force_thread(HG_TIER_LOCK);
	run_bank(BANK_LOCK, n);
	hg_run_force_thread(-1);
}
__attribute__((noinline)) static void run_bank_adaptive(long n)
{
	hg_run_force_thread(HG_TIER_ADAPTIVE);
	run_bank(BANK_ADAPTIVE, n);
	hg_run_force_thread(-1);
}

static void (*const runs[V_COUNT])(long) = { run_pthread, run_hg_mutex, run_hg_lock, run_hg_lock_off,
	run_bank_mutex, run_bank_lock, run_bank_adaptive };

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of n sorted values, by the nearest rank. */
static double quantile(const double *v, int n, double q)
{
	int i = (int)(q * (n - 1) + 0.5);
	return v[i];
}

static int parse_long(const char *flag, const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = s ? strtol(s, &end, 10) : 0;
	if (!s || errno || *end || v < lo || v > hi) {
		fprintf(stderr, "htmgil-pair-alt: %s takes a whole number from %ld to %ld, not '%s'\n",
		    flag, lo, hi, s ? s : "");
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	long pairs = 1000000, rounds = 21;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pairs") == 0) {
			if (parse_long("--pairs", i + 1 < argc ? argv[++i] : NULL, 1, 1000000000, &pairs))
				return 2;
		} else if (strcmp(argv[i], "--rounds") == 0) {
			if (parse_long("--rounds", i + 1 < argc ? argv[++i] : NULL, 3, MAX_ROUNDS, &rounds))
				return 2;
		} else {
			fprintf(stderr, "htmgil-pair-alt: unknown argument '%s' (usage: htmgil-pair-alt "
			    "[--pairs N] [--rounds R])\n", argv[i]);
			return 2;
		}
	}

	pthread_t parked;
	if (pthread_create(&parked, NULL, park, NULL) != 0) {
		fprintf(stderr, "htmgil-pair-alt: cannot create the parked thread\n");
		return 1;
	}
	hg_mutex_init(&hm);
	hg_lock_init(&hl, "pair_alt");
	hg_lock_init(&hl_off, "pair_alt.off");
	if (hg_lock_set_mode(&hl_off, HG_HTM_OFF) != 0) {
		fprintf(stderr, "htmgil-pair-alt: cannot force mode off\n");
		return 1;
	}
	site = hg_site("pair_alt");
	site_off = hg_site("pair_alt.off");
	static const char *const bank_names[BANK_N] = { "pair_alt.bank.mutex", "pair_alt.bank.lock",
		"pair_alt.bank.adaptive" };
	for (int b = 0; b < BANK_N; b++) {
		hg_lock_init(&bank_lock[b], bank_names[b]);
		bank_site[b] = hg_site(bank_names[b]);
	}

	static double t[V_COUNT][MAX_ROUNDS], ratio[V_COUNT][MAX_ROUNDS];
	for (int v = 0; v < V_COUNT; v++)
		runs[v](pairs / 10 + 1); /* warm-up: caches, the site records, the policy */
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < V_COUNT; k++) {
			int v = (k + r) % V_COUNT;
			double t0 = now();
			runs[v](pairs);
			t[v][r] = (now() - t0) * 1e9 / (double)pairs;
		}
		for (int v = 0; v < V_COUNT; v++)
			ratio[v][r] = t[v][r] / t[base_of[v]][r];
	}

	pthread_mutex_lock(&park_m);
	park_done = 1;
	pthread_cond_signal(&park_c);
	pthread_mutex_unlock(&park_m);
	pthread_join(parked, NULL);

	int bad = 0;
	for (int b = 0; b < BANK_N; b++) {
		int64_t sum = 0;
		for (unsigned k = 0; k < HG_BANK_ACCOUNTS; k++)
			sum += accounts[b][k];
		if (sum != 0) {
			fprintf(stderr, "htmgil-pair-alt: %s does not balance (its accounts sum to %lld, not 0)\n",
			    names[V_BANK_MUTEX + b], (long long)sum);
			bad = 1;
		}
	}
	for (int v = 0; v < V_BANK_MUTEX; v++) {
		uint64_t want = (uint64_t)(pairs / 10 + 1) + (uint64_t)pairs * (uint64_t)rounds;
		if (counter[v][0] != want) {
			fprintf(stderr, "htmgil-pair-alt: %s lost increments (%llu of %llu)\n", names[v],
			    (unsigned long long)counter[v][0], (unsigned long long)want);
			bad = 1;
		}
	}
	printf("htmgil-pair-alt: %ld rounds of %ld sections per variant, order rotated each round; "
	       "htm mode %s\n", rounds, pairs, hg_htm_mode_name(hg_htm_mode()));
	printf("%-22s %10s %10s %18s\n", "variant", "ns", "/base", "quartiles");
	for (int v = 0; v < V_COUNT; v++) {
		if (v == V_BANK_MUTEX)
			printf("transfers (base: bank/mutex, pthread_mutex around the same body):\n");
		qsort(t[v], (size_t)rounds, sizeof t[v][0], cmp_double);
		qsort(ratio[v], (size_t)rounds, sizeof ratio[v][0], cmp_double);
		printf("%-22s %10.2f %10.3f %8.3f-%-8.3f\n", names[v], quantile(t[v], (int)rounds, 0.5),
		    quantile(ratio[v], (int)rounds, 0.5), quantile(ratio[v], (int)rounds, 0.25),
		    quantile(ratio[v], (int)rounds, 0.75));
	}
	return bad;
}
