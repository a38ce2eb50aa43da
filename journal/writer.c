/*
 * The journal writer: recovery at open, commits, group commit, rollover.
 *
 * Open. Take <dir>/LOCK (flock, exclusive, non-blocking: a second writer
 * gets WF_EBUSY). Check every segment header, then scan the last segment
 * frame by frame (checksum, chain link, sequence numbers). The first frame
 * that fails is either a torn write (nothing intact follows it: cut it off
 * and report it, in tolerate-tail mode) or corruption (intact frames
 * follow: refuse to open, naming file and offset). Earlier segments are
 * checked by whoever reads them (replay, `wflow verify`), not at every
 * open, so that open stays cheap once snapshots bound replay.
 *
 * Commit. The caller's thread has already encoded its events into a batch.
 * Under the write lock: roll over if the segment is full, compress the
 * batch into the segment's zstd stream (ZSTD_e_flush: the frame is
 * complete on its own, but uses the frames before it as history), put the
 * header and checksum in front, pwrite it. Then, outside the write lock,
 * wait until an fdatasync covers it.
 *
 * Group commit. Whoever needs a sync and finds none running becomes the
 * leader: it notes how far the file is written, syncs, and publishes that
 * position as synced; everyone whose commit lies below it returns. While
 * it syncs, other committers keep writing, and the next leader covers
 * them all with one fdatasync.
 *
 * Poisoning. If a write or an fsync fails, the kernel may have dropped the
 * dirty pages, and a later fsync could report success for data that is
 * gone (the PostgreSQL fsync lesson). So the first failure poisons the
 * handle: every later commit fails. Reopening recovers what is on disk.
 *
 * Locks: mu (write order, the zstd stream, segment state) is taken before
 * smu (sync state); never the other way round.
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

#include <zstd.h>

#include "segment.h"
#include "varint.h"

const uint8_t *wf_batch_bytes(const wf_batch *b);

struct wf_journal {
	const wf_io *io;
	wf_journal_opts opts;
	char *dir;
	char errmsg[512];
	int lock_fd;

	pthread_mutex_t mu; /* write lock */
	int fd;             /* current segment */
	char *seg_path;
	uint64_t seg_bytes, seg_frames;
	uint64_t next_seq;
	uint64_t chain; /* checksum of the last frame written */
	uint64_t id;
	uint64_t raw_since_reset;
	int need_reset;
	ZSTD_CCtx *cctx;
	uint8_t *fbuf;
	size_t fcap;

	pthread_mutex_t smu; /* sync state */
	pthread_cond_t scond;
	uint64_t written_seq, synced_seq;
	int sync_fd;
	int syncing;
	atomic_int poisoned;
	char poison_msg[384];

	pthread_t bthread;
	int bthread_on, stop;
	pthread_cond_t bcond;

	wf_journal_stats open_stats;
};

static void set_err(wf_journal *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->errmsg, sizeof j->errmsg, fmt, ap);
	va_end(ap);
}

const char *wf_journal_errmsg(const wf_journal *j)
{
	return j ? j->errmsg : "out of memory";
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
	uint64_t s = j->next_seq;
	pthread_mutex_unlock(&j->mu);
	return s;
}

/* Caller holds smu. */
static void poison(wf_journal *j, const char *fmt, ...)
{
	if (atomic_load(&j->poisoned))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->poison_msg, sizeof j->poison_msg, fmt, ap);
	va_end(ap);
	atomic_store(&j->poisoned, 1);
	pthread_cond_broadcast(&j->scond);
}

static int poisoned_error(wf_journal *j)
{
	pthread_mutex_lock(&j->smu);
	set_err(j, "journal %s refuses commits after an earlier failure: %s",
	        j->dir, j->poison_msg);
	pthread_mutex_unlock(&j->smu);
	return WF_EIO;
}

/*
 * Make everything up to seq target durable, leading a sync if none is
 * running. Returns 0 once synced_seq >= target.
 */
static int sync_upto(wf_journal *j, uint64_t target)
{
	pthread_mutex_lock(&j->smu);
	while (j->synced_seq < target || atomic_load(&j->poisoned)) {
		if (atomic_load(&j->poisoned)) {
			pthread_mutex_unlock(&j->smu);
			return poisoned_error(j);
		}
		if (j->syncing) {
			pthread_cond_wait(&j->scond, &j->smu);
			continue;
		}
		j->syncing = 1;
		uint64_t upto = j->written_seq;
		int fd = j->sync_fd;
		pthread_mutex_unlock(&j->smu);
		int rc = j->io->fdatasync(j->io->ctx, fd);
		pthread_mutex_lock(&j->smu);
		j->syncing = 0;
		if (rc < 0) {
			poison(j, "fdatasync of %s failed: %s", j->seg_path,
			       strerror(-rc));
			continue; /* the loop reports the poison */
		}
		if (upto > j->synced_seq)
			j->synced_seq = upto;
		pthread_cond_broadcast(&j->scond);
	}
	pthread_mutex_unlock(&j->smu);
	return 0;
}

int wf_journal_sync(wf_journal *j)
{
	pthread_mutex_lock(&j->smu);
	uint64_t target = j->written_seq;
	pthread_mutex_unlock(&j->smu);
	return sync_upto(j, target);
}

static void *batch_thread(void *arg)
{
	wf_journal *j = arg;
	pthread_mutex_lock(&j->smu);
	while (!j->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec +
		              (uint64_t)j->opts.batch_interval_ms * 1000000u;
		ts.tv_sec += (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		pthread_cond_timedwait(&j->bcond, &j->smu, &ts);
		if (j->stop)
			break;
		uint64_t target = j->written_seq;
		if (target > j->synced_seq && !atomic_load(&j->poisoned)) {
			pthread_mutex_unlock(&j->smu);
			sync_upto(j, target); /* a failure poisons the handle */
			pthread_mutex_lock(&j->smu);
		}
	}
	pthread_mutex_unlock(&j->smu);
	return NULL;
}

static int durable(const wf_journal *j)
{
	return j->opts.durability != WF_DURABILITY_NONE;
}

/* Start a new segment at next_seq. Caller holds mu. */
static int roll_over(wf_journal *j)
{
	wf_seg_header h = {WF_SEG_VERSION, 0, 0, j->id, j->next_seq, j->chain};
	int fd;
	char *path;
	int rc = wf_seg_create(j->io, j->dir, &h, durable(j), &fd, &path,
	                       j->errmsg, sizeof j->errmsg);
	pthread_mutex_lock(&j->smu);
	if (rc < 0) {
		poison(j, "%s", j->errmsg);
		pthread_mutex_unlock(&j->smu);
		return rc;
	}
	while (j->syncing)
		pthread_cond_wait(&j->scond, &j->smu);
	/* Everything in the old segment must be durable before commits in
	 * the new one can be reported durable through the new fd. */
	if (durable(j) && j->synced_seq < j->written_seq) {
		int r = j->io->fdatasync(j->io->ctx, j->fd);
		if (r < 0) {
			poison(j, "fdatasync of %s failed: %s", j->seg_path,
			       strerror(-r));
			pthread_mutex_unlock(&j->smu);
			j->io->close(j->io->ctx, fd);
			free(path);
			set_err(j, "%s", j->poison_msg);
			return WF_EIO;
		}
		j->synced_seq = j->written_seq;
		pthread_cond_broadcast(&j->scond);
	}
	j->io->close(j->io->ctx, j->fd);
	j->fd = fd;
	j->sync_fd = fd;
	free(j->seg_path);
	j->seg_path = path;
	pthread_mutex_unlock(&j->smu);
	j->seg_bytes = WF_SEG_HEADER_SIZE;
	j->seg_frames = 0;
	j->need_reset = 1;
	return 0;
}

static int grow(wf_journal *j, size_t need)
{
	if (need <= j->fcap)
		return 0;
	size_t n = j->fcap ? j->fcap : 4096;
	while (n < need)
		n *= 2;
	uint8_t *p = realloc(j->fbuf, n);
	if (!p)
		return WF_ENOMEM;
	j->fbuf = p;
	j->fcap = n;
	return 0;
}

/* Compress raw into fbuf after WF_FRAME_HDR_MAX bytes of room. */
static int compress_frame(wf_journal *j, const uint8_t *raw, size_t len,
                          int reset, size_t *clen)
{
	if (reset)
		ZSTD_CCtx_reset(j->cctx, ZSTD_reset_session_only);
	size_t bound = ZSTD_compressBound(len) + 64;
	if (grow(j, WF_FRAME_HDR_MAX + bound))
		return WF_ENOMEM;
	ZSTD_inBuffer in = {raw, len, 0};
	ZSTD_outBuffer out = {j->fbuf + WF_FRAME_HDR_MAX, j->fcap -
	                      WF_FRAME_HDR_MAX, 0};
	for (;;) {
		size_t r = ZSTD_compressStream2(j->cctx, &out, &in, ZSTD_e_flush);
		if (ZSTD_isError(r))
			return WF_ENOMEM; /* zstd fails here only on allocation */
		if (r == 0)
			break;
		/* Output full: grow (moves fbuf) and go on. */
		size_t used = out.pos;
		if (grow(j, j->fcap * 2))
			return WF_ENOMEM;
		out.dst = j->fbuf + WF_FRAME_HDR_MAX;
		out.size = j->fcap - WF_FRAME_HDR_MAX;
		out.pos = used;
	}
	*clen = out.pos;
	return 0;
}

int wf_journal_commit(wf_journal *j, wf_batch *b, uint64_t *first_seq)
{
	if (!j || !b)
		return WF_EINVAL;
	uint32_t count = wf_batch_count(b);
	size_t raw_len = wf_batch_size(b);
	if (count == 0) {
		set_err(j, "empty commit: add events to the batch first");
		return WF_EINVAL;
	}
	if (raw_len > WF_FRAME_MAX_RAW) {
		set_err(j, "commit of %zu bytes exceeds the frame limit of %" PRIu64
		        " bytes", raw_len, (uint64_t)WF_FRAME_MAX_RAW);
		return WF_EINVAL;
	}
	pthread_mutex_lock(&j->mu);
	if (atomic_load(&j->poisoned)) {
		pthread_mutex_unlock(&j->mu);
		return poisoned_error(j);
	}
	if (count > WF_SEQ_LIMIT - j->next_seq) {
		set_err(j, "journal %s has used up its sequence numbers", j->dir);
		pthread_mutex_unlock(&j->mu);
		return WF_EINVAL;
	}
	int rc;
	if (j->seg_bytes >= j->opts.segment_size && j->seg_frames > 0 &&
	    (rc = roll_over(j)) < 0) {
		pthread_mutex_unlock(&j->mu);
		return rc;
	}
	int reset = j->need_reset || j->raw_since_reset >= WF_RESET_INTERVAL;
	size_t clen;
	if ((rc = compress_frame(j, wf_batch_bytes(b), raw_len, reset,
	                         &clen)) < 0) {
		/* The stream's state is unknown now: start a new one. */
		j->need_reset = 1;
		set_err(j, "out of memory compressing a commit");
		pthread_mutex_unlock(&j->mu);
		return rc;
	}
	wf_frame_hdr h = {0};
	h.flags = (uint8_t)(WF_FRAME_ZSTD | (reset ? WF_FRAME_RESET : 0));
	h.comp_len = clen;
	h.raw_len = raw_len;
	h.count = count;
	h.first_seq = j->next_seq;
	h.prev_link = (uint32_t)j->chain;
	uint8_t hdr[WF_FRAME_HDR_MAX];
	size_t hlen = wf_frame_put_header(hdr, &h);
	uint8_t *frame = j->fbuf + WF_FRAME_HDR_MAX - hlen;
	memcpy(frame, hdr, hlen);
	size_t flen = hlen + clen;
	uint64_t sum = wf_frame_checksum(frame, flen, j->id);
	wf_put_u64(frame + 4, sum);

	uint64_t off = j->seg_bytes;
	const uint8_t *p = frame;
	size_t left = flen;
	while (left) {
		ssize_t w = j->io->pwrite(j->io->ctx, j->fd, p, left, off);
		if (w <= 0) {
			int e = w < 0 ? (int)-w : EIO;
			pthread_mutex_lock(&j->smu);
			poison(j, "write of %zu bytes to %s at offset %" PRIu64
			       " failed: %s", flen, j->seg_path, off, strerror(e));
			pthread_mutex_unlock(&j->smu);
			pthread_mutex_unlock(&j->mu);
			return poisoned_error(j);
		}
		p += w;
		left -= (size_t)w;
		off += (uint64_t)w;
	}
	uint64_t first = j->next_seq;
	j->next_seq += count;
	j->seg_bytes += flen;
	j->seg_frames++;
	j->chain = sum;
	j->raw_since_reset = (reset ? 0 : j->raw_since_reset) + raw_len;
	j->need_reset = 0;
	uint64_t last = j->next_seq - 1;
	pthread_mutex_lock(&j->smu);
	j->written_seq = last;
	pthread_mutex_unlock(&j->smu);
	pthread_mutex_unlock(&j->mu);

	if (j->opts.durability == WF_DURABILITY_ALWAYS &&
	    (rc = sync_upto(j, last)) < 0)
		return rc;
	wf_batch_clear(b);
	if (first_seq)
		*first_seq = first;
	return 0;
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
			} else {
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
		if (rc == 1) {
			set_err(j, "%s: offset %" PRIu64 ": %s; intact frames follow "
			        "at offset %" PRIu64 ", so this is corruption, not a "
			        "torn write", j->seg_path, pos, why, next);
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
		rc = j->io->ftruncate(j->io->ctx, j->fd, pos);
		if (rc == 0 && durable(j))
			rc = j->io->fsync(j->io->ctx, j->fd);
		if (rc < 0) {
			set_err(j, "cannot cut the torn tail of %s at offset %" PRIu64
			        ": %s", j->seg_path, pos, strerror(-rc));
			wf_scan_free(&s);
			return WF_EIO;
		}
		j->open_stats.torn = 1;
		report(j, j->seg_path, pos, cut, 1, why);
	}
	wf_scan_free(&s);
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
		j->sync_fd = fd;
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
	if ((rc = wf_seg_create(j->io, j->dir, &h, durable(j), &j->fd,
	                        &j->seg_path, j->errmsg,
	                        sizeof j->errmsg)) < 0)
		return rc;
	j->sync_fd = j->fd;
	j->seg_bytes = WF_SEG_HEADER_SIZE;
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
	j->need_reset = 1;
	j->written_seq = j->synced_seq = j->next_seq - 1;
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
	pthread_mutex_init(&j->smu, NULL);
	pthread_cond_init(&j->scond, NULL);
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
		pthread_mutex_lock(&j->smu);
		j->stop = 1;
		pthread_cond_signal(&j->bcond);
		pthread_mutex_unlock(&j->smu);
		pthread_join(j->bthread, NULL);
	}
	if (j->fd >= 0 && j->cctx && durable(j) && !atomic_load(&j->poisoned))
		rc = wf_journal_sync(j);
	if (j->fd >= 0)
		j->io->close(j->io->ctx, j->fd);
	if (j->lock_fd >= 0)
		j->io->close(j->io->ctx, j->lock_fd); /* releases the flock */
	ZSTD_freeCCtx(j->cctx);
	pthread_mutex_destroy(&j->mu);
	pthread_mutex_destroy(&j->smu);
	pthread_cond_destroy(&j->scond);
	pthread_cond_destroy(&j->bcond);
	free(j->fbuf);
	free(j->seg_path);
	free(j->dir);
	free(j);
	return rc;
}
