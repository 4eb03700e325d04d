/* SPDX-License-Identifier: MIT */
/*
 * gil/patch.h - entry patching of x86-64 functions, with a relocated-prologue
 * trampoline that still calls the original.
 *
 * hg_patch_install() overwrites the first 14 bytes of a function with
 *
 *     ff 25 00 00 00 00      jmp *0(%rip)
 *     <8-byte address>       the replacement
 *
 * after copying the whole instructions that those bytes covered into a
 * trampoline followed by the same absolute jump back to the first byte not
 * copied.  Calling the trampoline therefore runs the original function.
 *
 * The length decoder (hg_x86_insn_decode) accepts a short list of prologue
 * shapes (endbr64, push/pop, register and memory moves, ALU with
 * immediates, lea, test, mov immediate) and refuses everything else,
 * including every branch and call.  A RIP-relative memory operand is
 * relocated: its trampoline gets a page of its own within reach of the
 * function (mmap at a fixed free address, +-16 MiB to +-1 GiB away) and the
 * copied disp32 is rewritten to name the same address.  A refused prologue
 * leaves the function untouched.
 *
 * Patching must happen while no other thread can run the function (the
 * preload patches from its constructor, before the interpreter starts).
 */
#ifndef HG_GIL_PATCH_H
#define HG_GIL_PATCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

#define HG_PATCH_JMP_LEN 14 /* ff 25 00000000 + imm64 */
#define HG_PATCH_MAX_COPY 32 /* relocated prologue bytes, at most */

/*
 * Length of the instruction at p (at most avail bytes readable), or 0 when it
 * is not one the decoder accepts; RIP-relative operands are refused.
 */
HG_INTERNAL unsigned hg_x86_insn_len(const uint8_t *p, size_t avail);
/*
 * The same, also accepting a RIP-relative operand: *rip_disp gets the offset
 * of its disp32 within the instruction, or -1 when it has none.
 */
HG_INTERNAL unsigned hg_x86_insn_decode(const uint8_t *p, size_t avail, int *rip_disp);

struct hg_patch {
	uint8_t *fn;                        /* patched function */
	void *trampoline;                   /* calls the original */
	unsigned copied;                    /* prologue bytes relocated */
	uint8_t saved[HG_PATCH_MAX_COPY];   /* original bytes, for hg_patch_remove */
};

/*
 * Redirects fn to repl.  fn_size is the function's symbol size (0: unknown,
 * then only the jump's 14 bytes are required).  Returns 0 and fills *p, or
 * -1 with a static reason in *why (nothing changed).
 */
HG_INTERNAL int hg_patch_install(struct hg_patch *p, void *fn, size_t fn_size,
    void *repl, const char **why);
/* Puts the original bytes back (tests; the trampoline stays mapped). */
HG_INTERNAL int hg_patch_remove(struct hg_patch *p);

#endif /* HG_GIL_PATCH_H */
