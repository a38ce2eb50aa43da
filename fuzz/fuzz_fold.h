/*
 * What the fold's fuzz targets (fuzz_event, fuzz_snapshot) share: the
 * fold's answers as one text, to compare two folds by, and the snapshot
 * round trip (save, restore, same answers).
 */
#ifndef WF_FUZZ_FOLD_H
#define WF_FUZZ_FOLD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay/fold.h"

static inline void fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz: %s: %s\n", what, detail ? detail : "");
	abort();
}

/*
 * The fold's answers as one JSON text: the list, then each listed
 * workflow's metadata, its state if it is an actor, and each of its
 * steps' metadata (caller frees; NULL when out of memory). Thaws every
 * workflow (wf_fold_get). strict: a listed workflow must have metadata
 * (else a packed block that does not unpack is shown as such: a fuzzed
 * snapshot's blocks are only checked when a workflow is thawed). only:
 * the list, and the details of that workflow only (NULL: of all).
 */
static inline char *fuzz_answers(wf_fold *f, int strict, const char *only)
{
	cJSON *all = cJSON_CreateArray(), *list = NULL, *it;
	if (!all || wf_fold_list(f, WF_STATUS_ALL, &list) != 0) {
		cJSON_Delete(all);
		return NULL;
	}
	cJSON_AddItemToArray(all, list);
	cJSON_ArrayForEach(it, list)
	{
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(it,
		                                                   "workflow_id");
		if (!cJSON_IsString(id))
			fuzz_fail("a listed workflow has no id", NULL);
		if (only && strcmp(only, id->valuestring) != 0)
			continue;
		char err[300];
		cJSON *m = NULL;
		int rc = wf_fold_metadata(f, id->valuestring, NULL, &m, err,
		                          sizeof err);
		if (rc == WF_ENOMEM)
			continue;
		if (rc != 0 && strict)
			fuzz_fail("a listed workflow has no metadata", err);
		if (rc != 0) {
			cJSON_AddItemToArray(all, cJSON_CreateString(err));
			continue;
		}
		cJSON_AddItemToArray(all, m);
		const wf_fwf *w = wf_fold_get(f, id->valuestring);
		if (w && w->actor_class)
			cJSON_AddItemToArray(all,
			                     cJSON_Duplicate(w->actor_state, 1));
		for (size_t i = 0; w && !w->frozen && i < w->nsteps; i++) {
			cJSON *s = NULL;
			if (wf_fold_metadata(f, id->valuestring, w->order[i]->id, &s,
			                     err, sizeof err) == 0)
				cJSON_AddItemToArray(all, s);
		}
	}
	char *text = cJSON_PrintUnformatted(all);
	cJSON_Delete(all);
	return text;
}

/* Save f, restore the bytes into a new fold: it must answer want (f's
 * answers, or NULL not to compare). */
static inline void fuzz_check_restore(wf_fold *f, const char *want)
{
	uint8_t *p;
	size_t len;
	if (wf_fold_save(f, &p, &len) != 0)
		return;
	wf_fold *g;
	if (wf_fold_new(&g) != 0) {
		free(p);
		return;
	}
	char err[300];
	int rc = wf_fold_restore(g, p, len, err, sizeof err);
	if (rc == WF_ENOMEM) {
		wf_fold_free(g);
		return;
	}
	if (rc != 0)
		fuzz_fail("the fold's own snapshot does not restore", err);
	char *got = fuzz_answers(g, 0, NULL);
	if (want && got && strcmp(want, got) != 0) {
		fprintf(stderr, "fold:     %s\nrestored: %s\n", want, got);
		fuzz_fail("a restored snapshot answers differently", NULL);
	}
	free(got);
	wf_fold_free(g);
}

#endif
