/*
 * What a crash of the file system can leave, and what recovery must make of
 * it (the cases torture/fscrash.c found):
 *  (a) a frame written after the last fdatasync is damaged and frames
 *      written after it are intact (the disk wrote unsynced sectors out of
 *      order): a torn tail, not corruption. A reader returns the commits
 *      before it and reports it torn; the writer opens, cuts it, and goes
 *      on at its sequence number;
 *  (b) the same damage in a frame that was synced (the sync mark in LOCK
 *      says so) is corruption still: readers and the writer refuse;
 *  (c) without a LOCK (a copy, a journal from before sync marks) any such
 *      damage is corruption, as it always was; with a damaged mark (a crash
 *      tore its write) it is a torn tail;
 *  (e) a journal written under durability none and closed is synced by
 *      the close: damage anywhere in it is corruption;
 *  (d) under durability none, a segment is synced before the next one is
 *      created, and a new segment's name (and the journal directory's) is
 *      synced before frames go into it, so that a machine crash leaves a
 *      prefix (a torn tail only in the last segment).
 */
#include "test.h"

#define PER_COMMIT 3
#define NSYNCED 5
#define NUNSYNCED 5
#define TEXT_LEN 300

static void make_event(int c, int i, wf_event *ev, char *text)
{
	uint64_t st = (uint64_t)c * 1000 + (uint64_t)i;
	memset(ev, 0, sizeof *ev);
	ev->type = 4;
	ev->time_ns = 1 + c;
	ev->nfields = 2;
	ev->fields[0] = wf_field_u((uint64_t)c * 100 + (uint64_t)i);
	for (size_t b = 0; b < TEXT_LEN; b++)
		text[b] = (char)t_splitmix(&st);
	ev->fields[1] = wf_field_text(text, TEXT_LEN);
}

static void commit(wf_journal *j, int c, unsigned flags)
{
	wf_batch *b;
	wf_event ev;
	char text[TEXT_LEN];
	CHECK_OK(wf_batch_new(&b));
	for (int i = 0; i < PER_COMMIT; i++) {
		make_event(c, i, &ev, text);
		CHECK_OK(wf_batch_add(b, &ev));
	}
	CHECK_OK_MSG(wf_journal_commit_flags(j, b, NULL, flags),
	             wf_journal_errmsg(j));
	wf_batch_free(b);
}

/* Events must be those of commits 0, 1, 2, ... in order. */
static void check_event(void *ud, const wf_event *ev)
{
	uint64_t *n = ud;
	wf_event want;
	char text[TEXT_LEN];
	make_event((int)(*n / PER_COMMIT), (int)(*n % PER_COMMIT), &want, text);
	want.seq = ++*n;
	CHECK_EVENT(ev, &want);
}

static char src[512], seg[64];
static t_frame *frames;
static size_t nframes;

/* A journal as a crash would find it with every sector written: NSYNCED
 * synced commits, then NUNSYNCED written with WF_COMMIT_NOSYNC; copied
 * (LOCK included) while the writer is still open. */
static void make_source(void)
{
	char work[512], p[600];
	wf_journal_opts o;
	t_subdir(work, sizeof work, "writer");
	t_subdir(src, sizeof src, "src");
	t_opts_default(&o);
	wf_journal *j = t_open_writer(work, &o);
	for (int c = 0; c < NSYNCED; c++)
		commit(j, c, 0);
	for (int c = NSYNCED; c < NSYNCED + NUNSYNCED; c++)
		commit(j, c, WF_COMMIT_NOSYNC);
	t_copy_dir(work, src);
	size_t len;
	t_path(p, sizeof p, work, "LOCK");
	uint8_t *lock = t_read_file(p, &len);
	CHECK_MSG(len == 40,
	          "LOCK holds %zu bytes, expected a 40-byte sync mark", len);
	t_path(p, sizeof p, src, "LOCK");
	t_write_file(p, lock, len);
	free(lock);
	CHECK_OK(wf_journal_close(j));
	t_segs s;
	t_list_segments(src, &s);
	CHECK_EQ_U64(s.n, 1);
	snprintf(seg, sizeof seg, "%s", s.name[0]);
	t_path(p, sizeof p, src, seg);
	frames = t_frames(p, &nframes);
	CHECK_EQ_U64(nframes, NSYNCED + NUNSYNCED);
}

/* dst = src with a payload byte of frame k flipped; lock: 1 copy LOCK,
 * 0 leave it out, -1 put garbage in it. */
static void damaged_copy(const char *dst, size_t k, int lock)
{
	char a[600], b[600];
	t_rmtree(dst);
	t_copy_dir(src, dst);
	t_path(b, sizeof b, dst, "LOCK");
	if (lock > 0) {
		size_t len;
		t_path(a, sizeof a, src, "LOCK");
		uint8_t *buf = t_read_file(a, &len);
		t_write_file(b, buf, len);
		free(buf);
	} else if (lock < 0) {
		uint8_t junk[40];
		uint64_t st = 99;
		for (size_t i = 0; i < sizeof junk; i++)
			junk[i] = (uint8_t)t_splitmix(&st);
		t_write_file(b, junk, sizeof junk);
	}
	t_path(a, sizeof a, dst, seg);
	t_flip(a,
	       frames[k].off + frames[k].h.hdr_len + frames[k].h.comp_len / 2,
	       0x10);
}

/* Frame k is a torn tail: readers stop before it, the writer cuts it. */
static void expect_torn(const char *dir, size_t k)
{
	t_damage dmg = {0};
	wf_reader_opts ro;
	uint64_t n = 0, count;
	char msg[512], p[600];

	t_ropts_default(&ro);
	ro.on_damage = t_on_damage;
	ro.damage_ud = &dmg;
	CHECK_OK_MSG(
	        t_read_all(dir, &ro, check_event, &n, &count, msg, sizeof msg),
	        msg);
	CHECK_EQ_U64(count, k * PER_COMMIT);
	CHECK_EQ_U64(dmg.n, 1);
	CHECK_EQ_U64(dmg.d[0].torn, 1);
	CHECK_EQ_U64(dmg.d[0].offset, frames[k].off);

	ro.recovery = WF_RECOVER_ABSOLUTE;
	ro.on_damage = NULL;
	n = 0;
	CHECK_RC(t_read_all(dir, &ro, check_event, &n, &count, msg, sizeof msg),
	         WF_ECORRUPT);

	wf_journal_opts o;
	t_damage wd = {0};
	t_opts_default(&o);
	o.on_damage = t_on_damage;
	o.damage_ud = &wd;
	wf_journal *j = t_open_writer(dir, &o);
	CHECK_EQ_U64(wf_journal_next_seq(j), k * PER_COMMIT + 1);
	CHECK_EQ_U64(wd.n, 1);
	CHECK_EQ_U64(wd.d[0].torn, 1);
	CHECK_EQ_U64(wd.d[0].offset, frames[k].off);
	t_path(p, sizeof p, dir, seg);
	CHECK_EQ_U64(t_file_size(p), frames[k].off);
	commit(j, (int)k, 0);
	CHECK_OK(wf_journal_close(j));
	n = 0;
	CHECK_OK_MSG(
	        t_read_all(dir, &ro, check_event, &n, &count, msg, sizeof msg),
	        msg);
	CHECK_EQ_U64(count, (k + 1) * PER_COMMIT);
}

/* Frame k is corruption: readers fail at it, the writer refuses and
 * leaves the file as it was. */
static void expect_corrupt(const char *dir, size_t k)
{
	t_damage dmg = {0};
	wf_reader_opts ro;
	uint64_t n = 0, count;
	char msg[512], p[600];

	t_ropts_default(&ro);
	ro.on_damage = t_on_damage;
	ro.damage_ud = &dmg;
	CHECK_RC(t_read_all(dir, &ro, check_event, &n, &count, msg, sizeof msg),
	         WF_ECORRUPT);
	CHECK_EQ_U64(count, k * PER_COMMIT);
	CHECK_MSG(t_names_number(msg, frames[k].off), "message \"%s\"", msg);
	for (int i = 0; i < dmg.n && i < T_MAX_DAMAGE; i++)
		CHECK_MSG(!dmg.d[i].torn, "damage at %" PRIu64 " called torn",
		          dmg.d[i].offset);

	wf_journal_opts o;
	wf_journal *j = NULL;
	t_opts_default(&o);
	t_path(p, sizeof p, dir, seg);
	uint64_t before = t_file_size(p);
	CHECK_RC(wf_journal_open(&j, dir, &o), WF_ECORRUPT);
	CHECK_MSG(t_contains(wf_journal_errmsg(j), "corruption"),
	          "message \"%s\"", wf_journal_errmsg(j));
	wf_journal_close(j);
	CHECK_EQ_U64(t_file_size(p), before);
}

/* ---- (d): the order of syncs under durability none ---------------------- */

#define MAX_FDS 1024

typedef struct order_io {
	const wf_io *base;
	int kind[MAX_FDS];  /* 0 other, 1 segment, 2 directory */
	int dirty[MAX_FDS]; /* written since its last sync */
	int dir_pending;    /* a mkdir or rename not yet followed by a dir
	                       fsync */
	int created;        /* segments created */
	char why[256];      /* the first violation */
} order_io;

static void violate(order_io *x, const char *what)
{
	if (!x->why[0])
		snprintf(x->why, sizeof x->why, "%s", what);
}

static int o_open(void *c, const char *p, int fl)
{
	order_io *x = c;
	size_t n = strlen(p);
	int is_tmp = n > 8 && !strcmp(p + n - 8, ".wfj.tmp");
	int is_seg = is_tmp || (n > 4 && !strcmp(p + n - 4, ".wfj"));
	if (is_tmp) {
		x->created++;
		for (int i = 0; i < MAX_FDS; i++)
			if (x->kind[i] == 1 && x->dirty[i])
				violate(x, "a new segment is created while the "
				           "one "
				           "before it has unsynced writes");
	}
	int fd = x->base->open(x->base->ctx, p, fl);
	if (fd >= 0 && fd < MAX_FDS) {
		x->kind[fd] = (fl & WF_IO_DIR) ? 2 : is_seg ? 1 : 0;
		x->dirty[fd] = 0;
	}
	return fd;
}

static int o_close(void *c, int fd)
{
	order_io *x = c;
	if (fd >= 0 && fd < MAX_FDS)
		x->kind[fd] = x->dirty[fd] = 0;
	return x->base->close(x->base->ctx, fd);
}

static ssize_t o_pwrite(void *c, int fd, const void *b, size_t n, uint64_t off)
{
	order_io *x = c;
	if (fd >= 0 && fd < MAX_FDS && x->kind[fd] == 1) {
		x->dirty[fd] = 1;
		if (off >= WF_SEG_HEADER_SIZE && x->dir_pending)
			violate(x,
			        "frames are written into a segment whose name "
			        "(or directory) is not synced yet");
	}
	return x->base->pwrite(x->base->ctx, fd, b, n, off);
}

static int o_sync(order_io *x, int fd)
{
	if (fd >= 0 && fd < MAX_FDS) {
		x->dirty[fd] = 0;
		if (x->kind[fd] == 2)
			x->dir_pending = 0;
	}
	return 0;
}

static int o_fsync(void *c, int fd)
{
	order_io *x = c;
	int rc = x->base->fsync(x->base->ctx, fd);
	return rc < 0 ? rc : o_sync(x, fd);
}

static int o_fdatasync(void *c, int fd)
{
	order_io *x = c;
	int rc = x->base->fdatasync(x->base->ctx, fd);
	return rc < 0 ? rc : o_sync(x, fd);
}

static int o_rename(void *c, const char *a, const char *b)
{
	order_io *x = c;
	int rc = x->base->rename(x->base->ctx, a, b);
	if (rc == 0)
		x->dir_pending = 1;
	return rc;
}

static int o_mkdir(void *c, const char *p)
{
	order_io *x = c;
	int rc = x->base->mkdir(x->base->ctx, p);
	if (rc == 0)
		x->dir_pending = 1;
	return rc;
}

static void check_none_order(void)
{
	static order_io x;
	wf_io io;
	char dir[512];
	wf_journal_opts o;

	t_context("(d) durability none: syncs at segment creation");
	memset(&x, 0, sizeof x);
	x.base = wf_io_posix();
	io = *x.base;
	io.ctx = &x;
	io.open = o_open;
	io.close = o_close;
	io.pwrite = o_pwrite;
	io.fsync = o_fsync;
	io.fdatasync = o_fdatasync;
	io.rename = o_rename;
	io.mkdir = o_mkdir;
	t_subdir(dir, sizeof dir, "none");
	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	o.segment_size = 4096;
	o.io = &io;
	wf_journal *j = t_open_writer(dir, &o);
	for (int c = 0; c < 60; c++)
		commit(j, c, 0);
	CHECK_OK(wf_journal_close(j));
	CHECK_MSG(!x.why[0], "%s", x.why);
	CHECK_MSG(x.created >= 4, "only %d segments created", x.created);
}

/* (e): close under durability none syncs, and the mark says so. */
static void check_none_close(void)
{
	char dir[512], p[600];
	wf_journal_opts o;
	t_context("(e) durability none, closed: damage is corruption");
	t_subdir(dir, sizeof dir, "none-closed");
	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	wf_journal *j = t_open_writer(dir, &o);
	for (int c = 0; c < NSYNCED + NUNSYNCED; c++)
		commit(j, c, 0);
	CHECK_OK(wf_journal_close(j));
	t_path(p, sizeof p, dir, seg);
	size_t n;
	t_frame *f = t_frames(p, &n);
	CHECK_EQ_U64(n, nframes);
	t_flip(p, f[n - 2].off + f[n - 2].h.hdr_len + f[n - 2].h.comp_len / 2,
	       0x10);
	free(f);
	/* The same frames as src: expect_corrupt's offsets hold. */
	expect_corrupt(dir, n - 2);
}

int main(void)
{
	char dst[512];
	make_source();
	t_subdir(dst, sizeof dst, "dst");

	t_context("(a) an unsynced frame damaged, intact frames after it");
	damaged_copy(dst, NSYNCED + 1, 1);
	expect_torn(dst, NSYNCED + 1);
	t_context("(a) the first unsynced frame damaged");
	damaged_copy(dst, NSYNCED, 1);
	expect_torn(dst, NSYNCED);

	t_context("(b) a synced frame damaged, intact frames after it");
	damaged_copy(dst, NSYNCED - 2, 1);
	expect_corrupt(dst, NSYNCED - 2);
	t_context("(b) the last synced frame damaged");
	damaged_copy(dst, NSYNCED - 1, 1);
	expect_corrupt(dst, NSYNCED - 1);

	t_context("(c) no LOCK: an unsynced frame damaged is corruption");
	damaged_copy(dst, NSYNCED + 1, 0);
	expect_corrupt(dst, NSYNCED + 1);
	t_context("(c) a damaged mark: a synced frame damaged is a torn tail");
	damaged_copy(dst, NSYNCED - 2, -1);
	expect_torn(dst, NSYNCED - 2);

	check_none_order();
	check_none_close();
	free(frames);
	t_context("%s", "");
	printf("sync_mark: torn, corrupt and durability-none cases pass\n");
	return 0;
}
