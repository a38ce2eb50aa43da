/*
 * JSON diffs as JSON Patch operations (RFC 6902: "add", "remove" and
 * "replace", with JSON Pointer paths, RFC 6901): what an actor's writer
 * call changed in its state, journaled instead of the state itself.
 *
 * Written here because Debian's libcjson-dev ships cJSON without its
 * cJSON_Utils (which has JSON Patch), and no other Debian package offers
 * JSON Patch for C.
 *
 * The diff is exact (applying it to a copy of the old value gives a value
 * equal to the new one, nulls and types included) and small for small
 * changes: objects are compared member by member (in order first, by name
 * when the order differs), arrays element by element, with elements added
 * or removed at the end as such; anything else that differs is replaced.
 */
#ifndef WF_REPLAY_JPATCH_H
#define WF_REPLAY_JPATCH_H

#include <stddef.h>

#include <cjson/cJSON.h>

/**
 * The operations that turn old into new, appended to the JSON array ops.
 * Neither value is changed.
 * @return 0, or WF_ENOMEM (ops then holds part of the diff).
 */
int wf_jdiff(const cJSON *old, const cJSON *new_, cJSON *ops);

/**
 * Apply ops (a JSON array of operations) to *root, in place; an operation
 * on the whole value (path "") replaces *root. Values are moved out of ops
 * (which is left without them).
 * @return 0; WF_ECORRUPT (an operation that is malformed or does not apply:
 *         err says which and why; the operations before it are applied);
 *         WF_ENOMEM.
 */
int wf_jpatch(cJSON **root, cJSON *ops, char *err, size_t errlen);

#endif
