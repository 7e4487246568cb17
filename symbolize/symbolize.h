/*
 * symbolize/symbolize.h - turn (epoch, address) into functions, file:line and
 * inlined frames, with libdw/libdwfl.
 *
 * A struct symbolizer reads the addrspace's modules (it does not own them)
 * and owns every string it returns; they live until symbolizer_free().
 * Lookups never fail: an address nothing knows gets zero frames.
 * Separate debuginfo is found by build-id under the debuginfo path
 * (default /usr/lib/debug) and by .gnu_debuglink beside the file.
 */
#ifndef CPROF_SYMBOLIZE_H
#define CPROF_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/stack.h"

struct addrspace;
struct mapping;
struct maps;

/* A PC_TAILCALL frame's (lib/stack.h) outermost function ends in this. */
#define TAILCALL_SUFFIX " (tail call)"

struct symframe {
	const char *name;	/* demangled */
	const char *system_name;	/* as in the binary (mangled) */
	const char *file;	/* "" when unknown */
	int line;		/* 0 when unknown */
};

#define SYM_MAX_INLINE 32

struct symloc {
	const struct mapping *map;	/* NULL: not in any mapping */
	size_t nframes;		/* innermost (most inlined) first */
	struct symframe frames[SYM_MAX_INLINE];
	bool has_dwarf;		/* module had DWARF for this address */
	bool tail_call;		/* a PC_TAILCALL frame */
	uint64_t offset;	/* from the start of the containing symbol */
};

struct symbolizer *symbolizer_new(struct addrspace *as, const char *debuginfo_path);
void symbolizer_free(struct symbolizer *s);
void symbolizer_lookup(struct symbolizer *s, uint32_t epoch, uint64_t addr,
		       struct symloc *out);

/*
 * The stack pcs[0..n) (lookup addresses, innermost first, as the unwinder
 * gives them) with the frames tail calls removed put back, as PC_TAILCALL
 * addresses, where the debug info names exactly one chain of calls
 * (symbolize/tailcall.h).  Returns s's buffer, valid until the next call;
 * *nout gets its length.  Pseudo pcs and flags of pcs[] are kept as they are.
 */
const uint64_t *symbolizer_tailcalls(struct symbolizer *s, uint32_t epoch,
				     const uint64_t *pcs, size_t n, size_t *nout);

/*
 * Load every module's symbols and debuginfo for an epoch now (lookups
 * load them on first use otherwise): to do it while another thread works.
 */
void symbolizer_prepare(struct symbolizer *s, uint32_t epoch);

/* The address space's epochs, as the symbolizer sees them. */
uint32_t symbolizer_epochs(const struct symbolizer *s);
const struct maps *symbolizer_maps(const struct symbolizer *s, uint32_t epoch);

/* Demangle a C++ or Rust (legacy) name; returns name itself when plain. */
const char *symbolizer_demangle(struct symbolizer *s, const char *name);

#endif
