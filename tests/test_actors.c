/*
 * Virtual actors (wflow.h "virtual actors", SEMANTICS.md "Virtual actors",
 * the seed's "Metadata in Virtual Actors"), through the public API:
 *
 *  - crash: a child process (WF_SYNC_ALWAYS) makes one call on an actor,
 *    then is SIGKILLed inside a second call (after changing the state in
 *    place); the parent's engine finds the actor RESUMABLE (get_status and
 *    get_metadata agree) with the first call's state only, refuses new
 *    calls with WF_EBUSY (recording nothing), refuses to resume it before
 *    the class is defined, and with the methods defined wf_resume finishes
 *    the interrupted call and returns the state; SUCCESSFUL afterwards, and
 *    durable across a reopen.
 *  - the seed's Actor, word for word: add, add_1, add_2 with their own
 *    metadata, each at least 1 s long, step_type ACTOR_METHOD, max_retries
 *    0; results 10, 20, 30; state 30; SUCCESSFUL.
 *  - the seed's Counter: a method returning a nested call of itself
 *    (wf_ctx_continue): incr, incr_1 ... incr_4 with their own metadata,
 *    result 5, state {"n": 5}.
 *  - list_all lists actors; wf_resume / wf_get_output / wf_run on an idle
 *    actor give its state and run nothing.
 *  - readonly methods: see the committed state (never a writer's
 *    half-done change), whatever they do to it is discarded, no step and
 *    no metadata change, also after a reopen.
 *  - 8 threads x 1,000 writer calls (async and sync) on one actor: one at
 *    a time, each thread's calls in the order made, n exactly 8,000, every
 *    result 1..8000 exactly once.
 *  - get_or_create of an existing actor ignores the new init args and does
 *    not run init, also in a new engine.
 *  - 10,000 actors with 1 KB states, one call each, intact after reopen.
 *  - a 1 MB state changed 20 times by small changes: the journal grows by
 *    well under 1 KB per call (the change is journaled, not the state),
 *    and the state after reopen is exactly the expected one.
 *  - errors: unknown actor, a plain workflow's id, another class's actor,
 *    a plain step or another class's method as the call, a node argument,
 *    a failed call (state unchanged, FAILED, next call works), an init
 *    that refuses (no actor afterwards), bad ids and args, wf_ctx_state
 *    outside a method.
 *
 * WFLOW_TEST_SCALE scales the number of calls per thread of the
 * concurrency test (default 1: 1,000).
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "engine_util.h"

/* ---- helpers ---------------------------------------------------------------- */

static wf_actor_class *a_class_at(const char *file, int line, wf_engine *e,
                                  const char *name, wf_actor_init_fn init,
                                  void *udata)
{
	wf_actor_class *c = NULL;
	int rc = wf_actor_class_define(e, name, init, udata, &c);
	if (rc != 0 || !c)
		t_fail(file, line, "wf_actor_class_define(%s): %d (%s): %s", name,
		       rc, wf_strerror(rc), wf_errmsg(e));
	return c;
}
#define a_class(e, name, init, udata)                                         \
	a_class_at(__FILE__, __LINE__, e, name, init, udata)

static wf_step *a_method_at(const char *file, int line, wf_engine *e,
                            wf_actor_class *c, const char *name,
                            wf_step_fn fn, void *udata, int kind)
{
	wf_step *m = NULL;
	int rc = wf_actor_method_define(c, name, fn, udata, kind, NULL, &m);
	if (rc != 0 || !m)
		t_fail(file, line, "wf_actor_method_define(%s): %d (%s): %s", name,
		       rc, wf_strerror(rc), wf_errmsg(e));
	return m;
}
#define a_method(e, c, name, fn, udata, kind)                                 \
	a_method_at(__FILE__, __LINE__, e, c, name, fn, udata, kind)

/* get_or_create(id, *args) with args a JSON array as text (NULL: none). */
static wf_actor *a_goc_at(const char *file, int line, wf_engine *e,
                          wf_actor_class *c, const char *id,
                          const char *args_json)
{
	cJSON *args = args_json ? e_json_at(file, line, args_json) : NULL;
	wf_actor *a = NULL;
	int rc = wf_actor_get_or_create(c, id, args, &a);
	cJSON_Delete(args);
	if (rc != 0 || !a)
		t_fail(file, line, "wf_actor_get_or_create(%s, %s): %d (%s): %s", id,
		       args_json ? args_json : "NULL", rc, wf_strerror(rc),
		       wf_errmsg(e));
	if (!wf_actor_id(a) || strcmp(wf_actor_id(a), id) != 0)
		t_fail(file, line, "wf_actor_id = %s, expected %s",
		       wf_actor_id(a) ? wf_actor_id(a) : "(null)", id);
	return a;
}
#define a_goc(e, c, id, args_json)                                            \
	a_goc_at(__FILE__, __LINE__, e, c, id, args_json)

static wf_actor *a_get_at(const char *file, int line, wf_engine *e,
                          wf_actor_class *c, const char *id)
{
	wf_actor *a = NULL;
	int rc = wf_actor_get(c, id, &a);
	if (rc != 0 || !a)
		t_fail(file, line, "wf_actor_get(%s): %d (%s): %s", id, rc,
		       wf_strerror(rc), wf_errmsg(e));
	if (!wf_actor_id(a) || strcmp(wf_actor_id(a), id) != 0)
		t_fail(file, line, "wf_actor_id = %s, expected %s",
		       wf_actor_id(a) ? wf_actor_id(a) : "(null)", id);
	return a;
}
#define a_get(e, c, id) a_get_at(__FILE__, __LINE__, e, c, id)

/* wf_actor_call(a, node), which must succeed; returns the result (caller
 * frees; JSON null comes back as a cJSON null, never NULL). */
static cJSON *a_call_at(const char *file, int line, wf_engine *e,
                        wf_actor *a, wf_node *n)
{
	cJSON *out = NULL;
	int rc = wf_actor_call(a, n, &out);
	if (rc != 0)
		t_fail(file, line, "wf_actor_call on %s: %d (%s): %s",
		       wf_actor_id(a), rc, wf_strerror(rc), wf_errmsg(e));
	return out ? out : cJSON_CreateNull();
}
#define a_call(e, a, n) a_call_at(__FILE__, __LINE__, e, a, n)

static cJSON *a_state_at(const char *file, int line, wf_engine *e,
                         wf_actor *a)
{
	cJSON *s = NULL;
	int rc = wf_actor_state(a, &s);
	if (rc != 0)
		t_fail(file, line, "wf_actor_state(%s): %d (%s): %s", wf_actor_id(a),
		       rc, wf_strerror(rc), wf_errmsg(e));
	return s ? s : cJSON_CreateNull();
}
#define a_state(e, a) a_state_at(__FILE__, __LINE__, e, a)

/* The actor's committed state must equal the JSON text want. */
#define CHECK_STATE(e, a, want)                                               \
	do {                                                                      \
		cJSON *t_st_ = a_state(e, a);                                         \
		e_check_json_at(__FILE__, __LINE__, "wf_actor_state", t_st_, want);   \
		cJSON_Delete(t_st_);                                                  \
	} while (0)

/* The actor's committed state must equal the JSON value want. */
#define CHECK_STATE_SAME(e, a, want)                                          \
	do {                                                                      \
		cJSON *t_st_ = a_state(e, a);                                         \
		CHECK_JSON_SAME(t_st_, want);                                         \
		cJSON_Delete(t_st_);                                                  \
	} while (0)

/* get_metadata(id, step) must say WF_ENOTFOUND. */
static void check_no_step_at(const char *file, int line, wf_engine *e,
                             const char *id, const char *step)
{
	cJSON *m = NULL;
	int rc = wf_get_metadata(e, id, step, &m);
	if (rc != WF_ENOTFOUND) {
		char *s = e_text(m);
		t_fail(file, line,
		       "get_metadata(%s, %s): %d (%s), expected WF_ENOTFOUND; %s", id,
		       step, rc, wf_strerror(rc), s);
	}
	cJSON_Delete(m);
}
#define CHECK_NO_STEP(e, id, step) check_no_step_at(__FILE__, __LINE__, e, id, step)

/* wf_errmsg(e) must name a or b (case-insensitive). */
#define CHECK_ERRMSG_NAMES(e, a, b)                                           \
	CHECK_MSG(t_contains(wf_errmsg(e), a) || t_contains(wf_errmsg(e), b),     \
	          "wf_errmsg = \"%s\" names neither \"%s\" nor \"%s\"",           \
	          wf_errmsg(e), a, b)

/* Is id among the strings of the JSON array ids? */
static int ids_have(const cJSON *ids, const char *id)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, ids)
	{
		if (cJSON_IsString(it) && strcmp(it->valuestring, id) == 0)
			return 1;
	}
	return 0;
}

/* obj[key] = v (a number), replacing or adding. */
static void set_num(cJSON *obj, const char *key, double v)
{
	cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (cJSON_IsNumber(it))
		cJSON_SetNumberHelper(it, v);
	else if (it)
		cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateNumber(v));
	else
		cJSON_AddNumberToObject(obj, key, v);
}

/* The number obj[key], or NAN. */
static double get_num(const cJSON *obj, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

/* ---- crash during a writer call ----------------------------------------- */

/*
 * class Ledger:
 *     def __init__(self, total): self.total = total
 *     def deposit(self, x): self.total += x; return self.total
 * The state is {"total": <number>}; deposit returns the new total (a
 * number, so that it differs from the state that wf_resume returns).
 */
static int crash_fd = -1;

static int ledger_init(const cJSON *args, void *udata, cJSON **state,
                       char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetArrayItem(args, 0);
	if (udata)
		atomic_fetch_add((atomic_int *)udata, 1);
	if (!cJSON_IsArray(args) || !cJSON_IsNumber(v)) {
		set_err(err, errlen, "Ledger(total): total must be a number");
		return 1;
	}
	*state = cJSON_CreateObject();
	cJSON_AddNumberToObject(*state, "total", v->valuedouble);
	return 0;
}

/* total += x, in place; returns 0 or a wf_ctx_fail. */
static int deposit_apply(wf_ctx *ctx, const cJSON *args, double *total)
{
	const cJSON *x = cJSON_GetArrayItem(args, 0);
	cJSON *st = wf_ctx_state(ctx);
	if (!cJSON_IsNumber(x) || !cJSON_IsNumber(
	                              cJSON_GetObjectItemCaseSensitive(st, "total")))
		return wf_ctx_fail(ctx, "deposit: bad argument or state");
	*total = get_num(st, "total") + x->valuedouble;
	set_num(st, "total", *total);
	return 0;
}

/* The child's deposit: deposit(100) changes the state in place, tells the
 * parent, then blocks until the process is killed. */
static int child_deposit(wf_ctx *ctx, const cJSON *args, void *udata,
                         cJSON **out)
{
	double total;
	(void)udata;
	int rc = deposit_apply(ctx, args, &total);
	if (rc != 0)
		return rc;
	if (cJSON_GetArrayItem(args, 0)->valuedouble == 100) {
		char b = 'd';
		if (write(crash_fd, &b, 1) != 1)
			_exit(4);
		wf_ctx_sleep(ctx, 1000);
	}
	*out = cJSON_CreateNumber(total);
	return 0;
}

/* The parent's deposit: never blocks; counts its calls (udata). */
static int parent_deposit(wf_ctx *ctx, const cJSON *args, void *udata,
                          cJSON **out)
{
	double total;
	atomic_fetch_add((atomic_int *)udata, 1);
	int rc = deposit_apply(ctx, args, &total);
	if (rc != 0)
		return rc;
	*out = cJSON_CreateNumber(total);
	return 0;
}

static void crash_child(const char *dir)
{
	wf_engine *e = e_open(dir, WF_SYNC_ALWAYS);
	wf_actor_class *c = a_class(e, "Ledger", ledger_init, NULL);
	wf_step *dep = a_method(e, c, "deposit", child_deposit, NULL,
	                        WF_METHOD_WRITER);
	/* An actor that is idle at the crash. */
	wf_actor *idle = a_goc(e, c, "acct_idle", "[1]");
	cJSON *out = a_call(e, idle, e_node(dep, NULL, "[1]"));
	if (!cJSON_IsNumber(out) || out->valuedouble != 2)
		_exit(5);
	cJSON_Delete(out);
	/* acct: {"total": 5}, deposit(10) -> 15 committed, then deposit(100)
	 * blocks with {"total": 115} in place, uncommitted. */
	wf_actor *a = a_goc(e, c, "acct", "[5]");
	out = a_call(e, a, e_node(dep, NULL, "[10]"));
	if (!cJSON_IsNumber(out) || out->valuedouble != 15)
		_exit(6);
	cJSON_Delete(out);
	wf_actor_call(a, e_node(dep, NULL, "[100]"), NULL);
	_exit(3); /* not reached: the parent kills us first */
}

/* Read n bytes from fd within E_WAIT_S seconds; returns how many came. */
static size_t read_within(int fd, char *buf, size_t n)
{
	size_t got = 0;
	double end = e_mono() + E_WAIT_S;
	while (got < n && e_mono() < end) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static void test_crash(void)
{
	static atomic_int init_calls, dep_calls;
	char dir[512], buf[1];
	int fds[2];
	int status;
	cJSON *out = NULL;
	t_subdir(dir, sizeof dir, "crash");
	CHECK(pipe(fds) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		crash_fd = fds[1];
		crash_child(dir);
	}
	close(fds[1]);
	size_t got = read_within(fds[0], buf, 1);
	if (got < 1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		t_fail(__FILE__, __LINE__,
		       "the child never reached the blocking deposit (exit status "
		       "0x%x)",
		       status);
	}
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(fds[0]);

	/* A new engine: the interrupted actor is RESUMABLE, the idle one is
	 * not. */
	wf_engine *e = e_open(dir, WF_SYNC_ALWAYS);
	CHECK_STATUS(e, "acct", WF_STATUS_RESUMABLE);
	CHECK_STATUS(e, "acct_idle", WF_STATUS_SUCCESSFUL);
	cJSON *l = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_RESUMABLE));
	CHECK_JSON(l, "[\"acct\"]");
	cJSON_Delete(l);
	/* deposit finished, deposit_1 started only. */
	cJSON *m = e_meta(e, "acct", "deposit");
	CHECK_HAS(m, "stats.end_time");
	cJSON_Delete(m);
	m = e_meta(e, "acct", "deposit_1");
	CHECK_HAS(m, "stats.start_time");
	CHECK_HAS_NOT(m, "stats.end_time");
	CHECK(strcmp(e_str(m, "step_options.step_type"), "ACTOR_METHOD") == 0);
	cJSON_Delete(m);

	/* Its class is not defined in this process yet: no resume, and
	 * nothing changes. */
	CHECK_ERC(e, wf_resume(e, "acct", &out), WF_ENOTFOUND);
	CHECK(out == NULL);
	CHECK_ERRMSG_NAMES(e, "Ledger", "deposit");
	CHECK_STATUS(e, "acct", WF_STATUS_RESUMABLE);

	/* The same class, the parent's (non-blocking) deposit. */
	wf_actor_class *c = a_class(e, "Ledger", ledger_init, &init_calls);
	wf_step *dep = a_method(e, c, "deposit", parent_deposit, &dep_calls,
	                        WF_METHOD_WRITER);
	wf_actor *a = a_get(e, c, "acct");
	/* The last committed state: the first call's; the in-place change of
	 * the interrupted call is not there. */
	CHECK_STATE(e, a, "{\"total\": 15}");
	cJSON *wm_before = e_meta(e, "acct", NULL);

	/* New calls are refused until it is resumed, and record nothing. */
	CHECK_ERC(e, wf_actor_call(a, e_node(dep, NULL, "[1]"), &out), WF_EBUSY);
	CHECK(out == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "acct");
	wf_future *f = NULL;
	int rc = wf_actor_call_async(a, e_node(dep, NULL, "[1]"), &f);
	if (rc == 0)
		rc = wf_future_wait(f, NULL);
	CHECK_ERC(e, rc, WF_EBUSY);
	wf_future_free(f);
	CHECK_EQ_I64(atomic_load(&dep_calls), 0);
	CHECK_STATE(e, a, "{\"total\": 15}");
	CHECK_STATUS(e, "acct", WF_STATUS_RESUMABLE);
	CHECK_NO_STEP(e, "acct", "deposit_2");
	cJSON *wm_after = e_meta(e, "acct", NULL);
	CHECK_JSON_SAME(wm_after, wm_before);
	cJSON_Delete(wm_before);
	cJSON_Delete(wm_after);

	/* wf_resume finishes deposit(100) on the committed state and returns
	 * the state. */
	CHECK_E(e, wf_resume(e, "acct", &out));
	CHECK_JSON(out, "{\"total\": 115}");
	cJSON_Delete(out);
	out = NULL;
	CHECK_EQ_I64(atomic_load(&dep_calls), 1); /* deposit did not run again */
	CHECK_EQ_I64(atomic_load(&init_calls), 0);
	CHECK_STATUS(e, "acct", WF_STATUS_SUCCESSFUL);
	CHECK_STATE(e, a, "{\"total\": 115}");
	m = e_meta(e, "acct", "deposit_1");
	CHECK_HAS(m, "stats.end_time");
	/* The child's attempt (never ended) and the parent's. */
	CHECK_EQ_I64(e_array_len(m, "attempts"), 2);
	cJSON_Delete(m);
	m = e_meta(e, "acct", "deposit");
	CHECK_EQ_I64(e_array_len(m, "attempts"), 1);
	cJSON_Delete(m);
	CHECK_STATUS(e, "acct_idle", WF_STATUS_SUCCESSFUL);

	/* Calls work again; the refused ones used no step id. */
	out = a_call(e, a, e_node(dep, NULL, "[1]"));
	CHECK_OUT_NUM(out, 116);
	cJSON_Delete(out);
	m = e_meta(e, "acct", "deposit_2");
	CHECK_HAS(m, "stats.end_time");
	cJSON_Delete(m);
	CHECK_NO_STEP(e, "acct", "deposit_3");
	wf_actor_free(a);
	e_close(e);

	/* And all of it is durable. */
	e = e_open(dir, WF_SYNC_ALWAYS);
	c = a_class(e, "Ledger", ledger_init, &init_calls);
	a_method(e, c, "deposit", parent_deposit, &dep_calls, WF_METHOD_WRITER);
	a = a_get(e, c, "acct");
	CHECK_STATE(e, a, "{\"total\": 116}");
	CHECK_STATUS(e, "acct", WF_STATUS_SUCCESSFUL);
	wf_actor *idle = a_get(e, c, "acct_idle");
	CHECK_STATE(e, idle, "{\"total\": 2}");
	CHECK_EQ_I64(atomic_load(&init_calls), 0);
	wf_actor_free(a);
	wf_actor_free(idle);
	e_close(e);
}

/* ---- the seed's Actor ------------------------------------------------------- */

/*
 *   @workflow.virtual_actor
 *   class Actor:
 *       def __init__(self, v):
 *           self.v = v
 *       def add_v(self, v):
 *           time.sleep(1)
 *           self.v += v
 *           return self.v
 * The state is the number v.
 */
static atomic_int actor_init_calls, add_v_calls;
static wf_actor_class *actor_cls;
static wf_step *add_v;
static char add_v_last_step[64], add_v_last_wf[64];

static int actor_init(const cJSON *args, void *udata, cJSON **state,
                      char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetArrayItem(args, 0);
	atomic_fetch_add((atomic_int *)udata, 1);
	if (!cJSON_IsArray(args) || cJSON_GetArraySize(args) != 1 ||
	    !cJSON_IsNumber(v)) {
		set_err(err, errlen, "Actor(v): expected one number");
		return 1;
	}
	*state = cJSON_CreateNumber(v->valuedouble);
	return 0;
}

static int actor_add_v(wf_ctx *ctx, const cJSON *args, void *udata,
                       cJSON **out)
{
	const cJSON *v = cJSON_GetArrayItem(args, 0);
	atomic_fetch_add((atomic_int *)udata, 1);
	snprintf(add_v_last_step, sizeof add_v_last_step, "%s",
	         wf_ctx_step_id(ctx) ? wf_ctx_step_id(ctx) : "(null)");
	snprintf(add_v_last_wf, sizeof add_v_last_wf, "%s",
	         wf_ctx_workflow_id(ctx) ? wf_ctx_workflow_id(ctx) : "(null)");
	if (wf_ctx_sleep(ctx, 1) != 0) /* time.sleep(1) */
		return wf_ctx_fail(ctx, "add_v: cancelled");
	const cJSON *self_v = wf_ctx_state(ctx);
	if (!cJSON_IsNumber(v) || !cJSON_IsNumber(self_v))
		return wf_ctx_fail(ctx, "add_v: state or argument not a number");
	double nv = self_v->valuedouble + v->valuedouble; /* self.v += v */
	int rc = wf_ctx_set_state(ctx, cJSON_CreateNumber(nv));
	if (rc != 0)
		return wf_ctx_fail(ctx, "add_v: wf_ctx_set_state: %d", rc);
	*out = cJSON_CreateNumber(nv); /* return self.v */
	return 0;
}

/*
 *   actor = Actor.get_or_create("vid", 0)
 *   actor.add_v.options(name="add", metadata={"k1": "v1"}).run(10)
 *   actor.add_v.options(name="add", metadata={"k2": "v2"}).run(10)
 *   actor.add_v.options(name="add", metadata={"k3": "v3"}).run(10)
 *   assert workflow.get_metadata("vid", "add")["user_metadata"] == {"k1": "v1"}
 *   assert workflow.get_metadata("vid", "add_1")["user_metadata"] == {"k2": "v2"}
 *   assert workflow.get_metadata("vid", "add_2")["user_metadata"] == {"k3": "v3"}
 *   assert get_metadata("vid", "add")["stats"]["end_time"] >=
 *          get_metadata("vid", "add")["stats"]["start_time"] + 1   (x3)
 */
static void test_seed_actor(wf_engine *e)
{
	static const char *const ids[3] = {"add", "add_1", "add_2"};
	static const char *const mds[3] = {"{\"k1\": \"v1\"}", "{\"k2\": \"v2\"}",
	                                   "{\"k3\": \"v3\"}"};
	actor_cls = a_class(e, "Actor", actor_init, &actor_init_calls);
	add_v = a_method(e, actor_cls, "add_v", actor_add_v, &add_v_calls,
	                 WF_METHOD_WRITER);
	wf_actor *actor = a_goc(e, actor_cls, "vid", "[0]");
	CHECK_EQ_I64(atomic_load(&actor_init_calls), 1);
	CHECK_STATE(e, actor, "0");

	for (int i = 0; i < 3; i++) {
		cJSON *md;
		wf_step_options o = e_opts("add", mds[i], &md);
		wf_node *n = e_node(add_v, &o, "[10]");
		cJSON_Delete(md); /* the node copied it */
		double t0 = e_mono();
		cJSON *out = a_call(e, actor, n);
		CHECK_OUT_NUM(out, 10 * (i + 1));
		cJSON_Delete(out);
		/* The call waited for the method. */
		CHECK(e_mono() - t0 >= 1.0);
		CHECK_MSG(strcmp(add_v_last_step, ids[i]) == 0,
		          "call %d ran as step %s, expected %s", i, add_v_last_step,
		          ids[i]);
		CHECK(strcmp(add_v_last_wf, "vid") == 0);
	}
	CHECK_EQ_I64(atomic_load(&add_v_calls), 3);

	for (int i = 0; i < 3; i++) {
		t_context("seed: Actor, get_metadata(\"vid\", \"%s\")", ids[i]);
		cJSON *m = e_meta(e, "vid", ids[i]);
		CHECK_JSON(e_get(m, "user_metadata"), mds[i]);
		CHECK_MSG(e_num(m, "stats.end_time") >=
		              e_num(m, "stats.start_time") + 1,
		          "start_time %.6f, end_time %.6f",
		          e_num(m, "stats.start_time"), e_num(m, "stats.end_time"));
		CHECK(strcmp(e_str(m, "name"), "add") == 0);
		CHECK(strcmp(e_str(m, "step_id"), ids[i]) == 0);
		CHECK(strcmp(e_str(m, "step_options.step_type"), "ACTOR_METHOD") == 0);
		CHECK_EQ_I64(e_num(m, "step_options.max_retries"), 0);
		cJSON_Delete(m);
	}
	t_context("seed: Actor");
	CHECK_NO_STEP(e, "vid", "add_3");
	CHECK_NO_STEP(e, "vid", "add_v");

	CHECK_STATE(e, actor, "30");
	CHECK_STATUS(e, "vid", WF_STATUS_SUCCESSFUL);
	cJSON *wm = e_meta(e, "vid", NULL);
	CHECK_JSON(e_get(wm, "user_metadata"), "{}");
	CHECK_HAS(wm, "stats.start_time");
	CHECK_HAS(wm, "stats.end_time");
	cJSON_Delete(wm);
	CHECK(strcmp(wf_actor_id(actor), "vid") == 0);
	wf_actor_free(actor);
}

/* ---- the seed's Counter ----------------------------------------------------- */

/*
 *   @workflow.virtual_actor
 *   class Counter:
 *       def __init__(self):
 *           self.n = 0
 *       def incr(self, n):
 *           self.n += 1
 *           if n - 1 > 0:
 *               return self.incr.options(
 *                   name="incr", metadata={"current_n": self.n}).step(n - 1)
 *           else:
 *               return self.n
 * The state is {"n": <number>}, changed in place.
 */
static atomic_int counter_init_calls, incr_calls;
static wf_step *incr;

static int counter_init(const cJSON *args, void *udata, cJSON **state,
                        char *err, size_t errlen)
{
	atomic_fetch_add((atomic_int *)udata, 1);
	if (!cJSON_IsArray(args) || cJSON_GetArraySize(args) != 0) {
		set_err(err, errlen, "Counter() takes no arguments");
		return 1;
	}
	*state = cJSON_CreateObject();
	cJSON_AddNumberToObject(*state, "n", 0);
	return 0;
}

static int counter_incr(wf_ctx *ctx, const cJSON *args, void *udata,
                        cJSON **out)
{
	const cJSON *a0 = cJSON_GetArrayItem(args, 0);
	cJSON *self = wf_ctx_state(ctx);
	atomic_fetch_add((atomic_int *)udata, 1);
	if (!cJSON_IsNumber(a0) || !cJSON_IsNumber(
	                               cJSON_GetObjectItemCaseSensitive(self, "n")))
		return wf_ctx_fail(ctx, "incr: bad argument or state");
	int n = (int)a0->valuedouble;
	double self_n = get_num(self, "n") + 1;
	set_num(self, "n", self_n); /* self.n += 1 */
	if (n - 1 > 0) {
		wf_step_options o = WF_STEP_OPTIONS_INIT;
		cJSON *md = cJSON_CreateObject();
		wf_node *next = NULL;
		cJSON_AddNumberToObject(md, "current_n", self_n);
		o.name = "incr";
		o.metadata = md;
		int rc = wf_node_new(&next, incr, &o);
		cJSON_Delete(md);
		if (rc != 0)
			return wf_ctx_fail(ctx, "incr: wf_node_new: %d", rc);
		cJSON *arg = cJSON_CreateNumber(n - 1);
		rc = wf_node_arg(next, arg);
		cJSON_Delete(arg);
		if (rc != 0) {
			wf_node_free(next);
			return wf_ctx_fail(ctx, "incr: wf_node_arg: %d", rc);
		}
		return wf_ctx_continue(ctx, next);
	}
	*out = cJSON_CreateNumber(self_n);
	return 0;
}

/*
 *   counter = Counter.get_or_create("counter")
 *   counter.incr.options(name="incr", metadata={"outer_k": "outer_v"}).run(5)
 *   assert workflow.get_metadata("counter", "incr")["user_metadata"] == {"outer_k": "outer_v"}
 *   assert workflow.get_metadata("counter", "incr_1")["user_metadata"] == {"current_n": 1}
 *   ... incr_4: {"current_n": 4}
 */
static void test_seed_counter(wf_engine *e)
{
	static const char *const ids[] = {"incr", "incr_1", "incr_2", "incr_3",
	                                  "incr_4"};
	wf_actor_class *c = a_class(e, "Counter", counter_init,
	                            &counter_init_calls);
	incr = a_method(e, c, "incr", counter_incr, &incr_calls,
	                WF_METHOD_WRITER);
	wf_actor *counter = a_goc(e, c, "counter", NULL);
	CHECK_EQ_I64(atomic_load(&counter_init_calls), 1);
	CHECK_STATE(e, counter, "{\"n\": 0}");

	cJSON *md;
	wf_step_options o = e_opts("incr", "{\"outer_k\": \"outer_v\"}", &md);
	wf_node *n = e_node(incr, &o, "[5]");
	cJSON_Delete(md);
	cJSON *out = a_call(e, counter, n);
	CHECK_OUT_NUM(out, 5);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&incr_calls), 5);

	cJSON *m = e_meta(e, "counter", "incr");
	CHECK_JSON(e_get(m, "user_metadata"), "{\"outer_k\": \"outer_v\"}");
	CHECK(strcmp(e_str(m, "step_options.step_type"), "ACTOR_METHOD") == 0);
	cJSON_Delete(m);
	for (int i = 1; i <= 4; i++) {
		char want[64];
		t_context("seed: Counter, get_metadata(\"counter\", \"%s\")", ids[i]);
		snprintf(want, sizeof want, "{\"current_n\": %d}", i);
		m = e_meta(e, "counter", ids[i]);
		CHECK_JSON(e_get(m, "user_metadata"), want);
		CHECK(strcmp(e_str(m, "name"), "incr") == 0);
		CHECK(strcmp(e_str(m, "step_id"), ids[i]) == 0);
		CHECK(strcmp(e_str(m, "step_options.step_type"), "ACTOR_METHOD") == 0);
		CHECK_HAS(m, "stats.end_time");
		cJSON_Delete(m);
	}
	t_context("seed: Counter");
	CHECK_NO_STEP(e, "counter", "incr_5");
	CHECK_STATE(e, counter, "{\"n\": 5}");
	CHECK_STATUS(e, "counter", WF_STATUS_SUCCESSFUL);
	wf_actor_free(counter);
}

/* ---- list_all, resume, get_output of idle actors ---------------------------- */

static void test_list_resume(wf_engine *e)
{
	static e_probe plain;
	cJSON *out = NULL;
	e_probe_reset(&plain);

	cJSON *ids = e_list_ids(e, WF_STATUS_ALL);
	CHECK_MSG(ids_have(ids, "vid") && ids_have(ids, "counter"),
	          "wf_list_all: %s", e_text(ids));
	cJSON_Delete(ids);
	ids = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_SUCCESSFUL));
	CHECK_MSG(ids_have(ids, "vid") && ids_have(ids, "counter"),
	          "wf_list_all(SUCCESSFUL): %s", e_text(ids));
	cJSON_Delete(ids);

	/* wf_resume of an idle actor: its state; nothing runs. */
	int add_before = atomic_load(&add_v_calls);
	int incr_before = atomic_load(&incr_calls);
	CHECK_E(e, wf_resume(e, "vid", &out));
	CHECK_OUT_NUM(out, 30);
	cJSON_Delete(out);
	CHECK_E(e, wf_resume(e, "counter", &out));
	CHECK_JSON(out, "{\"n\": 5}");
	cJSON_Delete(out);
	CHECK_E(e, wf_get_output(e, "vid", &out));
	CHECK_OUT_NUM(out, 30);
	cJSON_Delete(out);
	/* wf_run on an actor's id: its state, and the DAG does not run. */
	wf_step *add = e_define(e, "plain_add", e_step_add, &plain, NULL);
	out = NULL;
	CHECK_E(e, wf_run(e, e_node(add, NULL, "[1, 2]"), "vid", NULL, &out));
	CHECK_OUT_NUM(out, 30);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&plain.calls), 0);
	CHECK_EQ_I64(atomic_load(&add_v_calls), add_before);
	CHECK_EQ_I64(atomic_load(&incr_calls), incr_before);
	CHECK_STATUS(e, "vid", WF_STATUS_SUCCESSFUL);
	CHECK_STATUS(e, "counter", WF_STATUS_SUCCESSFUL);
	CHECK_NO_STEP(e, "vid", "add_3");

	/* An actor that never had a call: listed, and resume gives its
	 * initial state. */
	wf_actor *fresh = a_goc(e, actor_cls, "fresh", "[7]");
	ids = e_list_ids(e, WF_STATUS_ALL);
	CHECK_MSG(ids_have(ids, "fresh"), "wf_list_all: %s", e_text(ids));
	cJSON_Delete(ids);
	CHECK_E(e, wf_resume(e, "fresh", &out));
	CHECK_OUT_NUM(out, 7);
	cJSON_Delete(out);

	/* The resumed actor takes calls as before, numbering on. */
	cJSON *md;
	wf_step_options o = e_opts("add", "{\"k4\": \"v4\"}", &md);
	wf_node *n = e_node(add_v, &o, "[1]");
	cJSON_Delete(md);
	wf_actor *vid = a_get(e, actor_cls, "vid");
	out = a_call(e, vid, n);
	CHECK_OUT_NUM(out, 31);
	cJSON_Delete(out);
	cJSON *m = e_meta(e, "vid", "add_3");
	CHECK_JSON(e_get(m, "user_metadata"), "{\"k4\": \"v4\"}");
	cJSON_Delete(m);
	CHECK_STATE(e, fresh, "7");
	wf_actor_free(vid);
	wf_actor_free(fresh);
}

/* ---- readonly methods --------------------------------------------------- */

/*
 * class Box: state {"n": 1, "items": ["a"]}
 *   put(x) (writer): items.append(x); n += 1; return n
 *   slow() (writer): n = -1 in place (a half-done change), signal, sleep
 *                    0.3 s, then n = old n + 10; return n
 *   peek() (readonly): returns {"saw_n", "saw_items"}, then vandalises the
 *                    state in place and tries wf_ctx_set_state too
 */
static atomic_int box_init_calls, peek_calls, slow_started;
static atomic_int peek_saw_half_done;
static atomic_int peek_set_state_rc; /* reported, not asserted */

static int box_init(const cJSON *args, void *udata, cJSON **state, char *err,
                    size_t errlen)
{
	(void)args;
	(void)err;
	(void)errlen;
	atomic_fetch_add((atomic_int *)udata, 1);
	*state = cJSON_CreateObject();
	cJSON_AddNumberToObject(*state, "n", 1);
	cJSON *items = cJSON_AddArrayToObject(*state, "items");
	cJSON_AddItemToArray(items, cJSON_CreateString("a"));
	return 0;
}

static int box_put(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	cJSON *st = wf_ctx_state(ctx);
	cJSON *items = cJSON_GetObjectItemCaseSensitive(st, "items");
	const cJSON *x = cJSON_GetArrayItem(args, 0);
	if (!cJSON_IsArray(items) || !cJSON_IsString(x))
		return wf_ctx_fail(ctx, "put: bad state or argument");
	cJSON_AddItemToArray(items, cJSON_CreateString(x->valuestring));
	set_num(st, "n", get_num(st, "n") + 1);
	*out = cJSON_CreateNumber(get_num(st, "n"));
	return 0;
}

static int box_slow(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)args;
	(void)udata;
	cJSON *st = wf_ctx_state(ctx);
	double old = get_num(st, "n");
	set_num(st, "n", -1);
	atomic_store(&slow_started, 1);
	if (wf_ctx_sleep(ctx, 0.3) != 0)
		return wf_ctx_fail(ctx, "slow: cancelled");
	set_num(st, "n", old + 10);
	*out = cJSON_CreateNumber(old + 10);
	return 0;
}

static int box_peek(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)args;
	(void)udata;
	atomic_fetch_add(&peek_calls, 1);
	cJSON *st = wf_ctx_state(ctx);
	if (!st)
		return wf_ctx_fail(ctx, "peek: no state");
	double n = get_num(st, "n");
	int nitems = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "items"));
	if (n == -1)
		atomic_fetch_add(&peek_saw_half_done, 1);
	*out = cJSON_CreateObject();
	cJSON_AddNumberToObject(*out, "saw_n", n);
	cJSON_AddNumberToObject(*out, "saw_items", nitems);
	/* Vandalise the copy: all of this must be discarded. */
	set_num(st, "n", 999);
	cJSON_AddBoolToObject(st, "junk", 1);
	cJSON_DeleteItemFromObjectCaseSensitive(st, "items");
	cJSON *repl = cJSON_CreateObject();
	cJSON_AddBoolToObject(repl, "replaced", 1);
	/* Taken (the header says so); not freed here whatever it returns. */
	atomic_store(&peek_set_state_rc, wf_ctx_set_state(ctx, repl));
	return 0;
}

typedef struct box_methods {
	wf_actor_class *c;
	wf_step *put, *slow, *peek;
} box_methods;

static box_methods box_define(wf_engine *e)
{
	box_methods b;
	b.c = a_class(e, "Box", box_init, &box_init_calls);
	b.put = a_method(e, b.c, "put", box_put, NULL, WF_METHOD_WRITER);
	b.slow = a_method(e, b.c, "slow", box_slow, NULL, WF_METHOD_WRITER);
	b.peek = a_method(e, b.c, "peek", box_peek, NULL, WF_METHOD_READONLY);
	return b;
}

static void test_readonly(void)
{
	char dir[512];
	cJSON *out, *md;
	wf_engine *e = e_fresh(dir, "readonly", WF_SYNC_NONE);
	box_methods b = box_define(e);
	wf_actor *box = a_goc(e, b.c, "box", NULL);

	out = a_call(e, box, e_node(b.put, NULL, "[\"b\"]"));
	CHECK_OUT_NUM(out, 2);
	cJSON_Delete(out);
	const char *st2 = "{\"n\": 2, \"items\": [\"a\", \"b\"]}";
	CHECK_STATE(e, box, st2);
	cJSON *before = a_state(e, box);
	cJSON *wm_before = e_meta(e, "box", NULL);

	/* Named, with metadata, and with the defaults. */
	wf_step_options o = e_opts("peek_call", "{\"ro\": true}", &md);
	out = a_call(e, box, e_node(b.peek, &o, NULL));
	cJSON_Delete(md);
	CHECK_JSON(out, "{\"saw_n\": 2, \"saw_items\": 2}");
	cJSON_Delete(out);
	out = a_call(e, box, e_node(b.peek, NULL, NULL));
	CHECK_JSON(out, "{\"saw_n\": 2, \"saw_items\": 2}");
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&peek_calls), 2);

	/* Nothing it did is there; no step, no metadata change. */
	cJSON *after = a_state(e, box);
	CHECK_JSON_SAME(after, before);
	cJSON_Delete(after);
	CHECK_NO_STEP(e, "box", "peek_call");
	CHECK_NO_STEP(e, "box", "peek");
	CHECK_NO_STEP(e, "box", "peek_1");
	cJSON *wm_after = e_meta(e, "box", NULL);
	CHECK_JSON_SAME(wm_after, wm_before);
	cJSON_Delete(wm_after);
	cJSON_Delete(wm_before);
	cJSON_Delete(before);
	CHECK_STATUS(e, "box", WF_STATUS_SUCCESSFUL);

	/* The next writer sees the state untouched. */
	out = a_call(e, box, e_node(b.put, NULL, "[\"c\"]"));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	CHECK_STATE(e, box, "{\"n\": 3, \"items\": [\"a\", \"b\", \"c\"]}");
	cJSON *m = e_meta(e, "box", "put_1");
	CHECK_HAS(m, "stats.end_time");
	cJSON_Delete(m);
	CHECK_NO_STEP(e, "box", "put_2");

	/* A readonly call while a writer is half-way sees a committed state
	 * (before or after the writer), never the half-done one. */
	wf_future *f = NULL;
	CHECK_E(e, wf_actor_call_async(box, e_node(b.slow, NULL, NULL), &f));
	e_wait_flag(&slow_started, 1, "slow() to start");
	out = a_call(e, box, e_node(b.peek, NULL, NULL));
	double saw = e_num(out, "saw_n");
	CHECK_MSG(saw == 3 || saw == 13, "peek during slow() saw %s",
	          e_text(out));
	cJSON_Delete(out);
	out = NULL;
	CHECK_E(e, wf_future_wait(f, &out));
	CHECK_OUT_NUM(out, 13);
	cJSON_Delete(out);
	wf_future_free(f);
	CHECK_EQ_I64(atomic_load(&peek_saw_half_done), 0);
	const char *st13 = "{\"n\": 13, \"items\": [\"a\", \"b\", \"c\"]}";
	CHECK_STATE(e, box, st13);
	wf_actor_free(box);
	e_close(e);

	/* The journal agrees. */
	e = e_open(dir, WF_SYNC_NONE);
	b = box_define(e);
	box = a_get(e, b.c, "box");
	CHECK_STATE(e, box, st13);
	CHECK_NO_STEP(e, "box", "peek_call");
	CHECK_NO_STEP(e, "box", "peek");
	CHECK_NO_STEP(e, "box", "peek_1");
	CHECK_STATUS(e, "box", WF_STATUS_SUCCESSFUL);
	CHECK_EQ_I64(atomic_load(&box_init_calls), 1);
	wf_actor_free(box);
	e_close(e);
}

/* ---- many threads, one actor ------------------------------------------------ */

/*
 * class Ctr: state {"n": 0, "last": {}}
 *   tick(t, i): requires i == last["t<t>"] + 1 (-1 when absent), records
 *   last["t<t>"] = i, n += 1, returns n. Counts overlapping executions.
 */
#define NT 8

static int per_thread;
static atomic_int tick_inside, tick_overlap, tick_calls;
static wf_engine *ctr_e;
static wf_actor_class *ctr_cls;
static wf_step *tick;
static double *tick_results; /* [t * per_thread + i] */

static int ctr_init(const cJSON *args, void *udata, cJSON **state, char *err,
                    size_t errlen)
{
	(void)args;
	(void)udata;
	(void)err;
	(void)errlen;
	*state = cJSON_CreateObject();
	cJSON_AddNumberToObject(*state, "n", 0);
	cJSON_AddObjectToObject(*state, "last");
	return 0;
}

static int ctr_tick_body(wf_ctx *ctx, const cJSON *args, cJSON **out)
{
	const cJSON *t = cJSON_GetArrayItem(args, 0);
	const cJSON *i = cJSON_GetArrayItem(args, 1);
	cJSON *st = wf_ctx_state(ctx);
	cJSON *last = cJSON_GetObjectItemCaseSensitive(st, "last");
	char key[16];
	if (!cJSON_IsNumber(t) || !cJSON_IsNumber(i) || !cJSON_IsObject(last))
		return wf_ctx_fail(ctx, "tick: bad arguments or state");
	snprintf(key, sizeof key, "t%d", (int)t->valuedouble);
	double prev = get_num(last, key);
	if (isnan(prev))
		prev = -1;
	if (i->valuedouble != prev + 1)
		return wf_ctx_fail(ctx, "tick: thread %d's call %d ran after its "
		                        "call %d",
		                   (int)t->valuedouble, (int)i->valuedouble,
		                   (int)prev);
	set_num(last, key, i->valuedouble);
	set_num(st, "n", get_num(st, "n") + 1);
	*out = cJSON_CreateNumber(get_num(st, "n"));
	return 0;
}

static int ctr_tick(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	if (atomic_fetch_add(&tick_inside, 1) != 0)
		atomic_fetch_add(&tick_overlap, 1);
	atomic_fetch_add(&tick_calls, 1);
	int rc = ctr_tick_body(ctx, args, out);
	atomic_fetch_sub(&tick_inside, 1);
	return rc;
}

/* Even threads queue all their calls with wf_actor_call_async, then wait;
 * odd threads call synchronously. Each has its own handle. */
static void *ctr_thread(void *arg)
{
	int t = (int)(intptr_t)arg;
	wf_actor *a = a_get(ctr_e, ctr_cls, "ctr");
	wf_future **f = calloc((size_t)per_thread, sizeof *f);
	CHECK(f != NULL);
	for (int i = 0; i < per_thread; i++) {
		char args[64];
		snprintf(args, sizeof args, "[%d, %d]", t, i);
		wf_node *n = e_node(tick, NULL, args);
		if (t % 2 == 0) {
			int rc = wf_actor_call_async(a, n, &f[i]);
			if (rc != 0)
				t_fail(__FILE__, __LINE__,
				       "thread %d: wf_actor_call_async(tick %d): %d (%s): %s",
				       t, i, rc, wf_strerror(rc), wf_errmsg(ctr_e));
		} else {
			cJSON *out = NULL;
			int rc = wf_actor_call(a, n, &out);
			if (rc != 0 || !cJSON_IsNumber(out))
				t_fail(__FILE__, __LINE__,
				       "thread %d: wf_actor_call(tick %d): %d (%s): %s", t, i,
				       rc, wf_strerror(rc), wf_errmsg(ctr_e));
			tick_results[t * per_thread + i] = out->valuedouble;
			cJSON_Delete(out);
		}
	}
	if (t % 2 == 0)
		for (int i = 0; i < per_thread; i++) {
			cJSON *out = NULL;
			int rc = wf_future_wait(f[i], &out);
			if (rc != 0 || !cJSON_IsNumber(out))
				t_fail(__FILE__, __LINE__,
				       "thread %d: tick %d: %d (%s): %s; output %s", t, i, rc,
				       wf_strerror(rc), wf_errmsg(ctr_e), e_text(out));
			tick_results[t * per_thread + i] = out->valuedouble;
			cJSON_Delete(out);
			wf_future_free(f[i]);
		}
	free(f);
	wf_actor_free(a);
	return NULL;
}

static void test_concurrency(void)
{
	char dir[512], step[32];
	pthread_t th[NT];
	per_thread = (int)(1000 * t_scale());
	if (per_thread < 1)
		per_thread = 1;
	int total = NT * per_thread;
	tick_results = calloc((size_t)total, sizeof *tick_results);
	CHECK(tick_results != NULL);

	wf_engine *e = e_fresh(dir, "concurrency", WF_SYNC_NONE);
	ctr_e = e;
	ctr_cls = a_class(e, "Ctr", ctr_init, NULL);
	tick = a_method(e, ctr_cls, "tick", ctr_tick, NULL, WF_METHOD_WRITER);
	wf_actor *a = a_goc(e, ctr_cls, "ctr", NULL);
	for (int t = 0; t < NT; t++)
		CHECK(pthread_create(&th[t], NULL, ctr_thread, (void *)(intptr_t)t) ==
		      0);
	for (int t = 0; t < NT; t++)
		CHECK(pthread_join(th[t], NULL) == 0);

	/* One at a time, each call once. */
	CHECK_EQ_I64(atomic_load(&tick_overlap), 0);
	CHECK_EQ_I64(atomic_load(&tick_calls), total);
	/* Each thread's results increase (its calls ran in its order), and
	 * together they are 1..total, each once (no lost update). */
	unsigned char *seen = calloc((size_t)total + 1, 1);
	CHECK(seen != NULL);
	for (int t = 0; t < NT; t++)
		for (int i = 0; i < per_thread; i++) {
			double r = tick_results[t * per_thread + i];
			CHECK_MSG(r >= 1 && r <= total && r == (int)r,
			          "thread %d call %d returned %g", t, i, r);
			CHECK_MSG(!seen[(int)r], "result %d returned twice", (int)r);
			seen[(int)r] = 1;
			if (i > 0)
				CHECK_MSG(r > tick_results[t * per_thread + i - 1],
				          "thread %d: call %d returned %g after call %d "
				          "returned %g",
				          t, i, r, i - 1, tick_results[t * per_thread + i - 1]);
		}
	free(seen);

	cJSON *st = a_state(e, a);
	CHECK_EQ_I64(e_num(st, "n"), total);
	cJSON *last = e_get(st, "last");
	CHECK(cJSON_IsObject(last));
	CHECK_EQ_I64(cJSON_GetArraySize(last), NT);
	for (int t = 0; t < NT; t++) {
		char key[16];
		snprintf(key, sizeof key, "t%d", t);
		CHECK_MSG(get_num(last, key) == per_thread - 1,
		          "thread %d: last is %g, expected %d", t, get_num(last, key),
		          per_thread - 1);
	}
	cJSON_Delete(st);
	CHECK_STATUS(e, "ctr", WF_STATUS_SUCCESSFUL);
	/* One step per call: tick, tick_1 ... tick_<total-1>. */
	snprintf(step, sizeof step, "tick_%d", total - 1);
	cJSON *m = e_meta(e, "ctr", step);
	CHECK_HAS(m, "stats.end_time");
	cJSON_Delete(m);
	snprintf(step, sizeof step, "tick_%d", total);
	CHECK_NO_STEP(e, "ctr", step);
	wf_actor_free(a);
	e_close(e);
	free(tick_results);
	tick_results = NULL;
}

/* ---- get_or_create of an existing actor --------------------------------- */

static atomic_int once_init_calls, bump_calls;

/* class Once: __init__(v): state {"v": v}; bump(x): v += x, returns v. */
static int once_init(const cJSON *args, void *udata, cJSON **state,
                     char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetArrayItem(args, 0);
	atomic_fetch_add((atomic_int *)udata, 1);
	if (!cJSON_IsNumber(v)) {
		set_err(err, errlen, "Once(v): v must be a number");
		return 1;
	}
	*state = cJSON_CreateObject();
	cJSON_AddNumberToObject(*state, "v", v->valuedouble);
	return 0;
}

static int once_bump(wf_ctx *ctx, const cJSON *args, void *udata,
                     cJSON **out)
{
	cJSON *st = wf_ctx_state(ctx);
	const cJSON *x = cJSON_GetArrayItem(args, 0);
	atomic_fetch_add((atomic_int *)udata, 1);
	if (!cJSON_IsNumber(x))
		return wf_ctx_fail(ctx, "bump: bad argument");
	set_num(st, "v", get_num(st, "v") + x->valuedouble);
	*out = cJSON_CreateNumber(get_num(st, "v"));
	return 0;
}

static void test_init_once(void)
{
	char dir[512];
	wf_engine *e = e_fresh(dir, "init_once", WF_SYNC_NONE);
	wf_actor_class *c = a_class(e, "Once", once_init, &once_init_calls);
	wf_step *bump = a_method(e, c, "bump", once_bump, &bump_calls,
	                         WF_METHOD_WRITER);

	wf_actor *a1 = a_goc(e, c, "once", "[1]");
	CHECK_EQ_I64(atomic_load(&once_init_calls), 1);
	CHECK_STATE(e, a1, "{\"v\": 1}");
	wf_actor *a2 = a_goc(e, c, "once", "[2]");
	CHECK_EQ_I64(atomic_load(&once_init_calls), 1);
	CHECK_STATE(e, a2, "{\"v\": 1}");
	wf_actor *a3 = a_get(e, c, "once");
	CHECK_STATE(e, a3, "{\"v\": 1}");

	/* Handles are views of one actor. */
	cJSON *out = a_call(e, a2, e_node(bump, NULL, "[10]"));
	CHECK_OUT_NUM(out, 11);
	cJSON_Delete(out);
	CHECK_STATE(e, a1, "{\"v\": 11}");
	CHECK_STATE(e, a3, "{\"v\": 11}");
	wf_actor *a4 = a_goc(e, c, "once", "[3]");
	CHECK_STATE(e, a4, "{\"v\": 11}");
	CHECK_EQ_I64(atomic_load(&once_init_calls), 1);
	CHECK_STATUS(e, "once", WF_STATUS_SUCCESSFUL);
	CHECK_NO_STEP(e, "once", "bump_1");
	wf_actor_free(a1);
	wf_actor_free(a2);
	wf_actor_free(a3);
	wf_actor_free(a4);
	e_close(e);

	/* A new engine: the actor exists; init does not run for it, only
	 * for a new one. */
	e = e_open(dir, WF_SYNC_NONE);
	atomic_store(&once_init_calls, 0);
	c = a_class(e, "Once", once_init, &once_init_calls);
	bump = a_method(e, c, "bump", once_bump, &bump_calls, WF_METHOD_WRITER);
	wf_actor *a5 = a_goc(e, c, "once", "[4]");
	CHECK_EQ_I64(atomic_load(&once_init_calls), 0);
	CHECK_STATE(e, a5, "{\"v\": 11}");
	wf_actor *b = a_goc(e, c, "once_b", "[5]");
	CHECK_EQ_I64(atomic_load(&once_init_calls), 1);
	CHECK_STATE(e, b, "{\"v\": 5}");
	out = a_call(e, a5, e_node(bump, NULL, "[1]"));
	CHECK_OUT_NUM(out, 12);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&bump_calls), 2);
	wf_actor_free(a5);
	wf_actor_free(b);
	e_close(e);
}

/* ---- 10,000 actors ------------------------------------------------------------ */

#define N_MANY 10000
#define PAD_LEN 1000
#define MANY_BATCH 250

static atomic_int many_init_calls;

/* A 1000-character string that depends on i. */
static void pad_of(char *buf, int i)
{
	uint64_t s = (uint64_t)i * 7919u + 1;
	for (int k = 0; k < PAD_LEN; k++)
		buf[k] = (char)('a' + t_splitmix(&s) % 26);
	buf[PAD_LEN] = 0;
}

/* {"id": i, "pad": pad_of(i), "calls": calls} */
static cJSON *many_state(int i, double calls)
{
	char pad[PAD_LEN + 1];
	cJSON *s = cJSON_CreateObject();
	pad_of(pad, i);
	cJSON_AddNumberToObject(s, "id", i);
	cJSON_AddStringToObject(s, "pad", pad);
	cJSON_AddNumberToObject(s, "calls", calls);
	return s;
}

static int many_init(const cJSON *args, void *udata, cJSON **state,
                     char *err, size_t errlen)
{
	const cJSON *i = cJSON_GetArrayItem(args, 0);
	(void)udata;
	atomic_fetch_add(&many_init_calls, 1);
	if (!cJSON_IsNumber(i)) {
		set_err(err, errlen, "Many(i): i must be a number");
		return 1;
	}
	*state = many_state((int)i->valuedouble, 0);
	return 0;
}

/* touch(): calls = 2 * id + 1 (one field changes); returns it. */
static int many_touch(wf_ctx *ctx, const cJSON *args, void *udata,
                      cJSON **out)
{
	(void)args;
	(void)udata;
	cJSON *st = wf_ctx_state(ctx);
	double id = get_num(st, "id");
	if (isnan(id))
		return wf_ctx_fail(ctx, "touch: no id in the state");
	set_num(st, "calls", 2 * id + 1);
	*out = cJSON_CreateNumber(2 * id + 1);
	return 0;
}

static void test_many(void)
{
	char dir[512], id[32], args[32];
	wf_actor *batch[MANY_BATCH];
	wf_future *fut[MANY_BATCH];
	wf_engine *e = e_fresh(dir, "many", WF_SYNC_NONE);
	wf_actor_class *c = a_class(e, "Many", many_init, NULL);
	wf_step *touch = a_method(e, c, "touch", many_touch, NULL,
	                          WF_METHOD_WRITER);

	for (int base = 0; base < N_MANY; base += MANY_BATCH) {
		int nb = N_MANY - base < MANY_BATCH ? N_MANY - base : MANY_BATCH;
		for (int k = 0; k < nb; k++) {
			snprintf(id, sizeof id, "a/%05d", base + k);
			snprintf(args, sizeof args, "[%d]", base + k);
			batch[k] = a_goc(e, c, id, args);
			int rc = wf_actor_call_async(batch[k], e_node(touch, NULL, NULL),
			                             &fut[k]);
			if (rc != 0)
				t_fail(__FILE__, __LINE__, "touch %s: %d (%s): %s", id, rc,
				       wf_strerror(rc), wf_errmsg(e));
		}
		for (int k = 0; k < nb; k++) {
			cJSON *out = NULL;
			int rc = wf_future_wait(fut[k], &out);
			if (rc != 0)
				t_fail(__FILE__, __LINE__, "touch a/%05d: %d (%s): %s",
				       base + k, rc, wf_strerror(rc), wf_errmsg(e));
			CHECK_OUT_NUM(out, 2 * (base + k) + 1);
			cJSON_Delete(out);
			wf_future_free(fut[k]);
			wf_actor_free(batch[k]);
		}
	}
	CHECK_EQ_I64(atomic_load(&many_init_calls), N_MANY);
	e_close(e);

	e = e_open(dir, WF_SYNC_NONE);
	c = a_class(e, "Many", many_init, NULL);
	a_method(e, c, "touch", many_touch, NULL, WF_METHOD_WRITER);
	for (int i = 0; i < N_MANY; i++) {
		snprintf(id, sizeof id, "a/%05d", i);
		wf_actor *a = a_get(e, c, id);
		cJSON *got = a_state(e, a);
		cJSON *want = many_state(i, 2 * i + 1);
		if (!cJSON_Compare(got, want, 1))
			t_fail(__FILE__, __LINE__,
			       "after reopen, %s's state is\n  %s\nexpected\n  %s", id,
			       e_text(got), e_text(want));
		cJSON_Delete(got);
		cJSON_Delete(want);
		wf_actor_free(a);
	}
	CHECK_EQ_I64(atomic_load(&many_init_calls), N_MANY);
	cJSON *ids = e_list_ids(e, WF_STATUS_ALL);
	CHECK_EQ_I64(cJSON_GetArraySize(ids), N_MANY);
	cJSON_Delete(ids);
	cJSON *m = e_meta(e, "a/04242", "touch");
	CHECK(strcmp(e_str(m, "step_options.step_type"), "ACTOR_METHOD") == 0);
	CHECK_HAS(m, "stats.end_time");
	cJSON_Delete(m);
	CHECK_STATUS(e, "a/09999", WF_STATUS_SUCCESSFUL);
	e_close(e);
}

/* ---- journal growth follows the change -------------------------------------- */

#define BIG_KEYS 10000
#define BIG_VAL_LEN 100
#define GROWTH_CALLS 20

/* A 100-character value for key i (64 symbols: ~6 bits each, so that the
 * state compresses to no less than ~600 KB). */
static void big_value(char *buf, int i)
{
	static const char sym[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint64_t s = (uint64_t)i * 104729u + 17;
	for (int k = 0; k < BIG_VAL_LEN; k++)
		buf[k] = sym[t_splitmix(&s) % 64];
	buf[BIG_VAL_LEN] = 0;
}

static cJSON *big_state(int nkeys)
{
	cJSON *s = cJSON_CreateObject();
	for (int i = 0; i < nkeys; i++) {
		char key[16], val[BIG_VAL_LEN + 1];
		snprintf(key, sizeof key, "k%05d", i);
		big_value(val, i);
		cJSON_AddStringToObject(s, key, val);
	}
	return s;
}

static int big_init(const cJSON *args, void *udata, cJSON **state, char *err,
                    size_t errlen)
{
	const cJSON *n = cJSON_GetArrayItem(args, 0);
	(void)udata;
	if (!cJSON_IsNumber(n)) {
		set_err(err, errlen, "Big(n): n must be a number");
		return 1;
	}
	*state = big_state((int)n->valuedouble);
	return 0;
}

/* set(key, value): state[key] = value; value null: delete key. */
static int big_set(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	cJSON *st = wf_ctx_state(ctx);
	const cJSON *k = cJSON_GetArrayItem(args, 0);
	const cJSON *v = cJSON_GetArrayItem(args, 1);
	if (!cJSON_IsString(k) || !v || !cJSON_IsObject(st))
		return wf_ctx_fail(ctx, "set: bad arguments or state");
	if (cJSON_IsNull(v)) {
		if (!cJSON_GetObjectItemCaseSensitive(st, k->valuestring))
			return wf_ctx_fail(ctx, "set: no key %s", k->valuestring);
		cJSON_DeleteItemFromObjectCaseSensitive(st, k->valuestring);
	} else if (cJSON_GetObjectItemCaseSensitive(st, k->valuestring)) {
		cJSON_ReplaceItemInObjectCaseSensitive(st, k->valuestring,
		                                       cJSON_Duplicate(v, 1));
	} else {
		cJSON_AddItemToObject(st, k->valuestring, cJSON_Duplicate(v, 1));
	}
	*out = cJSON_CreateTrue();
	return 0;
}

static uint64_t jb_total;

static int jb_cb(const char *path, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F)
		jb_total += (uint64_t)sb->st_size;
	return 0;
}

/* Total bytes of the files under dir/journal. */
static uint64_t journal_bytes(const char *dir)
{
	char j[600];
	snprintf(j, sizeof j, "%s/journal", dir);
	jb_total = 0;
	if (nftw(j, jb_cb, 16, FTW_PHYS) != 0)
		t_fail(__FILE__, __LINE__, "nftw %s: %s", j, strerror(errno));
	return jb_total;
}

static wf_step *big_define(wf_engine *e, wf_actor_class **c)
{
	*c = a_class(e, "Big", big_init, NULL);
	return a_method(e, *c, "set", big_set, NULL, WF_METHOD_WRITER);
}

static void test_growth(void)
{
	char dir[512], args[64];
	wf_actor_class *c;
	wf_engine *e = e_fresh(dir, "growth", WF_SYNC_NONE);
	wf_step *set = big_define(e, &c);
	snprintf(args, sizeof args, "[%d]", BIG_KEYS);
	wf_actor *a = a_goc(e, c, "big", args);
	cJSON *expected = big_state(BIG_KEYS);
	char *text = cJSON_PrintUnformatted(expected);
	size_t state_bytes = strlen(text);
	free(text);
	CHECK(state_bytes > 1000000);
	CHECK_STATE_SAME(e, a, expected);
	wf_actor_free(a);
	e_close(e);
	uint64_t s0 = journal_bytes(dir);
	/* The state itself is in the journal (so that the sizes measured
	 * below are the journal's). */
	CHECK_MSG(s0 > 400000, "journal %" PRIu64 " bytes after creating a %zu "
	          "byte state", s0, state_bytes);

	/* What an open and close adds by itself, to leave out below. */
	e = e_open(dir, WF_SYNC_NONE);
	big_define(e, &c);
	e_close(e);
	uint64_t s1 = journal_bytes(dir);
	uint64_t session = s1 > s0 ? s1 - s0 : 0;

	e = e_open(dir, WF_SYNC_NONE);
	set = big_define(e, &c);
	a = a_get(e, c, "big");
	for (int j = 0; j < GROWTH_CALLS; j++) {
		char key[16], val[32];
		wf_node *n;
		if (j == GROWTH_CALLS - 2) { /* add a key */
			snprintf(key, sizeof key, "new_key");
			snprintf(val, sizeof val, "added");
			n = e_node(set, NULL, "[\"new_key\", \"added\"]");
			cJSON_AddStringToObject(expected, key, val);
		} else if (j == GROWTH_CALLS - 1) { /* remove one */
			n = e_node(set, NULL, "[\"k00007\", null]");
			cJSON_DeleteItemFromObjectCaseSensitive(expected, "k00007");
		} else { /* change one */
			snprintf(key, sizeof key, "k%05d", (j * 523) % BIG_KEYS);
			snprintf(val, sizeof val, "changed-%d", j);
			snprintf(args, sizeof args, "[\"%s\", \"%s\"]", key, val);
			n = e_node(set, NULL, args);
			cJSON_ReplaceItemInObjectCaseSensitive(expected, key,
			                                       cJSON_CreateString(val));
		}
		cJSON *out = a_call(e, a, n);
		CHECK_JSON(out, "true");
		cJSON_Delete(out);
	}
	CHECK_STATE_SAME(e, a, expected);
	wf_actor_free(a);
	e_close(e);
	uint64_t s2 = journal_bytes(dir);
	CHECK(s2 >= s1);
	uint64_t growth = s2 - s1 > session ? s2 - s1 - session : 0;
	CHECK_MSG(growth < (uint64_t)GROWTH_CALLS * 1024,
	          "the journal grew by %" PRIu64 " bytes for %d calls (%.0f per "
	          "call; an empty session adds %" PRIu64 "), with a %zu byte "
	          "state: the calls journal more than their changes",
	          growth, GROWTH_CALLS, (double)growth / GROWTH_CALLS, session,
	          state_bytes);

	/* The state after reopen is exactly what the calls made. */
	e = e_open(dir, WF_SYNC_NONE);
	big_define(e, &c);
	a = a_get(e, c, "big");
	CHECK_STATE_SAME(e, a, expected);
	CHECK_STATUS(e, "big", WF_STATUS_SUCCESSFUL);
	wf_actor_free(a);
	e_close(e);
	cJSON_Delete(expected);
}

/* ---- errors ------------------------------------------------------------------ */

/*
 * class Acct: __init__(bal) refuses a negative bal;
 *   dep(x): bal += x, returns bal;
 *   boom(): bal = -1000 in place, then fails "boom: insufficient funds".
 * class Other: other_m().
 */
static atomic_int acct_init_calls, dep_calls, boom_calls;
static int state_outside_null = -1, set_state_outside_rc = 1;

static int acct_init(const cJSON *args, void *udata, cJSON **state,
                     char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetArrayItem(args, 0);
	atomic_fetch_add((atomic_int *)udata, 1);
	if (!cJSON_IsNumber(v)) {
		set_err(err, errlen, "Acct(bal): bal must be a number");
		return 1;
	}
	if (v->valuedouble < 0) {
		set_err(err, errlen, "refused: negative opening balance");
		return 1;
	}
	*state = cJSON_CreateObject();
	cJSON_AddNumberToObject(*state, "bal", v->valuedouble);
	return 0;
}

static int acct_dep(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	cJSON *st = wf_ctx_state(ctx);
	const cJSON *x = cJSON_GetArrayItem(args, 0);
	atomic_fetch_add((atomic_int *)udata, 1);
	if (!cJSON_IsNumber(x))
		return wf_ctx_fail(ctx, "dep: bad argument");
	set_num(st, "bal", get_num(st, "bal") + x->valuedouble);
	*out = cJSON_CreateNumber(get_num(st, "bal"));
	return 0;
}

static int acct_boom(wf_ctx *ctx, const cJSON *args, void *udata,
                     cJSON **out)
{
	(void)args;
	(void)out;
	atomic_fetch_add((atomic_int *)udata, 1);
	set_num(wf_ctx_state(ctx), "bal", -1000);
	return wf_ctx_fail(ctx, "boom: insufficient funds");
}

static int other_init(const cJSON *args, void *udata, cJSON **state,
                      char *err, size_t errlen)
{
	(void)args;
	(void)udata;
	(void)err;
	(void)errlen;
	*state = cJSON_CreateObject();
	return 0;
}

static int other_m(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)ctx;
	(void)args;
	(void)udata;
	*out = cJSON_CreateNumber(1);
	return 0;
}

/* A plain step: wf_ctx_state is NULL and wf_ctx_set_state refused. */
static int outside(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)args;
	(void)udata;
	state_outside_null = wf_ctx_state(ctx) == NULL;
	/* Taken (the header says so); not freed here whatever it returns. */
	set_state_outside_rc = wf_ctx_set_state(ctx, cJSON_CreateNumber(1));
	*out = cJSON_CreateNumber(0);
	return 0;
}

static void test_errors(void)
{
	static e_probe plain;
	char dir[512];
	cJSON *out = NULL;
	wf_actor *a = NULL;
	e_probe_reset(&plain);
	wf_engine *e = e_fresh(dir, "errors", WF_SYNC_NONE);
	wf_actor_class *c = a_class(e, "Acct", acct_init, &acct_init_calls);
	wf_step *dep = a_method(e, c, "dep", acct_dep, &dep_calls,
	                        WF_METHOD_WRITER);
	wf_step *boom = a_method(e, c, "boom", acct_boom, &boom_calls,
	                         WF_METHOD_WRITER);
	wf_actor_class *other = a_class(e, "Other", other_init, NULL);
	wf_step *om = a_method(e, other, "other_m", other_m, NULL,
	                       WF_METHOD_WRITER);
	wf_step *plain_step = e_define(e, "plain_step", e_step_add, &plain, NULL);

	/* Bad definitions. */
	CHECK_ERC(e, wf_actor_class_define(e, "", acct_init, NULL, NULL),
	          WF_EINVAL);
	CHECK_ERC(e, wf_actor_method_define(c, "", acct_dep, NULL,
	                                    WF_METHOD_WRITER, NULL, NULL),
	          WF_EINVAL);
	CHECK_ERC(e, wf_actor_method_define(c, "odd_kind", acct_dep, NULL, 7,
	                                    NULL, NULL),
	          WF_EINVAL);

	/* An unknown actor. */
	t_context("errors: unknown actor");
	CHECK_ERC(e, wf_actor_get(c, "no_such_actor", &a), WF_ENOTFOUND);
	CHECK(a == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "no_such_actor");

	/* A plain workflow's id is not an actor. */
	t_context("errors: a plain workflow's id");
	CHECK_E(e, wf_run(e, e_node(plain_step, NULL, "[1, 2]"), "plain_wf", NULL,
	                  &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	out = NULL;
	CHECK_ERC(e, wf_actor_get(c, "plain_wf", &a), WF_EINVAL);
	CHECK(a == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "plain_wf");
	cJSON *args = e_json("[1]");
	CHECK_ERC(e, wf_actor_get_or_create(c, "plain_wf", args, &a), WF_EINVAL);
	CHECK(a == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "plain_wf");
	CHECK_EQ_I64(atomic_load(&acct_init_calls), 0);
	CHECK_STATUS(e, "plain_wf", WF_STATUS_SUCCESSFUL);
	CHECK_E(e, wf_get_output(e, "plain_wf", &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	out = NULL;

	/* Bad ids and init args: nothing is created. */
	t_context("errors: bad ids and args");
	CHECK_ERC(e, wf_actor_get_or_create(c, "", args, &a), WF_EINVAL);
	CHECK(a == NULL);
	CHECK_ERC(e, wf_actor_get_or_create(c, "bad\nid", args, &a), WF_EINVAL);
	CHECK(a == NULL);
	cJSON *not_array = e_json("{\"bal\": 1}");
	CHECK_ERC(e, wf_actor_get_or_create(c, "not_array", not_array, &a),
	          WF_EINVAL);
	CHECK(a == NULL);
	cJSON_Delete(not_array);
	CHECK_EQ_I64(atomic_load(&acct_init_calls), 0);
	CHECK_EQ_I64(e_status(e, "not_array"), WF_STATUS_NONE);

	/* An actor of another class. */
	t_context("errors: another class");
	a = a_goc(e, c, "err_actor", "[100]");
	CHECK_EQ_I64(atomic_load(&acct_init_calls), 1);
	wf_actor *wrong = NULL;
	CHECK_ERC(e, wf_actor_get(other, "err_actor", &wrong), WF_EINVAL);
	CHECK(wrong == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "err_actor");
	CHECK_ERC(e, wf_actor_get_or_create(other, "err_actor", NULL, &wrong),
	          WF_EINVAL);
	CHECK(wrong == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "err_actor");
	cJSON_Delete(args);

	/* Calls that are not calls of this class's methods: refused, nothing
	 * runs, nothing is recorded. */
	t_context("errors: bad calls");
	cJSON *wm_before = e_meta(e, "err_actor", NULL);
	CHECK_ERC(e, wf_actor_call(a, e_node(plain_step, NULL, "[1, 2]"), &out),
	          WF_EINVAL);
	CHECK(out == NULL);
	CHECK_ERRMSG_NAMES(e, "plain_step", "err_actor");
	CHECK_ERC(e, wf_actor_call(a, e_node(om, NULL, NULL), &out), WF_EINVAL);
	CHECK(out == NULL);
	CHECK_ERRMSG_NAMES(e, "other_m", "err_actor");
	wf_future *f = NULL;
	int rc = wf_actor_call_async(a, e_node(plain_step, NULL, "[1, 2]"), &f);
	if (rc == 0)
		rc = wf_future_wait(f, NULL);
	CHECK_ERC(e, rc, WF_EINVAL);
	wf_future_free(f);
	f = NULL;
	/* A node argument (the method's arguments must be JSON): refused by
	 * wf_node_arg_node already, or by the call. */
	wf_node *n = e_node(dep, NULL, NULL);
	rc = wf_node_arg_node(n, e_node(plain_step, NULL, "[1, 2]"));
	if (rc == 0) {
		CHECK_ERC(e, wf_actor_call(a, n, &out), WF_EINVAL);
		CHECK(out == NULL);
		CHECK_ERRMSG_NAMES(e, "dep", "err_actor");
	} else {
		CHECK_RC(rc, WF_EINVAL);
		wf_node_free(n);
	}
	CHECK_EQ_I64(atomic_load(&plain.calls), 1); /* plain_wf's, only */
	CHECK_EQ_I64(atomic_load(&dep_calls), 0);
	CHECK_NO_STEP(e, "err_actor", "plain_step");
	CHECK_NO_STEP(e, "err_actor", "other_m");
	CHECK_NO_STEP(e, "err_actor", "dep");
	CHECK_STATE(e, a, "{\"bal\": 100}");
	cJSON *wm_after = e_meta(e, "err_actor", NULL);
	CHECK_JSON_SAME(wm_after, wm_before);
	cJSON_Delete(wm_after);
	cJSON_Delete(wm_before);

	/* A failed writer call: WF_EFAILED with the method's error, tried
	 * once (max_retries 0), the state unchanged, the actor FAILED; the
	 * next call works. */
	t_context("errors: a failed call");
	CHECK_ERC(e, wf_actor_call(a, e_node(boom, NULL, NULL), &out), WF_EFAILED);
	CHECK(out == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "insufficient funds");
	CHECK_EQ_I64(atomic_load(&boom_calls), 1);
	CHECK_STATE(e, a, "{\"bal\": 100}");
	CHECK_STATUS(e, "err_actor", WF_STATUS_FAILED);
	cJSON *m = e_meta(e, "err_actor", "boom");
	CHECK(strcmp(e_str(m, "step_options.step_type"), "ACTOR_METHOD") == 0);
	CHECK_EQ_I64(e_num(m, "step_options.max_retries"), 0);
	CHECK_HAS(m, "stats.start_time");
	cJSON_Delete(m);
	out = a_call(e, a, e_node(dep, NULL, "[5]"));
	CHECK_OUT_NUM(out, 105);
	cJSON_Delete(out);
	out = NULL;
	CHECK_STATUS(e, "err_actor", WF_STATUS_SUCCESSFUL);
	CHECK_STATE(e, a, "{\"bal\": 105}");
	/* With max_retries=2 it is tried three times, and still changes
	 * nothing. */
	wf_step_options r2 = WF_STEP_OPTIONS_INIT;
	r2.max_retries = 2;
	CHECK_ERC(e, wf_actor_call(a, e_node(boom, &r2, NULL), &out), WF_EFAILED);
	CHECK(out == NULL);
	CHECK_EQ_I64(atomic_load(&boom_calls), 4);
	CHECK_STATE(e, a, "{\"bal\": 105}");
	CHECK_STATUS(e, "err_actor", WF_STATUS_FAILED);
	out = a_call(e, a, e_node(dep, NULL, "[1]"));
	CHECK_OUT_NUM(out, 106);
	cJSON_Delete(out);
	out = NULL;
	CHECK_STATUS(e, "err_actor", WF_STATUS_SUCCESSFUL);

	/* An init that refuses: WF_EFAILED with its message, and no actor. */
	t_context("errors: init refuses");
	int init_before = atomic_load(&acct_init_calls);
	wf_actor *neg = NULL;
	cJSON *neg_args = e_json("[-1]");
	CHECK_ERC(e, wf_actor_get_or_create(c, "neg_actor", neg_args, &neg),
	          WF_EFAILED);
	cJSON_Delete(neg_args);
	CHECK(neg == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "negative opening balance");
	CHECK_EQ_I64(atomic_load(&acct_init_calls), init_before + 1);
	CHECK_ERC(e, wf_actor_get(c, "neg_actor", &neg), WF_ENOTFOUND);
	CHECK(neg == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "neg_actor");
	CHECK_EQ_I64(e_status(e, "neg_actor"), WF_STATUS_NONE);
	cJSON *ids = e_list_ids(e, WF_STATUS_ALL);
	CHECK_MSG(!ids_have(ids, "neg_actor"), "wf_list_all: %s", e_text(ids));
	CHECK_MSG(ids_have(ids, "err_actor") && ids_have(ids, "plain_wf"),
	          "wf_list_all: %s", e_text(ids));
	cJSON_Delete(ids);
	/* The id is free: a good init creates it. */
	neg = a_goc(e, c, "neg_actor", "[1]");
	CHECK_STATE(e, neg, "{\"bal\": 1}");
	wf_actor_free(neg);

	/* wf_ctx_state outside a method. */
	t_context("errors: wf_ctx_state outside a method");
	wf_step *os = e_define(e, "outside", outside, NULL, NULL);
	CHECK_E(e, wf_run(e, e_node(os, NULL, NULL), "outside_wf", NULL, NULL));
	CHECK_EQ_I64(state_outside_null, 1);
	CHECK_RC(set_state_outside_rc, WF_EINVAL);

	wf_actor_free(a);
	wf_actor_free(NULL); /* NULL ok */
	e_close(e);
}

int main(void)
{
	char dir[512];

	/* First: it forks, and the parent must not have threads yet. */
	t_context("crash during a writer call");
	test_crash();

	wf_engine *e = e_fresh(dir, "seed", WF_SYNC_NONE);
	t_context("seed: Actor");
	test_seed_actor(e);
	t_context("seed: Counter");
	test_seed_counter(e);
	t_context("list_all, resume and get_output of idle actors");
	test_list_resume(e);
	e_close(e);

	t_context("readonly methods");
	test_readonly();
	t_context("%d threads x %d calls on one actor", NT,
	          (int)(1000 * t_scale()));
	test_concurrency();
	t_context("get_or_create of an existing actor");
	test_init_once();
	t_context("%d actors across a reopen", N_MANY);
	test_many();
	t_context("journal growth with a 1 MB state");
	test_growth();
	t_context("errors");
	test_errors();
	return 0;
}
