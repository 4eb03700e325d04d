/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_gil_patch.c - the ELF symbol reader, the prologue decoder
 * and entry patching with trampolines, on tests/unit/gil_patchee.c (its
 * path comes as argv[1]).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>

#include "hg_test.h"
#include "gil/elfsym.h"
#include "gil/patch.h"
#include "gil/pyident.h"

static const char *lib_path;
static void *lib;
static uintptr_t lib_bias;
static struct hg_elf elf;

static long (*call_sum)(long, long, long);
static long (*call_ibt)(long, long);
static long (*call_riprel)(long);
static long (*call_short)(long, long);

static void *local_sym(const char *name, uint64_t *size)
{
	uint64_t v = 0;
	if (hg_elf_lookup(&elf, name, &v, size) != 0)
		return NULL;
	return (void *)(lib_bias + v);
}

static void setup(void)
{
	HG_ASSERT(lib_path != NULL);
	lib = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
	HG_ASSERT(lib != NULL);
	call_sum = (long (*)(long, long, long))dlsym(lib, "hg_patchee_sum");
	call_ibt = (long (*)(long, long))dlsym(lib, "hg_patchee_ibt");
	call_riprel = (long (*)(long))dlsym(lib, "hg_patchee_riprel");
	call_short = (long (*)(long, long))dlsym(lib, "hg_patchee_short");
	HG_ASSERT(call_sum && call_ibt && call_riprel && call_short);
	struct link_map *lm = NULL;
	HG_ASSERT(dlinfo(lib, RTLD_DI_LINKMAP, &lm) == 0);
	lib_bias = lm->l_addr;
	HG_ASSERT(hg_elf_open(&elf, lib_path) == 0);
	HG_ASSERT(elf.symtab != NULL);
}

static void test_elf_lookup(void)
{
	uint64_t size = 0;
	/* A local symbol: in .symtab only. */
	HG_EXPECT(local_sym("patchee_sum", &size) != NULL);
	HG_EXPECT(size > 14);
	/* An exported one resolves to the address the dynamic linker gives. */
	HG_EXPECT(local_sym("hg_patchee_sum", NULL) == dlsym(lib, "hg_patchee_sum"));
	HG_EXPECT(local_sym("no_such_symbol_here", NULL) == NULL);
	struct hg_elf bad;
	HG_EXPECT(hg_elf_open(&bad, "/nonexistent/file") == -1);
}

static void test_decoder(void)
{
	static const uint8_t push_rbx[] = { 0x53 };
	static const uint8_t push_r12[] = { 0x41, 0x54 };
	static const uint8_t mov_rbx_rdi[] = { 0x48, 0x89, 0xfb };
	static const uint8_t sub_rsp_38[] = { 0x48, 0x83, 0xec, 0x38 };
	static const uint8_t mov_disp8[] = { 0x48, 0x8b, 0x5f, 0x10 };   /* mov 0x10(%rdi),%rbx */
	static const uint8_t mov_sib[] = { 0x48, 0x8b, 0x04, 0x24 };     /* mov (%rsp),%rax */
	static const uint8_t endbr[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	static const uint8_t riprel[] = { 0x48, 0x8b, 0x05, 1, 2, 3, 4 }; /* mov x(%rip),%rax */
	static const uint8_t call[] = { 0xe8, 1, 2, 3, 4 };
	static const uint8_t jcc[] = { 0x0f, 0x84, 1, 2, 3, 4 };
	static const uint8_t movabs[] = { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 };
	HG_EXPECT_EQ(hg_x86_insn_len(push_rbx, sizeof push_rbx), 1);
	HG_EXPECT_EQ(hg_x86_insn_len(push_r12, sizeof push_r12), 2);
	HG_EXPECT_EQ(hg_x86_insn_len(mov_rbx_rdi, sizeof mov_rbx_rdi), 3);
	HG_EXPECT_EQ(hg_x86_insn_len(sub_rsp_38, sizeof sub_rsp_38), 4);
	HG_EXPECT_EQ(hg_x86_insn_len(mov_disp8, sizeof mov_disp8), 4);
	HG_EXPECT_EQ(hg_x86_insn_len(mov_sib, sizeof mov_sib), 4);
	HG_EXPECT_EQ(hg_x86_insn_len(endbr, sizeof endbr), 4);
	HG_EXPECT_EQ(hg_x86_insn_len(movabs, sizeof movabs), 10);
	HG_EXPECT_EQ(hg_x86_insn_len(riprel, sizeof riprel), 0);
	HG_EXPECT_EQ(hg_x86_insn_len(call, sizeof call), 0);
	HG_EXPECT_EQ(hg_x86_insn_len(jcc, sizeof jcc), 0);
	static const uint8_t test_bpl_imm8[] = { 0x40, 0xf6, 0xc5, 0x20 };  /* test $0x20,%bpl */
	static const uint8_t test_mem_imm32[] = { 0xf7, 0x47, 0x18, 1, 0, 0, 0 }; /* testl $1,0x18(%rdi) */
	static const uint8_t neg_bpl[] = { 0x40, 0xf6, 0xdd };  /* neg %bpl: /3, not a test */
	static const uint8_t test_al_cl[] = { 0x84, 0xc8 };     /* test %cl,%al */
	HG_EXPECT_EQ(hg_x86_insn_len(test_bpl_imm8, sizeof test_bpl_imm8), 4);
	HG_EXPECT_EQ(hg_x86_insn_len(test_mem_imm32, sizeof test_mem_imm32), 7);
	HG_EXPECT_EQ(hg_x86_insn_len(neg_bpl, sizeof neg_bpl), 0);
	HG_EXPECT_EQ(hg_x86_insn_len(test_al_cl, sizeof test_al_cl), 2);
	HG_EXPECT_EQ(hg_x86_insn_len(test_bpl_imm8, 3), 0);
	/* Truncated input is refused, not over-read. */
	HG_EXPECT_EQ(hg_x86_insn_len(sub_rsp_38, 3), 0);
}

static long (*orig_sum)(long, long, long);
static int repl_calls;

static long repl_sum(long a, long b, long c)
{
	repl_calls++;
	return 1000 + orig_sum(a, b, c); /* the original, through the trampoline */
}

static void test_patch_and_trampoline(void)
{
	uint64_t size = 0;
	void *fn = local_sym("patchee_sum", &size);
	HG_ASSERT(fn != NULL);
	HG_EXPECT_EQ(call_sum(1, 2, 3), 6);
	struct hg_patch p;
	const char *why = NULL;
	HG_ASSERT(hg_patch_install(&p, fn, size, (void *)repl_sum, &why) == 0);
	HG_EXPECT_EQ(p.copied, 14);
	orig_sum = (long (*)(long, long, long))p.trampoline;
	/* The library's own direct call now reaches the replacement. */
	HG_EXPECT_EQ(call_sum(1, 2, 3), 1006);
	HG_EXPECT_EQ(call_sum(-5, 10, 100), 1105);
	HG_EXPECT_EQ(repl_calls, 2);
	HG_EXPECT_EQ(orig_sum(4, 5, 6), 15);
	HG_ASSERT(hg_patch_remove(&p) == 0);
	HG_EXPECT_EQ(call_sum(1, 2, 3), 6);
	HG_EXPECT_EQ(repl_calls, 2);
}

static long (*orig_ibt)(long, long);
static long repl_ibt(long a, long b)
{
	return -orig_ibt(a, b);
}

static void test_patch_endbr(void)
{
	uint64_t size = 0;
	void *fn = local_sym("patchee_ibt", &size);
	HG_ASSERT(fn != NULL);
	HG_EXPECT_EQ(call_ibt(10, 3), 1007);
	struct hg_patch p;
	const char *why = NULL;
	HG_ASSERT(hg_patch_install(&p, fn, size, (void *)repl_ibt, &why) == 0);
	orig_ibt = (long (*)(long, long))p.trampoline;
	HG_EXPECT_EQ(call_ibt(10, 3), -1007);
	HG_ASSERT(hg_patch_remove(&p) == 0);
	HG_EXPECT_EQ(call_ibt(10, 3), 1007);
}

static long (*orig_riprel)(long);
static long repl_riprel(long a)
{
	return 100 + orig_riprel(a);
}

/* A prologue that starts with a RIP-relative load: relocated, not refused. */
static void test_patch_riprel(void)
{
	uint64_t size = 0;
	uint8_t *fn = local_sym("patchee_riprel", &size);
	HG_ASSERT(fn != NULL);
	HG_EXPECT_EQ(call_riprel(1), 8);
	struct hg_patch p;
	const char *why = NULL;
	HG_ASSERT(hg_patch_install(&p, fn, size, (void *)repl_riprel, &why) == 0);
	orig_riprel = (long (*)(long))p.trampoline;
	/* The copied load still reads patchee_data (7) from the trampoline. */
	HG_EXPECT_EQ(orig_riprel(1), 8);
	HG_EXPECT_EQ(call_riprel(1), 108);
	intptr_t dist = (intptr_t)p.trampoline - (intptr_t)fn;
	HG_EXPECT(dist > -((intptr_t)1 << 31) && dist < ((intptr_t)1 << 31));
	HG_ASSERT(hg_patch_remove(&p) == 0);
	HG_EXPECT_EQ(call_riprel(1), 8);
	int disp = 0;
	static const uint8_t riprel_imm[] = { 0x83, 0x3d, 1, 2, 3, 4, 0 }; /* cmpl $0,x(%rip) */
	HG_EXPECT_EQ(hg_x86_insn_decode(riprel_imm, sizeof riprel_imm, &disp), 7);
	HG_EXPECT_EQ(disp, 2);
	HG_EXPECT_EQ(hg_x86_insn_len(riprel_imm, sizeof riprel_imm), 0);
}

static long never(long a)
{
	return a;
}

static void test_refusals(void)
{
	const char *names[] = { "patchee_call", "patchee_short" };
	for (unsigned i = 0; i < 2; i++) {
		uint64_t size = 0;
		uint8_t *fn = local_sym(names[i], &size);
		HG_ASSERT(fn != NULL);
		uint8_t before[16];
		memcpy(before, fn, size < sizeof before ? size : sizeof before);
		struct hg_patch p;
		const char *why = NULL;
		HG_EXPECT_EQ(hg_patch_install(&p, fn, size, (void *)never, &why), -1);
		HG_EXPECT(why != NULL);
		/* Refused means untouched. */
		HG_EXPECT(memcmp(before, fn, size < sizeof before ? size : sizeof before) == 0);
	}
	HG_EXPECT_EQ(call_riprel(1), 8);
	HG_EXPECT_EQ(call_short(2, 3), 5);
}

static void test_version_parse(void)
{
	unsigned a, b, c;
	bool ft;
	HG_EXPECT_EQ(hg_py_parse_version("3.12.1 (main, Jan  1 2024, 00:00:00) [GCC 12.2.0]", &a, &b, &c, &ft), 0);
	HG_EXPECT(a == 3 && b == 12 && c == 1 && !ft);
	HG_EXPECT_EQ(hg_py_parse_version("2.7.18 (default, ...)", &a, &b, &c, &ft), 0);
	HG_EXPECT(a == 2 && b == 7 && c == 18);
	HG_EXPECT_EQ(hg_py_parse_version("3.13.0 experimental free-threading build (main)", &a, &b, &c, &ft), 0);
	HG_EXPECT(b == 13 && ft);
	HG_EXPECT_EQ(hg_py_parse_version("garbage", &a, &b, &c, &ft), -1);
}

static void test_not_python(void)
{
	/* This test program is not CPython: identification must say so. */
	struct hg_py py;
	HG_EXPECT_EQ(hg_py_identify(&py), HG_PY_NONE);
}

int main(int argc, char **argv)
{
	lib_path = argc > 1 ? argv[1] : NULL;
	static const struct hg_test tests[] = {
		HG_TEST(setup),
		HG_TEST(test_elf_lookup),
		HG_TEST(test_decoder),
		HG_TEST(test_patch_and_trampoline),
		HG_TEST(test_patch_endbr),
		HG_TEST(test_refusals), HG_TEST(test_patch_riprel),
		HG_TEST(test_version_parse),
		HG_TEST(test_not_python),
	};
	return HG_RUN_TESTS(tests);
}
