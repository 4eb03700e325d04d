/* SPDX-License-Identifier: MIT */
/*
 * engine/elide.c - struct hg_lock: the elided lock over struct hg_mutex.
 *
 * Each thread keeps a small stack of the elided locks it holds (hg_held):
 * which lock, its site record, and how it is held:
 *
 *   HG_HELD_SPEC    entered speculatively (an RTM transaction, or an emulated
 *                   one that holds the real lock)
 *   HG_HELD_SUB     acquired inside an enclosing RTM transaction: only
 *                   subscribed (its word is in the read set), nothing to undo
 *   HG_HELD_LOCK    the real lock is held
 *
 * The stack is thread-local; entries pushed inside an RTM transaction vanish
 * with it on an abort, so it always describes the state the hardware
 * restores.  An RTM transaction commits when the last of its entries (SPEC
 * and SUB) is released, so locks may be released in any order.
 * hg_lock_release() asks the hardware (XTEST) whether it runs transactionally
 * before it commits, never the lock word.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "base/atomic.h"
#include "htm/detect.h"
#include "htm/emu.h"
#include "htm/sim.h"
#include "engine/engine.h"
#include "htm/htm.h"
#include "fallback/mutex.h"
#include "fallback/stm.h"
#include "pmu/pmu.h"

/*
 * struct hg_lock's pad is sized by hand in include/htmgil/elide.h
 * (64 - 4 * 4 - 4 - 4 - 4: the mutex's four words, stm_seq, id, then four
 * bytes) so that the lock fills its 64-byte line exactly.  aligned(64) would
 * round a short pad up silently, so the end of pad is checked, not only the
 * size.  The header is also compiled as C++, hence the checks live here.
 */
_Static_assert(sizeof(struct hg_mutex) == 4 * 4, "struct hg_mutex: four 32-bit words");
_Static_assert(offsetof(struct hg_lock, stm_used) == 4 * 4 + 4 + 4 + 2,
    "struct hg_lock: stm_used is the third byte after id");
_Static_assert(offsetof(struct hg_lock, cost_off) == offsetof(struct hg_lock, stm_used) + 1,
    "struct hg_lock: cost_off follows stm_used");
_Static_assert(offsetof(struct hg_lock, pad) == offsetof(struct hg_lock, cost_off) + 1,
    "struct hg_lock: pad follows cost_off");
_Static_assert(offsetof(struct hg_lock, pad) + sizeof(((struct hg_lock *)0)->pad) == 64,
    "struct hg_lock: pad must end the struct at byte 64");
_Static_assert(sizeof(struct hg_lock) == 64, "struct hg_lock: exactly one 64-byte line");

enum { HG_HELD_SPEC = 1, HG_HELD_SUB = 2, HG_HELD_LOCK = 3 };
/*
 * An entry's marks.  Lock tier: SIM, the engine marked the section for the
 * simulator (htm/sim.h); COST, the policy times it (hg_policy_lock_released);
 * TIMED, the report times it (rec->t0 set, stopped by hg_engine_time_stop).
 * Invariant: a lock-tier entry whose rec->t0 is not 0 has TIMED, so the
 * release fast path decides from the entry alone, with no load of the
 * record before its atomic.
 * SPEC(rtm): UNCOUNTED, begun by the speculative fast path, whose
 * acquisition and attempt are counted at the commit, outside the
 * transaction (each store inside it, or just before XBEGIN, costs time).
 */
enum { HG_MARK_SIM = 1, HG_MARK_COST = 2, HG_MARK_UNCOUNTED = 4, HG_MARK_TIMED = 8 };

#define HG_HELD_MAX 64

struct hg_held_entry {
	struct hg_lock *lock;
	struct hg_site_rec *rec;
	/*
	 * Written with one 32-bit store and read with one load: the release
	 * fast path tests how and seq together, and a load that spans several
	 * smaller stores would miss store-to-load forwarding.
	 */
	struct hg_held_tag {
		uint8_t how;
		uint8_t mode; /* enum hg_htm_mode the entry was entered in */
		uint8_t seq;  /* this entry holds l->stm_seq odd (lock tier on an STM lock) */
		uint8_t marked; /* HG_MARK_*: what a lock-tier entry's release must do */
	} t;
};

struct hg_held {
	unsigned n;      /* entries */
	unsigned in_rtm; /* SPEC(rtm) + SUB entries of the running RTM transaction */
	/*
	 * The SPEC(rtm) entry's record, for the commit count, and whether it
	 * was begun uncounted (HG_MARK_UNCOUNTED); set when that entry is
	 * popped, which is at or before the commit.
	 */
	struct hg_site_rec *rtm_rec;
	unsigned rtm_uncounted;
	struct hg_held_entry e[HG_HELD_MAX];
};

static HG_TLS struct hg_held hg_held;

/*
 * Fills a held entry with one 8-byte store per pointer and one 4-byte store
 * for the tag.  The empty asm between the pointers keeps the compiler from
 * joining them into one 16-byte vector store (and the moves into a vector
 * register it needs): the release reads each pointer back with an 8-byte
 * load at once, and forwarding one half of a vector store to such a load
 * is slow on some cores (docs/design.md, "Elided-lock sites", the lock
 * tier's fast path).
 */
static inline void hg_held_set(struct hg_held_entry *e, struct hg_lock *l,
    struct hg_site_rec *rec, struct hg_held_tag t)
{
	e->lock = l;
	__asm__("" : : "m"(e->lock));
	e->rec = rec;
	e->t = t;
}

/*
 * The elided lock records who holds its mutex in the held stack, not in
 * .owner (which only the plain hg_mutex API and the overflow case use).
 */
static void hg_lock_op_lock(void *t) { hg_mutex_acquire_unowned(&((struct hg_lock *)t)->mutex); }
static bool hg_lock_op_trylock(void *t) { return hg_mutex_tryacquire_unowned(&((struct hg_lock *)t)->mutex); }
static void hg_lock_op_unlock(void *t) { hg_mutex_release_owned(&((struct hg_lock *)t)->mutex); }
static void hg_lock_op_wait_free(void *t, unsigned spin)
{
	hg_mutex_wait_free(&((struct hg_lock *)t)->mutex, spin);
}

/*
 * Hardware transactions on an hg_lock also subscribe to the STM sequence:
 * an odd value means a software commit is writing back.
 */
static unsigned hg_lock_op_sub_extra(void *t)
{
	/* Relaxed: read inside the transaction; a later write aborts it. */
	return (hg_atomic_load_relaxed32(&((struct hg_lock *)t)->stm_seq) & 1) ? HG_ABORT_STM_BUSY : 0;
}

static const struct hg_target_ops hg_lock_ops = {
	.lock = hg_lock_op_lock,
	.trylock = hg_lock_op_trylock,
	.unlock = hg_lock_op_unlock,
	.wait_free = hg_lock_op_wait_free,
	.subscribe_extra = hg_lock_op_sub_extra,
};

void hg_lock_init(struct hg_lock *l, const char *name)
{
	memset(l, 0, sizeof *l);
	hg_mutex_init(&l->mutex);
	l->id = name ? hg_lock_register(name) : 0;
}

void hg_lock_destroy(struct hg_lock *l)
{
	if (hg_mutex_is_locked(&l->mutex))
		hg_warn("hg_lock_destroy: lock \"%s\" is still held", hg_lock_name(l->id));
}

int hg_lock_set_mode(struct hg_lock *l, enum hg_htm_mode m)
{
	if (m == HG_HTM_RTM) {
		const struct hg_cpu_info *ci = hg_cpu_detect();
		if (ci->verdict != HG_RTM_USABLE && !(hg_rtm_ok && ci->verdict == HG_RTM_VALGRIND))
			return -1;
		hg_rtm_ok = true;
	}
	l->mode = (uint8_t)m;
	l->mode_set = 1;
	return 0;
}

void hg_lock_set_cost(struct hg_lock *l, int on)
{
	l->cost_off = on ? 0 : 1;
}

static inline bool hg_rtm_active(void)
{
	return hg_rtm_ok && hg_held.in_rtm > 0 && hg_htm_active();
}

/*
 * Plain sections on a lock that hg_run() uses: a section that holds the
 * real lock (lock tier, or an emulated transaction) also holds stm_seq odd,
 * as hg_run's own lock tier does, so software transactions revalidate
 * against its in-place stores and never write back under it.  The entry
 * remembers it, since .stm_used may flip while the section runs.
 */
static inline void hg_held_seq_enter(struct hg_lock *l, unsigned how, enum hg_htm_mode mode)
{
	/* Relaxed: read after the acquiring CAS of the mutex, which orders it
	 * after hg_lock_enable_stm()'s pass through the mutex (see there). */
	if (HG_LIKELY(!hg_atomic_load_relaxed8(&l->stm_used)))
		return;
	if (how == HG_HELD_LOCK || (how == HG_HELD_SPEC && mode != HG_HTM_RTM)) {
		struct hg_held *h = &hg_held;
		if (h->n > 0 && h->e[h->n - 1].lock == l) {
			hg_stm_seq_enter(l);
			h->e[h->n - 1].t.seq = 1;
		}
	}
}

__attribute__((noinline)) static void hg_held_seq_enter_slow(struct hg_lock *l)
{
	hg_held_seq_enter(l, HG_HELD_LOCK, HG_HTM_OFF);
}

static inline void hg_held_push(struct hg_lock *l, struct hg_site_rec *rec, unsigned how,
    enum hg_htm_mode mode)
{
	struct hg_held *h = &hg_held;
	if (HG_UNLIKELY(h->n == HG_HELD_MAX)) {
		/*
		 * Deeper nesting than we track: only a LOCK entry gets here (the
		 * acquire paths refuse to speculate at this depth, see
		 * hg_lock_acquire_slow).  Untracked: the mutex's owner field
		 * proves it at release.
		 */
		hg_atomic_store_relaxed32(&l->mutex.owner, hg_thread_id());
		return;
	}
	struct hg_held_entry *e = &h->e[h->n++];
	hg_held_set(e, l, rec, (struct hg_held_tag){ (uint8_t)how, (uint8_t)mode, 0,
		(uint8_t)(how == HG_HELD_LOCK && rec->t0 != 0 ? HG_MARK_TIMED : 0) });
	if (how == HG_HELD_SUB || (how == HG_HELD_SPEC && mode == HG_HTM_RTM))
		h->in_rtm++;
}

/*
 * The fast paths: no transaction open, the site's record cached, no cost
 * sample open, no timeline being recorded (the slow path opens the
 * section, engine/trace.h), and either
 *   - lock: elision off for this lock (by the process mode or forced with
 *     hg_lock_set_mode()), or mode rtm with the site settled on the lock
 *     and quiet (hg_policy_lock_fast; a lock without the cost comparison
 *     takes the slow path there, whose engine counts down the re-probe);
 *     the lock must be free;
 *   - speculate: mode rtm, the site on HTM, no skip, quiet (or the lock
 *     not cost-aware), the section not timed and no PMU counting: one
 *     XBEGIN here; its abort goes on in the engine's loop.
 * Everything else goes to the slow path, which starts over.
 */
static void hg_lock_acquire_slow(struct hg_lock *l, uint64_t site);
static void hg_lock_spec_fast(struct hg_lock *l, struct hg_site_rec *rec, bool sampled);

/*
 * A lock-tier section the policy times (hg_policy_lock_pick said
 * sampled), just pushed: the policy's stamp, and the mark its release
 * needs when the holding time counts (more than one thread).
 */
__attribute__((noinline)) static void hg_lock_cost_entered(struct hg_site_rec *rec,
    enum hg_tier picked)
{
	hg_policy_lock_entered(rec, picked, HG_TIER_LOCK);
	if (hg_policy_open.rec == rec && hg_policy_open.t1 != 0)
		hg_held.e[hg_held.n - 1].t.marked |= HG_MARK_COST;
}

/*
 * The lock tier's contended path (and every lock-tier section of the slow
 * path): sampled like the fast path, since two cycle reads on every
 * contended acquisition would cost more than a short section (engine/
 * engine.h, HG_TIME_WEIGHT).  sampled: the policy times this section.
 */
__attribute__((noinline)) static void hg_lock_take(struct hg_lock *l, struct hg_site_rec *rec,
    bool sampled)
{
	hg_counter_add(&rec->st.acquisitions, 1);
	bool timed = hg_engine_time_sampled(rec);
	uint64_t t = timed ? hg_cycles() : 0;
	hg_mutex_acquire_unowned(&l->mutex);
	if (HG_UNLIKELY(timed)) {
		hg_engine_time_wait(rec, &t, HG_TIME_WEIGHT);
		rec->t0 = t; /* held from here to hg_lock_release */
	}
	hg_held_push(l, rec, HG_HELD_LOCK, HG_HTM_OFF);
	if (sampled)
		hg_lock_cost_entered(rec, HG_TIER_LOCK);
	hg_held_seq_enter(l, HG_HELD_LOCK, HG_HTM_OFF);
}

/*
 * The lock tier's fast path once the site's checks passed: take a free
 * lock with one CAS (a plain store while the process is single-threaded)
 * and push its entry.  Inlined, so that the path of mode off has no call
 * and no stack frame: every rare case is one out-of-line tail call.
 */

/* The rare parts of a fast-path entry just pushed: timed, sampled, hg_run's lock. */
__attribute__((noinline)) static void hg_lock_fast_rare(struct hg_lock *l,
    struct hg_site_rec *rec, bool timed, bool sampled)
{
	if (timed) {
		rec->t0 = hg_cycles(); /* held from here; no wait (the CAS won) */
		hg_held.e[hg_held.n - 1].t.marked |= HG_MARK_TIMED;
	}
	if (sampled)
		hg_lock_cost_entered(rec, HG_TIER_LOCK);
	/* After the acquiring CAS, never before: see hg_lock_enable_stm(). */
	if (hg_atomic_load_relaxed8(&l->stm_used))
		hg_held_seq_enter_slow(l);
}

/* The lock was just taken on the fast path: count, push, then the rare parts. */
static inline void hg_lock_fast_held(struct hg_lock *l, struct hg_site_rec *rec, bool sampled)
{
	struct hg_held *h = &hg_held;
	bool timed = hg_engine_count_sampled(rec);
	struct hg_held_entry *e = &h->e[h->n++];
	hg_held_set(e, l, rec, (struct hg_held_tag){ HG_HELD_LOCK, HG_HTM_OFF, 0, 0 });
	if (HG_UNLIKELY(timed | sampled | hg_atomic_load_relaxed8(&l->stm_used)))
		hg_lock_fast_rare(l, rec, timed, sampled);
}

/* Takes a free lock with one CAS (a plain store while single-threaded). */
static inline bool hg_lock_fast_cas(struct hg_lock *l)
{
	uint32_t w = 0;
	if (hg_single_threaded() && hg_atomic_load_relaxed32(&l->mutex.word) == 0) {
		hg_atomic_store_relaxed32(&l->mutex.word, HG_MUTEX_LOCKED);
		return true;
	}
	/* acquire: pairs with the release in hg_lock_release() / hg_mutex_unlock() */
	return hg_atomic_cas_acquire32(&l->mutex.word, &w, HG_MUTEX_LOCKED);
}

static inline void hg_lock_fast_lock(struct hg_lock *l, struct hg_site_rec *rec, bool sampled)
{
	if (HG_UNLIKELY(!hg_lock_fast_cas(l))) {
		hg_lock_take(l, rec, sampled);
		return;
	}
	hg_lock_fast_held(l, rec, sampled);
}

/* The hint was stale: undo the CAS of hg_lock_acquire(), then the slow path. */
__attribute__((noinline)) static void hg_lock_acquire_stale(struct hg_lock *l,
    struct hg_site_rec *rec, uint64_t site)
{
	rec->lock_off = 0;
	hg_mutex_release_owned(&l->mutex);
	hg_lock_acquire_slow(l, site);
}

/* The fast paths of a lock whose mode is not off (see above hg_lock_acquire_slow). */
__attribute__((noinline)) static void hg_lock_acquire_elided(struct hg_lock *l, uint64_t site,
    struct hg_site_rec *rec, enum hg_htm_mode mode)
{
	bool sampled = false;
	if (mode != HG_HTM_RTM || rec->pol.skip != 0) {
		hg_lock_acquire_slow(l, site);
		return;
	}
	enum hg_tier t;
	if (l->cost_off) {
		/* A site on the lock goes through the engine, whose countdown
		 * re-probes it. */
		if (hg_policy_open.rec != NULL || rec->pol.tier != HG_TIER_HTM) {
			hg_lock_acquire_slow(l, site);
			return;
		}
		t = HG_TIER_HTM;
	} else {
		t = hg_policy_lock_fast(rec);
		if (t == HG_TIER_COUNT)
			t = hg_policy_lock_pick(rec, &sampled);
	}
	if (t == HG_TIER_HTM)
		hg_lock_spec_fast(l, rec, sampled);
	else
		hg_lock_fast_lock(l, rec, sampled);
}

/*
 * The hint's tag of a lock: 16 bits of its address above the line offset.
 * Two locks may share a tag; the fast path checks the id after its CAS.
 */
static inline uint16_t hg_lock_tag(const struct hg_lock *l)
{
	return (uint16_t)((uintptr_t)l >> 6);
}

_Static_assert(offsetof(struct hg_site_rec, st.commits[HG_TIER_LOCK]) + sizeof(uint64_t) <= 64,
    "the lock tier's fast path touches one line of its site record");

void hg_lock_acquire(struct hg_lock *l, uint64_t site)
{
	struct hg_held *h = &hg_held;
	struct hg_site_rec *rec = hg_site_last;
	if (HG_UNLIKELY(h->in_rtm != 0 || h->n >= HG_HELD_MAX || !rec || rec->site != site ||
	        hg_trace_on())) {
		hg_lock_acquire_slow(l, site);
		return;
	}
	bool open = hg_policy_open.rec != NULL;
	bool off = rec->lock_off;
	if (HG_LIKELY(rec->lock_tag == hg_lock_tag(l) && !open &&
	        (off || (rec->pol.tier == HG_TIER_LOCK && rec->pol.lquiet > 0)))) {
		/*
		 * A lock last seen in mode off, or a site settled on the lock
		 * with quiet sections left (mode rtm, cost compared): CAS first,
		 * then check the lock's fields, so the line is fetched once, for
		 * writing (a read first would fetch it shared from the last
		 * holder, and the CAS again).  Stale (mode changed, another lock
		 * with this tag): undo.
		 */
		if (HG_LIKELY(hg_lock_fast_cas(l))) {
			enum hg_htm_mode m = hg_lock_mode(l);
			if (HG_LIKELY(rec->lock_id == l->id &&
			        (off ? m == HG_HTM_OFF : m == HG_HTM_RTM && !l->cost_off))) {
				if (!off)
					rec->pol.lquiet--; /* as hg_policy_lock_fast */
				hg_lock_fast_held(l, rec, false);
				return;
			}
			hg_lock_acquire_stale(l, rec, site);
			return;
		}
	}
	if (HG_UNLIKELY(rec->lock_id != l->id)) {
		hg_lock_acquire_slow(l, site);
		return;
	}
	enum hg_htm_mode mode = hg_lock_mode(l);
	if (HG_UNLIKELY(mode != HG_HTM_OFF)) {
		hg_lock_acquire_elided(l, site, rec, mode);
		return;
	}
	if (HG_UNLIKELY(open)) {
		hg_lock_acquire_slow(l, site); /* closes the open sample */
		return;
	}
	rec->lock_tag = hg_lock_tag(l); /* the hint again, after a mode was set and reset */
	rec->lock_off = 1;
	hg_lock_fast_lock(l, rec, false);
}

/*
 * The speculative fast path (see hg_lock_acquire); sampled: the policy
 * times this section.  An HTM probe of a site on the lock tier goes
 * through the engine's entry, whose first attempt is the probe's one.
 */
__attribute__((noinline)) static void hg_lock_spec_fast(struct hg_lock *l, struct hg_site_rec *rec,
    bool sampled)
{
	struct hg_held *h = &hg_held;
	enum hg_tier got;
	if (HG_UNLIKELY(rec->pol.tier != HG_TIER_HTM)) {
		got = hg_engine_enter(l, &hg_lock_ops, &l->mutex.word, HG_HTM_RTM, rec);
		goto entered;
	}
	bool timed = hg_engine_time_sampled(rec);
	uint32_t s = HG_STATUS_STARTED;
	/* Relaxed: a switch set at start-up (pmu/pmu.h). */
	if (HG_LIKELY(!timed && hg_atomic_load_relaxed32(&hg_pmu_on) == 0)) {
		/* The subscription of hg_spec_begin and hg_lock_op_sub_extra. */
		unsigned n = h->n;
		hg_held_set(&h->e[n], l, rec, (struct hg_held_tag){ HG_HELD_SPEC, HG_HTM_RTM, 0, HG_MARK_UNCOUNTED });
		h->n = n + 1;
		h->in_rtm = 1;
		s = hg_htm_begin_sub(&l->mutex.word, &l->stm_seq);
		if (hg_htm_begin_success(s))
			return;
		h->n = n;
		h->in_rtm = 0;
		hg_counter_add(&rec->st.attempts, 1);
	}
	hg_counter_add(&rec->st.acquisitions, 1);
	got = hg_engine_enter_counted(l, &hg_lock_ops, &l->mutex.word, HG_HTM_RTM, rec, timed, s);
entered:;
	unsigned how = got == HG_TIER_HTM ? HG_HELD_SPEC : HG_HELD_LOCK;
	hg_held_push(l, rec, how, HG_HTM_RTM);
	if (how == HG_HELD_LOCK && sampled)
		hg_lock_cost_entered(rec, HG_TIER_HTM);
	hg_held_seq_enter(l, how, HG_HTM_RTM);
}

__attribute__((noinline)) static void hg_lock_acquire_slow(struct hg_lock *l, uint64_t site)
{
	if (HG_UNLIKELY(hg_held.in_rtm > 0) && hg_rtm_active()) {
		/*
		 * Nested inside a running RTM transaction: subscribe only.  A held
		 * inner lock is not the outer lock's doing: HG_ABORT_NESTED_BUSY,
		 * not HG_ABORT_BUSY, so the outer engine does not wait on its own
		 * (free) lock word.  Too deep to track: the section re-runs on
		 * real locks, where the overflow is handled.
		 */
		if (HG_UNLIKELY(hg_held.n == HG_HELD_MAX))
			hg_htm_abort(HG_ABORT_IRREVOCABLE);
		if (hg_atomic_load_relaxed32(&l->mutex.word) != 0)
			hg_htm_abort(HG_ABORT_NESTED_BUSY);
		if (hg_lock_op_sub_extra(l))
			hg_htm_abort(HG_ABORT_STM_BUSY);
		hg_held_push(l, NULL, HG_HELD_SUB, HG_HTM_RTM);
		return;
	}
	enum hg_htm_mode mode = hg_lock_mode(l);
	/* No transaction runs here; one begun at this depth could not be tracked. */
	if (HG_UNLIKELY(hg_held.n == HG_HELD_MAX))
		mode = HG_HTM_OFF;
	struct hg_site_rec *rec = hg_site_rec_get(l->id, site);
	rec->lock_tag = hg_lock_tag(l);
	rec->lock_off = hg_lock_mode(l) == HG_HTM_OFF;
	/* Cost-aware in mode rtm: the policy picks the tier (and may time it). */
	bool costed = mode == HG_HTM_RTM && !l->cost_off;
	bool sampled = false;
	enum hg_tier picked = HG_TIER_HTM;
	if (costed)
		picked = hg_policy_lock_pick(rec, &sampled);
	else
		hg_policy_close_open();
	if (HG_LIKELY(mode == HG_HTM_OFF) || picked == HG_TIER_LOCK) {
		hg_lock_take(l, rec, sampled);
		return;
	}
	unsigned how = HG_HELD_LOCK;
	if (hg_engine_enter(l, &hg_lock_ops, &l->mutex.word, mode, rec) == HG_TIER_HTM)
		how = HG_HELD_SPEC;
	hg_held_push(l, rec, how, mode);
	if (how == HG_HELD_LOCK) {
		if (HG_UNLIKELY(hg_sim_on))
			hg_held.e[hg_held.n - 1].t.marked |= HG_MARK_SIM;
		if (sampled)
			hg_lock_cost_entered(rec, HG_TIER_HTM);
	}
	hg_held_seq_enter(l, how, mode);
}

int hg_lock_tryacquire(struct hg_lock *l, uint64_t site)
{
	enum hg_htm_mode mode = hg_lock_mode(l);

	if (hg_held.in_rtm > 0 && hg_rtm_active()) {
		/*
		 * POSIX trylock inside an elided section: the lock word cannot
		 * tell whether this very thread "holds" l speculatively, so give
		 * up the enclosing transaction; its section re-runs on real locks.
		 */
		hg_htm_abort(HG_ABORT_NESTED_TRYLOCK);
	}
	struct hg_site_rec *rec = hg_site_rec_get(l->id, site);
	if (hg_emu_depth() > 0 || mode == HG_HTM_OFF || hg_held.n == HG_HELD_MAX) {
		/* Inside an emulated section every lock is real: plain trylock. */
		hg_counter_add(&rec->st.acquisitions, 1);
		if (!hg_mutex_tryacquire_unowned(&l->mutex))
			return EBUSY;
		hg_held_push(l, rec, HG_HELD_LOCK, mode);
		hg_held_seq_enter(l, HG_HELD_LOCK, mode);
		return 0;
	}
	int t = hg_engine_try(l, &hg_lock_ops, &l->mutex.word, mode, rec);
	if (t < 0)
		return EBUSY;
	unsigned how = t == HG_TIER_HTM ? HG_HELD_SPEC : HG_HELD_LOCK;
	hg_held_push(l, rec, how, mode);
	if (HG_UNLIKELY(hg_sim_on) && how == HG_HELD_LOCK)
		hg_held.e[hg_held.n - 1].t.marked |= HG_MARK_SIM;
	hg_held_seq_enter(l, how, mode);
	return 0;
}

static void hg_bad_release(struct hg_lock *l)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	static uint32_t *seen;
	static unsigned nseen, capseen;
	bool first = true;

	struct hg_site_rec *rec = hg_site_rec_get(l->id, 0);
	hg_counter_add(&rec->st.bad_releases, 1);
	pthread_mutex_lock(&m);
	for (unsigned i = 0; i < nseen; i++)
		if (seen[i] == l->id)
			first = false;
	if (first && nseen == capseen) {
		unsigned cap = capseen ? capseen * 2 : 16;
		uint32_t *n = realloc(seen, cap * sizeof *n);
		if (n) {
			seen = n;
			capseen = cap;
		}
	}
	if (first && nseen < capseen)
		seen[nseen++] = l->id;
	pthread_mutex_unlock(&m);
	if (first)
		hg_warn("hg_lock_release: lock \"%s\" released by a thread that does not hold it "
		        "(ignored; counted as bad_releases in the report)",
		    hg_lock_name(l->id));
}

/* Removes and returns l's entry (the top one, usually); false if l is not held. */
static inline bool hg_held_pop(struct hg_held *h, const struct hg_lock *l, struct hg_held_entry *out)
{
	unsigned n = h->n;
	if (HG_LIKELY(n > 0 && h->e[n - 1].lock == l)) {
		*out = h->e[n - 1];
		h->n = n - 1;
		return true;
	}
	for (unsigned i = n; i-- > 0;)
		if (h->e[i].lock == l) {
			*out = h->e[i];
			memmove(&h->e[i], &h->e[i + 1], (n - 1 - i) * sizeof *out);
			h->n = n - 1;
			return true;
		}
	return false;
}

static int hg_lock_release_slow(struct hg_lock *l);

/*
 * Release of the innermost entry e (of l) when it is the only entry of the
 * running RTM transaction on a lock hg_run does not use; otherwise the
 * slow path.
 */
__attribute__((noinline)) static int hg_lock_release_spec(struct hg_lock *l,
    struct hg_held_entry *e, unsigned n)
{
	struct hg_held *h = &hg_held;
	if (e->t.mode == HG_HTM_RTM && h->in_rtm == 1 && !hg_atomic_load_relaxed8(&l->stm_used) &&
	    !hg_trace_on() && HG_LIKELY(hg_htm_commit_active())) {
		/* Committed: the stack is plain memory again. */
		struct hg_site_rec *rec = e->rec;
		unsigned uncounted = e->t.marked & HG_MARK_UNCOUNTED;
		h->n = n - 1;
		h->in_rtm = 0;
		if (HG_LIKELY(uncounted)) {
			/* hg_engine_note_commit, untimed, with the acquisition
			 * and its attempt */
			hg_counter_add(&rec->st.acquisitions, 1);
			hg_counter_add(&rec->st.attempts, 1);
			hg_counter_add(&rec->st.commits[HG_TIER_HTM], 1);
			hg_policy_commit(rec);
		} else {
			hg_engine_note_commit(rec, HG_TIER_HTM);
		}
		return 0;
	}
	/* Not in a transaction, or more to do than a commit. */
	return hg_lock_release_slow(l);
}

/*
 * The fast paths: l is the innermost entry, and either held on the real
 * lock with nothing to measure or undo (no stm_seq, no mark, untimed), or
 * speculated (hg_lock_release_spec).  The first has no call and no stack
 * frame.
 */
int hg_lock_release(struct hg_lock *l)
{
	struct hg_held *h = &hg_held;
	unsigned n = h->n;
	if (HG_LIKELY(n > 0)) {
		struct hg_held_entry *e = &h->e[n - 1];
		if (HG_LIKELY(e->lock == l)) {
			if (HG_LIKELY(e->t.how == HG_HELD_LOCK && !e->t.seq && !e->t.marked &&
			        !hg_trace_on())) {
				hg_counter_add(&e->rec->st.commits[HG_TIER_LOCK], 1);
				h->n = n - 1;
				/* The release of hg_mutex_release_owned(), which also
				 * hands the lock to a waiter that came. */
				hg_mutex_release_owned(&l->mutex);
				return 0;
			}
			if (e->t.how == HG_HELD_SPEC)
				return hg_lock_release_spec(l, e, n);
		}
	}
	return hg_lock_release_slow(l);
}

__attribute__((noinline)) static int hg_lock_release_slow(struct hg_lock *l)
{
	struct hg_held *h = &hg_held;
	struct hg_held_entry e;
	if (HG_UNLIKELY(!hg_held_pop(h, l, &e))) {
		if (hg_rtm_active())
			hg_htm_abort(HG_ABORT_IRREVOCABLE); /* report it outside */
		/* Held beyond the tracked depth?  The mutex knows its owner. */
		if (hg_mutex_unlock(&l->mutex) == 0)
			return 0;
		hg_bad_release(l);
		return EPERM;
	}
	if (e.t.seq)
		hg_stm_seq_exit(l); /* before the lock: see hg_held_seq_enter() */
	if (HG_LIKELY(e.t.how == HG_HELD_LOCK)) {
		if (HG_UNLIKELY(e.t.marked & HG_MARK_SIM))
			hg_sim_mark_end();
		uint64_t t = hg_engine_time_stop(e.rec, HG_TIER_LOCK); /* before the release */
		hg_mutex_release_owned(&l->mutex);
		if (HG_UNLIKELY(e.t.marked & HG_MARK_COST))
			hg_policy_lock_released(e.rec);
		hg_engine_time_released(e.rec, t, e.t.mode == HG_HTM_EMU ? 1 : HG_TIME_WEIGHT);
		hg_counter_add(&e.rec->st.commits[HG_TIER_LOCK], 1);
		hg_trace_close(e.rec, HG_TIER_LOCK, false);
		return 0;
	}
	switch (e.t.how) {
	case HG_HELD_SUB:
	case HG_HELD_SPEC:
		if (e.t.how == HG_HELD_SPEC && e.t.mode != HG_HTM_RTM) {
			hg_engine_exit(l, &hg_lock_ops, (enum hg_htm_mode)e.t.mode, e.rec, HG_TIER_HTM);
			return 0;
		}
		/*
		 * RTM: an uninstrumented section may have written anything, so on
		 * a lock hg_run() uses it moves stm_seq by 2 (inside the
		 * transaction, visible atomically with its data at XEND) and
		 * software readers revalidate, as for hg_run's hardware writers;
		 * only while a software section runs (fallback/stm.h).
		 */
		if (hg_atomic_load_relaxed8(&l->stm_used) && hg_stm_active_any())
			hg_atomic_store_relaxed32(&l->stm_seq, hg_atomic_load_relaxed32(&l->stm_seq) + 2);
		if (e.t.how == HG_HELD_SPEC) {
			h->rtm_rec = e.rec;
			h->rtm_uncounted = e.t.marked & HG_MARK_UNCOUNTED;
		}
		/*
		 * The transaction commits when its last entry (the SPEC one or a
		 * SUB one, in whatever order they are released) goes.
		 */
		if (--h->in_rtm > 0)
			return 0;
		if (HG_UNLIKELY(!hg_htm_active())) {
			/* Only a corrupted stack gets here: never XEND outside a
			 * transaction (it would raise #GP). */
			hg_bad_release(l);
			return EPERM;
		}
		unsigned uncounted = h->rtm_uncounted;
		hg_htm_commit();
		if (uncounted) {
			hg_counter_add(&h->rtm_rec->st.acquisitions, 1);
			hg_counter_add(&h->rtm_rec->st.attempts, 1);
		}
		hg_engine_note_commit(h->rtm_rec, HG_TIER_HTM);
		hg_trace_close(h->rtm_rec, HG_TIER_HTM, false);
		return 0;
	default:
		return 0; /* HG_HELD_LOCK, handled above */
	}
}

void hg_lock_enable_stm(struct hg_lock *l)
{
	/* Acquire: pairs with the release store of 2 below, by whichever
	 * thread finished the pass-through. */
	if (hg_atomic_load_acquire8(&l->stm_used) == HG_STM_USED_READY)
		return;
	/*
	 * Publish the flag (0 -> ANNOUNCED; plain sections that take the mutex
	 * from now on join the stm_seq protocol), then pass through the real
	 * lock once: a plain section that read the flag as 0 took the mutex
	 * before us and has released it when we get it.  Only then may a
	 * software transaction start, so every thread that finds the flag
	 * ANNOUNCED makes the same pass before it goes on: being second to
	 * announce is no proof that the first finished waiting.  This relies on
	 * plain sections reading the flag after their acquiring CAS, which
	 * either precedes our acquisition (we wait for their release) or
	 * follows our release (and so sees the flag).
	 */
	uint8_t zero = 0;
	hg_atomic_cas_acq_rel8(&l->stm_used, &zero, HG_STM_USED_ANNOUNCED);
	hg_mutex_acquire_unowned(&l->mutex);
	hg_mutex_release_owned(&l->mutex);
	hg_atomic_store_release8(&l->stm_used, HG_STM_USED_READY);
}

bool hg_in_transaction(void)
{
	return hg_emu_depth() > 0 || (hg_rtm_ok && hg_htm_active());
}

int hg_lock_held_tier(const struct hg_lock *l)
{
	for (int i = (int)hg_held.n - 1; i >= 0; i--)
		if (hg_held.e[i].lock == l)
			return hg_held.e[i].t.how == HG_HELD_LOCK ? HG_TIER_LOCK : HG_TIER_HTM;
	return -1;
}

void hg_tx_abort(unsigned code)
{
	if (hg_rtm_ok && hg_htm_active())
		hg_htm_abort(code);
}
