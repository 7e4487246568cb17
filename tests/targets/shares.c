/*
 * tests/targets/shares.c - threads whose cpu splits over three functions in
 * a known ratio, with no system call while they work (unless -k).
 *
 *   shares [-t THREADS] [-r A:B:C] [-k N]
 *
 * Each thread loops over share_a, share_b and share_c, which run the same
 * inlined step A, B and C times (default 50:30:20): the split is in the
 * work done, not in clock readings, so it holds on a loaded machine too.
 * No system call in the loop means the kernel brings the thread's cpu time
 * (schedstat) up to date only at its scheduler tick or when it is switched
 * out: the case where cpu read from outside lags (tests/t0004-accuracy.sh).
 * The three are kept apart (no_icf): gcc would fold identical functions.
 * -k N makes it syscall-heavy (issue 24): the loop calls clock_gettime
 * (a real system call on a VM whose clocksource has no vDSO) after every
 * chunk of at most N steps, each share's call split into such chunks so
 * the split holds; on SIGTERM or SIGINT it prints the calls a second on
 * stderr ("clock_calls N in S s: R/s"), then exits.
 * Prints "ready PID" once every thread works.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define STEP_ITERS 4000	/* one step: ~5 us */

static unsigned ra = 50, rb = 30, rc = 20, chunk;
static volatile uint64_t sink;
static uint64_t clock_calls;
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

/* share(n) in chunks of at most chunk steps, a clock_gettime after each */
static void chunked(void (*share)(unsigned), unsigned n)
{
	struct timespec ts;

	while (n) {
		unsigned k = n < chunk ? n : chunk;

		share(k);
		n -= k;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		__atomic_fetch_add(&clock_calls, 1, __ATOMIC_RELAXED);
	}
}

static __attribute__((noinline)) void *worker(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&started);
	for (;;) {
		if (chunk) {
			chunked(share_a, ra);
			chunked(share_b, rb);
			chunked(share_c, rc);
			continue;
		}
		share_a(ra);
		share_b(rb);
		share_c(rc);
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int threads = 1, c, sig;
	pthread_t t;
	sigset_t stop;
	double t0;

	while ((c = getopt(argc, argv, "t:r:k:")) != -1) {
		switch (c) {
		case 't': threads = atoi(optarg); break;
		case 'r':
			if (sscanf(optarg, "%u:%u:%u", &ra, &rb, &rc) != 3)
				return 2;
			break;
		case 'k': chunk = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: shares [-t N] [-r A:B:C] [-k N]\n");
			return 2;
		}
	}
	if (threads < 1)
		return 2;
	/* -k: the workers inherit the mask, so the signal waits for sigwait */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	if (chunk)
		pthread_sigmask(SIG_BLOCK, &stop, NULL);
	pthread_barrier_init(&started, NULL, threads + 1);
	for (int i = 0; i < threads; i++)
		pthread_create(&t, NULL, worker, NULL);
	pthread_barrier_wait(&started);
	t0 = now();
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (chunk) {
		uint64_t n;

		sigwait(&stop, &sig);
		n = __atomic_load_n(&clock_calls, __ATOMIC_RELAXED);
		t0 = now() - t0;
		fprintf(stderr, "clock_calls %llu in %.2f s: %.0f/s\n",
			(unsigned long long)n, t0, n / t0);
		return 0;
	}
	for (;;)
		pause();
}
