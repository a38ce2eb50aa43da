/*
 * wflow-torture crash: SIGKILL at random moments, then recovery (issue 7).
 *
 *   wflow-torture crash [--rounds N] [--long] [--seed S] [--wflow PATH]
 *
 * Each round is one kill and one recovery; --long is --rounds 5000 (about
 * 25 minutes here). Its figures come last, as name=value lines: crash_rounds
 * (rounds done), lost_commits (acknowledged results, cancels, actor
 * creations and actor increments that recovery did not find) and
 * reexecuted_steps (steps that ran again after their success was
 * committed). Both must be 0; any other failed check ends the run at once.
 * Exit 0: all held; 1: a check failed; 2: bad usage.
 *
 * How it works. Each round forks a child (the parent has no thread then)
 * that opens the engine on the round's directory with WF_SYNC_ALWAYS,
 * resumes whatever is RESUMABLE (and waits for it), then runs a seeded
 * random workload forever: small DAGs run in the background (chains and
 * fan-ins of up to 8 steps; steps that fail their first tries and succeed
 * on a retry, steps that always fail, caught or not, checkpoint=false
 * steps, dynamic continuations, short sleeps), cancels of workflows in
 * flight, and writer calls (some nested, some refused) on a few counter
 * actors. It tells the parent, over a pipe, what it is about to do and
 * what was acknowledged: one line per record, written with one write(2)
 * (shorter than PIPE_BUF, so whole or not at all):
 *
 *   R                      ready: open, resumed, actors created
 *   W id rc output         wf_future_wait (or wf_run) returned rc (and
 *                          the output)
 *   V id rc output         the same for a workflow or actor that
 *                          wf_resume_all resumed (from wf_get_output)
 *   c id / C id            about to cancel / wf_cancel returned 0
 *   N actor                wf_actor_get_or_create returned 0
 *   i actor k nest fail    about to call incr(k, nest, fail)
 *   A actor rc n           the call returned rc (and the new n)
 *
 * The parent reads until a seeded moment (15-215 ms after R; in one round
 * in ten, 0-40 ms after the fork, which lands in the child's open or its
 * resumes), SIGKILLs the child and reaps it. Then, with nothing running:
 *
 *  - `wflow verify --json DIR/journal` (--wflow) exits 0: no damage but
 *    at most a torn tail, no logical error (clock warnings are allowed);
 *  - the journal, read with wf_reader, ends cleanly (or at a torn tail);
 *  - wf_open succeeds, nothing is RUNNING, and wf_list_all agrees with the
 *    journal read directly (same ids; RESUMABLE exactly where the journal
 *    left a workflow RUNNING; otherwise the journaled status);
 *  - every acknowledged record holds, in the engine and in the journal:
 *    a workflow acknowledged SUCCESSFUL is, with that output; FAILED
 *    stays FAILED (or CANCELED, if a cancel was attempted); an
 *    acknowledged cancel is CANCELED; a created actor exists;
 *  - every workflow is what its id says it must be: a workflow's DAG is a
 *    function of its id and the seed (plan_node), so any SUCCESSFUL one
 *    has exactly the output the plan computes, a FAILED one has a step
 *    that always fails, uncaught, and a CANCELED one was cancelled by the
 *    child; acknowledged outputs are checked the same way;
 *  - each actor's n is exact: the acknowledged value, plus, for a call
 *    made but not acknowledged, none, all, or (nested call, interrupted:
 *    the actor RESUMABLE) a prefix of its increments;
 *  - most RESUMABLE workflows and actors are resumed by the parent and
 *    must end as planned (an actor with exactly the interrupted call's
 *    increments added); the others are left to the next child, whose
 *    resume results are checked from its records;
 *  - a step whose success was in the journal never runs again: every
 *    step execution appends "wf step try session pid" to a side file
 *    (O_APPEND, before the step does anything else), session being the
 *    index of its engine's session_started event in the journal; a line
 *    whose step has a step_succeeded event earlier than that session's
 *    start is a re-run of a committed step. checkpoint=false steps
 *    ("vol") are exempt. The lines of the child are checked at the next
 *    recovery, the parent's right after its resumes.
 *
 * Directories: most rounds continue the previous round's directory, so
 * the engine reopens a growing journal and its snapshots (snapshot_every
 * 100 or 200, or the default; small segments in some directories, so
 * that rollovers happen too); one round in eight, and every 30th round
 * of a directory, starts a fresh one.
 *
 * A lost commit is counted (every acknowledged record of the round is
 * still checked), and the run stops after that round: the parent's model
 * of the actors is no longer the journal's. A re-executed step is counted
 * and the run goes on.
 *
 * Options and environment: --rounds N (times WFLOW_TEST_SCALE, which the
 * meson test uses); without it WFLOW_CRASH_ROUNDS=N, else 200. --seed S,
 * else WFLOW_CRASH_SEED=S, reruns a seed (the workloads and kill delays;
 * what a kill interrupts still depends on timing); a failure prints the
 * seed and the round. --wflow: the wflow tool, by default the one in the
 * build directory (../wflow from this program's directory).
 */
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "tests/engine_util.h"
#include "torture/torture.h"
#include "replay/events.h"
#include "replay/map.h"

#define NACTORS 3
#define MAX_INFLIGHT 6
#define MAX_NODES 8
#define FRESH_EVERY 30 /* rounds at most in one directory */

static const char *wflow_bin;
static uint64_t g_seed;
static int g_side_fd = -1; /* the directory's step log (O_APPEND) */
static int g_sess;         /* index of this process's engine session */
static int g_pipe = -1;    /* in the child: the records' pipe */

/* The figures (see the top), printed last, also when a check fails. */
static int g_rounds_done;
static uint64_t g_lost, g_reexec;
static int g_round_lost; /* a lost commit in this round: stop after it */
static pid_t g_main_pid;
static int g_printed;

/* A lost commit or a re-executed step: counted and told (the first 20),
 * and the run goes on. */
static void finding(uint64_t *count, const char *fmt, ...) T_PRINTF(2, 3);
static void finding(uint64_t *count, const char *fmt, ...)
{
	va_list ap;
	(*count)++;
	if (g_lost + g_reexec > 20)
		return;
	fflush(stdout);
	fprintf(stderr, "FAIL (counted): ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  context: %s\n", t_ctx);
}

static void print_figures(void)
{
	if (getpid() != g_main_pid || g_printed)
		return;
	g_printed = 1;
	printf("crash_rounds=%d\nlost_commits=%" PRIu64
	       "\nreexecuted_steps=%" PRIu64 "\n",
	       g_rounds_done, g_lost, g_reexec);
	fflush(stdout);
}

/* ---- hashing ------------------------------------------------------------ */

static uint64_t h_str(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t h_mix(uint64_t x)
{
	return t_splitmix(&x);
}

static uint64_t h_step(const char *wf, const char *step)
{
	uint64_t h = h_str(0xcbf29ce484222325ull, wf);
	return h_mix(h_str(h_str(h, "/"), step) ^ g_seed);
}

/* ---- steps and the actor class (the same in child and parent) --------- */

enum { K_ADD, K_FLAKY, K_SLOW, K_BAD, K_DYN, K_VOL, K_COUNT };
static const char *const kind_name[K_COUNT] = {"add", "flaky", "slow",
                                               "bad", "dyn",   "vol"};
static int kind_id[K_COUNT] = {K_ADD, K_FLAKY, K_SLOW, K_BAD, K_DYN, K_VOL};
static wf_step *g_step[K_COUNT];
static wf_actor_class *g_cls;
static wf_step *g_incr;

/* Append "wf step try session pid" to the side file. */
static void side_log(const wf_ctx *ctx)
{
	char line[700];
	int n = snprintf(line, sizeof line, "%s %s %d %d %ld\n",
	                 wf_ctx_workflow_id(ctx), wf_ctx_step_id(ctx),
	                 wf_ctx_attempt(ctx), g_sess, (long)getpid());
	CHECK(n > 0 && (size_t)n < sizeof line);
	CHECK_MSG(write(g_side_fd, line, (size_t)n) == n, "side file: %s",
	          strerror(errno));
}

/* A step's argument as a number: a number; [x, null] (a caught success)
 * is x; [null, error] (a caught failure) is 100. @return 0, or -1. */
static int arg_num(const cJSON *a, double *v)
{
	if (cJSON_IsNumber(a)) {
		*v = a->valuedouble;
		return 0;
	}
	if (cJSON_IsArray(a) && cJSON_GetArraySize(a) == 2) {
		const cJSON *x = cJSON_GetArrayItem(a, 0);
		const cJSON *y = cJSON_GetArrayItem(a, 1);
		if (cJSON_IsNumber(x) && cJSON_IsNull(y)) {
			*v = x->valuedouble;
			return 0;
		}
		if (cJSON_IsNull(x) && cJSON_IsString(y)) {
			*v = 100;
			return 0;
		}
	}
	return -1;
}

/*
 * Every step: log the execution, sum the arguments, then by kind: add and
 * vol return sum + 1; flaky too, after failing its first h % 3 tries (h a
 * hash of workflow and step id; max_retries 2 covers it); slow sleeps 1-4
 * ms first; bad always fails ("boom"); dyn returns add(sum, flaky(sum)),
 * so its output is 2 sum + 2 (also with catch_exceptions: see plan_node).
 */
static int step_fn(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	int kind = *(const int *)udata;
	side_log(ctx);
	double sum = 0, v;
	const cJSON *it;
	cJSON_ArrayForEach(it, args)
	{
		if (arg_num(it, &v) < 0)
			return wf_ctx_fail(ctx, "unexpected argument");
		sum += v;
	}
	uint64_t h = h_step(wf_ctx_workflow_id(ctx), wf_ctx_step_id(ctx));
	switch (kind) {
	case K_BAD:
		return wf_ctx_fail(ctx, "boom");
	case K_FLAKY:
		if (wf_ctx_attempt(ctx) <= (int)(h % 3))
			return wf_ctx_fail(ctx, "flaky");
		break;
	case K_SLOW:
		wf_ctx_sleep(ctx, (double)(1 + h % 4) / 1000.0);
		break;
	case K_DYN: {
		wf_step_options fo = WF_STEP_OPTIONS_INIT;
		fo.max_retries = 2;
		wf_node *a = NULL, *f = NULL;
		cJSON *x = cJSON_CreateNumber(sum);
		int rc = x ? 0 : WF_ENOMEM;
		if (!rc)
			rc = wf_node_new(&a, g_step[K_ADD], NULL);
		if (!rc)
			rc = wf_node_new(&f, g_step[K_FLAKY], &fo);
		if (!rc)
			rc = wf_node_arg(f, x);
		if (!rc)
			rc = wf_node_arg(a, x);
		cJSON_Delete(x);
		if (!rc) {
			rc = wf_node_arg_node(a, f);
			f = NULL;
		}
		if (rc) {
			wf_node_free(a);
			wf_node_free(f);
			return wf_ctx_fail(ctx, "building the continuation: %d", rc);
		}
		return wf_ctx_continue(ctx, a);
	}
	default:
		break;
	}
	*out = cJSON_CreateNumber(sum + 1);
	return 0;
}

static int counter_init(const cJSON *args, void *udata, cJSON **state,
                        char *err, size_t errlen)
{
	(void)args;
	(void)udata;
	(void)err;
	(void)errlen;
	*state = cJSON_CreateObject();
	if (!*state || !cJSON_AddNumberToObject(*state, "n", 0))
		return 1;
	return 0;
}

/* A call incr(k, nest, fail), or NULL (out of memory). */
static wf_node *incr_node(double k, double nest, double fail)
{
	wf_node *n = NULL;
	if (wf_node_new(&n, g_incr, NULL) != 0)
		return NULL;
	double v[3] = {k, nest, fail};
	for (int i = 0; i < 3; i++) {
		cJSON *x = cJSON_CreateNumber(v[i]);
		int rc = x ? wf_node_arg(n, x) : WF_ENOMEM;
		cJSON_Delete(x);
		if (rc) {
			wf_node_free(n);
			return NULL;
		}
	}
	return n;
}

/* incr(k, nest, fail): fail: refuse (state unchanged). Else n += k, then
 * nest > 0: continue with incr(k, nest - 1, 0) (a nested call, its own
 * step); the result is the final n. */
static int incr(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	side_log(ctx);
	const cJSON *k = cJSON_GetArrayItem(args, 0);
	const cJSON *nest = cJSON_GetArrayItem(args, 1);
	const cJSON *fail = cJSON_GetArrayItem(args, 2);
	cJSON *n = cJSON_GetObjectItemCaseSensitive(wf_ctx_state(ctx), "n");
	if (!cJSON_IsNumber(k) || !cJSON_IsNumber(nest) ||
	    !cJSON_IsNumber(fail) || !cJSON_IsNumber(n))
		return wf_ctx_fail(ctx, "unexpected arguments or state");
	if (fail->valuedouble != 0)
		return wf_ctx_fail(ctx, "refused");
	cJSON_SetNumberHelper(n, n->valuedouble + k->valuedouble);
	if (nest->valuedouble > 0) {
		wf_node *c = incr_node(k->valuedouble, nest->valuedouble - 1, 0);
		if (!c)
			return wf_ctx_fail(ctx, "out of memory");
		return wf_ctx_continue(ctx, c);
	}
	*out = cJSON_CreateNumber(n->valuedouble);
	return 0;
}

static void define_all(wf_engine *e)
{
	for (int k = 0; k < K_COUNT; k++)
		g_step[k] = e_define(e, kind_name[k], step_fn, &kind_id[k], NULL);
	g_cls = NULL;
	CHECK_E(e, wf_actor_class_define(e, "counter", counter_init, NULL,
	                                 &g_cls));
	CHECK_E(e, wf_actor_method_define(g_cls, "incr", incr, NULL,
	                                  WF_METHOD_WRITER, NULL, &g_incr));
}

/* ---- plans: a workflow's DAG and outcome, from its id ------------------ */

typedef struct plan {
	uint64_t rng;
	int nodes; /* made so far */
	int fails; /* an uncaught "bad": the workflow ends FAILED */
	int build; /* also build the wf_nodes */
} plan;

static uint64_t p_next(plan *p)
{
	return t_splitmix(&p->rng);
}

/* A node and its arguments: the node in *out (if p->build) and the output
 * it must have (caller frees; JSON null for an uncaught failure). */
static cJSON *plan_node(plan *p, int depth, wf_node **out)
{
	uint64_t r = p_next(p) % 100;
	int kind = r < 30   ? K_ADD
	           : r < 52 ? K_FLAKY
	           : r < 70 ? K_SLOW
	           : r < 78 ? K_BAD
	           : r < 86 ? K_DYN
	           : r < 92 ? K_VOL
	                    : K_ADD;
	int catch_ex = (int)(p_next(p) % 100) < (kind == K_BAD ? 70 : 12);
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	o.catch_exceptions = catch_ex;
	if (kind == K_FLAKY)
		o.max_retries = 2;
	else if (kind == K_BAD)
		o.max_retries = (int)(p_next(p) % 2);
	if (kind == K_VOL)
		o.checkpoint = 0;
	wf_node *n = NULL;
	if (p->build)
		CHECK_OK(wf_node_new(&n, g_step[kind], &o));
	p->nodes++;
	int nchild = depth >= 3 ? 0 : (int)(p_next(p) % (depth == 0 ? 5 : 3));
	int nconst = (int)(p_next(p) % 3);
	double sum = 0, x;
	for (int i = 0; i < nchild && p->nodes < MAX_NODES; i++) {
		wf_node *c = NULL;
		cJSON *v = plan_node(p, depth + 1, &c);
		if (arg_num(v, &x) == 0)
			sum += x;
		cJSON_Delete(v);
		if (p->build)
			CHECK_OK(wf_node_arg_node(n, c));
	}
	for (int i = 0; i < nconst; i++) {
		double c = (double)(p_next(p) % 50);
		sum += c;
		if (p->build) {
			cJSON *cv = cJSON_CreateNumber(c);
			CHECK_OK(wf_node_arg(n, cv));
			cJSON_Delete(cv);
		}
	}
	if (out)
		*out = n;
	else
		wf_node_free(n);
	if (kind == K_BAD) {
		if (!catch_ex) {
			p->fails = 1;
			return cJSON_CreateNull();
		}
		cJSON *pair = cJSON_CreateArray();
		cJSON_AddItemToArray(pair, cJSON_CreateNull());
		cJSON_AddItemToArray(pair, cJSON_CreateString("boom"));
		return pair;
	}
	double val = kind == K_DYN ? 2 * sum + 2 : sum + 1;
	/* A continuation's output is the step's as is: catch_exceptions does
	 * not wrap it (what the engine does; wflow.h does not say). */
	if (!catch_ex || kind == K_DYN)
		return cJSON_CreateNumber(val);
	cJSON *pair = cJSON_CreateArray();
	cJSON_AddItemToArray(pair, cJSON_CreateNumber(val));
	cJSON_AddItemToArray(pair, cJSON_CreateNull());
	return pair;
}

/* Workflow id's expected output (caller frees) and *fails; with dag, its
 * DAG too. */
static cJSON *plan_workflow(const char *id, wf_node **dag, int *fails)
{
	plan p = {h_mix(h_str(0xcbf29ce484222325ull, id) ^ g_seed), 0, 0,
	          dag != NULL};
	cJSON *v = plan_node(&p, 0, dag);
	*fails = p.fails;
	return v;
}

static int is_actor_id(const char *id)
{
	return strncmp(id, "actor", 5) == 0;
}

/* ---- the child ----------------------------------------------------------- */

typedef struct dirstate dirstate;

static void rec(const char *fmt, ...) T_PRINTF(1, 2);
static void rec(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	CHECK(n > 0 && (size_t)n < sizeof buf - 1);
	buf[n++] = '\n';
	CHECK(write(g_pipe, buf, (size_t)n) == n);
}

/* rec("W id rc output"), or V for a resume's result. */
static void rec_result(char what, const char *id, int rc, const cJSON *out)
{
	char *s = out ? cJSON_PrintUnformatted(out) : NULL;
	rec("%c %s %d %s", what, id, rc, s ? s : "null");
	free(s);
}

static wf_engine *open_engine(const dirstate *d, unsigned workers);

typedef struct flight {
	wf_future *f;
	char id[64];
} flight;

static void child_main(const dirstate *d, const char *side, int round)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	g_side_fd = open(side, O_WRONLY | O_APPEND | O_CREAT, 0644);
	CHECK_MSG(g_side_fd >= 0, "%s: %s", side, strerror(errno));
	wf_engine *e = open_engine(d, 8);
	define_all(e);

	/* What the last engine left running, resumed and waited for. */
	cJSON *ids = NULL, *it;
	size_t count = 0;
	CHECK_E(e, wf_resume_all(e, 0, &ids, &count));
	cJSON_ArrayForEach(it, ids)
	{
		cJSON *out = NULL;
		int rc = wf_get_output(e, it->valuestring, &out);
		rec_result('V', it->valuestring, rc, out);
		cJSON_Delete(out);
	}
	cJSON_Delete(ids);
	wf_actor *actor[NACTORS];
	for (int a = 0; a < NACTORS; a++) {
		char id[32];
		snprintf(id, sizeof id, "actor%d", a);
		actor[a] = NULL;
		CHECK_E(e, wf_actor_get_or_create(g_cls, id, NULL, &actor[a]));
		rec("N %s", id);
	}
	rec("R");

	uint64_t rng = h_mix(g_seed ^ ((uint64_t)round << 20) ^ 0xc41d);
	flight fl[MAX_INFLIGHT];
	int nf = 0, next = 0;
	for (;;) {
		int r = (int)(t_splitmix(&rng) % 100);
		if (nf == 0 || (r < 40 && nf < MAX_INFLIGHT)) {
			char id[64];
			wf_node *dag = NULL;
			int fails;
			snprintf(id, sizeof id, "w%d.%d", round, next++);
			cJSON_Delete(plan_workflow(id, &dag, &fails));
			if (t_splitmix(&rng) % 8 == 0) {
				cJSON *out = NULL;
				int rc = wf_run(e, dag, id, NULL, &out);
				rec_result('W', id, rc, out);
				cJSON_Delete(out);
				continue;
			}
			CHECK_E(e, wf_run_async(e, dag, id, NULL, &fl[nf].f));
			snprintf(fl[nf].id, sizeof fl[nf].id, "%s", id);
			nf++;
		} else if (r < 72) {
			/* Mostly the oldest; sometimes another one. */
			int i = t_splitmix(&rng) % 3 ? 0
			                             : (int)(t_splitmix(&rng) % (unsigned)nf);
			cJSON *out = NULL;
			int rc = wf_future_wait(fl[i].f, &out);
			rec_result('W', fl[i].id, rc, out);
			cJSON_Delete(out);
			wf_future_free(fl[i].f);
			fl[i] = fl[--nf];
		} else if (r < 80) {
			int i = (int)(t_splitmix(&rng) % (unsigned)nf);
			rec("c %s", fl[i].id);
			int rc = wf_cancel(e, fl[i].id);
			if (rc == 0)
				rec("C %s", fl[i].id);
			else
				CHECK_ERC(e, rc, WF_EINVAL); /* it finished first */
		} else {
			int a = (int)(t_splitmix(&rng) % NACTORS);
			int k = 1 + (int)(t_splitmix(&rng) % 9);
			int nest = (int)(t_splitmix(&rng) % 4);
			int fail = t_splitmix(&rng) % 100 < 8;
			if (nest == 3)
				nest = 0;
			rec("i actor%d %d %d %d", a, k, nest, fail);
			wf_node *call = incr_node(k, nest, fail);
			CHECK(call != NULL);
			cJSON *out = NULL;
			int rc = wf_actor_call(actor[a], call, &out);
			rec("A actor%d %d %.17g", a, rc,
			    cJSON_IsNumber(out) ? out->valuedouble : -1.0);
			cJSON_Delete(out);
		}
	}
}

/* ---- the parent's bookkeeping -------------------------------------------- */

typedef struct actor_model {
	int exists;     /* creation acknowledged or seen */
	double n;       /* its committed n, as known */
	int pend;       /* a call was made, its result not known */
	int pend_fail;  /* ... a refused one */
	int pend_nest;  /* ... with this many nested calls */
	int started;    /* ... that is known to have started (RESUMABLE) */
	double pend_k;  /* ... adding k per step */
	int lost;       /* a commit of it was lost: not checked further */
} actor_model;

struct dirstate {
	int gen;
	char dir[512];
	char side[512];
	int age;             /* rounds run in it */
	uint64_t seg_size;   /* 0: the default */
	uint64_t snap_every; /* 0: the default */
	int next_sess;       /* session index of the next engine opened */
	uint64_t side_off;   /* side file checked up to here */
	actor_model act[NACTORS];
	wf_map cancel_intent; /* ids the children tried to cancel */
};

typedef struct stats {
	int rounds, dirs, early, torn;
	uint64_t acked, resumed_parent, resumed_child, left, side_lines, events,
	    notices, wfs, stale_tmp;
} stats;

static wf_engine *open_engine(const dirstate *d, unsigned workers)
{
	wf_config cfg = WF_CONFIG_INIT;
	cfg.durability = WF_SYNC_ALWAYS;
	cfg.workers = workers;
	cfg.segment_size = d->seg_size;
	cfg.snapshot_every = d->snap_every;
	wf_engine *e = NULL;
	int rc = wf_open(&e, d->dir, &cfg);
	if (rc != 0) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", e ? wf_errmsg(e) : "(no handle)");
		wf_close(e);
		t_fail(__FILE__, __LINE__, "wf_open(%s): %d (%s): %s", d->dir, rc,
		       wf_strerror(rc), msg);
	}
	return e;
}

static actor_model *model_of(dirstate *d, const char *id)
{
	int a = is_actor_id(id) ? atoi(id + 5) : -1;
	CHECK_MSG(a >= 0 && a < NACTORS, "unknown actor %s", id);
	return &d->act[a];
}

/* ---- the journal, read directly -------------------------------------------- */

typedef struct jwf {
	int status; /* as journaled (0: none yet) */
	int actor;
	char *output;
} jwf;

typedef struct jscan {
	wf_map wfs;  /* id -> jwf */
	wf_map succ; /* "wf step" -> seq of its first step_succeeded */
	uint64_t *sess_seq;
	long *sess_pid;
	size_t nsess, cap;
	uint64_t events, notices, last_seq;
	int torn;
} jscan;

static int has_segments(const char *jdir)
{
	DIR *dd = opendir(jdir);
	struct dirent *de;
	int n = 0;
	if (!dd)
		return 0;
	while ((de = readdir(dd)))
		if (strlen(de->d_name) ==
		        WF_SEG_NAME_DIGITS + strlen(WF_SEG_SUFFIX) &&
		    strcmp(de->d_name + WF_SEG_NAME_DIGITS, WF_SEG_SUFFIX) == 0)
			n++;
	closedir(dd);
	return n > 0;
}

static jwf *jwf_get(jscan *js, const char *id)
{
	jwf *w = wf_map_get(&js->wfs, id);
	if (!w) {
		w = calloc(1, sizeof *w);
		CHECK(w && wf_map_put(&js->wfs, id, w) == 0);
	}
	return w;
}

static void scan_journal(const dirstate *d, jscan *js)
{
	static t_damage dmg;
	char jdir[600], id[300], step[300];
	memset(js, 0, sizeof *js);
	memset(&dmg, 0, sizeof dmg);
	snprintf(jdir, sizeof jdir, "%s/journal", d->dir);
	if (!has_segments(jdir))
		return;
	wf_reader_opts o = WF_READER_OPTS_INIT;
	o.on_damage = t_on_damage;
	o.damage_ud = &dmg;
	wf_reader *r = t_open_reader(jdir, &o);
	const wf_event *ev;
	int rc;
	while ((rc = wf_reader_next(r, &ev)) > 0) {
		js->events++;
		js->last_seq = ev->seq;
		switch (ev->type) {
		case WF_EV_SESSION_STARTED:
			if (js->nsess == js->cap) {
				js->cap = js->cap ? 2 * js->cap : 64;
				js->sess_seq = realloc(js->sess_seq,
				                       js->cap * sizeof *js->sess_seq);
				js->sess_pid = realloc(js->sess_pid,
				                       js->cap * sizeof *js->sess_pid);
				CHECK(js->sess_seq && js->sess_pid);
			}
			CHECK(ev->nfields >= 2 && ev->fields[1].kind == WF_FIELD_UINT);
			js->sess_seq[js->nsess] = ev->seq;
			js->sess_pid[js->nsess++] = (long)ev->fields[1].v.u;
			break;
		case WF_EV_WORKFLOW_CREATED:
			CHECK(wf_event_text(ev, 0, id, sizeof id) == 0);
			jwf_get(js, id);
			break;
		case WF_EV_ACTOR_CREATED:
			CHECK(wf_event_text(ev, 0, id, sizeof id) == 0);
			jwf_get(js, id)->actor = 1;
			jwf_get(js, id)->status = WF_STATUS_SUCCESSFUL;
			break;
		case WF_EV_STATUS_CHANGED:
			CHECK(wf_event_text(ev, 0, id, sizeof id) == 0);
			jwf_get(js, id)->status = wf_event_status(ev, 1);
			CHECK_MSG(jwf_get(js, id)->status > 0,
			          "seq %" PRIu64 ": a status that is not one", ev->seq);
			break;
		case WF_EV_WORKFLOW_OUTPUT: {
			CHECK(wf_event_text(ev, 0, id, sizeof id) == 0);
			CHECK(ev->nfields >= 2 && ev->fields[1].kind == WF_FIELD_JSON);
			jwf *w = jwf_get(js, id);
			free(w->output);
			w->output = strndup(ev->fields[1].v.s.ptr, ev->fields[1].v.s.len);
			CHECK(w->output);
			break;
		}
		case WF_EV_STEP_SUCCEEDED: {
			char key[620];
			CHECK(wf_event_text(ev, 0, id, sizeof id) == 0);
			CHECK(wf_event_text(ev, 1, step, sizeof step) == 0);
			snprintf(key, sizeof key, "%s %s", id, step);
			if (!wf_map_get(&js->succ, key))
				CHECK(wf_map_put(&js->succ, key,
				                 (void *)(uintptr_t)ev->seq) == 0);
			break;
		}
		case WF_EV_NOTICE:
			js->notices++;
			break;
		default:
			break;
		}
	}
	CHECK_MSG(rc == 0, "reading %s: %d (%s): %s", jdir, rc, wf_strerror(rc),
	          wf_reader_errmsg(r));
	for (int i = 0; i < dmg.n && i < T_MAX_DAMAGE; i++)
		CHECK_MSG(dmg.d[i].torn, "%s: offset %" PRIu64 ": %s (not a torn "
		          "tail)", dmg.d[i].file, dmg.d[i].offset, dmg.d[i].what);
	js->torn = dmg.n > 0;
	wf_reader_close(r);
}

static void jscan_free(jscan *js)
{
	const char *k;
	void *v;
	for (size_t i = 0; wf_map_next(&js->wfs, &i, &k, &v);) {
		jwf *w = v;
		free(w->output);
		free(w);
	}
	wf_map_free(&js->wfs);
	wf_map_free(&js->succ);
	free(js->sess_seq);
	free(js->sess_pid);
}

/* ---- wflow verify ---------------------------------------------------------- */

typedef struct sbuf {
	char *p;
	size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		CHECK(b->p);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* wflow verify --json DIR/journal: exit 0, nothing but a torn tail, no
 * logical error. @return 1 if it saw a torn tail. */
static int run_verify(const dirstate *d)
{
	char jdir[600];
	int p[2], st;
	snprintf(jdir, sizeof jdir, "%s/journal", d->dir);
	CHECK(pipe(p) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (dup2(p[1], 1) < 0)
			_exit(127);
		close(p[0]);
		close(p[1]);
		execl(wflow_bin, wflow_bin, "verify", "--json", jdir, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", wflow_bin, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	sbuf out = {0};
	char buf[4096];
	ssize_t r;
	while ((r = read(p[0], buf, sizeof buf)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r > 0);
		sb_add(&out, buf, (size_t)r);
	}
	close(p[0]);
	CHECK(waitpid(pid, &st, 0) == pid);
	const char *txt = out.p ? out.p : "";
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "wflow verify --json %s: status 0x%x:\n%s", jdir, st, txt);
	cJSON *j = cJSON_Parse(txt);
	CHECK_MSG(j, "wflow verify --json: not JSON:\n%s", txt);
	CHECK_MSG(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")) &&
	              !cJSON_GetObjectItemCaseSensitive(j, "error"),
	          "wflow verify: %s", txt);
	const cJSON *le = cJSON_GetObjectItemCaseSensitive(j, "logical_errors");
	CHECK_MSG(cJSON_IsNumber(le) && le->valuedouble == 0,
	          "wflow verify: logical errors: %s", txt);
	const cJSON *dm = cJSON_GetObjectItemCaseSensitive(j, "damage"), *it;
	CHECK_MSG(cJSON_IsArray(dm), "wflow verify: %s", txt);
	cJSON_ArrayForEach(it, dm)
	{
		CHECK_MSG(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "torn")),
		          "wflow verify: damage that is not a torn tail: %s", txt);
	}
	int torn = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "torn"));
	cJSON_Delete(j);
	free(out.p);
	return torn;
}

/* ---- the side file ------------------------------------------------------- */

/*
 * Check the side file's lines from d->side_off on: a line's step must not
 * have succeeded (in js) before its session began. parent_sess is the
 * session of this process's engine (not yet in js: it began after every
 * event in js), or -1.
 */
static void check_side(dirstate *d, const jscan *js, int parent_sess,
                       stats *st)
{
	int fd = open(d->side, O_RDONLY);
	if (fd < 0) {
		CHECK_MSG(errno == ENOENT, "%s: %s", d->side, strerror(errno));
		return;
	}
	sbuf b = {0};
	char buf[65536];
	ssize_t r;
	off_t off = (off_t)d->side_off;
	while ((r = pread(fd, buf, sizeof buf, off)) > 0) {
		sb_add(&b, buf, (size_t)r);
		off += r;
	}
	CHECK(r == 0);
	close(fd);
	size_t done = 0;
	for (char *nl; b.p && (nl = memchr(b.p + done, '\n', b.n - done));) {
		char *line = b.p + done;
		*nl = '\0';
		done = (size_t)(nl - b.p) + 1;
		char wf[300], step[300], key[620];
		int tries, sess;
		long pid;
		CHECK_MSG(sscanf(line, "%299s %299s %d %d %ld", wf, step, &tries,
		                 &sess, &pid) == 5,
		          "side file %s: bad line \"%s\"", d->side, line);
		st->side_lines++;
		uint64_t began;
		if (sess == parent_sess && pid == (long)getpid()) {
			began = UINT64_MAX;
		} else {
			CHECK_MSG(sess >= 0 && (size_t)sess < js->nsess,
			          "step %s of %s ran (try %d, pid %ld) in session %d, "
			          "which is not in the journal (%zu sessions)",
			          step, wf, tries, pid, sess, js->nsess);
			CHECK_MSG(js->sess_pid[sess] == pid,
			          "session %d is pid %ld's, not %ld's (the test's "
			          "session count is off)", sess, js->sess_pid[sess], pid);
			began = js->sess_seq[sess];
		}
		snprintf(key, sizeof key, "%s %s", wf, step);
		uint64_t done_at = (uint64_t)(uintptr_t)wf_map_get(&js->succ, key);
		if (done_at && strncmp(step, "vol", 3) != 0 && done_at <= began)
			finding(&g_reexec,
			        "step %s of workflow %s ran again (try %d, in "
			        "session %d, pid %ld) although its success was "
			        "committed at seq %" PRIu64
			        ", before that session began (%s%" PRIu64 ")",
			        step, wf, tries, sess, pid, done_at,
			        began == UINT64_MAX
			                ? "after the last event, seq "
			                : "seq ",
			        began == UINT64_MAX ? js->last_seq : began);
	}
	d->side_off += done;
	free(b.p);
}

/* ---- one round ------------------------------------------------------------- */

/* Read the child's records until the kill moment, SIGKILL it, reap it,
 * read what is left. */
static void run_child(int fd, pid_t pid, int early, unsigned delay_ms,
                      sbuf *out)
{
	double start = e_mono();
	double deadline = start + (early ? delay_ms / 1000.0 : 120.0);
	int ready = 0, status;
	char buf[65536];
	for (;;) {
		double now = e_mono();
		if (now >= deadline) {
			if (!early && !ready) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				t_fail(__FILE__, __LINE__, "the child was not ready in 120 s");
			}
			break;
		}
		struct pollfd p = {fd, POLLIN, 0};
		int pr = poll(&p, 1, (int)((deadline - now) * 1000) + 1);
		if (pr < 0 && errno == EINTR)
			continue;
		CHECK(pr >= 0);
		if (pr == 0)
			continue;
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* The child ended by itself: it failed a check. */
			kill(pid, SIGKILL);
			CHECK(waitpid(pid, &status, 0) == pid);
			t_fail(__FILE__, __LINE__,
			       "the child ended before the kill (status 0x%x: exit %d, "
			       "signal %d); its message is above",
			       status, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			       WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		}
		size_t before = out->n;
		sb_add(out, buf, (size_t)r);
		if (!ready && !early) {
			/* "R" is a line of its own. */
			const char *s = out->p + (before > 2 ? before - 2 : 0);
			for (; (s = strstr(s, "R\n")); s++)
				if (s == out->p || s[-1] == '\n') {
					ready = 1;
					deadline = e_mono() + delay_ms / 1000.0;
					break;
				}
		}
	}
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	          "the child ended by itself (status 0x%x)", status);
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r > 0);
		sb_add(out, buf, (size_t)r);
	}
	close(fd);
}

static void set_acked(wf_map *acked, const char *id, wf_status s)
{
	wf_status prev = (wf_status)(intptr_t)wf_map_get(acked, id);
	if (prev == WF_STATUS_CANCELED)
		return; /* a cancel of a failed workflow: CANCELED stays */
	CHECK(wf_map_put(acked, id, (void *)(intptr_t)s) == 0);
}

/* A workflow's result (rc, output text) against its plan. */
static void check_wf_result(dirstate *d, const char *id, int rc,
                            const char *out_text, const char *who)
{
	int fails;
	cJSON *want = plan_workflow(id, NULL, &fails);
	if (rc == 0) {
		cJSON *got = cJSON_Parse(out_text);
		char *w = e_text(want);
		CHECK_MSG(!fails && got && cJSON_Compare(got, want, 1),
		          "%s: workflow %s SUCCESSFUL with output %s; its plan says %s",
		          who, id, out_text, fails ? "FAILED" : w);
		free(w);
		cJSON_Delete(got);
	} else if (rc == WF_EFAILED) {
		CHECK_MSG(fails, "%s: workflow %s FAILED; its plan says it succeeds",
		          who, id);
	} else if (rc == WF_ECANCELED) {
		CHECK_MSG(wf_map_get(&d->cancel_intent, id),
		          "%s: workflow %s CANCELED, but nobody cancelled it", who, id);
	} else {
		t_fail(__FILE__, __LINE__, "%s: workflow %s: %d (%s)", who, id, rc,
		       wf_strerror(rc));
	}
	cJSON_Delete(want);
}

/* An actor's call or resume ended with rc and n (the model's pending call). */
static void actor_result(actor_model *m, const char *id, int rc, double n,
                         const char *who)
{
	if (m->lost)
		return;
	CHECK_MSG(m->pend, "%s: a result for %s, which has no call pending",
	          who, id);
	if (m->pend_fail) {
		CHECK_MSG(rc == WF_EFAILED, "%s: refused call on %s returned %d (%s)",
		          who, id, rc, wf_strerror(rc));
	} else {
		double want = m->n + m->pend_k * (m->pend_nest + 1);
		CHECK_MSG(rc == 0, "%s: call on %s returned %d (%s)", who, id, rc,
		          wf_strerror(rc));
		CHECK_MSG(n == want, "%s: %s's n is %.17g after the call, expected "
		          "%.17g (%.17g + %.17g x %d)", who, id, n, want, m->n,
		          m->pend_k, m->pend_nest + 1);
		m->n = n;
	}
	m->pend = 0;
}

static void process_records(dirstate *d, char *text, wf_map *acked,
                            stats *st)
{
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char id[300], rest[4096];
		int rc, k, nest, fail;
		double n;
		switch (line[0]) {
		case 'R':
			break;
		case 'c':
			CHECK(sscanf(line, "c %299s", id) == 1);
			CHECK(wf_map_put(&d->cancel_intent, id, (void *)1) == 0);
			break;
		case 'C':
			CHECK(sscanf(line, "C %299s", id) == 1);
			set_acked(acked, id, WF_STATUS_CANCELED);
			st->acked++;
			break;
		case 'N':
			CHECK(sscanf(line, "N %299s", id) == 1);
			model_of(d, id)->exists = 1;
			st->acked++;
			break;
		case 'i': {
			CHECK(sscanf(line, "i %299s %d %d %d", id, &k, &nest, &fail) == 4);
			actor_model *m = model_of(d, id);
			CHECK_MSG(!m->pend && m->exists,
			          "a call on %s while one is pending or before it "
			          "exists", id);
			m->pend = 1;
			m->pend_fail = fail;
			m->pend_k = k;
			m->pend_nest = nest;
			m->started = 0;
			break;
		}
		case 'A':
			CHECK(sscanf(line, "A %299s %d %lf", id, &rc, &n) == 3);
			actor_result(model_of(d, id), id, rc, n, "the child's call");
			st->acked++;
			break;
		case 'W':
		case 'V':
			CHECK(sscanf(line + 1, " %299s %d %4095[^\n]", id, &rc, rest) ==
			      3);
			st->acked++;
			if (line[0] == 'V')
				st->resumed_child++;
			if (is_actor_id(id)) {
				/* The child's resume of an actor: its state. */
				CHECK(line[0] == 'V');
				cJSON *s = cJSON_Parse(rest);
				const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "n");
				actor_result(model_of(d, id), id, rc,
				             cJSON_IsNumber(v) ? v->valuedouble : -1,
				             "the child's resume");
				cJSON_Delete(s);
				break;
			}
			check_wf_result(d, id, rc, rest,
			                line[0] == 'V' ? "the child's resume"
			                               : "acknowledged to the child");
			set_acked(acked, id,
			          rc == 0            ? WF_STATUS_SUCCESSFUL
			          : rc == WF_EFAILED ? WF_STATUS_FAILED
			                             : WF_STATUS_CANCELED);
			break;
		default:
			t_fail(__FILE__, __LINE__, "bad record \"%s\"", line);
		}
	}
}

/* The engine's answers against the journal's, for every workflow; and
 * every workflow against its plan. */
static void check_all(dirstate *d, wf_engine *e, const jscan *js, stats *st)
{
	cJSON *l = NULL, *it;
	CHECK_E(e, wf_list_all(e, WF_STATUS_ALL, &l));
	size_t n = 0;
	cJSON_ArrayForEach(it, l)
	{
		const char *id = e_str(it, "workflow_id");
		const char *sname = e_str(it, "status");
		const jwf *w = wf_map_get(&js->wfs, id);
		n++;
		CHECK_MSG(w, "the engine lists %s (%s), the journal has no such "
		          "workflow", id, sname);
		wf_status want = w->status == WF_STATUS_RUNNING || w->status == 0
		                     ? WF_STATUS_RESUMABLE
		                     : (wf_status)w->status;
		CHECK_MSG(strcmp(sname, wf_status_name(want)) == 0,
		          "%s is %s in the engine; the journal says %s", id, sname,
		          wf_status_name(want));
		if (want == WF_STATUS_SUCCESSFUL && !w->actor) {
			cJSON *out = NULL, *jout = cJSON_Parse(w->output ? w->output : "");
			CHECK_E(e, wf_get_output(e, id, &out));
			CHECK_MSG(jout && cJSON_Compare(out, jout, 1),
			          "%s: wf_get_output says %s, the journal %s", id,
			          e_text(out), w->output ? w->output : "nothing");
			cJSON_Delete(out);
			cJSON_Delete(jout);
		}
	}
	cJSON_Delete(l);
	CHECK_MSG(n == js->wfs.len, "the engine lists %zu workflows, the journal "
	          "has %zu", n, js->wfs.len);
	st->wfs += n;

	const char *k;
	void *v;
	for (size_t i = 0; wf_map_next(&js->wfs, &i, &k, &v);) {
		const jwf *w = v;
		if (w->actor)
			continue;
		if (w->status == WF_STATUS_SUCCESSFUL)
			check_wf_result(d, k, 0, w->output ? w->output : "(none)",
			                "in the journal");
		else if (w->status == WF_STATUS_FAILED)
			check_wf_result(d, k, WF_EFAILED, NULL, "in the journal");
		else if (w->status == WF_STATUS_CANCELED)
			check_wf_result(d, k, WF_ECANCELED, NULL, "in the journal");
	}
}

/* Acknowledged workflows: the status acknowledged, in engine and journal;
 * a SUCCESSFUL one's output from wf_get_output. */
static void check_acked(dirstate *d, wf_engine *e, const jscan *js,
                        wf_map *acked)
{
	const char *id;
	void *v;
	for (size_t i = 0; wf_map_next(acked, &i, &id, &v);) {
		wf_status want = (wf_status)(intptr_t)v;
		wf_status got = e_status(e, id);
		const jwf *w = wf_map_get(&js->wfs, id);
		int ok = got == want ||
		         (want == WF_STATUS_FAILED && got == WF_STATUS_CANCELED &&
		          wf_map_get(&d->cancel_intent, id));
		if (!ok || !w) {
			g_round_lost = 1;
			finding(&g_lost,
			        "lost commit: workflow %s was acknowledged "
			        "%s; after the crash the engine says %s, the "
			        "journal %s",
			        id, wf_status_name(want), wf_status_name(got),
			        w ? wf_status_name((wf_status)w->status)
			          : "nothing");
			continue;
		}
		CHECK_MSG(w->status == (int)got,
		          "workflow %s: the engine says %s, the journal %s", id,
		          wf_status_name(got),
		          wf_status_name((wf_status)w->status));
		if (want == WF_STATUS_SUCCESSFUL) {
			cJSON *out = NULL;
			CHECK_E(e, wf_get_output(e, id, &out));
			char *s = e_text(out);
			check_wf_result(d, id, 0, s, "wf_get_output after the crash");
			free(s);
			cJSON_Delete(out);
		}
	}
}

/* Each actor's state against the model; the pending call resolved if it
 * can be. */
static void check_actors(dirstate *d, wf_engine *e)
{
	for (int a = 0; a < NACTORS; a++) {
		char id[32];
		snprintf(id, sizeof id, "actor%d", a);
		actor_model *m = &d->act[a];
		wf_status s = e_status(e, id);
		if (m->lost)
			continue;
		if (s == WF_STATUS_NONE) {
			if (m->exists) {
				m->lost = g_round_lost = 1;
				finding(&g_lost,
				        "lost commit: actor %s was "
				        "acknowledged created; it is gone",
				        id);
			}
			continue;
		}
		m->exists = 1;
		wf_actor *h = NULL;
		cJSON *state = NULL;
		CHECK_E(e, wf_actor_get(g_cls, id, &h));
		CHECK_E(e, wf_actor_state(h, &state));
		wf_actor_free(h);
		const cJSON *nv = cJSON_GetObjectItemCaseSensitive(state, "n");
		CHECK_MSG(cJSON_IsNumber(nv), "actor %s: state %s", id,
		          e_text(state));
		double n = nv->valuedouble;
		cJSON_Delete(state);
		if (n < m->n) {
			m->lost = g_round_lost = 1;
			finding(&g_lost,
			        "lost commit: actor %s: n = %.17g, below the "
			        "acknowledged %.17g (%s)",
			        id, n, m->n,
			        m->pend ? "a call pending" : "no call pending");
			continue;
		}
		if (!m->pend || m->pend_fail) {
			CHECK_MSG(n == m->n, "actor %s: n = %.17g, expected %.17g (%s)",
			          id, n, m->n, m->pend ? "a refused call pending"
			                               : "no call pending");
			CHECK_MSG(m->pend || s != WF_STATUS_RESUMABLE,
			          "actor %s RESUMABLE without a call pending", id);
		} else {
			double j = (n - m->n) / m->pend_k;
			int steps = m->pend_nest + 1;
			CHECK_MSG(j == (double)(int)j && j >= 0 && j <= steps,
			          "actor %s: n = %.17g; with a call of %d x %.17g "
			          "pending on %.17g, it can only be one of its steps "
			          "further", id, n, steps, m->pend_k, m->n);
			if (s != WF_STATUS_RESUMABLE)
				CHECK_MSG(j == steps || (j == 0 && !m->started),
				          "actor %s is %s with %g of the %d steps of its "
				          "interrupted call applied", id, wf_status_name(s),
				          j, steps);
		}
		if (s == WF_STATUS_RESUMABLE) {
			m->started = 1;
		} else if (m->pend) {
			m->n = n;
			m->pend = 0;
		}
	}
}

static void parent_resume(dirstate *d, wf_engine *e, uint64_t *rng,
                          stats *st)
{
	cJSON *ids = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_RESUMABLE)), *it;
	wf_future *f[4096];
	const char *fid[4096];
	int nf = 0;
	cJSON_ArrayForEach(it, ids)
	{
		const char *id = it->valuestring;
		if (t_splitmix(rng) % 10 >= 7) {
			st->left++; /* for the next child */
			continue;
		}
		st->resumed_parent++;
		if (is_actor_id(id)) {
			cJSON *out = NULL;
			int rc = wf_resume(e, id, &out);
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(out, "n");
			actor_result(model_of(d, id), id, rc,
			             cJSON_IsNumber(v) ? v->valuedouble : -1,
			             "the parent's resume");
			cJSON_Delete(out);
			continue;
		}
		CHECK(nf < 4096);
		CHECK_E(e, wf_resume_async(e, id, &f[nf]));
		fid[nf++] = id;
	}
	for (int i = 0; i < nf; i++) {
		cJSON *out = NULL;
		int rc = wf_future_wait(f[i], &out);
		char *s = e_text(out);
		check_wf_result(d, fid[i], rc, s, "the parent's resume");
		CHECK_STATUS(e, fid[i],
		             rc == 0 ? WF_STATUS_SUCCESSFUL : WF_STATUS_FAILED);
		free(s);
		cJSON_Delete(out);
		wf_future_free(f[i]);
	}
	cJSON_Delete(ids);
}

static int thread_count(void)
{
	DIR *dd = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;
	CHECK(dd);
	while ((de = readdir(dd)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dd);
	return n;
}

/* Before a fork: the closed engine's threads must be gone. */
static void wait_threads(int base)
{
	double end = e_mono() + E_WAIT_S;
	while (thread_count() > base) {
		CHECK_MSG(e_mono() < end, "%d threads %.0f s after wf_close",
		          thread_count(), E_WAIT_S);
		e_sleep_ms(1);
	}
}

/* Temporary files (*.tmp) in DIR/journal and DIR/snapshots. */
static int count_tmp(const dirstate *d)
{
	static const char *const sub[] = {"journal", "snapshots"};
	int n = 0;
	for (int i = 0; i < 2; i++) {
		char p[600];
		snprintf(p, sizeof p, "%s/%s", d->dir, sub[i]);
		DIR *dd = opendir(p);
		struct dirent *de;
		while (dd && (de = readdir(dd))) {
			size_t l = strlen(de->d_name);
			n += l > 4 && strcmp(de->d_name + l - 4, ".tmp") == 0;
		}
		if (dd)
			closedir(dd);
	}
	return n;
}

static void new_dir(dirstate *d, uint64_t *rng, stats *st)
{
	if (d->dir[0]) {
		st->stale_tmp += (uint64_t)count_tmp(d);
		t_rmtree(d->dir);
		remove(d->side);
		wf_map_free(&d->cancel_intent);
	}
	int gen = d->gen + 1;
	memset(d, 0, sizeof *d);
	d->gen = gen;
	char name[64];
	snprintf(name, sizeof name, "d%d", gen);
	t_subdir(d->dir, sizeof d->dir, name);
	snprintf(name, sizeof name, "d%d.side", gen);
	t_subdir(d->side, sizeof d->side, name);
	static const uint64_t segs[] = {0, 64 << 10, 1 << 20};
	static const uint64_t snaps[] = {200, 100, 0};
	d->seg_size = segs[t_splitmix(rng) % 3];
	d->snap_every = snaps[t_splitmix(rng) % 3];
	st->dirs++;
}

static void one_round(dirstate *d, int round, uint64_t *rng, int base,
                      stats *st)
{
	if (!d->dir[0] || d->age >= FRESH_EVERY || t_splitmix(rng) % 8 == 0)
		new_dir(d, rng, st);
	d->age++;
	int early = t_splitmix(rng) % 10 == 0;
	unsigned delay = early ? (unsigned)(t_splitmix(rng) % 40)
	                       : 15 + (unsigned)(t_splitmix(rng) % 200);
	t_context("seed %" PRIu64 ", round %d (%s, its round %d, kill %u ms "
	          "after %s); rerun with WFLOW_CRASH_SEED=%" PRIu64,
	          g_seed, round, d->dir, d->age, delay,
	          early ? "the fork" : "ready", g_seed);

	/* The child (the parent has no thread now). */
	int fds[2];
	CHECK(pipe(fds) == 0);
	g_sess = d->next_sess;
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		g_pipe = fds[1];
		child_main(d, d->side, round);
		_exit(3);
	}
	close(fds[1]);
	sbuf recs = {0};
	run_child(fds[0], pid, early, delay, &recs);
	st->early += early;

	/* Nothing runs now: look at what the child left. */
	jscan js;
	scan_journal(d, &js);
	char jdir[600];
	snprintf(jdir, sizeof jdir, "%s/journal", d->dir);
	if (has_segments(jdir))
		st->torn += run_verify(d);
	st->events += js.events;
	st->notices += js.notices;
	check_side(d, &js, -1, st);

	g_side_fd = open(d->side, O_WRONLY | O_APPEND | O_CREAT, 0644);
	CHECK(g_side_fd >= 0);
	g_sess = (int)js.nsess;
	wf_engine *e = open_engine(d, 4);
	define_all(e);
	cJSON *running = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_RUNNING));
	CHECK_JSON(running, "[]");
	cJSON_Delete(running);

	wf_map acked = {0};
	process_records(d, recs.p ? recs.p : (char *)"", &acked, st);
	free(recs.p);
	check_all(d, e, &js, st);
	check_acked(d, e, &js, &acked);
	wf_map_free(&acked);
	check_actors(d, e);
	parent_resume(d, e, rng, st);
	check_side(d, &js, g_sess, st);
	e_close(e);
	close(g_side_fd);
	g_side_fd = -1;
	d->next_sess = (int)js.nsess + 1;
	jscan_free(&js);
	wait_threads(base);
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: wflow-torture crash [--rounds N] [--long] [--seed S] "
	        "[--wflow PATH]\n"
	        "\n"
	        "SIGKILL a random workload (durability always) N times and\n"
	        "check each recovery: every acknowledged commit is there, no\n"
	        "committed step runs again, wflow verify passes.\n"
	        "\n"
	        "  --rounds N    kills (default $WFLOW_CRASH_ROUNDS, else\n"
	        "                200); times $WFLOW_TEST_SCALE if set\n"
	        "  --long        --rounds 5000\n"
	        "  --seed S      rerun a seed (default $WFLOW_CRASH_SEED,\n"
	        "                else random)\n"
	        "  --wflow PATH  the wflow tool (default: ../wflow from this\n"
	        "                program)\n"
	        "\n"
	        "Prints crash_rounds=, lost_commits=, reexecuted_steps= last.\n"
	        "Exit 0 if all checks held, 1 if one failed, 2 on bad\n"
	        "usage.\n");
}

/* The wflow tool next to this program's directory: build/wflow for
 * build/torture/wflow-torture. @return 0, or -1. */
static int default_wflow(char *buf, size_t len)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(exe, '/');
		if (!slash)
			return -1;
		*slash = '\0';
	}
	int r = snprintf(buf, len, "%s/wflow", exe);
	return r > 0 && (size_t)r < len ? 0 : -1;
}

/* A whole decimal or 0x number in s, at most max. @return 0, or -1. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-')
		return -1;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int torture_crash(int argc, char **argv)
{
	static char wflow_path[4096];
	const char *rounds_s = NULL, *seed_s = NULL;
	const char *what = NULL;
	uint64_t v;
	int long_mode = 0;
	wflow_bin = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--long")) {
			long_mode = 1;
		} else if (!strcmp(a, "--rounds") || !strcmp(a, "--seed") ||
		           !strcmp(a, "--wflow")) {
			if (i + 1 >= argc) {
				fprintf(stderr,
				        "wflow-torture crash: %s needs a "
				        "value\n",
				        a);
				return 2;
			}
			if (!strcmp(a, "--rounds"))
				rounds_s = argv[++i];
			else if (!strcmp(a, "--seed"))
				seed_s = argv[++i];
			else
				wflow_bin = argv[++i];
		} else {
			fprintf(stderr,
			        "wflow-torture crash: unknown option '%s'\n",
			        a);
			usage(stderr);
			return 2;
		}
	}
	double scale = 1;
	if (long_mode && !rounds_s)
		rounds_s = "5000";
	if (rounds_s) {
		scale = t_scale();
		what = "--rounds";
	} else if ((rounds_s = getenv("WFLOW_CRASH_ROUNDS"))) {
		what = "WFLOW_CRASH_ROUNDS";
	} else {
		rounds_s = "200";
	}
	if (parse_u64(rounds_s, 100000000, &v) < 0 || v < 1) {
		fprintf(stderr,
		        "wflow-torture crash: %s '%s': not a number of "
		        "rounds (1 to 100000000)\n",
		        what, rounds_s);
		return 2;
	}
	int rounds = (int)((double)v * scale);
	if (rounds < 1)
		rounds = 1;
	what = seed_s ? "--seed" : "WFLOW_CRASH_SEED";
	if (!seed_s)
		seed_s = getenv("WFLOW_CRASH_SEED");
	if (seed_s) {
		if (parse_u64(seed_s, UINT64_MAX, &g_seed) < 0) {
			fprintf(stderr,
			        "wflow-torture crash: %s '%s': not a "
			        "seed (a number)\n",
			        what, seed_s);
			return 2;
		}
	} else {
		g_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	}
	if (!wflow_bin) {
		if (default_wflow(wflow_path, sizeof wflow_path) < 0) {
			fprintf(stderr,
			        "wflow-torture crash: cannot find this "
			        "program's directory; give --wflow PATH\n");
			return 2;
		}
		wflow_bin = wflow_path;
	}
	if (access(wflow_bin, X_OK) != 0) {
		fprintf(stderr,
		        "wflow-torture crash: the wflow tool %s: %s (give "
		        "--wflow PATH)\n",
		        wflow_bin, strerror(errno));
		return 2;
	}
	g_main_pid = getpid();
	atexit(print_figures);
	signal(SIGPIPE, SIG_IGN);
	t_tmproot();
	int base = thread_count();
	uint64_t rng = g_seed;
	static dirstate d;
	stats st = {0};
	double t0 = e_mono();
	for (int r = 1; r <= rounds && !g_round_lost; r++) {
		one_round(&d, r, &rng, base, &st);
		st.rounds++;
		g_rounds_done++;
	}
	st.stale_tmp += (uint64_t)count_tmp(&d);
	printf("crash: %d rounds (%d directories, %d kills in open/resume), "
	       "%" PRIu64 " acknowledged records checked, %" PRIu64
	       " resumes (%" PRIu64 " by the parent, %" PRIu64
	       " by children; %" PRIu64
	       " left to them), %d torn tails, %" PRIu64
	       " step runs logged, %" PRIu64 " journal events read, %" PRIu64
	       " notices, %" PRIu64
	       " stale .tmp files left after clean closes; "
	       "seed %" PRIu64 ", %.1f s\n",
	       st.rounds, st.dirs, st.early, st.acked,
	       st.resumed_parent + st.resumed_child, st.resumed_parent,
	       st.resumed_child, st.left, st.torn, st.side_lines, st.events,
	       st.notices, st.stale_tmp, g_seed, e_mono() - t0);
	wf_map_free(&d.cancel_intent);
	if (g_round_lost)
		fprintf(stderr,
		        "crash: stopped after round %d: a commit was lost "
		        "(rerun with --seed %" PRIu64 ")\n",
		        st.rounds, g_seed);
	print_figures();
	return g_lost || g_reexec ? 1 : 0;
}
