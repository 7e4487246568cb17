/*
 * tests/targets/heapmix.c - two allocating call sites whose truth is known.
 *
 *   heapmix [-i ITERS_PER_SEC] [-n RING] [-x SECONDS] [-T]
 *
 * Each iteration takes a size s from a fixed cycle of 16 (32..992 bytes,
 * mean 512): churn() allocates 3s and frees it at once, keep() allocates s
 * and keeps it in a ring of RING live blocks (default 16384), freeing the
 * block it replaces.  So 3/4 of the bytes come from churn, 1/4 from keep,
 * with equal call counts (a sampler by calls must still weigh by size);
 * once the ring has turned over, the live bytes are RING x 512, all from
 * keep.  Paced to ITERS_PER_SEC (default 8000) in steps of 1/100 s.
 * Prints "ready PID" once the ring is full; with -x, exits after SECONDS.
 * With -T, every 10th step starts a short-lived thread that allocates in
 * worker_alloc() (threads born while cprof records).  On SIGUSR1 it checks that
 * every allocator function still works and prints "malloc ok" (or dies).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NSIZES 16

static void **ring;
static unsigned long nring = 16384;
static volatile sig_atomic_t check;

static size_t size_at(unsigned long i)
{
	return 32 + 64 * (i % NSIZES);
}

static __attribute__((noinline)) void churn(size_t s)
{
	void *volatile p = malloc(3 * s);

	free(p);
	__asm__ volatile("" ::: "memory");	/* no tail call */
}

static __attribute__((noinline)) void keep(unsigned long i, size_t s)
{
	free(ring[i % nring]);
	ring[i % nring] = malloc(s);
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void worker_alloc(size_t s)
{
	void *volatile p = malloc(s);

	free(p);
	__asm__ volatile("" ::: "memory");
}

static void *worker(void *arg)
{
	(void)arg;
	for (int k = 0; k < 2000; k++)
		worker_alloc(4096);
	return NULL;
}

static void self_check(void)
{
	void *p = NULL, *q;

	for (size_t s = 1; s < (1 << 20); s = s * 3 + 1) {
		q = malloc(s);
		memset(q, 1, s);
		q = realloc(q, 2 * s);
		free(q);
		q = calloc(s, 2);
		free(q);
		if (posix_memalign(&p, 64, s))
			abort();
		free(p);
		free(aligned_alloc(64, 64 * (s / 64 + 1)));
		free(memalign(4096, s));
		free(valloc(s));
	}
	printf("malloc ok\n");
	fflush(stdout);
}

static void on_usr1(int sig)
{
	(void)sig;
	check = 1;
}

int main(int argc, char **argv)
{
	unsigned long per_sec = 8000, i = 0, rounds = 0, max_rounds = 0;
	int threads = 0;
	struct timespec next;
	int c;

	while ((c = getopt(argc, argv, "i:n:x:T")) != -1) {
		if (c == 'T')
			threads = 1;
		else if (c == 'x')
			max_rounds = 100 * strtoul(optarg, NULL, 10);
		else if (c == 'i')
			per_sec = strtoul(optarg, NULL, 10);
		else if (c == 'n')
			nring = strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	signal(SIGUSR1, on_usr1);
	ring = calloc(nring, sizeof(*ring));
	for (; i < nring; i++)
		keep(i, size_at(i));
	printf("ready %d\n", getpid());
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!max_rounds || rounds++ < max_rounds) {
		for (unsigned long k = 0; k < per_sec / 100; k++, i++) {
			size_t s = size_at(i);

			churn(s);
			keep(i, s);
		}
		if (threads && rounds % 10 == 0) {
			pthread_t t;

			if (!pthread_create(&t, NULL, worker, NULL))
				pthread_detach(t);
		}
		if (check) {
			check = 0;
			self_check();
		}
		next.tv_nsec += 10000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return 0;
}
