/* SPDX-License-Identifier: MIT */
/* htm/detect.h - internal detection state. */
#ifndef HG_DETECT_H
#define HG_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#include "htmgil/htm.h"
#include "htm/util.h"

HG_INTERNAL extern uint32_t hg_mode_global;
HG_INTERNAL bool hg_under_valgrind(void);

#endif /* HG_DETECT_H */
