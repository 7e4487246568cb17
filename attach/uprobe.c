/*
 * attach/uprobe.c - open kernel uprobes as perf events, one per thread,
 * and find where to place them.
 */
#define _GNU_SOURCE
#include "uprobe.h"
#include "keeper.h"
#include "../lib/util.h"
#include "../symbolize/maps.h"

#include <errno.h>
#include <gelf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int uprobe_file_offset(Elf *elf, uint64_t vaddr, uint64_t *off)
{
	return uprobe_segment_offset(elf, vaddr, true, off);
}

int uprobe_segment_offset(Elf *elf, uint64_t vaddr, bool exec, uint64_t *off)
{
	size_t n;

	if (elf_getphdrnum(elf, &n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
		    (exec && !(ph.p_flags & PF_X)))
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -1;
}

uint64_t uprobe_free_offset(Elf *elf, const struct func_loc *loc, int arg)
{
	/* the ModR/M byte of `test %reg,%reg` for rdi, rsi, rdx, rcx */
	static const unsigned char test_modrm[] = { 0xff, 0xf6, 0xd2, 0xc9 };
	size_t size, n = 0;
	const unsigned char *b = (const unsigned char *)elf_rawfile(elf, &size);

	if (!b || arg < 0 || arg > 3 || loc->offset > size || size - loc->offset < 16 ||
	    (loc->size && loc->size < 16))
		return loc->offset;
	b += loc->offset;
	/* test %reg,%reg (REX.W 85 /r, both operands the argument) */
	if (b[0] != 0x48 || b[1] != 0x85 || b[2] != test_modrm[arg])
		return loc->offset;
	n = 3;
	/* je rel8, or je rel32 */
	if (b[n] == 0x74)
		n += 2;
	else if (b[n] == 0x0f && b[n + 1] == 0x84)
		n += 6;
	else
		return loc->offset;
	/* push %reg: 50+r, or 41 50+r for r8-r15 */
	if ((b[n] & 0xf8) == 0x50 || (b[n] == 0x41 && (b[n + 1] & 0xf8) == 0x50))
		return loc->offset + n;
	return loc->offset;
}

static int find_in(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, const char *name,
		   struct func_loc *loc)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t n;

	if (!d || !sh->sh_entsize)
		return -1;
	n = sh->sh_size / sh->sh_entsize;
	for (size_t i = 1; i < n; i++) {
		GElf_Sym sym;
		const char *s;

		if (!gelf_getsym(d, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		s = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!s || strcmp(s, name))
			continue;
		loc->vaddr = sym.st_value;
		loc->size = sym.st_size;
		return uprobe_file_offset(elf, sym.st_value, &loc->offset);
	}
	return -1;
}

int uprobe_find_func(struct module *mod, const char *name, struct func_loc *loc)
{
	Elf_Scn *scn = NULL;
	int found = -1;

	if (!mod || !mod->elf || mod->is_vdso)
		return -1;
	/* .symtab first (it has the sizes of static builds), then .dynsym */
	for (int pass = 0; pass < 2 && found; pass++) {
		Elf32_Word want = pass ? SHT_DYNSYM : SHT_SYMTAB;

		scn = NULL;
		while (found && (scn = elf_nextscn(mod->elf, scn))) {
			GElf_Shdr sh;

			if (gelf_getshdr(scn, &sh) && sh.sh_type == want)
				found = find_in(mod->elf, scn, &sh, name, loc);
		}
	}
	return found;
}

int uprobe_find_object(struct module *mod, const char *name, uint64_t *vaddr)
{
	Elf_Scn *scn = NULL;

	if (!mod || !mod->elf || mod->is_vdso)
		return -1;
	while ((scn = elf_nextscn(mod->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 1; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *s;

			if (!gelf_getsym(d, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_OBJECT ||
			    sym.st_shndx == SHN_UNDEF)
				continue;
			s = elf_strptr(mod->elf, sh.sh_link, sym.st_name);
			if (s && !strcmp(s, name)) {
				*vaddr = sym.st_value;
				return 0;
			}
		}
	}
	return -1;
}

static int uprobe_pmu(bool ret, uint64_t *retbit)
{
	static int type = -2;
	static uint64_t bit;
	char buf[64];

	if (type == -2) {
		type = -1;
		if (read_file("/sys/bus/event_source/devices/uprobe/type", buf, sizeof(buf)) > 0)
			type = atoi(buf);
		/* "config:0": the bit that makes a uretprobe */
		bit = 0;
		if (read_file("/sys/bus/event_source/devices/uprobe/format/retprobe",
			      buf, sizeof(buf)) > 0 && !strncmp(buf, "config:", 7))
			bit = 1ULL << atoi(buf + 7);
	}
	*retbit = ret ? bit : 0;
	return type;
}

/* "config:32-63": where config holds a semaphore's offset, or -1 */
static int ref_ctr_shift(void)
{
	static int shift = -2;
	char buf[64];

	if (shift == -2) {
		shift = -1;
		if (read_file("/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset",
			      buf, sizeof(buf)) > 0 && !strncmp(buf, "config:", 7))
			shift = atoi(buf + 7);
	}
	return shift;
}

bool uprobe_ref_ctr_ok(void)
{
	return ref_ctr_shift() > 0;
}

int uprobe_open(const struct uprobe_attr *a, pid_t tid, int group, struct keeper *k, int *kfd)
{
	struct perf_event_attr pa = { .size = sizeof(pa) };
	uint64_t retbit;
	int type = uprobe_pmu(a->ret, &retbit);

	if (type < 0)
		return -ENOENT;
	if ((a->ret && !retbit) || (a->ref_ctr && !uprobe_ref_ctr_ok()) ||
	    (a->ref_ctr && ref_ctr_shift() < 64 && a->ref_ctr >> (64 - ref_ctr_shift())))
		return -EOPNOTSUPP;	/* (an offset the field cannot hold) */
	pa.type = (uint32_t)type;
	pa.config = retbit;
	if (a->ref_ctr)
		pa.config |= a->ref_ctr << ref_ctr_shift();
	pa.config2 = a->offset;
	pa.sample_period = a->period ? a->period : 1;
	pa.sample_type = PERF_SAMPLE_IDENTIFIER;
	if (a->regs) {
		pa.sample_type |= PERF_SAMPLE_REGS_USER;
		pa.sample_regs_user = a->regs;
	}
	if (a->stack) {
		pa.sample_type |= PERF_SAMPLE_STACK_USER;
		pa.sample_stack_user = a->stack;
	}
	if (a->read_group)
		pa.read_format = PERF_FORMAT_GROUP | PERF_FORMAT_ID;
	/*
	 * Never inherit: at clone the kernel reads config1 (a pointer into
	 * cprof) again from the child's memory, and the target's
	 * pthread_create fails with EFAULT.  One event per thread instead.
	 */
	pa.inherit = 0;
	pa.disabled = a->disabled;
	pa.exclude_kernel = 1;
	pa.exclude_hv = 1;
	return keeper_open(k, &pa, a->path, tid, group, PERF_FLAG_FD_CLOEXEC, kfd);
}

const char *uprobe_refused(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
		return "needs CAP_SYS_ADMIN (CAP_PERFMON alone is refused for uprobes), "
		       "e.g. run cprof as root or `setcap cap_sys_admin,cap_sys_ptrace+ep cprof`";
	case ENOENT:
		return "this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe; "
		       "CONFIG_UPROBE_EVENTS)";
	case EMFILE:
	case ENFILE:
		return "out of file descriptors: one per probe and thread (raise ulimit -n)";
	default:
		return "";
	}
}
