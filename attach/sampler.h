/*
 * attach/sampler.h - the recording loop: one thread of control that owns
 * every ptrace call (the tracer), driven by a timerfd and a signalfd.
 *
 * sampler_run() seizes or launches the target, samples until the duration
 * ends, the target exits or a SIGINT/SIGTERM/SIGHUP arrives, resumes every
 * stop it knows of, and returns.  It must run on a thread of its own
 * (sampler_start): when that thread exits the kernel detaches all tracees
 * without stopping them (see attach/target.h).  Samples go into the
 * builder; the caller reads it after sampler_join().
 */
#ifndef CPROF_SAMPLER_H
#define CPROF_SAMPLER_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "target.h"
#include "../lib/u64map.h"

struct profile_builder;

enum sample_mode {
	MODE_CPU,		/* running threads, weighted by cpu time */
	MODE_WALL,		/* every thread, weighted by wall time */
	MODE_BLOCK,		/* threads blocked off the cpu */
	MODE_MUTEX,		/* ... in futex waits (lock filter: cmd/record.c) */
	MODE_THREADCREATE,	/* the creator's stack at each new thread */
};

/*
 * Off-cpu entries carry two labels packed in the builder's label value:
 * the /proc state letter and the system call number + 1 (0: none).
 */
static inline uint32_t offcpu_label(char state, long nr)
{
	return (uint32_t)(unsigned char)state << 16 |
	       (uint32_t)(nr >= 0 && nr < 0xffff ? nr + 1 : 0);
}

struct sampler_opts {
	enum sample_mode mode;
	pid_t pid;		/* attach to this, or ... */
	char *const *argv;	/* ... launch this */
	unsigned hz;
	uint64_t duration_ns;	/* 0: until the target exits or a signal */
	size_t max_depth;
	size_t stack_size;
	bool raw_stops;		/* no stop-bias correction (--raw-stops) */
	sigset_t orig_mask;	/* the launched command gets this mask */
	sigset_t handled;	/* blocked everywhere, read from a signalfd */
};

/* What the caller reads after sampler_join(); nothing else of the sampler. */
struct sampler_result {
	int status;		/* 0, -1 (error reported), or 126/127 (launch) */
	bool cut_short;		/* an error ended a recording that had begun:
				 * the builder holds what came before it */
	int stop_signal;	/* the signal that ended the recording, or 0 */
	pid_t pid;		/* the target */
	bool launched;		/* we started it, and ... */
	bool exited;		/* ... it is gone, with this wait status: */
	int wait_status;
	size_t threads_seen;
	uint64_t lost_samples;	/* thread died or stopped before capture */
	size_t npauses;		/* samples whose pause was measured, and */
	uint64_t pause_p50_ns, pause_p99_ns, pause_max_ns;	/* ... those pauses */
	uint64_t start_realtime_ns;
	uint64_t duration_ns;
	uint64_t ticks, missed_ticks;
	uint64_t samples;
	uint64_t syscall_stops;	/* samples whose stop was a syscall return */
	uint64_t blocked_copies;	/* blocked stacks copied without a stop */
	uint64_t blocked_stops;	/* ... and blocked threads stopped instead */
};

struct stop_fix;

struct sampler {
	struct sampler_opts opts;
	struct sampler_result res;
	struct target target;
	struct profile_builder *builder;
	pthread_t thread;
	struct stop_fix *fixes;	/* see attach/sampler.c, "Stop bias" */
	size_t nfixes, fixes_alloc;
	struct u64map fix_index;	/* builder entry -> fixes[] */
	uint64_t period, next_tick, rng;	/* dithered ticks */
};

int sampler_start(struct sampler *s, struct profile_builder *b);
void sampler_join(struct sampler *s);

/* The target's address spaces, for symbolizing what the builder holds. */
struct addrspace *sampler_addrspace(struct sampler *s);

/* After sampler_join(): free what the recording kept. */
void sampler_release(struct sampler *s);

#endif
