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
 *
 * What is sampled, and how, is a struct sample_mode: one file each
 * (attach/cpu.c, attach/offcpu.c, attach/threadcreate.c).  The loop here
 * is the same for all of them.
 */
#ifndef CPROF_SAMPLER_H
#define CPROF_SAMPLER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "target.h"
#include "../lib/u64map.h"

struct profile_builder;
struct sampler;
struct thread;
struct unwinder;

/*
 * A sampling mode: what the loop asks of it.  Any operation may be NULL
 * (nothing to do; for wanted: every stack is wanted).  All run on the
 * tracer thread.
 */
struct sample_mode {
	bool read_syscalls;	/* open each thread's /proc syscall file */
	bool clone_stacks;	/* capture the parent at each clone event */
	bool stop_runtime;	/* weigh samples by the cpu read at their stop */
	bool follows;		/* needs the processes followed (unless
				 * --no-follow): processcreate */
	unsigned flags;		/* the mode's own (e.g. OFFCPU_WALL) */
	/* attached (or launched), before the first tick; -1 (reported)
	 * ends the recording before it begins */
	int (*start)(struct sampler *s);
	/* a tick: pick threads, interrupt them (target_interrupt) or
	 * capture them without a stop (th->captured) */
	void (*tick)(struct sampler *s);
	/* th's captured stack, just unwound: add it to the builder? */
	bool (*wanted)(struct sampler *s, struct unwinder *u, struct thread *th);
	/* ... it was added as builder entry `entry`: true if the mode keeps
	 * it as its own (then no stop-bias correction applies) */
	bool (*added)(struct sampler *s, struct unwinder *u, struct thread *th,
		      size_t entry);
	/* the parents' stacks captured at clone events (clone_stacks) */
	void (*clones)(struct sampler *s, struct unwinder *u, uint64_t *pcs);
	/* the end, for a live thread: the time it used since its last look
	 * goes to th->pending_ns ... */
	void (*end_time)(struct sampler *s, struct thread *th, uint64_t end_ns);
	/* ... and th->pending_ns (not 0) to the entry it belongs to */
	void (*leftover)(struct sampler *s, struct thread *th);
	/* a thread was seized or born / exited: modes that keep something
	 * per thread (perf events) open or close it; no ptrace here */
	void (*thread_new)(struct sampler *s, struct thread *th);
	void (*thread_gone)(struct sampler *s, struct thread *th);
	/* samples the kernel took without a stop (uprobes): read, unwind
	 * and add them, after each loop turn; last: the recording is over */
	void (*probes)(struct sampler *s, struct unwinder *u, uint64_t *pcs,
		       bool last);
	/* free s->mode_state */
	void (*release)(struct sampler *s);
};

/* The leftover of modes whose time goes to a thread's last sample. */
void sampler_leftover_to_last(struct sampler *s, struct thread *th);

/* The modes, one file each. */
extern const struct sample_mode cpu_mode;		/* attach/cpu.c */
extern const struct sample_mode wall_mode, block_mode, mutex_mode; /* offcpu.c */
extern const struct sample_mode threadcreate_mode;	/* attach/threadcreate.c */
extern const struct sample_mode processcreate_mode;	/* ... the same file */
extern const struct sample_mode heap_mode, allocs_mode, probe_mode, pair_mode; /* heap.c */
#define HEAP_INUSE 1		/* heap_mode's flag: returns and frees too */
#define HEAP_PAIR 2		/* pair_mode's: live objects, not bytes */
#define HEAP_DEFAULT_RATE (512 * 1024)	/* bytes per sample, as Go's */

struct sampler_opts {
	const struct sample_mode *mode;
	pid_t pid;		/* attach to this (and more_pids), or ... */
	char *const *argv;	/* ... launch this */
	const pid_t *more_pids;	/* -p PID1,PID2,...: the others */
	size_t nmore_pids;
	bool follow;		/* the processes they start too (forks) */
	unsigned hz;
	uint64_t duration_ns;	/* 0: until the target exits or a signal */
	size_t max_depth;
	size_t stack_size;
	bool raw_stops;		/* no stop-bias correction (--raw-stops) */
	uint64_t mem_rate;	/* heap, allocs: bytes per sample (--rate);
				 * probe: calls per sample (--every) */
	const char *probe;	/* probe: "[LIB:]SYMBOL"; pair: "ACQUIRE,RELEASE" */
	double duty;		/* allocs, probe: the share of the time the
				 * probes are in place (--duty); 0 or 1: all */
	sigset_t orig_mask;	/* the launched command gets this mask */
	sigset_t handled;	/* blocked everywhere, read from a signalfd */
	/* set by another thread: end the recording at the next tick, as a
	 * signal would (cprof serve shutting down); may be NULL */
	const atomic_bool *cancel;
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
	size_t processes_seen;
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
	size_t heap_probes;	/* heap, allocs: functions probed */
	uint64_t heap_nested;	/* ... samples inside another allocator call */
	uint64_t heap_lost;	/* ... records the rings had no room for */
	bool heap_windowed;	/* --duty below 1: */
	size_t heap_windows;	/* ... windows the probes were in place, */
	double heap_armed;	/* ... the share of the recording they cover */
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
	void *mode_state;	/* the mode's own (heap: attach/heap.c) */
};

int sampler_start(struct sampler *s, struct profile_builder *b);
void sampler_join(struct sampler *s);

/* The target's address spaces, for symbolizing what the builder holds. */
struct addrspace *sampler_addrspace(struct sampler *s);

/* After sampler_join(): free what the recording kept. */
void sampler_release(struct sampler *s);

#endif
