/* SPDX-License-Identifier: MIT */
/*
 * base/util.h - assertions, branch hints, thread ids, cycle counter, futex,
 * pointer loads from foreign structs.
 */
#ifndef HG_UTIL_H
#define HG_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htmgil/config.h"

#define HG_LIKELY(x) __builtin_expect(!!(x), 1)
#define HG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HG_INTERNAL __attribute__((visibility("hidden")))
#define HG_EXPORT __attribute__((visibility("default")))
#define HG_CACHELINE 64

/*
 * Every thread-local of the library is declared HG_TLS.  In the preload
 * library (HG_BUILDING_PRELOAD, hg_core_preload) it is initial-exec: the
 * preload is loaded at start-up, and its thread-locals are read and written
 * inside transactions, where a __tls_get_addr that has to allocate would
 * abort them.  In libhtmgil.so and libhtmgil.a it is the default model, so
 * the shared library can be dlopen'ed (an initial-exec block that large does
 * not fit the static TLS surplus); see docs/design.md, "Build and link".
 */
#if defined(HG_BUILDING_PRELOAD)
#define HG_TLS __thread __attribute__((tls_model("initial-exec")))
#else
#define HG_TLS __thread
#endif

/*
 * Assertion levels (HTMGIL_DEBUG): hg_assert >= 1, hg_assert_internal >= 2,
 * hg_assert_expensive >= 3.  Never used inside a transaction: the message
 * would abort it.
 */
#define HG_ASSERT_AT(lvl, cond)                                                \
	do {                                                                   \
		if (HG_DEBUG >= (lvl) && HG_UNLIKELY(!(cond))) {               \
			fprintf(stderr, "htmgil: assertion failed: %s (%s:%d)\n", \
			    #cond, __FILE__, __LINE__);                        \
			abort();                                               \
		}                                                              \
	} while (0)
#define hg_assert(c) HG_ASSERT_AT(1, c)
#define hg_assert_internal(c) HG_ASSERT_AT(2, c)
#define hg_assert_expensive(c) HG_ASSERT_AT(3, c)

/* Small per-process thread ordinal (1, 2, ...), cached in TLS; never 0. */
HG_INTERNAL uint32_t hg_thread_id_slow(void);
extern HG_TLS uint32_t hg_thread_id_cache;
static inline uint32_t hg_thread_id(void)
{
	uint32_t id = hg_thread_id_cache;
	return HG_LIKELY(id != 0) ? id : hg_thread_id_slow();
}

/* Time-stamp counter: cheap cycle counts, read only outside transactions. */
static inline uint64_t hg_cycles(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	return 0;
#endif
}

/*
 * The pointer stored at byte offset off of base, a struct this library knows
 * only by offsets (an interpreter's): no alignment is assumed and no type is
 * punned (memcpy).  base must point at readable memory of at least
 * off + sizeof(void *) bytes; a plain load, so safe inside a transaction.
 */
static inline const void *hg_load_ptr(const void *base, size_t off)
{
	const void *v;
	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

/*
 * futex(2) wrappers on a 32-bit word (private futexes).  hg_futex_wait()
 * returns true when the thread slept and was woken, false when the word no
 * longer held expect (or a signal came): either way the caller looks again.
 */
HG_INTERNAL bool hg_futex_wait(uint32_t *word, uint32_t expect);
HG_INTERNAL void hg_futex_wake(uint32_t *word, int n);

/*
 * Grows the array p of *cap elements of size bytes (doubling from 64) to
 * hold at least need elements and updates *cap; returns p itself when it
 * is large enough.  Out of memory: one line naming what (a noun phrase) and
 * abort(), since the caller cannot continue without the space.
 */
HG_INTERNAL void *hg_reserve(void *p, size_t *cap, size_t need, size_t size, const char *what);

/* One line on stderr, prefixed "htmgil: ". */
HG_INTERNAL void hg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* HG_UTIL_H */
