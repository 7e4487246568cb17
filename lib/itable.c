/*
 * lib/itable.c - growing and clearing the open-addressing index.
 */
#include "itable.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void itable_reserve(struct itable *t, size_t n, size_t min, itable_hash_fn hash,
		    const void *arg)
{
	size_t size;

	if ((n + 1) * 2 <= t->size)
		return;
	size = t->size ? t->size * 2 : min;
	free(t->slot);
	t->slot = xcalloc(size, sizeof(*t->slot));
	t->size = size;
	for (size_t e = 0; e < n; e++) {
		size_t i = itable_first(t, hash(e, arg));

		while (t->slot[i])
			i = itable_next(t, i);
		t->slot[i] = e + 1;
	}
}

void itable_clear(struct itable *t)
{
	if (t->slot)
		memset(t->slot, 0, t->size * sizeof(*t->slot));
}

void itable_release(struct itable *t)
{
	free(t->slot);
	t->slot = NULL;
	t->size = 0;
}
