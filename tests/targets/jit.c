/*
 * tests/targets/jit.c - runs machine code from an anonymous mapping that has
 * no unwind information, like a JIT: a loop `dec %rdi; jnz; ret` called
 * from run_jit().  Prints "ready PID"; runs until killed.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const unsigned char code[] = {
	0x48, 0xff, 0xcf,	/* 1: dec %rdi */
	0x75, 0xfb,		/* jnz 1b */
	0xc3,			/* ret */
};

static __attribute__((noinline)) void run_jit(void (*fn)(uint64_t))
{
	for (;;)
		fn(100000000);
}

int main(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	memcpy(p, code, sizeof(code));
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC))
		return 1;
	printf("ready %d\n", getpid());
	fflush(stdout);
	run_jit((void (*)(uint64_t))p);
	return 0;
}
