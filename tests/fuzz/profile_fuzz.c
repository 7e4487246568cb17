/*
 * tests/fuzz/profile_fuzz.c - libFuzzer harness for the profile reader and
 * everything printed from it: an input is a pprof file (gzip or plain; the
 * seed corpus is tests/fuzz/profiles: cprof's and mkprof.py's profiles,
 * plain and compressed).  Each input is read (profiles/reader.c) and, if
 * it reads, reported in every format (profiles/report.c, flame.c) with and
 * without filters, to /dev/null.
 */
#define _GNU_SOURCE
#include "../../profiles/format.h"
#include "../../profiles/reader.h"
#include "../../profiles/report.h"

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	static const char *const formats[] = { "top", "tree", "folded", "svg", "json", "text" };
	struct report_opts opts[] = {
		{ .node_fraction = 0.005 },
		{ .node_fraction = 0, .cum = true, .top = 3, .sample = "0", .focus = "a|b" },
		{ .node_fraction = 0.1, .ignore = "^m" },
	};
	struct profile_data p;

	if (!null)
		null = fopen("/dev/null", "w");
	if (profile_read_mem(&p, data, size) == 0) {
		for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
			struct report r;

			if (report_build(&r, &p, &opts[i]) == 0)
				for (size_t k = 0; k < sizeof(formats) / sizeof(formats[0]); k++)
					output_format_find(formats[k], false)->print_report(
						null, &r, &opts[i], "fuzz");
			report_release(&r);
		}
	}
	profile_data_release(&p);
	return 0;
}
