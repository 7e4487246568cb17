/*
 * attach/snapshot.h - what every thread of a process is doing right now:
 * one consistent snapshot.  All (selected) threads are interrupted, each
 * stop is captured and held until every thread is stopped or the timeout
 * passes, then all are let go together; unwinding happens after.
 *
 * The snapshot owns its threads' captures and stacks; snapshot_release()
 * frees them.  A thread that exits meanwhile is SNAP_GONE; one that does
 * not stop in time (uninterruptible sleep) is SNAP_NO_STOP, with its /proc
 * information and no stack.  A stopped process is dumped and left stopped.
 */
#ifndef CPROF_SNAPSHOT_H
#define CPROF_SNAPSHOT_H

#include <signal.h>
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
};

struct snapshot_opts {
	pid_t pid;
	const pid_t *tids;	/* only these threads (NULL: all) */
	size_t ntids;
	uint64_t timeout_ns;
	size_t stack_size;
	size_t max_depth;
	sigset_t handled;	/* SIGCHLD etc., blocked, read by signalfd */
};

struct snapshot {
	struct snapshot_opts opts;
	struct target target;
	struct snap_thread *v;	/* sorted by tid */
	size_t n;
	uint64_t stopped_ns;	/* how long the process was held stopped */
	uint64_t total_ns;	/* attach to detach */
	int status;		/* 0 or -1 (reported) */
};

/* Take the snapshot (on a tracer thread of its own), then unwind. */
int snapshot_take(struct snapshot *s);
void snapshot_release(struct snapshot *s);

#endif
