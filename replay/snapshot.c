/*
 * Snapshot files (see snapshot.h). Writing: wf_fold_save, one zstd frame,
 * checksums, then tmp file + fsync + rename + directory fsync, then old
 * snapshots removed. Loading: newest first; each candidate is checked
 * (header checksum, version, journal id, position, payload checksum,
 * decompressed length, then wf_fold_restore's own checks) before it is
 * believed.
 */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Snapshot names in dir, newest (largest seq) first. @return count, or
 * -1 with errno. *names is malloc'd (free each, then it). */
static int list_snapshots(const char *dir, char ***names)
{
	*names = NULL;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l != 20 + strlen(WF_SNAP_SUFFIX) ||
		    strcmp(de->d_name + 20, WF_SNAP_SUFFIX) != 0 ||
		    strspn(de->d_name, "0123456789") != 20)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			char **v = realloc(*names, cap * sizeof *v);
			if (!v)
				break;
			*names = v;
		}
		if (!((*names)[n] = strdup(de->d_name)))
			break;
		n++;
	}
	closedir(d);
	/* Newest first: names are fixed-width numbers. */
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && strcmp((*names)[k - 1], (*names)[k]) < 0;
		     k--) {
			char *t = (*names)[k];
			(*names)[k] = (*names)[k - 1];
			(*names)[k - 1] = t;
		}
	return (int)n;
}

static void free_names(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int wf_snapshot_write(const char *dir, uint64_t journal_id, wf_fold *f,
                      uint64_t *bytes, char *err, size_t errlen)
{
	uint8_t *raw = NULL;
	size_t rawlen = 0;
	int rc = wf_fold_save(f, &raw, &rawlen);
	if (rc < 0) {
		errf(err, errlen, "out of memory saving the state");
		return rc;
	}
	rc = wf_snapshot_write_payload(dir, journal_id, wf_fold_last_seq(f), raw,
	                               rawlen, bytes, err, errlen);
	free(raw);
	return rc;
}

int wf_snapshot_write_payload(const char *dir, uint64_t journal_id,
                              uint64_t seq, const uint8_t *raw,
                              size_t rawlen, uint64_t *bytes, char *err,
                              size_t errlen)
{
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
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		errf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		free(comp);
		return WF_EIO;
	}
	snprintf(path, sizeof path, "%s/%020" PRIu64 "%s", dir, seq,
	         WF_SNAP_SUFFIX);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	/* Temporary files of writes a crash interrupted: the writer owns the
	 * directory, and nothing reads them. */
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name), sl = strlen(WF_SNAP_SUFFIX ".tmp");
		if (l > sl && strcmp(de->d_name + l - sl, WF_SNAP_SUFFIX ".tmp") == 0)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	if (d)
		closedir(d);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t total = WF_SNAP_HEADER_SIZE + clen;
	if (fd < 0 || write_all(fd, comp, total) < 0 || fdatasync(fd) < 0) {
		errf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		free(comp);
		return WF_EIO;
	}
	free(comp);
	if (close(fd) < 0 || rename(tmp, path) < 0 || fsync_dir(dir) < 0) {
		errf(err, errlen, "cannot put %s in place: %s", path,
		     strerror(errno));
		unlink(tmp);
		return WF_EIO;
	}
	if (bytes)
		*bytes = total;
	/* Keep this one and the newest older ones of the same journal (the
	 * fallback if this one turns out damaged); remove the rest: older
	 * ones, and those of another journal or beyond this one (a journal
	 * reset under the same directory), which the writer's directory can
	 * never use and which would otherwise outrank this one by name. */
	char **names;
	int n = list_snapshots(dir, &names);
	int kept = 1;
	for (int i = 0; i < n; i++) {
		char old[4200];
		snprintf(old, sizeof old, "%s/%s", dir, names[i]);
		if (strcmp(old, path) == 0)
			continue;
		uint8_t h[WF_SNAP_HEADER_SIZE];
		int fd = open(old, O_RDONLY | O_CLOEXEC);
		int ours = fd >= 0 &&
		           read(fd, h, sizeof h) == (ssize_t)sizeof h &&
		           memcmp(h, WF_SNAP_MAGIC, 8) == 0 &&
		           wf_get_u64(h + 16) == journal_id &&
		           wf_get_u64(h + 24) < seq;
		if (fd >= 0)
			close(fd);
		if (ours && kept < WF_SNAP_KEEP)
			kept++;
		else
			unlink(old);
	}
	if (n > 0)
		free_names(names, n);
	return 0;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || st.st_size < 0 ||
	    (uint64_t)st.st_size > ((uint64_t)1 << 40)) {
		close(fd);
		return NULL;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *p = malloc(n ? n : 1);
	size_t got = 0;
	while (p && got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(p);
			p = NULL;
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	*len = n;
	return p;
}

/* Check and restore one snapshot file into the empty fold f.
 * @return 1 restored, 0 unusable (why says why), WF_ENOMEM. */
static int try_one(const char *path, uint64_t journal_id, uint64_t next_seq,
                   wf_fold *f, uint64_t *seq, char *why, size_t whylen,
                   int *beyond)
{
	*beyond = 0;
	size_t len;
	uint8_t *p = read_file(path, &len);
	if (!p) {
		errf(why, whylen, "cannot read it: %s", strerror(errno));
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

static int load(const char *dir, uint64_t journal_id, uint64_t next_seq,
                wf_fold **f, uint64_t *seq, char *skipped, size_t skippedlen,
                int prune)
{
	if (skipped && skippedlen)
		skipped[0] = '\0';
	*seq = 0;
	char **names;
	int n = list_snapshots(dir, &names);
	if (n < 0) {
		skipf(skipped, skippedlen, "%s: cannot list: %s", dir,
		      strerror(errno));
		return 0;
	}
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		char path[4200], why[400];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		int beyond;
		rc = try_one(path, journal_id, next_seq, *f, seq, why, sizeof why,
		             &beyond);
		if (rc == 0) {
			if (prune && beyond && unlink(path) == 0)
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

int wf_snapshot_load(const char *dir, uint64_t journal_id, uint64_t next_seq,
                     wf_fold **f, uint64_t *seq, char *skipped,
                     size_t skippedlen)
{
	return load(dir, journal_id, next_seq, f, seq, skipped, skippedlen, 0);
}

int wf_snapshot_load_writer(const char *dir, uint64_t journal_id,
                            uint64_t next_seq, wf_fold **f, uint64_t *seq,
                            char *skipped, size_t skippedlen)
{
	return load(dir, journal_id, next_seq, f, seq, skipped, skippedlen, 1);
}
