/*
 * wflow-bench: synthetic journals and journal benchmarks.
 *
 *   wflow-bench gen DIR --events N [...]   write a realistic journal
 *   wflow-bench journal [...]              measure append and replay
 *
 * How this works: events come from the synthetic engine (synth.c). For the
 * measurements they are generated once, before any clock starts, into a
 * pool in memory (copied into one text arena), so that what is timed is the
 * journal: batch encoding, compression, writes, fsyncs, reading, decoding.
 * When a run needs more events than the pool holds it cycles through it,
 * shifting the times; the pool is far larger than a zstd window, so the
 * repetition does not flatter compression.
 *
 * The journal command writes, in one temporary directory:
 *   always1   durability always, one thread, one event per commit
 *   always64  durability always, 64 threads, one event per commit each
 *   large     durability none, 64 events per commit, N events
 *   small     durability none, one event per commit
 * then replays large and small (a warm-up, then the best of 3) and
 * compares their size on disk with the size of their `wflow dump` output,
 * computed in-process with the dump's own formatter. fdatasync calls are
 * counted through a wrapped I/O table, so that the figures show how many
 * commits each fsync covered.
 *
 * Every command prints its figures last, one name=value per line;
 * progress goes to stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench/synth.h"
#include "journal/journal.h"
#include "replay/dumpfmt.h"
#include "wflow.h"

static const char usage[] =
	"usage: wflow-bench <command> [options]\n"
	"\n"
	"commands:\n"
	"  gen DIR --events N [--batch B] [--durability always|batch|none]\n"
	"          [--segment-size BYTES] [--seed S] [--level L]\n"
	"      write a synthetic journal of N events into DIR/journal (the\n"
	"      engine's layout), B events per commit (default 1), durability\n"
	"      none by default; BYTES may end in k, m or g.\n"
	"  journal [--events N] [--dir D] [--quick] [--level L]\n"
	"      measure appends (durability always with 1 and 64 threads,\n"
	"      none with 1 and 64 events per commit), replay, and compression\n"
	"      against the size of `wflow dump`. N (default 2000000) events\n"
	"      are replayed; temporary journals go under D (default /tmp)\n"
	"      and are removed at the end. --quick: small sizes, for a smoke\n"
	"      test.\n"
	"  --level L: zstd level of the journals written (default: the\n"
	"      journal's own default).\n"
	"\n"
	"Figures are printed last, one name=value per line.\n";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- option parsing ------------------------------------------------------ */

/* Decimal with an optional k/m/g (binary) suffix. @return 0 or -1. */
static int parse_u64(const char *s, int suffix, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	unsigned shift = 0;
	if (suffix && *end) {
		switch (*end) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		default:
			return -1;
		}
		end++;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* "wflow-bench: what[ arg]", the usage, exit code 2. */
static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "wflow-bench: %s%s%s\n%s", what, arg ? " " : "",
	        arg ? arg : "", usage);
	return 2;
}

/* The value of option argv[*i] ("--x V" or "--x=V"); NULL if missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == 0 && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

/* --level: zstd level of the journals written (if have_level) */
static int zstd_level;
static int have_level;

/* --level L, L from -50 to 22. @return 0 or -1. */
static int parse_level(const char *v)
{
	char *end;
	if (!v || !*v)
		return -1;
	errno = 0;
	long l = strtol(v, &end, 10);
	if (errno || *end || l < -50 || l > 22)
		return -1;
	zstd_level = (int)l;
	have_level = 1;
	return 0;
}

static int is_opt(const char *arg, const char *name)
{
	size_t n = strlen(name);
	return strncmp(arg, name, n) == 0 && (arg[n] == 0 || arg[n] == '=');
}

/* ---- an I/O table that counts syncs -------------------------------------- */

typedef struct counting_io {
	wf_io io;
	const wf_io *base;
	atomic_uint_fast64_t fdatasyncs, fsyncs, pwrites;
	atomic_uint_fast64_t fdatasync_ns; /* time spent in fdatasync */
} counting_io;

#define BASE(ctx) (((counting_io *)(ctx))->base)

static int c_open(void *c, const char *p, int f)
{
	return BASE(c)->open(BASE(c)->ctx, p, f);
}
static int c_close(void *c, int fd)
{
	return BASE(c)->close(BASE(c)->ctx, fd);
}
static ssize_t c_pread(void *c, int fd, void *b, size_t n, uint64_t off)
{
	return BASE(c)->pread(BASE(c)->ctx, fd, b, n, off);
}
static ssize_t c_pwrite(void *c, int fd, const void *b, size_t n, uint64_t off)
{
	atomic_fetch_add(&((counting_io *)c)->pwrites, 1);
	return BASE(c)->pwrite(BASE(c)->ctx, fd, b, n, off);
}
static int c_fsync(void *c, int fd)
{
	atomic_fetch_add(&((counting_io *)c)->fsyncs, 1);
	return BASE(c)->fsync(BASE(c)->ctx, fd);
}
static int c_fdatasync(void *c, int fd)
{
	counting_io *ci = c;
	double t0 = now_s();
	int rc = BASE(c)->fdatasync(BASE(c)->ctx, fd);
	atomic_fetch_add(&ci->fdatasync_ns, (uint64_t)((now_s() - t0) * 1e9));
	atomic_fetch_add(&ci->fdatasyncs, 1);
	return rc;
}
static int c_ftruncate(void *c, int fd, uint64_t len)
{
	return BASE(c)->ftruncate(BASE(c)->ctx, fd, len);
}
static int c_fsize(void *c, int fd, uint64_t *size)
{
	return BASE(c)->fsize(BASE(c)->ctx, fd, size);
}
static int c_rename(void *c, const char *a, const char *b)
{
	return BASE(c)->rename(BASE(c)->ctx, a, b);
}
static int c_unlink(void *c, const char *p)
{
	return BASE(c)->unlink(BASE(c)->ctx, p);
}
static int c_mkdir(void *c, const char *p)
{
	return BASE(c)->mkdir(BASE(c)->ctx, p);
}
static int c_lock(void *c, int fd)
{
	return BASE(c)->lock(BASE(c)->ctx, fd);
}
static int c_list(void *c, const char *d, wf_io_list_fn fn, void *ud)
{
	return BASE(c)->list(BASE(c)->ctx, d, fn, ud);
}
static int c_random(void *c, void *b, size_t n)
{
	return BASE(c)->random(BASE(c)->ctx, b, n);
}

static void counting_io_init(counting_io *c)
{
	memset(c, 0, sizeof *c);
	c->base = wf_io_posix();
	c->io.ctx = c;
	c->io.open = c_open;
	c->io.close = c_close;
	c->io.pread = c_pread;
	c->io.pwrite = c_pwrite;
	c->io.fsync = c_fsync;
	c->io.fdatasync = c_fdatasync;
	c->io.ftruncate = c_ftruncate;
	c->io.fsize = c_fsize;
	c->io.rename = c_rename;
	c->io.unlink = c_unlink;
	c->io.mkdir = c_mkdir;
	c->io.lock = c_lock;
	c->io.list = c_list;
	c->io.random = c_random;
}

/* ---- journals ------------------------------------------------------------ */

static wf_journal *journal_open(const char *dir, wf_durability dur,
                                uint64_t segment_size, const wf_io *io)
{
	wf_journal_opts o = WF_JOURNAL_OPTS_INIT;
	o.durability = dur;
	if (segment_size)
		o.segment_size = segment_size;
	if (have_level)
		o.compression_level = zstd_level;
	o.io = io;
	wf_journal *j;
	int rc = wf_journal_open(&j, dir, &o);
	if (rc < 0) {
		fprintf(stderr,
		        "wflow-bench: cannot open journal %s: %s (%s)\n", dir,
		        j ? wf_journal_errmsg(j) : "out of memory",
		        wf_strerror(rc));
		wf_journal_close(j);
		return NULL;
	}
	return j;
}

static int journal_close(wf_journal *j, const char *dir)
{
	int rc = wf_journal_close(j);
	if (rc < 0)
		fprintf(stderr, "wflow-bench: closing journal %s: %s\n", dir,
		        wf_strerror(rc));
	return rc;
}

static int commit(wf_journal *j, wf_batch *b, const char *dir)
{
	int rc = wf_journal_commit(j, b, NULL);
	if (rc < 0)
		fprintf(stderr, "wflow-bench: commit to %s failed: %s (%s)\n",
		        dir, wf_journal_errmsg(j), wf_strerror(rc));
	return rc;
}

typedef struct disk_usage {
	uint64_t bytes;
	uint64_t segments;
} disk_usage;

/* Sum of the sizes of dir's segment files. */
static int disk_usage_of(const char *dir, disk_usage *out)
{
	memset(out, 0, sizeof *out);
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "wflow-bench: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	struct dirent *e;
	size_t sl = strlen(".wfj");
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n <= sl || strcmp(e->d_name + n - sl, ".wfj") != 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, 0) == 0) {
			out->bytes += (uint64_t)st.st_size;
			out->segments++;
		}
	}
	closedir(d);
	return 0;
}

static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);
	if (!p) {
		fprintf(stderr, "wflow-bench: out of memory\n");
		exit(2);
	}
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

/* ---- gen ----------------------------------------------------------------- */

static int cmd_gen(int argc, char **argv)
{
	const char *dir = NULL;
	uint64_t events = 0, batch = 1, segsize = 0, seed = 1;
	int have_events = 0;
	wf_durability dur = WF_DURABILITY_NONE;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (is_opt(a, "--events")) {
			if (parse_u64(opt_value(argc, argv, &i, "--events"), 0,
			              &events) < 0)
				return bad_usage("--events: expected a count",
				                 NULL);
			have_events = 1;
		} else if (is_opt(a, "--batch")) {
			if (parse_u64(opt_value(argc, argv, &i, "--batch"), 0,
			              &batch) < 0 ||
			    batch == 0 || batch > 1000000)
				return bad_usage("--batch: expected 1..1000000",
				                 NULL);
		} else if (is_opt(a, "--segment-size")) {
			if (parse_u64(
			            opt_value(argc, argv, &i, "--segment-size"),
			            1, &segsize) < 0 ||
			    segsize == 0)
				return bad_usage(
				        "--segment-size: expected bytes", NULL);
		} else if (is_opt(a, "--level")) {
			v = opt_value(argc, argv, &i, "--level");
			if (parse_level(v) < 0)
				return bad_usage("--level: not a zstd level",
				                 NULL);
		} else if (is_opt(a, "--seed")) {
			if (parse_u64(opt_value(argc, argv, &i, "--seed"), 0,
			              &seed) < 0)
				return bad_usage("--seed: expected a number",
				                 NULL);
		} else if (is_opt(a, "--durability")) {
			v = opt_value(argc, argv, &i, "--durability");
			if (v && !strcmp(v, "always"))
				dur = WF_DURABILITY_ALWAYS;
			else if (v && !strcmp(v, "batch"))
				dur = WF_DURABILITY_BATCH;
			else if (v && !strcmp(v, "none"))
				dur = WF_DURABILITY_NONE;
			else
				return bad_usage(
				        "--durability: expected always, "
				        "batch or none",
				        NULL);
		} else if (a[0] == '-' && a[1]) {
			return bad_usage("unknown option", a);
		} else if (!dir) {
			dir = a;
		} else {
			return bad_usage("unexpected argument", a);
		}
	}
	if (!dir)
		return bad_usage("gen: missing DIR", NULL);
	if (!have_events)
		return bad_usage("gen: missing --events N", NULL);

	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "wflow-bench: %s: %s\n", dir, strerror(errno));
		return 2;
	}
	char *jdir = path_join(dir, "journal");
	wf_journal *j = journal_open(jdir, dur, segsize, NULL);
	if (!j) {
		free(jdir);
		return 1;
	}
	if (wf_journal_next_seq(j) > 1)
		fprintf(stderr,
		        "wflow-bench: %s already holds %" PRIu64
		        " events; appending\n",
		        jdir, wf_journal_next_seq(j) - 1);

	wf_synth *s;
	wf_batch *b;
	if (wf_synth_new(&s, seed) < 0 || wf_batch_new(&b) < 0) {
		fprintf(stderr, "wflow-bench: out of memory\n");
		return 2;
	}
	int rc = 0;
	uint64_t commits = 0;
	wf_event ev;
	double t0 = now_s();
	for (uint64_t i = 0; i < events && rc == 0; i++) {
		wf_synth_next(s, &ev);
		if ((rc = wf_batch_add(b, &ev)) < 0) {
			fprintf(stderr, "wflow-bench: wf_batch_add: %s\n",
			        wf_strerror(rc));
			break;
		}
		if (wf_batch_count(b) == batch || i + 1 == events) {
			rc = commit(j, b, jdir);
			commits++;
		}
	}
	if (journal_close(j, jdir) < 0 && rc == 0)
		rc = -1;
	double secs = now_s() - t0;
	wf_batch_free(b);
	wf_synth_free(s);

	disk_usage du;
	if (rc == 0 && disk_usage_of(jdir, &du) == 0) {
		printf("dir=%s\n", jdir);
		printf("events=%" PRIu64 "\n", events);
		printf("commits=%" PRIu64 "\n", commits);
		printf("seconds=%.3f\n", secs);
		printf("events_per_s=%.0f\n",
		       secs > 0 ? (double)events / secs : 0);
		printf("segments=%" PRIu64 "\n", du.segments);
		printf("bytes_disk=%" PRIu64 "\n", du.bytes);
	}
	free(jdir);
	return rc == 0 ? 0 : 1;
}

/* ---- the event pool ------------------------------------------------------ */

typedef struct pool_ev {
	int64_t time_ns;
	uint32_t field0; /* index of its first field in pool.fields */
	uint16_t type;
	uint8_t nfields;
} pool_ev;

typedef struct pool {
	pool_ev *ev;
	wf_field *fields;
	char *text;
	size_t n;
	int64_t span; /* time shift per cycle through the pool */
} pool;

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q) {
		fprintf(stderr, "wflow-bench: out of memory\n");
		exit(2);
	}
	return q;
}

static void pool_build(pool *p, size_t n, uint64_t seed)
{
	wf_synth *s;
	if (wf_synth_new(&s, seed) < 0) {
		fprintf(stderr, "wflow-bench: out of memory\n");
		exit(2);
	}
	size_t fcap = n * 4, tcap = n * 160, nf = 0, tlen = 0;
	size_t *toff = xrealloc(NULL, fcap * sizeof *toff);
	p->ev = xrealloc(NULL, n * sizeof *p->ev);
	p->fields = xrealloc(NULL, fcap * sizeof *p->fields);
	p->text = xrealloc(NULL, tcap);
	p->n = n;
	wf_event ev;
	for (size_t i = 0; i < n; i++) {
		wf_synth_next(s, &ev);
		p->ev[i].time_ns = ev.time_ns;
		p->ev[i].type = ev.type;
		p->ev[i].nfields = (uint8_t)ev.nfields;
		p->ev[i].field0 = (uint32_t)nf;
		if (nf + ev.nfields > fcap) {
			fcap *= 2;
			p->fields =
			        xrealloc(p->fields, fcap * sizeof *p->fields);
			toff = xrealloc(toff, fcap * sizeof *toff);
		}
		for (uint32_t k = 0; k < ev.nfields; k++, nf++) {
			wf_field f = ev.fields[k];
			if (f.kind == WF_FIELD_TEXT ||
			    f.kind == WF_FIELD_JSON) {
				while (tlen + f.v.s.len > tcap) {
					tcap *= 2;
					p->text = xrealloc(p->text, tcap);
				}
				memcpy(p->text + tlen, f.v.s.ptr, f.v.s.len);
				toff[nf] = tlen;
				tlen += f.v.s.len;
			}
			p->fields[nf] = f;
		}
	}
	/* The arena has stopped moving: point the text fields into it. */
	for (size_t i = 0; i < nf; i++)
		if (p->fields[i].kind == WF_FIELD_TEXT ||
		    p->fields[i].kind == WF_FIELD_JSON)
			p->fields[i].v.s.ptr = p->text + toff[i];
	free(toff);
	p->span = p->ev[n - 1].time_ns - p->ev[0].time_ns + 1000000;
	wf_synth_free(s);
}

/* Event k of the pool, in its cycle-th pass through it. */
static void pool_fill(const pool *p, size_t k, uint64_t cycle, wf_event *ev)
{
	const pool_ev *e = &p->ev[k];
	ev->seq = 0;
	ev->opaque = 0;
	ev->type = e->type;
	ev->time_ns = e->time_ns + (int64_t)cycle * p->span;
	ev->nfields = e->nfields;
	memcpy(ev->fields, &p->fields[e->field0],
	       e->nfields * sizeof(wf_field));
}

/* The i-th event of the endless stream the pool stands for. */
static void pool_get(const pool *p, uint64_t i, wf_event *ev)
{
	pool_fill(p, (size_t)(i % p->n), i / p->n, ev);
}

/* Sequential reads without the divisions of pool_get (they show in a
 * loop that costs a few hundred ns an event). */
typedef struct pool_cursor {
	size_t k;
	uint64_t cycle;
} pool_cursor;

static void pool_next(const pool *p, pool_cursor *c, wf_event *ev)
{
	pool_fill(p, c->k, c->cycle, ev);
	if (++c->k == p->n) {
		c->k = 0;
		c->cycle++;
	}
}

static void pool_free(pool *p)
{
	free(p->ev);
	free(p->fields);
	free(p->text);
}

/* ---- measurements -------------------------------------------------------- */

typedef struct results {
	char lines[96][160];
	int n;
} results;

#if defined(__GNUC__)
static void put(results *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#endif

static void put(results *r, const char *fmt, ...)
{
	if (r->n == (int)(sizeof r->lines / sizeof r->lines[0]))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->lines[r->n++], sizeof r->lines[0], fmt, ap);
	va_end(ap);
}

/* Append the pool's first count events (cycling), per_commit a commit.
 * @return seconds, or -1 on failure. */
static double append_run(const char *dir, const pool *p, uint64_t count,
                         uint64_t per_commit, wf_durability dur,
                         const wf_io *io)
{
	wf_journal *j = journal_open(dir, dur, 0, io);
	if (!j)
		return -1;
	wf_batch *b;
	if (wf_batch_new(&b) < 0) {
		wf_journal_close(j);
		return -1;
	}
	wf_event ev;
	pool_cursor cur = {0, 0};
	int rc = 0;
	double t0 = now_s();
	for (uint64_t i = 0; i < count && rc == 0; i++) {
		pool_next(p, &cur, &ev);
		if ((rc = wf_batch_add(b, &ev)) < 0)
			break;
		if (wf_batch_count(b) == per_commit || i + 1 == count)
			rc = commit(j, b, dir);
	}
	double t = now_s() - t0;
	wf_batch_free(b);
	if (journal_close(j, dir) < 0 || rc < 0)
		return -1;
	return t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One thread, durability always, one event per commit. */
static int bench_always_1(results *res, const char *root, const pool *p,
                          double max_s, uint64_t max_commits)
{
	char *dir = path_join(root, "always1");
	counting_io cio;
	counting_io_init(&cio);
	wf_journal *j = journal_open(dir, WF_DURABILITY_ALWAYS, 0, &cio.io);
	free(dir);
	if (!j)
		return -1;
	wf_batch *b;
	if (wf_batch_new(&b) < 0) {
		wf_journal_close(j);
		return -1;
	}
	double *lat = xrealloc(NULL, max_commits * sizeof *lat);
	uint64_t syncs0 = atomic_load(&cio.fdatasyncs);
	uint64_t sync_ns0 = atomic_load(&cio.fdatasync_ns);
	uint64_t n = 0;
	int rc = 0;
	wf_event ev;
	double t0 = now_s(), t = t0;
	while (n < max_commits && t - t0 < max_s) {
		pool_get(p, n, &ev);
		if ((rc = wf_batch_add(b, &ev)) < 0)
			break;
		if ((rc = commit(j, b, "always1")) < 0)
			break;
		double t1 = now_s();
		lat[n++] = t1 - t;
		t = t1;
	}
	uint64_t syncs = atomic_load(&cio.fdatasyncs) - syncs0;
	uint64_t sync_ns = atomic_load(&cio.fdatasync_ns) - sync_ns0;
	wf_batch_free(b);
	journal_close(j, "always1");
	if (rc < 0 || n == 0) {
		free(lat);
		return -1;
	}
	qsort(lat, n, sizeof *lat, cmp_double);
	put(res, "append_always_1_commits_per_s=%.0f", (double)n / (t - t0));
	put(res, "append_always_1_commits=%" PRIu64, n);
	put(res, "append_always_1_fdatasyncs_per_commit=%.3f",
	    (double)syncs / (double)n);
	put(res, "append_always_1_fdatasync_us_avg=%.1f",
	    syncs ? (double)sync_ns / 1e3 / (double)syncs : 0.0);
	put(res, "append_always_1_latency_us_p50=%.1f", lat[n / 2] * 1e6);
	put(res, "append_always_1_latency_us_p99=%.1f",
	    lat[(size_t)((double)(n - 1) * 0.99)] * 1e6);
	free(lat);
	return 0;
}

#define COMMITTERS 64

typedef struct committer {
	pthread_t tid;
	int index;
	wf_journal *j;
	const pool *p;
	atomic_int *go, *stop;
	uint64_t commits;
	int rc;
} committer;

static void *committer_main(void *arg)
{
	committer *c = arg;
	wf_batch *b;
	wf_event ev;
	if ((c->rc = wf_batch_new(&b)) < 0)
		return NULL;
	while (!atomic_load(c->go))
		sched_yield();
	/* Interleave the threads' pool indexes, so that together they write
	 * the stream in about its order. */
	uint64_t i = (uint64_t)c->index;
	while (!atomic_load(c->stop)) {
		pool_get(c->p, i, &ev);
		i += COMMITTERS;
		if ((c->rc = wf_batch_add(b, &ev)) < 0)
			break;
		if ((c->rc = wf_journal_commit(c->j, b, NULL)) < 0)
			break;
		c->commits++;
	}
	wf_batch_free(b);
	return NULL;
}

/* 64 threads, durability always, one event per commit each. */
static int bench_always_64(results *res, const char *root, const pool *p,
                           double secs)
{
	char *dir = path_join(root, "always64");
	counting_io cio;
	counting_io_init(&cio);
	wf_journal *j = journal_open(dir, WF_DURABILITY_ALWAYS, 0, &cio.io);
	if (!j) {
		free(dir);
		return -1;
	}
	static committer c[COMMITTERS];
	atomic_int go = 0, stop = 0;
	int started = 0;
	for (int i = 0; i < COMMITTERS; i++) {
		c[i] = (committer){0};
		c[i].index = i;
		c[i].j = j;
		c[i].p = p;
		c[i].go = &go;
		c[i].stop = &stop;
		if (pthread_create(&c[i].tid, NULL, committer_main, &c[i]) !=
		    0) {
			fprintf(stderr, "wflow-bench: pthread_create failed\n");
			break;
		}
		started++;
	}
	uint64_t syncs0 = atomic_load(&cio.fdatasyncs);
	uint64_t sync_ns0 = atomic_load(&cio.fdatasync_ns);
	double t0 = now_s();
	atomic_store(&go, 1);
	struct timespec ts = {(time_t)secs,
	                      (long)((secs - (double)(time_t)secs) * 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	atomic_store(&stop, 1);
	uint64_t commits = 0;
	int rc = started == COMMITTERS ? 0 : -1;
	for (int i = 0; i < started; i++) {
		pthread_join(c[i].tid, NULL);
		commits += c[i].commits;
		if (c[i].rc < 0 && rc == 0) {
			fprintf(stderr, "wflow-bench: committer %d: %s (%s)\n",
			        i, wf_journal_errmsg(j), wf_strerror(c[i].rc));
			rc = -1;
		}
	}
	double t = now_s() - t0;
	uint64_t syncs = atomic_load(&cio.fdatasyncs) - syncs0;
	uint64_t sync_ns = atomic_load(&cio.fdatasync_ns) - sync_ns0;
	journal_close(j, dir);
	free(dir);
	if (rc < 0)
		return -1;
	put(res, "append_always_64_events_per_s=%.0f", (double)commits / t);
	put(res, "append_always_64_commits=%" PRIu64, commits);
	put(res, "append_always_64_fdatasyncs=%" PRIu64, syncs);
	put(res, "append_always_64_commits_per_fdatasync=%.1f",
	    syncs ? (double)commits / (double)syncs : 0.0);
	put(res, "append_always_64_fdatasync_us_avg=%.1f",
	    syncs ? (double)sync_ns / 1e3 / (double)syncs : 0.0);
	/* Share of the run some fdatasync was in progress: near 1 means the
	 * disk is the limit, well below 1 that the handoff between groups
	 * is. */
	put(res, "append_always_64_fdatasync_busy=%.2f",
	    (double)sync_ns / 1e9 / t);
	return 0;
}

typedef struct replay_result {
	double secs;
	uint64_t events;
	wf_journal_stats st;
	uint64_t sink;
} replay_result;

/* Read the whole journal, touching every field. @return 0 or -1. */
static int replay_once(const char *dir, replay_result *out)
{
	wf_reader *r;
	const wf_event *ev;
	uint64_t sink = 0, n = 0;
	double t0 = now_s();
	int rc = wf_reader_open(&r, dir, NULL);
	if (rc == 0) {
		while ((rc = wf_reader_next(r, &ev)) > 0) {
			n++;
			sink += ev->seq + ev->type + (uint64_t)ev->time_ns;
			for (uint32_t i = 0; i < ev->nfields; i++) {
				const wf_field *f = &ev->fields[i];
				if (f->kind == WF_FIELD_TEXT ||
				    f->kind == WF_FIELD_JSON)
					sink += f->v.s.len +
					        (f->v.s.len
					                 ? (uint8_t)f->v.s.ptr
					                           [f->v.s.len -
					                            1]
					                 : 0u);
				else
					sink += f->v.u;
			}
		}
	}
	double t = now_s() - t0;
	if (rc < 0) {
		fprintf(stderr, "wflow-bench: replaying %s: %s (%s)\n", dir,
		        wf_reader_errmsg(r), wf_strerror(rc));
		wf_reader_close(r);
		return -1;
	}
	wf_reader_stats(r, &out->st);
	wf_reader_close(r);
	out->secs = t;
	out->events = n;
	out->sink = sink;
	return 0;
}

/* A warm-up, then the best of 3. */
static int replay_best(const char *dir, replay_result *best)
{
	replay_result r;
	if (replay_once(dir, &r) < 0)
		return -1;
	*best = r;
	best->secs = 1e30;
	for (int k = 0; k < 3; k++) {
		if (replay_once(dir, &r) < 0)
			return -1;
		if (r.secs < best->secs)
			*best = r;
	}
	return 0;
}

/* Bytes `wflow dump` would print for the journal. */
static int dump_size(const char *dir, uint64_t *bytes)
{
	wf_reader *r;
	const wf_event *ev;
	char *buf = NULL;
	size_t cap = 0, len;
	uint64_t total = 0;
	int rc = wf_reader_open(&r, dir, NULL);
	if (rc == 0)
		while ((rc = wf_reader_next(r, &ev)) > 0) {
			len = 0;
			if ((rc = wf_dump_format(&buf, &cap, &len, ev)) < 0)
				break;
			total += len;
		}
	if (rc < 0)
		fprintf(stderr, "wflow-bench: dumping %s: %s (%s)\n", dir,
		        r ? wf_reader_errmsg(r) : "", wf_strerror(rc));
	free(buf);
	wf_reader_close(r);
	*bytes = total;
	return rc < 0 ? -1 : 0;
}

static void machine(char *out, size_t n)
{
	struct utsname u;
	char model[128] = "unknown cpu";
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof line, f))
			if (strncmp(line, "model name", 10) == 0) {
				char *c = strchr(line, ':');
				if (c) {
					c += 1 + (c[1] == ' ');
					c[strcspn(c, "\n")] = 0;
					snprintf(model, sizeof model, "%s", c);
				}
				break;
			}
		fclose(f);
	}
	if (uname(&u) != 0)
		memset(&u, 0, sizeof u);
	snprintf(out, n, "%s %s %s, %s, %ld cpus", u.sysname, u.release,
	         u.machine, model, sysconf(_SC_NPROCESSORS_ONLN));
}

static const char *fs_name(const char *dir)
{
	struct statfs s;
	if (statfs(dir, &s) != 0)
		return "unknown";
	switch ((unsigned long)s.f_type) {
	case 0xEF53UL:
		return "ext4";
	case 0x58465342UL:
		return "xfs";
	case 0x9123683EUL:
		return "btrfs";
	case 0x01021994UL:
		return "tmpfs";
	case 0x794C7630UL:
		return "overlayfs";
	case 0x2FC12FC1UL:
		return "zfs";
	case 0x65735546UL:
		return "fuse";
	default:
		return "other";
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "wflow-bench: cannot remove %s: %s\n", path,
		        strerror(errno));
	return 0;
}

static int cmd_journal(int argc, char **argv)
{
	uint64_t events = 2000000;
	int quick = 0, have_events = 0;
	const char *base = "/tmp";

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (is_opt(a, "--events")) {
			if (parse_u64(opt_value(argc, argv, &i, "--events"), 0,
			              &events) < 0 ||
			    events == 0)
				return bad_usage(
				        "--events: expected a count > 0", NULL);
			have_events = 1;
		} else if (is_opt(a, "--dir")) {
			base = opt_value(argc, argv, &i, "--dir");
			if (!base)
				return bad_usage("--dir: expected a directory",
				                 NULL);
		} else if (is_opt(a, "--level")) {
			v = opt_value(argc, argv, &i, "--level");
			if (parse_level(v) < 0)
				return bad_usage("--level: not a zstd level",
				                 NULL);
		} else if (!strcmp(a, "--quick")) {
			quick = 1;
		} else {
			return bad_usage("unknown argument", a);
		}
	}
	if (quick && !have_events)
		events = 20000;
	/* One-event commits cost a write() each: a quarter as many events
	 * give the same figures in a quarter of the time. */
	uint64_t events_small = quick ? events : events / 4;
	if (events_small < 1000)
		events_small = events < 1000 ? events : 1000;
	double always1_s = quick ? 0.25 : 2.0;
	uint64_t always1_max = quick ? 200 : 2000;
	double always64_s = quick ? 0.5 : 3.0;
	uint64_t pool_n = events < (1u << 20) ? events : (1u << 20);

	char *tmpl = path_join(base, "wflow-bench-XXXXXX");
	if (!mkdtemp(tmpl)) {
		fprintf(stderr,
		        "wflow-bench: cannot create a directory in %s: "
		        "%s\n",
		        base, strerror(errno));
		free(tmpl);
		return 2;
	}
	const char *root = tmpl;
	char *large = path_join(root, "large"),
	     *small = path_join(root, "small");
	const char *fs = fs_name(root);
	if (!strcmp(fs, "tmpfs"))
		fprintf(stderr,
		        "wflow-bench: warning: %s is on tmpfs, where "
		        "fdatasync costs nothing: durable figures mean nothing "
		        "(use --dir)\n",
		        root);

	results res = {0};
	char mach[256];
	machine(mach, sizeof mach);
	int rc = 0;

	fprintf(stderr, "wflow-bench: generating %" PRIu64 " events...\n",
	        pool_n);
	pool p;
	pool_build(&p, (size_t)pool_n, 1);

	fprintf(stderr, "wflow-bench: durable appends, 1 thread...\n");
	if (bench_always_1(&res, root, &p, always1_s, always1_max) < 0)
		rc = 1;
	fprintf(stderr, "wflow-bench: durable appends, %d threads...\n",
	        COMMITTERS);
	if (rc == 0 && bench_always_64(&res, root, &p, always64_s) < 0)
		rc = 1;

	fprintf(stderr,
	        "wflow-bench: appending %" PRIu64 " events, 64 per "
	        "commit, durability none...\n",
	        events);
	double t_large = rc ? -1
	                    : append_run(large, &p, events, 64,
	                                 WF_DURABILITY_NONE, NULL);
	fprintf(stderr,
	        "wflow-bench: appending %" PRIu64 " events, 1 per "
	        "commit, durability none...\n",
	        events_small);
	double t_small = t_large < 0 ? -1
	                             : append_run(small, &p, events_small, 1,
	                                          WF_DURABILITY_NONE, NULL);
	if (t_large < 0 || t_small < 0)
		rc = 1;

	replay_result rl = {0}, rs = {0};
	if (rc == 0) {
		fprintf(stderr,
		        "wflow-bench: replaying (warm-up + best of 3)...\n");
		if (replay_best(large, &rl) < 0 || replay_best(small, &rs) < 0)
			rc = 1;
		if (rc == 0 &&
		    (rl.events != events || rs.events != events_small)) {
			fprintf(stderr,
			        "wflow-bench: replay returned %" PRIu64
			        " and %" PRIu64 " events, expected %" PRIu64
			        " and %" PRIu64 "\n",
			        rl.events, rs.events, events, events_small);
			rc = 1;
		}
	}
	uint64_t dump_l = 0, dump_s = 0;
	disk_usage du_l = {0}, du_s = {0};
	if (rc == 0) {
		fprintf(stderr, "wflow-bench: sizing the dumps...\n");
		if (dump_size(large, &dump_l) < 0 ||
		    dump_size(small, &dump_s) < 0 ||
		    disk_usage_of(large, &du_l) < 0 ||
		    disk_usage_of(small, &du_s) < 0)
			rc = 1;
	}

	pool_free(&p);
	free(large);
	free(small);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(tmpl);
	if (rc)
		return 1;

	put(&res, "append_none_events_per_s=%.0f", (double)events / t_large);
	put(&res, "append_none_1_events_per_s=%.0f",
	    (double)events_small / t_small);
	put(&res, "replay_events_per_s=%.0f", (double)rl.events / rl.secs);
	put(&res, "replay_mb_per_s=%.1f",
	    (double)rl.st.bytes_raw / 1e6 / rl.secs);
	put(&res, "replay_disk_mb_per_s=%.1f",
	    (double)rl.st.bytes_disk / 1e6 / rl.secs);
	put(&res, "replay_small_frames_events_per_s=%.0f",
	    (double)rs.events / rs.secs);
	put(&res, "replay_small_frames_mb_per_s=%.1f",
	    (double)rs.st.bytes_raw / 1e6 / rs.secs);
	put(&res, "compression_ratio_small_frames=%.2f",
	    (double)dump_s / (double)du_s.bytes);
	put(&res, "compression_ratio_large_frames=%.2f",
	    (double)dump_l / (double)du_l.bytes);
	put(&res, "raw_ratio_small_frames=%.2f",
	    (double)rs.st.bytes_raw / (double)du_s.bytes);
	put(&res, "raw_ratio_large_frames=%.2f",
	    (double)rl.st.bytes_raw / (double)du_l.bytes);
	put(&res, "dump_bytes_small=%" PRIu64, dump_s);
	put(&res, "disk_bytes_small=%" PRIu64, du_s.bytes);
	put(&res, "raw_bytes_small=%" PRIu64, rs.st.bytes_raw);
	put(&res, "frames_small=%" PRIu64, rs.st.frames);
	put(&res, "dump_bytes_large=%" PRIu64, dump_l);
	put(&res, "disk_bytes_large=%" PRIu64, du_l.bytes);
	put(&res, "raw_bytes_large=%" PRIu64, rl.st.bytes_raw);
	put(&res, "frames_large=%" PRIu64, rl.st.frames);
	put(&res, "segments_large=%" PRIu64, du_l.segments);
	put(&res, "events=%" PRIu64, events);
	put(&res, "events_small=%" PRIu64, events_small);
	put(&res, "dump_bytes_per_event=%.1f", (double)dump_l / (double)events);
	put(&res, "disk_bytes_per_event_large=%.1f",
	    (double)du_l.bytes / (double)events);
	put(&res, "quick=%d", quick);
	if (have_level)
		put(&res, "zstd_level=%d", zstd_level);
	put(&res, "dir_fs=%s", fs);
	put(&res, "machine=%s", mach);
	put(&res, "replay_checksum=%" PRIu64, rl.sink);
	for (int i = 0; i < res.n; i++)
		printf("%s\n", res.lines[i]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("wflow-bench %s\n", wf_version());
		return 0;
	}
	if (!strcmp(argv[1], "gen"))
		return cmd_gen(argc - 2, argv + 2);
	if (!strcmp(argv[1], "journal"))
		return cmd_journal(argc - 2, argv + 2);
	return bad_usage("unknown command", argv[1]);
}
