/* SPDX-License-Identifier: MIT */
/*
 * base/json.h - writing JSON string literals.
 */
#ifndef HG_JSON_H
#define HG_JSON_H

#include <stdio.h>

#include "base/util.h"

/*
 * Writes s to f as one JSON string literal, quotes included: '"' and '\\'
 * are backslash-escaped, bytes below 0x20 become \u00XX, every other byte
 * (UTF-8 included) is copied as it is.  s must not be NULL.  Outside
 * transactions only (stdio).
 */
HG_INTERNAL void hg_json_write_str(FILE *f, const char *s);

#endif /* HG_JSON_H */
