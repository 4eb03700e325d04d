/* SPDX-License-Identifier: MIT */
/*
 * htm/emu.c - emulated HTM with seeded abort injection (HTMGIL_EMU).
 *
 * Rates are fixed-point probabilities (1.0 = 2^32) kept as cumulative
 * thresholds, so one draw picks at most one cause.  Each thread draws from its
 * own xorshift64* stream seeded from (seed, thread ordinal), which makes a run
 * deterministic for a given seed as long as threads start in the same order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic.h"
#include "htm/emu.h"
#include "htm/status.h"

enum { HG_EMU_CONFLICT, HG_EMU_CAPACITY, HG_EMU_RETRY, HG_EMU_OTHER, HG_EMU_NCAUSE };

static const char *const hg_emu_keys[HG_EMU_NCAUSE] = { "conflict", "capacity", "retry", "other" };
static const uint32_t hg_emu_status[HG_EMU_NCAUSE] = {
	HG_STATUS_CONFLICT | HG_STATUS_RETRY, /* a data conflict */
	HG_STATUS_CAPACITY,                   /* a buffer overflow: no RETRY */
	HG_STATUS_RETRY,                      /* transient, no cause named */
	0,                                    /* interrupt, fault, syscall */
};

/*
 * Configuration, written by hg_emu_configure (start-up or tests, while no
 * section runs) and read at every begin: relaxed, a torn update between two
 * configurations would only mix two valid settings.
 */
static uint64_t hg_emu_cut[HG_EMU_NCAUSE]; /* cumulative thresholds over 2^32 */
static uint64_t hg_emu_seed = 0x2545f4914f6cdd1dull;
static uint32_t hg_emu_generation;         /* bumped to reseed threads */
/* The last accepted HTMGIL_EMU spec, for the report (written with the configuration). */
static char hg_emu_spec_now[256];

static HG_TLS uint64_t hg_rng_state;
static HG_TLS uint32_t hg_rng_gen;
static HG_TLS unsigned hg_emu_open;

static uint64_t hg_splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t hg_rand(void)
{
	uint32_t gen = hg_atomic_load_relaxed32(&hg_emu_generation) + 1;
	if (HG_UNLIKELY(hg_rng_gen != gen)) {
		hg_rng_gen = gen;
		hg_rng_state = hg_splitmix(hg_atomic_load_relaxed64(&hg_emu_seed) ^
		    ((uint64_t)hg_thread_id() << 32)) | 1;
	}
	uint64_t x = hg_rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	hg_rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

const char *hg_emu_spec(void)
{
	return hg_emu_spec_now;
}

unsigned hg_emu_depth(void)
{
	return hg_emu_open;
}

uint32_t hg_emu_begin(void *target, const struct hg_target_ops *ops)
{
	uint64_t r = hg_rand() >> 32;
	for (int c = 0; c < HG_EMU_NCAUSE; c++)
		if (r < hg_atomic_load_relaxed64(&hg_emu_cut[c]))
			return hg_emu_status[c];
	if (ops->trylock) {
		if (!ops->trylock(target))
			return HG_STATUS_MAKE_EXPLICIT(HG_ABORT_BUSY);
	} else {
		ops->lock(target);
	}
	hg_emu_open++;
	return HG_STATUS_STARTED;
}

void hg_emu_commit(void *target, const struct hg_target_ops *ops)
{
	hg_emu_open--;
	ops->unlock(target);
}

static int hg_emu_bad(const char *spec, const char *why)
{
	hg_warn("HTMGIL_EMU=\"%s\": %s; expected conflict=P,capacity=P,retry=P,other=P,seed=N "
	        "with probabilities 0..1 summing to at most 1 (previous settings kept)",
	    spec, why);
	return -1;
}

int hg_emu_configure(const char *spec)
{
	double p[HG_EMU_NCAUSE] = { 0 };
	uint64_t seed = hg_atomic_load_relaxed64(&hg_emu_seed);
	char buf[256];

	if (!spec)
		spec = "";
	if (strlen(spec) >= sizeof buf)
		return hg_emu_bad(spec, "too long");
	strcpy(buf, spec);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq || eq == tok || !eq[1])
			return hg_emu_bad(spec, "an item is not key=value");
		*eq = '\0';
		const char *val = eq + 1;
		char *end;
		errno = 0;
		if (strcmp(tok, "seed") == 0) {
			unsigned long long v = strtoull(val, &end, 0);
			if (*end || errno || val[0] == '-')
				return hg_emu_bad(spec, "seed is not a non-negative integer");
			seed = v;
			continue;
		}
		int c;
		for (c = 0; c < HG_EMU_NCAUSE; c++)
			if (strcmp(tok, hg_emu_keys[c]) == 0)
				break;
		if (c == HG_EMU_NCAUSE)
			return hg_emu_bad(spec, "unknown key");
		double v = strtod(val, &end);
		if (*end || errno || !(v >= 0.0 && v <= 1.0))
			return hg_emu_bad(spec, "a probability is not a number in 0..1");
		p[c] = v;
	}
	double sum = 0;
	uint64_t cut[HG_EMU_NCAUSE];
	for (int c = 0; c < HG_EMU_NCAUSE; c++) {
		sum += p[c];
		cut[c] = (uint64_t)(sum * 4294967296.0);
	}
	if (sum > 1.0 + 1e-9)
		return hg_emu_bad(spec, "the probabilities sum to more than 1");
	for (int c = 0; c < HG_EMU_NCAUSE; c++)
		hg_atomic_store_relaxed64(&hg_emu_cut[c], cut[c]);
	hg_atomic_store_relaxed64(&hg_emu_seed, seed);
	hg_atomic_fetch_add_relaxed32(&hg_emu_generation, 1);
	snprintf(hg_emu_spec_now, sizeof hg_emu_spec_now, "%s", spec);
	return 0;
}
