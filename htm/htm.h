/* SPDX-License-Identifier: MIT */
/*
 * htm/htm.h - selects the RTM primitive contract for this architecture.
 *
 * The contract (after libitm's config/x86/target.h), implemented by
 * htm/x86/rtm.h and by the stub htm/none/rtm.h:
 *
 *   bool     hg_htm_available(void)   compiled-in support exists
 *   void     hg_htm_init(void)        nothing to do beyond detection today
 *   uint32_t hg_htm_begin(void)       HG_STATUS_STARTED, or an abort status
 *   bool     hg_htm_begin_success(s)  s == HG_STATUS_STARTED
 *   void     hg_htm_commit(void)      XEND; only inside a transaction
 *   void     hg_htm_abort(code)       XABORT code (a registry code); no-op outside
 *   bool     hg_htm_abort_should_retry(s)  RETRY bit
 *   bool     hg_htm_active(void)      XTEST
 *   uint32_t hg_htm_begin_sub(zero, even)  begin, then inside the
 *                                     transaction abort with HG_ABORT_BUSY
 *                                     unless *zero == 0 and with
 *                                     HG_ABORT_STM_BUSY unless *even is even
 *                                     (a lock word and a sequence word: the
 *                                     elided lock's subscription in one call)
 *   bool     hg_htm_commit_active(void)  XEND if XTEST says a transaction
 *                                     runs; returns whether it did
 *
 * None of these may be called unless hg_htm_mode() == HG_HTM_RTM, which
 * detection grants only on a CPU that really runs RTM (or under valgrind in
 * the test mode).  The functions are out of line in a file compiled with
 * -mrtm, so no other file is ever compiled with RTM enabled; the elided
 * lock's two fast-path primitives (begin_sub, commit_active) are inline
 * assembly in htm/x86/rtm.h, which needs no -mrtm.
 */
#ifndef HG_HTM_SELECT_H
#define HG_HTM_SELECT_H

#include "htmgil/config.h"
#include "htm/status.h"

#define HG_HTM_SELECTOR 1
#if HG_HAVE_RTM && defined(__x86_64__)
#include "htm/x86/rtm.h"
#else
#include "htm/none/rtm.h"
#endif
#undef HG_HTM_SELECTOR

static inline bool hg_htm_begin_success(uint32_t s)
{
	return s == HG_STATUS_STARTED;
}

static inline bool hg_htm_abort_should_retry(uint32_t s)
{
	return hg_status_retry(s);
}

#endif /* HG_HTM_SELECT_H */
