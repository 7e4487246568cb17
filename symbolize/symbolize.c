/*
 * symbolize/symbolize.c - libdwfl over the modules cprof already opened: one
 * Dwfl per exec epoch, each module reported at its load bias from our own
 * file descriptor (so deleted files still resolve).
 *
 * A tree of processes has an epoch per process image, most of them with
 * the same modules at other addresses (ASLR): a module's debug info is
 * read once, in the first epoch that reports it (its representative), and
 * an address of another epoch is looked up there, moved by the difference
 * of the two load biases.  Measured on a 2 s recording of 390 short
 * processes of one program (libc6-dbg installed): cprof ran 11.3 s with a
 * Dwfl read for each, 2.7 s this way.
 */
#define _GNU_SOURCE
#include "symbolize.h"
#include "debugcache.h"
#include "maps.h"
#include "symindex.h"
#include "tailcall.h"
#include "../lib/stack.h"
#include "../lib/u64map.h"
#include "../lib/util.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* from libstdc++: the Itanium C++ ABI demangler (also legacy Rust names) */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len,
			    int *status);

struct strent {
	char *s;
	uint64_t hash;
};

struct symbolizer {
	struct addrspace *as;
	char *debuginfo_path;
	Dwfl_Callbacks callbacks;
	Dwfl **dwfl;		/* per epoch, built on first use */
	size_t ndwfl;
	struct strent *strs;	/* interned strings, open addressing */
	size_t nstrs, strs_alloc;
	struct u64map cache;	/* (epoch, addr) -> results[] */
	struct symloc *results;	/* each unique address symbolized once */
	size_t nresults, results_alloc;
	struct u64map plt;	/* (Dwfl_Module, GOT slot) -> interned name; (mod, 0): read */
	struct u64map reps;	/* (module, 0) -> its representative epoch,
				 * (module, 1) -> its load bias there */
	struct tailcalls *tailcalls;	/* built on first use */
	struct u64map symix;	/* (Dwfl_Module, 0) and (build-id hash, 1) -> symindex */
	struct symindex **symixs;	/* every index built, to free */
	size_t nsymix, symix_alloc;
	bool symix_check;	/* CPROF_SYMINDEX_CHECK=1: each answer against libdwfl's */
	uint64_t *expanded;	/* symbolizer_tailcalls()'s answer */
	size_t expanded_alloc;
};

static const char *intern(struct symbolizer *s, const char *str)
{
	uint64_t h = hash_bytes(HASH_INIT, str, strlen(str));
	size_t i;

	if (2 * (s->nstrs + 1) > s->strs_alloc) {
		struct strent *old = s->strs;
		size_t n = s->strs_alloc;

		s->strs_alloc = n ? 2 * n : 1024;
		s->strs = xcalloc(s->strs_alloc, sizeof(*s->strs));
		for (size_t j = 0; j < n; j++) {
			if (!old[j].s)
				continue;
			for (i = old[j].hash & (s->strs_alloc - 1); s->strs[i].s;
			     i = (i + 1) & (s->strs_alloc - 1))
				;
			s->strs[i] = old[j];
		}
		free(old);
	}
	for (i = h & (s->strs_alloc - 1); s->strs[i].s; i = (i + 1) & (s->strs_alloc - 1))
		if (s->strs[i].hash == h && !strcmp(s->strs[i].s, str))
			return s->strs[i].s;
	s->strs[i] = (struct strent){ xstrdup(str), h };
	s->nstrs++;
	return s->strs[i].s;
}

const char *symbolizer_demangle(struct symbolizer *s, const char *name)
{
	char *d;
	int status = -1;
	size_t len;

	if (strncmp(name, "_Z", 2))
		return intern(s, name);
	d = __cxa_demangle(name, NULL, NULL, &status);
	if (!d || status)
		return intern(s, name);
	/* Rust legacy mangling ends in a hash segment: "::h0123456789abcdef" */
	len = strlen(d);
	if (len > 19 && !strncmp(d + len - 19, "::h", 3) &&
	    strspn(d + len - 16, "0123456789abcdef") == 16)
		d[len - 19] = '\0';
	name = intern(s, d);
	free(d);
	return name;
}

/* Debug files may come from a debuginfod server: DEBUGINFOD_URLS is set. */
static bool debuginfod_on(void)
{
	const char *urls = getenv("DEBUGINFOD_URLS");

	return urls && urls[strspn(urls, " \t")];
}

/* The file at path is the debug file of the module: same build-id (or crc). */
static int open_if_match(const char *path, const unsigned char *id, int len, GElf_Word crc,
			 bool have_crc)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf *elf;
	const void *fid;
	ssize_t flen;
	bool ok = false;

	if (fd < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	flen = elf ? dwelf_elf_gnu_build_id(elf, &fid) : -1;
	if (flen > 0) {
		ok = flen == len && !memcmp(fid, id, (size_t)len);
	} else if (have_crc) {
		/* the .gnu_debuglink checksum: zlib's crc32 of the whole file */
		unsigned char buf[65536];
		uLong c = crc32(0, NULL, 0);
		ssize_t n;
		off_t off = 0;

		while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
			c = crc32(c, buf, (uInt)n);
			off += n;
		}
		ok = n == 0 && c == crc;
	}
	elf_end(elf);
	if (!ok) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * libdwfl's search for a debug file by name, without its last step:
 * dwfl_standard_find_debuginfo() ends in a debuginfod query, and libdw
 * 0.188 loads libdebuginfod (and libcurl, gnutls...) for it even when no
 * server is set: ~10-20 ms of every run on a stripped binary.  The same
 * places as libdwfl (see libdwfl.h, "Standard callbacks"): for each
 * element of the debuginfo path, empty the main file's directory, a
 * relative one below it, an absolute one with the main file's directory
 * (and each shorter tail of it) below; the name from .gnu_debuglink, else
 * the file's own with ".debug".  A candidate counts if its build-id is the
 * module's (else its crc, the debuglink's).
 */
static int find_by_name(const char *debuginfo_path, const char *file_name,
			const char *debuglink_file, GElf_Word debuglink_crc,
			const unsigned char *id, int len, char **found)
{
	const char *base = strrchr(file_name, '/');
	char *path = xstrdup(debuginfo_path ? debuginfo_path : ":.debug:/usr/lib/debug");
	char *dir = base ? xasprintf("%.*s", (int)(base - file_name), file_name) : xstrdup(".");
	char *name = debuglink_file ? xstrdup(debuglink_file) :
			xasprintf("%s.debug", base ? base + 1 : file_name);
	char *rest = path + (path[0] == '+' || path[0] == '-'), *cand = NULL, *e;
	int fd = -1;

	/* (strsep: an empty element is the main file's directory) */
	while (fd < 0 && (e = strsep(&rest, ":"))) {
		if (e[0] == '+' || e[0] == '-')
			e++;
		/*
		 * For an absolute element: below it the main file's directory,
		 * then each shorter tail of that, then the element itself.
		 */
		for (const char *tail = dir[0] == '/' ? dir : "";;) {
			free(cand);
			if (!e[0])
				cand = xasprintf("%s/%s", dir, name);
			else if (e[0] != '/')
				cand = xasprintf("%s/%s/%s", dir, e, name);
			else
				cand = xasprintf("%s%s/%s", e, tail, name);
			if (strcmp(cand, file_name))
				fd = open_if_match(cand, id, len, debuglink_crc, debuglink_file != NULL);
			if (fd >= 0 || e[0] != '/' || !tail[0])
				break;
			tail = strchr(tail + 1, '/') ? strchr(tail + 1, '/') : "";
		}
	}
	if (fd >= 0)
		*found = cand;
	else
		free(cand);
	free(path);
	free(dir);
	free(name);
	return fd;
}

/*
 * elfutils' own search (build-id, .gnu_debuglink, the debuginfo path, a
 * debuginfod server if one is set), then a decompressed copy from the
 * cache if the file is compressed.
 */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			  GElf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	const struct symbolizer *s = *userdata;	/* (set when reported) */
	const unsigned char *id = NULL;
	GElf_Addr vaddr;
	int len, fd;

	len = dwfl_module_build_id(mod, &id, &vaddr);
	if (len <= 0)
		id = NULL, len = 0;
	/* a copy made before: libdwfl then opens our descriptor */
	fd = debugcache_find(id, (size_t)len, debuginfo_file_name);
	if (fd >= 0)
		return fd;
	if (len && !debuginfod_on()) {
		fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
						  debuglink_file, debuglink_crc,
						  debuginfo_file_name);
		if (fd < 0 && file_name && s)
			fd = find_by_name(s->debuginfo_path, file_name, debuglink_file,
					  debuglink_crc, id, len, debuginfo_file_name);
	} else {
		/* (without a build-id libdwfl asks no server) */
		fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name,
						  debuglink_file, debuglink_crc,
						  debuginfo_file_name);
	}
	if (fd < 0)
		return fd;
	/*
	 * Make the copy for next time.  This time libdwfl has already opened
	 * the file it found (by build-id) and keeps that one.
	 */
	return debugcache_open(fd, id, (size_t)len);
}

struct symbolizer *symbolizer_new(struct addrspace *as, const char *debuginfo_path)
{
	struct symbolizer *s = xcalloc(1, sizeof(*s));

	s->as = as;
	s->debuginfo_path = debuginfo_path ? xstrdup(debuginfo_path) : NULL;
	s->symix_check = getenv("CPROF_SYMINDEX_CHECK") &&
			 !strcmp(getenv("CPROF_SYMINDEX_CHECK"), "1");
	s->callbacks = (Dwfl_Callbacks){
		.find_elf = dwfl_linux_proc_find_elf,
		.find_debuginfo = find_debuginfo,
		.debuginfo_path = &s->debuginfo_path,
	};
	return s;
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ndwfl; i++)
		if (s->dwfl[i])
			dwfl_end(s->dwfl[i]);
	free(s->dwfl);
	for (size_t i = 0; i < s->strs_alloc; i++)
		free(s->strs[i].s);
	free(s->strs);
	free(s->results);
	u64map_release(&s->cache);
	u64map_release(&s->plt);
	u64map_release(&s->reps);
	tailcalls_free(s->tailcalls);
	for (size_t i = 0; i < s->nsymix; i++)
		symindex_free(s->symixs[i]);
	free(s->symixs);
	u64map_release(&s->symix);
	free(s->expanded);
	free(s->debuginfo_path);
	free(s);
}

static Dwfl *epoch_dwfl(struct symbolizer *s, uint32_t epoch)
{
	const struct maps *m;
	const struct module *reported[4096];
	size_t nrep = 0;
	Dwfl *d;

	if (epoch >= s->as->nepochs)
		return NULL;
	if (epoch >= s->ndwfl) {
		s->dwfl = xrealloc(s->dwfl, (epoch + 1) * sizeof(*s->dwfl));
		memset(s->dwfl + s->ndwfl, 0, (epoch + 1 - s->ndwfl) * sizeof(*s->dwfl));
		s->ndwfl = epoch + 1;
	}
	if (s->dwfl[epoch])
		return s->dwfl[epoch];
	d = s->dwfl[epoch] = dwfl_begin(&s->callbacks);
	if (!d)
		return NULL;
	m = &s->as->epochs[epoch];
	dwfl_report_begin(d);
	for (size_t i = 0; i < m->n; i++) {
		const struct mapping *mp = &m->v[i];
		bool seen = false;
		int fd;

		if (!mp->mod || !mp->mod->elf || !(mp->prot & MAP_X))
			continue;
		for (size_t j = 0; j < nrep && !seen; j++)
			seen = reported[j] == mp->mod;
		if (seen || nrep == sizeof(reported) / sizeof(reported[0]))
			continue;
		fd = dup(mp->mod->fd);
		if (fd < 0)
			continue;
		/* ET_DYN with add_p_vaddr: base is the load bias */
		Dwfl_Module *dm = dwfl_report_elf(d, mp->mod->path, mp->mod->debug_path, fd,
						  mp->bias, true);
		void **user;

		if (!dm) {
			debug("dwfl_report_elf %s: %s", mp->mod->path, dwfl_errmsg(-1));
			close(fd);
			continue;
		}
		/* find_debuginfo's: the symbolizer (for its debuginfo path) */
		dwfl_module_info(dm, &user, NULL, NULL, NULL, NULL, NULL, NULL);
		*user = s;
		reported[nrep++] = mp->mod;
		bool added;

		u64map_put(&s->reps, (uintptr_t)mp->mod, 0, epoch, &added);
		if (added)
			u64map_put(&s->reps, (uintptr_t)mp->mod, 1, mp->bias, &added);
	}
	dwfl_report_end(d, NULL, NULL);
	return d;
}

static const char *die_name(Dwarf_Die *die, const char **system_name)
{
	Dwarf_Attribute attr;
	const char *linkage = NULL, *name;

	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
		linkage = dwarf_formstring(&attr);
	name = dwarf_attr_integrate(die, DW_AT_name, &attr) ? dwarf_formstring(&attr) : NULL;
	*system_name = linkage ? linkage : name;
	return linkage ? linkage : name;
}

static void set_frame(struct symbolizer *s, struct symframe *f, const char *name,
		      const char *sysname, const char *file, int line,
		      const char *comp_dir)
{
	f->name = symbolizer_demangle(s, name);
	f->system_name = intern(s, sysname ? sysname : name);
	/* DWARF file names may be relative to the compilation directory */
	if (file && file[0] && file[0] != '/' && comp_dir && comp_dir[0] == '/') {
		char *abs = xasprintf("%s/%s", comp_dir, file);

		f->file = intern(s, abs);
		free(abs);
	} else {
		f->file = intern(s, file ? file : "");
	}
	f->line = line;
}

static const char *cu_comp_dir(Dwarf_Die *cu)
{
	Dwarf_Attribute attr;

	return dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
}

/*
 * The inline chain.  dwarf_getscopes() finds the innermost function DIE
 * containing the address; past an inlined_subroutine it continues into the
 * inlined function's abstract definition, so the chain of *callers* comes
 * from dwarf_getscopes_die() on that DIE (the concrete tree, as
 * eu-addr2line -i walks it).  The innermost frame's file:line is the
 * address's own line; each enclosing function's is the DW_AT_call_file /
 * DW_AT_call_line of the inlined_subroutine just inside it.
 */
static size_t dwarf_frames(struct symbolizer *s, Dwfl_Module *mod, uint64_t addr,
			   struct symframe *out)
{
	Dwarf_Addr bias;
	Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &bias);
	Dwarf_Die *scopes = NULL, *chain = NULL, *fn = NULL;
	Dwfl_Line *dl = dwfl_module_getsrc(mod, addr);
	Dwarf_Files *files = NULL;
	const char *file = NULL;
	int line = 0, n, nchain;
	size_t nf = 0;

	if (!cu)
		return 0;
	if (dl)
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
	n = dwarf_getscopes(cu, addr - bias, &scopes);
	for (int i = 0; i < n && !fn; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram)
			fn = &scopes[i];
	}
	nchain = fn ? dwarf_getscopes_die(fn, &chain) : 0;
	dwarf_getsrcfiles(cu, &files, NULL);
	for (int i = 0; i < nchain && nf < SYM_MAX_INLINE; i++) {
		Dwarf_Die *sc = &chain[i];
		int tag = dwarf_tag(sc);
		const char *sysname, *name;
		Dwarf_Attribute attr;
		Dwarf_Word v;

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		name = die_name(sc, &sysname);
		if (!name)
			name = "??";
		set_frame(s, &out[nf++], name, sysname, file, line, cu_comp_dir(cu));
		if (tag == DW_TAG_subprogram)
			break;
		file = NULL;
		line = 0;
		if (dwarf_formudata(dwarf_attr(sc, DW_AT_call_file, &attr), &v) == 0 && files)
			file = dwarf_filesrc(files, v, NULL, NULL);
		if (dwarf_formudata(dwarf_attr(sc, DW_AT_call_line, &attr), &v) == 0)
			line = (int)v;
	}
	free(chain);
	free(scopes);
	return nf;
}

static void lookup(struct symbolizer *s, uint32_t epoch, uint64_t addr,
		   struct symloc *out);

/*
 * mod's symbol index: built on first use, once per file (by build-id, so
 * two copies of one binary share it), NULL where libdwfl must answer.
 */
static const struct symindex *module_symindex(struct symbolizer *s, Dwfl_Module *mod)
{
	const unsigned char *id;
	GElf_Addr vaddr;
	uint64_t *slot, key = 0;
	struct symindex *ix = NULL;
	bool added;
	int len;

	slot = u64map_find(&s->symix, (uintptr_t)mod, 0);
	if (slot)
		return (const struct symindex *)(uintptr_t)*slot;
	len = dwfl_module_build_id(mod, &id, &vaddr);
	if (len > 0) {
		key = hash_bytes(HASH_INIT, id, (size_t)len);
		slot = u64map_find(&s->symix, key, 1);
		if (slot)
			ix = (struct symindex *)(uintptr_t)*slot;
	}
	if (!ix && (ix = symindex_build(mod))) {
		GROW(s->symixs, s->symix_alloc, s->nsymix + 1);
		s->symixs[s->nsymix++] = ix;
		if (len > 0)
			u64map_put(&s->symix, key, 1, (uintptr_t)ix, &added);
		debug("symbol index of %s: %zu symbols", dwfl_module_info(mod, NULL, NULL, NULL,
				NULL, NULL, NULL, NULL), symindex_size(ix));
	}
	u64map_put(&s->symix, (uintptr_t)mod, 0, (uintptr_t)ix, &added);
	return ix;
}

/* What dwfl_module_addrinfo() says, from the index where there is one. */
static const char *module_symbol(struct symbolizer *s, Dwfl_Module *mod, uint64_t addr,
				 GElf_Off *off)
{
	const struct symindex *ix = module_symindex(s, mod);
	const char *name, *want;
	GElf_Off woff = 0;
	GElf_Sym sym;

	if (!ix)
		return dwfl_module_addrinfo(mod, addr, off, &sym, NULL, NULL, NULL);
	name = symindex_lookup(ix, mod, addr, off);
	if (!s->symix_check)
		return name;
	want = dwfl_module_addrinfo(mod, addr, &woff, &sym, NULL, NULL, NULL);
	if (!want != !name || (name && (strcmp(name, want) || *off != woff)))
		error("symbol index: %#llx: %s+%#llx, libdwfl: %s+%#llx",
			(unsigned long long)addr, name ? name : "(none)",
			(unsigned long long)(name ? *off : 0), want ? want : "(none)",
			(unsigned long long)woff);
	return name;
}

/*
 * The epoch whose Dwfl reads the module mapped at (epoch, *addr), and the
 * address there (*addr moved); the epoch itself if the module has no
 * representative yet (then it becomes one).  *m: the mapping, or NULL.
 */
static uint32_t canon(struct symbolizer *s, uint32_t epoch, uint64_t *addr,
		      const struct mapping **m)
{
	const uint64_t *rep, *bias;

	*m = epoch < s->as->nepochs ? maps_find(&s->as->epochs[epoch], *addr) : NULL;
	if (!*m || !(*m)->mod || !(*m)->mod->elf || !((*m)->prot & MAP_X))
		return epoch;
	rep = u64map_find(&s->reps, (uintptr_t)(*m)->mod, 0);
	bias = u64map_find(&s->reps, (uintptr_t)(*m)->mod, 1);
	if (!rep || !bias || *rep == epoch)
		return epoch;
	*addr = *addr - (*m)->bias + *bias;
	return (uint32_t)*rep;
}

/*
 * The symbols the dynamic relocations (.rela.plt, .rela.dyn) bind GOT
 * slots to, for plt_name(): one pass over a module's relocations.
 */
static void read_got_slots(struct symbolizer *s, Dwfl_Module *mod, Elf *elf)
{
	uint64_t key = (uint64_t)(uintptr_t)mod;
	Elf_Scn *scn = NULL;
	bool added;

	u64map_put(&s->plt, key, 0, 1, &added);
	if (!added)
		return;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh, symsh;
		Elf_Scn *symscn;
		Elf_Data *d, *symd;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA ||
		    !(symscn = elf_getscn(elf, sh.sh_link)) || !gelf_getshdr(symscn, &symsh) ||
		    !(d = elf_getdata(scn, NULL)) || !(symd = elf_getdata(symscn, NULL)))
			continue;
		for (int i = 0; i < (int)(sh.sh_size / (sh.sh_entsize ? sh.sh_entsize : 24)); i++) {
			GElf_Rela r;
			GElf_Sym sym;
			const char *name;
			unsigned type;

			if (!gelf_getrela(d, i, &r))
				break;
			type = GELF_R_TYPE(r.r_info);
			if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) ||
			    !GELF_R_SYM(r.r_info) || !r.r_offset ||
			    !gelf_getsym(symd, (int)GELF_R_SYM(r.r_info), &sym) ||
			    !(name = elf_strptr(elf, symsh.sh_link, sym.st_name)) || !name[0])
				continue;
			char *plt = xasprintf("%s@plt", name);

			u64map_put(&s->plt, key, r.r_offset, (uint64_t)(uintptr_t)intern(s, plt), &added);
			free(plt);
		}
	}
}

/*
 * An address in a PLT stub has no symbol: name it as perf and gdb do,
 * "puts@plt", after the function its GOT slot is bound to.  The stub's
 * indirect jump (ff 25, rip-relative, perhaps after endbr64 and a bnd
 * prefix) gives the slot; .rela.plt or .rela.dyn, the symbol.  "[plt]" for
 * the lazy-binding entry (PLT0) and any stub that does not decode.
 */
static const char *plt_name(struct symbolizer *s, Dwfl_Module *mod, uint64_t addr)
{
	Dwarf_Addr bias;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (!elf || elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	addr -= bias;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *sname;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    addr < sh.sh_addr || addr - sh.sh_addr >= sh.sh_size)
			continue;
		sname = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!sname || (strcmp(sname, ".plt") && strcmp(sname, ".plt.sec") &&
			       strcmp(sname, ".plt.got")))
			return NULL;
		read_got_slots(s, mod, elf);
		uint64_t esz = sh.sh_entsize >= 8 && sh.sh_entsize <= 32 ? sh.sh_entsize : 16;
		uint64_t entry = (addr - sh.sh_addr) / esz * esz;
		const unsigned char *p;

		if (!(d = elf_getdata(scn, NULL)) || !d->d_buf || d->d_size < entry + esz)
			return "[plt]";
		p = (const unsigned char *)d->d_buf + entry;
		for (uint64_t i = 0; i + 6 <= esz; i++) {
			if (p[i] != 0xff || p[i + 1] != 0x25)
				continue;
			int32_t disp;
			uint64_t *name;

			memcpy(&disp, p + i + 2, 4);
			name = u64map_find(&s->plt, (uint64_t)(uintptr_t)mod,
					   sh.sh_addr + entry + i + 6 + (int64_t)disp);
			return name ? (const char *)(uintptr_t)*name : "[plt]";
		}
		return "[plt]";
	}
	return NULL;
}

void symbolizer_lookup(struct symbolizer *s, uint32_t epoch, uint64_t addr,
		       struct symloc *out)
{
	bool added;
	uint64_t *slot = u64map_put(&s->cache, epoch, addr, s->nresults, &added);

	if (added) {
		GROW(s->results, s->results_alloc, s->nresults + 1);
		lookup(s, epoch, addr, &s->results[s->nresults++]);
	}
	*out = s->results[*slot];
}

/*
 * A tail-call frame: the function at its jump, the outermost (physical)
 * one marked, so that pprof and the dumps tell it from a frame the stack
 * really held (the inlined functions around the jump stay as they are).
 */
static void lookup_tailcall(struct symbolizer *s, uint32_t epoch, uint64_t addr,
			    struct symloc *out)
{
	struct symframe *f;
	char *name;

	lookup(s, epoch, addr & ~PC_TAILCALL, out);
	out->tail_call = true;
	if (!out->nframes)
		return;
	f = &out->frames[out->nframes - 1];
	name = xasprintf("%s" TAILCALL_SUFFIX, f->name);
	f->name = intern(s, name);
	free(name);
}

/*
 * Code no ELF file backs: named by the process's perf map if it has one,
 * the map's path as the function's file, so that the profile says where
 * the name came from.  (Epochs still running are read here, at the end.)
 */
static void lookup_jit(struct symbolizer *s, uint32_t epoch, uint64_t addr,
		       struct symloc *out)
{
	const struct jitsym *j;

	addrspace_read_jit(s->as, epoch);
	j = maps_jit_find(&s->as->epochs[epoch], addr);
	if (!j)
		return;
	set_frame(s, &out->frames[0], j->name, j->name, s->as->epochs[epoch].jit_path, 0, NULL);
	out->nframes = 1;
	out->offset = addr - j->start;
}

static void lookup(struct symbolizer *s, uint32_t epoch, uint64_t addr,
		   struct symloc *out)
{
	Dwfl *d;
	Dwfl_Module *mod;
	GElf_Off off;
	const char *name;

	if (addr & PC_TAILCALL) {
		lookup_tailcall(s, epoch, addr, out);
		return;
	}
	memset(out, 0, sizeof(*out));
	epoch = canon(s, epoch, &addr, &out->map);
	if (out->map && !(out->map->mod && out->map->mod->elf)) {
		lookup_jit(s, epoch, addr, out);
		return;
	}
	d = epoch_dwfl(s, epoch);
	if (!d || !(mod = dwfl_addrmodule(d, addr)))
		return;
	name = module_symbol(s, mod, addr, &off);
	out->offset = name ? off : 0;
	out->nframes = dwarf_frames(s, mod, addr, out->frames);
	out->has_dwarf = out->nframes > 0;
	if (out->nframes)
		return;
	/* no DWARF: the symbol table (.symtab, else .dynsym), a PLT stub */
	if (!name && (name = plt_name(s, mod, addr))) {
		const char *at = strrchr(name, '@');
		char *base = at ? xasprintf("%.*s", (int)(at - name), name) : NULL;
		char *shown = base ? xasprintf("%s%s", symbolizer_demangle(s, base), at) : NULL;

		set_frame(s, &out->frames[0], shown ? shown : name, name, NULL, 0, NULL);
		free(base);
		free(shown);
		out->nframes = 1;
		out->offset = 0;
		return;
	}
	if (!name)
		return;
	Dwfl_Line *dl = dwfl_module_getsrc(mod, addr);
	const char *file = NULL;
	int line = 0;

	if (dl)
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
	set_frame(s, &out->frames[0], name, name, file, line, NULL);
	out->nframes = 1;
}

/* a pc of a frame the stack held: not pseudo, not one put back */
static bool pc_real(uint64_t pc)
{
	return !pc_is_pseudo(pc) && !(pc & PC_TAILCALL);
}

/*
 * The chain of tail calls between a callee and its caller, looked up in
 * the representative epoch of the caller's module when both are in it
 * (the chain's call sites are then moved back), else in epoch's own.
 */
static size_t chain_between(struct symbolizer *s, uint32_t epoch, uint64_t callee,
			    uint64_t caller, uint64_t *chain)
{
	uint64_t a = callee, b = caller;
	const struct mapping *ma, *mb, *other = NULL;
	uint32_t ea = canon(s, epoch, &a, &ma), eb = canon(s, epoch, &b, &mb);
	size_t m;
	Dwfl *d;

	if (!ma || !mb)
		return 0;	/* a pc outside every mapping: no call site */
	if (ea != eb) {
		/* the callee's module in the caller's representative, too? */
		const struct maps *r = &s->as->epochs[eb];

		for (size_t i = 0; i < r->n && !other; i++)
			if (r->v[i].mod == ma->mod && (r->v[i].prot & MAP_X))
				other = &r->v[i];
		if (other) {
			a = callee - ma->bias + other->bias;
			ea = eb;
		} else if (epoch < s->ndwfl && s->dwfl[epoch]) {
			ea = eb = epoch;
			a = callee;
			b = caller;
		} else {
			return 0;	/* not worth a Dwfl of its own */
		}
	}
	d = epoch_dwfl(s, eb);
	if (!d)
		return 0;
	if (!s->tailcalls)
		s->tailcalls = tailcalls_new();
	m = tailcalls_between(s->tailcalls, d, a, b, chain);
	for (size_t j = 0; eb != epoch && j < m; j++) {
		const struct mapping *mc = maps_find(&s->as->epochs[eb], chain[j]);

		if (mc && mc->mod == mb->mod)
			chain[j] = chain[j] - mc->bias + mb->bias;
		else if (mc && mc->mod == ma->mod)
			chain[j] = chain[j] - mc->bias + ma->bias;
		else
			return 0;	/* in a third module: not moved back */
	}
	return m;
}

const uint64_t *symbolizer_tailcalls(struct symbolizer *s, uint32_t epoch,
				     const uint64_t *pcs, size_t n, size_t *nout)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t chain[TAILCALL_MAX_CHAIN];
		size_t m = 0;

		/*
		 * (a caller frame interrupted by a signal holds its exact pc,
		 * not a return address - 1: one byte into an instruction that
		 * is never a call's last, so no call site matches it)
		 */
		if (i + 1 < n && pc_real(pcs[i]) && pc_real(pcs[i + 1]))
			m = chain_between(s, epoch, pcs[i] & ~PC_PHYSICAL,
					  pcs[i + 1] & ~PC_PHYSICAL, chain);
		GROW(s->expanded, s->expanded_alloc, k + 1 + m);
		s->expanded[k++] = pcs[i];
		for (size_t j = 0; j < m; j++)
			s->expanded[k++] = (chain[j] - 1) | PC_TAILCALL;
	}
	*nout = k;
	return s->expanded;
}

static int load_module(Dwfl_Module *mod, void **user, const char *name,
		       Dwarf_Addr start, void *arg)
{
	Dwarf_Addr bias;

	(void)user, (void)name, (void)start, (void)arg;
	dwfl_module_getdwarf(mod, &bias);	/* finds and reads debuginfo */
	dwfl_module_getsymtab(mod);
	return DWARF_CB_OK;
}

void symbolizer_prepare(struct symbolizer *s, uint32_t epoch)
{
	Dwfl *d = epoch_dwfl(s, epoch);

	if (d)
		dwfl_getmodules(d, load_module, NULL, 0);
}

uint32_t symbolizer_epochs(const struct symbolizer *s)
{
	return (uint32_t)s->as->nepochs;
}

const struct maps *symbolizer_maps(const struct symbolizer *s, uint32_t epoch)
{
	return &s->as->epochs[epoch];
}
