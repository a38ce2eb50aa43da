/*
 * String hash map: XXH3 hashing, linear probing, tombstones on delete,
 * growth at 70% occupancy (tombstones included, so probes stay short).
 * Entries keep their key's hash: a probe compares hashes, and reads a key
 * only when they match (on replay, each event looks its workflow up in a
 * map of all of them, and those key reads were cache misses).
 *
 * The hash kept has the key's length in its top 16 bits (up to 0xffff):
 * a probe that finds both equal compares the key with memcmp, which
 * cannot read past a shorter one. An entry's place comes from the low
 * bits, which are the hash's own.
 */
#include "map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xxhash.h>

#include "wflow.h"

char wf_map_tomb[1];

#define LEN_SHIFT 48
#define LEN_MAX 0xffff

static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = XXH3_64bits(s, n) & ((UINT64_C(1) << LEN_SHIFT) - 1);
	return h | (uint64_t)(n < LEN_MAX ? n : LEN_MAX) << LEN_SHIFT;
}

/* The entry of key (n bytes, no NUL among them), or the empty one where
 * it would go. */
static size_t find(const wf_map *m, const char *key, size_t n, uint64_t h)
{
	size_t mask = m->cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		const wf_map_entry *e = &m->e[i];
		if (!e->key)
			return i;
		if (e->hash != h || e->key == WF_MAP_TOMB)
			continue;
		/* Equal hashes: equal lengths, but past LEN_MAX. */
		if (n < LEN_MAX ? memcmp(e->key, key, n) == 0
		                : strncmp(e->key, key, n) == 0 &&
		                      e->key[n] == '\0')
			return i;
	}
}

void *wf_map_get(const wf_map *m, const char *key)
{
	if (!m->len)
		return NULL;
	size_t n = strlen(key);
	size_t i = find(m, key, n, hash(key, n));
	return m->e[i].key ? m->e[i].val : NULL;
}

void *wf_map_get_n(const wf_map *m, const char *key, size_t n)
{
	if (!m->len)
		return NULL;
	/* Looked up as they are first: a stored key that matches them has
	 * no NUL, nor have they (no strnlen for the keys that are found:
	 * on replay, nearly every one). */
	if (n < LEN_MAX) {
		size_t i = find(m, key, n, hash(key, n));
		if (m->e[i].key)
			return m->e[i].val;
	}
	size_t k = n ? strnlen(key, n) : 0;
	if (k == n && n < LEN_MAX)
		return NULL;
	size_t i = find(m, key, k, hash(key, k));
	return m->e[i].key ? m->e[i].val : NULL;
}

/*
 * A table of 2 MiB or more (a map of every workflow, on replay) is mapped
 * with huge pages asked for, in 2 MiB steps: each 4 KiB page of a fresh
 * table is a page fault when first written, and on the VMs this runs on a
 * fault costs microseconds. Smaller ones come from calloc.
 */
#define BIG_TABLE ((size_t)2 << 20)

static size_t table_size(size_t cap)
{
	size_t size = cap * sizeof(wf_map_entry);
	return size < BIG_TABLE ? size
	                        : (size + BIG_TABLE - 1) / BIG_TABLE * BIG_TABLE;
}

static wf_map_entry *table_new(size_t cap)
{
	size_t size = table_size(cap);
	if (size < BIG_TABLE)
		return calloc(cap, sizeof(wf_map_entry));
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, size, MADV_HUGEPAGE); /* a hint: without, 4 KiB pages */
#endif
	return p;
}

static void table_free(wf_map_entry *e, size_t cap)
{
	size_t size = table_size(cap);
	if (size < BIG_TABLE)
		free(e);
	else
		munmap(e, size);
}

void wf_map_prefetch(const wf_map *m, const char *key, size_t n)
{
	if (m->cap)
		__builtin_prefetch(&m->e[(size_t)hash(key, n) & (m->cap - 1)]);
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
	wf_map_entry *e = table_new(cap);
	if (!e)
		return WF_ENOMEM;
	wf_map old = *m;
	m->e = e;
	m->cap = cap;
	m->len = m->used = 0;
	size_t mask = cap - 1;
	for (size_t i = 0; i < old.cap; i++) {
		char *k = old.e[i].key;
		if (!k || k == WF_MAP_TOMB)
			continue;
		/* The keys are distinct and the new table has no tombstones:
		 * the first empty entry is where find() would put it, without
		 * reading any key (a map of all the workflows outgrows the
		 * cache). */
		size_t j = (size_t)old.e[i].hash & mask;
		while (m->e[j].key)
			j = (j + 1) & mask;
		m->e[j] = old.e[i];
		m->len++;
		m->used++;
	}
	table_free(old.e, old.cap);
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
	size_t n = strlen(key);
	uint64_t h = hash(key, n);
	size_t i = find(m, key, n, h);
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
	size_t n = strlen(key);
	size_t i = find(m, key, n, hash(key, n));
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
	table_free(m->e, m->cap);
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
