/*
 * cmd/diff.c - `cprof diff BASE NEW`: per-function change between two
 * profiles of the same kind, and the gate a CI job needs:
 * --fail-if-slower PCT[:RE] exits with CPROF_EXIT_SLOWER when a function
 * (or one matching RE) grew by more than PCT percentage points of its
 * profile's total.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "../lib/util.h"
#include "../profiles/reader.h"
#include "../profiles/report.h"
#include "../profiles/text.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

static const char diff_usage[] =
	"usage: cprof diff [options] BASE NEW\n"
	"\n"
	"Compare two profiles of the same kind (same sample type and unit) function\n"
	"by function.  Each function's value is taken as a share of its own\n"
	"profile's total, so runs of different lengths compare; the change is in\n"
	"percentage points.\n"
	"\n"
	"  -i, --sample-index T   the sample type, by name or index (as cprof report)\n"
	"      --cum              compare cumulative values (default: flat)\n"
	"      --normalize N      what the value columns show: total (default:\n"
	"                         percent of each profile's total), duration (value\n"
	"                         per second of each profile's duration), none (raw)\n"
	"      --top N            show the N largest changes (default 20; 0: all)\n"
	"      --focus RE, --ignore RE   as cprof report, applied to both\n"
	"      --fail-if-slower PCT[:RE]\n"
	"                         exit 4 if any function (or any matching RE) grew by\n"
	"                         more than PCT percentage points of the total, and\n"
	"                         name them on stderr\n"
	"  -f, --format FMT       top (default) or json\n"
	"  -o, --output FILE      write to FILE (atomically) instead of stdout\n"
	"  -h, --help             this help\n"
	"\n"
	"exit status: 0 no function slower than the gate (or no gate); 1 a profile\n"
	"could not be read, or they are not of the same kind; 2 usage; 4 slower.\n";

enum normalize { NORM_TOTAL, NORM_DURATION, NORM_NONE };

struct drow {
	const char *name;
	int64_t v[2];		/* base, new: flat or cum */
	double share[2];	/* percent of each total */
	double delta;		/* points */
	bool slower;
};

struct diff {
	const char *paths[2];
	struct profile_data p[2];
	struct report r[2];
	struct drow *rows;
	size_t nrows;
	enum normalize norm;
	const char *format;
	long top;
	bool cum;
	double gate;		/* < 0: no gate */
	const char *gate_re;
	size_t nslower;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct drow *)a)->name, ((const struct drow *)b)->name);
}

static int cmp_delta(const void *a, const void *b)
{
	const struct drow *x = a, *y = b;

	if (fabs(x->delta) != fabs(y->delta))
		return fabs(x->delta) > fabs(y->delta) ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* One row per function name in either profile. */
static void merge_rows(struct diff *d)
{
	struct drow *all = NULL;
	size_t n = 0, alloc = 0;

	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < d->r[k].nnodes; i++) {
			const struct rnode *nd = &d->r[k].nodes[i];
			int64_t v = d->cum ? nd->cum : nd->flat;

			if (!v)
				continue;
			GROW(all, alloc, n + 1);
			all[n] = (struct drow){ .name = nd->name };
			all[n++].v[k] = v;
		}
	if (n)
		qsort(all, n, sizeof(*all), cmp_name);
	d->rows = xcalloc(n + 1, sizeof(*d->rows));
	for (size_t i = 0; i < n; i++) {
		struct drow *row = &d->rows[d->nrows];

		if (d->nrows && !strcmp(d->rows[d->nrows - 1].name, all[i].name))
			row = &d->rows[d->nrows - 1];
		else
			*row = (struct drow){ .name = all[i].name }, d->nrows++;
		row->v[0] += all[i].v[0];
		row->v[1] += all[i].v[1];
	}
	free(all);
	for (size_t i = 0; i < d->nrows; i++) {
		struct drow *row = &d->rows[i];

		for (int k = 0; k < 2; k++)
			row->share[k] = d->r[k].total ?
				100.0 * (double)row->v[k] / (double)d->r[k].total : 0;
		row->delta = row->share[1] - row->share[0];
	}
	qsort(d->rows, d->nrows, sizeof(*d->rows), cmp_delta);
}

static int apply_gate(struct diff *d)
{
	regex_t re;

	if (d->gate < 0)
		return 0;
	if (d->gate_re && regcomp(&re, d->gate_re, REG_EXTENDED | REG_NOSUB))
		return error("diff: --fail-if-slower: bad regular expression '%s'", d->gate_re);
	for (size_t i = 0; i < d->nrows; i++) {
		struct drow *row = &d->rows[i];

		if (row->delta <= d->gate)
			continue;
		if (d->gate_re && regexec(&re, row->name, 0, NULL, 0))
			continue;
		row->slower = true;
		d->nslower++;
	}
	if (d->gate_re)
		regfree(&re);
	return 0;
}

/* A row's value in the chosen normalisation, as text. */
static void norm_value(const struct diff *d, const struct drow *row, int k,
		       const char *unit, char *buf, size_t size)
{
	const struct profile_data *p = &d->p[k];

	switch (d->norm) {
	case NORM_TOTAL:
		snprintf(buf, size, "%.2f%%", row->share[k]);
		return;
	case NORM_DURATION:
		if (!p->duration_nanos) {
			snprintf(buf, size, "-");
			return;
		}
		report_format_value(buf, size,
				    (int64_t)llround((double)row->v[k] * 1e9 / (double)p->duration_nanos),
				    d->r[k].unit, unit);
		snprintf(buf + strlen(buf), size - strlen(buf), "/s");
		return;
	case NORM_NONE:
		report_format_value(buf, size, row->v[k], d->r[k].unit, unit);
		return;
	}
}

static const char *norm_names[] = { "total", "duration", "none" };

static int print_top(FILE *f, const struct diff *d)
{
	size_t show = d->top > 0 && (size_t)d->top < d->nrows ? (size_t)d->top : d->nrows;
	const char *unit = report_pick_unit(d->r[0].unit, d->r[0].total / 100, d->r[0].total);
	char a[64], b[64];

	fprintf(f, "Type: %s (%s), %s values, each as a share of its profile's total\n",
		d->r[0].type, d->r[0].unit, d->cum ? "cumulative" : "flat");
	for (int k = 0; k < 2; k++) {
		report_format_value(a, sizeof(a), d->r[k].total, d->r[k].unit,
				    report_pick_unit(d->r[k].unit, d->r[k].total, d->r[k].total));
		fprintf(f, "%s: %s: total %s", k ? "New " : "Base", d->paths[k], a);
		if (d->p[k].duration_nanos)
			fprintf(f, ", %.2fs", d->p[k].duration_nanos / 1e9);
		fputc('\n', f);
	}
	fprintf(f, "%12s %12s %9s  %s\n", "base", "new", "delta", "function");
	for (size_t i = 0; i < show; i++) {
		const struct drow *row = &d->rows[i];

		norm_value(d, row, 0, unit, a, sizeof(a));
		norm_value(d, row, 1, unit, b, sizeof(b));
		fprintf(f, "%12s %12s %+9.2f  %s%s\n", a, b, row->delta, row->name,
			row->slower ? "  SLOWER" : "");
	}
	if (show < d->nrows)
		fprintf(f, "(%zu more functions changed less; --top 0 shows all)\n", d->nrows - show);
	return ferror(f) ? -1 : 0;
}

static int print_json(FILE *f, const struct diff *d)
{
	size_t show = d->top > 0 && (size_t)d->top < d->nrows ? (size_t)d->top : d->nrows;

	fputs("{\n  \"sample_type\": ", f);
	json_string(f, d->r[0].type);
	fputs(",\n  \"unit\": ", f);
	json_string(f, d->r[0].unit);
	fprintf(f, ",\n  \"values\": \"%s\",\n  \"normalize\": \"%s\"", d->cum ? "cum" : "flat",
		norm_names[d->norm]);
	for (int k = 0; k < 2; k++) {
		fprintf(f, ",\n  \"%s\": {\"file\": ", k ? "new" : "base");
		json_string(f, d->paths[k]);
		fprintf(f, ", \"total\": %" PRId64 ", \"samples\": %" PRIu64
			", \"duration_nanos\": %" PRId64 "}",
			d->r[k].total, d->p[k].nsamples, d->p[k].duration_nanos);
	}
	if (d->gate >= 0) {
		fprintf(f, ",\n  \"gate\": {\"points\": %g, \"match\": ", d->gate);
		json_string(f, d->gate_re ? d->gate_re : "");
		fprintf(f, ", \"slower\": %zu}", d->nslower);
	}
	fputs(",\n  \"functions\": [", f);
	for (size_t i = 0; i < show; i++) {
		const struct drow *row = &d->rows[i];

		fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
		json_string(f, row->name);
		fprintf(f, ", \"base\": %" PRId64 ", \"new\": %" PRId64
			", \"base_percent\": %.4f, \"new_percent\": %.4f, \"delta_points\": %.4f"
			", \"slower\": %s}", row->v[0], row->v[1], row->share[0], row->share[1],
			row->delta, row->slower ? "true" : "false");
	}
	fputs(show ? "\n  ]\n}\n" : "]\n}\n", f);
	return ferror(f) ? -1 : 0;
}

static int print_it(FILE *f, void *arg)
{
	const struct diff *d = arg;

	return !strcmp(d->format, "json") ? print_json(f, d) : print_top(f, d);
}

static int parse_gate(struct diff *d, const char *arg)
{
	char *end;
	const char *colon = strchr(arg, ':');
	char *num = colon ? strndup(arg, (size_t)(colon - arg)) : xstrdup(arg);

	errno = 0;
	d->gate = strtod(num, &end);
	if (errno || *end || end == num || d->gate < 0 || d->gate > 100) {
		free(num);
		return usage_error("diff", "--fail-if-slower: '%s' is not PCT[:RE] (PCT 0 to 100)", arg);
	}
	free(num);
	d->gate_re = colon ? colon + 1 : NULL;
	return 0;
}

/* The two profiles must measure the same thing. */
static int same_kind(const struct diff *d)
{
	const struct profile_data *p = d->p;
	const char *pt0 = profile_str(&p[0], p[0].period_type[0]);
	const char *pt1 = profile_str(&p[1], p[1].period_type[0]);

	if (strcmp(d->r[0].type, d->r[1].type) || strcmp(d->r[0].unit, d->r[1].unit))
		return error("diff: %s is %s/%s but %s is %s/%s: not the same kind of profile "
			     "(choose a common sample type with -i)", d->paths[0], d->r[0].type,
			     d->r[0].unit, d->paths[1], d->r[1].type, d->r[1].unit);
	if (*pt0 && *pt1 && strcmp(pt0, pt1))
		return error("diff: %s is a %s profile but %s is a %s profile: not the same kind",
			     d->paths[0], pt0, d->paths[1], pt1);
	return 0;
}

int cmd_diff(int argc, char **argv)
{
	enum { OPT_GATE = OPT_FIRST_OWN + 64, OPT_NORMALIZE };
	static const struct option longopts[] = {
		REPORT_LONGOPTS,
		{ "fail-if-slower", required_argument, NULL, OPT_GATE },
		{ "normalize", required_argument, NULL, OPT_NORMALIZE },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct report_opts o = { .node_fraction = 0, .top = 20 };
	struct diff *d = xcalloc(1, sizeof(*d));
	const char *output = NULL;
	int c, ret, code = CPROF_EXIT_FAILURE, nread = 0;

	d->format = "top";
	d->gate = -1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":f:i:o:h", longopts, NULL)) != -1) {
		ret = parse_report_opt("diff", c, optarg, &o);
		if (ret == 1)
			continue;
		if (ret) {
			code = ret;
			goto out;
		}
		switch (c) {
		case OPT_GATE:
			if ((code = parse_gate(d, optarg)))
				goto out;
			code = CPROF_EXIT_FAILURE;
			break;
		case OPT_NORMALIZE:
			for (d->norm = 0; d->norm < 3 && strcmp(optarg, norm_names[d->norm]); d->norm++)
				;
			if (d->norm == 3) {
				code = usage_error("diff", "--normalize: '%s' is not total, duration or none", optarg);
				goto out;
			}
			break;
		case 'f':
			d->format = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'h':
			fputs(diff_usage, stdout);
			code = CPROF_EXIT_OK;
			goto out;
		case ':':
			code = usage_error("diff", "%s needs an argument", argv[optind - 1]);
			goto out;
		default:
			code = usage_error("diff", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	d->top = o.top;
	if (strcmp(d->format, "top") && strcmp(d->format, "json")) {
		code = usage_error("diff", "unknown format '%s' (top or json)", d->format);
		goto out;
	}
	if (optind + 2 != argc) {
		code = usage_error("diff", "give two profiles: BASE NEW%s", "");
		goto out;
	}
	d->cum = o.cum;
	for (; nread < 2; nread++) {
		d->paths[nread] = argv[optind + nread];
		if (read_profile("diff", d->paths[nread], &d->p[nread]))
			goto out;
		if (report_build(&d->r[nread], &d->p[nread], &o)) {
			error("diff %s: %s", d->paths[nread], d->r[nread].err);
			report_release(&d->r[nread]);
			profile_data_release(&d->p[nread]);
			goto out;
		}
	}
	if (same_kind(d))
		goto out;
	merge_rows(d);
	if (apply_gate(d))
		goto out;
	if (write_report(output, print_it, d))
		goto out;
	code = CPROF_EXIT_OK;
	if (d->nslower) {
		for (size_t i = 0; i < d->nrows; i++)
			if (d->rows[i].slower)
				fprintf(stderr, "cprof: diff: %s is slower: %.2f%% -> %.2f%% of the total "
					"(+%.2f points, gate %g)\n", d->rows[i].name, d->rows[i].share[0],
					d->rows[i].share[1], d->rows[i].delta, d->gate);
		code = CPROF_EXIT_SLOWER;
	}
out:
	for (int k = 0; k < nread; k++) {
		report_release(&d->r[k]);
		profile_data_release(&d->p[k]);
	}
	free(d->rows);
	free(d);
	return code;
}
