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
	const char *jit_file;	/* the perf map naming its code, or NULL */
};

/* A function a JIT compiler wrote in its perf map (see addrspace_jit()). */
struct jitsym {
	uint64_t start, end;
	char *name;
	uint32_t line;		/* in the file: a later line wins */
};

/*
 * One epoch: one process running one program image.  A process gets a new
 * epoch when it is born (fork) and at each exec; an address means
 * something only with its epoch, so two processes never share a location
 * (their modules, by device and inode, they do share).
 */
struct maps {
	struct mapping *v;	/* sorted by start, non-overlapping */
	size_t n;
	char *exe;		/* /proc/PID/exe when read, " (deleted)" removed */
	uint32_t epoch;		/* its own index in addrspace.epochs */
	pid_t pid;		/* the process whose maps these are */
	char comm[16];		/* its name (/proc/PID/comm), "" unknown */
	bool live;		/* still this process's image: may be reread */
	bool dirty;		/* mappings changed (clone, exec): reread soon */
	uint64_t last_reload_ns;
	/* its perf map (/tmp/perf-PID.map), once read: sorted by start */
	struct jitsym *jit;
	size_t njit;
	char *jit_path;		/* NULL: none read */
	bool jit_read;
};

struct addrspace {
	pid_t pid;		/* the first process (epoch 0's) */
	struct module *modules;
	struct maps *epochs;	/* one snapshot per process image */
	size_t nepochs, epochs_alloc;
	uint64_t last_reload_ns;	/* of the newest epoch (single-process users) */
	bool dirty;		/* the newest epoch: reread soon */
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

/*
 * Processes (attach/target.c follows forks): a new epoch for pid, its
 * maps a copy of epoch `from`'s (a forked child's address space is its
 * parent's, dirty if that was) or empty and dirty (from ==
 * ADDRSPACE_NONE); not read: the child is not held up for it.  Returns
 * the epoch.
 */
#define ADDRSPACE_NONE UINT32_MAX
uint32_t addrspace_add_process(struct addrspace *as, pid_t pid, uint32_t from);

/* (Re)read epoch's process's maps now; 0 or -errno. */
int addrspace_reload_epoch(struct addrspace *as, uint32_t epoch);

/* exec: epoch is over, a new one for the same process is read; returns it. */
uint32_t addrspace_exec(struct addrspace *as, uint32_t epoch);

/* The process is gone (or execed): its epoch is never read again. */
void addrspace_end(struct addrspace *as, uint32_t epoch);

/* Reread every live dirty epoch last read more than min_age_ns ago. */
void addrspace_refresh_all(struct addrspace *as, uint64_t min_age_ns);

static inline struct maps *addrspace_current(struct addrspace *as)
{
	return &as->epochs[as->nepochs - 1];
}

static inline uint32_t addrspace_epoch(const struct addrspace *as)
{
	return (uint32_t)(as->nepochs - 1);
}

const struct mapping *maps_find(const struct maps *m, uint64_t addr);

/*
 * JIT code: the functions a JIT compiler names in /tmp/perf-PID.map (one
 * "START SIZE NAME" line each, hex; node --perf-basic-prof, the JVM's
 * perf-map agents, Python 3.12's -X perf write it).  Read once per epoch,
 * for most processes an open() that fails: addrspace_end() reads it (the
 * process is gone or has exec'd; at an exec, while the thread that execs
 * waits in its exec stop), the symbolizer at the end for the processes
 * still running.  A file not owned by root, cprof's user or the process's
 * is ignored (/tmp is everybody's).  maps_jit_find(): the function at
 * addr, the one written last where several were, or NULL.
 */
void addrspace_read_jit(struct addrspace *as, uint32_t epoch);
const struct jitsym *maps_jit_find(const struct maps *m, uint64_t addr);

/* Parse one /proc/PID/maps line (exposed for unit tests). */
int maps_parse_line(const char *line, uint64_t *start, uint64_t *end,
		    unsigned *prot, uint64_t *offset, unsigned *dev_major,
		    unsigned *dev_minor, uint64_t *inode, const char **name);

#endif
