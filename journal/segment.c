/*
 * Segment files: <dir>/<first seq, 20 digits>.wfj, each opening with a
 * 64-byte header (format.h).
 *
 * A new segment is born complete: its header goes to "<name>.tmp", is
 * fsynced, and only then renamed into place (and the directory fsynced).
 * So a segment file under its real name always has a whole header, and a
 * bad header is damage, never a crash artefact. Leftover .tmp files are
 * the crash artefacts; the writer removes them.
 *
 * The scanner reads a file in 1 MiB chunks through the I/O seam and hands
 * out pointers into its buffer, so a replay of one-event frames costs no
 * system call per frame.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "segment.h"
#include "varint.h"

#define SCAN_CHUNK ((size_t)256 << 10)

/* Fuzzing builds accept any checksum, so that the fuzzer can reach the
 * decoders behind them (the OSS-Fuzz convention). Never in the library. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define WF_FUZZING 1
#else
#define WF_FUZZING 0
#endif

void wf_seg_header_encode(uint8_t out[WF_SEG_HEADER_SIZE],
                          const wf_seg_header *h)
{
	memcpy(out, WF_SEG_MAGIC, 8);
	wf_put_u32(out + 8, h->version);
	wf_put_u32(out + 12, WF_SEG_HEADER_SIZE);
	wf_put_u64(out + 16, h->compat);
	wf_put_u64(out + 24, h->incompat);
	wf_put_u64(out + 32, h->journal_id);
	wf_put_u64(out + 40, h->first_seq);
	wf_put_u64(out + 48, h->prev_chain);
	wf_put_u64(out + 56, XXH3_64bits(out, 56));
}

int wf_seg_header_decode(const uint8_t in[WF_SEG_HEADER_SIZE],
                         wf_seg_header *h, const char **why)
{
	if (memcmp(in, WF_SEG_MAGIC, 8) != 0) {
		*why = "not a wflow journal segment (bad magic)";
		return WF_ECORRUPT;
	}
	if (wf_get_u64(in + 56) != XXH3_64bits(in, 56) && !WF_FUZZING) {
		*why = "segment header checksum mismatch";
		return WF_ECORRUPT;
	}
	h->version = wf_get_u32(in + 8);
	h->compat = wf_get_u64(in + 16);
	h->incompat = wf_get_u64(in + 24);
	h->journal_id = wf_get_u64(in + 32);
	h->first_seq = wf_get_u64(in + 40);
	h->prev_chain = wf_get_u64(in + 48);
	/* Messages naming values: valid until this thread's next call (the
	 * callers copy them at once). */
	static _Thread_local char msg[200];
	*why = msg;
	if (h->version > WF_SEG_VERSION) {
		snprintf(msg, sizeof msg, "segment format version %u is newer "
		         "than this wflow supports (version %u): written by a "
		         "newer wflow", h->version, WF_SEG_VERSION);
		return WF_EINCOMPAT;
	}
	if (h->incompat & ~WF_SEG_INCOMPAT_KNOWN) {
		snprintf(msg, sizeof msg, "segment uses incompatible features "
		         "this wflow does not support (unknown incompat flags "
		         "0x%" PRIx64 ")",
		         (uint64_t)(h->incompat & ~WF_SEG_INCOMPAT_KNOWN));
		return WF_EINCOMPAT;
	}
	if (h->version == 0 || wf_get_u32(in + 12) != WF_SEG_HEADER_SIZE ||
	    h->first_seq == 0 || h->first_seq >= WF_SEQ_LIMIT) {
		snprintf(msg, sizeof msg, "segment header fields out of bounds "
		         "(version %u, header size %u, first seq %" PRIu64 ")",
		         h->version, wf_get_u32(in + 12), h->first_seq);
		return WF_ECORRUPT;
	}
	return 0;
}

uint64_t wf_seg_first(const wf_io *io, const char *dir)
{
	wf_seg_list l;
	int e;
	if (wf_seg_list_read(io, dir, &l, &e) < 0)
		return 1;
	uint64_t first = l.n ? l.v[0].first_seq : 1;
	wf_seg_list_free(&l);
	return first;
}

char *wf_seg_path(const char *dir, uint64_t first_seq)
{
	size_t n = strlen(dir) + WF_SEG_NAME_DIGITS + 16;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%020" PRIu64 WF_SEG_SUFFIX, dir, first_seq);
	return p;
}

/* Parse "<20 digits>.wfj" (optionally followed by ".tmp"). */
static int parse_name(const char *name, uint64_t *seq, int *tmp)
{
	uint64_t v = 0;
	for (int i = 0; i < WF_SEG_NAME_DIGITS; i++) {
		char c = name[i];
		if (c < '0' || c > '9')
			return 0;
		if (v > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
			return 0;
		v = v * 10 + (uint64_t)(c - '0');
	}
	const char *rest = name + WF_SEG_NAME_DIGITS;
	if (strcmp(rest, WF_SEG_SUFFIX) == 0)
		*tmp = 0;
	else if (strcmp(rest, WF_SEG_SUFFIX ".tmp") == 0)
		*tmp = 1;
	else
		return 0;
	*seq = v;
	return 1;
}

typedef struct list_ctx {
	const char *dir;
	wf_seg_list *l;
	int rc;
} list_ctx;

static int list_one(void *ud, const char *name)
{
	list_ctx *c = ud;
	uint64_t seq;
	int tmp;
	if (!parse_name(name, &seq, &tmp))
		return 0;
	size_t n = strlen(c->dir) + strlen(name) + 2;
	char *path = malloc(n);
	if (!path) {
		c->rc = WF_ENOMEM;
		return 1;
	}
	snprintf(path, n, "%s/%s", c->dir, name);
	wf_seg_list *l = c->l;
	if (tmp) {
		char **t = realloc(l->tmp, (l->ntmp + 1) * sizeof *t);
		if (!t) {
			free(path);
			c->rc = WF_ENOMEM;
			return 1;
		}
		l->tmp = t;
		l->tmp[l->ntmp++] = path;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		wf_seg *v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			free(path);
			c->rc = WF_ENOMEM;
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].first_seq = seq;
	l->v[l->n].path = path;
	l->n++;
	return 0;
}

static int seg_cmp(const void *a, const void *b)
{
	uint64_t x = ((const wf_seg *)a)->first_seq;
	uint64_t y = ((const wf_seg *)b)->first_seq;
	return x < y ? -1 : x > y;
}

int wf_seg_list_read(const wf_io *io, const char *dir, wf_seg_list *out,
                     int *errnum)
{
	memset(out, 0, sizeof *out);
	*errnum = 0;
	list_ctx c = {dir, out, 0};
	int rc = io->list(io->ctx, dir, list_one, &c);
	if (c.rc) {
		wf_seg_list_free(out);
		*errnum = ENOMEM;
		return c.rc;
	}
	if (rc < 0) {
		wf_seg_list_free(out);
		*errnum = -rc;
		return rc == -ENOENT || rc == -ENOTDIR ? WF_ENOTFOUND : WF_EIO;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof *out->v, seg_cmp);
	return 0;
}

void wf_seg_list_free(wf_seg_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	for (size_t i = 0; i < l->ntmp; i++)
		free(l->tmp[i]);
	free(l->v);
	free(l->tmp);
	memset(l, 0, sizeof *l);
}

int wf_dir_sync(const wf_io *io, const char *dir)
{
	int fd = io->open(io->ctx, dir, WF_IO_DIR);
	if (fd < 0)
		return fd;
	int rc = io->fsync(io->ctx, fd);
	io->close(io->ctx, fd);
	return rc;
}

static int write_all(const wf_io *io, int fd, const uint8_t *p, size_t n,
                     uint64_t off)
{
	while (n) {
		ssize_t w = io->pwrite(io->ctx, fd, p, n, off);
		if (w < 0)
			return (int)w;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int wf_sync_mark_write(const wf_io *io, int lock_fd, const wf_sync_mark *m)
{
	uint8_t b[WF_SYNC_MARK_SIZE];
	memcpy(b, WF_SYNC_MARK_MAGIC, 8);
	wf_put_u64(b + 8, m->journal_id);
	wf_put_u64(b + 16, m->seg_first);
	wf_put_u64(b + 24, m->end);
	wf_put_u64(b + 32, XXH3_64bits(b, 32));
	return write_all(io, lock_fd, b, sizeof b, 0);
}

int wf_sync_mark_read(const wf_io *io, int lock_fd, const char *dir,
                      wf_sync_mark *m)
{
	uint8_t b[WF_SYNC_MARK_SIZE];
	int fd = lock_fd;
	if (fd < 0) {
		char *path = malloc(strlen(dir) + 6);
		if (!path)
			return 0;
		sprintf(path, "%s/LOCK", dir);
		fd = io->open(io->ctx, path, WF_IO_RDONLY);
		free(path);
		if (fd < 0)
			return 0;
	}
	ssize_t r = io->pread(io->ctx, fd, b, sizeof b, 0);
	if (fd != lock_fd)
		io->close(io->ctx, fd);
	if (r <= 0)
		return 0;
	if (r != (ssize_t)sizeof b || memcmp(b, WF_SYNC_MARK_MAGIC, 8) ||
	    wf_get_u64(b + 32) != XXH3_64bits(b, 32))
		return -1;
	m->journal_id = wf_get_u64(b + 8);
	m->seg_first = wf_get_u64(b + 16);
	m->end = wf_get_u64(b + 24);
	return 1;
}

int wf_sync_mark_durable(const wf_io *io, int lock_fd, const char *dir,
                         uint64_t journal_id, uint64_t seg_first, uint64_t off)
{
	wf_sync_mark m;
	int rc = wf_sync_mark_read(io, lock_fd, dir, &m);
	if (rc <= 0)
		return rc == 0;
	/* Another journal's mark, or one ahead of this segment: trust
	 * nothing after it, as without a mark. */
	if (m.journal_id != journal_id || m.seg_first > seg_first)
		return 1;
	return m.seg_first == seg_first && off < m.end;
}

int wf_seg_create(const wf_io *io, const char *dir, const wf_seg_header *h,
                  int durable, int *fd_out, char **path_out, char *err,
                  size_t errlen)
{
	char *path = wf_seg_path(dir, h->first_seq);
	size_t tlen = path ? strlen(path) + 5 : 0;
	char *tmp = path ? malloc(tlen) : NULL;
	if (!tmp) {
		free(path);
		snprintf(err, errlen, "out of memory creating a segment");
		return WF_ENOMEM;
	}
	snprintf(tmp, tlen, "%s.tmp", path);
	const char *step = "create";
	uint8_t hdr[WF_SEG_HEADER_SIZE];
	wf_seg_header_encode(hdr, h);
	int fd = io->open(io->ctx, tmp, WF_IO_RDWR | WF_IO_CREATE);
	int rc = fd < 0 ? fd : 0;
	if (rc == 0) {
		step = "truncate";
		rc = io->ftruncate(io->ctx, fd, 0);
	}
	if (rc == 0) {
		step = "write header of";
		rc = write_all(io, fd, hdr, sizeof hdr, 0);
	}
	if (rc == 0 && durable) {
		step = "fsync";
		rc = io->fsync(io->ctx, fd);
	}
	if (rc == 0) {
		step = "rename into place";
		rc = io->rename(io->ctx, tmp, path);
	}
	if (rc == 0 && durable) {
		step = "fsync the directory of";
		rc = wf_dir_sync(io, dir);
	}
	if (rc < 0) {
		snprintf(err, errlen, "cannot %s segment %s: %s", step, path,
		         strerror(-rc));
		if (fd >= 0) {
			io->close(io->ctx, fd);
			io->unlink(io->ctx, tmp);
		}
		free(tmp);
		free(path);
		return WF_EIO;
	}
	free(tmp);
	*fd_out = fd;
	*path_out = path;
	return 0;
}

void wf_scan_init(wf_scan *s, const wf_io *io, int fd)
{
	memset(s, 0, sizeof *s);
	s->io = io;
	s->fd = fd;
}

void wf_scan_invalidate(wf_scan *s)
{
	s->len = 0;
}

void wf_scan_free(wf_scan *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

int wf_scan_refresh(wf_scan *s)
{
	return s->io->fsize(s->io->ctx, s->fd, &s->size);
}

int wf_scan_peek(wf_scan *s, uint64_t off, size_t n, const uint8_t **p,
                 size_t *got)
{
	if (off >= s->start && off + n <= s->start + s->len) {
		*p = s->buf + (off - s->start);
		*got = n;
		return 0;
	}
	/* Keep what we have from off on; drop what lies before it. */
	if (off >= s->start && off <= s->start + s->len) {
		size_t keep = (size_t)(s->start + s->len - off);
		if (keep)
			memmove(s->buf, s->buf + (off - s->start), keep);
		s->len = keep;
	} else {
		s->len = 0;
	}
	s->start = off;
	/* Read ahead a chunk, but not far past the end of a small file. */
	size_t want = n > SCAN_CHUNK ? n : SCAN_CHUNK;
	if (s->size > off && s->size - off < want)
		want = n > s->size - off + 4096 ? n : (size_t)(s->size - off) + 4096;
	if (want > s->cap) {
		uint8_t *b = realloc(s->buf, want);
		if (!b)
			return -ENOMEM;
		s->buf = b;
		s->cap = want;
	}
	while (s->len < want) {
		ssize_t r = s->io->pread(s->io->ctx, s->fd, s->buf + s->len,
		                         want - s->len, s->start + s->len);
		if (r < 0)
			return (int)r;
		if (r == 0)
			break;
		s->len += (size_t)r;
	}
	if (s->start + s->len > s->size)
		s->size = s->start + s->len;
	*p = s->buf;
	*got = s->len < n ? s->len : n;
	return 0;
}

int wf_scan_frame(wf_scan *s, uint64_t off, uint64_t seed, wf_frame_hdr *h,
                  const uint8_t **frame, const char **why)
{
	const uint8_t *p;
	size_t got;
	int rc = wf_scan_peek(s, off, WF_FRAME_HDR_MAX, &p, &got);
	if (rc < 0)
		return rc;
	rc = wf_frame_parse(p, got, h, why);
	if (rc == 1) {
		*why = "incomplete frame header at the end of the file";
		return WF_FRAME_INCOMPLETE;
	}
	if (rc < 0)
		return WF_FRAME_BAD;
	/* Bound the payload by the file before reading (or allocating). */
	uint64_t avail = s->size > off + h->hdr_len ? s->size - off - h->hdr_len
	                                            : 0;
	if (h->comp_len > avail) {
		if ((rc = wf_scan_refresh(s)) < 0)
			return rc;
		avail = s->size > off + h->hdr_len ? s->size - off - h->hdr_len
		                                   : 0;
		if (h->comp_len > avail) {
			*why = "frame runs past the end of the file";
			return WF_FRAME_INCOMPLETE;
		}
	}
	size_t total = h->hdr_len + (size_t)h->comp_len;
	if ((rc = wf_scan_peek(s, off, total, &p, &got)) < 0)
		return rc;
	if (got < total) {
		*why = "frame runs past the end of the file";
		return WF_FRAME_INCOMPLETE;
	}
	if (wf_frame_checksum(p, total, seed) != h->checksum && !WF_FUZZING) {
		*why = "frame checksum mismatch";
		return WF_FRAME_BAD;
	}
	*frame = p;
	return WF_FRAME_OK;
}

int wf_scan_find_next(wf_scan *s, uint64_t off, uint64_t seed,
                      int need_reset, uint64_t *at)
{
	int rc = wf_scan_refresh(s);
	if (rc < 0)
		return rc;
	for (uint64_t pos = off + 1; pos + WF_FRAME_HDR_MIN <= s->size;) {
		const uint8_t *p;
		size_t got;
		if ((rc = wf_scan_peek(s, pos, SCAN_CHUNK, &p, &got)) < 0)
			return rc;
		if (got < 4)
			return 0;
		const uint8_t *m = p;
		const uint8_t *end = p + got - 3;
		while (m < end &&
		       (m = memchr(m, WF_FRAME_MAGIC0, (size_t)(end - m))) &&
		       !wf_frame_is_marker(m))
			m++;
		if (!m || m >= end) {
			pos += got - 3;
			continue;
		}
		uint64_t cand = pos + (uint64_t)(m - p);
		wf_frame_hdr h;
		const uint8_t *f;
		const char *why;
		rc = wf_scan_frame(s, cand, seed, &h, &f, &why);
		if (rc < 0)
			return rc;
		if (rc == WF_FRAME_OK &&
		    (!need_reset || (h.flags & WF_FRAME_RESET))) {
			*at = cand;
			return 1;
		}
		pos = cand + 1;
	}
	return 0;
}
