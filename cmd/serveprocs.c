/*
 * cmd/serveprocs.c - which processes cprof serve profiles: -p's, the one
 * --pid-file names, or every one running --exe or called --comm, resolved
 * again at each request so that a restarted service is followed.
 */
#define _GNU_SOURCE
#include "serve.h"
#include "../attach/procfs.h"
#include "../lib/util.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool serve_pid_alive(pid_t pid)
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
		if (serve_pid_alive((pid_t)pid))
			out[n++] = (pid_t)pid;
	}
	closedir(d);
	qsort(out, n, sizeof(*out), cmp_pid);
	return n;
}

size_t serve_targets(pid_t *out, char **why)
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
		if (!serve_pid_alive((pid_t)pid)) {
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
			if (serve_pid_alive(srv.a.pids[i]))
				out[n++] = srv.a.pids[i];
		if (!n)
			*why = srv.a.npids == 1 ?
			       xasprintf("process %d has exited", srv.a.pids[0]) :
			       xasprintf("every process served has exited");
	}
	return n;
}

pid_t serve_resolve(pid_t asked, struct reply *r)
{
	pid_t pids[MAX_PIDS];
	char *why;
	size_t n = serve_targets(pids, &why);

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
