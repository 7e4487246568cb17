/*
 * attach/procfs.h - what /proc says about a process and its threads.
 *
 * All functions return 0 or -errno and never stop the target.  The
 * per-thread readers (schedstat, state) take descriptors kept open by the
 * caller, so a tick costs one pread per thread, not an open/close.
 */
#ifndef CPROF_PROCFS_H
#define CPROF_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_status {
	char name[64];
	char state;		/* R S D T t Z X */
	pid_t tgid;
	pid_t tracer;		/* TracerPid, 0 when none */
	uid_t uid;
};

int proc_status(pid_t pid, pid_t tid, struct proc_status *st);

/* Thread ids of a process (sorted); *out is malloc'ed. */
int proc_tasks(pid_t pid, pid_t **out, size_t *n);

/*
 * The children of a process (of any of its threads) now, from
 * /proc/PID/task/TID/children; *out is malloc'ed.  A long list may be cut
 * at 4 KiB a thread.
 */
int proc_children(pid_t pid, pid_t **out, size_t *n);

/* Open /proc/PID/task/TID/{schedstat,stat} for the two readers below. */
int proc_open_task_file(pid_t pid, pid_t tid, const char *file);

/* Cumulative CPU time of a thread in ns: schedstat, else stat utime+stime. */
int proc_read_runtime(int schedstat_fd, int stat_fd, uint64_t *ns);

/* The scheduler state letter of a thread and its user and system time in
 * clock ticks (the kernel's own split), from its stat file. */
int proc_read_stat(int stat_fd, char *state, uint64_t *utime, uint64_t *stime);

/* Parse the state letter out of a /proc/.../stat line (tests use it). */
int proc_parse_stat_state(const char *line, char *state, uint64_t *utime,
			  uint64_t *stime);

/* comm of a thread, "" on failure. */
void proc_thread_name(pid_t pid, pid_t tid, char *buf, size_t size);

/* Why PTRACE_SEIZE gave EPERM, as a parenthesised hint ("" if unknown). */
void proc_eperm_hint(pid_t pid, char *buf, size_t size);

/* "running", "sleeping", "disk sleep", ... for a /proc state letter */
const char *proc_state_name(char state);

/* Name of an x86-64 system call number, or NULL. */
const char *syscall_name(long nr);

/* /proc/PID/task/TID/syscall: what a thread is blocked in, without stopping it. */
#define PROC_SYSCALL_RUNNING (-2L)
struct proc_syscall {
	long nr;		/* -1: blocked outside a system call; -2: running */
	uint64_t args[6];
	uint64_t sp, pc;	/* user stack pointer and pc at the kernel entry */
};

int proc_parse_syscall(const char *buf, struct proc_syscall *sc);
int proc_read_syscall(int fd, struct proc_syscall *sc);

/*
 * Does the kernel restart this blocked call by itself after a ptrace stop
 * (no signal delivered)?  futex, nanosleep, clock_nanosleep, poll, ppoll,
 * select, pselect6, pause, rt_sigsuspend, wait4, waitid, and reads of
 * anything but a socket do.  epoll_wait, sigtimedwait, and socket calls
 * with timeouts (SO_RCVTIMEO) return EINTR instead.
 */
bool proc_call_restarts(pid_t pid, const struct proc_syscall *sc);

#endif
