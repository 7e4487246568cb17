/*
 * attach/cpuclock.h - the kernel's cpu sampler, for the cpu mode
 * (attach/cpu.c) only: a cpu-clock perf event on each thread copies its
 * user registers and the top of its stack at the tick, into rings cprof
 * reads and unwinds after each loop turn.  No thread is stopped for a
 * sample.  Runs on the tracer thread, as the mode's hooks do.
 */
#ifndef CPROF_CPUCLOCK_H
#define CPROF_CPUCLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct sampler;
struct thread;
struct unwinder;
struct cpuclock;

/*
 * The rings and an event on every live thread of s->target, at -F's rate.
 * 0, or -errno with nothing left open (refused: the caller falls back to
 * ptrace stops, or reports it).
 */
int cpuclock_start(struct sampler *s, struct cpuclock **out);

/* A thread seized or born, in its first stop (before it runs): 0/-errno. */
int cpuclock_thread_new(struct cpuclock *k, struct thread *th);

/* A thread exited: its counts are final (its records are read later). */
void cpuclock_thread_gone(struct cpuclock *k, struct thread *th);

/*
 * Read, unwind and add every record in the rings; last: the recording is
 * over, so each thread's time after its last record goes to
 * th->pending_ns (its last sample) or to "[not sampled]".
 */
void cpuclock_read(struct cpuclock *k, struct unwinder *u, uint64_t *pcs, bool last);

/* Close everything; the numbers go into s->res (see cpu.c's STAT_*). */
void cpuclock_free(struct cpuclock *k);

/* The most stack the kernel copies into a record (its size is a u16). */
#define CPUCLOCK_STACK_MAX 65000

/* What a perf_event_open errno means here, for a refusal's message. */
const char *cpuclock_refused_why(int err);

/* The numbers the kernel sampler reports (sampler_stat names). */
extern const char CPUCLOCK_IN_KERNEL[], CPUCLOCK_LOST[], CPUCLOCK_USER_ONLY[],
	CPUCLOCK_UNSAMPLED[];

#endif
