/*
 * profiles/httpreq.h - the requests Go's net/http/pprof answers, parsed:
 * a URL path (and its `seconds` and `debug` arguments, as the HTTP
 * library decoded them) into what `cprof serve` makes, or into Go's error
 * for it.  Pure functions, no I/O: fuzzed by tests/fuzz/http_fuzz.c.
 *
 * Paths: /debug/pprof/ (index), /debug/pprof/NAME, and the same under
 * /pid/N (one of several processes a server follows).  NAME is returned
 * as asked, without a "delta_" prefix (Alloy's godeltaprof paths), which
 * sets delta; which names are profiles is the caller's table.
 */
#ifndef CPROF_HTTPREQ_H
#define CPROF_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum http_req_kind {
	HREQ_NOT_FOUND,		/* not under /debug/pprof: 404 page not found */
	HREQ_REDIRECT,		/* /debug/pprof without its slash: 301 to it */
	HREQ_INDEX,
	HREQ_CMDLINE,
	HREQ_SYMBOL,
	HREQ_PROFILE,		/* name, seconds, debug */
	HREQ_BAD,		/* 400: message says why (Go's words) */
};

#define HREQ_NAME_MAX 64

struct http_req {
	enum http_req_kind kind;
	pid_t pid;		/* from /pid/N/, or 0: the default process */
	char name[HREQ_NAME_MAX];	/* the profile, "delta_" taken off */
	bool delta;		/* it had "delta_" */
	long seconds;		/* 0: not given */
	long debug;		/* 0 when absent or not a number (as Go) */
	const char *message;	/* HREQ_BAD */
};

/*
 * Parse path and the two arguments (NULL: absent).  seconds above
 * max_seconds is HREQ_BAD.  Never fails otherwise: anything else is one
 * of the kinds above.
 */
void http_req_parse(struct http_req *r, const char *path, const char *seconds,
		    const char *debug, long max_seconds);

/*
 * Go's /debug/pprof/symbol body (or GET query): addresses separated by
 * '+', each as strconv.ParseUint(s, 0, 64) reads it (0x hex, 0 octal,
 * decimal); words that are not one, or are 0, are skipped, as Go skips
 * them.  fn is called for each address in order.  Returns how many.
 */
size_t http_symbol_addrs(const char *body, size_t len,
			 void (*fn)(uint64_t addr, void *arg), void *arg);

#endif
