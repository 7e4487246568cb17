/*
 * attach/capture.h - what is taken from a stopped thread: its registers
 * (PTRACE_GETREGSET) and one bulk copy of its stack (process_vm_readv).
 *
 * capture_thread() is the only code that runs while a target thread is
 * stopped by cprof: it allocates nothing, reads no file, and returns -errno
 * (-ESRCH when the thread died) leaving the thread stopped; resuming it is
 * the caller's job.  The buffer belongs to the struct capture.
 */
#ifndef CPROF_CAPTURE_H
#define CPROF_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

struct maps;

#define CAPTURE_MAX_STACK (1024 * 1024)	/* --stack-size limit: 1 MiB */

/*
 * The x86-64 ABI's red zone: the 128 bytes below sp, copied too.  In an
 * epilogue, after the pops and before the ret, the CFI still says the
 * callee-saved registers are at CFA-16, -24, ... (gcc emits no restore
 * there), i.e. below sp: read live after the thread ran on, those words
 * are whatever it wrote there since (glibc's malloc returning: the fast
 * path and libunwind read different rbp values, and CPROF_UNWIND_CHECK
 * aborted node in tests/t0026-jit.sh once in ~50 runs).
 */
#define CAPTURE_RED_ZONE 128

struct capture {
	struct user_regs_struct regs;
	uint64_t stack_addr;	/* target address of stack[0]: sp, less the
				 * red zone where it is mapped */
	size_t stack_len;	/* bytes copied */
	size_t stack_cap;	/* the --stack-size limit, from sp up (the
				 * buffer has room for the red zone too) */
	uint64_t stack_map_end;	/* end of the mapping holding the stack */
	uint64_t time_ns;	/* when it was taken (CLOCK_MONOTONIC) */
	bool partial;		/* regs: only rsp and rip are known */
	uint32_t epoch;		/* the maps' (the process image) it was taken in */
	unsigned char *stack;
};

void capture_init(struct capture *c, size_t stack_size);
void capture_release(struct capture *c);
int capture_thread(pid_t pid, pid_t tid, struct capture *c,
		   const struct maps *maps);


/*
 * A thread blocked in the kernel, without stopping it: its user sp and pc
 * from /proc/PID/task/TID/syscall, and its stack, which cannot change
 * while it stays blocked (the caller checks that it did, before and
 * after).  Only rsp and rip are known: c->partial.
 */
int capture_blocked(pid_t pid, uint64_t sp, uint64_t pc, struct capture *c,
		    const struct maps *maps);

#endif
