/*
 * The segment-file store: naming, listing and creating segment files,
 * their 64-byte headers, and a buffered scanner that reads a segment's
 * frames through the I/O seam. The writer and the reader build on it;
 * nothing here knows about compression streams or events.
 */
#ifndef WF_JOURNAL_SEGMENT_H
#define WF_JOURNAL_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "io.h"

typedef struct wf_seg_header {
	uint32_t version;
	uint64_t compat;
	uint64_t incompat;
	uint64_t journal_id;
	uint64_t first_seq;
	uint64_t prev_chain;
} wf_seg_header;

void wf_seg_header_encode(uint8_t out[WF_SEG_HEADER_SIZE],
                          const wf_seg_header *h);
/** @return 0, WF_ECORRUPT or WF_EINCOMPAT; *why says which check. */
int wf_seg_header_decode(const uint8_t in[WF_SEG_HEADER_SIZE],
                         wf_seg_header *h, const char **why);

/** A segment found in a directory. */
typedef struct wf_seg {
	uint64_t first_seq; /* from the file name */
	char *path;
} wf_seg;

typedef struct wf_seg_list {
	wf_seg *v;
	size_t n, cap;
	size_t ntmp;      /* leftover *.wfj.tmp files (a crash mid-create) */
	char **tmp;
} wf_seg_list;

/**
 * List dir's segments, sorted by first seq.
 * @param errnum receives the errno of a failed listing (else 0).
 * @return 0, WF_ENOMEM, WF_ENOTFOUND (no such directory) or WF_EIO.
 */
int wf_seg_list_read(const wf_io *io, const char *dir, wf_seg_list *out,
                     int *errnum);
void wf_seg_list_free(wf_seg_list *l);

/** The first sequence number of dir's journal by its first segment's
 *  name: after 1 if its oldest segments were deleted (retention); 1 if
 *  it has none or cannot be listed (its readers say why). */
uint64_t wf_seg_first(const wf_io *io, const char *dir);

/** Path of the segment starting at first_seq (caller frees). */
char *wf_seg_path(const char *dir, uint64_t first_seq);

/**
 * Create a segment: write its header to a temporary file, fsync it,
 * rename it into place, fsync the directory (the syncs only if durable).
 * @param fd receives an fd open for read/write on the new segment.
 */
int wf_seg_create(const wf_io *io, const char *dir, const wf_seg_header *h,
                  int durable, int *fd, char **path, char *err,
                  size_t errlen);

/** fsync a directory. */
int wf_dir_sync(const wf_io *io, const char *dir);

/*
 * The sync mark (format.h): the writer records in <dir>/LOCK how far the
 * last segment is known durable, so that recovery can tell a crash's
 * out-of-order writes (damage after the mark) from corruption (before).
 */
#define WF_SYNC_MARK_SIZE 40u

typedef struct wf_sync_mark {
	uint64_t journal_id;
	uint64_t seg_first; /* first seq of the segment it is about */
	uint64_t end;       /* bytes of that segment known durable */
} wf_sync_mark;

/** Write the mark at offset 0 of lock_fd (not synced).
 * @return 0 or -errno. */
int wf_sync_mark_write(const wf_io *io, int lock_fd, const wf_sync_mark *m);

/** Read the mark from lock_fd, or from <dir>/LOCK when lock_fd < 0.
 * @return 1 a valid mark (in *m); 0 none (no LOCK, an empty one, or a read
 *         error); -1 a damaged one (bytes that are not a valid mark). */
int wf_sync_mark_read(const wf_io *io, int lock_fd, const char *dir,
                      wf_sync_mark *m);

/**
 * Is byte off of the segment starting at seg_first known durable, so that
 * damage there with intact frames after it is corruption? No mark at all
 * (a journal from before marks, or a copy without its LOCK): yes, as
 * always. A mark about an earlier segment, or ending at or before off, or
 * a damaged mark (a crash tore its write): no, a torn write.
 * @return 1 durable, 0 not known durable.
 */
int wf_sync_mark_durable(const wf_io *io, int lock_fd, const char *dir,
                         uint64_t journal_id, uint64_t seg_first, uint64_t off);

/* ---- scanning a segment's bytes ---- */

typedef struct wf_scan {
	const wf_io *io;
	int fd;
	uint64_t size;  /* file size as last seen */
	uint8_t *buf;
	uint64_t start; /* file offset of buf[0] */
	size_t len, cap;
} wf_scan;

void wf_scan_init(wf_scan *s, const wf_io *io, int fd);
/** Forget buffered bytes (so the next peek reads the file again). */
void wf_scan_invalidate(wf_scan *s);
void wf_scan_free(wf_scan *s);
/** Refresh s->size (the file may have grown). */
int wf_scan_refresh(wf_scan *s);
/**
 * Make bytes [off, off+n) available; *p points at them, *got says how many
 * exist (fewer than n at the end of the file).
 * @return 0 or a negative -errno from the I/O seam.
 */
int wf_scan_peek(wf_scan *s, uint64_t off, size_t n, const uint8_t **p,
                 size_t *got);

/** Outcome of checking the frame at an offset. */
enum {
	WF_FRAME_OK = 0,
	WF_FRAME_INCOMPLETE = 1, /* the file ends inside the frame */
	WF_FRAME_BAD = 2,        /* damaged: *why says how */
};

/**
 * Read and check the frame at off: header, bounds against the file size,
 * checksum. On WF_FRAME_OK, *frame points at hdr_len+comp_len bytes
 * (valid until the next scan call).
 * @return WF_FRAME_* or a negative -errno.
 */
int wf_scan_frame(wf_scan *s, uint64_t off, uint64_t seed, wf_frame_hdr *h,
                  const uint8_t **frame, const char **why);

/**
 * Find the first intact frame starting after off (a sync marker followed
 * by a frame whose checksum holds). If need_reset, only a frame starting a
 * compression stream counts.
 * @return 1 found (*at), 0 none before the end of the file, or -errno.
 */
int wf_scan_find_next(wf_scan *s, uint64_t off, uint64_t seed,
                      int need_reset, uint64_t *at);

#endif
