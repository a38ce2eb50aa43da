/*
 * Snapshots store the fold's payload in blocks with a directory of record
 * id hashes (replay/snapshot.h), so that a fold of one workflow (wflow
 * meta, wf_fold_set_only) reads only the blocks that may hold it.
 *
 * A fold of realistic histories (bench/synth.c, thousands of workflows:
 * many blocks) is saved as a snapshot; then
 *  - a whole load answers as the fold saved (list, every workflow's
 *    metadata);
 *  - a load of one workflow answers for it as the fold saved does, for a
 *    sample of workflows and for one that does not exist;
 *  - with one block damaged, loads of workflows whose records are in
 *    other blocks still use the snapshot (and answer right), while the
 *    whole load and the loads of the damaged block's workflows refuse it
 *    and say why (block N checksum mismatch);
 *  - the file reads as snapshot.h describes (blocks back to back after
 *    the directory, each record's id hash listed).
 */
#include "test.h"

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "bench/synth.h"
#include "replay/fold.h"
#include "replay/snapshot.h"

#include "fold_util.h"

#define JID 0x1234abcdull

/* Load dir's snapshot, of workflow only (or all): 1 used, 0 skipped. */
static int load(const char *dir, const char *only, wf_fold **out,
                char *skipped, size_t sl)
{
	wf_fold *f;
	uint64_t seq = 0;
	CHECK_OK(wf_fold_new(&f));
	CHECK_OK(wf_fold_set_only(f, only));
	int rc = wf_snapshot_load(NULL, dir, JID, UINT64_MAX, &f, &seq, skipped,
	                          sl);
	CHECK(rc == 0 || rc == 1);
	*out = f;
	return rc;
}

int main(void)
{
	uint64_t events = (uint64_t)(60000 * t_scale());
	if (events < 30000)
		events = 30000;
	wf_synth *g;
	wf_fold *f;
	CHECK_OK(wf_synth_new(&g, 7));
	CHECK_OK(wf_fold_new(&f));
	char err[600];
	for (uint64_t n = 1; n <= events; n++) {
		wf_event ev;
		wf_synth_next(g, &ev);
		ev.seq = n;
		CHECK_OK_MSG(wf_fold_apply(f, &ev, err, sizeof err), err);
	}
	wf_synth_free(g);
	char dir[512];
	t_subdir(dir, sizeof dir, "snap");
	CHECK_OK_MSG(wf_snapshot_write(NULL, dir, JID, f, NULL, err, sizeof err),
	             err);
	char path[700];
	snprintf(path, sizeof path, "%s/%020" PRIu64 ".wfs", dir, events);

	/* The file as snapshot.h says. */
	size_t len;
	uint8_t *b = t_read_file(path, &len);
	uint64_t dirlen = wf_get_u64(b + 64), nrecs = wf_get_u64(b + 64 + 16);
	uint32_t nb = wf_get_u32(b + 64 + 8);
	CHECK_MSG(nb >= 4, "only %u blocks: the history is too small", nb);
	CHECK_EQ_U64(dirlen, 24 + 48ull * nb + 5 * nrecs); /* hash, status */
	size_t nwf = 0, i = 0;
	const wf_fwf *w;
	while (wf_fold_next(f, &i, &w))
		nwf++;
	CHECK_EQ_U64(nrecs, nwf);
	/* Each record's id hash is listed: every workflow's is there. */
	const uint8_t *hv = b + 64 + 24 + 48 * (size_t)nb;
	i = 0;
	while (wf_fold_next(f, &i, &w)) {
		uint32_t h = (uint32_t)XXH3_64bits(w->id, strlen(w->id));
		CHECK_EQ_U64(wf_fold_id_hash(w->id), h);
		size_t k = 0;
		while (k < nrecs && wf_get_u32(hv + 4 * k) != h)
			k++;
		CHECK_MSG(k < nrecs, "%s: its id hash is not listed", w->id);
	}

	/* Ids in the fold, and the block of each (by its hash's first
	 * listing). */
	size_t nid = 0;
	char **ids = calloc(nwf, sizeof *ids);
	uint32_t *blk = calloc(nwf, sizeof *blk);
	i = 0;
	while (wf_fold_next(f, &i, &w)) {
		uint32_t h = wf_fold_id_hash(w->id);
		size_t k = 0;
		while (wf_get_u32(hv + 4 * k) != h)
			k++;
		uint32_t x = 1;
		while (x + 1 < nb &&
		       wf_get_u64(b + 64 + 24 + 48 * (size_t)(x + 1) + 32) <= k)
			x++;
		ids[nid] = strdup(w->id);
		blk[nid++] = x;
	}
	free(b);

	/* A whole load answers as the fold. */
	wf_fold *r;
	char skipped[2000];
	CHECK_MSG(load(dir, NULL, &r, skipped, sizeof skipped) == 1, "%s",
	          skipped);
	char *la = fold_list_text(f), *lb = fold_list_text(r);
	CHECK_MSG(strcmp(la, lb) == 0, "lists differ");
	free(la);
	free(lb);
	for (size_t k = 0; k < nid; k++) {
		char *ma = fold_meta_text(f, ids[k], NULL);
		char *mb = fold_meta_text(r, ids[k], NULL);
		CHECK_MSG(strcmp(ma, mb) == 0, "%s: %s vs %s", ids[k], ma, mb);
		free(ma);
		free(mb);
	}
	wf_fold_free(r);

	/* One workflow's load, for a sample. */
	size_t step = nid / 60 + 1;
	for (size_t k = 0; k < nid; k += step) {
		t_context("only %s", ids[k]);
		CHECK_MSG(load(dir, ids[k], &r, skipped, sizeof skipped) == 1, "%s",
		          skipped);
		char *ma = fold_meta_text(f, ids[k], NULL);
		char *mb = fold_meta_text(r, ids[k], NULL);
		CHECK_MSG(strcmp(ma, mb) == 0, "%s vs %s", ma, mb);
		free(ma);
		free(mb);
		wf_fold_free(r);
	}
	t_context("only a workflow that does not exist");
	CHECK(load(dir, "no/such/workflow", &r, skipped, sizeof skipped) == 1);
	char *mb = fold_meta_text(r, "no/such/workflow", NULL);
	CHECK_MSG(strstr(mb, "No such workflow_id") != NULL, "%s", mb);
	free(mb);
	wf_fold_free(r);

	/* Damage the middle block. */
	uint32_t bad = nb / 2;
	b = t_read_file(path, &len);
	uint64_t off = wf_get_u64(b + 64 + 24 + 48 * (size_t)bad);
	uint64_t clen = wf_get_u64(b + 64 + 24 + 48 * (size_t)bad + 8);
	free(b);
	t_flip(path, off + clen / 2, 0x10);
	char want[64];
	snprintf(want, sizeof want, "block %u checksum mismatch", bad);
	t_context("damaged block %u: whole load", bad);
	CHECK(load(dir, NULL, &r, skipped, sizeof skipped) == 0);
	CHECK_MSG(strstr(skipped, want) != NULL, "skipped: %s", skipped);
	wf_fold_free(r);
	size_t used = 0, refused = 0;
	for (size_t k = 0; k < nid; k += step / 2 + 1) {
		t_context("damaged block %u: only %s (block %u)", bad, ids[k],
		          blk[k]);
		int rc = load(dir, ids[k], &r, skipped, sizeof skipped);
		if (blk[k] == bad) {
			CHECK_MSG(rc == 0 && strstr(skipped, want), "skipped: %s",
			          skipped);
			refused++;
		} else {
			CHECK_MSG(rc == 1, "skipped: %s", skipped);
			char *ma = fold_meta_text(f, ids[k], NULL);
			char *mb2 = fold_meta_text(r, ids[k], NULL);
			CHECK_MSG(strcmp(ma, mb2) == 0, "%s vs %s", ma, mb2);
			free(ma);
			free(mb2);
			used++;
		}
		wf_fold_free(r);
	}
	/* Every workflow of the damaged block is refused. */
	for (size_t k = 0; k < nid; k++) {
		if (blk[k] != bad)
			continue;
		CHECK(load(dir, ids[k], &r, skipped, sizeof skipped) == 0);
		wf_fold_free(r);
		refused++;
	}
	CHECK(used > 0 && refused > 0);
	for (size_t k = 0; k < nid; k++)
		free(ids[k]);
	free(ids);
	free(blk);
	wf_fold_free(f);
	printf("snapshot_blocks: %u blocks, %zu workflows, %zu loads used the "
	       "damaged snapshot, %zu refused it\n", nb, nid, used, refused);
	return 0;
}
