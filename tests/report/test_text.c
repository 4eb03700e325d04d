/* SPDX-License-Identifier: MIT */
/*
 * tests/report/test_text.c - names fitted to a column (base/text.c) and the
 * exit report's text table (engine/report.c): one table, long UTF-8 names
 * elided in the middle without splitting a sequence, a last line pointing
 * to `htmgil report`.
 */
#include <stdio.h>
#include <string.h>

#include "hg_test.h"
#include "base/text.h"
#include "htmgil/htmgil.h"

/* 1 when s is well-formed UTF-8 (no sequence cut short or stray). */
static int utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : 9;
		if (n == 9)
			return 0;
		p++;
		for (unsigned i = 0; i < n; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

static void test_elide(void)
{
	char out[256];
	HG_EXPECT_EQ(hg_text_elide("short", 10, out, sizeof out), 5);
	HG_EXPECT(strcmp(out, "short") == 0);
	HG_EXPECT_EQ(hg_text_elide("abcdefghijklmnopqrstuvwxyz", 11, out, sizeof out), 11);
	HG_EXPECT(strcmp(out, "abcd...wxyz") == 0);
	/* Every width over a name of 2-, 3- and 4-byte sequences: never split. */
	const char *u = "é函数βプロジェクト😀ü/module_β.py:42";
	unsigned cols = hg_text_columns(u);
	HG_EXPECT_EQ(cols, 27);
	for (unsigned w = 5; w <= cols + 2; w++) {
		unsigned got = hg_text_elide(u, w, out, sizeof out);
		HG_EXPECT(got <= w);
		HG_EXPECT_EQ(got, hg_text_columns(out));
		HG_EXPECT(utf8_ok(out));
		if (w < cols) {
			HG_EXPECT(strstr(out, "...") != NULL);
			HG_EXPECT_EQ(got, w);
		}
	}
	hg_text_elide(u, 12, out, sizeof out);
	HG_EXPECT(strcmp(out, "é函数βプ...y:42") == 0);
	/* A short buffer cuts at a code point boundary. */
	hg_text_elide("函数函数", 10, out, 5);
	HG_EXPECT(strcmp(out, "函") == 0);
}

static void test_text_report(void)
{
	static const char longname[] =
	    "CALL@18 Ünïcödé_函数_with_a_rather_long_name /srv/プロジェクト/very/long/path/module_β.py:42";
	struct hg_lock a, b;
	hg_lock_init(&a, "text.a");
	hg_lock_init(&b, "text.b");
	HG_ASSERT_EQ(hg_lock_set_mode(&a, HG_HTM_EMU), 0);
	HG_ASSERT_EQ(hg_lock_set_mode(&b, HG_HTM_EMU), 0);
	HG_ASSERT_EQ(hg_emu_configure("conflict=0.3,seed=2"), 0);
	for (int i = 0; i < 50; i++) {
		hg_lock_acquire(&a, hg_site(longname));
		hg_lock_release(&a);
		hg_lock_acquire(&b, hg_site("text.short"));
		hg_lock_release(&b);
	}
	static char buf[1 << 16];
	FILE *f = fmemopen(buf, sizeof buf, "w");
	HG_ASSERT(f != NULL);
	HG_EXPECT_EQ(hg_report_write(f, HG_REPORT_TEXT), 0);
	fclose(f);
	HG_EXPECT(utf8_ok(buf));
	/* One table: one header line, each site on one row. */
	unsigned heads = 0, longrows = 0, shortrows = 0;
	const char *last = NULL;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "  lock ", 7) == 0 && strstr(line, " site ") && strstr(line, "acquired"))
			heads++;
		if (strstr(line, "CALL@18 Ünïcödé") && strstr(line, "...") && strstr(line, "module_β.py:42"))
			longrows++;
		if (strstr(line, "text.short"))
			shortrows++;
		last = line;
	}
	HG_EXPECT_EQ(heads, 1);
	HG_EXPECT_EQ(longrows, 1);
	HG_EXPECT_EQ(shortrows, 1);
	HG_ASSERT(last != NULL);
	HG_EXPECT(strstr(last, "htmgil report") != NULL);
}

int main(void)
{
	static const struct hg_test t[] = { HG_TEST(test_elide), HG_TEST(test_text_report) };
	return HG_RUN_TESTS(t);
}
