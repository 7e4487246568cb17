/*
 * attach/sampler.c - tick, pick threads, interrupt, capture, resume, then
 * unwind the captured batch once every stopped thread runs again.
 */
#define _GNU_SOURCE
#include "sampler.h"
#include "procfs.h"
#include "unwind.h"
#include "../lib/util.h"
#include "../profiles/builder.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define NAME_REFRESH_NS 1000000000ULL
#define MAPS_REFRESH_NS 20000000ULL	/* reread maps at most 50x/s */

/*
 * cpu: a thread is sampled only if it used cpu since the last tick and is
 * runnable now, so sleeping threads are never disturbed (an interrupted
 * epoll_wait would return EINTR).  Its sample carries all the cpu time it
 * used since its previous sample, read from schedstat, so the profile's
 * cpu total is the cpu the target really used, however few the samples.
 */
static void tick_cpu(struct sampler *s)
{
	struct target *t = &s->target;

	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];
		uint64_t rt;
		char state;

		if (th->state != THREAD_RUNNING || th->interrupting || th->captured)
			continue;
		if (proc_read_runtime(th->schedstat_fd, th->stat_fd, &rt))
			continue;
		if (rt <= th->last_runtime)
			continue;
		th->pending_ns += rt - th->last_runtime;
		th->last_runtime = rt;
		if (proc_read_state(th->stat_fd, &state) || state != 'R')
			continue;
		if (target_interrupt(t, th) == -ESRCH)
			continue;
	}
}

static void unwind_captured(struct sampler *s, struct unwinder *u, uint64_t *pcs)
{
	struct target *t = &s->target;

	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];
		int64_t values[2];
		size_t n;

		if (!th->captured)
			continue;
		th->captured = false;
		n = unwinder_unwind(u, &th->cap, pcs, s->opts.max_depth + 1);
		values[0] = 1;
		values[1] = (int64_t)th->sample_ns;
		/* names change after creation (pthread_setname_np): reread */
		if (!th->has_entry || now_ns() - th->name_read_ns > NAME_REFRESH_NS)
			target_refresh_name(t, th);
		th->last_entry = pb_add(s->builder, th->tid, th->sample_epoch,
					pcs, n, values);
		th->has_entry = true;
		s->res.samples++;
	}
}

/* cpu time used after a thread's last sample goes to its last stack */
static void finish(struct sampler *s)
{
	struct target *t = &s->target;

	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];
		uint64_t rt;

		if (th->state != THREAD_GONE) {
			if (!proc_read_runtime(th->schedstat_fd, th->stat_fd, &rt) &&
			    rt > th->last_runtime)
				th->pending_ns += rt - th->last_runtime;
			target_refresh_name(t, th);
		}
		if (th->has_entry && th->pending_ns) {
			int64_t values[2] = { 0, (int64_t)th->pending_ns };

			pb_add_to(s->builder, th->last_entry, values);
		}
		if (th->has_entry)
			pb_thread_name(s->builder, th->tid, th->name);
	}
}

static int open_timer(unsigned hz)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	uint64_t period = 1000000000ULL / hz;
	struct itimerspec its = {
		.it_interval = { period / 1000000000ULL, period % 1000000000ULL },
		.it_value = { period / 1000000000ULL, period % 1000000000ULL },
	};

	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0)
		return error("timerfd: %s", strerror(errno));
	return fd;
}

static int read_signals(struct sampler *s, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		if (!s->res.stop_signal)
			s->res.stop_signal = si.ssi_signo;
		/*
		 * Launch mode: pass SIGTERM/SIGHUP on, as timeout(1) does.
		 * SIGINT from a terminal already reached the whole group.
		 */
		if (s->target.launched && si.ssi_signo != SIGINT && !s->target.exited)
			kill(s->target.pid, si.ssi_signo);
	}
	return s->res.stop_signal;
}

static void record(struct sampler *s)
{
	struct target *t = &s->target;
	struct unwinder *u = NULL;
	uint64_t start, deadline, *pcs;
	struct pollfd fds[2];
	int tfd = -1, sfd;

	pcs = xcalloc(s->opts.max_depth + 2, sizeof(*pcs));
	sfd = signalfd(-1, &s->opts.handled, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		s->res.status = error("signalfd: %s", strerror(errno));
		goto out;
	}
	target_init(t, s->opts.stack_size);
	if (s->opts.argv)
		s->res.status = target_launch(t, s->opts.argv, &s->opts.orig_mask);
	else
		s->res.status = target_attach(t, s->opts.pid);
	if (s->res.status)
		goto out;
	tfd = open_timer(s->opts.hz);
	if (tfd < 0) {
		s->res.status = -1;
		goto out;
	}
	u = unwinder_new(&t->as);
	start = now_ns();
	s->res.start_realtime_ns = realtime_ns();
	deadline = s->opts.duration_ns ? start + s->opts.duration_ns : 0;
	fds[0] = (struct pollfd){ .fd = tfd, .events = POLLIN };
	fds[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	while (!t->exited && !s->res.stop_signal) {
		int timeout = -1;
		uint64_t now = now_ns(), exp;

		if (deadline) {
			if (now >= deadline)
				break;
			timeout = (int)((deadline - now + 999999) / 1000000);
		}
		if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
			s->res.status = error("poll: %s", strerror(errno));
			break;
		}
		/* stops first: a thread we interrupted waits for its resume */
		target_drain(t);
		if (fds[1].revents & POLLIN && read_signals(s, sfd))
			break;
		if (fds[0].revents & POLLIN &&
		    read(tfd, &exp, sizeof(exp)) == sizeof(exp)) {
			s->res.ticks += exp;
			s->res.missed_ticks += exp - 1;	/* never bunched */
			tick_cpu(s);
			target_drain(t);
		}
		/* every thread runs again: a good moment to reread maps */
		addrspace_refresh(&t->as, MAPS_REFRESH_NS);
		unwind_captured(s, u, pcs);
	}
	s->res.duration_ns = now_ns() - start;
	/* resume every stop reported so far, re-injecting signals */
	target_drain(t);
	unwind_captured(s, u, pcs);
	finish(s);
out:
	unwinder_free(u);
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	free(pcs);
}

static void *tracer_main(void *arg)
{
	record(arg);
	/* returning ends this thread: the kernel detaches every tracee */
	return NULL;
}

int sampler_start(struct sampler *s, struct profile_builder *b)
{
	int err;

	s->builder = b;
	err = pthread_create(&s->thread, NULL, tracer_main, s);
	if (err)
		return error("pthread_create: %s", strerror(err));
	return 0;
}

void sampler_join(struct sampler *s)
{
	pthread_join(s->thread, NULL);
}
