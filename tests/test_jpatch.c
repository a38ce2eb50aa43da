/*
 * JSON Patch (replay/jpatch.c): wf_jdiff then wf_jpatch must turn a copy of
 * the old value into one equal to the new value (a seeded property test
 * over random values and random mutations, keys with '/' and '~'
 * included); the diff stays small for a small change in a big object
 * (one changed, appended or deleted member of 10,000); malformed or
 * inapplicable operations fail with WF_ECORRUPT naming the operation's
 * index and path, after applying the ones before; RFC 6901 escapes; RFC
 * 6902 "add" semantics on arrays and existing members, inserts in the
 * middle of an array included (Debian's cJSON refuses those: jpatch.c
 * links them itself); member names longer than any fixed buffer.
 */
#include "test.h"

#include <cjson/cJSON.h>

#include "replay/jpatch.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng;

static uint64_t rnd(uint64_t n)
{
	return n ? t_splitmix(&rng) % n : 0;
}

static cJSON *parse(const char *text)
{
	cJSON *v = cJSON_Parse(text);
	CHECK_MSG(v != NULL, "cannot parse %s", text);
	return v;
}

static cJSON *jdup(const cJSON *v)
{
	cJSON *d = cJSON_Duplicate(v, 1);
	CHECK(d != NULL);
	return d;
}

/* Printed unformatted, into a static ring of buffers (several per
 * message); "(null)" for NULL. */
static const char *show(const cJSON *v)
{
	static char ring[4][16384];
	static int k;
	char *out = ring[k++ & 3];
	char *s = v ? cJSON_PrintUnformatted(v) : NULL;
	snprintf(out, sizeof ring[0], "%s", s ? s : "(null)");
	cJSON_free(s);
	return out;
}

/* The diff of old and new_, as a new array. */
static cJSON *jdiff(const cJSON *old, const cJSON *new_)
{
	cJSON *ops = cJSON_CreateArray();
	CHECK(ops != NULL);
	CHECK_OK(wf_jdiff(old, new_, ops));
	return ops;
}

/* Apply ops (not consumed: a copy is) to a copy of old; the result. */
static cJSON *japply(const cJSON *old, const cJSON *ops)
{
	cJSON *root = jdup(old), *o = jdup(ops);
	char err[512] = "";
	int rc = wf_jpatch(&root, o, err, sizeof err);
	CHECK_MSG(rc == 0, "wf_jpatch returned %d (%s): %s; old %s, ops %s", rc,
	          wf_strerror(rc), err, show(old), show(ops));
	cJSON_Delete(o);
	return root;
}

static int count_ops(const cJSON *ops, const char *op)
{
	int n = 0;
	const cJSON *o;
	cJSON_ArrayForEach(o, ops)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "op");
		if (cJSON_IsString(name) && strcmp(name->valuestring, op) == 0)
			n++;
	}
	return n;
}

/* ---- random values -------------------------------------------------------- */

static const char *const key_pool[] = {
	"a", "A", "b", "k", "K", "key", "a/b", "m~n", "~", "/", "~0", "~1",
	"/~", "~/", "a//b", "", " ", "0", "1", "-", "10", "x.y", "\xc3\xa9t\xc3\xa9",
	"value", "op", "path",
};
#define N_KEYS (sizeof key_pool / sizeof key_pool[0])

static const char *const str_pool[] = {
	"", "a", "b", "hello", "Hello", "~1", "a/b", "null", "true", "0",
	"\xe2\x82\xac", "line\nbreak", "tab\there", "quote\"d",
};
#define N_STRS (sizeof str_pool / sizeof str_pool[0])

/* A random key, maybe made up of random characters (with '/' and '~'). */
static void rand_key(char *buf, size_t len)
{
	if (rnd(3)) {
		snprintf(buf, len, "%s", key_pool[rnd(N_KEYS)]);
		return;
	}
	static const char chars[] = "ab~/01-_Z";
	size_t n = 1 + rnd(6);
	if (n >= len)
		n = len - 1;
	for (size_t i = 0; i < n; i++)
		buf[i] = chars[rnd(sizeof chars - 1)];
	buf[n] = '\0';
}

static cJSON *rand_number(void)
{
	double d;
	switch (rnd(6)) {
	case 0:
		d = (double)rnd(10);
		break;
	case 1:
		d = -(double)rnd(1000000);
		break;
	case 2:
		d = ((double)rnd(2001) - 1000.0) / 8.0; /* fractional, negative */
		break;
	case 3:
		d = ((double)rnd(100000) - 50000.0) * 1e-3;
		break;
	case 4:
		d = (double)(int64_t)(t_splitmix(&rng) >> 12) *
		    (rnd(2) ? 1.0 : -1.0); /* past int range */
		break;
	default:
		d = (double)rnd(1u << 31) - 1e9;
		break;
	}
	cJSON *v = cJSON_CreateNumber(d);
	CHECK(v != NULL);
	return v;
}

static cJSON *rand_string(void)
{
	char buf[32];
	const char *s;
	if (rnd(2)) {
		s = str_pool[rnd(N_STRS)];
	} else {
		rand_key(buf, sizeof buf);
		s = buf;
	}
	cJSON *v = cJSON_CreateString(s);
	CHECK(v != NULL);
	return v;
}

enum { K_NULL, K_FALSE, K_TRUE, K_NUMBER, K_STRING, K_ARRAY, K_OBJECT, K_N };

static cJSON *gen(int depth);

static cJSON *gen_kind(int kind, int depth)
{
	cJSON *v = NULL;
	switch (kind) {
	case K_NULL:
		v = cJSON_CreateNull();
		break;
	case K_FALSE:
		v = cJSON_CreateFalse();
		break;
	case K_TRUE:
		v = cJSON_CreateTrue();
		break;
	case K_NUMBER:
		return rand_number();
	case K_STRING:
		return rand_string();
	case K_ARRAY: {
		v = cJSON_CreateArray();
		CHECK(v != NULL);
		uint64_t n = rnd(6);
		for (uint64_t i = 0; i < n; i++)
			CHECK(cJSON_AddItemToArray(v, gen(depth + 1)));
		return v;
	}
	default: {
		v = cJSON_CreateObject();
		CHECK(v != NULL);
		uint64_t n = rnd(7);
		for (uint64_t i = 0; i < n; i++) {
			char key[32];
			rand_key(key, sizeof key);
			if (cJSON_GetObjectItemCaseSensitive(v, key))
				continue; /* keys are unique */
			CHECK(cJSON_AddItemToObject(v, key, gen(depth + 1)));
		}
		return v;
	}
	}
	CHECK(v != NULL);
	return v;
}

/* A random value; containers get rarer with depth (none past 5); a root
 * is a container 9 times in 10. */
static cJSON *gen(int depth)
{
	if (depth >= 5 || rnd(10) < (uint64_t)(depth ? 1 + depth * 2 : 1))
		return gen_kind((int)rnd(K_ARRAY), depth);
	return gen_kind(rnd(2) ? K_ARRAY : K_OBJECT, depth);
}

static cJSON *gen_scalar(void)
{
	return gen_kind((int)rnd(K_ARRAY), 5);
}

/* ---- mutations ------------------------------------------------------------ */

typedef struct node {
	cJSON *v, *parent; /* parent NULL: the root */
} node;

static node nodes[4096];
static size_t n_nodes;

static void collect(cJSON *v, cJSON *parent)
{
	if (n_nodes < sizeof nodes / sizeof nodes[0])
		nodes[n_nodes++] = (node){v, parent};
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		for (cJSON *c = v->child; c; c = c->next)
			collect(c, v);
}

/* A random node matching pred (any if NULL), or -1. */
static long pick(cJSON *root, int (*pred)(const node *))
{
	n_nodes = 0;
	collect(root, NULL);
	size_t idx[4096], n = 0;
	for (size_t i = 0; i < n_nodes; i++)
		if (!pred || pred(&nodes[i]))
			idx[n++] = i;
	return n ? (long)idx[rnd(n)] : -1;
}

static int is_scalar(const node *n)
{
	return !cJSON_IsArray(n->v) && !cJSON_IsObject(n->v);
}
static int is_object(const node *n) { return cJSON_IsObject(n->v); }
static int is_full_object(const node *n)
{
	return cJSON_IsObject(n->v) && n->v->child;
}
static int is_object2(const node *n)
{
	return cJSON_IsObject(n->v) && cJSON_GetArraySize(n->v) >= 2;
}
static int is_array(const node *n) { return cJSON_IsArray(n->v); }
static int is_full_array(const node *n)
{
	return cJSON_IsArray(n->v) && n->v->child;
}

/*
 * Insert item at index at of array (or object) a. Not with
 * cJSON_InsertItemInArray: Debian's cJSON 1.7.15-1+deb12u4 (the backport
 * of the CVE-2023-50471 fix) refuses any index but 0 and the end: it
 * checks newitem->prev where upstream checks after_inserted->prev.
 */
static void insert_at(cJSON *a, int at, cJSON *item)
{
	cJSON *tail = cJSON_CreateArray();
	CHECK(tail != NULL);
	while (cJSON_GetArraySize(a) > at)
		CHECK(cJSON_AddItemToArray(tail, cJSON_DetachItemFromArray(a, at)));
	CHECK(cJSON_AddItemToArray(a, item));
	while (tail->child)
		CHECK(cJSON_AddItemToArray(a, cJSON_DetachItemFromArray(tail, 0)));
	cJSON_Delete(tail);
}

/* Put r in place of node nd (in its parent, or as the root). */
static void replace_node(cJSON **root, const node *nd, cJSON *r)
{
	CHECK(r != NULL);
	if (!nd->parent) {
		cJSON_Delete(*root);
		*root = r;
		return;
	}
	if (nd->v->string) {
		r->string = strdup(nd->v->string);
		CHECK(r->string != NULL);
	}
	CHECK(cJSON_ReplaceItemViaPointer(nd->parent, nd->v, r));
}

/* A value of the same kind as v but (most likely) different. */
static cJSON *changed_leaf(const cJSON *v)
{
	if (cJSON_IsTrue(v))
		return cJSON_CreateFalse();
	if (cJSON_IsFalse(v))
		return cJSON_CreateTrue();
	if (cJSON_IsNumber(v)) {
		/* Nudged (same integer part), negated, or anything. */
		static const double nudge[] = {0.125, -0.125, 1.0 / 1024, 1e-9};
		switch (rnd(3)) {
		case 0:
			return cJSON_CreateNumber(v->valuedouble + nudge[rnd(4)]);
		case 1:
			return cJSON_CreateNumber(-v->valuedouble);
		default:
			return rand_number();
		}
	}
	if (cJSON_IsString(v))
		return rand_string();
	return cJSON_CreateNull();
}

static int kind_of(const cJSON *v)
{
	if (cJSON_IsNull(v))
		return K_NULL;
	if (cJSON_IsFalse(v))
		return K_FALSE;
	if (cJSON_IsTrue(v))
		return K_TRUE;
	if (cJSON_IsNumber(v))
		return K_NUMBER;
	if (cJSON_IsString(v))
		return K_STRING;
	if (cJSON_IsArray(v))
		return K_ARRAY;
	return K_OBJECT;
}

/* One random change to *root; what it did, for the failure message. */
static const char *mutate(cJSON **root)
{
	long i;
	char key[32];
	/* Weights (of 100) of the cases below, in order: replacing the root
	 * with a scalar (9) is rare, or it would hide the others. */
	static const int weight[] = {14, 10, 12, 10, 8, 7, 8, 7, 8, 2, 7, 5, 2};
	int r = (int)rnd(100), c = 0;
	while (r >= weight[c])
		r -= weight[c++];
	switch (c) {
	case 0: /* change a leaf, same type */
		if ((i = pick(*root, is_scalar)) < 0)
			break;
		replace_node(root, &nodes[i], changed_leaf(nodes[i].v));
		return "change leaf";
	case 1: { /* change a value's type */
		i = pick(*root, NULL);
		int k = kind_of(nodes[i].v), nk;
		do
			nk = (int)rnd(K_N);
		while (nk == k);
		replace_node(root, &nodes[i], gen_kind(nk, 3));
		return "change type";
	}
	case 2: /* add a member */
		if ((i = pick(*root, is_object)) < 0)
			break;
		rand_key(key, sizeof key);
		if (cJSON_GetObjectItemCaseSensitive(nodes[i].v, key))
			break;
		CHECK(cJSON_AddItemToObject(nodes[i].v, key, gen(3)));
		return "add member";
	case 3: { /* delete a member */
		if ((i = pick(*root, is_full_object)) < 0)
			break;
		cJSON *o = nodes[i].v;
		cJSON_DeleteItemFromArray(o, (int)rnd((uint64_t)cJSON_GetArraySize(o)));
		return "delete member";
	}
	case 4: /* append to an array */
		if ((i = pick(*root, is_array)) < 0)
			break;
		CHECK(cJSON_AddItemToArray(nodes[i].v, gen(3)));
		return "append";
	case 5: { /* pop from an array */
		if ((i = pick(*root, is_full_array)) < 0)
			break;
		cJSON *a = nodes[i].v;
		cJSON_DeleteItemFromArray(a, cJSON_GetArraySize(a) - 1);
		return "pop";
	}
	case 6: { /* insert into an array */
		if ((i = pick(*root, is_full_array)) < 0)
			break;
		cJSON *a = nodes[i].v;
		int at = (int)rnd((uint64_t)cJSON_GetArraySize(a));
		insert_at(a, at, gen(3));
		return "insert";
	}
	case 7: { /* remove from an array, anywhere */
		if ((i = pick(*root, is_full_array)) < 0)
			break;
		cJSON *a = nodes[i].v;
		cJSON_DeleteItemFromArray(a, (int)rnd((uint64_t)cJSON_GetArraySize(a)));
		return "remove element";
	}
	case 8: /* replace a subtree */
		i = pick(*root, NULL);
		replace_node(root, &nodes[i], gen(2));
		return "replace subtree";
	case 9: /* replace the root with a scalar */
		cJSON_Delete(*root);
		*root = gen_scalar();
		return "scalar root";
	case 10: { /* reorder members: move one to the front */
		if ((i = pick(*root, is_object2)) < 0)
			break;
		cJSON *o = nodes[i].v;
		int n = cJSON_GetArraySize(o);
		cJSON *m = cJSON_DetachItemFromArray(o, 1 + (int)rnd((uint64_t)n - 1));
		CHECK(m != NULL);
		insert_at(o, 0, m);
		return "reorder members";
	}
	case 11: { /* reorder members and change one */
		if ((i = pick(*root, is_object2)) < 0)
			break;
		cJSON *o = nodes[i].v;
		cJSON *m = cJSON_DetachItemFromArray(o, 0);
		CHECK(m != NULL);
		CHECK(cJSON_AddItemToArray(o, m)); /* keeps its name */
		cJSON *c = o->child;
		c = cJSON_DetachItemViaPointer(o, c);
		char *name = c->string;
		c->string = NULL;
		cJSON_Delete(c);
		CHECK(cJSON_AddItemToObject(o, name, gen(4)));
		free(name);
		return "rotate members, change one";
	}
	default: /* make the root a container holding the old root */
		if (rnd(2)) {
			cJSON *a = cJSON_CreateArray();
			CHECK(a != NULL);
			CHECK(cJSON_AddItemToArray(a, *root));
			*root = a;
			return "wrap root in array";
		}
		break;
	}
	return "nothing";
}

/* ---- 1. property: apply(old, diff(old, new)) == new ---------------------- */

/* The whole case, unabridged (CHECK_MSG's message is cut at 2 KB). */
static void dump_failure(uint64_t seed, const char *what, const cJSON *old,
                         const cJSON *new_, const cJSON *ops, const cJSON *got)
{
	char *a = cJSON_PrintUnformatted(old), *b = cJSON_PrintUnformatted(new_);
	char *c = cJSON_PrintUnformatted(ops), *d = cJSON_PrintUnformatted(got);
	fprintf(stderr,
	        "jpatch round trip failed, seed %" PRIu64 " (%s)\n  old  %s\n"
	        "  new  %s\n  ops  %s\n  got  %s\n",
	        seed, what, a ? a : "?", b ? b : "?", c ? c : "?", d ? d : "?");
	cJSON_free(a);
	cJSON_free(b);
	cJSON_free(c);
	cJSON_free(d);
}

static void check_roundtrip(uint64_t seed, const cJSON *old, const cJSON *new_,
                            const char *what)
{
	cJSON *ops = jdiff(old, new_);
	cJSON *got = japply(old, ops);
	if (!cJSON_Compare(got, new_, 1))
		dump_failure(seed, what, old, new_, ops, got);
	CHECK_MSG(cJSON_Compare(got, new_, 1),
	          "seed %" PRIu64 " (%s):\n  old  %s\n  new  %s\n  ops  %s\n  got  %s",
	          seed, what, show(old), show(new_), show(ops), show(got));
	/* The result is the same when the ops come back from text (as they
	 * do from the journal). */
	char *text = cJSON_PrintUnformatted(ops);
	CHECK(text != NULL);
	cJSON *ops2 = parse(text);
	cJSON *got2 = japply(old, ops2);
	CHECK_MSG(cJSON_Compare(got2, new_, 1),
	          "seed %" PRIu64 " (%s, ops through text):\n  old  %s\n  new  %s\n"
	          "  ops  %s\n  got  %s",
	          seed, what, show(old), show(new_), text, show(got2));
	cJSON_free(text);
	cJSON_Delete(ops2);
	cJSON_Delete(got2);
	cJSON_Delete(got);
	cJSON_Delete(ops);
}

static void test_property(void)
{
	long rounds = (long)(2000 * t_scale());
	if (rounds < 200)
		rounds = 200;
	long nonempty = 0;
	for (long r = 0; r < rounds; r++) {
		uint64_t seed = 0x6a70617463680000ull + (uint64_t)r;
		rng = seed;
		t_context("property round %ld, seed %" PRIu64, r, seed);
		cJSON *old = gen(0);

		/* Itself: no operations. */
		cJSON *same = jdiff(old, old);
		CHECK_MSG(cJSON_GetArraySize(same) == 0, "seed %" PRIu64 ": %s vs itself: %s",
		          seed, show(old), show(same));
		cJSON_Delete(same);
		cJSON *copy = jdup(old);
		same = jdiff(old, copy);
		CHECK_MSG(cJSON_GetArraySize(same) == 0,
		          "seed %" PRIu64 ": %s vs its copy: %s", seed, show(old),
		          show(same));
		cJSON_Delete(same);

		char what[256] = "";
		size_t wl = 0;
		int n = 1 + (int)rnd(5);
		for (int m = 0; m < n; m++) {
			const char *w = mutate(&copy);
			int k = snprintf(what + wl, sizeof what - wl, "%s%s", m ? ", " : "", w);
			if (k > 0 && (size_t)k < sizeof what - wl)
				wl += (size_t)k;
		}
		if (!cJSON_Compare(old, copy, 1))
			nonempty++;
		check_roundtrip(seed, old, copy, what);
		/* And back. */
		check_roundtrip(seed, copy, old, what);
		cJSON_Delete(copy);
		cJSON_Delete(old);
	}
	/* The mutations did change something, most of the time. */
	CHECK_MSG(nonempty > rounds / 2, "%ld of %ld rounds changed the value",
	          nonempty, rounds);
	t_context("%s", "");
}

/* ---- 2. size: small changes in a big object -------------------------------- */

#define BIG 10000

/* a and b print the same (members in the same order): for the big objects,
 * where cJSON_Compare is quadratic. */
static void check_same_text(int line, const cJSON *a, const cJSON *b)
{
	char *x = cJSON_PrintUnformatted(a), *y = cJSON_PrintUnformatted(b);
	CHECK(x != NULL && y != NULL);
	if (strcmp(x, y) != 0) {
		size_t i = 0;
		while (x[i] == y[i])
			i++;
		t_fail(__FILE__, line, "differ at byte %zu: \"%.60s\" vs \"%.60s\"", i,
		       x + i, y + i);
	}
	cJSON_free(x);
	cJSON_free(y);
}
#define CHECK_SAME_TEXT(a, b) check_same_text(__LINE__, a, b)

static cJSON *big_object(void)
{
	cJSON *o = cJSON_CreateObject();
	CHECK(o != NULL);
	char key[32], val[128];
	for (int i = 0; i < BIG; i++) {
		snprintf(key, sizeof key, "member%05d", i);
		snprintf(val, sizeof val,
		         "%05d-%.94s", i,
		         "the quick brown fox jumps over the lazy dog, "
		         "the quick brown fox jumps over the lazy dog!!!!!!!");
		CHECK(cJSON_AddStringToObject(o, key, val));
	}
	return o;
}

static void test_size(void)
{
	t_context("size");
	cJSON *old = big_object();
	CHECK_EQ_U64(strlen(cJSON_GetObjectItemCaseSensitive(old, "member00000")
	                        ->valuestring),
	             100);

	/* One member changed: one small "replace". */
	cJSON *new_ = jdup(old);
	CHECK(cJSON_ReplaceItemInObjectCaseSensitive(
	    new_, "member04321", cJSON_CreateString("changed")));
	cJSON *ops = jdiff(old, new_);
	char *text = cJSON_PrintUnformatted(ops);
	CHECK(text != NULL);
	CHECK_MSG(strlen(text) < 200, "%zu bytes: %s", strlen(text), text);
	CHECK_MSG(cJSON_GetArraySize(ops) == 1 && count_ops(ops, "replace") == 1,
	          "%s", text);
	CHECK_CONTAINS(text, "/member04321");
	cJSON *got = japply(old, ops);
	CHECK_SAME_TEXT(got, new_);
	cJSON_free(text);
	cJSON_Delete(got);
	cJSON_Delete(ops);
	cJSON_Delete(new_);

	/* One member appended: one "add". */
	new_ = jdup(old);
	CHECK(cJSON_AddNumberToObject(new_, "appended", 42));
	ops = jdiff(old, new_);
	CHECK_MSG(cJSON_GetArraySize(ops) == 1 && count_ops(ops, "add") == 1, "%s",
	          show(ops));
	CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ops, 0),
	                                              "path")
	                 ->valuestring,
	             "/appended") == 0);
	got = japply(old, ops);
	CHECK_SAME_TEXT(got, new_);
	cJSON_Delete(got);
	cJSON_Delete(ops);
	cJSON_Delete(new_);

	/* The first member deleted: the in-order walk stops at once, the rest
	 * goes by name (a map, not 10,000 x 10,000 compares); one "remove". */
	new_ = jdup(old);
	cJSON_DeleteItemFromObjectCaseSensitive(new_, "member00000");
	ops = jdiff(old, new_);
	CHECK_MSG(cJSON_GetArraySize(ops) == 1 && count_ops(ops, "remove") == 1,
	          "%d ops", cJSON_GetArraySize(ops));
	CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ops, 0),
	                                              "path")
	                 ->valuestring,
	             "/member00000") == 0);
	got = japply(old, ops);
	CHECK_SAME_TEXT(got, new_);
	cJSON_Delete(got);
	cJSON_Delete(ops);

	cJSON_Delete(new_);

	/* The same members in reverse order, one changed: the in-order walk
	 * stops at once, the rest goes by name; still one "replace", no
	 * removes or adds. */
	cJSON *rev = cJSON_CreateObject();
	CHECK(rev != NULL);
	for (cJSON *m = old->child ? old->child->prev : NULL; m;
	     m = m == old->child ? NULL : m->prev) {
		cJSON *c = jdup(m);
		CHECK(cJSON_AddItemToObject(rev, m->string, c));
	}
	CHECK_EQ_U64(cJSON_GetArraySize(rev), BIG);
	CHECK(strcmp(rev->child->string, "member09999") == 0);
	CHECK(cJSON_ReplaceItemInObjectCaseSensitive(rev, "member00007",
	                                             cJSON_CreateNumber(7)));
	ops = jdiff(old, rev);
	CHECK_MSG(cJSON_GetArraySize(ops) == 1 && count_ops(ops, "replace") == 1,
	          "%d ops", cJSON_GetArraySize(ops));
	got = japply(old, ops);
	/* The old order, with the new value in its place. */
	new_ = jdup(old);
	CHECK(cJSON_ReplaceItemInObjectCaseSensitive(new_, "member00007",
	                                             cJSON_CreateNumber(7)));
	CHECK_SAME_TEXT(got, new_);
	cJSON_Delete(new_);
	cJSON_Delete(got);
	cJSON_Delete(ops);
	cJSON_Delete(rev);
	cJSON_Delete(old);
	t_context("%s", "");
}

/* ---- 3. apply errors ------------------------------------------------------- */

/*
 * Apply ops_text to doc_text: WF_ECORRUPT, a message naming the operation
 * index and the path, and the document as after_text (the operations before
 * the bad one applied).
 */
static void check_bad(int line, const char *doc_text, const char *ops_text,
                      const char *index_text, const char *path_text,
                      const char *after_text)
{
	t_context("line %d: apply %s to %s", line, ops_text, doc_text);
	cJSON *doc = parse(doc_text), *ops = parse(ops_text);
	char err[512];
	memset(err, 'X', sizeof err);
	err[sizeof err - 1] = '\0';
	int rc = wf_jpatch(&doc, ops, err, sizeof err);
	CHECK_RC(rc, WF_ECORRUPT);
	CHECK_CONTAINS(err, index_text);
	CHECK_CONTAINS(err, path_text);
	cJSON *after = parse(after_text);
	CHECK_MSG(cJSON_Compare(doc, after, 1), "document %s, expected %s",
	          show(doc), after_text);
	cJSON_Delete(after);
	cJSON_Delete(ops);
	cJSON_Delete(doc);

	/* No room for a message (NULL or 0): still the code, no crash. */
	doc = parse(doc_text);
	ops = parse(ops_text);
	CHECK_RC(wf_jpatch(&doc, ops, NULL, 0), WF_ECORRUPT);
	cJSON_Delete(ops);
	cJSON_Delete(doc);
	/* A short buffer: truncated, terminated. */
	doc = parse(doc_text);
	ops = parse(ops_text);
	char small[8];
	memset(small, 'X', sizeof small);
	CHECK_RC(wf_jpatch(&doc, ops, small, sizeof small), WF_ECORRUPT);
	CHECK(memchr(small, '\0', sizeof small) != NULL);
	cJSON_Delete(ops);
	cJSON_Delete(doc);
	t_context("%s", "");
}

#define BAD(doc, ops, idx, path, after)                                       \
	check_bad(__LINE__, doc, ops, idx, path, after)

/* A first operation that applies, before the bad one. */
#define OK0 "{\"op\":\"add\",\"path\":\"/ok\",\"value\":1},"

static void test_errors(void)
{
	const char *doc = "{\"a\":{\"b\":[10,20,30]},\"s\":\"str\",\"n\":5}";
	const char *after = "{\"a\":{\"b\":[10,20,30]},\"s\":\"str\",\"n\":5,"
	                    "\"ok\":1}";

	/* Not an array. */
	BAD(doc, "{\"op\":\"add\",\"path\":\"/x\",\"value\":1}", "operation 0",
	    "path \"\"", doc);
	BAD(doc, "\"add\"", "operation 0", "path", doc);
	/* An operation that is not an object. */
	BAD(doc, "[" OK0 "42]", "operation 1", "path", after);
	/* No "op", or no "path". */
	BAD(doc, "[" OK0 "{\"path\":\"/x\",\"value\":1}]", "operation 1", "path",
	    after);
	BAD(doc, "[" OK0 "{\"op\":\"add\",\"value\":1}]", "operation 1", "path",
	    after);
	BAD(doc, "[" OK0 "{\"op\":7,\"path\":\"/x\",\"value\":1}]", "operation 1",
	    "path", after);
	/* Unknown operations (RFC 6902 has them, this does not). */
	BAD(doc, "[" OK0 "{\"op\":\"move\",\"from\":\"/s\",\"path\":\"/t\"}]",
	    "operation 1", "\"/t\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"copy\",\"from\":\"/s\",\"path\":\"/t\"}]",
	    "operation 1", "\"/t\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"test\",\"path\":\"/n\",\"value\":5}]",
	    "operation 1", "\"/n\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"ADD\",\"path\":\"/x\",\"value\":1}]",
	    "operation 1", "\"/x\"", after);
	/* add / replace without a value. */
	BAD(doc, "[" OK0 "{\"op\":\"add\",\"path\":\"/x\"}]", "operation 1",
	    "\"/x\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"replace\",\"path\":\"/n\"}]", "operation 1",
	    "\"/n\"", after);
	/* remove / replace of a missing member. */
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/missing\"}]",
	    "operation 1", "\"/missing\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"replace\",\"path\":\"/missing\",\"value\":1}]",
	    "operation 1", "\"/missing\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/a/c\"}]", "operation 1",
	    "\"/a/c\"", after);
	/* Case matters. */
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/N\"}]", "operation 1",
	    "\"/N\"", after);
	/* A missing member on the way. */
	BAD(doc, "[" OK0 "{\"op\":\"add\",\"path\":\"/no/x\",\"value\":1}]",
	    "operation 1", "\"/no/x\"", after);
	/* A path without its leading '/'. */
	BAD(doc, "[" OK0 "{\"op\":\"add\",\"path\":\"x\",\"value\":1}]",
	    "operation 1", "\"x\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"a/b\"}]", "operation 1",
	    "\"a/b\"", after);
	/* Bad escapes: "~2", a lone '~' at the end. */
	BAD(doc, "[" OK0 "{\"op\":\"add\",\"path\":\"/x~2\",\"value\":1}]",
	    "operation 1", "\"/x~2\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"add\",\"path\":\"/x~\",\"value\":1}]",
	    "operation 1", "\"/x~\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/a~2/b\"}]", "operation 1",
	    "\"/a~2/b\"", after);
	/* Array indexes out of range (add may name the end, not past it). */
	BAD(doc, "[" OK0 "{\"op\":\"replace\",\"path\":\"/a/b/3\",\"value\":1}]",
	    "operation 1", "\"/a/b/3\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/a/b/3\"}]", "operation 1",
	    "\"/a/b/3\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"add\",\"path\":\"/a/b/4\",\"value\":1}]",
	    "operation 1", "\"/a/b/4\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/a/b/99999999999999999999\"}]",
	    "operation 1", "\"/a/b/99999999999999999999\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/a/b/-1\"}]", "operation 1",
	    "\"/a/b/-1\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/a/b/-\"}]", "operation 1",
	    "\"/a/b/-\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"replace\",\"path\":\"/a/b/-\",\"value\":1}]",
	    "operation 1", "\"/a/b/-\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/a/b/1x\"}]", "operation 1",
	    "\"/a/b/1x\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/a/b/\"}]", "operation 1",
	    "\"/a/b/\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/a/b/3/x\"}]", "operation 1",
	    "\"/a/b/3/x\"", after);
	/* Leading zeros. */
	BAD(doc, "[" OK0 "{\"op\":\"replace\",\"path\":\"/a/b/01\",\"value\":1}]",
	    "operation 1", "\"/a/b/01\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/a/b/00\"}]", "operation 1",
	    "\"/a/b/00\"", after);
	/* Through a scalar. */
	BAD(doc, "[" OK0 "{\"op\":\"add\",\"path\":\"/s/x\",\"value\":1}]",
	    "operation 1", "\"/s/x\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"/n/0\"}]", "operation 1",
	    "\"/n/0\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"add\",\"path\":\"/a/b/0/x\",\"value\":1}]",
	    "operation 1", "\"/a/b/0/x\"", after);
	BAD(doc, "[" OK0 "{\"op\":\"add\",\"path\":\"/s/x/y\",\"value\":1}]",
	    "operation 1", "\"/s/x/y\"", after);
	BAD("7", "[{\"op\":\"add\",\"path\":\"/x\",\"value\":1}]", "operation 0",
	    "\"/x\"", "7");
	/* Removing the root. */
	BAD(doc, "[" OK0 "{\"op\":\"remove\",\"path\":\"\"}]", "operation 1",
	    "path \"\"", after);
	/* The index counts: the third operation fails after two applied. */
	BAD(doc,
	    "[" OK0 "{\"op\":\"replace\",\"path\":\"/n\",\"value\":6},"
	    "{\"op\":\"remove\",\"path\":\"/zz\"}]",
	    "operation 2", "\"/zz\"", "{\"a\":{\"b\":[10,20,30]},\"s\":\"str\","
	                              "\"n\":6,\"ok\":1}");
	/* A root replaced by an earlier operation stays replaced. */
	BAD(doc,
	    "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]},"
	    "{\"op\":\"remove\",\"path\":\"/x\"}]",
	    "operation 1", "\"/x\"", "[1]");

	/* A long path is cut in the message, not overflowing it. */
	{
		size_t n = 3000;
		char *ops = malloc(n + 64), *p = ops;
		CHECK(ops != NULL);
		p += sprintf(p, "[{\"op\":\"remove\",\"path\":\"/");
		for (size_t i = 0; i < n; i++)
			*p++ = 'q';
		strcpy(p, "\"}]");
		cJSON *d = parse(doc), *o = parse(ops);
		char err[512];
		CHECK_RC(wf_jpatch(&d, o, err, sizeof err), WF_ECORRUPT);
		CHECK(strlen(err) < sizeof err);
		CHECK_CONTAINS(err, "operation 0");
		CHECK_CONTAINS(err, "/qqqq");
		cJSON_Delete(o);
		cJSON_Delete(d);
		free(ops);
	}

	/* The empty patch: nothing changes. */
	{
		cJSON *d = parse(doc), *o = parse("[]");
		CHECK_OK(wf_jpatch(&d, o, NULL, 0));
		cJSON *want = parse(doc);
		CHECK(cJSON_Compare(d, want, 1));
		cJSON_Delete(want);
		cJSON_Delete(o);
		cJSON_Delete(d);
	}
}

/* ---- 4. RFC 6901 escapes ----------------------------------------------------- */

static void test_escapes(void)
{
	t_context("escapes");
	cJSON *old = parse("{\"a/b\":1,\"m~n\":{\"~01\":[1]},\"x\":0}");
	cJSON *new_ = parse("{\"a/b\":2,\"m~n\":{\"~01\":[1,2]},\"x\":0,"
	                    "\"/~\":true}");
	cJSON *ops = jdiff(old, new_);
	char *text = cJSON_PrintUnformatted(ops);
	CHECK(text != NULL);
	/* "a/b" is /a~1b; "m~n" is /m~0n; "~01" is ~001; "/~" is ~1~0. */
	CHECK_CONTAINS(text, "\"/a~1b\"");
	CHECK_CONTAINS(text, "\"/m~0n/~001/-\"");
	CHECK_CONTAINS(text, "\"/~1~0\"");
	CHECK_MSG(cJSON_GetArraySize(ops) == 3, "%s", text);
	cJSON *got = japply(old, ops);
	CHECK_MSG(cJSON_Compare(got, new_, 1), "got %s", show(got));
	/* The members kept their names (not "a" holding "b", ...). */
	CHECK(cJSON_GetObjectItemCaseSensitive(got, "a") == NULL);
	CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(got, "a/b")));
	CHECK(cJSON_GetObjectItemCaseSensitive(got, "m~n") != NULL);
	cJSON_free(text);
	cJSON_Delete(got);
	cJSON_Delete(ops);

	/* Removing them, too. */
	ops = jdiff(new_, old);
	text = cJSON_PrintUnformatted(ops);
	CHECK(text != NULL);
	CHECK_CONTAINS(text, "\"/~1~0\"");
	got = japply(new_, ops);
	CHECK_MSG(cJSON_Compare(got, old, 1), "got %s, ops %s", show(got), text);
	cJSON_free(text);
	cJSON_Delete(got);
	cJSON_Delete(ops);

	/* Hand-written: "~01" unescapes to "~1", not "/" (left to right). */
	cJSON *doc = parse("{\"~1\":1,\"/\":2}");
	ops = parse("[{\"op\":\"remove\",\"path\":\"/~01\"}]");
	CHECK_OK(wf_jpatch(&doc, ops, NULL, 0));
	cJSON *want = parse("{\"/\":2}");
	CHECK_MSG(cJSON_Compare(doc, want, 1), "got %s", show(doc));
	cJSON_Delete(want);
	cJSON_Delete(ops);
	cJSON_Delete(doc);

	/* The empty key: path "/" (not the root). */
	doc = parse("{\"\":1,\"k\":2}");
	ops = parse("[{\"op\":\"replace\",\"path\":\"/\",\"value\":3}]");
	CHECK_OK(wf_jpatch(&doc, ops, NULL, 0));
	want = parse("{\"\":3,\"k\":2}");
	CHECK_MSG(cJSON_Compare(doc, want, 1), "got %s", show(doc));
	cJSON_Delete(want);
	cJSON_Delete(ops);
	cJSON_Delete(doc);

	cJSON_Delete(new_);
	cJSON_Delete(old);
	t_context("%s", "");
}

/* ---- 5. array and "add" semantics ------------------------------------------- */

static void apply_text(int line, const char *doc_text, const char *ops_text,
                       const char *want_text)
{
	t_context("line %d: apply %s to %s", line, ops_text, doc_text);
	cJSON *doc = parse(doc_text), *ops = parse(ops_text);
	char err[256] = "";
	int rc = wf_jpatch(&doc, ops, err, sizeof err);
	CHECK_MSG(rc == 0, "rc %d: %s", rc, err);
	cJSON *want = parse(want_text);
	CHECK_MSG(cJSON_Compare(doc, want, 1), "got %s, expected %s", show(doc),
	          want_text);
	/* Order matters here (cJSON_Compare ignores member order). */
	char *a = cJSON_PrintUnformatted(doc), *b = cJSON_PrintUnformatted(want);
	CHECK_MSG(a && b && strcmp(a, b) == 0, "got %s, expected %s", a, b);
	cJSON_free(a);
	cJSON_free(b);
	cJSON_Delete(want);
	cJSON_Delete(ops);
	cJSON_Delete(doc);
	t_context("%s", "");
}

#define APPLY(doc, ops, want) apply_text(__LINE__, doc, ops, want)


static void test_semantics(void)
{
	/* "-" appends. */
	APPLY("[1,2]", "[{\"op\":\"add\",\"path\":\"/-\",\"value\":3}]", "[1,2,3]");
	APPLY("[]", "[{\"op\":\"add\",\"path\":\"/-\",\"value\":{\"a\":1}}]",
	      "[{\"a\":1}]");
	APPLY("{\"a\":[]}",
	      "[{\"op\":\"add\",\"path\":\"/a/-\",\"value\":1},"
	      "{\"op\":\"add\",\"path\":\"/a/-\",\"value\":2}]",
	      "{\"a\":[1,2]}");
	/* An index inserts (shifting the rest); the end is allowed. */
	APPLY("[1,2,3]", "[{\"op\":\"add\",\"path\":\"/0\",\"value\":0}]",
	      "[0,1,2,3]");
	APPLY("[1,2,3]",
	             "[{\"op\":\"add\",\"path\":\"/1\",\"value\":9}]",
	             "[1,9,2,3]");
	APPLY("[1,2,3]",
	             "[{\"op\":\"add\",\"path\":\"/2\",\"value\":[9]}]",
	             "[1,2,[9],3]");
	APPLY("{\"a\":[[0,1]]}",
	             "[{\"op\":\"add\",\"path\":\"/a/0/1\",\"value\":\"x\"}]",
	             "{\"a\":[[0,\"x\",1]]}");
	APPLY("[1,2,3]", "[{\"op\":\"add\",\"path\":\"/3\",\"value\":4}]",
	      "[1,2,3,4]");
	APPLY("[]", "[{\"op\":\"add\",\"path\":\"/0\",\"value\":1}]", "[1]");
	/* replace and remove at an index. */
	APPLY("[1,2,3]", "[{\"op\":\"replace\",\"path\":\"/1\",\"value\":null}]",
	      "[1,null,3]");
	APPLY("[1,2,3]", "[{\"op\":\"remove\",\"path\":\"/0\"}]", "[2,3]");
	APPLY("[1,2,3]", "[{\"op\":\"remove\",\"path\":\"/2\"}]", "[1,2]");
	APPLY("[[1,[2,3]]]", "[{\"op\":\"remove\",\"path\":\"/0/1/0\"}]",
	      "[[1,[3]]]");
	/* On an object, "-" and digits are member names. */
	APPLY("{}", "[{\"op\":\"add\",\"path\":\"/-\",\"value\":1}]", "{\"-\":1}");
	APPLY("{\"0\":1}", "[{\"op\":\"replace\",\"path\":\"/0\",\"value\":2}]",
	      "{\"0\":2}");
	/* add on an existing member replaces it, in its place. */
	APPLY("{\"a\":1,\"b\":2,\"c\":3}",
	      "[{\"op\":\"add\",\"path\":\"/b\",\"value\":[true]}]",
	      "{\"a\":1,\"b\":[true],\"c\":3}");
	/* A new member goes last. */
	APPLY("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/z\",\"value\":false}]",
	      "{\"a\":1,\"z\":false}");
	/* The root: add and replace replace it. */
	APPLY("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":5}]", "5");
	APPLY("[1]", "[{\"op\":\"add\",\"path\":\"\",\"value\":{\"b\":2}}]",
	      "{\"b\":2}");
	/* Unknown members of an operation are ignored. */
	APPLY("{}",
	      "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1,\"from\":\"/x\","
	      "\"extra\":[1]}]",
	      "{\"a\":1}");

	/* Values are moved out of the operations. */
	{
		cJSON *doc = parse("{}");
		cJSON *ops = parse("[{\"op\":\"add\",\"path\":\"/a\",\"value\":"
		                   "{\"deep\":[1,2]}}]");
		CHECK_OK(wf_jpatch(&doc, ops, NULL, 0));
		CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ops, 0),
		                                       "value") == NULL);
		cJSON *want = parse("{\"a\":{\"deep\":[1,2]}}");
		CHECK(cJSON_Compare(doc, want, 1));
		cJSON_Delete(want);
		cJSON_Delete(ops);
		cJSON_Delete(doc);
	}

	/* The diff's array operations: elements compared by index, growth
	 * appended with "-", shrinking removed from the end. */
	{
		cJSON *a = parse("[1,2,3]"), *b = parse("[1,2,3,4,5]");
		cJSON *ops = jdiff(a, b);
		CHECK_MSG(cJSON_GetArraySize(ops) == 2 && count_ops(ops, "add") == 2,
		          "%s", show(ops));
		CHECK_CONTAINS(show(ops), "\"/-\"");
		cJSON_Delete(ops);
		ops = jdiff(b, a);
		CHECK_MSG(cJSON_GetArraySize(ops) == 2 && count_ops(ops, "remove") == 2,
		          "%s", show(ops));
		CHECK_CONTAINS(show(ops), "\"/4\"");
		cJSON *got = japply(b, ops);
		CHECK(cJSON_Compare(got, a, 1));
		cJSON_Delete(got);
		cJSON_Delete(ops);
		cJSON_Delete(b);
		cJSON_Delete(a);
	}
	/* Types: true/false, 1/"1", null/0, [] / {} all differ; 1 and 1.0 do
	 * not. */
	{
		static const char *const pairs[][2] = {
			{"true", "false"}, {"1", "\"1\""}, {"null", "0"},
			{"[]", "{}"},      {"[0]", "{\"0\":0}"}, {"\"\"", "null"},
			{"0.5", "0.25"},   {"-3", "3"},
		};
		for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
			cJSON *a = parse(pairs[i][0]), *b = parse(pairs[i][1]);
			cJSON *ops = jdiff(a, b);
			CHECK_MSG(cJSON_GetArraySize(ops) == 1 &&
			              count_ops(ops, "replace") == 1,
			          "%s -> %s: %s", pairs[i][0], pairs[i][1], show(ops));
			cJSON *got = japply(a, ops);
			CHECK(cJSON_Compare(got, b, 1));
			cJSON_Delete(got);
			cJSON_Delete(ops);
			cJSON_Delete(b);
			cJSON_Delete(a);
		}
		cJSON *a = parse("1"), *b = parse("1.0");
		cJSON *ops = jdiff(a, b);
		CHECK(cJSON_GetArraySize(ops) == 0);
		cJSON_Delete(ops);
		cJSON_Delete(b);
		cJSON_Delete(a);
	}
	/* A member name far longer than a path buffer would be. */
	{
		char *key = malloc(5001);
		memset(key, 'k', 5000);
		key[5000] = '\0';
		cJSON *old = cJSON_CreateObject(), *new_ = cJSON_CreateObject();
		cJSON_AddNumberToObject(new_, key, 1);
		cJSON *ops = cJSON_CreateArray();
		CHECK_RC(wf_jdiff(old, new_, ops), 0);
		char err[200];
		CHECK_RC(wf_jpatch(&old, ops, err, sizeof err), 0);
		CHECK(cJSON_Compare(old, new_, 1));
		cJSON_Delete(ops);
		cJSON_Delete(old);
		cJSON_Delete(new_);
		free(key);
	}
}

int main(void)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	test_semantics();
	test_escapes();
	test_errors();
	test_size();
	test_property();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("test_jpatch: ok (%.2f s)\n",
	       (double)(t1.tv_sec - t0.tv_sec) +
	           (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
