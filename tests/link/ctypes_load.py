# SPDX-License-Identifier: MIT
"""tests/link/ctypes_load.py LIB: python3's ctypes.CDLL loads libhtmgil.so.

Fails when the load fails (an initial-exec TLS block too large for the
static TLS surplus gives "cannot allocate memory in static TLS block"), or
when calls through the loaded library do not give the documented results.
"""
import ctypes
import sys


def main():
    if len(sys.argv) != 2:
        print("usage: ctypes_load.py PATH-TO-libhtmgil.so", file=sys.stderr)
        return 2
    try:
        lib = ctypes.CDLL(sys.argv[1])
    except OSError as e:
        print("ctypes_load: CDLL failed: %s" % e, file=sys.stderr)
        return 1
    lib.hg_site.restype = ctypes.c_uint64
    lib.hg_site.argtypes = [ctypes.c_char_p]
    lib.hg_site_name.restype = ctypes.c_char_p
    lib.hg_site_name.argtypes = [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_uint]
    lib.hg_abort_code_name.restype = ctypes.c_char_p
    lib.hg_abort_code_name.argtypes = [ctypes.c_uint]

    key = lib.hg_site(b"ctypes.site")
    again = lib.hg_site(b"ctypes.site")
    buf = ctypes.create_string_buffer(64)
    name = lib.hg_site_name(key, buf, len(buf))
    busy = lib.hg_abort_code_name(0xFF)
    print("ctypes_load: site %#x named %r, code 0xff is %r" % (key, name, busy))
    ok = key != 0 and key == again and name == b"ctypes.site" and busy == b"busy"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
