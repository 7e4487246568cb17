/*
 * attach/snapshot.h - what every thread of a process is doing right now:
 * one consistent snapshot.  Blocked threads are read without stopping
 * them; running ones are stopped together, held until all have stopped or
 * the timeout passes, and let go together (see attach/snapshot.c).
 *
 * The snapshot owns its threads' captures and stacks; snapshot_release()
 * frees them.  A thread that exits meanwhile is SNAP_GONE; one that could
 * not be read (it needed a stop and did not stop in time: uninterruptible
 * sleep) is SNAP_NO_STOP, with its /proc information and no stack.  A
 * stopped process is dumped and left stopped.
 */
#ifndef CPROF_SNAPSHOT_H
#define CPROF_SNAPSHOT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "target.h"

enum snap_result {
	SNAP_OK,
	SNAP_GONE,		/* exited before it could be read */
	SNAP_NO_STOP,		/* did not stop within the timeout */
	SNAP_SKIPPED,		/* not selected (--tid) */
};

struct snap_thread {
	pid_t tid;
	char name[64];
	char state;		/* /proc state letter, read before stopping */
	uint64_t utime, stime;	/* clock ticks */
	long syscall_nr;	/* -1: not in a system call (or unknown) */
	uint64_t syscall_arg0;
	char wchan[64];
	enum snap_result result;
	uint32_t epoch;
	uint64_t *pcs;		/* innermost first, after unwinding */
	size_t npcs;
	/* how it was read */
	struct proc_syscall sc;	/* from /proc: the call, sp, pc */
	uint64_t runtime;	/* schedstat cpu ns when /proc was read */
	bool stopped;		/* taken in a stop (else copied, or not read) */
	bool need_stop, retried;
	int syscall_fd, schedstat_fd;	/* kept open while it is read, or -1 */
	bool partial;		/* SNAP_OK, but its stack ends early: it needed a
				 * stop for its registers and did not stop, or
				 * a stop would have made its call fail: */
	bool eintr_risk;
};

struct snapshot_opts {
	pid_t pid;
	const pid_t *tids;	/* only these threads (NULL: all) */
	size_t ntids;
	uint64_t timeout_ns;
	size_t stack_size;
	size_t max_depth;
	sigset_t handled;	/* SIGCHLD etc., blocked, read by signalfd */
	const char *debuginfo_path;	/* for snapshot_symbolizer() */
	bool stop_all;		/* stop blocked threads whose copy is not enough
				 * even in calls that would return EINTR */
};

struct snapshot {
	struct snapshot_opts opts;
	struct target target;
	struct snap_thread *v;	/* sorted by tid */
	size_t n;
	uint64_t stopped_ns;	/* how long threads were held stopped */
	size_t stopped_threads;	/* how many were stopped (the others: copied) */
	uint64_t total_ns;	/* attach to detach */
	int status;		/* 0 or -1 (reported) */
	struct capture scratch;	/* each blocked stack, in turn */
	/* symbols, loaded by the calling thread while the tracer works */
	struct addrspace sym_as;
	struct symbolizer *sym;
	/*
	 * Threads whose stack is final (indexes into v), handed to the
	 * calling thread as they come, to be symbolized while the tracer
	 * reads the others.
	 */
	pthread_mutex_t ready_mu;
	pthread_cond_t ready_cv;
	size_t *ready, nready, npending;
	bool tracer_done;
	/*
	 * Step 1, the /proc reads, is shared with the calling thread: each
	 * takes the next thread to read (read_next) and counts it read
	 * (read_done) once its fields are written.
	 */
	bool reads_open;
	atomic_size_t read_next, read_done;
	/*
	 * Step 3, the copies of blocked stacks, too: the calling thread
	 * hands back (handed_back) the threads it leaves to the tracer.
	 */
	bool copies_open;
	atomic_size_t copy_next, copy_done, nhanded_back;
	size_t *handed_back;
};

/* Take the snapshot and unwind (on a tracer thread of its own). */
int snapshot_take(struct snapshot *s);
void snapshot_release(struct snapshot *s);

/*
 * A symbolizer for the snapshot's stacks (owned by the snapshot).  Its
 * symbols were loaded while the threads were being read, from the maps
 * read at the start; if the maps changed meanwhile, a new one.
 */
struct symbolizer *snapshot_symbolizer(struct snapshot *s);

#endif
