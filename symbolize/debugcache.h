/*
 * symbolize/debugcache.h - keep a decompressed copy of compressed separate
 * debug files, by build-id, so that zlib runs once per file, not once per
 * cprof run (Debian's -dbg packages compress .debug_* sections; inflating
 * libc's took ~90 ms of every `cprof threads`).  Like perf's ~/.debug.
 *
 * The cache is $CPROF_CACHE_DIR, else $XDG_CACHE_HOME/cprof, else
 * ~/.cache/cprof; files are debug/BUILDID.debug.  CPROF_CACHE_DIR=off (or
 * an unwritable directory) turns it off: debug files are then read as
 * they are.  A copy is written to a temporary file and renamed, so a
 * reader never sees half of one.
 */
#ifndef CPROF_DEBUGCACHE_H
#define CPROF_DEBUGCACHE_H

#include <stddef.h>

/*
 * fd is an open debug file of the module with this build-id.  Returns fd
 * itself if its debug sections are not compressed (or on any trouble), or
 * a descriptor of the cached decompressed copy (fd is then closed),
 * making the copy first if there is none.
 */
int debugcache_open(int fd, const unsigned char *build_id, size_t len);

/*
 * The cached copy for this build-id, if there is one: its descriptor, and
 * its path in *path (malloc'd), else -1.
 */
int debugcache_find(const unsigned char *build_id, size_t len, char **path);

/* The cache directory in use, or NULL when off. */
const char *debugcache_dir(void);

#endif
