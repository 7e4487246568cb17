/*
 * tests/fuzz/http_fuzz.c - libFuzzer harness for what cprof serve parses
 * of a request (profiles/httpreq.c): the first line of an input is a
 * request target ("/debug/pprof/block?seconds=5&debug=1"), split and
 * percent-decoded as libmicrohttpd does before it reaches serve; the rest
 * is a /symbol body.  Checks the parse's promises: a profile's name is a
 * string without '/', seconds within the cap, a 400 has a message.
 */
#define _GNU_SOURCE
#include "../../profiles/httpreq.h"

#include <microhttpd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SECONDS 120

static void count(uint64_t addr, void *arg)
{
	if (!addr)
		__builtin_trap();	/* Go skips 0: so must we */
	++*(size_t *)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t ulen = nl ? (size_t)(nl - (const char *)data) : size;
	char *uri = strndup((const char *)data, ulen), *q, *save, *kv;
	const char *seconds = NULL, *debug = NULL;
	struct http_req r;
	size_t n = 0, got;

	if (!uri)
		return 0;
	q = strchr(uri, '?');
	if (q)
		*q++ = '\0';
	MHD_http_unescape(uri);
	for (kv = q ? strtok_r(q, "&", &save) : NULL; kv; kv = strtok_r(NULL, "&", &save)) {
		char *v = strchr(kv, '=');

		if (v)
			*v++ = '\0';
		MHD_http_unescape(kv);
		if (v)
			MHD_http_unescape(v);
		if (!strcmp(kv, "seconds"))
			seconds = v ? v : "";
		else if (!strcmp(kv, "debug"))
			debug = v ? v : "";
	}
	http_req_parse(&r, uri, seconds, debug, MAX_SECONDS);
	if (r.kind == HREQ_PROFILE &&
	    (strnlen(r.name, HREQ_NAME_MAX) >= HREQ_NAME_MAX || strchr(r.name, '/') ||
	     r.seconds < 0 || r.seconds > MAX_SECONDS))
		__builtin_trap();
	if (r.kind == HREQ_BAD && !r.message)
		__builtin_trap();
	if (r.pid < 0)
		__builtin_trap();
	if (nl) {
		got = http_symbol_addrs(nl + 1, size - ulen - 1, count, &n);
		if (got != n)
			__builtin_trap();
	}
	free(uri);
	return 0;
}
