/*
 * Freezing finished workflows (replay/fold.c) changes memory, never
 * answers: the same event streams (bench/synth.c's realistic histories:
 * DAGs, retries, failures, resumes, continuations, cancels, deletes,
 * actors), folded with freezing on and off, give the same wf_fold_status
 * for every workflow (read without thawing), the same wf_fold_list, and
 * the same get_metadata for every workflow and every step, both midway
 * (frozen workflows thawed, then changed again by later events: resumed,
 * finished and frozen anew) and at the end. And freezing does save
 * memory: most finished workflows are frozen at the end.
 *
 * Snapshots' payloads too: a fold saved midway (wf_fold_save) and restored
 * into a new fold (wf_fold_restore), then given the rest of the stream,
 * answers as the fold that saw every event; so does one restored from a
 * save at the end. A truncated or altered payload is refused, never
 * half-believed.
 */
#include "test.h"

#include <cjson/cJSON.h>

#include "bench/synth.h"
#include "replay/fold.h"

#include "fold_util.h"

static void same_list(wf_fold *a, wf_fold *b)
{
	cJSON *la = NULL, *lb = NULL;
	CHECK_OK(wf_fold_list(a, WF_STATUS_ALL, &la));
	CHECK_OK(wf_fold_list(b, WF_STATUS_ALL, &lb));
	char *ta = cJSON_PrintUnformatted(la), *tb = cJSON_PrintUnformatted(lb);
	CHECK_MSG(strcmp(ta, tb) == 0, "lists differ:\n%.2000s\n%.2000s", ta, tb);
	free(ta);
	free(tb);
	cJSON_Delete(la);
	cJSON_Delete(lb);
}

/* Compare every workflow (or every k-th) and its steps. @return how many
 * workflows of b were frozen before the comparison thawed them. */
static size_t same_answers(wf_fold *a, wf_fold *b, size_t every)
{
	size_t i = 0, k = 0, frozen = 0;
	const wf_fwf *w;
	while (wf_fold_next(b, &i, &w))
		frozen += w->frozen != 0;
	same_list(a, b); /* before any thaw */
	i = 0;
	while (wf_fold_next(a, &i, &w)) {
		if (k++ % every)
			continue;
		CHECK_EQ_I64(wf_fold_status(b, w->id), wf_fold_status(a, w->id));
		fold_same_meta(a, b, w->id, NULL);
		const wf_fwf *wa = wf_fold_get(a, w->id);
		const wf_fwf *wb = wf_fold_get(b, w->id);
		CHECK(wa && wb && !wb->frozen);
		CHECK_EQ_U64(wb->nsteps, wa->nsteps);
		CHECK((wa->output == NULL) == (wb->output == NULL));
		if (wa->output)
			CHECK_MSG(strcmp(wa->output, wb->output) == 0, "output of %s",
			          w->id);
		for (size_t s = 0; s < wa->nsteps; s++) {
			const wf_fstep *sa = wa->order[s], *sb = wb->order[s];
			CHECK_MSG(strcmp(sa->id, sb->id) == 0, "%s: step %zu", w->id, s);
			fold_same_meta(a, b, w->id, sa->id);
			/* What resume needs: arguments, outputs, continuations. */
			CHECK_EQ_U64(sb->nargs, sa->nargs);
			for (size_t x = 0; x < sa->nargs; x++) {
				CHECK((sa->args[x].step == NULL) ==
				      (sb->args[x].step == NULL));
				const char *va = sa->args[x].step ? sa->args[x].step
				                                  : sa->args[x].value;
				const char *vb = sb->args[x].step ? sb->args[x].step
				                                  : sb->args[x].value;
				CHECK(strcmp(va, vb) == 0);
			}
			CHECK_EQ_I64(sb->has_output, sa->has_output);
			if (sa->has_output)
				CHECK(strcmp(sa->output, sb->output) == 0);
			CHECK((sa->cont == NULL) == (sb->cont == NULL));
			if (sa->cont)
				CHECK(strcmp(sa->cont, sb->cont) == 0);
			CHECK_EQ_I64(sb->state, sa->state);
		}
		/* The name counter survives too. */
		char ia[600], ib[600];
		wf_fold_next_id(wa, "step", 0, ia, sizeof ia);
		wf_fold_next_id(wb, "step", 0, ib, sizeof ib);
		CHECK(strcmp(ia, ib) == 0);
	}
	return frozen;
}

int main(void)
{
	double scale = t_scale();
	int seeds = 6;
	uint64_t events = (uint64_t)(40000 * scale);
	if (events < 5000)
		events = 5000;
	for (int seed = 1; seed <= seeds; seed++) {
		t_context("seed %d", seed);
		wf_synth *g;
		wf_fold *a, *b;
		CHECK_OK(wf_synth_new(&g, (uint64_t)seed));
		CHECK_OK(wf_fold_new(&a));
		CHECK_OK(wf_fold_new(&b));
		wf_fold_set_freezing(a, 0);
		char err[600];
		size_t frozen_mid = 0;
		wf_fold *c = NULL; /* restored from b's save, midway */
		for (uint64_t n = 1; n <= events; n++) {
			wf_event ev;
			wf_synth_next(g, &ev);
			ev.seq = n;
			int ra = wf_fold_apply(a, &ev, err, sizeof err);
			CHECK_MSG(ra == 0, "fold a, event %" PRIu64 ": %s", n, err);
			int rb = wf_fold_apply(b, &ev, err, sizeof err);
			CHECK_MSG(rb == 0, "fold b, event %" PRIu64 ": %s", n, err);
			if (c) {
				int rc = wf_fold_apply(c, &ev, err, sizeof err);
				CHECK_MSG(rc == 0, "fold c, event %" PRIu64 ": %s", n,
				          err);
			}
			/* Midway: thaw some, so that later events reach thawed
			 * and re-frozen workflows too. */
			if (n == events / 3 || n == 2 * events / 3)
				frozen_mid += same_answers(a, b, 7);
			if (n == events / 2) {
				uint8_t *p;
				size_t len;
				CHECK_OK(wf_fold_save(b, &p, &len));
				/* Damaged payloads are refused. */
				for (size_t cut = 0; cut < len; cut += len / 16 + 1) {
					wf_fold *d;
					uint8_t *q = malloc(cut + 1);
					memcpy(q, p, cut);
					CHECK_OK(wf_fold_new(&d));
					CHECK(wf_fold_restore(d, q, cut, err, sizeof err) <
					      0);
					wf_fold_free(d);
				}
				wf_fold *d;
				uint8_t *q = malloc(len);
				memcpy(q, p, len);
				q[4] ^= 0x40; /* the version */
				CHECK_OK(wf_fold_new(&d));
				CHECK_RC(wf_fold_restore(d, q, len, err, sizeof err),
				         WF_ECORRUPT);
				wf_fold_free(d);
				CHECK_OK(wf_fold_new(&c));
				CHECK_OK(wf_fold_restore(c, p, len, err, sizeof err));
				CHECK_EQ_U64(wf_fold_last_seq(c), n);
			}
		}
		size_t frozen = same_answers(a, b, 1);
		CHECK(c != NULL);
		same_answers(a, c, 1);
		CHECK_EQ_U64(wf_fold_last_seq(c), events);
		/* A save at the end, restored. */
		{
			uint8_t *p;
			size_t len;
			wf_fold *d;
			CHECK_OK(wf_fold_save(a, &p, &len));
			CHECK_OK(wf_fold_new(&d));
			CHECK_OK(wf_fold_restore(d, p, len, err, sizeof err));
			same_answers(a, d, 1);
			wf_fold_free(d);
		}
		wf_fold_free(c);
		size_t total = 0, i = 0;
		const wf_fwf *w;
		while (wf_fold_next(a, &i, &w))
			total++;
		CHECK_MSG(frozen_mid > 0 && frozen * 2 > total,
		          "only %zu of %zu workflows were frozen", frozen, total);
		wf_fold_free(a);
		wf_fold_free(b);
		wf_synth_free(g);
	}
	printf("fold_freeze: ok\n");
	return 0;
}
