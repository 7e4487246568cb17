/*
 * attach/procfs.c - /proc readers for attaching and for the sampler's ticks.
 */
#define _GNU_SOURCE
#include "procfs.h"
#include "../lib/util.h"
#include "syscalls.h"	/* generated from the kernel's unistd_64.h */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int proc_status(pid_t pid, pid_t tid, struct proc_status *st)
{
	char path[64], buf[8192], *line, *save;
	ssize_t n;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
	n = read_file(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	memset(st, 0, sizeof(*st));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "Name:\t", 6))
			snprintf(st->name, sizeof(st->name), "%s", line + 6);
		else if (!strncmp(line, "State:\t", 7))
			st->state = line[7];
		else if (!strncmp(line, "Tgid:\t", 6))
			st->tgid = atoi(line + 6);
		else if (!strncmp(line, "TracerPid:\t", 11))
			st->tracer = atoi(line + 11);
		else if (!strncmp(line, "Uid:\t", 5))
			st->uid = strtoul(line + 5, NULL, 10);
	}
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int proc_tasks(pid_t pid, pid_t **out, size_t *n)
{
	char path[64];
	struct dirent *de;
	size_t alloc = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	*out = NULL;
	*n = 0;
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		GROW(*out, alloc, *n + 1);
		(*out)[(*n)++] = atoi(de->d_name);
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_pid);
	return 0;
}

int proc_children(pid_t pid, pid_t **out, size_t *n)
{
	pid_t *tids;
	size_t ntids, alloc = 0;
	int ret = proc_tasks(pid, &tids, &ntids);

	*out = NULL;
	*n = 0;
	if (ret)
		return ret;
	for (size_t i = 0; i < ntids; i++) {
		char path[96], buf[4096], *p, *end;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, tids[i]);
		if (read_file(path, buf, sizeof(buf)) <= 0)
			continue;
		for (p = buf;; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			GROW(*out, alloc, *n + 1);
			(*out)[(*n)++] = (pid_t)v;
		}
	}
	free(tids);
	return 0;
}

int proc_open_task_file(pid_t pid, pid_t tid, const char *file)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", pid, tid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static ssize_t pread_all(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

int proc_parse_stat_state(const char *line, char *state, uint64_t *utime,
			  uint64_t *stime)
{
	/* the comm field may hold spaces and ')': the state follows the last ')' */
	const char *p = strrchr(line, ')');
	unsigned long long ut, st;

	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 state, &ut, &st) != 3)
		return -EINVAL;
	if (utime)
		*utime = ut;
	if (stime)
		*stime = st;
	return 0;
}

int proc_read_runtime(int schedstat_fd, int stat_fd, uint64_t *ns)
{
	char buf[512];
	ssize_t n;

	if (schedstat_fd >= 0) {
		unsigned long long v;

		n = pread_all(schedstat_fd, buf, sizeof(buf));
		if (n < 0)
			return (int)n;
		if (sscanf(buf, "%llu", &v) != 1)
			return -EINVAL;
		*ns = v;
		return 0;
	}
	/* no schedstat (CONFIG_SCHED_INFO off): clock ticks, coarse */
	uint64_t ut, st;
	char state;

	n = pread_all(stat_fd, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (proc_parse_stat_state(buf, &state, &ut, &st))
		return -EINVAL;
	*ns = (ut + st) * (1000000000ULL / sysconf(_SC_CLK_TCK));
	return 0;
}

int proc_read_stat(int stat_fd, char *state, uint64_t *utime, uint64_t *stime)
{
	char buf[512];
	ssize_t n = pread_all(stat_fd, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	return proc_parse_stat_state(buf, state, utime, stime);
}

const char *syscall_name(long nr)
{
	if (nr < 0 || nr >= (long)(sizeof(syscall_names) / sizeof(syscall_names[0])))
		return NULL;
	return syscall_names[nr];
}

const char *proc_state_name(char state)
{
	switch (state) {
	case 'R': return "running";
	case 'S': return "sleeping";
	case 'D': return "disk sleep";
	case 'T': return "stopped";
	case 't': return "tracing stop";
	case 'Z': return "zombie";
	case 'X': return "dead";
	case 'I': return "idle";
	case 'P': return "parked";
	default: return "unknown";
	}
}

/*
 * "NR a0 a1 a2 a3 a4 a5 SP PC" (hex) while blocked in a system call,
 * "-1 SP PC" while blocked outside one, "running" while on a cpu.
 */
int proc_parse_syscall(const char *buf, struct proc_syscall *sc)
{
	unsigned long long v[8];
	long long nr;

	memset(sc, 0, sizeof(*sc));
	if (!strncmp(buf, "running", 7)) {
		sc->nr = PROC_SYSCALL_RUNNING;
		return 0;
	}
	if (sscanf(buf, "%lld", &nr) != 1)
		return -EINVAL;
	if (nr < 0) {
		if (sscanf(buf, "%*d 0x%llx 0x%llx", &v[0], &v[1]) != 2)
			return -EINVAL;
		sc->nr = -1;
		sc->sp = v[0];
		sc->pc = v[1];
		return 0;
	}
	if (sscanf(buf, "%*d 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx",
		   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		return -EINVAL;
	sc->nr = (long)nr;
	for (int i = 0; i < 6; i++)
		sc->args[i] = v[i];
	sc->sp = v[6];
	sc->pc = v[7];
	return 0;
}

int proc_read_syscall(int fd, struct proc_syscall *sc)
{
	char buf[256];
	ssize_t n = pread_all(fd, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	return proc_parse_syscall(buf, sc);
}

bool proc_call_restarts(pid_t pid, const struct proc_syscall *sc)
{
	char path[64], link[64];
	ssize_t n;

	switch (sc->nr) {
	case SYS_futex: case SYS_nanosleep: case SYS_clock_nanosleep:
	case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6:
	case SYS_pause: case SYS_rt_sigsuspend: case SYS_wait4: case SYS_waitid:
		return true;
	case SYS_read: case SYS_readv: case SYS_pread64: case SYS_preadv:
	case SYS_preadv2:
		/* sockets with SO_RCVTIMEO return EINTR; pipes, ttys do not */
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, (int)sc->args[0]);
		n = readlink(path, link, sizeof(link) - 1);
		return n > 0 && strncmp(link, "socket:", 7);
	default:
		return false;
	}
}

void proc_thread_name(pid_t pid, pid_t tid, char *buf, size_t size)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	if (read_file(path, buf, size) < 0)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

#define CAP_SYS_PTRACE_BIT 19	/* linux/capability.h */

static bool have_cap_sys_ptrace(void)
{
	char buf[4096], *p;
	unsigned long long eff;

	if (read_file("/proc/self/status", buf, sizeof(buf)) < 0 ||
	    !(p = strstr(buf, "CapEff:\t")) || sscanf(p + 8, "%llx", &eff) != 1)
		return false;
	return eff & (1ULL << CAP_SYS_PTRACE_BIT);
}

void proc_eperm_hint(pid_t pid, char *buf, size_t size)
{
	struct proc_status st, tr;
	char scope[16];
	int yama = -1;

	buf[0] = '\0';
	if (read_file("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof(scope)) > 0)
		yama = atoi(scope);
	if (proc_status(pid, 0, &st))
		return;
	if (st.tracer) {
		/* TracerPid is the tracing thread: name its process */
		if (proc_status(st.tracer, 0, &tr)) {
			snprintf(tr.name, sizeof(tr.name), "?");
			tr.tgid = st.tracer;
		}
		snprintf(buf, size, " (traced by %s, pid %d)", tr.name, tr.tgid);
	} else if (have_cap_sys_ptrace()) {
		snprintf(buf, size, " (the kernel refused although cprof has CAP_SYS_PTRACE: a security module?)");
	} else if (st.uid != getuid()) {
		snprintf(buf, size, " (process %d belongs to uid %u; run cprof as that user or with CAP_SYS_PTRACE)",
			 pid, (unsigned)st.uid);
	} else if (yama >= 1) {
		snprintf(buf, size, " (kernel.yama.ptrace_scope is %d: run cprof with CAP_SYS_PTRACE, or set it to 0)",
			 yama);
	} else {
		snprintf(buf, size, " (missing CAP_SYS_PTRACE?)");
	}
}
