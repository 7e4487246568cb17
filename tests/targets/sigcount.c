/*
 * tests/targets/sigcount.c - counts the signals it receives while burning
 * cpu: SIGRTMIN (queued, never merged, so every one sent must arrive) and
 * SIGUSR1.  Prints "ready PID"; on SIGUSR2 prints "rt N usr1 N" and exits.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t rt, usr1;
static volatile uint64_t sink;

static void on_rt(int sig) { (void)sig; rt++; }
static void on_usr1(int sig) { (void)sig; usr1++; }

static void on_usr2(int sig)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "rt %d usr1 %d\n", (int)rt, (int)usr1);

	(void)sig;
	if (write(1, buf, n) < 0)
		_exit(1);
	_exit(0);
}

static __attribute__((noinline)) void spin(void)
{
	uint64_t x = sink;

	for (int i = 0; i < 100000; i++)
		x = x * 6364136223846793005ULL + 1;
	sink = x;
}

int main(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_rt;
	sigaction(SIGRTMIN, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	printf("ready %d\n", getpid());
	fflush(stdout);
	for (;;)
		spin();
}
