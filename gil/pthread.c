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
 * Calls made by htmgil itself (hg_pt_tls.busy) bypass all of this.
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

static int (*hg_pt_real_mutex_lock)(pthread_mutex_t *);
static int (*hg_pt_real_mutex_trylock)(pthread_mutex_t *);
static int (*hg_pt_real_mutex_unlock)(pthread_mutex_t *);
static int (*hg_pt_real_cond_wait)(pthread_cond_t *, pthread_mutex_t *);
static int (*hg_pt_real_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *,
    const struct timespec *);

static uint32_t hg_pt_on;     /* 1 once pthread mode is installed (written before threads start) */
/* This library's own mapping: its calls (the engine's registry, the report) are never elided. */
static uintptr_t hg_pt_self_lo, hg_pt_self_hi;
static uint32_t hg_pt_lock_id;

enum hg_pt_kind { HG_PT_ENTERED = 0, HG_PT_REAL = 1, HG_PT_FLAT = 2 };

struct hg_pt_held {
	pthread_mutex_t *m;
	struct hg_site_rec *rec;
	uint8_t kind, tier, mode;
};

#define HG_PT_DEPTH 16
struct hg_pt_thread {
	struct hg_pt_held held[HG_PT_DEPTH];
	unsigned n;
	unsigned rtm_open; /* ENTERED sections running as RTM transactions */
	unsigned emu_open; /* ENTERED sections running as emulated transactions */
	unsigned busy;     /* > 0 while htmgil itself runs (no interposition) */
};
static HG_TLS struct hg_pt_thread hg_pt_tls;

static void hg_pt_resolve_real(void)
{
	hg_pt_real_mutex_lock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
	hg_pt_real_mutex_trylock =
	    (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_trylock");
	hg_pt_real_mutex_unlock =
	    (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_unlock");
	hg_pt_real_cond_wait = (int (*)(pthread_cond_t *, pthread_mutex_t *))
	    dlvsym(RTLD_NEXT, "pthread_cond_wait", "GLIBC_2.3.2");
	if (!hg_pt_real_cond_wait)
		hg_pt_real_cond_wait = (int (*)(pthread_cond_t *, pthread_mutex_t *))
		    dlsym(RTLD_NEXT, "pthread_cond_wait");
	hg_pt_real_cond_timedwait = (int (*)(pthread_cond_t *, pthread_mutex_t *,
	    const struct timespec *))dlvsym(RTLD_NEXT, "pthread_cond_timedwait", "GLIBC_2.3.2");
	if (!hg_pt_real_cond_timedwait)
		hg_pt_real_cond_timedwait = (int (*)(pthread_cond_t *, pthread_mutex_t *,
		    const struct timespec *))dlsym(RTLD_NEXT, "pthread_cond_timedwait");
}

static void hg_pt_op_lock(void *m)
{
	hg_pt_real_mutex_lock(m);
}

static bool hg_pt_op_trylock(void *m)
{
	return hg_pt_real_mutex_trylock(m) == 0;
}

static void hg_pt_op_unlock(void *m)
{
	hg_pt_real_mutex_unlock(m);
}

static const struct hg_target_ops hg_pt_mutex_ops = {
	.lock = hg_pt_op_lock,
	.trylock = hg_pt_op_trylock,
	.unlock = hg_pt_op_unlock,
	.wait_free = NULL,
	.subscribe_extra = NULL,
};

static inline bool hg_pt_elidable(const pthread_mutex_t *m, uintptr_t caller)
{
	/* relaxed: hg_pt_on is written once, before the program's threads exist */
	return hg_atomic_load_relaxed32(&hg_pt_on) && m->__data.__kind == 0 &&
	    hg_pt_tls.busy == 0 && (caller < hg_pt_self_lo || caller >= hg_pt_self_hi);
}

static int hg_pt_find_self_mapping(struct dl_phdr_info *info, size_t size, void *arg)
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
		if (!hg_pt_self_lo || lo < hg_pt_self_lo)
			hg_pt_self_lo = lo;
		if (hi > hg_pt_self_hi)
			hg_pt_self_hi = hi;
	}
	return 1;
}

static struct hg_pt_held *hg_pt_find_held(const pthread_mutex_t *m)
{
	for (unsigned i = hg_pt_tls.n; i-- > 0;)
		if (hg_pt_tls.held[i].m == m)
			return &hg_pt_tls.held[i];
	return NULL;
}

static void hg_pt_pop_held(struct hg_pt_held *h)
{
	unsigned i = (unsigned)(h - hg_pt_tls.held);
	memmove(&hg_pt_tls.held[i], &hg_pt_tls.held[i + 1], (hg_pt_tls.n - i - 1) * sizeof(*h));
	hg_pt_tls.n--;
}

HG_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	if (HG_UNLIKELY(!hg_pt_real_mutex_lock))
		hg_pt_resolve_real();
	if (!hg_pt_elidable(m, (uintptr_t)__builtin_return_address(0)))
		return hg_pt_real_mutex_lock(m);
	if (hg_pt_tls.n == HG_PT_DEPTH) {
		/* Too deep to track: a real lock, never inside a transaction. */
		if (hg_pt_tls.rtm_open)
			hg_tx_abort(HG_ABORT_IRREVOCABLE);
		return hg_pt_real_mutex_lock(m);
	}
	struct hg_pt_held *h = &hg_pt_tls.held[hg_pt_tls.n];
	h->m = m;
	h->rec = NULL;
	if (hg_pt_tls.rtm_open) {
		/* Inside an RTM transaction: subscribe to this mutex too. */
		if (hg_atomic_load_relaxed32((const uint32_t *)&m->__data.__lock) != 0)
			hg_tx_abort(HG_ABORT_NESTED_BUSY);
		h->kind = HG_PT_FLAT;
		hg_pt_tls.n++;
		return 0;
	}
	if (hg_pt_tls.emu_open) {
		int rc = hg_pt_real_mutex_lock(m);
		if (rc == 0) {
			h->kind = HG_PT_REAL;
			hg_pt_tls.n++;
		}
		return rc;
	}
	enum hg_htm_mode mode = hg_htm_mode();
	if (mode == HG_HTM_OFF)
		return hg_pt_real_mutex_lock(m);
	hg_pt_tls.busy++;
	uint64_t site = (uint64_t)(uintptr_t)__builtin_return_address(0);
	struct hg_site_rec *rec = hg_site_rec_get(hg_pt_lock_id, site);
	enum hg_tier tier =
	    hg_engine_enter(m, &hg_pt_mutex_ops, (const uint32_t *)&m->__data.__lock, mode, rec);
	hg_pt_tls.busy--; /* thread-local: fine inside a transaction */
	h = &hg_pt_tls.held[hg_pt_tls.n];
	h->m = m, h->rec = rec, h->kind = HG_PT_ENTERED;
	h->tier = (uint8_t)tier, h->mode = (uint8_t)mode;
	if (tier == HG_TIER_HTM) {
		if (mode == HG_HTM_RTM)
			hg_pt_tls.rtm_open++;
		else
			hg_pt_tls.emu_open++;
	}
	hg_pt_tls.n++;
	return 0;
}

HG_EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	if (HG_UNLIKELY(!hg_pt_real_mutex_trylock))
		hg_pt_resolve_real();
	if (hg_pt_tls.rtm_open && hg_pt_elidable(m, (uintptr_t)__builtin_return_address(0)))
		hg_tx_abort(HG_ABORT_NESTED_TRYLOCK);
	return hg_pt_real_mutex_trylock(m);
}

HG_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	if (HG_UNLIKELY(!hg_pt_real_mutex_unlock))
		hg_pt_resolve_real();
	struct hg_pt_held *h;
	if (hg_pt_tls.n == 0 || hg_pt_tls.busy || !(h = hg_pt_find_held(m)))
		return hg_pt_real_mutex_unlock(m);
	if (h->kind == HG_PT_FLAT) {
		hg_pt_pop_held(h);
		return 0;
	}
	if (h->kind == HG_PT_REAL) {
		hg_pt_pop_held(h);
		return hg_pt_real_mutex_unlock(m);
	}
	struct hg_pt_held e = *h;
	if (e.tier == HG_TIER_HTM && e.mode == HG_HTM_RTM) {
		/* Committing now would release FLAT mutexes still held: re-run on the lock. */
		for (unsigned i = 0; i < hg_pt_tls.n; i++)
			if (hg_pt_tls.held[i].kind == HG_PT_FLAT)
				hg_tx_abort(HG_ABORT_IRREVOCABLE);
		hg_pt_tls.rtm_open--;
	} else if (e.tier == HG_TIER_HTM) {
		hg_pt_tls.emu_open--;
	}
	hg_pt_pop_held(h);
	hg_pt_tls.busy++;
	hg_engine_exit(m, &hg_pt_mutex_ops, (enum hg_htm_mode)e.mode, e.rec, (enum hg_tier)e.tier);
	hg_pt_tls.busy--;
	return 0;
}

/* A wait needs the mutex really held: RTM sections re-run on the real lock. */
static void hg_pt_before_cond_wait(pthread_mutex_t *m)
{
	struct hg_pt_held *h;
	if (hg_pt_tls.rtm_open && (h = hg_pt_find_held(m)) &&
	    (h->kind == HG_PT_FLAT || (h->tier == HG_TIER_HTM && h->mode == HG_HTM_RTM)))
		hg_tx_abort(HG_ABORT_SYSCALL);
}

HG_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	if (HG_UNLIKELY(!hg_pt_real_cond_wait))
		hg_pt_resolve_real();
	hg_pt_before_cond_wait(m);
	return hg_pt_real_cond_wait(c, m);
}

HG_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t)
{
	if (HG_UNLIKELY(!hg_pt_real_cond_timedwait))
		hg_pt_resolve_real();
	hg_pt_before_cond_wait(m);
	return hg_pt_real_cond_timedwait(c, m, t);
}

/* Pthread sites are call addresses: "function+0xoff (object)". */
static int hg_pt_site_name(uint64_t key, char *buf, unsigned len)
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
	hg_pt_resolve_real();
	if (!hg_pt_real_mutex_lock || !hg_pt_real_mutex_trylock || !hg_pt_real_mutex_unlock ||
	    !hg_pt_real_cond_wait || !hg_pt_real_cond_timedwait) {
		hg_warn("HTMGIL_TARGET=pthread: cannot find the real pthread functions; eliding nothing");
		return -1;
	}
	Dl_info di;
	if (dladdr((void *)hg_pthread_install, &di) && di.dli_fbase)
		dl_iterate_phdr(hg_pt_find_self_mapping, di.dli_fbase);
	hg_pt_tls.busy++;
	hg_pt_lock_id = hg_lock_register("pthread_mutex");
	hg_site_set_resolver(hg_pt_site_name);
	hg_pt_tls.busy--;
	hg_atomic_store_relaxed32(&hg_pt_on, 1); /* relaxed: see hg_pt_elidable() */
	return 0;
}
