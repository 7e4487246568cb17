/*
 * cmd/servehttp.c - HTTP, as libmicrohttpd serves it (one thread per
 * connection): a request's body gathered, routed to its endpoint, the
 * answer queued with Go's headers, logged; and the socket it listens on.
 */
#define _GNU_SOURCE
#include "serve.h"
#include "../lib/util.h"
#include "../profiles/httpreq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

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
	pid = serve_resolve(q.pid, r);
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

struct MHD_Daemon *serve_http_start(int lfd, int family)
{
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_POLL | MHD_USE_ITC;
	struct MHD_Daemon *d;

	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
			     MHD_OPTION_LISTEN_SOCKET, lfd,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv.a.max_conns,
			     MHD_OPTION_CONNECTION_TIMEOUT,
			     (unsigned)(srv.a.timeout_ns / 1000000000ULL),
			     /* request line and headers: 32 KiB at most */
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			     MHD_OPTION_END);
	if (!d)
		error("serve: libmicrohttpd could not start");
	return d;
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

/* Bind ADDR; print where (for people and for tests: port 0). */
int serve_listen(const char *addr, bool allow_remote, int *family)
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
