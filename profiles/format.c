/*
 * profiles/format.c - the output formats of cprof record and cprof report
 * (see profiles/format.h): one row each.
 */
#define _GNU_SOURCE
#include "format.h"
#include "flame.h"
#include "report.h"
#include "text.h"
#include "../lib/util.h"

#include <stdlib.h>
#include <string.h>

static int print_folded(FILE *f, struct report *r, const struct report_opts *o,
			const char *file)
{
	return report_folded(f, r);
}

static int print_svg(FILE *f, struct report *r, const struct report_opts *o,
		     const char *file)
{
	return report_svg(f, r, file);
}

static int print_text(FILE *f, struct report *r, const struct report_opts *o,
		      const char *file)
{
	return report_text(f, r);
}

static int print_legacy(FILE *f, const struct pb_view *v)
{
	bool contention = v->ntypes == 2 && go_contention_types(v->types[0][0], v->types[1][0]);

	return text_legacy(f, v->b, v->sym, v->type, v->count_value, contention, v->labels);
}

static int print_dump(FILE *f, const struct pb_view *v)
{
	return text_dump(f, v->b, v->sym, v->type, v->types);
}

/* In the order --help and the error messages name them. */
static const struct output_format formats[] = {
	{ .name = "pprof", .ext = "pb.gz", .record = RECORD_ENCODED },
	{ .name = "top", .report = true, .print_report = report_top },
	{ .name = "tree", .report = true, .print_report = report_tree },
	{ .name = "text", .ext = "txt", .record = RECORD_SAMPLES, .report = true,
	  .print_report = print_text, .print_samples = print_legacy },
	{ .name = "dump", .ext = "txt", .record = RECORD_SAMPLES,
	  .print_samples = print_dump },
	{ .name = "svg", .ext = "svg", .record = RECORD_READ_BACK, .report = true,
	  .print_report = print_svg },
	{ .name = "folded", .ext = "txt", .record = RECORD_READ_BACK, .report = true,
	  .print_report = print_folded },
	{ .name = "json", .ext = "json", .record = RECORD_READ_BACK, .report = true,
	  .print_report = report_json },
};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

static bool takes(const struct output_format *fmt, bool for_record)
{
	return for_record ? fmt->record != NOT_IN_RECORD : fmt->report;
}

const struct output_format *output_format_find(const char *name, bool for_record)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if (!strcmp(formats[i].name, name) && takes(&formats[i], for_record))
			return &formats[i];
	return NULL;
}

char *output_format_names(bool for_record)
{
	const char *names[NFORMATS];
	size_t n = 0;

	for (size_t i = 0; i < NFORMATS; i++)
		if (takes(&formats[i], for_record))
			names[n++] = formats[i].name;
	return list_words(names, n);
}
