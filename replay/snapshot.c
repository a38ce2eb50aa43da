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
#include <sys/mman.h>

#include <xxhash.h>
#include <zstd.h>

#include "journal/journal.h"
#include "journal/segment.h"
#include "journal/varint.h"
#include "bigmem.h"
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

/* Memory for a payload or a file's bytes, freed with free() (the fold
 * takes a payload): tens of MB touched once while decompressing. */
static uint8_t *payload_alloc(size_t n)
{
	return wf_big_alloc(n);
}

/* One block per this many payload bytes (whole records): what wflow meta
 * decompresses to read one workflow. */
#define BLOCK_RAW (256u << 10)

/* A lazily restored snapshot's file (below): the source of the blocks a
 * new snapshot copies as they are stored. */
typedef struct lazy_src lazy_src;

/* Where a file block's bytes come from. */
typedef struct oblock {
	size_t lo, hi;   /* payload bytes [lo, hi) of raw, compressed here */
	size_t r0, rn;   /* records: the first (raw's), and how many */
	size_t copy;     /* else 1 + a source block to copy as stored */
} oblock;

/* Up to what a snapshot file is written from: memory, or a block of the
 * source file. */
typedef struct piece {
	const uint8_t *mem; /* NULL: copy source block `copy` */
	size_t len;
	size_t copy;
} piece;

typedef struct built {
	uint8_t *mem;   /* header, directory, the blocks compressed here */
	piece *pv;
	size_t np;
	size_t total;   /* the file's size */
} built;

static void built_free(built *b)
{
	free(b->mem);
	free(b->pv);
	memset(b, 0, sizeof *b);
}

/* A fold's saved state: raw with the references' bytes inserted
 * (fold.h wf_fold_save_recs), len bytes in all, and where its records
 * start. */
typedef struct payload {
	const uint8_t *raw;
	size_t rawlen, len;
	const wf_fold_ref *refs;
	size_t nrefs;
	const wf_fold_rec *recs;
	size_t nrecs;
} payload;

/* Bytes [lo, hi) of the payload: in place when no reference falls in
 * them, else gathered into *buf (*cap bytes, grown as needed). NULL: out
 * of memory. */
static const uint8_t *span(const payload *pl, uint64_t lo, uint64_t hi,
                           uint8_t **buf, size_t *cap)
{
	const wf_fold_ref *v = pl->refs;
	size_t n = pl->nrefs, l = 0, r = n;
	while (l < r) { /* the first reference that ends after lo */
		size_t m = l + (r - l) / 2;
		if (v[m].off + v[m].len <= lo)
			l = m + 1;
		else
			r = m;
	}
	size_t k = l;
	/* bytes of references before reference k (or all) */
#define MOVED(k) ((k) < n ? v[k].off - v[k].raw : pl->len - pl->rawlen)
	if (k == n || v[k].off >= hi)
		return pl->raw + (lo - MOVED(k));
	if (*cap < hi - lo) {
		uint8_t *b = realloc(*buf, hi - lo);
		if (!b)
			return NULL;
		*buf = b;
		*cap = hi - lo;
	}
	uint8_t *d = *buf;
	for (uint64_t pos = lo, e; pos < hi; d += e - pos, pos = e) {
		if (k < n && v[k].off <= pos) {
			e = v[k].off + v[k].len < hi ? v[k].off + v[k].len : hi;
			memcpy(d, v[k].p + (pos - v[k].off), e - pos);
			k++;
		} else {
			e = k < n && v[k].off < hi ? v[k].off : hi;
			memcpy(d, pl->raw + (pos - MOVED(k)), e - pos);
		}
	}
#undef MOVED
	return *buf;
}

static uint64_t src_hash(const lazy_src *z, uint64_t k);
static uint8_t src_status(const lazy_src *z, uint64_t k);
static const uint64_t *src_block(const lazy_src *z, size_t i,
                                 uint64_t *clen, uint64_t *rawlen,
                                 uint64_t *sum);

/* Append block (lo, hi, r0, rn, copy) to *v. */
static int add_block(oblock **v, size_t *n, size_t *cap, oblock b)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		oblock *t = realloc(*v, c * sizeof *t);
		if (!t)
			return WF_ENOMEM;
		*v = t;
		*cap = c;
	}
	(*v)[(*n)++] = b;
	return 0;
}

/* The blocks: the payload's header (up to its record count), then runs
 * of whole records of about BLOCK_RAW bytes, and between them the source
 * blocks cb[0..ncb), each where its hashes fall among the records'.
 * @return 0, WF_ENOMEM, WF_EIO (a record's hash inside a copied block's
 *         range: the fold promised otherwise). */
static int plan_blocks(const wf_fold_rec *recs, size_t nrecs, size_t rawlen,
                       size_t first, const lazy_src *src, const size_t *cb,
                       size_t ncb, oblock **out, size_t *nout)
{
	oblock *v = NULL;
	size_t n = 0, cap = 0;
	int rc = add_block(&v, &n, &cap, (oblock){0, first, 0, 0, 0});
	size_t i = 0, c = 0;
	while (!rc && (i < nrecs || c < ncb)) {
		/* Records before the next copied block's first hash. */
		uint64_t lo = UINT64_MAX, hi = 0;
		if (c < ncb) {
			const uint64_t *fr = src_block(src, cb[c], NULL, NULL, NULL);
			lo = src_hash(src, fr[0]);
			hi = src_hash(src, fr[1] - 1);
		}
		size_t end = i;
		while (end < nrecs && recs[end].id_hash < lo)
			end++;
		while (!rc && i < end) {
			size_t j = i + 1;
			while (j < end && recs[j].off - recs[i].off < BLOCK_RAW)
				j++;
			size_t h = j < nrecs ? (size_t)recs[j].off : rawlen;
			rc = add_block(&v, &n, &cap,
			               (oblock){recs[i].off, h, i, j - i, 0});
			i = j;
		}
		if (rc || c == ncb)
			continue;
		if (i < nrecs && recs[i].id_hash <= hi) {
			rc = WF_EIO;
			break;
		}
		rc = add_block(&v, &n, &cap, (oblock){0, 0, 0, 0, 1 + cb[c]});
		c++;
	}
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*nout = n;
	return 0;
}

/*
 * The file (header, directory, blocks) as pieces: the blocks compressed
 * here from raw (the payload's header, then runs of whole records of
 * about BLOCK_RAW bytes) and the source blocks cb[0..ncb) copied as
 * stored, in hash order. @return 0, WF_ENOMEM, WF_EIO (err).
 */
static int build_file(uint64_t journal_id, uint64_t seq, const payload *pl,
                      const lazy_src *src, const size_t *cb, size_t ncb,
                      built *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	const wf_fold_rec *recs = pl->recs;
	size_t nrecs = pl->nrecs, rawlen = pl->len;
	/* (the header is before every reference: in raw as it is) */
	const uint8_t *raw = pl->raw;
	size_t first = nrecs ? (size_t)recs[0].off : rawlen;
	/* The payload's header ends with the record count, a varint: the
	 * copied blocks' records count too. */
	uint64_t ncopied = 0;
	for (size_t c = 0; c < ncb; c++) {
		const uint64_t *fr = src_block(src, cb[c], NULL, NULL, NULL);
		ncopied += fr[1] - fr[0];
	}
	uint64_t all = nrecs + ncopied;
	uint8_t vb[10];
	size_t vlen = wf_varint_put(vb, all);
	if (first < vlen || first > rawlen || first > pl->rawlen ||
	    (pl->nrefs && pl->refs[0].off < first) ||
	    memcmp(raw + first - vlen, vb, vlen) != 0) {
		errf(err, errlen, "saving the state: its records are not where "
		     "the fold said");
		return WF_EIO;
	}
	oblock *ob;
	size_t nb;
	int rc = plan_blocks(recs, nrecs, rawlen, first, src, cb, ncb, &ob,
	                     &nb);
	if (rc == WF_EIO)
		errf(err, errlen, "saving the state: a record falls inside a "
		     "block kept as stored");
	if (rc)
		return rc;
	size_t dirlen = WF_SNAP_DIR_FIXED + nb * WF_SNAP_DIR_BLOCK + 5 * all;
	size_t bound = WF_SNAP_HEADER_SIZE + dirlen;
	for (size_t b = 0; b < nb; b++)
		if (!ob[b].copy)
			bound += ZSTD_compressBound(ob[b].hi - ob[b].lo);
	uint8_t *p = payload_alloc(bound);
	piece *pv = malloc((nb + 1) * sizeof *pv);
	if (!p || !pv) {
		free(p);
		free(pv);
		free(ob);
		return WF_ENOMEM;
	}
	uint8_t *d = p + WF_SNAP_HEADER_SIZE;
	memset(p, 0, WF_SNAP_HEADER_SIZE + WF_SNAP_DIR_FIXED);
	wf_put_u64(d, dirlen);
	wf_put_u32(d + 8, (uint32_t)nb);
	wf_put_u32(d + 12, (uint32_t)(first - vlen));
	wf_put_u64(d + 16, all);
	uint8_t *hv = d + WF_SNAP_DIR_FIXED + nb * WF_SNAP_DIR_BLOCK;
	uint8_t *sv = hv + 4 * all; /* the statuses */
	size_t np = 0;
	pv[np++] = (piece){p, WF_SNAP_HEADER_SIZE + dirlen, 0};
	size_t mpos = WF_SNAP_HEADER_SIZE + dirlen; /* in p */
	uint64_t fpos = mpos;                       /* in the file */
	uint64_t rec = 0, rawall = 0;
	uint8_t *gbuf = NULL; /* a block gathered (span) */
	size_t gcap = 0;
	for (size_t b = 0; b < nb && !rc; b++) {
		uint64_t clen, rlen, sum, n = 0;
		if (ob[b].copy) {
			const uint64_t *fr = src_block(src, ob[b].copy - 1, &clen,
			                               &rlen, &sum);
			n = fr[1] - fr[0];
			for (uint64_t k = 0; k < n; k++) {
				wf_put_u32(hv + 4 * (rec + k),
				           (uint32_t)src_hash(src, fr[0] + k));
				sv[rec + k] = src_status(src, fr[0] + k);
			}
			pv[np++] = (piece){NULL, clen, ob[b].copy - 1};
		} else {
			const uint8_t *in = span(pl, ob[b].lo, ob[b].hi, &gbuf,
			                         &gcap);
			if (!in) {
				rc = WF_ENOMEM;
				break;
			}
			size_t c = ZSTD_compress(p + mpos, bound - mpos, in,
			                         ob[b].hi - ob[b].lo, 1);
			if (ZSTD_isError(c)) {
				errf(err, errlen, "compressing the snapshot: %s",
				     ZSTD_getErrorName(c));
				rc = WF_EIO;
				break;
			}
			clen = c;
			rlen = ob[b].hi - ob[b].lo;
			sum = XXH3_64bits_withSeed(p + mpos, c, journal_id);
			n = ob[b].rn;
			for (uint64_t k = 0; k < n; k++) {
				wf_put_u32(hv + 4 * (rec + k),
				           recs[ob[b].r0 + k].id_hash);
				sv[rec + k] = recs[ob[b].r0 + k].status;
			}
			if (np && pv[np - 1].mem &&
			    pv[np - 1].mem + pv[np - 1].len == p + mpos)
				pv[np - 1].len += c; /* follows in memory */
			else
				pv[np++] = (piece){p + mpos, c, 0};
			mpos += c;
		}
		uint8_t *e = d + WF_SNAP_DIR_FIXED + b * WF_SNAP_DIR_BLOCK;
		wf_put_u64(e, fpos);
		wf_put_u64(e + 8, clen);
		wf_put_u64(e + 16, rlen);
		wf_put_u64(e + 24, sum);
		wf_put_u64(e + 32, b ? rec : 0);
		wf_put_u64(e + 40, n);
		fpos += clen;
		rawall += rlen;
		rec += n;
	}
	free(gbuf);
	free(ob);
	if (rc) {
		free(p);
		free(pv);
		return rc;
	}
	uint8_t *h = p;
	memcpy(h, WF_SNAP_MAGIC, 8);
	wf_put_u32(h + 8, WF_SNAP_VERSION);
	wf_put_u32(h + 12, WF_SNAP_HEADER_SIZE);
	wf_put_u64(h + 16, journal_id);
	wf_put_u64(h + 24, seq);
	wf_put_u64(h + 32, rawall);
	wf_put_u64(h + 40, fpos - WF_SNAP_HEADER_SIZE);
	wf_put_u64(h + 48, XXH3_64bits_withSeed(d, dirlen, journal_id));
	wf_put_u64(h + 56, XXH3_64bits(h, 56));
	out->mem = p;
	out->pv = pv;
	out->np = np;
	out->total = fpos;
	return 0;
}

static int write_file(const wf_io *io, const char *dir, uint64_t journal_id,
                      uint64_t seq, const payload *pl, const lazy_src *src,
                      const size_t *cb, size_t ncb, uint64_t *bytes,
                      char *err, size_t errlen);

/* Write the pieces of b into fd; a copied block is checked against its
 * checksum first. @return 0, -errno (*what), or 1: a copied block is
 * damaged. */
static int write_pieces(const wf_io *io, int fd, const built *b,
                        const lazy_src *src, uint64_t journal_id,
                        const char **what);

/* wf_snapshot_write_payload, with the blocks cb[0..ncb) of src copied as
 * stored. @return as it, or WF_ECORRUPT: a block to copy is damaged
 * (nothing written). */
static int write_file(const wf_io *io, const char *dir, uint64_t journal_id,
                      uint64_t seq, const payload *pl, const lazy_src *src,
                      const size_t *cb, size_t ncb, uint64_t *bytes,
                      char *err, size_t errlen)
{
	if (!io)
		io = wf_io_posix();
	if (!dir || !pl->raw || (pl->nrecs && !pl->recs)) {
		/* (also tells gcc -O2 with ASan: not NULL) */
		errf(err, errlen, "no directory or no payload");
		return WF_EINVAL;
	}
	built bf;
	int brc = build_file(journal_id, seq, pl, src, cb, ncb, &bf, err,
	                     errlen);
	if (brc == WF_ENOMEM)
		errf(err, errlen, "out of memory saving the state");
	if (brc < 0)
		return brc;

	char path[4200], tmp[4300];
	int r = io->mkdir(io->ctx, dir);
	if (r < 0 && r != -EEXIST) {
		errf(err, errlen, "cannot create %s: %s", dir, strerror(-r));
		built_free(&bf);
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
	int fd = io->open(io->ctx, tmp, WF_IO_RDWR | WF_IO_CREATE);
	r = fd < 0 ? fd : 0;
	if (r == 0) {
		what = "truncate";
		r = io->ftruncate(io->ctx, fd, 0);
	}
	int damaged = 0;
	if (r == 0) {
		what = "write";
		r = write_pieces(io, fd, &bf, src, journal_id, &what);
		damaged = r == 1;
	}
	if (r == 0) {
		what = "fdatasync";
		r = io->fdatasync(io->ctx, fd);
	}
	uint64_t total = bf.total;
	built_free(&bf);
	if (damaged) {
		io->close(io->ctx, fd);
		io->unlink(io->ctx, tmp);
		return WF_ECORRUPT;
	}
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

/* n bytes at off. @return 0 or -errno (-EIO: the file is shorter). */
static int pread_all(const wf_io *io, int fd, uint8_t *p, size_t n,
                     uint64_t off)
{
	while (n) {
		ssize_t r = io->pread(io->ctx, fd, p, n, off);
		if (r <= 0)
			return r < 0 ? (int)r : -EIO; /* shrank under us */
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* Restore the fold from payload raw (taken). @return 1, 0 (why), or
 * WF_ENOMEM. */
static int restore(wf_fold *f, uint8_t *raw, size_t rawlen, uint64_t last,
                   char *why, size_t whylen)
{
	char err[300];
	/* The fold takes raw (its frozen blocks stay in it). */
	int r = wf_fold_restore(f, raw, rawlen, err, sizeof err);
	if (r == WF_ENOMEM)
		return WF_ENOMEM;
	if (r < 0) {
		errf(why, whylen, "%s", err);
		return 0;
	}
	if (wf_fold_last_seq(f) != last) {
		errf(why, whylen, "payload and header disagree on the position");
		return 0;
	}
	return 1;
}

/* Version 1: the payload as one zstd frame after the header. */
static int try_v1(const wf_io *io, int fd, const uint8_t *h, uint64_t size,
                  uint64_t journal_id, wf_fold *f, char *why, size_t whylen)
{
	uint64_t clen = size - WF_SNAP_HEADER_SIZE;
	uint64_t rawlen = wf_get_u64(h + 32);
	uint8_t *p = malloc(clen ? clen : 1);
	if (!p)
		return WF_ENOMEM;
	int r = pread_all(io, fd, p, clen, WF_SNAP_HEADER_SIZE);
	if (r < 0) {
		free(p);
		if (r == -ENOMEM)
			return WF_ENOMEM;
		errf(why, whylen, "cannot read it: %s", strerror(-r));
		return 0;
	}
	if (XXH3_64bits_withSeed(p, clen, journal_id) != wf_get_u64(h + 48)) {
		free(p);
		errf(why, whylen, "payload checksum mismatch");
		return 0;
	}
	uint8_t *raw = payload_alloc(rawlen);
	if (!raw) {
		free(p);
		return WF_ENOMEM;
	}
	size_t got = ZSTD_decompress(raw, rawlen, p, clen);
	free(p);
	if (ZSTD_isError(got) || got != rawlen) {
		free(raw);
		errf(why, whylen, "payload does not decompress");
		return 0;
	}
	return restore(f, raw, rawlen, wf_get_u64(h + 24), why, whylen);
}

typedef struct sblock {
	uint64_t off, clen, rawlen, sum, first, n;
	int want;
} sblock;

/* See wf_snapshot_set_lazy. */
static uint64_t lazy_min = (uint64_t)1 << 20;
static uint64_t verify_max = (uint64_t)64 << 20;
static uint64_t map_min = (uint64_t)256 << 10;

void wf_snapshot_set_lazy(uint64_t min_stored, uint64_t verify_upto,
                          uint64_t map_from)
{
	lazy_min = min_stored;
	verify_max = verify_upto;
	map_min = map_from;
}

static void dir_put(uint8_t *d, size_t map);

/* A lazily restored snapshot's file, for the fold's pager. */
typedef struct lazy_src {
	const wf_io *io;
	int fd;
	uint64_t journal_id;
	sblock *b;       /* the file's blocks (b[0] the header) */
	uint64_t *first; /* record block i (file block i + 1): its first */
	uint8_t *d;      /* the directory: the hashes are in it */
	const uint8_t *hashes; /* record k's: 4 bytes at 4 k */
	const uint8_t *statuses; /* record k's at k (NULL: version 2) */
	size_t dmap;     /* d is mapped (dir_get): the mapping's length */
	uint8_t *comp;   /* a block as stored */
	char jdir[4300]; /* the journal, to rebuild unreadable blocks from */
	int refs;        /* the fold's, and snapshot jobs' copying from it */
} lazy_src;

static void lazy_release(void *ctx)
{
	lazy_src *z = ctx;
	if (!z || __atomic_sub_fetch(&z->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (z->fd >= 0)
		z->io->close(z->io->ctx, z->fd);
	free(z->b);
	free(z->first);
	dir_put(z->d, z->dmap);
	free(z->comp);
	free(z);
}

/* Record k's hash, from the directory. */
static uint64_t src_hash(const lazy_src *z, uint64_t k)
{
	return wf_get_u32(z->hashes + 4 * k);
}

/* Record k's status, from the directory (version 2: not known). */
static uint8_t src_status(const lazy_src *z, uint64_t k)
{
	return z->statuses ? z->statuses[k] : WF_FOLD_STATUS_UNKNOWN;
}

/* Pager block i (file block i + 1): its stored length, raw length and
 * checksum (if asked); @return its first record and the next block's. */
static const uint64_t *src_block(const lazy_src *z, size_t i,
                                 uint64_t *clen, uint64_t *rawlen,
                                 uint64_t *sum)
{
	const sblock *x = &z->b[i + 1];
	if (clen)
		*clen = x->clen;
	if (rawlen)
		*rawlen = x->rawlen;
	if (sum)
		*sum = x->sum;
	return &z->first[i];
}

static int write_pieces(const wf_io *io, int fd, const built *b,
                        const lazy_src *src, uint64_t journal_id,
                        const char **what)
{
	/* A buffer of its own: the fold may read blocks meanwhile (the
	 * engine's snapshot thread writes while the engine runs). */
	size_t maxc = 0;
	int copies = 0;
	for (size_t i = 0; i < b->np; i++)
		if (!b->pv[i].mem) {
			copies = 1;
			if (b->pv[i].len > maxc)
				maxc = b->pv[i].len;
		}
	uint8_t *buf = NULL;
	if (copies && !(buf = malloc(maxc ? maxc : 1)))
		return -ENOMEM;
	uint64_t off = 0;
	int r = 0;
	for (size_t i = 0; i < b->np && r == 0; i++) {
		const piece *pc = &b->pv[i];
		const uint8_t *p = pc->mem;
		if (!p) {
			const sblock *x = &src->b[pc->copy + 1];
			r = pread_all(src->io, src->fd, buf, x->clen, x->off);
			if (r < 0 && r != -EIO) {
				*what = "read a block to copy for";
				break;
			}
			if (r < 0 ||
			    XXH3_64bits_withSeed(buf, x->clen, journal_id) != x->sum) {
				r = 1;
				break;
			}
			p = buf;
		}
		r = write_all(io, fd, p, pc->len, off);
		off += pc->len;
	}
	free(buf);
	return r;
}

static int lazy_block(void *ctx, size_t i,
                      uint8_t *(*alloc)(void *actx, size_t n), void *actx,
                      uint8_t **raw, size_t *len, char *why, size_t whylen)
{
	lazy_src *z = ctx;
	const sblock *x = &z->b[i + 1];
	int r = pread_all(z->io, z->fd, z->comp, x->clen, x->off);
	if (r == -ENOMEM)
		return WF_ENOMEM;
	if (r < 0) {
		errf(why, whylen, "cannot read block %zu: %s", i + 1, strerror(-r));
		return WF_EIO;
	}
	if (XXH3_64bits_withSeed(z->comp, x->clen, z->journal_id) != x->sum) {
		errf(why, whylen, "block %zu checksum mismatch", i + 1);
		return WF_ECORRUPT;
	}
	uint8_t *p = alloc(actx, x->rawlen);
	if (!p)
		return WF_ENOMEM;
	size_t got = ZSTD_decompress(p, x->rawlen, z->comp, x->clen);
	if (ZSTD_isError(got) || got != x->rawlen) {
		errf(why, whylen, "block %zu does not decompress", i + 1);
		return WF_ECORRUPT;
	}
	*raw = p;
	*len = x->rawlen;
	return 0;
}

static int lazy_replay(void *ctx, wf_fold *f, uint64_t upto, char *err,
                       size_t errlen)
{
	lazy_src *z = ctx;
	wf_reader_opts ro = WF_READER_OPTS_INIT;
	ro.io = z->io;
	wf_reader *r;
	uint64_t first = wf_seg_first(z->io, z->jdir);
	if (first > 1) { /* (retention: wflow.h, wf_config.retention_s) */
		errf(err, errlen, "the journal %s starts at event %" PRIu64
		     ": events 1..%" PRIu64 " were deleted, so the damaged "
		     "block cannot be rebuilt from it", z->jdir, first,
		     first - 1);
		return WF_ECORRUPT;
	}
	int rc = wf_reader_open(&r, z->jdir, &ro);
	const wf_event *ev;
	uint64_t seen = 0;
	while (rc == 0 && (rc = wf_reader_next(r, &ev)) == 1) {
		if (ev->seq > upto) {
			rc = 0;
			break;
		}
		rc = wf_fold_apply(f, ev, err, errlen);
		seen = ev->seq;
	}
	if (rc == 0 && seen != upto) {
		errf(err, errlen, "the journal %s ends before seq %" PRIu64,
		     z->jdir, upto);
		rc = WF_ECORRUPT;
	}
	if (rc < 0 && !(err && errlen && err[0]))
		errf(err, errlen, "%s", wf_reader_errmsg(r));
	wf_reader_close(r);
	return rc < 0 ? rc : 0;
}

/* Does the directory of the file whose header is h hold the records'
 * statuses after their hashes (version 3)? */
static int has_statuses(const uint8_t *h)
{
	return wf_get_u32(h + 8) >= 3;
}

/*
 * Versions 2 and 3: a directory, then the payload in blocks (see
 * snapshot.h; 3 adds the records' statuses to the directory). A fold
 * that folds one workflow (wf_fold_set_only) reads the directory, the
 * payload's header block and the blocks that may hold that workflow's
 * record, and nothing else: wflow meta on a long journal.
 */
static int try_lazy(const wf_io *io, int fd, const char *path,
                    const char *dir, const uint8_t *h, uint64_t journal_id,
                    wf_fold *f, uint8_t **dp, size_t dmap, sblock **bp,
                    uint32_t nb, uint64_t nrecs, uint32_t prefix,
                    uint64_t maxc, char *why, size_t whylen);

/*
 * The directory's bytes (dirlen of them after the header). A large one
 * (a quarter of a million workflows and more) through POSIX I/O is mapped
 * from the file (*map: the mapping's length), not read: its pages are
 * then the page cache's, where reading means fresh pages, and on the VMs
 * this runs on touching a fresh page costs 5-11 us (2 MB: 6 ms mapped
 * against 0.05; map_min, 256 KiB by default). Snapshot files are never changed in place (written
 * aside, renamed, unlinked), so the mapping stays valid while it is held.
 * @return the bytes, or NULL (*r: -errno; 0 for out of memory).
 */
static uint8_t *dir_get(const wf_io *io, int fd, uint64_t dirlen,
                        size_t *map, int *r)
{
	*map = 0;
	*r = 0;
	if (io == wf_io_posix() && dirlen >= map_min &&
	    dirlen < SIZE_MAX / 2) {
		size_t len = WF_SNAP_HEADER_SIZE + (size_t)dirlen;
		void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			*map = len;
			return (uint8_t *)m + WF_SNAP_HEADER_SIZE;
		}
	}
	uint8_t *d = malloc(dirlen ? dirlen : 1);
	if (!d)
		return NULL;
	if ((*r = pread_all(io, fd, d, dirlen, WF_SNAP_HEADER_SIZE))) {
		free(d);
		return NULL;
	}
	return d;
}

static void dir_put(uint8_t *d, size_t map)
{
	if (d && map)
		munmap(d - WF_SNAP_HEADER_SIZE, map);
	else
		free(d);
}

static int try_v2(const wf_io *io, int fd, const char *path, const char *dir,
                  const uint8_t *h, uint64_t size, uint64_t journal_id,
                  wf_fold *f, char *why, size_t whylen)
{
	uint64_t stored = size - WF_SNAP_HEADER_SIZE;
	uint64_t rawlen = wf_get_u64(h + 32);
	uint8_t fixed[WF_SNAP_DIR_FIXED];
	int r;
	if (stored < WF_SNAP_DIR_FIXED) {
		errf(why, whylen, "no directory");
		return 0;
	}
	if ((r = pread_all(io, fd, fixed, sizeof fixed, WF_SNAP_HEADER_SIZE))) {
		if (r == -ENOMEM)
			return WF_ENOMEM;
		errf(why, whylen, "cannot read it: %s", strerror(-r));
		return 0;
	}
	uint64_t dirlen = wf_get_u64(fixed), nrecs = wf_get_u64(fixed + 16);
	uint32_t nb = wf_get_u32(fixed + 8), prefix = wf_get_u32(fixed + 12);
	/* Per record: its hash, and from version 3 its status. */
	uint64_t per = has_statuses(h) ? 5 : 4;
	if (dirlen > stored || nb == 0 || nb > dirlen / WF_SNAP_DIR_BLOCK ||
	    nrecs > dirlen / per ||
	    dirlen != WF_SNAP_DIR_FIXED + (uint64_t)nb * WF_SNAP_DIR_BLOCK +
	                  per * nrecs) {
		errf(why, whylen, "directory: implausible sizes");
		return 0;
	}
	size_t dmap = 0;
	uint8_t *d = dir_get(io, fd, dirlen, &dmap, &r);
	sblock *b = calloc(nb, sizeof *b);
	if (!d || !b) {
		dir_put(d, dmap);
		free(b);
		if (r && r != -ENOMEM) {
			errf(why, whylen, "cannot read it: %s", strerror(-r));
			return 0;
		}
		return WF_ENOMEM;
	}
	int rc = 0;
	uint8_t *raw = NULL, *comp = NULL;
	if (XXH3_64bits_withSeed(d, dirlen, journal_id) != wf_get_u64(h + 48)) {
		errf(why, whylen, "directory checksum mismatch");
		goto out;
	}
	/* The blocks: inside the file after the directory, the header
	 * first, then consecutive runs of records covering them all, their
	 * lengths adding up to the payload's. */
	uint64_t sum_raw = 0, next = 0, maxc = 0;
	const char *bad = NULL;
	for (uint32_t i = 0; i < nb && !bad; i++) {
		const uint8_t *e = d + WF_SNAP_DIR_FIXED + (size_t)i * WF_SNAP_DIR_BLOCK;
		sblock *x = &b[i];
		x->off = wf_get_u64(e);
		x->clen = wf_get_u64(e + 8);
		x->rawlen = wf_get_u64(e + 16);
		x->sum = wf_get_u64(e + 24);
		x->first = wf_get_u64(e + 32);
		x->n = wf_get_u64(e + 40);
		if (x->off < WF_SNAP_HEADER_SIZE + dirlen || x->off > size ||
		    x->clen > size - x->off)
			bad = "a block lies outside the file";
		else if (x->rawlen > rawlen - sum_raw)
			bad = "blocks longer than the payload";
		else if (x->first != next || (i ? x->n == 0 : x->n != 0) ||
		         x->n > nrecs - next)
			bad = "blocks do not cover the records in order";
		if (bad)
			break;
		sum_raw += x->rawlen;
		next += x->n;
		if (x->clen > maxc)
			maxc = x->clen;
	}
	if (!bad && (sum_raw != rawlen || next != nrecs))
		bad = "blocks do not add up to the payload";
	if (!bad && (prefix > b[0].rawlen || b[0].rawlen - prefix > 10))
		bad = "bad header block";
	if (bad) {
		errf(why, whylen, "directory: %s", bad);
		goto out;
	}
	/* Which blocks: all, or the header's and those holding a record
	 * whose id hashes as the one asked for. */
	const char *only = wf_fold_only(f);
	const uint8_t *hs = d + WF_SNAP_DIR_FIXED + (size_t)nb * WF_SNAP_DIR_BLOCK;
	int sorted = 1;
	for (uint64_t k = 1; k < nrecs && sorted; k++)
		sorted = wf_get_u32(hs + 4 * (k - 1)) <= wf_get_u32(hs + 4 * k);
	if (!only && sorted && nb > 1 && stored >= lazy_min) {
		rc = try_lazy(io, fd, path, dir, h, journal_id, f, &d, dmap, &b,
		              nb, nrecs, prefix, maxc, why, whylen);
		goto out;
	}
	uint64_t want_raw = 0, want_recs = 0;
	uint32_t hv = only ? wf_fold_id_hash(only) : 0;
	const uint8_t *hashes = d + WF_SNAP_DIR_FIXED + (size_t)nb * WF_SNAP_DIR_BLOCK;
	b[0].want = 1;
	for (uint32_t i = 1; i < nb; i++)
		b[i].want = !only;
	if (only) {
		uint32_t bi = 1;
		for (uint64_t k = 0; k < nrecs; k++) {
			if (wf_get_u32(hashes + 4 * k) != hv)
				continue;
			while (bi < nb && b[bi].first + b[bi].n <= k)
				bi++;
			if (bi < nb)
				b[bi].want = 1;
		}
	}
	for (uint32_t i = 1; i < nb; i++)
		if (b[i].want) {
			want_raw += b[i].rawlen;
			want_recs += b[i].n;
		}
	uint8_t vb[10];
	size_t vlen = wf_varint_put(vb, want_recs);
	want_raw += prefix + vlen;
	raw = payload_alloc(want_raw);
	comp = malloc(maxc ? maxc : 1);
	uint8_t *head = malloc(b[0].rawlen ? b[0].rawlen : 1);
	if (!raw || !comp || !head) {
		free(head);
		rc = WF_ENOMEM;
		goto out;
	}
	size_t pos = 0;
	for (uint32_t i = 0; i < nb && !bad; i++) {
		if (!b[i].want)
			continue;
		if ((r = pread_all(io, fd, comp, b[i].clen, b[i].off))) {
			if (r == -ENOMEM)
				rc = WF_ENOMEM;
			else
				errf(why, whylen, "cannot read block %u: %s", i,
				     strerror(-r));
			bad = "";
			break;
		}
		if (XXH3_64bits_withSeed(comp, b[i].clen, journal_id) != b[i].sum) {
			errf(why, whylen, "block %u checksum mismatch", i);
			bad = "";
			break;
		}
		uint8_t *to = i ? raw + pos : head;
		size_t got = ZSTD_decompress(to, b[i].rawlen, comp, b[i].clen);
		if (ZSTD_isError(got) || got != b[i].rawlen) {
			errf(why, whylen, "block %u does not decompress", i);
			bad = "";
			break;
		}
		if (i == 0) {
			/* The header ends with the count of all records;
			 * the payload given to the fold says how many it
			 * holds. */
			uint64_t cnt;
			size_t used = wf_varint_get(head + prefix,
			                            b[0].rawlen - prefix, &cnt);
			if (!used || used != b[0].rawlen - prefix || cnt != nrecs) {
				errf(why, whylen, "header block: record count "
				     "disagrees with the directory");
				bad = "";
				break;
			}
			memcpy(raw, head, prefix);
			memcpy(raw + prefix, vb, vlen);
			pos = prefix + vlen;
		} else {
			pos += b[i].rawlen;
		}
	}
	free(head);
	if (bad)
		goto out;
	rc = restore(f, raw, want_raw, wf_get_u64(h + 24), why, whylen);
	raw = NULL; /* taken */
out:
	free(raw);
	free(comp);
	dir_put(d, dmap);
	free(b);
	return rc;
}

/*
 * A large snapshot whose records are in hash order (this version writes
 * them so): the fold gets the payload's header and a pager, and reads a
 * block when a lookup first needs one (fold.h, wf_fold_restore_lazy), so
 * that an open costs the directory and one block however many workflows
 * were saved. Up to verify_max stored bytes, every block's checksum is
 * checked here too, so that damage is reported at the open as for an
 * eager restore; beyond, a block found damaged later is rebuilt from the
 * journal (the fold's pager replays it). Takes *dp and *bp.
 */
static int try_lazy(const wf_io *io, int fd, const char *path,
                    const char *dir, const uint8_t *h, uint64_t journal_id,
                    wf_fold *f, uint8_t **dp, size_t dmap, sblock **bp,
                    uint32_t nb, uint64_t nrecs, uint32_t prefix,
                    uint64_t maxc, char *why, size_t whylen)
{
	lazy_src *z = calloc(1, sizeof *z);
	uint8_t *head = NULL;
	int rc = 0, r;
	if (!z) {
		return WF_ENOMEM;
	}
	z->io = io;
	z->fd = -1;
	z->refs = 1;
	z->journal_id = journal_id;
	z->d = *dp;
	z->dmap = dmap;
	z->b = *bp;
	*dp = NULL;
	*bp = NULL;
	snprintf(z->jdir, sizeof z->jdir, "%s/../journal", dir);
	z->first = malloc(nb * sizeof *z->first);
	z->comp = malloc(maxc ? maxc : 1);
	head = malloc(z->b[0].rawlen ? z->b[0].rawlen : 1);
	if (!z->first || !z->comp || !head) {
		rc = WF_ENOMEM;
		goto fail;
	}
	for (uint32_t i = 1; i < nb; i++)
		z->first[i - 1] = z->b[i].first;
	z->first[nb - 1] = nrecs;
	uint64_t stored = wf_get_u64(h + 40);
	for (uint32_t i = 0; i < nb; i++) {
		if (i && stored > verify_max)
			break;
		const sblock *x = &z->b[i];
		if ((r = pread_all(io, fd, z->comp, x->clen, x->off))) {
			if (r == -ENOMEM)
				rc = WF_ENOMEM;
			else
				errf(why, whylen, "cannot read block %u: %s", i,
				     strerror(-r));
			goto fail;
		}
		if (XXH3_64bits_withSeed(z->comp, x->clen, journal_id) != x->sum) {
			errf(why, whylen, "block %u checksum mismatch", i);
			goto fail;
		}
		if (i == 0) {
			size_t got = ZSTD_decompress(head, x->rawlen, z->comp,
			                             x->clen);
			uint64_t cnt = 0;
			size_t used = ZSTD_isError(got) || got != x->rawlen
			                  ? 0
			                  : wf_varint_get(head + prefix,
			                                  x->rawlen - prefix, &cnt);
			if (!used || used != x->rawlen - prefix || cnt != nrecs) {
				errf(why, whylen, "header block: does not decompress, "
				     "or its record count disagrees with the "
				     "directory");
				goto fail;
			}
		}
	}
	/* Its own descriptor: the caller closes the one it has. */
	int lfd = io->open(io->ctx, path, WF_IO_RDONLY);
	if (lfd < 0) {
		errf(why, whylen, "cannot open it again: %s", strerror(-lfd));
		goto fail;
	}
	z->fd = lfd;
	z->hashes = z->d + WF_SNAP_DIR_FIXED + (size_t)nb * WF_SNAP_DIR_BLOCK;
	if (has_statuses(h))
		z->statuses = z->hashes + 4 * (size_t)nrecs;
	wf_fold_pager pg = {
		.nblocks = nb - 1,
		.first = z->first,
		.hashes = z->hashes,
		.statuses = z->statuses,
		.nrecs = nrecs,
		.read = lazy_block,
		.replay = lazy_replay,
		.release = lazy_release,
		.ctx = z,
	};
	char err[300];
	/* The fold takes head and z (pg.release), also on failure. */
	r = wf_fold_restore_lazy(f, head, z->b[0].rawlen, &pg, err, sizeof err);
	if (r == WF_ENOMEM)
		return WF_ENOMEM;
	if (r < 0) {
		errf(why, whylen, "%s", err);
		return 0;
	}
	if (wf_fold_last_seq(f) != wf_get_u64(h + 24)) {
		errf(why, whylen, "payload and header disagree on the position");
		return 0;
	}
	return 1;
fail:
	free(head);
	lazy_release(z);
	return rc;
}

/* Open a snapshot file and read its header into h (*size: the file's).
 * @return the fd, or -1: unusable (why says why; *rc 0) or out of memory
 * (*rc WF_ENOMEM). */
static int open_head(const wf_io *io, const char *path,
                     uint8_t h[WF_SNAP_HEADER_SIZE], uint64_t *size,
                     char *why, size_t whylen, int *rc)
{
	*rc = 0;
	*size = 0;
	int fd = io->open(io->ctx, path, WF_IO_RDONLY);
	int r = fd < 0 ? fd : io->fsize(io->ctx, fd, size);
	if (r == 0 && *size < WF_SNAP_HEADER_SIZE) {
		errf(why, whylen, "not a snapshot (no magic)");
		io->close(io->ctx, fd);
		return -1;
	}
	if (r == 0)
		r = pread_all(io, fd, h, WF_SNAP_HEADER_SIZE, 0);
	if (r < 0) {
		if (fd >= 0)
			io->close(io->ctx, fd);
		if (r == -ENOMEM)
			*rc = WF_ENOMEM;
		else
			errf(why, whylen, "cannot read it: %s", strerror(-r));
		return -1;
	}
	return fd;
}

/* Is header h (of a file of size bytes) one of journal journal_id's that
 * this wflow reads, ending before next_seq? @return 1, or 0 (why says
 * why; *beyond: it ends at or after next_seq). */
static int head_ok(const uint8_t *h, uint64_t size, uint64_t journal_id,
                   uint64_t next_seq, char *why, size_t whylen, int *beyond)
{
	*beyond = 0;
	uint32_t version = wf_get_u32(h + 8);
	uint64_t last = wf_get_u64(h + 24);
	if (memcmp(h, WF_SNAP_MAGIC, 8) != 0) {
		errf(why, whylen, "not a snapshot (no magic)");
	} else if (wf_get_u64(h + 56) != XXH3_64bits(h, 56)) {
		errf(why, whylen, "header checksum mismatch");
	} else if (version < 1 || version > WF_SNAP_VERSION ||
	           wf_get_u32(h + 12) != WF_SNAP_HEADER_SIZE) {
		errf(why, whylen, "format version %u, this wflow reads 1 to %u",
		     version, WF_SNAP_VERSION);
	} else if (wf_get_u64(h + 16) != journal_id) {
		errf(why, whylen, "made from another journal");
	} else if (last >= next_seq) {
		errf(why, whylen, "covers events up to %" PRIu64 ", beyond the "
		     "journal's end (%" PRIu64 ")", last, next_seq - 1);
		*beyond = 1;
	} else if (wf_get_u64(h + 40) != size - WF_SNAP_HEADER_SIZE) {
		errf(why, whylen, "%" PRIu64 " bytes, the header says %" PRIu64,
		     size, wf_get_u64(h + 40) + WF_SNAP_HEADER_SIZE);
	} else if (wf_get_u64(h + 32) > ((uint64_t)1 << 36)) {
		errf(why, whylen, "implausible length %" PRIu64,
		     wf_get_u64(h + 32));
	} else {
		return 1;
	}
	return 0;
}

/* Check and restore one snapshot file into the empty fold f.
 * @return 1 restored, 0 unusable (why says why), WF_ENOMEM. */
static int try_one(const wf_io *io, const char *dir, const char *path,
                   uint64_t journal_id,
                   uint64_t next_seq, wf_fold *f, uint64_t *seq, char *why,
                   size_t whylen, int *beyond)
{
	*beyond = 0;
	uint8_t h[WF_SNAP_HEADER_SIZE];
	uint64_t size;
	int rc;
	int fd = open_head(io, path, h, &size, why, whylen, &rc);
	if (fd < 0)
		return rc;
	uint32_t version = wf_get_u32(h + 8);
	uint64_t last = wf_get_u64(h + 24);
	if (!head_ok(h, size, journal_id, next_seq, why, whylen, beyond)) {
		rc = 0;
	} else if (version == 1) {
		rc = try_v1(io, fd, h, size, journal_id, f, why, whylen);
	} else {
		rc = try_v2(io, fd, path, dir, h, size, journal_id, f, why,
		            whylen);
	}
	io->close(io->ctx, fd);
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
		rc = try_one(io, dir, path, journal_id, next_seq, *f, seq, why,
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

struct wf_snapshot_job {
	uint8_t *raw;
	size_t rawlen;
	wf_fold_rec *recs;
	size_t nrecs;
	wf_fold_refs refs; /* the fold's frozen blocks, pinned */
	size_t *cb; /* blocks of src to copy */
	size_t ncb;
	lazy_src *src; /* a reference, or NULL */
	uint64_t seq;
};

void wf_snapshot_job_free(wf_snapshot_job *j)
{
	if (!j)
		return;
	free(j->raw);
	free(j->recs);
	free(j->refs.v);
	free(j->cb);
	lazy_release(j->src);
	free(j);
}

void wf_snapshot_job_done(wf_fold *f, wf_snapshot_job *j)
{
	if (j && j->refs.n) {
		wf_fold_unpin(f);
		free(j->refs.v);
		j->refs.v = NULL;
		j->refs.n = 0;
	}
}

int wf_snapshot_job_take(wf_fold *f, int copy, wf_snapshot_job **out)
{
	wf_snapshot_job *j = calloc(1, sizeof *j);
	*out = NULL;
	if (!j)
		return WF_ENOMEM;
	const wf_fold_pager *pg = NULL;
	int rc = copy ? wf_fold_save_unread(f, &j->raw, &j->rawlen, &j->recs,
	                                    &j->nrecs, &j->cb, &j->ncb, &pg,
	                                    &j->refs)
	              : wf_fold_save_recs(f, &j->raw, &j->rawlen, &j->recs,
	                                  &j->nrecs, &j->refs);
	if (rc == 0 && j->ncb) {
		if (pg->read == lazy_block) {
			j->src = pg->ctx;
			__atomic_add_fetch(&j->src->refs, 1, __ATOMIC_ACQ_REL);
		} else { /* not a file of ours: no copying */
			wf_snapshot_job_done(f, j);
			free(j->raw);
			free(j->recs);
			free(j->cb);
			j->cb = NULL;
			j->ncb = 0;
			rc = wf_fold_save_recs(f, &j->raw, &j->rawlen, &j->recs,
			                       &j->nrecs, &j->refs);
		}
	}
	if (rc < 0) {
		wf_snapshot_job_done(f, j);
		wf_snapshot_job_free(j);
		return rc;
	}
	j->seq = wf_fold_last_seq(f);
	*out = j;
	return 0;
}

int wf_snapshot_job_write(const wf_io *io, const char *dir,
                          uint64_t journal_id, const wf_snapshot_job *j,
                          uint64_t *bytes, char *err, size_t errlen)
{
	if (j->src && j->src->journal_id != journal_id) {
		errf(err, errlen, "the blocks to copy are another journal's");
		return WF_ECORRUPT;
	}
	size_t moved = 0;
	for (size_t i = 0; i < j->refs.n; i++)
		moved += j->refs.v[i].len;
	payload pl = {j->raw,     j->rawlen, j->rawlen + moved, j->refs.v,
	              j->refs.n,  j->recs,   j->nrecs};
	int rc = write_file(io, dir, journal_id, j->seq, &pl, j->src, j->cb,
	                    j->ncb, bytes, err, errlen);
	if (rc == WF_ECORRUPT)
		errf(err, errlen, "a block to copy from the snapshot restored "
		     "does not match its checksum");
	return rc;
}

int wf_snapshot_write(const wf_io *io, const char *dir, uint64_t journal_id,
                      wf_fold *f, uint64_t *bytes, char *err, size_t errlen)
{
	/* A lazily restored fold's blocks that nothing read since are
	 * copied as they are stored (checked on the way); the rest is
	 * saved from memory. If a block to copy is damaged: every block
	 * read (that one rebuilt from the journal), then saved. */
	wf_snapshot_job *j;
	int rc = 0;
	for (int copy = 1; copy >= 0; copy--) {
		if ((rc = wf_snapshot_job_take(f, copy, &j)) < 0)
			break;
		rc = wf_snapshot_job_write(io, dir, journal_id, j, bytes, err,
		                           errlen);
		wf_snapshot_job_done(f, j);
		wf_snapshot_job_free(j);
		if (rc != WF_ECORRUPT)
			return rc;
	}
	/* A lazily restored fold whose records cannot all be read says
	 * why; else it was memory. */
	if (wf_fold_read_all(f, err, errlen) == 0 || rc == WF_ENOMEM)
		errf(err, errlen, "out of memory saving the state");
	return rc;
}

int wf_snapshot_covered(const wf_io *io, const char *dir, uint64_t journal_id,
                        uint64_t *seq)
{
	*seq = 0;
	if (!io)
		io = wf_io_posix();
	char **names;
	int n = list_snapshots(io, dir, 0, &names);
	if (n < 0)
		return n == -ENOMEM ? WF_ENOMEM : WF_EIO;
	/* Newest first: the WF_SNAP_KEEP newest whole headers of this
	 * journal that this wflow reads, and the last seq of the oldest. */
	int found = 0, rc = 0;
	uint64_t oldest = 0;
	for (int i = 0; i < n && found < WF_SNAP_KEEP && !rc; i++) {
		char path[4200], why[300];
		uint8_t h[WF_SNAP_HEADER_SIZE];
		uint64_t size;
		int beyond;
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		int fd = open_head(io, path, h, &size, why, sizeof why, &rc);
		if (fd < 0)
			continue;
		io->close(io->ctx, fd);
		if (head_ok(h, size, journal_id, UINT64_MAX, why, sizeof why,
		            &beyond)) {
			found++;
			oldest = wf_get_u64(h + 24);
		}
	}
	if (n > 0)
		free_names(names, n);
	if (found == WF_SNAP_KEEP && !rc)
		*seq = oldest;
	return rc;
}
