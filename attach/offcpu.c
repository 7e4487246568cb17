/*
 * attach/offcpu.c - the wall, block and mutex ticks: where each thread is
 * now, running or blocked, mostly without stopping it.
 */
#define _GNU_SOURCE
#include "offcpu.h"
#include "procfs.h"
#include "sampler.h"
#include "unwind.h"
#include "../lib/util.h"
#include "../profiles/builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

/*
 * Off the cpu: wall, block and mutex.
 *
 * Every tick, each thread's wall time since the last tick (dt) goes to
 * what it is doing now.  A running thread (state R) is interrupted and
 * sampled (wall only).  A blocked thread is not stopped at all: the kernel
 * tells its system call, arguments, user sp and pc in /proc/PID/task/TID/
 * syscall, and its stack cannot change while it stays blocked, so cprof
 * copies the stack with process_vm_readv and unwinds from sp and pc.  That
 * stack is the "episode": while the thread's cpu time (schedstat) does not
 * move, the next ticks add to the same entry without reading anything
 * else; when it is found blocked again in a place it was seen blocked in
 * (one of its last EPISODES: same call number, sp and pc, and the same
 * values in the stack words the unwind read), that stack is reused
 * without a new copy or unwind.
 *
 * An unwind from sp and pc alone fails where a frame's CFA needs another
 * register (frame-pointer code: CFA = rbp + 16).  Then, and only for calls
 * the kernel restarts by itself after a ptrace stop (futex, nanosleep,
 * poll, select, wait, read on anything but a socket), the thread is
 * interrupted once for its registers; every other call keeps the shorter
 * stack, ending in [unknown], rather than risk an EINTR (epoll_wait and
 * socket calls with timeouts return EINTR to an interrupted caller; no
 * call returning early: tests/t0013-offcpu.sh).
 */

/* The modes' numbers (sampler_stat): blocked stacks copied, and of those
 * the threads that had to be stopped for their registers after all. */
static const char STAT_COPIES[] = "blocked copies", STAT_STOPS[] = "blocked stops";

/*
 * A place a thread was seen blocked in, with its stack's builder entry.
 * Threads often alternate between a few (a lock, then a sleep): the last
 * EPISODES are kept.
 */
#define EPISODES 4
struct episode {
	struct proc_syscall key;
	uint32_t label;
	size_t entry;
	uint64_t *words;	/* the stack words its unwind read: */
	size_t nwords, words_alloc;	/* address, value pairs */
};

/* What these modes keep of each thread (th->mode_data), from its birth. */
struct blocked {
	bool sample_episode;	/* the captured sample is of a blocked call: */
	char bstate;		/* ... its /proc state letter (S, D, T) */
	struct proc_syscall bkey;	/* ... what /proc said of it */
	int cur_ep;		/* eps[] it is blocked in now, or -1 */
	bool adopt;		/* stopped once in it: adopt its restart */
	bool ignored;		/* blocked in a call this mode does not count */
	struct episode eps[EPISODES];	/* blocked places seen last */
	unsigned neps, next_ep;
};

static struct blocked *B(struct thread *th)
{
	struct blocked *b = th->mode_data;

	if (!b) {
		b = th->mode_data = xcalloc(1, sizeof(*b));
		b->cur_ep = -1;
	}
	return b;
}

/* a thread gone (its episodes can no longer grow), or the recording's end */
static void offcpu_thread_gone(struct sampler *s, struct thread *th)
{
	struct blocked *b = th->mode_data;

	(void)s;
	if (!b)
		return;
	for (unsigned i = 0; i < EPISODES; i++)
		free(b->eps[i].words);
	free(b);
	th->mode_data = NULL;
}

static void offcpu_release(struct sampler *s)
{
	for (size_t i = 0; i < s->target.nthreads; i++)
		offcpu_thread_gone(s, s->target.threads[i]);
}

/* The three modes' flags. */
enum {
	OFFCPU_WALL = 1,	/* wall: running threads too, every tick counts */
	OFFCPU_LOCKS = 2,	/* mutex: futex waits only */
};

static bool is_wall(const struct sampler *s)
{
	return s->opts.mode->flags & OFFCPU_WALL;
}

static bool is_futex_wait(const struct proc_syscall *sc)
{
	return sc->nr == SYS_futex || sc->nr == SYS_futex_waitv;
}

/* Same call site (the arguments may differ: a futex value, a timeout). */
static bool same_call(const struct proc_syscall *a, const struct proc_syscall *b)
{
	return a->nr == b->nr && a->sp == b->sp && a->pc == b->pc;
}

static bool same_args(const struct proc_syscall *a, const struct proc_syscall *b)
{
	return same_call(a, b) && !memcmp(a->args, b->args, sizeof(a->args));
}

/*
 * Blocked again in the same call (number, sp, pc): the same stack too?  Sibling calls from one function can match all of those and
 * still differ in their return addresses.  The episode's unwind read some
 * stack words (return addresses, saved frame pointers): if each still
 * holds the value it had, a new unwind would give the same frames.  One
 * process_vm_readv; the thread is not stopped.
 */
#define MAX_WORDS 512

/* A new episode, just unwound: keep it, replacing the oldest. */
static void offcpu_keep_episode(struct unwinder *u, struct thread *th, size_t entry)
{
	struct blocked *b = B(th);
	unsigned slot = b->next_ep;
	struct episode *ep = &b->eps[slot];
	const struct capture *c = &th->cap;
	size_t n;
	const uint64_t *addr = unwinder_stack_reads(u, &n);

	b->next_ep = (slot + 1) % EPISODES;
	if (b->neps < EPISODES)
		b->neps++;
	ep->key = b->bkey;
	ep->label = th->sample_label;
	ep->entry = entry;
	if (n > MAX_WORDS)
		n = MAX_WORDS;	/* compare the innermost part only */
	GROW(ep->words, ep->words_alloc, 2 * n);
	for (size_t i = 0; i < n; i++) {
		ep->words[2 * i] = addr[i];
		memcpy(&ep->words[2 * i + 1], c->stack + (addr[i] - c->stack_addr), 8);
	}
	ep->nwords = n;
	b->cur_ep = (int)slot;
}

static bool same_stack(pid_t pid, const struct episode *ep)
{
	struct iovec local, remote[MAX_WORDS];
	uint64_t now[MAX_WORDS];
	size_t n = ep->nwords;

	if (!n)
		return true;	/* the walk read nothing from the stack */
	for (size_t i = 0; i < n; i++)
		remote[i] = (struct iovec){ (void *)(uintptr_t)ep->words[2 * i], 8 };
	local = (struct iovec){ now, n * 8 };
	if (process_vm_readv(pid, &local, 1, remote, n, 0) != (ssize_t)(n * 8))
		return false;
	for (size_t i = 0; i < n; i++)
		if (now[i] != ep->words[2 * i + 1])
			return false;
	return true;
}

/* Blocked where it was seen blocked before, with the same stack? */
static int find_episode(struct sampler *s, struct thread *th,
			const struct proc_syscall *sc, uint32_t label)
{
	struct blocked *b = B(th);

	for (unsigned i = 0; i < b->neps; i++) {
		const struct episode *ep = &b->eps[i];

		if (ep->label == label && same_call(sc, &ep->key) &&
		    same_stack(th->proc->pid, ep))
			return (int)i;
	}
	return -1;
}

/* Add dt to the thread's blocked episode. */
static void episode_add(struct sampler *s, struct thread *th, uint64_t dt, bool again)
{
	struct blocked *b = B(th);
	int64_t values[2] = { is_wall(s) || again, (int64_t)(dt + th->pending_ns) };

	th->pending_ns = 0;
	pb_add_to(s->builder, b->eps[b->cur_ep].entry, values);
}

static void offcpu_running(struct sampler *s, struct thread *th, uint64_t dt)
{
	struct blocked *b = B(th);

	b->cur_ep = -1;
	b->adopt = false;
	if (!is_wall(s))
		return;		/* block, mutex: time on the cpu is not counted */
	th->pending_ns += dt;
	if (th->state != THREAD_RUNNING)
		return;		/* group-stopped: stays stopped, no sample */
	th->sample_label = offcpu_label('R', -1);
	b->sample_episode = false;
	target_interrupt(&s->target, th);
}

/*
 * A tick: give every thread the wall time since the last one; interrupt
 * running threads (wall), copy new blocked stacks, add to known ones.
 */
static void offcpu_tick(struct sampler *s)
{
	struct target *t = &s->target;
	uint64_t now = now_ns();

	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];
		struct proc_syscall sc, again;
		uint64_t dt, rt, rt2;
		struct blocked *b;
		bool ran;
		char state;

		if (th->state == THREAD_GONE)
			continue;
		b = B(th);
		dt = now - th->acct_ns;
		th->acct_ns = now;
		if (th->state == THREAD_INTERRUPTING || th->captured) {
			th->pending_ns += dt;	/* the sample on its way takes it */
			continue;
		}
		if (proc_read_runtime(th->schedstat_fd, th->stat_fd, &rt))
			continue;
		ran = rt != th->last_runtime;
		th->last_runtime = rt;
		if (b->cur_ep >= 0 && !ran) {
			episode_add(s, th, dt, false);
			continue;
		}
		if (b->ignored && !ran)
			continue;
		b->ignored = false;
		if (proc_read_stat(th->stat_fd, &state, &th->utime, &th->stime) ||
		    state == 'Z' || state == 'X')
			continue;
		if (th->state == THREAD_GROUP_STOPPED)
			state = 'T';	/* what it shows without cprof (not 't') */
		else if (state == 'R') {
			offcpu_running(s, th, dt);
			continue;
		}
		if (proc_read_syscall(th->syscall_fd, &sc))
			continue;
		if (sc.nr == PROC_SYSCALL_RUNNING) {
			offcpu_running(s, th, dt);
			continue;
		}
		if (s->opts.mode->flags & OFFCPU_LOCKS && !is_futex_wait(&sc)) {
			b->cur_ep = -1;
			b->adopt = false;
			b->ignored = true;
			continue;
		}
		if (b->cur_ep >= 0 && b->adopt && sc.sp == b->eps[b->cur_ep].key.sp &&
		    sc.pc == b->eps[b->cur_ep].key.pc) {
			/*
			 * restarted after our one stop (maybe as restart_syscall):
			 * the same episode; keep the call's own key for the next
			 * time it blocks there
			 */
			b->adopt = false;
			episode_add(s, th, dt, false);
			continue;
		}
		b->adopt = false;
		b->cur_ep = find_episode(s, th, &sc, offcpu_label(state, sc.nr));
		if (b->cur_ep >= 0) {
			episode_add(s, th, dt, true);	/* blocked again, same place */
			continue;
		}
		/* a new blocked place: copy its stack, and check it stayed put */
		if (verbose > 1)
			debug("blocked: %d (%s): %ld sp %#lx pc %#lx", th->tid, th->name,
			      sc.nr, (unsigned long)sc.sp, (unsigned long)sc.pc);
		th->pending_ns += dt;
		if (capture_blocked(th->proc->pid, sc.sp, sc.pc, &th->cap, thread_maps(t, th)) ||
		    proc_read_runtime(th->schedstat_fd, th->stat_fd, &rt2) || rt2 != rt ||
		    proc_read_syscall(th->syscall_fd, &again) || !same_args(&sc, &again))
			continue;	/* it woke meanwhile: next tick */
		b->bkey = sc;
		b->bstate = state;
		th->captured = true;
		b->sample_episode = true;
		th->sample_label = offcpu_label(state, sc.nr);
		th->sample_epoch = th->cap.epoch;
		th->sample_ns = th->pending_ns;
		th->pending_ns = 0;
	}
}

/*
 * A captured sample, just unwound: if it is of a blocked call, false if it
 * is not to be added (yet): it needs a stop for its registers, which was
 * asked for, or it turned out to be running (block, mutex).
 */
static bool offcpu_sample_wanted(struct sampler *s, struct unwinder *u, struct thread *th)
{
	struct target *t = &s->target;
	struct blocked *b = B(th);

	if (!b->sample_episode)
		return true;
	if (th->cap.partial) {
		*sampler_stat(&s->res, STAT_COPIES) += 1;
		if (unwinder_missed_registers(u) && b->bstate == 'S' &&
		    th->state == THREAD_RUNNING && proc_call_restarts(th->proc->pid, &b->bkey)) {
			th->pending_ns += th->sample_ns;
			if (target_interrupt(t, th) == 0) {
				b->adopt = true;
				*sampler_stat(&s->res, STAT_STOPS) += 1;
			}
			return false;
		}
		return true;
	}
	/* stopped for its registers: still in that call? */
	if (th->cap.regs.rsp == b->bkey.sp && th->cap.regs.rip == b->bkey.pc)
		return true;
	b->sample_episode = b->adopt = false;
	th->sample_label = offcpu_label('R', -1);
	return is_wall(s);
}

/* That sample was added as builder entry `entry`: remember the place. */
static bool offcpu_added(struct sampler *s, struct unwinder *u, struct thread *th,
			 size_t entry)
{
	struct blocked *b = B(th);

	if (!b->sample_episode)
		return false;
	offcpu_keep_episode(u, th, entry);
	b->sample_episode = false;
	return true;
}

/* wall time from the last tick to the end */
static void offcpu_end_time(struct sampler *s, struct thread *th, uint64_t end_ns)
{
	th->pending_ns += end_ns - th->acct_ns;
}

/* block, mutex: to the episode the thread is blocked in, if any */
static void offcpu_leftover(struct sampler *s, struct thread *th)
{
	const struct blocked *b = th->mode_data;	/* none: gone, or never seen */
	int64_t values[2] = { 0, (int64_t)th->pending_ns };

	if (b && b->cur_ep >= 0)
		pb_add_to(s->builder, b->eps[b->cur_ep].entry, values);
}

size_t offcpu_labels(uint32_t label, const char *kv[PB_MAX_LABELS][2])
{
	static char unknown[32];
	long nr = (long)(label & 0xffff) - 1;
	size_t n = 0;

	if (nr >= 0) {
		kv[n][0] = "syscall";
		kv[n][1] = syscall_name(nr);
		if (!kv[n][1]) {
			snprintf(unknown, sizeof(unknown), "syscall_%ld", nr);
			kv[n][1] = unknown;
		}
		n++;
	}
	if (label >> 16) {
		kv[n][0] = "thread_state";
		kv[n][1] = proc_state_name((char)(label >> 16));
		n++;
	}
	return n;
}

/* how the blocked stacks were copied, which the profile says (t0013) */
static void offcpu_comments(const struct sampler *s, sampler_say_fn say, void *arg)
{
	double copies = sampler_stat_value(&s->res, STAT_COPIES);
	double stops = sampler_stat_value(&s->res, STAT_STOPS);

	sampler_say_pauses(s, say, arg);
	say(arg, xasprintf("blocked stacks: %.0f copied without stopping the thread, %.0f by stopping it once",
			   copies, stops));
	sampler_say_syscall_stops(s, say, arg);
}

static char *offcpu_summary(const struct sampler *s)
{
	char *words = sampler_stop_summary(s);
	char *all = xasprintf("%s, %.0f blocked stacks copied (%.0f needed a stop)", words,
			      sampler_stat_value(&s->res, STAT_COPIES),
			      sampler_stat_value(&s->res, STAT_STOPS));

	free(words);
	return all;
}

/* What the three modes share; they differ in their flags and leftover. */
#define OFFCPU_OPS \
	.read_syscalls = true, \
	.comments = offcpu_comments, \
	.summary = offcpu_summary, \
	.tick = offcpu_tick, \
	.wanted = offcpu_sample_wanted, \
	.added = offcpu_added, \
	.end_time = offcpu_end_time, \
	.thread_gone = offcpu_thread_gone, \
	.release = offcpu_release

const struct sample_mode wall_mode = {
	OFFCPU_OPS, .flags = OFFCPU_WALL, .period = PERIOD_TICK,
	.leftover = sampler_leftover_to_last,
};
const struct sample_mode block_mode = {
	OFFCPU_OPS, .leftover = offcpu_leftover,
};
const struct sample_mode mutex_mode = {
	OFFCPU_OPS, .flags = OFFCPU_LOCKS, .leftover = offcpu_leftover,
};
