/*
 * profiles/output.c - temp file + rename, so a profile is never half-written.
 */
#define _GNU_SOURCE
#include "output.h"
#include "../lib/util.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int output_open(struct output *o, const char *path)
{
	char *copy = xstrdup(path), *dir = dirname(copy);
	struct stat st;

	*o = (struct output){ .fd = -1 };
	if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
		free(copy);
		return error("output %s: Is a directory", path);
	}
	o->path = xstrdup(path);
	o->tmp = xasprintf("%s/.cprof-out.XXXXXX", dir);
	free(copy);
	o->fd = mkstemp(o->tmp);
	if (o->fd < 0) {
		int err = errno;

		error("output %s: cannot create a file in its directory: %s",
		      path, strerror(err));
		free(o->tmp);
		free(o->path);
		*o = (struct output){ .fd = -1 };
		return -1;
	}
	fchmod(o->fd, 0644 & ~umask(umask(0)));
	return 0;
}

int output_write(struct output *o, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(o->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return error("write %s: %s", o->tmp, strerror(errno ? errno : EIO));
		p += n;
		len -= n;
	}
	return 0;
}

int output_commit(struct output *o)
{
	int ret = 0;

	if (close(o->fd) < 0)
		ret = error("close %s: %s", o->tmp, strerror(errno));
	o->fd = -1;
	if (!ret && rename(o->tmp, o->path) < 0)
		ret = error("rename %s to %s: %s", o->tmp, o->path, strerror(errno));
	if (ret)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
	return ret;
}

void output_abort(struct output *o)
{
	if (o->fd >= 0)
		close(o->fd);
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	*o = (struct output){ .fd = -1 };
}

int output_render(struct output *o, int (*fn)(FILE *f, void *arg), void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int ret;

	if (!f) {
		output_abort(o);
		return error("open_memstream: %s", strerror(errno));
	}
	ret = fn(f, arg);
	if (ferror(f) | fclose(f) || ret) {
		error("%s: cannot format the output", o->path);
		output_abort(o);
		free(buf);
		return -1;
	}
	ret = output_write(o, buf, len);
	free(buf);
	if (ret) {
		output_abort(o);
		return -1;
	}
	return output_commit(o);
}
