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
 * Go's debug=1 text format; type names the profile ("threads", "cpu"):
 * "TYPE profile: total N", then "COUNT @ 0xaddr ...".  With contention
 * (block, mutex; values[0] count, values[1] ns), Go's contention form
 * instead: "--- contention:", "cycles/second=1000000000", then
 * "NANOSECONDS COUNT @ 0xaddr ...".  A four-value builder (heap, allocs)
 * gets Go's heap form: "heap profile: N: B [N: B] @ heap_v2/1", then
 * "INUSE_N: INUSE_B [ALLOC_N: ALLOC_B] @ 0xaddr ...".  With labels, each entry gets
 * "# labels: {"key":"value", ...}".
 */
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
