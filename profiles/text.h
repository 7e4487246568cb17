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

#include <stdint.h>
#include <stdio.h>

struct profile_builder;
struct symbolizer;

/* Each frame of a stack: "function\n\tfile:line\n" (inlined ones marked). */
void text_stack(FILE *f, struct symbolizer *s, uint32_t epoch,
		const uint64_t *pcs, size_t n);

/*
 * Go's debug=1 text format; type names the profile ("threads", "cpu").
 * With label_key, each entry gets "# labels: {key:label_values[label]}".
 */
int text_legacy(FILE *f, const struct profile_builder *b, struct symbolizer *s,
		const char *type, const char *label_key,
		const char *const *label_values);

/* Every entry's full stack, grouped by thread, largest first. */
int text_dump(FILE *f, const struct profile_builder *b, struct symbolizer *s,
	      const char *type, const char *unit_note);

/* Write s as a JSON string literal, quotes included. */
void json_string(FILE *f, const char *s);

#endif
