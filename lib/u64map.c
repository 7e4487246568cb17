/*
 * lib/u64map.c - open addressing with linear probing, grown at half full.
 */
#include "u64map.h"
#include "util.h"

#include <stdlib.h>

static size_t slot_of(const struct u64map *m, uint64_t a, uint64_t b)
{
	uint64_t h = hash_bytes(HASH_INIT, &a, sizeof(a));

	return hash_bytes(h, &b, sizeof(b)) & (m->size - 1);
}

void u64map_release(struct u64map *m)
{
	free(m->slots);
	*m = (struct u64map){ 0 };
}

uint64_t *u64map_find(const struct u64map *m, uint64_t a, uint64_t b)
{
	if (!m->size)
		return NULL;
	for (size_t i = slot_of(m, a, b);; i = (i + 1) & (m->size - 1)) {
		struct u64map_slot *s = &m->slots[i];

		if (!s->used)
			return NULL;
		if (s->a == a && s->b == b)
			return &s->val;
	}
}

uint64_t *u64map_put(struct u64map *m, uint64_t a, uint64_t b, uint64_t val, bool *added)
{
	uint64_t *v;
	size_t i;

	if (added)
		*added = false;
	if ((v = u64map_find(m, a, b)))
		return v;
	if (2 * (m->count + 1) > m->size) {
		struct u64map old = *m;

		m->size = old.size ? 2 * old.size : 64;
		m->slots = xcalloc(m->size, sizeof(*m->slots));
		m->count = 0;
		for (size_t j = 0; j < old.size; j++)
			if (old.slots[j].used)
				u64map_put(m, old.slots[j].a, old.slots[j].b,
					   old.slots[j].val, NULL);
		free(old.slots);
	}
	for (i = slot_of(m, a, b); m->slots[i].used; i = (i + 1) & (m->size - 1))
		;
	m->slots[i] = (struct u64map_slot){ a, b, val, true };
	m->count++;
	if (added)
		*added = true;
	return &m->slots[i].val;
}
