/*
 * attach/perfev.h - the perf-event engine: per-thread sets of perf events
 * that all write into one ring buffer per thread, their group counters,
 * and the --duty windows in which a share of them is in place.  It knows
 * nothing of what the events are; attach/heap.c (uprobes: heap, allocs,
 * probe, pair) is built on it, and so can a kernel cpu sampler be.
 *
 * Ownership.  struct perfev owns the keeper (attach/keeper.h), which
 * holds the kernel's last copy of every event opened through it, and the
 * counters.  A struct perfev_thread belongs to its caller (hung from
 * th->mode_data): the events and the ring in it are the engine's to close,
 * by perfev_thread_close(), always on the tracer thread.  Nothing here
 * makes a ptrace call or stops a thread.
 *
 * Using it for an event that is not a uprobe (a per-thread cpu-clock
 * event with PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER, say): open
 * it with perf_event_open(2) yourself (pid = tid, cpu = -1, never
 * inherit), then perfev_thread_add(e, pt, fd, -1): -1 because it went
 * through no keeper (a kernel breakpoint is what the keeper guards; a
 * cpu-clock event leaves nothing behind when cprof dies).  The first
 * event added maps the ring, each later one is redirected into it.  Each
 * loop turn, perfev_thread_drain() hands every PERF_RECORD_SAMPLE to the
 * callback as (data, len) after the header, in the order the kernel
 * wrote them, and counts PERF_RECORD_LOST; perf_sample_capture() turns
 * a sample's user registers and stack into a struct capture for the
 * unwinder.  perf_ring_* below is the same ring without the rest.
 *
 * Errors are -errno; ESRCH from an open means the thread is gone.
 */
#ifndef CPROF_PERFEV_H
#define CPROF_PERFEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keeper.h"

struct capture;
struct maps;

/* ---- one ring buffer ---- */

struct perf_ring {
	int fd;
	void *base;
	size_t size;		/* data area, a power of two */
	uint64_t lost;		/* PERF_RECORD_LOST counts */
	size_t fill;		/* bytes waiting at the last read */
	unsigned char *tmp;	/* a record that wraps, made whole */
};

/* A PERF_RECORD_SAMPLE's body (after its header), len bytes. */
typedef void perf_record_fn(void *arg, const unsigned char *data, size_t len);

/* mmap 1 + 2^order pages of fd. 0 or -errno. */
int perf_ring_map(struct perf_ring *r, int fd, unsigned order);
void perf_ring_unmap(struct perf_ring *r);

/* Redirect fd's records into the ring's. 0 or -errno. */
int perf_ring_redirect(const struct perf_ring *r, int fd);

/*
 * Each PERF_RECORD_SAMPLE in the ring, oldest first, to fn; then the
 * space is given back to the kernel.  Returns how many were seen.  One
 * reader thread only.
 */
size_t perf_ring_read(struct perf_ring *r, perf_record_fn *fn, void *arg);

/* The event's id (PERF_EVENT_IOC_ID), or 0. */
uint64_t perf_event_id(int fd);

/*
 * The x86-64 user registers cprof unwinds with (PERF_SAMPLE_REGS_USER
 * mask), and the perf register numbers in it.
 */
#define PERF_REGS_ALL 0xff0fffULL	/* ax..ss, r8..r15 (no ds..gs) */
enum perf_reg { PR_AX = 0, PR_BX, PR_CX, PR_DX, PR_SI, PR_DI, PR_BP, PR_SP,
		PR_IP, PR_FLAGS, PR_CS, PR_SS, PR_R8 = 16, PR_R9, PR_R10,
		PR_R11, PR_R12, PR_R13, PR_R14, PR_R15 };

/*
 * Register reg of a sample's regs[], recorded with mask (inline: with a
 * constant mask the index folds to a constant, as at every call here).
 */
static inline uint64_t perf_reg(const uint64_t *regs, uint64_t mask, enum perf_reg reg)
{
	size_t i = 0;

	for (int b = 0; b < (int)reg; b++)
		i += (mask >> b) & 1;
	return regs[i];
}

/*
 * A sample's registers (PERF_REGS_ALL) and its stack copy (len bytes from
 * the sp) as a capture, in the image of maps m, as a ptrace stop would
 * have left it.
 */
void perf_sample_capture(struct capture *c, const uint64_t *regs,
			 const unsigned char *stack, uint64_t len,
			 const struct maps *m);

/* ---- the engine ---- */

struct perfev {
	struct keeper keeper;
	unsigned ring_order;	/* each thread's ring: 2^order pages */
	uint64_t records;	/* samples read from the rings */
	uint64_t lost;		/* ... and lost for want of room in them */
};

/* Start the keeper (fork refused: cprof opens and closes itself). */
void perfev_init(struct perfev *e, unsigned ring_order);

/*
 * The end: wait until the keeper has closed every event, at most
 * timeout_ms; 0, or -1 (it goes on alone).
 */
int perfev_finish(struct perfev *e, int timeout_ms);

/*
 * One thread's events, in the order added: fds[0..nkeep) stay between
 * windows; from fds[leader] on, the window's, the first of them its
 * group's leader when the caller opened them as one group.
 */
struct perfev_thread {
	pid_t tid;
	bool open;		/* has events (and the ring) */
	int *fds;		/* cprof's copies */
	int *kfds;		/* the same events, the keeper's fds (or -1) */
	uint32_t *keys;		/* what the caller said each one probes */
	size_t nfds, fds_alloc, nkeep, leader;
	struct perf_ring ring;
};

/*
 * Add an event opened on pt->tid (fd, and kfd the keeper's or -1): the
 * first maps the ring, the others write into it.  On failure the event
 * is kept (closed with the rest).  0 or -errno.
 */
int perfev_thread_add(struct perfev *e, struct perfev_thread *pt, int fd, int kfd);

/* The same, the event marked with key (a uprobe's function, say: see
 * perfev_batch_close); perfev_thread_add marks 0. */
int perfev_thread_add_key(struct perfev *e, struct perfev_thread *pt, int fd, int kfd,
			  uint32_t key);

/* The keeper's fd of the current window's group leader, or -1 (none yet). */
int perfev_thread_group(const struct perfev_thread *pt);

/* The events added so far stay between windows (the ring with them). */
void perfev_thread_keep(struct perfev_thread *pt);

/* A new window begins: the events added from now on are its. */
void perfev_thread_window(struct perfev_thread *pt);

/* Start or stop the window group's counting (PERF_EVENT_IOC_ENABLE). */
void perfev_thread_count(struct perfev_thread *pt, bool on);

/*
 * read() of the window's leader (PERF_FORMAT_GROUP | PERF_FORMAT_ID:
 * {nr, {value, id}...}) into buf of size bytes; bytes read, or 0 (no
 * window group, or nothing read).
 */
size_t perfev_thread_read_group(struct perfev_thread *pt, uint64_t *buf, size_t size);

/* Every record in the ring to fn (see perf_ring_read); counted in e. */
size_t perfev_thread_drain(struct perfev *e, struct perfev_thread *pt,
			   perf_record_fn *fn, void *arg);

/* Close every event of the thread and unmap its ring (not drained). */
void perfev_thread_close(struct perfev *e, struct perfev_thread *pt);

/*
 * Events of many threads that leave together, closed in the order that
 * takes the target's costliest breakpoints out first.  The kernel takes a
 * uprobe's breakpoint out of a process only when the last event on it
 * there closes, and each close of a uprobe PMU event waits for grace
 * periods, one close after another (~90 ms each here): 85 events of
 * redis-server's 5 threads took 7-8 s to close in thread order, its main
 * thread trapping on malloc until the end.  Closed by key, hottest first,
 * every thread's event on one function after the other, malloc's
 * breakpoint goes after as many closes as there are threads.
 */
struct perfev_batch {
	struct perfev_closing {
		int fd, kfd;
		uint32_t key;
		size_t seq;
	} *v;
	size_t n, alloc;
};

/*
 * The window's end: its events leave pt for b (not drained: drain
 * first; not closed: perfev_batch_close), the kept ones stay.  Returns
 * false when none are kept: then the thread's ring is unmapped, and it
 * has nothing open.  With all, every event of the thread leaves.
 */
bool perfev_thread_leave(struct perfev_thread *pt, struct perfev_batch *b, bool all);

/*
 * Close b's events (cprof's copies, then the keeper's), those with the
 * greatest heat[key] first (keys >= nheat: last), each key's together;
 * b is emptied.  mark[key] (keys < nheat) gets the keeper_asked() count
 * at which the key's last event is asked: its events are out once
 * keeper_closed() reaches it (0: none in b).
 */
void perfev_batch_close(struct perfev *e, struct perfev_batch *b, const double *heat,
			uint64_t *mark, size_t nheat);

/* ---- --duty windows ---- */

/*
 * With --duty F the events are in place only a share F of the time: a
 * window of PERFEV_WINDOW_NS, then a pause of PERFEV_WINDOW_NS x (1 - F) /
 * F x U(0.5, 1.5) (dithered, as the ticks are, so that windows do not lock
 * onto a program's own period), and the first state is drawn as if the
 * recording began at a random moment of that alternation, so that every
 * moment is covered with chance about F.  What was seen in the windows is
 * scaled by the recording's time over the windows' (a ratio estimator):
 * perfev_windows_share().  Placing and removing a window's uprobes takes
 * the kernel 30-250 ms here (grace periods): the windows are long enough
 * to make that a fraction of them.
 */
#define PERFEV_WINDOW_NS 500000000ULL

struct perfev_windows {
	double duty;		/* 0 < duty < 1 */
	uint64_t window_ns;	/* a window's length */
	bool on;		/* in a window now */
	uint64_t started, switch_at, on_since, on_ns;
	size_t n;		/* windows begun */
	uint64_t rng;
};

/* The schedule, from now; seed: any value, not 0; windows of window_ns
 * (0: PERFEV_WINDOW_NS). */
void perfev_windows_start(struct perfev_windows *w, double duty, uint64_t seed,
			  uint64_t now, uint64_t window_ns);

/* Is it time to switch (a window or a pause is over)? */
static inline bool perfev_windows_due(const struct perfev_windows *w, uint64_t now)
{
	return now >= w->switch_at;
}

/* A window ends at now (its events' counting stopped), a pause begins. */
void perfev_windows_off(struct perfev_windows *w, uint64_t now);

/* A window begins: open its events now (perfev_windows_placed after). */
void perfev_windows_on(struct perfev_windows *w);

/*
 * The window's events are in place and counting from t (placing them
 * takes time: the window runs from there).  Also for a first window that
 * perfev_windows_start() drew on.
 */
void perfev_windows_placed(struct perfev_windows *w, uint64_t t);

/* The recording is over at now: the share of it the windows covered. */
double perfev_windows_share(struct perfev_windows *w, uint64_t now);

#endif
