/*
 * A string-keyed hash map (open addressing, linear probing, power-of-two
 * capacity). Keys are copied; values are the caller's pointers. Used by
 * the fold (workflows by id, steps by id, name counters) and the engine.
 */
#ifndef WF_REPLAY_MAP_H
#define WF_REPLAY_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct wf_map_entry {
	char *key; /* NULL: empty; WF_MAP_TOMB: deleted */
	void *val;
	uint64_t hash; /* of key, and its length (map.c): most mismatches
	                  are rejected without touching the key's memory */
} wf_map_entry;

typedef struct wf_map {
	wf_map_entry *e;
	size_t cap, len, used; /* used counts tombstones too */
	int borrow; /* keys are the caller's, alive as long as their entry:
	               not copied, not freed */
} wf_map;

extern char wf_map_tomb[];
#define WF_MAP_TOMB wf_map_tomb

/** @return the value, or NULL. */
void *wf_map_get(const wf_map *m, const char *key);
/** wf_map_get of the key that is the n bytes at key up to the first NUL
 *  among them, if any (as a copy to a C string would be; none is needed
 *  after them): for keys that are fields of an event. */
void *wf_map_get_n(const wf_map *m, const char *key, size_t n);
/** Start fetching where the key wf_map_get_n(m, key, n) looks up would
 *  be, for a lookup a little later (a map larger than the cache). */
void wf_map_prefetch(const wf_map *m, const char *key, size_t n);
/** Make room for n more entries (no rehash while they are put).
 *  @return 0 or WF_ENOMEM. */
int wf_map_reserve(wf_map *m, size_t n);
/** Insert or replace. @return 0 or WF_ENOMEM. */
int wf_map_put(wf_map *m, const char *key, void *val);
/** @return the removed value, or NULL. */
void *wf_map_del(wf_map *m, const char *key);
/** Free the map's memory (not the values). */
void wf_map_free(wf_map *m);

/** Iterate: for (size_t i = 0; wf_map_next(m, &i, &k, &v);) */
int wf_map_next(const wf_map *m, size_t *i, const char **key, void **val);

#endif
