/* SPDX-License-Identifier: MIT */
/*
 * tests/stm/stm_test.h - the small harness of the STM tests: HG_EXPECT_*
 * records a failure and continues, HG_ASSERT_* records it and stops the test.
 */
#ifndef HG_STM_TEST_H
#define HG_STM_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int hg_test_failures;

#define HG_TEST_FAIL(fmt, ...)                                                 \
	do {                                                                   \
		fprintf(stderr, "%s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__); \
		hg_test_failures++;                                            \
	} while (0)

#define HG_EXPECT_TRUE(c)                                                      \
	do {                                                                   \
		if (!(c))                                                      \
			HG_TEST_FAIL("expected %s", #c);                       \
	} while (0)
#define HG_EXPECT_EQ(a, b)                                                     \
	do {                                                                   \
		unsigned long long hg_a_ = (unsigned long long)(a);            \
		unsigned long long hg_b_ = (unsigned long long)(b);            \
		if (hg_a_ != hg_b_)                                            \
			HG_TEST_FAIL("expected %s == %s (%llu != %llu)", #a, #b, hg_a_, hg_b_); \
	} while (0)
#define HG_ASSERT_TRUE(c)                                                      \
	do {                                                                   \
		if (!(c)) {                                                    \
			HG_TEST_FAIL("assertion %s", #c);                      \
			exit(1);                                               \
		}                                                              \
	} while (0)

/* Environment knob with a default (counts, thread numbers). */
static inline unsigned long hg_test_env(const char *name, unsigned long def)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	char *end;
	unsigned long x = strtoul(v, &end, 10);
	if (*end || x == 0) {
		fprintf(stderr, "%s=%s is not a positive integer; using %lu\n", name, v, def);
		return def;
	}
	return x;
}

#define HG_RUN_TEST(fn)                                                        \
	do {                                                                   \
		int hg_before_ = hg_test_failures;                             \
		fn();                                                          \
		fprintf(stderr, "%s %s\n", hg_test_failures == hg_before_ ? "ok  " : "FAIL", #fn); \
	} while (0)

#define HG_TEST_RESULT() (hg_test_failures ? 1 : 0)

#endif /* HG_STM_TEST_H */
