/*
 * cmd/serveendpoints.c - Go's /debug/pprof/ paths: a profile (recorded or
 * a snapshot, as the type table says), cmdline, symbol and the index.
 */
#define _GNU_SOURCE
#include "serve.h"
#include "../attach/procfs.h"
#include "../lib/util.h"
#include "../profiles/httpreq.h"
#include "../symbolize/maps.h"
#include "../symbolize/symbolize.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void serve_profile(pid_t pid, const struct http_req *q, struct reply *r)
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
void serve_cmdline(pid_t pid, struct reply *r)
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
void serve_symbol(pid_t pid, const char *body, size_t len, struct reply *r)
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
void serve_index(pid_t pid, pid_t asked, struct reply *r)
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
	/* how long each records without ?seconds=, from the table */
	fprintf(f, "?seconds=N records N seconds (the delta_ paths alike); without it:");
	for (size_t i = 0, n = 0; i < nprofile_types; i++) {
		const struct profile_type *pt = &profile_types[i];

		if (pt->arg || !pt->mode)
			continue;
		fprintf(f, "%s %s", n++ ? "," : "", pt->go_name ? pt->go_name : pt->name);
		if (pt->go_name)
			fprintf(f, " (%s)", pt->name);
		fprintf(f, " %.3gs", pt->go_seconds ? pt->go_seconds : srv.a.window_ns / 1e9);
	}
	for (size_t i = 0; i < nprofile_types; i++) {
		const struct profile_type *pt = &profile_types[i];

		if (!pt->mode)
			fprintf(f, "; %s%s%s are a snapshot", pt->name, pt->go_alias ? " and " : "",
				pt->go_alias ? pt->go_alias : "");
	}
	fprintf(f, ".</p>\n");
	npids = serve_targets(pids, &why);
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
