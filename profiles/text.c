/*
 * profiles/text.c - text formats for people and for Go's legacy tooling.
 */
#define _GNU_SOURCE
#include "text.h"
#include "builder.h"
#include "../attach/unwind.h"
#include "../lib/util.h"
#include "../symbolize/maps.h"
#include "../symbolize/symbolize.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *pseudo_name(uint64_t pc)
{
	return pc == PC_TRUNCATED ? "[truncated]" : "[unknown]";
}

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
		const uint64_t *pcs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t addr = pcs[i] & ~PC_PHYSICAL;
		struct symloc sl;

		if (pc_is_pseudo(pcs[i])) {
			fprintf(f, "%s\n", pseudo_name(pcs[i]));
			continue;
		}
		symbolizer_lookup(s, epoch, addr, &sl);
		if (!sl.nframes) {
			print_raw(f, &sl, addr);
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

static int cmp_count(const void *a, const void *b, void *arg)
{
	const struct profile_builder *pb = arg;
	const struct pb_entry *x = &pb->entries[*(const size_t *)a];
	const struct pb_entry *y = &pb->entries[*(const size_t *)b];

	if (x->values[0] != y->values[0])
		return x->values[0] < y->values[0] ? 1 : -1;
	return x < y ? -1 : x > y;	/* stable: insertion order */
}

static size_t *sorted_entries(const struct profile_builder *b)
{
	size_t *ix = xcalloc(b->nentries, sizeof(*ix));

	for (size_t i = 0; i < b->nentries; i++)
		ix[i] = i;
	qsort_r(ix, b->nentries, sizeof(*ix), cmp_count, (void *)b);
	return ix;
}

int text_legacy(FILE *f, const struct profile_builder *b, struct symbolizer *s,
		const char *type, const char *label_key,
		const char *const *label_values)
{
	size_t *ix = sorted_entries(b);
	int64_t total = 0;

	for (size_t i = 0; i < b->nentries; i++)
		total += b->entries[i].values[0];
	fprintf(f, "%s profile: total %" PRId64 "\n", type, total);
	for (size_t k = 0; k < b->nentries; k++) {
		const struct pb_entry *e = &b->entries[ix[k]];
		const uint64_t *pcs = pb_pcs(b, e);

		if (!e->values[0])
			continue;
		fprintf(f, "%" PRId64 " @", e->values[0]);
		for (size_t i = 0; i < e->npcs; i++)
			fprintf(f, " 0x%" PRIx64, (uint64_t)(pc_is_pseudo(pcs[i]) ? 0 : pcs[i] & ~PC_PHYSICAL));
		fputc('\n', f);
		if (label_key && label_values[e->label])
			fprintf(f, "# labels: {\"%s\":\"%s\"}\n", label_key,
				label_values[e->label]);
		for (size_t i = 0; i < e->npcs; i++) {
			uint64_t addr = pcs[i] & ~PC_PHYSICAL;
			struct symloc sl;

			if (pc_is_pseudo(pcs[i])) {
				fprintf(f, "#\t0x0\t%s\n", pseudo_name(pcs[i]));
				continue;
			}
			symbolizer_lookup(s, e->epoch, addr, &sl);
			if (!sl.nframes)
				fprintf(f, "#\t0x%" PRIx64 "\t0x%" PRIx64 "\n", addr, addr);
			for (size_t j = 0; j < sl.nframes; j++) {
				fprintf(f, "#\t0x%" PRIx64 "\t%s+0x%" PRIx64, addr,
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

int text_dump(FILE *f, const struct profile_builder *b, struct symbolizer *s,
	      const char *type, const char *unit_note)
{
	size_t *ix = sorted_entries(b);

	fprintf(f, "%s profile: %zu stacks%s\n", type, b->nentries, unit_note);
	for (size_t k = 0; k < b->nentries; k++) {
		const struct pb_entry *e = &b->entries[ix[k]];

		if (!e->values[0] && (b->nvalues < 2 || !e->values[1]))
			continue;
		fprintf(f, "\nthread %d \"%s\" [%" PRId64 " samples", e->tid,
			pb_thread_name_of(b, e->tid), e->values[0]);
		if (b->nvalues > 1)
			fprintf(f, ", %.3fs", e->values[1] / 1e9);
		fprintf(f, "]:\n");
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
