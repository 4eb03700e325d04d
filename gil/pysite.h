/* SPDX-License-Identifier: MIT */
/*
 * gil/pysite.h - bytecode sites: where a GIL section (transaction) begins.
 *
 * Before a section begins, hg_pysite_note() reads the calling thread's
 * current frame (per-version layout, gil/pylayout.h), records
 * (code object, instruction offset, opcode) in thread-local memory and
 * returns the site key.  The first time a key is seen, its display name
 * ("OPNAME@offset function file:line") is resolved there and then: outside
 * any transaction, from the thread's own suspended frame, which keeps the
 * code object alive, through read-only calls (PyCode_Addr2Line,
 * PyUnicode_GetLength, PyUnicode_AsUCS4 into a buffer of ours) that neither
 * allocate nor need the GIL.  The report later asks hg_pysite_resolve()
 * for names and never touches interpreter memory, which may be gone by then.
 */
#ifndef HG_GIL_PYSITE_H
#define HG_GIL_PYSITE_H

#include <stdint.h>

#include "gil/pyident.h"

/* Site keys carry this tag so they never collide with hg_site() names. */
#define HG_PYSITE_TAG (1ull << 63)
#define HG_PYSITE_NOFRAME (HG_PYSITE_TAG | 1u) /* no Python frame (thread start, C) */

/* What the calling thread's latest section began at (written outside transactions). */
struct hg_pysite {
	const void *code; /* code object, or NULL */
	int32_t offset;   /* byte offset of the instruction, -1 if unknown */
	uint8_t opcode;   /* base (deoptimized) opcode */
	uint64_t key;
};
extern HG_TLS struct hg_pysite hg_pysite_last;

/* Binds the reader to the identified interpreter (3.x or 2.7). */
HG_INTERNAL void hg_pysite_init(const struct hg_py *py);
/* Records the thread's current site; tstate may be NULL.  Returns its key. */
HG_INTERNAL uint64_t hg_pysite_note(const void *tstate);
/* Resolver for hg_site_set_resolver: 0 and the name, or -1 for foreign keys. */
HG_INTERNAL int hg_pysite_resolve(uint64_t key, char *buf, unsigned len);
/* Number of distinct sites named so far. */
HG_INTERNAL unsigned hg_pysite_count(void);
/* The name of opcode op for the identified version ("op<N>" when unknown). */
HG_INTERNAL const char *hg_pysite_opname(unsigned op, char *tmp, unsigned len);

#endif /* HG_GIL_PYSITE_H */
