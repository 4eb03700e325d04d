/* SPDX-License-Identifier: MIT */
/*
 * fallback/mutex.h - inline fast paths of struct hg_mutex for the library's
 * own hot paths (the elided lock).  The protocol is described in
 * fallback/mutex.c and at the definition in include/htmgil/lock.h.
 */
#ifndef HG_FALLBACK_MUTEX_H
#define HG_FALLBACK_MUTEX_H

#include <errno.h>

#include "base/atomic.h"
#include "base/util.h"
#include "htmgil/lock.h"

#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define HG_HAVE_SINGLE_THREADED 1
#endif
#endif

/*
 * While the process has one thread nobody can contend or subscribe, so the
 * word is taken and released with plain (relaxed) stores, as glibc does for
 * private mutexes.  The flag only goes from true to false, and only in
 * pthread_create(), which this very thread would have to call between our
 * check and our store.
 */
static inline bool hg_single_threaded(void)
{
#ifdef HG_HAVE_SINGLE_THREADED
	return __libc_single_threaded != 0;
#else
	return false;
#endif
}

HG_INTERNAL void hg_mutex_lock_slow(struct hg_mutex *m);
HG_INTERNAL int hg_mutex_unlock_slow(struct hg_mutex *m, uint32_t w);

/*
 * Release by a caller that knows it holds the lock (the elided lock's held
 * stack proves it), so no owner check; pairs with hg_mutex_acquire_unowned().
 */
static inline void hg_mutex_release_owned(struct hg_mutex *m)
{
	uint32_t w = HG_MUTEX_LOCKED;
	if (hg_single_threaded()) {
		w = hg_atomic_load_relaxed32(&m->word);
		if (w == HG_MUTEX_LOCKED) {
			hg_atomic_store_relaxed32(&m->word, 0);
			return;
		}
	}
	/*
	 * The CAS expects a plain LOCKED without reading the word first: a read
	 * of a line the waiter has just taken fetches it shared and the CAS
	 * then fetches it again (docs/design.md, "The real lock: measured
	 * costs").  On failure w holds what the word was.
	 * release: pairs with the acquire CAS of the next holder.
	 */
	if (HG_LIKELY(hg_atomic_cas_release32(&m->word, &w, 0)))
		return;
	hg_mutex_unlock_slow(m, w);
}

/* Acquire without recording an owner (see hg_mutex_release_owned()). */
static inline void hg_mutex_acquire_unowned(struct hg_mutex *m)
{
	uint32_t w = 0;
	if (hg_single_threaded() && hg_atomic_load_relaxed32(&m->word) == 0)
		hg_atomic_store_relaxed32(&m->word, HG_MUTEX_LOCKED);
	/* acquire: pairs with the release in hg_mutex_release_owned() */
	else if (HG_UNLIKELY(!hg_atomic_cas_acquire32(&m->word, &w, HG_MUTEX_LOCKED)))
		hg_mutex_lock_slow(m);
}

static inline bool hg_mutex_tryacquire_unowned(struct hg_mutex *m)
{
	uint32_t w = 0;
	/* acquire: pairs with the release in hg_mutex_release_owned() */
	return hg_atomic_cas_acquire32(&m->word, &w, HG_MUTEX_LOCKED);
}

/* The plain hg_mutex API: the same, recording and checking the owner. */
static inline void hg_mutex_lock_inline(struct hg_mutex *m)
{
	hg_mutex_acquire_unowned(m);
	/* Only the holder writes .owner, only while LOCKED; relaxed because
	 * only the holder reads it (the ownership check at unlock). */
	hg_atomic_store_relaxed32(&m->owner, hg_thread_id());
}

static inline int hg_mutex_unlock_inline(struct hg_mutex *m)
{
	/* .owner is this thread's id only while this thread holds the lock. */
	if (HG_UNLIKELY(hg_atomic_load_relaxed32(&m->owner) != hg_thread_id()))
		return EPERM;
	hg_atomic_store_relaxed32(&m->owner, 0);
	hg_mutex_release_owned(m);
	return 0;
}

#endif /* HG_FALLBACK_MUTEX_H */
