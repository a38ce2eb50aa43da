/*
 * A snapshot taken under the engine's lock is written outside it
 * (replay/snapshot.h, wf_snapshot_job_take): the finished workflows'
 * blocks are not copied but pinned in the fold, which goes on changing
 * meanwhile. The snapshot must still be of the state at the take, and
 * the fold must still be right after the write.
 *
 * A fold of realistic histories (bench/synth.c) and a reference fold get
 * the same events up to a point; a job is taken from the first there.
 * The first then folds as many events again (workflows resumed and
 * finished again give their old blocks back; new workflows' blocks come
 * from those freed before them), and only then is the job written. The
 * snapshot loaded answers as the reference (list, every workflow's
 * metadata), and the fold's own snapshot afterwards answers as the fold.
 * Run with a slab that does not wait for the pins, the first comparison
 * fails.
 */
#include "test.h"

#include "bench/synth.h"
#include "replay/fold.h"
#include "replay/snapshot.h"

#include "fold_util.h"

#define JID 0x5eed5eedull

/* dir's newest snapshot loaded into a new fold. */
static wf_fold *load(const char *dir)
{
	wf_fold *f;
	uint64_t seq = 0;
	char skipped[2000] = "";
	CHECK_OK(wf_fold_new(&f));
	int rc = wf_snapshot_load(NULL, dir, JID, UINT64_MAX, &f, &seq, skipped,
	                          sizeof skipped);
	CHECK_MSG(rc == 1, "the snapshot was not used: %s", skipped);
	return f;
}

/* a and b give the same list and metadata of every workflow. */
static void same(wf_fold *a, wf_fold *b, const char *what)
{
	t_context("%s", what);
	char *la = fold_list_text(a), *lb = fold_list_text(b);
	CHECK_MSG(strcmp(la, lb) == 0, "the lists differ");
	free(la);
	free(lb);
	size_t i = 0, n = 0;
	const wf_fwf *w;
	while (wf_fold_next(a, &i, &w)) {
		char *id = strdup(w->id);
		char *ma = fold_meta_text(a, id, NULL);
		char *mb = fold_meta_text(b, id, NULL);
		CHECK_MSG(strcmp(ma, mb) == 0, "%s: %s vs %s", id, ma, mb);
		free(ma);
		free(mb);
		free(id);
		n++;
	}
	CHECK_MSG(n > 500, "only %zu workflows: the history is too small", n);
}

static void apply(wf_fold *f, wf_event *ev)
{
	char err[600];
	CHECK_OK_MSG(wf_fold_apply(f, ev, err, sizeof err), err);
}

int main(void)
{
	uint64_t half = (uint64_t)(40000 * t_scale());
	if (half < 20000)
		half = 20000;
	wf_synth *g;
	wf_fold *f, *ref;
	CHECK_OK(wf_synth_new(&g, 11));
	CHECK_OK(wf_fold_new(&f));
	CHECK_OK(wf_fold_new(&ref));
	uint64_t seq = 0;
	while (seq < half) {
		wf_event ev;
		CHECK_OK(wf_synth_next(g, &ev));
		ev.seq = ++seq;
		apply(f, &ev);
		apply(ref, &ev);
	}
	wf_snapshot_job *j;
	CHECK_OK(wf_snapshot_job_take(f, 1, &j));
	/* The fold goes on, as the engine does while its thread writes. */
	while (seq < 2 * half) {
		wf_event ev;
		CHECK_OK(wf_synth_next(g, &ev));
		ev.seq = ++seq;
		apply(f, &ev);
	}

	char dir[512], dir2[512], err[600];
	t_subdir(dir, sizeof dir, "taken");
	CHECK_OK_MSG(wf_snapshot_job_write(NULL, dir, JID, j, NULL, err,
	                                   sizeof err), err);
	wf_snapshot_job_done(f, j);
	wf_snapshot_job_free(j);
	wf_fold *s = load(dir);
	CHECK_EQ_U64(wf_fold_last_seq(s), half);
	same(ref, s, "the snapshot taken halfway, written at the end");
	wf_fold_free(s);

	/* The blocks given back while pinned are reused from now on. */
	for (uint64_t k = 0; k < half / 4; k++) {
		wf_event ev;
		CHECK_OK(wf_synth_next(g, &ev));
		ev.seq = ++seq;
		apply(f, &ev);
	}
	wf_synth_free(g);
	t_subdir(dir2, sizeof dir2, "after");
	CHECK_OK_MSG(wf_snapshot_write(NULL, dir2, JID, f, NULL, err,
	                               sizeof err), err);
	s = load(dir2);
	CHECK_EQ_U64(wf_fold_last_seq(s), seq);
	same(f, s, "the fold's own snapshot after the job");
	wf_fold_free(s);
	wf_fold_free(f);
	wf_fold_free(ref);
	printf("snapshot_pinned: %" PRIu64 " events, a job taken at %" PRIu64
	       " and written at %" PRIu64 "\n", seq, half, 2 * half);
	return 0;
}
