/*
 * profiles/report.c - function-level nodes and edges from a profile_data,
 * and the text reports (top, tree, folded, json, Go's debug=1 text) built
 * on them.  Numbers and their labels follow `go tool pprof` so the two
 * agree on the same file (tests/t0015-report.sh compares them).
 */
#define _GNU_SOURCE
#include "report.h"
#include "text.h"
#include "../lib/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_FRAMES 65536

static int rfail(struct report *r, const char *fmt, const char *arg)
{
	snprintf(r->err, sizeof(r->err), fmt, arg);
	return -1;
}

static uint64_t name_hash(const char *name)
{
	return hash_bytes(HASH_INIT, name, strlen(name));
}

static uint64_t node_hash(size_t i, const void *arg)
{
	return name_hash(((const struct report *)arg)->nodes[i].name);
}

/* Intern a node name: the node id for it, created on first sight. */
static uint32_t node_of(struct report *r, const char *name)
{
	size_t i;

	itable_reserve(&r->names, r->nnodes, 256, node_hash, r);
	for (i = itable_first(&r->names, name_hash(name)); r->names.slot[i];
	     i = itable_next(&r->names, i))
		if (!strcmp(r->nodes[r->names.slot[i] - 1].name, name))
			return (uint32_t)(r->names.slot[i] - 1);
	GROW(r->nodes, r->nodes_alloc, r->nnodes + 1);
	r->nodes[r->nnodes] = (struct rnode){ .name = xstrdup(name) };
	r->names.slot[i] = ++r->nnodes;
	return (uint32_t)(r->nnodes - 1);
}

/*
 * pprof's name for a location without lines at function granularity: the
 * object's base name in brackets (all of its unsymbolized addresses are
 * one node), or <unknown>.
 */
static char *lineless_name(const struct profile_data *p, const struct prof_location *loc)
{
	const char *file = loc->mapping != UINT32_MAX ?
		profile_str(p, p->mappings[loc->mapping].filename) : "";
	const char *base = strrchr(file, '/');

	if (*file)
		return xasprintf("[%s]", base ? base + 1 : file);
	return xstrdup("<unknown>");
}

static const char *function_name(const struct profile_data *p, const struct prof_function *fn)
{
	const char *name = profile_str(p, fn->name);

	return *name ? name : profile_str(p, fn->system_name);
}

size_t report_frames(const struct report *r, size_t st, uint32_t *out,
		     bool *is_inline, size_t max)
{
	const struct profile_data *p = r->p;
	const struct prof_stack *s = &p->stacks[st];
	size_t n = 0;

	for (uint32_t i = 0; i < s->n && n < max; i++) {
		const struct prof_location *loc = &p->locations[p->locs[s->off + i]];

		if (!loc->nlines) {
			is_inline[n] = false;
			out[n++] = r->loc_node[p->locs[s->off + i]];
			continue;
		}
		for (uint32_t j = 0; j < loc->nlines && n < max; j++) {
			is_inline[n] = j + 1 < loc->nlines;
			out[n++] = r->fn_node[p->lines[loc->lines + j].fn];
		}
	}
	return n;
}

static bool stack_matches(const struct report *r, const uint32_t *nodes, size_t n,
			  const regex_t *re, size_t st)
{
	const struct profile_data *p = r->p;
	const struct prof_stack *s = &p->stacks[st];

	for (size_t i = 0; i < n; i++)
		if (!regexec(re, r->nodes[nodes[i]].name, 0, NULL, 0))
			return true;
	/* and file names, as pprof's focus does */
	for (uint32_t i = 0; i < s->n; i++) {
		const struct prof_location *loc = &p->locations[p->locs[s->off + i]];

		for (uint32_t j = 0; j < loc->nlines; j++) {
			const struct prof_function *fn = &p->functions[p->lines[loc->lines + j].fn];
			const char *file = profile_str(p, fn->filename);

			if (*file && !regexec(re, file, 0, NULL, 0))
				return true;
		}
	}
	return false;
}

/* What pprof's cutoffs are fractions of: the graph's flat values. */
static int64_t flat_sum(const struct report *r)
{
	int64_t sum = 0;

	for (size_t i = 0; i < r->nnodes; i++)
		sum += r->nodes[i].flat;
	return sum;
}

static bool edge_shown(const struct report *r, const struct redge *e)
{
	return (e->w < 0 ? -e->w : e->w) >= r->edge_cut;
}

static uint64_t pair_hash(uint32_t from, uint32_t to)
{
	return (((uint64_t)from << 32 | to) * 0x9e3779b97f4a7c15ULL) >> 20;
}

static uint64_t edge_hash(size_t i, const void *arg)
{
	const struct redge *e = &((const struct report *)arg)->edges[i];

	return pair_hash(e->from, e->to);
}

/* Count edge from->to once per sample (stamp); inline only if always. */
static void add_edge(struct report *r, uint32_t from, uint32_t to, int64_t w,
		     bool is_inline, uint32_t stamp)
{
	size_t i;

	itable_reserve(&r->edge_index, r->nedges, 256, edge_hash, r);
	for (i = itable_first(&r->edge_index, pair_hash(from, to)); r->edge_index.slot[i];
	     i = itable_next(&r->edge_index, i)) {
		struct redge *e = &r->edges[r->edge_index.slot[i] - 1];

		if (e->from == from && e->to == to) {
			if (e->seen == stamp)
				return;
			e->seen = stamp;
			e->w += w;
			e->is_inline &= is_inline;
			return;
		}
	}
	GROW(r->edges, r->edges_alloc, r->nedges + 1);
	r->edges[r->nedges] = (struct redge){ from, to, w, is_inline, stamp };
	r->edge_index.slot[i] = ++r->nedges;
}

int report_build(struct report *r, const struct profile_data *p,
		 const struct report_opts *o)
{
	regex_t focus, ignore;
	bool has_focus = false, has_ignore = false;
	uint32_t *frames = xmalloc(MAX_FRAMES * sizeof(*frames));
	bool *inl = xmalloc(MAX_FRAMES * sizeof(*inl));
	uint32_t stamp = 0;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	r->p = p;
	r->si = profile_sample_index(p, o->sample);
	if (r->si < 0) {
		char have[160] = "";

		for (size_t i = 0; i < p->ntypes; i++)
			snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%s",
				 i ? ", " : "", profile_str(p, p->types[i][0]));
		snprintf(r->err, sizeof(r->err), "sample type '%s' is not in the profile (it has: %s)",
			 o->sample, have);
		goto out;
	}
	r->type = profile_str(p, p->types[r->si][0]);
	r->unit = profile_str(p, p->types[r->si][1]);
	if (o->focus) {
		if (regcomp(&focus, o->focus, REG_EXTENDED | REG_NOSUB)) {
			rfail(r, "--focus: bad regular expression '%s'", o->focus);
			goto out;
		}
		has_focus = true;
	}
	if (o->ignore) {
		if (regcomp(&ignore, o->ignore, REG_EXTENDED | REG_NOSUB)) {
			rfail(r, "--ignore: bad regular expression '%s'", o->ignore);
			goto out;
		}
		has_ignore = true;
	}
	r->fn_node = xcalloc(p->nfunctions + 1, sizeof(*r->fn_node));
	r->loc_node = xcalloc(p->nlocations + 1, sizeof(*r->loc_node));
	for (size_t i = 0; i < p->nfunctions; i++)
		r->fn_node[i] = node_of(r, function_name(p, &p->functions[i]));
	for (size_t i = 0; i < p->nlocations; i++) {
		if (!p->locations[i].nlines) {
			char *name = lineless_name(p, &p->locations[i]);

			r->loc_node[i] = node_of(r, name);
			free(name);
		}
	}
	r->kept = xcalloc(p->nstacks + 1, sizeof(*r->kept));
	for (size_t st = 0; st < p->nstacks; st++) {
		int64_t v = p->values[st * p->nvalues + r->si];
		size_t n = report_frames(r, st, frames, inl, MAX_FRAMES);

		if (!v)
			continue;
		r->total += v;
		if (has_focus && !stack_matches(r, frames, n, &focus, st))
			continue;
		if (has_ignore && stack_matches(r, frames, n, &ignore, st))
			continue;
		r->kept[st] = true;
		r->kept_total += v;
		if (!n)
			continue;
		r->nodes[frames[0]].flat += v;
		/* each node's cum once per sample, recursion or not */
		stamp++;
		for (size_t k = n; k-- > 0;) {
			struct rnode *nd = &r->nodes[frames[k]];

			if (nd->seen != stamp) {
				nd->seen = stamp;
				nd->cum += v;
			}
		}
	}
	r->stamp = stamp;
	ret = 0;
out:
	if (has_focus)
		regfree(&focus);
	if (has_ignore)
		regfree(&ignore);
	free(frames);
	free(inl);
	return ret;
}

void report_release(struct report *r)
{
	for (size_t i = 0; i < r->nnodes; i++)
		free((char *)r->nodes[i].name);
	free(r->nodes);
	itable_release(&r->names);
	free(r->edges);
	itable_release(&r->edge_index);
	free(r->kept);
	free(r->fn_node);
	free(r->loc_node);
	memset(r, 0, sizeof(*r));
}

/* --- pprof's units ---------------------------------------------------- */

struct unit {
	const char *name;
	double factor;
};

static const struct unit time_units[] = {
	{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "mins", 60e9 },
	{ "hrs", 3600e9 }, { "days", 86400e9 }, { "wks", 7 * 86400e9 },
	{ "yrs", 365.25 * 86400e9 }, { NULL, 0 }
};
static const struct unit byte_units[] = {
	{ "B", 1 }, { "kB", 1024. }, { "MB", 1024. * 1024 }, { "GB", 1024. * 1024 * 1024 },
	{ "TB", 1024. * 1024 * 1024 * 1024 }, { "PB", 1024. * 1024 * 1024 * 1024 * 1024 },
	{ NULL, 0 }
};

/* The unit family of a sample unit, and the factor of that unit. */
static const struct unit *family(const char *unit, double *factor)
{
	static const struct { const char *name; const struct unit *fam; double f; } aliases[] = {
		{ "nanoseconds", time_units, 1 }, { "nanosecond", time_units, 1 },
		{ "ns", time_units, 1 }, { "microseconds", time_units, 1e3 },
		{ "microsecond", time_units, 1e3 }, { "us", time_units, 1e3 },
		{ "milliseconds", time_units, 1e6 }, { "millisecond", time_units, 1e6 },
		{ "ms", time_units, 1e6 }, { "seconds", time_units, 1e9 },
		{ "second", time_units, 1e9 }, { "s", time_units, 1e9 },
		{ "bytes", byte_units, 1 }, { "byte", byte_units, 1 }, { "b", byte_units, 1 },
		{ "B", byte_units, 1 }, { "kilobytes", byte_units, 1024. },
		{ "megabytes", byte_units, 1024. * 1024 },
	};

	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (!strcmp(unit, aliases[i].name)) {
			*factor = aliases[i].f;
			return aliases[i].fam;
		}
	return NULL;
}

static const char *auto_unit(const struct unit *fam, double base)
{
	const char *pick = fam[0].name;

	for (size_t i = 0; fam[i].name; i++)
		if (fabs(base) >= fam[i].factor)
			pick = fam[i].name;
	return pick;
}

const char *report_pick_unit(const char *unit, int64_t min, int64_t max)
{
	double f;
	const struct unit *fam = family(unit, &f);
	const char *umin, *umax;

	if (!fam)
		return unit;
	if (!min)
		min = max;
	umin = auto_unit(fam, (double)min * f);
	umax = auto_unit(fam, (double)max * f);
	/* a small minimum may be shown as 0.01 of a larger unit */
	if (strcmp(umin, umax) && fabs((double)min) * 100 < fabs((double)max))
		umin = auto_unit(fam, (double)min * 100 * f);
	return umin;
}

void report_format_value(char *buf, size_t size, int64_t v, const char *unit,
			 const char *out_unit)
{
	double f, x = (double)v;
	const struct unit *fam = family(unit, &f);
	const char *suffix = "";
	size_t n;

	if (fam) {
		for (size_t i = 0; fam[i].name; i++)
			if (!strcmp(fam[i].name, out_unit)) {
				x = x * f / fam[i].factor;
				suffix = fam[i].name;
			}
	} else if (strcmp(unit, "count")) {
		suffix = unit;
	}
	snprintf(buf, size, "%.2f", x);
	n = strlen(buf);
	if (n > 3 && !strcmp(buf + n - 3, ".00"))
		buf[n - 3] = 0;
	if (!strcmp(buf, "0") || !strcmp(buf, "-0")) {
		snprintf(buf, size, "0");
		return;
	}
	snprintf(buf + strlen(buf), size - strlen(buf), "%s", suffix);
}

void report_format_percent(char *buf, size_t size, int64_t v, int64_t total)
{
	double ratio = total ? fabs((double)v / (double)total) * 100 : 0;

	if (ratio >= 99.95 && ratio <= 100.05)
		snprintf(buf, size, "  100%%");
	else if (ratio >= 1.0)
		snprintf(buf, size, "%5.2f%%", ratio);
	else
		snprintf(buf, size, "%5.2g%%", ratio);
}

/* --- rows ------------------------------------------------------------- */

struct row_order {
	const struct report *r;
	bool cum;
};

static int cmp_rows(const void *a, const void *b, void *arg)
{
	const struct row_order *o = arg;
	const struct rnode *x = &o->r->nodes[*(const uint32_t *)a];
	const struct rnode *y = &o->r->nodes[*(const uint32_t *)b];
	int64_t xa = o->cum ? x->cum : x->flat, ya = o->cum ? y->cum : y->flat;
	int64_t xb = o->cum ? x->flat : x->cum, yb = o->cum ? y->flat : y->cum;
	int c;

	xa = xa < 0 ? -xa : xa;
	ya = ya < 0 ? -ya : ya;
	if (xa != ya)
		return xa > ya ? -1 : 1;
	if ((c = strcmp(x->name, y->name)))
		return c;
	xb = xb < 0 ? -xb : xb;
	yb = yb < 0 ? -yb : yb;
	return xb > yb ? -1 : xb < yb;
}

/*
 * Edges between the shown nodes only, as pprof rebuilds its graph from the
 * kept nodes: from the root in, hidden frames skipped, each caller->callee
 * pair once per sample, inline when the callee is an inlined line of its
 * location.  A node is "(inline)" when every edge into it is inline;
 * edges under 0.1% of the total are dropped first.
 */
static void shown_edges(struct report *r, const bool *shown)
{
	const struct profile_data *p = r->p;
	uint32_t *frames = xmalloc(MAX_FRAMES * sizeof(*frames));
	bool *inl = xmalloc(MAX_FRAMES * sizeof(*inl));

	r->nedges = 0;
	itable_clear(&r->edge_index);
	for (size_t st = 0; st < p->nstacks; st++) {
		int64_t v = p->values[st * p->nvalues + r->si];
		size_t n;
		uint32_t parent = UINT32_MAX;

		if (!r->kept[st])
			continue;
		n = report_frames(r, st, frames, inl, MAX_FRAMES);
		r->stamp++;
		for (size_t k = n; k-- > 0;) {
			if (!shown[frames[k]])
				continue;
			if (parent != UINT32_MAX && parent != frames[k])
				add_edge(r, parent, frames[k], v, inl[k], r->stamp);
			parent = frames[k];
		}
	}
	r->edge_cut = (int64_t)fabs((double)flat_sum(r) * 0.001);
	for (size_t i = 0; i < r->nnodes; i++)
		r->nodes[i].in_inline = r->nodes[i].in_call = false;
	for (size_t e = 0; e < r->nedges; e++) {
		struct rnode *to = &r->nodes[r->edges[e].to];

		if (!edge_shown(r, &r->edges[e]))
			continue;
		if (r->edges[e].is_inline)
			to->in_inline = true;
		else
			to->in_call = true;
	}
	free(frames);
	free(inl);
}

size_t report_rows(struct report *r, const struct report_opts *o, uint32_t **rows,
		   size_t *all, size_t *dropped)
{
	struct row_order ord = { r, o->cum };
	int64_t cut = (int64_t)fabs((double)flat_sum(r) * o->node_fraction);
	bool *shown = xcalloc(r->nnodes + 1, sizeof(*shown));
	size_t n = 0, show;

	*rows = xcalloc(r->nnodes + 1, sizeof(**rows));
	*dropped = 0;
	for (size_t i = 0; i < r->nnodes; i++) {
		int64_t c = r->nodes[i].cum < 0 ? -r->nodes[i].cum : r->nodes[i].cum;

		if (!r->nodes[i].cum && !r->nodes[i].flat)
			continue;	/* only in samples filtered out */
		if (c < cut) {
			(*dropped)++;
			continue;
		}
		(*rows)[n++] = (uint32_t)i;
	}
	qsort_r(*rows, n, sizeof(**rows), cmp_rows, &ord);
	show = o->top > 0 && (size_t)o->top < n ? (size_t)o->top : n;
	for (size_t i = 0; i < show; i++)
		shown[(*rows)[i]] = true;
	shown_edges(r, shown);
	free(shown);
	*all = n;
	return show;
}

static const char *inline_mark(const struct rnode *n)
{
	if (!n->in_inline)
		return "";
	return n->in_call ? " (partial-inline)" : " (inline)";
}

static const char *main_file(const struct profile_data *p)
{
	return p->nmappings ? profile_str(p, p->mappings[0].filename) : "";
}

/* The unit pprof would show these rows in. */
static const char *rows_unit(const struct report *r, const uint32_t *rows, size_t n)
{
	int64_t min = 0;

	for (size_t i = 0; i < n; i++) {
		const struct rnode *nd = &r->nodes[rows[i]];
		int64_t v = nd->flat ? nd->flat : nd->cum;

		v = v < 0 ? -v : v;
		if (v && (!min || v < min))
			min = v;
	}
	return report_pick_unit(r->unit, min, r->total);
}

static void header(FILE *f, const struct report *r, const char *file, const char *unit)
{
	const struct profile_data *p = r->p;
	const char *base = strrchr(main_file(p), '/');
	char tot[64];

	if (*main_file(p))
		fprintf(f, "File: %s\n", base ? base + 1 : main_file(p));
	else if (file)
		fprintf(f, "File: %s\n", file);
	if (p->nmappings && *profile_str(p, p->mappings[0].build_id))
		fprintf(f, "Build ID: %s\n", profile_str(p, p->mappings[0].build_id));
	for (size_t i = 0; i < p->ncomments; i++)
		fprintf(f, "%s\n", profile_str(p, p->comments[i]));
	fprintf(f, "Type: %s\n", r->type);
	if (p->time_nanos) {
		time_t t = (time_t)(p->time_nanos / 1000000000);
		struct tm tm;
		char when[64];

		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%b %-d, %Y at %-I:%M%P (%Z)", &tm);
		fprintf(f, "Time: %s\n", when);
	}
	if (p->duration_nanos) {
		char dur[64];
		double s;

		report_format_value(tot, sizeof(tot), r->total, r->unit, unit);
		report_format_value(dur, sizeof(dur), p->duration_nanos, "nanoseconds",
				    report_pick_unit("nanoseconds", p->duration_nanos,
						     p->duration_nanos));
		fprintf(f, "Duration: %s, Total samples = %s", dur, tot);
		if (family(r->unit, &s) == time_units)
			fprintf(f, " (%.2f%%)", (double)r->total * s / (double)p->duration_nanos * 100);
		fputc('\n', f);
	}
}

/* A row's five columns as pprof prints them: flat flat% sum% cum cum%. */
struct row_text {
	char flat[64], flat_pct[16], sum_pct[16], cum[64], cum_pct[16];
};

static void columns(struct row_text *t, const struct report *r, const struct rnode *nd,
		    int64_t sum, const char *unit)
{
	report_format_value(t->flat, sizeof(t->flat), nd->flat, r->unit, unit);
	report_format_value(t->cum, sizeof(t->cum), nd->cum, r->unit, unit);
	report_format_percent(t->flat_pct, sizeof(t->flat_pct), nd->flat, r->total);
	report_format_percent(t->sum_pct, sizeof(t->sum_pct), sum, r->total);
	report_format_percent(t->cum_pct, sizeof(t->cum_pct), nd->cum, r->total);
}

/* pprof's legend: the header, then what is shown of how much. */
static void legend(FILE *f, const struct report *r, const struct report_opts *o,
		   const char *file, const char *unit, const uint32_t *rows, size_t show,
		   size_t n, size_t dropped)
{
	int64_t shown = 0;
	char a[64], b[64], c[16];

	header(f, r, file, unit);
	for (size_t i = 0; i < show; i++)
		shown += r->nodes[rows[i]].flat;
	report_format_value(a, sizeof(a), shown, r->unit, unit);
	report_format_percent(c, sizeof(c), shown, r->total);
	report_format_value(b, sizeof(b), r->total, r->unit, unit);
	fprintf(f, "Showing nodes accounting for %s, %s of %s total\n", a,
		c + strspn(c, " "), b);
	if (dropped) {
		/* pprof prints the cutoff as a share of the whole profile */
		report_format_value(a, sizeof(a), (int64_t)fabs((double)r->total * o->node_fraction),
				    r->unit, unit);
		fprintf(f, "Dropped %zu node%s (cum <= %s)\n", dropped, dropped == 1 ? "" : "s", a);
	}
	if (show < n)
		fprintf(f, "Showing top %zu nodes out of %zu\n", show, n);
}

int report_top(FILE *f, struct report *r, const struct report_opts *o,
	       const char *file)
{
	uint32_t *rows;
	int64_t sum = 0;
	size_t n, dropped, show = report_rows(r, o, &rows, &n, &dropped);
	const char *unit = rows_unit(r, rows, show);
	struct row_text t;

	legend(f, r, o, file, unit, rows, show, n, dropped);
	fprintf(f, "%10s %5s%% %5s%% %10s %5s%%\n", "flat", "flat", "sum", "cum", "cum");
	for (size_t i = 0; i < show; i++) {
		const struct rnode *nd = &r->nodes[rows[i]];

		sum += nd->flat;
		columns(&t, r, nd, sum, unit);
		fprintf(f, "%10s %s %s %10s %s  %s%s\n", t.flat, t.flat_pct, t.sum_pct, t.cum,
			t.cum_pct, nd->name, inline_mark(nd));
	}
	free(rows);
	return ferror(f) ? -1 : 0;
}

static int cmp_edges(const void *a, const void *b, void *arg)
{
	const struct report *r = arg;
	const struct redge *x = &r->edges[*(const size_t *)a];
	const struct redge *y = &r->edges[*(const size_t *)b];

	int c;

	if (x->w != y->w)
		return x->w > y->w ? -1 : 1;
	if ((c = strcmp(r->nodes[x->from].name, r->nodes[y->from].name)))
		return c;
	return strcmp(r->nodes[x->to].name, r->nodes[y->to].name);
}

/* Edges sorted by weight; in/out lists per node as offsets into them. */
static void edge_lists(const struct report *r, size_t **in, size_t **in_off,
		       size_t **out, size_t **out_off)
{
	size_t *sorted = xcalloc(r->nedges + 1, sizeof(*sorted));
	size_t *ci = xcalloc(r->nnodes + 1, sizeof(*ci)), *co = xcalloc(r->nnodes + 1, sizeof(*co));

	for (size_t e = 0; e < r->nedges; e++)
		sorted[e] = e;
	qsort_r(sorted, r->nedges, sizeof(*sorted), cmp_edges, (void *)r);
	*in = xcalloc(r->nedges + 1, sizeof(**in));
	*out = xcalloc(r->nedges + 1, sizeof(**out));
	*in_off = xcalloc(r->nnodes + 2, sizeof(**in_off));
	*out_off = xcalloc(r->nnodes + 2, sizeof(**out_off));
	for (size_t e = 0; e < r->nedges; e++) {
		(*in_off)[r->edges[e].to + 1]++;
		(*out_off)[r->edges[e].from + 1]++;
	}
	for (size_t i = 0; i < r->nnodes; i++) {
		(*in_off)[i + 1] += (*in_off)[i];
		(*out_off)[i + 1] += (*out_off)[i];
	}
	for (size_t k = 0; k < r->nedges; k++) {
		const struct redge *e = &r->edges[sorted[k]];

		(*in)[(*in_off)[e->to] + ci[e->to]++] = sorted[k];
		(*out)[(*out_off)[e->from] + co[e->from]++] = sorted[k];
	}
	free(sorted);
	free(ci);
	free(co);
}

/* A caller or callee line: the edge's value, its share of nd's cum. */
static void tree_edge(FILE *f, const struct report *r, const struct redge *ed,
		      uint32_t other, const struct rnode *nd, const char *unit)
{
	char a[64], c[16];

	if (!edge_shown(r, ed))
		return;
	report_format_value(a, sizeof(a), ed->w, r->unit, unit);
	report_format_percent(c, sizeof(c), ed->w, nd->cum);
	fprintf(f, "%50s %s |   %s%s\n", a, c, r->nodes[other].name,
		ed->is_inline ? " (inline)" : "");
}

int report_tree(FILE *f, struct report *r, const struct report_opts *o,
		const char *file)
{
	static const char rule[] =
		"----------------------------------------------------------+-------------\n";
	uint32_t *rows;
	size_t n, dropped, show = report_rows(r, o, &rows, &n, &dropped);
	const char *unit = rows_unit(r, rows, show);
	size_t *in, *in_off, *out, *out_off;
	int64_t sum = 0;
	struct row_text t;

	edge_lists(r, &in, &in_off, &out, &out_off);
	legend(f, r, o, file, unit, rows, show, n, dropped);
	/* (pprof's header line ends in tab-separated empty columns) */
	fprintf(f, "%s%10s %5s%% %5s%% %10s %5s%%   calls calls%% + context \t \t \n%s",
		rule, "flat", "flat", "sum", "cum", "cum", rule);
	for (size_t i = 0; i < show; i++) {
		uint32_t id = rows[i];
		const struct rnode *nd = &r->nodes[id];

		for (size_t k = in_off[id]; k < in_off[id + 1]; k++)
			tree_edge(f, r, &r->edges[in[k]], r->edges[in[k]].from, nd, unit);
		sum += nd->flat;
		columns(&t, r, nd, sum, unit);
		fprintf(f, "%10s %s %s %10s %s                | %s\n", t.flat, t.flat_pct,
			t.sum_pct, t.cum, t.cum_pct, nd->name);
		for (size_t k = out_off[id]; k < out_off[id + 1]; k++)
			tree_edge(f, r, &r->edges[out[k]], r->edges[out[k]].to, nd, unit);
		fputs(rule, f);
	}
	free(rows);
	free(in);
	free(in_off);
	free(out);
	free(out_off);
	return ferror(f) ? -1 : 0;
}

/* --- folded ----------------------------------------------------------- */

struct folded {
	char *line;		/* root;...;leaf */
	int64_t v;
};

static int cmp_folded(const void *a, const void *b)
{
	return strcmp(((const struct folded *)a)->line, ((const struct folded *)b)->line);
}

int report_folded(FILE *f, const struct report *r)
{
	const struct profile_data *p = r->p;
	uint32_t *frames = xmalloc(MAX_FRAMES * sizeof(*frames));
	bool *inl = xmalloc(MAX_FRAMES * sizeof(*inl));
	struct folded *lines = NULL;
	size_t nlines = 0, alloc = 0;

	for (size_t st = 0; st < p->nstacks; st++) {
		size_t n, len = 0;
		char *s;

		if (!r->kept[st])
			continue;
		n = report_frames(r, st, frames, inl, MAX_FRAMES);
		for (size_t k = 0; k < n; k++)
			len += strlen(r->nodes[frames[k]].name) + 1;
		s = xmalloc(len + 1);
		len = 0;
		for (size_t k = n; k-- > 0;) {
			const char *name = r->nodes[frames[k]].name;

			/* ';' separates frames and ' ' the value: keep names whole */
			for (; *name; name++)
				s[len++] = *name == ';' ? ':' : *name == '\n' ? ' ' : *name;
			if (k)
				s[len++] = ';';
		}
		s[len] = 0;
		if (!n)
			snprintf(s = xrealloc(s, 16), 16, "[no frames]");
		GROW(lines, alloc, nlines + 1);
		lines[nlines++] = (struct folded){ s, p->values[st * p->nvalues + r->si] };
	}
	if (nlines)
		qsort(lines, nlines, sizeof(*lines), cmp_folded);
	for (size_t i = 0; i < nlines; i++) {
		int64_t v = lines[i].v;

		while (i + 1 < nlines && !strcmp(lines[i].line, lines[i + 1].line)) {
			free(lines[i].line);
			v += lines[++i].v;
		}
		fprintf(f, "%s %" PRId64 "\n", lines[i].line, v);
		free(lines[i].line);
	}
	free(lines);
	free(frames);
	free(inl);
	return ferror(f) ? -1 : 0;
}

/* --- json ------------------------------------------------------------- */

static void json_kv_str(FILE *f, const char *k, const char *v, bool comma)
{
	fprintf(f, "%s\n  ", comma ? "," : "");
	json_string(f, k);
	fputs(": ", f);
	json_string(f, v);
}

int report_json(FILE *f, struct report *r, const struct report_opts *o,
		const char *file)
{
	const struct profile_data *p = r->p;
	uint32_t *rows;
	size_t n, dropped, show = report_rows(r, o, &rows, &n, &dropped);

	fputc('{', f);
	json_kv_str(f, "file", file ? file : "", false);
	json_kv_str(f, "main_binary", main_file(p), true);
	fputs(",\n  \"sample_types\": [", f);
	for (size_t i = 0; i < p->ntypes; i++) {
		fprintf(f, "%s{\"type\": ", i ? ", " : "");
		json_string(f, profile_str(p, p->types[i][0]));
		fputs(", \"unit\": ", f);
		json_string(f, profile_str(p, p->types[i][1]));
		fputc('}', f);
	}
	fputs("]", f);
	json_kv_str(f, "sample_type", r->type, true);
	json_kv_str(f, "unit", r->unit, true);
	fprintf(f, ",\n  \"total\": %" PRId64 ",\n  \"kept_total\": %" PRId64
		",\n  \"samples\": %" PRIu64
		",\n  \"stacks\": %zu,\n  \"duration_nanos\": %" PRId64
		",\n  \"time_nanos\": %" PRId64 ",\n  \"period\": %" PRId64,
		r->total, r->kept_total, p->nsamples, p->nstacks, p->duration_nanos, p->time_nanos, p->period);
	json_kv_str(f, "period_type", profile_str(p, p->period_type[0]), true);
	fputs(",\n  \"comments\": [", f);
	for (size_t i = 0; i < p->ncomments; i++) {
		fputs(i ? ", " : "", f);
		json_string(f, profile_str(p, p->comments[i]));
	}
	fprintf(f, "],\n  \"functions_total\": %zu,\n  \"functions\": [", n);
	for (size_t i = 0; i < show; i++) {
		const struct rnode *nd = &r->nodes[rows[i]];

		fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
		json_string(f, nd->name);
		fprintf(f, ", \"flat\": %" PRId64 ", \"flat_percent\": %.4f, \"cum\": %" PRId64
			", \"cum_percent\": %.4f, \"inline\": %s}",
			nd->flat, r->total ? 100.0 * (double)nd->flat / (double)r->total : 0,
			nd->cum, r->total ? 100.0 * (double)nd->cum / (double)r->total : 0,
			nd->in_inline && !nd->in_call ? "true" : "false");
	}
	fputs(show ? "\n  ]\n}\n" : "]\n}\n", f);
	free(rows);
	return ferror(f) ? -1 : 0;
}

/* Go's debug=1 text, report_text(): profiles/text.c */
