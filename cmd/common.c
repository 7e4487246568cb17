/*
 * cmd/common.c - what several subcommands do alike: refuse targets that
 * must not be traced, and route signals to the tracer's signalfd.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "../attach/procfs.h"
#include "../lib/util.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

/* Refuse targets we cannot or must not trace, before touching anything. */
int check_target_pid(pid_t *pid)
{
	struct proc_status st;
	int ret;

	if (*pid == getpid())
		return error("attach %d: that is cprof itself", *pid);
	ret = proc_status(*pid, 0, &st);
	if (ret == -ESRCH)
		return error("attach %d: no such process", *pid);
	if (ret)
		return error("attach %d: /proc/%d/status: %s", *pid, *pid, strerror(-ret));
	if (st.tgid != *pid) {
		note("%d is a thread of process %d: profiling the whole process",
		     *pid, st.tgid);
		*pid = st.tgid;
		if (*pid == getpid())
			return error("attach %d: that is cprof itself", *pid);
		if (proc_status(*pid, 0, &st))
			return error("attach %d: no such process", *pid);
	}
	if (st.state == 'Z' || st.state == 'X')
		return error("attach %d: process is a zombie (it has exited; its parent has not reaped it)",
			     *pid);
	return 0;
}

void block_handled_signals(sigset_t *set, sigset_t *orig)
{
	/* SIGINT/TERM/HUP and SIGCHLD are read by the tracer from a signalfd */
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, set, orig);
}
