/*
 * tests/targets/jit.c - runs machine code from an anonymous mapping that has
 * no unwind information, like a JIT: a loop `dec %rdi; jnz; ret` called
 * from run_jit().  Prints "ready PID"; runs until killed.
 *
 * jit -m also names it in /tmp/perf-PID.map, as JIT compilers do: first
 * as old_code, then (a later line, the code rewritten in place) jit_loop.
 * jit -n N: exits after N calls of it (~30-50 ms each) instead.
 * jit -d DIR writes a jitdump instead, DIR/jit-PID.dump, and maps it as
 * JITs do: old_code loaded at the code, jit_loop loaded elsewhere and
 * then moved onto it (the later record).
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

/* perf's jitdump format: a header, then {id, size, timestamp} records */
static void jd_record(FILE *f, uint32_t id, const void *body, size_t len, const char *name)
{
	uint32_t h[2] = { id, (uint32_t)(16 + len + (name ? strlen(name) + 1 + sizeof(code) : 0)) };
	uint64_t ts = 0;

	fwrite(h, 4, 2, f);
	fwrite(&ts, 8, 1, f);
	fwrite(body, 1, len, f);
	if (name) {
		fwrite(name, 1, strlen(name) + 1, f);
		fwrite(code, 1, sizeof(code), f);
	}
}

static int write_jitdump(const char *dir, const void *p)
{
	char path[4096];
	uint32_t pid = (uint32_t)getpid();
	uint32_t head[10] = { 0x4A695444, 1, 40, 62, 0, pid };
	uint64_t at = (uint64_t)(uintptr_t)p, elsewhere = at + 0x800, size = sizeof(code);
	uint64_t load1[5] = { pid | (uint64_t)pid << 32, 0, at, size, 1 };
	uint64_t load2[5] = { pid | (uint64_t)pid << 32, 0, elsewhere, size, 2 };
	uint64_t move[6] = { pid | (uint64_t)pid << 32, 0, elsewhere, at, size, 2 };
	FILE *f;
	void *mark;

	snprintf(path, sizeof(path), "%s/jit-%d.dump", dir, getpid());
	f = fopen(path, "w+");
	if (!f)
		return -1;
	fwrite(head, 4, 10, f);
	jd_record(f, 0, load1, sizeof(load1), "old_code");
	jd_record(f, 0, load2, sizeof(load2), "jit_loop");
	jd_record(f, 1, move, sizeof(move), NULL);
	fflush(f);
	/* the marker profilers look for in the maps */
	mark = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fileno(f), 0);
	return mark == MAP_FAILED ? -1 : 0;
}

int main(int argc, char **argv)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	long calls = -1;
	int opt;

	while ((opt = getopt(argc, argv, "md:n:")) != -1) {
		if (opt == 'm' && write_perf_map(p))
			return 1;
		if (opt == 'd' && write_jitdump(optarg, p))
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
