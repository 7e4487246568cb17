/*
 * attach/unwind.c - libunwind remote unwinding over a captured stack.
 *
 * We give libunwind our own accessors instead of libunwind-ptrace's: those
 * read memory with PTRACE_PEEKDATA and need the thread stopped, while ours
 * work on the copy after the thread runs again.  Unwind tables are the
 * modules' .eh_frame_hdr search tables, handed to libunwind's own table
 * search (the same way perf drives libunwind).
 *
 * Before libunwind, walk_fast() tries the stack with the frame rules of
 * attach/cfi.c, doing what libunwind's x86-64 step does for such frames
 * (same reads, same end conditions); at the first frame it cannot step,
 * libunwind walks the stack from the start.
 */
#define _GNU_SOURCE
#include "unwind.h"
#include "capture.h"
#include "cfi.h"
#include "uprobe.h"
#include "../lib/util.h"
#include "../symbolize/maps.h"

#include <libunwind.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as,
					     unw_word_t ip, unw_dyn_info_t *di,
					     unw_proc_info_t *pi,
					     int need_unwind_info, void *arg);

/*
 * Go's functions that switch a thread between a goroutine's stack and g0
 * (mcall, morestack; gogo, a static symbol in some versions): a walk
 * that reaches one has no caller it can trust (the word above it is
 * whatever the stack held: a walk past it ends in [unknown]).  Go's own
 * traceback stops at them (they write SP); so does this one.
 */
static const char *const go_switches[] = { "runtime.mcall", "runtime.morestack", "runtime.gogo",
					   "gogo" };
#define GO_SWITCHES (sizeof(go_switches) / sizeof(*go_switches))

struct unwinder {
	struct addrspace *as;
	unw_addr_space_t uas;
	size_t epoch_seen;	/* of the last walk: libunwind's cache is for it */
	bool missing_reg;	/* of the last walk */
	bool no_reload;		/* never reload the maps ... */
	bool wanted_reload;	/* ... and the last walk would have */
	uint64_t *reads;	/* ... the stack words it read */
	size_t nreads, reads_alloc;
	struct cfi_cache cfi;	/* common frames, stepped without libunwind */
	bool fast;		/* use it (CPROF_UNWIND=libunwind: never) */
	bool check;		/* CPROF_UNWIND_CHECK=1: compare with libunwind */
	size_t nfast, nslow;	/* stacks walked each way */
	struct go_switch {	/* by module: where Go switches stacks */
		const struct module *mod;
		uint64_t r[GO_SWITCHES][2];	/* link-time ranges, 0: none */
	} *go;
	size_t ngo, go_alloc;
};

struct uctx {
	struct unwinder *u;
	const struct capture *c;
	uint64_t stack_end;	/* end of the stack mapping, or of what we tried to copy */
	bool truncated;		/* a read fell past the end of the stack copy */
	bool missing_reg;	/* asked for a register a partial capture lacks */
	bool leaf_noinfo;	/* no unwind info for the leaf pc */
};

static const struct mapping *find_map(struct uctx *x, uint64_t addr, bool reload)
{
	struct addrspace *as = x->u->as;
	uint32_t e = x->c->epoch < as->nepochs ? x->c->epoch : addrspace_epoch(as);
	const struct mapping *m = maps_find(&as->epochs[e], addr);

	/*
	 * A pc in no known mapping, and maps older than the sample: a library
	 * was loaded since (dlopen, or ld.so right after exec).  Maps read
	 * after the sample was taken are the truth: no reread then.
	 */
	if (!m && reload && as->epochs[e].live &&
	    as->epochs[e].last_reload_ns < x->c->time_ns) {
		if (x->u->no_reload) {
			x->u->wanted_reload = true;
			return NULL;
		}
		addrspace_reload_epoch(as, e);
		m = maps_find(&as->epochs[e], addr);
	}
	return m;
}

static int access_mem(unw_addr_space_t uas, unw_word_t addr, unw_word_t *val,
		      int write, void *arg)
{
	struct uctx *x = arg;
	const struct capture *c = x->c;
	const struct mapping *m;
	struct iovec l, r;

	(void)uas;
	if (write)
		return -UNW_EINVAL;
	/* (never addr + 8: a garbage address near 2^64 wraps around) */
	if (addr >= c->stack_addr && addr - c->stack_addr < c->stack_len &&
	    c->stack_len - (addr - c->stack_addr) >= sizeof(*val)) {
		memcpy(val, c->stack + (addr - c->stack_addr), sizeof(*val));
		GROW(x->u->reads, x->u->reads_alloc, x->u->nreads + 1);
		x->u->reads[x->u->nreads++] = addr;
		return 0;
	}
	/*
	 * The stack beyond the copy has changed since the thread resumed;
	 * so has the red zone below a copy that lacks it (the kernel's copy
	 * at a tick starts at sp: PERF_SAMPLE_STACK_USER), read live it
	 * would be whatever the thread wrote there since.
	 */
	if ((addr >= c->stack_addr && addr < x->stack_end) ||
	    (addr < c->stack_addr && c->stack_addr - addr <= CAPTURE_RED_ZONE)) {
		x->truncated = true;
		return -UNW_EINVAL;
	}
	m = find_map(x, addr, false);
	if (m && m->file_ro && m->mod && m->mod->image) {
		uint64_t off = addr - m->start + m->offset;

		if (off < m->mod->image_size && m->mod->image_size - off >= sizeof(*val)) {
			memcpy(val, m->mod->image + off, sizeof(*val));
			return 0;
		}
	}
	l = (struct iovec){ val, sizeof(*val) };
	r = (struct iovec){ (void *)(uintptr_t)addr, sizeof(*val) };
	if (x->c->epoch >= x->u->as->nepochs ||
	    process_vm_readv(x->u->as->epochs[x->c->epoch].pid, &l, 1, &r, 1, 0) != sizeof(*val))
		return -UNW_EINVAL;
	return 0;
}

static int access_reg(unw_addr_space_t uas, unw_regnum_t reg, unw_word_t *val,
		      int write, void *arg)
{
	struct uctx *x = arg;
	const struct user_regs_struct *r = &x->c->regs;

	(void)uas;
	if (write)
		return -UNW_EREADONLYREG;
	if (x->c->partial && reg != UNW_X86_64_RSP && reg != UNW_X86_64_RIP) {
		x->missing_reg = true;
		return -UNW_EBADREG;
	}
	switch (reg) {
	case UNW_X86_64_RAX: *val = r->rax; break;
	case UNW_X86_64_RDX: *val = r->rdx; break;
	case UNW_X86_64_RCX: *val = r->rcx; break;
	case UNW_X86_64_RBX: *val = r->rbx; break;
	case UNW_X86_64_RSI: *val = r->rsi; break;
	case UNW_X86_64_RDI: *val = r->rdi; break;
	case UNW_X86_64_RBP: *val = r->rbp; break;
	case UNW_X86_64_RSP: *val = r->rsp; break;
	case UNW_X86_64_R8: *val = r->r8; break;
	case UNW_X86_64_R9: *val = r->r9; break;
	case UNW_X86_64_R10: *val = r->r10; break;
	case UNW_X86_64_R11: *val = r->r11; break;
	case UNW_X86_64_R12: *val = r->r12; break;
	case UNW_X86_64_R13: *val = r->r13; break;
	case UNW_X86_64_R14: *val = r->r14; break;
	case UNW_X86_64_R15: *val = r->r15; break;
	case UNW_X86_64_RIP: *val = r->rip; break;
	default:
		return -UNW_EBADREG;
	}
	return 0;
}

static int find_proc_info(unw_addr_space_t uas, unw_word_t ip,
			  unw_proc_info_t *pi, int need_unwind_info, void *arg)
{
	struct uctx *x = arg;
	const struct mapping *m = find_map(x, ip, true);
	const struct module *mod;
	unw_dyn_info_t di;
	int ret;

	if (!m || !(m->prot & MAP_X) || !(mod = m->mod) || !mod->has_eh_table) {
		x->leaf_noinfo |= ip == x->c->regs.rip;
		return -UNW_ENOINFO;
	}
	memset(&di, 0, sizeof(di));
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.start_ip = m->start;
	di.end_ip = m->end;
	di.u.rti.segbase = m->bias + mod->eh_hdr_vaddr;
	di.u.rti.table_data = m->bias + mod->eh_table_vaddr;
	/* in words, not entries: libunwind multiplies by sizeof(unw_word_t) */
	di.u.rti.table_len = mod->eh_fde_count * 8 / sizeof(unw_word_t);
	ret = UNW_OBJ(dwarf_search_unwind_table)(uas, ip, &di, pi,
						 need_unwind_info, arg);
	if (ret == -UNW_ENOINFO)
		x->leaf_noinfo |= ip == x->c->regs.rip;
	return ret;
}

static void put_unwind_info(unw_addr_space_t uas, unw_proc_info_t *pi, void *arg)
{
	/* libunwind frees table-format unwind info itself (mempool). */
	(void)uas, (void)pi, (void)arg;
}

static int get_dyn_info_list_addr(unw_addr_space_t uas, unw_word_t *addr, void *arg)
{
	(void)uas, (void)addr, (void)arg;
	return -UNW_ENOINFO;
}

static int access_fpreg(unw_addr_space_t uas, unw_regnum_t reg,
			unw_fpreg_t *val, int write, void *arg)
{
	(void)uas, (void)reg, (void)val, (void)write, (void)arg;
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t uas, unw_cursor_t *c, void *arg)
{
	(void)uas, (void)c, (void)arg;
	return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t uas, unw_word_t addr, char *buf,
			 size_t len, unw_word_t *off, void *arg)
{
	(void)uas, (void)addr, (void)buf, (void)len, (void)off, (void)arg;
	return -UNW_ENOINFO;	/* symbolize/ names frames, at the end */
}

static unw_accessors_t accessors = {
	.find_proc_info = find_proc_info,
	.put_unwind_info = put_unwind_info,
	.get_dyn_info_list_addr = get_dyn_info_list_addr,
	.access_mem = access_mem,
	.access_reg = access_reg,
	.access_fpreg = access_fpreg,
	.resume = resume,
	.get_proc_name = get_proc_name,
};

struct unwinder *unwinder_new(struct addrspace *as)
{
	struct unwinder *u = xcalloc(1, sizeof(*u));

	u->as = as;
	u->uas = unw_create_addr_space(&accessors, 0);
	if (!u->uas) {
		free(u);
		error("libunwind: unw_create_addr_space failed");
		return NULL;
	}
	/*
	 * Per-thread: cprof unwinds on one thread, and the global cache takes
	 * a lock that blocks signals (two sigprocmask calls) on every step.
	 */
	unw_set_caching_policy(u->uas, UNW_CACHE_PER_THREAD);
	u->epoch_seen = SIZE_MAX;
	u->fast = !getenv("CPROF_UNWIND") || strcmp(getenv("CPROF_UNWIND"), "libunwind");
	u->check = getenv("CPROF_UNWIND_CHECK") && !strcmp(getenv("CPROF_UNWIND_CHECK"), "1");
	return u;
}

void unwinder_free(struct unwinder *u)
{
	if (!u)
		return;
	if (verbose > 1 && u->nfast + u->nslow)
		debug("unwind: %zu stacks by the frame rules, %zu by libunwind", u->nfast, u->nslow);
	unw_destroy_addr_space(u->uas);
	cfi_cache_release(&u->cfi);
	free(u->reads);
	free(u->go);
	free(u);
}

/* Is link-time address a of module mod in one of Go's stack switches? */
static bool go_switch(struct unwinder *u, struct module *mod, uint64_t a)
{
	struct go_switch *g = NULL;

	for (size_t i = 0; i < u->ngo && !g; i++)
		if (u->go[i].mod == mod)
			g = &u->go[i];
	if (!g) {
		GROW(u->go, u->go_alloc, u->ngo + 1);
		g = &u->go[u->ngo++];
		memset(g, 0, sizeof(*g));
		g->mod = mod;
		for (size_t k = 0; k < GO_SWITCHES; k++) {
			struct func_loc loc;

			if (!uprobe_find_func(mod, go_switches[k], &loc) && loc.size) {
				g->r[k][0] = loc.vaddr;
				g->r[k][1] = loc.vaddr + loc.size;
			}
		}
	}
	for (size_t k = 0; k < GO_SWITCHES; k++)
		if (a >= g->r[k][0] && a < g->r[k][1])
			return true;
	return false;
}

static bool is_code(struct uctx *x, uint64_t pc)
{
	const struct mapping *m = find_map(x, pc, true);

	return m && (m->prot & MAP_X);
}

static void uctx_init(struct uctx *x, struct unwinder *u, const struct capture *c)
{
	*x = (struct uctx){ .u = u, .c = c, .stack_end = c->stack_map_end };
	if (!x->stack_end) {
		/* a stack mapped after our last maps read: a new thread's */
		const struct mapping *m = find_map(x, c->regs.rsp, true);

		x->stack_end = m ? m->end : c->regs.rsp + c->stack_cap;
	}
}

/*
 * A walk that ends in code without unwind tables (JIT code, an anonymous
 * mapping) did not reach the thread's first frame: say so rather than
 * show a stack that looks complete.
 */
static size_t mark_unreached(struct uctx *x, uint64_t *pcs, size_t n, size_t max,
			     bool debug_frame)
{
	if (n < max && !pc_is_pseudo(pcs[n - 1])) {
		const struct mapping *m = find_map(x, pcs[n - 1], false);

		if (!m || !m->mod || !(m->mod->has_eh_table ||
				       (debug_frame &&
					cfi_module_has_debug_frame(&x->u->cfi, m->mod))))
			pcs[n++] = PC_UNKNOWN;
	}
	return n;
}

/* libunwind's walk: every frame, of any shape. */
static size_t walk_libunwind(struct unwinder *u, struct uctx *x, uint64_t *pcs,
			     size_t max, bool exact, bool *leaf_noinfo, bool *early)
{
	const struct capture *c = x->c;
	unw_cursor_t cur;
	unw_word_t ip, sp, prev_sp = 0;
	size_t n = 0;
	int ret;

	if (max < 2 || unw_init_remote(&cur, u->uas, x) < 0) {
		pcs[0] = exact ? c->regs.rip : c->regs.rip - 1;
		*leaf_noinfo = false;
		*early = true;	/* (not to be marked unreached) */
		return 1;
	}
	*early = false;
	for (;;) {
		if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 ||
		    unw_get_reg(&cur, UNW_REG_SP, &sp) < 0 || ip == 0)
			break;
		if (n > 0 && (!is_code(x, ip) || sp < prev_sp)) {
			/* garbage from a frame without unwind info */
			if (verbose > 1)
				debug("unwind: frame %zu: ip %#lx sp %#lx (prev sp %#lx) is not code",
				      n, (unsigned long)ip, (unsigned long)sp, (unsigned long)prev_sp);
			pcs[n++] = PC_UNKNOWN;
			break;
		}
		if (n == max - 1) {
			pcs[n++] = PC_TRUNCATED;
			break;
		}
		pcs[n++] = exact ? ip : ip - 1;
		exact = unw_is_signal_frame(&cur) > 0;
		prev_sp = sp;
		ret = unw_step(&cur);
		if (ret == 0)
			break;
		if (ret < 0) {
			if (verbose > 1)
				debug("unwind: frame %zu: ip %#lx sp %#lx: unw_step: %s%s (stack %#lx+%zu, map end %#lx)",
				      n, (unsigned long)ip, (unsigned long)sp, unw_strerror(ret),
				      x->truncated ? ", past the copy" : "",
				      (unsigned long)c->stack_addr, c->stack_len,
				      (unsigned long)c->stack_map_end);
			pcs[n++] = x->truncated ? PC_TRUNCATED : PC_UNKNOWN;
			break;
		}
	}
	u->missing_reg |= x->missing_reg;
	*leaf_noinfo = x->leaf_noinfo;
	if (n == 0)
		pcs[n++] = exact ? c->regs.rip : c->regs.rip - 1;
	return n;
}

/*
 * Where a register of the frame being stepped is, as libunwind keeps it:
 * still in the captured registers, saved in memory, or lost.
 */
enum { LOC_REG, LOC_MEM, LOC_NULL };

struct fast_frame {
	uint64_t ip, cfa;
	uint8_t kind[CFI_NREGS];
	uint64_t addr[CFI_NREGS];	/* LOC_MEM */
};

/* (libunwind's x86-64 register numbers are the DWARF ones) */
static int reg_value(struct uctx *x, const struct fast_frame *f, int r, uint64_t *v)
{
	unw_word_t w;

	if (f->kind[r] == LOC_REG ? access_reg(NULL, r, &w, 0, x) :
	    f->kind[r] == LOC_MEM ? access_mem(NULL, f->addr[r], &w, 0, x) : -1)
		return -1;
	*v = w;
	return 0;
}

/*
 * One step by a common-shape rule, as libunwind's apply_reg_state and
 * x86-64 unw_step do it: 1 a caller, 0 the end (return address or frame
 * pointer undefined), -1 something libunwind must do.
 */
static int fast_step(struct uctx *x, struct fast_frame *f, const struct cfi_rule *r)
{
	uint64_t cfa, ip;

	if (r->cfa_reg == CFI_SP)
		cfa = f->cfa;
	else if (reg_value(x, f, r->cfa_reg, &cfa))
		return -1;
	cfa += (uint64_t)r->cfa_off;
	for (int i = 0; i < CFI_NREGS; i++) {
		if (i == CFI_SP || r->how[i] == CFI_SAME)
			continue;
		f->kind[i] = r->how[i] == CFI_UNDEF ? LOC_NULL : LOC_MEM;
		f->addr[i] = cfa + (uint64_t)r->off[i];
	}
	if (f->kind[CFI_RA] == LOC_NULL)
		return 0;
	if (reg_value(x, f, CFI_RA, &ip) || (ip == f->ip && cfa == f->cfa))
		return -1;
	f->ip = ip;
	f->cfa = cfa;
	return f->kind[CFI_FP] == LOC_NULL ? 0 : 1;
}

/*
 * Out of a signal frame: at rt_sigreturn's trampoline sp points at the
 * ucontext, whose uc_mcontext (40 bytes in) holds every register the
 * signal interrupted, in the kernel's struct sigcontext order.
 */
static int signal_step(struct uctx *x, struct fast_frame *f)
{
	/* sigcontext slot of each DWARF register: r8-r15, di, si, bp, bx, dx, ax, cx, sp, ip */
	static const uint8_t slot[CFI_NREGS] = { 13, 12, 14, 11, 9, 8, 10, 15,
						 0, 1, 2, 3, 4, 5, 6, 7, 16 };
	uint64_t sp, ip, base = f->cfa + 40;

	for (int i = 0; i < CFI_NREGS; i++) {
		f->kind[i] = LOC_MEM;
		f->addr[i] = base + 8 * slot[i];
	}
	if (reg_value(x, f, CFI_SP, &sp) || reg_value(x, f, CFI_RA, &ip))
		return -1;
	f->cfa = sp;
	f->ip = ip;
	return 1;
}

/*
 * The walk of walk_libunwind(), for stacks whose every frame has the
 * common shape.  0 and *np frames, or -1: libunwind must walk it.
 */
static int walk_fast(struct unwinder *u, struct uctx *x, uint64_t *pcs, size_t max,
		     bool exact, size_t *np, bool *debug_frame)
{
	struct fast_frame f;
	uint64_t prev_sp = 0, end = 0;
	size_t n = 0;

	*debug_frame = false;
	if (max < 2)
		return -1;
	for (int i = 0; i < CFI_NREGS; i++)
		f.kind[i] = LOC_REG;
	if (reg_value(x, &f, CFI_RA, &f.ip) || reg_value(x, &f, CFI_SP, &f.cfa))
		return -1;
	/*
	 * A frame not to be stepped here: libunwind walks the stack instead,
	 * unless a frame came from .debug_frame, which libunwind cannot read;
	 * then the stack ends there, marked as libunwind's walk marks it.
	 */
#define GIVE_UP(marker) do { if (!*debug_frame) return -1; end = (marker); goto out; } while (0)
	bool after_signal = false;

	while (f.ip) {
		uint64_t ip = f.ip;
		bool at_ip = n == 0 || after_signal;	/* rules for ip itself, not ip - 1 */
		const struct mapping *m;
		const struct cfi_rule *r;
		bool df;
		int ret;

		/* (a signal handler may run on a stack of its own: sp can drop) */
		if (n > 0 && (!is_code(x, ip) || (f.cfa < prev_sp && !after_signal)))
			GIVE_UP(PC_UNKNOWN);
		if (n == max - 1)
			GIVE_UP(PC_TRUNCATED);
		/* the unwind table lookup libunwind makes (find_proc_info) */
		m = find_map(x, at_ip ? ip : ip - 1, true);
		if (!m || !(m->prot & MAP_X) || !m->mod)
			GIVE_UP(PC_UNKNOWN);
		df = !m->mod->has_eh_table;
		if (df && !cfi_module_has_debug_frame(&u->cfi, m->mod))
			GIVE_UP(PC_UNKNOWN);
		r = cfi_rule(&u->cfi, m->mod, m->bias, ip, at_ip);
		/*
		 * A signal frame: libunwind's, in a stack of .eh_frame code;
		 * ours once .debug_frame code came before (named at its own
		 * address: pc - 1 is in the code before the trampoline).
		 */
		if (r->sigreturn && (*debug_frame || df)) {
			*debug_frame = true;
			pcs[n++] = ip;
			prev_sp = f.cfa;
			after_signal = exact = true;
			if (signal_step(x, &f) < 0)
				GIVE_UP(x->truncated ? PC_TRUNCATED : PC_UNKNOWN);
			continue;
		}
		if (!r->usable && !df)
			GIVE_UP(PC_UNKNOWN);
		*debug_frame |= df;
		pcs[n++] = exact ? ip : ip - 1;
		exact = after_signal = false;
		prev_sp = f.cfa;
		/* Go's .debug_frame code: a switch to g0 ends the walk */
		if (df && go_switch(u, m->mod, (at_ip ? ip : ip - 1) - m->bias))
			break;
		if (!r->usable)
			GIVE_UP(PC_UNKNOWN);
		ret = fast_step(x, &f, r);
		if (ret < 0)
			GIVE_UP(x->truncated ? PC_TRUNCATED : PC_UNKNOWN);
		if (ret == 0)
			break;
	}
#undef GIVE_UP
out:
	if (n == 0)
		return -1;
	if (end)
		pcs[n++] = end;
	*np = n;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The distinct stack words read since reads[from], sorted, moved to out. */
static size_t reads_since(struct unwinder *u, size_t from, uint64_t **out)
{
	size_t n = u->nreads - from, k = 0;

	*out = xmalloc((n + 1) * sizeof(**out));
	if (n)	/* u->reads is NULL before the first read */
		memcpy(*out, u->reads + from, n * sizeof(**out));
	qsort(*out, n, sizeof(**out), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (!k || (*out)[k - 1] != (*out)[i])
			(*out)[k++] = (*out)[i];
	u->nreads = from;
	return k;
}

/* CPROF_UNWIND_CHECK=1: libunwind must give the same stack, reading the same words. */
static void check_fast(struct unwinder *u, const struct capture *c, const uint64_t *pcs,
		       size_t n, size_t max, bool exact, size_t reads_from)
{
	uint64_t *lpcs = xcalloc(max + 1, sizeof(*lpcs)), *fr, *lr;
	size_t fast_reads = u->nreads, nf, nl, ln;
	struct uctx x;
	bool noinfo, early;

	uctx_init(&x, u, c);
	ln = walk_libunwind(u, &x, lpcs, max, exact, &noinfo, &early);
	nl = reads_since(u, fast_reads, &lr);
	nf = reads_since(u, reads_from, &fr);
	if (early || ln != n || memcmp(lpcs, pcs, n * sizeof(*pcs)) || x.missing_reg || noinfo ||
	    nf != nl || memcmp(fr, lr, nf * sizeof(*fr))) {
		fprintf(stderr, "cprof: unwind check: libunwind and the fast path differ (sp %#lx)\n",
			(unsigned long)c->regs.rsp);
		for (size_t i = 0; i < (n > ln ? n : ln); i++)
			fprintf(stderr, "  %#18lx  %#18lx\n", i < n ? (unsigned long)pcs[i] : 0UL,
				i < ln ? (unsigned long)lpcs[i] : 0UL);
		fprintf(stderr, "  stack words read: %zu and %zu\n", nf, nl);
		abort();
	}
	/* the fast path's reads stand */
	if (nf)
		memcpy(u->reads + reads_from, fr, nf * sizeof(*fr));
	u->nreads = reads_from + nf;
	free(fr);
	free(lr);
	free(lpcs);
}

static size_t walk(struct unwinder *u, const struct capture *c, uint64_t *pcs,
		   size_t max, bool exact, bool *leaf_noinfo)
{
	struct uctx x0, x;
	size_t n, reads_from = u->nreads;
	bool early, debug_frame;

	uctx_init(&x0, u, c);
	x = x0;
	*leaf_noinfo = false;
	if (u->fast && walk_fast(u, &x, pcs, max, exact, &n, &debug_frame) == 0) {
		/* (libunwind cannot read .debug_frame: nothing to compare with) */
		if (u->check && !debug_frame)
			check_fast(u, c, pcs, n, max, exact, reads_from);
		u->nfast++;
		return mark_unreached(&x, pcs, n, max, debug_frame);
	}
	/* from the start, forgetting what the fast path read */
	u->nslow++;
	u->nreads = reads_from;
	x = x0;
	n = walk_libunwind(u, &x, pcs, max, exact, leaf_noinfo, &early);
	return early ? n : mark_unreached(&x, pcs, n, max, false);
}

size_t unwinder_unwind(struct unwinder *u, const struct capture *c,
		       uint64_t *pcs, size_t max)
{
	bool leaf_noinfo;
	uint64_t ra;
	size_t n;

	if (u->epoch_seen != c->epoch) {
		/*
		 * Another process image (exec, or another process of the
		 * tree): libunwind's cached unwind info, by address, is the
		 * other one's.  (attach/cfi.c's rules are by module: they hold.)
		 */
		unw_flush_cache(u->uas, 0, 0);
		u->epoch_seen = c->epoch;
	}
	u->missing_reg = u->wanted_reload = false;
	u->nreads = 0;
	n = walk(u, c, pcs, max, true, &leaf_noinfo);
	/*
	 * A leaf pc without unwind info, in a stop made by a system call:
	 * glibc's clone3 ends its FDE before the syscall instruction (the
	 * child's frame is not the parent's), and that is where the parent
	 * stops at a clone event.  Such stubs push nothing: the return
	 * address is at sp.  Only tried when the walk gave the leaf alone,
	 * and only if that address is code.
	 */
	if (n <= 2 && leaf_noinfo && !c->partial && max > 2 &&
	    (int64_t)c->regs.orig_rax >= 0 && c->regs.rsp >= c->stack_addr &&
	    c->regs.rsp - c->stack_addr < c->stack_len &&
	    c->stack_len - (c->regs.rsp - c->stack_addr) >= 8) {
		struct capture up = *c;
		struct uctx x = { .u = u, .c = c };

		memcpy(&ra, c->stack + (c->regs.rsp - c->stack_addr), 8);
		if (is_code(&x, ra)) {
			up.regs.rip = ra;
			up.regs.rsp += 8;
			pcs[0] = c->regs.rip;
			n = 1 + walk(u, &up, pcs + 1, max - 1, false, &leaf_noinfo);
		}
	}
	return n;
}

void unwinder_no_reload(struct unwinder *u)
{
	u->no_reload = true;
}

bool unwinder_wanted_reload(const struct unwinder *u)
{
	return u->wanted_reload;
}

bool unwinder_missed_registers(const struct unwinder *u)
{
	return u->missing_reg;
}

const uint64_t *unwinder_stack_reads(const struct unwinder *u, size_t *n)
{
	*n = u->nreads;
	return u->reads;
}
