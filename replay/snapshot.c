/*
 * Snapshot files (see snapshot.h). Writing: wf_fold_save, one zstd frame,
 * checksums, then tmp file + fsync + rename + directory fsync, then old
 * snapshots removed. Loading: newest first; each candidate is checked
 * (header checksum, version, journal id, position, payload checksum,
 * decompressed length, then wf_fold_restore's own checks) before it is
 * believed. All file operations go through the caller's wf_io (NULL:
 * POSIX), which returns -errno rather than setting errno.
 */
#include "snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#include <zstd.h>

#include "journal/varint.h"
#include "wflow.h"

static void errf(char *err, size_t len, const char *fmt, ...)
{
	if (!err || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* Append "; what" (or "what") to the list of skipped snapshots. */
static void skipf(char *list, size_t len, const char *fmt, ...)
{
	if (!list || !len)
		return;
	size_t n = strlen(list);
	if (n && n + 2 < len) {
		memcpy(list + n, "; ", 3);
		n += 2;
	}
	if (n + 1 >= len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(list + n, len - n, fmt, ap);
	va_end(ap);
}

/* @return 0 or -errno. */
static int write_all(const wf_io *io, int fd, const uint8_t *p, size_t n)
{
	uint64_t off = 0;
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

/* @return 0 or -errno. */
static int fsync_dir(const wf_io *io, const char *dir)
{
	int fd = io->open(io->ctx, dir, WF_IO_DIR);
	if (fd < 0)
		return fd;
	int rc = io->fsync(io->ctx, fd);
	io->close(io->ctx, fd);
	return rc;
}

/* Names of a directory listing: snapshots (tmp 0) or the temporary files
 * of interrupted writes (tmp 1). */
typedef struct name_list {
	char **v;
	size_t n, cap;
	int tmp;
	int rc; /* -ENOMEM */
} name_list;

static int list_one(void *ud, const char *name)
{
	name_list *l = ud;
	size_t len = strlen(name), sl = strlen(WF_SNAP_SUFFIX ".tmp");
	if (l->tmp ? len <= sl || strcmp(name + len - sl, WF_SNAP_SUFFIX ".tmp")
	           : len != 20 + strlen(WF_SNAP_SUFFIX) ||
	                 strcmp(name + 20, WF_SNAP_SUFFIX) != 0 ||
	                 strspn(name, "0123456789") != 20)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			l->rc = -ENOMEM;
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(name))) {
		l->rc = -ENOMEM;
		return 1;
	}
	l->n++;
	return 0;
}

static void free_names(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Snapshot names in dir (tmp 0: newest, i.e. largest seq, first), or the
 * temporary files left in it (tmp 1). @return count (0 if dir does not
 * exist), or -errno (-ENOMEM). *names is malloc'd (free each, then it). */
static int list_snapshots(const wf_io *io, const char *dir, int tmp,
                          char ***names)
{
	name_list l = {NULL, 0, 0, tmp, 0};
	*names = NULL;
	int rc = io->list(io->ctx, dir, list_one, &l);
	if (l.rc < 0 || (rc < 0 && rc != -ENOENT)) {
		free_names(l.v, (int)l.n);
		return l.rc < 0 ? l.rc : rc;
	}
	if (rc < 0) { /* no directory: no snapshots */
		free_names(l.v, (int)l.n);
		return 0;
	}
	/* Newest first: names are fixed-width numbers. */
	for (size_t i = 1; i < l.n; i++)
		for (size_t k = i; k > 0 && strcmp(l.v[k - 1], l.v[k]) < 0; k--) {
			char *t = l.v[k];
			l.v[k] = l.v[k - 1];
			l.v[k - 1] = t;
		}
	*names = l.v;
	return (int)l.n;
}

int wf_snapshot_write(const wf_io *io, const char *dir, uint64_t journal_id,
                      wf_fold *f, uint64_t *bytes, char *err, size_t errlen)
{
	uint8_t *raw = NULL;
	size_t rawlen = 0;
	int rc = wf_fold_save(f, &raw, &rawlen);
	if (rc < 0) {
		errf(err, errlen, "out of memory saving the state");
		return rc;
	}
	rc = wf_snapshot_write_payload(io, dir, journal_id, wf_fold_last_seq(f),
	                               raw, rawlen, bytes, err, errlen);
	free(raw);
	return rc;
}

int wf_snapshot_write_payload(const wf_io *io, const char *dir,
                              uint64_t journal_id, uint64_t seq,
                              const uint8_t *raw, size_t rawlen,
                              uint64_t *bytes, char *err, size_t errlen)
{
	if (!io)
		io = wf_io_posix();
	if (!dir || !raw) { /* (also tells gcc -O2 with ASan: not NULL) */
		errf(err, errlen, "no directory or no payload");
		return WF_EINVAL;
	}
	uint8_t *comp = NULL;
	size_t bound = ZSTD_compressBound(rawlen);
	if (!(comp = malloc(WF_SNAP_HEADER_SIZE + bound))) {
		errf(err, errlen, "out of memory saving the state");
		return WF_ENOMEM;
	}
	size_t clen = ZSTD_compress(comp + WF_SNAP_HEADER_SIZE, bound, raw,
	                            rawlen, 1);
	if (ZSTD_isError(clen)) {
		free(comp);
		errf(err, errlen, "compressing the snapshot: %s",
		     ZSTD_getErrorName(clen));
		return WF_EIO;
	}
	uint8_t *h = comp;
	memset(h, 0, WF_SNAP_HEADER_SIZE);
	memcpy(h, WF_SNAP_MAGIC, 8);
	wf_put_u32(h + 8, WF_SNAP_VERSION);
	wf_put_u32(h + 12, WF_SNAP_HEADER_SIZE);
	wf_put_u64(h + 16, journal_id);
	wf_put_u64(h + 24, seq);
	wf_put_u64(h + 32, rawlen);
	wf_put_u64(h + 40, clen);
	wf_put_u64(h + 48, XXH3_64bits_withSeed(h + WF_SNAP_HEADER_SIZE, clen,
	                                        journal_id));
	wf_put_u64(h + 56, XXH3_64bits(h, 56));

	char path[4200], tmp[4300];
	int r = io->mkdir(io->ctx, dir);
	if (r < 0 && r != -EEXIST) {
		errf(err, errlen, "cannot create %s: %s", dir, strerror(-r));
		free(comp);
		return WF_EIO;
	}
	snprintf(path, sizeof path, "%s/%020" PRIu64 "%s", dir, seq,
	         WF_SNAP_SUFFIX);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	/* Temporary files of writes a crash interrupted: the writer owns the
	 * directory, and nothing reads them. */
	char **names;
	int n = list_snapshots(io, dir, 1, &names);
	for (int i = 0; i < n; i++) {
		char old[4400];
		snprintf(old, sizeof old, "%s/%s", dir, names[i]);
		io->unlink(io->ctx, old);
	}
	if (n > 0)
		free_names(names, n);
	const char *what = "create";
	size_t total = WF_SNAP_HEADER_SIZE + clen;
	int fd = io->open(io->ctx, tmp, WF_IO_RDWR | WF_IO_CREATE);
	r = fd < 0 ? fd : 0;
	if (r == 0) {
		what = "truncate";
		r = io->ftruncate(io->ctx, fd, 0);
	}
	if (r == 0) {
		what = "write";
		r = write_all(io, fd, comp, total);
	}
	if (r == 0) {
		what = "fdatasync";
		r = io->fdatasync(io->ctx, fd);
	}
	free(comp);
	if (fd >= 0) {
		int c = io->close(io->ctx, fd);
		if (r == 0 && c < 0) {
			what = "close";
			r = c;
		}
	}
	if (r < 0) {
		errf(err, errlen, "cannot %s %s: %s", what, tmp, strerror(-r));
		if (fd >= 0)
			io->unlink(io->ctx, tmp);
		return WF_EIO;
	}
	if ((r = io->rename(io->ctx, tmp, path)) < 0) {
		errf(err, errlen, "cannot rename %s into place: %s", tmp,
		     strerror(-r));
		io->unlink(io->ctx, tmp);
		return WF_EIO;
	}
	if ((r = fsync_dir(io, dir)) < 0) {
		errf(err, errlen, "cannot fsync directory %s (after renaming %s "
		     "into it): %s", dir, path, strerror(-r));
		return WF_EIO;
	}
	if (bytes)
		*bytes = total;
	/* Keep this one and the newest older ones of the same journal (the
	 * fallback if this one turns out damaged); remove the rest: older
	 * ones, and those of another journal or beyond this one (a journal
	 * reset under the same directory), which the writer's directory can
	 * never use and which would otherwise outrank this one by name. */
	n = list_snapshots(io, dir, 0, &names);
	int kept = 1;
	for (int i = 0; i < n; i++) {
		char old[4200];
		snprintf(old, sizeof old, "%s/%s", dir, names[i]);
		if (strcmp(old, path) == 0)
			continue;
		uint8_t h[WF_SNAP_HEADER_SIZE];
		int fd = io->open(io->ctx, old, WF_IO_RDONLY);
		int ours = fd >= 0 &&
		           io->pread(io->ctx, fd, h, sizeof h, 0) ==
		               (ssize_t)sizeof h &&
		           memcmp(h, WF_SNAP_MAGIC, 8) == 0 &&
		           wf_get_u64(h + 16) == journal_id &&
		           wf_get_u64(h + 24) < seq;
		if (fd >= 0)
			io->close(io->ctx, fd);
		/* A snapshot that cannot be read is removed as foreign: at
		 * worst an older fallback goes, never the one just written. */
		if (ours && kept < WF_SNAP_KEEP)
			kept++;
		else
			io->unlink(io->ctx, old);
	}
	if (n > 0)
		free_names(names, n);
	return 0;
}

/* The whole file in *out (malloc'd). @return 0 or -errno (-ENOMEM). */
static int read_file(const wf_io *io, const char *path, uint8_t **out,
                     size_t *len)
{
	*out = NULL;
	uint64_t size = 0;
	int fd = io->open(io->ctx, path, WF_IO_RDONLY);
	if (fd < 0)
		return fd;
	int rc = io->fsize(io->ctx, fd, &size);
	if (rc == 0 && size > ((uint64_t)1 << 40))
		rc = -EFBIG;
	size_t n = (size_t)size, got = 0;
	uint8_t *p = rc == 0 ? malloc(n ? n : 1) : NULL;
	if (rc == 0 && !p)
		rc = -ENOMEM;
	while (rc == 0 && got < n) {
		ssize_t r = io->pread(io->ctx, fd, p + got, n - got, got);
		if (r <= 0)
			rc = r < 0 ? (int)r : -EIO; /* shrank under us */
		else
			got += (size_t)r;
	}
	io->close(io->ctx, fd);
	if (rc < 0) {
		free(p);
		return rc;
	}
	*out = p;
	*len = n;
	return 0;
}

/* Check and restore one snapshot file into the empty fold f.
 * @return 1 restored, 0 unusable (why says why), WF_ENOMEM. */
static int try_one(const wf_io *io, const char *path, uint64_t journal_id,
                   uint64_t next_seq, wf_fold *f, uint64_t *seq, char *why,
                   size_t whylen, int *beyond)
{
	*beyond = 0;
	size_t len = 0;
	uint8_t *p;
	int r = read_file(io, path, &p, &len);
	if (r == -ENOMEM)
		return WF_ENOMEM;
	if (r < 0) {
		errf(why, whylen, "cannot read it: %s", strerror(-r));
		return 0;
	}
	int rc = 0;
	const uint8_t *h = p;
	uint64_t rawlen = 0, clen = 0, last = 0;
	if (len < WF_SNAP_HEADER_SIZE || memcmp(h, WF_SNAP_MAGIC, 8) != 0) {
		errf(why, whylen, "not a snapshot (no magic)");
	} else if (wf_get_u64(h + 56) != XXH3_64bits(h, 56)) {
		errf(why, whylen, "header checksum mismatch");
	} else if (wf_get_u32(h + 8) != WF_SNAP_VERSION ||
	           wf_get_u32(h + 12) != WF_SNAP_HEADER_SIZE) {
		errf(why, whylen, "format version %u, this wflow reads %u",
		     wf_get_u32(h + 8), WF_SNAP_VERSION);
	} else if (wf_get_u64(h + 16) != journal_id) {
		errf(why, whylen, "made from another journal");
	} else if ((last = wf_get_u64(h + 24)) >= next_seq) {
		errf(why, whylen, "covers events up to %" PRIu64 ", beyond the "
		     "journal's end (%" PRIu64 ")", last, next_seq - 1);
		*beyond = 1;
	} else if ((clen = wf_get_u64(h + 40)) != len - WF_SNAP_HEADER_SIZE) {
		errf(why, whylen, "%zu bytes, the header says %" PRIu64, len,
		     clen + WF_SNAP_HEADER_SIZE);
	} else if (XXH3_64bits_withSeed(p + WF_SNAP_HEADER_SIZE, clen,
	                                journal_id) != wf_get_u64(h + 48)) {
		errf(why, whylen, "payload checksum mismatch");
	} else if ((rawlen = wf_get_u64(h + 32)) > ((uint64_t)1 << 36)) {
		errf(why, whylen, "implausible length %" PRIu64, rawlen);
	} else {
		uint8_t *raw = malloc(rawlen ? rawlen : 1);
		if (!raw) {
			free(p);
			return WF_ENOMEM;
		}
		size_t got = ZSTD_decompress(raw, rawlen, p + WF_SNAP_HEADER_SIZE,
		                             clen);
		if (ZSTD_isError(got) || got != rawlen) {
			errf(why, whylen, "payload does not decompress");
			free(raw);
		} else {
			char err[300];
			/* The fold takes raw (its frozen blocks stay in it). */
			int r = wf_fold_restore(f, raw, rawlen, err, sizeof err);
			if (r == WF_ENOMEM)
				rc = WF_ENOMEM;
			else if (r < 0)
				errf(why, whylen, "%s", err);
			else if (wf_fold_last_seq(f) != last)
				errf(why, whylen, "payload and header disagree on "
				     "the position");
			else
				rc = 1;
		}
	}
	free(p);
	if (rc == 1)
		*seq = last;
	return rc;
}

static int load(const wf_io *io, const char *dir, uint64_t journal_id,
                uint64_t next_seq, wf_fold **f, uint64_t *seq, char *skipped,
                size_t skippedlen, int prune)
{
	if (skipped && skippedlen)
		skipped[0] = '\0';
	*seq = 0;
	if (!io)
		io = wf_io_posix();
	char **names;
	int n = list_snapshots(io, dir, 0, &names);
	if (n == -ENOMEM)
		return WF_ENOMEM;
	if (n < 0) {
		skipf(skipped, skippedlen, "%s: cannot list: %s", dir,
		      strerror(-n));
		return 0;
	}
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		char path[4200], why[400];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		int beyond;
		rc = try_one(io, path, journal_id, next_seq, *f, seq, why,
		             sizeof why, &beyond);
		if (rc == 0) {
			if (prune && beyond && io->unlink(io->ctx, path) == 0)
				skipf(skipped, skippedlen, "%s: %s (removed)", path,
				      why);
			else
				skipf(skipped, skippedlen, "%s: %s", path, why);
			/* What a failed restore left is not trusted. */
			wf_fold *fresh;
			if (wf_fold_new(&fresh) < 0) {
				rc = WF_ENOMEM;
				break;
			}
			wf_fold_free(*f);
			*f = fresh;
		}
	}
	if (n > 0)
		free_names(names, n);
	return rc;
}

int wf_snapshot_load(const wf_io *io, const char *dir, uint64_t journal_id,
                     uint64_t next_seq, wf_fold **f, uint64_t *seq,
                     char *skipped, size_t skippedlen)
{
	return load(io, dir, journal_id, next_seq, f, seq, skipped, skippedlen,
	            0);
}

int wf_snapshot_load_writer(const wf_io *io, const char *dir,
                            uint64_t journal_id, uint64_t next_seq,
                            wf_fold **f, uint64_t *seq, char *skipped,
                            size_t skippedlen)
{
	return load(io, dir, journal_id, next_seq, f, seq, skipped, skippedlen,
	            1);
}
