/*
 * symbolize/maps.h - the target's address space: /proc/PID/maps and the ELF
 * files behind it.
 *
 * A struct addrspace owns every struct module (one per ELF file, keyed by
 * device and inode, or the vDSO image) for the whole recording, so that
 * files stay open and symbolize after the target has exited or deleted
 * them.  Each exec starts a new epoch; addresses are only meaningful
 * together with the epoch they were sampled in.  Modules are opened through
 * /proc/PID/map_files/ (falling back to /proc/PID/root/PATH), so a deleted
 * or replaced file, or one in another mount namespace, is the file the
 * target really runs.
 *
 * Nothing here is called while a target thread is stopped except
 * maps_find(), which only searches memory.
 */
#ifndef CPROF_MAPS_H
#define CPROF_MAPS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <libelf.h>

#define MAP_R 1
#define MAP_W 2
#define MAP_X 4

struct module {
	char *path;		/* as the target names it, " (deleted)" removed */
	char *debug_path;	/* path used to look up .gnu_debuglink files */
	int fd;			/* file content (a memfd for the vDSO) */
	dev_t dev;
	ino_t ino;
	bool is_vdso;
	Elf *elf;		/* NULL when the file is not ELF */
	const unsigned char *image;	/* whole file, mapped read-only */
	size_t image_size;
	uint16_t e_type;
	char build_id[2 * 64 + 1];	/* hex, "" when none */
	/* .eh_frame_hdr search table, in the file's vaddr space */
	bool has_eh_table;
	uint64_t eh_hdr_vaddr;
	uint64_t eh_table_vaddr;
	uint64_t eh_fde_count;
	struct module *next;
};

struct mapping {
	uint64_t start, end, offset;
	unsigned prot;		/* MAP_R | MAP_W | MAP_X */
	struct module *mod;	/* NULL for anonymous and special mappings */
	uint64_t bias;		/* load bias of mod (runtime - link address) */
	bool file_ro;		/* content equals the file (read-only segment) */
	char *name;		/* "[stack]", "[heap]", a path, or "" */
};

struct maps {
	struct mapping *v;	/* sorted by start, non-overlapping */
	size_t n;
	char *exe;		/* /proc/PID/exe when read, " (deleted)" removed */
};

struct addrspace {
	pid_t pid;
	struct module *modules;
	struct maps *epochs;	/* one snapshot per exec epoch */
	size_t nepochs, epochs_alloc;
	uint64_t last_reload_ns;
	bool dirty;		/* mappings changed (clone, exec): reread soon */
};

void addrspace_init(struct addrspace *as, pid_t pid);
void addrspace_release(struct addrspace *as);

/* (Re)read /proc/PID/maps into the current epoch; 0 or -errno. */
int addrspace_reload(struct addrspace *as);

/*
 * Map an ELF file into the current epoch as a loader would (each PT_LOAD
 * at base + p_vaddr), as if the target had it: for tests and fuzzing.
 * The addrspace owns fd.  0, or -1 if it is not an ELF file cprof reads.
 */
int addrspace_add_file(struct addrspace *as, int fd, const char *path, uint64_t base);

/* Reread if dirty and the last read is older than min_age_ns; 0 or -errno. */
int addrspace_refresh(struct addrspace *as, uint64_t min_age_ns);

/* Start a new epoch (after exec) and read it. */
int addrspace_new_epoch(struct addrspace *as);

static inline struct maps *addrspace_current(struct addrspace *as)
{
	return &as->epochs[as->nepochs - 1];
}

static inline uint32_t addrspace_epoch(const struct addrspace *as)
{
	return (uint32_t)(as->nepochs - 1);
}

const struct mapping *maps_find(const struct maps *m, uint64_t addr);

/* Parse one /proc/PID/maps line (exposed for unit tests). */
int maps_parse_line(const char *line, uint64_t *start, uint64_t *end,
		    unsigned *prot, uint64_t *offset, unsigned *dev_major,
		    unsigned *dev_minor, uint64_t *inode, const char **name);

#endif
