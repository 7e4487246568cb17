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
 * (attach/cpu.c, attach/offcpu.c, attach/threadcreate.c, attach/heap.c),
 * which also says what its recording was like (comments, summary, its own
 * numbers in sampler_result.stats).  The loop here is the same for all.
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

/* What one sample of a mode stands for: the profile's period. */
enum sample_period {
	PERIOD_ONE,		/* one event (a contention, a clone): 1 */
	PERIOD_TICK,		/* a tick: 1e9/hz nanoseconds */
	PERIOD_BYTES,		/* about mem_rate bytes allocated (--rate) */
	PERIOD_CALLS,		/* one call in mem_rate (--every) */
};

/* A line about a recording (malloc'ed: say owns it from then on). */
typedef void (*sampler_say_fn)(void *arg, char *line);

/*
 * A sampling mode: what the loop asks of it, and all that is particular
 * to one profile type beyond its names and units (cmd/profiles.c): the
 * commands ask the mode, never which type it is.  Any operation may be
 * NULL (nothing to do; for wanted: every stack is wanted).  All but
 * comments and summary run on the tracer thread.
 */
struct sample_mode {
	unsigned hz;		/* ticks a second unless -F says otherwise
				 * (see sampler_hz), or 0: -F's */
	enum sample_period period;
	bool duty;		/* takes --duty (opts.duty) */
	bool samplers;		/* takes --sampler (opts.sampler): cpu */
	bool read_syscalls;	/* open each thread's /proc syscall file */
	bool clone_stacks;	/* capture the parent at each clone event */
	bool stop_runtime;	/* weigh samples by the cpu read at their stop */
	bool follows;		/* needs the processes followed (unless
				 * --no-follow): processcreate */
	unsigned flags;		/* the mode's own (e.g. OFFCPU_WALL) */
	/* a command to launch: its environment (malloc'ed, NULL-ended,
	 * freed by the caller), or NULL for cprof's own */
	char **(*launch_env)(struct sampler *s);
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
	/* a thread at its exit stop (asked for with exit_stops, for a
	 * command cprof launches), its process's memory still readable;
	 * no ptrace here */
	bool exit_stops;
	void (*thread_exiting)(struct sampler *s, struct thread *th);
	/* samples the kernel took without a stop (uprobes): read, unwind
	 * and add them, after each loop turn; last: the recording is over */
	void (*probes)(struct sampler *s, struct unwinder *u, uint64_t *pcs,
		       bool last);
	/* free s->mode_state */
	void (*release)(struct sampler *s);
	/*
	 * After sampler_join(), from s->opts and s->res only (the mode's
	 * state is gone): the profile's comments on the recording, each
	 * given to say, and the words of record's summary line between
	 * "N samples, N threads, N.NNs, " and ", wrote FILE" (malloc'ed).
	 * summary may note() first what the user must know.
	 */
	void (*comments)(const struct sampler *s, sampler_say_fn say, void *arg);
	char *(*summary)(const struct sampler *s);
};

/* The words of the modes that stop threads to sample them (the pauses,
 * syscall-exit stops, missed ticks), for their comments and summary. */
void sampler_say_pauses(const struct sampler *s, sampler_say_fn say, void *arg);
void sampler_say_syscall_stops(const struct sampler *s, sampler_say_fn say, void *arg);
void sampler_stop_comments(const struct sampler *s, sampler_say_fn say, void *arg);
char *sampler_stop_summary(const struct sampler *s);

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
/* ... where BPF links probe every allocator call (attach/heap.c) */
#define HEAP_BPF_DEFAULT_RATE (32 * 1024)
/* --max-overhead's default, percent: the probes' share of a thread's time */
#define HEAP_DEFAULT_MAX_OVERHEAD 5.0

/*
 * cpu: the kernel takes each sample at the tick (a cpu-clock perf event
 * per thread, attach/cpuclock.c), or ptrace stops do; auto: the kernel
 * where perf_event_open allows it, else ptrace (CPROF_SAMPLER=kernel or
 * ptrace chooses instead of auto).
 */
enum cpu_sampler { SAMPLER_AUTO, SAMPLER_KERNEL, SAMPLER_PTRACE };

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
	enum cpu_sampler sampler;	/* cpu: who takes the samples (--sampler) */
	uint64_t mem_rate;	/* heap, allocs: bytes per sample (--rate);
				 * probe: calls per sample (--every) */
	const char *probe;	/* probe: "[LIB:]SYMBOL"; pair: "ACQUIRE,RELEASE" */
	bool no_preload;	/* heap, allocs, launched: uprobes on the
				 * allocator, not libcprof-heap.so */
	bool no_bpf;		/* allocs, probe: perf uprobe events per
				 * thread, not a BPF link per process */
	bool allocator_frames;	/* heap, allocs, pair: keep the allocator's
				 * frames atop each stack (--allocator-frames) */
	double max_overhead;	/* heap, allocs, probe, pair: the slowdown
				 * the probes may cost (--max-overhead; a
				 * fraction), 0: no bound; --duty wins */
	double duty;		/* allocs, probe: the share of the time the
				 * probes are in place (--duty); 0 or 1: all */
	sigset_t orig_mask;	/* the launched command gets this mask */
	sigset_t handled;	/* blocked everywhere, read from a signalfd */
	/* set by another thread: end the recording at the next tick, as a
	 * signal would (cprof serve shutting down); may be NULL */
	const atomic_bool *cancel;
};

/* What the caller reads after sampler_join(); nothing else of the sampler
 * (but the mode's comments and summary, which are given the sampler). */
#define SAMPLER_MAX_STATS 16
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
	/* the mode's own numbers (sampler_stat), which its comments and
	 * summary read: heap's lost records, offcpu's blocked copies */
	struct sampler_stat {
		const char *name;	/* a string constant of the mode's */
		double value;
	} stats[SAMPLER_MAX_STATS];
	size_t nstats;
	char mode_text[256];	/* a name the mode's comments give (heap: the
				 * module that sampled in the process) */
};

/* The mode's number called name: its slot (0 when new), to set or add to. */
double *sampler_stat(struct sampler_result *r, const char *name);
/* ... or its value, if it was ever set: NULL otherwise; ... or 0. */
const double *sampler_stat_find(const struct sampler_result *r, const char *name);
double sampler_stat_value(const struct sampler_result *r, const char *name);

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

/* The ticks a second a recording in mode m makes: -F's hz if given, else
 * the mode's own rate, if it has one (heap's tick reads its rings). */
unsigned sampler_hz(const struct sample_mode *m, unsigned hz, bool hz_given);

/* What one sample stands for (the profile's period), and opts.mem_rate or
 * its default: --rate's bytes (heap, allocs) or --every's calls. */
int64_t sampler_period(const struct sampler_opts *o);
uint64_t sampler_rate(const struct sampler_opts *o);

/*
 * A mode that polls (heap's rings) may tick slower than -F while there is
 * little to read: the mean gap from the next tick on, never shorter than
 * -F's period.
 */
void sampler_tick_every(struct sampler *s, uint64_t ns);

/* After sampler_join(): free what the recording kept. */
void sampler_release(struct sampler *s);

#endif
