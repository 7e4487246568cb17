/*
 * profiles/format.h - the output formats, in one table that `cprof record
 * -f` and `cprof report -f` both read: what each is called, the file name
 * extension record gives it, and how it is printed.
 *
 * A format printed from a profile read back (struct report) prints the
 * same for both commands by construction: record encodes its profile,
 * reads those bytes back and calls the same writer report does.  pprof is
 * the encoded bytes themselves.  record's text and dump are printed from
 * the recording's own samples (struct pb_view): Go's debug=1 text there
 * has each frame's function+offset and each sample's labels, which a pprof
 * profile cannot give back (no function start addresses); report's text
 * is Go's form with what a profile holds.
 */
#ifndef CPROF_FORMAT_H
#define CPROF_FORMAT_H

#include <stdbool.h>
#include <stdio.h>

#include "builder.h"

struct report;
struct report_opts;
struct symbolizer;

/* A recording's samples, as record's own writers print them. */
struct pb_view {
	const struct profile_builder *b;
	struct symbolizer *sym;
	const char *type;	/* the profile type's name */
	const char *const (*types)[2];	/* its sample types, {type, unit} */
	size_t ntypes;
	size_t count_value;	/* the value a count profile's text shows */
	pb_label_fn labels;
};

enum format_in_record {
	NOT_IN_RECORD,
	RECORD_ENCODED,		/* the pprof bytes */
	RECORD_READ_BACK,	/* print_report over the profile read back */
	RECORD_SAMPLES,		/* print_samples over the builder */
};

struct output_format {
	const char *name;
	const char *ext;	/* record's default file name: cprof-TYPE-PID.EXT */
	enum format_in_record record;
	bool report;		/* report -f takes it (with print_report) */
	int (*print_report)(FILE *f, struct report *r, const struct report_opts *o,
			    const char *file);
	int (*print_samples)(FILE *f, const struct pb_view *v);
};

/* The format by name for record (for_record) or report, or NULL. */
const struct output_format *output_format_find(const char *name, bool for_record);

/* "pprof, text, ... or json": the names one command takes (free()). */
char *output_format_names(bool for_record);

#endif
