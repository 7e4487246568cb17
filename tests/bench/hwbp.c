/*
 * tests/bench/hwbp.c - do hardware breakpoints fire on this machine?
 * The measurement behind issue 15's fallback (ptrace debug registers
 * where perf_event_open of a uprobe is refused) not being built here.
 *
 *   hwbp [CALLS]
 *
 * 1. ptrace: a child calls probed_fn CALLS times, 2 ms apart; the parent
 *    seizes it, sets DR0 = probed_fn and DR7 = local enable, execute
 *    (PTRACE_POKEUSER), and counts the SIGTRAP stops it gets, at most 3 s
 *    waiting for each.  It also says whether the child runs on after the
 *    parent detaches with the breakpoint still set.
 * 2. perf: a PERF_TYPE_BREAKPOINT event (HW_BREAKPOINT_X) on probed_fn in
 *    this process counts CALLS calls.
 * Prints "hits N of CALLS" for each.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long calls;

__attribute__((noinline)) void probed_fn(void)
{
	calls++;
	__asm__ volatile("");
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int by_ptrace(int n)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	int st, hits = 0;
	pid_t c = fork();

	if (c == 0) {
		for (int i = 0; i < n; i++) {
			probed_fn();
			usleep(2000);
		}
		_exit(0);
	}
	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART: waitpid gives up */
	if (ptrace(PTRACE_SEIZE, c, 0, 0) || ptrace(PTRACE_INTERRUPT, c, 0, 0) ||
	    waitpid(c, &st, __WALL) != c) {
		printf("ptrace: cannot trace a child: %s\n", strerror(errno));
		kill(c, SIGKILL);
		return -1;
	}
	if (ptrace(PTRACE_POKEUSER, c, offsetof(struct user, u_debugreg[0]), (void *)probed_fn) ||
	    ptrace(PTRACE_POKEUSER, c, offsetof(struct user, u_debugreg[7]), (void *)1L)) {
		printf("ptrace: PTRACE_POKEUSER of DR0/DR7 refused: %s\n", strerror(errno));
		kill(c, SIGKILL);
		return -1;
	}
	ptrace(PTRACE_CONT, c, 0, 0);
	for (;;) {
		pid_t w;

		alarm(3);
		w = waitpid(c, &st, __WALL);
		alarm(0);
		if (w != c)
			break;	/* 3 s without a stop */
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			c = 0;
			break;
		}
		if (WSTOPSIG(st) == SIGTRAP)
			hits++;
		ptrace(PTRACE_CONT, c, 0, 0);
		if (hits == 3) {
			/* the breakpoint stays set: does the child live on untraced? */
			ptrace(PTRACE_INTERRUPT, c, 0, 0);
			waitpid(c, &st, __WALL);
			ptrace(PTRACE_DETACH, c, 0, 0);
			waitpid(c, &st, 0);
			printf("ptrace: after a detach with DR0 set, the child %s\n",
			       WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "ran to its end");
			c = 0;
			break;
		}
	}
	if (c > 0) {
		kill(c, SIGKILL);
		waitpid(c, &st, __WALL);
	}
	printf("ptrace debug register: hits %d of %d calls%s\n", hits, hits == 3 ? 3 : n,
	       hits == 3 ? " (then detached)" : "");
	return hits;
}

static int by_perf(int n)
{
	struct perf_event_attr a;
	uint64_t v = 0;
	int fd;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_BREAKPOINT;
	a.size = sizeof(a);
	a.bp_type = HW_BREAKPOINT_X;
	a.bp_addr = (uint64_t)(uintptr_t)probed_fn;
	a.bp_len = sizeof(long);
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	if (fd < 0) {
		printf("perf breakpoint: perf_event_open refused: %s\n", strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++)
		probed_fn();
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		v = 0;
	close(fd);
	printf("perf breakpoint event: hits %llu of %d calls\n", (unsigned long long)v, n);
	return (int)v;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;

	setvbuf(stdout, NULL, _IONBF, 0);
	by_ptrace(n < 1500 ? n : 1500);
	by_perf(n);
	return 0;
}
