/*
 * Helpers shared by the engine tests (tests/test_engine_*.c), on top of
 * test.h: open an engine in a scratch directory, build nodes from JSON
 * argument lists, read numbers and keys out of get_metadata's JSON, check
 * statuses (get_status and get_metadata's "status" together), compare JSON
 * exactly, wait for flags that steps raise, and a few common steps (add,
 * a blocking step, a counting step).
 *
 * Every helper fails the test (file:line of the caller, and the engine's
 * message) instead of returning an error, so the tests read like the seed's
 * Python.
 */
#ifndef WF_ENGINE_UTIL_H
#define WF_ENGINE_UTIL_H

#include <math.h>
#include <stdatomic.h>

#include "test.h"

/*
 * How long a test waits for something a step should do at once: 20 s,
 * times WFLOW_TEST_WAIT (a factor; .ci/valgrind sets 10, since everything
 * runs some 20-50 times slower under valgrind).
 */
static inline double e_wait_s(void)
{
	const char *s = getenv("WFLOW_TEST_WAIT");
	double k = s ? atof(s) : 1.0;
	return 20.0 * (k >= 1.0 ? k : 1.0);
}
#define E_WAIT_S (e_wait_s())

/* ---- time ----------------------------------------------------------------- */

static inline double e_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double e_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void e_sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- engines ----------------------------------------------------------- */

static inline wf_engine *e_open_at(const char *file, int line, const char *dir,
                                   int durability)
{
	wf_config cfg = WF_CONFIG_INIT;
	wf_engine *e = NULL;
	cfg.durability = durability;
	int rc = wf_open(&e, dir, &cfg);
	if (rc != 0) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", e ? wf_errmsg(e) : "(no handle)");
		wf_close(e);
		t_fail(file, line, "wf_open(%s): %d (%s): %s", dir, rc,
		       wf_strerror(rc), msg);
	}
	if (!e)
		t_fail(file, line, "wf_open(%s) returned 0 and no engine", dir);
	return e;
}
/* Open (or reopen) the engine on dir. */
#define e_open(dir, durability) e_open_at(__FILE__, __LINE__, dir, durability)

/* A new directory <scratch>/<name> (its path in dir) and an engine on it. */
static inline wf_engine *e_fresh_at(const char *file, int line, char *dir,
                                    size_t n, const char *name, int durability)
{
	t_subdir(dir, n, name);
	if (t_exists(dir))
		t_fail(file, line, "%s exists already", dir);
	return e_open_at(file, line, dir, durability);
}
#define e_fresh(dir, name, durability)                                        \
	e_fresh_at(__FILE__, __LINE__, dir, sizeof(dir), name, durability)

#define e_close(e) CHECK_OK(wf_close(e))

/* CHECK_OK with the engine's message. */
#define CHECK_E(e, rc) CHECK_OK_MSG(rc, wf_errmsg(e))

/* CHECK_RC with the engine's message on a mismatch. */
#define CHECK_ERC(e, rc, want)                                                \
	do {                                                                      \
		int t_r_ = (rc), t_w_ = (want);                                       \
		if (t_r_ != t_w_)                                                     \
			t_fail(__FILE__, __LINE__,                                        \
			       "%s: got %d (%s), expected %d (%s); errmsg: %s", #rc,     \
			       t_r_, wf_strerror(t_r_), t_w_, wf_strerror(t_w_),         \
			       wf_errmsg(e));                                             \
	} while (0)

/* ---- JSON ---------------------------------------------------------------- */

static inline cJSON *e_json_at(const char *file, int line, const char *text)
{
	cJSON *j = cJSON_Parse(text);
	if (!j)
		t_fail(file, line, "bad JSON in the test: %s", text);
	return j;
}
#define e_json(text) e_json_at(__FILE__, __LINE__, text)

/* A JSON value as compact text (static buffer per call site is not needed:
 * the caller frees). Never NULL. */
static inline char *e_text(const cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	return s ? s : strdup("(null)");
}

/* got must equal the JSON text want exactly (cJSON_Compare, case-sensitive:
 * same keys, same values, arrays in the same order). */
static inline void e_check_json_at(const char *file, int line,
                                   const char *what, const cJSON *got,
                                   const char *want)
{
	cJSON *w = e_json_at(file, line, want);
	if (!got || !cJSON_Compare(got, w, 1)) {
		char *g = e_text(got);
		t_fail(file, line, "%s = %s, expected %s", what, g, want);
	}
	cJSON_Delete(w);
}
#define CHECK_JSON(got, want) e_check_json_at(__FILE__, __LINE__, #got, got, want)

/* a and b must be equal JSON values. */
#define CHECK_JSON_SAME(a, b)                                                 \
	do {                                                                      \
		const cJSON *t_a_ = (a), *t_b_ = (b);                                 \
		if (!t_a_ || !t_b_ || !cJSON_Compare(t_a_, t_b_, 1)) {                \
			char *t_sa_ = e_text(t_a_), *t_sb_ = e_text(t_b_);                \
			t_fail(__FILE__, __LINE__, "%s != %s:\n  %s\n  %s", #a, #b,       \
			       t_sa_, t_sb_);                                             \
		}                                                                     \
	} while (0)

/* The value at a dotted path ("stats.start_time"), or NULL. */
static inline cJSON *e_get(const cJSON *obj, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	const cJSON *cur = obj;
	char *save = NULL;
	for (char *k = strtok_r(buf, ".", &save); k && cur;
	     k = strtok_r(NULL, ".", &save))
		cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, k)
		                          : NULL;
	return (cJSON *)cur;
}

#define e_has(obj, path) (e_get(obj, path) != NULL)

static inline double e_num_at(const char *file, int line, const cJSON *obj,
                              const char *path)
{
	const cJSON *v = e_get(obj, path);
	if (!v || !cJSON_IsNumber(v)) {
		char *s = e_text(obj);
		t_fail(file, line, "\"%s\" is %s in %s", path,
		       v ? "not a number" : "missing", s);
	}
	return v->valuedouble;
}
/* The number at path; fails the test if it is missing or not a number. */
#define e_num(obj, path) e_num_at(__FILE__, __LINE__, obj, path)

static inline const char *e_str_at(const char *file, int line,
                                   const cJSON *obj, const char *path)
{
	const cJSON *v = e_get(obj, path);
	if (!v || !cJSON_IsString(v)) {
		char *s = e_text(obj);
		t_fail(file, line, "\"%s\" is %s in %s", path,
		       v ? "not a string" : "missing", s);
	}
	return v->valuestring;
}
#define e_str(obj, path) e_str_at(__FILE__, __LINE__, obj, path)

/* Size of the array at path; fails if it is not an array. */
static inline int e_array_len_at(const char *file, int line, const cJSON *obj,
                                 const char *path)
{
	const cJSON *v = e_get(obj, path);
	if (!v || !cJSON_IsArray(v)) {
		char *s = e_text(obj);
		t_fail(file, line, "\"%s\" is %s in %s", path,
		       v ? "not an array" : "missing", s);
	}
	return cJSON_GetArraySize(v);
}
#define e_array_len(obj, path) e_array_len_at(__FILE__, __LINE__, obj, path)

#define CHECK_HAS(obj, path)                                                  \
	do {                                                                      \
		if (!e_has(obj, path)) {                                              \
			char *t_s_ = e_text(obj);                                         \
			t_fail(__FILE__, __LINE__, "\"%s\" missing in %s: %s", path,     \
			       #obj, t_s_);                                               \
		}                                                                     \
	} while (0)

#define CHECK_HAS_NOT(obj, path)                                              \
	do {                                                                      \
		if (e_has(obj, path)) {                                               \
			char *t_s_ = e_text(obj);                                         \
			t_fail(__FILE__, __LINE__, "\"%s\" present in %s: %s", path,     \
			       #obj, t_s_);                                               \
		}                                                                     \
	} while (0)

/* Does the JSON text of v contain needle (case-insensitive)? */
static inline int e_json_contains(const cJSON *v, const char *needle)
{
	char *s = e_text(v);
	int r = t_contains(s, needle);
	free(s);
	return r;
}

/* Every key of obj must be one of the NULL-terminated list allowed. */
static inline void e_check_keys_at(const char *file, int line,
                                   const cJSON *obj, const char *const *allowed)
{
	const cJSON *it;
	if (!cJSON_IsObject(obj))
		t_fail(file, line, "not an object");
	cJSON_ArrayForEach(it, obj)
	{
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, it->string) == 0)
				ok = 1;
		if (!ok) {
			char *s = e_text(obj);
			t_fail(file, line, "unexpected key \"%s\" in %s", it->string, s);
		}
	}
}
#define e_check_keys(obj, ...)                                                \
	e_check_keys_at(__FILE__, __LINE__, obj,                                  \
	                (const char *const[]){__VA_ARGS__, NULL})

/* ---- reading state ------------------------------------------------------ */

static inline cJSON *e_meta_at(const char *file, int line, wf_engine *e,
                               const char *id, const char *step)
{
	cJSON *m = NULL;
	int rc = wf_get_metadata(e, id, step, &m);
	if (rc != 0 || !m)
		t_fail(file, line, "wf_get_metadata(%s, %s): %d (%s): %s", id,
		       step ? step : "NULL", rc, wf_strerror(rc), wf_errmsg(e));
	return m;
}
/* get_metadata(id, step) (step NULL: the workflow); the caller frees. */
#define e_meta(e, id, step) e_meta_at(__FILE__, __LINE__, e, id, step)

/* The status as wf_get_status reports it; WF_STATUS_NONE on ENOTFOUND. */
static inline wf_status e_status_at(const char *file, int line, wf_engine *e,
                                    const char *id)
{
	wf_status s = WF_STATUS_NONE;
	int rc = wf_get_status(e, id, &s);
	if (rc == WF_ENOTFOUND)
		return WF_STATUS_NONE;
	if (rc != 0)
		t_fail(file, line, "wf_get_status(%s): %d (%s): %s", id, rc,
		       wf_strerror(rc), wf_errmsg(e));
	if (s == WF_STATUS_NONE)
		t_fail(file, line, "wf_get_status(%s) returned 0 and status NONE",
		       id);
	return s;
}
#define e_status(e, id) e_status_at(__FILE__, __LINE__, e, id)

/* Both wf_get_status and get_metadata's "status" must say want. */
static inline void e_check_status_at(const char *file, int line, wf_engine *e,
                                     const char *id, wf_status want)
{
	wf_status s = e_status_at(file, line, e, id);
	if (s != want)
		t_fail(file, line, "wf_get_status(%s) = %s, expected %s", id,
		       wf_status_name(s), wf_status_name(want));
	cJSON *m = e_meta_at(file, line, e, id, NULL);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(m, "status");
	if (!cJSON_IsString(st) || strcmp(st->valuestring, wf_status_name(want)))
		t_fail(file, line,
		       "get_metadata(%s)[\"status\"] = %s, expected \"%s\" (as "
		       "wf_get_status says)",
		       id, cJSON_IsString(st) ? st->valuestring : "(not a string)",
		       wf_status_name(want));
	cJSON_Delete(m);
}
#define CHECK_STATUS(e, id, want) e_check_status_at(__FILE__, __LINE__, e, id, want)

/* The workflow ids of wf_list_all(mask), as a JSON array of strings, in the
 * order listed; each entry's "status" is checked against the mask. */
static inline cJSON *e_list_ids_at(const char *file, int line, wf_engine *e,
                                   unsigned mask)
{
	cJSON *l = NULL, *it, *ids = cJSON_CreateArray();
	int rc = wf_list_all(e, mask, &l);
	if (rc != 0 || !cJSON_IsArray(l))
		t_fail(file, line, "wf_list_all(0x%x): %d (%s): %s", mask, rc,
		       wf_strerror(rc), wf_errmsg(e));
	cJSON_ArrayForEach(it, l)
	{
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "workflow_id");
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "status");
		if (!cJSON_IsString(id) || !cJSON_IsString(st)) {
			char *s = e_text(it);
			t_fail(file, line, "wf_list_all entry %s", s);
		}
		int ok = 0;
		for (int k = 1; k <= WF_STATUS_SUCCESSFUL; k++)
			if (strcmp(st->valuestring, wf_status_name((wf_status)k)) == 0)
				ok = (mask & WF_STATUS_BIT(k)) != 0;
		if (!ok)
			t_fail(file, line, "wf_list_all(0x%x) lists %s with status %s",
			       mask, id->valuestring, st->valuestring);
		cJSON_AddItemToArray(ids, cJSON_CreateString(id->valuestring));
	}
	cJSON_Delete(l);
	return ids;
}
#define e_list_ids(e, mask) e_list_ids_at(__FILE__, __LINE__, e, mask)

/* ---- building DAGs -------------------------------------------------------- */

static inline wf_step *e_define_at(const char *file, int line, wf_engine *e,
                                   const char *name, wf_step_fn fn,
                                   void *udata, const wf_step_options *o)
{
	wf_step *s = NULL;
	int rc = wf_step_define(e, name, fn, udata, o, &s);
	if (rc != 0 || !s)
		t_fail(file, line, "wf_step_define(%s): %d (%s): %s", name, rc,
		       wf_strerror(rc), wf_errmsg(e));
	return s;
}
#define e_define(e, name, fn, udata, o)                                       \
	e_define_at(__FILE__, __LINE__, e, name, fn, udata, o)

/* A call of s with options o (NULL: the step's defaults) and the elements
 * of the JSON array args_json (e.g. "[10, 20]"; NULL: none) as arguments. */
static inline wf_node *e_node_at(const char *file, int line, wf_step *s,
                                 const wf_step_options *o,
                                 const char *args_json)
{
	wf_node *n = NULL;
	int rc = wf_node_new(&n, s, o);
	if (rc != 0 || !n)
		t_fail(file, line, "wf_node_new: %d (%s)", rc, wf_strerror(rc));
	if (args_json) {
		cJSON *a = e_json_at(file, line, args_json), *it;
		if (!cJSON_IsArray(a))
			t_fail(file, line, "arguments must be a JSON array: %s",
			       args_json);
		cJSON_ArrayForEach(it, a)
		{
			rc = wf_node_arg(n, it);
			if (rc != 0)
				t_fail(file, line, "wf_node_arg: %d (%s)", rc,
				       wf_strerror(rc));
		}
		cJSON_Delete(a);
	}
	return n;
}
#define e_node(s, o, args_json) e_node_at(__FILE__, __LINE__, s, o, args_json)

/* Append child's output as the next argument of n. */
#define e_arg_node(n, child) CHECK_OK(wf_node_arg_node(n, child))

/* Step options with a name and (JSON text, or NULL) metadata; the metadata
 * object is kept in *md for the caller to free after use. */
static inline wf_step_options e_opts_at(const char *file, int line,
                                        const char *name, const char *md_json,
                                        cJSON **md)
{
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.name = name;
	*md = md_json ? e_json_at(file, line, md_json) : NULL;
	o.metadata = *md;
	return o;
}
#define e_opts(name, md_json, md) e_opts_at(__FILE__, __LINE__, name, md_json, md)

/* ---- waiting -------------------------------------------------------------- */

/* Wait until *flag >= want; fail after E_WAIT_S seconds, saying what. */
static inline void e_wait_flag_at(const char *file, int line,
                                  atomic_int *flag, int want, const char *what)
{
	double end = e_mono() + E_WAIT_S;
	while (atomic_load(flag) < want) {
		if (e_mono() > end)
			t_fail(file, line, "waited %.0f s for %s (%d < %d)", E_WAIT_S,
			       what, atomic_load(flag), want);
		e_sleep_ms(1);
	}
}
#define e_wait_flag(flag, want, what)                                         \
	e_wait_flag_at(__FILE__, __LINE__, flag, want, what)

/* ---- common steps ---------------------------------------------------------- */

/* Calls of a step, and whether they returned: a step's udata. */
typedef struct e_probe {
	atomic_int calls;    /* entered */
	atomic_int returned; /* left */
	atomic_int fail;     /* while non-zero, the step fails */
	atomic_int sleep_rc; /* what wf_ctx_sleep returned last */
} e_probe;

static inline void e_probe_reset(e_probe *p)
{
	atomic_store(&p->calls, 0);
	atomic_store(&p->returned, 0);
	atomic_store(&p->fail, 0);
	atomic_store(&p->sleep_rc, 1);
}

/* The sum of the numeric arguments ("add", any arity). udata: an e_probe
 * or NULL; if its fail flag is set the step fails with "add failed". */
static inline int e_step_add(wf_ctx *ctx, const cJSON *args, void *udata,
                             cJSON **out)
{
	e_probe *p = udata;
	const cJSON *it;
	double sum = 0;
	if (p)
		atomic_fetch_add(&p->calls, 1);
	if (!cJSON_IsArray(args)) {
		if (p)
			atomic_fetch_add(&p->returned, 1);
		return wf_ctx_fail(ctx, "add: args is not an array");
	}
	cJSON_ArrayForEach(it, args)
	{
		if (!cJSON_IsNumber(it)) {
			if (p)
				atomic_fetch_add(&p->returned, 1);
			return wf_ctx_fail(ctx, "add: argument is not a number");
		}
		sum += it->valuedouble;
	}
	if (p && atomic_load(&p->fail)) {
		atomic_fetch_add(&p->returned, 1);
		return wf_ctx_fail(ctx, "add failed (flag set)");
	}
	*out = cJSON_CreateNumber(sum);
	if (p)
		atomic_fetch_add(&p->returned, 1);
	return 0;
}

/* Signals that it started (calls++), then sleeps 1000 s with wf_ctx_sleep
 * (which returns on cancel), then returns 0 like the seed's simple(). */
static inline int e_step_block(wf_ctx *ctx, const cJSON *args, void *udata,
                               cJSON **out)
{
	e_probe *p = udata;
	(void)args;
	atomic_fetch_add(&p->calls, 1);
	atomic_store(&p->sleep_rc, wf_ctx_sleep(ctx, 1000));
	*out = cJSON_CreateNumber(0);
	atomic_fetch_add(&p->returned, 1);
	return 0;
}

/* The number output of a run; fails unless it is a number equal to want. */
#define CHECK_OUT_NUM(out, want)                                              \
	do {                                                                      \
		const cJSON *t_o_ = (out);                                            \
		if (!cJSON_IsNumber(t_o_) || t_o_->valuedouble != (double)(want)) {   \
			char *t_s_ = e_text(t_o_);                                        \
			t_fail(__FILE__, __LINE__, "output %s = %s, expected %g", #out,   \
			       t_s_, (double)(want));                                     \
		}                                                                     \
	} while (0)

#endif
