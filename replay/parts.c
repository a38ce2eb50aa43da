/*
 * One workflow's events out of a long journal, on every core (parts.h).
 */
#include "parts.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/segment.h"
#include "wflow.h"

#define PARTS_MAX 8

typedef struct kept {
	wf_event ev; /* text fields point into mem */
	char *mem;
} kept;

typedef struct part {
	const char *jdir;
	const wf_parts_opts *o;
	uint64_t from; /* the first sequence number: a segment's first */
	uint64_t to;   /* the next part's from; 0 = to the end */
	kept *v;
	size_t n, cap;
	uint64_t events; /* read in the part */
	uint64_t last;   /* the last sequence number read in the part */
	int64_t last_ns; /* and its time */
	int ok;          /* 1: read [from, to) whole, without an error */
	pthread_t t;
} part;

static int is_text_kind(uint8_t kind)
{
	return kind == WF_FIELD_TEXT || kind == WF_FIELD_JSON;
}

/* Append a copy of ev (its text included) to p. @return 0 or WF_ENOMEM. */
static int keep(part *p, const wf_event *ev)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		kept *v = realloc(p->v, cap * sizeof *v);
		if (!v)
			return WF_ENOMEM;
		p->v = v;
		p->cap = cap;
	}
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

static void part_free(part *p)
{
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
	int rc = wf_reader_open(&r, p->jdir, NULL);
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
		p->last = ev->seq;
		p->last_ns = ev->time_ns;
		p->events++;
		want = ev->seq + 1;
		if (p->o->want(p->o->want_ctx, ev) && keep(p, ev) < 0)
			break;
	}
	if (rc == 0 && !p->to)
		p->ok = p->last != 0; /* the end of the journal */
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
 * bytes from from's segment on into up to nparts about equal shares.
 * @return the number of parts (1: not worth splitting), their starts in
 *         starts[0..n) (starts[0] = from).
 */
static int plan_parts(const char *jdir, uint64_t from, int nparts,
                      uint64_t min_bytes, uint64_t *starts)
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
	for (size_t i = s0; i < l.n; i++) {
		struct stat st;
		size[i] = stat(l.v[i].path, &st) == 0 ? (uint64_t)st.st_size : 0;
		total += size[i];
	}
	if (total < min_bytes || total == 0)
		goto out;
	starts[0] = from;
	uint64_t sum = size[s0];
	for (size_t i = s0 + 1; i < l.n && (int)n < nparts; i++) {
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
	int n = plan_parts(jdir, from,
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
		p->to = i + 1 < n ? starts[i + 1] : 0;
		if (pthread_create(&p->t, NULL, read_part, p) != 0)
			break;
		started++;
	}
	int ok = started == n;
	if (ok) {
		/* The first part, here. */
		const wf_event *ev;
		ok = 0;
		while (wf_reader_next(r, &ev) == 1) {
			if (ev->seq >= starts[1]) {
				ok = ev->seq == starts[1];
				break;
			}
			if (o->fn(o->fn_ctx, ev) < 0)
				break;
		}
	}
	for (int i = 1; i < started; i++) {
		pthread_join(parts[i].t, NULL);
		ok = ok && parts[i].ok;
	}
	for (int i = 1; ok && i < n; i++) {
		for (size_t k = 0; ok && k < parts[i].n; k++)
			ok = o->fn(o->fn_ctx, &parts[i].v[k].ev) == 0;
		res->later += parts[i].events;
		res->kept += parts[i].n;
		res->last_seq = parts[i].last;
		res->last_ns = parts[i].last_ns;
	}
	for (int i = 1; i < n; i++)
		part_free(&parts[i]);
	if (ok)
		res->used = n;
	return ok ? 0 : 2;
}
