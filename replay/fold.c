/*
 * The fold: journal events -> workflow state (see fold.h).
 *
 * Each event type updates one workflow:
 *   workflow_created  a new workflow: user metadata, and the steps of its
 *                     DAG (id, name, function, options, metadata, args);
 *                     the name counter counts each step's base name
 *   attempt_started   a run or resume: stats start = now, end dropped;
 *                     the attempt's engine session is remembered
 *   status_changed    RUNNING / FAILED / SUCCESSFUL (end = now) /
 *                     CANCELED (no end: the seed's Note 1)
 *   step_started      try n of a step; the first try of a run sets the
 *                     step's start and drops its end
 *   step_succeeded    the step's end; its output if checkpointed
 *   step_failed       the try's end and error
 *   continuation      the step returned a sub-DAG: its steps are added,
 *                     and the step's output is the sub-DAG's output
 *   workflow_output   the workflow's output
 *   workflow_deleted  the workflow is gone (its id may be used again)
 * RESUMABLE is not journaled: it is RUNNING in a session that is not the
 * live one, derived when asked.
 *
 * Applying checks before it changes anything, so a refused event leaves
 * the state as it was.
 */
#include "fold.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wf_fold {
	wf_map wfs; /* id -> wf_fwf */
	char *live_session;
	char *last_session;
	uint64_t last_seq;
};

static void errf(char *err, size_t len, const char *fmt, ...)
{
	if (!err || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

int wf_fold_new(wf_fold **out)
{
	*out = calloc(1, sizeof(wf_fold));
	return *out ? 0 : WF_ENOMEM;
}

static void free_attempts(wf_fattempt *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].outcome);
		free(a[i].error);
	}
	free(a);
}

static void free_step(wf_fstep *s)
{
	if (!s)
		return;
	free(s->id);
	free(s->name);
	free(s->fn);
	free(s->step_type);
	free(s->user_metadata);
	for (size_t i = 0; i < s->nargs; i++) {
		free(s->args[i].step);
		cJSON_Delete(s->args[i].value);
	}
	free(s->args);
	free_attempts(s->att, s->natt);
	free(s->output);
	free(s->cont);
	free(s);
}

static void free_wf(wf_fwf *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->nsteps; i++)
		free_step(w->order[i]);
	free(w->order);
	wf_map_free(&w->steps);
	wf_map_free(&w->counters);
	free(w->id);
	free(w->user_metadata);
	free(w->session);
	free_attempts(w->att, w->natt);
	free(w->output_step);
	free(w->output);
	free(w);
}

void wf_fold_free(wf_fold *f)
{
	if (!f)
		return;
	const char *k;
	void *v;
	for (size_t i = 0; wf_map_next(&f->wfs, &i, &k, &v);)
		free_wf(v);
	wf_map_free(&f->wfs);
	free(f->live_session);
	free(f->last_session);
	free(f);
}

int wf_fold_set_live_session(wf_fold *f, const char *session)
{
	char *s = NULL;
	if (session && !(s = strdup(session)))
		return WF_ENOMEM;
	free(f->live_session);
	f->live_session = s;
	return 0;
}

uint64_t wf_fold_last_seq(const wf_fold *f)
{
	return f->last_seq;
}

const wf_fwf *wf_fold_get(const wf_fold *f, const char *id)
{
	return wf_map_get(&f->wfs, id);
}

int wf_fold_next(const wf_fold *f, size_t *i, const wf_fwf **wf)
{
	const char *k;
	void *v;
	if (!wf_map_next(&f->wfs, i, &k, &v))
		return 0;
	*wf = v;
	return 1;
}

wf_status wf_fold_wf_status(const wf_fold *f, const wf_fwf *w)
{
	if (!w)
		return WF_STATUS_NONE;
	if (w->status == WF_STATUS_RUNNING &&
	    (!f->live_session || !w->session ||
	     strcmp(f->live_session, w->session) != 0))
		return WF_STATUS_RESUMABLE;
	if (w->status == WF_STATUS_NONE)
		return WF_STATUS_RESUMABLE; /* created, never started: crashed */
	return (wf_status)w->status;
}

wf_status wf_fold_status(const wf_fold *f, const char *id)
{
	return wf_fold_wf_status(f, wf_fold_get(f, id));
}

void wf_fold_next_id(const wf_fwf *w, const char *base, int extra,
                     char *buf, size_t len)
{
	intptr_t n = (intptr_t)wf_map_get(&w->counters, base) + extra;
	for (;; n++) {
		if (n == 0)
			snprintf(buf, len, "%s", base);
		else
			snprintf(buf, len, "%s_%" PRIdPTR, base, n);
		if (!wf_map_get(&w->steps, buf))
			return;
	}
}

/* ---- reading event fields ---- */

static int text(const wf_event *ev, unsigned i, char **out)
{
	if (i >= ev->nfields || (ev->fields[i].kind != WF_FIELD_TEXT &&
	                         ev->fields[i].kind != WF_FIELD_JSON))
		return WF_ECORRUPT;
	char *s = malloc(ev->fields[i].v.s.len + 1);
	if (!s)
		return WF_ENOMEM;
	memcpy(s, ev->fields[i].v.s.ptr, ev->fields[i].v.s.len);
	s[ev->fields[i].v.s.len] = '\0';
	*out = s;
	return 0;
}

static int field_is(const wf_event *ev, unsigned i, const char *s)
{
	size_t n = strlen(s);
	return i < ev->nfields && ev->fields[i].kind == WF_FIELD_TEXT &&
	       ev->fields[i].v.s.len == n &&
	       memcmp(ev->fields[i].v.s.ptr, s, n) == 0;
}

static uint64_t num(const wf_event *ev, unsigned i)
{
	if (i >= ev->nfields)
		return 0;
	if (ev->fields[i].kind == WF_FIELD_UINT)
		return ev->fields[i].v.u;
	if (ev->fields[i].kind == WF_FIELD_INT && ev->fields[i].v.i > 0)
		return (uint64_t)ev->fields[i].v.i;
	return 0;
}

static int grow_att(wf_fattempt **a, size_t *n)
{
	wf_fattempt *p = realloc(*a, (*n + 1) * sizeof **a);
	if (!p)
		return WF_ENOMEM;
	memset(&p[*n], 0, sizeof p[*n]);
	*a = p;
	(*n)++;
	return 0;
}

static int set_str(char **dst, const char *src)
{
	char *s = src ? strdup(src) : NULL;
	if (src && !s)
		return WF_ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* ---- DAGs ---- */

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jint(const cJSON *o, const char *key, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsNumber(v))
		return (int)v->valuedouble;
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v);
	return dflt;
}

/* Build the steps of a DAG (not yet added to w). */
static int parse_dag(const wf_fwf *w, const char *text, wf_fstep ***out,
                     size_t *n, char **output, char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	*output = NULL;
	cJSON *dag = cJSON_Parse(text);
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(dag, "steps");
	if (!cJSON_IsArray(steps)) {
		cJSON_Delete(dag);
		errf(err, errlen, "DAG is not an object with a steps array");
		return WF_ECORRUPT;
	}
	size_t count = (size_t)cJSON_GetArraySize(steps);
	wf_fstep **v = calloc(count ? count : 1, sizeof *v);
	int rc = v ? 0 : WF_ENOMEM;
	const cJSON *st;
	cJSON_ArrayForEach(st, steps)
	{
		if (rc)
			break;
		const char *id = jstr(st, "id"), *name = jstr(st, "name");
		if (!id || !name) {
			errf(err, errlen, "DAG step without id or name");
			rc = WF_ECORRUPT;
			break;
		}
		if (wf_map_get(&w->steps, id)) {
			errf(err, errlen, "DAG step id %s already exists", id);
			rc = WF_ECORRUPT;
			break;
		}
		for (size_t i = 0; i < *n; i++)
			if (strcmp(v[i]->id, id) == 0) {
				errf(err, errlen, "DAG step id %s given twice", id);
				rc = WF_ECORRUPT;
			}
		if (rc)
			break;
		wf_fstep *s = calloc(1, sizeof *s);
		if (!s) {
			rc = WF_ENOMEM;
			break;
		}
		v[(*n)++] = s;
		const cJSON *opt = cJSON_GetObjectItemCaseSensitive(st, "options");
		const char *fn = jstr(st, "fn");
		const char *type = jstr(opt, "step_type");
		s->max_retries = jint(opt, "max_retries", 3);
		s->catch_exceptions = jint(opt, "catch_exceptions", 0);
		s->checkpoint = jint(opt, "checkpoint", 1);
		const cJSON *md = cJSON_GetObjectItemCaseSensitive(st,
		                                                   "user_metadata");
		char *mdtext = cJSON_IsObject(md) ? cJSON_PrintUnformatted(md)
		                                  : strdup("{}");
		s->user_metadata = mdtext;
		if (!(s->id = strdup(id)) || !(s->name = strdup(name)) ||
		    !(s->fn = strdup(fn ? fn : name)) ||
		    !(s->step_type = strdup(type ? type : "FUNCTION")) || !mdtext) {
			rc = WF_ENOMEM;
			break;
		}
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(st, "args");
		size_t na = cJSON_IsArray(args) ? (size_t)cJSON_GetArraySize(args)
		                                : 0;
		if (na && !(s->args = calloc(na, sizeof *s->args))) {
			rc = WF_ENOMEM;
			break;
		}
		const cJSON *a;
		cJSON_ArrayForEach(a, args)
		{
			if (!cJSON_IsArray(args))
				break;
			wf_farg *fa = &s->args[s->nargs++];
			const char *dep = jstr(a, "step");
			const cJSON *val = cJSON_GetObjectItemCaseSensitive(a, "value");
			if (dep) {
				if (!(fa->step = strdup(dep)))
					rc = WF_ENOMEM;
			} else if (!(fa->value = cJSON_Duplicate(val ? val : a, 1))) {
				rc = WF_ENOMEM;
			}
		}
	}
	const char *o = jstr(dag, "output");
	if (!rc && o && !(*output = strdup(o)))
		rc = WF_ENOMEM;
	cJSON_Delete(dag);
	if (rc) {
		for (size_t i = 0; i < *n; i++)
			free_step(v[i]);
		free(v);
		*n = 0;
		free(*output);
		*output = NULL;
		return rc;
	}
	*out = v;
	return 0;
}

/* Add parsed steps to w (cannot fail after reserving memory). */
static int add_steps(wf_fwf *w, wf_fstep **v, size_t n)
{
	wf_fstep **order = realloc(w->order, (w->nsteps + n + 1) * sizeof *order);
	if (!order)
		return WF_ENOMEM;
	w->order = order;
	for (size_t i = 0; i < n; i++) {
		if (wf_map_put(&w->steps, v[i]->id, v[i]) < 0)
			return WF_ENOMEM;
		intptr_t c = (intptr_t)wf_map_get(&w->counters, v[i]->name);
		if (wf_map_put(&w->counters, v[i]->name, (void *)(c + 1)) < 0)
			return WF_ENOMEM;
		w->order[w->nsteps++] = v[i];
	}
	return 0;
}

/* ---- apply ---- */

static wf_fstep *need_step(wf_fwf *w, const wf_event *ev, char *err,
                           size_t errlen)
{
	if (ev->nfields < 2 || ev->fields[1].kind != WF_FIELD_TEXT) {
		errf(err, errlen, "event seq %" PRIu64 ": no step id", ev->seq);
		return NULL;
	}
	char id[512];
	size_t n = ev->fields[1].v.s.len < sizeof id - 1 ? ev->fields[1].v.s.len
	                                                  : sizeof id - 1;
	memcpy(id, ev->fields[1].v.s.ptr, n);
	id[n] = '\0';
	wf_fstep *s = wf_map_get(&w->steps, id);
	if (!s)
		errf(err, errlen, "event seq %" PRIu64 ": workflow %s has no step %s",
		     ev->seq, w->id, id);
	return s;
}

static int status_by_name(const wf_event *ev, unsigned i)
{
	static const char *names[] = {"NONE", "RUNNING", "FAILED", "RESUMABLE",
	                              "CANCELED", "SUCCESSFUL"};
	for (int s = 1; s < 6; s++)
		if (field_is(ev, i, names[s]))
			return s;
	return -1;
}

static int apply(wf_fold *f, const wf_event *ev, char *err, size_t errlen)
{
	uint16_t type = ev->type;
	if (ev->opaque || !wf_event_schema_find(type)) {
		if (type & WF_EVENT_SAFE_IGNORE)
			return 0;
		errf(err, errlen, "event seq %" PRIu64 ": unknown event type %u "
		     "(written by a newer wflow?)", ev->seq, (unsigned)type);
		return WF_EINCOMPAT;
	}
	int64_t t = ev->time_ns;
	if (type == WF_EV_SESSION_STARTED) {
		char *s;
		int rc = text(ev, 0, &s);
		if (rc)
			return rc;
		free(f->last_session);
		f->last_session = s;
		return 0;
	}
	char idbuf[256];
	if (ev->nfields < 1 || ev->fields[0].kind != WF_FIELD_TEXT ||
	    ev->fields[0].v.s.len >= sizeof idbuf) {
		errf(err, errlen, "event seq %" PRIu64 ": no workflow id", ev->seq);
		return WF_ECORRUPT;
	}
	memcpy(idbuf, ev->fields[0].v.s.ptr, ev->fields[0].v.s.len);
	idbuf[ev->fields[0].v.s.len] = '\0';
	const char *id = idbuf;
	int rc;
	wf_fwf *w = wf_map_get(&f->wfs, id);
	if (type == WF_EV_WORKFLOW_CREATED) {
		if (w) {
			errf(err, errlen, "event seq %" PRIu64 ": workflow %s "
			     "created twice", ev->seq, id);
			return WF_ECORRUPT;
		}
		w = calloc(1, sizeof *w);
		if (!w || !(w->id = strdup(id))) {
			free(w);
			return WF_ENOMEM;
		}
		wf_fstep **steps = NULL;
		size_t n = 0;
		char *dagtext = NULL;
		rc = text(ev, 1, &w->user_metadata);
		if (rc == 0)
			rc = text(ev, 2, &dagtext);
		if (rc == 0)
			rc = parse_dag(w, dagtext, &steps, &n, &w->output_step, err,
			               errlen);
		free(dagtext);
		if (rc == 0 && (rc = add_steps(w, steps, n)) < 0)
			n = 0; /* added ones are freed with w */
		if (rc == 0)
			rc = wf_map_put(&f->wfs, w->id, w);
		if (rc) {
			if (rc == WF_ECORRUPT && err)
				errf(err + strlen(err), errlen - strlen(err),
				     " (event seq %" PRIu64 ")", ev->seq);
			free(steps);
			free_wf(w);
			return rc;
		}
		free(steps);
		return 0;
	}
	if (!w) {
		errf(err, errlen, "event seq %" PRIu64 ": no workflow %s", ev->seq,
		     id);
		return WF_ECORRUPT;
	}
	switch (type) {
	case WF_EV_WORKFLOW_DELETED:
		wf_map_del(&f->wfs, w->id);
		free_wf(w);
		return 0;
	case WF_EV_ATTEMPT_STARTED: {
		char *session = NULL;
		if (ev->nfields > 3 && (rc = text(ev, 3, &session)) < 0 &&
		    rc == WF_ENOMEM)
			return rc;
		if ((rc = grow_att(&w->att, &w->natt)) < 0) {
			free(session);
			return rc;
		}
		wf_fattempt *a = &w->att[w->natt - 1];
		a->n = (int)num(ev, 1);
		a->start_ns = t;
		a->cause = field_is(ev, 2, "resume") ? "resume" : "run";
		free(w->session);
		w->session = session;
		w->start_ns = t;
		w->end_ns = 0;
		return 0;
	}
	case WF_EV_STATUS_CHANGED: {
		int s = status_by_name(ev, 1);
		if (s < 0 || s == WF_STATUS_RESUMABLE) {
			errf(err, errlen, "event seq %" PRIu64 ": bad status",
			     ev->seq);
			return WF_ECORRUPT;
		}
		w->status = s;
		if (s == WF_STATUS_RUNNING)
			return 0;
		if (s != WF_STATUS_CANCELED)
			w->end_ns = t;
		if (w->natt) {
			wf_fattempt *a = &w->att[w->natt - 1];
			a->end_ns = t;
			static const char *out[] = {"", "", "FAILED", "", "CANCELED",
			                            "SUCCESSFUL"};
			return set_str(&a->outcome, out[s]);
		}
		return 0;
	}
	case WF_EV_WORKFLOW_OUTPUT:
		free(w->output);
		w->output = NULL;
		return text(ev, 1, &w->output);
	case WF_EV_CONTINUATION: {
		wf_fstep *s = need_step(w, ev, err, errlen);
		if (!s)
			return WF_ECORRUPT;
		char *dagtext = NULL, *out = NULL;
		wf_fstep **steps = NULL;
		size_t n = 0;
		if ((rc = text(ev, 2, &dagtext)) < 0)
			return rc;
		rc = parse_dag(w, dagtext, &steps, &n, &out, err, errlen);
		free(dagtext);
		if (rc == 0 && !out) {
			errf(err, errlen, "event seq %" PRIu64 ": continuation "
			     "without an output step", ev->seq);
			rc = WF_ECORRUPT;
		}
		if (rc == 0)
			rc = add_steps(w, steps, n);
		free(steps);
		if (rc) {
			free(out);
			return rc;
		}
		free(s->cont);
		s->cont = out;
		return 0;
	}
	default:
		break;
	}
	/* Step events. */
	wf_fstep *s = need_step(w, ev, err, errlen);
	if (!s)
		return WF_ECORRUPT;
	int run = w->natt ? w->att[w->natt - 1].n : 0;
	int n = (int)num(ev, 2);
	if (type == WF_EV_STEP_STARTED) {
		if ((rc = grow_att(&s->att, &s->natt)) < 0)
			return rc;
		wf_fattempt *a = &s->att[s->natt - 1];
		a->run = run;
		a->n = n;
		a->start_ns = t;
		if (n <= 1) {
			s->start_ns = t;
			s->end_ns = 0;
		}
		s->state = WF_FSTEP_RUNNING;
		return 0;
	}
	/* Succeeded or failed: the try that started last. */
	wf_fattempt *a = s->natt ? &s->att[s->natt - 1] : NULL;
	if (type == WF_EV_STEP_SUCCEEDED && a && a->end_ns && a->outcome &&
	    strcmp(a->outcome, "FAILED") == 0 && s->state == WF_FSTEP_FAILED) {
		/* catch_exceptions: the last try failed, the step is done and
		 * its output is [null, error]. */
		char *out = NULL;
		if (ev->nfields > 3 && (rc = text(ev, 3, &out)) < 0)
			return rc;
		s->end_ns = t;
		s->state = WF_FSTEP_SUCCEEDED;
		free(s->output);
		s->output = out;
		s->has_output = out != NULL;
		return 0;
	}
	if (!a || a->end_ns) {
		errf(err, errlen, "event seq %" PRIu64 ": step %s of workflow %s "
		     "ends without having started", ev->seq, s->id, w->id);
		return WF_ECORRUPT;
	}
	if (type == WF_EV_STEP_FAILED) {
		char *e = NULL;
		if (ev->nfields > 3 && (rc = text(ev, 3, &e)) < 0)
			return rc;
		if ((rc = set_str(&a->outcome, "FAILED")) < 0) {
			free(e);
			return rc;
		}
		free(a->error);
		a->error = e;
		a->end_ns = t;
		s->state = WF_FSTEP_FAILED;
		return 0;
	}
	/* WF_EV_STEP_SUCCEEDED */
	char *out = NULL;
	if (ev->nfields > 3 && (rc = text(ev, 3, &out)) < 0)
		return rc;
	if ((rc = set_str(&a->outcome, "SUCCEEDED")) < 0) {
		free(out);
		return rc;
	}
	a->end_ns = t;
	s->end_ns = t;
	s->state = WF_FSTEP_SUCCEEDED;
	free(s->output);
	s->output = out;
	s->has_output = out != NULL;
	return 0;
}

int wf_fold_apply(wf_fold *f, const wf_event *ev, char *err, size_t errlen)
{
	int rc = apply(f, ev, err, errlen);
	if (rc == WF_ENOMEM)
		errf(err, errlen, "out of memory folding event seq %" PRIu64,
		     ev->seq);
	if (rc == 0)
		f->last_seq = ev->seq;
	return rc;
}

/* ---- answers ---- */

static cJSON *secs(int64_t ns)
{
	return cJSON_CreateNumber((double)ns / 1e9);
}

static int add_stats(cJSON *o, int64_t start, int64_t end)
{
	cJSON *st = cJSON_AddObjectToObject(o, "stats");
	if (!st)
		return WF_ENOMEM;
	if (start && !cJSON_AddItemToObject(st, "start_time", secs(start)))
		return WF_ENOMEM;
	if (end && !cJSON_AddItemToObject(st, "end_time", secs(end)))
		return WF_ENOMEM;
	if (start && end &&
	    !cJSON_AddNumberToObject(o, "duration", (double)(end - start) / 1e9))
		return WF_ENOMEM;
	return 0;
}

static int add_json(cJSON *o, const char *key, const char *text)
{
	cJSON *v = cJSON_Parse(text ? text : "{}");
	if (!v)
		v = cJSON_CreateObject();
	return v && cJSON_AddItemToObject(o, key, v) ? 0 : WF_ENOMEM;
}

static int add_attempts(cJSON *o, const wf_fattempt *a, size_t n, int steps)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "attempts");
	if (!arr)
		return WF_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		cJSON *x = cJSON_CreateObject();
		if (!x || !cJSON_AddItemToArray(arr, x))
			return WF_ENOMEM;
		if (steps) {
			cJSON_AddNumberToObject(x, "attempt", a[i].n);
			cJSON_AddNumberToObject(x, "run", a[i].run);
		} else {
			cJSON_AddNumberToObject(x, "attempt", a[i].n);
			cJSON_AddStringToObject(x, "cause", a[i].cause);
		}
		if (a[i].start_ns)
			cJSON_AddItemToObject(x, "start_time", secs(a[i].start_ns));
		if (a[i].end_ns)
			cJSON_AddItemToObject(x, "end_time", secs(a[i].end_ns));
		if (a[i].outcome)
			cJSON_AddStringToObject(x, "outcome", a[i].outcome);
		if (a[i].error)
			cJSON_AddStringToObject(x, "error", a[i].error);
	}
	return 0;
}

static cJSON *step_meta(const wf_fstep *s)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON *opt;
	int ok = cJSON_AddStringToObject(o, "name", s->name) &&
	         cJSON_AddStringToObject(o, "step_id", s->id) &&
	         (opt = cJSON_AddObjectToObject(o, "step_options")) &&
	         cJSON_AddStringToObject(opt, "step_type", s->step_type) &&
	         cJSON_AddNumberToObject(opt, "max_retries", s->max_retries) &&
	         cJSON_AddBoolToObject(opt, "catch_exceptions",
	                               s->catch_exceptions) &&
	         cJSON_AddBoolToObject(opt, "checkpoint", s->checkpoint) &&
	         add_json(o, "user_metadata", s->user_metadata) == 0 &&
	         add_stats(o, s->start_ns, s->end_ns) == 0 &&
	         add_attempts(o, s->att, s->natt, 1) == 0;
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int wf_fold_metadata(const wf_fold *f, const char *id, const char *step,
                     cJSON **out, char *err, size_t errlen)
{
	*out = NULL;
	const wf_fwf *w = wf_fold_get(f, id);
	if (!w) {
		errf(err, errlen, "No such workflow_id %s", id);
		return WF_ENOTFOUND;
	}
	if (step) {
		const wf_fstep *s = wf_map_get(&w->steps, step);
		if (!s) {
			errf(err, errlen, "No such step_id %s in workflow %s", step,
			     id);
			return WF_ENOTFOUND;
		}
		return (*out = step_meta(s)) ? 0 : WF_ENOMEM;
	}
	cJSON *o = cJSON_CreateObject();
	int ok = o &&
	         cJSON_AddStringToObject(o, "status",
	                                 wf_status_name(wf_fold_wf_status(f, w))) &&
	         add_json(o, "user_metadata", w->user_metadata) == 0 &&
	         add_stats(o, w->start_ns, w->end_ns) == 0 &&
	         cJSON_AddStringToObject(o, "workflow_id", w->id) &&
	         add_attempts(o, w->att, w->natt, 0) == 0;
	if (!ok) {
		cJSON_Delete(o);
		return WF_ENOMEM;
	}
	*out = o;
	return 0;
}

static int cmp_wf(const void *a, const void *b)
{
	return strcmp((*(const wf_fwf *const *)a)->id,
	              (*(const wf_fwf *const *)b)->id);
}

int wf_fold_list(const wf_fold *f, unsigned mask, cJSON **out)
{
	*out = NULL;
	size_t n = 0, i = 0;
	const wf_fwf *w;
	const wf_fwf **v = malloc((f->wfs.len + 1) * sizeof *v);
	if (!v)
		return WF_ENOMEM;
	while (wf_fold_next(f, &i, &w))
		if (mask & WF_STATUS_BIT(wf_fold_wf_status(f, w)))
			v[n++] = w;
	qsort(v, n, sizeof *v, cmp_wf);
	cJSON *arr = cJSON_CreateArray();
	int rc = arr ? 0 : WF_ENOMEM;
	for (size_t k = 0; k < n && !rc; k++) {
		cJSON *x = cJSON_CreateObject();
		if (!x || !cJSON_AddItemToArray(arr, x) ||
		    !cJSON_AddStringToObject(x, "workflow_id", v[k]->id) ||
		    !cJSON_AddStringToObject(
		        x, "status", wf_status_name(wf_fold_wf_status(f, v[k]))) ||
		    (v[k]->start_ns &&
		     !cJSON_AddItemToObject(x, "start_time", secs(v[k]->start_ns))) ||
		    (v[k]->end_ns &&
		     !cJSON_AddItemToObject(x, "end_time", secs(v[k]->end_ns))) ||
		    !cJSON_AddNumberToObject(x, "steps", (double)v[k]->nsteps) ||
		    !cJSON_AddNumberToObject(x, "attempts", (double)v[k]->natt))
			rc = WF_ENOMEM;
	}
	free(v);
	if (rc) {
		cJSON_Delete(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

const char *wf_status_name(wf_status s)
{
	switch (s) {
	case WF_STATUS_RUNNING:
		return "RUNNING";
	case WF_STATUS_FAILED:
		return "FAILED";
	case WF_STATUS_RESUMABLE:
		return "RESUMABLE";
	case WF_STATUS_CANCELED:
		return "CANCELED";
	case WF_STATUS_SUCCESSFUL:
		return "SUCCESSFUL";
	default:
		return "NONE";
	}
}
