/*
 * wflow-bench recovery: how long a restart takes, wflow against the stores
 * a C program would use instead, on the same history and the same fold.
 *
 * How this works. For each history length N (events), the synthetic
 * engine (synth.c, seed 1) produces N events once; each event is written,
 * in the same pass, to three stores under a scratch directory:
 *
 *   wflow   an engine directory: its journal (8 events a commit,
 *           durability none, 8 MiB segments as the engine writes them),
 *           then an engine's open and close leaves a snapshot.
 *   sqlite  one table events(seq INTEGER PRIMARY KEY, type INTEGER,
 *           time INTEGER, body BLOB) in WAL mode; body holds the event's
 *           fields (below). Loaded 1,000 rows a transaction with
 *           synchronous=OFF (the load is not what is measured).
 *   files   the tree Ray Workflows kept per workflow (see "the file
 *           tree" below): each write a temporary file renamed into place,
 *           without fsync while loading (again not what is measured).
 *
 * The same pass folds every event into a reference fold. Then recovery is
 * timed in fresh processes (so that no freed heap of this one flatters
 * anything), this program run again as a child:
 *
 *   wflow (snapshot)  `wflow-bench engine-open-child DIR`: wf_open, which
 *                     loads the snapshot and replays the journal after it
 *                     (a few events), with 16 worker threads started.
 *   wflow (full)      the same with no_snapshots: the whole journal.
 *   sqlite            `recovery --child sqlite DB`: open the database,
 *                     SELECT every row ORDER BY seq, decode each body back
 *                     into a wf_event and apply it to a new fold.
 *   files             `recovery --child files DIR`: walk the tree, read and
 *                     parse every JSON file with cJSON, rebuild from them
 *                     one workflow's events at a time (below) and apply
 *                     them to a new fold.
 *
 * Every fold populates its memory ahead on a thread of its own
 * (wf_fold_populate_ahead), wf_open's as the baselines'.
 *
 * A child prints each recovery's time and its RSS before and after the
 * first. Warm samples come first, for every system (the stores are in the
 * page cache since they were written; the file tree gets one uncounted
 * pass first, but with --quick): children are run until 9 samples
 * or the time budget (--quick 3 s, default 60 s, --full 120 s, the first
 * child always); engine-open-child opens 3 times, ours recover once in the
 * first child, then up to 3 times. Then cold: before each of up to 3
 * children (--quick: 1, at the first size only), the page cache is dropped
 * (as root: sync, then 3 into /proc/sys/vm/drop_caches), and the child's
 * first recovery is the sample. The sqlite and files children also print
 * a digest of their fold, compared with the reference. The file tree is
 * not made where it would take more than half of the free inodes or
 * space (10^7 events: about 17 million files).
 *
 * Then durable appends for a fixed time (2 s, --quick 0.5 s), 1 and 64
 * threads, one small event (step_started) per commit: wflow's journal with durability always (concurrent commits
 * share fdatasyncs); SQLite with synchronous=FULL, a connection per thread
 * (busy_timeout 10 s), one INSERT per transaction; the file tree with a
 * temporary file, fsync, rename and fsync of the directory per event (the
 * rename is not durable without the last one).
 *
 * SQLite body format: per field, its kind (1 byte), then 8 bytes (little
 * endian) for an integer, or a 4-byte length and the bytes for text and
 * JSON. The reader's wf_event points into the row's blob, as the journal
 * reader's points into its buffers.
 *
 * The file tree: root/workflows/<id, '/' as %2F>/ holds workflow_meta.json
 * {"status", "output_step_id"}, user_run_metadata.json (the workflow's
 * user metadata), pre_run_metadata.json {"start_time"} (rewritten by each
 * run or resume), post_run_metadata.json {"end_time"} (when it finished),
 * and steps/<step id>/ per step: inputs.json (the step as its DAG gives it:
 * id, name, options, args, user metadata; plus "order", and for a step of a
 * continuation "continuation_of"), pre_step_metadata.json {"start_time"},
 * post_step_metadata.json {"end_time"[, "error"]}, output.json (the
 * output), and outputs.json {"output_step_id"} for a step that returned a
 * sub-DAG. Times are seconds with microseconds, as Ray's time.time(). A
 * deleted workflow's directory is removed.
 *
 * Such a tree keeps the latest state, not the history: a retried step or a
 * resumed workflow keeps only its last start. So recovery rebuilds, per
 * workflow, the shortest event sequence that leads the fold to what the
 * files say: created (its DAG from the inputs.json files), one attempt
 * (at the last start), RUNNING, per step started / continuation /
 * succeeded or failed in time order, then the output and the final status.
 * The folded workflows, their statuses, steps, start and end times (to the
 * microsecond) then match the reference; their attempt counts do not (the
 * files do not have them). The digest check says which.
 *
 * The synthetic stream's virtual actors (its "cart" workflows) are
 * workflows whose steps are actor methods: it writes no actor_created or
 * actor_call events, so none of the stores has any.
 */
#include "bench/recovery.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "bench/synth.h"
#include "bench/floor.h"
#include "bench/util.h"
#include "journal/journal.h"
#include "replay/events.h"
#include "replay/fold.h"
#include "replay/map.h"
#include "replay/snapshot.h"
#include "wflow.h"

#define SEED 1
#define OPENS 3          /* recoveries per child (engine-open-child's too) */
#define WARM_SAMPLES 9   /* warm samples wanted per system and size */
#define COLD_RUNS 3      /* cold children per system and size */
#define GEN_BATCH 8      /* journal events per commit while loading */
#define SQL_BATCH 1000   /* sqlite rows per transaction while loading */
#define PATHLEN 4096

enum { SYS_SNAP, SYS_FULL, SYS_SQLITE, SYS_FILES, NSYS };

static const char *const sys_label[NSYS] = {
        "wflow (snapshot)", "wflow (full replay)", "sqlite (WAL)",
        "files (Ray layout)"};
static const char *const sys_key[NSYS] = {"snapshot", "full", "sqlite",
                                          "files"};

/* ---- small helpers (the shared ones are in bench/util.c) ----------------- */

static void oom(void)
{
	fprintf(stderr, "wflow-bench: out of memory\n");
	exit(2);
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = xrealloc(NULL, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

#if defined(__GNUC__)
static char *xasprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
#endif

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = NULL;
	int n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return p;
}

static double t_begin; /* when the command started */

#if defined(__GNUC__)
static void progress(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
#endif

/* "wflow-bench: [  12.3 s] what...", on stderr. */
static void progress(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "wflow-bench: [%6.1f s] ", now_s() - t_begin);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* The q-quantile (nearest rank) of v[0..n), sorted in place; -1 if n = 0. */
static double quantile(double *v, int n, double q)
{
	if (n <= 0)
		return -1;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	int k = (int)(q * n);
	if ((double)k < q * n)
		k++; /* the ceiling, without libm */
	k--;
	return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/* Removal of a big tree by many threads, one top-level entry at a time. */
#define RM_THREADS 16

typedef struct rm_job {
	const char *dir;
	char **names;
	size_t n;
	atomic_size_t next;
} rm_job;

static void *rm_main(void *arg)
{
	rm_job *j = arg;
	size_t i;
	while ((i = atomic_fetch_add(&j->next, 1)) < j->n) {
		char *p = xasprintf("%s/%s", j->dir, j->names[i]);
		rm_tree(p);
		free(p);
	}
	return NULL;
}

/*
 * rm_tree, with RM_THREADS threads taking dir's entries in turn. Once a
 * file tree has been written back, each unlink costs a few reads and a
 * journal update (and here a discard); in parallel they overlap: about 3
 * times faster on this machine's virtio disk at 10^6 events (1.6 million
 * files), which is minutes.
 */
static void rm_tree_parallel(const char *dir)
{
	rm_job j = {dir, NULL, 0, 0};
	size_t cap = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (j.n == cap) {
			cap = cap * 2 + 1024;
			j.names = xrealloc(j.names, cap * sizeof *j.names);
		}
		j.names[j.n++] = xasprintf("%s", de->d_name);
	}
	if (d)
		closedir(d);
	pthread_t t[RM_THREADS];
	int started = 0;
	while (started < RM_THREADS &&
	       pthread_create(&t[started], NULL, rm_main, &j) == 0)
		started++;
	rm_main(&j); /* no thread at all: do it here */
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	for (size_t i = 0; i < j.n; i++)
		free(j.names[i]);
	free(j.names);
	rm_tree(dir);
}

#if defined(__GNUC__)
static int pathf(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#endif

/* A path into out (PATHLEN bytes). @return 0, or -1 if it is too long. */
static int pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, PATHLEN, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= PATHLEN) {
		fprintf(stderr, "wflow-bench: path too long: %s...\n", out);
		return -1;
	}
	return 0;
}

/* Bytes of the regular files under path: apparent and allocated. */
static uint64_t tree_bytes, tree_alloc, tree_files;

static int du_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode)) {
		tree_bytes += (uint64_t)st->st_size;
		tree_alloc += (uint64_t)st->st_blocks * 512;
		tree_files++;
	}
	return 0;
}

static void du(const char *path, uint64_t *bytes, uint64_t *alloc,
               uint64_t *files)
{
	tree_bytes = tree_alloc = tree_files = 0;
	nftw(path, du_entry, 64, FTW_PHYS);
	*bytes = tree_bytes;
	*alloc = tree_alloc;
	if (files)
		*files = tree_files;
}

/* ---- the fold's digest ---------------------------------------------------- */

typedef struct digest {
	uint64_t shape; /* ids, statuses, steps, start and end (us) */
	uint64_t full;  /* and attempt counts */
	uint64_t wfs, steps;
} digest;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	return x ^ (x >> 33);
}

/* Order-independent: the fold's workflows come unordered. */
static void fold_digest(const wf_fold *f, digest *d)
{
	memset(d, 0, sizeof *d);
	size_t i = 0;
	const wf_fwf *w;
	while (wf_fold_next(f, &i, &w)) {
		uint64_t h = UINT64_C(1469598103934665603);
		for (const char *p = w->id; *p; p++)
			h = (h ^ (uint8_t)*p) * UINT64_C(1099511628211);
		h = mix(h ^ (uint64_t)w->status);
		h = mix(h ^ (uint64_t)w->nsteps);
		h = mix(h ^ (uint64_t)(w->start_ns / 1000));
		h = mix(h ^ (uint64_t)(w->end_ns / 1000));
		d->shape += h;
		d->full += mix(h ^ (uint64_t)w->natt);
		d->wfs++;
		d->steps += w->nsteps;
	}
}

/* ---- sqlite: an event as a row -------------------------------------------- */

typedef struct buf {
	uint8_t *p;
	size_t len, cap;
} buf;

static void buf_put(buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 256;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_le(buf *b, uint64_t v, int bytes)
{
	uint8_t t[8];
	for (int i = 0; i < bytes; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	buf_put(b, t, (size_t)bytes);
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void body_encode(buf *b, const wf_event *ev)
{
	b->len = 0;
	for (uint32_t i = 0; i < ev->nfields; i++) {
		const wf_field *f = &ev->fields[i];
		buf_put(b, &f->kind, 1);
		if (f->kind == WF_FIELD_UINT)
			put_le(b, f->v.u, 8);
		else if (f->kind == WF_FIELD_INT)
			put_le(b, (uint64_t)f->v.i, 8);
		else {
			put_le(b, f->v.s.len, 4);
			buf_put(b, f->v.s.ptr, f->v.s.len);
		}
	}
}

/* Fields of ev point into p. @return 0, or -1 if the body is malformed. */
static int body_decode(const uint8_t *p, size_t n, wf_event *ev)
{
	size_t at = 0;
	ev->nfields = 0;
	while (at < n) {
		if (ev->nfields == WF_EVENT_MAX_FIELDS)
			return -1;
		wf_field *f = &ev->fields[ev->nfields++];
		f->kind = p[at++];
		if (f->kind == WF_FIELD_UINT || f->kind == WF_FIELD_INT) {
			if (n - at < 8)
				return -1;
			f->v.u = get_le(p + at, 8);
			at += 8;
		} else if (f->kind == WF_FIELD_TEXT ||
		           f->kind == WF_FIELD_JSON) {
			if (n - at < 4)
				return -1;
			size_t len = (size_t)get_le(p + at, 4);
			at += 4;
			if (n - at < len)
				return -1;
			f->v.s.ptr = (const char *)p + at;
			f->v.s.len = len;
			at += len;
		} else {
			return -1;
		}
	}
	return 0;
}

static int sql_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "wflow-bench: sqlite: %s: %s\n", sql,
		        msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static sqlite3 *sql_open(const char *path, const char *synchronous)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                            SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		fprintf(stderr, "wflow-bench: sqlite: cannot open %s: %s\n",
		        path, db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	char *sync = xasprintf("PRAGMA synchronous=%s", synchronous);
	int rc = sql_exec(db, "PRAGMA journal_mode=WAL") < 0 ||
	         sql_exec(db, sync) < 0 ||
	         sql_exec(db, "CREATE TABLE IF NOT EXISTS events("
	                      "seq INTEGER PRIMARY KEY, type INTEGER, "
	                      "time INTEGER, body BLOB)") < 0;
	free(sync);
	if (rc) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* INSERT ev (seq if > 0, else the next rowid). @return 0 or -1. */
static int sql_insert(sqlite3 *db, sqlite3_stmt *st, buf *b,
                      const wf_event *ev)
{
	body_encode(b, ev);
	if (ev->seq)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)ev->seq);
	else
		sqlite3_bind_null(st, 1);
	sqlite3_bind_int(st, 2, ev->type);
	sqlite3_bind_int64(st, 3, ev->time_ns);
	sqlite3_bind_blob(st, 4, b->p, (int)b->len, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "wflow-bench: sqlite insert: %s\n",
		        sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static const char insert_sql[] =
	"INSERT INTO events(seq, type, time, body) VALUES(?, ?, ?, ?)";

/* Recovery: every row in order, into f. @return events, or -1. */
static int64_t sqlite_recover(const char *path, wf_fold *f)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "wflow-bench: sqlite: cannot open %s\n", path);
		sqlite3_close(db);
		return -1;
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
	                       "SELECT seq, type, time, body FROM events "
	                       "ORDER BY seq",
	                       -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "wflow-bench: sqlite: %s\n",
		        sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	int64_t n = 0;
	int rc;
	wf_event ev;
	char err[512];
	memset(&ev, 0, sizeof ev);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ev.seq = (uint64_t)sqlite3_column_int64(st, 0);
		ev.type = (uint16_t)sqlite3_column_int(st, 1);
		ev.time_ns = sqlite3_column_int64(st, 2);
		const uint8_t *body = sqlite3_column_blob(st, 3);
		size_t len = (size_t)sqlite3_column_bytes(st, 3);
		if (body_decode(body, len, &ev) < 0) {
			fprintf(stderr,
			        "wflow-bench: sqlite: row %" PRIu64
			        ": bad body\n",
			        ev.seq);
			n = -1;
			break;
		}
		if (wf_fold_apply(f, &ev, err, sizeof err) < 0) {
			fprintf(stderr, "wflow-bench: sqlite fold: %s\n", err);
			n = -1;
			break;
		}
		n++;
	}
	if (n >= 0 && rc != SQLITE_DONE) {
		fprintf(stderr, "wflow-bench: sqlite: %s\n",
		        sqlite3_errmsg(db));
		n = -1;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* ---- the file tree: writing ------------------------------------------------ */

/* A workflow id as a directory name: '%' and '/' escaped. */
static void enc_id(const char *id, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 4 < cap; i++) {
		if (id[i] == '/' || id[i] == '%') {
			o += (size_t)snprintf(out + o, cap - o, "%%%02X",
			                      (unsigned)(uint8_t)id[i]);
		} else {
			out[o++] = id[i];
		}
	}
	out[o] = 0;
}

static void dec_id(const char *name, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; name[i] && o + 1 < cap; i++) {
		unsigned v;
		if (name[i] == '%' && sscanf(name + i + 1, "%2x", &v) == 1) {
			out[o++] = (char)v;
			i += 2;
		} else {
			out[o++] = name[i];
		}
	}
	out[o] = 0;
}

/*
 * Write data to path atomically: a temporary file renamed into place. When
 * dirfd >= 0 (durable), the file is fsynced before the rename and the
 * directory (dirfd) after it. @return 0 or -1.
 */
static int write_atomic(const char *path, const void *data, size_t len,
                        int dirfd)
{
	char tmp[PATHLEN];
	if (pathf(tmp, "%s.tmp", path) < 0)
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			goto fail;
		}
		p += w;
		len -= (size_t)w;
	}
	if (dirfd >= 0 && fsync(fd) != 0) {
		close(fd);
		goto fail;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0)
		goto fail;
	if (dirfd >= 0 && fsync(dirfd) != 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "wflow-bench: writing %s: %s\n", path,
	        strerror(errno));
	return -1;
}

/* What the loader remembers of a workflow: what workflow_meta.json and new
 * inputs.json files need. */
typedef struct fwf {
	char *out_step;
	unsigned next_order;
} fwf;

typedef struct files_gen {
	char root[PATHLEN]; /* .../workflows */
	wf_map wfs;         /* id -> fwf */
	uint64_t writes;
	int off;            /* 1: write nothing */
} files_gen;

static void fwf_free(fwf *w)
{
	if (w) {
		free(w->out_step);
		free(w);
	}
}

static int fput(files_gen *g, const char *wdir, const char *sub,
                const char *name, const char *data, size_t len)
{
	char path[PATHLEN];
	if ((sub ? pathf(path, "%s/steps/%s/%s", wdir, sub, name)
	         : pathf(path, "%s/%s", wdir, name)) < 0)
		return -1;
	g->writes++;
	return write_atomic(path, data, len, -1);
}

static int fput_time(files_gen *g, const char *wdir, const char *sub,
                     const char *name, const char *key, int64_t t,
                     const char *extra)
{
	char text[1024];
	int n = snprintf(text, sizeof text,
	                 "{\"%s\": %" PRId64 ".%06" PRId64 "%s%s}", key,
	                 t / 1000000000, t % 1000000000 / 1000,
	                 extra ? ", \"error\": " : "", extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof text)
		return -1;
	return fput(g, wdir, sub, name, text, (size_t)n);
}

static int put_meta(files_gen *g, const char *wdir, const fwf *w,
                    const char *status, size_t slen)
{
	char *text = NULL, *st = xstrndup(status, slen);
	cJSON *o = cJSON_CreateObject();
	if (o && cJSON_AddStringToObject(o, "status", st) &&
	    (w->out_step
	             ? cJSON_AddStringToObject(o, "output_step_id", w->out_step)
	             : cJSON_AddNullToObject(o, "output_step_id")))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	free(st);
	if (!text)
		oom();
	int rc = fput(g, wdir, NULL, "workflow_meta.json", text, strlen(text));
	cJSON_free(text);
	return rc;
}

/* The steps of dag: a directory and inputs.json each. */
static int put_steps(files_gen *g, const char *wdir, fwf *w, const char *dag,
                     size_t len, const char *cont_of, char **out_step)
{
	cJSON *d = cJSON_ParseWithLength(dag, len);
	if (!d)
		return -1;
	int rc = 0;
	const cJSON *out = cJSON_GetObjectItemCaseSensitive(d, "output");
	if (cJSON_IsString(out))
		*out_step = xasprintf("%s", out->valuestring);
	cJSON *steps = cJSON_GetObjectItemCaseSensitive(d, "steps"), *st;
	cJSON_ArrayForEach(st, steps)
	{
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(st, "id");
		if (!cJSON_IsString(id)) {
			rc = -1;
			break;
		}
		char path[PATHLEN];
		if (pathf(path, "%s/steps/%s", wdir, id->valuestring) < 0 ||
		    (mkdir(path, 0777) != 0 && errno != EEXIST)) {
			rc = -1;
			break;
		}
		cJSON_AddNumberToObject(st, "order", w->next_order++);
		if (cont_of)
			cJSON_AddStringToObject(st, "continuation_of",
			                        cont_of);
		char *text = cJSON_PrintUnformatted(st);
		if (!text)
			oom();
		rc = fput(g, wdir, id->valuestring, "inputs.json", text,
		          strlen(text));
		cJSON_free(text);
		if (rc)
			break;
	}
	cJSON_Delete(d);
	return rc;
}

static int field_text(const wf_event *ev, unsigned i, char *out, size_t cap)
{
	if (i >= ev->nfields || (ev->fields[i].kind != WF_FIELD_TEXT &&
	                         ev->fields[i].kind != WF_FIELD_JSON) ||
	    ev->fields[i].v.s.len >= cap)
		return -1;
	memcpy(out, ev->fields[i].v.s.ptr, ev->fields[i].v.s.len);
	out[ev->fields[i].v.s.len] = 0;
	return 0;
}

/* What Ray would have written for ev. @return 0 or -1. */
static int files_apply(files_gen *g, const wf_event *ev)
{
	char id[512], enc[1024], wdir[PATHLEN], sid[512];
	if (g->off || ev->type == WF_EV_SESSION_STARTED ||
	    ev->type == WF_EV_NOTICE)
		return 0; /* no such thing in Ray's storage */
	if (field_text(ev, 0, id, sizeof id) < 0)
		return -1;
	enc_id(id, strlen(id), enc, sizeof enc);
	if (pathf(wdir, "%s/%s", g->root, enc) < 0)
		return -1;
	fwf *w = wf_map_get(&g->wfs, id);
	const wf_field *fl = ev->fields;
	int64_t t = ev->time_ns;

	if (ev->type == WF_EV_WORKFLOW_CREATED) {
		if (ev->nfields < 3)
			return -1;
		fwf_free(wf_map_del(&g->wfs, id));
		w = calloc(1, sizeof *w);
		if (!w || wf_map_put(&g->wfs, id, w) < 0)
			oom();
		char steps[PATHLEN];
		if (pathf(steps, "%s/steps", wdir) < 0)
			return -1;
		if ((mkdir(wdir, 0777) != 0 && errno != EEXIST) ||
		    (mkdir(steps, 0777) != 0 && errno != EEXIST)) {
			fprintf(stderr, "wflow-bench: mkdir %s: %s\n", steps,
			        strerror(errno));
			return -1;
		}
		if (fput(g, wdir, NULL, "user_run_metadata.json",
		         fl[1].v.s.ptr, fl[1].v.s.len) < 0 ||
		    put_steps(g, wdir, w, fl[2].v.s.ptr, fl[2].v.s.len, NULL,
		              &w->out_step) < 0)
			return -1;
		return put_meta(g, wdir, w, "NONE", 4);
	}
	if (!w)
		return -1;
	switch (ev->type) {
	case WF_EV_ATTEMPT_STARTED:
		return fput_time(g, wdir, NULL, "pre_run_metadata.json",
		                 "start_time", t, NULL);
	case WF_EV_STATUS_CHANGED: {
		if (ev->nfields < 2)
			return -1;
		if (put_meta(g, wdir, w, fl[1].v.s.ptr, fl[1].v.s.len) < 0)
			return -1;
		int running = fl[1].v.s.len == 7 &&
		              !memcmp(fl[1].v.s.ptr, "RUNNING", 7);
		return running ? 0
		               : fput_time(g, wdir, NULL,
		                           "post_run_metadata.json",
		                           "end_time", t, NULL);
	}
	case WF_EV_STEP_STARTED:
		if (field_text(ev, 1, sid, sizeof sid) < 0)
			return -1;
		return fput_time(g, wdir, sid, "pre_step_metadata.json",
		                 "start_time", t, NULL);
	case WF_EV_STEP_SUCCEEDED:
		if (field_text(ev, 1, sid, sizeof sid) < 0)
			return -1;
		if (ev->nfields > 3 &&
		    fput(g, wdir, sid, "output.json", fl[3].v.s.ptr,
		         fl[3].v.s.len) < 0)
			return -1;
		return fput_time(g, wdir, sid, "post_step_metadata.json",
		                 "end_time", t, NULL);
	case WF_EV_STEP_FAILED: {
		if (field_text(ev, 1, sid, sizeof sid) < 0)
			return -1;
		char *msg = ev->nfields > 3 ? xstrndup(fl[3].v.s.ptr,
		                                       fl[3].v.s.len)
		                            : xstrndup("", 0);
		cJSON *e = cJSON_CreateString(msg);
		char *etext = e ? cJSON_PrintUnformatted(e) : NULL;
		cJSON_Delete(e);
		free(msg);
		if (!etext)
			oom();
		int rc = fput_time(g, wdir, sid, "post_step_metadata.json",
		                   "end_time", t, etext);
		cJSON_free(etext);
		return rc;
	}
	case WF_EV_CONTINUATION: {
		if (field_text(ev, 1, sid, sizeof sid) < 0 || ev->nfields < 3)
			return -1;
		char *out = NULL;
		int rc = put_steps(g, wdir, w, fl[2].v.s.ptr, fl[2].v.s.len,
		                   sid, &out);
		if (rc == 0 && out) {
			char *text = xasprintf("{\"output_step_id\": \"%s\"}",
			                       out);
			rc = fput(g, wdir, sid, "outputs.json", text,
			          strlen(text));
			free(text);
		}
		free(out);
		return rc;
	}
	case WF_EV_WORKFLOW_OUTPUT:
		return 0; /* Ray's output is the output step's */
	case WF_EV_WORKFLOW_DELETED:
		rm_tree(wdir);
		fwf_free(wf_map_del(&g->wfs, id));
		return 0;
	default:
		fprintf(stderr, "wflow-bench: files: event type %u not mapped\n",
		        (unsigned)ev->type);
		return -1;
	}
}

static void files_gen_free(files_gen *g)
{
	const char *k;
	void *v;
	for (size_t i = 0; wf_map_next(&g->wfs, &i, &k, &v);)
		fwf_free(v);
	wf_map_free(&g->wfs);
}

/* ---- the file tree: recovery ------------------------------------------------ */

typedef struct ftext {
	char *p; /* NUL-terminated; NULL: the file is missing */
	size_t len;
	cJSON *json;
} ftext;

typedef struct recover_stats {
	uint64_t files, bytes, events, errors;
} recover_stats;

/* Read and parse name in dirfd. @return 0 (missing: t->p NULL), -1. */
static int fread_json(int dirfd, const char *name, ftext *t,
                      recover_stats *rs)
{
	memset(t, 0, sizeof *t);
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	/* Files are replaced whole (renamed), never grown in place: read the
	 * size fstat gave, without a further read to see the end. */
	size_t size = (size_t)st.st_size, len = 0;
	t->p = xrealloc(NULL, size + 1);
	while (len < size) {
		ssize_t r = read(fd, t->p + len, size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	t->p[len] = 0;
	t->len = len;
	rs->files++;
	rs->bytes += len;
	if (!(t->json = cJSON_ParseWithLength(t->p, len)))
		return -1;
	return 0;
}

static void ftext_free(ftext *t)
{
	free(t->p);
	cJSON_Delete(t->json);
	memset(t, 0, sizeof *t);
}

/* A number of seconds (a time) in o's key, as ns; 0 if missing. */
static int64_t json_time(const ftext *t, const char *key)
{
	const cJSON *v =
	        t->json ? cJSON_GetObjectItemCaseSensitive(t->json, key) : NULL;
	if (!cJSON_IsNumber(v))
		return 0;
	return (int64_t)(v->valuedouble * 1e6 + 0.5) * 1000;
}

typedef struct rstep {
	char *id;
	ftext in, pre, post, out, outs;
	double order;
	char *cont_of; /* the step this one continues, or NULL */
} rstep;

enum { R_START, R_CONT, R_END };

typedef struct rev {
	int64_t t;
	int rank;
	size_t step;
} rev;

static int cmp_rev(const void *a, const void *b)
{
	const rev *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	return x->step < y->step ? -1 : x->step > y->step;
}

static int cmp_rstep(const void *a, const void *b)
{
	const rstep *x = a, *y = b;
	return x->order < y->order ? -1 : x->order > y->order;
}

typedef struct rctx {
	wf_fold *f;
	recover_stats *rs;
	char err[512];
	uint64_t seq;
} rctx;

static int apply_ev(rctx *c, wf_event *ev)
{
	ev->seq = ++c->seq;
	c->rs->events++;
	if (wf_fold_apply(c->f, ev, c->err, sizeof c->err) < 0) {
		if (!c->rs->errors++)
			fprintf(stderr, "wflow-bench: files fold: %s\n",
			        c->err);
		return -1;
	}
	return 0;
}

/* {"steps": [the steps whose continuation_of is of (NULL: none)], "output":
 * out}, printed. */
static char *build_dag(rstep *s, size_t n, const char *of, const char *out)
{
	cJSON *d = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(d, "steps");
	if (!d || !arr)
		oom();
	for (size_t i = 0; i < n; i++) {
		int mine = of ? s[i].cont_of && !strcmp(s[i].cont_of, of)
		              : !s[i].cont_of;
		if (mine)
			cJSON_AddItemReferenceToArray(arr, s[i].in.json);
	}
	if (out)
		cJSON_AddStringToObject(d, "output", out);
	char *text = cJSON_PrintUnformatted(d);
	cJSON_Delete(d);
	if (!text)
		oom();
	return text;
}

static void ev_init(wf_event *ev, uint16_t type, int64_t t, const char *id)
{
	memset(ev, 0, offsetof(wf_event, fields));
	ev->type = type;
	ev->time_ns = t;
	ev->fields[ev->nfields++] = wf_field_text(id, strlen(id));
}

static void ev_str(wf_event *ev, const char *s)
{
	ev->fields[ev->nfields++] = wf_field_text(s, strlen(s));
}

static void ev_json(wf_event *ev, const char *s, size_t n)
{
	ev->fields[ev->nfields++] = wf_field_json(s, n);
}

/* One workflow directory into the fold. @return 0 or -1 (unreadable). */
static int recover_wf(rctx *c, int wfd, const char *id)
{
	ftext meta, md, pre, post;
	memset(&md, 0, sizeof md);
	memset(&pre, 0, sizeof pre);
	memset(&post, 0, sizeof post);
	int rc = -1;
	rstep *s = NULL;
	size_t n = 0, cap = 0;
	rev *evs = NULL;
	char *dag = NULL;
	if (fread_json(wfd, "workflow_meta.json", &meta, c->rs) < 0 ||
	    !meta.p ||
	    fread_json(wfd, "user_run_metadata.json", &md, c->rs) < 0 ||
	    !md.p || fread_json(wfd, "pre_run_metadata.json", &pre, c->rs) < 0 ||
	    fread_json(wfd, "post_run_metadata.json", &post, c->rs) < 0)
		goto out;
	int sfd = openat(wfd, "steps", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = sfd >= 0 ? fdopendir(sfd) : NULL;
	if (!d) {
		if (sfd >= 0)
			close(sfd);
		goto out;
	}
	struct dirent *de;
	int bad = 0;
	while (!bad && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), de->d_name,
		                O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			bad = 1;
			break;
		}
		if (n == cap) {
			cap = cap * 2 + 16;
			s = xrealloc(s, cap * sizeof *s);
		}
		rstep *r = &s[n++];
		memset(r, 0, sizeof *r);
		r->id = xasprintf("%s", de->d_name);
		if (fread_json(fd, "inputs.json", &r->in, c->rs) < 0 ||
		    !r->in.p ||
		    fread_json(fd, "pre_step_metadata.json", &r->pre, c->rs) <
		            0 ||
		    fread_json(fd, "post_step_metadata.json", &r->post,
		               c->rs) < 0 ||
		    fread_json(fd, "output.json", &r->out, c->rs) < 0 ||
		    fread_json(fd, "outputs.json", &r->outs, c->rs) < 0)
			bad = 1;
		close(fd);
		if (bad)
			break;
		const cJSON *o =
		        cJSON_GetObjectItemCaseSensitive(r->in.json, "order");
		r->order = cJSON_IsNumber(o) ? o->valuedouble : 1e18;
		/* The DAG the fold reads is the step as written, without our
		 * two bookkeeping keys. */
		cJSON_DeleteItemFromObjectCaseSensitive(r->in.json, "order");
		cJSON *co = cJSON_DetachItemFromObjectCaseSensitive(
		        r->in.json, "continuation_of");
		if (cJSON_IsString(co)) {
			r->cont_of = xasprintf("%s", co->valuestring);
		}
		cJSON_Delete(co);
	}
	closedir(d);
	if (bad)
		goto out;
	qsort(s, n, sizeof *s, cmp_rstep);

	const cJSON *st = cJSON_GetObjectItemCaseSensitive(meta.json, "status");
	const cJSON *os =
	        cJSON_GetObjectItemCaseSensitive(meta.json, "output_step_id");
	const char *status = cJSON_IsString(st) ? st->valuestring : "NONE";
	const char *out_step = cJSON_IsString(os) ? os->valuestring : NULL;
	int64_t run_start = json_time(&pre, "start_time");
	int64_t run_end = json_time(&post, "end_time");

	/* The steps' events, in time order. */
	evs = xrealloc(NULL, (3 * n + 1) * sizeof *evs);
	size_t ne = 0;
	int64_t first = run_start;
	for (size_t i = 0; i < n; i++) {
		int64_t ts = json_time(&s[i].pre, "start_time");
		int64_t te = json_time(&s[i].post, "end_time");
		if (!s[i].pre.p)
			continue;
		if (!first || ts < first)
			first = ts;
		evs[ne++] = (rev){ts, R_START, i};
		if (s[i].outs.p)
			evs[ne++] = (rev){ts, R_CONT, i};
		/* An end before the last start belongs to an earlier try. */
		if (s[i].post.p && te >= ts)
			evs[ne++] = (rev){te, R_END, i};
	}
	qsort(evs, ne, sizeof *evs, cmp_rev);

	wf_event ev;
	dag = build_dag(s, n, NULL, out_step);
	ev_init(&ev, WF_EV_WORKFLOW_CREATED, first ? first : 1, id);
	ev_json(&ev, md.p, md.len);
	ev_json(&ev, dag, strlen(dag));
	if (apply_ev(c, &ev) < 0)
		goto applied;
	if (pre.p) {
		ev_init(&ev, WF_EV_ATTEMPT_STARTED, run_start, id);
		ev.fields[ev.nfields++] = wf_field_u(1);
		ev_str(&ev, "run");
		if (apply_ev(c, &ev) < 0)
			goto applied;
	}
	if (strcmp(status, "NONE") != 0) {
		ev_init(&ev, WF_EV_STATUS_CHANGED, run_start, id);
		ev_str(&ev, "RUNNING");
		ev_str(&ev, "run");
		if (apply_ev(c, &ev) < 0)
			goto applied;
	}
	for (size_t k = 0; k < ne; k++) {
		rstep *r = &s[evs[k].step];
		if (evs[k].rank == R_START) {
			ev_init(&ev, WF_EV_STEP_STARTED, evs[k].t, id);
			ev_str(&ev, r->id);
			ev.fields[ev.nfields++] = wf_field_u(1);
		} else if (evs[k].rank == R_CONT) {
			const cJSON *o = cJSON_GetObjectItemCaseSensitive(
			        r->outs.json, "output_step_id");
			char *sub = build_dag(s, n, r->id,
			                      cJSON_IsString(o) ? o->valuestring
			                                        : NULL);
			ev_init(&ev, WF_EV_CONTINUATION, evs[k].t, id);
			ev_str(&ev, r->id);
			ev_json(&ev, sub, strlen(sub));
			int arc = apply_ev(c, &ev);
			cJSON_free(sub);
			if (arc < 0)
				goto applied;
			continue;
		} else if (r->out.p) {
			ev_init(&ev, WF_EV_STEP_SUCCEEDED, evs[k].t, id);
			ev_str(&ev, r->id);
			ev.fields[ev.nfields++] = wf_field_u(1);
			ev_json(&ev, r->out.p, r->out.len);
		} else {
			const cJSON *e = cJSON_GetObjectItemCaseSensitive(
			        r->post.json, "error");
			ev_init(&ev, WF_EV_STEP_FAILED, evs[k].t, id);
			ev_str(&ev, r->id);
			ev.fields[ev.nfields++] = wf_field_u(1);
			ev_str(&ev, cJSON_IsString(e) ? e->valuestring : "");
		}
		if (apply_ev(c, &ev) < 0)
			goto applied;
	}
	if (!strcmp(status, "SUCCESSFUL") && out_step) {
		for (size_t i = 0; i < n; i++)
			if (!strcmp(s[i].id, out_step) && s[i].out.p) {
				ev_init(&ev, WF_EV_WORKFLOW_OUTPUT, run_end,
				        id);
				ev_json(&ev, s[i].out.p, s[i].out.len);
				if (apply_ev(c, &ev) < 0)
					goto applied;
				break;
			}
	}
	if (strcmp(status, "NONE") != 0 && strcmp(status, "RUNNING") != 0) {
		ev_init(&ev, WF_EV_STATUS_CHANGED, run_end, id);
		ev_str(&ev, status);
		ev_str(&ev, "recovered");
		apply_ev(c, &ev);
	}
applied:
	rc = 0; /* a fold error is counted, not fatal */
out:
	cJSON_free(dag);
	free(evs);
	for (size_t i = 0; i < n; i++) {
		free(s[i].id);
		free(s[i].cont_of);
		ftext_free(&s[i].in);
		ftext_free(&s[i].pre);
		ftext_free(&s[i].post);
		ftext_free(&s[i].out);
		ftext_free(&s[i].outs);
	}
	free(s);
	ftext_free(&meta);
	ftext_free(&md);
	ftext_free(&pre);
	ftext_free(&post);
	return rc;
}

/* Recovery: the whole tree into f. @return 0 or -1. */
static int files_recover(const char *root, wf_fold *f, recover_stats *rs)
{
	char wroot[PATHLEN];
	if (pathf(wroot, "%s/workflows", root) < 0)
		return -1;
	DIR *d = opendir(wroot);
	if (!d) {
		fprintf(stderr, "wflow-bench: %s: %s\n", wroot,
		        strerror(errno));
		return -1;
	}
	rctx c = {f, rs, "", 0};
	struct dirent *de;
	int rc = 0;
	char id[512];
	while (rc == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), de->d_name,
		                O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			rc = -1;
			break;
		}
		dec_id(de->d_name, id, sizeof id);
		if (recover_wf(&c, fd, id) < 0) {
			fprintf(stderr, "wflow-bench: cannot read %s/%s\n",
			        wroot, de->d_name);
			rc = -1;
		}
		close(fd);
	}
	closedir(d);
	return rc;
}

/* ---- the child: `recovery --child sqlite|files PATH [--opens K]` ----------- */

static int run_child(const char *kind, const char *path, int opens)
{
	int files = !strcmp(kind, "files");
	if (!files && strcmp(kind, "sqlite") != 0)
		return 2;
	for (int k = 0; k < opens; k++) {
		wf_fold *f;
		if (wf_fold_new(&f) < 0)
			oom();
		wf_fold_populate_ahead(f, 1); /* as wf_open's replay */
		recover_stats rs = {0, 0, 0, 0};
		long long before = rss_bytes();
		double c0 = process_cpu_s(), t0 = now_s();
		int64_t n = 0;
		if (files)
			n = files_recover(path, f, &rs) < 0 ? -1
			                                    : (int64_t)rs.events;
		else
			n = sqlite_recover(path, f);
		wf_fold_populate_ahead(f, 0);
		double t = now_s() - t0, c = process_cpu_s() - c0;
		long long after = rss_bytes();
		if (n < 0) {
			wf_fold_free(f);
			return 1;
		}
		if (k == 0)
			printf("rss_before=%lld\nrss_after=%lld\n", before,
			       after);
		printf("open_s=%.6f\ncpu_s=%.6f\n", t, c);
		if (k == opens - 1) {
			digest d;
			fold_digest(f, &d);
			printf("digest=%016" PRIx64 " %016" PRIx64 " %" PRIu64
			       " %" PRIu64 "\n",
			       d.shape, d.full, d.wfs, d.steps);
			printf("events=%" PRId64 "\nfiles=%" PRIu64
			       "\nbytes=%" PRIu64 "\nfold_errors=%" PRIu64 "\n",
			       n, rs.files, rs.bytes, rs.errors);
		}
		fflush(stdout);
		wf_fold_free(f);
	}
	return 0;
}

typedef struct child_out {
	double open_s[OPENS];
	int opens;
	double close_s[OPENS]; /* engine-open-child: each open's close */
	int closes;
	double cpu_s[OPENS]; /* each open's CPU time, all threads */
	int cpus;
	long long rss0, rss1;
	digest dg;
	int have_digest;
	uint64_t events, files, bytes, fold_errors;
} child_out;

/* Run this program with args (argv[0] is ignored) and parse what the child
 * prints. @return 0 or -1. */
static int spawn_child(char **args, child_out *co)
{
	memset(co, 0, sizeof *co);
	co->rss0 = co->rss1 = -1;
	pid_t pid;
	FILE *f = child_start(args, &pid);
	if (!f)
		return -1;
	char line[256];
	while (fgets(line, sizeof line, f)) {
		double v;
		if (sscanf(line, "rss_before=%lld", &co->rss0) == 1 ||
		    sscanf(line, "rss_after=%lld", &co->rss1) == 1 ||
		    sscanf(line, "events=%" SCNu64, &co->events) == 1 ||
		    sscanf(line, "files=%" SCNu64, &co->files) == 1 ||
		    sscanf(line, "bytes=%" SCNu64, &co->bytes) == 1 ||
		    sscanf(line, "fold_errors=%" SCNu64, &co->fold_errors) == 1)
			continue;
		if (sscanf(line,
		           "digest=%" SCNx64 " %" SCNx64 " %" SCNu64
		           " %" SCNu64,
		           &co->dg.shape, &co->dg.full, &co->dg.wfs,
		           &co->dg.steps) == 4) {
			co->have_digest = 1;
			continue;
		}
		if (co->opens < OPENS && sscanf(line, "open_s=%lf", &v) == 1)
			co->open_s[co->opens++] = v;
		else if (co->closes < OPENS &&
		         sscanf(line, "close_s=%lf", &v) == 1)
			co->close_s[co->closes++] = v;
		else if (co->cpus < OPENS && sscanf(line, "cpu_s=%lf", &v) == 1)
			co->cpu_s[co->cpus++] = v;
	}
	int status = child_finish(f, pid);
	if (status != 0 || !co->opens) {
		fprintf(stderr,
		        "wflow-bench: the recovery child (%s %s) failed, "
		        "exit status %d\n",
		        args[1], args[2], status);
		return -1;
	}
	return 0;
}

/* One recovery child of system sys on the store at path. */
static int recover_in_child(int sys, const char *path, int opens,
                            child_out *co)
{
	char kopens[16];
	snprintf(kopens, sizeof kopens, "%d", opens);
	if (sys == SYS_SNAP || sys == SYS_FULL) {
		/* engine-open-child always opens OPENS times */
		char *args[] = {"wflow-bench", "engine-open-child",
		                (char *)path, sys == SYS_FULL ? "full" : NULL,
		                NULL};
		return spawn_child(args, co);
	}
	char *args[] = {"wflow-bench", "recovery", "--child",
	                sys == SYS_SQLITE ? "sqlite" : "files", (char *)path,
	                "--opens", kopens, NULL};
	return spawn_child(args, co);
}

/* ---- cold cache ------------------------------------------------------------- */

/* 1 if the page cache could be dropped. */
static int drop_caches(void)
{
	sync();
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int ok = write(fd, "3\n", 2) == 2;
	close(fd);
	return ok;
}

/* ---- one history length ------------------------------------------------------ */

typedef struct sysres {
	int ran;
	double warm_med, warm_p95, cold_med;
	double close_med; /* wflow (snapshot): the close after a warm open */
	int warm_n, cold_n;
	double warmup_s;  /* the uncounted warm-up pass, or 0 */
	long long rss;    /* RSS after the first open of a fresh process */
	double cpu_med;   /* CPU time of a warm open, all threads: median */
	uint64_t bytes;   /* the store's data (apparent size) */
	uint64_t alloc;   /* its allocated size on disk */
	const char *state; /* the digest check, or NULL */
	char note[160];
} sysres;

typedef struct sizeres {
	uint64_t events;
	sysres sys[NSYS];
	uint64_t wfs, steps, files, file_writes, files_events;
	double gen_s[NSYS];
	char files_skip[160]; /* why the file tree was not made, or "" */
	double take_s; /* a periodic snapshot's take (the engine's lock held) */
	decode_floor floor; /* the journal's decompression, one thread */
	int have_floor;
} sizeres;

typedef struct opts {
	int quick, full, install_deps, keep;
	const char *base, *out;
	uint64_t sizes[8];
	int nsizes;
	int cold; /* 1 available, 0 not */
	double budget_s;
} opts;

/* What the first child of system s says besides its times: RSS, and how
 * its fold compares with the reference. */
static void first_child(sizeres *r, int s, const child_out *co,
                        const digest *ref)
{
	sysres *sr = &r->sys[s];
	sr->rss = co->rss1;
	if (!co->have_digest)
		return; /* engine-open-child: wflow is the reference */
	int same = co->dg.shape == ref->shape && co->dg.wfs == ref->wfs &&
	           co->dg.steps == ref->steps;
	sr->state = !same                       ? "differs"
	            : co->dg.full == ref->full ? "same"
	                                       : "same but attempts";
	if (s == SYS_FILES)
		r->files_events = co->events;
	if (co->fold_errors)
		snprintf(sr->note, sizeof sr->note,
		         "%" PRIu64 " rebuilt events refused by the fold",
		         co->fold_errors);
}

/* Room for the file tree of n events under root? Measured on this
 * stream: 1.6 files and 6.6 KB of 4 KiB blocks an event; keep half of what
 * is free for everything else. @return 1, or 0 with why. */
static int files_fit(const char *root, uint64_t n, char *why, size_t len)
{
	struct statvfs v;
	if (statvfs(root, &v) != 0)
		return 1;
	double files = 1.7 * (double)n, bytes = 7000.0 * (double)n;
	if (v.f_files && files > (double)v.f_favail / 2) {
		snprintf(why, len,
		         "about %.0f million files, more than half of the "
		         "%.1f million free inodes",
		         files / 1e6, (double)v.f_favail / 1e6);
		return 0;
	}
	if (bytes > (double)v.f_bavail * (double)v.f_frsize / 2) {
		snprintf(why, len,
		         "about %.0f GB of blocks, more than half of the free "
		         "space",
		         bytes / 1e9);
		return 0;
	}
	return 1;
}

/*
 * Everything for one size, in scratch directory dir: cold measurements if
 * cold, the file tree if files.
 */
static int bench_size(const opts *o, const char *dir, uint64_t n, int cold,
                      int files, sizeres *r)
{
	memset(r, 0, sizeof *r);
	r->events = n;
	char *edir = xasprintf("%s/wflow", dir);
	char *jdir = xasprintf("%s/journal", edir);
	char *db = xasprintf("%s/events.db", dir);
	char *froot = xasprintf("%s/files", dir);
	files_gen g;
	memset(&g, 0, sizeof g);
	snprintf(g.root, sizeof g.root, "%s/workflows", froot);
	g.off = !files;
	int rc = -1;
	wf_synth *syn = NULL;
	wf_batch *b = NULL;
	wf_fold *ref = NULL;
	wf_journal *j = NULL;
	sqlite3 *sq = NULL;
	sqlite3_stmt *ins = NULL;
	buf body = {NULL, 0, 0};

	if (mkdir(edir, 0777) != 0 || mkdir(froot, 0777) != 0 ||
	    mkdir(g.root, 0777) != 0) {
		fprintf(stderr, "wflow-bench: mkdir under %s: %s\n", dir,
		        strerror(errno));
		goto out;
	}
	wf_journal_opts jo = WF_JOURNAL_OPTS_INIT;
	jo.durability = WF_DURABILITY_NONE;
	jo.segment_size = (uint64_t)8 << 20;
	if (wf_journal_open(&j, jdir, &jo) < 0) {
		fprintf(stderr, "wflow-bench: journal %s: %s\n", jdir,
		        j ? wf_journal_errmsg(j) : "out of memory");
		goto out;
	}
	if (!(sq = sql_open(db, "OFF")) ||
	    sqlite3_prepare_v2(sq, insert_sql, -1, &ins, NULL) != SQLITE_OK ||
	    sql_exec(sq, "BEGIN") < 0)
		goto out;
	if (wf_synth_new(&syn, SEED) < 0 || wf_batch_new(&b) < 0 ||
	    wf_fold_new(&ref) < 0)
		oom();

	progress("%" PRIu64 " events: writing the journal, the sqlite "
	         "table and the file tree...",
	         n);
	wf_event ev;
	char err[512];
	for (uint64_t i = 0; i < n; i++) {
		wf_synth_next(syn, &ev);
		ev.seq = i + 1;
		double t0 = now_s();
		if (wf_batch_add(b, &ev) < 0)
			goto out;
		if (wf_batch_count(b) == GEN_BATCH || i + 1 == n) {
			if (wf_journal_commit(j, b, NULL) < 0) {
				fprintf(stderr, "wflow-bench: commit: %s\n",
				        wf_journal_errmsg(j));
				goto out;
			}
		}
		double t1 = now_s();
		if (sql_insert(sq, ins, &body, &ev) < 0)
			goto out;
		if ((i + 1) % SQL_BATCH == 0 &&
		    (sql_exec(sq, "COMMIT") < 0 || sql_exec(sq, "BEGIN") < 0))
			goto out;
		double t2 = now_s();
		if (files_apply(&g, &ev) < 0) {
			fprintf(stderr,
			        "wflow-bench: files: cannot map event %" PRIu64
			        "\n",
			        i + 1);
			goto out;
		}
		double t3 = now_s();
		if (wf_fold_apply(ref, &ev, err, sizeof err) < 0) {
			fprintf(stderr, "wflow-bench: reference fold: %s\n",
			        err);
			goto out;
		}
		r->gen_s[SYS_FULL] += t1 - t0;
		r->gen_s[SYS_SQLITE] += t2 - t1;
		r->gen_s[SYS_FILES] += t3 - t2;
	}
	r->file_writes = g.writes;
	if (sql_exec(sq, "COMMIT") < 0)
		goto out;
	sqlite3_finalize(ins);
	ins = NULL;
	if (sqlite3_close(sq) != SQLITE_OK) {
		fprintf(stderr, "wflow-bench: sqlite close: %s\n",
		        sqlite3_errmsg(sq));
		goto out;
	}
	sq = NULL;
	if (wf_journal_close(j) < 0)
		goto out;
	j = NULL;
	digest ref_dg;
	fold_digest(ref, &ref_dg);
	r->wfs = ref_dg.wfs;
	r->steps = ref_dg.steps;
	/* How long a periodic snapshot holds the engine's lock at this length:
	 * its take of the state (the engine's fold is this one). Median of 3. */
	double takes[3];
	for (int k = 0; k < 3; k++) {
		wf_snapshot_job *sj;
		double a = now_s();
		if (wf_snapshot_job_take(ref, 1, &sj) < 0)
			oom();
		takes[k] = now_s() - a;
		wf_snapshot_job_done(ref, sj);
		wf_snapshot_job_free(sj);
	}
	r->take_s = quantile(takes, 3, 0.5);
	wf_fold_free(ref);
	ref = NULL;

	/* The snapshot: an engine's open (a full replay) and close. */
	double t0 = now_s();
	wf_engine *e;
	wf_config cfg = WF_CONFIG_INIT;
	if (wf_open(&e, edir, &cfg) < 0) {
		fprintf(stderr, "wflow-bench: wf_open %s: %s\n", edir,
		        e ? wf_errmsg(e) : "out of memory");
		wf_close(e);
		goto out;
	}
	if (wf_close(e) < 0)
		goto out;
	r->gen_s[SYS_SNAP] = now_s() - t0;

	du(jdir, &r->sys[SYS_FULL].bytes, &r->sys[SYS_FULL].alloc, NULL);
	char *sdir = xasprintf("%s/snapshots", edir);
	du(sdir, &r->sys[SYS_SNAP].bytes, &r->sys[SYS_SNAP].alloc, NULL);
	free(sdir);
	r->sys[SYS_SNAP].bytes += r->sys[SYS_FULL].bytes;
	r->sys[SYS_SNAP].alloc += r->sys[SYS_FULL].alloc;
	struct stat st;
	if (stat(db, &st) == 0) {
		r->sys[SYS_SQLITE].bytes = (uint64_t)st.st_size;
		r->sys[SYS_SQLITE].alloc = (uint64_t)st.st_blocks * 512;
	}
	du(froot, &r->sys[SYS_FILES].bytes, &r->sys[SYS_FILES].alloc,
	   &r->files);

	/* Recovery, each system in fresh processes: first warm (the stores
	 * are in the page cache since they were written), then cold, so that
	 * no warm sample follows a drop of the cache. */
	const char *path[NSYS] = {edir, edir, db, froot};
	for (int s = 0; s < NSYS; s++) {
		sysres *sr = &r->sys[s];
		if (s == SYS_FILES && !files)
			continue;
		double warm[64], m = 0, closes[64], cpus[64];
		int nw = 0, ncl = 0, ncpu = 0,
		    own = s == SYS_SQLITE || s == SYS_FILES;
		child_out co;
		if (s == SYS_FILES && !o->quick) {
			/* Right after it is written, a big tree is not all in
			 * the caches (at 10^6 events a first pass took 3 times
			 * as long as later ones): one pass, not counted. */
			progress("%" PRIu64 " events: %s, warm-up pass...", n,
			         sys_label[s]);
			if (recover_in_child(s, path[s], 1, &co) < 0)
				goto out;
			sr->warmup_s = co.open_s[0];
		}
		double start = now_s();
		progress("%" PRIu64 " events: %s, warm...", n, sys_label[s]);
		while (nw < WARM_SAMPLES) {
			/* Our own children recover once first, then as many
			 * times as the budget has room for (at 10^6 events the
			 * file tree takes many seconds a pass);
			 * engine-open-child always opens OPENS times. */
			int k = own && !nw ? 1 : OPENS;
			if (nw) {
				double left = o->budget_s - (now_s() - start);
				if (own && left < m * k)
					k = (int)(left / m);
				if (k < 1 || left < m * k)
					break;
			}
			if (recover_in_child(s, path[s], k, &co) < 0)
				goto out;
			if (nw == 0)
				first_child(r, s, &co, &ref_dg);
			m = 0;
			for (int i = 0; i < co.opens && nw < 64; i++) {
				warm[nw++] = co.open_s[i];
				m += co.open_s[i] / co.opens;
			}
			for (int i = 0; i < co.closes && ncl < 64; i++)
				closes[ncl++] = co.close_s[i];
			for (int i = 0; i < co.cpus && ncpu < 64; i++)
				cpus[ncpu++] = co.cpu_s[i];
		}
		if (ncpu)
			sr->cpu_med = quantile(cpus, ncpu, 0.5);
		if (s == SYS_SNAP && ncl)
			sr->close_med = quantile(closes, ncl, 0.5);
		sr->warm_n = nw;
		sr->warm_med = quantile(warm, nw, 0.5);
		sr->warm_p95 = quantile(warm, nw, 0.95);
		sr->ran = 1;
	}
	/* What a replay of this journal cannot beat on one core: its frames
	 * read, checked and decompressed, no event looked at (best of 3,
	 * warm, like the replays above). */
	progress("%" PRIu64 " events: decompression alone...", n);
	if (decode_floor_measure(jdir, 3, &r->floor) < 0)
		goto out;
	r->have_floor = 1;
	for (int s = 0; cold && s < NSYS; s++) {
		sysres *sr = &r->sys[s];
		if (!sr->ran)
			continue;
		double cold_s[COLD_RUNS];
		int nc = 0;
		double start = now_s();
		while (nc < (o->quick ? 1 : COLD_RUNS)) {
			if (nc && now_s() - start + cold_s[nc - 1] > o->budget_s)
				break;
			progress("%" PRIu64 " events: %s, cold %d...", n,
			         sys_label[s], nc + 1);
			child_out co;
			if (!drop_caches())
				break;
			if (recover_in_child(s, path[s], 1, &co) < 0)
				goto out;
			cold_s[nc++] = co.open_s[0];
		}
		sr->cold_n = nc;
		sr->cold_med = quantile(cold_s, nc, 0.5);
	}
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "wflow-bench: the measurement of %" PRIu64
		                " events failed\n",
		        n);
	sqlite3_finalize(ins);
	sqlite3_close(sq);
	wf_journal_close(j);
	wf_batch_free(b);
	wf_synth_free(syn);
	wf_fold_free(ref);
	files_gen_free(&g);
	free(body.p);
	if (!o->keep) {
		progress("%" PRIu64 " events: removing the stores...", n);
		rm_tree_parallel(g.root);
		rm_tree(dir);
	}
	free(edir);
	free(jdir);
	free(db);
	free(froot);
	return rc;
}

/* ---- durable appends ------------------------------------------------------ */

enum { AP_WFLOW, AP_SQLITE, AP_FILES, NAP };
static const char *const ap_key[NAP] = {"wflow", "sqlite", "files"};

typedef struct appender {
	int sys, tid;
	const char *dir;
	wf_journal *j;
	double deadline;
	pthread_barrier_t *start;
	uint64_t done, failed;
	double end;
} appender;

/* A small event: step_started [workflow, step, attempt]. */
static void small_event(wf_event *ev, int tid, uint64_t i, char *wid,
                        char *sid)
{
	memset(ev, 0, offsetof(wf_event, fields));
	ev->type = WF_EV_STEP_STARTED;
	snprintf(wid, 32, "bench/t%02d", tid);
	snprintf(sid, 32, "step_%" PRIu64, i);
	ev->fields[ev->nfields++] = wf_field_text(wid, strlen(wid));
	ev->fields[ev->nfields++] = wf_field_text(sid, strlen(sid));
	ev->fields[ev->nfields++] = wf_field_u(1);
}

static void *append_main(void *arg)
{
	appender *a = arg;
	wf_batch *b = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL;
	buf body = {NULL, 0, 0};
	int dfd = -1;
	char *tdir = NULL;
	int ready = 0;

	if (a->sys == AP_WFLOW) {
		ready = wf_batch_new(&b) == 0;
	} else if (a->sys == AP_SQLITE) {
		char *path = xasprintf("%s/events.db", a->dir);
		db = sql_open(path, "FULL");
		free(path);
		ready = db && sqlite3_prepare_v2(db, insert_sql, -1, &ins,
		                                 NULL) == SQLITE_OK;
	} else {
		tdir = xasprintf("%s/t%02d", a->dir, a->tid);
		ready = mkdir(tdir, 0777) == 0 &&
		        (dfd = open(tdir, O_RDONLY | O_DIRECTORY |
		                                  O_CLOEXEC)) >= 0;
	}
	/* Ready; then wait for the deadline to be set. */
	pthread_barrier_wait(a->start);
	pthread_barrier_wait(a->start);
	wf_event ev;
	char wid[32], sid[32];
	while (ready && now_s() < a->deadline) {
		uint64_t i = a->done + a->failed;
		small_event(&ev, a->tid, i, wid, sid);
		ev.time_ns = (int64_t)time(NULL) * 1000000000;
		int ok;
		if (a->sys == AP_WFLOW) {
			ok = wf_batch_add(b, &ev) == 0 &&
			     wf_journal_commit(a->j, b, NULL) == 0;
			if (!ok)
				wf_batch_clear(b);
		} else if (a->sys == AP_SQLITE) {
			ev.seq = 0;
			ok = sql_insert(db, ins, &body, &ev) == 0;
		} else {
			char path[PATHLEN], text[128];
			if (pathf(path, "%s/%s.json", tdir, sid) < 0)
				break;
			int len = snprintf(text, sizeof text,
			                   "{\"start_time\": %" PRId64 "}",
			                   ev.time_ns / 1000000000);
			ok = write_atomic(path, text, (size_t)len, dfd) == 0;
		}
		if (ok)
			a->done++;
		else if (++a->failed > 100)
			break;
	}
	a->end = now_s();
	if (dfd >= 0)
		close(dfd);
	free(tdir);
	free(body.p);
	sqlite3_finalize(ins);
	sqlite3_close(db);
	wf_batch_free(b);
	return NULL;
}

/* Events/s of nthreads appending for secs. @return -1 on failure. */
static double bench_append(int sys, const char *root, int nthreads,
                           double secs)
{
	char *dir = xasprintf("%s/append-%s-%d", root, ap_key[sys], nthreads);
	double result = -1;
	wf_journal *j = NULL;
	if (mkdir(dir, 0777) != 0) {
		free(dir);
		return -1;
	}
	if (sys == AP_WFLOW) {
		wf_journal_opts jo = WF_JOURNAL_OPTS_INIT;
		jo.durability = WF_DURABILITY_ALWAYS;
		char *jdir = xasprintf("%s/journal", dir);
		int rc = wf_journal_open(&j, jdir, &jo);
		free(jdir);
		if (rc < 0) {
			wf_journal_close(j);
			goto out;
		}
	} else if (sys == AP_SQLITE) {
		/* Create the table once, before the writers race for it. */
		char *path = xasprintf("%s/events.db", dir);
		sqlite3 *db = sql_open(path, "FULL");
		free(path);
		if (!db)
			goto out;
		sqlite3_close(db);
	}
	appender *a = calloc((size_t)nthreads, sizeof *a);
	pthread_t *t = calloc((size_t)nthreads, sizeof *t);
	pthread_barrier_t bar;
	if (!a || !t)
		oom();
	pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
	for (int i = 0; i < nthreads; i++)
		a[i] = (appender){sys, i, dir, j, 0, &bar, 0, 0, 0};
	int started = 0;
	for (; started < nthreads; started++)
		if (pthread_create(&t[started], NULL, append_main,
		                   &a[started]) != 0)
			break;
	if (started < nthreads) {
		fprintf(stderr, "wflow-bench: cannot start threads\n");
		exit(2);
	}
	/* Every thread has its connection or directory: start the clock. */
	pthread_barrier_wait(&bar);
	double t0 = now_s();
	for (int i = 0; i < nthreads; i++)
		a[i].deadline = t0 + secs;
	pthread_barrier_wait(&bar);
	uint64_t done = 0, failed = 0;
	double end = t0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		done += a[i].done;
		failed += a[i].failed;
		if (a[i].end > end)
			end = a[i].end;
	}
	pthread_barrier_destroy(&bar);
	free(a);
	free(t);
	if (failed)
		fprintf(stderr,
		        "wflow-bench: append %s x%d: %" PRIu64
		        " appends failed\n",
		        ap_key[sys], nthreads, failed);
	if (done && end > t0)
		result = (double)done / (end - t0);
out:
	if (j && wf_journal_close(j) < 0)
		result = -1;
	rm_tree(dir);
	free(dir);
	return result;
}

/* ---- output ------------------------------------------------------------- */

typedef struct lines {
	char **v;
	size_t n;
} lines;

#if defined(__GNUC__)
static void put(lines *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#endif

static void put(lines *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = NULL;
	if (vasprintf(&p, fmt, ap) < 0)
		oom();
	va_end(ap);
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = p;
}

static void fmt_s(char *out, size_t n, double s)
{
	if (s < 0)
		snprintf(out, n, "-");
	else if (s < 0.01)
		snprintf(out, n, "%.2f ms", s * 1e3);
	else if (s < 10)
		snprintf(out, n, "%.3f s", s);
	else
		snprintf(out, n, "%.1f s", s);
}

static void fmt_rate(char *out, size_t n, double r)
{
	if (r < 0)
		snprintf(out, n, "-");
	else if (r >= 1e6)
		snprintf(out, n, "%.2f M", r / 1e6);
	else if (r >= 1e3)
		snprintf(out, n, "%.1f k", r / 1e3);
	else
		snprintf(out, n, "%.0f", r);
}

static double rate(double x, double s)
{
	return s > 0 ? x / s : -1;
}

static int write_csv(const char *path, const sizeres *r, int nr,
                     double ap[2][NAP])
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "wflow-bench: %s: %s\n", path,
		        strerror(errno));
		return -1;
	}
	fprintf(f, "measure,system,events,store_bytes,disk_bytes,"
	           "warm_median_s,warm_p95_s,warm_samples,cold_median_s,"
	           "cold_samples,events_per_s,mb_per_s,rss_after_open_bytes\n");
	for (int i = 0; i < nr; i++)
		for (int s = 0; s < NSYS; s++) {
			const sysres *x = &r[i].sys[s];
			if (!x->ran)
				continue;
			fprintf(f,
			        "recovery,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64
			        ",%.6f,%.6f,%d,",
			        sys_key[s], r[i].events, x->bytes, x->alloc,
			        x->warm_med, x->warm_p95, x->warm_n);
			if (x->cold_n)
				fprintf(f, "%.6f,%d,", x->cold_med, x->cold_n);
			else
				fprintf(f, ",0,");
			fprintf(f, "%.0f,", rate((double)r[i].events, x->warm_med));
			/* A snapshot's open reads the snapshot and the tail,
			 * not the store: no MB/s. */
			if (s != SYS_SNAP)
				fprintf(f, "%.2f",
				        rate((double)x->bytes / 1e6, x->warm_med));
			fprintf(f, ",%lld\n", x->rss);
		}
	for (int w = 0; w < 2; w++)
		for (int s = 0; s < NAP; s++)
			fprintf(f, "append_%d,%s,,,,,,,,,%.0f,,\n",
			        w ? 64 : 1, ap_key[s], ap[w][s]);
	if (fclose(f) != 0)
		return -1;
	return 0;
}

static int have_gnuplot(void)
{
	return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

/* The PNG: warm median open time against history length, log-log. */
static int plot(const char *png, const char *scratch, const sizeres *r,
                int nr, const char *mach)
{
	char *script = xasprintf("%s/recovery.gp", scratch);
	FILE *f = fopen(script, "w");
	if (!f) {
		free(script);
		return -1;
	}
	int points[NSYS] = {0};
	for (int s = 0; s < NSYS; s++) {
		fprintf(f, "$%s << EOD\n", sys_key[s]);
		for (int i = 0; i < nr; i++)
			if (r[i].sys[s].ran && r[i].sys[s].warm_med > 0) {
				fprintf(f, "%" PRIu64 " %.6f\n", r[i].events,
				        r[i].sys[s].warm_med);
				points[s]++;
			}
		fprintf(f, "EOD\n");
	}
	fprintf(f,
	        "set terminal pngcairo size 1000,640 font 'sans,10'\n"
	        "set output '%s'\n"
	        "set title \"Recovery time against history length (warm page "
	        "cache, median)\\n%s\" noenhanced\n"
	        "set logscale xy\n"
	        "set xlabel 'history length (events)'\n"
	        "set ylabel 'open / recovery time (s)'\n"
	        "set format x '10^{%%L}'\n"
	        "set format y '10^{%%L}'\n"
	        "set grid\n"
	        "set key top left\n"
	        "plot ",
	        png, mach);
	for (int s = 0, k = 0; s < NSYS; s++)
		if (points[s])
			fprintf(f,
			        "%s$%s using 1:2 with linespoints lw 2 "
			        "title '%s'",
			        k++ ? ", " : "", sys_key[s], sys_label[s]);
	fprintf(f, "\n");
	int ok = fclose(f) == 0;
	char *cmd = xasprintf("gnuplot '%s'", script);
	ok = ok && system(cmd) == 0;
	free(cmd);
	if (!ok) {
		/* gnuplot without cairo: the gd terminal */
		char *sed = xasprintf("sed -i 's/^set terminal pngcairo.*/set "
		                      "terminal png size 1000,640/' '%s' && "
		                      "gnuplot '%s'",
		                      script, script);
		ok = system(sed) == 0;
		free(sed);
	}
	free(script);
	return ok ? 0 : -1;
}

/* ---- the command ------------------------------------------------------------ */

static const char recovery_usage[] =
	"usage: wflow-bench recovery [--quick | --full] [--sizes N,N,...]\n"
	"                            [--dir D] [--out O] [--install-deps]\n"
	"                            [--keep]\n"
	"  --quick         10^4 and 10^5 events (under a minute)\n"
	"  (default)       10^4, 10^5, 10^6\n"
	"  --full          10^4 .. 10^7 (long; the file tree of 10^7 events,\n"
	"                  about 17 million files, is skipped where it would\n"
	"                  take over half the free inodes or space)\n"
	"  --sizes LIST    these history lengths instead\n"
	"  --dir D         scratch stores under D (default /tmp)\n"
	"  --out O         recovery.csv and recovery.png into O (default .)\n"
	"  --install-deps  apt-get install gnuplot-nox if gnuplot is missing\n"
	"  --keep          keep the scratch stores\n";

static int parse_sizes(const char *v, opts *o)
{
	o->nsizes = 0;
	while (v && *v) {
		char *end;
		errno = 0;
		unsigned long long x = strtoull(v, &end, 10);
		if (errno || end == v || x < 100 || x > 100000000ULL ||
		    o->nsizes == (int)(sizeof o->sizes / sizeof o->sizes[0]))
			return -1;
		o->sizes[o->nsizes++] = x;
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		v = end;
	}
	return o->nsizes ? 0 : -1;
}

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "wflow-bench recovery: %s%s%s\n%s", what,
	        arg ? " " : "", arg ? arg : "", recovery_usage);
	return 2;
}

int cmd_recovery(int argc, char **argv)
{
	opts o;
	memset(&o, 0, sizeof o);
	o.base = "/tmp";
	o.out = ".";
	const char *sizes = NULL;

	if (argc >= 3 && !strcmp(argv[0], "--child")) {
		int opens = OPENS;
		if (argc == 5 && !strcmp(argv[3], "--opens"))
			opens = atoi(argv[4]);
		if (opens < 1 || opens > OPENS)
			return 2;
		return run_child(argv[1], argv[2], opens);
	}
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(recovery_usage, stdout);
			return 0;
		} else if (!strcmp(a, "--quick")) {
			o.quick = 1;
		} else if (!strcmp(a, "--full")) {
			o.full = 1;
		} else if (!strcmp(a, "--install-deps")) {
			o.install_deps = 1;
		} else if (!strcmp(a, "--keep")) {
			o.keep = 1;
		} else if (!strcmp(a, "--dir") || !strcmp(a, "--out") ||
		           !strcmp(a, "--sizes")) {
			if (i + 1 == argc)
				return bad("missing value of", a);
			if (!strcmp(a, "--dir"))
				o.base = argv[++i];
			else if (!strcmp(a, "--out"))
				o.out = argv[++i];
			else
				sizes = argv[++i];
		} else {
			return bad("unknown argument", a);
		}
	}
	if (o.quick && o.full)
		return bad("--quick and --full exclude each other", NULL);
	if (sizes) {
		if (parse_sizes(sizes, &o) < 0)
			return bad("--sizes: expected counts of 100 to 10^8, "
			           "comma-separated",
			           NULL);
	} else {
		static const uint64_t all[] = {10000, 100000, 1000000,
		                               10000000};
		o.nsizes = o.quick ? 2 : o.full ? 4 : 3;
		memcpy(o.sizes, all, sizeof all);
	}
	/* Seconds of samples per system and size, beyond the first. */
	o.budget_s = o.quick ? 3 : o.full ? 120 : 60;
	double t_start = t_begin = now_s();

	if (!have_gnuplot() && o.install_deps) {
		fprintf(stderr, "wflow-bench: --install-deps: installing "
		                "gnuplot-nox with apt-get\n");
		if (system("DEBIAN_FRONTEND=noninteractive apt-get install -y "
		           "-qq --no-install-recommends gnuplot-nox >&2 || "
		           "(apt-get update -qq >&2 && "
		           "DEBIAN_FRONTEND=noninteractive apt-get install -y "
		           "-qq --no-install-recommends gnuplot-nox >&2)") != 0)
			fprintf(stderr, "wflow-bench: apt-get install "
			                "gnuplot-nox failed; no plot\n");
	}
	struct stat st;
	if (stat(o.out, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "wflow-bench: --out %s: not a directory\n",
		        o.out);
		return 2;
	}
	char *root = xasprintf("%s/wflow-recovery-XXXXXX", o.base);
	if (!mkdtemp(root)) {
		fprintf(stderr, "wflow-bench: cannot create a directory in "
		                "%s: %s\n",
		        o.base, strerror(errno));
		free(root);
		return 2;
	}
	const char *fs = fs_name(root);
	if (!strcmp(fs, "tmpfs"))
		fprintf(stderr, "wflow-bench: warning: %s is on tmpfs: cold "
		                "and durable figures mean nothing (use --dir)\n",
		        root);
	o.cold = drop_caches();
	if (!o.cold)
		fprintf(stderr, "wflow-bench: cannot drop the page cache "
		                "(not root?): cold=unavailable\n");
	char mach[512];
	machine(mach, sizeof mach);
	for (char *c = mach; *c; c++)
		if (*c == '\'' || *c == '"' || *c == '\\')
			*c = ' '; /* it goes into the plot's title */

	sizeres res[8];
	int nr = 0, failed = 0;
	for (int i = 0; i < o.nsizes; i++) {
		char *dir = xasprintf("%s/n%" PRIu64, root, o.sizes[i]);
		/* --quick: cold only at the first size (dropping the cache
		 * makes removing a file tree slow: minutes at 10^5). */
		int cold = o.cold && (!o.quick || i == 0);
		char why[160] = "";
		int files = files_fit(root, o.sizes[i], why, sizeof why);
		if (!files)
			fprintf(stderr, "wflow-bench: %" PRIu64
			                " events: no file tree: %s\n",
			        o.sizes[i], why);
		if (mkdir(dir, 0777) != 0 ||
		    bench_size(&o, dir, o.sizes[i], cold, files, &res[nr]) <
		            0) {
			failed = 1;
			free(dir);
			break;
		}
		snprintf(res[nr].files_skip, sizeof res[nr].files_skip, "%s",
		         why);
		nr++;
		free(dir);
	}

	double ap[2][NAP] = {{-1, -1, -1}, {-1, -1, -1}};
	double ap_s = o.quick ? 0.5 : 2.0;
	for (int w = 0; w < 2 && !failed; w++)
		for (int s = 0; s < NAP; s++) {
			progress("durable appends, %s, %d writer%s, %.1f s...",
			         ap_key[s], w ? 64 : 1, w ? "s" : "", ap_s);
			ap[w][s] = bench_append(s, root, w ? 64 : 1, ap_s);
			if (ap[w][s] < 0)
				failed = 1;
		}

	/* The table. */
	printf("wflow-bench recovery: %s; scratch on %s (%s)\n", mach,
	       o.base, fs);
	printf("history lengths run:");
	for (int i = 0; i < nr; i++)
		printf(" %" PRIu64, res[i].events);
	printf("%s\n", o.full ? "" : " (10^7 only with --full)");
	printf("open = a fresh process's wf_open, or its read and fold; warm: "
	       "median and p95 of n samples; cold: median of c, %s%s\n\n",
	       o.cold ? "each the first recovery of a child started after "
	                "dropping the page cache"
	              : "none (cold=unavailable: cannot drop the page cache)",
	       o.cold && o.quick ? " (--quick: at the first size only)" : "");
	printf("%-20s %9s %8s %8s %10s %10s %10s %9s %8s %8s %5s\n",
	       "system", "events", "data MB", "disk MB", "open med",
	       "open p95", "cold med", "events/s", "MB/s", "RSS MB", "n/c");
	for (int i = 0; i < nr; i++) {
		for (int s = 0; s < NSYS; s++) {
			const sysres *x = &res[i].sys[s];
			char med[32], p95[32], cold[32], evs[32];
			if (!x->ran) {
				printf("%-20s %9" PRIu64 "   not run (see the "
				       "notes)\n",
				       sys_label[s], res[i].events);
				continue;
			}
			fmt_s(med, sizeof med, x->warm_med);
			fmt_s(p95, sizeof p95, x->warm_p95);
			fmt_s(cold, sizeof cold, x->cold_n ? x->cold_med : -1);
			fmt_rate(evs, sizeof evs,
			         rate((double)res[i].events, x->warm_med));
			char nc[16], mbs[16] = "-";
			snprintf(nc, sizeof nc, "%d/%d", x->warm_n, x->cold_n);
			if (s != SYS_SNAP)
				snprintf(mbs, sizeof mbs, "%.1f",
				         rate((double)x->bytes / 1e6,
				              x->warm_med));
			printf("%-20s %9" PRIu64
			       " %8.1f %8.1f %10s %10s %10s %9s %8s %8.1f %5s\n",
			       sys_label[s], res[i].events,
			       (double)x->bytes / 1e6, (double)x->alloc / 1e6,
			       med, p95, cold, evs, mbs,
			       x->rss >= 0 ? (double)x->rss / 1e6 : -1.0, nc);
		}
		printf("\n");
	}
	printf("wflow close after an open from its snapshot (the close writes "
	       "the next snapshot), median:");
	for (int i = 0; i < nr; i++) {
		char c[32];
		fmt_s(c, sizeof c, res[i].sys[SYS_SNAP].close_med > 0
		                       ? res[i].sys[SYS_SNAP].close_med
		                       : -1);
		printf("%s %" PRIu64 " events %s", i ? "," : "",
		       res[i].events, c);
	}
	printf("\n\n");
	if (!failed) {
		char r1[NAP][32], r64[NAP][32];
		for (int s = 0; s < NAP; s++) {
			fmt_rate(r1[s], sizeof r1[s], ap[0][s]);
			fmt_rate(r64[s], sizeof r64[s], ap[1][s]);
		}
		printf("durable appends, one small event per commit, %.1f s "
		       "(events/s):\n",
		       ap_s);
		printf("%-42s %12s %12s\n", "system", "1 writer", "64 writers");
		printf("%-42s %12s %12s\n", "wflow (durability always)",
		       r1[AP_WFLOW], r64[AP_WFLOW]);
		printf("%-42s %12s %12s\n", "sqlite (WAL, synchronous=FULL)",
		       r1[AP_SQLITE], r64[AP_SQLITE]);
		printf("%-42s %12s %12s\n",
		       "files (tmp+fsync+rename+fsync dir)", r1[AP_FILES],
		       r64[AP_FILES]);
		printf("\n");
	}
	printf("notes:\n"
	       "- events/s and MB/s: the history's events and the store's "
	       "data bytes over the warm median; for wflow (snapshot)\n"
	       "  events/s is effective (the snapshot stands for the "
	       "replay), and data MB is journal + snapshot. RSS: after the\n"
	       "  first open in a fresh process. disk MB: blocks allocated "
	       "(a small file takes a 4 KiB block).\n"
	       "- sqlite: loaded with synchronous=OFF, 1000 rows a "
	       "transaction; the recovery decodes each row's fields and "
	       "applies them to the fold.\n"
	       "- files: loaded with tmp+rename and no fsync; the recovery "
	       "reads and parses every file and folds the events rebuilt "
	       "from them;\n  the tree keeps only the latest state "
	       "(no retry or attempt history).\n");
	for (int i = 0; i < nr; i++) {
		const sizeres *x = &res[i];
		printf("- %" PRIu64 " events: %" PRIu64 " workflows, %" PRIu64
		       " steps; files: %" PRIu64 " files from %" PRIu64
		       " writes, recovery folds %" PRIu64
		       " rebuilt events; state vs the reference fold: "
		       "sqlite %s, files %s%s%s\n",
		       x->events, x->wfs, x->steps, x->files, x->file_writes,
		       x->files_events,
		       x->sys[SYS_SQLITE].state ? x->sys[SYS_SQLITE].state
		                                : "?",
		       !x->sys[SYS_FILES].ran     ? "not run"
		       : x->sys[SYS_FILES].state ? x->sys[SYS_FILES].state
		                                 : "?",
		       x->sys[SYS_FILES].note[0] ? "; " : "",
		       x->sys[SYS_FILES].note);
		if (x->files_skip[0])
			printf("  no file tree: %s\n", x->files_skip);
		if (x->sys[SYS_FILES].warmup_s > 0)
			printf("  files: an uncounted warm-up pass before the warm "
			       "samples took %.1f s\n",
			       x->sys[SYS_FILES].warmup_s);
		printf("  load time: journal %.1f s, snapshot (open+close) "
		       "%.1f s, sqlite %.1f s, files %.1f s\n",
		       x->gen_s[SYS_FULL], x->gen_s[SYS_SNAP],
		       x->gen_s[SYS_SQLITE], x->gen_s[SYS_FILES]);
	}

	char *csv = xasprintf("%s/recovery.csv", o.out);
	char *png = xasprintf("%s/recovery.png", o.out);
	int csv_ok = nr && write_csv(csv, res, nr, ap) == 0;
	int png_ok = 0;
	if (nr && have_gnuplot())
		png_ok = plot(png, root, res, nr, mach) == 0;
	else if (nr)
		fprintf(stderr, "wflow-bench: gnuplot not found: no plot (run "
		                "with --install-deps, or install "
		                "gnuplot-nox)\n");
	if (!o.keep)
		rm_tree(root);
	else
		fprintf(stderr, "wflow-bench: stores kept in %s\n", root);

	/* The figures, last. */
	lines L = {NULL, 0};
	put(&L, "machine=%s", mach);
	put(&L, "fs=%s", fs);
	put(&L, "cold=%s", o.cold ? "available" : "unavailable");
	{
		char list[256] = "";
		size_t at = 0;
		for (int i = 0; i < nr; i++)
			at += (size_t)snprintf(list + at, sizeof list - at,
			                       "%s%" PRIu64, i ? "," : "",
			                       res[i].events);
		put(&L, "recovery_sizes=%s", list);
	}
	for (int i = 0; i < nr; i++) {
		const sizeres *x = &res[i];
		uint64_t n = x->events;
		const sysres *sn = &x->sys[SYS_SNAP], *fu = &x->sys[SYS_FULL],
		             *sq = &x->sys[SYS_SQLITE],
		             *fi = &x->sys[SYS_FILES];
		put(&L, "recovery_open_snapshot_s_%" PRIu64 "=%.6f", n,
		    sn->warm_med);
		put(&L, "recovery_open_full_s_%" PRIu64 "=%.6f", n,
		    fu->warm_med);
		if (sn->close_med > 0)
			put(&L, "close_after_snapshot_open_s_%" PRIu64 "=%.6f",
			    n, sn->close_med);
		put(&L, "snapshot_take_s_%" PRIu64 "=%.6f", n, x->take_s);
		put(&L, "recovery_sqlite_s_%" PRIu64 "=%.6f", n, sq->warm_med);
		if (fi->ran)
			put(&L, "recovery_files_s_%" PRIu64 "=%.6f", n,
			    fi->warm_med);
		else
			put(&L, "files_skipped_%" PRIu64 "=%s", n,
			    x->files_skip);
		for (int s = 0; s < NSYS; s++)
			if (x->sys[s].ran)
				put(&L, "recovery_%s_p95_s_%" PRIu64 "=%.6f",
				    sys_key[s], n, x->sys[s].warm_p95);
		for (int s = 0; s < NSYS; s++)
			if (x->sys[s].ran && x->sys[s].cpu_med > 0)
				put(&L, "recovery_%s_cpu_s_%" PRIu64 "=%.6f",
				    sys_key[s], n, x->sys[s].cpu_med);
		for (int s = 0; s < NSYS; s++)
			if (x->sys[s].cold_n)
				put(&L, "recovery_%s_cold_s_%" PRIu64 "=%.6f",
				    sys_key[s], n, x->sys[s].cold_med);
		put(&L, "replay_events_per_s_%" PRIu64 "=%.0f", n,
		    rate((double)n, fu->warm_med));
		put(&L, "replay_mb_per_s_%" PRIu64 "=%.1f", n,
		    rate((double)fu->bytes / 1e6, fu->warm_med));
		if (x->have_floor)
			put(&L, "decompress_events_per_cpu_s_%" PRIu64 "=%.0f",
			    n, rate((double)x->floor.events, x->floor.cpu_s));
		put(&L, "sqlite_rows_per_s_%" PRIu64 "=%.0f", n,
		    rate((double)n, sq->warm_med));
		put(&L, "sqlite_mb_per_s_%" PRIu64 "=%.1f", n,
		    rate((double)sq->bytes / 1e6, sq->warm_med));
		if (fi->ran) {
			put(&L, "files_events_per_s_%" PRIu64 "=%.0f", n,
			    rate((double)n, fi->warm_med));
			put(&L, "files_mb_per_s_%" PRIu64 "=%.1f", n,
			    rate((double)fi->bytes / 1e6, fi->warm_med));
		}
		for (int s = 0; s < NSYS; s++)
			if (x->sys[s].ran)
				put(&L, "rss_%s_bytes_%" PRIu64 "=%lld",
				    sys_key[s], n, x->sys[s].rss);
		put(&L, "bytes_journal_%" PRIu64 "=%" PRIu64, n, fu->bytes);
		put(&L, "bytes_snapshot_%" PRIu64 "=%" PRIu64, n,
		    sn->bytes - fu->bytes);
		put(&L, "bytes_sqlite_%" PRIu64 "=%" PRIu64, n, sq->bytes);
		if (fi->ran) {
			put(&L, "bytes_files_%" PRIu64 "=%" PRIu64, n,
			    fi->bytes);
			put(&L, "disk_bytes_files_%" PRIu64 "=%" PRIu64, n,
			    fi->alloc);
			put(&L, "files_count_%" PRIu64 "=%" PRIu64, n,
			    x->files);
		}
		put(&L, "workflows_%" PRIu64 "=%" PRIu64, n, x->wfs);
		put(&L, "sqlite_state_%" PRIu64 "=%s", n,
		    sq->state ? sq->state : "unknown");
		if (fi->ran)
			put(&L, "files_state_%" PRIu64 "=%s", n,
			    fi->state ? fi->state : "unknown");
		if (fi->warmup_s > 0)
			put(&L, "recovery_files_warmup_s_%" PRIu64 "=%.6f", n,
			    fi->warmup_s);
	}
	if (!failed)
		for (int w = 0; w < 2; w++)
			for (int s = 0; s < NAP; s++)
				put(&L, "append_%d_%s=%.0f", w ? 64 : 1,
				    ap_key[s], ap[w][s]);
	/*
	 * The summary figures. open_snapshot_ms_max: the worst warm
	 * median over the lengths run; the others at the longest length run
	 * (the files store at the longest length it was built for).
	 */
	if (nr > 0) {
		double snap_max = 0, close_max = 0, take_max = 0;
		for (int i = 0; i < nr; i++) {
			if (res[i].take_s > take_max)
				take_max = res[i].take_s;
			if (res[i].sys[SYS_SNAP].warm_med > snap_max)
				snap_max = res[i].sys[SYS_SNAP].warm_med;
			if (res[i].sys[SYS_SNAP].close_med > close_max)
				close_max = res[i].sys[SYS_SNAP].close_med;
		}
		const sizeres *last = &res[nr - 1], *lf = NULL;
		for (int i = 0; i < nr; i++)
			if (res[i].sys[SYS_FILES].ran)
				lf = &res[i];
		const sysres *fu = &last->sys[SYS_FULL],
		             *sq = &last->sys[SYS_SQLITE];
		put(&L, "open_snapshot_ms_max=%.2f", snap_max * 1e3);
		if (close_max > 0)
			put(&L, "close_after_snapshot_open_ms_max=%.2f",
			    close_max * 1e3);
		put(&L, "snapshot_take_ms_max=%.2f", take_max * 1e3);
		put(&L, "replay_events_per_s=%.0f",
		    rate((double)last->events, fu->warm_med));
		if (fu->cpu_med > 0)
			put(&L, "replay_events_per_cpu_s=%.0f",
			    rate((double)last->events, fu->cpu_med));
		if (last->have_floor)
			put(&L, "decompress_events_per_cpu_s=%.0f",
			    rate((double)last->floor.events,
			         last->floor.cpu_s));
		put(&L, "recovery_speedup_vs_sqlite=%.2f",
		    fu->warm_med > 0 ? sq->warm_med / fu->warm_med : 0);
		if (fu->cold_n && sq->cold_n && fu->cold_med > 0)
			put(&L, "recovery_speedup_vs_sqlite_cold=%.2f",
			    sq->cold_med / fu->cold_med);
		if (lf && lf->sys[SYS_FULL].warm_med > 0)
			put(&L, "recovery_speedup_vs_files=%.2f",
			    lf->sys[SYS_FILES].warm_med /
			        lf->sys[SYS_FULL].warm_med);
		if (!failed && ap[1][0] > 0 && ap[1][1] > 0)
			put(&L, "durable64_speedup_vs_sqlite=%.2f",
			    ap[1][0] / ap[1][1]);
	}
	put(&L, "recovery_csv=%s", csv_ok ? csv : "none");
	put(&L, "recovery_png=%s", png_ok ? png : "none");
	put(&L, "recovery_seconds=%.1f", now_s() - t_start);
	for (size_t i = 0; i < L.n; i++) {
		printf("%s\n", L.v[i]);
		free(L.v[i]);
	}
	free(L.v);
	free(csv);
	free(png);
	free(root);
	return failed ? 1 : 0;
}
