/*
 * tests/targets/waits.c - threads that wait in known places, for the wall,
 * block and mutex profiles, and a thread factory for threadcreate.
 *
 *   waits            threads, each named for what it does:
 *     "sleeper"      70 ms of work in burn_here(), then 30 ms of
 *                    nanosleep in sleep_here(): 30% of its wall time asleep
 *     "holder"       holds lock A 30 ms, then lock B 10 ms, in turn
 *     "waiter_a/b"   take and drop lock A (B) in lock_a() (lock_b()), then
 *                    nap 1 ms: they wait for the locks 3:1
 *     "condwait"     pthread_cond_timedwait in cond_here(): blocked, but not
 *                    lock contention
 *     "producer"     writes 8 bytes to a pipe and wakes a futex every 20 ms
 *     "consumer"     read()s them in consume()
 *     "futexer"      raw FUTEX_WAIT in futex_here(), woken by producer
 *     "poller"       poll() with a 50 ms timeout in poll_here(), no data
 *     "epoller"      epoll_wait() with a 50 ms timeout in epoll_here()
 *   waits -f N       main creates threads from two call sites, create_a()
 *                    three times for each create_b(), N rounds (0: until
 *                    SIGTERM); each new thread ends at once.
 *
 * Every blocking call's result is checked: EINTR, a short read, a sleep or
 * timeout that ends early, is an anomaly.  Prints "ready PID"; on SIGTERM
 * prints "anomalies N" and "rounds N" (the consumer's reads, or factory
 * rounds) and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile int anomalies;
static volatile long rounds;
static volatile uint64_t sink;
static pthread_mutex_t lock_a_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_b_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cond_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t ready;
static int data_pipe[2], idle_pipe[2], epfd;
static uint32_t futex_word;

static void anomaly(const char *what)
{
	(void)what;
	__atomic_add_fetch(&anomalies, 1, __ATOMIC_RELAXED);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* nanosleep that must neither fail nor end early */
static void nap(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };
	uint64_t t0 = now_ns();

	if (nanosleep(&ts, NULL) != 0 || now_ns() - t0 < ns)
		anomaly("nanosleep");
}

static __attribute__((noinline)) void burn_here(uint64_t ns)
{
	uint64_t end = now_ns() + ns, x = 1;

	while (now_ns() < end) {
		for (int i = 0; i < 10000; i++)
			x = x * 6364136223846793005ULL + 1;
		sink = x;
	}
}

static __attribute__((noinline)) void sleep_here(uint64_t ns)
{
	nap(ns);
	__asm__ volatile("" ::: "memory");	/* not a tail call */
}

static void sleeper(void)
{
	for (;;) {
		burn_here(70000000);
		sleep_here(30000000);
	}
}

static __attribute__((noinline)) void hold(pthread_mutex_t *m, uint64_t ns)
{
	pthread_mutex_lock(m);
	nap(ns);
	pthread_mutex_unlock(m);
}

static void holder(void)
{
	for (;;) {
		hold(&lock_a_mu, 30000000);
		hold(&lock_b_mu, 10000000);
	}
}

static __attribute__((noinline)) void lock_a(void)
{
	pthread_mutex_lock(&lock_a_mu);
	pthread_mutex_unlock(&lock_a_mu);
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void lock_b(void)
{
	pthread_mutex_lock(&lock_b_mu);
	pthread_mutex_unlock(&lock_b_mu);
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void cond_here(void)
{
	struct timespec ts;
	int r;

	pthread_mutex_lock(&cond_mu);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 100000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	r = pthread_cond_timedwait(&cond, &cond_mu, &ts);	/* nobody signals */
	if (r != ETIMEDOUT)
		anomaly("cond");
	pthread_mutex_unlock(&cond_mu);
}

static __attribute__((noinline)) void produce(void)
{
	char buf[8] = "12345678";

	nap(20000000);
	if (write(data_pipe[1], buf, sizeof(buf)) != sizeof(buf))
		anomaly("write");
	__atomic_add_fetch(&futex_word, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static __attribute__((noinline)) void consume(void)
{
	char buf[8];
	ssize_t n = read(data_pipe[0], buf, sizeof(buf));

	if (n != sizeof(buf))
		anomaly("read");	/* EINTR or a short count */
	__atomic_add_fetch(&rounds, 1, __ATOMIC_RELAXED);
}

static __attribute__((noinline)) void futex_here(void)
{
	uint32_t v = __atomic_load_n(&futex_word, __ATOMIC_ACQUIRE);

	if (syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0) != 0 &&
	    errno != EAGAIN)
		anomaly("futex");
}

static __attribute__((noinline)) void poll_here(void)
{
	struct pollfd p = { .fd = idle_pipe[0], .events = POLLIN };
	uint64_t t0 = now_ns();

	if (poll(&p, 1, 50) != 0 || now_ns() - t0 < 50000000)
		anomaly("poll");
}

static __attribute__((noinline)) void epoll_here(void)
{
	struct epoll_event ev;

	if (epoll_wait(epfd, &ev, 1, 50) != 0)
		anomaly("epoll_wait");
}

static void *thread_main(void *arg)
{
	const char *name = arg;

	pthread_setname_np(pthread_self(), name);
	pthread_barrier_wait(&ready);
	for (;;) {
		if (!strcmp(name, "sleeper"))
			sleeper();
		else if (!strcmp(name, "holder"))
			holder();
		else if (!strcmp(name, "waiter_a")) {
			lock_a();
			nap(1000000);
		} else if (!strcmp(name, "waiter_b")) {
			lock_b();
			nap(1000000);
		} else if (!strcmp(name, "condwait"))
			cond_here();
		else if (!strcmp(name, "producer"))
			produce();
		else if (!strcmp(name, "consumer"))
			consume();
		else if (!strcmp(name, "futexer"))
			futex_here();
		else if (!strcmp(name, "poller"))
			poll_here();
		else if (!strcmp(name, "epoller"))
			epoll_here();
	}
	return NULL;
}

static void on_term(int sig)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "anomalies %d\nrounds %ld\n", anomalies, rounds);

	(void)sig;
	if (write(1, buf, n) < 0)
		_exit(1);
	_exit(0);
}

/* factory: a thread that ends at once, made from two call sites */
static void *nothing(void *arg)
{
	return arg;
}

static long made[2];

static __attribute__((noinline)) void spawn(int site)
{
	pthread_t t;

	if (pthread_create(&t, NULL, nothing, NULL) || pthread_join(t, NULL))
		anomaly("pthread_create");
	made[site]++;
}

/* different bodies, so that the compiler does not fold them into one */
static __attribute__((noinline)) void create_a(void)
{
	spawn(0);
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void create_b(void)
{
	spawn(1);
	__asm__ volatile("" ::: "memory");
}

static int factory(long n)
{
	printf("ready %d\n", getpid());
	fflush(stdout);
	for (long r = 0; n == 0 || r < n; r++) {
		for (int i = 0; i < 3; i++)
			create_a();
		create_b();
		rounds++;
		if (n == 0)
			nap(2000000);
	}
	printf("anomalies %d\nrounds %ld\n", anomalies, rounds);
	return 0;
}

int main(int argc, char **argv)
{
	static char *names[] = {
		"sleeper", "holder", "waiter_a", "waiter_b", "condwait",
		"producer", "consumer", "futexer", "poller", "epoller",
	};
	size_t n = sizeof(names) / sizeof(names[0]);
	struct epoll_event ev = { .events = EPOLLIN };
	pthread_t t;

	signal(SIGTERM, on_term);
	if (argc > 2 && !strcmp(argv[1], "-f"))
		return factory(atol(argv[2]));
	if (pipe(data_pipe) || pipe(idle_pipe))
		return 1;
	epfd = epoll_create1(0);
	if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, idle_pipe[0], &ev))
		return 1;
	pthread_barrier_init(&ready, NULL, n + 1);
	for (size_t i = 0; i < n; i++)
		pthread_create(&t, NULL, thread_main, names[i]);
	pthread_barrier_wait(&ready);
	printf("ready %d\n", getpid());
	fflush(stdout);
	for (;;)
		pause();
}
