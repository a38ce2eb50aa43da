/*
 * Out of memory in cJSON, at every allocation in turn (cJSON's allocator
 * hooks fail allocation N, for N = 1, 2, ... until a call needs fewer):
 * the call must fail with WF_ENOMEM, or succeed with the answer it gives
 * with memory to spare; never report a memory failure as something else,
 * and never leave a value half changed. What wflow-torture faults found:
 *
 *  - wf_jpatch: an "add" or "replace" on an existing member went through
 *    cJSON_ReplaceItemInObject, which, out of memory for its copy of the
 *    key, puts the value in with a NULL key; every member after it is then
 *    hidden from lookups (an actor's state silently lost its "log");
 *  - the fold: an actor's state or state patch that cJSON could not parse
 *    for want of memory was "not JSON" (WF_ECORRUPT);
 *  - wf_fold_metadata answered 0 with keys missing (attempts' times,
 *    outcomes, errors) or with {} for user metadata it could not parse;
 *  - wf_node_arg_json reported "argument is not JSON" (WF_EINVAL).
 *
 * Runs under a second; meant for ASan too (no leak on any failure path).
 */
#include "engine_util.h"

#include <cjson/cJSON.h>

#include "replay/events.h"
#include "replay/fold.h"
#include "replay/jpatch.h"

/* ---- the failing allocator ------------------------------------------- */

static long fail_at; /* 0: none */
static long allocs;

static void *oom_malloc(size_t n)
{
	if (fail_at && ++allocs == fail_at)
		return NULL;
	return malloc(n);
}

static void oom_free(void *p)
{
	free(p);
}

/* Fail allocation n from now on (0: none). */
static void arm(long n)
{
	allocs = 0;
	fail_at = n;
}

/* Did the armed call get as far as allocation fail_at? */
static int hit(void)
{
	return fail_at && allocs >= fail_at;
}

static cJSON *parse(const char *text)
{
	cJSON *v = cJSON_Parse(text);
	CHECK_MSG(v != NULL, "cannot parse %s", text);
	return v;
}

static const char *show(const cJSON *v)
{
	static char ring[4][4096];
	static int k;
	char *out = ring[k++ & 3];
	char *s = v ? cJSON_PrintUnformatted(v) : NULL;
	snprintf(out, sizeof ring[0], "%s", s ? s : "(null)");
	cJSON_free(s);
	return out;
}

/* Every member of every object has a key, and is found by it. */
static void check_keys(const cJSON *v, const char *what)
{
	for (const cJSON *c = v ? v->child : NULL; c; c = c->next) {
		if (cJSON_IsObject(v)) {
			CHECK_MSG(c->string != NULL,
			          "%s: a member without a key", what);
			CHECK_MSG(cJSON_GetObjectItemCaseSensitive(
			                  v, c->string) == c,
			          "%s: member %s is hidden from lookups", what,
			          c->string);
		}
		check_keys(c, what);
	}
}

/* ---- JSON Patch -------------------------------------------------------- */

static void jpatch_case(const char *state0, const char *patch, const char *want)
{
	cJSON *expect = parse(want);
	long n;
	for (n = 1;; n++) {
		cJSON *state = parse(state0), *ops = parse(patch);
		char err[300];
		t_context("wf_jpatch(%s, %s), allocation %ld fails", state0,
		          patch, n);
		arm(n);
		int rc = wf_jpatch(&state, ops, err, sizeof err);
		int reached = hit();
		arm(0);
		CHECK_MSG(rc == 0 || rc == WF_ENOMEM, "rc %d (%s): %s", rc,
		          wf_strerror(rc), err);
		check_keys(state, "the patched state");
		if (rc == 0)
			CHECK_MSG(cJSON_Compare(state, expect, 1),
			          "patched to %s, expected %s", show(state),
			          show(expect));
		cJSON_Delete(state);
		cJSON_Delete(ops);
		if (!reached)
			break;
	}
	CHECK(n > 1); /* it did allocate */
	cJSON_Delete(expect);
}

/* ---- the fold ------------------------------------------------------------ */

/* An event of type with fields given as "u:5", "s:text" or "j:{...}". */
static void ev_make(wf_event *ev, uint64_t seq, uint16_t type, int n, ...)
{
	va_list ap;
	memset(ev, 0, sizeof *ev);
	ev->seq = seq;
	ev->type = type;
	ev->time_ns = (int64_t)(1700000000000000000LL + (int64_t)seq * 1000000);
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *f = va_arg(ap, const char *);
		if (f[0] == 'u')
			ev->fields[i] = wf_field_u(strtoull(f + 2, NULL, 10));
		else if (f[0] == 's')
			ev->fields[i] = wf_field_text(f + 2, strlen(f + 2));
		else
			ev->fields[i] = wf_field_json(f + 2, strlen(f + 2));
	}
	va_end(ap);
	ev->nfields = (uint32_t)n;
}

/* A fold holding a finished workflow "w" (a step that failed once, then
 * succeeded) and an actor "a" (created; one patch applied). */
static wf_fold *fold_with_history(int upto)
{
	wf_fold *f;
	wf_event ev[12];
	int k = 0;
	CHECK_OK(wf_fold_new(&f));
	ev_make(&ev[k], k + 1, WF_EV_WORKFLOW_CREATED, 3, "s:w",
	        "j:{\"team\":\"x\",\"n\":[1,2]}",
	        "j:{\"steps\":[{\"id\":\"add\",\"name\":\"add\",\"args\":"
	        "[{\"value\":1}]}],\"output\":\"add\"}");
	k++;
	ev_make(&ev[k], k + 1, WF_EV_ATTEMPT_STARTED, 4, "s:w", "u:1", "s:run",
	        "s:s-1");
	k++;
	ev_make(&ev[k], k + 1, WF_EV_STATUS_CHANGED, 3, "s:w", "s:RUNNING",
	        "s:run");
	k++;
	ev_make(&ev[k], k + 1, WF_EV_STEP_STARTED, 3, "s:w", "s:add", "u:1");
	k++;
	ev_make(&ev[k], k + 1, WF_EV_STEP_FAILED, 4, "s:w", "s:add", "u:1",
	        "s:first try fails");
	k++;
	ev_make(&ev[k], k + 1, WF_EV_STEP_STARTED, 3, "s:w", "s:add", "u:2");
	k++;
	ev_make(&ev[k], k + 1, WF_EV_STEP_SUCCEEDED, 4, "s:w", "s:add", "u:2",
	        "j:3");
	k++;
	ev_make(&ev[k], k + 1, WF_EV_WORKFLOW_OUTPUT, 2, "s:w", "j:3");
	k++;
	ev_make(&ev[k], k + 1, WF_EV_STATUS_CHANGED, 3, "s:w", "s:SUCCESSFUL",
	        "s:run");
	k++;
	ev_make(&ev[k], k + 1, WF_EV_ACTOR_CREATED, 3, "s:a", "s:Counter",
	        "j:{\"n\":0,\"log\":[]}");
	k++;
	char err[300];
	for (int i = 0; i < k && i < upto; i++)
		CHECK_OK_MSG(wf_fold_apply(f, &ev[i], err, sizeof err), err);
	return f;
}

/* Applying the actor's events out of memory: WF_ENOMEM or success. */
static void fold_parse_cases(void)
{
	static const char *const states[] = {
	        "j:{\"n\":0,\"log\":[],\"deep\":{\"a\":[1,{\"b\":\"c\"}]}}",
	        "j:[1,2,3,\"four\",{\"five\":5}]",
	};
	char err[300];
	for (size_t s = 0; s < sizeof states / sizeof *states; s++) {
		long n;
		for (n = 1;; n++) {
			wf_fold *f = fold_with_history(9);
			wf_event ev;
			ev_make(&ev, 10, WF_EV_ACTOR_CREATED, 3, "s:a",
			        "s:Counter", states[s]);
			t_context("actor_created %s, allocation %ld fails",
			          states[s], n);
			arm(n);
			int rc = wf_fold_apply(f, &ev, err, sizeof err);
			int reached = hit();
			arm(0);
			CHECK_MSG(rc == 0 || rc == WF_ENOMEM, "rc %d (%s): %s",
			          rc, wf_strerror(rc), err);
			wf_fold_free(f);
			if (!reached)
				break;
		}
		CHECK(n > 1);
	}
	long n;
	for (n = 1;; n++) {
		wf_fold *f = fold_with_history(10);
		wf_event ev;
		ev_make(&ev, 11, WF_EV_ACTOR_CALL, 2, "s:a",
		        "j:{\"steps\":[{\"id\":\"add\",\"fn\":\"Counter.add\","
		        "\"name\":\"add\",\"args\":[{\"value\":4}]}],"
		        "\"output\":\"add\"}");
		CHECK_OK_MSG(wf_fold_apply(f, &ev, err, sizeof err), err);
		ev_make(&ev, 12, WF_EV_ACTOR_STATE, 3, "s:a", "s:add",
		        "j:[{\"op\":\"replace\",\"path\":\"/n\",\"value\":4},"
		        "{\"op\":\"add\",\"path\":\"/log/-\",\"value\":4}]");
		t_context("actor_state, allocation %ld fails", n);
		arm(n);
		int rc = wf_fold_apply(f, &ev, err, sizeof err);
		int reached = hit();
		arm(0);
		CHECK_MSG(rc == 0 || rc == WF_ENOMEM, "rc %d (%s): %s", rc,
		          wf_strerror(rc), err);
		const wf_fwf *w = wf_fold_get(f, "a");
		CHECK(w != NULL);
		check_keys(w->actor_state, "the actor's state");
		if (rc == 0)
			CHECK_MSG(strcmp(show(w->actor_state),
			                 "{\"n\":4,\"log\":[4]}") == 0,
			          "state %s", show(w->actor_state));
		wf_fold_free(f);
		if (!reached)
			break;
	}
	CHECK(n > 1);
}

/* Metadata answers out of memory: whole, or WF_ENOMEM. */
static void fold_metadata_cases(void)
{
	static const char *const steps[] = {NULL, "add"};
	char err[300];
	for (size_t s = 0; s < 2; s++) {
		wf_fold *f = fold_with_history(10);
		cJSON *want;
		CHECK_OK_MSG(wf_fold_metadata(f, "w", steps[s], &want, err,
		                              sizeof err),
		             err);
		long n;
		for (n = 1;; n++) {
			cJSON *got = NULL;
			t_context(
			        "wf_fold_metadata(w, %s), allocation %ld fails",
			        steps[s] ? steps[s] : "NULL", n);
			arm(n);
			int rc = wf_fold_metadata(f, "w", steps[s], &got, err,
			                          sizeof err);
			int reached = hit();
			arm(0);
			CHECK_MSG(rc == 0 || rc == WF_ENOMEM, "rc %d (%s): %s",
			          rc, wf_strerror(rc), err);
			if (rc == 0)
				CHECK_MSG(cJSON_Compare(got, want, 1),
				          "answered %s, with memory: %s",
				          show(got), show(want));
			else
				CHECK(got == NULL);
			cJSON_Delete(got);
			if (!reached)
				break;
		}
		CHECK(n > 1);
		cJSON_Delete(want);
		wf_fold_free(f);
	}
}

/* ---- the engine's JSON arguments --------------------------------------- */

static int st_noop(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ctx;
	(void)args;
	(void)ud;
	*out = NULL;
	return 0;
}

static void node_arg_cases(void)
{
	char dir[512];
	wf_engine *e = e_fresh(dir, "node_arg", WF_SYNC_NONE);
	wf_step *s;
	CHECK_OK_MSG(wf_step_define(e, "noop", st_noop, NULL, NULL, &s),
	             wf_errmsg(e));
	long n;
	for (n = 1;; n++) {
		wf_node *node;
		CHECK_OK_MSG(wf_node_new(&node, s, NULL), wf_errmsg(e));
		t_context("wf_node_arg_json, allocation %ld fails", n);
		arm(n);
		int rc = wf_node_arg_json(
		        node, "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}");
		int reached = hit();
		arm(0);
		CHECK_MSG(rc == 0 || rc == WF_ENOMEM, "rc %d (%s): %s", rc,
		          wf_strerror(rc), wf_errmsg(e));
		if (rc == WF_ENOMEM)
			CHECK_CONTAINS(wf_errmsg(e), "out of memory");
		wf_node_free(node);
		if (!reached)
			break;
	}
	CHECK(n > 1);
	/* Not JSON is still not JSON. */
	wf_node *node;
	CHECK_OK(wf_node_new(&node, s, NULL));
	CHECK_RC(wf_node_arg_json(node, "{\"a\":"), WF_EINVAL);
	wf_node_free(node);
	CHECK_OK(wf_close(e));
}

int main(void)
{
	cJSON_Hooks hooks = {oom_malloc, oom_free};
	cJSON_InitHooks(&hooks);
	jpatch_case("{\"n\":0,\"log\":[]}",
	            "[{\"op\":\"replace\",\"path\":\"/n\",\"value\":5},"
	            "{\"op\":\"add\",\"path\":\"/log/-\",\"value\":5}]",
	            "{\"n\":5,\"log\":[5]}");
	jpatch_case("{\"a\":1,\"b\":{\"c\":[1,2]},\"d\":3}",
	            "[{\"op\":\"add\",\"path\":\"/a\",\"value\":{\"x\":[7]}},"
	            "{\"op\":\"replace\",\"path\":\"/b/c/1\",\"value\":9},"
	            "{\"op\":\"add\",\"path\":\"/e\",\"value\":\"new\"},"
	            "{\"op\":\"remove\",\"path\":\"/d\"}]",
	            "{\"a\":{\"x\":[7]},\"b\":{\"c\":[1,9]},\"e\":\"new\"}");
	fold_parse_cases();
	fold_metadata_cases();
	node_arg_cases();
	t_context("%s", "");
	printf("oom: every cJSON allocation failed in turn: clean\n");
	return 0;
}
