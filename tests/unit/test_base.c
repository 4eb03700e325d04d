/* SPDX-License-Identifier: MIT */
/* tests/unit/test_base.c - the base/ helpers: JSON strings, pointer loads, spin-then-yield. */
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#include "hg_test.h"
#include "base/atomic.h"
#include "base/json.h"
#include "base/util.h"

static void json_of(const char *s, char *out, size_t len)
{
	FILE *f = fmemopen(out, len, "w");
	HG_ASSERT(f != NULL);
	hg_json_write_str(f, s);
	fclose(f);
}

static void test_json_str(void)
{
	char buf[128];
	json_of("", buf, sizeof buf);
	HG_EXPECT(strcmp(buf, "\"\"") == 0);
	json_of("plain text", buf, sizeof buf);
	HG_EXPECT(strcmp(buf, "\"plain text\"") == 0);
	json_of("a \"b\" c\\d", buf, sizeof buf);
	HG_EXPECT(strcmp(buf, "\"a \\\"b\\\" c\\\\d\"") == 0);
	json_of("tab\tnl\n\x01\x1f", buf, sizeof buf);
	HG_EXPECT(strcmp(buf, "\"tab\\u0009nl\\u000a\\u0001\\u001f\"") == 0);
	json_of("caf\xc3\xa9 \x7f", buf, sizeof buf); /* UTF-8 and DEL pass through */
	HG_EXPECT(strcmp(buf, "\"caf\xc3\xa9 \x7f\"") == 0);
}

static void test_load_ptr(void)
{
	alignas(8) unsigned char raw[32];
	memset(raw, 0xaa, sizeof raw);
	void *want = &raw[5];
	memcpy(raw + 3, &want, sizeof want); /* unaligned on purpose */
	HG_EXPECT(hg_load_ptr(raw, 3) == want);
	memcpy(raw + 16, &want, sizeof want);
	HG_EXPECT(hg_load_ptr(raw, 16) == want);
}

static void test_spin_then_yield(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < 5; i++)
		hg_spin_then_yield(&n, 3);
	HG_EXPECT_EQ(n, 3); /* three spins counted, then yields leave the count */
	unsigned z = 0;
	hg_spin_then_yield(&z, 0); /* spin 0: yields at once */
	HG_EXPECT_EQ(z, 0);
}

static const struct hg_test tests[] = {
	HG_TEST(test_json_str),
	HG_TEST(test_load_ptr),
	HG_TEST(test_spin_then_yield),
};

int main(void)
{
	return HG_RUN_TESTS(tests);
}
