/*
 * tests/fuzz/elf_fuzz.c - libFuzzer harness for the ELF and DWARF handling
 * cprof owns: an input is an ELF file (the seed corpus is cprof's own test
 * targets, plain, stripped and with compressed debug sections, made by
 * `make fuzz`).  Each input is
 *   - mapped as a module (symbolize/maps.c: build-id, .eh_frame_hdr table,
 *     load bias),
 *   - symbolized at a few addresses (symbolize/symbolize.c over libdwfl),
 *   - unwound from (attach/unwind.c: our memory accessors, the unwind
 *     table search), with a stack and registers taken from the input too,
 *   - and, if its debug sections are compressed, copied decompressed
 *     (symbolize/debugcache.c).
 */
#define _GNU_SOURCE
#include "../../attach/capture.h"
#include "../../attach/unwind.h"
#include "../../symbolize/debugcache.h"
#include "../../symbolize/maps.h"
#include "../../symbolize/symbolize.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BASE 0x10000000ULL
#define STACK 0x7ff000000000ULL

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char cache_dir[] = "/tmp/cprof-fuzz-cache.XXXXXX";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	if (!mkdtemp(cache_dir))
		abort();
	setenv("CPROF_CACHE_DIR", cache_dir, 1);
	unsetenv("DEBUGINFOD_URLS");
	return 0;
}

static uint64_t word(const uint8_t *data, size_t size, size_t at)
{
	uint64_t v = 0;

	if (size >= 8)
		memcpy(&v, data + (at % (size - 7)), 8);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addrspace as;
	struct symbolizer *sym;
	struct unwinder *u;
	struct capture c;
	struct symloc sl;
	uint64_t pcs[64], span;
	unsigned char stack[4096];
	static const unsigned char fake_id[20] = { 0xf0, 0x22 };
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	addrspace_init(&as, getpid());
	addrspace_add_file(&as, fd, "/fuzz/input", BASE);
	span = as.epochs[0].n ? as.epochs[0].v[as.epochs[0].n - 1].end - BASE : 4096;

	/* symbols: the debuginfo path leads nowhere, only the input counts */
	sym = symbolizer_new(&as, "/nonexistent-cprof-fuzz");
	for (size_t i = 0; i < 8; i++)
		symbolizer_lookup(sym, 0, BASE + word(data, size, i * 977) % span, &sl);
	symbolizer_lookup(sym, 0, BASE + 0x1000, &sl);

	/* unwinding: a stack and registers from the input, pc inside it */
	memset(stack, 0, sizeof(stack));
	memcpy(stack, data, size < sizeof(stack) ? size : sizeof(stack));
	for (size_t i = 0; i + 8 <= sizeof(stack); i += 64) {
		/* sprinkle plausible return addresses into the module */
		uint64_t ra = BASE + word(data, size, i) % span;

		memcpy(stack + i, &ra, 8);
	}
	capture_init(&c, sizeof(stack));
	memcpy(c.stack, stack, sizeof(stack));
	c.stack_addr = STACK;
	c.stack_len = sizeof(stack);
	c.stack_map_end = STACK + sizeof(stack);
	c.time_ns = 0;	/* never a maps reload: the input is the whole world */
	c.regs.rip = BASE + word(data, size, 13) % span;
	c.regs.rsp = STACK + (word(data, size, 29) % 256) * 8;
	c.regs.rbp = STACK + (word(data, size, 31) % 256) * 8;
	c.regs.orig_rax = word(data, size, 37) & 1 ? 0 : (uint64_t)-1;
	u = unwinder_new(&as);
	if (!u)
		abort();
	unwinder_unwind(u, &c, pcs, 64);
	c.partial = true;
	unwinder_unwind(u, &c, pcs, 64);
	unwinder_free(u);
	capture_release(&c);
	symbolizer_free(sym);

	/* a decompressed copy, if its debug sections are compressed */
	int dfd = dup(fd);

	if (dfd >= 0) {
		char path[sizeof(cache_dir) + 64];

		close(debugcache_open(dfd, fake_id, sizeof(fake_id)));
		snprintf(path, sizeof(path), "%s/debug/f022000000000000000000000000000000000000.debug",
			 cache_dir);
		unlink(path);
	}
	addrspace_release(&as);
	return 0;
}
