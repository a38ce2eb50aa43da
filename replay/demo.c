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
	"note1_cancel", "note2_resume", "vid", "counter",
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
/* ---- the seed's virtual actors ---- */

/* Actor.__init__(self, v): the state is v. */
static int actor_init(const cJSON *args, void *ud, cJSON **state, char *err,
                      size_t errlen)
{
	(void)ud;
	const cJSON *v = cJSON_GetArrayItem(args, 0);
	if (!cJSON_IsNumber(v)) {
		snprintf(err, errlen, "Actor(v): v must be a number");
		return -1;
	}
	*state = cJSON_CreateNumber(v->valuedouble);
	return *state ? 0 : -1;
}

/* Actor.add_v(self, v): sleep 1 s, self.v += v, return self.v. */
static int actor_add_v(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ud;
	const cJSON *v = cJSON_GetArrayItem(args, 0);
	const cJSON *self_v = wf_ctx_state(ctx);
	if (!cJSON_IsNumber(v) || !cJSON_IsNumber(self_v))
		return wf_ctx_fail(ctx, "add_v(v): v and the state must be "
		                        "numbers");
	if (wf_ctx_sleep(ctx, 1.0) < 0)
		return wf_ctx_fail(ctx, "cancelled");
	double sum = self_v->valuedouble + v->valuedouble;
	wf_ctx_set_state(ctx, cJSON_CreateNumber(sum));
	*out = cJSON_CreateNumber(sum);
	return 0;
}

/* Counter.__init__(self): self.n = 0. */
static int counter_init(const cJSON *args, void *ud, cJSON **state,
                        char *err, size_t errlen)
{
	(void)args;
	(void)ud;
	(void)err;
	(void)errlen;
	*state = cJSON_Parse("{\"n\": 0}");
	return *state ? 0 : -1;
}

static wf_step *counter_incr_step;

/* Counter.incr(self, n): self.n += 1; then either a nested call
 * self.incr.options(name="incr", metadata={"current_n": self.n}).step(n-1)
 * or self.n. */
static int counter_incr(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ud;
	const cJSON *n = cJSON_GetArrayItem(args, 0);
	cJSON *self_n = cJSON_GetObjectItemCaseSensitive(wf_ctx_state(ctx), "n");
	if (!cJSON_IsNumber(n) || !cJSON_IsNumber(self_n))
		return wf_ctx_fail(ctx, "incr(n): n and self.n must be numbers");
	cJSON_SetNumberValue(self_n, self_n->valuedouble + 1);
	if (n->valuedouble - 1 > 0) {
		cJSON *md = cJSON_CreateObject();
		cJSON_AddNumberToObject(md, "current_n", self_n->valuedouble);
		wf_step_options o = WF_STEP_OPTIONS_INIT;
		o.name = "incr";
		o.metadata = md;
		wf_node *next = NULL;
		int rc = wf_node_new(&next, counter_incr_step, &o);
		cJSON_Delete(md);
		cJSON *arg = cJSON_CreateNumber(n->valuedouble - 1);
		if (rc == 0)
			rc = wf_node_arg(next, arg);
		cJSON_Delete(arg);
		if (rc < 0) {
			wf_node_free(next);
			return wf_ctx_fail(ctx, "building the nested call: %s",
			                   wf_strerror(rc));
		}
		return wf_ctx_continue(ctx, next);
	}
	*out = cJSON_CreateNumber(self_n->valuedouble);
	return 0;
}

static wf_actor_class *define_class(demo *d, const char *name,
                                    wf_actor_init_fn init)
{
	wf_actor_class *c = NULL;
	int rc = wf_actor_class_define(d->e, name, init, NULL, &c);
	if (rc < 0) {
		fprintf(stderr, "wflow demo: wf_actor_class_define(\"%s\"): %s: "
		        "%s\n", name, wf_strerror(rc), wf_errmsg(d->e));
		d->error = 1;
	}
	return c;
}

static wf_step *define_method(demo *d, wf_actor_class *c, const char *name,
                              wf_step_fn fn)
{
	wf_step *m = NULL;
	int rc = wf_actor_method_define(c, name, fn, NULL, WF_METHOD_WRITER, NULL,
	                                &m);
	if (rc < 0) {
		fprintf(stderr, "wflow demo: wf_actor_method_define(\"%s\"): %s: "
		        "%s\n", name, wf_strerror(rc), wf_errmsg(d->e));
		d->error = 1;
	}
	return m;
}

static void scenario_actor(demo *d)
{
	static const char sc[] = "virtual actor";
	heading("vid: metadata in virtual actors");
	printf("seed: actor = Actor.get_or_create(\"vid\", 0); "
	       "actor.add_v.options(name=\"add\", metadata={\"k1\": \"v1\"})"
	       ".run(10)  (and k2, k3)\n");
	printf("C:    wf_actor_get_or_create(Actor, \"vid\", [0], &actor); "
	       "o.name = \"add\"; o.metadata = {\"k1\": \"v1\"}; "
	       "wf_node_new(&n, add_v, &o); wf_node_arg_json(n, \"10\"); "
	       "wf_actor_call(actor, n, &out);\n");
	wf_actor_class *cls = define_class(d, "Actor", actor_init);
	wf_step *add_v = cls ? define_method(d, cls, "add_v", actor_add_v) : NULL;
	if (!add_v)
		return;
	cJSON *init = json(d, "[0]");
	wf_actor *actor = NULL;
	int rc = wf_actor_get_or_create(cls, "vid", init, &actor);
	cJSON_Delete(init);
	print_rc("wf_actor_get_or_create", rc, d);
	check(d, rc == 0, sc, "Actor.get_or_create(\"vid\", 0)");
	if (rc < 0)
		return;
	static const char *const mds[] = {"{\"k1\": \"v1\"}", "{\"k2\": \"v2\"}",
	                                  "{\"k3\": \"v3\"}"};
	for (int i = 0; i < 3; i++) {
		cJSON *md = json(d, mds[i]);
		wf_step_options o = WF_STEP_OPTIONS_INIT;
		o.name = "add";
		o.metadata = md;
		wf_node *n = make_node(d, add_v, &o, "10", NULL);
		cJSON_Delete(md);
		if (!n)
			break;
		cJSON *out = NULL;
		rc = wf_actor_call(actor, n, &out);
		print_rc("wf_actor_call", rc, d);
		char what[80];
		snprintf(what, sizeof what, "add_v(10) call %d returns %d", i + 1,
		         10 * (i + 1));
		check(d, rc == 0 && output_is(out, 10 * (i + 1)), sc, what);
		cJSON_Delete(out);
	}
	wf_actor_free(actor);
	static const char *const steps[] = {"add", "add_1", "add_2"};
	for (int i = 0; i < 3; i++) {
		cJSON *md = get_metadata(d, sc, "vid", steps[i]);
		char what[160];
		snprintf(what, sizeof what,
		         "get_metadata(\"vid\", \"%s\")[\"user_metadata\"] == %s",
		         steps[i], mds[i]);
		check(d, user_metadata_is(md, mds[i]), sc, what);
		snprintf(what, sizeof what,
		         "get_metadata(\"vid\", \"%s\"): end_time >= start_time + 1",
		         steps[i]);
		check(d, has_stat(md, "start_time") && has_stat(md, "end_time") &&
		              stat_num(md, "end_time") >=
		                  stat_num(md, "start_time") + 1,
		      sc, what);
		cJSON_Delete(md);
	}
}

static void scenario_counter(demo *d)
{
	static const char sc[] = "nested actor calls";
	heading("counter: nested calls of a virtual actor");
	printf("seed: counter = Counter.get_or_create(\"counter\"); "
	       "counter.incr.options(name=\"incr\", "
	       "metadata={\"outer_k\": \"outer_v\"}).run(5)\n");
	printf("C:    incr returns wf_ctx_continue(ctx, <incr with name "
	       "\"incr\", metadata {\"current_n\": n}, arg n - 1>) while "
	       "n - 1 > 0\n");
	wf_actor_class *cls = define_class(d, "Counter", counter_init);
	counter_incr_step = cls ? define_method(d, cls, "incr", counter_incr)
	                        : NULL;
	if (!counter_incr_step)
		return;
	wf_actor *counter = NULL;
	int rc = wf_actor_get_or_create(cls, "counter", NULL, &counter);
	print_rc("wf_actor_get_or_create", rc, d);
	check(d, rc == 0, sc, "Counter.get_or_create(\"counter\")");
	if (rc < 0)
		return;
	cJSON *md = json(d, "{\"outer_k\": \"outer_v\"}");
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.name = "incr";
	o.metadata = md;
	wf_node *n = make_node(d, counter_incr_step, &o, "5", NULL);
	cJSON_Delete(md);
	cJSON *out = NULL;
	rc = n ? wf_actor_call(counter, n, &out) : WF_ENOMEM;
	print_rc("wf_actor_call", rc, d);
	check(d, rc == 0 && output_is(out, 5), sc, "incr(5) returns 5");
	cJSON_Delete(out);
	wf_actor_free(counter);
	cJSON *m = get_metadata(d, sc, "counter", "incr");
	check(d, user_metadata_is(m, "{\"outer_k\": \"outer_v\"}"), sc,
	      "get_metadata(\"counter\", \"incr\")[\"user_metadata\"] == "
	      "{\"outer_k\": \"outer_v\"}");
	cJSON_Delete(m);
	for (int i = 1; i <= 4; i++) {
		char id[16], want[32], what[160];
		snprintf(id, sizeof id, "incr_%d", i);
		snprintf(want, sizeof want, "{\"current_n\": %d}", i);
		m = get_metadata(d, sc, "counter", id);
		snprintf(what, sizeof what,
		         "get_metadata(\"counter\", \"%s\")[\"user_metadata\"] == %s",
		         id, want);
		check(d, user_metadata_is(m, want), sc, what);
		cJSON_Delete(m);
	}
}

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
	if (!d.error)
		scenario_actor(&d);
	if (!d.error)
		scenario_counter(&d);

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
