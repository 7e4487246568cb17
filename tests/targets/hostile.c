/*
 * tests/targets/hostile.c - stacks and endings that break naive unwinders
 * and tracers.  One mode per run; each prints "ready PID" once it is in
 * the state and, unless it ends by itself, spins there until SIGTERM.
 *
 *   deep N      recursion N frames deep (deep_here), spinning at the bottom
 *               (ready said there)
 *   smash       a frame whose saved return address and frame pointer are
 *               overwritten with garbage, spinning (never returns)
 *   context     spinning on a makecontext/swapcontext stack (coro_here)
 *   altstack    spinning in a signal handler on a sigaltstack (alt_here)
 *   exitthread  a second thread calls exit_group(7) once SIGUSR1 arrives
 *   segv        the process dies of SIGSEGV once SIGUSR1 arrives
 *   execthread  a second thread execs `hostile deep 3` once SIGUSR1 arrives
 *               (the thread group changes leader)
 *   forker      forks a child every 2 ms, each exits at once; reaped
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static volatile uint64_t sink;
static volatile sig_atomic_t go;
static char *self;

static void ready(void)
{
	printf("ready %d\n", getpid());
	fflush(stdout);
}

static volatile int forever = 1;

static __attribute__((noinline)) void spin(int seed)
{
	uint64_t x = (uint64_t)seed;

	while (forever) {
		for (int i = 0; i < 100000; i++)
			x = x * 6364136223846793005ULL + 1;
		sink = x;
	}
}

/* ready only at the bottom: every sample after it sees the whole depth */
static __attribute__((noinline)) void deep_here(int n)
{
	if (n > 0) {
		deep_here(n - 1);
	} else {
		ready();
		spin(1);
	}
	__asm__ volatile("" ::: "memory");	/* not a tail call */
}

/*
 * Overwrite this frame's saved return address and whatever sits above it
 * with garbage, then spin in inline asm: never returns.
 */
static __attribute__((noinline)) void smash_here(void)
{
	volatile uint64_t *ra = __builtin_frame_address(0);

	for (int i = -2; i < 16; i++)
		ra[i] = 0xdeadbeefcafe0000ULL + (uint64_t)i;
	__asm__ volatile("1: pause\n\tjmp 1b" ::: "memory");
}

static ucontext_t main_ctx, coro_ctx;

static __attribute__((noinline)) void coro_here(void)
{
	spin(2);
	__asm__ volatile("" ::: "memory");
}

static void coro_entry(void)
{
	coro_here();
}

static __attribute__((noinline)) void alt_here(void)
{
	spin(3);
	__asm__ volatile("" ::: "memory");
}

static void on_alrm(int sig)
{
	(void)sig;
	alt_here();
}

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static void *exiter(void *arg)
{
	(void)arg;
	while (!go)
		sink++;
	syscall(SYS_exit_group, 7);
	return NULL;
}

static void *execer(void *arg)
{
	char *argv[] = { self, "deep", "3", NULL };

	(void)arg;
	while (!go)
		sink++;
	execv("/proc/self/exe", argv);
	_exit(99);
}

static void *busy(void *arg)
{
	(void)arg;
	spin(4);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	pthread_t t;

	self = argv[0];
	signal(SIGUSR1, on_usr1);
	if (!strcmp(mode, "deep")) {
		deep_here(argc > 2 ? atoi(argv[2]) : 10000);
	} else if (!strcmp(mode, "smash")) {
		ready();
		smash_here();
	} else if (!strcmp(mode, "context")) {
		static char stack[256 * 1024];

		getcontext(&coro_ctx);
		coro_ctx.uc_stack.ss_sp = stack;
		coro_ctx.uc_stack.ss_size = sizeof(stack);
		coro_ctx.uc_link = &main_ctx;
		makecontext(&coro_ctx, coro_entry, 0);
		ready();
		swapcontext(&main_ctx, &coro_ctx);
	} else if (!strcmp(mode, "altstack")) {
		static char alt[64 * 1024];
		stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) };
		struct sigaction sa = { .sa_handler = on_alrm, .sa_flags = SA_ONSTACK };

		sigaltstack(&ss, NULL);
		sigaction(SIGALRM, &sa, NULL);
		ready();
		raise(SIGALRM);
	} else if (!strcmp(mode, "exitthread")) {
		pthread_create(&t, NULL, exiter, NULL);
		pthread_create(&t, NULL, busy, NULL);
		ready();
		spin(5);
	} else if (!strcmp(mode, "segv")) {
		pthread_create(&t, NULL, busy, NULL);
		ready();
		while (!go)
			sink++;
		*(volatile int *)(uintptr_t)sink = 0;	/* sink is small: unmapped */
		*(volatile int *)0 = 0;
	} else if (!strcmp(mode, "execthread")) {
		pthread_create(&t, NULL, execer, NULL);
		pthread_create(&t, NULL, busy, NULL);
		ready();
		spin(6);
	} else if (!strcmp(mode, "forker")) {
		struct timespec ts = { 0, 2000000 };

		ready();
		for (;;) {
			pid_t c = fork();

			if (c == 0)
				_exit(0);
			if (c > 0)
				waitpid(c, NULL, 0);
			nanosleep(&ts, NULL);
			sink++;
		}
	} else {
		fprintf(stderr, "usage: hostile deep N|smash|context|altstack|exitthread|segv|execthread|forker\n");
		return 2;
	}
	return 0;
}
