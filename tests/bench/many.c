/*
 * tests/bench/many.c - many [N]: a process with N threads (default 16),
 * each parked in a short call chain (park -> wait_here -> pthread_cond_wait),
 * like a thread-pool server at rest.  Prints "ready PID" when all wait.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int waiting;

static __attribute__((noinline)) void wait_here(void)
{
	pthread_mutex_lock(&mu);
	waiting++;
	for (;;)
		pthread_cond_wait(&cv, &mu);
}

static __attribute__((noinline)) void *park(void *arg)
{
	(void)arg;
	wait_here();
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 16;
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (int i = 0; i < n; i++)
		if (pthread_create(&t, &attr, park, NULL))
			return 1;
	for (;;) {
		pthread_mutex_lock(&mu);
		int w = waiting;
		pthread_mutex_unlock(&mu);
		if (w == n)
			break;
		usleep(1000);
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	for (;;)
		pause();
}
