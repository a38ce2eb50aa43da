/*
 * The journal: a directory of segment files holding an append-only,
 * checksummed, zstd-compressed sequence of typed events.
 *
 * It knows nothing about workflows. An event is a type number, a sequence
 * number (assigned at commit, 1, 2, 3, ... without gaps), a wall-clock time
 * in nanoseconds, and up to WF_EVENT_MAX_FIELDS positional, self-describing
 * fields (unsigned or signed integers, text, JSON text). What the types and
 * fields mean is the business of replay/.
 *
 * On-disk format, commit protocol and recovery are described in format.h
 * and at the top of journal.c. This header is internal to libwflow (the
 * tools link the static library); it is not installed.
 *
 * Threads: a wf_journal may be used from many threads at once (commits are
 * serialized internally and share fsyncs: group commit). A wf_batch and a
 * wf_reader belong to one thread at a time.
 */
#ifndef WF_JOURNAL_H
#define WF_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "io.h"
#include "wflow.h"

/* ---- events ----------------------------------------------------------- */

/** Most fields an event can carry. */
#define WF_EVENT_MAX_FIELDS 16

/**
 * Type bit meaning "a reader that does not know this type may skip it"
 * (RocksDB's safe-ignore). A type without it that a reader does not know
 * must stop the reader: it was written by a newer wflow and skipping it
 * would fold a wrong state.
 */
#define WF_EVENT_SAFE_IGNORE 0x8000u

/** Kinds of field value; the kind is stored with each field. */
typedef enum wf_field_kind {
	WF_FIELD_UINT = 0, /**< u: unsigned 64-bit integer */
	WF_FIELD_INT = 1,  /**< i: signed 64-bit integer */
	WF_FIELD_TEXT = 2, /**< s: bytes (usually UTF-8 text, e.g. an id) */
	WF_FIELD_JSON = 3, /**< s: JSON text, stored and returned as text */
} wf_field_kind;

typedef struct wf_field {
	uint8_t kind; /**< a wf_field_kind */
	union {
		uint64_t u;
		int64_t i;
		struct {
			const char *ptr; /**< not NUL-terminated */
			size_t len;
		} s;
	} v;
} wf_field;

typedef struct wf_event {
	uint64_t seq;     /**< assigned at commit; ignored by wf_batch_add */
	int64_t time_ns;  /**< wall clock, ns since the epoch; 0 = now */
	uint16_t type;    /**< caller-defined, may carry WF_EVENT_SAFE_IGNORE */
	uint16_t opaque;  /**< set by the reader: body uses an encoding this
	                       version cannot decode; nfields is 0 (only possible
	                       for SAFE_IGNORE types, otherwise an error) */
	uint32_t nfields;
	wf_field fields[WF_EVENT_MAX_FIELDS];
} wf_event;

/* Helpers to fill a field (for writers). Text is borrowed until the event
 * is added to a batch, which copies it. */
static inline wf_field wf_field_u(uint64_t u)
{
	wf_field f;
	f.kind = WF_FIELD_UINT;
	f.v.u = u;
	return f;
}
static inline wf_field wf_field_i(int64_t i)
{
	wf_field f;
	f.kind = WF_FIELD_INT;
	f.v.i = i;
	return f;
}
static inline wf_field wf_field_text(const char *p, size_t n)
{
	wf_field f;
	f.kind = WF_FIELD_TEXT;
	f.v.s.ptr = p;
	f.v.s.len = n;
	return f;
}
static inline wf_field wf_field_json(const char *p, size_t n)
{
	wf_field f;
	f.kind = WF_FIELD_JSON;
	f.v.s.ptr = p;
	f.v.s.len = n;
	return f;
}

/* ---- options ------------------------------------------------------------ */

/** When a commit is durable. */
typedef enum wf_durability {
	/** Default. wf_journal_commit returns only after fdatasync covered the
	 * commit. Concurrent committers share one fdatasync (group commit).
	 * Cost: one fdatasync per group (about 250 us on these machines). */
	WF_DURABILITY_ALWAYS = 0,
	/** A background thread fdatasyncs every batch_interval_ms. A crash
	 * (of the machine, not the process) loses at most that window. */
	WF_DURABILITY_BATCH = 1,
	/** No fsync for commits (only when a segment is created or rolled
	 * over, when a torn tail is cut at open, and at close: a few per
	 * segment). Data reaches the OS at commit (a process crash loses
	 * nothing); a machine crash may lose any suffix, unless
	 * wf_journal_sync or the close covered it. */
	WF_DURABILITY_NONE = 2,
} wf_durability;

/** What open does with damage (RocksDB's WAL recovery modes, three of). */
typedef enum wf_recovery {
	/** Default. An incomplete or checksum-failing last frame of the last
	 * segment, with no valid frame after it, is a torn write: the writer
	 * cuts it off and reports it (on_damage, torn=1); a reader stops
	 * before it. So is damage in the last segment with valid frames after
	 * it when it lies past the writer's sync mark (format.h): a crash
	 * wrote unsynced frames out of order; all from the damage on is cut.
	 * Damage anywhere else is corruption: WF_ECORRUPT naming file and
	 * byte offset. Nothing is silently dropped. */
	WF_RECOVER_TOLERATE_TAIL = 0,
	/** Any damage, a torn tail included, fails with WF_ECORRUPT. For
	 * journals that must be intact (e.g. after a clean close). */
	WF_RECOVER_ABSOLUTE = 1,
	/** Audit only (readers; a writer refuses it): skip each damaged range,
	 * report it through on_damage, and go on with the next intact frame
	 * that starts a compression block. Events are lost; never use it to
	 * rebuild state you then continue writing. */
	WF_RECOVER_SALVAGE = 2,
} wf_recovery;

/** A damaged range found while opening or reading. Borrowed for the call. */
typedef struct wf_damage {
	const char *file;  /**< segment path */
	uint64_t offset;   /**< byte offset of the damage in that file */
	uint64_t length;   /**< bytes skipped or cut (0 if unknown) */
	int torn;          /**< 1: torn tail (expected after a crash) */
	const char *what;  /**< e.g. "frame checksum mismatch" */
} wf_damage;

typedef void (*wf_damage_fn)(void *ud, const wf_damage *d);

typedef struct wf_journal_opts {
	unsigned version;              /**< WF_JOURNAL_OPTS_VERSION */
	wf_durability durability;
	unsigned batch_interval_ms;    /**< for WF_DURABILITY_BATCH */
	wf_recovery recovery;          /**< tolerate-tail or absolute */
	uint64_t segment_size;         /**< roll over at this size (bytes) */
	int compression_level;         /**< zstd level */
	const wf_io *io;               /**< NULL: wf_io_posix() */
	wf_damage_fn on_damage;        /**< optional report of torn tails */
	void *damage_ud;
	/** 1: the caller reads every event with a wf_reader after the open
	 *  and before its first append (the engine does), so the open checks
	 *  the last segment's checksums, chain and sequence numbers but does
	 *  not decompress its payloads a second time: a payload that does not
	 *  decode then fails the caller's replay, before anything follows it.
	 *  0 (default): the open decodes them too. */
	int replay_follows;
} wf_journal_opts;

#define WF_JOURNAL_OPTS_VERSION 1
#define WF_JOURNAL_OPTS_INIT                                                  \
	{ WF_JOURNAL_OPTS_VERSION, WF_DURABILITY_ALWAYS, 10,                      \
	  WF_RECOVER_TOLERATE_TAIL, (uint64_t)64 << 20, -1, NULL, NULL, NULL, 0 }

typedef struct wf_reader_opts {
	unsigned version;       /**< WF_READER_OPTS_VERSION */
	wf_recovery recovery;
	const wf_io *io;        /**< NULL: wf_io_posix() */
	wf_damage_fn on_damage; /**< every damaged range, torn tail included */
	void *damage_ud;
	int verify_json;        /**< 1: parse JSON fields, bad JSON = damage */
	/** Version 2. 1: a thread of the reader's reads, checks and
	 *  decompresses frames ahead (up to 1024 frames; small ones into a
	 *  1 MiB arena, larger ones up to about 4 MiB ahead) while
	 *  wf_reader_next decodes events on the caller's thread: for full
	 *  replays on two cores or more. Nothing else changes: the same
	 *  events, codes, messages, stats and on_damage reports (called on
	 *  the caller's thread, inside wf_reader_next), in the same order; an
	 *  end for now is looked at again at the call that returns it. The
	 *  wf_io table (io) is then also called from that thread, one call at
	 *  a time: it must allow that. Costs a thread and about 1.3 MiB; if
	 *  the thread cannot be started the reader reads synchronously.
	 *  0: default. */
	int readahead;
} wf_reader_opts;

/* Version 1 ended before readahead (and is still accepted). */
#define WF_READER_OPTS_VERSION 2
#define WF_READER_OPTS_INIT                                                   \
	{ WF_READER_OPTS_VERSION, WF_RECOVER_TOLERATE_TAIL, NULL, NULL, NULL, 0,  \
	  0 }

/** Counters of what a reader (or a writer's open) has gone through. */
typedef struct wf_journal_stats {
	uint64_t segments;
	uint64_t frames;
	uint64_t events;
	uint64_t bytes_raw;     /**< uncompressed event bytes */
	uint64_t bytes_disk;    /**< segment bytes read, headers included */
	uint64_t damaged;       /**< damaged ranges, torn tail excluded */
	uint64_t torn;          /**< torn tails seen (0 or 1) */
	uint64_t first_seq;     /**< first event seen (0 if none) */
	uint64_t last_seq;      /**< last event seen (0 if none) */
} wf_journal_stats;

/* ---- batches: a pending commit ------------------------------------------ */

typedef struct wf_batch wf_batch;

/** @param out receives the batch; free with wf_batch_free. */
int wf_batch_new(wf_batch **out);
void wf_batch_free(wf_batch *b);
/** Forget the batch's events (keeps its memory for reuse). */
void wf_batch_clear(wf_batch *b);
/** @return how many events the batch holds. */
uint32_t wf_batch_count(const wf_batch *b);
/** @return encoded size of the batch's events in bytes. */
size_t wf_batch_size(const wf_batch *b);

/**
 * Encode ev into the batch (the batch copies all bytes; ev is not kept).
 * ev->seq is ignored; ev->time_ns 0 means "now".
 * @return 0, WF_EINVAL (more than WF_EVENT_MAX_FIELDS fields, unknown
 *         field kind), WF_ENOMEM.
 */
int wf_batch_add(wf_batch *b, const wf_event *ev);

/**
 * Add an event whose body is given already encoded. For tests that play a
 * newer writer (an unknown field kind); not for ordinary use.
 */
int wf_batch_add_raw(wf_batch *b, uint16_t type, int64_t time_ns,
                     const void *body, size_t len);

/* ---- the writer ----------------------------------------------------------- */

typedef struct wf_journal wf_journal;

/**
 * Open (or create) the journal in directory dir, as its only writer.
 * Creates dir if missing (its parent must exist). Takes dir/LOCK.
 * Recovers per opts->recovery: a torn tail is cut and reported.
 * @param out receives the handle; on failure *out is set to a handle
 *        holding only the error message (read it with wf_journal_errmsg,
 *        then wf_journal_close it), or NULL when out of memory.
 * @param opts NULL for WF_JOURNAL_OPTS_INIT.
 * @return 0, WF_EBUSY (another writer holds the lock), WF_ECORRUPT,
 *         WF_EINCOMPAT, WF_EIO, WF_EINVAL, WF_ENOMEM.
 */
int wf_journal_open(wf_journal **out, const char *dir,
                    const wf_journal_opts *opts);

/**
 * Commit b's events as one frame. They get consecutive sequence numbers.
 * Returns after the commit is durable per the journal's durability.
 * On success the batch is cleared. On failure nothing is acknowledged
 * (the events may or may not be on disk: never assume either).
 * @param first_seq if not NULL, receives the first event's sequence number;
 *        on failure too if the commit got sequence numbers (its frame was
 *        written, or a write of it failed), else 0: the caller that orders
 *        commits by sequence number must account for those too.
 * @return 0, WF_EINVAL (empty batch), WF_EIO (write or fsync failed now or
 *         earlier: the handle is poisoned), WF_ENOMEM.
 */
int wf_journal_commit(wf_journal *j, wf_batch *b, uint64_t *first_seq);

/** wf_journal_commit_flags: do not wait for (or ask for) an fdatasync.
 * The commit is written before the call returns and becomes durable with
 * the next synced commit (which is after it in the file), or at close.
 * For records whose loss in a machine crash costs only information, never
 * correctness (e.g. "step started": a step that was not recorded as
 * started is simply run again). */
#define WF_COMMIT_NOSYNC 1u

/** wf_journal_commit with flags (WF_COMMIT_*). */
int wf_journal_commit_flags(wf_journal *j, wf_batch *b, uint64_t *first_seq,
                            unsigned flags);

/** fdatasync whatever is written now (for DURABILITY_BATCH/NONE callers). */
int wf_journal_sync(wf_journal *j);

/** @return the sequence number the next commit will get. */
uint64_t wf_journal_next_seq(wf_journal *j);

/** @return the journal's random id (its checksum seed). */
uint64_t wf_journal_id(const wf_journal *j);

/** What the open found (segments, torn tail...). */
void wf_journal_open_stats(const wf_journal *j, wf_journal_stats *out);

/** @return message of the last failure (borrowed, valid until the next
 *          call on j). Never NULL. */
const char *wf_journal_errmsg(const wf_journal *j);

/** The last error message, copied under the journal's lock: for a
 *  committer whose commit failed while others commit (and may set it). */
void wf_journal_errmsg_copy(wf_journal *j, char *buf, size_t len);

/**
 * Retirement: deleting the oldest segments once something else (the
 * engine's snapshots) holds what they meant. Never done by the journal
 * on its own. A reader of what is left sees a journal that starts at a
 * later sequence number; only whole segments go, oldest first, so what
 * remains is always a suffix.
 */
typedef struct wf_retire_plan {
	uint64_t segments;  /**< how many would go (0: none) */
	uint64_t first_seq; /**< the first event of the oldest */
	uint64_t last_seq;  /**< the last event of the newest */
	uint64_t bytes;     /**< their size on disk */
} wf_retire_plan;

/**
 * Which segments could go: the oldest ones, as long as the next segment
 * starts at or before event upto (upto stays in the journal) and its
 * first event is older than before_ns (ns since the epoch: each of a
 * segment's events is then older too, as far as clocks go forward). The
 * segment being written never goes.
 * @return 0 or WF_E* (out->segments is then how far it got).
 */
int wf_journal_retire_plan(wf_journal *j, uint64_t upto, int64_t before_ns,
                           wf_retire_plan *out);

/**
 * Delete the segments p names (those still there), oldest first, then
 * fsync the directory. A reader that has a segment open keeps reading
 * it. @param done receives how many were deleted.
 * @return 0, WF_EIO (the first file that could not be deleted, and the
 *         ones after it, stay), WF_ENOMEM.
 */
int wf_journal_retire(wf_journal *j, const wf_retire_plan *p,
                      uint64_t *done);

/** Sync (under every durability, none included), release the lock, free.
 * NULL is fine.
 * @return 0 or the error of the final sync. */
int wf_journal_close(wf_journal *j);

/* ---- readers ------------------------------------------------------------- */

typedef struct wf_reader wf_reader;

/**
 * Open dir for reading, without the lock: works while a writer appends,
 * and on read-only media. Sees whole frames only.
 * @param out as for wf_journal_open (a handle with the message on failure).
 * @return 0, WF_ENOTFOUND (no such directory), WF_ECORRUPT, WF_EINCOMPAT,
 *         WF_EIO, WF_ENOMEM.
 */
int wf_reader_open(wf_reader **out, const char *dir,
                   const wf_reader_opts *opts);

/**
 * Position so that the next event returned has the smallest sequence
 * number >= seq.
 */
int wf_reader_seek(wf_reader *r, uint64_t seq);

/**
 * The next event.
 * @param ev receives a view borrowed from the reader: valid until the next
 *        call on r. Text points into the reader's buffers.
 * @return 1 (an event), 0 (the end, for now: a later call returns events
 *         a writer has appended since), or a negative WF_E* code
 *         (WF_ECORRUPT with file and offset in wf_reader_errmsg).
 */
int wf_reader_next(wf_reader *r, const wf_event **ev);

void wf_reader_stats(const wf_reader *r, wf_journal_stats *out);
uint64_t wf_reader_journal_id(const wf_reader *r);
const char *wf_reader_errmsg(const wf_reader *r);
void wf_reader_close(wf_reader *r);

#endif
