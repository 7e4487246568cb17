/*
 * cmd/main.c - the cprof command table: global options, --help, --version,
 * and dispatch to one file per subcommand.
 */
#include "cmd.h"
#include "../lib/util.h"

#include <stdio.h>
#include <string.h>

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "record", cmd_record, "sample a process (or a command) and write a profile" },
	{ "threads", cmd_threads, "show what every thread of a process is doing now" },
	{ "profiles", cmd_profiles, "list the profile types cprof can record" },
	{ "report", cmd_report, "print a profile: top, tree, folded, flame graph, json" },
	{ "diff", cmd_diff, "compare two profiles; fail a CI job on a slowdown" },
	{ "serve", cmd_serve, "answer Go's /debug/pprof HTTP requests for a process" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cprof [--version] [--help] COMMAND [ARGS]\n"
		"\n"
		"cprof profiles a running Linux process from the outside (ptrace),\n"
		"and writes profiles that `go tool pprof` reads.\n"
		"\n"
		"commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\n"
		"`cprof COMMAND --help` describes a command.  See also cprof(1).\n"
		"\n"
		"exit status: 0 success; 1 failure; 2 usage error; 3 profile written\n"
		"but incomplete; 4 cprof diff: a function grew past --fail-if-slower;\n"
		"in launch mode, the command's own status.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CPROF_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return CPROF_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("cprof %s\n", CPROF_VERSION);
		return CPROF_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "cprof: unknown command '%s' (see cprof --help)\n", argv[1]);
	return CPROF_EXIT_USAGE;
}
