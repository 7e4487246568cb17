/*
 * tests/targets/jit.c - runs machine code from an anonymous mapping that has
 * no unwind information, like a JIT: a loop `dec %rdi; jnz; ret` called
 * from run_jit().  Prints "ready PID"; runs until killed.
 *
 * jit -m also names it in /tmp/perf-PID.map, as JIT compilers do: first
 * as old_code, then (a later line, the code rewritten in place) jit_loop.
 * jit -n N: exits after N calls of it (~30-50 ms each) instead.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const unsigned char code[] = {
	0x48, 0xff, 0xcf,	/* 1: dec %rdi */
	0x75, 0xfb,		/* jnz 1b */
	0xc3,			/* ret */
};

static __attribute__((noinline)) void run_jit(void (*fn)(uint64_t), long calls)
{
	for (long i = 0; calls < 0 || i < calls; i++)
		fn(100000000);
}

static int write_perf_map(const void *p)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "%lx %zx old_code\n", (unsigned long)p, sizeof(code));
	fprintf(f, "%lx %zx jit_loop\n", (unsigned long)p, sizeof(code));
	return fclose(f);
}

int main(int argc, char **argv)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	long calls = -1;
	int opt;

	while ((opt = getopt(argc, argv, "mn:")) != -1) {
		if (opt == 'm' && write_perf_map(p))
			return 1;
		if (opt == 'n')
			calls = atol(optarg);
	}
	memcpy(p, code, sizeof(code));
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC))
		return 1;
	printf("ready %d\n", getpid());
	fflush(stdout);
	run_jit((void (*)(uint64_t))p, calls);
	return 0;
}
