/*
 * Hostile input (issue 7): each gets a specific error code and a message
 * that names what is wrong; nothing of it is recorded (the journal's bytes
 * are the same after the refusal); the engine goes on working (a good
 * workflow runs after each one); nothing is lost (an engine that refuses
 * a damaged journal truncates nothing).
 *
 * What is checked where:
 *
 *   input                                   test
 *   --------------------------------------  ------------------------------
 *   ids: empty, 256 bytes, invalid UTF-8 of  test_engine_ids (codes, every
 *     every kind, C0/DEL/C1 controls,        API taking an id; "/", "..",
 *     "/", "..", "../../etc/passwd"          "/abs" valid and never paths)
 *   ids: the message says what is wrong;     here: ids()
 *     10 KB; NUL; journal bytes unchanged
 *   metadata not an object (codes, at each   test_engine_metadata
 *     level, nothing listed)
 *   metadata: non-finite numbers (as cJSON   here: non_finite()
 *     values and through the JSON-text
 *     APIs), arguments, outputs, states
 *   JSON nested 100,000 deep, everywhere     here: deep_values(),
 *     the engine takes JSON; and inside a    deep_journal()
 *     journal (replay, jpatch, dump, verify)
 *   metadata over the size limit (default    here: metadata_limit()
 *     16 MiB, and a configured one)
 *   journal: bit flips in segment header,    test_corrupt (journal API;
 *     frame header and payload; incompat     one field each)
 *     flags and version 2
 *   journal: every field of every segment    here: segment_headers(),
 *     header and of a frame header, through  frame_headers(), last_frame()
 *     wf_open and wflow verify; crafted
 *     fields with valid checksums
 *   a file that is not a journal, a file     here: not_a_journal()
 *     for the directory
 *   a directory without write permission     here: read_only()
 *   two engines on one directory             here: two_engines() (the
 *                                            journal level: test_lock)
 *   the wflow tool pointed at a file         here: tool_on_a_file()
 *
 * Ids containing NUL: every call takes an id as a C string (there is no
 * call that takes an id with a length), so "ab\0cd" is the id "ab": C
 * itself cuts it there, and the engine never sees the rest. The test
 * shows exactly that (the workflow is "ab", nothing else).
 *
 * No write permission: the test runs as root in CI, and root ignores
 * permissions. When root, the checks run with the thread's filesystem
 * uid and gid set to 65534 (setfsuid/setfsgid: per thread, no fork, and
 * the kernel drops CAP_DAC_OVERRIDE with them), which makes root's
 * permission checks those of "nobody"; restored right after.
 *
 * Where "nothing is lost" has limits, by design (format.h, README
 * "Recovery modes"): a damaged last frame of the last segment, with
 * nothing after it, looks like a write a crash tore, and the default
 * recovery mode cuts it (last_frame() checks that exactly that commit
 * goes; recovery absolute refuses instead). Unknown compat flags are
 * accepted. Not covered: a header crafted with another journal id and a
 * matching checksum in a journal of one segment (every frame then fails
 * its checksum, and the writer takes them all for a torn tail).
 *
 * argv[1] is the wflow tool.
 */
#include "engine_util.h"

#include <sys/fsuid.h>
#include <sys/wait.h>

#include <xxhash.h>

#include "journal/jsoncheck.h"
#include "replay/events.h"

static const char *tool;
static wf_step *add;
static e_probe add_probe;
static int good_runs;

/* ---- helpers ------------------------------------------------------------- */

/* A fingerprint of an engine directory's data: every file but LOCK (the
 * writer's lock, which an open may rewrite) with its size and a hash of
 * its bytes, sorted by path. */
static char **dg_lines;
static size_t dg_n;
static const char *dg_root;

static int dg_cb(const char *path, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
	(void)ftw;
	if (flag != FTW_F || strcmp(path + strlen(path) - 5, "/LOCK") == 0)
		return 0;
	size_t len;
	uint8_t *b = t_read_file(path, &len);
	char line[700];
	snprintf(line, sizeof line, "%s %llu %016llx",
	         path + strlen(dg_root), (unsigned long long)sb->st_size,
	         (unsigned long long)XXH3_64bits(b, len));
	free(b);
	dg_lines = realloc(dg_lines, (dg_n + 1) * sizeof *dg_lines);
	dg_lines[dg_n++] = strdup(line);
	return 0;
}

static int dg_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The fingerprint of dir (caller frees). */
static char *digest(const char *dir)
{
	dg_lines = NULL;
	dg_n = 0;
	dg_root = dir;
	CHECK(nftw(dir, dg_cb, 16, FTW_PHYS) == 0);
	if (dg_n)
		qsort(dg_lines, dg_n, sizeof *dg_lines, dg_cmp);
	size_t total = 1;
	for (size_t i = 0; i < dg_n; i++)
		total += strlen(dg_lines[i]) + 1;
	char *s = malloc(total);
	s[0] = 0;
	for (size_t i = 0; i < dg_n; i++) {
		strcat(s, dg_lines[i]);
		strcat(s, "\n");
		free(dg_lines[i]);
	}
	free(dg_lines);
	return s;
}

#define CHECK_SAME_DIGEST(before, dir)                                       \
	do {                                                                     \
		char *t_now_ = digest(dir);                                          \
		CHECK_MSG(strcmp(before, t_now_) == 0,                               \
		          "%s changed:\nbefore:\n%s\nafter:\n%s", dir, before, t_now_);\
		free(t_now_);                                                        \
	} while (0)

/* A good workflow runs on e (a fresh id each time). */
static void good_run(wf_engine *e)
{
	char id[64];
	cJSON *out = NULL;
	snprintf(id, sizeof id, "good_%d", ++good_runs);
	CHECK_E(e, wf_run(e, e_node(add, NULL, "[1, 2]"), id, NULL, &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	CHECK_STATUS(e, id, WF_STATUS_SUCCESSFUL);
}

/* Run the wflow tool with args (a shell fragment); its stdout and stderr
 * in out. @return its exit status. */
static int run_tool(char *out, size_t outlen, const char *fmt, ...)
	T_PRINTF(3, 4);
static int run_tool(char *out, size_t outlen, const char *fmt, ...)
{
	char args[2048], cmd[3000], log[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	t_subdir(log, sizeof log, "tool.out");
	snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>&1", tool, args, log);
	int st = system(cmd);
	CHECK_MSG(st != -1 && WIFEXITED(st), "%s: status %d", cmd, st);
	size_t len;
	uint8_t *b = t_read_file(log, &len);
	snprintf(out, outlen, "%.*s", (int)len, (const char *)b);
	free(b);
	return WEXITSTATUS(st);
}

/* wf_open on dir must fail with want; its message must contain each of
 * the NULL-terminated needles. */
static void expect_open_fails(const char *dir, const wf_config *cfg,
                              int want, const char *const *needles)
{
	wf_engine *e = NULL;
	int rc = wf_open(&e, dir, cfg);
	CHECK(e != NULL);
	const char *msg = wf_errmsg(e);
	if (rc != want)
		t_fail(__FILE__, __LINE__, "wf_open(%s): %d (%s), expected %d (%s): "
		       "%s", dir, rc, wf_strerror(rc), want, wf_strerror(want),
		       msg);
	for (const char *const *n = needles; *n; n++)
		CHECK_CONTAINS(msg, *n);
	wf_close(e);
}
#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

static wf_config cfg_none(void)
{
	wf_config c = WF_CONFIG_INIT;
	c.durability = WF_SYNC_NONE;
	return c;
}

/* A JSON value nested depth arrays deep: [[[...]]]. */
static cJSON *deep_array(int depth)
{
	cJSON *root = cJSON_CreateArray(), *cur = root;
	for (int i = 1; i < depth; i++) {
		cJSON *c = cJSON_CreateArray();
		cJSON_AddItemToArray(cur, c);
		cur = c;
	}
	return root;
}

/* {"k": {"k": ... {}}}: depth objects. */
static cJSON *deep_object(int depth)
{
	cJSON *root = cJSON_CreateObject(), *cur = root;
	for (int i = 1; i < depth; i++)
		cur = cJSON_AddObjectToObject(cur, "k");
	return root;
}

/* Free a deep value without cJSON_Delete's recursion. */
static void free_deep(cJSON *v)
{
	while (v) {
		cJSON *c = v->child;
		v->child = NULL;
		if (c)
			c->prev = c->next = NULL;
		cJSON_Delete(v);
		v = c;
	}
}

/* ---- steps and actors the cases use ---------------------------------------- */

/* emit(what): an output per what: "nan", "inf", "deep" (100,000 arrays
 * deep), "d512", "d513" (that deep), else what itself. */
static int emit(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)ctx;
	(void)udata;
	const cJSON *w = cJSON_GetArrayItem(args, 0);
	const char *what = cJSON_IsString(w) ? w->valuestring : "";
	if (strcmp(what, "nan") == 0)
		*out = cJSON_CreateNumber(NAN);
	else if (strcmp(what, "inf") == 0)
		*out = cJSON_CreateNumber(-INFINITY);
	else if (strcmp(what, "deep") == 0)
		*out = deep_array(100000);
	else if (strcmp(what, "d512") == 0)
		*out = deep_array(512);
	else if (strcmp(what, "d513") == 0)
		*out = deep_array(513);
	else
		*out = cJSON_CreateString(what);
	return 0;
}

/* How many arrays and objects deep v is (without recursion). */
static int depth_of(const cJSON *v)
{
	int d = 0;
	while (v && (cJSON_IsArray(v) || cJSON_IsObject(v))) {
		d++;
		v = v->child;
	}
	return d;
}

/* depth(x): the depth of its argument. */
static int depth_step(wf_ctx *ctx, const cJSON *args, void *udata,
                      cJSON **out)
{
	(void)ctx;
	(void)udata;
	*out = cJSON_CreateNumber(depth_of(cJSON_GetArrayItem(args, 0)));
	return 0;
}

static int init_obj(const cJSON *args, void *udata, cJSON **state,
                    char *err, size_t errlen)
{
	(void)args;
	(void)err;
	(void)errlen;
	const char *how = udata;
	if (how && strcmp(how, "nan") == 0) {
		*state = cJSON_CreateObject();
		cJSON_AddNumberToObject(*state, "x", NAN);
	} else if (how && strcmp(how, "deep") == 0) {
		*state = deep_array(100000);
	} else {
		*state = cJSON_CreateObject();
		cJSON_AddNumberToObject(*state, "x", 1);
	}
	return 0;
}

/* poison(how): a writer method that leaves the state with a non-finite
 * number ("nan"), replaces it with a deep value ("deep"), or nests one
 * into it in place ("deep_in_place"); "ok" sets x to 2. */
static int poison(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	(void)out;
	cJSON *st = wf_ctx_state(ctx);
	const cJSON *w = cJSON_GetArrayItem(args, 0);
	const char *how = cJSON_IsString(w) ? w->valuestring : "";
	if (strcmp(how, "nan") == 0) {
		cJSON_ReplaceItemInObject(st, "x", cJSON_CreateNumber(NAN));
	} else if (strcmp(how, "deep") == 0) {
		wf_ctx_set_state(ctx, deep_object(100000));
	} else if (strcmp(how, "deep_in_place") == 0) {
		cJSON_AddItemToObject(st, "deep", deep_array(100000));
	} else {
		cJSON_ReplaceItemInObject(st, "x", cJSON_CreateNumber(2));
	}
	return 0;
}

/* peek(): a readonly method whose output is 100,000 deep. */
static int peek(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)ctx;
	(void)args;
	(void)udata;
	*out = deep_array(100000);
	return 0;
}

static wf_step *emit_s, *depth_s;
static wf_actor_class *cls;
static wf_step *poison_m, *peek_m;

static void define_all(wf_engine *e)
{
	add = e_define(e, "add", e_step_add, &add_probe, NULL);
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.max_retries = 0;
	emit_s = e_define(e, "emit", emit, NULL, &o);
	depth_s = e_define(e, "depth", depth_step, NULL, NULL);
	CHECK_E(e, wf_actor_class_define(e, "Obj", init_obj, NULL, &cls));
	CHECK_E(e, wf_actor_method_define(cls, "poison", poison, NULL,
	                                  WF_METHOD_WRITER, NULL, &poison_m));
	CHECK_E(e, wf_actor_method_define(cls, "peek", peek, NULL,
	                                  WF_METHOD_READONLY, NULL, &peek_m));
}

/* A node of step s with the JSON text args. */
static wf_node *call(wf_step *s, const char *args)
{
	return e_node(s, NULL, args);
}

/* ---- ids ----------------------------------------------------------------- */

static void expect_bad_id(wf_engine *e, const char *dir, const char *what,
                          const char *id, const char *needle)
{
	char *before = digest(dir);
	t_context("id: %s", what);
	wf_future *f = NULL;
	wf_actor_class *c = NULL;
	wf_actor *a = NULL;
	wf_step *m = NULL;
	CHECK_ERC(e, wf_run(e, call(add, "[1]"), id, NULL, NULL), WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), "invalid workflow id: ");
	CHECK_CONTAINS(wf_errmsg(e), needle);
	CHECK_ERC(e, wf_run_async(e, call(add, "[1]"), id, NULL, &f),
	          WF_EINVAL);
	CHECK(f == NULL);
	CHECK_CONTAINS(wf_errmsg(e), needle);
	CHECK_ERC(e, wf_step_define(e, id, e_step_add, NULL, NULL, NULL),
	          WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), "invalid step name: ");
	CHECK_CONTAINS(wf_errmsg(e), needle);
	if (id) { /* (a NULL name in options means "not set") */
		wf_step_options o = WF_STEP_OPTIONS_INIT;
		wf_node *n = NULL;
		o.name = id;
		CHECK_ERC(e, wf_node_new(&n, add, &o), WF_EINVAL);
		CHECK(n == NULL);
		CHECK_CONTAINS(wf_errmsg(e), needle);
	}
	CHECK_ERC(e, wf_actor_class_define(e, id, init_obj, NULL, &c),
	          WF_EINVAL);
	CHECK(c == NULL);
	CHECK_CONTAINS(wf_errmsg(e), needle);
	CHECK_ERC(e, wf_actor_method_define(cls, id, poison, NULL,
	                                    WF_METHOD_WRITER, NULL, &m),
	          WF_EINVAL);
	CHECK(m == NULL);
	CHECK_CONTAINS(wf_errmsg(e), needle);
	CHECK_ERC(e, wf_actor_get_or_create(cls, id, NULL, &a), WF_EINVAL);
	CHECK(a == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "invalid actor id: ");
	CHECK_CONTAINS(wf_errmsg(e), needle);
	CHECK_SAME_DIGEST(before, dir);
	free(before);
	good_run(e);
	t_context("%s", "");
}

static void ids(wf_engine *e, const char *dir)
{
	char big[10 * 1024 + 1];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	expect_bad_id(e, dir, "NULL", NULL, "none given (NULL)");
	expect_bad_id(e, dir, "empty", "", "empty");
	expect_bad_id(e, dir, "10 KB", big, "10240 bytes long, more than 255");
	expect_bad_id(e, dir, "newline", "a\nb", "control character 0x0a at "
	                                        "byte 1");
	expect_bad_id(e, dir, "DEL", "ok\x7f", "control character 0x7f at "
	                                      "byte 2");
	expect_bad_id(e, dir, "escape", "\x1b[2J", "control character 0x1b at "
	                                          "byte 0");
	expect_bad_id(e, dir, "C1 control", "x\xc2\x85", "control character "
	                                                "U+0085 at byte 1");
	expect_bad_id(e, dir, "truncated UTF-8", "ab\xc3", "invalid UTF-8 at "
	                                                  "byte 2");
	expect_bad_id(e, dir, "overlong '/'", "..\xc0\xaf", "invalid UTF-8 at "
	                                                   "byte 2");
	expect_bad_id(e, dir, "surrogate", "\xed\xa0\x80", "invalid UTF-8 at "
	                                                  "byte 0");
	expect_bad_id(e, dir, "0xff", "order/\xff", "invalid UTF-8 at byte 6");

	/* "ab\0cd": C ends the string at the NUL; the id is "ab". */
	static const char nul_id[] = "ab\0cd";
	cJSON *out = NULL;
	CHECK_E(e, wf_run(e, call(add, "[2, 2]"), nul_id, NULL, &out));
	CHECK_OUT_NUM(out, 4);
	cJSON_Delete(out);
	CHECK_STATUS(e, "ab", WF_STATUS_SUCCESSFUL);
	cJSON *m = e_meta(e, "ab", NULL);
	CHECK(strcmp(e_str(m, "workflow_id"), "ab") == 0);
	cJSON_Delete(m);
	cJSON *l = e_list_ids(e, WF_STATUS_ALL), *it;
	int found = 0;
	cJSON_ArrayForEach(it, l)
	{
		CHECK_MSG(strncmp(it->valuestring, "ab", 2) != 0 ||
		              strcmp(it->valuestring, "ab") == 0,
		          "listed: %s", it->valuestring);
		found += strcmp(it->valuestring, "ab") == 0;
	}
	CHECK_EQ_I64(found, 1);
	cJSON_Delete(l);
	/* The same id, as C sees it: the finished workflow answers. */
	CHECK_E(e, wf_run(e, call(add, "[5]"), "ab\0zz", NULL, &out));
	CHECK_OUT_NUM(out, 4);
	cJSON_Delete(out);
}

/* ---- non-finite numbers ---------------------------------------------------- */

/* wf_run with metadata md must be refused (needle in the message), and
 * so must md as a step's defaults and a call's options. */
static void expect_bad_metadata(wf_engine *e, const char *dir, cJSON *md,
                                const char *needle)
{
	char *before = digest(dir);
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	wf_node *n = NULL;
	o.metadata = md;
	CHECK_ERC(e, wf_run(e, call(add, "[1]"), "md_refused", md, NULL),
	          WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), "md_refused: user metadata ");
	CHECK_CONTAINS(wf_errmsg(e), needle);
	CHECK_ERC(e, wf_step_define(e, "md_def", e_step_add, NULL, &o, NULL),
	          WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), needle);
	CHECK(wf_step_find(e, "md_def") == NULL);
	CHECK_ERC(e, wf_node_new(&n, add, &o), WF_EINVAL);
	CHECK(n == NULL);
	CHECK_CONTAINS(wf_errmsg(e), needle);
	CHECK_EQ_I64(e_status(e, "md_refused"), WF_STATUS_NONE);
	CHECK_SAME_DIGEST(before, dir);
	free(before);
	good_run(e);
}

/* An argument v must be refused by wf_node_arg (needle). */
static void expect_bad_arg(wf_engine *e, const char *dir, const cJSON *v,
                           const char *needle)
{
	char *before = digest(dir);
	wf_node *n = call(add, NULL);
	CHECK_ERC(e, wf_node_arg(n, v), WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), "argument ");
	CHECK_CONTAINS(wf_errmsg(e), needle);
	wf_node_free(n);
	CHECK_SAME_DIGEST(before, dir);
	free(before);
}

/* emit(what) must fail its attempt with needle, and the workflow with it. */
static void expect_bad_output(wf_engine *e, const char *id, const char *what,
                              const char *needle)
{
	char args[64];
	snprintf(args, sizeof args, "[\"%s\"]", what);
	cJSON *out = NULL;
	CHECK_ERC(e, wf_run(e, call(emit_s, args), id, NULL, &out), WF_EFAILED);
	CHECK(out == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "the step's output ");
	CHECK_CONTAINS(wf_errmsg(e), needle);
	CHECK_STATUS(e, id, WF_STATUS_FAILED);
	cJSON *m = e_meta(e, id, "emit");
	const cJSON *att = cJSON_GetArrayItem(e_get(m, "attempts"), 0);
	CHECK_CONTAINS(e_str(att, "error"), needle);
	cJSON_Delete(m);
	good_run(e);
}

/* An actor call of poison(how) must fail with needle, leaving the state. */
static void expect_bad_state(wf_engine *e, wf_actor *a, const char *how,
                             const char *needle)
{
	cJSON *before = NULL, *after = NULL, *out = NULL;
	char args[64];
	CHECK_E(e, wf_actor_state(a, &before));
	snprintf(args, sizeof args, "[\"%s\"]", how);
	CHECK_ERC(e, wf_actor_call(a, call(poison_m, args), &out), WF_EFAILED);
	CHECK_CONTAINS(wf_errmsg(e), "the method left an actor state that ");
	CHECK_CONTAINS(wf_errmsg(e), needle);
	CHECK_E(e, wf_actor_state(a, &after));
	CHECK_JSON_SAME(before, after);
	cJSON_Delete(before);
	cJSON_Delete(after);
	/* A good call works after it. */
	CHECK_E(e, wf_actor_call(a, call(poison_m, "[\"ok\"]"), &out));
	cJSON_Delete(out);
	CHECK_E(e, wf_actor_state(a, &after));
	CHECK_JSON(after, "{\"x\": 2}");
	cJSON_Delete(after);
}

static void non_finite(wf_engine *e, const char *dir)
{
	const char *nf = "holds a number that is not finite";
	t_context("non-finite: the JSON-text API");
	/* cJSON reads 1e999 as infinity: refused as such; NaN and Infinity
	 * are not JSON at all. */
	wf_node *n = call(add, NULL);
	CHECK_ERC(e, wf_node_arg_json(n, "1e999"), WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), nf);
	CHECK_ERC(e, wf_node_arg_json(n, "{\"a\": [1, -1e999]}"), WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), nf);
	static const char *const not_json[] = {"NaN", "nan", "Infinity",
	                                       "-Infinity", "[1, NaN]"};
	for (size_t i = 0; i < sizeof not_json / sizeof not_json[0]; i++) {
		CHECK_ERC(e, wf_node_arg_json(n, not_json[i]), WF_EINVAL);
		CHECK_CONTAINS(wf_errmsg(e), "argument is not JSON");
	}
	wf_node_free(n);
	cJSON *md = cJSON_Parse("{\"price\": 1e999}");
	CHECK(md && cJSON_IsNumber(e_get(md, "price")));
	expect_bad_metadata(e, dir, md, nf);
	cJSON_Delete(md);

	t_context("non-finite: cJSON values");
	md = cJSON_CreateObject();
	cJSON_AddItemToObject(cJSON_AddObjectToObject(md, "nested"), "nan",
	                      cJSON_CreateNumber(NAN));
	expect_bad_metadata(e, dir, md, nf);
	cJSON_Delete(md);
	cJSON *v = cJSON_CreateNumber(INFINITY);
	expect_bad_arg(e, dir, v, nf);
	cJSON_Delete(v);

	t_context("non-finite: a step's output");
	expect_bad_output(e, "out_nan", "nan", nf);
	expect_bad_output(e, "out_inf", "inf", nf);

	t_context("non-finite: actors");
	char *before = digest(dir);
	wf_actor *a = NULL;
	cJSON *args = cJSON_CreateArray();
	cJSON_AddItemToArray(args, cJSON_CreateNumber(NAN));
	CHECK_ERC(e, wf_actor_get_or_create(cls, "nan_args", args, &a),
	          WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), nf);
	cJSON_Delete(args);
	wf_actor_class *c = NULL;
	CHECK_E(e, wf_actor_class_define(e, "NanInit", init_obj, "nan", &c));
	CHECK_ERC(e, wf_actor_get_or_create(c, "nan_state", NULL, &a),
	          WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), "the initial state holds a number that is "
	                             "not finite");
	CHECK(a == NULL);
	CHECK_SAME_DIGEST(before, dir);
	free(before);
	CHECK_E(e, wf_actor_get_or_create(cls, "obj", NULL, &a));
	expect_bad_state(e, a, "nan", nf);
	wf_actor_free(a);
	t_context("%s", "");
}

/* ---- nesting 100,000 deep ----------------------------------------------- */

#define DEEP 100000
#define TOO_DEEP "is nested more than 512 arrays and objects deep"

static void deep_values(wf_engine *e, const char *dir)
{
	t_context("deep: metadata");
	cJSON *d = deep_object(DEEP);
	expect_bad_metadata(e, dir, d, TOO_DEEP);
	free_deep(d);

	t_context("deep: arguments");
	d = deep_array(DEEP);
	expect_bad_arg(e, dir, d, TOO_DEEP);
	free_deep(d);
	/* As text: cJSON refuses nesting deeper than 1000 itself. */
	char *text = malloc(2 * DEEP + 1);
	memset(text, '[', DEEP);
	memset(text + DEEP, ']', DEEP);
	text[2 * DEEP] = 0;
	wf_node *n = call(add, NULL);
	CHECK_ERC(e, wf_node_arg_json(n, text), WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), "argument is not JSON (error at byte ");
	CHECK_CONTAINS(wf_errmsg(e), "of 200000");
	/* 513 deep as text: cJSON reads it, the engine refuses it. */
	char t513[1100];
	memset(t513, '[', 513);
	memset(t513 + 513, ']', 513);
	t513[1026] = 0;
	CHECK_ERC(e, wf_node_arg_json(n, t513), WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), TOO_DEEP);
	wf_node_free(n);
	free(text);

	t_context("deep: 512 deep is accepted, journaled and read back");
	d = deep_array(512);
	n = call(depth_s, NULL);
	CHECK_E(e, wf_node_arg(n, d));
	free_deep(d);
	cJSON *out = NULL;
	CHECK_E(e, wf_run(e, n, "depth_512", NULL, &out));
	CHECK_OUT_NUM(out, 512);
	cJSON_Delete(out);
	CHECK_E(e, wf_run(e, call(emit_s, "[\"d512\"]"), "out_512", NULL, &out));
	CHECK_EQ_I64(depth_of(out), 512);
	cJSON_Delete(out);

	t_context("deep: a step's output");
	expect_bad_output(e, "out_513", "d513", TOO_DEEP);
	expect_bad_output(e, "out_deep", "deep", TOO_DEEP);

	t_context("deep: actors");
	char *before = digest(dir);
	wf_actor *a = NULL;
	cJSON *args = cJSON_CreateArray();
	cJSON_AddItemToArray(args, deep_array(DEEP));
	CHECK_ERC(e, wf_actor_get_or_create(cls, "deep_args", args, &a),
	          WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), TOO_DEEP);
	cJSON *inner = cJSON_DetachItemFromArray(args, 0);
	free_deep(inner);
	cJSON_Delete(args);
	wf_actor_class *c = NULL;
	CHECK_E(e, wf_actor_class_define(e, "DeepInit", init_obj, "deep", &c));
	CHECK_ERC(e, wf_actor_get_or_create(c, "deep_state", NULL, &a),
	          WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e), "the initial state " TOO_DEEP);
	CHECK_SAME_DIGEST(before, dir);
	free(before);
	CHECK_E(e, wf_actor_get_or_create(cls, "deep_obj", NULL, &a));
	expect_bad_state(e, a, "deep", TOO_DEEP);
	expect_bad_state(e, a, "deep_in_place", TOO_DEEP);
	/* A readonly method's output is the caller's (nothing is kept). */
	CHECK_E(e, wf_actor_call(a, call(peek_m, NULL), &out));
	CHECK_EQ_I64(depth_of(out), DEEP);
	free_deep(out);
	wf_actor_free(a);
	t_context("%s", "");
}

/* ---- the metadata size limit ------------------------------------------- */

/* {"s": "xxx..."} of exactly n bytes of JSON text. */
static cJSON *metadata_of_size(size_t n)
{
	char *s = malloc(n - 8 + 1);
	memset(s, 'x', n - 8);
	s[n - 8] = 0;
	cJSON *md = cJSON_CreateObject();
	cJSON_AddStringToObject(md, "s", s);
	free(s);
	char *t = cJSON_PrintUnformatted(md);
	CHECK_EQ_U64(strlen(t), n);
	free(t);
	return md;
}

static void metadata_limit(wf_engine *e, const char *dir)
{
	t_context("metadata over the default limit (16 MiB)");
	cJSON *md = metadata_of_size(WF_METADATA_MAX_DEFAULT + 1);
	expect_bad_metadata(e, dir, md, "user metadata is 16777217 bytes of "
	                                "JSON, more than the limit of 16777216");
	cJSON_Delete(md);

	t_context("metadata over a configured limit");
	char dir2[512];
	t_subdir(dir2, sizeof dir2, "limit");
	wf_config cfg = cfg_none();
	cfg.max_metadata_bytes = 1000;
	wf_engine *e2 = NULL;
	CHECK_E(e2, wf_open(&e2, dir2, &cfg));
	wf_step *add2 = e_define(e2, "add", e_step_add, NULL, NULL);
	md = metadata_of_size(1000);
	CHECK_E(e2, wf_run(e2, call(add2, "[1]"), "at_limit", md, NULL));
	cJSON *m = e_meta(e2, "at_limit", NULL);
	CHECK_JSON_SAME(e_get(m, "user_metadata"), md);
	cJSON_Delete(m);
	cJSON_Delete(md);
	md = metadata_of_size(1001);
	char *before = digest(dir2);
	CHECK_ERC(e2, wf_run(e2, call(add2, "[1]"), "over", md, NULL),
	          WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e2), "over: user metadata is 1001 bytes of "
	                              "JSON, more than the limit of 1000 "
	                              "(wf_config.max_metadata_bytes)");
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	wf_node *n = NULL;
	o.metadata = md;
	CHECK_ERC(e2, wf_step_define(e2, "big", e_step_add, NULL, &o, NULL),
	          WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e2), "1001 bytes");
	CHECK_ERC(e2, wf_node_new(&n, add2, &o), WF_EINVAL);
	CHECK_CONTAINS(wf_errmsg(e2), "1001 bytes");
	CHECK_SAME_DIGEST(before, dir2);
	free(before);
	cJSON_Delete(md);
	CHECK_E(e2, wf_run(e2, call(add2, "[1]"), "after", NULL, NULL));
	e_close(e2);

	/* A version 3 wf_config has no max_metadata_bytes: the default. */
	t_context("a version 3 wf_config");
	cfg.version = 3;
	cfg.max_metadata_bytes = 10; /* past version 3's end: not read */
	CHECK_E(e2, wf_open(&e2, dir2, &cfg));
	add2 = e_define(e2, "add", e_step_add, NULL, NULL);
	md = metadata_of_size(2000);
	CHECK_E(e2, wf_run(e2, call(add2, "[1]"), "v3", md, NULL));
	cJSON_Delete(md);
	e_close(e2);
	t_context("%s", "");
}

/* ---- journals: a base to damage copies of -------------------------------- */

static char base[512], work[512];
static t_segs segs;
static int base_wfs;

static wf_config cfg_journal(void)
{
	/* Every open replays every segment (no snapshot to start from), and
	 * every commit is synced (the LOCK's sync mark covers it all). */
	wf_config c = WF_CONFIG_INIT;
	c.no_snapshots = 1;
	c.segment_size = 4096;
	return c;
}

static void copy_tree(const char *src, const char *dst)
{
	CHECK(mkdir(dst, 0755) == 0);
	DIR *d = opendir(src);
	CHECK(d != NULL);
	struct dirent *de;
	while ((de = readdir(d))) {
		char a[600], b[600];
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		t_path(a, sizeof a, src, de->d_name);
		t_path(b, sizeof b, dst, de->d_name);
		CHECK(lstat(a, &st) == 0);
		if (S_ISDIR(st.st_mode)) {
			copy_tree(a, b);
		} else if (S_ISREG(st.st_mode)) {
			size_t len;
			uint8_t *buf = t_read_file(a, &len);
			t_write_file(b, buf, len);
			free(buf);
		}
	}
	closedir(d);
}

/* work = a fresh copy of base (LOCK and its sync mark included). */
static void fresh_work(void)
{
	t_rmtree(work);
	copy_tree(base, work);
}

static void work_seg(char *out, size_t n, size_t i)
{
	char j[600];
	t_path(j, sizeof j, work, "journal");
	t_seg_path(out, n, j, &segs, i);
}

/* The engine on dir has every base workflow, SUCCESSFUL, and runs one. */
static void check_whole(const char *dir)
{
	wf_config c = cfg_journal();
	wf_engine *e = NULL;
	CHECK_E(e, wf_open(&e, dir, &c));
	add = e_define(e, "add", e_step_add, &add_probe, NULL);
	for (int i = 0; i < base_wfs; i++) {
		char id[32];
		snprintf(id, sizeof id, "w%d", i);
		CHECK_STATUS(e, id, WF_STATUS_SUCCESSFUL);
	}
	good_run(e);
	e_close(e);
}

static void make_base(void)
{
	t_subdir(base, sizeof base, "base");
	t_subdir(work, sizeof work, "work");
	wf_config c = cfg_journal();
	wf_engine *e = NULL;
	CHECK_E(e, wf_open(&e, base, &c));
	add = e_define(e, "add", e_step_add, &add_probe, NULL);
	char jdir[600];
	t_path(jdir, sizeof jdir, base, "journal");
	/* >= 3 segments; the last with >= 4 frames. */
	for (;;) {
		char id[32];
		snprintf(id, sizeof id, "w%d", base_wfs++);
		CHECK_E(e, wf_run(e, call(add, "[1, 2]"), id, NULL, NULL));
		t_list_segments(jdir, &segs);
		if (segs.n < 3)
			continue;
		char p[700];
		size_t nf;
		t_seg_path(p, sizeof p, jdir, &segs, segs.n - 1);
		free(t_frames(p, &nf));
		if (nf >= 4)
			break;
	}
	e_close(e);
	t_list_segments(jdir, &segs);
}

/*
 * wf_open on work must fail with want, its message naming every needle;
 * work's bytes must be as they were; wflow verify must find it damaged
 * (exit 1) and name verify_needle.
 */
static void expect_refused(const wf_config *cfg, int want,
                           const char *const *needles,
                           const char *verify_needle)
{
	char *before = digest(work);
	wf_config c = cfg ? *cfg : cfg_journal();
	expect_open_fails(work, &c, want, needles);
	CHECK_SAME_DIGEST(before, work);
	free(before);
	if (!verify_needle)
		return;
	char out[8192];
	int st = run_tool(out, sizeof out, "verify '%s'", work);
	CHECK_MSG(st == 1, "wflow verify exit %d: %s", st, out);
	CHECK_CONTAINS(out, verify_needle);
}

/* ---- segment headers ------------------------------------------------------ */

static const struct {
	const char *name;
	size_t off;
	int width;
} seg_fields[] = {
	{"magic", 0, 8},          {"version", 8, 4},
	{"header size", 12, 4},   {"compat flags", 16, 8},
	{"incompat flags", 24, 8}, {"journal id", 32, 8},
	{"first seq", 40, 8},     {"prev chain", 48, 8},
	{"header checksum", 56, 8},
};

/* Set field (off, width) of work's segment i to v, fixing the header's
 * checksum (a header crafted, not damaged). */
static void craft(size_t i, size_t off, int width, uint64_t v)
{
	char p[700];
	size_t len;
	work_seg(p, sizeof p, i);
	uint8_t *b = t_read_file(p, &len);
	if (width == 4)
		wf_put_u32(b + off, (uint32_t)v);
	else
		wf_put_u64(b + off, v);
	wf_put_u64(b + 56, XXH3_64bits(b, 56));
	t_write_file(p, b, len);
	free(b);
}

static uint64_t field(size_t i, size_t off, int width)
{
	char p[700];
	size_t len;
	work_seg(p, sizeof p, i);
	uint8_t *b = t_read_file(p, &len);
	uint64_t v = width == 4 ? wf_get_u32(b + off) : wf_get_u64(b + off);
	free(b);
	return v;
}

static void segment_headers(void)
{
	size_t which[3] = {0, segs.n / 2, segs.n - 1};
	for (int k = 0; k < 3; k++) {
		size_t i = which[k];
		const char *seg = segs.name[i];
		char p[700];
		/* Damage: one bit of each field. The header checksum catches
		 * all but the magic, which is checked first. */
		for (size_t f = 0; f < sizeof seg_fields / sizeof seg_fields[0];
		     f++) {
			t_context("segment %s: a bit of its %s", seg,
			          seg_fields[f].name);
			fresh_work();
			work_seg(p, sizeof p, i);
			t_flip(p, seg_fields[f].off + 1, 0x10);
			expect_refused(NULL, WF_ECORRUPT,
			               NEEDLES(seg, "offset 0",
			                       f == 0 ? "bad magic"
			                              : "header checksum mismatch"),
			               seg);
		}
		/* Crafted: a field changed and the checksum made to match. */
		t_context("segment %s: crafted version 2", seg);
		fresh_work();
		craft(i, 8, 4, 2);
		expect_refused(NULL, WF_EINCOMPAT,
		               NEEDLES(seg, "offset 0", "format version 2 is "
		                       "newer than this wflow supports (version 1)"),
		               "version 2");
		t_context("segment %s: crafted version 0", seg);
		fresh_work();
		craft(i, 8, 4, 0);
		expect_refused(NULL, WF_ECORRUPT,
		               NEEDLES(seg, "offset 0", "out of bounds (version 0"),
		               seg);
		t_context("segment %s: crafted header size", seg);
		fresh_work();
		craft(i, 12, 4, 128);
		expect_refused(NULL, WF_ECORRUPT,
		               NEEDLES(seg, "offset 0", "header size 128"), seg);
		t_context("segment %s: crafted incompat flag", seg);
		fresh_work();
		craft(i, 24, 8, (uint64_t)1 << 40);
		expect_refused(NULL, WF_EINCOMPAT,
		               NEEDLES(seg, "offset 0", "unknown incompat flags "
		                       "0x10000000000"),
		               "incompat");
		t_context("segment %s: crafted journal id", seg);
		fresh_work();
		craft(i, 32, 8, field(i, 32, 8) ^ 1);
		/* The first segment's id is the journal's: the next one then
		 * differs. */
		expect_refused(NULL, WF_ECORRUPT,
		               NEEDLES(i ? seg : segs.name[1], "offset 0",
		                       "belongs to another journal"),
		               "another journal");
		t_context("segment %s: crafted first seq", seg);
		fresh_work();
		craft(i, 40, 8, field(i, 40, 8) + 1);
		expect_refused(NULL, WF_ECORRUPT,
		               NEEDLES(seg, "offset 0", "does not match its file "
		                       "name"),
		               seg);
		t_context("segment %s: crafted prev chain", seg);
		fresh_work();
		craft(i, 48, 8, field(i, 48, 8) ^ 1);
		/* The first segment's first frame no longer links to it; a later
		 * segment no longer chains to the one before. */
		expect_refused(NULL, WF_ECORRUPT,
		               NEEDLES(seg, "does not chain"), seg);
		/* Unknown compat flags are ignored by design (format.h). */
		t_context("segment %s: crafted compat flag (accepted)", seg);
		fresh_work();
		craft(i, 16, 8, (uint64_t)1 << 63);
		check_whole(work);
	}
	t_context("%s", "");
}

/* ---- frame headers ------------------------------------------------------- */

static size_t varint_len_at(const uint8_t *p)
{
	size_t n = 1;
	while (p[n - 1] & 0x80)
		n++;
	return n;
}

/* Every field of frame fr of segment i: a bit flipped in each must be
 * refused with the segment and the frame's offset named. */
static void damage_frame(size_t i, const t_frame *fr)
{
	const char *seg = segs.name[i];
	char p[700];
	work_seg(p, sizeof p, i);
	fresh_work();
	size_t len;
	uint8_t *b = t_read_file(p, &len);
	const uint8_t *h = b + fr->off;
	size_t comp = 13, raw = comp + varint_len_at(h + comp);
	size_t count = raw + varint_len_at(h + raw);
	size_t seq = count + varint_len_at(h + count);
	free(b);
	const struct {
		const char *name;
		uint64_t at;
	} fields[] = {
		{"sync marker", 1},
		{"checksum", 4},
		{"flags", 12},
		{"comp length", comp},
		{"raw length", raw},
		{"event count", count},
		{"first seq", seq},
		{"prev link", fr->h.hdr_len - 4},
		{"payload", fr->h.hdr_len + fr->h.comp_len / 2},
	};
	char off[32];
	snprintf(off, sizeof off, "offset %" PRIu64, fr->off);
	for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
		t_context("segment %s, frame at %" PRIu64 ": a bit of its %s", seg,
		          fr->off, fields[f].name);
		fresh_work();
		t_flip(p, fr->off + fields[f].at, 0x01);
		expect_refused(NULL, WF_ECORRUPT, NEEDLES(seg, off), seg);
	}
	t_context("%s", "");
}

static void frame_headers(void)
{
	char p[700], jdir[600];
	size_t nf;
	t_frame *f;
	/* A frame in the middle of the first segment (read by the replay). */
	t_path(jdir, sizeof jdir, base, "journal");
	t_seg_path(p, sizeof p, jdir, &segs, 0);
	f = t_frames(p, &nf);
	damage_frame(0, &f[nf / 2]);
	free(f);
	/* The second frame of the last segment (checked by the writer's
	 * open, with intact frames after it: corruption, not a torn tail). */
	t_seg_path(p, sizeof p, jdir, &segs, segs.n - 1);
	f = t_frames(p, &nf);
	damage_frame(segs.n - 1, &f[1]);
	free(f);
}

/*
 * The last frame of the last segment: a damaged last frame with nothing
 * after it looks like a write a crash tore. In recovery mode absolute the
 * engine refuses it (nothing cut); in the default mode (tolerate-tail)
 * the writer either refuses it or cuts exactly that frame (format.h,
 * README "Recovery modes"): the last workflow then lost its last commit
 * and is RESUMABLE, and every other one is whole.
 */
static void last_frame(void)
{
	char p[700], jdir[600];
	size_t nf;
	t_path(jdir, sizeof jdir, base, "journal");
	t_seg_path(p, sizeof p, jdir, &segs, segs.n - 1);
	t_frame *f = t_frames(p, &nf);
	t_frame last = f[nf - 1];
	free(f);
	const char *seg = segs.name[segs.n - 1];
	char off[32];
	snprintf(off, sizeof off, "offset %" PRIu64, last.off);

	t_context("last frame, recovery absolute");
	fresh_work();
	work_seg(p, sizeof p, segs.n - 1);
	t_flip(p, last.off + last.h.hdr_len + last.h.comp_len / 2, 0x01);
	wf_config c = cfg_journal();
	c.recovery = WF_RECOVERY_ABSOLUTE;
	expect_refused(&c, WF_ECORRUPT, NEEDLES(seg, off), NULL);
	/* wflow verify cannot know the recovery mode: a torn tail (a
	 * warning, exit 0) or damage (exit 1), at that offset. */
	char out[8192];
	int st = run_tool(out, sizeof out, "verify '%s'", work);
	CHECK_MSG(st == 0 || st == 1, "wflow verify exit %d: %s", st, out);
	CHECK_CONTAINS(out, seg);
	CHECK_CONTAINS(out, off);

	t_context("last frame, recovery tolerate-tail");
	c = cfg_journal();
	char *before = digest(work);
	wf_engine *e = NULL;
	int rc = wf_open(&e, work, &c);
	if (rc != 0) {
		CHECK_ERC(e, rc, WF_ECORRUPT);
		CHECK_CONTAINS(wf_errmsg(e), off);
		wf_close(e);
		CHECK_SAME_DIGEST(before, work);
	} else {
		for (int i = 0; i < base_wfs; i++) {
			char id[32];
			snprintf(id, sizeof id, "w%d", i);
			CHECK_STATUS(e, id, i + 1 < base_wfs ? WF_STATUS_SUCCESSFUL
			                                     : WF_STATUS_RESUMABLE);
		}
		e_close(e);
	}
	free(before);
	t_context("%s", "");
}

/* ---- files that are not journals ------------------------------------------ */

static void not_a_journal(void)
{
	char dir[512], p[700], out[8192];
	size_t len;

	t_context("a file given as the engine's directory");
	t_subdir(dir, sizeof dir, "a_file");
	t_write_file(dir, "not a directory\n", 16);
	wf_config c = cfg_journal();
	expect_open_fails(dir, &c, WF_EINVAL,
	                  NEEDLES(dir, "is not a directory"));
	uint8_t *b = t_read_file(dir, &len);
	CHECK(len == 16 && memcmp(b, "not a directory\n", 16) == 0);
	free(b);

	t_context("a file where the journal's directory should be");
	t_subdir(dir, sizeof dir, "journal_file");
	CHECK(mkdir(dir, 0755) == 0);
	t_path(p, sizeof p, dir, "journal");
	t_write_file(p, "x", 1);
	expect_open_fails(dir, &c, WF_EINVAL, NEEDLES(p, "is not a directory"));
	CHECK_EQ_U64(t_file_size(p), 1);

	static const struct {
		const char *what, *content, *needle;
		int rc;
	} fakes[] = {
		{"a text file named as a segment",
		 "Dear diary, today I was named 00000000000000000001.wfj. It is a "
		 "long story.\n", "bad magic", WF_ECORRUPT},
		{"a short file named as a segment", "WFLOWJNL",
		 "shorter than its header", WF_ECORRUPT},
		{"a directory named as a segment", NULL, "Is a directory",
		 WF_EIO},
	};
	for (size_t i = 0; i < sizeof fakes / sizeof fakes[0]; i++) {
		char name[64];
		t_context("%s", fakes[i].what);
		snprintf(name, sizeof name, "fake_%zu", i);
		t_subdir(dir, sizeof dir, name);
		CHECK(mkdir(dir, 0755) == 0);
		char jd[700];
		t_path(jd, sizeof jd, dir, "journal");
		CHECK(mkdir(jd, 0755) == 0);
		t_path(p, sizeof p, jd, "00000000000000000001.wfj");
		if (fakes[i].content)
			t_write_file(p, fakes[i].content, strlen(fakes[i].content));
		else
			CHECK(mkdir(p, 0755) == 0);
		char *before = digest(dir);
		expect_open_fails(dir, &c, fakes[i].rc,
		                  NEEDLES("00000000000000000001.wfj",
		                          fakes[i].needle));
		CHECK_SAME_DIGEST(before, dir);
		free(before);
		int st = run_tool(out, sizeof out, "verify '%s'", dir);
		CHECK_MSG(st == 1 || (st == 2 && !fakes[i].content),
		          "wflow verify exit %d: %s", st, out);
		CHECK_CONTAINS(out, "00000000000000000001.wfj");
	}

	t_context("files that are not the journal's, next to it");
	fresh_work();
	t_path(p, sizeof p, work, "README.txt");
	t_write_file(p, "notes", 5);
	t_path(p, sizeof p, work, "journal/notes.txt");
	t_write_file(p, "notes", 5);
	t_path(p, sizeof p, work, "journal/00000000000000000001.wfj.bak");
	t_write_file(p, "backup", 6);
	t_path(p, sizeof p, work, "journal/subdir");
	CHECK(mkdir(p, 0755) == 0);
	check_whole(work);
	t_path(p, sizeof p, work, "journal/00000000000000000001.wfj.bak");
	CHECK_EQ_U64(t_file_size(p), 6);
	t_path(p, sizeof p, work, "README.txt");
	CHECK_EQ_U64(t_file_size(p), 5);
	t_context("%s", "");
}

/* ---- a directory without write permission ------------------------------- */

/* Make this thread's file accesses those of uid/gid 65534 if root; 0 if
 * that did not take (then the checks are skipped). */
static int become_nobody(const char *probe)
{
	if (geteuid() != 0)
		return 1;
	setfsgid(65534);
	setfsuid(65534);
	/* Did it take? A root-owned file of mode 0444 must not open for
	 * writing now. */
	int fd = open(probe, O_WRONLY);
	if (fd >= 0) {
		close(fd);
		setfsuid(0);
		setfsgid(0);
		return 0;
	}
	return errno == EACCES;
}

static void become_root_again(void)
{
	if (geteuid() == 0) {
		setfsuid(0);
		setfsgid(0);
	}
}

static void chmod_tree(const char *dir, mode_t dmode, mode_t fmode)
{
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	struct dirent *de;
	while ((de = readdir(d))) {
		char p[700];
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		t_path(p, sizeof p, dir, de->d_name);
		CHECK(lstat(p, &st) == 0);
		if (S_ISDIR(st.st_mode))
			chmod_tree(p, dmode, fmode);
		else
			CHECK(chmod(p, fmode) == 0);
	}
	closedir(d);
	CHECK(chmod(dir, dmode) == 0);
}

static void read_only(void)
{
	char probe[512], parent[512], dir[700];
	t_subdir(probe, sizeof probe, "probe");
	t_write_file(probe, "x", 1);
	CHECK(chmod(probe, 0444) == 0);
	CHECK(chmod(t_tmproot(), 0755) == 0);

	/* An engine directory with its journal, all read-only. */
	fresh_work();
	chmod_tree(work, 0555, 0444);
	char *before = digest(work);
	/* A new engine in a directory it cannot write. */
	t_subdir(parent, sizeof parent, "ro_parent");
	CHECK(mkdir(parent, 0555) == 0);
	t_path(dir, sizeof dir, parent, "engine");

	if (!become_nobody(probe)) {
		printf("hostile: read-only checks skipped (cannot drop root's "
		       "permission override in this sandbox)\n");
		chmod_tree(work, 0755, 0644);
		free(before);
		return;
	}
	t_context("an existing engine directory without write permission");
	wf_config c = cfg_journal();
	wf_engine *e = NULL;
	int rc = wf_open(&e, work, &c);
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", wf_errmsg(e));
	wf_close(e);
	t_context("a new engine in a directory without write permission");
	wf_engine *e2 = NULL;
	int rc2 = wf_open(&e2, dir, &c);
	char msg2[1024];
	snprintf(msg2, sizeof msg2, "%s", wf_errmsg(e2));
	wf_close(e2);
	become_root_again();

	t_context("an existing engine directory without write permission");
	CHECK_MSG(rc == WF_EIO, "wf_open: %d (%s): %s", rc, wf_strerror(rc),
	          msg);
	CHECK_CONTAINS(msg, work);
	CHECK_CONTAINS(msg, "Permission denied");
	CHECK_SAME_DIGEST(before, work);
	free(before);
	t_context("a new engine in a directory without write permission");
	CHECK_MSG(rc2 == WF_EIO, "wf_open: %d (%s): %s", rc2, wf_strerror(rc2),
	          msg2);
	CHECK_CONTAINS(msg2, dir);
	CHECK_CONTAINS(msg2, "Permission denied");
	CHECK(!t_exists(dir));
	/* With permission back, everything is there. */
	chmod_tree(work, 0755, 0644);
	check_whole(work);
	t_context("%s", "");
}

/* ---- two engines on one directory ----------------------------------------- */

static void two_engines(void)
{
	t_context("two engines on one directory");
	fresh_work();
	wf_config c = cfg_journal();
	wf_engine *e1 = NULL;
	CHECK_E(e1, wf_open(&e1, work, &c));
	add = e_define(e1, "add", e_step_add, &add_probe, NULL);
	char jdir[600], alias[700];
	t_path(jdir, sizeof jdir, work, "journal");
	char *before = digest(work);
	expect_open_fails(work, &c, WF_EBUSY, NEEDLES(jdir, "locked"));
	snprintf(alias, sizeof alias, "%s/./", work);
	expect_open_fails(alias, &c, WF_EBUSY, NEEDLES("locked"));
	/* From another process. */
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		wf_engine *e2 = NULL;
		int rc = wf_open(&e2, work, &c);
		int ok = rc == WF_EBUSY && t_contains(wf_errmsg(e2), "locked");
		wf_close(e2);
		_exit(ok ? 0 : 1);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "the other process was not refused (status %d)", st);
	CHECK_SAME_DIGEST(before, work);
	free(before);
	/* The first engine was not disturbed; once it is closed, the
	 * directory is free. */
	good_run(e1);
	e_close(e1);
	check_whole(work);
	t_context("%s", "");
}

/* ---- the wflow tool pointed at a file -------------------------------------- */

static void tool_on_a_file(void)
{
	char file[512], seg[700], empty[512], out[8192];
	t_subdir(file, sizeof file, "plain.txt");
	t_write_file(file, "hello\n", 6);
	fresh_work();
	work_seg(seg, sizeof seg, 0);
	t_subdir(empty, sizeof empty, "empty_dir");
	CHECK(mkdir(empty, 0755) == 0);
	static const char *const cmds[] = {
		"ls '%s'",          "meta '%s' w0",     "history '%s' w0",
		"dump '%s'",        "stats '%s'",       "verify '%s'",
		"trace '%s' -o -",  "report '%s' -o -", "verify --json '%s'",
	};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		const char *paths[] = {file, seg};
		for (int k = 0; k < 2; k++) {
			char args[1024];
			snprintf(args, sizeof args, cmds[i], paths[k]);
			t_context("wflow %s", args);
			int st = run_tool(out, sizeof out, "%s", args);
			CHECK_MSG(st == 2, "exit %d: %s", st, out);
			CHECK_CONTAINS(out, "not a directory");
			CHECK_CONTAINS(out, paths[k]);
		}
		/* A directory without a journal: damaged or not found, 1. */
		char args[1024];
		snprintf(args, sizeof args, cmds[i], empty);
		t_context("wflow %s", args);
		int st = run_tool(out, sizeof out, "%s", args);
		CHECK_MSG(st == 1, "exit %d: %s", st, out);
		CHECK_CONTAINS(out, "no journal here");
	}
	/* The tool read nothing it could change. */
	uint8_t *b;
	size_t len;
	b = t_read_file(file, &len);
	CHECK(len == 6 && memcmp(b, "hello\n", 6) == 0);
	free(b);
	t_context("%s", "");
}

/* ---- JSON nested 100,000 deep inside a journal ------------------------------ */

/* JSON text: DEEP objects {"k": ...} around v (caller frees). */
static char *deep_text(const char *v)
{
	size_t n = strlen(v), len = DEEP * 6 + n + DEEP + 1;
	char *t = malloc(len), *p = t;
	for (int i = 0; i < DEEP; i++) {
		memcpy(p, "{\"k\":", 5);
		p += 5;
	}
	memcpy(p, v, n);
	p += n;
	memset(p, '}', DEEP);
	p[DEEP] = 0;
	return t;
}

static wf_event ev_make(uint16_t type, int64_t t)
{
	wf_event ev;
	memset(&ev, 0, sizeof ev);
	ev.type = type;
	ev.time_ns = t;
	return ev;
}

static void ev_s(wf_event *ev, const char *s)
{
	ev->fields[ev->nfields++] = wf_field_text(s, strlen(s));
}

static void ev_j(wf_event *ev, const char *s)
{
	ev->fields[ev->nfields++] = wf_field_json(s, strlen(s));
}

/* A journal for dir: a session, then evs, one commit each. */
static void write_journal(const char *dir, wf_event *evs, int n)
{
	char j[600];
	CHECK(mkdir(dir, 0755) == 0);
	t_path(j, sizeof j, dir, "journal");
	wf_journal_opts o;
	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	wf_journal *jr = t_open_writer(j, &o);
	wf_batch *b;
	CHECK_OK(wf_batch_new(&b));
	wf_event s = ev_make(WF_EV_SESSION_STARTED, 1000);
	ev_s(&s, "s-crafted");
	s.fields[s.nfields++] = wf_field_u(1);
	ev_s(&s, "host");
	CHECK_OK(wf_batch_add(b, &s));
	CHECK_OK_MSG(wf_journal_commit(jr, b, NULL), wf_journal_errmsg(jr));
	for (int i = 0; i < n; i++) {
		CHECK_OK(wf_batch_add(b, &evs[i]));
		CHECK_OK_MSG(wf_journal_commit(jr, b, NULL), wf_journal_errmsg(jr));
	}
	wf_batch_free(b);
	CHECK_OK(wf_journal_close(jr));
}

/* Run the tool; its output (all of it) in *out (caller frees). */
static int run_tool_all(char **out, const char *fmt, ...) T_PRINTF(2, 3);
static int run_tool_all(char **out, const char *fmt, ...)
{
	char args[2048], cmd[3000], log[600], small[16];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	int st = run_tool(small, sizeof small, "%s", args);
	t_subdir(log, sizeof log, "tool.out");
	size_t len;
	uint8_t *b = t_read_file(log, &len);
	*out = realloc(b, len + 1);
	(*out)[len] = 0;
	(void)cmd;
	return st;
}

/*
 * A crafted journal (here: events carrying JSON nested 100,000 deep): the
 * engine's open (replay, the fold's DAG scanner, the actor state's JSON
 * Patch) refuses it or reads past it without a stack overflow, and the
 * tools (dump, verify, ls, meta) run to their end: dump's lines are all
 * JSON, verify reports the field.
 */
static void crafted_case(const char *name, wf_event *evs, int n,
                      const char *open_needle, int deep_field)
{
	char dir[512];
	t_context("deep JSON in a journal: %s", name);
	t_subdir(dir, sizeof dir, name);
	write_journal(dir, evs, n);
	char *before = digest(dir);
	wf_config c = cfg_none();
	c.no_snapshots = 1;
	wf_engine *e = NULL;
	int rc = wf_open(&e, dir, &c);
	if (open_needle) {
		CHECK_ERC(e, rc, WF_ECORRUPT);
		CHECK_CONTAINS(wf_errmsg(e), open_needle);
		wf_close(e);
		CHECK_SAME_DIGEST(before, dir);
	} else {
		CHECK_E(e, rc);
		cJSON *l = e_list_ids(e, WF_STATUS_ALL), *it;
		cJSON_ArrayForEach(it, l)
		{
			cJSON *m = e_meta(e, it->valuestring, NULL);
			cJSON_Delete(m);
		}
		cJSON_Delete(l);
		e_close(e);
	}
	free(before);
	char *out;
	int st = run_tool_all(&out, "dump '%s'", dir);
	CHECK_MSG(st == 0 || st == 1, "wflow dump exit %d", st);
	for (char *line = out, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		CHECK(nl != NULL);
		CHECK_MSG(wf_json_valid(line, (size_t)(nl - line)),
		          "a dump line is not JSON: %.200s", line);
	}
	free(out);
	/* A field nested deeper than cJSON reads is damage to verify; a
	 * patch that does not apply is not its business (nothing but the
	 * fold applies patches). */
	st = run_tool_all(&out, "verify '%s'", dir);
	CHECK_MSG(st == (deep_field ? 1 : 0), "wflow verify exit %d: %.300s",
	          st, out);
	if (deep_field)
		CHECK_CONTAINS(out, "JSON field does not parse");
	free(out);
	static const char *const others[] = {"ls '%s'", "ls --json '%s'",
	                                     "stats '%s'", "history '%s' x",
	                                     "meta '%s' x"};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		char args[700];
		snprintf(args, sizeof args, others[i], dir);
		st = run_tool_all(&out, "%s", args);
		CHECK_MSG(st == 0 || st == 1, "wflow %s exit %d: %.300s", args, st,
		          out);
		free(out);
	}
	t_context("%s", "");
}

static void deep_journal(void)
{
	static const char *dag =
	    "{\"steps\": [{\"id\": \"add\", \"name\": \"add\", \"args\": []}], "
	    "\"output\": \"add\"}";
	char *deep = deep_text("1");
	wf_event ev[4];

	/* Metadata: the fold keeps it as text; get_metadata falls back. */
	ev[0] = ev_make(WF_EV_WORKFLOW_CREATED, 2000);
	ev_s(&ev[0], "deep_md");
	ev_j(&ev[0], deep);
	ev_j(&ev[0], dag);
	crafted_case("deep_metadata", ev, 1, NULL, 1);

	/* An argument inside a DAG: the fold's scanner gives up. */
	size_t n = strlen(deep) + 200;
	char *deep_dag = malloc(n);
	snprintf(deep_dag, n, "{\"steps\": [{\"id\": \"add\", \"name\": "
	         "\"add\", \"args\": [{\"value\": %s}]}], \"output\": \"add\"}",
	         deep);
	ev[0] = ev_make(WF_EV_WORKFLOW_CREATED, 2000);
	ev_s(&ev[0], "deep_dag");
	ev_j(&ev[0], "{}");
	ev_j(&ev[0], deep_dag);
	crafted_case("deep_dag", ev, 1, "DAG is not valid JSON", 1);

	/* An actor's state. */
	ev[0] = ev_make(WF_EV_ACTOR_CREATED, 2000);
	ev_s(&ev[0], "deep_actor");
	ev_s(&ev[0], "Obj");
	ev_j(&ev[0], deep);
	crafted_case("deep_actor_state", ev, 1, "state is not JSON", 1);

	/* A state patch: a deep value, then a path 100,000 members deep. */
	char *patch = malloc(n);
	snprintf(patch, n, "[{\"op\": \"replace\", \"path\": \"\", \"value\": "
	         "%s}]", deep);
	static const char *call_dag =
	    "{\"steps\": [{\"id\": \"poison\", \"fn\": \"Obj.poison\", "
	    "\"name\": \"poison\", \"args\": []}], \"output\": \"poison\"}";
	ev[0] = ev_make(WF_EV_ACTOR_CREATED, 2000);
	ev_s(&ev[0], "a");
	ev_s(&ev[0], "Obj");
	ev_j(&ev[0], "{}");
	ev[1] = ev_make(WF_EV_ACTOR_CALL, 2001);
	ev_s(&ev[1], "a");
	ev_j(&ev[1], call_dag);
	ev[2] = ev_make(WF_EV_STEP_STARTED, 2002);
	ev_s(&ev[2], "a");
	ev_s(&ev[2], "poison");
	ev[2].fields[ev[2].nfields++] = wf_field_u(1);
	ev[3] = ev_make(WF_EV_ACTOR_STATE, 2003);
	ev_s(&ev[3], "a");
	ev_s(&ev[3], "poison");
	ev_j(&ev[3], patch);
	crafted_case("deep_patch_value", ev, 4, "state patch is not JSON", 1);
	char *path = malloc(2 * DEEP + 100), *p = path;
	p += sprintf(p, "[{\"op\": \"add\", \"path\": \"");
	for (int i = 0; i < DEEP; i++)
		p += sprintf(p, "/k");
	sprintf(p, "\", \"value\": 1}]");
	ev[3].nfields = 2;
	ev_j(&ev[3], path);
	crafted_case("deep_patch_path", ev, 4, "no such member", 0);
	free(path);
	free(patch);
	free(deep_dag);
	free(deep);

	/* Not deep, but crafted: a DAG step with "args" twice (the engine
	 * never writes one; the fold read the second into an array sized for
	 * the first, found by fuzz_event). The last one counts. */
	static const char *twice =
	    "{\"steps\": [{\"id\": \"add\", \"name\": \"add\", \"args\": "
	    "[{\"value\": 1}, {\"value\": 2}, {\"value\": 3}], \"args\": "
	    "[{\"value\": 4}, {\"step\": \"x\"}]}], \"output\": \"add\"}";
	ev[0] = ev_make(WF_EV_WORKFLOW_CREATED, 2000);
	ev_s(&ev[0], "twice");
	ev_j(&ev[0], "{}");
	ev_j(&ev[0], twice);
	ev[1] = ev_make(WF_EV_ATTEMPT_STARTED, 2001);
	ev_s(&ev[1], "twice");
	ev[1].fields[ev[1].nfields++] = wf_field_u(1);
	ev_s(&ev[1], "run");
	ev_s(&ev[1], "s-crafted");
	ev[2] = ev_make(WF_EV_STATUS_CHANGED, 2002);
	ev_s(&ev[2], "twice");
	ev_s(&ev[2], "RUNNING");
	ev_s(&ev[2], "run");
	ev[3] = ev_make(WF_EV_STATUS_CHANGED, 2003);
	ev_s(&ev[3], "twice");
	ev_s(&ev[3], "FAILED");
	ev_s(&ev[3], "step failed");
	crafted_case("dag_args_twice", ev, 4, NULL, 0);
}

/* ---- main -------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_hostile WFLOW_TOOL\n");
		return 2;
	}
	tool = argv[1];
	char dir[512];
	wf_engine *e = e_fresh(dir, "live", WF_SYNC_NONE);
	define_all(e);
	ids(e, dir);
	non_finite(e, dir);
	deep_values(e, dir);
	metadata_limit(e, dir);
	e_close(e);
	/* What was accepted reads back; what was refused is not there. */
	e = e_open(dir, WF_SYNC_NONE);
	define_all(e);
	CHECK_STATUS(e, "ab", WF_STATUS_SUCCESSFUL);
	CHECK_STATUS(e, "out_nan", WF_STATUS_FAILED);
	CHECK_EQ_I64(e_status(e, "md_refused"), WF_STATUS_NONE);
	cJSON *out = NULL;
	CHECK_E(e, wf_get_output(e, "out_512", &out));
	CHECK_EQ_I64(depth_of(out), 512);
	cJSON_Delete(out);
	good_run(e);
	e_close(e);
	char msg[8192];
	int st = run_tool(msg, sizeof msg, "verify '%s'", dir);
	CHECK_MSG(st == 0, "wflow verify exit %d: %s", st, msg);

	make_base();
	segment_headers();
	frame_headers();
	last_frame();
	not_a_journal();
	read_only();
	two_engines();
	tool_on_a_file();
	deep_journal();
	/* The base journal was only ever copied: whole. */
	check_whole(base);
	printf("hostile: %d good runs between the refusals; %zu segments "
	       "damaged field by field\n", good_runs, segs.n);
	return 0;
}
