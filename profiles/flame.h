/*
 * profiles/flame.h - a self-contained interactive flame graph of a report
 * (profiles/flame.c); printed to a FILE the caller owns: 0, or -1 if the
 * stream failed.
 */
#ifndef CPROF_FLAME_H
#define CPROF_FLAME_H

#include <stdio.h>

struct report;

int report_svg(FILE *f, const struct report *r, const char *title);

#endif
