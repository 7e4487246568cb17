/*
 * tests/targets/work.c - cpu burners with known stacks, kept in a file of
 * their own and noinline so the profile shows exactly these functions.
 */
#define _GNU_SOURCE
#include "work.h"
#include <stdlib.h>
#include <time.h>

volatile uint64_t work_sink;

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static __attribute__((always_inline)) inline uint64_t mix_inline(uint64_t x)
{
	for (int i = 0; i < 64; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

__attribute__((noinline)) void work_a(unsigned ms)
{
	uint64_t end = thread_cpu_ns() + ms * 1000000ULL, x = 1;

	while (thread_cpu_ns() < end)
		for (int i = 0; i < 20000; i++)
			x = x * 2862933555777941757ULL + 3037000493ULL;
	work_sink += x;
}

__attribute__((noinline)) void work_b(unsigned ms)
{
	uint64_t end = thread_cpu_ns() + ms * 1000000ULL, x = 3;

	while (thread_cpu_ns() < end)
		for (int i = 0; i < 300; i++)
			x = mix_inline(x);
	work_sink += x;
}

static __attribute__((noinline)) int cmp_slow(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	for (int i = 0; i < 200; i++)
		x = x * 6364136223846793005ULL + 1;
	work_sink += x;
	return (*(const uint64_t *)a > y) - (*(const uint64_t *)a < y);
}

__attribute__((noinline)) void work_c(unsigned ms)
{
	uint64_t end = thread_cpu_ns() + ms * 1000000ULL, v[256];

	while (thread_cpu_ns() < end) {
		for (int i = 0; i < 256; i++)
			v[i] = (uint64_t)rand();
		qsort(v, 256, sizeof(v[0]), cmp_slow);
	}
}
