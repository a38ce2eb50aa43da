/*
 * Corruption away from the tail: a flipped bit in a segment header, a frame
 * header or a frame payload is detected and reported with the file and the
 * byte offset where the damaged segment or frame starts; it is never taken
 * for a torn tail (the writer refuses to open and truncates nothing);
 * salvage mode skips it and goes on; unknown incompat features and newer
 * format versions are refused, unknown compat features are accepted.
 *
 * Each case works on a fresh copy of one journal of >= 4 segments.
 */
#include "test.h"

#include <xxhash.h>

#define EVENTS_PER_COMMIT 5
#define TEXT_LEN 1000

static char src[512], work[512];
static t_segs segs;
static uint64_t nevents;

/* Event seq: incompressible text so frames and segments have known sizes. */
static void make_event(uint64_t seq, wf_event *ev, char *text)
{
	uint64_t st = seq;
	memset(ev, 0, sizeof *ev);
	ev->seq = seq;
	ev->type = 3;
	ev->time_ns = (int64_t)seq * 1000;
	ev->nfields = 2;
	ev->fields[0] = wf_field_u(seq);
	for (size_t i = 0; i < TEXT_LEN; i++)
		text[i] = (char)t_splitmix(&st);
	ev->fields[1] = wf_field_text(text, TEXT_LEN);
}

static void write_commits(wf_journal *j, int n)
{
	wf_batch *b;
	wf_event ev;
	char text[TEXT_LEN];
	CHECK_OK(wf_batch_new(&b));
	for (int c = 0; c < n; c++) {
		uint64_t first = 0;
		for (int i = 0; i < EVENTS_PER_COMMIT; i++) {
			make_event(nevents + 1 + (uint64_t)i, &ev, text);
			CHECK_OK(wf_batch_add(b, &ev));
		}
		CHECK_OK_MSG(wf_journal_commit(j, b, &first), wf_journal_errmsg(j));
		CHECK_EQ_U64(first, nevents + 1);
		nevents += EVENTS_PER_COMMIT;
	}
	wf_batch_free(b);
}

/* Events must come as 1, 2, 3, ... each intact; in salvage mode seqs from
 * skip_from up to (not including) skip_to may be missing. */
typedef struct seen {
	uint64_t last;
	uint64_t skip_from, skip_to;
	uint64_t before;     /* events returned with seq < skip_from */
	uint64_t after_skip; /* events returned with seq >= skip_to */
} seen;

static void check_event(void *ud, const wf_event *ev)
{
	seen *s = ud;
	wf_event want;
	char text[TEXT_LEN];
	uint64_t expect = s->last + 1;
	if (ev->seq != expect)
		CHECK_MSG(s->skip_from && expect >= s->skip_from &&
		              ev->seq > expect && ev->seq <= s->skip_to,
		          "after %" PRIu64 " came %" PRIu64
		          " (damage: seqs %" PRIu64 "..%" PRIu64 " may be missing)",
		          s->last, ev->seq, s->skip_from, s->skip_to);
	make_event(ev->seq, &want, text);
	CHECK_EVENT(ev, &want);
	if (ev->seq < s->skip_from)
		s->before++;
	if (s->skip_to && ev->seq >= s->skip_to)
		s->after_skip++;
	s->last = ev->seq;
}

/* Fresh copy of the journal in `work`. */
static void fresh_copy(void)
{
	t_rmtree(work);
	t_copy_dir(src, work);
}

static void seg_path(char *out, size_t n, size_t i)
{
	t_path(out, n, work, segs.name[i]);
}

/* The message or a damage report must name file `seg` and offset off. */
static void check_names(const char *msg, const t_damage *d, const char *seg,
                        uint64_t off)
{
	if (t_contains(msg, seg) && t_names_number(msg, off))
		return;
	for (int i = 0; i < d->n && i < T_MAX_DAMAGE; i++)
		if (t_names_file(d->d[i].file, seg) && d->d[i].offset == off)
			return;
	t_fail(__FILE__, __LINE__,
	       "neither the message \"%s\" nor a damage report names %s at "
	       "offset %" PRIu64,
	       msg, seg, off);
}

/*
 * Read `work` in tolerate-tail mode and in absolute mode: both must stop
 * with WF_ECORRUPT naming segment seg and offset off, having returned only
 * intact events before seq `bad_seq` (the first seq of the damaged part).
 */
static void expect_corrupt(size_t seg, uint64_t off, uint64_t bad_seq)
{
	wf_recovery modes[] = {WF_RECOVER_TOLERATE_TAIL, WF_RECOVER_ABSOLUTE};
	for (int m = 0; m < 2; m++) {
		t_damage dmg = {0};
		wf_reader_opts ro;
		seen s = {0, 0, 0, 0, 0};
		uint64_t n;
		char msg[1024];
		t_ropts_default(&ro);
		ro.recovery = modes[m];
		ro.on_damage = t_on_damage;
		ro.damage_ud = &dmg;
		int rc = t_read_all(work, &ro, check_event, &s, &n, msg, sizeof msg);
		CHECK_RC(rc, WF_ECORRUPT);
		CHECK_MSG(n < bad_seq,
		          "returned %" PRIu64 " events, damage at seq %" PRIu64, n,
		          bad_seq);
		check_names(msg, &dmg, segs.name[seg], off);
		for (int i = 0; i < dmg.n && i < T_MAX_DAMAGE; i++)
			CHECK_MSG(!dmg.d[i].torn, "damage at %s:%" PRIu64 " called torn",
			          dmg.d[i].file, dmg.d[i].offset);
	}
}

/* The writer must refuse to open `work` (damage in its last segment, not at
 * the tail), naming the file and offset, and leave the bytes as they were. */
static void expect_writer_refuses(size_t seg, uint64_t off)
{
	char p[512];
	size_t len1, len2;
	wf_journal *j = NULL;
	wf_journal_opts o;
	t_damage dmg = {0};

	seg_path(p, sizeof p, seg);
	uint8_t *before = t_read_file(p, &len1);
	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	o.on_damage = t_on_damage;
	o.damage_ud = &dmg;
	int rc = wf_journal_open(&j, work, &o);
	CHECK_RC(rc, WF_ECORRUPT);
	CHECK(j != NULL);
	check_names(wf_journal_errmsg(j), &dmg, segs.name[seg], off);
	wf_journal_close(j);
	uint8_t *after = t_read_file(p, &len2);
	CHECK_EQ_U64(len2, len1);
	CHECK(memcmp(before, after, len1) == 0);
	free(before);
	free(after);
}

/*
 * Salvage mode on `work`, damage at frame (seg, f): the damage is reported
 * at that frame's offset; reading goes on and returns every event from the
 * next segment on, intact, and nothing of the damaged frame.
 */
static void expect_salvage(size_t seg, const t_frame *f)
{
	t_damage dmg = {0};
	wf_reader_opts ro;
	char msg[1024];
	seen s = {0, f->h.first_seq, segs.first_seq[seg + 1], 0, 0};

	t_ropts_default(&ro);
	ro.recovery = WF_RECOVER_SALVAGE;
	ro.on_damage = t_on_damage;
	ro.damage_ud = &dmg;
	wf_reader *r = t_open_reader(work, &ro);
	const wf_event *ev;
	int rc;
	while ((rc = wf_reader_next(r, &ev)) == 1) {
		check_event(&s, ev);
		CHECK_MSG(ev->seq < f->h.first_seq ||
		              ev->seq >= f->h.first_seq + f->h.count,
		          "event %" PRIu64 " of the damaged frame returned", ev->seq);
	}
	snprintf(msg, sizeof msg, "%s", wf_reader_errmsg(r));
	CHECK_OK_MSG(rc, msg);
	CHECK_EQ_U64(s.last, nevents);
	CHECK_EQ_U64(s.before, f->h.first_seq - 1);
	CHECK_EQ_U64(s.after_skip, nevents - segs.first_seq[seg + 1] + 1);
	CHECK(dmg.n >= 1);
	CHECK_MSG(t_names_file(dmg.d[0].file, segs.name[seg]),
	          "damage reported in %s, expected %s", dmg.d[0].file,
	          segs.name[seg]);
	CHECK_EQ_U64(dmg.d[0].offset, f->off);
	CHECK_EQ_U64(dmg.d[0].torn, 0);
	for (int i = 1; i < dmg.n && i < T_MAX_DAMAGE; i++)
		CHECK_MSG(t_names_file(dmg.d[i].file, segs.name[seg]) &&
		              dmg.d[i].offset > f->off,
		          "extra damage report %s:%" PRIu64, dmg.d[i].file,
		          dmg.d[i].offset);
	wf_journal_stats st;
	wf_reader_stats(r, &st);
	CHECK(st.damaged >= 1);
	CHECK_EQ_U64(st.torn, 0);
	wf_reader_close(r);
}

/* Frames of segment i of the pristine journal. */
static t_frame *frames_of(size_t i, size_t *nf)
{
	char p[512];
	t_path(p, sizeof p, src, segs.name[i]);
	return t_frames(p, nf);
}

/* Rewrite header field at off of segment i (in work) and fix its checksum. */
static void patch_header(size_t i, size_t off, uint64_t value, int width)
{
	char p[512];
	size_t len;
	seg_path(p, sizeof p, i);
	uint8_t *buf = t_read_file(p, &len);
	CHECK_EQ_U64(wf_get_u64(buf + 56), XXH3_64bits(buf, 56));
	if (width == 4)
		wf_put_u32(buf + off, (uint32_t)value);
	else
		wf_put_u64(buf + off, value);
	wf_put_u64(buf + 56, XXH3_64bits(buf, 56));
	t_write_file(p, buf, len);
	free(buf);
}

static int says_incompat(const char *m)
{
	return t_contains(m, "incompat") || t_contains(m, "feature") ||
	       t_contains(m, "flag");
}

/* Reader and writer on `work` must fail with WF_EINCOMPAT, with a message
 * that says why (check_msg). Segment i is the patched one. */
static void expect_incompat(size_t i, int (*check_msg)(const char *),
                            int writer)
{
	char msg[1024];
	uint64_t n;
	seen s = {0, 0, 0, 0, 0};
	int rc = t_read_all(work, NULL, check_event, &s, &n, msg, sizeof msg);
	CHECK_RC(rc, WF_EINCOMPAT);
	CHECK(n < segs.first_seq[i]);
	CHECK_MSG(check_msg(msg), "message \"%s\" does not say why", msg);
	CHECK_CONTAINS(msg, segs.name[i]);
	if (writer) {
		wf_journal *j = NULL;
		wf_journal_opts o;
		t_opts_default(&o);
		o.durability = WF_DURABILITY_NONE;
		CHECK_RC(wf_journal_open(&j, work, &o), WF_EINCOMPAT);
		CHECK(j != NULL);
		CHECK_MSG(check_msg(wf_journal_errmsg(j)),
		          "message \"%s\" does not say why", wf_journal_errmsg(j));
		wf_journal_close(j);
	}
}

static int says_version(const char *m)
{
	return t_contains(m, "version");
}

int main(void)
{
	wf_journal_opts o;
	size_t nf;
	t_frame *f;

	t_subdir(src, sizeof src, "src");
	t_subdir(work, sizeof work, "work");
	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	o.segment_size = 64 << 10;

	/* >= 4 segments; the last with >= 4 frames (files are readable while
	 * the writer appends: NONE still writes at commit). */
	wf_journal *j = t_open_writer(src, &o);
	for (;;) {
		write_commits(j, 1);
		t_list_segments(src, &segs);
		if (segs.n < 4)
			continue;
		f = frames_of(segs.n - 1, &nf);
		free(f);
		if (nf >= 4)
			break;
	}
	CHECK_OK(wf_journal_close(j));
	t_list_segments(src, &segs);
	size_t mid = 1, last = segs.n - 1;

	/* Sanity: a fresh copy reads whole. */
	{
		fresh_copy();
		seen s = {0, 0, 0, 0, 0};
		uint64_t n;
		char msg[512];
		CHECK_OK_MSG(t_read_all(work, NULL, check_event, &s, &n, msg,
		                        sizeof msg),
		             msg);
		CHECK_EQ_U64(n, nevents);
	}

	/* (a) A bit of the middle segment's header (its first seq). */
	t_context("(a) header of %s, byte 40", segs.name[mid]);
	{
		char p[512];
		fresh_copy();
		seg_path(p, sizeof p, mid);
		t_flip(p, 40, 0x01);
		expect_corrupt(mid, 0, segs.first_seq[mid]);
		/* Salvage skips the segment and resumes with the next one. */
		t_damage dmg = {0};
		wf_reader_opts ro;
		seen s = {0, segs.first_seq[mid], segs.first_seq[mid + 1], 0, 0};
		uint64_t n;
		char msg[512];
		t_ropts_default(&ro);
		ro.recovery = WF_RECOVER_SALVAGE;
		ro.on_damage = t_on_damage;
		ro.damage_ud = &dmg;
		CHECK_OK_MSG(
		    t_read_all(work, &ro, check_event, &s, &n, msg, sizeof msg), msg);
		CHECK_EQ_U64(s.last, nevents);
		CHECK_EQ_U64(s.before, segs.first_seq[mid] - 1);
		CHECK_EQ_U64(s.after_skip, nevents - segs.first_seq[mid + 1] + 1);
		CHECK(dmg.n >= 1);
		CHECK(t_names_file(dmg.d[0].file, segs.name[mid]));
		CHECK_EQ_U64(dmg.d[0].offset, 0);
	}

	/* (b) A frame header (frame_start + 13: its comp length), in the
	 * middle segment and in the middle of the last segment. */
	f = frames_of(mid, &nf);
	CHECK(nf >= 3);
	{
		t_frame *fr = &f[nf / 2];
		char p[512];
		t_context("(b) frame header at %s:%" PRIu64 "+13", segs.name[mid],
		          fr->off);
		fresh_copy();
		seg_path(p, sizeof p, mid);
		t_flip(p, fr->off + 13, 0x04);
		expect_corrupt(mid, fr->off, fr->h.first_seq);
		expect_salvage(mid, fr);

		/* (c) The payload of the same frame. */
		t_context("(c) frame payload at %s:%" PRIu64, segs.name[mid],
		          fr->off);
		fresh_copy();
		t_flip(p, fr->off + fr->h.hdr_len + fr->h.comp_len / 2, 0x20);
		expect_corrupt(mid, fr->off, fr->h.first_seq);
		/* (d) salvage on (c) */
		t_context("(d) salvage, payload damaged at %s:%" PRIu64,
		          segs.name[mid], fr->off);
		expect_salvage(mid, fr);
	}
	free(f);

	f = frames_of(last, &nf);
	for (size_t k = 0; k + 1 < nf; k += nf / 3) {
		t_frame *fr = &f[k];
		char p[512];
		seg_path(p, sizeof p, last);
		t_context("(b) frame header at %s:%" PRIu64 "+13 (frame %zu of %zu "
		          "of the last segment)",
		          segs.name[last], fr->off, k, nf);
		fresh_copy();
		t_flip(p, fr->off + 13, 0x04);
		expect_corrupt(last, fr->off, fr->h.first_seq);
		expect_writer_refuses(last, fr->off);

		t_context("(c) frame payload at %s:%" PRIu64 " (frame %zu of %zu of "
		          "the last segment)",
		          segs.name[last], fr->off, k, nf);
		fresh_copy();
		t_flip(p, fr->off + fr->h.hdr_len + fr->h.comp_len / 2, 0x20);
		expect_corrupt(last, fr->off, fr->h.first_seq);
		expect_writer_refuses(last, fr->off);
	}
	free(f);

	/* (e) Feature flags and versions. */
	t_context("(e) unknown incompat flag in the first segment");
	fresh_copy();
	patch_header(0, 24, (uint64_t)1 << 40, 8);
	expect_incompat(0, says_incompat, 0);

	t_context("(e) unknown incompat flag in the last segment");
	fresh_copy();
	patch_header(last, 24, 1, 8);
	expect_incompat(last, says_incompat, 1);

	t_context("(e) format version 2 in the first segment");
	fresh_copy();
	patch_header(0, 8, 2, 4);
	expect_incompat(0, says_version, 0);

	t_context("(e) format version 2 in the last segment");
	fresh_copy();
	patch_header(last, 8, 2, 4);
	expect_incompat(last, says_version, 1);

	t_context("(e) unknown compat flags in every segment");
	fresh_copy();
	for (size_t i = 0; i < segs.n; i++)
		patch_header(i, 16, 0x8000000000000001ull, 8);
	{
		seen s = {0, 0, 0, 0, 0};
		uint64_t n;
		char msg[512];
		CHECK_OK_MSG(t_read_all(work, NULL, check_event, &s, &n, msg,
		                        sizeof msg),
		             msg);
		CHECK_EQ_U64(n, nevents);
		wf_journal *w = t_open_writer(work, &o);
		CHECK_EQ_U64(wf_journal_next_seq(w), nevents + 1);
		/* write_commits numbers events from nevents: keep src's count. */
		uint64_t keep = nevents;
		write_commits(w, 3);
		CHECK_OK(wf_journal_close(w));
		s.last = 0;
		CHECK_OK_MSG(t_read_all(work, NULL, check_event, &s, &n, msg,
		                        sizeof msg),
		             msg);
		CHECK_EQ_U64(n, nevents);
		nevents = keep;
	}
	t_context("%s", "");
	printf("corrupt: %zu segments, %" PRIu64 " events, all cases detected\n",
	       segs.n, nevents);
	return 0;
}
