/*
 * wflow verify's logical checks (replay/logic.c), through the tool as a
 * user runs it (the wflow binary: argv[1]), on journals written here with
 * the journal API, event by event, physically intact. Each bad journal
 * holds exactly one logical problem:
 *   - a step_succeeded of a step that never started
 *   - an event of a workflow that was never created
 *   - a workflow created twice (no deletion between)
 *   - status SUCCESSFUL -> FAILED
 *   - a step_started after workflow_deleted
 * and verify must exit 1, count 1 logical error, name its event seq (on
 * stderr, and in --json "issues") and still say the frames are intact (no
 * damage ranges). More than 100 problems: 100 kept, the rest counted.
 * A clean journal (runs, retries, a failure caught by catch_exceptions:
 * step_failed then step_succeeded without a new start, a resume, cancels,
 * a continuation, an actor's calls, a delete and a new workflow with the
 * same id, a crash and a resume in a new session, a notice) exits 0 with
 * no issue, and the fold (wflow ls) accepts it. A journal whose event
 * times go back 3 times exits 0 with exactly one warning counting them.
 * The crash in the clean journal is also checked with wflow history:
 * "RESUMABLE (crash detected at open)", the running try INTERRUPTED; and
 * wflow stats counts the caught failure's step as one try.
 */
#include "test.h"

#include <sys/file.h>

#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "replay/events.h"

static const char *wflow_bin;

/* ---- writing a journal, one event per commit -------------------------- */

/* Event times: 2026-11-27T14:11:36Z, then 1 ms per event. */
static int64_t clock_ns = INT64_C(1795807896) * 1000000000;

typedef struct jw {
	char dir[300]; /* DIR (the journal is DIR/journal) */
	wf_journal *j;
	wf_batch *b;
	uint64_t n; /* events written */
} jw;

static void jw_open(jw *w, const char *name)
{
	char jdir[400];
	memset(w, 0, sizeof *w);
	t_subdir(w->dir, sizeof w->dir, name);
	CHECK(mkdir(w->dir, 0755) == 0);
	t_path(jdir, sizeof jdir, w->dir, "journal");
	wf_journal_opts o;
	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	int rc = wf_journal_open(&w->j, jdir, &o);
	CHECK_OK_MSG(rc, w->j ? wf_journal_errmsg(w->j) : "");
	CHECK_OK(wf_batch_new(&w->b));
}

static void jw_close(jw *w)
{
	CHECK_OK(wf_journal_close(w->j));
	wf_batch_free(w->b);
	w->j = NULL;
	w->b = NULL;
}

/*
 * Append one event of type with fields by fmt: 's' text, 'j' JSON text
 * (const char *), 'u' unsigned (int). Its time is 1 ms after the last
 * one's. @return its seq.
 */
static uint64_t ev(jw *w, uint16_t type, const char *fmt, ...)
{
	wf_event e;
	memset(&e, 0, sizeof e);
	e.type = type;
	clock_ns += 1000000;
	e.time_ns = clock_ns;
	va_list ap;
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++) {
		CHECK(e.nfields < WF_EVENT_MAX_FIELDS);
		if (*f == 'u') {
			e.fields[e.nfields++] = wf_field_u((uint64_t)va_arg(ap, int));
		} else {
			const char *s = va_arg(ap, const char *);
			e.fields[e.nfields++] = *f == 'j'
			                                ? wf_field_json(s, strlen(s))
			                                : wf_field_text(s, strlen(s));
		}
	}
	va_end(ap);
	CHECK_OK(wf_batch_add(w->b, &e));
	uint64_t seq = 0;
	CHECK_OK_MSG(wf_journal_commit(w->j, w->b, &seq),
	             wf_journal_errmsg(w->j));
	w->n++;
	CHECK_EQ_U64(seq, w->n);
	return seq;
}

/* The next event's time: ms milliseconds before the last one's. */
static void clock_back(int ms)
{
	clock_ns -= (int64_t)(ms + 1) * 1000000;
}

/* A DAG of one step (the engine's format, as wflow dump shows it). */
static const char *dag1(char *buf, size_t n, const char *step, int catch_exc)
{
	snprintf(buf, n,
	         "{\"steps\":[{\"id\":\"%s\",\"fn\":\"f\",\"name\":\"%s\","
	         "\"options\":{\"max_retries\":3,\"catch_exceptions\":%s,"
	         "\"checkpoint\":true,\"step_type\":\"FUNCTION\"},"
	         "\"user_metadata\":{},\"args\":[{\"value\":1}]}],"
	         "\"output\":\"%s\"}",
	         step, step, catch_exc ? "true" : "false", step);
	return buf;
}

static void session(jw *w, const char *s)
{
	ev(w, WF_EV_SESSION_STARTED, "sus", s, 4242, "testhost");
}

/* created, attempt 1 started (run), RUNNING: a workflow of one step. */
static uint64_t start(jw *w, const char *id, const char *step,
                      const char *sess)
{
	char dag[600];
	uint64_t seq = ev(w, WF_EV_WORKFLOW_CREATED, "sjj", id, "{}",
	                  dag1(dag, sizeof dag, step, 0));
	ev(w, WF_EV_ATTEMPT_STARTED, "suss", id, 1, "run", sess);
	ev(w, WF_EV_STATUS_CHANGED, "sss", id, "RUNNING", "run");
	return seq;
}

static void step_ok(jw *w, const char *id, const char *step)
{
	ev(w, WF_EV_STEP_STARTED, "ssu", id, step, 1);
	ev(w, WF_EV_STEP_SUCCEEDED, "ssuj", id, step, 1, "3");
}

/* output and SUCCESSFUL */
static uint64_t finish(jw *w, const char *id)
{
	ev(w, WF_EV_WORKFLOW_OUTPUT, "sj", id, "3");
	return ev(w, WF_EV_STATUS_CHANGED, "sss", id, "SUCCESSFUL", "run");
}

/* ---- running wflow ---------------------------------------------------- */

typedef struct run {
	int code; /* exit code; -1 if it did not exit */
	char *out, *err;
	char cmd[600];
} run;

static void run_free(run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

static char *slurp(const char *path)
{
	size_t n;
	uint8_t *b = t_read_file(path, &n);
	char *s = realloc(b, n + 1);
	CHECK(s);
	s[n] = '\0';
	return s;
}

/* Run wflow with the arguments (NULL-terminated); stdout and stderr are
 * kept in r. */
static void wflow(run *r, ...)
{
	const char *argv[16];
	int argc = 0;
	argv[argc++] = wflow_bin;
	va_list ap;
	va_start(ap, r);
	const char *a;
	size_t len = 0;
	r->cmd[0] = '\0';
	while ((a = va_arg(ap, const char *)) != NULL) {
		CHECK(argc < 15);
		argv[argc++] = a;
		int k = snprintf(r->cmd + len, sizeof r->cmd - len, "%s%s",
		                 len ? " " : "wflow ", a);
		if (k > 0 && (size_t)k < sizeof r->cmd - len)
			len += (size_t)k;
	}
	va_end(ap);
	argv[argc] = NULL;
	char out[300], err[300];
	t_subdir(out, sizeof out, "stdout");
	t_subdir(err, sizeof err, "stderr");
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
			_exit(127);
		execv(wflow_bin, (char *const *)argv);
		_exit(127);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	r->code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	r->out = slurp(out);
	r->err = slurp(err);
	t_context("%s\n--- stdout:\n%s--- stderr:\n%s", r->cmd, r->out,
	          r->err);
}

static int has(const char *s, const char *needle)
{
	return strstr(s, needle) != NULL;
}

static const cJSON *item(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	CHECK_MSG(v != NULL, "no \"%s\" in the JSON", key);
	return v;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = item(o, key);
	CHECK_MSG(cJSON_IsNumber(v), "\"%s\" is not a number", key);
	return v->valuedouble;
}

/* ---- the checks -------------------------------------------------------- */

/*
 * verify DIR: exit want_code; intact frames (no damage) and all nevents
 * read; errors logical errors and warnings warnings; the first issue (if
 * seq) at event seq, a warning or not, its text containing needle.
 */
static void expect_verify(const jw *w, int want_code, uint64_t errors,
                          uint64_t warnings, uint64_t seq, int warning,
                          const char *needle)
{
	run r;
	char want[700];

	/* Text: summary on stdout, issues on stderr. */
	wflow(&r, "verify", w->dir, NULL);
	CHECK_MSG(r.code == want_code, "exit %d, expected %d", r.code,
	          want_code);
	snprintf(want, sizeof want, "events      %" PRIu64 " (seq 1 .. %" PRIu64
	         ")\n", w->n, w->n);
	CHECK_CONTAINS(r.out, want);
	snprintf(want, sizeof want,
	         "logical     %" PRIu64 " error%s, %" PRIu64 " warning%s\n",
	         errors, errors == 1 ? "" : "s", warnings,
	         warnings == 1 ? "" : "s");
	CHECK_CONTAINS(r.out, want);
	CHECK_CONTAINS(r.out, errors ? "result      LOGICAL ERRORS: intact "
	                               "frames"
	                             : "result      intact\n");
	/* nothing physical: no damaged range, no "damaged" */
	CHECK(!has(r.out, "DAMAGED") && !has(r.err, "damaged") &&
	      !has(r.err, "offset"));
	if (errors)
		CHECK_CONTAINS(r.err, "journal has logical errors");
	if (seq) {
		snprintf(want, sizeof want, "wflow verify: %s%s/journal: event "
		         "seq %" PRIu64 ": ",
		         warning ? "warning: " : "logical error: ", w->dir, seq);
		CHECK_CONTAINS(r.err, want);
		CHECK_CONTAINS(strstr(r.err, want), needle);
	} else {
		CHECK_MSG(r.err[0] == '\0', "stderr not empty");
	}
	size_t lines = 0;
	for (const char *p = r.err; (p = strstr(p, "event seq ")) != NULL; p++)
		lines++;
	CHECK_EQ_U64(lines, errors + warnings < 100 ? errors + warnings : 100);
	run_free(&r);

	/* --json: one object; "issues" name the seq. */
	wflow(&r, "verify", "--json", w->dir, NULL);
	CHECK_MSG(r.code == want_code, "exit %d, expected %d", r.code,
	          want_code);
	cJSON *o = cJSON_Parse(r.out);
	CHECK_MSG(o != NULL, "not JSON");
	CHECK(cJSON_IsBool(item(o, "ok")) &&
	      cJSON_IsTrue(item(o, "ok")) == (want_code == 0));
	CHECK(cJSON_IsArray(item(o, "damage")) &&
	      cJSON_GetArraySize(item(o, "damage")) == 0);
	CHECK(cJSON_IsFalse(item(o, "torn")));
	CHECK_EQ_U64(num(o, "events"), w->n);
	CHECK_EQ_U64(num(o, "last_seq"), w->n);
	CHECK_EQ_U64(num(o, "logical_errors"), errors);
	CHECK_EQ_U64(num(o, "warnings"), warnings);
	const cJSON *is = item(o, "issues");
	CHECK(cJSON_IsArray(is));
	CHECK_EQ_U64(cJSON_GetArraySize(is),
	             errors + warnings < 100 ? errors + warnings : 100);
	if (seq) {
		const cJSON *x = cJSON_GetArrayItem(is, 0);
		CHECK_EQ_U64(num(x, "seq"), seq);
		CHECK(cJSON_IsBool(item(x, "warning")) &&
		      cJSON_IsTrue(item(x, "warning")) == warning);
		CHECK(cJSON_IsString(item(x, "what")));
		CHECK_CONTAINS(item(x, "what")->valuestring, needle);
	}
	cJSON_Delete(o);
	run_free(&r);
	t_context("%s", "");
}

static void bad_step_succeeded(void)
{
	jw w;
	jw_open(&w, "succeeded_not_started");
	session(&w, "s-1");
	start(&w, "w1", "a", "s-1");
	step_ok(&w, "w1", "a");
	uint64_t bad = ev(&w, WF_EV_STEP_SUCCEEDED, "ssuj", "w1", "b", 1, "4");
	finish(&w, "w1");
	jw_close(&w);
	expect_verify(&w, 1, 1, 0, bad, 0,
	              "step b of workflow w1 ends without having started");
}

static void bad_never_created(void)
{
	jw w;
	jw_open(&w, "never_created");
	session(&w, "s-1");
	start(&w, "w1", "a", "s-1");
	step_ok(&w, "w1", "a");
	finish(&w, "w1");
	uint64_t bad =
	        ev(&w, WF_EV_ATTEMPT_STARTED, "suss", "ghost", 1, "run", "s-1");
	jw_close(&w);
	expect_verify(&w, 1, 1, 0, bad, 0,
	              "attempt_started of workflow ghost, which does not exist");
}

static void bad_created_twice(void)
{
	jw w;
	char dag[600];
	jw_open(&w, "created_twice");
	session(&w, "s-1");
	start(&w, "w1", "a", "s-1");
	step_ok(&w, "w1", "a");
	finish(&w, "w1");
	uint64_t bad = ev(&w, WF_EV_WORKFLOW_CREATED, "sjj", "w1", "{}",
	                  dag1(dag, sizeof dag, "a", 0));
	/* what follows is fine for the workflow as it was: no more errors */
	ev(&w, WF_EV_ATTEMPT_STARTED, "suss", "w1", 1, "run", "s-1");
	ev(&w, WF_EV_STATUS_CHANGED, "sss", "w1", "RUNNING", "run");
	step_ok(&w, "w1", "a");
	finish(&w, "w1");
	jw_close(&w);
	expect_verify(&w, 1, 1, 0, bad, 0,
	              "workflow w1 created again without being deleted");
}

static void bad_successful_to_failed(void)
{
	jw w;
	jw_open(&w, "successful_failed");
	session(&w, "s-1");
	start(&w, "w1", "a", "s-1");
	step_ok(&w, "w1", "a");
	finish(&w, "w1");
	uint64_t bad = ev(&w, WF_EV_STATUS_CHANGED, "sss", "w1", "FAILED",
	                  "step failed");
	jw_close(&w);
	expect_verify(&w, 1, 1, 0, bad, 0,
	              "workflow w1: status SUCCESSFUL -> FAILED");
}

static void bad_started_after_delete(void)
{
	jw w;
	jw_open(&w, "started_after_delete");
	session(&w, "s-1");
	start(&w, "w1", "a", "s-1");
	step_ok(&w, "w1", "a");
	finish(&w, "w1");
	ev(&w, WF_EV_WORKFLOW_DELETED, "s", "w1");
	uint64_t bad = ev(&w, WF_EV_STEP_STARTED, "ssu", "w1", "a", 1);
	jw_close(&w);
	expect_verify(&w, 1, 1, 0, bad, 0,
	              "step_started of workflow w1, which does not exist");
}

/* 150 events of workflows never created: 100 issues kept, 150 counted. */
static void bad_many(void)
{
	jw w;
	jw_open(&w, "many");
	session(&w, "s-1");
	uint64_t first = 0;
	for (int i = 0; i < 150; i++) {
		char id[32];
		snprintf(id, sizeof id, "ghost-%d", i);
		uint64_t s = ev(&w, WF_EV_STEP_STARTED, "ssu", id, "a", 1);
		if (!first)
			first = s;
	}
	jw_close(&w);
	expect_verify(&w, 1, 150, 0, first, 0, "ghost-0, which does not exist");
	run r;
	wflow(&r, "verify", w.dir, NULL);
	CHECK_CONTAINS(r.err, "(50 more not shown)");
	run_free(&r);
	t_context("%s", "");
}

static void clean(void)
{
	jw w;
	char dag[600];
	jw_open(&w, "clean");
	session(&w, "s-1");

	/* w1: two steps, the second fails and catch_exceptions turns the
	 * failure into its output: step_failed, then step_succeeded without
	 * a new step_started. */
	ev(&w, WF_EV_WORKFLOW_CREATED, "sjj", "w1", "{\"k\":\"v\"}",
	   "{\"steps\":[{\"id\":\"a\",\"fn\":\"f\",\"name\":\"a\",\"options\":"
	   "{\"max_retries\":0,\"catch_exceptions\":false,\"checkpoint\":true,"
	   "\"step_type\":\"FUNCTION\"},\"user_metadata\":{},\"args\":[]},"
	   "{\"id\":\"b\",\"fn\":\"g\",\"name\":\"b\",\"options\":"
	   "{\"max_retries\":0,\"catch_exceptions\":true,\"checkpoint\":true,"
	   "\"step_type\":\"FUNCTION\"},\"user_metadata\":{},\"args\":"
	   "[{\"step\":\"a\"}]}],\"output\":\"b\"}");
	ev(&w, WF_EV_ATTEMPT_STARTED, "suss", "w1", 1, "run", "s-1");
	ev(&w, WF_EV_STATUS_CHANGED, "sss", "w1", "RUNNING", "run");
	step_ok(&w, "w1", "a");
	ev(&w, WF_EV_STEP_STARTED, "ssu", "w1", "b", 1);
	ev(&w, WF_EV_STEP_FAILED, "ssus", "w1", "b", 1, "ValueError: boom");
	ev(&w, WF_EV_STEP_SUCCEEDED, "ssuj", "w1", "b", 1,
	   "[null,\"ValueError: boom\"]");
	ev(&w, WF_EV_WORKFLOW_OUTPUT, "sj", "w1", "[null,\"ValueError: boom\"]");
	ev(&w, WF_EV_STATUS_CHANGED, "sss", "w1", "SUCCESSFUL", "run");

	/* w2: a retry: try 1 fails, try 2 succeeds. */
	start(&w, "w2", "c", "s-1");
	ev(&w, WF_EV_STEP_STARTED, "ssu", "w2", "c", 1);
	ev(&w, WF_EV_STEP_FAILED, "ssus", "w2", "c", 1, "IOError: flaky");
	ev(&w, WF_EV_STEP_STARTED, "ssu", "w2", "c", 2);
	ev(&w, WF_EV_STEP_SUCCEEDED, "ssuj", "w2", "c", 2, "5");
	finish(&w, "w2");

	/* w3: FAILED, resumed, FAILED again, then cancelled. */
	start(&w, "w3", "d", "s-1");
	ev(&w, WF_EV_STEP_STARTED, "ssu", "w3", "d", 1);
	ev(&w, WF_EV_STEP_FAILED, "ssus", "w3", "d", 1, "KeyError: x");
	ev(&w, WF_EV_STATUS_CHANGED, "sss", "w3", "FAILED", "step failed");
	ev(&w, WF_EV_ATTEMPT_STARTED, "suss", "w3", 2, "resume", "s-1");
	ev(&w, WF_EV_STATUS_CHANGED, "sss", "w3", "RUNNING", "resume");
	ev(&w, WF_EV_STEP_STARTED, "ssu", "w3", "d", 1);
	ev(&w, WF_EV_STEP_FAILED, "ssus", "w3", "d", 1, "KeyError: x");
	ev(&w, WF_EV_STATUS_CHANGED, "sss", "w3", "FAILED", "step failed");
	ev(&w, WF_EV_STATUS_CHANGED, "sss", "w3", "CANCELED", "cancel");

	/* w4: cancelled while its step runs. */
	start(&w, "w4", "e", "s-1");
	ev(&w, WF_EV_STEP_STARTED, "ssu", "w4", "e", 1);
	ev(&w, WF_EV_STATUS_CHANGED, "sss", "w4", "CANCELED", "cancel");

	/* w5: a step returns a nested step (continuation). */
	start(&w, "w5", "f", "s-1");
	ev(&w, WF_EV_STEP_STARTED, "ssu", "w5", "f", 1);
	ev(&w, WF_EV_CONTINUATION, "ssj", "w5", "f",
	   dag1(dag, sizeof dag, "f_1", 0));
	ev(&w, WF_EV_STEP_SUCCEEDED, "ssu", "w5", "f", 1);
	step_ok(&w, "w5", "f_1");
	finish(&w, "w5");

	/* an actor: created, two calls (RUNNING again after SUCCESSFUL) */
	ev(&w, WF_EV_ACTOR_CREATED, "ssj", "act", "Counter", "{\"n\":0}");
	for (int call = 0; call < 2; call++) {
		const char *step = call ? "incr_1" : "incr";
		char d[600];
		snprintf(d, sizeof d,
		         "{\"steps\":[{\"id\":\"%s\",\"fn\":\"Counter.incr\","
		         "\"name\":\"incr\",\"options\":{\"max_retries\":0,"
		         "\"catch_exceptions\":false,\"checkpoint\":true,"
		         "\"step_type\":\"ACTOR_METHOD\"},\"user_metadata\":{},"
		         "\"args\":[]}],\"output\":\"%s\"}",
		         step, step);
		ev(&w, WF_EV_ACTOR_CALL, "sj", "act", d);
		ev(&w, WF_EV_ATTEMPT_STARTED, "suss", "act", 2 + call, "call",
		   "s-1");
		ev(&w, WF_EV_STATUS_CHANGED, "sss", "act", "RUNNING", "call");
		ev(&w, WF_EV_STEP_STARTED, "ssu", "act", step, 1);
		ev(&w, WF_EV_ACTOR_STATE, "ssj", "act", step,
		   call ? "[{\"op\":\"replace\",\"path\":\"/n\",\"value\":2}]"
		        : "[{\"op\":\"replace\",\"path\":\"/n\",\"value\":1}]");
		ev(&w, WF_EV_STEP_SUCCEEDED, "ssuj", "act", step, 1, "null");
		ev(&w, WF_EV_WORKFLOW_OUTPUT, "sj", "act", "null");
		ev(&w, WF_EV_STATUS_CHANGED, "sss", "act", "SUCCESSFUL", "run");
	}

	/* w1 deleted, and a new workflow w1. */
	ev(&w, WF_EV_WORKFLOW_DELETED, "s", "w1");
	start(&w, "w1", "a", "s-1");
	step_ok(&w, "w1", "a");
	finish(&w, "w1");

	/* Something for auditors only. */
	ev(&w, WF_EV_NOTICE, "ss", "snapshot", "skipped: test");

	/* w6: RUNNING with its step running when the engine dies; the next
	 * session resumes it. */
	start(&w, "w6", "g", "s-1");
	uint64_t g_start = ev(&w, WF_EV_STEP_STARTED, "ssu", "w6", "g", 1);
	uint64_t crash = w.n + 1;
	session(&w, "s-2");
	ev(&w, WF_EV_ATTEMPT_STARTED, "suss", "w6", 2, "resume", "s-2");
	ev(&w, WF_EV_STATUS_CHANGED, "sss", "w6", "RUNNING", "resume");
	step_ok(&w, "w6", "g");
	finish(&w, "w6");
	jw_close(&w);

	expect_verify(&w, 0, 0, 0, 0, 0, NULL);

	/* The fold accepts it too. */
	run r;
	wflow(&r, "ls", w.dir, "--json", NULL);
	CHECK(r.code == 0);
	cJSON *l = cJSON_Parse(r.out);
	CHECK(l && cJSON_IsArray(l));
	CHECK_EQ_U64(cJSON_GetArraySize(l), 7); /* act, w1..w6 */
	cJSON_Delete(l);
	run_free(&r);

	/* history: the crash detected at the second session's start. */
	wflow(&r, "history", w.dir, "w6", "--json", NULL);
	CHECK(r.code == 0);
	cJSON *h = cJSON_Parse(r.out);
	CHECK(h);
	const cJSON *lives = item(h, "lives");
	CHECK_EQ_U64(cJSON_GetArraySize(lives), 1);
	const cJSON *life = cJSON_GetArrayItem(lives, 0);
	CHECK(!strcmp(item(life, "status")->valuestring, "SUCCESSFUL"));
	const cJSON *c, *crash_change = NULL;
	cJSON_ArrayForEach(c, item(life, "changes"))
	{
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(c, "status");
		if (cJSON_IsString(st) && !strcmp(st->valuestring, "RESUMABLE"))
			crash_change = c;
	}
	CHECK_MSG(crash_change, "no RESUMABLE change");
	CHECK_EQ_U64(num(crash_change, "seq"), crash);
	CHECK(!strcmp(item(crash_change, "cause")->valuestring,
	              "crash detected at open"));
	const cJSON *tries = item(life, "tries");
	CHECK_EQ_U64(cJSON_GetArraySize(tries), 2);
	const cJSON *t0 = cJSON_GetArrayItem(tries, 0),
	            *t1 = cJSON_GetArrayItem(tries, 1);
	CHECK_EQ_U64(num(t0, "seq"), g_start);
	CHECK(!strcmp(item(t0, "outcome")->valuestring, "INTERRUPTED"));
	CHECK_EQ_U64(num(t0, "run"), 1);
	CHECK(!strcmp(item(t1, "outcome")->valuestring, "SUCCEEDED"));
	CHECK_EQ_U64(num(t1, "run"), 2);
	cJSON_Delete(h);
	run_free(&r);
	wflow(&r, "history", w.dir, "w6", NULL);
	CHECK(r.code == 0);
	CHECK_CONTAINS(r.out, "RESUMABLE (crash detected at open)");
	CHECK_CONTAINS(r.out, "step g try 1 (attempt 1): INTERRUPTED");
	CHECK_CONTAINS(r.out, "attempt 2 started (resume, session s-2)");
	run_free(&r);

	/* history of w1: two lives; the caught failure ends no second try */
	wflow(&r, "history", w.dir, "w1", "--json", NULL);
	CHECK(r.code == 0);
	h = cJSON_Parse(r.out);
	CHECK(h);
	lives = item(h, "lives");
	CHECK_EQ_U64(cJSON_GetArraySize(lives), 2);
	tries = item(cJSON_GetArrayItem(lives, 0), "tries");
	CHECK_EQ_U64(cJSON_GetArraySize(tries), 2);
	t1 = cJSON_GetArrayItem(tries, 1);
	CHECK(!strcmp(item(t1, "outcome")->valuestring, "FAILED"));
	CHECK(!strcmp(item(t1, "error")->valuestring, "ValueError: boom"));
	cJSON_Delete(h);
	run_free(&r);

	/* stats: a try is a start and its first end, so the caught
	 * failure's success is no second try of b; c's retry is two. */
	wflow(&r, "stats", w.dir, "--json", NULL);
	CHECK(r.code == 0);
	cJSON *st = cJSON_Parse(r.out);
	CHECK(st);
	const cJSON *sb = NULL, *sc = NULL, *x;
	cJSON_ArrayForEach(x, item(st, "slowest_steps"))
	{
		const char *name = item(x, "name")->valuestring;
		if (!strcmp(name, "b"))
			sb = x;
		else if (!strcmp(name, "c"))
			sc = x;
	}
	CHECK_MSG(sb && sc, "steps b and c not both in stats' slowest steps");
	CHECK_EQ_U64(num(sb, "tries"), 1);
	CHECK_EQ_U64(num(sc, "tries"), 2);
	cJSON_Delete(st);
	run_free(&r);
	t_context("%s", "");
}

/* Times that go back (3 times, by 5 ms at most): one warning, exit 0. */
static void clock_goes_back(void)
{
	jw w;
	jw_open(&w, "clock_back");
	session(&w, "s-1");
	start(&w, "w1", "a", "s-1");
	clock_back(2);
	ev(&w, WF_EV_STEP_STARTED, "ssu", "w1", "a", 1);
	clock_back(5);
	uint64_t worst =
	        ev(&w, WF_EV_STEP_SUCCEEDED, "ssuj", "w1", "a", 1, "3");
	ev(&w, WF_EV_WORKFLOW_OUTPUT, "sj", "w1", "3");
	clock_back(1);
	ev(&w, WF_EV_STATUS_CHANGED, "sss", "w1", "SUCCESSFUL", "run");
	jw_close(&w);
	expect_verify(&w, 0, 0, 1, worst, 1,
	              "wall-clock time goes back 3 times, by 0.005000 s at most");

	/* dump --since TIME starts at the first event at or after TIME and
	 * keeps every later one, also those whose times went back. */
	run r = {0};
	wflow(&r, "dump", w.dir, NULL);
	CHECK(r.code == 0);
	char since[64] = "";
	int lines = 0;
	for (char *p = r.out; (p = strstr(p, "\"time\":\"")); p++) {
		if (++lines == 4) /* the step_started, before two steps back */
			snprintf(since, sizeof since, "%.30s", p + 8);
	}
	run_free(&r);
	CHECK(since[0]);
	wflow(&r, "dump", w.dir, "--since", since, NULL);
	CHECK(r.code == 0);
	int got = 0;
	for (char *p = r.out; (p = strchr(p, '\n')); p++)
		got++;
	CHECK_EQ_I64(got, lines - 3);
	run_free(&r);
	/* stats: the span is from the smallest time to the largest. */
	wflow(&r, "stats", w.dir, "--json", NULL);
	CHECK(r.code == 0);
	cJSON *st = cJSON_Parse(r.out);
	CHECK(st);
	CHECK(num(st, "span_s") >= 0);
	CHECK(num(st, "last_time") >= num(st, "first_time"));
	cJSON_Delete(st);
	run_free(&r);
	t_context("%s", "");
}

/* While an engine holds the lock (a LOCK flock), stats derives RESUMABLE
 * as the fold does: RUNNING in a session other than the last started. */
static void stats_live_session(void)
{
	jw w;
	jw_open(&w, "live");
	session(&w, "s-1");
	start(&w, "w1", "a", "s-1");
	ev(&w, WF_EV_STEP_STARTED, "ssu", "w1", "a", 1);
	session(&w, "s-2");
	jw_close(&w);
	char lock[700];
	snprintf(lock, sizeof lock, "%s/journal/LOCK", w.dir);
	int fd = open(lock, O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
	run r = {0};
	wflow(&r, "stats", w.dir, "--json", NULL);
	CHECK(r.code == 0);
	cJSON *st = cJSON_Parse(r.out);
	CHECK(st);
	const cJSON *by = item(st, "workflows_by_status");
	CHECK_EQ_I64(num(by, "RESUMABLE"), 1);
	CHECK_EQ_I64(num(by, "RUNNING"), 0);
	cJSON_Delete(st);
	run_free(&r);
	close(fd);
	t_context("%s", "");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-wflow\n", argv[0]);
		return 77;
	}
	wflow_bin = argv[1];
	CHECK_MSG(access(wflow_bin, X_OK) == 0, "%s: %s", wflow_bin,
	          strerror(errno));
	bad_step_succeeded();
	bad_never_created();
	bad_created_twice();
	bad_successful_to_failed();
	bad_started_after_delete();
	bad_many();
	clean();
	clock_goes_back();
	stats_live_session();
	printf("verify_logic: all checks passed\n");
	return 0;
}
