/*
 * cmd/record.c - `cprof record`: check the command line and the output path,
 * run the sampler on its tracer thread, then symbolize and write the
 * profile, and say what happened in one line.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "../attach/sampler.h"
#include "../attach/snapshot.h"
#include "../lib/stack.h"
#include "../lib/util.h"
#include "../profiles/builder.h"
#include "../profiles/format.h"
#include "../profiles/output.h"
#include "../profiles/pprof.h"
#include "../profiles/reader.h"
#include "../profiles/report.h"
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
	"  -F, --freq HZ          ticks per second, 1-10000 (default 99; cpu, wall,\n"
	"                         block and mutex)\n"
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
	"                         1: every call)\n"
	"      --every N          probe, pair: keep one call in N, at random (default 1)\n"
	"      --duty F           heap, allocs, probe, pair: the calls probed a share F\n"
	"                         of the time (0.001-1), in 500 ms windows at random,\n"
	"                         frees all the time; bounds the cost of the calls at\n"
	"                         any rate (default 1: always)\n"
	"      --raw-stops        keep samples where the thread stopped, without\n"
	"                         moving the user share of syscall-exit stops to\n"
	"                         the calling code (see ACCURACY in cprof(1))\n"
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
	bool raw_stops, hz_set;
	pid_t *pids;		/* -p PID1,PID2,...; c.pid is the first */
	size_t npids;
	int follow;		/* -1: the default (a command's children, yes) */
	long rate, every;
	double duty;		/* --duty: 1, or the share of the time probed */
};

static int parse_args(int argc, char **argv, struct record_args *a)
{
	enum { OPT_RAW_STOPS = OPT_FIRST_OWN, OPT_FOLLOW, OPT_NO_FOLLOW, OPT_RATE, OPT_EVERY, OPT_DUTY };
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
		{ "quiet", no_argument, NULL, 'q' },
		{ 0 },
	};
	int c, r;

	*a = (struct record_args){ .type = "cpu", .format = "pprof", .hz = 99, .follow = -1,
				   .rate = HEAP_DEFAULT_RATE, .every = 1, .duty = 1 };
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
		case OPT_RATE:
			if (parse_long(optarg, 1, 1L << 40, &a->rate))
				return usage_error("record", "--rate: '%s' is not a number of bytes from 1", optarg);
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(record_usage_head, stdout);
			for (size_t i = 0; i < nprofile_types; i++) {
				const struct profile_type *pt = &profile_types[i];

				if (!pt->ready)
					continue;
				printf("%25s%-15s%s\n", "", pt->name, pt->help);
				if (pt->more)
					printf("%40s%s\n", "", pt->more);
			}
			fputs(record_usage, stdout);
			return -1;
		case ':':
			return usage_error("record", "%s needs an argument", argv[optind - 1]);
		default:
			return usage_error("record", "unknown option '%s'", argv[optind - 1]);
		}
	}
	a->pt = profile_type_find(a->type);
	if (!a->pt || !a->pt->ready) {
		char *names = profile_type_names();
		char *more = xasprintf("%s; see cprof profiles", names);

		free(names);
		return usage_error_not_in("record", a->pt ? "not built yet: profile type" :
					  "unknown profile type", a->type, more);
	}
	if (a->pt->arg && !profile_type_arg_ok(a->pt, profile_type_arg(a->pt, a->type)))
		return usage_error("record", a->pt->nfuncs > 1 ?
				   "-t %s: say which functions: pair:ACQUIRE,RELEASE, each SYMBOL or LIB:SYMBOL" :
				   "-t %s: say which function: probe:SYMBOL or probe:LIB:SYMBOL", a->type);
	if (a->duty < 1 && !a->pt->heap && !a->pt->probe)
		return usage_error("record", "--duty is for the types that probe functions: "
				   "heap, allocs, probe, pair%s", "");
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

/* The pprof profile read back and printed as `cprof report` prints it. */
static int print_read_back(FILE *f, const struct record_view *a,
			   const unsigned char *pb, size_t pblen)
{
	struct report_opts o = { .node_fraction = 0.005 };
	struct profile_data p;
	struct report r;
	int ret;

	if (profile_read_mem(&p, pb, pblen)) {
		ret = error("reading back the profile: %s", p.err);
		profile_data_release(&p);
		return ret;
	}
	ret = report_build(&r, &p, &o);
	if (ret)
		error("%s", r.err);
	else
		ret = a->fmt->print_report(f, &r, &o, a->path);
	report_release(&r);
	profile_data_release(&p);
	return ret;
}

static int render(FILE *f, const struct record_view *a, const struct pprof_meta *meta)
{
	const struct pb_view v = {
		.b = a->b, .sym = a->sym, .type = a->pt->name,
		.types = a->pt->types, .contention = a->pt->contention,
		/* pair: the live objects, as Go's custom profiles show */
		.count_value = !a->pt->heap && a->pt->default_type ? a->pt->default_type - 1 : 0,
		.labels = meta->labels,
	};
	unsigned char *pb = NULL;
	size_t pblen = 0;
	int ret;

	switch (a->fmt->record) {
	case RECORD_SAMPLES:
		/* -t threads' dump has what the snapshot saw of each thread */
		if (a->snap && !strcmp(a->fmt->name, "dump")) {
			threads_print_dump(f, a->snap, a->sym);
			return 0;
		}
		return a->fmt->print_samples(f, &v);
	case RECORD_ENCODED:
	case RECORD_READ_BACK:
		if (pprof_encode(a->b, a->sym, meta, &pb, &pblen))
			return -1;
		if (a->fmt->record == RECORD_ENCODED)
			ret = fwrite(pb, 1, pblen, f) == pblen ? 0 : -1;
		else
			ret = print_read_back(f, a, pb, pblen);
		free(pb);
		return ret;
	case NOT_IN_RECORD:
		break;
	}
	BUG("format %s is not one of record's", a->fmt->name);
}

/* The profile's comments are the caller's, freed by free_comments(). */
static void add_comment(struct pprof_meta *m, char *comment)
{
	m->comments[m->ncomments++] = comment;
}

static void free_comments(struct pprof_meta *m)
{
	for (size_t i = 0; i < m->ncomments; i++)
		free((char *)m->comments[i]);
	m->ncomments = 0;
}

struct symbolizer *record_symbolizer(struct sampler *s, struct profile_builder *b,
				     const struct profile_type *pt,
				     const char *debuginfo_path)
{
	struct symbolizer *sym = symbolizer_new(sampler_addrspace(s), debuginfo_path);

	if (pt->filter)
		pt->filter(b, sym);
	return sym;
}

/* A recording's meta data and comments (Go's sample types, our pauses). */
static void recording_meta(const struct record_view *a, struct pprof_meta *meta)
{
	const struct sampler_result *r = a->res;
	const struct profile_type *pt = a->pt;

	*meta = (struct pprof_meta){
		.ntypes = pt->nvalues,
		.period_type = { pt->period_type[0], pt->period_type[1] },
		.period = pt->per_hz ? 1000000000LL / a->hz : pt->heap ? a->rate :
			  pt->probe ? a->every : 1,
		.time_nanos = (int64_t)r->start_realtime_ns,
		.duration_nanos = (int64_t)r->duration_ns,
		.labels = pt->labels,
		.num_label = pt->num_label,
		.default_type = pt->default_type,
	};
	for (size_t i = 0; i < pt->nvalues; i++) {
		meta->sample_types[i][0] = pt->types[i][0];
		meta->sample_types[i][1] = pt->types[i][1];
	}
	add_comment(meta, xasprintf("cprof %s", CPROF_VERSION));
	add_comment(meta, xasprintf("command: %s", a->command));
	if (a->target_cmd)
		add_comment(meta, xasprintf("target: pid %d: %s", r->pid, a->target_cmd));
	else
		add_comment(meta, xasprintf("target: pid %d", r->pid));
	if (r->heap_windowed)
		add_comment(meta, xasprintf("--duty: probes in place %.1f%% of the recording, in %zu windows "
					    "of 500 ms at random; values scaled by the inverse",
					    100 * r->heap_armed, r->heap_windows));
	if (pt->probe) {
		if (pt->nfuncs == 1)
			add_comment(meta, xasprintf("probe: calls of %s made while cprof recorded, one in %ld kept and scaled",
						    a->probe, a->every));
		else
			add_comment(meta, xasprintf("pair: calls of %.*s made while cprof recorded, one in %ld kept and scaled; "
						    "live: their results not passed to %s by its end (0 is no object)%s",
						    (int)strcspn(a->probe, ","), a->probe, a->every,
						    a->probe + strcspn(a->probe, ",") + 1,
						    a->target_cmd ? "" : "; not those acquired before cprof attached"));
		add_comment(meta, xasprintf("lost records: %llu (perf ring full)",
					    (unsigned long long)r->heap_lost));
		return;
	}
	if (pt->heap) {
		add_comment(meta, xasprintf("%s: allocations made while cprof recorded%s, sampled by calls "
					    "about one per %ld bytes and scaled to estimates; %zu allocator functions probed",
					    pt->name, a->target_cmd ? "" : " (not those made before it attached)",
					    a->rate, r->heap_probes));
		if (!strcmp(pt->name, "allocs"))
			add_comment(meta, xasprintf("allocs: frees are not followed: inuse is 0 (see -t heap)"));
		add_comment(meta, xasprintf("lost records: %llu (perf ring full)",
					    (unsigned long long)r->heap_lost));
		return;
	}
	add_comment(meta, xasprintf("pause per sample: p50 %lluus p99 %lluus max %lluus over %zu samples",
				    (unsigned long long)r->pause_p50_ns / 1000,
				    (unsigned long long)r->pause_p99_ns / 1000,
				    (unsigned long long)r->pause_max_ns / 1000, r->npauses));
	if (pt->blocked_stacks)
		add_comment(meta, xasprintf("blocked stacks: %llu copied without stopping the thread, %llu by stopping it once",
					    (unsigned long long)r->blocked_copies,
					    (unsigned long long)r->blocked_stops));
	add_comment(meta, xasprintf("stops at a system call return: %llu of %llu samples%s",
				    (unsigned long long)r->syscall_stops,
				    (unsigned long long)r->samples,
				    a->raw_stops ? " (left as sampled: --raw-stops)" :
				    " (user share moved to the calling code)"));
}

/* A snapshot's (-t threads) */
static void snapshot_meta(const struct record_view *a, struct pprof_meta *meta)
{
	const struct profile_type *pt = a->pt;

	*meta = (struct pprof_meta){
		.sample_types = { { pt->types[0][0], pt->types[0][1] } },
		.ntypes = 1,
		.period_type = { pt->period_type[0], pt->period_type[1] },
		.period = 1,
		.time_nanos = (int64_t)a->snap_realtime_ns,
		.labels = pt->labels,
	};
	add_comment(meta, xasprintf("cprof %s", CPROF_VERSION));
	add_comment(meta, xasprintf("command: %s", a->command));
	add_comment(meta, xasprintf("target: pid %d", a->snap->opts.pid));
	add_comment(meta, xasprintf("process stopped for %lluus",
				    (unsigned long long)a->snap->stopped_ns / 1000));
}

int record_print(FILE *f, void *arg)
{
	const struct record_view *a = arg;
	struct pprof_meta meta;
	int ret;

	if (a->res)
		recording_meta(a, &meta);
	else
		snapshot_meta(a, &meta);
	ret = render(f, a, &meta);
	free_comments(&meta);
	return ret;
}

static int write_profile(struct sampler *s, struct profile_builder *b,
			 struct output *out, const struct record_args *a,
			 char **argv)
{
	struct record_view v = {
		.pt = a->pt, .fmt = a->fmt, .b = b, .res = &s->res,
		.hz = a->hz, .raw_stops = a->raw_stops, .path = out->path,
		.rate = a->rate, .every = a->every,
		.probe = profile_type_arg(a->pt, a->type),
	};
	char *cmdline = join_args(argv), *target_cmd = NULL;
	int ret;

	v.sym = record_symbolizer(s, b, a->pt, a->c.debuginfo_path);
	v.command = cmdline;
	if (a->argv)
		v.target_cmd = target_cmd = join_args(a->argv);
	ret = output_render(out, record_print, &v);
	free(target_cmd);
	free(cmdline);
	symbolizer_free(v.sym);
	return ret;
}

size_t record_snapshot_samples(const struct snapshot *snap, struct profile_builder *b)
{
	size_t n = 0;

	for (size_t i = 0; i < snap->n; i++) {
		const struct snap_thread *t = &snap->v[i];
		static const uint64_t unknown = PC_UNKNOWN;
		int64_t one = 1;

		if (t->result == SNAP_GONE || t->result == SNAP_SKIPPED)
			continue;
		/* a thread that did not stop still counts, with no stack */
		if (t->result == SNAP_OK)
			pb_add_labeled(b, 0, (unsigned char)t->state & 127, t->epoch,
				       t->pcs, t->npcs, &one);
		else
			pb_add_labeled(b, 0, (unsigned char)t->state & 127, 0,
				       &unknown, 1, &one);
		n++;
	}
	return n;
}

/* -t threads: one snapshot, identical stacks merged, by thread state. */
static int record_threads(struct record_args *a, struct output *out,
			  const char *path, char **argv)
{
	struct snapshot snap = { 0 };
	struct profile_builder b;
	struct record_view v = {
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
	n = record_snapshot_samples(&snap, &b);
	v.sym = snapshot_symbolizer(&snap);
	v.command = cmdline = join_args(argv);
	ret = output_render(out, record_print, &v);
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
	char *path;
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
		/*
		 * heap, allocs, probe: a tick reads the rings; every 1 ms a
		 * thread's 2 MiB ring holds what a busy allocator writes (at
		 * 99 Hz heapmix lost records, and with them frees)
		 */
		.hz = (unsigned)((a.pt->heap || a.pt->probe) && !a.hz_set ? 1000 : a.hz),
		.duration_ns = a.duration_ns,
		.max_depth = (size_t)a.c.max_depth,
		.stack_size = (size_t)a.c.stack_size,
		.raw_stops = a.raw_stops,
		.mem_rate = (uint64_t)(a.pt->probe ? a.every : a.rate),
		.duty = a.duty,
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
		code = r->status > 0 ? r->status : CPROF_EXIT_FAILURE;
		goto done;
	}
	if (write_profile(s, &b, &out, &a, argv)) {
		code = CPROF_EXIT_FAILURE;
		goto done;
	}
	char blocked[96] = "";

	if (a.pt->blocked_stacks)
		snprintf(blocked, sizeof(blocked), ", %llu blocked stacks copied (%llu needed a stop)",
			 (unsigned long long)r->blocked_copies,
			 (unsigned long long)r->blocked_stops);
	char procs[48] = "";

	if (r->processes_seen > 1)
		snprintf(procs, sizeof(procs), " in %zu processes", r->processes_seen);
	char windows[64] = "";

	if (r->heap_windowed)
		snprintf(windows, sizeof(windows), ", probed %.1f%% of the time (%zu windows)",
			 100 * r->heap_armed, r->heap_windows);
	if (r->heap_windowed && !r->heap_windows)
		note("--duty %g: no window fell in the %.2fs recorded: nothing was seen (record longer)",
		     a.duty, r->duration_ns / 1e9);
	if (a.pt->heap || a.pt->probe)
		note("%llu samples, %zu threads%s, %.2fs, %llu records lost%s, wrote %s",
		     (unsigned long long)r->samples, r->threads_seen, procs,
		     r->duration_ns / 1e9, (unsigned long long)r->heap_lost, windows, path);
	else
	note("%llu samples, %zu threads%s, %.2fs, pause p50 %lluus p99 %lluus max %lluus, "
	     "%llu missed ticks, %llu lost samples%s, wrote %s",
	     (unsigned long long)r->samples, r->threads_seen, procs,
	     r->duration_ns / 1e9, (unsigned long long)r->pause_p50_ns / 1000,
	     (unsigned long long)r->pause_p99_ns / 1000,
	     (unsigned long long)r->pause_max_ns / 1000,
	     (unsigned long long)r->missed_ticks,
	     (unsigned long long)r->lost_samples, blocked, path);
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
