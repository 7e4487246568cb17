/*
 * tests/targets/shares.c - threads whose cpu splits over three functions in
 * a known ratio, with no system call while they work.
 *
 *   shares [-t THREADS] [-r A:B:C]
 *
 * Each thread loops over share_a, share_b and share_c, which run the same
 * inlined step A, B and C times (default 50:30:20): the split is in the
 * work done, not in clock readings, so it holds on a loaded machine too.
 * No system call in the loop means the kernel brings the thread's cpu time
 * (schedstat) up to date only at its scheduler tick or when it is switched
 * out: the case where cpu read from outside lags (tests/t0004-accuracy.sh).
 * The three are kept apart (no_icf): gcc would fold identical functions.
 * Prints "ready PID" once every thread works.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define STEP_ITERS 4000	/* one step: ~5 us */

static unsigned ra = 50, rb = 30, rc = 20;
static volatile uint64_t sink;
static pthread_barrier_t started;

static __attribute__((always_inline)) inline uint64_t step(uint64_t x)
{
	for (int i = 0; i < STEP_ITERS; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

static __attribute__((noinline, no_icf)) void share_a(unsigned n)
{
	uint64_t x = sink;

	for (unsigned i = 0; i < n; i++)
		x = step(x);
	sink = x;
}

static __attribute__((noinline, no_icf)) void share_b(unsigned n)
{
	uint64_t x = sink;

	for (unsigned i = 0; i < n; i++)
		x = step(x);
	sink = x;
}

static __attribute__((noinline, no_icf)) void share_c(unsigned n)
{
	uint64_t x = sink;

	for (unsigned i = 0; i < n; i++)
		x = step(x);
	sink = x;
}

static __attribute__((noinline)) void *worker(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&started);
	for (;;) {
		share_a(ra);
		share_b(rb);
		share_c(rc);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 1, c;
	pthread_t t;

	while ((c = getopt(argc, argv, "t:r:")) != -1) {
		switch (c) {
		case 't': threads = atoi(optarg); break;
		case 'r':
			if (sscanf(optarg, "%u:%u:%u", &ra, &rb, &rc) != 3)
				return 2;
			break;
		default:
			fprintf(stderr, "usage: shares [-t N] [-r A:B:C]\n");
			return 2;
		}
	}
	if (threads < 1)
		return 2;
	pthread_barrier_init(&started, NULL, threads + 1);
	for (int i = 0; i < threads; i++)
		pthread_create(&t, NULL, worker, NULL);
	pthread_barrier_wait(&started);
	printf("ready %d\n", getpid());
	fflush(stdout);
	for (;;)
		pause();
}
