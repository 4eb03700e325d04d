/* SPDX-License-Identifier: MIT */
/*
 * tools/demo.c - a short demonstration of the elided lock.
 *
 *   htmgil-demo [THREADS [ITERATIONS]]
 *
 * THREADS threads (default 4) each run ITERATIONS (default 200000) critical
 * sections on one struct hg_lock from two named sites: "demo.shared" bumps a
 * shared counter and "demo.own" bumps the thread's own slot.  The mode is
 * whatever HTMGIL_HTM says (the demo is meant to be run with HTMGIL_HTM=emu
 * and an HTMGIL_EMU abort mix), so the report shows the policy at work.  The
 * program checks the totals, prints the report in text form on stdout and
 * exits 1 if a count is wrong.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <htmgil/htmgil.h>

#define HG_DEMO_MAX_THREADS 64

/* One cache line per thread so "demo.own" sections touch disjoint lines. */
struct hg_demo_slot {
	uint64_t n;
	char pad[64 - sizeof(uint64_t)];
};

static struct hg_lock hg_demo_lock = HG_LOCK_INITIALIZER;
static uint64_t hg_demo_shared;  /* guarded by hg_demo_lock */
static struct hg_demo_slot hg_demo_own[HG_DEMO_MAX_THREADS]; /* guarded by hg_demo_lock */
static uint64_t hg_demo_site_shared, hg_demo_site_own;
static unsigned long hg_demo_iters;

static void *hg_demo_worker(void *arg)
{
	unsigned idx = (unsigned)(uintptr_t)arg;
	for (unsigned long i = 0; i < hg_demo_iters; i++) {
		hg_lock_acquire(&hg_demo_lock, hg_demo_site_shared);
		hg_demo_shared++;
		hg_lock_release(&hg_demo_lock);

		hg_lock_acquire(&hg_demo_lock, hg_demo_site_own);
		hg_demo_own[idx].n++;
		hg_lock_release(&hg_demo_lock);
	}
	return NULL;
}

static int hg_demo_arg(const char *s, const char *what, unsigned long lo, unsigned long hi,
    unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "htmgil-demo: %s '%s' is not a number in %lu..%lu\n", what, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long nthreads = 4;
	hg_demo_iters = 200000;
	if (argc > 3) {
		fprintf(stderr, "usage: htmgil-demo [THREADS [ITERATIONS]]\n");
		return 2;
	}
	if (argc > 1 && hg_demo_arg(argv[1], "THREADS", 1, HG_DEMO_MAX_THREADS, &nthreads) != 0)
		return 2;
	if (argc > 2 && hg_demo_arg(argv[2], "ITERATIONS", 1, 100000000, &hg_demo_iters) != 0)
		return 2;

	hg_lock_init(&hg_demo_lock, "demo");
	hg_demo_site_shared = hg_site("demo.shared");
	hg_demo_site_own = hg_site("demo.own");

	printf("htmgil demo: %lu threads x %lu iterations x 2 sites, mode %s\n", nthreads,
	    hg_demo_iters, hg_htm_mode_name(hg_htm_mode()));

	pthread_t tid[HG_DEMO_MAX_THREADS];
	for (unsigned long t = 0; t < nthreads; t++) {
		int e = pthread_create(&tid[t], NULL, hg_demo_worker, (void *)(uintptr_t)t);
		if (e != 0) {
			fprintf(stderr, "htmgil-demo: pthread_create: %s\n", strerror(e));
			return 1;
		}
	}
	for (unsigned long t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);

	int bad = 0;
	uint64_t want = (uint64_t)nthreads * hg_demo_iters;
	if (hg_demo_shared != want) {
		fprintf(stderr, "htmgil-demo: shared counter %" PRIu64 ", expected %" PRIu64 "\n",
		    hg_demo_shared, want);
		bad = 1;
	}
	for (unsigned long t = 0; t < nthreads; t++) {
		if (hg_demo_own[t].n != hg_demo_iters) {
			fprintf(stderr, "htmgil-demo: thread %lu counter %" PRIu64 ", expected %lu\n",
			    t, hg_demo_own[t].n, hg_demo_iters);
			bad = 1;
		}
	}
	printf("counters: shared %" PRIu64 ", per-thread %lu each: %s\n", hg_demo_shared,
	    hg_demo_iters, bad ? "WRONG" : "correct");
	printf("\n");
	fflush(stdout);
	if (hg_report_write(stdout, HG_REPORT_TEXT) != 0) {
		fprintf(stderr, "htmgil-demo: writing the report failed\n");
		bad = 1;
	}
	hg_lock_destroy(&hg_demo_lock);
	return bad;
}
