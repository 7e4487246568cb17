/*
 * attach/threadcreate.c - the threadcreate and processcreate modes: the
 * stack of the thread that made each new thread (a clone event) or each
 * new process (fork, vfork, clone outside the thread group), captured at
 * that event (attach/target.c), where the kernel has already stopped the
 * parent.  The two are counted apart, as two profile types: a new
 * process's first thread is not a thread creation (pthread_create), and a
 * job's forks would drown a server's threads.
 */
#define _GNU_SOURCE
#include "sampler.h"
#include "unwind.h"
#include "../lib/stack.h"
#include "../profiles/builder.h"

enum { CREATE_PROCESSES = 1 };	/* processcreate: forks, not threads */

static bool of_processes(const struct sampler *s)
{
	return s->opts.mode->flags & CREATE_PROCESSES;
}

/* threads (processes) that were there before: one count each, no stack */
static int start_threadcreate(struct sampler *s)
{
	struct target *t = &s->target;
	static const uint64_t before = PC_BEFORE_ATTACH;
	int64_t count = (int64_t)(of_processes(s) ? t->nprocs : t->nthreads);

	if (t->launched || !t->nthreads)
		return 0;
	pb_add(s->builder, 0, 0, &before, 1, &count);
	return 0;
}

/* threadcreate: one count for the stack that made each new thread */
static void unwind_clones(struct sampler *s, struct unwinder *u, uint64_t *pcs)
{
	struct target *t = &s->target;

	for (size_t i = 0; i < t->nclones; i++) {
		int64_t one = 1;
		size_t n;

		if (t->clones[i].fork != of_processes(s))
			continue;
		n = unwinder_unwind(u, &t->clones[i].cap, pcs, s->opts.max_depth + 1);

		pb_add(s->builder, 0, t->clones[i].epoch, pcs, n, &one);
		s->res.samples++;
	}
	t->nclones = 0;
}

const struct sample_mode threadcreate_mode = {
	.clone_stacks = true,
	.start = start_threadcreate,
	.clones = unwind_clones,
	.comments = sampler_stop_comments,
	.summary = sampler_stop_summary,
};

/* forks are seen only where they are followed: it follows them */
const struct sample_mode processcreate_mode = {
	.clone_stacks = true,
	.follows = true,
	.flags = CREATE_PROCESSES,
	.start = start_threadcreate,
	.clones = unwind_clones,
	.comments = sampler_stop_comments,
	.summary = sampler_stop_summary,
};
