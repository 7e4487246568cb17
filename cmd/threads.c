/*
 * cmd/threads.c - `cprof threads`: what every thread of a process is doing
 * right now, from one consistent snapshot (attach/snapshot.c): a stack dump
 * shaped like Go's goroutine dump, a one-line-per-thread table, or JSON.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "view.h"
#include "../attach/procfs.h"
#include "../attach/snapshot.h"
#include "../lib/stack.h"
#include "../lib/util.h"
#include "../profiles/text.h"
#include "../symbolize/maps.h"
#include "../symbolize/symbolize.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char threads_usage[] =
	"usage: cprof threads [options] -p PID\n"
	"\n"
	"Show what every thread of a process is doing now: its state, cpu time,\n"
	"the system call it is blocked in, and its stack, innermost frame first.\n"
	"Blocked threads are read without stopping them; running ones are stopped\n"
	"together, for as short a time as possible: one consistent snapshot.\n"
	"Threads are left as they were (a stopped process stays stopped).\n"
	"\n"
	"  -p, --pid PID          the process (a thread id means its process)\n"
	"      --children         and every process below it, one after another\n"
	"                         (each one consistent snapshot), by process\n"
	"      --no-stacks        one line per thread, no stacks\n"
	"      --json             one JSON document, for scripts\n"
	"      --tid TID,...      only these threads\n"
	"      --timeout DUR      wait at most DUR for each thread to stop (default\n"
	"                         1s); a thread that does not (uninterruptible\n"
	"                         sleep) is shown with its /proc information only\n"
	"      --max-depth N      frames per stack (default 256)\n"
	"      --stack-size BYTES stack bytes copied per thread (default 32768)\n"
	"      --debuginfo-path P where to look for separate debug files\n"
	"      --stop-all         also stop blocked threads whose stack cannot be\n"
	"                         read without their registers (frame-pointer\n"
	"                         code) when the stop would make their call return\n"
	"                         EINTR (epoll_wait, socket calls with timeouts)\n"
	"  -v, --verbose          also say how many threads were stopped, how long\n"
	"  -h, --help             this text\n"
	"\n"
	"exit status: 0 every thread was read; 3 some thread exited, or did not\n"
	"stop in time, or was left with an incomplete stack rather than make its\n"
	"call fail (it is listed with what could be read); 1 failure; 2 usage error.\n";

struct threads_args {
	struct common_args c;
	bool no_stacks, json, stop_all, children;
	pid_t *tids;
	size_t ntids;
	uint64_t timeout_ns;
};

static int parse_args(int argc, char **argv, struct threads_args *a)
{
	enum { OPT_NO_STACKS = OPT_FIRST_OWN, OPT_JSON, OPT_TID, OPT_TIMEOUT, OPT_STOP_ALL,
	       OPT_CHILDREN };
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "no-stacks", no_argument, NULL, OPT_NO_STACKS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "tid", required_argument, NULL, OPT_TID },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "stop-all", no_argument, NULL, OPT_STOP_ALL },
		{ "children", no_argument, NULL, OPT_CHILDREN },
		{ 0 },
	};
	int c, r;

	*a = (struct threads_args){ .timeout_ns = 1000000000ULL };
	common_args_init(&a->c);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:vh", longopts, NULL)) != -1) {
		r = parse_common_opt("threads", c, optarg, &a->c);
		if (r == 1)
			continue;
		if (r)
			return r;
		switch (c) {
		case OPT_NO_STACKS: a->no_stacks = true; break;
		case OPT_JSON: a->json = true; break;
		case OPT_STOP_ALL: a->stop_all = true; break;
		case OPT_CHILDREN: a->children = true; break;
		case OPT_TID:
			free(a->tids);
			if (parse_id_list(optarg, &a->tids, &a->ntids))
				return usage_error("threads", "--tid: '%s' is not a list of thread ids", optarg);
			break;
		case OPT_TIMEOUT:
			if (parse_duration(optarg, &a->timeout_ns))
				return usage_error("threads", "--timeout: '%s' is not a duration", optarg);
			break;
		case 'h':
			fputs(threads_usage, stdout);
			return -1;
		case ':':
			return usage_error("threads", "%s needs an argument", argv[optind - 1]);
		default:
			return usage_error("threads", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("threads", "unexpected argument '%s'", argv[optind]);
	if (!a->c.pid)
		return usage_error("threads", "which process? give -p PID%s", "");
	return 0;
}

static void print_table(const struct snapshot *s)
{
	printf("%8s  %-16s %-13s %9s  %s\n", "TID", "NAME", "STATE", "CPU", "BLOCKED IN");
	for (size_t i = 0; i < s->n; i++) {
		const struct snap_thread *t = &s->v[i];
		char in[128];

		if (t->result == SNAP_SKIPPED)
			continue;
		view_blocked_in(t, in, sizeof(in));
		printf("%8d  %-16s %-13s %8.2fs  %s\n", t->tid, t->name,
		       t->result == SNAP_GONE ? "gone" : proc_state_name(t->state),
		       view_cpu_seconds(t), in);
	}
}

static void print_json(const struct snapshot *s, struct symbolizer *sym)
{
	const struct maps *m = &s->target.as.epochs[0];

	printf("{\"pid\":%d,\"exe\":", s->opts.pid);
	json_string(stdout, m->exe ? m->exe : "");
	printf(",\"stopped_us\":%" PRIu64 ",\"stopped_threads\":%zu,\"threads\":[",
	       s->stopped_ns / 1000, s->stopped_threads);
	for (size_t i = 0, first = 1; i < s->n; i++) {
		const struct snap_thread *t = &s->v[i];
		const char *sc = syscall_name(t->syscall_nr);

		if (t->result == SNAP_SKIPPED)
			continue;
		printf("%s{\"tid\":%d,\"name\":", first ? "" : ",", t->tid);
		first = 0;
		json_string(stdout, t->name);
		printf(",\"state\":");
		json_string(stdout, t->result == SNAP_GONE ? "gone" : proc_state_name(t->state));
		printf(",\"cpu_user_s\":%.2f,\"cpu_system_s\":%.2f",
		       (double)t->utime / sysconf(_SC_CLK_TCK),
		       (double)t->stime / sysconf(_SC_CLK_TCK));
		if (t->state != 'R' && t->syscall_nr >= 0) {
			printf(",\"syscall\":{\"nr\":%ld,\"name\":", t->syscall_nr);
			json_string(stdout, sc ? sc : "");
			printf(",\"arg0\":\"0x%" PRIx64 "\"}", t->syscall_arg0);
		}
		if (t->wchan[0]) {
			printf(",\"wchan\":");
			json_string(stdout, t->wchan);
		}
		if (view_thread_note(t)) {
			printf(",\"error\":");
			json_string(stdout, view_thread_note(t));
		}
		printf(",\"stack\":[");
		size_t npcs;
		const uint64_t *pcs = symbolizer_tailcalls(sym, t->epoch, t->pcs, t->npcs, &npcs);

		for (size_t j = 0, f1 = 1; j < npcs; j++) {
			uint64_t pc = pcs[j];
			struct symloc sl;

			if (pc_is_pseudo(pc)) {
				printf("%s{\"function\":\"%s\"}", f1 ? "" : ",",
				       pc_pseudo_name(pc));
				f1 = 0;
				continue;
			}
			symbolizer_lookup(sym, t->epoch, pc & ~PC_PHYSICAL, &sl);
			pc &= ~(PC_PHYSICAL | PC_TAILCALL);
			if (!sl.nframes) {
				printf("%s{\"address\":\"0x%" PRIx64 "\",\"module\":", f1 ? "" : ",", pc);
				json_string(stdout, sl.map && sl.map->mod ? sl.map->mod->path : "");
				printf("}");
				f1 = 0;
			}
			for (size_t k = 0; k < sl.nframes; k++) {
				printf("%s{\"address\":\"0x%" PRIx64 "\",\"function\":", f1 ? "" : ",", pc);
				json_string(stdout, sl.frames[k].name);
				printf(",\"file\":");
				json_string(stdout, sl.frames[k].file);
				printf(",\"line\":%d,\"inlined\":%s", sl.frames[k].line,
				       k + 1 < sl.nframes ? "true" : "false");
				/* the name has TAILCALL_SUFFIX; this says it for scripts */
				if (sl.tail_call && k + 1 == sl.nframes)
					printf(",\"tail_call\":true");
				printf("}");
				f1 = 0;
			}
		}
		printf("]}");
	}
	printf("]}\n");
}

/* One process's snapshot, printed; its exit status (CPROF_EXIT_*). */
static int threads_of(const struct threads_args *a, pid_t pid, bool *printed)
{
	struct snapshot s = { 0 };
	struct symbolizer *sym;
	size_t unread = 0;
	int ret;

	s.opts = (struct snapshot_opts){
		.pid = pid, .tids = a->tids, .ntids = a->ntids,
		.timeout_ns = a->timeout_ns, .stack_size = (size_t)a->c.stack_size,
		.max_depth = (size_t)a->c.max_depth, .debuginfo_path = a->c.debuginfo_path,
		.stop_all = a->stop_all,
	};
	block_handled_signals(&s.opts.handled, NULL);
	if (snapshot_take(&s)) {
		snapshot_release(&s);
		return CPROF_EXIT_FAILURE;
	}
	uint64_t t0 = now_ns();
	sym = snapshot_symbolizer(&s);
	if (a->children && !a->json) {
		const struct maps *m = &s.target.as.epochs[0];

		printf("%sprocess %d (%s)%s\n", *printed ? "\n" : "", pid,
		       m->comm[0] ? m->comm : "?", a->no_stacks ? ":" : "");
		if (!a->no_stacks)
			printf("\n");
	}
	if (a->children && a->json && *printed)
		printf(",");
	*printed = true;
	if (a->json)
		print_json(&s, sym);
	else if (a->no_stacks)
		print_table(&s);
	else
		view_thread_dump(stdout, &s, sym);
	if (verbose > 1)
		debug("timing: symbolized and printed in %.1fms", (now_ns() - t0) / 1e6);
	for (size_t i = 0; i < s.n; i++)
		unread += s.v[i].result == SNAP_GONE || s.v[i].result == SNAP_NO_STOP ||
			  s.v[i].partial;
	debug("process %d stopped for %" PRIu64 "us, %zu threads, %.1fms in all",
	      pid, s.stopped_ns / 1000, s.n, s.total_ns / 1e6);
	if (verbose && !a->json)
		fprintf(stderr, "cprof: %zu of %zu threads were stopped, for %" PRIu64
			"us; the others were read without stopping them\n",
			s.stopped_threads, s.n, s.stopped_ns / 1000);
	ret = unread ? CPROF_EXIT_PARTIAL : CPROF_EXIT_OK;
	snapshot_release(&s);
	return ret;
}

/* pid and the processes below it, parents first; *out malloc'ed */
static size_t process_tree(pid_t pid, pid_t **out)
{
	size_t n = 1, alloc = 1;

	*out = xmalloc(sizeof(**out));
	(*out)[0] = pid;
	for (size_t i = 0; i < n; i++) {
		pid_t *kids;
		size_t nkids;

		if (proc_children((*out)[i], &kids, &nkids))
			continue;
		GROW(*out, alloc, n + nkids);
		if (nkids)
			memcpy(*out + n, kids, nkids * sizeof(*kids));
		n += nkids;
		free(kids);
	}
	return n;
}

int cmd_threads(int argc, char **argv)
{
	struct threads_args a;
	pid_t *tree = NULL;
	size_t n;
	bool printed = false;
	int ret, worst = CPROF_EXIT_OK;

	ret = parse_args(argc, argv, &a);
	if (ret) {
		free(a.tids);
		return ret < 0 ? CPROF_EXIT_OK : ret;
	}
	if (check_target_pid(&a.c.pid)) {
		free(a.tids);
		return CPROF_EXIT_FAILURE;
	}
	if (!a.children) {
		tree = xmalloc(sizeof(*tree));
		tree[0] = a.c.pid;
		n = 1;
	} else {
		n = process_tree(a.c.pid, &tree);
	}
	if (a.children && a.json)
		printf("[");
	for (size_t i = 0; i < n; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/proc/%d", tree[i]);
		if (i && access(path, F_OK))
			continue;	/* a child gone since it was listed */
		ret = threads_of(&a, tree[i], &printed);
		/* a child gone meanwhile is not a failure of the whole */
		if (ret == CPROF_EXIT_FAILURE && i)
			ret = CPROF_EXIT_PARTIAL;
		if (ret == CPROF_EXIT_FAILURE)
			break;
		if (ret != CPROF_EXIT_OK)
			worst = ret;
	}
	if (a.children && a.json)
		printf("]\n");
	if (ret == CPROF_EXIT_FAILURE)
		worst = ret;
	if (fflush(stdout) || ferror(stdout))
		worst = CPROF_EXIT_FAILURE;
	free(tree);
	free(a.tids);
	return worst;
}
