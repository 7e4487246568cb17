/*
 * tests/bench/spin.c - a fixed amount of work, timed: spin [-t THREADS]
 * [-n ROUNDS] [-y]: each thread runs ROUNDS rounds of a compute loop (with
 * -y, a getppid() system call every ~5 us: a syscall-heavy thread).  With
 * -i IDLE, IDLE more threads wait on a condition variable that is signalled
 * every 10 ms, one thread at a time (a thread pool at rest).  Prints
 * "ready PID" when started and "elapsed_ms N" (wall time of the work) at
 * the end.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long rounds = 2000;
static int syscalls;
static volatile uint64_t sink;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static __attribute__((noinline)) uint64_t compute(uint64_t x, int n)
{
	for (int i = 0; i < n; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

static void *worker(void *arg)
{
	uint64_t x = (uintptr_t)arg;

	for (long r = 0; r < rounds; r++) {
		for (int k = 0; k < 200; k++) {
			x = compute(x, 5000);
			if (syscalls)
				syscall(SYS_getppid);
		}
	}
	sink += x;
	return NULL;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static __attribute__((noinline)) void *idle(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;)
		pthread_cond_wait(&cv, &mu);
	return NULL;
}

static void *ticker(void *arg)
{
	struct timespec ts = { 0, 10000000 };

	(void)arg;
	for (;;) {
		nanosleep(&ts, NULL);
		pthread_cond_signal(&cv);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 1, nidle = 0, c;
	pthread_t t[64];
	uint64_t start;

	while ((c = getopt(argc, argv, "t:n:yi:")) != -1) {
		if (c == 'i')
			nidle = atoi(optarg);
		else if (c == 't')
			threads = atoi(optarg);
		else if (c == 'n')
			rounds = atol(optarg);
		else if (c == 'y')
			syscalls = 1;
		else
			return 2;
	}
	if (threads < 1 || threads > 64)
		return 2;
	for (int i = 0; i < nidle; i++) {
		pthread_t it;

		pthread_create(&it, NULL, i ? idle : ticker, NULL);
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	start = mono_ns();
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("elapsed_ms %.1f\n", (mono_ns() - start) / 1e6);
	return 0;
}
