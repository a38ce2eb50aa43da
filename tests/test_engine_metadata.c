/*
 * get_metadata as Ray's own metadata tests checked it (SEMANTICS.md):
 * user metadata {} by default at both levels; metadata that is not a JSON
 * object rejected at definition, at .options() and at run(), with nothing
 * recorded; metadata stored and returned exactly; the keys of each level;
 * times in seconds since the epoch, and durations (a step that sleeps 0.3 s
 * ends >= 0.3 s after it started, and so does its workflow); step_options
 * with its defaults and the values given by options (field by field over
 * the step's defaults); a nested add(add(1, 2), 3) whose steps keep their
 * own metadata; Ray's "No such workflow_id" / "No such step_id" errors.
 */
#include "engine_util.h"

static wf_step *add;
static e_probe add_probe;

static int nap(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	int rc = wf_ctx_sleep(ctx, 0.3);
	if (rc != 0)
		return wf_ctx_fail(ctx, "nap: wf_ctx_sleep returned %d", rc);
	*out = cJSON_Duplicate(cJSON_GetArrayItem(args, 0), 1);
	return 0;
}

/* user_metadata is {} when none is given; the keys of both levels. */
static void test_defaults(wf_engine *e)
{
	CHECK_E(e, wf_run(e, e_node(add, NULL, "[1, 2]"), "md_default", NULL,
	                  NULL));
	cJSON *m = e_meta(e, "md_default", NULL);
	CHECK_JSON(e_get(m, "user_metadata"), "{}");
	/* Ray's keys, plus wflow's additions only. */
	e_check_keys(m, "status", "user_metadata", "stats", "workflow_id",
	             "attempts", "duration");
	e_check_keys(e_get(m, "stats"), "start_time", "end_time");
	CHECK(strcmp(e_str(m, "workflow_id"), "md_default") == 0);
	CHECK_EQ_I64(e_array_len(m, "attempts"), 1);
	cJSON_Delete(m);

	m = e_meta(e, "md_default", "add");
	CHECK_JSON(e_get(m, "user_metadata"), "{}");
	CHECK_HAS(m, "name");
	CHECK_HAS(m, "step_options");
	CHECK_HAS(m, "stats");
	e_check_keys(m, "name", "step_id", "step_options", "user_metadata",
	             "stats", "attempts", "duration");
	e_check_keys(e_get(m, "stats"), "start_time", "end_time");
	CHECK(strcmp(e_str(m, "name"), "add") == 0);
	CHECK(strcmp(e_str(m, "step_id"), "add") == 0);
	CHECK_EQ_I64(e_array_len(m, "attempts"), 1);
	cJSON_Delete(m);

	/* An explicit NULL metadata in options is "unset": also {}. */
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.name = "named";
	CHECK_E(e, wf_run(e, e_node(add, &o, "[1, 2]"), "md_default_2", NULL,
	                  NULL));
	m = e_meta(e, "md_default_2", "named");
	CHECK_JSON(e_get(m, "user_metadata"), "{}");
	cJSON_Delete(m);
}

/* Nothing about id is recorded: not found everywhere. */
static void check_nothing_recorded(wf_engine *e, const char *id)
{
	wf_status s = WF_STATUS_NONE;
	cJSON *m = NULL;
	CHECK_ERC(e, wf_get_status(e, id, &s), WF_ENOTFOUND);
	CHECK_ERC(e, wf_get_metadata(e, id, NULL, &m), WF_ENOTFOUND);
	CHECK(m == NULL);
	cJSON *all = e_list_ids(e, WF_STATUS_ALL), *it;
	cJSON_ArrayForEach(it, all)
		CHECK_MSG(strcmp(it->valuestring, id) != 0, "%s is listed", id);
	cJSON_Delete(all);
}

static int noop(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)ctx;
	(void)args;
	(void)udata;
	*out = NULL;
	return 0;
}

/* Metadata that is not a JSON object is refused, and nothing recorded. */
static void test_bad_metadata(wf_engine *e)
{
	static const char *bad[] = {"[1, 2]", "\"a string\"", "42", "null",
	                            "true", "[]", "[{\"k\": \"v\"}]"};
	e_probe_reset(&add_probe);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char id[64], name[64];
		cJSON *md = e_json(bad[i]);
		wf_step_options o = WF_STEP_OPTIONS_INIT;
		wf_step *s = NULL;
		wf_node *n = NULL;
		wf_future *f = NULL;
		cJSON *out = NULL;
		t_context("metadata %s", bad[i]);
		o.metadata = md;

		/* @workflow.step(metadata=...) */
		snprintf(name, sizeof name, "bad_def_%zu", i);
		CHECK_ERC(e, wf_step_define(e, name, noop, NULL, &o, &s), WF_EINVAL);
		CHECK(wf_step_find(e, name) == NULL);

		/* .options(metadata=...) */
		CHECK_ERC(e, wf_node_new(&n, add, &o), WF_EINVAL);
		if (n)
			wf_node_free(n);

		/* .run(metadata=...) */
		snprintf(id, sizeof id, "bad_md_%zu", i);
		CHECK_ERC(e, wf_run(e, e_node(add, NULL, "[1, 2]"), id, md, &out),
		          WF_EINVAL);
		CHECK(out == NULL);
		check_nothing_recorded(e, id);
		CHECK_ERC(e, wf_run_async(e, e_node(add, NULL, "[1, 2]"), id, md, &f),
		          WF_EINVAL);
		wf_future_free(f);
		check_nothing_recorded(e, id);
		cJSON_Delete(md);
		/* The step did not run. */
		CHECK_EQ_I64(atomic_load(&add_probe.calls), 0);

		/* The id is free: a valid run works, with one attempt. */
		md = e_json("{\"ok\": true}");
		CHECK_E(e, wf_run(e, e_node(add, NULL, "[1, 2]"), id, md, &out));
		CHECK_OUT_NUM(out, 3);
		cJSON_Delete(out);
		cJSON_Delete(md);
		cJSON *m = e_meta(e, id, NULL);
		CHECK_JSON(e_get(m, "user_metadata"), "{\"ok\": true}");
		CHECK_EQ_I64(e_array_len(m, "attempts"), 1);
		cJSON_Delete(m);
		CHECK_EQ_I64(atomic_load(&add_probe.calls), 1);
		e_probe_reset(&add_probe);
	}
	t_context("%s", "");
}

#define RICH                                                                  \
	"{\"s\": \"\\u00fc\\\"\\\\\\n\\t\", \"n\": -1.5, \"i\": 12345678901, "    \
	"\"b\": false, \"t\": true, \"z\": null, "                               \
	"\"a\": [1, \"x\", {\"k\": []}, [null]], "                               \
	"\"o\": {\"deep\": {\"deeper\": {}}}, \"\": \"empty key\", "             \
	"\"K\": \"case\", \"k\": \"differs\", \"\\u65e5\\u672c\": \"\\u8a9e\"}"

/* Metadata is stored exactly and returned exactly; definition defaults and
 * option overrides; the engine copies what it is given. */
static void test_exact(wf_engine *e)
{
	cJSON *wmd = e_json(RICH), *smd, *dmd, *omd;
	wf_step_options o = e_opts("rich", RICH, &smd);
	wf_node *n = e_node(add, &o, "[1, 2]");
	/* Changing the caller's object after wf_node_new changes nothing. */
	cJSON_AddStringToObject(smd, "added_later", "x");
	cJSON_Delete(smd);
	CHECK_E(e, wf_run(e, n, "md_exact", wmd, NULL));
	cJSON_AddStringToObject(wmd, "added_later", "x");
	cJSON_Delete(wmd);
	cJSON *m = e_meta(e, "md_exact", NULL);
	CHECK_JSON(e_get(m, "user_metadata"), RICH);
	cJSON_Delete(m);
	m = e_meta(e, "md_exact", "rich");
	CHECK_JSON(e_get(m, "user_metadata"), RICH);
	cJSON_Delete(m);

	/* @workflow.step(metadata=...): the default of every call; a call's
	 * .options(metadata=...) replaces it. */
	wf_step_options d = e_opts(NULL, "{\"def\": 1}", &dmd);
	wf_step *withmd = e_define(e, "withmd", e_step_add, NULL, &d);
	cJSON_Delete(dmd);
	wf_step_options ov = e_opts(NULL, "{\"node\": 2}", &omd);
	wf_node *outer = e_node(withmd, &ov, "[1]");
	cJSON_Delete(omd);
	e_arg_node(outer, e_node(withmd, NULL, "[2, 3]"));
	CHECK_E(e, wf_run(e, outer, "md_default_level", NULL, NULL));
	m = e_meta(e, "md_default_level", "withmd");
	CHECK_JSON(e_get(m, "user_metadata"), "{\"node\": 2}");
	cJSON_Delete(m);
	m = e_meta(e, "md_default_level", "withmd_1");
	CHECK_JSON(e_get(m, "user_metadata"), "{\"def\": 1}");
	cJSON_Delete(m);
}

/* Durations: a step that sleeps 0.3 s, twice in a chain. */
static void test_durations(wf_engine *e)
{
	wf_step *s = e_define(e, "nap", nap, NULL, NULL);
	wf_node *second = e_node(s, NULL, NULL);
	e_arg_node(second, e_node(s, NULL, "[7]"));
	double before = e_wall();
	cJSON *out = NULL;
	CHECK_E(e, wf_run(e, second, "md_durations", NULL, &out));
	double after = e_wall();
	CHECK_OUT_NUM(out, 7);
	cJSON_Delete(out);

	cJSON *w = e_meta(e, "md_durations", NULL);
	cJSON *s0 = e_meta(e, "md_durations", "nap");   /* the output step */
	cJSON *s1 = e_meta(e, "md_durations", "nap_1"); /* its argument */
	double ws = e_num(w, "stats.start_time"), we = e_num(w, "stats.end_time");
	double a0 = e_num(s0, "stats.start_time"), b0 = e_num(s0, "stats.end_time");
	double a1 = e_num(s1, "stats.start_time"), b1 = e_num(s1, "stats.end_time");
	t_context("workflow %.6f..%.6f, nap_1 %.6f..%.6f, nap %.6f..%.6f, "
	          "wall %.6f..%.6f",
	          ws, we, a1, b1, a0, b0, before, after);

	/* Seconds since the epoch, taken during the run. */
	CHECK(ws >= before - 1 && we <= after + 1);
	/* Each step >= 0.3 s (as the seed's actor example asserts with 1 s). */
	CHECK(b0 >= a0 + 0.3);
	CHECK(b1 >= a1 + 0.3);
	/* nap runs after nap_1, inside the workflow's span. */
	CHECK(ws <= a1 && b1 <= a0 && b0 <= we);
	CHECK(we >= ws + 0.6);
	/* wflow's "duration": seconds, of a finished attempt. */
	double d0 = e_num(s0, "duration"), dw = e_num(w, "duration");
	CHECK_MSG(d0 >= 0.3 && d0 <= b0 - a0 + 1e-3, "step duration %.6f", d0);
	CHECK_MSG(dw >= 0.6 && dw <= we - ws + 1e-3, "workflow duration %.6f",
	          dw);
	t_context("%s", "");
	cJSON_Delete(w);
	cJSON_Delete(s0);
	cJSON_Delete(s1);
}

/* step_options: Ray's defaults for a function step, then the options. */
static void test_step_options(wf_engine *e)
{
	static const char *dflt = "{\"step_type\": \"FUNCTION\", "
	                          "\"max_retries\": 3, \"catch_exceptions\": false, "
	                          "\"checkpoint\": true}";
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	CHECK_E(e, wf_run(e, e_node(add, NULL, "[1, 1]"), "opt_default", NULL,
	                  NULL));
	cJSON *m = e_meta(e, "opt_default", "add");
	CHECK_JSON(e_get(m, "step_options"), dflt);
	cJSON_Delete(m);

	/* .options(max_retries=5, catch_exceptions=True, checkpoint=False) */
	o.name = "opt";
	o.max_retries = 5;
	o.catch_exceptions = 1;
	o.checkpoint = 0;
	CHECK_E(e, wf_run(e, e_node(add, &o, "[1, 1]"), "opt_given", NULL,
	                  NULL));
	m = e_meta(e, "opt_given", "opt");
	CHECK_JSON(e_get(m, "step_options"),
	           "{\"step_type\": \"FUNCTION\", \"max_retries\": 5, "
	           "\"catch_exceptions\": true, \"checkpoint\": false}");
	CHECK(strcmp(e_str(m, "name"), "opt") == 0);
	cJSON_Delete(m);

	/* Defaults at definition, overridden field by field by a call. */
	wf_step_options d = WF_STEP_OPTIONS_INIT;
	d.max_retries = 1;
	d.checkpoint = 0;
	wf_step *s = e_define(e, "opt_def", e_step_add, NULL, &d);
	wf_step_options c = WF_STEP_OPTIONS_INIT;
	c.catch_exceptions = 1;
	wf_node *outer = e_node(s, &c, "[1]");
	wf_step_options u = WF_STEP_OPTIONS_INIT;
	u.max_retries = -1;
	e_arg_node(outer, e_node(s, &u, "[1]"));
	e_arg_node(outer, e_node(s, NULL, "[1]"));
	cJSON *out = NULL;
	CHECK_E(e, wf_run(e, outer, "opt_levels", NULL, &out));
	/* The outer step catches exceptions: its output is [result, null]. */
	CHECK_JSON(out, "[3, null]");
	cJSON_Delete(out);
	m = e_meta(e, "opt_levels", "opt_def");
	CHECK_JSON(e_get(m, "step_options"),
	           "{\"step_type\": \"FUNCTION\", \"max_retries\": 1, "
	           "\"catch_exceptions\": true, \"checkpoint\": false}");
	cJSON_Delete(m);
	m = e_meta(e, "opt_levels", "opt_def_1");
	CHECK_JSON(e_get(m, "step_options"),
	           "{\"step_type\": \"FUNCTION\", \"max_retries\": -1, "
	           "\"catch_exceptions\": false, \"checkpoint\": false}");
	cJSON_Delete(m);
	m = e_meta(e, "opt_levels", "opt_def_2");
	CHECK_JSON(e_get(m, "step_options"),
	           "{\"step_type\": \"FUNCTION\", \"max_retries\": 1, "
	           "\"catch_exceptions\": false, \"checkpoint\": false}");
	cJSON_Delete(m);
}

/* add.step(add.step(1, 2), 3): each step keeps its own metadata. */
static void test_nested(wf_engine *e)
{
	cJSON *omd, *imd, *out = NULL;
	wf_step_options oo = e_opts(NULL, "{\"level\": \"outer\"}", &omd);
	wf_step_options io = e_opts(NULL, "{\"level\": \"inner\"}", &imd);
	wf_node *outer = e_node(add, &oo, NULL);
	e_arg_node(outer, e_node(add, &io, "[1, 2]"));
	CHECK_OK(wf_node_arg_json(outer, "3"));
	cJSON_Delete(omd);
	cJSON_Delete(imd);
	CHECK_E(e, wf_run(e, outer, "nested", NULL, &out));
	CHECK_OUT_NUM(out, 6);
	cJSON_Delete(out);

	cJSON *mo = e_meta(e, "nested", "add"), *mi = e_meta(e, "nested", "add_1");
	CHECK_JSON(e_get(mo, "user_metadata"), "{\"level\": \"outer\"}");
	CHECK_JSON(e_get(mi, "user_metadata"), "{\"level\": \"inner\"}");
	CHECK(strcmp(e_str(mo, "name"), "add") == 0);
	CHECK(strcmp(e_str(mi, "name"), "add") == 0);
	CHECK(strcmp(e_str(mo, "step_id"), "add") == 0);
	CHECK(strcmp(e_str(mi, "step_id"), "add_1") == 0);
	/* The inner step finished before the outer one started. */
	CHECK(e_num(mi, "stats.end_time") <= e_num(mo, "stats.start_time"));
	cJSON_Delete(mo);
	cJSON_Delete(mi);
	cJSON *none = NULL;
	CHECK_ERC(e, wf_get_metadata(e, "nested", "add_2", &none), WF_ENOTFOUND);

	/* Without metadata, both are {} (not each other's). */
	wf_node *o2 = e_node(add, NULL, NULL);
	e_arg_node(o2, e_node(add, NULL, "[1, 2]"));
	CHECK_OK(wf_node_arg_json(o2, "3"));
	CHECK_E(e, wf_run(e, o2, "nested_plain", NULL, NULL));
	mo = e_meta(e, "nested_plain", "add");
	mi = e_meta(e, "nested_plain", "add_1");
	CHECK_JSON(e_get(mo, "user_metadata"), "{}");
	CHECK_JSON(e_get(mi, "user_metadata"), "{}");
	cJSON_Delete(mo);
	cJSON_Delete(mi);
}

/* Ray's errors for unknown workflows and steps. */
static void test_not_found(wf_engine *e)
{
	cJSON *m = NULL;
	wf_status s = WF_STATUS_NONE;
	CHECK_ERC(e, wf_get_metadata(e, "no_such_wf", NULL, &m), WF_ENOTFOUND);
	CHECK(m == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "No such workflow_id no_such_wf");
	CHECK_ERC(e, wf_get_metadata(e, "no_such_wf", "add", &m), WF_ENOTFOUND);
	CHECK(m == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "No such workflow_id no_such_wf");

	CHECK_E(e, wf_run(e, e_node(add, NULL, "[1, 2]"), "known_wf", NULL,
	                  NULL));
	CHECK_ERC(e, wf_get_metadata(e, "known_wf", "no_such_step", &m),
	          WF_ENOTFOUND);
	CHECK(m == NULL);
	CHECK_CONTAINS(wf_errmsg(e),
	               "No such step_id no_such_step in workflow known_wf");

	CHECK_ERC(e, wf_get_status(e, "no_such_wf", &s), WF_ENOTFOUND);
	CHECK_ERC(e, wf_get_output(e, "no_such_wf", &m), WF_ENOTFOUND);
	CHECK(m == NULL);
	CHECK_ERC(e, wf_resume(e, "no_such_wf", &m), WF_ENOTFOUND);
	CHECK(m == NULL);
	CHECK_ERC(e, wf_cancel(e, "no_such_wf"), WF_ENOTFOUND);
	CHECK_ERC(e, wf_delete(e, "no_such_wf"), WF_ENOTFOUND);
	/* The known workflow is unaffected by those calls. */
	CHECK_STATUS(e, "known_wf", WF_STATUS_SUCCESSFUL);
	check_nothing_recorded(e, "no_such_wf");
}

int main(void)
{
	char dir[512];
	wf_engine *e = e_fresh(dir, "metadata", WF_SYNC_NONE);
	add = e_define(e, "add", e_step_add, &add_probe, NULL);

	t_context("defaults");
	test_defaults(e);
	test_bad_metadata(e);
	t_context("exact");
	test_exact(e);
	test_durations(e);
	t_context("step_options");
	test_step_options(e);
	t_context("nested");
	test_nested(e);
	t_context("not found");
	test_not_found(e);
	e_close(e);
	return 0;
}
