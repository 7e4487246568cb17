/*
 * profiles/builder.c - the sample table: stacks deduplicated on arrival.
 */
#include "builder.h"
#include "../lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pb_init(struct profile_builder *b, size_t nvalues)
{
	if (nvalues > PB_MAX_VALUES)
		BUG("%zu values per sample", nvalues);
	*b = (struct profile_builder){ .nvalues = nvalues };
}

void pb_release(struct profile_builder *b)
{
	free(b->entries);
	free(b->pcs);
	itable_release(&b->index);
	free(b->threads);
	u64map_release(&b->thread_index);
	*b = (struct profile_builder){ 0 };
}

static uint64_t key_hash(pid_t tid, uint32_t label, uint32_t epoch,
			 const uint64_t *pcs, size_t n)
{
	uint64_t h = HASH_INIT;

	h = hash_bytes(h, &tid, sizeof(tid));
	h = hash_bytes(h, &label, sizeof(label));
	h = hash_bytes(h, &epoch, sizeof(epoch));
	return hash_bytes(h, pcs, n * sizeof(*pcs));
}

static uint64_t entry_hash(size_t i, const void *arg)
{
	return ((const struct profile_builder *)arg)->entries[i].hash;
}

size_t pb_add(struct profile_builder *b, pid_t tid, uint32_t epoch,
	      const uint64_t *pcs, size_t npcs, const int64_t *values)
{
	return pb_add_labeled(b, tid, 0, epoch, pcs, npcs, values);
}

size_t pb_add_labeled(struct profile_builder *b, pid_t tid, uint32_t label,
		      uint32_t epoch, const uint64_t *pcs, size_t npcs,
		      const int64_t *values)
{
	uint64_t h = key_hash(tid, label, epoch, pcs, npcs);
	struct pb_entry *e;
	size_t j;

	itable_reserve(&b->index, b->nentries, 1024, entry_hash, b);
	for (j = itable_first(&b->index, h); b->index.slot[j]; j = itable_next(&b->index, j)) {
		e = &b->entries[b->index.slot[j] - 1];
		if (e->hash == h && e->tid == tid && e->label == label && e->epoch == epoch &&
		    e->npcs == npcs && !memcmp(pb_pcs(b, e), pcs, npcs * sizeof(*pcs))) {
			pb_add_to(b, b->index.slot[j] - 1, values);
			return b->index.slot[j] - 1;
		}
	}
	GROW(b->entries, b->entries_alloc, b->nentries + 1);
	GROW(b->pcs, b->pcs_alloc, b->npcs + npcs);
	memcpy(b->pcs + b->npcs, pcs, npcs * sizeof(*pcs));
	e = &b->entries[b->nentries];
	*e = (struct pb_entry){ .tid = tid, .label = label, .epoch = epoch, .npcs = npcs,
				.pcs = b->npcs, .hash = h };
	b->npcs += npcs;
	b->index.slot[j] = ++b->nentries;
	pb_add_to(b, b->nentries - 1, values);
	return b->nentries - 1;
}

void pb_add_to(struct profile_builder *b, size_t entry, const int64_t *values)
{
	for (size_t i = 0; i < b->nvalues; i++)
		b->entries[entry].values[i] += values[i];
}

/* An index, not a scan: pprof_encode asks once per sample entry. */
void pb_thread_name(struct profile_builder *b, pid_t tid, const char *name)
{
	bool added;
	uint64_t *slot = u64map_put(&b->thread_index, (uint64_t)tid, 0, b->nthreads, &added);

	if (added) {
		GROW(b->threads, b->threads_alloc, b->nthreads + 1);
		b->threads[b->nthreads++].tid = tid;
	}
	snprintf(b->threads[*slot].name, sizeof(b->threads[0].name), "%s", name);
}

const char *pb_thread_name_of(const struct profile_builder *b, pid_t tid)
{
	const uint64_t *slot = u64map_find(&b->thread_index, (uint64_t)tid, 0);

	return slot ? b->threads[*slot].name : "";
}
