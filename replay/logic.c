/*
 * Logical checks (see logic.h). The transitions the engine journals:
 * RUNNING from anything (a run, a resume, a resume after a crash, an
 * actor's next call); FAILED and SUCCESSFUL from RUNNING; CANCELED from
 * RUNNING or FAILED (a failed workflow can be cancelled instead of
 * resumed). Step try states: started, ended by a failure, ended by a
 * success; a success may follow a failure without a new start (the last
 * try failed and catch_exceptions turned it into [null, error]).
 */
#include "logic.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "replay/events.h"
#include "replay/map.h"
#include "wflow.h"

#define KEEP_ISSUES 100

enum { T_OPEN = 1, T_FAILED = 2, T_DONE = 3 };

/* Step ids are copied into chunks (the steps map borrows them): one
 * malloc per few hundred steps instead of one per step. */
typedef struct keychunk {
	struct keychunk *next;
	size_t used, cap;
	char b[];
} keychunk;

typedef struct lwf {
	int status; /* wf_status as journaled; -1: unknown (adopted) */
	int actor;
	int adopted; /* first seen after the journal's start (late)... */
	wf_map steps; /* step id -> T_* (intptr_t); keys in chunks */
	keychunk *chunks;
	uint64_t hash; /* of id, for the cache */
	char id[];     /* the wfs map's key (borrowed) */
} lwf;

/* Recently used workflows by id hash, direct-mapped: a journal's events
 * come from a few workflows at a time, and the map of all of them (one
 * entry per workflow ever seen) misses the CPU's caches on most lookups:
 * without this, those misses were most of verify's logic time. */
#define CACHE_SLOTS 1024

struct wf_logic {
	wf_map wfs; /* id -> lwf */
	lwf *cache[CACHE_SLOTS];
	int64_t last_ns;
	uint64_t back;         /* times the wall clock went back */
	int64_t back_max;      /* by how much, at most (ns) */
	uint64_t back_max_seq; /* where */
	uint64_t errors, warnings;
	wf_logic_issue issues[KEEP_ISSUES];
	size_t nissues;
	int late; /* the journal starts after event 1 (wf_logic_starts_late) */
};

void wf_logic_starts_late(wf_logic *l)
{
	l->late = 1;
}

int wf_logic_new(wf_logic **out)
{
	*out = calloc(1, sizeof **out);
	if (!*out)
		return WF_ENOMEM;
	(*out)->wfs.borrow = 1; /* keys are the lwfs' ids */
	return 0;
}

static void forget_steps(lwf *w)
{
	wf_map_free(&w->steps);
	w->steps.borrow = 1;
	while (w->chunks) {
		keychunk *c = w->chunks;
		w->chunks = c->next;
		free(c);
	}
}

static void free_lwf(lwf *w)
{
	if (w) {
		forget_steps(w);
		free(w);
	}
}

/* A copy of step id s (n bytes) in w's chunks, or NULL. */
static char *keep_key(lwf *w, const char *s, size_t n)
{
	keychunk *c = w->chunks;
	if (!c || c->cap - c->used < n + 1) {
		/* Small first (most workflows have a few steps; small
		 * blocks are malloc's fast path), doubling up to 4 KB. */
		size_t cap = c ? 2 * c->cap : 240;
		if (cap > 4000)
			cap = 4000;
		if (cap < n + 1)
			cap = n + 1;
		if (!(c = malloc(sizeof *c + cap)))
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = w->chunks;
		w->chunks = c;
	}
	char *k = c->b + c->used;
	memcpy(k, s, n + 1);
	c->used += n + 1;
	return k;
}

static uint64_t id_hash(const char *id, size_t n)
{
	return XXH3_64bits(id, n);
}

/* The workflow id (n bytes), or NULL. */
static lwf *find_wf(wf_logic *l, const char *id, size_t n, uint64_t h)
{
	lwf **slot = &l->cache[h % CACHE_SLOTS];
	if (*slot && (*slot)->hash == h && strcmp((*slot)->id, id) == 0)
		return *slot;
	(void)n;
	lwf *w = wf_map_get(&l->wfs, id);
	if (w)
		*slot = w;
	return w;
}

static void uncache(wf_logic *l, lwf *w)
{
	lwf **slot = &l->cache[w->hash % CACHE_SLOTS];
	if (*slot == w)
		*slot = NULL;
}

void wf_logic_free(wf_logic *l)
{
	if (!l)
		return;
	const char *k;
	void *v;
	for (size_t i = 0; wf_map_next(&l->wfs, &i, &k, &v);)
		free_lwf(v);
	wf_map_free(&l->wfs);
	free(l);
}

static void issue(wf_logic *l, const wf_event *ev, int warning,
                  const char *fmt, ...)
{
	if (warning)
		l->warnings++;
	else
		l->errors++;
	if (l->nissues == KEEP_ISSUES)
		return;
	wf_logic_issue *x = &l->issues[l->nissues++];
	x->seq = ev->seq;
	x->warning = warning;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->what, sizeof x->what, fmt, ap);
	va_end(ap);
}

void wf_logic_finish(wf_logic *l)
{
	if (!l->back)
		return;
	wf_event ev = {.seq = l->back_max_seq};
	issue(l, &ev, 1,
	      "wall-clock time goes back %" PRIu64 " time%s, by %.6f s at most "
	      "(at this event); the order of events is their sequence numbers",
	      l->back, l->back == 1 ? "" : "s", (double)l->back_max / 1e9);
	l->back = 0;
}

const wf_logic_issue *wf_logic_issues(const wf_logic *l, size_t *n,
                                      uint64_t *errors, uint64_t *warnings)
{
	*n = l->nissues;
	*errors = l->errors;
	*warnings = l->warnings;
	return l->issues;
}

static int allowed(int from, int to)
{
	if (from < 0)
		return 1; /* (its earlier history is not in the journal) */
	switch (to) {
	case WF_STATUS_RUNNING:
		return 1;
	case WF_STATUS_FAILED:
	case WF_STATUS_SUCCESSFUL:
		return from == WF_STATUS_RUNNING;
	case WF_STATUS_CANCELED:
		return from == WF_STATUS_RUNNING || from == WF_STATUS_FAILED;
	default:
		return 0;
	}
}

/* A new workflow id (n bytes, hash h), in the map and the cache; NULL
 * when out of memory. */
static lwf *new_lwf(wf_logic *l, const char *id, size_t n, uint64_t h)
{
	lwf *w = calloc(1, sizeof *w + n + 1);
	if (!w)
		return NULL;
	memcpy(w->id, id, n + 1);
	w->hash = h;
	w->steps.borrow = 1;
	if (wf_map_put(&l->wfs, w->id, w) < 0) {
		free(w);
		return NULL;
	}
	l->cache[h % CACHE_SLOTS] = w;
	return w;
}

int wf_logic_event(wf_logic *l, const wf_event *ev)
{
	/* Counted, reported once at the end (wf_logic_finish): engines
	 * time events before their commits are ordered, so concurrent
	 * commits go back by microseconds all the time. */
	if (l->last_ns && ev->time_ns < l->last_ns) {
		l->back++;
		if (l->last_ns - ev->time_ns > l->back_max) {
			l->back_max = l->last_ns - ev->time_ns;
			l->back_max_seq = ev->seq;
		}
	}
	l->last_ns = ev->time_ns;
	uint16_t type = ev->type;
	if (type == WF_EV_SESSION_STARTED || type == WF_EV_NOTICE ||
	    !wf_event_schema_find(type))
		return 0;
	char id[600];
	if (wf_event_text(ev, 0, id, sizeof id) < 0) {
		issue(l, ev, 0, "%s without a workflow id",
		      wf_event_schema_find(type)->name);
		return 0;
	}
	size_t idn = strlen(id);
	uint64_t h = id_hash(id, idn);
	lwf *w = find_wf(l, id, idn, h);
	if (type == WF_EV_WORKFLOW_CREATED || type == WF_EV_ACTOR_CREATED) {
		if (w) {
			issue(l, ev, 0, "workflow %s created again without being "
			      "deleted", id);
			return 0;
		}
		if (!(w = new_lwf(l, id, idn, h)))
			return WF_ENOMEM;
		w->actor = type == WF_EV_ACTOR_CREATED;
		w->status = w->actor ? WF_STATUS_SUCCESSFUL : WF_STATUS_NONE;
		return 0;
	}
	if (!w && l->late) {
		/* Created before the journal's first event: what it was
		 * then is unknown, so its first status change and the first
		 * end of each step it had are taken as they come. */
		if (!(w = new_lwf(l, id, idn, h)))
			return WF_ENOMEM;
		w->status = -1;
		w->adopted = 1;
	}
	if (!w) {
		issue(l, ev, 0, "%s of workflow %s, which does not exist (never "
		      "created, or deleted)", wf_event_schema_find(type)->name, id);
		return 0;
	}
	char step[600];
	switch (type) {
	case WF_EV_WORKFLOW_DELETED:
		uncache(l, w);
		wf_map_del(&l->wfs, id);
		free_lwf(w);
		return 0;
	case WF_EV_STATUS_CHANGED: {
		int to = wf_event_status(ev, 1);
		if (to < 0) {
			issue(l, ev, 0, "workflow %s: unknown status", id);
		} else if (!allowed(w->status, to)) {
			issue(l, ev, 0, "workflow %s: status %s -> %s, a change "
			      "the engine never makes", id,
			      wf_status_name((wf_status)w->status),
			      wf_status_name((wf_status)to));
		}
		if (to > 0)
			w->status = to;
		/* A finished workflow gets no more step events, unless it
		 * is resumed (FAILED) or an actor: forget its steps. */
		if ((to == WF_STATUS_SUCCESSFUL || to == WF_STATUS_CANCELED) &&
		    !w->actor)
			forget_steps(w);
		return 0;
	}
	case WF_EV_STEP_STARTED:
	case WF_EV_STEP_SUCCEEDED:
	case WF_EV_STEP_FAILED:
	case WF_EV_CONTINUATION: {
		if (wf_event_text(ev, 1, step, sizeof step) < 0) {
			issue(l, ev, 0, "workflow %s: %s without a step id", id,
			      wf_event_schema_find(type)->name);
			return 0;
		}
		intptr_t st = (intptr_t)wf_map_get(&w->steps, step);
		intptr_t next = st;
		if (type == WF_EV_STEP_STARTED) {
			next = T_OPEN;
		} else if (!st && w->adopted) {
			next = type == WF_EV_STEP_FAILED ? T_FAILED : T_DONE;
			if (type == WF_EV_CONTINUATION)
				next = T_OPEN;
		} else if (type == WF_EV_CONTINUATION) {
			if (st != T_OPEN)
				issue(l, ev, 0, "step %s of workflow %s returns a "
				      "nested step without having started", step, id);
		} else if (st == T_OPEN ||
		           (type == WF_EV_STEP_SUCCEEDED && st == T_FAILED)) {
			next = type == WF_EV_STEP_FAILED ? T_FAILED : T_DONE;
		} else {
			issue(l, ev, 0, "step %s of workflow %s ends without having "
			      "started", step, id);
		}
		if (next == st)
			return 0;
		/* A step seen before keeps its key; a new one gets a copy. */
		const char *k = st ? NULL : keep_key(w, step, strlen(step));
		if (!st && !k)
			return WF_ENOMEM;
		if (wf_map_put(&w->steps, k ? k : step, (void *)next) < 0)
			return WF_ENOMEM;
		return 0;
	}
	default:
		return 0;
	}
}
