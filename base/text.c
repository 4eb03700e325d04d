/* SPDX-License-Identifier: MIT */
/*
 * base/text.c - fitting names into the columns of a text table (base/text.h).
 */
#include <string.h>

#include "base/text.h"

static int hg_text_is_start(unsigned char c)
{
	return (c & 0xc0u) != 0x80u;
}

unsigned hg_text_columns(const char *s)
{
	unsigned n = 0;
	for (; *s; s++)
		n += hg_text_is_start((unsigned char)*s);
	return n;
}

/* The byte offset of code point k of s (strlen(s) when k is past the end). */
static size_t hg_text_offset(const char *s, unsigned k)
{
	size_t i = 0;
	for (unsigned seen = 0; s[i]; i++) {
		if (hg_text_is_start((unsigned char)s[i]) && seen++ == k)
			return i;
	}
	return i;
}

/* Appends bytes [from, to) of s to out at *o, stopping at a code point
 * boundary before len - 1; returns the columns appended. */
static unsigned hg_text_put(char *out, size_t len, size_t *o, const char *s, size_t from, size_t to)
{
	unsigned cols = 0;
	for (size_t i = from; i < to;) {
		size_t j = i + 1;
		while (j < to && !hg_text_is_start((unsigned char)s[j]))
			j++;
		if (*o + (j - i) >= len)
			break;
		memcpy(out + *o, s + i, j - i);
		*o += j - i;
		cols++;
		i = j;
	}
	out[*o] = '\0';
	return cols;
}

unsigned hg_text_elide(const char *s, unsigned width, char *out, size_t len)
{
	if (len == 0)
		return 0;
	size_t o = 0;
	out[0] = '\0';
	unsigned cols = hg_text_columns(s);
	size_t n = strlen(s);
	if (cols <= width || width < 5)
		return hg_text_put(out, len, &o, s, 0, n);
	unsigned keep = width - 3;
	unsigned head = (keep + 1) / 2, tail = keep / 2;
	unsigned w = hg_text_put(out, len, &o, s, 0, hg_text_offset(s, head));
	w += hg_text_put(out, len, &o, "...", 0, 3);
	w += hg_text_put(out, len, &o, s, hg_text_offset(s, cols - tail), n);
	return w;
}
