/*
 * Engine internals shared by the engine's sources: the engine, runs, steps, nodes,
 * tasks. Not API.
 */
#ifndef WF_ENGINE_INT_H
#define WF_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "journal/journal.h"
#include "replay/events.h"
#include "replay/fold.h"
#include "replay/map.h"
#include "wflow.h"

struct wf_step {
	char *name;
	wf_step_fn fn;
	void *udata;
	char *opt_name; /* default base name, or NULL */
	char *metadata; /* default user metadata (JSON text), or NULL */
	int max_retries, catch_exceptions, checkpoint; /* or WF_UNSET */
	wf_actor_class *cls; /* a method of this actor class, or NULL */
	int readonly;        /* a readonly method */
	int isolate;         /* attempts run in a worker process; or WF_UNSET */
	wf_engine *e;        /* its engine (wf_node_new reads its limits) */
};

typedef struct wf_node_arg {
	cJSON *value;
	wf_node *child;
} wf_node_arg_t;

struct wf_node {
	char *fn;       /* the step's defined name */
	char *name;     /* base name of its id */
	char *metadata; /* JSON text of an object */
	int max_retries, catch_exceptions, checkpoint;
	wf_node_arg_t *args;
	size_t nargs, cap;
	char *id; /* assigned when the DAG is journaled */
	wf_step *step; /* what it calls (engine-owned) */
};

typedef struct wf_run wf_run_t;

struct wf_future {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, rc, refs;
	char *output; /* JSON text */
	char *errmsg;
	char msgbuf[400]; /* the message, if errmsg could not be allocated */
};

struct wf_run {
	char *id;
	int refs;
	int active;      /* the workflow runs (futures not yet answered) */
	int finishing;   /* the output is being journaled */
	int ending;      /* a result that ends the run is being journaled:
	                    no other result is recorded after it */
	int in_flight;   /* tasks queued or running */
	int attempt;     /* workflow attempt number */
	int actor;        /* a run of a virtual actor: a call or a resume */
	int actor_resume; /* ... a resume: it answers with the state */
	atomic_int cancelled;
	pthread_rwlock_t cancel_lock; /* step results (read) vs cancel */
	pthread_mutex_t dag_mu;       /* id assignment + continuation commit */
	pthread_cond_t cancel_cv;     /* wf_ctx_sleep wakes on cancel */
	pthread_cond_t help_cv;       /* a waiting wf_run caller: work or end */
	int helpers_waiting;          /* wf_run callers asleep on help_cv */
	wf_map mem;      /* step id -> JSON text of outputs of this run */
	wf_map pending;  /* step ids whose result is written, not yet synced */
	wf_map running;  /* step ids queued or running */
	struct wf_future **futs;
	size_t nfuts;
};

/* A writer call of an actor, waiting for the calls before it. */
typedef struct wf_qcall {
	char *id;            /* the actor */
	wf_node *node;       /* the call */
	struct wf_future *f; /* its future (one reference is the call's) */
	struct wf_qcall *next;
} wf_qcall;

/* An actor with a writer call (or a resume) in progress: the calls made
 * meanwhile wait here, in order. Removed when idle. */
typedef struct wf_actor_q {
	int busy;
	wf_qcall *head, *tail;
} wf_actor_q;

struct wf_actor_class {
	wf_engine *e;
	char *name;
	wf_actor_init_fn init;
	void *udata;
};

struct wf_actor {
	wf_engine *e;
	wf_actor_class *cls;
	char *id;
};

typedef struct wf_task {
	wf_run_t *run;   /* NULL for call: a queued actor call to start */
	wf_qcall *call;
	char *step;
	int try_n;
	int started; /* its step_started is already journaled */
	struct wf_task *next;
} wf_task;

/* What a step's result does once it is durable (see engine.c). */
typedef struct wf_after {
	wf_run_t *run;
	char *step;
	int try_n;
	int rc, retry, failed_wf;
	int finished;   /* the workflow's output and SUCCESSFUL were in the
	                   same commit: the run is over */
	char *err;
	char *outtext;  /* to keep in run->mem, or NULL */
	char *next;     /* a step started in the same commit, or NULL */
	struct wf_after *next_after;
} wf_after;

struct wf_ctx {
	wf_engine *e;
	wf_run_t *run; /* NULL in a readonly actor call */
	const char *step;
	int try_n;
	char *error;
	wf_node *cont;
	/* In an actor's method: */
	const char *wid;           /* the actor id */
	const wf_actor_class *cls; /* its class */
	cJSON *state;              /* the method's copy of the state */
	int readonly;
	int error_lost; /* wf_ctx_fail had no memory to keep its message */
};

struct wf_engine {
	const wf_io *io;    /* every file operation goes through it */
	pthread_mutex_t mu; /* everything below but the journal */
	wf_journal *j;
	wf_fold *fold;
	char session[40];
	char *dir;
	wf_config cfg;
	wf_map steps; /* name -> wf_step */
	wf_map runs;  /* id -> wf_run_t (active or with tasks in flight) */
	uint64_t apply_next;
	pthread_cond_t apply_cv;
	wf_task *qhead, *qtail;
	wf_after *after;    /* results written, waiting for an fsync */
	pthread_cond_t task_cv;
	pthread_cond_t idle_cv;
	unsigned alive, in_user;
	atomic_int closing;
	int refs;
	int open_failed;
	char open_err[512];
	wf_map classes;  /* name -> wf_actor_class */
	wf_map actors;   /* actor id -> wf_actor_q (busy actors) */
	wf_map creating; /* actor ids whose creation is being journaled */
	uint64_t open_snapshot_seq; /* the snapshot the open started from */
	uint64_t snap_seq;    /* the last snapshot written or being written */
	int snap_busy;        /* a snapshot thread is at work */
	int snap_no_copy;     /* a block to copy was damaged: read them all */
	pthread_cond_t snap_cv; /* it is done */
	/* The fold refused a journaled event (out of memory, or a bug): the
	 * state is not the journal's any more. The error (WF_ENOMEM or
	 * WF_ECORRUPT) every change gets from then on, and why (written
	 * once, before broken is set). */
	atomic_int broken;
	char broken_why[700];
	pthread_cond_t create_cv;
};

/*
 * wf_open with every file operation of the engine (journal, lock,
 * snapshots, directory fsyncs, removals) going through io instead of
 * POSIX (NULL: wf_io_posix()), for the fault-injection harness. io is
 * borrowed until wf_close returns (nothing uses it afterwards).
 */
int wf_open_with_io(wf_engine **out, const char *dir, const wf_config *cfg,
                    const wf_io *io);

/* ---- isolated steps (engine/isolate.c) ---- */

/* Does an attempt of s run in a worker process (its own setting, else the
 * engine's; never for an actor's method)? */
int wf_isolate_wanted(const wf_engine *e, const wf_step *s);

/* Run an attempt of s in a forked worker process, as s->fn(ctx, args,
 * s->udata, out) would run it in-process: same return, *out, ctx->error
 * and ctx->cont. A crash of the child fails the attempt (the error names
 * the signal or exit status); a cancel or close kills the child and
 * returns WF_ECANCELED. Called without e->mu. */
int wf_isolate_call(wf_ctx *ctx, wf_step *s, const cJSON *args, cJSON **out);

/* 1 in a worker process: the engine's locks are not to be taken there. */
int wf_isolate_in_child(void);

/* wf_ctx_sleep in a worker process: a plain sleep (a cancel kills it).
 * @return 0. */
int wf_isolate_sleep(double seconds);

/* in (version 1 or 2; NULL for none) as a current wf_step_options, with
 * the fields version 1 lacks unset. @return 0, WF_EINVAL (unknown). */
int wf_step_options_load(wf_step_options *out, const wf_step_options *in);

#endif
