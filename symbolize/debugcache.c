/*
 * symbolize/debugcache.c - decompressed copies of debug files, by build-id.
 */
#define _GNU_SOURCE
#include "debugcache.h"
#include "../lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *debugcache_dir(void)
{
	static char dir[PATH_MAX];
	static int state;	/* 0 unknown, 1 on, -1 off */
	const char *env = getenv("CPROF_CACHE_DIR"), *base;

	if (state)
		return state > 0 ? dir : NULL;
	state = -1;
	if (env && (!*env || !strcmp(env, "off") || !strcmp(env, "0")))
		return NULL;
	if (env)
		snprintf(dir, sizeof(dir), "%s", env);
	else if ((base = getenv("XDG_CACHE_HOME")) && *base)
		snprintf(dir, sizeof(dir), "%s/cprof", base);
	else if ((base = getenv("HOME")) && *base)
		snprintf(dir, sizeof(dir), "%s/.cache/cprof", base);
	else
		return NULL;
	state = 1;
	return dir;
}

/* Any .debug_* section compressed (SHF_COMPRESSED, or a GNU .zdebug_*)? */
static bool has_compressed_debug(Elf *e)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(e, &shstrndx))
		return false;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(e, shstrndx, sh.sh_name)))
			continue;
		if (!strncmp(name, ".zdebug", 7) ||
		    (!strncmp(name, ".debug", 6) && (sh.sh_flags & SHF_COMPRESSED)))
			return true;
	}
	return false;
}

static int mkdirs(const char *path)
{
	char buf[PATH_MAX + 64];

	if (strlen(path) >= sizeof(buf))
		return -1;
	memcpy(buf, path, strlen(path) + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

/* Read back what was written: the same sections, types and sizes? */
static int same_sections(Elf *in, int ofd)
{
	Elf *back = elf_begin(ofd, ELF_C_READ, NULL);
	size_t n1, n2;
	Elf_Scn *a = NULL, *b = NULL;
	int ret = -1;

	if (!back || elf_getshdrnum(in, &n1) || elf_getshdrnum(back, &n2) || n1 != n2)
		goto done;
	while ((a = elf_nextscn(in, a))) {
		GElf_Shdr x, y;

		if (!(b = elf_nextscn(back, b)) || !gelf_getshdr(a, &x) || !gelf_getshdr(b, &y) ||
		    x.sh_type != y.sh_type || x.sh_size != y.sh_size || x.sh_name != y.sh_name ||
		    (y.sh_flags & SHF_COMPRESSED)) {
			debug("debug cache: section %zu differs after writing", elf_ndxscn(a));
			goto done;
		}
	}
	ret = 0;
done:
	if (back)
		elf_end(back);
	return ret;
}

/*
 * Write in's sections, decompressed, as a new ELF file on ofd: at most
 * max(64 x the file, 64 MiB) and 2 GiB in all (a corrupt file could ask
 * for anything).
 */
#define MAX_COPY (2ULL << 30)

static int write_decompressed(Elf *in, int ofd, uint64_t in_size)
{
	uint64_t budget = in_size * 64 > (64ULL << 20) ? in_size * 64 : (64ULL << 20), limit;
	GElf_Ehdr eh;
	size_t phnum, shstrndx;
	Elf_Scn *scn = NULL;
	Elf *out;
	int ret = -1;

	if (budget > MAX_COPY)
		budget = MAX_COPY;
	limit = budget;
	if (!gelf_getehdr(in, &eh) || elf_getphdrnum(in, &phnum) ||
	    elf_getshdrstrndx(in, &shstrndx))
		return -1;
	out = elf_begin(ofd, ELF_C_WRITE, NULL);
	if (!out || !gelf_newehdr(out, gelf_getclass(in)))
		goto done;
	if (phnum && !gelf_newphdr(out, phnum))
		goto done;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(in, (int)i, &ph) || !gelf_update_phdr(out, (int)i, &ph))
			goto done;
	}
	while ((scn = elf_nextscn(in, scn))) {
		const char *name;
		GElf_Shdr sh;
		Elf_Scn *oscn;
		Elf_Data *d, *od;

		if (!gelf_getshdr(scn, &sh))
			goto done;
		name = elf_strptr(in, shstrndx, sh.sh_name);
		if (sh.sh_flags & SHF_COMPRESSED) {
			GElf_Chdr ch;

			/* a corrupt header may claim any size: bound the total */
			if (!gelf_getchdr(scn, &ch) || ch.ch_size > budget)
				goto done;
			budget -= ch.ch_size;
			if (elf_compress(scn, 0, 0) < 0)
				goto done;
		} else if (name && !strncmp(name, ".zdebug", 7)) {
			/* the section keeps its .zdebug name; libdw reads either */
			if (elf_compress_gnu(scn, 0, 0) < 0)
				goto done;
		}
		if (!gelf_getshdr(scn, &sh) || !(oscn = elf_newscn(out)) ||
		    !gelf_update_shdr(oscn, &sh))
			goto done;
		if (sh.sh_type != SHT_NOBITS && !(sh.sh_flags & SHF_COMPRESSED)) {
			if (sh.sh_size > budget)
				goto done;
			budget -= sh.sh_size;
		}
		if (sh.sh_type == SHT_NOBITS) {
			/* no bytes, but its size must stay (libelf takes it from the data) */
			od = elf_newdata(oscn);
			if (!od)
				goto done;
			od->d_type = ELF_T_BYTE;
			od->d_size = sh.sh_size;
			od->d_align = sh.sh_addralign ? sh.sh_addralign : 1;
			od->d_version = EV_CURRENT;
			continue;
		}
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		od = elf_newdata(oscn);
		if (!od)
			goto done;
		*od = *d;
	}
	eh.e_shstrndx = (GElf_Half)(shstrndx < SHN_LORESERVE ? shstrndx : SHN_XINDEX);
	if (!gelf_update_ehdr(out, &eh))
		goto done;
	/* the layout first: a corrupt alignment can spread it over gigabytes */
	off_t len = elf_update(out, ELF_C_NULL);

	if (len < 0 || (uint64_t)len > limit || elf_update(out, ELF_C_WRITE) < 0)
		goto done;
	ret = 0;
done:
	if (out)
		elf_end(out);
	if (!ret)
		ret = same_sections(in, ofd);
	if (ret)
		debug("debug cache: %s", elf_errmsg(-1));
	return ret;
}

static bool cache_path(const unsigned char *build_id, size_t len, char *path,
		       size_t size, char *hex)
{
	const char *dir = debugcache_dir();

	if (!dir || !build_id || len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", build_id[i]);
	snprintf(path, size, "%s/debug/%s.debug", dir, hex);
	return true;
}

int debugcache_find(const unsigned char *build_id, size_t len, char **path)
{
	char p[PATH_MAX + 64], hex[2 * 64 + 1];
	int fd;

	if (!cache_path(build_id, len, p, sizeof(p), hex))
		return -1;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		*path = xstrdup(p);
	return fd;
}

int debugcache_open(int fd, const unsigned char *build_id, size_t len)
{
	char path[PATH_MAX + 64], tmp[PATH_MAX + 80], hex[2 * 64 + 1];
	const char *dir = debugcache_dir();
	Elf *in;
	int cfd, ofd;

	if (!cache_path(build_id, len, path, sizeof(path), hex))
		return fd;
	cfd = open(path, O_RDONLY | O_CLOEXEC);
	if (cfd >= 0) {
		close(fd);
		return cfd;
	}
	elf_version(EV_CURRENT);
	in = elf_begin(fd, ELF_C_READ, NULL);
	if (!in || elf_kind(in) != ELF_K_ELF || !has_compressed_debug(in)) {
		if (in)
			elf_end(in);
		return fd;
	}
	snprintf(tmp, sizeof(tmp), "%s/debug", dir);
	if (mkdirs(tmp)) {
		elf_end(in);
		return fd;
	}
	snprintf(tmp, sizeof(tmp), "%s/debug/.%s.XXXXXX", dir, hex);
	ofd = mkostemp(tmp, O_CLOEXEC);
	if (ofd < 0) {
		elf_end(in);
		return fd;
	}
	struct stat st;

	if (fstat(fd, &st) || write_decompressed(in, ofd, (uint64_t)st.st_size) ||
	    fchmod(ofd, 0644) || rename(tmp, path)) {
		unlink(tmp);
		close(ofd);
		elf_end(in);
		return fd;
	}
	elf_end(in);
	close(ofd);
	debug("debug cache: wrote %s", path);
	cfd = open(path, O_RDONLY | O_CLOEXEC);
	if (cfd < 0)
		return fd;
	close(fd);
	return cfd;
}
