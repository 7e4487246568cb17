/*
 * cmd/profiles.c - the profile types cprof knows, in one table, and
 * `cprof profiles`, which lists them like runtime/pprof's Profiles().
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "../attach/offcpu.h"
#include "../attach/procfs.h"
#include "../attach/sampler.h"
#include "../lib/util.h"
#include "../profiles/lockwait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* threads: the state letter */
static size_t state_labels(uint32_t label, const char *kv[PB_MAX_LABELS][2])
{
	kv[0][0] = "thread_state";
	kv[0][1] = proc_state_name((char)label);
	return 1;
}

/*
 * What each profile type records, and how its values are named (Go's).
 * Go's contention text (block, mutex) follows from the sample types.
 */
const struct profile_type profile_types[] = {
	{ .name = "cpu", .help = "where threads use the cpu",
	  .mode = &cpu_mode, .nvalues = 2,
	  .types = { { "samples", "count" }, { "cpu", "nanoseconds" } },
	  .period_type = { "cpu", "nanoseconds" },
	  .go_name = "profile", .go_cpu = true, .go_seconds = 30 },
	{ .name = "wall", .help = "every thread at every tick, by wall time",
	  .mode = &wall_mode, .nvalues = 2,
	  .types = { { "samples", "count" }, { "wall", "nanoseconds" } },
	  .period_type = { "wall", "nanoseconds" },
	  .labels = offcpu_labels, .go_seconds = 30 },
	{ .name = "block", .help = "time blocked off the cpu, by stack",
	  .mode = &block_mode, .nvalues = 2,
	  .types = { { "contentions", "count" }, { "delay", "nanoseconds" } },
	  .period_type = { "contentions", "count" },
	  .labels = offcpu_labels },
	{ .name = "mutex", .help = "time waiting for a lock, by stack",
	  .more = "(not condition variables)",
	  .mode = &mutex_mode, .nvalues = 2,
	  .types = { { "contentions", "count" }, { "delay", "nanoseconds" } },
	  .period_type = { "contentions", "count" },
	  .labels = offcpu_labels, .filter = pb_keep_lock_waits },
	{ .name = "threadcreate", .help = "the stack that created each thread",
	  .mode = &threadcreate_mode, .nvalues = 1,
	  .types = { { "threadcreate", "count" } },
	  .period_type = { "threadcreate", "count" } },
	{ .name = "processcreate", .help = "the stack that started each process",
	  .more = "(fork, vfork, clone; follows them)",
	  .mode = &processcreate_mode, .nvalues = 1,
	  .types = { { "processcreate", "count" } },
	  .period_type = { "processcreate", "count" } },
	{ .name = "threads", .help = "one snapshot of every thread's stack",
	  .more = "(needs -p; not -F, -d or --raw-stops)",
	  .nvalues = 1,
	  .types = { { "threads", "count" } },
	  .period_type = { "threads", "count" }, .labels = state_labels,
	  .go_alias = "goroutine" },
	{ .name = "heap", .help = "allocations still live at the end, by stack",
	  .more = "(made during the recording; --rate BYTES)",
	  .mode = &heap_mode, .nvalues = 4,
	  .types = { { "alloc_objects", "count" }, { "alloc_space", "bytes" },
		     { "inuse_objects", "count" }, { "inuse_space", "bytes" } },
	  .period_type = { "space", "bytes" }, .default_type = 4,
	  .num_label = "bytes" },
	{ .name = "allocs", .help = "every allocation made, by stack",
	  .more = "(sampled: one per --rate BYTES, default 512 KiB)",
	  .mode = &allocs_mode, .nvalues = 4,
	  .types = { { "alloc_objects", "count" }, { "alloc_space", "bytes" },
		     { "inuse_objects", "count" }, { "inuse_space", "bytes" } },
	  .period_type = { "space", "bytes" }, .default_type = 2,
	  .num_label = "bytes" },
	{ .name = "probe", .help = "stacks that called a function",
	  .more = "(probe:SYMBOL or probe:LIB:SYMBOL; --every N)",
	  .mode = &probe_mode, .nvalues = 1,
	  .types = { { "calls", "count" } },
	  .period_type = { "calls", "count" }, .arg = "[LIB:]SYMBOL",
	  .nfuncs = 1 },
	{ .name = "pair", .help = "objects acquired and not yet released, by stack",
	  .more = "(pair:ACQUIRE,RELEASE; --every N)",
	  .mode = &pair_mode, .nvalues = 2,
	  .types = { { "acquired", "count" }, { "live", "count" } },
	  .period_type = { "acquired", "count" }, .default_type = 2,
	  .arg = "ACQUIRE,RELEASE", .nfuncs = 2 },
};
const size_t nprofile_types = sizeof(profile_types) / sizeof(profile_types[0]);

const struct profile_type *profile_type_find(const char *name)
{
	/* probe:SYMBOL is the probe type with its argument */
	size_t len = strcspn(name, ":");

	for (size_t i = 0; i < nprofile_types; i++)
		if (!strncmp(profile_types[i].name, name, len) && !profile_types[i].name[len] &&
		    (!name[len] || profile_types[i].arg))
			return &profile_types[i];
	return NULL;
}

const struct profile_type *profile_type_of_path(const char *path)
{
	for (size_t i = 0; i < nprofile_types; i++) {
		const struct profile_type *pt = &profile_types[i];

		if (pt->arg)
			continue;
		if (!strcmp(pt->go_name ? pt->go_name : pt->name, path) ||
		    (pt->go_alias && !strcmp(pt->go_alias, path)))
			return pt;
	}
	return NULL;
}

const char *profile_type_arg(const struct profile_type *pt, const char *given)
{
	size_t len = strlen(pt->name);

	if (!pt->arg)
		return NULL;
	return given[len] == ':' ? given + len + 1 : "";
}

bool profile_type_arg_ok(const struct profile_type *pt, const char *arg)
{
	size_t n = 0;

	for (const char *spec = arg;; spec += strcspn(spec, ",") + 1) {
		size_t len = strcspn(spec, ",");

		if (!len || spec[len - 1] == ':' || ++n > pt->nfuncs)
			return false;
		if (!spec[len])
			return n == pt->nfuncs;
	}
}

char *profile_type_names(void)
{
	const char **names = xcalloc(nprofile_types, sizeof(*names));
	size_t n = 0;
	char *s;

	for (size_t i = 0; i < nprofile_types; i++)
		names[n++] = profile_types[i].name;
	s = list_words(names, n);
	free(names);
	return s;
}

int cmd_profiles(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: cprof profiles\n\nList the profile types cprof can record.\n");
		return CPROF_EXIT_OK;
	}
	if (argc > 1) {
		fprintf(stderr, "cprof: profiles: unexpected argument '%s'\n", argv[1]);
		return CPROF_EXIT_USAGE;
	}
	for (size_t i = 0; i < nprofile_types; i++) {
		const struct profile_type *pt = &profile_types[i];

		printf("%-24s %s", pt->name, pt->help);
		for (size_t v = 0; v < pt->nvalues; v++)
			printf("%s%s/%s", v ? ", " : ": ", pt->types[v][0], pt->types[v][1]);
		printf(" (record -t %s%s%s)\n", pt->name, pt->arg ? ":" : "",
		       pt->arg ? pt->arg : pt->mode ? "" : "; cprof threads");
	}
	return CPROF_EXIT_OK;
}
