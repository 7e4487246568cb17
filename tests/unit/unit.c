/*
 * tests/unit/unit.c - table-driven unit tests ("input -> want"), TAP output.
 */
#define _GNU_SOURCE
#include "../../attach/capture.h"
#include "../../attach/procfs.h"
#include "../../attach/snapshot.h"
#include "../../profiles/text.h"
#include "../../lib/u64map.h"
#include "../../lib/util.h"
#include "../../profiles/builder.h"
#include "../../profiles/httpreq.h"
#include "../../profiles/lockwait.h"
#include "../../attach/offcpu.h"
#include "../../attach/sampler.h"
#include "../../attach/uprobe.h"
#include "../../attach/sdt.h"
#include "../../attach/probecost.h"
#include "../../attach/perfev.h"
#include "../../cmd/cmd.h"
#include "../../profiles/pprof.h"
#include "../../symbolize/maps.h"
#include "../../symbolize/symbolize.h"
#include "../../symbolize/symindex.h"
#include "../../symbolize/tailcall.h"

#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <elfutils/libdwfl.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <gelf.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static int n, failed;

static void ok(int cond, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failed += !cond;
}

static void test_parse_duration(void)
{
	static const struct {
		const char *in;
		int ret;
		uint64_t want;
	} cases[] = {
		{ "500ms", 0, 500000000ULL }, { "10s", 0, 10000000000ULL },
		{ "2m", 0, 120000000000ULL }, { "1h", 0, 3600000000000ULL },
		{ "1.5s", 0, 1500000000ULL }, { "3", 0, 3000000000ULL },
		{ "250us", 0, 250000ULL }, { "abc", -1, 0 }, { "", -1, 0 },
		{ "-1s", -1, 0 }, { "0", -1, 0 }, { "10x", -1, 0 },
		{ "1e30s", -1, 0 }, { "nan", -1, 0 }, { "s", -1, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t got = 0;
		int ret = parse_duration(cases[i].in, &got);

		ok(ret == cases[i].ret && (ret || got == cases[i].want),
		   "parse_duration(\"%s\") -> %d %llu", cases[i].in, ret,
		   (unsigned long long)got);
	}
}

static void test_parse_long(void)
{
	static const struct {
		const char *in;
		int ret;
		long want;
	} cases[] = {
		{ "99", 0, 99 }, { "1", 0, 1 }, { "10000", 0, 10000 },
		{ "0", -1, 0 }, { "-5", -1, 0 }, { "100000", -1, 0 },
		{ "12a", -1, 0 }, { "", -1, 0 }, { " 5", 0, 5 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long got = 0;
		int ret = parse_long(cases[i].in, 1, 10000, &got);

		ok(ret == cases[i].ret && (ret || got == cases[i].want),
		   "parse_long(\"%s\", 1, 10000) -> %d %ld", cases[i].in, ret, got);
	}
}

static void test_maps_line(void)
{
	uint64_t start, end, off, ino;
	unsigned prot, maj, min;
	const char *name;

	ok(!maps_parse_line("7f0a1000-7f0a3000 r-xp 00002000 08:01 1234   /usr/lib/libc.so.6",
			    &start, &end, &prot, &off, &maj, &min, &ino, &name) &&
	   start == 0x7f0a1000 && end == 0x7f0a3000 && prot == (MAP_R | MAP_X) &&
	   off == 0x2000 && maj == 8 && min == 1 && ino == 1234 &&
	   !strcmp(name, "/usr/lib/libc.so.6"), "maps line: file mapping");
	ok(!maps_parse_line("7ffc1000-7ffc2000 rw-p 00000000 00:00 0                          [stack]",
			    &start, &end, &prot, &off, &maj, &min, &ino, &name) &&
	   prot == (MAP_R | MAP_W) && ino == 0 && !strcmp(name, "[stack]"),
	   "maps line: [stack]");
	ok(!maps_parse_line("1000-2000 ---p 00000000 00:00 0", &start, &end, &prot,
			    &off, &maj, &min, &ino, &name) && prot == 0 && !*name,
	   "maps line: anonymous, no name");
	ok(!maps_parse_line("1000-2000 r--p 00000000 fd:00 42 /tmp/a b (deleted)", &start,
			    &end, &prot, &off, &maj, &min, &ino, &name) &&
	   !strcmp(name, "/tmp/a b (deleted)"), "maps line: spaces in the path");
	ok(maps_parse_line("garbage", &start, &end, &prot, &off, &maj, &min, &ino, &name) < 0,
	   "maps line: garbage rejected");
	ok(maps_parse_line("2000-1000 r--p 0 0:0 0", &start, &end, &prot, &off, &maj,
			   &min, &ino, &name) < 0, "maps line: end before start rejected");

	struct mapping v[] = { { .start = 0x1000, .end = 0x2000 },
			       { .start = 0x3000, .end = 0x5000 },
			       { .start = 0x5000, .end = 0x6000 } };
	struct maps m = { .v = v, .n = 3 };

	ok(maps_find(&m, 0x1000) == &v[0] && maps_find(&m, 0x1fff) == &v[0] &&
	   maps_find(&m, 0x2000) == NULL && maps_find(&m, 0x4fff) == &v[1] &&
	   maps_find(&m, 0x5000) == &v[2] && maps_find(&m, 0x6000) == NULL &&
	   maps_find(&m, 0) == NULL, "maps_find: bounds are [start, end)");
}

static void test_stat_state(void)
{
	static const struct {
		const char *line;
		char state;
		uint64_t utime, stime;
	} cases[] = {
		{ "123 (burn) R 1 2 3 4 5 6 7 8 9 10 111 222 0 0", 'R', 111, 222 },
		{ "123 (a b) S 1 2 3 4 5 6 7 8 9 10 1 2", 'S', 1, 2 },
		{ "123 (x) (y)) D 1 2 3 4 5 6 7 8 9 10 5 6", 'D', 5, 6 },
		{ "123 ()) T 1 2 3 4 5 6 7 8 9 10 0 0", 'T', 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char st = 0;
		uint64_t ut = 0, sy = 0;
		int ret = proc_parse_stat_state(cases[i].line, &st, &ut, &sy);

		ok(!ret && st == cases[i].state && ut == cases[i].utime &&
		   sy == cases[i].stime, "stat state: \"%s\" -> %c", cases[i].line, st);
	}
	ok(proc_parse_stat_state("no paren", &(char){ 0 }, NULL, NULL) < 0,
	   "stat state: malformed rejected");
}

static void test_syscall_file(void)
{
	struct proc_syscall sc;

	ok(!proc_parse_syscall("0 0x3 0x7ffd1000 0x8 0x0 0x0 0x0 0x7ffd0ff8 0x7f00123\n", &sc) &&
	   sc.nr == 0 && sc.args[0] == 3 && sc.args[1] == 0x7ffd1000 && sc.args[2] == 8 &&
	   sc.sp == 0x7ffd0ff8 && sc.pc == 0x7f00123, "syscall file: read(3, buf, 8) with sp and pc");
	ok(!proc_parse_syscall("running\n", &sc) && sc.nr == PROC_SYSCALL_RUNNING,
	   "syscall file: running");
	ok(!proc_parse_syscall("-1 0x7ffd0ff8 0x401000\n", &sc) && sc.nr == -1 &&
	   sc.sp == 0x7ffd0ff8 && sc.pc == 0x401000, "syscall file: blocked outside a call");
	ok(proc_parse_syscall("202 0x1\n", &sc) < 0 && proc_parse_syscall("", &sc) < 0,
	   "syscall file: truncated lines rejected");
	ok(offcpu_label('S', 0) != offcpu_label('S', 1) && offcpu_label('S', 7) != offcpu_label('D', 7) &&
	   (offcpu_label('R', -1) & 0xffff) == 0 && offcpu_label('S', 202) >> 16 == 'S' &&
	   (offcpu_label('S', 202) & 0xffff) == 203, "offcpu label: state and syscall packed apart");
}

static void test_lock_verdict(void)
{
	static const struct {
		const char *name;
		int want;
	} cases[] = {
		{ "___pthread_mutex_lock", 1 }, { "__GI___lll_lock_wait", 1 },
		{ "__pthread_mutex_cond_lock", 1 }, { "___pthread_rwlock_wrlock", 1 },
		{ "std::mutex::lock", 1 }, { "std::sys::sync::mutex::futex::Mutex::lock_contended", 1 },
		{ "foo::Spin::lock", 1 },
		{ "___pthread_cond_wait", -1 }, { "__pthread_cond_wait_common", -1 },
		{ "___pthread_cond_timedwait64", -1 }, { "std::condition_variable::wait", -1 },
		{ "__new_sem_wait_slow64", -1 }, { "pthread_barrier_wait", -1 },
		{ "___pthread_join", -1 },
		{ "__GI___clock_nanosleep", 0 }, { "futex_wait", 0 }, { "syscall", 0 },
		{ "main", 0 }, { "clock_gettime", 0 }, { "block_here", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(lock_frame_verdict(cases[i].name) == cases[i].want, "lock verdict: %s -> %d",
		   cases[i].name, cases[i].want);
}

static void test_u64map(void)
{
	struct u64map m = { 0 };
	bool added, all = true;

	for (uint64_t i = 0; i < 10000; i++)
		u64map_put(&m, i, i * 7, i + 1, &added), all &= added;
	ok(all && m.count == 10000, "u64map: 10000 distinct keys added");
	all = true;
	for (uint64_t i = 0; i < 10000; i++) {
		uint64_t *v = u64map_find(&m, i, i * 7);

		all &= v && *v == i + 1;
	}
	ok(all, "u64map: every key found with its value");
	ok(!u64map_find(&m, 5, 6), "u64map: absent key not found");
	u64map_put(&m, 3, 21, 999, &added);
	ok(!added && *u64map_find(&m, 3, 21) == 4, "u64map: put of an existing key keeps it");
	u64map_release(&m);
}

static void test_builder(void)
{
	struct profile_builder b;
	uint64_t s1[] = { 1, 2, 3 }, s2[] = { 1, 2, 4 };
	int64_t v[] = { 1, 10 };
	size_t e1, e2, e3, e4;

	pb_init(&b, 2);
	e1 = pb_add(&b, 100, 0, s1, 3, v);
	e2 = pb_add(&b, 100, 0, s1, 3, v);
	e3 = pb_add(&b, 100, 0, s2, 3, v);
	e4 = pb_add(&b, 101, 0, s1, 3, v);
	ok(e1 == e2 && b.entries[e1].values[0] == 2 && b.entries[e1].values[1] == 20,
	   "builder: same thread and stack merge, values summed");
	ok(e3 != e1 && e4 != e1 && e3 != e4 && b.nentries == 3,
	   "builder: another stack or thread is another sample");
	ok(pb_add(&b, 100, 1, s1, 3, v) != e1, "builder: another exec epoch is another sample");
	ok(pb_add(&b, 100, 0, s1, 2, v) != e1, "builder: a prefix is another stack");
	for (int i = 0; i < 5000; i++) {
		uint64_t s[] = { (uint64_t)i, 7 };

		pb_add(&b, 1, 0, s, 2, v);
	}
	ok(b.nentries == 5000 + 5, "builder: grows past its first table");
	pb_thread_name(&b, 100, "first");
	pb_thread_name(&b, 100, "renamed");
	ok(!strcmp(pb_thread_name_of(&b, 100), "renamed") && !*pb_thread_name_of(&b, 5),
	   "builder: thread names, latest wins");
	pb_release(&b);
}

static void test_gzip(void)
{
	char in[10000], out[10000];
	unsigned char *gz;
	size_t gzlen;
	uLongf outlen = sizeof(out);
	z_stream zs = { 0 };

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = "profile"[i % 7];
	ok(!pprof_gzip(in, sizeof(in), &gz, &gzlen) && gz[0] == 0x1f && gz[1] == 0x8b &&
	   !gz[4] && !gz[5] && !gz[6] && !gz[7], "gzip: magic, mtime 0 (reproducible)");
	inflateInit2(&zs, 15 + 16);
	zs.next_in = gz;
	zs.avail_in = gzlen;
	zs.next_out = (unsigned char *)out;
	zs.avail_out = outlen;
	ok(inflate(&zs, Z_FINISH) == Z_STREAM_END && zs.total_out == sizeof(in) &&
	   !memcmp(in, out, sizeof(in)), "gzip: round trip");
	inflateEnd(&zs);
	free(gz);
}

static void test_demangle(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "main", "main" },
		{ "_ZN6shapes7SpinnerImE4spinEj", "shapes::Spinner<unsigned long>::spin(unsigned int)" },
		{ "_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write" },
		{ "_Znot-valid", "_Znot-valid" },
	};
	struct addrspace as;
	struct symbolizer *s;

	addrspace_init(&as, 0);
	s = symbolizer_new(&as, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = symbolizer_demangle(s, cases[i].in);

		ok(!strcmp(got, cases[i].want), "demangle %s -> %s", cases[i].in, got);
	}
	ok(symbolizer_demangle(s, "_ZN6shapes7SpinnerImE4spinEj") ==
	   symbolizer_demangle(s, "_ZN6shapes7SpinnerImE4spinEj"), "demangle: interned once");
	symbolizer_free(s);
	addrspace_release(&as);
}

static void test_names(void)
{
	static const struct {
		long nr;
		const char *want;
	} calls[] = { { 0, "read" }, { 1, "write" }, { 202, "futex" },
		      { 232, "epoll_wait" }, { 230, "clock_nanosleep" },
		      { -1, NULL }, { 100000, NULL } };
	static const struct {
		char state;
		const char *want;
	} states[] = { { 'R', "running" }, { 'S', "sleeping" }, { 'D', "disk sleep" },
		       { 'T', "stopped" }, { 't', "tracing stop" }, { 'Z', "zombie" },
		       { '?', "unknown" } };

	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		const char *got = syscall_name(calls[i].nr);

		ok(calls[i].want ? got && !strcmp(got, calls[i].want) : !got,
		   "syscall_name(%ld) -> %s", calls[i].nr, got ? got : "NULL");
	}
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		ok(!strcmp(proc_state_name(states[i].state), states[i].want),
		   "state '%c' -> %s", states[i].state, states[i].want);
}

static void test_json_string(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "plain", "\"plain\"" },
		{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
		{ "tab\there\n", "\"tab\\u0009here\\u000a\"" },
		{ "", "\"\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		json_string(f, cases[i].in);
		fclose(f);
		ok(!strcmp(buf, cases[i].want), "json_string -> %s", buf);
		free(buf);
	}
}

/* the address of a function symbol of m, 0 if none */
static uint64_t sym_addr(Dwfl_Module *m, const char *name)
{
	for (int i = 1; i < dwfl_module_getsymtab(m); i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *s = dwfl_module_getsym_info(m, i, &sym, &addr, NULL, NULL, NULL);

		if (s && !strcmp(s, name) && GELF_ST_TYPE(sym.st_info) == STT_FUNC)
			return addr;
	}
	return 0;
}

/* The return address of the first call (e8 rel32) in from's code to to. */
static uint64_t call_return(Dwfl_Module *m, uint64_t from, uint64_t to)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(m, &bias);
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while (elf && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    from - bias < sh.sh_addr || from - bias >= sh.sh_addr + sh.sh_size ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		for (uint64_t a = from - bias; a + 5 <= sh.sh_addr + sh.sh_size && a < from - bias + 64; a++) {
			const unsigned char *p = (const unsigned char *)d->d_buf + (a - sh.sh_addr);
			int32_t rel;

			memcpy(&rel, p + 1, 4);
			if (p[0] == 0xe8 && a + 5 + (int64_t)rel == to - bias)
				return a + 5 + bias;
		}
	}
	return 0;
}

/*
 * Tail-call chains in tests/targets/tailcall (built with the test targets):
 * callee frame, caller's call -> the functions put back, innermost first.
 */
/* A Dwfl for files reported with dwfl_report_offline() */
static Dwfl *offline_dwfl(void)
{
	static char *debuginfo_path;
	static const Dwfl_Callbacks cb = {
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
		.section_address = dwfl_offline_section_address,
		.debuginfo_path = &debuginfo_path,
	};

	return dwfl_begin(&cb);
}

static void test_tailcalls(void)
{
	static const struct {
		const char *callee, *caller, *called, *want;
	} cases[] = {
		{ "tc_block", "tc_wait", "tc_block", "" },		/* a plain call */
		{ "tc_wait", "chain_top", "tc_a", "tc_c tc_b tc_a" },
		{ "tc_b", "chain_top", "tc_a", "tc_a" },
		{ "tc_a", "chain_top", "tc_a", "" },
		{ "tc_block", "amb_top", "amb_y", "" },		/* two chains fit */
	};
	const char *path = "build/targets/tailcall";
	Dwfl *d = offline_dwfl();
	Dwfl_Module *m = d ? dwfl_report_offline(d, "tailcall", path, -1) : NULL;
	struct tailcalls *tc;

	if (!m || access(path, R_OK)) {
		printf("ok %d # SKIP %s not built\n", ++n, path);
		if (d)
			dwfl_end(d);
		return;
	}
	dwfl_report_end(d, NULL, NULL);
	tc = tailcalls_new();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t callee = sym_addr(m, cases[i].callee) + 1;
		uint64_t ret = call_return(m, sym_addr(m, cases[i].caller), sym_addr(m, cases[i].called));
		uint64_t out[TAILCALL_MAX_CHAIN];
		char got[256] = "";
		size_t k;

		/* twice: the second answer comes from the cache */
		for (int pass = 0; pass < 2; pass++) {
			k = tailcalls_between(tc, d, callee, ret - 1, out);
			got[0] = '\0';
			for (size_t j = 0; j < k; j++) {
				const char *name = dwfl_module_addrname(m, out[j] - 1);

				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
					 j ? " " : "", name ? name : "?");
			}
		}
		ok(ret && !strcmp(got, cases[i].want), "tail calls %s <- %s: '%s' (want '%s')",
		   cases[i].callee, cases[i].caller, got, cases[i].want);
	}
	tailcalls_free(tc);
	dwfl_end(d);
}

/*
 * The symbol index answers as dwfl_module_addrinfo does: around every
 * symbol's edges (a sample of them in big tables) of binaries with a
 * .symtab (the targets, cprof), a .dynsym only (cc1, stripped) and libc.
 */
static void test_symindex(void)
{
	static const char *const files[] = {
		"build/targets/burn", "build/targets/cxxburn", "build/targets/hostile",
		"build/cprof", "/lib/x86_64-linux-gnu/libc.so.6",
		"/usr/lib/gcc/x86_64-linux-gnu/12/cc1",
	};

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		Dwfl *d = offline_dwfl();
		Dwfl_Module *m = NULL;
		struct symindex *ix;
		size_t probes = 0, bad = 0;
		int nsyms, stride, want;

		if (!access(files[f], R_OK) && d)
			m = dwfl_report_offline(d, files[f], files[f], -1);
		if (!m) {
			printf("ok %d # SKIP %s: not here\n", ++n, files[f]);
			if (d)
				dwfl_end(d);
			continue;
		}
		dwfl_report_end(d, NULL, NULL);
		ix = symindex_build(m);
		nsyms = dwfl_module_getsymtab(m);
		/* libdwfl walks the whole table per address: sample big ones */
		want = nsyms > 0 ? 3000000 / nsyms : 1;
		want = want > 400 ? 400 : want < 50 ? 50 : want;
		stride = nsyms > want ? nsyms / want : 1;
		for (int i = 1; ix && i < nsyms; i += stride) {
			GElf_Sym sym;
			GElf_Addr v;

			if (!dwfl_module_getsym_info(m, i, &sym, &v, NULL, NULL, NULL))
				continue;
			uint64_t probe[] = { v - 1, v, v + sym.st_size / 2, v + sym.st_size - 1,
					     v + sym.st_size };

			for (size_t j = 0; j < sizeof(probe) / sizeof(probe[0]); j++) {
				GElf_Off off = 0, woff = 0;
				GElf_Sym ws;
				const char *got = symindex_lookup(ix, m, probe[j], &off);
				const char *want = dwfl_module_addrinfo(m, probe[j], &woff, &ws,
									NULL, NULL, NULL);

				probes++;
				if (!got != !want || (got && (strcmp(got, want) || off != woff))) {
					if (bad++ < 5)
						printf("# %s %#llx: index %s+%llu, libdwfl %s+%llu\n",
						       files[f], (unsigned long long)probe[j],
						       got ? got : "-", (unsigned long long)off,
						       want ? want : "-", (unsigned long long)woff);
				}
			}
		}
		ok(ix && probes && !bad, "symbol index of %s: %zu symbols, %zu of %zu addresses as libdwfl",
		   files[f], symindex_size(ix), probes - bad, probes);
		symindex_free(ix);
		dwfl_end(d);
	}
}

/* cprof serve's request forms: path + seconds + debug -> what it makes */
static void test_http_req(void)
{
	static const struct {
		const char *path, *seconds, *debug;
		enum http_req_kind kind;
		pid_t pid;
		const char *name;
		bool delta;
		long seconds_want, debug_want;
	} cases[] = {
		{ "/debug/pprof/", NULL, NULL, HREQ_INDEX, 0, "", false, 0, 0 },
		{ "/debug/pprof", NULL, NULL, HREQ_REDIRECT, 0, "", false, 0, 0 },
		{ "/debug/pprofx", NULL, NULL, HREQ_NOT_FOUND, 0, "", false, 0, 0 },
		{ "/metrics", NULL, NULL, HREQ_NOT_FOUND, 0, "", false, 0, 0 },
		{ "/debug/pprof/profile", "10", NULL, HREQ_PROFILE, 0, "profile", false, 10, 0 },
		{ "/debug/pprof/profile", "", NULL, HREQ_PROFILE, 0, "profile", false, 0, 0 },
		{ "/debug/pprof/block", "abc", NULL, HREQ_BAD, 0, "block", false, 0, 0 },
		{ "/debug/pprof/block", "0", NULL, HREQ_BAD, 0, "block", false, 0, 0 },
		{ "/debug/pprof/block", "-5", NULL, HREQ_BAD, 0, "block", false, 0, 0 },
		{ "/debug/pprof/block", "1.5", NULL, HREQ_BAD, 0, "block", false, 0, 0 },
		{ "/debug/pprof/block", "121", NULL, HREQ_BAD, 0, "block", false, 0, 0 },
		{ "/debug/pprof/block", "120", "x", HREQ_PROFILE, 0, "block", false, 120, 0 },
		{ "/debug/pprof/goroutine", NULL, "2", HREQ_PROFILE, 0, "goroutine", false, 0, 2 },
		{ "/debug/pprof/delta_mutex", NULL, NULL, HREQ_PROFILE, 0, "mutex", true, 0, 0 },
		{ "/debug/pprof/delta_", NULL, NULL, HREQ_PROFILE, 0, "delta_", false, 0, 0 },
		{ "/debug/pprof//profile", NULL, NULL, HREQ_PROFILE, 0, "?", false, 0, 0 },
		{ "/debug/pprof/cmdline", "x", NULL, HREQ_CMDLINE, 0, "", false, 0, 0 },
		{ "/debug/pprof/symbol", NULL, NULL, HREQ_SYMBOL, 0, "", false, 0, 0 },
		{ "/pid/42/debug/pprof/threads", NULL, "1", HREQ_PROFILE, 42, "threads", false, 0, 1 },
		{ "/pid/0/debug/pprof/", NULL, NULL, HREQ_NOT_FOUND, 0, "", false, 0, 0 },
		{ "/pid/99999999999/debug/pprof/", NULL, NULL, HREQ_NOT_FOUND, 0, "", false, 0, 0 },
		{ "/pid/7debug/pprof/", NULL, NULL, HREQ_NOT_FOUND, 0, "", false, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_req r;

		http_req_parse(&r, cases[i].path, cases[i].seconds, cases[i].debug, 120);
		ok(r.kind == cases[i].kind && r.pid == cases[i].pid &&
		   (r.kind != HREQ_PROFILE || (!strcmp(r.name, cases[i].name) &&
					       r.delta == cases[i].delta &&
					       r.seconds == cases[i].seconds_want)) &&
		   r.debug == cases[i].debug_want && (r.kind != HREQ_BAD || r.message),
		   "http_req_parse(%s, seconds=%s, debug=%s) -> kind %d pid %d %s%s s=%ld d=%ld",
		   cases[i].path, cases[i].seconds ?: "-", cases[i].debug ?: "-", r.kind,
		   r.pid, r.delta ? "delta_" : "", r.name, r.seconds, r.debug);
	}
}

static void add_addr(uint64_t addr, void *arg)
{
	FILE *f = arg;

	fprintf(f, "%llx,", (unsigned long long)addr);
}

/* Go's /symbol body: '+'-separated, ParseUint(s, 0, 64); 0 and junk skipped */
static void test_http_symbol(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "0x4005d0+0x400620", "4005d0,400620," },
		{ "12+010+0", "c,8," },
		{ "junk++0x10+", "10," },
		{ "0x1ffffffffffffffff+0x20", "20," },
		{ "", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		http_symbol_addrs(cases[i].in, strlen(cases[i].in), add_addr, f);
		fclose(f);
		ok(!strcmp(buf, cases[i].want), "http_symbol_addrs(%s) -> %s", cases[i].in, buf);
		free(buf);
	}
}

/*
 * Where a free is probed: past a null test of its argument, at a push
 * (glibc's free: test %rdi,%rdi; je; push %rbp), else at the entry.  The
 * code bytes sit at file offset 16 of a buffer libelf reads raw.
 */
static void test_free_offset(void)
{
	static const struct {
		const char *what;
		unsigned char code[16];
		int arg;
		uint64_t want;	/* from the entry */
	} cases[] = {
		{ "glibc free: test rdi; je rel32; push rbp",
		  { 0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0, 0, 0, 0x55, 0x48 }, 0, 9 },
		{ "je rel8; push r12",
		  { 0x48, 0x85, 0xff, 0x74, 0x20, 0x41, 0x54 }, 0, 5 },
		{ "second argument (sdallocx-like): test rsi",
		  { 0x48, 0x85, 0xf6, 0x74, 0x20, 0x53 }, 1, 5 },
		{ "test of another register than the argument",
		  { 0x48, 0x85, 0xf6, 0x74, 0x20, 0x55 }, 0, 0 },
		{ "jne, not je: the pointer may be anything there",
		  { 0x48, 0x85, 0xff, 0x75, 0x20, 0x55 }, 0, 0 },
		{ "not a push after the test (single-stepped anyway)",
		  { 0x48, 0x85, 0xff, 0x74, 0x20, 0x48, 0x8d, 0x77, 0xf0 }, 0, 0 },
		{ "endbr64 first", { 0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x85, 0xff }, 0, 0 },
		{ "a push at the entry", { 0x55, 0x48, 0x89, 0xe5 }, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char file[64] = { 0 };
		struct func_loc loc = { .vaddr = 0x1000, .size = 32, .offset = 16 };
		Elf *elf;

		memcpy(file + 16, cases[i].code, sizeof(cases[i].code));
		elf_version(EV_CURRENT);
		elf = elf_memory((char *)file, sizeof(file));
		ok(elf && uprobe_free_offset(elf, &loc, cases[i].arg) == 16 + cases[i].want,
		   "uprobe_free_offset: %s -> +%llu", cases[i].what,
		   (unsigned long long)cases[i].want);
		elf_end(elf);
	}
}

#define RED_WORD_1 0x5ed20e5ed20e0001ULL
#define RED_WORD_2 0x5ed20e5ed20e0002ULL

/*
 * Puts two known words below its sp (at -8 and -128, the red zone's ends:
 * where an epilogue's CFI finds the registers it has just popped), says
 * so on fd, and spins.
 */
static void __attribute__((noinline, noreturn)) red_zone_spin(int fd)
{
	__asm__ volatile("movabs $0x5ed20e5ed20e0001, %%rax\n\t"
			 "mov %%rax, -8(%%rsp)\n\t"
			 "movabs $0x5ed20e5ed20e0002, %%rax\n\t"
			 "mov %%rax, -128(%%rsp)\n\t"
			 "mov $1, %%eax\n\t"		/* write(fd, sp - 8, 1) */
			 "lea -8(%%rsp), %%rsi\n\t"
			 "mov $1, %%edx\n\t"
			 "syscall\n"
			 "1:\tpause\n\t"
			 "jmp 1b"
			 : : "D"(fd) : "rax", "rcx", "rdx", "rsi", "r11", "memory");
	__builtin_unreachable();
}

/*
 * A capture holds the red zone as it was at the stop: read later, live,
 * it is whatever the thread wrote there since (a leaf at glibc malloc's
 * ret gave libunwind and the frame rules different rbp values, and
 * CPROF_UNWIND_CHECK aborted node in tests/t0026-jit.sh).
 */
static void test_capture_red_zone(void)
{
	struct addrspace as;
	struct capture c;
	uint64_t sp = 0, w1 = 0, w2 = 0;
	int fds[2], st, ret = -1;
	bool in = false;
	char byte;
	pid_t pid;

	if (pipe(fds)) {
		ok(0, "capture red zone: pipe");
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		red_zone_spin(fds[1]);
	}
	close(fds[1]);
	addrspace_init(&as, pid);
	capture_init(&c, 4096);
	if (pid > 0 && read(fds[0], &byte, 1) == 1 &&
	    !ptrace(PTRACE_SEIZE, pid, 0, 0) && !ptrace(PTRACE_INTERRUPT, pid, 0, 0) &&
	    waitpid(pid, &st, __WALL) == pid && !addrspace_reload(&as))
		ret = capture_thread(pid, pid, &c, addrspace_current(&as));
	close(fds[0]);
	if (!ret) {
		sp = c.regs.rsp;
		in = c.stack_addr <= sp - 128 && c.stack_addr + c.stack_len >= sp;
	}
	if (in) {
		memcpy(&w1, c.stack + (sp - 8 - c.stack_addr), 8);
		memcpy(&w2, c.stack + (sp - 128 - c.stack_addr), 8);
	}
	ok(in && w1 == RED_WORD_1 && w2 == RED_WORD_2,
	   "capture: the 128 bytes below sp are copied (stack at sp-%lld: %#llx, %#llx)",
	   ret ? 0LL : (long long)(sp - c.stack_addr), (unsigned long long)w1,
	   (unsigned long long)w2);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, __WALL);
	}
	capture_release(&c);
	addrspace_release(&as);
}

/* -t NAME[:ARG]: which row, and its argument */
static void test_profile_type_find(void)
{
	static const struct {
		const char *given, *type, *arg;
	} cases[] = {
		{ "cpu", "cpu", NULL },
		{ "probe:malloc", "probe", "malloc" },
		{ "probe:libc.so.6:write", "probe", "libc.so.6:write" },
		{ "probe", "probe", "" },
		{ "pair:pool_get,pool_put", "pair", "pool_get,pool_put" },
		{ "cpu:x", NULL, NULL },	/* cpu takes no argument */
		{ "pai", NULL, NULL },
		{ "pairs:a,b", NULL, NULL },
		{ "", NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct profile_type *pt = profile_type_find(cases[i].given);
		const char *arg = pt ? profile_type_arg(pt, cases[i].given) : NULL;

		ok(cases[i].type ? pt && !strcmp(pt->name, cases[i].type) : !pt,
		   "profile_type_find(\"%s\") -> %s", cases[i].given,
		   cases[i].type ? cases[i].type : "none");
		ok(cases[i].arg ? arg && !strcmp(arg, cases[i].arg) : !arg,
		   "profile_type_arg(\"%s\") -> %s", cases[i].given,
		   cases[i].arg ? cases[i].arg : "none");
	}
	/* the argument's form: one function for probe, two for pair */
	static const struct {
		const char *type, *arg;
		bool ok;
	} forms[] = {
		{ "probe", "malloc", true }, { "probe", "libc.so.6:write", true },
		{ "probe", "", false }, { "probe", "libc.so.6:", false },
		{ "probe", "a,b", false }, { "pair", "get,put", true },
		{ "pair", "libpool.so:get,put", true }, { "pair", "get", false },
		{ "pair", "get,", false }, { "pair", ",put", false },
		{ "pair", "lib:,put", false }, { "pair", "a,b,c", false },
	};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		ok(profile_type_arg_ok(profile_type_find(forms[i].type), forms[i].arg) == forms[i].ok,
		   "profile_type_arg_ok(%s, \"%s\") -> %s", forms[i].type, forms[i].arg,
		   forms[i].ok ? "yes" : "no");
}

/* serve's paths (Go's names), and what a mode says of its rate and period */
static void test_type_paths_and_modes(void)
{
	static const struct {
		const char *path, *type;
	} paths[] = {
		{ "profile", "cpu" }, { "cpu", NULL },	/* Go has no /cpu */
		{ "goroutine", "threads" }, { "threads", "threads" },
		{ "heap", "heap" }, { "wall", "wall" },
		{ "probe", NULL }, { "pair", NULL },	/* need an argument */
		{ "nosuch", NULL },
	};
	static const struct {
		const char *type;
		unsigned hz, hz_given;	/* -F, and whether it was given */
		uint64_t mem_rate;
		unsigned want_hz;
		int64_t want_period;
	} modes[] = {
		{ "cpu", 99, 0, 0, 99, 1000000000LL / 99 },
		{ "wall", 250, 1, 0, 250, 4000000 },
		{ "block", 99, 0, 0, 99, 1 },
		{ "threadcreate", 99, 0, 0, 99, 1 },
		{ "heap", 99, 0, 0, 1000, 512 * 1024 },	/* 1 ms ring reads */
		{ "allocs", 50, 1, 4096, 50, 4096 },	/* -F wins */
		{ "probe", 99, 0, 0, 1000, 1 },
		{ "pair", 99, 0, 7, 1000, 7 },
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const struct profile_type *pt = profile_type_of_path(paths[i].path);

		ok(paths[i].type ? pt && !strcmp(pt->name, paths[i].type) : !pt,
		   "profile_type_of_path(\"%s\") -> %s", paths[i].path,
		   paths[i].type ? paths[i].type : "none");
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		const struct sample_mode *m = profile_type_find(modes[i].type)->mode;
		struct sampler_opts o = { .mode = m, .mem_rate = modes[i].mem_rate };

		o.hz = sampler_hz(m, modes[i].hz, modes[i].hz_given);
		ok(o.hz == modes[i].want_hz, "%s: -F %u%s -> %u Hz", modes[i].type, modes[i].hz,
		   modes[i].hz_given ? " given" : "", modes[i].want_hz);
		ok(sampler_period(&o) == modes[i].want_period, "%s: period %lld", modes[i].type,
		   (long long)modes[i].want_period);
	}
}


/* USDT argument specs as compilers write them, and their values */
static void test_sdt_args(void)
{
	static const struct {
		const char *spec;
		int n;
		int kind0, size0, reg0;
		int64_t disp0;
	} cases[] = {
		{ "8@%rdi", 1, SDT_REG, 8, PR_DI, 0 },
		{ "-4@%esi 8@%rbx", 2, SDT_REG, -4, PR_SI, 0 },
		{ "8@-24(%rbp) 8@%rax", 2, SDT_MEM, 8, PR_BP, -24 },
		{ "8@(%rsp)", 1, SDT_MEM, 8, PR_SP, 0 },
		{ "-8@$-5", 1, SDT_IMM, -8, -1, -5 },
		{ "1@%r12b 2@%r9w", 2, SDT_REG, 1, PR_R12, 0 },
		{ "", 0, 0, 0, 0, 0 },
		{ "8@foo(%rip)", -1, 0, 0, 0, 0 },		/* rip-relative */
		{ "8@8(%rax,%rbx,8)", -1, 0, 0, 0, 0 },	/* an index */
		{ "3@%rdi", -1, 0, 0, 0, 0 },			/* no such width */
		{ "8@%xmm0", -1, 0, 0, 0, 0 },
		{ "8%rdi", -1, 0, 0, 0, 0 },
	};
	uint64_t regs[24] = { 0 }, v = 0;
	unsigned char stack[64] = { 0 };
	struct sdt_arg a[4];
	bool got;
	int n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = sdt_parse_args(cases[i].spec, a, 4);
		ok(n == cases[i].n && (n <= 0 || ((int)a[0].kind == cases[i].kind0 &&
						  a[0].size == cases[i].size0 &&
						  a[0].reg == cases[i].reg0 &&
						  a[0].disp == cases[i].disp0)),
		   "sdt_parse_args(\"%s\") -> %d", cases[i].spec, n);
	}
	/* regs[] as PERF_REGS_ALL records them: ax..ss, then r8..r15 */
	regs[PR_SI] = 0x1234567880000001ULL;
	regs[PR_SP] = 0x7ffd0000;
	regs[PR_BP] = 0x7ffd0000 + 32;
	regs[12 + (PR_R12 - PR_R8)] = 0xff;
	memcpy(stack + 8, &(uint64_t){ 0xabcdef }, 8);
	n = sdt_parse_args("-4@%esi 4@%esi 8@-24(%rbp) 8@64(%rsp) -1@%r12b 8@$7", a, 4);
	ok(n == -1, "sdt_parse_args: more than max arguments refused");
	n = sdt_parse_args("-4@%esi 4@%esi 8@-24(%rbp) 8@64(%rsp)", a, 4);
	got = n == 4 && sdt_arg_value(&a[0], regs, PERF_REGS_ALL, stack, sizeof(stack), &v);
	ok(got && v == 0xffffffff80000001ULL, "sdt_arg_value: -4@%%esi sign-extended (%#llx)",
	   (unsigned long long)v);
	ok(sdt_arg_value(&a[1], regs, PERF_REGS_ALL, stack, sizeof(stack), &v) && v == 0x80000001ULL,
	   "sdt_arg_value: 4@%%esi zero-extended");
	ok(sdt_arg_value(&a[2], regs, PERF_REGS_ALL, stack, sizeof(stack), &v) && v == 0xabcdef,
	   "sdt_arg_value: 8@-24(%%rbp) read from the stack copy");
	ok(!sdt_arg_value(&a[3], regs, PERF_REGS_ALL, stack, sizeof(stack), &v),
	   "sdt_arg_value: 8@64(%%rsp), past the copy, not read");
	n = sdt_parse_args("-1@%r12b", a, 4);
	ok(n == 1 && sdt_arg_value(&a[0], regs, PERF_REGS_ALL, NULL, 0, &v) && v == ~0ULL,
	   "sdt_arg_value: -1@%%r12b (r12 recorded after the segment registers)");
}

/* This program's own USDT probe, with a semaphore: its note, as sdt_find reads it */
unsigned short cprof_unit_here_semaphore __attribute__((section(".probes"), used));

static void __attribute__((noinline)) sdt_site(long x, long y)
{
	if (cprof_unit_here_semaphore)
		STAP_PROBE2(cprof_unit, here, x, y);
}

static void test_sdt_find(void)
{
	struct sdt_site *v = NULL, *none = NULL;
	char *why = NULL;
	bool found;
	int fd = open("/proc/self/exe", O_RDONLY), n;
	Elf *elf;
	GElf_Ehdr eh;
	uint64_t sem_off = 0, sem_vaddr = (uint64_t)(uintptr_t)&cprof_unit_here_semaphore;

	sdt_site(1, 2);
	elf_version(EV_CURRENT);
	elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	n = elf ? sdt_find(elf, "cprof_unit", "here", &v, &why) : -2;
	ok(n == 1 && v[0].nargs == 2 && v[0].sem_offset && v[0].offset && !why,
	   "sdt_find: this program's cprof_unit:here, 2 arguments (%s), a semaphore",
	   n == 1 ? v[0].spec : "-");
	/* the semaphore's file offset, from its symbol: the same place */
	if (elf && gelf_getehdr(elf, &eh) && eh.e_type == ET_DYN) {
		Dl_info info;

		if (dladdr((void *)sdt_site, &info))
			sem_vaddr -= (uint64_t)(uintptr_t)info.dli_fbase;
	}
	found = n == 1 && !uprobe_segment_offset(elf, sem_vaddr, false, &sem_off);
	ok(found && sem_off == v[0].sem_offset, "sdt_find: the semaphore's file offset (%#llx)",
	   (unsigned long long)sem_off);
	ok(elf && sdt_find(elf, "cprof_unit", "nowhere", &none, &why) == 0 && !none,
	   "sdt_find: a probe not there: 0");
	sdt_free(v, n > 0 ? (size_t)n : 0);
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
}

/* A probe's price by the instruction it sits on */
static void test_probecost_of(void)
{
	static const struct {
		const char *what;
		unsigned char insn[5];
		size_t len;
		double want;
	} cases[] = {
		{ "push %rbp", { 0x55 }, 1, 1 }, { "push %r12", { 0x41, 0x54 }, 2, 1 },
		{ "nop", { 0x90 }, 1, 2 }, { "66 nop", { 0x66, 0x90 }, 2, 2 },
		{ "nopl 0(%rax,%rax)", { 0x0f, 0x1f, 0x44, 0, 0 }, 5, 2 },
		{ "pause (f3 90)", { 0xf3, 0x90 }, 2, 3 },
		{ "test %rdi,%rdi", { 0x48, 0x85, 0xff }, 3, 3 }, { "nothing", { 0 }, 0, 3 },
	};
	struct probecost c = { .emulated_ns = 1, .nop_ns = 2, .stepped_ns = 3 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(probecost_of(&c, cases[i].insn, cases[i].len) == cases[i].want,
		   "probecost_of: %s priced %s", cases[i].what,
		   cases[i].want == 1 ? "emulated" : cases[i].want == 2 ? "as a nop" : "stepped");
}

int main(void)
{
	test_parse_duration();
	test_parse_long();
	test_maps_line();
	test_stat_state();
	test_syscall_file();
	test_lock_verdict();
	test_u64map();
	test_builder();
	test_gzip();
	test_demangle();
	test_names();
	test_json_string();
	test_tailcalls();
	test_symindex();
	test_http_req();
	test_http_symbol();
	test_free_offset();
	test_capture_red_zone();
	test_profile_type_find();
	test_type_paths_and_modes();
	test_sdt_args();
	test_sdt_find();
	test_probecost_of();
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
