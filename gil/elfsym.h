/* SPDX-License-Identifier: MIT */
/*
 * gil/elfsym.h - a small reader for ELF64 symbol tables.
 *
 * The GIL functions of CPython 3.x are static: they appear only in the
 * .symtab of libpython (or of the executable when libpython is linked in
 * statically), or in a separate debug file that the object names by
 * build-id or .gnu_debuglink.  This reader maps a file read-only, finds the
 * symbol tables and looks names up; it never writes anything.
 */
#ifndef HG_GIL_ELFSYM_H
#define HG_GIL_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

struct hg_elf {
	const uint8_t *map;   /* the whole file, mapped read-only */
	size_t size;
	const void *symtab;   /* Elf64_Sym[], or NULL when the file has no .symtab */
	size_t nsym;
	const char *strtab;
	size_t strsz;
	const void *dynsym;   /* Elf64_Sym[] from .dynsym, or NULL */
	size_t ndynsym;
	const char *dynstr;
	size_t dynstrsz;
	uint8_t build_id[64]; /* NT_GNU_BUILD_ID descriptor */
	unsigned build_id_len;
	char debuglink[256];  /* .gnu_debuglink file name, or "" */
};

/* Maps path; returns 0, or -1 when it is not a readable ELF64 file. */
HG_INTERNAL int hg_elf_open(struct hg_elf *e, const char *path);
HG_INTERNAL void hg_elf_close(struct hg_elf *e);

/*
 * Looks name up, .symtab first, then .dynsym.  Returns 0 and fills the
 * link-time value and size (either may be NULL), or -1 when absent.
 * Only defined symbols (st_shndx != SHN_UNDEF) count.
 */
HG_INTERNAL int hg_elf_lookup(const struct hg_elf *e, const char *name,
    uint64_t *value, uint64_t *size);

/*
 * Finds the separate debug file of the object at path when its own file has
 * no .symtab: /usr/lib/debug/.build-id/NN/REST.debug, then the debuglink name
 * beside the object, in its .debug/ folder and under /usr/lib/debug/DIR/.
 * HTMGIL_DEBUG_ROOT, when set, replaces /usr/lib/debug.  The candidate's
 * build-id must match when the object has one.  Returns 0 and writes the
 * path to out, or -1.
 */
HG_INTERNAL int hg_elf_find_debug(const struct hg_elf *e, const char *path,
    char *out, size_t outlen);

#endif /* HG_GIL_ELFSYM_H */
