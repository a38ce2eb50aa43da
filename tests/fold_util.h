/*
 * The fold's answers as text, for the tests that compare folds (freezing
 * on and off, wrong-kind fields, snapshots in blocks). Include after
 * test.h.
 */
#ifndef WF_TESTS_FOLD_UTIL_H
#define WF_TESTS_FOLD_UTIL_H

#include <cjson/cJSON.h>

#include "replay/fold.h"

/* get_metadata of id (step NULL: the workflow) as JSON text, or
 * "error N: message". Malloc'd. */
static inline char *fold_meta_text(wf_fold *f, const char *id,
                                   const char *step)
{
	cJSON *m = NULL;
	char err[600];
	int rc = wf_fold_metadata(f, id, step, &m, err, sizeof err);
	char *t;
	if (rc < 0) {
		t = malloc(700);
		if (t)
			snprintf(t, 700, "error %d: %s", rc, err);
	} else {
		t = cJSON_PrintUnformatted(m);
	}
	cJSON_Delete(m);
	CHECK(t != NULL);
	return t;
}

/* a and b answer get_metadata of id (step NULL: the workflow) alike. */
static inline void fold_same_meta(wf_fold *a, wf_fold *b, const char *id,
                                  const char *step)
{
	char *ma = fold_meta_text(a, id, step);
	char *mb = fold_meta_text(b, id, step);
	CHECK_MSG(strcmp(ma, mb) == 0, "workflow %s%s%s:\n%s\n%s", id,
	          step ? " step " : "", step ? step : "", ma, mb);
	free(ma);
	free(mb);
}

/* wf_fold_list of every status as JSON text. Malloc'd. */
static inline char *fold_list_text(wf_fold *f)
{
	cJSON *l = NULL;
	CHECK_OK(wf_fold_list(f, WF_STATUS_ALL, &l));
	char *t = cJSON_PrintUnformatted(l);
	cJSON_Delete(l);
	CHECK(t != NULL);
	return t;
}

#endif
