/* SPDX-License-Identifier: MIT */
/*
 * engine/engine.c - the retry loop and the policy (docs/design.md, "The policy").
 *
 * Per (lock, site) and per thread, a site is on one tier: HTM (speculative)
 * or LOCK (the STM tier joins for instrumented sections in hg_run).  On the
 * HTM tier each acquisition runs this loop:
 *
 *   begin  -> started: return inside the transaction
 *          -> EXPLICIT busy: wait until the lock is free (PAUSE-spin, bounded,
 *             then park), retry up to retry_busy times
 *          -> EXPLICIT nested busy (an inner lock was held; which one is
 *             lost with the transaction): as a conflict
 *          -> EXPLICIT nested trylock or syscall: the site would abort the
 *             same way next time, so skip HTM for skip_other acquisitions
 *             and take the lock
 *          -> other EXPLICIT code: this acquisition takes the lock
 *          -> CAPACITY: retry up to retry_capacity times (1), then demote
 *             the site (capacity is persistent) and take the lock
 *          -> RETRY set (CONFLICT or bare RETRY): wait for the lock if it is
 *             held (no lemming effect), randomized backoff, retry up to
 *             retry_conflict times, then take the lock
 *          -> status 0 (an interrupt, a page fault: one-off events): retry
 *             at once; a second status 0 in a row, or DEBUG/NESTED: skip
 *             HTM for skip_other acquisitions and take the lock
 *   hg_engine_action() is that table, as a pure function of the status.
 *   every attempt feeds the decaying abort-rate estimate; once it passes
 *   demote_rate after demote_min attempts, the site is demoted.
 *
 * A demoted site re-probes: after reprobe_left lock-tier acquisitions it
 * tries the HTM tier once more; a commit promotes it back, a failure doubles
 * the period up to reprobe_max.  Nothing here writes a counter inside a
 * transaction: counts before begin, after commit, or in the abort path.
 */
#include <sched.h>

#include "base/atomic.h"
#include "htm/emu.h"
#include "engine/engine.h"
#include "htm/htm.h"
#include "htm/status.h"


uint32_t hg_txlen_fixed;

#define HG_Q16 65536u
#define HG_COST_SAMPLE 63u /* sample one section in 64 for cycle costs */

static inline uint32_t hg_q16(double x)
{
	return (uint32_t)(x * HG_Q16 + 0.5);
}

/* Decaying estimate: rate += decay * (sample - rate), in fixed point. */
static inline void hg_rate_update(struct hg_site_rec *rec, bool aborted)
{
	uint32_t d = hg_q16(hg_policy_now.decay);
	uint32_t r = rec->rate_q16;
	int64_t target = aborted ? HG_Q16 : 0;
	int64_t nr = (int64_t)r + (((target - (int64_t)r) * d) >> 16);
	if (nr < 0)
		nr = 0;
	if (nr > HG_Q16)
		nr = HG_Q16;
	/* Relaxed: single writer; the report reads a possibly stale value. */
	hg_atomic_store_relaxed32(&rec->rate_q16, (uint32_t)nr);
	rec->samples++;
}

static void hg_set_tier(struct hg_site_rec *rec, enum hg_tier to)
{
	hg_atomic_store_relaxed32(&rec->tier, to);
	rec->samples = 0;
}

void hg_engine_demote(struct hg_site_rec *rec, enum hg_tier to, enum hg_reason why)
{
	if (rec->tier >= (uint32_t)to)
		return;
	hg_set_tier(rec, to);
	hg_counter_add(&rec->st.demotions[why], 1);
	rec->reprobe_left = rec->reprobe_period;
}

void hg_engine_promote(struct hg_site_rec *rec, enum hg_tier to, enum hg_reason why)
{
	if (rec->tier <= (uint32_t)to)
		return;
	hg_set_tier(rec, to);
	hg_counter_add(&rec->st.promotions[why], 1);
	/* Start below the threshold, so a phase that is still bad re-demotes
	 * after a handful of attempts rather than at once or never. */
	hg_atomic_store_relaxed32(&rec->rate_q16, hg_q16(hg_policy_now.demote_rate / 2));
	rec->reprobe_period = hg_policy_now.reprobe_base;
	rec->skip = 0;
}

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
	if (c == HG_CAUSE_EXPLICIT)
		hg_counter_add(&rec->st.explicit_codes[hg_explicit_slot(HG_STATUS_CODE(status))], 1);
	/* A busy lock is not the section's fault: it does not raise the rate. */
	if (!hg_status_is_busy(status))
		hg_rate_update(rec, true);
}

static inline void hg_cost_update(struct hg_site_rec *rec, enum hg_tier tier)
{
	if (HG_LIKELY(rec->t0 == 0))
		return;
	uint64_t dt = hg_cycles() - rec->t0;
	rec->t0 = 0;
	/* decaying mean with weight 1/8; the first sample seeds it */
	uint64_t c = rec->cost[tier];
	rec->cost[tier] = c ? c - (c >> 3) + (dt >> 3) : dt;
	hg_counter_add(&rec->st.cycles[tier], dt);
}

/* emu: an emulated transaction committed; counted apart from RTM (prof.h). */
static void hg_note_commit(struct hg_site_rec *rec, enum hg_tier tier, bool emu)
{
	hg_counter_add(emu ? &rec->st.commits_emu : &rec->st.commits[tier], 1);
	hg_cost_update(rec, tier);
	if (tier == HG_TIER_HTM) {
		hg_rate_update(rec, false);
		if (rec->tier != HG_TIER_HTM)
			hg_engine_promote(rec, HG_TIER_HTM, HG_REASON_REPROBE);
	}
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
	for (unsigned i = 0; hg_atomic_load_relaxed32(word) != 0; i++) {
		if (i < spin)
			hg_cpu_relax();
		else
			sched_yield();
	}
}

/* Randomized backoff after a conflict, growing with the attempt number. */
static void hg_backoff(unsigned attempt)
{
	unsigned shift = attempt < 6 ? attempt : 6;
	unsigned n = (unsigned)(hg_rand() & ((32u << shift) - 1));
	for (unsigned i = 0; i < n; i++)
		hg_cpu_relax();
}

/*
 * One speculative begin with subscription.  RTM: inside the transaction,
 * read the subscription word (putting its line in the read set, so any later
 * real acquisition aborts us) and abort with HG_ABORT_BUSY if it is held.
 */
static inline uint32_t hg_spec_begin(void *target, const struct hg_target_ops *ops,
    const uint32_t *sub_word, enum hg_htm_mode mode)
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
	return hg_emu_begin(target, ops);
}

static inline void hg_cost_start(struct hg_site_rec *rec)
{
	if (HG_UNLIKELY((rec->st.acquisitions & HG_COST_SAMPLE) == 0))
		rec->t0 = hg_cycles();
}

enum hg_tier hg_engine_enter(void *target, const struct hg_target_ops *ops,
    const uint32_t *sub_word, enum hg_htm_mode mode, struct hg_site_rec *rec)
{
	hg_counter_add(&rec->st.acquisitions, 1);
	hg_cost_start(rec);
	if (mode == HG_HTM_OFF)
		goto take_lock;

	bool reprobe = false;
	if (rec->tier != HG_TIER_HTM) {
		if (rec->reprobe_left > 0) {
			rec->reprobe_left--;
			goto take_lock;
		}
		reprobe = true;
		hg_counter_add(&rec->st.reprobes, 1);
	} else if (rec->skip > 0) {
		rec->skip--;
		hg_counter_add(&rec->st.skips, 1);
		goto take_lock;
	}

	const struct hg_policy *pol = &hg_policy_now;
	struct hg_abort_budget b;
	hg_abort_budget_init(&b, pol);
	for (unsigned attempt = 0;; attempt++) {
		hg_counter_add(&rec->st.attempts, 1);
		uint32_t s = hg_spec_begin(target, ops, sub_word, mode);
		if (hg_htm_begin_success(s))
			return HG_TIER_HTM;

		/* Aborted: from here on we are outside any transaction. */
		hg_engine_note_abort(rec, s);
		enum hg_abort_action act = hg_engine_action(s, &b);
		if (act == HG_ACT_WAIT) {
			hg_wait_free(target, ops, sub_word);
			continue; /* the section is not at fault: no rate check */
		}
		if (act == HG_ACT_LOCK)
			break;
		if (act == HG_ACT_SKIP) {
			rec->skip = pol->skip_other;
			break;
		}
		if (act == HG_ACT_DEMOTE) {
			hg_engine_demote(rec, HG_TIER_LOCK, HG_REASON_CAPACITY);
			break;
		}
		if (act == HG_ACT_BACKOFF) {
			if (hg_atomic_load_relaxed32(sub_word) != 0)
				hg_wait_free(target, ops, sub_word);
			else
				hg_backoff(attempt);
		}
		/* HG_ACT_RETRY: again at once. */
		if (rec->tier == HG_TIER_HTM && rec->samples >= pol->demote_min &&
		    rec->rate_q16 > hg_q16(pol->demote_rate)) {
			hg_engine_demote(rec, HG_TIER_LOCK, HG_REASON_ABORT_RATE);
			break;
		}
		if (reprobe)
			break; /* a probe gets one attempt */
	}
	if (rec->tier == HG_TIER_HTM && rec->samples >= pol->demote_min &&
	    rec->rate_q16 > hg_q16(pol->demote_rate))
		hg_engine_demote(rec, HG_TIER_LOCK, HG_REASON_ABORT_RATE);
	if (reprobe && rec->tier != HG_TIER_HTM) {
		uint32_t p = rec->reprobe_period * 2;
		rec->reprobe_period = p > pol->reprobe_max ? pol->reprobe_max : p;
		rec->reprobe_left = rec->reprobe_period;
	}
take_lock:
	ops->lock(target);
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
		else
			hg_emu_commit(target, ops);
	} else {
		ops->unlock(target);
	}
	hg_note_commit(rec, tier, tier == HG_TIER_HTM && mode == HG_HTM_EMU);
}

int hg_engine_try(void *target, const struct hg_target_ops *ops,
    const uint32_t *sub_word, enum hg_htm_mode mode, struct hg_site_rec *rec)
{
	hg_counter_add(&rec->st.acquisitions, 1);
	if (mode != HG_HTM_OFF && rec->tier == HG_TIER_HTM && rec->skip == 0) {
		struct hg_abort_budget b;
		hg_abort_budget_init(&b, &hg_policy_now);
		for (;;) {
			hg_counter_add(&rec->st.attempts, 1);
			uint32_t s = hg_spec_begin(target, ops, sub_word, mode);
			if (hg_htm_begin_success(s))
				return HG_TIER_HTM;
			hg_engine_note_abort(rec, s);
			if (hg_status_is_busy(s))
				return -1;
			enum hg_abort_action act = hg_engine_action(s, &b);
			if (act == HG_ACT_RETRY && s == 0)
				continue; /* a one-off event: once more, as in hg_engine_enter */
			if (act == HG_ACT_SKIP)
				rec->skip = hg_policy_now.skip_other;
			break;
		}
	}
	if (ops->trylock && ops->trylock(target))
		return HG_TIER_LOCK;
	return -1;
}

/* Aborts that a shorter transaction could have avoided (not a busy lock). */
static inline uint32_t hg_txlen_aborts(const struct hg_site_rec *rec)
{
	return (uint32_t)(rec->st.aborts[HG_CAUSE_CONFLICT] + rec->st.aborts[HG_CAUSE_CAPACITY] +
	    rec->st.aborts[HG_CAUSE_RETRY] + rec->st.aborts[HG_CAUSE_OTHER]);
}

static inline void hg_txlen_set(struct hg_site_rec *rec, uint32_t len)
{
	/* Relaxed: single writer; the report reads a possibly stale value. */
	hg_atomic_store_relaxed32(&rec->txlen, len);
	rec->txlen_aux = ((uint32_t)rec->st.attempts & 0xffffu) | (hg_txlen_aborts(rec) << 16);
}

uint32_t hg_engine_txlen(struct hg_site_rec *rec)
{
	uint32_t len = rec->txlen;
	if (hg_txlen_fixed) {
		if (len != hg_txlen_fixed)
			hg_txlen_set(rec, hg_txlen_fixed);
		return hg_txlen_fixed;
	}
	if (HG_UNLIKELY(len == 0)) {
		hg_txlen_set(rec, HG_TXLEN_INIT);
		return HG_TXLEN_INIT;
	}
	/* Window deltas modulo 2^16: a window never spans that many attempts. */
	uint32_t att = ((uint32_t)rec->st.attempts - rec->txlen_aux) & 0xffffu;
	uint32_t ab = (hg_txlen_aborts(rec) - (rec->txlen_aux >> 16)) & 0xffffu;
	if (rec->tier != HG_TIER_HTM && ab > 0) {
		hg_txlen_set(rec, len > HG_TXLEN_MIN * 2 ? len / 2 : HG_TXLEN_MIN);
	} else if (att >= HG_TXLEN_WINDOW) {
		if (ab * 8 > att)
			len = len > HG_TXLEN_MIN * 2 ? len / 2 : HG_TXLEN_MIN;
		else if (ab == 0)
			len = len < HG_TXLEN_MAX / 2 ? len * 2 : HG_TXLEN_MAX;
		hg_txlen_set(rec, len);
	}
	return rec->txlen;
}

enum hg_htm_mode hg_mode_now(void)
{
	return hg_htm_mode();
}
