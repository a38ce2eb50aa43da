/*
 * Snapshots written after a lazy open (replay/snapshot.c): the blocks of
 * the restored snapshot that nothing read since are copied as stored, by
 * the engine's snapshot thread while the engine runs (and reads other
 * blocks of the same file), and by wf_close.
 *
 *  - 20,000 workflows, closed: a snapshot of about 100 blocks. Reopened,
 *    every snapshot restored lazily, with a snapshot every 64 events: 40
 *    more workflows while two threads ask for 16 old workflows' metadata
 *    (each read of a block races the snapshot thread's copies of others),
 *    closed. The
 *    next open (from the last snapshot) answers as a full replay does:
 *    every workflow's metadata and status, and the list.
 *  - The same with the record blocks of the restored snapshot that the
 *    run does not read damaged right after the open: the snapshot
 *    thread's copy finds it out and writes nothing, the next snapshot
 *    reads every block (rebuilding those from the journal), and the
 *    answers are still a full replay's.
 *  - A block damaged after the open and the journal too: wf_get_status
 *    and wf_get_metadata of a workflow in it fail with WF_ECORRUPT saying
 *    why (the block, and that rebuilding it failed).
 */
#include <pthread.h>

#include "engine_util.h"
#include "journal/varint.h"
#include "replay/fold.h"
#include "replay/snapshot.h"

#define OLD 20000
#define NEW 40
#define ASKED 16 /* old workflows the threads ask for (blocks they read) */

static wf_engine *open_every(const char *dir, uint64_t every, int nosnap)
{
	wf_config cfg = WF_CONFIG_INIT;
	wf_engine *e = NULL;
	cfg.durability = WF_SYNC_NONE;
	cfg.workers = 4;
	cfg.snapshot_every = every;
	cfg.no_snapshots = nosnap;
	int rc = wf_open(&e, dir, &cfg);
	CHECK_MSG(rc == 0, "wf_open %s: %s", dir, e ? wf_errmsg(e) : "?");
	return e;
}

static void id_of(char *out, size_t n, int i)
{
	snprintf(out, n, "wf-%05d", i);
}

/* Workflows wf-<from>..wf-<to-1>: a step adding two numbers, with user
 * metadata big enough that the snapshot has many blocks. */
static void run_range(wf_engine *e, int from, int to)
{
	wf_step *add = e_define(e, "add", e_step_add, NULL, NULL);
	for (int i = from; i < to; i++) {
		char id[32], md[1100];
		id_of(id, sizeof id, i);
		snprintf(md, sizeof md,
		         "{\"n\": %d, \"pad\": \"%01000d\"}", i, i);
		cJSON *m = e_json(md);
		char args[64];
		snprintf(args, sizeof args, "[%d, %d]", i, 2 * i);
		CHECK_E(e, wf_run(e, e_node(add, NULL, args), id, m, NULL));
		cJSON_Delete(m);
	}
}

typedef struct asker {
	wf_engine *e;
	uint64_t seed;
	atomic_int *stop;
} asker;

/* Ask for old workflows' metadata until told to stop. */
static void *ask(void *arg)
{
	asker *a = arg;
	while (!atomic_load(a->stop)) {
		char id[32];
		id_of(id, sizeof id,
		      (int)(t_splitmix(&a->seed) % ASKED) * (OLD / ASKED));
		cJSON *m = NULL;
		int rc = wf_get_metadata(a->e, id, NULL, &m);
		CHECK_MSG(rc == 0, "%s: %d", id, rc);
		cJSON_Delete(m);
	}
	return NULL;
}

/* The newest snapshot's path in dir/snapshots. */
static void newest_snapshot(const char *dir, char *out, size_t n)
{
	char sdir[600];
	t_path(sdir, sizeof sdir, dir, "snapshots");
	DIR *d = opendir(sdir);
	CHECK(d != NULL);
	char best[64] = "";
	struct dirent *de;
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 24 && strstr(de->d_name, ".wfs") &&
		    strcmp(de->d_name, best) > 0)
			snprintf(best, sizeof best, "%s", de->d_name);
	closedir(d);
	CHECK(best[0]);
	t_path(out, n, sdir, best);
}

/* Flip a byte in the middle of every record block of a snapshot whose
 * hash range holds none of the ids the run will touch (the new ones, the
 * asked ones): nothing reads those blocks before a snapshot copies them.
 * @return how many. */
static int damage_untouched(const char *path)
{
	uint32_t touched[NEW + ASKED];
	int nt = 0;
	char id[32];
	for (int i = OLD; i < OLD + NEW; i++) {
		id_of(id, sizeof id, i);
		touched[nt++] = wf_fold_id_hash(id);
	}
	for (int k = 0; k < ASKED; k++) {
		id_of(id, sizeof id, k * (OLD / ASKED));
		touched[nt++] = wf_fold_id_hash(id);
	}
	size_t len;
	uint8_t *b = t_read_file(path, &len);
	const uint8_t *d = b + 64;
	uint32_t nb = wf_get_u32(d + 8);
	const uint8_t *hv = d + 24 + 48 * (size_t)nb;
	CHECK(nb > 50);
	int damaged = 0;
	for (uint32_t x = 1; x < nb; x++) {
		const uint8_t *e = d + 24 + 48 * (size_t)x;
		uint64_t first = wf_get_u64(e + 32), n = wf_get_u64(e + 40);
		uint32_t lo = wf_get_u32(hv + 4 * first);
		uint32_t hi = wf_get_u32(hv + 4 * (first + n - 1));
		int hit = 0;
		for (int k = 0; k < nt; k++)
			hit |= touched[k] >= lo && touched[k] <= hi;
		if (hit)
			continue;
		t_flip(path, wf_get_u64(e) + wf_get_u64(e + 8) / 2, 0x10);
		damaged++;
	}
	free(b);
	return damaged;
}

/* Every workflow's metadata and status, and the list, in a (opened from
 * its snapshot) as in a full replay of a copy of its directory. */
static void same_as_replay(const char *dir, const char *tag)
{
	char copy[600];
	t_subdir(copy, sizeof copy, tag);
	char cmd[2000];
	snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && rm -rf '%s/snapshots'",
	         dir, copy, copy);
	CHECK(system(cmd) == 0);
	wf_engine *a = open_every(dir, 0, 1); /* no new snapshot at close */
	wf_engine *b = open_every(copy, 0, 1);
	for (int i = 0; i < OLD + NEW; i++) {
		char id[32];
		id_of(id, sizeof id, i);
		cJSON *x = e_meta(a, id, NULL), *y = e_meta(b, id, NULL);
		CHECK_JSON_SAME(x, y);
		cJSON_Delete(x);
		cJSON_Delete(y);
		CHECK_EQ_I64(e_status(a, id), e_status(b, id));
	}
	cJSON *la = NULL, *lb = NULL;
	CHECK_E(a, wf_list_all(a, WF_STATUS_ALL, &la));
	CHECK_E(b, wf_list_all(b, WF_STATUS_ALL, &lb));
	CHECK_JSON_SAME(la, lb);
	CHECK_EQ_I64(cJSON_GetArraySize(la), OLD + NEW);
	cJSON_Delete(la);
	cJSON_Delete(lb);
	e_close(a);
	e_close(b);
}

/* An engine directory (in dir) with the OLD workflows, closed: its
 * snapshot's path in snap. */
static void old_history(const char *name, char *dir, size_t dn, char *snap,
                        size_t sn)
{
	t_subdir(dir, dn, name);
	wf_engine *e = open_every(dir, 0, 0);
	run_range(e, 0, OLD);
	e_close(e);
	newest_snapshot(dir, snap, sn);
}

static void lazy_run(const char *name, int damage)
{
	char dir[600], snap[700];
	old_history(name, dir, sizeof dir, snap, sizeof snap);
	wf_engine *e = open_every(dir, 64, 0);
	if (damage)
		CHECK(damage_untouched(snap) > 0);
	atomic_int stop = 0;
	asker as[2] = {{e, 1, &stop}, {e, 2, &stop}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, ask, &as[i]) == 0);
	run_range(e, OLD, OLD + NEW);
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	e_close(e);
	char last[700];
	newest_snapshot(dir, last, sizeof last);
	CHECK_MSG(strcmp(last, snap) != 0, "no snapshot after %s", snap);
	same_as_replay(dir, damage ? "damaged_replay" : "intact_replay");
}

/*
 * A block of the snapshot opened from damaged after the open, and the
 * journal too (its first segment), so that the block's workflows can be
 * neither read nor rebuilt: wf_get_status and wf_get_metadata of one of
 * them fail with WF_ECORRUPT saying why, not "No such workflow".
 */
static void unrecoverable(void)
{
	char dir[600], snap[700];
	old_history("unrecoverable", dir, sizeof dir, snap, sizeof snap);
	wf_engine *e = open_every(dir, 0, 0);

	/* A workflow strictly inside block x's hash range is in block x. */
	size_t len;
	uint8_t *b = t_read_file(snap, &len);
	const uint8_t *d = b + 64;
	uint32_t nb = wf_get_u32(d + 8), x = nb / 2;
	const uint8_t *hv = d + 24 + 48 * (size_t)nb;
	const uint8_t *be = d + 24 + 48 * (size_t)x;
	uint64_t first = wf_get_u64(be + 32), n = wf_get_u64(be + 40);
	uint32_t lo = wf_get_u32(hv + 4 * first);
	uint32_t hi = wf_get_u32(hv + 4 * (first + n - 1));
	char id[32] = "";
	for (int i = 0; i < OLD && !id[0]; i++) {
		char c[32];
		id_of(c, sizeof c, i);
		uint32_t h = wf_fold_id_hash(c);
		if (h > lo && h < hi)
			snprintf(id, sizeof id, "%s", c);
	}
	CHECK_MSG(id[0], "no workflow inside block %u", x);
	t_flip(snap, wf_get_u64(be) + wf_get_u64(be + 8) / 2, 0x10);
	free(b);
	char seg[700];
	snprintf(seg, sizeof seg, "%s/journal/%020d.wfj", dir, 1);
	t_flip(seg, t_file_size(seg) / 2, 0x10);

	wf_status st;
	CHECK_ERC(e, wf_get_status(e, id, &st), WF_ECORRUPT);
	CHECK_MSG(strstr(wf_errmsg(e), "checksum mismatch") &&
	              strstr(wf_errmsg(e), "rebuilding"),
	          "%s", wf_errmsg(e));
	cJSON *m = NULL;
	CHECK_ERC(e, wf_get_metadata(e, id, NULL, &m), WF_ECORRUPT);
	CHECK(m == NULL);
	CHECK_MSG(strstr(wf_errmsg(e), "rebuilding"), "%s", wf_errmsg(e));
	wf_close(e); /* (its snapshot cannot be written: no matter) */
}

int main(void)
{
	/* Every snapshot restored lazily, no block checked at the open. */
	wf_snapshot_set_lazy(0, 0, 0);
	lazy_run("intact", 0);
	lazy_run("damaged", 1);
	unrecoverable();
	return 0;
}
