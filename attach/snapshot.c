/*
 * attach/snapshot.c - what every thread is doing now, stopping as few as
 * possible: the engine of `cprof threads` and `record -t threads`.
 *
 * 1. /proc first, for every thread: state, name, cpu times, the system
 *    call it is blocked in with its user sp and pc, and its cpu runtime.
 * 2. The running threads are seized, interrupted and held until all have
 *    stopped or the timeout passed, then let go together.
 * 3. A blocked thread's stack is copied without stopping it
 *    (process_vm_readv from that sp) and unwound from sp and pc.  If it is
 *    still in the same call with the same cpu runtime as in step 1, it
 *    did not run meanwhile: that is its stack at the moment of step 2.
 *    One that moved is looked at again.
 * 4. Threads that need a stop after all (they keep moving, or their
 *    unwind needs registers sp and pc do not give: frame-pointer code) are
 *    stopped in a second round, but only in calls the kernel restarts by
 *    itself (else they keep the shorter stack, unless stop_all).
 * The result is one consistent picture, as if all had been stopped
 * together, and a blocked epoll_wait never sees EINTR from us (both
 * pinned by tests/t0011-threads.sh; a D thread does not hold up the
 * others, and a stopped process stays stopped: the same test).
 *
 * Two threads do the work: the tracer (every ptrace call is its own) and
 * the calling thread, which shares steps 1 and 3 with it (threads taken
 * one at a time from a shared counter; on 2 cpus /proc and the copies go
 * about twice as fast), loads the symbols and symbolizes each stack once
 * it is final.  At 1000 idle threads that took `cprof threads` from
 * 118-123 ms to about 65 ms here.
 */
#define _GNU_SOURCE
#include "snapshot.h"
#include "procfs.h"
#include "unwind.h"
#include "../lib/util.h"
#include "../symbolize/symbolize.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
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

/*
 * A /proc file of the thread, opened once and kept for the rechecks
 * (pread); if no more descriptors are to be had, opened each time (the
 * caller closes it when it is not *kept).
 */
static int task_fd(pid_t pid, pid_t tid, int *kept, const char *file)
{
	int fd;

	if (*kept >= 0)
		return *kept;
	fd = proc_open_task_file(pid, tid, file);
	if (fd == -EMFILE || fd == -ENFILE)
		return fd;
	return *kept = fd;
}

static void drop_fd(int fd, const int *kept)
{
	if (fd >= 0 && fd != *kept)
		close(fd);
}

/* The thread's cpu runtime now (schedstat, else stat); *ok false if gone. */
static uint64_t runtime_now(pid_t pid, struct snap_thread *st, bool *ok)
{
	int fd = task_fd(pid, st->tid, &st->schedstat_fd, "schedstat"), stat_fd = -1;
	uint64_t rt = 0;

	if (fd < 0)
		stat_fd = proc_open_task_file(pid, st->tid, "stat");
	*ok = (fd >= 0 || stat_fd >= 0) && !proc_read_runtime(fd, stat_fd, &rt);
	drop_fd(fd, &st->schedstat_fd);
	if (stat_fd >= 0)
		close(stat_fd);
	return rt;
}

static int syscall_now(pid_t pid, struct snap_thread *st, struct proc_syscall *sc)
{
	int fd = task_fd(pid, st->tid, &st->syscall_fd, "syscall"), ret;

	if (fd < 0)
		return fd;
	ret = proc_read_syscall(fd, sc);
	drop_fd(fd, &st->syscall_fd);
	return ret;
}

/*
 * What /proc says, read before any thread is stopped (so "sleeping in
 * read" is the thread's state, not ours).  0, or -ESRCH if it is gone.
 */
static int read_proc_info(pid_t pid, struct snap_thread *st)
{
	char path[96], buf[512];
	const char *open_paren, *close_paren;

	st->syscall_nr = -1;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, st->tid);
	if (read_file(path, buf, sizeof(buf)) <= 0 ||
	    proc_parse_stat_state(buf, &st->state, &st->utime, &st->stime))
		return -ESRCH;
	/* the name is the comm field, between the first '(' and the last ')' */
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (open_paren && close_paren > open_paren)
		snprintf(st->name, sizeof(st->name), "%.*s",
			 (int)(close_paren - open_paren - 1), open_paren + 1);
	st->runtime = runtime_now(pid, st, &(bool){ 0 });
	if (syscall_now(pid, st, &st->sc))
		st->sc.nr = PROC_SYSCALL_RUNNING;
	if (st->sc.nr >= 0) {
		st->syscall_nr = st->sc.nr;
		st->syscall_arg0 = st->sc.args[0];
	} else if (st->state != 'R') {
		/* not in a system call: where in the kernel, then */
		snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", pid, st->tid);
		if (read_file(path, st->wchan, sizeof(st->wchan)) < 0 || !strcmp(st->wchan, "0"))
			st->wchan[0] = '\0';
	}
	return 0;
}

/* Blocked in the kernel with a known sp and pc: its stack can be copied. */
static bool looks_blocked(const struct snap_thread *st)
{
	return st->state != 'R' && st->sc.nr != PROC_SYSCALL_RUNNING && st->sc.sp;
}

static void keep_pcs(struct snap_thread *st, const uint64_t *pcs, size_t n)
{
	free(st->pcs);
	st->pcs = xmalloc(n * sizeof(*pcs));
	memcpy(st->pcs, pcs, n * sizeof(*pcs));
	st->npcs = n;
}

/*
 * A blocked thread's stack, without stopping it: copied into the scratch
 * capture and unwound at once (one buffer, reused: a fresh one per thread
 * cost more in page faults than the copy).  The copy is good only if the
 * thread is still in the call /proc showed, with the same cpu time: it
 * has not run since.  A copy whose unwind needed more
 * registers than sp and pc keeps its shorter stack and asks for a stop.
 */
static void symbolize_stack(struct snapshot *s, const struct snap_thread *st);

static bool copy_blocked(struct snapshot *s, struct snap_thread *st, struct unwinder *u,
			 uint64_t *pcs, struct capture *cap, struct addrspace *as)
{
	struct proc_syscall again;
	bool ok;

	if (!looks_blocked(st))
		return false;
	if (capture_blocked(s->opts.pid, st->sc.sp, st->sc.pc, cap, addrspace_current(as)))
		return false;
	ok = !syscall_now(s->opts.pid, st, &again) && again.nr == st->sc.nr &&
	     again.sp == st->sc.sp && again.pc == st->sc.pc;
	if (!ok || runtime_now(s->opts.pid, st, &ok) != st->runtime || !ok)
		return false;
	st->epoch = addrspace_epoch(as);
	keep_pcs(st, pcs, unwinder_unwind(u, cap, pcs, s->opts.max_depth + 1));
	return true;
}

static bool take_blocked(struct snapshot *s, struct snap_thread *st, struct unwinder *u,
			 uint64_t *pcs)
{
	if (!copy_blocked(s, st, u, pcs, &s->scratch, &s->target.as))
		return false;
	if (unwinder_missed_registers(u) && !st->retried) {
		/*
		 * Its registers, by a stop (if it does not stop, this stands),
		 * unless the stop would make its call fail with EINTR: only an
		 * interruptible sleep (S) can be cut short; a stopped (T) or
		 * uninterruptible (D) thread cannot.
		 */
		if (s->opts.stop_all || st->state != 'S' ||
		    proc_call_restarts(s->opts.pid, &st->sc)) {
			st->retried = true;
			return false;
		}
		st->partial = st->eintr_risk = true;
	}
	return true;
}

/*
 * The calling thread's share of step 3, over its own maps (sym_as) and
 * its own unwinder: the blocked threads whose copy unwinds in full with
 * sp and pc alone and the maps as they are.  Any other outcome (moved,
 * needs registers, a pc in a mapping newer than the maps) is handed back
 * untouched, for the tracer to deal with as it would have.
 */
static void copy_threads_helper(struct snapshot *s)
{
	struct unwinder *u = unwinder_new(&s->sym_as);
	uint64_t *pcs = xcalloc(s->opts.max_depth + 2, sizeof(*pcs));
	struct capture cap;
	size_t i, took = 0;

	if (u)
		unwinder_no_reload(u);
	capture_init(&cap, s->opts.stack_size);
	while ((i = atomic_fetch_add(&s->copy_next, 1)) < s->n) {
		struct snap_thread *st = &s->v[i];

		if (st->result != SNAP_NO_STOP || st->stopped) {
			atomic_fetch_add(&s->copy_done, 1);
			continue;
		}
		/* no unwinder: every one is handed back to the tracer */
		if (u && copy_blocked(s, st, u, pcs, &cap, &s->sym_as) &&
		    !unwinder_missed_registers(u) && !unwinder_wanted_reload(u)) {
			st->result = SNAP_OK;
			took++;
			atomic_fetch_add(&s->copy_done, 1);
			/* after it is counted: the tracer never waits for this */
			symbolize_stack(s, st);
			continue;
		}
		free(st->pcs);
		st->pcs = NULL;
		st->npcs = 0;
		s->handed_back[atomic_fetch_add(&s->nhanded_back, 1)] = i;
		atomic_fetch_add(&s->copy_done, 1);
	}
	capture_release(&cap);
	free(pcs);
	unwinder_free(u);
	if (verbose > 1)
		debug("timing: the calling thread copied %zu blocked stacks, handed back %zu",
		      took, atomic_load(&s->nhanded_back));
}

/*
 * Thread i's stack is final: the calling thread may symbolize it now.
 * Handed over in batches (one wakeup per batch), and all at the end.
 */
static void finished(struct snapshot *s, size_t i, bool last)
{
	if (i < s->n)
		s->ready[s->npending++] = i;
	if (!last && s->npending - s->nready < 32)
		return;
	pthread_mutex_lock(&s->ready_mu);
	s->nready = s->npending;
	s->tracer_done = last;
	pthread_cond_signal(&s->ready_cv);
	pthread_mutex_unlock(&s->ready_mu);
}

#define D_GRACE_NS 10000000ULL	/* 10 ms */

static bool only_d_left(struct target *t)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];
		char path[96], buf[512], state;

		if (th->state != THREAD_INTERRUPTING)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", t->pid, th->tid);
		if (read_file(path, buf, sizeof(buf)) < 0 ||
		    proc_parse_stat_state(buf, &state, NULL, NULL) || state != 'D')
			return false;
	}
	return true;
}

/*
 * Stop the threads marked need_stop together: seize them, interrupt, hold
 * each stop until all have stopped (or the timeout), let all go.  Adds
 * the time they were held to s->stopped_ns.  0, or -1 (reported).
 */
static int stop_round(struct snapshot *s, int sfd)
{
	struct target *t = &s->target;
	pid_t *tids = xcalloc(s->n + 1, sizeof(*tids));
	uint64_t start, deadline;
	struct pollfd pfd;
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].need_stop)
			tids[n++] = s->v[i].tid;
	if (!n) {
		free(tids);
		return 0;
	}
	if (target_seize(t, tids, n)) {
		free(tids);
		return -1;
	}
	free(tids);
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
	for (size_t i = 0; i < s->n; i++) {
		struct thread *th;

		if (!s->v[i].need_stop)
			continue;
		th = target_thread(t, s->v[i].tid);
		if (!th || th->state == THREAD_GONE || target_interrupt(t, th) == -ESRCH)
			s->v[i].result = SNAP_GONE;
	}
	deadline = start + s->opts.timeout_ns;
	pfd = (struct pollfd){ .fd = sfd, .events = POLLIN };
	/*
	 * Sleep until stops are reported: threads woken from a blocking call
	 * need a cpu to reach their stop, and on a small machine a tracer
	 * polling waitpid would take it from them (measured on 2 cpus, 4
	 * threads: ~0.3 ms to stop all when sleeping, several ms polling).
	 * Threads stop in about the order they were interrupted: wait for
	 * each by its tid (waitpid(-1) would walk all tracees for each of
	 * n stops: O(n^2), measured as the top kernel cost at 1000 threads).
	 */
	for (size_t i = 0; t->in_flight && !t->exited;) {
		struct signalfd_siginfo si;
		uint64_t now, wake;
		int r = 0;

		while (i < t->nthreads && (t->threads[i]->state != THREAD_INTERRUPTING ||
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
	s->stopped_ns += now_ns() - start;
	s->stopped_threads += n;
	if (boosted) {
		rt.sched_priority = 0;
		pthread_setschedparam(pthread_self(), SCHED_OTHER, &rt);
	}
	target_drain(t);
	for (size_t i = 0; i < s->n; i++) {
		struct snap_thread *st = &s->v[i];
		struct thread *th;

		if (!st->need_stop)
			continue;
		st->need_stop = false;
		th = target_thread(t, st->tid);
		if (th && th->captured) {
			th->captured = false;
			st->stopped = true;
			st->epoch = th->sample_epoch;
		} else if (!th || th->state == THREAD_GONE) {
			st->result = SNAP_GONE;
		}
	}
	return 0;
}

/* Unwind the stacks taken in a stop round. */
static void unwind_stopped(struct snapshot *s, struct unwinder *u, uint64_t *pcs)
{
	for (size_t i = 0; i < s->n; i++) {
		struct snap_thread *st = &s->v[i];

		if (st->result != SNAP_NO_STOP || !st->stopped)
			continue;
		keep_pcs(st, pcs, unwinder_unwind(u, &target_thread(&s->target, st->tid)->cap,
						  pcs, s->opts.max_depth + 1));
		st->result = SNAP_OK;
		finished(s, i, false);
	}
}

/* Threads a stop could not read keep the stack their copy gave. */
static void keep_partial(struct snapshot *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].result == SNAP_NO_STOP && s->v[i].retried && s->v[i].pcs) {
			s->v[i].result = SNAP_OK;
			s->v[i].partial = true;
			finished(s, i, false);
		}
}

/*
 * Step 1 for the threads not yet taken, one at a time (called by the
 * tracer and by the calling thread at once: two cpus read /proc in about
 * half the time, and a thread's fields are written by one of them only).
 */
static void read_threads(struct snapshot *s)
{
	size_t i;

	while ((i = atomic_fetch_add(&s->read_next, 1)) < s->n) {
		struct snap_thread *st = &s->v[i];

		if (!selected(s, st->tid))
			st->result = SNAP_SKIPPED;
		else if (read_proc_info(s->opts.pid, st))
			st->result = SNAP_GONE;
		atomic_fetch_add(&s->read_done, 1);
	}
}

/* Step 3 for thread i, by the tracer. */
static void copy_thread(struct snapshot *s, size_t i, struct unwinder *u, uint64_t *pcs)
{
	struct snap_thread *st = &s->v[i];

	if (st->result != SNAP_NO_STOP || st->stopped)
		return;
	for (int tries = 0; tries < 2 && !st->need_stop; tries++) {
		if (take_blocked(s, st, u, pcs)) {
			st->result = SNAP_OK;
			finished(s, i, false);
			break;
		}
		if (st->retried || tries == 1) {
			st->need_stop = true;	/* needs its registers, or keeps moving */
		} else {
			if (read_proc_info(s->opts.pid, st)) {
				st->result = SNAP_GONE;
				break;
			}
			st->need_stop = !looks_blocked(st);
		}
	}
}

static void take(struct snapshot *s)
{
	struct target *t = &s->target;
	struct unwinder *u = NULL;
	uint64_t start = now_ns(), *pcs = NULL;
	pid_t *tids = NULL;
	size_t ntids = 0;
	int sfd, ret;

	sfd = signalfd(-1, &s->opts.handled, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		s->status = error("signalfd: %s", strerror(errno));
		return;
	}
	target_init(t, s->opts.stack_size);
	t->hold = true;
	t->pid = s->opts.pid;
	addrspace_init(&t->as, s->opts.pid);
	ret = proc_tasks(s->opts.pid, &tids, &ntids);
	if (!ret)
		ret = addrspace_reload(&t->as);
	if (ret) {
		s->status = error("attach %d: %s", s->opts.pid,
				  ret == -ESRCH || ret == -ENOENT ? "no such process" : strerror(-ret));
		goto out;
	}
	/* 1: /proc (two files a thread kept open for the rechecks) */
	struct rlimit nofile;

	if (!getrlimit(RLIMIT_NOFILE, &nofile) && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	s->v = xcalloc(ntids, sizeof(*s->v));
	s->ready = xcalloc(ntids, sizeof(*s->ready));
	s->handed_back = xcalloc(ntids, sizeof(*s->handed_back));
	for (size_t i = 0; i < ntids; i++) {
		struct snap_thread *st = &s->v[s->n++];

		st->tid = tids[i];
		st->syscall_fd = st->schedstat_fd = -1;
		st->result = SNAP_NO_STOP;
	}
	pthread_mutex_lock(&s->ready_mu);
	s->reads_open = true;
	pthread_cond_signal(&s->ready_cv);
	pthread_mutex_unlock(&s->ready_mu);
	read_threads(s);
	/* the calling thread may be reading one still: a few microseconds */
	while (atomic_load(&s->read_done) < s->n)
		sched_yield();
	if (verbose > 1)
		debug("timing: /proc read %.1fms", (now_ns() - start) / 1e6);
	u = unwinder_new(&t->as);
	pcs = xcalloc(s->opts.max_depth + 2, sizeof(*pcs));
	capture_init(&s->scratch, s->opts.stack_size);
	if (!u) {
		s->status = -1;
		goto out;
	}
	/* 2: the running threads, stopped together right away */
	for (size_t i = 0; i < s->n; i++)
		s->v[i].need_stop = s->v[i].result == SNAP_NO_STOP && !looks_blocked(&s->v[i]);
	if (stop_round(s, sfd)) {
		s->status = -1;
		goto out;
	}
	unwind_stopped(s, u, pcs);
	if (verbose > 1)
		debug("timing: running threads stopped, let go, unwound %.1fms",
		      (now_ns() - start) / 1e6);
	/*
	 * 3: the blocked ones, copied without a stop.  Still in the same call
	 * with the same cpu time as before that stop: they were there during
	 * it.  One that moved is looked at again.
	 */
	pthread_mutex_lock(&s->ready_mu);
	s->copies_open = true;
	pthread_cond_signal(&s->ready_cv);
	pthread_mutex_unlock(&s->ready_mu);
	for (size_t i, k = 0; (i = atomic_fetch_add(&s->copy_next, 1)) < s->n; k++) {
		/*
		 * The threads stopped in step 2 are still traced: a signal one
		 * gets now waits in a signal-delivery stop until we look.
		 */
		if (k % 16 == 0)
			target_drain(t);
		copy_thread(s, i, u, pcs);
		atomic_fetch_add(&s->copy_done, 1);
	}
	/*
	 * The calling thread's last one (tens of microseconds; a signal for a
	 * thread still traced since step 2 is passed on meanwhile), then those
	 * it handed back.
	 */
	while (atomic_load(&s->copy_done) < s->n) {
		target_drain(t);
		sched_yield();
	}
	for (size_t k = 0; k < atomic_load(&s->nhanded_back); k++) {
		if (k % 16 == 0)
			target_drain(t);
		copy_thread(s, s->handed_back[k], u, pcs);
	}
	if (verbose > 1)
		debug("timing: blocked threads copied and unwound %.1fms", (now_ns() - start) / 1e6);
	/* 4: those that need a stop after all */
	if (stop_round(s, sfd)) {
		s->status = -1;
		goto out;
	}
	unwind_stopped(s, u, pcs);
	keep_partial(s);
	if (verbose > 1)
		debug("timing: done %.1fms", (now_ns() - start) / 1e6);
out:
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].syscall_fd >= 0)
			close(s->v[i].syscall_fd);
		if (s->v[i].schedstat_fd >= 0)
			close(s->v[i].schedstat_fd);
		s->v[i].syscall_fd = s->v[i].schedstat_fd = -1;
	}
	free(tids);
	free(pcs);
	unwinder_free(u);
	capture_release(&s->scratch);
	close(sfd);
	s->total_ns = now_ns() - start;
	/*
	 * Last: deliver any signal that arrived meanwhile, right before the
	 * kernel detaches (a stop left then would lose its signal).
	 */
	target_drain(t);
	/* returning ends the tracer thread: the kernel detaches every thread */
}

static void *tracer_main(void *arg)
{
	take(arg);
	finished(arg, SIZE_MAX, true);
	return NULL;
}

static void symbolize_stack(struct snapshot *s, const struct snap_thread *st)
{
	struct symloc sl;

	for (size_t j = 0; st->epoch == 0 && j < st->npcs; j++)
		if (!pc_is_pseudo(st->pcs[j]))
			symbolizer_lookup(s->sym, 0, st->pcs[j] & ~PC_PHYSICAL, &sl);
}

/*
 * Symbolize each stack the tracer hands over while it reads the others:
 * the first lookups in a module read its DWARF (units, line tables), a
 * cost that is then off the path from the last thread read to the output.
 * The cache is keyed by epoch; only epoch 0 is looked at here, the one
 * both address spaces share when snapshot_symbolizer() keeps this one.
 */
static void symbolize_early(struct snapshot *s)
{
	size_t seen = 0, upto;
	bool done;

	do {
		pthread_mutex_lock(&s->ready_mu);
		while (seen == s->nready && !s->tracer_done)
			pthread_cond_wait(&s->ready_cv, &s->ready_mu);
		upto = s->nready;
		done = s->tracer_done;
		pthread_mutex_unlock(&s->ready_mu);
		for (; s->sym && seen < upto; seen++)
			symbolize_stack(s, &s->v[s->ready[seen]]);
		seen = upto;
	} while (!done);
}

int snapshot_take(struct snapshot *s)
{
	pthread_t tracer;
	int err;

	pthread_mutex_init(&s->ready_mu, NULL);
	pthread_cond_init(&s->ready_cv, NULL);
	err = pthread_create(&tracer, NULL, tracer_main, s);
	if (err)
		return error("pthread_create: %s", strerror(err));
	/* help with step 1 first: it comes before any stop */
	pthread_mutex_lock(&s->ready_mu);
	while (!s->reads_open && !s->tracer_done)
		pthread_cond_wait(&s->ready_cv, &s->ready_mu);
	pthread_mutex_unlock(&s->ready_mu);
	if (s->reads_open)
		read_threads(s);
	/*
	 * Meanwhile, here: load the symbols (reading debuginfo can take as
	 * long as reading all the threads), from our own read of the maps.
	 */
	addrspace_init(&s->sym_as, s->opts.pid);
	if (!addrspace_reload(&s->sym_as)) {
		uint64_t t0 = now_ns();

		s->sym = symbolizer_new(&s->sym_as, s->opts.debuginfo_path);
		symbolizer_prepare(s->sym, 0);
		if (verbose > 1)
			debug("timing: symbols loaded in %.1fms", (now_ns() - t0) / 1e6);
	}
	/* then with step 3, once it starts */
	pthread_mutex_lock(&s->ready_mu);
	while (!s->copies_open && !s->tracer_done)
		pthread_cond_wait(&s->ready_cv, &s->ready_mu);
	pthread_mutex_unlock(&s->ready_mu);
	if (s->copies_open && s->sym)	/* (s->sym: its maps were read) */
		copy_threads_helper(s);
	symbolize_early(s);
	pthread_join(tracer, NULL);
	return s->status;
}

/* The same code mappings (the ones symbols come from)? */
static bool same_code(const struct maps *a, const struct maps *b)
{
	size_t i = 0, j = 0;

	for (;;) {
		while (i < a->n && !(a->v[i].prot & MAP_X))
			i++;
		while (j < b->n && !(b->v[j].prot & MAP_X))
			j++;
		if (i == a->n || j == b->n)
			return i == a->n && j == b->n;
		if (a->v[i].start != b->v[j].start || a->v[i].end != b->v[j].end ||
		    a->v[i].offset != b->v[j].offset || strcmp(a->v[i].name, b->v[j].name))
			return false;
		i++, j++;
	}
}

struct symbolizer *snapshot_symbolizer(struct snapshot *s)
{
	struct addrspace *t = &s->target.as;

	if (s->sym && (t->nepochs != 1 || s->sym_as.nepochs != 1 ||
		       !same_code(&t->epochs[0], &s->sym_as.epochs[0]))) {
		debug("maps changed during the snapshot: symbols loaded again");
		symbolizer_free(s->sym);
		s->sym = NULL;
	}
	if (!s->sym)
		s->sym = symbolizer_new(t, s->opts.debuginfo_path);
	return s->sym;
}

void snapshot_release(struct snapshot *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].pcs);
	free(s->v);
	free(s->ready);
	free(s->handed_back);
	s->ready = s->handed_back = NULL;
	s->nready = s->npending = 0;
	symbolizer_free(s->sym);
	s->sym = NULL;
	addrspace_release(&s->sym_as);
	target_release(&s->target);
	s->v = NULL;
	s->n = 0;
}
