/*
 * tests/targets/states.c - threads in known states and call chains:
 *   "spinner"  running in spin_here()
 *   "reader"   blocked in read() on a pipe, in read_here()
 *   "napper"   in nanosleep() in nap_here()
 *   "locker"   waiting for a mutex main holds, in lock_here()
 *   "vforker"  (with -v) a vfork parent: uninterruptible until its child ends
 * None of the blocking calls should ever return; if one does (EINTR, a
 * short read), that is an anomaly.  Prints "ready PID" once every thread is
 * about to block; on SIGTERM prints "anomalies N" and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile int anomalies;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t ready;
static int pipefd[2];
static volatile uint64_t sink;

static __attribute__((noinline)) void spin_here(void)
{
	uint64_t x = 1;

	for (;;) {
		for (int i = 0; i < 1000000; i++)
			x = x * 6364136223846793005ULL + 1;
		sink = x;
	}
}

static __attribute__((noinline)) void read_here(void)
{
	char c;

	for (;;) {
		ssize_t n = read(pipefd[0], &c, 1);

		/* nobody writes: any return is an anomaly */
		__atomic_add_fetch(&anomalies, 1, __ATOMIC_RELAXED);
		if (n < 0 && errno != EINTR)
			return;
	}
}

static __attribute__((noinline)) void nap_here(void)
{
	struct timespec ts = { 100000, 0 };

	for (;;) {
		if (nanosleep(&ts, NULL) != 0 || 1)
			__atomic_add_fetch(&anomalies, 1, __ATOMIC_RELAXED);
	}
}

static __attribute__((noinline)) void lock_here(void)
{
	pthread_mutex_lock(&lock);	/* main never unlocks */
	__atomic_add_fetch(&anomalies, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&lock);
}

static __attribute__((noinline)) void vfork_here(void)
{
	pid_t pid = vfork();

	if (pid == 0) {
		/* the parent stays in uninterruptible sleep while we pause;
		 * we die with it */
		syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		syscall(SYS_pause);
		_exit(0);
	}
}

static void *thread_main(void *arg)
{
	const char *name = arg;

	pthread_setname_np(pthread_self(), name);
	pthread_barrier_wait(&ready);
	if (!strcmp(name, "spinner"))
		spin_here();
	else if (!strcmp(name, "reader"))
		read_here();
	else if (!strcmp(name, "napper"))
		nap_here();
	else if (!strcmp(name, "locker"))
		lock_here();
	else if (!strcmp(name, "vforker"))
		vfork_here();
	return NULL;
}

static void on_term(int sig)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "anomalies %d\n", anomalies);

	(void)sig;
	if (write(1, buf, n) < 0)
		_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	static char *names[] = { "spinner", "reader", "napper", "locker", "vforker" };
	int n = argc > 1 && !strcmp(argv[1], "-v") ? 5 : 4;
	pthread_t t;

	signal(SIGTERM, on_term);
	if (pipe(pipefd))
		return 1;
	pthread_mutex_lock(&lock);
	pthread_barrier_init(&ready, NULL, n + 1);
	for (int i = 0; i < n; i++)
		pthread_create(&t, NULL, thread_main, names[i]);
	pthread_barrier_wait(&ready);
	printf("ready %d\n", getpid());
	fflush(stdout);
	for (;;)
		pause();
}
