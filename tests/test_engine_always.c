/*
 * Durability always with parallel steps: workers write step results
 * unsynced and share one fsync before anything depends on them. A fan-out
 * of steps (some retried) must end SUCCESSFUL with the right output, every
 * step's result in the journal, and the same after a reopen; a step that
 * depends on another runs only after its input is journaled.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "wflow.h"

static atomic_int flaky_calls;

static int one(wf_ctx *c, const cJSON *a, void *u, cJSON **o)
{
	(void)c;
	(void)a;
	(void)u;
	*o = cJSON_CreateNumber(1);
	return 0;
}

/* Fails its first try. */
static int flaky(wf_ctx *c, const cJSON *a, void *u, cJSON **o)
{
	(void)a;
	(void)u;
	atomic_fetch_add(&flaky_calls, 1);
	if (wf_ctx_attempt(c) < 2)
		return wf_ctx_fail(c, "first try fails");
	*o = cJSON_CreateNumber(1);
	return 0;
}

static int sum(wf_ctx *c, const cJSON *args, void *u, cJSON **o)
{
	(void)c;
	(void)u;
	double s = 0;
	const cJSON *a;
	cJSON_ArrayForEach(a, args) s += a->valuedouble;
	*o = cJSON_CreateNumber(s);
	return 0;
}

/* sum(x_0 .. x_47), x_i = one(one(1)) or flaky(one(1)). */
static wf_node *fan(wf_step *s_one, wf_step *s_flaky, wf_step *s_sum)
{
	wf_node *out;
	CHECK_OK(wf_node_new(&out, s_sum, NULL));
	for (int i = 0; i < 48; i++) {
		wf_node *x, *in;
		CHECK_OK(wf_node_new(&x, i % 6 ? s_one : s_flaky, NULL));
		CHECK_OK(wf_node_new(&in, s_one, NULL));
		CHECK_OK(wf_node_arg_json(in, "1"));
		CHECK_OK(wf_node_arg_node(x, in));
		CHECK_OK(wf_node_arg_node(out, x));
	}
	return out;
}

int main(void)
{
	char dir[4096];
	t_subdir(dir, sizeof dir, "eng");
	wf_engine *e;
	CHECK_OK(wf_open(&e, dir, NULL)); /* WF_SYNC_ALWAYS */
	wf_step *s_one, *s_flaky, *s_sum;
	CHECK_OK(wf_step_define(e, "one", one, NULL, NULL, &s_one));
	CHECK_OK(wf_step_define(e, "flaky", flaky, NULL, NULL, &s_flaky));
	CHECK_OK(wf_step_define(e, "sum", sum, NULL, NULL, &s_sum));
	for (int r = 0; r < 4; r++) {
		char id[32];
		snprintf(id, sizeof id, "fan-%d", r);
		cJSON *o = NULL;
		CHECK_OK(wf_run(e, fan(s_one, s_flaky, s_sum), id, NULL, &o));
		CHECK(cJSON_IsNumber(o) && o->valuedouble == 48);
		cJSON_Delete(o);
	}
	/* 8 flaky steps a run, each tried twice. */
	CHECK(atomic_load(&flaky_calls) == 4 * 8 * 2);
	cJSON *before;
	CHECK_OK(wf_get_metadata(e, "fan-3", "flaky", &before));
	CHECK_OK(wf_close(e));

	/* Everything acknowledged is in the journal. */
	CHECK_OK(wf_open(&e, dir, NULL));
	cJSON *list;
	CHECK_OK(wf_list_all(e, WF_STATUS_BIT(WF_STATUS_SUCCESSFUL), &list));
	CHECK(cJSON_GetArraySize(list) == 4);
	cJSON_Delete(list);
	cJSON *after;
	CHECK_OK(wf_get_metadata(e, "fan-3", "flaky", &after));
	CHECK(cJSON_Compare(before, after, 1));
	cJSON *att = cJSON_GetObjectItem(after, "attempts");
	CHECK(cJSON_GetArraySize(att) == 2);
	cJSON_Delete(before);
	cJSON_Delete(after);
	cJSON *o = NULL;
	CHECK_OK(wf_get_output(e, "fan-2", &o));
	CHECK(cJSON_IsNumber(o) && o->valuedouble == 48);
	cJSON_Delete(o);
	/* Every step of every run has its end journaled (ids one, one_1 ...). */
	for (int r = 0; r < 4; r++) {
		char id[32];
		snprintf(id, sizeof id, "fan-%d", r);
		for (int k = 0; k < 88; k++) {
			char step[32];
			if (k == 0)
				snprintf(step, sizeof step, "one");
			else
				snprintf(step, sizeof step, "one_%d", k);
			cJSON *m;
			CHECK_OK(wf_get_metadata(e, id, step, &m));
			CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "stats"),
			                          "end_time") != NULL);
			cJSON_Delete(m);
		}
	}
	CHECK_OK(wf_close(e));
	printf("engine_always: 4 fan-outs of 48 (96 steps each), durable\n");
	return 0;
}
