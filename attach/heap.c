/*
 * attach/heap.c - the heap, allocs, probe and pair modes: the allocator's
 * entry points (or the functions named) watched by kernel uprobes
 * (attach/uprobe.c), one set per thread, and their samples unwound like
 * ptrace captures.  Nothing is written into the target and no thread is
 * stopped for a sample.
 *
 * Why uprobes through perf_event_open (issue 15's measurements, this
 * machine, malloc(16..4096)/free loop): a uprobe hit costs ~0.9 us and the
 * kernel takes it without a switch to cprof; a ptrace int3 costs 27.5 us
 * and, written by cprof, would outlive a SIGKILLed cprof; BCC's memleak
 * costs ~8 us a call.  The kernel removes a uprobe when its fd closes.
 *
 * Sampling.  Every call of an allocator function is recorded by the
 * kernel (registers and an 8 KiB stack copy), and cprof keeps each with
 * Go's chance, 1 - e^(-size/rate), scaled by its inverse: Go's
 * MemProfileRate, exactly, for any mix of sizes.  The kernel cannot draw
 * at random; sampling every N-th call in the kernel (sample_period, with
 * periods redrawn by PERF_EVENT_IOC_PERIOD) was tried and is biased: a new
 * period restarts counting at the thread's next call, which for a program
 * that sleeps between bursts is the same call of its cycle every time, and
 * the k-th sample after it falls on call k x P - 1: on heapmix (churn and
 * keep alternating, 3:1 in bytes) keep got 62-99% of the bytes where the
 * truth is 25%, whatever the period's distribution (uniform, geometric,
 * prime).  Records the ring had no room for are lost; the events' counters
 * (one group read per thread) give each function's exact number of calls,
 * and each interval's calls are shared among the records received in it
 * (calls / received), so a lost record leaves the estimate unbiased.
 *
 * heap (inuse) also needs the pointer: a uretprobe on each allocator
 * function records every return (rax only), and the return that follows a
 * sampled entry on the same thread (one ring per thread keeps the order)
 * gives the sampled pointer.  free (and realloc's old pointer) is recorded
 * at every call; only pointers of samples are looked up.
 *
 * A call made inside another probed allocator function (glibc's
 * reallocarray calls realloc) is left to the outer one: its stack shows
 * it.  A uretprobe puts the [uprobes] page in place of the return address
 * only after the entry's handlers ran, so an entry sample's own stack is
 * whole; only an outer allocator frame of a nested call shows the page,
 * and such samples are dropped anyway.
 */
#define _GNU_SOURCE
#include "keeper.h"
#include "sampler.h"
#include "uprobe.h"
#include "unwind.h"
#include "../lib/stack.h"
#include "../lib/util.h"
#include "../profiles/builder.h"
#include "../symbolize/maps.h"

#include <errno.h>
#include <gelf.h>
#include <linux/perf_event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#define NONE UINT64_MAX
#define MAX_PROBE_STACK 8192	/* copied at every call: what it costs */
#define RING_ORDER 9	/* 2 MiB a thread: ~250 calls between two reads */

/* The recording's numbers these modes report (sampler_stat) */
static const char STAT_PROBES[] = "functions probed", STAT_NESTED[] = "nested samples",
	STAT_LOST[] = "lost records", STAT_WINDOWS[] = "duty windows",
	STAT_ARMED[] = "duty share";

/* x86-64 argument registers in the perf register order */
enum { R_AX = 0, R_BX, R_CX, R_DX, R_SI, R_DI, R_BP, R_SP, R_IP, R_FLAGS,
       R_CS, R_SS, R_R8 = 16, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15 };
static const int arg_reg[] = { R_DI, R_SI, R_DX, R_CX, R_R8, R_R9 };

/* An allocator entry point: which arguments say the size, which is freed. */
struct afunc {
	const char *name;
	signed char size_a, size_b;	/* size = arg a (x arg b), -1: none */
	signed char frees;		/* the pointer freed, -1: none */
	bool memptr;			/* the result is stored at *arg0 */
	bool own;			/* only from the module that has malloc */
	bool count;			/* probe:SYMBOL: each call counts 1 */
};

static const struct afunc afuncs[] = {
	{ "malloc", 0, -1, -1, false, false, false },
	{ "calloc", 0, 1, -1, false, false, false },
	{ "realloc", 1, -1, 0, false, false, false },
	{ "reallocarray", 1, 2, 0, false, false, false },
	{ "posix_memalign", 2, -1, -1, true, false, false },
	{ "aligned_alloc", 1, -1, -1, false, false, false },
	{ "memalign", 1, -1, -1, false, false, false },
	{ "valloc", 0, -1, -1, false, false, false },
	{ "pvalloc", 0, -1, -1, false, false, false },
	{ "free", -1, -1, 0, false, false, false },
	/* jemalloc's own API */
	{ "mallocx", 0, -1, -1, false, true, false },
	{ "rallocx", 1, -1, 0, false, true, false },
	{ "sdallocx", -1, -1, 0, false, true, false },
	{ "dallocx", -1, -1, 0, false, true, false },
	/* C++ new/delete, where the allocator has its own (tcmalloc, jemalloc) */
	{ "_Znwm", 0, -1, -1, false, true, false },
	{ "_Znam", 0, -1, -1, false, true, false },
	{ "_ZnwmRKSt9nothrow_t", 0, -1, -1, false, true, false },
	{ "_ZnamRKSt9nothrow_t", 0, -1, -1, false, true, false },
	{ "_ZnwmSt11align_val_t", 0, -1, -1, false, true, false },
	{ "_ZnamSt11align_val_t", 0, -1, -1, false, true, false },
	{ "_ZdlPv", -1, -1, 0, false, true, false },
	{ "_ZdaPv", -1, -1, 0, false, true, false },
	{ "_ZdlPvm", -1, -1, 0, false, true, false },
	{ "_ZdaPvm", -1, -1, 0, false, true, false },
	{ "_ZdlPvSt11align_val_t", -1, -1, 0, false, true, false },
	{ "_ZdaPvSt11align_val_t", -1, -1, 0, false, true, false },
	{ "_ZdlPvmSt11align_val_t", -1, -1, 0, false, true, false },
	{ "_ZdaPvmSt11align_val_t", -1, -1, 0, false, true, false },
};
#define NAFUNCS (sizeof(afuncs) / sizeof(afuncs[0]))

enum ev_kind { EV_ENTRY, EV_RET, EV_FREE };

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
	size_t first_open;	/* samples[] from here on have no weight yet */
};

struct hthread {
	pid_t tid;
	bool open;
	bool gone;		/* exited: drain, then close */
	/* nfds: the frees (heap, pair), the first owning the ring, nkeep of
	 * them kept between --duty windows; from fds[leader] on, a window's:
	 * the entries, their group's leader first, then the returns */
	int *fds;
	int *kfds;		/* the same events, the keeper's fds */
	size_t nfds, nkeep, leader;
	struct perf_ring ring;
	uint64_t *last;		/* counts at the last read, by probe */
	uint64_t *pending;	/* samples[] awaiting their return, by probe */
};

struct hsample {
	size_t entry;		/* builder entry, or NONE (dropped) */
	uint32_t probe;
	uint64_t size;
	double inv_p;		/* 1 / the chance cprof kept it (bytes) */
	double w;		/* calls it stands for */
	bool weighed, live;
	uint64_t memptr;	/* posix_memalign: where the pointer goes */
};

struct event_id {
	uint32_t probe;
	enum ev_kind kind;
};

/* ---- closing events, off the tracer thread ---- */

/*
 * The events are opened and closed by the keeper process (keeper.h): a
 * SIGKILL meeting a thread of cprof at it can leave the target's
 * breakpoint behind (measured there).  Closing an event waits for the
 * kernel to unregister it (~50 ms here: 19 events of a thread that exited
 * took 0.9 s); the keeper does it in parallel and the tracer does not
 * wait, but the end of the recording does (the probes are gone when cprof
 * says so).
 */
#define CLOSE_WAIT_MS 120000

struct heap {
	bool inuse;		/* heap, pair: returns and frees too */
	bool pair;		/* pair: live objects are counted, not bytes */
	/* probe:[LIB:]SYMBOL, pair:ACQUIRE,RELEASE (each [LIB:]SYMBOL) */
	struct afunc user[2];
	const char *lib[2];
	size_t nuser;		/* 0: the allocator */
	size_t missing;		/* the user function not found */
	char *sym;		/* the argument as given, cut into the above */
	bool failed;
	bool resolved;
	struct probe *probes;
	size_t nprobes;
	struct hthread **threads;
	size_t nthreads, threads_alloc;
	struct u64map ids;	/* perf event id -> event_id index */
	struct event_id *evs;
	size_t nevs, evs_alloc;
	struct hsample *samples;
	size_t nsamples, samples_alloc;
	struct u64map live;	/* pointer -> samples[] index, or NONE */
	/* --duty: probes in place in windows (see windows_start) */
	double duty;
	bool windows, armed;
	uint64_t started, switch_at, armed_since, armed_ns;
	size_t nwindows;
	uint64_t rate;
	uint64_t rng;
	struct capture cap;
	struct hthread *cur;	/* the ring being read */
	struct keeper keeper;
	struct sampler *s;
	struct unwinder *u;
	uint64_t *pcs;
	uint64_t lost, records, dropped_nested;
};

static struct heap *H(struct sampler *s)
{
	return s->mode_state;
}

static double uniform(struct heap *h)
{
	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	return ((double)(h->rng >> 11) + 0.5) / 9007199254740992.0;
}

/* ---- which functions: the allocator the dynamic linker would bind ---- */

static bool is_libc(const struct module *m)
{
	const char *b = strrchr(m->path, '/');

	b = b ? b + 1 : m->path;
	return !strncmp(b, "libc.so", 7) || !strncmp(b, "libc-", 5);
}

static bool is_loader(const struct module *m)
{
	const char *b = strrchr(m->path, '/');

	b = b ? b + 1 : m->path;
	return !strncmp(b, "ld-linux", 8) || !strncmp(b, "ld.so", 5) ||
	       !strncmp(b, "ld64.so", 7);
}

/*
 * The modules in the order a symbol binds: the executable, then the
 * libraries it and LD_PRELOAD bring (an allocator such as jemalloc or
 * tcmalloc is one of them), then libc, which they all interpose on.  Not
 * the loader (its minimal malloc serves only itself).
 */
static size_t lookup_order(const struct maps *m, struct module **out, size_t max)
{
	size_t n = 0;

	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < m->n && n < max; i++) {
			struct module *mod = m->v[i].mod;
			bool exe = m->exe && mod && !strcmp(mod->path, m->exe);
			bool dup = false;

			if (!mod || mod->is_vdso || !mod->elf || is_loader(mod))
				continue;
			if ((pass == 0) != exe || (pass == 2) != (!exe && is_libc(mod)))
				continue;
			for (size_t j = 0; j < n; j++)
				dup |= out[j] == mod;
			if (!dup)
				out[n++] = mod;
		}
	}
	return n;
}

static uint64_t module_bias(const struct maps *m, const struct module *mod, bool *found)
{
	*found = false;
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].mod == mod) {
			*found = true;
			return m->v[i].bias;
		}
	return 0;
}

static void add_probe(struct heap *h, const struct maps *m, struct module *mod,
		      const struct afunc *f, const struct func_loc *loc)
{
	struct probe *p;
	bool found;
	uint64_t bias = module_bias(m, mod, &found);

	for (size_t i = 0; i < h->nprobes; i++)
		if (h->probes[i].mod == mod && h->probes[i].loc.offset == loc->offset)
			return;	/* an alias of one already probed */
	h->probes = xrealloc(h->probes, (h->nprobes + 1) * sizeof(*h->probes));
	p = &h->probes[h->nprobes++];
	*p = (struct probe){ .f = f, .mod = mod, .loc = *loc,
			     .start = loc->vaddr + bias,
			     .end = loc->vaddr + bias + (loc->size ? loc->size : 1) };
	p->path = xasprintf("/proc/%d/fd/%d", getpid(), mod->fd);
	p->alloc = f->size_a >= 0 || f->count;
	p->frees = f->frees >= 0;
	/* a free only: past its null test, where the kernel emulates */
	p->free_offset = p->frees && !p->alloc ?
			 uprobe_free_offset(mod->elf, loc, f->frees) : loc->offset;
	if (p->free_offset != loc->offset)
		debug("heap: %s's frees probed at +%llu", f->name,
		      (unsigned long long)(p->free_offset - loc->offset));
}

/* 1 resolved, 0 not yet (no allocator mapped), -1 error reported */
static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/*
 * probe:[LIB:]SYMBOL, pair:ACQUIRE,RELEASE: each function in the first
 * module, in binding order, that has it; probed once all are found
 */
static int resolve_user(struct heap *h, const struct maps *m, struct module **mods,
			size_t n)
{
	struct module *where[2] = { NULL, NULL };
	struct func_loc loc[2];

	for (size_t u = 0; u < h->nuser; u++) {
		const char *lib = h->lib[u];

		for (size_t k = 0; k < n && !where[u]; k++)
			if ((!lib || !strncmp(base_name(mods[k]->path), lib, strlen(lib))) &&
			    !uprobe_find_func(mods[k], h->user[u].name, &loc[u]))
				where[u] = mods[k];
		if (!where[u]) {
			h->missing = u;
			return 0;
		}
	}
	for (size_t u = 0; u < h->nuser; u++) {
		add_probe(h, m, where[u], &h->user[u], &loc[u]);
		debug("probe: %s in %s at 0x%llx", h->user[u].name, where[u]->path,
		      (unsigned long long)loc[u].offset);
	}
	h->resolved = true;
	return 1;
}

/*
 * The maps an address of this thread means something in (its process's
 * current image: with processes followed each has its own), and the
 * maps the allocator is resolved in: the first root's.  A child that
 * execs a program with another allocator is probed at the first one's.
 */
static struct maps *maps_of(struct target *t, pid_t tid)
{
	struct thread *th = target_thread(t, tid);

	return th && th->proc ? thread_maps(t, th) : addrspace_current(&t->as);
}

static struct maps *root_maps(struct target *t)
{
	struct process *p = target_process(t, t->pid);

	return p ? &t->as.epochs[p->epoch] : addrspace_current(&t->as);
}

static int resolve(struct heap *h, struct target *t)
{
	const struct maps *m = root_maps(t);
	struct module *mods[256], *owner = NULL;
	size_t n = lookup_order(m, mods, 256);

	if (h->nuser)
		return resolve_user(h, m, mods, n);

	for (size_t k = 0; k < n && !owner; k++) {
		struct func_loc loc;

		if (!uprobe_find_func(mods[k], "malloc", &loc))
			owner = mods[k];
	}
	if (!owner)
		return 0;
	for (size_t i = 0; i < NAFUNCS; i++) {
		const struct afunc *f = &afuncs[i];

		if (!h->inuse && f->size_a < 0)
			continue;	/* allocs: frees are not looked at */
		for (size_t k = 0; k < n; k++) {
			struct func_loc loc;

			if (f->own && mods[k] != owner)
				continue;
			if (uprobe_find_func(mods[k], f->name, &loc))
				continue;
			add_probe(h, m, mods[k], f, &loc);
			debug("heap: probe %s in %s at 0x%llx", f->name, mods[k]->path,
			      (unsigned long long)loc.offset);
			break;
		}
	}
	h->resolved = true;
	return 1;
}

/* ---- events, one set per thread ---- */

static void note_event(struct heap *h, int fd, uint32_t probe, enum ev_kind kind)
{
	uint64_t id = perf_event_id(fd);
	bool added;

	GROW(h->evs, h->evs_alloc, h->nevs + 1);
	h->evs[h->nevs] = (struct event_id){ .probe = probe, .kind = kind };
	u64map_put(&h->ids, id, 0, h->nevs++, &added);
}

static int open_one(struct heap *h, struct hthread *ht, uint32_t pi, enum ev_kind kind,
		    int group)
{
	const struct probe *p = &h->probes[pi];
	struct uprobe_attr a = {
		.path = p->path, .offset = p->loc.offset, .period = 1,
	};
	int fd, kfd;

	switch (kind) {
	case EV_ENTRY:
		a.regs = UPROBE_REGS_ALL;
		a.stack = (uint32_t)h->cap.stack_cap;
		a.read_group = true;
		/* --duty: the group counts from when every thread has its probes */
		a.disabled = h->windows && group < 0;
		break;
	case EV_RET:
		a.ret = true;
		a.regs = 1ULL << R_AX;
		break;
	case EV_FREE:
		a.offset = p->free_offset;
		a.regs = 1ULL << arg_reg[p->f->frees];
		break;
	}
	fd = uprobe_open(&a, ht->tid, kind == EV_ENTRY ? group : -1, &h->keeper, &kfd);
	if (fd < 0)
		return fd;
	ht->kfds[ht->nfds] = kfd;
	ht->fds[ht->nfds++] = fd;
	note_event(h, fd, pi, kind);
	if (ht->nfds == 1) {
		int ret = perf_ring_map(&ht->ring, fd, RING_ORDER);

		if (ret)
			return ret;
	} else if (perf_ring_redirect(&ht->ring, fd)) {
		return -errno;
	}
	return 0;
}

/* the entries (one group, its leader read at once) and the returns */
static int window_open(struct heap *h, struct hthread *ht)
{
	int ret = 0;

	ht->leader = ht->nfds;
	memset(ht->last, 0, h->nprobes * sizeof(*ht->last));
	for (uint32_t i = 0; i < h->nprobes && !ret; i++)
		if (h->probes[i].alloc)
			ret = open_one(h, ht, i, EV_ENTRY,
				       ht->nfds > ht->leader ? ht->kfds[ht->leader] : -1);
	for (uint32_t i = 0; i < h->nprobes && !ret && h->inuse; i++)
		if (h->probes[i].alloc)
			ret = open_one(h, ht, i, EV_RET, -1);
	return ret;
}

static int thread_open(struct heap *h, struct hthread *ht)
{
	int ret = 0;

	ht->fds = xcalloc(3 * h->nprobes, sizeof(*ht->fds));
	ht->kfds = xcalloc(3 * h->nprobes, sizeof(*ht->kfds));
	ht->last = xcalloc(h->nprobes, sizeof(*ht->last));
	ht->pending = xmalloc(h->nprobes * sizeof(*ht->pending));
	for (size_t i = 0; i < h->nprobes; i++)
		ht->pending[i] = NONE;
	ht->open = true;
	/* the frees first: with --duty they stay, and the ring with them */
	for (uint32_t i = 0; i < h->nprobes && !ret && h->inuse; i++)
		if (h->probes[i].frees)
			ret = open_one(h, ht, i, EV_FREE, -1);
	ht->nkeep = h->windows ? ht->nfds : 0;
	if (!ret && (!h->windows || h->armed))
		ret = window_open(h, ht);
	return ret;
}

/* ---- reading ---- */

static uint64_t reg_at(const uint64_t *regs, uint64_t mask, int reg)
{
	size_t i = 0;

	for (int b = 0; b < reg; b++)
		i += (mask >> b) & 1;
	return regs[i];
}

static void to_capture(struct capture *c, const uint64_t *r, const unsigned char *stack,
		       uint64_t len, const struct maps *m)
{
	const struct mapping *mp;
	uint64_t mask = UPROBE_REGS_ALL;

	memset(&c->regs, 0, sizeof(c->regs));
	c->regs.rax = reg_at(r, mask, R_AX);
	c->regs.rbx = reg_at(r, mask, R_BX);
	c->regs.rcx = reg_at(r, mask, R_CX);
	c->regs.rdx = reg_at(r, mask, R_DX);
	c->regs.rsi = reg_at(r, mask, R_SI);
	c->regs.rdi = reg_at(r, mask, R_DI);
	c->regs.rbp = reg_at(r, mask, R_BP);
	c->regs.rsp = reg_at(r, mask, R_SP);
	c->regs.rip = reg_at(r, mask, R_IP);
	c->regs.eflags = reg_at(r, mask, R_FLAGS);
	c->regs.cs = reg_at(r, mask, R_CS);
	c->regs.ss = reg_at(r, mask, R_SS);
	c->regs.r8 = reg_at(r, mask, R_R8);
	c->regs.r9 = reg_at(r, mask, R_R9);
	c->regs.r10 = reg_at(r, mask, R_R10);
	c->regs.r11 = reg_at(r, mask, R_R11);
	c->regs.r12 = reg_at(r, mask, R_R12);
	c->regs.r13 = reg_at(r, mask, R_R13);
	c->regs.r14 = reg_at(r, mask, R_R14);
	c->regs.r15 = reg_at(r, mask, R_R15);
	c->regs.orig_rax = (uint64_t)-1;	/* not in a system call */
	if (len > c->stack_cap)
		len = c->stack_cap;
	memcpy(c->stack, stack, len);
	c->stack_addr = c->regs.rsp;
	c->stack_len = len;
	mp = maps_find(m, c->regs.rsp);
	c->stack_map_end = mp ? mp->end : 0;
	c->partial = false;
	c->epoch = m->epoch;
	c->time_ns = now_ns();
}

/* Called from inside another allocator function (reallocarray -> realloc)? */
static bool nested(const struct heap *h, const uint64_t *pcs, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t pc = pcs[i] & ~PC_PHYSICAL;

		for (size_t k = 0; k < h->nprobes; k++)
			if (h->probes[k].alloc && pc >= h->probes[k].start &&
			    pc < h->probes[k].end)
				return true;
	}
	return false;
}

static void on_entry(struct heap *h, const struct event_id *ev, const unsigned char *d,
		     size_t len)
{
	struct probe *p = &h->probes[ev->probe];
	struct target *t = &h->s->target;
	const uint64_t *regs = (const uint64_t *)(d + 16);	/* id, abi */
	size_t nregs = (size_t)__builtin_popcountll(UPROBE_REGS_ALL);
	uint64_t stack_size, dyn, size, a;
	const unsigned char *stack;
	double inv_p, pk;
	struct hsample *hs;
	struct thread *th;
	struct maps *m;
	uint32_t label;
	int64_t zero[4] = { 0 };
	size_t n;

	if (len < 24 + 8 * nregs)
		return;
	memcpy(&stack_size, d + 16 + 8 * nregs, 8);
	stack = d + 24 + 8 * nregs;
	if (len < 24 + 8 * nregs + stack_size + (stack_size ? 8 : 0))
		return;
	p->received++;
	dyn = 0;
	if (stack_size)
		memcpy(&dyn, stack + stack_size, 8);
	if (dyn > stack_size)
		dyn = stack_size;
	size = p->f->count ? 1 : reg_at(regs, UPROBE_REGS_ALL, arg_reg[p->f->size_a]);
	if (p->f->size_b >= 0) {
		a = reg_at(regs, UPROBE_REGS_ALL, arg_reg[p->f->size_b]);
		if (__builtin_mul_overflow(size, a, &size))
			return;	/* refused by the allocator */
	}
	if (!size)
		return;
	/* keep it with Go's chance, 1 - e^(-size/rate), and scale by 1/chance;
	 * a call of probe:SYMBOL with 1 / --every */
	pk = p->f->count ? 1 / (double)h->rate : -expm1(-(double)size / (double)h->rate);
	if (uniform(h) >= pk)
		return;
	inv_p = 1 / pk;
	m = maps_of(t, h->cur->tid);
	to_capture(&h->cap, regs, stack, dyn, m);
	n = unwinder_unwind(h->u, &h->cap, h->pcs, h->s->opts.max_depth + 1);
	if (nested(h, h->pcs, n)) {
		h->dropped_nested++;	/* the outer call is the allocation */
		return;
	}
	GROW(h->samples, h->samples_alloc, h->nsamples + 1);
	hs = &h->samples[h->nsamples];
	*hs = (struct hsample){ .probe = ev->probe, .size = size, .inv_p = inv_p };
	if (p->f->memptr)
		hs->memptr = reg_at(regs, UPROBE_REGS_ALL, arg_reg[0]);
	label = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
	hs->entry = pb_add_labeled(h->s->builder, h->cur->tid, label,
				   m->epoch, h->pcs, n, zero);
	th = target_thread(t, h->cur->tid);
	if (th)
		th->has_entry = true;	/* its name goes into the profile */
	if (h->inuse)
		h->cur->pending[ev->probe] = h->nsamples;
	h->s->res.samples++;
	h->nsamples++;
}

static void forget(struct heap *h, uint64_t ptr)
{
	uint64_t *slot = u64map_find(&h->live, ptr, 0);

	if (slot && *slot != NONE) {
		h->samples[*slot].live = false;
		*slot = NONE;
	}
}

static void on_return(struct heap *h, uint32_t pi, uint64_t ptr)
{
	uint64_t idx = h->cur->pending[pi], *slot;
	struct hsample *hs;
	bool added;

	if (idx == NONE)
		return;
	h->cur->pending[pi] = NONE;
	hs = &h->samples[idx];
	if (hs->memptr) {
		/* posix_memalign returns 0 and stores the pointer */
		struct iovec l = { &ptr, 8 }, r = { (void *)(uintptr_t)hs->memptr, 8 };

		if (ptr || process_vm_readv(h->s->target.pid, &l, 1, &r, 1, 0) != 8)
			return;
	}
	if (!ptr)
		return;
	forget(h, ptr);	/* its free was lost: it is not live twice */
	slot = u64map_put(&h->live, ptr, 0, idx, &added);
	*slot = idx;
	hs->live = true;
}

static void on_record(void *arg, const unsigned char *d, size_t len)
{
	struct heap *h = arg;
	const struct event_id *ev;
	uint64_t id, *ix, v;

	if (len < 8)
		return;
	memcpy(&id, d, 8);
	ix = u64map_find(&h->ids, id, 0);
	if (!ix)
		return;
	ev = &h->evs[*ix];
	h->records++;
	switch (ev->kind) {
	case EV_ENTRY:
		on_entry(h, ev, d, len);
		break;
	case EV_RET:
	case EV_FREE:
		if (len < 24)
			return;
		memcpy(&v, d + 16, 8);	/* id, abi, the one register */
		if (ev->kind == EV_RET)
			on_return(h, ev->probe, v);
		else if (v)
			forget(h, v);
		break;
	}
}

/* The calls each entry event counted since the last read. */
static void read_counts(struct heap *h, struct hthread *ht)
{
	uint64_t buf[1 + 2 * NAFUNCS];
	ssize_t got;

	if (ht->nfds <= ht->leader)
		return;
	got = read(ht->fds[ht->leader], buf, sizeof(buf));
	if (got < 8)
		return;
	for (uint64_t i = 0; i < buf[0] && 8 * (2 + 2 * i) <= (uint64_t)got; i++) {
		uint64_t *ix = u64map_find(&h->ids, buf[2 + 2 * i], 0);
		const struct event_id *ev;

		if (!ix)
			continue;
		ev = &h->evs[*ix];
		if (buf[1 + 2 * i] >= ht->last[ev->probe]) {
			h->probes[ev->probe].calls += buf[1 + 2 * i] - ht->last[ev->probe];
			ht->last[ev->probe] = buf[1 + 2 * i];
		}
	}
}

static void drain(struct heap *h, struct hthread *ht)
{
	uint64_t lost = ht->ring.lost;

	h->cur = ht;
	perf_ring_read(&ht->ring, on_record, h);
	h->lost += ht->ring.lost - lost;
	read_counts(h, ht);
}

/*
 * The calls counted in an interval go to the samples taken in it: each
 * sample of a function stands for calls / k of them.  Calls with no
 * sample yet wait for the next one (the carry).
 */
static void weigh(struct heap *h, size_t from)
{
	for (size_t pi = 0; pi < h->nprobes; pi++) {
		struct probe *p = &h->probes[pi];
		double per;

		if (!p->alloc)
			continue;
		p->carry += p->calls;
		p->calls = 0;
		if (!p->received)
			continue;
		per = (double)p->carry / (double)p->received;
		for (size_t i = from; i < h->nsamples; i++) {
			struct hsample *hs = &h->samples[i];

			if (hs->probe != pi || hs->weighed)
				continue;
			hs->w = per * hs->inv_p;
			hs->weighed = true;
		}
		p->carry = 0;
		p->received = 0;
	}
}

static struct hthread *find_thread(struct heap *h, pid_t tid)
{
	for (size_t i = 0; i < h->nthreads; i++)
		if (h->threads[i]->tid == tid && h->threads[i]->open)
			return h->threads[i];
	return NULL;
}

static void close_thread(struct heap *h, struct hthread *ht)
{
	if (!ht->open)
		return;
	drain(h, ht);
	perf_ring_unmap(&ht->ring);
	keeper_close(&h->keeper, ht->fds, ht->kfds, ht->nfds);
	free(ht->fds);
	free(ht->kfds);
	free(ht->last);
	free(ht->pending);
	ht->fds = NULL;
	ht->kfds = NULL;
	ht->nfds = 0;
	ht->open = false;
}

/*
 * --duty, a window's end: its events are closed (drained first), the
 * frees and the ring stay; samples still waiting for their return
 * have lost it and are not live.  Without frees the thread is closed.
 */
static void window_close(struct heap *h, struct hthread *ht)
{
	if (!ht->open)
		return;
	if (!ht->nkeep) {
		close_thread(h, ht);
		return;
	}
	drain(h, ht);
	keeper_close(&h->keeper, ht->fds + ht->nkeep, ht->kfds + ht->nkeep, ht->nfds - ht->nkeep);
	ht->nfds = ht->leader = ht->nkeep;
	for (size_t i = 0; i < h->nprobes; i++)
		ht->pending[i] = NONE;
}

static int add_thread(struct heap *h, pid_t tid)
{
	struct hthread *ht = xcalloc(1, sizeof(*ht));
	int ret;

	ht->tid = tid;
	GROW(h->threads, h->threads_alloc, h->nthreads + 1);
	h->threads[h->nthreads++] = ht;
	ret = thread_open(h, ht);
	debug("heap: thread %d: %zu events: %s", tid, ht->nfds, ret ? strerror(-ret) : "ok");
	if (ret == -ESRCH) {
		close_thread(h, ht);	/* gone already: nothing to see */
		return 0;
	}
	return ret;
}

/* ---- the mode ---- */

/* Launch mode: is perf_event_open of a uprobe allowed at all? */
static int check_access(struct heap *h, struct target *t)
{
	const struct maps *m = root_maps(t);
	struct module *mods[4];
	struct uprobe_attr a = { .period = 1 };
	GElf_Ehdr eh;
	char *path;
	int fd, kfd;

	if (!lookup_order(m, mods, 1) || !gelf_getehdr(mods[0]->elf, &eh) ||
	    uprobe_file_offset(mods[0]->elf, eh.e_entry, &a.offset))
		return 0;	/* nothing to try it on: the first open will say */
	path = xasprintf("/proc/%d/fd/%d", getpid(), mods[0]->fd);
	a.path = path;
	fd = uprobe_open(&a, t->pid, -1, &h->keeper, &kfd);
	free(path);
	if (fd >= 0)
		keeper_close(&h->keeper, &fd, &kfd, 1);
	if (fd >= 0 || fd == -ESRCH)
		return 0;	/* allowed, or the target is gone already */
	return fd;
}

/* every thread's probes: at the start, a failure ends the recording; at a
 * later --duty window, that thread is not seen in the window */
static void open_all(struct heap *h, struct target *t, bool first)
{
	for (size_t i = 0; i < t->nthreads && !h->failed; i++) {
		struct thread *th = t->threads[i];
		struct hthread *ht;
		int ret;

		if (th->state == THREAD_GONE)
			continue;
		ht = find_thread(h, th->tid);	/* heap, pair: its frees are in */
		ret = ht ? window_open(h, ht) : add_thread(h, th->tid);
		if (ret == -ESRCH && ht) {
			ht->gone = true;	/* exited meanwhile */
			ret = 0;
		}
		if (ret) {
			error("heap: perf_event_open(uprobe) on thread %d: %s%s%s%s",
			      th->tid, strerror(-ret), *uprobe_refused(-ret) ? ": " : "",
			      uprobe_refused(-ret), first ? "" : " (in this window)");
			h->failed = first;
		}
	}
}

/*
 * probe:[LIB:]SYMBOL: each call counts one.  pair:ACQUIRE,RELEASE (Go's
 * Add and Remove): ACQUIRE's calls count as probe's do, and the value it
 * returns is live until RELEASE is called with it as its first argument:
 * heap's machinery with a count where heap has a size.
 */
static int parse_user(struct heap *h, const char *arg)
{
	char *spec[2], *comma;

	h->sym = xstrdup(arg);
	spec[0] = h->sym;
	h->nuser = 1;
	if (h->pair) {
		comma = strchr(h->sym, ',');
		if (!comma)
			return error("pair: %s: say pair:ACQUIRE,RELEASE", arg);
		*comma = 0;
		spec[1] = comma + 1;
		h->nuser = 2;
	}
	for (size_t u = 0; u < h->nuser; u++) {
		char *colon = strrchr(spec[u], ':');

		h->lib[u] = NULL;
		h->user[u].name = spec[u];
		if (colon) {
			*colon = 0;
			h->lib[u] = spec[u];
			h->user[u].name = colon + 1;
		}
		h->user[u].size_a = h->user[u].size_b = h->user[u].frees = -1;
	}
	h->user[0].count = true;
	if (h->pair)
		h->user[1].frees = 0;
	return 0;
}

/* ---- windows (--duty) ---- */

/*
 * With --duty F the probes are in place only a share F of the time: a
 * window of WINDOW_NS, then a pause of WINDOW_NS x (1 - F) / F x U(0.5,
 * 1.5) (dithered, as the ticks are, so that windows do not lock onto a
 * program's own period), and the first state is drawn as if the recording
 * began at a random moment of that alternation, so that every moment is
 * covered with chance about F.  A probe costs the target only while it is
 * in place (the kernel takes the breakpoint out when the process's last
 * event on it is closed), so F bounds what cprof costs at any rate of
 * calls, where probing every call costs a trap each (5-8 us on a VM that
 * forwards every trap to its host).  The calls seen in the windows are
 * scaled by the recording's time over the windows' (a ratio estimator).
 * Placing and removing a window's probes takes the kernel 30-250 ms here
 * (grace periods), during which the target traps uncounted: the windows
 * are long enough to make that a fraction of them.  Frees cannot be
 * windowed (a block sampled in a window and freed out of one would stay
 * live for ever): heap and pair window their entries and returns, and
 * keep the frees, and the ring they write to, in place all along.
 */
#define WINDOW_NS 500000000ULL

static uint64_t pause_ns(struct heap *h)
{
	return (uint64_t)((0.5 + uniform(h)) * (double)WINDOW_NS * (1 - h->duty) / h->duty);
}

static void windows_start(struct heap *h, uint64_t now)
{
	h->started = now;
	h->armed = uniform(h) < h->duty;
	if (h->armed) {
		h->armed_since = now;
		h->switch_at = now + (uint64_t)(uniform(h) * (double)WINDOW_NS);
		h->nwindows = 1;
	} else {
		h->switch_at = now + (uint64_t)(uniform(h) * (double)pause_ns(h));
	}
}

/* start or stop the counting of every open thread's group */
static void windows_count(struct heap *h, bool on)
{
	for (size_t i = 0; i < h->nthreads; i++) {
		struct hthread *ht = h->threads[i];

		if (ht->open && ht->nfds > ht->leader)
			ioctl(ht->fds[ht->leader], on ? PERF_EVENT_IOC_ENABLE :
			      PERF_EVENT_IOC_DISABLE, 0);
	}
}

/* at the end of a window or a pause: out or in with the probes */
static void windows_switch(struct heap *h, struct target *t, uint64_t now)
{
	if (h->armed) {
		/* the window ends when its counting does: drained and closed after */
		size_t n = 0;

		windows_count(h, false);
		for (size_t i = 0; i < h->nthreads; i++) {
			window_close(h, h->threads[i]);
			if (h->threads[i]->open)
				h->threads[n++] = h->threads[i];
			else
				free(h->threads[i]);
		}
		h->nthreads = n;
		h->armed = false;
		h->armed_ns += now - h->armed_since;
		h->switch_at = now + pause_ns(h);
	} else {
		h->armed = true;
		h->nwindows++;
		if (h->resolved)
			open_all(h, t, false);	/* the window's events, or all */
		/* from when the probes are in (each open places a breakpoint) */
		windows_count(h, true);
		h->armed_since = now_ns();
		h->switch_at = h->armed_since + WINDOW_NS;
		debug("heap: window %zu: probes in after %.1f ms", h->nwindows,
		      (double)(h->armed_since - now) / 1e6);
	}
}

static int start_heap(struct sampler *s)
{
	struct heap *h = xcalloc(1, sizeof(*h));
	struct target *t = &s->target;
	size_t stack = s->opts.stack_size;
	struct rlimit rl;
	int ret;

	s->mode_state = h;
	h->s = s;
	/* up to 3 events per probed function and thread: fds run out fast */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	h->inuse = s->opts.mode->flags & HEAP_INUSE;
	h->pair = s->opts.mode->flags & HEAP_PAIR;
	h->duty = s->opts.duty;
	h->windows = h->duty > 0 && h->duty < 1;
	h->rate = s->opts.mem_rate ? s->opts.mem_rate : HEAP_DEFAULT_RATE;
	h->rng = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x2545f4914f6cdd1dULL;
	if (stack > MAX_PROBE_STACK)
		stack = MAX_PROBE_STACK;
	keeper_start(&h->keeper);
	capture_init(&h->cap, stack & ~7UL);
	if (s->opts.probe && parse_user(h, s->opts.probe))
		return -1;
	ret = check_access(h, t);
	if (ret)
		return error("heap: perf_event_open(uprobe): %s%s%s", strerror(-ret),
			     *uprobe_refused(-ret) ? ": " : "", uprobe_refused(-ret));
	if (h->windows)
		windows_start(h, now_ns());
	ret = resolve(h, t);
	if (ret > 0 && (!h->windows || h->armed)) {
		open_all(h, t, true);
		windows_count(h, true);
		h->armed_since = now_ns();
	} else if (!ret && h->nuser && !t->launched)
		return error("%s: no function %s in %s", h->pair ? "pair" : "probe",
			     h->user[h->missing].name,
			     h->lib[h->missing] ? h->lib[h->missing] : "the program or its libraries");
	return h->failed ? -1 : 0;
}

static void thread_new_heap(struct sampler *s, struct thread *th)
{
	struct heap *h = H(s);
	int ret;

	/* not in a --duty window: its frees now, the rest at the next */
	if (!h || !h->resolved || h->failed || (h->windows && !h->armed && !h->inuse))
		return;
	ret = add_thread(h, th->tid);
	if (!ret && h->windows && h->armed && h->nthreads) {
		struct hthread *ht = h->threads[h->nthreads - 1];

		if (ht->open && ht->nfds > ht->leader)
			ioctl(ht->fds[ht->leader], PERF_EVENT_IOC_ENABLE, 0);
	}
	if (ret) {
		error("heap: thread %d: perf_event_open(uprobe): %s: its allocations are not seen",
			th->tid, strerror(-ret));
	}
}

static void thread_gone_heap(struct sampler *s, struct thread *th)
{
	struct heap *h = H(s);
	struct hthread *ht = h ? find_thread(h, th->tid) : NULL;

	if (ht)
		ht->gone = true;
}

/* the values of every sample, once all are weighed */
static void add_values(struct heap *h)
{
	for (size_t pi = 0; pi < h->nprobes; pi++) {
		struct probe *p = &h->probes[pi];
		double k = 0;

		/* calls after the last sample of a function: spread them */
		if (!p->carry)
			continue;
		for (size_t i = 0; i < h->nsamples; i++)
			if (h->samples[i].probe == pi)
				k += h->samples[i].w;
		for (size_t i = 0; i < h->nsamples && k > 0; i++)
			if (h->samples[i].probe == pi)
				h->samples[i].w += (double)p->carry * h->samples[i].w / k;
	}
	const double *armed = sampler_stat_find(&h->s->res, STAT_ARMED);

	for (size_t i = 0; i < h->nsamples; i++) {
		const struct hsample *hs = &h->samples[i];
		/* --duty: the windows stand for the whole recording */
		double w = hs->w * (h->windows && armed && *armed > 0 ? 1 / *armed : 1);
		int64_t v[4] = { 0 };

		if (hs->entry == NONE)
			continue;
		v[0] = llround(w);
		v[1] = llround(w * (double)hs->size);
		if (h->pair)
			v[1] = hs->live ? v[0] : 0;	/* acquired, live */
		else if (hs->live) {
			v[2] = v[0];
			v[3] = v[1];
		}
		pb_add_to(h->s->builder, hs->entry, v);
	}
}

static void probes_heap(struct sampler *s, struct unwinder *u, uint64_t *pcs, bool last)
{
	struct heap *h = H(s);
	struct target *t = &s->target;
	size_t from;

	if (!h || h->failed)
		return;
	h->u = u;
	h->pcs = pcs;
	if (!h->resolved) {
		/* launched: the loader maps the allocator soon */
		root_maps(t)->dirty = true;
		addrspace_refresh_all(&t->as, 20000000ULL);
		if (resolve(h, t) > 0 && (!h->windows || h->armed)) {
			open_all(h, t, true);
			windows_count(h, true);
			h->armed_since = now_ns();
		}
		return;
	}
	from = h->nsamples;
	for (size_t i = 0; i < h->nthreads; i++) {
		struct hthread *ht = h->threads[i];

		if (!ht->open)
			continue;
		drain(h, ht);
		if (ht->gone || last)
			close_thread(h, ht);
	}
	if (h->windows) {
		uint64_t now = now_ns();

		if (last) {
			if (h->armed)
				h->armed_ns += now - h->armed_since;
			*sampler_stat(&h->s->res, STAT_WINDOWS) = (double)h->nwindows;
			*sampler_stat(&h->s->res, STAT_ARMED) = now > h->started ?
				(double)h->armed_ns / (double)(now - h->started) : 0;
		} else if (now >= h->switch_at) {
			windows_switch(h, t, now);
		}
	}
	weigh(h, from);
	if (last)
		add_values(h);
}

static void release_heap(struct sampler *s)
{
	struct heap *h = H(s);

	if (!h)
		return;
	for (size_t i = 0; i < h->nthreads; i++) {
		struct hthread *ht = h->threads[i];

		if (ht->open) {
			perf_ring_unmap(&ht->ring);
			keeper_close(&h->keeper, ht->fds, ht->kfds, ht->nfds);
			free(ht->fds);
			free(ht->kfds);
			free(ht->last);
			free(ht->pending);
		}
		free(ht);
	}
	if (keeper_finish(&h->keeper, CLOSE_WAIT_MS))
		note("heap: the kernel is still removing probes after %d s; "
		     "process cprof-keeper goes on with it", CLOSE_WAIT_MS / 1000);
	debug("heap: %llu records, %zu samples (%llu inside another allocator), %llu lost",
	      (unsigned long long)h->records, h->nsamples,
	      (unsigned long long)h->dropped_nested, (unsigned long long)h->lost);
	for (size_t i = 0; i < h->nprobes; i++)
		free(h->probes[i].path);
	*sampler_stat(&s->res, STAT_LOST) = (double)h->lost;
	*sampler_stat(&s->res, STAT_NESTED) = (double)h->dropped_nested;
	*sampler_stat(&s->res, STAT_PROBES) = (double)h->nprobes;
	free(h->sym);
	free(h->probes);
	free(h->threads);
	free(h->evs);
	free(h->samples);
	u64map_release(&h->ids);
	u64map_release(&h->live);
	capture_release(&h->cap);
	free(h);
	s->mode_state = NULL;
}

/* --duty: how much of the recording the windows covered */
static void say_windows(const struct sampler *s, sampler_say_fn say, void *arg)
{
	if (sampler_stat_find(&s->res, STAT_WINDOWS))
		say(arg, xasprintf("--duty: probes in place %.1f%% of the recording, in %.0f windows "
				   "of 500 ms at random; values scaled by the inverse",
				   100 * sampler_stat_value(&s->res, STAT_ARMED),
				   sampler_stat_value(&s->res, STAT_WINDOWS)));
}

static void say_lost(const struct sampler *s, sampler_say_fn say, void *arg)
{
	say(arg, xasprintf("lost records: %.0f (perf ring full)",
			   sampler_stat_value(&s->res, STAT_LOST)));
}

static void heap_comments(const struct sampler *s, sampler_say_fn say, void *arg)
{
	bool inuse = s->opts.mode->flags & HEAP_INUSE;

	say_windows(s, say, arg);
	say(arg, xasprintf("%s: allocations made while cprof recorded%s, sampled by calls about one "
			   "per %llu bytes and scaled to estimates; %.0f allocator functions probed",
			   inuse ? "heap" : "allocs",
			   s->opts.argv ? "" : " (not those made before it attached)",
			   (unsigned long long)sampler_rate(&s->opts),
			   sampler_stat_value(&s->res, STAT_PROBES)));
	if (!inuse)
		say(arg, xasprintf("allocs: frees are not followed: inuse is 0 (see -t heap)"));
	say_lost(s, say, arg);
}

static void probe_comments(const struct sampler *s, sampler_say_fn say, void *arg)
{
	const char *fn = s->opts.probe;
	size_t len = strcspn(fn, ",");
	unsigned long long every = sampler_rate(&s->opts);

	say_windows(s, say, arg);
	if (!(s->opts.mode->flags & HEAP_PAIR))
		say(arg, xasprintf("probe: calls of %s made while cprof recorded, one in %llu kept and scaled",
				   fn, every));
	else
		say(arg, xasprintf("pair: calls of %.*s made while cprof recorded, one in %llu kept and scaled; "
				   "live: their results not passed to %s by its end (0 is no object)%s",
				   (int)len, fn, every, fn + len + 1,
				   s->opts.argv ? "" : "; not those acquired before cprof attached"));
	say_lost(s, say, arg);
}

static char *heap_summary(const struct sampler *s)
{
	double lost = sampler_stat_value(&s->res, STAT_LOST);
	double windows = sampler_stat_value(&s->res, STAT_WINDOWS);

	if (!sampler_stat_find(&s->res, STAT_WINDOWS))
		return xasprintf("%.0f records lost", lost);
	if (!windows)
		note("--duty %g: no window fell in the %.2fs recorded: nothing was seen (record longer)",
		     s->opts.duty, s->res.duration_ns / 1e9);
	return xasprintf("%.0f records lost, probed %.1f%% of the time (%.0f windows)", lost,
			 100 * sampler_stat_value(&s->res, STAT_ARMED), windows);
}

/*
 * A tick reads the rings: every 1 ms a thread's 2 MiB ring holds what a
 * busy allocator writes (at 99 Hz heapmix lost records, and with them
 * frees).  Go's names for the period: bytes (--rate) or calls (--every).
 */
#define PROBE_MODE \
	.hz = 1000, \
	.duty = true, \
	.start = start_heap, \
	.thread_new = thread_new_heap, \
	.thread_gone = thread_gone_heap, \
	.probes = probes_heap, \
	.release = release_heap, \
	.summary = heap_summary

const struct sample_mode heap_mode = {
	PROBE_MODE, .flags = HEAP_INUSE, .period = PERIOD_BYTES, .comments = heap_comments,
};

const struct sample_mode allocs_mode = {
	PROBE_MODE, .period = PERIOD_BYTES, .comments = heap_comments,
};

const struct sample_mode pair_mode = {
	PROBE_MODE, .flags = HEAP_INUSE | HEAP_PAIR, .period = PERIOD_CALLS,
	.comments = probe_comments,
};

const struct sample_mode probe_mode = {
	PROBE_MODE, .period = PERIOD_CALLS, .comments = probe_comments,
};
