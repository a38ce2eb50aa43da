/*
 * Populating a fold's memory ahead on a thread (wf_fold_populate_ahead)
 * changes where the kernel zeroes pages, never an answer: the same
 * synthetic history (bench/synth.c) folded with it off, with it on, and
 * with it switched off and on again midway, gives the same list and the
 * same get_metadata for every workflow. The thread did populate chunks
 * (the history needs several 4 MiB chunks), none for a fold that never
 * asked, and a fold freed while its thread runs stops it (a leak or a
 * thread left behind shows under the sanitizers).
 */
#include "test.h"

#include <cjson/cJSON.h>

#include "bench/synth.h"
#include "replay/fold.h"

#include "fold_util.h"

static void same_answers(wf_fold *a, wf_fold *b)
{
	char *la = fold_list_text(a), *lb = fold_list_text(b);
	CHECK_MSG(strcmp(la, lb) == 0, "lists differ:\n%.1000s\n%.1000s", la,
	          lb);
	free(la);
	free(lb);
	size_t i = 0, n = 0;
	const wf_fwf *w;
	while (wf_fold_next(a, &i, &w)) {
		if (n++ % 5 == 0)
			fold_same_meta(a, b, w->id, NULL);
	}
	CHECK(n > 1000);
}

int main(void)
{
	/* About 20 MB of fold: five chunks and more. */
	const uint64_t events = 400000;
	wf_synth *g;
	wf_fold *off, *on, *again, *freed;
	CHECK_OK(wf_synth_new(&g, 3));
	CHECK_OK(wf_fold_new(&off));
	CHECK_OK(wf_fold_new(&on));
	CHECK_OK(wf_fold_new(&again));
	CHECK_OK(wf_fold_new(&freed));
	wf_fold_populate_ahead(on, 1);
	wf_fold_populate_ahead(again, 1);
	wf_fold_populate_ahead(freed, 1);
	char err[600];
	size_t again_mid = 0;
	for (uint64_t n = 1; n <= events; n++) {
		wf_event ev;
		wf_synth_next(g, &ev);
		ev.seq = n;
		wf_fold *all[] = {off, on, again, freed};
		for (size_t k = 0; k < 4; k++) {
			if (!all[k])
				continue;
			int rc = wf_fold_apply(all[k], &ev, err, sizeof err);
			CHECK_MSG(rc == 0, "fold %zu, event %" PRIu64 ": %s", k, n,
			          err);
		}
		if (n == events / 2) {
			/* Off (joins the thread), then on again: a new one. */
			wf_fold_populate_ahead(again, 0);
			again_mid = wf_fold_populated_ahead(again);
			CHECK_MSG(again_mid > 0, "no chunk populated ahead by "
			          "event %" PRIu64, n);
			wf_fold_populate_ahead(again, 1);
			/* Freed with its thread running. */
			CHECK(wf_fold_populated_ahead(freed) > 0);
			wf_fold_free(freed);
			freed = NULL;
		}
	}
	wf_fold_populate_ahead(on, 0);
	CHECK_EQ_U64(wf_fold_populated_ahead(off), 0);
	CHECK_MSG(wf_fold_populated_ahead(on) >= 4,
	          "only %zu chunks populated ahead",
	          wf_fold_populated_ahead(on));
	CHECK(wf_fold_populated_ahead(again) > again_mid);
	same_answers(off, on);
	same_answers(off, again);
	/* again's thread still runs: wf_fold_free stops it. */
	wf_fold_free(off);
	wf_fold_free(on);
	wf_fold_free(again);
	wf_synth_free(g);
	printf("fold_ahead: ok\n");
	return 0;
}
