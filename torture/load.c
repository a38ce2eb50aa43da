/*
 * wflow-torture load: many workflows through one engine (issue 7).
 *
 *   wflow-torture load [--workflows N] [--steps S] [--threads T]
 *                      [--dir DIR] [--wflow PATH]
 *
 * How it works. One engine, durability always, on a fresh directory. T
 * threads take workflow numbers i = 0 .. N-1 from a shared counter and
 * run each as workflow "load-<i>" (i zero-padded to 8 digits, so that
 * wf_list_all, which sorts by id, lists them in order) and wait for it:
 * the even threads with wf_run (the caller runs the steps itself), the
 * odd ones with wf_run_async and wf_future_wait (the engine's workers run
 * them). A workflow is a chain of S calls of one step, mix(a, k) =
 * (48271 a + 7919 k + 1) mod (2^31 - 1): the first gets the workflow's
 * input x(i), a hash of i, each next one the previous output, so the
 * output is a function of i that the thread computes by itself and
 * compares with what it got (a swapped, stale or lost output is caught;
 * the chain makes every step's output feed the next, so a step run with a
 * wrong argument is caught too). The step counts its executions: there
 * must be N x S, none lost, none run twice.
 *
 * Meanwhile the main thread samples the resident set (/proc/self/statm)
 * every 50 ms. Then:
 *  - every workflow ran SUCCESSFUL with its output, and the step ran
 *    exactly N x S times;
 *  - wf_list_all lists exactly load-0 .. load-(N-1), all SUCCESSFUL;
 *  - memory is bounded: the engine keeps each finished workflow frozen
 *    (replay/fold.h: its steps packed into one block), so the resident
 *    set grows with N, but by at most MAX_BYTES_PER_WF per workflow (the
 *    peak minus the resident set after the open, + 16 MB for the threads
 *    and the allocator's arenas); and it does not grow much faster as the
 *    run goes on: its growth over the second half of the workflows is at
 *    most 1.5 times that over the first (+ 8 MB), levels taken as the
 *    median of the samples of the last 5% of each half, so that the short
 *    peaks of a snapshot being written do not count. (It does grow a bit
 *    faster: the allocator keeps some of each snapshot's buffers, which
 *    grow with the state; 1.13 times in the 100,000-workflow run.) A leak
 *    per step or per commit, or state kept for finished runs, breaks the
 *    first; a growth that speeds up (a structure copied as a whole, a
 *    queue that falls behind) the second (neither under AddressSanitizer:
 *    see MEMORY_CHECKS);
 *  - after wf_close, `wflow verify --json DIR/journal` reports no damage,
 *    no torn tail and no logical error;
 *  - a reopened engine lists all N, SUCCESSFUL, and wf_get_output gives
 *    the right output for 1,000 of them spread over the range.
 *
 * fsyncs are counted beneath the engine: it is opened with
 * wf_open_with_io (engine/engine_int.h) on a copy of the POSIX I/O table
 * whose fsync and fdatasync count their calls.
 *
 * The figures come last, as name=value lines: load_workflows, load_steps,
 * load_threads, load_seconds (the run, from the first submission to the
 * last result), load_workflows_per_s, load_fsyncs (during the run),
 * load_peak_rss_bytes, load_failures (failed checks). Exit 0 if every
 * check held, 1 if one failed, 2 on a usage or setup error.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "engine/engine_int.h"
#include "torture/torture.h"
#include "wflow.h"

/*
 * The resident set may grow by at most this much per workflow, at its
 * peak. Measured here: a finished workflow of 10 steps keeps about 1.3 KB
 * (its frozen block, ~60 bytes a step, and its struct, id and map entry,
 * ~400 bytes, in the fold's slab classes); 0.6 KB with 1 step, 3.3 KB
 * with 40. While a snapshot is written (every 500,000 events) its copy
 * of the packed state and the compressed payload come on top for a
 * moment: the peaks of two 100,000-workflow runs were 210 and 222 MB,
 * 2.1 and 2.3 KB a workflow. A thawed workflow of 10 steps costs 2.9 KB
 * more (wf_get_output of each, measured), so finished workflows kept
 * thawed go over 3 KB, and so does a leak of 100 bytes or more per step.
 */
#define MAX_BYTES_PER_WF(steps) (1000.0 + 200.0 * (steps))

/* Under AddressSanitizer the resident set says little about the engine
 * (freed memory waits in a quarantine of up to 256 MB, every block has
 * redzones): the figures are printed, the memory checks are not made. */
#if defined(__SANITIZE_ADDRESS__)
#define MEMORY_CHECKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMORY_CHECKS 0
#endif
#endif
#ifndef MEMORY_CHECKS
#define MEMORY_CHECKS 1
#endif
#define FIXED_BYTES (16.0 * 1024 * 1024)
#define SLACK_BYTES (8.0 * 1024 * 1024)
#define MAX_SAMPLES 100000
#define CHECK_OUTPUTS 1000 /* outputs read back after the reopen */
#define MOD 2147483647u

static const char *prog = "wflow-torture load";

/* ---- failures ------------------------------------------------------------ */

static atomic_uint_fast64_t g_failures;
static pthread_mutex_t g_msg_mu = PTHREAD_MUTEX_INITIALIZER;

/* A failed check: counted, and told (the first 20). */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	uint64_t n = atomic_fetch_add(&g_failures, 1);
	if (n >= 20)
		return;
	va_list ap;
	pthread_mutex_lock(&g_msg_mu);
	fflush(stdout);
	fprintf(stderr, "%s: FAIL: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	pthread_mutex_unlock(&g_msg_mu);
}

/* ---- counting fsyncs ----------------------------------------------------- */

static atomic_uint_fast64_t g_syncs;
static wf_io g_io;

static int count_fsync(void *ctx, int fd)
{
	atomic_fetch_add(&g_syncs, 1);
	return wf_io_posix()->fsync(ctx, fd);
}

static int count_fdatasync(void *ctx, int fd)
{
	atomic_fetch_add(&g_syncs, 1);
	return wf_io_posix()->fdatasync(ctx, fd);
}

/* ---- the workflow -------------------------------------------------------- */

static uint64_t g_n;
static int g_steps;
static wf_step *g_mix;
static wf_engine *g_e;
static atomic_uint_fast64_t g_next, g_done, g_step_runs;

static uint64_t mix(uint64_t a, uint64_t k)
{
	return (a * 48271u + k * 7919u + 1u) % MOD;
}

/* Workflow i's input: a hash of i, below 2^31 - 1. */
static uint64_t input_of(uint64_t i)
{
	uint64_t z = i + 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return (z ^ (z >> 31)) % MOD;
}

static uint64_t expected(uint64_t i)
{
	uint64_t v = input_of(i);
	for (int k = 1; k <= g_steps; k++)
		v = mix(v, (uint64_t)k);
	return v;
}

/* mix(a, k): both whole numbers below 2^31. */
static int step_mix(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	atomic_fetch_add(&g_step_runs, 1);
	const cJSON *a = cJSON_GetArrayItem(args, 0);
	const cJSON *k = cJSON_GetArrayItem(args, 1);
	if (cJSON_GetArraySize(args) != 2 || !cJSON_IsNumber(a) ||
	    !cJSON_IsNumber(k) || a->valuedouble < 0 || a->valuedouble >= MOD ||
	    k->valuedouble < 1 || k->valuedouble > g_steps)
		return wf_ctx_fail(ctx, "mix: unexpected arguments");
	*out = cJSON_CreateNumber((double)mix((uint64_t)a->valuedouble,
	                                      (uint64_t)k->valuedouble));
	return *out ? 0 : wf_ctx_fail(ctx, "mix: out of memory");
}

static void wf_id(char *buf, size_t len, uint64_t i)
{
	snprintf(buf, len, "load-%08" PRIu64, i);
}

/* Workflow i's chain, or NULL (out of memory). */
static wf_node *build(uint64_t i)
{
	wf_node *prev = NULL;
	for (int k = 1; k <= g_steps; k++) {
		wf_node *n = NULL;
		cJSON *kv = cJSON_CreateNumber(k);
		cJSON *x =
		        k == 1 ? cJSON_CreateNumber((double)input_of(i)) : NULL;
		int rc = kv && (k > 1 || x) ? wf_node_new(&n, g_mix, NULL)
		                            : WF_ENOMEM;
		if (!rc && k == 1) {
			rc = wf_node_arg(n, x);
		} else if (!rc) {
			rc = wf_node_arg_node(n, prev); /* takes prev */
			prev = NULL;
		}
		if (!rc)
			rc = wf_node_arg(n, kv);
		cJSON_Delete(kv);
		cJSON_Delete(x);
		if (rc) {
			wf_node_free(prev);
			wf_node_free(n);
			return NULL;
		}
		prev = n;
	}
	return prev;
}

static void *submitter(void *arg)
{
	int async = (int)(intptr_t)arg % 2;
	for (;;) {
		uint64_t i = atomic_fetch_add(&g_next, 1);
		if (i >= g_n)
			break;
		char id[32];
		wf_id(id, sizeof id, i);
		wf_node *dag = build(i);
		cJSON *out = NULL;
		int rc, queued = 0;
		if (!dag) {
			fail("workflow %s: out of memory building its DAG", id);
			atomic_fetch_add(&g_done, 1);
			continue;
		}
		if (async) {
			wf_future *f = NULL;
			rc = wf_run_async(g_e, dag, id, NULL, &f);
			if (!rc) {
				queued = 1;
				rc = wf_future_wait(f, &out);
			}
			wf_future_free(f);
		} else {
			rc = wf_run(g_e, dag, id, NULL, &out);
		}
		uint64_t want = expected(i);
		if (rc)
			fail("workflow %s: %s returned %d (%s)%s%s", id,
			     queued  ? "wf_future_wait"
			     : async ? "wf_run_async"
			             : "wf_run",
			     rc, wf_strerror(rc), queued ? "" : ": ",
			     queued ? "" : wf_errmsg(g_e));
		else if (!cJSON_IsNumber(out) ||
		         out->valuedouble != (double)want) {
			char *s = out ? cJSON_PrintUnformatted(out) : NULL;
			fail("workflow %s: output %s, expected %" PRIu64, id,
			     s ? s : "(none)", want);
			free(s);
		}
		cJSON_Delete(out);
		atomic_fetch_add(&g_done, 1);
	}
	return NULL;
}

/* ---- checks -------------------------------------------------------------- */

/* wf_list_all must list exactly load-0 .. load-(N-1) (it sorts by id; the
 * ids are zero-padded), all SUCCESSFUL. */
static void check_list(wf_engine *e, const char *when)
{
	cJSON *l = NULL, *it;
	int rc = wf_list_all(e, WF_STATUS_ALL, &l);
	if (rc) {
		fail("%s: wf_list_all: %d (%s): %s", when, rc, wf_strerror(rc),
		     wf_errmsg(e));
		return;
	}
	uint64_t n = 0, bad = 0;
	cJSON_ArrayForEach(it, l)
	{
		const cJSON *id =
		        cJSON_GetObjectItemCaseSensitive(it, "workflow_id");
		const cJSON *st =
		        cJSON_GetObjectItemCaseSensitive(it, "status");
		char want[32];
		wf_id(want, sizeof want, n);
		if (!cJSON_IsString(id) || !cJSON_IsString(st) ||
		    strcmp(id->valuestring, want) != 0 ||
		    strcmp(st->valuestring, "SUCCESSFUL") != 0) {
			if (!bad++) {
				char *s = cJSON_PrintUnformatted(it);
				fail("%s: wf_list_all's entry %" PRIu64
				     " is %s; expected "
				     "%s, SUCCESSFUL",
				     when, n, s ? s : "?", want);
				free(s);
			}
		}
		n++;
	}
	cJSON_Delete(l);
	if (n != g_n)
		fail("%s: wf_list_all lists %" PRIu64
		     " workflows, not %" PRIu64,
		     when, n, g_n);
	if (bad > 1)
		fail("%s: %" PRIu64 " entries of wf_list_all are wrong", when,
		     bad);
}

/* Outputs of CHECK_OUTPUTS workflows spread over 0 .. N-1. */
static void check_outputs(wf_engine *e, const char *when)
{
	uint64_t count = g_n < CHECK_OUTPUTS ? g_n : CHECK_OUTPUTS;
	for (uint64_t j = 0; j < count; j++) {
		uint64_t i = j * g_n / count;
		char id[32];
		cJSON *out = NULL;
		wf_id(id, sizeof id, i);
		int rc = wf_get_output(e, id, &out);
		if (rc)
			fail("%s: wf_get_output(%s): %d (%s): %s", when, id, rc,
			     wf_strerror(rc), wf_errmsg(e));
		else if (!cJSON_IsNumber(out) ||
		         out->valuedouble != (double)expected(i))
			fail("%s: wf_get_output(%s) is not %" PRIu64, when, id,
			     expected(i));
		cJSON_Delete(out);
	}
}

/* `wflow verify --json DIR/journal`: exit 0, ok, no damage, no torn tail,
 * no logical error. *events receives its event count. */
static void run_verify(const char *wflow, const char *jdir, double *events,
                       double *seconds)
{
	int p[2], st;
	struct timespec t0, t1;
	*events = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pipe(p) < 0) {
		fail("pipe: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fail("fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		if (dup2(p[1], 1) < 0)
			_exit(127);
		close(p[0]);
		close(p[1]);
		execl(wflow, wflow, "verify", "--json", jdir, (char *)NULL);
		fprintf(stderr, "%s: exec %s: %s\n", prog, wflow,
		        strerror(errno));
		_exit(127);
	}
	close(p[1]);
	char *txt = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n + 65536 + 1 > cap) {
			char *nt = realloc(txt, cap = 2 * (n + 65536 + 1));
			if (!nt)
				break;
			txt = nt;
		}
		ssize_t r = read(p[0], txt + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(p[0]);
	if (txt)
		txt[n] = '\0';
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*seconds = (double)(t1.tv_sec - t0.tv_sec) +
	           (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cJSON *j = txt ? cJSON_Parse(txt) : NULL;
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "ok");
	const cJSON *dmg = cJSON_GetObjectItemCaseSensitive(j, "damage");
	const cJSON *torn = cJSON_GetObjectItemCaseSensitive(j, "torn");
	const cJSON *le = cJSON_GetObjectItemCaseSensitive(j, "logical_errors");
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "events");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !cJSON_IsTrue(ok) ||
	    cJSON_GetObjectItemCaseSensitive(j, "error") ||
	    !cJSON_IsArray(dmg) || cJSON_GetArraySize(dmg) != 0 ||
	    !cJSON_IsFalse(torn) || !cJSON_IsNumber(le) ||
	    le->valuedouble != 0 || !cJSON_IsNumber(ev))
		fail("wflow verify --json %s: status 0x%x: %.2000s", jdir, st,
		     txt ? txt : "(no output)");
	else
		*events = ev->valuedouble;
	cJSON_Delete(j);
	free(txt);
}

/* ---- memory -------------------------------------------------------------- */

static double rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size, res;
	int ok = f && fscanf(f, "%lu %lu", &size, &res) == 2;
	if (f)
		fclose(f);
	return ok ? (double)res * (double)sysconf(_SC_PAGESIZE) : -1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The median of the samples taken while done was in (lo, hi]; or the last
 * sample before, if none (a short run); or dflt. */
static double level(const double *done, const double *rss, size_t n, double lo,
                    double hi, double dflt)
{
	double *v = malloc((n ? n : 1) * sizeof *v), m = dflt;
	size_t k = 0;
	for (size_t i = 0; v && i < n; i++) {
		if (done[i] > lo && done[i] <= hi)
			v[k++] = rss[i];
		else if (done[i] <= lo && !k)
			m = rss[i];
	}
	/* Insertion sort: a few thousand samples at most per window. */
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	if (k)
		m = v[k / 2];
	free(v);
	return m;
}

/* ---- the command --------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: wflow-torture load [--workflows N] [--steps S] "
	        "[--threads T]\n"
	        "                          [--dir DIR] [--wflow PATH]\n"
	        "\n"
	        "N workflows, each a chain of S steps, through one engine\n"
	        "with durability always, T threads submitting and waiting;\n"
	        "then checks outputs, wf_list_all, wflow verify, memory and\n"
	        "a reopen.\n"
	        "\n"
	        "  --workflows N  default 100000\n"
	        "  --steps S      default 10 (1 to 1000)\n"
	        "  --threads T    default 64 (1 to 1024)\n"
	        "  --dir DIR      run in DIR (must not exist; kept), instead\n"
	        "                 of a scratch directory in $TMPDIR or /tmp\n"
	        "                 (removed unless a check failed)\n"
	        "  --wflow PATH   the wflow tool (default: ../wflow from this\n"
	        "                 program)\n"
	        "\n"
	        "Prints load_workflows=, load_steps=, load_threads=,\n"
	        "load_seconds=, load_workflows_per_s=, load_fsyncs=,\n"
	        "load_peak_rss_bytes=, load_failures= last. Exit 0 if all\n"
	        "checks held, 1 if one failed, 2 on bad usage.\n");
}

static int rm_cb(const char *path, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int num_opt(const char *name, const char *s, uint64_t lo, uint64_t hi,
                   uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = s && *s && *s != '-' ? strtoull(s, &end, 10) : 0;
	if (!s || !*s || *s == '-' || errno || *end || v < lo || v > hi) {
		fprintf(stderr,
		        "%s: %s '%s': not a number from %" PRIu64 " to %" PRIu64
		        "\n",
		        prog, name, s ? s : "", lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int torture_load(int argc, char **argv)
{
	uint64_t n = 100000, steps = 10, threads = 64;
	const char *dir_opt = NULL, *wflow = NULL;
	static char wflow_path[4096], dir[4096];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		int known = !strcmp(a, "--workflows") ||
		            !strcmp(a, "--steps") || !strcmp(a, "--threads") ||
		            !strcmp(a, "--dir") || !strcmp(a, "--wflow");
		if (!known) {
			fprintf(stderr, "%s: unknown option '%s'\n", prog, a);
			usage(stderr);
			return 2;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "%s: %s needs a value\n", prog, a);
			return 2;
		}
		const char *v = argv[++i];
		if ((!strcmp(a, "--workflows") &&
		     num_opt(a, v, 1, 100000000, &n) < 0) ||
		    (!strcmp(a, "--steps") &&
		     num_opt(a, v, 1, 1000, &steps) < 0) ||
		    (!strcmp(a, "--threads") &&
		     num_opt(a, v, 1, 1024, &threads) < 0))
			return 2;
		if (!strcmp(a, "--dir"))
			dir_opt = v;
		if (!strcmp(a, "--wflow"))
			wflow = v;
	}
	if (!wflow) {
		/* build/wflow for build/torture/wflow-torture */
		ssize_t l = readlink("/proc/self/exe", wflow_path,
		                     sizeof wflow_path - 16);
		char *s1 = NULL, *s2 = NULL;
		if (l > 0) {
			wflow_path[l] = '\0';
			s1 = strrchr(wflow_path, '/');
			if (s1) {
				*s1 = '\0';
				s2 = strrchr(wflow_path, '/');
			}
		}
		if (!s2) {
			fprintf(stderr,
			        "%s: cannot find this program's directory; "
			        "give --wflow PATH\n",
			        prog);
			return 2;
		}
		strcpy(s2, "/wflow");
		wflow = wflow_path;
	}
	if (access(wflow, X_OK) != 0) {
		fprintf(stderr,
		        "%s: the wflow tool %s: %s (give --wflow PATH)\n", prog,
		        wflow, strerror(errno));
		return 2;
	}
	if (dir_opt) {
		if (snprintf(dir, sizeof dir, "%s", dir_opt) >=
		            (int)sizeof dir ||
		    mkdir(dir, 0755) < 0) {
			fprintf(stderr, "%s: --dir %s: %s\n", prog, dir_opt,
			        errno == EEXIST ? "exists already"
			                        : strerror(errno));
			return 2;
		}
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/wflow-load-XXXXXX",
		         tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			fprintf(stderr, "%s: mkdtemp %s: %s\n", prog, dir,
			        strerror(errno));
			return 2;
		}
	}
	g_n = n;
	g_steps = (int)steps;

	g_io = *wf_io_posix();
	g_io.fsync = count_fsync;
	g_io.fdatasync = count_fdatasync;
	wf_config cfg = WF_CONFIG_INIT;
	cfg.durability = WF_SYNC_ALWAYS;
	int rc = wf_open_with_io(&g_e, dir, &cfg, &g_io);
	if (rc) {
		fprintf(stderr, "%s: wf_open(%s): %d (%s): %s\n", prog, dir, rc,
		        wf_strerror(rc),
		        g_e ? wf_errmsg(g_e) : "out of memory");
		wf_close(g_e);
		return 2;
	}
	rc = wf_step_define(g_e, "mix", step_mix, NULL, NULL, &g_mix);
	if (rc) {
		fprintf(stderr, "%s: wf_step_define: %d (%s): %s\n", prog, rc,
		        wf_strerror(rc), wf_errmsg(g_e));
		wf_close(g_e);
		return 2;
	}

	/* The run, sampling the resident set. */
	printf("load: %" PRIu64 " workflows of %" PRIu64 " steps, %" PRIu64
	       " threads, durability always, in %s\n",
	       n, steps, threads, dir);
	fflush(stdout);
	static double s_done[MAX_SAMPLES], s_rss[MAX_SAMPLES];
	size_t ns = 0;
	double base = rss_bytes();
	pthread_t *tid = calloc(threads, sizeof *tid);
	if (!tid) {
		fprintf(stderr, "%s: out of memory\n", prog);
		wf_close(g_e);
		return 2;
	}
	uint64_t syncs0 = atomic_load(&g_syncs);
	double t0 = now_s();
	uint64_t started = 0;
	for (; started < threads; started++) {
		rc = pthread_create(&tid[started], NULL, submitter,
		                    (void *)(intptr_t)started);
		if (rc) {
			fail("pthread_create (thread %" PRIu64 "): %s", started,
			     strerror(rc));
			break;
		}
	}
	double next_report = t0 + 10, sample_every = 0.05;
	while (started && atomic_load(&g_done) < n) {
		struct timespec ts = {0, (long)(sample_every * 1e9)};
		nanosleep(&ts, NULL);
		double d = (double)atomic_load(&g_done), r = rss_bytes();
		if (ns == MAX_SAMPLES) {
			/* Keep every other sample; sample half as often. */
			for (size_t k = 0; k < ns / 2; k++) {
				s_done[k] = s_done[2 * k + 1];
				s_rss[k] = s_rss[2 * k + 1];
			}
			ns /= 2;
			sample_every *= 2;
		}
		s_done[ns] = d;
		s_rss[ns++] = r;
		if (now_s() >= next_report) {
			printf("load: %.0f s, %.0f workflows done, rss %.1f "
			       "MB\n",
			       now_s() - t0, d, r / 1048576);
			fflush(stdout);
			next_report += 10;
		}
	}
	/* A thread that failed to start leaves its share to the others. */
	for (uint64_t k = 0; k < started; k++)
		pthread_join(tid[k], NULL);
	free(tid);
	double secs = now_s() - t0;
	uint64_t syncs = atomic_load(&g_syncs) - syncs0;
	s_done[ns] = (double)atomic_load(&g_done);
	s_rss[ns++] = rss_bytes();

	/* What the run left. */
	uint64_t runs = atomic_load(&g_step_runs);
	if (runs != n * steps)
		fail("the step ran %" PRIu64 " times; %" PRIu64
		     " workflows of %" PRIu64 " steps need %" PRIu64
		     " (a re-run, or a step not run)",
		     runs, n, steps, n * steps);
	check_list(g_e, "after the run");
	double peak = base;
	for (size_t k = 0; k < ns; k++)
		if (s_rss[k] > peak)
			peak = s_rss[k];
	double lv_half = level(s_done, s_rss, ns, 0.45 * (double)n,
	                       0.5 * (double)n, base);
	double lv_end =
	        level(s_done, s_rss, ns, 0.95 * (double)n, (double)n, base);
	rc = wf_close(g_e);
	g_e = NULL;
	if (rc)
		fail("wf_close: %d (%s)", rc, wf_strerror(rc));

	/* Memory. */
	double per_wf = (peak - base) / (double)n;
	double bound = MAX_BYTES_PER_WF((double)steps);
	double g1 = lv_half - base, g2 = lv_end - lv_half;
	if (base < 0 || peak < 0) {
		fail("cannot read /proc/self/statm");
	} else if (!MEMORY_CHECKS) {
		printf("load: AddressSanitizer build: memory not checked\n");
	} else {
		if (peak - base > bound * (double)n + FIXED_BYTES)
			fail("memory: the resident set peaked %.1f MB above "
			     "its "
			     "%.1f MB after the open, %.0f bytes per workflow; "
			     "the "
			     "bound is %.0f (+ %.0f MB)",
			     (peak - base) / 1048576, base / 1048576, per_wf,
			     bound, FIXED_BYTES / 1048576);
		if (g2 > 1.5 * g1 + SLACK_BYTES)
			fail("memory: the resident set grew by %.1f MB in the "
			     "second half of the workflows, %.1f MB in the "
			     "first: more than 1.5 times as much (+ %.0f MB)",
			     g2 / 1048576, g1 / 1048576, SLACK_BYTES / 1048576);
	}

	/* The journal, as the offline tool sees it. */
	char jdir[4200];
	double events = 0, vsecs = 0;
	snprintf(jdir, sizeof jdir, "%s/journal", dir);
	run_verify(wflow, jdir, &events, &vsecs);

	/* A reopen. */
	double r0 = now_s();
	wf_engine *e = NULL;
	rc = wf_open(&e, dir, &cfg);
	double open_s = now_s() - r0;
	if (rc) {
		fail("reopen: wf_open(%s): %d (%s): %s", dir, rc,
		     wf_strerror(rc), e ? wf_errmsg(e) : "out of memory");
	} else {
		check_list(e, "after the reopen");
		check_outputs(e, "after the reopen");
	}
	rc = wf_close(e);
	if (rc)
		fail("wf_close after the reopen: %d (%s)", rc, wf_strerror(rc));

	uint64_t failures = atomic_load(&g_failures);
	if (failures)
		fprintf(stderr, "%s: %s kept for a look\n", prog, dir);
	else if (!dir_opt)
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	printf("load: %" PRIu64 " workflows (%" PRIu64 " step runs) in %.1f s: "
	       "%.0f workflows/s, %.0f steps/s, %" PRIu64 " fsyncs (%.2f per "
	       "workflow); resident set %.1f MB after the open, %.1f MB at "
	       "half "
	       "time, %.1f MB at the end, %.1f MB peak (%.0f bytes per "
	       "workflow, "
	       "bound %.0f); journal %.0f "
	       "events, verified in %.1f s; reopen %.2f s; %" PRIu64
	       " failed checks\n",
	       n, runs, secs, (double)n / secs, (double)runs / secs, syncs,
	       (double)syncs / (double)n, base / 1048576, lv_half / 1048576,
	       lv_end / 1048576, peak / 1048576, per_wf, bound, events, vsecs,
	       open_s, failures);
	printf("load_workflows=%" PRIu64 "\nload_steps=%" PRIu64
	       "\nload_threads=%" PRIu64 "\nload_seconds=%.2f\n"
	       "load_workflows_per_s=%.0f\nload_fsyncs=%" PRIu64
	       "\nload_peak_rss_bytes=%.0f\nload_failures=%" PRIu64 "\n",
	       n, steps, threads, secs, (double)n / secs, syncs, peak,
	       failures);
	return failures ? 1 : 0;
}
