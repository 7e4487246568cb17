/*
 * attach/bpfprobe.h - entry probes on a whole process at once: a BPF
 * program on a uprobe_multi link (Linux 6.6+) that records each call as
 * a perf uprobe event's sample would (its id, the user registers and a
 * copy of the stack from the sp) and counts the calls of each thread.
 *
 * Sampling.  The program makes Go's draw itself: each cpu has the bytes
 * left to its next sample, drawn from an exponential of mean rate (a
 * table of its quantiles, in 1/65536 bytes), and a call whose size uses
 * them up is sampled: a call of size s with chance 1 - e^(-s/rate), as
 * Go's MemProfileRate.  Only a sampled call is recorded (registers, the
 * stack copy); every call is counted, and every sampled one apart, so
 * a record lost in a full ring is known per function.  A call then costs
 * the target its trap and a few map operations; recording each call
 * (a stack copy and a ring write, 8 KiB each) took 3.4 us a call against
 * 2.0 us for a perf uprobe event (malloc loop, this VM).
 *
 * Why (issue 26, measured on this kernel, 6.18): a perf uprobe event is
 * per thread, and closing one waits for the uprobes' grace periods while
 * holding the kernel's trace event lock, so the events of a window close
 * one after another (30-265 ms each); a function's breakpoint leaves the
 * process only with its last event there.  redis-server's 5 threads kept
 * malloc trapping ~0.7 s after cprof asked it out.  A link holds every
 * probe of one file in one process: its close takes every breakpoint out
 * at once, then waits once.
 *
 * The records come through one perf ring per cpu (a BPF output event),
 * each with the calling thread's id: bpfprobe_drain() hands the body in
 * the layout of a perf sample of PERF_SAMPLE_IDENTIFIER | REGS_USER
 * (PERF_REGS_ALL) | STACK_USER, so a reader of uprobe events reads these
 * the same way.  Calls are counted by (thread, key), key the low 32 bits
 * of the id given at the link, exactly, records lost or not.
 *
 * Links are made and held by the keeper (attach/keeper.h), as uprobe
 * events are: a SIGKILLed cprof leaves no breakpoint in the target.
 * Needs CAP_BPF and CAP_PERFMON (or root); bpfprobe_open() says -errno
 * otherwise, and the caller uses perf uprobe events instead.
 */
#ifndef CPROF_BPFPROBE_H
#define CPROF_BPFPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "perfev.h"
#include "../lib/u64map.h"

struct keeper;

#define BPFPROBE_MAX_LINK KEEPER_LINK_MAX	/* probes in one link */

struct bpfprobe {
	int prog, counts, scratch, events, gaps, armed;	/* fds, -1: none */
	uint32_t stack;		/* bytes of stack copied a call */
	int ncpu;
	struct perf_ring *rings;	/* one a cpu (NULL: offline) */
	uint64_t lost;		/* records the rings had no room for */
	struct u64map cache;	/* (tid, key) -> calls, at the last refresh */
	uint64_t *keys, *vals;	/* a batch read's */
	char why[160];		/* what failed, for the user */
};

/*
 * The program, its maps and a ring per cpu (2^ring_order pages), for
 * calls recorded with stack bytes of stack (a multiple of 8, 4096-16384),
 * about one per rate bytes sampled, each with chance 1 - e^(-size/rate);
 * per_call: probes whose calls count 1 each, each kept with chance
 * exactly 1 / rate.  0 or -errno (b->why says which call).
 */
int bpfprobe_open(struct bpfprobe *b, uint32_t stack, unsigned ring_order, uint64_t rate,
		  bool per_call);

/*
 * A probe's id (its cookie): key (< 2^31, the counts' key) and how its
 * size is found: the product of argument registers a and b (0-5: rdi,
 * rsi, rdx, rcx, r8, r9; b -1: none), or with each 1 (a call counts 1).
 * Bit 63 set: an id no perf event has.
 */
static inline uint64_t bpfprobe_id(uint32_t key, int a, int b, int each)
{
	return 1ULL << 63 | (each ? 1ULL << 40 : 0) | (uint64_t)(b < 0 ? 15 : b) << 36 |
	       (uint64_t)(a < 0 ? 15 : a) << 32 | (key & 0x7fffffff);
}

/* The key under which a probe's sampled calls are counted. */
#define BPFPROBE_SAMPLED(key) ((key) | 0x80000000U)
void bpfprobe_close(struct bpfprobe *b);

/*
 * Whether calls are counted and sampled (off at the start): a window's
 * links go in one after another and leave on the keeper's time, and its
 * calls count only between its start and its end.  They still trap.
 */
void bpfprobe_arm(struct bpfprobe *b, bool on);

/*
 * Probes at file offsets off[0..n) of path, in process pid only, each
 * call's record carrying ids[i]; made in the keeper k.  cprof's copy of
 * the link's fd (closed with keeper_close) and the keeper's in *kfd, or
 * -errno.
 */
int bpfprobe_link(struct bpfprobe *b, struct keeper *k, const char *path, pid_t pid,
		  const uint64_t *off, const uint64_t *ids, size_t n, int *kfd);

/* Read every thread's counts at once (one bpf() call a few thousand). */
void bpfprobe_refresh(struct bpfprobe *b);

/*
 * The calls thread tid made of the probes whose id has key as its low 32
 * bits, at the last refresh.
 */
uint64_t bpfprobe_count(const struct bpfprobe *b, pid_t tid, uint32_t key);

/* Forget tid's counts (it is gone). */
void bpfprobe_forget(struct bpfprobe *b, pid_t tid, uint32_t key);

/*
 * Every record in the rings, cpu by cpu, oldest first: fn(arg, tid, d,
 * len), d as described above (8-byte aligned).  How many were read.
 */
typedef void bpfprobe_record_fn(void *arg, pid_t tid, const unsigned char *d, size_t len);
size_t bpfprobe_drain(struct bpfprobe *b, bpfprobe_record_fn *fn, void *arg);

#endif
