/*
 * Readers: iterate a journal's events in order, checking everything.
 *
 * A reader walks the segments in order of their first sequence number.
 * For each segment it checks the header (magic, checksum, version and
 * feature flags, journal id, the name matching the first seq, and the
 * chain: the header's prev chain must be the last frame of the segment
 * before). For each frame: sync marker, bounds, checksum, the prev link,
 * the sequence numbers; then it decompresses the frame (continuing the
 * segment's zstd stream) and decodes events one at a time as next() is
 * called, handing out views into its buffer.
 *
 * Readers take no lock. A writer appends whole frames with one pwrite and
 * never rewrites what it wrote, so a reader sees a prefix of frames plus,
 * perhaps, part of one frame at the very end: that is "the end, for now";
 * a later next() finds it complete. In tolerate-tail mode the same
 * incomplete (or checksum-failing, with nothing intact after it) last
 * frame is reported once as a torn tail.
 *
 * Damage elsewhere stops the reader with WF_ECORRUPT naming file and byte
 * offset, unless the mode is salvage: then the range is reported and the
 * reader resumes at the next intact frame that starts a zstd stream (a
 * frame in the middle of a stream cannot be decoded without its history).
 *
 * Two halves. The source (struct src) walks segments and frames: one
 * step (next_frame) reads, checks and decompresses the next frame into an
 * item, or ends in "the end, for now" or an error. The consumer
 * (wf_reader_next) takes items in order and decodes events out of them.
 * Without readahead the caller's thread runs each step when it needs the
 * next frame, and the step writes its counters, messages and damage
 * reports straight into the reader. With readahead a thread runs the
 * steps ahead into a ring of items (RA_SLOTS, at most about RA_BYTES of
 * payload), each item carrying what its step found (counters, the error
 * message, the damage reports): the consumer applies them when it takes
 * the item, exactly where the synchronous reader would have produced
 * them, and calls on_damage on the caller's thread. The thread stops
 * after an item that ends the stream (end for now, or an error) and the
 * consumer's next call starts it again, so that a later call sees what a
 * writer appended since and a failed read is retried as before.
 *
 * One check couples the halves: a frame must not go back behind the last
 * event the consumer decoded (last_seq), which the source cannot know
 * while items are in flight. The source keeps an upper bound (the last
 * sequence number of what it handed over); only a frame at or below it
 * (after damage, in salvage) makes it wait until the consumer has taken
 * everything and read the consumer's exact value.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsoncheck.h"

#include "segment.h"

/* A cache line: what the readahead thread and the consumer keep apart. */
#define WF_CACHE_LINE 64

/* Readahead: items in the ring. Small frames (up to a quarter of
 * RA_ARENA) are decompressed one after the other into an arena; larger
 * ones each into a buffer of its own, at most RA_BYTES of them ahead
 * beyond the first (a frame larger than that still goes through). */
#define RA_SLOTS 1024
#define RA_ARENA ((size_t)1 << 20)
#define RA_BYTES ((size_t)4 << 20)
/* Items the consumer gives back at once, and wakes up for; items the
 * thread makes between two looks at the lock. */
#define RA_BATCH 128
#define RA_PUB 32

/* Returned inside the source when a stop (seek, close) interrupts a step. */
#define STOPPED (-10000)

/* A damage report found by a step, kept for the consumer (readahead). */
typedef struct qdamage {
	size_t file, what; /* offsets into the item's text */
	uint64_t off, len;
	int torn;
	int with_err;          /* the item's message is set before it */
	wf_journal_stats upto; /* the step's counters when it was found */
} qdamage;

/* Source state that survives a seek (the rest is reset by it). */
typedef struct keep {
	uint64_t id;
	int have_id;
	uint64_t torn_at;    /* offset of a torn tail already reported + 1 */
	uint64_t retried_at; /* offset of a bad frame read twice + 1 */
	uint64_t torn_list;  /* the listing it was in (src.list_gen) */
} keep;

/*
 * What one step hands to the consumer. The first 64 bytes are all it
 * reads of a plain item (one frame, nothing else: no segment opened, no
 * report, keep unchanged), the most common kind by far: with readahead
 * each line it reads has just been written on the other core.
 */
typedef struct item {
	/* (Items start on a cache line, in a ring allocated aligned.) */
	_Alignas(WF_CACHE_LINE) int rc; /* 1 a frame, 0 the end for now,
	                                   < 0 an error */
	uint32_t flags; /* I_* */
	uint8_t *raw;
	uint32_t raw_len, count; /* (bounded by format.h) */
	uint64_t first_seq;
	uint64_t frame_off, end_pos; /* where it starts, where the next one */
	char *path;
	uint64_t a_end; /* the arena up to here is the thread's after it */
	/* the rest */
	int sticky; /* the error is sticky */
	keep k;     /* the source's keep after the step */
	/* readahead only (without it, these go straight to the reader): */
	wf_journal_stats d; /* counters of the step */
	size_t ndmg;
	uint8_t *own; /* raw points here, or into the arena */
	size_t own_cap;
	size_t path_cap;
	uint64_t path_list; /* path is of segment path_seg of that listing */
	size_t path_seg;
	qdamage *dmg;
	size_t dmg_cap;
	char *text;
	size_t text_len, text_cap;
} item;

/* item.flags: a frame and nothing else; a frame in a buffer of its own
 * counted in bytes_out. */
enum { I_PLAIN = 1, I_COUNTED = 2 };

struct wf_reader;

/* The source: owned by the readahead thread while it runs. */
typedef struct src {
	struct wf_reader *r;
	wf_seg_list segs;
	uint64_t list_gen; /* listings read so far */
	size_t seg;        /* index of the current segment in segs */
	int seg_open;
	int fd;
	wf_scan scan;
	uint64_t pos; /* offset of the next frame in the current segment */
	const char *path;

	keep k;
	uint64_t expect_seq; /* 0: unknown (start, or after skipped damage) */
	uint64_t chain;
	int chain_known;
	int after_damage;
	uint64_t seek_to;
	wf_decoder *dec;

	/* readahead: an upper bound of the consumer's last_seq, exact if
	 * seq_exact */
	uint64_t seq_hi;
	int seq_exact;
	uint64_t made;     /* items made (handed over up to r->head) */
	size_t pend_bytes; /* payload bytes of those not handed over */
	uint64_t wpos;     /* arena bytes taken so far */
	/* r->rel, r->bytes_out, r->freed as last seen, r->head as last set */
	uint64_t rel_known, freed_known, shown;
	size_t out_known;

	/* the step in progress: where its output goes */
	int direct; /* 1: straight into the reader (the caller's thread) */
	item *out;
	wf_journal_stats *st; /* &r->st, or &out->d with readahead */
	char *errmsg;         /* r->errmsg, or errbuf */
	/* With readahead, the message of an error (or of a report with_err,
	 * which comes with one): the thread stops after it, so the consumer
	 * reads it before the thread writes it again. */
	char errbuf[512];
	int oom; /* a report could not be kept */
} src;

enum { P_IDLE, P_RUN };

struct wf_reader {
	const wf_io *io;
	wf_reader_opts opts;
	char *dir;
	char errmsg[512];
	int err; /* sticky error */

	/* The source, the readahead thread's while it runs, and the
	 * consumer's fields after it: each on cache lines of its own (the
	 * reader is allocated aligned to them), so that the thread's writes
	 * for each frame do not take away the lines the consumer reads for
	 * each event. */
	_Alignas(WF_CACHE_LINE) src s;
	_Alignas(WF_CACHE_LINE) int ra; /* the readahead thread runs */
	int locks; /* mu, cv_prod and cv_cons are initialized */

	/* the consumer */
	keep committed;    /* the keep of the last item taken */
	uint64_t last_seq; /* last event returned or skipped over */
	item *cur;         /* the item events are decoded from */
	size_t raw_pos;
	uint64_t frame_seq;  /* seq of the next event in the frame */
	uint64_t frame_left; /* events left in the frame */
	int64_t prev_time;
	uint64_t seek_to;
	wf_event ev;
	wf_journal_stats st;

	/* The ring: items [rel, head) are the consumer's (taken or not),
	 * the rest the thread's; counts from the start, modulo nring. Under
	 * mu: */
	_Alignas(WF_CACHE_LINE) item *ring;
	void *ring_mem; /* what ring was allocated in (ring_new) */
	size_t nring;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv_prod, cv_cons;
	uint64_t head;    /* items the thread handed over */
	uint64_t rel;     /* items the consumer gave back (it alone writes) */
	size_t bytes_out; /* payload bytes of items [rel, head) */
	int state, stop, quit;
	int prod_wait, cons_wait, want_sync;
	uint64_t cons_from; /* head when the consumer began to wait */
	uint8_t *arena;     /* RA_ARENA bytes: payloads of small frames */
	uint64_t freed;     /* arena bytes given back (counted from 0) */
	/* the thread waits until rel, freed and bytes_out reach these */
	uint64_t wait_rel, wait_freed;
	size_t wait_bytes;
	uint64_t cons_last_seq; /* the consumer's last_seq while it waits */
	/* The consumer's own: items taken, head as last seen, items done
	 * with (given back at the next lock) and their bytes. */
	_Alignas(WF_CACHE_LINE) uint64_t c_tail, c_head, c_rel, c_freed;
	size_t c_rel_bytes;
	int at_end; /* the consumer's last item ended the stream */
};

/* ---- the source ---------------------------------------------------------- */

static void set_err(src *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof s->r->errmsg, fmt, ap);
	va_end(ap);
}

/* realloc(p, n) for an item taking a frame of raw_len bytes; out of
 * memory is said (set_err) and gives NULL. */
static void *item_realloc(src *s, void *p, size_t n, uint64_t raw_len)
{
	void *q = realloc(p, n);
	if (!q)
		set_err(s, "out of memory for a frame of %" PRIu64 " bytes in %s",
		        raw_len, s->path);
	return q;
}

/* The consumer's report: counters, then the callback. */
static void report(wf_reader *r, const char *file, uint64_t off,
                   uint64_t len, int torn, const char *what)
{
	if (torn)
		r->st.torn = 1;
	else
		r->st.damaged++;
	if (r->opts.on_damage) {
		wf_damage d = {file, off, len, torn, what};
		r->opts.on_damage(r->opts.damage_ud, &d);
	}
}

/* n zeroed items starting on a cache line, in *mem (what free takes):
 * calloc'd, so that a large ring's pages are mapped as they are first
 * used, not written up front. */
static item *ring_new(size_t n, void **mem)
{
	char *p = calloc(1, n * sizeof(item) + WF_CACHE_LINE);
	*mem = p;
	if (!p)
		return NULL;
	return (item *)(p + (WF_CACHE_LINE - (uintptr_t)p % WF_CACHE_LINE) %
	                        WF_CACHE_LINE);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 8;
	while (c < need)
		c *= 2;
	void *n = realloc(*p, c * size);
	if (!n)
		return -1;
	*p = n;
	*cap = c;
	return 0;
}

/* The source's report: to the reader now, or kept with the item. */
static void src_report(src *s, const char *file, uint64_t off, uint64_t len,
                       int torn, const char *what, int with_err)
{
	if (s->direct) {
		report(s->r, file, off, len, torn, what);
		return;
	}
	item *it = s->out;
	size_t fl = strlen(file) + 1, wl = strlen(what) + 1;
	if (grow((void **)&it->dmg, &it->dmg_cap, it->ndmg + 1,
	         sizeof *it->dmg) < 0 ||
	    grow((void **)&it->text, &it->text_cap, it->text_len + fl + wl,
	         1) < 0) {
		s->oom = 1;
		return;
	}
	qdamage *d = &it->dmg[it->ndmg++];
	d->file = it->text_len;
	memcpy(it->text + it->text_len, file, fl);
	d->what = it->text_len + fl;
	memcpy(it->text + it->text_len + fl, what, wl);
	it->text_len += fl + wl;
	d->off = off;
	d->len = len;
	d->torn = torn;
	d->with_err = with_err;
	d->upto = it->d;
}

static void close_segment(src *s)
{
	if (s->seg_open) {
		s->r->io->close(s->r->io->ctx, s->fd);
		wf_scan_free(&s->scan);
		s->seg_open = 0;
	}
}

/* Non-salvage damage: report it, remember it, return it. */
static int fail(src *s, int code, const char *file, uint64_t off,
                const char *what)
{
	set_err(s, "%s: offset %" PRIu64 ": %s", file, off, what);
	src_report(s, file, off, 0, 0, what, 1);
	s->out->sticky = 1;
	return code;
}

static int io_fail(src *s, int e, const char *file, uint64_t off)
{
	if (e == -ENOMEM) {
		set_err(s, "out of memory reading %s", file);
		s->out->sticky = 1;
		return WF_ENOMEM;
	}
	set_err(s, "cannot read %s at offset %" PRIu64 ": %s", file, off,
	        strerror(-e));
	return WF_EIO; /* not sticky: a retry may work */
}

/* Take the listing l in place of the source's (which it frees). */
static void relist_with(src *s, wf_seg_list *l)
{
	/* Keep the current index meaningful: find our segment by seq. */
	uint64_t cur = s->seg < s->segs.n ? s->segs.v[s->seg].first_seq : 0;
	size_t idx = s->seg;
	if (s->seg < s->segs.n) {
		for (idx = 0; idx < l->n && l->v[idx].first_seq < cur; idx++)
			;
	}
	if (s->seg_open) {
		/* path must stay valid: point it into the new list. */
		if (idx < l->n && l->v[idx].first_seq == cur)
			s->path = l->v[idx].path;
		else
			close_segment(s); /* our segment vanished */
	}
	wf_seg_list_free(&s->segs);
	s->segs = *l;
	s->seg = idx;
	s->list_gen++;
}

/* Re-read the directory listing (a writer may have added segments). */
static int relist(src *s)
{
	wf_seg_list l;
	int e;
	int rc = wf_seg_list_read(s->r->io, s->r->dir, &l, &e);
	if (rc < 0) {
		set_err(s, "cannot list %s: %s", s->r->dir, strerror(e));
		return rc;
	}
	relist_with(s, &l);
	return 0;
}

/* 1 if a segment after the current one exists (relisting to be sure). */
static int later_segment(src *s)
{
	if (s->seg + 1 < s->segs.n)
		return 1;
	int rc = relist(s);
	if (rc < 0)
		return rc;
	return s->seg + 1 < s->segs.n;
}

/*
 * After a seek: step over whole frames by their headers alone (no
 * checksum, no decompression) to the last frame that starts a zstd stream
 * at or before the sequence number sought, and start reading there. The
 * frames stepped over are not returned, so they need no checking; the
 * first frame read is checked against nothing before it.
 */
static int skip_to_reset(src *s)
{
	uint64_t pos = s->pos, at = s->pos, at_seq = s->expect_seq;
	while (pos < s->scan.size) {
		const uint8_t *p;
		size_t got;
		wf_frame_hdr h;
		const char *why;
		int rc = wf_scan_peek(&s->scan, pos, WF_FRAME_HDR_MAX, &p, &got);
		if (rc < 0)
			return io_fail(s, rc, s->path, pos);
		if (wf_frame_parse(p, got, &h, &why) != 0)
			break; /* let the ordinary read report it */
		if (h.first_seq > s->seek_to)
			break;
		if (h.flags & WF_FRAME_RESET) {
			at = pos;
			at_seq = h.first_seq;
		}
		if (h.comp_len > s->scan.size - pos - h.hdr_len)
			break;
		pos += h.hdr_len + h.comp_len;
	}
	if (at != s->pos) {
		s->pos = at;
		s->expect_seq = at_seq;
		s->chain_known = 0;
	}
	return 0;
}

static int open_segment(src *s)
{
	wf_reader *r = s->r;
	const wf_seg *sg = &s->segs.v[s->seg];
	s->path = sg->path;
	int fd = r->io->open(r->io->ctx, sg->path, WF_IO_RDONLY);
	if (fd == -ENOENT && s->expect_seq == 0 && s->st->segments == 0 &&
	    s->seg + 1 < s->segs.n) {
		/* Deleted since the listing, before anything was read from
		 * it: retired (journal.h, wf_journal_retire). Start later. */
		s->seg++;
		return 1;
	}
	if (fd < 0)
		return io_fail(s, fd, sg->path, 0);
	s->fd = fd;
	s->seg_open = 1;
	wf_scan_init(&s->scan, r->io, fd);
	int rc = wf_scan_refresh(&s->scan);
	const uint8_t *p;
	size_t got = 0;
	if (rc == 0)
		rc = wf_scan_peek(&s->scan, 0, WF_SEG_HEADER_SIZE, &p, &got);
	if (rc < 0) {
		close_segment(s);
		return io_fail(s, rc, sg->path, 0);
	}
	s->st->segments++;
	wf_seg_header h;
	const char *why = "segment shorter than its header";
	rc = WF_ECORRUPT;
	if (got == WF_SEG_HEADER_SIZE)
		rc = wf_seg_header_decode(p, &h, &why);
	if (rc == 0 && s->k.have_id && h.journal_id != s->k.id) {
		why = "segment belongs to another journal (journal id differs)";
		rc = WF_ECORRUPT;
	}
	if (rc == 0 && h.first_seq != sg->first_seq) {
		why = "segment header's first sequence number does not match "
		      "its file name (renamed or swapped segment)";
		rc = WF_ECORRUPT;
	}
	int link_broken = 0; /* the header is sound; the chain is not */
	if (rc == 0 && !s->after_damage) {
		link_broken = 1;
		if (s->expect_seq && h.first_seq != s->expect_seq) {
			why = h.first_seq > s->expect_seq
			          ? "segment starts after a gap in sequence "
			            "numbers (missing segment)"
			          : "segment starts before the end of the one "
			            "before it (overlapping or replayed segment)";
			rc = WF_ECORRUPT;
		} else if (s->chain_known && h.prev_chain != s->chain) {
			why = "segment does not chain to the end of the one before "
			      "it (missing, swapped or replayed segment)";
			rc = WF_ECORRUPT;
		} else {
			link_broken = 0;
		}
	}
	if (rc < 0 && link_broken && r->opts.recovery == WF_RECOVER_SALVAGE &&
	    (s->expect_seq == 0 || h.first_seq > s->expect_seq)) {
		/* A gap (a missing segment): report it, and read this intact
		 * segment rather than lose it too. */
		src_report(s, sg->path, 0, 0, 0, why, 0);
		rc = 0;
	}
	if (rc < 0) {
		if (rc == WF_EINCOMPAT || r->opts.recovery != WF_RECOVER_SALVAGE) {
			char path[4096];
			snprintf(path, sizeof path, "%s", sg->path);
			close_segment(s);
			return fail(s, rc, path, 0, why);
		}
		src_report(s, sg->path, 0, s->scan.size, 0, why, 0);
		s->after_damage = 1;
		s->chain_known = 0;
		close_segment(s);
		s->seg++;
		return 1; /* skipped; try the next one */
	}
	if (!s->k.have_id) {
		s->k.id = h.journal_id;
		s->k.have_id = 1;
	}
	if (s->after_damage) {
		/* Resuming after skipped damage: trust this header. */
		s->after_damage = 0;
	}
	s->expect_seq = h.first_seq;
	s->chain = h.prev_chain;
	s->chain_known = 1;
	s->pos = WF_SEG_HEADER_SIZE;
	s->k.retried_at = 0;
	s->st->bytes_disk += WF_SEG_HEADER_SIZE;
	if (s->seek_to > h.first_seq)
		return skip_to_reset(s);
	return 0;
}

/* Hand the items made so far to the consumer (under mu); wake it if it
 * waits and has enough to do, or if last (the thread stops or waits). */
static void publish(wf_reader *r, int last)
{
	src *s = &r->s;
	r->head = s->made;
	r->bytes_out += s->pend_bytes;
	s->pend_bytes = 0;
	if (r->cons_wait && (last || r->head - r->cons_from >= RA_BATCH ||
	                     r->bytes_out >= RA_BYTES / 4))
		pthread_cond_signal(&r->cv_cons);
}

/* Is there room for item made (and arena bytes up to a_end)? */
static int room(const wf_reader *r, uint64_t made, uint64_t a_end)
{
	return made - r->rel < r->nring &&
	       !(made > r->rel && r->bytes_out >= RA_BYTES) &&
	       a_end - r->freed <= RA_ARENA;
}

/* Under mu: hand over what is made, then wait for room for item made and
 * the arena up to a_end. The consumer wakes the thread when half the ring
 * (and arena) is free, not for each item. @return 0, or 1 to stop. */
static int wait_room(wf_reader *r, uint64_t made, uint64_t a_end)
{
	src *s = &r->s;
	publish(r, 0);
	while (!r->stop && !room(r, made, a_end)) {
		uint64_t need_rel = made + 1 - r->nring;
		if (made - r->rel >= r->nring)
			need_rel = made - r->nring / 2;
		r->wait_rel = made >= r->nring ? need_rel : 0;
		r->wait_freed = a_end > RA_ARENA ? a_end - RA_ARENA : 0;
		if (a_end - r->freed > RA_ARENA && a_end > RA_ARENA / 2)
			r->wait_freed = a_end - RA_ARENA / 2;
		r->wait_bytes = r->bytes_out >= RA_BYTES ? RA_BYTES / 2 : SIZE_MAX;
		r->prod_wait = 1;
		if (r->cons_wait)
			pthread_cond_signal(&r->cv_cons);
		pthread_cond_wait(&r->cv_prod, &r->mu);
	}
	r->prod_wait = 0;
	s->rel_known = r->rel;
	s->out_known = r->bytes_out;
	s->freed_known = r->freed;
	s->shown = r->head;
	return r->stop;
}

/* need contiguous bytes of the arena (readahead), or NULL to stop. */
static uint8_t *arena_get(src *s, size_t need)
{
	wf_reader *r = s->r;
	uint64_t at = s->wpos;
	size_t off = (size_t)(at % RA_ARENA);
	if (off + need > RA_ARENA)
		at += RA_ARENA - off; /* the rest of the arena's end is skipped */
	if (at + need - s->freed_known > RA_ARENA) {
		pthread_mutex_lock(&r->mu);
		int stop = wait_room(r, s->made, at + need);
		pthread_mutex_unlock(&r->mu);
		if (stop)
			return NULL;
	}
	s->wpos = at + need;
	return r->arena + at % RA_ARENA;
}

/*
 * Is first_seq at or behind the last event the consumer decoded? With
 * readahead, only a frame at or below what was handed over needs the
 * consumer's exact value: wait until it has taken every item.
 * @return 1 yes, 0 no, STOPPED.
 */
static int goes_back(src *s, uint64_t first_seq)
{
	wf_reader *r = s->r;
	if (s->direct)
		return first_seq <= r->last_seq;
	if (first_seq > s->seq_hi)
		return 0;
	if (!s->seq_exact) {
		pthread_mutex_lock(&r->mu);
		publish(r, 1);
		r->want_sync = 1;
		/* (Waiting, and with nothing left to take: cons_from is the
		 * head it saw last.) */
		while (!r->stop && !(r->cons_wait && r->cons_from == r->head))
			pthread_cond_wait(&r->cv_prod, &r->mu);
		r->want_sync = 0;
		int stop = r->stop;
		s->seq_hi = r->cons_last_seq;
		pthread_mutex_unlock(&r->mu);
		if (stop)
			return STOPPED;
		s->seq_exact = 1;
	}
	return first_seq <= s->seq_hi;
}

/*
 * Handle a bad frame at s->pos: torn tail, corruption, or (salvage) a
 * skipped range. @return 0 to go on reading, 2 = end for now, < 0 error.
 */
static int bad_frame(src *s, int status, const char *why)
{
	wf_reader *r = s->r;
	uint64_t next = 0;
	int found = wf_scan_find_next(&s->scan, s->pos, s->k.id,
	                              r->opts.recovery == WF_RECOVER_SALVAGE,
	                              &next);
	if (found < 0)
		return io_fail(s, found, s->path, s->pos);
	int later = 0;
	if (!found) {
		later = later_segment(s);
		if (later < 0)
			return later;
	}
	/* Salvage looked for a frame that starts a stream (to resume at):
	 * an intact frame inside a stream after the damage still makes it
	 * damage, not a torn tail (the rest of the segment is skipped). */
	int intact_after = 0;
	if (!found && !later && r->opts.recovery == WF_RECOVER_SALVAGE) {
		uint64_t any;
		intact_after =
			wf_scan_find_next(&s->scan, s->pos, s->k.id, 0, &any);
		if (intact_after < 0)
			return io_fail(s, intact_after, s->path, s->pos);
	}
	if ((found || later || intact_after) &&
	    s->k.retried_at != s->pos + 1) {
		/* A frame being written can be seen in part (a pwrite becomes
		 * visible a page at a time). The writer finishes a frame before
		 * it writes anything after it, so now that something follows,
		 * read this frame once more before judging it. */
		s->k.retried_at = s->pos + 1;
		wf_scan_invalidate(&s->scan);
		return 0;
	}
	if (found && r->opts.recovery != WF_RECOVER_SALVAGE) {
		/* Intact frames follow. In the last segment, past the writer's
		 * sync mark, that is a crash's out-of-order writes: the tail. */
		later = later_segment(s);
		if (later < 0)
			return later;
		if (!later && !wf_sync_mark_durable(r->io, -1, r->dir, s->k.id,
		                                    s->segs.v[s->seg].first_seq,
		                                    s->pos))
			found = 0;
	}
	if (intact_after &&
	    !wf_sync_mark_durable(r->io, -1, r->dir, s->k.id,
	                          s->segs.v[s->seg].first_seq, s->pos))
		intact_after = 0; /* past the sync mark: the tail, as above */
	if (!found && !later && !intact_after) {
		/* Nothing intact after it, and no later segment: the tail. */
		if (r->opts.recovery == WF_RECOVER_ABSOLUTE)
			return fail(s, WF_ECORRUPT, s->path, s->pos, why);
		if (s->k.torn_at != s->pos + 1 || s->k.torn_list != s->list_gen) {
			/* An incomplete frame may still be being written: only
			 * report it once per position. */
			s->k.torn_at = s->pos + 1;
			s->k.torn_list = s->list_gen;
			src_report(s, s->path, s->pos, s->scan.size - s->pos, 1,
			           status == WF_FRAME_INCOMPLETE
			               ? "torn tail: incomplete last frame"
			               : why,
			           0);
		}
		return 2;
	}
	if (r->opts.recovery != WF_RECOVER_SALVAGE)
		return fail(s, WF_ECORRUPT, s->path, s->pos, why);
	uint64_t end = found ? next : s->scan.size;
	src_report(s, s->path, s->pos, end - s->pos, 0, why, 0);
	s->after_damage = 1;
	s->chain_known = 0;
	s->expect_seq = 0;
	if (found) {
		s->pos = next;
	} else {
		close_segment(s);
		s->seg++;
	}
	return 0;
}

/* Read the next frame into s->out. @return 1 frame, 0 end, < 0 error
 * (STOPPED: interrupted). */
static int next_frame(src *s)
{
	item *it = s->out;
	for (;;) {
		if (!s->seg_open) {
			if (s->seg >= s->segs.n) {
				int rc = relist(s);
				if (rc < 0)
					return rc;
				if (s->seg >= s->segs.n)
					return 0;
			}
			int rc = open_segment(s);
			if (rc < 0)
				return rc;
			if (rc == 1)
				continue;
		}
		if (s->pos >= s->scan.size) {
			int rc = wf_scan_refresh(&s->scan);
			if (rc < 0)
				return io_fail(s, rc, s->path, s->pos);
		}
		if (s->pos >= s->scan.size) {
			int later = later_segment(s);
			if (later < 0)
				return later;
			if (!later)
				return 0;
			/* Re-check: the writer may have appended to this
			 * segment just before rolling over. */
			int rc = wf_scan_refresh(&s->scan);
			if (rc < 0)
				return io_fail(s, rc, s->path, s->pos);
			if (s->pos >= s->scan.size) {
				close_segment(s);
				s->seg++;
				continue;
			}
		}
		wf_frame_hdr h;
		const uint8_t *f;
		const char *why = NULL;
		int rc = wf_scan_frame(&s->scan, s->pos, s->k.id, &h, &f, &why);
		if (rc < 0)
			return io_fail(s, rc, s->path, s->pos);
		if (rc == WF_FRAME_OK) {
			int back = 0;
			if (s->chain_known && h.prev_link != (uint32_t)s->chain) {
				why = "frame does not chain to the one before it "
				      "(missing, reordered or replayed frame)";
				rc = WF_FRAME_BAD;
			} else if (s->expect_seq && h.first_seq != s->expect_seq) {
				why = "frame sequence number breaks the sequence "
				      "(missing, reordered or replayed frame)";
				rc = WF_FRAME_BAD;
			} else if ((back = goes_back(s, h.first_seq)) != 0) {
				if (back == STOPPED)
					return STOPPED;
				why = "frame sequence number goes back";
				rc = WF_FRAME_BAD;
			} else if (s->pos == WF_SEG_HEADER_SIZE &&
			           !(h.flags & WF_FRAME_RESET)) {
				why = "first frame of the segment does not start a "
				      "compression stream";
				rc = WF_FRAME_BAD;
			}
		}
		if (rc != WF_FRAME_OK) {
			rc = bad_frame(s, rc, why);
			if (rc == 2)
				return 0;
			if (rc < 0)
				return rc;
			continue;
		}
		uint64_t wpos = s->wpos;
		if (!s->direct && h.raw_len + 1 <= RA_ARENA / 4) {
			/* Readahead: small frames one after the other in the
			 * arena (each in a buffer of its own would spread them
			 * over as many pages). */
			if (!(it->raw = arena_get(s, (size_t)h.raw_len + 1)))
				return STOPPED;
		} else {
			if (h.raw_len + 1 > it->own_cap ||
			    (it->own_cap > ((size_t)1 << 20) &&
			     h.raw_len + 1 <= it->own_cap / 4 && !s->direct)) {
				/* (With readahead, an item that once held a large
				 * frame gives back most of its buffer.) */
				size_t cap = 65536;
				while (cap < h.raw_len + 1)
					cap *= 2;
				uint8_t *p = item_realloc(s, it->own, cap, h.raw_len);
				if (!p)
					return WF_ENOMEM;
				it->own = p;
				it->own_cap = cap;
			}
			it->raw = it->own;
		}
		if (wf_decoder_frame(s->dec, &h, f + h.hdr_len, it->raw, &why) <
		    0) {
			/* The checksum held, so the writer wrote this: a bug or
			 * a crafted file. Either way, damage here. (Its room in
			 * the arena is nobody's: take it back.) */
			s->wpos = wpos;
			rc = bad_frame(s, WF_FRAME_BAD, why);
			if (rc == 2)
				return 0;
			if (rc < 0)
				return rc;
			continue;
		}
		if (!it->path || it->path_list != s->list_gen ||
		    it->path_seg != s->seg) {
			size_t pl = strlen(s->path) + 1;
			if (pl > it->path_cap) {
				char *p = item_realloc(s, it->path, pl, h.raw_len);
				if (!p)
					return WF_ENOMEM;
				it->path = p;
				it->path_cap = pl;
			}
			memcpy(it->path, s->path, pl);
			it->path_list = s->list_gen;
			it->path_seg = s->seg;
		}
		it->frame_off = s->pos;
		s->k.retried_at = 0;
		s->pos += h.hdr_len + h.comp_len;
		it->end_pos = s->pos;
		s->chain = h.checksum;
		s->chain_known = 1;
		s->expect_seq = h.first_seq + h.count;
		it->raw_len = (uint32_t)h.raw_len;
		it->first_seq = h.first_seq;
		it->count = (uint32_t)h.count;
		s->after_damage = 0;
		s->st->frames++;
		s->st->bytes_raw += h.raw_len;
		s->st->bytes_disk += h.hdr_len + h.comp_len;
		if (!s->st->first_seq)
			s->st->first_seq = h.first_seq;
		return 1;
	}
}

/* One step of the source into it. @return its rc, or STOPPED. */
static int step(src *s, item *it)
{
	wf_reader *r = s->r;
	s->out = it;
	it->sticky = 0;
	if (!s->direct) {
		memset(&it->d, 0, sizeof it->d);
		it->ndmg = it->text_len = 0;
		s->st = &it->d;
		s->errmsg = s->errbuf;
		s->oom = 0;
	} else {
		s->st = &r->st;
		s->errmsg = r->errmsg;
	}
	keep k0 = s->k;
	int rc = next_frame(s);
	if (rc == STOPPED)
		return rc;
	if (s->oom) {
		/* A damage report was lost: never go on silently. */
		set_err(s, "out of memory for a damage report");
		it->sticky = 1;
		rc = WF_ENOMEM;
	}
	it->rc = rc;
	it->k = s->k;
	it->a_end = s->wpos;
	it->flags = 0;
	if (rc == 1 && !s->direct && it->ndmg == 0 && it->d.segments == 0 &&
	    it->d.bytes_disk == it->end_pos - it->frame_off &&
	    memcmp(&k0, &s->k, sizeof k0) == 0)
		it->flags = I_PLAIN;
	if (rc == 1) {
		uint64_t last = it->first_seq + it->count - 1;
		if (last > s->seq_hi)
			s->seq_hi = last;
		s->seq_exact = 0;
	}
	return rc;
}

/* ---- the readahead thread ------------------------------------------------ */

static void *producer(void *arg)
{
	wf_reader *r = arg;
	src *s = &r->s;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->quit && r->state != P_RUN)
			pthread_cond_wait(&r->cv_prod, &r->mu);
		if (r->quit)
			break;
		s->made = s->shown = r->head;
		s->rel_known = r->rel;
		s->out_known = r->bytes_out;
		s->freed_known = r->freed;
		int rc = 1;
		pthread_mutex_unlock(&r->mu);
		while (rc > 0) {
			/* The lock once in a while (RA_PUB items), or when the
			 * room known is used up: hand over, learn the room. */
			if (s->made - s->rel_known >= r->nring ||
			    (s->made > s->rel_known &&
			     s->out_known + s->pend_bytes >= RA_BYTES) ||
			    s->made - s->shown >= RA_PUB) {
				pthread_mutex_lock(&r->mu);
				int stop = wait_room(r, s->made, s->wpos);
				pthread_mutex_unlock(&r->mu);
				if (stop)
					break;
			}
			item *it = &r->ring[s->made % r->nring];
			rc = step(s, it);
			if (rc == STOPPED)
				break;
			if (rc == 1 && it->raw == it->own) {
				s->pend_bytes += it->raw_len;
				it->flags |= I_COUNTED;
			}
			s->made++;
			/* (rc <= 0: the end for now, or an error: stop.) */
		}
		pthread_mutex_lock(&r->mu);
		publish(r, 1);
		r->state = P_IDLE;
		if (r->cons_wait)
			pthread_cond_signal(&r->cv_cons);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* Stop the thread (between or inside steps) and drop what it read ahead:
 * the source is then the caller's until the next start. */
static void ra_stop(wf_reader *r)
{
	pthread_mutex_lock(&r->mu);
	if (r->state == P_RUN) {
		r->stop = 1;
		pthread_cond_signal(&r->cv_prod);
		while (r->state == P_RUN) {
			r->cons_wait = 1;
			pthread_cond_wait(&r->cv_cons, &r->mu);
		}
		r->cons_wait = 0;
		r->stop = 0;
	}
	r->c_tail = r->c_head = r->c_rel = r->rel = r->head;
	r->bytes_out = r->c_rel_bytes = 0;
	r->c_freed = r->freed = r->s.wpos; /* (the thread is idle) */
	pthread_mutex_unlock(&r->mu);
	r->cur = NULL;
	r->at_end = 0;
}

/* The next item: a step run here, or the next one from the ring. */
static item *take(wf_reader *r)
{
	if (!r->ra) {
		step(&r->s, r->ring);
		return r->ring;
	}
	if (r->c_rel < r->c_tail) {
		/* Done with the item before: give it back (to the thread in
		 * batches, below). */
		item *done = &r->ring[r->c_rel % r->nring];
		if (done->a_end > r->c_freed)
			r->c_freed = done->a_end;
		if (done->flags & I_COUNTED)
			r->c_rel_bytes += done->raw_len;
		if ((done->flags & (I_PLAIN | I_COUNTED)) != I_PLAIN &&
		    done->own_cap > RA_ARENA / 4) {
			/* A large frame's buffer: not kept for the next one. */
			free(done->own);
			done->own = NULL;
			done->own_cap = 0;
		}
		r->c_rel++;
	}
	if (r->c_tail == r->c_head || r->c_rel - r->rel >= RA_BATCH) {
		/* (rel is written by this thread only: read without the lock.) */
		pthread_mutex_lock(&r->mu);
		r->rel = r->c_rel;
		r->freed = r->c_freed;
		r->bytes_out -= r->c_rel_bytes;
		r->c_rel_bytes = 0;
		if (r->prod_wait && r->rel >= r->wait_rel &&
		    r->freed >= r->wait_freed && r->bytes_out <= r->wait_bytes)
			pthread_cond_signal(&r->cv_prod);
		while (r->head == r->c_tail) {
			if (r->state == P_IDLE) {
				/* The consumer is between frames: its last_seq is
				 * exact, and so is the source's bound. */
				r->s.seq_hi = r->last_seq;
				r->s.seq_exact = 1;
				r->s.seek_to = r->seek_to;
				r->state = P_RUN;
				pthread_cond_signal(&r->cv_prod);
			}
			r->cons_wait = 1;
			r->cons_from = r->head;
			r->cons_last_seq = r->last_seq;
			if (r->prod_wait || r->want_sync)
				pthread_cond_signal(&r->cv_prod);
			pthread_cond_wait(&r->cv_cons, &r->mu);
			r->cons_wait = 0;
		}
		r->c_head = r->head;
		pthread_mutex_unlock(&r->mu);
	}
	return &r->ring[r->c_tail++ % r->nring];
}

/* Counters of a step up to *upto, beyond those already applied. */
static void add_counts(wf_reader *r, const wf_journal_stats *upto,
                       wf_journal_stats *done)
{
	r->st.segments += upto->segments - done->segments;
	r->st.frames += upto->frames - done->frames;
	r->st.bytes_raw += upto->bytes_raw - done->bytes_raw;
	r->st.bytes_disk += upto->bytes_disk - done->bytes_disk;
	if (!r->st.first_seq)
		r->st.first_seq = upto->first_seq;
	*done = *upto;
}

/* Did the step of it change nothing a caller could see? */
static int quiet(const wf_reader *r, const item *it)
{
	static const wf_journal_stats zero;
	const keep *a = &it->k, *b = &r->committed;
	return it->ndmg == 0 && memcmp(&it->d, &zero, sizeof zero) == 0 &&
	       a->id == b->id && a->have_id == b->have_id &&
	       a->torn_at == b->torn_at && a->retried_at == b->retried_at &&
	       a->torn_list == b->torn_list;
}

/* Decode its events from now on. @return 1. */
static int use_item(wf_reader *r, item *it)
{
	r->cur = it;
	r->raw_pos = 0;
	r->frame_seq = it->first_seq;
	r->frame_left = it->count;
	r->prev_time = 0;
	return 1;
}

/* Take the next item and apply what its step found, as the synchronous
 * reader would have at this point. @return 1 a frame, 0, < 0. */
static int next_item(wf_reader *r)
{
	/* (set on every path below; gcc 12 -O2 with ASan cannot tell) */
	item *it = NULL;
	int direct = !r->ra;
	if (r->ra && !r->at_end && ((it = take(r))->flags & I_PLAIN)) {
		/* One frame, and nothing else (keep, committed, unchanged). */
		r->st.frames++;
		r->st.bytes_raw += it->raw_len;
		r->st.bytes_disk += it->end_pos - it->frame_off;
		if (!r->st.first_seq)
			r->st.first_seq = it->first_seq;
		return use_item(r, it);
	}
	if (r->ra && r->at_end) {
		/* The last item ended the stream (the thread is idle, the
		 * ring empty but for that item, which is still ours): poll
		 * here, into it, until a frame comes; then the thread again. */
		it = &r->ring[(r->c_tail - 1) % r->nring];
		direct = 1;
	} else {
		if (!r->ra)
			it = take(r);
		/* The thread found the end some time ago, and nothing else: a
		 * writer may have appended since. Look again now, as the
		 * synchronous reader would in this call. */
		direct = !r->ra || (it->rc == 0 && quiet(r, it));
	}
	if (r->ra && direct) {
		r->s.direct = 1;
		step(&r->s, it);
		r->s.direct = 0;
	}
	r->at_end = r->ra && it->rc <= 0;
	r->committed = it->k;
	if (!direct) {
		wf_journal_stats done = {0};
		for (size_t i = 0; i < it->ndmg; i++) {
			const qdamage *d = &it->dmg[i];
			add_counts(r, &d->upto, &done);
			if (d->with_err)
				memcpy(r->errmsg, r->s.errbuf, sizeof r->errmsg);
			report(r, it->text + d->file, d->off, d->len, d->torn,
			       it->text + d->what);
		}
		add_counts(r, &it->d, &done);
		if (it->rc < 0)
			memcpy(r->errmsg, r->s.errbuf, sizeof r->errmsg);
	}
	if (it->rc < 0 && it->sticky)
		r->err = it->rc;
	if (it->rc <= 0)
		return it->rc;
	return use_item(r, it);
}

/* ---- the consumer -------------------------------------------------------- */

const char *wf_reader_errmsg(const wf_reader *r)
{
	return r ? r->errmsg : "out of memory";
}

void wf_reader_stats(const wf_reader *r, wf_journal_stats *out)
{
	*out = r->st;
}

uint64_t wf_reader_journal_id(const wf_reader *r)
{
	return r->committed.id;
}

static int check_json(const wf_event *ev)
{
	for (uint32_t i = 0; i < ev->nfields; i++) {
		const wf_field *f = &ev->fields[i];
		if (f->kind != WF_FIELD_JSON)
			continue;
		if (!wf_json_valid(f->v.s.ptr, f->v.s.len))
			return (int)i + 1;
	}
	return 0;
}

int wf_reader_next(wf_reader *r, const wf_event **out)
{
	if (r->err)
		return r->err;
	for (;;) {
		while (r->frame_left) {
			const item *it = r->cur;
			const char *why;
			size_t used;
			int rc = wf_event_decode(it->raw + r->raw_pos,
			                         it->raw_len - r->raw_pos,
			                         &r->prev_time, &r->ev, &used, &why);
			uint64_t seq = r->frame_seq++;
			r->frame_left--;
			if (rc == 0 && r->frame_left == 0 &&
			    r->raw_pos + used != it->raw_len) {
				why = "frame payload has bytes after its last event";
				rc = WF_ECORRUPT;
			}
			if (rc == 0 && r->opts.verify_json && !r->ev.opaque &&
			    check_json(&r->ev)) {
				why = "JSON field does not parse";
				rc = WF_ECORRUPT;
			}
			if (rc < 0) {
				char what[256];
				snprintf(what, sizeof what, "event seq %" PRIu64 ": %s",
				         seq, why);
				if (rc == WF_EINCOMPAT ||
				    r->opts.recovery != WF_RECOVER_SALVAGE) {
					snprintf(r->errmsg, sizeof r->errmsg,
					         "%s: offset %" PRIu64 ": %s", it->path,
					         it->frame_off, what);
					report(r, it->path, it->frame_off, 0, 0, what);
					r->err = rc;
					return rc;
				}
				/* Salvage: drop the rest of this frame. */
				report(r, it->path, it->frame_off,
				       it->end_pos - it->frame_off, 0, what);
				r->frame_left = 0;
				break;
			}
			r->raw_pos += used;
			r->last_seq = seq;
			r->st.last_seq = seq;
			if (seq < r->seek_to)
				continue;
			r->st.events++;
			r->ev.seq = seq;
			*out = &r->ev;
			return 1;
		}
		int rc = next_item(r);
		if (rc <= 0)
			return rc;
	}
}

int wf_reader_seek(wf_reader *r, uint64_t seq)
{
	if (r->err)
		return r->err;
	/* Restart from the segment that holds seq; events before it are
	 * decoded (the zstd stream needs them) but not returned. */
	wf_seg_list l;
	int e;
	int rc = wf_seg_list_read(r->io, r->dir, &l, &e);
	if (rc < 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "cannot list %s: %s",
		         r->dir, strerror(e));
		return rc;
	}
	src *s = &r->s;
	if (r->ra) {
		ra_stop(r);
		/* Forget what the thread did beyond the last item taken. */
		s->k = r->committed;
	}
	relist_with(s, &l);
	close_segment(s);
	r->frame_left = 0;
	size_t i = 0;
	while (i + 1 < s->segs.n && s->segs.v[i + 1].first_seq <= seq)
		i++;
	s->seg = i;
	s->expect_seq = 0;
	s->chain_known = 0;
	r->last_seq = 0;
	s->after_damage = 0;
	r->seek_to = seq;
	s->seek_to = seq;
	return 0;
}

int wf_reader_open(wf_reader **out, const char *dir,
                   const wf_reader_opts *opts)
{
	static const wf_reader_opts defaults = WF_READER_OPTS_INIT;
	*out = NULL;
	wf_reader *r = aligned_alloc(WF_CACHE_LINE, sizeof *r);
	if (r)
		memset(r, 0, sizeof *r);
	if (!r)
		return WF_ENOMEM;
	*out = r;
	r->s.r = r;
	r->s.direct = 1;
	r->opts = defaults;
	if (opts && opts->version == 1) {
		/* Version 1 ended before readahead. */
		memcpy(&r->opts, opts, offsetof(wf_reader_opts, readahead));
		r->opts.version = WF_READER_OPTS_VERSION;
	} else if (opts) {
		r->opts = *opts;
	}
	r->io = r->opts.io ? r->opts.io : wf_io_posix();
	if (opts && r->opts.version != WF_READER_OPTS_VERSION) {
		snprintf(r->errmsg, sizeof r->errmsg,
		         "wf_reader_opts version %u unknown (expected %u)",
		         opts->version, WF_READER_OPTS_VERSION);
		return r->err = WF_EINVAL;
	}
	if ((unsigned)r->opts.recovery > WF_RECOVER_SALVAGE) {
		snprintf(r->errmsg, sizeof r->errmsg, "unknown recovery mode %d",
		         (int)r->opts.recovery);
		return r->err = WF_EINVAL;
	}
	if (!dir || !*dir) {
		snprintf(r->errmsg, sizeof r->errmsg,
		         "no journal directory given");
		return r->err = WF_EINVAL;
	}
	r->nring = 1;
	if (!(r->dir = strdup(dir)) || wf_decoder_new(&r->s.dec) < 0 ||
	    !(r->ring = ring_new(1, &r->ring_mem))) {
		snprintf(r->errmsg, sizeof r->errmsg, "out of memory");
		return r->err = WF_ENOMEM;
	}
	int e;
	int rc = wf_seg_list_read(r->io, dir, &r->s.segs, &e);
	if (rc < 0) {
		snprintf(r->errmsg, sizeof r->errmsg,
		         "cannot read journal directory %s: %s", dir,
		         strerror(e));
		return r->err = rc;
	}
	/* Learn the journal id now (callers may ask before reading); a bad
	 * header is reported by the first next(), with its offset. */
	if (r->s.segs.n) {
		int fd = r->io->open(r->io->ctx, r->s.segs.v[0].path,
		                     WF_IO_RDONLY);
		if (fd >= 0) {
			uint8_t buf[WF_SEG_HEADER_SIZE];
			wf_seg_header h;
			const char *why;
			if (r->io->pread(r->io->ctx, fd, buf, sizeof buf, 0) ==
			        (ssize_t)sizeof buf &&
			    wf_seg_header_decode(buf, &h, &why) == 0) {
				r->s.k.id = h.journal_id;
				r->s.k.have_id = 1;
			}
			r->io->close(r->io->ctx, fd);
		}
	}
	r->committed = r->s.k;
	item *ring;
	void *ring_mem;
	if (r->opts.readahead && (r->arena = malloc(RA_ARENA)) &&
	    (ring = ring_new(RA_SLOTS, &ring_mem))) {
		free(r->ring_mem);
		r->ring = ring;
		r->ring_mem = ring_mem;
		r->nring = RA_SLOTS;
	}
	if (r->nring > 1) {
		/* Without a thread (or its lock, or memory), read
		 * synchronously. */
		int n = 0;
		if (pthread_mutex_init(&r->mu, NULL) == 0 && ++n &&
		    pthread_cond_init(&r->cv_prod, NULL) == 0 && ++n &&
		    pthread_cond_init(&r->cv_cons, NULL) == 0 && ++n) {
			r->locks = 1;
			r->state = P_IDLE;
			if (pthread_create(&r->thread, NULL, producer, r) == 0) {
				r->ra = 1;
				r->s.direct = 0;
			}
		} else {
			if (n > 1)
				pthread_cond_destroy(&r->cv_prod);
			if (n > 0)
				pthread_mutex_destroy(&r->mu);
		}
	}
	return 0;
}

void wf_reader_close(wf_reader *r)
{
	if (!r)
		return;
	if (r->ra) {
		ra_stop(r);
		pthread_mutex_lock(&r->mu);
		r->quit = 1;
		pthread_cond_signal(&r->cv_prod);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
	}
	if (r->locks) {
		pthread_cond_destroy(&r->cv_cons);
		pthread_cond_destroy(&r->cv_prod);
		pthread_mutex_destroy(&r->mu);
	}
	close_segment(&r->s);
	wf_seg_list_free(&r->s.segs);
	wf_decoder_free(r->s.dec);
	for (size_t i = 0; r->ring && i < r->nring; i++) {
		free(r->ring[i].own);
		free(r->ring[i].path);
		free(r->ring[i].dmg);
		free(r->ring[i].text);
	}
	free(r->ring_mem);
	free(r->arena);
	free(r->dir);
	free(r);
}
