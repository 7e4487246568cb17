/*
 * tests/targets/tailcall2.c - the far end of tailcall.c's chain: tc_b and
 * tc_c leave by a tail call; tc_wait and tc_block wait, by a real call,
 * on a condition variable nobody signals; tc_wait_for() tells main when.
 */
#include <pthread.h>

#include "tailcall.h"

#define NOIPA __attribute__((noipa))

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t counted = PTHREAD_COND_INITIALIZER;
static volatile int go;
static int waiting;

NOIPA int tc_block(int x)
{
	pthread_mutex_lock(&mu);
	waiting++;
	pthread_cond_signal(&counted);
	while (!go)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return x + go;
}

/*
 * Until n threads wait in tc_block: each counted itself holding mu, which
 * only its pthread_cond_wait gives back.
 */
void tc_wait_for(int n)
{
	pthread_mutex_lock(&mu);
	while (waiting < n)
		pthread_cond_wait(&counted, &mu);
	pthread_mutex_unlock(&mu);
}

static NOIPA int tc_wait(int x)
{
	int r = tc_block(x);

	return r + 1;
}

static NOIPA int tc_c(int x)
{
	return tc_wait(x * 3);
}

NOIPA int tc_b(int x)
{
	return tc_c(x - 1);
}
