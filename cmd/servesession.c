/*
 * cmd/servesession.c - one tracer per process (a slot), and the recordings
 * requests for the same type share (a session); see cmd/serve.c.
 */
#define _GNU_SOURCE
#include "serve.h"
#include "view.h"
#include "../attach/procfs.h"
#include "../attach/sampler.h"
#include "../attach/snapshot.h"
#include "../lib/util.h"
#include "../profiles/builder.h"
#include "../profiles/format.h"
#include "../profiles/httpreq.h"
#include "../symbolize/symbolize.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A recording that requests for its type share (see cmd/serve.c). */
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

static struct slot slots[MAX_PIDS];	/* under srv.mu */

/* Under srv.mu.  NULL when MAX_PIDS processes are in use at once. */
static struct slot *slot_get(pid_t pid)
{
	struct slot *free_slot = NULL;

	for (size_t i = 0; i < MAX_PIDS; i++) {
		if (slots[i].pid == pid) {
			slots[i].users++;
			return &slots[i];
		}
		if (!slots[i].users && !free_slot)
			free_slot = &slots[i];
	}
	if (free_slot)
		*free_slot = (struct slot){ .pid = pid, .users = 1 };
	return free_slot;
}

/* srv.mu taken and pid's slot, or NULL (answered: too many processes) */
static struct slot *slot_lock(pid_t pid, struct reply *r)
{
	struct slot *sl;

	pthread_mutex_lock(&srv.mu);
	sl = slot_get(pid);
	if (!sl) {
		pthread_mutex_unlock(&srv.mu);
		reply_text(r, 503, "cprof: too many processes at once");
	}
	return sl;
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

	if (!serve_pid_alive(pid))
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
void serve_recording(pid_t pid, const struct profile_type *pt, long secs,
			    const struct http_req *q, const char *command,
			    struct reply *r)
{
	uint64_t deadline = now_ns() + (uint64_t)srv.a.max_seconds * 1000000000ULL;
	struct session *s = NULL;
	struct slot *sl;
	bool owner = false;

	sl = slot_lock(pid, r);
	if (!sl)
		return;
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
			/* probes cost the served process no more than record's default */
			.max_overhead = srv.a.max_overhead / 100,
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
void serve_snapshot(pid_t pid, const struct profile_type *pt,
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

	sl = slot_lock(pid, r);
	if (!sl)
		return;
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
