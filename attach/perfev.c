/*
 * attach/perfev.c - the perf-event engine: each thread's events write into
 * one ring, read on the tracer thread; the --duty window schedule.
 */
#define _GNU_SOURCE
#include "perfev.h"
#include "capture.h"
#include "../lib/util.h"
#include "../symbolize/maps.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- one ring buffer ---- */

int perf_ring_map(struct perf_ring *r, int fd, unsigned order)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	*r = (struct perf_ring){ .fd = fd, .size = page << order };
	r->base = mmap(NULL, page + r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->base == MAP_FAILED) {
		r->base = NULL;
		return -errno;
	}
	return 0;
}

void perf_ring_unmap(struct perf_ring *r)
{
	if (r->base)
		munmap(r->base, (size_t)sysconf(_SC_PAGESIZE) + r->size);
	free(r->tmp);
	r->base = NULL;
	r->tmp = NULL;
}

int perf_ring_redirect(const struct perf_ring *r, int fd)
{
	return ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, r->fd) < 0 ? -errno : 0;
}

uint64_t perf_event_id(int fd)
{
	uint64_t id = 0;

	if (ioctl(fd, PERF_EVENT_IOC_ID, &id) < 0)
		return 0;
	return id;
}

size_t perf_ring_read(struct perf_ring *r, perf_record_fn *fn, void *arg)
{
	struct perf_event_mmap_page *mp = r->base;
	unsigned char *data;
	uint64_t head, tail;
	size_t seen = 0, page = (size_t)sysconf(_SC_PAGESIZE);

	if (!mp)
		return 0;
	data = (unsigned char *)r->base + page;
	head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE);
	tail = mp->data_tail;
	r->fill = (size_t)(head - tail);
	while (tail < head) {
		struct perf_event_header h;
		size_t at = tail & (r->size - 1);
		const unsigned char *rec;

		/* a header never wraps: records are 8-byte aligned */
		memcpy(&h, data + at, sizeof(h));
		if (h.size < sizeof(h) || tail + h.size > head)
			break;
		if (at + h.size <= r->size) {
			rec = data + at;
		} else {
			/* wraps around the end: copy it whole */
			size_t first = r->size - at;

			if (!r->tmp)
				r->tmp = xmalloc(65536);
			memcpy(r->tmp, data + at, first);
			memcpy(r->tmp + first, data, h.size - first);
			rec = r->tmp;
		}
		if (h.type == PERF_RECORD_SAMPLE) {
			fn(arg, rec + sizeof(h), h.size - sizeof(h));
			seen++;
		} else if (h.type == PERF_RECORD_LOST) {
			uint64_t lost[2];

			memcpy(lost, rec + sizeof(h), sizeof(lost));
			r->lost += lost[1];
		}
		tail += h.size;
	}
	__atomic_store_n(&mp->data_tail, tail, __ATOMIC_RELEASE);
	return seen;
}

/* ---- samples as captures ---- */

void perf_sample_capture(struct capture *c, const uint64_t *r,
			 const unsigned char *stack, uint64_t len,
			 const struct maps *m)
{
	const struct mapping *mp;
	uint64_t mask = PERF_REGS_ALL;

	memset(&c->regs, 0, sizeof(c->regs));
	c->regs.rax = perf_reg(r, mask, PR_AX);
	c->regs.rbx = perf_reg(r, mask, PR_BX);
	c->regs.rcx = perf_reg(r, mask, PR_CX);
	c->regs.rdx = perf_reg(r, mask, PR_DX);
	c->regs.rsi = perf_reg(r, mask, PR_SI);
	c->regs.rdi = perf_reg(r, mask, PR_DI);
	c->regs.rbp = perf_reg(r, mask, PR_BP);
	c->regs.rsp = perf_reg(r, mask, PR_SP);
	c->regs.rip = perf_reg(r, mask, PR_IP);
	c->regs.eflags = perf_reg(r, mask, PR_FLAGS);
	c->regs.cs = perf_reg(r, mask, PR_CS);
	c->regs.ss = perf_reg(r, mask, PR_SS);
	c->regs.r8 = perf_reg(r, mask, PR_R8);
	c->regs.r9 = perf_reg(r, mask, PR_R9);
	c->regs.r10 = perf_reg(r, mask, PR_R10);
	c->regs.r11 = perf_reg(r, mask, PR_R11);
	c->regs.r12 = perf_reg(r, mask, PR_R12);
	c->regs.r13 = perf_reg(r, mask, PR_R13);
	c->regs.r14 = perf_reg(r, mask, PR_R14);
	c->regs.r15 = perf_reg(r, mask, PR_R15);
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

/* ---- the engine ---- */

void perfev_init(struct perfev *e, unsigned ring_order)
{
	*e = (struct perfev){ .ring_order = ring_order };
	keeper_start(&e->keeper);
}

int perfev_finish(struct perfev *e, int timeout_ms)
{
	return keeper_finish(&e->keeper, timeout_ms);
}

int perfev_thread_add(struct perfev *e, struct perfev_thread *pt, int fd, int kfd)
{
	return perfev_thread_add_key(e, pt, fd, kfd, 0);
}

int perfev_thread_add_key(struct perfev *e, struct perfev_thread *pt, int fd, int kfd,
			  uint32_t key)
{
	GROW(pt->fds, pt->fds_alloc, pt->nfds + 1);
	/* kfds and keys grow with fds: the same count */
	pt->kfds = xrealloc(pt->kfds, pt->fds_alloc * sizeof(*pt->kfds));
	pt->keys = xrealloc(pt->keys, pt->fds_alloc * sizeof(*pt->keys));
	pt->fds[pt->nfds] = fd;
	pt->keys[pt->nfds] = key;
	pt->kfds[pt->nfds++] = kfd;
	pt->open = true;
	/* one ring a thread keeps its records in the order they happened */
	if (pt->nfds == 1)
		return perf_ring_map(&pt->ring, fd, e->ring_order);
	return perf_ring_redirect(&pt->ring, fd);
}

int perfev_thread_group(const struct perfev_thread *pt)
{
	return pt->nfds > pt->leader ? pt->kfds[pt->leader] : -1;
}

void perfev_thread_keep(struct perfev_thread *pt)
{
	pt->nkeep = pt->nfds;
}

void perfev_thread_window(struct perfev_thread *pt)
{
	pt->leader = pt->nfds;
}

void perfev_thread_count(struct perfev_thread *pt, bool on)
{
	if (pt->open && pt->nfds > pt->leader)
		ioctl(pt->fds[pt->leader], on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0);
}

size_t perfev_thread_read_group(struct perfev_thread *pt, uint64_t *buf, size_t size)
{
	ssize_t got;

	if (!pt->open || pt->nfds <= pt->leader)
		return 0;
	got = read(pt->fds[pt->leader], buf, size);
	return got > 0 ? (size_t)got : 0;
}

size_t perfev_thread_drain(struct perfev *e, struct perfev_thread *pt,
			   perf_record_fn *fn, void *arg)
{
	uint64_t lost = pt->ring.lost;
	size_t n;

	if (!pt->open)
		return 0;
	n = perf_ring_read(&pt->ring, fn, arg);
	e->records += n;
	e->lost += pt->ring.lost - lost;
	return n;
}

/* nothing open any more: the arrays go */
static void perfev_thread_forget(struct perfev_thread *pt)
{
	free(pt->fds);
	free(pt->kfds);
	free(pt->keys);
	pt->fds = pt->kfds = NULL;
	pt->keys = NULL;
	pt->nfds = pt->fds_alloc = pt->nkeep = pt->leader = 0;
	pt->open = false;
}

void perfev_thread_close(struct perfev *e, struct perfev_thread *pt)
{
	if (!pt->open)
		return;
	perf_ring_unmap(&pt->ring);
	keeper_close(&e->keeper, pt->fds, pt->kfds, pt->nfds);
	perfev_thread_forget(pt);
}

bool perfev_thread_leave(struct perfev_thread *pt, struct perfev_batch *b, bool all)
{
	size_t from;

	if (!pt->open)
		return false;
	from = all ? 0 : pt->nkeep;
	GROW(b->v, b->alloc, b->n + pt->nfds - from);
	for (size_t i = from; i < pt->nfds; i++, b->n++)
		b->v[b->n] = (struct perfev_closing){ .fd = pt->fds[i], .kfd = pt->kfds[i],
						      .key = pt->keys[i], .seq = b->n };
	if (from == 0) {
		/* the ring goes first: its mapping holds the first event */
		perf_ring_unmap(&pt->ring);
		perfev_thread_forget(pt);
		return false;
	}
	pt->nfds = pt->leader = pt->nkeep;
	return true;
}

struct heat {
	const double *v;
	size_t n;
};

static int closing_cmp(const void *a, const void *b, void *arg)
{
	const struct perfev_closing *x = a, *y = b;
	const struct heat *h = arg;
	double hx = x->key < h->n ? h->v[x->key] : -1;
	double hy = y->key < h->n ? h->v[y->key] : -1;

	if (hx != hy)
		return hx > hy ? -1 : 1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void perfev_batch_close(struct perfev *e, struct perfev_batch *b, const double *heat,
			uint64_t *mark, size_t nheat)
{
	struct heat h = { heat, nheat };
	int *fds, *kfds;

	memset(mark, 0, nheat * sizeof(*mark));
	if (!b->n)
		return;
	qsort_r(b->v, b->n, sizeof(*b->v), closing_cmp, &h);
	fds = xmalloc(b->n * sizeof(*fds));
	kfds = xmalloc(b->n * sizeof(*kfds));
	for (size_t i = 0; i < b->n; i++) {
		fds[i] = b->v[i].fd;
		kfds[i] = b->v[i].kfd;
		if (b->v[i].key < nheat)
			mark[b->v[i].key] = keeper_asked(&e->keeper) + i + 1;
	}
	keeper_close(&e->keeper, fds, kfds, b->n);
	free(fds);
	free(kfds);
	b->n = 0;
}

/* ---- --duty windows ---- */

static double uniform(struct perfev_windows *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return ((double)(w->rng >> 11) + 0.5) / 9007199254740992.0;
}

static uint64_t pause_ns(struct perfev_windows *w)
{
	return (uint64_t)((0.5 + uniform(w)) * (double)w->window_ns *
			  (1 - w->duty) / w->duty);
}

void perfev_windows_start(struct perfev_windows *w, double duty, uint64_t seed,
			  uint64_t now, uint64_t window_ns)
{
	*w = (struct perfev_windows){ .duty = duty, .rng = seed ? seed : 1,
				      .started = now,
				      .window_ns = window_ns ? window_ns : PERFEV_WINDOW_NS };
	w->on = uniform(w) < duty;
	if (w->on) {
		w->on_since = now;
		w->switch_at = now + (uint64_t)(uniform(w) * (double)w->window_ns);
		w->n = 1;
	} else {
		w->switch_at = now + (uint64_t)(uniform(w) * (double)pause_ns(w));
	}
}

void perfev_windows_off(struct perfev_windows *w, uint64_t now)
{
	w->on = false;
	w->on_ns += now - w->on_since;
	w->switch_at = now + pause_ns(w);
}

void perfev_windows_on(struct perfev_windows *w)
{
	w->on = true;
	w->n++;
	w->switch_at = UINT64_MAX;	/* from when its events are in place */
}

void perfev_windows_placed(struct perfev_windows *w, uint64_t t)
{
	w->on_since = t;
	if (w->switch_at == UINT64_MAX)
		w->switch_at = t + w->window_ns;
}

double perfev_windows_share(struct perfev_windows *w, uint64_t now)
{
	if (w->on)
		w->on_ns += now - w->on_since;
	w->on = false;
	return now > w->started ? (double)w->on_ns / (double)(now - w->started) : 0;
}
