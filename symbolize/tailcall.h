/*
 * symbolize/tailcall.h - the frames tail calls took off the stack, put back
 * from DWARF call-site entries where the debug info leaves one candidate.
 *
 * A function that ends in a jump to another leaves no frame: the callee
 * returns straight to the caller's caller.  The caller's call site
 * (DW_TAG_call_site, or DW_TAG_GNU_call_site before DWARF 5) still names
 * the function it called; if that is not the function the callee frame is
 * in, the tail-call sites (DW_AT_call_tail_call) of the named function,
 * and of those it jumps to, say how it got there.  gdb shows the frames it
 * finds that way as "tail call frame"s; cprof adds them only when exactly
 * one chain of tail calls fits (never a guess), and gives up on any tail
 * call whose target the debug info does not name.
 *
 * struct tailcalls owns its caches (functions' call sites, symbol names,
 * answers per frame pair); the Dwfl handed in must outlive it.
 */
#ifndef CPROF_TAILCALL_H
#define CPROF_TAILCALL_H

#include <stddef.h>
#include <stdint.h>

#include <elfutils/libdwfl.h>

/* the longest chain of tail calls looked for between two frames */
#define TAILCALL_MAX_CHAIN 8

struct tailcalls;

struct tailcalls *tailcalls_new(void);
void tailcalls_free(struct tailcalls *tc);

/*
 * The frames missing between a callee frame and its caller's frame, both
 * given as lookup addresses (the callee's pc, or its return address - 1;
 * the caller's return address - 1): the return addresses of the tail-call
 * jumps, innermost first, in out[0..TAILCALL_MAX_CHAIN).  Returns how many
 * (0 when nothing is missing, or the debug info does not say for sure).
 */
size_t tailcalls_between(struct tailcalls *tc, Dwfl *dwfl, uint64_t callee,
			 uint64_t caller, uint64_t *out);

#endif
