/*
 * The engine's event vocabulary: what each journal event type means and
 * what its positional fields are. The journal stores numbers and fields;
 * this table gives them names, for the fold, for `wflow dump` and for the
 * benchmark's synthetic journals.
 *
 * Compatibility rules: a field may be added at the end of a type (old
 * readers ignore it, new readers treat it as absent in old events); a
 * field is never removed or reordered; a new type that old readers may
 * ignore carries WF_EVENT_SAFE_IGNORE, one they must not ignore does not.
 */
#ifndef WF_REPLAY_EVENTS_H
#define WF_REPLAY_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"

enum wf_event_type {
	/** An engine opened the journal: [session, pid, host]. */
	WF_EV_SESSION_STARTED = 1,
	/** [workflow_id, user_metadata (json), dag (json)] */
	WF_EV_WORKFLOW_CREATED = 2,
	/** A run or resume began: [workflow_id, attempt, cause, session] */
	WF_EV_ATTEMPT_STARTED = 3,
	/** [workflow_id, step_id, attempt] */
	WF_EV_STEP_STARTED = 4,
	/** [workflow_id, step_id, attempt, output (json)] */
	WF_EV_STEP_SUCCEEDED = 5,
	/** [workflow_id, step_id, attempt, error] */
	WF_EV_STEP_FAILED = 6,
	/** The step returned a sub-DAG: [workflow_id, step_id, dag (json)] */
	WF_EV_CONTINUATION = 7,
	/** [workflow_id, status, cause] */
	WF_EV_STATUS_CHANGED = 8,
	/** [workflow_id, output (json)] */
	WF_EV_WORKFLOW_OUTPUT = 9,
	/** [workflow_id] */
	WF_EV_WORKFLOW_DELETED = 10,
	/** A virtual actor was created (its workflow, SUCCESSFUL at once):
	 *  [workflow_id, class, state (json)] */
	WF_EV_ACTOR_CREATED = 11,
	/** A writer call began: its step(s) join the actor's workflow, whose
	 *  output step the call's becomes: [workflow_id, dag (json)] */
	WF_EV_ACTOR_CALL = 12,
	/** What a method changed in the state, as JSON Patch operations
	 *  (replay/jpatch.h): [workflow_id, step_id, patch (json)] */
	WF_EV_ACTOR_STATE = 13,
	/** Something an auditor should know that changes no state (e.g. a
	 *  snapshot skipped at open): [what, detail]. Safe to ignore. */
	WF_EV_NOTICE = 14 | WF_EVENT_SAFE_IGNORE,
};

typedef struct wf_event_schema {
	uint16_t type;
	const char *name;            /**< e.g. "step_started" */
	const char *fields[8];       /**< names of the positional fields */
	unsigned nfields;
} wf_event_schema;

/** @return the schema of type (the SAFE_IGNORE bit is part of the type),
 *          or NULL if this version does not know it. Static. */
const wf_event_schema *wf_event_schema_find(uint16_t type);

/** @return the type named name, or 0 if none. */
uint16_t wf_event_type_by_name(const char *name);

/** Copy text field i of ev into buf (NUL-terminated). @return 0, or -1 if
 *  it is missing, not text, or does not fit in len bytes. */
int wf_event_text(const wf_event *ev, unsigned i, char *buf, size_t len);

/** The status journaled in text field i of ev (RUNNING, FAILED, CANCELED
 *  or SUCCESSFUL: a wf_status), or -1 (RESUMABLE is never journaled). */
int wf_event_status(const wf_event *ev, unsigned i);

#endif
