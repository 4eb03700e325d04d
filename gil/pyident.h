/* SPDX-License-Identifier: MIT */
/*
 * gil/pyident.h - which interpreter this process runs, and where its GIL is.
 *
 * hg_py_identify() looks at the loaded objects (dl_iterate_phdr): a
 * libpythonX.Y.so when there is one, else the main executable when it
 * exports Py_GetVersion (a python linked statically).  It reads the version
 * from Py_GetVersion(), then the symbols the front end needs from the
 * object's .symtab or its separate debug file.  It changes nothing.
 */
#ifndef HG_GIL_PYIDENT_H
#define HG_GIL_PYIDENT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "gil/pylayout.h"
#include "base/util.h"

enum hg_py_kind {
	HG_PY_NONE = 0,   /* not CPython: do nothing at all */
	HG_PY_27,         /* CPython 2.7: PyThread_* interposition */
	HG_PY_3X,         /* CPython 3.11-3.13: take_gil/drop_gil entry patches */
	HG_PY_REFUSED,    /* CPython we cannot or must not touch; .why says why */
};

struct hg_py {
	enum hg_py_kind kind;
	unsigned major, minor, micro;
	char version[64];          /* first word of Py_GetVersion() */
	char path[PATH_MAX];       /* libpython or the executable */
	char symfile[PATH_MAX];    /* the file the symbols came from */
	uintptr_t bias;            /* load bias of path */
	const struct hg_py_layout *layout; /* 3.x only */
	/* 3.x symbols (run-time addresses; 0 when absent) */
	uintptr_t take_gil, drop_gil;
	uint64_t take_size, drop_size;
	uintptr_t handle_pending;  /* _Py_HandlePending (3.12, 3.13) or eval_frame_handle_pending (3.11); 0: absent */
	uint64_t pending_size;
	uintptr_t runtime;         /* _PyRuntime */
	uint64_t runtime_size;     /* ... its size in the symbol table (0: unknown) */
	uintptr_t deopt;           /* _PyOpcode_Deopt (uint8_t[256]) */
	uintptr_t opnames;         /* _PyOpcode_OpName (const char *[256]), debug and 3.13 */
	/* 2.7 symbols */
	uintptr_t interpreter_lock; /* &interpreter_lock (PyThread_type_lock) */
	uintptr_t ticker;           /* &_Py_Ticker */
	uintptr_t evalframe;        /* PyEval_EvalFrameEx: its check-interval GIL release is a yield point */
	uint64_t evalframe_size;
	char why[1024];             /* HG_PY_REFUSED: the one line to print */
};

/* Fills *py; never prints, never patches. */
HG_INTERNAL enum hg_py_kind hg_py_identify(struct hg_py *py);

/*
 * Parses "3.12.1 (main, ...)" or "3.13.0 experimental free-threading build
 * ...".  Returns 0 and the numbers, -1 when unparsable; *free_threaded tells
 * whether the string names a free-threaded build.
 */
HG_INTERNAL int hg_py_parse_version(const char *s, unsigned *major, unsigned *minor,
    unsigned *micro, bool *free_threaded);

#endif /* HG_GIL_PYIDENT_H */
