/* SPDX-License-Identifier: MIT */
/*
 * htm/emu.h - the emulated HTM tier.
 *
 * An emulated transaction is decided entirely at begin: first a seeded draw
 * may inject an abort (status in the RTM layout); otherwise it takes the
 * front end's real lock (trylock: busy gives EXPLICIT|HG_ABORT_BUSY, as an
 * RTM subscription would) and holds it until commit.  Emulated transactions
 * are therefore serialized against each other and against real-lock holders,
 * never need a rollback, and exercise every abort path of the policy.
 */
#ifndef HG_EMU_H
#define HG_EMU_H

#include <stdint.h>

#include "base/util.h"
#include "htm/target.h"

HG_INTERNAL uint32_t hg_emu_begin(void *target, const struct hg_target_ops *ops);
HG_INTERNAL void hg_emu_commit(void *target, const struct hg_target_ops *ops);
/* The last HTMGIL_EMU spec hg_emu_configure accepted ("" when none). */
HG_INTERNAL const char *hg_emu_spec(void);
/* Open emulated transactions of the calling thread. */
HG_INTERNAL unsigned hg_emu_depth(void);
/* A uniform draw from the calling thread's seeded stream (also used for backoff). */
HG_INTERNAL uint64_t hg_rand(void);

#endif /* HG_EMU_H */
