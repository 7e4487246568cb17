/*
 * profiles/reader.c - a streaming pprof decoder: inflate in 64 KiB steps,
 * decode one top-level Profile field at a time, merge samples by stack.
 * Field numbers: profiles/profile.proto.
 */
#define _GNU_SOURCE
#include "reader.h"
#include "../lib/u64map.h"
#include "../lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK (64 * 1024)
/* No single top-level field (one sample, location, string) is this big. */
#define MAX_FIELD (256u << 20)
#define MAX_STACK 65536

enum wire { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct source {
	int fd;			/* or -1: mem */
	const unsigned char *mem;
	size_t memlen, mempos;
	bool gz, zinit, zend;
	z_stream z;
	unsigned char in[CHUNK], out[CHUNK];
	size_t opos, olen;
	uint64_t pos;		/* protobuf bytes consumed */
	struct profile_data *p;
};

static int fail(struct profile_data *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(struct profile_data *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err[0])
		return -1;	/* the first cause is the one to report */
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* Raw bytes from the file or buffer: >0, 0 at the end, -1 on error. */
static ssize_t raw_read(struct source *s, unsigned char *buf, size_t n)
{
	if (s->fd < 0) {
		size_t k = s->memlen - s->mempos < n ? s->memlen - s->mempos : n;

		memcpy(buf, s->mem + s->mempos, k);
		s->mempos += k;
		return (ssize_t)k;
	}
	for (;;) {
		ssize_t r = read(s->fd, buf, n);

		if (r >= 0)
			return r;
		if (errno != EINTR)
			return fail(s->p, "read: %s", strerror(errno));
	}
}

/* Refill s->out; 0 at the end of the data, -1 on error. */
static int refill(struct source *s)
{
	s->opos = s->olen = 0;
	if (!s->gz) {
		ssize_t r = raw_read(s, s->out, sizeof(s->out));

		if (r < 0)
			return -1;
		s->olen = (size_t)r;
		return 0;
	}
	while (!s->olen) {
		int zr;

		if (!s->z.avail_in) {
			ssize_t r = raw_read(s, s->in, sizeof(s->in));

			if (r < 0)
				return -1;
			if (!r) {
				if (!s->zend)
					return fail(s->p, "truncated gzip data after %" PRIu64
						    " bytes of profile", s->pos);
				return 0;
			}
			s->z.next_in = s->in;
			s->z.avail_in = (uInt)r;
		}
		if (s->zend) {
			/* another gzip member follows (concatenated files) */
			if (inflateReset(&s->z) != Z_OK)
				return fail(s->p, "inflateReset failed");
			s->zend = false;
		}
		s->z.next_out = s->out;
		s->z.avail_out = sizeof(s->out);
		zr = inflate(&s->z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			s->zend = true;
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return fail(s->p, "corrupt gzip data: %s",
				    s->z.msg ? s->z.msg : zError(zr));
		s->olen = sizeof(s->out) - s->z.avail_out;
		if (zr == Z_BUF_ERROR && !s->olen && s->z.avail_in)
			return fail(s->p, "corrupt gzip data");
	}
	return 0;
}

/* Copy n bytes of protobuf; returns how many (less only at the end). */
static ssize_t src_read(struct source *s, void *dst, size_t n)
{
	size_t done = 0;

	while (done < n) {
		size_t k;

		if (s->opos == s->olen) {
			if (refill(s) < 0)
				return -1;
			if (!s->olen)
				break;
		}
		k = s->olen - s->opos < n - done ? s->olen - s->opos : n - done;
		memcpy((char *)dst + done, s->out + s->opos, k);
		s->opos += k;
		done += k;
	}
	s->pos += done;
	return (ssize_t)done;
}

/* A varint from the stream: 1 read, 0 clean end (only if eof_ok), -1. */
static int src_varint(struct source *s, uint64_t *v, bool eof_ok)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		unsigned char c;
		ssize_t r = src_read(s, &c, 1);

		if (r < 0)
			return -1;
		if (!r) {
			if (eof_ok && !shift)
				return 0;
			return fail(s->p, "truncated protobuf at byte %" PRIu64, s->pos);
		}
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return 1;
	}
	return fail(s->p, "bad varint at byte %" PRIu64 ": not a profile", s->pos);
}

/* --- decoding a field already in memory ------------------------------- */

struct buf {
	const unsigned char *p, *end;
};

static bool get_varint(struct buf *b, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && b->p < b->end; shift += 7) {
		unsigned char c = *b->p++;

		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return true;
	}
	return false;
}

struct field {
	uint32_t num;
	enum wire wt;
	uint64_t v;		/* varint or fixed */
	struct buf data;	/* WT_LEN */
};

/* Next field of a message: 1, 0 at its end, -1 malformed. */
static int next_field(struct buf *b, struct field *f)
{
	uint64_t key, len;

	if (b->p == b->end)
		return 0;
	if (!get_varint(b, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
		return -1;
	f->num = (uint32_t)(key >> 3);
	f->wt = key & 7;
	switch (f->wt) {
	case WT_VARINT:
		return get_varint(b, &f->v) ? 1 : -1;
	case WT_I64:
	case WT_I32: {
		size_t n = f->wt == WT_I64 ? 8 : 4;

		if ((size_t)(b->end - b->p) < n)
			return -1;
		f->v = 0;
		memcpy(&f->v, b->p, n);
		b->p += n;
		return 1;
	}
	case WT_LEN:
		if (!get_varint(b, &len) || len > (uint64_t)(b->end - b->p))
			return -1;
		f->data.p = b->p;
		f->data.end = b->p + len;
		b->p += len;
		return 1;
	default:
		return -1;	/* groups: not in this format */
	}
}

/* A repeated integer field, packed or not: calls add for each value. */
static int repeated_ints(const struct field *f, void (*add)(void *, uint64_t), void *arg)
{
	struct buf b = f->data;
	uint64_t v;

	if (f->wt == WT_VARINT) {
		add(arg, f->v);
		return 0;
	}
	if (f->wt != WT_LEN)
		return -1;
	while (b.p < b.end) {
		if (!get_varint(&b, &v))
			return -1;
		add(arg, v);
	}
	return 0;
}

/* --- the Profile's parts ---------------------------------------------- */

struct ivec {
	uint64_t *v;
	size_t n, alloc;
	bool overflow;
};

static void ivec_add(void *arg, uint64_t x)
{
	struct ivec *iv = arg;

	if (iv->n == MAX_STACK) {
		iv->overflow = true;
		return;
	}
	GROW(iv->v, iv->alloc, iv->n + 1);
	iv->v[iv->n++] = x;
}

struct reader {
	struct profile_data *p;
	struct ivec ids, vals;
	struct u64map loc_ids, fn_ids, map_ids;
	int64_t *vsum;		/* scratch: values of one sample */
};

static int bad(struct reader *r, const char *what, uint64_t pos)
{
	return fail(r->p, "malformed %s ending at byte %" PRIu64 ": not a pprof profile",
		    what, pos);
}

static int read_value_type(struct buf b, int64_t out[2])
{
	struct field f;
	int k;

	out[0] = out[1] = 0;
	while ((k = next_field(&b, &f)) > 0) {
		if (f.wt != WT_VARINT)
			continue;
		if (f.num == 1)
			out[0] = (int64_t)f.v;
		else if (f.num == 2)
			out[1] = (int64_t)f.v;
	}
	return k;
}

static uint64_t stack_hash(size_t i, const void *arg)
{
	return ((const struct profile_data *)arg)->stacks[i].hash;
}

static int add_sample(struct reader *r, uint64_t pos)
{
	struct profile_data *p = r->p;
	const uint64_t *ids = r->ids.v;
	size_t n = r->ids.n, h;
	uint64_t hash = hash_bytes(HASH_INIT, ids, n * sizeof(*ids));

	if (r->ids.overflow)
		return fail(p, "sample ending at byte %" PRIu64 " has more than %d locations",
			    pos, MAX_STACK);
	if (!p->nsamples) {
		if (!r->vals.n || r->vals.n > 64)
			return fail(p, "sample ending at byte %" PRIu64 " has %zu values",
				    pos, r->vals.n);
		p->nvalues = r->vals.n;
	} else if (r->vals.n != p->nvalues) {
		return fail(p, "sample ending at byte %" PRIu64 " has %zu values, "
			    "earlier samples %zu", pos, r->vals.n, p->nvalues);
	}
	p->nsamples++;
	itable_reserve(&p->index, p->nstacks, 1024, stack_hash, p);
	for (h = itable_first(&p->index, hash); p->index.slot[h]; h = itable_next(&p->index, h)) {
		struct prof_stack *st = &p->stacks[p->index.slot[h] - 1];

		if (st->hash == hash && st->n == n &&
		    (!n || !memcmp(p->locs + st->off, ids, n * sizeof(*ids))))
			break;
	}
	if (!p->index.slot[h]) {
		if (n > UINT32_MAX)
			return fail(p, "stack too deep");
		GROW(p->stacks, p->stacks_alloc, p->nstacks + 1);
		GROW(p->locs, p->locs_alloc, p->nlocs + n + 1);
		GROW(p->values, p->values_alloc, (p->nstacks + 1) * p->nvalues);
		if (n)	/* a sample without locations: ids may be NULL */
			memcpy(p->locs + p->nlocs, ids, n * sizeof(*ids));
		memset(p->values + p->nstacks * p->nvalues, 0, p->nvalues * sizeof(*p->values));
		p->stacks[p->nstacks] = (struct prof_stack){ p->nlocs, (uint32_t)n, hash };
		p->nlocs += n;
		p->index.slot[h] = ++p->nstacks;
	}
	for (size_t i = 0; i < p->nvalues; i++) {
		int64_t *v = &p->values[(p->index.slot[h] - 1) * p->nvalues + i];

		*v = (int64_t)((uint64_t)*v + r->vals.v[i]);	/* wraps, never UB */
	}
	return 0;
}

static int read_sample(struct reader *r, struct buf b, uint64_t pos)
{
	struct field f;
	int k;

	r->ids.n = r->vals.n = 0;
	r->ids.overflow = r->vals.overflow = false;
	while ((k = next_field(&b, &f)) > 0) {
		if (f.num == 1 && repeated_ints(&f, ivec_add, &r->ids) < 0)
			return bad(r, "sample location ids", pos);
		if (f.num == 2 && repeated_ints(&f, ivec_add, &r->vals) < 0)
			return bad(r, "sample values", pos);
		/* 3: labels, merged away */
	}
	if (k < 0)
		return bad(r, "sample", pos);
	return add_sample(r, pos);
}

static int put_id(struct reader *r, struct u64map *m, const char *what, uint64_t id,
		  size_t index, uint64_t pos)
{
	bool added;

	if (!id)
		return fail(r->p, "%s ending at byte %" PRIu64 " has id 0", what, pos);
	u64map_put(m, id, 0, index, &added);
	if (!added)
		return fail(r->p, "%s id %" PRIu64 " appears twice", what, id);
	return 0;
}

static int read_location(struct reader *r, struct buf b, uint64_t pos)
{
	struct profile_data *p = r->p;
	struct prof_location loc = { .mapping = UINT32_MAX, .lines = (uint32_t)p->nlines };
	struct field f;
	int k;

	if (p->nlines > UINT32_MAX - MAX_STACK || p->nlocations >= UINT32_MAX)
		return fail(p, "too many locations");
	while ((k = next_field(&b, &f)) > 0) {
		if (f.num == 4 && f.wt == WT_LEN) {
			struct buf lb = f.data;
			struct field lf;
			int64_t fn = 0, line = 0;
			int lk;

			while ((lk = next_field(&lb, &lf)) > 0) {
				if (lf.wt != WT_VARINT)
					continue;
				if (lf.num == 1)
					fn = (int64_t)lf.v;
				else if (lf.num == 2)
					line = (int64_t)lf.v;
			}
			if (lk < 0 || loc.nlines == MAX_STACK)
				return bad(r, "location line", pos);
			GROW(p->lines, p->lines_alloc, p->nlines + 1);
			if ((uint64_t)fn > UINT32_MAX)
				return fail(p, "location ending at byte %" PRIu64
					    " names function id %" PRIu64 ", which is not in the profile",
					    pos, (uint64_t)fn);
			/* a function id for now; an index after finish() */
			p->lines[p->nlines++] = (struct prof_line){ (uint32_t)fn, line };
			loc.nlines++;
			continue;
		}
		if (f.wt != WT_VARINT)
			continue;
		if (f.num == 1)
			loc.id = f.v;
		else if (f.num == 2)
			loc.mapping_id = f.v;
		else if (f.num == 3)
			loc.address = f.v;
	}
	if (k < 0)
		return bad(r, "location", pos);
	if (put_id(r, &r->loc_ids, "location", loc.id, p->nlocations, pos) < 0)
		return -1;
	GROW(p->locations, p->locations_alloc, p->nlocations + 1);
	p->locations[p->nlocations++] = loc;
	return 0;
}

static int read_function(struct reader *r, struct buf b, uint64_t pos)
{
	struct profile_data *p = r->p;
	struct prof_function fn = { 0 };
	struct field f;
	int k;

	while ((k = next_field(&b, &f)) > 0) {
		if (f.wt != WT_VARINT)
			continue;
		switch (f.num) {
		case 1: fn.id = f.v; break;
		case 2: fn.name = (int64_t)f.v; break;
		case 3: fn.system_name = (int64_t)f.v; break;
		case 4: fn.filename = (int64_t)f.v; break;
		case 5: fn.start_line = (int64_t)f.v; break;
		}
	}
	if (k < 0)
		return bad(r, "function", pos);
	if (p->nfunctions >= UINT32_MAX)
		return fail(p, "too many functions");
	if (put_id(r, &r->fn_ids, "function", fn.id, p->nfunctions, pos) < 0)
		return -1;
	GROW(p->functions, p->functions_alloc, p->nfunctions + 1);
	p->functions[p->nfunctions++] = fn;
	return 0;
}

static int read_mapping(struct reader *r, struct buf b, uint64_t pos)
{
	struct profile_data *p = r->p;
	struct prof_mapping m = { 0 };
	struct field f;
	int k;

	while ((k = next_field(&b, &f)) > 0) {
		if (f.wt != WT_VARINT)
			continue;
		switch (f.num) {
		case 1: m.id = f.v; break;
		case 2: m.start = f.v; break;
		case 3: m.limit = f.v; break;
		case 4: m.offset = f.v; break;
		case 5: m.filename = (int64_t)f.v; break;
		case 6: m.build_id = (int64_t)f.v; break;
		}
	}
	if (k < 0)
		return bad(r, "mapping", pos);
	if (p->nmappings >= UINT32_MAX)
		return fail(p, "too many mappings");
	if (put_id(r, &r->map_ids, "mapping", m.id, p->nmappings, pos) < 0)
		return -1;
	GROW(p->mappings, p->mappings_alloc, p->nmappings + 1);
	p->mappings[p->nmappings++] = m;
	return 0;
}

static void add_string(struct profile_data *p, const void *s, size_t n)
{
	GROW(p->strbuf, p->stralloc, p->strlen + n + 1);
	GROW(p->stroff, p->stroff_alloc, p->nstrings + 1);
	memcpy(p->strbuf + p->strlen, s, n);
	p->strbuf[p->strlen + n] = 0;
	/* an embedded NUL ends the name early; harmless for reports */
	p->stroff[p->nstrings++] = p->strlen;
	p->strlen += n + 1;
}

static void comment_add(void *arg, uint64_t v)
{
	struct profile_data *p = arg;

	if (p->ncomments < 4096) {
		GROW(p->comments, p->comments_alloc, p->ncomments + 1);
		p->comments[p->ncomments++] = (int64_t)v;
	}
}

/* One top-level field whose bytes are in b. */
static int top_field(struct reader *r, const struct field *f, uint64_t pos)
{
	struct profile_data *p = r->p;
	int64_t vt[2];

	switch (f->num) {
	case 1:
		if (f->wt != WT_LEN || read_value_type(f->data, vt) < 0)
			return bad(r, "sample type", pos);
		if (p->ntypes == 64)
			return fail(p, "more than 64 sample types");
		GROW(p->types, p->types_alloc, p->ntypes + 1);
		memcpy(p->types[p->ntypes++], vt, sizeof(vt));
		return 0;
	case 2:
		return f->wt == WT_LEN ? read_sample(r, f->data, pos) : bad(r, "sample", pos);
	case 3:
		return f->wt == WT_LEN ? read_mapping(r, f->data, pos) : bad(r, "mapping", pos);
	case 4:
		return f->wt == WT_LEN ? read_location(r, f->data, pos) : bad(r, "location", pos);
	case 5:
		return f->wt == WT_LEN ? read_function(r, f->data, pos) : bad(r, "function", pos);
	case 6:
		if (f->wt != WT_LEN)
			return bad(r, "string", pos);
		add_string(p, f->data.p, (size_t)(f->data.end - f->data.p));
		return 0;
	case 11:
		if (f->wt != WT_LEN || read_value_type(f->data, p->period_type) < 0)
			return bad(r, "period type", pos);
		return 0;
	case 13:
		return repeated_ints(f, comment_add, p) < 0 ? bad(r, "comment", pos) : 0;
	}
	if (f->wt != WT_VARINT)
		return 0;	/* unknown field: skipped, as protobuf says */
	switch (f->num) {
	case 7: p->drop_frames = (int64_t)f->v; break;
	case 8: p->keep_frames = (int64_t)f->v; break;
	case 9: p->time_nanos = (int64_t)f->v; break;
	case 10: p->duration_nanos = (int64_t)f->v; break;
	case 12: p->period = (int64_t)f->v; break;
	case 14: p->default_sample_type = (int64_t)f->v; break;
	}
	return 0;
}

static int check_str(struct profile_data *p, int64_t i, const char *what)
{
	if (i < 0 || (uint64_t)i >= p->nstrings)
		return fail(p, "%s is string %" PRId64 ", but the string table has %zu",
			    what, i, p->nstrings);
	return 0;
}

/* After the last field: resolve ids to indexes and check every reference. */
static int finish(struct reader *r)
{
	struct profile_data *p = r->p;
	uint64_t *ix;

	if (!p->nstrings)
		return fail(p, "no string table: not a pprof profile");
	if (p->strbuf[p->stroff[0]])
		return fail(p, "string_table[0] is not empty: not a pprof profile");
	if (!p->ntypes)
		return fail(p, "no sample types: not a pprof profile");
	for (size_t i = 0; i < p->ntypes; i++)
		if (check_str(p, p->types[i][0], "a sample type") < 0 ||
		    check_str(p, p->types[i][1], "a sample unit") < 0)
			return -1;
	if (p->nsamples && p->nvalues != p->ntypes)
		return fail(p, "samples have %zu values but there are %zu sample types",
			    p->nvalues, p->ntypes);
	p->nvalues = p->ntypes;
	if (check_str(p, p->period_type[0], "the period type") < 0 ||
	    check_str(p, p->period_type[1], "the period unit") < 0 ||
	    check_str(p, p->default_sample_type, "the default sample type") < 0 ||
	    check_str(p, p->drop_frames, "drop_frames") < 0 ||
	    check_str(p, p->keep_frames, "keep_frames") < 0)
		return -1;
	if (p->period < 0)
		return fail(p, "period is %" PRId64 ": it cannot be negative", p->period);
	if (!p->period && p->period_type[0])
		return fail(p, "period is 0 (period type %s): the profile is unusable",
			    profile_str(p, p->period_type[0]));
	for (size_t i = 0; i < p->ncomments; i++)
		if (check_str(p, p->comments[i], "a comment") < 0)
			return -1;
	for (size_t i = 0; i < p->nfunctions; i++) {
		const struct prof_function *fn = &p->functions[i];

		if (check_str(p, fn->name, "a function name") < 0 ||
		    check_str(p, fn->system_name, "a function system name") < 0 ||
		    check_str(p, fn->filename, "a function file name") < 0)
			return -1;
	}
	for (size_t i = 0; i < p->nmappings; i++)
		if (check_str(p, p->mappings[i].filename, "a mapping file name") < 0 ||
		    check_str(p, p->mappings[i].build_id, "a mapping build id") < 0)
			return -1;
	for (size_t i = 0; i < p->nlocations; i++) {
		struct prof_location *loc = &p->locations[i];

		if (loc->mapping_id) {
			if (!(ix = u64map_find(&r->map_ids, loc->mapping_id, 0)))
				return fail(p, "location %" PRIu64 " names mapping id %" PRIu64
					    ", which is not in the profile", loc->id, loc->mapping_id);
			loc->mapping = (uint32_t)*ix;
		}
		for (uint32_t j = 0; j < loc->nlines; j++) {
			struct prof_line *ln = &p->lines[loc->lines + j];

			if (!(ix = u64map_find(&r->fn_ids, ln->fn, 0)))
				return fail(p, "location %" PRIu64 " names function id %" PRIu32
					    ", which is not in the profile", loc->id, ln->fn);
			ln->fn = (uint32_t)*ix;
		}
	}
	for (size_t i = 0; i < p->nlocs; i++) {
		if (!(ix = u64map_find(&r->loc_ids, p->locs[i], 0)))
			return fail(p, "a sample names location id %" PRIu64
				    ", which is not in the profile", p->locs[i]);
		p->locs[i] = *ix;
	}
	return 0;
}

static int read_all(struct profile_data *p, struct source *s)
{
	struct reader r = { .p = p };
	unsigned char *fbuf = NULL;
	size_t falloc = 0;
	int ret = -1;

	memset(p, 0, sizeof(*p));
	s->p = p;
	/* gzip (1f 8b) or a plain protobuf: look at the first bytes */
	if (s->fd >= 0) {
		ssize_t n = raw_read(s, s->in, sizeof(s->in));

		if (n < 0)
			goto out;
		s->z.next_in = s->in;
		s->z.avail_in = (uInt)n;
	} else {
		s->z.next_in = (unsigned char *)s->mem;
		s->z.avail_in = (uInt)(s->memlen < sizeof(s->in) ? s->memlen : sizeof(s->in));
		s->mempos = s->z.avail_in;
	}
	if (!s->z.avail_in) {
		fail(p, "empty file: not a pprof profile");
		goto out;
	}
	s->gz = s->z.avail_in >= 2 && s->z.next_in[0] == 0x1f && s->z.next_in[1] == 0x8b;
	if (s->gz) {
		if (inflateInit2(&s->z, 15 + 16) != Z_OK) {
			fail(p, "inflateInit2 failed");
			goto out;
		}
		s->zinit = true;
	} else {
		/* plain: what was read so far is protobuf */
		memcpy(s->out, s->z.next_in, s->z.avail_in);
		s->olen = s->z.avail_in;
		s->z.avail_in = 0;
	}
	for (;;) {
		uint64_t key, v, start = s->pos;
		struct field f = { 0 };
		int k = src_varint(s, &key, true);

		if (k <= 0) {
			if (k < 0)
				goto out;
			break;
		}
		if (key >> 3 == 0 || key >> 3 > UINT32_MAX) {
			fail(p, "bad field number at byte %" PRIu64 ": not a pprof profile", start);
			goto out;
		}
		f.num = (uint32_t)(key >> 3);
		f.wt = key & 7;
		switch (f.wt) {
		case WT_VARINT:
			if (src_varint(s, &f.v, false) < 0)
				goto out;
			break;
		case WT_I64:
		case WT_I32:
			if (src_read(s, &f.v, f.wt == WT_I64 ? 8 : 4) != (f.wt == WT_I64 ? 8 : 4)) {
				fail(p, "truncated protobuf at byte %" PRIu64, s->pos);
				goto out;
			}
			break;
		case WT_LEN:
			if (src_varint(s, &v, false) < 0)
				goto out;
			if (v > MAX_FIELD) {
				fail(p, "field %" PRIu32 " at byte %" PRIu64 " claims %" PRIu64
				     " bytes: not a pprof profile", f.num, start, v);
				goto out;
			}
			/* grow as the bytes arrive: a lying length meets the end */
			for (size_t got = 0; got < v;) {
				size_t want = v - got < CHUNK ? v - got : CHUNK;
				ssize_t n;

				GROW(fbuf, falloc, got + want);
				n = src_read(s, fbuf + got, want);
				if (n < 0)
					goto out;
				if ((size_t)n < want) {
					fail(p, "truncated protobuf: field %" PRIu32 " at byte %" PRIu64
					     " needs %" PRIu64 " bytes, the file ends after %zu",
					     f.num, start, v, got + (size_t)n);
					goto out;
				}
				got += want;
			}
			/* an empty field: a valid pointer, not fbuf's NULL */
			f.data.p = v ? fbuf : (const unsigned char *)"";
			f.data.end = f.data.p + v;
			break;
		default:
			fail(p, "wire type %d at byte %" PRIu64 ": not a pprof profile",
			     (int)f.wt, start);
			goto out;
		}
		if (top_field(&r, &f, s->pos) < 0)
			goto out;
	}
	p->bytes = s->pos;
	ret = finish(&r);
out:
	if (ret < 0 && !p->err[0])
		fail(p, "cannot read the profile");
	if (s->zinit)
		inflateEnd(&s->z);
	free(fbuf);
	free(r.ids.v);
	free(r.vals.v);
	u64map_release(&r.loc_ids);
	u64map_release(&r.fn_ids);
	u64map_release(&r.map_ids);
	itable_release(&p->index);	/* only needed while reading */
	return ret;
}

int profile_read_fd(struct profile_data *p, int fd)
{
	struct source *s = xcalloc(1, sizeof(*s));
	int ret;

	s->fd = fd;
	ret = read_all(p, s);
	free(s);
	return ret;
}

int profile_read_mem(struct profile_data *p, const void *buf, size_t len)
{
	struct source *s = xcalloc(1, sizeof(*s));
	int ret;

	s->fd = -1;
	s->mem = buf;
	s->memlen = len;
	ret = read_all(p, s);
	free(s);
	return ret;
}

int profile_read_file(struct profile_data *p, const char *path)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	int ret;

	if (fd < 0) {
		memset(p, 0, sizeof(*p));
		return fail(p, "open: %s", strerror(errno));
	}
	ret = profile_read_fd(p, fd);
	if (fd)
		close(fd);
	return ret;
}

void profile_data_release(struct profile_data *p)
{
	free(p->types);
	free(p->comments);
	free(p->strbuf);
	free(p->stroff);
	free(p->functions);
	free(p->locations);
	free(p->lines);
	free(p->mappings);
	free(p->stacks);
	free(p->locs);
	free(p->values);
	itable_release(&p->index);
	memset(p, 0, sizeof(*p));
}

int profile_sample_index(const struct profile_data *p, const char *want)
{
	long n;

	if (!want) {
		if (p->default_sample_type)
			for (size_t i = 0; i < p->ntypes; i++)
				if (!strcmp(profile_str(p, p->types[i][0]),
					    profile_str(p, p->default_sample_type)))
					return (int)i;
		return (int)p->ntypes - 1;
	}
	for (size_t i = 0; i < p->ntypes; i++)
		if (!strcmp(profile_str(p, p->types[i][0]), want))
			return (int)i;
	if (!parse_long(want, 0, (long)p->ntypes - 1, &n))
		return (int)n;
	return -1;
}
