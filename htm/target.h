/* SPDX-License-Identifier: MIT */
/*
 * htm/target.h - how a speculative tier reaches a front end's real lock.
 *
 * The engine (engine/engine.c) and the emulated HTM (htm/emu.c) both take
 * and wait for the real lock through these operations; a front end (the
 * elided lock, hg_run, the GIL, pthread mode) fills one table per kind of
 * lock.
 */
#ifndef HG_HTM_TARGET_H
#define HG_HTM_TARGET_H

#include <stdbool.h>

/*
 * The subscription word that goes with a target is a 32-bit word that is 0
 * exactly when the real lock is free and is written by every real
 * acquisition (hg_mutex.word, CPython's gil->locked, glibc's mutex __lock).
 */
struct hg_target_ops {
	void (*lock)(void *target);
	bool (*trylock)(void *target);  /* may be NULL: emulation then blocks in lock */
	void (*unlock)(void *target);
	/* Waits until the lock is seen free without taking it; NULL: spin, then yield. */
	void (*wait_free)(void *target, unsigned spin_iters);
	/*
	 * Extra subscription test run inside the transaction after the word
	 * check; returns an abort code (e.g. HG_ABORT_STM_BUSY) or 0.  May be NULL.
	 */
	unsigned (*subscribe_extra)(void *target);
	/*
	 * Sections are long (a GIL hold): the engine times every one, not one
	 * in 64 (docs/report.md, "Time").
	 */
	bool time_every;
};

#endif /* HG_HTM_TARGET_H */
