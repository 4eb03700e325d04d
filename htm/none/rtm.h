/* SPDX-License-Identifier: MIT */
/*
 * htm/none/rtm.h - the RTM contract where RTM cannot be compiled (include
 * htm/htm.h instead).  begin always reports a failure with no retry, so the
 * engine would take the real lock; detection never selects RTM here anyway.
 */
#ifndef HG_HTM_SELECTOR
#error "include htm/htm.h, not htm/none/rtm.h"
#endif
#ifndef HG_NONE_RTM_H
#define HG_NONE_RTM_H

#include <stdbool.h>
#include <stdint.h>

static inline bool hg_htm_available(void) { return false; }
static inline void hg_htm_init(void) {}
static inline uint32_t hg_htm_begin(void) { return 0; }
static inline void hg_htm_commit(void) {}
static inline void hg_htm_abort(unsigned code) { (void)code; }
static inline bool hg_htm_active(void) { return false; }
static inline uint32_t hg_htm_begin_sub(const uint32_t *zero, const uint32_t *even)
{
	(void)zero;
	(void)even;
	return 0;
}
static inline bool hg_htm_commit_active(void) { return false; }

#endif /* HG_NONE_RTM_H */
