/*
 * cmd/common.c - what several subcommands do alike: refuse targets that
 * must not be traced, and route signals to the tracer's signalfd.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "../attach/capture.h"
#include "../attach/procfs.h"
#include "../lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
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

void common_args_init(struct common_args *o)
{
	*o = (struct common_args){ .max_depth = 256, .stack_size = 32768 };
}

int usage_error(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "cprof: %s: ", cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(see cprof %s --help)\n", cmd);
	return CPROF_EXIT_USAGE;
}

int usage_error_not_in(const char *cmd, const char *what, const char *arg, char *names)
{
	char *fmt = xasprintf("%s '%%s' (%s)", what, names);
	int ret = usage_error(cmd, fmt, arg);

	free(fmt);
	free(names);
	return ret;
}

int parse_common_opt(const char *cmd, int c, const char *arg, struct common_args *o)
{
	long v;

	switch (c) {
	case 'p':
		if (parse_long(arg, 1, INT32_MAX, &v))
			return usage_error(cmd, "-p: '%s' is not a process id", arg);
		o->pid = (pid_t)v;
		return 1;
	case OPT_MAX_DEPTH:
		if (parse_long(arg, 1, 65536, &o->max_depth))
			return usage_error(cmd, "--max-depth: '%s' is not a number from 1 to 65536", arg);
		return 1;
	case OPT_STACK_SIZE:
		if (parse_long(arg, 512, CAPTURE_MAX_STACK, &o->stack_size))
			return usage_error(cmd, "--stack-size: '%s' is not a size from 512 bytes to 1 MiB", arg);
		return 1;
	case OPT_DEBUGINFO:
		o->debuginfo_path = arg;
		return 1;
	case 'v':
		verbose++;
		return 1;
	}
	return 0;
}

int parse_id_list(const char *s, pid_t **out, size_t *n)
{
	char *copy = xstrdup(s), *save, *tok;
	size_t alloc = 0;
	long v;

	*out = NULL;
	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (parse_long(tok, 1, INT32_MAX, &v)) {
			free(copy);
			return -1;
		}
		GROW(*out, alloc, *n + 1);
		(*out)[(*n)++] = (pid_t)v;
	}
	free(copy);
	return *n ? 0 : -1;
}

int parse_max_overhead(const char *cmd, const char *arg, double *pct)
{
	char *end;

	*pct = strtod(arg, &end);
	if (end != arg && *end == '%')
		end++;
	if (end == arg || *end || !(*pct >= 0.1 && *pct <= 100))
		return usage_error(cmd, "--max-overhead: '%s' is not a percentage from 0.1 to 100", arg);
	return 0;
}
