/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/gil_patchee.c - a small shared library whose static functions
 * have known prologues, for tests/unit/test_gil_patch.c.  Like CPython's
 * take_gil/drop_gil, the targets are local symbols (only in .symtab) called
 * directly from exported functions of the same object.
 */
#include <stdint.h>

#define HG_PATCHEE_API __attribute__((visibility("default")))

/*
 * patchee_sum(a, b, c) = a + b + c.  Prologue: push %rbx; push %r12;
 * mov %rdi,%rbx; sub $0x18,%rsp; lea (%rbx,%rsi,1),%rax = 14 bytes exactly.
 * patchee_ibt: the same after endbr64 and with a mov-immediate.
 * patchee_riprel starts with a RIP-relative load, which is relocated;
 * patchee_call starts with a call, which must be refused, and so must
 * patchee_short, which is shorter than the jump.
 */
__asm__(".text\n"
	".p2align 4\n"
	".type patchee_sum,@function\n"
	"patchee_sum:\n"
	"\tpush %rbx\n"
	"\tpush %r12\n"
	"\tmov %rdi,%rbx\n"
	"\tsub $0x18,%rsp\n"
	"\tlea (%rbx,%rsi,1),%rax\n"
	"\tadd %rdx,%rax\n"
	"\tadd $0x18,%rsp\n"
	"\tpop %r12\n"
	"\tpop %rbx\n"
	"\tret\n"
	".size patchee_sum,.-patchee_sum\n"
	".p2align 4\n"
	".type patchee_ibt,@function\n"
	"patchee_ibt:\n"
	"\tendbr64\n"
	"\tpush %rbp\n"
	"\tmov $1000,%eax\n"
	"\tmov %rsp,%rbp\n"
	"\tadd %rdi,%rax\n"
	"\tsub %rsi,%rax\n"
	"\tpop %rbp\n"
	"\tret\n"
	".size patchee_ibt,.-patchee_ibt\n"
	".p2align 4\n"
	".type patchee_riprel,@function\n"
	"patchee_riprel:\n"
	"\tmov patchee_data(%rip),%rax\n"
	"\tadd %rdi,%rax\n"
	"\tpush %rbx\n"
	"\tpop %rbx\n"
	"\tnop\n"
	"\tnop\n"
	"\tnop\n"
	"\tnop\n"
	"\tnop\n"
	"\tret\n"
	".size patchee_riprel,.-patchee_riprel\n"
	".p2align 4\n"
	".type patchee_call,@function\n"
	"patchee_call:\n"
	"\tpush %rbx\n"
	"\tcall patchee_sum\n"
	"\tpop %rbx\n"
	"\tnop\n"
	"\tnop\n"
	"\tnop\n"
	"\tnop\n"
	"\tnop\n"
	"\tnop\n"
	"\tnop\n"
	"\tret\n"
	".size patchee_call,.-patchee_call\n"
	".p2align 4\n"
	".type patchee_short,@function\n"
	"patchee_short:\n"
	"\tlea (%rdi,%rsi,1),%rax\n"
	"\tret\n"
	".size patchee_short,.-patchee_short\n");

long patchee_sum(long a, long b, long c);
long patchee_ibt(long a, long b);
long patchee_riprel(long a);
long patchee_call(long a, long b, long c);
long patchee_short(long a, long b);
long patchee_data = 7;

HG_PATCHEE_API long hg_patchee_sum(long a, long b, long c)
{
	return patchee_sum(a, b, c);
}

HG_PATCHEE_API long hg_patchee_ibt(long a, long b)
{
	return patchee_ibt(a, b);
}

HG_PATCHEE_API long hg_patchee_riprel(long a)
{
	return patchee_riprel(a);
}

HG_PATCHEE_API long hg_patchee_short(long a, long b)
{
	return patchee_short(a, b);
}
