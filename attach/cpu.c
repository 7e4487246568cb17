/*
 * attach/cpu.c - the cpu sampling mode: which threads a tick interrupts,
 * and how their cpu time becomes the samples' weight.
 */
#define _GNU_SOURCE
#include "sampler.h"
#include "procfs.h"
#include "../profiles/builder.h"

#include <errno.h>

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

static void tick_cpu(struct sampler *s)
{
	struct target *t = &s->target;
	uint64_t tick = s->res.ticks;

	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];
		uint64_t rt;
		char state;
		bool ran;

		if (th->state != THREAD_RUNNING || th->interrupting || th->captured)
			continue;
		if (tick < th->next_check)
			continue;
		if (proc_read_runtime(th->schedstat_fd, th->stat_fd, &rt))
			continue;
		ran = rt != th->seen_runtime;
		th->seen_runtime = rt;
		if (ran || th->was_running) {
			if (proc_read_stat(th->stat_fd, &state, &th->utime, &th->stime))
				continue;
			th->was_running = state == 'R';
		}
		if (!ran && !th->was_running) {
			unsigned shift = th->idle_checks < MAX_IDLE_SHIFT ?
					 th->idle_checks : MAX_IDLE_SHIFT;

			th->idle_checks++;
			th->next_check = tick + (1ULL << shift);
			continue;
		}
		th->idle_checks = 0;
		th->next_check = tick + 1;
		if (th->was_running)
			target_interrupt(t, th);
	}
}

/* cpu time used after a thread's last sample (goes to its last stack) */
static void end_cpu(struct sampler *s, struct thread *th, uint64_t end_ns)
{
	uint64_t rt;

	if (!proc_read_runtime(th->schedstat_fd, th->stat_fd, &rt) &&
	    rt > th->last_runtime)
		th->pending_ns += rt - th->last_runtime;
}

const struct sample_mode cpu_mode = {
	.stop_runtime = true,
	.tick = tick_cpu,
	.end_time = end_cpu,
	.leftover = sampler_leftover_to_last,
};
