/*
 * profiles/pprof.h - encode a profile_builder as a gzip-compressed pprof
 * Profile message (profiles/profile.proto), symbolizing each unique
 * address once.
 *
 * Same builder, symbols and meta => byte-identical output: IDs are given in
 * order of first use, the string table starts with "", and the gzip header
 * carries no time stamp.  The caller owns *out (free()).
 */
#ifndef CPROF_PPROF_H
#define CPROF_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "builder.h"

struct profile_builder;
struct symbolizer;

struct pprof_meta {
	const char *sample_types[4][2];	/* {type, unit} per value */
	size_t ntypes;
	const char *period_type[2];
	int64_t period;
	int64_t time_nanos;
	int64_t duration_nanos;
	const char *comments[16];
	size_t ncomments;
	/*
	 * Labels: thread_id and thread_name for entries of one thread (tid
	 * not 0), then those labels(entry->label) gives.
	 */
	pb_label_fn labels;
	/* or: entry->label is the value of this numeric label ("bytes") */
	const char *num_label;
	size_t default_type;	/* 1 + index into sample_types, 0: none */
};

int pprof_encode(const struct profile_builder *b, struct symbolizer *s,
		 const struct pprof_meta *meta, unsigned char **out, size_t *len);

/* gzip-compress buf (exposed for tests); 0 or -1. */
int pprof_gzip(const void *buf, size_t len, unsigned char **out, size_t *outlen);

#endif
