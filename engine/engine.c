/*
 * The engine: workflows of steps, run on a pool of worker threads, every
 * state change journaled before it takes effect.
 *
 * How a change happens. The caller builds the change's events, commits
 * them to the journal (durable per the configured durability; concurrent
 * commits share fsyncs), then applies them to the fold under the engine
 * lock, in journal order: commits can return out of order, so each waits
 * until the events before its own have been applied (apply_next). Only
 * then does it act on the change (schedule steps, wake waiters). So the
 * fold in memory is always exactly what a replay of the journal gives,
 * and get_metadata (which reads only the fold) never shows a change that
 * is not in the journal.
 *
 * How a workflow runs. A run walks the DAG from its output step: a step
 * whose output is known (checkpointed in the fold, or produced in this
 * run) is done; a step that returned a continuation is done when the
 * continuation's output step is; any other step whose arguments are all
 * done is queued for a worker. Each completion walks again. Independent
 * branches thus run in parallel, and a resume re-runs only what has no
 * output (steps with checkpoint=false, failed or interrupted ones).
 *
 * Cancel takes the run's cancel lock for writing and journals CANCELED; a
 * step result is journaled under the same lock for reading, after checking
 * for cancel: so nothing a cancelled step produces is ever recorded.
 *
 * Close does not wait for steps that ignore cancellation: idle workers
 * exit, busy ones are left to finish on their own; they hold references
 * to the engine's memory, and the last one out frees it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "journal/jsoncheck.h"
#include "journal/segment.h"
#include "replay/jpatch.h"
#include "replay/snapshot.h"

static _Thread_local char tls_err[1024];

/* In a worker: whether it has already queued a task that it will take
 * itself when it returns to its loop (so no other worker is woken for
 * it: on these machines a wake-up costs more than a no-op step). */
static _Thread_local int tls_worker, tls_kept;

static void seterr(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tls_err, sizeof tls_err, fmt, ap);
	va_end(ap);
}

const char *wf_errmsg(const wf_engine *e)
{
	if (e && e->open_failed)
		return e->open_err;
	return tls_err;
}

/* ---- validation ---- */

/* Why s is not a valid id (1..255 bytes of UTF-8, no control
 * characters), in why; 0 if it is one. */
static int id_problem(const char *s, char *why, size_t len)
{
	if (!s) {
		snprintf(why, len, "none given (NULL)");
		return 1;
	}
	size_t n = strlen(s);
	if (n == 0) {
		snprintf(why, len, "empty");
		return 1;
	}
	if (n > 255) {
		snprintf(why, len, "%zu bytes long, more than 255", n);
		return 1;
	}
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p;
		size_t at = (size_t)(p - (const unsigned char *)s), len8;
		uint32_t cp;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f) {
				snprintf(why, len, "control character 0x%02x at byte %zu",
				         c, at);
				return 1;
			}
			p++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len8 = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len8 = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len8 = 4;
			cp = c & 0x07;
		} else {
			snprintf(why, len, "invalid UTF-8 at byte %zu", at);
			return 1;
		}
		for (size_t i = 1; i < len8; i++) {
			if ((p[i] & 0xc0) != 0x80) {
				snprintf(why, len, "invalid UTF-8 at byte %zu", at);
				return 1;
			}
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((len8 == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len8 == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
			snprintf(why, len, "invalid UTF-8 at byte %zu", at);
			return 1;
		}
		if (cp >= 0x80 && cp < 0xa0) {
			snprintf(why, len, "control character U+%04X at byte %zu",
			         (unsigned)cp, at);
			return 1;
		}
		p += len8;
	}
	return 0;
}

static int check_id(const char *what, const char *id)
{
	char why[80];
	if (!id_problem(id, why, sizeof why))
		return 0;
	seterr("invalid %s: %s (ids are 1 to 255 bytes of UTF-8 without "
	       "control characters)", what, why);
	return WF_EINVAL;
}

/*
 * What is wrong with a JSON value given to the engine to keep, or NULL:
 * a number that is not finite, or nesting deeper than WF_JSON_MAX_DEPTH
 * (see wflow.h). Iterative, so that a value nested 100,000 deep costs no
 * stack: every function that recurses over a value (cJSON's printing,
 * copying and comparing, the state diff) runs only after this check.
 */
#define WF_STR_(x) #x
#define WF_STR(x) WF_STR_(x)
static const char *json_problem(const cJSON *v)
{
	const cJSON *up[WF_JSON_MAX_DEPTH];
	int depth = 0; /* containers above cur */
	for (const cJSON *cur = v; cur;) {
		if (cJSON_IsNumber(cur) &&
		    !(cur->valuedouble - cur->valuedouble == 0))
			return "holds a number that is not finite (not JSON)";
		if ((cJSON_IsArray(cur) || cJSON_IsObject(cur))) {
			if (depth == WF_JSON_MAX_DEPTH)
				return "is nested more than " WF_STR(WF_JSON_MAX_DEPTH)
				       " arrays and objects deep";
			if (cur->child) {
				up[depth++] = cur;
				cur = cur->child;
				continue;
			}
		}
		/* Next: a sibling, or the nearest ancestor's (never v's). */
		for (;;) {
			if (depth == 0)
				return NULL;
			if (cur->next) {
				cur = cur->next;
				break;
			}
			cur = up[--depth];
		}
	}
	return NULL;
}

/* cJSON_Delete without its recursion (a value the engine was given may be
 * nested deeper than the stack allows): children are unlinked first. */
static void json_delete(cJSON *v)
{
	cJSON *todo = v;
	if (v)
		v->next = NULL; /* v alone, not its siblings */
	while (todo) {
		cJSON *x = todo;
		todo = x->next;
		if (x->child) {
			cJSON *last = x->child;
			while (last->next)
				last = last->next;
			last->next = todo;
			todo = x->child;
			x->child = NULL;
		}
		x->next = x->prev = NULL;
		cJSON_Delete(x);
	}
}

/* Metadata must be a JSON object of finite numbers, nested at most
 * WF_JSON_MAX_DEPTH deep, whose text is at most the engine's limit.
 * @return 0 (*out is the JSON text, caller frees; NULL for no metadata),
 *         or an error with the message set. */
static int metadata_text(const wf_engine *e, const cJSON *md,
                         const char *where, char **out)
{
	*out = NULL;
	if (!md)
		return 0;
	const char *why;
	if (!cJSON_IsObject(md)) {
		seterr("%s: user metadata must be a JSON object", where);
		return WF_EINVAL;
	}
	if ((why = json_problem(md))) {
		seterr("%s: user metadata %s", where, why);
		return WF_EINVAL;
	}
	if (!(*out = cJSON_PrintUnformatted(md))) {
		seterr("out of memory");
		return WF_ENOMEM;
	}
	uint64_t limit = e && e->cfg.max_metadata_bytes
	                     ? e->cfg.max_metadata_bytes
	                     : WF_METADATA_MAX_DEFAULT;
	size_t n = strlen(*out);
	if (n > limit) {
		free(*out);
		*out = NULL;
		seterr("%s: user metadata is %zu bytes of JSON, more than the "
		       "limit of %" PRIu64 " (wf_config.max_metadata_bytes)",
		       where, n, limit);
		return WF_EINVAL;
	}
	return 0;
}

/* ---- events ---- */

typedef struct evbuf {
	wf_event ev[4];
	int n;
} evbuf;

static wf_event *ev_add(evbuf *b, uint16_t type)
{
	wf_event *ev = &b->ev[b->n++];
	memset(ev, 0, sizeof *ev);
	ev->type = type;
	return ev;
}

static void ev_text(wf_event *ev, const char *s)
{
	ev->fields[ev->nfields++] = wf_field_text(s, strlen(s));
}

static void ev_json(wf_event *ev, const char *s)
{
	ev->fields[ev->nfields++] = wf_field_json(s, strlen(s));
}

static void ev_u(wf_event *ev, uint64_t v)
{
	ev->fields[ev->nfields++] = wf_field_u(v);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Journal b's events as one commit, then apply them to the fold in
 * journal order. Returns with e->mu HELD (also on failure).
 */
static int journal_apply_flags(wf_engine *e, evbuf *b, unsigned flags);

static int journal_apply(wf_engine *e, evbuf *b)
{
	return journal_apply_flags(e, b, 0);
}

/* One batch per thread, kept for reuse (a commit allocates nothing), and
 * freed when the thread exits. */
static pthread_key_t batch_key;
static pthread_once_t batch_once = PTHREAD_ONCE_INIT;

static void batch_dtor(void *b)
{
	wf_batch_free(b);
}

static void batch_key_init(void)
{
	pthread_key_create(&batch_key, batch_dtor);
}

static wf_batch *thread_batch(void)
{
	pthread_once(&batch_once, batch_key_init);
	wf_batch *b = pthread_getspecific(batch_key);
	if (!b && wf_batch_new(&b) == 0 &&
	    pthread_setspecific(batch_key, b) != 0) {
		wf_batch_free(b);
		b = NULL;
	}
	if (b)
		wf_batch_clear(b);
	return b;
}

/* ---- periodic snapshots ---- */

typedef struct snap_job {
	wf_engine *e;
	wf_snapshot_job *sj;
} snap_job;

static void engine_put(wf_engine *e);

/*
 * Retention (wf_config.retention_s), after a snapshot was written: delete
 * the oldest journal segments that both kept snapshots cover and whose
 * events are older than the bound. The journal says so first, durably
 * (a notice: what went and why), so an auditor finds the reason where
 * the history now starts. Failing costs only disk space. Without mu.
 */
static void retire(wf_engine *e)
{
	if (!e->cfg.retention_s || e->cfg.no_snapshots ||
	    atomic_load(&e->broken))
		return;
	char sdir[4200];
	snprintf(sdir, sizeof sdir, "%s/snapshots", e->dir);
	uint64_t upto = 0;
	if (wf_snapshot_covered(e->io, sdir, wf_journal_id(e->j), &upto) < 0 ||
	    upto == 0)
		return;
	uint64_t keep_s = e->cfg.retention_s;
	if (keep_s > (uint64_t)100 * 366 * 86400) /* (no overflow below) */
		keep_s = (uint64_t)100 * 366 * 86400;
	wf_retire_plan p;
	if (wf_journal_retire_plan(e->j, upto,
	                           now_ns() - (int64_t)keep_s * 1000000000,
	                           &p) < 0 ||
	    p.segments == 0)
		return;
	char what[400];
	snprintf(what, sizeof what,
	         "events %" PRIu64 "..%" PRIu64 " (%" PRIu64 " segments, %"
	         PRIu64 " bytes) deleted: the snapshots up to event %" PRIu64
	         " hold what they folded to, and they were older than "
	         "retention_s (%" PRIu64 " s)",
	         p.first_seq, p.last_seq, p.segments, p.bytes, upto,
	         e->cfg.retention_s);
	evbuf b = {.n = 0};
	wf_event *ev = ev_add(&b, WF_EV_NOTICE);
	ev_text(ev, "segments retired");
	ev_text(ev, what);
	int rc = journal_apply(e, &b);
	pthread_mutex_unlock(&e->mu);
	uint64_t done;
	if (rc == 0 && wf_journal_sync(e->j) == 0)
		wf_journal_retire(e->j, &p, &done);
}

static void *snap_thread(void *arg)
{
	snap_job *j = arg;
	wf_engine *e = j->e;
	/* The snapshot must cover nothing the journal could still lose. */
	int rc = 0;
	if (wf_journal_sync(e->j) == 0) {
		char sdir[4200], err[600];
		snprintf(sdir, sizeof sdir, "%s/snapshots", e->dir);
		rc = wf_snapshot_job_write(e->io, sdir, wf_journal_id(e->j), j->sj,
		                           NULL, err, sizeof err);
		if (rc == 0)
			retire(e); /* (snap_busy: no snapshot starts meanwhile) */
	}
	pthread_mutex_lock(&e->mu);
	wf_snapshot_job_done(e->fold, j->sj);
	/* A block it was to copy from the snapshot restored is damaged:
	 * the next one reads them all (and rebuilds that one), under mu. */
	if (rc == WF_ECORRUPT)
		e->snap_no_copy = 1;
	e->snap_busy = 0;
	pthread_cond_broadcast(&e->snap_cv);
	pthread_mutex_unlock(&e->mu);
	wf_snapshot_job_free(j->sj);
	free(j);
	engine_put(e);
	return NULL;
}

/* Every cfg.snapshot_every events: take the state now (under mu) and let
 * a thread write it. The finished workflows' blocks are pinned, not
 * copied (snapshot.h); after a lazy open, the snapshot's blocks nothing
 * read since are left to the thread to copy from its file. So the take
 * under mu copies only the unfinished workflows. Failing costs only
 * replay time. Holds mu. */
static void maybe_snapshot(wf_engine *e)
{
	uint64_t every = e->cfg.snapshot_every ? e->cfg.snapshot_every : 500000;
	uint64_t seq = wf_fold_last_seq(e->fold);
	if (e->cfg.no_snapshots || e->snap_busy || seq < e->snap_seq + every ||
	    atomic_load(&e->closing) || atomic_load(&e->broken))
		return;
	snap_job *j = calloc(1, sizeof *j);
	if (!j || wf_snapshot_job_take(e->fold, !e->snap_no_copy, &j->sj) < 0) {
		free(j);
		return;
	}
	j->e = e;
	e->snap_seq = seq;
	e->snap_busy = 1;
	e->refs++;
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, snap_thread, j) != 0) {
		e->snap_busy = 0;
		e->refs--;
		wf_snapshot_job_done(e->fold, j->sj);
		wf_snapshot_job_free(j->sj);
		free(j);
	}
	pthread_attr_destroy(&attr);
}

static int journal_apply_flags(wf_engine *e, evbuf *b, unsigned flags)
{
	int broken = atomic_load(&e->broken);
	if (broken) {
		seterr("%s", e->broken_why);
		pthread_mutex_lock(&e->mu);
		return broken;
	}
	wf_batch *batch = thread_batch();
	int rc = batch ? 0 : WF_ENOMEM;
	int64_t t = now_ns();
	for (int i = 0; rc == 0 && i < b->n; i++) {
		b->ev[i].time_ns = t;
		rc = wf_batch_add(batch, &b->ev[i]);
	}
	uint64_t first = 0;
	if (rc == 0 &&
	    (rc = wf_journal_commit_flags(e->j, batch, &first, flags)) < 0) {
		char jm[512];
		wf_journal_errmsg_copy(e->j, jm, sizeof jm);
		seterr("%s", jm);
	}
	else if (rc < 0)
		seterr("out of memory");
	pthread_mutex_lock(&e->mu);
	/* A failed commit that got sequence numbers (written, then an fsync
	 * failed) takes its turn too: commits written after it and not
	 * synced may have succeeded, and wait for it. Its events are applied
	 * as a replay finds them if they stay on disk; the caller still gets
	 * the error. */
	if (rc < 0 && first == 0)
		return rc;
	while (e->apply_next != first)
		pthread_cond_wait(&e->apply_cv, &e->mu);
	char err[512] = "";
	for (int i = 0; i < b->n; i++) {
		b->ev[i].seq = first + (uint64_t)i;
		int r = wf_fold_apply(e->fold, &b->ev[i], err, sizeof err);
		if (r < 0 && !atomic_load(&e->broken)) {
			/* The journal holds an event the fold refused: out of
			 * memory (the fold may be half changed), or a bug. The
			 * state in memory is no longer the journal's, so nothing
			 * is journaled or snapshotted from it any more; a reopen
			 * folds the journal again. */
			snprintf(e->broken_why, sizeof e->broken_why,
			         "the engine refuses changes until it is "
			         "reopened: a journaled change could not be "
			         "applied to its state (%s)", err);
			atomic_store(&e->broken,
			             r == WF_ENOMEM ? WF_ENOMEM : WF_ECORRUPT);
		}
		if (r < 0 && rc == 0) {
			rc = atomic_load(&e->broken);
			seterr("%s", e->broken_why);
		}
	}
	e->apply_next = first + (uint64_t)b->n;
	pthread_cond_broadcast(&e->apply_cv);
	maybe_snapshot(e);
	return rc;
}

/* ---- futures and runs ---- */

static void future_put(struct wf_future *f)
{
	pthread_mutex_lock(&f->mu);
	int last = --f->refs == 0;
	pthread_mutex_unlock(&f->mu);
	if (!last)
		return;
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f->output);
	free(f->errmsg);
	free(f);
}

static struct wf_future *future_new(void)
{
	struct wf_future *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->refs = 1;
	return f;
}

static void future_done(struct wf_future *f, int rc, const char *output,
                        const char *msg)
{
	pthread_mutex_lock(&f->mu);
	if (!f->done) {
		f->done = 1;
		f->rc = rc;
		f->output = output ? strdup(output) : NULL;
		if (output && !f->output) { /* not "null" for the output */
			f->rc = WF_ENOMEM;
			msg = "out of memory answering the caller";
		}
		/* The message is kept also without memory for a copy. */
		if (msg && !(f->errmsg = strdup(msg)))
			snprintf(f->msgbuf, sizeof f->msgbuf, "%.*s",
			         (int)sizeof f->msgbuf - 1, msg); /* (cut) */
		pthread_cond_broadcast(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
}

static void run_put(wf_run_t *r)
{
	if (--r->refs > 0)
		return;
	const char *k;
	void *v;
	for (size_t i = 0; wf_map_next(&r->mem, &i, &k, &v);)
		free(v);
	wf_map_free(&r->mem);
	wf_map_free(&r->running);
	wf_map_free(&r->pending);
	pthread_rwlock_destroy(&r->cancel_lock);
	pthread_mutex_destroy(&r->dag_mu);
	pthread_cond_destroy(&r->cancel_cv);
	pthread_cond_destroy(&r->help_cv);
	free(r->futs);
	free(r->id);
	free(r);
}

/* Caller holds mu. */
static wf_run_t *run_new(wf_engine *e, const char *id)
{
	wf_run_t *r = calloc(1, sizeof *r);
	if (!r || !(r->id = strdup(id))) {
		free(r);
		return NULL;
	}
	r->refs = 1; /* the engine's runs map */
	r->active = 1;
	pthread_rwlock_init(&r->cancel_lock, NULL);
	pthread_mutex_init(&r->dag_mu, NULL);
	pthread_cond_init(&r->cancel_cv, NULL);
	pthread_cond_init(&r->help_cv, NULL);
	wf_run_t *old = wf_map_get(&e->runs, id);
	if (wf_map_put(&e->runs, id, r) < 0) {
		r->refs = 0;
		run_put(r);
		return NULL;
	}
	/* An inactive run still in the map has steps that ignored a cancel
	 * (or outlived a failure) still running: they hold references of
	 * their own; the map's goes. */
	if (old)
		run_put(old);
	return r;
}

/* Attach a new future to r. Caller holds mu. */
static struct wf_future *run_future(wf_run_t *r)
{
	struct wf_future **v = realloc(r->futs, (r->nfuts + 1) * sizeof *v);
	if (!v)
		return NULL;
	r->futs = v;
	struct wf_future *f = future_new();
	if (!f)
		return NULL;
	f->refs = 2; /* the caller's and the run's */
	r->futs[r->nfuts++] = f;
	return f;
}

/* Drop r from the runs map once nothing of it is in flight. Holds mu. */
static void run_release(wf_engine *e, wf_run_t *r)
{
	if (r->active || r->in_flight)
		return;
	if (wf_map_get(&e->runs, r->id) == r) {
		wf_map_del(&e->runs, r->id);
		run_put(r);
	}
}

static void actor_next(wf_engine *e, const char *id);

/* The run is over: answer its futures. Caller holds mu. */
static void run_finish(wf_engine *e, wf_run_t *r, int rc, const char *output,
                       const char *msg)
{
	if (!r->active)
		return;
	r->active = 0;
	if (r->actor)
		actor_next(e, r->id);
	for (size_t i = 0; i < r->nfuts; i++) {
		future_done(r->futs[i], rc, output, msg);
		future_put(r->futs[i]);
	}
	r->nfuts = 0;
	pthread_cond_broadcast(&r->cancel_cv);
	pthread_cond_broadcast(&r->help_cv);
	run_release(e, r);
}

/* ---- scheduling ---- */

enum { S_PENDING = 0, S_DONE = 1 };

static wf_task *enqueue(wf_engine *e, wf_run_t *r, const char *step,
                        int try_n)
{
	wf_task *t = calloc(1, sizeof *t);
	if (!t || !(t->step = strdup(step)) ||
	    wf_map_put(&r->running, step, (void *)1) < 0) {
		/* Out of memory: the run cannot go on; say so. */
		if (t)
			free(t->step);
		free(t);
		run_finish(e, r, WF_ENOMEM, NULL, "out of memory scheduling a step");
		return NULL;
	}
	t->run = r;
	t->try_n = try_n;
	r->refs++;
	r->in_flight++;
	if (e->qtail)
		e->qtail->next = t;
	else
		e->qhead = t;
	e->qtail = t;
	if (tls_worker && !tls_kept)
		tls_kept = 1; /* this thread takes the next task itself */
	else if (r->helpers_waiting)
		pthread_cond_signal(&r->help_cv); /* the wf_run caller runs it */
	else
		pthread_cond_signal(&e->task_cv);
	return t;
}

/* The JSON text of a done step's output (following continuations). */
static const char *step_value(wf_run_t *r, const wf_fwf *w, const char *id,
                              int depth)
{
	const wf_fstep *s = wf_fold_step(w, id);
	if (!s || depth > 100000)
		return NULL;
	if (s->cont && s->state == WF_FSTEP_SUCCEEDED)
		return step_value(r, w, s->cont, depth + 1);
	const char *m = wf_map_get(&r->mem, id);
	if (m)
		return m;
	return s->has_output ? s->output : NULL;
}

static int walk(wf_engine *e, wf_run_t *r, const wf_fwf *w, const char *id,
                int depth)
{
	const wf_fstep *s = wf_fold_step(w, id);
	if (!s || depth > 100000)
		return S_PENDING;
	if (s->cont && s->state == WF_FSTEP_SUCCEEDED)
		return walk(e, r, w, s->cont, depth + 1);
	if (wf_map_get(&r->running, id) || wf_map_get(&r->pending, id))
		return S_PENDING;
	if (wf_map_get(&r->mem, id) || (s->has_output && !s->cont))
		return S_DONE;
	int ready = 1;
	for (size_t i = 0; i < s->nargs; i++)
		if (s->args[i].step &&
		    walk(e, r, w, s->args[i].step, depth + 1) != S_DONE)
			ready = 0;
	if (ready && r->active && !atomic_load(&r->cancelled))
		enqueue(e, r, id, 1);
	return S_PENDING;
}

static void finish_success(wf_engine *e, wf_run_t *r);

/* Walk the run's DAG; queue what is ready, finish if done. Holds mu. */
static void schedule(wf_engine *e, wf_run_t *r)
{
	if (!r->active || r->finishing || atomic_load(&r->cancelled))
		return; /* (a finished workflow is not thawed for nothing) */
	const wf_fwf *w = wf_fold_get(e->fold, r->id);
	if (!w)
		return;
	if (!w->output_step) {
		run_finish(e, r, WF_ECORRUPT, NULL, "workflow has no output step");
		return;
	}
	/* An enqueue that runs out of memory finishes the run, which may
	 * free it: hold it for the walk. */
	r->refs++;
	if (walk(e, r, w, w->output_step, 0) == S_DONE && r->active)
		finish_success(e, r);
	run_put(r);
}

/* Journal the output and SUCCESSFUL. Holds mu; releases it meanwhile. */
static void finish_success(wf_engine *e, wf_run_t *r)
{
	const wf_fwf *w = wf_fold_get(e->fold, r->id);
	const char *v = step_value(r, w, w->output_step, 0);
	char *out = strdup(v ? v : "null");
	if (!out) {
		run_finish(e, r, WF_ENOMEM, NULL, "out of memory");
		return;
	}
	if (r->ending) { /* another result ends the run */
		free(out);
		return;
	}
	r->ending = 1;
	r->finishing = 1;
	r->refs++;
	pthread_mutex_unlock(&e->mu);
	pthread_rwlock_rdlock(&r->cancel_lock);
	int rc = 0;
	if (!atomic_load(&r->cancelled) && !atomic_load(&e->closing)) {
		evbuf b = {.n = 0};
		wf_event *ev = ev_add(&b, WF_EV_WORKFLOW_OUTPUT);
		ev_text(ev, r->id);
		ev_json(ev, out);
		ev = ev_add(&b, WF_EV_STATUS_CHANGED);
		ev_text(ev, r->id);
		ev_text(ev, "SUCCESSFUL");
		ev_text(ev, "run");
		rc = journal_apply(e, &b); /* returns with mu held */
		char *state = NULL;
		if (rc == 0 && r->actor_resume) {
			w = wf_fold_get(e->fold, r->id);
			if (!w || !(state = cJSON_PrintUnformatted(w->actor_state)))
				rc = WF_ENOMEM;
		}
		run_finish(e, r, rc, rc == 0 ? (state ? state : out) : NULL,
		           rc == 0 ? NULL : rc == WF_ENOMEM ? "out of memory"
		                                            : tls_err);
		free(state);
	} else {
		pthread_mutex_lock(&e->mu);
	}
	pthread_rwlock_unlock(&r->cancel_lock);
	r->finishing = 0;
	free(out);
	run_put(r);
}

/* ---- DAGs to JSON, with step ids ---- */

typedef struct idctx {
	const wf_fwf *w; /* NULL for a new workflow */
	wf_map extra;    /* base name -> ids assigned here (intptr_t) */
} idctx;

static int assign(idctx *c, wf_node *n, char *buf, size_t len)
{
	intptr_t x = (intptr_t)wf_map_get(&c->extra, n->name);
	if (c->w) {
		wf_fold_next_id(c->w, n->name, (int)x, buf, len);
	} else if (x == 0) {
		snprintf(buf, len, "%s", n->name);
	} else {
		snprintf(buf, len, "%s_%" PRIdPTR, n->name, x);
	}
	free(n->id);
	if (!(n->id = strdup(buf)))
		return WF_ENOMEM;
	return wf_map_put(&c->extra, n->name, (void *)(x + 1));
}

/* The DAG rooted at root as journal JSON, ids breadth-first from root. */
static char *dag_json(const wf_fwf *w, wf_node *root)
{
	idctx c = {w, {0}};
	size_t cap = 16, n = 0, head = 0;
	wf_node **q = malloc(cap * sizeof *q);
	cJSON *dag = cJSON_CreateObject();
	cJSON *steps = dag ? cJSON_AddArrayToObject(dag, "steps") : NULL;
	char *text = NULL, buf[600];
	int rc = q && steps ? 0 : WF_ENOMEM;
	if (!rc)
		q[n++] = root;
	while (!rc && head < n) {
		wf_node *x = q[head++];
		if ((rc = assign(&c, x, buf, sizeof buf)) < 0)
			break;
		for (size_t i = 0; i < x->nargs && !rc; i++) {
			if (!x->args[i].child)
				continue;
			if (n == cap) {
				wf_node **p = realloc(q, cap * 2 * sizeof *q);
				if (!p) {
					rc = WF_ENOMEM;
					break;
				}
				q = p;
				cap *= 2;
			}
			q[n++] = x->args[i].child;
		}
	}
	for (size_t k = 0; k < n && !rc; k++) {
		wf_node *x = q[k];
		/* Defaults are left out (the fold restores them): the DAG is
		 * read back at every open, so its size is replay time. */
		cJSON *s = cJSON_CreateObject(), *opt = NULL, *args, *md = NULL;
		int method = x->step && x->step->cls;
		int def_opts = !method && x->max_retries == 3 &&
		               !x->catch_exceptions && x->checkpoint;
		int def_md = strcmp(x->metadata, "{}") == 0;
		if (!s || !cJSON_AddItemToArray(steps, s) ||
		    !cJSON_AddStringToObject(s, "id", x->id) ||
		    (strcmp(x->fn, x->name) != 0 &&
		     !cJSON_AddStringToObject(s, "fn", x->fn)) ||
		    !cJSON_AddStringToObject(s, "name", x->name) ||
		    (!def_opts &&
		     (!(opt = cJSON_AddObjectToObject(s, "options")) ||
		      !cJSON_AddNumberToObject(opt, "max_retries",
		                               x->max_retries) ||
		      !cJSON_AddBoolToObject(opt, "catch_exceptions",
		                             x->catch_exceptions) ||
		      !cJSON_AddBoolToObject(opt, "checkpoint", x->checkpoint) ||
		      (method && !cJSON_AddStringToObject(opt, "step_type",
		                                          "ACTOR_METHOD")))) ||
		    (!def_md && (!(md = cJSON_Parse(x->metadata)) ||
		                 !cJSON_AddItemToObject(s, "user_metadata", md))) ||
		    !(args = cJSON_AddArrayToObject(s, "args"))) {
			/* md, if parsed but not added (its key's copy failed) */
			if (md && !cJSON_GetObjectItemCaseSensitive(s, "user_metadata"))
				cJSON_Delete(md);
			rc = WF_ENOMEM;
			break;
		}
		for (size_t i = 0; i < x->nargs && !rc; i++) {
			cJSON *a = cJSON_CreateObject();
			if (!a || !cJSON_AddItemToArray(args, a))
				rc = WF_ENOMEM;
			else if (x->args[i].child)
				rc = cJSON_AddStringToObject(a, "step",
				                             x->args[i].child->id)
				         ? 0
				         : WF_ENOMEM;
			else {
				cJSON *v = cJSON_Duplicate(x->args[i].value, 1);
				if (!v || !cJSON_AddItemToObject(a, "value", v)) {
					cJSON_Delete(v); /* not added */
					rc = WF_ENOMEM;
				}
			}
		}
	}
	if (!rc && cJSON_AddStringToObject(dag, "output", root->id))
		text = cJSON_PrintUnformatted(dag);
	cJSON_Delete(dag);
	free(q);
	wf_map_free(&c.extra);
	if (!text)
		seterr("out of memory");
	return text;
}

/* ---- workers ---- */

static void engine_put(wf_engine *e);

/* Gather a task's arguments as a JSON array. Holds mu. */
static cJSON *task_args(wf_run_t *r, const wf_fwf *w, const wf_fstep *s)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < s->nargs; i++) {
		cJSON *v;
		if (s->args[i].step) {
			const char *t = step_value(r, w, s->args[i].step, 0);
			v = cJSON_Parse(t ? t : "null");
		} else {
			v = cJSON_Parse(s->args[i].value);
		}
		if (!v || !cJSON_AddItemToArray(arr, v)) {
			cJSON_Delete(v);
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

/* 1 if step id is done in r, or is done_id. Holds mu. */
static int done_or(wf_run_t *r, const wf_fwf *w, const char *id,
                   const char *done_id)
{
	if (strcmp(id, done_id) == 0)
		return 1;
	const wf_fstep *s = wf_fold_step(w, id);
	if (!s || wf_map_get(&r->pending, id))
		return 0;
	if (s->cont && s->state == WF_FSTEP_SUCCEEDED)
		return step_value(r, w, id, 0) != NULL;
	return wf_map_get(&r->mem, id) || (s->has_output && !s->cont);
}

/*
 * A step that the success of done_id makes ready, for the same worker to
 * run next: its start is journaled in the same commit as done_id's end
 * (one write per step of a chain instead of two, and no hand-over to
 * another thread). Holds mu. @return the step, or NULL.
 */
static const wf_fstep *chain_next(wf_engine *e, wf_run_t *r, const char *done_id)
{
	const wf_fwf *w = wf_fold_get(e->fold, r->id);
	/* An actor call takes no step outputs as arguments: nothing waits
	 * for its steps but its continuations (and an actor's workflow grows
	 * a step per call: no scan of them all per call). */
	if (!w || r->actor || !r->active || r->finishing ||
	    atomic_load(&r->cancelled))
		return NULL;
	for (size_t i = 0; i < w->nsteps; i++) {
		const wf_fstep *s = w->order[i];
		int uses = 0, ready = 1;
		if (s->cont || s->has_output || wf_map_get(&r->mem, s->id) ||
		    wf_map_get(&r->running, s->id) ||
		    wf_map_get(&r->pending, s->id) ||
		    !wf_map_get(&e->steps, s->fn))
			continue;
		for (size_t k = 0; k < s->nargs && ready; k++) {
			if (!s->args[k].step)
				continue;
			if (strcmp(s->args[k].step, done_id) == 0)
				uses = 1;
			else if (!done_or(r, w, s->args[k].step, done_id))
				ready = 0;
		}
		if (uses && ready)
			return s;
	}
	return NULL;
}

/*
 * Act on a try's journaled outcome: retry, fail the workflow, or keep the
 * output and start what it makes ready. Holds mu. Takes a->outtext when it
 * keeps it in run->mem (sets it to NULL). @return the task of a step
 * started in the same commit (to be run next), or NULL.
 */
static wf_task *after_act(wf_engine *e, wf_after *a)
{
	wf_run_t *r = a->run;
	wf_task *chain = NULL;
	wf_map_del(&r->running, a->step);
	wf_map_del(&r->pending, a->step);
	if (a->rc < 0) {
		run_finish(e, r, a->rc, NULL, tls_err);
	} else if (a->retry) {
		enqueue(e, r, a->step, a->try_n + 1);
	} else if (a->failed_wf) {
		char msg[800];
		snprintf(msg, sizeof msg, "workflow %s failed: step %s: %s", r->id,
		         a->step, a->err);
		run_finish(e, r, WF_EFAILED, NULL, msg);
	} else if (a->finished) {
		/* The workflow's end was in the step's commit (and is synced,
		 * when durability asks for it, before this runs). */
		char *state = NULL;
		const wf_fwf *w = r->actor_resume ? wf_fold_get(e->fold, r->id)
		                                  : NULL;
		if (w && !(state = cJSON_PrintUnformatted(w->actor_state)))
			run_finish(e, r, WF_ENOMEM, NULL, "out of memory");
		else
			run_finish(e, r, 0, state ? state : a->outtext, NULL);
		free(state);
	} else {
		if (a->outtext) {
			char *prev = wf_map_get(&r->mem, a->step);
			if (wf_map_put(&r->mem, a->step, a->outtext) == 0) {
				free(prev);
				a->outtext = NULL;
			}
		}
		wf_task *c = a->next ? calloc(1, sizeof *c) : NULL;
		if (c && (c->step = strdup(a->next)) &&
		    wf_map_put(&r->running, a->next, (void *)1) == 0) {
			c->run = r;
			c->try_n = 1;
			c->started = 1;
			r->refs++;
			r->in_flight++;
			chain = c;
		} else if (c) {
			/* Out of memory: the step is journaled as started; the
			 * scheduler runs it (its start is journaled again). */
			free(c->step);
			free(c);
		}
		schedule(e, r);
	}
	return chain;
}

static void after_free(wf_after *a)
{
	free(a->outtext);
	free(a->step);
	free(a->err);
	free(a->next);
	free(a);
}

/*
 * Sync the results written since the last flush, then act on them. Called
 * by a worker (or a waiting wf_run caller) that has nothing else to run:
 * every thread that finished a step meanwhile has added its result, and
 * they all share this one fsync (the journal groups concurrent syncs
 * too). Holds mu; releases it during the sync.
 */
static void after_flush(wf_engine *e)
{
	wf_after *list = e->after;
	e->after = NULL;
	if (!list)
		return;
	pthread_mutex_unlock(&e->mu);
	int rc = wf_journal_sync(e->j) < 0 ? WF_EIO : 0;
	if (rc < 0) { /* after_act answers the runs with this thread's
	                 message */
		char jm[512];
		wf_journal_errmsg_copy(e->j, jm, sizeof jm);
		seterr("%s", jm);
	}
	pthread_mutex_lock(&e->mu);
	/* The list is newest first: act oldest first. */
	wf_after *rev = NULL;
	while (list) {
		wf_after *n = list->next_after;
		list->next_after = rev;
		rev = list;
		list = n;
	}
	for (wf_after *a = rev; a;) {
		wf_after *n = a->next_after;
		if (rc < 0)
			a->rc = rc;
		wf_task *c = after_act(e, a);
		if (c) {
			/* Queue it with its start already journaled. */
			c->next = NULL;
			if (e->qtail)
				e->qtail->next = c;
			else
				e->qhead = c;
			e->qtail = c;
			pthread_cond_signal(&e->task_cv);
		}
		wf_run_t *r = a->run;
		r->in_flight--;
		run_release(e, r);
		run_put(r);
		after_free(a);
		a = n;
	}
}

/*
 * Does the success of step sid end run r: is sid the step that the
 * workflow's output step resolves to (through the continuations that
 * already succeeded)? Then its commit carries the workflow's output and
 * SUCCESSFUL too: one write instead of two. Holds mu.
 */
static int finishes_run(wf_engine *e, wf_run_t *r, const char *sid)
{
	const wf_fwf *w = wf_fold_get(e->fold, r->id);
	if (!w || !w->output_step || !r->active || r->finishing ||
	    atomic_load(&r->cancelled))
		return 0;
	const wf_fstep *x = wf_fold_step(w, w->output_step);
	for (int depth = 0; x && depth < 100000; depth++) {
		if (!x->cont || x->state != WF_FSTEP_SUCCEEDED)
			return strcmp(x->id, sid) == 0;
		x = wf_fold_step(w, x->cont);
	}
	return 0;
}

/* The JSON Patch text that turns committed into state, or NULL in *patch
 * if nothing changed. @return 0 or WF_ENOMEM. */
static int state_change(const cJSON *committed, const cJSON *state,
                        char **patch)
{
	*patch = NULL;
	cJSON *ops = cJSON_CreateArray();
	int rc = ops ? wf_jdiff(committed, state, ops) : WF_ENOMEM;
	if (rc == 0 && ops->child && !(*patch = cJSON_PrintUnformatted(ops)))
		rc = WF_ENOMEM;
	cJSON_Delete(ops);
	return rc;
}

/* Journal the outcome of a try. Holds mu on entry and exit. If a step is
 * started in the same commit, *chain gets its task (to run next). */
static void task_result(wf_engine *e, wf_task *t, const wf_fstep *s0,
                        int frc, cJSON *out, wf_ctx *ctx, wf_task **chain)
{
	wf_run_t *r = t->run;
	char *sid = t->step;
	int max_retries = s0->max_retries, catch_ex = s0->catch_exceptions;
	int checkpoint = s0->checkpoint;
	const wf_fwf *w0 = ctx->state ? wf_fold_get(e->fold, r->id) : NULL;
	const cJSON *committed = w0 ? w0->actor_state : NULL;
	/* Only a plain success can start the next step in its commit, or
	 * end the workflow in it. */
	char next[600] = "";
	int finishes = 0;
	if (frc == 0 && !ctx->cont && !catch_ex) {
		const wf_fstep *n = chain_next(e, r, sid);
		if (n)
			snprintf(next, sizeof next, "%s", n->id);
		else
			finishes = finishes_run(e, r, sid);
	}
	pthread_mutex_unlock(&e->mu);

	pthread_rwlock_rdlock(&r->cancel_lock);
	evbuf b = {.n = 0};
	wf_event *ev;
	char *outtext = NULL, *dag = NULL;
	int retry = 0, failed_wf = 0, dag_locked = 0;
	char err[600] = ""; /* (a success's wf_after copies it too) */
	if (atomic_load(&r->cancelled) || atomic_load(&e->closing)) {
		/* Nothing a cancelled step produces is recorded. */
		pthread_rwlock_unlock(&r->cancel_lock);
		pthread_mutex_lock(&e->mu);
		wf_node_free(ctx->cont);
		return;
	}
	char *patch = NULL;
	const char *bad;
	if (frc == 0 && committed && (bad = json_problem(ctx->state)))
		frc = wf_ctx_fail(ctx, "the method left an actor state that %s",
		                  bad);
	if (frc == 0 && !ctx->cont && (bad = json_problem(out)))
		frc = wf_ctx_fail(ctx, "the step's output %s", bad);
	if (frc == 0 && committed &&
	    (frc = state_change(committed, ctx->state, &patch)) < 0)
		snprintf(err, sizeof err, "out of memory diffing the state");
	if (patch) {
		ev = ev_add(&b, WF_EV_ACTOR_STATE);
		ev_text(ev, r->id);
		ev_text(ev, sid);
		ev_json(ev, patch);
	}
	if (frc == 0 && ctx->cont) {
		pthread_mutex_lock(&r->dag_mu);
		dag_locked = 1;
		pthread_mutex_lock(&e->mu);
		dag = dag_json(wf_fold_get(e->fold, r->id), ctx->cont);
		pthread_mutex_unlock(&e->mu);
		if (!dag) {
			frc = WF_ENOMEM;
			snprintf(err, sizeof err, "out of memory building a "
			         "continuation");
		} else {
			ev = ev_add(&b, WF_EV_CONTINUATION);
			ev_text(ev, r->id);
			ev_text(ev, sid);
			ev_json(ev, dag);
			ev = ev_add(&b, WF_EV_STEP_SUCCEEDED);
			ev_text(ev, r->id);
			ev_text(ev, sid);
			ev_u(ev, (uint64_t)t->try_n);
		}
	} else if (frc == 0) {
		char *o = out ? cJSON_PrintUnformatted(out) : strdup("null");
		if (o && catch_ex) {
			size_t n = strlen(o) + 16;
			outtext = malloc(n);
			if (outtext)
				snprintf(outtext, n, "[%s, null]", o);
			free(o);
		} else {
			outtext = o;
		}
		if (!outtext) {
			frc = WF_ENOMEM;
			snprintf(err, sizeof err, "out of memory");
		} else {
			ev = ev_add(&b, WF_EV_STEP_SUCCEEDED);
			ev_text(ev, r->id);
			ev_text(ev, sid);
			ev_u(ev, (uint64_t)t->try_n);
			if (checkpoint)
				ev_json(ev, outtext);
			if (next[0]) {
				ev = ev_add(&b, WF_EV_STEP_STARTED);
				ev_text(ev, r->id);
				ev_text(ev, next);
				ev_u(ev, 1);
			}
			if (finishes) {
				ev = ev_add(&b, WF_EV_WORKFLOW_OUTPUT);
				ev_text(ev, r->id);
				ev_json(ev, outtext);
				ev = ev_add(&b, WF_EV_STATUS_CHANGED);
				ev_text(ev, r->id);
				ev_text(ev, "SUCCESSFUL");
				ev_text(ev, "run");
			}
		}
	}
	if (frc != 0) {
		next[0] = '\0';
		finishes = 0;
		if (b.n == 0 || frc == WF_ENOMEM) {
			b.n = 0;
			if (ctx->error)
				snprintf(err, sizeof err, "%s", ctx->error);
			else if (ctx->error_lost)
				snprintf(err, sizeof err, "the step failed; its message "
				         "was lost (out of memory)");
			else if (frc != WF_ENOMEM || !err[0])
				snprintf(err, sizeof err, "step returned %d (%s)", frc,
				         wf_strerror(frc));
		}
		ev = ev_add(&b, WF_EV_STEP_FAILED);
		ev_text(ev, r->id);
		ev_text(ev, sid);
		ev_u(ev, (uint64_t)t->try_n);
		ev_text(ev, err);
		if (max_retries < 0 || t->try_n <= max_retries) {
			retry = 1;
		} else if (catch_ex) {
			cJSON *pair = cJSON_CreateArray();
			cJSON_AddItemToArray(pair, cJSON_CreateNull());
			cJSON_AddItemToArray(pair, cJSON_CreateString(err));
			outtext = cJSON_PrintUnformatted(pair);
			cJSON_Delete(pair);
			if (!outtext)
				outtext = strdup("[null, \"out of memory\"]");
			ev = ev_add(&b, WF_EV_STEP_SUCCEEDED);
			ev_text(ev, r->id);
			ev_text(ev, sid);
			ev_u(ev, (uint64_t)t->try_n);
			if (checkpoint && outtext)
				ev_json(ev, outtext);
		} else {
			failed_wf = 1;
			ev = ev_add(&b, WF_EV_STATUS_CHANGED);
			ev_text(ev, r->id);
			ev_text(ev, "FAILED");
			ev_text(ev, "step failed");
		}
	}
	/* One result ends a run, and none is recorded after it: parallel
	 * branches that fail together would each journal FAILED, and a
	 * branch finishing after the failure would record into a finished
	 * workflow. */
	pthread_mutex_lock(&e->mu);
	int ended = !r->active || r->ending;
	if (!ended && (failed_wf || finishes))
		r->ending = 1;
	pthread_mutex_unlock(&e->mu);
	if (ended) {
		if (dag_locked)
			pthread_mutex_unlock(&r->dag_mu);
		pthread_rwlock_unlock(&r->cancel_lock);
		free(outtext);
		free(dag);
		free(patch);
		pthread_mutex_lock(&e->mu);
		wf_node_free(ctx->cont);
		return;
	}
	/* With durability always, the result is written now and synced with
	 * the results of the other steps that finish meanwhile (one fsync for
	 * all: see after_flush); what it starts waits for that fsync. */
	int defer = e->cfg.durability == WF_SYNC_ALWAYS && !failed_wf;
	int rc = journal_apply_flags(e, &b, defer ? WF_COMMIT_NOSYNC : 0);
	if (dag_locked)
		pthread_mutex_unlock(&r->dag_mu);
	pthread_rwlock_unlock(&r->cancel_lock);
	wf_after a = {r, sid, t->try_n, rc, retry, failed_wf, finishes, err,
	              ctx->cont ? NULL : outtext, next[0] ? next : NULL, NULL};
	wf_after *d = NULL;
	if (defer && rc == 0 && (d = malloc(sizeof *d))) {
		*d = a;
		d->step = strdup(sid);
		d->err = strdup(err);
		d->outtext = a.outtext;
		d->next = a.next ? strdup(a.next) : NULL;
		if (!d->step || !d->err || (a.next && !d->next) ||
		    wf_map_put(&r->pending, d->step, (void *)1) < 0) {
			free(d->step);
			free(d->err);
			free(d->next);
			free(d);
			d = NULL;
		}
	}
	if (d) {
		r->refs++;
		r->in_flight++;
		d->next_after = e->after;
		e->after = d;
		outtext = NULL; /* d keeps it */
	} else {
		if (defer && rc == 0 && wf_journal_sync(e->j) < 0) {
			/* Not durable: the result must not be acted on. */
			char jm[512];
			wf_journal_errmsg_copy(e->j, jm, sizeof jm);
			seterr("%s", jm);
			a.rc = rc = WF_EIO;
		}
		*chain = after_act(e, &a);
		if (outtext && !ctx->cont && !a.outtext)
			outtext = NULL; /* kept in run->mem */
	}
	free(outtext);
	free(dag);
	free(patch);
	wf_node_free(ctx->cont);
}

static void run_task(wf_engine *e, wf_task *t, wf_task **chain)
{
	wf_run_t *r = t->run;
	const wf_fwf *w = wf_fold_get(e->fold, r->id);
	const wf_fstep *s = w ? wf_fold_step(w, t->step) : NULL;
	wf_step *fn = s ? wf_map_get(&e->steps, s->fn) : NULL;
	if (!r->active || atomic_load(&r->cancelled) || !s) {
		wf_map_del(&r->running, t->step);
		return;
	}
	if (!fn) {
		char msg[600];
		snprintf(msg, sizeof msg, "step %s of workflow %s needs function "
		         "%s, which is not defined in this process", s->id, r->id,
		         s->fn);
		run_finish(e, r, WF_ENOTFOUND, NULL, msg);
		return;
	}
	/* Copy what the try needs: the fold may change while we run. */
	wf_fstep copy = *s;
	cJSON *args = task_args(r, w, s);
	/* An actor's method works on a copy of the committed state. Only one
	 * step of an actor runs at a time (calls are serialized, a nested
	 * call is a single call), and only that step's result changes the
	 * committed state: it can be copied without the lock. */
	const cJSON *committed = r->actor && fn->cls ? w->actor_state : NULL;
	pthread_mutex_unlock(&e->mu);
	cJSON *state = NULL;
	if (committed && args && !(state = cJSON_Duplicate(committed, 1))) {
		cJSON_Delete(args);
		args = NULL;
	}

	evbuf b = {.n = 0};
	wf_event *ev = ev_add(&b, WF_EV_STEP_STARTED);
	ev_text(ev, r->id);
	ev_text(ev, t->step);
	ev_u(ev, (uint64_t)t->try_n);
	pthread_rwlock_rdlock(&r->cancel_lock);
	int rc = args ? 0 : WF_ENOMEM;
	if (rc < 0)
		seterr("out of memory preparing step %s of workflow %s", t->step,
		       r->id);
	if (rc == 0 && (atomic_load(&r->cancelled) || atomic_load(&e->closing)))
		rc = WF_ECANCELED;
	if (rc == 0 && !t->started) {
		/* Not synced on its own: a start lost in a machine crash only
		 * means the step runs again, and the step's end (synced) makes
		 * it durable, being later in the journal. */
		rc = journal_apply_flags(e, &b, WF_COMMIT_NOSYNC);
		pthread_mutex_unlock(&e->mu);
	}
	pthread_rwlock_unlock(&r->cancel_lock);
	if (rc < 0) {
		cJSON_Delete(args);
		cJSON_Delete(state);
		pthread_mutex_lock(&e->mu);
		wf_map_del(&r->running, t->step);
		if (rc != WF_ECANCELED)
			run_finish(e, r, rc, NULL, tls_err);
		return;
	}
	wf_ctx ctx = {e, r, t->step, t->try_n, NULL, NULL, r->id, fn->cls, state,
	              0, 0};
	cJSON *out = NULL;
	pthread_mutex_lock(&e->mu);
	e->in_user++;
	pthread_mutex_unlock(&e->mu);
	int frc = wf_isolate_wanted(e, fn)
	              ? wf_isolate_call(&ctx, fn, args, &out)
	              : fn->fn(&ctx, args, fn->udata, &out);
	pthread_mutex_lock(&e->mu);
	e->in_user--;
	cJSON_Delete(args);
	if (frc != 0 && ctx.cont) {
		wf_node_free(ctx.cont);
		ctx.cont = NULL;
	}
	/* The fold's step may have moved (map growth): look it up again. */
	w = wf_fold_get(e->fold, r->id);
	s = w ? wf_fold_step(w, t->step) : NULL;
	if (s && !atomic_load(&e->closing))
		task_result(e, t, s, frc, out, &ctx, chain);
	else
		wf_node_free(ctx.cont);
	(void)copy;
	json_delete(out); /* (the step's: may be nested too deep) */
	json_delete(ctx.state);
	free(ctx.error);
}

/* Run t, then the steps each one starts for this thread. Holds mu. */
static void run_chain(wf_engine *e, wf_task *t)
{
	while (t) {
		wf_task *chain = NULL;
		run_task(e, t, &chain); /* mu held on entry and exit */
		wf_run_t *r = t->run;
		r->in_flight--;
		run_release(e, r);
		run_put(r);
		free(t->step);
		free(t);
		t = chain;
		if (t && atomic_load(&e->closing)) {
			/* Not run: hand it back for the engine to free. */
			t->next = e->qhead;
			e->qhead = t;
			if (!e->qtail)
				e->qtail = t;
			t = NULL;
		}
	}
}

/* Unlink the first queued task of run r, or NULL. Holds mu. */
static wf_task *take_task_of(wf_engine *e, wf_run_t *r)
{
	wf_task *prev = NULL;
	for (wf_task *t = e->qhead; t; prev = t, t = t->next) {
		if (t->run != r)
			continue;
		if (prev)
			prev->next = t->next;
		else
			e->qhead = t->next;
		if (e->qtail == t)
			e->qtail = prev;
		t->next = NULL;
		return t;
	}
	return NULL;
}

/*
 * The thread that waits in wf_run (or wf_resume) runs its workflow's
 * steps itself while it waits, as a worker would: a sequential workflow
 * then runs without a single hand-over between threads (on these
 * machines a wake-up costs more than a no-op step). Workers still take
 * what it does not get to (parallel branches).
 */
static void help_run(wf_engine *e, const char *id)
{
	pthread_mutex_lock(&e->mu);
	wf_run_t *r = wf_map_get(&e->runs, id);
	if (!r || !r->active) {
		pthread_mutex_unlock(&e->mu);
		return;
	}
	r->refs++;
	int was_worker = tls_worker;
	tls_worker = 1;
	while (r->active && !atomic_load(&e->closing)) {
		wf_task *t = take_task_of(e, r);
		if (t) {
			tls_kept = 0;
			run_chain(e, t);
			continue;
		}
		if (e->after) {
			after_flush(e);
			continue;
		}
		r->helpers_waiting++;
		pthread_cond_wait(&r->help_cv, &e->mu);
		r->helpers_waiting--;
	}
	tls_worker = was_worker;
	tls_kept = 0;
	run_put(r);
	pthread_mutex_unlock(&e->mu);
}

static void call_start(wf_engine *e, wf_qcall *c);

static void *worker(void *arg)
{
	wf_engine *e = arg;
	tls_worker = 1;
	pthread_mutex_lock(&e->mu);
	for (;;) {
		tls_kept = 0;
		while (!e->qhead && !atomic_load(&e->closing)) {
			if (e->after) {
				after_flush(e);
				continue;
			}
			pthread_cond_wait(&e->task_cv, &e->mu);
		}
		if (atomic_load(&e->closing))
			break;
		wf_task *t = e->qhead;
		e->qhead = t->next;
		if (!e->qhead)
			e->qtail = NULL;
		if (t->call) {
			/* An actor's queued call, whose turn has come. */
			wf_qcall *c = t->call;
			free(t);
			pthread_mutex_unlock(&e->mu);
			call_start(e, c);
			pthread_mutex_lock(&e->mu);
			continue;
		}
		run_chain(e, t);
	}
	e->alive--;
	pthread_cond_broadcast(&e->idle_cv);
	pthread_mutex_unlock(&e->mu);
	engine_put(e);
	return NULL;
}

/* ---- the context ---- */

int wf_ctx_fail(wf_ctx *ctx, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	free(ctx->error);
	ctx->error = strdup(buf);
	ctx->error_lost = !ctx->error;
	return WF_EFAILED;
}

static int method_call_ok(const wf_actor_class *cls, const wf_node *n,
                          char *why, size_t len);

int wf_ctx_continue(wf_ctx *ctx, wf_node *node)
{
	if (!node)
		return wf_ctx_fail(ctx, "wf_ctx_continue: no node");
	if (ctx->readonly) {
		wf_node_free(node);
		wf_ctx_fail(ctx, "a readonly method cannot return a nested call");
		return WF_EINVAL;
	}
	char why[400];
	if (ctx->cls && !method_call_ok(ctx->cls, node, why, sizeof why)) {
		wf_node_free(node);
		wf_ctx_fail(ctx, "nested call: %s", why);
		return WF_EINVAL;
	}
	wf_node_free(ctx->cont);
	ctx->cont = node;
	return 0;
}

int wf_ctx_cancelled(wf_ctx *ctx)
{
	return (ctx->run && atomic_load(&ctx->run->cancelled)) ||
	       atomic_load(&ctx->e->closing);
}

cJSON *wf_ctx_state(wf_ctx *ctx)
{
	return ctx && ctx->cls ? ctx->state : NULL;
}

int wf_ctx_set_state(wf_ctx *ctx, cJSON *state)
{
	if (!ctx || !ctx->cls) {
		json_delete(state);
		return WF_EINVAL;
	}
	if (!state && !(state = cJSON_CreateNull()))
		return WF_ENOMEM;
	json_delete(ctx->state);
	ctx->state = state;
	return 0;
}

int wf_ctx_sleep(wf_ctx *ctx, double seconds)
{
	if (wf_isolate_in_child())
		return wf_isolate_sleep(seconds);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + seconds;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	wf_engine *e = ctx->e;
	pthread_mutex_lock(&e->mu);
	int rc = 0;
	/* A readonly call has no run: it waits on the task queue's condition
	 * variable, which wf_close broadcasts too. */
	pthread_cond_t *cv = ctx->run ? &ctx->run->cancel_cv : &e->task_cv;
	while (!wf_ctx_cancelled(ctx)) {
		if (pthread_cond_timedwait(cv, &e->mu, &ts) == ETIMEDOUT)
			break;
	}
	if (wf_ctx_cancelled(ctx))
		rc = WF_ECANCELED;
	pthread_mutex_unlock(&e->mu);
	return rc;
}

const char *wf_ctx_workflow_id(const wf_ctx *ctx)
{
	return ctx->run ? ctx->run->id : ctx->wid;
}

const char *wf_ctx_step_id(const wf_ctx *ctx)
{
	return ctx->step;
}

int wf_ctx_attempt(const wf_ctx *ctx)
{
	return ctx->try_n;
}

/* ---- steps and nodes ---- */

static int opt_int(int v, int dflt)
{
	return v == WF_UNSET ? dflt : v;
}

int wf_step_define(wf_engine *e, const char *name, wf_step_fn fn,
                   void *udata, const wf_step_options *defaults,
                   wf_step **out)
{
	if (out)
		*out = NULL;
	int rc;
	if (!e || !fn) {
		seterr("wf_step_define: no engine or no function");
		return WF_EINVAL;
	}
	if ((rc = check_id("step name", name)) < 0)
		return rc;
	wf_step_options dv;
	if (defaults && wf_step_options_load(&dv, defaults) < 0) {
		seterr("wf_step_options version %u unknown", defaults->version);
		return WF_EINVAL;
	}
	if (defaults)
		defaults = &dv;
	if (defaults && defaults->name &&
	    (rc = check_id("step name (options)", defaults->name)) < 0)
		return rc;
	char *md = NULL;
	if (defaults &&
	    (rc = metadata_text(e, defaults->metadata, name, &md)) < 0)
		return rc;
	wf_step *s = calloc(1, sizeof *s);
	if (!s || !(s->name = strdup(name)) ||
	    (defaults && defaults->name && !(s->opt_name = strdup(defaults->name)))) {
		if (s) {
			free(s->name);
			free(s);
		}
		free(md);
		seterr("out of memory");
		return WF_ENOMEM;
	}
	s->fn = fn;
	s->udata = udata;
	s->e = e;
	s->metadata = md;
	s->max_retries = defaults ? defaults->max_retries : WF_UNSET;
	s->catch_exceptions = defaults ? defaults->catch_exceptions : WF_UNSET;
	s->checkpoint = defaults ? defaults->checkpoint : WF_UNSET;
	s->isolate = defaults ? defaults->isolate : WF_UNSET;
	pthread_mutex_lock(&e->mu);
	wf_step *old = wf_map_get(&e->steps, name);
	if (old) {
		/* Replacing: keep the old object alive (nodes point at it) but
		 * give it the new function and defaults. */
		free(old->opt_name);
		free(old->metadata);
		old->fn = s->fn;
		old->udata = s->udata;
		old->opt_name = s->opt_name;
		old->metadata = s->metadata;
		old->max_retries = s->max_retries;
		old->catch_exceptions = s->catch_exceptions;
		old->checkpoint = s->checkpoint;
		old->isolate = s->isolate;
		free(s->name);
		free(s);
		s = old;
	} else if (wf_map_put(&e->steps, name, s) < 0) {
		pthread_mutex_unlock(&e->mu);
		free(s->name);
		free(s->opt_name);
		free(s->metadata);
		free(s);
		seterr("out of memory");
		return WF_ENOMEM;
	}
	pthread_mutex_unlock(&e->mu);
	if (out)
		*out = s;
	return 0;
}

wf_step *wf_step_find(wf_engine *e, const char *name)
{
	if (!e || !name)
		return NULL;
	pthread_mutex_lock(&e->mu);
	wf_step *s = wf_map_get(&e->steps, name);
	pthread_mutex_unlock(&e->mu);
	return s;
}

int wf_node_new(wf_node **out, wf_step *step, const wf_step_options *opts)
{
	*out = NULL;
	int rc;
	if (!step) {
		seterr("wf_node_new: no step");
		return WF_EINVAL;
	}
	wf_step_options ov;
	if (opts && wf_step_options_load(&ov, opts) < 0) {
		seterr("wf_step_options version %u unknown", opts->version);
		return WF_EINVAL;
	}
	if (opts && ov.isolate != WF_UNSET) {
		seterr("wf_node_new: isolate is set where step %s is "
		       "defined (wf_step_define), not per call: it is not "
		       "journaled, and a resume must run the step the same way",
		       step->name);
		return WF_EINVAL;
	}
	const char *name = opts && opts->name ? opts->name
	                   : step->opt_name   ? step->opt_name
	                                      : step->name;
	if ((rc = check_id("step name", name)) < 0)
		return rc;
	char *md = NULL;
	if (opts && (rc = metadata_text(step->e, opts->metadata, name, &md)) < 0)
		return rc;
	wf_node *n = calloc(1, sizeof *n);
	if (!md)
		md = strdup(step->metadata ? step->metadata : "{}");
	if (!n || !md || !(n->fn = strdup(step->name)) ||
	    !(n->name = strdup(name))) {
		if (n) {
			free(n->fn);
			free(n);
		}
		free(md);
		seterr("out of memory");
		return WF_ENOMEM;
	}
	n->metadata = md;
	n->step = step;
	n->max_retries = opt_int(opts ? opts->max_retries : WF_UNSET,
	                         opt_int(step->max_retries, 3));
	n->catch_exceptions =
	    opt_int(opts ? opts->catch_exceptions : WF_UNSET,
	            opt_int(step->catch_exceptions, 0)) != 0;
	n->checkpoint = opt_int(opts ? opts->checkpoint : WF_UNSET,
	                        opt_int(step->checkpoint, 1)) != 0;
	if (n->max_retries < -1) {
		wf_node_free(n);
		seterr("%s: max_retries must be >= -1", name);
		return WF_EINVAL;
	}
	*out = n;
	return 0;
}

static int node_push(wf_node *n, cJSON *value, wf_node *child)
{
	if (n->nargs == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 4;
		wf_node_arg_t *a = realloc(n->args, cap * sizeof *a);
		if (!a)
			return WF_ENOMEM;
		n->args = a;
		n->cap = cap;
	}
	n->args[n->nargs].value = value;
	n->args[n->nargs].child = child;
	n->nargs++;
	return 0;
}

int wf_node_arg(wf_node *n, const cJSON *value)
{
	if (!n || !value) {
		seterr("wf_node_arg: no node or no value");
		return WF_EINVAL;
	}
	const char *why = json_problem(value);
	if (why) {
		seterr("argument %s", why);
		return WF_EINVAL;
	}
	cJSON *v = cJSON_Duplicate(value, 1);
	if (!v || node_push(n, v, NULL) < 0) {
		cJSON_Delete(v);
		seterr("out of memory");
		return WF_ENOMEM;
	}
	return 0;
}

int wf_node_arg_json(wf_node *n, const char *json)
{
	const char *end = json;
	cJSON *v = json ? cJSON_ParseWithOpts(json, &end, 0) : NULL;
	if (!v && json && wf_json_valid(json, strlen(json))) {
		/* Valid JSON that cJSON could not parse: out of memory. */
		seterr("out of memory parsing an argument");
		return WF_ENOMEM;
	}
	if (!v) {
		/* (cJSON also stops at nesting deeper than 1000.) */
		seterr("argument is not JSON (error at byte %zu of %zu): %.80s",
		       json ? (size_t)(end - json) : 0, json ? strlen(json) : 0,
		       json ? json : "(null)");
		return WF_EINVAL;
	}
	int rc = wf_node_arg(n, v);
	cJSON_Delete(v);
	return rc;
}

int wf_node_arg_node(wf_node *n, wf_node *child)
{
	if (!n || !child || n == child) {
		wf_node_free(child == n ? NULL : child);
		seterr("wf_node_arg_node: no node or no child");
		return WF_EINVAL;
	}
	if (node_push(n, NULL, child) < 0) {
		wf_node_free(child);
		seterr("out of memory");
		return WF_ENOMEM;
	}
	return 0;
}

void wf_node_free(wf_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nargs; i++) {
		cJSON_Delete(n->args[i].value);
		wf_node_free(n->args[i].child);
	}
	free(n->args);
	free(n->fn);
	free(n->name);
	free(n->metadata);
	free(n->id);
	free(n);
}

/* ---- running ---- */

/* Answer a finished workflow from the fold. Holds mu. */
static int answer_finished(wf_engine *e, const wf_fwf *w, cJSON **output)
{
	wf_status st = wf_fold_wf_status(e->fold, w);
	if (w->actor_class && (st == WF_STATUS_SUCCESSFUL ||
	                       st == WF_STATUS_CANCELED)) {
		/* An actor that is not in a call: its output is its state. */
		if (output && !(*output = cJSON_Duplicate(w->actor_state, 1))) {
			seterr("out of memory");
			return WF_ENOMEM;
		}
		return 0;
	}
	if (st == WF_STATUS_SUCCESSFUL) {
		if (output && !(*output = cJSON_Parse(w->output ? w->output
		                                                : "null"))) {
			seterr("out of memory");
			return WF_ENOMEM;
		}
		return 0;
	}
	if (st == WF_STATUS_CANCELED) {
		seterr("workflow %s was cancelled; it cannot be resumed", w->id);
		return WF_ECANCELED;
	}
	if (st == WF_STATUS_FAILED) {
		/* Name the step that failed, and its last error. */
		const wf_fstep *bad = NULL;
		for (size_t i = 0; i < w->nsteps; i++)
			if (w->order[i]->state == WF_FSTEP_FAILED)
				bad = w->order[i];
		const wf_fattempt *a = bad && bad->natt ? &bad->att[bad->natt - 1]
		                                        : NULL;
		if (bad)
			seterr("workflow %s failed: step %s: %s", w->id, bad->id,
			       a && a->error ? a->error : "(no error text)");
		else
			seterr("workflow %s failed", w->id);
		return WF_EFAILED;
	}
	seterr("workflow %s is %s", w->id, wf_status_name(st));
	return WF_EIO;
}

/* Check that every step still to run has its function defined. Holds mu. */
static int check_functions(wf_engine *e, const wf_fwf *w)
{
	for (size_t i = 0; i < w->nsteps; i++) {
		const wf_fstep *s = w->order[i];
		if (s->has_output || s->cont)
			continue;
		if (!wf_map_get(&e->steps, s->fn)) {
			seterr("cannot resume workflow %s: step %s needs function %s, "
			       "which is not defined in this process (define it with "
			       "wf_step_define before resuming)", w->id, s->id, s->fn);
			return WF_ENOTFOUND;
		}
	}
	return 0;
}

static int actor_busy(wf_engine *e, const char *id);

/*
 * The folded workflow id, or NULL with *rc WF_ENOTFOUND ("No such
 * workflow_id"), or WF_ENOMEM or WF_ECORRUPT: it exists, but its folded
 * state could not be unpacked (then it must not be taken for missing:
 * a run would create it again). Sets the message. Holds mu.
 */
static const wf_fwf *find_wf(wf_engine *e, const char *id, int *rc)
{
	const wf_fwf *w;
	*rc = wf_fold_find(e->fold, id, &w);
	if (*rc == WF_ENOTFOUND)
		seterr("No such workflow_id %s", id);
	else if (*rc < 0)
		seterr("workflow %s: %s", id, *rc == WF_ENOMEM ?
		       "out of memory unpacking its folded state" :
		       "its folded state does not unpack");
	return w;
}

/*
 * Start a run of id: new (dag != NULL) or resumed. Takes dag. On success
 * *fut is the run's future. Caller does not hold mu.
 */
static int start(wf_engine *e, wf_node *dag, const char *id,
                 const cJSON *metadata, struct wf_future **fut,
                 cJSON **done_output)
{
	*fut = NULL;
	int rc;
	char *md = NULL;
	if ((rc = check_id("workflow id", id)) < 0 ||
	    (rc = metadata_text(e, metadata, id ? id : "", &md)) < 0) {
		wf_node_free(dag);
		return rc;
	}
	pthread_mutex_lock(&e->mu);
	if (atomic_load(&e->closing)) {
		pthread_mutex_unlock(&e->mu);
		wf_node_free(dag);
		free(md);
		seterr("engine is closing");
		return WF_ECLOSED;
	}
	wf_run_t *cur = wf_map_get(&e->runs, id);
	wf_actor_q *aq = wf_map_get(&e->actors, id);
	if ((cur && cur->active) || (aq && aq->busy) ||
	    wf_map_get(&e->creating, id)) {
		pthread_mutex_unlock(&e->mu);
		wf_node_free(dag);
		free(md);
		seterr("workflow %s is already running", id);
		return WF_EBUSY;
	}
	const wf_fwf *w = find_wf(e, id, &rc);
	if (!w && rc != WF_ENOTFOUND) {
		pthread_mutex_unlock(&e->mu);
		wf_node_free(dag);
		free(md);
		return rc;
	}
	if (w) {
		wf_status st = wf_fold_wf_status(e->fold, w);
		wf_node_free(dag);
		dag = NULL;
		free(md);
		md = NULL;
		if (st == WF_STATUS_SUCCESSFUL || st == WF_STATUS_CANCELED) {
			rc = answer_finished(e, w, done_output);
			pthread_mutex_unlock(&e->mu);
			return rc == 0 ? 1 : rc;
		}
		if ((rc = check_functions(e, w)) < 0) {
			pthread_mutex_unlock(&e->mu);
			return rc;
		}
	} else if (!dag) {
		pthread_mutex_unlock(&e->mu);
		seterr("No such workflow_id %s", id);
		return WF_ENOTFOUND;
	}
	/* Resuming an actor: its calls wait meanwhile. */
	int actor = w && w->actor_class;
	if (actor && actor_busy(e, id) < 0) {
		pthread_mutex_unlock(&e->mu);
		seterr("out of memory");
		return WF_ENOMEM;
	}
	wf_run_t *r = run_new(e, id);
	struct wf_future *f = r ? run_future(r) : NULL;
	if (r)
		r->actor = r->actor_resume = actor;
	if (!f) {
		if (r) {
			r->active = 0;
			run_release(e, r);
		}
		if (actor)
			actor_next(e, id);
		pthread_mutex_unlock(&e->mu);
		wf_node_free(dag);
		free(md);
		seterr("out of memory");
		return WF_ENOMEM;
	}
	r->attempt = w ? (int)w->natt + 1 : 1;
	char *dagtext = dag ? dag_json(NULL, dag) : NULL;
	wf_node_free(dag);
	pthread_mutex_unlock(&e->mu);
	if (!w && !dagtext) {
		pthread_mutex_lock(&e->mu);
		run_finish(e, r, WF_ENOMEM, NULL, "out of memory");
		pthread_mutex_unlock(&e->mu);
		free(md);
		*fut = f;
		return 0;
	}
	evbuf b = {.n = 0};
	wf_event *ev;
	if (!w) {
		ev = ev_add(&b, WF_EV_WORKFLOW_CREATED);
		ev_text(ev, id);
		ev_json(ev, md ? md : "{}");
		ev_json(ev, dagtext);
	}
	ev = ev_add(&b, WF_EV_ATTEMPT_STARTED);
	ev_text(ev, id);
	ev_u(ev, (uint64_t)r->attempt);
	ev_text(ev, w ? "resume" : "run");
	ev_text(ev, e->session);
	ev = ev_add(&b, WF_EV_STATUS_CHANGED);
	ev_text(ev, id);
	ev_text(ev, "RUNNING");
	ev_text(ev, w ? "resume" : "run");
	rc = journal_apply(e, &b); /* mu held after */
	free(dagtext);
	free(md);
	if (rc < 0) {
		/* Not started; a workflow_created that was not journaled must
		 * not leave a trace. */
		run_finish(e, r, rc, NULL, tls_err);
		pthread_mutex_unlock(&e->mu);
		future_put(f);
		return rc;
	}
	schedule(e, r);
	pthread_mutex_unlock(&e->mu);
	*fut = f;
	return 0;
}

int wf_future_wait(wf_future *f, cJSON **output)
{
	if (output)
		*output = NULL;
	if (!f)
		return WF_EINVAL;
	pthread_mutex_lock(&f->mu);
	while (!f->done)
		pthread_cond_wait(&f->cv, &f->mu);
	int rc = f->rc;
	if (rc == 0 && output &&
	    !(*output = cJSON_Parse(f->output ? f->output : "null")))
		rc = WF_ENOMEM;
	if (rc < 0)
		seterr("%s", f->errmsg     ? f->errmsg
		             : f->msgbuf[0] ? f->msgbuf
		                            : wf_strerror(rc));
	pthread_mutex_unlock(&f->mu);
	return rc;
}

void wf_future_free(wf_future *f)
{
	if (f)
		future_put(f);
}

/* A future that is already answered (finished workflows). */
static struct wf_future *future_ready(int rc, const cJSON *output)
{
	struct wf_future *f = future_new();
	if (!f)
		return NULL;
	char *o = output ? cJSON_PrintUnformatted(output) : NULL;
	future_done(f, rc, o, rc ? tls_err : NULL);
	free(o);
	return f;
}

static int run_async_common(wf_engine *e, wf_node *dag, const char *id,
                            const cJSON *md, wf_future **out)
{
	*out = NULL;
	if (!e) {
		wf_node_free(dag);
		return WF_EINVAL;
	}
	cJSON *done = NULL;
	struct wf_future *f;
	int rc = start(e, dag, id, md, &f, &done);
	if (rc == 1) {
		f = future_ready(0, done);
		cJSON_Delete(done);
		if (!f) {
			seterr("out of memory");
			return WF_ENOMEM;
		}
		rc = 0;
	}
	if (rc < 0)
		return rc;
	*out = f;
	return 0;
}

int wf_run_async(wf_engine *e, wf_node *dag, const char *id,
                 const cJSON *metadata, wf_future **out)
{
	if (!dag) {
		seterr("wf_run: no DAG");
		*out = NULL;
		return WF_EINVAL;
	}
	return run_async_common(e, dag, id, metadata, out);
}

int wf_run(wf_engine *e, wf_node *dag, const char *id, const cJSON *metadata,
           cJSON **output)
{
	if (output)
		*output = NULL;
	wf_future *f;
	/* The first step queued is for this thread (help_run): wake nobody. */
	int was_worker = tls_worker, was_kept = tls_kept;
	tls_worker = 1;
	tls_kept = 0;
	int rc = wf_run_async(e, dag, id, metadata, &f);
	tls_worker = was_worker;
	tls_kept = was_kept;
	if (rc < 0)
		return rc;
	help_run(e, id);
	rc = wf_future_wait(f, output);
	wf_future_free(f);
	return rc;
}

int wf_resume_async(wf_engine *e, const char *id, wf_future **out)
{
	return run_async_common(e, NULL, id, NULL, out);
}

int wf_resume(wf_engine *e, const char *id, cJSON **output)
{
	if (output)
		*output = NULL;
	wf_future *f;
	int was_worker = tls_worker, was_kept = tls_kept;
	tls_worker = 1;
	tls_kept = 0;
	int rc = wf_resume_async(e, id, &f);
	tls_worker = was_worker;
	tls_kept = was_kept;
	if (rc < 0)
		return rc;
	help_run(e, id);
	rc = wf_future_wait(f, output);
	wf_future_free(f);
	return rc;
}

int wf_resume_all(wf_engine *e, int include_failed, cJSON **ids,
                  size_t *count)
{
	if (ids)
		*ids = NULL;
	if (count)
		*count = 0;
	unsigned mask = WF_STATUS_BIT(WF_STATUS_RESUMABLE);
	if (include_failed)
		mask |= WF_STATUS_BIT(WF_STATUS_FAILED);
	cJSON *list;
	pthread_mutex_lock(&e->mu);
	int rc = wf_fold_list(e->fold, mask, &list);
	pthread_mutex_unlock(&e->mu);
	if (rc < 0) {
		seterr("out of memory");
		return rc;
	}
	cJSON *done = cJSON_CreateArray();
	size_t n = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, list)
	{
		const char *id = cJSON_GetObjectItemCaseSensitive(item,
		                                                  "workflow_id")
		                     ->valuestring;
		wf_future *f;
		if (wf_resume_async(e, id, &f) == 0) {
			wf_future_free(f); /* it runs on; nobody waits here */
			n++;
			if (done)
				cJSON_AddItemToArray(done, cJSON_CreateString(id));
		}
	}
	cJSON_Delete(list);
	if (count)
		*count = n;
	if (ids)
		*ids = done;
	else
		cJSON_Delete(done);
	return 0;
}

int wf_cancel(wf_engine *e, const char *id)
{
	int rc;
	if (!e || (rc = check_id("workflow id", id)) < 0)
		return e ? rc : WF_EINVAL;
	pthread_mutex_lock(&e->mu);
	const wf_fwf *w = find_wf(e, id, &rc);
	if (!w) {
		pthread_mutex_unlock(&e->mu);
		return rc;
	}
	wf_status st = wf_fold_wf_status(e->fold, w);
	if (st == WF_STATUS_SUCCESSFUL || st == WF_STATUS_CANCELED) {
		pthread_mutex_unlock(&e->mu);
		seterr("workflow %s is already %s", id, wf_status_name(st));
		return WF_EINVAL;
	}
	wf_run_t *r = wf_map_get(&e->runs, id);
	if (r)
		r->refs++;
	pthread_mutex_unlock(&e->mu);
	if (r) {
		pthread_rwlock_wrlock(&r->cancel_lock);
		/* Again, now that no result is being journaled (they hold the
		 * read lock): the run may have ended meanwhile. */
		pthread_mutex_lock(&e->mu);
		st = wf_fold_status(e->fold, id); /* (no thaw: no memory) */
		pthread_mutex_unlock(&e->mu);
		if (st == WF_STATUS_SUCCESSFUL || st == WF_STATUS_CANCELED ||
		    st == WF_STATUS_NONE) {
			pthread_rwlock_unlock(&r->cancel_lock);
			pthread_mutex_lock(&e->mu);
			run_put(r);
			pthread_mutex_unlock(&e->mu);
			if (st == WF_STATUS_NONE) {
				seterr("No such workflow_id %s", id);
				return WF_ENOTFOUND;
			}
			seterr("workflow %s is already %s", id, wf_status_name(st));
			return WF_EINVAL;
		}
		atomic_store(&r->cancelled, 1);
	}
	evbuf b = {.n = 0};
	wf_event *ev = ev_add(&b, WF_EV_STATUS_CHANGED);
	ev_text(ev, id);
	ev_text(ev, "CANCELED");
	ev_text(ev, "cancel");
	rc = journal_apply(e, &b); /* mu held after */
	if (r) {
		char msg[400];
		snprintf(msg, sizeof msg, "workflow %s was cancelled", id);
		run_finish(e, r, WF_ECANCELED, NULL, msg);
		pthread_cond_broadcast(&r->cancel_cv);
	}
	pthread_mutex_unlock(&e->mu);
	if (r) {
		pthread_rwlock_unlock(&r->cancel_lock);
		pthread_mutex_lock(&e->mu);
		run_put(r);
		pthread_mutex_unlock(&e->mu);
	}
	return rc;
}

int wf_delete(wf_engine *e, const char *id)
{
	int rc;
	if (!e || (rc = check_id("workflow id", id)) < 0)
		return e ? rc : WF_EINVAL;
	pthread_mutex_lock(&e->mu);
	if (!find_wf(e, id, &rc)) {
		pthread_mutex_unlock(&e->mu);
		return rc;
	}
	wf_run_t *r = wf_map_get(&e->runs, id);
	wf_actor_q *aq = wf_map_get(&e->actors, id);
	if ((r && r->active) || (aq && aq->busy)) {
		pthread_mutex_unlock(&e->mu);
		seterr("workflow %s is running; cancel it before deleting it", id);
		return WF_EBUSY;
	}
	/* Reserve the id while the deletion is journaled. */
	r = run_new(e, id);
	if (!r) {
		pthread_mutex_unlock(&e->mu);
		seterr("out of memory");
		return WF_ENOMEM;
	}
	pthread_mutex_unlock(&e->mu);
	evbuf b = {.n = 0};
	ev_text(ev_add(&b, WF_EV_WORKFLOW_DELETED), id);
	rc = journal_apply(e, &b); /* mu held after */
	r->active = 0;
	run_release(e, r);
	pthread_mutex_unlock(&e->mu);
	return rc;
}

int wf_get_metadata(wf_engine *e, const char *id, const char *step,
                    cJSON **out)
{
	*out = NULL;
	int rc;
	if (!e || (rc = check_id("workflow id", id)) < 0)
		return e ? rc : WF_EINVAL;
	char err[600];
	pthread_mutex_lock(&e->mu);
	rc = wf_fold_metadata(e->fold, id, step, out, err, sizeof err);
	pthread_mutex_unlock(&e->mu);
	if (rc < 0)
		seterr("%s", rc == WF_ENOMEM ? "out of memory" : err);
	return rc;
}

int wf_get_status(wf_engine *e, const char *id, wf_status *status)
{
	*status = WF_STATUS_NONE;
	int rc;
	if (!e || (rc = check_id("workflow id", id)) < 0)
		return e ? rc : WF_EINVAL;
	pthread_mutex_lock(&e->mu);
	*status = wf_fold_status(e->fold, id);
	/* None: unless the fold cannot tell (a lazily restored snapshot's
	 * block that could not be read nor rebuilt; out of memory). */
	const wf_fwf *w;
	char why[300] = "";
	rc = *status == WF_STATUS_NONE ? wf_fold_find(e->fold, id, &w) : 0;
	if (rc == WF_ECORRUPT || rc == WF_ENOMEM)
		wf_fold_read_all(e->fold, why, sizeof why);
	pthread_mutex_unlock(&e->mu);
	if (rc == WF_ECORRUPT || rc == WF_ENOMEM) {
		seterr("workflow %s: %s", id, why[0] ? why : "out of memory");
		return rc;
	}
	if (*status == WF_STATUS_NONE) {
		seterr("No such workflow_id %s", id);
		return WF_ENOTFOUND;
	}
	return 0;
}

int wf_get_output(wf_engine *e, const char *id, cJSON **output)
{
	*output = NULL;
	int rc;
	if (!e || (rc = check_id("workflow id", id)) < 0)
		return e ? rc : WF_EINVAL;
	pthread_mutex_lock(&e->mu);
	wf_run_t *r = wf_map_get(&e->runs, id);
	if (r && r->active) {
		struct wf_future *f = run_future(r);
		pthread_mutex_unlock(&e->mu);
		if (!f) {
			seterr("out of memory");
			return WF_ENOMEM;
		}
		rc = wf_future_wait(f, output);
		future_put(f);
		return rc;
	}
	const wf_fwf *w = find_wf(e, id, &rc);
	if (!w) {
		pthread_mutex_unlock(&e->mu);
		return rc;
	}
	rc = answer_finished(e, w, output);
	pthread_mutex_unlock(&e->mu);
	return rc;
}

int wf_list_all(wf_engine *e, unsigned mask, cJSON **out)
{
	*out = NULL;
	if (!e)
		return WF_EINVAL;
	pthread_mutex_lock(&e->mu);
	int rc = wf_fold_list(e->fold, mask, out);
	pthread_mutex_unlock(&e->mu);
	if (rc < 0)
		seterr("out of memory");
	return rc;
}

/* ---- virtual actors ----
 *
 * An actor is a workflow whose steps are its writer calls, with a state
 * folded from actor_created and each call's actor_state patch (see
 * replay/fold.c). A writer call is a run of that workflow: actor_call (the
 * call's step joins the workflow as its output step), an attempt (cause
 * "call") and RUNNING, then the step as any step runs (retries, nested
 * calls as continuations, cancel), its state change journaled with its
 * result, then SUCCESSFUL. Calls on one actor are serialized by a queue
 * per busy actor (e->actors): the first call starts at once in the
 * caller's thread; the ones made meanwhile wait in order, and each run's
 * end hands the next to a worker (a task with ->call).
 */

static void qcall_free(wf_qcall *c, int rc, const char *msg)
{
	if (!c)
		return;
	if (c->f) {
		future_done(c->f, rc, NULL, msg);
		future_put(c->f);
	}
	wf_node_free(c->node);
	free(c->id);
	free(c);
}

/* Mark actor id busy (its queue made if needed). Holds mu. */
static int actor_busy(wf_engine *e, const char *id)
{
	wf_actor_q *q = wf_map_get(&e->actors, id);
	if (!q) {
		if (!(q = calloc(1, sizeof *q)))
			return WF_ENOMEM;
		if (wf_map_put(&e->actors, id, q) < 0) {
			free(q);
			return WF_ENOMEM;
		}
	}
	q->busy = 1;
	return 0;
}

/* Actor id's run is over: hand its next call to a worker, or mark it idle.
 * Holds mu. */
static void actor_next(wf_engine *e, const char *id)
{
	wf_actor_q *q = wf_map_get(&e->actors, id);
	if (!q)
		return;
	while (q->head && !atomic_load(&e->closing)) {
		wf_qcall *c = q->head;
		q->head = c->next;
		if (!q->head)
			q->tail = NULL;
		wf_task *t = calloc(1, sizeof *t);
		if (!t) {
			qcall_free(c, WF_ENOMEM, "out of memory starting a call");
			continue;
		}
		t->call = c;
		if (e->qtail)
			e->qtail->next = t;
		else
			e->qhead = t;
		e->qtail = t;
		pthread_cond_signal(&e->task_cv);
		return; /* still busy: with that call */
	}
	q->busy = 0;
	if (!q->head) {
		wf_map_del(&e->actors, id);
		free(q);
	}
}

/* Is n a call that an actor of class cls can run: a writer method of cls
 * with JSON arguments only? Else why says what it is. */
static int method_call_ok(const wf_actor_class *cls, const wf_node *n,
                          char *why, size_t len)
{
	if (!n->step || n->step->cls != cls) {
		snprintf(why, len, "%s is not a method of actor class %s", n->fn,
		         cls->name);
		return 0;
	}
	if (n->step->readonly) {
		snprintf(why, len, "%s is a readonly method", n->fn);
		return 0;
	}
	for (size_t i = 0; i < n->nargs; i++)
		if (n->args[i].child) {
			snprintf(why, len, "%s: an actor call takes JSON arguments "
			         "only, not other steps", n->fn);
			return 0;
		}
	return 1;
}

/* Is w an actor of class cls? Else seterr and WF_EINVAL. Holds mu. */
static int check_actor(const wf_fwf *w, const wf_actor_class *cls)
{
	if (!w->actor_class) {
		seterr("%s is a workflow, not an actor", w->id);
		return WF_EINVAL;
	}
	if (strcmp(w->actor_class, cls->name) != 0) {
		seterr("%s is an actor of class %s, not %s", w->id,
		       w->actor_class, cls->name);
		return WF_EINVAL;
	}
	return 0;
}

/*
 * Start call c, whose turn it is (its actor is marked busy for it). Takes
 * c; its future is answered here on failure. Caller does not hold mu.
 */
static void call_start(wf_engine *e, wf_qcall *c)
{
	pthread_mutex_lock(&e->mu);
	const wf_fwf *w = wf_fold_get(e->fold, c->id);
	char msg[600] = "";
	int rc = 0;
	if (atomic_load(&e->closing)) {
		rc = WF_ECLOSED;
		snprintf(msg, sizeof msg, "the engine was closed before the call "
		         "ran");
	} else if (!w || !w->actor_class) {
		rc = WF_ENOTFOUND;
		snprintf(msg, sizeof msg, "No such actor %s", c->id);
	} else if (wf_fold_wf_status(e->fold, w) == WF_STATUS_RESUMABLE) {
		rc = WF_EBUSY;
		snprintf(msg, sizeof msg, "actor %s has an interrupted call "
		         "(RESUMABLE): resume it first", c->id);
	}
	wf_run_t *r = rc ? NULL : run_new(e, c->id);
	struct wf_future **fv = r ? realloc(r->futs, sizeof *fv) : NULL;
	if (!rc && !fv) {
		if (r) {
			r->active = 0;
			run_release(e, r);
		}
		rc = WF_ENOMEM;
		snprintf(msg, sizeof msg, "out of memory");
	}
	if (rc) {
		char *id = c->id;
		c->id = NULL;
		qcall_free(c, rc, msg);
		actor_next(e, id);
		free(id);
		pthread_mutex_unlock(&e->mu);
		return;
	}
	/* The call's reference to the future becomes the run's. */
	r->futs = fv;
	r->futs[r->nfuts++] = c->f;
	c->f = NULL;
	r->actor = 1;
	r->attempt = (int)w->natt + 1;
	char *dag = dag_json(w, c->node);
	/* The call's step starts in the same commit (one write, not two). */
	char *sid = dag && c->node->id ? strdup(c->node->id) : NULL;
	pthread_mutex_unlock(&e->mu);
	qcall_free(c, 0, NULL);
	if (!sid) {
		free(dag);
		pthread_mutex_lock(&e->mu);
		run_finish(e, r, WF_ENOMEM, NULL, "out of memory");
		pthread_mutex_unlock(&e->mu);
		return;
	}
	evbuf b = {.n = 0};
	wf_event *ev = ev_add(&b, WF_EV_ACTOR_CALL);
	ev_text(ev, r->id);
	ev_json(ev, dag);
	ev = ev_add(&b, WF_EV_ATTEMPT_STARTED);
	ev_text(ev, r->id);
	ev_u(ev, (uint64_t)r->attempt);
	ev_text(ev, "call");
	ev_text(ev, e->session);
	ev = ev_add(&b, WF_EV_STATUS_CHANGED);
	ev_text(ev, r->id);
	ev_text(ev, "RUNNING");
	ev_text(ev, "call");
	ev = ev_add(&b, WF_EV_STEP_STARTED);
	ev_text(ev, r->id);
	ev_text(ev, sid);
	ev_u(ev, 1);
	rc = journal_apply(e, &b); /* mu held after */
	free(dag);
	if (rc < 0) {
		run_finish(e, r, rc, NULL, tls_err);
	} else if (r->active && !atomic_load(&r->cancelled)) {
		wf_task *t = enqueue(e, r, sid, 1);
		if (t)
			t->started = 1;
	}
	free(sid);
	pthread_mutex_unlock(&e->mu);
}

int wf_actor_class_define(wf_engine *e, const char *name,
                          wf_actor_init_fn init, void *udata,
                          wf_actor_class **out)
{
	if (out)
		*out = NULL;
	int rc;
	if (!e || !init) {
		seterr("wf_actor_class_define: no engine or no init function");
		return WF_EINVAL;
	}
	if ((rc = check_id("actor class name", name)) < 0)
		return rc;
	pthread_mutex_lock(&e->mu);
	wf_actor_class *c = wf_map_get(&e->classes, name);
	if (!c) {
		if (!(c = calloc(1, sizeof *c)) || !(c->name = strdup(name)) ||
		    wf_map_put(&e->classes, name, c) < 0) {
			pthread_mutex_unlock(&e->mu);
			if (c)
				free(c->name);
			free(c);
			seterr("out of memory");
			return WF_ENOMEM;
		}
		c->e = e;
	}
	/* Defining it again replaces its init (methods keep pointing at c). */
	c->init = init;
	c->udata = udata;
	pthread_mutex_unlock(&e->mu);
	if (out)
		*out = c;
	return 0;
}

int wf_actor_method_define(wf_actor_class *c, const char *name,
                           wf_step_fn fn, void *udata, int kind,
                           const wf_step_options *defaults, wf_step **out)
{
	if (out)
		*out = NULL;
	int rc;
	if (!c || !fn) {
		seterr("wf_actor_method_define: no class or no function");
		return WF_EINVAL;
	}
	if ((rc = check_id("method name", name)) < 0)
		return rc;
	if (kind != WF_METHOD_WRITER && kind != WF_METHOD_READONLY) {
		seterr("%s: kind must be WF_METHOD_WRITER or WF_METHOD_READONLY",
		       name);
		return WF_EINVAL;
	}
	/* The step is "Class.method"; its calls are named after the method,
	 * and are not retried unless asked (Ray's actor methods). */
	wf_step_options o;
	if (wf_step_options_load(&o, defaults) < 0) {
		seterr("wf_step_options version %u unknown", defaults->version);
		return WF_EINVAL;
	}
	if (o.isolate != WF_UNSET && o.isolate) {
		seterr("%s: an actor's method cannot be isolated (its state "
		       "lives in the engine's process)", name);
		return WF_EINVAL;
	}
	if (!o.name)
		o.name = name;
	if (o.max_retries == WF_UNSET)
		o.max_retries = 0;
	char full[600];
	if (snprintf(full, sizeof full, "%s.%s", c->name, name) >=
	    (int)sizeof full) {
		seterr("method name %s.%s is too long", c->name, name);
		return WF_EINVAL;
	}
	wf_step *s;
	if ((rc = wf_step_define(c->e, full, fn, udata, &o, &s)) < 0)
		return rc;
	pthread_mutex_lock(&c->e->mu);
	s->cls = c;
	s->readonly = kind == WF_METHOD_READONLY;
	pthread_mutex_unlock(&c->e->mu);
	if (out)
		*out = s;
	return 0;
}

static int actor_handle(wf_actor_class *c, const char *id, wf_actor **out)
{
	wf_actor *a = calloc(1, sizeof *a);
	if (!a || !(a->id = strdup(id))) {
		free(a);
		seterr("out of memory");
		return WF_ENOMEM;
	}
	a->e = c->e;
	a->cls = c;
	*out = a;
	return 0;
}

int wf_actor_get(wf_actor_class *c, const char *actor_id, wf_actor **out)
{
	*out = NULL;
	int rc;
	if (!c)
		return WF_EINVAL;
	if ((rc = check_id("actor id", actor_id)) < 0)
		return rc;
	wf_engine *e = c->e;
	pthread_mutex_lock(&e->mu);
	const wf_fwf *w = find_wf(e, actor_id, &rc);
	if (!w) {
		pthread_mutex_unlock(&e->mu);
		if (rc == WF_ENOTFOUND)
			seterr("No such actor %s", actor_id);
		return rc;
	}
	rc = check_actor(w, c);
	pthread_mutex_unlock(&e->mu);
	return rc < 0 ? rc : actor_handle(c, actor_id, out);
}

int wf_actor_get_or_create(wf_actor_class *c, const char *actor_id,
                           const cJSON *init_args, wf_actor **out)
{
	*out = NULL;
	int rc;
	if (!c)
		return WF_EINVAL;
	if ((rc = check_id("actor id", actor_id)) < 0)
		return rc;
	const char *why = init_args ? json_problem(init_args) : NULL;
	if (init_args && (!cJSON_IsArray(init_args) || why)) {
		seterr("actor %s: init arguments must be a JSON array%s%s",
		       actor_id, why ? "; this one " : "", why ? why : "");
		return WF_EINVAL;
	}
	wf_engine *e = c->e;
	pthread_mutex_lock(&e->mu);
	for (;;) {
		if (atomic_load(&e->closing)) {
			pthread_mutex_unlock(&e->mu);
			seterr("engine is closing");
			return WF_ECLOSED;
		}
		const wf_fwf *w = find_wf(e, actor_id, &rc);
		if (w || rc != WF_ENOTFOUND) { /* (not created again) */
			rc = w ? check_actor(w, c) : rc;
			pthread_mutex_unlock(&e->mu);
			return rc < 0 ? rc : actor_handle(c, actor_id, out);
		}
		wf_run_t *r = wf_map_get(&e->runs, actor_id);
		if (!wf_map_get(&e->creating, actor_id) && !(r && r->active))
			break;
		/* Being created (or run as a workflow) right now: wait. */
		pthread_cond_wait(&e->create_cv, &e->mu);
	}
	if (wf_map_put(&e->creating, actor_id, (void *)1) < 0) {
		pthread_mutex_unlock(&e->mu);
		seterr("out of memory");
		return WF_ENOMEM;
	}
	wf_actor_init_fn init = c->init;
	void *udata = c->udata;
	pthread_mutex_unlock(&e->mu);

	cJSON *args = init_args ? cJSON_Duplicate(init_args, 1)
	                        : cJSON_CreateArray();
	cJSON *state = NULL;
	char err[512] = "";
	char *text = NULL;
	rc = args ? 0 : WF_ENOMEM;
	if (rc == 0 && init(args, udata, &state, err, sizeof err) != 0) {
		rc = WF_EFAILED;
		err[sizeof err - 1] = '\0';
		seterr("actor %s: init of class %s failed: %s", actor_id, c->name,
		       err[0] ? err : "(no message)");
	} else if (rc == 0 && (why = json_problem(state))) {
		rc = WF_EINVAL;
		seterr("actor %s: the initial state %s", actor_id, why);
	} else if (rc == 0 &&
	           !(text = state ? cJSON_PrintUnformatted(state)
	                          : strdup("null"))) {
		rc = WF_ENOMEM;
	}
	cJSON_Delete(args);
	json_delete(state);
	if (rc == WF_ENOMEM)
		seterr("out of memory");
	if (rc == 0) {
		evbuf b = {.n = 0};
		wf_event *ev = ev_add(&b, WF_EV_ACTOR_CREATED);
		ev_text(ev, actor_id);
		ev_text(ev, c->name);
		ev_json(ev, text);
		rc = journal_apply(e, &b); /* mu held after */
	} else {
		pthread_mutex_lock(&e->mu);
	}
	free(text);
	wf_map_del(&e->creating, actor_id);
	pthread_cond_broadcast(&e->create_cv);
	pthread_mutex_unlock(&e->mu);
	return rc < 0 ? rc : actor_handle(c, actor_id, out);
}

void wf_actor_free(wf_actor *a)
{
	if (!a)
		return;
	free(a->id);
	free(a);
}

const char *wf_actor_id(const wf_actor *a)
{
	return a ? a->id : NULL;
}

int wf_actor_state(wf_actor *a, cJSON **state)
{
	*state = NULL;
	if (!a)
		return WF_EINVAL;
	wf_engine *e = a->e;
	pthread_mutex_lock(&e->mu);
	const wf_fwf *w = wf_fold_get(e->fold, a->id);
	int rc = 0;
	if (!w || !w->actor_class) {
		seterr("No such actor %s", a->id);
		rc = WF_ENOTFOUND;
	} else if (!(*state = cJSON_Duplicate(w->actor_state, 1))) {
		seterr("out of memory");
		rc = WF_ENOMEM;
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* A readonly call: the method runs in the caller's thread on a copy of the
 * committed state; nothing is journaled. Takes call. */
static int readonly_call(wf_actor *a, wf_node *call, cJSON **output)
{
	wf_engine *e = a->e;
	cJSON *state = NULL, *args = cJSON_CreateArray();
	for (size_t i = 0; args && i < call->nargs; i++) {
		cJSON *v = cJSON_Duplicate(call->args[i].value, 1);
		if (!v || !cJSON_AddItemToArray(args, v)) {
			cJSON_Delete(v);
			cJSON_Delete(args);
			args = NULL;
		}
	}
	pthread_mutex_lock(&e->mu);
	const wf_fwf *w = wf_fold_get(e->fold, a->id);
	int rc = 0;
	if (!w || !w->actor_class) {
		seterr("No such actor %s", a->id);
		rc = WF_ENOTFOUND;
	} else if (!args || !(state = cJSON_Duplicate(w->actor_state, 1))) {
		seterr("out of memory");
		rc = WF_ENOMEM;
	}
	wf_step *fn = call->step;
	pthread_mutex_unlock(&e->mu);
	if (rc < 0) {
		cJSON_Delete(args);
		wf_node_free(call);
		return rc;
	}
	wf_ctx ctx = {e, NULL, call->name, 1, NULL, NULL, a->id, a->cls, state,
	              1, 0};
	cJSON *out = NULL;
	int frc = fn->fn(&ctx, args, fn->udata, &out);
	if (frc != 0) {
		seterr("actor %s: readonly call %s failed: %s", a->id, call->name,
		       ctx.error        ? ctx.error
		       : ctx.error_lost ? "its message was lost (out of memory)"
		                        : wf_strerror(frc));
		rc = WF_EFAILED;
		json_delete(out);
	} else if (output) {
		*output = out ? out : cJSON_CreateNull();
	} else {
		json_delete(out);
	}
	wf_node_free(ctx.cont);
	json_delete(ctx.state);
	cJSON_Delete(args);
	free(ctx.error);
	wf_node_free(call);
	return rc;
}

int wf_actor_call_async(wf_actor *a, wf_node *call, wf_future **out)
{
	*out = NULL;
	if (!a || !call) {
		wf_node_free(call);
		seterr("wf_actor_call: no actor or no call");
		return WF_EINVAL;
	}
	wf_engine *e = a->e;
	char why[600];
	if (call->step && call->step->cls == a->cls && call->step->readonly) {
		/* Readonly: run now; the future is already answered. */
		cJSON *o = NULL;
		int rc = readonly_call(a, call, &o);
		struct wf_future *f = future_ready(rc, o);
		cJSON_Delete(o);
		if (!f) {
			seterr("out of memory");
			return WF_ENOMEM;
		}
		*out = f;
		return 0;
	}
	if (!method_call_ok(a->cls, call, why, sizeof why)) {
		wf_node_free(call);
		seterr("actor %s: %s", a->id, why);
		return WF_EINVAL;
	}
	wf_qcall *c = calloc(1, sizeof *c);
	struct wf_future *f = future_new();
	if (!c || !f || !(c->id = strdup(a->id))) {
		free(c);
		if (f)
			future_put(f);
		wf_node_free(call);
		seterr("out of memory");
		return WF_ENOMEM;
	}
	f->refs = 2; /* the caller's and the call's */
	c->f = f;
	c->node = call;
	pthread_mutex_lock(&e->mu);
	if (atomic_load(&e->closing)) {
		pthread_mutex_unlock(&e->mu);
		c->f = NULL;
		future_put(f);
		future_put(f);
		qcall_free(c, 0, NULL);
		seterr("engine is closing");
		return WF_ECLOSED;
	}
	wf_actor_q *q = wf_map_get(&e->actors, a->id);
	if (q && q->busy) {
		/* Behind the calls before it. */
		if (q->tail)
			q->tail->next = c;
		else
			q->head = c;
		q->tail = c;
		pthread_mutex_unlock(&e->mu);
		*out = f;
		return 0;
	}
	if (wf_map_get(&e->creating, a->id) || actor_busy(e, a->id) < 0) {
		int creating = wf_map_get(&e->creating, a->id) != NULL;
		pthread_mutex_unlock(&e->mu);
		c->f = NULL;
		future_put(f);
		future_put(f);
		qcall_free(c, 0, NULL);
		if (creating) {
			seterr("actor %s is being created", a->id);
			return WF_EBUSY;
		}
		seterr("out of memory");
		return WF_ENOMEM;
	}
	pthread_mutex_unlock(&e->mu);
	call_start(e, c);
	*out = f;
	return 0;
}

int wf_actor_call(wf_actor *a, wf_node *call, cJSON **output)
{
	if (output)
		*output = NULL;
	if (a && call && call->step && call->step->cls == a->cls &&
	    call->step->readonly)
		return readonly_call(a, call, output);
	wf_future *f;
	/* As wf_run: the call's first step is for this thread. */
	int was_worker = tls_worker, was_kept = tls_kept;
	tls_worker = 1;
	tls_kept = 0;
	int rc = wf_actor_call_async(a, call, &f);
	tls_worker = was_worker;
	tls_kept = was_kept;
	if (rc < 0)
		return rc;
	help_run(a->e, a->id);
	rc = wf_future_wait(f, output);
	wf_future_free(f);
	return rc;
}

/* ---- open and close ---- */

static void engine_free(wf_engine *e)
{
	wf_fold_free(e->fold);
	const char *k;
	void *v;
	for (size_t i = 0; wf_map_next(&e->steps, &i, &k, &v);) {
		wf_step *s = v;
		free(s->name);
		free(s->opt_name);
		free(s->metadata);
		free(s);
	}
	wf_map_free(&e->steps);
	while (e->after) {
		wf_after *a = e->after;
		e->after = a->next_after;
		run_put(a->run);
		after_free(a);
	}
	while (e->qhead) {
		wf_task *t = e->qhead;
		e->qhead = t->next;
		if (t->call)
			qcall_free(t->call, WF_ECLOSED, "the engine was closed");
		else
			run_put(t->run);
		free(t->step);
		free(t);
	}
	for (size_t i = 0; wf_map_next(&e->classes, &i, &k, &v);) {
		wf_actor_class *c = v;
		free(c->name);
		free(c);
	}
	wf_map_free(&e->classes);
	for (size_t i = 0; wf_map_next(&e->actors, &i, &k, &v);) {
		wf_actor_q *q = v;
		while (q->head) {
			wf_qcall *c = q->head;
			q->head = c->next;
			qcall_free(c, WF_ECLOSED, "the engine was closed");
		}
		free(q);
	}
	wf_map_free(&e->actors);
	wf_map_free(&e->creating);
	pthread_cond_destroy(&e->create_cv);
	pthread_cond_destroy(&e->snap_cv);
	for (size_t i = 0; wf_map_next(&e->runs, &i, &k, &v);)
		run_put(v);
	wf_map_free(&e->runs);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->apply_cv);
	pthread_cond_destroy(&e->task_cv);
	pthread_cond_destroy(&e->idle_cv);
	free(e->dir);
	free(e);
}

static void engine_put(wf_engine *e)
{
	pthread_mutex_lock(&e->mu);
	int last = --e->refs == 0;
	pthread_mutex_unlock(&e->mu);
	if (last)
		engine_free(e);
}

static int open_fail(wf_engine *e, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->open_err, sizeof e->open_err, fmt, ap);
	va_end(ap);
	e->open_failed = 1;
	snprintf(tls_err, sizeof tls_err, "%s", e->open_err);
	return rc;
}

/* The first damage the replay's reader reports (see replay). */
typedef struct replay_damage {
	int seen;
	char msg[700];
} replay_damage;

static void on_replay_damage(void *ud, const wf_damage *d)
{
	replay_damage *rd = ud;
	if (rd->seen++)
		return;
	snprintf(rd->msg, sizeof rd->msg, "%s at offset %" PRIu64 ": %s",
	         d->file, d->offset, d->what);
}

/* The journal starts after the event the replay needs first (from): its
 * oldest segments were deleted (retention, or by hand), and no usable
 * snapshot holds what they folded to. Nothing can rebuild the state. */
static int missing(wf_engine *e, const char *jdir, uint64_t from,
                   uint64_t first, const char *skipped)
{
	return open_fail(e, WF_ECORRUPT, "%s starts at event %" PRIu64
	                 ": events %" PRIu64 "..%" PRIu64 " are not in it "
	                 "(segments deleted by retention, or lost) and no "
	                 "usable snapshot holds the state they built%s%s",
	                 jdir, first, from, first - 1,
	                 skipped && skipped[0] ? "; snapshots skipped: " : "",
	                 skipped ? skipped : "");
}

/*
 * Fold the journal from event from on (1: all of it), after the snapshot
 * that ends before it, if any (skipped: the ones that could not be used).
 * The writer's open has already cut a torn tail (and holds the lock:
 * nothing is being appended), so anything the reader still finds
 * damaged, even at the tail, is a frame whose checksum holds but whose
 * payload does not decode (the writer's open does not decode payloads:
 * jo.replay_follows). It is refused here, before the session event is
 * appended after it.
 */
static int replay(wf_engine *e, const char *jdir, uint64_t from,
                  const char *skipped)
{
	replay_damage rd = {0};
	wf_reader_opts ro = WF_READER_OPTS_INIT;
	ro.recovery = e->cfg.recovery == WF_RECOVERY_ABSOLUTE
	                  ? WF_RECOVER_ABSOLUTE
	                  : WF_RECOVER_TOLERATE_TAIL;
	ro.on_damage = on_replay_damage;
	ro.damage_ud = &rd;
	ro.io = e->io;
	ro.readahead = 1; /* decompress on a second core while folding */
	wf_reader *r;
	int rc = wf_reader_open(&r, jdir, &ro);
	if (rc == 0 && from > 1)
		rc = wf_reader_seek(r, from);
	const wf_event *ev;
	char err[600];
	uint64_t first = wf_seg_first(e->io, jdir);
	if (rc == 0 && first > from)
		rc = missing(e, jdir, from, first, skipped);
	wf_fold_populate_ahead(e->fold, 1);
	while (rc == 0 && (rc = wf_reader_next(r, &ev)) == 1)
		if ((rc = wf_fold_apply(e->fold, ev, err, sizeof err)) < 0)
			open_fail(e, rc, "replay of %s: %s", jdir, err);
	wf_fold_populate_ahead(e->fold, 0);
	if (rc == 0 && rd.seen)
		rc = open_fail(e, WF_ECORRUPT, "replay of %s: %s", jdir, rd.msg);
	if (rc < 0 && !e->open_failed)
		open_fail(e, rc, "replay of %s: %s", jdir, wf_reader_errmsg(r));
	wf_reader_close(r);
	return rc;
}

int wf_open(wf_engine **out, const char *dir, const wf_config *cfg)
{
	return wf_open_with_io(out, dir, cfg, NULL);
}

int wf_open_with_io(wf_engine **out, const char *dir, const wf_config *cfg,
                    const wf_io *io)
{
	static const wf_config defaults = WF_CONFIG_INIT;
	*out = NULL;
	wf_config given = defaults;
	if (cfg && cfg->version == 1) {
		/* Version 1 ended before no_snapshots and snapshot_every. */
		memcpy(&given, cfg, offsetof(wf_config, no_snapshots));
		given.version = WF_CONFIG_VERSION;
		cfg = &given;
	} else if (cfg && cfg->version == 2) {
		/* Version 2 ended before isolate. */
		memcpy(&given, cfg, offsetof(wf_config, isolate));
		given.version = WF_CONFIG_VERSION;
		cfg = &given;
	} else if (cfg && cfg->version == 3) {
		/* Version 3 ended before max_metadata_bytes. */
		memcpy(&given, cfg, offsetof(wf_config, max_metadata_bytes));
		given.version = WF_CONFIG_VERSION;
		cfg = &given;
	} else if (cfg && cfg->version == 4) {
		/* Version 4 ended before retention_s. */
		memcpy(&given, cfg, offsetof(wf_config, retention_s));
		given.version = WF_CONFIG_VERSION;
		cfg = &given;
	}
	wf_engine *e = calloc(1, sizeof *e);
	if (!e) {
		seterr("out of memory");
		return WF_ENOMEM;
	}
	*out = e;
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->apply_cv, NULL);
	pthread_cond_init(&e->task_cv, NULL);
	pthread_cond_init(&e->idle_cv, NULL);
	pthread_cond_init(&e->create_cv, NULL);
	pthread_cond_init(&e->snap_cv, NULL);
	e->refs = 1;
	e->io = io ? io : wf_io_posix();
	e->cfg = cfg ? *cfg : defaults;
	if (cfg && cfg->version != WF_CONFIG_VERSION)
		return open_fail(e, WF_EINVAL, "wf_config version %u unknown",
		                 cfg->version);
	if (!dir || !*dir)
		return open_fail(e, WF_EINVAL, "no directory given");
	if (e->cfg.workers == 0)
		e->cfg.workers = 16;
	if (e->cfg.workers > 1024)
		return open_fail(e, WF_EINVAL, "too many workers (%u)",
		                 e->cfg.workers);
	if (!(e->dir = strdup(dir)) || wf_fold_new(&e->fold) < 0)
		return open_fail(e, WF_ENOMEM, "out of memory");
	/* The engine's directory, then its journal inside it. */
	int rc = e->io->mkdir(e->io->ctx, dir);
	if (rc < 0 && rc != -EEXIST)
		return open_fail(e, rc == -ENOENT ? WF_ENOTFOUND : WF_EIO,
		                 "cannot create %s: %s", dir, strerror(-rc));
	if (rc == 0) {
		/* A new directory is durable once its parent is synced: else a
		 * machine crash can take it, journal and all, with it. */
		char parent[4096];
		snprintf(parent, sizeof parent, "%s", dir);
		size_t len = strlen(parent);
		while (len > 1 && parent[len - 1] == '/')
			parent[--len] = '\0';
		char *slash = strrchr(parent, '/');
		if (!slash)
			strcpy(parent, ".");
		else if (slash == parent)
			parent[1] = '\0';
		else
			*slash = '\0';
		int fd = e->io->open(e->io->ctx, parent, WF_IO_DIR);
		rc = fd < 0 ? fd : e->io->fsync(e->io->ctx, fd);
		if (fd >= 0)
			e->io->close(e->io->ctx, fd);
		if (rc < 0)
			return open_fail(e, WF_EIO, "cannot fsync %s, the parent of "
			                 "%s: %s", parent, dir, strerror(-rc));
	}
	char jdir[4096];
	snprintf(jdir, sizeof jdir, "%s/journal", dir);
	wf_journal_opts jo = WF_JOURNAL_OPTS_INIT;
	jo.durability = e->cfg.durability == WF_SYNC_NONE    ? WF_DURABILITY_NONE
	                : e->cfg.durability == WF_SYNC_BATCH ? WF_DURABILITY_BATCH
	                                                     : WF_DURABILITY_ALWAYS;
	if (e->cfg.batch_interval_ms)
		jo.batch_interval_ms = e->cfg.batch_interval_ms;
	jo.recovery = e->cfg.recovery == WF_RECOVERY_ABSOLUTE
	                  ? WF_RECOVER_ABSOLUTE
	                  : WF_RECOVER_TOLERATE_TAIL;
	/* 8 MiB segments: an open scans the last segment twice (the writer
	 * checks its tail, the replay after a snapshot seeks in it), so its
	 * size bounds what an open costs beyond the snapshot. */
	jo.segment_size = e->cfg.segment_size ? e->cfg.segment_size
	                                      : (uint64_t)8 << 20;
	jo.replay_follows = 1; /* replay() below decodes every payload */
	jo.io = e->io;
	rc = wf_journal_open(&e->j, jdir, &jo);
	if (rc < 0) {
		/* A file where a directory should be: say so, not ENOTDIR. */
		struct stat st;
		if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
			open_fail(e, rc = WF_EINVAL, "%s is not a directory (an "
			          "engine needs a directory of its own)", dir);
		else if (stat(jdir, &st) == 0 && !S_ISDIR(st.st_mode))
			open_fail(e, rc = WF_EINVAL, "%s is not a directory (the "
			          "engine's journal lives there)", jdir);
		else
			open_fail(e, rc, "%s", wf_journal_errmsg(e->j));
		wf_journal_close(e->j);
		e->j = NULL;
		return rc;
	}
	/* The newest usable snapshot, then the journal after it. */
	uint64_t from = 1;
	char skipped[2048] = "";
	if (!e->cfg.no_snapshots) {
		char sdir[4200];
		snprintf(sdir, sizeof sdir, "%s/snapshots", dir);
		uint64_t seq = 0;
		rc = wf_snapshot_load_writer(e->io, sdir, wf_journal_id(e->j),
		                             wf_journal_next_seq(e->j), &e->fold,
		                             &seq, skipped, sizeof skipped);
		if (rc < 0)
			return open_fail(e, rc, "out of memory loading a snapshot");
		if (rc == 1)
			from = seq + 1;
		e->open_snapshot_seq = e->snap_seq = seq;
	}
	if ((rc = replay(e, jdir, from, skipped)) < 0)
		return rc;
	e->apply_next = wf_journal_next_seq(e->j);
	/* This engine's session: RUNNING workflows of earlier sessions are
	 * RESUMABLE from now on. */
	uint64_t rnd = wf_journal_id(e->j) ^ (uint64_t)now_ns() ^
	               ((uint64_t)getpid() << 32);
	snprintf(e->session, sizeof e->session, "s-%016" PRIx64 "-%" PRIu64,
	         rnd, e->apply_next);
	if (wf_fold_set_live_session(e->fold, e->session) < 0)
		return open_fail(e, WF_ENOMEM, "out of memory");
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	evbuf b = {.n = 0};
	wf_event *ev = ev_add(&b, WF_EV_SESSION_STARTED);
	ev_text(ev, e->session);
	ev_u(ev, (uint64_t)getpid());
	ev_text(ev, host);
	if (skipped[0]) {
		/* Skipped snapshots are for auditors to see, not an error. */
		ev = ev_add(&b, WF_EV_NOTICE);
		ev_text(ev, "snapshot skipped");
		ev_text(ev, skipped);
	}
	rc = journal_apply(e, &b);
	pthread_mutex_unlock(&e->mu);
	if (rc < 0)
		return open_fail(e, rc, "%s", tls_err);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (unsigned i = 0; i < e->cfg.workers; i++) {
		pthread_t t;
		pthread_mutex_lock(&e->mu);
		e->refs++;
		e->alive++;
		pthread_mutex_unlock(&e->mu);
		if (pthread_create(&t, &attr, worker, e) != 0) {
			pthread_mutex_lock(&e->mu);
			e->refs--;
			e->alive--;
			pthread_mutex_unlock(&e->mu);
			pthread_attr_destroy(&attr);
			return open_fail(e, WF_ENOMEM, "cannot start worker threads");
		}
	}
	pthread_attr_destroy(&attr);
	return 0;
}

int wf_close(wf_engine *e)
{
	if (!e)
		return 0;
	pthread_mutex_lock(&e->mu);
	atomic_store(&e->closing, 1);
	pthread_cond_broadcast(&e->task_cv);
	/* Answer every waiter, wake every sleeping step. */
	const char *k;
	void *v;
	for (size_t i = 0; wf_map_next(&e->runs, &i, &k, &v);) {
		wf_run_t *r = v;
		pthread_cond_broadcast(&r->cancel_cv);
		pthread_cond_broadcast(&r->help_cv);
		for (size_t f = 0; f < r->nfuts; f++) {
			future_done(r->futs[f], WF_ECLOSED, NULL,
			            "the engine was closed while the workflow ran");
			future_put(r->futs[f]);
		}
		r->nfuts = 0;
		r->active = 0;
	}
	/* Calls still waiting for their actor will not run. */
	for (size_t i = 0; wf_map_next(&e->actors, &i, &k, &v);) {
		wf_actor_q *q = v;
		while (q->head) {
			wf_qcall *c = q->head;
			q->head = c->next;
			qcall_free(c, WF_ECLOSED,
			           "the engine was closed before the call ran");
		}
		q->tail = NULL;
	}
	pthread_cond_broadcast(&e->create_cv);
	/* Idle workers exit now; busy ones inside a step are not waited for. */
	while (e->alive > e->in_user)
		pthread_cond_wait(&e->idle_cv, &e->mu);
	while (e->snap_busy) /* it uses the journal */
		pthread_cond_wait(&e->snap_cv, &e->mu);
	/* A snapshot of the state, for the next open: after the journal is
	 * synced (it covers nothing the journal could lose) and before the
	 * lock goes (no other engine appends meanwhile). Nothing changes the
	 * fold now: the engine is closing. Failing costs only replay time. */
	int rc = 0;
	if (!e->cfg.no_snapshots && e->j && !e->open_failed &&
	    !atomic_load(&e->broken) &&
	    wf_fold_last_seq(e->fold) > e->snap_seq &&
	    wf_journal_sync(e->j) == 0) {
		char sdir[4200], err[600];
		snprintf(sdir, sizeof sdir, "%s/snapshots", e->dir);
		if (wf_snapshot_write(e->io, sdir, wf_journal_id(e->j), e->fold,
		                      NULL, err, sizeof err) == 0) {
			pthread_mutex_unlock(&e->mu);
			retire(e);
			pthread_mutex_lock(&e->mu);
		}
	}
	pthread_mutex_unlock(&e->mu);
	rc = wf_journal_close(e->j);
	e->j = NULL;
	engine_put(e);
	return rc;
}
