/* SPDX-License-Identifier: MIT */
/*
 * gil/pylayout.c - per-version offsets; see gil/pylayout.h.  Checked by
 * tests/cpython/layout_probe.c against the installed internal headers.
 */
#include "gil/pylayout.h"

#include <stddef.h>

static const struct hg_py_layout hg_py_layouts[] = {
	{ .minor = 11, .runtime_gil = 360, .interp_gil = HG_PY_NO_OFFSET, .gil_locked = 16,
	  .runtime_ceval = 352, .interp_ceval = 96,
	  .tstate_interp = 16, .tstate_cframe = 56, .cframe_frame = 8,
	  .tstate_frame = HG_PY_NO_OFFSET, .tstate_eval_breaker = HG_PY_NO_OFFSET,
	  .ceval_eval_breaker = 4, .runtime_gilstate = 568, .cframe_tracing = 0,
	  .frame_code = 32, .frame_instr = 56, .code_adaptive = 184, .code_filename = 112,
	  .code_name = 120, .code_qualname = 128, .code_firstlineno = 72 },
	{ .minor = 12, .runtime_gil = HG_PY_NO_OFFSET, .interp_gil = 384, .gil_locked = 16,
	  .runtime_ceval = HG_PY_NO_OFFSET, .interp_ceval = 368,
	  .tstate_interp = 16, .tstate_cframe = 56, .cframe_frame = 0,
	  .tstate_frame = HG_PY_NO_OFFSET, .tstate_eval_breaker = HG_PY_NO_OFFSET,
	  .ceval_eval_breaker = 0, .runtime_gilstate = HG_PY_NO_OFFSET,
	  .cframe_tracing = HG_PY_NO_OFFSET,
	  .frame_code = 0, .frame_instr = 56, .code_adaptive = 192, .code_filename = 112,
	  .code_name = 120, .code_qualname = 128, .code_firstlineno = 68 },
	{ .minor = 13, .runtime_gil = HG_PY_NO_OFFSET, .interp_gil = 16, .gil_locked = 16,
	  .runtime_ceval = HG_PY_NO_OFFSET, .interp_ceval = 0,
	  .tstate_interp = 16, .tstate_cframe = HG_PY_NO_OFFSET, .cframe_frame = HG_PY_NO_OFFSET,
	  .tstate_frame = 72, .tstate_eval_breaker = 24, .ceval_eval_breaker = HG_PY_NO_OFFSET,
	  .runtime_gilstate = HG_PY_NO_OFFSET, .cframe_tracing = HG_PY_NO_OFFSET,
	  .frame_code = 0, .frame_instr = 56, .code_adaptive = 200, .code_filename = 112,
	  .code_name = 120, .code_qualname = 128, .code_firstlineno = 68 },
};

const struct hg_py_layout *hg_py_layout_get(unsigned major, unsigned minor)
{
	if (major != 3)
		return NULL;
	for (size_t i = 0; i < sizeof(hg_py_layouts) / sizeof(hg_py_layouts[0]); i++)
		if (hg_py_layouts[i].minor == minor)
			return &hg_py_layouts[i];
	return NULL;
}
