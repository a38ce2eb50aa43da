/*
 * Retention (wf_config.retention_s; journal.h, wf_journal_retire_plan):
 * segments that both kept snapshots cover and that are older than the
 * bound are deleted; everything else stays.
 *
 *  - plan: a journal of 9 segments whose events carry chosen times (about
 *    an hour per segment): the plan takes the oldest segments whose next
 *    segment starts at or before `upto` and whose next segment's first
 *    event is older than the bound, never the last segment, never a gap
 *    (stops at the first that may not go); retiring it deletes exactly
 *    those files; a reader then starts at the first kept event; a reader
 *    whose first segment is deleted after it opened starts at the next.
 *  - a deletion that fails (EIO from the third unlink): WF_EIO naming the
 *    file, the two oldest gone, the rest a whole suffix that reads and
 *    takes commits.
 *  - engine: 200 workflows (one failing, left FAILED) with a snapshot
 *    every 40 events and 4 KiB segments, then 1.2 s later 100 more, with
 *    retention_s = 1: old segments are gone, the journal starts after
 *    event 1 but at or before the older snapshot's last event, the
 *    journal says "segments retired" naming what, and reopened the engine
 *    answers exactly as before its close (list, every workflow's metadata,
 *    outputs), resumes the failed workflow, and runs new ones.
 *  - the same history with retention_s = 0 (default), with retention_s =
 *    3600 (nothing old enough) and with retention_s set in a version 4
 *    wf_config (not read): no segment is deleted.
 *  - both snapshots damaged: wf_open fails with WF_ECORRUPT naming the
 *    missing events, changes no file of the journal; with the older
 *    snapshot put back it opens and answers as before.
 *  - every record block of the newest snapshot damaged, restored lazily
 *    (no block checked at the open): a workflow's metadata fails with
 *    WF_ECORRUPT, saying its block cannot be rebuilt from a journal that
 *    starts at event N.
 *  - the tools (argv[1]: the wflow binary): verify says "retired" and
 *    exits 0; without snapshots it calls the missing events damage (exit
 *    1) and ls fails naming them; meta and ls work from the snapshot;
 *    meta --at an event or a time before the journal's start exits 1
 *    naming the missing events, --at a time after the snapshot's events
 *    answers; history of a workflow created before the start
 *    begins with that and shows its later resume, of one with no event
 *    left says the history was retired (exit 1); stats says where the
 *    journal starts.
 */
#include <stdarg.h>
#include <sys/wait.h>

#include "engine_util.h"
#include "journal/journal.h"
#include "journal/varint.h"
#include "replay/events.h"
#include "replay/snapshot.h"

static const char *wflow_bin;

/* ---- the plan, on a journal with chosen times ------------------------- */

#define HOUR ((int64_t)3600 * 1000000000)

/* The timed journal's options: 4 KiB segments. */
static void timed_opts(wf_journal_opts *o)
{
	t_opts_default(o);
	o->segment_size = 4096;
}

/* In a new test directory name (its path in dir): 8 full segments and a
 * ninth begun, segment k's events at time k hours (from 1 h). @return the
 * number of events. */
static uint64_t write_timed(const char *name, char *dir, size_t dirlen,
                           t_segs *segs)
{
	t_subdir(dir, dirlen, name);
	wf_journal_opts o;
	timed_opts(&o);
	o.durability = WF_DURABILITY_NONE;
	wf_journal *j = t_open_writer(dir, &o);
	wf_batch *b;
	CHECK_OK(wf_batch_new(&b));
	uint64_t n = 0;
	char pad[200];
	memset(pad, 'x', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	for (;;) {
		t_list_segments(dir, segs);
		if (segs->n == 9)
			break; /* (the ninth is the one being written) */
		wf_event ev = {0};
		ev.type = 7;
		ev.time_ns = (int64_t)segs->n * HOUR;
		ev.nfields = 2;
		ev.fields[0] = wf_field_u(n);
		ev.fields[1] = wf_field_text(pad, strlen(pad) - (n * 7) % 100);
		CHECK_OK(wf_batch_add(b, &ev));
		uint64_t first;
		CHECK_OK(wf_journal_commit(j, b, &first));
		CHECK_EQ_U64(first, n + 1);
		n++;
	}
	wf_batch_free(b);
	CHECK_OK(wf_journal_close(j));
	t_list_segments(dir, segs);
	return n;
}

static void check_plan(void)
{
	t_context("plan");
	char dir[512], path[600];
	t_segs s, after;
	uint64_t n = write_timed("plan", dir, sizeof dir, &s);
	CHECK_MSG(s.n == 9, "%zu segments", s.n);
	wf_journal_opts o;
	timed_opts(&o);
	wf_journal *j = t_open_writer(dir, &o);
	wf_retire_plan p;

	/* Nothing is older than 1 h: none. */
	CHECK_OK(wf_journal_retire_plan(j, n, HOUR, &p));
	CHECK_EQ_U64(p.segments, 0);
	/* Older than 2.5 h: the segments whose next one starts before it.
	 * The first event of a segment is the one that did not fit in the
	 * one before, so it has that one's time: segment 2 (index 1) starts
	 * at 1 h, segment 3 at 2 h, segment 4 at 3 h. So segments 1 and 2
	 * go. */
	CHECK_OK(wf_journal_retire_plan(j, n, 2 * HOUR + HOUR / 2, &p));
	CHECK_EQ_U64(p.segments, 2);
	CHECK_EQ_U64(p.first_seq, 1);
	CHECK_EQ_U64(p.last_seq, s.first_seq[2] - 1);
	uint64_t bytes = 0;
	for (size_t i = 0; i < 2; i++) {
		t_seg_path(path, sizeof path, dir, &s, i);
		bytes += t_file_size(path);
	}
	CHECK_EQ_U64(p.bytes, bytes);
	/* Everything old: bounded by upto instead (the segment holding
	 * upto stays, and those after it). */
	CHECK_OK(wf_journal_retire_plan(j, s.first_seq[4], 100 * HOUR, &p));
	CHECK_EQ_U64(p.segments, 4);
	CHECK_EQ_U64(p.last_seq, s.first_seq[4] - 1);
	CHECK_OK(wf_journal_retire_plan(j, s.first_seq[4] - 1, 100 * HOUR, &p));
	CHECK_EQ_U64(p.segments, 3);
	/* Never the last segment, whatever upto and the bound say. */
	CHECK_OK(wf_journal_retire_plan(j, UINT64_MAX, INT64_MAX, &p));
	CHECK_EQ_U64(p.segments, s.n - 1);

	/* Retire three. */
	CHECK_OK(wf_journal_retire_plan(j, s.first_seq[3], 100 * HOUR, &p));
	CHECK_EQ_U64(p.segments, 3);
	uint64_t done;
	CHECK_OK(wf_journal_retire(j, &p, &done));
	CHECK_EQ_U64(done, 3);
	t_list_segments(dir, &after);
	CHECK_EQ_U64(after.n, s.n - 3);
	for (size_t i = 0; i < after.n; i++)
		CHECK(strcmp(after.name[i], s.name[i + 3]) == 0);
	/* Again: nothing more goes (the next candidate starts after upto). */
	CHECK_OK(wf_journal_retire_plan(j, s.first_seq[3], 100 * HOUR, &p));
	CHECK_EQ_U64(p.segments, 0);
	CHECK_OK(wf_journal_close(j));

	/* A reader starts at the first kept event and reads to the end. */
	wf_reader_opts ro;
	t_ropts_default(&ro);
	wf_reader *r = t_open_reader(dir, &ro);
	const wf_event *ev;
	CHECK_RC(wf_reader_next(r, &ev), 1);
	CHECK_EQ_U64(ev->seq, s.first_seq[3]);
	uint64_t last = ev->seq;
	int rc;
	while ((rc = wf_reader_next(r, &ev)) == 1)
		CHECK_EQ_U64(ev->seq, ++last);
	CHECK_RC(rc, 0);
	CHECK_EQ_U64(last, n);
	wf_reader_close(r);

	/* A segment deleted between a reader's open and its first read. */
	r = t_open_reader(dir, &ro);
	t_seg_path(path, sizeof path, dir, &after, 0);
	CHECK(unlink(path) == 0);
	CHECK_RC(wf_reader_next(r, &ev), 1);
	CHECK_EQ_U64(ev->seq, after.first_seq[1]);
	wf_reader_close(r);
	t_context("%s", "");
}

/* An I/O table whose unlink of the nth file (from 1) fails with EIO. */
static int unlink_calls, unlink_fail_at;

static int failing_unlink(void *ctx, const char *path)
{
	if (++unlink_calls == unlink_fail_at)
		return -EIO;
	return wf_io_posix()->unlink(ctx, path);
}

/* A deletion that fails half way leaves a suffix and says which file. */
static void check_retire_fails(void)
{
	t_context("a deletion fails");
	char dir[512], path[600];
	t_segs s, after;
	uint64_t n = write_timed("plan_fail", dir, sizeof dir, &s);
	wf_io io = *wf_io_posix();
	io.unlink = failing_unlink;
	wf_journal_opts o;
	timed_opts(&o);
	o.io = &io;
	wf_journal *j = t_open_writer(dir, &o);
	wf_retire_plan p;
	CHECK_OK(wf_journal_retire_plan(j, n, 100 * HOUR, &p));
	CHECK_EQ_U64(p.segments, s.n - 1);
	unlink_calls = 0;
	unlink_fail_at = 3;
	uint64_t done;
	CHECK_RC(wf_journal_retire(j, &p, &done), WF_EIO);
	CHECK_EQ_U64(done, 2);
	t_seg_path(path, sizeof path, dir, &s, 2);
	CHECK_CONTAINS(wf_journal_errmsg(j), path);
	t_list_segments(dir, &after);
	CHECK_EQ_U64(after.n, s.n - 2);
	CHECK(strcmp(after.name[0], s.name[2]) == 0);
	/* The journal is still whole from there on, and takes commits. */
	wf_batch *b;
	CHECK_OK(wf_batch_new(&b));
	wf_event ev = {0};
	ev.type = 7;
	ev.nfields = 1;
	ev.fields[0] = wf_field_u(1);
	CHECK_OK(wf_batch_add(b, &ev));
	uint64_t first;
	CHECK_OK(wf_journal_commit(j, b, &first));
	CHECK_EQ_U64(first, n + 1);
	wf_batch_free(b);
	CHECK_OK(wf_journal_close(j));
	wf_reader_opts ro;
	t_ropts_default(&ro);
	uint64_t last = 0;
	wf_reader *r = t_open_reader(dir, &ro);
	const wf_event *e;
	int rc;
	while ((rc = wf_reader_next(r, &e)) == 1) {
		CHECK(last == 0 ? e->seq == s.first_seq[2] : e->seq == last + 1);
		last = e->seq;
	}
	CHECK_RC(rc, 0);
	CHECK_EQ_U64(last, n + 1);
	wf_reader_close(r);
	unlink_fail_at = 0;
	t_context("%s", "");
}

/* ---- the engine ----------------------------------------------------------- */

static e_probe fails; /* the failing workflow's step */

static wf_engine *open_ret(const char *dir, uint64_t retention_s,
                           unsigned version, uint64_t every)
{
	wf_config cfg = WF_CONFIG_INIT;
	wf_engine *e = NULL;
	cfg.durability = WF_SYNC_NONE;
	cfg.workers = 4;
	cfg.segment_size = 4096;
	cfg.snapshot_every = every;
	cfg.retention_s = retention_s;
	cfg.version = version;
	int rc = wf_open(&e, dir, &cfg);
	CHECK_MSG(rc == 0, "wf_open %s: %s", dir, e ? wf_errmsg(e) : "?");
	return e;
}

/* Workflows w-<from>..w-<to-1>, each a chain of two adds with metadata;
 * w-00007 fails (its second step) if from is 0. */
static void run_range(wf_engine *e, int from, int to)
{
	wf_step *add = e_define(e, "add", e_step_add, NULL, NULL);
	wf_step *bad = e_define(e, "bad", e_step_add, &fails, NULL);
	for (int i = from; i < to; i++) {
		char id[32], md[64], args[64];
		snprintf(id, sizeof id, "w-%05d", i);
		snprintf(md, sizeof md, "{\"n\": %d}", i);
		snprintf(args, sizeof args, "[%d, %d]", i, 2 * i);
		wf_node *first = e_node(add, NULL, args);
		wf_node *second = e_node(i == 7 ? bad : add, NULL, "[1]");
		e_arg_node(second, first);
		cJSON *m = e_json(md);
		atomic_store(&fails.fail, i == 7);
		int rc = wf_run(e, second, id, m, NULL);
		cJSON_Delete(m);
		if (i == 7)
			CHECK_MSG(rc != 0, "w-00007 did not fail");
		else
			CHECK_E(e, rc);
	}
	atomic_store(&fails.fail, 0);
}

/* Everything the engine answers: the list, then each workflow's metadata
 * and output (rc and value). */
static char *state(wf_engine *e)
{
	cJSON *all = cJSON_CreateObject(), *l = NULL, *it;
	CHECK_E(e, wf_list_all(e, WF_STATUS_ALL, &l));
	cJSON_ArrayForEach(it, l)
	{
		const char *id =
		    cJSON_GetObjectItemCaseSensitive(it, "workflow_id")->valuestring;
		cJSON *m = e_meta(e, id, NULL), *out = NULL;
		int rc = wf_get_output(e, id, &out);
		cJSON *x = cJSON_CreateObject();
		cJSON_AddItemToObject(x, "meta", m);
		cJSON_AddNumberToObject(x, "output_rc", rc);
		if (out)
			cJSON_AddItemToObject(x, "output", out);
		cJSON_AddItemToObject(all, id, x);
	}
	cJSON_AddItemToObject(all, "(list)", l);
	char *s = cJSON_PrintUnformatted(all);
	cJSON_Delete(all);
	return s;
}

/* The snapshots' last seqs in dir/snapshots, newest first (up to 4). */
static int snapshots(const char *dir, uint64_t *seq)
{
	char sdir[600];
	t_path(sdir, sizeof sdir, dir, "snapshots");
	DIR *d = opendir(sdir);
	CHECK(d != NULL);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 24 && strstr(de->d_name, ".wfs") &&
		    n < 4)
			seq[n++] = strtoull(de->d_name, NULL, 10);
	closedir(d);
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && seq[k - 1] < seq[k]; k--) {
			uint64_t t = seq[k];
			seq[k] = seq[k - 1];
			seq[k - 1] = t;
		}
	return n;
}

/* The "segments retired" notices' texts in dir's journal, "; "-joined. */
static void retired_notices(const char *dir, char *out, size_t n)
{
	char jdir[600];
	t_path(jdir, sizeof jdir, dir, "journal");
	wf_reader_opts ro;
	t_ropts_default(&ro);
	wf_reader *r = t_open_reader(jdir, &ro);
	const wf_event *ev;
	int rc;
	out[0] = '\0';
	while ((rc = wf_reader_next(r, &ev)) == 1) {
		char what[64], text[600];
		if (ev->type != WF_EV_NOTICE ||
		    wf_event_text(ev, 0, what, sizeof what) < 0 ||
		    strcmp(what, "segments retired") != 0)
			continue;
		CHECK(wf_event_text(ev, 1, text, sizeof text) >= 0);
		size_t used = strlen(out);
		snprintf(out + used, n - used, "%s%s", used ? "; " : "", text);
	}
	CHECK_RC(rc, 0);
	wf_reader_close(r);
}

/* A history: 200 workflows, 1.2 s, 100 more, closed. @return the state
 * before the close. */
static char *history(const char *dir, uint64_t retention_s, unsigned version)
{
	wf_engine *e = open_ret(dir, retention_s, version, 40);
	run_range(e, 0, 200);
	e_sleep_ms(1200);
	run_range(e, 200, 300);
	char *s = state(e);
	e_close(e);
	return s;
}

static void first_segment(const char *dir, t_segs *s)
{
	char jdir[600];
	t_path(jdir, sizeof jdir, dir, "journal");
	t_list_segments(jdir, s);
	CHECK(s->n > 0);
}

/* wflow's exit code for the command line cmd; the end of its stdout and
 * stderr (all of it read) in out. */
static int run_wflow(const char *args, char *out, size_t n)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "%s %s 2>&1", wflow_bin, args);
	FILE *p = popen(cmd, "r");
	CHECK(p != NULL);
	size_t got = 0, r;
	char buf[4096];
	while ((r = fread(buf, 1, sizeof buf, p)) > 0) {
		if (r > n - 1) {
			memcpy(out, buf + r - (n - 1), n - 1);
			got = n - 1;
			continue;
		}
		if (got + r > n - 1) { /* keep the last n - 1 bytes */
			size_t drop = got + r - (n - 1);
			memmove(out, out + drop, got - drop);
			got -= drop;
		}
		memcpy(out + got, buf, r);
		got += r;
	}
	out[got] = '\0';
	int st = pclose(p);
	CHECK(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Run wflow with the arguments fmt formats; fail the test (at the
 * caller's line) unless it exits with code. @return the end of its
 * output (stdout and stderr), until the next call. */
static const char *wflow_at(const char *file, int line, int code,
                            const char *fmt, ...) T_PRINTF(4, 5);
static const char *wflow_at(const char *file, int line, int code,
                            const char *fmt, ...)
{
	static char out[4096];
	char args[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	int got = run_wflow(args, out, sizeof out);
	if (got != code)
		t_fail(file, line, "wflow %s: exit %d, expected %d: %s", args, got,
		       code, out);
	return out;
}
#define WFLOW(code, ...) wflow_at(__FILE__, __LINE__, code, __VA_ARGS__)

static void check_engine(void)
{
	char a[512], b[512], path[700], msg[4096];
	t_segs s;
	uint64_t snaps[4];

	/* Retention on. */
	t_context("retention_s = 1");
	t_subdir(a, sizeof a, "a");
	char *before = history(a, 1, WF_CONFIG_VERSION);
	first_segment(a, &s);
	int ns = snapshots(a, snaps);
	CHECK_MSG(ns == 2, "%d snapshots", ns);
	CHECK_MSG(s.first_seq[0] > 1, "no segment was deleted");
	CHECK_MSG(s.first_seq[0] <= snaps[1], "journal starts at %" PRIu64
	          ", the older snapshot ends at %" PRIu64, s.first_seq[0],
	          snaps[1]);
	retired_notices(a, msg, sizeof msg);
	CHECK_CONTAINS(msg, "events 1..");
	CHECK_CONTAINS(msg, "older than retention_s (1 s)");
	/* The last notice names the journal's start. */
	char want[64];
	snprintf(want, sizeof want, "..%" PRIu64 " (", s.first_seq[0] - 1);
	CHECK_CONTAINS(msg, want);

	/* Reopened: as before the close; the failed one resumes. No
	 * periodic snapshot this time: at the close, every event is old
	 * and the older snapshot (the last close's) bounds what goes. */
	wf_engine *e = open_ret(a, 1, WF_CONFIG_VERSION, 1000000);
	char *after = state(e);
	CHECK_MSG(strcmp(before, after) == 0, "state differs after reopen:\n"
	          "%.600s\n%.600s", before, after);
	free(after);
	CHECK_STATUS(e, "w-00007", WF_STATUS_FAILED);
	wf_step *add = e_define(e, "add", e_step_add, NULL, NULL);
	e_define(e, "bad", e_step_add, &fails, NULL);
	cJSON *out = NULL;
	CHECK_E(e, wf_resume(e, "w-00007", &out));
	CHECK_OUT_NUM(out, 7 + 14 + 1);
	cJSON_Delete(out);
	out = NULL;
	CHECK_E(e, wf_run(e, e_node(add, NULL, "[40, 2]"), "new", NULL, &out));
	CHECK_OUT_NUM(out, 42);
	cJSON_Delete(out);
	run_range(e, 1000, 1030);
	e_sleep_ms(1200);
	e_close(e);
	uint64_t last_close = snaps[0];
	first_segment(a, &s);
	ns = snapshots(a, snaps);
	CHECK_MSG(ns == 2 && snaps[1] == last_close, "%d snapshots, the older "
	          "ends at %" PRIu64 " (the last close's at %" PRIu64 ")", ns,
	          snaps[1], last_close);
	/* The older snapshot's last event is still in the journal, and
	 * the segments before its own are gone. */
	CHECK_MSG(s.n >= 2 && s.first_seq[0] <= snaps[1] &&
	          snaps[1] < s.first_seq[1],
	          "journal starts at %" PRIu64 ", then %" PRIu64 "; the older "
	          "snapshot ends at %" PRIu64, s.first_seq[0],
	          s.n > 1 ? s.first_seq[1] : 0, snaps[1]);

	/* The tools. */
	if (wflow_bin) {
		const char *m = WFLOW(0, "verify %s", a);
		CHECK_CONTAINS(m, "retired     events 1 .. ");
		CHECK_CONTAINS(m, "result      intact");
		CHECK_CONTAINS(WFLOW(0, "meta %s w-00001", a), "\"SUCCESSFUL\"");
		CHECK_CONTAINS(WFLOW(0, "ls %s", a), "w-00299");
		CHECK_CONTAINS(WFLOW(1, "meta %s w-00001 --at 2", a),
		               "the journal starts at event");
		/* a time after the snapshot's events: from it */
		CHECK_CONTAINS(WFLOW(0, "meta %s w-00001 --at @%lld", a,
		                     (long long)time(NULL) + 86400),
		               "\"SUCCESSFUL\"");
		CHECK_CONTAINS(WFLOW(1, "meta %s w-00001 --at @1", a),
		               "no usable snapshot from before that time");
		/* history: from the journal's start on, and says so */
		m = WFLOW(0, "history %s w-00007", a);
		CHECK_CONTAINS(m, "created before the journal's first event");
		CHECK_CONTAINS(m, "attempt 2 started (resume");
		CHECK_CONTAINS(WFLOW(1, "history %s w-00001", a),
		               "the history before it was retired");
		CHECK_CONTAINS(WFLOW(0, "stats %s", a),
		               "(the journal's oldest segments were deleted)");
	}

	/* Both snapshots damaged: the open fails, the journal unchanged. */
	t_context("both snapshots damaged");
	t_subdir(b, sizeof b, "b");
	char jb[600], sb[600], ja[600], sa[600];
	t_path(jb, sizeof jb, b, "journal");
	t_path(sb, sizeof sb, b, "snapshots");
	t_path(ja, sizeof ja, a, "journal");
	t_path(sa, sizeof sa, a, "snapshots");
	CHECK(mkdir(b, 0755) == 0);
	t_copy_dir(ja, jb);
	t_copy_dir(sa, sb);
	char keep[2][700];
	ns = snapshots(b, snaps);
	CHECK(ns == 2);
	for (int i = 0; i < 2; i++) {
		char name[32];
		snprintf(name, sizeof name, "%020" PRIu64 ".wfs", snaps[i]);
		t_path(keep[i], sizeof keep[i], sb, name);
		t_flip(keep[i], 20, 0x40); /* the header's journal id */
	}
	t_segs sb0, sb1;
	t_list_segments(jb, &sb0);
	uint64_t sizes[T_MAX_SEGS];
	for (size_t i = 0; i < sb0.n; i++) {
		t_seg_path(path, sizeof path, jb, &sb0, i);
		sizes[i] = t_file_size(path);
	}
	wf_config cfg = WF_CONFIG_INIT;
	cfg.retention_s = 1;
	e = NULL;
	CHECK_RC(wf_open(&e, b, &cfg), WF_ECORRUPT);
	CHECK_CONTAINS(wf_errmsg(e), "starts at event");
	snprintf(want, sizeof want, "events 1..%" PRIu64 " are not in it",
	         sb0.first_seq[0] - 1);
	CHECK_CONTAINS(wf_errmsg(e), want);
	CHECK_CONTAINS(wf_errmsg(e), "no usable snapshot");
	wf_close(e);
	t_list_segments(jb, &sb1);
	CHECK_EQ_U64(sb1.n, sb0.n);
	for (size_t i = 0; i < sb0.n; i++) {
		CHECK(strcmp(sb0.name[i], sb1.name[i]) == 0);
		t_seg_path(path, sizeof path, jb, &sb0, i);
		CHECK_EQ_U64(t_file_size(path), sizes[i]);
	}
	if (wflow_bin) {
		const char *m = WFLOW(1, "verify %s", b);
		CHECK_CONTAINS(m, "are missing");
		CHECK_CONTAINS(m, "result      DAMAGED");
		CHECK_CONTAINS(WFLOW(1, "ls %s", b), "the journal starts at event");
	}
	/* The older one back: it opens from it, as it was. */
	t_flip(keep[1], 20, 0x40);
	e = open_ret(b, 1, WF_CONFIG_VERSION, 40);
	CHECK_STATUS(e, "w-00007", WF_STATUS_SUCCESSFUL);
	CHECK_STATUS(e, "new", WF_STATUS_SUCCESSFUL);
	CHECK_STATUS(e, "w-00299", WF_STATUS_SUCCESSFUL);
	CHECK_STATUS(e, "w-01029", WF_STATUS_SUCCESSFUL);
	e_close(e);

	/* A damaged block of a lazily restored snapshot cannot be rebuilt
	 * from a journal without its start: the workflows in it fail,
	 * saying why; the others answer. */
	t_context("a damaged block, lazily restored");
	char c[512], jc[600], sc[600], newest[700];
	t_subdir(c, sizeof c, "c");
	t_path(jc, sizeof jc, c, "journal");
	t_path(sc, sizeof sc, c, "snapshots");
	CHECK(mkdir(c, 0755) == 0);
	t_copy_dir(ja, jc);
	t_copy_dir(sa, sc);
	ns = snapshots(c, snaps);
	{
		char name[32];
		snprintf(name, sizeof name, "%020" PRIu64 ".wfs", snaps[0]);
		t_path(newest, sizeof newest, sc, name);
	}
	size_t flen;
	uint8_t *fb = t_read_file(newest, &flen);
	uint32_t nb = wf_get_u32(fb + 64 + 8);
	CHECK(nb >= 2);
	for (uint32_t x = 1; x < nb; x++) { /* every record block */
		const uint8_t *ent = fb + 64 + 24 + 48 * (size_t)x;
		t_flip(newest, wf_get_u64(ent) + wf_get_u64(ent + 8) / 2, 0x10);
	}
	free(fb);
	wf_snapshot_set_lazy(0, 0, 0); /* no block checked at the open */
	e = open_ret(c, 0, WF_CONFIG_VERSION, 1000000);
	cJSON *m = NULL;
	CHECK_ERC(e, wf_get_metadata(e, "w-00001", NULL, &m), WF_ECORRUPT);
	CHECK_CONTAINS(wf_errmsg(e), "cannot be rebuilt");
	snprintf(want, sizeof want, "starts at event %" PRIu64,
	         s.first_seq[0]);
	CHECK_CONTAINS(wf_errmsg(e), want);
	wf_close(e);
	wf_snapshot_set_lazy((uint64_t)1 << 20, (uint64_t)64 << 20,
	                     (uint64_t)256 << 10); /* (the defaults) */

	/* Retention off, not old enough, or in a config that has no such
	 * field: every segment stays. */
	struct {
		const char *name;
		uint64_t retention_s;
		unsigned version;
	} off[] = {{"off", 0, WF_CONFIG_VERSION},
	           {"young", 3600, WF_CONFIG_VERSION},
	           {"v4", 1, 4}};
	for (size_t k = 0; k < sizeof off / sizeof off[0]; k++) {
		t_context("%s", off[k].name);
		char d[512];
		t_subdir(d, sizeof d, off[k].name);
		char *st = history(d, off[k].retention_s, off[k].version);
		first_segment(d, &s);
		CHECK_EQ_U64(s.first_seq[0], 1);
		CHECK_MSG(s.n > 10, "%zu segments", s.n);
		retired_notices(d, msg, sizeof msg);
		CHECK_MSG(msg[0] == '\0', "%s", msg);
		free(st);
	}
	free(before);
	t_context("%s", "");
}

int main(int argc, char **argv)
{
	wflow_bin = argc > 1 ? argv[1] : NULL;
	check_plan();
	check_retire_fails();
	check_engine();
	return 0;
}
