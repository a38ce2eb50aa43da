/*
 * The journal writer: recovery at open, commits, group commit, rollover.
 *
 * Open. Take <dir>/LOCK (flock, exclusive, non-blocking: a second writer
 * gets WF_EBUSY). Check every segment header, then scan the last segment
 * frame by frame (checksum, chain link, sequence numbers, payload decoded).
 * The first frame that fails is either a torn write (nothing intact follows
 * it: cut it off and report it, in tolerate-tail mode) or corruption
 * (intact frames follow: refuse to open, naming file and offset). Earlier
 * segments are checked by whoever reads them (replay, `wflow verify`), not
 * at every open, so that open stays cheap once snapshots bound replay.
 *
 * Commit: a queue with leaders (LevelDB's and RocksDB's write group, with
 * RocksDB's pipelining of the sync). The caller's thread has already
 * encoded its events into a batch. It joins a FIFO queue and sleeps on its
 * own futex word. The head of the queue becomes the write leader
 * once nobody else is writing and fewer than MAX_SYNCS fdatasyncs are in
 * flight: it takes the queue as it stands (the group: everyone who queued
 * while it waited), and, without the lock, compresses each batch into the
 * segment's zstd stream (ZSTD_e_flush: each frame complete on its own,
 * with the frames before it as history), puts header and checksum in
 * front, and writes the group's frames with one pwrite. Then it hands
 * write leadership to the next head and, if any member needs it, calls
 * fdatasync. The next group is written while this one syncs, and up to
 * MAX_SYNCS syncs overlap. (On these machines 2 concurrent fdatasyncs
 * complete 1.7x as many per second as 1, but the groups then split in
 * two: with 64 committers both give the same commits per second, and 1
 * gives half the fsyncs, so 1 it is.) Acknowledgements stay in order:
 * a group is acknowledged only after every earlier group's sync succeeded,
 * since its frames follow theirs in the file.
 *
 * Only the write leader touches the segment state (fd, offsets, chain,
 * zstd context), so that state needs no lock; leadership passes under mu.
 * Members are woken through a futex word each, without the lock (see
 * struct waiter), so a woken committer returns without queueing on mu.
 *
 * Poisoning. If a write or an fsync fails, the kernel may have dropped the
 * dirty pages, and a later fsync could report success for data that is
 * gone (the PostgreSQL fsync lesson). So the first failure poisons the
 * handle: every later commit fails. Reopening recovers what is on disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <zstd.h>

#include "segment.h"
#include "varint.h"

const uint8_t *wf_batch_bytes(const wf_batch *b);

/*
 * A commit or sync request waiting in the queue; it lives on the stack of
 * the thread that commits. Its owner sleeps on the futex word state:
 * WAIT, LEAD (the head may try to lead: set under mu) or DONE (set by the
 * leader, after which the leader touches nothing but the futex address:
 * a FUTEX_WAKE on an address whose memory is gone is harmless, which is
 * what lets the owner return at once, without taking the lock).
 */
enum { W_WAIT = 0, W_LEAD = 1, W_DONE = 2 };

typedef struct waiter {
	wf_batch *b; /* NULL: a request to fdatasync what is written */
	int nosync;  /* WF_COMMIT_NOSYNC */
	int rc;
	uint64_t first_seq;
	_Atomic uint32_t state;
	struct waiter *next;
} waiter;

static void futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Tell the head of the queue to try to lead. Caller holds mu. */
static void wake_head(waiter *head)
{
	if (head && atomic_load(&head->state) == W_WAIT) {
		atomic_store(&head->state, W_LEAD);
		futex_wake(&head->state);
	}
}

/* Most raw bytes and members one leader takes into its group (bounding
 * its latency and its buffers); the first waiter is always taken. */
#define GROUP_MAX_RAW ((size_t)4 << 20)
#define GROUP_MAX_MEMBERS 256

/* fdatasyncs in flight at once (see the top of this file). */
#define MAX_SYNCS 1

struct wf_journal {
	const wf_io *io;
	wf_journal_opts opts;
	char *dir;
	char errmsg[512];
	pthread_mutex_t errmu; /* errmsg: concurrent committers set it */
	int lock_fd;

	pthread_mutex_t mu; /* the queue, errmsg, published state */
	waiter *head, *tail;
	int writing;          /* a write leader is at work */
	int in_flight;        /* fdatasyncs in flight */
	uint64_t next_ticket; /* tickets order the groups that sync */
	uint64_t done_ticket; /* every ticket up to this one synced */
	pthread_cond_t order_cv;
	uint64_t pub_next_seq; /* next_seq as of the last group */
	atomic_int poisoned;
	char poison_msg[384];

	/* Leader-only state. */
	int fd; /* current segment */
	char *seg_path;
	uint64_t seg_bytes, seg_frames;
	uint64_t seg_first; /* first seq of the current segment */
	uint64_t next_seq;
	uint64_t chain; /* checksum of the last frame written */
	uint64_t id;
	uint64_t raw_since_reset;
	int need_reset;
	ZSTD_CCtx *cctx;
	uint8_t *cbuf; /* one compressed payload */
	size_t ccap;
	uint8_t *gbuf; /* the group's frames, back to back */
	size_t glen, gcap;

	pthread_t bthread;
	int bthread_on, stop;
	pthread_cond_t bcond;

	wf_journal_stats open_stats;
};

static void set_err(wf_journal *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&j->errmu);
	vsnprintf(j->errmsg, sizeof j->errmsg, fmt, ap);
	pthread_mutex_unlock(&j->errmu);
	va_end(ap);
}

const char *wf_journal_errmsg(const wf_journal *j)
{
	return j ? j->errmsg : "out of memory";
}

void wf_journal_errmsg_copy(wf_journal *j, char *buf, size_t len)
{
	if (!j) {
		snprintf(buf, len, "out of memory");
		return;
	}
	pthread_mutex_lock(&j->errmu);
	snprintf(buf, len, "%s", j->errmsg);
	pthread_mutex_unlock(&j->errmu);
}

uint64_t wf_journal_id(const wf_journal *j)
{
	return j->id;
}

void wf_journal_open_stats(const wf_journal *j, wf_journal_stats *out)
{
	*out = j->open_stats;
}

uint64_t wf_journal_next_seq(wf_journal *j)
{
	pthread_mutex_lock(&j->mu);
	uint64_t s = j->pub_next_seq;
	pthread_mutex_unlock(&j->mu);
	return s;
}

/* Leader only (no lock held): the message is published under mu later. */
static void poison(wf_journal *j, const char *fmt, ...)
{
	if (atomic_load(&j->poisoned))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->poison_msg, sizeof j->poison_msg, fmt, ap);
	va_end(ap);
	atomic_store(&j->poisoned, 1);
}

/* Caller holds mu. */
static int poisoned_error(wf_journal *j)
{
	set_err(j, "journal %s refuses commits after an earlier failure: %s",
	        j->dir, j->poison_msg);
	return WF_EIO;
}

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 65536;
	while (n < need)
		n *= 2;
	uint8_t *p = realloc(*buf, n);
	if (!p)
		return WF_ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

/* Write the group buffer at the end of the segment. Leader only. */
static int flush_group(wf_journal *j)
{
	const uint8_t *p = j->gbuf;
	size_t left = j->glen;
	uint64_t off = j->seg_bytes;
	while (left) {
		ssize_t w = j->io->pwrite(j->io->ctx, j->fd, p, left, off);
		if (w <= 0) {
			int e = w < 0 ? (int)-w : EIO;
			poison(j, "write of %zu bytes to %s at offset %" PRIu64
			       " failed: %s", j->glen, j->seg_path, j->seg_bytes,
			       strerror(e));
			return WF_EIO;
		}
		p += w;
		left -= (size_t)w;
		off += (uint64_t)w;
	}
	j->seg_bytes += j->glen;
	j->glen = 0;
	return 0;
}

static int data_sync(wf_journal *j, int fd, const char *path)
{
	if (atomic_load(&j->poisoned))
		return WF_EIO; /* a retried fsync may lie: never try again */
	int rc = j->io->fdatasync(j->io->ctx, fd);
	if (rc < 0) {
		poison(j, "fdatasync of %s failed: %s", path, strerror(-rc));
		return WF_EIO;
	}
	return 0;
}

/* Start a new segment at next_seq (the old one written and synced first:
 * a commit in the new segment is durable only if all before it are). The
 * old segment and the new one's header and name are synced under every
 * durability, none included (once per segment): only the last segment may
 * then have a torn tail, and a machine crash leaves a prefix, as recovery
 * assumes. Leader only. */
static int roll_over(wf_journal *j)
{
	int rc;
	if ((rc = flush_group(j)) < 0 ||
	    (rc = data_sync(j, j->fd, j->seg_path)) < 0)
		return rc;
	/* Syncs of earlier groups may still use the old fd: let them end. */
	pthread_mutex_lock(&j->mu);
	while (j->in_flight)
		pthread_cond_wait(&j->order_cv, &j->mu);
	pthread_mutex_unlock(&j->mu);
	wf_seg_header h = {WF_SEG_VERSION, 0, 0, j->id, j->next_seq, j->chain};
	int fd;
	char *path;
	char err[384];
	rc = wf_seg_create(j->io, j->dir, &h, 1, &fd, &path, err, sizeof err);
	if (rc < 0) {
		/* Out of memory comes before any I/O: nothing is lost, and
		 * the next commit tries again. */
		if (rc != WF_ENOMEM)
			poison(j, "%s", err);
		return rc;
	}
	j->io->close(j->io->ctx, j->fd);
	j->fd = fd;
	free(j->seg_path);
	j->seg_path = path;
	j->seg_bytes = WF_SEG_HEADER_SIZE;
	j->seg_frames = 0;
	j->seg_first = h.first_seq;
	j->need_reset = 1;
	return 0;
}

/* Append b's frame to the group buffer. Leader only. */
static int add_frame(wf_journal *j, wf_batch *b, uint64_t *first_seq)
{
	int rc;
	uint32_t count = wf_batch_count(b);
	size_t raw_len = wf_batch_size(b);
	if (count > WF_SEQ_LIMIT - j->next_seq)
		return WF_EINVAL; /* the caller explains */
	if (j->seg_bytes + j->glen >= j->opts.segment_size &&
	    j->seg_frames > 0 && (rc = roll_over(j)) < 0)
		return rc;
	int reset = j->need_reset || j->raw_since_reset >= WF_RESET_INTERVAL;
	if (reset)
		ZSTD_CCtx_reset(j->cctx, ZSTD_reset_session_only);
	if (reserve(&j->cbuf, &j->ccap, ZSTD_compressBound(raw_len) + 64) < 0)
		return WF_ENOMEM;
	ZSTD_inBuffer in = {wf_batch_bytes(b), raw_len, 0};
	ZSTD_outBuffer out = {j->cbuf, j->ccap, 0};
	for (;;) {
		size_t r = ZSTD_compressStream2(j->cctx, &out, &in, ZSTD_e_flush);
		if (ZSTD_isError(r)) {
			j->need_reset = 1; /* the stream's state is unknown */
			return WF_ENOMEM; /* zstd fails here only on allocation */
		}
		if (r == 0)
			break;
		if (reserve(&j->cbuf, &j->ccap, j->ccap * 2) < 0) {
			j->need_reset = 1;
			return WF_ENOMEM;
		}
		out.dst = j->cbuf;
		out.size = j->ccap;
	}
	wf_frame_hdr h = {0};
	h.flags = (uint8_t)(WF_FRAME_ZSTD | (reset ? WF_FRAME_RESET : 0));
	h.comp_len = out.pos;
	h.raw_len = raw_len;
	h.count = count;
	h.first_seq = j->next_seq;
	h.prev_link = (uint32_t)j->chain;
	if (reserve(&j->gbuf, &j->gcap, j->glen + WF_FRAME_HDR_MAX + out.pos) <
	    0) {
		j->need_reset = 1; /* the frame is in the stream, not the file */
		return WF_ENOMEM;
	}
	uint8_t *frame = j->gbuf + j->glen;
	size_t hlen = wf_frame_put_header(frame, &h);
	memcpy(frame + hlen, j->cbuf, out.pos);
	uint64_t sum = wf_frame_checksum(frame, hlen + out.pos, j->id);
	wf_put_u64(frame + 4, sum);
	j->glen += hlen + out.pos;
	*first_seq = j->next_seq;
	j->next_seq += count;
	j->seg_frames++;
	j->chain = sum;
	j->raw_since_reset = (reset ? 0 : j->raw_since_reset) + raw_len;
	j->need_reset = 0;
	return 0;
}

/*
 * Write the group's frames (write leader, no lock held). Sets each
 * member's rc; returns whether any member asks for an fdatasync.
 */
static int write_group(wf_journal *j, waiter **grp, size_t n)
{
	int need_sync = 0;
	for (size_t i = 0; i < n; i++) {
		waiter *w = grp[i];
		if (atomic_load(&j->poisoned)) {
			w->rc = WF_EIO;
		} else if (!w->b) {
			need_sync = 1;
			w->rc = 0;
		} else {
			w->rc = add_frame(j, w->b, &w->first_seq);
			if (w->rc == 0 && !w->nosync &&
			    j->opts.durability == WF_DURABILITY_ALWAYS)
				need_sync = 1;
		}
	}
	if (j->glen)
		flush_group(j);
	return need_sync && !atomic_load(&j->poisoned);
}

/* Finish the group: publish results, wake the members. Holds mu on entry,
 * releases it. */
static void finish_group(wf_journal *j, waiter **grp, size_t n, waiter *self)
{
	int failed = atomic_load(&j->poisoned);
	wake_head(j->head); /* it may lead now */
	pthread_mutex_unlock(&j->mu);
	for (size_t i = 0; i < n; i++) {
		waiter *w = grp[i];
		/* After a failed write or sync anywhere in or before this group
		 * nothing in it may be reported written, let alone durable. */
		if (failed && w->rc == 0)
			w->rc = WF_EIO;
		atomic_store(&w->state, W_DONE);
		if (w != self)
			futex_wake(&w->state); /* w may be gone: harmless */
	}
}

/* 1 if w's commit asks for an fdatasync. */
static int needs_sync(const wf_journal *j, const waiter *w)
{
	return !w->b ||
	       (j->opts.durability == WF_DURABILITY_ALWAYS && !w->nosync);
}

/* Lead: w is the head, mu is held; returns with mu released. A head that
 * needs no sync leads only the waiters after it that need none either:
 * such a group is written even while a sync is in flight, so unsynced
 * commits never wait for an fsync, and the synced ones behind them pile
 * up into one group for the next sync. */
static void lead(wf_journal *j, waiter *w)
{
	waiter *grp[GROUP_MAX_MEMBERS];
	size_t n = 0, raw = 0;
	int sync_group = needs_sync(j, w);
	for (waiter *x = w; x && n < GROUP_MAX_MEMBERS; x = x->next) {
		size_t sz = x->b ? wf_batch_size(x->b) : 0;
		if (n && raw + sz > GROUP_MAX_RAW)
			break;
		if (!sync_group && needs_sync(j, x))
			break;
		raw += sz;
		grp[n++] = x;
	}
	j->head = grp[n - 1]->next;
	if (!j->head)
		j->tail = NULL;
	j->writing = 1;
	pthread_mutex_unlock(&j->mu);

	int need_sync = write_group(j, grp, n);
	int fd = j->fd;
	char path[sizeof j->poison_msg];
	snprintf(path, sizeof path, "%s", j->seg_path);
	uint64_t seg_first = j->seg_first, seg_end = j->seg_bytes;

	pthread_mutex_lock(&j->mu);
	j->pub_next_seq = j->next_seq;
	j->writing = 0;
	if (!need_sync) {
		finish_group(j, grp, n, w);
		return;
	}
	uint64_t ticket = ++j->next_ticket;
	j->in_flight++;
	wake_head(j->head); /* the next write leader */
	pthread_mutex_unlock(&j->mu);

	if (data_sync(j, fd, path) == 0) { /* a failure poisons */
		wf_sync_mark mk = {j->id, seg_first, seg_end};
		int e = wf_sync_mark_write(j->io, j->lock_fd, &mk);
		if (e < 0)
			poison(j, "write of the sync mark to %s/LOCK failed: %s",
			       j->dir, strerror(-e));
	}

	pthread_mutex_lock(&j->mu);
	j->in_flight--;
	pthread_cond_broadcast(&j->order_cv);
	wake_head(j->head); /* a sync slot is free */
	while (j->done_ticket != ticket - 1 && !atomic_load(&j->poisoned))
		pthread_cond_wait(&j->order_cv, &j->mu);
	if (!atomic_load(&j->poisoned)) {
		j->done_ticket = ticket;
		pthread_cond_broadcast(&j->order_cv);
	}
	finish_group(j, grp, n, w);
}

/* Queue a commit (b) or a sync request (b == NULL); return when done. */
static int submit(wf_journal *j, wf_batch *b, uint64_t *first_seq,
                  unsigned flags)
{
	waiter w;
	w.b = b;
	w.nosync = (flags & WF_COMMIT_NOSYNC) != 0;
	w.rc = 0;
	w.first_seq = 0;
	w.next = NULL;
	atomic_init(&w.state, W_WAIT);
	pthread_mutex_lock(&j->mu);
	if (j->tail)
		j->tail->next = &w;
	else
		j->head = &w;
	j->tail = &w;
	for (;;) {
		/* mu is held here. */
		if (j->head == &w && !j->writing &&
		    (j->in_flight < MAX_SYNCS || !needs_sync(j, &w))) {
			lead(j, &w); /* releases mu */
			break;
		}
		atomic_store(&w.state, W_WAIT);
		pthread_mutex_unlock(&j->mu);
		uint32_t st;
		while ((st = atomic_load(&w.state)) == W_WAIT)
			futex_wait(&w.state, W_WAIT);
		if (st == W_DONE)
			break;
		pthread_mutex_lock(&j->mu);
	}
	int rc = w.rc;
	if (rc < 0) {
		pthread_mutex_lock(&j->mu);
		if (rc == WF_EIO)
			poisoned_error(j);
		else if (rc == WF_EINVAL)
			set_err(j, "journal %s has used up its sequence numbers",
			        j->dir);
		else if (rc == WF_ENOMEM)
			set_err(j, "out of memory committing to journal %s", j->dir);
		pthread_mutex_unlock(&j->mu);
	}
	if (first_seq)
		*first_seq = w.first_seq;
	return rc;
}

int wf_journal_commit(wf_journal *j, wf_batch *b, uint64_t *first_seq)
{
	return wf_journal_commit_flags(j, b, first_seq, 0);
}

int wf_journal_commit_flags(wf_journal *j, wf_batch *b, uint64_t *first_seq,
                            unsigned flags)
{
	if (!j || !b)
		return WF_EINVAL;
	if (wf_batch_count(b) == 0) {
		pthread_mutex_lock(&j->mu);
		set_err(j, "empty commit: add events to the batch first");
		pthread_mutex_unlock(&j->mu);
		return WF_EINVAL;
	}
	if (wf_batch_size(b) > WF_FRAME_MAX_RAW) {
		pthread_mutex_lock(&j->mu);
		set_err(j, "commit of %zu bytes exceeds the frame limit of %" PRIu64
		        " bytes", wf_batch_size(b), (uint64_t)WF_FRAME_MAX_RAW);
		pthread_mutex_unlock(&j->mu);
		return WF_EINVAL;
	}
	int rc = submit(j, b, first_seq, flags);
	if (rc < 0)
		return rc;
	wf_batch_clear(b);
	return 0;
}

int wf_journal_sync(wf_journal *j)
{
	return submit(j, NULL, NULL, 0);
}

static void *batch_thread(void *arg)
{
	wf_journal *j = arg;
	pthread_mutex_lock(&j->mu);
	while (!j->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec +
		              (uint64_t)j->opts.batch_interval_ms * 1000000u;
		ts.tv_sec += (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		pthread_cond_timedwait(&j->bcond, &j->mu, &ts);
		if (j->stop || atomic_load(&j->poisoned))
			continue;
		pthread_mutex_unlock(&j->mu);
		wf_journal_sync(j); /* a failure poisons the handle */
		pthread_mutex_lock(&j->mu);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

static void report(wf_journal *j, const char *file, uint64_t off,
                   uint64_t len, int torn, const char *what)
{
	if (!j->opts.on_damage)
		return;
	wf_damage d = {file, off, len, torn, what};
	j->opts.on_damage(j->opts.damage_ud, &d);
}

/*
 * Decode a frame's payload the way a reader will: decompress it and step
 * through its events. A frame whose checksum holds but which a reader
 * could not decode must not become the middle of the journal.
 */
static int check_payload(wf_decoder *dec, const wf_frame_hdr *h,
                         const uint8_t *payload, uint8_t **raw,
                         size_t *cap, const char **why)
{
	if (h->raw_len + 1 > *cap) {
		uint8_t *p = realloc(*raw, (size_t)h->raw_len + 1);
		if (!p) {
			*why = "out of memory decoding a frame";
			return WF_ENOMEM;
		}
		*raw = p;
		*cap = (size_t)h->raw_len + 1;
	}
	if (wf_decoder_frame(dec, h, payload, *raw, why) < 0)
		return WF_ECORRUPT;
	size_t off = 0;
	int64_t t = 0;
	for (uint64_t i = 0; i < h->count; i++) {
		wf_event ev;
		size_t used;
		int rc = wf_event_decode(*raw + off, (size_t)h->raw_len - off, &t,
		                         &ev, &used, why);
		/* An event this version cannot decode (EINCOMPAT) is still
		 * whole: stepping over it is the reader's business. */
		if (rc == WF_ECORRUPT)
			return rc;
		off += used;
	}
	if (off != h->raw_len) {
		*why = "frame payload and its event count disagree";
		return WF_ECORRUPT;
	}
	return 0;
}

/*
 * Scan the last segment: checksums, chain, sequence, and the payloads
 * decoded. Cut a torn tail, or refuse corruption.
 */
static int recover_tail(wf_journal *j, const wf_seg_header *sh)
{
	wf_scan s;
	wf_scan_init(&s, j->io, j->fd);
	int rc = wf_scan_refresh(&s);
	if (rc < 0) {
		set_err(j, "cannot stat %s: %s", j->seg_path, strerror(-rc));
		wf_scan_free(&s);
		return WF_EIO;
	}
	uint64_t pos = WF_SEG_HEADER_SIZE;
	uint64_t expect = sh->first_seq, chain = sh->prev_chain;
	const char *why = NULL;
	int status = WF_FRAME_OK;
	wf_decoder *dec = NULL;
	uint8_t *raw = NULL;
	size_t raw_cap = 0;
	if (wf_decoder_new(&dec) < 0) {
		set_err(j, "out of memory");
		wf_scan_free(&s);
		return WF_ENOMEM;
	}
	while (pos < s.size) {
		wf_frame_hdr h;
		const uint8_t *f;
		rc = wf_scan_frame(&s, pos, j->id, &h, &f, &why);
		if (rc < 0) {
			set_err(j, "cannot read %s at offset %" PRIu64 ": %s",
			        j->seg_path, pos, strerror(-rc));
			wf_decoder_free(dec);
			free(raw);
			wf_scan_free(&s);
			return WF_EIO;
		}
		if (rc == WF_FRAME_OK) {
			if (h.prev_link != (uint32_t)chain) {
				why = "frame does not chain to the one before it "
				      "(missing, reordered or replayed frame)";
				rc = WF_FRAME_BAD;
			} else if (h.first_seq != expect) {
				why = "frame sequence number breaks the sequence";
				rc = WF_FRAME_BAD;
			} else if (pos == WF_SEG_HEADER_SIZE &&
			           !(h.flags & WF_FRAME_RESET)) {
				why = "first frame of the segment does not start a "
				      "compression stream";
				rc = WF_FRAME_BAD;
			} else if (!j->opts.replay_follows) {
				int c = check_payload(dec, &h, f + h.hdr_len, &raw,
				                      &raw_cap, &why);
				if (c == WF_ENOMEM) {
					set_err(j, "%s", why);
					status = WF_ENOMEM;
					break;
				}
				if (c < 0)
					rc = WF_FRAME_BAD;
			}
		}
		if (rc != WF_FRAME_OK) {
			status = rc;
			break;
		}
		expect = h.first_seq + h.count;
		chain = h.checksum;
		pos += h.hdr_len + h.comp_len;
		j->open_stats.frames++;
		j->open_stats.events += h.count;
		j->open_stats.bytes_raw += h.raw_len;
	}
	wf_decoder_free(dec);
	free(raw);
	if (status == WF_ENOMEM) {
		wf_scan_free(&s);
		return WF_ENOMEM;
	}
	if (status != WF_FRAME_OK) {
		uint64_t next;
		rc = wf_scan_find_next(&s, pos, j->id, 0, &next);
		if (rc < 0) {
			set_err(j, "cannot read %s: %s", j->seg_path, strerror(-rc));
			wf_scan_free(&s);
			return WF_EIO;
		}
		/* Intact frames after the damage: corruption if the sync mark
		 * says the damaged bytes were durable; else a crash wrote the
		 * unsynced frames out of order (a torn tail, cut below). */
		if (rc == 1 && !wf_sync_mark_durable(j->io, j->lock_fd, NULL,
		                                     j->id, sh->first_seq, pos))
			rc = 0;
		if (rc == 1) {
			set_err(j, "%s: offset %" PRIu64 ": %s; intact frames follow "
			        "at offset %" PRIu64 " and the damaged bytes were "
			        "synced (says the sync mark in LOCK, or its absence), "
			        "so this is corruption, not a torn write", j->seg_path,
			        pos, why, next);
			report(j, j->seg_path, pos, next - pos, 0, why);
			wf_scan_free(&s);
			return WF_ECORRUPT;
		}
		uint64_t cut = s.size - pos;
		if (j->opts.recovery == WF_RECOVER_ABSOLUTE) {
			set_err(j, "%s: offset %" PRIu64 ": %s (%" PRIu64 " bytes "
			        "at the tail; recovery mode absolute refuses to cut "
			        "them)", j->seg_path, pos, why, cut);
			report(j, j->seg_path, pos, cut, 1, why);
			wf_scan_free(&s);
			return WF_ECORRUPT;
		}
		/* Synced under durability none too: frames appended after an
		 * unsynced cut could reach the disk while the cut does not,
		 * leaving the old tail's intact frames after them. */
		rc = j->io->ftruncate(j->io->ctx, j->fd, pos);
		if (rc == 0)
			rc = j->io->fsync(j->io->ctx, j->fd);
		if (rc < 0) {
			set_err(j, "cannot cut the torn tail of %s at offset %" PRIu64
			        ": %s", j->seg_path, pos, strerror(-rc));
			wf_scan_free(&s);
			return WF_EIO;
		}
		/* The mark may lie past the cut: what comes there is new. */
		wf_sync_mark mk = {j->id, sh->first_seq, pos};
		if ((rc = wf_sync_mark_write(j->io, j->lock_fd, &mk)) < 0) {
			set_err(j, "cannot write the sync mark to %s/LOCK: %s",
			        j->dir, strerror(-rc));
			wf_scan_free(&s);
			return WF_EIO;
		}
		j->open_stats.torn = 1;
		report(j, j->seg_path, pos, cut, 1, why);
	}
	wf_scan_free(&s);
	j->seg_first = sh->first_seq;
	j->seg_bytes = pos;
	j->next_seq = expect;
	j->chain = chain;
	return 0;
}

/* Check all segment headers; open the last one for appending. */
static int open_existing(wf_journal *j, wf_seg_list *l)
{
	wf_seg_header last = {0};
	for (size_t i = 0; i < l->n; i++) {
		const char *path = l->v[i].path;
		int fd = j->io->open(j->io->ctx, path,
		                     i + 1 == l->n ? WF_IO_RDWR : WF_IO_RDONLY);
		if (fd < 0) {
			set_err(j, "cannot open %s: %s", path, strerror(-fd));
			return WF_EIO;
		}
		uint8_t buf[WF_SEG_HEADER_SIZE];
		ssize_t r = j->io->pread(j->io->ctx, fd, buf, sizeof buf, 0);
		wf_seg_header h;
		const char *why = "segment shorter than its header";
		int rc = WF_ECORRUPT;
		if (r < 0) {
			set_err(j, "cannot read %s: %s", path, strerror((int)-r));
			j->io->close(j->io->ctx, fd);
			return WF_EIO;
		}
		if (r == (ssize_t)sizeof buf)
			rc = wf_seg_header_decode(buf, &h, &why);
		if (rc == 0 && i > 0 && h.journal_id != j->id) {
			why = "segment belongs to another journal (journal id "
			      "differs)";
			rc = WF_ECORRUPT;
		}
		if (rc == 0 && h.first_seq != l->v[i].first_seq) {
			why = "segment header's first sequence number does not "
			      "match its file name (renamed or swapped segment)";
			rc = WF_ECORRUPT;
		}
		if (rc < 0) {
			set_err(j, "%s: offset 0: %s", path, why);
			report(j, path, 0, WF_SEG_HEADER_SIZE, 0, why);
			j->io->close(j->io->ctx, fd);
			return rc;
		}
		j->id = h.journal_id;
		j->open_stats.segments++;
		if (i + 1 < l->n) {
			j->io->close(j->io->ctx, fd);
			continue;
		}
		last = h;
		j->fd = fd;
		if (!(j->seg_path = strdup(path))) {
			set_err(j, "out of memory");
			return WF_ENOMEM;
		}
	}
	return recover_tail(j, &last);
}

static int open_new(wf_journal *j)
{
	int rc = j->io->random(j->io->ctx, &j->id, sizeof j->id);
	if (rc < 0) {
		set_err(j, "cannot get random bytes for the journal id: %s",
		        strerror(-rc));
		return WF_EIO;
	}
	wf_seg_header h = {WF_SEG_VERSION, 0, 0, j->id, 1, 0};
	if ((rc = wf_seg_create(j->io, j->dir, &h, 1, &j->fd, &j->seg_path,
	                        j->errmsg, sizeof j->errmsg)) < 0)
		return rc;
	j->seg_bytes = WF_SEG_HEADER_SIZE;
	j->seg_first = 1;
	j->next_seq = 1;
	j->chain = 0;
	j->open_stats.segments = 1;
	return 0;
}

static int do_open(wf_journal *j)
{
	const wf_io *io = j->io;
	if (j->opts.recovery == WF_RECOVER_SALVAGE) {
		set_err(j, "recovery mode salvage is for readers only: a writer "
		        "must not append after skipped damage");
		return WF_EINVAL;
	}
	if (j->opts.recovery != WF_RECOVER_TOLERATE_TAIL &&
	    j->opts.recovery != WF_RECOVER_ABSOLUTE) {
		set_err(j, "unknown recovery mode %d", (int)j->opts.recovery);
		return WF_EINVAL;
	}
	if ((unsigned)j->opts.durability > WF_DURABILITY_NONE ||
	    j->opts.segment_size < 4096 ||
	    j->opts.compression_level < -7 || j->opts.compression_level > 19 ||
	    (j->opts.durability == WF_DURABILITY_BATCH &&
	     j->opts.batch_interval_ms == 0)) {
		set_err(j, "invalid journal options (durability %d, segment "
		        "size %" PRIu64 ", level %d, batch interval %u ms)",
		        (int)j->opts.durability, j->opts.segment_size,
		        j->opts.compression_level, j->opts.batch_interval_ms);
		return WF_EINVAL;
	}
	int rc = io->mkdir(io->ctx, j->dir);
	if (rc < 0 && rc != -EEXIST) {
		set_err(j, "cannot create journal directory %s: %s", j->dir,
		        strerror(-rc));
		return rc == -ENOENT ? WF_ENOTFOUND : WF_EIO;
	}
	if (rc == 0) {
		/* A new directory is durable once its parent is synced (under
		 * durability none too: see roll_over). */
		char *parent = strdup(j->dir);
		if (!parent) {
			set_err(j, "out of memory");
			return WF_ENOMEM;
		}
		size_t len = strlen(parent);
		while (len > 1 && parent[len - 1] == '/')
			parent[--len] = '\0';
		char *slash = strrchr(parent, '/');
		if (!slash)
			strcpy(parent, ".");
		else if (slash == parent)
			parent[1] = '\0';
		else
			*slash = '\0';
		rc = wf_dir_sync(io, parent);
		free(parent);
		if (rc < 0) {
			set_err(j, "cannot fsync the parent of %s: %s", j->dir,
			        strerror(-rc));
			return WF_EIO;
		}
	}
	size_t n = strlen(j->dir) + 6;
	char *lock = malloc(n);
	if (!lock) {
		set_err(j, "out of memory");
		return WF_ENOMEM;
	}
	snprintf(lock, n, "%s/LOCK", j->dir);
	j->lock_fd = io->open(io->ctx, lock, WF_IO_RDWR | WF_IO_CREATE);
	free(lock);
	if (j->lock_fd < 0) {
		set_err(j, "cannot open %s/LOCK: %s", j->dir,
		        strerror(-j->lock_fd));
		return WF_EIO;
	}
	if ((rc = io->lock(io->ctx, j->lock_fd)) < 0) {
		if (rc == -EWOULDBLOCK || rc == -EAGAIN) {
			set_err(j, "journal %s is locked by another writer",
			        j->dir);
			return WF_EBUSY;
		}
		set_err(j, "cannot lock %s/LOCK: %s", j->dir, strerror(-rc));
		return WF_EIO;
	}
	wf_seg_list l;
	int e;
	if ((rc = wf_seg_list_read(io, j->dir, &l, &e)) < 0) {
		set_err(j, "cannot list %s: %s", j->dir, strerror(e));
		return rc;
	}
	for (size_t i = 0; i < l.ntmp; i++)
		io->unlink(io->ctx, l.tmp[i]); /* half-created segments */
	rc = l.n ? open_existing(j, &l) : open_new(j);
	wf_seg_list_free(&l);
	if (rc < 0)
		return rc;
	/* No sync mark of this journal (a new journal, a copy without its
	 * LOCK, a mark a crash tore): write one, durably, since a missing mark
	 * makes recovery call any damage with intact frames after it
	 * corruption. It vouches for the last segment's header only. */
	wf_sync_mark mk;
	if (wf_sync_mark_read(io, j->lock_fd, NULL, &mk) != 1 ||
	    mk.journal_id != j->id) {
		mk.journal_id = j->id;
		mk.seg_first = j->seg_first;
		mk.end = WF_SEG_HEADER_SIZE;
		if ((rc = wf_sync_mark_write(io, j->lock_fd, &mk)) < 0 ||
		    (rc = io->fsync(io->ctx, j->lock_fd)) < 0 ||
		    (rc = wf_dir_sync(io, j->dir)) < 0) {
			set_err(j, "cannot write the sync mark to %s/LOCK: %s",
			        j->dir, strerror(-rc));
			return WF_EIO;
		}
	}
	j->need_reset = 1;
	j->pub_next_seq = j->next_seq;
	j->open_stats.bytes_disk = j->seg_bytes;
	if (!(j->cctx = ZSTD_createCCtx())) {
		set_err(j, "out of memory");
		return WF_ENOMEM;
	}
	ZSTD_CCtx_setParameter(j->cctx, ZSTD_c_compressionLevel,
	                       j->opts.compression_level);
	/* The window need not span more than a stream (WF_RESET_INTERVAL);
	 * a smaller one also bounds the reader's memory. */
	ZSTD_CCtx_setParameter(j->cctx, ZSTD_c_windowLog, 20);
	if (j->opts.durability == WF_DURABILITY_BATCH) {
		if (pthread_create(&j->bthread, NULL, batch_thread, j) != 0) {
			set_err(j, "cannot start the batch sync thread");
			return WF_ENOMEM;
		}
		j->bthread_on = 1;
	}
	return 0;
}

int wf_journal_open(wf_journal **out, const char *dir,
                    const wf_journal_opts *opts)
{
	static const wf_journal_opts defaults = WF_JOURNAL_OPTS_INIT;
	*out = NULL;
	wf_journal *j = calloc(1, sizeof *j);
	if (!j)
		return WF_ENOMEM;
	j->lock_fd = j->fd = -1;
	j->opts = opts ? *opts : defaults;
	j->io = j->opts.io ? j->opts.io : wf_io_posix();
	pthread_mutex_init(&j->mu, NULL);
	pthread_mutex_init(&j->errmu, NULL);
	pthread_cond_init(&j->order_cv, NULL);
	pthread_cond_init(&j->bcond, NULL);
	*out = j;
	if (!dir || !*dir) {
		set_err(j, "no journal directory given");
		return WF_EINVAL;
	}
	if (opts && opts->version != WF_JOURNAL_OPTS_VERSION) {
		set_err(j, "wf_journal_opts version %u unknown (expected %u)",
		        opts->version, WF_JOURNAL_OPTS_VERSION);
		return WF_EINVAL;
	}
	if (!(j->dir = strdup(dir))) {
		set_err(j, "out of memory");
		return WF_ENOMEM;
	}
	return do_open(j);
}

int wf_journal_close(wf_journal *j)
{
	if (!j)
		return 0;
	int rc = 0;
	if (j->bthread_on) {
		pthread_mutex_lock(&j->mu);
		j->stop = 1;
		pthread_cond_signal(&j->bcond);
		pthread_mutex_unlock(&j->mu);
		pthread_join(j->bthread, NULL);
	}
	/* Under durability none too: the sync mark then vouches for all that
	 * was written, so damage in it is corruption, not a torn write. */
	if (j->fd >= 0 && j->cctx && !atomic_load(&j->poisoned))
		rc = wf_journal_sync(j);
	if (j->fd >= 0)
		j->io->close(j->io->ctx, j->fd);
	if (j->lock_fd >= 0)
		j->io->close(j->io->ctx, j->lock_fd); /* releases the flock */
	ZSTD_freeCCtx(j->cctx);
	pthread_mutex_destroy(&j->mu);
	pthread_mutex_destroy(&j->errmu);
	pthread_cond_destroy(&j->bcond);
	pthread_cond_destroy(&j->order_cv);
	free(j->cbuf);
	free(j->gbuf);
	free(j->seg_path);
	free(j->dir);
	free(j);
	return rc;
}

/* ---- retirement (wf_journal_retire_plan) ---- */

int wf_journal_retire_plan(wf_journal *j, uint64_t upto, int64_t before_ns,
                           wf_retire_plan *out)
{
	memset(out, 0, sizeof *out);
	wf_seg_list l;
	int e, rc;
	if ((rc = wf_seg_list_read(j->io, j->dir, &l, &e)) < 0) {
		set_err(j, "cannot list %s: %s", j->dir, strerror(e));
		return rc;
	}
	/* Segment i goes if the next one starts at or before upto (so upto,
	 * the event a snapshot ends with, stays: readers check it) and that
	 * one's first event is older than before_ns. The last listed segment
	 * is never a candidate: it may be the one being written. */
	wf_reader *r = NULL;
	size_t n = 0;
	rc = 0;
	while (n + 1 < l.n && l.v[n + 1].first_seq <= upto) {
		if (!r) {
			wf_reader_opts ro = WF_READER_OPTS_INIT;
			ro.io = j->io;
			if ((rc = wf_reader_open(&r, j->dir, &ro)) < 0) {
				set_err(j, "%s", wf_reader_errmsg(r));
				break;
			}
		}
		const wf_event *ev = NULL;
		uint64_t next = l.v[n + 1].first_seq;
		if ((rc = wf_reader_seek(r, next)) < 0 ||
		    (rc = wf_reader_next(r, &ev)) < 0) {
			set_err(j, "%s", wf_reader_errmsg(r));
			break;
		}
		int got = rc;
		rc = 0;
		if (got != 1 || ev->seq != next || ev->time_ns >= before_ns)
			break; /* (an empty segment, or not old enough) */
		int fd = j->io->open(j->io->ctx, l.v[n].path, WF_IO_RDONLY);
		uint64_t size = 0;
		if (fd >= 0) {
			j->io->fsize(j->io->ctx, fd, &size);
			j->io->close(j->io->ctx, fd);
		}
		if (n == 0)
			out->first_seq = l.v[0].first_seq;
		out->last_seq = next - 1;
		out->bytes += size;
		n++;
	}
	out->segments = n;
	wf_reader_close(r);
	wf_seg_list_free(&l);
	return rc;
}

int wf_journal_retire(wf_journal *j, const wf_retire_plan *p,
                      uint64_t *done)
{
	*done = 0;
	if (!p->segments)
		return 0;
	wf_seg_list l;
	int e, rc;
	if ((rc = wf_seg_list_read(j->io, j->dir, &l, &e)) < 0) {
		set_err(j, "cannot list %s: %s", j->dir, strerror(e));
		return rc;
	}
	/* Oldest first, so that what is left is always a whole suffix. */
	for (size_t i = 0; rc == 0 && i + 1 < l.n &&
	                   l.v[i + 1].first_seq - 1 <= p->last_seq; i++) {
		int r = j->io->unlink(j->io->ctx, l.v[i].path);
		if (r < 0 && r != -ENOENT) {
			set_err(j, "cannot delete %s: %s", l.v[i].path,
			        strerror(-r));
			rc = WF_EIO;
		} else {
			++*done;
		}
	}
	if (*done) {
		int r = wf_dir_sync(j->io, j->dir);
		if (r < 0 && rc == 0) {
			set_err(j, "cannot fsync %s (after deleting segments): %s",
			        j->dir, strerror(-r));
			rc = WF_EIO;
		}
	}
	wf_seg_list_free(&l);
	return rc;
}
