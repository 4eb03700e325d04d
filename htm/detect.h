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

/*
 * The one mode getter, hg_htm_mode() (include/htmgil/htm.h), inlined in
 * the library's own translation units: gnu_inline makes this definition
 * serve inlining only, and htm/detect.c holds the exported one, the same
 * load.  Relaxed: the mode is set before sections run (hg_htm_set_mode's
 * contract).
 */
#ifndef HG_DETECT_DEFINES_MODE
extern inline __attribute__((gnu_inline, always_inline)) enum hg_htm_mode hg_htm_mode(void)
{
	return (enum hg_htm_mode)__atomic_load_n(&hg_mode_global, __ATOMIC_RELAXED);
}
#endif

#endif /* HG_DETECT_H */
