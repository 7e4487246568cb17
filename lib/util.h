/*
 * lib/util.h - errors, allocation, hashing and clocks shared by every layer.
 *
 * Contract: die() and the x*alloc() family never return on failure (they
 * exit with CPROF_EXIT_FAILURE); everything else returns and lets the
 * caller decide.  error() prints and returns -1 so it can end a statement:
 * `return error("open %s: %s", path, strerror(errno));`.  Only cmd/ may
 * call die(); lower layers return -1 or -errno.
 */
#ifndef CPROF_UTIL_H
#define CPROF_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#define CPROF_VERSION "0.1.0"

/* Exit codes: stable, documented in --help, README and man/cprof.1. */
enum cprof_exit {
	CPROF_EXIT_OK = 0,
	CPROF_EXIT_FAILURE = 1,	/* nothing useful was written */
	CPROF_EXIT_USAGE = 2,	/* bad command line */
	CPROF_EXIT_PARTIAL = 3,	/* profile written, but some part was lost */
	CPROF_EXIT_SLOWER = 4,	/* cprof diff: a function grew past the gate */
};

extern int verbose;		/* -v count */
extern bool quiet;		/* -q */

void die(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define BUG(...) bug_at(__FILE__, __LINE__, __VA_ARGS__)
void bug_at(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow *p (an array of *alloc elements of size elem) to hold at least need. */
void grow_array(void **p, size_t *alloc, size_t need, size_t elem);
#define GROW(arr, alloc, need) \
	grow_array((void **)&(arr), &(alloc), (need), sizeof(*(arr)))

static inline uint64_t hash_bytes(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	/* FNV-1a, 64 bit: small, good enough for stack and string keys. */
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
#define HASH_INIT 0xcbf29ce484222325ULL

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Read a whole small file (procfs) into buf, NUL-terminated; -errno. */
ssize_t read_file(const char *path, char *buf, size_t size);

/* "a, b or c" (free()); for messages that list what is accepted. */
char *list_words(const char *const *words, size_t n);

/* Parse "500ms", "10s", "2m", "1h", "1.5s"; a bare number is seconds. */
int parse_duration(const char *s, uint64_t *ns);

/* Parse a whole decimal number in [min, max]. */
int parse_long(const char *s, long min, long max, long *out);

#endif
