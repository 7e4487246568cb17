/*
 * cmd/profiles.c - `cprof profiles`: the profile types cprof knows, one line
 * each, like runtime/pprof's Profiles(), marking those not built yet.
 */
#include "cmd.h"
#include "../lib/util.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	bool ready;
	const char *what;
} types[] = {
	{ "cpu", true, "where threads use cpu: samples/count, cpu/nanoseconds (record -t cpu)" },
	{ "threads", true, "every thread's stack now, identical stacks merged: threads/count (record -t threads; cprof threads)" },
	{ "wall", true, "every thread at every tick, running or not: samples/count, wall/nanoseconds (record -t wall)" },
	{ "block", true, "time blocked off the cpu by stack: contentions/count, delay/nanoseconds (record -t block)" },
	{ "mutex", true, "time waiting for locks (not condition variables) by stack: contentions/count, delay/nanoseconds (record -t mutex)" },
	{ "threadcreate", true, "stacks that created threads: threadcreate/count (record -t threadcreate)" },
	{ "heap", false, "live allocations by stack" },
	{ "allocs", false, "all allocations by stack" },
};

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
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		printf("%-13s %-10s %s\n", types[i].name,
		       types[i].ready ? "" : "(not yet)", types[i].what);
	return CPROF_EXIT_OK;
}
