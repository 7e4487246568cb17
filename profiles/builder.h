/*
 * profiles/builder.h - collect samples as they arrive, deduplicated by
 * (thread, epoch, stack), like Go's profMap: a hash of the pc array points
 * at one entry whose values are summed.
 *
 * The builder owns copies of everything added.  It knows nothing of
 * symbols; profiles/pprof.c turns it into a Profile at the end.
 */
#ifndef CPROF_BUILDER_H
#define CPROF_BUILDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../lib/itable.h"
#include "../lib/u64map.h"

#define PB_MAX_VALUES 4

/*
 * What an entry's label value stands for: fills up to PB_MAX_LABELS
 * {key, value} string pairs and returns how many (e.g. thread_state and
 * syscall, packed into the value by the recorder).
 */
#define PB_MAX_LABELS 4
typedef size_t (*pb_label_fn)(uint32_t label, const char *kv[PB_MAX_LABELS][2]);

struct pb_entry {
	pid_t tid;		/* 0 when samples of many threads are merged */
	uint32_t label;		/* label values, see pb_label_fn */
	uint32_t epoch;
	uint32_t npcs;
	size_t pcs;		/* offset into builder->pcs */
	uint64_t hash;
	int64_t values[PB_MAX_VALUES];
};

struct pb_thread {
	pid_t tid;
	char name[32];
};

struct profile_builder {
	size_t nvalues;
	struct pb_entry *entries;
	size_t nentries, entries_alloc;
	uint64_t *pcs;
	size_t npcs, pcs_alloc;
	struct itable index;	/* entries by hash */
	struct pb_thread *threads;	/* names, for labels */
	size_t nthreads, threads_alloc;
	struct u64map thread_index;	/* tid -> threads[] */
};

void pb_init(struct profile_builder *b, size_t nvalues);
void pb_release(struct profile_builder *b);

/* Add values to the entry for this stack; returns the entry's index. */
size_t pb_add(struct profile_builder *b, pid_t tid, uint32_t epoch,
	      const uint64_t *pcs, size_t npcs, const int64_t *values);
size_t pb_add_labeled(struct profile_builder *b, pid_t tid, uint32_t label,
		      uint32_t epoch, const uint64_t *pcs, size_t npcs,
		      const int64_t *values);

/* Add values to an existing entry (e.g. leftover cpu time of a thread). */
void pb_add_to(struct profile_builder *b, size_t entry, const int64_t *values);

/* Record (or update) a thread's name. */
void pb_thread_name(struct profile_builder *b, pid_t tid, const char *name);
const char *pb_thread_name_of(const struct profile_builder *b, pid_t tid);

static inline const uint64_t *pb_pcs(const struct profile_builder *b,
				     const struct pb_entry *e)
{
	return b->pcs + e->pcs;
}

#endif
