/*
 * Fuzz target for snapshots (replay/snapshot.c) and the fold's payload
 * decoder behind them (wf_fold_restore, and the packed blocks of frozen
 * workflows that are unpacked on first use).
 *
 * The first input byte picks the mode, the rest is the data:
 *   0  the data is a fold payload (wf_fold_save's bytes), restored
 *      directly;
 *   1  the data is a fold payload, wrapped here in a valid version 1
 *      snapshot file (header, zstd frame, checksums) and loaded with
 *      wf_snapshot_load, as an engine's open does;
 *   2  the data is a whole snapshot file, loaded as it is (the header's
 *      checks, which the checksums otherwise keep the fuzzer from);
 *   3  the same, with the checksums of a version 2 or 3 file made right
 *      (header, directory, blocks), so that changes reach the directory
 *      and block checks and the blocks' contents; when bit 2 of the
 *      first byte is set too, the file is loaded lazily (records read
 *      when first asked for: fold.h, wf_fold_restore_lazy), and eagerly
 *      for comparison.
 * Files live in memory, behind the snapshot module's wf_io seam.
 *
 * Invariants checked (a failure aborts, which the fuzzer reports):
 *  - no crash, no sanitizer report, no leak;
 *  - a fold of one workflow (wf_fold_set_only) loaded from a file that
 *    loads whole answers for that workflow as the whole fold does;
 *  - a lazy load whose records all read answers as the eager load does,
 *    and an eager load that works means a lazy one whose records all
 *    read (no journal here: an unreadable block cannot be rebuilt);
 *  - a snapshot written from a lazy load (one more event applied; the
 *    blocks not read copied as stored) loads, and answers as the eager
 *    load with that event, whenever the eager load works;
 *  - a restored fold answers (list, metadata) the same after its own
 *    snapshot round trip, in memory (save, restore) and through a file
 *    (wf_snapshot_write, wf_snapshot_load).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>
#include <zstd.h>

#include "journal/format.h"
#include "journal/io.h"
#include "journal/varint.h"
#include "replay/events.h"
#include "replay/fold.h"
#include "replay/snapshot.h"

#include "fuzz_fold.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SNAP_DIR "/snap"
#define JOURNAL_ID 0x6a6f75726e616cull

/* ---- a directory of a few files in memory ---- */

#define NFILES 8

typedef struct mfile {
	int used;
	char name[80];
	uint8_t *data;
	size_t len;
} mfile;

typedef struct mdir {
	mfile f[NFILES];
} mdir;

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static int find(mdir *d, const char *path)
{
	for (int i = 0; i < NFILES; i++)
		if (d->f[i].used && strcmp(d->f[i].name, base(path)) == 0)
			return i;
	return -1;
}

static int m_open(void *ctx, const char *path, int flags)
{
	mdir *d = ctx;
	if (flags & WF_IO_DIR)
		return NFILES; /* the directory itself */
	int i = find(d, path);
	if (i >= 0)
		return (flags & WF_IO_EXCL) ? -EEXIST : i;
	if (!(flags & WF_IO_CREATE))
		return -ENOENT;
	for (i = 0; i < NFILES; i++)
		if (!d->f[i].used) {
			memset(&d->f[i], 0, sizeof d->f[i]);
			d->f[i].used = 1;
			snprintf(d->f[i].name, sizeof d->f[i].name, "%s", base(path));
			return i;
		}
	return -ENOSPC;
}

static int m_close(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
	return 0;
}

static ssize_t m_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off)
{
	if (fd >= NFILES)
		return -EISDIR;
	mfile *f = &((mdir *)ctx)->f[fd];
	if (off >= f->len)
		return 0;
	size_t k = f->len - (size_t)off < n ? f->len - (size_t)off : n;
	memcpy(buf, f->data + off, k);
	return (ssize_t)k;
}

static int m_resize(mfile *f, size_t len)
{
	uint8_t *p = realloc(f->data, len ? len : 1);
	if (!p)
		return -ENOMEM;
	if (len > f->len)
		memset(p + f->len, 0, len - f->len);
	f->data = p;
	f->len = len;
	return 0;
}

static ssize_t m_pwrite(void *ctx, int fd, const void *buf, size_t n,
                        uint64_t off)
{
	if (fd >= NFILES)
		return -EISDIR;
	mfile *f = &((mdir *)ctx)->f[fd];
	if (off + n > f->len && m_resize(f, (size_t)off + n) < 0)
		return -ENOSPC;
	memcpy(f->data + off, buf, n);
	return (ssize_t)n;
}

static int m_sync(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
	return 0;
}

static int m_ftruncate(void *ctx, int fd, uint64_t len)
{
	if (fd >= NFILES)
		return -EISDIR;
	return m_resize(&((mdir *)ctx)->f[fd], (size_t)len);
}

static int m_fsize(void *ctx, int fd, uint64_t *size)
{
	*size = fd < NFILES ? ((mdir *)ctx)->f[fd].len : 0;
	return 0;
}

static int m_unlink(void *ctx, const char *path)
{
	mdir *d = ctx;
	int i = find(d, path);
	if (i < 0)
		return -ENOENT;
	free(d->f[i].data);
	d->f[i].used = 0;
	return 0;
}

static int m_rename(void *ctx, const char *from, const char *to)
{
	mdir *d = ctx;
	int i = find(d, from);
	if (i < 0)
		return -ENOENT;
	if (find(d, to) >= 0)
		m_unlink(ctx, to);
	snprintf(d->f[i].name, sizeof d->f[i].name, "%s", base(to));
	return 0;
}

static int m_mkdir(void *ctx, const char *path)
{
	(void)ctx;
	(void)path;
	return -EEXIST;
}

static int m_lock(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
	return 0;
}

static int m_list(void *ctx, const char *dir, wf_io_list_fn fn, void *ud)
{
	mdir *d = ctx;
	(void)dir;
	for (int i = 0; i < NFILES; i++)
		if (d->f[i].used && fn(ud, d->f[i].name))
			break;
	return 0;
}

static int m_random(void *ctx, void *buf, size_t n)
{
	(void)ctx;
	memset(buf, 0x42, n);
	return 0;
}

static void mdir_free(mdir *d)
{
	for (int i = 0; i < NFILES; i++)
		if (d->f[i].used)
			free(d->f[i].data);
	memset(d, 0, sizeof *d);
}

static void put_file(mdir *d, const char *name, const uint8_t *p, size_t n)
{
	int fd = m_open(d, name, WF_IO_RDWR | WF_IO_CREATE);
	if (fd >= 0 && m_resize(&d->f[fd], n) == 0 && n)
		memcpy(d->f[fd].data, p, n);
}

/* ---- the modes ---- */

/* A snapshot file around payload p (what wf_snapshot_write makes). */
static uint8_t *wrap(const uint8_t *p, size_t n, uint64_t *seq, size_t *len)
{
	/* The payload names its position after "WFSF" and a version byte;
	 * the header must agree with it. */
	uint64_t last = 1;
	if (n > 5)
		wf_varint_get(p + 5, n - 5, &last);
	if (last == 0 || last >= WF_SEQ_LIMIT)
		last = 1;
	size_t bound = ZSTD_compressBound(n);
	uint8_t *f = malloc(WF_SNAP_HEADER_SIZE + bound);
	if (!f)
		return NULL;
	size_t c = ZSTD_compress(f + WF_SNAP_HEADER_SIZE, bound, p, n, 1);
	if (ZSTD_isError(c)) {
		free(f);
		return NULL;
	}
	memset(f, 0, WF_SNAP_HEADER_SIZE);
	memcpy(f, WF_SNAP_MAGIC, 8);
	wf_put_u32(f + 8, 1); /* version 1: the payload as one frame */
	wf_put_u32(f + 12, WF_SNAP_HEADER_SIZE);
	wf_put_u64(f + 16, JOURNAL_ID);
	wf_put_u64(f + 24, last);
	wf_put_u64(f + 32, n);
	wf_put_u64(f + 40, c);
	wf_put_u64(f + 48, XXH3_64bits_withSeed(f + WF_SNAP_HEADER_SIZE, c,
	                                        JOURNAL_ID));
	wf_put_u64(f + 56, XXH3_64bits(f, 56));
	*seq = last;
	*len = WF_SNAP_HEADER_SIZE + c;
	return f;
}

/*
 * Make a (version 2 or 3) file's checksums right where its layout can be
 * followed: every block's inside the file, the directory's, the header's.
 * What the fuzzer changes then reaches the directory and block checks
 * behind them.
 */
static void fix_sums(uint8_t *p, size_t len, uint64_t id)
{
	if (len < WF_SNAP_HEADER_SIZE + WF_SNAP_DIR_FIXED)
		return;
	uint8_t *d = p + WF_SNAP_HEADER_SIZE;
	uint64_t dirlen = wf_get_u64(d);
	uint32_t nb = wf_get_u32(d + 8);
	if (dirlen < WF_SNAP_DIR_FIXED || dirlen > len - WF_SNAP_HEADER_SIZE)
		return;
	for (uint32_t i = 0; i < nb; i++) {
		uint64_t at = WF_SNAP_DIR_FIXED + (uint64_t)i * WF_SNAP_DIR_BLOCK;
		if (at + WF_SNAP_DIR_BLOCK > dirlen)
			break;
		uint8_t *e = d + at;
		uint64_t off = wf_get_u64(e), c = wf_get_u64(e + 8);
		if (off <= len && c <= len - off)
			wf_put_u64(e + 24, XXH3_64bits_withSeed(p + off, c, id));
	}
	wf_put_u64(p + 48, XXH3_64bits_withSeed(d, dirlen, id));
	wf_put_u64(p + 56, XXH3_64bits(p, 56));
}

/* A fold of one workflow from the same file answers for it as the whole
 * fold does. Where the fuzzer forged the checksums (strict 0), the
 * directory may lie about which block holds a record, which only the
 * blocks left unread could tell: the one workflow's load may then not
 * find it, or refuse the file, but never answer something else. */
static void check_only(const wf_io *io, wf_fold *whole, uint64_t id,
                       uint64_t next, int strict)
{
	size_t i = 0;
	const wf_fwf *w;
	if (!wf_fold_next(whole, &i, &w))
		return;
	char *wid = strdup(w->id);
	wf_fold *g;
	if (!wid || wf_fold_new(&g) != 0) {
		free(wid);
		return;
	}
	uint64_t seq;
	char skipped[600];
	int rc = wf_fold_set_only(g, wid) == 0
	                 ? wf_snapshot_load(io, SNAP_DIR, id, next, &g, &seq,
	                                    skipped, sizeof skipped)
	                 : WF_ENOMEM;
	if (rc == 0 && strict)
		fuzz_fail("a snapshot that loads whole does not load for one "
		          "of its workflows", skipped);
	if (rc == 1) {
		cJSON *a = NULL, *b = NULL;
		char ea[300], eb[300];
		int ra = wf_fold_metadata(whole, wid, NULL, &a, ea, sizeof ea);
		int rb = wf_fold_metadata(g, wid, NULL, &b, eb, sizeof eb);
		char *ta = ra == 0 ? cJSON_PrintUnformatted(a) : NULL;
		char *tb = rb == 0 ? cJSON_PrintUnformatted(b) : NULL;
		if (ra == 0 && rb == 0 && ta && tb && strcmp(ta, tb) != 0) {
			fprintf(stderr, "whole: %s\nonly:  %s\n", ta, tb);
			fuzz_fail("one workflow's load answers differently", wid);
		}
		if (strict && (ra == WF_ENOTFOUND) != (rb == WF_ENOTFOUND))
			fuzz_fail("one workflow's load finds it, the whole one "
			          "not (or the other way)", wid);
		free(ta);
		free(tb);
		cJSON_Delete(a);
		cJSON_Delete(b);
	}
	wf_fold_free(g);
	free(wid);
}

/* Write f as a snapshot and load it back: the same answers. */
static void check_file_round_trip(const wf_io *io, wf_fold *f,
                                  const char *want)
{
	mdir *d = io->ctx;
	mdir_free(d);
	char err[600];
	if (wf_snapshot_write(io, SNAP_DIR, JOURNAL_ID, f, NULL, err,
	                      sizeof err) != 0)
		return; /* out of memory (the directory cannot fail) */
	wf_fold *g;
	if (wf_fold_new(&g) != 0)
		return;
	uint64_t seq = 0;
	char skipped[600];
	int rc = wf_snapshot_load(io, SNAP_DIR, JOURNAL_ID,
	                          wf_fold_last_seq(f) + 1, &g, &seq, skipped,
	                          sizeof skipped);
	if (rc == 0)
		fuzz_fail("a snapshot just written does not load", skipped);
	if (rc == 1) {
		char *got = fuzz_answers(g, 0, NULL);
		if (want && got && strcmp(want, got) != 0) {
			fprintf(stderr, "fold:   %s\nloaded: %s\n", want, got);
			fuzz_fail("a snapshot file answers differently", NULL);
		}
		free(got);
	}
	wf_fold_free(g);
}

/* An engine started after f was restored: [session_started] at the next
 * seq. @return 0, or -1 if there is no next seq. */
static int new_session(wf_fold *f)
{
	uint64_t seq = wf_fold_last_seq(f);
	if (seq == 0 || seq >= UINT64_MAX - 1)
		return -1; /* (seq + 1 would name the file restored, "1") */
	wf_event ev;
	memset(&ev, 0, sizeof ev);
	ev.seq = seq + 1;
	ev.time_ns = 1;
	ev.type = WF_EV_SESSION_STARTED;
	ev.nfields = 3;
	ev.fields[0] = wf_field_text("fuzz-session", 12);
	ev.fields[1] = wf_field_u(1);
	ev.fields[2] = wf_field_text("host", 4);
	char err[300];
	return wf_fold_apply(f, &ev, err, sizeof err) == 0 ? 0 : -1;
}

/* A snapshot of the lazily restored f written (the blocks it did not
 * read copied as stored) and loaded back eagerly: *ans its answers, or
 * NULL. @return wf_snapshot_write's code (err), or 2 if what was written
 * does not load. */
static int copy_round_trip(const wf_io *io, wf_fold *f, uint64_t id,
                           char **ans, char *err, size_t errlen)
{
	*ans = NULL;
	char skipped[600];
	int rc = wf_snapshot_write(io, SNAP_DIR, id, f, NULL, err, errlen);
	if (rc != 0)
		return rc;
	wf_fold *h;
	uint64_t seq = 0;
	if (wf_fold_new(&h) != 0)
		return WF_ENOMEM;
	wf_snapshot_set_lazy(UINT64_MAX, 0, 0);
	int lr = wf_snapshot_load(io, SNAP_DIR, id, UINT64_MAX, &h, &seq, skipped,
	                          sizeof skipped);
	wf_snapshot_set_lazy(0, 0, 0);
	if (lr == 1 && seq == wf_fold_last_seq(f))
		*ans = fuzz_answers(h, 0, NULL);
	else
		rc = 2;
	wf_fold_free(h);
	return rc;
}

/* Mode 3 with bit 2: the file (in d) loaded lazily into *f, and eagerly
 * to compare; and a snapshot written from the lazy load (copying what it
 * did not read), loaded back. @return 1 if *f is usable (every record
 * read). */
static int check_lazy(const wf_io *io, uint64_t id, uint64_t next,
                      wf_fold **f)
{
	uint64_t seq;
	char skipped[600], err[600];
	wf_snapshot_set_lazy(0, 0, 0);
	int lr = wf_snapshot_load(io, SNAP_DIR, id, next, f, &seq, skipped,
	                          sizeof skipped);
	char *copied = NULL, werr[600] = "";
	/* (a new session first: the snapshot is then named after it, not
	 * after the file restored, which stays where it is) */
	int sess = lr == 1 && new_session(*f) == 0;
	int wr = sess ? copy_round_trip(io, *f, id, &copied, werr, sizeof werr)
	              : 1;
	int all = lr == 1 ? wf_fold_read_all(*f, err, sizeof err) : -1;
	wf_fold *g;
	int er = -1;
	wf_snapshot_set_lazy(UINT64_MAX, 0, 0);
	if (wf_fold_new(&g) == 0)
		er = wf_snapshot_load(io, SNAP_DIR, id, next, &g, &seq, skipped,
		                      sizeof skipped);
	if (er == 1 && sess && new_session(g) < 0) {
		wf_fold_free(g); /* (out of memory) */
		er = -1;
	}
	wf_snapshot_set_lazy((uint64_t)1 << 20, (uint64_t)64 << 20, (uint64_t)256 << 10);
	if (er == 1 && lr == 0)
		fuzz_fail("an eager load works, a lazy one is refused", skipped);
	if (er == 1 && lr == 1 && all != 0 && all != WF_ENOMEM)
		fuzz_fail("an eager load works, a lazy one's records do not read",
		          err);
	if (all == 0 && er == 0)
		fuzz_fail("a lazy load's records all read, an eager load is "
		          "refused", skipped);
	if (er == 1 && wr == 2)
		fuzz_fail("an eager load works, the snapshot written from a lazy "
		          "one does not load", NULL);
	if (er == 1 && wr < 0 && wr != WF_ENOMEM)
		fuzz_fail("an eager load works, a snapshot of a lazy one cannot "
		          "be written", werr);
	if (er == 1 && wr == 0 && copied) {
		char *b = fuzz_answers(g, 0, NULL);
		if (b && strcmp(copied, b) != 0) {
			fprintf(stderr, "copied: %s\neager:  %s\n", copied, b);
			fuzz_fail("a snapshot written from a lazy load answers "
			          "differently", NULL);
		}
		free(b);
	}
	free(copied);
	if (all == 0 && er == 1) {
		char *a = fuzz_answers(*f, 0, NULL), *b = fuzz_answers(g, 0, NULL);
		if (a && b && strcmp(a, b) != 0) {
			fprintf(stderr, "lazy:  %s\neager: %s\n", a, b);
			fuzz_fail("a lazy load answers differently", NULL);
		}
		free(a);
		free(b);
	}
	if (er >= 0)
		wf_fold_free(g);
	return all == 0;
}

/* A restored fold: its answers, and both round trips. */
static void exercise(const wf_io *io, wf_fold *f)
{
	char *want = fuzz_answers(f, 0, NULL);
	fuzz_check_restore(f, want);
	check_file_round_trip(io, f, want);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	int mode = data[0] % 4;
	data++;
	size--;
	mdir d;
	memset(&d, 0, sizeof d);
	wf_io io = {.ctx = &d,
	            .open = m_open,
	            .close = m_close,
	            .pread = m_pread,
	            .pwrite = m_pwrite,
	            .fsync = m_sync,
	            .fdatasync = m_sync,
	            .ftruncate = m_ftruncate,
	            .fsize = m_fsize,
	            .rename = m_rename,
	            .unlink = m_unlink,
	            .mkdir = m_mkdir,
	            .lock = m_lock,
	            .list = m_list,
	            .random = m_random};
	wf_fold *f;
	if (wf_fold_new(&f) != 0)
		return 0;
	if (mode == 0) {
		uint8_t *p = malloc(size ? size : 1);
		char err[300];
		if (p) {
			memcpy(p, data, size);
			/* The fold takes p, also on failure. */
			if (wf_fold_restore(f, p, size, err, sizeof err) == 0)
				exercise(&io, f);
		}
	} else {
		uint64_t seq = 1, next = UINT64_MAX;
		uint64_t id = size >= 24 ? wf_get_u64(data + 16) : JOURNAL_ID;
		size_t len = size;
		uint8_t *file = NULL;
		if (mode == 1) {
			if (!(file = wrap(data, size, &seq, &len))) {
				wf_fold_free(f);
				return 0;
			}
			id = JOURNAL_ID;
			next = seq + 1;
		}
		if (mode == 3) {
			if (!(file = malloc(size ? size : 1))) {
				wf_fold_free(f);
				return 0;
			}
			memcpy(file, data, size);
			fix_sums(file, size, id);
		}
		char name[64];
		snprintf(name, sizeof name, "%020llu.wfs", (unsigned long long)seq);
		put_file(&d, name, file ? file : data, len);
		free(file);
		char skipped[600];
		if (mode == 3 && (data[-1] & 4)) {
			if (check_lazy(&io, id, next, &f))
				exercise(&io, f);
		} else if (wf_snapshot_load(&io, SNAP_DIR, id, next, &f, &seq,
		                            skipped, sizeof skipped) == 1) {
			if (mode >= 2)
				check_only(&io, f, id, next, mode == 2);
			exercise(&io, f);
		}
	}
	wf_fold_free(f);
	mdir_free(&d);
	return 0;
}
