/*
 * The seed's examples ("Workflow Metadata", Ray Workflows), word for word in
 * C: add_example, add_example_2 (.options(name=)), add_example_3 (user
 * metadata at both levels), Note 1 (metadata of a running, then cancelled
 * workflow) and Note 2 (stats refreshed by a resume). The virtual-actor
 * examples need actors; their step-naming part (add, add_1, ...; incr ...
 * incr_4 with their own metadata) is in test_engine_steps.c as plain steps.
 */
#include "engine_util.h"

/* @workflow.step def add(left, right): return left + right */
static wf_step *add;

/*
 *   add.step(10, 20).run("add_example")
 *   workflow_metadata = workflow.get_metadata("add_example")
 *   assert workflow_metadata["status"] == "SUCCESSFUL"
 *   assert "start_time" in workflow_metadata["stats"]
 *   assert "end_time" in workflow_metadata["stats"]
 */
static void add_example(wf_engine *e)
{
	cJSON *out = NULL;
	CHECK_E(e, wf_run(e, e_node(add, NULL, "[10, 20]"), "add_example", NULL,
	                  &out));
	CHECK_OUT_NUM(out, 30);
	cJSON_Delete(out);

	cJSON *m = e_meta(e, "add_example", NULL);
	CHECK(strcmp(e_str(m, "status"), "SUCCESSFUL") == 0);
	CHECK_HAS(m, "stats.start_time");
	CHECK_HAS(m, "stats.end_time");
	CHECK(e_num(m, "stats.end_time") >= e_num(m, "stats.start_time"));
	cJSON_Delete(m);
	CHECK_STATUS(e, "add_example", WF_STATUS_SUCCESSFUL);
}

/*
 *   add.options(name="add_step").step(10, 20).run("add_example_2")
 *   step_metadata = workflow.get_metadata("add_example_2", name="add_step")
 *   assert "step_options" in step_metadata
 *   assert "start_time" in workflow_metadata["stats"]
 *   assert "end_time" in workflow_metadata["stats"]
 * (the last two look at workflow_metadata of the first example, as in the
 * seed; the step's own stats are checked too.)
 */
static void add_example_2(wf_engine *e)
{
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	cJSON *out = NULL;
	o.name = "add_step";
	CHECK_E(e, wf_run(e, e_node(add, &o, "[10, 20]"), "add_example_2", NULL,
	                  &out));
	CHECK_OUT_NUM(out, 30);
	cJSON_Delete(out);

	cJSON *sm = e_meta(e, "add_example_2", "add_step");
	CHECK_HAS(sm, "step_options");
	CHECK(cJSON_IsObject(e_get(sm, "step_options")));
	CHECK_HAS(sm, "stats.start_time");
	CHECK_HAS(sm, "stats.end_time");
	CHECK(strcmp(e_str(sm, "name"), "add_step") == 0);
	cJSON_Delete(sm);

	cJSON *wm = e_meta(e, "add_example", NULL);
	CHECK_HAS(wm, "stats.start_time");
	CHECK_HAS(wm, "stats.end_time");
	cJSON_Delete(wm);
	wm = e_meta(e, "add_example_2", NULL);
	CHECK_HAS(wm, "stats.start_time");
	CHECK_HAS(wm, "stats.end_time");
	cJSON_Delete(wm);

	/* The step is known by its option name only. */
	cJSON *none = NULL;
	CHECK_ERC(e, wf_get_metadata(e, "add_example_2", "add", &none),
	          WF_ENOTFOUND);
	CHECK(none == NULL);
}

/*
 *   add.options(name="add_step", metadata={"step_k": "step_v"}).step(10, 20)\
 *       .run("add_example_3", metadata={"workflow_k": "workflow_v"})
 *   assert workflow.get_metadata("add_example_3")["user_metadata"] ==
 *          {"workflow_k": "workflow_v"}
 *   assert workflow.get_metadata("add_example_3", name="add_step")
 *          ["user_metadata"] == {"step_k": "step_v"}
 */
static void add_example_3(wf_engine *e)
{
	cJSON *smd, *wmd = e_json("{\"workflow_k\": \"workflow_v\"}");
	wf_step_options o = e_opts("add_step", "{\"step_k\": \"step_v\"}", &smd);
	wf_node *n = e_node(add, &o, "[10, 20]");
	cJSON_Delete(smd); /* the engine copied it */
	CHECK_E(e, wf_run(e, n, "add_example_3", wmd, NULL));
	cJSON_Delete(wmd);

	cJSON *m = e_meta(e, "add_example_3", NULL);
	CHECK_JSON(e_get(m, "user_metadata"), "{\"workflow_k\": \"workflow_v\"}");
	cJSON_Delete(m);
	m = e_meta(e, "add_example_3", "add_step");
	CHECK_JSON(e_get(m, "user_metadata"), "{\"step_k\": \"step_v\"}");
	cJSON_Delete(m);
}

/*
 * Note 1:
 *   @workflow.step
 *   def simple():
 *       flag.touch()  # touch a file here
 *       time.sleep(1000)
 *       return 0
 *   simple.step().run_async(workflow_id)
 *   while not flag.exists(): time.sleep(1)
 *   workflow_metadata = workflow.get_metadata(workflow_id)
 *   assert workflow_metadata["status"] == "RUNNING"
 *   assert "start_time" in workflow_metadata["stats"]
 *   assert "end_time" not in workflow_metadata["stats"]
 *   workflow.cancel(workflow_id)
 *   workflow_metadata = workflow.get_metadata(workflow_id)
 *   assert workflow_metadata["status"] == "CANCELED"
 *   assert "start_time" in workflow_metadata["stats"]
 *   assert "end_time" not in workflow_metadata["stats"]
 */
static void note_1(wf_engine *e)
{
	static e_probe flag;
	const char *id = "note_1";
	wf_future *f = NULL;
	cJSON *out = NULL;
	e_probe_reset(&flag);
	wf_step *simple = e_define(e, "simple", e_step_block, &flag, NULL);

	CHECK_E(e, wf_run_async(e, e_node(simple, NULL, NULL), id, NULL, &f));
	CHECK(f != NULL);
	e_wait_flag(&flag.calls, 1, "simple() to start");

	cJSON *m = e_meta(e, id, NULL);
	CHECK(strcmp(e_str(m, "status"), "RUNNING") == 0);
	CHECK_HAS(m, "stats.start_time");
	CHECK_HAS_NOT(m, "stats.end_time");
	cJSON_Delete(m);
	CHECK_STATUS(e, id, WF_STATUS_RUNNING);
	/* The running step: started, not ended. */
	m = e_meta(e, id, "simple");
	CHECK_HAS(m, "stats.start_time");
	CHECK_HAS_NOT(m, "stats.end_time");
	cJSON_Delete(m);

	double t0 = e_mono();
	CHECK_E(e, wf_cancel(e, id));

	m = e_meta(e, id, NULL);
	CHECK(strcmp(e_str(m, "status"), "CANCELED") == 0);
	CHECK_HAS(m, "stats.start_time");
	CHECK_HAS_NOT(m, "stats.end_time");
	cJSON_Delete(m);

	/* Waiters return WF_ECANCELED (and again on a second wait). */
	CHECK_RC(wf_future_wait(f, &out), WF_ECANCELED);
	CHECK(out == NULL);
	CHECK_RC(wf_future_wait(f, NULL), WF_ECANCELED);
	wf_future_free(f);

	/* The sleeping step saw the cancel: wf_ctx_sleep returned early with
	 * WF_ECANCELED (not after 1000 s). */
	e_wait_flag(&flag.returned, 1, "simple() to return after the cancel");
	CHECK(e_mono() - t0 < E_WAIT_S);
	CHECK_RC(atomic_load(&flag.sleep_rc), WF_ECANCELED);

	/* What the step returned after the cancel (0) is discarded: still
	 * CANCELED, no end_time, no output. Give a late write time to land. */
	e_sleep_ms(100);
	CHECK_STATUS(e, id, WF_STATUS_CANCELED);
	m = e_meta(e, id, NULL);
	CHECK_HAS(m, "stats.start_time");
	CHECK_HAS_NOT(m, "stats.end_time");
	cJSON_Delete(m);
	/* The step's late result is not recorded either: it never ended. */
	m = e_meta(e, id, "simple");
	CHECK_HAS(m, "stats.start_time");
	CHECK_HAS_NOT(m, "stats.end_time");
	CHECK(!e_json_contains(e_get(m, "attempts"), "SUCCE"));
	cJSON_Delete(m);
	CHECK_ERC(e, wf_get_output(e, id, &out), WF_ECANCELED);
	CHECK(out == NULL);
	CHECK_EQ_I64(atomic_load(&flag.calls), 1);
}

/*
 * Note 2:
 *   @workflow.step
 *   def simple():
 *       if error_flag.exists(): raise ValueError()
 *       return 0
 *   error_flag.touch()
 *   try: simple.step().run(workflow_id)
 *   except Exception: pass
 *   workflow_metadata_failed = workflow.get_metadata(workflow_id)
 *   assert workflow_metadata_failed["status"] == "FAILED"
 *   error_flag.unlink()
 *   ref = workflow.resume(workflow_id)
 *   assert ray.get(ref) == 0
 *   workflow_metadata_resumed = workflow.get_metadata(workflow_id)
 *   assert workflow_metadata_resumed["status"] == "SUCCESSFUL"
 *   assert workflow_metadata_resumed["stats"]["start_time"] >
 *          workflow_metadata_failed["stats"]["start_time"]
 *   assert workflow_metadata_resumed["stats"]["end_time"] >
 *          workflow_metadata_failed["stats"]["end_time"]
 */
static atomic_int error_flag;

static int simple_2(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)args;
	atomic_fetch_add((atomic_int *)udata, 1);
	if (atomic_load(&error_flag))
		return wf_ctx_fail(ctx, "ValueError()");
	*out = cJSON_CreateNumber(0);
	return 0;
}

static void note_2(wf_engine *e)
{
	static atomic_int calls;
	const char *id = "note_2";
	cJSON *out = NULL;
	wf_step *simple = e_define(e, "simple_2", simple_2, &calls, NULL);

	atomic_store(&error_flag, 1);
	CHECK_ERC(e, wf_run(e, e_node(simple, NULL, NULL), id, NULL, &out),
	          WF_EFAILED);
	CHECK(out == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "ValueError()");
	/* max_retries defaults to 3: four attempts. */
	CHECK_EQ_I64(atomic_load(&calls), 4);

	cJSON *failed = e_meta(e, id, NULL);
	CHECK(strcmp(e_str(failed, "status"), "FAILED") == 0);
	CHECK_HAS(failed, "stats.start_time");
	CHECK_HAS(failed, "stats.end_time");
	CHECK_STATUS(e, id, WF_STATUS_FAILED);

	atomic_store(&error_flag, 0);
	CHECK_E(e, wf_resume(e, id, &out));
	CHECK_OUT_NUM(out, 0);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&calls), 5);

	cJSON *resumed = e_meta(e, id, NULL);
	CHECK(strcmp(e_str(resumed, "status"), "SUCCESSFUL") == 0);
	CHECK_STATUS(e, id, WF_STATUS_SUCCESSFUL);
	CHECK_MSG(e_num(resumed, "stats.start_time") >
	              e_num(failed, "stats.start_time"),
	          "resumed start_time %.6f, failed start_time %.6f",
	          e_num(resumed, "stats.start_time"),
	          e_num(failed, "stats.start_time"));
	CHECK_MSG(e_num(resumed, "stats.end_time") >
	              e_num(failed, "stats.end_time"),
	          "resumed end_time %.6f, failed end_time %.6f",
	          e_num(resumed, "stats.end_time"),
	          e_num(failed, "stats.end_time"));
	/* The new attempt started after the failed one ended. */
	CHECK(e_num(resumed, "stats.start_time") >=
	      e_num(failed, "stats.end_time"));
	/* wflow keeps both attempts (run and resume). */
	CHECK_EQ_I64(e_array_len(resumed, "attempts"), 2);
	cJSON_Delete(failed);
	cJSON_Delete(resumed);
}

int main(void)
{
	char dir[512];
	wf_engine *e = e_fresh(dir, "seed", WF_SYNC_NONE);
	add = e_define(e, "add", e_step_add, NULL, NULL);

	t_context("add_example");
	add_example(e);
	t_context("add_example_2");
	add_example_2(e);
	t_context("add_example_3");
	add_example_3(e);
	t_context("note 1");
	note_1(e);
	t_context("note 2");
	note_2(e);
	e_close(e);
	return 0;
}
