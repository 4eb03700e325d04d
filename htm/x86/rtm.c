/* SPDX-License-Identifier: MIT */
/*
 * htm/x86/rtm.c - the only file compiled with RTM enabled.
 *
 * hg_htm_begin() returns inside a transaction.  On an abort the processor
 * restores the registers of the XBEGIN point (RSP included) and discards every
 * transactional store, including the caller's stack writes after this frame
 * returned, so execution resumes here with the frame intact and returns the
 * status (the same property glibc's elided pthread_mutex_lock relies on).
 */
/* Compiled with -mrtm (htm/CMakeLists.txt); no other file is. */
#ifndef __RTM__
#error "htm/x86/rtm.c must be compiled with -mrtm"
#endif
#include <immintrin.h>

#include "htm/htm.h"
#include "htmgil/elide.h"

bool hg_htm_available(void)
{
	return true;
}

void hg_htm_init(void)
{
}

uint32_t hg_htm_begin(void)
{
	return _xbegin();
}

void hg_htm_commit(void)
{
	_xend();
}

/* XABORT takes an immediate: one case per code (the registry and user codes). */
#define HG_XA(n) case n: _xabort(n); break;
#define HG_XA8(b) HG_XA(b + 0) HG_XA(b + 1) HG_XA(b + 2) HG_XA(b + 3) \
	HG_XA(b + 4) HG_XA(b + 5) HG_XA(b + 6) HG_XA(b + 7)

void hg_htm_abort(unsigned code)
{
	switch (code & 0xffu) {
	HG_XA(0xff) HG_XA(0xfe) HG_XA(0xfd) HG_XA(0xfc) HG_XA(0xfb) HG_XA(0xfa)
	HG_XA(0xf9) HG_XA(0xf8)
	HG_XA8(0x00) HG_XA8(0x08) HG_XA8(0x10) HG_XA8(0x18)
	HG_XA8(0x20) HG_XA8(0x28) HG_XA8(0x30) HG_XA8(0x38)
	HG_XA8(0x40) HG_XA8(0x48) HG_XA8(0x50) HG_XA8(0x58)
	HG_XA8(0x60) HG_XA8(0x68) HG_XA8(0x70) HG_XA8(0x78)
	default:
		_xabort(0x00);
	}
}

bool hg_htm_active(void)
{
	return _xtest() != 0;
}
