/* SPDX-License-Identifier: MIT */
/*
 * bench/pair_alt.c - the uncontended pair, measured by alternation.
 *
 *   htmgil-pair-alt [--pairs N] [--rounds R]
 *
 * One thread runs rounds of N lock/increment/unlock pairs on each variant
 * (pthread_mutex, hg_mutex, hg_lock, hg_lock forced to mode off), the
 * variants' order rotated from round to round, so that every round's
 * figures are measured milliseconds apart.  It prints each variant's median
 * time per pair and the median and quartiles of its per-round ratio to
 * pthread_mutex.  On a shared machine whose speed changes from second to
 * second, these ratios move far less than those of benchmarks run one
 * after another (docs/results.md); bench/ratios.py's figures are the suite's
 * record, this is the steadier check of one path.
 *
 * As in htmgil-bench (bench/main.cc), a thread parked for the whole run
 * keeps glibc on its multi-threaded path.  Exits 1 when a counter lost an
 * increment, 2 on bad arguments.
 */
#include <htmgil/htmgil.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { V_PTHREAD, V_HG_MUTEX, V_HG_LOCK, V_HG_LOCK_OFF, V_COUNT };
static const char *const names[V_COUNT] = { "pthread_mutex", "hg_mutex", "hg_lock", "hg_lock_off" };

#define MAX_ROUNDS 1001

static pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
static _Alignas(64) struct hg_mutex hm;
static _Alignas(64) struct hg_lock hl;
static _Alignas(64) struct hg_lock hl_off;
/* Each variant's counter on a line of its own, guarded by its lock. */
static _Alignas(64) volatile uint64_t counter[V_COUNT][8];
static uint64_t site, site_off;

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

static void (*const runs[V_COUNT])(long) = { run_pthread, run_hg_mutex, run_hg_lock, run_hg_lock_off };

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
			ratio[v][r] = t[v][r] / t[V_PTHREAD][r];
	}

	pthread_mutex_lock(&park_m);
	park_done = 1;
	pthread_cond_signal(&park_c);
	pthread_mutex_unlock(&park_m);
	pthread_join(parked, NULL);

	int bad = 0;
	for (int v = 0; v < V_COUNT; v++) {
		uint64_t want = (uint64_t)(pairs / 10 + 1) + (uint64_t)pairs * (uint64_t)rounds;
		if (counter[v][0] != want) {
			fprintf(stderr, "htmgil-pair-alt: %s lost increments (%llu of %llu)\n", names[v],
			    (unsigned long long)counter[v][0], (unsigned long long)want);
			bad = 1;
		}
	}
	printf("htmgil-pair-alt: %ld rounds of %ld pairs per variant, order rotated each round; "
	       "htm mode %s\n", rounds, pairs, hg_htm_mode_name(hg_htm_mode()));
	printf("%-14s %12s %10s %18s\n", "variant", "ns/pair", "/pthread", "quartiles");
	for (int v = 0; v < V_COUNT; v++) {
		qsort(t[v], (size_t)rounds, sizeof t[v][0], cmp_double);
		qsort(ratio[v], (size_t)rounds, sizeof ratio[v][0], cmp_double);
		printf("%-14s %12.2f %10.3f %8.3f-%-8.3f\n", names[v], quantile(t[v], (int)rounds, 0.5),
		    quantile(ratio[v], (int)rounds, 0.5), quantile(ratio[v], (int)rounds, 0.25),
		    quantile(ratio[v], (int)rounds, 0.75));
	}
	return bad;
}
