/*
 * tests/targets/tailcall.c - threads blocked under functions that left the
 * stack by a tail call (a jmp), for tests/t0017-tailcall.sh:
 *   "chain"  chain_top -> tc_a =jmp=> tc_b =jmp=> tc_c =jmp=> tc_wait,
 *            blocked in pthread_cond_wait (whose own futex wait is reached
 *            through a tail call in libc)
 *   "amb"    amb_top -> amb_y =jmp=> amb_p or amb_q =jmp=> tc_block: two
 *            chains lead from amb_y to tc_block, so the missing frames
 *            cannot be told (and no frame is common to both: gdb shows
 *            none either)
 * tc_b, tc_c and tc_wait live in tailcall2.c: a call site there names its
 * target by a declaration, here by a definition.  noipa keeps gcc from
 * cloning or merging the functions; -O2 makes the "return f(x)" jumps.
 * Prints "ready PID" once both threads wait in pthread_cond_wait.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "tailcall.h"

static pthread_barrier_t started;

#define NOIPA __attribute__((noipa))

NOIPA int tc_a(int x)
{
	return tc_b(x + 1);
}

static NOIPA int amb_p(int x)
{
	return tc_block(x + 1);
}

static NOIPA int amb_q(int x)
{
	return tc_block(x + 2);
}

static NOIPA int amb_y(int x)
{
	if (x & 1)
		return amb_p(x * 5);
	return amb_q(x * 7);
}

/* a real call: the callers' frames stay */
static NOIPA int chain_top(int x)
{
	return tc_a(x) + 1;
}

static NOIPA int amb_top(int x)
{
	return amb_y(x) + 1;
}

static void *chain_main(void *arg)
{
	prctl(PR_SET_NAME, "chain");
	pthread_barrier_wait(&started);
	return (void *)(long)chain_top((int)(long)arg);
}

static void *amb_main(void *arg)
{
	prctl(PR_SET_NAME, "amb");
	pthread_barrier_wait(&started);
	return (void *)(long)amb_top((int)(long)arg);
}

int main(int argc, char **argv)
{
	pthread_t a, b;

	pthread_barrier_init(&started, NULL, 3);
	pthread_create(&a, NULL, chain_main, (void *)(long)argc);
	pthread_create(&b, NULL, amb_main, (void *)(long)argc);
	pthread_barrier_wait(&started);
	tc_wait_for(2);
	printf("ready %d\n", getpid());
	fflush(stdout);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return 0;
}
