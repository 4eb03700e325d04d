/* SPDX-License-Identifier: MIT */
/*
 * gil/elfsym.c - ELF64 symbol lookup for locating static interpreter
 * functions; see gil/elfsym.h.
 */
#include "gil/elfsym.h"

#include <elf.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static bool hg_elf_in_file(const struct hg_elf *e, uint64_t off, uint64_t len)
{
	return off <= e->size && len <= e->size - off;
}

static void hg_elf_read_build_id(struct hg_elf *e, const Elf64_Shdr *sh)
{
	uint64_t off = sh->sh_offset, end = sh->sh_offset + sh->sh_size;
	while (off + sizeof(Elf64_Nhdr) <= end) {
		const Elf64_Nhdr *n = (const Elf64_Nhdr *)(e->map + off);
		uint64_t name_sz = (n->n_namesz + 3u) & ~3u;
		uint64_t desc_sz = (n->n_descsz + 3u) & ~3u;
		uint64_t desc = off + sizeof(*n) + name_sz;
		if (!hg_elf_in_file(e, desc, n->n_descsz))
			return;
		if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
		    memcmp(e->map + off + sizeof(*n), "GNU", 4) == 0 &&
		    n->n_descsz <= sizeof(e->build_id)) {
			memcpy(e->build_id, e->map + desc, n->n_descsz);
			e->build_id_len = n->n_descsz;
			return;
		}
		off = desc + desc_sz;
	}
}

int hg_elf_open(struct hg_elf *e, const char *path)
{
	memset(e, 0, sizeof(*e));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return -1;
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	e->map = m;
	e->size = (size_t)st.st_size;

	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)e->map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    !hg_elf_in_file(e, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)) ||
	    eh->e_shstrndx >= eh->e_shnum) {
		hg_elf_close(e);
		return -1;
	}
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(e->map + eh->e_shoff);
	const Elf64_Shdr *shstr = &sh[eh->e_shstrndx];
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		const Elf64_Shdr *s = &sh[i];
		if (s->sh_type == SHT_NOBITS || !hg_elf_in_file(e, s->sh_offset, s->sh_size))
			continue;
		if ((s->sh_type == SHT_SYMTAB || s->sh_type == SHT_DYNSYM) && s->sh_link < eh->e_shnum) {
			const Elf64_Shdr *str = &sh[s->sh_link];
			if (!hg_elf_in_file(e, str->sh_offset, str->sh_size))
				continue;
			const void *syms = e->map + s->sh_offset;
			size_t n = s->sh_size / sizeof(Elf64_Sym);
			const char *strs = (const char *)(e->map + str->sh_offset);
			if (s->sh_type == SHT_SYMTAB) {
				e->symtab = syms, e->nsym = n, e->strtab = strs, e->strsz = str->sh_size;
			} else {
				e->dynsym = syms, e->ndynsym = n, e->dynstr = strs, e->dynstrsz = str->sh_size;
			}
		} else if (s->sh_type == SHT_NOTE) {
			if (e->build_id_len == 0)
				hg_elf_read_build_id(e, s);
		} else if (s->sh_type == SHT_PROGBITS &&
		    hg_elf_in_file(e, shstr->sh_offset, shstr->sh_size) &&
		    s->sh_name < shstr->sh_size) {
			const char *nm = (const char *)(e->map + shstr->sh_offset + s->sh_name);
			if (strcmp(nm, ".gnu_debuglink") == 0) {
				size_t len = strnlen((const char *)(e->map + s->sh_offset), s->sh_size);
				if (len < sizeof(e->debuglink)) {
					memcpy(e->debuglink, e->map + s->sh_offset, len);
					e->debuglink[len] = 0;
				}
			}
		}
	}
	return 0;
}

void hg_elf_close(struct hg_elf *e)
{
	if (e->map)
		munmap((void *)e->map, e->size);
	memset(e, 0, sizeof(*e));
}

static int hg_elf_lookup_in(const void *tab, size_t n, const char *strs, size_t strsz,
    const char *name, uint64_t *value, uint64_t *size)
{
	const Elf64_Sym *sym = tab;
	for (size_t i = 0; i < n; i++) {
		if (sym[i].st_shndx == SHN_UNDEF || sym[i].st_name >= strsz)
			continue;
		if (strcmp(strs + sym[i].st_name, name) != 0)
			continue;
		if (value)
			*value = sym[i].st_value;
		if (size)
			*size = sym[i].st_size;
		return 0;
	}
	return -1;
}

int hg_elf_lookup(const struct hg_elf *e, const char *name, uint64_t *value, uint64_t *size)
{
	if (e->symtab &&
	    hg_elf_lookup_in(e->symtab, e->nsym, e->strtab, e->strsz, name, value, size) == 0)
		return 0;
	if (e->dynsym &&
	    hg_elf_lookup_in(e->dynsym, e->ndynsym, e->dynstr, e->dynstrsz, name, value, size) == 0)
		return 0;
	return -1;
}

/* A candidate debug file is accepted when it has a .symtab and the same build-id. */
static bool hg_elf_debug_matches(const struct hg_elf *obj, const char *cand)
{
	struct hg_elf d;
	if (hg_elf_open(&d, cand) != 0)
		return false;
	bool ok = d.symtab != NULL;
	if (ok && obj->build_id_len)
		ok = d.build_id_len == obj->build_id_len &&
		    memcmp(d.build_id, obj->build_id, d.build_id_len) == 0;
	hg_elf_close(&d);
	return ok;
}

int hg_elf_find_debug(const struct hg_elf *e, const char *path, char *out, size_t outlen)
{
	const char *root = getenv("HTMGIL_DEBUG_ROOT");
	if (!root || !*root)
		root = "/usr/lib/debug";
	char cand[4096];
	if (e->build_id_len >= 2) {
		char hex[2 * sizeof(e->build_id) + 1];
		for (unsigned i = 0; i < e->build_id_len; i++)
			snprintf(hex + 2 * i, 3, "%02x", e->build_id[i]);
		snprintf(cand, sizeof(cand), "%s/.build-id/%.2s/%s.debug", root, hex, hex + 2);
		if (hg_elf_debug_matches(e, cand))
			goto found;
	}
	if (e->debuglink[0]) {
		char dir[2048];
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		else
			snprintf(dir, sizeof(dir), ".");
		const char *fmts[] = { "%s/%s", "%s/.debug/%s" };
		for (unsigned i = 0; i < 2; i++) {
			snprintf(cand, sizeof(cand), fmts[i], dir, e->debuglink);
			if (strcmp(cand, path) != 0 && hg_elf_debug_matches(e, cand))
				goto found;
		}
		snprintf(cand, sizeof(cand), "%s%s%s/%s", root, dir[0] == '/' ? "" : "/", dir, e->debuglink);
		if (hg_elf_debug_matches(e, cand))
			goto found;
	}
	return -1;
found:
	if (strlen(cand) >= outlen)
		return -1;
	memcpy(out, cand, strlen(cand) + 1);
	return 0;
}
