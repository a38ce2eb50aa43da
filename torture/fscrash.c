/*
 * wflow-torture fscrash: crash the file system beneath the journal, the
 * way SQLite's crash-test VFS does, and check what recovery makes of it.
 *
 * How it works. The journal writes through a wf_io of ours (the "model
 * file system") that passes every call on to POSIX, so the files on disk
 * always show what the page cache would, and keeps beside them a model of
 * what a power cut could leave:
 *  - per file: its durable image (content and length as of the file's
 *    last fsync or fdatasync), its current image, and which bytes changed
 *    since that sync (a byte map; sectors are 512 bytes);
 *  - per directory: the names as of its last fsync, and the operations
 *    since (create, rename, unlink, mkdir), in order.
 * Syncs are simulated, not performed: the model alone decides what they
 * made durable.
 *
 * A crash comes at a random call index: that call and every later one
 * fails with EIO (the writer poisons itself, its threads stop), and the
 * writer is closed. Then the tree is rewritten to one outcome of the power
 * cut:
 *  - each directory keeps a random prefix of its unsynced operations (a
 *    journaling file system commits metadata in order), so a created or
 *    renamed file not followed by a directory fsync may be lost;
 *  - each file's length becomes its durable length, its current length,
 *    or a sector boundary in between;
 *  - each sector holding unsynced bytes is, on its own, kept, dropped
 *    (the durable bytes: old content, or zeros in a hole) or garbled
 *    (random bytes). Garbling hits the sector's unsynced bytes only; bytes
 *    synced before survive (SQLite's "powersafe overwrite", which it
 *    assumes of Unix file systems by default).
 * Then, with plain POSIX I/O again: a reader (tolerate-tail) must open and
 * return exactly a prefix of what was appended, in whole commits, holding
 * every commit acknowledged durable (a commit that returned under
 * durability always, or any that returned before a successful
 * wf_journal_sync). The writer must open, cut the rest, and go on at the
 * next sequence number; a reader in absolute mode then finds no damage.
 * Sometimes the writer's recovery is instead left to the next life: each
 * round gives one journal several lives (write, crash, recover).
 *
 * Each event names its commit (thread, commit number, index, count) and
 * carries a payload derived from those, so any event read back can be
 * checked on its own, unacknowledged ones included.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine_int.h"
#include "journal/journal.h"
#include "journal/segment.h"
#include "torture/torture.h"

#define SECTOR 512u
#define MAX_FD 4096
#define MAX_LIVES 4
#define MAX_THREADS 4
#define EVENT_TYPE 100

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0). */
static uint64_t rnd(uint64_t *s, uint64_t n)
{
	return splitmix(s) % n;
}

/* ---- the model file system ------------------------------------------ */

typedef struct inode {
	uint8_t *cur;   /* current content; zeros past cur_len */
	uint8_t *dur;   /* durable content; zeros past dur_len */
	uint8_t *dirty; /* 1 per byte changed since the last sync */
	size_t cur_len, dur_len, cap;
} inode;

typedef struct entry {
	char *path;
	int ino; /* -1: a directory */
} entry;

typedef struct names {
	entry *v;
	size_t n, cap;
} names;

enum { OP_CREATE, OP_RENAME, OP_UNLINK, OP_MKDIR };

typedef struct nsop {
	int kind;
	char *dir; /* the directory whose fsync makes it durable */
	char *a, *b;
	int ino;
} nsop;

typedef struct fsmodel {
	pthread_mutex_t mu;
	const wf_io *px;
	wf_io io; /* ours: ctx points here */
	char root[640];
	inode **inos;
	size_t ninos, inocap;
	names cur, dur;
	nsop *ops;
	size_t nops, opcap;
	int fdino[MAX_FD]; /* -1 none, -2 directory, else inode */
	char *fddir[MAX_FD];
	uint64_t calls, crash_at;
	int crashed;
	int oom; /* the model ran out of memory: the round is void */
} fsmodel;

static char *xstrdup(fsmodel *m, const char *s)
{
	char *p = strdup(s);
	if (!p)
		m->oom = 1;
	return p;
}

static char *dir_of(fsmodel *m, const char *path)
{
	char *d = xstrdup(m, path);
	if (!d)
		return NULL;
	char *slash = strrchr(d, '/');
	if (slash && slash != d)
		*slash = '\0';
	else
		strcpy(d, slash ? "/" : ".");
	return d;
}

static int names_find(const names *ns, const char *path)
{
	for (size_t i = 0; i < ns->n; i++)
		if (!strcmp(ns->v[i].path, path))
			return (int)i;
	return -1;
}

static void names_del(names *ns, const char *path)
{
	int i = names_find(ns, path);
	if (i < 0)
		return;
	free(ns->v[i].path);
	ns->v[i] = ns->v[--ns->n];
}

static void names_set(fsmodel *m, names *ns, const char *path, int ino)
{
	int i = names_find(ns, path);
	if (i >= 0) {
		ns->v[i].ino = ino;
		return;
	}
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		entry *v = realloc(ns->v, cap * sizeof *v);
		if (!v) {
			m->oom = 1;
			return;
		}
		ns->v = v;
		ns->cap = cap;
	}
	char *p = xstrdup(m, path);
	if (!p)
		return;
	ns->v[ns->n].path = p;
	ns->v[ns->n].ino = ino;
	ns->n++;
}

static void names_free(names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i].path);
	free(ns->v);
	memset(ns, 0, sizeof *ns);
}

static int names_copy(fsmodel *m, names *dst, const names *src)
{
	memset(dst, 0, sizeof *dst);
	for (size_t i = 0; i < src->n; i++)
		names_set(m, dst, src->v[i].path, src->v[i].ino);
	return m->oom ? -1 : 0;
}

static void apply_op(fsmodel *m, names *ns, const nsop *op)
{
	switch (op->kind) {
	case OP_CREATE:
		names_set(m, ns, op->a, op->ino);
		break;
	case OP_MKDIR:
		names_set(m, ns, op->a, -1);
		break;
	case OP_UNLINK:
		names_del(ns, op->a);
		break;
	case OP_RENAME: {
		int i = names_find(ns, op->a);
		if (i < 0)
			break; /* its create was lost: nothing to move */
		int ino = ns->v[i].ino;
		names_del(ns, op->a);
		names_set(m, ns, op->b, ino);
		break;
	}
	}
}

static void log_op(fsmodel *m, int kind, const char *a, const char *b, int ino)
{
	if (m->nops == m->opcap) {
		size_t cap = m->opcap ? m->opcap * 2 : 32;
		nsop *v = realloc(m->ops, cap * sizeof *v);
		if (!v) {
			m->oom = 1;
			return;
		}
		m->ops = v;
		m->opcap = cap;
	}
	nsop *op = &m->ops[m->nops];
	op->kind = kind;
	op->dir = dir_of(m, a);
	op->a = xstrdup(m, a);
	op->b = b ? xstrdup(m, b) : NULL;
	op->ino = ino;
	if (op->dir && op->a && (!b || op->b)) {
		apply_op(m, &m->cur, op);
		m->nops++;
	} else {
		free(op->dir);
		free(op->a);
		free(op->b);
	}
}

static void free_op(nsop *op)
{
	free(op->dir);
	free(op->a);
	free(op->b);
}

static int ino_reserve(fsmodel *m, inode *f, size_t need)
{
	if (need <= f->cap)
		return 0;
	size_t cap = f->cap ? f->cap : 65536;
	while (cap < need)
		cap *= 2;
	uint8_t *c = realloc(f->cur, cap);
	if (c)
		f->cur = c;
	uint8_t *d = c ? realloc(f->dur, cap) : NULL;
	if (d)
		f->dur = d;
	uint8_t *y = d ? realloc(f->dirty, cap) : NULL;
	if (!y) {
		m->oom = 1;
		return -1;
	}
	f->dirty = y;
	memset(f->cur + f->cap, 0, cap - f->cap);
	memset(f->dur + f->cap, 0, cap - f->cap);
	memset(f->dirty + f->cap, 0, cap - f->cap);
	f->cap = cap;
	return 0;
}

/* A new inode holding content (durable already); returns its number. */
static int ino_new(fsmodel *m, const uint8_t *content, size_t len)
{
	if (m->ninos == m->inocap) {
		size_t cap = m->inocap ? m->inocap * 2 : 16;
		inode **v = realloc(m->inos, cap * sizeof *v);
		if (!v) {
			m->oom = 1;
			return -1;
		}
		m->inos = v;
		m->inocap = cap;
	}
	inode *f = calloc(1, sizeof *f);
	if (!f || ino_reserve(m, f, len + 1) < 0) {
		free(f);
		m->oom = 1;
		return -1;
	}
	if (len) {
		memcpy(f->cur, content, len);
		memcpy(f->dur, content, len);
	}
	f->cur_len = f->dur_len = len;
	m->inos[m->ninos] = f;
	return (int)m->ninos++;
}

static void mark_dirty(inode *f, size_t from, size_t to)
{
	if (to > from)
		memset(f->dirty + from, 1, to - from);
}

static void sync_file(inode *f)
{
	memcpy(f->dur, f->cur, f->cap);
	f->dur_len = f->cur_len;
	memset(f->dirty, 0, f->cap);
}

/* Make dir's operations so far durable. */
static void sync_dir(fsmodel *m, const char *dir)
{
	size_t k = 0;
	for (size_t i = 0; i < m->nops; i++) {
		nsop *op = &m->ops[i];
		if (!strcmp(op->dir, dir)) {
			apply_op(m, &m->dur, op);
			free_op(op);
		} else {
			m->ops[k++] = *op;
		}
	}
	m->nops = k;
}

/* Read a real file into memory (for files there before the life began). */
static uint8_t *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	uint8_t *buf = NULL;
	if (fstat(fd, &st) == 0 && (buf = malloc((size_t)st.st_size + 1))) {
		size_t got = 0;
		while (got < (size_t)st.st_size) {
			ssize_t r = pread(fd, buf + got,
			                  (size_t)st.st_size - got, (off_t)got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		*len = got;
	}
	close(fd);
	return buf;
}

/* 1 if this call is the crash or comes after it. Caller holds mu. */
static int tick(fsmodel *m)
{
	if (m->crashed)
		return 1;
	if (++m->calls == m->crash_at) {
		m->crashed = 1;
		return 1;
	}
	return 0;
}

static int fs_open(void *ctx, const char *path, int flags)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	int fd = tick(m) ? -EIO : m->px->open(m->px->ctx, path, flags);
	if (fd >= MAX_FD) {
		m->px->close(m->px->ctx, fd);
		fd = -EMFILE;
	}
	if (fd >= 0 && (flags & WF_IO_DIR)) {
		m->fdino[fd] = -2;
		m->fddir[fd] = xstrdup(m, path);
	} else if (fd >= 0) {
		int i = names_find(&m->cur, path);
		int ino;
		if (i >= 0) {
			ino = m->cur.v[i].ino;
		} else if (flags & WF_IO_CREATE) {
			ino = ino_new(m, NULL, 0);
			if (ino >= 0)
				log_op(m, OP_CREATE, path, NULL, ino);
		} else {
			/* Not made through us, nor there at the start. */
			size_t len = 0;
			uint8_t *buf = slurp(path, &len);
			ino = ino_new(m, buf, len);
			free(buf);
			if (ino >= 0) {
				names_set(m, &m->cur, path, ino);
				names_set(m, &m->dur, path, ino);
			}
		}
		m->fdino[fd] = ino;
	}
	pthread_mutex_unlock(&m->mu);
	return fd;
}

static int fs_close(void *ctx, int fd)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	if (fd >= 0 && fd < MAX_FD) {
		m->fdino[fd] = -1;
		free(m->fddir[fd]);
		m->fddir[fd] = NULL;
	}
	/* Closed for real even after the crash: the descriptor must go. */
	int rc = m->px->close(m->px->ctx, fd);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static ssize_t fs_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	ssize_t r = tick(m) ? -EIO : m->px->pread(m->px->ctx, fd, buf, n, off);
	pthread_mutex_unlock(&m->mu);
	return r;
}

static ssize_t fs_pwrite(void *ctx, int fd, const void *buf, size_t n,
                         uint64_t off)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	ssize_t r = tick(m) ? -EIO : m->px->pwrite(m->px->ctx, fd, buf, n, off);
	if (r > 0 && fd < MAX_FD && m->fdino[fd] >= 0) {
		inode *f = m->inos[m->fdino[fd]];
		size_t end = (size_t)off + (size_t)r;
		if (ino_reserve(m, f, end + 1) == 0) {
			memcpy(f->cur + off, buf, (size_t)r);
			mark_dirty(f, (size_t)off, end);
			if (end > f->cur_len)
				f->cur_len = end;
		}
	}
	pthread_mutex_unlock(&m->mu);
	return r;
}

static int fs_sync(void *ctx, int fd)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	int rc = tick(m) ? -EIO : 0;
	if (rc == 0 && fd >= 0 && fd < MAX_FD) {
		if (m->fdino[fd] >= 0)
			sync_file(m->inos[m->fdino[fd]]);
		else if (m->fdino[fd] == -2 && m->fddir[fd])
			sync_dir(m, m->fddir[fd]);
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int fs_ftruncate(void *ctx, int fd, uint64_t len)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	int rc = tick(m) ? -EIO : m->px->ftruncate(m->px->ctx, fd, len);
	if (rc == 0 && fd < MAX_FD && m->fdino[fd] >= 0) {
		inode *f = m->inos[m->fdino[fd]];
		size_t n = (size_t)len;
		if (ino_reserve(m, f, n + 1) == 0) {
			if (n < f->cur_len) {
				memset(f->cur + n, 0, f->cur_len - n);
				mark_dirty(f, n, f->cur_len);
			} else {
				mark_dirty(f, f->cur_len, n);
			}
			f->cur_len = n;
		}
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int fs_fsize(void *ctx, int fd, uint64_t *size)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	int rc = tick(m) ? -EIO : m->px->fsize(m->px->ctx, fd, size);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int fs_rename(void *ctx, const char *from, const char *to)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	int rc = tick(m) ? -EIO : m->px->rename(m->px->ctx, from, to);
	if (rc == 0)
		log_op(m, OP_RENAME, from, to, 0);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int fs_unlink(void *ctx, const char *path)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	int rc = tick(m) ? -EIO : m->px->unlink(m->px->ctx, path);
	if (rc == 0)
		log_op(m, OP_UNLINK, path, NULL, 0);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int fs_mkdir(void *ctx, const char *path)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	int rc = tick(m) ? -EIO : m->px->mkdir(m->px->ctx, path);
	if (rc == 0)
		log_op(m, OP_MKDIR, path, NULL, -1);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int fs_lock(void *ctx, int fd)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	int rc = tick(m) ? -EIO : m->px->lock(m->px->ctx, fd);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int fs_list(void *ctx, const char *dir, wf_io_list_fn fn, void *ud)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	int rc = tick(m) ? -EIO : m->px->list(m->px->ctx, dir, fn, ud);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int fs_random(void *ctx, void *buf, size_t n)
{
	fsmodel *m = ctx;
	pthread_mutex_lock(&m->mu);
	int rc = tick(m) ? -EIO : m->px->random(m->px->ctx, buf, n);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static fsmodel *g_walk; /* nftw has no user pointer */

static int walk_add(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
	(void)sb;
	fsmodel *m = g_walk;
	if (ftw->level == 0)
		return 0; /* the root always exists */
	if (flag == FTW_D) {
		names_set(m, &m->cur, path, -1);
		names_set(m, &m->dur, path, -1);
	} else if (flag == FTW_F) {
		size_t len = 0;
		uint8_t *buf = slurp(path, &len);
		int ino = ino_new(m, buf, len);
		free(buf);
		names_set(m, &m->cur, path, ino);
		names_set(m, &m->dur, path, ino);
	}
	return m->oom;
}

static void fs_reset(fsmodel *m)
{
	for (size_t i = 0; i < m->ninos; i++) {
		free(m->inos[i]->cur);
		free(m->inos[i]->dur);
		free(m->inos[i]->dirty);
		free(m->inos[i]);
	}
	free(m->inos);
	m->inos = NULL;
	m->ninos = m->inocap = 0;
	names_free(&m->cur);
	names_free(&m->dur);
	for (size_t i = 0; i < m->nops; i++)
		free_op(&m->ops[i]);
	free(m->ops);
	m->ops = NULL;
	m->nops = m->opcap = 0;
	for (int i = 0; i < MAX_FD; i++) {
		m->fdino[i] = -1;
		free(m->fddir[i]);
		m->fddir[i] = NULL;
	}
	m->calls = 0;
	m->crashed = 0;
}

/* Start a life: everything under root is durable as it stands. */
static int fs_begin(fsmodel *m, uint64_t crash_at)
{
	fs_reset(m);
	m->oom = 0;
	m->crash_at = crash_at;
	g_walk = m;
	nftw(m->root, walk_add, 16, FTW_PHYS);
	return m->oom ? -1 : 0;
}

static void fs_init(fsmodel *m, const char *root)
{
	memset(m, 0, sizeof *m);
	pthread_mutex_init(&m->mu, NULL);
	m->px = wf_io_posix();
	snprintf(m->root, sizeof m->root, "%s", root);
	for (int i = 0; i < MAX_FD; i++)
		m->fdino[i] = -1;
	wf_io io = {m,         fs_open,  fs_close,     fs_pread, fs_pwrite,
	            fs_sync,   fs_sync,  fs_ftruncate, fs_fsize, fs_rename,
	            fs_unlink, fs_mkdir, fs_lock,      fs_list,  fs_random};
	m->io = io;
}

/* ---- the crash -------------------------------------------------------- */

typedef struct crash_stats {
	uint64_t sectors_dirty, dropped, garbled, kept;
	uint64_t files_cut; /* final length short of the current one */
	uint64_t ops_lost;  /* unsynced directory operations lost */
	uint64_t ops_pending;
} crash_stats;

/* How a round treats unsynced sectors: percent dropped and garbled. */
typedef struct sector_odds {
	unsigned drop, garble;
} sector_odds;

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	return ftw->level == 0 ? 0 : remove(path);
}

static int cmp_entry(const void *a, const void *b)
{
	size_t x = strlen(((const entry *)a)->path);
	size_t y = strlen(((const entry *)b)->path);
	return x < y ? -1 : x > y;
}

static int write_file(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, buf + done, len - done);
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			return -e;
		}
		done += (size_t)w;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* What a crash leaves of file f: *out (len *outlen), malloc'ed. */
static uint8_t *crash_content(inode *f, uint64_t *rng, sector_odds odds,
                              crash_stats *st, size_t *outlen)
{
	size_t lo = f->cur_len < f->dur_len ? f->cur_len : f->dur_len;
	size_t hi = f->cur_len < f->dur_len ? f->dur_len : f->cur_len;
	size_t len = lo;
	if (hi > lo) {
		switch (rnd(rng, 3)) {
		case 0:
			len = f->dur_len;
			break;
		case 1:
			len = f->cur_len;
			break;
		default: {
			/* A sector boundary strictly between, if any. */
			size_t first = (lo / SECTOR + 1) * SECTOR;
			len = hi;
			if (first < hi) {
				uint64_t nb = (hi - first - 1) / SECTOR + 1;
				len = first + SECTOR * (size_t)rnd(rng, nb);
			}
		}
		}
	}
	if (len < f->cur_len)
		st->files_cut++;
	uint8_t *out = malloc(len + 1);
	if (!out)
		return NULL;
	for (size_t s = 0; s < hi; s += SECTOR) {
		size_t e = s + SECTOR < hi ? s + SECTOR : hi;
		size_t a = s, b = e;
		while (a < e && !f->dirty[a])
			a++;
		if (a == e) {
			if (s < len)
				memcpy(out + s, f->cur + s,
				       (e < len ? e : len) - s);
			continue;
		}
		while (b > a && !f->dirty[b - 1])
			b--;
		st->sectors_dirty++;
		if (s >= len) {
			st->dropped++; /* cut off with the file's end */
			continue;
		}
		unsigned r = (unsigned)rnd(rng, 100);
		int how = r < odds.drop                 ? 1
		          : r < odds.drop + odds.garble ? 2
		                                        : 0;
		/* A garbled sector may be garbled only in part. */
		size_t ga = a, gb = b;
		if (how == 2 && rnd(rng, 2)) {
			ga = a + (size_t)rnd(rng, b - a);
			gb = ga + 1 + (size_t)rnd(rng, b - ga);
		}
		for (size_t i = s; i < e && i < len; i++) {
			uint8_t v = f->cur[i];
			if (f->dirty[i]) {
				if (how == 1)
					v = f->dur[i];
				else if (how == 2 && i >= ga && i < gb)
					v = (uint8_t)splitmix(rng);
			}
			out[i] = v;
		}
		if (how == 1)
			st->dropped++;
		else if (how == 2)
			st->garbled++;
		else
			st->kept++;
	}
	*outlen = len;
	return out;
}

/* 1 if every directory above path (up to the root) is in ns. */
static int parents_exist(const names *ns, const char *root, const char *path)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", path);
	size_t rl = strlen(root);
	for (;;) {
		char *slash = strrchr(buf, '/');
		if (!slash)
			return 1;
		*slash = '\0';
		if (strlen(buf) <= rl)
			return 1;
		int i = names_find(ns, buf);
		if (i < 0 || ns->v[i].ino != -1)
			return 0;
	}
}

/*
 * The power cut: rewrite the tree under the root to one outcome of it.
 * Call after the writer is closed. @return 0, or -1 (message in err).
 */
static int fs_crash(fsmodel *m, uint64_t *rng, sector_odds odds,
                    crash_stats *st, char *err, size_t errlen)
{
	pthread_mutex_lock(&m->mu);
	m->crashed = 1;
	pthread_mutex_unlock(&m->mu);
	if (m->oom) {
		snprintf(err, errlen, "the model ran out of memory");
		return -1;
	}
	/* Each directory keeps a prefix of its unsynced operations. */
	names fin;
	if (names_copy(m, &fin, &m->dur) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	st->ops_pending += m->nops;
	for (size_t i = 0; i < m->nops; i++) {
		size_t first = i, n = 0;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(m->ops[k].dir, m->ops[i].dir))
				first = k < first ? k : first;
		if (first != i)
			continue; /* this directory was done already */
		for (size_t k = i; k < m->nops; k++)
			n += !strcmp(m->ops[k].dir, m->ops[i].dir);
		size_t keep;
		switch (rnd(rng, 3)) {
		case 0:
			keep = n;
			break;
		case 1:
			keep = 0;
			break;
		default:
			keep = (size_t)rnd(rng, n + 1);
		}
		st->ops_lost += n - keep;
		size_t seen = 0;
		for (size_t k = i; k < m->nops && seen < keep; k++) {
			if (strcmp(m->ops[k].dir, m->ops[i].dir))
				continue;
			apply_op(m, &fin, &m->ops[k]);
			seen++;
		}
	}
	/* Decide each file's content once (a name may come back twice). */
	uint8_t **content = calloc(m->ninos + 1, sizeof *content);
	size_t *clen = calloc(m->ninos + 1, sizeof *clen);
	int rc = content && clen ? 0 : -1;
	if (rc < 0)
		snprintf(err, errlen, "out of memory");
	nftw(m->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (fin.n) /* (a crash before anything was created: none) */
		qsort(fin.v, fin.n, sizeof *fin.v, cmp_entry);
	for (size_t i = 0; rc == 0 && i < fin.n; i++) {
		const entry *e = &fin.v[i];
		if (!parents_exist(&fin, m->root, e->path))
			continue;
		if (e->ino == -1) {
			if (mkdir(e->path, 0755) < 0) {
				snprintf(err, errlen, "mkdir %s: %s", e->path,
				         strerror(errno));
				rc = -1;
			}
			continue;
		}
		if (!content[e->ino]) {
			content[e->ino] = crash_content(
			        m->inos[e->ino], rng, odds, st, &clen[e->ino]);
			if (!content[e->ino]) {
				snprintf(err, errlen, "out of memory");
				rc = -1;
				break;
			}
		}
		int w = write_file(e->path, content[e->ino], clen[e->ino]);
		if (w < 0) {
			snprintf(err, errlen, "write %s: %s", e->path,
			         strerror(-w));
			rc = -1;
		}
	}
	for (size_t i = 0; content && i < m->ninos; i++)
		free(content[i]);
	free(content);
	free(clen);
	names_free(&fin);
	return rc;
}

/* ---- the workload ----------------------------------------------------- */

enum { A_PENDING, A_FAILED, A_ACKED };

typedef struct attempt {
	uint32_t count;
	uint8_t state;
	uint64_t first_seq; /* if acked (or found by an earlier recovery) */
} attempt;

typedef struct tstate {
	attempt *a;
	size_t n, cap;
	uint64_t next_found; /* commits of this thread found so far (verify) */
} tstate;

typedef struct round round;

typedef struct worker {
	round *rd;
	wf_journal *j;
	unsigned tid;
	uint64_t rng;
	unsigned max_commits;
	unsigned nosync_pct, sync_pct;
	int oom;
} worker;

struct round {
	uint64_t seed, salt;
	char dir[700]; /* the journal directory */
	wf_durability durability;
	tstate t[MAX_LIVES * MAX_THREADS];
	unsigned nthreads_total;
	_Atomic uint64_t acked_max;    /* last seq of any commit returned */
	_Atomic uint64_t durable_upto; /* acknowledged durable up to here */
	uint64_t recovered;            /* events the last verification found */
	_Atomic uint64_t acked;        /* commits acknowledged in this life */
};

static void atomic_max(_Atomic uint64_t *a, uint64_t v)
{
	uint64_t cur = atomic_load(a);
	while (cur < v && !atomic_compare_exchange_weak(a, &cur, v))
		;
}

/* Seed of the payload of event idx of commit (tid, counter). */
static uint64_t event_seed(const round *rd, uint64_t tid, uint64_t counter,
                           uint64_t idx)
{
	uint64_t s = rd->salt ^ (tid << 56) ^ (counter << 20) ^ idx;
	return splitmix(&s);
}

/* Fill buf (at least 8000 bytes) with the payload; returns its length. */
static size_t make_payload(uint64_t seed, char *buf)
{
	uint64_t s = seed;
	uint64_t r = splitmix(&s);
	size_t len;
	if (r % 100 < 70)
		len = (size_t)(splitmix(&s) % 200);
	else if (r % 100 < 95)
		len = 200 + (size_t)(splitmix(&s) % 1800);
	else
		len = 2000 + (size_t)(splitmix(&s) % 6000);
	int noisy = (r >> 32) & 1; /* else compresses well */
	for (size_t i = 0; i < len; i++)
		buf[i] =
		        noisy ? (char)splitmix(&s) : (char)('a' + (i / 13) % 7);
	return len;
}

static int tstate_push(tstate *t, uint32_t count)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		attempt *v = realloc(t->a, cap * sizeof *v);
		if (!v)
			return -1;
		t->a = v;
		t->cap = cap;
	}
	t->a[t->n].count = count;
	t->a[t->n].state = A_PENDING;
	t->a[t->n].first_seq = 0;
	t->n++;
	return 0;
}

static void *work(void *arg)
{
	worker *w = arg;
	round *rd = w->rd;
	tstate *t = &rd->t[w->tid];
	wf_batch *b = NULL;
	char *text = malloc(8192);
	if (!text || wf_batch_new(&b) < 0) {
		free(text);
		w->oom = 1;
		return NULL;
	}
	for (unsigned c = 0; c < w->max_commits; c++) {
		if (rnd(&w->rng, 100) < w->sync_pct) {
			uint64_t upto = atomic_load(&rd->acked_max);
			if (wf_journal_sync(w->j) < 0)
				break;
			atomic_max(&rd->durable_upto, upto);
		}
		uint32_t count = rnd(&w->rng, 100) < 85
		                         ? 1 + (uint32_t)rnd(&w->rng, 4)
		                         : 1 + (uint32_t)rnd(&w->rng, 40);
		uint64_t counter = t->n;
		if (tstate_push(t, count) < 0) {
			w->oom = 1;
			break;
		}
		wf_batch_clear(b);
		for (uint32_t i = 0; i < count; i++) {
			wf_event ev;
			memset(&ev, 0, sizeof ev);
			ev.type = EVENT_TYPE;
			ev.time_ns = (int64_t)(counter + 1);
			ev.nfields = 5;
			ev.fields[0] = wf_field_u(w->tid);
			ev.fields[1] = wf_field_u(counter);
			ev.fields[2] = wf_field_u(i);
			ev.fields[3] = wf_field_u(count);
			size_t len = make_payload(
			        event_seed(rd, w->tid, counter, i), text);
			ev.fields[4] = wf_field_text(text, len);
			if (wf_batch_add(b, &ev) < 0) {
				w->oom = 1;
				break;
			}
		}
		if (w->oom)
			break;
		unsigned flags = rnd(&w->rng, 100) < w->nosync_pct
		                         ? WF_COMMIT_NOSYNC
		                         : 0;
		uint64_t first = 0;
		int rc = wf_journal_commit_flags(w->j, b, &first, flags);
		attempt *a = &t->a[counter];
		if (rc < 0) {
			a->state = A_FAILED;
			break;
		}
		a->state = A_ACKED;
		a->first_seq = first;
		uint64_t last = first + count - 1;
		if (rd->durability == WF_DURABILITY_ALWAYS && !flags)
			atomic_max(&rd->durable_upto, last);
		atomic_max(&rd->acked_max, last);
		atomic_fetch_add(&rd->acked, 1);
	}
	wf_batch_free(b);
	free(text);
	return NULL;
}

/* ---- verification ----------------------------------------------------- */

typedef struct totals {
	uint64_t rounds, lives, crashes_in_open;
	uint64_t commits_acked, events_recovered;
	uint64_t torn_tails, torn_out_of_order, lost, bad;
	uint64_t engine_rounds, engine_acked, engine_resumed;
	crash_stats cs;
} totals;

typedef struct damage_log {
	uint64_t torn, damaged;
	char first[512];
	char torn_file[800];
	uint64_t torn_off;
} damage_log;

static void on_damage(void *ud, const wf_damage *d)
{
	damage_log *l = ud;
	if (d->torn) {
		if (!l->torn++) {
			snprintf(l->torn_file, sizeof l->torn_file, "%s",
			         d->file);
			l->torn_off = d->offset;
		}
		return;
	}
	if (!l->damaged++)
		snprintf(l->first, sizeof l->first,
		         "%s at offset %" PRIu64 ": %s", d->file, d->offset,
		         d->what);
}

/* Check one event against the commits attempted; msg on failure. */
typedef struct walk {
	round *rd;
	int in_commit;
	uint64_t tid, counter, idx, count;
	uint64_t n;
	char msg[512];
} walk;

static int check_event(walk *wk, const wf_event *ev)
{
	round *rd = wk->rd;
	wk->n++;
	if (ev->seq != wk->n) {
		snprintf(wk->msg, sizeof wk->msg,
		         "event %" PRIu64 " returned as "
		         "seq %" PRIu64,
		         wk->n, ev->seq);
		return -1;
	}
	if (ev->type != EVENT_TYPE || ev->nfields != 5 ||
	    ev->fields[0].kind != WF_FIELD_UINT ||
	    ev->fields[1].kind != WF_FIELD_UINT ||
	    ev->fields[2].kind != WF_FIELD_UINT ||
	    ev->fields[3].kind != WF_FIELD_UINT ||
	    ev->fields[4].kind != WF_FIELD_TEXT) {
		snprintf(wk->msg, sizeof wk->msg,
		         "event %" PRIu64 " is not one "
		         "the workload wrote (type %u, %u fields)",
		         ev->seq, ev->type, ev->nfields);
		return -1;
	}
	uint64_t tid = ev->fields[0].v.u, counter = ev->fields[1].v.u;
	uint64_t idx = ev->fields[2].v.u, count = ev->fields[3].v.u;
	if (tid >= rd->nthreads_total || counter >= rd->t[tid].n ||
	    rd->t[tid].a[counter].count != count || idx >= count ||
	    ev->time_ns != (int64_t)(counter + 1)) {
		snprintf(wk->msg, sizeof wk->msg,
		         "event %" PRIu64 " names commit "
		         "%" PRIu64 "/%" PRIu64 " event %" PRIu64 " of %" PRIu64
		         ", which was never attempted",
		         ev->seq, tid, counter, idx, count);
		return -1;
	}
	char want[8192];
	size_t len = make_payload(event_seed(rd, tid, counter, idx), want);
	if (ev->fields[4].v.s.len != len ||
	    (len && memcmp(ev->fields[4].v.s.ptr, want, len))) {
		snprintf(wk->msg, sizeof wk->msg,
		         "event %" PRIu64 " (commit %" PRIu64 "/%" PRIu64
		         " event %" PRIu64 ") has a wrong "
		         "payload",
		         ev->seq, tid, counter, idx);
		return -1;
	}
	if (idx == 0) {
		if (wk->in_commit) {
			snprintf(wk->msg, sizeof wk->msg,
			         "commit %" PRIu64 "/%" PRIu64
			         " is cut short at event %" PRIu64,
			         wk->tid, wk->counter, ev->seq);
			return -1;
		}
		tstate *t = &rd->t[tid];
		if (counter != t->next_found) {
			snprintf(wk->msg, sizeof wk->msg,
			         "commit %" PRIu64 "/%" PRIu64
			         " at seq %" PRIu64
			         ", but that thread's next commit "
			         "is %" PRIu64 " (a commit lost or repeated)",
			         tid, counter, ev->seq, t->next_found);
			return -1;
		}
		attempt *a = &t->a[counter];
		if (a->state == A_ACKED && a->first_seq != ev->seq) {
			snprintf(wk->msg, sizeof wk->msg,
			         "commit %" PRIu64 "/%" PRIu64
			         " was acknowledged at seq %" PRIu64
			         " but is read at "
			         "%" PRIu64,
			         tid, counter, a->first_seq, ev->seq);
			return -1;
		}
		t->next_found++;
		wk->in_commit = 1;
		wk->tid = tid;
		wk->counter = counter;
		wk->count = count;
	} else if (!wk->in_commit || tid != wk->tid || counter != wk->counter ||
	           idx != wk->idx + 1) {
		snprintf(wk->msg, sizeof wk->msg,
		         "event %" PRIu64 " (commit %" PRIu64 "/%" PRIu64
		         " event %" PRIu64 ") does not follow "
		         "its commit's previous event",
		         ev->seq, tid, counter, idx);
		return -1;
	}
	wk->idx = idx;
	if (idx + 1 == count)
		wk->in_commit = 0;
	return 0;
}

/* 1 if an intact frame follows offset off of file (the torn tail the
 * reader reported there is a crash's out-of-order writes). */
static int intact_after(const char *file, uint64_t off, uint64_t id)
{
	const wf_io *io = wf_io_posix();
	int fd = io->open(io->ctx, file, WF_IO_RDONLY);
	if (fd < 0)
		return 0;
	wf_scan s;
	uint64_t at;
	wf_scan_init(&s, io, fd);
	int found = wf_scan_find_next(&s, off, id, 0, &at) == 1;
	wf_scan_free(&s);
	io->close(io->ctx, fd);
	return found;
}

/*
 * Read the journal with plain POSIX I/O and check it. @return 0 good,
 * -1 bad recovery (message in msg). *lost receives the acknowledged-
 * durable commits missing; *torn the torn tails reported, 2 when intact
 * frames follow the one reported.
 */
static int verify_reader(round *rd, wf_recovery mode, uint64_t *n_out,
                         uint64_t *lost, uint64_t *torn, char *msg,
                         size_t msglen)
{
	walk wk;
	memset(&wk, 0, sizeof wk);
	wk.rd = rd;
	for (unsigned t = 0; t < rd->nthreads_total; t++)
		rd->t[t].next_found = 0;
	damage_log dl;
	memset(&dl, 0, sizeof dl);
	wf_reader_opts ro = WF_READER_OPTS_INIT;
	ro.recovery = mode;
	ro.on_damage = on_damage;
	ro.damage_ud = &dl;
	wf_reader *r = NULL;
	int rc = wf_reader_open(&r, rd->dir, &ro);
	int bad = 0;
	if (rc == WF_ENOTFOUND) {
		rc = 0; /* the directory's creation was lost: no events */
	} else if (rc < 0) {
		snprintf(msg, msglen, "reader open: %s: %s", wf_strerror(rc),
		         wf_reader_errmsg(r));
		bad = 1;
	} else {
		const wf_event *ev;
		while ((rc = wf_reader_next(r, &ev)) == 1) {
			if (check_event(&wk, ev) < 0) {
				snprintf(msg, msglen, "%s", wk.msg);
				bad = 1;
				break;
			}
		}
		if (rc < 0) {
			snprintf(msg, msglen, "reader: %s: %s", wf_strerror(rc),
			         wf_reader_errmsg(r));
			bad = 1;
		}
		if (dl.torn && intact_after(dl.torn_file, dl.torn_off,
		                            wf_reader_journal_id(r)))
			dl.torn = 2;
	}
	wf_reader_close(r);
	if (!bad && wk.in_commit) {
		snprintf(msg, msglen,
		         "the journal ends inside commit %" PRIu64 "/%" PRIu64
		         " (event %" PRIu64 " of %" PRIu64 ")",
		         wk.tid, wk.counter, wk.idx + 1, wk.count);
		bad = 1;
	}
	if (!bad && dl.damaged) {
		snprintf(msg, msglen, "damage reported: %s", dl.first);
		bad = 1;
	}
	uint64_t n = wk.n;
	/* Acknowledged commits up to the end read must all have been read. */
	uint64_t durable = atomic_load(&rd->durable_upto);
	*lost = 0;
	for (unsigned t = 0; t < rd->nthreads_total; t++) {
		tstate *ts = &rd->t[t];
		for (size_t c = 0; c < ts->n; c++) {
			attempt *a = &ts->a[c];
			if (a->state != A_ACKED)
				continue;
			uint64_t last = a->first_seq + a->count - 1;
			if (last <= durable && last > n)
				(*lost)++;
			if (!bad && last <= n && c >= ts->next_found) {
				snprintf(msg, msglen,
				         "acknowledged commit %u/%zu (seq "
				         "%" PRIu64
				         ") missing from the events read",
				         t, c, a->first_seq);
				bad = 1;
			}
		}
	}
	*n_out = n;
	*torn = dl.torn;
	return bad ? -1 : 0;
}

/*
 * What recovery found is on disk for good now: pin each found commit to
 * its sequence number (later lives must read it there), and forget the
 * commits not found (acknowledged or not, they are gone; the writer
 * reuses their sequence numbers). Call after a verify_reader that passed.
 */
static int pin_found(round *rd, char *msg, size_t msglen)
{
	wf_reader *r = NULL;
	int rc = wf_reader_open(&r, rd->dir, NULL);
	if (rc == WF_ENOTFOUND) {
		wf_reader_close(r);
		return 0;
	}
	const wf_event *ev;
	while (rc == 0 && (rc = wf_reader_next(r, &ev)) == 1) {
		rc = 0;
		if (ev->fields[2].v.u != 0)
			continue;
		attempt *a = &rd->t[ev->fields[0].v.u].a[ev->fields[1].v.u];
		a->state = A_ACKED;
		a->first_seq = ev->seq;
	}
	if (rc < 0)
		snprintf(msg, msglen, "re-read: %s: %s", wf_strerror(rc),
		         wf_reader_errmsg(r));
	wf_reader_close(r);
	for (unsigned t = 0; t < rd->nthreads_total; t++) {
		tstate *ts = &rd->t[t];
		for (size_t c = ts->next_found; c < ts->n; c++)
			ts->a[c].state = A_FAILED;
	}
	return rc < 0 ? -1 : 0;
}

/* ---- rounds ------------------------------------------------------------ */

enum { LEVEL_BOTH, LEVEL_JOURNAL, LEVEL_ENGINE };

typedef struct options {
	uint64_t rounds, seed;
	int keep, verbose, level;
} options;

static const char *dur_name(wf_durability d)
{
	return d == WF_DURABILITY_ALWAYS  ? "always"
	       : d == WF_DURABILITY_BATCH ? "batch"
	                                  : "none";
}

static void bad_round_at(totals *tt, uint64_t seed, unsigned life,
                         const char *durability, const char *what,
                         const char *msg, const char *dir)
{
	tt->bad++;
	fprintf(stderr,
	        "fscrash: BAD RECOVERY: round seed %" PRIu64 " life %u "
	        "(durability %s): %s: %s\n  reproduce: wflow-torture fscrash "
	        "--seed %" PRIu64 " --rounds 1\n  kept: %s\n",
	        seed, life, durability, what, msg, seed, dir);
}

static void bad_round(totals *tt, const round *rd, unsigned life,
                      const char *what, const char *msg)
{
	bad_round_at(tt, rd->seed, life, dur_name(rd->durability), what, msg,
	             rd->dir);
}

/* Open the journal with plain POSIX I/O as its writer and check it. */
static int verify_writer(round *rd, uint64_t n, char *msg, size_t msglen)
{
	wf_journal *j = NULL;
	int rc = wf_journal_open(&j, rd->dir, NULL);
	if (rc < 0) {
		snprintf(msg, msglen, "writer open: %s: %s", wf_strerror(rc),
		         wf_journal_errmsg(j));
		wf_journal_close(j);
		return -1;
	}
	uint64_t next = wf_journal_next_seq(j);
	rc = wf_journal_close(j);
	if (next != n + 1) {
		snprintf(msg, msglen,
		         "the writer goes on at seq %" PRIu64
		         " but the reader returned %" PRIu64 " events",
		         next, n);
		return -1;
	}
	if (rc < 0) {
		snprintf(msg, msglen, "writer close: %s", wf_strerror(rc));
		return -1;
	}
	return 0;
}

/* One round: a fresh journal, 1..MAX_LIVES lives. @return 0, or -1 when
 * the round found a bad recovery (the directory is then kept). */
static int run_round(const options *o, uint64_t seed, const char *root,
                     totals *tt)
{
	static const sector_odds odds_table[] = {
	        {0, 0}, {50, 0}, {30, 30}, {5, 5}, {0, 3}, {10, 60},
	};
	round *rd = calloc(1, sizeof *rd);
	fsmodel *m = calloc(1, sizeof *m);
	if (!rd || !m) {
		free(rd);
		free(m);
		fprintf(stderr, "fscrash: out of memory\n");
		return -2;
	}
	uint64_t rng = seed;
	rd->seed = seed;
	rd->salt = splitmix(&rng);
	char rdir[640];
	snprintf(rdir, sizeof rdir, "%s/r%" PRIu64, root, seed);
	snprintf(rd->dir, sizeof rd->dir, "%s/j", rdir);
	int ret = 0;
	if (mkdir(rdir, 0755) < 0) {
		fprintf(stderr, "fscrash: mkdir %s: %s\n", rdir,
		        strerror(errno));
		free(rd);
		free(m);
		return -2;
	}
	fs_init(m, rdir);
	unsigned r = (unsigned)rnd(&rng, 100);
	rd->durability = r < 45   ? WF_DURABILITY_ALWAYS
	                 : r < 75 ? WF_DURABILITY_BATCH
	                          : WF_DURABILITY_NONE;
	sector_odds odds =
	        odds_table[rnd(&rng, sizeof odds_table / sizeof odds_table[0])];
	unsigned lives = 1 + (unsigned)rnd(&rng, MAX_LIVES);
	wf_journal_opts jo = WF_JOURNAL_OPTS_INIT;
	jo.durability = rd->durability;
	jo.batch_interval_ms = 1 + (unsigned)rnd(&rng, 5);
	jo.segment_size = 4096 + rnd(&rng, 28 * 1024);
	jo.compression_level = (int)rnd(&rng, 5) - 1;
	jo.io = &m->io;
	for (unsigned life = 0; life < lives && ret == 0; life++) {
		char msg[1024] = "";
		unsigned nthreads = 1 + (unsigned)rnd(&rng, MAX_THREADS);
		unsigned per_thread = 20 + (unsigned)rnd(&rng, 200);
		/* Most crashes come while the workload runs; some after it. */
		uint64_t est = (uint64_t)nthreads * per_thread * 3 + 40;
		uint64_t crash_at =
		        rnd(&rng, 5) ? 1 + rnd(&rng, est) : UINT64_MAX;
		if (fs_begin(m, crash_at) < 0) {
			fprintf(stderr,
			        "fscrash: the model ran out of memory\n");
			ret = -2;
			break;
		}
		tt->lives++;
		wf_journal *j = NULL;
		int rc = wf_journal_open(&j, rd->dir, &jo);
		if (rc < 0) {
			pthread_mutex_lock(&m->mu);
			int crashed = m->crashed;
			pthread_mutex_unlock(&m->mu);
			if (!crashed) {
				snprintf(msg, sizeof msg, "%s: %s",
				         wf_strerror(rc), wf_journal_errmsg(j));
				bad_round(tt, rd, life,
				          "writer open (model I/O)", msg);
				ret = -1;
			} else {
				tt->crashes_in_open++;
			}
			wf_journal_close(j);
			j = NULL;
		} else if (life > 0 &&
		           wf_journal_next_seq(j) != rd->recovered + 1) {
			snprintf(msg, sizeof msg,
			         "the writer goes on at seq %" PRIu64
			         " after recovery found %" PRIu64 " events",
			         wf_journal_next_seq(j), rd->recovered);
			bad_round(tt, rd, life, "writer open (model I/O)", msg);
			ret = -1;
		}
		if (j) {
			worker w[MAX_THREADS];
			pthread_t th[MAX_THREADS];
			unsigned started = 0;
			for (unsigned t = 0; t < nthreads; t++) {
				w[t].rd = rd;
				w[t].j = j;
				w[t].tid = life * MAX_THREADS + t;
				w[t].rng = splitmix(&rng);
				w[t].max_commits = per_thread;
				w[t].nosync_pct = (unsigned)rnd(&rng, 4) * 15;
				w[t].sync_pct =
				        rd->durability == WF_DURABILITY_ALWAYS
				                ? (unsigned)rnd(&rng, 3)
				                : 2 + (unsigned)rnd(&rng, 8);
				w[t].oom = 0;
				rd->nthreads_total = life * MAX_THREADS + t + 1;
				if (pthread_create(&th[t], NULL, work, &w[t]) !=
				    0)
					break;
				started++;
			}
			for (unsigned t = 0; t < started; t++)
				pthread_join(th[t], NULL);
			/* The power may go before the close, or after it. */
			if (rnd(&rng, 2)) {
				pthread_mutex_lock(&m->mu);
				m->crashed = 1;
				pthread_mutex_unlock(&m->mu);
			}
			wf_journal_close(j);
			for (unsigned t = 0; t < started; t++)
				if (w[t].oom)
					ret = -2;
		}
		if (ret)
			break;
		rd->nthreads_total = (life + 1) * MAX_THREADS;
		if (fs_crash(m, &rng, odds, &tt->cs, msg, sizeof msg) < 0) {
			fprintf(stderr, "fscrash: the crash: %s\n", msg);
			ret = -2;
			break;
		}
		uint64_t n = 0, lost = 0, torn = 0;
		if (verify_reader(rd, WF_RECOVER_TOLERATE_TAIL, &n, &lost,
		                  &torn, msg, sizeof msg) < 0) {
			tt->lost += lost;
			bad_round(tt, rd, life, "reader after the crash", msg);
			ret = -1;
			break;
		}
		tt->lost += lost;
		tt->torn_tails += torn > 0;
		tt->torn_out_of_order += torn > 1;
		if (lost) {
			snprintf(msg, sizeof msg,
			         "%" PRIu64 " acknowledged-durable "
			         "commits missing (durable up to seq %" PRIu64
			         ", read %" PRIu64 ")",
			         lost, atomic_load(&rd->durable_upto), n);
			bad_round(tt, rd, life, "lost commits", msg);
			tt->bad--; /* counted as lost, not as a bad recovery */
			ret = -1;
			break;
		}
		if (o->verbose)
			fprintf(stderr,
			        "fscrash: seed %" PRIu64 " life %u: %s, %u "
			        "threads, crash at call %" PRIu64 " (%" PRIu64
			        " made), "
			        "%" PRIu64 " events recovered\n",
			        seed, life, dur_name(rd->durability), nthreads,
			        crash_at, m->calls, n);
		/* The writer's recovery: now with POSIX I/O, or (sometimes) in
		 * the next life, through the model. */
		int writer_now = life + 1 == lives || rnd(&rng, 2);
		if (writer_now) {
			uint64_t n2 = 0, lost2 = 0, torn2 = 0;
			if (verify_writer(rd, n, msg, sizeof msg) < 0) {
				bad_round(tt, rd, life,
				          "writer after the crash", msg);
				ret = -1;
				break;
			}
			for (unsigned t = 0; t < rd->nthreads_total; t++)
				rd->t[t].next_found = 0;
			if (verify_reader(rd, WF_RECOVER_ABSOLUTE, &n2, &lost2,
			                  &torn2, msg, sizeof msg) < 0 ||
			    n2 != n) {
				if (n2 != n && !msg[0])
					snprintf(msg, sizeof msg,
					         "%" PRIu64
					         " events, then %" PRIu64,
					         n, n2);
				bad_round(tt, rd, life,
				          "absolute reader after recovery",
				          msg);
				ret = -1;
				break;
			}
		}
		if (pin_found(rd, msg, sizeof msg) < 0) {
			bad_round(tt, rd, life, "re-read", msg);
			ret = -1;
			break;
		}
		rd->recovered = n;
		atomic_store(&rd->durable_upto, n);
		atomic_store(&rd->acked_max, n);
		tt->events_recovered += n;
		tt->commits_acked += atomic_exchange(&rd->acked, 0);
	}
	fs_reset(m);
	for (unsigned t = 0; t < MAX_LIVES * MAX_THREADS; t++)
		free(rd->t[t].a);
	free(rd);
	free(m);
	if (ret == 0 && !o->keep) {
		g_walk = NULL;
		nftw(rdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		rmdir(rdir);
	}
	return ret;
}

/* ---- engine rounds ------------------------------------------------------ */

/*
 * The same crash beneath a whole engine (wf_open_with_io): threads run
 * workflows (chains of "add" steps, each output known in advance), the
 * power goes, and an engine reopened with POSIX I/O must open, hold every
 * workflow whose wf_run returned 0 under durability always as SUCCESSFUL
 * with its output, never a wrong output, and finish every RESUMABLE one
 * with the right output when resumed.
 */

#define E_MAX_RUNS 64

typedef struct erun {
	double want;
	int acked; /* wf_run returned 0 (with the right output), or a
	              recovery found it SUCCESSFUL */
	int gone;  /* a recovery did not find it: never mind it again */
} erun;

typedef struct eworker {
	wf_engine *e;
	unsigned life, t, nruns;
	uint64_t rng;
	erun *runs; /* nruns of them */
	unsigned attempted;
	int wrong; /* wf_run returned 0 with a wrong output */
} eworker;

static int step_add(wf_ctx *ctx, const cJSON *args, void *udata, cJSON **out)
{
	(void)udata;
	double sum = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, args)
	{
		if (!cJSON_IsNumber(it))
			return wf_ctx_fail(ctx,
			                   "add: an argument is not a number");
		sum += it->valuedouble;
	}
	*out = cJSON_CreateNumber(sum);
	return *out ? 0 : wf_ctx_fail(ctx, "add: out of memory");
}

static void run_id(char *buf, size_t n, unsigned life, unsigned t, unsigned i)
{
	snprintf(buf, n, "w%u-%u-%u", life, t, i);
}

/* A chain add(add(add(i, 1), 2), ...) of k steps; *want gets its output. */
static wf_node *make_chain(wf_step *add, unsigned i, unsigned k, double *want)
{
	wf_node *n = NULL;
	char arg[32];
	double sum = i;
	for (unsigned s = 0; s < k; s++) {
		wf_node *m;
		if (wf_node_new(&m, add, NULL) < 0) {
			wf_node_free(n);
			return NULL;
		}
		int rc;
		if (n)
			rc = wf_node_arg_node(m, n);
		else {
			snprintf(arg, sizeof arg, "%u", i);
			rc = wf_node_arg_json(m, arg);
		}
		snprintf(arg, sizeof arg, "%u", s + 1);
		if (rc < 0 || wf_node_arg_json(m, arg) < 0) {
			wf_node_free(m);
			return NULL;
		}
		sum += s + 1;
		n = m;
	}
	*want = sum;
	return n;
}

static void *ework(void *arg)
{
	eworker *w = arg;
	wf_step *add = wf_step_find(w->e, "add");
	for (unsigned i = 0; i < w->nruns && add; i++) {
		char id[64];
		run_id(id, sizeof id, w->life, w->t, i);
		unsigned k = 1 + (unsigned)rnd(&w->rng, 5);
		wf_node *dag = make_chain(add, i, k, &w->runs[i].want);
		if (!dag)
			break;
		w->attempted = i + 1;
		cJSON *out = NULL;
		int rc = wf_run(w->e, dag, id, NULL, &out);
		if (rc == 0) {
			if (!cJSON_IsNumber(out) ||
			    out->valuedouble != w->runs[i].want)
				w->wrong = 1;
			else
				w->runs[i].acked = 1;
		}
		cJSON_Delete(out);
		if (rc < 0)
			break;
	}
	return NULL;
}

/* Check every workflow attempted so far on an engine opened with POSIX
 * I/O. @return 0, or -1 (message in msg). */
static int everify(wf_engine *e, eworker *w, unsigned nw, int always,
                   uint64_t *lost, uint64_t *resumed, char *msg, size_t msglen)
{
	for (unsigned x = 0; x < nw; x++) {
		for (unsigned i = 0; i < w[x].attempted; i++) {
			char id[64];
			run_id(id, sizeof id, w[x].life, w[x].t, i);
			erun *r = &w[x].runs[i];
			if (r->gone)
				continue;
			wf_status st = WF_STATUS_NONE;
			int rc = wf_get_status(e, id, &st);
			if (rc == WF_ENOTFOUND) {
				if (r->acked && always)
					(*lost)++;
				r->gone = 1;
				continue;
			}
			if (rc < 0) {
				snprintf(msg, msglen, "get_status %s: %s: %s",
				         id, wf_strerror(rc), wf_errmsg(e));
				return -1;
			}
			cJSON *out = NULL;
			if (st == WF_STATUS_RESUMABLE) {
				rc = wf_resume(e, id, &out);
				(*resumed)++;
			} else if (st == WF_STATUS_SUCCESSFUL) {
				rc = wf_get_output(e, id, &out);
			} else {
				if (r->acked && always)
					(*lost)++;
				r->gone = 1;
				continue;
			}
			int good = rc == 0 && cJSON_IsNumber(out) &&
			           out->valuedouble == r->want;
			cJSON_Delete(out);
			if (!good) {
				snprintf(msg, msglen,
				         "workflow %s (%s): %s (want %g): %s",
				         id, wf_status_name(st),
				         wf_strerror(rc), r->want,
				         rc < 0 ? wf_errmsg(e)
				                : "wrong output");
				return -1;
			}
			r->acked = 1; /* SUCCESSFUL on disk now: keep it so */
		}
	}
	return 0;
}

static int run_engine_round(const options *o, uint64_t seed, const char *root,
                            totals *tt)
{
	static const sector_odds odds_table[] = {
	        {0, 0}, {50, 0}, {30, 30}, {5, 5}, {0, 3}, {10, 60},
	};
	fsmodel *m = calloc(1, sizeof *m);
	eworker *w = calloc(MAX_LIVES * MAX_THREADS, sizeof *w);
	erun *runs = calloc(MAX_LIVES * MAX_THREADS * E_MAX_RUNS, sizeof *runs);
	if (!m || !w || !runs) {
		free(m);
		free(w);
		free(runs);
		fprintf(stderr, "fscrash: out of memory\n");
		return -2;
	}
	uint64_t rng = seed;
	char rdir[640], edir[700];
	snprintf(rdir, sizeof rdir, "%s/e%" PRIu64, root, seed);
	snprintf(edir, sizeof edir, "%s/engine", rdir);
	if (mkdir(rdir, 0755) < 0) {
		fprintf(stderr, "fscrash: mkdir %s: %s\n", rdir,
		        strerror(errno));
		free(m);
		free(w);
		free(runs);
		return -2;
	}
	fs_init(m, rdir);
	wf_config cfg = WF_CONFIG_INIT;
	unsigned r = (unsigned)rnd(&rng, 100);
	cfg.durability = r < 70   ? WF_SYNC_ALWAYS
	                 : r < 85 ? WF_SYNC_BATCH
	                          : WF_SYNC_NONE;
	cfg.batch_interval_ms = 1 + (unsigned)rnd(&rng, 5);
	cfg.workers = 1 + (unsigned)rnd(&rng, 4);
	cfg.segment_size = 4096 + rnd(&rng, 28 * 1024);
	cfg.no_snapshots = (int)rnd(&rng, 2);
	cfg.snapshot_every = 50 + rnd(&rng, 300);
	sector_odds odds =
	        odds_table[rnd(&rng, sizeof odds_table / sizeof odds_table[0])];
	unsigned lives = 1 + (unsigned)rnd(&rng, MAX_LIVES);
	const char *dname = cfg.durability == WF_SYNC_ALWAYS  ? "always"
	                    : cfg.durability == WF_SYNC_BATCH ? "batch"
	                                                      : "none";
	unsigned nw = 0;
	int ret = 0;
	tt->engine_rounds++;
	for (unsigned life = 0; life < lives && ret == 0; life++) {
		char msg[1024] = "";
		unsigned nthreads = 1 + (unsigned)rnd(&rng, MAX_THREADS);
		unsigned per = 4 + (unsigned)rnd(&rng, E_MAX_RUNS - 4);
		uint64_t est = (uint64_t)nthreads * per * 20 + 100;
		uint64_t crash_at =
		        rnd(&rng, 5) ? 1 + rnd(&rng, est) : UINT64_MAX;
		if (fs_begin(m, crash_at) < 0) {
			fprintf(stderr,
			        "fscrash: the model ran out of memory\n");
			ret = -2;
			break;
		}
		tt->lives++;
		wf_engine *e = NULL;
		int rc = wf_open_with_io(&e, edir, &cfg, &m->io);
		if (rc == 0)
			rc = wf_step_define(e, "add", step_add, NULL, NULL,
			                    NULL);
		if (rc < 0) {
			pthread_mutex_lock(&m->mu);
			int crashed = m->crashed;
			pthread_mutex_unlock(&m->mu);
			if (!crashed) {
				snprintf(msg, sizeof msg, "%s: %s",
				         wf_strerror(rc),
				         e ? wf_errmsg(e) : "(no engine)");
				bad_round_at(tt, seed, life, dname,
				             "engine open (model "
				             "I/O)",
				             msg, edir);
				ret = -1;
			} else {
				tt->crashes_in_open++;
			}
		} else {
			pthread_t th[MAX_THREADS];
			unsigned first = nw, started = 0;
			for (unsigned t = 0; t < nthreads; t++, nw++) {
				eworker *x = &w[nw];
				x->e = e;
				x->life = life;
				x->t = t;
				x->nruns = per;
				x->rng = splitmix(&rng);
				x->runs = runs + (size_t)nw * E_MAX_RUNS;
				if (pthread_create(&th[t], NULL, ework, x) != 0)
					break;
				started++;
			}
			for (unsigned t = 0; t < started; t++)
				pthread_join(th[t], NULL);
			for (unsigned t = first; t < nw; t++) {
				for (unsigned i = 0; i < w[t].attempted; i++)
					tt->engine_acked += w[t].runs[i].acked;
				if (w[t].wrong) {
					bad_round_at(tt, seed, life, dname,
					             "wf_run",
					             "returned 0 with a wrong "
					             "output",
					             edir);
					ret = -1;
				}
			}
			if (rnd(&rng, 2)) {
				pthread_mutex_lock(&m->mu);
				m->crashed = 1;
				pthread_mutex_unlock(&m->mu);
			}
		}
		wf_close(e);
		if (ret)
			break;
		if (fs_crash(m, &rng, odds, &tt->cs, msg, sizeof msg) < 0) {
			fprintf(stderr, "fscrash: the crash: %s\n", msg);
			ret = -2;
			break;
		}
		/* Recovery with POSIX I/O. */
		e = NULL;
		rc = wf_open(&e, edir, &cfg);
		if (rc == 0)
			rc = wf_step_define(e, "add", step_add, NULL, NULL,
			                    NULL);
		if (rc < 0) {
			snprintf(msg, sizeof msg, "%s: %s", wf_strerror(rc),
			         e ? wf_errmsg(e) : "(no engine)");
			bad_round_at(tt, seed, life, dname,
			             "engine open after the "
			             "crash",
			             msg, edir);
			wf_close(e);
			ret = -1;
			break;
		}
		uint64_t lost = 0, resumed = 0;
		rc = everify(e, w, nw, cfg.durability == WF_SYNC_ALWAYS, &lost,
		             &resumed, msg, sizeof msg);
		tt->engine_resumed += resumed;
		int crc = wf_close(e);
		if (rc < 0) {
			bad_round_at(tt, seed, life, dname,
			             "engine after the crash", msg, edir);
			ret = -1;
		} else if (lost) {
			snprintf(msg, sizeof msg,
			         "%" PRIu64 " workflows acknowledged "
			         "SUCCESSFUL are missing or not SUCCESSFUL",
			         lost);
			tt->lost += lost;
			bad_round_at(tt, seed, life, dname, "lost workflows",
			             msg, edir);
			tt->bad--; /* counted as lost, not as a bad recovery */
			ret = -1;
		} else if (crc < 0) {
			bad_round_at(tt, seed, life, dname,
			             "engine close after the "
			             "crash",
			             wf_strerror(crc), edir);
			ret = -1;
		}
		if (o->verbose)
			fprintf(stderr,
			        "fscrash: engine seed %" PRIu64 " life %u: %s, "
			        "%u threads, crash at call %" PRIu64
			        " (%" PRIu64 " made), %" PRIu64 " resumed\n",
			        seed, life, dname, nthreads, crash_at, m->calls,
			        resumed);
	}
	fs_reset(m);
	free(m);
	free(w);
	free(runs);
	if (ret == 0 && !o->keep) {
		nftw(rdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		rmdir(rdir);
	}
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: wflow-torture fscrash [--rounds N] [--seed S] "
	        "[--level L] [--keep]\n"
	        "                             [--verbose]\n\n"
	        "Crash the file system beneath a journal (or an engine) N "
	        "times\n"
	        "(default 200): writes since the last fsync are kept, dropped "
	        "or\n"
	        "garbled per 512-byte sector, unsynced directory operations\n"
	        "lost, and the journal reopened with POSIX I/O. Recovery must\n"
	        "give a prefix of what was appended holding every commit\n"
	        "acknowledged durable (every workflow acknowledged "
	        "SUCCESSFUL).\n\n"
	        "  --rounds N  rounds (each: a fresh journal, 1-4 crashes)\n"
	        "  --seed S    seed of the first round (round i uses S+i; "
	        "default:\n"
	        "              from the clock, printed)\n"
	        "  --level L   journal, engine (wf_open_with_io) or both "
	        "(default:\n"
	        "              one round in four at the engine level)\n"
	        "  --keep      keep the journals (those of bad rounds are "
	        "always "
	        "kept)\n"
	        "  --verbose   a line per crash\n\n"
	        "Prints name=value lines last; exit 1 if a commit was lost or "
	        "a\n"
	        "recovery was bad, 2 on a usage or setup error.\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*out = v;
	return 0;
}

int torture_fscrash(int argc, char **argv)
{
	options o = {200, 0, 0, 0, LEVEL_BOTH};
	int have_seed = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--keep")) {
			o.keep = 1;
		} else if (!strcmp(a, "--verbose")) {
			o.verbose = 1;
		} else if (!strcmp(a, "--level") && i + 1 < argc) {
			const char *v = argv[++i];
			if (!strcmp(v, "both"))
				o.level = LEVEL_BOTH;
			else if (!strcmp(v, "journal"))
				o.level = LEVEL_JOURNAL;
			else if (!strcmp(v, "engine"))
				o.level = LEVEL_ENGINE;
			else {
				fprintf(stderr,
				        "wflow-torture fscrash: --level wants "
				        "journal, engine or both, not '%s'\n",
				        v);
				return 2;
			}
		} else if ((!strcmp(a, "--rounds") || !strcmp(a, "--seed")) &&
		           i + 1 < argc) {
			uint64_t v;
			if (parse_u64(argv[i + 1], &v) < 0) {
				fprintf(stderr,
				        "wflow-torture fscrash: %s wants a "
				        "number, not '%s'\n",
				        a, argv[i + 1]);
				return 2;
			}
			if (a[2] == 'r') {
				o.rounds = v;
			} else {
				o.seed = v;
				have_seed = 1;
			}
			i++;
		} else {
			fprintf(stderr,
			        "wflow-torture fscrash: unknown or incomplete "
			        "option '%s'\n",
			        a);
			usage(stderr);
			return 2;
		}
	}
	if (!have_seed) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t s = (uint64_t)ts.tv_sec * 1000000007u ^
		             (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32;
		o.seed = splitmix(&s) >> 16;
	}
	const char *tmp = getenv("TMPDIR");
	char root[512];
	snprintf(root, sizeof root, "%s/wflow-fscrash-XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		fprintf(stderr, "wflow-torture fscrash: mkdtemp %s: %s\n", root,
		        strerror(errno));
		return 2;
	}
	printf("fscrash: %" PRIu64 " rounds from seed %" PRIu64 " in %s\n",
	       o.rounds, o.seed, root);
	fflush(stdout);
	totals tt;
	memset(&tt, 0, sizeof tt);
	int setup_error = 0, kept = 0;
	for (uint64_t i = 0; i < o.rounds; i++) {
		uint64_t seed = o.seed + i;
		int engine = o.level == LEVEL_ENGINE ||
		             (o.level == LEVEL_BOTH && seed % 4 == 3);
		tt.rounds++;
		int rc = engine ? run_engine_round(&o, seed, root, &tt)
		                : run_round(&o, seed, root, &tt);
		if (rc == -2) {
			setup_error = 1;
			break;
		}
		if (rc < 0)
			kept = 1;
	}
	if (!kept && !o.keep)
		rmdir(root);
	printf("fscrash: %" PRIu64 " rounds, %" PRIu64 " crashes (%" PRIu64
	       " during the writer's open); %" PRIu64
	       " unsynced sectors: %" PRIu64 " kept, %" PRIu64
	       " dropped, %" PRIu64 " garbled; %" PRIu64
	       " files cut short; %" PRIu64 " of %" PRIu64 " unsynced "
	       "directory operations lost; %" PRIu64 " torn tails (%" PRIu64
	       " with intact frames after them); %" PRIu64 " events "
	       "recovered\n",
	       tt.rounds, tt.lives, tt.crashes_in_open, tt.cs.sectors_dirty,
	       tt.cs.kept, tt.cs.dropped, tt.cs.garbled, tt.cs.files_cut,
	       tt.cs.ops_lost, tt.cs.ops_pending, tt.torn_tails,
	       tt.torn_out_of_order, tt.events_recovered);
	printf("fscrash_seed=%" PRIu64 "\n", o.seed);
	printf("fscrash_engine_rounds=%" PRIu64 "\n", tt.engine_rounds);
	printf("fscrash_engine_workflows_acked=%" PRIu64 "\n", tt.engine_acked);
	printf("fscrash_engine_workflows_resumed=%" PRIu64 "\n",
	       tt.engine_resumed);
	printf("fscrash_commits_acked=%" PRIu64 "\n", tt.commits_acked);
	printf("fscrash_crashes=%" PRIu64 "\n", tt.lives);
	printf("fscrash_sectors_unsynced=%" PRIu64 "\n", tt.cs.sectors_dirty);
	printf("fscrash_dir_ops_lost=%" PRIu64 "\n", tt.cs.ops_lost);
	printf("fscrash_torn_tails=%" PRIu64 "\n", tt.torn_tails);
	printf("fscrash_torn_out_of_order=%" PRIu64 "\n", tt.torn_out_of_order);
	printf("fscrash_rounds=%" PRIu64 "\n", tt.rounds);
	printf("fscrash_sectors_dropped=%" PRIu64 "\n", tt.cs.dropped);
	printf("fscrash_sectors_garbled=%" PRIu64 "\n", tt.cs.garbled);
	printf("fscrash_lost_commits=%" PRIu64 "\n", tt.lost);
	printf("fscrash_bad_recoveries=%" PRIu64 "\n", tt.bad);
	if (setup_error)
		return 2;
	return tt.lost || tt.bad ? 1 : 0;
}
