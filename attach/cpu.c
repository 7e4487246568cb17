/*
 * attach/cpu.c - the cpu sampling mode, with two samplers: the kernel's
 * (attach/cpuclock.c: a cpu-clock perf event on each thread copies its
 * registers and stack at the tick; no stop), and ptrace stops (below:
 * which threads a tick interrupts, and how their cpu time becomes the
 * samples' weight), the fallback where perf_event_open is refused and
 * on request (--sampler ptrace, or CPROF_SAMPLER=ptrace).
 */
#define _GNU_SOURCE
#include "sampler.h"
#include "cpuclock.h"
#include "procfs.h"
#include "../lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The recording's numbers (sampler_stat): which sampler ran, and why */
static const char STAT_KERNEL[] = "kernel sampler", STAT_REFUSED[] = "refused errno",
	STAT_AUTO[] = "auto chose ptrace";

/*
 * Why auto leaves the kernel's sampler for ptrace stops (STAT_AUTO):
 * - processes followed: each thread's event counts its own cpu, and its
 *   first sample comes after a whole period of it, so a process or thread
 *   that lives less than one is never sampled (forktree launched: 242
 *   children of ~7 ms at 99 Hz gave 22 samples, 86% of the cpu "[not
 *   sampled]"); a ptrace tick catches whatever runs at that moment;
 * - --stack-size above what the kernel copies (a 64 KB record).
 */
enum { AUTO_FOLLOW = 1, AUTO_STACK };

/* ---- the ptrace sampler ---- */

/*
 * cpu: a thread is sampled only if it is runnable at the tick, so sleeping
 * threads are never disturbed (an interrupted epoll_wait would return
 * EINTR).  Its sample carries all the cpu time it used since its previous
 * sample, read from schedstat at the stop (attach/target.c), so the
 * profile's cpu total is the cpu the target really used, however few the
 * samples.
 *
 * Idle threads are looked at less often: after k looks in a row that found
 * no cpu used, the next is 2^k ticks later (at most every 16th tick), and
 * the first look that finds cpu used brings it back to every tick.  Cpu
 * totals stay exact (schedstat is cumulative); only the moment a waking
 * thread is first sampled moves.  Measured on 1000 idle threads at 99 Hz:
 * cprof's own cpu went from 0.71 s to 0.18 s per 2 s recording.
 *
 * "No cpu used" is schedstat unchanged since the last look, but a thread
 * that runs on without a context switch has its schedstat brought up to
 * date only at its scheduler tick (see take_runtime in attach/target.c):
 * at rates near or above HZ a busy thread often reads unchanged.  So a
 * thread that was runnable at the last look has its state read again
 * before it counts as idle.
 */
#define MAX_IDLE_SHIFT 4

/* What the cpu mode keeps of each thread (th->mode_data). */
struct look {
	uint64_t seen_runtime;	/* schedstat at the last look */
	bool was_running;	/* ... and the look found it runnable */
	uint64_t next_check;	/* tick at which to look again */
	unsigned idle_checks;	/* looks in a row that found no cpu used */
};

/*
 * At its first look: its cpu counts from where cprof's accounting starts
 * (seized: the schedstat read then; born: zero).  Before a first look only
 * its exit stop can move last_runtime, and after that it is gone.
 */
static struct look *look_of(struct thread *th)
{
	struct look *l = th->mode_data;

	if (!l) {
		l = th->mode_data = xcalloc(1, sizeof(*l));
		l->seen_runtime = th->last_runtime;
	}
	return l;
}

static void look_gone(struct thread *th)
{
	free(th->mode_data);
	th->mode_data = NULL;
}

static void tick_ptrace(struct sampler *s)
{
	struct target *t = &s->target;
	uint64_t tick = s->res.ticks;

	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];
		struct look *l;
		uint64_t rt;
		char state;
		bool ran;

		if (th->state != THREAD_RUNNING || th->captured)
			continue;
		l = look_of(th);
		if (tick < l->next_check)
			continue;
		if (proc_read_runtime(th->schedstat_fd, th->stat_fd, &rt))
			continue;
		ran = rt != l->seen_runtime;
		l->seen_runtime = rt;
		if (ran || l->was_running) {
			if (proc_read_stat(th->stat_fd, &state, &th->utime, &th->stime))
				continue;
			l->was_running = state == 'R';
		}
		if (!ran && !l->was_running) {
			unsigned shift = l->idle_checks < MAX_IDLE_SHIFT ?
					 l->idle_checks : MAX_IDLE_SHIFT;

			l->idle_checks++;
			l->next_check = tick + (1ULL << shift);
			continue;
		}
		l->idle_checks = 0;
		l->next_check = tick + 1;
		if (l->was_running)
			target_interrupt(t, th);
	}
}

/* cpu time used after a thread's last sample (goes to its last stack) */
static void end_ptrace(struct thread *th)
{
	uint64_t rt;

	if (!proc_read_runtime(th->schedstat_fd, th->stat_fd, &rt) &&
	    rt > th->last_runtime)
		th->pending_ns += rt - th->last_runtime;
}

/* ---- the mode: the kernel's sampler where it may, else ptrace stops ---- */

static struct cpuclock *K(struct sampler *s)
{
	return s->mode_state;
}

/* --sampler, or CPROF_SAMPLER where it was left to cprof */
static enum cpu_sampler wanted_sampler(const struct sampler_opts *o)
{
	const char *env = getenv("CPROF_SAMPLER");

	if (o->sampler != SAMPLER_AUTO || !env)
		return o->sampler;
	if (!strcmp(env, "ptrace"))
		return SAMPLER_PTRACE;
	if (!strcmp(env, "kernel"))
		return SAMPLER_KERNEL;
	return SAMPLER_AUTO;
}

static int start_cpu(struct sampler *s)
{
	enum cpu_sampler want = wanted_sampler(&s->opts);
	struct cpuclock *k = NULL;
	int ret;

	*sampler_stat(&s->res, STAT_KERNEL) = 0;
	if (want == SAMPLER_PTRACE)
		return 0;
	if (want == SAMPLER_AUTO && (s->opts.follow || s->opts.stack_size > CPUCLOCK_STACK_MAX)) {
		*sampler_stat(&s->res, STAT_AUTO) = s->opts.follow ? AUTO_FOLLOW : AUTO_STACK;
		return 0;
	}
	ret = cpuclock_start(s, &k);
	if (!ret) {
		s->mode_state = k;
		*sampler_stat(&s->res, STAT_KERNEL) = 1;
		/* weights come from the events' counts, not from schedstat
		 * read at stops (an exit stop would count a thread's end twice) */
		s->target.stop_runtime = false;
		return 0;
	}
	if (want == SAMPLER_KERNEL)
		return error("cpu: --sampler kernel: perf_event_open(cpu-clock): %s",
			     cpuclock_refused_why(-ret));
	*sampler_stat(&s->res, STAT_REFUSED) = -ret;
	debug("cpu: ptrace stops: perf_event_open(cpu-clock): %s", cpuclock_refused_why(-ret));
	return 0;
}

static void tick_cpu(struct sampler *s)
{
	if (!K(s))
		tick_ptrace(s);
}

static void end_cpu(struct sampler *s, struct thread *th, uint64_t end_ns)
{
	if (!K(s))
		end_ptrace(th);
}

static void thread_new_cpu(struct sampler *s, struct thread *th)
{
	if (K(s) && !th->mode_data)
		cpuclock_thread_new(K(s), th);
}

static void thread_gone_cpu(struct sampler *s, struct thread *th)
{
	if (K(s))
		cpuclock_thread_gone(K(s), th);
	else
		look_gone(th);
}

/* the kernel's records: read and unwind them after each loop turn */
static void probes_cpu(struct sampler *s, struct unwinder *u, uint64_t *pcs, bool last)
{
	if (K(s))
		cpuclock_read(K(s), u, pcs, last);
}

static void release_cpu(struct sampler *s)
{
	if (K(s)) {
		cpuclock_free(K(s));
		s->mode_state = NULL;
		return;
	}
	for (size_t i = 0; i < s->target.nthreads; i++)
		look_gone(s->target.threads[i]);
}

static bool kernel_ran(const struct sampler *s)
{
	return sampler_stat_value(&s->res, STAT_KERNEL) > 0;
}

static void cpu_comments(const struct sampler *s, sampler_say_fn say, void *arg)
{
	const struct sampler_result *r = &s->res;
	double refused = sampler_stat_value(r, STAT_REFUSED);

	double why = sampler_stat_value(r, STAT_AUTO);

	if (!kernel_ran(s) && why) {
		say(arg, xasprintf("cpu sampler: ptrace stops (%s; --sampler kernel to use the kernel's)",
				   why == AUTO_FOLLOW ?
				   "processes are followed: the kernel's per-thread periods miss "
				   "processes and threads that live less than one" :
				   "--stack-size is above the 64 KB the kernel copies"));
		sampler_stop_comments(s, say, arg);
		return;
	}
	if (!kernel_ran(s)) {
		say(arg, refused ?
		    xasprintf("cpu sampler: ptrace stops (perf_event_open(cpu-clock): %s)",
			      cpuclock_refused_why((int)refused)) :
		    xasprintf("cpu sampler: ptrace stops (as asked)"));
		sampler_stop_comments(s, say, arg);
		return;
	}
	say(arg, xasprintf("cpu sampler: kernel (a cpu-clock perf event on each thread copies its "
			   "registers and stack at the tick; no thread is stopped)"));
	if (sampler_stat_value(r, CPUCLOCK_USER_ONLY))
		say(arg, xasprintf("only user space may be sampled here (perf_event_paranoid): a tick "
				   "in the kernel is not a sample, its time is \"[not sampled]\" "
				   "(%.0f ms)", sampler_stat_value(r, CPUCLOCK_UNSAMPLED) / 1e6));
	else
		say(arg, xasprintf("samples taken in a system call: %.0f of %llu (at the user code "
				   "that made the call)", sampler_stat_value(r, CPUCLOCK_IN_KERNEL),
				   (unsigned long long)r->samples));
	say(arg, xasprintf("lost records: %.0f (perf ring full; their time went to their "
			   "thread's next sample)", sampler_stat_value(r, CPUCLOCK_LOST)));
}

static char *cpu_summary(const struct sampler *s)
{
	char *stops, *words;

	if (kernel_ran(s) && sampler_stat_value(&s->res, CPUCLOCK_USER_ONLY))
		return xasprintf("kernel sampler (user space only: %.0f ms not sampled), 0 stops, "
				 "%.0f records lost",
				 sampler_stat_value(&s->res, CPUCLOCK_UNSAMPLED) / 1e6,
				 sampler_stat_value(&s->res, CPUCLOCK_LOST));
	if (kernel_ran(s))
		return xasprintf("kernel sampler, 0 stops, %.0f in system calls, %.0f records lost",
				 sampler_stat_value(&s->res, CPUCLOCK_IN_KERNEL),
				 sampler_stat_value(&s->res, CPUCLOCK_LOST));
	stops = sampler_stop_summary(s);
	words = xasprintf("ptrace sampler, %s", stops);
	free(stops);
	return words;
}

const struct sample_mode cpu_mode = {
	.period = PERIOD_TICK,
	.samplers = true,
	.stop_runtime = true,
	.start = start_cpu,
	.tick = tick_cpu,
	.end_time = end_cpu,
	.leftover = sampler_leftover_to_last,
	.thread_new = thread_new_cpu,
	.thread_gone = thread_gone_cpu,
	.probes = probes_cpu,
	.release = release_cpu,
	.comments = cpu_comments,
	.summary = cpu_summary,
};
