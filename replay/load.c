/*
 * Offline replay: fold a journal directory the way the engine's open does,
 * without the writer lock (so it works while an engine runs, and on
 * read-only media). Whether an engine holds the journal now decides what
 * RUNNING means: if one does, its session (the last one started) is live;
 * if none does, every RUNNING workflow is RESUMABLE.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fold.h"
#include "journal/segment.h"
#include "parts.h"
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

/* ---- one workflow, on every core (parts.h) ---- */

static int fold_wants(const void *filter, const wf_event *ev)
{
	return !wf_fold_ignores(filter, ev);
}

static int fold_one(void *f, const wf_event *ev)
{
	char err[8];
	return wf_fold_apply(f, ev, err, sizeof err);
}

/*
 * Fold the rest of r's journal (the next event r returns has sequence
 * number `from`) into f, which folds one workflow, in up to nparts parts
 * at once (*used receives how many, if it worked). The parts' threads ask
 * a fold of their own (filter, never applied to) what f would ignore.
 * @return as wf_parts_scan.
 */
static int stop_after(const void *at, const wf_event *ev)
{
	return ev->time_ns > ((const wf_fold_at *)at)->time_ns;
}

static int fold_parts(wf_fold *f, wf_reader *r, const char *jdir,
                      uint64_t from, const wf_fold_at *at, int nparts,
                      uint64_t min_bytes, int *used)
{
	wf_fold *filter;
	if (wf_fold_new(&filter) < 0)
		return 1;
	if (wf_fold_set_only(filter, wf_fold_only(f)) < 0) {
		wf_fold_free(filter);
		return 1;
	}
	wf_parts_opts o = {.nparts = nparts, .min_bytes = min_bytes,
	                   .want = fold_wants, .want_ctx = filter,
	                   .fn = fold_one, .fn_ctx = f};
	if (at && at->is_time) {
		o.stop = stop_after;
		o.stop_ctx = at;
	} else if (at) {
		o.until = at->seq; /* (not 0: load reads 0 in one pass) */
	}
	wf_parts_result res;
	int rc = wf_parts_scan(r, jdir, from, &o, &res);
	wf_fold_free(filter);
	if (rc == 0) {
		wf_fold_passed(f, res.last_seq);
		*used = res.used;
	}
	return rc;
}

/*
 * A replay from the first event needs the journal to start there: its
 * oldest segments may have been deleted (retention, wflow.h), and then
 * only a snapshot holds what they built. @return 0, or WF_ECORRUPT (err
 * says which events are missing).
 */
static int starts_at_one(const char *jdir, const wf_fold_at *at, char *err,
                         size_t errlen)
{
	uint64_t first = wf_seg_first(wf_io_posix(), jdir);
	if (first <= 1)
		return 0;
	snprintf(err, errlen, "the journal starts at event %" PRIu64
	         ": events 1..%" PRIu64 " are not in it (segments deleted by "
	         "retention, or lost), and %s", first, first - 1,
	         !at ? "no usable snapshot holds the state they built"
	         : at->is_time ? "no usable snapshot from before that time "
	                         "holds the state they built"
	                       : "no usable snapshot that ends by that event "
	                         "holds the state they built");
	return WF_ECORRUPT;
}

/* nparts: read the journal in up to that many parts at once when folding
 * one workflow and at least min_bytes are to be read (1: one pass); *used
 * receives how many it was. at: where to stop (NULL: at the end); then
 * the live session is the last one started by then (an engine ran then),
 * else the last one if an engine runs now. */
static int load(wf_fold **out, const char *dir, const char *only,
                const wf_fold_at *at, int nparts, uint64_t min_bytes,
                int *used, char *err, size_t errlen)
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
	if (!only || (at && !at->is_time && at->seq == 0))
		nparts = 1; /* (the parts' until 0 means none) */
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
	uint64_t below = !at || at->is_time ? UINT64_MAX
	                 : at->seq == UINT64_MAX ? at->seq
	                                         : at->seq + 1;
	int snap = wf_snapshot_load(NULL, sdir, wf_reader_journal_id(r), below,
	                            &f, &seq, NULL, 0);
	/* A point in time: a snapshot whose events are all from before it
	 * (their latest time is saved with it), else an older one. */
	while (snap == 1 && at && at->is_time &&
	       wf_fold_max_time(f) > at->time_ns) {
		wf_fold_free(f);
		if (new_fold(&f, only) < 0) {
			snprintf(err, errlen, "out of memory");
			wf_reader_close(r);
			return WF_ENOMEM;
		}
		below = seq;
		snap = wf_snapshot_load(NULL, sdir, wf_reader_journal_id(r),
		                        below, &f, &seq, NULL, 0);
	}
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
	if (from == 1 && (rc = starts_at_one(jdir, at, err, errlen)) < 0) {
		wf_reader_close(r);
		wf_fold_free(f);
		return rc;
	}
	int split = nparts >= 2 ? fold_parts(f, r, jdir, from, at, nparts,
	                                     min_bytes, used)
	                        : 1;
	if (split == 2) { /* start again, in one pass */
		wf_reader_close(r);
		wf_fold_free(f);
		return load(out, dir, only, at, 1, 0, used, err, errlen);
	}
	rc = 0;
	wf_fold_populate_ahead(f, 1);
	while (split == 1 && (rc = wf_reader_next(r, &ev)) == 1) {
		if (at && (at->is_time ? ev->time_ns > at->time_ns
		                       : ev->seq > at->seq)) {
			rc = 0;
			break;
		}
		if ((rc = wf_fold_apply(f, ev, err, errlen)) < 0)
			break;
	}
	wf_fold_populate_ahead(f, 0);
	if (rc < 0 && rc != WF_ECORRUPT && rc != WF_EINCOMPAT && rc != WF_ENOMEM)
		snprintf(err, errlen, "%s", wf_reader_errmsg(r));
	else if (rc < 0 && !*err)
		snprintf(err, errlen, "%s", wf_reader_errmsg(r));
	wf_reader_close(r);
	if (rc == 0 && (at ? wf_fold_last_session(f) != NULL
	                   : wf_journal_writer_alive(jdir)))
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
	return load(out, dir, NULL, NULL, 1, 0, &used, err, errlen);
}

int wf_fold_load_dir_only(wf_fold **out, const char *dir, const char *id,
                          char *err, size_t errlen)
{
	int used;
	return load(out, dir, id, NULL, wf_parts_cores(), (uint64_t)32 << 20,
	            &used, err, errlen);
}

int wf_fold_load_dir_parts(wf_fold **out, const char *dir, const char *id,
                           int nparts, uint64_t min_bytes, int *used,
                           char *err, size_t errlen)
{
	return load(out, dir, id, NULL, nparts, min_bytes, used, err, errlen);
}

int wf_fold_load_dir_at(wf_fold **out, const char *dir, const char *id,
                        const wf_fold_at *at, int nparts, uint64_t min_bytes,
                        int *used, char *err, size_t errlen)
{
	return load(out, dir, id, at, nparts, min_bytes, used, err, errlen);
}
