/*
 * The fold: the one function from journal events to workflow state, used
 * by the live engine (which applies each event it appends, exactly as
 * replay does) and by the offline tools (which replay a journal
 * directory). Pure: no I/O, no clocks, no threads; the caller serializes
 * access to a wf_fold.
 *
 * State folded per workflow: id, user metadata, status as journaled, the
 * session of its last attempt, its attempts (start, end, cause, outcome),
 * its steps (from the DAG and continuations: name, function, options,
 * user metadata, arguments, dependencies), per step its attempts and
 * checkpointed output, the per-workflow name counter (for step ids), and
 * the output.
 */
#ifndef WF_REPLAY_FOLD_H
#define WF_REPLAY_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "journal/journal.h"
#include "replay/events.h"
#include "wflow.h"

#include "replay/map.h"

typedef struct wf_fold wf_fold;

/* ---- the folded state (read by the engine under its lock; written only
 * by wf_fold_apply) ---- */

/** One try of a step, or one attempt (run/resume) of a workflow. */
typedef struct wf_fattempt {
	int run;          /* workflow attempt number (steps) */
	int n;            /* try number within the run (steps), attempt (wfs) */
	int64_t start_ns; /* 0: unknown */
	int64_t end_ns;   /* 0: not ended */
	const char *cause;   /* workflows: "run", "resume", and for actors
	                        "create", "call" (static) */
	const char *outcome; /* "SUCCEEDED", "FAILED", ... (static) or NULL */
	char *error;      /* failure text, or NULL */
} wf_fattempt;

enum { WF_FSTEP_PENDING = 0, WF_FSTEP_RUNNING, WF_FSTEP_SUCCEEDED,
       WF_FSTEP_FAILED };

/** A step argument: a JSON value, or another step's output. */
typedef struct wf_farg {
	const char *step;  /* step id, or NULL */
	const char *value; /* JSON text of the value when step is NULL */
} wf_farg;

/* A workflow's steps, strings, args, attempts and outputs all live in its
 * arena, freed with the workflow (memory grows with workflows, steps and
 * attempts; never with events). */
typedef struct wf_fstep {
	const char *id, *name, *fn;
	const char *step_type;
	int max_retries, catch_exceptions, checkpoint;
	const char *user_metadata; /* JSON text of an object */
	wf_farg *args;
	size_t nargs;
	int state;
	uint32_t id_len;    /* strlen(id): a lookup compares it first */
	int64_t start_ns, end_ns;
	wf_fattempt *att;
	size_t natt, catt;
	int has_output;
	char *output;       /* JSON text, when checkpointed */
	const char *cont;   /* a continuation: the step whose output is ours */
} wf_fstep;

typedef struct wf_arena_block wf_arena_block;
typedef struct wf_slab wf_slab;

/*
 * A finished workflow (SUCCESSFUL, FAILED or CANCELED; not an actor) is
 * frozen: its steps, attempts and strings are packed into one compact
 * block (blob) and its arena is given back, so that a replay's memory is
 * mostly the blocks of finished workflows (a few hundred bytes each)
 * instead of their arenas. A frozen workflow has only id, status, session,
 * start_ns, end_ns, nsteps, natt and actor_class; wf_fold_get thaws it
 * (back to the full structs, its strings pointing into the block) before
 * returning it, and apply thaws it before changing it.
 */
typedef struct wf_fwf {
	char *id;            /* stored after the struct: never moves */
	char *user_metadata; /* JSON text of an object */
	int status;          /* as journaled: RUNNING, FAILED, CANCELED,
	                        SUCCESSFUL, or NONE before the first attempt */
	const char *session; /* session of the last attempt (interned) */
	int64_t start_ns, end_ns;
	wf_fattempt *att;
	size_t natt, catt;
	wf_arena_block *arena; /* the steps' strings, args and structs */
	wf_slab *slab;         /* the fold's, where arena blocks come from */
	size_t arena_hint;     /* size of the next arena block */
	wf_map steps;        /* id -> wf_fstep, once there are many steps */
	wf_map names;        /* base name -> steps using it (intptr_t), once
	                        there are many steps: the name counter */
	size_t names_counted; /* steps counted in names */
	size_t step_hint;    /* where the last step looked up is in order */
	wf_fstep **order;    /* steps in the order they were added */
	size_t nsteps, corder;
	const char *output_step;
	char *output;        /* JSON text, once SUCCESSFUL */
	const char *actor_class; /* a virtual actor's class, or NULL */
	cJSON *actor_state;      /* and its state (owned by the fold) */
	unsigned char *blob;     /* the packed form (see above), or NULL */
	size_t blob_len, blob_cap;
	int frozen;              /* 1: only the fields named above are valid */
} wf_fwf;

/** The step id of workflow w, or NULL. */
const wf_fstep *wf_fold_step(const wf_fwf *w, const char *id);

/** The folded workflow id (thawed if it was frozen), or NULL. Borrowed
 *  until the next apply. The fold is changed by a thaw: the caller
 *  serializes this call as it does wf_fold_apply. */
const wf_fwf *wf_fold_get(const wf_fold *f, const char *id);

/** wf_fold_get, telling why there is none. @return 0 (*w is the
 *  workflow), WF_ENOTFOUND, or WF_ENOMEM or WF_ECORRUPT: it exists, but
 *  thawing it failed (out of memory; a damaged block). */
int wf_fold_find(const wf_fold *f, const char *id, const wf_fwf **w);

/** Iterate the workflows (unordered). They may be frozen: read only the
 *  fields a frozen workflow has (see wf_fwf), or wf_fold_get it. The
 *  first call (*i == 0) reads what a lazy restore left unread; if that
 *  fails, the iteration ends there: call wf_fold_read_all first to know. */
int wf_fold_next(const wf_fold *f, size_t *i, const wf_fwf **wf);

/** Derived status of a folded workflow (RESUMABLE included). */
wf_status wf_fold_wf_status(const wf_fold *f, const wf_fwf *w);

/**
 * The next step id for base name in workflow w ("name", "name_1", ...),
 * as the engine assigns ids: written to buf. Does not reserve it: the
 * fold counts a name when the event that adds the step is applied.
 * @param extra uses not yet applied (ids assigned in the same DAG).
 */
void wf_fold_next_id(const wf_fwf *w, const char *base, int extra,
                     char *buf, size_t len);

int wf_fold_new(wf_fold **out);

/** Freeze finished workflows (1, the default) or not (0: tests compare
 *  the two). */
void wf_fold_set_freezing(wf_fold *f, int on);

/**
 * While on (1), memory for the fold's workflows (and for the snapshot
 * blocks it reads) is populated ahead, on a thread of the fold's own, so
 * that a long fold does not wait for the kernel to zero its pages: on the
 * VMs wflow is measured on, 7% of a replay's CPU on its thread, and half
 * or more of the time reading a large snapshot's blocks takes. The thread
 * starts only once the fold has needed a second 4 MiB chunk, and keeps up
 * to four ready; it stops at 0 (which joins it) or at wf_fold_free. Calls
 * to the fold still come from one thread at a time.
 */
void wf_fold_populate_ahead(wf_fold *f, int on);

/** How many of the fold's 4 MiB chunks that thread has populated. */
size_t wf_fold_populated_ahead(const wf_fold *f);

/**
 * Fold only workflow id from now on (the events and snapshot records of
 * the others are skipped; sessions are still followed): what `wflow meta`
 * needs of a long journal. NULL: every workflow. @return 0 or WF_ENOMEM.
 */
int wf_fold_set_only(wf_fold *f, const char *id);
void wf_fold_free(wf_fold *f);

/**
 * 1 if wf_fold_apply(f, ev) would change nothing but the last sequence
 * number and could not fail: a notice, a type this version skips, or
 * (with wf_fold_set_only, on a fold not restored lazily) another
 * workflow's event. Changes nothing: a fold used only to ask this may be
 * shared by threads.
 */
int wf_fold_ignores(const wf_fold *f, const wf_event *ev);

/**
 * Apply one event. Types this version does not know are skipped when they
 * carry WF_EVENT_SAFE_IGNORE, and refused (WF_EINCOMPAT) otherwise.
 * An event that contradicts the state (a step end without a start, an
 * unknown workflow) is WF_ECORRUPT. On failure err says what, with the
 * event's sequence number, and the state is unchanged.
 */
int wf_fold_apply(wf_fold *f, const wf_event *ev, char *err, size_t errlen);

/**
 * The engine session that is alive now (the engine's own), or NULL (the
 * offline tools when no engine holds the journal). A workflow whose
 * journaled status is RUNNING and whose last attempt belongs to another
 * session is RESUMABLE.
 */
int wf_fold_set_live_session(wf_fold *f, const char *session);

/** Status of a workflow as get_status reports it (NONE if unknown). */
wf_status wf_fold_status(const wf_fold *f, const char *id);

/**
 * get_metadata's answer (see wflow.h), as of the events folded so far.
 * @return 0, WF_ENOTFOUND (err: "No such workflow_id <id>" or "No such
 *         step_id <step> in workflow <id>"), WF_ENOMEM.
 */
int wf_fold_metadata(const wf_fold *f, const char *id, const char *step,
                     cJSON **out, char *err, size_t errlen);

/**
 * [{"workflow_id", "status", "start_time", "end_time", "steps",
 *   "attempts"}, ...] sorted by id, for statuses in mask (WF_STATUS_BIT).
 * After a lazy restore whose pager knows the records' statuses, only the
 * blocks that may hold a record of such a status are read (a list of the
 * RUNNING and RESUMABLE ones reads few); else every block.
 */
int wf_fold_list(const wf_fold *f, unsigned mask, cJSON **out);

/** One workflow of wf_fold_list, as the fold has it (times 0: unknown;
 *  id borrowed from the fold). */
typedef struct wf_fold_row {
	const char *id;
	wf_status status;
	int64_t start_ns, end_ns;
	size_t steps, attempts;
} wf_fold_row;

/** wf_fold_list's rows without building JSON (wflow ls: a JSON object
 *  per workflow is most of its time and memory on a long journal):
 *  *out malloc'd, *n of them, sorted by id. @return as wf_fold_list. */
int wf_fold_rows(const wf_fold *f, unsigned mask, wf_fold_row **out,
                 size_t *n);

/** One row as wf_fold_list gives it (an object; NULL: out of memory). */
cJSON *wf_fold_row_json(const wf_fold_row *r);

/**
 * The fold's whole state as bytes (for a snapshot): *out (malloc'd) and
 * *len. Frozen workflows are copied as they are, the others packed.
 * @return 0 or WF_ENOMEM.
 */
int wf_fold_save(wf_fold *f, uint8_t **out, size_t *len);

/** Where wf_fold_save_recs put a workflow's record. */
typedef struct wf_fold_rec {
	uint64_t off;     /* byte offset of the record in the payload */
	uint32_t id_hash; /* wf_fold_id_hash of its id */
	uint8_t status;   /* its status as journaled (wf_fwf.status) */
} wf_fold_rec;

/** A frozen workflow's block that a save left where it is: its len bytes
 *  at p belong at offset off of the payload, that is, at offset raw of
 *  the save's *out (before what is there). */
typedef struct wf_fold_ref {
	uint64_t off, raw;
	const uint8_t *p;
	size_t len;
} wf_fold_ref;

/** The references of one save, ascending (v malloc'd). */
typedef struct wf_fold_refs {
	wf_fold_ref *v;
	size_t n;
} wf_fold_refs;

/**
 * wf_fold_save, also telling where each workflow's record starts (*recs,
 * malloc'd, *nrecs of them, in payload order): the records are back to
 * back from the first one's offset to the end, and the bytes before it
 * are the header, whose last field is the record count (a varint). A
 * snapshot stores them in blocks, so that one workflow's record can be
 * found and read alone (wflow meta).
 *
 * refs NULL: *out is the payload (*len bytes). Else frozen workflows'
 * blocks (the finished ones: most of the state) are not copied but
 * referenced in *refs, and *out holds the rest: the payload is *out with
 * each reference's bytes inserted (its length, *len plus theirs; the
 * offsets in *recs are the payload's). The save is then a fraction of a
 * copy's time, for a caller that takes the state under a lock and writes
 * it outside. While refs->n > 0 the fold keeps the referenced blocks as
 * they are (a workflow changed or dropped meanwhile gives its old block
 * back later): the caller calls wf_fold_unpin, as it would change the
 * fold, once it no longer reads them.
 */
int wf_fold_save_recs(wf_fold *f, uint8_t **out, size_t *len,
                      wf_fold_rec **recs, size_t *nrecs, wf_fold_refs *refs);

/** Release one save's references (see wf_fold_save_recs). */
void wf_fold_unpin(wf_fold *f);

/** The hash of a workflow id that wf_fold_rec carries. */
uint32_t wf_fold_id_hash(const char *id);

/** The workflow wf_fold_set_only named, or NULL. */
const char *wf_fold_only(const wf_fold *f);

/**
 * Restore a new, empty fold from wf_fold_save's bytes: the same answers as
 * the fold that was saved (workflows come back frozen, their blocks left
 * in p). Takes p (malloc'd; freed with the fold), also on failure, and
 * only once per fold. On failure the fold is in an unspecified state:
 * free it.
 * @return 0, WF_ECORRUPT (err: what is malformed), WF_ENOMEM.
 */
int wf_fold_restore(wf_fold *f, uint8_t *p, size_t len, char *err,
                    size_t errlen);

/**
 * Where a lazily restored fold finds the records it has not read yet (a
 * snapshot's blocks: snapshot.c). The records are in blocks 0..nblocks-1,
 * ordered by the hash of their id (wf_fold_id_hash), ascending: block b
 * holds records first[b] .. first[b + 1] - 1, and hashes (nrecs u32,
 * little-endian) their hashes. All of it is the pager's, alive until
 * release.
 */
#define WF_FOLD_STATUS_UNKNOWN 0xff

typedef struct wf_fold_pager {
	size_t nblocks;
	const uint64_t *first;   /* nblocks + 1 entries; first[nblocks] is nrecs */
	const uint8_t *hashes;
	/** NULL, or each record's status as journaled (wf_fold_rec.status;
	 *  WF_FOLD_STATUS_UNKNOWN: not known), so that a list of some
	 *  statuses reads only the blocks that may hold one. */
	const uint8_t *statuses;
	uint64_t nrecs;
	/** Block b's records (wf_fold_save's bytes for them), in *raw from
	 *  alloc(actx, bytes) (NULL: out of memory), which the fold keeps
	 *  (and frees) whatever the outcome. @return 0, WF_ENOMEM,
	 *  WF_ECORRUPT or WF_EIO (why: which block, and what is wrong). */
	int (*read)(void *ctx, size_t b, uint8_t *(*alloc)(void *actx, size_t n),
	            void *actx, uint8_t **raw, size_t *len, char *why,
	            size_t whylen);
	/** Fold the journal's events up to seq upto into f (wf_fold_apply):
	 *  how the records of an unreadable block are rebuilt. NULL: none
	 *  can be. @return 0 or a WF_E* code (err). */
	int (*replay)(void *ctx, wf_fold *f, uint64_t upto, char *err,
	              size_t errlen);
	void (*release)(void *ctx);
	void *ctx;
} wf_fold_pager;

/**
 * wf_fold_restore of the payload's header alone (head: wf_fold_save's
 * bytes up to and including the record count), the records left where
 * pg finds them: each is read (its whole block) when a lookup first asks
 * for its id, and all are before anything iterates the workflows
 * (wf_fold_next, a save); a list reads the blocks that may hold what it
 * lists (wf_fold_list). A block that cannot be read or does not unpack
 * is rebuilt from the journal (pg->replay, filtered to the ids whose
 * hashes the block holds), so that the answers stay a full replay's; if
 * that fails too, the lookups that need it fail (WF_ECORRUPT). Takes head
 * (also on failure) and pg (pg->release is called when the fold no longer
 * needs it, also on failure).
 * @return 0, WF_ECORRUPT (err), WF_ENOMEM.
 */
int wf_fold_restore_lazy(wf_fold *f, uint8_t *head, size_t len,
                         const wf_fold_pager *pg, char *err, size_t errlen);

/**
 * wf_fold_save_recs, leaving a lazy restore's unread blocks unread, for a
 * snapshot writer that copies them as they are stored (snapshot.c): *out
 * holds the header (its record count counts their records too; its
 * sessions start with the restored snapshot's, in its order, so their
 * records' session numbers still hold) and the records in memory, *recs
 * those records' offsets and hashes. *blocks (malloc'd, ascending) and
 * *nblocks are the blocks left, each to go whole where its hashes fall
 * among the records; blocks whose hash range held a record in memory are
 * read first. *pg is the pager they are read from (valid while f is).
 * Not lazy, nothing unread, or a block that cannot be read: *nblocks is
 * 0 and this is wf_fold_save_recs. A pager that does not know the
 * records' statuses (an older snapshot's) has every block read first,
 * once, so that the save knows them all. refs: as there.
 * @return 0, WF_ENOMEM, or what wf_fold_save_recs returns.
 */
int wf_fold_save_unread(wf_fold *f, uint8_t **out, size_t *len,
                        wf_fold_rec **recs, size_t *nrecs, size_t **blocks,
                        size_t *nblocks, const wf_fold_pager **pg,
                        wf_fold_refs *refs);

/** Read every record a lazy restore left unread (see above); what
 *  wf_fold_next and a save do first. @return 0 or a WF_E* code (err). */
int wf_fold_read_all(wf_fold *f, char *err, size_t errlen);

/** Records of a lazy restore not read yet (0: none, or not lazy). */
uint64_t wf_fold_unread(const wf_fold *f);

/** The session of the last session_started folded, or NULL. */
const char *wf_fold_last_session(const wf_fold *f);

/** Sequence number of the last event applied (0 if none). */
uint64_t wf_fold_last_seq(const wf_fold *f);

/** The latest wall-clock time of the events applied (0 if none; events
 *  a one-workflow fold passed over, wf_fold_passed, are not counted), as
 *  saved and restored with the state; INT64_MAX if unknown (restored
 *  from a save of before it was kept). A point in time at or after it
 *  comes after every event folded. */
int64_t wf_fold_max_time(const wf_fold *f);

/** Events up to seq were read, and those not applied were ones
 * wf_fold_ignores: the last sequence number is seq. */
void wf_fold_passed(wf_fold *f, uint64_t seq);

/** 1 if a writer (an engine) holds the journal in dir (its LOCK) now.
 *  Takes a shared lock for an instant: never blocks, never stays. */
int wf_journal_writer_alive(const char *dir);

/**
 * Replay a journal directory (an engine directory holding journal/, or a
 * journal directory) into a new fold, read-only, without the writer lock.
 * The live session is the last session_started if an engine holds the
 * journal now, else none.
 * @return 0 or a WF_E* code; err says what (file and offset, or seq).
 */
int wf_fold_load_dir(wf_fold **out, const char *dir, char *err,
                     size_t errlen);

/**
 * wf_fold_load_dir folding only workflow id (see wf_fold_set_only). When
 * 32 MiB or more of journal are to be replayed, the journal is read in
 * parts at once, one per core (load.c); the answer is the same.
 */
int wf_fold_load_dir_only(wf_fold **out, const char *dir, const char *id,
                          char *err, size_t errlen);

/** wf_fold_load_dir_only reading in up to nparts parts (at most 8; 1: one
 * pass) once min_bytes of segments are to be read; *used receives how
 * many parts were read at once (1: one pass). For tests. */
int wf_fold_load_dir_parts(wf_fold **out, const char *dir, const char *id,
                           int nparts, uint64_t min_bytes, int *used,
                           char *err, size_t errlen);

/** A point of a journal's history: after event seq (is_time 0), or
 *  before the first event whose time is after time_ns (is_time 1). */
typedef struct wf_fold_at {
	int is_time;
	uint64_t seq;
	int64_t time_ns;
} wf_fold_at;

/**
 * The fold of workflow id (NULL: all) as it was at point at: what
 * get_metadata said then (wflow meta --at). For a sequence number, a
 * snapshot that ends by then is used; the journal is read in up to nparts
 * parts as wf_fold_load_dir_parts does (for a time, parts past it stop at
 * their first event after it). The live session is the last one started
 * by then (an engine was running).
 */
int wf_fold_load_dir_at(wf_fold **out, const char *dir, const char *id,
                        const wf_fold_at *at, int nparts, uint64_t min_bytes,
                        int *used, char *err, size_t errlen);

#endif
