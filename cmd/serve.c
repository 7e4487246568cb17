/*
 * cmd/serve.c - `cprof serve`: Go's /debug/pprof HTTP endpoints for any
 * process, so that `go tool pprof URL`, Parca and Alloy scrape it as they
 * scrape a Go program.  HTTP is libmicrohttpd's (one thread per
 * connection); each request runs record's recording or threads' snapshot
 * in this process and answers with what record would write.
 *
 * One tracer at a time: a thread can have only one ptrace tracer, so each
 * process has a slot that one recording or snapshot holds at a time.  A
 * request for the type being recorded joins that recording and gets its
 * profile (two scrapers asking for cpu at once both get one); other
 * requests wait for the slot, snapshots first, at most --max-seconds.
 * Between requests nothing is attached: the target is traced only while
 * a recording or snapshot runs, and each ends as record's does (its tracer
 * thread exits and the kernel detaches every thread without stopping it),
 * also when serve is SIGKILLed.  tests/t0019-serve.sh.
 */
#define _GNU_SOURCE
#include "serve.h"
#include "../attach/sampler.h"
#include "../lib/util.h"

#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

static const char serve_usage[] =
	"usage: cprof serve [options] -p PID\n"
	"       cprof serve [options] --pid-file FILE | --exe PATH | --comm NAME\n"
	"\n"
	"Answer Go's /debug/pprof HTTP requests for a process, so that\n"
	"`go tool pprof http://127.0.0.1:6060/debug/pprof/profile`, Parca and\n"
	"Grafana Alloy profile it as they profile a Go program.  The process is\n"
	"traced only while a request records it.\n"
	"\n"
	"  -p, --pid PID          the process (repeat for several: each is also\n"
	"                         served under /pid/PID/debug/pprof/)\n"
	"      --pid-file FILE    the process whose pid FILE holds, read again at\n"
	"                         each request (a restarted service is followed)\n"
	"      --exe PATH         every process running the program PATH\n"
	"      --comm NAME        every process whose name (comm) is NAME\n"
	"      --listen ADDR      HOST:PORT, [IPV6]:PORT or unix:PATH (default\n"
	"                         127.0.0.1:6060; port 0: any free port); the\n"
	"                         address bound is printed on stdout\n"
	"      --allow-remote     needed to listen on a non-loopback address:\n"
	"                         whoever reaches it reads the process's stacks\n"
	"      --max-seconds N    longest recording a request may ask (default 120)\n"
	"      --window DUR       what block, mutex, threadcreate and the delta_\n"
	"                         paths record without ?seconds= (default 5s)\n"
	"  -F, --freq HZ          ticks per second of recordings (default 99)\n"
	"      --max-overhead PCT heap and allocs: what the probes may cost the\n"
	"                         process, percent of its busiest thread's time\n"
	"                         (default 5; 100: no bound; see cprof-record(1))\n"
	"      --max-connections N  requests served at once (default 32)\n"
	"      --timeout DUR      a connection idle this long is closed: headers\n"
	"                         and body must keep coming (default 10s)\n"
	"      --max-depth N      keep at most N frames per stack (default 256)\n"
	"      --stack-size BYTES bytes of stack copied per sample (default 32768)\n"
	"      --debuginfo-path P where to look for separate debug files\n"
	"  -q, --quiet            do not log each request on stderr\n"
	"  -v, --verbose          say more on stderr\n"
	"  -h, --help             this text\n"
	"\n"
	"paths (under /debug/pprof/): profile (cpu, ?seconds=30), wall, block,\n"
	"mutex, threadcreate (?seconds=N, or --window), goroutine and threads\n"
	"(a snapshot; ?debug=1 text, ?debug=2 every thread), delta_block,\n"
	"delta_mutex, cmdline, symbol; see cprof(1), SERVE.\n"
	"\n"
	"exit status: 0 stopped by SIGINT/SIGTERM/SIGHUP; 1 failure (e.g. the\n"
	"address is in use); 2 usage error.\n";

struct serve_state srv = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
};

/* Go's serveError: a status and one line of plain text. */
void reply_text(struct reply *r, unsigned status, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		die("out of memory");
	va_end(ap);
	free(r->body);
	r->body = xasprintf("%s\n", s);
	free(s);
	r->len = strlen(r->body);
	r->status = status;
	r->type = "text/plain; charset=utf-8";
	r->disposition[0] = '\0';
	r->go_error = status >= 400;
}

static int parse_args(int argc, char **argv, struct serve_args *a)
{
	enum {
		OPT_PID_FILE = OPT_FIRST_OWN, OPT_EXE, OPT_COMM, OPT_LISTEN,
		OPT_ALLOW_REMOTE, OPT_MAX_SECONDS, OPT_WINDOW, OPT_MAX_CONNS,
		OPT_TIMEOUT, OPT_MAX_OVERHEAD,
	};
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "pid-file", required_argument, NULL, OPT_PID_FILE },
		{ "exe", required_argument, NULL, OPT_EXE },
		{ "comm", required_argument, NULL, OPT_COMM },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE },
		{ "max-seconds", required_argument, NULL, OPT_MAX_SECONDS },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "max-overhead", required_argument, NULL, OPT_MAX_OVERHEAD },
		{ "freq", required_argument, NULL, 'F' },
		{ "quiet", no_argument, NULL, 'q' },
		{ 0 },
	};
	int c, r, nsources;

	*a = (struct serve_args){
		.listen = "127.0.0.1:6060", .max_seconds = 120, .hz = 99,
		.max_conns = 32, .window_ns = 5000000000ULL,
		.timeout_ns = 10000000000ULL, .max_overhead = HEAP_DEFAULT_MAX_OVERHEAD,
	};
	common_args_init(&a->c);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:F:qvh", longopts, NULL)) != -1) {
		if (c == 'p' && a->c.pid && a->npids < MAX_PIDS)
			a->pids[a->npids++] = a->c.pid;	/* the one before */
		r = parse_common_opt("serve", c, optarg, &a->c);
		if (r == 1)
			continue;
		if (r)
			return r;
		switch (c) {
		case OPT_PID_FILE: a->pid_file = optarg; break;
		case OPT_EXE: a->exe = optarg; break;
		case OPT_COMM: a->comm = optarg; break;
		case OPT_LISTEN: a->listen = optarg; break;
		case OPT_ALLOW_REMOTE: a->allow_remote = true; break;
		case OPT_MAX_SECONDS:
			if (parse_long(optarg, 1, 86400, &a->max_seconds))
				return usage_error("serve", "--max-seconds: '%s' is not a number of seconds from 1 to 86400", optarg);
			break;
		case OPT_WINDOW:
			if (parse_duration(optarg, &a->window_ns) || a->window_ns < 1000000000ULL)
				return usage_error("serve", "--window: '%s' is not a duration of 1s or more", optarg);
			break;
		case OPT_MAX_CONNS:
			if (parse_long(optarg, 1, 1024, &a->max_conns))
				return usage_error("serve", "--max-connections: '%s' is not a number from 1 to 1024", optarg);
			break;
		case OPT_TIMEOUT:
			if (parse_duration(optarg, &a->timeout_ns) || a->timeout_ns < 1000000000ULL)
				return usage_error("serve", "--timeout: '%s' is not a duration of 1s or more", optarg);
			break;
		case OPT_MAX_OVERHEAD:
			r = parse_max_overhead("serve", optarg, &a->max_overhead);
			if (r)
				return r;
			break;
		case 'F':
			if (parse_long(optarg, 1, 10000, &a->hz))
				return usage_error("serve", "-F: '%s' is not a frequency from 1 to 10000 Hz", optarg);
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(serve_usage, stdout);
			return -1;
		case ':':
			return usage_error("serve", "%s needs an argument", argv[optind - 1]);
		default:
			return usage_error("serve", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (a->c.pid && a->npids < MAX_PIDS)
		a->pids[a->npids++] = a->c.pid;
	if (optind < argc)
		return usage_error("serve", "unexpected argument '%s'", argv[optind]);
	nsources = !!a->npids + !!a->pid_file + !!a->exe + !!a->comm;
	if (!nsources)
		return usage_error("serve", "which process? give -p PID, --pid-file, --exe or --comm%s", "");
	if (nsources > 1)
		return usage_error("serve", "give one of -p, --pid-file, --exe and --comm%s", "");
	if (a->window_ns / 1000000000ULL > (uint64_t)a->max_seconds)
		return usage_error("serve", "--window is longer than --max-seconds%s", "");
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	struct MHD_Daemon *d;
	struct serve_args *a = &srv.a;
	struct signalfd_siginfo si;
	sigset_t sigs, handled;
	int ret, lfd, family = AF_INET, sfd;

	ret = parse_args(argc, argv, a);
	if (ret)
		return ret < 0 ? CPROF_EXIT_OK : ret;
	for (size_t i = 0; i < a->npids; i++)
		if (check_target_pid(&a->pids[i]))
			return CPROF_EXIT_FAILURE;
	if (a->exe) {
		srv.exe_real = realpath(a->exe, NULL);
		if (!srv.exe_real)
			return error("serve: --exe %s: %s", a->exe, strerror(errno)), CPROF_EXIT_FAILURE;
	}
	signal(SIGPIPE, SIG_IGN);
	/* every thread blocks these; this one reads INT/TERM/HUP */
	block_handled_signals(&handled, NULL);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0)
		return error("signalfd: %s", strerror(errno)), CPROF_EXIT_FAILURE;
	lfd = serve_listen(a->listen, a->allow_remote, &family);
	if (lfd < 0) {
		close(sfd);
		free(srv.exe_real);
		return lfd == -2 ? CPROF_EXIT_USAGE : CPROF_EXIT_FAILURE;
	}
	d = serve_http_start(lfd, family);
	if (!d) {
		close(lfd);
		close(sfd);
		free(srv.exe_real);
		return CPROF_EXIT_FAILURE;
	}
	while (read(sfd, &si, sizeof(si)) < 0 && errno == EINTR)
		;
	note("serve: %s: stopping", strsignal((int)si.ssi_signo));
	/* recordings end at their next tick; waiting requests answer 503 */
	atomic_store(&srv.cancel, true);
	pthread_mutex_lock(&srv.mu);
	srv.stopping = true;
	pthread_cond_broadcast(&srv.cv);
	pthread_mutex_unlock(&srv.mu);
	MHD_stop_daemon(d);
	close(lfd);
	close(sfd);
	free(srv.exe_real);
	return CPROF_EXIT_OK;
}
