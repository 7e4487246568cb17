/*
 * lib/itable.h - an open-addressing index over an array the caller owns
 * (profile entries, stacks, report nodes and edges): slots hold entry
 * index + 1, 0 is empty.  The size is a power of two kept at most half
 * full, so probes stay short.  The caller hashes and compares entries;
 * the index only finds slots.  itable_release() frees the slots.
 */
#ifndef CPROF_ITABLE_H
#define CPROF_ITABLE_H

#include <stddef.h>
#include <stdint.h>

struct itable {
	size_t *slot;
	size_t size;
};

/* The hash of entry i, for rehashing. */
typedef uint64_t (*itable_hash_fn)(size_t i, const void *arg);

/* Make room for one more entry beside the n there are: when that would
 * pass half full, double (from min) and rehash entries 0..n-1. */
void itable_reserve(struct itable *t, size_t n, size_t min, itable_hash_fn hash,
		    const void *arg);
void itable_release(struct itable *t);
/* Drop every entry, keeping the slots' memory. */
void itable_clear(struct itable *t);

/* Probe: for (i = itable_first(t, h); t->slot[i]; i = itable_next(t, i)) */
static inline size_t itable_first(const struct itable *t, uint64_t h)
{
	return h & (t->size - 1);
}

static inline size_t itable_next(const struct itable *t, size_t i)
{
	return (i + 1) & (t->size - 1);
}

#endif
