/* SPDX-License-Identifier: MIT */
/*
 * htmgil/lock.h - the real lock: the last tier every section can fall back to.
 *
 * struct hg_mutex is a futex lock that parks a waiter at once (no spin) and
 * hands the lock over directly to a waiter that has lost too many races, so
 * no thread starves under sustained contention.  Its first word is the word
 * that hardware transactions read to subscribe to the lock (see
 * include/htmgil/elide.h and docs/design.md, "The lock word").
 */
#ifndef HTMGIL_LOCK_H
#define HTMGIL_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#include <htmgil/api.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The lock word, hg_mutex.word (32 bits, the futex word):
 *
 *   bit 0        HG_MUTEX_LOCKED   the lock is held (by a thread or handed off)
 *   bit 1        HG_MUTEX_WAITERS  a thread may be parked on .word; the
 *                                  releaser must FUTEX_WAKE it
 *   bits 8..31   starving count    threads queued for a direct hand-off
 *
 * Invariants:
 *   word == 0                <=>  the lock is free
 *   starving(word) > 0        =>  LOCKED(word)          (hand-off keeps it held)
 *   WAITERS(word)             =>  LOCKED(word)
 *   grants == serving, tickets == next:
 *       next - serving == starving(word) + (tickets taken but not yet granted
 *                                           minus registrations not yet ticketed)
 *   a thread with ticket t owns the lock once (int32_t)(serving - t) > 0.
 *
 * Writers: .word by any acquirer/releaser with CAS; .serving only by the
 * releaser (the owner); .next by starving waiters (fetch_add); .owner by
 * the owner only, while LOCKED.
 *
 * Subscription: a transaction reads .word and aborts (HG_ABORT_BUSY) unless
 * it is 0.  Any acquisition writes .word, which aborts every subscribed
 * hardware transaction.  The whole struct shares one cache line with the
 * subscription fields of struct hg_lock, so subscribing costs one line of
 * transactional read set.
 */
struct hg_mutex {
	uint32_t word;    /* see above; accessed only with hg_atomic_* */
	uint32_t serving; /* hand-off grants given (futex word for starving waiters) */
	uint32_t next;    /* hand-off tickets taken */
	uint32_t owner;   /* kernel tid of the holder while LOCKED (0 otherwise) */
};

#define HG_MUTEX_LOCKED 0x1u
#define HG_MUTEX_WAITERS 0x2u
#define HG_MUTEX_STARVE_ONE 0x100u

#define HG_MUTEX_INITIALIZER { 0, 0, 0, 0 }

HG_API void hg_mutex_init(struct hg_mutex *m);
HG_API void hg_mutex_lock(struct hg_mutex *m);
/* Returns true when the lock was taken. */
HG_API bool hg_mutex_trylock(struct hg_mutex *m);
/* Returns 0, or EPERM when the caller does not hold the lock (nothing is changed). */
HG_API int hg_mutex_unlock(struct hg_mutex *m);
/* true while the lock is held by anyone. */
HG_API bool hg_mutex_is_locked(const struct hg_mutex *m);
/*
 * Waits, without taking it, until the lock is seen free: spins with PAUSE for
 * up to spin_iters reads, then parks on the futex.  Returns at once if free.
 */
HG_API void hg_mutex_wait_free(struct hg_mutex *m, unsigned spin_iters);

#ifdef __cplusplus
}
#endif
#endif /* HTMGIL_LOCK_H */
