/*
 * cmd/cmd.h - subcommands.  Each takes the arguments after its own name
 * (argv[0] is the subcommand) and returns the process exit status; only
 * cmd/ exits.
 */
#ifndef CPROF_CMD_H
#define CPROF_CMD_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "../profiles/builder.h"

struct sample_mode;
struct snapshot;
struct symbolizer;

int cmd_record(int argc, char **argv);
int cmd_threads(int argc, char **argv);
int cmd_profiles(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/*
 * The profile types (cmd/profiles.c): one row each, data only (names,
 * units, Go's names for serve), and all that record, serve, `cprof
 * profiles`, --help and the man page's check (tests/t0001-cli.sh) know of
 * them.  What a type does and says of its recording is its mode's (struct
 * sample_mode, one file in attach/): nothing here or in the commands asks
 * which type it is.  A new type is a row there and, if it samples, a mode.
 */
struct profile_type {
	const char *name;
	const char *help;	/* one line: record --help, cprof profiles */
	const char *more;	/* another line for record --help, or NULL */
	const struct sample_mode *mode;	/* NULL: a snapshot (threads) */
	size_t nvalues;
	const char *types[4][2];	/* sample types, {type, unit} */
	size_t default_type;	/* index of pprof's default_sample_type, or 0 */
	const char *num_label;	/* the entry's label is this numeric label */
	const char *arg;	/* -t NAME:ARG: what ARG is (probe, pair), or NULL;
				 * such a type has no path of Go's in serve */
	size_t nfuncs;		/* ... the [LIB:]SYMBOLs it names, comma-separated */
	const char *period_type[2];
	pb_label_fn labels;
	/* the builder's entries, before symbolizing, may be filtered */
	void (*filter)(struct profile_builder *b, struct symbolizer *sym);
	/* cprof serve, as Go's net/http/pprof: */
	const char *go_name;	/* its path, if not its name (cpu: profile) */
	const char *go_alias;	/* another path for it (threads: goroutine) */
	bool go_cpu;		/* as Go's /profile: ?seconds= is its length, not
				 * a delta; no delta_ path; a file, not text */
	unsigned go_seconds;	/* recorded without ?seconds=, or 0: --window */
};

extern const struct profile_type profile_types[];
extern const size_t nprofile_types;

/* The type by name, or NULL. */
const struct profile_type *profile_type_find(const char *name);

/* The type served at /debug/pprof/PATH (go_name, go_alias or its name;
 * none that takes an argument), or NULL. */
const struct profile_type *profile_type_of_path(const char *path);

/* -t NAME:ARG: ARG ("" if none given), or NULL for a type without one */
const char *profile_type_arg(const struct profile_type *pt, const char *given);

/* Does ARG name the type's nfuncs functions, each SYMBOL or LIB:SYMBOL? */
bool profile_type_arg_ok(const struct profile_type *pt, const char *arg);

/* "cpu, wall, ... or threads": the types record takes. */
char *profile_type_names(void);

/* Options that record and threads both take. */
enum { OPT_MAX_DEPTH = 256, OPT_STACK_SIZE, OPT_DEBUGINFO, OPT_FIRST_OWN };
#define COMMON_LONGOPTS \
	{ "pid", required_argument, NULL, 'p' }, \
	{ "max-depth", required_argument, NULL, OPT_MAX_DEPTH }, \
	{ "stack-size", required_argument, NULL, OPT_STACK_SIZE }, \
	{ "debuginfo-path", required_argument, NULL, OPT_DEBUGINFO }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }

struct common_args {
	pid_t pid;
	long max_depth, stack_size;
	const char *debuginfo_path;
};

void common_args_init(struct common_args *o);

/* One option both commands take: 1 handled, 0 not one of them, or
 * CPROF_EXIT_USAGE after saying why. */
int parse_common_opt(const char *cmd, int c, const char *arg, struct common_args *o);

/* "cprof: CMD: <fmt with arg>" and a pointer to --help; CPROF_EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, const char *arg);

/* --max-overhead PCT[%] (0.1-100) into *pct; 0, or a usage error (2). */
int parse_max_overhead(const char *cmd, const char *arg, double *pct);
/* ... as "WHAT 'ARG' (NAMES)", NAMES what is accepted (freed here). */
int usage_error_not_in(const char *cmd, const char *what, const char *arg, char *names);

/* "12,34,56" (-p, --tid): *out malloc'ed; 0, or -1 if not such a list. */
int parse_id_list(const char *s, pid_t **out, size_t *n);

/* Refuse cprof itself, zombies, missing processes; a thread id becomes its
 * process (said on stderr).  0, or -1 after printing why. */
int check_target_pid(pid_t *pid);

/* Block SIGINT/SIGTERM/SIGHUP/SIGCHLD in every thread (set: those; orig:
 * the mask before, may be NULL): the tracer reads them from a signalfd. */
void block_handled_signals(sigset_t *set, sigset_t *orig);

/* Options report and diff share (cmd/report.c). */
struct report_opts;
struct profile_data;
enum { OPT_TOP = OPT_FIRST_OWN + 32, OPT_CUM, OPT_FOCUS, OPT_IGNORE, OPT_NODE_FRACTION };
#define REPORT_LONGOPTS \
	{ "sample-index", required_argument, NULL, 'i' }, \
	{ "top", required_argument, NULL, OPT_TOP }, \
	{ "cum", no_argument, NULL, OPT_CUM }, \
	{ "focus", required_argument, NULL, OPT_FOCUS }, \
	{ "ignore", required_argument, NULL, OPT_IGNORE }, \
	{ "node-fraction", required_argument, NULL, OPT_NODE_FRACTION }
/* 1 handled, 0 not one of them, or CPROF_EXIT_USAGE after saying why. */
int parse_report_opt(const char *cmd, int c, const char *arg, struct report_opts *o);

/* Read path ("-": stdin) into p; -1 after printing "cprof: CMD PATH: why". */
int read_profile(const char *cmd, const char *path, struct profile_data *p);

/* Print with fn into path atomically, or to stdout when path is NULL; 0/-1. */
int write_report(const char *path, int (*fn)(FILE *, void *), void *arg);

#endif
