/*
 * One workflow's events out of a long journal, on every core (parts.h).
 */
#include "parts.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/segment.h"
#include "replay/vec.h"
#include "wflow.h"

#define PARTS_MAX 8

typedef struct kept {
	wf_event ev; /* text fields point into mem */
	char *mem;
} kept;

/* A damage report of a part's reader, made after `at` kept events. */
typedef struct report {
	size_t at;
	wf_damage d; /* file and what: copies */
} report;

/* (Each on cache lines of its own: a part's thread writes its counters
 * for every event, next to the next part's thread.) */
typedef struct part {
	_Alignas(64) const char *jdir;
	const wf_parts_opts *o;
	uint64_t from; /* the first sequence number: a segment's first */
	uint64_t to;   /* the next part's from; 0 = to the end */
	int last_part; /* the end of the journal before `to` is its end */
	kept *v;
	size_t n, cap;
	uint64_t events; /* read in the part */
	uint64_t last;   /* the last sequence number read in the part */
	int64_t last_ns; /* and its time */
	int ok;          /* 1: read [from, to) whole, or up to a stop
	                    (o->stop), without an error */
	int stopped;     /* 1: at a stop */
	report *rv;      /* damage reported (o->on_damage set) */
	size_t nr, crv;
	int lost;        /* a report could not be kept */
	pthread_t t;
} part;

static int is_text_kind(uint8_t kind)
{
	return kind == WF_FIELD_TEXT || kind == WF_FIELD_JSON;
}

/* Append a copy of ev (its text included) to p. @return 0 or WF_ENOMEM. */
static int keep(part *p, const wf_event *ev)
{
	kept *v = wf_vec_room(p->v, &p->cap, p->n, sizeof *v, 64);
	if (!v)
		return WF_ENOMEM;
	p->v = v;
	size_t bytes = 1;
	for (uint32_t i = 0; i < ev->nfields; i++)
		if (is_text_kind(ev->fields[i].kind))
			bytes += ev->fields[i].v.s.len;
	kept *k = &p->v[p->n];
	if (!(k->mem = malloc(bytes)))
		return WF_ENOMEM;
	k->ev = *ev;
	char *m = k->mem;
	for (uint32_t i = 0; i < ev->nfields; i++) {
		wf_field *fl = &k->ev.fields[i];
		if (!is_text_kind(fl->kind))
			continue;
		if (fl->v.s.len)
			memcpy(m, fl->v.s.ptr, fl->v.s.len);
		fl->v.s.ptr = m;
		m += fl->v.s.len;
	}
	p->n++;
	return 0;
}

/* on_damage of a part's reader: kept for the caller's thread. */
static void part_damage(void *ud, const wf_damage *d)
{
	part *p = ud;
	report *v = wf_vec_room(p->rv, &p->crv, p->nr, sizeof *v, 4);
	if (v)
		p->rv = v;
	char *file = strdup(d->file ? d->file : "");
	char *what = strdup(d->what ? d->what : "");
	if (!v || !file || !what) {
		free(file);
		free(what);
		p->lost = 1;
		return;
	}
	report *r = &p->rv[p->nr++];
	*r = (report){p->n, *d};
	r->d.file = file;
	r->d.what = what;
}

/* Hand part p's reports made after `at` kept events to the caller. */
static void replay_reports(const part *p, size_t *next, size_t at)
{
	for (; *next < p->nr && p->rv[*next].at <= at; ++*next)
		p->o->on_damage(p->o->damage_ud, &p->rv[*next].d);
}

static void part_free(part *p)
{
	for (size_t i = 0; i < p->nr; i++) {
		free((char *)p->rv[i].d.file);
		free((char *)p->rv[i].d.what);
	}
	free(p->rv);
	p->rv = NULL;
	p->nr = 0;
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].mem);
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}

/* Read part p (a thread). */
static void *read_part(void *arg)
{
	part *p = arg;
	wf_reader *r = NULL;
	const wf_event *ev;
	uint64_t want = p->from;
	wf_reader_opts ro = WF_READER_OPTS_INIT;
	if (p->o->on_damage) {
		ro.on_damage = part_damage;
		ro.damage_ud = p;
	}
	int rc = wf_reader_open(&r, p->jdir, &ro);
	if (rc == 0)
		rc = wf_reader_seek(r, p->from);
	while (rc >= 0 && (rc = wf_reader_next(r, &ev)) == 1) {
		if (ev->seq < want)
			break; /* not what one pass reads: leave it to it */
		if (p->to && ev->seq >= p->to) {
			p->ok = ev->seq == p->to && p->last;
			break;
		}
		if (!p->last && ev->seq != p->from)
			break;
		if (p->o->stop && p->o->stop(p->o->stop_ctx, ev)) {
			p->stopped = 1;
			break;
		}
		p->last = ev->seq;
		p->last_ns = ev->time_ns;
		p->events++;
		want = ev->seq + 1;
		if (p->o->want(p->o->want_ctx, ev) && keep(p, ev) < 0)
			break;
	}
	if (rc == 0 && p->last_part)
		p->ok = p->last != 0; /* the end of the journal */
	if (p->stopped)
		p->ok = 1;
	if (p->lost)
		p->ok = 0;
	wf_reader_close(r);
	return NULL;
}

int wf_parts_cores(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/*
 * Choose where parts start: segment starts after `from`, splitting the
 * bytes from from's segment on (up to the segment holding `until`, if not
 * 0) into up to nparts about equal shares.
 * @return the number of parts (1: not worth splitting), their starts in
 *         starts[0..n) (starts[0] = from).
 */
static int plan_parts(const char *jdir, uint64_t from, uint64_t until,
                      int nparts, uint64_t min_bytes, uint64_t *starts)
{
	wf_seg_list l;
	int e;
	if (wf_seg_list_read(wf_io_posix(), jdir, &l, &e) < 0)
		return 1;
	uint64_t *size = calloc(l.n ? l.n : 1, sizeof *size);
	size_t s0 = 0, n = 1;
	uint64_t total = 0;
	if (!size)
		goto out;
	while (s0 + 1 < l.n && l.v[s0 + 1].first_seq <= from)
		s0++;
	size_t s1 = l.n; /* the segments to read: [s0, s1) */
	while (until && s1 > s0 && l.v[s1 - 1].first_seq > until)
		s1--;
	for (size_t i = s0; i < s1; i++) {
		struct stat st;
		size[i] = stat(l.v[i].path, &st) == 0 ? (uint64_t)st.st_size : 0;
		total += size[i];
	}
	if (total < min_bytes || total == 0)
		goto out;
	starts[0] = from;
	uint64_t sum = size[s0];
	for (size_t i = s0 + 1; i < s1 && (int)n < nparts; i++) {
		/* Part n starts at the first segment past its share. */
		if (sum >= total / (uint64_t)nparts * n && l.v[i].first_seq > from)
			starts[n++] = l.v[i].first_seq;
		sum += size[i];
	}
out:
	free(size);
	wf_seg_list_free(&l);
	return (int)n;
}

int wf_parts_scan(wf_reader *r, const char *jdir, uint64_t from,
                  const wf_parts_opts *o, wf_parts_result *res)
{
	uint64_t starts[PARTS_MAX];
	memset(res, 0, sizeof *res);
	int n = plan_parts(jdir, from, o->until,
	                   o->nparts < PARTS_MAX ? o->nparts : PARTS_MAX,
	                   o->min_bytes, starts);
	if (n < 2)
		return 1;
	part parts[PARTS_MAX];
	memset(parts, 0, sizeof parts);
	int started = 1;
	for (int i = 1; i < n; i++) {
		part *p = &parts[i];
		p->jdir = jdir;
		p->o = o;
		p->from = starts[i];
		p->last_part = i + 1 == n;
		p->to = !p->last_part ? starts[i + 1]
		        : o->until    ? o->until + 1
		                      : 0;
		if (pthread_create(&p->t, NULL, read_part, p) != 0)
			break;
		started++;
	}
	int ok = started == n;
	int end = n; /* the parts that count: [0, end) (a stop ends them) */
	if (ok) {
		/* The first part, here. */
		const wf_event *ev;
		ok = 0;
		while (wf_reader_next(r, &ev) == 1) {
			if (ev->seq >= starts[1]) {
				ok = ev->seq == starts[1];
				break;
			}
			if (o->stop && o->stop(o->stop_ctx, ev)) {
				ok = 1;
				end = 1;
				break;
			}
			if (o->fn(o->fn_ctx, ev) < 0)
				break;
		}
	}
	for (int i = 1; i < started; i++)
		pthread_join(parts[i].t, NULL);
	for (int i = 1; i < end && i < started; i++) {
		ok = ok && parts[i].ok;
		if (parts[i].stopped)
			end = i + 1;
	}
	for (int i = 1; ok && i < end; i++) {
		size_t next = 0; /* (reports, if any) */
		for (size_t k = 0; ok && k < parts[i].n; k++) {
			replay_reports(&parts[i], &next, k);
			ok = o->fn(o->fn_ctx, &parts[i].v[k].ev) == 0;
		}
		if (ok)
			replay_reports(&parts[i], &next, SIZE_MAX);
		res->later += parts[i].events;
		res->kept += parts[i].n;
		if (parts[i].last) { /* (a part may stop at its first event) */
			res->last_seq = parts[i].last;
			res->last_ns = parts[i].last_ns;
		}
	}
	for (int i = 1; i < n; i++)
		part_free(&parts[i]);
	if (ok)
		res->used = n;
	return ok ? 0 : 2;
}
