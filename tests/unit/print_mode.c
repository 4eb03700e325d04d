/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/print_mode.c - prints the mode and policy the library settled
 * on from the environment, then runs a few sections whose result must not
 * depend on the environment (bad input never changes the host's results).
 */
#include <stdio.h>

#include "htmgil/htmgil.h"

int main(void)
{
	struct hg_policy p;
	struct hg_lock l;
	long sum = 0;

	hg_policy_get(&p);
	hg_lock_init(&l, "env");
	for (long i = 1; i <= 1000; i++) {
		hg_lock_acquire(&l, 0);
		sum += i;
		hg_lock_release(&l);
	}
	printf("mode=%s retry_conflict=%u sum=%ld\n", hg_htm_mode_name(hg_htm_mode()), p.retry_conflict, sum);
	return sum == 500500 ? 0 : 1;
}
