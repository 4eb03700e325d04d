/* SPDX-License-Identifier: MIT */
/*
 * htm/status.h - the abort status word and its decoding.
 *
 * Every speculative tier reports aborts in the RTM EAX layout (SDM Vol. 1
 * §16.3.5), so one decoder serves RTM, the emulated HTM and tests:
 *
 *   bit 0  EXPLICIT   XABORT executed; code in bits 31:24
 *   bit 1  RETRY      the transaction may succeed on retry
 *   bit 2  CONFLICT   another processor touched the read or write set
 *   bit 3  CAPACITY   a transactional buffer overflowed
 *   bit 4  DEBUG      #DB or #BP
 *   bit 5  NESTED     the abort happened in a nested transaction
 *   0                 other: interrupt, fault, unfriendly instruction
 *
 * HG_STATUS_STARTED (all ones) is what begin returns when a transaction runs.
 * perf's PERF_TXN_* layout differs; it is decoded elsewhere.
 */
#ifndef HG_STATUS_H
#define HG_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "htmgil/elide.h"

#define HG_STATUS_STARTED (~0u)
#define HG_STATUS_EXPLICIT (1u << 0)
#define HG_STATUS_RETRY (1u << 1)
#define HG_STATUS_CONFLICT (1u << 2)
#define HG_STATUS_CAPACITY (1u << 3)
#define HG_STATUS_DEBUG (1u << 4)
#define HG_STATUS_NESTED (1u << 5)
#define HG_STATUS_CODE(s) (((s) >> 24) & 0xffu)
#define HG_STATUS_MAKE_EXPLICIT(code) (HG_STATUS_EXPLICIT | ((uint32_t)(code) << 24))

/*
 * The one classification of a status, in precedence order: an explicit abort
 * is explicit whatever else is set; CAPACITY before CONFLICT (persistent
 * before transient); RETRY alone is its own class; the rest is "other".
 */
static inline enum hg_abort_cause hg_status_cause(uint32_t s)
{
	if (s & HG_STATUS_EXPLICIT)
		return HG_CAUSE_EXPLICIT;
	if (s & HG_STATUS_CAPACITY)
		return HG_CAUSE_CAPACITY;
	if (s & HG_STATUS_CONFLICT)
		return HG_CAUSE_CONFLICT;
	if (s & HG_STATUS_RETRY)
		return HG_CAUSE_RETRY;
	return HG_CAUSE_OTHER;
}

static inline bool hg_status_retry(uint32_t s)
{
	return (s & HG_STATUS_RETRY) != 0;
}

static inline bool hg_status_is_busy(uint32_t s)
{
	return (s & HG_STATUS_EXPLICIT) && HG_STATUS_CODE(s) == HG_ABORT_BUSY;
}

#endif /* HG_STATUS_H */
