/*
 * 100 workflows at once through wf_run_async, the odd-numbered half
 * failing: each future gets its own result; list_all filters by status
 * (exactly the 50 failing ids for FAILED, the other 50 for SUCCESSFUL,
 * sorted by id); get_output of each; resume_all(include_failed=0) resumes
 * none of them, resume_all(include_failed=1) resumes exactly the 50, and
 * they then succeed. Meanwhile other threads read metadata and lists, as
 * the header allows ("every function may be called from any thread").
 */
#include <pthread.h>

#include "engine_util.h"

#define N 100

static atomic_int allow_odd; /* once set, odd inputs succeed too */
static atomic_int calls[N];

/* maybe_fail(i): i, or a failure for odd i (until allow_odd). */
static int maybe_fail(wf_ctx *ctx, const cJSON *args, void *udata,
                      cJSON **out)
{
	(void)udata;
	int i = (int)cJSON_GetArrayItem(args, 0)->valuedouble;
	atomic_fetch_add(&calls[i], 1);
	/* Long enough that the runs overlap. */
	if (wf_ctx_sleep(ctx, 0.002) != 0)
		return wf_ctx_fail(ctx, "cancelled");
	if (i % 2 && !atomic_load(&allow_odd))
		return wf_ctx_fail(ctx, "odd input %d", i);
	*out = cJSON_CreateNumber(i);
	return 0;
}

static void id_of(char *buf, size_t n, int i)
{
	snprintf(buf, n, "wf-%03d", i);
}

/* The ids with i % 2 == parity, sorted, as a JSON array. */
static cJSON *ids_with_parity(int parity)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < N; i++)
		if (i % 2 == parity) {
			char id[32];
			id_of(id, sizeof id, i);
			cJSON_AddItemToArray(a, cJSON_CreateString(id));
		}
	return a;
}

/* Readers running while the workflows do. */
static wf_engine *eng;
static atomic_int stop_readers;
static atomic_int reads;

static void *reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_readers)) {
		cJSON *l = NULL, *m = NULL;
		CHECK_E(eng, wf_list_all(eng, WF_STATUS_ALL, &l));
		CHECK(cJSON_IsArray(l) && cJSON_GetArraySize(l) <= N);
		cJSON_Delete(l);
		int rc = wf_get_metadata(eng, "wf-042", NULL, &m);
		CHECK(rc == 0 || rc == WF_ENOTFOUND);
		cJSON_Delete(m);
		atomic_fetch_add(&reads, 1);
	}
	return NULL;
}

int main(void)
{
	char dir[512];
	wf_engine *e = e_fresh(dir, "concurrent", WF_SYNC_NONE);
	wf_step *s = e_define(e, "maybe_fail", maybe_fail, NULL, NULL);
	wf_future *f[N];
	pthread_t rt[2];
	eng = e;
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&rt[i], NULL, reader, NULL) == 0);

	/* Start them all, then wait for each. */
	for (int i = 0; i < N; i++) {
		char id[32], args[32];
		id_of(id, sizeof id, i);
		snprintf(args, sizeof args, "[%d]", i);
		t_context("starting %s", id);
		CHECK_E(e, wf_run_async(e, e_node(s, NULL, args), id, NULL, &f[i]));
	}
	for (int i = 0; i < N; i++) {
		cJSON *out = NULL;
		t_context("waiting for wf-%03d", i);
		int rc = wf_future_wait(f[i], &out);
		if (i % 2) {
			CHECK_RC(rc, WF_EFAILED);
			CHECK(out == NULL);
		} else {
			CHECK_RC(rc, 0);
			CHECK_OUT_NUM(out, i);
		}
		cJSON_Delete(out);
		wf_future_free(f[i]);
		/* Failing ones ran 1 + max_retries (3) times, the others once. */
		CHECK_EQ_I64(atomic_load(&calls[i]), i % 2 ? 4 : 1);
	}
	t_context("%s", "");
	atomic_store(&stop_readers, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(rt[i], NULL);
	CHECK(atomic_load(&reads) > 0);

	/* list_all by status. */
	cJSON *failed = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_FAILED));
	cJSON *ok = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_SUCCESSFUL));
	cJSON *odd = ids_with_parity(1), *even = ids_with_parity(0);
	CHECK_JSON_SAME(failed, odd);
	CHECK_JSON_SAME(ok, even);
	cJSON_Delete(failed);
	cJSON_Delete(ok);
	cJSON *all = e_list_ids(e, WF_STATUS_ALL);
	CHECK_EQ_I64(cJSON_GetArraySize(all), N);
	for (int i = 0; i < N; i++) {
		char id[32];
		id_of(id, sizeof id, i);
		CHECK(strcmp(cJSON_GetArrayItem(all, i)->valuestring, id) == 0);
	}
	cJSON_Delete(all);
	cJSON *both = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_FAILED) |
	                                WF_STATUS_BIT(WF_STATUS_SUCCESSFUL));
	CHECK_EQ_I64(cJSON_GetArraySize(both), N);
	cJSON_Delete(both);
	cJSON *none = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_RUNNING) |
	                                WF_STATUS_BIT(WF_STATUS_RESUMABLE) |
	                                WF_STATUS_BIT(WF_STATUS_CANCELED));
	CHECK_JSON(none, "[]");
	cJSON_Delete(none);
	cJSON *nomask = e_list_ids(e, 0);
	CHECK_JSON(nomask, "[]");
	cJSON_Delete(nomask);

	/* get_output of each. */
	for (int i = 0; i < N; i++) {
		char id[32];
		cJSON *out = NULL;
		id_of(id, sizeof id, i);
		t_context("get_output(%s)", id);
		if (i % 2) {
			CHECK_ERC(e, wf_get_output(e, id, &out), WF_EFAILED);
			CHECK(out == NULL);
			CHECK_CONTAINS(wf_errmsg(e), "odd input");
		} else {
			CHECK_E(e, wf_get_output(e, id, &out));
			CHECK_OUT_NUM(out, i);
			cJSON_Delete(out);
		}
	}
	t_context("%s", "");

	/* resume_all without failed ones: nothing to resume (none is
	 * RESUMABLE), nothing runs. */
	cJSON *ids = NULL;
	size_t count = 12345;
	CHECK_E(e, wf_resume_all(e, 0, &ids, &count));
	CHECK_EQ_U64(count, 0);
	CHECK_JSON(ids, "[]");
	cJSON_Delete(ids);
	e_sleep_ms(50);
	for (int i = 0; i < N; i++)
		CHECK_EQ_I64(atomic_load(&calls[i]), i % 2 ? 4 : 1);
	cJSON *still = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_FAILED));
	CHECK_JSON_SAME(still, odd);
	cJSON_Delete(still);

	/* With failed ones: exactly the 50 failed, which now succeed. */
	atomic_store(&allow_odd, 1);
	ids = NULL;
	count = 12345;
	CHECK_E(e, wf_resume_all(e, 1, &ids, &count));
	CHECK_EQ_U64(count, N / 2);
	CHECK(cJSON_IsArray(ids) && cJSON_GetArraySize(ids) == N / 2);
	for (int i = 1; i < N; i += 2) {
		char id[32];
		int found = 0;
		cJSON *it;
		id_of(id, sizeof id, i);
		cJSON_ArrayForEach(it, ids) found += strcmp(it->valuestring, id) == 0;
		CHECK_MSG(found == 1, "%s resumed %d times", id, found);
	}
	cJSON_Delete(ids);
	for (int i = 1; i < N; i += 2) {
		char id[32];
		cJSON *out = NULL;
		id_of(id, sizeof id, i);
		t_context("get_output(%s) after resume_all", id);
		CHECK_E(e, wf_get_output(e, id, &out));
		CHECK_OUT_NUM(out, i);
		cJSON_Delete(out);
		CHECK_STATUS(e, id, WF_STATUS_SUCCESSFUL);
		CHECK_EQ_I64(atomic_load(&calls[i]), 5);
	}
	t_context("%s", "");
	for (int i = 0; i < N; i += 2)
		CHECK_EQ_I64(atomic_load(&calls[i]), 1);
	cJSON *nofail = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_FAILED));
	CHECK_JSON(nofail, "[]");
	cJSON_Delete(nofail);
	ok = e_list_ids(e, WF_STATUS_BIT(WF_STATUS_SUCCESSFUL));
	CHECK_EQ_I64(cJSON_GetArraySize(ok), N);
	cJSON_Delete(ok);

	/* Nothing left to resume. */
	CHECK_E(e, wf_resume_all(e, 1, NULL, &count));
	CHECK_EQ_U64(count, 0);

	cJSON_Delete(odd);
	cJSON_Delete(even);
	e_close(e);
	return 0;
}
