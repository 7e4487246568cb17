/*
 * attach/probecost.c - what one probed call costs the target on this
 * machine, measured on cprof's own thread (see probecost.h).
 *
 * Two functions of cprof's own text are probed as heap probes an
 * allocator's entry: a uprobe that records the registers and an 8 KiB
 * stack into a ring.  The first begins with a push, which the kernel
 * emulates; the second with a test, which it single-steps out of line.
 * Each is called CALLS times with the probe and without; the difference
 * over CALLS is a call's cost.  Placing a probe and taking it out again
 * is the kernel's work in the keeper and costs the target nothing.
 */
#define _GNU_SOURCE
#include "probecost.h"
#include "bpfprobe.h"
#include "perfev.h"
#include "uprobe.h"
#include "../lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* push/pop/ret: emulated; test/ret: single-stepped; nop/ret: a USDT
 * probe's site, emulated by recent kernels (6.18 here: 1.06 us against
 * push's 1.26 and test's 12.8), single-stepped by older ones */
__asm__(".text\n"
	".globl cprof_probecost_emul\n"
	".type cprof_probecost_emul,@function\n"
	"cprof_probecost_emul:\n"
	"\tpush %rbp\n"
	"\tpop %rbp\n"
	"\tret\n"
	".size cprof_probecost_emul, .-cprof_probecost_emul\n"
	".globl cprof_probecost_nop\n"
	".type cprof_probecost_nop,@function\n"
	"cprof_probecost_nop:\n"
	"\tnop\n"
	"\tret\n"
	".size cprof_probecost_nop, .-cprof_probecost_nop\n"
	".globl cprof_probecost_step\n"
	".type cprof_probecost_step,@function\n"
	"cprof_probecost_step:\n"
	"\ttest %rdi,%rdi\n"
	"\tret\n"
	".size cprof_probecost_step, .-cprof_probecost_step\n");
void cprof_probecost_emul(void);
void cprof_probecost_step(void);
void cprof_probecost_nop(void);

#define CALLS 200	/* records of ~8.4 KiB: they fit the 2 MiB ring */
#define RING_ORDER 9

/* The file offset of an address of cprof's text, from /proc/self/maps. */
static int text_offset(uintptr_t addr, uint64_t *off)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int ret = -1;

	if (!f)
		return -1;
	while (ret && fgets(line, sizeof(line), f)) {
		uint64_t start, end, offset;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %" SCNx64, &start, &end, &offset) == 3 &&
		    addr >= start && addr < end) {
			*off = addr - start + offset;
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

static void count_record(void *arg, const unsigned char *d, size_t len)
{
	(void)d, (void)len;
	++*(size_t *)arg;
}

static uint64_t time_calls(void (*fn)(void))
{
	uint64_t t0 = now_ns();

	for (int i = 0; i < CALLS; i++) {
		fn();
		__asm__ volatile("" ::: "memory");
	}
	return now_ns() - t0;
}

/* One function's cost per probed call (ns), or 0 when it cannot be told. */
static double measure(struct keeper *k, const char *exe, void (*fn)(void))
{
	struct uprobe_attr a = { .path = exe, .regs = PERF_REGS_ALL, .stack = 8192 };
	struct perf_ring ring;
	uint64_t bare = UINT64_MAX, probed = UINT64_MAX;
	size_t records = 0;
	uint64_t lost;
	int fd, kfd = -1;

	if (text_offset((uintptr_t)fn, &a.offset))
		return 0;
	fd = uprobe_open(&a, gettid(), -1, k, &kfd);
	if (fd < 0)
		return 0;
	if (perf_ring_map(&ring, fd, RING_ORDER)) {
		keeper_close(k, &fd, &kfd, 1);
		return 0;
	}
	/* the best of three of each: what the machine costs, not its noise */
	for (int r = 0; r < 3; r++) {
		uint64_t t = time_calls(fn);

		probed = t < probed ? t : probed;
		perf_ring_read(&ring, count_record, &records);
	}
	lost = ring.lost;
	perf_ring_unmap(&ring);
	keeper_close(k, &fd, &kfd, 1);
	for (int r = 0; r < 3; r++) {
		uint64_t t = time_calls(fn);

		bare = t < bare ? t : bare;
	}
	/* every call trapped and was recorded, or the time says nothing */
	if (records != 3 * CALLS || lost) {
		debug("probecost: %zu records of %d calls, %llu lost", records, 3 * CALLS,
		      (unsigned long long)lost);
		return 0;
	}
	return probed > bare ? (double)(probed - bare) / CALLS : 0;
}

/*
 * The same through a BPF link (bpfprobe.h) on this process: a call that
 * is counted and not sampled (each counts 1 byte of the link's rate).
 */
#define BPF_KEY 0x7ffffff0U

static void drop_record(void *arg, pid_t tid, const unsigned char *d, size_t len)
{
	(void)arg, (void)tid, (void)d, (void)len;
}

static double measure_bpf(struct keeper *k, struct bpfprobe *b, const char *exe,
			  void (*fn)(void))
{
	uint64_t bare = UINT64_MAX, probed = UINT64_MAX, off, id = bpfprobe_id(BPF_KEY, -1, -1, 1);
	uint64_t before, calls, lost;
	int fd, kfd = -1;

	if (text_offset((uintptr_t)fn, &off))
		return 0;
	bpfprobe_refresh(b);
	before = bpfprobe_count(b, gettid(), BPF_KEY);
	fd = bpfprobe_link(b, k, exe, getpid(), &off, &id, 1, &kfd);
	if (fd < 0)
		return 0;
	bpfprobe_arm(b, true);
	/* (its records, every call's at --every 1, are not the target's:
	 * read and dropped after each round, before they fill a ring) */
	lost = b->lost;
	for (int r = 0; r < 3; r++) {
		uint64_t t = time_calls(fn);

		probed = t < probed ? t : probed;
		bpfprobe_drain(b, drop_record, NULL);
	}
	bpfprobe_arm(b, false);
	keeper_close(k, &fd, &kfd, 1);
	/* the keeper closes it on its own time: out before the bare calls */
	for (uint64_t t0 = now_ns(); keeper_closed(k) < keeper_asked(k);) {
		if (now_ns() - t0 > 2000000000ULL)
			return 0;
		usleep(1000);
	}
	for (int r = 0; r < 3; r++) {
		uint64_t t = time_calls(fn);

		bare = t < bare ? t : bare;
	}
	bpfprobe_refresh(b);
	calls = bpfprobe_count(b, gettid(), BPF_KEY) - before;
	bpfprobe_drain(b, drop_record, NULL);
	b->lost = lost;
	bpfprobe_forget(b, gettid(), BPF_KEY);
	bpfprobe_forget(b, gettid(), BPFPROBE_SAMPLED(BPF_KEY));
	if (calls != 3 * CALLS) {
		debug("probecost: %llu of %d calls counted by the link", (unsigned long long)calls,
		      3 * CALLS);
		return 0;
	}
	return probed > bare ? (double)(probed - bare) / CALLS : 0;
}

/* One function's cost, through b's links, else perf uprobe events. */
static double measure_one(struct keeper *k, struct bpfprobe *b, const char *exe,
			  void (*fn)(void))
{
	return b ? measure_bpf(k, b, exe, fn) : measure(k, exe, fn);
}

struct selftest {
	pid_t tid;
};

static void *selftest_thread(void *arg)
{
	struct selftest *st = arg;

	st->tid = gettid();
	for (int i = 0; i < 10; i++) {
		cprof_probecost_emul();
		__asm__ volatile("" ::: "memory");
	}
	return NULL;
}

bool probecost_bpf_threads(struct keeper *k, struct bpfprobe *b)
{
	char exe[64];
	uint64_t off, id = bpfprobe_id(BPF_KEY, -1, -1, 1), calls;
	struct selftest st = { 0 };
	pthread_t th;
	int fd, kfd = -1;
	bool ok;

	snprintf(exe, sizeof(exe), "/proc/%d/exe", getpid());
	if (text_offset((uintptr_t)cprof_probecost_emul, &off))
		return false;
	fd = bpfprobe_link(b, k, exe, getpid(), &off, &id, 1, &kfd);
	if (fd < 0)
		return false;
	bpfprobe_arm(b, true);
	ok = !pthread_create(&th, NULL, selftest_thread, &st) && !pthread_join(th, NULL);
	bpfprobe_arm(b, false);
	keeper_close(k, &fd, &kfd, 1);
	bpfprobe_drain(b, drop_record, NULL);	/* (--every 1 records each call) */
	bpfprobe_refresh(b);
	calls = ok ? bpfprobe_count(b, st.tid, BPF_KEY) : 0;
	bpfprobe_forget(b, st.tid, BPF_KEY);
	bpfprobe_forget(b, st.tid, BPFPROBE_SAMPLED(BPF_KEY));
	debug("bpfprobe: a thread other than the main one: %llu of 10 calls counted",
	      (unsigned long long)calls);
	return calls == 10;
}

int probecost_measure(struct keeper *k, struct probecost *c)
{
	return probecost_measure_with(k, NULL, c);
}

int probecost_measure_with(struct keeper *k, struct bpfprobe *b, struct probecost *c)
{
	char exe[64];

	snprintf(exe, sizeof(exe), "/proc/%d/exe", getpid());
	*c = (struct probecost){ 0 };
	/* the median of three (one trial in a few dozen read a fifth of the
	 * others here), each retried once where not every call was recorded */
	double e[3] = { 0, 0, 0 }, t;

	for (int i = 0; i < 3; i++)
		for (int r = 0; r < 2 && !(e[i] > 0); r++)
			e[i] = measure_one(k, b, exe, cprof_probecost_emul);
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (e[j] < e[i]) {
				t = e[i];
				e[i] = e[j];
				e[j] = t;
			}
	c->emulated_ns = e[0] > 0 ? e[1] : 0;
	for (int i = 0; i < 2 && !(c->stepped_ns > 0); i++)
		c->stepped_ns = measure_one(k, b, exe, cprof_probecost_step);
	if (!(c->emulated_ns > 0) || !(c->stepped_ns > 0))
		return -1;
	if (c->stepped_ns < c->emulated_ns)
		c->stepped_ns = c->emulated_ns;
	for (int i = 0; i < 2 && !(c->nop_ns > 0); i++)
		c->nop_ns = measure_one(k, b, exe, cprof_probecost_nop);
	/* (unmeasured: priced as stepped; a noisy low one as emulated) */
	if (!(c->nop_ns > 0))
		c->nop_ns = c->stepped_ns;
	else if (c->nop_ns < c->emulated_ns)
		c->nop_ns = c->emulated_ns;
	debug("probecost: a probed call costs %.2f us (emulated), %.2f us (single-stepped), "
	      "%.2f us at a nop%s", c->emulated_ns / 1e3, c->stepped_ns / 1e3, c->nop_ns / 1e3,
	      b ? " (through a BPF link)" : "");
	return 0;
}

/*
 * The kernel emulates push (50+r, 41 50+r), and for a probe that records
 * nothing else this is the cheap case; a nop (90, 66 90, 0f 1f, 66 0f 1f:
 * not f3 90, pause) costs what was measured at one; anything else is
 * taken as stepped.
 */
bool probecost_emulated(const unsigned char *insn, size_t len)
{
	if (len >= 1 && (insn[0] & 0xf8) == 0x50)
		return true;
	return len >= 2 && insn[0] == 0x41 && (insn[1] & 0xf8) == 0x50;
}

static bool is_nop(const unsigned char *insn, size_t len)
{
	if (len >= 1 && insn[0] == 0x66) {
		insn++;
		len--;
	}
	return (len >= 1 && insn[0] == 0x90) || (len >= 2 && insn[0] == 0x0f && insn[1] == 0x1f);
}

double probecost_of(const struct probecost *c, const unsigned char *insn, size_t len)
{
	if (probecost_emulated(insn, len))
		return c->emulated_ns;
	return is_nop(insn, len) ? c->nop_ns : c->stepped_ns;
}
