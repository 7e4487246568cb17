/*
 * profiles/text.h - human-readable outputs: stacks printed frame by frame
 * (innermost first, as Go's goroutine dump), Go's legacy text profile
 * format (debug=1: "N @ 0xaddr ..." then "#\t0xaddr\tfunc+0xoff\tfile:line"),
 * a per-thread dump, and JSON string escaping.
 *
 * Writers print to a FILE the caller owns and return 0, or -1 if the
 * stream failed (ferror).
 */
#ifndef CPROF_TEXT_H
#define CPROF_TEXT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "builder.h"

struct profile_builder;
struct symbolizer;

/*
 * Each frame of a stack: "function\n\tfile:line\n" (inlined ones marked),
 * with the frames tail calls removed put back (symbolizer_tailcalls()).
 */
void text_stack(FILE *f, struct symbolizer *s, uint32_t epoch,
		const uint64_t *pcs, size_t n);

/*
 * Go's debug=1 text format, from any source of stacks (struct go_text):
 * "TYPE profile: total N", then "COUNT @ 0xaddr ..." and a "#\t0xaddr\t
 * function[+0xoff][\tfile:line]" line for each frame (each inlined one
 * too).  GO_TEXT_CONTENTION (block, mutex; values[0] count, values[1] ns):
 * Go's contention form instead: "--- contention:", "cycles/second=
 * 1000000000", then "NANOSECONDS COUNT @ 0xaddr ...".  GO_TEXT_HEAP (heap,
 * allocs: four values): Go's heap form: "heap profile: N: B [N: B] @
 * heap_v2/1", then "INUSE_N: INUSE_B [ALLOC_N: ALLOC_B] @ 0xaddr ...".
 * Stacks are printed largest values[key] first (contention: the delay),
 * in the source's order among equals; with labels, each stack gets
 * "# labels: {"key":"value", ...}".  Record (text_legacy, the samples
 * before encoding) and report (report_text, a profile read) both print
 * through it.
 */
enum go_text_form { GO_TEXT_COUNT, GO_TEXT_CONTENTION, GO_TEXT_HEAP };

/* One line of a frame: a function (the inlined ones first) or a name for
 * an address without one. */
struct go_text_line {
	const char *name;
	bool has_offset;	/* "+0xoffset" after the name */
	uint64_t offset;
	const char *file;	/* "" or NULL: none */
	int64_t line;
};

struct go_text {
	void *arg;		/* the source's, passed back to each call */
	size_t nstacks;
	/* stack st's values (nvalues of them) */
	const int64_t *(*values)(void *arg, size_t st);
	/* is st printed? (key: the value the form sorts by) */
	bool (*shown)(void *arg, size_t st, size_t key);
	/* st's frames' addresses, as the "@" line shows them; valid until the
	 * next call of stack; the frames' lines follow, frame by frame: */
	size_t (*stack)(void *arg, size_t st, const uint64_t **addrs);
	/* frame k of the stack just given: its lines into out (up to max) */
	size_t (*lines)(void *arg, size_t k, struct go_text_line *out, size_t max);
	/* st's labels, or NULL: none */
	size_t (*labels)(void *arg, size_t st, const char *kv[PB_MAX_LABELS][2]);
};

int go_text(FILE *f, const struct go_text *src, enum go_text_form form,
	    size_t key, const char *type);

/* A recording's samples in Go's debug=1 text; type names the profile
 * ("threads", "cpu"); a four-value builder (heap, allocs) gets the heap
 * form, unless contention.  Frames show function+offset and, through
 * labels, each entry's labels: what a pprof profile cannot give back. */
int text_legacy(FILE *f, const struct profile_builder *b, struct symbolizer *s,
		const char *type, size_t count_value, bool contention, pb_label_fn labels);

/* Are these the first two sample types of Go's contention profiles
 * (contentions/count, delay/nanoseconds)?  Their text is its own form. */
bool go_contention_types(const char *type0, const char *type1);

/* Every entry's full stack, grouped by thread, largest first. */
int text_dump(FILE *f, const struct profile_builder *b, struct symbolizer *s,
	      const char *type, const char *const (*types)[2]);

/* Write s as a JSON string literal, quotes included. */
void json_string(FILE *f, const char *s);

#endif
