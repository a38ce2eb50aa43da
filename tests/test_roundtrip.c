/*
 * Round trip: write >= 2,000,000 events (WFLOW_TEST_SCALE scales it) in
 * commits of random size 1..200 into 1 MiB segments, read them back and
 * compare every field byte for byte; then reopen the writer, append, read
 * everything again; then seek.
 *
 * The expected events are not stored: event number seq is regenerated from
 * a PRNG seeded with seq (gen_event), so the check is independent of where
 * commits and segments fall.
 */
#include "test.h"

#include <xxhash.h>

#define TEXT_MAX 3000

typedef struct gen {
	wf_event ev;
	char text[WF_EVENT_MAX_FIELDS][TEXT_MAX];
} gen;

static const uint16_t types[] = {
	0, 1, 2, 7, 300, 0x7fff, WF_EVENT_SAFE_IGNORE | 5, 0xffff,
};

static const char alphabet[] = "workflow-step_0123456789abcdefXYZ";

/* Event number seq, always the same. */
static void gen_event(uint64_t seq, gen *g)
{
	uint64_t st = seq * 0xD1B54A32D192ED03ull ^ 0x5eed;
	uint64_t r = t_splitmix(&st);
	wf_event *ev = &g->ev;

	memset(ev, 0, sizeof *ev);
	ev->seq = seq;
	ev->type = types[r % (sizeof types / sizeof types[0])];
	r = t_splitmix(&st);
	if (r % 5000 == 0)
		ev->time_ns = 1;
	else if (r % 5000 == 1)
		ev->time_ns = INT64_MAX;
	else /* around 2023, not monotonic: deltas of both signs */
		ev->time_ns = 1700000000000000000ll + (int64_t)seq * 1000 +
		              (int64_t)(r % 100000) - 50000;

	r = t_splitmix(&st);
	if (r % 100 < 3)
		ev->nfields = 0;
	else if (r % 100 < 6)
		ev->nfields = WF_EVENT_MAX_FIELDS;
	else
		ev->nfields = 1 + (uint32_t)(r >> 8) % 6;

	for (uint32_t i = 0; i < ev->nfields; i++) {
		wf_field *f = &ev->fields[i];
		uint64_t k = t_splitmix(&st), v = t_splitmix(&st);
		switch (k % 4) {
		case WF_FIELD_UINT: {
			uint64_t special[] = {0, UINT64_MAX, 1, 127, 128, 16384};
			if ((k >> 8) % 4 == 0)
				*f = wf_field_u(special[v % 6]);
			else
				*f = wf_field_u(v >> (v % 64));
			break;
		}
		case WF_FIELD_INT: {
			int64_t special[] = {0, -1, INT64_MIN, INT64_MAX, -64, 63};
			if ((k >> 8) % 4 == 0)
				*f = wf_field_i(special[v % 6]);
			else
				*f = wf_field_i((int64_t)v >> (v % 64));
			break;
		}
		case WF_FIELD_TEXT: {
			size_t len;
			unsigned sel = (unsigned)((k >> 8) % 1000);
			if (sel < 120)
				len = 0;
			else if (sel == 999)
				len = 1000 + v % (TEXT_MAX - 1000);
			else
				len = 1 + v % 24;
			int binary = (k >> 20) % 3 == 0;
			for (size_t b = 0; b < len; b++) {
				uint64_t x = t_splitmix(&st);
				g->text[i][b] = binary ? (char)(x & 0xff)
				                       : alphabet[x % (sizeof alphabet - 1)];
			}
			*f = wf_field_text(g->text[i], len);
			break;
		}
		default: {
			int n;
			switch ((k >> 8) % 5) {
			case 0:
				n = snprintf(g->text[i], TEXT_MAX, "{}");
				break;
			case 1:
				n = snprintf(g->text[i], TEXT_MAX, "null");
				break;
			case 2:
				n = snprintf(g->text[i], TEXT_MAX, "[%" PRIu64 ",-%u,\"x\"]",
				             v, (unsigned)(v % 1000));
				break;
			default:
				n = snprintf(g->text[i], TEXT_MAX,
				             "{\"n\":%" PRIu64 ",\"s\":\"st\\u00e9p %u\","
				             "\"a\":[true,false,null,{\"d\":1.5e-3}]}",
				             v, (unsigned)(k % 97));
				break;
			}
			*f = wf_field_json(g->text[i], (size_t)n);
			break;
		}
		}
	}
}

static gen expect;

typedef struct verify {
	uint64_t next; /* seq the next event must have */
} verify;

static void verify_event(void *ud, const wf_event *ev)
{
	verify *v = ud;
	CHECK_EQ_U64(ev->seq, v->next);
	gen_event(v->next, &expect);
	CHECK_EVENT(ev, &expect.ev);
	v->next++;
}

/* Commit events [from, to] in commits of random size 1..200. */
static uint64_t write_events(wf_journal *j, uint64_t from, uint64_t to,
                             uint64_t *rng, uint64_t *commits)
{
	wf_batch *b;
	gen *g = malloc(sizeof *g);
	CHECK(g);
	CHECK_OK(wf_batch_new(&b));
	uint64_t seq = from;
	while (seq <= to) {
		uint64_t n = 1 + t_splitmix(rng) % 200, first = 0;
		if (n > to - seq + 1)
			n = to - seq + 1;
		for (uint64_t i = 0; i < n; i++) {
			gen_event(seq + i, g);
			CHECK_OK(wf_batch_add(b, &g->ev));
		}
		CHECK_EQ_U64(wf_batch_count(b), n);
		CHECK(wf_batch_size(b) > 0);
		CHECK_OK_MSG(wf_journal_commit(j, b, &first), wf_journal_errmsg(j));
		CHECK_EQ_U64(first, seq);
		CHECK_EQ_U64(wf_batch_count(b), 0); /* cleared on success */
		seq += n;
		(*commits)++;
	}
	wf_batch_free(b);
	free(g);
	return seq;
}

/* The segment header, field by field (format.h). */
static void check_header(const uint8_t *h, uint64_t first_seq, uint64_t id,
                         uint64_t prev_chain)
{
	CHECK(memcmp(h, WF_SEG_MAGIC, 8) == 0);
	CHECK_EQ_U64(wf_get_u32(h + 8), WF_SEG_VERSION);
	CHECK_EQ_U64(wf_get_u32(h + 12), WF_SEG_HEADER_SIZE);
	CHECK_EQ_U64(wf_get_u64(h + 24), 0); /* no incompat features */
	CHECK_EQ_U64(wf_get_u64(h + 32), id);
	CHECK_EQ_U64(wf_get_u64(h + 40), first_seq);
	CHECK_EQ_U64(wf_get_u64(h + 48), prev_chain);
	CHECK_EQ_U64(wf_get_u64(h + 56), XXH3_64bits(h, 56));
}

/* Read everything; check every event, the on-disk format and the reader's
 * counters. */
static void read_and_check(const char *dir, uint64_t n, uint64_t commits)
{
	t_segs *segs = malloc(sizeof *segs);
	wf_reader *r = t_open_reader(dir, NULL);
	verify v = {1};
	const wf_event *ev;
	int rc;

	while ((rc = wf_reader_next(r, &ev)) == 1)
		verify_event(&v, ev);
	CHECK_OK_MSG(rc, wf_reader_errmsg(r));
	CHECK_EQ_U64(v.next - 1, n);
	CHECK_EQ_U64(wf_reader_next(r, &ev), 0); /* still the end */

	t_list_segments(dir, segs);
	uint64_t disk = 0, frames = 0, events = 0, prev_sum = 0;
	uint64_t id = wf_reader_journal_id(r);
	for (size_t i = 0; i < segs->n; i++) {
		char p[512];
		size_t nf, len;
		t_seg_path(p, sizeof p, dir, segs, i);
		t_context("checking the format of %s", p);
		t_frame *f = t_frames(p, &nf);
		uint8_t *buf = t_read_file(p, &len);
		check_header(buf, segs->first_seq[i], id, prev_sum);
		CHECK(nf > 0);
		/* The name is the first frame's first seq; frames are contiguous
		 * and chained; checksums are XXH3 seeded with the journal id. */
		CHECK_EQ_U64(f[0].h.first_seq, segs->first_seq[i]);
		for (size_t k = 0; k < nf; k++) {
			const uint8_t *fr = buf + f[k].off;
			CHECK_EQ_U64(f[k].h.first_seq, events + 1);
			CHECK(f[k].h.count >= 1);
			CHECK_EQ_U64(f[k].h.prev_link, (uint32_t)prev_sum);
			CHECK_EQ_U64(f[k].h.checksum, wf_get_u64(fr + 4));
			CHECK_EQ_U64(f[k].h.checksum,
			             XXH3_64bits_withSeed(fr + WF_FRAME_SUM_START,
			                                  f[k].len - WF_FRAME_SUM_START,
			                                  id));
			CHECK_EQ_U64(f[k].h.flags & ~(unsigned)WF_FRAME_FLAGS_KNOWN, 0);
			if (k == 0) /* each segment starts a zstd stream */
				CHECK(f[k].h.flags & WF_FRAME_RESET);
			prev_sum = f[k].h.checksum;
			events += f[k].h.count;
		}
		frames += nf;
		disk += len;
		free(buf);
		free(f);
	}
	t_context("%s", "");
	CHECK_EQ_U64(events, n);
	CHECK_EQ_U64(frames, commits);

	wf_journal_stats st;
	wf_reader_stats(r, &st);
	CHECK_EQ_U64(st.events, n);
	CHECK_EQ_U64(st.frames, commits);
	CHECK_EQ_U64(st.segments, segs->n);
	CHECK_EQ_U64(st.first_seq, 1);
	CHECK_EQ_U64(st.last_seq, n);
	CHECK_EQ_U64(st.damaged, 0);
	CHECK_EQ_U64(st.torn, 0);
	CHECK_EQ_U64(st.bytes_disk, disk);
	CHECK(st.bytes_raw > 0);
	wf_reader_close(r);
	free(segs);
}

/* Seek to seq and check that the next `follow` events are seq, seq+1, ...
 * (or the end, past n). */
static void check_seek(wf_reader *r, uint64_t seq, uint64_t n, int follow)
{
	const wf_event *ev;
	t_context("seek to %" PRIu64 " (last %" PRIu64 ")", seq, n);
	CHECK_OK_MSG(wf_reader_seek(r, seq), wf_reader_errmsg(r));
	uint64_t want = seq ? seq : 1;
	for (int i = 0; i < follow; i++, want++) {
		int rc = wf_reader_next(r, &ev);
		if (want > n) {
			CHECK_RC(rc, 0);
			break;
		}
		CHECK_MSG(rc == 1, "next returned %d: %s", rc, wf_reader_errmsg(r));
		CHECK_EQ_U64(ev->seq, want);
		gen_event(want, &expect);
		CHECK_EVENT(ev, &expect.ev);
	}
	t_context("%s", "");
}

static void seeks(const char *dir, uint64_t n)
{
	t_segs *segs = malloc(sizeof *segs);
	t_list_segments(dir, segs);
	CHECK(segs->n >= 3);
	wf_reader *r = t_open_reader(dir, NULL);
	size_t mid = segs->n / 2, last = segs->n - 1;

	check_seek(r, 0, n, 3);
	check_seek(r, 1, n, 3);
	/* middle of a segment */
	check_seek(r, (segs->first_seq[mid] + segs->first_seq[mid + 1]) / 2, n, 3);
	/* exact segment starts, and across the boundary into them */
	check_seek(r, segs->first_seq[mid], n, 3);
	check_seek(r, segs->first_seq[1], n, 2);
	check_seek(r, segs->first_seq[last], n, 2);
	check_seek(r, segs->first_seq[mid] - 1, n, 3);
	check_seek(r, segs->first_seq[last] - 1, n, 3);
	/* last, past the end, then back to the start */
	check_seek(r, n, n, 2);
	check_seek(r, n + 1, n, 1);
	check_seek(r, n + 1000000, n, 1);
	check_seek(r, UINT64_MAX, n, 1);
	check_seek(r, 2, n, 3);
	/* backwards within one segment */
	check_seek(r, segs->first_seq[mid] + 5, n, 2);
	check_seek(r, segs->first_seq[mid] + 1, n, 2);
	wf_reader_close(r);
	free(segs);
}

int main(void)
{
	uint64_t n = (uint64_t)(2000000 * t_scale());
	uint64_t more = n / 100 + 1;
	uint64_t rng = 42, commits = 0;
	char dir[512];
	wf_journal_opts o;
	t_segs *segs = malloc(sizeof *segs);

	if (n < 20000)
		n = 20000;
	t_subdir(dir, sizeof dir, "j");
	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	o.segment_size = 1 << 20;

	wf_journal *j = t_open_writer(dir, &o);
	CHECK_EQ_U64(wf_journal_next_seq(j), 1);
	uint64_t id = wf_journal_id(j);
	CHECK(id != 0);
	CHECK_EQ_U64(write_events(j, 1, n, &rng, &commits), n + 1);
	CHECK_EQ_U64(wf_journal_next_seq(j), n + 1);
	CHECK_OK_MSG(wf_journal_close(j), "close");

	t_list_segments(dir, segs);
	CHECK_MSG(segs->n >= 10, "only %zu segments: no rollover?", segs->n);
	CHECK_EQ_U64(segs->first_seq[0], 1);
	for (size_t i = 0; i < segs->n; i++) {
		char p[512];
		t_seg_path(p, sizeof p, dir, segs, i);
		/* 1 MiB segments, a frame may overshoot by at most one commit */
		CHECK(t_file_size(p) <= (2u << 20));
	}
	read_and_check(dir, n, commits);

	/* Reopen the writer, append, read everything again. */
	j = t_open_writer(dir, &o);
	CHECK_EQ_U64(wf_journal_next_seq(j), n + 1);
	CHECK_EQ_U64(wf_journal_id(j), id);
	wf_journal_stats st;
	wf_journal_open_stats(j, &st);
	CHECK_EQ_U64(st.torn, 0);
	CHECK_EQ_U64(st.damaged, 0);
	CHECK_EQ_U64(write_events(j, n + 1, n + more, &rng, &commits),
	             n + more + 1);
	CHECK_OK_MSG(wf_journal_close(j), "close");
	n += more;
	read_and_check(dir, n, commits);

	seeks(dir, n);

	/* A reader knows the journal's id once open, before the first next. */
	wf_reader *r = t_open_reader(dir, NULL);
	CHECK_EQ_U64(wf_reader_journal_id(r), id);
	wf_reader_close(r);

	t_list_segments(dir, segs);
	printf("roundtrip: %" PRIu64 " events, %" PRIu64 " commits, %zu segments\n",
	       n, commits, segs->n);
	free(segs);
	return 0;
}
