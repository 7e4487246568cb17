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
 * allocs and probe, where the kernel allows, use BPF uprobe links instead
 * (attach/bpfprobe.h): one per process and file, whose program counts
 * every call and makes Go's draw itself, so that only a sampled call is
 * recorded (its record read here as an entry event's, h->cur its
 * thread's); a sample's weight is then 1 / chance, times the sampled calls
 * counted over those received.  A window's breakpoints leave the process
 * when its links close, at once (see bpfprobe.h for why perf events do not).
 *
 * A call made inside another probed allocator function (glibc's
 * reallocarray calls realloc) is left to the outer one: its stack shows
 * it.  A uretprobe puts the [uprobes] page in place of the return address
 * only after the entry's handlers ran, so an entry sample's own stack is
 * whole; only an outer allocator frame of a nested call shows the page,
 * and such samples are dropped anyway.
 */
#define _GNU_SOURCE
#include "heapfuncs.h"
#include "bpfprobe.h"
#include "../preload/heapset.h"
#include "perfev.h"
#include "probecost.h"
#include "sampler.h"
#include "uprobe.h"
#include "unwind.h"
#include "../lib/stack.h"
#include "../lib/util.h"
#include "../profiles/builder.h"
#include "../symbolize/maps.h"

#include <errno.h>
#include <gelf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#define NONE UINT64_MAX
#define MAX_PROBE_STACK 8192	/* copied at every call: what it costs */
#define RING_ORDER 9	/* 2 MiB a thread: ~250 calls between two reads */

/* The recording's numbers these modes report (sampler_stat) */
static const char STAT_PROBES[] = "functions probed", STAT_NESTED[] = "nested samples",
	STAT_LOST[] = "lost records", STAT_WINDOWS[] = "duty windows",
	STAT_ARMED[] = "duty share", STAT_SAMPLES[] = "samples kept",
	STAT_HIDDEN[] = "allocator frames dropped", STAT_WRAPPED[] = "samples past a wrapper",
	STAT_BUDGET[] = "cost budget", STAT_SLOWDOWN[] = "estimated slowdown",
	STAT_CALL_NS[] = "a probed call's cost", STAT_OVER[] = "frees over the budget",
	STAT_PRELOAD[] = "preloaded", STAT_IN_PROCESS[] = "sampled in the process",
	STAT_UNREAD[] = "samples of processes ended unread",
	STAT_UNREADABLE[] = "probe arguments not read", STAT_LINKS[] = "BPF uprobe links",
	STAT_WINDOW_MS[] = "window length (ms)";

/* x86-64 argument registers */
static const enum perf_reg arg_reg[] = { PR_DI, PR_SI, PR_DX, PR_CX, PR_R8, PR_R9 };

enum ev_kind { EV_ENTRY, EV_RET, EV_FREE };

/*
 * What these modes keep of each thread (th->mode_data; once it is gone,
 * h->gone until drained).  Its events: the frees (heap, pair), kept
 * between --duty windows; then a window's: the entries, one group, its
 * leader first, then the returns.
 */
struct hthread {
	struct perfev_thread ev;
	uint64_t *last;		/* counts at the last read, by probe */
	uint64_t *last_sampled;	/* with links: the sampled calls' counts */
	uint64_t *pending;	/* samples[] awaiting their return, by probe */
	/* --max-overhead: what its probed calls cost it since the last
	 * account (ns): entries (counted) and frees (records read) */
	double entry_cost, free_cost, free_calls;
	pid_t pid;		/* its process: pointers are the process's */
	const struct process *proc;
};

struct hsample {
	size_t entry;		/* builder entry, or NONE (dropped) */
	uint32_t probe;
	uint64_t size;
	double inv_p;		/* 1 / the chance cprof kept it (bytes) */
	double w;		/* calls it stands for */
	bool weighed, live;
	uint64_t memptr;	/* posix_memalign: where the pointer goes */
	uint64_t ptr;		/* live: the block */
	pid_t pid;		/* made in this process, in this address space */
	uint32_t epoch;
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
	struct hfuncs fn;	/* what is probed, and where */
	bool failed;
	struct hthread **gone;	/* threads gone, their rings not yet drained */
	size_t ngone, gone_alloc;
	struct u64map ids;	/* perf event id -> event_id index */
	struct event_id *evs;
	size_t nevs, evs_alloc;
	struct hsample *samples;
	size_t nsamples, samples_alloc;
	struct u64map live;	/* (pointer, pid) -> samples[] index, or NONE */
	/* frees that matched no sample, tried again after the tick's rings */
	struct late {
		uint64_t ptr;
		pid_t pid;
	} *late;
	size_t nlate, late_alloc;
	/* libcprof-heap.so's sets of the blocks still allocated, read at each
	 * process's exit and at the end (read_set), applied at the end */
	struct set_read {
		pid_t pid;
		uint32_t epoch;
		uint64_t *ptrs;	/* sorted */
		size_t n;
	} *sets;
	size_t nsets, sets_alloc, set_unread;
	/* --duty: probes in place in windows (attach/perfev.h) */
	bool windows;
	struct perfev_windows win;
	uint64_t rate;
	uint64_t rng;
	struct capture cap;
	struct hthread *cur;	/* the ring being read */
	struct perfev ev;
	struct sampler *s;
	struct unwinder *u;
	uint64_t *pcs;
	uint64_t dropped_nested;
	/* --max-overhead: the windows' duty follows the calls' cost */
	bool budget, paused;	/* paused: a window was taken out */
	struct probecost cost;
	uint64_t account_at, started;
	uint64_t counts_at;	/* the counters last read (COUNTS_NS) */
	uint64_t tick_ns;	/* the sampler's tick now (tick_follow), 0: not set */
	size_t unweighed;	/* samples[] from here on: not weighed yet */
	double trap_ns;		/* the busiest thread's time in probes, summed */
	double f_entry, f_free, free_rate;	/* at the last account */
	uint64_t place_ns;	/* the last window's probes took this to go in */
	bool place_priced;	/* and that is in trap_ns */
	/* the functions called in the last window are out when the keeper
	 * has done each one's out_mark closes, asked at out_from; out_ns:
	 * what the last of them took */
	bool going_out;
	uint64_t out_from, out_ns;
	uint64_t count_since;	/* the entries counted from then, or 0 */
	uint64_t hidden_frames, hidden_wrapped;	/* hfuncs_site: all, and
						 * samples past a wrapper */
	/* allocs, probe: the entries through one BPF uprobe link per process
	 * and file (bpfprobe.h), not per-thread events; the threads' hthreads
	 * then hold no event and stay between windows */
	bool bpf;
	struct bpfprobe bp;
	struct blink {
		int fd, kfd;
		const struct process *proc;
	} *links;
	size_t nlinks, links_alloc, links_made;
	uint64_t links_out;	/* the last links are closed at this keeper_closed() */
	double sample_ns;	/* what a sampled call costs more (its stack copied) */
	bool counts_final;	/* and their counts were read since */
	uint64_t bpf_unowned;	/* records of a thread not known (yet) */
};

static struct heap *H(struct sampler *s)
{
	return s->mode_state;
}

/* probes in place now: always, or in a --duty window */
static bool in_window(const struct heap *h)
{
	return !h->windows || h->win.on;
}

/* A probe's id in a BPF link: its index, and where its size is. */
static uint64_t bpf_id(const struct heap *h, uint32_t pi)
{
	const struct afunc *f = h->fn.probes[pi].f;

	return bpfprobe_id(pi, f->size_a, f->size_b, f->count);
}
/*
 * --duty and budget windows with links: a link goes in in 10-25 ms and its
 * breakpoints leave at once, so a window need not be long to make placing
 * it a small part of it, and a window placed just before the load rises
 * costs the target at most this long.
 */
#define BPF_WINDOW_NS 50000000ULL

static double uniform(struct heap *h)
{
	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	return ((double)(h->rng >> 11) + 0.5) / 9007199254740992.0;
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

static int open_one(struct heap *h, struct hthread *ht, uint32_t pi, enum ev_kind kind)
{
	const struct probe *p = &h->fn.probes[pi];
	struct uprobe_attr a = {
		.path = p->path, .offset = p->loc.offset, .period = 1,
	};
	int fd, kfd, group = perfev_thread_group(&ht->ev);

	switch (kind) {
	case EV_ENTRY:
		a.regs = PERF_REGS_ALL;
		a.stack = (uint32_t)h->cap.stack_cap;
		a.read_group = true;
		/* --duty: the group counts from when every thread has its probes */
		a.disabled = h->windows && group < 0;
		break;
	case EV_RET:
		a.ret = true;
		a.regs = 1ULL << PR_AX;
		break;
	case EV_FREE:
		a.offset = p->free_offset;
		/* (otel_memory:free's pointer: a register, heapfuncs.c) */
		a.regs = p->nargs ? sdt_arg_regs(&p->args[0]) : 1ULL << arg_reg[p->f->frees];
		break;
	}
	a.ref_ctr = p->ref_ctr;
	fd = uprobe_open(&a, ht->ev.tid, kind == EV_ENTRY ? group : -1, &h->ev.keeper, &kfd);
	if (fd < 0)
		return fd;
	note_event(h, fd, pi, kind);
	return perfev_thread_add_key(&h->ev, &ht->ev, fd, kfd, pi);
}

static int by_rank(const void *a, const void *b, void *arg)
{
	const struct probe *p = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (p[x].rank != p[y].rank)
		return p[x].rank < p[y].rank ? -1 : 1;
	return x < y ? -1 : x > y;
}

/*
 * A window's events on threads ht[0..n) (ret[i]: each one's first error,
 * or 0): the entries (a group each, its leader read at once) and the
 * returns, function by function, the least called in the last window
 * first.  A function's breakpoint goes in with its first event and the
 * target traps from then on, while the opens may wait behind the last
 * window's closes (the kernel does one at a time): the hottest go in last.
 * Returns when the first function called in the last window went in (0:
 * none was).
 */
static uint64_t window_open(struct heap *h, struct hthread **ht, int *ret, size_t n)
{
	uint32_t *order = xmalloc(h->fn.nprobes * sizeof(*order));
	size_t no = 0;
	uint64_t hot_at = 0;

	for (uint32_t i = 0; i < h->fn.nprobes; i++)
		if (h->fn.probes[i].alloc)
			order[no++] = i;
	qsort_r(order, no, sizeof(*order), by_rank, h->fn.probes);
	for (size_t i = 0; i < n; i++) {
		perfev_thread_window(&ht[i]->ev);
		memset(ht[i]->last, 0, h->fn.nprobes * sizeof(*ht[i]->last));
	}
	for (size_t k = 0; k < no; k++) {
		const struct probe *p = &h->fn.probes[order[k]];

		if (!hot_at && p->rank > 0)
			hot_at = now_ns();
		for (size_t i = 0; i < n; i++)
			if (!ret[i])
				ret[i] = open_one(h, ht[i], order[k], EV_ENTRY);
		for (size_t i = 0; i < n && h->fn.inuse && !p->f->sampled; i++)
			if (!ret[i])
				ret[i] = open_one(h, ht[i], order[k], EV_RET);
	}
	free(order);
	return hot_at;
}

/*
 * With h->bpf, process pid's links: one for each file with functions to
 * probe, every probe of the file in it.  0 or the first -errno.
 */
static int bpf_links_open(struct heap *h, const struct process *proc)
{
	bool *done = xcalloc(h->fn.nprobes, sizeof(*done));
	uint64_t off[BPFPROBE_MAX_LINK], ids[BPFPROBE_MAX_LINK];
	int ret = 0;

	for (size_t i = 0; i < h->fn.nprobes && !ret; i++) {
		const char *path = h->fn.probes[i].path;
		size_t n = 0;
		int fd, kfd;

		if (done[i] || !h->fn.probes[i].alloc)
			continue;
		for (size_t k = i; k < h->fn.nprobes && n < BPFPROBE_MAX_LINK; k++)
			if (!done[k] && h->fn.probes[k].alloc && !strcmp(h->fn.probes[k].path, path)) {
				done[k] = true;
				off[n] = h->fn.probes[k].loc.offset;
				ids[n++] = bpf_id(h, (uint32_t)k);
			}
		fd = bpfprobe_link(&h->bp, &h->ev.keeper, path, proc->pid, off, ids, n, &kfd);
		if (fd < 0) {
			ret = fd;
			break;
		}
		GROW(h->links, h->links_alloc, h->nlinks + 1);
		h->links[h->nlinks++] = (struct blink){ .fd = fd, .kfd = kfd, .proc = proc };
		h->counts_final = false;
		h->links_made++;
	}
	free(done);
	return ret;
}

static bool bpf_linked(const struct heap *h, const struct process *proc)
{
	for (size_t i = 0; i < h->nlinks; i++)
		if (h->links[i].proc == proc)
			return true;
	return false;
}

/* A window's links, every live process's; the first failure, or 0. */
static int bpf_window_open(struct heap *h, struct target *t, pid_t *failed)
{
	for (size_t i = 0; i < t->nprocs; i++) {
		const struct process *p = t->procs[i];
		int ret;

		if (p->exited || bpf_linked(h, p))
			continue;
		ret = bpf_links_open(h, p);
		if (ret && ret != -ESRCH) {	/* ESRCH: it ended meanwhile */
			*failed = p->pid;
			return ret;
		}
	}
	return 0;
}

/* The links of processes that have ended: closed, their pids free again. */
static void bpf_links_exited(struct heap *h)
{
	size_t k = 0;

	for (size_t i = 0; i < h->nlinks; i++) {
		if (h->links[i].proc->exited)
			keeper_close(&h->ev.keeper, &h->links[i].fd, &h->links[i].kfd, 1);
		else
			h->links[k++] = h->links[i];
	}
	h->nlinks = k;
}

/* The links out (their breakpoints leave at once): the keeper_asked() mark. */
static uint64_t bpf_links_close(struct heap *h)
{
	int *fds = xmalloc((h->nlinks + 1) * sizeof(*fds));
	int *kfds = xmalloc((h->nlinks + 1) * sizeof(*kfds));

	for (size_t i = 0; i < h->nlinks; i++) {
		fds[i] = h->links[i].fd;
		kfds[i] = h->links[i].kfd;
	}
	keeper_close(&h->ev.keeper, fds, kfds, h->nlinks);
	h->nlinks = 0;
	free(fds);
	free(kfds);
	h->links_out = keeper_asked(&h->ev.keeper);
	h->counts_final = false;
	return h->links_out;
}

/*
 * Every thread's counts from the kernel, for read_counts: while links
 * are in, and once more after the last went out (nothing counts then).
 */
static void bpf_refresh(struct heap *h)
{
	bool out;

	if (!h->bpf || h->counts_final)
		return;
	out = !h->nlinks && keeper_closed(&h->ev.keeper) >= h->links_out;
	bpfprobe_refresh(&h->bp);
	h->counts_final = out;
}

/* A thread's frees (heap, pair), and in a window its window's events. */
static int thread_open(struct heap *h, struct hthread *ht, bool window)
{
	int ret = 0;

	ht->last = xcalloc(h->fn.nprobes, sizeof(*ht->last));
	ht->last_sampled = xcalloc(h->fn.nprobes, sizeof(*ht->last_sampled));
	/* a link's counts run on from the thread's first call */
	for (uint32_t i = 0; i < h->fn.nprobes && h->bpf; i++)
		if (h->fn.probes[i].alloc) {
			ht->last[i] = bpfprobe_count(&h->bp, ht->ev.tid, i);
			ht->last_sampled[i] = bpfprobe_count(&h->bp, ht->ev.tid,
							     BPFPROBE_SAMPLED(i));
		}
	ht->pending = xmalloc(h->fn.nprobes * sizeof(*ht->pending));
	for (size_t i = 0; i < h->fn.nprobes; i++)
		ht->pending[i] = NONE;
	/* the frees first: with --duty they stay, and the ring with them */
	for (uint32_t i = 0; i < h->fn.nprobes && !ret && h->fn.inuse; i++)
		if (h->fn.probes[i].frees)
			ret = open_one(h, ht, i, EV_FREE);
	if (h->windows)
		perfev_thread_keep(&ht->ev);
	if (!ret && window && in_window(h)) {
		/* a link covers a process's every thread: a new process needs its own */
		if (!h->bpf)
			window_open(h, &ht, &ret, 1);
		else if (ht->proc && !bpf_linked(h, ht->proc))
			ret = bpf_links_open(h, ht->proc);
	}
	return ret;
}

/* ---- reading ---- */

/* Called from inside another allocator function (reallocarray -> realloc)? */
static bool nested(const struct heap *h, const uint64_t *pcs, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t pc = pcs[i] & ~PC_PHYSICAL;

		for (size_t k = 0; k < h->fn.nprobes; k++)
			if (h->fn.probes[k].alloc && pc >= h->fn.probes[k].start &&
			    pc < h->fn.probes[k].end)
				return true;
	}
	return false;
}

static void on_return(struct heap *h, uint32_t pi, uint64_t ptr);

static void on_entry(struct heap *h, const struct event_id *ev, const unsigned char *d,
		     size_t len)
{
	struct probe *p = &h->fn.probes[ev->probe];
	struct target *t = &h->s->target;
	const uint64_t *regs = (const uint64_t *)(d + 16);	/* id, abi */
	size_t nregs = (size_t)__builtin_popcountll(PERF_REGS_ALL);
	uint64_t stack_size, dyn, size, a, ptr = 0, weight = 0;
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
	if (p->nargs) {
		/* otel_memory:alloc(ptr, size, weight) where its note says */
		if (!sdt_arg_value(&p->args[0], regs, PERF_REGS_ALL, stack, dyn, &ptr) ||
		    !sdt_arg_value(&p->args[1], regs, PERF_REGS_ALL, stack, dyn, &size) ||
		    !sdt_arg_value(&p->args[2], regs, PERF_REGS_ALL, stack, dyn, &weight)) {
			(*sampler_stat(&h->s->res, STAT_UNREADABLE))++;
			return;
		}
	} else {
		size = p->f->count ? 1 : perf_reg(regs, PERF_REGS_ALL, arg_reg[p->f->size_a]);
		if (p->f->sampled)
			ptr = perf_reg(regs, PERF_REGS_ALL, arg_reg[0]);
	}
	if (p->f->size_b >= 0) {
		a = perf_reg(regs, PERF_REGS_ALL, arg_reg[p->f->size_b]);
		if (__builtin_mul_overflow(size, a, &size))
			return;	/* refused by the allocator */
	}
	if (!size)
		return;
	/* keep it with Go's chance, 1 - e^(-size/rate), and scale by 1/chance;
	 * a call of probe:SYMBOL with 1 / --every */
	pk = p->f->count ? 1 / (double)h->rate : -expm1(-(double)size / (double)h->rate);
	if (p->nargs)	/* the process drew it: the weight is its unbiased bytes */
		pk = weight > size ? (double)size / (double)weight : 1;
	if (!h->bpf && !p->f->sampled && uniform(h) >= pk)
		return;	/* (the kernel, or libcprof-heap.so, drew it already) */
	inv_p = 1 / pk;
	m = hfuncs_maps_of(t, h->cur->ev.tid);
	perf_sample_capture(&h->cap, regs, stack, dyn, m);
	n = unwinder_unwind(h->u, &h->cap, h->pcs, h->s->opts.max_depth + 1);
	if (nested(h, h->pcs, n)) {
		h->dropped_nested++;	/* the outer call is the allocation */
		return;
	}
	/* the allocation site is the leaf (probe: the function named is) */
	if (!h->s->opts.allocator_frames && (h->fn.nuser == 0 || h->fn.pair)) {
		size_t k = hfuncs_site(&h->fn, m, h->pcs, n);

		h->hidden_frames += k;
		h->hidden_wrapped += k > 1;
		memmove(h->pcs, h->pcs + k, (n - k) * sizeof(*h->pcs));
		n -= k;
	}
	GROW(h->samples, h->samples_alloc, h->nsamples + 1);
	hs = &h->samples[h->nsamples];
	*hs = (struct hsample){ .probe = ev->probe, .size = size, .inv_p = inv_p,
				.pid = h->cur->pid, .epoch = m->epoch };
	if (p->f->memptr)
		hs->memptr = perf_reg(regs, PERF_REGS_ALL, arg_reg[0]);
	label = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
	hs->entry = pb_add_labeled(h->s->builder, h->cur->ev.tid, label,
				   m->epoch, h->pcs, n, zero);
	th = target_thread(t, h->cur->ev.tid);
	if (th)
		th->has_entry = true;	/* its name goes into the profile */
	if (h->fn.inuse)
		h->cur->pending[ev->probe] = h->nsamples;
	h->s->res.samples++;
	h->nsamples++;
	/* the preloaded library says the pointer: no return to wait for */
	if (p->f->sampled && h->fn.inuse)
		on_return(h, ev->probe, ptr);
}

static bool forget(struct heap *h, uint64_t ptr, pid_t pid)
{
	uint64_t *slot = u64map_find(&h->live, ptr, (uint64_t)pid);

	if (slot && *slot != NONE) {
		h->samples[*slot].live = false;
		*slot = NONE;
		return true;
	}
	return false;
}

/*
 * The rings are read one thread after another: a sampled block freed by
 * another thread than the one that allocated it may have its free read
 * first.  Where only sampled blocks' frees are probed (the process samples
 * itself), a free that matched nothing is tried again once every ring of
 * the tick has been read.  (With every free probed, nearly all are of
 * blocks never sampled, and a later sample at a reused address must not
 * be taken for freed.)
 */
static void late_free(struct heap *h, uint64_t ptr, pid_t pid)
{
	if (!h->fn.preload && !h->fn.otel)
		return;
	GROW(h->late, h->late_alloc, h->nlate + 1);
	h->late[h->nlate].ptr = ptr;
	h->late[h->nlate++].pid = pid;
}

static void late_frees(struct heap *h)
{
	for (size_t i = 0; i < h->nlate; i++)
		forget(h, h->late[i].ptr, h->late[i].pid);
	h->nlate = 0;
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
	forget(h, ptr, hs->pid);	/* its free was lost: it is not live twice */
	slot = u64map_put(&h->live, ptr, (uint64_t)hs->pid, idx, &added);
	*slot = idx;
	hs->live = true;
	hs->ptr = ptr;
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
	switch (ev->kind) {
	case EV_ENTRY:
		on_entry(h, ev, d, len);
		break;
	case EV_RET:
	case EV_FREE:
		if (len < 24)
			return;
		memcpy(&v, d + 16, 8);	/* id, abi, the one register */
		if (ev->kind == EV_RET) {
			on_return(h, ev->probe, v);
		} else {
			h->cur->free_cost += h->fn.probes[ev->probe].free_cost_ns;
			h->cur->free_calls++;
			h->fn.probes[ev->probe].heat++;
			if (v && !forget(h, v, h->cur->pid))
				late_free(h, v, h->cur->pid);
		}
		break;
	}
}

/* Probe pi's counter on thread ht reads v: what it counted since. */
static void counted(struct heap *h, struct hthread *ht, uint32_t pi, uint64_t v)
{
	uint64_t d;

	if (v < ht->last[pi])
		return;
	d = v - ht->last[pi];
	ht->entry_cost += (double)d * h->fn.probes[pi].cost_ns;
	h->fn.probes[pi].calls += d;
	h->fn.probes[pi].heat += (double)d;
	ht->last[pi] = v;
}

/* The calls each entry event counted since the last read. */
static void read_counts(struct heap *h, struct hthread *ht)
{
	uint64_t buf[1 + 2 * HFUNCS_MAX];
	size_t got;

	if (h->bpf) {
		for (uint32_t i = 0; i < h->fn.nprobes; i++) {
			uint64_t v = bpfprobe_count(&h->bp, ht->ev.tid, BPFPROBE_SAMPLED(i));

			if (!h->fn.probes[i].alloc)
				continue;
			counted(h, ht, i, bpfprobe_count(&h->bp, ht->ev.tid, i));
			if (v > ht->last_sampled[i]) {
				h->fn.probes[i].emitted += v - ht->last_sampled[i];
				ht->entry_cost += (double)(v - ht->last_sampled[i]) * h->sample_ns;
				ht->last_sampled[i] = v;
			}
		}
		return;
	}
	got = perfev_thread_read_group(&ht->ev, buf, sizeof(buf));
	if (got < 8)
		return;
	for (uint64_t i = 0; i < buf[0] && 8 * (2 + 2 * i) <= (uint64_t)got; i++) {
		uint64_t *ix = u64map_find(&h->ids, buf[2 + 2 * i], 0);
		const struct event_id *ev;

		if (!ix)
			continue;
		ev = &h->evs[*ix];
		counted(h, ht, ev->probe, buf[1 + 2 * i]);
	}
}

/*
 * A thread's ring, and with counts its events' counters.  Reading a group
 * whose events are active on another cpu interrupts that cpu (an IPI to
 * the target's thread): at each 1 ms tick, with redis-server's 5 threads,
 * that was 5000 IPIs a second and 18% of cprof's cycles
 * (smp_call_function_single, native_write_msr).  So the counters are read
 * every COUNTS_NS, and whenever a window or a budget check needs them.
 */
#define COUNTS_NS 20000000ULL

/* Drain a thread's ring (and with counts read its counters): how full it was, 0-1. */
static double drain_counts(struct heap *h, struct hthread *ht, bool counts)
{
	uint64_t lost = h->ev.lost;

	h->cur = ht;
	perfev_thread_drain(&h->ev, &ht->ev, on_record, h);
	if (counts)
		read_counts(h, ht);
	if (h->ev.lost > lost)
		return 1;	/* it overflowed */
	return ht->ev.ring.size ? (double)ht->ev.ring.fill / (double)ht->ev.ring.size : 0;
}

/*
 * Where the process samples itself, or the kernel does through links
 * (only samples reach the rings), the tick follows the rings: while the fullest ring is less than 1/16
 * full at a read the ticks grow twice as far apart, up to TICK_MAX_NS;
 * over 1/4 they come twice as often, down to -F's period (1 ms); a ring
 * that overflowed brings -F's back at once.  A launched command that
 * samples itself reaches the rings a few hundred times a second: at 1000
 * Hz, cprof's wakeups took 3.5% of a cpu beside redis-server.
 */
#define TICK_MAX_NS 10000000ULL

static void tick_follow(struct heap *h, double fullest)
{
	uint64_t fastest = 1000000000ULL / h->s->opts.hz;

	if (!h->tick_ns)
		h->tick_ns = fastest;
	if (fullest >= 1)
		h->tick_ns = fastest;
	else if (fullest > 0.25)
		h->tick_ns /= 2;
	else if (fullest < 1.0 / 16)
		h->tick_ns *= 2;
	if (h->tick_ns > TICK_MAX_NS)
		h->tick_ns = TICK_MAX_NS;
	if (h->tick_ns < fastest)
		h->tick_ns = fastest;
	sampler_tick_every(h->s, h->tick_ns);
}

static void drain(struct heap *h, struct hthread *ht)
{
	drain_counts(h, ht, true);
}

/* A record from a link: the thread's, read as its own ring's would be. */
static void on_bpf_record(void *arg, pid_t tid, const unsigned char *d, size_t len)
{
	struct heap *h = arg;
	struct thread *th = target_thread(&h->s->target, tid);
	struct hthread *ht = th ? th->mode_data : NULL;

	for (size_t i = 0; !ht && i < h->ngone; i++)
		if (h->gone[i]->ev.tid == tid)
			ht = h->gone[i];
	if (!ht) {
		h->bpf_unowned++;	/* a thread cprof has not seen yet */
		return;
	}
	h->cur = ht;
	on_record(h, d, len);
}

/*
 * The links' rings, all cpus' (before any thread's records are let go):
 * how full the fullest was, 0-1 (1: one overflowed).
 */
static double bpf_drain(struct heap *h)
{
	uint64_t lost = h->bp.lost;
	double fullest = 0;

	if (!h->bpf)
		return 0;
	h->ev.records += bpfprobe_drain(&h->bp, on_bpf_record, h);
	for (int cpu = 0; cpu < h->bp.ncpu; cpu++) {
		const struct perf_ring *r = &h->bp.rings[cpu];
		double f = r->fd >= 0 && r->size ? (double)r->fill / (double)r->size : 0;

		fullest = f > fullest ? f : fullest;
	}
	return h->bp.lost > lost ? 1 : fullest;
}

/*
 * The calls counted in an interval go to the samples taken in it: each
 * sample of a function stands for calls / k of them.  Calls with no
 * sample yet wait for the next one (the carry).
 */
static void weigh(struct heap *h, size_t from)
{
	for (size_t pi = 0; pi < h->fn.nprobes; pi++) {
		struct probe *p = &h->fn.probes[pi];
		double per;

		if (!p->alloc)
			continue;
		/* with links only sampled calls are recorded: those are shared */
		p->carry += h->bpf ? p->emitted : p->calls;
		p->calls = p->emitted = 0;
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

static void free_thread(struct hthread *ht)
{
	free(ht->last);
	free(ht->last_sampled);
	free(ht->pending);
	free(ht);
}

/* Close a thread's events (drained first) and free what it kept. */
static void close_thread(struct heap *h, struct hthread *ht)
{
	drain(h, ht);
	for (uint32_t i = 0; i < h->fn.nprobes && h->bpf; i++)
		if (h->fn.probes[i].alloc) {
			bpfprobe_forget(&h->bp, ht->ev.tid, i);
			bpfprobe_forget(&h->bp, ht->ev.tid, BPFPROBE_SAMPLED(i));
		}
	perfev_thread_close(&h->ev, &ht->ev);
	free_thread(ht);
}

/*
 * --duty, a window's end: its events leave for b (drained first), the
 * frees and the ring stay; samples still waiting for their return
 * have lost it and are not live.  Without frees, or with all, the
 * thread's every event leaves and what it kept is freed: false.
 */
static bool window_close(struct heap *h, struct hthread *ht, struct perfev_batch *b, bool all)
{
	drain(h, ht);
	/* (with links a thread has no event; it stays for the next window) */
	if (!perfev_thread_leave(&ht->ev, b, all) && (all || !h->bpf)) {
		free_thread(ht);
		return false;
	}
	for (size_t i = 0; i < h->fn.nprobes; i++)
		ht->pending[i] = NONE;
	return true;
}

/*
 * b's events closed, the functions called most in the window first; each
 * called one's share of the busiest thread's time (f: all of them) kept
 * for took_out.  Whether any was called.
 */
static bool close_batch(struct heap *h, struct perfev_batch *b, double f)
{
	double *heat = xmalloc((h->fn.nprobes + 1) * sizeof(*heat)), all = 0;
	uint64_t *mark = xmalloc((h->fn.nprobes + 1) * sizeof(*mark));

	for (size_t i = 0; i < h->fn.nprobes; i++) {
		struct probe *p = &h->fn.probes[i];

		heat[i] = p->rank = p->heat;
		p->heat = 0;
		all += p->alloc ? heat[i] * p->cost_ns : 0;
	}
	perfev_batch_close(&h->ev, b, heat, mark, h->fn.nprobes);
	if (h->nlinks) {
		uint64_t m = bpf_links_close(h);

		for (size_t i = 0; i < h->fn.nprobes; i++)
			mark[i] = h->fn.probes[i].alloc ? m : mark[i];
	}
	for (size_t i = 0; i < h->fn.nprobes; i++) {
		struct probe *p = &h->fn.probes[i];

		p->out_mark = p->alloc && heat[i] > 0 ? mark[i] : 0;
		p->out_f = all > 0 && p->out_mark ? f * heat[i] * p->cost_ns / all : 0;
		/* a link's close takes its breakpoints out first, then waits */
		if (h->bpf)
			p->out_f = 0;
	}
	free(heat);
	free(mark);
	free(b->v);
	*b = (struct perfev_batch){ 0 };
	return all > 0;
}

static int add_thread(struct heap *h, struct thread *th, bool window)
{
	struct hthread *ht = xcalloc(1, sizeof(*ht));
	int ret;

	ht->ev.tid = th->tid;
	ht->pid = th->proc ? th->proc->pid : th->tid;
	ht->proc = th->proc;
	th->mode_data = ht;
	ret = thread_open(h, ht, window);
	debug("heap: thread %d: %zu events: %s", th->tid, ht->ev.nfds,
	      ret ? strerror(-ret) : "ok");
	if (ret == -ESRCH) {
		th->mode_data = NULL;
		close_thread(h, ht);	/* gone already: nothing to see */
		return 0;
	}
	return ret;
}

/* ---- launched heap: the blocks still allocated, from the library ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool peek(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };

	return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len;
}

#define SET_MAX_CAP (1ULL << 28)

/*
 * With the library (h->fn.set_read) no free traps: its cprof_heap_set
 * (preload/heapsample.c) holds the sampled pointers not freed, read here
 * from process p (at its exit stop, or at the end) and kept, the latest
 * per process and address space.  A running process may replace the
 * table while it is read (gen odd, or changed): read again.
 */
static void read_set(struct heap *h, const struct process *p)
{
	const struct maps *m = &h->s->target.as.epochs[p->epoch];
	uint64_t addr = hfuncs_set_addr(&h->fn, m), gen, *tab = NULL;
	uint64_t hdr[sizeof(struct cprof_heap_set) / 8];	/* magic, gen, table, cap */
	struct set_read *r = NULL;
	size_t n = 0;
	bool ok = false;

	if (!addr)
		return;		/* not loaded there: nothing sampled there */
	for (int tries = 0; tries < 16 && !ok; tries++) {
		if (!peek(p->pid, addr, hdr, sizeof(hdr)) || hdr[0] != CPROF_HEAP_SET_MAGIC ||
		    hdr[3] > SET_MAX_CAP)
			break;
		if (hdr[1] & 1)
			continue;
		tab = xrealloc(tab, (hdr[3] + 1) * sizeof(*tab));
		if (hdr[3] && !peek(p->pid, hdr[2], tab, hdr[3] * sizeof(*tab)))
			continue;
		ok = peek(p->pid, addr + offsetof(struct cprof_heap_set, gen), &gen, sizeof(gen)) &&
		     gen == hdr[1];
	}
	if (!ok) {
		debug("heap: process %d: libcprof-heap.so's set not read", p->pid);
		free(tab);
		return;
	}
	for (uint64_t i = 0; i < hdr[3]; i++)
		if (tab[i] > 1)
			tab[n++] = tab[i];
	qsort(tab, n, sizeof(*tab), cmp_u64);
	for (size_t i = 0; i < h->nsets && !r; i++)
		if (h->sets[i].pid == p->pid && h->sets[i].epoch == p->epoch)
			r = &h->sets[i];
	if (!r) {
		GROW(h->sets, h->sets_alloc, h->nsets + 1);
		r = &h->sets[h->nsets++];
		*r = (struct set_read){ .pid = p->pid, .epoch = p->epoch };
	}
	free(r->ptrs);
	r->ptrs = tab;
	r->n = n;
	debug("heap: process %d: %zu sampled blocks not freed", p->pid, n);
}

/* The end: what was read decides which samples are live. */
static void apply_sets(struct heap *h)
{
	struct target *t = &h->s->target;

	for (size_t i = 0; i < t->nprocs; i++)
		if (!t->procs[i]->exited)
			read_set(h, t->procs[i]);
	for (size_t i = 0; i < h->nsamples; i++) {
		struct hsample *hs = &h->samples[i];
		const struct set_read *r = NULL;

		if (!hs->live)
			continue;
		for (size_t k = 0; k < h->nsets && !r; k++)
			if (h->sets[k].pid == hs->pid && h->sets[k].epoch == hs->epoch)
				r = &h->sets[k];
		if (!r) {
			h->set_unread++;	/* its process ended unread */
			continue;
		}
		if (!bsearch(&hs->ptr, r->ptrs, r->n, sizeof(*r->ptrs), cmp_u64))
			hs->live = false;	/* freed */
	}
}

static void thread_exiting_heap(struct sampler *s, struct thread *th)
{
	struct heap *h = H(s);

	/* a process's end: its leader's exit stop (exit_group stops each) */
	if (h && h->fn.set_read && th->proc && th->tid == th->proc->pid)
		read_set(h, th->proc);
}

/* ---- the mode ---- */

/* Launch mode: is perf_event_open of a uprobe allowed at all? */
static int check_access(struct heap *h, struct target *t)
{
	const struct maps *m = hfuncs_root_maps(t);
	struct module *mods[4];
	struct uprobe_attr a = { .period = 1 };
	GElf_Ehdr eh;
	char *path;
	int fd, kfd;

	if (!hfuncs_lookup_order(m, mods, 1) || !gelf_getehdr(mods[0]->elf, &eh) ||
	    uprobe_file_offset(mods[0]->elf, eh.e_entry, &a.offset))
		return 0;	/* nothing to try it on: the first open will say */
	path = xasprintf("/proc/%d/fd/%d", getpid(), mods[0]->fd);
	a.path = path;
	fd = uprobe_open(&a, t->pid, -1, &h->ev.keeper, &kfd);
	free(path);
	if (fd >= 0)
		keeper_close(&h->ev.keeper, &fd, &kfd, 1);
	if (fd >= 0 || fd == -ESRCH)
		return 0;	/* allowed, or the target is gone already */
	return fd;
}

static void open_failed(struct heap *h, const struct thread *th, int ret, bool first)
{
	error("heap: perf_event_open(uprobe) on thread %d: %s%s%s%s",
	      th->tid, strerror(-ret), *uprobe_refused(-ret) ? ": " : "",
	      uprobe_refused(-ret), first ? "" : " (in this window)");
	h->failed = first;
}

/*
 * Every thread's probes: at the start, a failure ends the recording; at a
 * later --duty window, that thread is not seen in the window.  Returns
 * when the first function called in the last window went in, or 0.
 */
static uint64_t open_all(struct heap *h, struct target *t, bool first)
{
	struct hthread **hts = xmalloc((t->nthreads + 1) * sizeof(*hts));
	struct thread **ths = xmalloc((t->nthreads + 1) * sizeof(*ths));
	int *ret = xcalloc(t->nthreads + 1, sizeof(*ret));
	size_t n = 0;
	uint64_t hot_at = 0;

	for (size_t i = 0; i < t->nthreads && !h->failed; i++) {
		struct thread *th = t->threads[i];
		int r = 0;

		if (th->state == THREAD_GONE)
			continue;
		/* heap, pair: its frees are in already */
		if (!th->mode_data && (r = add_thread(h, th, false)))
			open_failed(h, th, r, first);
		else if (th->mode_data) {
			hts[n] = th->mode_data;
			ths[n++] = th;
		}
	}
	if (!h->failed && h->bpf) {
		pid_t pid = 0;
		int r;

		hot_at = now_ns();
		r = bpf_window_open(h, t, &pid);
		if (r) {
			error("%s: bpf(BPF_LINK_CREATE) of a uprobe_multi link on process %d: %s%s",
			      h->fn.nuser ? "probe" : "allocs", pid, strerror(-r),
			      first ? "" : " (in this window)");
			h->failed = first;
		}
	} else if (!h->failed) {
		hot_at = window_open(h, hts, ret, n);
	}
	for (size_t i = 0; i < n && !h->failed; i++)
		if (ret[i] && ret[i] != -ESRCH)	/* ESRCH: exited meanwhile, its exit says so */
			open_failed(h, ths[i], ret[i], first);
	free(hts);
	free(ths);
	free(ret);
	return hot_at;
}

/* ---- windows (--duty) ---- */

/*
 * With --duty F the probes are in place only a share F of the time, in
 * the windows of attach/perfev.h.  A probe costs the target only while it
 * is in place (the kernel takes the breakpoint out when the process's
 * last event on it is closed), so F bounds what cprof costs at any rate
 * of calls, where probing every call costs a trap each (5-8 us on a VM
 * that forwards every trap to its host).  Frees cannot be windowed (a
 * block sampled in a window and freed out of one would stay live for
 * ever): heap and pair window their entries and returns, and keep the
 * frees, and the ring they write to, in place all along.
 */

/*
 * While the probes are in all along (from the start, or since the calls
 * became cheap), their cost is checked this often, and they go out at the
 * first check over budget: a server that wakes from idle under load pays
 * the full cost (redis-server: ~50-90% of its main thread in traps) for
 * at most this long and the closes of its hottest function's events (a
 * grace period each), not for a whole window.  The kernel's counts are
 * exact, so a short interval measures as well as a long one.
 */
#define BUDGET_CHECK_NS 50000000ULL
/* ... with links, whose breakpoints leave at once (a count read is one call) */
#define BPF_BUDGET_CHECK_NS 10000000ULL

static uint64_t check_ns(const struct heap *h)
{
	return h->bpf ? BPF_BUDGET_CHECK_NS : BUDGET_CHECK_NS;
}

/* start or stop the counting of every open thread's group */
static void windows_count(struct heap *h, struct target *t, bool on)
{
	if (h->bpf)	/* (a link counts all its process's threads) */
		bpfprobe_arm(&h->bp, on);
	for (size_t i = 0; i < t->nthreads; i++) {
		struct hthread *ht = t->threads[i]->mode_data;

		if (ht)
			perfev_thread_count(&ht->ev, on);
	}
}

/* The probes are in: every thread's, then the counting of all at once. */
static void windows_in(struct heap *h, struct target *t, bool first)
{
	uint64_t t0 = now_ns(), hot_at = open_all(h, t, first);

	/* what the target paid for: from its hot functions' first event */
	h->place_ns = now_ns() - (hot_at ? hot_at : t0);
	h->place_priced = false;
	h->count_since = now_ns();
	/* the rings fill from now: the tick at its fastest (tick_follow) */
	if (h->bpf) {
		h->tick_ns = 1000000000ULL / h->s->opts.hz;
		sampler_tick_every(h->s, h->tick_ns);
	}
	windows_count(h, t, true);
	perfev_windows_placed(&h->win, now_ns());
	if (h->budget && !h->paused)	/* measuring: see BUDGET_CHECK_NS */
		h->win.switch_at = h->win.on_since + check_ns(h);
}

/*
 * A pause lasts at least until the recording's estimated cost is back at
 * the budget: what the windows' placing and removing really took is known
 * only after the next duty was set (took_out).
 */
static void hold_budget(struct heap *h)
{
	uint64_t due;

	if (!h->budget || h->win.on)
		return;
	due = h->started + (uint64_t)(h->trap_ns / h->s->opts.max_overhead);
	if (due > h->win.switch_at)
		h->win.switch_at = due;
}

/*
 * The functions called in the last window going out: each trapped the
 * target until its last event was closed, priced at its share of that
 * window's cost.  With all, those not out yet are priced until now (the
 * next window is due, or the recording ends).
 */
static void took_out(struct heap *h, uint64_t now, bool all)
{
	uint64_t closed = keeper_closed(&h->ev.keeper), d = now > h->out_from ? now - h->out_from : 0;
	bool left = false;

	for (size_t i = 0; i < h->fn.nprobes; i++) {
		struct probe *p = &h->fn.probes[i];

		if (!p->out_mark)
			continue;
		if (closed < p->out_mark && !all) {
			left = true;
			continue;
		}
		p->out_mark = 0;
		if (h->budget)
			h->trap_ns += p->out_f * (double)d;
		h->out_ns = d;
	}
	if (left)
		return;
	h->going_out = false;
	debug("heap: window %zu: the functions it saw called out after %.1f ms", h->win.n,
	      (double)h->out_ns / 1e6);
	hold_budget(h);
}

/* at the end of a window or a pause: out or in with the probes */
static void windows_switch(struct heap *h, struct target *t, uint64_t now)
{
	if (h->win.on) {
		/* the window ends when its counting does: drained and closed after */
		struct perfev_batch b = { 0 };

		windows_count(h, t, false);
		bpf_refresh(h);
		bpf_drain(h);
		for (size_t i = 0; i < t->nthreads; i++) {
			struct thread *th = t->threads[i];

			if (th->mode_data && !window_close(h, th->mode_data, &b, false))
				th->mode_data = NULL;
		}
		if (h->going_out)
			took_out(h, now, true);	/* the last window's, not done yet */
		h->out_from = now_ns();
		h->going_out = close_batch(h, &b, h->f_entry);
		perfev_windows_off(&h->win, now);
		hold_budget(h);
	} else {
		perfev_windows_on(&h->win);
		if (h->fn.resolved)
			windows_in(h, t, false);	/* the window's events, or all */
		else
			perfev_windows_placed(&h->win, now_ns());
		debug("heap: window %zu: probes in after %.1f ms", h->win.n,
		      (double)(h->win.on_since - now) / 1e6);
	}
}

/* ---- --max-overhead: a cost budget ---- */

/*
 * Each probed call costs the target a trap, priced at the start
 * (attach/probecost.c) by the instruction probed: an entry, its return
 * (heap, pair: a uretprobe, emulated), a free.  The counters say how many
 * entries each thread made, the records how many frees.  The windows of
 * --duty then carry the budget: after each window the duty becomes the
 * budget over what the window cost its busiest thread (frees, probed all
 * along, first), so that the probes cost about the budget on average and
 * the ratio estimator scales what the windows saw.  With calls cheap
 * enough the probes stay in.
 */
static double call_cost(const struct heap *h, const struct probe *p, uint64_t offset)
{
	const unsigned char *insn = p->mod->image && offset < p->mod->image_size ?
				    p->mod->image + offset : NULL;
	size_t len = insn ? p->mod->image_size - offset : 0;

	return probecost_of(&h->cost, insn, len);
}

static void set_costs(struct heap *h)
{
	for (size_t i = 0; i < h->fn.nprobes; i++) {
		struct probe *p = &h->fn.probes[i];

		p->cost_ns = p->free_cost_ns = 0;
		if (p->alloc)
			p->cost_ns = call_cost(h, p, p->loc.offset) +
				     (h->fn.inuse ? h->cost.emulated_ns : 0);
		else if (p->frees)
			p->free_cost_ns = call_cost(h, p, p->free_offset);
	}
}

/*
 * What the probes cost since the last account: the busiest thread's
 * share of the time in them, entries and frees (h->f_entry, h->f_free).
 */
static void account(struct heap *h, struct target *t, uint64_t now)
{
	double dt = (double)(now - h->account_at), worst = 0, fe = 0, ff = 0, fc = 0;
	/* the entries are counted from when the window's probes were all in */
	double de = h->win.on && h->count_since && now > h->count_since ?
		    (double)(now - h->count_since) : 0;

	if (dt <= 0)
		return;
	for (size_t i = 0; i < t->nthreads; i++) {
		struct hthread *ht = t->threads[i]->mode_data;

		if (!ht)
			continue;
		if (ht->entry_cost + ht->free_cost > worst)
			worst = ht->entry_cost + ht->free_cost;
		fe = ht->entry_cost > fe ? ht->entry_cost : fe;
		if (ht->free_cost > ff) {
			ff = ht->free_cost;
			fc = ht->free_calls;
		}
		ht->entry_cost = ht->free_cost = ht->free_calls = 0;
	}
	h->count_since = h->win.on ? now : 0;
	h->f_entry = de > 0 ? fe / de : 0;
	h->f_free = ff / dt;
	/* while its probes went in the thread trapped uncounted: priced at
	 * the window's rate, as if all were in, once a window (and going out:
	 * took_out) */
	h->trap_ns += worst;
	if (de > 0 && !h->place_priced) {
		h->trap_ns += h->f_entry * (double)h->place_ns;
		h->place_priced = true;
	}
	h->free_rate = fc / dt * 1e9;
	h->account_at = now;
}

/*
 * A window is over: the next duty, or -1 where the frees alone take the
 * budget (heap, pair), and 1 (the probes stay) where all fits in it.
 */
static double next_duty(struct heap *h)
{
	double b = h->s->opts.max_overhead, w = (double)h->win.window_ns, k, out;

	if (h->f_free >= 0.8 * b)
		return -1;
	if (h->f_entry <= b - h->f_free)
		return 1;
	/*
	 * A window costs f_entry for its length W and, uncounted, for the
	 * time its probes take to go in and out (place_ns, and out_ns as the
	 * last window's took, or place_ns before one is known; a link's
	 * breakpoints leave at once): the pause after it, W (1 - d) / d on
	 * average, is long enough for the whole to average the budget.
	 */
	out = h->bpf ? 0 : (double)(h->out_ns ? h->out_ns : h->place_ns);
	k = (w + (double)h->place_ns + out) / w * (h->f_entry / (b - h->f_free) - 1);
	return k > 999 ? 0.001 : 1 / (1 + k);
}

static void over_budget(struct heap *h, uint64_t now)
{
	struct sampler *s = h->s;

	error("%s: the frees alone cost the target about %.0f%% (%.0f calls/s on its busiest thread, "
	      "%.1f us each here), over --max-overhead %g%%: stopped after %.1fs, the target left "
	      "as it was; -t allocs follows no frees, or allow more with --max-overhead %.0f",
	      h->fn.pair ? "pair" : "heap", 100 * h->f_free, h->free_rate,
	      h->free_rate > 0 ? h->f_free * 1e9 / h->free_rate / 1e3 : 0,
	      100 * s->opts.max_overhead, (double)(now - h->started) / 1e9,
	      ceil(100 * h->f_free / 0.8));
	s->res.cut_short = true;
	*sampler_stat(&s->res, STAT_OVER) = h->f_free;
}

static void budget_start(struct heap *h)
{
	uint64_t now;

	if (probecost_measure(&h->ev.keeper, &h->cost)) {
		note("--max-overhead: a probed call's cost could not be measured here: "
		     "the probes are in place all along");
		return;
	}
	now = now_ns();
	h->budget = h->windows = true;
	/* the probes in from the start, checked every BUDGET_CHECK_NS */
	perfev_windows_start(&h->win, 1, h->rng ^ 0x9e3779b97f4a7c15ULL, now, 0);
	h->win.switch_at = UINT64_MAX;
	h->account_at = h->started = now;
}

/* a window or pause is over: account, and with a budget, the next duty */
static bool budget_switch(struct heap *h, struct target *t, uint64_t now)
{
	double d;

	if (!h->budget)
		return true;
	account(h, t, now);
	if (!h->win.on)
		return true;
	d = next_duty(h);
	debug("heap: window %zu: entries %.1f%%, frees %.1f%% of the busiest thread: duty %.3f",
	      h->win.n, 100 * h->f_entry, 100 * h->f_free, d);
	if (d < 0) {
		over_budget(h, now);
		return false;
	}
	if (d >= 1) {
		h->win.switch_at = now + check_ns(h);	/* the probes stay */
		return false;
	}
	h->win.duty = d;
	h->paused = true;
	return true;
}

/* ---- launched: sampled inside the process ---- */

/*
 * Attached to a process started with libcprof-heap.so: it samples at the
 * rate it was given (CPROF_HEAP_RATE), not --rate; the samples are scaled,
 * and the profile's period said, by that one.
 */
static void attached_library(struct heap *h)
{
	struct sampler *s = h->s;
	uint64_t addr = hfuncs_set_addr(&h->fn, hfuncs_root_maps(&s->target));
	struct cprof_heap_set set;

	if (!addr || !peek(s->target.pid, addr, &set, sizeof(set)) ||
	    set.magic != CPROF_HEAP_SET_MAGIC || !set.rate) {
		const char *lib = h->fn.set_mod ? h->fn.set_mod->path : "libcprof-heap.so";

		/* (another version's: its set is not one this cprof reads) */
		if (h->fn.set_read) {
			error("heap: %s in process %d is not this cprof's version (its "
			      "cprof_heap_set cannot be read): --no-preload probes the allocator "
			      "instead", lib, s->target.pid);
			h->failed = true;
			return;
		}
		note("heap: %s: its sampling rate could not be read: --rate %llu is assumed",
		     lib, (unsigned long long)h->rate);
		return;
	}
	h->rate = set.rate;
	s->opts.mem_rate = set.rate;	/* (the profile's period) */
	note("heap: %s samples the process's allocations itself, one per %llu bytes on "
	     "average (its CPROF_HEAP_RATE; --rate does not apply): only its samples are probed",
	     h->fn.set_mod->path, (unsigned long long)set.rate);
}

/*
 * allocs and probe (entries only: heap's returns must reach the thread's
 * own ring after its entry) through BPF links where the kernel allows:
 * a window's breakpoints then leave at once (bpfprobe.h).  Not for a
 * process's own sampler (preload, otel): its few probes are in all along.
 */
/* Is cprof in the pid namespace of the kernel's init (inode 0xEFFFFFFC)? */
static bool host_pid_ns(void)
{
	char link[64];
	ssize_t n = readlink("/proc/self/ns/pid", link, sizeof(link) - 1);

	if (n <= 0)
		return true;	/* (no namespaces: the host's) */
	link[n] = 0;
	return !strcmp(link, "pid:[4026531836]");
}

static void bpf_setup(struct heap *h)
{
	struct sampler *s = h->s;
	uint64_t rate;
	int ret;

	if (s->opts.no_bpf || h->fn.inuse || h->fn.preload || h->fn.otel ||
	    h->cap.stack_cap < 4096)
		return;
	/* a link's thread ids are the kernel's first namespace's */
	if (!host_pid_ns()) {
		note("%s: cprof runs in a pid namespace of its own, where a BPF link's thread "
		     "ids are not its own: per-thread uprobe events instead",
		     h->fn.nuser ? "probe" : "allocs");
		return;
	}
	/*
	 * Every call traps anyway; a sample adds a stack copy (~3 us) to its
	 * call: Go's rate, set for a sampler inside the process, would leave
	 * a budgeted recording of a busy server a few samples.  Without
	 * --rate, one per 32 KiB: 16 times Go's samples for ~1% more cost.
	 */
	rate = !s->opts.mem_rate && !h->fn.nuser ? HEAP_BPF_DEFAULT_RATE : h->rate;
	ret = bpfprobe_open(&h->bp, (uint32_t)h->cap.stack_cap, RING_ORDER, rate,
			    h->fn.nuser > 0);
	if (ret) {
		note("%s: no BPF uprobe link here (%s): per-thread uprobe events instead, "
		     "whose breakpoints leave a process more slowly", h->fn.nuser ? "probe" : "allocs",
		     h->bp.why);
		return;
	}
	if (!probecost_bpf_threads(&h->ev.keeper, &h->bp)) {
		note("%s: this kernel's BPF uprobe links do not see every thread of a process "
		     "(Linux 6.6-6.9 without the fix of their pid filter): per-thread uprobe "
		     "events instead", h->fn.nuser ? "probe" : "allocs");
		bpfprobe_close(&h->bp);
		return;
	}
	h->rate = rate;
	s->opts.mem_rate = rate;	/* (the profile's period) */
	for (uint32_t i = 0; i < h->fn.nprobes; i++) {
		bool added;

		if (!h->fn.probes[i].alloc)
			continue;
		GROW(h->evs, h->evs_alloc, h->nevs + 1);
		h->evs[h->nevs] = (struct event_id){ .probe = i, .kind = EV_ENTRY };
		u64map_put(&h->ids, bpf_id(h, i), 0, h->nevs++, &added);
	}
	h->bpf = true;
	/* in and out in a few ms: shorter windows, each costing less (--duty:
	 * the schedule drawn again with them, before its first window) */
	h->win.window_ns = BPF_WINDOW_NS;
	if (h->windows && !h->budget)
		perfev_windows_start(&h->win, s->opts.duty, h->rng ^ 0x9e3779b97f4a7c15ULL,
				     now_ns(), BPF_WINDOW_NS);
	/* what a call costs through the link (not recorded unless sampled) */
	if (h->budget) {
		struct probecost c;

		/* a sampled call's copy and ring write: about a perf event's
		 * recorded call (the program copies twice, into its buffer and
		 * the ring: 3.4 us a call against 2.0 in a malloc loop here) */
		h->sample_ns = h->cost.emulated_ns;
		if (!probecost_measure_with(&h->ev.keeper, &h->bp, &c))
			h->cost = c;
		else
			debug("heap: a call's cost through a BPF link not measured: "
			      "the perf event's stands");
	}
	debug("heap: entries through BPF uprobe links");
}

/* What is probed is known: its costs, and whether the process samples */
static void resolved(struct heap *h)
{
	struct sampler *s = h->s;

	bpf_setup(h);
	set_costs(h);
	if (h->fn.preload) {
		if (!s->opts.argv)
			attached_library(h);
		/* 2: and the blocks still allocated read from it */
		*sampler_stat(&s->res, STAT_IN_PROCESS) = h->fn.set_read ? 2 : 1;
	} else if (h->fn.otel) {
		/* 3: by its own sampler, whose probes say the samples */
		*sampler_stat(&s->res, STAT_IN_PROCESS) = 3;
		snprintf(s->res.mode_text, sizeof(s->res.mode_text), "%s", h->fn.otel_mod->path);
		note("heap: %s samples the process's allocations itself (OpenTelemetry's "
		     "otel_memory probes): only its samples are probed", h->fn.otel_mod->path);
	} else if (h->fn.fallback) {
		*sampler_stat(&s->res, STAT_IN_PROCESS) = -h->fn.fallback;
		note("heap: every allocator call is probed: %s", hfuncs_fallback_why(h->fn.fallback));
	}
}

/*
 * libcprof-heap.so (preload/heapsample.c) beside this cprof, or installed
 * in ../lib/cprof; NULL where neither is.
 */
static char *preload_path(void)
{
	char exe[4096], *slash, *p;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = 0;
	p = xasprintf("%s/libcprof-heap.so", exe);
	if (!access(p, R_OK))
		return p;
	free(p);
	p = xasprintf("%s/../lib/cprof/libcprof-heap.so", exe);
	if (!access(p, R_OK))
		return p;
	free(p);
	return NULL;
}

/*
 * heap and allocs of a command cprof starts: the command samples its own
 * allocations (Go's draw, at --rate) and calls a probe point for each
 * sampled one and its free; only those trap.  Its environment gets
 * LD_PRELOAD (the library first: it forwards every call to the next
 * allocator, the program's own included) and CPROF_HEAP_RATE, and the
 * processes it starts inherit both.  Never for a process cprof attaches
 * to: nothing is loaded into it.
 */
static char **launch_env_heap(struct sampler *s)
{
	extern char **environ;
	char *lib, **env;
	const char *old = getenv("LD_PRELOAD");
	size_t n = 0, k = 0;

	if (s->opts.no_preload || !(lib = preload_path())) {
		if (!s->opts.no_preload)
			note("heap: libcprof-heap.so is not beside cprof nor in ../lib/cprof: "
			     "every allocator call is probed");
		return NULL;
	}
	while (environ[n])
		n++;
	env = xcalloc(n + 3, sizeof(*env));
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "CPROF_HEAP_RATE=", 16))
			env[k++] = xstrdup(environ[i]);
	env[k++] = old && *old ? xasprintf("LD_PRELOAD=%s:%s", lib, old) :
				 xasprintf("LD_PRELOAD=%s", lib);
	env[k++] = xasprintf("CPROF_HEAP_RATE=%llu", (unsigned long long)sampler_rate(&s->opts));
	free(lib);
	*sampler_stat(&s->res, STAT_PRELOAD) = 1;
	return env;
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
	h->fn.inuse = s->opts.mode->flags & HEAP_INUSE;
	h->fn.pair = s->opts.mode->flags & HEAP_PAIR;
	h->fn.preload = sampler_stat_value(&s->res, STAT_PRELOAD) > 0;
	h->fn.otel_ok = !s->opts.no_preload;
	h->windows = s->opts.duty > 0 && s->opts.duty < 1;
	h->rate = s->opts.mem_rate ? s->opts.mem_rate : HEAP_DEFAULT_RATE;
	h->rng = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x2545f4914f6cdd1dULL;
	if (stack > MAX_PROBE_STACK)
		stack = MAX_PROBE_STACK;
	perfev_init(&h->ev, RING_ORDER);
	capture_init(&h->cap, stack & ~7UL);
	if (s->opts.probe && hfuncs_parse_user(&h->fn, s->opts.probe))
		return -1;
	ret = check_access(h, t);
	if (ret)
		return error("heap: perf_event_open(uprobe): %s%s%s", strerror(-ret),
			     *uprobe_refused(-ret) ? ": " : "", uprobe_refused(-ret));
	if (h->windows)
		perfev_windows_start(&h->win, s->opts.duty, h->rng ^ 0x9e3779b97f4a7c15ULL,
				     now_ns(), 0);
	else if (s->opts.max_overhead > 0 && s->opts.max_overhead < 1)
		budget_start(h);
	ret = hfuncs_resolve(&h->fn, t);
	if (ret > 0)
		resolved(h);
	if (ret > 0 && in_window(h)) {
		windows_in(h, t, true);
	} else if (!ret && h->fn.nuser && !t->launched)
		return error("%s: no function %s in %s", h->fn.pair ? "pair" : "probe",
			     h->fn.user[h->fn.missing].name,
			     h->fn.lib[h->fn.missing] ? h->fn.lib[h->fn.missing] : "the program or its libraries");
	return h->failed ? -1 : 0;
}

static void thread_new_heap(struct sampler *s, struct thread *th)
{
	struct heap *h = H(s);
	int ret;

	/* not in a --duty window: its frees now, the rest at the next */
	if (!h || !h->fn.resolved || h->failed || (h->windows && !h->win.on && !h->fn.inuse))
		return;
	ret = add_thread(h, th, true);
	if (!ret && h->windows && h->win.on && th->mode_data)
		perfev_thread_count(&((struct hthread *)th->mode_data)->ev, true);
	if (ret) {
		error("heap: thread %d: %s: %s: its allocations are not seen", th->tid,
		      h->bpf ? "bpf(BPF_LINK_CREATE)" : "perf_event_open(uprobe)", strerror(-ret));
	}
}

/* gone: what its ring still holds is read at the next turn, then closed */
static void thread_gone_heap(struct sampler *s, struct thread *th)
{
	struct heap *h = H(s);

	if (!h || !th->mode_data)
		return;
	GROW(h->gone, h->gone_alloc, h->ngone + 1);
	h->gone[h->ngone++] = th->mode_data;
	th->mode_data = NULL;
}

/* the values of every sample, once all are weighed */
static void add_values(struct heap *h)
{
	for (size_t pi = 0; pi < h->fn.nprobes; pi++) {
		struct probe *p = &h->fn.probes[pi];
		double k = 0;

		/* calls after the last sample of a function: spread them */
		if (!p->carry)
			continue;
		if (h->bpf) {
			/* sampled calls whose records were lost at the end: each
			 * sample stands for w / inv_p of the sampled calls */
			for (size_t i = 0; i < h->nsamples; i++)
				if (h->samples[i].probe == pi && h->samples[i].inv_p > 0)
					k += h->samples[i].w / h->samples[i].inv_p;
			for (size_t i = 0; i < h->nsamples && k > 0; i++)
				if (h->samples[i].probe == pi)
					h->samples[i].w *= 1 + (double)p->carry / k;
			continue;
		}
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
		double w = hs->w * (h->windows && (!h->budget || h->paused) && armed &&
				    *armed > 0 ? 1 / *armed : 1);
		int64_t v[4] = { 0 };

		if (hs->entry == NONE)
			continue;
		v[0] = llround(w);
		v[1] = llround(w * (double)hs->size);
		if (h->fn.pair)
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
	struct perfev_batch out = { 0 };
	uint64_t now;
	double fullest = 0;
	bool counts;

	if (!h || h->failed)
		return;
	h->u = u;
	h->pcs = pcs;
	if (!h->fn.resolved) {
		/* launched: the loader maps the allocator soon */
		hfuncs_root_maps(t)->dirty = true;
		addrspace_refresh_all(&t->as, 20000000ULL);
		if (hfuncs_resolve(&h->fn, t) > 0) {
			resolved(h);
			if (in_window(h))
				windows_in(h, t, true);
		}
		return;
	}
	now = now_ns();
	counts = last || now >= h->counts_at + COUNTS_NS ||
		 (h->windows && perfev_windows_due(&h->win, now)) ||
		 (h->budget && now >= h->account_at + check_ns(h));
	if (counts) {
		h->counts_at = now;
		bpf_refresh(h);
	}
	fullest = bpf_drain(h);
	if (h->ngone && !counts)
		bpf_refresh(h);	/* the gone threads' last counts, then forgotten */
	for (size_t i = 0; i < h->ngone; i++)
		close_thread(h, h->gone[i]);
	bpf_links_exited(h);
	h->ngone = 0;
	/* the end: the last window's functions still going out are priced
	 * before the final closes take their marks */
	if (last && h->going_out)
		took_out(h, now_ns(), true);
	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];

		if (!th->mode_data)
			continue;
		if (last) {
			/* all out, the costliest first */
			window_close(h, th->mode_data, &out, true);
			th->mode_data = NULL;
		} else {
			double f = drain_counts(h, th->mode_data, counts);

			fullest = f > fullest ? f : fullest;
		}
	}
	/* (with every call probed, a paced program's bursts fill a ring
	 * within one tick: 950-980 records lost a run at 10 ms) */
	if (!last && (h->fn.preload || h->fn.otel || h->bpf))
		tick_follow(h, fullest);
	late_frees(h);
	if (last)
		close_batch(h, &out, 0);
	if (h->windows) {
		now = now_ns();	/* (after the drains and closes) */
		if (!counts && (perfev_windows_due(&h->win, now) ||
				(h->budget && now >= h->account_at + check_ns(h)))) {
			/* due since the top: the check needs the counters now */
			bpf_refresh(h);
			for (size_t i = 0; i < t->nthreads; i++)
				if (t->threads[i]->mode_data)
					read_counts(h, t->threads[i]->mode_data);
			counts = true;
			h->counts_at = now;
		}
		if (!last && h->going_out)
			took_out(h, now, false);
		if (last) {
			if (h->budget) {
				account(h, t, now);
				*sampler_stat(&h->s->res, STAT_BUDGET) = s->opts.max_overhead;
				*sampler_stat(&h->s->res, STAT_CALL_NS) = h->cost.emulated_ns;
				*sampler_stat(&h->s->res, STAT_SLOWDOWN) =
					now > h->started ? h->trap_ns / (double)(now - h->started) : 0;
			}
			*sampler_stat(&h->s->res, STAT_WINDOWS) = (double)h->win.n;
			*sampler_stat(&h->s->res, STAT_WINDOW_MS) = (double)h->win.window_ns / 1e6;
			*sampler_stat(&h->s->res, STAT_ARMED) = perfev_windows_share(&h->win, now);
			if (h->budget && !h->paused)
				*sampler_stat(&h->s->res, STAT_WINDOWS) = 0;	/* all along */
		} else if (perfev_windows_due(&h->win, now)) {
			if (budget_switch(h, t, now))
				windows_switch(h, t, now);
		} else if (h->budget && !h->win.on && h->fn.inuse &&
			   now >= h->account_at + check_ns(h)) {
			/* a pause: the frees stay in, and are checked as often */
			account(h, t, now);
			if (h->f_free >= 0.8 * s->opts.max_overhead)
				over_budget(h, now);
		}
	}
	/* the samples since the counters were last read share their calls */
	if (counts) {
		weigh(h, h->unweighed);
		h->unweighed = h->nsamples;
	}
	if (last && h->fn.set_read) {
		apply_sets(h);
		*sampler_stat(&s->res, STAT_UNREAD) = (double)h->set_unread;
	}
	if (last)
		add_values(h);
}

/* the events closed unread (an error ended the recording) */
static void discard_thread(struct heap *h, struct hthread *ht)
{
	perfev_thread_close(&h->ev, &ht->ev);
	free_thread(ht);
}

static void release_heap(struct sampler *s)
{
	struct heap *h = H(s);
	struct target *t = &s->target;

	if (!h)
		return;
	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = t->threads[i];

		if (th->mode_data)
			discard_thread(h, th->mode_data);
		th->mode_data = NULL;
	}
	for (size_t i = 0; i < h->ngone; i++)
		discard_thread(h, h->gone[i]);
	if (h->nlinks)
		bpf_links_close(h);
	if (perfev_finish(&h->ev, CLOSE_WAIT_MS))
		note("heap: the kernel is still removing probes after %d s; "
		     "process cprof-keeper goes on with it", CLOSE_WAIT_MS / 1000);
	debug("heap: %llu records, %zu samples (%llu inside another allocator), %llu lost",
	      (unsigned long long)h->ev.records, h->nsamples,
	      (unsigned long long)h->dropped_nested, (unsigned long long)h->ev.lost);
	if (h->bpf) {
		h->ev.lost += h->bp.lost;
		*sampler_stat(&s->res, STAT_LINKS) = (double)h->links_made;
		debug("heap: %zu BPF links, %llu records of threads not known", h->links_made,
		      (unsigned long long)h->bpf_unowned);
		bpfprobe_close(&h->bp);
	}
	free(h->links);
	*sampler_stat(&s->res, STAT_LOST) = (double)h->ev.lost;
	*sampler_stat(&s->res, STAT_NESTED) = (double)h->dropped_nested;
	*sampler_stat(&s->res, STAT_PROBES) = (double)h->fn.nprobes;
	*sampler_stat(&s->res, STAT_SAMPLES) = (double)h->nsamples;
	*sampler_stat(&s->res, STAT_HIDDEN) = (double)h->hidden_frames;
	*sampler_stat(&s->res, STAT_WRAPPED) = (double)h->hidden_wrapped;
	hfuncs_release(&h->fn);
	free(h->gone);
	free(h->evs);
	free(h->samples);
	u64map_release(&h->ids);
	u64map_release(&h->live);
	for (size_t i = 0; i < h->nsets; i++)
		free(h->sets[i].ptrs);
	free(h->sets);
	free(h->late);
	capture_release(&h->cap);
	free(h);
	s->mode_state = NULL;
}

/* --duty: how much of the recording the windows covered */
static void say_windows(const struct sampler *s, sampler_say_fn say, void *arg)
{
	double windows = sampler_stat_value(&s->res, STAT_WINDOWS);

	if (sampler_stat_find(&s->res, STAT_BUDGET)) {
		char *where = windows ?
			xasprintf("in place %.1f%% of the recording, in %.0f windows of %.0f ms at "
				  "random, each window's duty from what the last one cost; values "
				  "scaled by the inverse",
				  100 * sampler_stat_value(&s->res, STAT_ARMED), windows,
				  sampler_stat_value(&s->res, STAT_WINDOW_MS)) :
			xasprintf("in place all along%s", sampler_stat_find(&s->res, STAT_OVER) ?
				  " until it stopped" : " (within the budget)");

		if (sampler_stat_find(&s->res, STAT_OVER))
			say(arg, xasprintf("the recording stopped early: the frees alone cost the "
					   "busiest thread about %.0f%%, over the budget "
					   "(-t allocs follows no frees)",
					   100 * sampler_stat_value(&s->res, STAT_OVER)));
		say(arg, xasprintf("--max-overhead %g%%: a probed call costs %.1f us here (measured at "
				   "the start); probes %s; estimated slowdown %.1f%% (the busiest "
				   "thread's time in probed calls)",
				   100 * sampler_stat_value(&s->res, STAT_BUDGET),
				   sampler_stat_value(&s->res, STAT_CALL_NS) / 1e3, where,
				   100 * sampler_stat_value(&s->res, STAT_SLOWDOWN)));
		free(where);
		return;
	}
	if (sampler_stat_find(&s->res, STAT_WINDOWS))
		say(arg, xasprintf("--duty: probes in place %.1f%% of the recording, in %.0f windows "
				   "of %.0f ms at random; values scaled by the inverse",
				   100 * sampler_stat_value(&s->res, STAT_ARMED),
				   sampler_stat_value(&s->res, STAT_WINDOWS),
				   sampler_stat_value(&s->res, STAT_WINDOW_MS)));
}

static void say_links(const struct sampler *s, sampler_say_fn say, void *arg)
{
	if (sampler_stat_find(&s->res, STAT_LINKS))
		say(arg, xasprintf("probed through BPF uprobe links, one a process and file (%.0f "
				   "made): a window's breakpoints leave the process at once; "
				   "--no-bpf uses perf uprobe events, a set per thread",
				   sampler_stat_value(&s->res, STAT_LINKS)));
}

static void say_lost(const struct sampler *s, sampler_say_fn say, void *arg)
{
	say(arg, xasprintf("lost records: %.0f (perf ring full)",
			   sampler_stat_value(&s->res, STAT_LOST)));
}

/* What hfuncs_site() dropped, or that --allocator-frames kept it. */
static void say_sites(const struct sampler *s, sampler_say_fn say, void *arg, const char *what)
{
	if (s->opts.allocator_frames) {
		say(arg, xasprintf("--allocator-frames: stacks begin in %s", what));
		return;
	}
	say(arg, xasprintf("allocation sites are the leaves: %s dropped from the top of each "
			   "stack, %.0f frames from %.0f samples (%.0f past a wrapper); "
			   "--allocator-frames keeps them",
			   what, sampler_stat_value(&s->res, STAT_HIDDEN),
			   sampler_stat_value(&s->res, STAT_SAMPLES),
			   sampler_stat_value(&s->res, STAT_WRAPPED)));
}

static void heap_comments(const struct sampler *s, sampler_say_fn say, void *arg)
{
	bool inuse = s->opts.mode->flags & HEAP_INUSE;
	double in_process = sampler_stat_value(&s->res, STAT_IN_PROCESS);
	const char *by = s->opts.argv ? "which cprof preloaded into the command (and the processes "
					"it started)" : "which the process was started with (LD_PRELOAD)";

	say_windows(s, say, arg);
	if (in_process == 3)
		say(arg, xasprintf("%s: allocations made while cprof recorded%s, sampled by the process "
				   "itself: %s fires OpenTelemetry's otel_memory:alloc probe at each "
				   "allocation it samples (and otel_memory:free at a sampled block's free), "
				   "and only those are probed; each weighs what the probe says "
				   "(--rate is the sampler's, not cprof's), probed at %.0f site%s; "
				   "--no-preload probes every allocator call instead",
				   inuse ? "heap" : "allocs",
				   s->opts.argv ? "" : " (not those made before it attached)",
				   s->res.mode_text, sampler_stat_value(&s->res, STAT_PROBES),
				   sampler_stat_value(&s->res, STAT_PROBES) == 1 ? "" : "s"));
	else
		say(arg, xasprintf("%s: allocations made while cprof recorded%s, sampled by calls about "
				   "one per %llu bytes and scaled to estimates; %.0f allocator functions "
				   "probed", inuse ? "heap" : "allocs",
				   s->opts.argv ? "" : " (not those made before it attached)",
				   (unsigned long long)sampler_rate(&s->opts),
				   sampler_stat_value(&s->res, STAT_PROBES)));
	if (sampler_stat_value(&s->res, STAT_UNREADABLE) > 0)
		say(arg, xasprintf("%.0f sampled allocations dropped: their probe's arguments were in "
				   "memory the sample's stack copy did not hold",
				   sampler_stat_value(&s->res, STAT_UNREADABLE)));
	if (!inuse)
		say(arg, xasprintf("allocs: frees are not followed: inuse is 0 (see -t heap)"));
	if (in_process == 2) {
		char unread[128] = "";

		if (sampler_stat_value(&s->res, STAT_UNREAD) > 0)
			snprintf(unread, sizeof(unread), ", but %.0f samples' processes ended "
				 "unread: counted live", sampler_stat_value(&s->res, STAT_UNREAD));
		say(arg, xasprintf("sampled inside the process by libcprof-heap.so, %s: only a sampled "
				   "allocation traps into the kernel's probes; which sampled blocks are "
				   "still allocated is read from the library %sat the end (no free "
				   "traps)%s; --no-preload probes every call instead", by,
				   s->opts.argv ? "at each process's exit and " : "", unread));
	}
	else if (in_process == 1)
		say(arg, xasprintf("sampled inside the process by libcprof-heap.so, %s: only a sampled "
				   "allocation and its free trap into the kernel's probes; --no-preload "
				   "probes every call instead", by));
	else if (in_process < 0)
		say(arg, xasprintf("libcprof-heap.so was preloaded but every allocator call is "
				   "probed: %s", hfuncs_fallback_why(
					   (int)-sampler_stat_value(&s->res, STAT_IN_PROCESS))));
	say_sites(s, say, arg, in_process == 3 ?
		  "the sampler's frames (all of a library's; in a program, the function at the "
		  "probe and the allocator functions above it)" :
		  "the allocator's own frames (the function probed, and the "
		  "allocator functions above it, such as operator new)");
	say_links(s, say, arg);
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
	if (s->opts.mode->flags & HEAP_PAIR) {
		char *what = xasprintf("%.*s's frame", (int)len, fn);

		say_sites(s, say, arg, what);
		free(what);
	}
	say_links(s, say, arg);
	say_lost(s, say, arg);
}

static char *heap_summary(const struct sampler *s)
{
	double lost = sampler_stat_value(&s->res, STAT_LOST);
	double windows = sampler_stat_value(&s->res, STAT_WINDOWS);

	if (sampler_stat_find(&s->res, STAT_BUDGET)) {
		double slow = 100 * sampler_stat_value(&s->res, STAT_SLOWDOWN);
		double budget = 100 * sampler_stat_value(&s->res, STAT_BUDGET);

		if (!windows)
			return xasprintf("%.0f records lost, estimated slowdown %.1f%% (budget %g%%), "
					 "probes in all along%s", lost, slow, budget,
					 sampler_stat_find(&s->res, STAT_OVER) ? " until it stopped" : "");
		return xasprintf("%.0f records lost, estimated slowdown %.1f%% (budget %g%%), "
				 "probed %.1f%% of the time (%.0f windows)", lost, slow, budget,
				 100 * sampler_stat_value(&s->res, STAT_ARMED), windows);
	}
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
	.launch_env = launch_env_heap, .exit_stops = true, .thread_exiting = thread_exiting_heap,
};

const struct sample_mode allocs_mode = {
	PROBE_MODE, .period = PERIOD_BYTES, .comments = heap_comments,
	.launch_env = launch_env_heap,
};

const struct sample_mode pair_mode = {
	PROBE_MODE, .flags = HEAP_INUSE | HEAP_PAIR, .period = PERIOD_CALLS,
	.comments = probe_comments,
};

const struct sample_mode probe_mode = {
	PROBE_MODE, .period = PERIOD_CALLS, .comments = probe_comments,
};
