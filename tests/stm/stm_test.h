/* SPDX-License-Identifier: MIT */
/*
 * tests/stm/stm_test.h - the shared harness (tests/hg_test.h) plus the
 * environment knob the STM stress tests take their sizes from.
 */
#ifndef HG_STM_TEST_H
#define HG_STM_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include "hg_test.h"

/* A positive integer from the environment, or def (one line when malformed). */
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

#endif /* HG_STM_TEST_H */
