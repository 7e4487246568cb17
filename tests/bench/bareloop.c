/*
 * tests/bench/bareloop.c - the floor: bareloop HZ -- CMD...: launch CMD and,
 * HZ times a second, do only what any ptrace sampler must to one thread:
 * PTRACE_INTERRUPT, waitpid, PTRACE_GETREGSET, one 16 KiB process_vm_readv
 * of the stack, PTRACE_CONT.  Prints "bare pause p50 N us" on stderr.
 * Single-threaded targets only (it samples the main thread).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static unsigned char stack[16384];
	static uint64_t pauses[1 << 20];
	size_t np = 0;
	int hz, st;
	pid_t pid;

	if (argc < 4 || strcmp(argv[2], "--"))
		return 2;
	hz = atoi(argv[1]);
	int go[2];
	char c;

	if (pipe(go))
		return 1;
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) < 0)
			_exit(127);
		execvp(argv[3], argv + 3);
		_exit(127);
	}
	close(go[0]);
	ptrace(PTRACE_SEIZE, pid, 0, 0);
	close(go[1]);
	for (;;) {
		struct timespec gap = { 0, 1000000000L / hz };
		struct user_regs_struct regs;
		struct iovec r = { &regs, sizeof(regs) }, l, rem;
		uint64_t t0;

		nanosleep(&gap, NULL);
		t0 = mono_ns();
		if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0)
			break;
		for (;;) {
			if (waitpid(pid, &st, __WALL) < 0 || WIFEXITED(st) || WIFSIGNALED(st))
				goto done;
			if (st >> 16 == PTRACE_EVENT_STOP)
				break;
			ptrace(PTRACE_CONT, pid, 0, (st >> 16) ? 0 : WSTOPSIG(st));
		}
		ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &r);
		l = (struct iovec){ stack, sizeof(stack) };
		rem = (struct iovec){ (void *)(uintptr_t)regs.rsp, sizeof(stack) };
		process_vm_readv(pid, &l, 1, &rem, 1, 0);
		ptrace(PTRACE_CONT, pid, 0, 0);
		if (np < sizeof(pauses) / sizeof(pauses[0]))
			pauses[np++] = mono_ns() - t0;
	}
done:
	qsort(pauses, np, sizeof(pauses[0]), cmp);
	fprintf(stderr, "bare pause p50 %llu us over %zu samples\n",
		np ? (unsigned long long)pauses[np / 2] / 1000 : 0ULL, np);
	return 0;
}
