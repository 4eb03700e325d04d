/* SPDX-License-Identifier: MIT */
/*
 * tests/cpython/layout_probe.c - compiled at test time against one
 * interpreter's internal headers (Py_BUILD_CORE); compares the real offsets
 * with the mirrored table in gil/pylayout.c.  Exit status 0: all equal.
 */
#define Py_BUILD_CORE 1
#include "Python.h"
#include "internal/pycore_ceval.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_gil.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_runtime.h"

#include <stddef.h>
#include <stdio.h>

#include "gil/pylayout.h"

static int bad;

static void check(const char *what, size_t real, unsigned mirrored)
{
	if (real != mirrored) {
		printf("MISMATCH %s: headers say %zu, gil/pylayout.c says %u\n", what, real, mirrored);
		bad = 1;
	} else {
		printf("ok %s = %zu\n", what, real);
	}
}

int main(void)
{
	const struct hg_py_layout *l = hg_py_layout_get(PY_MAJOR_VERSION, PY_MINOR_VERSION);
	if (!l) {
		printf("no mirrored layout for %d.%d\n", PY_MAJOR_VERSION, PY_MINOR_VERSION);
		return 1;
	}
	check("gil.locked", offsetof(struct _gil_runtime_state, locked), l->gil_locked);
	check("tstate.interp", offsetof(PyThreadState, interp), l->tstate_interp);
	check("interp.ceval", offsetof(PyInterpreterState, ceval), l->interp_ceval);
#if PY_VERSION_HEX >= 0x030c0000
	check("interp.ceval.gil", offsetof(PyInterpreterState, ceval.gil), l->interp_gil);
#else
	check("runtime.ceval.gil", offsetof(_PyRuntimeState, ceval.gil), l->runtime_gil);
	check("runtime.ceval", offsetof(_PyRuntimeState, ceval), l->runtime_ceval);
#endif
#if PY_VERSION_HEX >= 0x030d0000
	check("tstate.current_frame", offsetof(PyThreadState, current_frame), l->tstate_frame);
	check("tstate.eval_breaker", offsetof(PyThreadState, eval_breaker), l->tstate_eval_breaker);
	/* gil/gil3.c's forced yields use event bit 7, which CPython must leave unused. */
	check("eval breaker event mask", _PY_EVAL_EVENTS_MASK, 0xff);
	check("eval breaker event bit 7 in use", (_PY_GIL_DROP_REQUEST_BIT | _PY_SIGNALS_PENDING_BIT |
	    _PY_CALLS_TO_DO_BIT | _PY_ASYNC_EXCEPTION_BIT | _PY_GC_SCHEDULED_BIT |
	    _PY_EVAL_PLEASE_STOP_BIT | _PY_EVAL_EXPLICIT_MERGE_BIT) & 0x80, 0);
	check("frame.f_executable", offsetof(_PyInterpreterFrame, f_executable), l->frame_code);
	check("frame.instr_ptr", offsetof(_PyInterpreterFrame, instr_ptr), l->frame_instr);
#else
	check("ceval.eval_breaker", offsetof(struct _ceval_state, eval_breaker), l->ceval_eval_breaker);
#if PY_VERSION_HEX < 0x030c0000
	check("runtime.gilstate", offsetof(_PyRuntimeState, gilstate), l->runtime_gilstate);
	check("cframe.use_tracing", offsetof(_PyCFrame, use_tracing), l->cframe_tracing);
#endif
	check("tstate.cframe", offsetof(PyThreadState, cframe), l->tstate_cframe);
	check("cframe.current_frame", offsetof(_PyCFrame, current_frame), l->cframe_frame);
	check("frame.f_code", offsetof(_PyInterpreterFrame, f_code), l->frame_code);
	check("frame.prev_instr", offsetof(_PyInterpreterFrame, prev_instr), l->frame_instr);
#endif
	check("code.co_code_adaptive", offsetof(PyCodeObject, co_code_adaptive), l->code_adaptive);
	check("code.co_filename", offsetof(PyCodeObject, co_filename), l->code_filename);
	check("code.co_name", offsetof(PyCodeObject, co_name), l->code_name);
	check("code.co_qualname", offsetof(PyCodeObject, co_qualname), l->code_qualname);
	check("code.co_firstlineno", offsetof(PyCodeObject, co_firstlineno), l->code_firstlineno);
	return bad;
}
