/*
 * attach/uprobe.h - kernel uprobes through perf_event_open (the uprobe
 * PMU): a breakpoint the kernel owns, per thread, that vanishes with its
 * file descriptor, also when cprof is SIGKILLed (tests/t0025-heap.sh,
 * torture).  Nothing is written into the target by cprof.
 *
 * uprobe_open() returns an fd or -errno; uprobe_refused() says what to
 * grant.  The events' rings, counters and windows: attach/perfev.h.
 */
#ifndef CPROF_UPROBE_H
#define CPROF_UPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <libelf.h>

struct module;
struct keeper;

/* Where a function starts in its ELF file. */
struct func_loc {
	uint64_t vaddr, size;	/* link-time address and st_size */
	uint64_t offset;	/* file offset of vaddr (for config2) */
};

/*
 * Look name up in mod's .symtab, then .dynsym: a defined function, of any
 * binding (probe:SYMBOL may name a static function).
 * 0, or -1 when mod does not define it.
 */
int uprobe_find_func(struct module *mod, const char *name, struct func_loc *loc);

/* An exported data object's link-time address (.dynsym): 0, or -1. */
int uprobe_find_object(struct module *mod, const char *name, uint64_t *vaddr);

/* The file offset of a link-time address in an executable segment; 0/-1. */
int uprobe_file_offset(Elf *elf, uint64_t vaddr, uint64_t *off);
/* ... in any loaded segment (exec false), or an executable one; 0/-1. */
int uprobe_segment_offset(Elf *elf, uint64_t vaddr, bool exec, uint64_t *off);

/*
 * Where to probe a function that only frees its argument `arg` (0-3): past
 * a leading null test of it (`test %rdi,%rdi; je ...`, glibc's free) when
 * the instruction there is a push, which the kernel emulates; the test is
 * single-stepped out of line (a hit at free's entry / at its push: 6.3 /
 * 0.94 us in issue 15's measurements, 19 / 6.8 us later on this VM).  A null pointer never gets there,
 * and nothing there changed the argument.  Otherwise the entry.
 */
uint64_t uprobe_free_offset(Elf *elf, const struct func_loc *loc, int arg);

/* What a probe records. */
struct uprobe_attr {
	const char *path;	/* a path the kernel resolves to the file */
	uint64_t offset;	/* file offset of the probed instruction */
	bool ret;		/* a uretprobe: fires at the function's return */
	uint64_t period;	/* one sample every period hits */
	uint64_t regs;		/* PERF_SAMPLE_REGS_USER mask, 0 for none */
	uint32_t stack;		/* PERF_SAMPLE_STACK_USER bytes, 0 for none */
	bool read_group;	/* read() gives {nr, {value, id}...} */
	bool disabled;		/* opened off: PERF_EVENT_IOC_ENABLE starts it */
	uint64_t ref_ctr;	/* a USDT semaphore's file offset, or 0: the
				 * kernel adds 1 to it while the probe is in
				 * a process and takes it back when it goes */
};

/* Whether this kernel's uprobe PMU counts semaphores (ref_ctr_offset). */
bool uprobe_ref_ctr_ok(void);

/*
 * Open on thread tid, in the keeper k (keeper.h); group: the keeper's fd
 * of a leader, or -1.  cprof's copy of the fd and, in *kfd, the keeper's;
 * or -errno.
 */
int uprobe_open(const struct uprobe_attr *a, pid_t tid, int group, struct keeper *k, int *kfd);

/* Why perf_event_open of a uprobe was refused, and what to grant. */
const char *uprobe_refused(int err);

#endif
