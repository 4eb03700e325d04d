/* SPDX-License-Identifier: MIT */
/*
 * htmgil/api.h - HG_API marks the functions libhtmgil.so exports.
 *
 * The library is compiled with hidden visibility by default, so exactly the
 * declarations marked HG_API in the public headers form its dynamic symbol
 * table (tests/link/libhtmgil.symbols lists them; docs/design.md, "Build and
 * link").
 */
#ifndef HTMGIL_API_H
#define HTMGIL_API_H

#define HG_API __attribute__((visibility("default")))

#endif /* HTMGIL_API_H */
