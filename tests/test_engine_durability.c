/*
 * Durability across processes and engines.
 *
 *  - crash: a child process runs a 3-step chain a -> b -> c whose c blocks
 *    (after telling the parent through a pipe), and a second workflow
 *    blocked the same way; the parent SIGKILLs it, opens the directory:
 *    both workflows are RESUMABLE (wf_get_status and get_metadata agree),
 *    get_output says WF_EIO, a and b are checkpointed; with the same steps
 *    defined, wf_resume finishes SUCCESSFUL without running a and b again
 *    in the parent, the metadata shows both attempts; resume_all(0) picks
 *    up the other one. WF_SYNC_ALWAYS.
 *  - reopen: close and open again: every get_metadata answer (workflow and
 *    steps, of successful, failed, caught, cancelled, resumed, dynamic and
 *    deleted workflows), the list and the outputs are identical.
 *  - a dynamic workflow that failed deep in its continuations resumes in a
 *    new engine by running only the failed step: no step runs twice, no
 *    new step ids (the name counter survived).
 *  - a step not defined in the resuming process: WF_ENOTFOUND naming it,
 *    nothing changes; once defined, the resume works.
 *  - undecodable tail: the last frame's payload replaced by bytes that are
 *    not zstd, and its checksum recomputed (what only a writer bug could
 *    leave): wf_open refuses the journal as damaged, naming the file and
 *    the frame's offset, and changes no byte of it (the engine's open does not
 *    decode the tail twice, so its replay is what must catch this).
 */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <xxhash.h>

#include "engine_util.h"

/* ---- crash ------------------------------------------------------------------- */

static int signal_fd = -1;

/* In the child: tell the parent, then block (until cancel or close). */
static int c_blocks(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)args;
	(void)udata;
	char b = 'c';
	if (write(signal_fd, &b, 1) != 1)
		_exit(4);
	wf_ctx_sleep(ctx, 1000);
	*out = cJSON_CreateNumber(-1);
	return 0;
}

static void crash_child(const char *dir)
{
	wf_engine *e = e_open(dir, WF_SYNC_ALWAYS);
	wf_step *a = e_define(e, "a", e_step_add, NULL, NULL);
	wf_step *b = e_define(e, "b", e_step_add, NULL, NULL);
	wf_step *c = e_define(e, "c", c_blocks, NULL, NULL);
	cJSON *md = e_json("{\"from\": \"child\"}");
	wf_future *f = NULL;

	/* crash_2: c(5, 100), blocked in c. */
	CHECK_E(e, wf_run_async(e, e_node(c, NULL, "[5, 100]"), "crash_2", NULL,
	                        &f));
	/* crash_1: c(b(a(1, 1), 10), 100), blocked in c. */
	wf_node *na = e_node(a, NULL, "[1, 1]");
	wf_node *nb = e_node(b, NULL, NULL);
	e_arg_node(nb, na);
	CHECK_OK(wf_node_arg_json(nb, "10"));
	wf_node *nc = e_node(c, NULL, NULL);
	e_arg_node(nc, nb);
	CHECK_OK(wf_node_arg_json(nc, "100"));
	wf_run(e, nc, "crash_1", md, NULL);
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

static e_probe pa, pb, pc;

static void test_crash(void)
{
	char dir[512], buf[2];
	int fds[2];
	int status;
	t_subdir(dir, sizeof dir, "crash");
	CHECK(pipe(fds) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		signal_fd = fds[1];
		crash_child(dir);
	}
	close(fds[1]);
	size_t got = read_within(fds[0], buf, 2);
	if (got < 2) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		t_fail(__FILE__, __LINE__,
		       "the child signalled %zu of 2 blocked steps (exit status "
		       "0x%x)",
		       got, status);
	}
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(fds[0]);

	/* The parent opens the directory: both RESUMABLE. */
	wf_engine *e = e_open(dir, WF_SYNC_ALWAYS);
	CHECK_STATUS(e, "crash_1", WF_STATUS_RESUMABLE);
	CHECK_STATUS(e, "crash_2", WF_STATUS_RESUMABLE);
	cJSON *l = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_RESUMABLE));
	CHECK_JSON(l, "[\"crash_1\", \"crash_2\"]");
	cJSON_Delete(l);
	l = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_RUNNING));
	CHECK_JSON(l, "[]");
	cJSON_Delete(l);
	cJSON *out = NULL;
	CHECK_ERC(e, wf_get_output(e, "crash_1", &out), WF_EIO);
	CHECK(out == NULL);

	/* What the child journaled: a and b done, c started only. */
	cJSON *before = e_meta(e, "crash_1", NULL);
	CHECK_JSON(e_get(before, "user_metadata"), "{\"from\": \"child\"}");
	CHECK_HAS(before, "stats.start_time");
	CHECK_HAS_NOT(before, "stats.end_time");
	CHECK_EQ_I64(e_array_len(before, "attempts"), 1);
	cJSON *m = e_meta(e, "crash_1", "a");
	CHECK_HAS(m, "stats.end_time");
	cJSON_Delete(m);
	m = e_meta(e, "crash_1", "b");
	CHECK_HAS(m, "stats.end_time");
	cJSON_Delete(m);
	m = e_meta(e, "crash_1", "c");
	CHECK_HAS(m, "stats.start_time");
	CHECK_HAS_NOT(m, "stats.end_time");
	cJSON_Delete(m);

	/* The same steps, defined in the parent, counting calls here. */
	e_define(e, "a", e_step_add, &pa, NULL);
	e_define(e, "b", e_step_add, &pb, NULL);
	e_define(e, "c", e_step_add, &pc, NULL);
	CHECK_E(e, wf_resume(e, "crash_1", &out));
	CHECK_OUT_NUM(out, 112);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&pa.calls), 0);
	CHECK_EQ_I64(atomic_load(&pb.calls), 0);
	CHECK_EQ_I64(atomic_load(&pc.calls), 1);
	CHECK_STATUS(e, "crash_1", WF_STATUS_SUCCESSFUL);

	cJSON *after = e_meta(e, "crash_1", NULL);
	CHECK_JSON(e_get(after, "user_metadata"), "{\"from\": \"child\"}");
	CHECK_EQ_I64(e_array_len(after, "attempts"), 2);
	CHECK(e_num(after, "stats.start_time") >
	      e_num(before, "stats.start_time"));
	CHECK_HAS(after, "stats.end_time");
	cJSON_Delete(before);
	cJSON_Delete(after);
	m = e_meta(e, "crash_1", "a");
	CHECK_EQ_I64(e_array_len(m, "attempts"), 1);
	cJSON_Delete(m);
	m = e_meta(e, "crash_1", "b");
	CHECK_EQ_I64(e_array_len(m, "attempts"), 1);
	cJSON_Delete(m);
	/* c: the child's attempt (never ended) and the parent's. */
	m = e_meta(e, "crash_1", "c");
	CHECK_EQ_I64(e_array_len(m, "attempts"), 2);
	CHECK_HAS(m, "stats.end_time");
	cJSON_Delete(m);

	/* resume_all(include_failed=0) takes the other RESUMABLE one. */
	cJSON *ids = NULL;
	size_t count = 0;
	CHECK_E(e, wf_resume_all(e, 0, &ids, &count));
	CHECK_EQ_U64(count, 1);
	CHECK_JSON(ids, "[\"crash_2\"]");
	cJSON_Delete(ids);
	CHECK_E(e, wf_get_output(e, "crash_2", &out));
	CHECK_OUT_NUM(out, 105);
	cJSON_Delete(out);
	CHECK_STATUS(e, "crash_2", WF_STATUS_SUCCESSFUL);
	CHECK_EQ_I64(atomic_load(&pc.calls), 2);
	e_close(e);

	/* And that is durable too. */
	e = e_open(dir, WF_SYNC_ALWAYS);
	CHECK_STATUS(e, "crash_1", WF_STATUS_SUCCESSFUL);
	CHECK_STATUS(e, "crash_2", WF_STATUS_SUCCESSFUL);
	CHECK_E(e, wf_get_output(e, "crash_1", &out));
	CHECK_OUT_NUM(out, 112);
	cJSON_Delete(out);
	e_close(e);
}

/* ---- reopen -------------------------------------------------------------- */

static atomic_int grow_fail;
static atomic_int grow_calls;
static char grow_last_id[64];
static wf_step *grow_step;

/* grow(n): n > 0: continue with grow(n - 1) (named "grow", metadata
 * {"n": n - 1}, no retries); n == 0: "done", or a failure while grow_fail. */
static int grow(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	int n = (int)cJSON_GetArrayItem(args, 0)->valuedouble;
	atomic_fetch_add(&grow_calls, 1);
	snprintf(grow_last_id, sizeof grow_last_id, "%s", wf_ctx_step_id(ctx));
	if (n > 0) {
		wf_step_options o = WF_STEP_OPTIONS_INIT;
		wf_node *next = NULL;
		cJSON *md = cJSON_CreateObject();
		cJSON_AddNumberToObject(md, "n", n - 1);
		o.name = "grow";
		o.metadata = md;
		o.max_retries = 0;
		int rc = wf_node_new(&next, grow_step, &o);
		cJSON_Delete(md);
		if (rc == 0) {
			cJSON *a = cJSON_CreateNumber(n - 1);
			rc = wf_node_arg(next, a);
			cJSON_Delete(a);
		}
		if (rc != 0) {
			wf_node_free(next);
			return wf_ctx_fail(ctx, "building grow(%d): %d", n - 1, rc);
		}
		return wf_ctx_continue(ctx, next);
	}
	if (atomic_load(&grow_fail))
		return wf_ctx_fail(ctx, "grow failed at the bottom");
	*out = cJSON_CreateString("done");
	return 0;
}

static int always_fails(wf_ctx *ctx, const cJSON *args, void *udata,
                        cJSON **out)
{
	(void)args;
	(void)udata;
	(void)out;
	return wf_ctx_fail(ctx, "failure %d of %s", wf_ctx_attempt(ctx),
	                   wf_ctx_step_id(ctx));
}

/* Everything readable about these workflows, as one JSON object:
 * {"list": [...], "<id>": metadata, "<id>/<step>": metadata,
 *  "<id>:output": output or the error code}. */
static const char *const snap_wfs[] = {"r_ok",      "r_failed",  "r_caught",
                                       "r_cancel",  "r_resumed", "r_grow",
                                       "r_deleted", NULL};
static const char *const snap_steps[] = {
	"r_ok/add",        "r_ok/add_1",         "r_ok/add_2",
	"r_failed/fails",  "r_failed/add",       "r_caught/fails",
	"r_cancel/block",  "r_resumed/add",      "r_resumed/add_1",
	"r_grow/grow",     "r_grow/grow_1",      "r_grow/grow_2",
	"r_grow/grow_3",   NULL};

static cJSON *snapshot(wf_engine *e)
{
	cJSON *s = cJSON_CreateObject(), *l = NULL;
	CHECK_E(e, wf_list_all(e, WF_STATUS_ALL, &l));
	cJSON_AddItemToObject(s, "list", l);
	for (const char *const *w = snap_wfs; *w; w++) {
		cJSON *m = NULL, *out = NULL;
		char key[128];
		int rc = wf_get_metadata(e, *w, NULL, &m);
		CHECK(rc == 0 || rc == WF_ENOTFOUND);
		cJSON_AddItemToObject(s, *w, m ? m : cJSON_CreateNumber(rc));
		rc = wf_get_output(e, *w, &out);
		snprintf(key, sizeof key, "%s:output", *w);
		cJSON_AddItemToObject(s, key, rc == 0 ? out : cJSON_CreateNumber(rc));
	}
	for (const char *const *p = snap_steps; *p; p++) {
		char id[64];
		const char *slash = strchr(*p, '/');
		snprintf(id, sizeof id, "%.*s", (int)(slash - *p), *p);
		cJSON *m = NULL;
		int rc = wf_get_metadata(e, id, slash + 1, &m);
		CHECK(rc == 0 || rc == WF_ENOTFOUND);
		cJSON_AddItemToObject(s, *p, m ? m : cJSON_CreateNumber(rc));
	}
	return s;
}

static void test_reopen(void)
{
	char dir[512];
	static e_probe addp, blockp;
	cJSON *out = NULL;
	wf_engine *e = e_fresh(dir, "reopen", WF_SYNC_NONE);
	wf_step *add = e_define(e, "add", e_step_add, &addp, NULL);
	wf_step *fails = e_define(e, "fails", always_fails, NULL, NULL);
	wf_step *block = e_define(e, "block", e_step_block, &blockp, NULL);
	grow_step = e_define(e, "grow", grow, NULL, NULL);
	e_probe_reset(&addp);
	e_probe_reset(&blockp);

	/* r_ok: add(add(1, 2), add(3, 4)) with metadata everywhere. */
	cJSON *wmd = e_json("{\"w\": {\"x\": [1, 2.5, \"\\u00e9\", null]}}");
	cJSON *m1, *m2, *m3;
	wf_step_options o1 = e_opts(NULL, "{\"s\": 0}", &m1);
	wf_step_options o2 = e_opts(NULL, "{\"s\": 1}", &m2);
	wf_step_options o3 = e_opts(NULL, "{\"s\": 2, \"t\": true}", &m3);
	wf_node *n = e_node(add, &o1, NULL);
	e_arg_node(n, e_node(add, &o2, "[1, 2]"));
	e_arg_node(n, e_node(add, &o3, "[3, 4]"));
	cJSON_Delete(m1);
	cJSON_Delete(m2);
	cJSON_Delete(m3);
	CHECK_E(e, wf_run(e, n, "r_ok", wmd, NULL));
	cJSON_Delete(wmd);

	/* r_failed: add(fails()) with max_retries=2: 3 failed attempts. */
	wf_step_options r2 = WF_STEP_OPTIONS_INIT;
	r2.max_retries = 2;
	n = e_node(add, NULL, NULL);
	e_arg_node(n, e_node(fails, &r2, NULL));
	CHECK_ERC(e, wf_run(e, n, "r_failed", NULL, NULL), WF_EFAILED);

	/* r_caught: catch_exceptions. */
	wf_step_options ce = WF_STEP_OPTIONS_INIT;
	ce.catch_exceptions = 1;
	ce.max_retries = 0;
	CHECK_E(e, wf_run(e, e_node(fails, &ce, NULL), "r_caught", NULL, NULL));

	/* r_cancel: cancelled while blocked. */
	wf_future *f = NULL;
	CHECK_E(e, wf_run_async(e, e_node(block, NULL, NULL), "r_cancel", NULL,
	                        &f));
	e_wait_flag(&blockp.calls, 1, "block to start");
	CHECK_E(e, wf_cancel(e, "r_cancel"));
	CHECK_RC(wf_future_wait(f, NULL), WF_ECANCELED);
	wf_future_free(f);
	e_wait_flag(&blockp.returned, 1, "block to return");

	/* r_resumed: failed, then resumed. */
	atomic_store(&addp.fail, 1);
	n = e_node(add, NULL, NULL);
	e_arg_node(n, e_node(add, NULL, "[5, 6]"));
	CHECK_ERC(e, wf_run(e, n, "r_resumed", NULL, NULL), WF_EFAILED);
	atomic_store(&addp.fail, 0);
	CHECK_E(e, wf_resume(e, "r_resumed", &out));
	CHECK_OUT_NUM(out, 11);
	cJSON_Delete(out);

	/* r_grow: grow(3) -> grow_1 .. grow_3, which fails. */
	atomic_store(&grow_fail, 1);
	atomic_store(&grow_calls, 0);
	CHECK_ERC(e, wf_run(e, e_node(grow_step, NULL, "[3]"), "r_grow", NULL,
	                    NULL),
	          WF_EFAILED);
	CHECK_EQ_I64(atomic_load(&grow_calls), 4);
	CHECK(strcmp(grow_last_id, "grow_3") == 0);

	/* r_deleted: deleted; stays deleted. */
	CHECK_E(e, wf_run(e, e_node(add, NULL, "[1]"), "r_deleted", NULL, NULL));
	CHECK_E(e, wf_delete(e, "r_deleted"));

	cJSON *before = snapshot(e);
	e_close(e);

	/* Reopen: identical answers, without defining any step. */
	e = e_open(dir, WF_SYNC_NONE);
	cJSON *after = snapshot(e);
	if (!cJSON_Compare(before, after, 1)) {
		/* Name the first difference. */
		cJSON *it;
		cJSON_ArrayForEach(it, before)
		{
			cJSON *o = cJSON_GetObjectItemCaseSensitive(after, it->string);
			if (!o || !cJSON_Compare(it, o, 1))
				t_fail(__FILE__, __LINE__,
				       "after reopen, %s differs:\n  before %s\n  after  %s",
				       it->string, e_text(it), e_text(o));
		}
		t_fail(__FILE__, __LINE__, "after reopen: extra keys %s",
		       e_text(after));
	}
	/* Spot checks of what the snapshot holds. */
	CHECK_JSON(e_get(before, "r_deleted"), "-6"); /* WF_ENOTFOUND */
	CHECK_JSON(e_get(before, "r_ok:output"), "10");
	CHECK_JSON(e_get(before, "r_cancel:output"), "-10"); /* WF_ECANCELED */
	CHECK(strcmp(e_str(before, "r_failed.status"), "FAILED") == 0);
	CHECK(strcmp(e_str(before, "r_cancel.status"), "CANCELED") == 0);
	CHECK_EQ_I64(e_array_len(e_get(before, "r_failed/fails"), "attempts"), 3);
	CHECK_EQ_I64(e_array_len(e_get(before, "r_resumed"), "attempts"), 2);
	CHECK_JSON(e_get(e_get(before, "r_ok/add_2"), "user_metadata"),
	           "{\"s\": 2, \"t\": true}");
	CHECK_JSON(e_get(e_get(before, "r_grow/grow_2"), "user_metadata"),
	           "{\"n\": 1}");
	cJSON_Delete(before);
	cJSON_Delete(after);

	/* r_grow resumes in this engine: only grow_3 runs again; the name
	 * counter survived (no grow_4). */
	grow_step = e_define(e, "grow", grow, NULL, NULL);
	atomic_store(&grow_fail, 0);
	atomic_store(&grow_calls, 0);
	CHECK_E(e, wf_resume(e, "r_grow", &out));
	CHECK_JSON(out, "\"done\"");
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&grow_calls), 1);
	CHECK(strcmp(grow_last_id, "grow_3") == 0);
	cJSON *none = NULL;
	CHECK_ERC(e, wf_get_metadata(e, "r_grow", "grow_4", &none),
	          WF_ENOTFOUND);
	cJSON *m = e_meta(e, "r_grow", "grow_3");
	CHECK_EQ_I64(e_array_len(m, "attempts"), 2);
	cJSON_Delete(m);
	CHECK_STATUS(e, "r_grow", WF_STATUS_SUCCESSFUL);

	/* r_deleted's id is free in the new engine as well. */
	e_probe_reset(&addp);
	wf_step *add2 = e_define(e, "add", e_step_add, &addp, NULL);
	CHECK_E(e, wf_run(e, e_node(add2, NULL, "[40, 2]"), "r_deleted", NULL,
	                  &out));
	CHECK_OUT_NUM(out, 42);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&addp.calls), 1);
	e_close(e);
}

/* ---- a step the resuming process does not define --------------------------- */

static void test_missing_step(void)
{
	char dir[512];
	cJSON *out = NULL;
	static e_probe alpha_a, alpha_b, beta_b;
	e_probe_reset(&alpha_a);
	e_probe_reset(&alpha_b);
	e_probe_reset(&beta_b);

	/* Engine A: beta(alpha(1, 2)); beta fails. */
	wf_engine *e = e_fresh(dir, "missing", WF_SYNC_NONE);
	wf_step *alpha = e_define(e, "alpha", e_step_add, &alpha_a, NULL);
	wf_step *beta = e_define(e, "beta", always_fails, NULL, NULL);
	wf_step_options once = WF_STEP_OPTIONS_INIT;
	once.max_retries = 0;
	wf_node *n = e_node(beta, &once, NULL);
	e_arg_node(n, e_node(alpha, NULL, "[1, 2]"));
	CHECK_ERC(e, wf_run(e, n, "needs_beta", NULL, NULL), WF_EFAILED);
	CHECK_EQ_I64(atomic_load(&alpha_a.calls), 1);
	e_close(e);

	/* Engine B defines only alpha. */
	e = e_open(dir, WF_SYNC_NONE);
	e_define(e, "alpha", e_step_add, &alpha_b, NULL);
	CHECK(wf_step_find(e, "beta") == NULL);
	cJSON *before = e_meta(e, "needs_beta", NULL);
	CHECK_ERC(e, wf_resume(e, "needs_beta", &out), WF_ENOTFOUND);
	CHECK(out == NULL);
	CHECK_CONTAINS(wf_errmsg(e), "beta");
	wf_future *f = NULL;
	int rc = wf_resume_async(e, "needs_beta", &f);
	if (rc == 0)
		rc = wf_future_wait(f, NULL);
	CHECK_ERC(e, rc, WF_ENOTFOUND);
	wf_future_free(f);

	/* Nothing changed. */
	CHECK_STATUS(e, "needs_beta", WF_STATUS_FAILED);
	cJSON *after = e_meta(e, "needs_beta", NULL);
	CHECK_JSON_SAME(after, before);
	cJSON_Delete(before);
	cJSON_Delete(after);
	CHECK_EQ_I64(atomic_load(&alpha_b.calls), 0);

	/* Once beta is defined (a working one), the resume works, and alpha
	 * (checkpointed in engine A) does not run again. */
	e_define(e, "beta", e_step_add, &beta_b, NULL);
	CHECK_E(e, wf_resume(e, "needs_beta", &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	CHECK_EQ_I64(atomic_load(&alpha_b.calls), 0);
	CHECK_EQ_I64(atomic_load(&beta_b.calls), 1);
	CHECK_STATUS(e, "needs_beta", WF_STATUS_SUCCESSFUL);
	e_close(e);
}

/* ---- a checksum-valid tail that does not decode ---------------------------- */

static void test_undecodable_tail(void)
{
	char dir[512], jdir[600], seg[700];
	wf_engine *e = e_fresh(dir, "undecodable", WF_SYNC_ALWAYS);
	wf_step *add = e_define(e, "add", e_step_add, NULL, NULL);
	cJSON *out = NULL;
	CHECK_E(e, wf_run(e, e_node(add, NULL, "[1, 2]"), "w", NULL, &out));
	cJSON_Delete(out);
	e_close(e);

	snprintf(jdir, sizeof jdir, "%s/journal", dir);
	t_segs segs;
	t_list_segments(jdir, &segs);
	CHECK(segs.n >= 1);
	t_seg_path(seg, sizeof seg, jdir, &segs, segs.n - 1);
	size_t nf;
	t_frame *fr = t_frames(seg, &nf);
	CHECK(nf >= 2);
	const t_frame *last = &fr[nf - 1];
	CHECK(!(last->h.flags & WF_FRAME_RESET)); /* inside a zstd stream */
	size_t len;
	uint8_t *buf = t_read_file(seg, &len);
	uint64_t id = 0;
	for (int i = 7; i >= 0; i--)
		id = id << 8 | buf[32 + i];
	/* 0xff...: a zstd block header of the reserved type. */
	memset(buf + last->off + last->h.hdr_len, 0xff, last->h.comp_len);
	uint64_t sum = XXH3_64bits_withSeed(buf + last->off + WF_FRAME_SUM_START,
	                                    last->len - WF_FRAME_SUM_START, id);
	for (int i = 0; i < 8; i++)
		buf[last->off + 4 + i] = (uint8_t)(sum >> (8 * i));
	t_write_file(seg, buf, len);

	wf_engine *e2 = NULL;
	int rc = wf_open(&e2, dir, NULL);
	CHECK_RC(rc, WF_ECORRUPT);
	CHECK_CONTAINS(wf_errmsg(e2), segs.name[segs.n - 1]);
	CHECK(t_names_number(wf_errmsg(e2), last->off));
	wf_close(e2);
	size_t len2;
	uint8_t *buf2 = t_read_file(seg, &len2);
	CHECK_EQ_U64(len2, len);
	CHECK(memcmp(buf, buf2, len) == 0);
	free(buf);
	free(buf2);
	free(fr);
}

int main(void)
{
	/* First: it forks, and the parent must not have threads yet. */
	t_context("crash");
	test_crash();
	t_context("reopen");
	test_reopen();
	t_context("missing step");
	test_missing_step();
	t_context("undecodable tail");
	test_undecodable_tail();
	return 0;
}
