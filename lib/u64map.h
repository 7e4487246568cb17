/*
 * lib/u64map.h - a hash map from a pair of 64-bit keys to a 64-bit value.
 * Insert and find only (no removal: callers mark entries dead instead).
 * The map owns its table; u64map_release() frees it.
 */
#ifndef CPROF_U64MAP_H
#define CPROF_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct u64map_slot {
	uint64_t a, b, val;
	bool used;
};

struct u64map {
	struct u64map_slot *slots;
	size_t size, count;
};

void u64map_release(struct u64map *m);
/* Pointer to the value for (a, b), or NULL. */
uint64_t *u64map_find(const struct u64map *m, uint64_t a, uint64_t b);
/* Pointer to the value for (a, b), inserted as val if absent; *added says which. */
uint64_t *u64map_put(struct u64map *m, uint64_t a, uint64_t b, uint64_t val, bool *added);

#endif
