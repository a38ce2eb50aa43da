/*
 * Offline replay: fold a journal directory the way the engine's open does,
 * without the writer lock (so it works while an engine runs, and on
 * read-only media). Whether an engine holds the journal now decides what
 * RUNNING means: if one does, its session (the last one started) is live;
 * if none does, every RUNNING workflow is RESUMABLE.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fold.h"
#include "journal/segment.h"
#include "snapshot.h"

/* 1 if a writer holds dir/LOCK now. A shared lock would conflict with its
 * exclusive one; it is dropped at once, and never blocks. */
int wf_journal_writer_alive(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof path, "%.4096s/LOCK", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int alive = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd); /* releases the shared lock if we got it */
	return alive;
}

static int new_fold(wf_fold **f, const char *only)
{
	if (wf_fold_new(f) < 0)
		return WF_ENOMEM;
	if (wf_fold_set_only(*f, only) < 0) {
		wf_fold_free(*f);
		*f = NULL;
		return WF_ENOMEM;
	}
	return 0;
}

/* ---- one workflow, on every core ----------------------------------------
 *
 * `wflow meta` folds one workflow out of the whole journal, and nearly all
 * of its time goes to reading (checking, decompressing, decoding) events
 * the fold then ignores. A segment starts a new zstd stream, so the
 * journal splits at segment starts into parts of about equal bytes. A
 * thread per later part reads it with a reader of its own and keeps a copy
 * of each event the fold would not ignore (wf_fold_ignores: for one
 * workflow, a few dozen), while the caller folds the first part as usual,
 * then the kept events part by part. The same events reach the fold in the
 * same order as in one pass, so the answer is the one-pass answer.
 *
 * Each part's reader reads on into the next part's first event, so the
 * seams are checked as one pass checks them (sequence, checksum chain).
 * Anything unexpected (an error anywhere, a part that does not start or
 * end where its segment says) and the whole load is done again in one
 * pass, which finds and reports the problem exactly as it always has:
 * splitting is only ever a way to get the same answer sooner.
 */

#define PARTS_MAX 8

typedef struct kept {
	wf_event ev; /* text fields point into mem */
	char *mem;
} kept;

typedef struct part {
	const char *jdir;
	const char *only;
	uint64_t from; /* the first sequence number: a segment's first */
	uint64_t to;   /* the next part's from; 0 = to the end */
	kept *v;
	size_t n, cap;
	uint64_t last; /* the last sequence number read in the part */
	int ok;        /* 1: read [from, to) whole, without an error */
	pthread_t t;
} part;

static int is_text_kind(uint8_t kind)
{
	return kind == WF_FIELD_TEXT || kind == WF_FIELD_JSON;
}

/* Append a copy of ev (its text included) to p. @return 0 or WF_ENOMEM. */
static int keep(part *p, const wf_event *ev)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		kept *v = realloc(p->v, cap * sizeof *v);
		if (!v)
			return WF_ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	size_t bytes = 1;
	for (uint32_t i = 0; i < ev->nfields; i++)
		if (is_text_kind(ev->fields[i].kind))
			bytes += ev->fields[i].v.s.len;
	kept *k = &p->v[p->n];
	if (!(k->mem = malloc(bytes)))
		return WF_ENOMEM;
	k->ev = *ev;
	char *m = k->mem;
	for (uint32_t i = 0; i < ev->nfields; i++) {
		wf_field *fl = &k->ev.fields[i];
		if (!is_text_kind(fl->kind))
			continue;
		if (fl->v.s.len)
			memcpy(m, fl->v.s.ptr, fl->v.s.len);
		fl->v.s.ptr = m;
		m += fl->v.s.len;
	}
	p->n++;
	return 0;
}

static void part_free(part *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].mem);
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}

/* Read part p (a thread). */
static void *read_part(void *arg)
{
	part *p = arg;
	wf_fold *filter = NULL; /* asked wf_fold_ignores, never applied to */
	wf_reader *r = NULL;
	const wf_event *ev;
	uint64_t want = p->from;
	int rc = wf_fold_new(&filter);
	if (rc == 0)
		rc = wf_fold_set_only(filter, p->only);
	if (rc == 0)
		rc = wf_reader_open(&r, p->jdir, NULL);
	if (rc == 0)
		rc = wf_reader_seek(r, p->from);
	while (rc >= 0 && (rc = wf_reader_next(r, &ev)) == 1) {
		if (ev->seq < want)
			break; /* not what one pass reads: leave it to it */
		if (p->to && ev->seq >= p->to) {
			p->ok = ev->seq == p->to && p->last;
			break;
		}
		if (!p->last && ev->seq != p->from)
			break;
		p->last = ev->seq;
		want = ev->seq + 1;
		if (!wf_fold_ignores(filter, ev) && keep(p, ev) < 0)
			break;
	}
	if (rc == 0 && !p->to)
		p->ok = p->last != 0; /* the end of the journal */
	wf_reader_close(r);
	wf_fold_free(filter);
	return NULL;
}

/* Cores this process may run on (1 if unknown). */
static int cores(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/*
 * Choose where parts start: segment starts after `from`, splitting the
 * bytes from from's segment on into up to nparts about equal shares.
 * @return the number of parts (1: not worth splitting), their starts in
 *         starts[0..n) (starts[0] = from).
 */
static int plan_parts(const char *jdir, uint64_t from, int nparts,
                      uint64_t min_bytes, uint64_t *starts)
{
	wf_seg_list l;
	int e;
	if (wf_seg_list_read(wf_io_posix(), jdir, &l, &e) < 0)
		return 1;
	uint64_t *size = calloc(l.n ? l.n : 1, sizeof *size);
	size_t s0 = 0, n = 1;
	uint64_t total = 0;
	if (!size)
		goto out;
	while (s0 + 1 < l.n && l.v[s0 + 1].first_seq <= from)
		s0++;
	for (size_t i = s0; i < l.n; i++) {
		struct stat st;
		size[i] = stat(l.v[i].path, &st) == 0 ? (uint64_t)st.st_size : 0;
		total += size[i];
	}
	if (total < min_bytes || total == 0)
		goto out;
	starts[0] = from;
	uint64_t sum = size[s0];
	for (size_t i = s0 + 1; i < l.n && (int)n < nparts; i++) {
		/* Part n starts at the first segment past its share. */
		if (sum >= total / (uint64_t)nparts * n && l.v[i].first_seq > from)
			starts[n++] = l.v[i].first_seq;
		sum += size[i];
	}
out:
	free(size);
	wf_seg_list_free(&l);
	return (int)n;
}

/*
 * Fold the rest of r's journal (the next event r returns has sequence
 * number `from`) into f, which folds one workflow, in up to nparts parts
 * at once (*used receives how many, if it worked).
 * @return 0 folded; 1 not split (nothing read: go on in one pass);
 *         2 something unexpected (f holds part of it: start again in one
 *         pass).
 */
static int fold_parts(wf_fold *f, wf_reader *r, const char *jdir,
                      uint64_t from, int nparts, uint64_t min_bytes,
                      int *used)
{
	uint64_t starts[PARTS_MAX];
	if (nparts > PARTS_MAX)
		nparts = PARTS_MAX;
	int n = plan_parts(jdir, from, nparts, min_bytes, starts);
	if (n < 2)
		return 1;
	part parts[PARTS_MAX];
	memset(parts, 0, sizeof parts);
	int started = 1;
	for (int i = 1; i < n; i++) {
		part *p = &parts[i];
		p->jdir = jdir;
		p->only = wf_fold_only(f);
		p->from = starts[i];
		p->to = i + 1 < n ? starts[i + 1] : 0;
		if (pthread_create(&p->t, NULL, read_part, p) != 0)
			break;
		started++;
	}
	int ok = started == n;
	if (ok) {
		/* The first part, folded here. */
		const wf_event *ev;
		char err[8];
		int rc;
		ok = 0;
		while ((rc = wf_reader_next(r, &ev)) == 1) {
			if (ev->seq >= starts[1]) {
				ok = ev->seq == starts[1];
				break;
			}
			if (wf_fold_apply(f, ev, err, sizeof err) < 0)
				break;
		}
	}
	for (int i = 1; i < started; i++) {
		pthread_join(parts[i].t, NULL);
		ok = ok && parts[i].ok;
	}
	for (int i = 1; ok && i < n; i++) {
		char err[8];
		for (size_t k = 0; ok && k < parts[i].n; k++)
			ok = wf_fold_apply(f, &parts[i].v[k].ev, err,
			                   sizeof err) == 0;
		wf_fold_passed(f, parts[i].last);
	}
	for (int i = 1; i < n; i++)
		part_free(&parts[i]);
	if (ok)
		*used = n;
	return ok ? 0 : 2;
}

/* nparts: read the journal in up to that many parts at once when folding
 * one workflow and at least min_bytes are to be read (1: one pass); *used
 * receives how many it was. */
static int load(wf_fold **out, const char *dir, const char *only, int nparts,
                uint64_t min_bytes, int *used, char *err, size_t errlen)
{
	*out = NULL;
	if (errlen)
		err[0] = '\0';
	char jdir[4096];
	struct stat st;
	snprintf(jdir, sizeof jdir, "%s/journal", dir);
	if (stat(jdir, &st) != 0 || !S_ISDIR(st.st_mode))
		snprintf(jdir, sizeof jdir, "%s", dir);
	wf_fold *f;
	if (new_fold(&f, only) < 0) {
		snprintf(err, errlen, "out of memory");
		return WF_ENOMEM;
	}
	wf_reader *r;
	wf_reader_opts ro = WF_READER_OPTS_INIT;
	*used = 1;
	if (!only)
		nparts = 1;
	/* decompress on a second core while folding, unless the cores read
	 * parts of the journal instead */
	ro.readahead = nparts < 2;
	int rc = wf_reader_open(&r, jdir, &ro);
	if (rc < 0) {
		snprintf(err, errlen, "%s", wf_reader_errmsg(r));
		wf_reader_close(r);
		wf_fold_free(f);
		return rc;
	}
	const wf_event *ev;
	/* An engine directory's newest usable snapshot, if the journal still
	 * holds the event it ends with (read again here: the first event
	 * after the seek must be that one); else a full replay. */
	char sdir[4200];
	if (strcmp(jdir, dir) != 0)
		snprintf(sdir, sizeof sdir, "%s/snapshots", dir);
	else /* given the journal itself: the engine's is <dir>/journal */
		snprintf(sdir, sizeof sdir, "%s/../snapshots", dir);
	uint64_t seq = 0;
	/* For one workflow, a snapshot costs its directory and a block or
	 * two (snapshot.h); a version 1 snapshot would be restored whole, and
	 * the engine's next snapshot replaces it. */
	int snap = wf_snapshot_load(NULL, sdir, wf_reader_journal_id(r),
	                            UINT64_MAX, &f, &seq, NULL, 0);
	/* A skipped snapshot leaves a new fold: it must be told again. */
	if (snap != 1 && wf_fold_set_only(f, only) < 0) {
		snprintf(err, errlen, "out of memory");
		wf_reader_close(r);
		wf_fold_free(f);
		return WF_ENOMEM;
	}
	uint64_t from = 1; /* the next event r returns, or the first */
	if (snap == 1) {
		int ok = wf_reader_seek(r, seq) == 0 &&
		         wf_reader_next(r, &ev) == 1 && ev->seq == seq;
		from = seq + 1;
		if (!ok) {
			from = 1;
			wf_fold *fresh;
			if (new_fold(&fresh, only) < 0 ||
			    wf_reader_seek(r, 1) < 0) {
				snprintf(err, errlen, "out of memory");
				wf_reader_close(r);
				wf_fold_free(f);
				return WF_ENOMEM;
			}
			wf_fold_free(f);
			f = fresh;
		}
	}
	int split = nparts >= 2 ? fold_parts(f, r, jdir, from, nparts,
	                                     min_bytes, used)
	                        : 1;
	if (split == 2) { /* start again, in one pass */
		wf_reader_close(r);
		wf_fold_free(f);
		return load(out, dir, only, 1, 0, used, err, errlen);
	}
	rc = 0;
	while (split == 1 && (rc = wf_reader_next(r, &ev)) == 1) {
		if ((rc = wf_fold_apply(f, ev, err, errlen)) < 0)
			break;
	}
	if (rc < 0 && rc != WF_ECORRUPT && rc != WF_EINCOMPAT && rc != WF_ENOMEM)
		snprintf(err, errlen, "%s", wf_reader_errmsg(r));
	else if (rc < 0 && !*err)
		snprintf(err, errlen, "%s", wf_reader_errmsg(r));
	wf_reader_close(r);
	if (rc == 0 && wf_journal_writer_alive(jdir))
		rc = wf_fold_set_live_session(f, wf_fold_last_session(f));
	if (rc < 0) {
		wf_fold_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

int wf_fold_load_dir(wf_fold **out, const char *dir, char *err,
                     size_t errlen)
{
	int used;
	return load(out, dir, NULL, 1, 0, &used, err, errlen);
}

int wf_fold_load_dir_only(wf_fold **out, const char *dir, const char *id,
                          char *err, size_t errlen)
{
	int used;
	return load(out, dir, id, cores(), (uint64_t)32 << 20, &used, err,
	            errlen);
}

int wf_fold_load_dir_parts(wf_fold **out, const char *dir, const char *id,
                           int nparts, uint64_t min_bytes, int *used,
                           char *err, size_t errlen)
{
	return load(out, dir, id, nparts, min_bytes, used, err, errlen);
}
