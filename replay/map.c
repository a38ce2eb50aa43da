/*
 * String hash map: XXH3 hashing, linear probing, tombstones on delete,
 * growth at 70% occupancy (tombstones included, so probes stay short).
 * Entries keep their key's hash: a probe compares hashes, and reads a key
 * only when they match (on replay, each event looks its workflow up in a
 * map of all of them, and those key reads were cache misses).
 */
#include "map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "wflow.h"

char wf_map_tomb[1];

static uint64_t hash(const char *s)
{
	return XXH3_64bits(s, strlen(s));
}

static size_t find(const wf_map *m, const char *key, uint64_t h)
{
	size_t mask = m->cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		const wf_map_entry *e = &m->e[i];
		if (!e->key || (e->hash == h && e->key != WF_MAP_TOMB &&
		                strcmp(e->key, key) == 0))
			return i;
	}
}

void *wf_map_get(const wf_map *m, const char *key)
{
	if (!m->len)
		return NULL;
	size_t i = find(m, key, hash(key));
	return m->e[i].key ? m->e[i].val : NULL;
}

/* Rehash into a table sized for the live entries (at most half full):
 * larger when they grew, the same or smaller when tombstones filled it (a
 * map of runs gains and loses an entry per workflow: sized by what it
 * holds, not by what it ever held, or probes would walk tombstones). */
static int grow(wf_map *m)
{
	size_t cap = 16;
	while ((m->len + 1) * 2 >= cap)
		cap *= 2;
	wf_map_entry *e = calloc(cap, sizeof *e);
	if (!e)
		return WF_ENOMEM;
	wf_map old = *m;
	m->e = e;
	m->cap = cap;
	m->len = m->used = 0;
	for (size_t i = 0; i < old.cap; i++) {
		char *k = old.e[i].key;
		if (!k || k == WF_MAP_TOMB)
			continue;
		size_t j = find(m, k, old.e[i].hash);
		m->e[j] = old.e[i];
		m->len++;
		m->used++;
	}
	free(old.e);
	return 0;
}

int wf_map_reserve(wf_map *m, size_t n)
{
	if ((m->used + n + 1) * 10 < m->cap * 7)
		return 0;
	size_t len = m->len;
	m->len += n; /* grow() sizes the table for len entries */
	int rc = grow(m);
	m->len = len;
	return rc;
}

int wf_map_put(wf_map *m, const char *key, void *val)
{
	if ((m->used + 1) * 10 >= m->cap * 7 && grow(m) < 0)
		return WF_ENOMEM;
	uint64_t h = hash(key);
	size_t i = find(m, key, h);
	if (m->e[i].key) {
		m->e[i].val = val;
		return 0;
	}
	char *k = m->borrow ? (char *)key : strdup(key);
	if (!k)
		return WF_ENOMEM;
	m->e[i].key = k;
	m->e[i].val = val;
	m->e[i].hash = h;
	m->len++;
	m->used++;
	return 0;
}

void *wf_map_del(wf_map *m, const char *key)
{
	if (!m->len)
		return NULL;
	size_t i = find(m, key, hash(key));
	if (!m->e[i].key)
		return NULL;
	void *v = m->e[i].val;
	if (!m->borrow)
		free(m->e[i].key);
	m->e[i].key = WF_MAP_TOMB;
	m->e[i].val = NULL;
	m->len--;
	return v;
}

void wf_map_free(wf_map *m)
{
	for (size_t i = 0; i < m->cap && !m->borrow; i++)
		if (m->e[i].key && m->e[i].key != WF_MAP_TOMB)
			free(m->e[i].key);
	free(m->e);
	int borrow = m->borrow;
	memset(m, 0, sizeof *m);
	m->borrow = borrow;
}

int wf_map_next(const wf_map *m, size_t *i, const char **key, void **val)
{
	for (; *i < m->cap; (*i)++) {
		char *k = m->e[*i].key;
		if (k && k != WF_MAP_TOMB) {
			*key = k;
			*val = m->e[*i].val;
			(*i)++;
			return 1;
		}
	}
	return 0;
}
