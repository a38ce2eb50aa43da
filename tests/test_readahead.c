/*
 * Readahead (wf_reader_opts.readahead): a thread reads, checks and
 * decompresses frames ahead while wf_reader_next decodes. Nothing a caller
 * can see may change but speed. Each case reads a journal twice, with
 * readahead 0 and 1, following the same script of calls (next, seek), and
 * records everything a caller can observe as text: every return code, every
 * event (seq, type, time, every field, text by length and hash), the message
 * after an error, the stats and the journal id after every call, and every
 * on_damage report in its place among the calls, with the stats the
 * callback sees. The two records must be identical.
 *
 * Journals: a clean one of many small segments (one frame larger than the
 * readahead's byte budget); torn tails (a frame cut in its payload, in its
 * header, a last frame whose checksum fails); damage in a middle frame's
 * payload and in a middle segment's header, under tolerate-tail, absolute
 * and salvage; a segment where an earlier frame was spliced in after damage
 * (salvage: "goes back", the check that needs the consumer's last event);
 * one appended to between reads (the end, for now, then more). Seeks to
 * many places, before and after reading ahead. Then: a follower with
 * readahead alongside a writer thread (for ThreadSanitizer), a close in
 * the middle of a stream, and a version 1 wf_reader_opts (its struct ends
 * before readahead: ASan catches a read past it).
 */
#include "test.h"

#include <pthread.h>

#define NEVENTS 30000
#define SEG_SIZE (32u << 10)
#define BIG_EVENT_AT 12001 /* a commit of its own with a 5 MiB field */
#define BIG_LEN ((size_t)5 << 20)

static char *big; /* the big event's text */

/* ---- the journal's events: a function of seq ----------------------------- */

static void make_event(uint64_t seq, wf_event *ev, char *text, char *json)
{
	uint64_t st = seq * 7919;
	memset(ev, 0, sizeof *ev);
	ev->type = (uint16_t)(1 + seq % 5);
	ev->time_ns = (int64_t)(seq * 1000 + seq % 7);
	uint32_t k = (uint32_t)(seq % 5);
	for (uint32_t i = 0; i < k; i++) {
		switch ((seq + i) % 4) {
		case 0:
			ev->fields[i] = wf_field_u(t_splitmix(&st));
			break;
		case 1:
			ev->fields[i] = wf_field_i(-(int64_t)(seq * 31 + i));
			break;
		case 2: {
			size_t n = (size_t)(t_splitmix(&st) % 200);
			for (size_t j = 0; j < n; j++)
				text[j] = (char)('a' + t_splitmix(&st) % 7);
			ev->fields[i] = wf_field_text(text, n);
			break;
		}
		default: {
			int n = snprintf(json, 64,
			                 "{\"seq\":%" PRIu64 ",\"i\":%u}", seq,
			                 i);
			ev->fields[i] = wf_field_json(json, (size_t)n);
		}
		}
	}
	ev->nfields = k;
	if (seq == BIG_EVENT_AT) {
		ev->nfields = 1;
		ev->fields[0] = wf_field_text(big, BIG_LEN);
	}
}

/* Commit events first..last (inclusive) in batches of varying size. */
static void write_events(wf_journal *j, uint64_t first, uint64_t last)
{
	wf_batch *b;
	wf_event ev;
	char text[256], json[64];
	CHECK_OK(wf_batch_new(&b));
	uint64_t seq = first;
	while (seq <= last) {
		uint64_t n = 1 + (seq * 13) % 37;
		if (seq < BIG_EVENT_AT && seq + n > BIG_EVENT_AT)
			n = BIG_EVENT_AT - seq;
		if (seq == BIG_EVENT_AT)
			n = 1;
		if (seq + n - 1 > last)
			n = last - seq + 1;
		for (uint64_t i = 0; i < n; i++) {
			make_event(seq + i, &ev, text, json);
			CHECK_OK(wf_batch_add(b, &ev));
		}
		uint64_t got = 0;
		CHECK_OK_MSG(wf_journal_commit(j, b, &got),
		             wf_journal_errmsg(j));
		CHECK_EQ_U64(got, seq);
		seq += n;
	}
	wf_batch_free(b);
}

/* ---- what a caller observes, as text ------------------------------------- */

typedef struct rec {
	char *p;
	size_t len, cap;
} rec;

static void rec_printf(rec *r, const char *fmt, ...) T_PRINTF(2, 3);
static void rec_printf(rec *r, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(r->p + r->len, r->cap - r->len, fmt, ap);
		va_end(ap);
		CHECK(n >= 0);
		if ((size_t)n < r->cap - r->len) {
			r->len += (size_t)n;
			return;
		}
		r->cap = r->cap ? r->cap * 2 : 1 << 16;
		while (r->cap - r->len <= (size_t)n)
			r->cap *= 2;
		r->p = realloc(r->p, r->cap);
		CHECK(r->p != NULL);
	}
}

static uint64_t fnv(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

typedef struct sess {
	wf_reader *r;
	rec log;
} sess;

static void rec_stats(sess *s)
{
	wf_journal_stats st;
	wf_reader_stats(s->r, &st);
	rec_printf(&s->log,
	           "  stats seg=%" PRIu64 " fr=%" PRIu64 " ev=%" PRIu64
	           " raw=%" PRIu64 " disk=%" PRIu64 " dmg=%" PRIu64
	           " torn=%" PRIu64 " first=%" PRIu64 " last=%" PRIu64
	           " id=%016" PRIx64 "\n",
	           st.segments, st.frames, st.events, st.bytes_raw,
	           st.bytes_disk, st.damaged, st.torn, st.first_seq,
	           st.last_seq, wf_reader_journal_id(s->r));
}

static void on_damage(void *ud, const wf_damage *d)
{
	sess *s = ud;
	rec_printf(&s->log,
	           "damage %s off=%" PRIu64 " len=%" PRIu64
	           " torn=%d: %s; msg=%s\n",
	           d->file, d->offset, d->length, d->torn, d->what,
	           wf_reader_errmsg(s->r));
	rec_stats(s);
}

static void rec_event(rec *l, const wf_event *ev)
{
	rec_printf(l, "ev %" PRIu64 " type=%u t=%" PRId64 " op=%u n=%u",
	           ev->seq, ev->type, ev->time_ns, ev->opaque, ev->nfields);
	for (uint32_t i = 0; i < ev->nfields; i++) {
		const wf_field *f = &ev->fields[i];
		if (f->kind == WF_FIELD_UINT)
			rec_printf(l, " u%" PRIu64, f->v.u);
		else if (f->kind == WF_FIELD_INT)
			rec_printf(l, " i%" PRId64, f->v.i);
		else
			rec_printf(l, " s%u:%zu:%016" PRIx64, f->kind,
			           f->v.s.len, fnv(f->v.s.ptr, f->v.s.len));
	}
	rec_printf(l, "\n");
}

/* One call of next, recorded. @return its code. */
static int call_next(sess *s)
{
	const wf_event *ev = NULL;
	int rc = wf_reader_next(s->r, &ev);
	if (rc == 1)
		rec_event(&s->log, ev);
	else
		rec_printf(&s->log, "next=%d msg=%s\n", rc,
		           rc < 0 ? wf_reader_errmsg(s->r) : "");
	rec_stats(s);
	return rc;
}

static void call_seek(sess *s, uint64_t seq)
{
	int rc = wf_reader_seek(s->r, seq);
	rec_printf(&s->log, "seek %" PRIu64 "=%d msg=%s\n", seq, rc,
	           rc < 0 ? wf_reader_errmsg(s->r) : "");
	rec_stats(s);
}

static int sess_open(sess *s, const char *dir, wf_recovery mode, int json,
                     int readahead)
{
	wf_reader_opts ro = WF_READER_OPTS_INIT;
	ro.recovery = mode;
	ro.verify_json = json;
	ro.on_damage = on_damage;
	ro.damage_ud = s;
	ro.readahead = readahead;
	memset(s, 0, sizeof *s);
	int rc = wf_reader_open(&s->r, dir, &ro);
	rec_printf(&s->log, "open=%d msg=%s\n", rc,
	           rc < 0 && s->r ? wf_reader_errmsg(s->r) : "");
	return rc;
}

/* Threads of this process now (Linux), or -1. */
static int threads_now(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Script steps: N > 0 calls of next; 0: next until it returns <= 0, then
 * twice more; SEEK(x): seek to x; END ends the script. */
#define SEEK(x) (-(int64_t)(x))
#define END INT64_MIN

static void run_script(sess *s, const int64_t *script)
{
	for (const int64_t *p = script; *p != END; p++) {
		if (*p > 0) {
			for (int64_t i = 0; i < *p; i++)
				call_next(s);
		} else if (*p == 0) {
			while (call_next(s) == 1)
				;
			call_next(s);
			call_next(s);
		} else {
			call_seek(s, (uint64_t) - *p);
		}
	}
}

static void compare(const char *what, const rec *a, const rec *b)
{
	if (a->len == b->len && memcmp(a->p, b->p, a->len) == 0)
		return;
	if (getenv("WFLOW_TEST_KEEP")) {
		/* Both records, for diff (the scratch directory is kept). */
		char pa[600], pb[600];
		t_subdir(pa, sizeof pa, "record_without.txt");
		t_subdir(pb, sizeof pb, "record_with.txt");
		t_write_file(pa, a->p, a->len);
		t_write_file(pb, b->p, b->len);
	}
	size_t i = 0, line = 1, start = 0;
	while (i < a->len && i < b->len && a->p[i] == b->p[i]) {
		if (a->p[i] == '\n') {
			line++;
			start = i + 1;
		}
		i++;
	}
	const char *ea = memchr(a->p + start, '\n', a->len - start);
	const char *eb = memchr(b->p + start, '\n', b->len - start);
	int la = ea ? (int)(ea - (a->p + start)) : (int)(a->len - start);
	int lb = eb ? (int)(eb - (b->p + start)) : (int)(b->len - start);
	t_fail(__FILE__, __LINE__,
	       "%s: readahead changed what the caller sees at line %zu:\n"
	       "  without: %.*s\n  with:    %.*s",
	       what, line, la, a->p + start, lb, b->p + start);
}

static int cases;

/* Read dir with and without readahead following script; compare. */
static void same(const char *what, const char *dir, wf_recovery mode, int json,
                 const int64_t *script)
{
	sess a, b;
	t_context("%s, mode %d, verify_json %d", what, (int)mode, json);
	int rc0 = sess_open(&a, dir, mode, json, 0);
	int rc1 = sess_open(&b, dir, mode, json, 1);
	CHECK_EQ_I64(rc0, rc1);
	if (rc0 == 0) {
		run_script(&a, script);
		run_script(&b, script);
	}
	compare(what, &a.log, &b.log);
	wf_reader_close(a.r);
	wf_reader_close(b.r);
	free(a.log.p);
	free(b.log.p);
	cases++;
}

static const wf_recovery modes[3] = {WF_RECOVER_TOLERATE_TAIL,
                                     WF_RECOVER_ABSOLUTE, WF_RECOVER_SALVAGE};

static void same_all_modes(const char *what, const char *dir,
                           const int64_t *script)
{
	for (int m = 0; m < 3; m++)
		for (int json = 0; json < 2; json++)
			same(what, dir, modes[m], json, script);
}

/* ---- journals ------------------------------------------------------------ */

static char src[512];
static t_segs segs;

static void fresh(char *out, size_t n, const char *name)
{
	t_subdir(out, n, name);
	t_rmtree(out);
	t_copy_dir(src, out);
}

/* The i-th frame of segment seg of the clean journal. */
static t_frame frame_of(size_t seg, size_t i, size_t *nf)
{
	char p[600];
	t_seg_path(p, sizeof p, src, &segs, seg);
	t_frame *f = t_frames(p, nf);
	CHECK(*nf > 0);
	if (i >= *nf)
		i = *nf - 1;
	t_frame fr = f[i];
	free(f);
	return fr;
}

static const int64_t read_all[] = {0, END};

/* Damage scripts: read to the end; seek back and read again. */
static const int64_t damaged_script[] = {0, SEEK(1), 0, SEEK(15000), 0, END};

static void case_torn(void)
{
	char dir[512], p[600];
	size_t last = segs.n - 1, nf;
	t_frame f = frame_of(last, 1000000, &nf);

	fresh(dir, sizeof dir, "torn_payload");
	t_seg_path(p, sizeof p, dir, &segs, last);
	t_truncate(p, f.off + f.h.hdr_len + f.h.comp_len / 2);
	same_all_modes("torn in a payload", dir, damaged_script);

	fresh(dir, sizeof dir, "torn_header");
	t_seg_path(p, sizeof p, dir, &segs, last);
	t_truncate(p, f.off + 6);
	same_all_modes("torn in a frame header", dir, damaged_script);

	fresh(dir, sizeof dir, "torn_sum");
	t_seg_path(p, sizeof p, dir, &segs, last);
	t_flip(p, f.off + f.len - 1, 0x40);
	same_all_modes("last frame's checksum fails", dir, damaged_script);
}

static void case_middle(void)
{
	char dir[512], p[600];
	size_t mid = segs.n / 2, nf;
	t_frame f = frame_of(mid, 3, &nf);

	fresh(dir, sizeof dir, "mid_payload");
	t_seg_path(p, sizeof p, dir, &segs, mid);
	t_flip(p, f.off + f.h.hdr_len + f.h.comp_len / 2, 0x10);
	same_all_modes("a middle frame's payload", dir, damaged_script);

	fresh(dir, sizeof dir, "mid_fhdr");
	t_seg_path(p, sizeof p, dir, &segs, mid);
	t_flip(p, f.off + 1, 0x01); /* the sync marker */
	same_all_modes("a middle frame's marker", dir, damaged_script);

	fresh(dir, sizeof dir, "mid_seghdr");
	t_seg_path(p, sizeof p, dir, &segs, mid + 1);
	t_flip(p, 20, 0x08);
	same_all_modes("a middle segment's header", dir, damaged_script);

	/* Two damaged frames in one segment and one in the next. */
	fresh(dir, sizeof dir, "mid_three");
	t_seg_path(p, sizeof p, dir, &segs, mid);
	t_flip(p, f.off + f.h.hdr_len + 1, 0x10);
	t_frame g = frame_of(mid, nf - 2, &nf);
	t_flip(p, g.off + g.len - 2, 0x10);
	t_seg_path(p, sizeof p, dir, &segs, mid + 2);
	t_frame h = frame_of(mid + 2, 0, &nf);
	t_flip(p, h.off + h.len / 2, 0x10);
	same_all_modes("three damaged frames", dir, damaged_script);
}

/*
 * A segment of the form: its frames 0..k-1, frame k damaged, then frame 0
 * again (a stream start, checksum intact), then the rest. Salvage resumes
 * at the copy of frame 0, which goes back behind what was returned: the
 * check that needs the consumer's last event.
 */
static void case_goes_back(void)
{
	char dir[512], p[600];
	size_t mid = segs.n / 2 + 1, nf;
	fresh(dir, sizeof dir, "goes_back");
	t_seg_path(p, sizeof p, dir, &segs, mid);
	size_t len;
	uint8_t *b = t_read_file(p, &len);
	t_frame f0 = frame_of(mid, 0, &nf);
	CHECK(nf >= 6);
	t_frame fk = frame_of(mid, nf / 2, &nf);
	uint8_t *out = malloc(len + f0.len);
	CHECK(out != NULL);
	size_t at = (size_t)(fk.off + fk.len);
	memcpy(out, b, at);
	out[fk.off + fk.h.hdr_len] ^= 0x20; /* frame k damaged */
	memcpy(out + at, b + f0.off, (size_t)f0.len);
	memcpy(out + at + f0.len, b + at, len - at);
	t_write_file(p, out, len + (size_t)f0.len);
	free(out);
	free(b);
	same_all_modes("an earlier frame spliced in after damage", dir,
	               damaged_script);
}

static void case_seeks(void)
{
	const int64_t s1[] = {100, SEEK(5),
	                      3,   SEEK(segs.first_seq[3]),
	                      5,   SEEK(segs.first_seq[3] + 1),
	                      2,   SEEK(segs.first_seq[segs.n - 1] - 1),
	                      0,   END};
	const int64_t s2[] = {SEEK(15000),        50, SEEK(3), 20,
	                      SEEK(29990),        0,  SEEK(1), 10,
	                      SEEK(BIG_EVENT_AT), 3,  END};
	const int64_t s3[] = {0,    SEEK(200),
	                      0,    SEEK(NEVENTS),
	                      0,    SEEK(NEVENTS + 5),
	                      0,    SEEK(NEVENTS / 2),
	                      1000, END};
	const int64_t s4[] = {SEEK(BIG_EVENT_AT - 1), 5, SEEK(1), 2, 0, END};
	const int64_t *scripts[] = {s1, s2, s3, s4};
	for (int i = 0; i < 4; i++)
		for (int m = 0; m < 3; m++)
			same("seeks in the clean journal", src, modes[m], 0,
			     scripts[i]);
}

/* A writer of SEG_SIZE segments, durability none, on dir. */
static wf_journal *open_writer(const char *dir)
{
	wf_journal_opts o;
	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	o.segment_size = SEG_SIZE;
	return t_open_writer(dir, &o);
}

/* Written while read: both readers read to the end, then more comes. */
static void case_appended(void)
{
	char dir[512];
	t_context("appended while read");
	t_subdir(dir, sizeof dir, "appended");
	wf_journal *j = open_writer(dir);
	sess a, b;
	CHECK_OK(sess_open(&a, dir, WF_RECOVER_TOLERATE_TAIL, 1, 0));
	CHECK_OK(sess_open(&b, dir, WF_RECOVER_TOLERATE_TAIL, 1, 1));
	const int64_t to_end[] = {0, END};
	uint64_t next = 1;
	for (int round = 0; round < 40; round++) {
		uint64_t n =
		        round % 7 == 3 ? 0 : 1 + (uint64_t)round * 97 % 900;
		if (n)
			write_events(j, next, next + n - 1);
		next += n;
		run_script(&a, to_end);
		run_script(&b, to_end);
		/* Some rounds stop in the middle of what was appended. */
		if (round % 5 == 1) {
			const int64_t back[] = {SEEK(next > 50 ? next - 50 : 1),
			                        7, END};
			run_script(&a, back);
			run_script(&b, back);
		}
	}
	CHECK_OK(wf_journal_close(j));
	run_script(&a, to_end);
	run_script(&b, to_end);
	compare("appended while read", &a.log, &b.log);
	wf_reader_close(a.r);
	wf_reader_close(b.r);
	free(a.log.p);
	free(b.log.p);
	cases++;
}

/* ---- a follower alongside a writer (for ThreadSanitizer) ----------------- */

static atomic_int writer_done;
static atomic_uint_fast64_t written;

static void *writer_main(void *arg)
{
	wf_journal *j = arg;
	uint64_t seq = 1;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		write_events(j, seq, seq + 199);
		seq += 200;
		atomic_store(&written, seq - 1);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((double)(t.tv_sec - t0.tv_sec) +
	                 (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 <
	         1.0 * t_scale());
	atomic_store(&writer_done, 1);
	return NULL;
}

static void case_follow(void)
{
	char dir[512];
	t_context("a follower with readahead");
	t_subdir(dir, sizeof dir, "follow");
	wf_journal *j = open_writer(dir);
	wf_reader_opts ro = WF_READER_OPTS_INIT;
	ro.readahead = 1;
	wf_reader *r = t_open_reader(dir, &ro);
	pthread_t w;
	CHECK(pthread_create(&w, NULL, writer_main, j) == 0);
	uint64_t seen = 0, ends = 0;
	int threads = -1;
	for (;;) {
		int done = atomic_load(&writer_done);
		const wf_event *ev;
		int rc;
		while ((rc = wf_reader_next(r, &ev)) == 1) {
			wf_event want;
			char text[256], json[64];
			CHECK_EQ_U64(ev->seq, seen + 1);
			make_event(ev->seq, &want, text, json);
			want.seq = ev->seq;
			CHECK_EVENT(ev, &want);
			seen++;
			if (threads < 0)
				threads = threads_now();
		}
		CHECK_OK_MSG(rc, wf_reader_errmsg(r));
		ends++;
		if (done && seen == atomic_load(&written))
			break;
	}
	CHECK(pthread_join(w, NULL) == 0);
	CHECK_OK(wf_journal_close(j));
	wf_reader_close(r);
	/* The reader's own thread ran (this one, the writer and it). */
	CHECK_MSG(threads < 0 || threads >= 3, "%d threads while reading",
	          threads);
	printf("follow: %" PRIu64 " events, %" PRIu64 " ends for now\n", seen,
	       ends);
}

/* Closed in the middle of a stream, with the thread reading ahead. */
static void case_close_early(void)
{
	t_context("closed in the middle of a stream");
	for (int k = 0; k < 20; k++) {
		wf_reader_opts ro = WF_READER_OPTS_INIT;
		ro.readahead = 1;
		wf_reader *r = t_open_reader(src, &ro);
		const wf_event *ev;
		for (int i = 0; i < k * 700; i++)
			CHECK_EQ_I64(wf_reader_next(r, &ev), 1);
		if (k % 3 == 0)
			CHECK_OK(wf_reader_seek(r, (uint64_t)k * 1000 + 1));
		wf_reader_close(r);
	}
}

/* A version 1 caller: its struct ends before readahead. */
typedef struct opts_v1 {
	unsigned version;
	wf_recovery recovery;
	const wf_io *io;
	wf_damage_fn on_damage;
	void *damage_ud;
	int verify_json;
} opts_v1;

static void case_v1(void)
{
	t_context("a version 1 wf_reader_opts");
	size_t n = offsetof(wf_reader_opts, readahead);
	CHECK_EQ_U64(offsetof(opts_v1, verify_json),
	             offsetof(wf_reader_opts, verify_json));
	opts_v1 v = {1, WF_RECOVER_ABSOLUTE, NULL, NULL, NULL, 0};
	/* Exactly as long as a version 1 struct: ASan sees a read past it. */
	unsigned char *o = malloc(n);
	CHECK(o != NULL);
	memcpy(o, &v, n);
	uint64_t count;
	char msg[512];
	CHECK_OK_MSG(t_read_all(src, (const wf_reader_opts *)(void *)o, NULL,
	                        NULL, &count, msg, sizeof msg),
	             msg);
	CHECK_EQ_U64(count, NEVENTS);
	free(o);
	wf_reader_opts o3 = WF_READER_OPTS_INIT;
	o3.version = 3;
	wf_reader *r = NULL;
	CHECK_RC(wf_reader_open(&r, src, &o3), WF_EINVAL);
	CHECK_CONTAINS(wf_reader_errmsg(r), "version 3 unknown");
	wf_reader_close(r);
}

int main(void)
{
	big = malloc(BIG_LEN);
	CHECK(big != NULL);
	uint64_t st = 42;
	for (size_t i = 0; i < BIG_LEN; i++)
		big[i] = (char)('A' + t_splitmix(&st) % 3);

	t_subdir(src, sizeof src, "clean");
	wf_journal *j = open_writer(src);
	write_events(j, 1, NEVENTS);
	CHECK_OK(wf_journal_close(j));
	t_list_segments(src, &segs);
	CHECK_MSG(segs.n >= 20, "only %zu segments", segs.n);

	same_all_modes("the clean journal", src, read_all);
	case_v1();
	case_seeks();
	case_torn();
	case_middle();
	case_goes_back();
	case_appended();
	case_close_early();
	case_follow();
	printf("readahead: %d cases identical with and without, %zu segments\n",
	       cases, segs.n);
	free(big);
	return 0;
}
