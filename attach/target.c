/*
 * attach/target.c - seize, launch, and dispatch ptrace stops.
 */
#define _GNU_SOURCE
#include "target.h"
#include "procfs.h"
#include "../lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#define ATTACH_PASSES 1000	/* rescans of /proc/PID/task while threads appear */

void target_init(struct target *t, size_t stack_size)
{
	*t = (struct target){
		.stack_size = stack_size,
		/*
		 * never PTRACE_O_EXITKILL: if cprof dies the target lives on
		 * (tests/t0008-endings.sh, cprof SIGKILLed)
		 */
		.options = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC,
	};
}

static void thread_close(struct thread *th)
{
	if (th->schedstat_fd >= 0)
		close(th->schedstat_fd);
	if (th->stat_fd >= 0)
		close(th->stat_fd);
	if (th->syscall_fd >= 0)
		close(th->syscall_fd);
	th->schedstat_fd = th->stat_fd = th->syscall_fd = -1;
	capture_release(&th->cap);
	for (unsigned i = 0; i < EPISODES; i++) {
		free(th->eps[i].words);
		th->eps[i] = (struct episode){ 0 };
	}
	th->neps = 0;
	th->cur_ep = -1;
}

void target_release(struct target *t)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		thread_close(t->threads[i]);
		free(t->threads[i]);
	}
	free(t->threads);
	for (size_t i = 0; i < t->clones_ready; i++)
		capture_release(&t->clones[i].cap);
	free(t->clones);
	free(t->pauses);
	u64map_release(&t->index);
	addrspace_release(&t->as);
	*t = (struct target){ 0 };
}

struct thread *target_thread(struct target *t, pid_t tid)
{
	uint64_t *v = u64map_find(&t->index, (uint64_t)tid, 0);

	return v ? t->threads[*v] : NULL;
}

void target_refresh_name(struct target *t, struct thread *th)
{
	char name[32];

	proc_thread_name(t->pid, th->tid, name, sizeof(name));
	if (name[0])
		snprintf(th->name, sizeof(th->name), "%s", name);
	th->name_read_ns = now_ns();
}

/*
 * A thread cprof now traces.  baseline: count its cpu time from now (a
 * thread that existed before attaching) or from zero (born while traced).
 */
static struct thread *thread_add(struct target *t, pid_t tid, bool baseline)
{
	struct thread *th = target_thread(t, tid);
	bool added;

	if (th && th->state != THREAD_GONE)
		return th;
	if (!th) {
		th = xcalloc(1, sizeof(*th));
		GROW(t->threads, t->threads_alloc, t->nthreads + 1);
		u64map_put(&t->index, (uint64_t)tid, 0, t->nthreads, &added);
		t->threads[t->nthreads++] = th;
	} else {
		/* a recycled tid: a new thread with an old number */
		thread_close(th);
		memset(th, 0, sizeof(*th));
	}
	th->tid = tid;
	th->state = THREAD_RUNNING;
	th->schedstat_fd = th->stat_fd = th->syscall_fd = -1;
	th->cur_ep = -1;
	th->acct_ns = now_ns();
	if (!t->hold) {
		/* the sampler's per-tick readers; a snapshot reads /proc once */
		th->schedstat_fd = proc_open_task_file(t->pid, tid, "schedstat");
		th->stat_fd = proc_open_task_file(t->pid, tid, "stat");
	}
	if (t->read_syscalls)
		th->syscall_fd = proc_open_task_file(t->pid, tid, "syscall");
	capture_init(&th->cap, t->stack_size);
	if (baseline && !t->hold) {
		char state;

		proc_read_runtime(th->schedstat_fd, th->stat_fd, &th->last_runtime);
		th->seen_runtime = th->last_runtime;
		proc_read_stat(th->stat_fd, &state, &th->utime0, &th->stime0);
		th->utime = th->utime0;
		th->stime = th->stime0;
	}
	if (!t->hold)
		target_refresh_name(t, th);
	t->threads_seen++;
	if (t->thread_hook)
		t->thread_hook(t->hook_arg, th, true);
	return th;
}

static void interrupt_done(struct target *t, struct thread *th);

static void thread_gone(struct target *t, struct thread *th)
{
	if (th->state == THREAD_GONE)
		return;
	if (th->interrupting)
		t->lost_samples++;
	interrupt_done(t, th);
	th->state = THREAD_GONE;
	th->captured = false;
	thread_close(th);
	if (t->thread_hook)
		t->thread_hook(t->hook_arg, th, false);
}

/*
 * Seize one thread: 1 seized (or already ours), 0 gone, -1 error reported.
 */
static int seize(struct target *t, pid_t tid)
{
	struct proc_status st;
	char hint[256];
	int e;

	if (target_thread(t, tid) && target_thread(t, tid)->state != THREAD_GONE)
		return 1;
	if (ptrace(PTRACE_SEIZE, tid, 0, t->options) == 0) {
		thread_add(t, tid, true);
		return 1;
	}
	if (errno == ESRCH)
		return 0;	/* exited meanwhile */
	e = errno;
	if (e == EPERM) {
		int r = proc_status(t->pid, tid, &st);

		/*
		 * auto-attached by TRACECLONE before we saw its event (threads
		 * born while we attach: tests/t0005-new-threads.sh)
		 */
		if (!r && st.tracer == gettid()) {
			thread_add(t, tid, false);
			return 1;
		}
		/*
		 * The kernel refuses a thread that is already exiting (its
		 * exit_state set) with EPERM, not ESRCH: seen attaching to
		 * tests/targets/spawner under load (t0005), reported as a
		 * security module refusing.  Exited meanwhile, too.
		 */
		if (r == -ESRCH || (!r && (st.state == 'Z' || st.state == 'X')))
			return 0;
	}
	hint[0] = '\0';
	if (e == EPERM && t->nthreads == 0 && proc_status(t->pid, 0, &st) == -ESRCH)
		return error("attach %d: no such process", t->pid);
	if (e == EPERM)
		proc_eperm_hint(t->pid, hint, sizeof(hint));
	return error("attach %d: ptrace(PTRACE_SEIZE, %d): %s%s", t->pid, tid, strerror(e), hint);
}

int target_attach(struct target *t, pid_t pid)
{
	size_t pass, ntids;
	pid_t *tids;
	bool grew;
	int ret;

	t->pid = pid;
	addrspace_init(&t->as, pid);
	for (pass = 0; pass < ATTACH_PASSES; pass++) {
		ret = proc_tasks(pid, &tids, &ntids);
		if (ret)
			return error("attach %d: /proc/%d/task: %s", pid, pid, strerror(-ret));
		grew = false;
		for (size_t i = 0; i < ntids; i++) {
			if (target_thread(t, tids[i]))
				continue;
			ret = seize(t, tids[i]);
			if (ret < 0) {
				free(tids);
				return -1;
			}
			grew |= ret > 0;
		}
		free(tids);
		if (!grew)
			break;
	}
	if (!t->nthreads)
		return error("attach %d: no such process", pid);
	ret = addrspace_reload(&t->as);
	if (ret)
		return error("attach %d: /proc/%d/maps: %s", pid, pid, strerror(-ret));
	return 0;
}

int target_seize(struct target *t, const pid_t *tids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (seize(t, tids[i]) < 0)
			return -1;
	return 0;
}

int target_launch(struct target *t, char *const argv[], const void *sigmask)
{
	int go[2], err[2], e, st;
	ssize_t n;
	pid_t pid;

	if (pipe2(go, O_CLOEXEC))
		return error("pipe: %s", strerror(errno));
	if (pipe2(err, O_CLOEXEC)) {
		e = errno;
		close(go[0]);
		close(go[1]);
		return error("pipe: %s", strerror(e));
	}
	pid = fork();
	if (pid < 0) {
		e = errno;
		close(go[0]);
		close(go[1]);
		close(err[0]);
		close(err[1]);
		return error("fork: %s", strerror(e));
	}
	if (pid == 0) {
		char c;

		/* the command gets the signal mask cprof was started with */
		sigprocmask(SIG_SETMASK, sigmask, NULL);
		close(go[1]);
		close(err[0]);
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		execvp(argv[0], argv);
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	t->pid = pid;
	t->launched = true;
	addrspace_init(&t->as, pid);
	if (ptrace(PTRACE_SEIZE, pid, 0, t->options) < 0) {
		e = errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(go[1]);
		close(err[0]);
		return error("launch %s: ptrace(PTRACE_SEIZE, %d): %s", argv[0], pid, strerror(e));
	}
	thread_add(t, pid, false);
	close(go[1]);
	do
		n = read(err[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(err[0]);
	if (n == sizeof(e)) {
		while (waitpid(pid, &st, __WALL) > 0 && !WIFEXITED(st) && !WIFSIGNALED(st))
			ptrace(PTRACE_CONT, pid, 0, 0);
		error("%s: %s", argv[0], strerror(e));
		return e == ENOENT ? 127 : 126;
	}
	/* Wait for the exec stop so the maps we read are the command's. */
	for (;;) {
		if (waitpid(pid, &st, __WALL) < 0)
			return error("launch %s: waitpid: %s", argv[0], strerror(errno));
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			t->exited = true;
			t->wait_status = st;
			return 0;
		}
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXEC << 8)))
			break;
		/* a signal before the exec: deliver it; anything else: resume */
		ptrace(PTRACE_CONT, pid, 0, (st >> 16) ? 0 : WSTOPSIG(st));
	}
	addrspace_reload(&t->as);
	t->as.dirty = true;	/* the dynamic loader maps libraries next */
	ptrace(PTRACE_CONT, pid, 0, 0);
	return 0;
}

int target_interrupt(struct target *t, struct thread *th)
{
	/* room for every pause in flight: the stop path never allocates */
	GROW(t->pauses, t->pauses_alloc, t->npauses + t->in_flight + 1);
	th->interrupt_ns = now_ns();
	if (ptrace(PTRACE_INTERRUPT, th->tid, 0, 0) < 0)
		return -errno;
	th->interrupting = true;
	t->in_flight++;
	return 0;
}

/* An interrupt was answered (or can no longer be): no sample is coming. */
static void interrupt_done(struct target *t, struct thread *th)
{
	if (!th->interrupting)
		return;
	th->interrupting = false;
	t->in_flight--;
}

static void resume(pid_t tid, int sig)
{
	/* ESRCH: it died while stopped; its exit is reported separately */
	ptrace(PTRACE_CONT, tid, 0, sig);
}

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

static void on_exec(struct target *t, struct thread *th)
{
	unsigned long former = 0;

	/*
	 * Every other thread is gone; the execing one now has the leader's
	 * tid (GETEVENTMSG gives its old one).  A new program: new epoch.
	 */
	ptrace(PTRACE_GETEVENTMSG, th->tid, 0, &former);
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i] != th)
			thread_gone(t, t->threads[i]);
	/*
	 * A thread other than the leader exec'd and took the leader's tid
	 * (tests/t0014-torture.sh, "a non-main thread execs"):
	 * the leader's /proc/PID/task/TID files we hold still name the old,
	 * dead task (reads fail), and an interrupt sent to the old leader
	 * will never be answered.  Start this thread afresh.
	 */
	resume(th->tid, 0);
	if ((pid_t)former != th->tid) {
		pid_t tid = th->tid;

		thread_gone(t, th);
		th = thread_add(t, tid, true);
	}
	addrspace_new_epoch(&t->as);
	t->as.dirty = true;	/* the dynamic loader maps libraries next */
	target_refresh_name(t, th);
	debug("exec in %d (was thread %lu)", th->tid, former);
}

/*
 * cpu: the sample's weight is the cpu the thread used since its previous
 * sample, stop to stop.  The kernel brings a running thread's
 * sum_exec_runtime (schedstat) up to date only when it is switched out, at
 * its scheduler tick (4 ms at HZ=250) or when it asks for its own cpu
 * clock; read from another cpu mid-run it lags by up to a tick.  A ptrace
 * stop switches the thread out, so right after the stop it is exact (read
 * just after PTRACE_CONT, it is the same unless a tick fell in those few
 * microseconds).  Weights read at the ticks instead came in scheduler-tick
 * steps, a share of each went to the next sample, and at rates near HZ a
 * busy thread read as idle and skipped a tick (tests/t0004-accuracy.sh,
 * the shares target: no system call while it works).
 */
static void take_runtime(struct thread *th)
{
	uint64_t rt;

	if (proc_read_runtime(th->schedstat_fd, th->stat_fd, &rt) || rt <= th->last_runtime)
		return;
	th->pending_ns += rt - th->last_runtime;
	th->last_runtime = rt;
}

static void on_sample_stop(struct target *t, struct thread *th)
{
	int ret = capture_thread(t->pid, th->tid, &th->cap, addrspace_current(&t->as));

	if (t->hold && !ret) {
		/* a snapshot: everyone stays stopped until all are captured */
		interrupt_done(t, th);
		th->held = true;
		th->captured = true;
		th->sample_epoch = addrspace_epoch(&t->as);
		return;
	}
	resume(th->tid, 0);
	interrupt_done(t, th);
	if (ret) {
		t->lost_samples++;
		return;
	}
	if (t->npauses < t->pauses_alloc)
		t->pauses[t->npauses++] = now_ns() - th->interrupt_ns;
	if (!th->cap.stack_map_end)
		t->as.dirty = true;	/* a stack we have not seen mapped */
	th->captured = true;
	th->sample_epoch = addrspace_epoch(&t->as);
	if (t->stop_runtime)
		take_runtime(th);
	th->sample_ns = th->pending_ns;
	th->pending_ns = 0;
}

/* The parent of a new thread, stopped at the clone event: take its stack. */
static void capture_clone(struct target *t, struct thread *parent)
{
	struct clone_event *ce;

	GROW(t->clones, t->clones_alloc, t->nclones + 1);
	if (t->nclones == t->clones_ready)
		capture_init(&t->clones[t->clones_ready++].cap, t->stack_size);
	ce = &t->clones[t->nclones];
	if (capture_thread(t->pid, parent->tid, &ce->cap, addrspace_current(&t->as))) {
		t->lost_samples++;
		return;
	}
	ce->epoch = addrspace_epoch(&t->as);
	t->nclones++;
}

/*
 * group-stop: keep it stopped until SIGCONT, as without us
 * (tests/t0007-job-control.sh)
 */
static void on_group_stop(struct target *t, struct thread *th)
{
	th->state = THREAD_GROUP_STOPPED;
	if (t->hold && th->interrupting) {
		/* its registers are readable here too; never CONT it */
		interrupt_done(t, th);
		if (!capture_thread(t->pid, th->tid, &th->cap,
				    addrspace_current(&t->as))) {
			th->held = th->held_group = true;
			th->captured = true;
			th->sample_epoch = addrspace_epoch(&t->as);
			return;
		}
		t->lost_samples++;
	}
	if (th->interrupting)
		t->lost_samples++;
	interrupt_done(t, th);
	ptrace(PTRACE_LISTEN, th->tid, 0, 0);
}

static void on_clone(struct target *t, struct thread *th)
{
	unsigned long msg;

	/* the parent waits only for its stack copy, not for /proc opens */
	if (ptrace(PTRACE_GETEVENTMSG, th->tid, 0, &msg) < 0)
		msg = 0;
	if (msg && t->clone_stacks)
		capture_clone(t, th);
	resume(th->tid, 0);
	if (msg)
		thread_add(t, (pid_t)msg, false);
	t->as.dirty = true;	/* its stack is a new mapping */
}

/* What a wait status is (strace's next_event()); see attach/target.h. */
enum target_event {
	TEV_NONE,		/* neither a stop nor an end */
	TEV_GONE,		/* exited or killed */
	TEV_STOP,		/* PTRACE_EVENT_STOP + SIGTRAP */
	TEV_GROUP_STOP,		/* PTRACE_EVENT_STOP + a stop signal */
	TEV_CLONE,
	TEV_EXEC,
	TEV_SIGNAL,		/* signal-delivery stop of *sig */
	TEV_OTHER,		/* another ptrace event: just resume */
};

static enum target_event decode(int status, int *sig)
{
	*sig = 0;
	if (WIFEXITED(status) || WIFSIGNALED(status))
		return TEV_GONE;
	if (!WIFSTOPPED(status))
		return TEV_NONE;
	*sig = WSTOPSIG(status);
	switch (status >> 16) {
	case PTRACE_EVENT_STOP:
		return is_stop_signal(*sig) ? TEV_GROUP_STOP : TEV_STOP;
	case PTRACE_EVENT_CLONE:
		return TEV_CLONE;
	case PTRACE_EVENT_EXEC:
		return TEV_EXEC;
	case 0:
		return TEV_SIGNAL;
	default:
		return TEV_OTHER;
	}
}

/* ... and what is done with it (strace's dispatch_event()). */
static void dispatch(struct target *t, pid_t tid, int status)
{
	struct thread *th = target_thread(t, tid);
	int sig;
	enum target_event ev = decode(status, &sig);

	if (ev == TEV_NONE)
		return;
	if (ev == TEV_GONE) {
		if (th)
			thread_gone(t, th);
		if (tid == t->pid) {
			t->exited = true;
			t->wait_status = status;
		}
		return;
	}
	if (!th || th->state == THREAD_GONE)
		th = thread_add(t, tid, false);	/* first stop of a new thread */
	switch (ev) {
	case TEV_GROUP_STOP:
		on_group_stop(t, th);
		return;
	case TEV_STOP:
		th->state = THREAD_RUNNING;
		if (th->interrupting)
			on_sample_stop(t, th);
		else
			resume(tid, 0);
		return;
	case TEV_CLONE:
		on_clone(t, th);
		return;
	case TEV_EXEC:
		on_exec(t, th);
		return;
	case TEV_SIGNAL:
		/*
		 * signal-delivery stop: deliver exactly that signal, now
		 * (tests/t0006-signals.sh: each of 20000 handled once)
		 */
		resume(tid, sig);
		return;
	case TEV_OTHER:
	case TEV_NONE:
	case TEV_GONE:
		break;
	}
	resume(tid, 0);
}

int target_await(struct target *t, uint64_t deadline_ns)
{
	int status, n = 0;
	pid_t tid;

	while (t->in_flight && !t->exited && now_ns() < deadline_ns) {
		tid = waitpid(-1, &status, __WALL | WNOHANG);
		if (tid > 0) {
			dispatch(t, tid, status);
			n++;
		} else if (tid < 0) {
			if (errno == ECHILD)
				t->exited = true;
			break;
		}
	}
	return n + target_drain(t);
}

void target_release_held(struct target *t)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];

		if (!th->held)
			continue;
		if (th->held_group)
			ptrace(PTRACE_LISTEN, th->tid, 0, 0);
		else
			resume(th->tid, 0);
		th->held = th->held_group = false;
	}
}

int target_wait_tid(struct target *t, pid_t tid)
{
	int status;
	pid_t r = waitpid(tid, &status, __WALL | WNOHANG);

	if (r == tid) {
		dispatch(t, tid, status);
		return 1;
	}
	return r == 0 ? 0 : -errno;
}

int target_drain(struct target *t)
{
	int status, n = 0;
	pid_t tid;

	while ((tid = waitpid(-1, &status, __WALL | WNOHANG)) > 0) {
		dispatch(t, tid, status);
		n++;
	}
	if (tid < 0 && errno == ECHILD)
		t->exited = true;	/* nothing left to trace */
	return n;
}
