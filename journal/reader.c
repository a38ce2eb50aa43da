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
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsoncheck.h"

#include "segment.h"

struct wf_reader {
	const wf_io *io;
	wf_reader_opts opts;
	char *dir;
	char errmsg[512];
	int err; /* sticky error */

	wf_seg_list segs;
	size_t seg;  /* index of the current segment in segs */
	int seg_open;
	int fd;
	wf_scan scan;
	uint64_t pos; /* offset of the next frame in the current segment */
	const char *path;

	uint64_t id;
	int have_id;
	uint64_t expect_seq; /* 0: unknown (start, or after skipped damage) */
	uint64_t chain;
	int chain_known;
	uint64_t last_seq;   /* last event returned or skipped over */
	uint64_t torn_at;    /* offset of a torn tail already reported + 1 */
	uint64_t retried_at; /* offset of a bad frame read twice + 1 */
	const char *torn_path;
	int after_damage;

	wf_decoder *dec;
	uint8_t *raw;
	size_t raw_cap, raw_len, raw_pos;
	uint64_t frame_seq;  /* seq of the next event in the frame */
	uint64_t frame_left; /* events left in the frame */
	uint64_t frame_off;
	int64_t prev_time;

	uint64_t seek_to;
	wf_event ev;
	wf_journal_stats st;
};

static void set_err(wf_reader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
	va_end(ap);
}

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
	return r->id;
}

static void close_segment(wf_reader *r)
{
	if (r->seg_open) {
		r->io->close(r->io->ctx, r->fd);
		wf_scan_free(&r->scan);
		r->seg_open = 0;
	}
	r->frame_left = 0;
	r->raw_len = r->raw_pos = 0;
}

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

/* Non-salvage damage: report it, remember it, return it. */
static int fail(wf_reader *r, int code, const char *file, uint64_t off,
                const char *what)
{
	set_err(r, "%s: offset %" PRIu64 ": %s", file, off, what);
	report(r, file, off, 0, 0, what);
	r->err = code;
	return code;
}

static int io_fail(wf_reader *r, int e, const char *file, uint64_t off)
{
	if (e == -ENOMEM) {
		set_err(r, "out of memory reading %s", file);
		r->err = WF_ENOMEM;
		return WF_ENOMEM;
	}
	set_err(r, "cannot read %s at offset %" PRIu64 ": %s", file, off,
	        strerror(-e));
	return WF_EIO; /* not sticky: a retry may work */
}

/* Re-read the directory listing (a writer may have added segments). */
static int relist(wf_reader *r)
{
	wf_seg_list l;
	int e;
	int rc = wf_seg_list_read(r->io, r->dir, &l, &e);
	if (rc < 0) {
		set_err(r, "cannot list %s: %s", r->dir, strerror(e));
		return rc;
	}
	/* Keep the current index meaningful: find our segment by seq. */
	uint64_t cur = r->seg < r->segs.n ? r->segs.v[r->seg].first_seq : 0;
	size_t idx = r->seg;
	if (r->seg < r->segs.n) {
		for (idx = 0; idx < l.n && l.v[idx].first_seq < cur; idx++)
			;
	}
	if (r->seg_open) {
		/* path must stay valid: point it into the new list. */
		if (idx < l.n && l.v[idx].first_seq == cur)
			r->path = l.v[idx].path;
		else
			close_segment(r); /* our segment vanished */
	}
	wf_seg_list_free(&r->segs);
	r->segs = l;
	r->seg = idx;
	return 0;
}

/* 1 if a segment after the current one exists (relisting to be sure). */
static int later_segment(wf_reader *r)
{
	if (r->seg + 1 < r->segs.n)
		return 1;
	int rc = relist(r);
	if (rc < 0)
		return rc;
	return r->seg + 1 < r->segs.n;
}

/*
 * After a seek: step over whole frames by their headers alone (no
 * checksum, no decompression) to the last frame that starts a zstd stream
 * at or before the sequence number sought, and start reading there. The
 * frames stepped over are not returned, so they need no checking; the
 * first frame read is checked against nothing before it.
 */
static int skip_to_reset(wf_reader *r)
{
	uint64_t pos = r->pos, at = r->pos, at_seq = r->expect_seq;
	while (pos < r->scan.size) {
		const uint8_t *p;
		size_t got;
		wf_frame_hdr h;
		const char *why;
		int rc = wf_scan_peek(&r->scan, pos, WF_FRAME_HDR_MAX, &p, &got);
		if (rc < 0)
			return io_fail(r, rc, r->path, pos);
		if (wf_frame_parse(p, got, &h, &why) != 0)
			break; /* let the ordinary read report it */
		if (h.first_seq > r->seek_to)
			break;
		if (h.flags & WF_FRAME_RESET) {
			at = pos;
			at_seq = h.first_seq;
		}
		if (h.comp_len > r->scan.size - pos - h.hdr_len)
			break;
		pos += h.hdr_len + h.comp_len;
	}
	if (at != r->pos) {
		r->pos = at;
		r->expect_seq = at_seq;
		r->chain_known = 0;
	}
	return 0;
}

static int open_segment(wf_reader *r)
{
	const wf_seg *s = &r->segs.v[r->seg];
	r->path = s->path;
	int fd = r->io->open(r->io->ctx, s->path, WF_IO_RDONLY);
	if (fd < 0)
		return io_fail(r, fd, s->path, 0);
	r->fd = fd;
	r->seg_open = 1;
	wf_scan_init(&r->scan, r->io, fd);
	int rc = wf_scan_refresh(&r->scan);
	const uint8_t *p;
	size_t got = 0;
	if (rc == 0)
		rc = wf_scan_peek(&r->scan, 0, WF_SEG_HEADER_SIZE, &p, &got);
	if (rc < 0) {
		close_segment(r);
		return io_fail(r, rc, s->path, 0);
	}
	r->st.segments++;
	wf_seg_header h;
	const char *why = "segment shorter than its header";
	rc = WF_ECORRUPT;
	if (got == WF_SEG_HEADER_SIZE)
		rc = wf_seg_header_decode(p, &h, &why);
	if (rc == 0 && r->have_id && h.journal_id != r->id) {
		why = "segment belongs to another journal (journal id differs)";
		rc = WF_ECORRUPT;
	}
	if (rc == 0 && h.first_seq != s->first_seq) {
		why = "segment header's first sequence number does not match "
		      "its file name (renamed or swapped segment)";
		rc = WF_ECORRUPT;
	}
	int link_broken = 0; /* the header is sound; the chain is not */
	if (rc == 0 && !r->after_damage) {
		link_broken = 1;
		if (r->expect_seq && h.first_seq != r->expect_seq) {
			why = h.first_seq > r->expect_seq
			          ? "segment starts after a gap in sequence "
			            "numbers (missing segment)"
			          : "segment starts before the end of the one "
			            "before it (overlapping or replayed segment)";
			rc = WF_ECORRUPT;
		} else if (r->chain_known && h.prev_chain != r->chain) {
			why = "segment does not chain to the end of the one before "
			      "it (missing, swapped or replayed segment)";
			rc = WF_ECORRUPT;
		} else {
			link_broken = 0;
		}
	}
	if (rc < 0 && link_broken && r->opts.recovery == WF_RECOVER_SALVAGE &&
	    (r->expect_seq == 0 || h.first_seq > r->expect_seq)) {
		/* A gap (a missing segment): report it, and read this intact
		 * segment rather than lose it too. */
		report(r, s->path, 0, 0, 0, why);
		rc = 0;
	}
	if (rc < 0) {
		if (rc == WF_EINCOMPAT || r->opts.recovery != WF_RECOVER_SALVAGE) {
			char path[4096];
			snprintf(path, sizeof path, "%s", s->path);
			close_segment(r);
			return fail(r, rc, path, 0, why);
		}
		report(r, s->path, 0, r->scan.size, 0, why);
		r->after_damage = 1;
		r->chain_known = 0;
		close_segment(r);
		r->seg++;
		return 1; /* skipped; try the next one */
	}
	if (!r->have_id) {
		r->id = h.journal_id;
		r->have_id = 1;
	}
	if (r->after_damage) {
		/* Resuming after skipped damage: trust this header. */
		r->after_damage = 0;
	}
	r->expect_seq = h.first_seq;
	r->chain = h.prev_chain;
	r->chain_known = 1;
	r->pos = WF_SEG_HEADER_SIZE;
	r->retried_at = 0;
	r->st.bytes_disk += WF_SEG_HEADER_SIZE;
	if (r->seek_to > h.first_seq)
		return skip_to_reset(r);
	return 0;
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

/*
 * Handle a bad frame at r->pos: torn tail, corruption, or (salvage) a
 * skipped range. @return 0 to go on reading, 2 = end for now, < 0 error.
 */
static int bad_frame(wf_reader *r, int status, const char *why)
{
	uint64_t next = 0;
	int found = wf_scan_find_next(&r->scan, r->pos, r->id,
	                              r->opts.recovery == WF_RECOVER_SALVAGE,
	                              &next);
	if (found < 0)
		return io_fail(r, found, r->path, r->pos);
	int later = 0;
	if (!found) {
		later = later_segment(r);
		if (later < 0)
			return later;
	}
	/* Salvage looked for a frame that starts a stream (to resume at):
	 * an intact frame inside a stream after the damage still makes it
	 * damage, not a torn tail (the rest of the segment is skipped). */
	int intact_after = 0;
	if (!found && !later && r->opts.recovery == WF_RECOVER_SALVAGE) {
		uint64_t any;
		intact_after = wf_scan_find_next(&r->scan, r->pos, r->id, 0, &any);
		if (intact_after < 0)
			return io_fail(r, intact_after, r->path, r->pos);
	}
	if ((found || later || intact_after) &&
	    r->retried_at != r->pos + 1) {
		/* A frame being written can be seen in part (a pwrite becomes
		 * visible a page at a time). The writer finishes a frame before
		 * it writes anything after it, so now that something follows,
		 * read this frame once more before judging it. */
		r->retried_at = r->pos + 1;
		wf_scan_invalidate(&r->scan);
		return 0;
	}
	if (found && r->opts.recovery != WF_RECOVER_SALVAGE) {
		/* Intact frames follow. In the last segment, past the writer's
		 * sync mark, that is a crash's out-of-order writes: the tail. */
		later = later_segment(r);
		if (later < 0)
			return later;
		if (!later && !wf_sync_mark_durable(r->io, -1, r->dir, r->id,
		                                    r->segs.v[r->seg].first_seq,
		                                    r->pos))
			found = 0;
	}
	if (intact_after &&
	    !wf_sync_mark_durable(r->io, -1, r->dir, r->id,
	                          r->segs.v[r->seg].first_seq, r->pos))
		intact_after = 0; /* past the sync mark: the tail, as above */
	if (!found && !later && !intact_after) {
		/* Nothing intact after it, and no later segment: the tail. */
		if (r->opts.recovery == WF_RECOVER_ABSOLUTE)
			return fail(r, WF_ECORRUPT, r->path, r->pos, why);
		if (r->torn_at != r->pos + 1 || r->torn_path != r->path) {
			/* An incomplete frame may still be being written: only
			 * report it once per position. */
			r->torn_at = r->pos + 1;
			r->torn_path = r->path;
			report(r, r->path, r->pos, r->scan.size - r->pos, 1,
			       status == WF_FRAME_INCOMPLETE
			           ? "torn tail: incomplete last frame"
			           : why);
		}
		return 2;
	}
	if (r->opts.recovery != WF_RECOVER_SALVAGE)
		return fail(r, WF_ECORRUPT, r->path, r->pos, why);
	uint64_t end = found ? next : r->scan.size;
	report(r, r->path, r->pos, end - r->pos, 0, why);
	r->after_damage = 1;
	r->chain_known = 0;
	r->expect_seq = 0;
	if (found) {
		r->pos = next;
	} else {
		close_segment(r);
		r->seg++;
	}
	return 0;
}

/* Read the next frame into r->raw. @return 1 frame, 0 end, < 0 error. */
static int next_frame(wf_reader *r)
{
	for (;;) {
		if (!r->seg_open) {
			if (r->seg >= r->segs.n) {
				int rc = relist(r);
				if (rc < 0)
					return rc;
				if (r->seg >= r->segs.n)
					return 0;
			}
			int rc = open_segment(r);
			if (rc < 0)
				return rc;
			if (rc == 1)
				continue;
		}
		if (r->pos >= r->scan.size) {
			int rc = wf_scan_refresh(&r->scan);
			if (rc < 0)
				return io_fail(r, rc, r->path, r->pos);
		}
		if (r->pos >= r->scan.size) {
			int later = later_segment(r);
			if (later < 0)
				return later;
			if (!later)
				return 0;
			/* Re-check: the writer may have appended to this
			 * segment just before rolling over. */
			int rc = wf_scan_refresh(&r->scan);
			if (rc < 0)
				return io_fail(r, rc, r->path, r->pos);
			if (r->pos >= r->scan.size) {
				close_segment(r);
				r->seg++;
				continue;
			}
		}
		wf_frame_hdr h;
		const uint8_t *f;
		const char *why = NULL;
		int rc = wf_scan_frame(&r->scan, r->pos, r->id, &h, &f, &why);
		if (rc < 0)
			return io_fail(r, rc, r->path, r->pos);
		if (rc == WF_FRAME_OK) {
			if (r->chain_known && h.prev_link != (uint32_t)r->chain) {
				why = "frame does not chain to the one before it "
				      "(missing, reordered or replayed frame)";
				rc = WF_FRAME_BAD;
			} else if (r->expect_seq && h.first_seq != r->expect_seq) {
				why = "frame sequence number breaks the sequence "
				      "(missing, reordered or replayed frame)";
				rc = WF_FRAME_BAD;
			} else if (h.first_seq <= r->last_seq) {
				why = "frame sequence number goes back";
				rc = WF_FRAME_BAD;
			} else if (r->pos == WF_SEG_HEADER_SIZE &&
			           !(h.flags & WF_FRAME_RESET)) {
				why = "first frame of the segment does not start a "
				      "compression stream";
				rc = WF_FRAME_BAD;
			}
		}
		if (rc != WF_FRAME_OK) {
			rc = bad_frame(r, rc, why);
			if (rc == 2)
				return 0;
			if (rc < 0)
				return rc;
			continue;
		}
		/* The tail is no longer torn once a frame is read past it. */
		if (h.raw_len + 1 > r->raw_cap) {
			size_t cap = r->raw_cap ? r->raw_cap : 65536;
			while (cap < h.raw_len + 1)
				cap *= 2;
			uint8_t *p = realloc(r->raw, cap);
			if (!p) {
				set_err(r, "out of memory for a frame of %" PRIu64
				        " bytes in %s", h.raw_len, r->path);
				return WF_ENOMEM;
			}
			r->raw = p;
			r->raw_cap = cap;
		}
		if (wf_decoder_frame(r->dec, &h, f + h.hdr_len, r->raw, &why) <
		    0) {
			/* The checksum held, so the writer wrote this: a bug or
			 * a crafted file. Either way, damage here. */
			rc = bad_frame(r, WF_FRAME_BAD, why);
			if (rc == 2)
				return 0;
			if (rc < 0)
				return rc;
			continue;
		}
		r->frame_off = r->pos;
		r->retried_at = 0;
		r->pos += h.hdr_len + h.comp_len;
		r->chain = h.checksum;
		r->chain_known = 1;
		r->expect_seq = h.first_seq + h.count;
		r->raw_len = (size_t)h.raw_len;
		r->raw_pos = 0;
		r->frame_seq = h.first_seq;
		r->frame_left = h.count;
		r->prev_time = 0;
		r->after_damage = 0;
		r->st.frames++;
		r->st.bytes_raw += h.raw_len;
		r->st.bytes_disk += h.hdr_len + h.comp_len;
		if (!r->st.first_seq)
			r->st.first_seq = h.first_seq;
		return 1;
	}
}

int wf_reader_next(wf_reader *r, const wf_event **out)
{
	if (r->err)
		return r->err;
	for (;;) {
		while (r->frame_left) {
			const char *why;
			size_t used;
			int rc = wf_event_decode(r->raw + r->raw_pos,
			                         r->raw_len - r->raw_pos,
			                         &r->prev_time, &r->ev, &used, &why);
			uint64_t seq = r->frame_seq++;
			r->frame_left--;
			if (rc == 0 && r->frame_left == 0 &&
			    r->raw_pos + used != r->raw_len) {
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
				    r->opts.recovery != WF_RECOVER_SALVAGE)
					return fail(r, rc, r->path, r->frame_off, what);
				/* Salvage: drop the rest of this frame. */
				report(r, r->path, r->frame_off,
				       r->pos - r->frame_off, 0, what);
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
		int rc = next_frame(r);
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
	int rc = relist(r);
	if (rc < 0)
		return rc;
	close_segment(r);
	size_t i = 0;
	while (i + 1 < r->segs.n && r->segs.v[i + 1].first_seq <= seq)
		i++;
	r->seg = i;
	r->expect_seq = 0;
	r->chain_known = 0;
	r->last_seq = 0;
	r->after_damage = 0;
	r->seek_to = seq;
	return 0;
}

int wf_reader_open(wf_reader **out, const char *dir,
                   const wf_reader_opts *opts)
{
	static const wf_reader_opts defaults = WF_READER_OPTS_INIT;
	*out = NULL;
	wf_reader *r = calloc(1, sizeof *r);
	if (!r)
		return WF_ENOMEM;
	*out = r;
	r->opts = opts ? *opts : defaults;
	r->io = r->opts.io ? r->opts.io : wf_io_posix();
	if (opts && opts->version != WF_READER_OPTS_VERSION) {
		set_err(r, "wf_reader_opts version %u unknown (expected %u)",
		        opts->version, WF_READER_OPTS_VERSION);
		return r->err = WF_EINVAL;
	}
	if ((unsigned)r->opts.recovery > WF_RECOVER_SALVAGE) {
		set_err(r, "unknown recovery mode %d", (int)r->opts.recovery);
		return r->err = WF_EINVAL;
	}
	if (!dir || !*dir) {
		set_err(r, "no journal directory given");
		return r->err = WF_EINVAL;
	}
	if (!(r->dir = strdup(dir)) || wf_decoder_new(&r->dec) < 0) {
		set_err(r, "out of memory");
		return r->err = WF_ENOMEM;
	}
	int e;
	int rc = wf_seg_list_read(r->io, dir, &r->segs, &e);
	if (rc < 0) {
		set_err(r, "cannot read journal directory %s: %s", dir,
		        strerror(e));
		return r->err = rc;
	}
	/* Learn the journal id now (callers may ask before reading); a bad
	 * header is reported by the first next(), with its offset. */
	if (r->segs.n) {
		int fd = r->io->open(r->io->ctx, r->segs.v[0].path, WF_IO_RDONLY);
		if (fd >= 0) {
			uint8_t buf[WF_SEG_HEADER_SIZE];
			wf_seg_header h;
			const char *why;
			if (r->io->pread(r->io->ctx, fd, buf, sizeof buf, 0) ==
			        (ssize_t)sizeof buf &&
			    wf_seg_header_decode(buf, &h, &why) == 0) {
				r->id = h.journal_id;
				r->have_id = 1;
			}
			r->io->close(r->io->ctx, fd);
		}
	}
	return 0;
}

void wf_reader_close(wf_reader *r)
{
	if (!r)
		return;
	close_segment(r);
	wf_seg_list_free(&r->segs);
	wf_decoder_free(r->dec);
	free(r->raw);
	free(r->dir);
	free(r);
}
