/* SPDX-License-Identifier: MIT */
/*
 * engine/run.c - hg_run(): one section on any of the three tiers, and the
 * three-tier policy for instrumented sections.
 *
 * Tiers (docs/design.md, "The STM tier and the coexistence protocol"):
 *   HTM   hg_engine_enter() with the lock's mode; the subscription reads the
 *         lock word and, through subscribe_extra, stm_seq (must be even).  A
 *         hardware writer adds 2 to stm_seq inside its transaction just
 *         before commit, so software readers revalidate.  Emulated HTM takes
 *         the real lock through the ops below and so acts as the lock tier.
 *   STM   fallback/stm.c, with randomized backoff and escalation to the lock
 *         tier after HG_RUN_STM_ESCALATE consecutive aborts.
 *   LOCK  the real lock, taken through the ops below, which also hold
 *         stm_seq odd for the whole section.
 *
 * Policy state per (lock, site, thread) lives in struct hg_run_site beside
 * the engine's struct hg_site_rec.  Its costs are whole hg_run sections
 * (aborted software attempts and waits included) plus the caller's work up
 * to its next section (hg_run_open), measured with the cycle counter
 * outside transactions; the engine's rec->cost[] samples only the
 * span it sees, so the two are kept apart and only hg_run's drive this
 * policy.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fallback/stm.h"
#include "base/atomic.h"
#include "engine/engine.h"
#include "htmgil/lock.h"
#include "htmgil/stm.h"

/* Consecutive software aborts before the section escalates to the lock. */
#define HG_RUN_STM_ESCALATE 8
/* Sections per cost probe of another tier. */
#define HG_RUN_PROBE_BURST 16
/* Probe sections run first and not counted: the tier's code and data warm up. */
#define HG_RUN_PROBE_WARM 4
#define HG_RUN_Q16 65536u
/* A tier must be this much cheaper (per mille) to win a cost comparison. */
#define HG_RUN_COST_MARGIN 1040
/*
 * A cost comparison decides only when the difference (margin included) is
 * at least this many standard errors; otherwise it measures another pair of
 * bursts, up to HG_RUN_PROBE_ROUNDS pairs, and an undecided comparison
 * keeps the site where it is.
 */
#define HG_RUN_COST_Z 3.0
#define HG_RUN_PROBE_ROUNDS 8

/* ----------------------------------------------------------- target ops */

/* The lock whose stm_seq this thread holds odd (lock tier, emulated HTM). */
static HG_TLS struct hg_lock *hg_run_seq_held;
/* Timed section: hg_run_op_lock adds the cycles it waited to hg_run_lock_wait. */
static HG_TLS bool hg_run_timing;
static HG_TLS uint64_t hg_run_lock_wait;

static void hg_run_op_lock(void *target)
{
	struct hg_lock *l = target;
	if (!hg_run_timing) {
		hg_mutex_lock(&l->mutex);
	} else if (!hg_mutex_trylock(&l->mutex)) {
		/* Only time spent waiting for another holder is waiting; the
		 * acquisition itself is part of the lock tier's cost. */
		uint64_t t0 = hg_cycles();
		hg_mutex_lock(&l->mutex);
		hg_run_lock_wait += hg_cycles() - t0;
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

static void hg_run_op_wait_free(void *target, unsigned spin_iters)
{
	struct hg_lock *l = target;
	hg_mutex_wait_free(&l->mutex, spin_iters);
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

/* --------------------------------------------------------- policy state */

/*
 * struct hg_run_site: the three-tier policy of one (lock, site) for one
 * thread.  Written only by that thread, outside transactions.
 *   tier      enum hg_tier the site runs on when adaptive
 *   left, fast  sections before the next probe of another tier: fast of
 *             them run on the fast path (hg_run_fast_grant()), then left
 *             through hg_run_pick()
 *   period    current probe period (reprobe_base .. reprobe_max, doubling
 *             each time a probe confirms the current tier)
 *   probe     tier being probed (HG_TIER_COUNT: none); probe_n sections of
 *             the burst done so far (the first HG_RUN_PROBE_WARM unsampled),
 *             their costs in probe_s
 *   cur_n, cur_s  the same for the HG_RUN_PROBE_BURST sections
 *             on the site's own tier just before a probe: the two bursts
 *             are compared side by side, each without its slowest quarter
 *             (preempted sections would otherwise decide), and outside
 *             the two bursts no section is timed for the policy
 *   rounds, acc  a cost comparison's pairs of bursts so far and their
 *             trimmed samples (count, sum, sum of squares) on each side: a
 *             comparison that the bursts cannot decide yet goes back to
 *             the site's tier for another burst, then probes the same tier
 *             again (see hg_run_verdict())
 *   from      the tier the last cost or re-probe win left (HG_TIER_COUNT:
 *             none); a win that goes back to it doubles the period, so
 *             two tiers of about the same cost cannot make a site flap at
 *             a fixed rate
 *   verify    the last cost win moved the site from `from` and is not
 *             confirmed yet: the next cost comparison with `from` must
 *             find the new tier cheaper, or the site goes back (a move
 *             back made by that check is not checked itself)
 *   stm_rate  decaying fraction of software attempts that aborted
 *   htm_fail  decaying fraction of HTM-tier sections that ended on the lock
 *             (both fixed point, 1.0 == HG_RUN_Q16; the policy's decay and
 *             demote_rate are converted into decay_q16/thr_q16 when the
 *             site starts or changes tier)
 */
struct hg_run_site {
	struct hg_site_rec *rec;
	uint8_t tier;
	uint8_t probe;
	uint8_t init;
	uint8_t flip;
	uint32_t left;
	uint32_t fast;
	uint32_t period;
	uint32_t samples;
	uint8_t from;
	uint8_t verify;
	uint8_t rounds; /* pairs of bursts measured so far in this comparison */
	uint32_t probe_n;
	uint32_t probe_s[HG_RUN_PROBE_BURST];
	uint32_t cur_n;
	uint32_t cur_s[HG_RUN_PROBE_BURST];
	double acc[2][3]; /* [own tier, probed tier][samples, sum, sum of squares] */
	uint64_t cost[HG_TIER_COUNT]; /* decaying cycles per hg_run section, by tier picked */
	uint32_t stm_rate;
	uint32_t htm_fail;
	uint32_t decay_q16;
	uint32_t thr_q16;
	struct hg_run_site *next;
};

#define HG_RUN_SITES 64
static HG_TLS struct hg_run_site *hg_run_sites[HG_RUN_SITES];
static HG_TLS struct hg_run_site *hg_run_last; /* most sections hit it */

/*
 * The open cost sample of this thread (hg_run_open == NULL: none).  A
 * sampled section's cost is the time from its entry to the thread's next
 * hg_run entry: the section, whatever its tier costs around it (policy
 * bookkeeping, the caller's work running colder or warmer) and the
 * caller's work up to the next section, which is the same on every tier.
 * The cycle counter is read once per sampled section, at entries, so a
 * counter that ticks coarsely (26 cycles a tick in some virtual machines)
 * or costs tens of nanoseconds to read weighs the same on every tier.
 *   open_t0     entry stamp of the open section
 *   open_sub    cycles to leave out: waits for other parties' write phases
 *               (STM probe) or for another holder of the lock (lock probe)
 *   open_hold   lock probe with other threads: its holding time times the
 *               parallelism (hg_run_parallelism()); the cost is at least that
 *   open_probe  the sample belongs to a probe burst (else to the burst on
 *               the site's own tier)
 */
static HG_TLS struct hg_run_site *hg_run_open;
static HG_TLS uint64_t hg_run_open_t0, hg_run_open_sub, hg_run_open_hold;
static HG_TLS bool hg_run_open_probe;

static void hg_run_sites_free(void *p)
{
	(void)p;
	for (unsigned i = 0; i < HG_RUN_SITES; i++) {
		struct hg_run_site *s = hg_run_sites[i], *n;
		for (; s; s = n) {
			n = s->next;
			free(s);
		}
		hg_run_sites[i] = NULL;
	}
	hg_run_last = NULL;
	hg_run_open = NULL;
}

static pthread_key_t hg_run_key;
static pthread_once_t hg_run_key_once = PTHREAD_ONCE_INIT;
static HG_TLS int hg_run_key_set;

static void hg_run_key_init(void)
{
	if (pthread_key_create(&hg_run_key, hg_run_sites_free) != 0)
		hg_warn("cannot create the hg_run thread key; policy state will leak at thread exit");
}

static struct hg_run_site *hg_run_site_lookup(struct hg_site_rec *rec)
{
	unsigned h = (unsigned)(((uintptr_t)rec >> 6) & (HG_RUN_SITES - 1));
	struct hg_run_site *s;
	for (s = hg_run_sites[h]; s; s = s->next)
		if (s->rec == rec)
			return s;
	if (!hg_run_key_set) {
		pthread_once(&hg_run_key_once, hg_run_key_init);
		pthread_setspecific(hg_run_key, (void *)1);
		hg_run_key_set = 1;
	}
	/* Own cache lines: the fast path writes it on every section. */
	size_t sz = (sizeof(*s) + HG_CACHELINE - 1) & ~(size_t)(HG_CACHELINE - 1);
	s = aligned_alloc(HG_CACHELINE, sz);
	if (s)
		memset(s, 0, sz);
	if (!s) {
		hg_warn("out of memory allocating hg_run policy state");
		abort();
	}
	s->rec = rec;
	s->probe = HG_TIER_COUNT;
	s->from = HG_TIER_COUNT;
	s->next = hg_run_sites[h];
	hg_run_sites[h] = s;
	return s;
}

static inline struct hg_run_site *hg_run_site_get(struct hg_site_rec *rec)
{
	struct hg_run_site *s = hg_run_last;
	if (HG_LIKELY(s && s->rec == rec))
		return s;
	s = hg_run_site_lookup(rec);
	hg_run_last = s;
	return s;
}

/* ------------------------------------------------------------- forcing */

static uint32_t hg_run_force_word; /* enum hg_run_tier; relaxed: a setting */
static pthread_once_t hg_run_env_once = PTHREAD_ONCE_INIT;
/* 1 once HTMGIL_RUN_TIER was read (release in hg_run_env_init, acquire in
 * hg_run_env_check), so the per-section check is one load. */
static uint32_t hg_run_env_done;

static void hg_run_env_init(void)
{
	const char *v = getenv("HTMGIL_RUN_TIER");
	if (v && *v) {
		static const char *const names[] = { "adaptive", "htm", "stm", "lock" };
		unsigned i;
		for (i = 0; i < 4; i++)
			if (strcmp(v, names[i]) == 0)
				break;
		if (i < 4)
			hg_atomic_store_relaxed32(&hg_run_force_word, i);
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

void hg_run_force(enum hg_run_tier t)
{
	hg_run_env_check();
	if ((unsigned)t > HG_RUN_LOCK) {
		hg_warn("hg_run_force(%u): not a tier; keeping the current setting", (unsigned)t);
		return;
	}
	hg_atomic_store_relaxed32(&hg_run_force_word, (uint32_t)t);
}

static HG_TLS int hg_run_force_tls = -1;

void hg_run_force_thread(int t)
{
	if (t < -1 || t > (int)HG_RUN_LOCK) {
		hg_warn("hg_run_force_thread(%d): not a tier; keeping the current setting", t);
		return;
	}
	hg_run_force_tls = t;
}

enum hg_run_tier hg_run_forced(void)
{
	if (hg_run_force_tls >= 0)
		return (enum hg_run_tier)hg_run_force_tls;
	hg_run_env_check();
	return (enum hg_run_tier)hg_atomic_load_relaxed32(&hg_run_force_word);
}

/* --------------------------------------------------------------- tiers */

static enum hg_htm_mode hg_run_mode(const struct hg_lock *l)
{
	return l->mode_set ? (enum hg_htm_mode)l->mode : hg_htm_mode();
}

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
	if (got == HG_TIER_HTM && mode == HG_HTM_RTM && tx->pub.wrote) {
		/*
		 * Inside the hardware transaction (its write lands at commit,
		 * atomically with the section's): stm_seq was even at begin and
		 * is in the read set, so a plain +2 keeps it even and makes every
		 * software reader that saw the old value revalidate.
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
	for (;;) {
		if (sigsetjmp(tx->restart, 0) == 0) {
			hg_stm_begin(tx, l);
			body(&tx->pub, arg);
			if (hg_stm_commit(tx)) {
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
			return hg_run_direct(tx, l, rec, body, arg, HG_HTM_OFF);
		}
		hg_stm_backoff(tx, n);
	}
}

/* ---------------------------------------------------------------- policy */

/*
 * The parallelism a lock-tier choice gives up: threads that use hg_run,
 * at most the CPUs online.  The comparison needs per-thread costs of
 * "everyone on this tier".  A site's own tier is measured as it runs
 * (contention included).  A probe runs while the other threads stay where
 * they are, so it is corrected: a lock-tier probe section is charged its
 * holding time times this parallelism (the lock would serialize them), a
 * software probe section its time without waits for other parties' write
 * phases (those would vanish).  Otherwise a thread on the STM that probes
 * the lock measures an uncontended lock.  It assumes those threads use the
 * same lock.
 */
static unsigned hg_run_parallelism(void)
{
	static uint32_t ncpu; /* relaxed: idempotent cache */
	uint32_t c = hg_atomic_load_relaxed32(&ncpu);
	if (!c) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		c = n > 0 ? (uint32_t)n : 1;
		hg_atomic_store_relaxed32(&ncpu, c);
	}
	unsigned t = hg_stm_thread_count();
	return t < 1 ? 1 : t > c ? c : t;
}

static void hg_run_cost_note(uint64_t *c, uint64_t dt)
{
	/* Decay 1/16, integer cycles. */
	*c = *c ? *c - (*c >> 4) + (dt >> 4) : dt;
}

static void hg_run_policy_load(struct hg_run_site *rs)
{
	double d = hg_policy_now.decay > 0 ? hg_policy_now.decay : 1.0 / 16;
	double t = hg_policy_now.demote_rate > 0 ? hg_policy_now.demote_rate : 0.5;
	rs->decay_q16 = (uint32_t)(d * HG_RUN_Q16 + 0.5);
	rs->thr_q16 = (uint32_t)(t * HG_RUN_Q16 + 0.5);
}

/* rate += decay * (sample - rate), fixed point; sample in [0, HG_RUN_Q16]. */
static inline void hg_run_rate(uint32_t *rate, uint32_t sample, uint32_t decay)
{
	int64_t r = *rate;
	r += (((int64_t)sample - r) * decay) >> 16;
	*rate = r < 0 ? 0 : r > HG_RUN_Q16 ? HG_RUN_Q16 : (uint32_t)r;
}

static void hg_run_site_init(struct hg_run_site *rs, enum hg_htm_mode mode)
{
	hg_run_policy_load(rs);
	rs->tier = mode != HG_HTM_OFF ? HG_TIER_HTM : HG_TIER_STM;
	/* Without a hardware tier the site starts on the STM: the engine's
	 * record starts there too (nothing was demoted, nothing is counted). */
	if (rs->tier == HG_TIER_STM && hg_atomic_load_relaxed32(&rs->rec->tier) == HG_TIER_HTM)
		hg_atomic_store_relaxed32(&rs->rec->tier, HG_TIER_STM);
	rs->period = hg_policy_now.reprobe_base ? hg_policy_now.reprobe_base : 64;
	rs->left = rs->period;
	rs->probe = HG_TIER_COUNT;
	rs->init = 1;
}

/* The tier the next adaptive section runs on. */
static enum hg_tier hg_run_pick(struct hg_run_site *rs, enum hg_htm_mode mode)
{
	if (HG_UNLIKELY(!rs->init))
		hg_run_site_init(rs, mode);
	rs->left += rs->fast;
	rs->fast = 0;
	if (rs->tier == HG_TIER_HTM && mode == HG_HTM_OFF)
		rs->tier = HG_TIER_STM; /* the lock's mode changed under us */
	if (rs->probe != HG_TIER_COUNT)
		return rs->probe;
	if (rs->left > 0 && --rs->left > 0)
		return rs->tier;
	/* Start a probe burst: down to the lock from STM (cost check), up from
	 * the lock to STM, up from STM to HTM when a mode allows it.  A cost
	 * comparison not yet decided probes the same tier again. */
	if (rs->rounds > 0 && rs->tier != HG_TIER_HTM) {
		rs->probe = rs->tier == HG_TIER_STM ? HG_TIER_LOCK : HG_TIER_STM;
		rs->probe_n = 0;
		return rs->probe;
	}
	switch (rs->tier) {
	case HG_TIER_STM:
		/* Alternate: measure the lock, then (if HTM exists) try HTM. */
		rs->flip ^= 1;
		rs->probe = (mode != HG_HTM_OFF && rs->flip) ? HG_TIER_HTM : HG_TIER_LOCK;
		break;
	case HG_TIER_LOCK:
		/* Alternate: the STM, then (if HTM exists) HTM. */
		rs->flip ^= 1;
		rs->probe = (mode != HG_HTM_OFF && rs->flip) ? HG_TIER_HTM : HG_TIER_STM;
		break;
	default:
		rs->left = rs->period;
		return rs->tier;
	}
	rs->probe_n = 0;
	if (rs->probe == HG_TIER_STM)
		hg_counter_add(&rs->rec->st.reprobes, 1);
	/* An HTM probe goes through the engine's own re-probe (it counts it),
	 * which it makes only once its countdown ran out. */
	if (rs->probe == HG_TIER_HTM)
		rs->rec->reprobe_left = 0;
	return rs->probe;
}

/* Forgets a cost comparison under way (its samples, its repeated probe). */
static void hg_run_comparison_reset(struct hg_run_site *rs)
{
	rs->rounds = 0;
	memset(rs->acc, 0, sizeof rs->acc);
}

/*
 * Moves the site to tier `to` and keeps the engine's record in step, so the
 * engine's own HTM/lock policy and the report agree with hg_run's choice.
 * The change is counted through the engine (hg_engine_demote/promote), as a
 * demotion or a promotion relative to where the engine's record stands;
 * nothing is counted when the engine already moved the record there (for
 * example when it promoted a site whose HTM re-probe committed).
 */
static void hg_run_switch(struct hg_run_site *rs, enum hg_tier to, enum hg_reason why)
{
	struct hg_site_rec *rec = rs->rec;
	uint32_t now = hg_atomic_load_relaxed32(&rec->tier);
	unsigned maxp = hg_policy_now.reprobe_max ? hg_policy_now.reprobe_max : 65536;
	bool back = to == rs->from;
	if (hg_run_open == rs)
		hg_run_open = NULL; /* measured on the tier being left */
	rs->from = why == HG_REASON_ABORT_RATE ? HG_TIER_COUNT : rs->tier;
	rs->verify = why != HG_REASON_ABORT_RATE && to != HG_TIER_HTM && rs->tier != HG_TIER_HTM;
	if ((uint32_t)to > now)
		hg_engine_demote(rec, to, why);
	else if ((uint32_t)to < now)
		hg_engine_promote(rec, to, why);
	rs->tier = (uint8_t)to;
	rs->fast = 0;
	rs->samples = 0;
	rs->cur_n = 0;
	hg_run_comparison_reset(rs);
	rs->stm_rate = 0;
	rs->htm_fail = 0;
	hg_run_policy_load(rs);
	/*
	 * An abort-rate change is a phase change: probe again soon.  A cost
	 * or re-probe win keeps the period, so two tiers of similar cost do
	 * not make a site flap between them (each flap puts the threads of a
	 * lock on different tiers for a while, which is slower than either).
	 * But the first probe after a win comes after reprobe_base sections:
	 * it checks the win, so a win by chance (a noisy spell on one side)
	 * costs that many sections on the slower tier, not a whole period.
	 */
	unsigned base = hg_policy_now.reprobe_base ? hg_policy_now.reprobe_base : 64;
	if (why == HG_REASON_ABORT_RATE)
		rs->period = base;
	else if (back)
		rs->period = rs->period < maxp / 2 ? rs->period * 2 : maxp;
	rs->left = rs->period < base ? rs->period : base;
}

/*
 * Adds a burst without its largest quarter to acc (count, sum, sum of
 * squares): a section preempted, or hit by an interrupt or another party's
 * cache misses, would otherwise decide (sorts s in place;
 * n <= HG_RUN_PROBE_BURST).
 */
static void hg_run_trim_add(uint32_t *s, uint32_t n, double acc[3])
{
	for (uint32_t i = 1; i < n; i++) {
		uint32_t v = s[i], j = i;
		for (; j > 0 && s[j - 1] > v; j--)
			s[j] = s[j - 1];
		s[j] = v;
	}
	uint32_t keep = n - n / 4;
	for (uint32_t i = 0; i < keep; i++) {
		acc[0] += 1;
		acc[1] += s[i];
		acc[2] += (double)s[i] * s[i];
	}
}

enum hg_run_verdict { HG_RUN_WIN, HG_RUN_LOSE, HG_RUN_MORE };

/*
 * Judges a cost comparison from the samples so far: d = own mean - probed
 * mean * margin, against the standard error of that difference.  The
 * probed tier wins when d is at least HG_RUN_COST_Z standard errors above
 * zero and loses when it is as far below; in between the bursts cannot
 * tell the tiers apart yet.  Sections whose cost varies a lot from one to
 * the next (a list walked to a random key) give 16-section means that
 * differ by a fifth between two bursts on the same tier; without this
 * test such a site flipped to the slower tier now and then and stayed
 * there for a whole period.  Runs once per burst, outside transactions.
 */
static enum hg_run_verdict hg_run_verdict(struct hg_run_site *rs)
{
	/* The probed side always holds a whole trimmed burst (12 samples). */
	const double *c = rs->acc[0], *p = rs->acc[1];
	double mp = p[1] / p[0];
	double mc, se2 = 0;
	if (c[0] >= 1) {
		mc = c[1] / c[0];
		if (c[0] >= 2) {
			double vc = c[2] / c[0] - mc * mc, vp = p[2] / p[0] - mp * mp;
			double m = HG_RUN_COST_MARGIN / 1000.0;
			se2 = (vc > 0 ? vc / c[0] : 0) + (vp > 0 ? vp / p[0] * m * m : 0);
		}
	} else {
		mc = (double)rs->cost[rs->tier]; /* no burst on the own tier */
		if (mc <= 0)
			return HG_RUN_WIN;
	}
	double d = mc - mp * HG_RUN_COST_MARGIN / 1000.0;
	if (d * d <= HG_RUN_COST_Z * HG_RUN_COST_Z * se2)
		return HG_RUN_MORE;
	return d > 0 ? HG_RUN_WIN : HG_RUN_LOSE;
}

static void hg_run_probe_done(struct hg_run_site *rs)
{
	enum hg_tier probed = rs->probe;
	unsigned maxp = hg_policy_now.reprobe_max ? hg_policy_now.reprobe_max : 65536;
	bool better, check = false;
	rs->probe = HG_TIER_COUNT;
	if (probed == HG_TIER_HTM) {
		/* An HTM probe wins when the hardware path committed. */
		rs->cur_n = 0;
		better = rs->htm_fail < rs->thr_q16;
	} else {
		hg_run_trim_add(rs->probe_s, rs->probe_n - HG_RUN_PROBE_WARM, rs->acc[1]);
		hg_run_trim_add(rs->cur_s, rs->cur_n, rs->acc[0]);
		rs->cur_n = 0;
		enum hg_run_verdict v = hg_run_verdict(rs);
		if (v == HG_RUN_MORE && ++rs->rounds < HG_RUN_PROBE_ROUNDS) {
			/* Another pair: a warm-up and a burst on the own tier,
			 * then the same tier is probed again. */
			rs->left = HG_RUN_PROBE_WARM + HG_RUN_PROBE_BURST + 1;
			rs->fast = 0;
			return;
		}
		hg_run_comparison_reset(rs);
		if (rs->verify && probed == rs->from) {
			/* The check of the last win: unless the bursts find the
			 * new tier cheaper, go back (an undecided check means
			 * the win was a noisy spell, not a difference).  Going
			 * back is not checked again, or two tiers that the
			 * bursts cannot tell apart would alternate. */
			check = true;
			rs->verify = 0;
			if (v == HG_RUN_MORE)
				v = HG_RUN_WIN;
		}
		better = v == HG_RUN_WIN;
	}
	if (better && (probed == HG_TIER_LOCK || probed < rs->tier)) {
		hg_run_switch(rs, probed, probed == HG_TIER_LOCK ? HG_REASON_COST : HG_REASON_REPROBE);
		if (check)
			rs->verify = 0;
		return;
	}
	/* The probe lost.  If the engine promoted its record on an HTM commit
	 * during the burst, put it back on this site's tier (counted). */
	if (hg_atomic_load_relaxed32(&rs->rec->tier) < rs->tier)
		hg_engine_demote(rs->rec, (enum hg_tier)rs->tier, HG_REASON_ABORT_RATE);
	rs->htm_fail = 0;
	rs->period = rs->period < maxp / 2 ? rs->period * 2 : maxp;
	rs->left = rs->period;
}

/* Closes the open cost sample at `now` (an hg_run entry of this thread). */
static void hg_run_sample_close(uint64_t now)
{
	struct hg_run_site *rs = hg_run_open;
	hg_run_open = NULL;
	uint64_t dt = now - hg_run_open_t0;
	dt = dt > hg_run_open_sub ? dt - hg_run_open_sub : 1;
	if (dt < hg_run_open_hold)
		dt = hg_run_open_hold;
	if (dt > UINT32_MAX)
		dt = UINT32_MAX;
	if (hg_run_open_probe) {
		/* Still in its burst: only this close ends a burst, and a tier
		 * switch drops the open sample (hg_run_switch()). */
		if (rs->probe_n >= HG_RUN_PROBE_WARM) {
			hg_run_cost_note(&rs->cost[rs->probe], dt);
			rs->probe_s[rs->probe_n - HG_RUN_PROBE_WARM] = (uint32_t)dt;
		}
		rs->probe_n++;
		if (rs->probe_n >= HG_RUN_PROBE_WARM + HG_RUN_PROBE_BURST)
			hg_run_probe_done(rs);
		return;
	}
	/* The burst on the site's own tier just before the probe. */
	if (rs->cur_n < HG_RUN_PROBE_BURST)
		rs->cur_s[rs->cur_n++] = (uint32_t)dt;
	hg_run_cost_note(&rs->cost[rs->tier], dt);
}

/* Rates and abort-driven demotions, right after each adaptive section. */
static void hg_run_account(struct hg_run_site *rs, enum hg_tier picked, enum hg_tier used,
    unsigned stm_aborts)
{
	struct hg_site_rec *rec = rs->rec;
	if (stm_aborts)
		hg_counter_add(&rec->st.stm_aborts, stm_aborts);
	if (picked == HG_TIER_STM) {
		/* Software abort rate: aborted attempts over attempts.  The common
		 * case (no abort, rate already 0) costs one test. */
		if (stm_aborts || rs->stm_rate) {
			uint32_t frac = stm_aborts ? (uint32_t)(((uint64_t)stm_aborts * HG_RUN_Q16) /
			    (stm_aborts + (used == HG_TIER_STM))) : 0;
			hg_run_rate(&rs->stm_rate, frac, rs->decay_q16);
		}
	} else if (picked == HG_TIER_HTM) {
		if (used != HG_TIER_HTM || rs->htm_fail)
			hg_run_rate(&rs->htm_fail, used != HG_TIER_HTM ? HG_RUN_Q16 : 0, rs->decay_q16);
	}
	if (rs->probe != HG_TIER_COUNT)
		return; /* a probe burst is judged by its cost when it ends */
	rs->samples++;
	const unsigned min = hg_policy_now.demote_min ? hg_policy_now.demote_min : 8;
	const uint32_t thr = rs->thr_q16;
	if (rs->tier == HG_TIER_HTM) {
		/* The engine demoting its record to the lock (abort rate or
		 * capacity) means the hardware tier failed this site: an
		 * instrumented section goes to the STM instead. */
		if (hg_atomic_load_relaxed32(&rec->tier) != HG_TIER_HTM ||
		    (rs->samples >= min && rs->htm_fail > thr))
			hg_run_switch(rs, HG_TIER_STM, HG_REASON_ABORT_RATE);
	} else if (rs->tier == HG_TIER_STM) {
		if (rs->samples >= min && rs->stm_rate > thr)
			hg_run_switch(rs, HG_TIER_LOCK, HG_REASON_ABORT_RATE);
	}
}

/*
 * After a section on the slow path: when the site is quiet (no probe, no
 * software aborts or hardware failures being tracked), the sections up to
 * the burst before the next probe may take the fast path, which runs the
 * site's tier and accounts nothing unless the section aborted or ended on
 * another tier.  A quiet site has no rate that a clean section could move,
 * so skipping the accounting changes no decision; only `samples` (the
 * demotion's minimum) then counts accounted sections.
 */
static inline void hg_run_fast_grant(struct hg_run_site *rs)
{
	uint32_t all = rs->left + rs->fast;
	if (rs->probe == HG_TIER_COUNT && (rs->stm_rate | rs->htm_fail) == 0 &&
	    all > HG_RUN_PROBE_BURST + 1) {
		rs->fast = all - (HG_RUN_PROBE_BURST + 1);
		rs->left = HG_RUN_PROBE_BURST + 1;
	} else {
		rs->fast = 0;
		rs->left = all;
	}
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

void hg_run(struct hg_lock *l, uint64_t site, hg_body_fn body, void *arg)
{
	struct hg_stm_tx *tx = hg_stm_self();
	if (HG_UNLIKELY(tx->depth > 0)) {
		hg_run_nested(tx, l, site, body, arg);
		return;
	}
	/* This entry ends the thread's open cost sample, if any. */
	uint64_t now = 0;
	if (HG_UNLIKELY(hg_run_open != NULL)) {
		now = hg_cycles();
		hg_run_sample_close(now);
	}
	if (HG_UNLIKELY(hg_atomic_load_acquire8(&l->stm_used) != HG_STM_USED_READY) && !hg_in_transaction())
		hg_lock_enable_stm(l);
	struct hg_site_rec *rec = hg_site_rec_get(l->id, site);
	enum hg_htm_mode mode = hg_run_mode(l);
	enum hg_run_tier forced = hg_run_forced();
	struct hg_run_site *rs = NULL;
	enum hg_tier picked;
	bool fast = false;
	switch (forced) {
	case HG_RUN_HTM: picked = HG_TIER_HTM; break;
	case HG_RUN_STM: picked = HG_TIER_STM; break;
	case HG_RUN_LOCK: picked = HG_TIER_LOCK; break;
	default:
		rs = hg_run_site_get(rec);
		if (HG_LIKELY(rs->fast > 0) && (rs->tier != HG_TIER_HTM || mode != HG_HTM_OFF)) {
			rs->fast--;
			picked = (enum hg_tier)rs->tier;
			fast = true;
		} else {
			picked = hg_run_pick(rs, mode);
		}
		break;
	}
	unsigned aborts = 0;
	enum hg_tier used;
	/*
	 * Cycle counts only where they are used (reading the counter costs
	 * tens of nanoseconds in a virtual machine): the policy samples every
	 * section of a probe burst and of the burst on the site's own tier
	 * just before it (closed at the next entry, see hg_run_open); the
	 * report times one software section in 64 on its own.  A lock probe
	 * while other threads run also needs its holding time.
	 */
	bool sample = rs != NULL && (rs->probe != HG_TIER_COUNT || rs->left <= HG_RUN_PROBE_BURST);
	bool stat = (rec->st.acquisitions & 63u) == 0 && picked == HG_TIER_STM;
	unsigned par = 1;
	if (sample && rs->probe == HG_TIER_LOCK)
		par = hg_run_parallelism();
	hg_run_timing = sample;
	hg_run_lock_wait = 0;
	tx->wait_cycles = 0;
	uint64_t t0 = 0;
	if (sample || stat)
		t0 = now ? now : hg_cycles();
	tx->depth = 1;
	if (picked == HG_TIER_STM)
		used = hg_run_soft(tx, l, rec, body, arg, &aborts);
	else
		used = hg_run_direct(tx, l, rec, body, arg,
		    picked == HG_TIER_HTM ? mode : HG_HTM_OFF);
	tx->depth = 0;
	tx->lock = NULL;
	hg_run_timing = false;
	uint64_t t1 = (stat || par > 1) ? hg_cycles() : 0;
	if (used == HG_TIER_STM) {
		if (stat)
			hg_counter_add(&rec->st.cycles[HG_TIER_STM], t1 - t0);
		hg_counter_add(&rec->st.acquisitions, 1);
		hg_counter_add(&rec->st.commits[HG_TIER_STM], 1);
	}
	if (!rs || (fast && used == picked && aborts == 0)) {
		if (aborts)
			hg_counter_add(&rec->st.stm_aborts, aborts);
		return;
	}
	if (sample) {
		hg_run_open = rs;
		hg_run_open_t0 = t0;
		hg_run_open_probe = rs->probe != HG_TIER_COUNT;
		hg_run_open_sub = 0;
		hg_run_open_hold = 0;
		if (hg_run_open_probe) {
			/* A probe measures a tier the other threads are not on;
			 * see hg_run_parallelism(). */
			hg_run_open_sub = picked == HG_TIER_STM ? tx->wait_cycles : hg_run_lock_wait;
			if (par > 1 && t1 - t0 > hg_run_lock_wait)
				hg_run_open_hold = (t1 - t0 - hg_run_lock_wait) * par;
		}
	}
	hg_run_account(rs, picked, used, aborts);
	hg_run_fast_grant(rs);
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
