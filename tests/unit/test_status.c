/* SPDX-License-Identifier: MIT */
/* tests/unit/test_status.c - abort status decoding (RTM EAX layout). */
#include "hg_test.h"
#include "htm/htm.h"
#include "htmgil/prof.h"

static void test_causes(void)
{
	HG_EXPECT_EQ(hg_status_cause(0), HG_CAUSE_OTHER);
	HG_EXPECT_EQ(hg_status_cause(HG_STATUS_CONFLICT | HG_STATUS_RETRY), HG_CAUSE_CONFLICT);
	HG_EXPECT_EQ(hg_status_cause(HG_STATUS_CAPACITY), HG_CAUSE_CAPACITY);
	HG_EXPECT_EQ(hg_status_cause(HG_STATUS_CAPACITY | HG_STATUS_CONFLICT), HG_CAUSE_CAPACITY);
	HG_EXPECT_EQ(hg_status_cause(HG_STATUS_RETRY), HG_CAUSE_RETRY);
	HG_EXPECT_EQ(hg_status_cause(HG_STATUS_DEBUG), HG_CAUSE_OTHER);
	HG_EXPECT_EQ(hg_status_cause(HG_STATUS_NESTED), HG_CAUSE_OTHER);
	HG_EXPECT_EQ(hg_status_cause(HG_STATUS_MAKE_EXPLICIT(0x42) | HG_STATUS_NESTED), HG_CAUSE_EXPLICIT);
	/* valgrind's XBEGIN: an immediate abort with status 0x8 */
	HG_EXPECT_EQ(hg_status_cause(0x8), HG_CAUSE_CAPACITY);
}

static void test_codes(void)
{
	uint32_t s = HG_STATUS_MAKE_EXPLICIT(HG_ABORT_BUSY);
	HG_EXPECT_EQ(s, 0xff000001u);
	HG_EXPECT_EQ(HG_STATUS_CODE(s), 0xff);
	HG_EXPECT(hg_status_is_busy(s));
	HG_EXPECT(!hg_status_is_busy(HG_STATUS_MAKE_EXPLICIT(HG_ABORT_NESTED_TRYLOCK)));
	HG_EXPECT(!hg_status_is_busy(0xff000000u)); /* code bits without EXPLICIT mean nothing */
	HG_EXPECT(hg_status_retry(HG_STATUS_CONFLICT | HG_STATUS_RETRY));
	HG_EXPECT(!hg_status_retry(HG_STATUS_CAPACITY));
	/* The registry's codes are distinct and named. */
	static const unsigned codes[] = { HG_ABORT_BUSY, HG_ABORT_NESTED_TRYLOCK, HG_ABORT_STM_BUSY,
		HG_ABORT_GIL_DROP, HG_ABORT_SYSCALL, HG_ABORT_IRREVOCABLE, HG_ABORT_NESTED_BUSY,
		HG_ABORT_FINALIZING };
	const unsigned ncodes = sizeof codes / sizeof codes[0];
	for (unsigned i = 0; i < ncodes; i++) {
		HG_EXPECT(codes[i] > HG_ABORT_USER_MAX);
		HG_EXPECT(strcmp(hg_abort_code_name(codes[i]), "unknown") != 0);
		for (unsigned j = i + 1; j < ncodes; j++)
			HG_EXPECT(codes[i] != codes[j]);
	}
	/* Each registry code has its own statistics slot, named by the code. */
	for (unsigned i = 0; i < ncodes; i++) {
		unsigned k;
		for (k = 0; k < HG_EXPLICIT_SLOTS; k++)
			if (hg_explicit_slot_code(k) == codes[i])
				break;
		HG_EXPECT(k < HG_EXPLICIT_SLOTS);
	}
	HG_EXPECT(strcmp(hg_abort_code_name(HG_ABORT_NESTED_BUSY), "nested_busy") == 0);
	HG_EXPECT(strcmp(hg_abort_code_name(HG_ABORT_FINALIZING), "finalizing") == 0);
	HG_EXPECT(strcmp(hg_abort_code_name(HG_ABORT_BUSY), "busy") == 0);
	HG_EXPECT(strcmp(hg_abort_code_name(HG_ABORT_NESTED_TRYLOCK), "nested_trylock") == 0);
	HG_EXPECT(strcmp(hg_abort_code_name(0x10), "user") == 0);
	HG_EXPECT_EQ(hg_explicit_slot_code(0), HG_ABORT_BUSY);
}

static void test_started(void)
{
	HG_EXPECT_EQ(HG_STATUS_STARTED, 0xffffffffu);
	HG_EXPECT(hg_htm_begin_success(HG_STATUS_STARTED));
	HG_EXPECT(!hg_htm_begin_success(HG_STATUS_CAPACITY));
}

int main(void)
{
	static const struct hg_test t[] = { HG_TEST(test_causes), HG_TEST(test_codes), HG_TEST(test_started) };
	return HG_RUN_TESTS(t);
}
