/* SPDX-License-Identifier: MIT */
/*
 * htmgil/elide.h - the elided lock, its sites, its abort codes and its policy.
 *
 * hg_lock_acquire() may return inside a hardware transaction (as glibc's
 * elided pthread_mutex_lock does): the section then runs speculatively, with
 * the lock word in its read set, and hg_lock_release() commits it.  When the
 * policy says so, or the transaction cannot commit, the section runs holding
 * the real lock (struct hg_mutex) instead.  Every acquisition names a site so
 * statistics and policy decisions are kept per (lock, site).
 */
#ifndef HTMGIL_ELIDE_H
#define HTMGIL_ELIDE_H

#include <stdbool.h>
#include <stdint.h>

#include <htmgil/htm.h>
#include <htmgil/lock.h>

#include <htmgil/api.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Explicit abort codes (XABORT imm8).  0xff is "lock busy" as in glibc,
 * libitm, ck and tsx-tools, so foreign profilers read it the same way.
 */
enum hg_abort_code {
	HG_ABORT_BUSY = 0xff,           /* subscribed lock word was held */
	HG_ABORT_NESTED_TRYLOCK = 0xfe, /* tryacquire inside an elided section */
	HG_ABORT_STM_BUSY = 0xfd,       /* STM commit in progress (sequence odd) */
	HG_ABORT_GIL_DROP = 0xfc,       /* interpreter asked the holder to drop the GIL */
	HG_ABORT_SYSCALL = 0xfb,        /* a system call or blocking call is ahead */
	HG_ABORT_IRREVOCABLE = 0xfa,    /* section asked to become irrevocable */
	HG_ABORT_NESTED_BUSY = 0xf9,    /* an inner lock acquired in the section was held */
	HG_ABORT_FINALIZING = 0xf8,     /* the interpreter is finalizing: take the real GIL */
	HG_ABORT_USER_MIN = 0x01,       /* 0x01..0x7f are free for callers */
	HG_ABORT_USER_MAX = 0x7f,
};
HG_API const char *hg_abort_code_name(unsigned code);

/*
 * Tiers a section can run on; the order is the demotion order.
 * HG_TIER_ADAPTIVE is not a tier: forcing it (hg_run_force) leaves the
 * choice to the policy.
 */
enum hg_tier {
	HG_TIER_HTM = 0, /* hardware (or emulated) transaction */
	HG_TIER_STM = 1, /* software transaction (instrumented sections only) */
	HG_TIER_LOCK = 2, /* the real lock */
	HG_TIER_COUNT,
	HG_TIER_ADAPTIVE = 8,
};
HG_API const char *hg_tier_name(enum hg_tier t);

/* Abort causes as counted by the statistics. */
enum hg_abort_cause {
	HG_CAUSE_CONFLICT = 0, /* CONFLICT bit */
	HG_CAUSE_CAPACITY,     /* CAPACITY bit */
	HG_CAUSE_EXPLICIT,     /* XABORT; the code is counted separately */
	HG_CAUSE_RETRY,        /* RETRY bit alone */
	HG_CAUSE_OTHER,        /* status 0, DEBUG, NESTED: interrupts, faults, syscalls */
	HG_CAUSE_COUNT
};
HG_API const char *hg_abort_cause_name(enum hg_abort_cause c);

/*
 * Policy knobs, one struct, defaults in HG_POLICY_DEFAULTS, overridable with
 * HTMGIL_POLICY=key=value,...  (key names are the field names).  Rates are
 * fractions in [0,1].  See docs/design.md, "The policy".
 */
struct hg_policy {
	unsigned retry_conflict;  /* attempts after CONFLICT/RETRY aborts, per acquisition */
	unsigned retry_busy;      /* attempts after lock-busy aborts, per acquisition */
	unsigned retry_capacity;  /* attempts after CAPACITY aborts (at most 1) */
	unsigned skip_other;      /* acquisitions on the lock after an abort without RETRY */
	unsigned spin_wait;       /* PAUSE reads while waiting for a free lock, then park */
	double demote_rate;       /* demote when the decaying abort rate exceeds this */
	unsigned demote_min;      /* ... and at least this many attempts were seen */
	double decay;             /* weight of the newest sample in the abort-rate estimate */
	unsigned reprobe_base;    /* lock-tier acquisitions before the first re-probe */
	unsigned reprobe_max;     /* ceiling of the exponential re-probe backoff */
	unsigned txtime_us;       /* GIL: a transaction's length is capped to end within this (0: no cap) */
};

#define HG_POLICY_DEFAULTS                                                     \
	{ .retry_conflict = 5, .retry_busy = 8, .retry_capacity = 1,           \
	  .skip_other = 16, .spin_wait = 512, .demote_rate = 0.5,              \
	  .demote_min = 16, .decay = 1.0 / 64, .reprobe_base = 64,              \
	  .reprobe_max = 65536, .txtime_us = 20 }

/* Copies the policy in force. */
HG_API void hg_policy_get(struct hg_policy *out);
/*
 * Installs a policy (values are clamped to their documented ranges).  Sites
 * pick it up on their next acquisition.
 */
HG_API void hg_policy_set(const struct hg_policy *p);
/*
 * Parses the HTMGIL_POLICY grammar over the policy in force.  Returns 0, or
 * -1 with one line on stderr naming the problem (nothing is changed).
 */
HG_API int hg_policy_parse(const char *spec);

/*
 * Sites.  A site is a 64-bit key.  hg_site("name") interns a name and returns
 * a stable key for it; callers may also pass any key of their own (an
 * interpreter passes a code location) and install a resolver that turns keys
 * into names when a report is written.  Key 0 is the anonymous site.
 */
HG_API uint64_t hg_site(const char *name);
typedef int (*hg_site_resolver)(uint64_t key, char *buf, unsigned len);
HG_API void hg_site_set_resolver(hg_site_resolver fn);
/* Writes the site's display name; returns buf. */
HG_API const char *hg_site_name(uint64_t key, char *buf, unsigned len);

/*
 * The elided lock.  The first cache line is the subscription line: every
 * hardware transaction on this lock reads .mutex.word, so nothing on this line
 * may be written while sections run speculatively except by an acquisition of
 * the real lock (which must abort them anyway).  .mode and .id are written
 * only at init.  .stm_seq is the software tier's sequence word (see
 * include/htmgil/stm.h): an odd value means an STM commit is writing back.
 * .stm_used goes from 0 to 1 to 2 once, the first time hg_run() uses the
 * lock; from 1 on plain acquisitions take part in the stm_seq protocol too
 * (docs/design.md, "Plain sections on an STM lock").
 */
struct hg_lock {
	struct hg_mutex mutex; /* the real lock; .word is the subscription word */
	uint32_t stm_seq;      /* STM sequence lock, on the subscription line */
	uint32_t id;           /* registry id for statistics (0 = anonymous) */
	uint8_t mode_set;      /* 1 when .mode overrides the process mode */
	uint8_t mode;          /* enum hg_htm_mode, when mode_set */
	uint8_t stm_used;      /* sticky: 0, 1 announced, 2 hg_run may use the STM on it */
	uint8_t cost_off;      /* 1: tiers chosen by abort rates only (hg_lock_set_cost) */
	uint8_t pad[64 - 4 * 4 - 4 - 4 - 4];
} __attribute__((aligned(64)));

#define HG_LOCK_INITIALIZER { HG_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0, { 0 } }

/* name may be NULL (statistics go to the anonymous lock). */
HG_API void hg_lock_init(struct hg_lock *l, const char *name);
HG_API void hg_lock_destroy(struct hg_lock *l);
/*
 * Forces this lock's speculation mode regardless of the process mode: HG_HTM_EMU
 * is always allowed, HG_HTM_RTM only where detection allowed it (else -1).
 */
HG_API int hg_lock_set_mode(struct hg_lock *l, enum hg_htm_mode m);
/*
 * In mode rtm the policy compares what a section of each site costs on the
 * hardware tier and on the real lock, and runs it on the cheaper one (on
 * by default; docs/design.md, "Elided-lock sites: the cost of each tier").
 * on == 0 leaves the choice to abort rates alone: a site speculates until
 * its aborts demote it.  Call before the lock is used.
 */
HG_API void hg_lock_set_cost(struct hg_lock *l, int on);

HG_API void hg_lock_acquire(struct hg_lock *l, uint64_t site);
/*
 * POSIX trylock semantics: 0 when acquired, EBUSY when held.  Inside an
 * enclosing hardware-elided section it aborts that section with
 * HG_ABORT_NESTED_TRYLOCK so the section re-runs holding its real lock.
 */
HG_API int hg_lock_tryacquire(struct hg_lock *l, uint64_t site);
/*
 * 0, or EPERM when this thread does not hold the lock: the mistake is counted
 * and reported on stderr once per lock, and nothing else happens.
 */
HG_API int hg_lock_release(struct hg_lock *l);

/* true when the calling thread runs inside a hardware or emulated transaction. */
HG_API bool hg_in_transaction(void);
/* The tier the calling thread's innermost acquisition of l runs on, or -1. */
HG_API int hg_lock_held_tier(const struct hg_lock *l);

/*
 * Aborts the enclosing hardware transaction with an explicit code (no-op
 * outside one).  Under emulation the section cannot be rolled back, so this
 * only records the request; see docs/design.md.
 */
HG_API void hg_tx_abort(unsigned code);

#ifdef __cplusplus
}
#endif
#endif /* HTMGIL_ELIDE_H */
