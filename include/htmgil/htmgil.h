/* SPDX-License-Identifier: MIT */
/*
 * htmgil/htmgil.h - umbrella header: everything public.
 */
#ifndef HTMGIL_HTMGIL_H
#define HTMGIL_HTMGIL_H

#define HTMGIL_VERSION_MAJOR 0
#define HTMGIL_VERSION_MINOR 1
#define HTMGIL_VERSION_PATCH 0

#include <htmgil/htm.h>
#include <htmgil/lock.h>
#include <htmgil/elide.h>
#include <htmgil/prof.h>
#include <htmgil/stm.h>

#endif /* HTMGIL_HTMGIL_H */
