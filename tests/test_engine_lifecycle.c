/*
 * A workflow's life: run of a finished id returns the stored output and
 * runs nothing (also through run_async and resume); run, resume and delete
 * of a running id are refused (WF_EBUSY) and change nothing; cancel, and
 * resume of a cancelled workflow refused (WF_ECANCELED, it stays CANCELED,
 * resume_all skips it); cancel of a finished workflow refused; delete, then
 * the id used again with another DAG (old metadata and step ids gone);
 * get_output of SUCCESSFUL, FAILED, CANCELED and running workflows;
 * futures (wait twice, free without waiting, resume_async); a resume is a
 * new attempt (RUNNING, new start_time, no end_time until it ends); a
 * step that ignores cancellation: cancel and close do not wait for it, the
 * id is free at once, and its late result is recorded nowhere.
 */
#include "engine_util.h"

static e_probe add_probe;
static wf_step *add;

/* run of a finished id: the stored output, nothing runs, nothing changes */
static void test_run_finished(wf_engine *e)
{
	static e_probe other;
	cJSON *out = NULL, *md = e_json("{\"second\": true}");
	wf_future *f = NULL;
	e_probe_reset(&other);
	wf_step *mul = e_define(e, "other", e_step_add, &other, NULL);

	CHECK_E(e, wf_run(e, e_node(add, NULL, "[10, 20]"), "fin", NULL, &out));
	CHECK_OUT_NUM(out, 30);
	cJSON_Delete(out);
	cJSON *before = e_meta(e, "fin", NULL);
	cJSON *before_step = e_meta(e, "fin", "add");

	/* Another DAG under the same id: not run; the stored output. */
	CHECK_E(e, wf_run(e, e_node(mul, NULL, "[1, 1]"), "fin", md, &out));
	CHECK_OUT_NUM(out, 30);
	cJSON_Delete(out);
	CHECK_E(e, wf_run_async(e, e_node(mul, NULL, "[1, 1]"), "fin", NULL, &f));
	CHECK_E(e, wf_future_wait(f, &out));
	CHECK_OUT_NUM(out, 30);
	cJSON_Delete(out);
	wf_future_free(f);
	CHECK_E(e, wf_resume(e, "fin", &out));
	CHECK_OUT_NUM(out, 30);
	cJSON_Delete(out);
	f = NULL;
	CHECK_E(e, wf_resume_async(e, "fin", &f));
	CHECK_E(e, wf_future_wait(f, &out));
	CHECK_OUT_NUM(out, 30);
	cJSON_Delete(out);
	wf_future_free(f);
	CHECK_E(e, wf_get_output(e, "fin", &out));
	CHECK_OUT_NUM(out, 30);
	cJSON_Delete(out);

	CHECK_EQ_I64(atomic_load(&other.calls), 0);
	CHECK_EQ_I64(atomic_load(&add_probe.calls), 1);
	/* No new attempt, same stats, same user metadata. */
	cJSON *after = e_meta(e, "fin", NULL);
	cJSON *after_step = e_meta(e, "fin", "add");
	CHECK_JSON_SAME(after, before);
	CHECK_JSON_SAME(after_step, before_step);
	cJSON *none = NULL;
	CHECK_ERC(e, wf_get_metadata(e, "fin", "other", &none), WF_ENOTFOUND);
	cJSON_Delete(before);
	cJSON_Delete(after);
	cJSON_Delete(before_step);
	cJSON_Delete(after_step);
	cJSON_Delete(md);
	e_probe_reset(&add_probe);
}

/* A running id: run, resume, delete refused; cancel; resume refused. */
static void test_busy_and_cancel(wf_engine *e)
{
	static e_probe block;
	const char *id = "busy";
	wf_future *f = NULL, *f2 = NULL;
	cJSON *out = NULL, *ids = NULL;
	size_t count = 99;
	e_probe_reset(&block);
	wf_step *blk = e_define(e, "block", e_step_block, &block, NULL);

	CHECK_E(e, wf_run_async(e, e_node(blk, NULL, NULL), id, NULL, &f));
	e_wait_flag(&block.calls, 1, "the blocking step to start");
	cJSON *running = e_meta(e, id, NULL);

	CHECK_ERC(e, wf_run(e, e_node(add, NULL, "[1, 2]"), id, NULL, &out),
	          WF_EBUSY);
	CHECK(out == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "running");
	CHECK_ERC(e, wf_run_async(e, e_node(add, NULL, "[1, 2]"), id, NULL, &f2),
	          WF_EBUSY);
	wf_future_free(f2);
	f2 = NULL;
	CHECK_ERC(e, wf_resume(e, id, &out), WF_EBUSY);
	CHECK(out == NULL);
	CHECK_ERC(e, wf_resume_async(e, id, &f2), WF_EBUSY);
	wf_future_free(f2);
	f2 = NULL;
	CHECK_ERC(e, wf_delete(e, id), WF_EBUSY);
	/* resume_all does not touch a running workflow. */
	CHECK_E(e, wf_resume_all(e, 1, &ids, &count));
	CHECK_EQ_U64(count, 0);
	CHECK_JSON(ids, "[]");
	cJSON_Delete(ids);

	/* Nothing changed: still running the same attempt, nothing else ran. */
	CHECK_STATUS(e, id, WF_STATUS_RUNNING);
	cJSON *m = e_meta(e, id, NULL);
	CHECK_JSON_SAME(m, running);
	cJSON_Delete(m);
	cJSON_Delete(running);
	CHECK_EQ_I64(atomic_load(&add_probe.calls), 0);
	CHECK_EQ_I64(atomic_load(&block.calls), 1);
	CHECK_ERC(e, wf_get_metadata(e, id, "add", &out), WF_ENOTFOUND);

	/* Cancel: CANCELED at once, the waiter returns, the step stops. */
	CHECK_E(e, wf_cancel(e, id));
	CHECK_STATUS(e, id, WF_STATUS_CANCELED);
	CHECK_RC(wf_future_wait(f, &out), WF_ECANCELED);
	CHECK(out == NULL);
	wf_future_free(f);
	e_wait_flag(&block.returned, 1, "the blocking step to see the cancel");
	CHECK_RC(atomic_load(&block.sleep_rc), WF_ECANCELED);
	cJSON *canceled = e_meta(e, id, NULL);
	CHECK_HAS_NOT(canceled, "stats.end_time");
	/* What the step returned after the cancel is not recorded. */
	e_sleep_ms(20);
	m = e_meta(e, id, "block");
	CHECK_HAS_NOT(m, "stats.end_time");
	cJSON_Delete(m);

	/* A cancelled workflow cannot be resumed; it stays CANCELED. */
	CHECK_ERC(e, wf_resume(e, id, &out), WF_ECANCELED);
	CHECK(out == NULL);
	f = NULL;
	int rc = wf_resume_async(e, id, &f);
	if (rc == 0)
		rc = wf_future_wait(f, NULL);
	CHECK_ERC(e, rc, WF_ECANCELED);
	wf_future_free(f);
	CHECK_E(e, wf_resume_all(e, 1, &ids, &count));
	CHECK_EQ_U64(count, 0);
	CHECK_JSON(ids, "[]");
	cJSON_Delete(ids);
	CHECK_E(e, wf_resume_all(e, 0, NULL, NULL));
	e_sleep_ms(50);
	CHECK_STATUS(e, id, WF_STATUS_CANCELED);
	m = e_meta(e, id, NULL);
	CHECK_JSON_SAME(m, canceled);
	cJSON_Delete(m);
	cJSON_Delete(canceled);
	CHECK_EQ_I64(atomic_load(&block.calls), 1);
	CHECK_ERC(e, wf_get_output(e, id, &out), WF_ECANCELED);
	CHECK(out == NULL);
	cJSON *l = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_CANCELED));
	CHECK_JSON(l, "[\"busy\"]");
	cJSON_Delete(l);

	/* A cancelled workflow is not running: it can be deleted. */
	CHECK_E(e, wf_delete(e, id));
	CHECK(e_status(e, id) == WF_STATUS_NONE);
}

/* Cancel of a finished workflow is refused and changes nothing. */
static void test_cancel_finished(wf_engine *e)
{
	CHECK_E(e, wf_run(e, e_node(add, NULL, "[2, 2]"), "done", NULL, NULL));
	cJSON *before = e_meta(e, "done", NULL);
	CHECK_ERC(e, wf_cancel(e, "done"), WF_EINVAL);
	CHECK_STATUS(e, "done", WF_STATUS_SUCCESSFUL);
	cJSON *after = e_meta(e, "done", NULL);
	CHECK_JSON_SAME(after, before);
	cJSON_Delete(before);
	cJSON_Delete(after);
	e_probe_reset(&add_probe);
}

/* Delete, then the id again with another DAG. */
static void test_delete_reuse(wf_engine *e)
{
	static e_probe mp;
	cJSON *out = NULL, *md1 = e_json("{\"v\": 1}"), *md2 = e_json("{\"v\": 2}");
	e_probe_reset(&mp);
	wf_step *mul = e_define(e, "mul", e_step_add, &mp, NULL);

	/* reuse: add(add(1, 2), 0) -> 3, steps add and add_1 */
	wf_node *n = e_node(add, NULL, NULL);
	e_arg_node(n, e_node(add, NULL, "[1, 2]"));
	CHECK_OK(wf_node_arg_json(n, "0"));
	CHECK_E(e, wf_run(e, n, "reuse", md1, &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	CHECK_E(e, wf_delete(e, "reuse"));

	/* Gone everywhere. */
	CHECK(e_status(e, "reuse") == WF_STATUS_NONE);
	CHECK_ERC(e, wf_get_metadata(e, "reuse", NULL, &out), WF_ENOTFOUND);
	CHECK_CONTAINS(wf_errmsg(e), "No such workflow_id reuse");
	CHECK_ERC(e, wf_get_metadata(e, "reuse", "add", &out), WF_ENOTFOUND);
	CHECK_ERC(e, wf_get_output(e, "reuse", &out), WF_ENOTFOUND);
	CHECK_ERC(e, wf_resume(e, "reuse", &out), WF_ENOTFOUND);
	CHECK_ERC(e, wf_delete(e, "reuse"), WF_ENOTFOUND);
	cJSON *all = e_list_ids(e, WF_STATUS_ALL), *it;
	cJSON_ArrayForEach(it, all) CHECK(strcmp(it->valuestring, "reuse") != 0);
	cJSON_Delete(all);

	/* Run again with another DAG: it runs (not the old output), with the
	 * new metadata, one attempt, and step ids counted from scratch. */
	e_probe_reset(&add_probe);
	cJSON *smd;
	wf_step_options o = e_opts(NULL, "{\"new\": true}", &smd);
	n = e_node(add, &o, NULL);
	cJSON_Delete(smd);
	e_arg_node(n, e_node(mul, NULL, "[100, 200]"));
	CHECK_E(e, wf_run(e, n, "reuse", md2, &out));
	CHECK_OUT_NUM(out, 300);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&add_probe.calls), 1);
	CHECK_EQ_I64(atomic_load(&mp.calls), 1);
	CHECK_STATUS(e, "reuse", WF_STATUS_SUCCESSFUL);
	cJSON *m = e_meta(e, "reuse", NULL);
	CHECK_JSON(e_get(m, "user_metadata"), "{\"v\": 2}");
	CHECK_EQ_I64(e_array_len(m, "attempts"), 1);
	cJSON_Delete(m);
	m = e_meta(e, "reuse", "add");
	CHECK_JSON(e_get(m, "user_metadata"), "{\"new\": true}");
	cJSON_Delete(m);
	m = e_meta(e, "reuse", "mul");
	CHECK_JSON(e_get(m, "user_metadata"), "{}");
	cJSON_Delete(m);
	CHECK_ERC(e, wf_get_metadata(e, "reuse", "add_1", &out), WF_ENOTFOUND);
	CHECK_E(e, wf_get_output(e, "reuse", &out));
	CHECK_OUT_NUM(out, 300);
	cJSON_Delete(out);

	/* A FAILED workflow can be deleted too. */
	atomic_store(&mp.fail, 1);
	wf_step_options once = WF_STEP_OPTIONS_INIT;
	once.max_retries = 0;
	CHECK_ERC(e, wf_run(e, e_node(mul, &once, "[1]"), "reuse_failed", NULL,
	                    NULL),
	          WF_EFAILED);
	CHECK_E(e, wf_delete(e, "reuse_failed"));
	CHECK(e_status(e, "reuse_failed") == WF_STATUS_NONE);
	atomic_store(&mp.fail, 0);
	CHECK_E(e, wf_run(e, e_node(mul, &once, "[4]"), "reuse_failed", NULL,
	                  &out));
	CHECK_OUT_NUM(out, 4);
	cJSON_Delete(out);
	cJSON_Delete(md1);
	cJSON_Delete(md2);
	e_probe_reset(&add_probe);
}

static int nap5(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)args;
	atomic_fetch_add((atomic_int *)udata, 1);
	if (wf_ctx_sleep(ctx, 0.3) != 0)
		return wf_ctx_fail(ctx, "cancelled");
	*out = cJSON_CreateNumber(5);
	return 0;
}

/* get_output: stored, failed, and waiting for a running workflow. */
static void test_get_output(wf_engine *e)
{
	static atomic_int naps;
	cJSON *out = NULL;
	wf_future *f = NULL;
	wf_step *s = e_define(e, "nap5", nap5, &naps, NULL);

	/* Running: get_output waits for the result. */
	CHECK_E(e, wf_run_async(e, e_node(s, NULL, NULL), "out_wait", NULL, &f));
	double t0 = e_mono();
	CHECK_E(e, wf_get_output(e, "out_wait", &out));
	CHECK_OUT_NUM(out, 5);
	cJSON_Delete(out);
	CHECK(e_mono() - t0 < E_WAIT_S);
	CHECK_STATUS(e, "out_wait", WF_STATUS_SUCCESSFUL);
	/* The future gives the same, on every wait. */
	CHECK_E(e, wf_future_wait(f, &out));
	CHECK_OUT_NUM(out, 5);
	cJSON_Delete(out);
	CHECK_E(e, wf_future_wait(f, &out));
	CHECK_OUT_NUM(out, 5);
	cJSON_Delete(out);
	wf_future_free(f);

	/* A future freed without waiting: the workflow still runs. */
	f = NULL;
	CHECK_E(e, wf_run_async(e, e_node(s, NULL, NULL), "out_nowait", NULL, &f));
	wf_future_free(f);
	CHECK_E(e, wf_get_output(e, "out_nowait", &out));
	CHECK_OUT_NUM(out, 5);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&naps), 2);

	/* FAILED: WF_EFAILED with the step's error; then resume_async. */
	wf_step_options once = WF_STEP_OPTIONS_INIT;
	once.max_retries = 0;
	atomic_store(&add_probe.fail, 1);
	CHECK_ERC(e, wf_run(e, e_node(add, &once, "[1, 2]"), "out_failed", NULL,
	                    NULL),
	          WF_EFAILED);
	CHECK_ERC(e, wf_get_output(e, "out_failed", &out), WF_EFAILED);
	CHECK(out == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "add failed");
	atomic_store(&add_probe.fail, 0);
	f = NULL;
	CHECK_E(e, wf_resume_async(e, "out_failed", &f));
	CHECK_E(e, wf_future_wait(f, &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	wf_future_free(f);
	CHECK_E(e, wf_get_output(e, "out_failed", &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	CHECK_STATUS(e, "out_failed", WF_STATUS_SUCCESSFUL);
}

/* Fails while fail is set; otherwise signals and waits for release. */
static atomic_int gate_fail, gate_started, gate_release;
static int gate(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)args;
	(void)udata;
	if (atomic_load(&gate_fail))
		return wf_ctx_fail(ctx, "gate closed");
	atomic_fetch_add(&gate_started, 1);
	while (!atomic_load(&gate_release))
		if (wf_ctx_sleep(ctx, 0.001) != 0)
			return wf_ctx_fail(ctx, "cancelled");
	*out = cJSON_CreateString("through");
	return 0;
}

/* A resume is a new attempt: RUNNING, start_time now, no end_time until
 * it ends (SEMANTICS: "end_time dropped until the attempt ends"). */
static void test_resume_refreshes_stats(wf_engine *e)
{
	wf_step *g = e_define(e, "gate", gate, NULL, NULL);
	wf_step_options once = WF_STEP_OPTIONS_INIT;
	wf_future *f = NULL;
	cJSON *out = NULL;
	once.max_retries = 0;
	atomic_store(&gate_fail, 1);
	CHECK_ERC(e, wf_run(e, e_node(g, &once, NULL), "refresh", NULL, NULL),
	          WF_EFAILED);
	cJSON *failed = e_meta(e, "refresh", NULL);
	CHECK_HAS(failed, "stats.end_time");

	atomic_store(&gate_fail, 0);
	CHECK_E(e, wf_resume_async(e, "refresh", &f));
	e_wait_flag(&gate_started, 1, "the resumed step to start");
	CHECK_STATUS(e, "refresh", WF_STATUS_RUNNING);
	cJSON *running = e_meta(e, "refresh", NULL);
	CHECK_HAS_NOT(running, "stats.end_time");
	CHECK(e_num(running, "stats.start_time") >=
	      e_num(failed, "stats.end_time"));
	CHECK_EQ_I64(e_array_len(running, "attempts"), 2);

	atomic_store(&gate_release, 1);
	CHECK_E(e, wf_future_wait(f, &out));
	CHECK_JSON(out, "\"through\"");
	cJSON_Delete(out);
	wf_future_free(f);
	cJSON *done = e_meta(e, "refresh", NULL);
	CHECK(strcmp(e_str(done, "status"), "SUCCESSFUL") == 0);
	CHECK(e_num(done, "stats.start_time") ==
	      e_num(running, "stats.start_time"));
	CHECK(e_num(done, "stats.end_time") >= e_num(done, "stats.start_time"));
	cJSON_Delete(failed);
	cJSON_Delete(running);
	cJSON_Delete(done);
}

/* A step that ignores cancellation: it returns "old" only when released. */
static e_probe stubborn_probe;
static atomic_int stubborn_release;
static int stubborn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)ctx;
	(void)args;
	(void)udata;
	atomic_fetch_add(&stubborn_probe.calls, 1);
	double end = e_mono() + E_WAIT_S;
	while (!atomic_load(&stubborn_release) && e_mono() < end)
		e_sleep_ms(1);
	*out = cJSON_CreateString("old");
	atomic_fetch_add(&stubborn_probe.returned, 1);
	return 0;
}

/* Cancel a step that ignores it: the waiter returns at once, the id is
 * free (delete, run again), and the late result lands nowhere. */
static void test_cancel_stubborn(wf_engine *e)
{
	wf_future *f = NULL;
	cJSON *out = NULL;
	e_probe_reset(&stubborn_probe);
	atomic_store(&stubborn_release, 0);
	wf_step *s = e_define(e, "stubborn", stubborn, NULL, NULL);

	CHECK_E(e, wf_run_async(e, e_node(s, NULL, NULL), "stub", NULL, &f));
	e_wait_flag(&stubborn_probe.calls, 1, "the stubborn step to start");
	CHECK_E(e, wf_cancel(e, "stub"));
	CHECK_RC(wf_future_wait(f, &out), WF_ECANCELED);
	wf_future_free(f);
	CHECK_EQ_I64(atomic_load(&stubborn_probe.returned), 0);
	CHECK_STATUS(e, "stub", WF_STATUS_CANCELED);
	CHECK_ERC(e, wf_resume(e, "stub", &out), WF_ECANCELED);
	CHECK_ERC(e, wf_delete(e, "stub"), 0);
	CHECK(e_status(e, "stub") == WF_STATUS_NONE);

	/* The id again, while the old step still runs. */
	e_probe_reset(&add_probe);
	CHECK_E(e, wf_run(e, e_node(add, NULL, "[1, 2]"), "stub", NULL, &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&stubborn_probe.returned), 0);

	/* The old step returns: nothing changes. */
	cJSON *before = e_meta(e, "stub", NULL);
	atomic_store(&stubborn_release, 1);
	e_wait_flag(&stubborn_probe.returned, 1, "the stubborn step to return");
	e_sleep_ms(50);
	cJSON *after = e_meta(e, "stub", NULL);
	CHECK_JSON_SAME(after, before);
	cJSON_Delete(before);
	cJSON_Delete(after);
	CHECK_ERC(e, wf_get_metadata(e, "stub", "stubborn", &out), WF_ENOTFOUND);
	CHECK_E(e, wf_get_output(e, "stub", &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&stubborn_probe.calls), 1);
}

/* wf_close does not wait for a step that ignores cancellation; the step
 * finishes afterwards without harm, and the next engine finds the
 * workflow RESUMABLE with nothing of the late result. Closes e. */
static void test_close_while_stubborn(wf_engine *e, const char *dir)
{
	wf_future *f = NULL;
	e_probe_reset(&stubborn_probe);
	atomic_store(&stubborn_release, 0);
	wf_step *s = e_define(e, "stubborn", stubborn, NULL, NULL);
	CHECK_E(e, wf_run_async(e, e_node(s, NULL, NULL), "stub2", NULL, &f));
	e_wait_flag(&stubborn_probe.calls, 1, "the stubborn step to start");
	wf_future_free(f);
	double t0 = e_mono();
	e_close(e);
	CHECK_MSG(e_mono() - t0 < E_WAIT_S / 2, "wf_close took %.1f s",
	          e_mono() - t0);
	CHECK_EQ_I64(atomic_load(&stubborn_probe.returned), 0);
	atomic_store(&stubborn_release, 1);
	e_wait_flag(&stubborn_probe.returned, 1, "the stubborn step to return");
	e_sleep_ms(100);

	e = e_open(dir, WF_SYNC_NONE);
	CHECK_STATUS(e, "stub2", WF_STATUS_RESUMABLE);
	cJSON *m = e_meta(e, "stub2", "stubborn");
	CHECK_HAS_NOT(m, "stats.end_time");
	cJSON_Delete(m);
	/* The earlier workflows are all still there. */
	CHECK_STATUS(e, "stub", WF_STATUS_SUCCESSFUL);
	CHECK_STATUS(e, "refresh", WF_STATUS_SUCCESSFUL);
	CHECK_STATUS(e, "fin", WF_STATUS_SUCCESSFUL);
	e_close(e);
}

int main(void)
{
	char dir[512];
	wf_engine *e = e_fresh(dir, "lifecycle", WF_SYNC_NONE);
	e_probe_reset(&add_probe);
	add = e_define(e, "add", e_step_add, &add_probe, NULL);

	t_context("run of a finished id");
	test_run_finished(e);
	t_context("busy, cancel");
	test_busy_and_cancel(e);
	t_context("cancel of a finished workflow");
	test_cancel_finished(e);
	t_context("delete and reuse");
	test_delete_reuse(e);
	t_context("get_output");
	test_get_output(e);
	t_context("resume refreshes stats");
	test_resume_refreshes_stats(e);
	t_context("cancel of a step that ignores it");
	test_cancel_stubborn(e);
	t_context("close while a step ignores it");
	test_close_while_stubborn(e, dir);
	return 0;
}
