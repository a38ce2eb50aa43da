/*
 * Torn tail: a crash can leave the last frame of the last segment cut at any
 * byte, or with garbage in it. For every such length (and every flipped
 * byte of the last frame):
 *  - a reader (tolerate-tail) returns exactly the complete commits and
 *    reports the torn tail (on_damage torn=1 at the frame's offset);
 *  - a reader or writer in WF_RECOVER_ABSOLUTE mode fails with WF_ECORRUPT
 *    and the writer leaves the file as it was;
 *  - the writer (default recovery) opens, cuts the frame, reports it, and
 *    the next commit continues at the torn commit's sequence number.
 */
#include "test.h"

#define NCOMMITS 50
#define BIG_TEXT 600

static uint64_t commit_first[NCOMMITS + 1];
static uint32_t commit_n[NCOMMITS + 1];
static char text[8][BIG_TEXT];

/* Event i of commit c (c == NCOMMITS: the commit made after recovery). The
 * last original commit is small, so its frame is short. */
static void make_event(int c, uint32_t i, wf_event *ev)
{
	memset(ev, 0, sizeof *ev);
	ev->type = (uint16_t)(10 + i);
	ev->time_ns = 1000 + (int64_t)c * 10 + i;
	ev->nfields = 3;
	ev->fields[0] = wf_field_u((uint64_t)c);
	ev->fields[1] = wf_field_u(i);
	if (c < NCOMMITS - 1) {
		uint64_t st = (uint64_t)c * 1000 + i;
		for (size_t b = 0; b < BIG_TEXT; b++)
			text[i][b] = (char)t_splitmix(&st);
		ev->fields[2] = wf_field_text(text[i], BIG_TEXT);
	} else {
		ev->fields[2] = wf_field_text(c == NCOMMITS ? "new" : "last", 3);
	}
}

static uint32_t commit_size(int c)
{
	return c < NCOMMITS - 1 ? 4 : 3;
}

static uint64_t commit_batch(wf_journal *j, int c)
{
	wf_batch *b;
	wf_event ev;
	uint64_t first = 0;
	CHECK_OK(wf_batch_new(&b));
	for (uint32_t i = 0; i < commit_size(c); i++) {
		make_event(c, i, &ev);
		CHECK_OK(wf_batch_add(b, &ev));
	}
	CHECK_OK_MSG(wf_journal_commit(j, b, &first), wf_journal_errmsg(j));
	wf_batch_free(b);
	return first;
}

/* Events must be those of commits 0..ncommits-1 (then `with_new`: the
 * commit made after recovery), in order. */
typedef struct cursor {
	int c;
	uint32_t i;
	uint64_t seq;
	int with_new;
} cursor;

static void check_next(void *ud, const wf_event *ev)
{
	cursor *cu = ud;
	wf_event want;
	if (cu->i == commit_size(cu->c)) {
		cu->c++;
		cu->i = 0;
	}
	int c = cu->c;
	if (c == NCOMMITS - 1) {
		CHECK_MSG(cu->with_new, "event %" PRIu64 " of the torn commit",
		          ev->seq);
		c = NCOMMITS;
	}
	CHECK(c < NCOMMITS + 1);
	make_event(c, cu->i, &want);
	want.seq = ++cu->seq;
	CHECK_EVENT(ev, &want);
	cu->i++;
}

/* Read dir in tolerate-tail mode: all commits but the torn one (then the new
 * one if with_new), a clean end, and the torn tail reported iff torn. */
static void check_reader(const char *dir, int with_new, int torn,
                         const char *seg, uint64_t frame_off)
{
	t_damage dmg = {0};
	wf_reader_opts ro;
	cursor cu = {0, 0, 0, with_new};
	uint64_t n;
	char msg[512];

	t_ropts_default(&ro);
	ro.on_damage = t_on_damage;
	ro.damage_ud = &dmg;
	int rc = t_read_all(dir, &ro, check_next, &cu, &n, msg, sizeof msg);
	CHECK_OK_MSG(rc, msg);
	CHECK_EQ_U64(n, commit_first[NCOMMITS - 1] - 1 +
	                    (with_new ? commit_size(NCOMMITS) : 0));
	if (torn) {
		CHECK_EQ_U64(dmg.n, 1);
		CHECK_EQ_U64(dmg.d[0].torn, 1);
		CHECK_MSG(t_names_file(dmg.d[0].file, seg), "file %s, expected %s",
		          dmg.d[0].file, seg);
		CHECK_EQ_U64(dmg.d[0].offset, frame_off);
	} else {
		CHECK_MSG(dmg.n == 0, "%d damage reports, first: %s at %" PRIu64,
		          dmg.n, dmg.d[0].what, dmg.d[0].offset);
	}
}

/* A reader in ABSOLUTE mode must fail (open or next) with WF_ECORRUPT. */
static void check_reader_absolute(const char *dir, int torn)
{
	wf_reader_opts ro;
	uint64_t n;
	char msg[512];
	t_ropts_default(&ro);
	ro.recovery = WF_RECOVER_ABSOLUTE;
	int rc = t_read_all(dir, &ro, NULL, NULL, &n, msg, sizeof msg);
	if (torn) {
		CHECK_RC(rc, WF_ECORRUPT);
		CHECK(n <= commit_first[NCOMMITS - 1] - 1);
	} else {
		CHECK_OK_MSG(rc, msg);
	}
}

/* One damaged copy: dir holds the journal with its last segment `seg`
 * (path segpath) damaged after frame_off; torn says whether it is. */
static void check_damaged(const char *dir, const char *seg,
                          const char *segpath, uint64_t frame_off, int torn)
{
	wf_journal_opts o;
	wf_journal *j = NULL;
	t_damage dmg = {0};
	uint64_t size = t_file_size(segpath);

	check_reader(dir, 0, torn, seg, frame_off);
	check_reader_absolute(dir, torn);

	/* Writer, ABSOLUTE: refuses damage and touches nothing. */
	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	o.recovery = WF_RECOVER_ABSOLUTE;
	int rc = wf_journal_open(&j, dir, &o);
	if (torn) {
		CHECK_RC(rc, WF_ECORRUPT);
		CHECK(j != NULL);
		const char *m = wf_journal_errmsg(j);
		CHECK_CONTAINS(m, seg);
		CHECK_MSG(t_names_number(m, frame_off),
		          "message \"%s\" does not name offset %" PRIu64, m, frame_off);
		CHECK_EQ_U64(t_file_size(segpath), size);
	} else {
		CHECK_OK_MSG(rc, wf_journal_errmsg(j));
		CHECK_EQ_U64(wf_journal_next_seq(j), commit_first[NCOMMITS - 1]);
	}
	CHECK_OK(wf_journal_close(j));

	/* Writer, default recovery: cuts the tail and reports it. */
	o.recovery = WF_RECOVER_TOLERATE_TAIL;
	o.on_damage = t_on_damage;
	o.damage_ud = &dmg;
	j = t_open_writer(dir, &o);
	wf_journal_stats st;
	wf_journal_open_stats(j, &st);
	if (torn) {
		CHECK_EQ_U64(dmg.n, 1);
		CHECK_EQ_U64(dmg.d[0].torn, 1);
		CHECK_MSG(t_names_file(dmg.d[0].file, seg), "file %s, expected %s",
		          dmg.d[0].file, seg);
		CHECK_EQ_U64(dmg.d[0].offset, frame_off);
		CHECK(dmg.d[0].length == 0 || dmg.d[0].length == size - frame_off);
		CHECK_EQ_U64(st.torn, 1);
	} else {
		CHECK_EQ_U64(dmg.n, 0);
		CHECK_EQ_U64(st.torn, 0);
	}
	CHECK_EQ_U64(st.damaged, 0);
	CHECK_EQ_U64(wf_journal_next_seq(j), commit_first[NCOMMITS - 1]);
	if (t_exists(segpath))
		CHECK_EQ_U64(t_file_size(segpath), frame_off);
	/* A reader while the writer holds the journal sees the intact part. */
	check_reader(dir, 0, 0, seg, frame_off);

	CHECK_EQ_U64(commit_batch(j, NCOMMITS), commit_first[NCOMMITS - 1]);
	CHECK_EQ_U64(wf_journal_next_seq(j),
	             commit_first[NCOMMITS - 1] + commit_size(NCOMMITS));
	CHECK_OK(wf_journal_close(j));
	check_reader(dir, 1, 0, seg, frame_off);
}

int main(void)
{
	char src[512], work[512], segpath[512], srcseg[512];
	wf_journal_opts o;
	t_segs *segs = malloc(sizeof *segs);

	t_subdir(src, sizeof src, "src");
	t_subdir(work, sizeof work, "work");
	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	o.segment_size = 64 << 10;

	wf_journal *j = t_open_writer(src, &o);
	uint64_t seq = 1;
	for (int c = 0; c < NCOMMITS; c++) {
		commit_first[c] = commit_batch(j, c);
		commit_n[c] = commit_size(c);
		CHECK_EQ_U64(commit_first[c], seq);
		seq += commit_n[c];
	}
	CHECK_OK(wf_journal_close(j));

	t_list_segments(src, segs);
	CHECK_MSG(segs->n >= 2, "%zu segments", segs->n);
	const char *seg = segs->name[segs->n - 1];
	t_seg_path(srcseg, sizeof srcseg, src, segs, segs->n - 1);
	t_path(segpath, sizeof segpath, work, seg);
	size_t nf;
	t_frame *f = t_frames(srcseg, &nf);
	uint64_t last = f[nf - 1].off, size = t_file_size(srcseg);
	CHECK_EQ_U64(f[nf - 1].h.first_seq, commit_first[NCOMMITS - 1]);
	CHECK_EQ_U64(f[nf - 1].h.count, commit_n[NCOMMITS - 1]);
	CHECK_EQ_U64(last + f[nf - 1].len, size);
	free(f);

	/* The intact journal reads whole. */
	{
		cursor cu = {0, 0, 0, 0};
		uint64_t n;
		char msg[512];
		CHECK_OK_MSG(t_read_all(src, NULL, NULL, &cu, &n, msg, sizeof msg),
		             msg);
		CHECK_EQ_U64(n, seq - 1);
	}

	/* Cut at every length from the frame's start to one byte short. */
	for (uint64_t len = last; len < size; len++) {
		t_context("last frame at %" PRIu64 " of %s, truncated to %" PRIu64
		          " of %" PRIu64 " bytes",
		          last, seg, len, size);
		t_rmtree(work);
		t_copy_dir(src, work);
		t_truncate(segpath, len);
		check_damaged(work, seg, segpath, last, len > last);
	}

	/* Flip a bit in every byte of the last frame (checksum-failing, or an
	 * unparseable header: a torn write all the same). */
	for (uint64_t off = last; off < size; off++) {
		t_context("last frame at %" PRIu64 " of %s, bit flipped at %" PRIu64,
		          last, seg, off);
		t_rmtree(work);
		t_copy_dir(src, work);
		t_flip(segpath, off, 0x01);
		check_damaged(work, seg, segpath, last, 1);
	}
	t_context("%s", "");
	printf("torn_tail: %" PRIu64 " cut lengths and flipped bytes checked\n",
	       2 * (size - last));
	free(segs);
	return 0;
}
