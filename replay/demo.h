/*
 * `wflow demo DIR`: the seed document's examples ("Workflow Metadata" of
 * Ray Workflows), run through the public engine API into a journal in DIR,
 * with the metadata each one produces and the seed's checks on it.
 */
#ifndef WF_REPLAY_DEMO_H
#define WF_REPLAY_DEMO_H

/**
 * Run every scenario against an engine opened on dir (created if missing),
 * printing to stdout; messages about failures also go to stderr.
 * Workflows an earlier demo left in dir are deleted first, so that the
 * demo can be run again on the same directory.
 * @return the tool's exit code: 0 every check passed, 1 a scenario did
 *         not behave as the seed says (the failed checks are listed),
 *         2 the engine could not be opened or set up (I/O, lock, memory).
 */
int wf_demo_run(const char *dir);

#endif
