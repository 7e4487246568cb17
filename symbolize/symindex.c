/*
 * symbolize/symindex.c - a module's symbols sorted by address once, looked
 * up by binary search with libdwfl's rules for choosing among them.
 */
#include "symindex.h"
#include "../lib/util.h"

#include <gelf.h>
#include <stdlib.h>
#include <string.h>

/*
 * Past these, a lookup asks libdwfl instead (a symbol that spans much of
 * the module, or many overlapping ones): correct, only slower.
 */
#define SCAN_MAX 4096
#define CAND_MAX 64

struct sym_ent {
	uint64_t value;		/* relative to the module's load bias */
	uint64_t size;
	uint64_t end_max;	/* max(value + size) over this and all before */
	const char *name;
	uint32_t ndx;		/* in libdwfl's table: its order breaks ties */
	uint32_t shndx;
	int bind;		/* libdwfl's preference: global 3, weak 2, local 1 */
};

/*
 * libdwfl searches the global symbols first and the locals only if that
 * finds no symbol with a size around the address: two passes, each its
 * own sorted array.
 */
struct sym_pass {
	struct sym_ent *v;
	size_t n;
};

struct symindex {
	struct sym_pass pass[2];
	size_t npass;
};

static int bind_value(unsigned char info)
{
	switch (GELF_ST_BIND(info)) {
	case STB_GLOBAL:
		return 3;
	case STB_WEAK:
		return 2;
	case STB_LOCAL:
		return 1;
	default:
		return 0;
	}
}

static int ent_cmp(const void *pa, const void *pb)
{
	const struct sym_ent *a = pa, *b = pb;

	if (a->value != b->value)
		return a->value < b->value ? -1 : 1;
	return a->ndx < b->ndx ? -1 : a->ndx > b->ndx;
}

static uint64_t load_bias(Dwfl_Module *mod)
{
	Dwarf_Addr bias = 0;

	dwfl_module_getelf(mod, &bias);
	return bias;
}

/* The symbols [from, to) of mod's table that libdwfl would consider. */
static void read_pass(Dwfl_Module *mod, int from, int to, uint64_t bias,
		      struct sym_pass *p)
{
	size_t alloc = 0;

	for (int i = from; i < to; i++) {
		GElf_Sym sym;
		GElf_Addr value;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &value, &shndx,
							   NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info);

		if (!name || !name[0] || sym.st_shndx == SHN_UNDEF ||
		    type == STT_SECTION || type == STT_FILE || type == STT_TLS)
			continue;
		GROW(p->v, alloc, p->n + 1);
		p->v[p->n++] = (struct sym_ent){
			.value = value - bias, .size = sym.st_size, .name = name,
			.ndx = (uint32_t)i, .shndx = shndx, .bind = bind_value(sym.st_info),
		};
	}
	qsort(p->v, p->n, sizeof(*p->v), ent_cmp);
	for (size_t i = 0; i < p->n; i++) {
		uint64_t end = p->v[i].value + p->v[i].size;

		p->v[i].end_max = i && p->v[i - 1].end_max > end ? p->v[i - 1].end_max : end;
	}
}

struct symindex *symindex_build(Dwfl_Module *mod)
{
	int n = dwfl_module_getsymtab(mod);
	int first_global = n >= 0 ? dwfl_module_getsymtab_first_global(mod) : -1;
	Dwarf_Addr bias;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	GElf_Ehdr eh;
	struct symindex *ix;

	/*
	 * ppc64's function descriptors give a symbol two addresses in
	 * libdwfl's search, and relocatable files get sections placed one by
	 * one: neither is kept here.
	 */
	if (n < 0 || first_global < 0 || !elf || !gelf_getehdr(elf, &eh) ||
	    eh.e_machine == EM_PPC64 || eh.e_type == ET_REL)
		return NULL;
	ix = xcalloc(1, sizeof(*ix));
	/* (first_global 0: only a .dynsym read through the phdrs) */
	read_pass(mod, first_global ? first_global : 1, n, bias, &ix->pass[0]);
	ix->npass = 1;
	if (first_global > 1) {
		read_pass(mod, 1, first_global, bias, &ix->pass[1]);
		ix->npass = 2;
	}
	return ix;
}

void symindex_free(struct symindex *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->npass; i++)
		free(ix->pass[i].v);
	free(ix);
}

size_t symindex_size(const struct symindex *ix)
{
	return ix ? ix->pass[0].n + ix->pass[1].n : 0;
}

/* Entries [0, k) of p have value <= a. */
static size_t upto(const struct sym_pass *p, uint64_t a)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->v[mid].value <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int ndx_cmp(const void *pa, const void *pb)
{
	const struct sym_ent *a = *(const struct sym_ent *const *)pa;
	const struct sym_ent *b = *(const struct sym_ent *const *)pb;

	return a->ndx < b->ndx ? -1 : a->ndx > b->ndx;
}

/*
 * The symbols with a size around a among p's first k, chosen from as
 * libdwfl does, in table order: a closer start wins, or a stronger
 * binding (even with a start further away: the order decides then); at
 * the same start a smaller size at no weaker binding.  *best: NULL when
 * none; -1 when too many to say here.
 */
static int sized_best(const struct sym_pass *p, size_t k, uint64_t a,
		      const struct sym_ent **best)
{
	const struct sym_ent *cand[CAND_MAX];
	size_t nc = 0, steps = 0;

	*best = NULL;
	for (size_t j = k; j-- > 0 && p->v[j].end_max > a;) {
		const struct sym_ent *e = &p->v[j];

		if (++steps > SCAN_MAX)
			return -1;
		if (!e->size || a - e->value >= e->size)
			continue;
		if (nc == CAND_MAX)
			return -1;
		cand[nc++] = e;
	}
	qsort(cand, nc, sizeof(cand[0]), ndx_cmp);
	for (size_t i = 0; i < nc; i++) {
		const struct sym_ent *b = *best, *c = cand[i];

		if (!b || b->value < c->value || b->bind < c->bind ||
		    (b->value == c->value &&
		     ((b->size > c->size && b->bind <= c->bind) ||
		      (b->size >= c->size && b->bind < c->bind))))
			*best = c;
	}
	return 0;
}

static GElf_Word section_of(Dwfl_Module *mod, uint64_t addr)
{
	Dwarf_Addr a = addr, bias;
	Elf_Scn *scn = dwfl_module_address_section(mod, &a, &bias);

	return scn ? (GElf_Word)elf_ndxscn(scn) : SHN_UNDEF;
}

/*
 * A symbol without a size (an assembly label) names the address only when
 * no symbol with a size covers it, when it is in the address's section,
 * and when nothing considered ends past it: so its value is the largest
 * end of all the symbols at or below the address (m).  Of those, libdwfl
 * keeps the last it meets.
 */
static const struct sym_ent *sizeless_at(const struct sym_pass *p, size_t k,
					 uint64_t m, Dwfl_Module *mod, uint64_t bias,
					 uint64_t addr)
{
	GElf_Word addr_shndx = SHN_UNDEF;
	bool have_shndx = false;

	/* (sorted by value, then table order: the last met comes first) */
	for (size_t j = k; j-- > 0 && p->v[j].value >= m;) {
		const struct sym_ent *e = &p->v[j];
		bool same;

		if (e->size || e->value != m)
			continue;
		if (e->shndx >= SHN_LORESERVE) {
			same = e->value + bias == addr;
		} else {
			if (!have_shndx)
				addr_shndx = section_of(mod, addr), have_shndx = true;
			same = section_of(mod, e->value + bias) == addr_shndx;
		}
		if (same)
			return e;
	}
	return NULL;
}

const char *symindex_lookup(const struct symindex *ix, Dwfl_Module *mod,
			    uint64_t addr, GElf_Off *off)
{
	uint64_t bias = load_bias(mod), a = addr - bias, m = 0;
	const struct sym_ent *best = NULL;
	size_t k[2] = { 0, 0 }, searched = 0;

	for (size_t i = 0; i < ix->npass; i++) {
		const struct sym_pass *p = &ix->pass[i];

		/*
		 * The locals are skipped when the globals hold a label exactly
		 * at the address (and no symbol with a size around it).
		 */
		if (i == 1 && sizeless_at(&ix->pass[0], k[0], a, mod, bias, addr))
			break;
		k[i] = upto(p, a);
		searched = i + 1;
		if (k[i] && p->v[k[i] - 1].end_max > m)
			m = p->v[k[i] - 1].end_max;
		if (sized_best(p, k[i], a, &best) < 0)
			goto ask_libdwfl;
		if (best) {
			*off = a - best->value;
			return best->name;
		}
	}
	for (size_t i = searched; i-- > 0;) {
		best = sizeless_at(&ix->pass[i], k[i], m, mod, bias, addr);
		if (best) {
			*off = a - best->value;
			return best->name;
		}
	}
	return NULL;

ask_libdwfl:;
	GElf_Sym sym;

	return dwfl_module_addrinfo(mod, addr, off, &sym, NULL, NULL, NULL);
}
