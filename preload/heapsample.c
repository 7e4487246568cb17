/*
 * preload/heapsample.c - libcprof-heap.so: Go's heap sampling inside a
 * command that cprof launches (record -t heap/allocs), so that only a
 * sampled allocation costs a trap.  cprof preloads it (LD_PRELOAD) and
 * probes its two marker functions with uprobes; nothing else in the
 * process is probed.
 *
 * Contract with cprof (attach/heapfuncs.c, attach/heap.c):
 * - CPROF_HEAP_RATE: bytes per sample on average (Go's MemProfileRate).
 *   Each thread counts down an exponential number of bytes; the
 *   allocation that crosses zero is sampled (Go's nextSample), and cprof
 *   scales it by 1 / (1 - e^(-size/rate)).
 * - cprof_heap_sampled(ptr, size): called after a sampled allocation
 *   returned ptr; cprof_heap_freed(ptr): called when a sampled pointer is
 *   freed (or moved by realloc).  Both begin with a push, which the kernel
 *   emulates; unprobed (cprof gone) each is a call and a return.
 * - The same two events as OpenTelemetry's memory-profiling USDT contract
 *   (opentelemetry-ebpf-profiler design-docs/00003-memory-profiling):
 *   SystemTap SDT probes otel_memory:alloc(ptr, size, weight), weight the
 *   unbiased bytes size / (1 - e^(-size/rate)), and otel_memory:free(ptr)
 *   for a sampled pointer; a nop each, no semaphore, for any profiler that
 *   reads .note.stapsdt (OTel's, perf, bpftrace, gdb).  cprof itself
 *   probes the marker functions.
 * - cprof_heap_set: where the sampled pointers still allocated are (struct
 *   cprof_heap_set below).  -t heap reads it at the end and at the
 *   process's exit instead of probing cprof_heap_freed, so that a free
 *   never traps.
 * - Every interposed function forwards to the next definition
 *   (dlsym(RTLD_NEXT)): glibc's, or an allocator the program links or
 *   preloads itself; the program's allocator is unchanged.
 *
 * Nothing here allocates through the functions it wraps: the set of
 * sampled pointers lives in mmap'ed memory, and a thread already inside
 * the library samples nothing (dlsym's own calloc, during start-up, is
 * served from a static buffer that is never freed).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "heapset.h"

#define EXPORT __attribute__((visibility("default")))

/*
 * The probe points: push/pop/ret (the kernel emulates the push), with
 * call frame information, so that cprof unwinds from their entry.
 */
#define MARKER(name) \
	".globl " name "\n" \
	".type " name ",@function\n" \
	name ":\n" \
	"\t.cfi_startproc\n" \
	"\tpush %rbp\n" \
	"\t.cfi_adjust_cfa_offset 8\n" \
	"\t.cfi_rel_offset %rbp, 0\n" \
	"\tpop %rbp\n" \
	"\t.cfi_adjust_cfa_offset -8\n" \
	"\t.cfi_restore %rbp\n" \
	"\tret\n" \
	"\t.cfi_endproc\n" \
	".size " name ", .-" name "\n"
__asm__(".text\n" MARKER("cprof_heap_sampled") MARKER("cprof_heap_freed"));
EXPORT void cprof_heap_sampled(void *ptr, size_t size);
EXPORT void cprof_heap_freed(void *ptr);

/* ---- the next allocator ---- */

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);
static int (*next_posix_memalign)(void **, size_t, size_t);
static void *(*next_aligned_alloc)(size_t, size_t);
static void *(*next_memalign)(size_t, size_t);
static void *(*next_valloc)(size_t);
static void *(*next_pvalloc)(size_t);

/* what dlsym allocates while the above are looked up: never freed */
static unsigned char boot[16384] __attribute__((aligned(16)));
static size_t boot_used;
static bool resolving;

static bool in_boot(const void *p)
{
	return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + sizeof(boot);
}

static void *boot_alloc(size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n > sizeof(boot) - boot_used)
		return NULL;
	p = boot + boot_used;
	boot_used += n;
	return p;	/* static storage: zero, as calloc's must be */
}

static void resolve(void)
{
	if (next_malloc || resolving)
		return;
	resolving = true;
	next_calloc = dlsym(RTLD_NEXT, "calloc");
	next_malloc = dlsym(RTLD_NEXT, "malloc");
	next_realloc = dlsym(RTLD_NEXT, "realloc");
	next_free = dlsym(RTLD_NEXT, "free");
	next_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	next_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	next_memalign = dlsym(RTLD_NEXT, "memalign");
	next_valloc = dlsym(RTLD_NEXT, "valloc");
	next_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
	resolving = false;
}

/* ---- sampling ---- */

struct tstate {
	int64_t left;		/* bytes to the next sample */
	uint64_t rng;		/* 0: not drawn yet */
	bool busy;		/* inside the library: sample nothing */
};
static __thread struct tstate ts __attribute__((tls_model("initial-exec")));
static double rate = 512 * 1024;

static uint64_t next_rand(struct tstate *t)
{
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return t->rng;
}

/* Go's nextSample: an exponential number of bytes of mean rate */
static void draw(struct tstate *t)
{
	double u;

	if (!t->rng) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		t->rng = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)(uintptr_t)t ^ (uint64_t)gettid() ^
			 0x9e3779b97f4a7c15ULL;
	}
	u = ((double)(next_rand(t) >> 11) + 0.5) / 9007199254740992.0;
	t->left = (int64_t)(-log(u) * rate) + 1;
}

/* ---- the sampled pointers: a filter for frees, and the exact set ---- */

/*
 * Every free looks its pointer up: first in a counting filter read
 * without a lock (a slot per hash, how many sampled pointers have it),
 * then, where its slot is not zero, in the exact set under a mutex.
 * Sampled pointers are few (one per --rate bytes): the filter is almost
 * always zero.
 */
#define FILTER_BITS 20
static uint16_t filter[1u << FILTER_BITS];
static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *set;		/* open addressing: 0 empty, 1 deleted */
static size_t set_cap, set_used, set_live;

/*
 * What cprof reads (process_vm_readv) to know which sampled blocks are
 * still allocated: table[0..cap), each 0 (empty), 1 (deleted) or a
 * sampled pointer not freed.  Written under set_lock; gen is odd while
 * the table is being replaced, so a reader of a running process can tell
 * a torn read.  Layout fixed: magic, gen, table, cap (8 bytes each).
 */
EXPORT struct cprof_heap_set cprof_heap_set = { CPROF_HEAP_SET_MAGIC, 0, 0, 0, 512 * 1024 };

static uint64_t hash(uintptr_t p)
{
	uint64_t h = (uint64_t)p * 0x9e3779b97f4a7c15ULL;

	return h ^ (h >> 29);
}

static size_t filter_slot(uintptr_t p)
{
	return (size_t)(hash(p) >> (64 - FILTER_BITS));
}

static bool set_grow(void)
{
	size_t cap = set_cap ? 2 * set_cap : 4096;
	uintptr_t *n = mmap(NULL, cap * sizeof(*n), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (n == MAP_FAILED)
		return false;
	for (size_t i = 0; i < set_cap; i++) {
		size_t j;

		if (set[i] <= 1)
			continue;
		for (j = hash(set[i]) & (cap - 1); n[j]; j = (j + 1) & (cap - 1))
			;
		n[j] = set[i];
	}
	__atomic_store_n(&cprof_heap_set.gen, cprof_heap_set.gen + 1, __ATOMIC_RELEASE);
	if (set)
		munmap(set, set_cap * sizeof(*set));
	set = n;
	set_cap = cap;
	set_used = set_live;
	cprof_heap_set.table = (uint64_t)(uintptr_t)n;
	cprof_heap_set.cap = cap;
	__atomic_store_n(&cprof_heap_set.gen, cprof_heap_set.gen + 1, __ATOMIC_RELEASE);
	return true;
}

/* with set_lock held */
static bool set_add(uintptr_t p)
{
	size_t j;

	if ((set_used + 1) * 2 > set_cap && !set_grow())
		return false;
	for (j = hash(p) & (set_cap - 1); set[j] > 1; j = (j + 1) & (set_cap - 1))
		if (set[j] == p)
			return false;	/* freed behind our back (realloc inside libc) */
	if (!set[j])
		set_used++;
	set[j] = p;
	set_live++;
	return true;
}

static bool set_remove(uintptr_t p)
{
	if (!set_cap)
		return false;
	for (size_t j = hash(p) & (set_cap - 1); set[j]; j = (j + 1) & (set_cap - 1))
		if (set[j] == p) {
			set[j] = 1;
			set_live--;
			return true;
		}
	return false;
}

/*
 * A SystemTap SDT probe (the .note.stapsdt v3 format: type 3, owner
 * "stapsdt", then the probe's address, the address of .stapsdt.base, the
 * semaphore's (0: none), provider, name and the arguments' locations, as
 * the compiler placed them: "8@%rdi" and so on).
 */
#define SDT_PROBE(name, args, ...) \
	__asm__ __volatile__( \
		"990: nop\n" \
		".pushsection .note.stapsdt,\"\",\"note\"\n" \
		".balign 4\n" \
		".4byte 992f-991f, 994f-993f, 3\n" \
		"991: .asciz \"stapsdt\"\n" \
		"992: .balign 4\n" \
		"993: .8byte 990b\n" \
		".8byte _.stapsdt.base\n" \
		".8byte 0\n" \
		".asciz \"otel_memory\"\n" \
		".asciz \"" name "\"\n" \
		".asciz \"" args "\"\n" \
		"994: .balign 4\n" \
		".popsection\n" \
		".ifndef _.stapsdt.base\n" \
		".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n" \
		".weak _.stapsdt.base\n" \
		".hidden _.stapsdt.base\n" \
		"_.stapsdt.base: .space 1\n" \
		".size _.stapsdt.base, 1\n" \
		".popsection\n" \
		".endif\n" \
		:: __VA_ARGS__)

static void sampled(void *ptr, size_t size)
{
	uintptr_t p = (uintptr_t)ptr;
	bool added;

	pthread_mutex_lock(&set_lock);
	added = set_add(p);
	if (added)
		__atomic_add_fetch(&filter[filter_slot(p)], 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&set_lock);
	if (added) {
		uint64_t w = (uint64_t)((double)size / -expm1(-(double)size / rate) + 0.5);

		SDT_PROBE("alloc", "8@%0 8@%1 8@%2", "r"((uint64_t)(uintptr_t)ptr),
			  "r"((uint64_t)size), "r"(w));
		cprof_heap_sampled(ptr, size);
	}
}

static void maybe_freed(void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	bool was;

	if (!__atomic_load_n(&filter[filter_slot(p)], __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&set_lock);
	was = set_remove(p);
	if (was)
		__atomic_sub_fetch(&filter[filter_slot(p)], 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&set_lock);
	/* before the allocator may hand the address out again */
	if (was) {
		SDT_PROBE("free", "8@%0", "r"((uint64_t)(uintptr_t)ptr));
		cprof_heap_freed(ptr);
	}
}

/* After an allocation of size bytes returned ptr: sample it? */
static void account(void *ptr, size_t size)
{
	struct tstate *t = &ts;

	if (!ptr || t->busy)
		return;
	if (!t->rng)
		draw(t);
	t->left -= (int64_t)(size ? size : 1);
	if (t->left > 0)
		return;
	t->busy = true;
	draw(t);
	sampled(ptr, size);
	t->busy = false;
}

static void prefork(void)
{
	pthread_mutex_lock(&set_lock);
}

static void postfork(void)
{
	pthread_mutex_unlock(&set_lock);
}

__attribute__((constructor)) static void heapsample_init(void)
{
	const char *r = getenv("CPROF_HEAP_RATE");
	char *end;
	double v;

	resolve();
	if (r) {
		v = strtod(r, &end);
		if (end != r && !*end && v >= 1)
			rate = v;
	}
	cprof_heap_set.rate = (uint64_t)rate;
	pthread_atfork(prefork, postfork, postfork);
}

/* ---- the interposed functions ---- */

EXPORT void *malloc(size_t n)
{
	void *p;

	if (!next_malloc) {
		resolve();
		if (!next_malloc)
			return boot_alloc(n);
	}
	p = next_malloc(n);
	account(p, n);
	return p;
}

EXPORT void *calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (!next_calloc) {
		resolve();
		if (!next_calloc) {
			if (__builtin_mul_overflow(n, size, &total))
				return NULL;
			return boot_alloc(total);
		}
	}
	p = next_calloc(n, size);
	if (p && !__builtin_mul_overflow(n, size, &total))
		account(p, total);
	return p;
}

EXPORT void free(void *p)
{
	if (!p || in_boot(p))
		return;
	maybe_freed(p);
	if (!next_free)
		resolve();
	next_free(p);
}

EXPORT void *realloc(void *old, size_t n)
{
	void *p;

	if (in_boot(old)) {
		/* a start-up block: copied out (its size is not kept: at most
		 * what is left of the buffer after it) */
		size_t have = (size_t)(boot + sizeof(boot) - (unsigned char *)old);

		p = malloc(n);
		if (p)
			memcpy(p, old, have < n ? have : n);
		return p;
	}
	if (!next_realloc)
		resolve();
	if (old)
		maybe_freed(old);	/* realloc is a free and an allocation */
	p = next_realloc(old, n);
	account(p, n);	/* (failed: old stays, now unsampled) */
	return p;
}

EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(old, total);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	int ret;

	if (!next_posix_memalign)
		resolve();
	ret = next_posix_memalign(out, align, n);
	if (!ret)
		account(*out, n);
	return ret;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	void *p;

	if (!next_aligned_alloc)
		resolve();
	p = next_aligned_alloc(align, n);
	account(p, n);
	return p;
}

EXPORT void *memalign(size_t align, size_t n)
{
	void *p;

	if (!next_memalign)
		resolve();
	p = next_memalign(align, n);
	account(p, n);
	return p;
}

EXPORT void *valloc(size_t n)
{
	void *p;

	if (!next_valloc)
		resolve();
	p = next_valloc(n);
	account(p, n);
	return p;
}

EXPORT void *pvalloc(size_t n)
{
	void *p;

	if (!next_pvalloc)
		resolve();
	p = next_pvalloc(n);
	account(p, n);
	return p;
}
