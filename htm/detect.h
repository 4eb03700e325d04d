/* SPDX-License-Identifier: MIT */
/* htm/detect.h - internal detection state. */
#ifndef HG_DETECT_H
#define HG_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#include "htmgil/htm.h"
#include "base/util.h"

HG_INTERNAL extern uint32_t hg_mode_global;
/* True when RTM instructions may execute in this process (detection, or valgrind test mode). */
HG_INTERNAL extern bool hg_rtm_ok;
HG_INTERNAL bool hg_under_valgrind(void);

#include "base/atomic.h"
/* Relaxed: the mode is set before sections run (hg_htm_set_mode's contract). */
static inline enum hg_htm_mode hg_mode_fast(void)
{
	return (enum hg_htm_mode)hg_atomic_load_relaxed32(&hg_mode_global);
}

#endif /* HG_DETECT_H */
