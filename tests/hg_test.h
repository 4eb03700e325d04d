/* SPDX-License-Identifier: MIT */
/*
 * tests/hg_test.h - the test harness: HG_EXPECT_* records a failure and
 * continues, HG_ASSERT_* records it and ends the test.  main() runs the
 * tests named in HG_TESTS and prints "N passed, N failed"; the exit code is
 * non-zero when anything failed, 77 (skipped) when every test skipped.
 */
#ifndef HG_TEST_H
#define HG_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htmgil/prof.h"

static int hg_t_failed_checks;
static jmp_buf hg_t_jmp;
static int hg_t_skipped;

#define HG_T_FAIL(...)                                                          \
	do {                                                                    \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                 \
		fprintf(stderr, __VA_ARGS__);                                   \
		fputc('\n', stderr);                                            \
		hg_t_failed_checks++;                                           \
	} while (0)

#define HG_EXPECT(c) do { if (!(c)) HG_T_FAIL("expected %s", #c); } while (0)
#define HG_ASSERT(c) do { if (!(c)) { HG_T_FAIL("assertion %s", #c); longjmp(hg_t_jmp, 1); } } while (0)
#define HG_EXPECT_EQ(a, b)                                                      \
	do {                                                                    \
		long long hg_a_ = (long long)(a), hg_b_ = (long long)(b);       \
		if (hg_a_ != hg_b_)                                             \
			HG_T_FAIL("expected %s == %s (%lld vs %lld)", #a, #b, hg_a_, hg_b_); \
	} while (0)
#define HG_ASSERT_EQ(a, b)                                                      \
	do {                                                                    \
		long long hg_a_ = (long long)(a), hg_b_ = (long long)(b);       \
		if (hg_a_ != hg_b_) {                                           \
			HG_T_FAIL("assertion %s == %s (%lld vs %lld)", #a, #b, hg_a_, hg_b_); \
			longjmp(hg_t_jmp, 1);                                   \
		}                                                               \
	} while (0)
#define HG_SKIP(why) do { fprintf(stderr, "skipped: %s\n", why); hg_t_skipped = 1; return; } while (0)

struct hg_test { const char *name; void (*fn)(void); };
#define HG_TEST(f) { #f, f }

static inline int hg_test_main(const struct hg_test *t, size_t n)
{
	/* volatile: live across setjmp/longjmp */
	volatile int passed = 0, failed = 0, skipped = 0;
	for (volatile size_t i = 0; i < n; i++) {
		int before = hg_t_failed_checks;
		hg_t_skipped = 0;
		if (setjmp(hg_t_jmp) == 0)
			t[i].fn();
		if (hg_t_failed_checks != before) {
			failed++;
			printf("FAIL %s\n", t[i].name);
		} else if (hg_t_skipped) {
			skipped++;
			printf("SKIP %s\n", t[i].name);
		} else {
			passed++;
			printf("ok   %s\n", t[i].name);
		}
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	if (failed)
		return 1;
	return passed == 0 && skipped > 0 ? 77 : 0;
}
#define HG_RUN_TESTS(arr) hg_test_main(arr, sizeof(arr) / sizeof((arr)[0]))

/* Environment knob for stress sizes: HG_TEST_SCALE multiplies iteration counts. */
static inline double hg_test_scale(void)
{
	const char *s = getenv("HG_TEST_SCALE");
	double v = s ? atof(s) : 1.0;
	return v > 0 ? v : 1.0;
}

/* The statistics slot that counts explicit abort code (the last, "other codes", when none). */
static inline unsigned hg_test_explicit_slot(unsigned code)
{
	for (unsigned i = 0; i < HG_EXPLICIT_SLOTS; i++)
		if (hg_explicit_slot_code(i) == code)
			return i;
	return HG_EXPLICIT_SLOTS - 1;
}

#endif /* HG_TEST_H */
