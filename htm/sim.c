/* SPDX-License-Identifier: MIT */
/*
 * htm/sim.c - the simulation markers (htm/sim.h).  Their bodies are empty
 * but distinct (so identical-code folding cannot merge two of them) and
 * take their arguments as asm inputs (so no pass drops or moves them).
 */
#include "htm/sim.h"

uint32_t hg_sim_on;

void hg_sim_mark_begin(uint64_t site, const void *sub_word, uint32_t lock_id)
{
	__asm__ volatile("# hg_sim_mark_begin" ::"r"(site), "r"(sub_word), "r"(lock_id) : "memory");
}

void hg_sim_mark_yield(void)
{
	__asm__ volatile("# hg_sim_mark_yield" ::: "memory");
}

void hg_sim_mark_end(void)
{
	__asm__ volatile("# hg_sim_mark_end" ::: "memory");
}

void hg_sim_mark_region(const void *base, uint64_t size, const char *name)
{
	__asm__ volatile("# hg_sim_mark_region" ::"r"(base), "r"(size), "r"(name) : "memory");
}
