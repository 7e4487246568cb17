/*
 * profiles/reader.h - read a pprof profile (gzip-compressed or plain
 * protobuf: written by cprof, Go's runtime/pprof, `go tool pprof -proto` or
 * any other valid writer) as a stream.
 *
 * The file is decoded one top-level field at a time through a fixed-size
 * inflate window, and samples are merged by stack on arrival, so memory
 * grows with the number of distinct stacks, locations and strings, never
 * with the number of samples or the size of the file.  Labels are read
 * and dropped (reports merge them).
 *
 * Everything is checked: a reference that points nowhere, a value count
 * that differs from the sample types, a negative period, an index past the
 * string table.  On failure profile_read*() return -1 and p->err says what
 * and where; the caller prints it.  p is then only fit for
 * profile_data_release().
 */
#ifndef CPROF_READER_H
#define CPROF_READER_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/itable.h"

struct prof_line {
	uint32_t fn;		/* index into functions[] */
	int64_t line;
};

struct prof_location {
	uint64_t id, mapping_id, address;
	uint32_t mapping;	/* index into mappings[], or UINT32_MAX */
	uint32_t lines, nlines;	/* lines[lines .. +nlines], innermost first */
};

struct prof_function {
	uint64_t id;
	int64_t name, system_name, filename, start_line;	/* strings */
};

struct prof_mapping {
	uint64_t id, start, limit, offset;
	int64_t filename, build_id;	/* strings */
};

/* One distinct stack: locs[off .. +n] (location indexes, leaf first). */
struct prof_stack {
	size_t off;
	uint32_t n;
	uint64_t hash;
};

struct profile_data {
	/* sample types, as string indexes; nvalues values per stack */
	int64_t (*types)[2];
	size_t ntypes, types_alloc;
	int64_t period_type[2], period;
	int64_t time_nanos, duration_nanos, default_sample_type;
	int64_t drop_frames, keep_frames;
	int64_t *comments;
	size_t ncomments, comments_alloc;

	char *strbuf;		/* the string table, NUL-separated */
	size_t strlen, stralloc;
	size_t *stroff;
	size_t nstrings, stroff_alloc;

	struct prof_function *functions;
	size_t nfunctions, functions_alloc;
	struct prof_location *locations;
	size_t nlocations, locations_alloc;
	struct prof_line *lines;
	size_t nlines, lines_alloc;
	struct prof_mapping *mappings;
	size_t nmappings, mappings_alloc;

	struct prof_stack *stacks;
	size_t nstacks, stacks_alloc;
	uint64_t *locs;		/* location ids while reading, then indexes */
	size_t nlocs, locs_alloc;
	int64_t *values;	/* nstacks * nvalues */
	size_t values_alloc, nvalues;
	struct itable index;	/* stacks by hash, while reading */

	uint64_t nsamples;	/* samples in the file, before merging */
	uint64_t bytes;		/* protobuf bytes read (after inflating) */
	char err[256];
};

int profile_read_file(struct profile_data *p, const char *path);
int profile_read_fd(struct profile_data *p, int fd);
int profile_read_mem(struct profile_data *p, const void *buf, size_t len);
void profile_data_release(struct profile_data *p);

/* String i of the table ("" for 0); i is valid after a successful read. */
static inline const char *profile_str(const struct profile_data *p, int64_t i)
{
	return p->strbuf + p->stroff[i];
}

/* Index of sample type name (or decimal index) want; -1 if none matches.
 * want NULL: the default (default_sample_type, else the last). */
int profile_sample_index(const struct profile_data *p, const char *want);

#endif
