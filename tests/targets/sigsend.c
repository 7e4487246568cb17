/*
 * tests/targets/sigsend.c - sigsend PID N: queue N SIGRTMIN signals to PID
 * (sigqueue; real-time signals are never merged), pacing itself so the
 * queue never overflows.  Exit 0 when all N were queued.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	struct timespec pace = { 0, 200000 };
	union sigval v = { 0 };
	int pid, n, sent = 0;

	if (argc != 3)
		return 2;
	pid = atoi(argv[1]);
	n = atoi(argv[2]);
	while (sent < n) {
		if (sigqueue(pid, SIGRTMIN, v) == 0) {
			sent++;
			if (sent % 50 == 0)
				nanosleep(&pace, NULL);
		} else if (errno == EAGAIN) {
			nanosleep(&pace, NULL);
		} else {
			perror("sigqueue");
			return 1;
		}
	}
	return 0;
}
