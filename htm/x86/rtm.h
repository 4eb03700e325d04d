/* SPDX-License-Identifier: MIT */
/*
 * htm/x86/rtm.h - Intel RTM primitives (include htm/htm.h instead).
 */
#ifndef HG_HTM_SELECTOR
#error "include htm/htm.h, not htm/x86/rtm.h"
#endif
#ifndef HG_X86_RTM_H
#define HG_X86_RTM_H

#include <stdbool.h>
#include <stdint.h>

#include "base/util.h"
#include "htm/status.h"
#include "htmgil/elide.h"

HG_INTERNAL bool hg_htm_available(void);
HG_INTERNAL void hg_htm_init(void);
/* Returns inside the transaction (HG_STATUS_STARTED) or with the abort status. */
HG_INTERNAL uint32_t hg_htm_begin(void);
HG_INTERNAL void hg_htm_commit(void);
HG_INTERNAL void hg_htm_abort(unsigned code);
HG_INTERNAL bool hg_htm_active(void);

/*
 * The elided lock's fast path, inline: a call in and out of the RTM file
 * around XBEGIN and XEND costs a few ns each (docs/design.md, "Elided-lock
 * sites").  Written in assembly so that this header needs no -mrtm and no
 * file but htm/x86/rtm.c is compiled with it; like every primitive here,
 * called only when hg_htm_mode() == HG_HTM_RTM.  The "memory" clobbers keep
 * the compiler from moving accesses across XBEGIN, XABORT and XEND.
 */
#define HG_X86_XABORT(code) __asm__ volatile("xabort %0" : : "i"(code) : "memory")

/*
 * XBEGIN, then, inside the transaction, relaxed loads of the two words
 * (in the read set from then on, so a later write to either aborts it).
 * On an abort, XBEGIN's fallback is the instruction after it, with the
 * status in EAX.
 */
static inline uint32_t hg_htm_begin_sub(const uint32_t *zero, const uint32_t *even)
{
	uint32_t s = HG_STATUS_STARTED;
	__asm__ volatile("xbegin 1f\n1:" : "+a"(s) : : "memory");
	if (s == HG_STATUS_STARTED) {
		if (__atomic_load_n(zero, __ATOMIC_RELAXED) != 0)
			HG_X86_XABORT(HG_ABORT_BUSY);
		if (__atomic_load_n(even, __ATOMIC_RELAXED) & 1u)
			HG_X86_XABORT(HG_ABORT_STM_BUSY);
	}
	return s;
}

/* XTEST, and XEND when a transaction runs; returns whether it did. */
static inline bool hg_htm_commit_active(void)
{
	unsigned char in;
	__asm__ volatile("xtest\n\tsetnz %0" : "=q"(in) : : "memory", "cc");
	if (!in)
		return false;
	__asm__ volatile("xend" : : : "memory");
	return true;
}

#endif /* HG_X86_RTM_H */
