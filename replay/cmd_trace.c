/*
 * wflow trace: the journal's timelines (replay/timeline.h) as a Chrome
 * Trace Event JSON file, for Perfetto and chrome://tracing.
 *
 * How this works: one process (pid 1) for the journal, a thread (tid) per
 * workflow. Each workflow attempt is a complete event ("ph":"X") and each
 * step try another, so retries and resumes show as slices of their own;
 * creations and status changes are instant events ("ph":"i") on the
 * workflow's first track. A viewer draws the slices of one track as a
 * stack: each must lie inside the one it is drawn under. Parallel steps
 * overlap without nesting, so a workflow gets as many tracks ("lanes") as
 * its overlaps need: the slices, taken by start (longest first), each go
 * to the first lane where they nest. That test is cheap because slices
 * come in order of start: a lane keeps only the chain of slices that
 * contain the latest start (the ones that ended before it can contain
 * nothing that comes later), so a new slice fits if the innermost slice
 * still open contains it, or none is open.
 *
 * Times are microseconds since the journal's first event, printed with
 * three decimals (the journal's nanoseconds exactly; absolute epoch
 * microseconds would need more digits than a double holds).
 *
 * This file also holds what trace and report share (the timeline load
 * with its error messages, a progress bar, the output file); cmd_report.c
 * declares them.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "replay/cli.h"
#include "replay/dumpfmt.h"
#include "replay/map.h"
#include "replay/timeline.h"
#include "replay/vec.h"

const char usage_trace[] =
	"usage: wflow trace DIR [ID...] -o FILE\n"
	"\n"
	"Write the history of the workflows in the journal (all of them, or\n"
	"the IDs named) as a Chrome Trace Event JSON file: open it in\n"
	"Perfetto (\"Open trace file\") or chrome://tracing.\n"
	"  - a track per workflow, named by its id; where steps ran in\n"
	"    parallel, more tracks \"ID (2)\", \"ID (3)\"... (a track draws\n"
	"    its slices nested, and parallel steps overlap)\n"
	"  - a slice per workflow attempt (\"attempt 2 (resume)\") and a\n"
	"    slice per try of a step, named by the step id: each retry and\n"
	"    each resume is a slice of its own. Its args: workflow_id,\n"
	"    step_id, name, attempt (the try), run (the workflow attempt),\n"
	"    outcome (SUCCEEDED, FAILED, CONTINUED: returned a sub-workflow,\n"
	"    INTERRUPTED: by a crash, CANCELED: with the workflow, RUNNING:\n"
	"    not ended yet, UNFINISHED: the workflow stopped without it\n"
	"    ending), error, and the workflow's user_metadata\n"
	"  - an instant event per creation and status change, with its\n"
	"    cause (\"crash detected at open\": the workflow was RUNNING\n"
	"    in an engine that was gone when the next one started)\n"
	"Times are microseconds since the journal's first event, whose time\n"
	"is otherData.origin. Takes no lock: works while an engine runs.\n"
	"\n"
	"  -o, --output FILE  the file to write (required; - for stdout)\n"
	"  -h, --help         show this help\n"
	"\n"
	"exit codes: 0 written, 1 the journal is damaged or missing from DIR,\n"
	"or an ID is not in it, 2 usage error, unreadable directory, or FILE\n"
	"cannot be written.\n";

/* ---- trace events -------------------------------------------------------- */

enum { TE_ATTEMPT, TE_TRY, TE_CHANGE };

typedef struct tevent {
	int64_t ts, dur; /* ns since the origin; dur < 0: an instant */
	unsigned tid;
	int kind;            /* TE_* */
	size_t wf;           /* index in the timeline */
	size_t i;            /* the change (attempt, status) or try */
	const char *outcome; /* a try's, or RUNNING/UNFINISHED */
	const char *status;  /* an attempt's: the status it ended with */
	size_t order;        /* ties keep the order of creation */
} tevent;

typedef struct tlist {
	tevent *v;
	size_t n, cap;
} tlist;

static tevent *tlist_add(tlist *l)
{
	tevent *v = wf_vec_room(l->v, &l->cap, l->n, sizeof *v, 1024);
	if (!v)
		return NULL;
	l->v = v;
	tevent *e = &l->v[l->n];
	memset(e, 0, sizeof *e);
	e->order = l->n++;
	return e;
}

/* The latest time known of w. */
static int64_t wf_last_ns(const wf_tl_wf *w)
{
	int64_t last = 0;
	for (size_t i = 0; i < w->nchanges; i++)
		if (w->changes[i].time_ns > last)
			last = w->changes[i].time_ns;
	for (size_t i = 0; i < w->ntries; i++) {
		if (w->tries[i].start_ns > last)
			last = w->tries[i].start_ns;
		if (w->tries[i].end_ns > last)
			last = w->tries[i].end_ns;
	}
	return last;
}

/*
 * The end of the attempt that changes[i] started: the next attempt, or
 * the workflow leaving RUNNING (*status: the status it left for). An
 * attempt not ended goes on to the end of the journal if the workflow is
 * RUNNING (*status "RUNNING"), else to the last time known of it
 * ("UNFINISHED").
 */
static int64_t attempt_end(const wf_timeline *t, const wf_tl_wf *w, size_t i,
                           const char **status)
{
	for (size_t k = i + 1; k < w->nchanges; k++) {
		const wf_tl_change *d = &w->changes[k];
		if (d->what[0] == 'a') {
			*status = NULL;
			return d->time_ns;
		}
		if (d->what[0] == 's' && d->status &&
		    strcmp(d->status, "RUNNING") != 0) {
			*status = d->status;
			return d->time_ns;
		}
	}
	/* No status yet: its first attempt was journaled before its
	 * RUNNING (they may be in different commits). */
	int running = !w->deleted &&
	              (!w->status || strcmp(w->status, "RUNNING") == 0);
	*status = running ? "RUNNING" : "UNFINISHED";
	return running ? t->last_ns : wf_last_ns(w);
}

/* Where a try that has not ended is cut: with its attempt (RUNNING if
 * that goes on, else UNFINISHED). */
static int64_t try_end(const wf_timeline *t, const wf_tl_wf *w,
                       const wf_tl_try *tr, const char **outcome)
{
	const char *st = "UNFINISHED";
	int64_t end = wf_last_ns(w);
	for (size_t i = w->nchanges; i-- > 0;)
		if (w->changes[i].what[0] == 'a' &&
		    w->changes[i].attempt == tr->run) {
			end = attempt_end(t, w, i, &st);
			break;
		}
	*outcome = st && strcmp(st, "RUNNING") == 0 ? "RUNNING" : "UNFINISHED";
	return end > tr->start_ns ? end : tr->start_ns;
}

/* A lane: the chain of its slices that contain the latest start, outer
 * first (their ends). */
typedef struct lane {
	int64_t *ends;
	size_t n, cap;
	unsigned tid;
} lane;

typedef struct lanes {
	lane *v;
	size_t n, cap;
} lanes;

/* By time; at one time the enclosing slice first (the longer), then the
 * instants: the order lanes are assigned in, and the order of the file
 * (a viewer that reads in order sees parents before their children). */
static int by_time(const void *a, const void *b)
{
	const tevent *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->dur != y->dur)
		return x->dur > y->dur ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Put each slice of ev[0..n) (one workflow's, by start) on the first lane
 * where it nests; new lanes get tids from *next_tid. @return 0 or -1. */
static int assign_lanes(tevent *ev, size_t n, lanes *ls, unsigned *next_tid)
{
	ls->n = 0;
	for (size_t k = 0; k < n; k++) {
		tevent *e = &ev[k];
		int64_t end = e->ts + e->dur;
		size_t i;
		for (i = 0; i < ls->n; i++) {
			lane *l = &ls->v[i];
			/* Slices that ended by this start contain nothing
			 * from here on: drop them (touching is not
			 * overlapping). */
			while (l->n && l->ends[l->n - 1] <= e->ts)
				l->n--;
			if (!l->n || end <= l->ends[l->n - 1])
				break;
		}
		if (i == ls->n) {
			if (ls->n == ls->cap) {
				size_t cap = ls->cap ? 2 * ls->cap : 4;
				lane *v = realloc(ls->v, cap * sizeof *v);
				if (!v)
					return -1;
				memset(v + ls->cap, 0,
				       (cap - ls->cap) * sizeof *v);
				ls->v = v;
				ls->cap = cap;
			}
			ls->v[ls->n].n = 0;
			ls->v[ls->n].tid = (*next_tid)++;
			ls->n++;
		}
		lane *l = &ls->v[i];
		if (l->n == l->cap) {
			size_t cap = l->cap ? 2 * l->cap : 8;
			int64_t *v = realloc(l->ends, cap * sizeof *v);
			if (!v)
				return -1;
			l->ends = v;
			l->cap = cap;
		}
		/* A zero-length slice can hold nothing: no need to keep it,
		 * and keeping it would refuse a sibling starting there. */
		if (e->dur > 0)
			l->ends[l->n++] = end;
		e->tid = l->tid;
	}
	return 0;
}

/* The slices and instants of workflow wi, appended to l; its lanes' tids
 * (the first one is *first_tid) come from *next_tid. */
static int add_workflow(const wf_timeline *t, size_t wi, int64_t origin,
                        tlist *l, lanes *ls, unsigned *next_tid,
                        unsigned *first_tid, unsigned *nlanes)
{
	const wf_tl_wf *w = t->wfs[wi];
	size_t from = l->n;
	for (size_t i = 0; i < w->nchanges; i++) {
		const wf_tl_change *c = &w->changes[i];
		if (c->what[0] != 'a')
			continue;
		const char *status;
		int64_t end = attempt_end(t, w, i, &status);
		tevent *e = tlist_add(l);
		if (!e)
			return -1;
		e->kind = TE_ATTEMPT;
		e->wf = wi;
		e->i = i;
		e->ts = c->time_ns - origin;
		e->dur = end > c->time_ns ? end - c->time_ns : 0;
		e->status = status;
	}
	for (size_t i = 0; i < w->ntries; i++) {
		const wf_tl_try *tr = &w->tries[i];
		tevent *e = tlist_add(l);
		if (!e)
			return -1;
		e->kind = TE_TRY;
		e->wf = wi;
		e->i = i;
		e->ts = tr->start_ns - origin;
		int64_t end = tr->end_ns;
		e->outcome = tr->outcome;
		if (!end || !tr->outcome)
			end = try_end(t, w, tr, &e->outcome);
		e->dur = end > tr->start_ns ? end - tr->start_ns : 0;
	}
	qsort(l->v + from, l->n - from, sizeof *l->v, by_time);
	unsigned tid0 = *next_tid;
	if (assign_lanes(l->v + from, l->n - from, ls, next_tid) < 0)
		return -1;
	if (*next_tid == tid0) /* no slices: a lane for the instants */
		(*next_tid)++;
	*first_tid = tid0;
	*nlanes = *next_tid - tid0;
	for (size_t i = 0; i < w->nchanges; i++) {
		const wf_tl_change *c = &w->changes[i];
		if (c->what[0] == 'a')
			continue;
		tevent *e = tlist_add(l);
		if (!e)
			return -1;
		e->kind = TE_CHANGE;
		e->wf = wi;
		e->i = i;
		e->ts = c->time_ns - origin;
		e->dur = -1;
		e->tid = tid0;
	}
	return 0;
}

/* ---- output -------------------------------------------------------------- */

/* What the events are written with: the stream, a buffer for escaping,
 * and each workflow's id and user metadata escaped once (a trace holds
 * millions of events, most of them repeating these). */
typedef struct out {
	FILE *f;
	char *buf;
	size_t cap;
	const wf_timeline *t;
	char **id; /* "\"ID\"" */
	char **md; /* ",\"user_metadata\":{...}", or "" */
} out;

/* s as a JSON string (escaped as wflow dump does) in o->buf.
 * @return its length, or 0 when out of memory. */
static size_t esc_json(out *o, const char *s)
{
	size_t n = strlen(s);
	if (n > (SIZE_MAX - 2) / 6 - 1)
		return 0;
	if (6 * n + 2 > o->cap) {
		size_t cap = 6 * n + 2 > 2 * o->cap ? 6 * n + 2 : 2 * o->cap;
		char *p = realloc(o->buf, cap);
		if (!p)
			return 0;
		o->buf = p;
		o->cap = cap;
	}
	return wf_dump_string(o->buf, s, n);
}

static void put_str(out *o, const char *s)
{
	size_t n = esc_json(o, s);
	if (n)
		fwrite(o->buf, 1, n, o->f);
	else
		fputs("\"\"", o->f);
}

static char *dup_json(out *o, const char *s)
{
	size_t n = esc_json(o, s);
	return n ? strndup(o->buf, n) : NULL;
}

/* ns as microseconds, exactly: "12.345". */
static void put_us(FILE *f, int64_t ns)
{
	if (ns < 0) {
		fputc('-', f);
		ns = -ns;
	}
	fprintf(f, "%" PRId64 ".%03d", ns / 1000, (int)(ns % 1000));
}

/* The workflow's user metadata as an args member: the journal's JSON,
 * made compact (a value that does not parse is given as a string). */
static char *metadata_arg(out *o, const wf_tl_wf *w)
{
	if (!w->user_metadata)
		return strdup("");
	static const char key[] = ",\"user_metadata\":";
	cJSON *v = cJSON_Parse(w->user_metadata);
	char *s = v ? cJSON_PrintUnformatted(v) : dup_json(o, w->user_metadata);
	cJSON_Delete(v);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *a = malloc(sizeof key + n);
	if (a) {
		memcpy(a, key, sizeof key - 1);
		memcpy(a + sizeof key - 1, s, n + 1);
	}
	free(s);
	return a;
}

/* A track's name: the workflow's id, "#2" for the second workflow of that
 * id (the first was deleted), "(2)" for its second lane. */
static void put_lane_name(out *o, const char *id, unsigned incarnation,
                          unsigned k)
{
	char suffix[48] = "";
	if (incarnation > 1 && k > 1)
		snprintf(suffix, sizeof suffix, " #%u (%u)", incarnation, k);
	else if (incarnation > 1)
		snprintf(suffix, sizeof suffix, " #%u", incarnation);
	else if (k > 1)
		snprintf(suffix, sizeof suffix, " (%u)", k);
	size_t n = strlen(id), m = strlen(suffix);
	char *s = malloc(n + m + 1);
	if (!s) {
		put_str(o, id);
		return;
	}
	memcpy(s, id, n);
	memcpy(s + n, suffix, m + 1);
	put_str(o, s);
	free(s);
}

/* The common head of an event: name, cat, ph, ts[, dur], pid, tid, and
 * args' first member, workflow_id. */
static void put_head(out *o, const tevent *e, const char *cat, const char *ph)
{
	FILE *f = o->f;
	fprintf(f, ",\"cat\":\"%s\",\"ph\":\"%s\",%s\"ts\":", cat, ph,
	        e->dur < 0 ? "\"s\":\"t\"," : "");
	put_us(f, e->ts);
	if (e->dur >= 0) {
		fputs(",\"dur\":", f);
		put_us(f, e->dur);
	}
	fprintf(f, ",\"pid\":1,\"tid\":%u,\"args\":{\"workflow_id\":%s", e->tid,
	        o->id[e->wf]);
}

static void put_event(out *o, const tevent *e)
{
	FILE *f = o->f;
	const wf_tl_wf *w = o->t->wfs[e->wf];
	if (e->kind == TE_TRY) {
		const wf_tl_try *tr = &w->tries[e->i];
		fputs("{\"name\":", f);
		size_t n = esc_json(o, tr->step_id);
		fwrite(o->buf, 1, n, f);
		put_head(o, e, "step", "X");
		fputs(",\"step_id\":", f);
		fwrite(o->buf, 1, n, f);
		fputs(",\"name\":", f);
		put_str(o, tr->name);
		fprintf(f,
		        ",\"attempt\":%d,\"run\":%d,\"outcome\":\"%s\","
		        "\"seq_start\":%" PRIu64,
		        tr->n, tr->run, e->outcome, tr->seq_start);
		if (tr->seq_end)
			fprintf(f, ",\"seq_end\":%" PRIu64, tr->seq_end);
		if (tr->error) {
			fputs(",\"error\":", f);
			put_str(o, tr->error);
		}
		fputs(o->md[e->wf], f);
	} else if (e->kind == TE_ATTEMPT) {
		const wf_tl_change *c = &w->changes[e->i];
		/* "attempt 2 (resume)" */
		fprintf(f, "{\"name\":\"attempt %d", c->attempt);
		if (c->cause) {
			size_t n = esc_json(o, c->cause);
			if (n >= 2) {
				fputs(" (", f);
				fwrite(o->buf + 1, 1, n - 2, f);
				fputc(')', f);
			}
		}
		fputc('"', f);
		put_head(o, e, "attempt", "X");
		fprintf(f, ",\"attempt\":%d,\"seq\":%" PRIu64, c->attempt,
		        c->seq);
		if (c->cause) {
			fputs(",\"cause\":", f);
			put_str(o, c->cause);
		}
		if (c->session) {
			fputs(",\"session\":", f);
			put_str(o, c->session);
		}
		if (e->status)
			fprintf(f, ",\"ended_as\":\"%s\"", e->status);
		fputs(o->md[e->wf], f);
	} else {
		const wf_tl_change *c = &w->changes[e->i];
		fprintf(f, "{\"name\":\"%s\"",
		        c->what[0] == 'c' ? "created"
		        : c->what[0] == 'r' ? "history retired before"
		        : c->status         ? c->status
		                            : "status");
		put_head(o, e, "status", "i");
		fprintf(f, ",\"what\":\"%s\",\"seq\":%" PRIu64, c->what,
		        c->seq);
		if (c->status)
			fprintf(f, ",\"status\":\"%s\"", c->status);
		if (c->cause) {
			fputs(",\"cause\":", f);
			put_str(o, c->cause);
		}
	}
	fputs("}}", f);
}

/* The ISO 8601 time of ns since the epoch, to the nanosecond. */
static void iso_ns(char *out, size_t n, int64_t ns)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	if (ns < 0 || !gmtime_r(&s, &tm)) {
		snprintf(out, n, "-");
		return;
	}
	char date[24];
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, n, "%s.%09dZ", date, (int)(ns % 1000000000));
}

/* The metadata events: the process's name, each lane's name and place
 * (the order of creation, a workflow's lanes together). */
static void put_names(out *o, const char *jdir, const unsigned *first,
                      const unsigned *nl, const unsigned *incarnation)
{
	FILE *f = o->f;
	fputs("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,"
	      "\"args\":{\"name\":",
	      f);
	size_t n = strlen(jdir);
	char *pname = malloc(n + sizeof "wflow journal ");
	if (pname) {
		memcpy(pname, "wflow journal ", 14);
		memcpy(pname + 14, jdir, n + 1);
	}
	put_str(o, pname ? pname : jdir);
	free(pname);
	fputs("}}", f);
	for (size_t i = 0; i < o->t->n; i++) {
		for (unsigned k = 0; k < nl[i]; k++) {
			unsigned tid = first[i] + k;
			fprintf(f,
			        ",\n{\"name\":\"thread_name\",\"ph\":\"M\","
			        "\"pid\":1,\"tid\":%u,\"args\":{\"name\":",
			        tid);
			put_lane_name(o, o->t->wfs[i]->id, incarnation[i],
			              k + 1);
			fprintf(f,
			        "}},\n{\"name\":\"thread_sort_index\",\"ph\":"
			        "\"M\",\"pid\":1,\"tid\":%u,\"args\":"
			        "{\"sort_index\":%u}}",
			        tid, tid);
		}
	}
}

static int write_trace(FILE *f, const wf_timeline *t, const char *jdir)
{
	/* The origin: the journal's first event, or anything earlier (a
	 * clock stepped back), so that no time is negative. */
	int64_t origin = t->first_ns;
	for (size_t i = 0; i < t->n; i++) {
		const wf_tl_wf *w = t->wfs[i];
		for (size_t k = 0; k < w->nchanges; k++)
			if (w->changes[k].time_ns < origin)
				origin = w->changes[k].time_ns;
		for (size_t k = 0; k < w->ntries; k++)
			if (w->tries[k].start_ns < origin)
				origin = w->tries[k].start_ns;
	}
	out o = {f, NULL, 0, t, NULL, NULL};
	tlist l = {0};
	lanes ls = {0};
	unsigned next_tid = 1;
	unsigned *first = calloc(t->n + 1, sizeof *first);
	unsigned *nl = calloc(t->n + 1, sizeof *nl);
	unsigned *incarnation = calloc(t->n + 1, sizeof *incarnation);
	o.id = calloc(t->n + 1, sizeof *o.id);
	o.md = calloc(t->n + 1, sizeof *o.md);
	int rc = first && nl && incarnation && o.id && o.md ? 0 : -1;
	/* A deleted id used again is a new timeline: "ID #2" names its
	 * track. */
	wf_map seen = {0};
	seen.borrow = 1;
	for (size_t i = 0; i < t->n && rc == 0; i++) {
		const char *id = t->wfs[i]->id;
		uintptr_t k = (uintptr_t)wf_map_get(&seen, id) + 1;
		incarnation[i] = (unsigned)k;
		o.id[i] = dup_json(&o, id);
		o.md[i] = metadata_arg(&o, t->wfs[i]);
		if (wf_map_put(&seen, id, (void *)k) < 0 || !o.id[i] ||
		    !o.md[i])
			rc = -1;
	}
	wf_map_free(&seen);
	for (size_t i = 0; i < t->n && rc == 0; i++)
		rc = add_workflow(t, i, origin, &l, &ls, &next_tid, &first[i],
		                  &nl[i]);
	for (size_t i = 0; i < ls.cap; i++)
		free(ls.v[i].ends);
	free(ls.v);
	if (rc == 0) {
		qsort(l.v, l.n, sizeof *l.v, by_time);
		fputs("{\"traceEvents\":[\n", f);
		put_names(&o, jdir, first, nl, incarnation);
		cli_progress *p =
		        cli_progress_count("trace", "writing events", jdir, l.n);
		for (size_t i = 0; i < l.n; i++) {
			fputs(",\n", f);
			put_event(&o, &l.v[i]);
			if (!(i & 0xfff))
				cli_progress_set(p, i);
		}
		cli_progress_stop(p);
		char origin_iso[48];
		iso_ns(origin_iso, sizeof origin_iso, origin);
		fputs("\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{"
		      "\"generator\":\"wflow trace\",\"version\":",
		      f);
		put_str(&o, wf_version());
		fputs(",\"journal\":", f);
		put_str(&o, jdir);
		fprintf(f,
		        ",\"origin\":\"%s\",\"origin_ns\":%" PRId64
		        ",\"events\":%" PRIu64 ",\"workflows\":%zu}}\n",
		        origin_iso, origin, t->events, t->n);
	}
	for (size_t i = 0; i < t->n; i++) {
		free(o.id ? o.id[i] : NULL);
		free(o.md ? o.md[i] : NULL);
	}
	free(o.id);
	free(o.md);
	free(o.buf);
	free(first);
	free(nl);
	free(incarnation);
	free(l.v);
	return rc;
}

/* "DIR [ID...] -o FILE": parsed here, not by cli_parse_args, whose
 * positionals are capped at CLI_MAX_POS (any number of IDs may be named).
 * pos gets argc entries. @return -1 ok, else the exit code. */
static int parse_trace_args(int argc, char **argv, const char **pos, int *npos,
                            const char **out, int *help)
{
	int only_pos = 0;
	*npos = 0;
	*out = NULL;
	*help = 0;
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (!only_pos && strcmp(s, "--") == 0) {
			only_pos = 1;
		} else if (!only_pos &&
		           (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)) {
			*help = 1;
		} else if (!only_pos && (strcmp(s, "-o") == 0 ||
		                         cli_is_opt(s, "--output"))) {
			const char *v =
			        s[1] == 'o' ? (i + 1 < argc ? argv[++i] : NULL)
			                    : cli_opt_value(argc, argv, &i, 8);
			if (!v || !*v)
				return cli_usage_error(
				        "trace", "-o needs a file name", NULL);
			*out = v;
		} else if (!only_pos && s[0] == '-' && s[1]) {
			return cli_usage_error("trace", "unknown option", s);
		} else {
			pos[(*npos)++] = s;
		}
	}
	return -1;
}

int cmd_trace(int argc, char **argv)
{
	const char **pos = calloc((size_t)argc + 1, sizeof *pos);
	if (!pos) {
		fprintf(stderr, "wflow trace: out of memory\n");
		return EXIT_USAGE;
	}
	const char *out;
	int npos, help;
	int rc = parse_trace_args(argc, argv, pos, &npos, &out, &help);
	if (rc < 0 && help) {
		fputs(usage_trace, stdout);
		rc = EXIT_INTACT;
	} else if (rc < 0 && !npos) {
		rc = cli_usage_error("trace", "missing DIR", NULL);
	} else if (rc < 0 && !out) {
		rc = cli_usage_error("trace", "missing -o FILE", NULL);
	}
	if (rc >= 0) {
		free(pos);
		return rc;
	}
	wf_timeline *t;
	char *jdir;
	rc = cli_timeline_load("trace", pos[0], pos + 1, (size_t)(npos - 1), &t,
	                       &jdir);
	free(pos);
	if (rc >= 0)
		return rc;
	char *tmp;
	FILE *f = cli_outfile_open("trace", out, &tmp);
	int code = EXIT_USAGE;
	if (f) {
		int ok = write_trace(f, t, jdir) == 0;
		if (!ok)
			fprintf(stderr, "wflow trace: out of memory\n");
		rc = cli_outfile_close("trace", out, f, tmp, ok);
		code = rc >= 0 ? rc : EXIT_INTACT;
	}
	wf_timeline_free(t);
	free(jdir);
	return code;
}
