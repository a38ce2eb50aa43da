/*
 * Names of the engine's event types and fields (see events.h). A plain
 * table: the fold switches on the numbers, the tools print the names.
 */
#include "events.h"

#include <string.h>

#include "wflow.h"

static const wf_event_schema schemas[] = {
	{WF_EV_SESSION_STARTED, "session_started", {"session", "pid", "host"}, 3},
	{WF_EV_WORKFLOW_CREATED, "workflow_created",
	 {"workflow_id", "user_metadata", "dag"}, 3},
	{WF_EV_ATTEMPT_STARTED, "attempt_started",
	 {"workflow_id", "attempt", "cause", "session"}, 4},
	{WF_EV_STEP_STARTED, "step_started", {"workflow_id", "step_id", "attempt"},
	 3},
	{WF_EV_STEP_SUCCEEDED, "step_succeeded",
	 {"workflow_id", "step_id", "attempt", "output"}, 4},
	{WF_EV_STEP_FAILED, "step_failed",
	 {"workflow_id", "step_id", "attempt", "error"}, 4},
	{WF_EV_CONTINUATION, "continuation", {"workflow_id", "step_id", "dag"}, 3},
	{WF_EV_STATUS_CHANGED, "status_changed",
	 {"workflow_id", "status", "cause"}, 3},
	{WF_EV_WORKFLOW_OUTPUT, "workflow_output", {"workflow_id", "output"}, 2},
	{WF_EV_WORKFLOW_DELETED, "workflow_deleted", {"workflow_id"}, 1},
	{WF_EV_ACTOR_CREATED, "actor_created", {"workflow_id", "class", "state"},
	 3},
	{WF_EV_ACTOR_CALL, "actor_call", {"workflow_id", "dag"}, 2},
	{WF_EV_ACTOR_STATE, "actor_state", {"workflow_id", "step_id", "patch"},
	 3},
	{WF_EV_NOTICE, "notice", {"what", "detail"}, 2},
};

const wf_event_schema *wf_event_schema_find(uint16_t type)
{
	for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++)
		if (schemas[i].type == type)
			return &schemas[i];
	return NULL;
}

uint16_t wf_event_type_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++)
		if (strcmp(schemas[i].name, name) == 0)
			return schemas[i].type;
	return 0;
}

int wf_event_text(const wf_event *ev, unsigned i, char *buf, size_t len)
{
	if (i >= ev->nfields || ev->fields[i].kind != WF_FIELD_TEXT ||
	    ev->fields[i].v.s.len >= len)
		return -1;
	memcpy(buf, ev->fields[i].v.s.ptr, ev->fields[i].v.s.len);
	buf[ev->fields[i].v.s.len] = '\0';
	return 0;
}

int wf_event_status(const wf_event *ev, unsigned i)
{
	char s[16];
	if (wf_event_text(ev, i, s, sizeof s) < 0)
		return -1;
	for (int k = WF_STATUS_RUNNING; k <= WF_STATUS_SUCCESSFUL; k++)
		if (k != WF_STATUS_RESUMABLE &&
		    strcmp(s, wf_status_name((wf_status)k)) == 0)
			return k;
	return -1;
}
