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
 * the call being served; they travel in the thread-local struct hg_gil3_call.
 *
 * Forced yield points (docs/gil.md, "Forced yield points"): a
 * speculative section ends and a new one begins at the interpreter's own
 * eval-breaker check sites, every hg_policy_txlen(rec) of them.  The
 * pending-work handler (_Py_HandlePending; 3.11: eval_frame_handle_pending,
 * where the build has it as a function of its own) gets a third entry
 * patch, and the breaker is made to fire without a store inside any
 * transaction:
 *
 *   3.13  bit 7 of the thread's own tstate->eval_breaker (an event bit
 *         CPython leaves unused; checked by cpython_layout_*), set when a
 *         speculative section begins and cleared when it ends.  Other
 *         threads never read it.
 *   3.11, 3.12  the breaker is per interpreter and CPython stores only 0 or 1 in
 *         it, so "armed" is the value HG_GIL3_YIELD_ARMED_311_312, written by CAS from 0
 *         outside transactions (before XBEGIN, or by an emulated section,
 *         which holds the real GIL).  A thread on the real GIL that meets it
 *         puts 0 back (no transaction can be running then).  Any real event
 *         stores 1, or 0 after handling: the handler then runs CPython's own
 *         code, whose final store lands on the same line in the same
 *         transaction, and re-arms right after it.
 *
 * In the handler, an armed speculative section counts one yield point; at
 * the last one it commits (hg_gil3_drop) and begins anew (hg_gil3_take),
 * with the site noted at that check site.  The thread state stays attached
 * throughout: only the GIL operations happen, as in CPython's own drop
 * request path minus the thread-state swap, which on 3.12/3.13 is a
 * thread-local write and needed by nothing in between.  On 3.11 the current
 * thread state is a process-wide atomic that a thread taking the real GIL
 * sets for itself, so there the restart swaps it out and back around the
 * two calls (_PyThreadState_Swap), as CPython's handler does.
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
#include <stdio.h>

#include "gil/patch.h"
#include "gil/pyalloc.h"
#include "gil/pysite.h"
#include "gil/wait.h"
#include "htm/sim.h"
#include "base/util.h"
#include "engine/engine.h"

/* The thread's GIL section and the arguments of the take/drop being served. */
struct hg_gil3_call {
	void *take_tstate;
	void *drop_a, *drop_b, *drop_c;
	struct hg_site_rec *rec;
	void *gil;
	uint8_t in;    /* 1 while this thread is in a section entered by hg_gil3_take */
	uint8_t tier;  /* enum hg_tier of that section */
	uint8_t mode;  /* enum hg_htm_mode it was entered in */
	uint8_t armed; /* the section counts forced yield points */
	uint8_t restarting; /* inside hg_gil3_yield_point: not a take/drop the interpreter wants */
	uint32_t yields_left; /* yield points before the transaction ends */
	uint32_t yields;      /* yield points passed in this section */
	uint64_t spec_t0;     /* a speculative section: the stamp it began at (0: not one) */
	struct hg_site_rec *prev_rec; /* a restart: the section that ended (hg_gil3_note_next) */
	uint32_t prev_yields;         /* ... and the yield points it passed */
	uint64_t direct_t0;   /* a GIL taken directly: the stamp it was held from (0: none) */
	uint64_t direct_wait; /* ... and the cycles its take_gil waited */
};
static HG_TLS struct hg_gil3_call hg_gil3_section;

static void (*hg_gil3_orig_take_gil)(void *tstate);
/* _Py_IsFinalizing (3.11, 3.12) or Py_IsFinalizing (3.13): reads _PyRuntime only. */
static int (*hg_gil3_is_finalizing)(void);
static void (*hg_gil3_orig_drop_gil)(void *a, void *b, void *c);
static struct hg_patch hg_gil3_take_gil_patch, hg_gil3_drop_gil_patch, hg_gil3_pending_patch;
static int (*hg_gil3_orig_handle_pending)(void *tstate);
static char hg_gil3_yields_why[256];
/* 1 when forced yield points are in use (handler patched, HTMGIL_TXLEN not off). */
static uint32_t hg_gil3_yields_on;
/* Threads waiting for a busy GIL to speculate again (gil/wait.h); one count for every GIL. */
static struct hg_gil_waiters hg_gil3_waiters;
#define HG_GIL3_YIELD_BIT_313 ((uint64_t)1 << 7)   /* 3.13: our event bit in tstate->eval_breaker */
#define HG_GIL3_EVENTS_MASK_313 ((uint64_t)0xff)        /* 3.13: _PY_EVAL_EVENTS_MASK */
#define HG_GIL3_YIELD_ARMED_311_312 \
	0x48670000u /* 3.11/3.12: interp->ceval.eval_breaker while armed */
/* 3.11: _PyThreadState_Swap(&_PyRuntime.gilstate, tstate) */
static void *(*hg_gil3_tstate_swap_311)(void *gilstate, void *tstate);
static void *hg_gil3_gilstate_311;
static const struct hg_py_layout *hg_gil3_layout;
static uintptr_t hg_gil3_runtime_gil_311; /* 3.11: &_PyRuntime.ceval.gil */
/*
 * 1 while elision may be used.  Cleared (relaxed) once when a run-time check
 * fails; readers only need to see it eventually, since every path it gates
 * is also correct, just slower, when taken once more.
 */
static uint32_t hg_gil3_elide_on;

static void *hg_gil3_gil_of_tstate(const void *tstate)
{
	if (hg_gil3_runtime_gil_311)
		return (void *)hg_gil3_runtime_gil_311;
	if (!tstate)
		return NULL;
	const void *interp = hg_load_ptr(tstate, hg_gil3_layout->tstate_interp);
	return interp ? (void *)hg_load_ptr(interp, hg_gil3_layout->interp_gil) : NULL;
}

/* The GIL named by drop_gil's arguments (see the signatures above). */
static void *hg_gil3_gil_of_drop_args(void *a)
{
	switch (hg_gil3_layout->minor) {
	case 11:
		return (char *)a + 8; /* &ceval->gil, after recursion_limit and signals_pending */
	case 12:
		return (void *)hg_load_ptr(a, 16); /* ceval->gil */
	default:
		return (void *)hg_load_ptr(a, hg_gil3_layout->interp_gil); /* interp->ceval.gil */
	}
}

static uint64_t *hg_gil3_breaker_313(void *tstate)
{
	return (uint64_t *)((char *)tstate + hg_gil3_layout->tstate_eval_breaker);
}

static uint32_t *hg_gil3_breaker_311_312(void *tstate)
{
	char *interp = (char *)hg_load_ptr(tstate, hg_gil3_layout->tstate_interp);
	return (uint32_t *)(interp + hg_gil3_layout->interp_ceval +
	    hg_gil3_layout->ceval_eval_breaker);
}

/*
 * 3.11 while tracing: its tracing RESUME path checks the breaker and
 * re-dispatches the same instruction until a handler has cleared it, so
 * an armed breaker must not stay set there.
 */
static bool hg_gil3_tracing_311(void *tstate)
{
	if (hg_gil3_layout->minor != 11)
		return false;
	const uint8_t *cf = hg_load_ptr(tstate, hg_gil3_layout->tstate_cframe);
	return cf && cf[hg_gil3_layout->cframe_tracing] != 0;
}

/* 3.11/3.12: arm the interpreter's breaker, outside any transaction. */
static void hg_gil3_arm_breaker_311_312(void *tstate)
{
	uint32_t *eb = hg_gil3_breaker_311_312(tstate);
	uint32_t zero = 0;
	/* relaxed: the breaker is only a trigger; CPython reads it relaxed */
	if (hg_atomic_load_relaxed32(eb) == 0)
		hg_atomic_cas_relaxed32(eb, &zero, HG_GIL3_YIELD_ARMED_311_312);
}

/* The section stops counting forced yield points (3.13: clears our bit on its own tstate). */
static void hg_gil3_disarm_yields(void *tstate)
{
	if (hg_gil3_section.armed && hg_gil3_layout->minor >= 13)
		hg_atomic_fetch_and_relaxed64(hg_gil3_breaker_313(tstate), ~HG_GIL3_YIELD_BIT_313);
	hg_gil3_section.armed = 0;
}

/*
 * The cycles since the speculative section began (0: not one), read before
 * its commit; hg_gil3_txlen_sample passes them to the policy after it,
 * with the yield points passed (docs/gil.md, "Length per site").  The
 * recording of simulation mode runs many times slower than the program:
 * its replay samples model cycles instead (sim/replay.c).
 */
static inline uint64_t hg_gil3_spec_cycles(void)
{
	return hg_gil3_section.spec_t0 ? hg_cycles() - hg_gil3_section.spec_t0 : 0;
}

static inline void hg_gil3_txlen_sample(uint64_t cycles)
{
	if (cycles && hg_gil3_section.yields && !hg_sim_on)
		hg_policy_txlen_sample(hg_gil3_section.rec, hg_gil3_section.yields, cycles);
}

/*
 * A transaction that began at prev's site and ended at the first yield point
 * after it (one interval) names that yield point's site as prev's next one:
 * the far end of the interval its aborts are localised to (docs/report.md,
 * "Localised aborts").  Outside transactions.
 */
static inline void hg_gil3_note_next(struct hg_site_rec *prev, uint32_t yields, uint64_t site)
{
	if (prev && yields == 1)
		hg_atomic_store_relaxed64(&prev->st.next_site, site); /* relaxed: the report reads it */
}

/* Adds the section's yield points to the totals; outside any transaction. */
static void hg_gil3_flush_yields(void)
{
	if (hg_gil3_section.yields)
		/* relaxed: a statistic */
		hg_atomic_fetch_add_relaxed64(&hg_gil_totals.yields, hg_gil3_section.yields);
	hg_gil3_section.yields = 0;
}

static void hg_gil3_disable_elision(const char *why)
{
	uint32_t was = hg_atomic_load_relaxed32(&hg_gil3_elide_on);
	hg_atomic_store_relaxed32(&hg_gil3_elide_on, 0); /* relaxed: see hg_gil3_elide_on */
	if (was)
		hg_warn("GIL elision disabled for this process: %s (CPython %s); the interpreter "
		    "keeps its own GIL", why, hg_gil_state.py.version);
}

static void hg_gil3_op_take_gil(void *target)
{
	(void)target;
	hg_gil3_orig_take_gil(hg_gil3_section.take_tstate);
}

static void hg_gil3_op_drop_gil(void *target)
{
	(void)target;
	hg_gil3_orig_drop_gil(hg_gil3_section.drop_a, hg_gil3_section.drop_b,
	    hg_gil3_section.drop_c);
}

/*
 * drop_gil's arguments for a thread that takes the GIL only to wait (see
 * hg_gil3_op_wait_free): the same values CPython passes (signatures above).
 */
static void hg_gil3_drop_args_of(void *tstate, void **a, void **b, void **c)
{
	void *interp = (void *)hg_load_ptr(tstate, hg_gil3_layout->tstate_interp);
	switch (hg_gil3_layout->minor) {
	case 11:
		*a = (char *)hg_gil3_runtime_gil_311 - hg_gil3_layout->runtime_gil +
		    hg_gil3_layout->runtime_ceval;
		*b = (char *)interp + hg_gil3_layout->interp_ceval;
		*c = tstate;
		break;
	case 12:
		*a = (char *)interp + hg_gil3_layout->interp_ceval;
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
 * The GIL is held after an abort (a busy GIL, or a conflict while it is
 * held).  Under RTM with forced yield points, a holder on the lock tier
 * gives the GIL back at its next stretch's end while threads wait here
 * (hg_gil3_yield_point), so the wait reads gil->locked only, counted as a
 * waiter (gil/wait.h).  A holder that is not bounded so (a long C call, a
 * direct take, an emulated section, forced yield points off) would let a
 * waiter that only reads wait forever: only a thread waiting in CPython's
 * own take_gil times out and sets the drop request that makes any holder
 * yield at its next check.  So after HG_GIL_WAIT_BUDGET_NS, and at once in
 * emulated mode (whose holders never give back early) or without forced
 * yield points, the wait takes the real GIL, with all of CPython's
 * fairness, and gives it straight back.
 */
static void hg_gil3_op_wait_free(void *target, unsigned spin)
{
	void *ts = hg_gil3_section.take_tstate, *a, *b, *c;
	if (!ts)
		return;
	/* relaxed: see hg_gil3_yields_on */
	if (hg_htm_mode() == HG_HTM_RTM && hg_atomic_load_relaxed32(&hg_gil3_yields_on)) {
		const uint32_t *locked = (const uint32_t *)((char *)target + hg_gil3_layout->gil_locked);
		if (hg_gil_wait_unlocked(locked, &hg_gil3_waiters, spin, HG_GIL_WAIT_BUDGET_NS)) {
			hg_gil_count(&hg_gil_totals.waits_polled);
			return;
		}
	}
	hg_gil_count(&hg_gil_totals.waits_taken);
	hg_gil3_drop_args_of(ts, &a, &b, &c);
	hg_gil3_orig_take_gil(ts);
	hg_gil3_orig_drop_gil(a, b, c);
}

/*
 * Run inside every RTM attempt, right after the lock-word check: the
 * finalization test of hg_gil3_take, repeated, because the engine's retries
 * (backoff, waits) can outlast the moment finalization starts.
 * hg_gil3_is_finalizing() only loads _PyRuntime._finalizing (no system call; called
 * through its resolved address, no PLT), which puts that word in the read
 * set: a finalization that starts while the section runs writes it and
 * aborts the transaction.  The engine answers HG_ABORT_FINALIZING by taking
 * the real GIL, whose take_gil ends a daemon thread (docs/gil.md,
 * "Fallback semantics").  Emulated attempts need no check: they take the real GIL
 * through take_gil.
 */
static unsigned hg_gil3_op_check_finalizing(void *target)
{
	(void)target;
	return hg_gil3_is_finalizing() ? HG_ABORT_FINALIZING : 0;
}

static const struct hg_target_ops hg_gil3_gil_ops = {
	.lock = hg_gil3_op_take_gil,
	.trylock = NULL,
	.unlock = hg_gil3_op_drop_gil,
	.wait_free = hg_gil3_op_wait_free,
	.subscribe_extra = hg_gil3_op_check_finalizing,
	.time_every = true, /* a GIL hold spans many bytecodes: every one is timed */
};

/*
 * Simulation mode: names the interpreter state a conflict may land on
 * (htm/sim.h), once per breaker word: the per-interpreter breaker (3.11,
 * 3.12) or this thread's own (3.13).  Outside any section.
 */
static void hg_gil3_sim_regions(void *tstate)
{
	static HG_TLS const void *named_313;
	static const void *named_311_312;
	if (hg_gil3_layout->minor >= 13) {
		const void *eb = hg_gil3_breaker_313(tstate);
		if (named_313 != eb)
			hg_sim_mark_region(eb, 8, "eval_breaker (this thread's PyThreadState)");
		named_313 = eb;
		return;
	}
	const void *eb = hg_gil3_breaker_311_312(tstate);
	/* relaxed: a hint to name it once; naming it twice is harmless */
	if (__atomic_exchange_n(&named_311_312, eb, __ATOMIC_RELAXED) != eb)
		hg_sim_mark_region(eb, 4, "eval_breaker (PyInterpreterState.ceval)");
}

static void hg_gil3_take(void *tstate)
{
	if (!hg_gil3_section.restarting)
		hg_gil_count(&hg_gil_totals.takes);
	enum hg_htm_mode mode = hg_htm_mode();
	void *gil;
	/*
	 * Once the runtime finalizes, a daemon thread's tstate (and its frames)
	 * may already be freed: CPython's own take_gil checks this first and
	 * ends the thread.  Nothing here may read tstate then, so such calls go
	 * straight to the original.  Every RTM attempt checks again inside the
	 * transaction (hg_gil3_op_check_finalizing).
	 */
	/* relaxed: see hg_gil3_elide_on */
	if (mode == HG_HTM_OFF || !hg_atomic_load_relaxed32(&hg_gil3_elide_on) ||
	    hg_gil3_section.in || hg_gil3_is_finalizing() ||
	    !(gil = hg_gil3_gil_of_tstate(tstate))) {
		hg_gil_count(&hg_gil_totals.direct);
		uint64_t t = hg_cycles();
		hg_gil3_orig_take_gil(tstate);
		/* Held from here to the direct drop (docs/report.md, "Time"). */
		hg_gil3_section.direct_t0 = hg_cycles();
		hg_gil3_section.direct_wait = hg_gil3_section.direct_t0 - t;
		return;
	}
	uint64_t site = hg_pysite_note(tstate);
	if (hg_gil3_section.prev_rec) {
		hg_gil3_note_next(hg_gil3_section.prev_rec, hg_gil3_section.prev_yields, site);
		hg_gil3_section.prev_rec = NULL;
	}
	struct hg_site_rec *rec = hg_site_rec_get(hg_gil_state.lock_id, site);
	if (HG_UNLIKELY(hg_sim_on))
		hg_gil3_sim_regions(tstate);
	hg_gil3_section.take_tstate = tstate;
	/* relaxed: see hg_gil3_yields_on */
	uint32_t yields = hg_atomic_load_relaxed32(&hg_gil3_yields_on);
	uint32_t txlen = yields ? hg_policy_txlen(rec) : 0;
	/*
	 * Simulation mode records what a transaction would touch, so it arms
	 * where RTM does and keeps the GIL's statistics out of the section
	 * (htm/sim.h; each section is counted when it ends).
	 */
	bool rtm_like = mode == HG_HTM_RTM || hg_sim_on;
	if (yields && hg_gil3_layout->minor <= 12 && rtm_like && hg_site_tier(rec) == HG_TIER_HTM)
		hg_gil3_arm_breaker_311_312(tstate); /* before XBEGIN: no store in the transaction */
	enum hg_tier tier = hg_engine_enter(gil, &hg_gil3_gil_ops,
	    (const uint32_t *)((char *)gil + hg_gil3_layout->gil_locked), mode, rec);
	/* From here on an RTM section runs transactionally: only thread-local writes. */
	hg_gil3_section.rec = rec;
	hg_gil3_section.gil = gil;
	hg_gil3_section.tier = (uint8_t)tier;
	hg_gil3_section.mode = (uint8_t)mode;
	hg_gil3_section.in = 1;
	hg_gil3_section.yields = 0;
	hg_gil3_section.yields_left = txlen;
	hg_gil3_section.armed = 0;
	hg_gil3_section.spec_t0 = 0;
	if (yields && tier == HG_TIER_HTM) {
		hg_gil3_section.spec_t0 = hg_cycles(); /* RDTSC: allowed in a transaction */
		hg_gil3_section.armed = 1;
		if (hg_gil3_layout->minor >= 13)
			/* own tstate */
			hg_atomic_fetch_or_relaxed64(hg_gil3_breaker_313(tstate), HG_GIL3_YIELD_BIT_313);
		else if (mode != HG_HTM_RTM)
			/*
			 * Emulated: we hold the real GIL, no transaction runs.  In
			 * simulation mode too: the arming before the take may have
			 * been undone by take_gil's reset of a drop request, and
			 * then this write (rare) is the section's.
			 */
			hg_gil3_arm_breaker_311_312(tstate);
	} else if (yields && tier == HG_TIER_LOCK && mode == HG_HTM_RTM) {
		/*
		 * On the real GIL while other threads may speculate: the hold ends
		 * after stretches of txlen yield points once some thread waits to
		 * speculate (hg_gil3_yield_point).  The real GIL is held, so no
		 * transaction runs and the arming store aborts none.
		 */
		hg_gil3_section.armed = 1;
		if (hg_gil3_layout->minor >= 13)
			hg_atomic_fetch_or_relaxed64(hg_gil3_breaker_313(tstate), HG_GIL3_YIELD_BIT_313);
		else
			hg_gil3_arm_breaker_311_312(tstate);
	}
	if (mode != HG_HTM_RTM || tier != HG_TIER_HTM) {
		/* The real GIL is held: check the layout really named it. */
		uint32_t locked = hg_atomic_load_relaxed32(
		    (const uint32_t *)((char *)gil + hg_gil3_layout->gil_locked));
		if (locked != 1)
			hg_gil3_disable_elision("the GIL's 'locked' field did not read 1 after taking "
			    "the GIL (struct layout mismatch)");
		if (!hg_sim_on)
			hg_gil_count(&hg_gil_totals.sections[tier]);
		/* relaxed: see hg_pyalloc_armed; the real GIL is held here */
		if (HG_UNLIKELY(hg_atomic_load_relaxed32(&hg_pyalloc_armed)))
			hg_pyalloc_taken();
	}
}

static void hg_gil3_drop(void *a, void *b, void *c)
{
	if (!hg_gil3_section.in) {
		hg_gil_count(&hg_gil_totals.drops);
		/* No section is open: no transaction runs here.  The hold ends before
		 * the drop, which may hand the CPU to the thread it wakes (waiting). */
		uint64_t t = hg_cycles();
		hg_gil3_orig_drop_gil(a, b, c);
		/* relaxed: see hg_pyalloc_on */
		if (HG_UNLIKELY(hg_atomic_load_relaxed32(&hg_pyalloc_on)))
			hg_pyalloc_flush();
		if (hg_gil3_section.direct_t0) {
			hg_report_direct_time(t - hg_gil3_section.direct_t0,
			    hg_gil3_section.direct_wait + (hg_cycles() - t));
			hg_gil3_section.direct_t0 = 0;
		}
		return;
	}
	if (hg_gil3_section.mode != HG_HTM_RTM || hg_gil3_section.tier != HG_TIER_HTM) {
		void *named = hg_gil3_gil_of_drop_args(a);
		if (named != hg_gil3_section.gil)
			hg_gil3_disable_elision("drop_gil named a different GIL than take_gil "
			    "(struct layout mismatch)");
	}
	hg_gil3_section.drop_a = a, hg_gil3_section.drop_b = b, hg_gil3_section.drop_c = c;
	hg_gil3_section.in = 0;
	hg_gil3_disarm_yields(hg_gil3_section.take_tstate);
	uint64_t spec = hg_gil3_spec_cycles();
	hg_engine_exit(hg_gil3_section.gil, &hg_gil3_gil_ops,
	    (enum hg_htm_mode)hg_gil3_section.mode, hg_gil3_section.rec,
	    (enum hg_tier)hg_gil3_section.tier);
	/* Outside any transaction from here. */
	hg_gil3_txlen_sample(spec);
	hg_gil3_flush_yields();
	/* relaxed: see hg_pyalloc_on */
	if (HG_UNLIKELY(hg_atomic_load_relaxed32(&hg_pyalloc_on)))
		hg_pyalloc_flush();
	if (!hg_gil3_section.restarting)
		hg_gil_count(&hg_gil_totals.drops);
	if ((hg_gil3_section.tier == HG_TIER_HTM && hg_gil3_section.mode == HG_HTM_RTM) || hg_sim_on)
		hg_gil_count(&hg_gil_totals.sections[hg_gil3_section.tier]);
}

/*
 * The real GIL is already held (an emulated restart) or must not be touched
 * (the fork child): nothing to take or give.
 */
static void hg_gil3_op_held(void *target)
{
	(void)target;
}

static void hg_gil3_op_held_wait(void *target, unsigned spin)
{
	(void)target, (void)spin;
}

static const struct hg_target_ops hg_gil3_held_ops = {
	.lock = hg_gil3_op_held,
	.trylock = NULL,
	.unlock = hg_gil3_op_held,
	.wait_free = hg_gil3_op_held_wait,
	.subscribe_extra = NULL,
	.time_every = true,
};

/*
 * An emulated section's restart.  An emulated transaction holds the real
 * GIL, and giving it up here would let waiting threads in at every forced
 * yield point, far more often than CPython's switch interval would (tests
 * that rely on a thread keeping the GIL for a few bytecodes after waking
 * another then fail).  So the real GIL stays held: the engine commits and
 * begins through hg_gil3_held_ops, injected aborts and the length adaptation
 * included, and only real drop requests move the GIL.
 */
/*
 * A forced yield point in simulation mode: the markers that end this
 * sub-interval and begin the next one at its site, and nothing else.  The
 * recording counts what runs between two markers of one hold as part of the
 * sub-interval, and a yield point inside a transaction costs a counter under
 * RTM; the emulated engine's exit and entry, several hundred instructions
 * whose statistics nobody reads here, would lengthen every predicted
 * transaction and the recording with it (docs/sim.md, "Simulation mode in
 * the preload").  The real GIL stays held and the emulated section stays
 * open; only its site record changes.
 */
static void hg_gil3_restart_sim(void *tstate)
{
	struct hg_site_rec *prev = hg_gil3_section.rec;
	uint32_t prev_yields = hg_gil3_section.yields;
	hg_sim_mark_yield(); /* the next section continues this hold (htm/sim.h) */
	hg_sim_mark_end();
	hg_gil3_flush_yields();
	hg_gil_count(&hg_gil_totals.restarts);
	hg_gil_count(&hg_gil_totals.sections[hg_gil3_section.tier]);
	uint64_t site = hg_pysite_note(tstate);
	hg_gil3_note_next(prev, prev_yields, site);
	struct hg_site_rec *rec =
	    prev->site == site ? prev : hg_site_rec_get(hg_gil_state.lock_id, site);
	hg_sim_mark_begin(site,
	    (const uint32_t *)((char *)hg_gil3_section.gil + hg_gil3_layout->gil_locked),
	    rec->lock_id);
	hg_gil3_section.rec = rec;
	hg_gil3_section.yields_left = hg_policy_txlen(rec);
}

static void hg_gil3_restart_emulated(void *tstate)
{
	enum hg_htm_mode mode = (enum hg_htm_mode)hg_gil3_section.mode;
	if (HG_UNLIKELY(hg_sim_on)) {
		hg_gil3_restart_sim(tstate);
		return;
	}
	uint64_t spec = hg_gil3_spec_cycles();
	struct hg_site_rec *prev = hg_gil3_section.rec;
	uint32_t prev_yields = hg_gil3_section.yields;
	hg_engine_exit(hg_gil3_section.gil, &hg_gil3_held_ops, mode, hg_gil3_section.rec,
	    (enum hg_tier)hg_gil3_section.tier);
	hg_gil3_txlen_sample(spec);
	hg_gil3_flush_yields();
	hg_gil_count(&hg_gil_totals.restarts);
	uint64_t site = hg_pysite_note(tstate);
	hg_gil3_note_next(prev, prev_yields, site);
	struct hg_site_rec *rec = hg_site_rec_get(hg_gil_state.lock_id, site);
	uint32_t txlen = hg_policy_txlen(rec);
	enum hg_tier tier = hg_engine_enter(hg_gil3_section.gil, &hg_gil3_held_ops,
	    (const uint32_t *)((char *)hg_gil3_section.gil + hg_gil3_layout->gil_locked), mode,
	    rec);
	hg_gil3_section.rec = rec;
	hg_gil3_section.tier = (uint8_t)tier;
	hg_gil3_section.yields_left = txlen;
	hg_gil3_section.spec_t0 = tier == HG_TIER_HTM ? hg_cycles() : 0;
	hg_gil_count(&hg_gil_totals.sections[tier]);
	if (tier != HG_TIER_HTM)
		/* on the real GIL now: no more forced yield points here */
		hg_gil3_disarm_yields(tstate);
}

/*
 * One forced yield point of an armed section (inside the transaction under
 * RTM): count it; at the last one, commit and begin the next transaction
 * here.  An armed section on the lock tier (RTM mode only) keeps the real
 * GIL for another stretch unless some thread waits to speculate, and
 * otherwise gives it back here and enters anew, as a speculative section
 * restarts (docs/gil.md, "Falling back without serializing").
 */
static int hg_gil3_yield_point(void *tstate)
{
	bool lock = hg_gil3_section.tier == HG_TIER_LOCK;
	if (!lock)
		hg_gil3_section.yields++;
	if (--hg_gil3_section.yields_left > 0)
		return 0;
	if (hg_gil3_section.mode != HG_HTM_RTM) {
		hg_gil3_restart_emulated(tstate);
		return 0;
	}
	if (lock) {
		if (!hg_gil_waiters_any(&hg_gil3_waiters)) {
			hg_gil3_section.yields_left = hg_policy_txlen(hg_gil3_section.rec);
			return 0;
		}
		hg_gil_count(&hg_gil_totals.lock_stretches);
	}
	void *a, *b, *c;
	hg_gil3_drop_args_of(tstate, &a, &b, &c);
	struct hg_site_rec *prev = lock ? NULL : hg_gil3_section.rec;
	uint32_t prev_yields = hg_gil3_section.yields;
	hg_gil3_section.restarting = 1;
	if (hg_gil3_tstate_swap_311)
		hg_gil3_tstate_swap_311(hg_gil3_gilstate_311, NULL);
	hg_gil3_drop(a, b, c);
	/* Outside any transaction: the section is closed. */
	if (!lock)
		hg_gil_count(&hg_gil_totals.restarts);
	hg_gil3_section.prev_rec = prev; /* named by the take, before it enters (outside) */
	hg_gil3_section.prev_yields = prev_yields;
	hg_gil3_take(tstate);
	if (hg_gil3_section.prev_rec) /* the take went straight to the original: not named */
		hg_gil3_section.prev_rec = NULL;
	if (hg_gil3_tstate_swap_311)
		hg_gil3_tstate_swap_311(hg_gil3_gilstate_311, tstate);
	hg_gil3_section.restarting = 0;
	return 0;
}

/*
 * Pending-work handler replacement: serves forced yield points without
 * writing the breaker, and passes every real event to CPython.
 */
static int hg_gil3_pending(void *tstate)
{
	if (hg_gil3_layout->minor >= 13) {
		/* relaxed: as CPython */
		uint64_t b = hg_atomic_load_relaxed64(hg_gil3_breaker_313(tstate));
		if (b & HG_GIL3_YIELD_BIT_313) {
			if (!hg_gil3_section
			         .armed) /* stale (section ended without its drop): own tstate */
				hg_atomic_fetch_and_relaxed64(hg_gil3_breaker_313(tstate),
				    ~HG_GIL3_YIELD_BIT_313);
			else if ((b & HG_GIL3_EVENTS_MASK_313 & ~HG_GIL3_YIELD_BIT_313) == 0)
				return hg_gil3_yield_point(tstate);
		}
		if (b & HG_GIL3_EVENTS_MASK_313 & ~HG_GIL3_YIELD_BIT_313)
			return hg_gil3_orig_handle_pending(tstate);
		return 0;
	}
	uint32_t *eb = hg_gil3_breaker_311_312(tstate);
	if (hg_atomic_load_relaxed32(eb) == HG_GIL3_YIELD_ARMED_311_312) {
		if (hg_gil3_section.armed && !hg_gil3_tracing_311(tstate))
			return hg_gil3_yield_point(tstate);
		/*
		 * Simulation mode arms before each take, outside the sections
		 * (hg_gil3_take), possibly while another thread holds the GIL:
		 * a holder that does not count leaves it to the threads that do.
		 */
		if (hg_sim_on && !hg_gil3_tracing_311(tstate))
			return 0;
		/*
		 * On the real GIL no transaction runs: put 0 back.  A 3.11
		 * section that traces stops counting and does the same (inside
		 * its transaction under RTM: tracing calls Python code anyway).
		 */
		hg_gil3_section.armed = 0;
		uint32_t armed = HG_GIL3_YIELD_ARMED_311_312;
		hg_atomic_cas_relaxed32(eb, &armed, 0);
		return 0;
	}
	int r = hg_gil3_orig_handle_pending(tstate);
	/* CPython recomputed the breaker (0 or 1); re-arm a section that counts. */
	if (hg_gil3_section.in && hg_gil3_section.armed)
		hg_gil3_arm_breaker_311_312(tstate);
	return r;
}

/*
 * fork() in a threaded program: CPython forks holding the GIL and the child
 * recreates the GIL and takes it again (_PyEval_ReInitThreads).  The forking
 * thread's section would then look open, so the child closes it without
 * touching the GIL, before CPython's own after-fork code runs.
 */
static void hg_gil3_atfork_child(void)
{
	if (!hg_gil3_section.in)
		return;
	hg_gil3_section.in = 0;
	hg_gil3_disarm_yields(hg_gil3_section.take_tstate);
	hg_gil3_section.yields = 0;
	/* hg_gil3_held_ops: closes the section without touching the GIL. */
	hg_engine_exit(hg_gil3_section.gil, &hg_gil3_held_ops,
	    (enum hg_htm_mode)hg_gil3_section.mode, hg_gil3_section.rec,
	    (enum hg_tier)hg_gil3_section.tier);
	hg_gil_count(&hg_gil_totals.forks);
}

int hg_gil3_install(struct hg_gil_state *g)
{
	const struct hg_py *py = &g->py;
	hg_gil3_layout = py->layout;
	if (hg_gil3_layout->minor == 11)
		hg_gil3_runtime_gil_311 = py->runtime + hg_gil3_layout->runtime_gil;
	hg_gil3_is_finalizing = (int (*)(void))dlsym(RTLD_DEFAULT,
	    hg_gil3_layout->minor >= 13 ? "Py_IsFinalizing" : "_Py_IsFinalizing");
	if (!hg_gil3_is_finalizing) {
		hg_warn("cannot find %s in %s (CPython %s); running it unchanged",
		    hg_gil3_layout->minor >= 13 ? "Py_IsFinalizing" : "_Py_IsFinalizing", py->path,
		    py->version);
		return -1;
	}
	const char *why = NULL;
	if (hg_patch_install(&hg_gil3_drop_gil_patch, (void *)py->drop_gil, py->drop_size,
	        (void *)hg_gil3_drop, &why) != 0) {
		hg_warn("cannot patch drop_gil in %s (CPython %s): %s; running it unchanged",
		    py->symfile, py->version, why);
		return -1;
	}
	if (hg_patch_install(&hg_gil3_take_gil_patch, (void *)py->take_gil, py->take_size,
	        (void *)hg_gil3_take, &why) != 0) {
		hg_patch_remove(&hg_gil3_drop_gil_patch);
		hg_warn("cannot patch take_gil in %s (CPython %s): %s; running it unchanged",
		    py->symfile, py->version, why);
		return -1;
	}
	hg_gil3_orig_take_gil = (void (*)(void *))hg_gil3_take_gil_patch.trampoline;
	hg_gil3_orig_drop_gil = (void (*)(void *, void *, void *))hg_gil3_drop_gil_patch.trampoline;
	g->yields = "off (HTMGIL_TXLEN=off)";
	if (!hg_txlen_off) {
		if (hg_gil3_layout->minor == 11) {
			hg_gil3_tstate_swap_311 =
			    (void *(*)(void *, void *))dlsym(RTLD_DEFAULT, "_PyThreadState_Swap");
			hg_gil3_gilstate_311 =
			    (void *)(py->runtime + hg_gil3_layout->runtime_gilstate);
		}
		if (!py->handle_pending) {
			g->yields = "not available: this build has no separate pending-work handler "
			    "(inlined into the eval loop; see docs/gil.md)";
		} else if (hg_gil3_layout->minor == 11 && !hg_gil3_tstate_swap_311) {
			g->yields = "not available: _PyThreadState_Swap not found";
		} else if (hg_patch_install(&hg_gil3_pending_patch, (void *)py->handle_pending,
		               py->pending_size, (void *)hg_gil3_pending, &why) != 0) {
			snprintf(hg_gil3_yields_why, sizeof(hg_gil3_yields_why),
			    "not available: cannot patch _Py_HandlePending: %s", why);
			g->yields = hg_gil3_yields_why;
		} else {
			hg_gil3_orig_handle_pending =
			    (int (*)(void *))hg_gil3_pending_patch.trampoline;
			/* relaxed: before any thread starts */
			hg_atomic_store_relaxed32(&hg_gil3_yields_on, 1);
			g->yields = hg_gil3_layout->minor >= 12 ?
			    "on (_Py_HandlePending entry patch)" :
			    "on (eval_frame_handle_pending entry patch)";
		}
	}
	if (hg_sim_on && py->runtime)
		hg_sim_mark_region((const void *)py->runtime, py->runtime_size, "_PyRuntime");
	hg_atomic_store_relaxed32(&hg_gil3_elide_on, 1); /* relaxed: set before any thread starts */
	hg_report_set_gil(g->lock_id);
	pthread_atfork(NULL, NULL, hg_gil3_atfork_child);
	g->hooked = "take_gil and drop_gil (entry patches)";
	hg_pyalloc_setup(py);
	return 0;
}
