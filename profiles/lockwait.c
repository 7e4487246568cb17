/*
 * profiles/lockwait.c - tell lock waits from other futex waits by name.
 */
#include "lockwait.h"
#include "builder.h"
#include "../lib/stack.h"
#include "../symbolize/symbolize.h"

#include <string.h>

int lock_frame_verdict(const char *name)
{
	static const char *const not_lock[] = {
		"cond_wait", "cond_timedwait", "cond_clockwait", "condvar",
		"Condvar", "condition_variable", "sem_wait", "sem_timedwait",
		"sem_clockwait", "barrier_wait", "pthread_join", "thread_join",
	};
	static const char *const lock[] = {
		"mutex", "Mutex", "rwlock", "RwLock", "lll_lock", "lock_contended",
		"spin_lock", "lock_slow",
	};
	size_t len = strlen(name);

	for (size_t i = 0; i < sizeof(not_lock) / sizeof(not_lock[0]); i++)
		if (strstr(name, not_lock[i]))
			return -1;
	for (size_t i = 0; i < sizeof(lock) / sizeof(lock[0]); i++)
		if (strstr(name, lock[i]))
			return 1;
	if (len > 6 && !strcmp(name + len - 6, "::lock"))
		return 1;
	return 0;
}

void pb_keep_lock_waits(struct profile_builder *b, struct symbolizer *sym)
{
	for (size_t i = 0; i < b->nentries; i++) {
		struct pb_entry *e = &b->entries[i];
		const uint64_t *pcs = pb_pcs(b, e);
		int verdict = 0;

		for (size_t j = 0; j < e->npcs && !verdict; j++) {
			struct symloc sl;

			if (pc_is_pseudo(pcs[j]))
				continue;
			symbolizer_lookup(sym, e->epoch, pcs[j] & ~PC_PHYSICAL, &sl);
			for (size_t k = 0; k < sl.nframes && !verdict; k++)
				verdict = lock_frame_verdict(sl.frames[k].name);
		}
		if (verdict <= 0)
			memset(e->values, 0, sizeof(e->values));
	}
}
