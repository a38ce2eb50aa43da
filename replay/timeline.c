/*
 * Timelines (see timeline.h): one pass over the journal, each event
 * appended to its workflow's changes or step tries. A map from id to the
 * workflow's live timeline finds it; a deletion takes the id out of the
 * map, so that a later workflow with the same id starts a timeline of its
 * own.
 */
#include "timeline.h"

#include "journal/segment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal/journal.h"
#include "replay/events.h"
#include "replay/map.h"
#include "replay/parts.h"
#include "replay/vec.h"
#include "wflow.h"

static char *field_str(const wf_event *ev, unsigned i)
{
	if (i >= ev->nfields || (ev->fields[i].kind != WF_FIELD_TEXT &&
	                         ev->fields[i].kind != WF_FIELD_JSON))
		return NULL;
	return strndup(ev->fields[i].v.s.ptr, ev->fields[i].v.s.len);
}

static int64_t field_int(const wf_event *ev, unsigned i)
{
	if (i >= ev->nfields)
		return 0;
	if (ev->fields[i].kind == WF_FIELD_UINT)
		return (int64_t)ev->fields[i].v.u;
	if (ev->fields[i].kind == WF_FIELD_INT)
		return ev->fields[i].v.i;
	return 0;
}

static int field_eq(const wf_event *ev, unsigned i, const char *s)
{
	size_t n = strlen(s);
	return i < ev->nfields && ev->fields[i].kind == WF_FIELD_TEXT &&
	       ev->fields[i].v.s.len == n &&
	       memcmp(ev->fields[i].v.s.ptr, s, n) == 0;
}

static const char *const statuses[] = {"RUNNING", "FAILED", "RESUMABLE",
                                       "CANCELED", "SUCCESSFUL"};

static const char *status_of(const wf_event *ev, unsigned i)
{
	for (size_t k = 0; k < sizeof statuses / sizeof statuses[0]; k++)
		if (field_eq(ev, i, statuses[k]))
			return statuses[k];
	return NULL;
}

static wf_tl_change *add_change(wf_tl_wf *w, const wf_event *ev,
                                const char *what)
{
	wf_tl_change *v = wf_vec_room(w->changes, &w->cchanges, w->nchanges,
	                              sizeof *v, 8);
	if (!v)
		return NULL;
	w->changes = v;
	wf_tl_change *c = &w->changes[w->nchanges++];
	memset(c, 0, sizeof *c);
	c->seq = ev->seq;
	c->time_ns = ev->time_ns;
	c->what = what;
	return c;
}

static wf_tl_try *add_try(wf_tl_wf *w)
{
	if (w->ntries == w->ctries) {
		size_t cap = w->ctries ? 2 * w->ctries : 8;
		wf_tl_try *v = realloc(w->tries, cap * sizeof *v);
		if (!v)
			return NULL;
		w->tries = v;
		w->ctries = cap;
	}
	wf_tl_try *t = &w->tries[w->ntries++];
	memset(t, 0, sizeof *t);
	return t;
}

/* The open (not ended) try of step id, the latest one. */
static wf_tl_try *open_try(wf_tl_wf *w, const wf_event *ev)
{
	for (size_t i = w->ntries; i-- > 0;) {
		wf_tl_try *t = &w->tries[i];
		if (!t->end_ns && field_eq(ev, 1, t->step_id))
			return t;
	}
	return NULL;
}

/* The step's name: its id without a "_N" suffix. */
static char *name_of(const char *id)
{
	const char *u = strrchr(id, '_');
	if (u && u[1] >= '1' && u[1] <= '9' &&
	    strspn(u + 1, "0123456789") == strlen(u + 1))
		return strndup(id, (size_t)(u - id));
	return strdup(id);
}

static void free_wf(wf_tl_wf *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->nchanges; i++) {
		free(w->changes[i].cause);
		free(w->changes[i].session);
	}
	for (size_t i = 0; i < w->ntries; i++) {
		free(w->tries[i].step_id);
		free(w->tries[i].name);
		free(w->tries[i].error);
	}
	free(w->changes);
	free(w->tries);
	free(w->id);
	free(w->user_metadata);
	free(w->actor_class);
	free(w->session);
	free(w);
}

void wf_timeline_free(wf_timeline *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free_wf(t->wfs[i]);
	free(t->wfs);
	if (t->index) {
		wf_map_free(t->index);
		free(t->index);
	}
	free(t);
}

static wf_tl_wf *new_wf(wf_timeline *t, const wf_event *ev)
{
	wf_tl_wf *w = calloc(1, sizeof *w);
	if (!w || !(w->id = field_str(ev, 0))) {
		free(w);
		return NULL;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		wf_tl_wf **v = realloc(t->wfs, cap * sizeof *v);
		if (!v) {
			free_wf(w);
			return NULL;
		}
		t->wfs = v;
		t->cap = cap;
	}
	wf_map *m = t->index;
	wf_tl_wf *old = wf_map_get(m, w->id);
	if (old) /* created again without a deletion: a new timeline */
		wf_map_del(m, old->id);
	if (wf_map_put(m, w->id, w) < 0) {
		free_wf(w);
		return NULL;
	}
	t->wfs[t->n++] = w;
	return w;
}

/* A new engine session: the workflows RUNNING in another one were left by
 * an engine that is gone. */
static int crash_check(wf_timeline *t, const wf_event *ev)
{
	char *session = field_str(ev, 0);
	if (!session)
		return 0;
	int rc = 0;
	for (size_t i = 0; i < t->n && !rc; i++) {
		wf_tl_wf *w = t->wfs[i];
		if (w->deleted || !w->status || strcmp(w->status, "RUNNING") != 0 ||
		    (w->session && strcmp(w->session, session) == 0))
			continue;
		wf_tl_change *c = add_change(w, ev, "status");
		if (!c || !(c->cause = strdup("crash detected at open"))) {
			rc = WF_ENOMEM;
			break;
		}
		c->status = "RESUMABLE";
		w->status = (char *)"RESUMABLE";
		for (size_t k = 0; k < w->ntries; k++)
			if (!w->tries[k].end_ns) {
				w->tries[k].end_ns = ev->time_ns;
				w->tries[k].seq_end = ev->seq;
				w->tries[k].outcome = "INTERRUPTED";
			}
	}
	free(session);
	return rc;
}

static int wanted(const char *const *ids, size_t nids, const wf_event *ev)
{
	if (!nids)
		return 1;
	for (size_t i = 0; i < nids; i++)
		if (field_eq(ev, 0, ids[i]))
			return 1;
	return 0;
}

static int apply(wf_timeline *t, const wf_event *ev, const char *const *ids,
                 size_t nids)
{
	uint16_t type = ev->type;
	if (type == WF_EV_SESSION_STARTED)
		return crash_check(t, ev);
	if (type == WF_EV_NOTICE || !wf_event_schema_find(type) ||
	    !wanted(ids, nids, ev))
		return 0;
	wf_tl_wf *w;
	if (type == WF_EV_WORKFLOW_CREATED || type == WF_EV_ACTOR_CREATED) {
		if (!(w = new_wf(t, ev)))
			return WF_ENOMEM;
		wf_tl_change *c = add_change(w, ev, "created");
		if (!c)
			return WF_ENOMEM;
		if (type == WF_EV_ACTOR_CREATED) {
			w->actor_class = field_str(ev, 1);
			w->status = (char *)"SUCCESSFUL";
			c->cause = strdup("create");
		} else {
			w->user_metadata = field_str(ev, 1);
			c->cause = strdup("run");
		}
		return 0;
	}
	char id[1024];
	size_t n = ev->nfields && ev->fields[0].kind == WF_FIELD_TEXT
	                   ? ev->fields[0].v.s.len
	                   : 0;
	if (!n || n >= sizeof id)
		return 0;
	memcpy(id, ev->fields[0].v.s.ptr, n);
	id[n] = '\0';
	wf_tl_change *c;
	if (!(w = wf_map_get(t->index, id)) && !t->start)
		return 0; /* its creation is not in this journal */
	if (!w) {
		/* Created before the journal's first event (retired): its
		 * timeline starts here. */
		if (!(w = new_wf(t, ev)) || !(c = add_change(w, ev, "retired")) ||
		    !(c->cause = strdup("its history before this event was "
		                        "retired")))
			return WF_ENOMEM;
		w->retired = 1;
	}
	wf_tl_try *tr;
	switch (type) {
	case WF_EV_ATTEMPT_STARTED:
		if (!(c = add_change(w, ev, "attempt")))
			return WF_ENOMEM;
		c->attempt = (int)field_int(ev, 1);
		c->cause = field_str(ev, 2);
		c->session = field_str(ev, 3);
		free(w->session);
		w->session = c->session ? strdup(c->session) : NULL;
		return 0;
	case WF_EV_STATUS_CHANGED:
		if (!(c = add_change(w, ev, "status")))
			return WF_ENOMEM;
		c->status = status_of(ev, 1);
		c->cause = field_str(ev, 2);
		if (c->status)
			w->status = (char *)c->status;
		/* A cancel ends the tries still running: whatever they
		 * produce afterwards is discarded. */
		if (c->status && strcmp(c->status, "CANCELED") == 0)
			for (size_t k = 0; k < w->ntries; k++)
				if (!w->tries[k].end_ns) {
					w->tries[k].end_ns = ev->time_ns;
					w->tries[k].seq_end = ev->seq;
					w->tries[k].outcome = "CANCELED";
				}
		return 0;
	case WF_EV_STEP_STARTED: {
		if (!(tr = add_try(w)))
			return WF_ENOMEM;
		tr->step_id = field_str(ev, 1);
		tr->name = tr->step_id ? name_of(tr->step_id) : NULL;
		/* The attempt the try belongs to: the last one started. */
		for (size_t i = w->nchanges; i-- > 0;)
			if (w->changes[i].what[0] == 'a') {
				tr->run = w->changes[i].attempt;
				break;
			}
		tr->n = (int)field_int(ev, 2);
		tr->start_ns = ev->time_ns;
		tr->seq_start = ev->seq;
		return tr->step_id && tr->name ? 0 : WF_ENOMEM;
	}
	case WF_EV_STEP_SUCCEEDED:
	case WF_EV_STEP_FAILED:
	case WF_EV_CONTINUATION:
		/* A success after the last try failed (catch_exceptions) or
		 * after its continuation has no open try: nothing to end. */
		if (!(tr = open_try(w, ev)))
			return 0;
		tr->end_ns = ev->time_ns;
		tr->seq_end = ev->seq;
		tr->outcome = type == WF_EV_STEP_SUCCEEDED ? "SUCCEEDED"
		              : type == WF_EV_STEP_FAILED  ? "FAILED"
		                                           : "CONTINUED";
		if (type == WF_EV_STEP_FAILED)
			tr->error = field_str(ev, 3);
		return 0;
	case WF_EV_WORKFLOW_DELETED:
		if (!(c = add_change(w, ev, "status")))
			return WF_ENOMEM;
		c->status = "DELETED";
		c->cause = strdup("delete");
		w->deleted = 1;
		wf_map_del(t->index, w->id);
		return 0;
	default:
		return 0;
	}
}

/* What a timeline of ids[0..nids) keeps of an event (apply, above). */
typedef struct tl_want {
	const char *const *ids;
	size_t nids;
} tl_want;

static int tl_wants(const void *ctx, const wf_event *ev)
{
	const tl_want *w = ctx;
	uint16_t type = ev->type;
	return type == WF_EV_SESSION_STARTED ||
	       (type != WF_EV_NOTICE && wf_event_schema_find(type) &&
	        wanted(w->ids, w->nids, ev));
}

typedef struct tl_ctx {
	wf_timeline *t;
	const char *const *ids;
	size_t nids;
} tl_ctx;

static int tl_event(void *ctx, const wf_event *ev)
{
	tl_ctx *c = ctx;
	wf_timeline *t = c->t;
	if (!t->first_ns)
		t->first_ns = ev->time_ns;
	t->last_ns = ev->time_ns;
	t->events++;
	return apply(t, ev, c->ids, c->nids);
}

static wf_timeline *tl_new(void)
{
	wf_timeline *t = calloc(1, sizeof *t);
	wf_map *m = calloc(1, sizeof *m);
	if (!t || !m) {
		free(t);
		free(m);
		return NULL;
	}
	m->borrow = 1;
	t->index = m;
	return t;
}

int wf_timeline_load_parts(const char *jdir, const char *const *ids,
                           size_t nids, int nparts, uint64_t min_bytes,
                           int *used, wf_timeline **out, char *err,
                           size_t errlen)
{
	*out = NULL;
	*used = 1;
	wf_timeline *t = tl_new();
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return WF_ENOMEM;
	}
	tl_ctx c = {t, ids, nids};
	uint64_t first = wf_seg_first(wf_io_posix(), jdir);
	t->start = first > 1 ? first : 0;
	wf_reader *r;
	int rc = wf_reader_open(&r, jdir, NULL);
	int split = 1;
	if (rc == 0 && nids && nparts >= 2) {
		/* One workflow or a few: a long journal in parts (parts.h);
		 * what the parts do not keep is counted all the same. */
		tl_want w = {ids, nids};
		wf_parts_opts o = {.nparts = nparts, .min_bytes = min_bytes,
		                   .want = tl_wants, .want_ctx = &w,
		                   .fn = tl_event, .fn_ctx = &c};
		wf_parts_result res;
		split = wf_parts_scan(r, jdir, 1, &o, &res);
		if (split == 0) {
			/* (fn counted the kept ones already) */
			t->events += res.later - res.kept;
			t->last_ns = res.last_ns;
			*used = res.used;
		} else if (split == 2) { /* start again, in one pass */
			wf_reader_close(r);
			wf_timeline_free(t);
			return wf_timeline_load_parts(jdir, ids, nids, 1, 0, used, out,
			                              err, errlen);
		}
	}
	const wf_event *ev;
	while (rc == 0 && split == 1 && (rc = wf_reader_next(r, &ev)) == 1) {
		if ((rc = tl_event(&c, ev)) < 0)
			snprintf(err, errlen, "out of memory");
		else
			rc = 0;
	}
	if (rc < 0 && rc != WF_ENOMEM)
		snprintf(err, errlen, "%s", wf_reader_errmsg(r));
	wf_reader_close(r);
	if (rc < 0) {
		wf_timeline_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int wf_timeline_load(const char *jdir, const char *const *ids, size_t nids,
                     wf_timeline **out, char *err, size_t errlen)
{
	int used;
	return wf_timeline_load_parts(jdir, ids, nids, wf_parts_cores(),
	                              (uint64_t)32 << 20, &used, out, err,
	                              errlen);
}
