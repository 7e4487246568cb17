/*
 * symbolize/tailcall.c - put back frames that tail calls removed, from the
 * call-site entries of DWARF (see tailcall.h): per function, its call sites
 * read once; per frame pair, the answer found once.
 */
#include "tailcall.h"
#include "../lib/u64map.h"
#include "../lib/util.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* a DFS that visits more call sites than this gives up (answers nothing) */
#define TAILCALL_BUDGET 4096

/*
 * A call site; its targets are looked up when first needed (a function's
 * sites are read together, but most are never asked about, and a name
 * lookup may read every module's symbols).
 */
struct tc_site {
	uint64_t ret;		/* return address, absolute */
	bool tail;		/* DW_AT_call_tail_call */
	bool resolved;		/* target, ntargets and unknown are set */
	bool unknown;		/* the target is not named (indirect call) */
	size_t target, ntargets;	/* into tc->targets: entry addresses */
	Dwfl_Module *mod;
	Dwarf_Addr bias;
	Dwarf_Die die;		/* lives as long as the Dwfl */
};

struct tc_fn {
	size_t site, nsites;	/* into tc->sites */
};

struct tc_sym {
	const char *name;	/* libdwfl's, lives as long as the Dwfl */
	uint64_t addr;
	size_t next;		/* the next one with the same hash, or SIZE_MAX */
};

struct tailcalls {
	struct u64map fn_by_die;	/* (module, DIE offset) -> fns[] + 1 */
	struct u64map fn_by_addr;	/* (Dwfl, entry address) -> fns[] + 1, or 0 */
	struct tc_fn *fns;
	size_t nfns, fns_alloc;
	struct tc_site *sites;
	size_t nsites, sites_alloc;
	uint64_t *targets;
	size_t ntargets, targets_alloc;
	struct u64map sym_index;	/* (module, name hash) -> syms[]; (module, 0): read */
	struct tc_sym *syms;
	size_t nsyms, syms_alloc;
	struct u64map answers;	/* (callee, caller | dwfls[] << 57) -> chain[] << 8 | length */
	Dwfl **dwfls;		/* the Dwfls seen (one per exec epoch) */
	size_t ndwfls, dwfls_alloc;
	uint64_t *chain;
	size_t nchain, chain_alloc;
};

struct tailcalls *tailcalls_new(void)
{
	return xcalloc(1, sizeof(struct tailcalls));
}

void tailcalls_free(struct tailcalls *tc)
{
	if (!tc)
		return;
	u64map_release(&tc->fn_by_die);
	u64map_release(&tc->fn_by_addr);
	u64map_release(&tc->sym_index);
	u64map_release(&tc->answers);
	free(tc->fns);
	free(tc->sites);
	free(tc->targets);
	free(tc->syms);
	free(tc->chain);
	free(tc->dwfls);
	free(tc);
}

/* "name@@VERSION" -> hash of "name"; a non-default "name@VERSION": 0 */
static uint64_t sym_hash(const char *name, size_t *len)
{
	const char *at = strchr(name, '@');

	if (at && at[1] != '@')
		return 0;
	*len = at ? (size_t)(at - name) : strlen(name);
	return hash_bytes(HASH_INIT, name, *len) | 1;
}

/* Index a module's function symbols by name, once. */
static void read_symbols(struct tailcalls *tc, Dwfl_Module *mod)
{
	uint64_t key = (uint64_t)(uintptr_t)mod;
	bool added;
	int n;

	u64map_put(&tc->sym_index, key, 0, 0, &added);
	if (!added)
		return;
	n = dwfl_module_getsymtab(mod);
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx,
							   NULL, NULL);
		uint64_t h, *head;
		size_t len;

		if (!name || !name[0] || sym.st_shndx == SHN_UNDEF || !addr ||
		    (GELF_ST_TYPE(sym.st_info) != STT_FUNC &&
		     GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC) ||
		    !(h = sym_hash(name, &len)))
			continue;
		GROW(tc->syms, tc->syms_alloc, tc->nsyms + 1);
		head = u64map_put(&tc->sym_index, key, h, SIZE_MAX, &added);
		tc->syms[tc->nsyms] = (struct tc_sym){ name, addr, (size_t)*head };
		*head = tc->nsyms++;
	}
}

struct by_name {
	struct tailcalls *tc;
	struct tc_site *site;
	const char *name;
	bool found;
};

static void add_target(struct tailcalls *tc, struct tc_site *site, uint64_t addr)
{
	for (size_t i = 0; i < site->ntargets; i++)
		if (tc->targets[site->target + i] == addr)
			return;
	GROW(tc->targets, tc->targets_alloc, tc->ntargets + 1);
	tc->targets[tc->ntargets++] = addr;
	site->ntargets++;
}

/* Every function of this name in mod, as targets of the site. */
static bool targets_by_name(struct tailcalls *tc, struct tc_site *site, Dwfl_Module *mod,
			    const char *name)
{
	size_t len;
	uint64_t h = sym_hash(name, &len), *head;
	bool found = false;

	read_symbols(tc, mod);
	head = h ? u64map_find(&tc->sym_index, (uint64_t)(uintptr_t)mod, h) : NULL;
	for (size_t i = head ? (size_t)*head : SIZE_MAX; i != SIZE_MAX; i = tc->syms[i].next) {
		size_t l2;

		sym_hash(tc->syms[i].name, &l2);
		if (l2 != len || strncmp(tc->syms[i].name, name, len))
			continue;
		add_target(tc, site, tc->syms[i].addr);
		found = true;
	}
	return found;
}

static int name_in_module(Dwfl_Module *mod, void **user, const char *modname,
			  Dwarf_Addr start, void *arg)
{
	struct by_name *bn = arg;

	(void)user, (void)modname, (void)start;
	bn->found |= targets_by_name(bn->tc, bn->site, mod, bn->name);
	return DWARF_CB_OK;
}

/* The entry address of a function DIE (entry pc, else its first range). */
static bool die_entry(Dwarf_Die *die, uint64_t *addr)
{
	Dwarf_Addr pc, base, start, end;

	if (dwarf_entrypc(die, &pc) == 0) {
		*addr = pc;
		return true;
	}
	if (dwarf_ranges(die, 0, &base, &start, &end) > 0) {
		*addr = start;
		return true;
	}
	return false;
}

/*
 * What a call site calls: a definition gives its entry address; a
 * declaration (another unit or module) or an abstract instance, its name,
 * looked up as gdb does, among the symbols: the first module that has it
 * (this one, the hint, then any).  Several functions of that name there
 * are several targets.
 */
static void site_targets(struct tailcalls *tc, Dwfl *dwfl, struct tc_site *s,
			 Dwfl_Module *hint)
{
	Dwarf_Attribute attr;
	Dwarf_Die origin;
	const char *name;
	uint64_t entry;

	if (s->resolved)
		return;
	s->resolved = true;
	s->target = tc->ntargets;
	if ((!dwarf_attr(&s->die, DW_AT_call_origin, &attr) &&
	     !dwarf_attr(&s->die, DW_AT_abstract_origin, &attr)) ||
	    !dwarf_formref_die(&attr, &origin)) {
		s->unknown = true;
		return;
	}
	if (!dwarf_hasattr(&origin, DW_AT_declaration) && die_entry(&origin, &entry)) {
		add_target(tc, s, entry + s->bias);
		return;
	}
	name = NULL;
	if (dwarf_attr_integrate(&origin, DW_AT_linkage_name, &attr))
		name = dwarf_formstring(&attr);
	if (!name && dwarf_attr_integrate(&origin, DW_AT_name, &attr))
		name = dwarf_formstring(&attr);
	if (!name) {
		s->unknown = true;
		return;
	}
	/*
	 * The callee's module next (where a call into a library lands),
	 * before every module's symbols are read.
	 */
	if (!targets_by_name(tc, s, s->mod, name) &&
	    !(hint && hint != s->mod && targets_by_name(tc, s, hint, name))) {
		struct by_name bn = { .tc = tc, .site = s, .name = name };

		dwfl_getmodules(dwfl, name_in_module, &bn, 0);
	}
	s->unknown = s->ntargets == 0;
}

/* The call sites in a function's DIE tree, its inlined code included. */
static void read_sites(struct tailcalls *tc, Dwfl_Module *mod, Dwarf_Addr bias,
		       Dwarf_Die *parent)
{
	Dwarf_Die child;

	if (dwarf_child(parent, &child) != 0)
		return;
	do {
		int tag = dwarf_tag(&child);
		Dwarf_Attribute attr;
		Dwarf_Addr ret;
		bool tail = false;

		if (tag == DW_TAG_subprogram)
			continue;	/* a nested function: not this one's code */
		if (tag != DW_TAG_call_site && tag != DW_TAG_GNU_call_site) {
			read_sites(tc, mod, bias, &child);
			continue;
		}
		if (!dwarf_attr(&child, DW_AT_call_return_pc, &attr) &&
		    !dwarf_attr(&child, DW_AT_low_pc, &attr))
			continue;
		if (dwarf_formaddr(&attr, &ret) != 0)
			continue;
		if (dwarf_attr(&child, DW_AT_call_tail_call, &attr) ||
		    dwarf_attr(&child, DW_AT_GNU_tail_call, &attr))
			dwarf_formflag(&attr, &tail);
		GROW(tc->sites, tc->sites_alloc, tc->nsites + 1);
		tc->sites[tc->nsites++] = (struct tc_site){
			.ret = ret + bias, .tail = tail, .mod = mod, .bias = bias,
			.die = child,
		};
	} while (dwarf_siblingof(&child, &child) == 0);
}

/*
 * The function (the physical one, not an inlined one) around addr, its
 * call sites read: fns[] index, or SIZE_MAX without DWARF.  *entry gets its
 * entry address.
 */
static size_t function_at(struct tailcalls *tc, Dwfl *dwfl, uint64_t addr,
			  uint64_t *entry)
{
	Dwfl_Module *mod = dwfl_addrmodule(dwfl, addr);
	Dwarf_Die *cu, *scopes = NULL, *chain = NULL, *fn = NULL, die;
	Dwarf_Addr bias;
	size_t ret = SIZE_MAX;
	int n, nchain = 0;
	bool added;
	uint64_t *v;

	if (!mod || !(cu = dwfl_module_addrdie(mod, addr, &bias)))
		return SIZE_MAX;
	n = dwarf_getscopes(cu, addr - bias, &scopes);
	for (int i = 0; i < n && !fn; i++)
		if (dwarf_tag(&scopes[i]) == DW_TAG_subprogram ||
		    dwarf_tag(&scopes[i]) == DW_TAG_inlined_subroutine)
			fn = &scopes[i];
	/* past an inlined subroutine, the concrete tree leads to the caller */
	if (fn && dwarf_tag(fn) == DW_TAG_inlined_subroutine) {
		nchain = dwarf_getscopes_die(fn, &chain);
		fn = NULL;
		for (int i = 0; i < nchain && !fn; i++)
			if (dwarf_tag(&chain[i]) == DW_TAG_subprogram)
				fn = &chain[i];
	}
	if (!fn || !die_entry(fn, entry))
		goto out;
	*entry += bias;
	die = *fn;
	v = u64map_put(&tc->fn_by_die, (uint64_t)(uintptr_t)mod, dwarf_dieoffset(&die),
		       tc->nfns + 1, &added);
	if (added) {
		GROW(tc->fns, tc->fns_alloc, tc->nfns + 1);
		tc->fns[tc->nfns].site = tc->nsites;
		read_sites(tc, mod, bias, &die);
		tc->fns[tc->nfns].nsites = tc->nsites - tc->fns[tc->nfns].site;
		tc->nfns++;
	}
	ret = (size_t)*v - 1;
out:
	free(chain);
	free(scopes);
	return ret;
}

/* The function that starts at addr, or SIZE_MAX. */
static size_t function_entered(struct tailcalls *tc, Dwfl *dwfl, uint64_t addr)
{
	bool added;
	uint64_t *v = u64map_put(&tc->fn_by_addr, (uint64_t)(uintptr_t)dwfl, addr, 0, &added);
	uint64_t entry;
	size_t fn;

	if (!added)
		return (size_t)*v - 1;
	/* (function_at() does not touch fn_by_addr: v stays valid) */
	fn = function_at(tc, dwfl, addr, &entry);
	if (fn != SIZE_MAX && entry != addr)
		fn = SIZE_MAX;	/* addr is inside some function, not its start */
	*v = (uint64_t)fn + 1;
	return fn;
}

struct search {
	struct tailcalls *tc;
	Dwfl *dwfl;
	uint64_t callee;	/* the callee's entry address */
	Dwfl_Module *callee_mod;
	uint64_t path[TAILCALL_MAX_CHAIN];	/* tail sites taken, outermost first */
	size_t depth;
	uint64_t found[TAILCALL_MAX_CHAIN];
	size_t nfound, nchains;
	size_t budget;
	bool give_up;
};

static void visit(struct search *sr, uint64_t fn_addr);

static void reached(struct search *sr, uint64_t target)
{
	if (target == sr->callee) {
		if (++sr->nchains == 1) {
			memcpy(sr->found, sr->path, sr->depth * sizeof(*sr->path));
			sr->nfound = sr->depth;
		}
		return;
	}
	visit(sr, target);
}

/*
 * Depth first through the tail calls of the function at fn_addr, as gdb
 * does: a call site already on the path is not taken again; a tail call
 * whose target is unknown makes every answer uncertain.
 */
static void visit(struct search *sr, uint64_t fn_addr)
{
	struct tailcalls *tc = sr->tc;
	size_t fn = function_entered(tc, sr->dwfl, fn_addr);

	if (fn == SIZE_MAX)
		return;
	for (size_t i = 0; i < tc->fns[fn].nsites; i++) {
		struct tc_site s;
		bool on_path = false;

		if (sr->give_up || sr->nchains > 1)
			return;
		if (!tc->sites[tc->fns[fn].site + i].tail)
			continue;
		site_targets(tc, sr->dwfl, &tc->sites[tc->fns[fn].site + i], sr->callee_mod);
		/* (a copy: the search below may grow tc->sites) */
		s = tc->sites[tc->fns[fn].site + i];
		if (s.unknown || sr->depth == TAILCALL_MAX_CHAIN || !sr->budget--) {
			sr->give_up = true;
			return;
		}
		for (size_t j = 0; j < sr->depth; j++)
			on_path |= sr->path[j] == s.ret;
		if (on_path)
			continue;
		sr->path[sr->depth++] = s.ret;
		for (size_t t = 0; t < s.ntargets; t++)
			reached(sr, tc->targets[s.target + t]);
		sr->depth--;
	}
}

static size_t search(struct tailcalls *tc, Dwfl *dwfl, uint64_t callee,
		     uint64_t caller, uint64_t *out)
{
	struct search sr = { .tc = tc, .dwfl = dwfl, .budget = TAILCALL_BUDGET };
	uint64_t entry, ret = caller + 1;
	struct tc_site *site = NULL;
	size_t fn;

	/*
	 * The caller's call sites first: without DWARF there is nothing to
	 * find, and the callee's symbol below is a walk of its module's whole
	 * table in libdwfl (most of cprof's time after a build job, in cc1).
	 */
	fn = function_at(tc, dwfl, caller, &entry);
	if (fn == SIZE_MAX)
		return 0;
	if (function_at(tc, dwfl, callee, &sr.callee) == SIZE_MAX) {
		/* no DWARF there: the symbol's start (gdb's minimal symbol) */
		Dwfl_Module *mod = dwfl_addrmodule(dwfl, callee);
		GElf_Off off;
		GElf_Sym sym;

		if (!mod || !dwfl_module_addrinfo(mod, callee, &off, &sym, NULL, NULL, NULL))
			return 0;
		sr.callee = callee - off;
	}
	for (size_t i = 0; i < tc->fns[fn].nsites && !site; i++)
		if (tc->sites[tc->fns[fn].site + i].ret == ret)
			site = &tc->sites[tc->fns[fn].site + i];
	if (!site)
		return 0;
	sr.callee_mod = dwfl_addrmodule(dwfl, callee);
	site_targets(tc, dwfl, site, sr.callee_mod);
	if (site->unknown)
		return 0;
	/* (copied: the search may grow tc->targets) */
	size_t first = site->target, ntargets = site->ntargets;

	for (size_t t = 0; t < ntargets && !sr.give_up && sr.nchains <= 1; t++)
		reached(&sr, tc->targets[first + t]);
	if (sr.give_up || sr.nchains != 1)
		return 0;
	/* innermost first: the last jump taken is nearest the callee */
	for (size_t i = 0; i < sr.nfound; i++)
		out[i] = sr.found[sr.nfound - 1 - i];
	return sr.nfound;
}

size_t tailcalls_between(struct tailcalls *tc, Dwfl *dwfl, uint64_t callee,
			 uint64_t caller, uint64_t *out)
{
	uint64_t key, *v;
	bool added;
	size_t n, i;

	/* user addresses are below 2^57 (5-level paging): room for the Dwfl */
	for (i = 0; i < tc->ndwfls && tc->dwfls[i] != dwfl; i++)
		;
	if (i == tc->ndwfls) {
		GROW(tc->dwfls, tc->dwfls_alloc, i + 1);
		tc->dwfls[tc->ndwfls++] = dwfl;
	}
	if (i >= 64 || callee >> 57 || caller >> 57)
		return 0;
	key = caller | (uint64_t)i << 57;
	v = u64map_find(&tc->answers, callee, key);
	if (v) {
		n = (size_t)(*v & 0xff);
		if (n)
			memcpy(out, tc->chain + (*v >> 8), n * sizeof(*out));
		return n;
	}
	n = search(tc, dwfl, callee, caller, out);
	if (n) {
		GROW(tc->chain, tc->chain_alloc, tc->nchain + n);
		memcpy(tc->chain + tc->nchain, out, n * sizeof(*out));
	}
	u64map_put(&tc->answers, callee, key, (uint64_t)tc->nchain << 8 | n, &added);
	tc->nchain += n;
	return n;
}
