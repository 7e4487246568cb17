/*
 * attach/heapfuncs.h - what heap, allocs, probe and pair probe (attach/
 * heap.c): the allocator's entry points, or the functions the user
 * named, found by their symbols in the modules the target maps.  All on
 * the tracer thread; nothing here opens a probe.
 */
#ifndef CPROF_HEAPFUNCS_H
#define CPROF_HEAPFUNCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdt.h"
#include "target.h"
#include "uprobe.h"

/* An allocator entry point: which arguments say the size, which is freed. */
struct afunc {
	const char *name;
	signed char size_a, size_b;	/* size = arg a (x arg b), -1: none */
	signed char frees;		/* the pointer freed, -1: none */
	bool memptr;			/* the result is stored at *arg0 */
	bool own;			/* only from the module that has malloc */
	bool count;			/* probe:SYMBOL: each call counts 1 */
	bool sampled;			/* libcprof-heap.so's: sampled in the
					 * process, arg 0 the pointer */
};

/* At most this many functions are probed (the allocator's, all found). */
#define HFUNCS_MAX 32

/* A probed function: where it is, in the file and in the target. */
struct probe {
	const struct afunc *f;	/* NULL for probe:SYMBOL */
	struct module *mod;
	char *path;		/* for config1: the file through cprof's own fd */
	struct func_loc loc;
	uint64_t free_offset;	/* where its frees are seen (uprobe_free_offset) */
	uint64_t start, end;	/* runtime address range */
	bool alloc, frees;
	/* calls counted, not yet shared among the records (see weigh) */
	uint64_t calls, carry;
	uint64_t received;	/* records read in this interval */
	uint64_t emitted;	/* with BPF links: calls the kernel sampled (and
				 * recorded) in this interval */
	double heat;		/* calls seen since the last window's end: its
				 * events close hottest first (perfev_batch_close) */
	double rank;		/* the heat at the last window's end: the next
				 * opens the hottest last */
	uint64_t out_mark;	/* its events are out at this keeper_closed() */
	double out_f;		/* meanwhile a share of the busiest thread's time */
	double cost_ns;		/* what a call costs the target (--max-overhead): */
	double free_cost_ns;	/* its entry (and return), and a free */
	size_t first_open;	/* samples[] from here on have no weight yet */
	/* a USDT probe's site (nargs > 0: otel_memory's, heapfuncs.c): where
	 * its arguments are (pointer, size, weight; or the pointer freed), and
	 * its semaphore's file offset (0: none), which the kernel counts */
	struct sdt_arg args[3];
	unsigned nargs;
	uint64_t ref_ctr;
};

struct hfuncs {
	bool inuse;		/* heap, pair: returns and frees too */
	bool preload;		/* libcprof-heap.so's markers: the command
				 * cprof launched loaded it, or the process
				 * attached to was started with it (else:
				 * cleared) */
	int fallback;		/* why not (hfuncs_fallback_why), or 0 */
	/* heap with the library: which sampled blocks are still allocated is
	 * read from its cprof_heap_set (at set_vaddr in set_mod), and its
	 * frees are not probed */
	bool set_read;
	struct module *set_mod;
	uint64_t set_vaddr;
	/* a process that samples itself: OpenTelemetry's memory-profiling
	 * probes (otel_memory:alloc, :free) in otel_mod, probed instead of the
	 * allocator where otel_ok allows and a module has them */
	bool otel_ok, otel;
	struct module *otel_mod;
	bool otel_hide_all;	/* its frames are all the sampler's (a library) */
	char *otel_why;		/* where a module has them but they cannot be used */
	bool pair;		/* pair: live objects are counted, not bytes */
	/* probe:[LIB:]SYMBOL, pair:ACQUIRE,RELEASE (each [LIB:]SYMBOL) */
	struct afunc user[2];
	const char *lib[2];
	size_t nuser;		/* 0: the allocator */
	size_t missing;		/* the user function not found */
	char *sym;		/* the argument as given, cut into the above */
	bool resolved;
	struct probe *probes;	/* owned: hfuncs_release() */
	size_t nprobes;
	/* the allocator's own functions, by module (hfuncs_site) */
	struct hidden_mod *hidden;
	size_t nhidden;
};

/* Where a module has allocator functions: link-time ranges. */
struct hidden_mod {
	const struct module *mod;
	uint64_t (*r)[2];
	size_t n;
};

/*
 * probe:[LIB:]SYMBOL, or with h->pair ACQUIRE,RELEASE: the functions
 * named.  0, or -1 (reported).
 */
int hfuncs_parse_user(struct hfuncs *h, const char *arg);

/*
 * Find what to probe in the first root's maps: 1 resolved (h->probes),
 * 0 not yet (no allocator mapped, or a function named not found:
 * h->missing says which).
 */
int hfuncs_resolve(struct hfuncs *h, struct target *t);

void hfuncs_release(struct hfuncs *h);

/* Why libcprof-heap.so's markers are not probed (h->fallback, not 0). */
const char *hfuncs_fallback_why(int fallback);

/*
 * Allocation sites as leaves, as Go's heap profile has them: how many of
 * an entry sample's innermost frames (pcs[0], the probed function at its
 * entry) are the allocator's own and are dropped.  With the allocator
 * probed (heap, allocs), that is the probed function and the allocator
 * functions above it (the malloc family, operator new and delete, Rust's
 * __rust_alloc, jemalloc's and tcmalloc's entry points), found by name in
 * the module each frame is in; with functions named (pair), the acquire
 * function only.  At least one frame is kept.  m: the thread's maps.
 */
size_t hfuncs_site(struct hfuncs *h, const struct maps *m, const uint64_t *pcs, size_t n);

/*
 * The modules of m in the order a symbol binds (the executable, the
 * libraries, libc; not the loader), at most max; how many.
 */
size_t hfuncs_lookup_order(const struct maps *m, struct module **out, size_t max);

/*
 * The maps an address of thread tid means something in (its process's
 * current image), and those the allocator is resolved in (the first
 * root's).
 */
struct maps *hfuncs_maps_of(struct target *t, pid_t tid);

/* Where cprof_heap_set is in the process of maps m (h->set_mod), or 0. */
uint64_t hfuncs_set_addr(const struct hfuncs *h, const struct maps *m);
struct maps *hfuncs_root_maps(struct target *t);

#endif
