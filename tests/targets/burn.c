/*
 * tests/targets/burn.c - a multi-threaded cpu burner with known stacks.
 *
 *   burn [-t THREADS] [-s SECONDS] [-r A:B:C] [-S SLEEPERS]
 *
 * Each of THREADS workers ("burner") spends its cpu in work_a, work_b and
 * work_c in the ratio A:B:C (default 50:30:20); SLEEPERS threads
 * ("sleeper") sleep the whole time.  Prints "ready PID" once every thread
 * runs; exits after SECONDS (default: never) or on SIGTERM/SIGINT.
 * On exit prints "rounds N" (work rounds done by all workers).
 */
#define _GNU_SOURCE
#include "work.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned ra = 50, rb = 30, rc = 20;
static volatile uint64_t rounds;
static pthread_barrier_t started;
static int past_barrier;	/* threads that left the barrier */

static __attribute__((noinline)) void *burner(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "burner");
	pthread_barrier_wait(&started);
	__atomic_add_fetch(&past_barrier, 1, __ATOMIC_RELEASE);
	for (;;) {
		work_a(ra / 2);
		work_b(rb / 2);
		work_c(rc / 2);
		__atomic_add_fetch(&rounds, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static __attribute__((noinline)) void *sleeper(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "sleeper");
	pthread_barrier_wait(&started);
	__atomic_add_fetch(&past_barrier, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
	return NULL;
}

static void on_term(int sig)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "rounds %llu\n", (unsigned long long)rounds);

	(void)sig;
	if (write(1, buf, n) < 0)
		_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	int threads = 1, sleepers = 0, seconds = 0, c;
	pthread_t t;

	while ((c = getopt(argc, argv, "t:s:r:S:")) != -1) {
		switch (c) {
		case 't': threads = atoi(optarg); break;
		case 's': seconds = atoi(optarg); break;
		case 'S': sleepers = atoi(optarg); break;
		case 'r':
			if (sscanf(optarg, "%u:%u:%u", &ra, &rb, &rc) != 3)
				return 2;
			break;
		default:
			fprintf(stderr, "usage: burn [-t N] [-s SEC] [-r A:B:C] [-S N]\n");
			return 2;
		}
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	pthread_barrier_init(&started, NULL, threads + sleepers + 1);
	for (int i = 0; i < threads; i++)
		pthread_create(&t, NULL, burner, NULL);
	for (int i = 0; i < sleepers; i++)
		pthread_create(&t, NULL, sleeper, NULL);
	pthread_barrier_wait(&started);
	/*
	 * Ready once every thread has left the barrier, not when it opens: a
	 * woken thread may wait a long while for a cpu on a loaded machine,
	 * and a test that stops us at "ready" found the burners still in the
	 * barrier's futex wait (t0011 under ASan and stress-ng).
	 */
	while (__atomic_load_n(&past_barrier, __ATOMIC_ACQUIRE) < threads + sleepers)
		sched_yield();
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (seconds) {
		sleep(seconds);
		on_term(0);
	}
	for (;;)
		pause();
}
