/*
 * tests/targets/sigmix.c - a process receiving ~3000 signals a second while
 * it burns cpu, counting each kind so that a lost or doubled signal shows:
 *   SIGALRM  a 1 ms POSIX timer; handled + overruns = expirations
 *   SIGUSR1  from another process (a forked sender), each acknowledged
 *            through a pipe before the next is sent: received = sent
 *   SIGCHLD  from a child forked every ms; the handler reaps: reaped = forked
 * Prints "ready PID"; on SIGTERM stops, settles, prints
 * "alrm_total N alrm_expected N usr1 GOT SENT chld REAPED FORKED" and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
	volatile long usr1_sent;
	volatile int stop_sender;
};

static struct shared *sh;
static volatile long alrm, overruns, usr1, reaped;
static volatile sig_atomic_t term;
static volatile uint64_t sink;
static timer_t timer;
static int ack[2];
static pid_t sender;

static void on_alrm(int sig)
{
	int o = timer_getoverrun(timer);

	(void)sig;
	alrm++;
	if (o > 0)
		overruns += o;
}

static void on_usr1(int sig)
{
	int e = errno;

	(void)sig;
	usr1++;
	if (write(ack[1], "a", 1) < 0)
		_exit(3);
	errno = e;
}

static void on_chld(int sig)
{
	int e = errno;
	pid_t p;

	(void)sig;
	while ((p = waitpid(-1, NULL, WNOHANG)) > 0)
		if (p != sender)
			reaped++;
	errno = e;
}

static void on_term(int sig)
{
	(void)sig;
	term = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void send_loop(pid_t target)
{
	struct timespec pace = { 0, 1000000 };
	char c;

	close(ack[1]);
	while (!sh->stop_sender) {
		if (kill(target, SIGUSR1))
			_exit(1);
		sh->usr1_sent++;
		/* the next only after this one was handled: none can merge */
		while (read(ack[0], &c, 1) < 0 && errno == EINTR)
			;
		nanosleep(&pace, NULL);
	}
	_exit(0);
}

int main(void)
{
	struct sigaction sa = { .sa_flags = SA_RESTART };
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM };
	struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } }, off = { 0 };
	uint64_t start, last_fork = 0, x = 1;
	long forked = 0;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || pipe(ack))
		return 1;
	sa.sa_handler = on_alrm;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sender = fork();
	if (sender == 0)
		send_loop(getppid());
	close(ack[0]);
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer))
		return 1;
	start = now_ns();
	timer_settime(timer, 0, &its, NULL);
	printf("ready %d\n", getpid());
	fflush(stdout);
	while (!term) {
		uint64_t t = now_ns();

		for (int i = 0; i < 20000; i++)
			x = x * 6364136223846793005ULL + 1;
		sink = x;
		if (t - last_fork >= 1000000) {
			pid_t c = fork();

			if (c == 0)
				_exit(0);
			if (c > 0)
				forked++;
			last_fork = t;
		}
	}
	/* settle: no more timer, sender, or children */
	timer_settime(timer, 0, &off, NULL);
	uint64_t elapsed = now_ns() - start;
	sh->stop_sender = 1;
	while (waitpid(sender, NULL, 0) < 0 && errno == EINTR)
		;
	for (int i = 0; i < 5000 && reaped < forked; i++) {
		struct timespec ms = { 0, 1000000 };

		on_chld(SIGCHLD);
		nanosleep(&ms, NULL);
	}
	printf("alrm_total %ld alrm_expected %llu usr1 %ld %ld chld %ld %ld\n",
	       alrm + overruns, (unsigned long long)(elapsed / 1000000), usr1,
	       sh->usr1_sent, reaped, forked);
	return 0;
}
