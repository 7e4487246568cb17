/*
 * attach/sdt.h - statically defined tracing probes (USDT): the SystemTap
 * SDT notes (.note.stapsdt) a program or library carries, where each probe
 * site is in its file, its semaphore, and where its arguments are at the
 * site ("8@%rdi", "-4@-20(%rbp)", "8@$5").  heap and allocs read
 * OpenTelemetry's memory-profiling probes (otel_memory:alloc and :free)
 * through them (attach/heapfuncs.c).  Reading only; probing is uprobe.h's.
 */
#ifndef CPROF_SDT_H
#define CPROF_SDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libelf.h>

#define SDT_MAX_ARGS 12

/* Where an argument is at the probe site, and how wide. */
struct sdt_arg {
	enum { SDT_REG, SDT_MEM, SDT_IMM } kind;
	signed char size;	/* bytes (1, 2, 4, 8); negative: signed */
	signed char reg;	/* perf_reg (perfev.h): the register, or the
				 * memory operand's base */
	int64_t disp;		/* SDT_MEM: the offset; SDT_IMM: the value */
};

/* One probe site. */
struct sdt_site {
	uint64_t vaddr;		/* link-time address of the site's nop */
	uint64_t offset;	/* its file offset (a uprobe's config2) */
	uint64_t sem_offset;	/* the semaphore's file offset, 0: none */
	unsigned nargs;
	struct sdt_arg args[SDT_MAX_ARGS];
	char *spec;		/* the arguments as the note says them */
};

/*
 * The sites of provider:name in elf (a probe inlined in several places
 * has several), in *out (free with sdt_free).  How many, 0 where there
 * is none; -1 where one of them cannot be used (an argument this reader
 * does not understand, a site outside an executable segment): *why says
 * which, owned by the caller.
 */
int sdt_find(Elf *elf, const char *provider, const char *name, struct sdt_site **out,
	     char **why);
void sdt_free(struct sdt_site *v, size_t n);

/*
 * Parse an argument string ("8@%rdi -8@16(%rsp) 4@$1"): how many, or -1
 * at the first one not understood (index and rip-relative operands: they
 * need more than a site's registers and stack).
 */
int sdt_parse_args(const char *spec, struct sdt_arg *a, unsigned max);

/*
 * An argument's value from a sample's registers (regs recorded with
 * mask, perfev.h) and its stack copy (len bytes from sp): false where it
 * is in memory the copy does not hold.
 */
bool sdt_arg_value(const struct sdt_arg *a, const uint64_t *regs, uint64_t mask,
		   const unsigned char *stack, size_t len, uint64_t *v);

/* The registers an argument needs (a PERF_SAMPLE_REGS_USER mask). */
uint64_t sdt_arg_regs(const struct sdt_arg *a);

#endif
