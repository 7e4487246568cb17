/*
 * symbolize/symindex.h - a module's symbol table sorted once, for lookups
 * by binary search instead of libdwfl's walk of every symbol per address
 * (dwfl_module_addrinfo: 7.3 s of cprof after one build job, in cc1's
 * 29k-symbol .dynsym).
 *
 * The index is made from libdwfl's own view of the table (the same
 * symbols, .symtab or .dynsym plus MiniDebugInfo, the same order, the same
 * values), and symindex_lookup() gives what dwfl_module_addrinfo() gives
 * for the same module: the same symbol and offset, down to its choice
 * between symbols that overlap or share an address (tests/unit: every
 * symbol's edges in several binaries, compared).
 *
 * An index holds addresses relative to the module's load bias and names
 * owned by the Dwfl that built it: valid while that Dwfl lives, and usable
 * with any other Dwfl_Module of the same file (same build-id).  Where the
 * answer depends on something the index does not keep, lookups ask libdwfl.
 */
#ifndef CPROF_SYMINDEX_H
#define CPROF_SYMINDEX_H

#include <elfutils/libdwfl.h>
#include <stdint.h>

struct symindex;

/* Read mod's symbol table; NULL when libdwfl has none for it. */
struct symindex *symindex_build(Dwfl_Module *mod);
void symindex_free(struct symindex *ix);

/*
 * The symbol at addr (an address in mod's Dwfl) and *off, its offset in
 * it, as dwfl_module_addrinfo(mod, addr, off, ...) would answer; mod is
 * the module the index was built for or one of the same file.
 */
const char *symindex_lookup(const struct symindex *ix, Dwfl_Module *mod,
			    uint64_t addr, GElf_Off *off);

/* Symbols in the index (both passes), for tests and -v. */
size_t symindex_size(const struct symindex *ix);

#endif
