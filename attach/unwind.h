/*
 * attach/unwind.h - DWARF CFI unwinding over a struct capture, after the
 * thread is running again: frames of the common shape by rules kept per
 * pc (attach/cfi.c), any other stack by libunwind (remote address space).
 *
 * Memory reads are served from the stack copy, then from the ELF images of
 * read-only file mappings, then from the live process (process_vm_readv).
 * Unwind tables come from each module's .eh_frame_hdr, found once per ELF.
 * The unwinder reads the addrspace, never changes it except to reload maps
 * when it meets a pc outside every known mapping.
 */
#ifndef CPROF_UNWIND_H
#define CPROF_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/stack.h"

struct addrspace;
struct capture;
struct unwinder;

/* An unwinder over as (borrowed), or NULL after saying why. */
struct unwinder *unwinder_new(struct addrspace *as);
void unwinder_free(struct unwinder *u);

/*
 * Fill pcs[0..max) innermost first with *lookup* addresses: the leaf pc,
 * and pc - 1 for return addresses (so that a call at the end of a function
 * is attributed to it), except for a frame interrupted by a signal.  The
 * last entry may be PC_TRUNCATED or PC_UNKNOWN.  Returns the count (>= 1).
 */
size_t unwinder_unwind(struct unwinder *u, const struct capture *c,
		       uint64_t *pcs, size_t max);

/*
 * The last walk, over a partial capture (only sp and pc known), needed a
 * register it did not have: the stack it gave ends early.
 */
bool unwinder_missed_registers(const struct unwinder *u);

/*
 * For an unwinder whose maps another thread reads meanwhile: never reload
 * them; a walk that would have (a pc in no known mapping) says so.
 */
void unwinder_no_reload(struct unwinder *u);
bool unwinder_wanted_reload(const struct unwinder *u);

/*
 * The addresses of the stack words the last walk read from the copy
 * (repeats possible).  With the same registers and the same values there,
 * a walk gives the same frames.
 */
const uint64_t *unwinder_stack_reads(const struct unwinder *u, size_t *n);

#endif
