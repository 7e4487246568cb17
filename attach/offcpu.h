/*
 * attach/offcpu.h - wall, block and mutex sampling (see attach/offcpu.c),
 * driven by the sampler's loop (attach/sampler.c).
 */
#ifndef CPROF_OFFCPU_H
#define CPROF_OFFCPU_H

#include <stdbool.h>
#include <stddef.h>

#include "sampler.h"

struct unwinder;

/*
 * A tick: give every thread the wall time since the last one; interrupt
 * running threads (wall), copy new blocked stacks, add to known ones.
 */
void offcpu_tick(struct sampler *s);

/*
 * A captured sample of a blocked call, just unwound: false if it is not to
 * be added (yet): it needs a stop for its registers, which was asked for,
 * or it turned out to be running (block, mutex).
 */
bool offcpu_sample_wanted(struct sampler *s, struct unwinder *u, struct thread *th);

/* That sample was added as builder entry `entry`: remember the place. */
void offcpu_keep_episode(struct unwinder *u, struct thread *th, size_t entry);

#endif
