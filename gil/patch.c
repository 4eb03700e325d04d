/* SPDX-License-Identifier: MIT */
/*
 * gil/patch.c - the prologue length decoder, trampolines and entry patches;
 * see gil/patch.h.
 */
#include "gil/patch.h"

#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Bytes of ModRM/SIB/displacement after the opcode, or -1 if refused.  A
 * RIP-relative operand is accepted only when rip is not NULL; *rip then gets
 * the offset of its disp32 from p (it stays -1 otherwise).
 */
static int hg_x86_modrm_len(const uint8_t *p, size_t avail, int *rip)
{
	if (avail < 1)
		return -1;
	uint8_t modrm = p[0];
	unsigned mod = modrm >> 6, rm = modrm & 7;
	int n = 1;
	if (mod == 3)
		return n;
	if (rm == 4) { /* SIB */
		if (avail < 2)
			return -1;
		uint8_t sib = p[1];
		n++;
		if (mod == 0 && (sib & 7) == 5)
			n += 4; /* disp32, no base: absolute, position independent */
	} else if (mod == 0 && rm == 5) {
		if (!rip)
			return -1; /* RIP-relative: needs rewriting where it is copied */
		*rip = 1;
		return avail >= 5 ? 5 : -1;
	}
	if (mod == 1)
		n += 1;
	else if (mod == 2)
		n += 4;
	return (size_t)n <= avail ? n : -1;
}

/*
 * An instruction whose opcode ends at p[i]: ModRM (with /reg required to be
 * `reg` when reg >= 0), SIB, displacement, then imm immediate bytes.
 * Returns its length or 0; *rip_disp as for hg_x86_insn_decode.
 */
static unsigned hg_x86_modrm_insn(const uint8_t *p, size_t avail, size_t i, size_t imm, int reg,
    int *rip_disp)
{
	int r = -1;
	if (i >= avail || (reg >= 0 && ((p[i] >> 3) & 7) != (unsigned)reg))
		return 0;
	int m = hg_x86_modrm_len(p + i, avail - i, rip_disp ? &r : NULL);
	if (m < 0 || i + (size_t)m + imm > avail)
		return 0;
	if (r >= 0)
		*rip_disp = (int)i + r;
	return (unsigned)(i + (size_t)m + imm);
}

unsigned hg_x86_insn_decode(const uint8_t *p, size_t avail, int *rip_disp)
{
	size_t i = 0;
	if (rip_disp)
		*rip_disp = -1;
	if (avail >= 4 && p[0] == 0xf3 && p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa)
		return 4; /* endbr64 */
	bool rex_w = false;
	if (i < avail && (p[i] & 0xf0) == 0x40) {
		rex_w = (p[i] & 0x08) != 0;
		i++;
	}
	if (i >= avail)
		return 0;
	uint8_t op = p[i++];
	switch (op) {
	case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
	case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
		return (unsigned)i; /* push/pop r */
	case 0x90:
		return (unsigned)i; /* nop */
	case 0x01: case 0x03: case 0x09: case 0x0b: case 0x21: case 0x23: case 0x29: case 0x2b:
	case 0x31: case 0x33: case 0x39: case 0x3b: case 0x85: case 0x89: case 0x8b: case 0x8d:
	case 0x84: case 0x88: case 0x8a: /* ALU/test/mov/lea r, r/m (byte forms too) */
		return hg_x86_modrm_insn(p, avail, i, 0, -1, rip_disp);
	case 0x83: /* ALU r/m, imm8 */
		return hg_x86_modrm_insn(p, avail, i, 1, -1, rip_disp);
	case 0x81: /* ALU r/m, imm32 */
		return hg_x86_modrm_insn(p, avail, i, 4, -1, rip_disp);
	case 0xf6: /* test r/m8, imm8 (/0 only: the others are not/neg/mul/div) */
		return hg_x86_modrm_insn(p, avail, i, 1, 0, rip_disp);
	case 0xf7: /* test r/m, imm32 (/0 only) */
	case 0xc7: /* mov r/m, imm32 (/0 only) */
		return hg_x86_modrm_insn(p, avail, i, 4, 0, rip_disp);
	case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf: {
		size_t imm = rex_w ? 8 : 4;
		return i + imm > avail ? 0 : (unsigned)(i + imm);
	}
	default:
		return 0;
	}
}

unsigned hg_x86_insn_len(const uint8_t *p, size_t avail)
{
	return hg_x86_insn_decode(p, avail, NULL);
}

/*
 * A page for the trampoline of a prologue with RIP-relative operands: its
 * disp32 must still reach the same target from the copy, so the page must
 * lie within about +-1 GiB of the function.  Asks the kernel for free pages
 * at growing distances below and above it; NULL when none is free.
 */
static uint8_t *hg_patch_tramp_page_near(const uint8_t *f, size_t pg)
{
	static const int64_t mib[] = { 16, -16, 64, -64, 256, -256, 1024, -1024 };
	for (size_t k = 0; k < sizeof(mib) / sizeof(mib[0]); k++) {
		uintptr_t want = ((uintptr_t)f + (uintptr_t)(mib[k] << 20)) & ~(uintptr_t)(pg - 1);
		void *m = mmap((void *)want, pg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (m == MAP_FAILED)
			continue;
		if ((uintptr_t)m == want)
			return m;
		munmap(m, pg); /* an older kernel treated the address as a hint */
	}
	return NULL;
}

/* Trampolines live in one executable page, filled from the constructor. */
static uint8_t *hg_patch_tramp_page;
static size_t hg_patch_tramp_used;

static void hg_patch_write_abs_jmp(uint8_t *at, const void *target)
{
	static const uint8_t jmp[6] = { 0xff, 0x25, 0, 0, 0, 0 };
	uint64_t t = (uint64_t)(uintptr_t)target;
	memcpy(at, jmp, sizeof(jmp));
	memcpy(at + 6, &t, sizeof(t));
}

static int hg_patch_set_prot(void *addr, size_t len, int prot)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)addr & ~(pg - 1);
	uintptr_t end = ((uintptr_t)addr + len + pg - 1) & ~(pg - 1);
	return mprotect((void *)a, end - a, prot);
}

int hg_patch_install(struct hg_patch *p, void *fn, size_t fn_size, void *repl, const char **why)
{
	memset(p, 0, sizeof(*p));
	uint8_t *f = fn;
	size_t avail = fn_size ? fn_size : HG_PATCH_MAX_COPY;
	if (avail > HG_PATCH_MAX_COPY)
		avail = HG_PATCH_MAX_COPY;
	if (avail < HG_PATCH_JMP_LEN) {
		*why = "function shorter than the 14-byte jump";
		return -1;
	}
	unsigned n = 0, nrel = 0;
	unsigned rel[HG_PATCH_MAX_COPY / 5]; /* offsets of RIP-relative disp32 fields */
	while (n < HG_PATCH_JMP_LEN) {
		int disp;
		unsigned len = hg_x86_insn_decode(f + n, avail - n, &disp);
		if (len == 0) {
			*why = "unexpected instruction in the prologue";
			return -1;
		}
		if (disp >= 0)
			rel[nrel++] = n + (unsigned)disp;
		n += len;
	}
	size_t need = n + HG_PATCH_JMP_LEN;
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *t;
	if (nrel) {
		/* A page of its own, near the function. */
		t = hg_patch_tramp_page_near(f, (size_t)pg);
		if (!t) {
			*why = "no free page within reach of the prologue's RIP-relative operand";
			return -1;
		}
		memcpy(t, f, n);
		for (unsigned k = 0; k < nrel; k++) {
			int32_t d;
			memcpy(&d, t + rel[k], 4);
			int64_t nd = (int64_t)d + (int64_t)((intptr_t)f - (intptr_t)t);
			if (nd != (int32_t)nd) {
				munmap(t, (size_t)pg);
				*why = "the prologue's RIP-relative operand is out of reach of its trampoline";
				return -1;
			}
			d = (int32_t)nd;
			memcpy(t + rel[k], &d, 4);
		}
		hg_patch_write_abs_jmp(t + n, f + n);
		if (hg_patch_set_prot(t, (size_t)pg, PROT_READ | PROT_EXEC) != 0) {
			munmap(t, (size_t)pg);
			*why = "cannot make the trampoline page executable";
			return -1;
		}
		__builtin___clear_cache((char *)t, (char *)t + need);
		goto patch;
	}
	if (!hg_patch_tramp_page || hg_patch_tramp_used + need > (size_t)pg) {
		void *m = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) {
			*why = "cannot map a trampoline page";
			return -1;
		}
		hg_patch_tramp_page = m;
		hg_patch_tramp_used = 0;
	} else if (hg_patch_set_prot(hg_patch_tramp_page, (size_t)pg, PROT_READ | PROT_WRITE) !=
	    0) {
		*why = "cannot make the trampoline page writable";
		return -1;
	}
	t = hg_patch_tramp_page + hg_patch_tramp_used;
	memcpy(t, f, n);
	hg_patch_write_abs_jmp(t + n, f + n);
	hg_patch_tramp_used += (need + 15) & ~(size_t)15;
	if (hg_patch_set_prot(hg_patch_tramp_page, (size_t)pg, PROT_READ | PROT_EXEC) != 0) {
		*why = "cannot make the trampoline page executable";
		return -1;
	}
	__builtin___clear_cache((char *)t, (char *)t + need);

patch:
	if (hg_patch_set_prot(f, n, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
		*why = "cannot make the function writable (mprotect refused)";
		return -1;
	}
	memcpy(p->saved, f, n);
	uint8_t patch[HG_PATCH_MAX_COPY];
	hg_patch_write_abs_jmp(patch, repl);
	memset(patch + HG_PATCH_JMP_LEN, 0xcc, n - HG_PATCH_JMP_LEN); /* int3: never reached */
	memcpy(f, patch, n);
	hg_patch_set_prot(f, n, PROT_READ | PROT_EXEC);
	__builtin___clear_cache((char *)f, (char *)f + n);
	p->fn = f;
	p->trampoline = t;
	p->copied = n;
	return 0;
}

int hg_patch_remove(struct hg_patch *p)
{
	if (!p->fn)
		return -1;
	if (hg_patch_set_prot(p->fn, p->copied, PROT_READ | PROT_WRITE | PROT_EXEC) != 0)
		return -1;
	memcpy(p->fn, p->saved, p->copied);
	hg_patch_set_prot(p->fn, p->copied, PROT_READ | PROT_EXEC);
	__builtin___clear_cache((char *)p->fn, (char *)p->fn + p->copied);
	p->fn = NULL;
	return 0;
}
