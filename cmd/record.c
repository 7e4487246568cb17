/*
 * cmd/record.c - `cprof record`: check the command line and the output path,
 * run the sampler on its tracer thread, then symbolize and write the
 * profile, and say what happened in one line.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "view.h"
#include "../attach/sampler.h"
#include "../attach/snapshot.h"
#include "../lib/util.h"
#include "../profiles/builder.h"
#include "../profiles/format.h"
#include "../profiles/output.h"
#include "../symbolize/symbolize.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_HZ 10000

static const char record_usage_head[] =
	"usage: cprof record [options] -p PID[,PID...]\n"
	"       cprof record [options] [--] COMMAND [ARGS...]\n"
	"\n"
	"Sample the stacks of running processes (or of a command cprof starts,\n"
	"and every process it starts) and write a gzip-compressed pprof profile.\n"
	"\n"
	"  -p, --pid PID,...      attach to these processes (a thread id means its\n"
	"                         process)\n"
	"      --follow           also the processes they start (fork, vfork,\n"
	"                         clone) and, with -p, those already below them;\n"
	"                         the default for a command\n"
	"      --no-follow        only the command's own process, not its children\n"
	"  -t, --type TYPE        profile type (see cprof profiles; default cpu):\n";
/* ... then a line for each type, from the table in cmd/profiles.c */
static const char record_usage[] =
	"  -f, --format FMT       pprof (default, gzip protobuf), text (Go's\n"
	"                         debug=1 format), dump (every stack, by thread),\n"
	"                         or as cprof report prints them: svg (flame\n"
	"                         graph), folded (flamegraph.pl) or json\n"
	"%s"	/* -F: freq_help() */
	"  -d, --duration DUR     stop after DUR: 500ms, 10s, 2m, 1h (default: until\n"
	"                         the target exits or cprof gets SIGINT/SIGTERM/SIGHUP)\n"
	"  -o, --output FILE      write the profile to FILE (default\n"
	"                         cprof-TYPE-PID.pb.gz, or cprof-TYPE-COMMAND.pb.gz;\n"
	"                         .txt for the text formats, .svg, .json)\n"
	"      --max-depth N      keep at most N frames per stack (default 256)\n"
	"      --stack-size BYTES bytes of stack copied per sample (default 32768,\n"
	"                         at most 1 MiB)\n"
	"      --debuginfo-path P where to look for separate debug files, in elfutils'\n"
	"                         form (default \"-:.debug:/usr/lib/debug\")\n"
	"      --rate BYTES       heap, allocs: one sample per BYTES allocated on\n"
	"                         average (default 524288, Go's MemProfileRate;\n"
	"                         32768 where BPF links probe every call, which\n"
	"                         traps anyway; 1: every call)\n"
	"      --every N          probe, pair: keep one call in N, at random (default 1)\n"
	"      --max-overhead PCT heap, allocs, probe, pair: keep the probes' cost\n"
	"                         to the target under PCT percent of its busiest\n"
	"                         thread's time (default 5; 100: no bound): a\n"
	"                         call's cost is measured at the start, the calls\n"
	"                         counted, and the probes put in only a share of\n"
	"                         the time where they cost more\n"
	"      --duty F           heap, allocs, probe, pair: the calls probed a share F\n"
	"                         of the time (0.001-1), in 500 ms windows at random,\n"
	"                         frees all the time; bounds the cost of the calls at\n"
	"                         any rate (default 1: always)\n"
	"      --no-preload       heap, allocs: probe every allocator call, instead\n"
	"                         of preloading libcprof-heap.so into a command\n"
	"                         cprof starts (it samples inside the process),\n"
	"                         or of using the sampler a process attached to\n"
	"                         has (that library, or OpenTelemetry's\n"
	"                         otel_memory USDT probes)\n"
	"      --no-bpf           allocs, probe: per-thread perf uprobe events, not\n"
	"                         one BPF uprobe link per process (which takes its\n"
	"                         breakpoints out at once; needs Linux 6.6, root)\n"
	"      --allocator-frames heap, allocs, pair: keep the allocator's own\n"
	"                         frames (malloc, operator new, ...) atop each\n"
	"                         stack; by default the allocating function is\n"
	"                         the leaf, as in Go's heap profile\n"
	"      --sampler S        cpu: who takes the samples: kernel (a perf event\n"
	"                         per thread copies registers and stack at the\n"
	"                         tick; no stop), ptrace (each tick stops the\n"
	"                         threads that ran), or auto (default: kernel\n"
	"                         where perf_event_open is allowed, else ptrace;\n"
	"                         CPROF_SAMPLER sets it too)\n"
	"      --raw-stops        ptrace sampler: keep samples where the thread\n"
	"                         stopped, without moving the user share of\n"
	"                         syscall-exit stops to the calling code (see\n"
	"                         ACCURACY in cprof(1))\n"
	"  -q, --quiet            no summary line\n"
	"  -v, --verbose          say more on stderr\n"
	"  -h, --help             this text\n"
	"\n"
	"exit status: 0 success; 1 failure; 2 usage error; 3 profile written but\n"
	"the recording was cut short by an error; in launch mode, the command's\n"
	"own status (128+N if it died of signal N; 127 not found, 126 not runnable).\n";

struct record_args {
	struct common_args c;
	char **argv;
	const char *type;
	const struct profile_type *pt;
	const char *format;
	const struct output_format *fmt;
	long hz;
	uint64_t duration_ns;
	const char *output;
	bool raw_stops, hz_set, allocator_frames, no_preload, no_bpf;
	double max_overhead;	/* --max-overhead, percent (100: no bound) */
	pid_t *pids;		/* -p PID1,PID2,...; c.pid is the first */
	size_t npids;
	int follow;		/* -1: the default (a command's children, yes) */
	long rate, every;
	bool rate_set;		/* --rate given (else the mode's default) */
	double duty;		/* --duty: 1, or the share of the time probed */
	enum cpu_sampler sampler;	/* --sampler */
};

/*
 * -F's lines of --help: the types whose modes tick at -F's rate (a mode
 * with a rate of its own ticks at that unless -F says otherwise), wrapped
 * as the other options' lines are.
 */
static char *freq_help(void)
{
	const char **names = xcalloc(nprofile_types, sizeof(*names));
	char *words, *word, *save = NULL;
	size_t n = 0, col;
	FILE *f;
	char *out = NULL;
	size_t len = 0;

	for (size_t i = 0; i < nprofile_types; i++) {
		const struct sample_mode *m = profile_types[i].mode;

		if (m && m->tick && !m->hz)
			names[n++] = profile_types[i].name;
	}
	/* "cpu, wall, block and mutex)" */
	words = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		char *more = xasprintf("%s%s%s", words, i + 1 == n ? (i ? " and " : "") : i ? ", " : "",
				       names[i]);

		free(words);
		words = more;
	}
	f = open_memstream(&out, &len);
	if (!f)
		die("out of memory");
	col = (size_t)fprintf(f, "  -F, --freq HZ          ticks per second, 1-10000 (default 99;");
	for (word = strtok_r(words, " ", &save); word; word = strtok_r(NULL, " ", &save)) {
		bool last = !save || !*save;

		/* a word past column 78 starts a line, as the other options' */
		if (col + 1 + strlen(word) + last > 78)
			col = (size_t)fprintf(f, "\n%25s", "") - 1;
		else
			col += (size_t)fprintf(f, " ");
		col += (size_t)fprintf(f, "%s%s", word, last ? ")" : "");
	}
	fputc('\n', f);
	if (fclose(f))
		die("out of memory");
	free(words);
	free(names);
	return out;
}

/* -t NAME: without the functions it needs */
static int arg_usage(const struct profile_type *pt, const char *given)
{
	char *fmt = pt->nfuncs > 1 ?
		xasprintf("-t %%s: say which functions: %s:%s, each SYMBOL or LIB:SYMBOL",
			  pt->name, pt->arg) :
		xasprintf("-t %%s: say which function: %s:SYMBOL or %s:LIB:SYMBOL",
			  pt->name, pt->name);
	int ret = usage_error("record", fmt, given);

	free(fmt);
	return ret;
}

/* --duty for a type whose mode does not window its probes */
static int duty_usage(void)
{
	const char **names = xcalloc(nprofile_types, sizeof(*names));
	size_t n = 0;
	char *list;
	int ret;

	for (size_t i = 0; i < nprofile_types; i++)
		if (profile_types[i].mode && profile_types[i].mode->duty)
			names[n++] = profile_types[i].name;
	list = list_words(names, n);
	ret = usage_error("record", "--duty is for the types that probe functions: %s", list);
	free(list);
	free(names);
	return ret;
}

static int parse_args(int argc, char **argv, struct record_args *a)
{
	enum { OPT_RAW_STOPS = OPT_FIRST_OWN, OPT_FOLLOW, OPT_NO_FOLLOW, OPT_RATE, OPT_EVERY, OPT_DUTY,
	       OPT_SAMPLER, OPT_ALLOC_FRAMES, OPT_MAX_OVERHEAD, OPT_NO_PRELOAD,
	       OPT_NO_BPF };
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "type", required_argument, NULL, 't' },
		{ "format", required_argument, NULL, 'f' },
		{ "freq", required_argument, NULL, 'F' },
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "raw-stops", no_argument, NULL, OPT_RAW_STOPS },
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "no-follow", no_argument, NULL, OPT_NO_FOLLOW },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "every", required_argument, NULL, OPT_EVERY },
		{ "duty", required_argument, NULL, OPT_DUTY },
		{ "sampler", required_argument, NULL, OPT_SAMPLER },
		{ "allocator-frames", no_argument, NULL, OPT_ALLOC_FRAMES },
		{ "max-overhead", required_argument, NULL, OPT_MAX_OVERHEAD },
		{ "no-preload", no_argument, NULL, OPT_NO_PRELOAD },
		{ "no-bpf", no_argument, NULL, OPT_NO_BPF },
		{ "quiet", no_argument, NULL, 'q' },
		{ 0 },
	};
	int c, r;
	char *help;

	*a = (struct record_args){ .type = "cpu", .format = "pprof", .hz = 99, .follow = -1,
				   .rate = HEAP_DEFAULT_RATE, .every = 1, .duty = 1,
				   .max_overhead = HEAP_DEFAULT_MAX_OVERHEAD };
	common_args_init(&a->c);
	opterr = 0;
	optind = 1;
	/* "+": the first non-option starts the command */
	while ((c = getopt_long(argc, argv, "+:p:t:f:F:d:o:qvh", longopts, NULL)) != -1) {
		if (c == 'p') {
			free(a->pids);
			if (parse_id_list(optarg, &a->pids, &a->npids))
				return usage_error("record", "-p: '%s' is not a process id or a list of them", optarg);
			a->c.pid = a->pids[0];
			continue;
		}
		r = parse_common_opt("record", c, optarg, &a->c);
		if (r == 1)
			continue;
		if (r)
			return r;
		switch (c) {
		case 't':
			a->type = optarg;
			break;
		case 'f':
			a->format = optarg;
			break;
		case 'F':
			a->hz_set = true;
			if (parse_long(optarg, 1, MAX_HZ, &a->hz))
				return usage_error("record", "-F: '%s' is not a frequency from 1 to 10000 Hz", optarg);
			break;
		case 'd':
			if (parse_duration(optarg, &a->duration_ns))
				return usage_error("record", "-d: '%s' is not a duration (like 500ms, 10s, 2m)", optarg);
			break;
		case 'o':
			a->output = optarg;
			break;
		case OPT_RAW_STOPS:
			a->raw_stops = true;
			break;
		case OPT_FOLLOW:
			a->follow = 1;
			break;
		case OPT_NO_FOLLOW:
			a->follow = 0;
			break;
		case OPT_ALLOC_FRAMES:
			a->allocator_frames = true;
			break;
		case OPT_NO_PRELOAD:
			a->no_preload = true;
			break;
		case OPT_NO_BPF:
			a->no_bpf = true;
			break;
		case OPT_MAX_OVERHEAD:
			r = parse_max_overhead("record", optarg, &a->max_overhead);
			if (r)
				return r;
			break;
		case OPT_EVERY:
			if (parse_long(optarg, 1, 1L << 40, &a->every))
				return usage_error("record", "--every: '%s' is not a count from 1", optarg);
			break;
		case OPT_DUTY: {
			char *end;

			a->duty = strtod(optarg, &end);
			if (end == optarg || *end || !(a->duty >= 0.001 && a->duty <= 1))
				return usage_error("record", "--duty: '%s' is not a share from 0.001 to 1", optarg);
			break;
		}
		case OPT_SAMPLER:
			if (!strcmp(optarg, "kernel"))
				a->sampler = SAMPLER_KERNEL;
			else if (!strcmp(optarg, "ptrace"))
				a->sampler = SAMPLER_PTRACE;
			else if (!strcmp(optarg, "auto"))
				a->sampler = SAMPLER_AUTO;
			else
				return usage_error_not_in("record", "unknown sampler", optarg,
							  xstrdup("auto, kernel, ptrace"));
			break;
		case OPT_RATE:
			if (parse_long(optarg, 1, 1L << 40, &a->rate))
				return usage_error("record", "--rate: '%s' is not a number of bytes from 1", optarg);
			a->rate_set = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(record_usage_head, stdout);
			for (size_t i = 0; i < nprofile_types; i++) {
				const struct profile_type *pt = &profile_types[i];

				printf("%25s%-15s%s\n", "", pt->name, pt->help);
				if (pt->more)
					printf("%40s%s\n", "", pt->more);
			}
			help = freq_help();
			printf(record_usage, help);
			free(help);
			return -1;
		case ':':
			return usage_error("record", "%s needs an argument", argv[optind - 1]);
		default:
			return usage_error("record", "unknown option '%s'", argv[optind - 1]);
		}
	}
	a->pt = profile_type_find(a->type);
	if (!a->pt) {
		char *names = profile_type_names();
		char *more = xasprintf("%s; see cprof profiles", names);

		free(names);
		return usage_error_not_in("record", "unknown profile type", a->type, more);
	}
	if (a->pt->arg && !profile_type_arg_ok(a->pt, profile_type_arg(a->pt, a->type)))
		return arg_usage(a->pt, a->type);
	if (a->duty < 1 && !(a->pt->mode && a->pt->mode->duty))
		return duty_usage();
	if (a->sampler != SAMPLER_AUTO && !(a->pt->mode && a->pt->mode->samplers))
		return usage_error("record", "--sampler is for the cpu profile, not %s", a->pt->name);
	a->fmt = output_format_find(a->format, true);
	if (!a->fmt)
		return usage_error_not_in("record", "unknown format", a->format,
					  output_format_names(true));
	if (optind < argc)
		a->argv = argv + optind;
	if (!a->pt->mode && a->argv)
		return usage_error("record", "-t threads is a snapshot of a running process: give -p PID, not a command%s", "");
	if (a->c.pid && a->argv)
		return usage_error("record", "give either -p PID or a command, not both%s", "");
	if (!a->c.pid && !a->argv)
		return usage_error("record", "nothing to profile: give -p PID or a command after --%s", "");
	if (!a->pt->mode && (a->npids > 1 || a->follow == 1))
		return usage_error("record", "-t threads is a snapshot of one process (see cprof threads --children)%s", "");
	if (a->follow < 0)
		a->follow = a->argv != NULL || (a->pt->mode && a->pt->mode->follows);
	return 0;
}

static char *join_args(char **argv)
{
	size_t len = 1;
	char *s;

	for (char **p = argv; *p; p++)
		len += strlen(*p) + 1;
	s = xcalloc(1, len);
	for (char **p = argv; *p; p++) {
		if (p != argv)
			strcat(s, " ");
		strcat(s, *p);
	}
	return s;
}

static int write_profile(struct sampler *s, struct profile_builder *b,
			 struct output *out, const struct record_args *a,
			 char **argv)
{
	struct view v = {
		.pt = a->pt, .fmt = a->fmt, .b = b, .rec = s, .path = out->path,
	};
	char *cmdline = join_args(argv), *target_cmd = NULL;
	int ret;

	v.sym = view_symbolizer(s, b, a->pt, a->c.debuginfo_path);
	v.command = cmdline;
	if (a->argv)
		v.target_cmd = target_cmd = join_args(a->argv);
	ret = output_render(out, view_print, &v);
	free(target_cmd);
	free(cmdline);
	symbolizer_free(v.sym);
	return ret;
}

/* -t threads: one snapshot, identical stacks merged, by thread state. */
static int record_threads(struct record_args *a, struct output *out,
			  const char *path, char **argv)
{
	struct snapshot snap = { 0 };
	struct profile_builder b;
	struct view v = {
		.pt = a->pt, .fmt = a->fmt, .b = &b, .snap = &snap,
		.snap_realtime_ns = realtime_ns(), .path = out->path,
	};
	char *cmdline;
	size_t n;
	int ret;

	snap.opts = (struct snapshot_opts){
		.pid = a->c.pid, .timeout_ns = 1000000000ULL,
		.stack_size = (size_t)a->c.stack_size, .max_depth = (size_t)a->c.max_depth,
		.debuginfo_path = a->c.debuginfo_path,
	};
	block_handled_signals(&snap.opts.handled, NULL);
	if (snapshot_take(&snap)) {
		output_abort(out);
		snapshot_release(&snap);
		return CPROF_EXIT_FAILURE;
	}
	pb_init(&b, 1);
	n = view_snapshot_samples(&snap, &b);
	v.sym = snapshot_symbolizer(&snap);
	v.command = cmdline = join_args(argv);
	ret = output_render(out, view_print, &v);
	if (!ret)
		note("%zu threads, process stopped %lluus, wrote %s", n,
		     (unsigned long long)snap.stopped_ns / 1000, path);
	free(cmdline);
	pb_release(&b);
	snapshot_release(&snap);
	return ret ? CPROF_EXIT_FAILURE : CPROF_EXIT_OK;
}

static int launch_status(const struct sampler_result *r)
{
	int st = r->wait_status;

	if (!r->exited) {
		/* the recording ended first: the command runs on, untraced */
		while (waitpid(r->pid, &st, 0) < 0) {
			if (errno != EINTR)
				return CPROF_EXIT_FAILURE;
		}
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return CPROF_EXIT_FAILURE;
}

int cmd_record(int argc, char **argv)
{
	struct record_args a;
	struct sampler *s;
	struct profile_builder b;
	struct output out;
	const struct sampler_result *r;
	char *path, *words;
	int ret, code;

	ret = parse_args(argc, argv, &a);
	if (ret) {
		free(a.pids);
		return ret < 0 ? CPROF_EXIT_OK : ret;
	}
	for (size_t i = 0; i < a.npids; i++) {
		if (check_target_pid(&a.pids[i])) {
			free(a.pids);
			return CPROF_EXIT_FAILURE;
		}
	}
	if (a.npids)
		a.c.pid = a.pids[0];
	const char *ext = a.fmt->ext;

	if (a.output)
		path = xstrdup(a.output);
	else if (a.c.pid)
		path = xasprintf("cprof-%s-%d.%s", a.pt->name, a.c.pid, ext);
	else {
		char *copy = xstrdup(a.argv[0]);

		path = xasprintf("cprof-%s-%s.%s", a.pt->name, basename(copy), ext);
		free(copy);
	}
	/* the output must be writable before the target is touched */
	if (output_open(&out, path)) {
		free(path);
		free(a.pids);
		return CPROF_EXIT_FAILURE;
	}
	if (!a.pt->mode) {
		code = record_threads(&a, &out, path, argv);
		free(path);
		free(a.pids);
		return code;
	}

	s = xcalloc(1, sizeof(*s));
	s->opts = (struct sampler_opts){
		.mode = a.pt->mode,
		.pid = a.c.pid,
		.argv = a.argv,
		.more_pids = a.npids > 1 ? a.pids + 1 : NULL,
		.nmore_pids = a.npids > 1 ? a.npids - 1 : 0,
		.follow = a.follow,
		.hz = sampler_hz(a.pt->mode, (unsigned)a.hz, a.hz_set),
		.duration_ns = a.duration_ns,
		.max_depth = (size_t)a.c.max_depth,
		.stack_size = (size_t)a.c.stack_size,
		.raw_stops = a.raw_stops,
		.sampler = a.sampler,
		.mem_rate = (uint64_t)(a.pt->mode->period == PERIOD_CALLS ? a.every :
				       a.rate_set ? a.rate : 0),
		.duty = a.duty,
		.allocator_frames = a.allocator_frames,
		.no_preload = a.no_preload,
		.no_bpf = a.no_bpf,
		.max_overhead = a.max_overhead / 100,
		.probe = profile_type_arg(a.pt, a.type),
	};
	block_handled_signals(&s->opts.handled, &s->opts.orig_mask);

	pb_init(&b, a.pt->nvalues);
	if (sampler_start(s, &b)) {
		output_abort(&out);
		code = CPROF_EXIT_FAILURE;
		goto done;
	}
	sampler_join(s);
	r = &s->res;
	if (r->status) {
		output_abort(&out);
		if (r->status < 0 && r->launched && !r->exited) {
			/* it was started for a recording that could not begin:
			 * not left running behind cprof's back */
			kill(r->pid, SIGKILL);
			while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
				;
			note("the command (pid %d) was killed: its recording could not begin", r->pid);
		}
		code = r->status > 0 ? r->status : CPROF_EXIT_FAILURE;
		goto done;
	}
	if (write_profile(s, &b, &out, &a, argv)) {
		code = CPROF_EXIT_FAILURE;
		goto done;
	}
	char procs[48] = "";

	if (r->processes_seen > 1)
		snprintf(procs, sizeof(procs), " in %zu processes", r->processes_seen);
	words = s->opts.mode->summary ? s->opts.mode->summary(s) : xstrdup("");
	note("%llu samples, %zu threads%s, %.2fs%s%s, wrote %s",
	     (unsigned long long)r->samples, r->threads_seen, procs,
	     r->duration_ns / 1e9, *words ? ", " : "", words, path);
	free(words);
	code = CPROF_EXIT_OK;
	if (r->launched)
		code = launch_status(r);
	if (r->cut_short) {
		/* the command's status is still reaped above; ours says why */
		error("the recording was cut short by an error: the profile has what came before it");
		code = CPROF_EXIT_PARTIAL;
	}
done:
	pb_release(&b);
	sampler_release(s);
	free(s);
	free(path);
	free(a.pids);
	return code;
}
