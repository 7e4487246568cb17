/*
 * profiles/lockwait.h - which futex waits are lock contention (the mutex
 * profile), judged by the names on the waiting stack.
 *
 * From the innermost frame out, the first frame that names a lock
 * (mutex, rwlock, lll_lock, spin_lock, lock_contended, lock_slow, or a
 * C++ "...::lock") makes the wait lock contention; one that names a
 * condition variable, semaphore, barrier or join first makes it not.  So
 * pthread_cond_wait's own wait is not contention, but its relock of the
 * mutex after waking (__pthread_mutex_cond_lock, innermost) is.
 */
#ifndef CPROF_LOCKWAIT_H
#define CPROF_LOCKWAIT_H

struct profile_builder;
struct symbolizer;

/* 1: names a lock; -1: names a condition variable and the like; 0: neither */
int lock_frame_verdict(const char *name);

/* Zero the values of every entry whose stack does not show a lock. */
void pb_keep_lock_waits(struct profile_builder *b, struct symbolizer *sym);

#endif
