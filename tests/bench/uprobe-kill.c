/*
 * tests/bench/uprobe-kill.c - does the kernel take a uprobe's breakpoint
 * out when the process that opened the event dies while events are being
 * opened or closed?  The measurement behind attach/keeper.h.
 *
 *   uprobe-kill [TRIALS [WAY...]]
 *
 * A child (the target) calls probed_fn every 200 us.  For each way of
 * working, a prober process is started TRIALS times: it opens uprobe
 * events (perf_event_open, the uprobe PMU) on probed_fn for the target,
 * opens and closes them in a loop, and is SIGKILLed (or exits) after a
 * random 0-300 ms.  A leak is probed_fn's first byte, read through
 * /proc/PID/mem, still not the file's 5 s later.  Each trial has a target
 * of its own (a leak stays for the target's life), checked alive after.
 * Needs what cprof -t heap needs (CAP_SYS_ADMIN).  WAYs: only these.
 *
 * Ways (N threads of the prober):
 *   loop-N      each closes its event and opens it again, in a loop
 *   exit-N      the same, but the prober ends with exit(0)
 *   joined-N    the same, the threads stopped and joined, then exit(0)
 *   opens-N     opening only; each close is handed (SCM_RIGHTS) to a
 *               helper process that closes with 4 threads of its own
 *   keeper-1    the helper opens and closes; the prober holds copies
 *               of the fds only (what cprof does: attach/keeper.c)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum way { LOOP, EXIT, JOINED, OPENS, KEEPER };

static volatile unsigned long calls;
__attribute__((noinline)) void probed_fn(void)
{
	calls++;
	__asm__ volatile("");
}

static pid_t target;
static char exe[4096];
static unsigned long offset;
static enum way way;
static int nthreads;
static int sock = -1;		/* to or from the helper */
static volatile int stop;
static int fds[16];
static pthread_barrier_t bar;

static int open_probe(void)
{
	struct perf_event_attr pa;

	memset(&pa, 0, sizeof(pa));
	pa.size = sizeof(pa);
	pa.type = 0;
	{
		FILE *f = fopen("/sys/bus/event_source/devices/uprobe/type", "r");

		if (!f || fscanf(f, "%u", &pa.type) != 1)
			exit(77);
		fclose(f);
	}
	pa.config1 = (uint64_t)(uintptr_t)exe;
	pa.config2 = offset;
	pa.sample_period = 1;
	pa.exclude_kernel = 1;
	return (int)syscall(SYS_perf_event_open, &pa, target, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static void send_fd(int s, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char c = 0;
	struct iovec iov = { &c, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	sendmsg(s, &mh, MSG_NOSIGNAL);
}

static int recv_fd(int s)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char c;
	struct iovec iov = { &c, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int fd = -1;

	if (recvmsg(s, &mh, MSG_CMSG_CLOEXEC) <= 0)
		return -2;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* ---- the helper: closes (OPENS) or opens and closes (KEEPER) ---- */

static int hq[1 << 16], hn, hdone;
static pthread_mutex_t hl = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hc = PTHREAD_COND_INITIALIZER;

static void hqueue(int fd)
{
	pthread_mutex_lock(&hl);
	if (hn < (int)(sizeof(hq) / sizeof(*hq)))
		hq[hn++] = fd;
	pthread_cond_signal(&hc);
	pthread_mutex_unlock(&hl);
}

static void *hcloser(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&hl);
	for (;;) {
		while (!hn && !hdone)
			pthread_cond_wait(&hc, &hl);
		if (!hn)
			break;
		int fd = hq[--hn];

		pthread_mutex_unlock(&hl);
		close(fd);
		pthread_mutex_lock(&hl);
	}
	pthread_mutex_unlock(&hl);
	return NULL;
}

static _Noreturn void helper(int s)
{
	pthread_t t[4];
	int held = -1;

	setsid();
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hcloser, NULL);
	if (way == OPENS) {
		int fd;

		while ((fd = recv_fd(s)) != -2)
			if (fd >= 0)
				hqueue(fd);
	} else {
		/* the prober's end closed (it died): MSG_NOSIGNAL sends fail */
		for (;;) {
			int fd = open_probe();
			char c;

			if (held >= 0)
				hqueue(held);
			held = fd;
			if (fd >= 0)
				send_fd(s, fd);
			if (recv(s, &c, 1, MSG_DONTWAIT) == 0)
				break;
		}
		if (held >= 0)
			hqueue(held);
	}
	pthread_mutex_lock(&hl);
	hdone = 1;
	pthread_cond_broadcast(&hc);
	pthread_mutex_unlock(&hl);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	_exit(0);
}

/* ---- the prober ---- */

static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;

	pthread_barrier_wait(&bar);
	while (!stop) {
		if (way == OPENS) {
			send_fd(sock, fds[i]);
			close(fds[i]);
		} else {
			close(fds[i]);
		}
		fds[i] = open_probe();
	}
	return NULL;
}

static _Noreturn void prober(unsigned delay_us)
{
	pthread_t t[16];

	if (way == OPENS || way == KEEPER) {
		int sv[2];

		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
		if (fork() == 0) {	/* reparented when the prober dies */
			close(sv[0]);
			helper(sv[1]);
		}
		close(sv[1]);
		sock = sv[0];
	}
	if (way == KEEPER) {
		int held = -1, fd;
		uint64_t end;
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		end = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000 + delay_us;
		for (;;) {
			fd = recv_fd(sock);
			if (fd >= 0) {
				if (held >= 0)
					close(held);
				held = fd;
			}
			clock_gettime(CLOCK_MONOTONIC, &ts);
			if ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000 >= end)
				kill(getpid(), SIGKILL);
		}
	}
	for (int i = 0; i < nthreads; i++)
		if ((fds[i] = open_probe()) < 0) {
			perror("uprobe-kill: perf_event_open");
			_exit(77);
		}
	pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	pthread_barrier_wait(&bar);
	usleep(delay_us);
	if (way == EXIT)
		_exit(0);
	if (way == JOINED) {
		stop = 1;
		for (int i = 0; i < nthreads; i++)
			pthread_join(t[i], NULL);
		_exit(0);
	}
	kill(getpid(), SIGKILL);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	static const struct { const char *name; enum way way; int threads; } ways[] = {
		{ "loop-4", LOOP, 4 }, { "exit-4", EXIT, 4 }, { "joined-4", JOINED, 4 },
		{ "loop-1", LOOP, 1 }, { "opens-4", OPENS, 4 }, { "opens-1", OPENS, 1 },
		{ "keeper-1", KEEPER, 1 },
	};
	int trials = argc > 1 ? atoi(argv[1]) : 20;
	unsigned long addr = (unsigned long)(uintptr_t)probed_fn;
	unsigned char orig;
	Dl_info di;
	char mem[64];
	int f, m;

	if (!dladdr((void *)probed_fn, &di) || readlink("/proc/self/exe", exe, sizeof(exe) - 1) < 0)
		return 1;
	/* a PIE's text: file offset == link-time address */
	offset = addr - (unsigned long)(uintptr_t)di.dli_fbase;
	f = open(exe, O_RDONLY);
	if (f < 0 || pread(f, &orig, 1, (off_t)offset) != 1)
		return 1;
	close(f);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	printf("%-10s %8s %s\n", "way", "leaks", "(of trials; target alive after each)");
	for (size_t w = 0; w < sizeof(ways) / sizeof(*ways); w++) {
		int leaks = 0, done = 0;

		bool want = argc <= 2;

		for (int i = 2; i < argc; i++)
			want |= !strcmp(argv[i], ways[w].name);
		if (!want)
			continue;
		way = ways[w].way;
		nthreads = ways[w].threads;
		for (int k = 0; k < trials; k++) {
			unsigned char now = orig;
			int st;
			pid_t p;

			/* a target of its own: a leak stays for the target's life */
			target = fork();
			if (target == 0)
				for (;;) {
					probed_fn();
					usleep(200);
				}
			snprintf(mem, sizeof(mem), "/proc/%d/mem", target);
			m = open(mem, O_RDONLY);
			p = fork();

			if (p == 0)
				prober((unsigned)(rand() % 300000));
			waitpid(p, &st, 0);
			if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
				printf("uprobe-kill: skipped: perf_event_open of a uprobe refused\n");
				kill(target, SIGKILL);
				return 0;
			}
			for (int i = 0; i < 100; i++) {	/* 5 s for helpers to finish */
				usleep(50000);
				if (pread(m, &now, 1, (off_t)addr) == 1 && now == orig)
					break;
			}
			if (waitpid(target, &st, WNOHANG) == target) {
				printf("%-10s the target died\n", ways[w].name);
				return 1;
			}
			leaks += now != orig;
			done++;
			close(m);
			kill(target, SIGKILL);
			waitpid(target, &st, 0);
		}
		printf("%-10s %4d of %d\n", ways[w].name, leaks, done);
		fflush(stdout);
	}
	return 0;
}
