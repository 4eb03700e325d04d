/* SPDX-License-Identifier: MIT */
/*
 * tests/sim/sim_sections.c - sections for valgrind --tool=htmgilsim to
 * record; check_trace.py runs one case under the tool and asserts on the
 * trace.  The program defines the three marker functions itself (the tool
 * recognises them by name).  Each case prints the addresses check_trace.py
 * needs as "key=0x..." lines on stdout.
 *
 * usage: sim_sections CASE
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Distinct bodies and noipa: the compiler must neither merge the markers
 * (identical code folding would make one entry reach another) nor drop
 * their calls. */
#if defined(__clang__)
#define HG_T_MARKER __attribute__((noinline, used, optnone))
#else
#define HG_T_MARKER __attribute__((noinline, used, noipa))
#endif
HG_T_MARKER void hg_sim_mark_begin(uint64_t site, const void *sub_word, uint32_t lock_id)
{
	__asm__ volatile("" : : "r"(site), "r"(sub_word), "r"(lock_id));
}
HG_T_MARKER void hg_sim_mark_yield(void) { __asm__ volatile("nop"); }
HG_T_MARKER void hg_sim_mark_end(void) { __asm__ volatile("nop; nop"); }

#define HG_T_LINES 100
char hg_t_lines[HG_T_LINES * 64] __attribute__((aligned(64)));
volatile int hg_t_counter;
static pthread_mutex_t hg_t_mutex = PTHREAD_MUTEX_INITIALIZER;
static int hg_t_sub;

static void begin(uint64_t site) { hg_sim_mark_begin(site, &hg_t_sub, 1); }
static void begin_lock(uint64_t site, uint32_t lock) { hg_sim_mark_begin(site, &hg_t_sub, lock); }

/* A yield point as the preload marks it: the section ends at the yield,
 * and the thread, keeping the lock, begins the next one at site. */
static void yield_to(uint64_t site, uint32_t lock)
{
	hg_sim_mark_yield();
	hg_sim_mark_end();
	begin_lock(site, lock);
}

/* A section writes one byte in each of 100 lines of hg_t_lines. */
static void case_lines(void)
{
	volatile char *p = hg_t_lines;
	printf("base=%p\n", (void *)hg_t_lines);
	begin(0x11);
	for (int i = 0; i < HG_T_LINES; i++)
		p[i * 64 + (i % 8)] = (char)i;
	hg_sim_mark_end();
}

/* A section only reads hg_t_counter. */
static void case_global(void)
{
	int v;
	printf("base=%p\n", (void *)&hg_t_counter);
	begin(0x12);
	v = hg_t_counter;
	hg_sim_mark_end();
	printf("v=%d\n", v);
}

static void *thread_body(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&hg_t_mutex);
	begin(0x13);
	hg_t_counter++;
	hg_sim_mark_end();
	pthread_mutex_unlock(&hg_t_mutex);
	return NULL;
}

/* Two threads in turn, serialized by a mutex around the markers. */
static void case_threads(void)
{
	pthread_t a, b;
	pthread_create(&a, NULL, thread_body, NULL);
	pthread_create(&b, NULL, thread_body, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
}

static pthread_barrier_t hg_t_barrier;
static volatile char hg_t_own[2][64] __attribute__((aligned(64)));

/*
 * Two threads inside their sections at once: each writes hg_t_counter,
 * waits at a barrier (valgrind switches threads while both sections are
 * open), writes it again and then its own line.  Each chunk must hold
 * both lines: the other thread's lines, cached while it ran, are not this
 * thread's.
 */
static void *interleave_body(void *arg)
{
	int i = (int)(intptr_t)arg;
	begin_lock(0x21, 10 + (uint32_t)i); /* two locks: the sections may overlap */
	hg_t_counter++;
	pthread_barrier_wait(&hg_t_barrier);
	hg_t_counter++;
	hg_t_own[i][0]++;
	hg_sim_mark_end();
	return NULL;
}

static void case_interleave(void)
{
	pthread_t a, b;
	pthread_barrier_init(&hg_t_barrier, NULL, 2);
	printf("own0=%p\nown1=%p\n", (void *)hg_t_own[0], (void *)hg_t_own[1]);
	pthread_create(&a, NULL, interleave_body, (void *)(intptr_t)0);
	pthread_create(&b, NULL, interleave_body, (void *)(intptr_t)1);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
}

static void case_syscall(void)
{
	begin(0x14);
	syscall(SYS_getpid);
	hg_sim_mark_end();
	printf("sysno=0x%x\n", (unsigned)SYS_getpid);
}

__attribute__((noinline)) static char *hg_t_make_block(size_t n)
{
	char *p = malloc(n);
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

/* A section writes into a block malloc'd outside it. */
static void case_heap(void)
{
	volatile char *p = hg_t_make_block(1000);
	printf("base=%p\n", (void *)p);
	begin(0x15);
	p[500] = 1;
	hg_sim_mark_end();
	free((void *)p);
}

/* A section touches a fresh page (first touch), then a second section
 * touches it again (no longer fresh). */
static void case_page(void)
{
	volatile char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	printf("base=%p\n", (void *)p);
	begin(0x16);
	p[8] = 1;
	hg_sim_mark_end();
	begin(0x17);
	p[16] = 2;
	hg_sim_mark_end();
	munmap((void *)p, 4096);
}

/* A mapping made inside a reservation (MAP_FIXED), as allocators and JITs do. */
static void case_fixed(void)
{
	char *r = mmap(NULL, 16 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return;
	volatile char *p = mmap(r + 4 * 4096, 4096, PROT_READ | PROT_WRITE,
	                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		return;
	printf("base=%p\n", (void *)p);
	begin(0x19);
	p[8] = 1;
	hg_sim_mark_end();
	munmap(r, 16 * 4096);
}

static void case_cpuid(void)
{
	unsigned a, b, c, d;
	begin(0x18);
	__cpuid(0, a, b, c, d);
	hg_sim_mark_end();
	printf("v=%u\n", a + b + c + d > 0);
}

static void case_pause(void)
{
	begin(0x19);
	__asm__ volatile("pause");
	hg_sim_mark_end();
}

/* An empty section; accesses, a page touch, a system call, CPUID and
 * PAUSE outside sections; another empty section. */
static void case_outside(void)
{
	unsigned a, b, c, d;
	volatile char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	begin(0x1c);
	hg_sim_mark_end();
	memset(hg_t_lines, 1, sizeof hg_t_lines);
	p[0] = 1;
	syscall(SYS_getpid);
	__cpuid(0, a, b, c, d);
	__asm__ volatile("pause");
	printf("base=%p\n", (void *)hg_t_lines);
	begin(0x1a);
	hg_sim_mark_end();
	printf("v=%u\n", a + b + c + d > 0);
}

/* begin, yield, begin at another site, end: two intervals of one hold. */
static void case_yield(void)
{
	begin(0x1b);
	hg_t_counter++;
	hg_sim_mark_yield();
	hg_sim_mark_end();
	begin(0x1e);
	hg_t_counter++;
	hg_sim_mark_end();
}

/* One hold of lock 2: 100 intervals at sites 0x1000 + i, 99 yield points. */
static void case_yield100(void)
{
	begin_lock(0x1000, 2);
	for (int i = 1; i < 100; i++) {
		hg_t_counter++;
		yield_to(0x1000 + (uint64_t)i, 2);
	}
	hg_t_counter++;
	hg_sim_mark_end();
}

/* Six intervals of one hold at sites 0x30 + j: line 0 of hg_t_lines read in
 * interval 0 and written in 3; line 5 written and line 6 read only in 5;
 * line 7 written after interval 2's yield point, before the next begin. */
static void case_masks(void)
{
	volatile char *p = hg_t_lines;
	char v;
	printf("base=%p\n", (void *)hg_t_lines);
	begin(0x30);
	v = p[0];
	yield_to(0x31, 1);
	yield_to(0x32, 1);
	hg_sim_mark_yield();
	hg_sim_mark_end();
	p[7 * 64] = 1;
	begin(0x33);
	p[0] = 2;
	yield_to(0x34, 1);
	yield_to(0x35, 1);
	p[5 * 64] = 3;
	v += p[6 * 64];
	hg_sim_mark_end();
	printf("v=%d\n", v);
}

static void *cut_body(void *arg)
{
	(void)arg;
	begin(0x41);
	hg_t_counter++;
	hg_sim_mark_yield();
	hg_sim_mark_end();
	return NULL; /* the thread exits with its hold after a yield point */
}

/* Yield points whose holds do not continue: another thread begins a section
 * of lock 1; that thread exits; a begin of lock 2 follows one of lock 1. */
static void case_cut(void)
{
	pthread_t b;
	begin(0x40);
	hg_t_counter++;
	hg_sim_mark_yield();
	hg_sim_mark_end();
	pthread_create(&b, NULL, cut_body, NULL);
	pthread_join(b, NULL);
	begin(0x42);
	hg_t_counter++;
	hg_sim_mark_yield();
	hg_sim_mark_end();
	begin_lock(0x43, 2);
	hg_t_counter++;
	hg_sim_mark_end();
}

/*
 * A section writes one byte in each line of a 4 KiB array on its own stack,
 * in a callee, at constant offsets from the stack pointer (the tool records
 * those as spans); before it begins, the thread writes deeper in its stack,
 * which the section does not touch.
 */
#define HG_T_STACK 4096
#define HG_T_W(k) buf[(k) * 64] = (char)(v + (k));
#define HG_T_W8(k) HG_T_W(k) HG_T_W(k + 1) HG_T_W(k + 2) HG_T_W(k + 3) \
	HG_T_W(k + 4) HG_T_W(k + 5) HG_T_W(k + 6) HG_T_W(k + 7)
static __attribute__((noinline)) void stack_fill(int v, int print)
{
	volatile char buf[HG_T_STACK];
	HG_T_W8(0) HG_T_W8(8) HG_T_W8(16) HG_T_W8(24)
	HG_T_W8(32) HG_T_W8(40) HG_T_W8(48) HG_T_W8(56)
	if (print)
		printf("buf=%p\nbuf_size=%d\n", (void *)buf, HG_T_STACK);
}
static __attribute__((noinline)) void stack_deep(void)
{
	volatile char pad[2 * HG_T_STACK];
	pad[0] = 1;
	stack_fill(pad[0], 0);
}

static void case_stack(void)
{
	stack_deep();
	begin(0x1f);
	stack_fill(3, 0);
	hg_sim_mark_end();
	stack_fill(4, 1); /* the same frame: its address, after the section */
}

/* A section reads a constant table (at a constant address, in a read-only
 * mapping) and writes hg_t_counter. */
static const int hg_t_table[64] = { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3 };
static void case_rodata(void)
{
	printf("table=%p\n", (void *)&hg_t_table[5]);
	begin(0x20);
	hg_t_counter += *(volatile const int *)&hg_t_table[5];
	hg_sim_mark_end();
}

/* A section, then the process replaces itself: the trace keeps the section. */
static void case_exec(void)
{
	begin(0x1d);
	hg_t_counter++;
	hg_sim_mark_end();
	fflush(stdout);
	execl("/bin/true", "true", (char *)NULL);
}

static const struct {
	const char *name;
	void (*run)(void);
} hg_t_cases[] = {
	{ "lines", case_lines }, { "global", case_global }, { "threads", case_threads },
	{ "syscall", case_syscall }, { "heap", case_heap }, { "page", case_page },
	{ "fixed", case_fixed },
	{ "cpuid", case_cpuid }, { "pause", case_pause }, { "outside", case_outside },
	{ "yield", case_yield }, { "exec", case_exec }, { "yield100", case_yield100 },
	{ "masks", case_masks }, { "cut", case_cut }, { "stack", case_stack },
	{ "rodata", case_rodata }, { "interleave", case_interleave },
};

int main(int argc, char **argv)
{
	for (size_t i = 0; argc == 2 && i < sizeof hg_t_cases / sizeof hg_t_cases[0]; i++) {
		if (strcmp(argv[1], hg_t_cases[i].name) == 0) {
			hg_t_cases[i].run();
			return 0;
		}
	}
	fprintf(stderr, "usage: sim_sections CASE (lines, global, threads, syscall, heap, "
	                "page, cpuid, pause, outside, yield, exec, yield100, masks, cut, stack, rodata, interleave)\n");
	return 2;
}
