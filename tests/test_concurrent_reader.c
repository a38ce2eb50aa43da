/*
 * Readers while a writer appends: a writer thread commits batches of exactly
 * K = 7 events (each event carries its batch number and index) into small
 * segments, so it rolls over often. Meanwhile
 *  - one thread opens a reader again and again and reads to the end: it
 *    must always see whole batches (a multiple of 7 events), complete and in
 *    order, never an error;
 *  - a long-lived reader calls wf_reader_next again after it returned 0 and
 *    must see the new events (follow), still only whole batches, and at the
 *    end exactly everything the writer committed.
 */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define K 7
#define MAX_BATCHES 100000
#define TEXT_LEN 48

static char dir[512];
static wf_journal *journal;
static atomic_int writer_done;
static atomic_uint_fast64_t batches_committed;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void make_event(uint64_t seq, wf_event *ev, char *text)
{
	uint64_t st = seq;
	memset(ev, 0, sizeof *ev);
	ev->type = 5;
	ev->time_ns = (int64_t)seq;
	ev->nfields = 3;
	ev->fields[0] = wf_field_u((seq - 1) / K); /* batch number */
	ev->fields[1] = wf_field_u((seq - 1) % K); /* index in the batch */
	for (size_t i = 0; i < TEXT_LEN; i++)
		text[i] = (char)t_splitmix(&st);
	ev->fields[2] = wf_field_text(text, TEXT_LEN);
}

static void check_event(const wf_event *ev, uint64_t expect_seq)
{
	wf_event want;
	char text[TEXT_LEN];
	CHECK_EQ_U64(ev->seq, expect_seq);
	make_event(expect_seq, &want, text);
	want.seq = expect_seq;
	CHECK_EVENT(ev, &want);
}

static void *writer_main(void *arg)
{
	double seconds = *(double *)arg, end = now() + seconds;
	wf_batch *b;
	wf_event ev;
	char text[TEXT_LEN];
	uint64_t seq = 1;

	CHECK_OK(wf_batch_new(&b));
	for (uint64_t n = 0; n < MAX_BATCHES && now() < end; n++) {
		uint64_t first = 0;
		for (int i = 0; i < K; i++) {
			make_event(seq + (uint64_t)i, &ev, text);
			CHECK_OK(wf_batch_add(b, &ev));
		}
		CHECK_OK_MSG(wf_journal_commit(journal, b, &first),
		             wf_journal_errmsg(journal));
		CHECK_EQ_U64(first, seq);
		seq += K;
		atomic_store(&batches_committed, n + 1);
		if (n % 4 == 0)
			nanosleep(&(struct timespec){0, 100000}, NULL);
	}
	wf_batch_free(b);
	atomic_store(&writer_done, 1);
	return NULL;
}

typedef struct stats {
	uint64_t passes, partial_passes, max_seen, follows;
} stats;

/* Open, read to the end, close; again and again until the writer is done. */
static void *reopen_main(void *arg)
{
	stats *s = arg;
	int last_round = 0;
	while (!last_round) {
		last_round = atomic_load(&writer_done);
		uint64_t before = atomic_load(&batches_committed);
		wf_reader *r = t_open_reader(dir, NULL);
		const wf_event *ev;
		uint64_t n = 0;
		int rc;
		while ((rc = wf_reader_next(r, &ev)) == 1)
			check_event(ev, ++n);
		CHECK_OK_MSG(rc, wf_reader_errmsg(r));
		wf_reader_close(r);
		uint64_t after = atomic_load(&batches_committed);
		CHECK_MSG(n % K == 0, "pass %" PRIu64 " saw %" PRIu64 " events",
		          s->passes, n);
		/* At least what was committed before the open; at most what was
		 * committed after (plus the batch being acknowledged). */
		CHECK(n >= before * K && n <= (after + 1) * K);
		if (n > 0 && !atomic_load(&writer_done))
			s->partial_passes++;
		if (n > s->max_seen)
			s->max_seen = n;
		s->passes++;
	}
	return NULL;
}

/* One reader for the whole run, following the writer. */
static void *follow_main(void *arg)
{
	stats *s = arg;
	wf_reader *r = t_open_reader(dir, NULL);
	const wf_event *ev;
	uint64_t n = 0;
	int got_since_end = 1, ended = 0;
	for (;;) {
		int done = atomic_load(&writer_done);
		int rc = wf_reader_next(r, &ev);
		if (rc == 1) {
			check_event(ev, ++n);
			if (ended && !got_since_end)
				s->follows++; /* new events after an end */
			got_since_end = 1;
			continue;
		}
		CHECK_OK_MSG(rc, wf_reader_errmsg(r));
		CHECK_MSG(n % K == 0, "follower at the end after %" PRIu64 " events",
		          n);
		CHECK(n <= (atomic_load(&batches_committed) + 1) * K);
		ended = 1;
		got_since_end = 0;
		if (done)
			break; /* this end came after the writer finished */
		nanosleep(&(struct timespec){0, 200000}, NULL);
	}
	s->max_seen = n;
	wf_reader_close(r);
	return NULL;
}

int main(void)
{
	double seconds = 2.0 * t_scale();
	wf_journal_opts o;
	pthread_t w, ro, fo;
	stats rs = {0}, fs = {0};

	t_subdir(dir, sizeof dir, "j");
	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	o.segment_size = 64 << 10;
	journal = t_open_writer(dir, &o);

	/* The follower starts on an empty journal: its first next is the end. */
	CHECK(pthread_create(&fo, NULL, follow_main, &fs) == 0);
	CHECK(pthread_create(&ro, NULL, reopen_main, &rs) == 0);
	nanosleep(&(struct timespec){0, 20000000}, NULL);
	CHECK(pthread_create(&w, NULL, writer_main, &seconds) == 0);
	CHECK(pthread_join(w, NULL) == 0);
	CHECK(pthread_join(ro, NULL) == 0);
	CHECK(pthread_join(fo, NULL) == 0);
	CHECK_OK(wf_journal_close(journal));

	uint64_t total = atomic_load(&batches_committed) * K;
	t_segs *segs = malloc(sizeof *segs);
	t_list_segments(dir, segs);
	CHECK_MSG(segs->n >= 3, "only %zu segments: no rollover while reading",
	          segs->n);
	CHECK(total > 0);
	CHECK_EQ_U64(fs.max_seen, total);   /* the follower saw everything */
	CHECK_EQ_U64(rs.max_seen, total);   /* the last pass too */
	CHECK_MSG(fs.follows >= 2, "follower resumed after an end %" PRIu64
	          " times", fs.follows);
	CHECK_MSG(rs.partial_passes >= 2,
	          "only %" PRIu64 " passes overlapped the writer",
	          rs.partial_passes);
	printf("concurrent_reader: %" PRIu64 " events in %zu segments, %" PRIu64
	       " reader passes (%" PRIu64 " during writes), follower resumed %"
	       PRIu64 " times\n",
	       total, segs->n, rs.passes, rs.partial_passes, fs.follows);
	free(segs);
	return 0;
}
