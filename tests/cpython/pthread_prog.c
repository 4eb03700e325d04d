/* SPDX-License-Identifier: MIT */
/*
 * tests/cpython/pthread_prog.c - a threaded C program with mutexes and
 * condition variables whose output depends only on its arguments, for
 * pthread mode: run with and without the preload (HTMGIL_TARGET=pthread,
 * emulated HTM with injected aborts), the output must be identical.
 *
 *   - counters: THREADS threads add to shared counters under a default
 *     mutex, a statically initialized one and, nested, both;
 *   - a bounded queue: producers and consumers on a mutex plus two
 *     condition variables (wait and timedwait), checksum of consumed items;
 *   - trylock: every thread retries trylock until it succeeds, so the
 *     increments it guards are exact;
 *   - a recursive mutex (left to the real functions) taken twice.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int threads = 4;
static long iters = 20000;

static pthread_mutex_t m_static = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t m_dyn;
static pthread_mutex_t m_rec;
static long c_static, c_dyn, c_nested, c_try, c_rec;

#define QCAP 8
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_not_full = PTHREAD_COND_INITIALIZER;
static long q_items[QCAP];
static unsigned q_head, q_len;
static long q_sum, q_count;

static void *counter_thread(void *arg)
{
	(void)arg;
	for (long i = 0; i < iters; i++) {
		pthread_mutex_lock(&m_static);
		c_static++;
		pthread_mutex_unlock(&m_static);
		pthread_mutex_lock(&m_dyn);
		c_dyn += 2;
		pthread_mutex_unlock(&m_dyn);
		if (i % 8 == 0) {
			pthread_mutex_lock(&m_static);
			pthread_mutex_lock(&m_dyn);
			c_nested++;
			pthread_mutex_unlock(&m_dyn);
			pthread_mutex_unlock(&m_static);
		}
		if (i % 16 == 0) {
			while (pthread_mutex_trylock(&m_dyn) != 0)
				;
			c_try++;
			pthread_mutex_unlock(&m_dyn);
		}
		if (i % 32 == 0) {
			pthread_mutex_lock(&m_rec);
			pthread_mutex_lock(&m_rec);
			c_rec++;
			pthread_mutex_unlock(&m_rec);
			pthread_mutex_unlock(&m_rec);
		}
	}
	return NULL;
}

static void *producer(void *arg)
{
	long base = (long)(intptr_t)arg * 1000003L;
	for (long i = 0; i < iters; i++) {
		pthread_mutex_lock(&q_lock);
		while (q_len == QCAP)
			pthread_cond_wait(&q_not_full, &q_lock);
		q_items[(q_head + q_len) % QCAP] = base + i;
		q_len++;
		pthread_cond_signal(&q_not_empty);
		pthread_mutex_unlock(&q_lock);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(&q_lock);
		while (q_len == 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			int rc = pthread_cond_timedwait(&q_not_empty, &q_lock, &ts);
			if (rc != 0 && rc != ETIMEDOUT)
				abort();
		}
		long v = q_items[q_head];
		q_head = (q_head + 1) % QCAP;
		q_len--;
		q_sum = (q_sum + v) % 1000000007L;
		q_count++;
		pthread_cond_signal(&q_not_full);
		pthread_mutex_unlock(&q_lock);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		threads = atoi(argv[1]);
	if (argc > 2)
		iters = atol(argv[2]);
	if (threads < 1 || threads > 64 || iters < 1) {
		fprintf(stderr, "usage: pthread_prog [THREADS 1..64] [ITERS >= 1]\n");
		return 2;
	}
	pthread_mutex_init(&m_dyn, NULL);
	pthread_mutexattr_t ra;
	pthread_mutexattr_init(&ra);
	pthread_mutexattr_settype(&ra, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&m_rec, &ra);

	pthread_t t[64 * 2];
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, counter_thread, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);

	/* threads producers, 2 consumers sharing the items. */
	long total = (long)threads * iters;
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, producer, (void *)(intptr_t)(i + 1));
	pthread_create(&t[threads], NULL, consumer, (void *)(intptr_t)(total / 2));
	pthread_create(&t[threads + 1], NULL, consumer, (void *)(intptr_t)(total - total / 2));
	for (int i = 0; i < threads + 2; i++)
		pthread_join(t[i], NULL);

	printf("static=%ld dyn=%ld nested=%ld try=%ld rec=%ld queue_count=%ld queue_sum=%ld\n",
	    c_static, c_dyn, c_nested, c_try, c_rec, q_count, q_sum);
	return 0;
}
