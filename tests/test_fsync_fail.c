/*
 * I/O errors, injected through the wf_io seam (the SQLite way: fail the
 * k-th call, for k = 1, 2, 3, ..., each run in a fresh directory):
 *  - fdatasync/fsync fails with -EIO; durability ALWAYS;
 *  - pwrite fails with -ENOSPC;
 * each both "from the k-th call on" and "only the k-th call" (after which
 * I/O works again: the handle must stay poisoned anyway, since the kernel
 * may have dropped the pages an fsync failed to write).
 *
 * The commit that hits the failure returns WF_EIO (never 0) with a message
 * saying why; every later commit fails too; a fresh open afterwards works
 * and holds every acknowledged commit, plus at most the one that failed.
 */
#include "test.h"

#include <stdatomic.h>

#define NCOMMITS 60
#define PER_COMMIT 3
#define TEXT_LEN 100
#define MAX_K 40

enum { FAIL_SYNC, FAIL_WRITE };

typedef struct fault {
	const wf_io *base;
	int what;       /* FAIL_SYNC or FAIL_WRITE */
	int once;       /* fail only the k-th call */
	uint64_t k;     /* 0: never */
	atomic_uint_fast64_t calls;
	atomic_uint_fast64_t injected;
} fault;

/* Count the call; should it fail? */
static int hit(fault *f)
{
	uint64_t n = atomic_fetch_add(&f->calls, 1) + 1;
	if (f->k && (n == f->k || (!f->once && n > f->k))) {
		atomic_fetch_add(&f->injected, 1);
		return 1;
	}
	return 0;
}

static int f_open(void *c, const char *p, int fl)
{
	fault *f = c;
	return f->base->open(f->base->ctx, p, fl);
}
static int f_close(void *c, int fd)
{
	fault *f = c;
	return f->base->close(f->base->ctx, fd);
}
static ssize_t f_pread(void *c, int fd, void *b, size_t n, uint64_t off)
{
	fault *f = c;
	return f->base->pread(f->base->ctx, fd, b, n, off);
}
static ssize_t f_pwrite(void *c, int fd, const void *b, size_t n,
                        uint64_t off)
{
	fault *f = c;
	if (f->what == FAIL_WRITE && hit(f))
		return -ENOSPC;
	return f->base->pwrite(f->base->ctx, fd, b, n, off);
}
static int f_fsync(void *c, int fd)
{
	fault *f = c;
	if (f->what == FAIL_SYNC && hit(f))
		return -EIO;
	return f->base->fsync(f->base->ctx, fd);
}
static int f_fdatasync(void *c, int fd)
{
	fault *f = c;
	if (f->what == FAIL_SYNC && hit(f))
		return -EIO;
	return f->base->fdatasync(f->base->ctx, fd);
}
static int f_ftruncate(void *c, int fd, uint64_t len)
{
	fault *f = c;
	return f->base->ftruncate(f->base->ctx, fd, len);
}
static int f_fsize(void *c, int fd, uint64_t *size)
{
	fault *f = c;
	return f->base->fsize(f->base->ctx, fd, size);
}
static int f_rename(void *c, const char *a, const char *b)
{
	fault *f = c;
	return f->base->rename(f->base->ctx, a, b);
}
static int f_unlink(void *c, const char *p)
{
	fault *f = c;
	return f->base->unlink(f->base->ctx, p);
}
static int f_mkdir(void *c, const char *p)
{
	fault *f = c;
	return f->base->mkdir(f->base->ctx, p);
}
static int f_lock(void *c, int fd)
{
	fault *f = c;
	return f->base->lock(f->base->ctx, fd);
}
static int f_list(void *c, const char *d, wf_io_list_fn fn, void *ud)
{
	fault *f = c;
	return f->base->list(f->base->ctx, d, fn, ud);
}
static int f_random(void *c, void *b, size_t n)
{
	fault *f = c;
	return f->base->random(f->base->ctx, b, n);
}

static void make_event(int c, int i, wf_event *ev, char *text)
{
	uint64_t st = (uint64_t)c * 100 + (uint64_t)i;
	memset(ev, 0, sizeof *ev);
	ev->type = 2;
	ev->time_ns = 1 + c;
	ev->nfields = 3;
	ev->fields[0] = wf_field_u((uint64_t)c);
	ev->fields[1] = wf_field_u((uint64_t)i);
	for (size_t b = 0; b < TEXT_LEN; b++)
		text[b] = (char)t_splitmix(&st);
	ev->fields[2] = wf_field_text(text, TEXT_LEN);
}

static int commit(wf_journal *j, int c, uint64_t *first)
{
	wf_batch *b;
	wf_event ev;
	char text[TEXT_LEN];
	CHECK_OK(wf_batch_new(&b));
	for (int i = 0; i < PER_COMMIT; i++) {
		make_event(c, i, &ev, text);
		CHECK_OK(wf_batch_add(b, &ev));
	}
	int rc = wf_journal_commit(j, b, first);
	wf_batch_free(b);
	return rc;
}

/* Does the message say what failed? */
static int says_why(int what, const char *m)
{
	if (what == FAIL_SYNC)
		return t_contains(m, "sync") || t_contains(m, strerror(EIO));
	return t_contains(m, "write") || t_contains(m, strerror(ENOSPC));
}

/* What is on disk: commits 0..acked-1, then perhaps commit `failed`. */
typedef struct expect {
	int acked, failed;
	uint64_t n;
} expect;

static void check_event(void *ud, const wf_event *ev)
{
	expect *x = ud;
	wf_event want;
	char text[TEXT_LEN];
	int c = (int)(x->n / PER_COMMIT), i = (int)(x->n % PER_COMMIT);
	CHECK_MSG(c <= x->acked && (c < x->acked || c == x->failed),
	          "event %" PRIu64 " is of commit %d; %d acknowledged",
	          ev->seq, c, x->acked);
	make_event(c, i, &want, text);
	want.seq = ++x->n;
	CHECK_EVENT(ev, &want);
}

static void run(int what, int once, uint64_t k)
{
	char dir[512], name[64];
	wf_io io = {0};
	fault f;
	wf_journal_opts o;
	wf_journal *j = NULL;
	int acked = 0, failed = -1;

	snprintf(name, sizeof name, "%s-%s-%" PRIu64,
	         what == FAIL_SYNC ? "sync" : "write", once ? "once" : "on", k);
	t_subdir(dir, sizeof dir, name);
	t_context("%s failing %s call %" PRIu64, what == FAIL_SYNC ? "fsync" :
	          "pwrite", once ? "only the" : "from the", k);
	f.base = wf_io_posix();
	f.what = what;
	f.once = once;
	f.k = k;
	atomic_init(&f.calls, 0);
	atomic_init(&f.injected, 0);
	io = *f.base;
	io.ctx = &f;
	io.open = f_open;
	io.close = f_close;
	io.pread = f_pread;
	io.pwrite = f_pwrite;
	io.fsync = f_fsync;
	io.fdatasync = f_fdatasync;
	io.ftruncate = f_ftruncate;
	io.fsize = f_fsize;
	io.rename = f_rename;
	io.unlink = f_unlink;
	io.mkdir = f_mkdir;
	io.lock = f_lock;
	io.list = f_list;
	io.random = f_random;

	t_opts_default(&o);
	o.durability = WF_DURABILITY_ALWAYS;
	o.segment_size = 4096; /* rollovers (segment creation) fail too */
	o.io = &io;

	int rc = wf_journal_open(&j, dir, &o);
	if (rc != 0) {
		/* The failure hit the open itself. */
		CHECK_RC(rc, WF_EIO);
		CHECK(atomic_load(&f.injected) > 0);
		CHECK(j != NULL);
		CHECK_MSG(says_why(what, wf_journal_errmsg(j)), "message \"%s\"",
		          wf_journal_errmsg(j));
		wf_journal_close(j);
		failed = 0;
	} else {
		char why[512] = "";
		for (int c = 0; c < NCOMMITS; c++) {
			uint64_t first = 0;
			rc = commit(j, c, &first);
			if (rc == 0) {
				CHECK_MSG(failed < 0,
				          "commit %d acknowledged after commit %d failed", c,
				          failed);
				CHECK_EQ_U64(first, (uint64_t)acked * PER_COMMIT + 1);
				acked++;
				continue;
			}
			CHECK_RC(rc, WF_EIO);
			const char *m = wf_journal_errmsg(j);
			if (failed < 0) {
				failed = c;
				CHECK(atomic_load(&f.injected) > 0);
				CHECK_MSG(says_why(what, m), "message \"%s\"", m);
				snprintf(why, sizeof why, "%s", m);
			} else {
				/* poisoned: still says why */
				CHECK_MSG(says_why(what, m),
				          "message \"%s\" (first failure: \"%s\")", m, why);
			}
		}
		CHECK_MSG(failed >= 0, "the injected failure never hit a commit");
		wf_journal_close(j); /* may report the failure again */
	}

	/* A fresh open (plain I/O) recovers every acknowledged commit. */
	expect x = {acked, failed, 0};
	uint64_t n;
	char msg[512];
	o.io = NULL;
	j = t_open_writer(dir, &o);
	uint64_t next = wf_journal_next_seq(j);
	CHECK_OK(wf_journal_close(j));
	CHECK_OK_MSG(t_read_all(dir, NULL, check_event, &x, &n, msg, sizeof msg),
	             msg);
	CHECK(n == (uint64_t)acked * PER_COMMIT ||
	      n == (uint64_t)(acked + 1) * PER_COMMIT);
	CHECK_EQ_U64(next, n + 1);

	/* ... and takes commits again. */
	j = t_open_writer(dir, &o);
	CHECK_OK(commit(j, NCOMMITS, NULL));
	CHECK_OK(wf_journal_close(j));
	CHECK_OK_MSG(t_read_all(dir, NULL, NULL, NULL, &n, msg, sizeof msg), msg);
	CHECK_EQ_U64(n, next - 1 + PER_COMMIT);
	t_rmtree(dir);
}

int main(void)
{
	for (int what = FAIL_SYNC; what <= FAIL_WRITE; what++)
		for (int once = 0; once <= 1; once++)
			for (uint64_t k = 1; k <= MAX_K; k++)
				run(what, once, k);
	t_context("%s", "");
	printf("fsync_fail: %d injected-failure runs\n", 4 * MAX_K);
	return 0;
}
