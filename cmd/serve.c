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
#include "cmd.h"
#include "view.h"
#include "../attach/procfs.h"
#include "../attach/sampler.h"
#include "../attach/snapshot.h"
#include "../lib/util.h"
#include "../profiles/builder.h"
#include "../profiles/format.h"
#include "../profiles/httpreq.h"
#include "../symbolize/maps.h"
#include "../symbolize/symbolize.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_PIDS 64		/* processes one server follows */
#define MAX_SYMBOL_BODY (1 << 20)	/* POST /symbol: 1 MiB of addresses */

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

struct serve_args {
	struct common_args c;
	pid_t pids[MAX_PIDS];
	size_t npids;
	const char *pid_file, *exe, *comm;
	const char *listen;
	bool allow_remote;
	long max_seconds, hz, max_conns;
	uint64_t window_ns, timeout_ns;
};

/* A recording that requests for its type share (see the top). */
struct session {
	const struct profile_type *pt;
	pid_t pid;
	struct sampler s;
	struct profile_builder b;
	bool started, done;	/* sampler started; joined */
	int refs;		/* requests holding it */
	pthread_mutex_t render_mu;	/* sym and the cache, one render at a time */
	struct symbolizer *sym;
	char *pprof;		/* debug=0 bytes, rendered once */
	size_t pprof_len;
};

/* What one process's ptrace allows: one tracer at a time. */
struct slot {
	pid_t pid;		/* 0: free */
	bool busy;		/* a recording or snapshot holds the process */
	struct session *rec;	/* the recording, while it runs */
	unsigned users;		/* requests using or waiting for this slot */
	unsigned snap_waiting;	/* snapshots waiting: go before new recordings */
};

static struct {
	struct serve_args a;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot slots[MAX_PIDS];
	bool stopping;
	atomic_bool cancel;	/* recordings end now: serve is stopping */
	char *exe_real;		/* --exe, resolved */
} srv = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
};

/* An answer, before it is queued. */
struct reply {
	unsigned status;
	char *body;		/* malloc'ed */
	size_t len;
	const char *type;	/* Content-Type */
	char disposition[128];	/* Content-Disposition, or "" */
	const char *location;	/* redirects */
	bool go_error;		/* X-Go-Pprof: 1, as Go's serveError */
};

static void reply_text(struct reply *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Go's serveError: a status and one line of plain text. */
static void reply_text(struct reply *r, unsigned status, const char *fmt, ...)
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

/* ---- which processes ---------------------------------------------- */

static bool pid_alive(pid_t pid)
{
	struct proc_status st;

	return pid > 0 && !proc_status(pid, 0, &st) && st.tgid == pid &&
	       st.state != 'Z' && st.state != 'X';
}

static int cmp_pid(const void *x, const void *y)
{
	return *(const pid_t *)x - *(const pid_t *)y;
}

/* --exe / --comm: scan /proc (a few ms for a few hundred processes) */
static size_t scan_proc(pid_t *out, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while (n < max && (e = readdir(d))) {
		char path[64], buf[PATH_MAX];
		long pid;
		ssize_t len;

		if (parse_long(e->d_name, 1, INT32_MAX, &pid) || pid == getpid())
			continue;
		if (srv.a.exe) {
			snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
			len = readlink(path, buf, sizeof(buf) - 1);
			if (len <= 0)
				continue;
			buf[len] = '\0';
			if (strcmp(buf, srv.exe_real))
				continue;
		} else {
			snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
			if (read_file(path, buf, sizeof(buf)) <= 0)
				continue;
			buf[strcspn(buf, "\n")] = '\0';
			if (strcmp(buf, srv.a.comm))
				continue;
		}
		if (pid_alive((pid_t)pid))
			out[n++] = (pid_t)pid;
	}
	closedir(d);
	qsort(out, n, sizeof(*out), cmp_pid);
	return n;
}

/*
 * The processes served now, the default one first; 0 and why in *why
 * (malloc'ed) when there is none.  Resolved at each request, so that a
 * restarted service (--pid-file, --exe, --comm) is followed.
 */
static size_t targets_now(pid_t *out, char **why)
{
	size_t n = 0;

	*why = NULL;
	if (srv.a.pid_file) {
		char buf[64];
		long pid;
		ssize_t len = read_file(srv.a.pid_file, buf, sizeof(buf));

		if (len < 0) {
			*why = xasprintf("pid file %s: %s", srv.a.pid_file, strerror((int)-len));
			return 0;
		}
		buf[strcspn(buf, " \t\r\n")] = '\0';
		if (parse_long(buf, 1, INT32_MAX, &pid)) {
			*why = xasprintf("pid file %s: '%s' is not a process id", srv.a.pid_file, buf);
			return 0;
		}
		if (!pid_alive((pid_t)pid)) {
			*why = xasprintf("process %ld (from %s) is not running", pid, srv.a.pid_file);
			return 0;
		}
		out[n++] = (pid_t)pid;
	} else if (srv.a.exe || srv.a.comm) {
		n = scan_proc(out, MAX_PIDS);
		if (!n)
			*why = xasprintf("no process runs %s", srv.a.exe ? srv.a.exe : srv.a.comm);
	} else {
		for (size_t i = 0; i < srv.a.npids; i++)
			if (pid_alive(srv.a.pids[i]))
				out[n++] = srv.a.pids[i];
		if (!n)
			*why = srv.a.npids == 1 ?
			       xasprintf("process %d has exited", srv.a.pids[0]) :
			       xasprintf("every process served has exited");
	}
	return n;
}

/* The process a request is for (asked: from /pid/N/, or 0), or 0 with r set. */
static pid_t resolve(pid_t asked, struct reply *r)
{
	pid_t pids[MAX_PIDS];
	char *why;
	size_t n = targets_now(pids, &why);

	if (!n) {
		/* a scraper marks the target down; serve goes on answering */
		reply_text(r, 503, "cprof: %s", why);
		free(why);
		return 0;
	}
	if (!asked)
		return pids[0];
	for (size_t i = 0; i < n; i++)
		if (pids[i] == asked)
			return asked;
	reply_text(r, 404, "cprof: process %d is not one this server profiles", asked);
	return 0;
}

/* ---- slots: one tracer per process -------------------------------- */

/* Under srv.mu.  NULL when MAX_PIDS processes are in use at once. */
static struct slot *slot_get(pid_t pid)
{
	struct slot *free_slot = NULL;

	for (size_t i = 0; i < MAX_PIDS; i++) {
		if (srv.slots[i].pid == pid) {
			srv.slots[i].users++;
			return &srv.slots[i];
		}
		if (!srv.slots[i].users && !free_slot)
			free_slot = &srv.slots[i];
	}
	if (free_slot)
		*free_slot = (struct slot){ .pid = pid, .users = 1 };
	return free_slot;
}

static void slot_put(struct slot *sl)
{
	if (!--sl->users)
		sl->pid = 0;
}

static int wait_until(uint64_t deadline_mono)
{
	struct timespec ts;
	uint64_t now = now_ns(), real;

	if (now >= deadline_mono)
		return ETIMEDOUT;
	real = realtime_ns() + (deadline_mono - now);
	ts.tv_sec = (time_t)(real / 1000000000ULL);
	ts.tv_nsec = (long)(real % 1000000000ULL);
	return pthread_cond_timedwait(&srv.cv, &srv.mu, &ts);
}

/* Why a recording or snapshot of pid failed, for the answer. */
static void attach_failed(struct reply *r, pid_t pid, const char *what)
{
	struct proc_status st;

	if (!pid_alive(pid))
		reply_text(r, 503, "cprof: process %d has exited", pid);
	else if (!proc_status(pid, 0, &st) && st.tracer)
		reply_text(r, 503, "cprof: process %d is traced by process %d (a debugger?): cannot %s it",
			   pid, st.tracer, what);
	else
		reply_text(r, 500, "cprof: could not %s process %d (cprof serve's stderr says why)",
			   what, pid);
}

static void session_free(struct session *s)
{
	if (s->sym)
		symbolizer_free(s->sym);
	free(s->pprof);
	pb_release(&s->b);
	if (s->started)
		sampler_release(&s->s);
	pthread_mutex_destroy(&s->render_mu);
	free(s);
}

static void print_to_reply(struct reply *r, const struct view *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int ret;

	if (!f) {
		reply_text(r, 500, "cprof: open_memstream: %s", strerror(errno));
		return;
	}
	ret = view_print(f, (void *)v);
	if (ferror(f) | fclose(f) || ret) {
		free(buf);
		reply_text(r, 500, "cprof: cannot format the %s profile", v->pt->name);
		return;
	}
	free(r->body);
	r->body = buf;
	r->len = len;
	r->status = 200;
}

/* debug=0: gzip pprof; else Go's text (debug=1) or every thread (2). */
static const struct output_format *format_for(long debug, bool snapshot)
{
	return output_format_find(debug <= 0 ? "pprof" : debug >= 2 && snapshot ?
				  "dump" : "text", true);
}

static void render_session(struct session *s, const struct http_req *q,
			   const char *command, struct reply *r)
{
	const struct output_format *fmt = format_for(q->debug, false);
	struct view v = {
		.pt = s->pt, .fmt = fmt, .b = &s->b, .rec = &s->s, .command = command,
	};

	pthread_mutex_lock(&s->render_mu);
	if (!s->sym)
		s->sym = view_symbolizer(&s->s, &s->b, s->pt, srv.a.c.debuginfo_path);
	v.sym = s->sym;
	if (q->debug <= 0 && s->pprof) {
		free(r->body);
		r->body = xmalloc(s->pprof_len);
		memcpy(r->body, s->pprof, s->pprof_len);
		r->len = s->pprof_len;
		r->status = 200;
	} else {
		print_to_reply(r, &v);
		if (q->debug <= 0 && r->status == 200) {
			s->pprof = xmalloc(r->len);
			memcpy(s->pprof, r->body, r->len);
			s->pprof_len = r->len;
		}
	}
	pthread_mutex_unlock(&s->render_mu);
}

/*
 * A recording of pt for secs seconds: join the one running for this type,
 * or wait for the process to be free and start one.
 */
static void serve_recording(pid_t pid, const struct profile_type *pt, long secs,
			    const struct http_req *q, const char *command,
			    struct reply *r)
{
	uint64_t deadline = now_ns() + (uint64_t)srv.a.max_seconds * 1000000000ULL;
	struct session *s = NULL;
	struct slot *sl;
	bool owner = false;

	pthread_mutex_lock(&srv.mu);
	sl = slot_get(pid);
	if (!sl) {
		pthread_mutex_unlock(&srv.mu);
		reply_text(r, 503, "cprof: too many processes at once");
		return;
	}
	for (;;) {
		if (srv.stopping) {
			reply_text(r, 503, "cprof: serve is stopping");
			goto out_locked;
		}
		if (sl->rec && !sl->rec->done && sl->rec->pt == pt) {
			s = sl->rec;	/* the same type: share it */
			s->refs++;
			break;
		}
		if (!sl->busy && !sl->snap_waiting) {
			s = xcalloc(1, sizeof(*s));
			s->pt = pt;
			s->pid = pid;
			s->refs = 1;
			pthread_mutex_init(&s->render_mu, NULL);
			sl->busy = true;
			sl->rec = s;
			owner = true;
			break;
		}
		if (wait_until(deadline) == ETIMEDOUT) {
			reply_text(r, 503, "cprof: process %d was busy with other recordings for %lds",
				   pid, srv.a.max_seconds);
			goto out_locked;
		}
	}
	pthread_mutex_unlock(&srv.mu);

	if (owner) {
		s->s.opts = (struct sampler_opts){
			.mode = pt->mode, .pid = pid,
			/* -F is the default rate: a mode may need its own */
			.hz = sampler_hz(pt->mode, (unsigned)srv.a.hz, false),
			.follow = pt->mode->follows,	/* processcreate */
			.duration_ns = (uint64_t)secs * 1000000000ULL,
			.max_depth = (size_t)srv.a.c.max_depth,
			.stack_size = (size_t)srv.a.c.stack_size,
			.cancel = &srv.cancel,
		};
		/* SIGINT/TERM/HUP are the server's: this one reads SIGCHLD only */
		sigemptyset(&s->s.opts.handled);
		sigaddset(&s->s.opts.handled, SIGCHLD);
		pb_init(&s->b, pt->nvalues);
		if (!sampler_start(&s->s, &s->b)) {
			s->started = true;
			sampler_join(&s->s);
		} else {
			s->s.res.status = -1;
		}
		pthread_mutex_lock(&srv.mu);
		s->done = true;
		sl->busy = false;
		sl->rec = NULL;
		pthread_cond_broadcast(&srv.cv);
	} else {
		pthread_mutex_lock(&srv.mu);
		while (!s->done)
			pthread_cond_wait(&srv.cv, &srv.mu);
	}
	pthread_mutex_unlock(&srv.mu);

	if (!s->started || s->s.res.status)
		attach_failed(r, pid, "record");
	else
		render_session(s, q, command, r);

	pthread_mutex_lock(&srv.mu);
	if (!--s->refs)
		session_free(s);
out_locked:
	slot_put(sl);
	pthread_mutex_unlock(&srv.mu);
}

/* goroutine, threads: one snapshot, as cprof threads takes it. */
static void serve_snapshot(pid_t pid, const struct profile_type *pt,
			   const struct http_req *q, const char *command,
			   struct reply *r)
{
	uint64_t deadline = now_ns() + (uint64_t)srv.a.max_seconds * 1000000000ULL;
	struct snapshot snap = { 0 };
	struct profile_builder b;
	struct view v = {
		.pt = pt, .fmt = format_for(q->debug, true), .b = &b,
		.snap = &snap, .command = command,
	};
	struct slot *sl;
	int ret;

	pthread_mutex_lock(&srv.mu);
	sl = slot_get(pid);
	if (!sl) {
		pthread_mutex_unlock(&srv.mu);
		reply_text(r, 503, "cprof: too many processes at once");
		return;
	}
	sl->snap_waiting++;
	while (sl->busy && !srv.stopping)
		if (wait_until(deadline) == ETIMEDOUT)
			break;
	sl->snap_waiting--;
	if (sl->busy || srv.stopping) {
		reply_text(r, 503, srv.stopping ? "cprof: serve is stopping" :
			   "cprof: process was busy with recordings for too long");
		slot_put(sl);
		pthread_cond_broadcast(&srv.cv);
		pthread_mutex_unlock(&srv.mu);
		return;
	}
	sl->busy = true;
	pthread_mutex_unlock(&srv.mu);

	snap.opts = (struct snapshot_opts){
		.pid = pid, .timeout_ns = 1000000000ULL,
		.stack_size = (size_t)srv.a.c.stack_size,
		.max_depth = (size_t)srv.a.c.max_depth,
		.debuginfo_path = srv.a.c.debuginfo_path,
	};
	sigemptyset(&snap.opts.handled);
	sigaddset(&snap.opts.handled, SIGCHLD);
	v.snap_realtime_ns = realtime_ns();
	ret = snapshot_take(&snap);

	pthread_mutex_lock(&srv.mu);
	sl->busy = false;
	slot_put(sl);
	pthread_cond_broadcast(&srv.cv);
	pthread_mutex_unlock(&srv.mu);

	if (ret) {
		attach_failed(r, pid, "read");
	} else {
		pb_init(&b, 1);
		view_snapshot_samples(&snap, &b);
		v.sym = snapshot_symbolizer(&snap);
		print_to_reply(r, &v);
		pb_release(&b);
	}
	snapshot_release(&snap);
}

/* ---- the other endpoints ------------------------------------------ */

static void serve_profile(pid_t pid, const struct http_req *q, struct reply *r)
{
	const struct profile_type *pt = profile_type_of_path(q->name);
	char *command;
	long secs;

	if (!pt || (q->delta && (!pt->mode || pt->go_cpu))) {
		reply_text(r, 404, "Unknown profile");
		return;
	}
	if (!pt->mode && q->seconds) {
		reply_text(r, 400, "\"seconds\" parameter is not supported for this profile type");
		return;
	}
	/* Go: the cpu profile ignores debug; the others refuse both */
	if (pt->mode && q->seconds && q->debug && !pt->go_cpu) {
		reply_text(r, 400, "seconds and debug params are incompatible");
		return;
	}
	/* Go's names: "profile", "NAME", and "NAME-delta" for ?seconds= */
	snprintf(r->disposition, sizeof(r->disposition), "attachment; filename=\"%s%s%s\"",
		 q->delta ? "delta_" : "", q->name, q->seconds && !pt->go_cpu ? "-delta" : "");
	if (!pt->mode) {
		command = xasprintf("cprof serve: /debug/pprof/%s", q->name);
		serve_snapshot(pid, pt, q, command, r);
	} else {
		secs = q->seconds ? q->seconds : pt->go_seconds ? (long)pt->go_seconds :
		       (long)((srv.a.window_ns + 999999999ULL) / 1000000000ULL);
		if (secs > srv.a.max_seconds)
			secs = srv.a.max_seconds;
		command = xasprintf("cprof serve: /debug/pprof/%s%s?seconds=%ld",
				    q->delta ? "delta_" : "", q->name, secs);
		serve_recording(pid, pt, secs, q, command, r);
	}
	free(command);
	if (r->status == 200 && q->debug > 0 && !pt->go_cpu) {
		r->type = "text/plain; charset=utf-8";
		r->disposition[0] = '\0';
	} else if (r->status == 200) {
		r->type = "application/octet-stream";
	}
}

/* Go's: the process's argv, separated by NULs. */
static void serve_cmdline(pid_t pid, struct reply *r)
{
	char path[64], *buf = xmalloc(1 << 17);
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	n = read_file(path, buf, 1 << 17);
	if (n < 0) {
		free(buf);
		reply_text(r, 503, "cprof: process %d has exited", pid);
		return;
	}
	if (n > 0 && buf[n - 1] == '\0')
		n--;
	free(r->body);
	r->body = buf;
	r->len = (size_t)n;
	r->status = 200;
	r->type = "text/plain; charset=utf-8";
}

struct symbol_lookup {
	struct symbolizer *sym;
	uint32_t epoch;
	FILE *f;
};

static void symbol_one(uint64_t addr, void *arg)
{
	struct symbol_lookup *l = arg;
	struct symloc sl;

	symbolizer_lookup(l->sym, l->epoch, addr, &sl);
	/* the function the address is in (the outermost of inlined ones) */
	if (sl.nframes)
		fprintf(l->f, "%#llx %s\n", (unsigned long long)addr,
			sl.frames[sl.nframes - 1].name);
}

/*
 * Go's /symbol, which `go tool pprof` asks for addresses its profile does
 * not name: "num_symbols: 1", then "0xADDR name" for each it knows.
 */
static void serve_symbol(pid_t pid, const char *body, size_t len, struct reply *r)
{
	struct symbol_lookup l = { 0 };
	struct addrspace as;
	char *buf = NULL;
	size_t blen = 0;

	l.f = open_memstream(&buf, &blen);
	if (!l.f) {
		reply_text(r, 500, "cprof: open_memstream: %s", strerror(errno));
		return;
	}
	fputs("num_symbols: 1\n", l.f);
	if (len) {
		addrspace_init(&as, pid);
		if (addrspace_reload(&as)) {
			fclose(l.f);
			free(buf);
			addrspace_release(&as);
			reply_text(r, 503, "cprof: process %d: cannot read its maps", pid);
			return;
		}
		l.sym = symbolizer_new(&as, srv.a.c.debuginfo_path);
		l.epoch = addrspace_epoch(&as);
		http_symbol_addrs(body, len, symbol_one, &l);
		symbolizer_free(l.sym);
		addrspace_release(&as);
	}
	if (ferror(l.f) | fclose(l.f)) {
		free(buf);
		reply_text(r, 500, "cprof: cannot format the symbols");
		return;
	}
	free(r->body);
	r->body = buf;
	r->len = blen;
	r->status = 200;
	r->type = "text/plain; charset=utf-8";
}

static void html_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* The page Go's index is: each profile, a count where one exists, links. */
static void serve_index(pid_t pid, pid_t asked, struct reply *r)
{
	char *buf = NULL, path[64], comm[64] = "";
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);
	pid_t *tids = NULL, pids[MAX_PIDS];
	size_t ntids = 0, npids;
	char *why, count[32];

	if (!f) {
		reply_text(r, 500, "cprof: open_memstream: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (read_file(path, comm, sizeof(comm)) > 0)
		comm[strcspn(comm, "\n")] = '\0';
	proc_tasks(pid, &tids, &ntids);
	free(tids);
	snprintf(count, sizeof(count), "%zu", ntids);
	fprintf(f, "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
		"<title>/debug/pprof/</title>\n</head>\n<body>\n"
		"<h1>/debug/pprof/: process %d (", pid);
	html_escape(f, comm);
	fprintf(f, ")</h1>\n<p>cprof %s profiles this process from the outside. "
		"debug=1 as a query parameter gives the text form.</p>\n"
		"<table>\n<thead><tr><th>Count</th><th>Profile</th><th>Description</th></tr></thead>\n",
		CPROF_VERSION);
	for (size_t i = 0; i < nprofile_types; i++) {
		const struct profile_type *pt = &profile_types[i];
		const char *name = pt->go_name ? pt->go_name : pt->name;

		if (pt->arg)
			continue;	/* no path of Go's: record's alone */
		fprintf(f, "<tr><td>");
		if (!pt->mode)
			fprintf(f, "%zu", ntids);
		/* the cpu profile is binary only, as Go's */
		fprintf(f, "</td><td><a href=\"%s%s\">%s</a></td><td>", name,
			pt->go_cpu ? "" : "?debug=1", name);
		html_escape(f, pt->help);
		fprintf(f, "</td></tr>\n");
		if (pt->go_alias)
			fprintf(f, "<tr><td>%s</td><td><a href=\"%s?debug=1\">%s</a></td>"
				"<td>the same, by Go's name</td></tr>\n",
				pt->mode ? "" : count, pt->go_alias, pt->go_alias);
	}
	fprintf(f, "</table>\n<p><a href=\"goroutine?debug=2\">full thread stack dump</a></p>\n"
		"<p><a href=\"cmdline\">cmdline</a>: the command line of the process</p>\n<p>");
	/* how long each records without ?seconds= */
	for (size_t i = 0; i < nprofile_types; i++) {
		const struct profile_type *pt = &profile_types[i];

		if (pt->arg)
			continue;
		fprintf(f, "%s%s", i ? ", " : "", pt->go_name ? pt->go_name : pt->name);
		if (!pt->mode)
			fprintf(f, "%s%s: a snapshot", pt->go_alias ? " and " : "",
				pt->go_alias ? pt->go_alias : "");
		else if (pt->go_cpu)
			fprintf(f, " (%s): ?seconds=N, default %u", pt->name, pt->go_seconds);
		else
			fprintf(f, ": ?seconds=N, default %.3gs", pt->go_seconds ? pt->go_seconds :
				srv.a.window_ns / 1e9);
	}
	fprintf(f, " (the delta_ paths alike).</p>\n");
	npids = targets_now(pids, &why);
	free(why);
	if (npids > 1 || asked) {
		fprintf(f, "<p>Processes served:</p>\n<ul>\n");
		for (size_t i = 0; i < npids; i++)
			fprintf(f, "<li><a href=\"/pid/%d/debug/pprof/\">%d</a></li>\n",
				pids[i], pids[i]);
		fprintf(f, "</ul>\n");
	}
	fprintf(f, "</body>\n</html>\n");
	if (ferror(f) | fclose(f)) {
		free(buf);
		reply_text(r, 500, "cprof: cannot format the index");
		return;
	}
	free(r->body);
	r->body = buf;
	r->len = blen;
	r->status = 200;
	r->type = "text/html; charset=utf-8";
}

/* ---- HTTP ----------------------------------------------------------- */

/* A request's body, gathered over the calls MHD makes. */
struct conn {
	char *body;
	size_t len, alloc;
	bool too_large;
};

static enum MHD_Result add_key(void *arg, enum MHD_ValueKind kind,
			       const char *key, const char *value)
{
	FILE *f = arg;

	/* MHD decoded '+' to ' ': both separate addresses */
	for (const char *p = key; *p; p++)
		fputc(*p == ' ' ? '+' : *p, f);
	fputc('+', f);
	return MHD_YES;
}

/* GET /symbol?0x1+0x2: MHD parsed the query into keys; put them back. */
static char *raw_query(struct MHD_Connection *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return xstrdup("");
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_key, f);
	if (fclose(f)) {
		free(buf);
		return xstrdup("");
	}
	return buf;
}

static void handle(struct MHD_Connection *c, const char *url, const char *method,
		   const struct conn *cn, struct reply *r)
{
	const char *seconds = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seconds");
	const char *debug = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "debug");
	struct http_req q;
	pid_t pid;

	http_req_parse(&q, url, seconds, debug, srv.a.max_seconds);
	switch (q.kind) {
	case HREQ_NOT_FOUND:
		reply_text(r, 404, "404 page not found");
		r->go_error = false;
		return;
	case HREQ_REDIRECT:
		r->status = 301;
		r->location = "pprof/";
		r->type = "text/html; charset=utf-8";
		r->body = xstrdup("<a href=\"pprof/\">Moved Permanently</a>.\n");
		r->len = strlen(r->body);
		return;
	case HREQ_BAD:
		reply_text(r, 400, "%s", q.message);
		return;
	default:
		break;
	}
	pid = resolve(q.pid, r);
	if (!pid)
		return;
	switch (q.kind) {
	case HREQ_INDEX:
		serve_index(pid, q.pid, r);
		break;
	case HREQ_CMDLINE:
		serve_cmdline(pid, r);
		break;
	case HREQ_SYMBOL:
		if (cn->too_large) {
			reply_text(r, 413, "cprof: more than %d bytes of addresses", MAX_SYMBOL_BODY);
			break;
		}
		if (!strcmp(method, "POST")) {
			serve_symbol(pid, cn->body, cn->len, r);
		} else {
			/* GET: the query string itself, as Go reads it */
			char *query = raw_query(c);

			serve_symbol(pid, query, strlen(query), r);
			free(query);
		}
		break;
	case HREQ_PROFILE:
		serve_profile(pid, &q, r);
		break;
	default:
		break;
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct conn *cn = *con_cls;
	struct reply r = { .status = 500 };
	const char *seconds, *debug;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	uint64_t t0;

	if (!cn) {
		*con_cls = xcalloc(1, sizeof(*cn));
		return MHD_YES;
	}
	if (*upload_size) {
		if (cn->len + *upload_size > MAX_SYMBOL_BODY) {
			cn->too_large = true;
		} else {
			GROW(cn->body, cn->alloc, cn->len + *upload_size + 1);
			memcpy(cn->body + cn->len, upload, *upload_size);
			cn->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	t0 = now_ns();
	seconds = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seconds");
	debug = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "debug");
	handle(c, url, method, cn, &r);
	resp = MHD_create_response_from_buffer(r.len, r.body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(r.body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r.type)
		MHD_add_response_header(resp, "Content-Type", r.type);
	if (r.disposition[0] && r.status == 200)
		MHD_add_response_header(resp, "Content-Disposition", r.disposition);
	if (r.go_error)
		MHD_add_response_header(resp, "X-Go-Pprof", "1");
	if (r.location)
		MHD_add_response_header(resp, "Location", r.location);
	ret = MHD_queue_response(c, r.status, resp);
	MHD_destroy_response(resp);
	if (!quiet)
		fprintf(stderr, "cprof: serve: %s %s%s%s%s%s -> %u, %zu bytes, %.3fs\n",
			method, url, seconds ? " seconds=" : "", seconds ?: "",
			debug ? " debug=" : "", debug ?: "", r.status, r.len,
			(now_ns() - t0) / 1e9);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn *cn = *con_cls;

	if (cn) {
		free(cn->body);
		free(cn);
		*con_cls = NULL;
	}
}

/* ---- listening ------------------------------------------------------ */

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return sa->sa_family == AF_UNIX;
}

/*
 * Bind ADDR; print where (for people and for tests: port 0).  The fd, or
 * -1 (reported), or -2: a non-loopback address without --allow-remote.
 */
static int listen_on(const char *addr, bool allow_remote, int *family)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[32], shown[300];
	const char *colon;
	int fd = -1, one = 1, err;

	if (!strncmp(addr, "unix:", 5)) {
		struct sockaddr_un un = { .sun_family = AF_UNIX };
		struct stat st;

		if (strlen(addr + 5) >= sizeof(un.sun_path) || !addr[5])
			return error("serve: --listen %s: not a socket path", addr);
		strcpy(un.sun_path, addr + 5);
		/* a stale socket of an earlier server, never another file */
		if (!lstat(un.sun_path, &st) && S_ISSOCK(st.st_mode))
			unlink(un.sun_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
		    chmod(un.sun_path, 0600) < 0 || listen(fd, 64) < 0) {
			err = errno;
			if (fd >= 0)
				close(fd);
			return error("serve: listen on %s: %s", un.sun_path, strerror(err));
		}
		*family = AF_UNIX;
		printf("serving unix:%s\n", un.sun_path);
		fflush(stdout);
		return fd;
	}
	colon = strrchr(addr, ':');
	if (!colon || colon == addr || !colon[1] || (size_t)(colon - addr) >= sizeof(host))
		return error("serve: --listen %s: give HOST:PORT, [IPV6]:PORT or unix:PATH", addr);
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	err = getaddrinfo(host, port, &hints, &ai);
	if (err)
		return error("serve: --listen %s: %s", addr, gai_strerror(err));
	if (!is_loopback(ai->ai_addr) && !allow_remote) {
		freeaddrinfo(ai);
		error("serve: --listen %s is not a loopback address: whoever reaches it can read "
		      "every stack of the process; add --allow-remote if that is meant", addr);
		return -2;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		err = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return error("serve: listen on %s: %s", addr, strerror(err));
	}
	*family = ai->ai_family;
	freeaddrinfo(ai);
	getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(shown, sizeof(shown), *family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
	/* the one line a script (or a test) reads to learn the port */
	printf("serving http://%s/debug/pprof/\n", shown);
	fflush(stdout);
	return fd;
}

/* ---- the command ---------------------------------------------------- */

static int parse_args(int argc, char **argv, struct serve_args *a)
{
	enum {
		OPT_PID_FILE = OPT_FIRST_OWN, OPT_EXE, OPT_COMM, OPT_LISTEN,
		OPT_ALLOW_REMOTE, OPT_MAX_SECONDS, OPT_WINDOW, OPT_MAX_CONNS,
		OPT_TIMEOUT,
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
		{ "freq", required_argument, NULL, 'F' },
		{ "quiet", no_argument, NULL, 'q' },
		{ 0 },
	};
	int c, r, nsources;

	*a = (struct serve_args){
		.listen = "127.0.0.1:6060", .max_seconds = 120, .hz = 99,
		.max_conns = 32, .window_ns = 5000000000ULL,
		.timeout_ns = 10000000000ULL,
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
	unsigned flags;

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
	lfd = listen_on(a->listen, a->allow_remote, &family);
	if (lfd < 0) {
		close(sfd);
		free(srv.exe_real);
		return lfd == -2 ? CPROF_EXIT_USAGE : CPROF_EXIT_FAILURE;
	}
	flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_POLL | MHD_USE_ITC;
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
			     MHD_OPTION_LISTEN_SOCKET, lfd,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)a->max_conns,
			     MHD_OPTION_CONNECTION_TIMEOUT,
			     (unsigned)(a->timeout_ns / 1000000000ULL),
			     /* request line and headers: 32 KiB at most */
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			     MHD_OPTION_END);
	if (!d) {
		close(lfd);
		close(sfd);
		free(srv.exe_real);
		return error("serve: libmicrohttpd could not start"), CPROF_EXIT_FAILURE;
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
