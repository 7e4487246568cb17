/*
 * cmd/view.h - a finished recording (rec) or snapshot (snap), as record
 * writes it and serve answers it, printed the same way by both.  The view
 * borrows everything it points at; view_print() prints it in fmt into f
 * (a file's memory stream, see output_render(), or any FILE) and returns
 * 0, or -1 after saying why.  What a recording's profile says of it (its
 * comments) is its mode's: struct sample_mode's comments.
 */
#ifndef CPROF_VIEW_H
#define CPROF_VIEW_H

#include <stdint.h>
#include <stdio.h>

#include "cmd.h"

struct output_format;
struct sampler;
struct snap_thread;
struct snapshot;
struct symbolizer;

struct view {
	const struct profile_type *pt;
	const struct output_format *fmt;
	const struct profile_builder *b;
	struct symbolizer *sym;	/* view_symbolizer() or snapshot_symbolizer() */
	const struct sampler *rec;	/* a recording, joined, or NULL: */
	const struct snapshot *snap;	/* ... a snapshot, taken at: */
	uint64_t snap_realtime_ns;
	const char *command;	/* the cprof command line, for a comment */
	const char *target_cmd;	/* a launched command's, or NULL */
	const char *path;	/* the file's name (svg's title), or NULL */
};
int view_print(FILE *f, void *view);

/* The symbolizer of a joined recording, its type's filter applied to b
 * (once: the filter zeroes what it drops). */
struct symbolizer *view_symbolizer(struct sampler *s, struct profile_builder *b,
				   const struct profile_type *pt,
				   const char *debuginfo_path);

/* A snapshot's threads into b (1 value), merged by stack and state;
 * returns how many threads were counted. */
size_t view_snapshot_samples(const struct snapshot *snap, struct profile_builder *b);

/* The Go-goroutine-dump-like listing of a snapshot (cprof threads, and
 * -f dump of -t threads). */
void view_thread_dump(FILE *f, const struct snapshot *s, struct symbolizer *sym);

/* A snapshot's thread in words: "read(0x3)" for one blocked in a system
 * call, else its wchan ("" if running); its cpu seconds; why its stack is
 * missing or short, or NULL. */
void view_blocked_in(const struct snap_thread *t, char *buf, size_t size);
double view_cpu_seconds(const struct snap_thread *t);
const char *view_thread_note(const struct snap_thread *t);

#endif
