/*
 * attach/keeper.c - the process that owns cprof's uprobe events (keeper.h).
 *
 * One SOCK_SEQPACKET socket.  cprof sends requests; an open, or a BPF
 * link (its program's fd sent along), is answered at once (status, the
 * keeper's fd, and cprof's copy by SCM_RIGHTS), a close is not.  The keeper's main thread does the opens, in order; its
 * CLOSERS threads do the closes in the order asked (the kernel takes
 * 30-265 ms to unregister an event here, most of it waiting, and does one
 * at a time: the order says which breakpoint goes first).  End of file on the
 * socket (cprof called keeper_finish, or died) makes it close every event
 * it holds, join its threads and exit: its socket closes last, which is
 * what keeper_finish waits for.
 */
#define _GNU_SOURCE
#include "keeper.h"
#include "../lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLOSERS 4
#define CHUNK 64

enum { REQ_OPEN = 1, REQ_CLOSE, REQ_LINK };

struct request {
	int op;
	int group;		/* open: the keeper's fd of the group, or -1 */
	pid_t tid;
	unsigned long flags;
	struct perf_event_attr pa;
	uint32_t n;		/* close: kfds[n]; link: off[n], ids[n] */
	int kfds[CHUNK];
	uint64_t off[KEEPER_LINK_MAX], ids[KEEPER_LINK_MAX];	/* link */
	char path[PATH_MAX];	/* open: config1; link: the file */
};

struct reply {
	int err;		/* 0 or an errno */
	int kfd;
};

/*
 * bpf(BPF_LINK_CREATE) of a uprobe_multi link (Linux 6.6): prog on
 * off[0..n) of path in process pid, cookie ids[i].  Linux 6.1's headers
 * (Debian 12's) lack it: the attach type and the fields of union
 * bpf_attr's link_create are spelled out here.
 */
#define TRACE_UPROBE_MULTI 48	/* enum bpf_attach_type */
static int uprobe_multi_link(int prog, const char *path, pid_t pid, const uint64_t *off,
			     const uint64_t *ids, uint32_t n)
{
	struct {
		uint32_t prog_fd, target_fd, attach_type, flags;
		uint64_t path, offsets, ref_ctr_offsets, cookies;
		uint32_t cnt, multi_flags, pid, pad;
	} a;

	memset(&a, 0, sizeof(a));
	a.prog_fd = (uint32_t)prog;
	a.attach_type = TRACE_UPROBE_MULTI;
	a.path = (uint64_t)(uintptr_t)path;
	a.offsets = (uint64_t)(uintptr_t)off;
	a.cookies = (uint64_t)(uintptr_t)ids;
	a.cnt = n;
	a.pid = (uint32_t)pid;
	return (int)syscall(SYS_bpf, BPF_LINK_CREATE, &a, sizeof(a));
}

/* ---- the keeper ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	int *fds;		/* to close: [head, n), in the order cprof asked */
	size_t head, n, alloc;
	bool done;
	uint64_t *closed;	/* shared with cprof: closes done */
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, false, NULL };

static void count_closed(void)
{
	if (q.closed)
		__atomic_add_fetch(q.closed, 1, __ATOMIC_RELEASE);
}

static void *close_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&q.lock);
	for (;;) {
		while (q.head == q.n && !q.done)
			pthread_cond_wait(&q.more, &q.lock);
		if (q.head == q.n)
			break;
		int fd = q.fds[q.head++];

		if (q.head == q.n)
			q.head = q.n = 0;

		pthread_mutex_unlock(&q.lock);
		close(fd);
		count_closed();
		pthread_mutex_lock(&q.lock);
	}
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

static void queue(const int *fds, size_t n)
{
	pthread_mutex_lock(&q.lock);
	GROW(q.fds, q.alloc, q.n + n);
	memcpy(q.fds + q.n, fds, n * sizeof(*fds));
	q.n += n;
	pthread_cond_broadcast(&q.more);
	pthread_mutex_unlock(&q.lock);
}

static void reply(int sock, int err, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct reply r = { .err = err, .kfd = fd };
	struct iovec iov = { &r, sizeof(r) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* a signal a terminal, a shell or a service manager sends: ignored */
static const int ignored[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM,
	SIGTSTP, SIGTTIN, SIGTTOU, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF,
};

static _Noreturn void keeper_main(int sock, uint64_t *closed)
{
	static struct request rq;
	pthread_t threads[CLOSERS];
	size_t nthreads = 0;
	int *held = NULL;	/* held[fd]: an event the keeper owns */
	size_t held_alloc = 0;
	sigset_t none;
	int null;

	q.closed = closed;
	setsid();
	prctl(PR_SET_NAME, "cprof-keeper");
	for (size_t i = 0; i < sizeof(ignored) / sizeof(*ignored); i++)
		signal(ignored[i], SIG_IGN);
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	/* nothing of cprof's held open: its pipes must see end of file */
	if (sock != 3) {
		dup2(sock, 3);
		sock = 3;
	}
	null = open("/dev/null", O_RDWR);
	if (null >= 0)
		for (int fd = 0; fd < 3; fd++)
			dup2(null, fd);
	close_range(4, ~0U, 0);

	for (int i = 0; i < CLOSERS; i++)
		if (!pthread_create(&threads[nthreads], NULL, close_main, NULL))
			nthreads++;
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { &rq, sizeof(rq) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
		ssize_t got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		int fd, prog = -1;

		if (got < 0 && errno == EINTR)
			continue;
		for (struct cmsghdr *cm = got > 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm;
		     cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				memcpy(&prog, CMSG_DATA(cm), sizeof(int));
		if (got < (ssize_t)offsetof(struct request, kfds)) {
			if (prog >= 0)
				close(prog);
			break;	/* end of file: cprof is done, or dead */
		}
		if (rq.op == REQ_OPEN || rq.op == REQ_LINK) {
			int err;

			if (got <= (ssize_t)offsetof(struct request, path) ||
			    (rq.op == REQ_LINK && (prog < 0 || rq.n > KEEPER_LINK_MAX))) {
				if (prog >= 0)
					close(prog);
				reply(sock, EINVAL, -1);
				continue;
			}
			rq.path[sizeof(rq.path) - 1] = 0;
			if (rq.op == REQ_OPEN) {
				rq.pa.config1 = (uint64_t)(uintptr_t)rq.path;
				fd = (int)syscall(SYS_perf_event_open, &rq.pa, rq.tid, -1,
						  rq.group, rq.flags);
			} else {
				fd = uprobe_multi_link(prog, rq.path, rq.tid, rq.off, rq.ids,
						       rq.n);
			}
			err = errno;
			if (prog >= 0)
				close(prog);	/* a link holds its program */
			if (fd < 0) {
				reply(sock, err, -1);
				continue;
			}
			GROW(held, held_alloc, (size_t)fd + 1);
			held[fd] = 1;
			reply(sock, 0, fd);
			continue;
		}
		if (prog >= 0)
			close(prog);
		if (rq.op == REQ_CLOSE && rq.n <= CHUNK &&
			   got >= (ssize_t)(offsetof(struct request, kfds) + rq.n * sizeof(int))) {
			for (uint32_t i = 0; i < rq.n; i++) {
				fd = rq.kfds[i];
				if (fd >= 0 && (size_t)fd < held_alloc && held[fd]) {
					held[fd] = 0;	/* only an event it holds */
					queue(&fd, 1);
				} else {
					count_closed();	/* nothing to do */
				}
			}
		}
	}
	for (size_t fd = 0; fd < held_alloc; fd++)
		if (held[fd]) {
			int f = (int)fd;

			queue(&f, 1);
		}
	pthread_mutex_lock(&q.lock);
	q.done = true;
	pthread_cond_broadcast(&q.more);
	pthread_mutex_unlock(&q.lock);
	for (size_t i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	for (size_t i = q.head; i < q.n; i++)	/* no thread to do it */
		close(q.fds[i]);
	_exit(0);
}

/* ---- cprof's side ---- */

void keeper_start(struct keeper *k)
{
	int sv[2], st;
	pid_t mid;

	*k = (struct keeper){ .sock = -1 };
	k->closed = mmap(NULL, sizeof(*k->closed), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (k->closed == MAP_FAILED)
		k->closed = NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		debug("keeper: socketpair: %s: probes handled in cprof", strerror(errno));
		return;
	}
	mid = fork();
	if (mid == 0) {
		close(sv[0]);
		if (fork() == 0)
			keeper_main(sv[1], k->closed);
		_exit(0);
	}
	close(sv[1]);
	if (mid < 0) {
		debug("keeper: fork: %s: probes handled in cprof", strerror(errno));
		close(sv[0]);
		return;
	}
	while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
		;
	k->sock = sv[0];
}

/* The keeper's answer to a request: cprof's copy of the fd, or -errno. */
static int await_reply(struct keeper *k, int *kfd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct reply r;
	struct iovec iov = { &r, sizeof(r) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	ssize_t got;
	int fd = -1;

	do
		got = recvmsg(k->sock, &mh, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (got != (ssize_t)sizeof(r) || r.err) {
		if (fd >= 0)
			close(fd);
		return got != (ssize_t)sizeof(r) ? -EPIPE : -r.err;
	}
	if (fd < 0)
		return -EPROTO;
	*kfd = r.kfd;
	return fd;
}

int keeper_open(struct keeper *k, const struct perf_event_attr *pa, const char *path,
		pid_t tid, int group, unsigned long flags, int *kfd)
{
	struct request rq;	/* ~4 KiB: one per call, serve may record in several threads */

	if (k->sock < 0) {
		struct perf_event_attr a = *pa;
		int fd;

		a.config1 = (uint64_t)(uintptr_t)path;
		fd = (int)syscall(SYS_perf_event_open, &a, tid, -1, group, flags);
		*kfd = fd;
		return fd < 0 ? -errno : fd;
	}
	if (strlen(path) >= sizeof(rq.path))
		return -ENAMETOOLONG;
	memset(&rq, 0, offsetof(struct request, path));
	rq.op = REQ_OPEN;
	rq.group = group;
	rq.tid = tid;
	rq.flags = flags;
	rq.pa = *pa;
	strcpy(rq.path, path);
	if (send(k->sock, &rq, offsetof(struct request, path) + strlen(path) + 1,
		 MSG_NOSIGNAL) < 0)
		return -errno;
	return await_reply(k, kfd);
}

int keeper_link(struct keeper *k, int prog, const char *path, pid_t pid, const uint64_t *off,
		const uint64_t *ids, size_t n, int *kfd)
{
	struct request rq;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &rq, 0 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;

	if (n > KEEPER_LINK_MAX)
		return -E2BIG;
	if (k->sock < 0) {
		int fd = uprobe_multi_link(prog, path, pid, off, ids, (uint32_t)n);

		*kfd = fd;
		return fd < 0 ? -errno : fd;
	}
	if (strlen(path) >= sizeof(rq.path))
		return -ENAMETOOLONG;
	memset(&rq, 0, offsetof(struct request, path));
	rq.op = REQ_LINK;
	rq.tid = pid;
	rq.n = (uint32_t)n;
	memcpy(rq.off, off, n * sizeof(*off));
	memcpy(rq.ids, ids, n * sizeof(*ids));
	strcpy(rq.path, path);
	iov.iov_len = offsetof(struct request, path) + strlen(path) + 1;
	/* the program goes with the request (SCM_RIGHTS) */
	memset(&u, 0, sizeof(u));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &prog, sizeof(int));
	if (sendmsg(k->sock, &mh, MSG_NOSIGNAL) < 0)
		return -errno;
	return await_reply(k, kfd);
}

void keeper_close(struct keeper *k, const int *fds, const int *kfds, size_t n)
{
	struct request rq = { .op = REQ_CLOSE };

	for (size_t i = 0; i < n; i++)
		close(fds[i]);	/* a copy: the keeper's is the last */
	k->asked += n;
	if (k->sock < 0) {
		if (k->closed)	/* closed above, at once */
			__atomic_store_n(k->closed, k->asked, __ATOMIC_RELEASE);
		return;		/* the same fds */
	}
	for (size_t i = 0; i < n; i += CHUNK) {
		rq.n = (uint32_t)(n - i < CHUNK ? n - i : CHUNK);
		memcpy(rq.kfds, kfds + i, rq.n * sizeof(int));
		while (send(k->sock, &rq, offsetof(struct request, kfds) + rq.n * sizeof(int),
			    MSG_NOSIGNAL) < 0 && errno == EINTR)
			;
	}
}

uint64_t keeper_asked(const struct keeper *k)
{
	return k->asked;
}

uint64_t keeper_closed(const struct keeper *k)
{
	return k->closed ? __atomic_load_n(k->closed, __ATOMIC_ACQUIRE) : k->asked;
}

int keeper_finish(struct keeper *k, int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000;
	int ret = 0;

	if (k->sock < 0)
		goto out;
	shutdown(k->sock, SHUT_WR);
	for (;;) {
		struct pollfd p = { .fd = k->sock, .events = POLLIN };
		uint64_t now = now_ns();
		char byte;
		int n;

		if (now >= end) {
			ret = -1;
			break;
		}
		n = poll(&p, 1, (int)((end - now + 999999) / 1000000));
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0) {
			ssize_t r = recv(k->sock, &byte, 1, MSG_DONTWAIT);

			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				break;	/* end of file: the keeper has exited */
		}
	}
	close(k->sock);
	k->sock = -1;
out:
	if (k->closed)
		munmap(k->closed, sizeof(*k->closed));
	k->closed = NULL;
	return ret;
}
