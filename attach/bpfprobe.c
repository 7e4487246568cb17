/*
 * attach/bpfprobe.c - the BPF program behind whole-process entry probes
 * (bpfprobe.h), assembled here instruction by instruction: it is short,
 * and cprof then needs no BPF compiler to build nor an object loader to
 * run.  bpf(2) is called directly: Debian 12's libbpf (1.1) and kernel
 * headers (6.1) predate uprobe_multi links.
 *
 * What the program does at each call (ctx: the thread's struct pt_regs):
 *   counts[{tid, key}] += 1 (a hash map; the key is the cookie's low half)
 *   v = scratch[0] (per cpu): {pad, tid, cookie, abi, regs, size, stack, dyn}
 *   the stack from the sp: `stack` bytes, or if that faults (the stack's
 *   mapping ends sooner) as far as the end of the sp's next page, or of
 *   its own page, or nothing
 *   perf_event_output(v + 4) to this cpu's ring
 * A uprobe's program runs with migration off but may be preempted: another
 * thread on the cpu may then use the same buffer.  The record is dropped
 * where the buffer's tid or cookie changed under it (the samples' count
 * says one is missing); what the window between that check and the
 * output still allows, and a lost update of the bytes left, are rare and
 * cost a sample or shift a gap, not a count.
 */
#define _GNU_SOURCE
#include "bpfprobe.h"
#include "keeper.h"
#include "../lib/util.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- assembling ---- */

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV64_REG(d, s)	INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV64_IMM(d, i)	INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV32_IMM(d, i)	INSN(BPF_ALU | BPF_MOV | BPF_K, d, 0, 0, i)
#define ADD64_IMM(d, i)	INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define SUB64_REG(d, s)	INSN(BPF_ALU64 | BPF_SUB | BPF_X, d, s, 0, 0)
#define MUL64_REG(d, s)	INSN(BPF_ALU64 | BPF_MUL | BPF_X, d, s, 0, 0)
#define AND64_IMM(d, i)	INSN(BPF_ALU64 | BPF_AND | BPF_K, d, 0, 0, i)
#define OR64_IMM(d, i)	INSN(BPF_ALU64 | BPF_OR | BPF_K, d, 0, 0, i)
#define LSH64_IMM(d, i)	INSN(BPF_ALU64 | BPF_LSH | BPF_K, d, 0, 0, i)
#define RSH64_IMM(d, i)	INSN(BPF_ALU64 | BPF_RSH | BPF_K, d, 0, 0, i)
#define NEG64(d)	INSN(BPF_ALU64 | BPF_NEG | BPF_K, d, 0, 0, 0)
#define LDX_DW(d, s, o)	INSN(BPF_LDX | BPF_DW | BPF_MEM, d, s, o, 0)
#define LDX_W(d, s, o)	INSN(BPF_LDX | BPF_W | BPF_MEM, d, s, o, 0)
#define JNE_REG(d, s, o) INSN(BPF_JMP | BPF_JNE | BPF_X, d, s, o, 0)
#define STX_DW(d, s, o)	INSN(BPF_STX | BPF_DW | BPF_MEM, d, s, o, 0)
#define STX_W(d, s, o)	INSN(BPF_STX | BPF_W | BPF_MEM, d, s, o, 0)
#define ST_DW(d, o, i)	INSN(BPF_ST | BPF_DW | BPF_MEM, d, 0, o, i)
#define ST_W(d, o, i)	INSN(BPF_ST | BPF_W | BPF_MEM, d, 0, o, i)
#define XADD_DW(d, s, o) INSN(BPF_STX | BPF_DW | BPF_ATOMIC, d, s, o, BPF_ADD)
#define JEQ_IMM(d, i, o) INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define JNE_IMM(d, i, o) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, i)
#define JSGT_IMM(d, i, o) INSN(BPF_JMP | BPF_JSGT | BPF_K, d, 0, o, i)
#define JGT_REG(d, s, o) INSN(BPF_JMP | BPF_JGT | BPF_X, d, s, o, 0)
#define JA(o)		INSN(BPF_JMP | BPF_JA, 0, 0, o, 0)
#define CALL(f)		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT()		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
/* a map's fd into d: two instructions, the second empty */
#define LD_MAP(d, fd)	INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd)
#define LD_MAP_HI()	INSN(0, 0, 0, 0, 0)

enum { R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 };

/* struct pt_regs (x86-64) offsets, in the order of PERF_REGS_ALL's registers */
static const int16_t ptregs_off[] = {
	80, 40, 88, 96, 104, 112, 32, 152,	/* ax bx cx dx si di bp sp */
	128, 144, 136, 160,			/* ip flags cs ss */
	72, 64, 56, 48, 24, 16, 8, 0,		/* r8 .. r15 */
};
#define PT_SP 152
/* ... and of the argument registers: di si dx cx r8 r9 */
static const int16_t arg_off[] = { 112, 104, 96, 88, 72, 64 };

/* the scratch value: where each part is */
#define V_TID 4
#define V_COOKIE 8
#define V_ABI 16
#define V_REGS 24
#define V_SIZE (V_REGS + 8 * (int)(sizeof(ptregs_off) / sizeof(*ptregs_off)))
#define V_STACK (V_SIZE + 8)
#define V_DYN(stack) (V_STACK + (int)(stack))
#define V_LEN(stack) (V_DYN(stack) + 8)		/* the record ends here */
#define V_LEFT(stack) V_LEN(stack)		/* this cpu's bytes to the next sample */
#define V_ALL(stack) (V_LEFT(stack) + 8)

#define GAPS 1024	/* the gaps' table: quantiles of an exponential */
#define FIX 16		/* bytes in 1/65536ths: a rate of 1 is still exact */
#define SIZE_MAX_LOG 40	/* sizes above 2^40 count as 2^40: always sampled */

static int sys_bpf(int cmd, void *attr, size_t size)
{
	return (int)syscall(SYS_bpf, cmd, attr, size);
}

static int map_create(uint32_t type, uint32_t key, uint32_t value, uint32_t max)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = key;
	a.value_size = value;
	a.max_entries = max;
	return sys_bpf(BPF_MAP_CREATE, &a, sizeof(a));
}

#define MAX_INSNS 512

struct prog {
	struct bpf_insn *p;
	size_t n;
};

/* (past MAX_INSNS nothing is written: assemble() then returns 0) */
#define I(x) (g->n < MAX_INSNS ? (void)(g->p[g->n] = (x)) : (void)0, g->n++)

/* a forward jump, its offset set by land() */
static size_t jump(struct prog *g, struct bpf_insn x)
{
	I(x);
	return g->n - 1;
}

static void land(struct prog *g, size_t j)
{
	if (j < MAX_INSNS)
		g->p[j].off = (int16_t)(g->n - j - 1);
}

/* counts[{tid, key}] += 1, the key at r10-8 (tid) and r10-4; r0-r5 lost */
static void count(struct prog *g, int c)
{
	I(LD_MAP(R1, c));
	I(LD_MAP_HI());
	I(MOV64_REG(R2, R10));
	I(ADD64_IMM(R2, -8));
	I(CALL(BPF_FUNC_map_lookup_elem));
	I(JEQ_IMM(R0, 0, 3));
	I(MOV64_IMM(R1, 1));
	I(XADD_DW(R0, R1, 0));
	I(JA(9));
	I(ST_DW(R10, -16, 1));
	I(LD_MAP(R1, c));
	I(LD_MAP_HI());
	I(MOV64_REG(R2, R10));
	I(ADD64_IMM(R2, -8));
	I(MOV64_REG(R3, R10));
	I(ADD64_IMM(R3, -16));
	I(MOV64_IMM(R4, BPF_NOEXIST));
	I(CALL(BPF_FUNC_map_update_elem));
}

/* argument number (reg, 0-5) of the call into dst */
static void arg_into(struct prog *g, int dst, int reg)
{
	I(MOV64_IMM(dst, 0));
	for (int a = 0; a < 6; a++) {
		I(JNE_IMM(reg, a, 1));
		I(LDX_DW(dst, R6, arg_off[a]));
	}
}

/* a gap into this cpu's V_LEFT, from table q at random; r0-r5 lost */
static void draw(struct prog *g, int q, uint32_t stack, size_t *to_exit, size_t *nexit)
{
	I(CALL(BPF_FUNC_get_prandom_u32));
	I(AND64_IMM(R0, GAPS - 1));
	I(STX_W(R10, R0, -24));
	I(LD_MAP(R1, q));
	I(LD_MAP_HI());
	I(MOV64_REG(R2, R10));
	I(ADD64_IMM(R2, -24));
	I(CALL(BPF_FUNC_map_lookup_elem));
	to_exit[(*nexit)++] = jump(g, JEQ_IMM(R0, 0, 0));
	I(LDX_DW(R2, R0, 0));
	I(STX_DW(R7, R2, (int16_t)V_LEFT(stack)));
}

/*
 * The program for maps counts c, scratch s, rings e, gaps q and armed a:
 * the number of instructions.  The cookie: bits 0-30 the key, 32-35 and 36-39 the
 * arguments whose product is the size (15: none), 40 a call counts 1.
 */
static size_t assemble(struct bpf_insn *p, int c, int s, int e, int q, int a, uint32_t stack)
{
	struct prog pg = { p, 0 }, *g = &pg;
	size_t to_exit[12], nexit = 0, j, j_store[3], nj = 0, j_zero = 0, have, j_left;

	I(MOV64_REG(R6, R1));			/* r6: ctx */
	/* armed[0]: 0 while a window's links go in or out (not its time) */
	I(ST_W(R10, -28, 0));
	I(LD_MAP(R1, a));
	I(LD_MAP_HI());
	I(MOV64_REG(R2, R10));
	I(ADD64_IMM(R2, -28));
	I(CALL(BPF_FUNC_map_lookup_elem));
	to_exit[nexit++] = jump(g, JEQ_IMM(R0, 0, 0));
	I(LDX_W(R1, R0, 0));
	to_exit[nexit++] = jump(g, JEQ_IMM(R1, 0, 0));
	I(CALL(BPF_FUNC_get_current_pid_tgid));
	I(MOV64_REG(R9, R0));			/* r9: tid (low half) */
	I(STX_W(R10, R0, -8));			/* key.tid */
	I(MOV64_REG(R1, R6));
	I(CALL(BPF_FUNC_get_attach_cookie));
	I(MOV64_REG(R8, R0));			/* r8: the cookie */
	I(AND64_IMM(R0, 0x7fffffff));
	I(STX_W(R10, R0, -4));			/* key.key */
	count(g, c);				/* every call */
	/* r7 = scratch[0] */
	I(ST_W(R10, -20, 0));
	I(LD_MAP(R1, s));
	I(LD_MAP_HI());
	I(MOV64_REG(R2, R10));
	I(ADD64_IMM(R2, -20));
	I(CALL(BPF_FUNC_map_lookup_elem));
	to_exit[nexit++] = jump(g, JEQ_IMM(R0, 0, 0));
	I(MOV64_REG(R7, R0));
	/* r2: the size (or 1) */
	I(MOV64_IMM(R2, 1));
	I(MOV64_REG(R3, R8));
	I(RSH64_IMM(R3, 40));
	I(AND64_IMM(R3, 1));
	have = jump(g, JNE_IMM(R3, 0, 0));
	I(MOV64_REG(R3, R8));
	I(RSH64_IMM(R3, 32));
	I(AND64_IMM(R3, 15));
	arg_into(g, R2, R3);
	I(MOV64_REG(R4, R8));
	I(RSH64_IMM(R4, 36));
	I(AND64_IMM(R4, 15));
	j = jump(g, JEQ_IMM(R4, 15, 0));
	arg_into(g, R5, R4);
	I(MUL64_REG(R2, R5));
	land(g, j);
	land(g, have);
	to_exit[nexit++] = jump(g, JEQ_IMM(R2, 0, 0));
	I(MOV64_IMM(R3, 1));
	I(LSH64_IMM(R3, SIZE_MAX_LOG));
	I(JGT_REG(R3, R2, 1));			/* r2 > 2^40: 2^40 */
	I(MOV64_REG(R2, R3));
	I(LSH64_IMM(R2, FIX));
	I(STX_DW(R10, R2, -40));		/* (the draw's calls clobber r2) */
	/* Go's draw: a sample where this cpu's gap (exponential) runs out */
	I(LDX_DW(R1, R7, (int16_t)V_LEFT(stack)));
	j = jump(g, JNE_IMM(R1, 0, 0));
	draw(g, q, stack, to_exit, &nexit);	/* never drawn on this cpu: the first gap */
	I(LDX_DW(R1, R7, (int16_t)V_LEFT(stack)));
	land(g, j);
	I(LDX_DW(R2, R10, -40));
	I(SUB64_REG(R1, R2));
	j_left = jump(g, JSGT_IMM(R1, 0, 0));
	draw(g, q, stack, to_exit, &nexit);	/* sampled: the next gap */
	/* the samples, counted apart: key | 2^31 */
	I(MOV64_REG(R1, R8));
	I(OR64_IMM(R1, 0x80000000));
	I(STX_W(R10, R1, -4));
	count(g, c);
	/* the record */
	I(STX_W(R7, R9, V_TID));
	I(STX_DW(R7, R8, V_COOKIE));
	I(ST_DW(R7, V_ABI, PERF_SAMPLE_REGS_ABI_64));
	for (size_t i = 0; i < sizeof(ptregs_off) / sizeof(*ptregs_off); i++) {
		I(LDX_DW(R1, R6, ptregs_off[i]));
		I(STX_DW(R7, R1, (int16_t)(V_REGS + 8 * i)));
	}
	I(ST_DW(R7, V_SIZE, (int32_t)stack));
	/* the whole copy; failing that, to the end of the sp's next page,
	 * then of its own: the stack's mapping ends at a page's end */
	I(MOV64_IMM(R9, (int32_t)stack));
	I(MOV64_REG(R1, R7));
	I(ADD64_IMM(R1, V_STACK));
	I(MOV64_IMM(R2, (int32_t)stack));
	I(LDX_DW(R3, R6, PT_SP));
	I(CALL(BPF_FUNC_probe_read_user));
	j_store[nj++] = jump(g, JEQ_IMM(R0, 0, 0));
	for (int pages = stack >= 8192 ? 1 : 0; pages >= 0; pages--) {
		I(LDX_DW(R2, R6, PT_SP));
		I(NEG64(R2));
		I(AND64_IMM(R2, 4095));
		if (pages)
			I(ADD64_IMM(R2, 4096));
		I(MOV64_REG(R9, R2));
		if (!pages)
			j_zero = jump(g, JEQ_IMM(R2, 0, 0));
		I(MOV64_REG(R1, R7));
		I(ADD64_IMM(R1, V_STACK));
		I(LDX_DW(R3, R6, PT_SP));
		I(CALL(BPF_FUNC_probe_read_user));
		j_store[nj++] = jump(g, JEQ_IMM(R0, 0, 0));
	}
	land(g, j_zero);
	I(MOV64_IMM(R9, 0));			/* nothing copied */
	for (size_t i = 0; i < nj; i++)
		land(g, j_store[i]);
	I(STX_DW(R7, R9, (int16_t)V_DYN(stack)));
	/* another thread on this cpu (this one preempted while it copied)
	 * may have filled the buffer since: then its record goes, not a mix
	 * (the count of samples says one is missing) */
	I(LDX_W(R1, R7, V_TID));
	I(LDX_W(R2, R10, -8));
	to_exit[nexit++] = jump(g, JNE_REG(R1, R2, 0));
	I(LDX_DW(R1, R7, V_COOKIE));
	to_exit[nexit++] = jump(g, JNE_REG(R1, R8, 0));
	I(MOV64_REG(R1, R6));
	I(LD_MAP(R2, e));
	I(LD_MAP_HI());
	I(MOV32_IMM(R3, -1));			/* BPF_F_CURRENT_CPU */
	I(MOV64_REG(R4, R7));
	I(ADD64_IMM(R4, 4));
	I(MOV64_IMM(R5, V_LEN(stack) - 4));
	I(CALL(BPF_FUNC_perf_event_output));
	for (size_t i = 0; i < nexit; i++)
		land(g, to_exit[i]);
	I(MOV64_IMM(R0, 0));
	I(EXIT());
	/* not sampled: the gap, shorter */
	land(g, j_left);
	I(STX_DW(R7, R1, (int16_t)V_LEFT(stack)));
	I(MOV64_IMM(R0, 0));
	I(EXIT());
	return g->n <= MAX_INSNS ? g->n : 0;	/* (about 250) */
}
#undef I

/* ---- the maps, the program, the rings ---- */

#define COUNTS_MAX 65536	/* (thread, function) pairs, calls and samples */
#define TRACE_UPROBE_MULTI 48	/* enum bpf_attach_type (Linux 6.6) */

static int fail(struct bpfprobe *b, const char *what, int err)
{
	snprintf(b->why, sizeof(b->why), "%s: %s", what, strerror(err));
	bpfprobe_close(b);
	return -err;
}

/*
 * The gaps between samples, in bytes x 2^FIX: GAPS quantiles of an
 * exponential of mean rate, scaled to that mean exactly (the table's tail
 * is cut at -ln(1/2048)).  Per call (each call 1 byte): whole calls, a
 * geometric number of mean rate, so that each call is kept with chance
 * exactly 1 / rate (every call at rate 1).
 */
static int fill_gaps(int q, uint64_t rate, bool per_call)
{
	double v[GAPS], sum = 0;

	for (uint32_t i = 0; i < GAPS; i++)
		sum += v[i] = -log(((double)i + 0.5) / GAPS);
	for (uint32_t i = 0; i < GAPS; i++) {
		double g = v[i] * (double)GAPS / sum * (double)rate * (double)(1 << FIX);

		if (per_call)	/* P(k) = (1 - 1/rate)^(k-1) / rate, k >= 1 */
			g = (rate == 1 ? 1 : ceil(log(((double)i + 0.5) / GAPS) /
					     log1p(-1 / (double)rate))) * (double)(1 << FIX);
		uint64_t x = g < 1 ? 1 : g > 0x1p62 ? (uint64_t)1 << 62 : (uint64_t)g;
		union bpf_attr a;

		memset(&a, 0, sizeof(a));
		a.map_fd = (uint32_t)q;
		a.key = (uint64_t)(uintptr_t)&i;
		a.value = (uint64_t)(uintptr_t)&x;
		if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)) < 0)
			return -1;
	}
	return 0;
}

static int prog_load(struct bpf_insn *insns, size_t n, char *log, uint32_t log_size)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_KPROBE;
	a.expected_attach_type = TRACE_UPROBE_MULTI;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = (uint32_t)n;
	/* its helpers (probe_read_user, perf_event_output) are the kernel's GPL ones */
	a.license = (uint64_t)(uintptr_t)"GPL";
	if (log) {
		a.log_buf = (uint64_t)(uintptr_t)log;
		a.log_size = log_size;
		a.log_level = 1;
		log[0] = 0;
	}
	memcpy(a.prog_name, "cprof_entry", sizeof("cprof_entry"));
	return sys_bpf(BPF_PROG_LOAD, &a, sizeof(a));
}

int bpfprobe_open(struct bpfprobe *b, uint32_t stack, unsigned ring_order, uint64_t rate,
		  bool per_call)
{
	struct bpf_insn insns[MAX_INSNS];
	union bpf_attr a;
	size_t n;

	*b = (struct bpfprobe){ .prog = -1, .counts = -1, .scratch = -1, .events = -1,
				.gaps = -1, .armed = -1, .stack = stack };
	if (stack % 8 || stack < 4096 || stack > 16384 || !rate)
		return fail(b, "stack size or rate", EINVAL);
	b->ncpu = (int)sysconf(_SC_NPROCESSORS_CONF);
	if (b->ncpu < 1)
		b->ncpu = 1;
	b->counts = map_create(BPF_MAP_TYPE_HASH, 8, 8, COUNTS_MAX);
	if (b->counts < 0)
		return fail(b, "bpf(BPF_MAP_CREATE)", errno);
	b->scratch = map_create(BPF_MAP_TYPE_PERCPU_ARRAY, 4, (uint32_t)V_ALL(stack), 1);
	if (b->scratch < 0)
		return fail(b, "bpf(BPF_MAP_CREATE)", errno);
	b->gaps = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, GAPS);
	if (b->gaps < 0 || fill_gaps(b->gaps, rate, per_call))
		return fail(b, "bpf(BPF_MAP_CREATE)", errno);
	b->armed = map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1);
	if (b->armed < 0)
		return fail(b, "bpf(BPF_MAP_CREATE)", errno);
	b->events = map_create(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, (uint32_t)b->ncpu);
	if (b->events < 0)
		return fail(b, "bpf(BPF_MAP_CREATE)", errno);
	n = assemble(insns, b->counts, b->scratch, b->events, b->gaps, b->armed, stack);
	if (!n)
		return fail(b, "the BPF program", E2BIG);
	b->prog = prog_load(insns, n, NULL, 0);
	if (b->prog < 0) {
		int err = errno;
		char *log = xmalloc(65536);

		/* again, for what the verifier says (cprof -v) */
		if (prog_load(insns, n, log, 65536) < 0 && *log)
			debug("bpfprobe: the verifier said: %s", log);
		free(log);
		return fail(b, "bpf(BPF_PROG_LOAD)", err);
	}
	b->rings = xcalloc((size_t)b->ncpu, sizeof(*b->rings));
	for (int cpu = 0; cpu < b->ncpu; cpu++)
		b->rings[cpu].fd = -1;	/* (closed by a failure's bpfprobe_close) */
	for (int cpu = 0; cpu < b->ncpu; cpu++) {
		struct perf_event_attr pa = {
			.type = PERF_TYPE_SOFTWARE, .size = sizeof(pa),
			.config = PERF_COUNT_SW_BPF_OUTPUT, .sample_type = PERF_SAMPLE_RAW,
			.sample_period = 1, .wakeup_events = 1 << 30,
		};
		int fd = (int)syscall(SYS_perf_event_open, &pa, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		uint32_t key = (uint32_t)cpu;

		b->rings[cpu].fd = -1;
		if (fd < 0) {
			if (errno == ENODEV || errno == EINVAL)
				continue;	/* an offline cpu */
			return fail(b, "perf_event_open(PERF_COUNT_SW_BPF_OUTPUT)", errno);
		}
		if (perf_ring_map(&b->rings[cpu], fd, ring_order)) {
			int err = errno;

			close(fd);
			b->rings[cpu].fd = -1;
			return fail(b, "mmap of a BPF output ring", err);
		}
		memset(&a, 0, sizeof(a));
		a.map_fd = (uint32_t)b->events;
		a.key = (uint64_t)(uintptr_t)&key;
		a.value = (uint64_t)(uintptr_t)&fd;
		if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)) < 0)
			return fail(b, "bpf(BPF_MAP_UPDATE_ELEM)", errno);
	}
	return 0;
}

void bpfprobe_close(struct bpfprobe *b)
{
	for (int cpu = 0; b->rings && cpu < b->ncpu; cpu++)
		if (b->rings[cpu].fd >= 0) {
			perf_ring_unmap(&b->rings[cpu]);
			close(b->rings[cpu].fd);
		}
	free(b->rings);
	b->rings = NULL;
	free(b->keys);
	free(b->vals);
	b->keys = b->vals = NULL;
	u64map_release(&b->cache);
	if (b->prog >= 0)
		close(b->prog);
	if (b->counts >= 0)
		close(b->counts);
	if (b->scratch >= 0)
		close(b->scratch);
	if (b->events >= 0)
		close(b->events);
	if (b->gaps >= 0)
		close(b->gaps);
	if (b->armed >= 0)
		close(b->armed);
	b->prog = b->counts = b->scratch = b->events = b->gaps = b->armed = -1;
}

void bpfprobe_arm(struct bpfprobe *b, bool on)
{
	uint32_t key = 0, v = on;
	union bpf_attr a;

	if (b->armed < 0)
		return;
	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)b->armed;
	a.key = (uint64_t)(uintptr_t)&key;
	a.value = (uint64_t)(uintptr_t)&v;
	sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a));
}

int bpfprobe_link(struct bpfprobe *b, struct keeper *k, const char *path, pid_t pid,
		  const uint64_t *off, const uint64_t *ids, size_t n, int *kfd)
{
	if (b->prog < 0)
		return -EBADF;
	return keeper_link(k, b->prog, path, pid, off, ids, n, kfd);
}

static uint64_t map_key(pid_t tid, uint32_t key)
{
	return (uint64_t)(uint32_t)tid | (uint64_t)key << 32;
}

#define BATCH 1024

void bpfprobe_refresh(struct bpfprobe *b)
{
	uint64_t in = 0, out = 0;
	bool first = true, added;
	union bpf_attr a;

	if (b->counts < 0)
		return;
	if (!b->keys) {
		b->keys = xmalloc(BATCH * sizeof(*b->keys));
		b->vals = xmalloc(BATCH * sizeof(*b->vals));
	}
	for (;;) {
		int r;

		memset(&a, 0, sizeof(a));
		a.batch.in_batch = first ? 0 : (uint64_t)(uintptr_t)&in;
		a.batch.out_batch = (uint64_t)(uintptr_t)&out;
		a.batch.keys = (uint64_t)(uintptr_t)b->keys;
		a.batch.values = (uint64_t)(uintptr_t)b->vals;
		a.batch.count = BATCH;
		a.batch.map_fd = (uint32_t)b->counts;
		r = sys_bpf(BPF_MAP_LOOKUP_BATCH, &a, sizeof(a));
		if (r < 0 && errno != ENOENT)
			return;		/* (the last values stand) */
		for (uint32_t i = 0; i < a.batch.count && i < BATCH; i++)
			*u64map_put(&b->cache, b->keys[i], 0, b->vals[i], &added) = b->vals[i];
		if (r < 0)
			return;		/* ENOENT: that was the last */
		in = out;
		first = false;
	}
}

uint64_t bpfprobe_count(const struct bpfprobe *b, pid_t tid, uint32_t key)
{
	const uint64_t *v = u64map_find(&b->cache, map_key(tid, key), 0);

	return v ? *v : 0;
}

void bpfprobe_forget(struct bpfprobe *b, pid_t tid, uint32_t key)
{
	uint64_t k = map_key(tid, key), *v;
	union bpf_attr a;

	if (b->counts < 0)
		return;
	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)b->counts;
	a.key = (uint64_t)(uintptr_t)&k;
	sys_bpf(BPF_MAP_DELETE_ELEM, &a, sizeof(a));
	v = u64map_find(&b->cache, k, 0);
	if (v)
		*v = 0;
}

struct drain_arg {
	bpfprobe_record_fn *fn;
	void *arg;
};

/* a PERF_SAMPLE_RAW body: u32 size, then the program's value from its tid */
static void on_raw(void *arg, const unsigned char *d, size_t len)
{
	const struct drain_arg *da = arg;
	uint32_t size, tid;

	if (len < 8)
		return;
	memcpy(&size, d, 4);
	if (size < 4 || size > len - 4)
		return;
	memcpy(&tid, d + 4, 4);
	da->fn(da->arg, (pid_t)tid, d + 8, size - 4);
}

size_t bpfprobe_drain(struct bpfprobe *b, bpfprobe_record_fn *fn, void *arg)
{
	struct drain_arg da = { fn, arg };
	size_t n = 0;

	for (int cpu = 0; b->rings && cpu < b->ncpu; cpu++) {
		uint64_t lost;

		if (b->rings[cpu].fd < 0)
			continue;
		lost = b->rings[cpu].lost;
		n += perf_ring_read(&b->rings[cpu], on_raw, &da);
		b->lost += b->rings[cpu].lost - lost;
	}
	return n;
}
