/*
 * attach/capture.c - copy registers and stack out of a ptrace-stopped thread
 * with as few system calls as possible: one PTRACE_GETREGSET and one
 * process_vm_readv (PTRACE_PEEKDATA would cost ~250 us per KiB here).
 */
#define _GNU_SOURCE
#include "capture.h"
#include "../lib/util.h"
#include "../symbolize/maps.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#define PAGE 4096UL
#define MAX_IOV ((CAPTURE_MAX_STACK + CAPTURE_RED_ZONE) / PAGE + 2)	/* one per page, unaligned */

void capture_init(struct capture *c, size_t stack_size)
{
	*c = (struct capture){ .stack_cap = stack_size };
	c->stack = xmalloc(stack_size + CAPTURE_RED_ZONE);
}

void capture_release(struct capture *c)
{
	free(c->stack);
	c->stack = NULL;
}

static void copy_stack(pid_t pid, struct capture *c, const struct maps *maps)
{
	struct iovec local, remote[MAX_IOV];
	const struct mapping *m;
	uint64_t sp, lo, want, addr;
	ssize_t got;
	unsigned long n = 0;

	c->time_ns = now_ns();
	c->epoch = maps->epoch;
	sp = c->regs.rsp;
	want = c->stack_cap;
	m = maps_find(maps, sp);
	c->stack_map_end = m ? m->end : 0;
	if (m && m->end - sp < want)
		want = m->end - sp;
	/*
	 * The red zone too, where it is mapped: in sp's mapping, or (one not
	 * read yet: a new thread's stack) in sp's page.  (sp near 0: none.)
	 */
	lo = sp >= CAPTURE_RED_ZONE ? sp - CAPTURE_RED_ZONE : sp;
	if (m && lo < m->start)
		lo = m->start;
	if (!m && lo < (sp & ~(PAGE - 1)))
		lo = sp & ~(PAGE - 1);
	/*
	 * One remote iovec per page: process_vm_readv stops at the first
	 * element that faults, so a stack that ends before want (an unknown
	 * mapping) still yields every readable page up to its end.
	 */
	for (addr = lo; addr < sp + want && n < MAX_IOV; n++) {
		uint64_t next = (addr & ~(PAGE - 1)) + PAGE;

		if (next > sp + want)
			next = sp + want;
		remote[n] = (struct iovec){ (void *)(uintptr_t)addr, next - addr };
		addr = next;
	}
	local = (struct iovec){ c->stack, addr - lo };
	got = process_vm_readv(pid, &local, 1, remote, n, 0);
	c->stack_addr = lo;
	c->stack_len = got > 0 ? (size_t)got : 0;
}

int capture_thread(pid_t pid, pid_t tid, struct capture *c,
		   const struct maps *maps)
{
	struct iovec regs = { &c->regs, sizeof(c->regs) };

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &regs) < 0)
		return -errno;
	c->partial = false;
	copy_stack(pid, c, maps);
	return 0;
}

int capture_blocked(pid_t pid, uint64_t sp, uint64_t pc, struct capture *c,
		    const struct maps *maps)
{
	memset(&c->regs, 0, sizeof(c->regs));
	c->regs.rsp = sp;
	c->regs.rip = pc;
	c->regs.orig_rax = (uint64_t)-1;
	c->partial = true;
	copy_stack(pid, c, maps);
	return c->stack_len ? 0 : -EFAULT;
}
