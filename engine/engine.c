/* SPDX-License-Identifier: MIT */
/*
 * engine/engine.c - the retry loop every front end runs a section through
 * (docs/design.md, "The engine").
 *
 * The policy (engine/policy.c) says whether an acquisition speculates at
 * all (hg_policy_enter); this file runs the attempts, acts on each abort
 * as hg_engine_action() says, and reports every outcome to the policy and
 * the counters.  Nothing here writes a counter inside a transaction:
 * counts before begin, after commit, or in the abort path.
 *
 * Timing (docs/report.md, "Time"): a timed section's record holds in .t0
 * the stamp its current phase began at; every stamp is taken and every sum
 * written outside a hardware transaction.  An RTM section's time runs from
 * the stamp before its XBEGIN to the stamp after its XEND; an emulated
 * one's from the return of its begin (which took the real lock: waiting) to
 * just before its commit releases the lock; a lock-tier one's from the
 * return of ops->lock to just before the unlock.  So sections that hold the
 * real lock are timed only while they hold it: an unlock that wakes a
 * waiter (who may take the CPU) adds nothing to them, and their timed
 * intervals never overlap.
 */
#include "base/atomic.h"
#include "htm/emu.h"
#include "htm/sim.h"
#include "engine/engine.h"
#include "htm/htm.h"
#include "htm/status.h"
#include "pmu/pmu.h"





static unsigned hg_explicit_slot(unsigned code)
{
	switch (code) {
	case HG_ABORT_BUSY: return 0;
	case HG_ABORT_NESTED_TRYLOCK: return 1;
	case HG_ABORT_STM_BUSY: return 2;
	case HG_ABORT_GIL_DROP: return 3;
	case HG_ABORT_SYSCALL: return 4;
	case HG_ABORT_IRREVOCABLE: return 5;
	case HG_ABORT_NESTED_BUSY: return 6;
	case HG_ABORT_FINALIZING: return 7;
	default: return code >= HG_ABORT_USER_MIN && code <= HG_ABORT_USER_MAX ? 8 : 9;
	}
}

unsigned hg_explicit_slot_code(unsigned slot)
{
	static const unsigned codes[HG_EXPLICIT_SLOTS] = {
		HG_ABORT_BUSY, HG_ABORT_NESTED_TRYLOCK, HG_ABORT_STM_BUSY, HG_ABORT_GIL_DROP,
		HG_ABORT_SYSCALL, HG_ABORT_IRREVOCABLE, HG_ABORT_NESTED_BUSY, HG_ABORT_FINALIZING,
		HG_ABORT_USER_MIN, 0,
	};
	return slot < HG_EXPLICIT_SLOTS ? codes[slot] : 0;
}

void hg_engine_note_abort(struct hg_site_rec *rec, uint32_t status)
{
	enum hg_abort_cause c = hg_status_cause(status);
	hg_counter_add(&rec->st.aborts[c], 1);
	/* A transaction of one yield interval (the GIL's length; 0 elsewhere). */
	if (rec->pol.txlen == 1 && !hg_status_is_busy(status))
		hg_counter_add(&rec->st.aborts_one[c], 1);
	if (c == HG_CAUSE_EXPLICIT)
		hg_counter_add(&rec->st.explicit_codes[hg_explicit_slot(HG_STATUS_CODE(status))], 1);
	hg_policy_abort(rec, hg_status_is_busy(status));
}


/* emu: an emulated transaction committed; counted apart from RTM (prof.h). */
static void hg_note_commit(struct hg_site_rec *rec, enum hg_tier tier, bool emu)
{
	hg_counter_add(emu ? &rec->st.commits_emu : &rec->st.commits[tier], 1);
	hg_engine_time_stop(rec, tier); /* RTM: after XEND; else stopped before the unlock */
	if (tier == HG_TIER_HTM)
		hg_policy_commit(rec);
}

void hg_engine_note_commit(struct hg_site_rec *rec, enum hg_tier tier)
{
	hg_note_commit(rec, tier, false);
}

void hg_abort_budget_init(struct hg_abort_budget *b, const struct hg_policy *p)
{
	b->conflict = p->retry_conflict;
	b->busy = p->retry_busy;
	b->capacity = p->retry_capacity;
	b->last_zero = false;
}

enum hg_abort_action hg_engine_action(uint32_t s, struct hg_abort_budget *b)
{
	bool last_zero = b->last_zero;
	b->last_zero = s == 0;
	if (s & HG_STATUS_EXPLICIT) {
		switch (HG_STATUS_CODE(s)) {
		case HG_ABORT_BUSY:
			if (b->busy == 0)
				return HG_ACT_LOCK;
			b->busy--;
			return HG_ACT_WAIT;
		case HG_ABORT_NESTED_BUSY:
			/* The outer lock is free; the inner one is unknown here. */
			if (b->conflict == 0)
				return HG_ACT_LOCK;
			b->conflict--;
			return HG_ACT_BACKOFF;
		case HG_ABORT_NESTED_TRYLOCK:
		case HG_ABORT_SYSCALL:
			return HG_ACT_SKIP; /* the section does the same next time */
		default:
			return HG_ACT_LOCK;
		}
	}
	if (s & HG_STATUS_CAPACITY) {
		if (b->capacity == 0)
			return HG_ACT_DEMOTE;
		b->capacity--;
		return HG_ACT_RETRY;
	}
	if (hg_status_retry(s)) {
		if (b->conflict == 0)
			return HG_ACT_LOCK;
		b->conflict--;
		return HG_ACT_BACKOFF;
	}
	if (s == 0 && !last_zero)
		return HG_ACT_RETRY;
	return HG_ACT_SKIP;
}

static void hg_wait_free(void *target, const struct hg_target_ops *ops, const uint32_t *word)
{
	unsigned spin = hg_policy_now.spin_wait;
	if (ops->wait_free) {
		ops->wait_free(target, spin);
		return;
	}
	for (unsigned i = 0; hg_atomic_load_relaxed32(word) != 0;)
		hg_spin_then_yield(&i, spin);
}

/* Randomized backoff after a conflict, growing with the attempt number. */
static void hg_backoff(unsigned attempt)
{
	unsigned shift = attempt < 6 ? attempt : 6;
	unsigned n = (unsigned)(hg_policy_random() & ((32u << shift) - 1));
	for (unsigned i = 0; i < n; i++)
		hg_cpu_relax();
}

/*
 * One speculative begin with subscription.  RTM: inside the transaction,
 * read the subscription word (putting its line in the read set, so any later
 * real acquisition aborts us) and abort with HG_ABORT_BUSY if it is held.
 */
static inline uint32_t hg_spec_begin(void *target, const struct hg_target_ops *ops,
    const uint32_t *sub_word, enum hg_htm_mode mode, struct hg_site_rec *rec)
{
	if (mode == HG_HTM_RTM) {
		uint32_t s = hg_htm_begin();
		if (hg_htm_begin_success(s)) {
			/* Relaxed: inside a transaction the hardware orders it; a later
			 * write by an acquirer aborts us. */
			if (hg_atomic_load_relaxed32(sub_word) != 0)
				hg_htm_abort(HG_ABORT_BUSY);
			if (ops->subscribe_extra) {
				unsigned code = ops->subscribe_extra(target);
				if (code)
					hg_htm_abort(code);
			}
		}
		return s;
	}
	uint32_t s = hg_emu_begin(target, ops);
	/* Emulated: the begin took the real lock (waiting); the section starts now,
	 * before the simulator's mark, so the sum stays out of the marked section. */
	if (rec->t0 != 0 && s == HG_STATUS_STARTED)
		hg_engine_time_wait(rec, &rec->t0, 1); /* emulated: every section is timed */
	if (HG_UNLIKELY(hg_sim_on) && s == HG_STATUS_STARTED)
		hg_sim_mark_begin(rec->site, sub_word, rec->lock_id);
	return s;
}

/*
 * The real lock is held from here to hg_engine_exit: in simulation mode the
 * section is marked like a speculative one (htm/sim.h), since the
 * recording's tier says nothing about the tier it would run on.
 */
static inline void hg_lock_taken(const uint32_t *sub_word, struct hg_site_rec *rec)
{
	if (HG_UNLIKELY(hg_sim_on))
		hg_sim_mark_begin(rec->site, sub_word, rec->lock_id);
}

/*
 * Whether this section is timed; call after counting the acquisition.  Long
 * sections (ops->time_every) and emulated ones are timed always: an
 * emulated section takes and releases the real lock and draws its
 * injection, next to which two stamps cost little, and its waits include
 * the scheduler's hand-offs, too heavy-tailed for a 1-in-64 sample.
 */
static inline bool hg_time_start(struct hg_site_rec *rec, const struct hg_target_ops *ops,
    enum hg_htm_mode mode)
{
	if (HG_UNLIKELY(ops->time_every || mode == HG_HTM_EMU)) {
		hg_counter_add(&rec->st.timed, 1);
		return true;
	}
	return hg_engine_time_sampled(rec);
}

/*
 * Waits for the lock to be free, after an abort: every such wait is timed
 * (it is the slow path already), into st.time[HG_TIME_WAITING].
 */
static void hg_wait_timed(void *target, const struct hg_target_ops *ops,
    const uint32_t *word, struct hg_site_rec *rec)
{
	uint64_t t = hg_cycles();
	hg_wait_free(target, ops, word);
	hg_engine_time_wait(rec, &t, 1);
}

enum hg_tier hg_engine_enter(void *target, const struct hg_target_ops *ops,
    const uint32_t *sub_word, enum hg_htm_mode mode, struct hg_site_rec *rec)
{
	hg_counter_add(&rec->st.acquisitions, 1);
	return hg_engine_enter_counted(target, ops, sub_word, mode, rec,
	    hg_time_start(rec, ops, mode), HG_STATUS_STARTED);
}

enum hg_tier hg_engine_enter_counted(void *target, const struct hg_target_ops *ops,
    const uint32_t *sub_word, enum hg_htm_mode mode, struct hg_site_rec *rec, bool timed,
    uint32_t first)
{
	bool aborted = false;
	rec->t0 = 0;
	if (mode == HG_HTM_OFF)
		goto take_lock;
	enum hg_policy_go go = first == HG_STATUS_STARTED ? hg_policy_enter(rec) : HG_GO_SPECULATE;
	if (go == HG_GO_LOCK)
		goto take_lock;

	const struct hg_policy *pol = &hg_policy_now;
	struct hg_abort_budget b;
	hg_abort_budget_init(&b, pol);
	for (unsigned attempt = 0;; attempt++) {
		uint32_t s = first;
		if (s == HG_STATUS_STARTED) {
			hg_counter_add(&rec->st.attempts, 1);
			hg_pmu_spec_begin(); /* counters read outside the transaction */
			/* The attempt's begin: written before XBEGIN, read after commit or abort. */
			if (timed)
				rec->t0 = hg_cycles();
			s = hg_spec_begin(target, ops, sub_word, mode, rec);
			if (hg_htm_begin_success(s))
				return HG_TIER_HTM;
			hg_pmu_spec_end(&rec->st, rec->lock_id, rec->site);
		}
		first = HG_STATUS_STARTED;

		/* Aborted: from here on we are outside any transaction. */
		if (timed) {
			hg_engine_time_add(rec, HG_TIME_ABORTED, &rec->t0);
			rec->t0 = 0;
		}
		hg_engine_note_abort(rec, s);
		enum hg_abort_action act = hg_engine_action(s, &b);
		if (act == HG_ACT_WAIT) {
			hg_wait_timed(target, ops, sub_word, rec);
			continue; /* the section is not at fault: no rate check */
		}
		if (act == HG_ACT_LOCK)
			break;
		if (act == HG_ACT_SKIP) {
			hg_policy_skip(rec);
			break;
		}
		if (act == HG_ACT_DEMOTE) {
			hg_policy_capacity(rec);
			break;
		}
		if (act == HG_ACT_BACKOFF) {
			uint64_t t = hg_cycles();
			if (hg_atomic_load_relaxed32(sub_word) != 0)
				hg_wait_free(target, ops, sub_word);
			else
				hg_backoff(attempt);
			hg_engine_time_wait(rec, &t, 1);
		}
		/* HG_ACT_RETRY: again at once. */
		if (hg_policy_check_rate(rec))
			break;
		if (go == HG_GO_PROBE)
			break; /* a probe gets one attempt */
	}
	hg_policy_check_rate(rec);
	if (go == HG_GO_PROBE)
		hg_policy_probe_lost(rec);
	aborted = true;
take_lock:
	if (timed || aborted) {
		/* Taking the lock after aborts is timed always (weight 1), else as sampled. */
		uint64_t t = hg_cycles();
		ops->lock(target);
		hg_engine_time_wait(rec, &t,
		    aborted || ops->time_every || mode == HG_HTM_EMU ? 1 : HG_TIME_WEIGHT);
		if (timed)
			rec->t0 = t; /* held from here to hg_engine_exit */
	} else {
		ops->lock(target);
	}
	hg_lock_taken(sub_word, rec);
	return HG_TIER_LOCK;
}

void hg_engine_exit(void *target, const struct hg_target_ops *ops,
    enum hg_htm_mode mode, struct hg_site_rec *rec, enum hg_tier tier)
{
	if (tier == HG_TIER_HTM) {
		if (mode == HG_HTM_RTM) {
			/* XEND outside a transaction raises #GP: only under XTEST. */
			if (hg_htm_active())
				hg_htm_commit();
		}
		else {
			if (HG_UNLIKELY(hg_sim_on))
				hg_sim_mark_end();
			uint64_t t = hg_engine_time_stop(rec, tier);
			hg_emu_commit(target, ops);
			hg_engine_time_released(rec, t, 1); /* emulated: every section timed */
		}
		hg_pmu_spec_end(&rec->st, rec->lock_id, rec->site); /* after the commit */
	} else {
		if (HG_UNLIKELY(hg_sim_on))
			hg_sim_mark_end();
		uint64_t t = hg_engine_time_stop(rec, tier);
		ops->unlock(target);
		hg_engine_time_released(rec, t,
		    ops->time_every || mode == HG_HTM_EMU ? 1 : HG_TIME_WEIGHT);
	}
	hg_note_commit(rec, tier, tier == HG_TIER_HTM && mode == HG_HTM_EMU);
	hg_trace_close(rec, tier, mode == HG_HTM_EMU);
}

int hg_engine_try(void *target, const struct hg_target_ops *ops,
    const uint32_t *sub_word, enum hg_htm_mode mode, struct hg_site_rec *rec)
{
	hg_counter_add(&rec->st.acquisitions, 1);
	if (mode != HG_HTM_OFF && hg_site_tier(rec) == HG_TIER_HTM && rec->pol.skip == 0) {
		struct hg_abort_budget b;
		hg_abort_budget_init(&b, &hg_policy_now);
		for (;;) {
			hg_counter_add(&rec->st.attempts, 1);
			hg_pmu_spec_begin();
			uint32_t s = hg_spec_begin(target, ops, sub_word, mode, rec);
			if (hg_htm_begin_success(s))
				return HG_TIER_HTM;
			hg_pmu_spec_end(&rec->st, rec->lock_id, rec->site);
			hg_engine_note_abort(rec, s);
			if (hg_status_is_busy(s))
				return -1;
			enum hg_abort_action act = hg_engine_action(s, &b);
			if (act == HG_ACT_RETRY && s == 0)
				continue; /* a one-off event: once more, as in hg_engine_enter */
			if (act == HG_ACT_SKIP)
				hg_policy_skip(rec);
			break;
		}
	}
	if (ops->trylock && ops->trylock(target)) {
		hg_lock_taken(sub_word, rec);
		return HG_TIER_LOCK;
	}
	return -1;
}
