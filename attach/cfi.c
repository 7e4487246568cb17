/*
 * attach/cfi.c - frame rules from libdw, kept per pc (see cfi.h).
 */
#define _GNU_SOURCE
#include "cfi.h"
#include "../lib/util.h"
#include "../symbolize/maps.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct cfi_module {
	const struct module *mod;
	Dwarf_CFI *cfi;		/* NULL: none (not ELF, no CFI) */
	bool debug_frame;	/* from .debug_frame (the module has no .eh_frame_hdr) */
	/* for .debug_frame: a small ELF image holding that section alone */
	unsigned char *image;
	Elf *elf;
	Dwarf *dw;
};

/*
 * A module without .eh_frame_hdr (Go's binaries) may still describe its
 * frames in .debug_frame.  libdw reads that only through a Dwarf, and
 * dwarf_begin_elf() inflates every compressed debug section of the file
 * at once (15-22 ms for a small Go program) and writes section headers
 * (a fault on our read-only image).  So: .debug_frame alone, inflated
 * here, in an ELF image of its own.
 */
static void open_debug_frame(struct cfi_module *cm)
{
	const struct module *mod = cm->mod;
	static const char names[] = "\0.debug_frame\0.shstrtab";
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	GElf_Shdr sh = { 0 };
	size_t shstrndx, size = 0;
	const unsigned char *data = NULL;
	unsigned char *inflated = NULL;

	if (!mod->elf || !gelf_getehdr(mod->elf, &eh) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    elf_getshdrstrndx(mod->elf, &shstrndx))
		return;
	while ((scn = elf_nextscn(mod->elf, scn))) {
		const char *name;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_PROGBITS &&
		    (name = elf_strptr(mod->elf, shstrndx, sh.sh_name)) && !strcmp(name, ".debug_frame"))
			break;
	}
	if (!scn || sh.sh_offset > mod->image_size || mod->image_size - sh.sh_offset < sh.sh_size)
		return;
	data = mod->image + sh.sh_offset;
	size = sh.sh_size;
	if (sh.sh_flags & SHF_COMPRESSED) {
		Elf64_Chdr ch;
		uLongf out;

		if (size < sizeof(ch))
			return;
		memcpy(&ch, data, sizeof(ch));
		if (ch.ch_type != ELFCOMPRESS_ZLIB || ch.ch_size > 256u << 20)
			return;
		out = ch.ch_size;
		inflated = xmalloc(ch.ch_size + 1);
		if (uncompress(inflated, &out, data + sizeof(ch), size - sizeof(ch)) != Z_OK ||
		    out != ch.ch_size) {
			free(inflated);
			return;
		}
		data = inflated;
		size = ch.ch_size;
	}
	/* ELF header, the section, the names, three section headers */
	size_t off_names = sizeof(Elf64_Ehdr) + size, off_sh = (off_names + sizeof(names) + 7) & ~7UL;
	unsigned char *img = xcalloc(1, off_sh + 3 * sizeof(Elf64_Shdr));
	Elf64_Ehdr *e = (Elf64_Ehdr *)img;
	Elf64_Shdr *shdr = (Elf64_Shdr *)(img + off_sh);

	memcpy(e->e_ident, eh.e_ident, EI_NIDENT);
	e->e_type = eh.e_type;
	e->e_machine = eh.e_machine;
	e->e_version = EV_CURRENT;
	e->e_ehsize = sizeof(Elf64_Ehdr);
	e->e_shoff = off_sh;
	e->e_shentsize = sizeof(Elf64_Shdr);
	e->e_shnum = 3;
	e->e_shstrndx = 2;
	memcpy(img + sizeof(Elf64_Ehdr), data, size);
	memcpy(img + off_names, names, sizeof(names));
	shdr[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_PROGBITS,
				.sh_offset = sizeof(Elf64_Ehdr), .sh_size = size, .sh_addralign = 1 };
	shdr[2] = (Elf64_Shdr){ .sh_name = 14, .sh_type = SHT_STRTAB,
				.sh_offset = off_names, .sh_size = sizeof(names), .sh_addralign = 1 };
	free(inflated);
	cm->image = img;
	cm->elf = elf_memory((char *)img, off_sh + 3 * sizeof(Elf64_Shdr));
	cm->dw = cm->elf ? dwarf_begin_elf(cm->elf, DWARF_C_READ, NULL) : NULL;
	cm->cfi = cm->dw ? dwarf_getcfi(cm->dw) : NULL;
	cm->debug_frame = cm->cfi != NULL;
}

static struct cfi_module *module_cfi(struct cfi_cache *c, const struct module *mod)
{
	struct cfi_module *cm;

	for (size_t i = 0; i < c->nmods; i++)
		if (c->mods[i].mod == mod)
			return &c->mods[i];
	GROW(c->mods, c->mods_alloc, c->nmods + 1);
	cm = &c->mods[c->nmods++];
	*cm = (struct cfi_module){ .mod = mod };
	if (mod->elf && mod->has_eh_table)
		cm->cfi = dwarf_getcfi_elf(mod->elf);
	else
		open_debug_frame(cm);
	return cm;
}

bool cfi_module_has_debug_frame(struct cfi_cache *c, const struct module *mod)
{
	return module_cfi(c, mod)->debug_frame;
}

/*
 * rt_sigreturn's trampoline (mov $15,%rax; syscall): a signal frame, which
 * libunwind recognises by its code whatever the CFI says.
 */
static bool is_sigreturn(const struct module *mod, uint64_t bias, uint64_t pc)
{
	static const unsigned char code[] = { 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05 };
	GElf_Phdr ph;
	size_t n;

	if (!mod->elf || elf_getphdrnum(mod->elf, &n))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(mod->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		uint64_t va = pc - bias;

		if (va < ph.p_vaddr || va - ph.p_vaddr >= ph.p_filesz)
			continue;
		uint64_t off = ph.p_offset + (va - ph.p_vaddr);

		return off < mod->image_size && mod->image_size - off >= sizeof(code) &&
		       !memcmp(mod->image + off, code, sizeof(code));
	}
	return false;
}

/*
 * One register's rule as libdw gives it, if of a shape we step: no
 * operations is "same value" (ops NULL) or "undefined" (ops = mem); a
 * saved register is DW_OP_call_frame_cfa [DW_OP_plus_uconst off].
 */
static bool reg_rule(Dwarf_Frame *fr, int reg, uint8_t *how, int64_t *off)
{
	Dwarf_Op mem[3], *ops;
	size_t nops;

	*off = 0;
	if (dwarf_frame_register(fr, reg, mem, &ops, &nops))
		return false;
	if (nops == 0) {
		*how = ops ? CFI_UNDEF : CFI_SAME;
		return true;
	}
	if (ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	if (nops == 2 && ops[1].atom == DW_OP_plus_uconst)
		*off = (int64_t)ops[1].number;
	else if (nops != 1)
		return false;	/* (a value, DW_OP_stack_value last, among others) */
	*how = CFI_AT;
	return true;
}

static void make_rule(struct cfi_cache *c, const struct module *mod, uint64_t bias,
		      uint64_t pc, bool leaf, struct cfi_rule *out)
{
	Dwarf_CFI *cfi = module_cfi(c, mod)->cfi;
	uint64_t lookup = (leaf ? pc : pc - 1) - bias;
	Dwarf_Frame *fr = NULL;
	Dwarf_Op *ops;
	Dwarf_Addr start, end;
	bool signal;
	size_t nops;
	int ra;

	memset(out, 0, sizeof(*out));
	/* (whatever the CFI says: Go's describes it as a plain function) */
	out->sigreturn = is_sigreturn(mod, bias, pc);
	if (out->sigreturn || !cfi || dwarf_cfi_addrframe(cfi, lookup, &fr) != 0)
		return;
	ra = dwarf_frame_info(fr, &start, &end, &signal);
	if (ra != CFI_RA || signal)
		goto out;
	if (dwarf_frame_cfa(fr, &ops, &nops) || nops != 1 || ops[0].atom != DW_OP_bregx ||
	    ops[0].number >= CFI_NREGS)
		goto out;
	out->cfa_reg = (uint8_t)ops[0].number;
	out->cfa_off = (int64_t)ops[0].number2;
	for (int r = 0; r < CFI_NREGS; r++)
		if (r != CFI_SP && !reg_rule(fr, r, &out->how[r], &out->off[r]))
			goto out;
	/* the return address: saved in the frame, or undefined at the end */
	out->usable = out->how[CFI_RA] == CFI_AT || out->how[CFI_RA] == CFI_UNDEF;
out:
	free(fr);
}

const struct cfi_rule *cfi_rule(struct cfi_cache *c, const struct module *mod,
				uint64_t bias, uint64_t pc, bool leaf)
{
	bool added;
	uint64_t *slot = u64map_put(&c->index, (uint64_t)(uintptr_t)mod,
				    ((pc - bias) << 1) | leaf, c->nrules, &added);

	if (added) {
		GROW(c->rules, c->rules_alloc, c->nrules + 1);
		make_rule(c, mod, bias, pc, leaf, &c->rules[c->nrules++]);
	}
	return &c->rules[*slot];
}

void cfi_cache_release(struct cfi_cache *c)
{
	for (size_t i = 0; i < c->nmods; i++) {
		struct cfi_module *cm = &c->mods[i];

		if (cm->dw)
			dwarf_end(cm->dw);	/* (its CFI with it) */
		else
			dwarf_cfi_end(cm->cfi);
		if (cm->elf)
			elf_end(cm->elf);
		free(cm->image);
	}
	free(c->mods);
	free(c->rules);
	u64map_release(&c->index);
	memset(c, 0, sizeof(*c));
}
