/*
 * Lazy snapshot restores (replay/fold.h wf_fold_restore_lazy, snapshot.h
 * wf_snapshot_set_lazy): an open reads the snapshot's directory and
 * header block, and a workflow's block only when something first asks
 * for it; the answers are a full replay's all the same.
 *
 * A journal of realistic histories (bench/synth.c) is written, with a
 * snapshot part way (its records in hash order, many blocks), then more
 * events; a reference fold folds every event. Then, restoring lazily:
 *  - nothing is read at the restore; the tail of the journal reads only
 *    some blocks; every workflow's metadata and status, then the list,
 *    equal the reference's (and then everything has been read); an id the
 *    snapshot does not hold reads nothing;
 *  - with a block damaged and no checksum checked at the open, the
 *    restore is used, and the damaged block's workflows are rebuilt from
 *    the journal when first asked for (during the tail, or after): the
 *    answers still equal the reference's;
 *  - with every checksum checked at the open (as below 64 MiB), the same
 *    damage makes the load skip the snapshot and name the block;
 *  - the damaged block and no journal to rebuild from: the lookups that
 *    need it fail with WF_ECORRUPT saying so (none answers wrongly), and
 *    so do the list and writing a snapshot of it (saying why);
 *  - below the lazy threshold, the restore reads everything at once;
 *  - a list of some statuses reads only the blocks that may hold one
 *    (lists_by_status).
 * The directories are mapped from the file (as from 256 KiB by default).
 */
#include "test.h"

#include <xxhash.h>

#include "bench/synth.h"
#include "journal/journal.h"
#include "journal/varint.h"
#include "replay/fold.h"
#include "replay/snapshot.h"

#include "fold_util.h"

typedef struct hist {
	char root[512], jdir[600], sdir[600], snap[700];
	uint64_t jid, snap_seq, last;
	wf_fold *ref;
} hist;

/* sess_every: every so many events, an engine's session starts instead,
 * and attempts name the session they ran in, as the engine's do (0: no
 * sessions). */
static void write_history(hist *h, const char *name, uint64_t before,
                          uint64_t after, uint64_t sess_every)
{
	t_subdir(h->root, sizeof h->root, name);
	snprintf(h->jdir, sizeof h->jdir, "%s/journal", h->root);
	snprintf(h->sdir, sizeof h->sdir, "%s/snapshots", h->root);
	CHECK(mkdir(h->root, 0755) == 0);
	wf_journal_opts o = WF_JOURNAL_OPTS_INIT;
	o.durability = WF_DURABILITY_NONE;
	o.segment_size = 1 << 20;
	wf_journal *j;
	CHECK_OK(wf_journal_open(&j, h->jdir, &o));
	h->jid = wf_journal_id(j);
	CHECK_OK(wf_fold_new(&h->ref));
	wf_synth *g;
	CHECK_OK(wf_synth_new(&g, 11));
	wf_batch *b;
	CHECK_OK(wf_batch_new(&b));
	wf_event ev;
	uint64_t first;
	char err[600];
	char sess[40] = "sess-0";
	for (uint64_t k = 1; k <= before + after; k++) {
		/* The generator's text is borrowed until its next event:
		 * the batch copies it at once. */
		if (sess_every && k % sess_every == 0) {
			int n = snprintf(sess, sizeof sess, "sess-%" PRIu64, k);
			memset(&ev, 0, sizeof ev);
			ev.type = WF_EV_SESSION_STARTED;
			ev.nfields = 3;
			ev.fields[0] = wf_field_text(sess, (size_t)n);
			ev.fields[1] = wf_field_u(k);
			ev.fields[2] = wf_field_text("host", 4);
		} else {
			wf_synth_next(g, &ev);
			if (sess_every && ev.type == WF_EV_ATTEMPT_STARTED &&
			    ev.nfields == 3)
				ev.fields[ev.nfields++] =
				    wf_field_text(sess, strlen(sess));
		}
		CHECK_OK(wf_batch_add(b, &ev));
		if (wf_batch_count(b) == 8 || k == before || k == before + after) {
			CHECK_OK(wf_journal_commit(j, b, &first));
			wf_batch_clear(b);
		}
	}
	wf_batch_free(b);
	wf_synth_free(g);
	CHECK_OK(wf_journal_close(j));
	/* The reference folds the journal as written; the snapshot is of
	 * the first `before` events. */
	wf_reader *r;
	CHECK_OK(wf_reader_open(&r, h->jdir, NULL));
	const wf_event *e;
	int rc;
	while ((rc = wf_reader_next(r, &e)) == 1) {
		CHECK_OK_MSG(wf_fold_apply(h->ref, e, err, sizeof err), err);
		if (e->seq == before)
			CHECK_OK_MSG(wf_snapshot_write(NULL, h->sdir, h->jid, h->ref,
			                               NULL, err, sizeof err),
			             err);
		h->last = e->seq;
	}
	CHECK_OK(rc);
	wf_reader_close(r);
	h->snap_seq = before;
	snprintf(h->snap, sizeof h->snap, "%s/%020" PRIu64 ".wfs", h->sdir,
	         before);
	CHECK(t_exists(h->snap));
}

/* Restore the snapshot into *out (rc of wf_snapshot_load); if used, fold
 * the journal after it (as an open does). */
static int open_lazy(const hist *h, wf_fold **out, char *skipped,
                     size_t sl, uint64_t *unread_at_open)
{
	wf_fold *f;
	uint64_t seq = 0;
	CHECK_OK(wf_fold_new(&f));
	int rc = wf_snapshot_load(NULL, h->sdir, h->jid, h->last + 1, &f, &seq,
	                          skipped, sl);
	CHECK(rc == 0 || rc == 1);
	*unread_at_open = wf_fold_unread(f);
	if (rc == 1) {
		CHECK_EQ_U64(seq, h->snap_seq);
		wf_reader *r;
		CHECK_OK(wf_reader_open(&r, h->jdir, NULL));
		CHECK_OK(wf_reader_seek(r, seq + 1));
		const wf_event *ev;
		char err[600];
		int n;
		while ((n = wf_reader_next(r, &ev)) == 1)
			CHECK_OK_MSG(wf_fold_apply(f, ev, err, sizeof err), err);
		CHECK_OK(n);
		wf_reader_close(r);
	}
	*out = f;
	return rc;
}

/* The reference's ids. */
static char **ref_ids(wf_fold *ref, size_t *n)
{
	size_t cap = 1024, k = 0, i = 0;
	char **v = malloc(cap * sizeof *v);
	const wf_fwf *w;
	while (wf_fold_next(ref, &i, &w)) {
		if (k == cap)
			v = realloc(v, (cap *= 2) * sizeof *v);
		v[k++] = strdup(w->id);
	}
	*n = k;
	return v;
}

/* Every id's metadata and status as the reference's; then the list. */
static void same_answers(wf_fold *ref, wf_fold *f, char **ids, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		char *a = fold_meta_text(ref, ids[k], NULL);
		char *b = fold_meta_text(f, ids[k], NULL);
		CHECK_MSG(strcmp(a, b) == 0, "%s:\n  replay %s\n  lazy   %s", ids[k],
		          a, b);
		free(a);
		free(b);
		CHECK_EQ_I64(wf_fold_status(ref, ids[k]), wf_fold_status(f, ids[k]));
	}
	{
		char e[600] = "";
		int rr = wf_fold_read_all(f, e, sizeof e);
		CHECK_MSG(rr == 0, "%s", e);
	}
	char *la = fold_list_text(ref), *lb = fold_list_text(f);
	CHECK_MSG(strcmp(la, lb) == 0, "the lists differ");
	free(la);
	free(lb);
	CHECK_EQ_U64(wf_fold_unread(f), 0);
}

/* The snapshot's record blocks: count, and the file offset and stored
 * length of block x (1-based, as the file counts them). */
static uint32_t blocks(const char *path, uint32_t x, uint64_t *off,
                       uint64_t *clen, uint64_t *first, uint64_t *nrec)
{
	size_t len;
	uint8_t *b = t_read_file(path, &len);
	uint32_t nb = wf_get_u32(b + 64 + 8);
	if (x < nb) {
		const uint8_t *e = b + 64 + 24 + 48 * (size_t)x;
		*off = wf_get_u64(e);
		*clen = wf_get_u64(e + 8);
		*first = wf_get_u64(e + 32);
		*nrec = wf_get_u64(e + 40);
	}
	free(b);
	return nb;
}

/* Every id's metadata, status and session in g as in ref. */
static void same_sessions(wf_fold *ref, wf_fold *g, char **ids, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const wf_fwf *a, *b;
		CHECK_OK(wf_fold_find(ref, ids[k], &a));
		CHECK_OK(wf_fold_find(g, ids[k], &b));
		CHECK_MSG((!a->session && !b->session) ||
		              (a->session && b->session &&
		               strcmp(a->session, b->session) == 0),
		          "%s: session %s, saved and loaded %s", ids[k],
		          a->session ? a->session : "none",
		          b->session ? b->session : "none");
	}
}

/*
 * A snapshot written from a lazy restore copies the blocks nothing read
 * as they are stored (snapshot.c), the rest saved from memory: after the
 * tail and a session started since (numbered after the snapshot's, of
 * which there are many), the
 * new snapshot, loaded eagerly and lazily, answers as the full replay,
 * sessions included, and writing it read only blocks whose hash range a
 * record in memory fell in. Then with every block
 * of the restored file damaged after the open: the copy finds it out,
 * and the snapshot is written from the records rebuilt from the journal.
 */
static void copy_unread(uint64_t before, uint64_t after)
{
	hist h;
	write_history(&h, "copy", before, after, 7919);
	size_t nid;
	char **ids = ref_ids(h.ref, &nid);
	char skipped[2000], err[600];
	wf_fold *f, *g;
	uint64_t unread, seq;
	wf_snapshot_set_lazy(0, 0, 0);
	CHECK(open_lazy(&h, &f, skipped, sizeof skipped, &unread) == 1);
	/* An engine started: a new session, in both. */
	wf_event se = {0};
	se.seq = h.last + 1;
	se.time_ns = 1795800000000000000;
	se.type = WF_EV_SESSION_STARTED;
	se.nfields = 3;
	se.fields[0] = wf_field_text("sess-after-the-snapshot", 23);
	se.fields[1] = wf_field_u(4242);
	se.fields[2] = wf_field_text("host", 4);
	CHECK_OK(wf_fold_apply(f, &se, err, sizeof err));
	CHECK_OK(wf_fold_apply(h.ref, &se, err, sizeof err));
	uint64_t left = wf_fold_unread(f);
	CHECK_MSG(left > 0 && left < unread, "the tail read %" PRIu64 " of %"
	          PRIu64 " records", unread - left, unread);

	t_context("a snapshot of a lazy restore, unread blocks copied");
	char dir[700];
	snprintf(dir, sizeof dir, "%s/copied", h.root);
	CHECK_OK_MSG(wf_snapshot_write(NULL, dir, h.jid, f, NULL, err,
	                               sizeof err), err);
	/* Blocks whose hash range a new workflow's hash fell in were read
	 * (the records must stay in hash order); the others were copied. */
	uint64_t copied = wf_fold_unread(f);
	CHECK_MSG(copied > 0 && copied <= left, "%" PRIu64 " of %" PRIu64
	          " records left unread", copied, left);
	printf("copy: %" PRIu64 " records unread after the tail, %" PRIu64
	       " copied as stored\n", left, copied);
	for (int lazy = 0; lazy < 2; lazy++) {
		wf_snapshot_set_lazy(lazy ? 0 : UINT64_MAX, 0, 0);
		CHECK_OK(wf_fold_new(&g));
		CHECK(wf_snapshot_load(NULL, dir, h.jid, UINT64_MAX, &g, &seq,
		                       skipped, sizeof skipped) == 1);
		CHECK_EQ_U64(seq, h.last + 1);
		same_sessions(h.ref, g, ids, nid);
		same_answers(h.ref, g, ids, nid);
		CHECK_MSG(strcmp(wf_fold_last_session(g),
		                 "sess-after-the-snapshot") == 0, "%s",
		          wf_fold_last_session(g));
		wf_fold_free(g);
	}
	wf_fold_free(f);

	t_context("every block damaged after the open: rebuilt, then saved");
	wf_snapshot_set_lazy(0, 0, 0);
	CHECK(open_lazy(&h, &f, skipped, sizeof skipped, &unread) == 1);
	CHECK_OK(wf_fold_apply(f, &se, err, sizeof err));
	CHECK(wf_fold_unread(f) > 0);
	uint64_t off, clen, first, nrec;
	uint32_t nb = blocks(h.snap, 1, &off, &clen, &first, &nrec);
	for (uint32_t x = 1; x < nb; x++) {
		blocks(h.snap, x, &off, &clen, &first, &nrec);
		t_flip(h.snap, off + clen / 2, 0x08);
	}
	snprintf(dir, sizeof dir, "%s/rebuilt", h.root);
	CHECK_OK_MSG(wf_snapshot_write(NULL, dir, h.jid, f, NULL, err,
	                               sizeof err), err);
	CHECK_EQ_U64(wf_fold_unread(f), 0);
	wf_fold_free(f);
	wf_snapshot_set_lazy(UINT64_MAX, 0, 0);
	CHECK_OK(wf_fold_new(&g));
	CHECK(wf_snapshot_load(NULL, dir, h.jid, UINT64_MAX, &g, &seq, skipped,
	                       sizeof skipped) == 1);
	same_sessions(h.ref, g, ids, nid);
	same_answers(h.ref, g, ids, nid);
	wf_fold_free(g);
	t_context("%s", "");

	for (size_t k = 0; k < nid; k++)
		free(ids[k]);
	free(ids);
	wf_fold_free(h.ref);
}

/* The snapshot file's directory: its record blocks' records (block x,
 * 1-based as the file counts them, holds first[x] .. first[x] + n[x] - 1)
 * and each record's status byte (version 3). */
typedef struct dir_info {
	uint32_t nb;
	uint64_t nrecs;
	uint64_t *first, *n;
	uint8_t *st;
} dir_info;

static void read_dir(const char *path, dir_info *di)
{
	size_t len;
	uint8_t *b = t_read_file(path, &len);
	CHECK_EQ_U64(wf_get_u32(b + 8), 3);
	const uint8_t *d = b + 64;
	di->nb = wf_get_u32(d + 8);
	di->nrecs = wf_get_u64(d + 16);
	CHECK_EQ_U64(wf_get_u64(d), 24 + 48ull * di->nb + 5 * di->nrecs);
	di->first = calloc(di->nb, sizeof *di->first);
	di->n = calloc(di->nb, sizeof *di->n);
	di->st = malloc(di->nrecs + 1);
	CHECK(di->first && di->n && di->st);
	for (uint32_t x = 0; x < di->nb; x++) {
		di->first[x] = wf_get_u64(d + 24 + 48 * (size_t)x + 32);
		di->n[x] = wf_get_u64(d + 24 + 48 * (size_t)x + 40);
	}
	memcpy(di->st, d + 24 + 48 * (size_t)di->nb + 4 * di->nrecs,
	       di->nrecs);
	free(b);
}

static void free_dir(dir_info *di)
{
	free(di->first);
	free(di->n);
	free(di->st);
}

/* Records of the blocks a list of mask must read: those of every block
 * holding a record that may be listed (a RUNNING one may be RESUMABLE,
 * one never started is RESUMABLE; 0xff: not known). */
static uint64_t must_read(const dir_info *di, unsigned mask)
{
	uint64_t sum = 0;
	for (uint32_t x = 1; x < di->nb; x++) {
		int need = 0;
		for (uint64_t k = di->first[x]; k < di->first[x] + di->n[x]; k++) {
			unsigned may = di->st[k] == WF_STATUS_RUNNING
			                   ? WF_STATUS_BIT(WF_STATUS_RUNNING) |
			                         WF_STATUS_BIT(WF_STATUS_RESUMABLE)
			               : di->st[k] == WF_STATUS_NONE
			                   ? WF_STATUS_BIT(WF_STATUS_RESUMABLE)
			               : di->st[k] == 0xff ? WF_STATUS_ALL
			                                   : WF_STATUS_BIT(di->st[k]);
			need |= (may & mask) != 0;
		}
		if (need)
			sum += di->n[x];
	}
	return sum;
}

static char *list_text(wf_fold *f, unsigned mask)
{
	cJSON *l = NULL;
	CHECK_OK(wf_fold_list(f, mask, &l));
	char *t = cJSON_PrintUnformatted(l);
	CHECK(t != NULL);
	cJSON_Delete(l);
	return t;
}

/* The same snapshot file as version 2 wrote it: no statuses. */
static void as_version2(const char *from, const char *to, uint64_t jid)
{
	size_t len;
	uint8_t *b = t_read_file(from, &len);
	uint64_t dirlen = wf_get_u64(b + 64), nrecs = wf_get_u64(b + 64 + 16);
	uint32_t nb = wf_get_u32(b + 64 + 8);
	size_t cut = 64 + (size_t)dirlen - (size_t)nrecs; /* the statuses */
	uint8_t *o = malloc(len - nrecs);
	CHECK(o != NULL);
	memcpy(o, b, cut);
	memcpy(o + cut, b + cut + nrecs, len - cut - nrecs);
	uint8_t *d = o + 64;
	wf_put_u64(d, dirlen - nrecs);
	for (uint32_t x = 0; x < nb; x++) {
		uint8_t *e = d + 24 + 48 * (size_t)x;
		wf_put_u64(e, wf_get_u64(e) - nrecs);
	}
	wf_put_u32(o + 8, 2);
	wf_put_u64(o + 40, wf_get_u64(o + 40) - nrecs);
	wf_put_u64(o + 48, XXH3_64bits_withSeed(d, dirlen - nrecs, jid));
	wf_put_u64(o + 56, XXH3_64bits(o, 56));
	t_write_file(to, o, len - nrecs);
	free(o);
	free(b);
}

/*
 * Lists of some statuses after a lazy restore read only the blocks whose
 * records (their statuses in the directory) may be listed: right after
 * the restore, a list of each status and of some unions equals the list
 * of the snapshot restored whole, and exactly the records of those blocks
 * were read (a list of the RUNNING and RESUMABLE ones leaves most
 * unread); after the tail, each list equals the full replay's. A version 2
 * file of the same snapshot (no statuses) lists the same, reading every
 * block; a snapshot written from its lazy restore knows every status.
 */
static void lists_by_status(uint64_t before)
{
	hist h;
	write_history(&h, "lists", before, 80, 7919);
	dir_info di;
	read_dir(h.snap, &di);
	char skipped[2000], err[600];
	wf_fold *at, *f;
	uint64_t seq, unread;
	wf_snapshot_set_lazy(UINT64_MAX, 0, 0);
	CHECK_OK(wf_fold_new(&at));
	CHECK(wf_snapshot_load(NULL, h.sdir, h.jid, h.last + 1, &at, &seq,
	                       skipped, sizeof skipped) == 1);
	static const unsigned masks[] = {
	    WF_STATUS_BIT(WF_STATUS_RUNNING),
	    WF_STATUS_BIT(WF_STATUS_FAILED),
	    WF_STATUS_BIT(WF_STATUS_RESUMABLE),
	    WF_STATUS_BIT(WF_STATUS_CANCELED),
	    WF_STATUS_BIT(WF_STATUS_SUCCESSFUL),
	    WF_STATUS_BIT(WF_STATUS_RUNNING) | WF_STATUS_BIT(WF_STATUS_RESUMABLE),
	    WF_STATUS_BIT(WF_STATUS_RESUMABLE) | WF_STATUS_BIT(WF_STATUS_FAILED),
	    WF_STATUS_ALL,
	};
	uint64_t live_read = 0;
	for (size_t m = 0; m < sizeof masks / sizeof masks[0]; m++) {
		t_context("lists: mask %#x", masks[m]);
		wf_snapshot_set_lazy(0, 0, 0);
		CHECK_OK(wf_fold_new(&f));
		CHECK(wf_snapshot_load(NULL, h.sdir, h.jid, h.last + 1, &f, &seq,
		                       skipped, sizeof skipped) == 1);
		CHECK_EQ_U64(wf_fold_unread(f), di.nrecs);
		char *a = list_text(at, masks[m]), *b = list_text(f, masks[m]);
		CHECK_MSG(strcmp(a, b) == 0, "lists differ:\n%.600s\n%.600s", a,
		          b);
		free(a);
		free(b);
		uint64_t want = must_read(&di, masks[m]);
		CHECK_EQ_U64(di.nrecs - wf_fold_unread(f), want);
		if (m == 5)
			live_read = want;
		wf_fold_free(f);
		/* After the tail: the full replay's list. */
		CHECK(open_lazy(&h, &f, skipped, sizeof skipped, &unread) == 1);
		a = list_text(h.ref, masks[m]);
		b = list_text(f, masks[m]);
		CHECK_MSG(strcmp(a, b) == 0, "lists differ after the tail");
		free(a);
		free(b);
		wf_fold_free(f);
	}
	CHECK_MSG(live_read < di.nrecs / 2, "listing the RUNNING and RESUMABLE "
	          "read %" PRIu64 " of %" PRIu64 " records", live_read,
	          di.nrecs);
	printf("lists: %u blocks, %" PRIu64 " records; RUNNING|RESUMABLE read "
	       "%" PRIu64 "\n", di.nb - 1, di.nrecs, live_read);

	t_context("lists: a version 2 snapshot");
	char v2[700], v2f[800], v3[700], v3f[800];
	snprintf(v2, sizeof v2, "%s/v2", h.root);
	snprintf(v2f, sizeof v2f, "%s/%020" PRIu64 ".wfs", v2, h.snap_seq);
	CHECK(mkdir(v2, 0755) == 0);
	as_version2(h.snap, v2f, h.jid);
	wf_snapshot_set_lazy(0, 0, 0);
	CHECK_OK(wf_fold_new(&f));
	CHECK_MSG(wf_snapshot_load(NULL, v2, h.jid, h.last + 1, &f, &seq,
	                           skipped, sizeof skipped) == 1, "%s", skipped);
	CHECK_EQ_U64(wf_fold_unread(f), di.nrecs);
	unsigned live = masks[5];
	char *a = list_text(at, live), *b = list_text(f, live);
	CHECK_MSG(strcmp(a, b) == 0, "version 2: the lists differ");
	free(a);
	free(b);
	CHECK_EQ_U64(wf_fold_unread(f), 0);
	wf_fold_free(f);
	/* Written from its lazy restore, nothing read: every status known,
	 * as the version 3 file has them. */
	CHECK_OK(wf_fold_new(&f));
	CHECK(wf_snapshot_load(NULL, v2, h.jid, h.last + 1, &f, &seq, skipped,
	                       sizeof skipped) == 1);
	CHECK_EQ_U64(wf_fold_unread(f), di.nrecs);
	snprintf(v3, sizeof v3, "%s/v3", h.root);
	CHECK_OK_MSG(wf_snapshot_write(NULL, v3, h.jid, f, NULL, err,
	                               sizeof err), err);
	wf_fold_free(f);
	snprintf(v3f, sizeof v3f, "%s/%020" PRIu64 ".wfs", v3, h.snap_seq);
	dir_info d3;
	read_dir(v3f, &d3);
	CHECK_EQ_U64(d3.nrecs, di.nrecs);
	CHECK(memcmp(d3.st, di.st, di.nrecs) == 0);
	free_dir(&d3);
	t_context("%s", "");

	free_dir(&di);
	wf_fold_free(at);
	wf_fold_free(h.ref);
}

/*
 * A record larger than a quarter of the fold's 4 MiB chunks (a workflow
 * with 2 MB of user metadata) makes a block whose bytes are malloc'd
 * rather than carved from a chunk: restored lazily among ordinary ones,
 * it answers as the fold that saved it (ASan/valgrind see both kinds of
 * block memory freed with the fold).
 */
static void big_record(void)
{
	t_context("a 2 MB record");
	wf_fold *ref, *f;
	wf_synth *g;
	char err[600], skipped[2000];
	CHECK_OK(wf_fold_new(&ref));
	CHECK_OK(wf_synth_new(&g, 5));
	uint64_t n = 0;
	wf_event ev;
	for (; n < 30000; n++) {
		wf_synth_next(g, &ev);
		ev.seq = n + 1;
		CHECK_OK_MSG(wf_fold_apply(ref, &ev, err, sizeof err), err);
	}
	wf_synth_free(g);
	size_t big = 2u << 20;
	char *meta = malloc(big + 16);
	CHECK(meta != NULL);
	memcpy(meta, "{\"blob\":\"", 9);
	memset(meta + 9, 'x', big);
	memcpy(meta + 9 + big, "\"}", 2);
	const char *dag = "{\"steps\":[{\"id\":\"a\",\"fn\":\"f\",\"name\":"
	                  "\"a\",\"options\":{},\"user_metadata\":{},"
	                  "\"args\":[]}],\"output\":\"a\"}";
	memset(&ev, 0, sizeof ev);
	ev.type = WF_EV_WORKFLOW_CREATED;
	ev.seq = ++n;
	ev.time_ns = 1795800305000000000;
	ev.nfields = 3;
	ev.fields[0] = wf_field_text("big/one", 7);
	ev.fields[1] = wf_field_json(meta, big + 11);
	ev.fields[2] = wf_field_json(dag, strlen(dag));
	CHECK_OK_MSG(wf_fold_apply(ref, &ev, err, sizeof err), err);
	free(meta);
	char dir[512];
	t_subdir(dir, sizeof dir, "big");
	CHECK_OK_MSG(wf_snapshot_write(NULL, dir, 77, ref, NULL, err,
	                               sizeof err), err);
	/* (one block of the file holds more than 1 MiB) */
	char path[700];
	snprintf(path, sizeof path, "%s/%020" PRIu64 ".wfs", dir, n);
	size_t len, largest = 0;
	uint8_t *b = t_read_file(path, &len);
	for (uint32_t x = 0; x < wf_get_u32(b + 64 + 8); x++) {
		size_t r = (size_t)wf_get_u64(b + 64 + 24 + 48 * (size_t)x + 16);
		largest = r > largest ? r : largest;
	}
	free(b);
	CHECK_MSG(largest > big, "largest block %zu bytes", largest);
	wf_snapshot_set_lazy(0, 0, 0);
	CHECK_OK(wf_fold_new(&f));
	uint64_t seq;
	CHECK_MSG(wf_snapshot_load(NULL, dir, 77, n + 1, &f, &seq, skipped,
	                           sizeof skipped) == 1, "%s", skipped);
	CHECK(wf_fold_unread(f) > 0);
	fold_same_meta(ref, f, "big/one", NULL);
	char *la = fold_list_text(ref), *lb = fold_list_text(f);
	CHECK_MSG(strcmp(la, lb) == 0, "the lists differ");
	free(la);
	free(lb);
	CHECK_EQ_U64(wf_fold_unread(f), 0);
	wf_fold_free(f);
	wf_fold_free(ref);
	printf("big: a block of %zu bytes\n", largest);
	t_context("%s", "");
}

int main(void)
{
	uint64_t before = (uint64_t)(40000 * t_scale());
	if (before < 30000) /* (at least 6 blocks) */
		before = 30000;
	hist h;
	write_history(&h, "lazy", before, before / 10, 0);
	size_t nid;
	char **ids = ref_ids(h.ref, &nid);
	char skipped[2000];
	wf_fold *f;
	uint64_t unread;

	t_context("lazy, intact");
	wf_snapshot_set_lazy(0, 0, 0);
	CHECK_MSG(open_lazy(&h, &f, skipped, sizeof skipped, &unread) == 1,
	          "%s", skipped);
	uint64_t off, clen, first, nrec;
	uint32_t nb = blocks(h.snap, 1, &off, &clen, &first, &nrec);
	CHECK_MSG(nb >= 6, "only %u blocks: the history is too small", nb);
	CHECK_MSG(unread > 0, "the restore read every record");
	uint64_t after_tail = wf_fold_unread(f);
	CHECK_MSG(after_tail > 0 && after_tail <= unread,
	          "the tail read %" PRIu64 " of %" PRIu64 " records", unread -
	          after_tail, unread);
	{
		const wf_fwf *w;
		CHECK_EQ_I64(wf_fold_find(f, "no/such/workflow", &w), WF_ENOTFOUND);
		CHECK_EQ_U64(wf_fold_unread(f), after_tail);
	}
	same_answers(h.ref, f, ids, nid);
	wf_fold_free(f);
	printf("lazy: %u blocks, %" PRIu64 " records unread at the open, %"
	       PRIu64 " after the tail of %" PRIu64 " events\n", nb - 1, unread,
	       after_tail, h.last - h.snap_seq);

	/* Below the threshold: all at once. */
	t_context("eager");
	wf_snapshot_set_lazy(UINT64_MAX, 0, 0);
	CHECK(open_lazy(&h, &f, skipped, sizeof skipped, &unread) == 1);
	CHECK_EQ_U64(unread, 0);
	same_answers(h.ref, f, ids, nid);
	wf_fold_free(f);

	/* A damaged block in the middle. */
	uint32_t bad = nb / 2;
	blocks(h.snap, bad, &off, &clen, &first, &nrec);
	t_flip(h.snap, off + clen / 2, 0x20);
	size_t nbad = 0;
	for (size_t k = 0; k < nid; k++) {
		/* (ids the snapshot holds in the damaged block) */
		size_t len;
		uint8_t *b = t_read_file(h.snap, &len);
		const uint8_t *hv = b + 64 + 24 + 48 * (size_t)nb;
		uint32_t hk = wf_fold_id_hash(ids[k]);
		for (uint64_t r = first; r < first + nrec; r++)
			if (wf_get_u32(hv + 4 * r) == hk) {
				nbad++;
				break;
			}
		free(b);
		if (nbad > 3)
			break;
	}
	CHECK(nbad > 0);

	t_context("lazy, block %u damaged, checked at the open", bad);
	wf_snapshot_set_lazy(0, UINT64_MAX, 0);
	CHECK(open_lazy(&h, &f, skipped, sizeof skipped, &unread) == 0);
	char want[64];
	snprintf(want, sizeof want, "block %u checksum mismatch", bad);
	CHECK_MSG(strstr(skipped, want) != NULL, "skipped: %s", skipped);
	wf_fold_free(f);

	t_context("lazy, block %u damaged, not checked at the open", bad);
	wf_snapshot_set_lazy(0, 0, 0);
	CHECK_MSG(open_lazy(&h, &f, skipped, sizeof skipped, &unread) == 1,
	          "%s", skipped);
	same_answers(h.ref, f, ids, nid);
	wf_fold_free(f);

	/* Asked for in reverse order this time: the damaged block's ids
	 * before the rest (the rebuild then also reads every other block). */
	t_context("lazy, block %u damaged, its workflows asked for last", bad);
	CHECK(open_lazy(&h, &f, skipped, sizeof skipped, &unread) == 1);
	for (size_t k = nid; k-- > 0;) {
		char *a = fold_meta_text(h.ref, ids[k], NULL);
		char *b = fold_meta_text(f, ids[k], NULL);
		CHECK_MSG(strcmp(a, b) == 0, "%s:\n  replay %s\n  lazy   %s",
		          ids[k], a, b);
		free(a);
		free(b);
	}
	same_answers(h.ref, f, ids, nid);
	wf_fold_free(f);

	t_context("lazy, block %u damaged, no journal", bad);
	char moved[700];
	snprintf(moved, sizeof moved, "%s.away", h.jdir);
	wf_fold *g;
	uint64_t seq;
	CHECK_OK(wf_fold_new(&g));
	CHECK(wf_snapshot_load(NULL, h.sdir, h.jid, h.last + 1, &g, &seq,
	                       skipped, sizeof skipped) == 1);
	CHECK(rename(h.jdir, moved) == 0);
	size_t failed = 0, right = 0;
	for (size_t k = 0; k < nid; k++) {
		const wf_fwf *w;
		int rc = wf_fold_find(g, ids[k], &w);
		if (rc == WF_ECORRUPT) {
			if (!failed++) {
				char *m = fold_meta_text(g, ids[k], NULL);
				CHECK_MSG(strstr(m, "error -4") &&
				              strstr(m, "rebuilding its records"),
				          "%s", m);
				free(m);
			}
			continue;
		}
		/* What it does answer is the snapshot's (no tail here). */
		if (rc == 0)
			right++;
		CHECK_MSG(rc == 0 || rc == WF_ENOTFOUND, "%s: rc %d", ids[k], rc);
	}
	CHECK_MSG(failed > 0, "no lookup failed without the journal");
	cJSON *l = NULL;
	char err[600] = "";
	CHECK_EQ_I64(wf_fold_list(g, WF_STATUS_ALL, &l), WF_ECORRUPT);
	CHECK_EQ_I64(wf_fold_read_all(g, err, sizeof err), WF_ECORRUPT);
	CHECK_MSG(strstr(err, "checksum mismatch") && strstr(err, "rebuilding"),
	          "%s", err);
	/* Nor can it be saved: no snapshot of a partial state. */
	char other[700];
	snprintf(other, sizeof other, "%s/other", h.root);
	err[0] = '\0';
	CHECK_EQ_I64(wf_snapshot_write(NULL, other, h.jid, g, NULL, err,
	                               sizeof err), WF_ECORRUPT);
	CHECK_MSG(strstr(err, "rebuilding"), "%s", err);
	CHECK(!t_exists(other));
	wf_fold_free(g);
	CHECK(rename(moved, h.jdir) == 0);
	printf("no journal: %zu lookups failed, %zu answered\n", failed, right);

	for (size_t k = 0; k < nid; k++)
		free(ids[k]);
	free(ids);
	wf_fold_free(h.ref);

	/* Enough blocks that a short tail leaves some unread. */
	copy_unread(before * 4, 80);
	lists_by_status(before * 4);
	big_record();
	return 0;
}
