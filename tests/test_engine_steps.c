/*
 * Steps: ids of repeated names (breadth-first from the output step: in
 * f(f(x)) the outer step is "f", the inner "f_1"); a dynamic recursion (a
 * step that returns another call of itself, like the seed's Counter
 * example: incr, incr_1 ... incr_4, each with its own metadata);
 * max_retries (3 = exactly 4 attempts, 1 = a second chance, -1 = until it
 * works, the definition's default); catch_exceptions ([result, null] and
 * [null, error], the workflow goes on); checkpoint=false (runs again on
 * resume, while checkpointed steps do not); a failure stops the workflow at
 * once and its dependents never run.
 */
#include <pthread.h>

#include "engine_util.h"

/* ---- what the steps saw --------------------------------------------------- */

/* Calls recorded by steps: step id, first argument, attempt. */
#define MAX_SEEN 64
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char step_id[64];
	char wf_id[64];
	double arg0;
	int attempt;
} seen[MAX_SEEN];
static int nseen;

static void seen_reset(void)
{
	pthread_mutex_lock(&seen_lock);
	nseen = 0;
	pthread_mutex_unlock(&seen_lock);
}

static void seen_add(wf_ctx *ctx, const cJSON *args)
{
	const cJSON *a0 = cJSON_GetArrayItem(args, 0);
	pthread_mutex_lock(&seen_lock);
	if (nseen < MAX_SEEN) {
		snprintf(seen[nseen].step_id, sizeof seen[0].step_id, "%s",
		         wf_ctx_step_id(ctx) ? wf_ctx_step_id(ctx) : "(null)");
		snprintf(seen[nseen].wf_id, sizeof seen[0].wf_id, "%s",
		         wf_ctx_workflow_id(ctx) ? wf_ctx_workflow_id(ctx) : "(null)");
		seen[nseen].arg0 = cJSON_IsNumber(a0) ? a0->valuedouble : NAN;
		seen[nseen].attempt = wf_ctx_attempt(ctx);
		nseen++;
	}
	pthread_mutex_unlock(&seen_lock);
}

/* The step id of the call whose first argument was arg0. */
static const char *seen_step_for(double arg0)
{
	const char *r = NULL;
	pthread_mutex_lock(&seen_lock);
	for (int i = 0; i < nseen; i++)
		if (seen[i].arg0 == arg0) {
			CHECK_MSG(r == NULL, "two calls with argument %g", arg0);
			r = seen[i].step_id;
		}
	pthread_mutex_unlock(&seen_lock);
	CHECK_MSG(r != NULL, "no call with argument %g", arg0);
	return r;
}

/* ---- duplicate names ------------------------------------------------------- */

/* f(args...) = sum(args) + 1 */
static int f_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	const cJSON *it;
	double sum = 1;
	(void)udata;
	seen_add(ctx, args);
	cJSON_ArrayForEach(it, args) sum += it->valuedouble;
	*out = cJSON_CreateNumber(sum);
	return 0;
}

static wf_node *tagged(wf_step *s, const char *tag, const char *args)
{
	char md[128];
	cJSON *m;
	snprintf(md, sizeof md, "{\"which\": \"%s\"}", tag);
	wf_step_options o = e_opts(NULL, md, &m);
	wf_node *n = e_node(s, &o, args);
	cJSON_Delete(m);
	return n;
}

static void check_which(wf_engine *e, const char *id, const char *step,
                        const char *tag)
{
	char want[128];
	cJSON *m = e_meta(e, id, step);
	snprintf(want, sizeof want, "{\"which\": \"%s\"}", tag);
	t_context("workflow %s step %s", id, step);
	CHECK_JSON(e_get(m, "user_metadata"), want);
	CHECK(strcmp(e_str(m, "name"), "f") == 0);
	CHECK(strcmp(e_str(m, "step_id"), step) == 0);
	t_context("%s", "");
	cJSON_Delete(m);
}

static void test_duplicate_names(wf_engine *e)
{
	wf_step *f = e_define(e, "f", f_fn, NULL, NULL);
	cJSON *out = NULL, *none = NULL;

	/* f(f(1)): outer "f", inner "f_1". */
	seen_reset();
	wf_node *outer = tagged(f, "outer", NULL);
	e_arg_node(outer, tagged(f, "inner", "[1]"));
	CHECK_E(e, wf_run(e, outer, "dup_ff", NULL, &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	check_which(e, "dup_ff", "f", "outer");
	check_which(e, "dup_ff", "f_1", "inner");
	CHECK_ERC(e, wf_get_metadata(e, "dup_ff", "f_2", &none), WF_ENOTFOUND);
	/* The step ids the running steps were told agree. */
	CHECK(strcmp(seen_step_for(1), "f_1") == 0);
	CHECK(strcmp(seen_step_for(2), "f") == 0);
	CHECK(nseen == 2 && strcmp(seen[0].wf_id, "dup_ff") == 0);

	/* f(f(f(1)), f(10)): breadth-first from the output, arguments in
	 * order: f, then f_1 = f(f(1)) and f_2 = f(10), then f_3 = f(1). */
	seen_reset();
	outer = tagged(f, "root", NULL);
	wf_node *left = tagged(f, "left", NULL);
	e_arg_node(left, tagged(f, "leftleft", "[1]"));
	e_arg_node(outer, left);
	e_arg_node(outer, tagged(f, "right", "[10]"));
	CHECK_E(e, wf_run(e, outer, "dup_bfs", NULL, &out));
	CHECK_OUT_NUM(out, 15); /* f(1)=2, f(2)=3, f(10)=11, f(3, 11)=15 */
	cJSON_Delete(out);
	check_which(e, "dup_bfs", "f", "root");
	check_which(e, "dup_bfs", "f_1", "left");
	check_which(e, "dup_bfs", "f_2", "right");
	check_which(e, "dup_bfs", "f_3", "leftleft");
	CHECK(strcmp(seen_step_for(1), "f_3") == 0);
	CHECK(strcmp(seen_step_for(2), "f_1") == 0);
	CHECK(strcmp(seen_step_for(10), "f_2") == 0);
	CHECK(strcmp(seen_step_for(3), "f") == 0);

	/* The counter is per workflow: another workflow starts again at f. */
	CHECK_E(e, wf_run(e, tagged(f, "alone", "[5]"), "dup_other", NULL,
	                  NULL));
	check_which(e, "dup_other", "f", "alone");

	/* .options(name=...) gives the base name; repeats count from it. */
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.name = "g";
	wf_node *g = e_node(f, &o, NULL);
	e_arg_node(g, e_node(f, &o, "[1]"));
	CHECK_E(e, wf_run(e, g, "dup_named", NULL, NULL));
	cJSON *m = e_meta(e, "dup_named", "g_1");
	CHECK(strcmp(e_str(m, "name"), "g") == 0);
	cJSON_Delete(m);
	CHECK_ERC(e, wf_get_metadata(e, "dup_named", "f", &none), WF_ENOTFOUND);
}

/* ---- dynamic recursion (the seed's Counter, as plain steps) ------------- */

/*
 *   def incr(n, count):              # count is the Counter's self.n
 *       count += 1
 *       if n - 1 > 0:
 *           return incr.options(name="incr",
 *                               metadata={"current_n": count}).step(n - 1, count)
 *       return count
 *   incr.options(name="incr", metadata={"outer_k": "outer_v"}).step(5, 0)
 */
static wf_step *incr_step;

static int incr_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	seen_add(ctx, args);
	int n = (int)cJSON_GetArrayItem(args, 0)->valuedouble;
	int count = (int)cJSON_GetArrayItem(args, 1)->valuedouble + 1;
	if (n - 1 > 0) {
		wf_step_options o = WF_STEP_OPTIONS_INIT;
		cJSON *md = cJSON_CreateObject();
		wf_node *next = NULL;
		cJSON_AddNumberToObject(md, "current_n", count);
		o.name = "incr";
		o.metadata = md;
		int rc = wf_node_new(&next, incr_step, &o);
		cJSON_Delete(md);
		if (rc != 0)
			return wf_ctx_fail(ctx, "wf_node_new: %d", rc);
		cJSON *a = cJSON_CreateNumber(n - 1), *b = cJSON_CreateNumber(count);
		rc = wf_node_arg(next, a);
		if (rc == 0)
			rc = wf_node_arg(next, b);
		cJSON_Delete(a);
		cJSON_Delete(b);
		if (rc != 0) {
			wf_node_free(next);
			return wf_ctx_fail(ctx, "wf_node_arg: %d", rc);
		}
		return wf_ctx_continue(ctx, next);
	}
	*out = cJSON_CreateNumber(count);
	return 0;
}

static void test_recursion(wf_engine *e)
{
	static const char *ids[] = {"incr", "incr_1", "incr_2", "incr_3",
	                            "incr_4"};
	cJSON *md, *out = NULL, *none = NULL;
	seen_reset();
	incr_step = e_define(e, "incr_fn", incr_fn, NULL, NULL);
	wf_step_options o = e_opts("incr", "{\"outer_k\": \"outer_v\"}", &md);
	wf_node *n = e_node(incr_step, &o, "[5, 0]");
	cJSON_Delete(md);
	CHECK_E(e, wf_run(e, n, "counter", NULL, &out));
	CHECK_OUT_NUM(out, 5);
	cJSON_Delete(out);

	cJSON *m = e_meta(e, "counter", "incr");
	CHECK_JSON(e_get(m, "user_metadata"), "{\"outer_k\": \"outer_v\"}");
	cJSON_Delete(m);
	for (int i = 1; i <= 4; i++) {
		char want[64];
		snprintf(want, sizeof want, "{\"current_n\": %d}", i);
		t_context("step %s", ids[i]);
		m = e_meta(e, "counter", ids[i]);
		CHECK_JSON(e_get(m, "user_metadata"), want);
		CHECK(strcmp(e_str(m, "name"), "incr") == 0);
		CHECK(strcmp(e_str(m, "step_id"), ids[i]) == 0);
		CHECK_HAS(m, "stats.start_time");
		cJSON_Delete(m);
	}
	t_context("%s", "");
	CHECK_ERC(e, wf_get_metadata(e, "counter", "incr_5", &none),
	          WF_ENOTFOUND);
	/* Each call ran once, in order, under the id it is listed as. */
	CHECK_EQ_I64(nseen, 5);
	for (int i = 0; i < 5; i++) {
		CHECK_MSG(strcmp(seen[i].step_id, ids[i]) == 0,
		          "call %d ran as %s, expected %s", i, seen[i].step_id,
		          ids[i]);
		CHECK(seen[i].arg0 == 5 - i);
		CHECK(seen[i].attempt == 1);
		CHECK(strcmp(seen[i].wf_id, "counter") == 0);
	}
	CHECK_STATUS(e, "counter", WF_STATUS_SUCCESSFUL);
}

/*
 * Ids in a continuation: breadth-first from the returned node, counting on
 * from the workflow's counter. f(dyn()) where dyn returns
 * fresh(f(1), fresh(2)): the workflow has f and dyn; the continuation adds
 * fresh (a new base name: bare), f_1 (f is taken), fresh_1.
 */
static wf_step *f_step;

static int dyn_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)args;
	(void)udata;
	(void)out;
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	wf_node *x = NULL, *a = NULL, *b = NULL;
	cJSON *m0 = cJSON_Parse("{\"which\": \"c_root\"}");
	cJSON *m1 = cJSON_Parse("{\"which\": \"c_f\"}");
	cJSON *m2 = cJSON_Parse("{\"which\": \"c_fresh\"}");
	int rc;
	o.name = "fresh";
	o.metadata = m0;
	rc = wf_node_new(&x, f_step, &o);
	o.name = NULL;
	o.metadata = m1;
	if (rc == 0 && (rc = wf_node_new(&a, f_step, &o)) == 0)
		rc = wf_node_arg_json(a, "1");
	o.name = "fresh";
	o.metadata = m2;
	if (rc == 0 && (rc = wf_node_new(&b, f_step, &o)) == 0)
		rc = wf_node_arg_json(b, "2");
	cJSON_Delete(m0);
	cJSON_Delete(m1);
	cJSON_Delete(m2);
	if (rc == 0) {
		rc = wf_node_arg_node(x, a);
		a = NULL;
	}
	if (rc == 0) {
		rc = wf_node_arg_node(x, b);
		b = NULL;
	}
	if (rc != 0) {
		wf_node_free(x);
		wf_node_free(a);
		wf_node_free(b);
		return wf_ctx_fail(ctx, "building the continuation: %d", rc);
	}
	return wf_ctx_continue(ctx, x);
}

static void check_tag(wf_engine *e, const char *id, const char *step,
                      const char *name, const char *tag)
{
	char want[128];
	cJSON *m = e_meta(e, id, step);
	snprintf(want, sizeof want, "{\"which\": \"%s\"}", tag);
	t_context("workflow %s step %s", id, step);
	CHECK_JSON(e_get(m, "user_metadata"), want);
	CHECK(strcmp(e_str(m, "name"), name) == 0);
	t_context("%s", "");
	cJSON_Delete(m);
}

static void test_continuation_names(wf_engine *e)
{
	cJSON *out = NULL, *none = NULL;
	f_step = wf_step_find(e, "f");
	CHECK(f_step != NULL);
	wf_step *dyn = e_define(e, "dyn", dyn_fn, NULL, NULL);
	seen_reset();
	wf_node *root = tagged(f_step, "root", NULL);
	e_arg_node(root, e_node(dyn, NULL, NULL));
	CHECK_E(e, wf_run(e, root, "dyn_names", NULL, &out));
	/* f(1) = 2, fresh(2) = 3, fresh(2, 3) = 6, f(6) = 7 */
	CHECK_OUT_NUM(out, 7);
	cJSON_Delete(out);
	check_tag(e, "dyn_names", "f", "f", "root");
	check_tag(e, "dyn_names", "fresh", "fresh", "c_root");
	check_tag(e, "dyn_names", "f_1", "f", "c_f");
	check_tag(e, "dyn_names", "fresh_1", "fresh", "c_fresh");
	cJSON *m = e_meta(e, "dyn_names", "dyn");
	CHECK(strcmp(e_str(m, "step_id"), "dyn") == 0);
	cJSON_Delete(m);
	CHECK_ERC(e, wf_get_metadata(e, "dyn_names", "f_2", &none),
	          WF_ENOTFOUND);
	CHECK_ERC(e, wf_get_metadata(e, "dyn_names", "fresh_2", &none),
	          WF_ENOTFOUND);
	CHECK(strcmp(seen_step_for(1), "f_1") == 0);
	CHECK(strcmp(seen_step_for(6), "f") == 0);
}

/* ---- retries ----------------------------------------------------------- */

/* Fails on attempts 1 .. *udata (and always if *udata < 0), "boom <attempt>". */
static atomic_int flaky_calls;
static int flaky(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	int fails = *(const int *)udata;
	int attempt = wf_ctx_attempt(ctx);
	seen_add(ctx, args);
	atomic_fetch_add(&flaky_calls, 1);
	if (fails < 0 || attempt <= fails)
		return wf_ctx_fail(ctx, "boom %d", attempt);
	*out = cJSON_CreateString("worked");
	return 0;
}

/* Run a flaky step (failing `fails` times) with max_retries (WF_UNSET: the
 * definition's); return wf_run's code. */
static int run_flaky(wf_engine *e, wf_step *s, int max_retries,
                     const char *id, cJSON **out)
{
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.max_retries = max_retries;
	atomic_store(&flaky_calls, 0);
	seen_reset();
	return wf_run(e, e_node(s, &o, "[0]"), id, NULL, out);
}

static void check_attempts(wf_engine *e, const char *id, const char *step,
                           int n, int failed)
{
	cJSON *m = e_meta(e, id, step);
	CHECK_EQ_I64(e_array_len(m, "attempts"), n);
	/* Each failed attempt keeps its own error. */
	for (int i = 0; i < failed; i++) {
		char want[32];
		snprintf(want, sizeof want, "boom %d", i + 1);
		CHECK_MSG(e_json_contains(cJSON_GetArrayItem(e_get(m, "attempts"), i),
		                          want),
		          "attempt %d of %s lacks \"%s\": %s", i + 1, step, want,
		          e_text(e_get(m, "attempts")));
	}
	cJSON_Delete(m);
}

static void test_retries(wf_engine *e)
{
	static int always = -1, once = 1, nine = 9, two = 2;
	cJSON *out = NULL;

	/* max_retries=3: exactly 4 attempts, then the workflow fails. */
	wf_step *s = e_define(e, "always_fails", flaky, &always, NULL);
	CHECK_ERC(e, run_flaky(e, s, 3, "retry_3", &out), WF_EFAILED);
	CHECK(out == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "boom 4");
	CHECK_EQ_I64(atomic_load(&flaky_calls), 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ_I64(seen[i].attempt, i + 1);
	CHECK_STATUS(e, "retry_3", WF_STATUS_FAILED);
	check_attempts(e, "retry_3", "always_fails", 4, 4);
	cJSON *m = e_meta(e, "retry_3", NULL);
	CHECK_HAS(m, "stats.end_time");
	cJSON_Delete(m);
	CHECK_ERC(e, wf_get_output(e, "retry_3", &out), WF_EFAILED);
	CHECK(out == NULL);

	/* max_retries=0: one attempt. */
	CHECK_ERC(e, run_flaky(e, s, 0, "retry_0", NULL), WF_EFAILED);
	CHECK_EQ_I64(atomic_load(&flaky_calls), 1);
	check_attempts(e, "retry_0", "always_fails", 1, 1);

	/* max_retries=1, fails once: the second attempt succeeds. */
	wf_step *s1 = e_define(e, "fails_once", flaky, &once, NULL);
	CHECK_E(e, run_flaky(e, s1, 1, "retry_1", &out));
	CHECK_JSON(out, "\"worked\"");
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&flaky_calls), 2);
	CHECK_STATUS(e, "retry_1", WF_STATUS_SUCCESSFUL);
	check_attempts(e, "retry_1", "fails_once", 2, 1);
	m = e_meta(e, "retry_1", "fails_once");
	CHECK_HAS(m, "stats.end_time");
	cJSON_Delete(m);

	/* max_retries=-1: until it works (here the 10th attempt). */
	wf_step *s9 = e_define(e, "fails_nine", flaky, &nine, NULL);
	CHECK_E(e, run_flaky(e, s9, -1, "retry_unlimited", &out));
	CHECK_JSON(out, "\"worked\"");
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&flaky_calls), 10);
	check_attempts(e, "retry_unlimited", "fails_nine", 10, 9);

	/* The definition's max_retries (2) when the call sets none: 3 tries. */
	wf_step_options d = WF_STEP_OPTIONS_INIT;
	d.max_retries = 2;
	wf_step *sd = e_define(e, "always_fails_2", flaky, &always, &d);
	CHECK_ERC(e, run_flaky(e, sd, WF_UNSET, "retry_def", NULL), WF_EFAILED);
	CHECK_EQ_I64(atomic_load(&flaky_calls), 3);
	/* ... and a call's option wins over it. */
	CHECK_ERC(e, run_flaky(e, sd, 0, "retry_def_0", NULL), WF_EFAILED);
	CHECK_EQ_I64(atomic_load(&flaky_calls), 1);

	/* Default max_retries (3) with a step that fails twice: succeeds. */
	wf_step *s2 = e_define(e, "fails_twice", flaky, &two, NULL);
	CHECK_E(e, run_flaky(e, s2, WF_UNSET, "retry_default", NULL));
	CHECK_EQ_I64(atomic_load(&flaky_calls), 3);
}

/* A failure stops the workflow at once; its dependents never run. */
static void test_failure_stops(wf_engine *e)
{
	static int always = -1;
	static e_probe after, sleeper;
	e_probe_reset(&after);
	e_probe_reset(&sleeper);
	wf_step *bad = e_define(e, "bad", flaky, &always, NULL);
	wf_step *dep = e_define(e, "dependent", e_step_add, &after, NULL);
	wf_step *slow = e_define(e, "slow", e_step_block, &sleeper, NULL);
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.max_retries = 0;

	/* dependent(bad(0), slow()): bad fails while slow sleeps 1000 s. */
	wf_node *n = e_node(dep, NULL, NULL);
	e_arg_node(n, e_node(bad, &o, "[0]"));
	e_arg_node(n, e_node(slow, NULL, NULL));
	double t0 = e_mono();
	atomic_store(&flaky_calls, 0);
	CHECK_ERC(e, wf_run(e, n, "stops", NULL, NULL), WF_EFAILED);
	CHECK_MSG(e_mono() - t0 < E_WAIT_S, "wf_run took %.1f s",
	          e_mono() - t0);
	CHECK_CONTAINS(wf_errmsg(e), "boom 1");
	CHECK_EQ_I64(atomic_load(&flaky_calls), 1);
	CHECK_EQ_I64(atomic_load(&after.calls), 0);
	CHECK_STATUS(e, "stops", WF_STATUS_FAILED);
	cJSON *m = e_meta(e, "stops", NULL);
	CHECK_HAS(m, "stats.end_time");
	cJSON_Delete(m);
	/* The dependent step never started. */
	cJSON *dm = NULL;
	int rc = wf_get_metadata(e, "stops", "dependent", &dm);
	CHECK(rc == 0 || rc == WF_ENOTFOUND);
	if (rc == 0)
		CHECK_HAS_NOT(dm, "stats.start_time");
	cJSON_Delete(dm);
}

/* ---- catch_exceptions ------------------------------------------------------- */

static int identity(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)ctx;
	(void)udata;
	*out = cJSON_Duplicate(cJSON_GetArrayItem(args, 0), 1);
	return 0;
}

static void test_catch_exceptions(wf_engine *e)
{
	static int always = -1;
	cJSON *out = NULL;
	wf_step *add = wf_step_find(e, "add");
	wf_step *bad = e_define(e, "bad_caught", flaky, &always, NULL);
	wf_step *id = e_define(e, "identity", identity, NULL, NULL);
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.catch_exceptions = 1;
	CHECK(add != NULL);

	/* Success: [result, null]. */
	CHECK_E(e, wf_run(e, e_node(add, &o, "[1, 2]"), "catch_ok", NULL, &out));
	CHECK_JSON(out, "[3, null]");
	cJSON_Delete(out);
	CHECK_STATUS(e, "catch_ok", WF_STATUS_SUCCESSFUL);

	/* Failure (after its 3 retries): [null, error], and the workflow goes
	 * on: identity() gets that pair as its argument. */
	wf_node *n = e_node(id, NULL, NULL);
	e_arg_node(n, e_node(bad, &o, "[0]"));
	atomic_store(&flaky_calls, 0);
	CHECK_E(e, wf_run(e, n, "catch_fail", NULL, &out));
	CHECK_EQ_I64(atomic_load(&flaky_calls), 4);
	CHECK(cJSON_IsArray(out) && cJSON_GetArraySize(out) == 2);
	CHECK(cJSON_IsNull(cJSON_GetArrayItem(out, 0)));
	CHECK(cJSON_IsString(cJSON_GetArrayItem(out, 1)));
	CHECK_CONTAINS(cJSON_GetArrayItem(out, 1)->valuestring, "boom 4");
	cJSON_Delete(out);
	CHECK_STATUS(e, "catch_fail", WF_STATUS_SUCCESSFUL);
	CHECK_E(e, wf_get_output(e, "catch_fail", &out));
	CHECK(cJSON_IsNull(cJSON_GetArrayItem(out, 0)));
	cJSON_Delete(out);
	/* A caught exception counts as finished. */
	cJSON *m = e_meta(e, "catch_fail", "bad_caught");
	CHECK_HAS(m, "stats.end_time");
	CHECK_JSON(e_get(m, "step_options.catch_exceptions"), "true");
	cJSON_Delete(m);
	m = e_meta(e, "catch_fail", NULL);
	CHECK_HAS(m, "stats.end_time");
	cJSON_Delete(m);
}

/* ---- checkpoint=false ---------------------------------------------------- */

static void test_checkpoint(wf_engine *e)
{
	static e_probe pa, pb, pc;
	cJSON *out = NULL;
	e_probe_reset(&pa);
	e_probe_reset(&pb);
	e_probe_reset(&pc);
	wf_step *a = e_define(e, "ck_a", e_step_add, &pa, NULL);
	wf_step *b = e_define(e, "ck_b", e_step_add, &pb, NULL);
	wf_step *c = e_define(e, "ck_c", e_step_add, &pc, NULL);
	wf_step_options nock = WF_STEP_OPTIONS_INIT, once = WF_STEP_OPTIONS_INIT;
	nock.checkpoint = 0;
	once.max_retries = 0;

	/* c(b(a(1, 1), 10), 100) with b not checkpointed; c fails at first. */
	wf_node *na = e_node(a, NULL, "[1, 1]");
	wf_node *nb = e_node(b, &nock, NULL);
	e_arg_node(nb, na);
	CHECK_OK(wf_node_arg_json(nb, "10"));
	wf_node *nc = e_node(c, &once, NULL);
	e_arg_node(nc, nb);
	CHECK_OK(wf_node_arg_json(nc, "100"));
	atomic_store(&pc.fail, 1);
	CHECK_ERC(e, wf_run(e, nc, "ckpt", NULL, NULL), WF_EFAILED);
	CHECK_EQ_I64(atomic_load(&pa.calls), 1);
	CHECK_EQ_I64(atomic_load(&pb.calls), 1);
	CHECK_EQ_I64(atomic_load(&pc.calls), 1);

	/* Resume: a is checkpointed (not run), b is not (runs again), c runs. */
	atomic_store(&pc.fail, 0);
	CHECK_E(e, wf_resume(e, "ckpt", &out));
	CHECK_OUT_NUM(out, 112);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&pa.calls), 1);
	CHECK_EQ_I64(atomic_load(&pb.calls), 2);
	CHECK_EQ_I64(atomic_load(&pc.calls), 2);
	CHECK_STATUS(e, "ckpt", WF_STATUS_SUCCESSFUL);
	cJSON *m = e_meta(e, "ckpt", "ck_b");
	CHECK_JSON(e_get(m, "step_options.checkpoint"), "false");
	cJSON_Delete(m);

	/* Resuming the finished workflow runs nothing. */
	CHECK_E(e, wf_resume(e, "ckpt", &out));
	CHECK_OUT_NUM(out, 112);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&pa.calls) + atomic_load(&pb.calls) +
	                 atomic_load(&pc.calls),
	             5);
}

int main(void)
{
	char dir[512];
	wf_engine *e = e_fresh(dir, "steps", WF_SYNC_NONE);
	e_define(e, "add", e_step_add, NULL, NULL);

	t_context("duplicate names");
	test_duplicate_names(e);
	t_context("recursion");
	test_recursion(e);
	t_context("continuation names");
	test_continuation_names(e);
	t_context("retries");
	test_retries(e);
	t_context("failure stops");
	test_failure_stops(e);
	t_context("catch_exceptions");
	test_catch_exceptions(e);
	t_context("checkpoint");
	test_checkpoint(e);
	e_close(e);
	return 0;
}
