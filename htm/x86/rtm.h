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

HG_INTERNAL bool hg_htm_available(void);
HG_INTERNAL void hg_htm_init(void);
/* Returns inside the transaction (HG_STATUS_STARTED) or with the abort status. */
HG_INTERNAL uint32_t hg_htm_begin(void);
HG_INTERNAL void hg_htm_commit(void);
HG_INTERNAL void hg_htm_abort(unsigned code);
HG_INTERNAL bool hg_htm_active(void);
HG_INTERNAL uint32_t hg_htm_begin_sub(const uint32_t *zero, const uint32_t *even);
HG_INTERNAL bool hg_htm_commit_active(void);

#endif /* HG_X86_RTM_H */
