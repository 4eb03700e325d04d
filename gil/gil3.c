/* SPDX-License-Identifier: MIT */
/*
 * gil/gil3.c - the GIL of CPython 3.11, 3.12 and 3.13, through entry patches
 * on the static take_gil() and drop_gil() (gil/patch.h).
 *
 * Signatures (x86-64 SysV; every argument is a pointer or an int, so one
 * replacement taking three pointer-sized arguments forwards all of them):
 *
 *   3.11  take_gil(PyThreadState *)   drop_gil(struct _ceval_runtime_state *,
 *                                               struct _ceval_state *, PyThreadState *)
 *   3.12  take_gil(PyThreadState *)   drop_gil(struct _ceval_state *, PyThreadState *)
 *   3.13  take_gil(PyThreadState *)   drop_gil(PyInterpreterState *, PyThreadState *, int)
 *
 * The protocol, per thread:
 *
 *   take:  mode off (or elision disabled)  -> original take_gil (trampoline)
 *          otherwise: note the bytecode site (gil/pysite.h), then
 *          hg_engine_enter(gil, ops, &gil->locked, mode, rec):
 *            HG_TIER_LOCK: the original take_gil ran (ops.lock); the real
 *                          GIL is held with all of CPython's bookkeeping.
 *            HG_TIER_HTM, emulated: the original take_gil ran too (an
 *                          emulated transaction holds the real lock).
 *            HG_TIER_HTM, RTM: inside a transaction that has read
 *                          gil->locked == 0 and written nothing; any real
 *                          take_gil writes locked = 1 and aborts it.
 *   drop:  if this thread entered a section: hg_engine_exit (commit, or the
 *          original drop_gil through ops.unlock); otherwise the original.
 *
 * ops.trylock is NULL: CPython has no non-blocking take_gil, so an emulated
 * begin blocks in the original take_gil (switch interval, drop requests and
 * FORCE_SWITCHING fairness untouched).  ops.lock/unlock need the arguments of
 * the call being served; they travel in the thread-local struct gil_call.
 *
 * The GIL's address comes from the per-version layout (gil/pylayout.h):
 * &_PyRuntime.ceval.gil (3.11) or tstate->interp->ceval.gil (3.12+, one GIL
 * per interpreter, so subinterpreters with their own GIL are handled: each
 * section subscribes to, or takes, its own interpreter's GIL).  It is
 * checked at run time twice: the drop_gil arguments must name the same GIL,
 * and after every real take through the engine gil->locked must read 1.  A
 * mismatch disables elision for the rest of the process (one line on
 * stderr) and every later call goes straight to the originals.
 */
#define _GNU_SOURCE
#include "gil/gil.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "gil/patch.h"
#include "gil/pysite.h"
#include "htm/engine.h"

/* The thread's GIL section and the arguments of the take/drop being served. */
struct gil_call {
	void *take_tstate;
	void *drop_a, *drop_b, *drop_c;
	struct hg_site_rec *rec;
	void *gil;
	uint8_t in;    /* 1 while this thread is in a section entered by hg_gil3_take */
	uint8_t tier;  /* enum hg_tier of that section */
	uint8_t mode;  /* enum hg_htm_mode it was entered in */
};
static __thread struct gil_call gcall __attribute__((tls_model("initial-exec")));

static void (*orig_take)(void *tstate);
/* _Py_IsFinalizing (3.11, 3.12) or Py_IsFinalizing (3.13): reads _PyRuntime only. */
static int (*is_finalizing)(void);
static void (*orig_drop)(void *a, void *b, void *c);
static struct hg_patch take_patch, drop_patch;
static const struct hg_py_layout *lay;
static uintptr_t runtime_gil; /* 3.11: &_PyRuntime.ceval.gil */
/*
 * 1 while elision may be used.  Cleared (relaxed) once when a run-time check
 * fails; readers only need to see it eventually, since every path it gates
 * is also correct, just slower, when taken once more.
 */
static uint32_t elide_ok;

static inline const void *ld_ptr(const void *base, unsigned off)
{
	const void *v;
	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

static void *gil_of_tstate(const void *tstate)
{
	if (runtime_gil)
		return (void *)runtime_gil;
	if (!tstate)
		return NULL;
	const void *interp = ld_ptr(tstate, lay->tstate_interp);
	return interp ? (void *)ld_ptr(interp, lay->interp_gil) : NULL;
}

/* The GIL named by drop_gil's arguments (see the signatures above). */
static void *gil_of_drop(void *a)
{
	switch (lay->minor) {
	case 11:
		return (char *)a + 8; /* &ceval->gil, after recursion_limit and signals_pending */
	case 12:
		return (void *)ld_ptr(a, 16); /* ceval->gil */
	default:
		return (void *)ld_ptr(a, lay->interp_gil); /* interp->ceval.gil */
	}
}

static void disable(const char *why)
{
	uint32_t was = hg_atomic_load_relaxed32(&elide_ok);
	hg_atomic_store_relaxed32(&elide_ok, 0); /* relaxed: see elide_ok */
	if (was)
		hg_warn("GIL elision disabled for this process: %s (CPython %s); the interpreter "
		    "keeps its own GIL", why, hg_gil_state.py.version);
}

static void ops_lock(void *target)
{
	(void)target;
	orig_take(gcall.take_tstate);
}

static void ops_unlock(void *target)
{
	(void)target;
	orig_drop(gcall.drop_a, gcall.drop_b, gcall.drop_c);
}

/*
 * drop_gil's arguments for a thread that takes the GIL only to wait (see
 * ops_wait_free): the same values CPython passes (signatures above).
 */
static void drop_args_of(void *tstate, void **a, void **b, void **c)
{
	void *interp = (void *)ld_ptr(tstate, lay->tstate_interp);
	switch (lay->minor) {
	case 11:
		*a = (char *)runtime_gil - lay->runtime_gil + lay->runtime_ceval;
		*b = (char *)interp + lay->interp_ceval;
		*c = tstate;
		break;
	case 12:
		*a = (char *)interp + lay->interp_ceval;
		*b = tstate;
		*c = NULL;
		break;
	default:
		*a = interp;
		*b = tstate;
		*c = NULL; /* final_release = 0 */
		break;
	}
}

/*
 * Waiting for the GIL to be free must go through CPython's own take_gil:
 * only a thread waiting there times out and sets the drop request that makes
 * the holder yield at its next eval-breaker check.  A waiter that merely
 * polled gil->locked would let the holder run on (a thread spinning in
 * Python could then starve every other).  So the wait takes the real GIL,
 * with all of CPython's fairness, and gives it straight back.
 */
static void ops_wait_free(void *target, unsigned spin)
{
	(void)target, (void)spin;
	void *ts = gcall.take_tstate, *a, *b, *c;
	if (!ts)
		return;
	drop_args_of(ts, &a, &b, &c);
	orig_take(ts);
	orig_drop(a, b, c);
}

static const struct hg_target_ops gil_ops = {
	.lock = ops_lock,
	.trylock = NULL,
	.unlock = ops_unlock,
	.wait_free = ops_wait_free,
	.subscribe_extra = NULL,
};

static void hg_gil3_take(void *tstate)
{
	hg_gil_count(&hg_gil_totals.takes);
	enum hg_htm_mode mode = hg_mode_now();
	void *gil;
	/*
	 * Once the runtime finalizes, a daemon thread's tstate (and its frames)
	 * may already be freed: CPython's own take_gil checks this first and
	 * ends the thread.  Nothing here may read tstate then, so such calls go
	 * straight to the original.
	 */
	/* relaxed: see elide_ok */
	if (mode == HG_HTM_OFF || !hg_atomic_load_relaxed32(&elide_ok) || gcall.in ||
	    is_finalizing() || !(gil = gil_of_tstate(tstate))) {
		hg_gil_count(&hg_gil_totals.direct);
		orig_take(tstate);
		return;
	}
	uint64_t site = hg_pysite_note(tstate);
	struct hg_site_rec *rec = hg_site_rec_get(hg_gil_state.lock_id, site);
	gcall.take_tstate = tstate;
	enum hg_tier tier = hg_engine_enter(gil, &gil_ops,
	    (const uint32_t *)((char *)gil + lay->gil_locked), mode, rec);
	/* From here on an RTM section runs transactionally: only thread-local writes. */
	gcall.rec = rec;
	gcall.gil = gil;
	gcall.tier = (uint8_t)tier;
	gcall.mode = (uint8_t)mode;
	gcall.in = 1;
	if (mode != HG_HTM_RTM || tier != HG_TIER_HTM) {
		/* The real GIL is held: check the layout really named it. */
		uint32_t locked = hg_atomic_load_relaxed32((const uint32_t *)((char *)gil + lay->gil_locked));
		if (locked != 1)
			disable("the GIL's 'locked' field did not read 1 after taking the GIL "
			    "(struct layout mismatch)");
		hg_gil_count(&hg_gil_totals.sections[tier]);
	}
}

static void hg_gil3_drop(void *a, void *b, void *c)
{
	if (!gcall.in) {
		hg_gil_count(&hg_gil_totals.drops);
		orig_drop(a, b, c);
		return;
	}
	if (gcall.mode != HG_HTM_RTM || gcall.tier != HG_TIER_HTM) {
		void *named = gil_of_drop(a);
		if (named != gcall.gil)
			disable("drop_gil named a different GIL than take_gil (struct layout mismatch)");
	}
	gcall.drop_a = a, gcall.drop_b = b, gcall.drop_c = c;
	gcall.in = 0;
	hg_engine_exit(gcall.gil, &gil_ops, (enum hg_htm_mode)gcall.mode, gcall.rec,
	    (enum hg_tier)gcall.tier);
	/* Outside any transaction from here. */
	hg_gil_count(&hg_gil_totals.drops);
	if (gcall.tier == HG_TIER_HTM && gcall.mode == HG_HTM_RTM)
		hg_gil_count(&hg_gil_totals.sections[HG_TIER_HTM]);
}

/* No-op unlock: closes the forking thread's section in the child (see below). */
static void ops_forget(void *target)
{
	(void)target;
}

static const struct hg_target_ops forget_ops = {
	.lock = ops_lock,
	.trylock = NULL,
	.unlock = ops_forget,
	.wait_free = NULL,
	.subscribe_extra = NULL,
};

/*
 * fork() in a threaded program: CPython forks holding the GIL and the child
 * recreates the GIL and takes it again (_PyEval_ReInitThreads).  The forking
 * thread's section would then look open, so the child closes it without
 * touching the GIL, before CPython's own after-fork code runs.
 */
static void gil3_atfork_child(void)
{
	if (!gcall.in)
		return;
	gcall.in = 0;
	hg_engine_exit(gcall.gil, &forget_ops, (enum hg_htm_mode)gcall.mode, gcall.rec,
	    (enum hg_tier)gcall.tier);
	hg_gil_count(&hg_gil_totals.forks);
}

int hg_gil3_install(struct hg_gil_state *g)
{
	const struct hg_py *py = &g->py;
	lay = py->layout;
	if (lay->minor == 11)
		runtime_gil = py->runtime + lay->runtime_gil;
	is_finalizing = (int (*)(void))dlsym(RTLD_DEFAULT,
	    lay->minor >= 13 ? "Py_IsFinalizing" : "_Py_IsFinalizing");
	if (!is_finalizing) {
		hg_warn("cannot find %s in %s (CPython %s); running it unchanged",
		    lay->minor >= 13 ? "Py_IsFinalizing" : "_Py_IsFinalizing", py->path, py->version);
		return -1;
	}
	const char *why = NULL;
	if (hg_patch_install(&drop_patch, (void *)py->drop_gil, py->drop_size,
	        (void *)hg_gil3_drop, &why) != 0) {
		hg_warn("cannot patch drop_gil in %s (CPython %s): %s; running it unchanged",
		    py->symfile, py->version, why);
		return -1;
	}
	if (hg_patch_install(&take_patch, (void *)py->take_gil, py->take_size,
	        (void *)hg_gil3_take, &why) != 0) {
		hg_patch_remove(&drop_patch);
		hg_warn("cannot patch take_gil in %s (CPython %s): %s; running it unchanged",
		    py->symfile, py->version, why);
		return -1;
	}
	orig_take = (void (*)(void *))take_patch.trampoline;
	orig_drop = (void (*)(void *, void *, void *))drop_patch.trampoline;
	hg_atomic_store_relaxed32(&elide_ok, 1); /* relaxed: set before any thread starts */
	pthread_atfork(NULL, NULL, gil3_atfork_child);
	g->hooked = "take_gil and drop_gil (entry patches)";
	return 0;
}
