/*
 * symbolize/maps.c - parse /proc/PID/maps, open each ELF file once, and work
 * out its load bias, build-id and .eh_frame_hdr search table.
 */
#define _GNU_SOURCE
#include "maps.h"
#include "../lib/u64map.h"
#include "../lib/util.h"

#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

/* DWARF exception-header pointer encodings (LSB, .eh_frame_hdr). */
#define DW_EH_PE_udata4 0x03
#define DW_EH_PE_sdata4 0x0b
#define DW_EH_PE_udata8 0x04
#define DW_EH_PE_sdata8 0x0c
#define DW_EH_PE_datarel 0x30
#define DW_EH_PE_omit 0xff

void addrspace_init(struct addrspace *as, pid_t pid)
{
	static bool elf_ready;

	if (!elf_ready) {
		elf_version(EV_CURRENT);
		elf_ready = true;
	}
	*as = (struct addrspace){ .pid = pid };
	GROW(as->epochs, as->epochs_alloc, 1);
	as->nepochs = 1;
	as->epochs[0] = (struct maps){ .pid = pid, .live = true };
}

static void maps_clear(struct maps *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].name);
	free(m->v);
	free(m->exe);
	m->v = NULL;
	m->exe = NULL;
	m->n = 0;
}

void addrspace_release(struct addrspace *as)
{
	struct module *mod, *next;

	for (size_t i = 0; i < as->nepochs; i++) {
		struct maps *m = &as->epochs[i];

		maps_clear(m);
		for (size_t j = 0; j < m->njit; j++)
			free(m->jit[j].name);
		free(m->jit);
		free(m->jit_path);
	}
	free(as->epochs);
	for (mod = as->modules; mod; mod = next) {
		next = mod->next;
		if (mod->elf)
			elf_end(mod->elf);
		if (mod->image)
			munmap((void *)mod->image, mod->image_size);
		if (mod->fd >= 0)
			close(mod->fd);
		free(mod->path);
		free(mod->debug_path);
		free(mod);
	}
	*as = (struct addrspace){ 0 };
}

int maps_parse_line(const char *line, uint64_t *start, uint64_t *end,
		    unsigned *prot, uint64_t *offset, unsigned *dev_major,
		    unsigned *dev_minor, uint64_t *inode, const char **name)
{
	char perms[5];
	int pos = 0;

	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 "%n",
		   start, end, perms, offset, dev_major, dev_minor, inode,
		   &pos) != 7 || *end <= *start)
		return -1;
	*prot = (perms[0] == 'r' ? MAP_R : 0) | (perms[1] == 'w' ? MAP_W : 0) |
		(perms[2] == 'x' ? MAP_X : 0);
	line += pos;
	while (*line == ' ' || *line == '\t')
		line++;
	*name = line;
	return 0;
}

static void read_build_id(struct module *mod)
{
	const void *id;
	ssize_t n = dwelf_elf_gnu_build_id(mod->elf, &id);

	mod->build_id[0] = '\0';
	for (ssize_t i = 0; i < n && i < 64; i++)
		sprintf(mod->build_id + 2 * i, "%02x", ((const unsigned char *)id)[i]);
}

static int read_encoded(const unsigned char **p, const unsigned char *end,
			unsigned enc, uint64_t *out)
{
	size_t size;

	switch (enc & 0x0f) {
	case DW_EH_PE_udata4:
	case DW_EH_PE_sdata4:
		size = 4;
		break;
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
		size = 8;
		break;
	default:
		return -1;
	}
	if (*p + size > end)
		return -1;
	if (size == 4) {
		uint32_t v;

		memcpy(&v, *p, 4);
		*out = (enc & 0x0f) == DW_EH_PE_sdata4 ? (uint64_t)(int64_t)(int32_t)v : v;
	} else {
		memcpy(out, *p, 8);
	}
	*p += size;
	return 0;
}

/*
 * The .eh_frame_hdr binary search table libunwind can walk: version 1, and a
 * table of datarel sdata4 pairs (the only layout dwarf_search_unwind_table
 * accepts).  Other layouts leave the module without a table; unwinding then
 * stops there and shows [unknown].
 */
static void read_eh_frame_hdr(struct module *mod)
{
	const unsigned char *p, *end;
	uint64_t eh_frame_ptr, count;
	size_t nph;
	GElf_Phdr ph;

	if (elf_getphdrnum(mod->elf, &nph))
		return;
	for (size_t i = 0; i < nph; i++) {
		if (!gelf_getphdr(mod->elf, i, &ph) || ph.p_type != PT_GNU_EH_FRAME)
			continue;
		/* (no p_offset + p_filesz: a corrupt header can wrap it around) */
		if (ph.p_offset > mod->image_size || ph.p_filesz > mod->image_size - ph.p_offset ||
		    ph.p_filesz < 4)
			return;
		p = mod->image + ph.p_offset;
		end = p + ph.p_filesz;
		if (p[0] != 1 || p[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4) ||
		    p[2] == DW_EH_PE_omit)
			return;
		unsigned frame_enc = p[1], count_enc = p[2];

		p += 4;
		if (read_encoded(&p, end, frame_enc, &eh_frame_ptr) ||
		    read_encoded(&p, end, count_enc, &count))
			return;
		if (count == 0 || count > (uint64_t)(end - p) / 8)
			return;
		mod->has_eh_table = true;
		mod->eh_hdr_vaddr = ph.p_vaddr;
		mod->eh_table_vaddr = ph.p_vaddr + (uint64_t)(p - (mod->image + ph.p_offset));
		mod->eh_fde_count = count;
		return;
	}
}

static int map_image(struct module *mod)
{
	struct stat st;
	void *p;

	if (fstat(mod->fd, &st) || st.st_size <= 0)
		return -1;
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, mod->fd, 0);
	if (p == MAP_FAILED)
		return -1;
	mod->image = p;
	mod->image_size = st.st_size;
	if (st.st_size < 4 || memcmp(p, ELFMAG, SELFMAG))
		return -1;
	mod->elf = elf_memory((char *)p, st.st_size);
	if (!mod->elf || elf_kind(mod->elf) != ELF_K_ELF) {
		if (mod->elf)
			elf_end(mod->elf);
		mod->elf = NULL;
		return -1;
	}
	GElf_Ehdr eh;

	if (gelf_getehdr(mod->elf, &eh))
		mod->e_type = eh.e_type;
	read_build_id(mod);
	read_eh_frame_hdr(mod);
	return 0;
}

static int open_file(pid_t pid, uint64_t start, uint64_t end, const char *path,
		     char **debug_path)
{
	char buf[4096];
	int fd;

	/* map_files: the very file mapped, even if deleted or replaced. */
	snprintf(buf, sizeof(buf), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
		 pid, start, end);
	fd = open(buf, O_RDONLY | O_CLOEXEC);
	snprintf(buf, sizeof(buf), "/proc/%d/root%s", pid, path);
	if (fd < 0)
		fd = open(buf, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	/* debuglink files sit beside the file as the target sees it */
	*debug_path = xstrdup(access(buf, F_OK) == 0 ? buf : path);
	return fd;
}

static struct module *module_get(struct addrspace *as, pid_t pid, uint64_t start,
				 uint64_t end, const char *name,
				 unsigned maj, unsigned min, uint64_t inode)
{
	dev_t dev = makedev(maj, min);
	struct module *mod;
	char *path = xstrdup(name);
	size_t len = strlen(path);

	if (len > 10 && !strcmp(path + len - 10, " (deleted)"))
		path[len - 10] = '\0';
	for (mod = as->modules; mod; mod = mod->next) {
		if (!mod->is_vdso && mod->dev == dev && mod->ino == inode &&
		    !strcmp(mod->path, path)) {
			free(path);
			return mod;
		}
	}
	mod = xcalloc(1, sizeof(*mod));
	mod->path = path;
	mod->dev = dev;
	mod->ino = inode;
	mod->fd = open_file(pid, start, end, path, &mod->debug_path);
	if (mod->fd < 0 || map_image(mod))
		debug("%s: not an ELF file cprof can read", path);
	mod->next = as->modules;
	as->modules = mod;
	return mod;
}

/*
 * The vDSO lives only in memory: copy it into a memfd.  It is the same
 * kernel image in every process (at another address in each): one module
 * for all the processes of a tree, found by its bytes.
 */
static struct module *vdso_get(struct addrspace *as, pid_t pid, uint64_t start,
			       uint64_t end)
{
	struct module *mod;
	size_t len = end - start;
	void *buf = xmalloc(len);
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)start, len };
	bool read = process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len;

	for (mod = as->modules; mod; mod = mod->next) {
		if (mod->is_vdso && (read ? mod->image && mod->image_size == len &&
				     !memcmp(mod->image, buf, len) : mod->ino == start)) {
			free(buf);
			return mod;
		}
	}
	mod = xcalloc(1, sizeof(*mod));
	mod->is_vdso = true;
	mod->ino = start;	/* identity when its bytes cannot be read */
	mod->path = xstrdup("[vdso]");
	mod->debug_path = xstrdup("[vdso]");
	mod->fd = -1;
	if (read) {
		mod->fd = memfd_create("cprof-vdso", MFD_CLOEXEC);
		if (mod->fd >= 0 && write(mod->fd, buf, len) == (ssize_t)len)
			map_image(mod);
	}
	free(buf);
	mod->next = as->modules;
	as->modules = mod;
	return mod;
}

/*
 * Load bias from the PT_LOAD segment that covers this mapping's file range:
 * the segment's file offset p_offset sits at start + (p_offset - offset), so
 * bias = start + p_offset - offset - p_vaddr.  A mapping's content equals
 * the file only when that segment is not writable (RELRO pages are
 * relocated, so they do not count).
 */
static void map_bias(struct mapping *m)
{
	Elf *elf = m->mod ? m->mod->elf : NULL;
	size_t nph;
	GElf_Phdr ph;

	if (!elf || elf_getphdrnum(elf, &nph))
		return;
	for (size_t i = 0; i < nph; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		uint64_t seg_lo = ph.p_offset & ~0xfffULL;
		uint64_t seg_hi = ph.p_offset + ph.p_filesz;

		if (m->offset < seg_lo || m->offset >= seg_hi)
			continue;
		m->bias = m->start + ph.p_offset - m->offset - ph.p_vaddr;
		m->file_ro = !(ph.p_flags & PF_W) && !(m->prot & MAP_W);
		if ((ph.p_flags & PF_X) || !(m->prot & MAP_X))
			return;	/* an exec mapping prefers the exec segment */
	}
}

/* comm of a process, as /proc says now ("" if gone) */
static void read_comm(pid_t pid, char *comm, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	n = read_file(path, comm, size);
	if (n <= 0) {
		comm[0] = '\0';
		return;
	}
	comm[strcspn(comm, "\n")] = '\0';
}

/*
 * Memory no ELF file backs, where a JIT may have put code: not only the
 * executable mappings as last read (V8 flips its code pages between
 * writable and executable), not the kernel's pages.
 */
static bool jit_mapping(const struct mapping *m)
{
	return (!m->mod || !m->mod->elf) && strcmp(m->name, "[vdso]") &&
	       strcmp(m->name, "[vsyscall]") && strcmp(m->name, "[stack]");
}

/* The mappings with code the perf map names get its path as their name. */
static void mark_jit(struct maps *m)
{
	for (size_t i = 0; m->jit_path && i < m->n; i++) {
		struct mapping *mp = &m->v[i];
		size_t lo = 0, hi = m->njit;

		if (!jit_mapping(mp))
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (m->jit[mid].start < mp->start)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < m->njit && m->jit[lo].start < mp->end)
			mp->jit_file = m->jit_path;
	}
}

int addrspace_reload_epoch(struct addrspace *as, uint32_t epoch)
{
	struct maps fresh = { 0 }, *cur;
	size_t alloc = 0;
	char path[64], exe[4096], *line = NULL;
	size_t linecap = 0;
	pid_t pid = as->epochs[epoch].pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &linecap, f) > 0) {
		uint64_t start, end, offset, inode;
		unsigned prot, maj, min;
		const char *name;
		struct mapping *m;

		line[strcspn(line, "\n")] = '\0';
		if (maps_parse_line(line, &start, &end, &prot, &offset, &maj,
				    &min, &inode, &name))
			continue;
		GROW(fresh.v, alloc, fresh.n + 1);
		m = &fresh.v[fresh.n++];
		*m = (struct mapping){ .start = start, .end = end,
				       .offset = offset, .prot = prot,
				       .name = xstrdup(name) };
		if (name[0] == '/' && inode)
			m->mod = module_get(as, pid, start, end, name, maj, min, inode);
		else if (!strcmp(name, "[vdso]"))
			m->mod = vdso_get(as, pid, start, end);
		map_bias(m);
	}
	free(line);
	fclose(f);
	if (!fresh.n)
		return -ESRCH;	/* a zombie or an exited process has no maps */
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	ssize_t n = readlink(path, exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		if (n > 10 && !strcmp(exe + n - 10, " (deleted)"))
			exe[n - 10] = '\0';
		fresh.exe = xstrdup(exe);
	}
	cur = &as->epochs[epoch];
	maps_clear(cur);
	cur->v = fresh.v;
	cur->n = fresh.n;
	cur->exe = fresh.exe;
	mark_jit(cur);
	read_comm(pid, cur->comm, sizeof(cur->comm));
	cur->last_reload_ns = now_ns();
	cur->dirty = false;
	if (epoch == as->nepochs - 1) {
		as->last_reload_ns = cur->last_reload_ns;
		as->dirty = false;
	}
	return 0;
}

int addrspace_reload(struct addrspace *as)
{
	return addrspace_reload_epoch(as, addrspace_epoch(as));
}

int addrspace_add_file(struct addrspace *as, int fd, const char *path, uint64_t base)
{
	struct maps *m = addrspace_current(as);
	struct module *mod = xcalloc(1, sizeof(*mod));
	size_t nph = 0, alloc = m->n;
	GElf_Phdr ph;

	mod->path = xstrdup(path);
	mod->debug_path = xstrdup(path);
	mod->fd = fd;
	mod->next = as->modules;
	as->modules = mod;
	if (map_image(mod) || elf_getphdrnum(mod->elf, &nph))
		nph = 0;
	for (size_t i = 0; i < nph && i < 64; i++) {
		struct mapping *mp;
		uint64_t lo, hi;

		if (!gelf_getphdr(mod->elf, i, &ph) || ph.p_type != PT_LOAD ||
		    ph.p_memsz == 0 || ph.p_vaddr > (1ULL << 40) || ph.p_memsz > (1ULL << 32))
			continue;
		lo = base + (ph.p_vaddr & ~0xfffULL);
		hi = (base + ph.p_vaddr + ph.p_memsz + 0xfff) & ~0xfffULL;
		if (m->n && lo < m->v[m->n - 1].end)
			continue;	/* keep them sorted and apart */
		GROW(m->v, alloc, m->n + 1);
		mp = &m->v[m->n++];
		*mp = (struct mapping){
			.start = lo, .end = hi, .offset = ph.p_offset & ~0xfffULL,
			.prot = MAP_R | (ph.p_flags & PF_W ? MAP_W : 0) | (ph.p_flags & PF_X ? MAP_X : 0),
			.mod = mod, .name = xstrdup(path),
		};
		map_bias(mp);
	}
	if (!m->exe)
		m->exe = xstrdup(path);
	return mod->elf ? 0 : -1;
}

int addrspace_refresh(struct addrspace *as, uint64_t min_age_ns)
{
	if (!as->dirty || now_ns() - as->last_reload_ns < min_age_ns)
		return 0;
	return addrspace_reload(as);
}

int addrspace_new_epoch(struct addrspace *as)
{
	addrspace_exec(as, addrspace_epoch(as));
	return as->epochs[addrspace_epoch(as)].n ? 0 : -ESRCH;
}

uint32_t addrspace_add_process(struct addrspace *as, pid_t pid, uint32_t from)
{
	struct maps *m;

	GROW(as->epochs, as->epochs_alloc, as->nepochs + 1);
	m = &as->epochs[as->nepochs++];
	*m = (struct maps){ .epoch = (uint32_t)(as->nepochs - 1), .pid = pid,
			    .live = true, .dirty = true };
	if (from != ADDRSPACE_NONE && from < as->nepochs - 1) {
		const struct maps *p = &as->epochs[from];

		m->v = xcalloc(p->n ? p->n : 1, sizeof(*m->v));
		for (size_t i = 0; i < p->n; i++) {
			m->v[i] = p->v[i];
			m->v[i].name = xstrdup(p->v[i].name);
			m->v[i].jit_file = NULL;	/* its own perf map, if any */
		}
		m->n = p->n;
		m->exe = p->exe ? xstrdup(p->exe) : NULL;
		memcpy(m->comm, p->comm, sizeof(m->comm));
		/*
		 * exact at the fork: read again only on a sign of change (a
		 * new thread's stack, a pc in no known mapping), so a child
		 * that execs at once costs no read of its old image
		 */
		m->dirty = p->dirty;
		m->last_reload_ns = now_ns();
	}
	as->dirty = m->dirty;
	return addrspace_epoch(as);
}

uint32_t addrspace_exec(struct addrspace *as, uint32_t epoch)
{
	uint32_t e = addrspace_add_process(as, as->epochs[epoch].pid, ADDRSPACE_NONE);

	addrspace_end(as, epoch);
	addrspace_reload_epoch(as, e);
	/* the dynamic loader maps the libraries next */
	as->epochs[e].dirty = true;
	if (e == addrspace_epoch(as))
		as->dirty = true;
	return e;
}

void addrspace_end(struct addrspace *as, uint32_t epoch)
{
	as->epochs[epoch].live = false;
	as->epochs[epoch].dirty = false;
	addrspace_read_jit(as, epoch);
}

static int jit_cmp(const void *pa, const void *pb)
{
	const struct jitsym *a = pa, *b = pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

/* Whose the file may be: root, cprof's user, the process's owner. */
static bool jit_owner_ok(pid_t pid, uid_t uid)
{
	char path[64];
	struct stat st;

	if (uid == 0 || uid == getuid() || uid == geteuid())
		return true;
	snprintf(path, sizeof(path), "/proc/%d", pid);
	return !stat(path, &st) && st.st_uid == uid;
}

/* A JIT's file, opened if it is a regular file of a user allowed (above). */
static FILE *open_jit_file(const char *path, pid_t pid)
{
	struct stat st;
	FILE *f;
	/* (non-blocking: a FIFO put there would hang the open) */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || !jit_owner_ok(pid, st.st_uid) ||
	    fcntl(fd, F_SETFL, 0) || !(f = fdopen(fd, "re"))) {
		debug("%s: not read (not a file of the process's user)", path);
		close(fd);
		return NULL;
	}
	return f;
}

/*
 * Where the process's jitdump is: the JIT maps its jit-PID.dump (perf's
 * convention, so that a profiler finds it; node --perf-prof, the JVM's
 * and .NET's jitdump agents, LuaJIT).  The maps as last read, else as
 * they are now.  NULL: none.
 */
static char *jitdump_path(const struct maps *m)
{
	char want[32], path[64], *line = NULL, *found = NULL;
	size_t linecap = 0, wl = (size_t)snprintf(want, sizeof(want), "/jit-%d.dump", m->pid);
	FILE *f;

	for (size_t i = 0; i < m->n; i++) {
		size_t l = strlen(m->v[i].name);

		if (m->v[i].name[0] == '/' && l > wl && !strcmp(m->v[i].name + l - wl, want))
			return xstrdup(m->v[i].name);
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", m->pid);
	if (!(f = fopen(path, "re")))
		return NULL;
	while (!found && getline(&line, &linecap, f) > 0) {
		char *slash = strchr(line, '/');
		size_t l;

		line[strcspn(line, "\n")] = '\0';
		l = slash ? strlen(slash) : 0;
		if (slash && l > wl && !strcmp(slash + l - wl, want))
			found = xstrdup(slash);
	}
	free(line);
	fclose(f);
	return found;
}

#define JITDUMP_MAGIC 0x4A695444u	/* "JiTD", in the writer's byte order */
enum { JIT_CODE_LOAD = 0, JIT_CODE_MOVE = 1 };

/*
 * perf's jitdump format (tools/perf/Documentation/jitdump-specification.txt
 * in Linux): a header (magic, version, its size, ...), then records of
 * {id, total size, timestamp}: a code load {pid, tid, vma, code address,
 * code size, code index, name, the code}, a move {pid, tid, vma, old and
 * new address, size, index}; debug and unwinding records are skipped.
 * The functions join m->jit, after *lineno (a later record wins).  Its
 * path, or NULL where there is none.
 */
static char *read_jitdump(struct maps *m, size_t *alloc, uint32_t *lineno)
{
	char *path = jitdump_path(m), name[4096];
	uint32_t hdr[4];	/* id, total size, timestamp (2) */
	uint32_t head[10];
	struct u64map at = { 0 };	/* code address -> its latest entry */
	size_t before = m->njit;
	bool added;
	FILE *f;

	if (!path || !(f = open_jit_file(path, m->pid))) {
		free(path);
		return NULL;
	}
	/* magic, version, header size, machine, pad, pid, timestamp, flags */
	if (fread(head, 4, 10, f) != 10 || head[0] != JITDUMP_MAGIC || head[2] < 40 ||
	    fseeko(f, head[2], SEEK_SET)) {
		debug("%s: not a jitdump of this machine's byte order", path);
		fclose(f);
		free(path);
		return NULL;
	}
	while (fread(hdr, 4, 4, f) == 4 && hdr[1] >= 16) {
		/* pid and tid, vma, then a load's address, size, index, or a
		 * move's old and new address, size, index */
		uint64_t body[6];
		size_t left = hdr[1] - 16, got = 0, words = hdr[0] == JIT_CODE_LOAD ? 5 : 6;

		if ((hdr[0] == JIT_CODE_LOAD || hdr[0] == JIT_CODE_MOVE) && left >= 8 * words) {
			if (fread(body, 8, words, f) != words)
				break;
			got = 8 * words;
		}
		if (got && hdr[0] == JIT_CODE_LOAD) {
			/* code address body[2], size body[3], then the name */
			size_t n = left - got < sizeof(name) ? left - got : sizeof(name);

			if (fread(name, 1, n, f) != n)
				break;
			got += n;
			if (memchr(name, 0, n) && body[3] && body[2] + body[3] > body[2]) {
				GROW(m->jit, *alloc, m->njit + 1);
				*u64map_put(&at, body[2], 0, m->njit, &added) = m->njit;
				m->jit[m->njit++] = (struct jitsym){ body[2], body[2] + body[3],
								     xstrdup(name), ++*lineno };
			}
		} else if (got && hdr[0] == JIT_CODE_MOVE) {
			/* old address body[2], new body[3], size body[4]: the name moves */
			uint64_t *from = u64map_find(&at, body[2], 0);

			if (from && body[4] && body[3] + body[4] > body[3]) {
				char *copy = xstrdup(m->jit[*from].name);

				GROW(m->jit, *alloc, m->njit + 1);
				*u64map_put(&at, body[3], 0, m->njit, &added) = m->njit;
				m->jit[m->njit++] = (struct jitsym){ body[3], body[3] + body[4], copy,
								     ++*lineno };
			}
		}
		if (fseeko(f, (off_t)(left - got), SEEK_CUR))
			break;
	}
	fclose(f);
	debug("%s: %zu functions", path, m->njit - before);
	u64map_release(&at);
	return path;
}

void addrspace_read_jit(struct addrspace *as, uint32_t epoch)
{
	struct maps *m = &as->epochs[epoch];
	char path[64], *line = NULL, *dump;
	size_t linecap = 0, alloc = 0;
	uint32_t lineno = 0;
	FILE *f;

	if (m->jit_read)
		return;
	m->jit_read = true;
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", m->pid);
	f = open_jit_file(path, m->pid);
	while (f && getline(&line, &linecap, f) > 0) {
		char *p = line, *end;
		uint64_t start, size;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		start = strtoull(p, &end, 16);
		if (end == p || *end != ' ')
			continue;
		size = strtoull(p = end + 1, &end, 16);
		if (end == p || *end != ' ' || !end[1] || !size || start + size < start)
			continue;
		GROW(m->jit, alloc, m->njit + 1);
		m->jit[m->njit++] = (struct jitsym){ start, start + size, xstrdup(end + 1), lineno };
	}
	free(line);
	if (f) {
		fclose(f);
		m->jit_path = xstrdup(path);
		debug("%s: %zu functions", path, m->njit);
	}
	/* and a jitdump, whose records come after the map's lines */
	dump = read_jitdump(m, &alloc, &lineno);
	if (dump && !m->jit_path)
		m->jit_path = dump;
	else
		free(dump);
	if (!m->jit_path)
		return;
	qsort(m->jit, m->njit, sizeof(*m->jit), jit_cmp);
	mark_jit(m);
}

/*
 * JIT compilers reuse code memory: of the functions around addr, the one
 * written last.  Entries before it that still reach addr are few in
 * practice; the scan back is bounded all the same.
 */
const struct jitsym *maps_jit_find(const struct maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->njit, steps = 0;
	const struct jitsym *best = NULL;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->jit[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo-- > 0 && steps++ < 256) {
		const struct jitsym *j = &m->jit[lo];

		if (addr < j->end && (!best || j->line > best->line))
			best = j;
	}
	return best;
}

void addrspace_refresh_all(struct addrspace *as, uint64_t min_age_ns)
{
	uint64_t now = now_ns();

	for (uint32_t e = 0; e < as->nepochs; e++) {
		struct maps *m = &as->epochs[e];

		if (m->live && m->dirty && now - m->last_reload_ns >= min_age_ns &&
		    addrspace_reload_epoch(as, e))
			addrspace_end(as, e);	/* gone: a zombie has no maps */
	}
}

const struct mapping *maps_find(const struct maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < m->v[mid].start)
			hi = mid;
		else if (addr >= m->v[mid].end)
			lo = mid + 1;
		else
			return &m->v[mid];
	}
	return NULL;
}
