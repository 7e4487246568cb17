/*
 * tests/targets/plt.c - spends a good share of its cpu in PLT stubs: a
 * loop of calls into libc that return at once (memchr of 0 bytes) through
 * the binary's PLT.  Prints "ready PID"; runs until killed.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static volatile char buf[16] = "0123456789abcde";
static volatile size_t len;	/* 0, unknown to the compiler */
static volatile long sink;

static __attribute__((noinline)) void call_libc(void)
{
	for (int i = 0; i < 1000; i++)
		sink += (long)(intptr_t)memchr((const char *)buf, 'x', len);
}

int main(void)
{
	printf("ready %d\n", getpid());
	fflush(stdout);
	for (;;)
		call_libc();
}
