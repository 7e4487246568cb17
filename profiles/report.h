/*
 * profiles/report.h - what `cprof report` and `cprof diff` print, computed
 * from a profile_data the way `go tool pprof` does at its default
 * (function) granularity: one node per function name, inlined frames their
 * own nodes; flat = value where the node is the leaf, cum = value of every
 * sample the node is on (once per sample, recursion or not).
 *
 * report_build() borrows the profile_data, which must outlive the report.
 * Writers print to a FILE the caller owns and return 0, or -1 if the
 * stream failed.
 */
#ifndef CPROF_REPORT_H
#define CPROF_REPORT_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "reader.h"

struct report_opts {
	const char *sample;	/* type name or index; NULL: the default */
	const char *focus, *ignore;	/* extended regexes, or NULL */
	double node_fraction;	/* hide nodes with cum <= this share */
	long top;		/* rows; 0: all */
	bool cum;		/* sort by cum */
};

struct rnode {
	const char *name;	/* owned */
	int64_t flat, cum;
	bool in_inline, in_call;	/* kinds of edges coming in */
	uint32_t seen;		/* sample stamp, while building */
};

struct redge {
	uint32_t from, to;	/* caller, callee */
	int64_t w;
	bool is_inline;
	uint32_t seen;		/* sample stamp, while building */
};

struct report {
	const struct profile_data *p;
	int si;			/* sample type index */
	const char *type, *unit;
	int64_t total;		/* selected value, all stacks */
	int64_t kept_total;	/* the stacks --focus/--ignore kept */
	int64_t edge_cut;	/* edges lighter than this are not shown */
	bool *kept;		/* per stack: value != 0, passes focus/ignore */
	uint32_t *fn_node, *loc_node;	/* node of a function / line-less location */
	struct rnode *nodes;
	size_t nnodes, nodes_alloc;
	struct redge *edges;
	size_t nedges, edges_alloc;
	struct itable edge_index;	/* edges by (from, to) */
	uint32_t stamp;		/* per-sample marks in nodes and edges */
	struct itable names;	/* nodes by name */
	char err[256];
};

/* 0, or -1 with r->err set (bad sample type, bad regex). */
int report_build(struct report *r, const struct profile_data *p,
		 const struct report_opts *o);
void report_release(struct report *r);

/* Node ids of stack st, leaf first, into out (up to max); *is_inline[i]:
 * frame i is an inlined call inside the same location as frame i + 1.
 * Returns the number of frames. */
size_t report_frames(const struct report *r, size_t st, uint32_t *out,
		     bool *is_inline, size_t max);

/* pprof's value labels: the unit for a set of values (pprof's "minimum"),
 * then one value in it ("1.50s", "10ms", "4MB", "12"). */
const char *report_pick_unit(const char *unit, int64_t min, int64_t max);
void report_format_value(char *buf, size_t size, int64_t v, const char *unit,
			 const char *out_unit);
/* "12.34%", "  100%", " 0.5%" as pprof prints percentages. */
void report_format_percent(char *buf, size_t size, int64_t v, int64_t total);

/*
 * The nodes to show, in order (sorted by flat, or cum; those under the
 * node fraction cut, then all but --top), into *rows (caller frees); their
 * count is returned, *all and *dropped say how many passed the cut and
 * how many did not.  Rebuilds the edges between the shown nodes, which
 * trees and the "(inline)" marks use.
 */
size_t report_rows(struct report *r, const struct report_opts *o, uint32_t **rows,
		   size_t *all, size_t *dropped);

int report_top(FILE *f, struct report *r, const struct report_opts *o,
	       const char *file);
int report_tree(FILE *f, struct report *r, const struct report_opts *o,
		const char *file);
int report_folded(FILE *f, const struct report *r);
int report_json(FILE *f, struct report *r, const struct report_opts *o,
		const char *file);
/* Go's debug=1 text of the stacks kept, through profiles/text.c's go_text
 * (record's text goes through it too) */
int report_text(FILE *f, const struct report *r);
/* ... and svg: profiles/flame.h; by name: profiles/format.h */

#endif
