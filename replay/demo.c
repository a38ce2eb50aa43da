/*
 * wflow demo DIR: the seed's examples, through the public API.
 *
 * How this works: one engine is opened on DIR with the default
 * configuration (durability always). Each scenario is one of the seed's
 * Python examples, written as the equivalent C calls: it prints a heading,
 * the seed's line of Python and the C calls that do the same, then what
 * wf_get_metadata returns (cJSON_Print, exactly the object the engine
 * built), then the seed's asserts on it, one line each ("ok" or
 * "FAILED"). A failed check is counted and the demo goes on, so that one
 * run shows every deviation; the exit code says whether there was any.
 *
 * The workflow ids are fixed, so a second run on the same DIR would find
 * the first run's workflows (and wf_run of a finished id returns its
 * stored output without running anything). Each id is therefore deleted
 * with wf_delete before the scenarios start.
 *
 * Where the seed touches a flag file to tell the test that the step has
 * started (Note 1), the step here signals a condition variable; the flag
 * that makes the step fail (Note 2) is an atomic int. Same handshakes, no
 * files and no polling.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replay/demo.h"
#include "wflow.h"

/* Exit codes, as wflow's. */
enum { DEMO_OK = 0, DEMO_FAILED = 1, DEMO_ERROR = 2 };

/* How long the demo waits for a step to start or to return, before it
 * calls that a failure instead of hanging. */
#define DEMO_WAIT_S 30

static const char *const demo_ids[] = {
	"add_example", "add_example_2", "add_example_3",
	"note1_cancel", "note2_resume",
};

#define MAX_FAILURES 32

typedef struct demo {
	wf_engine *e;
	int checks, failed;
	int error; /* set up failed: exit 2 */
	char failures[MAX_FAILURES][200];
} demo;

/* ---- checks and printing ------------------------------------------------- */

static void check(demo *d, int ok, const char *scenario, const char *what)
{
	d->checks++;
	printf("  %-7s %s\n", ok ? "ok" : "FAILED", what);
	if (ok)
		return;
	if (d->failed < MAX_FAILURES)
		snprintf(d->failures[d->failed], sizeof d->failures[0],
		         "%s: %s", scenario, what);
	d->failed++;
}

static void heading(const char *title)
{
	printf("\n=== %s ===\n", title);
}

static void print_json(const cJSON *v)
{
	char *s = cJSON_Print(v);
	printf("%s\n", s ? s : "(out of memory)");
	free(s);
}

/* "0" or "-9 (WF_EFAILED: ...)" */
static void print_rc(const char *call, int rc, const demo *d)
{
	if (rc == 0)
		printf("  %s -> 0\n", call);
	else
		printf("  %s -> %d (%s): %s\n", call, rc, wf_strerror(rc),
		       wf_errmsg(d->e));
}

/*
 * wf_get_metadata(e, id, step), printed with the call that produced it.
 * @return the metadata (caller frees), or NULL (printed, and a failed
 *         check: every scenario needs its metadata).
 */
static cJSON *get_metadata(demo *d, const char *scenario, const char *id,
                           const char *step)
{
	cJSON *md = NULL;
	int rc = wf_get_metadata(d->e, id, step, &md);
	if (step)
		printf("wf_get_metadata(e, \"%s\", \"%s\"):\n", id, step);
	else
		printf("wf_get_metadata(e, \"%s\", NULL):\n", id);
	if (rc < 0) {
		printf("  -> %d (%s): %s\n", rc, wf_strerror(rc),
		       wf_errmsg(d->e));
		check(d, 0, scenario, "wf_get_metadata returns the metadata");
		return NULL;
	}
	print_json(md);
	return md;
}

static const cJSON *stats_of(const cJSON *md)
{
	return cJSON_GetObjectItemCaseSensitive(md, "stats");
}

/* "key" in md["stats"] (NULL md: no). */
static int has_stat(const cJSON *md, const char *key)
{
	const cJSON *st = stats_of(md);
	return cJSON_IsObject(st) &&
	       cJSON_GetObjectItemCaseSensitive(st, key) != NULL;
}

/* md["stats"][key] as a number, or -1 when absent or not a number. */
static double stat_num(const cJSON *md, const char *key)
{
	const cJSON *v =
	        cJSON_GetObjectItemCaseSensitive(stats_of(md), key);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int status_is(const cJSON *md, const char *status)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(md, "status");
	return cJSON_IsString(s) && strcmp(s->valuestring, status) == 0;
}

/* md["user_metadata"] == the JSON text expected. */
static int user_metadata_is(const cJSON *md, const char *expected)
{
	cJSON *want = cJSON_Parse(expected);
	int eq = want &&
	         cJSON_Compare(cJSON_GetObjectItemCaseSensitive(
	                               md, "user_metadata"),
	                       want, 1);
	cJSON_Delete(want);
	return eq;
}

static int output_is(const cJSON *out, double v)
{
	return cJSON_IsNumber(out) && out->valuedouble == v;
}

/* ---- steps --------------------------------------------------------------- */

/* @workflow.step def add(left, right): return left + right */
static int add_fn(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ud;
	const cJSON *l = cJSON_GetArrayItem(args, 0);
	const cJSON *r = cJSON_GetArrayItem(args, 1);
	if (!cJSON_IsNumber(l) || !cJSON_IsNumber(r))
		return wf_ctx_fail(ctx, "add: expected two numbers");
	*out = cJSON_CreateNumber(l->valuedouble + r->valuedouble);
	return *out ? 0 : wf_ctx_fail(ctx, "add: out of memory");
}

/*
 * Note 1's step: "flag.touch(); time.sleep(1000); return 0". What it
 * signals lives in static storage, not on the demo's stack: if
 * cancellation did not reach it, the step would outlive the scenario
 * (wf_close does not wait for it).
 */
typedef struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started, returned;
	int sleep_rc;
} gate;

static gate note1_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                          0, 0, 0};

static void gate_set(gate *g, int *flag, int sleep_rc)
{
	pthread_mutex_lock(&g->mu);
	*flag = 1;
	g->sleep_rc = sleep_rc;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* Wait until *flag is set, at most DEMO_WAIT_S. @return the flag. */
static int gate_wait(gate *g, const int *flag)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DEMO_WAIT_S;
	pthread_mutex_lock(&g->mu);
	while (!*flag)
		if (pthread_cond_timedwait(&g->cv, &g->mu, &until) ==
		    ETIMEDOUT)
			break;
	int v = *flag;
	pthread_mutex_unlock(&g->mu);
	return v;
}

static int simple_sleep_fn(wf_ctx *ctx, const cJSON *args, void *ud,
                           cJSON **out)
{
	(void)args;
	gate *g = ud;
	gate_set(g, &g->started, 0);
	int rc = wf_ctx_sleep(ctx, 1000);
	gate_set(g, &g->returned, rc);
	/* Cancelled: give up. The engine discards whatever comes back now;
	 * failing the attempt is what a Python step interrupted mid-sleep
	 * would do. */
	if (rc < 0)
		return rc;
	*out = cJSON_CreateNumber(0);
	return 0;
}

/* Note 2's step: "if error_flag.exists(): raise ValueError(); return 0" */
static atomic_int error_flag;

static int simple_fail_fn(wf_ctx *ctx, const cJSON *args, void *ud,
                          cJSON **out)
{
	(void)args;
	(void)ud;
	if (atomic_load(&error_flag))
		return wf_ctx_fail(ctx, "ValueError (error_flag is set)");
	*out = cJSON_CreateNumber(0);
	return 0;
}

/* ---- scenarios ----------------------------------------------------------- */

/* A node for step with opts and up to two JSON arguments (NULL: none).
 * @return the node, or NULL (printed; the demo then exits 2). */
static wf_node *make_node(demo *d, wf_step *step, const wf_step_options *o,
                          const char *arg1, const char *arg2)
{
	wf_node *n = NULL;
	int rc = wf_node_new(&n, step, o);
	if (rc == 0 && arg1)
		rc = wf_node_arg_json(n, arg1);
	if (rc == 0 && arg2)
		rc = wf_node_arg_json(n, arg2);
	if (rc < 0) {
		fprintf(stderr, "wflow demo: building a node: %s: %s\n",
		        wf_strerror(rc), wf_errmsg(d->e));
		wf_node_free(n);
		d->error = 1;
		return NULL;
	}
	return n;
}

/* A JSON object from text that the demo itself wrote. */
static cJSON *json(demo *d, const char *text)
{
	cJSON *v = cJSON_Parse(text);
	if (!v) {
		fprintf(stderr, "wflow demo: out of memory\n");
		d->error = 1;
	}
	return v;
}

static void scenario_add_example(demo *d, wf_step *add)
{
	static const char sc[] = "add_example";
	heading("add_example: workflow metadata");
	printf("seed: add.step(10, 20).run(\"add_example\")\n");
	printf("C:    wf_node_new(&n, add, NULL); wf_node_arg_json(n, \"10\"); "
	       "wf_node_arg_json(n, \"20\"); "
	       "wf_run(e, n, \"add_example\", NULL, &out);\n");
	wf_node *n = make_node(d, add, NULL, "10", "20");
	if (!n)
		return;
	cJSON *out = NULL;
	int rc = wf_run(d->e, n, "add_example", NULL, &out);
	print_rc("wf_run", rc, d);
	check(d, rc == 0 && output_is(out, 30), sc,
	      "wf_run returns 0 with output 30");
	cJSON_Delete(out);

	cJSON *md = get_metadata(d, sc, "add_example", NULL);
	check(d, status_is(md, "SUCCESSFUL"), sc,
	      "workflow_metadata[\"status\"] == \"SUCCESSFUL\"");
	check(d, has_stat(md, "start_time"), sc,
	      "\"start_time\" in workflow_metadata[\"stats\"]");
	check(d, has_stat(md, "end_time"), sc,
	      "\"end_time\" in workflow_metadata[\"stats\"]");
	cJSON_Delete(md);
}

static void scenario_add_example_2(demo *d, wf_step *add)
{
	static const char sc[] = "add_example_2";
	heading("add_example_2: step metadata of \"add_step\"");
	printf("seed: add.options(name=\"add_step\").step(10, 20)"
	       ".run(\"add_example_2\")\n");
	printf("C:    o.name = \"add_step\"; wf_node_new(&n, add, &o); "
	       "wf_node_arg_json(n, \"10\"); wf_node_arg_json(n, \"20\"); "
	       "wf_run(e, n, \"add_example_2\", NULL, NULL);\n");
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.name = "add_step";
	wf_node *n = make_node(d, add, &o, "10", "20");
	if (!n)
		return;
	int rc = wf_run(d->e, n, "add_example_2", NULL, NULL);
	print_rc("wf_run", rc, d);
	check(d, rc == 0, sc, "wf_run returns 0");

	cJSON *md = get_metadata(d, sc, "add_example_2", "add_step");
	check(d, cJSON_GetObjectItemCaseSensitive(md, "step_options") != NULL,
	      sc, "\"step_options\" in step_metadata");
	/* The seed's next two asserts name workflow_metadata, the previous
	 * example's variable: a slip for step_metadata, which is what this
	 * example is about. */
	check(d, has_stat(md, "start_time"), sc,
	      "\"start_time\" in step_metadata[\"stats\"]");
	check(d, has_stat(md, "end_time"), sc,
	      "\"end_time\" in step_metadata[\"stats\"]");
	cJSON_Delete(md);
}

static void scenario_add_example_3(demo *d, wf_step *add)
{
	static const char sc[] = "add_example_3";
	heading("add_example_3: user metadata of the workflow and the step");
	printf("seed: add.options(name=\"add_step\", metadata={\"step_k\": "
	       "\"step_v\"}).step(10, 20).run(\"add_example_3\", "
	       "metadata={\"workflow_k\": \"workflow_v\"})\n");
	printf("C:    o.name = \"add_step\"; o.metadata = "
	       "{\"step_k\":\"step_v\"}; wf_node_new(&n, add, &o); "
	       "wf_node_arg_json(n, \"10\"); wf_node_arg_json(n, \"20\"); "
	       "wf_run(e, n, \"add_example_3\", "
	       "{\"workflow_k\":\"workflow_v\"}, NULL);\n");
	cJSON *step_md = json(d, "{\"step_k\": \"step_v\"}");
	cJSON *wf_md = json(d, "{\"workflow_k\": \"workflow_v\"}");
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.name = "add_step";
	o.metadata = step_md;
	/* The node copies the options' metadata: it may go right after. */
	wf_node *n = step_md && wf_md ? make_node(d, add, &o, "10", "20")
	                              : NULL;
	cJSON_Delete(step_md);
	if (!n) {
		cJSON_Delete(wf_md);
		return;
	}
	int rc = wf_run(d->e, n, "add_example_3", wf_md, NULL);
	cJSON_Delete(wf_md);
	print_rc("wf_run", rc, d);
	check(d, rc == 0, sc, "wf_run returns 0");

	cJSON *md = get_metadata(d, sc, "add_example_3", NULL);
	check(d, user_metadata_is(md, "{\"workflow_k\": \"workflow_v\"}"), sc,
	      "get_metadata(\"add_example_3\")[\"user_metadata\"] == "
	      "{\"workflow_k\": \"workflow_v\"}");
	cJSON_Delete(md);
	md = get_metadata(d, sc, "add_example_3", "add_step");
	check(d, user_metadata_is(md, "{\"step_k\": \"step_v\"}"), sc,
	      "get_metadata(\"add_example_3\", name=\"add_step\")"
	      "[\"user_metadata\"] == {\"step_k\": \"step_v\"}");
	cJSON_Delete(md);
}

static void scenario_note1(demo *d, wf_step *simple)
{
	static const char sc[] = "note1_cancel";
	static const char id[] = "note1_cancel";
	heading("note1_cancel (Note 1): metadata while RUNNING, then after "
	        "wf_cancel");
	printf("seed: simple.step().run_async(workflow_id); wait for the "
	       "flag; get_metadata; workflow.cancel(workflow_id); "
	       "get_metadata\n");
	printf("C:    wf_node_new(&n, simple_sleep, NULL); "
	       "wf_run_async(e, n, \"note1_cancel\", NULL, &f); "
	       "(wait for the step's signal) wf_get_metadata(...); "
	       "wf_cancel(e, \"note1_cancel\"); wf_get_metadata(...); "
	       "wf_future_wait(f, NULL);\n");
	wf_node *n = make_node(d, simple, NULL, NULL, NULL);
	if (!n)
		return;
	wf_future *f = NULL;
	int rc = wf_run_async(d->e, n, id, NULL, &f);
	print_rc("wf_run_async", rc, d);
	check(d, rc == 0, sc, "wf_run_async returns 0");
	if (rc < 0)
		return;

	int started = gate_wait(&note1_gate, &note1_gate.started);
	check(d, started, sc, "the step started (it signalled)");

	printf("while the step sleeps:\n");
	cJSON *md = get_metadata(d, sc, id, NULL);
	check(d, status_is(md, "RUNNING"), sc,
	      "workflow_metadata[\"status\"] == \"RUNNING\"");
	check(d, has_stat(md, "start_time"), sc,
	      "\"start_time\" in workflow_metadata[\"stats\"]");
	check(d, !has_stat(md, "end_time"), sc,
	      "\"end_time\" not in workflow_metadata[\"stats\"]");
	cJSON_Delete(md);

	rc = wf_cancel(d->e, id);
	print_rc("wf_cancel", rc, d);
	check(d, rc == 0, sc, "wf_cancel returns 0");

	printf("after wf_cancel:\n");
	md = get_metadata(d, sc, id, NULL);
	check(d, status_is(md, "CANCELED"), sc,
	      "workflow_metadata[\"status\"] == \"CANCELED\"");
	check(d, has_stat(md, "start_time"), sc,
	      "\"start_time\" in workflow_metadata[\"stats\"]");
	check(d, !has_stat(md, "end_time"), sc,
	      "\"end_time\" not in workflow_metadata[\"stats\"]");
	cJSON_Delete(md);

	/* Beyond the seed's asserts, what wflow.h promises about a cancel:
	 * waiters get WF_ECANCELED, the step's sleep ends early, and what
	 * the step returns afterwards changes nothing. */
	rc = wf_future_wait(f, NULL);
	print_rc("wf_future_wait", rc, d);
	check(d, rc == WF_ECANCELED, sc,
	      "wf_future_wait returns WF_ECANCELED");
	wf_future_free(f);
	int returned = gate_wait(&note1_gate, &note1_gate.returned);
	check(d, returned && note1_gate.sleep_rc == WF_ECANCELED, sc,
	      "the step's wf_ctx_sleep(ctx, 1000) returned WF_ECANCELED early");
	if (returned) {
		/* The engine handles the step's return on its own thread;
		 * give it a moment before looking. */
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		md = NULL;
		rc = wf_get_metadata(d->e, id, NULL, &md);
		check(d, rc == 0 && status_is(md, "CANCELED") &&
		                 !has_stat(md, "end_time"),
		      sc,
		      "still CANCELED without end_time after the step "
		      "returned");
		cJSON_Delete(md);
	}
}

static void scenario_note2(demo *d, wf_step *simple)
{
	static const char sc[] = "note2_resume";
	static const char id[] = "note2_resume";
	heading("note2_resume (Note 2): FAILED, then resumed: stats updated");
	printf("seed: error_flag.touch(); simple.step().run(workflow_id) "
	       "raises; get_metadata; error_flag.unlink(); "
	       "workflow.resume(workflow_id) == 0; get_metadata\n");
	printf("C:    error_flag = 1; wf_node_new(&n, simple_fail, NULL); "
	       "wf_run(e, n, \"note2_resume\", NULL, NULL); "
	       "wf_get_metadata(...); error_flag = 0; "
	       "wf_resume(e, \"note2_resume\", &out); wf_get_metadata(...);\n");
	wf_node *n = make_node(d, simple, NULL, NULL, NULL);
	if (!n)
		return;
	atomic_store(&error_flag, 1);
	int rc = wf_run(d->e, n, id, NULL, NULL);
	print_rc("wf_run", rc, d);
	check(d, rc == WF_EFAILED, sc,
	      "wf_run fails (WF_EFAILED: the step raised after its retries)");

	printf("after the failed run:\n");
	cJSON *failed = get_metadata(d, sc, id, NULL);
	check(d, status_is(failed, "FAILED"), sc,
	      "workflow_metadata_failed[\"status\"] == \"FAILED\"");

	atomic_store(&error_flag, 0);
	cJSON *out = NULL;
	rc = wf_resume(d->e, id, &out);
	print_rc("wf_resume", rc, d);
	check(d, rc == 0 && output_is(out, 0), sc,
	      "wf_resume returns 0 with output 0 (ray.get(ref) == 0)");
	cJSON_Delete(out);

	printf("after the resume:\n");
	cJSON *resumed = get_metadata(d, sc, id, NULL);
	check(d, status_is(resumed, "SUCCESSFUL"), sc,
	      "workflow_metadata_resumed[\"status\"] == \"SUCCESSFUL\"");
	double s0 = stat_num(failed, "start_time");
	double s1 = stat_num(resumed, "start_time");
	double e0 = stat_num(failed, "end_time");
	double e1 = stat_num(resumed, "end_time");
	check(d, s0 >= 0 && s1 > s0, sc,
	      "resumed[\"stats\"][\"start_time\"] > "
	      "failed[\"stats\"][\"start_time\"]");
	check(d, e0 >= 0 && e1 > e0, sc,
	      "resumed[\"stats\"][\"end_time\"] > "
	      "failed[\"stats\"][\"end_time\"]");
	cJSON_Delete(failed);
	cJSON_Delete(resumed);
}

/* ---- the demo ------------------------------------------------------------ */

/* Delete what an earlier demo left. @return 0 or -1 (printed). */
static int delete_previous(demo *d)
{
	int deleted = 0;
	for (size_t i = 0; i < sizeof demo_ids / sizeof demo_ids[0]; i++) {
		int rc = wf_delete(d->e, demo_ids[i]);
		if (rc == 0) {
			deleted++;
		} else if (rc != WF_ENOTFOUND) {
			fprintf(stderr,
			        "wflow demo: wf_delete(\"%s\"), left by an "
			        "earlier demo: %s: %s\n",
			        demo_ids[i], wf_strerror(rc),
			        wf_errmsg(d->e));
			return -1;
		}
	}
	if (deleted)
		printf("deleted %d workflow%s left by an earlier demo "
		       "(wf_delete)\n",
		       deleted, deleted == 1 ? "" : "s");
	return 0;
}

static int define(demo *d, const char *name, wf_step_fn fn, void *ud,
                  wf_step **out)
{
	int rc = wf_step_define(d->e, name, fn, ud, NULL, out);
	if (rc < 0) {
		fprintf(stderr, "wflow demo: wf_step_define(\"%s\"): %s: %s\n",
		        name, wf_strerror(rc), wf_errmsg(d->e));
		d->error = 1;
	}
	return rc;
}

int wf_demo_run(const char *dir)
{
	static demo d;
	memset(&d, 0, sizeof d);
	wf_config cfg = WF_CONFIG_INIT;
	int rc = wf_open(&d.e, dir, &cfg);
	if (rc < 0) {
		fprintf(stderr, "wflow demo: cannot open an engine on %s: %s: "
		                "%s\n",
		        dir, wf_strerror(rc),
		        d.e ? wf_errmsg(d.e) : "out of memory");
		wf_close(d.e);
		return DEMO_ERROR;
	}
	printf("wflow %s demo: the seed's examples (Ray Workflows, "
	       "\"Workflow Metadata\"), run in %s (durability always)\n",
	       wf_version(), dir);

	wf_step *add = NULL, *sleeper = NULL, *failer = NULL;
	if (delete_previous(&d) < 0 ||
	    define(&d, "add", add_fn, NULL, &add) < 0 ||
	    define(&d, "simple_sleep", simple_sleep_fn, &note1_gate,
	           &sleeper) < 0 ||
	    define(&d, "simple_fail", simple_fail_fn, NULL, &failer) < 0)
		d.error = 1;
	if (!d.error) {
		printf("steps: add(left, right) = left + right; "
		       "simple_sleep() signals, sleeps 1000 s, returns 0; "
		       "simple_fail() fails while error_flag is set, "
		       "else returns 0\n");
		scenario_add_example(&d, add);
	}
	if (!d.error)
		scenario_add_example_2(&d, add);
	if (!d.error)
		scenario_add_example_3(&d, add);
	if (!d.error)
		scenario_note1(&d, sleeper);
	if (!d.error)
		scenario_note2(&d, failer);

	rc = wf_close(d.e);
	if (rc < 0) {
		fprintf(stderr, "wflow demo: wf_close: %s\n", wf_strerror(rc));
		d.error = 1;
	}
	if (d.error)
		return DEMO_ERROR;

	printf("\n");
	if (d.failed == 0) {
		printf("all %d checks passed. The journal is in %s/journal; "
		       "try: wflow ls %s; wflow meta %s add_example\n",
		       d.checks, dir, dir, dir);
		return DEMO_OK;
	}
	printf("%d of %d checks FAILED:\n", d.failed, d.checks);
	fprintf(stderr, "wflow demo: %d of %d checks failed (listed above)\n",
	        d.failed, d.checks);
	for (int i = 0; i < d.failed && i < MAX_FAILURES; i++)
		printf("  %s\n", d.failures[i]);
	return DEMO_FAILED;
}
