/* SPDX-License-Identifier: MIT */
/*
 * tests/hg_fake_clock.h - the cycle counter and random source of the policy
 * tests' fake clock (struct hg_policy_clock, engine/policy.h): time moves
 * only when a test adds to fake_now, and the random numbers come from a
 * fixed xorshift seed, so every decision is repeatable.  Each test builds
 * its clock from these and its own parallelism and frequency.
 */
#ifndef HG_FAKE_CLOCK_H
#define HG_FAKE_CLOCK_H

#include <stdint.h>

static uint64_t fake_now = 1;
static uint64_t fake_rng = 0x9e3779b97f4a7c15ull;

static uint64_t fake_cycles(void)
{
	return fake_now;
}

static uint64_t fake_random(void)
{
	fake_rng ^= fake_rng << 13;
	fake_rng ^= fake_rng >> 7;
	fake_rng ^= fake_rng << 17;
	return fake_rng;
}

#endif /* HG_FAKE_CLOCK_H */
