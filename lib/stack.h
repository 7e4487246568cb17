/*
 * lib/stack.h - what a stack is between the layers: an array of lookup
 * pcs, innermost first, in which a few values that are never user
 * addresses mark frames cprof made up.  attach/ writes them (the unwinder,
 * the samplers), profiles/ names them; neither needs the other's headers.
 */
#ifndef CPROF_STACK_H
#define CPROF_STACK_H

#include <stdbool.h>
#include <stdint.h>

/* Pseudo pcs: never valid user addresses (non-canonical on x86-64). */
#define PC_TRUNCATED 0xfffffffffffffff1ULL	/* depth cap or copy ended */
#define PC_UNKNOWN 0xfffffffffffffff2ULL	/* no unwind info: gave up */
#define PC_BEFORE_ATTACH 0xfffffffffffffff3ULL	/* threadcreate: an older thread */
#define PC_NOT_SAMPLED 0xfffffffffffffff4ULL	/* time of a thread no tick caught */
/*
 * Flag on a real pc: name this frame by its physical function only, not by
 * the inlined functions at that address (the caller frame a syscall-exit
 * stop's user share is moved to; see attach/sampler.c).
 */
#define PC_PHYSICAL ((uint64_t)1 << 62)
/*
 * Flag on a lookup address: the frame of a function that left the stack by
 * a tail call (symbolizer_tailcalls() puts these in), at its jump.
 */
#define PC_TAILCALL ((uint64_t)1 << 61)
static inline bool pc_is_pseudo(uint64_t pc)
{
	return pc == PC_TRUNCATED || pc == PC_UNKNOWN || pc == PC_BEFORE_ATTACH ||
	       pc == PC_NOT_SAMPLED;
}

/* "[truncated]", "[unknown]", "[created before attach]", "[not sampled]" */
static inline const char *pc_pseudo_name(uint64_t pc)
{
	return pc == PC_TRUNCATED ? "[truncated]" :
	       pc == PC_BEFORE_ATTACH ? "[created before attach]" :
	       pc == PC_NOT_SAMPLED ? "[not sampled]" : "[unknown]";
}

#endif
