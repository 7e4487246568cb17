/*
 * cmd/cmd.h - subcommands.  Each takes the arguments after its own name
 * (argv[0] is the subcommand) and returns the process exit status; only
 * cmd/ exits.
 */
#ifndef CPROF_CMD_H
#define CPROF_CMD_H

#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

struct snapshot;
struct symbolizer;

int cmd_record(int argc, char **argv);
int cmd_threads(int argc, char **argv);
int cmd_profiles(int argc, char **argv);

/* Refuse cprof itself, zombies, missing processes; a thread id becomes its
 * process (said on stderr).  0, or -1 after printing why. */
int check_target_pid(pid_t *pid);

/* Block SIGINT/SIGTERM/SIGHUP/SIGCHLD in every thread (set: those; orig:
 * the mask before, may be NULL): the tracer reads them from a signalfd. */
void block_handled_signals(sigset_t *set, sigset_t *orig);

/* The Go-goroutine-dump-like listing of a snapshot (cprof threads). */
void threads_print_dump(FILE *f, const struct snapshot *s, struct symbolizer *sym);

#endif
