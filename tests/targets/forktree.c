/*
 * tests/targets/forktree.c - a tree of processes that fork, vfork, spawn
 * and exec all the time, and check what a tracer must not change: each
 * child's exit status (a death by signal too) as its parent's wait sees
 * it, and that SIGCHLD arrives.
 *
 *   forktree [-n WORKERS] [-s SECONDS] [-w MS] [-e EXIT]
 *   forktree -c MS CODE    (a child: MS ms of cpu in exec_work, exit CODE)
 *
 * The root forks WORKERS processes (default 4); each, until SECONDS have
 * passed (default 2; at least one round), starts children in turn and
 * waits for each: a fork that works MS ms of cpu (default 5) in fork_work
 * and exits 3; a vfork + exec of this program as a child (exec_work, exit
 * 5); a posix_spawn of the same (exit 6); a fork that dies of SIGUSR1.
 * Prints "ready PID" first; at the end "ok N" (N children, each seen to
 * end as it should) or "bad WHY", and exits 0 (or EXIT, -e) or 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static volatile uint64_t sink;
static volatile sig_atomic_t sigchlds;
static const char *self;

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static __attribute__((noinline)) void spin_until(uint64_t end)
{
	uint64_t x = sink;

	while (cpu_ns() < end)
		for (int i = 0; i < 1000000; i++)
			x = x * 6364136223846793005ULL + 1;
	sink = x;
}

/* (bodies that differ: -O2's identical code folding would merge them) */
static __attribute__((noinline)) void fork_work(unsigned ms)
{
	spin_until(cpu_ns() + ms * 1000000ULL);
	sink += 1;	/* a frame, not a tail jump */
}

static __attribute__((noinline)) void exec_work(unsigned ms)
{
	spin_until(cpu_ns() + ms * 1000000ULL);
	sink += 2;
}

static void on_chld(int sig)
{
	(void)sig;
	sigchlds++;
}

/* Wait for pid; 0 if it ended as want says (an exit code, or -signal). */
static int check(pid_t pid, int want, const char *how)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "bad %s: waitpid: %s\n", how, strerror(errno));
			return -1;
		}
	if (want >= 0 ? WIFEXITED(st) && WEXITSTATUS(st) == want :
	    WIFSIGNALED(st) && WTERMSIG(st) == -want)
		return 0;
	fprintf(stderr, "bad %s: status %#x, wanted %d\n", how, st, want);
	return -1;
}

/* One worker: children in turn until the time is up.  Returns how many. */
static long worker(unsigned ms, uint64_t end)
{
	char arg[16];
	char *args[] = { (char *)self, "-c", arg, "5", NULL };
	char *spawned[] = { (char *)self, "-c", arg, "6", NULL };
	long n = 0;
	pid_t pid;

	snprintf(arg, sizeof(arg), "%u", ms);
	do {
		pid = fork();
		if (pid == 0) {
			fork_work(ms);
			_exit(3);
		}
		if (pid < 0 || check(pid, 3, "fork"))
			return -1;
		pid = vfork();
		if (pid == 0) {
			execve(self, args, environ);
			_exit(127);
		}
		if (pid < 0 || check(pid, 5, "vfork+exec"))
			return -1;
		if (posix_spawn(&pid, self, NULL, NULL, spawned, environ) ||
		    check(pid, 6, "posix_spawn"))
			return -1;
		pid = fork();
		if (pid == 0) {
			signal(SIGUSR1, SIG_DFL);
			raise(SIGUSR1);
			_exit(1);
		}
		if (pid < 0 || check(pid, -SIGUSR1, "fork+SIGUSR1"))
			return -1;
		n += 4;
	} while (mono_ns() < end);
	if (!sigchlds) {
		fprintf(stderr, "bad: no SIGCHLD\n");
		return -1;
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned workers = 4, seconds = 2, ms = 5, code = 0;
	struct sigaction sa = { .sa_handler = on_chld };
	long total = 0;
	uint64_t end;
	int c, bad = 0;

	self = argv[0];
	if (argc == 4 && !strcmp(argv[1], "-c")) {
		exec_work((unsigned)atoi(argv[2]));
		return atoi(argv[3]);
	}
	while ((c = getopt(argc, argv, "n:s:w:e:")) != -1) {
		switch (c) {
		case 'n': workers = (unsigned)atoi(optarg); break;
		case 's': seconds = (unsigned)atoi(optarg); break;
		case 'w': ms = (unsigned)atoi(optarg); break;
		case 'e': code = (unsigned)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: forktree [-n WORKERS] [-s SECONDS] [-w MS] [-e EXIT]\n");
			return 2;
		}
	}
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);
	printf("ready %d\n", getpid());
	fflush(stdout);
	end = mono_ns() + seconds * 1000000000ULL;
	for (unsigned i = 0; i < workers; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			long n = worker(ms, end);

			/* the count travels in the exit status: 0 is failure */
			_exit(n > 0 ? (int)(n / 4 < 250 ? n / 4 : 250) : 0);
		}
		if (pid < 0) {
			perror("fork");
			return 1;
		}
	}
	for (unsigned i = 0; i < workers; i++) {
		int st;
		pid_t pid = wait(&st);

		if (pid < 0 && errno == EINTR) {
			i--;
			continue;
		}
		if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) == 0) {
			bad = 1;
			continue;
		}
		total += 4L * WEXITSTATUS(st);
	}
	if (bad || !sigchlds) {
		printf("bad: a worker failed\n");
		return 1;
	}
	printf("ok %ld\n", total);
	return (int)code;
}
