/*
 * JSON Patch diff and apply (see jpatch.h).
 */
#include "jpatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "wflow.h"

/* ---- JSON Pointer paths, built while descending ---- */

typedef struct path {
	char *p;
	size_t len, cap;
} path;

static int path_push(path *pt, const char *token, size_t *saved)
{
	*saved = pt->len;
	size_t need = pt->len + 2 + 2 * strlen(token);
	if (need > pt->cap) {
		size_t cap = pt->cap ? pt->cap : 64;
		while (cap < need)
			cap *= 2;
		char *q = realloc(pt->p, cap);
		if (!q)
			return WF_ENOMEM;
		pt->p = q;
		pt->cap = cap;
	}
	pt->p[pt->len++] = '/';
	for (const char *s = token; *s; s++) {
		if (*s == '~' || *s == '/') {
			pt->p[pt->len++] = '~';
			pt->p[pt->len++] = *s == '~' ? '0' : '1';
		} else {
			pt->p[pt->len++] = *s;
		}
	}
	pt->p[pt->len] = '\0';
	return 0;
}

static void path_pop(path *pt, size_t saved)
{
	pt->len = saved;
	if (pt->p)
		pt->p[saved] = '\0';
}

/* ---- diff ---- */

static int add_op(cJSON *ops, const char *op, const path *pt,
                  const cJSON *value)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddItemToArray(ops, o)) {
		cJSON_Delete(o);
		return WF_ENOMEM;
	}
	if (!cJSON_AddStringToObject(o, "op", op) ||
	    !cJSON_AddStringToObject(o, "path", pt->p ? pt->p : ""))
		return WF_ENOMEM;
	if (value) {
		cJSON *v = cJSON_Duplicate(value, 1);
		if (!v || !cJSON_AddItemToObject(o, "value", v)) {
			cJSON_Delete(v);
			return WF_ENOMEM;
		}
	}
	return 0;
}

/* Same JSON type (true and false are both booleans, kept apart below). */
static int kind(const cJSON *v)
{
	return v->type & 0xff;
}

static int diff(const cJSON *a, const cJSON *b, path *pt, cJSON *ops);

static int diff_member(const cJSON *a, const cJSON *b, const char *key,
                       path *pt, cJSON *ops)
{
	size_t saved;
	int rc = path_push(pt, key, &saved);
	if (rc == 0)
		rc = diff(a, b, pt, ops);
	path_pop(pt, saved);
	return rc;
}

/* Members from o on, by name (a map when there are many: a state's big
 * objects must not make the diff quadratic). */
typedef struct members {
	const cJSON *first;
	size_t n;
	wf_map map;
} members;

static int members_init(members *m, const cJSON *first)
{
	memset(m, 0, sizeof *m);
	m->map.borrow = 1;
	m->first = first;
	for (const cJSON *o = first; o; o = o->next)
		m->n++;
	if (m->n <= 8)
		return 0;
	for (const cJSON *o = first; o; o = o->next)
		if (o->string && wf_map_put(&m->map, o->string, (void *)o) < 0)
			return WF_ENOMEM;
	return 0;
}

static const cJSON *members_get(const members *m, const char *key)
{
	if (m->n > 8)
		return wf_map_get(&m->map, key);
	for (const cJSON *o = m->first; o; o = o->next)
		if (o->string && strcmp(o->string, key) == 0)
			return o;
	return NULL;
}

static int diff_object(const cJSON *a, const cJSON *b, path *pt, cJSON *ops)
{
	const cJSON *x = a->child, *y = b->child;
	int rc = 0;
	/* Members in the same order: the usual case (a method changes values
	 * and appends members), linear. */
	while (x && y && x->string && y->string &&
	       strcmp(x->string, y->string) == 0 && rc == 0) {
		rc = diff_member(x, y, x->string, pt, ops);
		x = x->next;
		y = y->next;
	}
	if (rc || (!x && !y))
		return rc;
	/* The rest, by name. */
	members ra = {0}, rb = {0};
	if ((rc = members_init(&ra, x)) == 0)
		rc = members_init(&rb, y);
	for (const cJSON *o = x; o && rc == 0; o = o->next) {
		if (!o->string)
			continue;
		const cJSON *n = members_get(&rb, o->string);
		if (n) {
			rc = diff_member(o, n, o->string, pt, ops);
		} else {
			size_t saved;
			if ((rc = path_push(pt, o->string, &saved)) == 0)
				rc = add_op(ops, "remove", pt, NULL);
			path_pop(pt, saved);
		}
	}
	for (const cJSON *n = y; n && rc == 0; n = n->next) {
		if (!n->string || members_get(&ra, n->string))
			continue;
		size_t saved;
		if ((rc = path_push(pt, n->string, &saved)) == 0)
			rc = add_op(ops, "add", pt, n);
		path_pop(pt, saved);
	}
	wf_map_free(&ra.map);
	wf_map_free(&rb.map);
	return rc;
}

static int diff_array(const cJSON *a, const cJSON *b, path *pt, cJSON *ops)
{
	const cJSON *x = a->child, *y = b->child;
	size_t i = 0;
	int rc = 0;
	char idx[32];
	for (; x && y && rc == 0; x = x->next, y = y->next, i++) {
		size_t saved;
		snprintf(idx, sizeof idx, "%zu", i);
		if ((rc = path_push(pt, idx, &saved)) == 0)
			rc = diff(x, y, pt, ops);
		path_pop(pt, saved);
	}
	/* Longer: append. */
	for (; y && rc == 0; y = y->next) {
		size_t saved;
		if ((rc = path_push(pt, "-", &saved)) == 0)
			rc = add_op(ops, "add", pt, y);
		path_pop(pt, saved);
	}
	/* Shorter: remove from the end, so each index is still valid. */
	size_t n = i;
	for (; x; x = x->next)
		n++;
	while (n > i && rc == 0) {
		size_t saved;
		snprintf(idx, sizeof idx, "%zu", --n);
		if ((rc = path_push(pt, idx, &saved)) == 0)
			rc = add_op(ops, "remove", pt, NULL);
		path_pop(pt, saved);
	}
	return rc;
}

static int diff(const cJSON *a, const cJSON *b, path *pt, cJSON *ops)
{
	if (kind(a) != kind(b))
		return add_op(ops, "replace", pt, b);
	switch (kind(a)) {
	case cJSON_Object:
		return diff_object(a, b, pt, ops);
	case cJSON_Array:
		return diff_array(a, b, pt, ops);
	case cJSON_Number:
		/* Both the double and the int: cJSON keeps them in step, but
		 * a caller may have set one only. */
		if (a->valuedouble == b->valuedouble &&
		    a->valueint == b->valueint)
			return 0;
		return add_op(ops, "replace", pt, b);
	case cJSON_String:
	case cJSON_Raw:
		if (a->valuestring && b->valuestring &&
		    strcmp(a->valuestring, b->valuestring) == 0)
			return 0;
		return add_op(ops, "replace", pt, b);
	default: /* null, true, false: the kind says it all */
		return 0;
	}
}

int wf_jdiff(const cJSON *old, const cJSON *new_, cJSON *ops)
{
	path pt = {NULL, 0, 0};
	int rc = diff(old, new_, &pt, ops);
	free(pt.p);
	return rc;
}

/* ---- apply ---- */

/* The next token of a JSON Pointer at *p (after its '/'), unescaped into
 * buf (of len bytes: the path's length is always enough). @return 0, or
 * -1 if malformed. */
static int next_token(const char **p, char *buf, size_t len)
{
	const char *s = *p;
	if (*s != '/')
		return -1;
	s++;
	size_t n = 0;
	for (; *s && *s != '/'; s++) {
		char c = *s;
		if (c == '~') {
			if (s[1] == '0')
				c = '~';
			else if (s[1] == '1')
				c = '/';
			else
				return -1;
			s++;
		}
		if (n + 1 >= len)
			return -1;
		buf[n++] = c;
	}
	buf[n] = '\0';
	*p = s;
	return 0;
}

/* An array index token: digits without leading zeros. */
static int parse_index(const char *t, size_t *out)
{
	if (!*t || (t[0] == '0' && t[1]) || strspn(t, "0123456789") != strlen(t))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(t, NULL, 10);
	if (errno || v > (unsigned long long)(1u << 30))
		return -1;
	*out = (size_t)v;
	return 0;
}

static int bad(char *err, size_t errlen, size_t i, const char *path,
               const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "patch operation %zu (path \"%.200s\"): %s",
		         i, path ? path : "", why);
	return WF_ECORRUPT;
}

/* Insert item before index idx (< size) of arr. cJSON_InsertItemInArray
 * is not used: Debian's cJSON 1.7.15 (with the fix for CVE-2023-50471)
 * refuses every insert that is not at the start. */
static void array_insert(cJSON *arr, size_t idx, cJSON *item)
{
	cJSON *at = cJSON_GetArrayItem(arr, (int)idx);
	item->next = at;
	item->prev = at->prev; /* the head's prev is the tail */
	if (at == arr->child)
		arr->child = item;
	else
		at->prev->next = item;
	at->prev = item;
}

/* Walk path to the parent of its last token (into tok), and do the
 * operation there. Takes value. */
static int place(cJSON **root, const char *path, char *tok, size_t toklen,
                 cJSON *value, int is_add, int is_remove, int is_replace,
                 size_t i, char *err, size_t errlen)
{
	int rc = 0;
	const char *p = path;
	cJSON *parent = *root;
	for (;;) {
		if (next_token(&p, tok, toklen) < 0) {
			rc = bad(err, errlen, i, path, "malformed path");
			break;
		}
		if (!*p)
			break; /* tok is the last token */
		cJSON *child = NULL;
		size_t idx;
		if (cJSON_IsObject(parent))
			child = cJSON_GetObjectItemCaseSensitive(parent, tok);
		else if (cJSON_IsArray(parent) && parse_index(tok, &idx) == 0)
			child = cJSON_GetArrayItem(parent, (int)idx);
		if (!child) {
			rc = bad(err, errlen, i, path, "no such member");
			break;
		}
		parent = child;
	}
	if (rc) {
		cJSON_Delete(value);
		return rc;
	}
	if (cJSON_IsObject(parent)) {
		cJSON *cur = cJSON_GetObjectItemCaseSensitive(parent, tok);
		if (is_remove) {
			if (!cur)
				return bad(err, errlen, i, path, "no such member");
			cJSON_Delete(cJSON_DetachItemViaPointer(parent, cur));
			return 0;
		}
		if (cur) {
			/* add on an existing member replaces it (RFC 6902). The
			 * key is copied here: cJSON_ReplaceItemInObject, out of
			 * memory for its copy, puts the value in with a NULL key,
			 * which hides every member after it from lookups. */
			size_t kl = strlen(tok) + 1;
			char *key = cJSON_malloc(kl);
			if (!key) {
				cJSON_Delete(value);
				return WF_ENOMEM;
			}
			memcpy(key, tok, kl);
			value->string = key; /* (apply_one cleared it) */
			cJSON_ReplaceItemViaPointer(parent, cur, value);
			return 0;
		}
		if (is_replace) {
			cJSON_Delete(value);
			return bad(err, errlen, i, path, "no such member");
		}
		if (!cJSON_AddItemToObject(parent, tok, value)) {
			cJSON_Delete(value);
			return WF_ENOMEM;
		}
		return 0;
	}
	if (cJSON_IsArray(parent)) {
		int size = cJSON_GetArraySize(parent);
		size_t idx;
		if (is_add && strcmp(tok, "-") == 0) {
			if (!cJSON_AddItemToArray(parent, value)) {
				cJSON_Delete(value);
				return WF_ENOMEM;
			}
			return 0;
		}
		if (parse_index(tok, &idx) < 0 || idx > (size_t)size ||
		    (!is_add && idx == (size_t)size)) {
			cJSON_Delete(value);
			return bad(err, errlen, i, path, "bad array index");
		}
		if (is_remove) {
			cJSON_DeleteItemFromArray(parent, (int)idx);
			return 0;
		}
		if (!is_add) { /* replace */
			cJSON *cur = cJSON_GetArrayItem(parent, (int)idx);
			if (!cJSON_ReplaceItemViaPointer(parent, cur, value)) {
				cJSON_Delete(value);
				return WF_ENOMEM;
			}
			return 0;
		}
		if (idx == (size_t)size) {
			if (!cJSON_AddItemToArray(parent, value)) {
				cJSON_Delete(value);
				return WF_ENOMEM;
			}
			return 0;
		}
		array_insert(parent, idx, value);
		return 0;
	}
	cJSON_Delete(value);
	return bad(err, errlen, i, path, "parent is not an object or array");
}

static int apply_one(cJSON **root, cJSON *op, size_t i, char *err,
                     size_t errlen)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(op, "op");
	const cJSON *pth = cJSON_GetObjectItemCaseSensitive(op, "path");
	if (!cJSON_IsString(o) || !cJSON_IsString(pth))
		return bad(err, errlen, i, NULL, "no op or path");
	const char *name = o->valuestring, *path = pth->valuestring;
	int is_add = strcmp(name, "add") == 0;
	int is_remove = strcmp(name, "remove") == 0;
	int is_replace = strcmp(name, "replace") == 0;
	if (!is_add && !is_remove && !is_replace)
		return bad(err, errlen, i, path, "unknown op");
	cJSON *value = NULL;
	if (!is_remove) {
		value = cJSON_DetachItemFromObjectCaseSensitive(op, "value");
		if (!value)
			return bad(err, errlen, i, path, "no value");
		/* Detached, it still carries its key in op ("value"). */
		if (!(value->type & cJSON_StringIsConst))
			cJSON_free(value->string);
		value->string = NULL;
		value->type &= ~cJSON_StringIsConst;
	}
	if (!*path) {
		/* The whole value. */
		if (is_remove)
			return bad(err, errlen, i, path, "cannot remove the root");
		cJSON_Delete(*root);
		*root = value;
		return 0;
	}
	/* Walk to the parent of the last token. */
	size_t toklen = strlen(path) + 1;
	char *tok = malloc(toklen);
	if (!tok) {
		cJSON_Delete(value);
		return WF_ENOMEM;
	}
	int rc = place(root, path, tok, toklen, value, is_add, is_remove,
	           is_replace, i, err, errlen);
	free(tok);
	return rc;
}

int wf_jpatch(cJSON **root, cJSON *ops, char *err, size_t errlen)
{
	if (!cJSON_IsArray(ops))
		return bad(err, errlen, 0, NULL, "the patch is not an array");
	size_t i = 0;
	for (cJSON *op = ops->child; op; op = op->next, i++) {
		if (!cJSON_IsObject(op))
			return bad(err, errlen, i, NULL, "not an object");
		int rc = apply_one(root, op, i, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}
