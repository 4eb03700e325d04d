/* SPDX-License-Identifier: MIT */
/*
 * tests/link/dlopen_lib.c - loads libhtmgil.so with dlopen (the program is
 * not linked with it), resolves the lock API with dlsym, and has two threads
 * share an elided lock under emulated HTM.  Threads created after the load
 * reach the library's thread-locals through the dynamic TLS model.
 *
 * Usage: link_dlopen PATH-TO-libhtmgil.so
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include <htmgil/htmgil.h>

#define DL_ITERS 20000UL

static void (*dl_lock_init)(struct hg_lock *, const char *);
static int (*dl_lock_set_mode)(struct hg_lock *, enum hg_htm_mode);
static uint64_t (*dl_site)(const char *);
static void (*dl_lock_acquire)(struct hg_lock *, uint64_t);
static int (*dl_lock_release)(struct hg_lock *);
static void (*dl_stats_get)(const struct hg_lock *, uint64_t, struct hg_site_stats *);

static struct hg_lock dl_lock = HG_LOCK_INITIALIZER;
static unsigned long dl_counter; /* guarded by dl_lock */
static uint64_t dl_site_key;

static void *dl_worker(void *arg)
{
	(void)arg;
	for (unsigned long i = 0; i < DL_ITERS; i++) {
		dl_lock_acquire(&dl_lock, dl_site_key);
		dl_counter++;
		dl_lock_release(&dl_lock);
	}
	return NULL;
}

static void *dl_sym(void *h, const char *name)
{
	void *p = dlsym(h, name);
	if (!p)
		fprintf(stderr, "link_dlopen: dlsym(%s): %s\n", name, dlerror());
	return p;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: link_dlopen PATH-TO-libhtmgil.so\n");
		return 2;
	}
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "link_dlopen: dlopen failed: %s\n", dlerror());
		return 1;
	}
	*(void **)&dl_lock_init = dl_sym(h, "hg_lock_init");
	*(void **)&dl_lock_set_mode = dl_sym(h, "hg_lock_set_mode");
	*(void **)&dl_site = dl_sym(h, "hg_site");
	*(void **)&dl_lock_acquire = dl_sym(h, "hg_lock_acquire");
	*(void **)&dl_lock_release = dl_sym(h, "hg_lock_release");
	*(void **)&dl_stats_get = dl_sym(h, "hg_stats_get");
	if (!dl_lock_init || !dl_lock_set_mode || !dl_site || !dl_lock_acquire ||
	    !dl_lock_release || !dl_stats_get)
		return 1;

	dl_lock_init(&dl_lock, "dlopen");
	if (dl_lock_set_mode(&dl_lock, HG_HTM_EMU) != 0) {
		fprintf(stderr, "link_dlopen: cannot force emulated HTM\n");
		return 1;
	}
	dl_site_key = dl_site("dlopen.site");
	pthread_t a, b;
	pthread_create(&a, NULL, dl_worker, NULL);
	pthread_create(&b, NULL, dl_worker, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);

	struct hg_site_stats st;
	dl_stats_get(&dl_lock, dl_site_key, &st);
	uint64_t done = st.commits[HG_TIER_HTM] + st.commits_emu + st.commits[HG_TIER_LOCK];
	printf("link_dlopen: counter %lu, acquisitions %llu, commits %llu\n", dl_counter,
	    (unsigned long long)st.acquisitions, (unsigned long long)done);
	if (dl_counter != 2 * DL_ITERS || st.acquisitions != 2 * DL_ITERS || done != 2 * DL_ITERS) {
		fprintf(stderr, "link_dlopen: want counter, acquisitions and commits %lu\n",
		    2 * DL_ITERS);
		return 1;
	}
	return 0;
}
