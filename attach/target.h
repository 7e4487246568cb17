/*
 * attach/target.h - the traced process: its threads, how they were seized,
 * and every ptrace stop they report.
 *
 * All ptrace calls are made by one thread, the tracer (see attach/sampler.c),
 * so that when it exits the kernel detaches every tracee at once without
 * stopping it: no blocked system call returns EINTR because cprof left
 * (tests/t0013-offcpu.sh, tests/t0011-threads.sh; cprof SIGKILLed:
 * tests/t0008-endings.sh).  Before that exit, target_drain() resumes every
 * stop cprof has been told of, re-injecting signals, so none is lost (a
 * tracee sitting in a signal-delivery stop when its tracer exits loses that
 * signal: tests/t0014-torture.sh, the signal storm).
 *
 * Stops are classified as (strace's next_event/dispatch shape):
 *   PTRACE_EVENT_STOP + SIGTRAP      our interrupt (sample), a new thread's
 *                                    first stop, or a listened group-stop ending
 *   PTRACE_EVENT_STOP + stop signal  group-stop: PTRACE_LISTEN, stays stopped
 *                                    (tests/t0007-job-control.sh)
 *   PTRACE_EVENT_CLONE / _EXEC       new thread / new program image
 *                                    (tests/t0005-new-threads.sh, t0012-exec.sh)
 *   PTRACE_EVENT_FORK / _VFORK       a new process (target->follow): its
 *                                    first stop may come before or after this
 *                                    (tests/t0018-follow.sh)
 *   PTRACE_EVENT_EXIT                a thread about to exit: its last cpu
 *                                    time and, if they changed, its process's
 *                                    maps are read while they still exist
 *   plain signal                     signal-delivery stop: re-inject at once
 *                                    (tests/t0006-signals.sh)
 * ESRCH from any call means the thread died: an event, not an error
 * (tests/t0014-torture.sh, thread churn and endings mid-tick).  Every
 * restart (CONT, LISTEN, SYSCALL) is made by one function, restart() in
 * target.c, which picks the request from the thread's state and reports
 * any other failure with the call's name.
 */
#ifndef CPROF_TARGET_H
#define CPROF_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "capture.h"
#include "procfs.h"
#include "../lib/u64map.h"
#include "../symbolize/maps.h"

/*
 * Where a traced thread is, as cprof's ptrace calls left it.  One state at
 * a time; each change is made in target.c, at the call or stop that makes
 * it:
 *
 *   RUNNING --target_interrupt--> INTERRUPTING
 *   INTERRUPTING --its stop, captured, resumed--> RUNNING
 *   INTERRUPTING --its stop, captured, kept (t->hold)--> HELD
 *   INTERRUPTING --a group-stop instead, captured (t->hold)--> HELD_GROUP
 *   RUNNING, INTERRUPTING --a group-stop--> GROUP_STOPPED (LISTEN)
 *   GROUP_STOPPED --target_interrupt (a snapshot)--> INTERRUPTING
 *   GROUP_STOPPED --SIGCONT: the listened stop ends--> RUNNING
 *   INTERRUPTING --its exit stop: no sample comes--> RUNNING
 *   HELD, HELD_GROUP --target_release_held--> RUNNING, GROUP_STOPPED
 *   any --exit, kill, another thread's exec--> GONE
 *
 * Whether a sample waits in th->cap to be unwound is not a state of the
 * thread: after its stop it runs on, and may group-stop, clone or exit
 * before the batch is unwound (th->captured).
 */
enum thread_state {
	THREAD_RUNNING,
	THREAD_INTERRUPTING,	/* PTRACE_INTERRUPT sent, its stop not seen yet */
	THREAD_HELD,		/* a snapshot's: captured and kept stopped */
	THREAD_HELD_GROUP,	/* ... in a group-stop: LISTEN, not CONT, to go */
	THREAD_GROUP_STOPPED,	/* in a user's SIGSTOP: PTRACE_LISTEN'ed */
	THREAD_GONE,
};

/*
 * A process of the target: the one attached to or launched (a root), or
 * one of their descendants (followed).  Each has its own address space:
 * its current image is epoch `epoch` of the target's addrspace.
 */
struct process {
	pid_t pid;
	uint32_t epoch;
	bool root;		/* named by the user: the recording ends with them */
	bool exited;
	int wait_status;	/* its leader's, once exited */
};

struct thread {
	pid_t tid;
	struct process *proc;
	enum thread_state state;
	bool captured;		/* cap holds a sample not yet unwound */
	bool exiting;		/* past its exit stop: never interrupted again */
	uint64_t interrupt_ns;
	int schedstat_fd, stat_fd;
	uint64_t last_runtime;	/* cpu ns given to samples up to here */
	uint64_t pending_ns;	/* cpu ns not yet given to a sample */
	uint64_t sample_ns;	/* weight of the captured sample */
	uint32_t sample_epoch;
	bool has_entry;		/* a sample of this thread is in the builder */
	size_t last_entry;
	uint64_t utime0, stime0;	/* clock ticks when cprof first saw it */
	uint64_t utime, stime;		/* ... and at the last look */
	uint64_t name_read_ns;
	char name[32];
	struct capture cap;
	/* off the cpu (wall, block, mutex): see attach/offcpu.c */
	int syscall_fd;		/* /proc/PID/task/TID/syscall, or -1 */
	uint64_t acct_ns;	/* wall time given to samples up to here */
	uint32_t sample_label;	/* labels of the captured sample */
	/* the sampling mode's own, freed by it (attach/offcpu.c: where
	 * the thread was seen blocked) */
	void *mode_data;
};

/* threadcreate: the creating thread's stack, taken at PTRACE_EVENT_CLONE */
struct clone_event {
	uint32_t epoch;
	bool fork;		/* a new process, not a thread */
	struct capture cap;
};

/* Why an interrupted thread gave no sample (target.lost_by[]). */
enum lost_reason {
	LOST_EXIT,		/* it reached its exit stop first */
	LOST_GONE,		/* it vanished (killed, or its process exec'd) */
	LOST_CAPTURE,		/* registers or stack unreadable at the stop */
	LOST_CLONE,		/* the same, at a clone event */
	LOST_GROUP_STOP,	/* a SIGSTOP got there first */
	LOST_REASONS
};
struct target {
	pid_t pid;		/* the first root */
	bool launched;		/* we started it: its exit status is ours */
	bool launch_held;	/* target_launch leaves it at its exec stop
				 * until target_go (the mode readies first) */
	struct thread *held;	/* ... this thread, there */
	bool exited;		/* every root's thread group is gone */
	int wait_status;	/* the first root's leader's, when exited */
	unsigned long options;	/* PTRACE_O_* */
	bool follow;		/* trace the processes they start (forks) */
	struct process **procs;	/* every process ever seen */
	size_t nprocs, procs_alloc;
	struct u64map proc_index;	/* pid -> position in procs */
	size_t procs_seen;
	bool hold;		/* snapshot: keep sampled threads stopped */
	bool read_syscalls;	/* open each thread's /proc syscall file */
	bool clone_stacks;	/* capture the parent at each clone event */
	bool stop_runtime;	/* weigh each sample by the cpu read at its stop */
	bool syscall_stops;	/* restart with PTRACE_SYSCALL, not PTRACE_CONT
				 * (a mode that wants syscall stops; none yet) */
	struct clone_event *clones;	/* not yet unwound */
	size_t nclones, clones_ready, clones_alloc;
	size_t stack_size;
	struct addrspace as;
	struct thread **threads;	/* every thread ever seen */
	size_t nthreads, threads_alloc;
	struct u64map index;	/* tid -> position in threads */
	size_t threads_seen;
	/* statistics */
	uint64_t *pauses;	/* ns per sample, interrupt to resume */
	size_t npauses, pauses_alloc;
	uint64_t lost_samples;	/* thread died or stopped before capture */
	uint64_t lost_by[LOST_REASONS];	/* the same, by why (-v says) */
	size_t in_flight;	/* interrupts sent, stops not yet seen */
	/* told of each thread seized or born (born) and of each gone, after
	 * the fact; no ptrace call may be made from it (heap's perf events) */
	void (*thread_hook)(void *arg, struct thread *th, bool born);
	/* told of each exit stop (PTRACE_EVENT_EXIT, with exit stops on): the
	 * process's memory can still be read; no ptrace call from it */
	void (*exit_hook)(void *arg, struct thread *th);
	void *hook_arg;
};

void target_init(struct target *t, size_t stack_size);
void target_release(struct target *t);

/*
 * Follow forks (fork, vfork, clone without CLONE_THREAD) and the execs in
 * them, and stop each thread at its exit for its last cpu time; before
 * target_attach/target_launch.
 */
void target_set_follow(struct target *t, bool follow, bool exit_stops);

/*
 * Seize every thread of pid, rescanning until no new one appears.  May be
 * called for several processes (-p PID1,PID2): each is a root.
 */
int target_attach(struct target *t, pid_t pid);

/* --follow: seize the descendants the roots already have, too. */
void target_attach_descendants(struct target *t);

struct process *target_process(struct target *t, pid_t pid);

/* The maps of the image a thread runs now. */
static inline struct maps *thread_maps(struct target *t, const struct thread *th)
{
	return &t->as.epochs[th->proc->epoch];
}

/*
 * Seize just these threads of t->pid (t->pid and t->as set up by the
 * caller); threads that have exited are skipped.  0, or -1 (reported).
 */
int target_seize(struct target *t, const pid_t *tids, size_t n);

/*
 * Fork and exec argv seized from its first instruction, with the
 * environment envp (NULL: cprof's).  Returns 0, or the shell's status for
 * a command that could not run (127 not found, 126 not executable) after
 * printing why, or -1.
 */
int target_launch(struct target *t, char *const argv[], const void *sigmask,
		  char *const envp[]);

/*
 * A command launched with t->launch_held runs from its exec stop on: the
 * mode is ready for it.  (Nothing held: nothing done.)
 */
void target_go(struct target *t);

struct thread *target_thread(struct target *t, pid_t tid);

/* Reread a thread's name (comm) from /proc; keeps the old one if gone. */
void target_refresh_name(struct target *t, struct thread *th);

/* Ask a running thread to stop for a sample. */
int target_interrupt(struct target *t, struct thread *th);

/*
 * Wait for the stops of interrupts in flight, polling waitpid until the
 * deadline: sleeping instead costs each stopped thread a wake-up of cprof's
 * idle cpu (measured at 999 Hz on one busy thread: pause p50 144 us with a
 * blocking waitpid, 59 us polling; sched_yield in the loop made it worse
 * with more busy threads than cores).  Then drain.  Returns count.
 */
int target_await(struct target *t, uint64_t deadline_ns);

/* Hold mode: let every held thread go (CONT, or LISTEN if group-stopped). */
void target_release_held(struct target *t);

/*
 * Handle a stop of this one thread if it has been reported: 1 if handled,
 * 0 if none yet, -errno.  O(1) in the kernel, where waitpid(-1) walks
 * every tracee.
 */
int target_wait_tid(struct target *t, pid_t tid);

/* Handle every stop already reported (waitpid WNOHANG); returns count. */
int target_drain(struct target *t);

#endif
