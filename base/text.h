/* SPDX-License-Identifier: MIT */
/*
 * base/text.h - fitting names into the columns of a text table.
 */
#ifndef HG_TEXT_H
#define HG_TEXT_H

#include <stddef.h>

#include "base/util.h"

/* Columns s takes: its UTF-8 code points (bytes other than 10xxxxxx). */
HG_INTERNAL unsigned hg_text_columns(const char *s);

/*
 * Writes s to out (len bytes, NUL-terminated) in at most width columns
 * (width >= 5): s itself when it fits, else its head and tail joined by
 * "..." (the middle elided), cut only between code points, so a UTF-8
 * sequence is never split.  Returns the columns written.  out too short
 * for the result: it is cut at a code point boundary.
 */
HG_INTERNAL unsigned hg_text_elide(const char *s, unsigned width, char *out, size_t len);

#endif /* HG_TEXT_H */
