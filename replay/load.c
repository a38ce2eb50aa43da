/*
 * Offline replay: fold a journal directory the way the engine's open does,
 * without the writer lock (so it works while an engine runs, and on
 * read-only media). Whether an engine holds the journal now decides what
 * RUNNING means: if one does, its session (the last one started) is live;
 * if none does, every RUNNING workflow is RESUMABLE.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fold.h"
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

static int load(wf_fold **out, const char *dir, const char *only, char *err,
                size_t errlen)
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
	ro.readahead = 1; /* decompress on a second core while folding */
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
	if (snap == 1) {
		int ok = wf_reader_seek(r, seq) == 0 &&
		         wf_reader_next(r, &ev) == 1 && ev->seq == seq;
		if (!ok) {
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
	while ((rc = wf_reader_next(r, &ev)) == 1) {
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
	return load(out, dir, NULL, err, errlen);
}

int wf_fold_load_dir_only(wf_fold **out, const char *dir, const char *id,
                          char *err, size_t errlen)
{
	return load(out, dir, id, err, errlen);
}
