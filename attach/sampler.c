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
#include "../symbolize/maps.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define NAME_REFRESH_NS 1000000000ULL
#define AWAIT_NS 300000ULL	/* poll for stops at most 0.3 ms a tick */
#define MAPS_REFRESH_NS 20000000ULL	/* reread maps at most 50x/s */

/*
 * Stop bias.  PTRACE_INTERRUPT reaches a thread running on another cpu by
 * an IPI, which here takes longer (~100 us) than the gap between a busy
 * thread's system calls; the stop then happens at the next syscall return
 * instead of where the thread was (measured: 96% of stops at syscall exits
 * for a thread calling clock_gettime every 27 us, where perf finds 5% of
 * its time in and around that call).  A stop at a syscall exit says so:
 * orig_rax holds the syscall number, not -1.
 *
 * Such a sample keeps, on its own stack, the thread's system-time share
 * (the kernel's utime/stime split over the recording); the rest is moved
 * to the code that issued the call: the same stack without its leading
 * vDSO and system-call-wrapper frames.  See cprof(1), ACCURACY; pinned
 * against perf by tests/t0010-stop-bias.sh.
 */
struct stop_fix {
	size_t full, moved;	/* builder entries: as sampled, and caller-only */
	pid_t tid;
	uint64_t ns;		/* cpu ns that came from syscall-exit stops */
};

static bool stopped_at_syscall(const struct capture *c)
{
	return (int64_t)c->regs.orig_rax >= 0;
}

/* Index of the first frame outside the system call's wrapper, or 0. */
static size_t wrapper_frames(struct target *t, uint32_t epoch, const uint64_t *pcs,
			     size_t n)
{
	const struct maps *m;
	const struct mapping *mp;
	const struct module *wrapper = NULL;
	size_t i = 0;

	if (epoch >= t->as.nepochs)
		return 0;
	m = &t->as.epochs[epoch];
	for (; i < n; i++) {
		mp = maps_find(m, pcs[i]);
		if (!mp || !mp->mod)
			break;
		if (mp->mod->is_vdso)
			continue;
		if (!wrapper) {
			/* a syscall made by the program itself: only its leaf */
			if (m->exe && !strcmp(mp->mod->path, m->exe))
				break;
			wrapper = mp->mod;
		}
		if (mp->mod != wrapper)
			break;
	}
	if (i == 0 || i >= n)
		i = n > 1 ? 1 : 0;	/* keep at least one frame */
	if (i < n && pc_is_pseudo(pcs[i]))
		return 0;
	return i;
}

static void note_syscall_stop(struct sampler *s, struct thread *th, size_t full,
			      uint32_t label, uint64_t *pcs, size_t n)
{
	size_t skip = wrapper_frames(&s->target, th->sample_epoch, pcs, n);
	int64_t zero[2] = { 0, 0 };
	uint64_t *slot;
	bool added;

	s->res.syscall_stops++;
	if (!skip || s->opts.raw_stops || !th->sample_ns)
		return;
	slot = u64map_put(&s->fix_index, full, 0, s->nfixes, &added);
	if (added) {
		/*
		 * The call site may sit in a small inlined helper; the code
		 * that ran between the calls is its enclosing function.
		 */
		uint64_t leaf = pcs[skip];

		pcs[skip] |= PC_PHYSICAL;
		GROW(s->fixes, s->fixes_alloc, s->nfixes + 1);
		s->fixes[s->nfixes++] = (struct stop_fix){
			.full = full, .tid = th->tid,
			.moved = pb_add_labeled(s->builder, th->tid, label,
						th->sample_epoch, pcs + skip,
						n - skip, zero),
		};
		pcs[skip] = leaf;
	}
	s->fixes[*slot].ns += th->sample_ns;
}

/* At the end, when each thread's user/system split is known. */
static void apply_stop_fixes(struct sampler *s)
{
	for (size_t i = 0; i < s->nfixes; i++) {
		struct stop_fix *f = &s->fixes[i];
		struct thread *th = target_thread(&s->target, f->tid);
		double ut, st, user_share;
		int64_t move[2] = { 0, 0 };

		if (!th)
			continue;
		ut = (double)(th->utime - th->utime0);
		st = (double)(th->stime - th->stime0);
		if (ut + st < 1)
			continue;	/* no split known: leave as sampled */
		user_share = ut / (ut + st);
		move[1] = (int64_t)(user_share * (double)f->ns);
		pb_add_to(s->builder, f->moved, move);
		move[1] = -move[1];
		pb_add_to(s->builder, f->full, move);
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
		if (s->opts.mode->wanted && !s->opts.mode->wanted(s, u, th))
			continue;
		values[0] = 1;
		values[1] = (int64_t)th->sample_ns;
		/* names change after creation (pthread_setname_np): reread */
		if (!th->has_entry || now_ns() - th->name_read_ns > NAME_REFRESH_NS)
			target_refresh_name(t, th);
		th->last_entry = pb_add_labeled(s->builder, th->tid, th->sample_label,
						th->sample_epoch, pcs, n, values);
		th->has_entry = true;
		s->res.samples++;
		if (s->opts.mode->added && s->opts.mode->added(s, u, th, th->last_entry))
			continue;
		if (stopped_at_syscall(&th->cap)) {
			note_syscall_stop(s, th, th->last_entry, th->sample_label, pcs, n);
		}
	}
}

/*
 * A leftover for modes whose time goes to the thread's last sample.  A
 * thread no tick caught that exited (a child that lived less than a tick:
 * a build's compilers, a test runner's workers) has no stack for it: its
 * time goes to "[not sampled]", with its process's and thread's labels,
 * so that the profile's total stays the time the tree used
 * (tests/t0018-follow.sh).
 */
void sampler_leftover_to_last(struct sampler *s, struct thread *th)
{
	static const uint64_t none = PC_NOT_SAMPLED;
	int64_t values[2] = { 0, (int64_t)th->pending_ns };

	if (!th->has_entry) {
		/* (a live one never sampled is idle: as before, no entry) */
		if (th->state != THREAD_GONE)
			return;
		th->last_entry = pb_add(s->builder, th->tid, th->proc->epoch, &none, 1, values);
		th->has_entry = true;
		return;
	}
	pb_add_to(s->builder, th->last_entry, values);
}

/* time used after a thread's last sample goes to its last stack */
static void finish(struct sampler *s)
{
	const struct sample_mode *m = s->opts.mode;
	struct target *t = &s->target;
	uint64_t end = now_ns();

	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];

		if (th->state != THREAD_GONE) {
			char state;

			if (m->end_time)
				m->end_time(s, th, end);
			proc_read_stat(th->stat_fd, &state, &th->utime, &th->stime);
			target_refresh_name(t, th);
		}
		if (th->pending_ns && m->leftover)
			m->leftover(s, th);
		if (th->has_entry)
			pb_thread_name(s->builder, th->tid, th->name);
	}
	apply_stop_fixes(s);
}

/*
 * Ticks are dithered: each comes period x U(0.5, 1.5) after the previous
 * one.  The mean rate is HZ, but a fixed period beats against periodic
 * work: a program looping every 50 ms sampled at a steady 99 Hz drifts
 * through its loop only 0.6 times in 3 s, and one function read 41% where
 * it used 50% (measured with tests/targets/burn).
 */
static uint64_t next_gap(struct sampler *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->period / 2 + s->rng % s->period;
}

static int arm_timer(int fd, uint64_t at)
{
	struct itimerspec its = {
		.it_value = { at / 1000000000ULL, at % 1000000000ULL },
	};

	return timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int open_timer(struct sampler *s)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	s->period = 1000000000ULL / s->opts.hz;
	s->rng = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
	s->next_tick = now_ns() + next_gap(s);
	if (fd < 0 || arm_timer(fd, s->next_tick) < 0)
		return error("timerfd: %s", strerror(errno));
	return fd;
}

void sampler_tick_every(struct sampler *s, uint64_t ns)
{
	uint64_t fastest = 1000000000ULL / s->opts.hz;

	s->period = ns > fastest ? ns : fastest;
}

/* A tick fired: count the ones we were too late for, arm the next. */
static void on_tick(struct sampler *s, int fd)
{
	uint64_t now = now_ns();

	s->res.ticks++;
	if (now > s->next_tick + s->period)
		s->res.missed_ticks += (now - s->next_tick) / s->period;	/* never bunched */
	s->next_tick += next_gap(s);
	if (s->next_tick <= now)
		s->next_tick = now + next_gap(s);
	arm_timer(fd, s->next_tick);
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

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return (a > b) - (a < b);
}

/* What the caller may know of the target, once the recording is over. */
static void fill_result(struct sampler *s)
{
	struct target *t = &s->target;
	struct sampler_result *r = &s->res;
	uint64_t *v;

	r->pid = t->pid;
	r->launched = t->launched;
	r->exited = t->exited;
	r->wait_status = t->wait_status;
	r->threads_seen = t->threads_seen;
	r->processes_seen = t->procs_seen;
	r->lost_samples = t->lost_samples;
	if (t->lost_samples)
		debug("lost samples: %llu exit, %llu gone, %llu capture, %llu clone, %llu group-stop",
		      (unsigned long long)t->lost_by[LOST_EXIT],
		      (unsigned long long)t->lost_by[LOST_GONE],
		      (unsigned long long)t->lost_by[LOST_CAPTURE],
		      (unsigned long long)t->lost_by[LOST_CLONE],
		      (unsigned long long)t->lost_by[LOST_GROUP_STOP]);
	r->npauses = t->npauses;
	if (!t->npauses)
		return;
	v = xmalloc(t->npauses * sizeof(*v));
	memcpy(v, t->pauses, t->npauses * sizeof(*v));
	qsort(v, t->npauses, sizeof(*v), cmp_u64);
	r->pause_p50_ns = v[t->npauses / 2];
	r->pause_p99_ns = v[(t->npauses * 99) / 100];
	r->pause_max_ns = v[t->npauses - 1];
	free(v);
}

/*
 * CPROF_TEST_FAIL_POLL=N, for tests only (tests/t0008-endings.sh): the
 * poll after the N-th tick fails with EIO, as a real poll failure would,
 * so that the "profile written, but cut short" path (exit 3) is tested.
 */
static uint64_t fail_poll_at(void)
{
	const char *v = getenv("CPROF_TEST_FAIL_POLL");

	return v ? strtoull(v, NULL, 10) : 0;
}

/* the target's thread events, for modes that keep things per thread */
static void thread_hook(void *arg, struct thread *th, bool born)
{
	struct sampler *s = arg;
	const struct sample_mode *m = s->opts.mode;

	if (born && m->thread_new)
		m->thread_new(s, th);
	else if (!born && m->thread_gone)
		m->thread_gone(s, th);
}

static void exit_hook(void *arg, struct thread *th)
{
	struct sampler *s = arg;

	if (s->opts.mode->thread_exiting)
		s->opts.mode->thread_exiting(s, th);
}

static void record(struct sampler *s)
{
	struct target *t = &s->target;
	struct unwinder *u = NULL;
	uint64_t start, deadline, *pcs, fail_at = fail_poll_at();
	struct pollfd fds[2];
	int tfd = -1, sfd, ret;

	pcs = xcalloc(s->opts.max_depth + 2, sizeof(*pcs));
	sfd = signalfd(-1, &s->opts.handled, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		s->res.status = error("signalfd: %s", strerror(errno));
		goto out;
	}
	target_init(t, s->opts.stack_size);
	t->read_syscalls = s->opts.mode->read_syscalls;
	t->clone_stacks = s->opts.mode->clone_stacks;
	t->stop_runtime = s->opts.mode->stop_runtime;
	/*
	 * Exit stops: the cpu a thread used after its last sample (cpu), and
	 * a short-lived child's maps before it is gone (attach/target.c), what
	 * a mode reads of a process at its end (heap: libcprof-heap.so's set).
	 */
	target_set_follow(t, s->opts.follow,
			  s->opts.follow || t->stop_runtime ||
			  (s->opts.mode->exit_stops && s->opts.argv));
	t->thread_hook = thread_hook;
	t->exit_hook = exit_hook;
	t->hook_arg = s;
	if (s->opts.argv) {
		char **env = s->opts.mode->launch_env ? s->opts.mode->launch_env(s) : NULL;

		/* held at its exec until the mode is ready (heap: a probe's cost
		 * measured, which takes seconds on a loaded machine) */
		t->launch_held = true;
		s->res.status = target_launch(t, s->opts.argv, &s->opts.orig_mask, env);
		for (size_t i = 0; env && env[i]; i++)
			free(env[i]);
		free(env);
	}
	else
		s->res.status = target_attach(t, s->opts.pid);
	for (size_t i = 0; !s->res.status && i < s->opts.nmore_pids; i++)
		s->res.status = target_attach(t, s->opts.more_pids[i]);
	if (!s->res.status && !s->opts.argv && s->opts.follow)
		target_attach_descendants(t);
	if (s->res.status)
		goto out;
	tfd = open_timer(s);
	if (tfd < 0) {
		s->res.status = -1;
		goto out;
	}
	u = unwinder_new(&t->as);
	if (!u) {
		s->res.status = -1;
		goto out;
	}
	if (s->opts.mode->start && s->opts.mode->start(s)) {
		s->res.status = -1;
		goto out;
	}
	target_go(t);
	start = now_ns();
	for (size_t i = 0; i < t->nthreads; i++)
		t->threads[i]->acct_ns = start;
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
		if (fail_at && s->res.ticks >= fail_at) {
			errno = EIO;
			fds[0].revents = fds[1].revents = 0;
			ret = -1;
		} else {
			ret = poll(fds, 2, timeout);
		}
		if (ret < 0 && errno != EINTR) {
			/* what was collected so far is still written (exit 3) */
			error("poll: %s", strerror(errno));
			s->res.cut_short = true;
			break;
		}
		/* stops first: a thread we interrupted waits for its resume */
		target_drain(t);
		if (s->opts.cancel && atomic_load(s->opts.cancel))
			break;
		if (fds[1].revents & POLLIN && read_signals(s, sfd))
			break;
		if (fds[0].revents & POLLIN &&
		    read(tfd, &exp, sizeof(exp)) == sizeof(exp)) {
			on_tick(s, tfd);
			if (s->opts.mode->tick)
				s->opts.mode->tick(s);
			target_await(t, now_ns() + AWAIT_NS);
		}
		/* every thread runs again: a good moment to reread maps */
		addrspace_refresh_all(&t->as, MAPS_REFRESH_NS);
		unwind_captured(s, u, pcs);
		if (s->opts.mode->clones)
			s->opts.mode->clones(s, u, pcs);
		if (s->opts.mode->probes)
			s->opts.mode->probes(s, u, pcs, false);
		if (s->res.cut_short)
			break;	/* the mode said why (heap: over its budget) */
	}
	s->res.duration_ns = now_ns() - start;
	/* resume every stop reported so far, re-injecting signals */
	target_drain(t);
	unwind_captured(s, u, pcs);
	if (s->opts.mode->clones)
		s->opts.mode->clones(s, u, pcs);
	if (s->opts.mode->probes)
		s->opts.mode->probes(s, u, pcs, true);
	finish(s);
out:
	target_go(t);	/* (a launch that failed before the mode was ready) */
	/* a mode's probes (perf events) go before the tracees do */
	if (s->opts.mode->release)
		s->opts.mode->release(s);
	/* the mode is done: the threads the last drain meets are not its */
	t->thread_hook = NULL;
	t->exit_hook = NULL;
	unwinder_free(u);
	free(s->fixes);
	u64map_release(&s->fix_index);
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	free(pcs);
	/*
	 * Last, right before the kernel detaches: a signal that arrived while
	 * we unwound and added up is delivered, not left in a stop (whose
	 * signal the detach would drop).
	 */
	target_drain(t);
	fill_result(s);
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

struct addrspace *sampler_addrspace(struct sampler *s)
{
	return &s->target.as;
}

void sampler_release(struct sampler *s)
{
	target_release(&s->target);
}

unsigned sampler_hz(const struct sample_mode *m, unsigned hz, bool hz_given)
{
	return m->hz && !hz_given ? m->hz : hz;
}

uint64_t sampler_rate(const struct sampler_opts *o)
{
	if (o->mem_rate)
		return o->mem_rate;
	return o->mode->period == PERIOD_BYTES ? HEAP_DEFAULT_RATE : 1;
}

int64_t sampler_period(const struct sampler_opts *o)
{
	switch (o->mode->period) {
	case PERIOD_TICK:
		return 1000000000LL / o->hz;
	case PERIOD_BYTES:
	case PERIOD_CALLS:
		return (int64_t)sampler_rate(o);
	case PERIOD_ONE:
		break;
	}
	return 1;
}

double *sampler_stat(struct sampler_result *r, const char *name)
{
	for (size_t i = 0; i < r->nstats; i++)
		if (!strcmp(r->stats[i].name, name))
			return &r->stats[i].value;
	if (r->nstats == SAMPLER_MAX_STATS)
		BUG("more than %d numbers of a mode: %s", SAMPLER_MAX_STATS, name);
	r->stats[r->nstats] = (struct sampler_stat){ .name = name };
	return &r->stats[r->nstats++].value;
}

const double *sampler_stat_find(const struct sampler_result *r, const char *name)
{
	for (size_t i = 0; i < r->nstats; i++)
		if (!strcmp(r->stats[i].name, name))
			return &r->stats[i].value;
	return NULL;
}

double sampler_stat_value(const struct sampler_result *r, const char *name)
{
	const double *v = sampler_stat_find(r, name);

	return v ? *v : 0;
}

void sampler_say_pauses(const struct sampler *s, sampler_say_fn say, void *arg)
{
	const struct sampler_result *r = &s->res;

	say(arg, xasprintf("pause per sample: p50 %lluus p99 %lluus max %lluus over %zu samples",
			   (unsigned long long)r->pause_p50_ns / 1000,
			   (unsigned long long)r->pause_p99_ns / 1000,
			   (unsigned long long)r->pause_max_ns / 1000, r->npauses));
}

void sampler_say_syscall_stops(const struct sampler *s, sampler_say_fn say, void *arg)
{
	say(arg, xasprintf("stops at a system call return: %llu of %llu samples%s",
			   (unsigned long long)s->res.syscall_stops,
			   (unsigned long long)s->res.samples,
			   s->opts.raw_stops ? " (left as sampled: --raw-stops)" :
			   " (user share moved to the calling code)"));
}

void sampler_stop_comments(const struct sampler *s, sampler_say_fn say, void *arg)
{
	sampler_say_pauses(s, say, arg);
	sampler_say_syscall_stops(s, say, arg);
}

char *sampler_stop_summary(const struct sampler *s)
{
	const struct sampler_result *r = &s->res;

	return xasprintf("pause p50 %lluus p99 %lluus max %lluus, %llu missed ticks, %llu lost samples",
			 (unsigned long long)r->pause_p50_ns / 1000,
			 (unsigned long long)r->pause_p99_ns / 1000,
			 (unsigned long long)r->pause_max_ns / 1000,
			 (unsigned long long)r->missed_ticks,
			 (unsigned long long)r->lost_samples);
}
