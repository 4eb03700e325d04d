/* SPDX-License-Identifier: MIT */
/*
 * fallback/epoch.h - epoch-based reclamation of memory freed in sections
 * (hg_tx_free).  docs/design.md, "Allocation, reclamation,
 * irrevocability", gives the reasoning.
 *
 * State:
 *   G               the global epoch, starts at 1 and only grows
 *   slot.epoch      one per reclaiming thread, on its own cache line:
 *     == 0          the thread runs no software attempt
 *     == e > 0      it runs one that read G == e before its first shared read
 *   limbo           per thread: (block, r) pairs retired and not yet freed
 *   orphans         limbo left by exited threads (under a mutex)
 *
 * Protocol:
 *   enter   slot.epoch = G (relaxed load, relaxed store), then a store ->
 *           load fence before the attempt reads shared memory
 *   exit    slot.epoch = 0 (release)
 *   retire  after the section that unlinked the blocks has committed:
 *           r = G++ (acq_rel fetch_add), each block enters limbo as (p, r)
 *   scan    a full fence, then min = the smallest nonzero slot.epoch
 *           (acquire loads); every limbo or orphan entry with r < min is
 *           freed.  Run by a retirement that leaves HG_EPOCH_SCAN_EVERY or
 *           more blocks in its limbo, and at thread exit.
 *
 * Invariants:
 *   a block retired as r is freed only by a scan that found every slot
 *   0 or > r after its fence;
 *   slot.epoch == e > r  =>  the attempt cannot reach the block: its load of
 *   G read the retirer's fetch_add (or a later one in its release sequence),
 *   and the fence after it acquires the unlinking commit;
 *   a slot the scan reads as 0 either ended its attempt (the release of
 *   exit pairs with the scan's acquire: its reads happened before) or has
 *   not announced yet (store -> load fences on both sides: it then sees the
 *   unlink).
 * Only software attempts announce: a hardware transaction that read the
 * block is aborted by the unlinking commit, and a lock-tier holder excludes
 * every commit.  So frees of every tier are retired the same way.
 *
 * Memory orders: the fence in enter pairs with the fence in scan; where the
 * kernel offers private expedited membarrier(2), enter issues only a
 * compiler barrier and scan issues the membarrier, which fences every
 * running thread (userspace-rcu's membarrier flavour).  Exit's release
 * pairs with scan's acquire loads of the slots; a new slot is published
 * with release and the list read with acquire.
 *
 * Writers: slot.epoch by its owner only; slot allocation and reuse, the slot
 * list and the orphans under the registry mutex; G by retirers; a limbo
 * by its owner.
 *
 * A thread's part is a struct hg_epoch_thread (embedded in the STM's
 * per-thread descriptor), so nothing here needs the STM itself.
 */
#ifndef HG_FALLBACK_EPOCH_H
#define HG_FALLBACK_EPOCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

/* Limbo size at which a retirement scans (each scan costs a membarrier). */
#define HG_EPOCH_SCAN_EVERY 256

struct hg_epoch_slot;
struct hg_epoch_limbo;

/*
 * One thread's reclamation state, zero-initialized before first use and
 * owned by that thread.  .slot is taken at the first hg_epoch_enter().
 */
struct hg_epoch_thread {
	struct hg_epoch_slot *slot;
	struct hg_epoch_limbo *limbo; /* limbo .. limbo + limbo_n: retired, not freed */
	size_t limbo_n, limbo_cap;
};

/* Announces the current epoch; call before a software attempt's first shared read. */
HG_INTERNAL void hg_epoch_enter(struct hg_epoch_thread *t);
/* Clears the announcement after the attempt's last shared read (commit or rollback). */
HG_INTERNAL void hg_epoch_exit(struct hg_epoch_thread *t);
/* Retires n blocks unlinked by a section that has committed; frees them later. */
HG_INTERNAL void hg_epoch_retire(struct hg_epoch_thread *t, void **p, size_t n);
/* Frees what no announced epoch can still reach: t's limbo and the orphans. */
HG_INTERNAL void hg_epoch_scan(struct hg_epoch_thread *t);
/*
 * The thread is done: a last scan, the rest of its limbo goes to the
 * orphans (freed by later scans of other threads), its slot is released for
 * reuse.  t is zero again afterwards.
 */
HG_INTERNAL void hg_epoch_thread_fini(struct hg_epoch_thread *t);

/*
 * For tests: when fn is non-NULL, scans hand each block they free to fn
 * instead of free().  Returns the previous hook.  Read once per scan;
 * set only while no thread scans (before the threads start).
 */
HG_INTERNAL void (*hg_epoch_set_free_hook(void (*fn)(void *)))(void *);

#endif /* HG_FALLBACK_EPOCH_H */
