/*
 * attach/cpuclock.c - the kernel's cpu sampler (see cpuclock.h).
 *
 * Why (issue 24's measurements, this VM): a ptrace interrupt takes effect
 * at the thread's next return to user space, so a thread that makes
 * system calls is sampled where it returns from one, not where the tick
 * found it: a busy redis-server's profile was 50 points (half the sum of
 * absolute differences of flat shares) from perf's, and calib making
 * ~2600 clock_gettime calls a second showed 4-6.6% outside its three
 * functions where the truth is 0.3%.  Every tick was also a stop (p50
 * 81-332 us, p99 up to 5.5 ms).
 *
 * The cpu-clock event, opened on a thread (pid = tid) with a fixed period
 * of 1e9/HZ ns of that thread's cpu time, fires an hrtimer only while the
 * thread runs and keeps the rest of a period across context switches, so
 * each sample is where the thread was at its tick.  It copies the user
 * registers and the top of the user stack (PERF_SAMPLE_REGS_USER,
 * PERF_SAMPLE_STACK_USER) into a ring: what a stop's capture holds, and
 * the same unwinder reads it.  A tick inside a system call gives the user
 * registers saved at its entry: the code that made the call, as perf's
 * first user frame and Go's profiles show it.
 *
 * Weights are exact: each record carries its event's count (ns of the
 * thread's cpu, PERF_SAMPLE_READ), and a sample weighs the count since
 * the previous record of the same event.  A record the ring had no room
 * for is counted (PERF_RECORD_LOST) and its time goes to the next record
 * of that event, so the profile's total stays the cpu the target used.
 * Without the privilege to sample the kernel (perf_event_paranoid >= 2
 * and no CAP_PERFMON), exclude_kernel drops the ticks that land in a
 * system call: a sample then weighs one period at most, and the rest of
 * the time is its thread's "[not sampled]".
 *
 * Rings are per cpu, not per thread: one thread runs on a cpu at a time,
 * so a cpu's ring receives at most HZ records a second whatever the
 * number of threads (a 1000-thread server costs 1000 x ncpus events but
 * ncpus rings; a ring per thread, as attach/perfev.c keeps for uprobes,
 * would lock 2 MiB per thread).  A per-task event may write into another
 * event's ring only if both are bound to the same cpu (the kernel's
 * perf_event_set_output), so each thread gets one event per cpu, and
 * each cpu's ring is owned by a dummy event on cprof's tracer thread.
 * The events die with their fds: a killed cprof leaves nothing behind.
 */
#define _GNU_SOURCE
#include "cpuclock.h"
#include "capture.h"
#include "perfev.h"
#include "sampler.h"
#include "unwind.h"
#include "../lib/stack.h"
#include "../lib/util.h"
#include "../profiles/builder.h"
#include "../symbolize/maps.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RING_ORDER 9		/* 2 MiB a cpu: ~60 records of 32 KiB stacks */
#define KERNEL_ADDR 0xffff800000000000ULL
#define NAME_REFRESH_NS 1000000000ULL

const char CPUCLOCK_IN_KERNEL[] = "samples in a system call",
	CPUCLOCK_LOST[] = "lost records", CPUCLOCK_USER_ONLY[] = "user only",
	CPUCLOCK_UNSAMPLED[] = "unsampled ns";

/* A thread's events, one per cpu (th->mode_data; kept to the end). */
struct kthread {
	struct thread *th;
	int *fd;		/* by cpu; -1 closed */
	uint64_t *last;		/* the count at the last record read */
	uint64_t *final;	/* ... and when the thread was gone */
	uint64_t unsampled_ns;	/* time no sample shows */
	bool gone;
};

struct kevent {
	struct kthread *kt;
	unsigned cpu;
};

struct cpuclock {
	struct sampler *s;
	unsigned ncpus;
	int *cpu;		/* cpu numbers */
	int *ring_fd;		/* the dummy events owning the rings */
	struct perf_ring *ring;
	struct perf_event_attr attr;
	struct kthread **threads;
	size_t nthreads, threads_alloc;
	struct kevent *evs;
	size_t nevs, evs_alloc;
	struct u64map ids;	/* event id -> evs[] */
	struct capture cap;
	struct unwinder *u;
	uint64_t *pcs;
	uint64_t period, records, in_kernel;
	bool user_only;		/* exclude_kernel: not permitted to sample it */
	bool failed;		/* a thread's events could not be opened */
};

static int perf_open(struct perf_event_attr *a, pid_t pid, int cpu)
{
	long fd = syscall(SYS_perf_event_open, a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);

	return fd < 0 ? -errno : (int)fd;
}

/* The cpus a task may run on (an offline one refuses its event). */
static unsigned online_cpus(int **out)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);
	unsigned k = 0;

	if (n < 1)
		n = 1;
	*out = xcalloc((size_t)n, sizeof(**out));
	for (long c = 0; c < n; c++) {
		char path[64], buf[8];

		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%ld/online", c);
		if (c && read_file(path, buf, sizeof(buf)) > 0 && buf[0] == '0')
			continue;
		(*out)[k++] = (int)c;
	}
	return k;
}

const char *cpuclock_refused_why(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
		return "not permitted (perf_event_paranoid, seccomp or a container; "
		       "root or CAP_PERFMON grants it)";
	case ENOSYS:
		return "no perf_event_open in this kernel or sandbox";
	case ENOENT:
	case ENODEV:
	case EOPNOTSUPP:
		return "no cpu-clock event here";
	case EMFILE:
	case ENFILE:
		return "out of file descriptors (one per thread and cpu: raise ulimit -n)";
	default:
		return strerror(err);
	}
}

static void kthread_close(struct cpuclock *k, struct kthread *kt)
{
	for (unsigned c = 0; c < k->ncpus; c++)
		if (kt->fd[c] >= 0) {
			close(kt->fd[c]);
			kt->fd[c] = -1;
		}
}

int cpuclock_thread_new(struct cpuclock *k, struct thread *th)
{
	struct kthread *kt = xcalloc(1, sizeof(*kt));
	int ret = 0;

	kt->th = th;
	kt->fd = xmalloc(k->ncpus * sizeof(*kt->fd));
	kt->last = xcalloc(k->ncpus, sizeof(*kt->last));
	kt->final = xcalloc(k->ncpus, sizeof(*kt->final));
	for (unsigned c = 0; c < k->ncpus; c++)
		kt->fd[c] = -1;
	GROW(k->threads, k->threads_alloc, k->nthreads + 1);
	k->threads[k->nthreads++] = kt;
	th->mode_data = kt;
	for (unsigned c = 0; c < k->ncpus && !ret; c++) {
		int fd = perf_open(&k->attr, th->tid, k->cpu[c]);
		bool added;

		if (fd < 0) {
			ret = fd;
			break;
		}
		kt->fd[c] = fd;
		if (perf_ring_redirect(&k->ring[c], fd) ||
		    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) < 0) {
			ret = -errno;
			break;
		}
		GROW(k->evs, k->evs_alloc, k->nevs + 1);
		k->evs[k->nevs] = (struct kevent){ .kt = kt, .cpu = c };
		u64map_put(&k->ids, perf_event_id(fd), 0, k->nevs++, &added);
	}
	if (ret) {
		kthread_close(k, kt);
		kt->gone = true;
		th->mode_data = NULL;
		if (ret != -ESRCH && !k->failed) {
			k->failed = true;
			error("cpu: thread %d: perf_event_open(cpu-clock): %s: its cpu is not sampled",
			      th->tid, cpuclock_refused_why(-ret));
		}
	}
	return ret;
}

void cpuclock_free(struct cpuclock *k)
{
	struct sampler *s = k->s;
	uint64_t lost = 0;

	for (size_t i = 0; i < k->nthreads; i++) {
		struct kthread *kt = k->threads[i];

		kthread_close(k, kt);
		if (kt->th && kt->th->mode_data == kt)
			kt->th->mode_data = NULL;
		free(kt->fd);
		free(kt->last);
		free(kt->final);
		free(kt);
	}
	for (unsigned c = 0; c < k->ncpus; c++) {
		lost += k->ring[c].lost;
		perf_ring_unmap(&k->ring[c]);
		if (k->ring_fd[c] >= 0)
			close(k->ring_fd[c]);
	}
	if (s) {
		*sampler_stat(&s->res, CPUCLOCK_LOST) = (double)lost;
		*sampler_stat(&s->res, CPUCLOCK_IN_KERNEL) = (double)k->in_kernel;
		*sampler_stat(&s->res, CPUCLOCK_USER_ONLY) = k->user_only;
		debug("cpu: kernel sampler: %llu records, %llu lost, %zu threads",
		      (unsigned long long)k->records, (unsigned long long)lost, k->nthreads);
	}
	free(k->threads);
	free(k->evs);
	free(k->ring);
	free(k->ring_fd);
	free(k->cpu);
	u64map_release(&k->ids);
	capture_release(&k->cap);
	free(k);
}

/* May this process sample the kernel's side too?  Try it on the target. */
static int probe_kernel(struct cpuclock *k, pid_t pid)
{
	struct perf_event_attr a = k->attr;
	int fd = perf_open(&a, pid, k->cpu[0]);

	if (fd == -EACCES || fd == -EPERM) {
		k->attr.exclude_kernel = 1;
		k->user_only = true;
		a = k->attr;
		fd = perf_open(&a, pid, k->cpu[0]);
	}
	if (fd >= 0)
		close(fd);
	return fd == -ESRCH ? 0 : fd < 0 ? fd : 0;
}

int cpuclock_start(struct sampler *s, struct cpuclock **out)
{
	struct cpuclock *k = xcalloc(1, sizeof(*k));
	struct perf_event_attr dummy = {
		.size = sizeof(dummy), .type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_DUMMY, .exclude_kernel = 1, .exclude_hv = 1,
	};
	size_t stack = s->opts.stack_size < CPUCLOCK_STACK_MAX ? s->opts.stack_size : CPUCLOCK_STACK_MAX;
	struct target *t = &s->target;
	struct rlimit rl;
	int ret = 0;

	/* one event per thread and cpu: fds run out fast */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	k->period = 1000000000ULL / s->opts.hz;
	k->attr = (struct perf_event_attr){
		.size = sizeof(k->attr), .type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_CPU_CLOCK, .sample_period = k->period,
		.sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP |
			       PERF_SAMPLE_TID | PERF_SAMPLE_READ |
			       PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER,
		.sample_regs_user = PERF_REGS_ALL,
		.sample_stack_user = (uint32_t)(stack & ~7UL),
		.disabled = 1, .exclude_hv = 1,
		/* never inherited: a thread born later gets its own, in its
		 * first stop, before it runs (thread_new) */
		.inherit = 0,
	};
	capture_init(&k->cap, stack & ~7UL);
	k->ncpus = online_cpus(&k->cpu);
	k->ring_fd = xmalloc(k->ncpus * sizeof(*k->ring_fd));
	k->ring = xcalloc(k->ncpus, sizeof(*k->ring));
	for (unsigned c = 0; c < k->ncpus; c++)
		k->ring_fd[c] = -1;
	for (unsigned c = 0; c < k->ncpus && !ret; c++) {
		/* the ring's owner: an event on this thread that counts nothing */
		int fd = perf_open(&dummy, 0, k->cpu[c]);

		if (fd < 0) {
			ret = fd;
			break;
		}
		k->ring_fd[c] = fd;
		/* less where locked memory is short (perf_event_mlock_kb) */
		for (unsigned order = RING_ORDER; order >= 4; order--) {
			ret = perf_ring_map(&k->ring[c], fd, order);
			if (ret != -EPERM && ret != -ENOMEM)
				break;
		}
	}
	if (!ret)
		ret = probe_kernel(k, t->pid);
	for (size_t i = 0; i < t->nthreads && !ret; i++) {
		struct thread *th = t->threads[i];

		if (th->state == THREAD_GONE)
			continue;
		ret = cpuclock_thread_new(k, th);
		if (ret == -ESRCH)
			ret = 0;	/* exited meanwhile */
	}
	if (ret) {
		cpuclock_free(k);
		return ret;
	}
	k->s = s;
	*out = k;
	return 0;
}

/* One record: unwind it and add it to its thread's samples. */
static void on_record(void *arg, const unsigned char *d, size_t len)
{
	struct cpuclock *k = arg;
	struct sampler *s = k->s;
	const size_t nregs = (size_t)__builtin_popcountll(PERF_REGS_ALL);
	uint64_t id, ip, count, abi, size, dyn = 0, w, *ix, rv[64];
	const unsigned char *stack;
	struct kthread *kt;
	struct thread *th;
	struct maps *m;
	int64_t values[2];
	unsigned cpu;
	size_t n, at;

	/* id, ip, pid/tid, the count, abi: 40 bytes */
	if (len < 40)
		return;
	memcpy(&id, d, 8);
	memcpy(&ip, d + 8, 8);
	memcpy(&count, d + 24, 8);
	memcpy(&abi, d + 32, 8);
	ix = u64map_find(&k->ids, id, 0);
	if (!ix)
		return;
	kt = k->evs[*ix].kt;
	cpu = k->evs[*ix].cpu;
	w = count > kt->last[cpu] ? count - kt->last[cpu] : 0;
	if (count > kt->last[cpu])
		kt->last[cpu] = count;
	k->records++;
	if (k->user_only && w > k->period) {
		kt->unsampled_ns += w - k->period;	/* ticks in the kernel */
		w = k->period;
	}
	at = 40;
	if (abi != PERF_SAMPLE_REGS_ABI_64 || len < at + 8 * nregs + 8) {
		kt->unsampled_ns += w;	/* no user registers */
		return;
	}
	memcpy(rv, d + at, 8 * nregs);
	at += 8 * nregs;
	memcpy(&size, d + at, 8);
	at += 8;
	stack = d + at;
	if (len < at + size + (size ? 8 : 0)) {
		kt->unsampled_ns += w;
		return;
	}
	if (size)
		memcpy(&dyn, stack + size, 8);
	if (dyn > size)
		dyn = size;
	th = kt->th;
	if (ip >= KERNEL_ADDR)
		k->in_kernel++;
	m = thread_maps(&s->target, th);
	perf_sample_capture(&k->cap, rv, stack, dyn, m);
	if (!k->cap.stack_map_end)
		m->dirty = true;	/* a stack not seen mapped: reread */
	n = unwinder_unwind(k->u, &k->cap, k->pcs, s->opts.max_depth + 1);
	values[0] = 1;
	values[1] = (int64_t)w;
	if (!th->has_entry || now_ns() - th->name_read_ns > NAME_REFRESH_NS)
		target_refresh_name(&s->target, th);
	th->last_entry = pb_add_labeled(s->builder, th->tid, 0, m->epoch, k->pcs, n, values);
	th->has_entry = true;
	s->res.samples++;
}

/* The count of an event now. */
static uint64_t event_count(int fd)
{
	uint64_t v = 0;

	return read(fd, &v, sizeof(v)) == sizeof(v) ? v : 0;
}

void cpuclock_thread_gone(struct cpuclock *k, struct thread *th)
{
	struct kthread *kt = th->mode_data;

	if (!kt)
		return;
	for (unsigned c = 0; c < k->ncpus; c++) {
		if (kt->fd[c] < 0)
			continue;
		kt->final[c] = event_count(kt->fd[c]);
		close(kt->fd[c]);
		kt->fd[c] = -1;
	}
	kt->gone = true;
	th->mode_data = NULL;
}

/*
 * The end: the time each thread used after its last record (less than a
 * period an event) goes where the ptrace sampler's does (its last sample,
 * sampler_leftover_to_last); what no sample could show (ticks in the
 * kernel when only user space may be sampled, records without user
 * registers) to its "[not sampled]".
 */
static void finish(struct cpuclock *k)
{
	static const uint64_t none = PC_NOT_SAMPLED;
	struct sampler *s = k->s;
	uint64_t unsampled = 0;

	for (size_t i = 0; i < k->nthreads; i++) {
		struct kthread *kt = k->threads[i];
		struct thread *th = kt->th;
		uint64_t rest = 0;

		for (unsigned c = 0; c < k->ncpus; c++) {
			uint64_t v = kt->fd[c] >= 0 ? event_count(kt->fd[c]) :
				     kt->gone ? kt->final[c] : kt->last[c];

			if (v > kt->last[c]) {
				rest += v - kt->last[c];
				kt->last[c] = v;
			}
		}
		if (kt->unsampled_ns) {
			int64_t values[2] = { 0, (int64_t)kt->unsampled_ns };

			pb_add(s->builder, th->tid, thread_maps(&s->target, th)->epoch,
			       &none, 1, values);
			th->has_entry = true;
			unsampled += kt->unsampled_ns;
		}
		th->pending_ns += rest;
	}
	*sampler_stat(&s->res, CPUCLOCK_UNSAMPLED) = (double)unsampled;
}

void cpuclock_read(struct cpuclock *k, struct unwinder *u, uint64_t *pcs, bool last)
{
	k->u = u;
	k->pcs = pcs;
	for (unsigned c = 0; c < k->ncpus; c++)
		perf_ring_read(&k->ring[c], on_record, k);
	if (last)
		finish(k);
}
