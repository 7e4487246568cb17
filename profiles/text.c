/*
 * profiles/text.c - text formats for people and for Go's legacy tooling.
 */
#define _GNU_SOURCE
#include "text.h"
#include "builder.h"
#include "report.h"
#include "../lib/stack.h"
#include "../lib/util.h"
#include "../symbolize/maps.h"
#include "../symbolize/symbolize.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* "libc.so.6+0x1234" for an address no symbol covers */
static void print_raw(FILE *f, const struct symloc *sl, uint64_t addr)
{
	const char *name = sl->map && sl->map->mod ? sl->map->mod->path : NULL;
	const char *base = name ? strrchr(name, '/') : NULL;

	if (name)
		fprintf(f, "0x%" PRIx64 " [%s+0x%" PRIx64 "]\n", addr,
			base ? base + 1 : name, addr - sl->map->start + sl->map->offset);
	else
		fprintf(f, "0x%" PRIx64 "\n", addr);
}

void text_stack(FILE *f, struct symbolizer *s, uint32_t epoch,
		const uint64_t *stack, size_t nstack)
{
	size_t n;
	const uint64_t *pcs = symbolizer_tailcalls(s, epoch, stack, nstack, &n);

	for (size_t i = 0; i < n; i++) {
		uint64_t addr = pcs[i] & ~PC_PHYSICAL;
		struct symloc sl;

		if (pc_is_pseudo(pcs[i])) {
			fprintf(f, "%s\n", pc_pseudo_name(pcs[i]));
			continue;
		}
		symbolizer_lookup(s, epoch, addr, &sl);
		if (!sl.nframes) {
			print_raw(f, &sl, addr & ~PC_TAILCALL);
			continue;
		}
		for (size_t j = 0; j < sl.nframes; j++) {
			const struct symframe *fr = &sl.frames[j];

			fprintf(f, "%s%s\n", fr->name, j + 1 < sl.nframes ? " (inlined)" : "");
			if (fr->file[0])
				fprintf(f, "\t%s:%d\n", fr->file, fr->line);
		}
	}
}

struct sort_by {
	const struct profile_builder *b;
	size_t value;
};

static int cmp_value(const void *a, const void *b, void *arg)
{
	const struct sort_by *by = arg;
	const struct pb_entry *x = &by->b->entries[*(const size_t *)a];
	const struct pb_entry *y = &by->b->entries[*(const size_t *)b];

	if (x->values[by->value] != y->values[by->value])
		return x->values[by->value] < y->values[by->value] ? 1 : -1;
	return x < y ? -1 : x > y;	/* stable: insertion order */
}

/* Entry indexes, largest values[value] first. */
static size_t *sorted_entries(const struct profile_builder *b, size_t value)
{
	size_t *ix = xcalloc(b->nentries, sizeof(*ix));
	struct sort_by by = { b, value };

	for (size_t i = 0; i < b->nentries; i++)
		ix[i] = i;
	qsort_r(ix, b->nentries, sizeof(*ix), cmp_value, &by);
	return ix;
}

/* --- Go's debug=1 text ------------------------------------------------ */

bool go_contention_types(const char *type0, const char *type1)
{
	return !strcmp(type0, "contentions") && !strcmp(type1, "delay");
}

struct go_text_sort {
	const struct go_text *src;
	size_t key;
};

static int cmp_go_text(const void *a, const void *b, void *arg)
{
	const struct go_text_sort *o = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int64_t vx = o->src->values(o->src->arg, x)[o->key];
	int64_t vy = o->src->values(o->src->arg, y)[o->key];

	if (vx != vy)
		return vx > vy ? -1 : 1;
	return x < y ? -1 : x > y;	/* stable: the source's order */
}

/*
 * Go's heap header: inuse objects: bytes [allocated objects: bytes], over
 * every stack.  "heap_v2/1": the values are already scaled estimates, so
 * pprof must not scale them again by a sampling rate.
 */
static void heap_header(FILE *f, const struct go_text *src)
{
	int64_t t[4] = { 0 };

	for (size_t i = 0; i < src->nstacks; i++)
		for (size_t v = 0; v < 4; v++)
			t[v] += src->values(src->arg, i)[v];
	fprintf(f, "heap profile: %" PRId64 ": %" PRId64 " [%" PRId64 ": %" PRId64 "] @ heap_v2/1\n",
		t[2], t[3], t[0], t[1]);
}

static void go_text_labels(FILE *f, const struct go_text *src, size_t st)
{
	const char *kv[PB_MAX_LABELS][2];
	size_t n = src->labels(src->arg, st, kv);

	for (size_t j = 0; j < n; j++) {
		fputs(j ? ", " : "# labels: {", f);
		json_string(f, kv[j][0]);
		fputc(':', f);
		json_string(f, kv[j][1]);
	}
	if (n)
		fputs("}\n", f);
}

#define GO_TEXT_MAX_LINES 64	/* inlined functions of one frame */

int go_text(FILE *f, const struct go_text *src, enum go_text_form form,
	    size_t key, const char *type)
{
	size_t *ix = xcalloc(src->nstacks + 1, sizeof(*ix)), n = 0;
	struct go_text_sort by = { src, key };
	int64_t total = 0;

	for (size_t st = 0; st < src->nstacks; st++) {
		if (!src->shown(src->arg, st, key))
			continue;
		ix[n++] = st;
		total += src->values(src->arg, st)[key];
	}
	qsort_r(ix, n, sizeof(*ix), cmp_go_text, &by);
	if (form == GO_TEXT_CONTENTION)
		fprintf(f, "--- contention:\ncycles/second=1000000000\n");
	else if (form == GO_TEXT_HEAP)
		heap_header(f, src);
	else
		fprintf(f, "%s profile: total %" PRId64 "\n", type, total);
	for (size_t k = 0; k < n; k++) {
		const int64_t *v = src->values(src->arg, ix[k]);
		const uint64_t *addrs;
		size_t naddrs = src->stack(src->arg, ix[k], &addrs);

		if (form == GO_TEXT_CONTENTION)
			fprintf(f, "%" PRId64 " %" PRId64 " @", v[1], v[0]);
		else if (form == GO_TEXT_HEAP)
			fprintf(f, "%" PRId64 ": %" PRId64 " [%" PRId64 ": %" PRId64 "] @",
				v[2], v[3], v[0], v[1]);
		else
			fprintf(f, "%" PRId64 " @", v[key]);
		for (size_t i = 0; i < naddrs; i++)
			fprintf(f, " 0x%" PRIx64, addrs[i]);
		fputc('\n', f);
		if (src->labels)
			go_text_labels(f, src, ix[k]);
		for (size_t i = 0; i < naddrs; i++) {
			struct go_text_line ln[GO_TEXT_MAX_LINES];
			size_t nl = src->lines(src->arg, i, ln, GO_TEXT_MAX_LINES);

			for (size_t j = 0; j < nl; j++) {
				fprintf(f, "#\t0x%" PRIx64 "\t%s", addrs[i], ln[j].name);
				if (ln[j].has_offset)
					fprintf(f, "+0x%" PRIx64, ln[j].offset);
				if (ln[j].file && ln[j].file[0])
					fprintf(f, "\t%s:%" PRId64, ln[j].file, ln[j].line);
				fputc('\n', f);
			}
		}
		fputc('\n', f);
	}
	free(ix);
	return ferror(f) ? -1 : 0;
}

/* A recording's builder as go_text's source. */
struct legacy_src {
	const struct profile_builder *b;
	struct symbolizer *s;
	pb_label_fn labels;
	bool heap;
	const uint64_t *pcs;	/* the stack just given, tail calls put back */
	uint64_t *addrs;
	size_t naddrs_alloc;
	uint32_t epoch;
	char raw[32];		/* "0x..." for a pc without a symbol */
};

static const int64_t *legacy_values(void *arg, size_t st)
{
	const struct legacy_src *l = arg;

	return l->b->entries[st].values;
}

static bool legacy_shown(void *arg, size_t st, size_t key)
{
	const struct legacy_src *l = arg;
	const struct pb_entry *e = &l->b->entries[st];

	return e->values[key] || (l->heap && e->values[0]);
}

static size_t legacy_stack(void *arg, size_t st, const uint64_t **addrs)
{
	struct legacy_src *l = arg;
	const struct pb_entry *e = &l->b->entries[st];
	size_t n;

	l->pcs = symbolizer_tailcalls(l->s, e->epoch, pb_pcs(l->b, e), e->npcs, &n);
	l->epoch = e->epoch;
	GROW(l->addrs, l->naddrs_alloc, n + 1);
	for (size_t i = 0; i < n; i++)
		l->addrs[i] = pc_is_pseudo(l->pcs[i]) ? 0 :
			      l->pcs[i] & ~(PC_PHYSICAL | PC_TAILCALL);
	*addrs = l->addrs;
	return n;
}

static size_t legacy_lines(void *arg, size_t k, struct go_text_line *out, size_t max)
{
	struct legacy_src *l = arg;
	uint64_t pc = l->pcs[k];
	struct symloc sl;
	size_t n = 0;

	if (pc_is_pseudo(pc)) {
		out[0] = (struct go_text_line){ .name = pc_pseudo_name(pc) };
		return 1;
	}
	symbolizer_lookup(l->s, l->epoch, pc & ~PC_PHYSICAL, &sl);
	if (!sl.nframes) {
		snprintf(l->raw, sizeof(l->raw), "0x%" PRIx64, l->addrs[k]);
		out[0] = (struct go_text_line){ .name = l->raw };
		return 1;
	}
	for (size_t j = 0; j < sl.nframes && n < max; j++)
		out[n++] = (struct go_text_line){
			.name = sl.frames[j].name, .has_offset = true, .offset = sl.offset,
			.file = sl.frames[j].file, .line = sl.frames[j].line,
		};
	return n;
}

static size_t legacy_labels(void *arg, size_t st, const char *kv[PB_MAX_LABELS][2])
{
	const struct legacy_src *l = arg;

	return l->labels(l->b->entries[st].label, kv);
}

int text_legacy(FILE *f, const struct profile_builder *b, struct symbolizer *s,
		const char *type, size_t count_value, bool contention, pb_label_fn labels)
{
	bool heap = b->nvalues == 4 && !contention;
	struct legacy_src l = { .b = b, .s = s, .labels = labels, .heap = heap };
	const struct go_text src = {
		.arg = &l, .nstacks = b->nentries, .values = legacy_values,
		.shown = legacy_shown, .stack = legacy_stack, .lines = legacy_lines,
		.labels = labels ? legacy_labels : NULL,
	};
	int ret = go_text(f, &src, contention ? GO_TEXT_CONTENTION : heap ? GO_TEXT_HEAP :
			  GO_TEXT_COUNT, contention ? 1 : heap ? 0 : count_value, type);

	free(l.addrs);
	return ret;
}

/* A profile read (profiles/report.h) as go_text's source. */
struct text_src {
	const struct report *r;
	bool contention;
	uint64_t *addrs;
	const struct prof_stack *stack;	/* the stack just given */
};

static const int64_t *pd_text_values(void *arg, size_t st)
{
	const struct text_src *t = arg;
	const struct profile_data *p = t->r->p;

	return &p->values[st * p->nvalues];
}

/* the stacks --focus/--ignore kept; contention: any with a delay */
static bool pd_text_shown(void *arg, size_t st, size_t key)
{
	const struct text_src *t = arg;

	return t->r->kept[st] || (t->contention && pd_text_values(arg, st)[1]);
}

static size_t pd_text_stack(void *arg, size_t st, const uint64_t **addrs)
{
	struct text_src *t = arg;
	const struct profile_data *p = t->r->p;
	const struct prof_stack *s = &p->stacks[st];

	for (uint32_t i = 0; i < s->n; i++)
		t->addrs[i] = p->locations[p->locs[s->off + i]].address;
	t->stack = s;
	*addrs = t->addrs;
	return s->n;
}

static size_t pd_text_lines(void *arg, size_t k, struct go_text_line *out, size_t max)
{
	const struct text_src *t = arg;
	const struct profile_data *p = t->r->p;
	uint32_t li = p->locs[t->stack->off + k];
	const struct prof_location *loc = &p->locations[li];
	size_t n = 0;

	/* a location without lines: its node's name (an address, a module) */
	if (!loc->nlines) {
		out[0] = (struct go_text_line){ .name = t->r->nodes[t->r->loc_node[li]].name };
		return 1;
	}
	for (uint32_t j = 0; j < loc->nlines && n < max; j++) {
		const struct prof_line *ln = &p->lines[loc->lines + j];
		const struct prof_function *fn = &p->functions[ln->fn];

		out[n++] = (struct go_text_line){
			.name = t->r->nodes[t->r->fn_node[ln->fn]].name,
			.file = profile_str(p, fn->filename),
			.line = ln->line,
		};
	}
	return n;
}

int report_text(FILE *f, const struct report *r)
{
	const struct profile_data *p = r->p;
	size_t longest = 0;
	/* Go's contention profiles: contentions/count then delay/nanoseconds */
	struct text_src t = {
		.r = r,
		.contention = p->ntypes == 2 &&
			go_contention_types(profile_str(p, p->types[0][0]),
					    profile_str(p, p->types[1][0])),
	};
	const struct go_text src = {
		.arg = &t, .nstacks = p->nstacks, .values = pd_text_values,
		.shown = pd_text_shown, .stack = pd_text_stack, .lines = pd_text_lines,
	};
	const char *type = *profile_str(p, p->period_type[0]) ?
		profile_str(p, p->period_type[0]) : r->type;
	int ret;

	for (size_t st = 0; st < p->nstacks; st++)
		if (p->stacks[st].n > longest)
			longest = p->stacks[st].n;
	t.addrs = xcalloc(longest + 1, sizeof(*t.addrs));
	ret = go_text(f, &src, t.contention ? GO_TEXT_CONTENTION : GO_TEXT_COUNT,
		      t.contention ? 1 : (size_t)r->si, type);
	free(t.addrs);
	return ret;
}

/* a stack's values: "[2 samples, 0.020s]", "[5 acquired, 3 live]" */
static void dump_values(FILE *f, const struct profile_builder *b, const struct pb_entry *e,
			const char *const (*types)[2])
{
	for (size_t v = 0; v < b->nvalues; v++) {
		fputs(v ? ", " : "[", f);
		if (!strcmp(types[v][1], "nanoseconds"))
			fprintf(f, "%.3fs", e->values[v] / 1e9);
		else
			fprintf(f, "%" PRId64 " %s", e->values[v], types[v][0]);
	}
	fputs("]:\n", f);
}

int text_dump(FILE *f, const struct profile_builder *b, struct symbolizer *s,
	      const char *type, const char *const (*types)[2])
{
	size_t *ix = sorted_entries(b, b->nvalues > 1 ? 1 : 0);

	fprintf(f, "%s profile: %zu stacks\n", type, b->nentries);
	for (size_t k = 0; k < b->nentries; k++) {
		const struct pb_entry *e = &b->entries[ix[k]];

		if (!e->values[0] && (b->nvalues < 2 || !e->values[1]))
			continue;
		if (e->tid)
			fprintf(f, "\nthread %d \"%s\" ", e->tid, pb_thread_name_of(b, e->tid));
		else
			fputc('\n', f);
		dump_values(f, b, e, types);
		text_stack(f, s, e->epoch, pb_pcs(b, e), e->npcs);
	}
	free(ix);
	return ferror(f) ? -1 : 0;
}

void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}
