/*
 * wflow: durable workflows for C programs, event-sourced.
 *
 * This header is the public API of libwflow. What is not declared here is
 * not API: the journal (journal/), the fold (replay/) and the engine
 * internals may change between releases without notice.
 *
 * Conventions (see STYLE.md):
 *  - functions return int: 0 on success, a negative WF_E* code on failure;
 *  - out parameters come first and are owned by the caller unless the
 *    comment says "borrowed";
 *  - every _free / _close accepts NULL;
 *  - the library never prints, never exits and never aborts on bad input.
 */
#ifndef WFLOW_H
#define WFLOW_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Public symbols are exported from the shared library; nothing else is. */
#if defined(__GNUC__)
#define WF_EXPORT __attribute__((visibility("default")))
#else
#define WF_EXPORT
#endif

/** Version of this header and of the library it came with. */
#define WF_VERSION_MAJOR 0
#define WF_VERSION_MINOR 1
#define WF_VERSION_PATCH 0
#define WF_VERSION_STRING "0.1.0"

/**
 * Error codes. Every failing call returns one of these (always negative).
 * A handle-level message with the details (which id, which file, which
 * byte offset) is available from the handle's errmsg function.
 */
enum wf_error {
	WF_OK = 0,
	WF_EINVAL = -1,     /**< invalid argument (bad id, bad option, bad JSON) */
	WF_ENOMEM = -2,     /**< out of memory; nothing was recorded */
	WF_EIO = -3,        /**< an I/O call failed; or an earlier fsync failed and
	                         the journal refuses further commits (poisoned) */
	WF_ECORRUPT = -4,   /**< stored data failed a check (checksum, chain,
	                         sequence, decoding); the message names file and
	                         byte offset */
	WF_EBUSY = -5,      /**< another writer holds the journal's lock */
	WF_ENOTFOUND = -6,  /**< no such journal, workflow, step or file */
	WF_EINCOMPAT = -7,  /**< written by a newer wflow with features this one
	                         does not have (format version, feature flags) */
	WF_ECLOSED = -8,    /**< the handle is shutting down */
	WF_EFAILED = -9,    /**< the workflow failed: a step raised after its
	                         retries (wf_errmsg has the step's error) */
	WF_ECANCELED = -10, /**< the workflow was cancelled */
};

/**
 * Name of an error code, e.g. "WF_ECORRUPT: data failed an integrity check".
 * @param rc a WF_E* code (or 0).
 * @return a static string; never NULL, also for unknown codes.
 */
WF_EXPORT const char *wf_strerror(int rc);

/** @return the library's version string, e.g. "0.1.0" (static). */
WF_EXPORT const char *wf_version(void);


/* ======================================================================
 * The engine
 *
 * A workflow is a DAG of step calls, run under a caller-chosen workflow
 * id. Every state change (workflow created, attempt started, step started,
 * succeeded or failed, status changed, output, deletion) is appended to the
 * journal in <dir>/journal before it takes effect, and everything the
 * engine answers (metadata, status, output, lists, resume) is folded from
 * those events. See SEMANTICS.md for the behaviour contract.
 *
 * Ids (workflow ids, step names): 1 to 255 bytes of valid UTF-8 without
 * control characters. Anything else is WF_EINVAL, and nothing is recorded;
 * wf_errmsg says what is wrong (empty, how long, which byte). Ids are C
 * strings: "a\0b" is the id "a" (no call takes an id with a length).
 *
 * JSON values are cJSON. Unless a comment says otherwise, a `const cJSON *`
 * argument is borrowed for the call (the engine copies what it keeps) and a
 * `cJSON **out` result belongs to the caller (free with cJSON_Delete).
 * A value the engine is to keep (metadata, an argument, a step's output,
 * an actor's state) must be JSON: numbers finite, and nested at most
 * WF_JSON_MAX_DEPTH arrays and objects deep (cJSON reads back at most
 * 1000, and the journal nests values inside its own JSON). Anything else
 * is WF_EINVAL (a step's output or a method's state: a failed attempt),
 * and nothing of it is recorded. Such values are checked and freed
 * without recursion, so a value nested 100,000 deep is refused, not a
 * stack overflow.
 *
 * Threads: every function may be called from any thread, concurrently,
 * while workflows run (wf_close excepted: call it once, last).
 * ====================================================================== */

/** How deep JSON values given to the engine may nest (see above). */
#define WF_JSON_MAX_DEPTH 512

typedef struct wf_engine wf_engine;
typedef struct wf_step wf_step;     /**< a defined step function */
typedef struct wf_node wf_node;     /**< a call of a step, in a DAG */
typedef struct wf_ctx wf_ctx;       /**< a running step attempt */
typedef struct wf_future wf_future; /**< a workflow run in the background */

/** Workflow status (get_metadata's "status"). */
typedef enum wf_status {
	WF_STATUS_NONE = 0,   /**< no such workflow */
	WF_STATUS_RUNNING = 1,
	WF_STATUS_FAILED = 2,
	WF_STATUS_RESUMABLE = 3, /**< was RUNNING in an engine that is gone */
	WF_STATUS_CANCELED = 4,
	WF_STATUS_SUCCESSFUL = 5,
} wf_status;

/** @return "RUNNING", "FAILED", ... ("NONE" for 0); static. */
WF_EXPORT const char *wf_status_name(wf_status s);

/** Durability of the journal's commits (see journal/journal.h). */
enum {
	WF_SYNC_ALWAYS = 0, /**< default: a change is on disk before it takes
	                         effect; concurrent changes share fsyncs */
	WF_SYNC_BATCH = 1,  /**< fsync every batch_interval_ms */
	WF_SYNC_NONE = 2,   /**< never fsync (a machine crash may lose a
	                         suffix; a process crash loses nothing) */
};

/** Recovery of a damaged journal at open. */
enum {
	WF_RECOVERY_TOLERATE_TAIL = 0, /**< default: cut a torn last write */
	WF_RECOVERY_ABSOLUTE = 1,      /**< any damage fails the open */
};

typedef struct wf_config {
	unsigned version;           /**< WF_CONFIG_VERSION */
	int durability;             /**< WF_SYNC_* */
	unsigned batch_interval_ms; /**< for WF_SYNC_BATCH */
	int recovery;               /**< WF_RECOVERY_* */
	unsigned workers;           /**< step threads (0: 16); also how many
	                                 step results can share one fsync */
	uint64_t segment_size;      /**< journal segment size (0: 8 MiB) */
	/** 1: neither write snapshots nor use them (every open replays the
	 *  whole journal). 0 (default): wf_close writes a snapshot of the
	 *  state into dir/snapshots, and wf_open starts from the newest
	 *  usable one and replays only the journal after it; a damaged one is
	 *  skipped (an older one or a full replay is used) and the skip is
	 *  recorded in the journal as a notice event. (Version 2.) */
	int no_snapshots;
	/** Also write a snapshot every this many events (0: every 500,000),
	 *  so that an open after a crash replays at most about that many.
	 *  The state is taken under the engine's lock (the unfinished
	 *  workflows copied, the finished ones' packed forms pinned: about
	 *  0.1-0.25 s at 480,000 workflows), then compressed, written and
	 *  synced by a thread of its own. (Version 2.) */
	uint64_t snapshot_every;
	/** 1: every step whose definition does not say otherwise runs
	 *  isolated, each attempt in a worker process of its own (see
	 *  wf_step_options.isolate; actor methods never do). 0 (default):
	 *  steps run on the engine's threads. (Version 3.) */
	int isolate;
	/** Largest user metadata accepted, in bytes of its compact JSON
	 *  text, at each level (a run's, a step definition's, a call's);
	 *  larger is WF_EINVAL and nothing is recorded (0: 16 MiB). Each
	 *  workflow's metadata is held in memory and read at every open.
	 *  (Version 4.) */
	uint64_t max_metadata_bytes;
	/** Retention. 0 (default): journal segments are never deleted; the
	 *  whole history stays for audit (wflow history, dump, trace).
	 *  N > 0: after each snapshot the engine writes (snapshots must be
	 *  on), it deletes the oldest segments that both kept snapshots
	 *  cover (everything in them is folded into the older one) and whose
	 *  events are all more than N seconds old, and records that in the
	 *  journal first (a notice event, "segments retired"). The segment
	 *  holding the older snapshot's last event stays, so either snapshot
	 *  can still be used. What this gives up: the deleted history, and
	 *  the full replay as last resort; an open that finds neither
	 *  snapshot usable fails (WF_ECORRUPT, naming the events missing)
	 *  instead of rebuilding the state from the journal. (Version 5.) */
	uint64_t retention_s;
} wf_config;

/* Versions 1 (without no_snapshots, snapshot_every, isolate,
 * max_metadata_bytes and retention_s), 2 (without isolate and after), 3
 * (without max_metadata_bytes and after) and 4 (without retention_s) are
 * still accepted. */
#define WF_CONFIG_VERSION 5
#define WF_CONFIG_INIT { WF_CONFIG_VERSION, WF_SYNC_ALWAYS, 10, \
	                 WF_RECOVERY_TOLERATE_TAIL, 0, 0, 0, 0, 0, 0, 0 }

/** wf_config.max_metadata_bytes when it is 0: 16 MiB. */
#define WF_METADATA_MAX_DEFAULT ((uint64_t)16 << 20)

/**
 * Open the engine on directory dir (created if missing; the journal lives
 * in dir/journal). Opening is recovery: the journal is replayed into the
 * engine's state. Workflows that were RUNNING when the last engine died
 * are RESUMABLE now. Only one engine may open a directory at a time.
 * @param out receives the engine. On failure *out is an engine that holds
 *        only the error message: read it with wf_errmsg, then wf_close it
 *        (or NULL when out of memory).
 * @param cfg NULL for WF_CONFIG_INIT.
 * @return 0, WF_EBUSY (another engine has dir open), WF_ECORRUPT,
 *         WF_EINCOMPAT, WF_EIO, WF_EINVAL, WF_ENOMEM.
 */
WF_EXPORT int wf_open(wf_engine **out, const char *dir, const wf_config *cfg);

/**
 * Close the engine: running workflows are stopped (they stay RUNNING in
 * the journal, and are RESUMABLE for the next engine), pending changes are
 * synced. Does not wait for a step that ignores cancellation: such a step
 * finishes on its own thread, and what it produces is discarded (an
 * isolated step's worker process is killed). NULL ok.
 * @return 0 or the error of the final sync.
 */
WF_EXPORT int wf_close(wf_engine *e);

/** @return the message of the last failure in this thread's last call on
 *          e (what, which id, which file and offset). Never NULL. */
WF_EXPORT const char *wf_errmsg(const wf_engine *e);

/* ---- steps --------------------------------------------------------------- */

/** "Not set": an option that takes its value from the level below. */
#define WF_UNSET (-0x7fffffff - 1)

/**
 * Step options (Ray's .options()). At wf_step_define they are the step's
 * defaults; at wf_node_new they override the defaults field by field.
 * Unset fields (NULL, WF_UNSET) fall through to the level below; the
 * system defaults are: name = the defined name, metadata {},
 * max_retries 3, catch_exceptions 0, checkpoint 1, isolate as
 * wf_config.isolate.
 */
typedef struct wf_step_options {
	unsigned version;       /**< WF_STEP_OPTIONS_VERSION */
	const char *name;       /**< base name of the step's id */
	const cJSON *metadata;  /**< user metadata: a JSON object */
	int max_retries;        /**< retries after the first attempt; -1 =
	                             unlimited; 3 = at most 4 attempts */
	int catch_exceptions;   /**< 1: output is [result, null] or
	                             [null, error], and the workflow goes on */
	int checkpoint;         /**< 0: the output is not persisted (a resume
	                             runs the step again) */
	/** 1: each attempt runs in a worker process (see "Isolated steps"
	 *  below); 0: on an engine thread. A property of the step function,
	 *  set with wf_step_define only: wf_node_new refuses it (it is not
	 *  journaled, so a call-level choice would not survive a resume in
	 *  another process), and so does wf_actor_method_define (a method's
	 *  state lives in the engine). (Version 2.) */
	int isolate;
} wf_step_options;

/* Version 1 (without isolate) is still accepted. */
#define WF_STEP_OPTIONS_VERSION 2
#define WF_STEP_OPTIONS_INIT { WF_STEP_OPTIONS_VERSION, NULL, NULL, \
	                       WF_UNSET, WF_UNSET, WF_UNSET, WF_UNSET }

/*
 * Isolated steps (isolate = 1). Each attempt of the step runs in a child
 * process fork()ed for it; the step function gets its arguments from the
 * copy of memory fork makes, and its result (output, error, or a
 * continuation) comes back over a pipe as JSON. What that buys:
 *
 *  - wf_cancel and wf_close really stop the attempt, also one that never
 *    checks wf_ctx_cancelled (a sleep(1000), a blocking read): the engine
 *    SIGKILLs the child's process group (the step's own children too)
 *    within 20 ms and reaps it. Nothing it produced is recorded.
 *  - A crash is a failed attempt, retried per max_retries like any other
 *    failure, instead of taking the engine down: SIGSEGV, abort(), exit()
 *    or _exit() before the result, with the error "step 'x' attempt 2:
 *    worker process killed by SIGSEGV" ("... exited with status 3
 *    without a result") in the attempt's metadata and in wf_errmsg.
 *  - When the attempt ends, whatever it left running in its process
 *    group is killed. If the engine's process dies, the child is killed
 *    too (Linux: PR_SET_PDEATHSIG).
 *
 * Outputs, errors, retries, metadata and the journal are exactly those of
 * the same step run in-process: isolation changes how an attempt runs,
 * not what is recorded (the option itself is not journaled).
 *
 * Costs. A fork, a pipe and a wait per attempt. fork copies the engine
 * process's page tables and the child's exit tears its copy down, so the
 * cost grows with the process's mapped memory; pages either side writes
 * while the child lives are copied (copy-on-write). The output is
 * serialized and parsed once more. tests/test_isolation.c prints the
 * figures: on the machine they were measured on (a busy 2-core VM, where
 * fork is slow) an isolated no-op step took 9 to 50 ms, with the load,
 * against 20 to 170 us in-process: 1.3 to 2 times a bare fork + _exit +
 * waitpid of the same process at the same moment; and 30 to 120 ms with
 * 256 MB more resident. So isolate the steps that are long, or not
 * trusted to behave; not the small ones.
 *
 * Fork-safety rules: the step function runs in a child that is a copy of
 * the engine's process with one thread (the one that forked). So:
 *  - it must not rely on other threads (they do not exist in the child),
 *    nor on locks other threads may have held at the fork (they stay
 *    held: glibc resets malloc's and stdio's, nothing else);
 *  - from the engine it may call only the wf_ctx_* functions and
 *    wf_node_new / wf_node_arg* / wf_node_free (with wf_step handles it
 *    got before, e.g. through udata: not wf_step_find) to build a
 *    continuation. wf_ctx_sleep is a plain sleep there, and
 *    wf_ctx_cancelled does not change (a cancel kills the child
 *    instead). Other wf_* calls on the engine are not allowed: they may
 *    hang on a lock held at the fork;
 *  - to end, it returns; exit() there would run the program's atexit
 *    handlers in the child (and fails the attempt: no result);
 *  - changes to memory stay in the child: a counter the step increments,
 *    a cache it fills, are not seen by the engine or by the next attempt
 *    (use the output, or files);
 *  - descriptors marked close-on-exec (O_CLOEXEC: the journal's, the
 *    other attempts' pipes, and any of the program's) point at /dev/null
 *    in the child; the others are shared with the engine's process as
 *    fork shares them. stdout's unwritten buffer is dropped at the fork
 *    (so it is not written twice) and what the step prints is flushed
 *    when it returns;
 *  - the child reports to its engine thread, which reaps it: a program
 *    that ignores SIGCHLD, or reaps every child (waitpid(-1, ...)), makes
 *    the attempt fail ("lost the worker process");
 *  - the child runs in a process group of its own (so that a cancel can
 *    kill what it started): a terminal's Ctrl-C does not reach it, the
 *    death of the engine's process does.
 */

/**
 * A step function. args is the JSON array of the call's arguments, with
 * each node argument replaced by that step's output (borrowed, valid for
 * the call). To succeed, set *out (ownership passes to the engine; NULL
 * means JSON null) and return 0. To fail, return wf_ctx_fail(ctx, ...)
 * (any other non-zero return also fails the attempt). To return another
 * step instead (a dynamic workflow), return wf_ctx_continue(ctx, node).
 * Steps run on the engine's worker threads.
 */
typedef int (*wf_step_fn)(wf_ctx *ctx, const cJSON *args, void *udata,
                          cJSON **out);

/**
 * Define a step ("@workflow.step"). The name identifies the function: a
 * resumed workflow finds its steps by these names, so define them before
 * resuming. Defining a name twice replaces the function.
 * @param out receives the step (owned by the engine, valid until
 *        wf_close); may be NULL.
 * @param defaults NULL for none; metadata is copied.
 * @return 0, WF_EINVAL (bad name, metadata not an object), WF_ENOMEM.
 */
WF_EXPORT int wf_step_define(wf_engine *e, const char *name, wf_step_fn fn,
                             void *udata, const wf_step_options *defaults,
                             wf_step **out);

/** @return the step defined under name, or NULL. */
WF_EXPORT wf_step *wf_step_find(wf_engine *e, const char *name);

/* ---- DAGs ------------------------------------------------------------------ */

/**
 * A call of step with options (".step()" after ".options()").
 * @param opts NULL for the step's defaults; metadata is copied.
 * @param out receives the node: the caller owns it until it is passed to
 *        wf_run*, wf_node_arg_node or wf_ctx_continue (which take it),
 *        or frees it with wf_node_free.
 * @return 0, WF_EINVAL (bad name or metadata; the message says which),
 *         WF_ENOMEM.
 */
WF_EXPORT int wf_node_new(wf_node **out, wf_step *step,
                          const wf_step_options *opts);

/** Append a JSON argument (copied). @return 0, WF_EINVAL, WF_ENOMEM. */
WF_EXPORT int wf_node_arg(wf_node *n, const cJSON *value);

/** Append a JSON argument given as text, e.g. "10" or "{\"k\": 1}". */
WF_EXPORT int wf_node_arg_json(wf_node *n, const char *json);

/** Append another node as an argument: its output is passed. Takes child
 *  (also on failure). @return 0, WF_EINVAL, WF_ENOMEM. */
WF_EXPORT int wf_node_arg_node(wf_node *n, wf_node *child);

/** Free a node that was not passed on (and its children). NULL ok. */
WF_EXPORT void wf_node_free(wf_node *n);

/* ---- running ----------------------------------------------------------- */

/**
 * Run dag as workflow id (".run(workflow_id, metadata=)") and wait for it.
 * Takes dag (also on failure). If id has already finished SUCCESSFUL, its
 * stored output is returned and nothing runs.
 * @param metadata workflow user metadata: a JSON object, or NULL for {}.
 * @param output if not NULL, receives the output (caller frees).
 * @return 0; WF_EFAILED (a step failed; the message has its error);
 *         WF_ECANCELED; WF_EBUSY (id is running now); WF_EINVAL (bad id
 *         or metadata: nothing is recorded); WF_EIO; WF_ENOMEM.
 */
WF_EXPORT int wf_run(wf_engine *e, wf_node *dag, const char *id,
                     const cJSON *metadata, cJSON **output);

/** wf_run in the background. @param out receives the future (caller
 *  frees with wf_future_free). Errors found before the run starts are
 *  returned here, and nothing is started. */
WF_EXPORT int wf_run_async(wf_engine *e, wf_node *dag, const char *id,
                           const cJSON *metadata, wf_future **out);

/**
 * Wait for a future. May be called more than once.
 * @param output if not NULL, receives a copy of the output (caller frees).
 * @return the workflow's result code, as wf_run's.
 */
WF_EXPORT int wf_future_wait(wf_future *f, cJSON **output);

/** Free a future (waiting for it is not needed first). NULL ok. */
WF_EXPORT void wf_future_free(wf_future *f);

/**
 * Resume a FAILED or RESUMABLE workflow from its checkpoints (steps whose
 * output is in the journal do not run again) and wait for it. A
 * SUCCESSFUL workflow returns its stored output and runs nothing.
 * @return as wf_run; WF_ENOTFOUND (no such workflow, or a step it needs
 *         is not defined in this process: the message names it);
 *         WF_ECANCELED for a cancelled workflow (it cannot be resumed).
 */
WF_EXPORT int wf_resume(wf_engine *e, const char *id, cJSON **output);
WF_EXPORT int wf_resume_async(wf_engine *e, const char *id,
                              wf_future **out);

/**
 * Resume every RESUMABLE workflow (and FAILED ones if include_failed), in
 * the background. Cancelled workflows are skipped.
 * @param ids if not NULL, receives a JSON array of the ids resumed.
 * @param count if not NULL, receives how many were resumed.
 */
WF_EXPORT int wf_resume_all(wf_engine *e, int include_failed, cJSON **ids,
                            size_t *count);

/**
 * Cancel a workflow: CANCELED is journaled and waiters return
 * WF_ECANCELED at once. A running step sees wf_ctx_cancelled(); whatever
 * it produces afterwards is discarded (an isolated step's worker process
 * is killed). end_time is not set (seed, Note 1).
 * @return 0, WF_ENOTFOUND, WF_EINVAL (already finished).
 */
WF_EXPORT int wf_cancel(wf_engine *e, const char *id);

/** Delete a workflow that is not running; its id can then be used again.
 *  @return 0, WF_ENOTFOUND, WF_EBUSY (running). */
WF_EXPORT int wf_delete(wf_engine *e, const char *id);

/* ---- reading state ------------------------------------------------------- */

/**
 * Metadata as Ray's get_metadata returns it, at this moment.
 * Workflow level (step == NULL): {"status", "user_metadata", "stats":
 * {"start_time", "end_time"}} plus wflow's additions ("workflow_id",
 * "attempts", "duration"). Step level: {"name", "step_id", "step_options",
 * "user_metadata", "stats", "attempts", "duration"}. Times are seconds
 * since the epoch (JSON numbers, microseconds or better); a key is present
 * only once known.
 * @param step a step id ("add", "add_1"), or NULL for the workflow.
 * @param out receives the object (caller frees).
 * @return 0; WF_ENOTFOUND ("No such workflow_id <id>" / "No such step_id
 *         <name> in workflow <id>" in wf_errmsg); WF_EINVAL; WF_ENOMEM;
 *         WF_ECORRUPT: the workflow's state was in a block of the snapshot
 *         this engine opened from that turned out damaged when first read,
 *         and rebuilding it from the journal failed too (wf_errmsg says
 *         which block and why); nothing is answered rather than something
 *         wrong.
 */
WF_EXPORT int wf_get_metadata(wf_engine *e, const char *id, const char *step,
                              cJSON **out);

/** @return 0 and *status (never WF_STATUS_NONE), WF_ENOTFOUND, or
 *          WF_ECORRUPT (as wf_get_metadata). */
WF_EXPORT int wf_get_status(wf_engine *e, const char *id, wf_status *status);

/**
 * The workflow's output, waiting for it if the workflow is running.
 * @return 0 (SUCCESSFUL), WF_EFAILED, WF_ECANCELED, WF_ENOTFOUND, or
 *         WF_EIO for a RESUMABLE workflow that nobody runs.
 */
WF_EXPORT int wf_get_output(wf_engine *e, const char *id, cJSON **output);

/** Status bits for wf_list_all. */
#define WF_STATUS_BIT(s) (1u << (s))
#define WF_STATUS_ALL 0xffffffffu

/**
 * [{"workflow_id": ..., "status": ...}, ...] of the workflows whose status
 * is in mask (WF_STATUS_BIT(WF_STATUS_FAILED) | ..., or WF_STATUS_ALL),
 * sorted by id. @param out receives the array (caller frees).
 */
WF_EXPORT int wf_list_all(wf_engine *e, unsigned mask, cJSON **out);

/* ---- inside a step ------------------------------------------------------- */

/** Fail this attempt with a message (printf-style). Return its result from
 *  the step function. @return WF_EFAILED. */
WF_EXPORT int wf_ctx_fail(wf_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/** Return node (taken) instead of an output: the step's output is the
 *  output of node. Return its result from the step function.
 *  @return 0, or WF_EINVAL / WF_ENOMEM (the attempt then fails). */
WF_EXPORT int wf_ctx_continue(wf_ctx *ctx, wf_node *node);

/** @return 1 if the workflow was cancelled (or the engine is closing). */
WF_EXPORT int wf_ctx_cancelled(wf_ctx *ctx);

/** Sleep, returning early on cancel. @return 0, or WF_ECANCELED. */
WF_EXPORT int wf_ctx_sleep(wf_ctx *ctx, double seconds);

/** The running step's workflow id, step id ("add_1"), attempt (1, 2, ...).
 *  Strings are borrowed for the duration of the step call. */
WF_EXPORT const char *wf_ctx_workflow_id(const wf_ctx *ctx);
WF_EXPORT const char *wf_ctx_step_id(const wf_ctx *ctx);
WF_EXPORT int wf_ctx_attempt(const wf_ctx *ctx);

/* ---- virtual actors -------------------------------------------------------- */

/*
 * A virtual actor is a durable object: a JSON state, and methods that read
 * and change it ("@workflow.virtual_actor"). Its id is a workflow id: the
 * actor's workflow has a step per writer call, so wf_get_metadata(e,
 * "vid", "add_1"), wf_get_status, wf_list_all and wf_resume work on it.
 *
 *  - Writer calls on one actor run one at a time, in the order they were
 *    made (also from many threads); calls on different actors run in
 *    parallel. Each is a step (step_type "ACTOR_METHOD", max_retries 0 by
 *    default) whose start, end, options, user metadata and the change it
 *    made to the state are journaled; the change is a diff (JSON Patch,
 *    RFC 6902 operations), so the journal grows with the size of the
 *    change, not of the state.
 *  - The new state is durable when the call returns (as durable as the
 *    engine's durability setting makes any result). A failed call changes
 *    nothing. A call interrupted by a crash leaves the last committed
 *    state, and the actor RESUMABLE: wf_resume finishes the interrupted
 *    call and returns the state; new calls are refused until then.
 *  - Readonly calls see the latest committed state (a copy: what they do
 *    to it is discarded) and journal nothing.
 *  - A method may return a nested call of a method of the same actor
 *    (wf_ctx_continue; the seed's self.incr.options(...).step(n - 1)): it
 *    runs next, as its own step, on the state as the method left it.
 *  - wf_resume of an actor, and wf_run or wf_get_output on its id, give
 *    the current state.
 */
typedef struct wf_actor_class wf_actor_class;
typedef struct wf_actor wf_actor;

/**
 * Build an actor's initial state (its __init__).
 * @param args the JSON array of wf_actor_get_or_create's arguments.
 * @param state receives the state (ownership passes to the engine; NULL
 *        means JSON null).
 * @return 0, or non-zero to refuse (the actor is not created; err, if
 *         set with up to errlen bytes, is the message).
 */
typedef int (*wf_actor_init_fn)(const cJSON *args, void *udata,
                                cJSON **state, char *err, size_t errlen);

/**
 * Define an actor class. Like steps, classes are found by name when a
 * journal is replayed: define them (and their methods) before using or
 * resuming their actors.
 * @param out receives the class (owned by the engine; may be NULL).
 * @return 0, WF_EINVAL (bad name), WF_ENOMEM.
 */
WF_EXPORT int wf_actor_class_define(wf_engine *e, const char *name,
                                    wf_actor_init_fn init, void *udata,
                                    wf_actor_class **out);

/** Method kinds. */
#define WF_METHOD_WRITER 0
#define WF_METHOD_READONLY 1

/**
 * Define a method of class c. fn is called as a step is, and reads and
 * changes the state through wf_ctx_state(ctx). The method is a wf_step:
 * build calls of it with wf_node_new(&n, method, &opts) and wf_node_arg*
 * (JSON arguments only), then pass them to wf_actor_call, or return them
 * from another method with wf_ctx_continue.
 * @param kind WF_METHOD_WRITER or WF_METHOD_READONLY.
 * @param defaults as wf_step_define's (max_retries defaults to 0 here).
 * @param out receives the method (owned by the engine; may be NULL).
 * @return 0, WF_EINVAL, WF_ENOMEM.
 */
WF_EXPORT int wf_actor_method_define(wf_actor_class *c, const char *name,
                                     wf_step_fn fn, void *udata, int kind,
                                     const wf_step_options *defaults,
                                     wf_step **out);

/**
 * The actor actor_id of class c, created first if it does not exist
 * (Actor.get_or_create(id, args...)): init runs with init_args (a JSON
 * array, or NULL for []) and the state it returns is journaled. If the
 * actor exists, init_args are ignored.
 * @param out receives a handle (free it with wf_actor_free).
 * @return 0; WF_EINVAL (bad id or args; or actor_id is a workflow that is
 *         not an actor of class c: the message says what it is);
 *         WF_EFAILED (init refused); WF_ENOMEM; WF_EIO.
 */
WF_EXPORT int wf_actor_get_or_create(wf_actor_class *c, const char *actor_id,
                                     const cJSON *init_args, wf_actor **out);

/** The existing actor actor_id of class c. @return 0, WF_ENOTFOUND ("No
 *  such actor <id>"), WF_EINVAL (it is not an actor of class c). */
WF_EXPORT int wf_actor_get(wf_actor_class *c, const char *actor_id,
                           wf_actor **out);

/** Free a handle (not the actor). NULL ok. */
WF_EXPORT void wf_actor_free(wf_actor *a);

/** @return the actor's id (borrowed from the handle). */
WF_EXPORT const char *wf_actor_id(const wf_actor *a);

/**
 * Call a method ("actor.add_v.options(name=, metadata=).run(10)") and wait
 * for its result. Takes call (also on failure), which must be a node of a
 * method of the actor's class, with JSON arguments only.
 * @param output if not NULL, receives the method's result (caller frees).
 * @return 0; WF_EFAILED (the method failed after its retries: the state is
 *         unchanged); WF_ECANCELED; WF_EBUSY (the actor is RESUMABLE:
 *         resume it first); WF_EINVAL; WF_EIO; WF_ENOMEM.
 */
WF_EXPORT int wf_actor_call(wf_actor *a, wf_node *call, cJSON **output);

/** wf_actor_call in the background: the call is queued behind the actor's
 *  earlier calls. @param out receives the future. */
WF_EXPORT int wf_actor_call_async(wf_actor *a, wf_node *call,
                                  wf_future **out);

/** A copy of the actor's latest committed state (caller frees).
 *  @return 0, WF_ENOTFOUND (deleted meanwhile), WF_ENOMEM. */
WF_EXPORT int wf_actor_state(wf_actor *a, cJSON **state);

/** Inside a method: the actor's state, which a writer method may change in
 *  place or replace with wf_ctx_set_state. Borrowed for the call. NULL
 *  outside a method. */
WF_EXPORT cJSON *wf_ctx_state(wf_ctx *ctx);

/** Inside a method: replace the whole state with state (taken).
 *  @return 0, WF_EINVAL (not in a method). */
WF_EXPORT int wf_ctx_set_state(wf_ctx *ctx, cJSON *state);

#ifdef __cplusplus
}
#endif

#endif /* WFLOW_H */
