/*
 * tests/bench/mallocloop.c - allocation throughput: malloc(16..4096) and
 * free in a loop, with W units of work (a few ns each) between calls,
 * for S seconds.  Prints "ops_per_sec N".  W = 0 is flat out; the bench
 * picks W so that the unprofiled loop makes ~20k allocations a second.
 * -g: after "ready", wait for a line on stdin before starting (a profiler
 * that attaches by pid and takes seconds to load is in place by then).
 *
 *   mallocloop [-w W] [-s SECONDS] [-g]
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;
static volatile uint64_t acc;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long work = 0, ops = 0;
	double secs = 3, start, end;
	uint64_t x = 88172645463325252ULL;
	int c, go = 0;

	while ((c = getopt(argc, argv, "w:s:g")) != -1) {
		if (c == 'w')
			work = strtoul(optarg, NULL, 10);
		else if (c == 's')
			secs = atof(optarg);
		else if (c == 'g')
			go = 1;
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (go) {
		char line[16];

		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	start = now();
	end = start + secs;
	for (;;) {
		for (int k = 0; k < 64; k++, ops++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			sink = malloc(16 + x % 4081);
			free(sink);
			for (unsigned long w = 0; w < work; w++)
				acc = acc * 6364136223846793005ULL + w;
		}
		if (now() >= end)
			break;
	}
	printf("ops_per_sec %.0f\n", ops / (now() - start));
	return 0;
}
