/*
 * Whole segments gone wrong: a missing middle segment, two segments with
 * their contents swapped, a segment replayed under the next one's name, a
 * segment of another journal. Each breaks the chain or the sequence numbers
 * and must stop the reader with WF_ECORRUPT naming where; events before the
 * break are returned intact, none after it.
 */
#include "test.h"

#define TEXT_LEN 800

static char src[512], other[512], work[512];
static t_segs segs, osegs;
static uint64_t nevents;

static void make_event(uint64_t seq, wf_event *ev, char *text)
{
	uint64_t st = seq;
	memset(ev, 0, sizeof *ev);
	ev->seq = seq;
	ev->type = 9;
	ev->time_ns = (int64_t)seq;
	ev->nfields = 2;
	ev->fields[0] = wf_field_i(-(int64_t)seq);
	for (size_t i = 0; i < TEXT_LEN; i++)
		text[i] = (char)t_splitmix(&st);
	ev->fields[1] = wf_field_text(text, TEXT_LEN);
}

/* Write 60 commits of 4 events into dir (same contents for any dir, so two
 * journals get the same segment names). */
static uint64_t write_journal(const char *dir)
{
	wf_journal_opts o;
	wf_batch *b;
	wf_event ev;
	char text[TEXT_LEN];
	uint64_t seq = 1;

	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	o.segment_size = 32 << 10;
	wf_journal *j = t_open_writer(dir, &o);
	CHECK_OK(wf_batch_new(&b));
	for (int c = 0; c < 60; c++) {
		for (int i = 0; i < 4; i++) {
			make_event(seq + (uint64_t)i, &ev, text);
			CHECK_OK(wf_batch_add(b, &ev));
		}
		CHECK_OK_MSG(wf_journal_commit(j, b, NULL), wf_journal_errmsg(j));
		seq += 4;
	}
	wf_batch_free(b);
	CHECK_OK(wf_journal_close(j));
	return seq - 1;
}

static void check_event(void *ud, const wf_event *ev)
{
	uint64_t *last = ud;
	wf_event want;
	char text[TEXT_LEN];
	CHECK_EQ_U64(ev->seq, *last + 1);
	make_event(ev->seq, &want, text);
	CHECK_EVENT(ev, &want);
	*last = ev->seq;
}

static void fresh_copy(void)
{
	t_rmtree(work);
	t_copy_dir(src, work);
}

static void seg_path(char *out, size_t n, const char *dir, size_t i)
{
	t_path(out, n, dir, segs.name[i]);
}

/*
 * Read work: must fail with WF_ECORRUPT after returning only events below
 * `limit`, and the message must contain one of the strings names[].
 */
static void expect_corrupt(uint64_t limit, const char *const *names,
                           size_t nnames)
{
	uint64_t last = 0, n;
	char msg[1024];
	int rc = t_read_all(work, NULL, check_event, &last, &n, msg, sizeof msg);
	CHECK_RC(rc, WF_ECORRUPT);
	CHECK_MSG(n < limit, "%" PRIu64 " events returned, limit %" PRIu64, n,
	          limit);
	for (size_t i = 0; i < nnames; i++)
		if (t_contains(msg, names[i]))
			return;
	t_fail(__FILE__, __LINE__, "message \"%s\" names none of %s%s%s", msg,
	       names[0], nnames > 1 ? ", " : "", nnames > 1 ? names[1] : "");
}

static void swap_files(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *ba = t_read_file(a, &la), *bb = t_read_file(b, &lb);
	t_write_file(a, bb, lb);
	t_write_file(b, ba, la);
	free(ba);
	free(bb);
}

int main(void)
{
	char a[512], b[512], seqname[32];

	t_subdir(src, sizeof src, "src");
	t_subdir(other, sizeof other, "other");
	t_subdir(work, sizeof work, "work");
	nevents = write_journal(src);
	CHECK_EQ_U64(write_journal(other), nevents);
	t_list_segments(src, &segs);
	t_list_segments(other, &osegs);
	CHECK_MSG(segs.n >= 4, "%zu segments", segs.n);
	CHECK_EQ_U64(osegs.n, segs.n);
	for (size_t i = 0; i < segs.n; i++)
		CHECK(strcmp(segs.name[i], osegs.name[i]) == 0);

	fresh_copy();
	{
		uint64_t last = 0, n;
		char msg[512];
		CHECK_OK_MSG(t_read_all(work, NULL, check_event, &last, &n, msg,
		                        sizeof msg),
		             msg);
		CHECK_EQ_U64(n, nevents);
	}

	/* A missing middle segment: the gap is named by its sequence number
	 * (the one expected) or by the segment after it. */
	t_context("segment %s removed", segs.name[2]);
	fresh_copy();
	seg_path(a, sizeof a, work, 2);
	CHECK(unlink(a) == 0);
	snprintf(seqname, sizeof seqname, "%" PRIu64, segs.first_seq[2]);
	{
		const char *names[] = {segs.name[3], seqname};
		expect_corrupt(segs.first_seq[2], names, 2);
		/* The message names the expected seq as a number of its own. */
		uint64_t last = 0, n;
		char msg[1024];
		t_read_all(work, NULL, check_event, &last, &n, msg, sizeof msg);
		CHECK_MSG(t_contains(msg, segs.name[3]) ||
		              t_names_number(msg, segs.first_seq[2]),
		          "message \"%s\"", msg);
	}

	/* Contents of segments 1 and 2 swapped, names kept. */
	t_context("contents of %s and %s swapped", segs.name[1], segs.name[2]);
	fresh_copy();
	seg_path(a, sizeof a, work, 1);
	seg_path(b, sizeof b, work, 2);
	swap_files(a, b);
	{
		const char *names[] = {segs.name[1], segs.name[2]};
		expect_corrupt(segs.first_seq[1], names, 2);
	}

	/* Segment 2 copied over segment 3 (replayed). */
	t_context("%s copied over %s", segs.name[2], segs.name[3]);
	fresh_copy();
	seg_path(a, sizeof a, work, 2);
	seg_path(b, sizeof b, work, 3);
	{
		size_t len;
		uint8_t *buf = t_read_file(a, &len);
		t_write_file(b, buf, len);
		free(buf);
		const char *names[] = {segs.name[3]};
		expect_corrupt(segs.first_seq[3], names, 1);
	}

	/* Segment 2 of another journal (same name, same events, other id). */
	t_context("%s taken from another journal", segs.name[2]);
	fresh_copy();
	seg_path(a, sizeof a, other, 2);
	seg_path(b, sizeof b, work, 2);
	{
		size_t len;
		uint8_t *buf = t_read_file(a, &len);
		t_write_file(b, buf, len);
		free(buf);
		const char *names[] = {segs.name[2]};
		expect_corrupt(segs.first_seq[2], names, 1);
	}

	/* The last segment of another journal: the writer must refuse it too
	 * (it would otherwise append to a foreign chain). */
	t_context("last segment %s taken from another journal",
	          segs.name[segs.n - 1]);
	fresh_copy();
	seg_path(a, sizeof a, other, segs.n - 1);
	seg_path(b, sizeof b, work, segs.n - 1);
	{
		size_t len;
		uint8_t *buf = t_read_file(a, &len);
		t_write_file(b, buf, len);
		free(buf);
		const char *names[] = {segs.name[segs.n - 1]};
		expect_corrupt(segs.first_seq[segs.n - 1], names, 1);
		wf_journal *j = NULL;
		wf_journal_opts o;
		t_opts_default(&o);
		o.durability = WF_DURABILITY_NONE;
		CHECK_RC(wf_journal_open(&j, work, &o), WF_ECORRUPT);
		CHECK(j != NULL);
		CHECK_CONTAINS(wf_journal_errmsg(j), segs.name[segs.n - 1]);
		wf_journal_close(j);
	}
	t_context("%s", "");
	printf("segments: %zu segments; gap, swap, replay, foreign detected\n",
	       segs.n);
	return 0;
}
