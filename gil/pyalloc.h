/* SPDX-License-Identifier: MIT */
/*
 * gil/pyalloc.h - a per-thread object allocator for CPython 3.11-3.13
 * (HTMGIL_PYALLOC; docs/gil.md, "The object allocator").
 *
 * pymalloc's pools are per interpreter, so two threads that allocate write
 * the same pool lists and pool headers and their transactions conflict.
 * The preload wraps the interpreter's PYMEM_DOMAIN_MEM and PYMEM_DOMAIN_OBJ
 * allocators: new blocks come from mimalloc's thread-local default heaps,
 * blocks allocated before the switch go back to the allocator that made
 * them (ownership: mi_is_in_heap_region).
 *
 * The switch happens once, at the first take of the GIL through the engine
 * that holds the real GIL (so no other thread runs or speculates on
 * CPython's allocator then) by a thread other than the first that took it:
 * a single-threaded program keeps pymalloc.  gil/gil3.c calls
 * hg_pyalloc_taken() there while hg_pyalloc_armed is set, and
 * hg_pyalloc_flush() after each drop (outside transactions) while
 * hg_pyalloc_on is set.
 */
#ifndef HG_GIL_PYALLOC_H
#define HG_GIL_PYALLOC_H

#include <stdint.h>
#include <stdio.h>

#include "gil/pyident.h"
#include "htmgil/prof.h"

/* 1 while the switch is wanted and not yet made; read relaxed. */
HG_INTERNAL extern uint32_t hg_pyalloc_armed;
/* 1 once the wrappers are installed; read relaxed. */
HG_INTERNAL extern uint32_t hg_pyalloc_on;

/*
 * Reads HTMGIL_PYALLOC and decides whether the switch is wanted for this
 * process (for auto: elision in mode rtm); resolves
 * mimalloc and CPython's allocator functions.  From hg_gil3_install, before
 * any other thread exists.
 */
HG_INTERNAL void hg_pyalloc_setup(const struct hg_py *py);
/* The real GIL is held by the calling thread, outside any transaction. */
HG_INTERNAL void hg_pyalloc_taken(void);
/* Adds the calling thread's counts to the totals; outside any transaction. */
HG_INTERNAL void hg_pyalloc_flush(void);
/* The allocator lines of the GIL report (JSON: one member, with leading comma). */
HG_INTERNAL void hg_pyalloc_report(FILE *f, enum hg_report_format fmt);

#endif /* HG_GIL_PYALLOC_H */
