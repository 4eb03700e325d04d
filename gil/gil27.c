/* SPDX-License-Identifier: MIT */
/*
 * gil/gil27.c - the GIL of CPython 2.7, through PyThread_acquire_lock and
 * PyThread_release_lock, which libpython2.7 calls through its PLT.
 *
 * The preload exports both functions.  Every lock but the GIL (the lock whose
 * address libpython keeps in its static `interpreter_lock`, found in .symtab)
 * goes straight to the real functions (dlsym RTLD_NEXT), as do all calls in
 * processes where the 2.7 front end is not active.
 *
 * The 2.7 lock is a POSIX semaphore (value 1 = free), so it has no word that
 * reads 0 exactly when free.  The engine's subscription word is therefore a
 * constant zero, and subscribe_extra reads the semaphore's value inside the
 * transaction, aborting with HG_ABORT_BUSY when it is 0 (held): every real
 * acquisition writes that value, which aborts the subscribers.
 * sem_getvalue only loads the value (no system call), and the preload
 * library is linked with -z now, so its PLT slot is bound before any
 * transaction runs.
 *
 * Finalization: unlike 3.x, CPython 2.7 has no finalization check on its
 * GIL: daemon threads go on acquiring it through PyThread_acquire_lock while
 * and after Py_Finalize runs.  A speculative section subscribes to the
 * semaphore the finalizing thread holds, so it never overlaps a holder and
 * sees nothing a real acquisition at the same moment would not; there is
 * nothing to recheck per attempt (docs/gil.md, "Fallback semantics").
 *
 * The check interval: 2.7's eval loop decrements the global _Py_Ticker on
 * every bytecode and, at zero, releases and re-acquires the GIL.  Those are
 * the yield points.  The ticker is a shared write on every bytecode, so two
 * RTM transactions running Python code always conflict on it; htmgil does not
 * privatize it (that needs a modified interpreter).  On 2.7 elision is thus of
 * limited value: the abort-rate policy moves sites to the real GIL, and the
 * front end mostly gives attribution (which bytecodes switch the GIL).
 * Under the emulated HTM the sections hold the real GIL, so semantics are
 * CPython's own.
 *
 * Transaction length: a release called from PyEval_EvalFrameEx itself (its
 * return address lies in that function; blocking calls release through
 * PyEval_SaveThread instead) is the check-interval yield point.  While a
 * speculative section has yield points left (hg_policy_txlen), that release
 * and the acquisition that follows it are both skipped, so one transaction
 * spans several check intervals.
 */
#define _GNU_SOURCE
#include "gil/gil.h"

#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>

#include "gil/pysite.h"
#include "engine/engine.h"

static int (*real_acquire)(void *lock, int waitflag);
static void (*real_release)(void *lock);
static void **gil_slot; /* &interpreter_lock in libpython2.7; NULL when inactive */
static const uint32_t zero_word;

struct gil27_call {
	struct hg_site_rec *rec;
	void *lock;
	uint8_t in, tier, mode;
	uint8_t cont;         /* a yield point was skipped: the next acquire continues the section */
	uint32_t yields_left; /* check intervals left before the transaction ends (0: no yields) */
	uint32_t yields;      /* check intervals passed inside this section */
};
static uintptr_t evalframe_lo, evalframe_hi; /* PyEval_EvalFrameEx; 0 when yields are off */
static HG_TLS struct gil27_call g27;

static void resolve(void)
{
	if (!real_acquire)
		real_acquire = (int (*)(void *, int))dlsym(RTLD_NEXT, "PyThread_acquire_lock");
	if (!real_release)
		real_release = (void (*)(void *))dlsym(RTLD_NEXT, "PyThread_release_lock");
}

static void ops_lock(void *lock)
{
	real_acquire(lock, 1);
}

static bool ops_trylock(void *lock)
{
	return real_acquire(lock, 0) == 1;
}

static void ops_unlock(void *lock)
{
	real_release(lock);
}

static void ops_forget(void *lock)
{
	(void)lock;
}

/* Runs inside the transaction: a read of the semaphore's value, no syscall. */
static unsigned ops_subscribe(void *lock)
{
	int v = 1;
	sem_getvalue((sem_t *)lock, &v);
	return v > 0 ? 0 : HG_ABORT_BUSY;
}

static const struct hg_target_ops gil27_ops = {
	.lock = ops_lock,
	.trylock = ops_trylock,
	.unlock = ops_unlock,
	.wait_free = NULL,
	.subscribe_extra = ops_subscribe,
};

static const struct hg_target_ops forget_ops = {
	.lock = ops_lock,
	.trylock = ops_trylock,
	.unlock = ops_forget,
	.wait_free = NULL,
	.subscribe_extra = ops_subscribe,
};

HG_EXPORT int PyThread_acquire_lock(void *lock, int waitflag)
{
	if (HG_UNLIKELY(!real_acquire))
		resolve();
	if (!gil_slot || waitflag == 0 || lock != *gil_slot)
		return real_acquire(lock, waitflag);
	if (g27.cont) {
		/* The second half of a skipped check-interval yield: the section goes on. */
		g27.cont = 0;
		return 1;
	}
	hg_gil_count(&hg_gil_totals.takes);
	enum hg_htm_mode mode = hg_htm_mode();
	if (mode == HG_HTM_OFF || g27.in) {
		hg_gil_count(&hg_gil_totals.direct);
		return real_acquire(lock, waitflag);
	}
	uint64_t site = hg_pysite_note(NULL);
	struct hg_site_rec *rec = hg_site_rec_get(hg_gil_state.lock_id, site);
	uint32_t txlen = evalframe_hi ? hg_policy_txlen(rec) : 0;
	enum hg_tier tier = hg_engine_enter(lock, &gil27_ops, &zero_word, mode, rec);
	g27.rec = rec, g27.lock = lock, g27.tier = (uint8_t)tier, g27.mode = (uint8_t)mode;
	g27.yields_left = tier == HG_TIER_HTM ? txlen : 0;
	g27.yields = 0;
	g27.in = 1;
	if (mode != HG_HTM_RTM || tier != HG_TIER_HTM)
		hg_gil_count(&hg_gil_totals.sections[tier]);
	return 1;
}

HG_EXPORT void PyThread_release_lock(void *lock)
{
	if (HG_UNLIKELY(!real_release))
		resolve();
	if (!gil_slot || !g27.in || lock != g27.lock) {
		if (gil_slot && lock == *gil_slot)
			hg_gil_count(&hg_gil_totals.drops);
		real_release(lock);
		return;
	}
	uintptr_t ret = (uintptr_t)__builtin_return_address(0);
	if (g27.yields_left && ret >= evalframe_lo && ret < evalframe_hi) {
		/* A check-interval yield point inside a speculative section. */
		g27.yields++;
		if (--g27.yields_left > 0) {
			g27.cont = 1;
			return;
		}
		g27.in = 0;
		hg_engine_exit(lock, &gil27_ops, (enum hg_htm_mode)g27.mode, g27.rec,
		    (enum hg_tier)g27.tier);
		/* Outside any transaction: the acquisition that follows begins the next one. */
		hg_gil_count(&hg_gil_totals.restarts);
	} else {
		g27.in = 0;
		hg_engine_exit(lock, &gil27_ops, (enum hg_htm_mode)g27.mode, g27.rec,
		    (enum hg_tier)g27.tier);
	}
	if (g27.yields)
		hg_atomic_fetch_add_relaxed64(&hg_gil_totals.yields, g27.yields); /* a statistic */
	g27.yields = 0;
	hg_gil_count(&hg_gil_totals.drops);
	if (g27.mode == HG_HTM_RTM && g27.tier == HG_TIER_HTM)
		hg_gil_count(&hg_gil_totals.sections[HG_TIER_HTM]);
}

/* See gil3_atfork_child in gil/gil3.c: PyOS_AfterFork re-creates the lock. */
static void gil27_atfork_child(void)
{
	g27.cont = 0;
	if (!g27.in)
		return;
	g27.in = 0;
	g27.yields = 0;
	hg_engine_exit(g27.lock, &forget_ops, (enum hg_htm_mode)g27.mode, g27.rec,
	    (enum hg_tier)g27.tier);
	hg_gil_count(&hg_gil_totals.forks);
}

int hg_gil27_install(struct hg_gil_state *g)
{
	resolve();
	if (!real_acquire || !real_release) {
		hg_warn("cannot find the real PyThread_acquire_lock/release_lock in %s; running "
		    "CPython %s unchanged", g->py.path, g->py.version);
		return -1;
	}
	gil_slot = (void **)g->py.interpreter_lock;
	if (hg_txlen_off) {
		g->yields = "off (HTMGIL_TXLEN=off)";
	} else if (!g->py.evalframe || !g->py.evalframe_size) {
		g->yields = "not available: PyEval_EvalFrameEx not found in the symbol table";
	} else {
		evalframe_lo = g->py.evalframe;
		evalframe_hi = g->py.evalframe + g->py.evalframe_size;
		g->yields = "on (check-interval releases from PyEval_EvalFrameEx)";
	}
	pthread_atfork(NULL, NULL, gil27_atfork_child);
	g->hooked = "PyThread_acquire_lock and PyThread_release_lock on interpreter_lock (PLT interposition)";
	return 0;
}
