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
#include "htm/sim.h"
#include "engine/engine.h"

static int (*hg_gil27_real_acquire_lock)(void *lock, int waitflag);
static void (*hg_gil27_real_release_lock)(void *lock);
/* &interpreter_lock in libpython2.7; NULL when inactive */
static void **hg_gil27_interpreter_lock_slot;
static const uint32_t hg_gil27_zero_word;

struct hg_gil27_call {
	struct hg_site_rec *rec;
	void *lock;
	uint8_t in, tier, mode;
	uint8_t cont;         /* a yield point was skipped: the next acquire continues the section */
	uint32_t yields_left; /* check intervals left before the transaction ends (0: no yields) */
	uint32_t yields;      /* check intervals passed inside this section */
	uint64_t spec_t0;     /* a speculative section with yields: the stamp it began at (0: none) */
	struct hg_site_rec *prev; /* a restart at a yield point: the section that ended there */
};
/* PyEval_EvalFrameEx; 0 when yields are off */
static uintptr_t hg_gil27_evalframe_lo, hg_gil27_evalframe_hi;
static HG_TLS struct hg_gil27_call hg_gil27_section;
/* A GIL taken directly (mode off): the stamp it is held from (0: none) and
 * the cycles its acquisition waited (docs/report.md, "Time"). */
static HG_TLS uint64_t hg_gil27_direct_t0, hg_gil27_direct_wait;

static void hg_gil27_resolve_real(void)
{
	if (!hg_gil27_real_acquire_lock)
		hg_gil27_real_acquire_lock =
		    (int (*)(void *, int))dlsym(RTLD_NEXT, "PyThread_acquire_lock");
	if (!hg_gil27_real_release_lock)
		hg_gil27_real_release_lock =
		    (void (*)(void *))dlsym(RTLD_NEXT, "PyThread_release_lock");
}

static void hg_gil27_op_acquire(void *lock)
{
	hg_gil27_real_acquire_lock(lock, 1);
}

static bool hg_gil27_op_try_acquire(void *lock)
{
	return hg_gil27_real_acquire_lock(lock, 0) == 1;
}

static void hg_gil27_op_release(void *lock)
{
	hg_gil27_real_release_lock(lock);
}

static void hg_gil27_op_release_none(void *lock)
{
	(void)lock;
}

/* Runs inside the transaction: a read of the semaphore's value, no syscall. */
static unsigned hg_gil27_op_check_sem_free(void *lock)
{
	int v = 1;
	sem_getvalue((sem_t *)lock, &v);
	return v > 0 ? 0 : HG_ABORT_BUSY;
}

static const struct hg_target_ops hg_gil27_ops = {
	.lock = hg_gil27_op_acquire,
	.trylock = hg_gil27_op_try_acquire,
	.unlock = hg_gil27_op_release,
	.wait_free = NULL,
	.subscribe_extra = hg_gil27_op_check_sem_free,
	.time_every = true, /* a GIL hold spans many bytecodes: every one is timed */
};

static const struct hg_target_ops hg_gil27_fork_child_ops = {
	.lock = hg_gil27_op_acquire,
	.trylock = hg_gil27_op_try_acquire,
	.unlock = hg_gil27_op_release_none,
	.wait_free = NULL,
	.subscribe_extra = hg_gil27_op_check_sem_free,
	.time_every = true, /* a GIL hold spans many bytecodes: every one is timed */
};

/*
 * The cycles since the speculative section began, read before its commit,
 * and their report to the policy after it (see gil/gil3.c's
 * hg_gil3_spec_cycles).
 */
static inline uint64_t hg_gil27_spec_cycles(void)
{
	return hg_gil27_section.spec_t0 ? hg_cycles() - hg_gil27_section.spec_t0 : 0;
}

static inline void hg_gil27_txlen_sample(uint64_t cycles)
{
	if (cycles && hg_gil27_section.yields && !hg_sim_on)
		hg_policy_txlen_sample(hg_gil27_section.rec, hg_gil27_section.yields, cycles);
}

HG_EXPORT int PyThread_acquire_lock(void *lock, int waitflag)
{
	if (HG_UNLIKELY(!hg_gil27_real_acquire_lock))
		hg_gil27_resolve_real();
	if (!hg_gil27_interpreter_lock_slot || waitflag == 0 ||
	    lock != *hg_gil27_interpreter_lock_slot)
		return hg_gil27_real_acquire_lock(lock, waitflag);
	if (hg_gil27_section.cont) {
		/* The second half of a skipped check-interval yield: the section goes on. */
		hg_gil27_section.cont = 0;
		return 1;
	}
	hg_gil_count(&hg_gil_totals.takes);
	enum hg_htm_mode mode = hg_htm_mode();
	if (mode == HG_HTM_OFF || hg_gil27_section.in) {
		hg_gil27_section.prev = NULL;
		hg_gil_count(&hg_gil_totals.direct);
		uint64_t t = hg_cycles();
		int got = hg_gil27_real_acquire_lock(lock, waitflag);
		if (!hg_gil27_section.in) {
			/* Held from here to the direct release (docs/report.md, "Time"). */
			hg_gil27_direct_t0 = hg_cycles();
			hg_gil27_direct_wait = hg_gil27_direct_t0 - t;
		}
		return got;
	}
	uint64_t site = hg_pysite_note(NULL);
	if (hg_gil27_section.prev) {
		/* It spanned one interval: this site ends it (see gil/gil3.c's hg_gil3_note_next). */
		hg_atomic_store_relaxed64(&hg_gil27_section.prev->st.next_site, site);
		hg_gil27_section.prev = NULL;
	}
	struct hg_site_rec *rec = hg_site_rec_get(hg_gil_state.lock_id, site);
	uint32_t txlen = hg_gil27_evalframe_hi ? hg_policy_txlen(rec) : 0;
	enum hg_tier tier = hg_engine_enter(lock, &hg_gil27_ops, &hg_gil27_zero_word, mode, rec);
	hg_gil27_section.rec = rec;
	hg_gil27_section.lock = lock;
	hg_gil27_section.tier = (uint8_t)tier;
	hg_gil27_section.mode = (uint8_t)mode;
	hg_gil27_section.yields_left = tier == HG_TIER_HTM ? txlen : 0;
	hg_gil27_section.yields = 0;
	/* RDTSC: allowed in a transaction; see hg_gil27_txlen_sample */
	hg_gil27_section.spec_t0 = hg_gil27_section.yields_left ? hg_cycles() : 0;
	hg_gil27_section.in = 1;
	/* Simulation mode counts sections when they end (see gil/gil3.c's hg_gil3_take). */
	if ((mode != HG_HTM_RTM || tier != HG_TIER_HTM) && !hg_sim_on)
		hg_gil_count(&hg_gil_totals.sections[tier]);
	return 1;
}

HG_EXPORT void PyThread_release_lock(void *lock)
{
	if (HG_UNLIKELY(!hg_gil27_real_release_lock))
		hg_gil27_resolve_real();
	if (!hg_gil27_interpreter_lock_slot || !hg_gil27_section.in ||
	    lock != hg_gil27_section.lock) {
		bool gil = hg_gil27_interpreter_lock_slot && lock == *hg_gil27_interpreter_lock_slot;
		if (gil)
			hg_gil_count(&hg_gil_totals.drops);
		/* No section is open: no transaction runs here.  The hold ends before
		 * the release, which may hand the CPU to the thread it wakes (waiting). */
		uint64_t t = hg_cycles();
		hg_gil27_real_release_lock(lock);
		if (gil && hg_gil27_direct_t0) {
			hg_report_direct_time(t - hg_gil27_direct_t0,
			    hg_gil27_direct_wait + (hg_cycles() - t));
			hg_gil27_direct_t0 = 0;
		}
		return;
	}
	uintptr_t ret = (uintptr_t)__builtin_return_address(0);
	if (hg_gil27_section.yields_left && ret >= hg_gil27_evalframe_lo &&
	    ret < hg_gil27_evalframe_hi) {
		/* A check-interval yield point inside a speculative section. */
		hg_gil27_section.yields++;
		if (--hg_gil27_section.yields_left > 0) {
			hg_gil27_section.cont = 1;
			return;
		}
		hg_gil27_section.in = 0;
		uint64_t spec = hg_gil27_spec_cycles();
		hg_engine_exit(lock, &hg_gil27_ops, (enum hg_htm_mode)hg_gil27_section.mode,
		    hg_gil27_section.rec, (enum hg_tier)hg_gil27_section.tier);
		/* Outside any transaction: the acquisition that follows begins the next one. */
		hg_gil27_txlen_sample(spec);
		if (hg_gil27_section.yields == 1)
			hg_gil27_section.prev = hg_gil27_section.rec;
		hg_gil_count(&hg_gil_totals.restarts);
	} else {
		hg_gil27_section.in = 0;
		uint64_t spec = hg_gil27_spec_cycles();
		hg_engine_exit(lock, &hg_gil27_ops, (enum hg_htm_mode)hg_gil27_section.mode,
		    hg_gil27_section.rec, (enum hg_tier)hg_gil27_section.tier);
		hg_gil27_txlen_sample(spec);
	}
	if (hg_gil27_section.yields)
		/* relaxed: a statistic */
		hg_atomic_fetch_add_relaxed64(&hg_gil_totals.yields, hg_gil27_section.yields);
	hg_gil27_section.yields = 0;
	hg_gil_count(&hg_gil_totals.drops);
	if ((hg_gil27_section.mode == HG_HTM_RTM && hg_gil27_section.tier == HG_TIER_HTM) ||
	    hg_sim_on)
		hg_gil_count(&hg_gil_totals.sections[hg_gil27_section.tier]);
}

/* See hg_gil3_atfork_child in gil/gil3.c: PyOS_AfterFork re-creates the lock. */
static void hg_gil27_atfork_child(void)
{
	hg_gil27_section.cont = 0;
	if (!hg_gil27_section.in)
		return;
	hg_gil27_section.in = 0;
	hg_gil27_section.yields = 0;
	hg_engine_exit(hg_gil27_section.lock, &hg_gil27_fork_child_ops,
	    (enum hg_htm_mode)hg_gil27_section.mode, hg_gil27_section.rec,
	    (enum hg_tier)hg_gil27_section.tier);
	hg_gil_count(&hg_gil_totals.forks);
}

int hg_gil27_install(struct hg_gil_state *g)
{
	hg_gil27_resolve_real();
	if (!hg_gil27_real_acquire_lock || !hg_gil27_real_release_lock) {
		hg_warn("cannot find the real PyThread_acquire_lock/release_lock in %s; running "
		    "CPython %s unchanged", g->py.path, g->py.version);
		return -1;
	}
	hg_gil27_interpreter_lock_slot = (void **)g->py.interpreter_lock;
	if (hg_txlen_off) {
		g->yields = "off (HTMGIL_TXLEN=off)";
	} else if (!g->py.evalframe || !g->py.evalframe_size) {
		g->yields = "not available: PyEval_EvalFrameEx not found in the symbol table";
	} else {
		hg_gil27_evalframe_lo = g->py.evalframe;
		hg_gil27_evalframe_hi = g->py.evalframe + g->py.evalframe_size;
		g->yields = "on (check-interval releases from PyEval_EvalFrameEx)";
	}
	pthread_atfork(NULL, NULL, hg_gil27_atfork_child);
	hg_report_set_gil(g->lock_id);
	g->hooked = "PyThread_acquire_lock and PyThread_release_lock on interpreter_lock (PLT interposition)";
	return 0;
}
