/* SPDX-License-Identifier: MIT */
/*
 * tests/tools/dummy_preload.c - a stand-in preload library for the
 * `htmgil run` tests.  Built without sanitizers, so it can be preloaded into
 * uninstrumented programs from every build; its constructor leaves a mark
 * in the environment that shows it was really loaded.
 */
#include <stdlib.h>

__attribute__((constructor)) static void hg_test_dummy_preload_init(void)
{
	setenv("HG_TEST_PRELOAD_LOADED", "1", 1);
}
