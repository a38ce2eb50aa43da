/*
 * What the commands that read a whole history share (trace, report): a
 * progress bar on stderr for long reads (when stderr is a terminal and
 * the journal is over 100 MB), loading the timelines of a DIR with the
 * tool's messages and exit codes, and output files written next to their
 * target and renamed into place (so that a failed run leaves nothing).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "replay/cli.h"
#include "replay/timeline.h"


/* Journals smaller than this are read before a progress bar is useful. */
#define PROGRESS_MIN_BYTES ((uint64_t)100 << 20)

typedef struct cli_progress {
	pthread_t thread;
	atomic_int stop;
	const char *cmd, *what;
	uint64_t total, base; /* bytes to read; rchar at the start */
	int counted;          /* 1: done is what the caller counted */
	_Atomic uint64_t done;
} cli_progress;

/* Bytes this process has read so far (rchar of /proc/self/io: read and
 * pread calls, page cache hits included), or -1 where there is none. */
static int64_t bytes_read(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	if (!f)
		return -1;
	char line[128];
	int64_t n = -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "rchar: ", 7) == 0) {
			n = strtoll(line + 7, NULL, 10);
			break;
		}
	fclose(f);
	return n;
}

static uint64_t journal_bytes(const char *jdir)
{
	DIR *d = opendir(jdir);
	if (!d)
		return 0;
	uint64_t total = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		struct stat st;
		if (n > 4 && strcmp(e->d_name + n - 4, ".wfj") == 0 &&
		    fstatat(dirfd(d), e->d_name, &st, 0) == 0)
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

static void *progress_loop(void *arg)
{
	cli_progress *p = arg;
	const struct timespec tick = {0, 200 * 1000000L};
	while (!atomic_load(&p->stop)) {
		int64_t now = p->counted ? 0 : bytes_read();
		uint64_t done = p->counted ? atomic_load(&p->done)
		                : now > (int64_t)p->base
		                        ? (uint64_t)now - p->base
		                        : 0;
		/* Never 100% before the end: the reader reads a little more
		 * than the segments (and a writer may be appending). */
		unsigned pct = done >= p->total
		                       ? 99
		                       : (unsigned)(done * 100 / p->total);
		char bar[31], a[32], b[32];
		unsigned fill = pct * 30 / 100;
		memset(bar, '#', fill);
		memset(bar + fill, '-', 30 - fill);
		bar[30] = '\0';
		if (p->counted) {
			snprintf(a, sizeof a, "%" PRIu64, done);
			snprintf(b, sizeof b, "%" PRIu64, p->total);
		} else {
			cli_human(a, sizeof a,
			          done < p->total ? done : p->total);
			cli_human(b, sizeof b, p->total);
		}
		fprintf(stderr, "\rwflow %s: %s [%s] %3u%% %s of %s\033[K",
		        p->cmd, p->what, bar, pct, a, b);
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static cli_progress *progress_new(const char *cmd, const char *what,
                                  uint64_t total, uint64_t base, int counted)
{
	cli_progress *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->cmd = cmd;
	p->what = what;
	p->total = total ? total : 1;
	p->base = base;
	p->counted = counted;
	atomic_init(&p->stop, 0);
	atomic_init(&p->done, 0);
	if (pthread_create(&p->thread, NULL, progress_loop, p) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

/*
 * A progress bar on stderr while a pass reads the journal in jdir, if
 * stderr is a terminal and the journal is over 100 MB; else NULL (and
 * nothing is shown). The timeline builder and the reader have no progress
 * hook, so the bar measures the bytes the process reads. Stop (and free)
 * with cli_progress_stop.
 */
cli_progress *cli_progress_start(const char *cmd, const char *what,
                                 const char *jdir)
{
	if (!isatty(STDERR_FILENO))
		return NULL;
	uint64_t total = journal_bytes(jdir);
	int64_t base = bytes_read();
	if (total < PROGRESS_MIN_BYTES || base < 0)
		return NULL;
	return progress_new(cmd, what, total, (uint64_t)base, 0);
}

/* A progress bar of total things that the caller counts with
 * cli_progress_set, on the same terms as cli_progress_start: shown if
 * stderr is a terminal and the journal in jdir is over 100 MB. */
cli_progress *cli_progress_count(const char *cmd, const char *what,
                                 const char *jdir, uint64_t total)
{
	if (!isatty(STDERR_FILENO) || journal_bytes(jdir) < PROGRESS_MIN_BYTES)
		return NULL;
	return progress_new(cmd, what, total, 0, 1);
}

void cli_progress_set(cli_progress *p, uint64_t done)
{
	if (p)
		atomic_store_explicit(&p->done, done, memory_order_relaxed);
}

void cli_progress_stop(cli_progress *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	pthread_join(p->thread, NULL);
	fputs("\r\033[K", stderr);
	free(p);
}

/*
 * The timelines of DIR's journal (those of ids, nids of them; all if 0).
 * Problems are printed: a damaged journal (its file and offset), an id
 * that is not in it. @return -1 ok (*out and *jdir_out, malloc'd, set),
 * else the exit code.
 */
int cli_timeline_load(const char *cmd, const char *dir_arg,
                      const char *const *ids, size_t nids, wf_timeline **out,
                      char **jdir_out)
{
	char *jdir;
	*out = NULL;
	*jdir_out = NULL;
	int rc = cli_resolve_dir(cmd, dir_arg, &jdir);
	if (rc >= 0)
		return rc;
	if (!cli_has_segments(jdir)) {
		cli_no_segments(cmd, jdir);
		free(jdir);
		return EXIT_DAMAGED;
	}
	char err[600] = "";
	cli_progress *p = cli_progress_start(cmd, "reading the journal", jdir);
	rc = wf_timeline_load(jdir, ids, nids, out, err, sizeof err);
	cli_progress_stop(p);
	if (rc < 0) {
		fprintf(stderr, "wflow %s: %s: %s (%s)\n", cmd, jdir,
		        *err ? err : "cannot read the journal",
		        wf_strerror(rc));
		free(jdir);
		return rc == WF_ECORRUPT || rc == WF_EINCOMPAT ? EXIT_DAMAGED
		                                               : EXIT_USAGE;
	}
	int missing = 0;
	for (size_t i = 0; i < nids; i++) {
		size_t k = 0;
		while (k < (*out)->n && strcmp((*out)->wfs[k]->id, ids[i]) != 0)
			k++;
		if (k == (*out)->n) {
			fprintf(stderr,
			        "wflow %s: No such workflow_id %s in %s\n", cmd,
			        ids[i], jdir);
			missing = 1;
		}
	}
	if (missing) {
		wf_timeline_free(*out);
		*out = NULL;
		free(jdir);
		return EXIT_DAMAGED;
	}
	*jdir_out = jdir;
	return -1;
}

/*
 * Open path for writing ("-": stdout). A regular file is written under a
 * temporary name beside it and renamed over path by cli_outfile_close, so
 * that a failed run leaves no half-written file and a reader of path
 * never sees one; anything else (a device, a pipe) is written directly.
 * @return the stream (*tmp: the temporary name, malloc'd, or NULL), or
 *         NULL after printing why.
 */
FILE *cli_outfile_open(const char *cmd, const char *path, char **tmp)
{
	*tmp = NULL;
	if (strcmp(path, "-") == 0)
		return stdout;
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		FILE *f = fopen(path, "w");
		if (!f)
			fprintf(stderr, "wflow %s: %s: %s\n", cmd, path,
			        strerror(errno));
		return f;
	}
	size_t n = strlen(path);
	char *t = malloc(n + sizeof ".XXXXXX");
	if (!t) {
		fprintf(stderr, "wflow %s: out of memory\n", cmd);
		return NULL;
	}
	memcpy(t, path, n);
	memcpy(t + n, ".XXXXXX", sizeof ".XXXXXX");
	int fd = mkstemp(t);
	if (fd < 0) {
		fprintf(stderr, "wflow %s: %s: %s\n", cmd, path,
		        strerror(errno));
		free(t);
		return NULL;
	}
	/* mkstemp makes it 0600; the file gets what fopen would give (if
	 * that fails, only the mode is off, not the output). */
	mode_t mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		fprintf(stderr, "wflow %s: %s: %s\n", cmd, t, strerror(errno));
		close(fd);
		unlink(t);
		free(t);
		return NULL;
	}
	*tmp = t;
	return f;
}

/*
 * Finish the output of cli_outfile_open: flush and close it, and rename
 * the temporary file over path, if ok and every write succeeded; else
 * remove it. @return -1 written, else EXIT_USAGE (after saying why).
 */
int cli_outfile_close(const char *cmd, const char *path, FILE *f, char *tmp,
                      int ok)
{
	int failed = fflush(f) != 0 || ferror(f);
	int err = failed ? errno : 0;
	if (f != stdout && fclose(f) != 0 && !failed) {
		failed = 1;
		err = errno;
	}
	if (ok && !failed && tmp && rename(tmp, path) != 0) {
		failed = 1;
		err = errno;
	}
	if (tmp && (!ok || failed))
		unlink(tmp);
	free(tmp);
	if (failed) {
		fprintf(stderr, "wflow %s: writing %s: %s\n", cmd,
		        strcmp(path, "-") == 0 ? "to stdout" : path,
		        strerror(err ? err : EIO));
		return EXIT_USAGE;
	}
	return ok ? -1 : EXIT_USAGE;
}

