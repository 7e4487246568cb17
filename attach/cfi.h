/*
 * attach/cfi.h - the common frame, stepped without libunwind.
 *
 * Most frames of most stacks follow one shape: the CFA is a register (sp,
 * or a frame pointer) plus an offset, the return address and the saved
 * registers are at fixed offsets from the CFA.  This takes those rules
 * from libdw (dwarf_cfi_addrframe over the module's .eh_frame), once per
 * pc, and keeps them: a step is then a table lookup and a word read.
 * Debian's libunwind takes a lock that masks signals on every step (two
 * rt_sigprocmask calls, ~1 us each here), even on a cache hit.
 *
 * A frame of any other shape (an expression, a signal frame, no CFI, a
 * register the capture lacks) makes the caller unwind the whole stack
 * with libunwind instead, so what comes out never differs from libunwind's
 * (CPROF_UNWIND_CHECK=1 compares the two on every stack and aborts on a
 * difference; the tests run with it).
 */
#ifndef CPROF_CFI_H
#define CPROF_CFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/u64map.h"

struct module;

/* How a register of the caller is found from this frame's CFA. */
enum cfi_how {
	CFI_SAME,		/* not changed by this frame */
	CFI_UNDEF,		/* lost: for the return address, the outermost frame */
	CFI_AT,			/* saved at CFA + off */
};

#define CFI_NREGS 17		/* x86-64 DWARF numbers: 0-15, 16 the return address */
#define CFI_RA 16
#define CFI_SP 7
#define CFI_FP 6

struct cfi_rule {
	bool usable;		/* else: libunwind for the whole stack */
	bool sigreturn;		/* rt_sigreturn's trampoline: a signal frame */
	uint8_t cfa_reg;	/* CFA = value of cfa_reg + cfa_off */
	int64_t cfa_off;
	uint8_t how[CFI_NREGS];
	int64_t off[CFI_NREGS];
};

struct cfi_cache {
	struct cfi_module *mods;	/* one Dwarf_CFI a module, opened on first use */
	size_t nmods, mods_alloc;
	struct cfi_rule *rules;
	size_t nrules, rules_alloc;
	struct u64map index;		/* (module, lookup address, leaf) -> rules[] */
};

/*
 * The rule for the frame at pc in module mod (loaded at bias): for the
 * innermost frame (leaf) at pc itself, for a caller at pc - 1 (inside the
 * call).  Never NULL; !usable when the frame is not of the common shape.
 */
const struct cfi_rule *cfi_rule(struct cfi_cache *c, const struct module *mod,
				uint64_t bias, uint64_t pc, bool leaf);

/*
 * Its rules come from .debug_frame (a module without .eh_frame_hdr: Go's
 * binaries).  libunwind cannot read those, so such stacks are stepped
 * here to their end, not compared with libunwind's.
 */
bool cfi_module_has_debug_frame(struct cfi_cache *c, const struct module *mod);

/*
 * Rules are keyed by module and address in its file, so they hold across
 * reloads and execs for as long as the modules live (their address space).
 */
void cfi_cache_release(struct cfi_cache *c);

#endif
