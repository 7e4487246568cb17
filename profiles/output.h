/*
 * profiles/output.h - write a file atomically: a temporary file beside the
 * destination, renamed over it only when everything was written and
 * closed without error.  output_open() runs before attaching, so a path
 * that cannot be written fails before the target is touched.
 */
#ifndef CPROF_OUTPUT_H
#define CPROF_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

struct output {
	char *path;
	char *tmp;
	int fd;
};

int output_open(struct output *o, const char *path);	/* 0 or -1 (reported) */
int output_write(struct output *o, const void *buf, size_t len);
int output_commit(struct output *o);	/* fsync-free close + rename */
void output_abort(struct output *o);	/* remove the temporary file */

/*
 * The one way cprof writes a file: fn prints to memory (0, or -1), then
 * the bytes are written and committed; any failure removes the temporary
 * file.  0, or -1 (reported).  o is released either way.
 */
int output_render(struct output *o, int (*fn)(FILE *f, void *arg), void *arg);

#endif
