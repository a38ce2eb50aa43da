/*
 * The fold reads a field only as the kind it was decoded as. A wf_field is
 * a union: a number's value shares its bytes with a text's pointer and
 * length, so a fold that reads .v.s of a UINT field reads through whatever
 * the union holds (CI's libFuzzer found two such reads, in
 * workflow_created's metadata and DAG fields).
 *
 * Here every field of every event of realistic histories (bench/synth.c)
 * is replaced in turn by a number whose union bytes, read as text, point
 * at address 16 with a length of 1 MiB, and by a text where a number was.
 * The fold must refuse the event (WF_ECORRUPT, with a message) or accept
 * it, never read through the pointer (that read faults here, and ASan
 * names it in CI's sanitizer run), and a refused event changes no answer.
 */
#include "test.h"

#include <cjson/cJSON.h>

#include "bench/synth.h"
#include "replay/fold.h"

#include "fold_util.h"

int main(void)
{
	uint64_t events = (uint64_t)(6000 * t_scale());
	if (events < 1500)
		events = 1500;
	uint64_t refused = 0, accepted = 0;
	for (int seed = 1; seed <= 3; seed++) {
		t_context("seed %d", seed);
		wf_synth *g;
		wf_fold *f;
		CHECK_OK(wf_synth_new(&g, (uint64_t)seed));
		CHECK_OK(wf_fold_new(&f));
		char err[600];
		for (uint64_t n = 1; n <= events; n++) {
			wf_event ev;
			wf_synth_next(g, &ev);
			ev.seq = n;
			for (unsigned i = 0; i < ev.nfields; i++) {
				wf_event bad = ev;
				int was_num = ev.fields[i].kind == WF_FIELD_UINT ||
				              ev.fields[i].kind == WF_FIELD_INT;
				if (was_num) {
					bad.fields[i].kind = WF_FIELD_TEXT;
					bad.fields[i].v.s.ptr = "not a number";
					bad.fields[i].v.s.len = 12;
				} else {
					bad.fields[i].v.s.ptr = (const char *)16;
					bad.fields[i].v.s.len = 1u << 20;
					bad.fields[i].kind = WF_FIELD_UINT;
				}
				/* Accepted events change the state; the probe runs
				 * on the list before and after a refusal only. */
				char *before = (n % 97 == 0) ? fold_list_text(f) : NULL;
				err[0] = '\0';
				int rc = wf_fold_apply(f, &bad, err, sizeof err);
				if (rc == 0) {
					accepted++;
				} else {
					CHECK_MSG(rc == WF_ECORRUPT,
					          "event %" PRIu64 " field %u: rc %d (%s)",
					          n, i, rc, err);
					CHECK_MSG(err[0] != '\0',
					          "event %" PRIu64 " field %u refused "
					          "without a message", n, i);
					refused++;
					if (before) {
						char *after = fold_list_text(f);
						CHECK_MSG(strcmp(before, after) == 0,
						          "event %" PRIu64 " field %u: a "
						          "refused event changed the list",
						          n, i);
						free(after);
					}
				}
				free(before);
			}
			/* The real event: refused only where a damaged copy
			 * was accepted first (e.g. created twice). */
			(void)wf_fold_apply(f, &ev, err, sizeof err);
		}
		wf_fold_free(f);
		wf_synth_free(g);
	}
	CHECK_MSG(refused > accepted,
	          "most wrong-kind fields should be refused: %" PRIu64
	          " refused, %" PRIu64 " accepted", refused, accepted);
	printf("fold_kinds refused=%" PRIu64 " accepted=%" PRIu64 "\n", refused,
	       accepted);
	return 0;
}
