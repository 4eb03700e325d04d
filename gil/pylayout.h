/* SPDX-License-Identifier: MIT */
/*
 * gil/pylayout.h - the few CPython internal struct offsets the GIL front end
 * reads, per minor version (x86-64, GIL builds).
 *
 * The values mirror CPython's internal headers (Include/internal/pycore_gil.h,
 * pycore_runtime.h, pycore_interp.h, pycore_frame.h, Include/cpython/code.h,
 * Include/cpython/pystate.h).  Debug builds (python3.11d) have the same
 * offsets: Py_DEBUG no longer implies Py_TRACE_REFS.  The ctest
 * "cpython-layout" compiles tests/cpython/layout_probe.c against each
 * installed interpreter's internal headers and fails on any difference.
 *
 * Everything here is read outside transactions only, except gil_locked
 * (the subscription word) and the thread's own frame fields.
 */
#ifndef HG_GIL_PYLAYOUT_H
#define HG_GIL_PYLAYOUT_H

#include <stdint.h>

#define HG_PY_NO_OFFSET 0xffffu

struct hg_py_layout {
	unsigned minor;               /* 3.minor */
	/* Where the GIL state lives: _PyRuntime + runtime_gil (3.11) or
	 * tstate->interp->ceval.gil, a pointer at interp + interp_gil (3.12+). */
	uint16_t runtime_gil;
	uint16_t interp_gil;
	uint16_t gil_locked;          /* struct _gil_runtime_state.locked (an int) */
	/* drop_gil's first arguments: &_PyRuntime.ceval (3.11) and &interp->ceval */
	uint16_t runtime_ceval;
	uint16_t interp_ceval;
	uint16_t tstate_interp;       /* PyThreadState.interp */
	/* The thread's current frame: tstate->cframe->current_frame (3.11,
	 * 3.12) or tstate->current_frame (3.13). */
	uint16_t tstate_cframe;
	uint16_t cframe_frame;
	uint16_t tstate_frame;
	uint16_t tstate_eval_breaker; /* 3.13: per-thread eval breaker (uintptr_t) */
	uint16_t ceval_eval_breaker;  /* 3.11, 3.12: eval breaker (int) in interp->ceval */
	uint16_t runtime_gilstate;    /* 3.11: &_PyRuntime.gilstate, for _PyThreadState_Swap */
	uint16_t cframe_tracing;      /* 3.11: _PyCFrame.use_tracing (uint8_t) */
	uint16_t frame_code;          /* _PyInterpreterFrame.f_code / f_executable */
	uint16_t frame_instr;         /* .prev_instr (3.11, 3.12) / .instr_ptr (3.13) */
	uint16_t code_adaptive;       /* PyCodeObject.co_code_adaptive */
	uint16_t code_filename;
	uint16_t code_name;
	uint16_t code_qualname;
	uint16_t code_firstlineno;
};

/* The layout of 3.minor, or NULL when that version is not supported. */
const struct hg_py_layout *hg_py_layout_get(unsigned major, unsigned minor);

#endif /* HG_GIL_PYLAYOUT_H */
