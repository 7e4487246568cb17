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

struct cfi_module {
	const struct module *mod;
	Dwarf_CFI *cfi;		/* NULL: none (not ELF, no .eh_frame) */
};

static Dwarf_CFI *module_cfi(struct cfi_cache *c, const struct module *mod)
{
	for (size_t i = 0; i < c->nmods; i++)
		if (c->mods[i].mod == mod)
			return c->mods[i].cfi;
	GROW(c->mods, c->mods_alloc, c->nmods + 1);
	c->mods[c->nmods] = (struct cfi_module){
		.mod = mod,
		.cfi = mod->elf ? dwarf_getcfi_elf(mod->elf) : NULL,
	};
	return c->mods[c->nmods++].cfi;
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
	Dwarf_CFI *cfi = mod->has_eh_table ? module_cfi(c, mod) : NULL;
	uint64_t lookup = (leaf ? pc : pc - 1) - bias;
	Dwarf_Frame *fr = NULL;
	Dwarf_Op *ops;
	Dwarf_Addr start, end;
	bool signal;
	size_t nops;
	int ra;

	memset(out, 0, sizeof(*out));
	if (!cfi || dwarf_cfi_addrframe(cfi, lookup, &fr) != 0)
		return;
	ra = dwarf_frame_info(fr, &start, &end, &signal);
	if (ra != CFI_RA || signal || is_sigreturn(mod, bias, pc))
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
	for (size_t i = 0; i < c->nmods; i++)
		dwarf_cfi_end(c->mods[i].cfi);
	free(c->mods);
	free(c->rules);
	u64map_release(&c->index);
	memset(c, 0, sizeof(*c));
}
