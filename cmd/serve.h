/*
 * cmd/serve.h - the parts of `cprof serve` (see cmd/serve.c), one file
 * each: which processes are served (cmd/serveprocs.c), the one tracer a
 * process may have and the recordings requests share
 * (cmd/servesession.c), Go's endpoints (cmd/serveendpoints.c), and HTTP
 * and listening (cmd/servehttp.c).  All run on libmicrohttpd's connection
 * threads but cmd_serve itself; what they share is srv, under srv.mu.
 */
#ifndef CPROF_SERVE_H
#define CPROF_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cmd.h"

#define MAX_PIDS 64		/* processes one server follows */
#define MAX_SYMBOL_BODY (1 << 20)	/* POST /symbol: 1 MiB of addresses */

struct http_req;
struct MHD_Daemon;

struct serve_args {
	struct common_args c;
	pid_t pids[MAX_PIDS];
	size_t npids;
	const char *pid_file, *exe, *comm;
	const char *listen;
	bool allow_remote;
	long max_seconds, hz, max_conns;
	uint64_t window_ns, timeout_ns;
	double max_overhead;	/* percent */
};

/* The server's state: its arguments, and whether it is stopping. */
struct serve_state {
	struct serve_args a;
	pthread_mutex_t mu;	/* the slots (cmd/servesession.c), stopping */
	pthread_cond_t cv;	/* a slot was freed, or serve is stopping */
	bool stopping;
	atomic_bool cancel;	/* recordings end now: serve is stopping */
	char *exe_real;		/* --exe, resolved */
};
extern struct serve_state srv;

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

/* Go's serveError: a status and one line of plain text. */
void reply_text(struct reply *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* cmd/serveprocs.c: is pid a live process (not a thread, not a zombie)? */
bool serve_pid_alive(pid_t pid);
/* The processes served now, the default one first; 0 and why in *why
 * (malloc'ed) when there is none. */
size_t serve_targets(pid_t *out, char **why);
/* The process a request is for (asked: from /pid/N/, or 0), or 0 with r set. */
pid_t serve_resolve(pid_t asked, struct reply *r);

/* cmd/servesession.c: a recording of pt for secs seconds, shared with
 * requests for the same type; a snapshot (pt without a mode). */
void serve_recording(pid_t pid, const struct profile_type *pt, long secs,
		     const struct http_req *q, const char *command, struct reply *r);
void serve_snapshot(pid_t pid, const struct profile_type *pt,
		    const struct http_req *q, const char *command, struct reply *r);

/* cmd/serveendpoints.c: Go's /debug/pprof/ paths */
void serve_profile(pid_t pid, const struct http_req *q, struct reply *r);
void serve_cmdline(pid_t pid, struct reply *r);
void serve_symbol(pid_t pid, const char *body, size_t len, struct reply *r);
void serve_index(pid_t pid, pid_t asked, struct reply *r);

/* cmd/servehttp.c: bind ADDR and print where; the fd, or -1 (reported),
 * or -2: a non-loopback address without --allow-remote ... */
int serve_listen(const char *addr, bool allow_remote, int *family);
/* ... and answer on it, or NULL (reported) */
struct MHD_Daemon *serve_http_start(int lfd, int family);

#endif
