/* SPDX-License-Identifier: MIT */
/*
 * gil/pthread.c - pthread mode (HTMGIL_TARGET=pthread): elides the default
 * and normal pthread mutexes of any program.
 *
 * Only mutexes whose glibc __kind is 0 (PTHREAD_MUTEX_DEFAULT/NORMAL, no
 * elision flags) are touched; recursive, error-checking, robust and
 * priority-inheritance/protect mutexes have other kinds and go straight to
 * the real functions (dlsym RTLD_NEXT), as does every call while pthread mode
 * is off.  The subscription word is the mutex's __lock field: 0 exactly when
 * free, written by every real acquisition.
 *
 * Per thread, a small stack records the mutexes entered through the engine:
 *
 *   ENTERED  hg_engine_enter ran; tier and mode say how (RTM transaction,
 *            emulated transaction holding the real mutex, or the real mutex)
 *   REAL     taken for real while another section was open under the
 *            emulated HTM (an emulated section cannot roll back, so nested
 *            mutexes are taken for real)
 *   FLAT     subscribed inside an RTM transaction (read __lock, abort
 *            HG_ABORT_NESTED_BUSY if held: the outer mutex is not the busy
 *            one); the outer commit releases it
 *
 * POSIX semantics:
 *   - trylock inside an RTM section aborts it with HG_ABORT_NESTED_TRYLOCK,
 *     so it re-runs holding its real lock; elsewhere it is the real trylock.
 *   - pthread_cond_wait/timedwait on a mutex held by an RTM section aborts it
 *     with HG_ABORT_SYSCALL (the section re-runs on the real mutex, where the
 *     wait is real); on a really held mutex (emulated section, lock tier) it
 *     is the real wait.
 *   - unlocking a mutex not in the stack is the real unlock.
 * Calls made by htmgil itself (tls_busy) bypass all of this.
 */
#define _GNU_SOURCE
#include "gil/gil.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"

static int (*real_lock)(pthread_mutex_t *);
static int (*real_trylock)(pthread_mutex_t *);
static int (*real_unlock)(pthread_mutex_t *);
static int (*real_cond_wait)(pthread_cond_t *, pthread_mutex_t *);
static int (*real_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);

static uint32_t pt_on;     /* 1 once pthread mode is installed (written before threads start) */
/* This library's own mapping: its calls (the engine's registry, the report) are never elided. */
static uintptr_t self_lo, self_hi;
static uint32_t pt_lock_id;

enum pt_kind { PT_ENTERED = 0, PT_REAL = 1, PT_FLAT = 2 };

struct pt_held {
	pthread_mutex_t *m;
	struct hg_site_rec *rec;
	uint8_t kind, tier, mode;
};

#define HG_PT_DEPTH 16
struct pt_thread {
	struct pt_held held[HG_PT_DEPTH];
	unsigned n;
	unsigned rtm_open; /* ENTERED sections running as RTM transactions */
	unsigned emu_open; /* ENTERED sections running as emulated transactions */
	unsigned busy;     /* > 0 while htmgil itself runs (no interposition) */
};
static HG_TLS struct pt_thread pt;

static void resolve(void)
{
	real_lock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
	real_trylock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_trylock");
	real_unlock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_unlock");
	real_cond_wait = (int (*)(pthread_cond_t *, pthread_mutex_t *))
	    dlvsym(RTLD_NEXT, "pthread_cond_wait", "GLIBC_2.3.2");
	if (!real_cond_wait)
		real_cond_wait = (int (*)(pthread_cond_t *, pthread_mutex_t *))
		    dlsym(RTLD_NEXT, "pthread_cond_wait");
	real_cond_timedwait = (int (*)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *))
	    dlvsym(RTLD_NEXT, "pthread_cond_timedwait", "GLIBC_2.3.2");
	if (!real_cond_timedwait)
		real_cond_timedwait = (int (*)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *))
		    dlsym(RTLD_NEXT, "pthread_cond_timedwait");
}

static void ops_lock(void *m)
{
	real_lock(m);
}

static bool ops_trylock(void *m)
{
	return real_trylock(m) == 0;
}

static void ops_unlock(void *m)
{
	real_unlock(m);
}

static const struct hg_target_ops pt_ops = {
	.lock = ops_lock,
	.trylock = ops_trylock,
	.unlock = ops_unlock,
	.wait_free = NULL,
	.subscribe_extra = NULL,
};

static inline bool elidable(const pthread_mutex_t *m, uintptr_t caller)
{
	/* relaxed: pt_on is written once, before the program's threads exist */
	return hg_atomic_load_relaxed32(&pt_on) && m->__data.__kind == 0 && pt.busy == 0 &&
	    (caller < self_lo || caller >= self_hi);
}

static int self_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	uintptr_t want = (uintptr_t)arg;
	if (info->dlpi_addr != want)
		return 0;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (!self_lo || lo < self_lo)
			self_lo = lo;
		if (hi > self_hi)
			self_hi = hi;
	}
	return 1;
}

static struct pt_held *find(const pthread_mutex_t *m)
{
	for (unsigned i = pt.n; i-- > 0;)
		if (pt.held[i].m == m)
			return &pt.held[i];
	return NULL;
}

static void pop(struct pt_held *h)
{
	unsigned i = (unsigned)(h - pt.held);
	memmove(&pt.held[i], &pt.held[i + 1], (pt.n - i - 1) * sizeof(*h));
	pt.n--;
}

HG_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	if (HG_UNLIKELY(!real_lock))
		resolve();
	if (!elidable(m, (uintptr_t)__builtin_return_address(0)))
		return real_lock(m);
	if (pt.n == HG_PT_DEPTH) {
		/* Too deep to track: a real lock, never inside a transaction. */
		if (pt.rtm_open)
			hg_tx_abort(HG_ABORT_IRREVOCABLE);
		return real_lock(m);
	}
	struct pt_held *h = &pt.held[pt.n];
	h->m = m;
	h->rec = NULL;
	if (pt.rtm_open) {
		/* Inside an RTM transaction: subscribe to this mutex too. */
		if (hg_atomic_load_relaxed32((const uint32_t *)&m->__data.__lock) != 0)
			hg_tx_abort(HG_ABORT_NESTED_BUSY);
		h->kind = PT_FLAT;
		pt.n++;
		return 0;
	}
	if (pt.emu_open) {
		int rc = real_lock(m);
		if (rc == 0) {
			h->kind = PT_REAL;
			pt.n++;
		}
		return rc;
	}
	enum hg_htm_mode mode = hg_htm_mode();
	if (mode == HG_HTM_OFF)
		return real_lock(m);
	pt.busy++;
	uint64_t site = (uint64_t)(uintptr_t)__builtin_return_address(0);
	struct hg_site_rec *rec = hg_site_rec_get(pt_lock_id, site);
	enum hg_tier tier = hg_engine_enter(m, &pt_ops, (const uint32_t *)&m->__data.__lock, mode, rec);
	pt.busy--; /* thread-local: fine inside a transaction */
	h = &pt.held[pt.n];
	h->m = m, h->rec = rec, h->kind = PT_ENTERED;
	h->tier = (uint8_t)tier, h->mode = (uint8_t)mode;
	if (tier == HG_TIER_HTM) {
		if (mode == HG_HTM_RTM)
			pt.rtm_open++;
		else
			pt.emu_open++;
	}
	pt.n++;
	return 0;
}

HG_EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	if (HG_UNLIKELY(!real_trylock))
		resolve();
	if (pt.rtm_open && elidable(m, (uintptr_t)__builtin_return_address(0)))
		hg_tx_abort(HG_ABORT_NESTED_TRYLOCK);
	return real_trylock(m);
}

HG_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	if (HG_UNLIKELY(!real_unlock))
		resolve();
	struct pt_held *h;
	if (pt.n == 0 || pt.busy || !(h = find(m)))
		return real_unlock(m);
	if (h->kind == PT_FLAT) {
		pop(h);
		return 0;
	}
	if (h->kind == PT_REAL) {
		pop(h);
		return real_unlock(m);
	}
	struct pt_held e = *h;
	if (e.tier == HG_TIER_HTM && e.mode == HG_HTM_RTM) {
		/* Committing now would release FLAT mutexes still held: re-run on the lock. */
		for (unsigned i = 0; i < pt.n; i++)
			if (pt.held[i].kind == PT_FLAT)
				hg_tx_abort(HG_ABORT_IRREVOCABLE);
		pt.rtm_open--;
	} else if (e.tier == HG_TIER_HTM) {
		pt.emu_open--;
	}
	pop(h);
	pt.busy++;
	hg_engine_exit(m, &pt_ops, (enum hg_htm_mode)e.mode, e.rec, (enum hg_tier)e.tier);
	pt.busy--;
	return 0;
}

/* A wait needs the mutex really held: RTM sections re-run on the real lock. */
static void before_wait(pthread_mutex_t *m)
{
	struct pt_held *h;
	if (pt.rtm_open && (h = find(m)) &&
	    (h->kind == PT_FLAT || (h->tier == HG_TIER_HTM && h->mode == HG_HTM_RTM)))
		hg_tx_abort(HG_ABORT_SYSCALL);
}

HG_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	if (HG_UNLIKELY(!real_cond_wait))
		resolve();
	before_wait(m);
	return real_cond_wait(c, m);
}

HG_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t)
{
	if (HG_UNLIKELY(!real_cond_timedwait))
		resolve();
	before_wait(m);
	return real_cond_timedwait(c, m, t);
}

/* Pthread sites are call addresses: "function+0xoff (object)". */
static int pt_resolve(uint64_t key, char *buf, unsigned len)
{
	Dl_info di;
	if (key == 0 || !dladdr((void *)(uintptr_t)key, &di))
		return -1;
	const char *obj = di.dli_fname ? strrchr(di.dli_fname, '/') : NULL;
	obj = obj ? obj + 1 : (di.dli_fname ? di.dli_fname : "?");
	if (di.dli_sname)
		snprintf(buf, len, "%s+0x%lx (%s)", di.dli_sname,
		    (unsigned long)((uintptr_t)key - (uintptr_t)di.dli_saddr), obj);
	else
		snprintf(buf, len, "0x%lx (%s)",
		    (unsigned long)((uintptr_t)key - (uintptr_t)di.dli_fbase), obj);
	return 0;
}

int hg_pthread_install(void)
{
	resolve();
	if (!real_lock || !real_trylock || !real_unlock || !real_cond_wait || !real_cond_timedwait) {
		hg_warn("HTMGIL_TARGET=pthread: cannot find the real pthread functions; eliding nothing");
		return -1;
	}
	Dl_info di;
	if (dladdr((void *)hg_pthread_install, &di) && di.dli_fbase)
		dl_iterate_phdr(self_cb, di.dli_fbase);
	pt.busy++;
	pt_lock_id = hg_lock_register("pthread_mutex");
	hg_site_set_resolver(pt_resolve);
	pt.busy--;
	hg_atomic_store_relaxed32(&pt_on, 1); /* relaxed: see elidable() */
	return 0;
}
