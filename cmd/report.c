/*
 * cmd/report.c - `cprof report FILE`: read a pprof profile (any writer's)
 * and print it as a top table, a caller/callee tree, folded stacks, a
 * flame graph, JSON or Go's debug=1 text.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "../lib/util.h"
#include "../profiles/format.h"
#include "../profiles/output.h"
#include "../profiles/reader.h"
#include "../profiles/report.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char report_usage[] =
	"usage: cprof report [options] FILE\n"
	"\n"
	"Read a pprof profile (gzip or plain; written by cprof, Go's runtime/pprof,\n"
	"`go tool pprof -proto` or any valid writer; - for stdin) and print it.\n"
	"\n"
	"  -f, --format FMT       top (default): flat and cumulative value per\n"
	"                         function, as `go tool pprof -top`\n"
	"                         tree: each function with its callers and callees\n"
	"                         folded: `root;...;leaf value` per stack (flamegraph.pl,\n"
	"                         speedscope)\n"
	"                         svg: a self-contained interactive flame graph\n"
	"                         json: totals and top functions, for scripts\n"
	"                         text: Go's debug=1 text format\n"
	"  -i, --sample-index T   the sample type to show, by name (cpu, samples,\n"
	"                         delay...) or index (default: the profile's default,\n"
	"                         else its last)\n"
	"      --top N            show N functions (default: all above --node-fraction)\n"
	"      --cum              sort by cumulative value, not flat\n"
	"      --focus RE         keep only stacks with a function (or file) matching\n"
	"                         the extended regular expression RE\n"
	"      --ignore RE        drop stacks with a function (or file) matching RE\n"
	"      --node-fraction F  hide functions whose cumulative value is at most F\n"
	"                         of the total (default 0.005, as pprof; 0 shows all)\n"
	"  -o, --output FILE      write to FILE (atomically) instead of stdout\n"
	"  -h, --help             this help\n"
	"\n"
	"exit status: 0 success; 1 the file could not be read or written; 2 usage.\n";

int parse_report_opt(const char *cmd, int c, const char *arg, struct report_opts *o)
{
	long n;
	char *end;

	switch (c) {
	case 'i':
		o->sample = arg;
		return 1;
	case OPT_TOP:
		if (parse_long(arg, 0, 1L << 30, &n))
			return usage_error(cmd, "--top: '%s' is not a number", arg);
		o->top = n;
		return 1;
	case OPT_CUM:
		o->cum = true;
		return 1;
	case OPT_FOCUS:
		o->focus = arg;
		return 1;
	case OPT_IGNORE:
		o->ignore = arg;
		return 1;
	case OPT_NODE_FRACTION:
		errno = 0;
		o->node_fraction = strtod(arg, &end);
		if (errno || *end || end == arg || o->node_fraction < 0 || o->node_fraction > 1)
			return usage_error(cmd, "--node-fraction: '%s' is not a number from 0 to 1", arg);
		return 1;
	}
	return 0;
}

int read_profile(const char *cmd, const char *path, struct profile_data *p)
{
	if (profile_read_file(p, path)) {
		error("%s %s: %s", cmd, path, p->err);
		profile_data_release(p);
		return -1;
	}
	return 0;
}

int write_report(const char *path, int (*fn)(FILE *, void *), void *arg)
{
	struct output out;
	int ret;

	if (!path) {
		ret = fn(stdout, arg);
		if (fflush(stdout) || ret)
			return error("write stdout: %s", strerror(errno ? errno : EIO));
		return 0;
	}
	if (output_open(&out, path))
		return -1;
	return output_render(&out, fn, arg);
}

struct print_args {
	struct report *r;
	const struct report_opts *o;
	const struct output_format *fmt;
	const char *file;
};

static int print_it(FILE *f, void *arg)
{
	struct print_args *a = arg;

	return a->fmt->print_report(f, a->r, a->o, a->file);
}

int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		REPORT_LONGOPTS,
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct report_opts o = { .node_fraction = 0.005 };
	const char *format = "top", *output = NULL;
	const struct output_format *fmt;
	struct profile_data p;
	struct report r;
	int c, ret;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":f:i:o:h", longopts, NULL)) != -1) {
		ret = parse_report_opt("report", c, optarg, &o);
		if (ret == 1)
			continue;
		if (ret)
			return ret;
		switch (c) {
		case 'f':
			format = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'h':
			fputs(report_usage, stdout);
			return CPROF_EXIT_OK;
		case ':':
			return usage_error("report", "%s needs an argument", argv[optind - 1]);
		default:
			return usage_error("report", "unknown option '%s'", argv[optind - 1]);
		}
	}
	fmt = output_format_find(format, false);
	if (!fmt)
		return usage_error_not_in("report", "unknown format", format,
					  output_format_names(false));
	if (optind + 1 != argc)
		return usage_error("report", optind == argc ? "no profile given%s" :
				   "one profile at a time ('%s' is one too many)",
				   optind == argc ? "" : argv[optind + 1]);
	if (read_profile("report", argv[optind], &p))
		return CPROF_EXIT_FAILURE;
	if (report_build(&r, &p, &o)) {
		error("report %s: %s", argv[optind], r.err);
		report_release(&r);
		profile_data_release(&p);
		return CPROF_EXIT_FAILURE;
	}
	ret = write_report(output, print_it, &(struct print_args){ &r, &o, fmt, argv[optind] });
	report_release(&r);
	profile_data_release(&p);
	return ret ? CPROF_EXIT_FAILURE : CPROF_EXIT_OK;
}
