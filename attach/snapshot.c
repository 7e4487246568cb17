/*
 * attach/snapshot.c - stop every thread together, capture, let all go,
 * then unwind: the engine of `cprof threads` and `record -t threads`.
 */
#define _GNU_SOURCE
#include "snapshot.h"
#include "procfs.h"
#include "unwind.h"
#include "../lib/util.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <unistd.h>

static bool selected(const struct snapshot *s, pid_t tid)
{
	if (!s->opts.tids)
		return true;
	for (size_t i = 0; i < s->opts.ntids; i++)
		if (s->opts.tids[i] == tid)
			return true;
	return false;
}

/* What /proc says, read before the thread is stopped (so "sleeping in
 * read" is the thread's state, not ours). */
static void read_proc_info(pid_t pid, struct snap_thread *st)
{
	char path[96], buf[512];
	struct proc_status ps;
	unsigned long long nr, a0;

	st->syscall_nr = -1;
	if (proc_status(pid, st->tid, &ps) == 0) {
		st->state = ps.state;
		snprintf(st->name, sizeof(st->name), "%s", ps.name);
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, st->tid);
	if (read_file(path, buf, sizeof(buf)) > 0)
		proc_parse_stat_state(buf, &st->state, &st->utime, &st->stime);
	/* "NR arg0 ... sp pc" while blocked in a call; "running" or "-1 ..." not */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, st->tid);
	if (read_file(path, buf, sizeof(buf)) > 0 &&
	    sscanf(buf, "%llu 0x%llx", &nr, &a0) == 2) {
		st->syscall_nr = (long)nr;
		st->syscall_arg0 = a0;
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", pid, st->tid);
	if (read_file(path, st->wchan, sizeof(st->wchan)) < 0 || !strcmp(st->wchan, "0"))
		st->wchan[0] = '\0';
}

#define D_GRACE_NS 10000000ULL	/* 10 ms */

static bool only_d_left(struct target *t)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];
		char path[96], buf[512], state;

		if (!th->interrupting)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", t->pid, th->tid);
		if (read_file(path, buf, sizeof(buf)) < 0 ||
		    proc_parse_stat_state(buf, &state, NULL, NULL) || state != 'D')
			return false;
	}
	return true;
}

static void take(struct snapshot *s)
{
	struct target *t = &s->target;
	uint64_t start, deadline;
	struct pollfd pfd;
	int sfd;

	struct snap_thread *pre = NULL;
	size_t npre = 0;
	pid_t *tids = NULL;

	start = now_ns();
	sfd = signalfd(-1, &s->opts.handled, SFD_CLOEXEC | SFD_NONBLOCK);
	/*
	 * /proc first: once seized, a stopped thread re-traps and shows as
	 * "tracing stop", and a blocked one may be woken by our interrupt.
	 */
	if (!proc_tasks(s->opts.pid, &tids, &npre)) {
		pre = xcalloc(npre, sizeof(*pre));
		for (size_t i = 0; i < npre; i++) {
			pre[i].tid = tids[i];
			if (selected(s, tids[i]))
				read_proc_info(s->opts.pid, &pre[i]);
		}
	}
	free(tids);
	target_init(t, s->opts.stack_size);
	t->hold = true;
	if (sfd < 0 || target_attach(t, s->opts.pid)) {
		s->status = -1;
		free(pre);
		goto out;
	}
	s->v = xcalloc(t->nthreads, sizeof(*s->v));
	for (size_t i = 0; i < t->nthreads; i++) {
		struct snap_thread *st = &s->v[s->n++];
		size_t j;

		st->tid = t->threads[i]->tid;
		st->result = selected(s, st->tid) ? SNAP_NO_STOP : SNAP_SKIPPED;
		if (st->result == SNAP_SKIPPED)
			continue;
		for (j = 0; j < npre && pre[j].tid != st->tid; j++)
			;
		if (j < npre)
			*st = pre[j], st->result = SNAP_NO_STOP;
		else
			read_proc_info(s->opts.pid, st);	/* born meanwhile */
	}
	free(pre);
	/*
	 * While the process is held, the tracer must not wait behind the
	 * target's own busy threads for a cpu: real-time priority if we may
	 * (it sleeps while the threads run to their stops).  Measured on 2
	 * cpus with 2 busy threads: stop time outliers of 3-5 ms without.
	 */
	struct sched_param rt = { .sched_priority = 1 };
	bool boosted = !pthread_setschedparam(pthread_self(), SCHED_FIFO, &rt);

	/* stop them all, as close together as we can */
	start = now_ns();
	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];

		if (selected(s, th->tid) && target_interrupt(t, th) == -ESRCH)
			s->v[i].result = SNAP_GONE;
	}
	deadline = start + s->opts.timeout_ns;
	pfd = (struct pollfd){ .fd = sfd, .events = POLLIN };
	/*
	 * Sleep until stops are reported: threads woken from a blocking call
	 * need a cpu to reach their stop, and on a small machine a tracer
	 * polling waitpid would take it from them (measured on 2 cpus, 4
	 * threads: ~0.3 ms to stop all when sleeping, several ms polling).
	 */
	/*
	 * Threads stop in about the order they were interrupted: wait for
	 * each by its tid (waitpid(-1) would walk all tracees for each of
	 * n stops: O(n^2), measured as the top kernel cost at 1000 threads).
	 */
	for (size_t i = 0; t->in_flight && !t->exited;) {
		struct signalfd_siginfo si;
		uint64_t now, wake;
		int r = 0;

		while (i < t->nthreads && (!t->threads[i]->interrupting ||
					   (r = target_wait_tid(t, t->threads[i]->tid)) < 0))
			i++;
		if (r > 0)
			continue;	/* handled: look at the same thread again */
		if (i >= t->nthreads)
			i = 0;	/* others may still be in flight (a signal stop first) */
		if (!t->in_flight || t->exited || (now = now_ns()) >= deadline)
			break;
		/*
		 * Threads in uninterruptible sleep (D) do not stop until their
		 * wait ends: do not hold everyone else for the whole timeout.
		 */
		if (now - start > D_GRACE_NS && only_d_left(t))
			break;
		wake = now + D_GRACE_NS < deadline ? now + D_GRACE_NS : deadline;
		poll(&pfd, 1, (int)((wake - now + 999999) / 1000000));
		while (read(sfd, &si, sizeof(si)) == sizeof(si))
			;
	}
	target_release_held(t);
	s->stopped_ns = now_ns() - start;
	if (boosted) {
		rt.sched_priority = 0;
		pthread_setschedparam(pthread_self(), SCHED_OTHER, &rt);
	}
	target_drain(t);
out:
	if (sfd >= 0)
		close(sfd);
	s->total_ns = now_ns() - start;
	/* returning ends the tracer thread: the kernel detaches every thread */
}

static void *tracer_main(void *arg)
{
	take(arg);
	return NULL;
}

static void unwind_all(struct snapshot *s)
{
	struct target *t = &s->target;
	struct unwinder *u = unwinder_new(&t->as);
	uint64_t *pcs = xcalloc(s->opts.max_depth + 2, sizeof(*pcs));

	for (size_t i = 0; i < s->n; i++) {
		struct snap_thread *st = &s->v[i];
		struct thread *th = target_thread(t, st->tid);

		if (st->result == SNAP_SKIPPED)
			continue;
		if (!th || th->state == THREAD_GONE) {
			st->result = SNAP_GONE;
			continue;
		}
		if (!th->captured)
			continue;
		st->result = SNAP_OK;
		st->epoch = th->sample_epoch;
		st->npcs = unwinder_unwind(u, &th->cap, pcs, s->opts.max_depth + 1);
		st->pcs = xmalloc(st->npcs * sizeof(*pcs));
		memcpy(st->pcs, pcs, st->npcs * sizeof(*pcs));
	}
	free(pcs);
	unwinder_free(u);
}

int snapshot_take(struct snapshot *s)
{
	pthread_t tracer;
	int err;

	err = pthread_create(&tracer, NULL, tracer_main, s);
	if (err)
		return error("pthread_create: %s", strerror(err));
	pthread_join(tracer, NULL);
	if (s->status)
		return s->status;
	unwind_all(s);
	return 0;
}

void snapshot_release(struct snapshot *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].pcs);
	free(s->v);
	target_release(&s->target);
	s->v = NULL;
	s->n = 0;
}
