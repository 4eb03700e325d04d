/* SPDX-License-Identifier: MIT */
/*
 * base/util.c - thread ordinals, futex wrappers, the one-line warning.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/atomic.h"
#include "base/util.h"

HG_TLS uint32_t hg_thread_id_cache;

static uint32_t hg_thread_next = 1; /* next ordinal; only fetch_add */

uint32_t hg_thread_id_slow(void)
{
	/* Relaxed: the ordinal only needs to be unique, not ordered. */
	uint32_t id = hg_atomic_fetch_add_relaxed32(&hg_thread_next, 1);
	if (id == 0) /* wrapped after 2^32 threads: skip the reserved 0 */
		id = hg_atomic_fetch_add_relaxed32(&hg_thread_next, 1);
	hg_thread_id_cache = id;
	return id;
}

bool hg_futex_wait(uint32_t *word, uint32_t expect)
{
	/* EAGAIN (value changed) and EINTR are both "look again" for callers. */
	return syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expect, NULL, NULL, 0) == 0;
}

void hg_futex_wake(uint32_t *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

void hg_warn(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	/* One write so lines from several threads do not interleave. */
	char line[600];
	int n = snprintf(line, sizeof line, "htmgil: %s\n", buf);
	if (n > 0) {
		ssize_t r = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
		(void)r;
	}
	errno = saved;
}

void *hg_reserve(void *p, size_t *cap, size_t need, size_t size, const char *what)
{
	if (need <= *cap)
		return p;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *q = realloc(p, c * size);
	if (!q) {
		hg_warn("out of memory growing %s (%zu bytes)", what, c * size);
		abort();
	}
	*cap = c;
	return q;
}
