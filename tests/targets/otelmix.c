/*
 * tests/targets/otelmix.c - a program that samples its own allocations as
 * OpenTelemetry's memory-profiling contract has it, with <sys/sdt.h>:
 * an exponential draw by bytes (mean RATE, Go's), the USDT probe
 * otel_memory:alloc(ptr, size, weight) at each sampled allocation (weight:
 * its unbiased bytes, size / (1 - e^(-size/RATE))) and otel_memory:free(ptr)
 * at a sampled block's free.  Each probe is behind its semaphore, as a
 * sampler that costs nothing unwatched has it: with no probe in, nothing
 * is drawn and nothing fires.
 *
 *   otelmix [-r RATE] [-n RING] [-x SECONDS]
 *
 * heapmix's two sites: each iteration churn() allocates 3s and frees it,
 * keep() allocates s into a ring of RING blocks (default 1024), s cycling
 * 32..992 bytes (mean 512), 8000 iterations a second; 3/4 of the bytes
 * are churn's, and the live bytes are RING x 512, all keep's.  Prints
 * "ready PID"; on SIGUSR1 prints "semaphores A F": the two semaphores,
 * which the kernel raises while a probe is in and lowers when it goes.
 */
#define _GNU_SOURCE
#define _SDT_HAS_SEMAPHORES 1
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

unsigned short otel_memory_alloc_semaphore __attribute__((section(".probes"), used));
unsigned short otel_memory_free_semaphore __attribute__((section(".probes"), used));

#define NSIZES 16
#define NSAMPLED (1 << 16)

static double rate = 4096;
static int64_t left;
static uintptr_t sampled[NSAMPLED];	/* open addressing: 0 empty, 1 deleted */
static volatile sig_atomic_t report;

static size_t slot(uintptr_t p)
{
	return (size_t)((p >> 4) * 0x9e3779b97f4a7c15ULL >> 48) & (NSAMPLED - 1);
}

static int remember(uintptr_t p)
{
	for (size_t i = slot(p), k = 0; k < NSAMPLED; i = (i + 1) & (NSAMPLED - 1), k++)
		if (sampled[i] <= 1) {
			sampled[i] = p;
			return 1;
		}
	return 0;	/* full: not sampled */
}

static int forget(uintptr_t p)
{
	for (size_t i = slot(p), k = 0; k < NSAMPLED && sampled[i]; i = (i + 1) & (NSAMPLED - 1), k++)
		if (sampled[i] == p) {
			sampled[i] = 1;
			return 1;
		}
	return 0;
}

static int64_t next_sample(void)
{
	double u = (random() + 1.0) / (RAND_MAX + 2.0);

	return (int64_t)(-log(u) * rate) + 1;
}

/* the sampler: the function the probe is in */
static __attribute__((noinline)) void *otel_malloc(size_t n)
{
	void *p = malloc(n);

	if (p && otel_memory_alloc_semaphore && (left -= (int64_t)n) <= 0) {
		left = next_sample();
		if (remember((uintptr_t)p)) {
			uint64_t w = (uint64_t)((double)n / -expm1(-(double)n / rate) + 0.5);

			STAP_PROBE3(otel_memory, alloc, p, n, w);
		}
	}
	return p;
}

static __attribute__((noinline)) void otel_free(void *p)
{
	if (p && otel_memory_free_semaphore && forget((uintptr_t)p))
		STAP_PROBE1(otel_memory, free, p);
	free(p);
}

static void **ring;
static unsigned long nring = 1024;

static size_t size_at(unsigned long i)
{
	return 32 + 64 * (i % NSIZES);
}

static __attribute__((noinline)) void churn(size_t s)
{
	otel_free(otel_malloc(3 * s));
	__asm__ volatile("" ::: "memory");	/* no tail call */
}

static __attribute__((noinline)) void keep(unsigned long i, size_t s)
{
	otel_free(ring[i % nring]);
	ring[i % nring] = otel_malloc(s);
	__asm__ volatile("" ::: "memory");
}

static void on_usr1(int sig)
{
	(void)sig;
	report = 1;
}

int main(int argc, char **argv)
{
	unsigned long i = 0, rounds = 0, max_rounds = 0;
	struct timespec next;
	int c;

	while ((c = getopt(argc, argv, "r:n:x:")) != -1) {
		if (c == 'r')
			rate = strtod(optarg, NULL);
		else if (c == 'n')
			nring = strtoul(optarg, NULL, 10);
		else if (c == 'x')
			max_rounds = 100 * strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (rate < 1 || !nring)
		return 2;
	srandom((unsigned)getpid());
	left = next_sample();
	signal(SIGUSR1, on_usr1);
	ring = calloc(nring, sizeof(*ring));
	for (; i < nring; i++)
		keep(i, size_at(i));
	printf("ready %d\n", getpid());
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!max_rounds || rounds++ < max_rounds) {
		for (unsigned long k = 0; k < 80; k++, i++) {
			churn(size_at(i));
			keep(i, size_at(i));
		}
		if (report) {
			report = 0;
			printf("semaphores %u %u\n", otel_memory_alloc_semaphore,
			       otel_memory_free_semaphore);
			fflush(stdout);
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
