/* SPDX-License-Identifier: MIT */
/*
 * tests/install/consumer/consumer.c - a program built against an installed
 * htmgil: two threads share an elided lock under emulated HTM and the
 * result and the counted acquisitions are checked.
 */
#include <pthread.h>
#include <stdio.h>

#include <htmgil/htmgil.h>

#define CONSUMER_ITERS 20000UL

static struct hg_lock consumer_lock = HG_LOCK_INITIALIZER;
static unsigned long consumer_counter; /* guarded by consumer_lock */
static uint64_t consumer_site;

static void *consumer_worker(void *arg)
{
	(void)arg;
	for (unsigned long i = 0; i < CONSUMER_ITERS; i++) {
		hg_lock_acquire(&consumer_lock, consumer_site);
		consumer_counter++;
		hg_lock_release(&consumer_lock);
	}
	return NULL;
}

int main(void)
{
	pthread_t a, b;

	hg_lock_init(&consumer_lock, "consumer");
	if (hg_lock_set_mode(&consumer_lock, HG_HTM_EMU) != 0) {
		fprintf(stderr, "consumer: cannot force emulated HTM\n");
		return 1;
	}
	consumer_site = hg_site("consumer.site");
	pthread_create(&a, NULL, consumer_worker, NULL);
	pthread_create(&b, NULL, consumer_worker, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);

	struct hg_site_stats st;
	hg_stats_get(&consumer_lock, consumer_site, &st);
	printf("consumer: htmgil %d.%d.%d, counter %lu, acquisitions %llu\n",
	    HTMGIL_VERSION_MAJOR, HTMGIL_VERSION_MINOR, HTMGIL_VERSION_PATCH, consumer_counter,
	    (unsigned long long)st.acquisitions);
	hg_lock_destroy(&consumer_lock);
	return consumer_counter == 2 * CONSUMER_ITERS && st.acquisitions == 2 * CONSUMER_ITERS
	    ? 0 : 1;
}
