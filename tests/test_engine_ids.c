/*
 * Ids (workflow ids and step names): 1 to 255 bytes of valid UTF-8 without
 * control characters. Invalid ones (empty, 256 bytes, invalid UTF-8 of
 * every kind, C0/DEL/C1 control characters) are WF_EINVAL everywhere and
 * nothing is recorded (the list stays empty, also after a reopen). Valid
 * ones with slashes, dots, '@', spaces, non-ASCII, 255 bytes, work, are
 * listed byte for byte, survive a reopen, and never become paths.
 */
#include "engine_util.h"

static wf_step *add;
static e_probe add_probe;

#define A10 "aaaaaaaaaa"
#define A50 A10 A10 A10 A10 A10
#define A250 A50 A50 A50 A50 A50

static const struct {
	const char *what;
	const char *id;
} invalid[] = {
	{"empty", ""},
	{"256 bytes", A250 "aaaaaa"},
	{"256 bytes ending in a 2-byte character", A250 "aaaa\xc3\xa9"},
	{"lone continuation byte", "ab\x80"},
	{"0xff", "\xff"},
	{"0xfe", "x\xfe"},
	{"truncated 2-byte sequence", "abc\xc3"},
	{"truncated 3-byte sequence", "\xe6\x97"},
	{"overlong '/'", "\xc0\xaf"},
	{"overlong NUL", "a\xc0\x80"},
	{"overlong 3-byte", "\xe0\x80\xaf"},
	{"UTF-16 surrogate", "\xed\xa0\x80"},
	{"beyond U+10FFFF", "\xf4\x90\x80\x80"},
	{"5-byte form", "\xf8\x88\x80\x80\x80"},
	{"newline", "a\nb"},
	{"tab", "a\tb"},
	{"carriage return", "order\r"},
	{"escape", "\x1b[31m"},
	{"0x01", "\x01"},
	{"DEL", "a\x7f"},
	{"C1 control U+0085", "a\xc2\x85"},
	{"C1 control U+009B", "\xc2\x9b"},
};

static const char *const valid[] = {
	"order/42",
	"user@example.com",
	"a",
	"with space",
	"../../etc/passwd",
	"/abs/path",
	".",
	"..",
	"caf\xc3\xa9",                      /* café */
	"\xe6\x97\xa5\xe6\x9c\xac",         /* 日本 */
	"\xf0\x9f\x98\x80 emoji",           /* U+1F600 */
	"\xef\xbf\xbd",                     /* U+FFFD */
	"JOURNAL",
	"LOCK",
	A250 "aaaaa",                       /* 255 bytes */
	A250 "aaa\xc3\xa9",                 /* 255 bytes, ending in é */
};

static void check_invalid_id(wf_engine *e, const char *what, const char *id)
{
	cJSON *out = NULL;
	wf_future *f = NULL;
	wf_status s = WF_STATUS_NONE;
	int rc;
	t_context("invalid id: %s", what);
	CHECK_ERC(e, wf_run(e, e_node(add, NULL, "[1, 2]"), id, NULL, &out),
	          WF_EINVAL);
	CHECK(out == NULL);
	CHECK_ERC(e, wf_run_async(e, e_node(add, NULL, "[1, 2]"), id, NULL, &f),
	          WF_EINVAL);
	wf_future_free(f);
	/* Asking about it: refused or not found, never a workflow. */
	rc = wf_get_status(e, id, &s);
	CHECK_MSG(rc == WF_EINVAL || rc == WF_ENOTFOUND, "get_status: %d", rc);
	rc = wf_get_metadata(e, id, NULL, &out);
	CHECK_MSG(rc == WF_EINVAL || rc == WF_ENOTFOUND, "get_metadata: %d", rc);
	CHECK(out == NULL);
	rc = wf_get_output(e, id, &out);
	CHECK_MSG(rc == WF_EINVAL || rc == WF_ENOTFOUND, "get_output: %d", rc);
	rc = wf_resume(e, id, &out);
	CHECK_MSG(rc == WF_EINVAL || rc == WF_ENOTFOUND, "resume: %d", rc);
	rc = wf_cancel(e, id);
	CHECK_MSG(rc == WF_EINVAL || rc == WF_ENOTFOUND, "cancel: %d", rc);
	rc = wf_delete(e, id);
	CHECK_MSG(rc == WF_EINVAL || rc == WF_ENOTFOUND, "delete: %d", rc);
	/* As a step name: at definition and in .options(name=). */
	CHECK_ERC(e, wf_step_define(e, id, e_step_add, NULL, NULL, NULL),
	          WF_EINVAL);
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	wf_node *n = NULL;
	o.name = id;
	CHECK_ERC(e, wf_node_new(&n, add, &o), WF_EINVAL);
	if (n)
		wf_node_free(n);
	/* As a step id asked of an existing workflow. */
	rc = wf_get_metadata(e, "exists", id, &out);
	CHECK_MSG(rc == WF_EINVAL || rc == WF_ENOTFOUND, "get_metadata step: %d",
	          rc);
	CHECK(out == NULL);
}

static void check_valid_id(wf_engine *e, const char *id)
{
	cJSON *out = NULL;
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	t_context("valid id: %s (%zu bytes)", id, strlen(id));
	/* The same string as the workflow id and as the step's name. */
	o.name = id;
	CHECK_E(e, wf_run(e, e_node(add, &o, "[1, 2]"), id, NULL, &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	CHECK_STATUS(e, id, WF_STATUS_SUCCESSFUL);
	cJSON *m = e_meta(e, id, NULL);
	CHECK(strcmp(e_str(m, "workflow_id"), id) == 0);
	cJSON_Delete(m);
	m = e_meta(e, id, id);
	CHECK(strcmp(e_str(m, "name"), id) == 0);
	CHECK(strcmp(e_str(m, "step_id"), id) == 0);
	cJSON_Delete(m);
	CHECK_E(e, wf_get_output(e, id, &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	/* Step definitions accept it too. */
	CHECK_E(e, wf_step_define(e, id, e_step_add, NULL, NULL, NULL));
	CHECK(wf_step_find(e, id) != NULL);
}

/* The list must be exactly the valid ids plus "exists", in byte order. */
static void check_list(wf_engine *e)
{
	size_t nv = sizeof valid / sizeof valid[0];
	cJSON *l = e_list_ids(e, WF_STATUS_ALL);
	CHECK_EQ_I64(cJSON_GetArraySize(l), (int64_t)nv + 1);
	for (size_t i = 0; i < nv; i++) {
		int found = 0;
		cJSON *it;
		cJSON_ArrayForEach(it, l) found += strcmp(it->valuestring, valid[i]) == 0;
		CHECK_MSG(found == 1, "%s listed %d times", valid[i], found);
	}
	/* Sorted by id (bytes). */
	for (int i = 1; i < cJSON_GetArraySize(l); i++)
		CHECK(strcmp(cJSON_GetArrayItem(l, i - 1)->valuestring,
		             cJSON_GetArrayItem(l, i)->valuestring) < 0);
	cJSON_Delete(l);
}

int main(void)
{
	char dir[512], p[600];
	wf_engine *e = e_fresh(dir, "ids", WF_SYNC_NONE);
	add = e_define(e, "add", e_step_add, &add_probe, NULL);
	CHECK_E(e, wf_run(e, e_node(add, NULL, "[1]"), "exists", NULL, NULL));
	e_probe_reset(&add_probe);

	for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
		check_invalid_id(e, invalid[i].what, invalid[i].id);
	t_context("%s", "");
	/* Nothing was recorded, nothing ran. */
	cJSON *l = e_list_ids(e, WF_STATUS_ALL);
	CHECK_JSON(l, "[\"exists\"]");
	cJSON_Delete(l);
	CHECK_EQ_I64(atomic_load(&add_probe.calls), 0);

	/* Ids longer than 255 bytes, by far. */
	char big[4096];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	check_invalid_id(e, "4095 bytes", big);
	/* NULL ids. */
	t_context("NULL id");
	CHECK_ERC(e, wf_run(e, e_node(add, NULL, "[1]"), NULL, NULL, NULL),
	          WF_EINVAL);
	CHECK_ERC(e, wf_step_define(e, NULL, e_step_add, NULL, NULL, NULL),
	          WF_EINVAL);

	for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
		check_valid_id(e, valid[i]);
	t_context("%s", "");
	CHECK_EQ_I64(atomic_load(&add_probe.calls), sizeof valid / sizeof valid[0]);
	check_list(e);

	/* Ids are data, not paths: nothing appeared outside the directory. */
	t_path(p, sizeof p, t_tmproot(), "etc");
	CHECK(!t_exists(p));
	CHECK(!t_exists("/abs/path"));

	e_close(e);
	e = e_open(dir, WF_SYNC_NONE);
	t_context("after reopen");
	check_list(e);
	for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
		CHECK_STATUS(e, valid[i], WF_STATUS_SUCCESSFUL);
	e_close(e);
	return 0;
}
