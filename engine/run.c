/* SPDX-License-Identifier: MIT */
/*
 * engine/run.c - hg_run(): one instrumented section on any of the three
 * tiers.  hg_run asks the policy for the tier (hg_policy_pick), runs the
 * section on it (hg_run_direct, hg_run_soft), and reports the outcome
 * (hg_policy_account) and the counters.
 *
 * Tiers (docs/design.md, "The STM tier and the coexistence protocol"):
 *   HTM   hg_engine_enter() with the lock's mode; the subscription reads the
 *         lock word and, through subscribe_extra, stm_seq (must be even).  A
 *         hardware writer adds 2 to stm_seq inside its transaction just
 *         before commit while a software section runs (hg_stm_active), so
 *         software readers revalidate.  Emulated HTM takes
 *         the real lock through the ops below and so acts as the lock tier.
 *   STM   fallback/stm.c, with randomized backoff and escalation to the lock
 *         tier after HG_RUN_STM_ESCALATE consecutive aborts.
 *   LOCK  the real lock, taken through the ops below, which also hold
 *         stm_seq odd for the whole section.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/atomic.h"
#include "engine/engine.h"
#include "engine/policy.h"
#include "fallback/mutex.h"
#include "fallback/stm.h"
#include "htm/sim.h"
#include "htmgil/lock.h"
#include "htmgil/stm.h"

/* Consecutive software aborts before the section escalates to the lock. */
#define HG_RUN_STM_ESCALATE 8
/* ----------------------------------------------------------- target ops */

/* The lock whose stm_seq this thread holds odd (lock tier, emulated HTM). */
static HG_TLS struct hg_lock *hg_run_seq_held;
/* Timed section: hg_run_op_lock adds the cycles it waited to hg_run_lock_wait. */
static HG_TLS bool hg_run_timing;
static HG_TLS uint64_t hg_run_lock_wait;
/*
 * Settled lock-tier sections this thread still runs under the mutex, not
 * on stm_seq alone: set when the fast path found stm_seq held.  stm_seq
 * alone is a spinlock, and two threads that keep taking one spin on each
 * other's line (a bank transfer at 2 threads ran at 0.25x pthread_mutex);
 * the mutex parks its waiters, so one thread runs on while the other
 * sleeps (docs/design.md, "Sections that run on any tier").
 */
#define HG_RUN_CONTENDED 64
static HG_TLS unsigned hg_run_contended;

static void hg_run_op_lock(void *target)
{
	struct hg_lock *l = target;
	if (!hg_run_timing) {
		hg_mutex_lock(&l->mutex);
	} else if (!hg_mutex_trylock(&l->mutex)) {
		/* Only time spent waiting for another holder is waiting; the
		 * acquisition itself is part of the lock tier's cost. */
		uint64_t t0 = hg_policy_cycles();
		hg_mutex_lock(&l->mutex);
		hg_run_lock_wait += hg_policy_cycles() - t0;
	}
	hg_stm_seq_enter(l);
	hg_run_seq_held = l;
}

static bool hg_run_op_trylock(void *target)
{
	struct hg_lock *l = target;
	if (!hg_mutex_trylock(&l->mutex))
		return false;
	hg_stm_seq_enter(l);
	hg_run_seq_held = l;
	return true;
}

static void hg_run_op_unlock(void *target)
{
	struct hg_lock *l = target;
	hg_run_seq_held = NULL;
	hg_stm_seq_exit(l);
	hg_mutex_unlock(&l->mutex);
}

/* Waits until a hardware section could start: the mutex free and stm_seq even. */
static void hg_run_op_wait_free(void *target, unsigned spin_iters)
{
	struct hg_lock *l = target;
	hg_mutex_wait_free(&l->mutex, spin_iters);
	unsigned spins = 0;
	while ((hg_atomic_load_relaxed32(&l->stm_seq) & 1u) && hg_run_seq_held != l)
		hg_spin_then_yield(&spins, spin_iters);
}

/*
 * Runs inside the transaction (RTM) after the lock-word check: puts stm_seq
 * in the read set and refuses to start while it is odd, i.e. while a
 * software write-back or a lock-tier section is writing in place.  Under
 * emulation the caller itself may hold stm_seq odd (it holds the real lock).
 */
static unsigned hg_run_op_subscribe(void *target)
{
	struct hg_lock *l = target;
	if ((hg_atomic_load_relaxed32(&l->stm_seq) & 1u) && hg_run_seq_held != l)
		return HG_ABORT_STM_BUSY;
	return 0;
}

static const struct hg_target_ops hg_run_ops = {
	.lock = hg_run_op_lock,
	.trylock = hg_run_op_trylock,
	.unlock = hg_run_op_unlock,
	.wait_free = hg_run_op_wait_free,
	.subscribe_extra = hg_run_op_subscribe,
};

/* ------------------------------------------------------------- forcing */

static uint32_t hg_run_force_word = HG_TIER_ADAPTIVE; /* enum hg_tier; relaxed: a setting */
static pthread_once_t hg_run_env_once = PTHREAD_ONCE_INIT;
/* 1 once HTMGIL_RUN_TIER was read (release in hg_run_env_init, acquire in
 * hg_run_env_check), so the per-section check is one load. */
static uint32_t hg_run_env_done;

static bool hg_run_force_ok(int t)
{
	return (t >= HG_TIER_HTM && t < HG_TIER_COUNT) || t == HG_TIER_ADAPTIVE;
}

static void hg_run_env_init(void)
{
	const char *v = getenv("HTMGIL_RUN_TIER");
	if (v && *v) {
		static const struct { const char *name; enum hg_tier t; } names[] = {
			{ "adaptive", HG_TIER_ADAPTIVE }, { "htm", HG_TIER_HTM },
			{ "stm", HG_TIER_STM }, { "lock", HG_TIER_LOCK },
		};
		unsigned i, n = sizeof names / sizeof names[0];
		for (i = 0; i < n; i++)
			if (strcmp(v, names[i].name) == 0)
				break;
		if (i < n)
			hg_atomic_store_relaxed32(&hg_run_force_word, names[i].t);
		else
			hg_warn("HTMGIL_RUN_TIER=%s is not one of adaptive, htm, stm, lock; "
			        "running adaptive (unset it or pick one of those)", v);
	}
	/* Release: pairs with the acquire in hg_run_env_check(). */
	hg_atomic_store_release32(&hg_run_env_done, 1);
}

static inline void hg_run_env_check(void)
{
	if (HG_UNLIKELY(!hg_atomic_load_acquire32(&hg_run_env_done)))
		pthread_once(&hg_run_env_once, hg_run_env_init);
}

void hg_run_force(enum hg_tier t)
{
	hg_run_env_check();
	if (!hg_run_force_ok((int)t)) {
		hg_warn("hg_run_force(%d): not a tier nor HG_TIER_ADAPTIVE; keeping the current setting",
		    (int)t);
		return;
	}
	hg_atomic_store_relaxed32(&hg_run_force_word, (uint32_t)t);
}

static HG_TLS int hg_run_force_tls = -1;

void hg_run_force_thread(int t)
{
	if (t != -1 && !hg_run_force_ok(t)) {
		hg_warn("hg_run_force_thread(%d): not a tier, HG_TIER_ADAPTIVE or -1; "
		        "keeping the current setting", t);
		return;
	}
	hg_run_force_tls = t;
}

enum hg_tier hg_run_forced(void)
{
	if (hg_run_force_tls >= 0)
		return (enum hg_tier)hg_run_force_tls;
	hg_run_env_check();
	return (enum hg_tier)hg_atomic_load_relaxed32(&hg_run_force_word);
}

/* --------------------------------------------------------------- tiers */

/* Runs the body on the HTM tier (mode RTM/EMU) or the lock tier (mode OFF). */
static enum hg_tier hg_run_direct(struct hg_stm_tx *tx, struct hg_lock *l, struct hg_site_rec *rec,
    hg_body_fn body, void *arg, enum hg_htm_mode mode)
{
	tx->pub.soft = 0;
	tx->pub.wrote = 0;
	tx->lock = l;
	enum hg_tier got = hg_engine_enter(l, &hg_run_ops, &l->mutex.word, mode, rec);
	tx->tier = got;
	tx->run_mode = (uint8_t)mode;
	body(&tx->pub, arg);
	if (got == HG_TIER_HTM && mode == HG_HTM_RTM && tx->pub.wrote && hg_stm_active_any()) {
		/*
		 * Inside the hardware transaction (its write lands at commit,
		 * atomically with the section's): stm_seq was even at begin and
		 * is in the read set, so a plain +2 keeps it even and makes every
		 * software reader that saw the old value revalidate.  With no
		 * software section running there is no such reader
		 * (fallback/stm.h, hg_stm_active).
		 */
		hg_atomic_store_relaxed32(&l->stm_seq, hg_atomic_load_relaxed32(&l->stm_seq) + 2);
	}
	hg_engine_exit(l, &hg_run_ops, mode, rec, got);
	tx->tier = -1;
	hg_stm_direct_done(tx, true);
	return got;
}

/*
 * Runs the body as software transactions until one commits, or escalates
 * to the lock tier (irrevocable request, or too many aborts).  Returns the
 * tier the section completed on; *aborts receives the software aborts.
 */
static enum hg_tier hg_run_soft(struct hg_stm_tx *tx, struct hg_lock *l, struct hg_site_rec *rec,
    hg_body_fn body, void *arg, unsigned *aborts)
{
	/* volatile: modified between sigsetjmp and a later siglongjmp. */
	volatile unsigned n = 0;
	hg_stm_active_enter();
	for (;;) {
		if (sigsetjmp(tx->restart, 0) == 0) {
			hg_stm_begin(tx, l);
			body(&tx->pub, arg);
			if (hg_stm_commit(tx)) {
				hg_stm_active_exit();
				tx->tier = -1;
				*aborts = n;
				return HG_TIER_STM;
			}
		}
		/* Rolled back (in a barrier or at commit). */
		tx->tier = -1;
		if (tx->restart_reason == HG_STM_RESTART_RELOG)
			continue; /* at once, logged: see fallback/stm.h */
		n = n + 1;
		if (tx->restart_reason == HG_STM_RESTART_IRREVOCABLE || n >= HG_RUN_STM_ESCALATE) {
			if (tx->restart_reason != HG_STM_RESTART_IRREVOCABLE)
				tx->st.escalations++;
			*aborts = n;
			hg_stm_active_exit();
			return hg_run_direct(tx, l, rec, body, arg, HG_HTM_OFF);
		}
		hg_stm_backoff(tx, n);
	}
}

/*
 * The lock tier whenever the engine has nothing to see: no simulation, no
 * timeline, and the lock ready for the STM.  The policy's own samples run
 * here too (timed: the wait for stm_seq goes to hg_run_lock_wait), so a
 * cost comparison measures the lock tier that settled sections run on, and
 * so do the report's one in 64 (hg_engine_count_sampled), timed as the
 * engine times a lock-tier section: the wait for stm_seq, the section, the
 * release.  The section of
 * hg_run_direct() with mode off, without the engine's calls, and holding
 * only stm_seq odd: on a ready lock every other section (plain ones under
 * the mutex, the engine's lock tier, software commits, hardware sections
 * through their subscription) waits for an even stm_seq before it reads
 * or writes in place, so the odd value alone excludes them (docs/design.md,
 * "Sections that run on any tier"); the mutex would be a second atomic.
 */
static inline __attribute__((always_inline)) void hg_run_lock_fast(struct hg_stm_tx *tx, struct hg_lock *l, struct hg_site_rec *rec,
    hg_body_fn body, void *arg, bool timed)
{
	bool report = hg_engine_count_sampled(rec);
	rec->t0 = 0;
	if (HG_LIKELY(!(timed | report))) {
		if (HG_UNLIKELY(!hg_stm_seq_try_enter_inline(l))) {
			hg_run_contended = HG_RUN_CONTENDED;
			hg_stm_seq_enter(l);
		}
	} else {
		uint64_t t = report ? hg_cycles() : 0;
		if (!hg_stm_seq_try_enter_inline(l)) {
			uint64_t w0 = timed ? hg_policy_cycles() : 0;
			hg_stm_seq_enter(l);
			if (timed)
				hg_run_lock_wait += hg_policy_cycles() - w0;
		}
		if (report) {
			hg_engine_time_wait(rec, &t, HG_TIME_WEIGHT);
			rec->t0 = t; /* held from here: hg_engine_time_stop below */
		}
	}
	hg_run_seq_held = l;
	tx->pub.soft = 0;
	tx->pub.wrote = 0;
	tx->lock = l;
	tx->tier = HG_TIER_LOCK;
	tx->run_mode = (uint8_t)HG_HTM_OFF;
	tx->depth = 1;
	body(&tx->pub, arg);
	hg_run_seq_held = NULL;
	if (HG_UNLIKELY(report)) {
		uint64_t t = hg_engine_time_stop(rec, HG_TIER_LOCK);
		hg_stm_seq_exit_inline(l);
		hg_engine_time_released(rec, t, HG_TIME_WEIGHT);
	} else {
		hg_stm_seq_exit_inline(l);
	}
	hg_counter_add(&rec->st.commits[HG_TIER_LOCK], 1);
	tx->tier = -1;
	tx->depth = 0;
	tx->lock = NULL;
	if (HG_UNLIKELY(tx->frees.n != 0 || tx->allocs.n != 0))
		hg_stm_direct_done(tx, true);
}

/* ------------------------------------------------------------------ run */

static void hg_run_nested(struct hg_stm_tx *tx, struct hg_lock *l, uint64_t site,
    hg_body_fn body, void *arg)
{
	if (tx->lock == l) {
		/* Same lock: flatten into the enclosing section. */
		tx->depth++;
		body(&tx->pub, arg);
		tx->depth--;
		return;
	}
	/*
	 * Another lock: the enclosing section must not be speculative across
	 * it (its conflicts would not be seen), so it becomes irrevocable and
	 * the inner section holds the other real lock for its duration.
	 */
	hg_tx_irrevocable(&tx->pub);
	struct hg_site_rec *rec = hg_site_rec_get(l->id, site);
	struct hg_lock *outer = tx->lock;
	int outer_tier = tx->tier;
	uint32_t outer_wrote = tx->pub.wrote;
	uint8_t outer_mode = tx->run_mode;
	enum hg_tier got = hg_engine_enter(l, &hg_run_ops, &l->mutex.word, HG_HTM_OFF, rec);
	tx->depth++;
	tx->lock = l;
	body(&tx->pub, arg);
	tx->depth--;
	hg_engine_exit(l, &hg_run_ops, HG_HTM_OFF, rec, got);
	/* The outer section still holds its own lock and stm_seq. */
	hg_run_seq_held = outer;
	tx->lock = outer;
	tx->tier = outer_tier;
	tx->pub.wrote = outer_wrote | 1u;
	tx->run_mode = outer_mode;
}

/* Runs the section on the tier picked; returns the tier it ended on. */
static enum hg_tier hg_run_on(struct hg_stm_tx *tx, struct hg_lock *l, struct hg_site_rec *rec,
    hg_body_fn body, void *arg, enum hg_tier picked, enum hg_htm_mode mode, unsigned *aborts)
{
	enum hg_tier used;
	tx->depth = 1;
	if (picked == HG_TIER_STM)
		used = hg_run_soft(tx, l, rec, body, arg, aborts);
	else
		used = hg_run_direct(tx, l, rec, body, arg, picked == HG_TIER_HTM ? mode : HG_HTM_OFF);
	tx->depth = 0;
	tx->lock = NULL;
	return used;
}

static __attribute__((noinline)) void hg_run_slow(struct hg_lock *l, uint64_t site,
    hg_body_fn body, void *arg)
{
	struct hg_stm_tx *tx = hg_stm_self();
	if (HG_UNLIKELY(tx->depth > 0)) {
		hg_run_nested(tx, l, site, body, arg);
		return;
	}
	if (HG_UNLIKELY(hg_atomic_load_acquire8(&l->stm_used) != HG_STM_USED_READY) && !hg_in_transaction())
		hg_lock_enable_stm(l);
	struct hg_site_rec *rec = hg_site_rec_get(l->id, site);
	enum hg_htm_mode mode = hg_lock_mode(l);

	/* Pick. */
	struct hg_policy_ticket t;
	hg_policy_pick(rec, mode, hg_run_forced(), &t);
	if (HG_UNLIKELY(hg_run_contended > 0) && t.tier == HG_TIER_LOCK)
		hg_run_contended--; /* under the mutex (hg_run_on) */
	else if (HG_LIKELY(t.tier == HG_TIER_LOCK && !hg_sim_on &&
	        !hg_trace_on() && hg_atomic_load_relaxed8(&l->stm_used) == HG_STM_USED_READY)) {
		/* Settled or forced: nothing to account. */
		bool quiet = !t.sample && (!t.adaptive || t.fast);
		if (HG_UNLIKELY(!quiet))
			hg_run_lock_wait = 0;
		hg_run_lock_fast(tx, l, rec, body, arg, t.sample);
		if (HG_UNLIKELY(!quiet))
			hg_policy_account(rec, &t, HG_TIER_LOCK, 0, hg_run_lock_wait,
			    t.par > 1 ? hg_policy_cycles() : 0);
		return;
	}
	/* The report times one software section in 64 on its own. */
	bool stat = (rec->st.acquisitions & 63u) == 0 && t.tier == HG_TIER_STM;
	uint64_t t0 = t.t0;
	if (stat && !t0)
		t0 = hg_policy_cycles();

	/* Run. */
	hg_run_timing = t.sample;
	hg_run_lock_wait = 0;
	tx->wait_cycles = 0;
	unsigned aborts = 0;
	enum hg_tier used = hg_run_on(tx, l, rec, body, arg, t.tier, mode, &aborts);
	hg_run_timing = false;

	/* Account. */
	uint64_t t1 = (stat || t.par > 1) ? hg_policy_cycles() : 0;
	if (used == HG_TIER_STM) {
		if (stat) {
			hg_counter_add(&rec->st.cycles[HG_TIER_STM], t1 - t0);
			hg_counter_add(&rec->st.timed, 1);
			hg_counter_add(&rec->st.time[HG_TIME_STM], t1 - t0);
		}
		hg_counter_add(&rec->st.acquisitions, 1);
		hg_counter_add(&rec->st.commits[HG_TIER_STM], 1);
	}
	hg_policy_account(rec, &t, used, aborts,
	    t.tier == HG_TIER_STM ? tx->wait_cycles : hg_run_lock_wait, t1);
	hg_trace_close(rec, used, false); /* software sections: the others closed in hg_engine_exit */
}

/*
 * Whether this thread's next section of rec runs on the lock tier with
 * nothing to account: forced to the lock, or adaptive and settled there
 * on the policy's quiet path (which this consumes, as hg_policy_pick would).
 */
static inline bool hg_run_quiet_lock(struct hg_site_rec *rec)
{
	int f = hg_run_force_tls;
	if (f < 0) {
		if (HG_UNLIKELY(!hg_atomic_load_acquire32(&hg_run_env_done)))
			return false;
		f = (int)hg_atomic_load_relaxed32(&hg_run_force_word);
	}
	if (f == HG_TIER_LOCK)
		return true;
	return f == HG_TIER_ADAPTIVE && hg_policy_quiet_lock(rec);
}

/*
 * The quick path: a thread's repeated section of the site it ran last,
 * settled or forced on the lock tier, taken with no more than the checks
 * hg_run_slow's own lock fast path makes (top level, a ready lock, no
 * simulation or timeline).  Everything else goes to
 * hg_run_slow, which picks, runs and accounts.
 */
void hg_run(struct hg_lock *l, uint64_t site, hg_body_fn body, void *arg)
{
	struct hg_stm_tx *tx = hg_stm_tls;
	struct hg_site_rec *rec = hg_site_last;
	if (HG_LIKELY(tx != NULL && tx->depth == 0 && rec != NULL && rec->site == site &&
	        rec->lock_id == l->id &&
	        hg_atomic_load_acquire8(&l->stm_used) == HG_STM_USED_READY &&
	        !hg_trace_on() && !hg_sim_on && hg_run_contended == 0 && hg_run_quiet_lock(rec))) {
		hg_run_lock_fast(tx, l, rec, body, arg, false);
		return;
	}
	hg_run_slow(l, site, body, arg);
}

/* ------------------------------------------------------------ in-section */

int hg_tx_tier(const struct hg_tx *pub)
{
	const struct hg_stm_tx *tx = (const struct hg_stm_tx *)pub;
	return tx->tier;
}

void hg_tx_irrevocable(struct hg_tx *pub)
{
	struct hg_stm_tx *tx = (struct hg_stm_tx *)pub;
	if (tx->tier == HG_TIER_STM) {
		hg_stm_rollback(tx);
		tx->restart_reason = HG_STM_RESTART_IRREVOCABLE;
		siglongjmp(tx->restart, 1);
	}
	if (tx->tier == HG_TIER_HTM && tx->run_mode == HG_HTM_RTM) {
		/* Rolls the hardware transaction back; the engine treats the
		 * explicit code as an abort without RETRY and takes the lock. */
		hg_tx_abort(HG_ABORT_IRREVOCABLE);
	}
	/* Lock tier, or emulated HTM (which holds the real lock): already irrevocable. */
}
