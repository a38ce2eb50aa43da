/*
 * Durability modes, observed through a wf_io wrapper that counts fsync and
 * fdatasync calls and tracks which segment files hold written-but-unsynced
 * bytes:
 *  - ALWAYS, one thread: after every commit returns, nothing written to a
 *    segment is unsynced;
 *  - ALWAYS, 16 threads x 200 commits: all succeed, every event is readable
 *    once with contiguous seqs matching what commit returned, and
 *    concurrent committers share fdatasyncs (group commit): fewer syncs
 *    than commits;
 *  - BATCH: commits do not wait for a sync, the background thread syncs
 *    within a few intervals, events are readable after close;
 *  - NONE: commits never sync; wf_journal_sync does.
 */
#include "test.h"

#include <pthread.h>
#include <time.h>

#define THREADS 16
#define COMMITS 200
#define PER_COMMIT 2
#define MAX_FD 4096
#define MAX_FILES 1024

/* Dirty state is per file (inode), not per fd: a sync through any fd of a
 * file covers what was written through the others. */
typedef struct counting {
	const wf_io *base;
	pthread_mutex_t mu;
	uint64_t fdatasyncs, fsyncs;
	ino_t fd_ino[MAX_FD]; /* 0: not a segment file (.wfj, .wfj.tmp) */
	ino_t ino[MAX_FILES];
	char dirty[MAX_FILES]; /* written since its last sync */
	size_t nfiles;
	long sync_delay_ns; /* a slower disk */
} counting;

static counting cnt;

/* Index of the file behind fd, or -1. Caller holds mu. */
static int file_of(counting *k, int fd)
{
	if (fd < 0 || fd >= MAX_FD || !k->fd_ino[fd])
		return -1;
	for (size_t i = 0; i < k->nfiles; i++)
		if (k->ino[i] == k->fd_ino[fd])
			return (int)i;
	CHECK(k->nfiles < MAX_FILES);
	k->ino[k->nfiles] = k->fd_ino[fd];
	k->dirty[k->nfiles] = 0;
	return (int)k->nfiles++;
}

static int c_open(void *c, const char *p, int fl)
{
	counting *k = c;
	int fd = k->base->open(k->base->ctx, p, fl);
	struct stat st;
	if (fd >= 0 && fd < MAX_FD) {
		pthread_mutex_lock(&k->mu);
		k->fd_ino[fd] = 0;
		if (strstr(p, WF_SEG_SUFFIX) && fstat(fd, &st) == 0)
			k->fd_ino[fd] = st.st_ino;
		pthread_mutex_unlock(&k->mu);
	}
	return fd;
}
static int c_close(void *c, int fd)
{
	counting *k = c;
	if (fd >= 0 && fd < MAX_FD) {
		pthread_mutex_lock(&k->mu);
		k->fd_ino[fd] = 0;
		pthread_mutex_unlock(&k->mu);
	}
	return k->base->close(k->base->ctx, fd);
}
static ssize_t c_pwrite(void *c, int fd, const void *b, size_t n,
                        uint64_t off)
{
	counting *k = c;
	ssize_t r = k->base->pwrite(k->base->ctx, fd, b, n, off);
	pthread_mutex_lock(&k->mu);
	int f = file_of(k, fd);
	if (f >= 0)
		k->dirty[f] = 1;
	pthread_mutex_unlock(&k->mu);
	return r;
}
/* What is written when a sync starts is what it makes durable. */
static int c_sync(counting *k, int fd, int data_only)
{
	pthread_mutex_lock(&k->mu);
	int f = file_of(k, fd);
	char was = f >= 0 ? k->dirty[f] : 0;
	if (f >= 0)
		k->dirty[f] = 0;
	pthread_mutex_unlock(&k->mu);
	if (k->sync_delay_ns)
		nanosleep(&(struct timespec){0, k->sync_delay_ns}, NULL);
	int r = data_only ? k->base->fdatasync(k->base->ctx, fd)
	                  : k->base->fsync(k->base->ctx, fd);
	pthread_mutex_lock(&k->mu);
	if (r < 0 && f >= 0)
		k->dirty[f] |= was;
	if (r == 0 && data_only)
		k->fdatasyncs++;
	else if (r == 0)
		k->fsyncs++;
	pthread_mutex_unlock(&k->mu);
	return r;
}
static int c_fdatasync(void *c, int fd)
{
	return c_sync(c, fd, 1);
}
static int c_fsync(void *c, int fd)
{
	return c_sync(c, fd, 0);
}
static ssize_t c_pread(void *c, int fd, void *b, size_t n, uint64_t off)
{
	counting *k = c;
	return k->base->pread(k->base->ctx, fd, b, n, off);
}
static int c_ftruncate(void *c, int fd, uint64_t len)
{
	counting *k = c;
	return k->base->ftruncate(k->base->ctx, fd, len);
}
static int c_fsize(void *c, int fd, uint64_t *size)
{
	counting *k = c;
	return k->base->fsize(k->base->ctx, fd, size);
}
static int c_rename(void *c, const char *a, const char *b)
{
	counting *k = c;
	return k->base->rename(k->base->ctx, a, b);
}
static int c_unlink(void *c, const char *p)
{
	counting *k = c;
	return k->base->unlink(k->base->ctx, p);
}
static int c_mkdir(void *c, const char *p)
{
	counting *k = c;
	return k->base->mkdir(k->base->ctx, p);
}
static int c_lock(void *c, int fd)
{
	counting *k = c;
	return k->base->lock(k->base->ctx, fd);
}
static int c_list(void *c, const char *d, wf_io_list_fn fn, void *ud)
{
	counting *k = c;
	return k->base->list(k->base->ctx, d, fn, ud);
}
static int c_random(void *c, void *b, size_t n)
{
	counting *k = c;
	return k->base->random(k->base->ctx, b, n);
}

static wf_io counting_io(void)
{
	wf_io io = {
	    &cnt,       c_open,  c_close, c_pread, c_pwrite,
	    c_fsync,    c_fdatasync, c_ftruncate, c_fsize, c_rename,
	    c_unlink,   c_mkdir, c_lock,  c_list,  c_random,
	};
	cnt.base = wf_io_posix();
	pthread_mutex_init(&cnt.mu, NULL);
	return io;
}

static uint64_t syncs(void)
{
	pthread_mutex_lock(&cnt.mu);
	uint64_t n = cnt.fdatasyncs + cnt.fsyncs;
	pthread_mutex_unlock(&cnt.mu);
	return n;
}

/* Segment files with written, unsynced bytes. */
static uint64_t unsynced(void)
{
	uint64_t n = 0;
	pthread_mutex_lock(&cnt.mu);
	for (size_t i = 0; i < cnt.nfiles; i++)
		n += cnt.dirty[i];
	pthread_mutex_unlock(&cnt.mu);
	return n;
}

static void make_event(uint64_t t, uint64_t c, uint64_t i, wf_event *ev)
{
	memset(ev, 0, sizeof *ev);
	ev->type = 4;
	ev->time_ns = (int64_t)(t * 1000000 + c * 10 + i + 1);
	ev->nfields = 3;
	ev->fields[0] = wf_field_u(t);
	ev->fields[1] = wf_field_u(c);
	ev->fields[2] = wf_field_u(i);
}

static int commit(wf_journal *j, uint64_t t, uint64_t c, uint64_t *first)
{
	wf_batch *b;
	wf_event ev;
	CHECK_OK(wf_batch_new(&b));
	for (uint64_t i = 0; i < PER_COMMIT; i++) {
		make_event(t, c, i, &ev);
		CHECK_OK(wf_batch_add(b, &ev));
	}
	int rc = wf_journal_commit(j, b, first);
	wf_batch_free(b);
	return rc;
}

static wf_journal *journal;
static uint64_t first_seq[THREADS][COMMITS];

static void *committer(void *arg)
{
	uint64_t t = (uint64_t)(uintptr_t)arg;
	for (uint64_t c = 0; c < COMMITS; c++)
		CHECK_OK_MSG(commit(journal, t, c, &first_seq[t][c]),
		             wf_journal_errmsg(journal));
	return NULL;
}

/* Every event once, seqs 1..n, matching first_seq[][] from the commits. */
static unsigned char seen[THREADS][COMMITS][PER_COMMIT];

static void check_event(void *ud, const wf_event *ev)
{
	uint64_t *n = ud;
	CHECK_EQ_U64(ev->seq, *n + 1);
	CHECK_EQ_U64(ev->nfields, 3);
	uint64_t t = ev->fields[0].v.u, c = ev->fields[1].v.u,
	         i = ev->fields[2].v.u;
	CHECK(t < THREADS && c < COMMITS && i < PER_COMMIT);
	wf_event want;
	make_event(t, c, i, &want);
	want.seq = first_seq[t][c] + i;
	CHECK_EVENT(ev, &want);
	CHECK(!seen[t][c][i]);
	seen[t][c][i] = 1;
	(*n)++;
}

static uint64_t read_count(const char *dir)
{
	uint64_t n;
	char msg[512];
	CHECK_OK_MSG(t_read_all(dir, NULL, NULL, NULL, &n, msg, sizeof msg), msg);
	return n;
}

int main(void)
{
	char dir[512];
	wf_io io = counting_io();
	wf_journal_opts o;

	/* ALWAYS, one thread: every commit is synced when it returns. */
	t_subdir(dir, sizeof dir, "always1");
	t_opts_default(&o);
	o.io = &io;
	o.segment_size = 4096; /* rollovers too */
	journal = t_open_writer(dir, &o);
	for (uint64_t c = 0; c < 100; c++) {
		uint64_t before = syncs();
		CHECK_OK_MSG(commit(journal, 0, c, NULL), wf_journal_errmsg(journal));
		CHECK(syncs() > before);
		CHECK_MSG(unsynced() == 0, "commit %" PRIu64 " returned with "
		          "unsynced segment bytes", c);
	}
	CHECK_OK(wf_journal_close(journal));
	CHECK_EQ_U64(read_count(dir), 100 * PER_COMMIT);

	/* ALWAYS, 16 threads: group commit. */
	t_subdir(dir, sizeof dir, "always16");
	o.segment_size = 1 << 20;
	cnt.sync_delay_ns = 100000;
	journal = t_open_writer(dir, &o);
	uint64_t s0 = syncs();
	pthread_t th[THREADS];
	for (uintptr_t t = 0; t < THREADS; t++)
		CHECK(pthread_create(&th[t], NULL, committer, (void *)t) == 0);
	for (int t = 0; t < THREADS; t++)
		CHECK(pthread_join(th[t], NULL) == 0);
	uint64_t group_syncs = syncs() - s0;
	CHECK_EQ_U64(unsynced(), 0);
	CHECK_EQ_U64(wf_journal_next_seq(journal),
	             THREADS * COMMITS * PER_COMMIT + 1);
	CHECK_OK(wf_journal_close(journal));
	cnt.sync_delay_ns = 0;
	{
		uint64_t n = 0, got;
		char msg[512];
		CHECK_OK_MSG(
		    t_read_all(dir, NULL, check_event, &n, &got, msg, sizeof msg),
		    msg);
		CHECK_EQ_U64(got, THREADS * COMMITS * PER_COMMIT);
		for (int t = 0; t < THREADS; t++)
			for (int c = 1; c < COMMITS; c++)
				CHECK(first_seq[t][c] > first_seq[t][c - 1]);
	}
	CHECK_MSG(group_syncs >= 1, "no sync at all in durability ALWAYS");
	/* With 16 committers and a 0.1 ms slower sync, a working group commit
	 * shares each sync among many commits (about 8 here); half as many
	 * syncs as commits is a generous bound. */
	CHECK_MSG(group_syncs < THREADS * COMMITS / 2,
	          "%" PRIu64 " syncs for %d commits: no group commit",
	          group_syncs, THREADS * COMMITS);

	/* BATCH: commits return without a sync; the thread syncs soon. */
	t_subdir(dir, sizeof dir, "batch");
	o.durability = WF_DURABILITY_BATCH;
	o.batch_interval_ms = 10;
	journal = t_open_writer(dir, &o);
	uint64_t b0 = syncs();
	for (uint64_t c = 0; c < 200; c++)
		CHECK_OK_MSG(commit(journal, 1, c, NULL), wf_journal_errmsg(journal));
	uint64_t batch_commit_syncs = syncs() - b0;
	CHECK_MSG(batch_commit_syncs < 100,
	          "%" PRIu64 " syncs during 200 BATCH commits", batch_commit_syncs);
	/* (A sync counts once it has returned.) */
	for (int w = 0; w < 100 && (unsynced() != 0 || syncs() == b0); w++)
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	CHECK_MSG(unsynced() == 0, "BATCH left commits unsynced for 1 s");
	CHECK(syncs() > b0);
	CHECK_OK(wf_journal_close(journal));
	CHECK_EQ_U64(read_count(dir), 200 * PER_COMMIT);

	/* NONE: commits never sync; wf_journal_sync does. */
	t_subdir(dir, sizeof dir, "none");
	o.durability = WF_DURABILITY_NONE;
	journal = t_open_writer(dir, &o);
	uint64_t n0 = syncs();
	for (uint64_t c = 0; c < 50; c++)
		CHECK_OK_MSG(commit(journal, 2, c, NULL), wf_journal_errmsg(journal));
	CHECK_EQ_U64(syncs(), n0);
	CHECK(unsynced() > 0);
	CHECK_OK_MSG(wf_journal_sync(journal), wf_journal_errmsg(journal));
	CHECK(syncs() > n0);
	CHECK_EQ_U64(unsynced(), 0);
	CHECK_OK(wf_journal_close(journal));
	CHECK_EQ_U64(read_count(dir), 50 * PER_COMMIT);

	printf("group_commit: %d commits by %d threads took %" PRIu64
	       " syncs; BATCH: %" PRIu64 " syncs in 200 commits\n",
	       THREADS * COMMITS, THREADS, group_syncs, batch_commit_syncs);
	return 0;
}
