/*
 * cmd/view.c - a finished recording or snapshot as record writes it and
 * serve answers it (struct view): its pprof meta data and comments (the
 * mode's words), every format record takes, and a snapshot's thread dump,
 * in one place both commands call.
 */
#define _GNU_SOURCE
#include "view.h"
#include "../attach/procfs.h"
#include "../attach/sampler.h"
#include "../attach/snapshot.h"
#include "../lib/stack.h"
#include "../lib/util.h"
#include "../profiles/builder.h"
#include "../profiles/format.h"
#include "../profiles/pprof.h"
#include "../profiles/reader.h"
#include "../profiles/report.h"
#include "../profiles/text.h"
#include "../symbolize/symbolize.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The pprof profile read back and printed as `cprof report` prints it. */
static int print_read_back(FILE *f, const struct view *a,
			   const unsigned char *pb, size_t pblen)
{
	struct report_opts o = { .node_fraction = 0.005 };
	struct profile_data p;
	struct report r;
	int ret;

	if (profile_read_mem(&p, pb, pblen)) {
		ret = error("reading back the profile: %s", p.err);
		profile_data_release(&p);
		return ret;
	}
	ret = report_build(&r, &p, &o);
	if (ret)
		error("%s", r.err);
	else
		ret = a->fmt->print_report(f, &r, &o, a->path);
	report_release(&r);
	profile_data_release(&p);
	return ret;
}

static int render(FILE *f, const struct view *a, const struct pprof_meta *meta)
{
	const struct pb_view v = {
		.b = a->b, .sym = a->sym, .type = a->pt->name,
		.types = a->pt->types, .ntypes = a->pt->nvalues,
		/* pair: the live objects, as Go's custom profiles show */
		.count_value = a->pt->default_type ? a->pt->default_type - 1 : 0,
		.labels = meta->labels,
	};
	unsigned char *pb = NULL;
	size_t pblen = 0;
	int ret;

	switch (a->fmt->record) {
	case RECORD_SAMPLES:
		/* -t threads' dump has what the snapshot saw of each thread */
		if (a->snap && !strcmp(a->fmt->name, "dump")) {
			view_thread_dump(f, a->snap, a->sym);
			return 0;
		}
		return a->fmt->print_samples(f, &v);
	case RECORD_ENCODED:
	case RECORD_READ_BACK:
		if (pprof_encode(a->b, a->sym, meta, &pb, &pblen))
			return -1;
		if (a->fmt->record == RECORD_ENCODED)
			ret = fwrite(pb, 1, pblen, f) == pblen ? 0 : -1;
		else
			ret = print_read_back(f, a, pb, pblen);
		free(pb);
		return ret;
	case NOT_IN_RECORD:
		break;
	}
	BUG("format %s is not one of record's", a->fmt->name);
}

/* The profile's comments are the caller's, freed by free_comments(). */
static void add_comment(struct pprof_meta *m, char *comment)
{
	m->comments[m->ncomments++] = comment;
}

static void free_comments(struct pprof_meta *m)
{
	for (size_t i = 0; i < m->ncomments; i++)
		free((char *)m->comments[i]);
	m->ncomments = 0;
}

struct symbolizer *view_symbolizer(struct sampler *s, struct profile_builder *b,
				   const struct profile_type *pt,
				   const char *debuginfo_path)
{
	struct symbolizer *sym = symbolizer_new(sampler_addrspace(s), debuginfo_path);

	if (pt->filter)
		pt->filter(b, sym);
	return sym;
}

static void say_comment(void *meta, char *line)
{
	add_comment(meta, line);
}

/* A recording's meta data and comments (Go's sample types, the mode's words). */
static void recording_meta(const struct view *a, struct pprof_meta *meta)
{
	const struct sampler *s = a->rec;
	const struct sampler_result *r = &s->res;
	const struct profile_type *pt = a->pt;

	*meta = (struct pprof_meta){
		.ntypes = pt->nvalues,
		.period_type = { pt->period_type[0], pt->period_type[1] },
		.period = sampler_period(&s->opts),
		.time_nanos = (int64_t)r->start_realtime_ns,
		.duration_nanos = (int64_t)r->duration_ns,
		.labels = pt->labels,
		.num_label = pt->num_label,
		.default_type = pt->default_type,
	};
	for (size_t i = 0; i < pt->nvalues; i++) {
		meta->sample_types[i][0] = pt->types[i][0];
		meta->sample_types[i][1] = pt->types[i][1];
	}
	add_comment(meta, xasprintf("cprof %s", CPROF_VERSION));
	add_comment(meta, xasprintf("command: %s", a->command));
	if (a->target_cmd)
		add_comment(meta, xasprintf("target: pid %d: %s", r->pid, a->target_cmd));
	else
		add_comment(meta, xasprintf("target: pid %d", r->pid));
	if (s->opts.mode->comments)
		s->opts.mode->comments(s, say_comment, meta);
}

/* A snapshot's (-t threads) */
static void snapshot_meta(const struct view *a, struct pprof_meta *meta)
{
	const struct profile_type *pt = a->pt;

	*meta = (struct pprof_meta){
		.sample_types = { { pt->types[0][0], pt->types[0][1] } },
		.ntypes = 1,
		.period_type = { pt->period_type[0], pt->period_type[1] },
		.period = 1,
		.time_nanos = (int64_t)a->snap_realtime_ns,
		.labels = pt->labels,
	};
	add_comment(meta, xasprintf("cprof %s", CPROF_VERSION));
	add_comment(meta, xasprintf("command: %s", a->command));
	add_comment(meta, xasprintf("target: pid %d", a->snap->opts.pid));
	add_comment(meta, xasprintf("process stopped for %lluus",
				    (unsigned long long)a->snap->stopped_ns / 1000));
}

int view_print(FILE *f, void *arg)
{
	const struct view *a = arg;
	struct pprof_meta meta;
	int ret;

	if (a->rec)
		recording_meta(a, &meta);
	else
		snapshot_meta(a, &meta);
	ret = render(f, a, &meta);
	free_comments(&meta);
	return ret;
}

size_t view_snapshot_samples(const struct snapshot *snap, struct profile_builder *b)
{
	size_t n = 0;

	for (size_t i = 0; i < snap->n; i++) {
		const struct snap_thread *t = &snap->v[i];
		static const uint64_t unknown = PC_UNKNOWN;
		int64_t one = 1;

		if (t->result == SNAP_GONE || t->result == SNAP_SKIPPED)
			continue;
		/* a thread that did not stop still counts, with no stack */
		if (t->result == SNAP_OK)
			pb_add_labeled(b, 0, (unsigned char)t->state & 127, t->epoch,
				       t->pcs, t->npcs, &one);
		else
			pb_add_labeled(b, 0, (unsigned char)t->state & 127, 0,
				       &unknown, 1, &one);
		n++;
	}
	return n;
}

/* "read(0x3)" for a thread blocked in a system call, else its wchan */
void view_blocked_in(const struct snap_thread *t, char *buf, size_t size)
{
	const char *name = syscall_name(t->syscall_nr);

	buf[0] = '\0';
	if (t->state == 'R')
		return;
	if (t->syscall_nr >= 0 && name)
		snprintf(buf, size, "%s(0x%" PRIx64 ")", name, t->syscall_arg0);
	else if (t->syscall_nr >= 0)
		snprintf(buf, size, "syscall_%ld(0x%" PRIx64 ")", t->syscall_nr, t->syscall_arg0);
	else if (t->wchan[0])
		snprintf(buf, size, "%s", t->wchan);
}

double view_cpu_seconds(const struct snap_thread *t)
{
	return (double)(t->utime + t->stime) / sysconf(_SC_CLK_TCK);
}

const char *view_thread_note(const struct snap_thread *t)
{
	switch (t->result) {
	case SNAP_GONE: return "exited before it could be read";
	case SNAP_NO_STOP: return "did not stop in time: no stack";
	case SNAP_OK:
		if (t->eintr_risk)
			return "stack incomplete: not stopped, its call would fail with EINTR (--stop-all)";
		return t->partial ? "did not stop in time: stack incomplete" : NULL;
	default: return NULL;
	}
}

void view_thread_dump(FILE *f, const struct snapshot *s, struct symbolizer *sym)
{
	for (size_t i = 0, first = 1; i < s->n; i++) {
		const struct snap_thread *t = &s->v[i];
		char in[128];

		if (t->result == SNAP_SKIPPED)
			continue;
		view_blocked_in(t, in, sizeof(in));
		fprintf(f, "%sthread %d \"%s\" [%s%s%s, cpu %.2fs]:\n", first ? "" : "\n",
			t->tid, t->name,
			t->result == SNAP_GONE ? "gone" : proc_state_name(t->state),
			in[0] ? ", in " : "", in, view_cpu_seconds(t));
		first = 0;
		text_stack(f, sym, t->epoch, t->pcs, t->npcs);
		if (view_thread_note(t))
			fprintf(f, "(%s)\n", view_thread_note(t));
	}
}
