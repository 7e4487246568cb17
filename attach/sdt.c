/*
 * attach/sdt.c - SystemTap SDT notes: probe sites and their arguments.
 *
 * A note (type 3, owner "stapsdt", in .note.stapsdt) describes one site:
 * three addresses (the site's nop, .stapsdt.base as linked, the
 * semaphore or 0), then provider, name and the arguments' locations, NUL
 * terminated.  Where the file was prelinked, .stapsdt.base's address
 * differs from the note's, and the site and semaphore move by as much.
 * An argument is SIZE@OPERAND, SIZE in bytes (negative: signed), the
 * operand in AT&T syntax as the compiler chose it for an "nor" constraint:
 * a register, an immediate, or memory.
 */
#define _GNU_SOURCE
#include "sdt.h"
#include "perfev.h"
#include "uprobe.h"
#include "../lib/util.h"

#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#define NT_STAPSDT 3

static const struct {
	const char *name[4];	/* 64, 32, 16, 8 bits */
	enum perf_reg reg;
} regs_x86[] = {
	{ { "rax", "eax", "ax", "al" }, PR_AX },	{ { "rbx", "ebx", "bx", "bl" }, PR_BX },
	{ { "rcx", "ecx", "cx", "cl" }, PR_CX },	{ { "rdx", "edx", "dx", "dl" }, PR_DX },
	{ { "rsi", "esi", "si", "sil" }, PR_SI },	{ { "rdi", "edi", "di", "dil" }, PR_DI },
	{ { "rbp", "ebp", "bp", "bpl" }, PR_BP },	{ { "rsp", "esp", "sp", "spl" }, PR_SP },
	{ { "r8", "r8d", "r8w", "r8b" }, PR_R8 },	{ { "r9", "r9d", "r9w", "r9b" }, PR_R9 },
	{ { "r10", "r10d", "r10w", "r10b" }, PR_R10 },	{ { "r11", "r11d", "r11w", "r11b" }, PR_R11 },
	{ { "r12", "r12d", "r12w", "r12b" }, PR_R12 },	{ { "r13", "r13d", "r13w", "r13b" }, PR_R13 },
	{ { "r14", "r14d", "r14w", "r14b" }, PR_R14 },	{ { "r15", "r15d", "r15w", "r15b" }, PR_R15 },
};

/* "%name" at *s: the register, *s past it; -1 if it is none of the above */
static int parse_reg(const char **s)
{
	size_t len;

	if (**s != '%')
		return -1;
	len = strspn(*s + 1, "abcdefghijklmnopqrstuvwxyz0123456789");
	for (size_t i = 0; i < sizeof(regs_x86) / sizeof(regs_x86[0]); i++)
		for (size_t w = 0; w < 4; w++)
			if (strlen(regs_x86[i].name[w]) == len &&
			    !strncmp(*s + 1, regs_x86[i].name[w], len)) {
				*s += 1 + len;
				return regs_x86[i].reg;
			}
	return -1;
}

static bool parse_num(const char **s, int64_t *v)
{
	char *end;

	*v = strtoll(*s, &end, 0);
	if (end == *s)
		return false;
	*s = end;
	return true;
}

int sdt_parse_args(const char *spec, struct sdt_arg *a, unsigned max)
{
	const char *s = spec;
	unsigned n = 0;

	while (*s) {
		int64_t size, v = 0;
		int reg;

		while (*s == ' ')
			s++;
		if (!*s)
			break;
		if (n == max || !parse_num(&s, &size) || *s++ != '@' ||
		    (size != 1 && size != 2 && size != 4 && size != 8 &&
		     size != -1 && size != -2 && size != -4 && size != -8))
			return -1;
		a[n] = (struct sdt_arg){ .size = (signed char)size, .reg = -1 };
		if (*s == '$') {
			s++;
			if (!parse_num(&s, &v))
				return -1;
			a[n].kind = SDT_IMM;
			a[n].disp = v;
		} else if (*s == '%') {
			if ((reg = parse_reg(&s)) < 0)
				return -1;
			a[n].kind = SDT_REG;
			a[n].reg = (signed char)reg;
		} else {
			/* [disp](%base): no index, no symbol, no rip */
			if (*s != '(' && !parse_num(&s, &v))
				return -1;
			if (*s++ != '(' || (reg = parse_reg(&s)) < 0 || *s++ != ')')
				return -1;
			a[n].kind = SDT_MEM;
			a[n].reg = (signed char)reg;
			a[n].disp = v;
		}
		if (*s && *s != ' ')
			return -1;
		n++;
	}
	return (int)n;
}

static uint64_t sized(uint64_t v, int size)
{
	unsigned bits = 8 * (unsigned)(size < 0 ? -size : size);

	if (bits >= 64)
		return v;
	v &= (1ULL << bits) - 1;
	if (size < 0 && (v >> (bits - 1)))
		v |= ~0ULL << bits;	/* sign-extended */
	return v;
}

bool sdt_arg_value(const struct sdt_arg *a, const uint64_t *regs, uint64_t mask,
		   const unsigned char *stack, size_t len, uint64_t *v)
{
	uint64_t addr, sp, w = 0;
	size_t width = (size_t)(a->size < 0 ? -a->size : a->size);

	switch (a->kind) {
	case SDT_IMM:
		*v = sized((uint64_t)a->disp, a->size);
		return true;
	case SDT_REG:
		if (!(mask >> a->reg & 1))
			return false;
		*v = sized(perf_reg(regs, mask, (enum perf_reg)a->reg), a->size);
		return true;
	case SDT_MEM:
		if (!(mask >> a->reg & 1) || !(mask >> PR_SP & 1) || !stack)
			return false;
		addr = perf_reg(regs, mask, (enum perf_reg)a->reg) + (uint64_t)a->disp;
		sp = perf_reg(regs, mask, PR_SP);
		if (addr < sp || addr - sp > len || len - (addr - sp) < width)
			return false;	/* not in the stack copy */
		memcpy(&w, stack + (addr - sp), width);
		*v = sized(w, a->size);
		return true;
	}
	return false;
}

uint64_t sdt_arg_regs(const struct sdt_arg *a)
{
	switch (a->kind) {
	case SDT_REG:
		return 1ULL << a->reg;
	case SDT_MEM:
		return 1ULL << a->reg | 1ULL << PR_SP;
	default:
		return 0;
	}
}

/* .stapsdt.base's address as linked, or 0 */
static uint64_t base_addr(Elf *elf)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (gelf_getshdr(scn, &sh) && (name = elf_strptr(elf, shstrndx, sh.sh_name)) &&
		    !strcmp(name, ".stapsdt.base"))
			return sh.sh_addr;
	}
	return 0;
}

/* One note's description: its site, or -1 (why) where it is unusable. */
static int parse_note(Elf *elf, const char *d, size_t len, const char *provider,
		      const char *name, uint64_t base, struct sdt_site *site, char **why)
{
	uint64_t addr[3];
	const char *prov, *nm, *args, *end = d + len;
	int n;

	if (len < 24 + 3)
		return 0;
	memcpy(addr, d, sizeof(addr));
	prov = d + 24;
	nm = memchr(prov, 0, (size_t)(end - prov));
	if (!nm || ++nm >= end)
		return 0;
	args = memchr(nm, 0, (size_t)(end - nm));
	if (!args)
		return 0;
	args++;
	if (args >= end || !memchr(args, 0, (size_t)(end - args)))
		args = "";	/* (no arguments) */
	if (strcmp(prov, provider) || strcmp(nm, name))
		return 0;
	if (base && addr[1]) {
		addr[0] += base - addr[1];
		if (addr[2])
			addr[2] += base - addr[1];
	}
	*site = (struct sdt_site){ .vaddr = addr[0] };
	n = sdt_parse_args(args, site->args, SDT_MAX_ARGS);
	if (n < 0) {
		*why = xasprintf("%s:%s: arguments \"%s\": an operand cprof does not read "
				 "(only registers, immediates and [disp](%%reg))", provider, name, args);
		return -1;
	}
	site->nargs = (unsigned)n;
	if (uprobe_segment_offset(elf, addr[0], true, &site->offset)) {
		*why = xasprintf("%s:%s: the site 0x%llx is in no executable segment", provider,
				 name, (unsigned long long)addr[0]);
		return -1;
	}
	if (addr[2] && uprobe_segment_offset(elf, addr[2], false, &site->sem_offset)) {
		*why = xasprintf("%s:%s: the semaphore 0x%llx is in no segment", provider, name,
				 (unsigned long long)addr[2]);
		return -1;
	}
	site->spec = xstrdup(args);
	return 1;
}

int sdt_find(Elf *elf, const char *provider, const char *name, struct sdt_site **out,
	     char **why)
{
	Elf_Scn *scn = NULL;
	size_t n = 0;
	uint64_t base = 0;
	bool based = false;

	*out = NULL;
	*why = NULL;
	if (!elf || gelf_getclass(elf) != ELFCLASS64)
		return 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE ||
		    !(data = elf_getdata(scn, NULL)))
			continue;
		while ((off = gelf_getnote(data, off, &nh, &noff, &doff)) > 0) {
			struct sdt_site site;
			int r;

			if (nh.n_type != NT_STAPSDT || nh.n_namesz != 8 ||
			    memcmp((const char *)data->d_buf + noff, "stapsdt", 8))
				continue;
			if (!based) {
				base = base_addr(elf);
				based = true;
			}
			r = parse_note(elf, (const char *)data->d_buf + doff, nh.n_descsz,
				       provider, name, base, &site, why);
			if (r < 0) {
				sdt_free(*out, n);
				*out = NULL;
				return -1;
			}
			if (r) {
				*out = xrealloc(*out, (n + 1) * sizeof(**out));
				(*out)[n++] = site;
			}
		}
	}
	return (int)n;
}

void sdt_free(struct sdt_site *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].spec);
	free(v);
}
