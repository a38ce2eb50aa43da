/*
 * Logical checks of a journal (wflow verify): what the fold needs of the
 * events, beyond what the reader checks physically (checksums, chain,
 * sequence numbers). Errors: an event of a workflow that was never
 * created (or was deleted), a workflow created twice, a step try that
 * ends without having started, a status change along a transition the
 * engine never makes. Warnings: wall-clock times that go back (clocks
 * do, and engines time events before their commits are ordered; the
 * journal's order is the sequence numbers): one warning with the count
 * and the largest step back.
 *
 * Light on purpose: a map of the live workflows, each with a map of its
 * steps' try states, dropped when a workflow can have no more step events
 * (finished, not an actor; or deleted).
 */
#ifndef WF_REPLAY_LOGIC_H
#define WF_REPLAY_LOGIC_H

#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"

typedef struct wf_logic wf_logic;

/** A finding. */
typedef struct wf_logic_issue {
	uint64_t seq;
	int warning;   /**< 0: a logical error */
	char what[300];
} wf_logic_issue;

/** @return 0 or WF_ENOMEM. */
int wf_logic_new(wf_logic **out);
void wf_logic_free(wf_logic *l);

/** The journal starts after event 1 (its oldest segments were retired:
 *  wflow.h, wf_config.retention_s): a workflow first seen in it was
 *  created before, and its first status change and each step's first
 *  end are taken as they come. Before the first event. */
void wf_logic_starts_late(wf_logic *l);

/** Check the next event. @return 0 or WF_ENOMEM. */
int wf_logic_event(wf_logic *l, const wf_event *ev);

/** After the last event: add the summary of clock regressions. */
void wf_logic_finish(wf_logic *l);

/**
 * Findings so far: the first max of them are kept (in order); the counts
 * are exact. @return the issues kept, *n of them.
 */
const wf_logic_issue *wf_logic_issues(const wf_logic *l, size_t *n,
                                      uint64_t *errors, uint64_t *warnings);

#endif
