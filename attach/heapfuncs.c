/*
 * attach/heapfuncs.c - which functions heap, allocs, probe and pair probe:
 * the allocator the dynamic linker would bind, or the functions named,
 * and where each is in its file and in the target.
 */
#define _GNU_SOURCE
#include "heapfuncs.h"
#include "../lib/stack.h"
#include "../lib/util.h"

#include <gelf.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct afunc afuncs[] = {
	{ "malloc", 0, -1, -1, false, false, false, false },
	{ "calloc", 0, 1, -1, false, false, false, false },
	{ "realloc", 1, -1, 0, false, false, false, false },
	{ "reallocarray", 1, 2, 0, false, false, false, false },
	{ "posix_memalign", 2, -1, -1, true, false, false, false },
	{ "aligned_alloc", 1, -1, -1, false, false, false, false },
	{ "memalign", 1, -1, -1, false, false, false, false },
	{ "valloc", 0, -1, -1, false, false, false, false },
	{ "pvalloc", 0, -1, -1, false, false, false, false },
	{ "free", -1, -1, 0, false, false, false, false },
	/* jemalloc's own API */
	{ "mallocx", 0, -1, -1, false, true, false, false },
	{ "rallocx", 1, -1, 0, false, true, false, false },
	{ "sdallocx", -1, -1, 0, false, true, false, false },
	{ "dallocx", -1, -1, 0, false, true, false, false },
	/* C++ new/delete, where the allocator has its own (tcmalloc, jemalloc) */
	{ "_Znwm", 0, -1, -1, false, true, false, false },
	{ "_Znam", 0, -1, -1, false, true, false, false },
	{ "_ZnwmRKSt9nothrow_t", 0, -1, -1, false, true, false, false },
	{ "_ZnamRKSt9nothrow_t", 0, -1, -1, false, true, false, false },
	{ "_ZnwmSt11align_val_t", 0, -1, -1, false, true, false, false },
	{ "_ZnamSt11align_val_t", 0, -1, -1, false, true, false, false },
	{ "_ZdlPv", -1, -1, 0, false, true, false, false },
	{ "_ZdaPv", -1, -1, 0, false, true, false, false },
	{ "_ZdlPvm", -1, -1, 0, false, true, false, false },
	{ "_ZdaPvm", -1, -1, 0, false, true, false, false },
	{ "_ZdlPvSt11align_val_t", -1, -1, 0, false, true, false, false },
	{ "_ZdaPvSt11align_val_t", -1, -1, 0, false, true, false, false },
	{ "_ZdlPvmSt11align_val_t", -1, -1, 0, false, true, false, false },
	{ "_ZdaPvmSt11align_val_t", -1, -1, 0, false, true, false, false },
};
#define NAFUNCS (sizeof(afuncs) / sizeof(afuncs[0]))

/*
 * libcprof-heap.so's probe points (preload/heapsample.c): a sampled
 * allocation (pointer, size) and the free of a sampled pointer.
 */
static const struct afunc preload_funcs[] = {
	{ "cprof_heap_sampled", 1, -1, -1, false, false, false, true },
	{ "cprof_heap_freed", -1, -1, 0, false, false, false, false },
};
/*
 * OpenTelemetry's memory-profiling contract (opentelemetry-ebpf-profiler,
 * design-docs/00003-memory-profiling): a process that samples its own
 * allocations fires the USDT probe otel_memory:alloc(ptr, size, weight)
 * for each sampled one, weight its unbiased bytes, and otel_memory:free(ptr)
 * at the free of a sampled pointer.  libcprof-heap.so is one such sampler.
 */
static const struct afunc otel_funcs[] = {
	{ "otel_memory:alloc", 1, -1, -1, false, false, false, true },
	{ "otel_memory:free", -1, -1, 0, false, false, false, false },
};
#define PRELOAD_NAME "libcprof-heap.so"
#define PRELOAD_SET "cprof_heap_set"	/* preload/heapsample.c: struct cprof_heap_set */
_Static_assert(NAFUNCS <= HFUNCS_MAX, "HFUNCS_MAX: every allocator function");

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
size_t hfuncs_lookup_order(const struct maps *m, struct module **out, size_t max)
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

uint64_t hfuncs_set_addr(const struct hfuncs *h, const struct maps *m)
{
	bool found;
	uint64_t bias = h->set_mod ? module_bias(m, h->set_mod, &found) : 0;

	return h->set_mod && found ? h->set_vaddr + bias : 0;
}

static void add_probe(struct hfuncs *h, const struct maps *m, struct module *mod,
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

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/*
 * probe:[LIB:]SYMBOL, pair:ACQUIRE,RELEASE: each function in the first
 * module, in binding order, that has it; probed once all are found
 */
static int resolve_user(struct hfuncs *h, const struct maps *m, struct module **mods,
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
struct maps *hfuncs_maps_of(struct target *t, pid_t tid)
{
	struct thread *th = target_thread(t, tid);

	return th && th->proc ? thread_maps(t, th) : addrspace_current(&t->as);
}

struct maps *hfuncs_root_maps(struct target *t)
{
	struct process *p = target_process(t, t->pid);

	return p ? &t->as.epochs[p->epoch] : addrspace_current(&t->as);
}

/*
 * The preloaded library's markers, once the loader has mapped it (it maps
 * preloads before the libraries a program needs: once an allocator is
 * mapped, so is the library, if it is to be).  1 found, 0 not yet, -1
 * not to be (h->fallback says why).
 */
static int resolve_preload(struct hfuncs *h, const struct maps *m, struct module **mods,
			   size_t n)
{
	struct module *lib = NULL, *owner = NULL;
	struct func_loc loc[2];

	for (size_t k = 0; k < n; k++) {
		if (!lib && !strcmp(base_name(mods[k]->path), PRELOAD_NAME) &&
		    !uprobe_find_func(mods[k], preload_funcs[0].name, &loc[0]) &&
		    !uprobe_find_func(mods[k], preload_funcs[1].name, &loc[1]))
			lib = mods[k];
		else if (!owner && !uprobe_find_func(mods[k], "malloc", &loc[0]))
			owner = mods[k];
	}
	if (!owner)
		return 0;	/* nothing that allocates is mapped yet */
	/* the program's own malloc comes before any preloaded one */
	if (m->exe && !strcmp(owner->path, m->exe) && mods[0] == owner)
		h->fallback = 1;
	else if (!lib)
		h->fallback = 2;
	if (h->fallback)
		return -1;
	/* heap: the blocks still allocated are read from the library (and,
	 * attached, its rate) */
	h->set_mod = !uprobe_find_object(lib, PRELOAD_SET, &h->set_vaddr) ? lib : NULL;
	h->set_read = h->inuse && !h->pair && h->set_mod;
	for (size_t i = 0; i < 2; i++) {
		if ((!h->inuse || h->set_read) && preload_funcs[i].size_a < 0)
			continue;	/* allocs: frees are not looked at */
		uprobe_find_func(lib, preload_funcs[i].name, &loc[i]);
		add_probe(h, m, lib, &preload_funcs[i], &loc[i]);
	}
	debug("heap: %s's probe points in %s", PRELOAD_NAME, lib->path);
	h->resolved = true;
	return 1;
}

/*
 * A module's otel_memory sites, as probes: 1, 0 (none), -1 (it has them
 * but they cannot be used: h->otel_why says why).
 */
static int add_otel(struct hfuncs *h, const struct maps *m, struct module *mod)
{
	struct sdt_site *site[2] = { NULL, NULL };
	int ns[2] = { 0, 0 }, ret = -1;
	char *why = NULL;

	ns[0] = sdt_find(mod->elf, "otel_memory", "alloc", &site[0], &why);
	if (ns[0] <= 0)
		return ns[0] < 0 ? (h->otel_why = why, -1) : 0;
	if (h->inuse && (ns[1] = sdt_find(mod->elf, "otel_memory", "free", &site[1], &why)) <= 0) {
		h->otel_why = why ? why : xstrdup("otel_memory:alloc without otel_memory:free "
						  "(heap needs both)");
		goto out;
	}
	/* each alloc site's entry is one member of a thread's event group,
	 * read whole (heap.c, read_counts) */
	if (ns[0] > HFUNCS_MAX) {
		h->otel_why = xasprintf("otel_memory:alloc has %d sites, more than cprof's %d",
					ns[0], HFUNCS_MAX);
		goto out;
	}
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < ns[k]; i++) {
			const struct sdt_site *st = &site[k][i];

			if (st->nargs < (k ? 1u : 3u) ||
			    (k && (st->args[0].kind != SDT_REG || (st->args[0].size != 8 &&
								  st->args[0].size != -8)))) {
				h->otel_why = xasprintf("otel_memory:%s: arguments \"%s\": cprof reads "
							"%s", k ? "free" : "alloc", st->spec,
							k ? "the pointer from a register" :
							    "a pointer, a size and a weight");
				goto out;
			}
			if (st->sem_offset >> 32) {
				h->otel_why = xstrdup("a semaphore past 4 GiB into its file (the "
						      "uprobe PMU's field holds 32 bits)");
				goto out;
			}
			if (st->sem_offset && !uprobe_ref_ctr_ok()) {
				h->otel_why = xstrdup("its probes have a semaphore, and this kernel's "
						      "uprobe PMU cannot count it (no format/ref_ctr_offset)");
				goto out;
			}
		}
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < ns[k]; i++) {
			const struct sdt_site *st = &site[k][i];
			struct func_loc loc = { .vaddr = st->vaddr, .size = 1, .offset = st->offset };
			struct probe *p;
			size_t before = h->nprobes;

			add_probe(h, m, mod, &otel_funcs[k], &loc);
			if (h->nprobes == before)
				continue;
			p = &h->probes[h->nprobes - 1];
			p->free_offset = st->offset;	/* the site itself */
			p->nargs = st->nargs < 3 ? st->nargs : 3;
			memcpy(p->args, st->args, p->nargs * sizeof(*p->args));
			p->ref_ctr = st->sem_offset;
			debug("heap: probe otel_memory:%s in %s at 0x%llx (%s)%s", k ? "free" : "alloc",
			      mod->path, (unsigned long long)st->offset, st->spec,
			      st->sem_offset ? ", its semaphore counted" : "");
		}
	h->otel = true;
	h->otel_mod = mod;
	h->otel_hide_all = !(m->exe && !strcmp(mod->path, m->exe)) && !is_libc(mod);
	ret = 1;
out:
	sdt_free(site[0], (size_t)ns[0]);
	sdt_free(site[1], (size_t)(ns[1] > 0 ? ns[1] : 0));
	return ret;
}

/* The first module, in binding order, whose otel_memory probes are usable. */
static int resolve_otel(struct hfuncs *h, const struct maps *m, struct module **mods, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		int ret;

		if (!strcmp(base_name(mods[k]->path), PRELOAD_NAME))
			continue;	/* its markers are better (resolve_preload) */
		ret = add_otel(h, m, mods[k]);

		if (ret > 0) {
			h->resolved = true;
			return 1;
		}
		if (ret < 0) {
			note("heap: %s has OpenTelemetry's otel_memory probes but %s: its "
			     "allocator is probed instead", mods[k]->path, h->otel_why);
			return 0;	/* (add_otel added nothing) */
		}
	}
	return 0;
}

const char *hfuncs_fallback_why(int fallback)
{
	return fallback == 1 ? "the program defines malloc itself (static, or its own allocator), "
			       "which comes before any preloaded one" :
	       "the command did not load " PRELOAD_NAME " (a static or set-user-ID program, "
	       "or one that clears its environment)";
}

int hfuncs_resolve(struct hfuncs *h, struct target *t)
{
	const struct maps *m = hfuncs_root_maps(t);
	struct module *mods[256], *owner = NULL;
	size_t n = hfuncs_lookup_order(m, mods, 256);

	if (h->nuser)
		return resolve_user(h, m, mods, n);
	if (h->preload || h->otel_ok) {
		/* launched with the library, or attached to a process that was */
		int ret = resolve_preload(h, m, mods, n);

		if (ret > 0) {
			h->preload = true;
			return ret;
		}
		if (h->preload && !ret)
			return 0;
		if (!h->preload)
			h->fallback = 0;	/* (it was not to be there) */
		h->preload = false;	/* the allocator's functions, then */
	}
	if (h->otel_ok && !h->otel_why && resolve_otel(h, m, mods, n))
		return 1;

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

/*
 * probe:[LIB:]SYMBOL: each call counts one.  pair:ACQUIRE,RELEASE (Go's
 * Add and Remove): ACQUIRE's calls count as probe's do, and the value it
 * returns is live until RELEASE is called with it as its first argument:
 * heap's machinery with a count where heap has a size.
 */
int hfuncs_parse_user(struct hfuncs *h, const char *arg)
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

/*
 * The allocator's functions that stand between an allocating function and
 * the entry probed: their frames are not allocation sites.  Sorted
 * (strcmp), for bsearch.  Library code that allocates (strdup, fopen,
 * std::string's _M_create) stays: Go, likewise, hides its runtime only.
 */
static const char *const alloc_names[] = {
	"_ZdaPv", "_ZdaPvSt11align_val_t", "_ZdaPvm", "_ZdaPvmSt11align_val_t", "_ZdlPv",
	"_ZdlPvSt11align_val_t", "_ZdlPvm", "_ZdlPvmSt11align_val_t", "_Znam",
	"_ZnamRKSt9nothrow_t", "_ZnamSt11align_val_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
	"_Znwm", "_ZnwmRKSt9nothrow_t", "_ZnwmSt11align_val_t",
	"_ZnwmSt11align_val_tRKSt9nothrow_t", "__libc_calloc", "__libc_free", "__libc_malloc",
	"__libc_memalign", "__libc_pvalloc", "__libc_realloc", "__libc_reallocarray",
	"__libc_valloc", "__posix_memalign", "__rdl_alloc", "__rdl_alloc_zeroed",
	"__rdl_dealloc", "__rdl_realloc", "__rg_alloc", "__rg_alloc_zeroed", "__rg_dealloc",
	"__rg_realloc", "__rust_alloc", "__rust_alloc_zeroed", "__rust_dealloc",
	"__rust_realloc", "aligned_alloc", "calloc", "dallocx", "free", "je_aligned_alloc",
	"je_calloc", "je_free", "je_malloc", "je_mallocx", "je_posix_memalign", "je_rallocx",
	"je_realloc", "malloc", "mallocx", "memalign", "posix_memalign", "pvalloc", "rallocx",
	"realloc", "reallocarray", "sdallocx", "tc_calloc", "tc_free", "tc_malloc",
	"tc_memalign", "tc_new", "tc_new_nothrow", "tc_newarray", "tc_newarray_nothrow",
	"tc_posix_memalign", "tc_realloc", "valloc",
};
#define NALLOC_NAMES (sizeof(alloc_names) / sizeof(alloc_names[0]))

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A module's allocator functions, found once (.symtab and .dynsym). */
static const struct hidden_mod *hidden_of(struct hfuncs *h, const struct module *mod)
{
	struct hidden_mod *hm;
	Elf_Scn *scn = NULL;

	for (size_t i = 0; i < h->nhidden; i++)
		if (h->hidden[i].mod == mod)
			return &h->hidden[i];
	h->hidden = xrealloc(h->hidden, (h->nhidden + 1) * sizeof(*h->hidden));
	hm = &h->hidden[h->nhidden++];
	*hm = (struct hidden_mod){ .mod = mod };
	if (!strcmp(base_name(mod->path), PRELOAD_NAME) ||
	    (h->otel_hide_all && mod == h->otel_mod)) {
		/* the preloaded sampler: all of it */
		hm->r = xmalloc(sizeof(*hm->r));
		hm->r[0][0] = 0;
		hm->r[0][1] = UINT64_MAX;
		hm->n = 1;
		return hm;
	}
	while (mod->elf && !mod->is_vdso && (scn = elf_nextscn(mod->elf, scn))) {
		Elf_Data *d;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    !sh.sh_entsize || !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 1; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(d, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    sym.st_shndx == SHN_UNDEF || !sym.st_value ||
			    !(name = elf_strptr(mod->elf, sh.sh_link, sym.st_name)) ||
			    !bsearch(&name, alloc_names, NALLOC_NAMES, sizeof(*alloc_names), cmp_name))
				continue;
			hm->r = xrealloc(hm->r, (hm->n + 1) * sizeof(*hm->r));
			hm->r[hm->n][0] = sym.st_value;
			hm->r[hm->n][1] = sym.st_value + (sym.st_size ? sym.st_size : 1);
			hm->n++;
		}
	}
	return hm;
}

static bool in_allocator(struct hfuncs *h, const struct maps *m, uint64_t pc)
{
	const struct mapping *map;
	const struct hidden_mod *hm;
	uint64_t a;

	if (pc_is_pseudo(pc))
		return false;
	pc &= ~(PC_PHYSICAL | PC_TAILCALL);
	map = maps_find(m, pc);
	if (!map || !map->mod)
		return false;
	hm = hidden_of(h, map->mod);
	a = pc - map->bias;
	for (size_t i = 0; i < hm->n; i++)
		if (a >= hm->r[i][0] && a < hm->r[i][1])
			return true;
	return false;
}

size_t hfuncs_site(struct hfuncs *h, const struct maps *m, const uint64_t *pcs, size_t n)
{
	size_t k = 1;

	if (n <= 1)
		return 0;
	while (!h->nuser && k < n - 1 && in_allocator(h, m, pcs[k]))
		k++;
	return k;
}

void hfuncs_release(struct hfuncs *h)
{
	for (size_t i = 0; i < h->nhidden; i++)
		free(h->hidden[i].r);
	free(h->hidden);
	h->hidden = NULL;
	h->nhidden = 0;
	for (size_t i = 0; i < h->nprobes; i++)
		free(h->probes[i].path);
	free(h->sym);
	free(h->otel_why);
	h->otel_why = NULL;
	free(h->probes);
	h->sym = NULL;
	h->probes = NULL;
	h->nprobes = 0;
}
