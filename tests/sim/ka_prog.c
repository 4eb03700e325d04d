/* SPDX-License-Identifier: MIT */
/*
 * tests/sim/ka_prog.c - the known-answer programs of `htmgil sim`
 * (tests/sim/check_ka.py says what each must predict).
 *
 *   ka_prog MODE [SECTIONS]
 *
 * Two threads run SECTIONS critical sections each under one default pthread
 * mutex (elided in pthread mode), with a short stretch of private work
 * between sections.  MODE says what a section does:
 *   disjoint    50 increments of the thread's own counter (own line)
 *   counter     50 increments of the shared hg_ka_counter
 *   falseshare  50 increments of hg_ka_word_a (thread 0) or hg_ka_word_b
 *               (thread 1), two words of one cache line
 *   bigwrite    writes 784 distinct lines (49 KiB) of the thread's buffer
 *   oneset      writes 14 lines 4 KiB apart (one L1 set)
 *   oneset10    writes 10 lines 4 KiB apart
 *   syscall     one increment and a getpid system call
 * The program checks its own results and exits 1 when they are wrong.
 *
 * With KA_PROG_PIN=1 in the environment (the real runs of
 * tests/rtm/check_ka_rtm.py), thread t is pinned to the t-th CPU the process
 * may use, and the program prints to stderr how much the threads overlapped:
 *   ka_prog: overlap F (N chunks), pinned|not pinned
 * F is the fraction of chunks of HG_KA_CHUNK sections, taken while both
 * threads were still running, during which the other thread completed at
 * least one section.  Two threads time-sliced on one CPU score near 0.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HG_KA_LINE 64
#define HG_KA_BIG_LINES 784
#define HG_KA_SET_STRIDE 4096
#define HG_KA_CHUNK 256

/* The lock word and the counter each on a line of their own. */
static pthread_mutex_t hg_ka_mutex __attribute__((aligned(HG_KA_LINE))) = PTHREAD_MUTEX_INITIALIZER;
static char hg_ka_mutex_pad[HG_KA_LINE] __attribute__((used));
volatile long hg_ka_counter __attribute__((aligned(HG_KA_LINE)));
static char hg_ka_counter_pad[HG_KA_LINE] __attribute__((used));
/*
 * Two variables of one line, apart from everything else: defined in one
 * assembler block so that they are adjacent whatever the compiler's
 * ordering, each with its own symbol type and size (the tool names data by
 * symbol).
 */
__asm__(".data\n"
        ".balign 64\n"
        ".globl hg_ka_word_a\n.type hg_ka_word_a, @object\n.size hg_ka_word_a, 8\n"
        "hg_ka_word_a: .quad 1\n"
        ".globl hg_ka_word_b\n.type hg_ka_word_b, @object\n.size hg_ka_word_b, 8\n"
        "hg_ka_word_b: .quad 1\n"
        ".space 48\n"
        ".text\n");
extern volatile long hg_ka_word_a, hg_ka_word_b;

struct hg_ka_own {
	volatile long n;
	char pad[HG_KA_LINE - sizeof(long)];
} __attribute__((aligned(HG_KA_LINE)));
static struct hg_ka_own hg_ka_own[2];

/*
 * Sections completed by each thread, each on its own line; written only by
 * its thread, outside the critical section, read by the other thread once a
 * chunk.  Relaxed: the figure is a sample, ordering nothing.
 */
struct hg_ka_progress {
	_Atomic long done;
	long live, overlapped; /* the thread's own chunk counts */
	char pad[HG_KA_LINE - 3 * sizeof(long)];
} __attribute__((aligned(HG_KA_LINE)));
static struct hg_ka_progress hg_ka_progress[2];
static int hg_ka_pin;

static const char *hg_ka_mode;
static long hg_ka_sections = 2000;
static char *hg_ka_buf[2];
/* Both threads start their sections together, so that they overlap. */
static pthread_barrier_t hg_ka_start;

static void hg_ka_section(int t, long k)
{
	const char *m = hg_ka_mode;
	if (strcmp(m, "disjoint") == 0) {
		for (int i = 0; i < 50; i++)
			hg_ka_own[t].n++;
	} else if (strcmp(m, "counter") == 0) {
		for (int i = 0; i < 50; i++)
			hg_ka_counter++;
	} else if (strcmp(m, "falseshare") == 0) {
		for (int i = 0; i < 50; i++) {
			if (t == 0)
				hg_ka_word_a++;
			else
				hg_ka_word_b++;
		}
	} else if (strcmp(m, "bigwrite") == 0) {
		for (int i = 0; i < HG_KA_BIG_LINES; i++)
			hg_ka_buf[t][(size_t)i * HG_KA_LINE] = (char)k;
	} else if (strcmp(m, "oneset") == 0 || strcmp(m, "oneset10") == 0) {
		int n = m[6] ? 10 : 14;
		for (int i = 0; i < n; i++)
			hg_ka_buf[t][(size_t)i * HG_KA_SET_STRIDE] = (char)k;
	} else if (strcmp(m, "syscall") == 0) {
		hg_ka_own[t].n++;
		if (syscall(SYS_getpid) <= 0)
			abort();
	}
}

static void *hg_ka_thread(void *arg)
{
	int t = (int)(intptr_t)arg;
	volatile long priv = 0;
	struct hg_ka_progress *me = &hg_ka_progress[t], *other = &hg_ka_progress[1 - t];
	long seen = 0;
	pthread_barrier_wait(&hg_ka_start);
	for (long k = 0; k < hg_ka_sections; k++) {
		pthread_mutex_lock(&hg_ka_mutex);
		hg_ka_section(t, k);
		pthread_mutex_unlock(&hg_ka_mutex);
		for (int i = 0; i < 20; i++)
			priv += i;
		if (!hg_ka_pin)
			continue;
		atomic_store_explicit(&me->done, k + 1, memory_order_relaxed);
		if ((k + 1) % HG_KA_CHUNK == 0) {
			long o = atomic_load_explicit(&other->done, memory_order_relaxed);
			if (o < hg_ka_sections && k + 1 > HG_KA_CHUNK) {
				me->live++;
				me->overlapped += o != seen;
			}
			seen = o;
		}
	}
	return (void *)(intptr_t)(priv == 0);
}

/*
 * ATTR[t] pins thread t to the t-th CPU of the process's mask; returns 0 and
 * leaves the attributes alone when the mask has fewer than two CPUs.
 */
static int hg_ka_pin_attrs(pthread_attr_t attr[2])
{
	cpu_set_t all;
	if (sched_getaffinity(0, sizeof(all), &all) != 0 || CPU_COUNT(&all) < 2)
		return 0;
	int t = 0;
	for (int c = 0; c < CPU_SETSIZE && t < 2; c++) {
		if (!CPU_ISSET(c, &all))
			continue;
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(c, &one);
		if (pthread_attr_setaffinity_np(&attr[t], sizeof(one), &one) != 0)
			return 0;
		t++;
	}
	return 1;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "disjoint", "counter", "falseshare", "bigwrite",
		"oneset", "oneset10", "syscall", NULL };
	if (argc < 2) {
		fprintf(stderr, "usage: ka_prog MODE [SECTIONS]\n");
		return 2;
	}
	hg_ka_mode = argv[1];
	int ok = 0;
	for (int i = 0; modes[i]; i++)
		ok |= strcmp(modes[i], hg_ka_mode) == 0;
	if (!ok) {
		fprintf(stderr, "ka_prog: unknown mode '%s'\n", hg_ka_mode);
		return 2;
	}
	if (argc > 2)
		hg_ka_sections = atol(argv[2]);
	if (((uintptr_t)&hg_ka_word_a >> 6) != ((uintptr_t)&hg_ka_word_b >> 6)) {
		fprintf(stderr, "ka_prog: hg_ka_word_a and hg_ka_word_b are not in one line\n");
		return 3;
	}
	for (int t = 0; t < 2; t++) {
		size_t n = (size_t)HG_KA_BIG_LINES * HG_KA_LINE + 16 * HG_KA_SET_STRIDE;
		/* page-aligned and touched before any section: no first-touch events */
		if (posix_memalign((void **)&hg_ka_buf[t], HG_KA_SET_STRIDE, n) != 0)
			return 1;
		memset(hg_ka_buf[t], 0, n);
	}
	const char *pin = getenv("KA_PROG_PIN");
	hg_ka_pin = pin && strcmp(pin, "1") == 0;
	pthread_t th[2];
	pthread_attr_t attr[2];
	pthread_barrier_init(&hg_ka_start, NULL, 2);
	for (int t = 0; t < 2; t++)
		pthread_attr_init(&attr[t]);
	int pinned = hg_ka_pin && hg_ka_pin_attrs(attr);
	for (int t = 0; t < 2; t++) {
		if (pthread_create(&th[t], &attr[t], hg_ka_thread, (void *)(intptr_t)t) != 0)
			return 1;
		pthread_attr_destroy(&attr[t]);
	}
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	if (hg_ka_pin) {
		long live = hg_ka_progress[0].live + hg_ka_progress[1].live;
		long ov = hg_ka_progress[0].overlapped + hg_ka_progress[1].overlapped;
		fprintf(stderr, "ka_prog: overlap %.3f (%ld chunks), %s\n",
		    live ? (double)ov / (double)live : 0.0, live, pinned ? "pinned" : "not pinned");
	}
	long want = 50 * hg_ka_sections;
	if (strcmp(hg_ka_mode, "falseshare") == 0)
		want++; /* both words start at 1 */
	int bad = 0;
	if (strcmp(hg_ka_mode, "counter") == 0)
		bad = hg_ka_counter != 2 * want;
	else if (strcmp(hg_ka_mode, "falseshare") == 0)
		bad = hg_ka_word_a != want || hg_ka_word_b != want;
	else if (strcmp(hg_ka_mode, "disjoint") == 0)
		bad = hg_ka_own[0].n != want || hg_ka_own[1].n != want;
	printf("ka_prog %s: %ld sections per thread, %s\n", hg_ka_mode, hg_ka_sections,
	    bad ? "WRONG RESULT" : "ok");
	return bad;
}
