/* SPDX-License-Identifier: MIT */
/*
 * gil/pyident.c - interpreter identification and symbol lookup; see
 * gil/pyident.h.
 */
#define _GNU_SOURCE
#include "gil/pyident.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gil/elfsym.h"

/* Messages name paths of any length; cutting an overlong one short is intended.
 * (GCC's warning; clang has no such group.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

int hg_py_parse_version(const char *s, unsigned *major, unsigned *minor, unsigned *micro,
    bool *free_threaded)
{
	unsigned a, b, c = 0;
	int n = 0;
	if (!s || sscanf(s, "%u.%u%n", &a, &b, &n) != 2)
		return -1;
	if (s[n] == '.')
		sscanf(s + n + 1, "%u", &c);
	*major = a, *minor = b, *micro = c;
	*free_threaded = strstr(s, "free-threading") != NULL;
	return 0;
}

struct hg_py_find_ctx {
	char path[PATH_MAX];
	uintptr_t bias;
	bool found_lib;
	bool free_threaded_name;
	uintptr_t exe_bias;
	bool have_exe;
};

static int hg_py_find_libpython(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct hg_py_find_ctx *c = arg;
	const char *name = info->dlpi_name;
	if (!name || !*name) {
		if (!c->have_exe) {
			c->have_exe = true;
			c->exe_bias = info->dlpi_addr;
		}
		return 0;
	}
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	if (strncmp(base, "libpython", 9) == 0 && !c->found_lib) {
		snprintf(c->path, sizeof(c->path), "%s", name);
		c->bias = info->dlpi_addr;
		c->found_lib = true;
		/* libpython3.13t.so: the free-threaded build */
		const char *v = base + 9;
		while (*v && (*v == '.' || (*v >= '0' && *v <= '9')))
			v++;
		c->free_threaded_name = *v == 't';
	}
	return 0;
}

static void hg_py_refuse(struct hg_py *py, const char *fmt, const char *a, const char *b)
{
	py->kind = HG_PY_REFUSED;
	snprintf(py->why, sizeof(py->why), fmt, a, b);
}

/* Opens the file that holds the object's static symbols. */
static int hg_py_open_symbols(struct hg_py *py, struct hg_elf *e, const char *need)
{
	if (hg_elf_open(e, py->path) != 0)
		return -1;
	snprintf(py->symfile, sizeof(py->symfile), "%s", py->path);
	if (e->symtab && hg_elf_lookup(e, need, NULL, NULL) == 0)
		return 0;
	char dbg[PATH_MAX];
	if (hg_elf_find_debug(e, py->path, dbg, sizeof(dbg)) == 0) {
		hg_elf_close(e);
		if (hg_elf_open(e, dbg) != 0)
			return -1;
		snprintf(py->symfile, sizeof(py->symfile), "%s", dbg);
	}
	return 0;
}

static uintptr_t hg_py_sym_addr(const struct hg_py *py, const struct hg_elf *e, const char *name,
    uint64_t *size)
{
	uint64_t v = 0;
	if (hg_elf_lookup(e, name, &v, size) != 0 || v == 0)
		return 0;
	return py->bias + (uintptr_t)v;
}

enum hg_py_kind hg_py_identify(struct hg_py *py)
{
	memset(py, 0, sizeof(*py));
	struct hg_py_find_ctx c;
	memset(&c, 0, sizeof(c));
	dl_iterate_phdr(hg_py_find_libpython, &c);

	const char *(*getver)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
	if (!getver)
		return py->kind = HG_PY_NONE;
	if (c.found_lib) {
		snprintf(py->path, sizeof(py->path), "%s", c.path);
		py->bias = c.bias;
	} else {
		ssize_t n = readlink("/proc/self/exe", py->path, sizeof(py->path) - 1);
		if (n <= 0)
			return py->kind = HG_PY_NONE;
		py->path[n] = 0;
		py->bias = c.exe_bias;
	}
	const char *v = getver();
	bool ft = false;
	if (hg_py_parse_version(v, &py->major, &py->minor, &py->micro, &ft) != 0) {
		hg_py_refuse(py, "cannot parse the version of %s (\"%.40s\"); running it unchanged",
		    py->path, v ? v : "");
		return py->kind;
	}
	snprintf(py->version, sizeof(py->version), "%u.%u.%u", py->major, py->minor, py->micro);
	if (ft || c.free_threaded_name) {
		hg_py_refuse(py,
		    "%s is a free-threaded CPython %s build: there is no GIL to elide; running it unchanged",
		    py->path, py->version);
		return py->kind;
	}

	struct hg_elf e;
	if (py->major == 2 && py->minor == 7) {
		if (hg_py_open_symbols(py, &e, "interpreter_lock") != 0 ||
		    !(py->interpreter_lock = hg_py_sym_addr(py, &e, "interpreter_lock", NULL))) {
			if (e.map)
				hg_elf_close(&e);
			hg_py_refuse(py,
			    "cannot find interpreter_lock in %s (stripped build)%s; use an unstripped "
			    "CPython 2.7 such as a pyenv build; running it unchanged",
			    py->path, "");
			return py->kind;
		}
		py->ticker = hg_py_sym_addr(py, &e, "_Py_Ticker", NULL);
		py->evalframe = hg_py_sym_addr(py, &e, "PyEval_EvalFrameEx", &py->evalframe_size);
		hg_elf_close(&e);
		return py->kind = HG_PY_27;
	}
	py->layout = hg_py_layout_get(py->major, py->minor);
	if (!py->layout) {
		char ver[32];
		snprintf(ver, sizeof(ver), "%u.%u", py->major, py->minor);
		hg_py_refuse(py,
		    "CPython %s (%s) is not supported: GIL elision needs 2.7 or 3.11-3.13; "
		    "running it unchanged",
		    ver, py->path);
		return py->kind;
	}
	if (hg_py_open_symbols(py, &e, "take_gil") != 0) {
		hg_py_refuse(py, "cannot read the symbols of %s%s; running it unchanged", py->path,
		    "");
		return py->kind;
	}
	py->take_gil = hg_py_sym_addr(py, &e, "take_gil", &py->take_size);
	py->drop_gil = hg_py_sym_addr(py, &e, "drop_gil", &py->drop_size);
	/* The pending-work handler: exported or local from 3.12, static in 3.11
	 * (and inlined into the eval loop by optimized 3.11 builds). */
	py->handle_pending = hg_py_sym_addr(py, &e, py->minor >= 12 ? "_Py_HandlePending" :
	    "eval_frame_handle_pending", &py->pending_size);
	py->runtime = hg_py_sym_addr(py, &e, "_PyRuntime", &py->runtime_size);
	py->deopt = hg_py_sym_addr(py, &e, "_PyOpcode_Deopt", NULL);
	py->opnames = hg_py_sym_addr(py, &e, "_PyOpcode_OpName", NULL);
	hg_elf_close(&e);
	if (!py->take_gil || !py->drop_gil) {
		char ver[16];
		snprintf(ver, sizeof(ver), "%u.%u", py->major, py->minor);
		py->kind = HG_PY_REFUSED;
		snprintf(py->why, sizeof(py->why),
		    "cannot elide the GIL of %.300s (CPython %s): take_gil/drop_gil are not in its symbol "
		    "table (a stripped or LTO build inlines them); use an interpreter with symbols, "
		    "such as python%sd from Debian's python%s-dbg package or a pyenv build; "
		    "running it unchanged",
		    py->path, py->version, ver, ver);
		return py->kind;
	}
	if (py->minor == 11 && !py->runtime) {
		hg_py_refuse(py, "cannot find _PyRuntime in %s%s; running it unchanged", py->path,
		    "");
		return py->kind;
	}
	return py->kind = HG_PY_3X;
}
