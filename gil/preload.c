/* SPDX-License-Identifier: MIT */
/*
 * gil/preload.c - the preload entry point.  Loading the library runs the
 * engine's start-up (environment, mode, exit report); interpreter front ends
 * hook in here.
 */
#include "htmgil/htmgil.h"
