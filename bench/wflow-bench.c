/*
 * wflow-bench: synthetic journals, journal and engine benchmarks.
 *
 *   wflow-bench gen DIR --events N [...]   write a realistic journal
 *   wflow-bench journal [...]              measure append and replay
 *   wflow-bench engine [...]               measure the engine (public API)
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
 * The engine command uses only the public API (wflow.h), as a program
 * embedding wflow would; its section below says how each figure is
 * obtained, and which ones are estimates.
 *
 * Every command prints its figures last, one name=value per line;
 * progress goes to stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/floor.h"
#include "bench/recovery.h"
#include "bench/synth.h"
#include "bench/util.h"
#include "journal/journal.h"
#include "replay/dumpfmt.h"
#include "replay/events.h"
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
	"  engine [--dir D] [--quick]\n"
	"      measure the engine through its public API: no-op steps\n"
	"      (durability none, 1 worker), estimated fdatasyncs of a chain\n"
	"      of 50 steps and of 64 parallel steps (durability always),\n"
	"      wf_get_metadata, and wf_open on a journal of about 1 million\n"
	"      events (time, RSS growth per step). Temporary engine\n"
	"      directories go under D (default /tmp) and are removed.\n"
	"      --quick: small sizes, for a smoke test.\n"
	"  actors [--dir D] [--quick]\n"
	"      measure virtual actors: writer calls on one actor (durability\n"
	"      none, 1 worker); journal bytes and time per call on an actor\n"
	"      of 1 MB state where one field changes; wf_open of 10,000\n"
	"      actors of 1 KB state. --quick: small sizes.\n"
	"  cli [--dir D] [--events N] [--quick]\n"
	"      measure the wflow tool on a synthetic journal of N events\n"
	"      (default 10,000,000; --quick: 200,000): wflow verify and\n"
	"      stats (events/s, MB/s of journal), wflow meta of one workflow\n"
	"      (a full replay), then meta again after an engine's open and\n"
	"      close left a snapshot.\n"
	"  recovery [--quick | --full] [--dir D] [--out O] [--install-deps]\n"
	"      recovery against the stores a C program would use instead:\n"
	"      for histories of 10^4, 10^5 and 10^6 events (--quick: 10^4,\n"
	"      10^5; --full: also 10^7) of synthetic workflows, the time to\n"
	"      open a wflow engine (with and without a snapshot), to read and\n"
	"      fold the same events from SQLite (WAL), and to scan and parse\n"
	"      a file-per-step tree laid out as Ray Workflows stored it;\n"
	"      warm and cold page cache (cold needs root), events/s, MB/s,\n"
	"      RSS; the engine's close after an open from a snapshot (it\n"
	"      writes the next); then durable appends with 1 and 64\n"
	"      writers. Writes O/recovery.csv and, with gnuplot,\n"
	"      O/recovery.png (O default .); --install-deps apt-get installs\n"
	"      gnuplot-nox first. Scratch stores go under D (default /tmp)\n"
	"      and are removed.\n"
	"      More options: wflow-bench recovery --help.\n"
	"  --level L: zstd level of the journals written (default: the\n"
	"      journal's own default).\n"
	"\n"
	"Figures are printed last, one name=value per line.\n";

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

/*
 * A fresh scratch directory under base for a benchmark's journals (the
 * caller frees the path and removes the tree). Warns when it is on tmpfs,
 * where an fdatasync costs nothing and durable figures mean nothing.
 * @return NULL after printing why it could not be made.
 */
static char *scratch_root(const char *base)
{
	char *root = path_join(base, "wflow-bench-XXXXXX");
	if (!mkdtemp(root)) {
		fprintf(stderr,
		        "wflow-bench: cannot create a directory in %s: %s\n",
		        base, strerror(errno));
		free(root);
		return NULL;
	}
	if (!strcmp(fs_name(root), "tmpfs"))
		fprintf(stderr,
		        "wflow-bench: warning: %s is on tmpfs, where "
		        "fdatasync costs nothing: durable figures mean nothing "
		        "(use --dir)\n",
		        root);
	return root;
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

	char *tmpl = scratch_root(base);
	if (!tmpl)
		return 2;
	const char *root = tmpl;
	const char *fs = fs_name(root);
	char *large = path_join(root, "large"),
	     *small = path_join(root, "small");

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
	rm_tree(root);
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

/* ---- engine -------------------------------------------------------------- */

/*
 * The engine, through the public API only. There is no hook to count the
 * engine's fdatasyncs from outside (its journal I/O table is internal), so
 * the durable figures are estimates: the wall time of a workflow divided
 * by the mean time of one fdatasync measured on the same filesystem, right
 * before (a file in the same directory, appended to and synced, as the
 * journal is). The "_net" variants first subtract the time of the same
 * workflow with durability none, which leaves the time spent syncing; on
 * a disk whose fdatasync is fast, CPU time would otherwise count as
 * fsyncs.
 *
 * The estimates are only as steady as the disk's fdatasync latency, which
 * on virtual disks varies several-fold from one second to the next. So
 * the "_counted" figures count the calls themselves, beneath the API: this
 * program defines fdatasync() and fsync(), which the statically linked
 * library's journal calls instead of libc's, and which count and then make
 * the system call. Nothing in the engine is touched or consulted.
 */

static atomic_uint_fast64_t sys_fdatasyncs, sys_fsyncs;

int fdatasync(int fd)
{
	atomic_fetch_add(&sys_fdatasyncs, 1);
	return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd)
{
	atomic_fetch_add(&sys_fsyncs, 1);
	return (int)syscall(SYS_fsync, fd);
}

static uint64_t syncs_now(void)
{
	return atomic_load(&sys_fdatasyncs) + atomic_load(&sys_fsyncs);
}

static int noop_fn(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ctx;
	(void)args;
	(void)ud;
	*out = NULL;
	return 0;
}

typedef struct bench_engine {
	wf_engine *e;
	wf_step *noop;
	char *dir;
} bench_engine;

static int engine_open(bench_engine *b, const char *dir, int durability,
                       unsigned workers)
{
	wf_config cfg = WF_CONFIG_INIT;
	cfg.durability = durability;
	cfg.workers = workers;
	b->dir = NULL;
	int rc = wf_open(&b->e, dir, &cfg);
	if (rc < 0) {
		fprintf(stderr, "wflow-bench: wf_open %s: %s (%s)\n", dir,
		        b->e ? wf_errmsg(b->e) : "out of memory",
		        wf_strerror(rc));
		wf_close(b->e);
		b->e = NULL;
		return -1;
	}
	rc = wf_step_define(b->e, "noop", noop_fn, NULL, NULL, &b->noop);
	if (rc < 0) {
		fprintf(stderr, "wflow-bench: wf_step_define: %s (%s)\n",
		        wf_errmsg(b->e), wf_strerror(rc));
		wf_close(b->e);
		b->e = NULL;
		return -1;
	}
	b->dir = strdup(dir);
	return 0;
}

static int engine_close(bench_engine *b)
{
	int rc = wf_close(b->e);
	if (rc < 0)
		fprintf(stderr, "wflow-bench: wf_close %s: %s\n", b->dir,
		        wf_strerror(rc));
	free(b->dir);
	b->e = NULL;
	b->dir = NULL;
	return rc;
}

static int node_failed(bench_engine *b, const char *what, int rc)
{
	fprintf(stderr, "wflow-bench: %s: %s (%s)\n", what, wf_errmsg(b->e),
	        wf_strerror(rc));
	return -1;
}

/* noop(noop(...noop(arg)...)), n calls. @return 0 or -1 (printed). */
static int make_chain(bench_engine *b, int n, const char *arg, wf_node **out)
{
	wf_node *inner = NULL;
	int rc = wf_node_new(&inner, b->noop, NULL);
	if (rc == 0)
		rc = wf_node_arg_json(inner, arg);
	for (int k = 1; k < n && rc == 0; k++) {
		wf_node *outer = NULL;
		if ((rc = wf_node_new(&outer, b->noop, NULL)) < 0)
			break;
		rc = wf_node_arg_node(outer, inner);
		inner = outer; /* taken by outer, also on failure */
	}
	if (rc < 0) {
		wf_node_free(inner);
		return node_failed(b, "building a chain", rc);
	}
	*out = inner;
	return 0;
}

/* noop(noop(0), noop(1), ..., noop(width-1)): width independent steps and
 * the step that takes their outputs. */
static int make_fan_in(bench_engine *b, int width, wf_node **out)
{
	wf_node *top = NULL;
	int rc = wf_node_new(&top, b->noop, NULL);
	for (int k = 0; k < width && rc == 0; k++) {
		wf_node *leaf = NULL;
		char arg[16];
		snprintf(arg, sizeof arg, "%d", k);
		if ((rc = wf_node_new(&leaf, b->noop, NULL)) < 0)
			break;
		if ((rc = wf_node_arg_json(leaf, arg)) < 0) {
			wf_node_free(leaf);
			break;
		}
		rc = wf_node_arg_node(top, leaf);
	}
	if (rc < 0) {
		wf_node_free(top);
		return node_failed(b, "building a fan-in", rc);
	}
	*out = top;
	return 0;
}

/* wf_run dag as id. @return seconds, or -1 (printed). */
static double run_timed(bench_engine *b, wf_node *dag, const char *id)
{
	double t0 = now_s();
	int rc = wf_run(b->e, dag, id, NULL, NULL);
	double t = now_s() - t0;
	if (rc < 0) {
		fprintf(stderr, "wflow-bench: wf_run %s: %s (%s)\n", id,
		        wf_errmsg(b->e), wf_strerror(rc));
		return -1;
	}
	return t;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median time of reps runs of a chain of n no-op steps (ids prefix/k). */
static double chain_median(bench_engine *b, int n, int reps,
                           const char *prefix)
{
	double t[8];
	for (int k = 0; k < reps; k++) {
		char id[64];
		wf_node *dag;
		snprintf(id, sizeof id, "%s/%d", prefix, k);
		if (make_chain(b, n, "0", &dag) < 0 ||
		    (t[k] = run_timed(b, dag, id)) < 0)
			return -1;
	}
	return median(t, reps);
}

/* Median time of reps runs of a fan-in of width no-op steps. */
static double fan_in_median(bench_engine *b, int width, int reps,
                            const char *prefix)
{
	double t[8];
	for (int k = 0; k < reps; k++) {
		char id[64];
		wf_node *dag;
		snprintf(id, sizeof id, "%s/%d", prefix, k);
		if (make_fan_in(b, width, &dag) < 0 ||
		    (t[k] = run_timed(b, dag, id)) < 0)
			return -1;
	}
	return median(t, reps);
}

/* Mean seconds of one fdatasync after a small appending pwrite, in dir:
 * what one durable commit costs at least. */
static double fsync_probe(const char *dir, int count)
{
	char *path = path_join(dir, "fsync-probe");
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "wflow-bench: %s: %s\n", path,
		        strerror(errno));
		free(path);
		return -1;
	}
	char buf[128];
	memset(buf, 'x', sizeof buf);
	off_t off = 0;
	double total = 0;
	int ok = 1;
	/* The first syncs of a new file also allocate its blocks and write
	 * its inode: warm up, as the journal's segment is warm. */
	for (int i = -5; i < count && ok; i++) {
		double t0 = now_s();
		ok = pwrite(fd, buf, sizeof buf, off) == (ssize_t)sizeof buf &&
		     fdatasync(fd) == 0;
		if (i >= 0)
			total += now_s() - t0;
		off += (off_t)sizeof buf;
	}
	if (!ok)
		fprintf(stderr, "wflow-bench: %s: %s\n", path,
		        strerror(errno));
	close(fd);
	unlink(path);
	free(path);
	return ok ? total / count : -1;
}

/* Run workflows first..last-1 (chains of steps no-op calls, ids
 * order/NNNNNNNN) with up to WINDOW in flight, stopping early at
 * deadline (now_s() clock). @return how many ran, or -1 (printed). */
#define WINDOW 64
static int64_t run_many(bench_engine *b, uint64_t first, uint64_t last,
                        int steps, double deadline)
{
	wf_future *ring[WINDOW] = {0};
	uint64_t i;
	int rc = 0;
	for (i = first; i < last && rc == 0; i++) {
		wf_future **slot = &ring[i % WINDOW];
		if (*slot) {
			rc = wf_future_wait(*slot, NULL);
			wf_future_free(*slot);
			*slot = NULL;
			if (rc < 0)
				break;
		}
		if ((i & 255) == 0 && now_s() > deadline)
			break;
		char id[32], arg[48];
		snprintf(id, sizeof id, "order/%08" PRIu64, i);
		snprintf(arg, sizeof arg, "{\"order\": %" PRIu64 "}", i);
		wf_node *dag;
		if (make_chain(b, steps, arg, &dag) < 0)
			return -1;
		if ((rc = wf_run_async(b->e, dag, id, NULL, slot)) < 0)
			*slot = NULL; /* nothing was started */
	}
	for (int k = 0; k < WINDOW; k++) {
		if (!ring[k])
			continue;
		int r = wf_future_wait(ring[k], NULL);
		wf_future_free(ring[k]);
		if (r < 0 && rc == 0)
			rc = r;
	}
	if (rc < 0) {
		fprintf(stderr, "wflow-bench: running workflows: %s (%s)\n",
		        wf_errmsg(b->e), wf_strerror(rc));
		return -1;
	}
	return (int64_t)(i - first);
}

/* Events in the journal dir, and how many of them are step_succeeded. */
static int count_events(const char *jdir, uint64_t *events, uint64_t *steps)
{
	wf_reader *r;
	const wf_event *ev;
	int rc = wf_reader_open(&r, jdir, NULL);
	*events = *steps = 0;
	if (rc == 0)
		while ((rc = wf_reader_next(r, &ev)) > 0) {
			(*events)++;
			if (ev->type == WF_EV_STEP_SUCCEEDED)
				(*steps)++;
		}
	if (rc < 0)
		fprintf(stderr, "wflow-bench: reading %s: %s (%s)\n", jdir,
		        r ? wf_reader_errmsg(r) : "", wf_strerror(rc));
	wf_reader_close(r);
	return rc < 0 ? -1 : 0;
}

#define OPENS 3

/*
 * The hidden command `wflow-bench engine-open-child DIR`: open an engine on
 * DIR OPENS times, printing for each open_s=S, cpu_s=S (the CPU time of
 * all its threads) and close_s=S (its close), and for the first
 * rss_before= and rss_after=. It runs in a process of its own, started by
 * cmd_engine, because the process that wrote the journal keeps the freed
 * heap of its engine, which a second wf_open would reuse: RSS growth
 * measured there would flatter the fold.
 */
static int cmd_engine_open_child(int argc, char **argv)
{
	if (argc != 1 && argc != 2)
		return 2;
	/* "full": no snapshots, every open replays the whole journal. */
	wf_config cfg = WF_CONFIG_INIT;
	cfg.no_snapshots = argc == 2 && strcmp(argv[1], "full") == 0;
	for (int k = 0; k < OPENS; k++) {
		long long before = rss_bytes();
		wf_engine *e;
		double c0 = process_cpu_s(), t0 = now_s();
		int rc = wf_open(&e, argv[0], &cfg);
		double t = now_s() - t0, c = process_cpu_s() - c0;
		long long after = rss_bytes();
		if (rc < 0) {
			fprintf(stderr, "wflow-bench: wf_open %s: %s (%s)\n",
			        argv[0], e ? wf_errmsg(e) : "out of memory",
			        wf_strerror(rc));
			wf_close(e);
			return 1;
		}
		if (k == 0)
			printf("rss_before=%lld\nrss_after=%lld\n", before,
			       after);
		printf("open_s=%.6f\ncpu_s=%.6f\n", t, c);
		fflush(stdout);
		/* The close writes the next snapshot (the open journaled a
		 * session): what a restart costs on the way down. */
		t0 = now_s();
		if (wf_close(e) < 0)
			return 1;
		printf("close_s=%.6f\n", now_s() - t0);
		fflush(stdout);
	}
	return 0;
}

/* Run the open child on dir; read its figures. @return 0 or -1. */
static int open_in_child(const char *dir, int full, double *open_s,
                         long long *rss0, long long *rss1)
{
	char *args[] = {"wflow-bench", "engine-open-child", (char *)dir,
	                full ? "full" : NULL, NULL};
	pid_t pid;
	FILE *f = child_start(args, &pid);
	if (!f)
		return -1;
	char line[128];
	int opens = 0;
	*rss0 = *rss1 = -1;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "rss_before=%lld", rss0) == 1 ||
		    sscanf(line, "rss_after=%lld", rss1) == 1)
			continue;
		if (opens < OPENS &&
		    sscanf(line, "open_s=%lf", &open_s[opens]) == 1)
			opens++;
	}
	int status = child_finish(f, pid);
	if (status != 0 || opens != OPENS) {
		fprintf(stderr, "wflow-bench: the open measurement failed "
		                "(child exit status %d)\n",
		        status);
		return -1;
	}
	return 0;
}

/* Event target and time cap of the journal that wf_open replays. */
#define OPEN_EVENTS 1000000
#define OPEN_EVENTS_QUICK 20000
#define OPEN_STEPS 5

static int bench_open(results *res, const char *root, int quick)
{
	uint64_t target = quick ? OPEN_EVENTS_QUICK : OPEN_EVENTS;
	double cap_s = quick ? 5 : 300;
	char *dir = path_join(root, "open");
	char *jdir = path_join(dir, "journal");
	bench_engine b;
	int rc = -1;
	uint64_t events = 0, steps = 0;
	double t0 = now_s(), deadline = t0 + cap_s;

	/* Events per workflow are the engine's business: run a first
	 * batch, count, then run what makes up the target. */
	uint64_t first = quick ? 100 : 1000;
	fprintf(stderr,
	        "wflow-bench: writing a journal of about %" PRIu64
	        " events with the engine (durability none)...\n",
	        target);
	if (engine_open(&b, dir, WF_SYNC_NONE, 0) < 0)
		goto out;
	int64_t ran = run_many(&b, 0, first, OPEN_STEPS, deadline);
	if (engine_close(&b) < 0 || ran < 0 ||
	    count_events(jdir, &events, &steps) < 0)
		goto out;
	uint64_t workflows = (uint64_t)ran;
	double per_wf = (double)events / (double)(workflows ? workflows : 1);
	uint64_t want = (uint64_t)((double)target / per_wf + 0.5);
	if (want > workflows) {
		if (engine_open(&b, dir, WF_SYNC_NONE, 0) < 0)
			goto out;
		ran = run_many(&b, workflows, want, OPEN_STEPS, deadline);
		if (engine_close(&b) < 0 || ran < 0)
			goto out;
		workflows += (uint64_t)ran;
	}
	double gen_s = now_s() - t0;
	if (count_events(jdir, &events, &steps) < 0)
		goto out;

	fprintf(stderr, "wflow-bench: timing wf_open on %" PRIu64
	                " events (3 opens, in a fresh process)...\n",
	        events);
	double open_s[OPENS];
	long long rss0, rss1;
	if (open_in_child(dir, 0, open_s, &rss0, &rss1) < 0)
		goto out;
	double full_s[OPENS];
	long long frss0, frss1;
	fprintf(stderr, "wflow-bench: and without snapshots (full replay)...\n");
	if (open_in_child(dir, 1, full_s, &frss0, &frss1) < 0)
		goto out;
	put(res, "open_1m_events_s=%.3f", median(open_s, OPENS));
	put(res, "open_1m_full_replay_s=%.3f", median(full_s, OPENS));
	put(res, "full_replay_events_per_s=%.0f",
	    (double)events / median(full_s, OPENS));
	put(res, "open_events=%" PRIu64, events);
	put(res, "open_workflows=%" PRIu64, workflows);
	put(res, "open_steps=%" PRIu64, steps);
	if (events < target * 95 / 100)
		put(res,
		    "open_note=only %" PRIu64 " events (target %" PRIu64
		    "): generation was stopped after %.0f s",
		    events, target, gen_s);
	put(res, "open_gen_s=%.1f", gen_s);
	put(res, "bytes_per_step_after_open=%.0f",
	    rss0 >= 0 && rss1 >= 0 && steps
	            ? (double)(rss1 - rss0) / (double)steps
	            : -1.0);
	put(res, "rss_growth_open_bytes=%lld", rss1 - rss0);
	put(res, "bytes_per_step_after_full_replay=%.0f",
	    frss0 >= 0 && frss1 >= 0 && steps
	            ? (double)(frss1 - frss0) / (double)steps
	            : -1.0);
	char *sdir = path_join(dir, "snapshots");
	uint64_t snap = 0;
	DIR *d = opendir(sdir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char *pth = path_join(sdir, de->d_name);
		struct stat st;
		if (strstr(de->d_name, ".wfs") && stat(pth, &st) == 0 &&
		    (uint64_t)st.st_size > snap)
			snap = (uint64_t)st.st_size;
		free(pth);
	}
	if (d)
		closedir(d);
	free(sdir);
	put(res, "open_snapshot_bytes=%" PRIu64, snap);
	rc = 0;
out:
	free(jdir);
	free(dir);
	return rc;
}

static int cmd_engine(int argc, char **argv)
{
	int quick = 0;
	const char *base = "/tmp";
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (is_opt(a, "--dir")) {
			base = opt_value(argc, argv, &i, "--dir");
			if (!base)
				return bad_usage("--dir: expected a directory",
				                 NULL);
		} else if (!strcmp(a, "--quick")) {
			quick = 1;
		} else {
			return bad_usage("unknown argument", a);
		}
	}
	int noop_wfs = quick ? 100 : 2000, noop_len = 10;
	int chain_n = quick ? 20 : 50, reps = quick ? 1 : 3;
	int fsyncs = quick ? 50 : 200;
	int md_calls = quick ? 10000 : 100000;

	char *root = scratch_root(base);
	if (!root)
		return 2;
	const char *fs = fs_name(root);
	results res = {0};
	char mach[256];
	machine(mach, sizeof mach);
	char *d_none1 = path_join(root, "none1"),
	     *d_none = path_join(root, "none"),
	     *d_always = path_join(root, "always");
	bench_engine b = {0};
	int rc = 1;

	fprintf(stderr,
	        "wflow-bench: %d workflows of %d no-op steps, durability "
	        "none, 1 worker...\n",
	        noop_wfs, noop_len);
	if (engine_open(&b, d_none1, WF_SYNC_NONE, 1) < 0)
		goto out;
	/* The first workflows of an engine start its threads and grow its
	 * tables: warm up before the clock runs. */
	double t_noop = 0;
	int warmup = noop_wfs / 20;
	for (int k = -warmup; k < noop_wfs; k++) {
		char id[32];
		wf_node *dag;
		if (k < 0)
			snprintf(id, sizeof id, "warmup/%d", -k);
		else
			snprintf(id, sizeof id, "noop/%07d", k);
		double t;
		if (make_chain(&b, noop_len, "0", &dag) < 0 ||
		    (t = run_timed(&b, dag, id)) < 0) {
			engine_close(&b);
			goto out;
		}
		if (k >= 0)
			t_noop += t;
	}
	/* get_metadata on the live engine: a finished workflow of 10
	 * steps, among the others. The outermost step is "noop", the
	 * innermost "noop_9". */
	fprintf(stderr, "wflow-bench: wf_get_metadata, %d calls...\n",
	        md_calls);
	double t_md = 0, t_md_step = 0;
	for (int pass = 0; pass < 2; pass++) {
		const char *step = pass ? "noop_5" : NULL;
		double t0 = now_s();
		for (int k = 0; k < md_calls; k++) {
			cJSON *md;
			int r = wf_get_metadata(b.e, "noop/0000000", step, &md);
			if (r < 0) {
				fprintf(stderr,
				        "wflow-bench: wf_get_metadata: %s "
				        "(%s)\n",
				        wf_errmsg(b.e), wf_strerror(r));
				engine_close(&b);
				goto out;
			}
			cJSON_Delete(md);
		}
		*(pass ? &t_md_step : &t_md) = now_s() - t0;
	}
	if (engine_close(&b) < 0)
		goto out;

	fprintf(stderr, "wflow-bench: chain of %d and fan-in of 64, "
	                "durability none...\n",
	        chain_n);
	if (engine_open(&b, d_none, WF_SYNC_NONE, 0) < 0)
		goto out;
	double t_chain_none = chain_median(&b, chain_n, reps, "chain");
	double t_par_none = t_chain_none < 0
	                            ? -1
	                            : fan_in_median(&b, 64, reps, "par64");
	if (engine_close(&b) < 0 || t_par_none < 0)
		goto out;

	fprintf(stderr, "wflow-bench: chain of %d and fan-in of 64, "
	                "durability always...\n",
	        chain_n);
	if (engine_open(&b, d_always, WF_SYNC_ALWAYS, 0) < 0)
		goto out;
	/* Each estimate divides by an fdatasync time measured just before
	 * it, as the disk's latency drifts. */
	double fsync_chain_s = fsync_probe(root, fsyncs);
	uint64_t s0 = syncs_now();
	double t_chain = fsync_chain_s <= 0 ? -1
	                                    : chain_median(&b, chain_n, reps,
	                                                   "chain");
	uint64_t s1 = syncs_now();
	double fsync_par_s = t_chain < 0 ? -1 : fsync_probe(root, fsyncs);
	uint64_t s2 = syncs_now();
	double t_par = fsync_par_s <= 0
	                       ? -1
	                       : fan_in_median(&b, 64, reps, "par64");
	uint64_t s3 = syncs_now();
	if (engine_close(&b) < 0 || t_par < 0)
		goto out;
	double chain_counted = (double)(s1 - s0) / reps / chain_n;
	double par_counted = (double)(s3 - s2) / reps;

	double noop_steps = (double)noop_wfs * noop_len;
	put(&res, "noop_step_us=%.2f", t_noop / noop_steps * 1e6);
	put(&res, "noop_workflow_us=%.1f", t_noop / noop_wfs * 1e6);
	put(&res, "noop_steps=%.0f", noop_steps);
	put(&res, "fsync_us=%.1f", (fsync_chain_s + fsync_par_s) / 2 * 1e6);
	put(&res, "fsync_us_before_chain=%.1f", fsync_chain_s * 1e6);
	put(&res, "fsync_us_before_parallel64=%.1f", fsync_par_s * 1e6);
	put(&res, "chain_steps=%d", chain_n);
	put(&res, "chain_step_us_always=%.1f", t_chain / chain_n * 1e6);
	put(&res, "chain_step_us_none=%.1f", t_chain_none / chain_n * 1e6);
	/* fsyncs are counted (see the fdatasync wrapper above); the
	 * time-based estimates are printed for comparison only, since this
	 * disk's fsync latency swings from run to run. */
	put(&res, "chain_fsyncs_per_step=%.2f", chain_counted);
	put(&res, "chain_fsyncs_per_step_by_time=%.2f",
	    t_chain / chain_n / fsync_chain_s);
	put(&res, "parallel64_ms_always=%.2f", t_par * 1e3);
	put(&res, "parallel64_ms_none=%.2f", t_par_none * 1e3);
	put(&res, "parallel64_fsyncs=%.1f", par_counted);
	put(&res, "parallel64_fsyncs_by_time=%.1f", t_par / fsync_par_s);
	put(&res, "get_metadata_us=%.2f", t_md / md_calls * 1e6);
	put(&res, "get_metadata_step_us=%.2f", t_md_step / md_calls * 1e6);
	put(&res, "get_metadata_calls=%d", md_calls);
	if (bench_open(&res, root, quick) < 0)
		goto out;
	/* The durable runs and the open use the default worker count. */
	put(&res, "workers=default");
	put(&res, "repetitions=%d", reps);
	put(&res, "quick=%d", quick);
	put(&res, "dir_fs=%s", fs);
	put(&res, "machine=%s", mach);
	rc = 0;
out:
	free(d_none1);
	free(d_none);
	free(d_always);
	rm_tree(root);
	free(root);
	if (rc)
		return 1;
	for (int i = 0; i < res.n; i++)
		printf("%s\n", res.lines[i]);
	return 0;
}

/* ---- actors ---- */

/* Counter: state {"n": N, ...}; incr(k) adds k to n. */
static int counter_init(const cJSON *args, void *udata, cJSON **state,
                        char *err, size_t errlen)
{
	(void)udata;
	(void)err;
	(void)errlen;
	const cJSON *s = cJSON_GetArrayItem(args, 0);
	*state = s ? cJSON_Duplicate(s, 1) : cJSON_Parse("{\"n\": 0}");
	return *state ? 0 : -1;
}

static int counter_incr(wf_ctx *ctx, const cJSON *args, void *udata,
                        cJSON **out)
{
	(void)udata;
	cJSON *n = cJSON_GetObjectItemCaseSensitive(wf_ctx_state(ctx), "n");
	const cJSON *k = cJSON_GetArrayItem(args, 0);
	if (!cJSON_IsNumber(n) || !cJSON_IsNumber(k))
		return wf_ctx_fail(ctx, "state has no n, or no argument");
	cJSON_SetNumberValue(n, n->valuedouble + k->valuedouble);
	*out = cJSON_CreateNumber(n->valuedouble);
	return 0;
}

typedef struct bench_actors {
	wf_engine *e;
	wf_actor_class *cls;
	wf_step *incr;
} bench_actors;

static int actors_open(bench_actors *b, const char *dir, unsigned workers)
{
	wf_config cfg = WF_CONFIG_INIT;
	cfg.durability = WF_SYNC_NONE;
	cfg.workers = workers;
	int rc = wf_open(&b->e, dir, &cfg);
	if (rc == 0)
		rc = wf_actor_class_define(b->e, "Counter", counter_init, NULL,
		                           &b->cls);
	if (rc == 0)
		rc = wf_actor_method_define(b->cls, "incr", counter_incr, NULL,
		                            WF_METHOD_WRITER, NULL, &b->incr);
	if (rc < 0) {
		fprintf(stderr, "wflow-bench: opening %s: %s (%s)\n", dir,
		        b->e ? wf_errmsg(b->e) : "out of memory", wf_strerror(rc));
		wf_close(b->e);
		b->e = NULL;
		return -1;
	}
	return 0;
}

/* One call of incr(k) on a. @return 0 or -1. */
static int actor_incr(bench_actors *b, wf_actor *a, int k)
{
	wf_node *n;
	char arg[16];
	snprintf(arg, sizeof arg, "%d", k);
	int rc = wf_node_new(&n, b->incr, NULL);
	if (rc == 0 && (rc = wf_node_arg_json(n, arg)) < 0)
		wf_node_free(n);
	if (rc == 0)
		rc = wf_actor_call(a, n, NULL);
	if (rc < 0) {
		fprintf(stderr, "wflow-bench: call on %s: %s (%s)\n",
		        wf_actor_id(a), wf_errmsg(b->e), wf_strerror(rc));
		return -1;
	}
	return 0;
}

static int actor_get(bench_actors *b, const char *id, const char *state,
                     wf_actor **a)
{
	cJSON *args = cJSON_CreateArray();
	cJSON *s = state ? cJSON_Parse(state) : NULL;
	if (s)
		cJSON_AddItemToArray(args, s);
	int rc = wf_actor_get_or_create(b->cls, id, args, a);
	cJSON_Delete(args);
	if (rc < 0)
		fprintf(stderr, "wflow-bench: get_or_create %s: %s (%s)\n", id,
		        wf_errmsg(b->e), wf_strerror(rc));
	return rc < 0 ? -1 : 0;
}

/* Bytes of the segment files in dir. */
static uint64_t journal_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	uint64_t total = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char *p = path_join(dir, de->d_name);
		struct stat st;
		if (strstr(de->d_name, ".wfj") && stat(p, &st) == 0)
			total += (uint64_t)st.st_size;
		free(p);
	}
	if (d)
		closedir(d);
	return total;
}

/* {"n": 0, "k00000": "<pad>", ...}: about bytes of JSON. */
static char *big_state(size_t bytes)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "n", 0);
	char pad[101];
	memset(pad, 'x', 100);
	pad[100] = '\0';
	int keys = (int)(bytes / 112);
	for (int i = 0; i < keys; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%05d", i);
		cJSON_AddStringToObject(o, k, pad);
	}
	char *t = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return t;
}

static int cmd_actors(int argc, char **argv)
{
	int quick = 0;
	const char *base = "/tmp";
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (is_opt(a, "--dir")) {
			base = opt_value(argc, argv, &i, "--dir");
			if (!base)
				return bad_usage("--dir: expected a directory",
				                 NULL);
		} else if (!strcmp(a, "--quick")) {
			quick = 1;
		} else {
			return bad_usage("unknown argument", a);
		}
	}
	int calls = quick ? 2000 : 50000;
	int big_calls = quick ? 5 : 50;
	int nactors = quick ? 500 : 10000;
	char *root = scratch_root(base);
	if (!root)
		return 2;
	const char *fs = fs_name(root);
	results res = {0};
	char mach[256];
	machine(mach, sizeof mach);
	char *d_call = path_join(root, "call"), *d_big = path_join(root, "big"),
	     *d_many = path_join(root, "many");
	char *j_big = path_join(d_big, "journal");
	bench_actors b = {0};
	wf_actor *a = NULL;
	int rc = 1;

	/* 1. Writer calls on one actor, one thread, durability none. */
	fprintf(stderr, "wflow-bench: %d writer calls on one actor, durability "
	                "none, 1 worker...\n",
	        calls);
	if (actors_open(&b, d_call, 1) < 0 || actor_get(&b, "counter", NULL, &a))
		goto out;
	for (int k = 0; k < calls / 20; k++) /* warm up */
		if (actor_incr(&b, a, 1) < 0)
			goto out;
	double t0 = now_s();
	for (int k = 0; k < calls; k++)
		if (actor_incr(&b, a, 1) < 0)
			goto out;
	double t_call = (now_s() - t0) / calls;
	wf_actor_free(a);
	a = NULL;
	wf_close(b.e);
	b.e = NULL;

	/* 2. A 1 MB state, one field changed per call. */
	fprintf(stderr, "wflow-bench: %d calls on an actor of 1 MB state...\n",
	        big_calls);
	char *big = big_state((size_t)1 << 20);
	size_t big_len = big ? strlen(big) : 0;
	if (!big || actors_open(&b, d_big, 1) < 0 ||
	    actor_get(&b, "big", big, &a) < 0) {
		free(big);
		goto out;
	}
	free(big);
	wf_close(b.e); /* everything on disk before the first size */
	b.e = NULL;
	wf_actor_free(a);
	a = NULL;
	uint64_t bytes0 = journal_bytes(j_big);
	if (actors_open(&b, d_big, 1) < 0 || actor_get(&b, "big", NULL, &a) < 0)
		goto out;
	t0 = now_s();
	for (int k = 0; k < big_calls; k++)
		if (actor_incr(&b, a, 1) < 0)
			goto out;
	double t_big = (now_s() - t0) / big_calls;
	wf_actor_free(a);
	a = NULL;
	wf_close(b.e);
	b.e = NULL;
	/* A reopen adds a session event: count it against the calls too. */
	uint64_t bytes1 = journal_bytes(j_big);
	t0 = now_s();
	if (actors_open(&b, d_big, 1) < 0)
		goto out;
	double t_big_open = now_s() - t0;
	wf_close(b.e);
	b.e = NULL;

	/* 3. Reopen with many actors of 1 KB state, one call each. */
	fprintf(stderr, "wflow-bench: %d actors of 1 KB state, then wf_open "
	                "(3 opens, in a fresh process)...\n",
	        nactors);
	char *kb = big_state(1024);
	if (!kb || actors_open(&b, d_many, 0) < 0) {
		free(kb);
		goto out;
	}
	for (int i = 0; i < nactors; i++) {
		char id[32];
		snprintf(id, sizeof id, "actor/%06d", i);
		if (actor_get(&b, id, kb, &a) < 0 || actor_incr(&b, a, i) < 0) {
			free(kb);
			goto out;
		}
		wf_actor_free(a);
		a = NULL;
	}
	free(kb);
	wf_close(b.e);
	b.e = NULL;
	double open_s[OPENS];
	long long rss0, rss1;
	if (open_in_child(d_many, 0, open_s, &rss0, &rss1) < 0)
		goto out;

	put(&res, "actor_call_us=%.2f", t_call * 1e6);
	put(&res, "actor_calls=%d", calls);
	put(&res, "actor_1mb_state_bytes=%zu", big_len);
	put(&res, "actor_1mb_bytes_per_call=%.0f",
	    (double)(bytes1 - bytes0) / big_calls);
	put(&res, "actor_1mb_call_ms=%.3f", t_big * 1e3);
	put(&res, "actor_1mb_calls=%d", big_calls);
	put(&res, "actor_1mb_open_s=%.3f", t_big_open);
	put(&res, "actors_open_s=%.3f", median(open_s, OPENS));
	put(&res, "actors_open_count=%d", nactors);
	put(&res, "actors_open_rss_bytes_per_actor=%.0f",
	    (double)(rss1 - rss0) / nactors);
	put(&res, "quick=%d", quick);
	put(&res, "dir_fs=%s", fs);
	put(&res, "machine=%s", mach);
	rc = 0;
out:
	wf_actor_free(a);
	wf_close(b.e);
	free(d_call);
	free(d_big);
	free(d_many);
	free(j_big);
	rm_tree(root);
	free(root);
	if (rc)
		return 1;
	for (int i = 0; i < res.n; i++)
		printf("%s\n", res.lines[i]);
	return 0;
}

/* ---- cli: the offline tool on a big journal ---- */

/* Run the wflow tool next to this binary with args, output discarded.
 * @return its wall time in seconds, or -1 (it failed: message printed);
 *         *cpu (if not NULL): the CPU time it used, user and system, on
 *         all its threads. */
static double run_tool(char *const *args, double *cpu)
{
	char self[4096], tool[4200];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(tool, sizeof tool, "%s/wflow", self);
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		execv(tool, args);
		_exit(127);
	}
	int status;
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	double t = now_s() - t0;
	if (cpu)
		*cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "wflow-bench: %s %s failed (exit %d)\n", tool,
		        args[1], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -1;
	}
	return t;
}

static uint64_t dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	uint64_t total = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char *p = path_join(dir, de->d_name);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
		free(p);
	}
	if (d)
		closedir(d);
	return total;
}

static int cmd_cli(int argc, char **argv)
{
	int quick = 0;
	const char *base = "/tmp";
	uint64_t events = 10000000;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (is_opt(a, "--dir")) {
			base = opt_value(argc, argv, &i, "--dir");
			if (!base)
				return bad_usage("--dir: expected a directory",
				                 NULL);
		} else if (is_opt(a, "--events")) {
			if (parse_u64(opt_value(argc, argv, &i, "--events"), 1,
			              &events) < 0)
				return bad_usage("--events: expected a count",
				                 NULL);
		} else if (!strcmp(a, "--quick")) {
			quick = 1;
			events = 200000;
		} else {
			return bad_usage("unknown argument", a);
		}
	}
	char *root = scratch_root(base);
	if (!root)
		return 2;
	const char *fs = fs_name(root);
	results res = {0};
	char mach[256], nev[32];
	machine(mach, sizeof mach);
	char *dir = path_join(root, "cli"), *jdir = path_join(dir, "journal");
	int rc = 1;
	snprintf(nev, sizeof nev, "%" PRIu64, events);
	fprintf(stderr, "wflow-bench: writing a synthetic journal of %s "
	                "events...\n", nev);
	char *gen_args[] = {dir, "--events", nev, "--batch", "8",
	                    "--segment-size", "8m", NULL};
	if (cmd_gen(7, gen_args) != 0)
		goto out;
	uint64_t bytes = dir_bytes(jdir);
	/* A workflow in the middle of the history. */
	char id[256] = "";
	{
		wf_synth *s;
		wf_event ev;
		if (wf_synth_new(&s, 1) == 0) {
			for (uint64_t k = 0; k < events / 2; k++) {
				wf_synth_next(s, &ev);
				if (ev.type == WF_EV_WORKFLOW_CREATED &&
				    ev.fields[0].v.s.len < sizeof id) {
					memcpy(id, ev.fields[0].v.s.ptr,
					       ev.fields[0].v.s.len);
					id[ev.fields[0].v.s.len] = '\0';
				}
			}
			wf_synth_free(s);
		}
	}
	fprintf(stderr, "wflow-bench: wflow verify, stats, meta %s...\n", id);
	char *v_args[] = {"wflow", "verify", dir, NULL};
	char *s_args[] = {"wflow", "stats", dir, NULL};
	char *m_args[] = {"wflow", "meta", dir, id, NULL};
	double c_verify = 0, c_stats = 0;
	double t_verify = run_tool(v_args, &c_verify);
	double t_stats = t_verify < 0 ? -1 : run_tool(s_args, &c_stats);
	double t_meta = t_stats < 0 ? -1 : run_tool(m_args, NULL);
	if (t_meta < 0)
		goto out;
	/* What neither can beat on one core: the frames read, checked and
	 * decompressed, no event looked at (best of 3). */
	fprintf(stderr, "wflow-bench: decompression alone...\n");
	decode_floor fl;
	if (decode_floor_measure(jdir, 3, &fl) < 0)
		goto out;
	if (fl.events != events) {
		fprintf(stderr, "wflow-bench: decompressed %" PRIu64 " events "
		        "of the %" PRIu64 " written\n", fl.events, events);
		goto out;
	}
	/* With a snapshot: an engine opened and closed on the directory
	 * leaves one (its open is a full replay). */
	fprintf(stderr, "wflow-bench: an engine's open and close, then meta "
	                "again (from its snapshot)...\n");
	wf_engine *e;
	wf_config cfg = WF_CONFIG_INIT;
	cfg.durability = WF_SYNC_NONE;
	double t0 = now_s();
	int orc = wf_open(&e, dir, &cfg);
	double t_open = now_s() - t0;
	if (orc < 0) {
		fprintf(stderr, "wflow-bench: wf_open %s: %s\n", dir,
		        e ? wf_errmsg(e) : "out of memory");
		wf_close(e);
		goto out;
	}
	if (wf_close(e) < 0)
		goto out;
	double t_meta_snap = run_tool(m_args, NULL);
	if (t_meta_snap < 0)
		goto out;
	put(&res, "cli_events=%" PRIu64, events);
	put(&res, "cli_journal_bytes=%" PRIu64, bytes);
	/* Wall time, as a user waits for it (with two cores or more, a
	 * thread reads and decompresses ahead), and per CPU second: the
	 * rate of one core doing all of it. */
	put(&res, "verify_s=%.3f", t_verify);
	put(&res, "verify_events_per_s=%.0f", (double)events / t_verify);
	put(&res, "verify_mb_per_s=%.1f", (double)bytes / 1e6 / t_verify);
	put(&res, "verify_cpu_s=%.3f", c_verify);
	if (c_verify > 0)
		put(&res, "verify_events_per_cpu_s=%.0f",
		    (double)events / c_verify);
	put(&res, "stats_s=%.3f", t_stats);
	put(&res, "stats_events_per_s=%.0f", (double)events / t_stats);
	put(&res, "stats_mb_per_s=%.1f", (double)bytes / 1e6 / t_stats);
	put(&res, "stats_cpu_s=%.3f", c_stats);
	if (c_stats > 0)
		put(&res, "stats_events_per_cpu_s=%.0f",
		    (double)events / c_stats);
	/* The floor, in the same units: verify and stats per CPU second
	 * cannot pass decompress_events_per_cpu_s. */
	put(&res, "decompress_cpu_s=%.3f", fl.cpu_s);
	if (fl.cpu_s > 0) {
		put(&res, "decompress_events_per_cpu_s=%.0f",
		    (double)fl.events / fl.cpu_s);
		put(&res, "decompress_mb_per_cpu_s=%.1f",
		    (double)fl.disk_bytes / 1e6 / fl.cpu_s);
		put(&res, "decompress_raw_mb_per_cpu_s=%.1f",
		    (double)fl.raw_bytes / 1e6 / fl.cpu_s);
	}
	put(&res, "meta_10m_events_s=%.3f", t_meta);
	put(&res, "meta_with_snapshot_s=%.3f", t_meta_snap);
	put(&res, "engine_open_full_replay_s=%.3f", t_open);
	put(&res, "quick=%d", quick);
	put(&res, "dir_fs=%s", fs);
	put(&res, "machine=%s", mach);
	rc = 0;
out:
	free(dir);
	free(jdir);
	rm_tree(root);
	free(root);
	if (rc)
		return 1;
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
	if (!strcmp(argv[1], "engine"))
		return cmd_engine(argc - 2, argv + 2);
	if (!strcmp(argv[1], "cli"))
		return cmd_cli(argc - 2, argv + 2);
	if (!strcmp(argv[1], "actors"))
		return cmd_actors(argc - 2, argv + 2);
	if (!strcmp(argv[1], "recovery"))
		return cmd_recovery(argc - 2, argv + 2);
	if (!strcmp(argv[1], "engine-open-child"))
		return cmd_engine_open_child(argc - 2, argv + 2);
	return bad_usage("unknown command", argv[1]);
}
