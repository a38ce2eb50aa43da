/*
 * Edges of the API: missing and empty directories, error strings, NULL
 * handles, invalid options and empty commits, a file that only looks like a
 * segment, JSON verification.
 */
#include "test.h"

static void commit_one(wf_journal *j, uint64_t v)
{
	wf_batch *b;
	wf_event ev;
	memset(&ev, 0, sizeof ev);
	ev.type = 1;
	ev.time_ns = 10;
	ev.nfields = 1;
	ev.fields[0] = wf_field_u(v);
	CHECK_OK(wf_batch_new(&b));
	CHECK_OK(wf_batch_add(b, &ev));
	CHECK_OK_MSG(wf_journal_commit(j, b, NULL), wf_journal_errmsg(j));
	wf_batch_free(b);
}

static void test_strerror(void)
{
	const int codes[] = {WF_OK,      WF_EINVAL,    WF_ENOMEM,
	                     WF_EIO,     WF_ECORRUPT,  WF_EBUSY,
	                     WF_ENOTFOUND, WF_EINCOMPAT, WF_ECLOSED};
	const size_t n = sizeof codes / sizeof codes[0];
	for (size_t i = 0; i < n; i++) {
		const char *s = wf_strerror(codes[i]);
		CHECK(s != NULL && *s);
		for (size_t k = 0; k < i; k++)
			CHECK_MSG(strcmp(s, wf_strerror(codes[k])) != 0,
			          "codes %d and %d share \"%s\"", codes[i], codes[k], s);
	}
	CHECK_CONTAINS(wf_strerror(WF_ECORRUPT), "ECORRUPT");
	CHECK_CONTAINS(wf_strerror(WF_EBUSY), "EBUSY");
	CHECK(wf_strerror(-1000) != NULL);
	CHECK(wf_strerror(12345) != NULL);
	CHECK(strcmp(wf_version(), WF_VERSION_STRING) == 0);
}

int main(void)
{
	char dir[512], p[600];
	const wf_event *ev;
	wf_reader *r = NULL;
	wf_journal *j = NULL;
	wf_journal_opts o;
	uint64_t n;
	char msg[1024];

	test_strerror();

	/* NULL is fine for every close/free. */
	CHECK_OK(wf_journal_close(NULL));
	wf_reader_close(NULL);
	wf_batch_free(NULL);

	/* The writer creates the directory, but not its parent. */
	t_subdir(dir, sizeof dir, "no/such/parent");
	CHECK(wf_journal_open(&j, dir, NULL) < 0);
	CHECK(j != NULL);
	CHECK(strlen(wf_journal_errmsg(j)) > 0);
	wf_journal_close(j);

	/* An empty directory is an empty journal. */
	t_subdir(dir, sizeof dir, "empty");
	CHECK(mkdir(dir, 0755) == 0);
	r = t_open_reader(dir, NULL);
	CHECK_RC(wf_reader_next(r, &ev), 0);
	CHECK_RC(wf_reader_next(r, &ev), 0);
	wf_reader_close(r);

	/* A journal created and closed without commits: empty too. */
	t_subdir(dir, sizeof dir, "new");
	j = t_open_writer(dir, NULL);
	CHECK_EQ_U64(wf_journal_next_seq(j), 1);
	CHECK_OK(wf_journal_close(j));
	CHECK_OK_MSG(t_read_all(dir, NULL, NULL, NULL, &n, msg, sizeof msg), msg);
	CHECK_EQ_U64(n, 0);
	j = t_open_writer(dir, NULL);
	CHECK_EQ_U64(wf_journal_next_seq(j), 1);

	/* Empty commit: WF_EINVAL, and nothing is poisoned. */
	wf_batch *b;
	CHECK_OK(wf_batch_new(&b));
	CHECK_RC(wf_journal_commit(j, b, NULL), WF_EINVAL);
	CHECK(strlen(wf_journal_errmsg(j)) > 0);
	CHECK_EQ_U64(wf_journal_next_seq(j), 1);
	commit_one(j, 7);
	CHECK_EQ_U64(wf_journal_next_seq(j), 2);
	wf_batch_free(b);
	CHECK_OK(wf_journal_close(j));
	CHECK_OK_MSG(t_read_all(dir, NULL, NULL, NULL, &n, msg, sizeof msg), msg);
	CHECK_EQ_U64(n, 1);

	/* Salvage is for readers: a writer refuses it. */
	t_opts_default(&o);
	o.recovery = WF_RECOVER_SALVAGE;
	CHECK_RC(wf_journal_open(&j, dir, &o), WF_EINVAL);
	CHECK(j != NULL);
	CHECK(strlen(wf_journal_errmsg(j)) > 0);
	wf_journal_close(j);
	/* ... and the failed open left the lock free. */
	j = t_open_writer(dir, NULL);
	CHECK_OK(wf_journal_close(j));

	/* A file named like a segment that is not one: WF_ECORRUPT naming it,
	 * for readers and writers alike. */
	t_subdir(dir, sizeof dir, "impostor");
	CHECK(mkdir(dir, 0755) == 0);
	const char *name = "00000000000000000001.wfj";
	t_path(p, sizeof p, dir, name);
	{
		uint8_t junk[500];
		uint64_t st = 99;
		for (size_t i = 0; i < sizeof junk; i++)
			junk[i] = (uint8_t)t_splitmix(&st);
		t_write_file(p, junk, sizeof junk);
	}
	CHECK_RC(t_read_all(dir, NULL, NULL, NULL, &n, msg, sizeof msg),
	         WF_ECORRUPT);
	CHECK_EQ_U64(n, 0);
	CHECK_CONTAINS(msg, name);
	CHECK_MSG(t_contains(msg, "magic") || t_contains(msg, "not a") ||
	              t_contains(msg, "header"),
	          "message \"%s\" does not say what is wrong", msg);
	CHECK_RC(wf_journal_open(&j, dir, NULL), WF_ECORRUPT);
	CHECK_CONTAINS(wf_journal_errmsg(j), name);
	wf_journal_close(j);
	CHECK_EQ_U64(t_file_size(p), 500); /* left alone */

	/* verify_json: bad JSON text is damage only when asked to check. */
	t_subdir(dir, sizeof dir, "json");
	j = t_open_writer(dir, NULL);
	{
		const uint8_t bad[] = {WF_FIELD_JSON, 4, '{', 'b', 'a', 'd'};
		const uint8_t good[] = {WF_FIELD_JSON, 7, '{', '"', 'a', '"', ':',
		                        '1', '}'};
		CHECK_OK(wf_batch_new(&b));
		CHECK_OK(wf_batch_add_raw(b, 3, 5, good, sizeof good));
		CHECK_OK(wf_batch_add_raw(b, 3, 6, bad, sizeof bad));
		CHECK_OK_MSG(wf_journal_commit(j, b, NULL), wf_journal_errmsg(j));
		wf_batch_free(b);
	}
	CHECK_OK(wf_journal_close(j));
	CHECK_OK_MSG(t_read_all(dir, NULL, NULL, NULL, &n, msg, sizeof msg), msg);
	CHECK_EQ_U64(n, 2);
	{
		wf_reader_opts ro;
		t_ropts_default(&ro);
		ro.verify_json = 1;
		CHECK_RC(t_read_all(dir, &ro, NULL, NULL, &n, msg, sizeof msg),
		         WF_ECORRUPT);
		CHECK(n <= 1); /* the good event may come first */
		CHECK_CONTAINS(msg, "json");
	}

	/* No such directory: WF_ENOTFOUND naming it. */
	t_subdir(dir, sizeof dir, "missing");
	CHECK_RC(wf_reader_open(&r, dir, NULL), WF_ENOTFOUND);
	CHECK(r != NULL);
	CHECK_CONTAINS(wf_reader_errmsg(r), dir);
	wf_reader_close(r);
	CHECK(!t_exists(dir)); /* a reader creates nothing */

	printf("misc: missing/empty dirs, strerror, NULL closes, bad options, "
	       "empty commit, impostor segment, verify_json\n");
	return 0;
}
