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

void target_set_follow(struct target *t, bool follow, bool exit_stops)
{
	t->follow = follow;
	if (follow)
		t->options |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;
	if (exit_stops)
		t->options |= PTRACE_O_TRACEEXIT;
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
}

void target_release(struct target *t)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		thread_close(t->threads[i]);
		free(t->threads[i]);
	}
	free(t->threads);
	for (size_t i = 0; i < t->nprocs; i++)
		free(t->procs[i]);
	free(t->procs);
	u64map_release(&t->proc_index);
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

struct process *target_process(struct target *t, pid_t pid)
{
	uint64_t *v = u64map_find(&t->proc_index, (uint64_t)pid, 0);

	return v ? t->procs[*v] : NULL;
}

/*
 * A process cprof now traces, its image epoch `epoch` of t->as (a new
 * process with the pid of an old one that is gone gets a new record).
 */
static struct process *process_add(struct target *t, pid_t pid, uint32_t epoch, bool root)
{
	struct process *p = xcalloc(1, sizeof(*p));
	bool added;
	uint64_t *slot;

	*p = (struct process){ .pid = pid, .epoch = epoch, .root = root };
	GROW(t->procs, t->procs_alloc, t->nprocs + 1);
	slot = u64map_put(&t->proc_index, (uint64_t)pid, 0, t->nprocs, &added);
	*slot = t->nprocs;
	t->procs[t->nprocs++] = p;
	t->procs_seen++;
	return p;
}

/* A root process: epoch 0 for the first, a new one for each other. */
static struct process *root_add(struct target *t, pid_t pid)
{
	struct process *p = target_process(t, pid);

	if (p && !p->exited)
		return p;
	if (!t->nprocs) {
		t->pid = pid;
		return process_add(t, pid, 0, true);
	}
	return process_add(t, pid, addrspace_add_process(&t->as, pid, ADDRSPACE_NONE), true);
}

/*
 * A new process (followed, or a clone outside the thread group that
 * TRACECLONE brought in): its address space is a copy of its parent's
 * until its maps are read, which they are soon (dirty), not while it
 * waits in its first stop.
 */
static struct process *child_add(struct target *t, pid_t pid, struct process *parent)
{
	struct process *p = target_process(t, pid);

	if (p && !p->exited)
		return p;
	return process_add(t, pid, addrspace_add_process(&t->as, pid,
							 parent ? parent->epoch : ADDRSPACE_NONE),
			   false);
}

void target_refresh_name(struct target *t, struct thread *th)
{
	char name[32];

	(void)t;
	proc_thread_name(th->proc->pid, th->tid, name, sizeof(name));
	if (name[0])
		snprintf(th->name, sizeof(th->name), "%s", name);
	th->name_read_ns = now_ns();
}

/*
 * A thread cprof now traces.  baseline: count its cpu time from now (a
 * thread that existed before attaching) or from zero (born while traced).
 */
static struct thread *thread_add(struct target *t, struct process *p, pid_t tid,
			         bool baseline)
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
	th->proc = p;
	th->state = THREAD_RUNNING;
	th->schedstat_fd = th->stat_fd = th->syscall_fd = -1;
	th->acct_ns = now_ns();
	if (!t->hold) {
		/* the sampler's per-tick readers; a snapshot reads /proc once */
		th->schedstat_fd = proc_open_task_file(p->pid, tid, "schedstat");
		th->stat_fd = proc_open_task_file(p->pid, tid, "stat");
	}
	if (t->read_syscalls)
		th->syscall_fd = proc_open_task_file(p->pid, tid, "syscall");
	capture_init(&th->cap, t->stack_size);
	if (baseline && !t->hold) {
		char state;

		proc_read_runtime(th->schedstat_fd, th->stat_fd, &th->last_runtime);
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

static void interrupt_done(struct target *t, struct thread *th, enum thread_state next);

static void lost(struct target *t, enum lost_reason why)
{
	t->lost_samples++;
	t->lost_by[why]++;
}

static void thread_gone(struct target *t, struct thread *th)
{
	if (th->state == THREAD_GONE)
		return;
	if (th->state == THREAD_INTERRUPTING)
		lost(t, LOST_GONE);
	interrupt_done(t, th, THREAD_GONE);
	th->state = THREAD_GONE;
	th->captured = false;
	thread_close(th);
	if (t->thread_hook)
		t->thread_hook(t->hook_arg, th, false);
}

/*
 * Seize one thread: 1 seized (or already ours), 0 gone, -1 error reported.
 */
static int seize(struct target *t, struct process *p, pid_t tid)
{
	struct proc_status st;
	char hint[256];
	int e;

	if (target_thread(t, tid) && target_thread(t, tid)->state != THREAD_GONE)
		return 1;
	if (ptrace(PTRACE_SEIZE, tid, 0, t->options) == 0) {
		thread_add(t, p, tid, true);
		return 1;
	}
	if (errno == ESRCH)
		return 0;	/* exited meanwhile */
	e = errno;
	if (e == EPERM) {
		int r = proc_status(p->pid, tid, &st);

		/*
		 * auto-attached by TRACECLONE before we saw its event (threads
		 * born while we attach: tests/t0005-new-threads.sh)
		 */
		if (!r && st.tracer == gettid()) {
			thread_add(t, p, tid, false);
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
	if (e == EPERM && t->nthreads == 0 && proc_status(p->pid, 0, &st) == -ESRCH)
		return error("attach %d: no such process", p->pid);
	if (e == EPERM)
		proc_eperm_hint(p->pid, hint, sizeof(hint));
	return error("attach %d: ptrace(PTRACE_SEIZE, %d): %s%s", p->pid, tid, strerror(e), hint);
}

int target_attach(struct target *t, pid_t pid)
{
	size_t pass, ntids, before = t->nthreads;
	struct process *p;
	pid_t *tids;
	bool grew;
	int ret;

	if (!t->nprocs)
		addrspace_init(&t->as, pid);
	p = root_add(t, pid);
	for (pass = 0; pass < ATTACH_PASSES; pass++) {
		ret = proc_tasks(pid, &tids, &ntids);
		if (ret)
			return error("attach %d: /proc/%d/task: %s", pid, pid, strerror(-ret));
		grew = false;
		for (size_t i = 0; i < ntids; i++) {
			if (target_thread(t, tids[i]))
				continue;
			ret = seize(t, p, tids[i]);
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
	if (t->nthreads == before)
		return error("attach %d: no such process", pid);
	ret = addrspace_reload_epoch(&t->as, p->epoch);
	if (ret)
		return error("attach %d: /proc/%d/maps: %s", pid, pid, strerror(-ret));
	return 0;
}

/*
 * Seize one process the user did not name (a descendant of one who was):
 * 0, or -1 if it could not be (gone; or not ours to trace: seize() says
 * why, and the recording goes on without it).
 */
static int attach_child(struct target *t, pid_t pid, struct process *parent)
{
	struct process *p;
	size_t seized = 0;
	bool grew = true;

	if (target_process(t, pid) && !target_process(t, pid)->exited)
		return 0;
	p = child_add(t, pid, parent);
	/* rescanned while threads appear, as target_attach() does */
	for (size_t pass = 0; grew && pass < ATTACH_PASSES; pass++) {
		pid_t *tids;
		size_t ntids;

		grew = false;
		if (proc_tasks(pid, &tids, &ntids))
			break;
		for (size_t i = 0; i < ntids; i++) {
			struct thread *th = target_thread(t, tids[i]);

			if (th && th->state != THREAD_GONE)
				continue;
			/*
			 * (a process forked since its parent was seized is
			 * ours already: seize() knows it by its TracerPid;
			 * one we may not trace is said and left alone)
			 */
			if (seize(t, p, tids[i]) > 0) {
				seized++;
				grew = true;
			}
		}
		free(tids);
	}
	if (!seized) {
		p->exited = true;
		addrspace_end(&t->as, p->epoch);
		return -1;
	}
	addrspace_reload_epoch(&t->as, p->epoch);
	return 0;
}

/*
 * --follow in attach mode: the processes already there below the roots,
 * too.  Each is seized before its children are listed, so a child it
 * forks meanwhile is either listed or traced by the kernel (TRACEFORK).
 * Threads a process creates while being seized come with their first
 * stop (newcomer()).
 */
void target_attach_descendants(struct target *t)
{
	for (size_t i = 0; i < t->nprocs; i++) {
		struct process *p = t->procs[i];
		pid_t *kids;
		size_t nkids;

		if (p->exited || proc_children(p->pid, &kids, &nkids))
			continue;
		for (size_t k = 0; k < nkids; k++)
			attach_child(t, kids[k], p);
		free(kids);
	}
}

int target_seize(struct target *t, const pid_t *tids, size_t n)
{
	struct process *p = root_add(t, t->pid);

	for (size_t i = 0; i < n; i++)
		if (seize(t, p, tids[i]) < 0)
			return -1;
	return 0;
}

/*
 * Every restart of a stopped thread goes through here (strace's
 * ptrace_restart()): the request follows from th->state, a group-stopped
 * thread is LISTENed (it stays stopped until SIGCONT, as without cprof:
 * tests/t0007-job-control.sh), any other is CONTinued with sig.  ESRCH
 * means the thread died while stopped: its exit is reported by waitpid,
 * an event, not an error.  With t->syscall_stops, PTRACE_SYSCALL instead
 * of PTRACE_CONT.  Any other failure is said, with the call, and
 * returned (-errno); the thread's state is left as the caller set it.
 */
static int restart(struct target *t, struct thread *th, int sig)
{
	enum __ptrace_request op = t->syscall_stops ? PTRACE_SYSCALL : PTRACE_CONT;
	const char *name = t->syscall_stops ? "PTRACE_SYSCALL" : "PTRACE_CONT";
	int e;

	if (th->state == THREAD_GROUP_STOPPED) {
		op = PTRACE_LISTEN;
		name = "PTRACE_LISTEN";
		sig = 0;
	}
	if (ptrace(op, th->tid, 0, sig) == 0)
		return 0;
	e = errno;
	if (e != ESRCH)
		error("resume %d: ptrace(%s, %d): %s", th->tid, name, th->tid, strerror(e));
	return -e;
}

int target_launch(struct target *t, char *const argv[], const void *sigmask,
		  char *const envp[])
{
	struct thread *th;
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
		execvpe(argv[0], argv, envp ? envp : environ);
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	t->launched = true;
	addrspace_init(&t->as, pid);
	root_add(t, pid);
	if (ptrace(PTRACE_SEIZE, pid, 0, t->options) < 0) {
		e = errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(go[1]);
		close(err[0]);
		return error("launch %s: ptrace(PTRACE_SEIZE, %d): %s", argv[0], pid, strerror(e));
	}
	th = thread_add(t, t->procs[0], pid, false);
	close(go[1]);
	do
		n = read(err[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(err[0]);
	if (n == sizeof(e)) {
		while (waitpid(pid, &st, __WALL) > 0 && !WIFEXITED(st) && !WIFSIGNALED(st))
			restart(t, th, 0);
		error("%s: %s", argv[0], strerror(e));
		return e == ENOENT ? 127 : 126;
	}
	/* Wait for the exec stop so the maps we read are the command's. */
	for (;;) {
		if (waitpid(pid, &st, __WALL) < 0)
			return error("launch %s: waitpid: %s", argv[0], strerror(errno));
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			t->exited = t->procs[0]->exited = true;
			t->wait_status = t->procs[0]->wait_status = st;
			return 0;
		}
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXEC << 8)))
			break;
		/* a signal before the exec: deliver it; anything else: resume */
		restart(t, th, (st >> 16) ? 0 : WSTOPSIG(st));
	}
	addrspace_reload(&t->as);
	t->as.epochs[0].dirty = t->as.dirty = true;	/* ld.so maps libraries next */
	if (t->launch_held)
		t->held = th;
	else
		restart(t, th, 0);
	return 0;
}

void target_go(struct target *t)
{
	if (t->held)
		restart(t, t->held, 0);
	t->held = NULL;
}

int target_interrupt(struct target *t, struct thread *th)
{
	/*
	 * A thread past its exit stop still uses cpu, in the kernel (tearing
	 * down cc1's address space takes ms), but is never stopped again: an
	 * interrupt then is a sample lost (98 of 163 lost in one build job).
	 * Its cpu was read at the exit stop.
	 */
	if (th->exiting)
		return -ESRCH;
	/* room for every pause in flight: the stop path never allocates */
	GROW(t->pauses, t->pauses_alloc, t->npauses + t->in_flight + 1);
	th->interrupt_ns = now_ns();
	if (ptrace(PTRACE_INTERRUPT, th->tid, 0, 0) < 0)
		return -errno;
	th->state = THREAD_INTERRUPTING;
	t->in_flight++;
	return 0;
}

/*
 * An interrupt was answered (or can no longer be): the thread is now in
 * state next.  A thread not interrupting keeps its state.
 */
static void interrupt_done(struct target *t, struct thread *th, enum thread_state next)
{
	if (th->state != THREAD_INTERRUPTING)
		return;
	th->state = next;
	t->in_flight--;
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
		if (t->threads[i] != th && t->threads[i]->proc == th->proc)
			thread_gone(t, t->threads[i]);
	/*
	 * A thread other than the leader exec'd and took the leader's tid
	 * (tests/t0014-torture.sh, "a non-main thread execs"):
	 * the leader's /proc/PID/task/TID files we hold still name the old,
	 * dead task (reads fail), and an interrupt sent to the old leader
	 * will never be answered.  Start this thread afresh.
	 */
	restart(t, th, 0);
	if ((pid_t)former != th->tid) {
		pid_t tid = th->tid;

		thread_gone(t, th);
		th = thread_add(t, th->proc, tid, true);
	}
	th->proc->epoch = addrspace_exec(&t->as, th->proc->epoch);
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
	int ret = capture_thread(th->proc->pid, th->tid, &th->cap, thread_maps(t, th));

	if (t->hold && !ret) {
		/* a snapshot: everyone stays stopped until all are captured */
		interrupt_done(t, th, THREAD_HELD);
		th->captured = true;
		th->sample_epoch = th->cap.epoch;
		return;
	}
	restart(t, th, 0);
	interrupt_done(t, th, THREAD_RUNNING);
	if (ret) {
		lost(t, LOST_CAPTURE);
		return;
	}
	if (t->npauses < t->pauses_alloc)
		t->pauses[t->npauses++] = now_ns() - th->interrupt_ns;
	if (!th->cap.stack_map_end)
		thread_maps(t, th)->dirty = true;	/* a stack not seen mapped */
	th->captured = true;
	th->sample_epoch = th->cap.epoch;
	if (t->stop_runtime)
		take_runtime(th);
	th->sample_ns = th->pending_ns;
	th->pending_ns = 0;
}

/* The parent of a new thread, stopped at the clone event: take its stack. */
static void capture_clone(struct target *t, struct thread *parent, bool fork)
{
	struct clone_event *ce;

	GROW(t->clones, t->clones_alloc, t->nclones + 1);
	if (t->nclones == t->clones_ready)
		capture_init(&t->clones[t->clones_ready++].cap, t->stack_size);
	ce = &t->clones[t->nclones];
	if (capture_thread(parent->proc->pid, parent->tid, &ce->cap, thread_maps(t, parent))) {
		lost(t, LOST_CLONE);
		return;
	}
	ce->epoch = ce->cap.epoch;
	ce->fork = fork;
	t->nclones++;
}

/*
 * group-stop: keep it stopped until SIGCONT, as without us
 * (tests/t0007-job-control.sh)
 */
static void on_group_stop(struct target *t, struct thread *th)
{
	if (th->state == THREAD_INTERRUPTING) {
		/* a snapshot: its registers are readable here too; never CONT it */
		if (t->hold &&
		    !capture_thread(th->proc->pid, th->tid, &th->cap, thread_maps(t, th))) {
			interrupt_done(t, th, THREAD_HELD_GROUP);
			th->captured = true;
			th->sample_epoch = th->cap.epoch;
			return;
		}
		lost(t, LOST_GROUP_STOP);
		interrupt_done(t, th, THREAD_GROUP_STOPPED);
	}
	th->state = THREAD_GROUP_STOPPED;
	restart(t, th, 0);
}

/*
 * Is tid, just cloned by a thread of pid, in pid's thread group?  A clone
 * without CLONE_THREAD whose exit signal is not SIGCHLD is reported as a
 * clone, not a fork, yet it is a process of its own.
 */
static bool in_group(pid_t pid, pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d", pid, tid);
	return access(path, F_OK) == 0;
}

/* What a wait status is (strace's next_event()); see attach/target.h. */
enum target_event {
	TEV_NONE,		/* neither a stop nor an end */
	TEV_GONE,		/* exited or killed */
	TEV_STOP,		/* PTRACE_EVENT_STOP + SIGTRAP */
	TEV_GROUP_STOP,		/* PTRACE_EVENT_STOP + a stop signal */
	TEV_CLONE,
	TEV_FORK,		/* fork or vfork: a new process */
	TEV_EXEC,
	TEV_EXIT,		/* PTRACE_EVENT_EXIT: about to exit */
	TEV_SIGNAL,		/* signal-delivery stop of *sig */
	TEV_OTHER,		/* another ptrace event: just resume */
};

/*
 * A clone or fork event: the parent is stopped until resumed here.  The
 * child is already traced (the kernel attached it); its first stop may
 * have been seen before this event (then it is known already).
 */
static void on_clone(struct target *t, struct thread *th, enum target_event ev)
{
	unsigned long msg;
	struct thread *child;
	pid_t tid;

	/* the parent waits only for its stack copy, not for /proc opens */
	if (ptrace(PTRACE_GETEVENTMSG, th->tid, 0, &msg) < 0)
		msg = 0;
	if (msg && t->clone_stacks)
		capture_clone(t, th, ev == TEV_FORK);
	restart(t, th, 0);
	if (!msg)
		return;
	tid = (pid_t)msg;
	child = target_thread(t, tid);
	if (child && child->state != THREAD_GONE)
		return;
	if (ev == TEV_CLONE && in_group(th->proc->pid, tid)) {
		thread_add(t, th->proc, tid, false);
		thread_maps(t, th)->dirty = true;	/* its stack is a new mapping */
	} else {
		thread_add(t, child_add(t, tid, th->proc), tid, false);
	}
}

/*
 * A first stop of a thread not seen yet: born by a clone or fork whose
 * event comes later.  Whose is it?  /proc says (Tgid).
 */
static struct thread *newcomer(struct target *t, pid_t tid)
{
	struct proc_status st;
	struct process *p = NULL;

	if (!proc_status(tid, 0, &st) && st.tgid != tid) {
		p = target_process(t, st.tgid);
		if (p && p->exited)
			p = NULL;
	}
	if (!p)
		p = child_add(t, tid, NULL);
	return thread_add(t, p, tid, false);
}

/*
 * About to exit (PTRACE_EVENT_EXIT): the thread's last cpu time, which no
 * tick may have seen (a child that lives 5 ms), and its process's maps
 * if they changed since they were read, while both can still be read.
 */
static void on_exit_stop(struct target *t, struct thread *th)
{
	struct maps *m = thread_maps(t, th);

	if (th->state == THREAD_INTERRUPTING)
		lost(t, LOST_EXIT);
	th->exiting = true;
	interrupt_done(t, th, THREAD_RUNNING);
	if (t->stop_runtime)
		take_runtime(th);
	if (m->live && m->dirty)
		addrspace_reload_epoch(&t->as, th->proc->epoch);
	if (t->exit_hook)
		t->exit_hook(t->hook_arg, th);
	restart(t, th, 0);
}

/* A process's leader reported its end: the whole thread group is gone. */
static void process_gone(struct target *t, struct process *p, int status)
{
	bool all = true;

	p->exited = true;
	p->wait_status = status;
	addrspace_end(&t->as, p->epoch);
	if (!p->root)
		return;
	if (p == t->procs[0])
		t->wait_status = status;
	for (size_t i = 0; i < t->nprocs; i++)
		all &= !t->procs[i]->root || t->procs[i]->exited;
	t->exited = all;
}

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
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
		return TEV_FORK;
	case PTRACE_EVENT_EXEC:
		return TEV_EXEC;
	case PTRACE_EVENT_EXIT:
		return TEV_EXIT;
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
		struct process *p = th ? th->proc : target_process(t, tid);

		if (th)
			thread_gone(t, th);
		if (p && tid == p->pid && !p->exited)
			process_gone(t, p, status);
		return;
	}
	if (!th || th->state == THREAD_GONE)
		th = newcomer(t, tid);	/* first stop of a new thread */
	/*
	 * Any stop but a group-stop means a listened group-stop is over (the
	 * restart below must be a CONT, not a LISTEN); SIGCONT's own
	 * PTRACE_EVENT_STOP usually says so first (TEV_STOP below).
	 */
	if (ev != TEV_GROUP_STOP && th->state == THREAD_GROUP_STOPPED)
		th->state = THREAD_RUNNING;
	switch (ev) {
	case TEV_GROUP_STOP:
		on_group_stop(t, th);
		return;
	case TEV_STOP:
		if (th->state == THREAD_INTERRUPTING) {
			on_sample_stop(t, th);
		} else {
			th->state = THREAD_RUNNING;	/* or a listened group-stop ended */
			restart(t, th, 0);
		}
		return;
	case TEV_CLONE:
	case TEV_FORK:
		on_clone(t, th, ev);
		return;
	case TEV_EXIT:
		on_exit_stop(t, th);
		return;
	case TEV_EXEC:
		on_exec(t, th);
		return;
	case TEV_SIGNAL:
		/*
		 * signal-delivery stop: deliver exactly that signal, now
		 * (tests/t0006-signals.sh: each of 20000 handled once)
		 */
		restart(t, th, sig);
		return;
	case TEV_OTHER:
	case TEV_NONE:
	case TEV_GONE:
		break;
	}
	restart(t, th, 0);
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

		if (th->state == THREAD_HELD_GROUP) {
			th->state = THREAD_GROUP_STOPPED;
			restart(t, th, 0);
		} else if (th->state == THREAD_HELD) {
			restart(t, th, 0);
			th->state = THREAD_RUNNING;
		}
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
