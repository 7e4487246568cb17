/*
 * profiles/pprof.c - the Profile message, built like Go's profileBuilder:
 * string table with "" at 0, mappings, locations keyed by (epoch, address),
 * functions by (name, system name, file), IDs in insertion order.
 */
#include "pprof.h"
#include "builder.h"
#include "profile.pb-c.h"
#include "../lib/stack.h"
#include "../lib/u64map.h"
#include "../lib/util.h"
#include "../symbolize/maps.h"
#include "../symbolize/symbolize.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__ValueType ValueType;
typedef Perftools__Profiles__Sample Sample;
typedef Perftools__Profiles__Label Label;
typedef Perftools__Profiles__Mapping Mapping;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Line Line;
typedef Perftools__Profiles__Function Function;

struct mapinfo {
	bool all_functions, all_files, all_lines, any_inline;
};

struct pbuild {
	Profile p;
	struct u64map strmap, locmap, funcmap, mapmap;
	size_t str_alloc, loc_alloc, func_alloc, map_alloc;
	struct mapinfo *mapinfo;
};

static int64_t str(struct pbuild *pb, const char *s)
{
	uint64_t h1 = hash_bytes(HASH_INIT, s, strlen(s));
	uint64_t h2 = hash_bytes(0x9e3779b97f4a7c15ULL, s, strlen(s));
	bool added;
	uint64_t *v = u64map_put(&pb->strmap, h1, h2, pb->p.n_string_table, &added);

	if (added) {
		GROW(pb->p.string_table, pb->str_alloc, pb->p.n_string_table + 1);
		pb->p.string_table[pb->p.n_string_table++] = xstrdup(s);
	}
	return (int64_t)*v;
}

static ValueType *value_type(struct pbuild *pb, const char *type, const char *unit)
{
	ValueType *vt = xmalloc(sizeof(*vt));

	perftools__profiles__value_type__init(vt);
	vt->type = str(pb, type);
	vt->unit = str(pb, unit);
	return vt;
}

static uint64_t mapping_id(struct pbuild *pb, uint32_t epoch, const struct mapping *m)
{
	bool added;
	uint64_t *v = u64map_put(&pb->mapmap, epoch, m->start, pb->p.n_mapping + 1, &added);
	Mapping *mp;

	if (!added)
		return *v;
	GROW(pb->p.mapping, pb->map_alloc, pb->p.n_mapping + 1);
	pb->mapinfo = xrealloc(pb->mapinfo, pb->map_alloc * sizeof(*pb->mapinfo));
	pb->mapinfo[pb->p.n_mapping] = (struct mapinfo){ true, true, true, false };
	mp = pb->p.mapping[pb->p.n_mapping++] = xmalloc(sizeof(*mp));
	perftools__profiles__mapping__init(mp);
	mp->id = *v;
	mp->memory_start = m->start;
	mp->memory_limit = m->end;
	mp->file_offset = m->offset;
	/* code a JIT wrote: the perf map its names come from */
	mp->filename = str(pb, m->mod ? m->mod->path : m->jit_file ? m->jit_file : m->name);
	mp->build_id = str(pb, m->mod ? m->mod->build_id : "");
	return *v;
}

static uint64_t function_id(struct pbuild *pb, const struct symframe *f)
{
	uint64_t b = hash_bytes(HASH_INIT, &f->system_name, sizeof(f->system_name));
	bool added;
	uint64_t *v;
	Function *fn;

	b = hash_bytes(b, &f->file, sizeof(f->file));
	v = u64map_put(&pb->funcmap, (uintptr_t)f->name, b, pb->p.n_function + 1, &added);
	if (!added)
		return *v;
	GROW(pb->p.function, pb->func_alloc, pb->p.n_function + 1);
	fn = pb->p.function[pb->p.n_function++] = xmalloc(sizeof(*fn));
	perftools__profiles__function__init(fn);
	fn->id = *v;
	fn->name = str(pb, f->name);
	fn->system_name = str(pb, f->system_name);
	fn->filename = str(pb, f->file);
	return *v;
}

static Line *line(uint64_t function, int64_t lineno)
{
	Line *l = xmalloc(sizeof(*l));

	perftools__profiles__line__init(l);
	l->function_id = function;
	l->line = lineno;
	return l;
}

static uint64_t location_id(struct pbuild *pb, struct symbolizer *s,
			    uint32_t epoch, uint64_t addr)
{
	bool added;
	uint64_t *v = u64map_put(&pb->locmap, epoch, addr, pb->p.n_location + 1, &added);
	struct symloc sl;
	Location *loc;

	if (!added)
		return *v;
	GROW(pb->p.location, pb->loc_alloc, pb->p.n_location + 1);
	loc = pb->p.location[pb->p.n_location++] = xmalloc(sizeof(*loc));
	perftools__profiles__location__init(loc);
	loc->id = *v;
	if (pc_is_pseudo(addr)) {
		struct symframe f = {
			.name = pc_pseudo_name(addr),
			.file = "",
		};

		f.system_name = f.name;
		loc->n_line = 1;
		loc->line = xmalloc(sizeof(*loc->line));
		loc->line[0] = line(function_id(pb, &f), 0);
		return loc->id;
	}
	/*
	 * A tail-call frame (PC_TAILCALL) has a location of its own, at its
	 * jump's address: its function's name says what it is.
	 */
	loc->address = addr & ~(PC_PHYSICAL | PC_TAILCALL);
	symbolizer_lookup(s, epoch, addr & ~PC_PHYSICAL, &sl);
	if (addr & PC_PHYSICAL && sl.nframes > 1) {
		/* only the outermost (physical) function of this address */
		sl.frames[0] = sl.frames[sl.nframes - 1];
		sl.nframes = 1;
	}
	if (sl.map) {
		struct mapinfo *mi;

		loc->mapping_id = mapping_id(pb, epoch, sl.map);
		mi = &pb->mapinfo[loc->mapping_id - 1];
		mi->all_functions &= sl.nframes > 0;
		mi->all_files &= sl.nframes > 0 && sl.frames[0].file[0];
		mi->all_lines &= sl.nframes > 0 && sl.frames[0].line > 0;
		mi->any_inline |= sl.has_dwarf;
	}
	loc->n_line = sl.nframes;
	loc->line = xcalloc(sl.nframes, sizeof(*loc->line));
	for (size_t i = 0; i < sl.nframes; i++)
		loc->line[i] = line(function_id(pb, &sl.frames[i]), sl.frames[i].line);
	return loc->id;
}

static Label *label(struct pbuild *pb, const char *key, const char *s, int64_t num)
{
	Label *l = xmalloc(sizeof(*l));

	perftools__profiles__label__init(l);
	l->key = str(pb, key);
	if (s)
		l->str = str(pb, s);
	else
		l->num = num;
	return l;
}

static void free_profile(struct pbuild *pb)
{
	Profile *p = &pb->p;

	for (size_t i = 0; i < p->n_sample_type; i++)
		free(p->sample_type[i]);
	free(p->sample_type);
	free(p->period_type);
	for (size_t i = 0; i < p->n_sample; i++) {
		for (size_t j = 0; j < p->sample[i]->n_label; j++)
			free(p->sample[i]->label[j]);
		free(p->sample[i]->label);
		free(p->sample[i]->location_id);
		free(p->sample[i]->value);
		free(p->sample[i]);
	}
	free(p->sample);
	for (size_t i = 0; i < p->n_mapping; i++)
		free(p->mapping[i]);
	free(p->mapping);
	for (size_t i = 0; i < p->n_location; i++) {
		for (size_t j = 0; j < p->location[i]->n_line; j++)
			free(p->location[i]->line[j]);
		free(p->location[i]->line);
		free(p->location[i]);
	}
	free(p->location);
	for (size_t i = 0; i < p->n_function; i++)
		free(p->function[i]);
	free(p->function);
	for (size_t i = 0; i < p->n_string_table; i++)
		free(p->string_table[i]);
	free(p->string_table);
	free(p->comment);
	free(pb->mapinfo);
	u64map_release(&pb->strmap);
	u64map_release(&pb->locmap);
	u64map_release(&pb->funcmap);
	u64map_release(&pb->mapmap);
}

int pprof_gzip(const void *buf, size_t len, unsigned char **out, size_t *outlen)
{
	z_stream zs = { 0 };
	size_t cap;

	/* windowBits 15 + 16: a gzip wrapper whose header has mtime 0 */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return error("deflateInit2 failed");
	cap = deflateBound(&zs, len) + 64;
	*out = xmalloc(cap);
	zs.next_in = (unsigned char *)buf;
	zs.avail_in = len;
	zs.next_out = *out;
	zs.avail_out = cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&zs);
		free(*out);
		*out = NULL;
		return error("deflate failed");
	}
	*outlen = zs.total_out;
	deflateEnd(&zs);
	return 0;
}

int pprof_encode(const struct profile_builder *b, struct symbolizer *s,
		 const struct pprof_meta *meta, unsigned char **out, size_t *len)
{
	struct pbuild pb = { 0 };
	Profile *p = &pb.p;
	unsigned char *raw;
	size_t rawlen;
	int ret;

	perftools__profiles__profile__init(p);
	str(&pb, "");
	p->n_sample_type = meta->ntypes;
	p->sample_type = xcalloc(meta->ntypes, sizeof(*p->sample_type));
	for (size_t i = 0; i < meta->ntypes; i++)
		p->sample_type[i] = value_type(&pb, meta->sample_types[i][0],
					       meta->sample_types[i][1]);
	if (meta->default_type)
		p->default_sample_type = str(&pb, meta->sample_types[meta->default_type - 1][0]);
	p->period_type = value_type(&pb, meta->period_type[0], meta->period_type[1]);
	p->period = meta->period;
	p->time_nanos = meta->time_nanos;
	p->duration_nanos = meta->duration_nanos;
	p->n_comment = meta->ncomments;
	p->comment = xcalloc(meta->ncomments, sizeof(*p->comment));
	for (size_t i = 0; i < meta->ncomments; i++)
		p->comment[i] = str(&pb, meta->comments[i]);

	/* pprof takes the first mapping for the main binary */
	for (uint32_t e = 0; e < symbolizer_epochs(s); e++) {
		const struct maps *m = symbolizer_maps(s, e);

		for (size_t i = 0; m->exe && i < m->n; i++) {
			if (m->v[i].mod && (m->v[i].prot & MAP_X) &&
			    !strcmp(m->v[i].mod->path, m->exe)) {
				mapping_id(&pb, e, &m->v[i]);
				break;
			}
		}
		if (pb.p.n_mapping)
			break;	/* the first process's; the others' as used */
	}
	p->sample = xcalloc(b->nentries, sizeof(*p->sample));
	for (size_t i = 0; i < b->nentries; i++) {
		const struct pb_entry *e = &b->entries[i];
		const uint64_t *pcs;
		size_t npcs;
		bool empty = true;
		Sample *sm;

		for (size_t v = 0; v < b->nvalues; v++)
			empty &= e->values[v] == 0;
		if (empty)
			continue;	/* e.g. a stop-bias entry nothing moved to */
		sm = p->sample[p->n_sample++] = xmalloc(sizeof(*sm));

		perftools__profiles__sample__init(sm);
		/* the stack with the frames tail calls removed put back */
		pcs = symbolizer_tailcalls(s, e->epoch, pb_pcs(b, e), e->npcs, &npcs);
		sm->n_location_id = npcs;
		sm->location_id = xcalloc(npcs, sizeof(*sm->location_id));
		for (size_t j = 0; j < npcs; j++)
			sm->location_id[j] = location_id(&pb, s, e->epoch, pcs[j]);
		sm->n_value = b->nvalues;
		sm->value = xcalloc(b->nvalues, sizeof(*sm->value));
		memcpy(sm->value, e->values, b->nvalues * sizeof(*sm->value));
		sm->label = xcalloc(4 + PB_MAX_LABELS, sizeof(*sm->label));
		/*
		 * The process: its epoch's (a process image), so that
		 * -tagfocus comm=NAME or -tagroot pid splits a tree.
		 */
		if (e->epoch < symbolizer_epochs(s)) {
			const struct maps *m = symbolizer_maps(s, e->epoch);

			if (m->pid) {
				sm->label[sm->n_label++] = label(&pb, "pid", NULL, m->pid);
				if (m->comm[0])
					sm->label[sm->n_label++] = label(&pb, "comm", m->comm, 0);
			}
		}
		if (e->tid) {
			sm->label[sm->n_label++] = label(&pb, "thread_id", NULL, e->tid);
			sm->label[sm->n_label++] = label(&pb, "thread_name",
							 pb_thread_name_of(b, e->tid), 0);
		}
		if (meta->num_label)
			sm->label[sm->n_label++] = label(&pb, meta->num_label, NULL, e->label);
		else if (meta->labels) {
			const char *kv[PB_MAX_LABELS][2];
			size_t n = meta->labels(e->label, kv);

			for (size_t k = 0; k < n; k++)
				sm->label[sm->n_label++] = label(&pb, kv[k][0], kv[k][1], 0);
		}
	}
	for (size_t i = 0; i < p->n_mapping; i++) {
		p->mapping[i]->has_functions = pb.mapinfo[i].all_functions;
		p->mapping[i]->has_filenames = pb.mapinfo[i].all_files;
		p->mapping[i]->has_line_numbers = pb.mapinfo[i].all_lines;
		p->mapping[i]->has_inline_frames = pb.mapinfo[i].any_inline;
	}
	rawlen = perftools__profiles__profile__get_packed_size(p);
	raw = xmalloc(rawlen);
	perftools__profiles__profile__pack(p, raw);
	ret = pprof_gzip(raw, rawlen, out, len);
	free(raw);
	free_profile(&pb);
	return ret;
}
