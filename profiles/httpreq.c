/*
 * profiles/httpreq.c - Go's /debug/pprof request forms, parsed (see
 * profiles/httpreq.h), with Go's error texts so that clients written for
 * Go's handler read ours.
 */
#define _GNU_SOURCE
#include "httpreq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PPROF_DIR "/debug/pprof"

/* A whole decimal number, optional sign, as strconv.Atoi takes it. */
static bool atoi_go(const char *s, long *out)
{
	char *end;
	long v;

	if (!s || !*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* "/pid/N" in front of the Go paths: N, and where the rest begins. */
static const char *pid_prefix(const char *path, pid_t *pid)
{
	const char *p = path + 5;
	long v = 0;

	if (strncmp(path, "/pid/", 5) || *p < '1' || *p > '9')
		return path;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > 0x3fffffff)	/* above any pid_max */
			return path;
	}
	if (*p != '/')
		return path;
	*pid = (pid_t)v;
	return p;
}

void http_req_parse(struct http_req *r, const char *path, const char *seconds,
		    const char *debug, long max_seconds)
{
	const char *rest, *name;
	long v;

	*r = (struct http_req){ .kind = HREQ_NOT_FOUND };
	if (!path)
		return;
	rest = pid_prefix(path, &r->pid);
	if (strncmp(rest, PPROF_DIR, strlen(PPROF_DIR)))
		return;
	rest += strlen(PPROF_DIR);
	if (!*rest) {
		r->kind = HREQ_REDIRECT;
		return;
	}
	if (*rest != '/')
		return;
	name = rest + 1;
	if (!atoi_go(debug, &r->debug))
		r->debug = 0;
	if (!*name) {
		r->kind = HREQ_INDEX;
		return;
	}
	if (!strcmp(name, "cmdline")) {
		r->kind = HREQ_CMDLINE;
		return;
	}
	if (!strcmp(name, "symbol")) {
		r->kind = HREQ_SYMBOL;
		return;
	}
	r->kind = HREQ_PROFILE;
	if (!strncmp(name, "delta_", 6) && name[6]) {
		r->delta = true;
		name += 6;
	}
	/* too long or with a slash: no profile has that name (404 later) */
	snprintf(r->name, sizeof(r->name), "%s", strlen(name) < sizeof(r->name) &&
		 !strchr(name, '/') ? name : "?");
	if (seconds && *seconds) {
		if (!atoi_go(seconds, &v) || v <= 0) {
			r->kind = HREQ_BAD;
			r->message = "invalid value for \"seconds\" - must be a positive integer";
			return;
		}
		if (v > max_seconds) {
			r->kind = HREQ_BAD;
			r->message = "profile duration exceeds the server's limit (cprof serve --max-seconds)";
			return;
		}
		r->seconds = v;
	}
}

size_t http_symbol_addrs(const char *body, size_t len,
			 void (*fn)(uint64_t addr, void *arg), void *arg)
{
	size_t n = 0, i = 0;

	while (i <= len) {
		size_t j = i;
		char word[32];

		while (j < len && body[j] != '+')
			j++;
		if (j - i > 0 && j - i < sizeof(word)) {
			char *end = word;
			unsigned long long v;

			memcpy(word, body + i, j - i);
			word[j - i] = '\0';
			errno = 0;
			/* base 0 as ParseUint's: 0x hex, leading 0 octal */
			v = word[0] >= '0' && word[0] <= '9' ?
			    strtoull(word, &end, 0) : 0;
			if (!errno && !*end && v) {
				fn(v, arg);
				n++;
			}
		}
		i = j + 1;
	}
	return n;
}
