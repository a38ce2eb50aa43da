/*
 * Snapshots (wf_config.no_snapshots, snapshot_every; replay/snapshot.h):
 * wf_close (and, every snapshot_every events, a thread of the engine) saves
 * the folded state in <dir>/snapshots/<last seq>.wfs; wf_open restores the
 * newest usable one and replays only the journal after it; unusable ones
 * are skipped, never trusted, and the skip is journaled as a notice event
 * right after session_started. All engines here use durability none.
 *
 *  - equivalence: five seeds drive two directories through the same seeded
 *    random history (chains, fan-ins, steps that fail then succeed on
 *    retry, steps that fail for good, catch_exceptions, checkpoint=false,
 *    dynamic continuations, blocked workflows cancelled or left RUNNING at
 *    close, resumes of failed and resumable ones, deletes and id reuse,
 *    actors with writer calls, failed calls, nested calls, async calls, an
 *    interrupted call resumed later) over five close/open cycles: A with
 *    snapshots (odd seeds: periodic ones too, every ~40 events), its twin
 *    B with no_snapshots=1. After every close: A's newest snapshot is named
 *    after its journal's last event, at most two remain (the previous
 *    close's kept), B has none; copies of A opened normally, opened from
 *    the older snapshot, and opened with no_snapshots=1 (full replay)
 *    answer identically: the list of each status asked first (after a
 *    lazy open, each reads only the blocks that may hold one), the whole
 *    list, every workflow's metadata, every step's
 *    metadata (all of them: the count is checked against the list's
 *    "steps"), every output (rc and value), every actor's state; nothing
 *    was skipped. The same for a copy taken while A's engine ran (a
 *    process crash, periodic snapshots written mid-session). A and B,
 *    each as opened, agree too (times aside) and ran exactly the same step
 *    calls: an engine that started from a snapshot resumes, numbers steps
 *    and reuses ids as one that replayed everything.
 *  - written and used: with no_snapshots=1 no snapshot (nor the directory)
 *    is written; a normal close writes one named after the journal's last
 *    seq with the documented header (magic, version, size, journal id,
 *    seq, lengths, both checksums, a zstd payload of raw length); the two
 *    newest remain, no temporary file; a snapshot forged from the journal
 *    minus one deletion is believed by a normal open (the deleted workflow
 *    is back, and the journal after the snapshot is replayed on top) and
 *    ignored with no_snapshots=1; after a snapshot open a resume runs only
 *    the failed step, a dynamic workflow gets no new step ids, a deleted
 *    id starts afresh.
 *  - damage (the newest of two snapshots; with the older intact, alone, or
 *    damaged too): a flipped header or payload byte, truncations, random
 *    bytes, an empty file and a directory named like a snapshot, another
 *    journal's snapshot (also with its payload checksum seeded with this
 *    journal's id), a longer history's snapshot of the same journal
 *    (beyond its end), a header patched with a valid checksum (another
 *    position, version, stored or raw length), a valid frame whose payload
 *    is truncated, random, or changed in one digit under the old payload
 *    checksum: wf_open succeeds, the state is the full replay's, the
 *    journal has "snapshot skipped" naming the file right after
 *    session_started, the older intact one is used (not named), a snapshot
 *    beyond the journal's end is removed, and the next open equals a full
 *    replay too (skipping the damaged file again if it is still the
 *    newest by name).
 *  - lost tail: the journal cut at a frame boundary between the two
 *    snapshots, at the older one's end, or before both: the ones beyond
 *    the end are skipped and removed, the older one is used when the
 *    journal still covers it, the state is a full replay of what remains;
 *    then the journal grows again past the stale position in a session
 *    that writes no snapshot (no_snapshots=1, or a process crash) and the
 *    next open still equals a full replay.
 *  - reset journal: the journal removed, the snapshots left (another
 *    journal's, named above the new journal's seqs): the next open skips
 *    them and equals a full replay; its close writes this journal's own
 *    snapshot and removes the other journal's; the open after that uses
 *    it (no notice).
 *
 * WFLOW_TEST_LAZY=1 restores every snapshot lazily (see main).
 * WFLOW_TEST_SCALE scales the operations per cycle (default 70);
 * WFLOW_TEST_ONLY and WFLOW_TEST_VERBOSE: see main.
 */
#include <xxhash.h>
#include <zstd.h>

#include "engine_util.h"
#include "replay/events.h"
#include "replay/fold.h"
#include "replay/snapshot.h"

/* ---- engines -------------------------------------------------------------- */

static wf_engine *open_cfg_at(const char *file, int line, const char *dir,
                              int no_snapshots, uint64_t every)
{
	wf_config cfg = WF_CONFIG_INIT;
	wf_engine *e = NULL;
	cfg.durability = WF_SYNC_NONE;
	cfg.workers = 8;
	cfg.no_snapshots = no_snapshots;
	cfg.snapshot_every = every;
	int rc = wf_open(&e, dir, &cfg);
	if (rc != 0 || !e) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", e ? wf_errmsg(e) : "(no handle)");
		wf_close(e);
		t_fail(file, line, "wf_open(%s, no_snapshots=%d): %d (%s): %s", dir,
		       no_snapshots, rc, wf_strerror(rc), msg);
	}
	return e;
}
/* Open dir with durability none, with snapshots (0) or without (1). */
#define open_cfg(dir, nosnap) open_cfg_at(__FILE__, __LINE__, dir, nosnap, 0)
/* ... with a snapshot every `every` events too (0: the default). */
#define open_every(dir, every) open_cfg_at(__FILE__, __LINE__, dir, 0, every)

/* ---- files ---------------------------------------------------------------- */

/* Copy the tree src to dst (must not exist), without LOCK files. A file
 * that vanishes meanwhile (an engine's snapshot thread renaming or pruning)
 * is left out. */
static void copy_tree(const char *src, const char *dst)
{
	if (mkdir(dst, 0755) != 0)
		t_fail(__FILE__, __LINE__, "mkdir %s: %s", dst, strerror(errno));
	DIR *d = opendir(src);
	if (!d)
		t_fail(__FILE__, __LINE__, "opendir %s: %s", src, strerror(errno));
	struct dirent *de;
	while ((de = readdir(d))) {
		char a[1024], b[1024];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "LOCK"))
			continue;
		t_path(a, sizeof a, src, de->d_name);
		t_path(b, sizeof b, dst, de->d_name);
		if (lstat(a, &st) != 0) {
			if (errno == ENOENT)
				continue;
			t_fail(__FILE__, __LINE__, "stat %s: %s", a, strerror(errno));
		}
		if (S_ISDIR(st.st_mode)) {
			copy_tree(a, b);
		} else if (S_ISREG(st.st_mode)) {
			FILE *f = fopen(a, "rb");
			if (!f && errno == ENOENT)
				continue;
			if (!f)
				t_fail(__FILE__, __LINE__, "open %s: %s", a, strerror(errno));
			FILE *g = fopen(b, "wb");
			if (!g)
				t_fail(__FILE__, __LINE__, "create %s: %s", b, strerror(errno));
			char buf[65536];
			size_t n;
			while ((n = fread(buf, 1, sizeof buf, f)) > 0)
				if (fwrite(buf, 1, n, g) != n)
					t_fail(__FILE__, __LINE__, "write %s", b);
			if (ferror(f) || fclose(g) != 0)
				t_fail(__FILE__, __LINE__, "copy %s", a);
			fclose(f);
		}
	}
	closedir(d);
}

#define MAX_SNAPS 16

/* The snapshot files of an engine directory, oldest first. */
typedef struct snaps {
	int n;
	int others; /* other entries (temporary files...) */
	uint64_t seq[MAX_SNAPS];
	char name[MAX_SNAPS][40];
	char path[MAX_SNAPS][700];
} snaps;

static int name_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void list_snaps(const char *edir, snaps *s)
{
	char sdir[600];
	memset(s, 0, sizeof *s);
	t_path(sdir, sizeof sdir, edir, "snapshots");
	DIR *d = opendir(sdir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		size_t l = strlen(de->d_name);
		if (l != 24 || strcmp(de->d_name + 20, ".wfs") != 0 ||
		    strspn(de->d_name, "0123456789") != 20) {
			s->others++;
			continue;
		}
		CHECK(s->n < MAX_SNAPS);
		snprintf(s->name[s->n++], sizeof s->name[0], "%s", de->d_name);
	}
	closedir(d);
	qsort(s->name, (size_t)s->n, sizeof s->name[0], name_cmp);
	for (int i = 0; i < s->n; i++) {
		s->seq[i] = strtoull(s->name[i], NULL, 10);
		snprintf(s->path[i], sizeof s->path[0], "%s/%s", sdir, s->name[i]);
	}
}

static void snap_path(char *out, size_t n, const char *edir, uint64_t seq)
{
	int r = snprintf(out, n, "%s/snapshots/%020" PRIu64 ".wfs", edir, seq);
	CHECK(r > 0 && (size_t)r < n);
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Write a snapshot file: header as snapshot.h says, payload raw. */
static void write_snap(const char *path, uint64_t jid, uint64_t seq,
                       const uint8_t *raw, size_t rawlen)
{
	size_t bound = ZSTD_compressBound(rawlen);
	uint8_t *buf = malloc(64 + bound);
	CHECK(buf != NULL);
	size_t clen = ZSTD_compress(buf + 64, bound, raw, rawlen, 1);
	CHECK(!ZSTD_isError(clen));
	memset(buf, 0, 64);
	memcpy(buf, "WFLOWSNP", 8);
	buf[8] = 1;
	buf[12] = 64;
	put_u64(buf + 16, jid);
	put_u64(buf + 24, seq);
	put_u64(buf + 32, rawlen);
	put_u64(buf + 40, clen);
	put_u64(buf + 48, XXH3_64bits_withSeed(buf + 64, clen, jid));
	put_u64(buf + 56, XXH3_64bits(buf, 56));
	t_write_file(path, buf, 64 + clen);
	free(buf);
}

/* Set the u64 at off of a snapshot's header, header checksum recomputed. */
static void patch_header(const char *path, size_t off, uint64_t v)
{
	size_t len;
	uint8_t *b = t_read_file(path, &len);
	CHECK(len >= 64 && off + 8 <= 56);
	put_u64(b + off, v);
	put_u64(b + 56, XXH3_64bits(b, 56));
	t_write_file(path, b, len);
	free(b);
}

/*
 * Check one snapshot file against snapshot.h: magic, version 3, header
 * size 64, journal id, last seq (= the name's), stored length (= the
 * file's), the header and directory checksums; the directory's blocks
 * (inside the file, each with its checksum, block 0 the payload's header
 * and then runs of records covering them all in order) decompressing to
 * the raw length in all. Returns the raw payload (the blocks' bytes
 * concatenated, malloc'd) and its length.
 */
static uint8_t *check_snap_file(const char *path, uint64_t jid, uint64_t seq,
                                size_t *rawlen)
{
	size_t len;
	uint8_t *b = t_read_file(path, &len);
	CHECK_MSG(len > 64 + 24, "%s: %zu bytes", path, len);
	CHECK_MSG(memcmp(b, "WFLOWSNP", 8) == 0, "%s: no magic", path);
	CHECK_EQ_U64(wf_get_u32(b + 8), 3);
	CHECK_EQ_U64(wf_get_u32(b + 12), 64);
	CHECK_EQ_U64(wf_get_u64(b + 16), jid);
	CHECK_EQ_U64(wf_get_u64(b + 24), seq);
	CHECK_EQ_U64(wf_get_u64(b + 40) + 64, len);
	CHECK_EQ_U64(wf_get_u64(b + 56), XXH3_64bits(b, 56));
	const uint8_t *d = b + 64;
	uint64_t dirlen = wf_get_u64(d), nrecs = wf_get_u64(d + 16);
	uint32_t nb = wf_get_u32(d + 8);
	CHECK(nb >= 1 && dirlen == 24 + 48ull * nb + 5 * nrecs &&
	      64 + dirlen <= len);
	/* Each record's status as journaled: none unknown in a file
	 * written from scratch (NONE, RUNNING, FAILED, CANCELED,
	 * SUCCESSFUL; never the derived RESUMABLE). */
	for (uint64_t k = 0; k < nrecs; k++) {
		uint8_t st = d[24 + 48 * (size_t)nb + 4 * nrecs + k];
		CHECK_MSG(st <= 5 && st != 3, "%s: record %" PRIu64
		          " has status %u", path, k, st);
	}
	CHECK_EQ_U64(wf_get_u64(b + 48), XXH3_64bits_withSeed(d, dirlen, jid));
	uint64_t rl = wf_get_u64(b + 32);
	CHECK(rl > 0 && rl < ((uint64_t)1 << 30));
	uint8_t *raw = malloc((size_t)rl);
	CHECK(raw != NULL);
	uint64_t pos = 0, next_rec = 0, end_prev = 64 + dirlen;
	for (uint32_t i = 0; i < nb; i++) {
		const uint8_t *e = d + 24 + 48 * (size_t)i;
		uint64_t off = wf_get_u64(e), clen = wf_get_u64(e + 8);
		uint64_t brl = wf_get_u64(e + 16);
		CHECK_MSG(off == end_prev && off + clen <= len,
		          "%s: block %u at %" PRIu64 "+%" PRIu64, path, i, off,
		          clen);
		CHECK_EQ_U64(wf_get_u64(e + 24),
		             XXH3_64bits_withSeed(b + off, clen, jid));
		CHECK_EQ_U64(wf_get_u64(e + 32), next_rec);
		CHECK(i == 0 ? wf_get_u64(e + 40) == 0 : wf_get_u64(e + 40) > 0);
		next_rec += wf_get_u64(e + 40);
		CHECK(pos + brl <= rl);
		size_t got = ZSTD_decompress(raw + pos, (size_t)brl, b + off,
		                             (size_t)clen);
		CHECK_MSG(!ZSTD_isError(got) && got == brl, "%s: block %u does "
		          "not decompress to %" PRIu64 " bytes", path, i, brl);
		pos += brl;
		end_prev = off + clen;
	}
	CHECK_EQ_U64(end_prev, len);
	CHECK_EQ_U64(next_rec, nrecs);
	CHECK_EQ_U64(pos, rl);
	free(b);
	*rawlen = (size_t)rl;
	return raw;
}

/* Rewrite directory field: arg[0] block (or ~0: the fixed part), arg[1]
 * byte offset in it, arg[2] value added to its u64 (u32 for the fixed
 * part's offsets 8 and 12); directory and header checksums recomputed. */
static void dmg_dir(const char *cdir, void *arg, char *named, size_t nl);

/* ---- the journal ---------------------------------------------------------- */

/* What the journal of an engine directory says. */
typedef struct jscan {
	uint64_t jid;
	uint64_t last_seq;
	uint64_t sess_seq;  /* the last session_started */
	uint64_t notices;   /* notice events in all */
	int notice_next;    /* the event after the last session_started is one */
	char what[128];
	char detail[4096];
} jscan;

static void text_field(char *out, size_t n, const wf_event *ev, unsigned i)
{
	out[0] = '\0';
	if (i >= ev->nfields || (ev->fields[i].kind != WF_FIELD_TEXT &&
	                         ev->fields[i].kind != WF_FIELD_JSON))
		return;
	size_t l = ev->fields[i].v.s.len < n - 1 ? ev->fields[i].v.s.len : n - 1;
	memcpy(out, ev->fields[i].v.s.ptr, l);
	out[l] = '\0';
}

static void scan_journal(const char *edir, jscan *s)
{
	char jdir[600];
	memset(s, 0, sizeof *s);
	t_path(jdir, sizeof jdir, edir, "journal");
	wf_reader *r = t_open_reader(jdir, NULL);
	const wf_event *ev;
	int rc;
	s->jid = wf_reader_journal_id(r);
	while ((rc = wf_reader_next(r, &ev)) == 1) {
		s->last_seq = ev->seq;
		if (ev->type == WF_EV_SESSION_STARTED) {
			s->sess_seq = ev->seq;
			s->notice_next = 0;
			s->what[0] = s->detail[0] = '\0';
		}
		if (ev->type == WF_EV_NOTICE) {
			s->notices++;
			if (ev->seq == s->sess_seq + 1) {
				s->notice_next = 1;
				text_field(s->what, sizeof s->what, ev, 0);
				text_field(s->detail, sizeof s->detail, ev, 1);
			}
		}
	}
	CHECK_OK_MSG(rc, wf_reader_errmsg(r));
	wf_reader_close(r);
}

/* ---- steps ---------------------------------------------------------------- */

static atomic_int g_calls;      /* step and method calls */
static atomic_int hold_on = 1;  /* hold and slow block while set */
static atomic_int hold_entered; /* ... and count when they do */
static atomic_int cond_fail = 1;

typedef struct defs {
	wf_step *add, *flaky, *fails, *cond, *hold, *grow;
	wf_actor_class *acc;
	wf_step *push, *chain, *slow, *peek;
} defs;

static double jsum(const cJSON *j)
{
	double s = 0;
	const cJSON *it;
	if (cJSON_IsNumber(j))
		return j->valuedouble;
	if (cJSON_IsArray(j))
		cJSON_ArrayForEach(it, j) s += jsum(it);
	return s;
}

static double arg_num(const cJSON *args, int i)
{
	const cJSON *v = cJSON_GetArrayItem(args, i);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int st_add(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ctx;
	(void)ud;
	atomic_fetch_add(&g_calls, 1);
	*out = cJSON_CreateNumber(jsum(args));
	return 0;
}

/* flaky(x, k): attempts 1..k fail, then x. */
static int st_flaky(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ud;
	atomic_fetch_add(&g_calls, 1);
	if (wf_ctx_attempt(ctx) <= (int)arg_num(args, 1))
		return wf_ctx_fail(ctx, "flaky: attempt %d of %s", wf_ctx_attempt(ctx),
		                   wf_ctx_step_id(ctx));
	*out = cJSON_CreateNumber(arg_num(args, 0));
	return 0;
}

static int st_fails(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)args;
	(void)ud;
	(void)out;
	atomic_fetch_add(&g_calls, 1);
	return wf_ctx_fail(ctx, "fails: attempt %d of %s", wf_ctx_attempt(ctx),
	                   wf_ctx_step_id(ctx));
}

/* Fails while cond_fail is set. */
static int st_cond(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ud;
	atomic_fetch_add(&g_calls, 1);
	if (atomic_load(&cond_fail))
		return wf_ctx_fail(ctx, "cond is off (%s)", wf_ctx_step_id(ctx));
	*out = cJSON_CreateNumber(jsum(args));
	return 0;
}

/* Blocks (until cancel or close) while hold_on is set. */
static int st_hold(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ud;
	atomic_fetch_add(&g_calls, 1);
	if (atomic_load(&hold_on)) {
		atomic_fetch_add(&hold_entered, 1);
		wf_ctx_sleep(ctx, 1000);
	}
	*out = cJSON_CreateNumber(jsum(args));
	return 0;
}

/* grow(n, v): n > 0: continue with grow(n - 1, v + 1) (name "grow",
 * metadata {"n": n - 1}); n == 0: v, or a failure while cond_fail. */
static int st_grow(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	defs *d = ud;
	int n = (int)arg_num(args, 0);
	double v = arg_num(args, 1);
	atomic_fetch_add(&g_calls, 1);
	if (n > 0) {
		wf_step_options o = WF_STEP_OPTIONS_INIT;
		wf_node *next = NULL;
		cJSON *md = cJSON_CreateObject();
		cJSON_AddNumberToObject(md, "n", n - 1);
		o.name = "grow";
		o.metadata = md;
		o.max_retries = 0;
		int rc = wf_node_new(&next, d->grow, &o);
		cJSON_Delete(md);
		char a[64];
		snprintf(a, sizeof a, "%d", n - 1);
		if (rc == 0)
			rc = wf_node_arg_json(next, a);
		snprintf(a, sizeof a, "%.17g", v + 1);
		if (rc == 0)
			rc = wf_node_arg_json(next, a);
		if (rc != 0) {
			wf_node_free(next);
			return wf_ctx_fail(ctx, "building grow: %d", rc);
		}
		return wf_ctx_continue(ctx, next);
	}
	if (atomic_load(&cond_fail))
		return wf_ctx_fail(ctx, "grow: the bottom fails (%s)",
		                   wf_ctx_step_id(ctx));
	*out = cJSON_CreateNumber(v);
	return 0;
}

/* Actor class Acc: state {"n": start, "log": [last pushes]}. */
static int acc_init(const cJSON *args, void *ud, cJSON **state, char *err,
                    size_t errlen)
{
	(void)ud;
	(void)err;
	(void)errlen;
	cJSON *s = cJSON_CreateObject();
	cJSON_AddNumberToObject(s, "n", arg_num(args, 0));
	cJSON_AddArrayToObject(s, "log");
	*state = s;
	return 0;
}

static void acc_add(cJSON *st, double x)
{
	cJSON *n = cJSON_GetObjectItemCaseSensitive(st, "n");
	if (cJSON_IsNumber(n))
		cJSON_SetNumberHelper(n, n->valuedouble + x);
}

static double acc_n(const cJSON *st)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(st, "n");
	return cJSON_IsNumber(n) ? n->valuedouble : -1;
}

/* push(x): n += x, x appended to the log (the last 5 kept); a non-number
 * fails. */
static int m_push(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ud;
	atomic_fetch_add(&g_calls, 1);
	const cJSON *x = cJSON_GetArrayItem(args, 0);
	cJSON *st = wf_ctx_state(ctx);
	if (!cJSON_IsNumber(x))
		return wf_ctx_fail(ctx, "push: not a number (%s)", wf_ctx_step_id(ctx));
	acc_add(st, x->valuedouble);
	cJSON *log = cJSON_GetObjectItemCaseSensitive(st, "log");
	if (cJSON_IsArray(log)) {
		cJSON_AddItemToArray(log, cJSON_CreateNumber(x->valuedouble));
		if (cJSON_GetArraySize(log) > 5)
			cJSON_DeleteItemFromArray(log, 0);
	}
	*out = cJSON_CreateNumber(acc_n(st));
	return 0;
}

/* chain(k): n += 1, then the nested call chain(k - 1) while k > 0. */
static int m_chain(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	defs *d = ud;
	atomic_fetch_add(&g_calls, 1);
	int k = (int)arg_num(args, 0);
	cJSON *st = wf_ctx_state(ctx);
	acc_add(st, 1);
	if (k > 0) {
		wf_step_options o = WF_STEP_OPTIONS_INIT;
		wf_node *next = NULL;
		char a[32];
		o.name = "chain";
		snprintf(a, sizeof a, "%d", k - 1);
		int rc = wf_node_new(&next, d->chain, &o);
		if (rc == 0)
			rc = wf_node_arg_json(next, a);
		if (rc != 0) {
			wf_node_free(next);
			return wf_ctx_fail(ctx, "building chain: %d", rc);
		}
		return wf_ctx_continue(ctx, next);
	}
	*out = cJSON_CreateNumber(acc_n(st));
	return 0;
}

/* slow(x): blocks while hold_on, then n += x. */
static int m_slow(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)ud;
	atomic_fetch_add(&g_calls, 1);
	if (atomic_load(&hold_on)) {
		atomic_fetch_add(&hold_entered, 1);
		wf_ctx_sleep(ctx, 1000);
		if (wf_ctx_cancelled(ctx))
			return wf_ctx_fail(ctx, "slow: interrupted");
	}
	cJSON *st = wf_ctx_state(ctx);
	acc_add(st, arg_num(args, 0));
	*out = cJSON_CreateNumber(acc_n(st));
	return 0;
}

static int m_peek(wf_ctx *ctx, const cJSON *args, void *ud, cJSON **out)
{
	(void)args;
	(void)ud;
	*out = cJSON_CreateNumber(acc_n(wf_ctx_state(ctx)));
	return 0;
}

static void define_all(wf_engine *e, defs *d)
{
	memset(d, 0, sizeof *d);
	d->add = e_define(e, "add", st_add, NULL, NULL);
	d->flaky = e_define(e, "flaky", st_flaky, NULL, NULL);
	d->fails = e_define(e, "fails", st_fails, NULL, NULL);
	d->cond = e_define(e, "cond", st_cond, NULL, NULL);
	d->hold = e_define(e, "hold", st_hold, NULL, NULL);
	d->grow = e_define(e, "grow", st_grow, d, NULL);
	CHECK_E(e, wf_actor_class_define(e, "Acc", acc_init, NULL, &d->acc));
	CHECK_E(e, wf_actor_method_define(d->acc, "push", m_push, NULL,
	                                  WF_METHOD_WRITER, NULL, &d->push));
	CHECK_E(e, wf_actor_method_define(d->acc, "chain", m_chain, d,
	                                  WF_METHOD_WRITER, NULL, &d->chain));
	CHECK_E(e, wf_actor_method_define(d->acc, "slow", m_slow, NULL,
	                                  WF_METHOD_WRITER, NULL, &d->slow));
	CHECK_E(e, wf_actor_method_define(d->acc, "peek", m_peek, NULL,
	                                  WF_METHOD_READONLY, NULL, &d->peek));
}

/* ---- everything readable, as one JSON object ------------------------------ */

/* Base names of every step id the tests create ("n" is an option name). */
static const char *const bases[] = {"add",  "n",    "flaky", "fails",
                                    "cond", "hold", "grow",  "push",
                                    "chain", "slow", NULL};

/* Remove the time keys (recursively): what differs between two engines
 * that did the same things at different times. */
static void strip_times(cJSON *j)
{
	cJSON *it;
	if (!cJSON_IsObject(j) && !cJSON_IsArray(j))
		return;
	if (cJSON_IsObject(j)) {
		cJSON_DeleteItemFromObjectCaseSensitive(j, "start_time");
		cJSON_DeleteItemFromObjectCaseSensitive(j, "end_time");
		cJSON_DeleteItemFromObjectCaseSensitive(j, "duration");
	}
	cJSON_ArrayForEach(it, j) strip_times(it);
}

/*
 * {"by_status": {"<status>": wf_list_all of it, ...}, "list":
 * wf_list_all(ALL), "<id>": {"meta", "output": {"rc", "value"},
 *  "steps": {"<step id>": metadata}, "actor": state or rc}} for every
 * listed workflow; every step id (probed by base name) is there: their
 * number is checked against the list's "steps".
 */
static cJSON *dump_at(const char *file, int line, wf_engine *e,
                      const defs *d)
{
	cJSON *s = cJSON_CreateObject(), *l = NULL, *it;
	/* Each status's list first, and RESUMABLE's with FAILED (what
	 * wf_resume_all lists): after a lazy open (WFLOW_TEST_LAZY) those
	 * read only the snapshot's blocks that may hold one. */
	cJSON *by = cJSON_AddObjectToObject(s, "by_status");
	int rc;
	for (int st = WF_STATUS_RUNNING; st <= WF_STATUS_SUCCESSFUL + 1; st++) {
		unsigned mask = st <= WF_STATUS_SUCCESSFUL
		                    ? WF_STATUS_BIT(st)
		                    : WF_STATUS_BIT(WF_STATUS_RESUMABLE) |
		                          WF_STATUS_BIT(WF_STATUS_FAILED);
		cJSON *x = NULL;
		if ((rc = wf_list_all(e, mask, &x)) != 0)
			t_fail(file, line, "wf_list_all(%#x): %d: %s", mask, rc,
			       wf_errmsg(e));
		cJSON_AddItemToObject(by, st <= WF_STATUS_SUCCESSFUL
		                              ? wf_status_name((wf_status)st)
		                              : "RESUMABLE|FAILED",
		                      x);
	}
	rc = wf_list_all(e, WF_STATUS_ALL, &l);
	if (rc != 0)
		t_fail(file, line, "wf_list_all: %d: %s", rc, wf_errmsg(e));
	cJSON_AddItemToObject(s, "list", l);
	cJSON_ArrayForEach(it, l)
	{
		const char *id = e_str(it, "workflow_id");
		int nsteps = (int)e_num(it, "steps");
		cJSON *o = cJSON_CreateObject(), *m = NULL, *out = NULL;
		cJSON_AddItemToObject(s, id, o);
		rc = wf_get_metadata(e, id, NULL, &m);
		if (rc != 0)
			t_fail(file, line, "get_metadata(%s): %d: %s", id, rc,
			       wf_errmsg(e));
		cJSON_AddItemToObject(o, "meta", m);
		rc = wf_get_output(e, id, &out);
		cJSON *oo = cJSON_AddObjectToObject(o, "output");
		cJSON_AddNumberToObject(oo, "rc", rc);
		if (out)
			cJSON_AddItemToObject(oo, "value", out);
		cJSON *steps = cJSON_AddObjectToObject(o, "steps");
		int found = 0;
		for (const char *const *b = bases; *b; b++)
			for (int i = 0;; i++) {
				char sid[64];
				if (i)
					snprintf(sid, sizeof sid, "%s_%d", *b, i);
				else
					snprintf(sid, sizeof sid, "%s", *b);
				m = NULL;
				rc = wf_get_metadata(e, id, sid, &m);
				if (rc == WF_ENOTFOUND)
					break;
				if (rc != 0)
					t_fail(file, line, "get_metadata(%s, %s): %d: %s", id,
					       sid, rc, wf_errmsg(e));
				cJSON_AddItemToObject(steps, sid, m);
				found++;
			}
		if (found != nsteps)
			t_fail(file, line, "%s: %d step ids found, the list says %d: %s",
			       id, found, nsteps, e_text(steps));
		wf_actor *a = NULL;
		rc = wf_actor_get(d->acc, id, &a);
		if (rc == 0) {
			cJSON *st = NULL;
			rc = wf_actor_state(a, &st);
			if (rc != 0)
				t_fail(file, line, "wf_actor_state(%s): %d", id, rc);
			cJSON_AddItemToObject(o, "actor", st ? st : cJSON_CreateNull());
			wf_actor_free(a);
		} else {
			cJSON_AddNumberToObject(o, "actor", rc);
		}
	}
	return s;
}
#define dump(e, d) dump_at(__FILE__, __LINE__, e, d)

/* a and b must be equal; names the first difference. */
static void same_at(const char *file, int line, const cJSON *a,
                    const cJSON *b, const char *what)
{
	if (cJSON_Compare(a, b, 1))
		return;
	const cJSON *it;
	cJSON_ArrayForEach(it, a)
	{
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, it->string);
		if (!o || !cJSON_Compare(it, o, 1))
			t_fail(file, line, "%s: \"%s\" differs:\n  %s\n  %s", what,
			       it->string, e_text(it), e_text(o));
	}
	cJSON_ArrayForEach(it, b)
	{
		if (!cJSON_GetObjectItemCaseSensitive(a, it->string))
			t_fail(file, line, "%s: \"%s\" only in the second: %s", what,
			       it->string, e_text(it));
	}
	t_fail(file, line, "%s: differ", what);
}
#define CHECK_SAME(a, b, what) same_at(__FILE__, __LINE__, a, b, what)

/* The state of an engine opened on a copy of edir with no_snapshots=1
 * (a full replay). The copy is removed. */
static cJSON *full_replay_dump(const char *edir, const char *tag)
{
	char cp[700];
	snprintf(cp, sizeof cp, "%s.full%s", edir, tag);
	copy_tree(edir, cp);
	snaps before, after;
	list_snaps(cp, &before);
	wf_engine *f = open_cfg(cp, 1);
	defs d;
	define_all(f, &d);
	cJSON *s = dump(f, &d);
	e_close(f);
	/* no_snapshots: nothing written (nor removed). */
	list_snaps(cp, &after);
	CHECK_EQ_I64(after.n, before.n);
	for (int i = 0; i < after.n; i++)
		CHECK(!strcmp(after.name[i], before.name[i]));
	t_rmtree(cp);
	return s;
}

/* ---- a seeded random history ---------------------------------------------- */

#define NW 36       /* workflow ids w0..w35 */
#define NA 4        /* actor ids a0..a3 */
#define MAX_HELD 3  /* blocked workflows at a time (they hold workers) */

typedef struct world {
	wf_engine *e;
	defs d;
	int nfut;
	wf_future *fut[16];
	char futid[16][16];
} world;

static unsigned rnd(uint64_t *rng, unsigned n)
{
	return (unsigned)(t_splitmix(rng) % n);
}

/* A call of s, with random options unless plain; max_retries if >= -1. */
static wf_node *mk(uint64_t *rng, wf_step *s, int plain, int max_retries,
                   int catch_ex, const char *args)
{
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	cJSON *md = NULL;
	if (!plain) {
		if (rnd(rng, 10) == 0)
			o.name = "n";
		if (rnd(rng, 3) == 0) {
			md = cJSON_CreateObject();
			cJSON_AddNumberToObject(md, "r", rnd(rng, 1000));
			o.metadata = md;
		}
		if (rnd(rng, 6) == 0)
			o.checkpoint = 0;
	}
	if (max_retries >= -1)
		o.max_retries = max_retries;
	if (catch_ex)
		o.catch_exceptions = 1;
	wf_node *n = e_node(s, &o, args);
	cJSON_Delete(md);
	return n;
}

static void check_run_rc(wf_engine *e, int rc, const char *what,
                         const char *id)
{
	if (rc != 0 && rc != WF_EFAILED)
		t_fail(__FILE__, __LINE__, "%s %s: %d (%s): %s", what, id, rc,
		       wf_strerror(rc), wf_errmsg(e));
}

/* Chain depth extra adds on top of n. */
static wf_node *chain_on(uint64_t *rng, world *w, wf_node *n, int depth)
{
	for (int i = 0; i < depth; i++) {
		char a[32];
		snprintf(a, sizeof a, "[%u]", rnd(rng, 100));
		wf_node *p = mk(rng, w->d.add, 0, WF_UNSET, 0, a);
		e_arg_node(p, n);
		n = p;
	}
	return n;
}

/* Run a new DAG of a random kind as id. A DAG that can fail is a chain
 * (no sibling races the failure: the history is deterministic). */
static void op_new(uint64_t *rng, world *w, const char *id)
{
	char a[64];
	wf_node *n = NULL;
	unsigned kind = rnd(rng, 9);
	cJSON *md = NULL;
	if (rnd(rng, 2)) {
		md = cJSON_CreateObject();
		cJSON_AddStringToObject(md, "id", id);
		cJSON_AddNumberToObject(md, "k", rnd(rng, 100));
	}
	if (kind == 5 && w->nfut >= MAX_HELD)
		kind = 0;
	switch (kind) {
	case 0: /* a chain of adds */
		snprintf(a, sizeof a, "[%u, %u]", rnd(rng, 50), rnd(rng, 50));
		n = chain_on(rng, w, mk(rng, w->d.add, 0, WF_UNSET, 0, a),
		             (int)rnd(rng, 4));
		break;
	case 1: { /* a fan-in of things that all end well */
		n = mk(rng, w->d.add, 0, WF_UNSET, 0, NULL);
		int width = 2 + (int)rnd(rng, 3);
		for (int i = 0; i < width; i++) {
			wf_node *c = NULL;
			switch (rnd(rng, 5)) {
			case 0:
				snprintf(a, sizeof a, "[%u, %u]", rnd(rng, 9), rnd(rng, 9));
				c = mk(rng, w->d.add, 0, WF_UNSET, 0, a);
				break;
			case 1: /* fails k times, then succeeds */
				snprintf(a, sizeof a, "[%u, %u]", rnd(rng, 9), rnd(rng, 3));
				c = mk(rng, w->d.flaky, 0, 3, 0, a);
				break;
			case 2: /* caught failure */
				c = mk(rng, w->d.fails, 0, (int)rnd(rng, 2), 1, NULL);
				break;
			case 3: { /* not checkpointed, under an add */
				wf_step_options o = WF_STEP_OPTIONS_INIT;
				o.checkpoint = 0;
				snprintf(a, sizeof a, "[%u]", rnd(rng, 9));
				wf_node *low = e_node(w->d.add, &o, a);
				c = mk(rng, w->d.add, 0, WF_UNSET, 0, "[1]");
				e_arg_node(c, low);
				break;
			}
			default: /* caught, failing for good */
				snprintf(a, sizeof a, "[%u, 9]", rnd(rng, 9));
				c = mk(rng, w->d.flaky, 0, 0, 1, a);
				break;
			}
			e_arg_node(n, c);
		}
		break;
	}
	case 2: /* fails for good */
		snprintf(a, sizeof a, "[%u, 9]", rnd(rng, 9));
		n = chain_on(rng, w, mk(rng, w->d.flaky, 0, (int)rnd(rng, 2), 0, a),
		             (int)rnd(rng, 3));
		break;
	case 3: /* fails now, can be resumed later */
		snprintf(a, sizeof a, "[%u]", rnd(rng, 9));
		n = mk(rng, w->d.cond, 0, 0, 0, a);
		if (rnd(rng, 2)) {
			wf_node *low = mk(rng, w->d.add, 0, WF_UNSET, 0, "[2, 3]");
			e_arg_node(n, low);
		}
		n = chain_on(rng, w, n, (int)rnd(rng, 3));
		break;
	case 4: { /* dynamic: grow(k) continues k times */
		snprintf(a, sizeof a, "[%u, %u]", 1 + rnd(rng, 4), rnd(rng, 9));
		n = mk(rng, w->d.grow, 1, 0, 0, a);
		int ok = (int)rnd(rng, 2);
		atomic_store(&cond_fail, !ok);
		int rc = wf_run(w->e, n, id, md, NULL);
		atomic_store(&cond_fail, 1);
		check_run_rc(w->e, rc, "grow", id);
		CHECK_MSG(rc == (ok ? 0 : WF_EFAILED), "grow %s: %d", id, rc);
		cJSON_Delete(md);
		return;
	}
	case 5: { /* blocked: cancelled later, or RUNNING at close */
		int before = atomic_load(&hold_entered);
		snprintf(a, sizeof a, "[%u]", rnd(rng, 9));
		n = mk(rng, w->d.add, 0, WF_UNSET, 0, "[100]");
		e_arg_node(n, mk(rng, w->d.hold, 1, 0, 0, a));
		CHECK(w->nfut < 16);
		CHECK_E(w->e, wf_run_async(w->e, n, id, md, &w->fut[w->nfut]));
		snprintf(w->futid[w->nfut++], sizeof w->futid[0], "%s", id);
		e_wait_flag(&hold_entered, before + 1, "hold to start");
		cJSON_Delete(md);
		return;
	}
	case 6: /* fails then succeeds on retry */
		snprintf(a, sizeof a, "[%u, %u]", rnd(rng, 9), 1 + rnd(rng, 2));
		n = chain_on(rng, w, mk(rng, w->d.flaky, 0, 3, 0, a),
		             (int)rnd(rng, 3));
		break;
	case 7: { /* caught failure at the root, over an uncheckpointed add */
		wf_step_options o = WF_STEP_OPTIONS_INIT;
		o.checkpoint = 0;
		n = mk(rng, w->d.fails, 0, (int)rnd(rng, 2), 1, NULL);
		e_arg_node(n, e_node(w->d.add, &o, "[4, 5]"));
		break;
	}
	default: /* a single add */
		snprintf(a, sizeof a, "[%u]", rnd(rng, 1000));
		n = mk(rng, w->d.add, 0, WF_UNSET, 0, a);
		break;
	}
	cJSON *out = NULL;
	int rc = wf_run(w->e, n, id, md, &out);
	check_run_rc(w->e, rc, "run", id);
	if (kind == 0 || kind == 1 || kind == 6 || kind == 7 || kind == 8)
		CHECK_ERC(w->e, rc, 0);
	if (kind == 2 || kind == 3)
		CHECK_ERC(w->e, rc, WF_EFAILED);
	cJSON_Delete(out);
	cJSON_Delete(md);
}

/* Resume id with everything allowed to succeed (hold off, cond on) or not. */
static int resume(world *w, const char *id, int heal)
{
	cJSON *out = NULL;
	if (heal) {
		atomic_store(&hold_on, 0);
		atomic_store(&cond_fail, 0);
	}
	int rc = wf_resume(w->e, id, &out);
	atomic_store(&hold_on, 1);
	atomic_store(&cond_fail, 1);
	cJSON_Delete(out);
	return rc;
}

static int fut_find(world *w, const char *id)
{
	for (int i = 0; i < w->nfut; i++)
		if (!strcmp(w->futid[i], id))
			return i;
	return -1;
}

static void op_workflow(uint64_t *rng, world *w, const char *id)
{
	wf_status st = e_status(w->e, id);
	unsigned r = rnd(rng, 100);
	int rc;
	cJSON *out = NULL;
	switch (st) {
	case WF_STATUS_NONE:
		op_new(rng, w, id);
		break;
	case WF_STATUS_SUCCESSFUL:
		if (r < 30) {
			CHECK_E(w->e, wf_delete(w->e, id));
		} else if (r < 50) {
			/* Finished: the stored output, nothing runs. */
			int before = atomic_load(&g_calls);
			CHECK_E(w->e, wf_run(w->e, mk(rng, w->d.add, 1, WF_UNSET, 0,
			                              "[1]"),
			                     id, NULL, &out));
			CHECK_EQ_I64(atomic_load(&g_calls), before);
		} else {
			CHECK_E(w->e, wf_get_output(w->e, id, &out));
		}
		break;
	case WF_STATUS_FAILED:
		if (r < 55) {
			rc = resume(w, id, 1);
			check_run_rc(w->e, rc, "resume", id);
		} else if (r < 80) {
			CHECK_E(w->e, wf_delete(w->e, id));
		} else {
			rc = resume(w, id, 0);
			check_run_rc(w->e, rc, "resume", id);
		}
		break;
	case WF_STATUS_RESUMABLE:
		if (r < 50) {
			rc = resume(w, id, 1);
			check_run_rc(w->e, rc, "resume", id);
		} else if (r < 75) {
			rc = wf_cancel(w->e, id);
			CHECK_MSG(rc == 0 || rc == WF_EINVAL, "cancel %s: %d", id, rc);
		} else {
			rc = wf_delete(w->e, id);
			CHECK_MSG(rc == 0 || rc == WF_EBUSY, "delete %s: %d", id, rc);
		}
		break;
	case WF_STATUS_RUNNING: { /* blocked in this engine: cancel it */
		int i = fut_find(w, id);
		CHECK_MSG(i >= 0, "%s RUNNING, not started here", id);
		CHECK_E(w->e, wf_cancel(w->e, id));
		CHECK_RC(wf_future_wait(w->fut[i], NULL), WF_ECANCELED);
		wf_future_free(w->fut[i]);
		w->fut[i] = w->fut[w->nfut - 1];
		memcpy(w->futid[i], w->futid[w->nfut - 1], sizeof w->futid[0]);
		w->nfut--;
		break;
	}
	case WF_STATUS_CANCELED:
		if (r < 50)
			CHECK_E(w->e, wf_delete(w->e, id));
		else
			CHECK_ERC(w->e, wf_resume(w->e, id, NULL), WF_ECANCELED);
		break;
	}
	cJSON_Delete(out);
}

static wf_node *call_node(uint64_t *rng, wf_step *m, const char *args)
{
	wf_step_options o = WF_STEP_OPTIONS_INIT;
	cJSON *md = NULL;
	if (rnd(rng, 3) == 0) {
		md = cJSON_CreateObject();
		cJSON_AddNumberToObject(md, "c", rnd(rng, 100));
		o.metadata = md;
	}
	wf_node *n = e_node(m, &o, args);
	cJSON_Delete(md);
	return n;
}

static void op_actor(uint64_t *rng, world *w, const char *id)
{
	char a[64];
	wf_status st = e_status(w->e, id);
	if (st == WF_STATUS_RESUMABLE) {
		/* An interrupted call: finish it first. */
		CHECK_E(w->e, resume(w, id, 1));
		return;
	}
	if (st == WF_STATUS_RUNNING) /* slow call blocked in this engine */
		return;
	wf_actor *ac = NULL;
	snprintf(a, sizeof a, "[%u]", rnd(rng, 100));
	cJSON *args = cJSON_Parse(a);
	CHECK_E(w->e, wf_actor_get_or_create(w->d.acc, id, args, &ac));
	cJSON_Delete(args);
	cJSON *out = NULL;
	unsigned r = rnd(rng, 100);
	if (r < 35) {
		snprintf(a, sizeof a, "[%u]", rnd(rng, 20));
		CHECK_E(w->e, wf_actor_call(ac, call_node(rng, w->d.push, a), &out));
	} else if (r < 45) {
		cJSON *before = NULL, *after = NULL;
		CHECK_E(w->e, wf_actor_state(ac, &before));
		CHECK_ERC(w->e,
		          wf_actor_call(ac, call_node(rng, w->d.push, "[\"x\"]"), &out),
		          WF_EFAILED);
		CHECK_E(w->e, wf_actor_state(ac, &after));
		CHECK_JSON_SAME(after, before);
		cJSON_Delete(before);
		cJSON_Delete(after);
	} else if (r < 65) {
		snprintf(a, sizeof a, "[%u]", rnd(rng, 4));
		CHECK_E(w->e, wf_actor_call(ac, call_node(rng, w->d.chain, a), &out));
	} else if (r < 80) {
		wf_future *f[3];
		for (int i = 0; i < 3; i++) {
			snprintf(a, sizeof a, "[%u]", rnd(rng, 20));
			CHECK_E(w->e, wf_actor_call_async(ac, call_node(rng, w->d.push, a),
			                                  &f[i]));
		}
		for (int i = 0; i < 3; i++) {
			CHECK_RC(wf_future_wait(f[i], NULL), 0);
			wf_future_free(f[i]);
		}
	} else if (r < 92) {
		CHECK_E(w->e, wf_actor_call(ac, call_node(rng, w->d.peek, NULL), &out));
	} else {
		wf_actor_free(ac);
		CHECK_E(w->e, wf_delete(w->e, id));
		return;
	}
	cJSON_Delete(out);
	wf_actor_free(ac);
}

/* nops random operations, then maybe a blocked workflow and a blocked
 * actor call left for the close. */
static void run_ops(uint64_t *rng, world *w, int nops)
{
	char id[16];
	for (int i = 0; i < nops; i++) {
		if (rnd(rng, 4) == 0) {
			snprintf(id, sizeof id, "a%u", rnd(rng, NA));
			op_actor(rng, w, id);
		} else {
			snprintf(id, sizeof id, "w%u", rnd(rng, NW));
			op_workflow(rng, w, id);
		}
	}
	/* Left RUNNING at the close: RESUMABLE for the next engine. */
	if (w->nfut < MAX_HELD && rnd(rng, 2)) {
		snprintf(id, sizeof id, "w%u", rnd(rng, NW));
		if (e_status(w->e, id) == WF_STATUS_NONE) {
			int before = atomic_load(&hold_entered);
			wf_node *n = mk(rng, w->d.add, 0, WF_UNSET, 0, "[7]");
			e_arg_node(n, mk(rng, w->d.hold, 1, 0, 0, "[8]"));
			CHECK_E(w->e, wf_run_async(w->e, n, id, NULL, &w->fut[w->nfut]));
			snprintf(w->futid[w->nfut++], sizeof w->futid[0], "%s", id);
			e_wait_flag(&hold_entered, before + 1, "hold to start");
		}
	}
	if (w->nfut < 16 && rnd(rng, 3) == 0) {
		snprintf(id, sizeof id, "a%u", rnd(rng, NA));
		if (e_status(w->e, id) == WF_STATUS_SUCCESSFUL) {
			wf_actor *ac = NULL;
			CHECK_E(w->e, wf_actor_get(w->d.acc, id, &ac));
			int before = atomic_load(&hold_entered);
			CHECK_E(w->e, wf_actor_call_async(ac,
			                                  call_node(rng, w->d.slow, "[1000]"),
			                                  &w->fut[w->nfut]));
			snprintf(w->futid[w->nfut++], sizeof w->futid[0], "%s", id);
			e_wait_flag(&hold_entered, before + 1, "slow to start");
			wf_actor_free(ac);
		}
	}
}

/* Close the world's engine; the futures of what it left blocked answer. */
static void world_close(world *w)
{
	e_close(w->e);
	w->e = NULL;
	for (int i = 0; i < w->nfut; i++) {
		int rc = wf_future_wait(w->fut[i], NULL);
		CHECK_MSG(rc == WF_ECLOSED || rc == WF_EFAILED, "future of %s: %d",
		          w->futid[i], rc);
		wf_future_free(w->fut[i]);
	}
	w->nfut = 0;
}

/* Copies of edir opened with and without snapshots answer the same;
 * the snapshot open skipped nothing. Also with the newest snapshot
 * removed, when there is an older one (a longer replay after it). */
static void check_equivalent(const char *edir, const char *tag)
{
	char cp[700];
	cJSON *full = full_replay_dump(edir, tag);
	for (int older = 0; older < 2; older++) {
		snaps sn;
		list_snaps(edir, &sn);
		if (older && sn.n < 2)
			break;
		snprintf(cp, sizeof cp, "%s.snap%s%s", edir, tag, older ? "o" : "");
		copy_tree(edir, cp);
		if (older) {
			list_snaps(cp, &sn);
			CHECK(unlink(sn.path[sn.n - 1]) == 0);
		}
		wf_engine *e = open_cfg(cp, 0);
		defs d;
		define_all(e, &d);
		cJSON *s = dump(e, &d);
		e_close(e);
		CHECK_SAME(s, full, older ? "open from the older snapshot vs full "
		                            "replay"
		                          : "snapshot open vs full replay");
		jscan js;
		scan_journal(cp, &js);
		CHECK_MSG(!js.notice_next, "nothing to skip, but: %s: %s", js.what,
		          js.detail);
		t_rmtree(cp);
		cJSON_Delete(s);
	}
	cJSON_Delete(full);
}

/* ---- 1. equivalence on random histories ------------------------------------ */

static void test_equivalence(void)
{
	int seeds = 5, cycles = 5;
	int nops = (int)(70 * t_scale());
	for (int seed = 1; seed <= seeds; seed++) {
		char da[512], db[512], tag[32], name[64];
		snprintf(name, sizeof name, "eq%d_a", seed);
		t_subdir(da, sizeof da, name);
		snprintf(name, sizeof name, "eq%d_b", seed);
		t_subdir(db, sizeof db, name);
		uint64_t rng = 0x5eed0000u + (uint64_t)seed;
		uint64_t prev_snap = 0;
		/* Odd seeds: periodic snapshots too, written by the engine's
		 * thread while workflows run. */
		uint64_t every = seed % 2 ? 40 + (uint64_t)seed : 0;
		for (int c = 0; c < cycles; c++) {
			t_context("equivalence: seed %d, cycle %d", seed, c);
			world wa = {0}, wb = {0};
			wa.e = open_every(da, every);
			wb.e = open_cfg(db, 1);
			define_all(wa.e, &wa.d);
			define_all(wb.e, &wb.d);
			/* As opened (A from a snapshot, B by a full replay), the two
			 * engines agree, times aside. */
			cJSON *sa = dump(wa.e, &wa.d), *sb = dump(wb.e, &wb.d);
			strip_times(sa);
			strip_times(sb);
			CHECK_SAME(sa, sb, "A (snapshots) vs B (no_snapshots) at open");
			cJSON_Delete(sa);
			cJSON_Delete(sb);
			if (c > 0) {
				jscan js;
				scan_journal(da, &js);
				CHECK_MSG(!js.notice_next, "A's open skipped: %s", js.detail);
			}
			jscan js0;
			scan_journal(da, &js0);
			uint64_t start_seq = js0.last_seq;
			/* The same operations on both. */
			uint64_t r2 = rng;
			int c0 = atomic_load(&g_calls);
			run_ops(&rng, &wa, nops);
			int ca = atomic_load(&g_calls) - c0;
			char crash[600] = "";
			if (every) {
				/* What a process crash would leave now (durability none
				 * loses nothing): the journal and the periodic snapshots,
				 * written mid-session, of this engine. */
				snaps sn;
				double t0 = e_mono();
				for (;;) { /* the thread writes it soon */
					list_snaps(da, &sn);
					if (sn.n >= 1 && sn.seq[sn.n - 1] > start_seq)
						break;
					CHECK_MSG(e_mono() - t0 < E_WAIT_S,
					          "no periodic snapshot after %" PRIu64, start_seq);
					e_sleep_ms(2);
				}
				snprintf(crash, sizeof crash, "%s.crash%d", da, c);
				copy_tree(da, crash);
			}
			world_close(&wa);
			c0 = atomic_load(&g_calls);
			run_ops(&r2, &wb, nops);
			int cb = atomic_load(&g_calls) - c0;
			world_close(&wb);
			CHECK_EQ_U64(r2, rng);
			CHECK_MSG(ca == cb, "A ran %d step calls, B %d", ca, cb);

			/* A's close wrote a snapshot of its last event; B wrote none. */
			jscan js;
			scan_journal(da, &js);
			snaps sn;
			list_snaps(da, &sn);
			if (every)
				CHECK_MSG(sn.n == 2, "%d snapshots with periodic ones", sn.n);
			CHECK_MSG(sn.n >= 1 && sn.seq[sn.n - 1] == js.last_seq,
			          "%d snapshots, newest %" PRIu64 ", journal ends at %" PRIu64,
			          sn.n, sn.n ? sn.seq[sn.n - 1] : 0, js.last_seq);
			CHECK(sn.n <= 2 && sn.others == 0);
			if (prev_snap && !every)
				CHECK_MSG(sn.n == 2 && sn.seq[0] == prev_snap,
				          "the previous snapshot %" PRIu64 " is gone", prev_snap);
			prev_snap = js.last_seq;
			list_snaps(db, &sn);
			CHECK(sn.n == 0 && sn.others == 0);

			snprintf(tag, sizeof tag, "%d", c);
			check_equivalent(da, tag);
			if (crash[0]) {
				check_equivalent(crash, tag);
				t_rmtree(crash);
			}
		}
		/* The last cycle's end: A and B agree as well. */
		t_context("equivalence: seed %d, the end", seed);
		world wa = {0}, wb = {0};
		wa.e = open_cfg(da, 0);
		wb.e = open_cfg(db, 1);
		define_all(wa.e, &wa.d);
		define_all(wb.e, &wb.d);
		cJSON *s = dump(wa.e, &wa.d), *sb = dump(wb.e, &wb.d);
		cJSON *sa = cJSON_Duplicate(s, 1);
		strip_times(sa);
		strip_times(sb);
		CHECK_SAME(sa, sb, "A (snapshots) vs B (no_snapshots) at the end");
		cJSON_Delete(sa);
		cJSON_Delete(sb);
		world_close(&wb);
		/* A history of some substance was made. */
		cJSON *l = cJSON_GetObjectItemCaseSensitive(s, "list"), *it;
		CHECK_MSG(cJSON_GetArraySize(l) >= 15, "only %d workflows",
		          cJSON_GetArraySize(l));
		int by[6] = {0}, steps = 0, actors = 0, resumed = 0;
		cJSON_ArrayForEach(it, l)
		{
			const char *st = e_str(it, "status");
			for (int k = 1; k < 6; k++)
				if (!strcmp(st, wf_status_name((wf_status)k)))
					by[k]++;
			steps += (int)e_num(it, "steps");
			resumed += e_num(it, "attempts") > 1;
			actors += cJSON_IsObject(e_get(
			    cJSON_GetObjectItemCaseSensitive(s, e_str(it, "workflow_id")),
			    "actor"));
		}
		jscan js;
		scan_journal(da, &js);
		if (getenv("WFLOW_TEST_VERBOSE"))
			fprintf(stderr,
			        "seed %d: %" PRIu64 " events, %d workflows (%d actors), "
			        "%d steps, %d with more than one attempt; running %d, "
			        "failed %d, resumable %d, canceled %d, successful %d\n",
			        seed, js.last_seq, cJSON_GetArraySize(l), actors, steps,
			        resumed, by[1], by[2], by[3], by[4], by[5]);
		/* Every kind of ending is in the history. */
		CHECK(by[2] > 0 && by[5] > 0 && actors > 0 && resumed > 0);
		cJSON_Delete(s);
		world_close(&wa);
		t_rmtree(da);
		t_rmtree(db);
	}
}

/* ---- 2. written at close, used at open ------------------------------------- */

static void test_written_used(void)
{
	char dir[512];
	defs d;
	cJSON *out = NULL;

	t_context("written: no_snapshots writes nothing");
	t_subdir(dir, sizeof dir, "written");
	wf_engine *e = open_cfg(dir, 1);
	define_all(e, &d);
	CHECK_E(e, wf_run(e, e_node(d.add, NULL, "[1, 2]"), "x", NULL, NULL));
	e_close(e);
	e = open_cfg(dir, 1);
	define_all(e, &d);
	CHECK_E(e, wf_run(e, e_node(d.add, NULL, "[3]"), "y", NULL, NULL));
	e_close(e);
	char sdir[600];
	t_path(sdir, sizeof sdir, dir, "snapshots");
	CHECK_MSG(!t_exists(sdir), "%s exists after no_snapshots engines", sdir);

	/* Snapshots on: nothing to load (nothing skipped); the close writes
	 * one named after the journal's last event, in the documented format. */
	t_context("written: the first snapshot");
	e = open_cfg(dir, 0);
	define_all(e, &d);
	cJSON *before = dump(e, &d);
	e_close(e);
	jscan js;
	scan_journal(dir, &js);
	CHECK(!js.notice_next && js.notices == 0);
	snaps sn;
	list_snaps(dir, &sn);
	CHECK_MSG(sn.n == 1 && sn.others == 0, "%d snapshots, %d others", sn.n,
	          sn.others);
	CHECK_EQ_U64(sn.seq[0], js.last_seq);
	size_t rawlen;
	free(check_snap_file(sn.path[0], js.jid, js.last_seq, &rawlen));
	e = open_cfg(dir, 0);
	define_all(e, &d);
	cJSON *after = dump(e, &d);
	CHECK_SAME(after, before, "reopened from the snapshot");
	cJSON_Delete(before);
	cJSON_Delete(after);
	e_close(e);
	scan_journal(dir, &js);
	CHECK(!js.notice_next);

	/* More closes: the two newest remain, no temporary files. */
	uint64_t prev = js.last_seq;
	for (int i = 0; i < 4; i++) {
		t_context("written: close %d", i);
		e = open_cfg(dir, 0);
		define_all(e, &d);
		char id[32];
		snprintf(id, sizeof id, "more%d", i);
		CHECK_E(e, wf_run(e, e_node(d.add, NULL, "[1]"), id, NULL, NULL));
		e_close(e);
		scan_journal(dir, &js);
		list_snaps(dir, &sn);
		CHECK_MSG(sn.n == 2 && sn.others == 0, "%d snapshots, %d others",
		          sn.n, sn.others);
		CHECK_EQ_U64(sn.seq[0], prev);
		CHECK_EQ_U64(sn.seq[1], js.last_seq);
		free(check_snap_file(sn.path[1], js.jid, js.last_seq, &rawlen));
		prev = js.last_seq;
	}
	check_equivalent(dir, "w");
	t_rmtree(dir);

	/*
	 * Used: a snapshot forged from this journal's events minus the
	 * deletion of "gone", as of the end of the first engine's events. A
	 * normal open believes it (gone is back) and replays the journal after
	 * it on top (tail is there); no_snapshots ignores it.
	 */
	t_context("used: a forged snapshot is believed");
	t_subdir(dir, sizeof dir, "forge");
	e = open_cfg(dir, 0);
	define_all(e, &d);
	CHECK_E(e, wf_run(e, e_node(d.add, NULL, "[1, 1]"), "gone", NULL, NULL));
	CHECK_E(e, wf_delete(e, "gone"));
	CHECK_E(e, wf_run(e, e_node(d.add, NULL, "[2, 2]"), "mid", NULL, NULL));
	e_close(e);
	scan_journal(dir, &js);
	uint64_t S = js.last_seq;
	e = open_cfg(dir, 0);
	define_all(e, &d);
	CHECK_E(e, wf_run(e, e_node(d.add, NULL, "[3, 3]"), "tail", NULL, NULL));
	e_close(e);

	wf_fold *f = NULL;
	CHECK_OK(wf_fold_new(&f));
	char jdir[600], err[512];
	t_path(jdir, sizeof jdir, dir, "journal");
	wf_reader *r = t_open_reader(jdir, NULL);
	const wf_event *ev;
	int rc, skipped = 0;
	while ((rc = wf_reader_next(r, &ev)) == 1 && ev->seq <= S) {
		char id[64];
		text_field(id, sizeof id, ev, 0);
		if (ev->type == WF_EV_WORKFLOW_DELETED && !strcmp(id, "gone")) {
			skipped++;
			continue;
		}
		CHECK_OK_MSG(wf_fold_apply(f, ev, err, sizeof err), err);
	}
	CHECK(rc >= 0);
	wf_reader_close(r);
	CHECK_EQ_I64(skipped, 1);
	CHECK_EQ_U64(wf_fold_last_seq(f), S);
	list_snaps(dir, &sn);
	for (int i = 0; i < sn.n; i++)
		CHECK(unlink(sn.path[i]) == 0);
	t_path(sdir, sizeof sdir, dir, "snapshots");
	CHECK_OK_MSG(wf_snapshot_write(NULL, sdir, js.jid, f, NULL, err,
	                               sizeof err),
	             err);
	wf_fold_free(f);
	char cp[600];
	snprintf(cp, sizeof cp, "%s.nosnap", dir);
	copy_tree(dir, cp);
	e = open_cfg(dir, 0);
	CHECK_STATUS(e, "gone", WF_STATUS_SUCCESSFUL);
	CHECK_STATUS(e, "mid", WF_STATUS_SUCCESSFUL);
	CHECK_STATUS(e, "tail", WF_STATUS_SUCCESSFUL);
	CHECK_E(e, wf_get_output(e, "tail", &out));
	CHECK_OUT_NUM(out, 6);
	cJSON_Delete(out);
	e_close(e);
	e = open_cfg(cp, 1);
	CHECK(e_status(e, "gone") == WF_STATUS_NONE);
	CHECK_STATUS(e, "mid", WF_STATUS_SUCCESSFUL);
	CHECK_STATUS(e, "tail", WF_STATUS_SUCCESSFUL);
	e_close(e);
	list_snaps(cp, &sn);
	CHECK_EQ_I64(sn.n, 1); /* only the forged one: no_snapshots wrote none */
	t_rmtree(cp);
	t_rmtree(dir);

	/*
	 * After a snapshot open, the engine resumes from the snapshot's
	 * checkpoints and name counters: only the failed step runs again, no
	 * step id is used twice; a deleted id starts afresh.
	 */
	t_context("used: resume and ids after a snapshot open");
	t_subdir(dir, sizeof dir, "resume");
	e = open_cfg(dir, 0);
	define_all(e, &d);
	atomic_store(&cond_fail, 1);
	CHECK_ERC(e, wf_run(e, e_node(d.grow, NULL, "[3, 0]"), "g", NULL, NULL),
	          WF_EFAILED);
	wf_node *n = e_node(d.cond, NULL, NULL);
	e_arg_node(n, e_node(d.add, NULL, "[20, 1]"));
	CHECK_ERC(e, wf_run(e, n, "c", NULL, NULL), WF_EFAILED);
	CHECK_E(e, wf_run(e, e_node(d.add, NULL, "[5]"), "del", NULL, NULL));
	CHECK_E(e, wf_run(e, e_node(d.add, NULL, "[6]"), "del2", NULL, NULL));
	CHECK_E(e, wf_delete(e, "del"));
	e_close(e);
	e = open_cfg(dir, 0);
	scan_journal(dir, &js);
	CHECK(!js.notice_next);
	list_snaps(dir, &sn);
	CHECK(sn.n == 1);
	define_all(e, &d);
	int c0 = atomic_load(&g_calls);
	atomic_store(&cond_fail, 0);
	CHECK_E(e, wf_resume(e, "g", &out));
	CHECK_OUT_NUM(out, 3);
	cJSON_Delete(out);
	CHECK_E(e, wf_resume(e, "c", &out));
	CHECK_OUT_NUM(out, 21);
	cJSON_Delete(out);
	atomic_store(&cond_fail, 1);
	CHECK_EQ_I64(atomic_load(&g_calls) - c0, 2); /* grow_3 and cond */
	cJSON *none = NULL;
	CHECK_ERC(e, wf_get_metadata(e, "g", "grow_4", &none), WF_ENOTFOUND);
	cJSON *m = e_meta(e, "g", "grow_3");
	CHECK_EQ_I64(e_array_len(m, "attempts"), 2);
	cJSON_Delete(m);
	m = e_meta(e, "c", "add");
	CHECK_EQ_I64(e_array_len(m, "attempts"), 1);
	cJSON_Delete(m);
	CHECK(e_status(e, "del") == WF_STATUS_NONE);
	CHECK_E(e, wf_run(e, e_node(d.add, NULL, "[7, 7]"), "del", NULL, &out));
	CHECK_OUT_NUM(out, 14);
	cJSON_Delete(out);
	m = e_meta(e, "del", NULL);
	CHECK_EQ_I64(e_array_len(m, "attempts"), 1);
	cJSON_Delete(m);
	CHECK_ERC(e, wf_get_metadata(e, "del", "add_1", &none), WF_ENOTFOUND);
	e_close(e);
	check_equivalent(dir, "r");
	t_rmtree(dir);
}

/* ---- 3. damaged snapshots ------------------------------------------------ */

/* A base directory with two snapshots (s1 older, s2 newest), a copy of it
 * as of s1 ("base1"), and another engine's directory ("other"). */
static char base[512], base1[512], other[512];
static uint64_t s1, s2, base_next;

static void make_history(const char *dir, uint64_t seed, int cycles,
                         const char *copy_after_first)
{
	uint64_t rng = seed;
	for (int c = 0; c < cycles; c++) {
		world w = {0};
		w.e = open_cfg(dir, 0);
		define_all(w.e, &w.d);
		run_ops(&rng, &w, 30);
		world_close(&w);
		if (c == 0 && copy_after_first)
			copy_tree(dir, copy_after_first);
	}
}

/* The older snapshot: kept intact, removed, or damaged too. */
typedef enum { V_OLDER, V_ALONE, V_BOTH } variant;

/*
 * Copy base (or base1) to a case directory, let damage() spoil it, open it
 * normally and compare with a full replay of the same files; the journal
 * must say "snapshot skipped" right after session_started, naming every
 * file in must_name and not s1 when the older one is kept. Then a second
 * open (from the snapshot the first close wrote) skips nothing and still
 * equals the full replay.
 */
typedef void (*damage_fn)(const char *cdir, void *arg, char *named,
                          size_t namedlen);

static void damage_case_r(const char *what, const char *from,
                          damage_fn damage, void *arg, variant v, int removed)
{
	static int k;
	char cdir[512], name[64], named[1024] = "";
	t_context("damage: %s (%s)", what,
	          v == V_OLDER ? "older intact" : v == V_ALONE ? "alone" : "both");
	snprintf(name, sizeof name, "case%d", k++);
	t_subdir(cdir, sizeof cdir, name);
	copy_tree(from, cdir);
	snaps sn;
	list_snaps(cdir, &sn);
	CHECK(sn.n >= 1);
	char older[700] = "";
	if (sn.n == 2) {
		snprintf(older, sizeof older, "%s", sn.name[0]);
		if (v == V_ALONE) {
			CHECK(unlink(sn.path[0]) == 0);
			older[0] = '\0';
		}
	}
	damage(cdir, arg, named, sizeof named);
	cJSON *full = full_replay_dump(cdir, "");
	wf_engine *e = open_cfg(cdir, 0);
	defs d;
	define_all(e, &d);
	cJSON *s = dump(e, &d);
	e_close(e);
	CHECK_SAME(s, full, "after a damaged snapshot vs full replay");
	cJSON_Delete(s);
	cJSON_Delete(full);
	jscan js;
	scan_journal(cdir, &js);
	CHECK_MSG(js.notice_next, "no notice after session_started (%" PRIu64
	          " notices)", js.notices);
	CHECK_EQ_U64(js.notices, 1);
	CHECK_MSG(!strcmp(js.what, "snapshot skipped"), "notice: %s", js.what);
	char *save = NULL;
	uint64_t newest_named = 0;
	for (char *nm = strtok_r(named, " ", &save); nm;
	     nm = strtok_r(NULL, " ", &save)) {
		CHECK_MSG(t_contains(js.detail, nm), "the notice does not name %s: %s",
		          nm, js.detail);
		uint64_t q = strtoull(nm, NULL, 10);
		newest_named = q > newest_named ? q : newest_named;
	}
	/* A snapshot beyond the journal's end is removed (once the journal
	 * grew past its position it would look usable). */
	char dpath[800];
	snap_path(dpath, sizeof dpath, cdir, newest_named);
	int still_there = t_exists(dpath);
	if (removed)
		CHECK_MSG(!still_there, "%s is still there", dpath);
	/* What the close wrote. */
	uint64_t s3 = js.last_seq;
	list_snaps(cdir, &sn);
	CHECK(sn.n >= 1 && sn.others == 0);
	CHECK_MSG(sn.seq[sn.n - 1] == s3 || sn.seq[sn.n - 1] == newest_named,
	          "newest snapshot %" PRIu64 ", journal ends at %" PRIu64,
	          sn.seq[sn.n - 1], s3);
	if (older[0] && v == V_OLDER)
		CHECK_MSG(!t_contains(js.detail, older),
		          "the older intact %s was skipped too: %s", older, js.detail);
	if (getenv("WFLOW_TEST_VERBOSE"))
		fprintf(stderr, "%s: %s\n", what, js.detail);

	/* The next open starts from the snapshot the close wrote. */
	full = full_replay_dump(cdir, "2");
	e = open_cfg(cdir, 0);
	define_all(e, &d);
	s = dump(e, &d);
	e_close(e);
	CHECK_SAME(s, full, "second open vs full replay");
	cJSON_Delete(s);
	cJSON_Delete(full);
	scan_journal(cdir, &js);
	if (still_there && newest_named > s3) {
		/* Still named as the newest (the close's snapshot is older):
		 * skipped again, and again not trusted. */
		CHECK_MSG(js.notice_next, "second open: nothing skipped");
		CHECK_EQ_U64(js.notices, 2);
	} else {
		CHECK_MSG(!js.notice_next, "second open skipped: %s", js.detail);
		CHECK_EQ_U64(js.notices, 1);
	}
	t_rmtree(cdir);
}

static void damage_case(const char *what, const char *from, damage_fn damage,
                        void *arg, variant v)
{
	damage_case_r(what, from, damage, arg, v, 0);
}

/* The newest snapshot's path and name. */
static void newest(const char *cdir, char *path, size_t n, char *named,
                   size_t namedlen)
{
	snaps sn;
	list_snaps(cdir, &sn);
	CHECK(sn.n >= 1);
	snprintf(path, n, "%s", sn.path[sn.n - 1]);
	snprintf(named, namedlen, "%s", sn.name[sn.n - 1]);
}

static void dmg_flip(const char *cdir, void *arg, char *named, size_t nl)
{
	char p[700];
	newest(cdir, p, sizeof p, named, nl);
	int64_t off = *(int64_t *)arg;
	if (off < 0)
		off += (int64_t)t_file_size(p);
	t_flip(p, (uint64_t)off, 0x10);
}

static void dmg_truncate(const char *cdir, void *arg, char *named, size_t nl)
{
	char p[700];
	newest(cdir, p, sizeof p, named, nl);
	int64_t len = *(int64_t *)arg;
	if (len < 0)
		len += (int64_t)t_file_size(p);
	t_truncate(p, (uint64_t)len);
}

/* arg: 0 random bytes, 1 random bytes after the magic, 2 empty file,
 * 3 a directory; named like a snapshot newer than all. */
static void dmg_junk(const char *cdir, void *arg, char *named, size_t nl)
{
	char p[700];
	int kind = *(int *)arg;
	snap_path(p, sizeof p, cdir, base_next - 1 + 1000);
	snprintf(named, nl, "%020" PRIu64 ".wfs", base_next - 1 + 1000);
	if (kind == 3) {
		CHECK(mkdir(p, 0755) == 0);
		return;
	}
	uint8_t b[300];
	uint64_t rng = 77;
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (uint8_t)t_splitmix(&rng);
	if (kind == 1)
		memcpy(b, "WFLOWSNP", 8);
	t_write_file(p, b, kind == 2 ? 0 : sizeof b);
}

/* Another engine directory's newest snapshot, in place of the newest. */
static void dmg_foreign(const char *cdir, void *arg, char *named, size_t nl)
{
	(void)arg;
	char p[700];
	newest(cdir, p, sizeof p, named, nl);
	snaps so;
	list_snaps(other, &so);
	CHECK(so.n >= 1 && so.seq[so.n - 1] < base_next);
	size_t len;
	uint8_t *b = t_read_file(so.path[so.n - 1], &len);
	t_write_file(p, b, len);
	free(b);
}

/* Another journal's snapshot whose payload checksum is seeded with this
 * journal's id: only its journal id tells. */
static void dmg_foreign_reseeded(const char *cdir, void *arg, char *named,
                                 size_t nl)
{
	dmg_foreign(cdir, arg, named, nl);
	char p[700];
	newest(cdir, p, sizeof p, named, nl);
	jscan js;
	scan_journal(cdir, &js);
	size_t len;
	uint8_t *b = t_read_file(p, &len);
	CHECK(len > 64 && wf_get_u64(b + 16) != js.jid);
	put_u64(b + 48, XXH3_64bits_withSeed(b + 64, len - 64, js.jid));
	put_u64(b + 56, XXH3_64bits(b, 56));
	t_write_file(p, b, len);
	free(b);
}

/* One digit of a workflow's user metadata changed in the payload, which
 * is recompressed (a valid zstd frame, lengths and header checksum fixed):
 * only the payload checksum tells. Trusted, it would change the state. */
static void dmg_silent(const char *cdir, void *arg, char *named, size_t nl)
{
	(void)arg;
	char p[700];
	newest(cdir, p, sizeof p, named, nl);
	jscan js;
	scan_journal(cdir, &js);
	size_t rawlen, len;
	uint64_t seq = strtoull(named, NULL, 10);
	uint8_t *raw = check_snap_file(p, js.jid, seq, &rawlen);
	uint8_t *old = t_read_file(p, &len);
	uint64_t oldsum = wf_get_u64(old + 48);
	free(old);
	size_t i;
	for (i = 0; i + 5 < rawlen; i++)
		if (!memcmp(raw + i, "\"k\":", 4) && raw[i + 4] >= '0' &&
		    raw[i + 4] <= '9')
			break;
	CHECK_MSG(i + 5 < rawlen, "no \"k\": in the payload");
	raw[i + 4] = raw[i + 4] == '9' ? '0' : (uint8_t)(raw[i + 4] + 1);
	write_snap(p, js.jid, seq, raw, rawlen);
	free(raw);
	uint8_t *b = t_read_file(p, &len);
	put_u64(b + 48, oldsum);
	put_u64(b + 56, XXH3_64bits(b, 56));
	t_write_file(p, b, len);
	free(b);
}

/* base's newest snapshot (s2), into base1's directory (its journal ends
 * at s1). */
static void dmg_beyond(const char *cdir, void *arg, char *named, size_t nl)
{
	(void)arg;
	char p[700], q[700];
	snap_path(p, sizeof p, base, s2);
	snap_path(q, sizeof q, cdir, s2);
	size_t len;
	uint8_t *b = t_read_file(p, &len);
	t_write_file(q, b, len);
	free(b);
	snprintf(named, nl, "%020" PRIu64 ".wfs", s2);
}

/* Patch the u64 at header offset off[0] to off[1] (checksum recomputed). */
static void dmg_patch(const char *cdir, void *arg, char *named, size_t nl)
{
	char p[700];
	newest(cdir, p, sizeof p, named, nl);
	uint64_t *pv = arg;
	patch_header(p, (size_t)pv[0], pv[1]);
}

/* Replace the payload: arg 0: the real one truncated to a third, 1: to
 * all but its last byte, 2: random bytes, 3: random bytes after the real
 * one's first 5 (the fold's magic and version); well-formed zstd and
 * checksums. */
static void dmg_payload(const char *cdir, void *arg, char *named, size_t nl)
{
	char p[700];
	newest(cdir, p, sizeof p, named, nl);
	int kind = *(int *)arg;
	size_t rawlen;
	uint64_t seq = strtoull(named, NULL, 10);
	jscan js;
	scan_journal(cdir, &js);
	uint8_t *raw = check_snap_file(p, js.jid, seq, &rawlen);
	if (kind == 0)
		rawlen /= 3;
	else if (kind == 1)
		rawlen -= 1;
	else {
		uint64_t rng = 99;
		for (size_t i = kind == 3 ? 5 : 0; i < rawlen; i++)
			raw[i] = (uint8_t)t_splitmix(&rng);
	}
	write_snap(p, js.jid, seq, raw, rawlen);
	free(raw);
}

/* Both snapshots flipped in their payloads. */
static void dmg_both(const char *cdir, void *arg, char *named, size_t nl)
{
	(void)arg;
	snaps sn;
	list_snaps(cdir, &sn);
	CHECK(sn.n == 2);
	t_flip(sn.path[0], 70, 1);
	t_flip(sn.path[1], 70, 1);
	snprintf(named, nl, "%s %s", sn.name[0], sn.name[1]);
}

static void test_damage(void)
{
	t_context("damage: the histories");
	t_subdir(base, sizeof base, "base");
	t_subdir(base1, sizeof base1, "base1");
	t_subdir(other, sizeof other, "other");
	make_history(base, 0xba5e, 2, base1);
	make_history(other, 0x07e4, 1, NULL);
	snaps sn;
	list_snaps(base, &sn);
	CHECK(sn.n == 2);
	s1 = sn.seq[0];
	s2 = sn.seq[1];
	jscan js;
	scan_journal(base, &js);
	base_next = js.last_seq + 1;
	CHECK_EQ_U64(s2, js.last_seq);
	scan_journal(base1, &js);
	CHECK_EQ_U64(s1, js.last_seq);
	list_snaps(base1, &sn);
	CHECK(sn.n == 1 && sn.seq[0] == s1);
	/* The other history is shorter: only its journal id is wrong. */
	list_snaps(other, &sn);
	CHECK(sn.n == 1 && sn.seq[0] < base_next);
	list_snaps(base, &sn);
	CHECK(t_file_size(sn.path[1]) > 200);

	static const int64_t hdr_offs[] = {0, 9, 13, 20, 26, 33, 41, 49, 59, 63};
	for (size_t i = 0; i < sizeof hdr_offs / sizeof hdr_offs[0]; i++) {
		char w[64];
		snprintf(w, sizeof w, "header byte %" PRId64 " flipped", hdr_offs[i]);
		damage_case(w, base, dmg_flip, (void *)&hdr_offs[i], V_OLDER);
	}
	damage_case("header byte 26 flipped", base, dmg_flip,
	            (void *)&hdr_offs[4], V_ALONE);
	static const int64_t pay_offs[] = {64, 100, -1};
	for (size_t i = 0; i < 3; i++) {
		char w[64];
		snprintf(w, sizeof w, "payload byte %" PRId64 " flipped", pay_offs[i]);
		damage_case(w, base, dmg_flip, (void *)&pay_offs[i], V_OLDER);
		damage_case(w, base, dmg_flip, (void *)&pay_offs[i], V_ALONE);
	}
	static const int64_t cuts[] = {-1, -20, 100, 64, 63, 10, 0};
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		char w[64];
		snprintf(w, sizeof w, "truncated (%" PRId64 ")", cuts[i]);
		damage_case(w, base, dmg_truncate, (void *)&cuts[i],
		            i % 2 ? V_ALONE : V_OLDER);
	}
	static const int junk[] = {0, 1, 2, 3};
	static const char *const junk_names[] = {
		"random bytes", "random bytes after the magic", "an empty file",
		"a directory"};
	for (size_t i = 0; i < 4; i++) {
		damage_case(junk_names[i], base, dmg_junk, (void *)&junk[i], V_OLDER);
		damage_case(junk_names[i], base, dmg_junk, (void *)&junk[i], V_ALONE);
	}
	damage_case("another journal's snapshot", base, dmg_foreign, NULL, V_OLDER);
	damage_case("another journal's snapshot", base, dmg_foreign, NULL, V_ALONE);
	damage_case("another journal's snapshot, payload sum of this one", base,
	            dmg_foreign_reseeded, NULL, V_OLDER);
	damage_case("a changed payload, still a valid zstd frame", base,
	            dmg_silent, NULL, V_OLDER);
	damage_case("a changed payload, still a valid zstd frame", base,
	            dmg_silent, NULL, V_ALONE);
	damage_case_r("a longer history's snapshot", base1, dmg_beyond, NULL,
	              V_OLDER, 1);
	damage_case_r("a longer history's snapshot", base1, dmg_beyond, NULL,
	              V_ALONE, 1);
	/* Headers that lie, with a valid checksum. */
	static uint64_t patches[6][2];
	patches[0][0] = 24, patches[0][1] = s1;          /* an earlier position */
	patches[1][0] = 24, patches[1][1] = s2 + 1000;   /* beyond the end */
	patches[2][0] = 24, patches[2][1] = 0;
	patches[3][0] = 8, patches[3][1] = 4 | (64ull << 32); /* version 4 */
	patches[4][0] = 40, patches[4][1] = 1000000;     /* stored length */
	patches[5][0] = 32, patches[5][1] = 1ull << 40;  /* raw length */
	for (int i = 0; i < 6; i++) {
		char w[80];
		snprintf(w, sizeof w, "header %u patched to %" PRIu64,
		         (unsigned)patches[i][0], patches[i][1]);
		damage_case_r(w, base, dmg_patch, patches[i], V_OLDER, i == 1);
		damage_case_r(w, base, dmg_patch, patches[i], V_ALONE, i == 1);
	}
	/* Well-formed files whose payload does not restore. */
	static const int pays[] = {0, 1, 2, 3};
	static const char *const pay_names[] = {
		"payload truncated to a third", "payload without its last byte",
		"random payload", "random payload after the fold's magic"};
	for (int i = 0; i < 4; i++) {
		damage_case(pay_names[i], base, dmg_payload, (void *)&pays[i], V_OLDER);
		damage_case(pay_names[i], base, dmg_payload, (void *)&pays[i], V_ALONE);
	}
	damage_case("both payloads flipped", base, dmg_both, NULL, V_BOTH);
	/* Directories that lie, with valid checksums. */
	static uint64_t dirs[5][3] = {
		{1, 16, 1},       /* block 1's raw length + 1 */
		{1, 0, 1},        /* block 1 one byte later */
		{1, 32, 1},       /* block 1's first record + 1 */
		{~0ull, 8, 1},    /* one more block than there is */
		{~0ull, 12, 1},   /* the payload header one byte longer */
	};
	for (int i = 0; i < 5; i++) {
		char w[80];
		snprintf(w, sizeof w, "directory field %d patched", i);
		damage_case(w, base, dmg_dir, dirs[i], V_OLDER);
		damage_case(w, base, dmg_dir, dirs[i], V_ALONE);
	}
}

static void dmg_dir(const char *cdir, void *arg, char *named, size_t nl)
{
	char p[700];
	newest(cdir, p, sizeof p, named, nl);
	const uint64_t *a = arg;
	jscan js;
	scan_journal(cdir, &js);
	size_t len;
	uint8_t *b = t_read_file(p, &len);
	uint8_t *d = b + 64;
	uint64_t dirlen = wf_get_u64(d);
	CHECK(wf_get_u32(d + 8) >= 2 && 64 + dirlen <= len);
	if (a[0] == ~0ull) {
		uint8_t *f = d + a[1];
		uint32_t v = wf_get_u32(f) + (uint32_t)a[2];
		for (int i = 0; i < 4; i++)
			f[i] = (uint8_t)(v >> (8 * i));
	} else {
		uint8_t *f = d + 24 + 48 * a[0] + a[1];
		put_u64(f, wf_get_u64(f) + a[2]);
	}
	put_u64(b + 48, XXH3_64bits_withSeed(d, dirlen, js.jid));
	put_u64(b + 56, XXH3_64bits(b, 56));
	t_write_file(p, b, len);
	free(b);
}

/* ---- 4. the journal loses its tail -------------------------------------------- */

/* Truncate the journal's last segment at the first frame boundary whose
 * kept last event is > lo (and < hi); returns that last event's seq. */
static uint64_t cut_journal(const char *edir, uint64_t lo, uint64_t hi)
{
	char jdir[600], seg[800];
	t_path(jdir, sizeof jdir, edir, "journal");
	t_segs *segs = malloc(sizeof *segs);
	CHECK(segs != NULL);
	t_list_segments(jdir, segs);
	CHECK(segs->n == 1);
	t_seg_path(seg, sizeof seg, jdir, segs, 0);
	free(segs);
	size_t nf;
	t_frame *fr = t_frames(seg, &nf);
	uint64_t kept = 0;
	for (size_t i = 1; i < nf; i++) {
		uint64_t last = fr[i].h.first_seq - 1;
		if (last > lo && last < hi) {
			t_truncate(seg, fr[i].off);
			kept = last;
			break;
		}
	}
	free(fr);
	CHECK_MSG(kept, "no frame boundary in (%" PRIu64 ", %" PRIu64 ")", lo, hi);
	return kept;
}

/* Open edir normally: it must equal a full replay, and the notice must name
 * the files in named (space-separated) or, if NULL, there is none. */
static void open_check(const char *edir, const char *named, const char *tag)
{
	cJSON *full = full_replay_dump(edir, tag);
	wf_engine *e = open_cfg(edir, 0);
	defs d;
	define_all(e, &d);
	cJSON *s = dump(e, &d);
	e_close(e);
	CHECK_SAME(s, full, "open vs full replay");
	cJSON_Delete(s);
	cJSON_Delete(full);
	jscan js;
	scan_journal(edir, &js);
	if (!named) {
		CHECK_MSG(!js.notice_next, "skipped: %s", js.detail);
		return;
	}
	CHECK_MSG(js.notice_next, "nothing skipped");
	char buf[512], *save = NULL;
	snprintf(buf, sizeof buf, "%s", named);
	for (char *nm = strtok_r(buf, " ", &save); nm;
	     nm = strtok_r(NULL, " ", &save))
		CHECK_MSG(t_contains(js.detail, nm), "the notice does not name %s: %s",
		          nm, js.detail);
}

/* Grow the journal of edir in a session that writes no snapshot: with
 * no_snapshots=1 (crash 0), or a copy taken while the engine runs (a
 * process crash: durability none loses nothing) into crashdir. */
static void grow_without_snapshot(const char *edir, uint64_t past,
                                  const char *crashdir)
{
	world w = {0};
	w.e = open_cfg(edir, crashdir ? 0 : 1);
	define_all(w.e, &w.d);
	char id[32];
	for (int i = 0;; i++) {
		jscan js;
		scan_journal(edir, &js);
		if (js.last_seq > past + 10)
			break;
		snprintf(id, sizeof id, "regrow%d", i);
		wf_node *n = e_node(w.d.add, NULL, "[1]");
		e_arg_node(n, e_node(w.d.add, NULL, "[2, 3]"));
		CHECK_E(w.e, wf_run(w.e, n, id, NULL, NULL));
		CHECK(i < 10000);
	}
	if (crashdir)
		copy_tree(edir, crashdir);
	world_close(&w);
}

static void test_lost_tail(void)
{
	char dir[512], d1[600], d2[700], d3[700], n1[40], n2[40];
	t_context("lost tail: the history");
	t_subdir(dir, sizeof dir, "tail");
	make_history(dir, 0x7a11, 2, NULL);
	snaps sn;
	list_snaps(dir, &sn);
	CHECK(sn.n == 2);
	uint64_t t1 = sn.seq[0], t2 = sn.seq[1];
	snprintf(n1, sizeof n1, "%s", sn.name[0]);
	snprintf(n2, sizeof n2, "%s", sn.name[1]);

	/* Cut between the snapshots: the newest covers events the journal no
	 * longer has; the older one is still good. */
	t_context("lost tail: cut between the snapshots");
	snprintf(d1, sizeof d1, "%s.between", dir);
	copy_tree(dir, d1);
	uint64_t kept = cut_journal(d1, t1, t2);
	jscan js;
	scan_journal(d1, &js);
	CHECK_EQ_U64(js.last_seq, kept);
	open_check(d1, n2, "a");
	scan_journal(d1, &js);
	CHECK_MSG(!t_contains(js.detail, n1), "the good one skipped: %s",
	          js.detail);
	/* The stale one is removed by the open (documented in snapshot.h:
	 * wf_snapshot_load_writer). */
	char stale[800];
	snap_path(stale, sizeof stale, d1, t2);
	CHECK_MSG(!t_exists(stale), "%s is still there", stale);

	/* Cut exactly at the older snapshot's end: still usable. */
	t_context("lost tail: cut at the older snapshot");
	snprintf(d2, sizeof d2, "%s.at", dir);
	copy_tree(dir, d2);
	CHECK_EQ_U64(cut_journal(d2, t1 - 1, t1 + 1), t1);
	open_check(d2, n2, "b");
	scan_journal(d2, &js);
	CHECK_MSG(!t_contains(js.detail, n1), "the good one skipped: %s",
	          js.detail);
	t_rmtree(d2);

	/* Cut before both: a full replay. */
	t_context("lost tail: cut before both");
	snprintf(d3, sizeof d3, "%s.before", dir);
	copy_tree(dir, d3);
	cut_journal(d3, t1 / 2, t1);
	char both[100];
	snprintf(both, sizeof both, "%s %s", n1, n2);
	open_check(d3, both, "c");
	t_rmtree(d3);
	/*
	 * The journal grows again past the stale snapshot's seq in a session
	 * that writes no snapshot. The stale one (same journal id, seq now
	 * below the end, checksums fine) covers events of the lost history,
	 * not of this one: it must not be used.
	 */
	t_context("lost tail: regrown past the stale snapshot (no_snapshots)");
	snprintf(d2, sizeof d2, "%s.crash", d1);
	grow_without_snapshot(d1, t2, NULL);
	open_check(d1, NULL, "d");

	t_context("lost tail: regrown past the stale snapshot (crash)");
	snprintf(d3, sizeof d3, "%s.between2", dir);
	copy_tree(dir, d3);
	cut_journal(d3, t1, t2);
	open_check(d3, n2, "e");
	grow_without_snapshot(d3, t2, d2);
	open_check(d2, NULL, "f");
	t_rmtree(d1);
	t_rmtree(d2);
	t_rmtree(d3);
	t_rmtree(dir);
}

/* ---- 5. a reset journal ---------------------------------------------------- */

/*
 * The journal is removed (reset) and the snapshots directory left: the old
 * snapshots are another journal's, named above everything the new journal
 * has. The next open skips them; its close keeps its own snapshot and
 * removes theirs.
 */
static void test_reset_journal(void)
{
	char dir[512], jdir[600];
	t_context("reset journal: the history");
	t_subdir(dir, sizeof dir, "reset");
	make_history(dir, 0x4e5e7, 2, NULL);
	snaps old;
	list_snaps(dir, &old);
	CHECK(old.n == 2);
	t_path(jdir, sizeof jdir, dir, "journal");
	t_rmtree(jdir);
	CHECK(!t_exists(jdir));
	/* The first open skips the old ones (named in its notice); its
	 * close writes this journal's own snapshot and removes the other
	 * journal's, which this directory can never use. */
	t_context("reset journal: first open");
	char both[100];
	snprintf(both, sizeof both, "%s %s", old.name[0], old.name[1]);
	open_check(dir, both, "r0");
	wf_engine *e = open_cfg(dir, 0);
	defs d;
	define_all(e, &d);
	for (int i = 0; i < 3; i++) {
		char id[32];
		snprintf(id, sizeof id, "new_%d", i);
		CHECK_E(e, wf_run(e, e_node(d.add, NULL, "[1, 2]"), id, NULL, NULL));
	}
	e_close(e);
	jscan js;
	scan_journal(dir, &js);
	CHECK(js.last_seq < old.seq[0]);
	snaps sn;
	list_snaps(dir, &sn);
	int have_old = 0;
	for (int i = 0; i < sn.n; i++)
		have_old += !strcmp(sn.name[i], old.name[0]) ||
		            !strcmp(sn.name[i], old.name[1]);
	CHECK_EQ_I64(have_old, 0);
	char mine[800];
	snap_path(mine, sizeof mine, dir, js.last_seq);
	CHECK_MSG(t_exists(mine), "the close's snapshot %s is missing", mine);
	/* The next open uses it: nothing skipped, a full replay's state. */
	t_context("reset journal: next open");
	open_check(dir, NULL, "r1");
	t_rmtree(dir);
}

/* WFLOW_TEST_ONLY=name[,name...] runs only those of equivalence, written,
 * damage, lost_tail, reset. WFLOW_TEST_VERBOSE=1 prints what was skipped and the
 * times. */
static int wanted(const char *name)
{
	const char *only = getenv("WFLOW_TEST_ONLY");
	return !only || t_contains(only, name);
}

int main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"equivalence", test_equivalence},
		{"written", test_written_used},
		{"damage", test_damage},
		{"lost_tail", test_lost_tail},
		{"reset", test_reset_journal},
	};
	/* WFLOW_TEST_LAZY: every snapshot restored lazily (replay/fold.h,
	 * wf_fold_restore_lazy), its checksums checked at the open as below
	 * 64 MiB; by default only those of 1 MiB and more are, and these
	 * histories make smaller ones. */
	if (getenv("WFLOW_TEST_LAZY"))
		wf_snapshot_set_lazy(0, UINT64_MAX, 0);
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		if (!wanted(tests[i].name))
			continue;
		double t0 = e_mono();
		tests[i].fn();
		if (getenv("WFLOW_TEST_VERBOSE"))
			fprintf(stderr, "%s: %.2f s\n", tests[i].name, e_mono() - t0);
	}
	return 0;
}
