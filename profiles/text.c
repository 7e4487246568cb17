/*
 * profiles/text.c - text formats for people and for Go's legacy tooling.
 */
#define _GNU_SOURCE
#include "text.h"
#include "builder.h"
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

/*
 * Go's heap header: inuse objects: bytes [allocated objects: bytes].
 * "heap_v2/1": the values are already scaled estimates, so pprof must not
 * scale them again by a sampling rate.
 */
static void heap_header(FILE *f, const struct profile_builder *b)
{
	int64_t t[4] = { 0 };

	for (size_t i = 0; i < b->nentries; i++)
		for (size_t v = 0; v < 4; v++)
			t[v] += b->entries[i].values[v];
	fprintf(f, "heap profile: %" PRId64 ": %" PRId64 " [%" PRId64 ": %" PRId64 "] @ heap_v2/1\n",
		t[2], t[3], t[0], t[1]);
}

bool go_contention_types(const char *type0, const char *type1)
{
	return !strcmp(type0, "contentions") && !strcmp(type1, "delay");
}

int text_legacy(FILE *f, const struct profile_builder *b, struct symbolizer *s,
		const char *type, size_t count_value, bool contention, pb_label_fn labels)
{
	bool heap = b->nvalues == 4 && !contention;
	size_t key = contention ? 1 : heap ? 0 : count_value;
	size_t *ix = sorted_entries(b, key);
	int64_t total = 0;

	for (size_t i = 0; i < b->nentries; i++)
		total += b->entries[i].values[key];
	if (contention)
		fprintf(f, "--- contention:\ncycles/second=1000000000\n");
	else if (heap)
		heap_header(f, b);
	else
		fprintf(f, "%s profile: total %" PRId64 "\n", type, total);
	for (size_t k = 0; k < b->nentries; k++) {
		const struct pb_entry *e = &b->entries[ix[k]];
		const uint64_t *pcs;
		size_t npcs;

		if (!e->values[key] && !(heap && e->values[0]))
			continue;
		pcs = symbolizer_tailcalls(s, e->epoch, pb_pcs(b, e), e->npcs, &npcs);
		if (contention)
			fprintf(f, "%" PRId64 " %" PRId64 " @", e->values[1], e->values[0]);
		else if (heap)
			fprintf(f, "%" PRId64 ": %" PRId64 " [%" PRId64 ": %" PRId64 "] @",
				e->values[2], e->values[3], e->values[0], e->values[1]);
		else
			fprintf(f, "%" PRId64 " @", e->values[key]);
		for (size_t i = 0; i < npcs; i++)
			fprintf(f, " 0x%" PRIx64, (uint64_t)(pc_is_pseudo(pcs[i]) ? 0 :
				pcs[i] & ~(PC_PHYSICAL | PC_TAILCALL)));
		fputc('\n', f);
		if (labels) {
			const char *kv[PB_MAX_LABELS][2];
			size_t n = labels(e->label, kv);

			for (size_t j = 0; j < n; j++) {
				fputs(j ? ", " : "# labels: {", f);
				json_string(f, kv[j][0]);
				fputc(':', f);
				json_string(f, kv[j][1]);
			}
			if (n)
				fputs("}\n", f);
		}
		for (size_t i = 0; i < npcs; i++) {
			uint64_t addr = pcs[i] & ~PC_PHYSICAL;
			uint64_t shown = addr & ~PC_TAILCALL;
			struct symloc sl;

			if (pc_is_pseudo(pcs[i])) {
				fprintf(f, "#\t0x0\t%s\n", pc_pseudo_name(pcs[i]));
				continue;
			}
			symbolizer_lookup(s, e->epoch, addr, &sl);
			if (!sl.nframes)
				fprintf(f, "#\t0x%" PRIx64 "\t0x%" PRIx64 "\n", shown, shown);
			for (size_t j = 0; j < sl.nframes; j++) {
				fprintf(f, "#\t0x%" PRIx64 "\t%s+0x%" PRIx64, shown,
					sl.frames[j].name, sl.offset);
				if (sl.frames[j].file[0])
					fprintf(f, "\t%s:%d", sl.frames[j].file, sl.frames[j].line);
				fputc('\n', f);
			}
		}
		fputc('\n', f);
	}
	free(ix);
	return ferror(f) ? -1 : 0;
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
