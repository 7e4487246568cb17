/*
 * attach/probecost.h - what a uprobe costs the target here, for the cost
 * budget of heap, allocs, probe and pair (--max-overhead): measured once
 * at the start of such a recording on cprof's own thread, since a trap's
 * price varies tenfold between machines (0.9 us on one VM of this kind,
 * 5-8 us on one that forwards every trap to its host).
 */
#ifndef CPROF_PROBECOST_H
#define CPROF_PROBECOST_H

#include <stdbool.h>
#include <stddef.h>

#include "keeper.h"

struct probecost {
	double emulated_ns;	/* a call whose probed instruction is emulated */
	double stepped_ns;	/* ... single-stepped out of line */
	double nop_ns;		/* ... a nop (a USDT probe's site): emulated
				 * or stepped, as the kernel does it */
};

/* Measure them (about 20-40 ms of calls here); 0, or -1 when it cannot. */
int probecost_measure(struct keeper *k, struct probecost *c);

/* The same for calls probed through b's BPF links (bpfprobe.h). */
struct bpfprobe;
int probecost_measure_with(struct keeper *k, struct bpfprobe *b, struct probecost *c);

/*
 * Does a link on a process see all its threads?  (Linux 6.6-6.9 before
 * "bpf: fix multi-uprobe PID filtering logic" ran the program only for
 * the thread whose id is the pid.)  Tried on a thread of cprof's own.
 */
bool probecost_bpf_threads(struct keeper *k, struct bpfprobe *b);

/* Does the kernel emulate this probed instruction (a push)? */
bool probecost_emulated(const unsigned char *insn, size_t len);

/* What a probe at this instruction costs (c measured). */
double probecost_of(const struct probecost *c, const unsigned char *insn, size_t len);

#endif
