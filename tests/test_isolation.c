/*
 * Isolated steps (wf_step_options.isolate, wf_config.isolate): each
 * attempt runs in a fork()ed worker process.
 *
 *  - same: the same workflows (a DAG with names and metadata, a failing
 *    step with retries, catch_exceptions, a bare return code, a dynamic
 *    recursion through wf_ctx_continue with node arguments, a 1 MB
 *    output, wf_ctx_sleep) give the same outputs, errors and metadata
 *    (times aside) in an engine that isolates every step as in one that
 *    isolates none; and the isolated steps did run in other processes;
 *  - stdout: the engine's unwritten output is not written twice, the
 *    step's is not lost;
 *  - descriptors: the worker holds none of the journal's (nor its lock),
 *    the program's are there unless close-on-exec;
 *  - crashes: SIGSEGV, abort(), exit(3), exit(0) in a step are failed
 *    attempts naming the signal or status, retried per max_retries, the
 *    workflow FAILED with that error, while other workflows run on
 *    unaffected; a step that crashes once succeeds on its retry;
 *  - cancel: a step that sleeps 1000 s without looking at cancellation
 *    (and has a child of its own) is killed by wf_cancel, the workflow is
 *    CANCELED, the wf_run blocked in it returns, the worker process is
 *    reaped (no zombie) and its child killed;
 *  - close: wf_close kills such a step too, and the directory can be
 *    opened again at once (the worker does not hold the journal's lock);
 *  - options: wf_node_new and wf_actor_method_define refuse isolate;
 *    version 1 options and version 2 configs (without isolate) are read
 *    as such; a step's isolate = 0 overrides the engine's default; actor
 *    methods stay in-process;
 *  - cost: isolated_step_us vs inprocess_step_us (printed, not checked),
 *    also with 256 MB resident in the engine's process.
 *
 * At the end the test process must have no child process left.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "engine_util.h"

/* How long to wait for a cancel or a kill before failing (not a timing
 * assertion: only so that a broken build fails instead of hanging). */
#define KILL_WAIT_S 30.0

static pid_t test_pid;

/* LeakSanitizer's hook: no leak check in the worker processes. A step
 * that calls exit() runs the program's atexit handlers in its worker,
 * LSan's check among them, which there (a fork of a process with threads
 * it cannot stop) reports false leaks and turns exit(3) into an abort. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return getpid() != test_pid;
}

/* ---- steps ----------------------------------------------------------- */

static int add_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	double sum = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, args)
	{
		if (!cJSON_IsNumber(it))
			return wf_ctx_fail(ctx,
			                   "add: argument is not a number");
		sum += it->valuedouble;
	}
	*out = cJSON_CreateNumber(sum);
	return 0;
}

static int fails_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	(void)out;
	return wf_ctx_fail(ctx, "bad input %g (attempt %d)",
	                   cJSON_GetArrayItem(args, 0)->valuedouble,
	                   wf_ctx_attempt(ctx));
}

static int rc_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)ctx;
	(void)args;
	(void)udata;
	(void)out;
	return 7;
}

/* {"pid", "wf", "step", "attempt"}: where and as what it ran. */
static int info_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)args;
	(void)udata;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "pid", (double)getpid());
	cJSON_AddStringToObject(o, "wf", wf_ctx_workflow_id(ctx));
	cJSON_AddStringToObject(o, "step", wf_ctx_step_id(ctx));
	cJSON_AddNumberToObject(o, "attempt", wf_ctx_attempt(ctx));
	*out = o;
	return 0;
}

/* The steps' handles, for the continuation (not wf_step_find: see the
 * fork-safety rules). One set per engine. */
typedef struct steps {
	wf_step *add, *recur;
} steps;

/* recur(n): n > 0: continue with recur(add(n - 1, 0)) named "recur" with
 * metadata {"level": n}; else ["done", n]. */
static int recur_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	steps *st = udata;
	double n = cJSON_GetArrayItem(args, 0)->valuedouble;
	if (n <= 0) {
		*out = cJSON_CreateArray();
		cJSON_AddItemToArray(*out, cJSON_CreateString("done"));
		cJSON_AddItemToArray(*out, cJSON_CreateNumber(n));
		return 0;
	}
	cJSON *md = cJSON_CreateObject();
	cJSON_AddNumberToObject(md, "level", n);
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.name = "recur";
	o.metadata = md;
	o.max_retries = 1;
	wf_node *next = NULL, *a = NULL;
	int rc = wf_node_new(&next, st->recur, &o);
	cJSON_Delete(md);
	if (rc == 0)
		rc = wf_node_new(&a, st->add, NULL);
	if (rc == 0) {
		cJSON *v = cJSON_CreateNumber(n - 1);
		rc = wf_node_arg(a, v);
		cJSON_Delete(v);
	}
	if (rc == 0)
		rc = wf_node_arg_json(a, "0");
	if (rc == 0) {
		rc = wf_node_arg_node(next, a);
		a = NULL;
	}
	if (rc != 0) {
		wf_node_free(next);
		wf_node_free(a);
		return wf_ctx_fail(ctx, "recur: building the next call: %d",
		                   rc);
	}
	return wf_ctx_continue(ctx, next);
}

/* A string of args[0] bytes (more than a pipe holds). */
static int big_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)ctx;
	(void)udata;
	size_t n = (size_t)cJSON_GetArrayItem(args, 0)->valuedouble;
	char *s = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)('a' + i % 26);
	s[n] = 0;
	*out = cJSON_CreateString(s);
	free(s);
	return 0;
}

static int ctxsleep_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)args;
	(void)udata;
	*out = cJSON_CreateNumber(wf_ctx_sleep(ctx, 0.05));
	return 0;
}

static int noop_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)ctx;
	(void)args;
	(void)udata;
	(void)out;
	return 0;
}

/* An address that is not mapped (and not NULL, which UBSan would flag). */
static volatile uintptr_t bad_addr = 64;

/* crash(mode, upto): in attempts <= upto, crash as mode says ("segv",
 * "abort", "exit3", "exit0"); then return "survived". */
static int crash_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	const char *mode = cJSON_GetArrayItem(args, 0)->valuestring;
	int upto = cJSON_GetArrayItem(args, 1)->valueint;
	if (getpid() == test_pid)
		return wf_ctx_fail(ctx,
		                   "crash: not isolated, refusing to crash "
		                   "the test");
	if (wf_ctx_attempt(ctx) <= upto) {
		if (strcmp(mode, "segv") == 0) {
			/* The default action, not a sanitizer's handler. */
			signal(SIGSEGV, SIG_DFL);
			*(volatile int *)bad_addr = 1;
		} else if (strcmp(mode, "abort") == 0) {
			abort();
		} else if (strcmp(mode, "exit3") == 0) {
			exit(3);
		} else if (strcmp(mode, "exit0") == 0) {
			exit(0);
		}
	}
	*out = cJSON_CreateString("survived");
	return 0;
}

/* Report {own pid, pid of a child of its own} on the fd in udata, then
 * sleep 1000 s without ever looking at cancellation (the seed's
 * time.sleep(1000)). */
static int sleeper_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)ctx;
	(void)args;
	int fd = *(int *)udata;
	int pids[2] = {(int)getpid(), 0};
	pid_t g = fork();
	if (g == 0) {
		for (;;)
			pause();
	}
	pids[1] = (int)g;
	if (write(fd, pids, sizeof pids) != (ssize_t)sizeof pids)
		return wf_ctx_fail(ctx, "sleeper: cannot report its pid");
	struct timespec ts = {1000, 0};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	*out = cJSON_CreateNumber(0);
	return 0;
}

/* ---- processes ------------------------------------------------------- */

/* The state letter of process pid ('Z' for a zombie), its parent in
 * *ppid; 0 if there is no such process. */
static char proc_state(pid_t pid, pid_t *ppid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* the name may hold anything */
	char st = 0;
	int pp = 0;
	if (!p || sscanf(p + 1, " %c %d", &st, &pp) != 2)
		return 0;
	if (ppid)
		*ppid = (pid_t)pp;
	return st;
}

/* Is pid a child of this process, alive or a zombie? */
static int is_our_child(pid_t pid)
{
	pid_t pp = 0;
	return proc_state(pid, &pp) != 0 && pp == test_pid;
}

/* Wait until pid is no child of ours (killed and reaped by the engine). */
static double wait_reaped(pid_t pid, const char *what)
{
	double t0 = e_mono();
	while (is_our_child(pid)) {
		CHECK_MSG(e_mono() - t0 < KILL_WAIT_S,
		          "%s (pid %d) still a child "
		          "of the test after %.0f s (state %c)",
		          what, (int)pid, KILL_WAIT_S, proc_state(pid, NULL));
		e_sleep_ms(2);
	}
	return e_mono() - t0;
}

/* Wait until pid is gone or a zombie (a grandchild: init reaps it, or not,
 * in a container). */
static void wait_dead(pid_t pid, const char *what)
{
	double t0 = e_mono();
	char st;
	while ((st = proc_state(pid, NULL)) != 0 && st != 'Z') {
		CHECK_MSG(e_mono() - t0 < KILL_WAIT_S,
		          "%s (pid %d) still alive "
		          "after %.0f s (state %c)",
		          what, (int)pid, KILL_WAIT_S, st);
		e_sleep_ms(2);
	}
}

/* Read the sleeper's two pids from fd (waiting up to KILL_WAIT_S). */
static void read_pids(int fd, int pids[2])
{
	struct pollfd pf = {fd, POLLIN, 0};
	CHECK_MSG(poll(&pf, 1, (int)(KILL_WAIT_S * 1000)) == 1,
	          "the sleeper did not start within %.0f s", KILL_WAIT_S);
	CHECK(read(fd, pids, 2 * sizeof(int)) == (ssize_t)(2 * sizeof(int)));
	CHECK(pids[0] > 0 && pids[1] > 0);
	CHECK(pids[0] != (int)test_pid);
}

/* ---- helpers ----------------------------------------------------------- */

static wf_engine *open_cfg(const char *dir, int durability, int isolate)
{
	wf_config cfg = WF_CONFIG_INIT;
	cfg.durability = durability;
	cfg.isolate = isolate;
	wf_engine *e = NULL;
	int rc = wf_open(&e, dir, &cfg);
	CHECK_OK_MSG(rc, e ? wf_errmsg(e) : "(no handle)");
	return e;
}

static wf_step *define(wf_engine *e, const char *name, wf_step_fn fn,
                       void *udata, int isolate, int max_retries)
{
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.isolate = isolate;
	o.max_retries = max_retries;
	return e_define(e, name, fn, udata, &o);
}

/* Remove the times (they differ between any two runs), recursively. */
static void strip_times(cJSON *j)
{
	static const char *const keys[] = {"start_time", "end_time", "duration",
	                                   NULL};
	for (const char *const *k = keys; *k; k++)
		cJSON_DeleteItemFromObjectCaseSensitive(j, *k);
	cJSON *it;
	cJSON_ArrayForEach(it, j) strip_times(it);
}

static cJSON *meta_stripped(wf_engine *e, const char *id, const char *step)
{
	cJSON *m = e_meta(e, id, step);
	strip_times(m);
	return m;
}

/* ---- same outputs and metadata ----------------------------------------- */

typedef struct outcome {
	int rc;
	char err[1024];
	cJSON *out;
} outcome;

/* Run each of the same-test's workflows on e, keeping what they gave. */
static void run_same(wf_engine *e, steps *st, outcome *res, int *n)
{
	wf_step *add = st->add;
	wf_step *fails = e_define(e, "fails", fails_fn, NULL, NULL);
	wf_step *rc7 = e_define(e, "rc7", rc_fn, NULL, NULL);
	wf_step *big = e_define(e, "big", big_fn, NULL, NULL);
	wf_step *sl = e_define(e, "ctxsleep", ctxsleep_fn, NULL, NULL);
	wf_node *dags[8];
	const char *ids[8];
	int k = 0;
	cJSON *md;

	/* add(add(1, 2), add(3, 4)) with names and metadata. */
	wf_step_options o = e_opts("outer", "{\"k\": \"v\"}", &md);
	wf_node *root = e_node(add, &o, NULL);
	cJSON_Delete(md);
	o = e_opts("inner", "{\"n\": [1, 2]}", &md);
	wf_node *l = e_node(add, &o, "[1, 2]");
	wf_node *r = e_node(add, &o, "[3, 4]");
	cJSON_Delete(md);
	e_arg_node(root, l);
	e_arg_node(root, r);
	ids[k] = "dag";
	dags[k++] = root;

	o = (wf_step_options)WF_STEP_OPTIONS_INIT;
	o.max_retries = 1;
	ids[k] = "fails";
	dags[k++] = e_node(fails, &o, "[5]");

	o.catch_exceptions = 1;
	ids[k] = "caught";
	dags[k++] = e_node(fails, &o, "[6]");

	o = (wf_step_options)WF_STEP_OPTIONS_INIT;
	o.max_retries = 0;
	ids[k] = "rc7";
	dags[k++] = e_node(rc7, &o, NULL);

	ids[k] = "recur";
	dags[k++] = e_node(st->recur, NULL, "[4]");

	ids[k] = "big";
	dags[k++] = e_node(big, NULL, "[1048576]");

	ids[k] = "ctxsleep";
	dags[k++] = e_node(sl, NULL, NULL);

	for (int i = 0; i < k; i++) {
		res[i].out = NULL;
		res[i].rc = wf_run(e, dags[i], ids[i], NULL, &res[i].out);
		snprintf(res[i].err, sizeof res[i].err, "%s",
		         res[i].rc ? wf_errmsg(e) : "");
	}
	*n = k;
}

static void test_same(void)
{
	char d0[512], d1[512];
	t_subdir(d0, sizeof d0, "same-inproc");
	t_subdir(d1, sizeof d1, "same-isolated");
	wf_engine *e0 = open_cfg(d0, WF_SYNC_ALWAYS, 0);
	wf_engine *e1 = open_cfg(d1, WF_SYNC_ALWAYS, 1);
	steps s0, s1;
	s0.add = e_define(e0, "add", add_fn, NULL, NULL);
	s0.recur = e_define(e0, "recur", recur_fn, &s0, NULL);
	s1.add = e_define(e1, "add", add_fn, NULL, NULL);
	s1.recur = e_define(e1, "recur", recur_fn, &s1, NULL);
	outcome r0[8], r1[8];
	int n0, n1;
	run_same(e0, &s0, r0, &n0);
	run_same(e1, &s1, r1, &n1);
	CHECK_EQ_I64(n0, n1);

	/* What the runs returned. */
	const char *ids[] = {"dag",   "fails", "caught",  "rc7",
	                     "recur", "big",   "ctxsleep"};
	for (int i = 0; i < n0; i++) {
		t_context("workflow %s", ids[i]);
		CHECK_EQ_I64(r1[i].rc, r0[i].rc);
		CHECK_MSG(strcmp(r0[i].err, r1[i].err) == 0,
		          "errors differ:\n  in-process: %s\n  isolated:   %s",
		          r0[i].err, r1[i].err);
		if (r0[i].rc == 0)
			CHECK_JSON_SAME(r1[i].out, r0[i].out);
	}
	t_context("%s", "");
	CHECK_OUT_NUM(r0[0].out, 10);
	CHECK_RC(r0[1].rc, WF_EFAILED);
	CHECK_CONTAINS(r0[1].err, "bad input 5 (attempt 2)");
	CHECK_JSON(r0[2].out, "[null, \"bad input 6 (attempt 2)\"]");
	CHECK_RC(r0[3].rc, WF_EFAILED);
	CHECK_CONTAINS(r0[3].err, "step returned 7");
	CHECK_JSON(r0[4].out, "[\"done\", 0]");
	CHECK(cJSON_IsString(r0[5].out) &&
	      strlen(r0[5].out->valuestring) == 1048576);
	CHECK_OUT_NUM(r0[6].out, 0);
	for (int i = 0; i < n0; i++) {
		cJSON_Delete(r0[i].out);
		cJSON_Delete(r1[i].out);
	}

	/* Metadata, workflow and step level, times aside. */
	static const struct {
		const char *wf, *step;
	} where[] = {
	        {"dag", NULL},        {"dag", "outer"},
	        {"dag", "inner"},     {"dag", "inner_1"},
	        {"fails", NULL},      {"fails", "fails"},
	        {"caught", "fails"},  {"rc7", NULL},
	        {"rc7", "rc7"},       {"recur", NULL},
	        {"recur", "recur"},   {"recur", "recur_1"},
	        {"recur", "recur_2"}, {"recur", "recur_3"},
	        {"recur", "recur_4"}, {"recur", "add"},
	        {"recur", "add_1"},   {"recur", "add_3"},
	        {"big", "big"},       {"ctxsleep", "ctxsleep"},
	};
	for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
		t_context("metadata of %s / %s", where[i].wf,
		          where[i].step ? where[i].step : "(workflow)");
		cJSON *m0 = meta_stripped(e0, where[i].wf, where[i].step);
		cJSON *m1 = meta_stripped(e1, where[i].wf, where[i].step);
		CHECK_JSON_SAME(m1, m0);
		cJSON_Delete(m0);
		cJSON_Delete(m1);
	}
	t_context("%s", "");
	/* The failed attempts carry the step's own error. */
	cJSON *m = e_meta(e1, "fails", "fails");
	CHECK_EQ_I64(e_array_len(m, "attempts"), 2);
	CHECK_CONTAINS(cJSON_GetObjectItem(
	                       cJSON_GetArrayItem(
	                               cJSON_GetObjectItem(m, "attempts"), 0),
	                       "error")
	                       ->valuestring,
	               "bad input 5 (attempt 1)");
	cJSON_Delete(m);
	m = e_meta(e1, "recur", "recur_2");
	CHECK_JSON(cJSON_GetObjectItem(m, "user_metadata"), "{\"level\": 3}");
	cJSON_Delete(m);

	/* Where they ran. */
	wf_step *i0 = e_define(e0, "info", info_fn, NULL, NULL);
	wf_step *i1 = e_define(e1, "info", info_fn, NULL, NULL);
	cJSON *o0 = NULL, *o1 = NULL;
	CHECK_E(e0, wf_run(e0, e_node(i0, NULL, NULL), "info", NULL, &o0));
	CHECK_E(e1, wf_run(e1, e_node(i1, NULL, NULL), "info", NULL, &o1));
	CHECK_EQ_I64(e_num(o0, "pid"), test_pid);
	CHECK(e_num(o1, "pid") != (double)test_pid);
	CHECK(e_num(o1, "pid") > 0);
	CHECK_JSON(cJSON_GetObjectItem(o1, "wf"), "\"info\"");
	CHECK_JSON(cJSON_GetObjectItem(o1, "step"), "\"info\"");
	CHECK_EQ_I64(e_num(o1, "attempt"), 1);
	CHECK(!is_our_child((pid_t)e_num(o1, "pid")));
	cJSON_Delete(o0);
	cJSON_Delete(o1);
	e_close(e0);
	e_close(e1);

	/* Reopened (replayed), the isolated engine's state is the same. */
	e1 = open_cfg(d1, WF_SYNC_ALWAYS, 0);
	CHECK_STATUS(e1, "dag", WF_STATUS_SUCCESSFUL);
	CHECK_STATUS(e1, "fails", WF_STATUS_FAILED);
	CHECK_STATUS(e1, "recur", WF_STATUS_SUCCESSFUL);
	e_close(e1);
	printf("ok same\n");
}

/* ---- stdout ----------------------------------------------------------------
 */

static int print_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)ctx;
	(void)args;
	(void)udata;
	(void)out;
	printf("child-no-newline");
	return 0;
}

/* What the engine's process had buffered for stdout is not written by the
 * worker too, and what the step printed (without a newline) is not lost
 * at its _exit. */
static void test_stdout(void)
{
	char dir[512];
	wf_engine *e = e_fresh(dir, "stdout", WF_SYNC_NONE);
	wf_step *pr = define(e, "print", print_fn, NULL, 1, WF_UNSET);
	int p[2];
	CHECK(pipe(p) == 0);
	fflush(stdout);
	int saved = dup(1);
	CHECK(saved >= 0 && dup2(p[1], 1) == 1);
	printf("parent-pending"); /* line-buffered: stays in the buffer */
	int rc = wf_run(e, e_node(pr, NULL, NULL), "print", NULL, NULL);
	fflush(stdout);
	CHECK(dup2(saved, 1) == 1);
	close(saved);
	close(p[1]);
	CHECK_E(e, rc);
	char buf[256];
	ssize_t n = read(p[0], buf, sizeof buf - 1);
	CHECK(n >= 0);
	buf[n] = 0;
	close(p[0]);
	CHECK_MSG(strcmp(buf, "child-no-newlineparent-pending") == 0,
	          "stdout got \"%s\"", buf);
	e_close(e);
	printf("ok stdout\n");
}

/* ---- descriptors ------------------------------------------------------------
 */

typedef struct fdprobe {
	char engine_dir[512];
	int plain_fd, cloexec_fd; /* files of the program's, outside it */
} fdprobe;

/* {"engine_fds": descriptors open on files in the engine's directory,
 *  "plain": where plain_fd points, "cloexec": where cloexec_fd points}. */
static int fds_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)ctx;
	(void)args;
	fdprobe *fp = udata;
	char prefix[600], link[300], target[1024];
	snprintf(prefix, sizeof prefix, "%s/", fp->engine_dir);
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
		ssize_t l = readlink(link, target, sizeof target - 1);
		if (l <= 0)
			continue;
		target[l] = 0;
		if (strncmp(target, prefix, strlen(prefix)) == 0)
			n++;
	}
	if (d)
		closedir(d);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "engine_fds", n);
	int fds[2] = {fp->plain_fd, fp->cloexec_fd};
	const char *keys[2] = {"plain", "cloexec"};
	for (int i = 0; i < 2; i++) {
		snprintf(link, sizeof link, "/proc/self/fd/%d", fds[i]);
		ssize_t l = readlink(link, target, sizeof target - 1);
		target[l > 0 ? l : 0] = 0;
		cJSON_AddStringToObject(o, keys[i], target);
	}
	*out = o;
	return 0;
}

/* The worker holds no descriptor of the journal (so not its lock), and
 * the program's own descriptors are there unless close-on-exec. */
static void test_fds(void)
{
	fdprobe fp;
	char plain[512], cloexec[512];
	t_subdir(plain, sizeof plain, "fds-plain");
	t_subdir(cloexec, sizeof cloexec, "fds-cloexec");
	fp.plain_fd = open(plain, O_WRONLY | O_CREAT, 0644);
	fp.cloexec_fd = open(cloexec, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fp.plain_fd >= 0 && fp.cloexec_fd >= 0);
	wf_engine *e = e_fresh(fp.engine_dir, "fds", WF_SYNC_ALWAYS);
	wf_step *in = define(e, "fds", fds_fn, &fp, 0, WF_UNSET);
	wf_step *iso = define(e, "fds_isolated", fds_fn, &fp, 1, WF_UNSET);
	cJSON *o = NULL;
	/* In-process, the probe sees the journal: it can tell. */
	CHECK_E(e, wf_run(e, e_node(in, NULL, NULL), "in", NULL, &o));
	CHECK(e_num(o, "engine_fds") >= 2); /* the lock, a segment */
	CHECK_MSG(strcmp(e_str(o, "plain"), plain) == 0, "%s",
	          e_str(o, "plain"));
	CHECK_MSG(strcmp(e_str(o, "cloexec"), cloexec) == 0, "%s",
	          e_str(o, "cloexec"));
	cJSON_Delete(o);
	CHECK_E(e, wf_run(e, e_node(iso, NULL, NULL), "iso", NULL, &o));
	CHECK_EQ_I64(e_num(o, "engine_fds"), 0);
	CHECK_MSG(strcmp(e_str(o, "plain"), plain) == 0, "%s",
	          e_str(o, "plain"));
	CHECK_MSG(strcmp(e_str(o, "cloexec"), "/dev/null") == 0, "%s",
	          e_str(o, "cloexec"));
	cJSON_Delete(o);
	e_close(e);
	close(fp.plain_fd);
	close(fp.cloexec_fd);
	printf("ok fds\n");
}

/* ---- crashes ------------------------------------------------------------- */

typedef struct bg {
	wf_engine *e;
	wf_step *add;
	atomic_int stop;
	int runs;
} bg;

/*
 * Under AddressSanitizer the in-process workflows run between the crashes
 * instead of alongside them: GCC 12's libasan does not hold its allocator's
 * locks across fork(), so a worker forked while another thread allocates
 * can inherit a held lock and hang in its first malloc (CI's ASan run hung
 * here once in several). glibc's malloc, which users run, is fork-safe;
 * the plain and TSan runs keep the concurrent version.
 */
#if defined(__SANITIZE_ADDRESS__)
#define FORK_UNSAFE_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FORK_UNSAFE_MALLOC 1
#endif
#endif
#ifndef FORK_UNSAFE_MALLOC
#define FORK_UNSAFE_MALLOC 0
#endif

/* In-process workflows, one after the other, until stop (or, with
 * stop already set, one). */
static void *bg_main(void *arg)
{
	bg *b = arg;
	do {
		char id[64];
		snprintf(id, sizeof id, "bg-%d", b->runs);
		cJSON *out = NULL;
		wf_node *n = e_node(b->add, NULL, "[1, 2]");
		CHECK_E(b->e, wf_run(b->e, n, id, NULL, &out));
		CHECK_OUT_NUM(out, 3);
		cJSON_Delete(out);
		b->runs++;
	} while (!atomic_load(&b->stop));
	return NULL;
}

static void test_crashes(void)
{
	char dir[512];
	wf_engine *e = e_fresh(dir, "crashes", WF_SYNC_ALWAYS);
	wf_step *crash = define(e, "crash", crash_fn, NULL, 1, 2);
	bg b = {e, e_define(e, "add", add_fn, NULL, NULL), 0, 0};
	pthread_t th;
	if (FORK_UNSAFE_MALLOC)
		atomic_store(&b.stop, 1); /* bg_main runs once per crash */
	else
		CHECK(pthread_create(&th, NULL, bg_main, &b) == 0);

	static const struct {
		const char *mode, *error;
	} modes[] = {
	        {"segv", "worker process killed by SIGSEGV"},
	        {"abort", "worker process killed by SIGABRT"},
	        {"exit3",
	         "worker process exited with status 3 without a result"},
	        {"exit0",
	         "worker process exited with status 0 without a result"},
	};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		char id[64], args[64], want[200];
		t_context("crash mode %s", modes[i].mode);
		snprintf(id, sizeof id, "crash-%s", modes[i].mode);
		snprintf(args, sizeof args, "[\"%s\", 99]", modes[i].mode);
		cJSON *out = NULL;
		CHECK_ERC(e,
		          wf_run(e, e_node(crash, NULL, args), id, NULL, &out),
		          WF_EFAILED);
		CHECK(out == NULL);
		snprintf(want, sizeof want, "step 'crash' attempt 3: %s",
		         modes[i].error);
		CHECK_CONTAINS(wf_errmsg(e), want);
		CHECK_STATUS(e, id, WF_STATUS_FAILED);
		/* max_retries 2: three attempts, each failed with its error. */
		cJSON *m = e_meta(e, id, "crash");
		cJSON *att = cJSON_GetObjectItem(m, "attempts");
		CHECK_EQ_I64(cJSON_GetArraySize(att), 3);
		for (int a = 0; a < 3; a++) {
			cJSON *x = cJSON_GetArrayItem(att, a);
			snprintf(want, sizeof want,
			         "step 'crash' attempt %d: %s", a + 1,
			         modes[i].error);
			CHECK_EQ_I64(e_num(x, "attempt"), a + 1);
			CHECK_CONTAINS(e_str(x, "error"), want);
			CHECK_HAS(x, "end_time");
		}
		cJSON_Delete(m);
		if (FORK_UNSAFE_MALLOC)
			bg_main(&b);
	}
	t_context("%s", "");

	/* Crashes once, then works. */
	cJSON *out = NULL;
	CHECK_E(e, wf_run(e, e_node(crash, NULL, "[\"segv\", 1]"), "retry",
	                  NULL, &out));
	CHECK_JSON(out, "\"survived\"");
	cJSON_Delete(out);
	CHECK_STATUS(e, "retry", WF_STATUS_SUCCESSFUL);
	cJSON *m = e_meta(e, "retry", "crash");
	CHECK_EQ_I64(e_array_len(m, "attempts"), 2);
	cJSON *a0 = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "attempts"), 0);
	cJSON *a1 = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "attempts"), 1);
	CHECK_CONTAINS(
	        e_str(a0, "error"),
	        "step 'crash' attempt 1: worker process killed by SIGSEGV");
	CHECK_HAS_NOT(a1, "error");
	cJSON_Delete(m);

	/* The other workflows ran on, every one of them fine. */
	atomic_store(&b.stop, 1);
	if (!FORK_UNSAFE_MALLOC)
		CHECK(pthread_join(th, NULL) == 0);
	CHECK(b.runs > 0);
	cJSON *ids = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_SUCCESSFUL));
	CHECK_EQ_I64(cJSON_GetArraySize(ids), b.runs + 1);
	cJSON_Delete(ids);
	e_close(e);

	/* The journal says the same after a replay. */
	e = e_open(dir, WF_SYNC_ALWAYS);
	CHECK_STATUS(e, "crash-segv", WF_STATUS_FAILED);
	m = e_meta(e, "crash-abort", "crash");
	CHECK_CONTAINS(
	        e_str(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "attempts"), 2),
	              "error"),
	        "step 'crash' attempt 3: worker process killed by SIGABRT");
	cJSON_Delete(m);
	e_close(e);
	printf("ok crashes (%d in-process workflows alongside)\n", b.runs);
}

/* ---- cancel and close ------------------------------------------------------
 */

typedef struct sync_run {
	wf_engine *e;
	wf_node *n;
	int rc;
} sync_run;

static void *sync_run_main(void *arg)
{
	sync_run *s = arg;
	s->rc = wf_run(s->e, s->n, "sleepy", NULL, NULL);
	return NULL;
}

static void test_cancel(void)
{
	char dir[512];
	int p[2];
	CHECK(pipe(p) == 0); /* not close-on-exec: the worker keeps it */
	wf_engine *e = e_fresh(dir, "cancel", WF_SYNC_ALWAYS);
	wf_step *sl = define(e, "sleeper", sleeper_fn, &p[1], 1, WF_UNSET);

	/* wf_run blocks in a thread (which runs the step: it is the
	 * caller's thread that waits in the worker process). */
	sync_run s = {e, e_node(sl, NULL, NULL), 1};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, sync_run_main, &s) == 0);
	int pids[2];
	read_pids(p[0], pids);
	CHECK(is_our_child(pids[0]));
	CHECK_STATUS(e, "sleepy", WF_STATUS_RUNNING);

	double t0 = e_mono();
	CHECK_E(e, wf_cancel(e, "sleepy"));
	/* The thread in wf_run was running the step: it is free again. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)KILL_WAIT_S;
	CHECK_MSG(pthread_timedjoin_np(th, NULL, &until) == 0,
	          "wf_run did not return within %.0f s of the cancel",
	          KILL_WAIT_S);
	CHECK_RC(s.rc, WF_ECANCELED);
	wait_reaped(pids[0], "the cancelled worker process");
	double cancel_ms = (e_mono() - t0) * 1000;
	wait_dead(pids[1], "the cancelled step's own child");
	CHECK_STATUS(e, "sleepy", WF_STATUS_CANCELED);
	cJSON *m = e_meta(e, "sleepy", "sleeper");
	cJSON *att = cJSON_GetObjectItem(m, "attempts");
	CHECK_EQ_I64(cJSON_GetArraySize(att), 1);
	CHECK_HAS_NOT(cJSON_GetArrayItem(att, 0), "outcome");
	cJSON_Delete(m);

	/* The same through wf_run_async and a worker thread. */
	wf_future *f = NULL;
	CHECK_E(e,
	        wf_run_async(e, e_node(sl, NULL, NULL), "sleepy2", NULL, &f));
	read_pids(p[0], pids);
	CHECK_E(e, wf_cancel(e, "sleepy2"));
	CHECK_RC(wf_future_wait(f, NULL), WF_ECANCELED);
	wf_future_free(f);
	wait_reaped(pids[0], "the cancelled worker process (async)");
	wait_dead(pids[1], "the cancelled step's own child (async)");
	CHECK_STATUS(e, "sleepy2", WF_STATUS_CANCELED);

	/* The engine goes on. */
	wf_step *add = e_define(e, "add", add_fn, NULL, NULL);
	cJSON *out = NULL;
	CHECK_E(e, wf_run(e, e_node(add, NULL, "[2, 2]"), "after", NULL, &out));
	CHECK_OUT_NUM(out, 4);
	cJSON_Delete(out);
	e_close(e);
	close(p[0]);
	close(p[1]);
	printf("ok cancel\n");
	printf("isolated_cancel_to_reaped_ms=%.1f\n", cancel_ms);
}

static void test_close(void)
{
	char dir[512];
	int p[2];
	CHECK(pipe(p) == 0);
	wf_engine *e = e_fresh(dir, "close", WF_SYNC_ALWAYS);
	wf_step *sl = define(e, "sleeper", sleeper_fn, &p[1], 1, WF_UNSET);
	wf_future *f = NULL;
	CHECK_E(e, wf_run_async(e, e_node(sl, NULL, NULL), "sleepy", NULL, &f));
	int pids[2];
	read_pids(p[0], pids);
	e_close(e);
	CHECK_RC(wf_future_wait(f, NULL), WF_ECLOSED);
	wf_future_free(f);
	/* At once: the worker process does not hold the journal's lock. */
	e = e_open(dir, WF_SYNC_ALWAYS);
	CHECK_STATUS(e, "sleepy", WF_STATUS_RESUMABLE);
	wait_reaped(pids[0], "the worker process of a closed engine");
	wait_dead(pids[1], "its own child");
	e_close(e);
	close(p[0]);
	close(p[1]);
	printf("ok close\n");
}

/* ---- options ------------------------------------------------------------- */

static int init_fn(const cJSON *args, void *udata, cJSON **state, char *err,
                   size_t errlen)
{
	(void)args;
	(void)udata;
	(void)err;
	(void)errlen;
	*state = cJSON_CreateNumber(0);
	return 0;
}

static int method_pid(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)args;
	(void)udata;
	wf_ctx_set_state(ctx, cJSON_CreateNumber((double)getpid()));
	*out = cJSON_CreateNumber((double)getpid());
	return 0;
}

static double run_pid(wf_engine *e, wf_step *s, const char *id)
{
	cJSON *out = NULL;
	CHECK_E(e, wf_run(e, e_node(s, NULL, NULL), id, NULL, &out));
	double pid = e_num(out, "pid");
	cJSON_Delete(out);
	return pid;
}

static void test_options(void)
{
	char dir[512];
	wf_engine *e = e_fresh(dir, "options", WF_SYNC_NONE);
	wf_step *info = e_define(e, "info", info_fn, NULL, NULL);
	wf_node *n = NULL;

	/* Per call: refused, with a message that says where it goes. */
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.isolate = 1;
	CHECK_ERC(e, wf_node_new(&n, info, &o), WF_EINVAL);
	CHECK(n == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "isolate");
	CHECK_CONTAINS(wf_errmsg(e), "wf_step_define");
	o.isolate = 0;
	CHECK_ERC(e, wf_node_new(&n, info, &o), WF_EINVAL);

	/* Version 1 options end before isolate: whatever lies there is not
	 * read. */
	o.version = 1;
	o.isolate = 1;
	CHECK_E(e, wf_node_new(&n, info, &o));
	wf_node_free(n);
	wf_step *v1 = e_define(e, "v1", info_fn, NULL, &o);
	CHECK_EQ_I64(run_pid(e, v1, "v1"), test_pid);
	o.version = 3;
	CHECK_ERC(e, wf_node_new(&n, info, &o), WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), "version 3 unknown");
	CHECK_ERC(e, wf_step_define(e, "v3", info_fn, NULL, &o, NULL),
	          WF_EINVAL);

	/* Actor methods are never isolated. */
	wf_actor_class *cls = NULL;
	CHECK_E(e, wf_actor_class_define(e, "Pid", init_fn, NULL, &cls));
	o = (wf_step_options)WF_STEP_OPTIONS_INIT;
	o.isolate = 1;
	CHECK_ERC(e,
	          wf_actor_method_define(cls, "pid", method_pid, NULL,
	                                 WF_METHOD_WRITER, &o, NULL),
	          WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), "cannot be isolated");
	e_close(e);

	/* The engine's default, and a step that opts out of it. */
	t_subdir(dir, sizeof dir, "options-default");
	e = open_cfg(dir, WF_SYNC_NONE, 1);
	info = e_define(e, "info", info_fn, NULL, NULL);
	wf_step *local = define(e, "local", info_fn, NULL, 0, WF_UNSET);
	CHECK(run_pid(e, info, "a") != (double)test_pid);
	CHECK_EQ_I64(run_pid(e, local, "b"), test_pid);
	cls = NULL;
	wf_step *mp = NULL;
	CHECK_E(e, wf_actor_class_define(e, "Pid", init_fn, NULL, &cls));
	CHECK_E(e, wf_actor_method_define(cls, "pid", method_pid, NULL,
	                                  WF_METHOD_WRITER, NULL, &mp));
	wf_actor *a = NULL;
	CHECK_E(e, wf_actor_get_or_create(cls, "actor", NULL, &a));
	cJSON *out = NULL;
	CHECK_E(e, wf_actor_call(a, e_node(mp, NULL, NULL), &out));
	CHECK_OUT_NUM(out, test_pid);
	cJSON_Delete(out);
	wf_actor_free(a);
	e_close(e);

	/* A version 2 config ends before isolate. */
	t_subdir(dir, sizeof dir, "options-v2");
	wf_config cfg = WF_CONFIG_INIT;
	cfg.version = 2;
	cfg.isolate = 1;
	CHECK_OK(wf_open(&e, dir, &cfg));
	info = e_define(e, "info", info_fn, NULL, NULL);
	CHECK_EQ_I64(run_pid(e, info, "c"), test_pid);
	e_close(e);
	cfg.version = 99;
	CHECK_RC(wf_open(&e, dir, &cfg), WF_EINVAL);
	wf_close(e);
	printf("ok options\n");
}

/* ---- cost ---------------------------------------------------------------- */

/* Microseconds per workflow of one noop step. */
static double time_runs(wf_engine *e, wf_step *s, const char *prefix, int n)
{
	double t0 = e_mono();
	for (int i = 0; i < n; i++) {
		char id[64];
		snprintf(id, sizeof id, "%s-%d", prefix, i);
		CHECK_E(e, wf_run(e, e_node(s, NULL, NULL), id, NULL, NULL));
	}
	return (e_mono() - t0) * 1e6 / n;
}

/* Microseconds per bare fork + _exit + waitpid of this process: the part
 * of an isolated attempt that no implementation can avoid. */
static double time_forks(int n)
{
	double t0 = e_mono();
	for (int i = 0; i < n; i++) {
		pid_t p = fork();
		CHECK(p >= 0);
		if (p == 0)
			_exit(0);
		CHECK(waitpid(p, NULL, 0) == p);
	}
	return (e_mono() - t0) * 1e6 / n;
}

static void test_cost(void)
{
	char dir[512];
	wf_engine *e = e_fresh(dir, "cost", WF_SYNC_NONE);
	wf_step *in = define(e, "noop", noop_fn, NULL, 0, WF_UNSET);
	wf_step *iso = define(e, "noop_isolated", noop_fn, NULL, 1, WF_UNSET);
	time_runs(e, in, "warm", 50);
	double in_us = time_runs(e, in, "in", 300);
	double iso_us = time_runs(e, iso, "iso", 100);
	double fork_us = time_forks(100);
	/* fork copies page tables: with more memory resident, more cost. */
	size_t big = (size_t)256 << 20;
	char *mem = malloc(big);
	CHECK(mem != NULL);
	for (size_t i = 0; i < big; i += 4096)
		mem[i] = (char)i;
	double iso_big_us = time_runs(e, iso, "isobig", 30);
	double fork_big_us = time_forks(30);
	free(mem);
	e_close(e);
	printf("inprocess_step_us=%.1f\n", in_us);
	printf("isolated_step_us=%.1f\n", iso_us);
	printf("isolate_overhead_us=%.1f\n", iso_us - in_us);
	printf("bare_fork_us=%.1f\n", fork_us);
	printf("isolated_step_us_rss256m=%.1f\n", iso_big_us);
	printf("bare_fork_us_rss256m=%.1f\n", fork_big_us);
}

int main(void)
{
	test_pid = getpid();
	/* Crashing steps must not leave core files behind. */
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl);
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_same();
	test_stdout();
	test_fds();
	test_crashes();
	test_cancel();
	test_close();
	test_options();
	test_cost();
	/* Every worker process was reaped: no child is left, not even a
	 * zombie. */
	errno = 0;
	pid_t w = waitpid(-1, NULL, WNOHANG);
	CHECK_MSG(w < 0 && errno == ECHILD,
	          "a child process is left over (waitpid: %d, %s)", (int)w,
	          strerror(errno));
	return 0;
}
