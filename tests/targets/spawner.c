/*
 * tests/targets/spawner.c - creates short-lived busy threads all the time:
 * every 10 ms a thread that burns ~30 ms of cpu in spawned_work() and
 * exits.  Prints "ready PID"; after SECONDS (argv[1], default 5) prints
 * "threads N" and exits.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static __attribute__((noinline)) void *spawned_work(void *arg)
{
	uint64_t end = cpu_ns() + 30000000ULL, x = 1;

	(void)arg;
	while (cpu_ns() < end)
		for (int i = 0; i < 10000; i++)
			x = x * 2862933555777941757ULL + 3037000493ULL;
	sink += x;
	return NULL;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 5, n = 0;
	struct timespec start, now, tick = { 0, 10000000 };
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	printf("ready %d\n", getpid());
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		pthread_t t;

		if (pthread_create(&t, &attr, spawned_work, NULL) == 0)
			n++;
		nanosleep(&tick, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) * 1000000000LL + (now.tv_nsec - start.tv_nsec) <
		 seconds * 1000000000LL);	/* (whole seconds apart ended "1" anywhere in 0-1 s) */
	printf("threads %d\n", n);
	return 0;
}
