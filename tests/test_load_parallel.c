/*
 * One workflow's replay in parts at once (replay/load.c, `wflow meta`):
 * the journal split at segment starts, later parts read by threads that
 * keep only the events the fold would not ignore (wf_fold_ignores).
 *
 * A journal of realistic histories (bench/synth.c: workflows, actors,
 * retries), with sessions started all along it, notices and events of a
 * type this version does not know but may skip, in many small segments. Then, for workflows and
 * actors from all over it, and an id it does not hold:
 *  - folding in 2 and in 5 parts (it did split: *used says so) answers
 *    exactly as one pass does, and as the full fold: metadata, the list,
 *    the last sequence number and session;
 *  - a torn tail is still tolerated, in parts;
 *  - damage in the first part, or in a later one, fails as one pass
 *    fails (the same code and message naming file and offset), since the
 *    load then starts again in one pass;
 *  - with a snapshot part way, the parts start after it, and the answers
 *    are still a full replay's;
 *  - a type this version does not know and may not skip stops the load
 *    with WF_EINCOMPAT, in parts as in one pass;
 *  - the timelines of wflow history and trace (replay/timeline.c) of one
 *    workflow, or of three, read in 2 and 5 parts, are the one pass's to
 *    the last field (the events counted and the last time included),
 *    intact and with a torn tail; damage fails them alike;
 *  - wflow meta --at SEQ|TIME (wf_fold_load_dir_at), at points all along
 *    the journal (before the first event, past the last), in 2 and 5
 *    parts, answers as one pass and as the fold stopped there; with a
 *    snapshot part way, both before and after its end;
 *  - wflow dump --workflow's lines (replay/dumpfmt.c), alone, with
 *    --type, and from a sequence number on, read in 2 and 5 parts, are
 *    the one pass's byte for byte, a torn tail's report in its place;
 *    --since TIME is not split.
 */
#include "test.h"

#include "bench/synth.h"
#include "journal/journal.h"
#include "replay/dumpfmt.h"
#include "replay/events.h"
#include "replay/fold.h"
#include "replay/snapshot.h"
#include "replay/timeline.h"

#include "fold_util.h"

#define EVENTS 60000

/* Write EVENTS synthetic events into root/journal in segments of 64 KiB;
 * every 4000 events, a notice and an unknown type that may be skipped;
 * every 7000, a session_started (an engine restarted). */
/* write_journal: the event with this sequence number, if any, is an hour
 * ahead of the others (a wall clock set right back after: --at TIME). */
static uint64_t clock_jump_at;

static void write_journal(const char *root, uint64_t extra_type)
{
	char jdir[600];
	snprintf(jdir, sizeof jdir, "%s/journal", root);
	CHECK(mkdir(root, 0755) == 0);
	wf_journal_opts o = WF_JOURNAL_OPTS_INIT;
	o.durability = WF_DURABILITY_NONE;
	o.segment_size = 64 << 10;
	wf_journal *j;
	CHECK_OK(wf_journal_open(&j, jdir, &o));
	wf_synth *g;
	CHECK_OK(wf_synth_new(&g, 5));
	wf_batch *b;
	CHECK_OK(wf_batch_new(&b));
	wf_event ev;
	uint64_t first;
	for (uint64_t k = 1; k <= EVENTS; k++) {
		wf_synth_next(g, &ev);
		if (k == clock_jump_at)
			ev.time_ns += (int64_t)3600 * 1000000000;
		CHECK_OK(wf_batch_add(b, &ev));
		if (k % 4000 == 0) {
			wf_event n = {0};
			n.type = WF_EV_NOTICE;
			n.time_ns = ev.time_ns; /* (times go on: --at TIME) */
			n.nfields = 2;
			n.fields[0] = wf_field_text("test", 4);
			n.fields[1] = wf_field_text("a notice", 8);
			CHECK_OK(wf_batch_add(b, &n));
			wf_event u = {0};
			u.type = (uint16_t)(0x7ff0 | WF_EVENT_SAFE_IGNORE);
			u.time_ns = ev.time_ns;
			u.nfields = 1;
			u.fields[0] = wf_field_text("cart/u1", 7);
			CHECK_OK(wf_batch_add(b, &u));
		}
		if (k % 7000 == 0) { /* an engine restarted */
			char sess[32];
			int len = snprintf(sess, sizeof sess, "sess-test-%" PRIu64,
			                   k);
			wf_event se = {0};
			se.type = WF_EV_SESSION_STARTED;
			se.time_ns = ev.time_ns;
			se.nfields = 3;
			se.fields[0] = wf_field_text(sess, (size_t)len);
			se.fields[1] = wf_field_u(k);
			se.fields[2] = wf_field_text("test-host", 9);
			CHECK_OK(wf_batch_add(b, &se));
		}
		if (extra_type && k == EVENTS * 3 / 4) {
			wf_event u = {0};
			u.type = (uint16_t)extra_type;
			u.nfields = 1;
			u.fields[0] = wf_field_u(7);
			CHECK_OK(wf_batch_add(b, &u));
		}
		if (wf_batch_count(b) >= 8 || k == EVENTS) {
			CHECK_OK(wf_journal_commit(j, b, &first));
			wf_batch_clear(b);
		}
	}
	wf_batch_free(b);
	wf_synth_free(g);
	CHECK_OK(wf_journal_close(j));
}

typedef struct answer {
	int rc;
	char err[600];
	char *meta, *list;
	uint64_t last_seq;
	char session[200];
} answer;

/* Load root folding only id in nparts (1: one pass), as of point at
 * (NULL: all); *used as told. */
static void load_at(const char *root, const char *id, const wf_fold_at *at,
                    int nparts, int *used, answer *a)
{
	wf_fold *f = NULL;
	memset(a, 0, sizeof *a);
	a->rc = !at ? wf_fold_load_dir_parts(&f, root, id, nparts, 0, used,
	                                     a->err, sizeof a->err)
	            : wf_fold_load_dir_at(&f, root, id, at, nparts, 0, used,
	                                  a->err, sizeof a->err);
	if (a->rc < 0) {
		CHECK(f == NULL);
		return;
	}
	a->meta = fold_meta_text(f, id, NULL);
	a->list = fold_list_text(f);
	a->last_seq = wf_fold_last_seq(f);
	const char *s = wf_fold_last_session(f);
	snprintf(a->session, sizeof a->session, "%s", s ? s : "(none)");
	wf_fold_free(f);
}

static void load(const char *root, const char *id, int nparts, int *used,
                 answer *a)
{
	load_at(root, id, NULL, nparts, used, a);
}

static void answer_free(answer *a)
{
	free(a->meta);
	free(a->list);
}

static void check_same(const answer *a, const answer *b)
{
	CHECK_EQ_I64(a->rc, b->rc);
	CHECK_MSG(strcmp(a->err, b->err) == 0, "'%s' vs '%s'", a->err, b->err);
	if (a->rc < 0)
		return;
	CHECK_MSG(strcmp(a->meta, b->meta) == 0, "meta %s\nvs %s", a->meta,
	          b->meta);
	CHECK_MSG(strcmp(a->list, b->list) == 0, "list %s\nvs %s", a->list,
	          b->list);
	CHECK_EQ_U64(a->last_seq, b->last_seq);
	CHECK_MSG(strcmp(a->session, b->session) == 0, "%s vs %s", a->session,
	          b->session);
}

/* Is ev past point at? */
static int past(const wf_fold_at *at, const wf_event *ev)
{
	return at->is_time ? ev->time_ns > at->time_ns : ev->seq > at->seq;
}

/* The time of root's event seq (or the last one's, plus 1 s: after all). */
static int64_t time_of(const char *root, uint64_t seq)
{
	char jdir[600];
	snprintf(jdir, sizeof jdir, "%s/journal", root);
	wf_reader *r;
	CHECK_OK(wf_reader_open(&r, jdir, NULL));
	const wf_event *ev;
	int64_t t = 0;
	while (wf_reader_next(r, &ev) == 1) {
		t = ev->time_ns;
		if (ev->seq == seq)
			break;
		t += 1000000000;
	}
	wf_reader_close(r);
	return t;
}

/* The reference for --at: root's journal applied in order up to point at
 * (all workflows), the last session started by then live. */
static wf_fold *fold_upto(const char *root, const wf_fold_at *at)
{
	char jdir[600], err[600];
	snprintf(jdir, sizeof jdir, "%s/journal", root);
	wf_fold *f;
	wf_reader *r;
	CHECK_OK(wf_fold_new(&f));
	CHECK_OK(wf_reader_open(&r, jdir, NULL));
	const wf_event *ev;
	while (wf_reader_next(r, &ev) == 1 && !past(at, ev))
		CHECK_OK_MSG(wf_fold_apply(f, ev, err, sizeof err), err);
	wf_reader_close(r);
	if (wf_fold_last_session(f))
		CHECK_OK(wf_fold_set_live_session(f, wf_fold_last_session(f)));
	return f;
}

/* meta --at: for ids and points all along the journal, 2 and 5 parts
 * (5 used from half way on, without a snapshot) answer as one pass, and
 * as the reference fold of ref_root stopped there. @return how many
 * loads were split. */
static int compare_at(const char *root, const char *ref_root, char **ids,
                      size_t n)
{
	static const uint64_t seqs[] = {0, 1, EVENTS / 5, EVENTS / 2,
	                                EVENTS - 7, EVENTS * 2};
	enum { NS = sizeof seqs / sizeof seqs[0] };
	wf_fold_at at[2 * NS];
	for (size_t p = 0; p < NS; p++) {
		/* each sequence number, and the time of that event */
		at[p] = (wf_fold_at){0, seqs[p], 0};
		at[NS + p] = (wf_fold_at){1, 0, time_of(ref_root, seqs[p])};
	}
	at[NS] = (wf_fold_at){1, 0, time_of(ref_root, 1) - 1};
	int split = 0;
	for (size_t p = 0; p < 2 * NS; p++) {
		wf_fold *ref = fold_upto(ref_root, &at[p]);
		for (size_t k = 0; k < n; k++) {
			t_context("%s, id %s at %s %" PRIu64 " %" PRId64, root,
			          ids[k], at[p].is_time ? "time" : "seq",
			          at[p].seq, at[p].time_ns);
			answer one, two, five;
			int used;
			load_at(root, ids[k], &at[p], 1, &used, &one);
			CHECK_OK_MSG(one.rc, one.err);
			CHECK_EQ_I64(used, 1);
			load_at(root, ids[k], &at[p], 2, &used, &two);
			split += used > 1;
			check_same(&one, &two);
			load_at(root, ids[k], &at[p], 5, &used, &five);
			split += used > 1;
			/* (after a snapshot, fewer segments may be left) */
			CHECK(used == 5 || (p % NS) < 3 || root != ref_root);
			check_same(&one, &five);
			char *m = fold_meta_text(ref, ids[k], NULL);
			CHECK_MSG(strcmp(m, one.meta) == 0, "reference %s\nvs %s",
			          m, one.meta);
			free(m);
			CHECK_EQ_U64(one.last_seq, wf_fold_last_seq(ref));
			answer_free(&one);
			answer_free(&two);
			answer_free(&five);
		}
		wf_fold_free(ref);
	}
	t_context("%s", "");
	return split;
}

/* Every workflow's id in the full fold of root, every step-th of them. */
static char **some_ids(const char *root, size_t step, size_t *n,
                       wf_fold **full)
{
	char err[600];
	CHECK_OK_MSG(wf_fold_load_dir(full, root, err, sizeof err), err);
	size_t cap = 16, k = 0, i = 0, seen = 0;
	char **v = malloc(cap * sizeof *v);
	const wf_fwf *w;
	while (wf_fold_next(*full, &i, &w)) {
		if (seen++ % step)
			continue;
		if (k + 1 >= cap)
			v = realloc(v, (cap *= 2) * sizeof *v);
		v[k++] = strdup(w->id);
	}
	v[k++] = strdup("no-such-workflow");
	*n = k;
	return v;
}

static size_t segments(const char *root)
{
	char jdir[600];
	snprintf(jdir, sizeof jdir, "%s/journal", root);
	static t_segs s;
	t_list_segments(jdir, &s);
	return s.n;
}

/* For every id: 2 and 5 parts (which must be used) answer as one pass;
 * and as the full fold, for the metadata. */
static void compare_all(const char *root, char **ids, size_t n,
                        wf_fold *full, int want_parts)
{
	for (size_t k = 0; k < n; k++) {
		t_context("%s, id %s", root, ids[k]);
		answer one, two, five;
		int used;
		load(root, ids[k], 1, &used, &one);
		CHECK_OK_MSG(one.rc, one.err);
		CHECK_EQ_I64(used, 1);
		load(root, ids[k], 2, &used, &two);
		CHECK_EQ_I64(used, want_parts ? 2 : 1);
		check_same(&one, &two);
		load(root, ids[k], 5, &used, &five);
		CHECK_EQ_I64(used, want_parts ? 5 : 1);
		check_same(&one, &five);
		char *ref = fold_meta_text(full, ids[k], NULL);
		CHECK_MSG(strcmp(ref, one.meta) == 0, "full %s\nvs %s", ref,
		          one.meta);
		free(ref);
		answer_free(&one);
		answer_free(&two);
		answer_free(&five);
	}
	t_context("%s", "");
}

/* ---- timelines (wflow history, trace) ---- */

static void tl_put(char **b, size_t *len, size_t *cap, const char *fmt, ...)
	T_PRINTF(4, 5);
static void tl_put(char **b, size_t *len, size_t *cap, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(*b + *len, *cap - *len, fmt, ap);
		va_end(ap);
		CHECK(n >= 0);
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return;
		}
		*cap = 2 * *cap + (size_t)n;
		*b = realloc(*b, *cap);
		CHECK(*b != NULL);
	}
}

#define S(x) ((x) ? (x) : "-")

/* Everything a timeline holds, as text. Malloc'd. */
static char *tl_text(const wf_timeline *t)
{
	size_t len = 0, cap = 4096;
	char *b = malloc(cap);
	CHECK(b != NULL);
	b[0] = '\0';
	tl_put(&b, &len, &cap, "n=%zu events=%" PRIu64 " first=%" PRId64
	       " last=%" PRId64 "\n", t->n, t->events, t->first_ns, t->last_ns);
	for (size_t i = 0; i < t->n; i++) {
		const wf_tl_wf *w = t->wfs[i];
		tl_put(&b, &len, &cap, "wf %s md=%s actor=%s status=%s sess=%s "
		       "del=%d\n", w->id, S(w->user_metadata), S(w->actor_class),
		       S(w->status), S(w->session), w->deleted);
		for (size_t k = 0; k < w->nchanges; k++) {
			const wf_tl_change *c = &w->changes[k];
			tl_put(&b, &len, &cap, " change %" PRIu64 " %" PRId64
			       " %s %s %s %d %s\n", c->seq, c->time_ns, S(c->what),
			       S(c->status), S(c->cause), c->attempt, S(c->session));
		}
		for (size_t k = 0; k < w->ntries; k++) {
			const wf_tl_try *r = &w->tries[k];
			tl_put(&b, &len, &cap, " try %s %s %d %d %" PRIu64 " %" PRIu64
			       " %" PRId64 " %" PRId64 " %s %s\n", S(r->step_id),
			       S(r->name), r->run, r->n, r->seq_start, r->seq_end,
			       r->start_ns, r->end_ns, S(r->outcome), S(r->error));
		}
	}
	return b;
}

/* The timeline of ids[0..n) of root's journal in nparts, as text, or
 * "error N: message". */
static char *tl_load(const char *root, const char *const *ids, size_t n,
                     int nparts, int *used)
{
	char jdir[600], err[600] = "";
	snprintf(jdir, sizeof jdir, "%s/journal", root);
	wf_timeline *t = NULL;
	int rc = wf_timeline_load_parts(jdir, ids, n, nparts, 0, used, &t, err,
	                                sizeof err);
	if (rc < 0) {
		char *e = malloc(700);
		CHECK(e != NULL);
		snprintf(e, 700, "error %d: %s", rc, err);
		return e;
	}
	char *x = tl_text(t);
	wf_timeline_free(t);
	return x;
}

/* For every id alone, and for three at once: 2 and 5 parts (which must
 * be used, unless want_parts is 0) give the one pass's timeline. */
static void compare_timelines(const char *root, char **ids, size_t n,
                              int want_parts)
{
	for (size_t k = 0; k <= n; k++) {
		/* k == n: three ids at once */
		const char *three[3] = {ids[0], ids[n / 2], ids[n - 1]};
		const char *const *v = k < n ? (const char *const *)&ids[k]
		                             : three;
		size_t nv = k < n ? 1 : 3;
		t_context("%s, timeline of %s%s", root, v[0], nv > 1 ? " and 2" : "");
		int used;
		char *one = tl_load(root, v, nv, 1, &used);
		CHECK_EQ_I64(used, 1);
		for (int parts = 2; parts <= 5; parts += 3) {
			char *p = tl_load(root, v, nv, parts, &used);
			CHECK_EQ_I64(used, want_parts ? parts : 1);
			CHECK_MSG(strcmp(one, p) == 0, "one pass:\n%s\n%d parts:\n%s",
			          one, parts, p);
			free(p);
		}
		free(one);
	}
	t_context("%s", "");
}

/* ---- wflow dump --workflow (replay/dumpfmt.c, wf_dump_parts) ---- */

typedef struct dump_out {
	char *b;
	size_t len, cap;
} dump_out;

/* A damage report, in the output where it was made. */
static void dump_report(void *ud, const wf_damage *d)
{
	dump_out *o = ud;
	tl_put(&o->b, &o->len, &o->cap, "[damage torn=%d %s %" PRIu64 " %s %"
	       PRIu64 "]\n", d->torn, d->file, d->offset, d->what, d->length);
}

/* dump's lines of the events f asks for, from seq `from` on, in nparts
 * (1: one pass, as wflow dump reads with --until), reports among them. */
static char *dump_text(const char *root, const wf_dump_filter *f,
                       uint64_t from, int nparts, int *used)
{
	char jdir[600];
	snprintf(jdir, sizeof jdir, "%s/journal", root);
	dump_out o = {malloc(4096), 0, 4096};
	CHECK(o.b != NULL);
	wf_reader_opts ro = WF_READER_OPTS_INIT;
	ro.on_damage = dump_report;
	ro.damage_ud = &o;
	wf_reader *r;
	CHECK_OK(wf_reader_open(&r, jdir, &ro));
	if (from > 1)
		CHECK_OK(wf_reader_seek(r, from));
	*used = 1;
	int rc = 1;
	if (nparts > 1)
		rc = wf_dump_parts(r, jdir, from, f, nparts, 0, dump_report, &o,
		                   &o.b, &o.cap, &o.len, used);
	CHECK_MSG(rc == 0 || nparts == 1, "%d parts: %d", nparts, rc);
	const wf_event *ev;
	int started = 0;
	while (nparts == 1 && (rc = wf_reader_next(r, &ev)) == 1)
		if (wf_dump_wanted(f, ev, &started))
			CHECK_OK(wf_dump_format(&o.b, &o.cap, &o.len, ev));
	if (rc < 0)
		tl_put(&o.b, &o.len, &o.cap, "error %d: %s\n", rc,
		       wf_reader_errmsg(r));
	wf_reader_close(r);
	tl_put(&o.b, &o.len, &o.cap, "%s", ""); /* (a NUL after) */
	return o.b;
}

/* For every id, with a few filters: 2 and 5 parts (which must be used)
 * print the one pass's lines, damage reports in place. @return lines. */
static size_t compare_dumps(const char *root, char **ids, size_t n)
{
	static const uint16_t types[] = {WF_EV_STEP_FAILED,
	                                 WF_EV_STATUS_CHANGED};
	size_t lines = 0;
	for (size_t k = 0; k < n; k++) {
		wf_dump_filter fv[3] = {{ids[k], NULL, NULL, 0, 0, 0},
		                        {ids[k], NULL, types, 2, 0, 0},
		                        {ids[k], NULL, NULL, 0, 0, 0}};
		for (int x = 0; x < 3; x++) {
			uint64_t from = x == 2 ? EVENTS / 3 : 1;
			t_context("%s, dump of %s, filter %d", root, ids[k], x);
			int used;
			char *one = dump_text(root, &fv[x], from, 1, &used);
			for (const char *p = one; (p = strchr(p, '\n')); p++)
				lines++;
			for (int parts = 2; parts <= 5; parts += 3) {
				char *p = dump_text(root, &fv[x], from, parts, &used);
				CHECK_EQ_I64(used, parts);
				CHECK_MSG(strcmp(one, p) == 0,
				          "one pass:\n%s\n%d parts:\n%s", one,
				          parts, p);
				free(p);
			}
			free(one);
		}
	}
	t_context("%s", "");
	return lines;
}

/* Damage the middle of segment i; then one pass and 2 parts fail alike. */
static void damaged_fails_alike(const char *clean, const char *id,
                                const char *name, size_t which)
{
	char root[512], jdir[600], path[700];
	t_subdir(root, sizeof root, name);
	CHECK(mkdir(root, 0755) == 0);
	char src[600];
	snprintf(src, sizeof src, "%s/journal", clean);
	snprintf(jdir, sizeof jdir, "%s/journal", root);
	t_copy_dir(src, jdir);
	static t_segs s;
	t_list_segments(jdir, &s);
	CHECK(which < s.n);
	t_seg_path(path, sizeof path, jdir, &s, which);
	t_flip(path, t_file_size(path) / 2, 0x40);
	answer one, two;
	int used;
	load(root, id, 1, &used, &one);
	CHECK_RC(one.rc, WF_ECORRUPT);
	CHECK_CONTAINS(one.err, s.name[which]);
	load(root, id, 2, &used, &two);
	check_same(&one, &two);
	CHECK_EQ_I64(used, 1); /* started again in one pass */
	const char *v[1] = {id};
	char *a = tl_load(root, v, 1, 1, &used);
	char *b = tl_load(root, v, 1, 2, &used);
	CHECK_MSG(strncmp(a, "error -4: ", 10) == 0, "%s", a);
	CHECK_MSG(strcmp(a, b) == 0, "%s\nvs %s", a, b);
	CHECK_EQ_I64(used, 1);
	free(a);
	free(b);
}

/* A copy of root's journal (in <scratch>/name, its path in out) with a
 * snapshot of its first third. */
static void snapshot_copy(const char *root, const char *name, char *out,
                          size_t outlen)
{
	char jdir[600], sdir[600], src[600];
	t_subdir(out, outlen, name);
	CHECK(mkdir(out, 0755) == 0);
	snprintf(src, sizeof src, "%s/journal", root);
	snprintf(jdir, sizeof jdir, "%s/journal", out);
	snprintf(sdir, sizeof sdir, "%s/snapshots", out);
	t_copy_dir(src, jdir);
	wf_fold *f;
	wf_reader *r;
	CHECK_OK(wf_fold_new(&f));
	CHECK_OK(wf_reader_open(&r, jdir, NULL));
	const wf_event *ev;
	char err[600];
	while (wf_reader_next(r, &ev) == 1) {
		CHECK_OK_MSG(wf_fold_apply(f, ev, err, sizeof err), err);
		if (ev->seq == EVENTS / 3)
			break;
	}
	CHECK_OK_MSG(wf_snapshot_write(NULL, sdir, wf_reader_journal_id(r), f,
	                               NULL, err, sizeof err),
	             err);
	wf_reader_close(r);
	wf_fold_free(f);
}

int main(void)
{
	char root[512];
	t_subdir(root, sizeof root, "parts");
	write_journal(root, 0);
	size_t nsegs = segments(root);
	CHECK_MSG(nsegs >= 20, "%zu segments", nsegs);

	/* Intact: 2 and 5 parts, for ids from all over the journal. */
	wf_fold *full;
	size_t n;
	char **ids = some_ids(root, 97, &n, &full);
	CHECK(n >= 30);
	compare_all(root, ids, n, full, 1);
	compare_timelines(root, ids, n, 1);
	CHECK(compare_dumps(root, ids, n) > 100);
	CHECK(compare_at(root, root, ids + n / 3, 4) > 0);
	{ /* --since TIME: not in parts (what is in depends on all before) */
		wf_dump_filter f = {ids[0], NULL, NULL, 0, 1, 1};
		char jdir[600];
		snprintf(jdir, sizeof jdir, "%s/journal", root);
		wf_reader *r;
		CHECK_OK(wf_reader_open(&r, jdir, NULL));
		char *b = NULL;
		size_t cap = 0, len = 0;
		int used;
		CHECK_EQ_I64(wf_dump_parts(r, jdir, 1, &f, 2, 0, NULL, NULL, &b,
		                           &cap, &len, &used), 1);
		CHECK_EQ_I64(len, 0);
		wf_reader_close(r);
	}

	/* Below min_bytes: one pass. */
	{
		wf_fold *f;
		char err[600];
		int used = 0;
		CHECK_OK_MSG(wf_fold_load_dir_parts(&f, root, ids[0], 2,
		                                    UINT64_MAX, &used, err,
		                                    sizeof err),
		             err);
		CHECK_EQ_I64(used, 1);
		wf_fold_free(f);
	}

	/* A torn tail (half a frame appended): tolerated, in parts too. */
	{
		char torn[512], jdir[600], src[600], path[700];
		t_subdir(torn, sizeof torn, "torn");
		CHECK(mkdir(torn, 0755) == 0);
		snprintf(src, sizeof src, "%s/journal", root);
		snprintf(jdir, sizeof jdir, "%s/journal", torn);
		t_copy_dir(src, jdir);
		static t_segs s;
		t_list_segments(jdir, &s);
		t_seg_path(path, sizeof path, jdir, &s, s.n - 1);
		size_t len;
		uint8_t *buf = t_read_file(path, &len);
		size_t nf;
		t_frame *fr = t_frames(path, &nf);
		/* The last frame again, cut in half. */
		uint8_t *more = malloc(len + fr[nf - 1].len / 2);
		memcpy(more, buf, len);
		memcpy(more + len, buf + fr[nf - 1].off, fr[nf - 1].len / 2);
		t_write_file(path, more, len + fr[nf - 1].len / 2);
		free(more);
		free(buf);
		free(fr);
		compare_all(torn, ids + n / 2, 3, full, 1);
		compare_timelines(torn, ids + n / 2, 3, 1);
		/* dump reports the tail, after the last part's lines */
		wf_dump_filter f = {ids[n / 2], NULL, NULL, 0, 0, 0};
		int used;
		char *one = dump_text(torn, &f, 1, 1, &used);
		CHECK_CONTAINS(one, "[damage torn=1 ");
		free(one);
		compare_dumps(torn, ids + n / 2, 3);
	}

	/* Damage in the first part, and in the last. */
	damaged_fails_alike(root, ids[n / 2], "dmg_first", 1);
	damaged_fails_alike(root, ids[n / 2], "dmg_last", nsegs - 2);

	/* A snapshot a third of the way: the parts start after it. */
	{
		char snap[512];
		snapshot_copy(root, "snap", snap, sizeof snap);
		compare_all(snap, ids, n, full, 1);
		/* --at before the snapshot's end: not from it; after: from
		 * it, and in parts after it */
		compare_at(snap, root, ids + n / 3, 4);
		/* Its journal without its first segment: a time after the
		 * snapshot's events is still answered (from it), one before
		 * is refused, naming the missing events. */
		char jdir[600], first[700];
		t_segs sg;
		snprintf(jdir, sizeof jdir, "%s/journal", snap);
		t_list_segments(jdir, &sg);
		CHECK(sg.n > 2 && sg.first_seq[1] <= EVENTS / 3);
		t_seg_path(first, sizeof first, jdir, &sg, 0);
		CHECK(unlink(first) == 0);
		wf_fold_at late = {1, 0, time_of(root, EVENTS / 2)};
		wf_fold_at early = {1, 0, time_of(root, EVENTS / 5)};
		for (size_t k = n / 3; k < n / 3 + 4; k++) {
			answer a;
			int used;
			load_at(snap, ids[k], &late, 2, &used, &a);
			CHECK_OK_MSG(a.rc, a.err);
			wf_fold *ref = fold_upto(root, &late);
			char *m = fold_meta_text(ref, ids[k], NULL);
			CHECK_MSG(strcmp(m, a.meta) == 0, "reference %s\nvs %s", m,
			          a.meta);
			free(m);
			wf_fold_free(ref);
			answer_free(&a);
			load_at(snap, ids[k], &early, 2, &used, &a);
			CHECK_RC(a.rc, WF_ECORRUPT);
			CHECK_CONTAINS(a.err, "no usable snapshot from before that "
			                      "time");
			answer_free(&a);
		}
	}

	/* The wall clock an hour ahead for one event before the snapshot,
	 * set right back after: a time after the snapshot's end but before
	 * that event's time stops at that event; the snapshot, which
	 * folded it, is not used. */
	{
		char jroot[512], jsnap[512];
		t_subdir(jroot, sizeof jroot, "jump");
		clock_jump_at = EVENTS / 4;
		write_journal(jroot, 0);
		clock_jump_at = 0;
		snapshot_copy(jroot, "jumpsnap", jsnap, sizeof jsnap);
		compare_at(jsnap, jroot, ids + n / 3, 4);
	}

	/* A type this version does not know and may not skip, 3/4 of the
	 * way: WF_EINCOMPAT naming it, in parts as in one pass. */
	{
		char inc[512];
		t_subdir(inc, sizeof inc, "incompat");
		write_journal(inc, 0x7ff1);
		answer one, two;
		int used;
		load(inc, ids[0], 1, &used, &one);
		CHECK_RC(one.rc, WF_EINCOMPAT);
		CHECK_CONTAINS(one.err, "unknown event type");
		load(inc, ids[0], 2, &used, &two);
		check_same(&one, &two);
	}

	for (size_t k = 0; k < n; k++)
		free(ids[k]);
	free(ids);
	wf_fold_free(full);
	return 0;
}
