/*
 * wflow stats DIR [--json]: the journal in numbers: events by type,
 * segments, bytes raw and on disk and their ratio, the time span,
 * workflows by status, and the slowest steps (p50, p95 and max duration
 * of the tries of each step name).
 *
 * How: one pass over the journal with light bookkeeping per event, no
 * fold: a map from workflow id to its status and session, a map from
 * "workflow id NUL step id" to the start of its running try (entries
 * recycled by size: a try is added and removed per step), and per step
 * name the durations of its finished tries (sorted at the end for the
 * percentiles). Statuses are derived as the fold derives them: a
 * workflow RUNNING in a session other than the live one is RESUMABLE.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "replay/cli.h"
#include "replay/events.h"
#include "replay/map.h"

const char usage_stats[] =
	"usage: wflow stats DIR [--json]\n"
	"\n"
	"The journal in numbers: events by type, segments, bytes (raw, on\n"
	"disk, ratio), the time span, workflows and actors by status, and\n"
	"the slowest steps: per step name, the number of tries and the p50,\n"
	"p95 and max of their durations (a try that failed counts too).\n"
	"\n"
	"  --json      one JSON object; times in epoch seconds\n"
	"  -h, --help  show this help\n"
	"\n"
	"exit codes: 0 printed, 1 the journal is damaged (nothing printed) or\n"
	"missing from DIR, 2 usage error or unreadable directory.\n";

typedef struct wfstat {
	int status;  /* wf_status as journaled */
	int session; /* index into sessions of its last attempt, -1 none */
} wfstat;

typedef struct durs {
	char *name;
	double *v;
	size_t n, cap;
	double p50, p95, max; /* once counted */
} durs;

/* A running try: its start, and its key ("id\x1fstep"), which the running
 * map borrows. Freed ones wait in a list per key size class. */
typedef struct tryent {
	union {
		int64_t start_ns;
		struct tryent *next; /* (while free) */
	} u;
	char key[];
} tryent;

#define KEY_MAX 1100 /* bytes of a key made in count(), NUL included */
#define KEY_CLASS 32  /* bytes per size class of tryent keys */
/* (a key of KEY_MAX - 1 bytes is in the last class: try_put needs no
 * bound check) */
#define KEY_CLASSES ((KEY_MAX - 1) / KEY_CLASS + 1)

typedef struct stats {
	uint64_t by_type[65536];
	wf_map wfs;      /* id -> wfstat */
	wf_map running;  /* "id\x1fstep" -> tryent (borrowing its key) */
	tryent *spare[KEY_CLASSES];
	wf_map names;    /* step name -> durs */
	char **sessions;
	size_t nsessions;
	int last_started; /* index of the last session_started's session */
	int64_t first_ns, last_ns;
	int oom;
} stats;

static int session_index(stats *s, const char *p, size_t n)
{
	for (size_t i = 0; i < s->nsessions; i++)
		if (strlen(s->sessions[i]) == n && memcmp(s->sessions[i], p, n) == 0)
			return (int)i;
	char **v = realloc(s->sessions, (s->nsessions + 1) * sizeof *v);
	if (!v || !(v[s->nsessions] = strndup(p, n))) {
		if (v)
			s->sessions = v;
		s->oom = 1;
		return -1;
	}
	s->sessions = v;
	return (int)s->nsessions++;
}

/* Field i of ev if it is text shorter than max bytes: its bytes up to the
 * first NUL, as a copy into a C string would give them. */
static int text_field(const wf_event *ev, unsigned i, size_t max,
                      const char **p, size_t *n)
{
	if (i >= ev->nfields || ev->fields[i].kind != WF_FIELD_TEXT ||
	    ev->fields[i].v.s.len >= max)
		return -1;
	*p = ev->fields[i].v.s.ptr;
	*n = strnlen(*p, ev->fields[i].v.s.len);
	return 0;
}

/* An entry for key (n bytes), from the spare ones of its size if any;
 * NULL when out of memory. */
static tryent *try_new(stats *s, const char *key, size_t n)
{
	size_t c = n / KEY_CLASS;
	tryent *t = s->spare[c];
	if (t)
		s->spare[c] = t->u.next;
	else if (!(t = malloc(sizeof *t + (c + 1) * KEY_CLASS)))
		return NULL;
	memcpy(t->key, key, n + 1);
	return t;
}

/* Give back t (NULL is fine), made for a key of n bytes. */
static void try_put(stats *s, tryent *t, size_t n)
{
	if (!t)
		return;
	size_t c = n / KEY_CLASS;
	t->u.next = s->spare[c];
	s->spare[c] = t;
}

static void add_duration(stats *s, const char *step, size_t n, double d)
{
	/* The name: the step id (at most 599 bytes of it) without its "_N",
	 * as the engine numbers ids: "_" and a number without a leading 0. */
	if (n > 599)
		n = 599;
	size_t u = n;
	while (u > 0 && step[u - 1] >= '0' && step[u - 1] <= '9')
		u--;
	if (u > 0 && u < n && step[u - 1] == '_' && step[u] != '0')
		n = u - 1;
	durs *x = wf_map_get_n(&s->names, step, n);
	if (!x) {
		if (!(x = calloc(1, sizeof *x)) || !(x->name = strndup(step, n)) ||
		    wf_map_put(&s->names, x->name, x) < 0) {
			if (x)
				free(x->name);
			free(x);
			s->oom = 1;
			return;
		}
	}
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		double *v = realloc(x->v, cap * sizeof *v);
		if (!v) {
			s->oom = 1;
			return;
		}
		x->v = v;
		x->cap = cap;
	}
	x->v[x->n++] = d;
}

static void count(stats *s, const wf_event *ev)
{
	s->by_type[ev->type]++;
	/* The span: clocks go back, so the smallest and largest times. */
	if (!s->first_ns || ev->time_ns < s->first_ns)
		s->first_ns = ev->time_ns;
	if (ev->time_ns > s->last_ns)
		s->last_ns = ev->time_ns;
	if (ev->type == WF_EV_SESSION_STARTED && ev->nfields &&
	    ev->fields[0].kind == WF_FIELD_TEXT)
		s->last_started = session_index(s, ev->fields[0].v.s.ptr,
		                                ev->fields[0].v.s.len);
	const char *idp;
	size_t n;
	if (ev->type == WF_EV_SESSION_STARTED || ev->type == WF_EV_NOTICE ||
	    text_field(ev, 0, 512, &idp, &n) < 0)
		return;
	/* Keys that the maps copy or look up as C strings are made here. */
	char key[KEY_MAX];
	wfstat *w;
	switch (ev->type) {
	case WF_EV_WORKFLOW_CREATED:
	case WF_EV_ACTOR_CREATED:
		if (!(w = wf_map_get_n(&s->wfs, idp, n))) {
			memcpy(key, idp, n);
			key[n] = '\0';
			if (!(w = malloc(sizeof *w)) ||
			    wf_map_put(&s->wfs, key, w) < 0) {
				free(w);
				s->oom = 1;
				return;
			}
		}
		w->status = ev->type == WF_EV_ACTOR_CREATED
		                    ? WF_STATUS_SUCCESSFUL
		                    : WF_STATUS_NONE;
		w->session = -1;
		return;
	case WF_EV_WORKFLOW_DELETED:
		memcpy(key, idp, n);
		key[n] = '\0';
		free(wf_map_del(&s->wfs, key));
		return;
	case WF_EV_ATTEMPT_STARTED:
		w = wf_map_get_n(&s->wfs, idp, n);
		if (w && ev->nfields > 3 && ev->fields[3].kind == WF_FIELD_TEXT)
			w->session = session_index(s, ev->fields[3].v.s.ptr,
			                           ev->fields[3].v.s.len);
		return;
	case WF_EV_STATUS_CHANGED: {
		int st = wf_event_status(ev, 1);
		w = wf_map_get_n(&s->wfs, idp, n);
		if (w && st > 0)
			w->status = st;
		return;
	}
	case WF_EV_STEP_STARTED:
	case WF_EV_STEP_SUCCEEDED:
	case WF_EV_STEP_FAILED: {
		/* "id\x1fstep" */
		const char *sp;
		size_t sn;
		if (text_field(ev, 1, sizeof key - n - 1, &sp, &sn) < 0)
			return;
		memcpy(key, idp, n);
		key[n] = '\x1f';
		memcpy(key + n + 1, sp, sn);
		key[n + 1 + sn] = '\0';
		size_t kn = n + 1 + sn;
		if (ev->type == WF_EV_STEP_STARTED) {
			tryent *t = wf_map_get_n(&s->running, key, kn);
			if (t) { /* started again without an end */
				t->u.start_ns = ev->time_ns;
				return;
			}
			if (!(t = try_new(s, key, kn)) ||
			    wf_map_put(&s->running, t->key, t) < 0) {
				try_put(s, t, kn);
				s->oom = 1;
				return;
			}
			t->u.start_ns = ev->time_ns;
			return;
		}
		tryent *t = wf_map_del(&s->running, key);
		if (!t)
			return; /* a caught failure's success: no new try */
		int64_t t0 = t->u.start_ns;
		try_put(s, t, kn);
		add_duration(s, sp, sn, (double)(ev->time_ns - t0) / 1e9);
		return;
	}
	default:
		return;
	}
}

static int cmp_slowest(const void *a, const void *b)
{
	const durs *x = *(durs *const *)a, *y = *(durs *const *)b;
	return x->max > y->max ? -1 : x->max < y->max ? 1
	                                              : strcmp(x->name, y->name);
}

/* Nearest-rank: the 1-based rank of percentile p of n values. */
static size_t rank(size_t n, double p)
{
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
	return k < 1 ? 1 : k > n ? n : k;
}

/*
 * The k-th smallest (0-based) of v[0..n), moving v's values so that those
 * before index k are not larger and those after not smaller (quickselect,
 * median of three): the percentiles without sorting every try of a
 * step name, which was a tenth of stats' time on long journals.
 */
static double select_kth(double *v, size_t n, size_t k)
{
	ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
	while (hi > lo) {
		ptrdiff_t mid = lo + (hi - lo) / 2;
		double a = v[lo], b = v[mid], c = v[hi];
		double piv = a < b ? (b < c ? b : a < c ? c : a)
		                   : (a < c ? a : b < c ? c : b);
		ptrdiff_t i = lo, j = hi;
		while (i <= j) {
			while (v[i] < piv)
				i++;
			while (v[j] > piv)
				j--;
			if (i <= j) {
				double t = v[i];
				v[i++] = v[j];
				v[j--] = t;
			}
		}
		/* Now v[lo..j] <= piv <= v[i..hi], and what lies between
		 * equals piv. */
		if (kk <= j)
			hi = j;
		else if (kk >= i)
			lo = i;
		else
			break;
	}
	return v[k];
}

static void percentiles(durs *d)
{
	size_t k95 = rank(d->n, 95) - 1, k50 = rank(d->n, 50) - 1;
	d->max = d->v[0];
	for (size_t i = 1; i < d->n; i++)
		if (d->v[i] > d->max)
			d->max = d->v[i];
	d->p95 = select_kth(d->v, d->n, k95);
	/* Everything before k95 is not larger: p50 is among them. */
	d->p50 = k50 < k95 ? select_kth(d->v, k95, k50) : d->p95;
}

static void free_stats(stats *s)
{
	const char *k;
	void *v;
	for (size_t i = 0; wf_map_next(&s->wfs, &i, &k, &v);)
		free(v);
	for (size_t i = 0; wf_map_next(&s->names, &i, &k, &v);) {
		durs *d = v;
		free(d->v);
		free(d->name);
		free(d);
	}
	wf_map_free(&s->wfs);
	for (size_t i = 0; wf_map_next(&s->running, &i, &k, &v);)
		free(v);
	wf_map_free(&s->running);
	for (size_t c = 0; c < KEY_CLASSES; c++)
		while (s->spare[c]) {
			tryent *t = s->spare[c];
			s->spare[c] = t->u.next;
			free(t);
		}
	wf_map_free(&s->names);
	for (size_t i = 0; i < s->nsessions; i++)
		free(s->sessions[i]);
	free(s->sessions);
	free(s);
}

#define SLOWEST 20

int cmd_stats(int argc, char **argv)
{
	cli_args a;
	int rc = cli_parse_args(argc, argv, "stats", OPT_JSON, 1, 1,
	                        cli_dir_only, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(usage_stats, stdout);
		return EXIT_INTACT;
	}
	char *dir;
	if ((rc = cli_resolve_dir("stats", a.pos[0], &dir)) >= 0)
		return rc;
	if (!cli_has_segments(dir)) {
		cli_no_segments("stats", dir);
		free(dir);
		return EXIT_DAMAGED;
	}
	stats *s = calloc(1, sizeof *s);
	if (s) {
		s->last_started = -1;
		s->running.borrow = 1; /* (keys in the tryents) */
	}
	wf_reader *r = NULL;
	if (!s) {
		fprintf(stderr, "wflow stats: out of memory\n");
		free(dir);
		return EXIT_USAGE;
	}
	s->names.borrow = 1;
	wf_reader_opts o = WF_READER_OPTS_INIT;
	cli_read_ahead(&o);
	rc = wf_reader_open(&r, dir, &o);
	if (rc < 0) {
		int code = cli_open_failed("stats", dir, rc, r);
		wf_reader_close(r);
		free_stats(s);
		free(dir);
		return code;
	}
	const wf_event *ev;
	cli_progress *bar = cli_progress_start("stats", "reading", dir);
	while ((rc = wf_reader_next(r, &ev)) == 1 && !s->oom)
		count(s, ev);
	cli_progress_stop(bar);
	if (rc < 0 || s->oom) {
		fprintf(stderr, "wflow stats: %s: %s (%s)\n", dir,
		        s->oom ? "out of memory" : wf_reader_errmsg(r),
		        wf_strerror(s->oom ? WF_ENOMEM : rc));
		wf_reader_close(r);
		free_stats(s);
		free(dir);
		return rc == WF_ECORRUPT || rc == WF_EINCOMPAT ? EXIT_DAMAGED
		                                               : EXIT_USAGE;
	}
	wf_journal_stats st;
	wf_reader_stats(r, &st);
	wf_reader_close(r);

	/* Statuses, RESUMABLE derived as the fold derives it: RUNNING in a
	 * session other than the last one started, if an engine holds the
	 * journal now; else every RUNNING one. */
	int live = wf_journal_writer_alive(dir) && s->nsessions ? s->last_started : -2;
	uint64_t by_status[8] = {0};
	const char *k;
	void *v;
	for (size_t i = 0; wf_map_next(&s->wfs, &i, &k, &v);) {
		wfstat *w = v;
		int x = w->status;
		if (x == WF_STATUS_NONE ||
		    (x == WF_STATUS_RUNNING && w->session != live))
			x = WF_STATUS_RESUMABLE;
		by_status[x]++;
	}
	/* Slowest step names first. */
	size_t nn = s->names.len, j = 0;
	durs **v_names = malloc((nn + 1) * sizeof *v_names);
	for (size_t i = 0; v_names && wf_map_next(&s->names, &i, &k, &v);) {
		durs *d = v;
		percentiles(d);
		v_names[j++] = d;
	}
	if (v_names)
		qsort(v_names, j, sizeof *v_names, cmp_slowest);

	int code = EXIT_INTACT;
	if (a.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "events", (double)st.events);
		cJSON *bt = cJSON_AddObjectToObject(o, "events_by_type");
		for (unsigned t = 0; t < 65536; t++) {
			if (!s->by_type[t])
				continue;
			const wf_event_schema *sc = wf_event_schema_find((uint16_t)t);
			char name[32];
			snprintf(name, sizeof name, "%u", t);
			cJSON_AddNumberToObject(bt, sc ? sc->name : name,
			                        (double)s->by_type[t]);
		}
		cJSON_AddNumberToObject(o, "segments", (double)st.segments);
		cJSON_AddNumberToObject(o, "first_seq", (double)st.first_seq);
		cJSON_AddNumberToObject(o, "bytes_raw", (double)st.bytes_raw);
		cJSON_AddNumberToObject(o, "bytes_disk", (double)st.bytes_disk);
		cJSON_AddNumberToObject(o, "ratio",
		                        cli_ratio(st.bytes_raw, st.bytes_disk));
		if (st.events) {
			cJSON_AddNumberToObject(o, "first_time",
			                        (double)s->first_ns / 1e9);
			cJSON_AddNumberToObject(o, "last_time",
			                        (double)s->last_ns / 1e9);
			cJSON_AddNumberToObject(o, "span_s",
			                        (double)(s->last_ns - s->first_ns) /
			                            1e9);
		}
		cJSON_AddNumberToObject(o, "workflows", (double)s->wfs.len);
		cJSON *bs = cJSON_AddObjectToObject(o, "workflows_by_status");
		for (int x = WF_STATUS_RUNNING; x <= WF_STATUS_SUCCESSFUL; x++)
			cJSON_AddNumberToObject(bs, wf_status_name((wf_status)x),
			                        (double)by_status[x]);
		cJSON *sl = cJSON_AddArrayToObject(o, "slowest_steps");
		for (size_t i = 0; i < j && i < SLOWEST; i++) {
			durs *d = v_names[i];
			cJSON *x = cJSON_CreateObject();
			cJSON_AddItemToArray(sl, x);
			cJSON_AddStringToObject(x, "name", d->name);
			cJSON_AddNumberToObject(x, "tries", (double)d->n);
			cJSON_AddNumberToObject(x, "p50", d->p50);
			cJSON_AddNumberToObject(x, "p95", d->p95);
			cJSON_AddNumberToObject(x, "max", d->max);
		}
		code = cli_print_json("stats", o);
		cJSON_Delete(o);
	} else {
		char raw[32], disk[32], t0[40], t1[40];
		cli_human(raw, sizeof raw, st.bytes_raw);
		cli_human(disk, sizeof disk, st.bytes_disk);
		cJSON *a0 = cJSON_CreateNumber((double)s->first_ns / 1e9);
		cJSON *a1 = cJSON_CreateNumber((double)s->last_ns / 1e9);
		cli_iso_time(t0, sizeof t0, st.events ? a0 : NULL);
		cli_iso_time(t1, sizeof t1, st.events ? a1 : NULL);
		cJSON_Delete(a0);
		cJSON_Delete(a1);
		printf("journal    %s\n", dir);
		printf("events     %" PRIu64 " in %" PRIu64 " segments",
		       st.events, st.segments);
		if (st.first_seq > 1) /* (retention: wflow.h) */
			printf(", from event %" PRIu64 " (the journal's oldest "
			       "segments were deleted)", st.first_seq);
		printf("\n");
		printf("bytes      %s raw, %s on disk (%.2fx)\n", raw, disk,
		       cli_ratio(st.bytes_raw, st.bytes_disk));
		printf("time span  %s .. %s (%.3f s)\n", t0, t1,
		       (double)(s->last_ns - s->first_ns) / 1e9);
		printf("\n%-20s %12s\n", "EVENT TYPE", "COUNT");
		for (unsigned t = 0; t < 65536; t++) {
			if (!s->by_type[t])
				continue;
			const wf_event_schema *sc = wf_event_schema_find((uint16_t)t);
			char name[32];
			snprintf(name, sizeof name, "%u", t);
			printf("%-20s %12" PRIu64 "\n", sc ? sc->name : name,
			       s->by_type[t]);
		}
		printf("\n%-20s %12s\n", "STATUS", "WORKFLOWS");
		for (int x = WF_STATUS_RUNNING; x <= WF_STATUS_SUCCESSFUL; x++)
			printf("%-20s %12" PRIu64 "\n",
			       wf_status_name((wf_status)x), by_status[x]);
		printf("%-20s %12zu\n", "(all)", s->wfs.len);
		printf("\n%-24s %8s %12s %12s %12s\n", "SLOWEST STEPS", "TRIES",
		       "P50 S", "P95 S", "MAX S");
		for (size_t i = 0; i < j && i < SLOWEST; i++) {
			durs *d = v_names[i];
			printf("%-24s %8zu %12.6f %12.6f %12.6f\n", d->name, d->n,
			       d->p50, d->p95,
			       d->max);
		}
	}
	free(v_names);
	free_stats(s);
	free(dir);
	return cli_finish_stdout("stats", code);
}
