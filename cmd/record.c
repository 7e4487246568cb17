/*
 * cmd/record.c - `cprof record`: check the command line and the output path,
 * run the sampler on its tracer thread, then symbolize and write the
 * profile, and say what happened in one line.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "../attach/procfs.h"
#include "../attach/sampler.h"
#include "../lib/util.h"
#include "../profiles/builder.h"
#include "../profiles/output.h"
#include "../profiles/pprof.h"
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

static const char record_usage[] =
	"usage: cprof record [options] -p PID\n"
	"       cprof record [options] [--] COMMAND [ARGS...]\n"
	"\n"
	"Sample the stacks of a running process (or of a command cprof starts)\n"
	"and write a gzip-compressed pprof profile.\n"
	"\n"
	"  -p, --pid PID          attach to process PID (a thread id means its process)\n"
	"  -t, --type TYPE        profile type: cpu (default)\n"
	"  -F, --freq HZ          samples per second, 1-10000 (default 99)\n"
	"  -d, --duration DUR     stop after DUR: 500ms, 10s, 2m, 1h (default: until\n"
	"                         the target exits or cprof gets SIGINT/SIGTERM/SIGHUP)\n"
	"  -o, --output FILE      write the profile to FILE (default\n"
	"                         cprof-TYPE-PID.pb.gz, or cprof-TYPE-COMMAND.pb.gz)\n"
	"      --max-depth N      keep at most N frames per stack (default 256)\n"
	"      --stack-size BYTES bytes of stack copied per sample (default 32768)\n"
	"      --debuginfo-path P where to look for separate debug files, in elfutils'\n"
	"                         form (default \"-:.debug:/usr/lib/debug\")\n"
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
	pid_t pid;
	char **argv;
	const char *type;
	long hz, max_depth, stack_size;
	uint64_t duration_ns;
	const char *output;
	const char *debuginfo_path;
	bool raw_stops;
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "cprof: record: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(see cprof record --help)\n");
	return CPROF_EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct record_args *a)
{
	enum { OPT_MAX_DEPTH = 256, OPT_STACK_SIZE, OPT_DEBUGINFO, OPT_RAW_STOPS };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "type", required_argument, NULL, 't' },
		{ "freq", required_argument, NULL, 'F' },
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "max-depth", required_argument, NULL, OPT_MAX_DEPTH },
		{ "stack-size", required_argument, NULL, OPT_STACK_SIZE },
		{ "debuginfo-path", required_argument, NULL, OPT_DEBUGINFO },
		{ "raw-stops", no_argument, NULL, OPT_RAW_STOPS },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	long v;
	int c;

	*a = (struct record_args){ .type = "cpu", .hz = 99, .max_depth = 256,
				   .stack_size = 32768 };
	opterr = 0;
	optind = 1;
	/* "+": the first non-option starts the command */
	while ((c = getopt_long(argc, argv, "+:p:t:F:d:o:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_long(optarg, 1, INT32_MAX, &v))
				return usage_error("-p: '%s' is not a process id", optarg);
			a->pid = (pid_t)v;
			break;
		case 't':
			a->type = optarg;
			break;
		case 'F':
			if (parse_long(optarg, 1, MAX_HZ, &a->hz))
				return usage_error("-F: '%s' is not a frequency from 1 to 10000 Hz", optarg);
			break;
		case 'd':
			if (parse_duration(optarg, &a->duration_ns))
				return usage_error("-d: '%s' is not a duration (like 500ms, 10s, 2m)", optarg);
			break;
		case 'o':
			a->output = optarg;
			break;
		case OPT_MAX_DEPTH:
			if (parse_long(optarg, 1, 65536, &a->max_depth))
				return usage_error("--max-depth: '%s' is not a number from 1 to 65536", optarg);
			break;
		case OPT_STACK_SIZE:
			if (parse_long(optarg, 512, 64 << 20, &a->stack_size))
				return usage_error("--stack-size: '%s' is not a size from 512 bytes to 64 MiB", optarg);
			break;
		case OPT_DEBUGINFO:
			a->debuginfo_path = optarg;
			break;
		case OPT_RAW_STOPS:
			a->raw_stops = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			fputs(record_usage, stdout);
			return -1;
		case ':':
			return usage_error("%s needs an argument", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (strcmp(a->type, "cpu"))
		return usage_error("unknown profile type '%s' (this cprof records: cpu)", a->type);
	if (optind < argc)
		a->argv = argv + optind;
	if (a->pid && a->argv)
		return usage_error("give either -p PID or a command, not both%s", "");
	if (!a->pid && !a->argv)
		return usage_error("nothing to profile: give -p PID or a command after --%s", "");
	return 0;
}

/* Refuse targets we cannot or must not trace, before touching anything. */
static int check_pid(struct record_args *a)
{
	struct proc_status st;
	int ret;

	if (a->pid == getpid())
		return error("attach %d: that is cprof itself", a->pid);
	ret = proc_status(a->pid, 0, &st);
	if (ret == -ESRCH)
		return error("attach %d: no such process", a->pid);
	if (ret)
		return error("attach %d: /proc/%d/status: %s", a->pid, a->pid, strerror(-ret));
	if (st.tgid != a->pid) {
		note("%d is a thread of process %d: profiling the whole process",
		     a->pid, st.tgid);
		a->pid = st.tgid;
		if (a->pid == getpid())
			return error("attach %d: that is cprof itself", a->pid);
		if (proc_status(a->pid, 0, &st))
			return error("attach %d: no such process", a->pid);
	}
	if (st.state == 'Z' || st.state == 'X')
		return error("attach %d: process is a zombie (it has exited; its parent has not reaped it)",
			     a->pid);
	return 0;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return (a > b) - (a < b);
}

struct pause_stats {
	uint64_t p50, p99, max;
};

static struct pause_stats pause_stats(const struct target *t)
{
	struct pause_stats ps = { 0 };
	uint64_t *v;

	if (!t->npauses)
		return ps;
	v = xmalloc(t->npauses * sizeof(*v));
	memcpy(v, t->pauses, t->npauses * sizeof(*v));
	qsort(v, t->npauses, sizeof(*v), cmp_u64);
	ps.p50 = v[t->npauses / 2] / 1000;
	ps.p99 = v[(t->npauses * 99) / 100] / 1000;
	ps.max = v[t->npauses - 1] / 1000;
	free(v);
	return ps;
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
			 char **argv, struct pause_stats ps)
{
	struct symbolizer *sym = symbolizer_new(&s->target.as, a->debuginfo_path);
	struct pprof_meta meta = {
		.sample_types = { { "samples", "count" }, { "cpu", "nanoseconds" } },
		.ntypes = 2,
		.period_type = { "cpu", "nanoseconds" },
		.period = 1000000000LL / a->hz,
		.time_nanos = (int64_t)s->res.start_realtime_ns,
		.duration_nanos = (int64_t)s->res.duration_ns,
	};
	char *cmdline = join_args(argv), *target_cmd = NULL;
	char *c_version = xasprintf("cprof %s", CPROF_VERSION);
	char *c_cmd = xasprintf("command: %s", cmdline);
	char *c_target = NULL, *c_stops = NULL;
	char *c_pause = xasprintf("pause per sample: p50 %lluus p99 %lluus max %lluus over %zu samples",
				  (unsigned long long)ps.p50, (unsigned long long)ps.p99,
				  (unsigned long long)ps.max, s->target.npauses);
	unsigned char *buf = NULL;
	size_t len;
	int ret;

	meta.comments[meta.ncomments++] = c_version;
	meta.comments[meta.ncomments++] = c_cmd;
	if (a->argv) {
		target_cmd = join_args(a->argv);
		c_target = xasprintf("target: pid %d: %s", s->target.pid, target_cmd);
	} else {
		c_target = xasprintf("target: pid %d", s->target.pid);
	}
	meta.comments[meta.ncomments++] = c_target;
	meta.comments[meta.ncomments++] = c_pause;
	c_stops = xasprintf("stops at a system call return: %llu of %llu samples%s",
			    (unsigned long long)s->res.syscall_stops,
			    (unsigned long long)s->res.samples,
			    a->raw_stops ? " (left as sampled: --raw-stops)" :
			    " (user share moved to the calling code)");
	meta.comments[meta.ncomments++] = c_stops;
	ret = pprof_encode(b, sym, &meta, &buf, &len);
	if (!ret)
		ret = output_write(out, buf, len);
	if (!ret)
		ret = output_commit(out);
	else
		output_abort(out);
	free(buf);
	free(cmdline);
	free(target_cmd);
	free(c_version);
	free(c_cmd);
	free(c_target);
	free(c_pause);
	free(c_stops);
	symbolizer_free(sym);
	return ret;
}

static int launch_status(struct sampler *s)
{
	int st = s->target.wait_status;

	if (!s->target.exited) {
		/* the recording ended first: the command runs on, untraced */
		while (waitpid(s->target.pid, &st, 0) < 0) {
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
	struct pause_stats ps;
	char *path;
	int ret, code;

	ret = parse_args(argc, argv, &a);
	if (ret)
		return ret < 0 ? CPROF_EXIT_OK : ret;
	if (a.pid && check_pid(&a))
		return CPROF_EXIT_FAILURE;
	if (a.output)
		path = xstrdup(a.output);
	else if (a.pid)
		path = xasprintf("cprof-%s-%d.pb.gz", a.type, a.pid);
	else {
		char *copy = xstrdup(a.argv[0]);

		path = xasprintf("cprof-%s-%s.pb.gz", a.type, basename(copy));
		free(copy);
	}
	/* the output must be writable before the target is touched */
	if (output_open(&out, path)) {
		free(path);
		return CPROF_EXIT_FAILURE;
	}

	s = xcalloc(1, sizeof(*s));
	s->opts = (struct sampler_opts){
		.type = PROFILE_CPU,
		.pid = a.pid,
		.argv = a.argv,
		.hz = (unsigned)a.hz,
		.duration_ns = a.duration_ns,
		.max_depth = (size_t)a.max_depth,
		.stack_size = (size_t)a.stack_size,
		.raw_stops = a.raw_stops,
	};
	/* SIGINT/TERM/HUP and SIGCHLD are read by the tracer from a signalfd */
	sigemptyset(&s->opts.handled);
	sigaddset(&s->opts.handled, SIGINT);
	sigaddset(&s->opts.handled, SIGTERM);
	sigaddset(&s->opts.handled, SIGHUP);
	sigaddset(&s->opts.handled, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &s->opts.handled, &s->opts.orig_mask);

	pb_init(&b, 2);
	if (sampler_start(s, &b)) {
		output_abort(&out);
		code = CPROF_EXIT_FAILURE;
		goto done;
	}
	sampler_join(s);
	if (s->res.status) {
		output_abort(&out);
		code = s->res.status > 0 ? s->res.status : CPROF_EXIT_FAILURE;
		goto done;
	}
	ps = pause_stats(&s->target);
	if (write_profile(s, &b, &out, &a, argv, ps)) {
		code = CPROF_EXIT_FAILURE;
		goto done;
	}
	note("%llu samples, %zu threads, %.2fs, pause p50 %lluus p99 %lluus max %lluus, "
	     "%llu missed ticks, %llu lost samples, wrote %s",
	     (unsigned long long)s->res.samples, s->target.threads_seen,
	     s->res.duration_ns / 1e9, (unsigned long long)ps.p50,
	     (unsigned long long)ps.p99, (unsigned long long)ps.max,
	     (unsigned long long)s->res.missed_ticks,
	     (unsigned long long)s->target.lost_samples, path);
	code = CPROF_EXIT_OK;
	if (s->target.launched)
		code = launch_status(s);
done:
	pb_release(&b);
	target_release(&s->target);
	free(s);
	free(path);
	return code;
}
