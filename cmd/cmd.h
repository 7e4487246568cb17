/*
 * cmd/cmd.h - subcommands.  Each takes the arguments after its own name
 * (argv[0] is the subcommand) and returns the process exit status; only
 * cmd/ exits.
 */
#ifndef CPROF_CMD_H
#define CPROF_CMD_H

int cmd_record(int argc, char **argv);

#endif
