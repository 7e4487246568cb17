/*
 * attach/keeper.h - a process of its own that opens and closes cprof's
 * uprobe events (and BPF uprobe links), so that the kernel takes their
 * breakpoints out also when cprof is SIGKILLed while probes are being
 * placed or removed.
 *
 * Why a process (measured on this kernel, 6.18, `make bench ONLY=uprobe-kill`,
 * tests/bench/uprobe-kill.c: a target calls a probed function every
 * 200 us; a prober opens and closes uprobe events on it and is SIGKILLed
 * at a random moment; a leak is the target's byte still int3 5 s later,
 * with the target running on; a fresh target each trial):
 *
 *   threads of the prober in open/close                  leaks
 *   4 closing and reopening                               16 of 20
 *   4 the same, ending by exit(0) instead of SIGKILL      15 of 20
 *   4 the same, stopped and joined before exit(0)          0 of 20
 *   4 opening only, closes done by another process         3 of 20
 *   1 opening only, closes done by another process         1 of 20 (8 of 80
 *                                                          in an earlier run)
 *   1 opening and closing, nothing else at it              0 of 40
 *   none: another process opens and closes, the prober    0 of 40
 *   holds copies of the fds (what cprof does)
 *
 * So a prober that dies while one of its threads is at the kernel's
 * uprobe work, and someone else is at it too, can leave the breakpoint
 * in.  The kernel says so in its log, in the dying thread's name:
 * "uprobe: cprof:TID failed to unregister, leaking uprobe": it could not
 * take the breakpoint out (the thread doing it was being killed, as we
 * read it) and keeps the uprobe, breakpoint and all, until reboot; its
 * trap is still handled, so the target runs on.  Such a uprobe also
 * refuses any later one at the same place with another ref_ctr_offset:
 * after the torture runs of the code before the keeper, BCC's memleak
 * could no longer probe libc's malloc on this machine ("ref_ctr_offset
 * mismatch" in the log).  No thread of cprof therefore opens or closes a
 * uprobe event:
 * the keeper does, and holds every event; cprof gets a copy of each fd
 * (SCM_RIGHTS) for the ring and the ioctls, never the last one.  When
 * cprof dies, the keeper finishes the request at hand, closes every event
 * it holds, joins its threads, and only then exits.
 *
 * The keeper is a grandchild (reparented to init): cprof's tracer reaps
 * its children with waitpid(-1).  It leaves cprof's session and ignores
 * the signals a terminal or a shell sends, so a Ctrl-C or a kill of the
 * job does not stop it half-way; it holds no fd of cprof's but its socket.
 * Without it (fork refused), cprof opens and closes in its tracer thread.
 */
#ifndef CPROF_KEEPER_H
#define CPROF_KEEPER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct perf_event_attr;

struct keeper {
	int sock;		/* -1: no keeper; cprof opens and closes */
	uint64_t asked;		/* closes asked so far */
	uint64_t *closed;	/* a page shared with the keeper: closes done */
};

void keeper_start(struct keeper *k);

/*
 * perf_event_open(pa with config1 = path, tid, cpu -1, group) in the
 * keeper; group and *kfd are the keeper's fds.  cprof's copy, or -errno.
 */
int keeper_open(struct keeper *k, const struct perf_event_attr *pa, const char *path,
		pid_t tid, int group, unsigned long flags, int *kfd);

/*
 * A BPF uprobe_multi link (attach/bpfprobe.h) of program prog on file
 * offsets off[0..n) of path, in process pid, with cookies ids[], made
 * and held in the keeper as an event is; n <= KEEPER_LINK_MAX.  cprof's
 * copy of the link, or -errno; *kfd the keeper's.
 */
#define KEEPER_LINK_MAX 32
int keeper_link(struct keeper *k, int prog, const char *path, pid_t pid, const uint64_t *off,
		const uint64_t *ids, size_t n, int *kfd);

/* Close cprof's fds and have the keeper close its own (kfds). */
void keeper_close(struct keeper *k, const int *fds, const int *kfds, size_t n);

/*
 * The closes asked so far, and those done.  The keeper starts them in
 * the order asked, a few at once: the close asked as the n-th is done
 * about when keeper_closed() reaches n.
 */
uint64_t keeper_asked(const struct keeper *k);
uint64_t keeper_closed(const struct keeper *k);

/*
 * Wait until the keeper has closed every event and exited, at most
 * timeout_ms: 0, or -1 on timeout (it goes on alone).
 */
int keeper_finish(struct keeper *k, int timeout_ms);

#endif
