/*
 * The fold: journal events -> workflow state (see fold.h).
 *
 * Each event type updates one workflow:
 *   workflow_created  a new workflow: user metadata, and the steps of its
 *                     DAG (id, name, function, options, metadata, args);
 *                     the name counter counts each step's base name
 *   attempt_started   a run or resume: stats start = now, end dropped;
 *                     the attempt's engine session is remembered
 *   status_changed    RUNNING / FAILED / SUCCESSFUL (end = now) /
 *                     CANCELED (no end: the seed's Note 1)
 *   step_started      try n of a step; the first try of a run sets the
 *                     step's start and drops its end
 *   step_succeeded    the step's end; its output if checkpointed
 *   step_failed       the try's end and error
 *   continuation      the step returned a sub-DAG: its steps are added,
 *                     and the step's output is the sub-DAG's output
 *   workflow_output   the workflow's output
 *   workflow_deleted  the workflow is gone (its id may be used again)
 * RESUMABLE is not journaled: it is RUNNING in a session that is not the
 * live one, derived when asked.
 *
 * Applying checks before it changes anything, so a refused event leaves
 * the state as it was.
 */
#include "fold.h"
#include "bigmem.h"
#include "vec.h"
#include "jpatch.h"
#include "journal/jsoncheck.h"
#include "journal/varint.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <pthread.h>
#include <sys/mman.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/*
 * Where workflows' arena blocks come from: 4 MiB chunks mapped with their
 * pages already present (one system call instead of a page fault per
 * 4 KiB page, which is most of what a replay costs on a virtual machine),
 * carved in size classes of 64 bytes, with freed blocks kept per class
 * for the next workflow. Blocks over 64 KiB come from malloc.
 */
#define SLAB_STEP 64u
#define SLAB_CLASSES 1024u
#define SLAB_CHUNK ((size_t)4 << 20)

/*
 * Chunks populated ahead on a thread of their own (wf_fold_populate_ahead):
 * populating is most of the kernel's share of a long replay, and the
 * fold's thread need not wait for it. The thread keeps up to AHEAD_CHUNKS
 * ready; the slab takes the next one, waiting for it if need be (the
 * thread is then populating it). If the thread cannot map one, it ends,
 * and the slab maps its own again.
 */
#define AHEAD_CHUNKS 4

typedef struct slab_ahead {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* n changed, or done */
	pthread_t thread;
	char *ready[AHEAD_CHUNKS];
	unsigned n;
	int stop; /* asked to end */
	int done; /* ended (stop, or mmap failed) */
} slab_ahead;

typedef struct wf_slab {
	void *free[SLAB_CLASSES]; /* freed blocks, linked through word 0 */
	void *chunks;             /* mapped chunks, linked through word 0 */
	char *cur;
	size_t left;
	/* wf_fold_populate_ahead: on (ahead_on), and the thread once the
	 * slab has mapped a chunk of its own (a short replay starts none). */
	int ahead_on;
	slab_ahead *ahead;
	size_t ahead_used; /* chunks the thread populated (tests ask) */
	/* While a save's references to frozen blocks are out (pins > 0,
	 * wf_fold_unpin), blocks given back wait here, untouched. */
	unsigned pins;
	struct grave {
		void *p;
		size_t size;
	} *grave;
	size_t ngrave, cgrave;
} wf_slab;

/*
 * A chunk, its pages present: huge ones where the kernel has them (a
 * fresh 4 KiB page costs microseconds to touch on the VMs this runs on,
 * even after MAP_POPULATE; a 2 MiB one about the same). Kernels before
 * 5.14 cannot populate a range after madvise: MAP_POPULATE then. NULL
 * if mmap fails.
 */
static char *slab_chunk(void)
{
	char *c;
#if defined(MADV_HUGEPAGE) && defined(MADV_POPULATE_WRITE)
	c = mmap(NULL, SLAB_CHUNK, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED)
		return NULL;
	madvise(c, SLAB_CHUNK, MADV_HUGEPAGE); /* a hint */
	if (madvise(c, SLAB_CHUNK, MADV_POPULATE_WRITE) == 0)
		return c;
	munmap(c, SLAB_CHUNK);
#endif
	c = mmap(NULL, SLAB_CHUNK, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	return c == MAP_FAILED ? NULL : c;
}

static void *ahead_main(void *arg)
{
	slab_ahead *a = arg;
	pthread_mutex_lock(&a->mu);
	while (!a->stop) {
		if (a->n == AHEAD_CHUNKS) {
			pthread_cond_wait(&a->cv, &a->mu);
			continue;
		}
		pthread_mutex_unlock(&a->mu);
		char *c = slab_chunk();
		pthread_mutex_lock(&a->mu);
		if (!c)
			break;
		a->ready[a->n++] = c;
		pthread_cond_broadcast(&a->cv);
	}
	a->done = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* Start the thread (nothing if it cannot: the slab maps its own). */
static void ahead_start(wf_slab *s)
{
	slab_ahead *a = calloc(1, sizeof *a);
	if (!a)
		return;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if (pthread_create(&a->thread, NULL, ahead_main, a) != 0) {
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
		free(a);
		return;
	}
	s->ahead = a;
}

/* Stop and join the thread; the chunks it has ready are unmapped. */
static void ahead_stop(wf_slab *s)
{
	slab_ahead *a = s->ahead;
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	while (a->n)
		munmap(a->ready[--a->n], SLAB_CHUNK);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
	s->ahead = NULL;
}

/* A new chunk: the thread's next (started at the slab's second chunk),
 * else one mapped here. */
static char *slab_next_chunk(wf_slab *s)
{
	if (!s->ahead && s->ahead_on && s->chunks)
		ahead_start(s);
	slab_ahead *a = s->ahead;
	if (a) {
		char *c = NULL;
		pthread_mutex_lock(&a->mu);
		while (!a->n && !a->done)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->n) {
			c = a->ready[--a->n];
			pthread_cond_broadcast(&a->cv);
		}
		pthread_mutex_unlock(&a->mu);
		if (c) {
			s->ahead_used++;
			return c;
		}
	}
	return slab_chunk();
}

/* A new chunk to carve from (what is left of the current one is not
 * used). @return 0, or -1 if none can be mapped. */
static int slab_refill(wf_slab *s)
{
	char *c = slab_next_chunk(s);
	if (!c)
		return -1;
	*(void **)c = s->chunks;
	s->chunks = c;
	s->cur = c + 64;
	s->left = SLAB_CHUNK - 64;
	return 0;
}

/* A block of at least *size bytes; *size gets its real size. */
static void *slab_get(wf_slab *s, size_t *size)
{
	size_t cls = (*size + SLAB_STEP - 1) / SLAB_STEP;
	if (cls >= SLAB_CLASSES)
		return malloc(*size);
	*size = cls * SLAB_STEP;
	void *p = s->free[cls];
	if (p) {
		s->free[cls] = *(void **)p;
		return p;
	}
	if (s->left < *size && slab_refill(s) < 0)
		return malloc(*size);
	p = s->cur;
	s->cur += *size;
	s->left -= *size;
	return p;
}

/* n bytes (at most a quarter of a chunk) kept until the slab is freed,
 * never given back, or NULL if no chunk can be mapped. */
static void *slab_carve(wf_slab *s, size_t n)
{
	n = (n + SLAB_STEP - 1) / SLAB_STEP * SLAB_STEP;
	if (n > SLAB_CHUNK / 4 || (s->left < n && slab_refill(s) < 0))
		return NULL;
	void *p = s->cur;
	s->cur += n;
	s->left -= n;
	return p;
}

/* Give back a block of size bytes (as slab_get returned it). A block that
 * came from malloc because mmap failed is kept forever: harmless. */
static void slab_put(wf_slab *s, void *p, size_t size)
{
	size_t cls = (size + SLAB_STEP - 1) / SLAB_STEP; /* as slab_get */
	if (cls >= SLAB_CLASSES) {
		free(p);
		return;
	}
	*(void **)p = s->free[cls];
	s->free[cls] = p;
}

/* slab_put of a workflow's frozen block, which a save's reference may
 * still be reading: then kept until wf_fold_unpin (forever if that list
 * cannot grow: harmless). */
static void slab_put_blob(wf_slab *s, void *p, size_t size)
{
	if (!s->pins) {
		slab_put(s, p, size);
		return;
	}
	struct grave *v = wf_vec_room(s->grave, &s->cgrave, s->ngrave,
	                              sizeof *v, 64);
	if (!v)
		return;
	s->grave = v;
	s->grave[s->ngrave++] = (struct grave){p, size};
}

static void slab_free(wf_slab *s)
{
	ahead_stop(s);
	for (size_t i = 0; i < s->ngrave; i++)
		if ((s->grave[i].size + SLAB_STEP - 1) / SLAB_STEP >= SLAB_CLASSES)
			free(s->grave[i].p); /* (the others are in chunks) */
	free(s->grave);
	while (s->chunks) {
		void *c = s->chunks;
		s->chunks = *(void **)c;
		munmap(c, SLAB_CHUNK);
	}
}

/* A growing byte buffer (freezing workflows). */
typedef struct fbuf {
	uint8_t *p;
	size_t len, cap;
	int oom;
	int64_t t; /* the last time written */
} fbuf;

/*
 * The fold's own strings: causes, outcomes, step types and the defaults
 * "{}" and "null", which freezing keeps as one byte each ("symbols", see
 * syms below). They are one object, so that freeze knows one by its
 * address, without reading it.
 */
static const struct symtext {
	char run[4], resume[7], call[5], create[7];
	char succeeded[10], failed[7], successful[11], canceled[9];
	char empty[1], function[9], actor_method[13], obj[3], null[5];
} sym = {
	"run",       "resume", "call",       "create",
	"SUCCEEDED", "FAILED", "SUCCESSFUL", "CANCELED",
	"",          "FUNCTION", "ACTOR_METHOD", "{}", "null",
};

struct wf_fold {
	wf_slab slab;
	fbuf scratch; /* where freeze packs a workflow */
	int no_freeze;
	char *only; /* fold only this workflow (wf_fold_set_only), or NULL */
	size_t only_len;
	wf_fstep **dagv; /* a DAG's steps while it is read (parse_dag) */
	size_t dagcap;
	char *dagtext;   /* and its text (dag_copy) */
	size_t dagtext_cap;
	uint8_t *adopted; /* a restored payload: frozen blocks point into it */
	struct lazy *lazy; /* what a lazy restore has not read yet, or NULL */
	wf_map wfs; /* id -> wf_fwf */
	char *live_session;
	char *last_session;
	wf_map sessions; /* interned session ids (value: the key) */
	uint64_t last_seq;
	/* The latest time of the events folded (wall clocks go back; a
	 * point in time is past all of them once past this); INT64_MAX:
	 * unknown (restored from a version 1 save). */
	int64_t max_ns;
};

/* ---- per-workflow arena: the steps' strings, args and structs ---- */

struct wf_arena_block {
	struct wf_arena_block *next;
	size_t used, cap; /* cap: bytes of data */
	_Alignas(8) unsigned char data[];
};

/* arena_alloc_align when the current block has no room. */
static void *arena_alloc_new(wf_fwf *w, size_t n, size_t align)
{
	wf_arena_block *b = w->arena;
	size_t pad = b ? (align - b->used % align) % align : 0;
	if (!b || b->cap - b->used < n + pad) {
		/* The first block is sized by the caller's estimate of the
		 * workflow's whole life (see dag_estimate); later ones, for
		 * what it did not foresee (continuations, retries), grow
		 * slowly: a half-empty last block per workflow is the waste. */
		size_t cap = w->arena_hint;
		if (b)
			cap = b->cap / 2;
		if (cap < n)
			cap = n;
		if (cap < 256)
			cap = 256;
		w->arena_hint = 0;
		size_t size = sizeof(wf_arena_block) + cap;
		wf_arena_block *nb = slab_get(w->slab, &size);
		if (!nb)
			return NULL;
		nb->next = b;
		nb->used = 0;
		nb->cap = size - sizeof *nb;
		w->arena = b = nb;
		pad = 0;
	}
	void *p = b->data + b->used + pad;
	b->used += n + pad;
	return p;
}

/* n bytes aligned for any of the fold's structs (align 8), or for text
 * (align 1: most strings are short, and padding them is memory that a
 * replay must fault in). Inlined: a DAG makes a few per step. */
static inline void *arena_alloc_align(wf_fwf *w, size_t n, size_t align)
{
	wf_arena_block *b = w->arena;
	if (b) {
		size_t pad = (align - b->used % align) % align;
		if (b->cap - b->used >= n + pad) {
			void *p = b->data + b->used + pad;
			b->used += n + pad;
			return p;
		}
	}
	return arena_alloc_new(w, n, align);
}

static void *arena_alloc(wf_fwf *w, size_t n)
{
	return arena_alloc_align(w, n, 8);
}

static inline char *arena_strndup(wf_fwf *w, const char *s, size_t n)
{
	char *p = arena_alloc_align(w, n + 1, 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static void arena_free(wf_fwf *w)
{
	while (w->arena) {
		wf_arena_block *b = w->arena;
		w->arena = b->next;
		slab_put(w->slab, b, sizeof *b + b->cap);
	}
}

static void errf(char *err, size_t len, const char *fmt, ...)
{
	if (!err || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

int wf_fold_new(wf_fold **out)
{
	*out = calloc(1, sizeof(wf_fold));
	return *out ? 0 : WF_ENOMEM;
}

void wf_fold_set_freezing(wf_fold *f, int on)
{
	f->no_freeze = !on;
}

void wf_fold_populate_ahead(wf_fold *f, int on)
{
	f->slab.ahead_on = on;
	if (!on)
		ahead_stop(&f->slab);
}

size_t wf_fold_populated_ahead(const wf_fold *f)
{
	return f->slab.ahead_used;
}

int wf_fold_set_only(wf_fold *f, const char *id)
{
	free(f->only);
	f->only = NULL;
	f->only_len = 0;
	if (id && !(f->only = strdup(id)))
		return WF_ENOMEM;
	if (id)
		f->only_len = strlen(id);
	return 0;
}

static void free_wf(wf_fwf *w)
{
	if (!w)
		return;
	/* Everything else of the workflow is in its arena, or its block
	 * (blob_cap 0: a block in a restored payload, not its own). */
	if (w->blob && w->blob_cap)
		slab_put_blob(w->slab, w->blob, w->blob_cap);
	cJSON_Delete(w->actor_state);
	wf_map_free(&w->steps);
	wf_map_free(&w->names);
	arena_free(w);
	/* The struct and its id came from the slab, as new_wf asked. */
	slab_put(w->slab, w, sizeof *w + strlen(w->id) + 1);
}

/* A new workflow, its id stored after it (so that it never moves: it is
 * the key of the fold's map). */
static wf_fwf *new_wf(wf_fold *f, const char *id, size_t n)
{
	size_t size = sizeof(wf_fwf) + n + 1;
	wf_fwf *w = slab_get(&f->slab, &size);
	if (!w)
		return NULL;
	memset(w, 0, sizeof *w);
	w->id = (char *)(w + 1);
	memcpy(w->id, id, n);
	w->id[n] = '\0';
	w->slab = &f->slab;
	return w;
}

static void lazy_free(wf_fold *f);

void wf_fold_free(wf_fold *f)
{
	if (!f)
		return;
	const char *k;
	void *v;
	for (size_t i = 0; wf_map_next(&f->wfs, &i, &k, &v);)
		free_wf(v);
	wf_map_free(&f->wfs);
	for (size_t i = 0; wf_map_next(&f->sessions, &i, &k, &v);)
		free(v);
	f->sessions.borrow = 1; /* the keys were the values, freed above */
	wf_map_free(&f->sessions);
	free(f->live_session);
	free(f->last_session);
	slab_free(&f->slab);
	free(f->scratch.p);
	free(f->adopted);
	lazy_free(f);
	free(f->only);
	free(f->dagv);
	free(f->dagtext);
	free(f);
}

/* The interned copy of session (one per engine session, shared by all
 * the workflows it ran). */
static const char *intern_session(wf_fold *f, const char *s, size_t n)
{
	char buf[128];
	if (n >= sizeof buf)
		n = sizeof buf - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	char *v = wf_map_get(&f->sessions, buf);
	if (v)
		return v;
	if (!(v = strdup(buf)))
		return NULL;
	f->sessions.borrow = 1;
	if (wf_map_put(&f->sessions, v, v) < 0) {
		free(v);
		return NULL;
	}
	return v;
}

int wf_fold_set_live_session(wf_fold *f, const char *session)
{
	char *s = NULL;
	if (session && !(s = strdup(session)))
		return WF_ENOMEM;
	free(f->live_session);
	f->live_session = s;
	return 0;
}

const char *wf_fold_last_session(const wf_fold *f)
{
	return f->last_session;
}

uint64_t wf_fold_last_seq(const wf_fold *f)
{
	return f->last_seq;
}

int64_t wf_fold_max_time(const wf_fold *f)
{
	return f->max_ns;
}

void wf_fold_passed(wf_fold *f, uint64_t seq)
{
	if (seq > f->last_seq)
		f->last_seq = seq;
}

static int thaw(wf_fwf *w);

const wf_fwf *wf_fold_get(const wf_fold *f, const char *id)
{
	const wf_fwf *w;
	return wf_fold_find(f, id, &w) == 0 ? w : NULL;
}

static int lazy_find(wf_fold *f, const char *id, size_t n, char *err,
                     size_t errlen);

int wf_fold_find(const wf_fold *f, const char *id, const wf_fwf **out)
{
	wf_fwf *w = wf_map_get(&f->wfs, id);
	*out = NULL;
	if (!w && f->lazy) {
		/* Reading records changes the fold's memory, not its state,
		 * as thawing does. */
		int rc = lazy_find((wf_fold *)f, id, strlen(id), NULL, 0);
		if (rc < 0)
			return rc;
		w = wf_map_get(&f->wfs, id);
	}
	if (!w)
		return WF_ENOTFOUND;
	/* Thawing changes the fold's memory, not its state: the callers
	 * serialize access as for wf_fold_apply (see fold.h). */
	int rc = w->frozen ? thaw(w) : 0;
	if (rc < 0)
		return rc;
	*out = w;
	return 0;
}

int wf_fold_next(const wf_fold *f, size_t *i, const wf_fwf **wf)
{
	const char *k;
	void *v;
	if (*i == 0 && f->lazy && wf_fold_read_all((wf_fold *)f, NULL, 0) < 0)
		return 0;
	if (!wf_map_next(&f->wfs, i, &k, &v))
		return 0;
	*wf = v;
	return 1;
}

wf_status wf_fold_wf_status(const wf_fold *f, const wf_fwf *w)
{
	if (!w)
		return WF_STATUS_NONE;
	if (w->status == WF_STATUS_RUNNING &&
	    (!f->live_session || !w->session ||
	     strcmp(f->live_session, w->session) != 0))
		return WF_STATUS_RESUMABLE;
	if (w->status == WF_STATUS_NONE)
		return WF_STATUS_RESUMABLE; /* created, never started: crashed */
	return (wf_status)w->status;
}

wf_status wf_fold_status(const wf_fold *f, const char *id)
{
	const wf_fwf *w = wf_map_get(&f->wfs, id); /* no thaw */
	if (!w && f->lazy && lazy_find((wf_fold *)f, id, strlen(id), NULL, 0) == 0)
		w = wf_map_get(&f->wfs, id);
	return wf_fold_wf_status(f, w);
}

/* Small workflows (most) are searched in order; a map is built for the
 * steps of large ones (add_steps), where a search would cost. */
#define STEP_MAP_MIN 16

static inline int step_is(const wf_fstep *s, const char *id, size_t n)
{
	/* (Ids of one workflow mostly differ in length or first byte: the
	 * call to memcmp is mostly for the match.) */
	return s->id_len == n &&
	       (n == 0 || (s->id[0] == id[0] && memcmp(s->id, id, n) == 0));
}

/* The step whose id is the n bytes at id (a step found has no NUL in its
 * id, so neither have they then). */
static wf_fstep *step_n(const wf_fwf *w, const char *id, size_t n)
{
	if (w->nsteps >= STEP_MAP_MIN)
		return wf_map_get_n(&w->steps, id, n);
	for (size_t i = 0; i < w->nsteps; i++)
		if (step_is(w->order[i], id, n))
			return w->order[i];
	return NULL;
}

/* step_n for an event: most are about the step the last one was about,
 * or the next (a step ends after it starts, the next one starts), which
 * are tried first (each step tried is a cache line). */
static wf_fstep *step_for_event(wf_fwf *w, const char *id, size_t n)
{
	size_t h = w->step_hint;
	for (size_t i = h; i < h + 2 && i < w->nsteps; i++)
		if (step_is(w->order[i], id, n)) {
			w->step_hint = i;
			return w->order[i];
		}
	wf_fstep *s = step_n(w, id, n);
	if (s && w->nsteps < STEP_MAP_MIN)
		for (size_t i = 0; i < w->nsteps; i++)
			if (w->order[i] == s)
				w->step_hint = i;
	return s;
}

const wf_fstep *wf_fold_step(const wf_fwf *w, const char *id)
{
	return step_n(w, id, strlen(id));
}

void wf_fold_next_id(const wf_fwf *w, const char *base, int extra,
                     char *buf, size_t len)
{
	/* The name counter: how many steps so far have this base name. */
	intptr_t n = extra;
	if (w->nsteps >= STEP_MAP_MIN && w->names_counted == w->nsteps)
		n += (intptr_t)wf_map_get(&w->names, base);
	else
		for (size_t i = 0; i < w->nsteps; i++)
			if (strcmp(w->order[i]->name, base) == 0)
				n++;
	for (;; n++) {
		if (n == 0)
			snprintf(buf, len, "%s", base);
		else
			snprintf(buf, len, "%s_%" PRIdPTR, base, n);
		if (!wf_fold_step(w, buf))
			return;
	}
}

/* ---- reading event fields ---- */

static int text(const wf_event *ev, unsigned i, char **out)
{
	if (i >= ev->nfields || (ev->fields[i].kind != WF_FIELD_TEXT &&
	                         ev->fields[i].kind != WF_FIELD_JSON))
		return WF_ECORRUPT;
	char *s = malloc(ev->fields[i].v.s.len + 1);
	if (!s)
		return WF_ENOMEM;
	memcpy(s, ev->fields[i].v.s.ptr, ev->fields[i].v.s.len);
	s[ev->fields[i].v.s.len] = '\0';
	*out = s;
	return 0;
}

static int field_is(const wf_event *ev, unsigned i, const char *s)
{
	size_t n = strlen(s);
	return i < ev->nfields && ev->fields[i].kind == WF_FIELD_TEXT &&
	       ev->fields[i].v.s.len == n &&
	       memcmp(ev->fields[i].v.s.ptr, s, n) == 0;
}

static uint64_t num(const wf_event *ev, unsigned i)
{
	if (i >= ev->nfields)
		return 0;
	if (ev->fields[i].kind == WF_FIELD_UINT)
		return ev->fields[i].v.u;
	if (ev->fields[i].kind == WF_FIELD_INT && ev->fields[i].v.i > 0)
		return (uint64_t)ev->fields[i].v.i;
	return 0;
}

/* ---- scanning bytes a word at a time ----
 *
 * A DAG is read once per workflow and is most of the bytes replay reads:
 * its "id" keys are counted (dag_estimate) and its strings searched for
 * their end sixteen bytes at a time (SSE2, in every x86-64; the count
 * eight at a time elsewhere) instead of one.
 */

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t load8(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* The bytes of x that are 0, each as its high bit: exactly those (no
 * borrow runs from one byte into the next, so they can be counted). */
static inline uint64_t zero_bytes(uint64_t x)
{
	uint64_t low = ~HIGHS;
	return ~(((x & low) + low) | x | low);
}

/* How many times "id": occurs in the n bytes at p (as counting memmem's
 * matches would say: the pattern cannot overlap itself). */
static size_t count_id_keys(const char *p, size_t n)
{
	size_t count = 0, i = 0;
#ifdef __SSE2__
	const __m128i c0 = _mm_set1_epi8('"'), c1 = _mm_set1_epi8('i'),
	              c2 = _mm_set1_epi8('d');
	/* "id (rare enough) sixteen at a time, then the rest of each. */
	for (; i + 16 + 4 <= n; i += 16) {
		const char *q = p + i;
		__m128i m = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)q),
		                           c0);
		m = _mm_and_si128(m, _mm_cmpeq_epi8(
		        _mm_loadu_si128((const __m128i *)(q + 1)), c1));
		m = _mm_and_si128(m, _mm_cmpeq_epi8(
		        _mm_loadu_si128((const __m128i *)(q + 2)), c2));
		for (unsigned bits = (unsigned)_mm_movemask_epi8(m); bits;
		     bits &= bits - 1) {
			const char *h = q + __builtin_ctz(bits);
			count += h[3] == '"' && h[4] == ':';
		}
	}
#endif
	for (; i + 8 + 4 <= n; i += 8) {
		const char *q = p + i;
		uint64_t d = (load8(q) ^ ONES * '"') |
		             (load8(q + 1) ^ ONES * 'i') |
		             (load8(q + 2) ^ ONES * 'd') |
		             (load8(q + 3) ^ ONES * '"') |
		             (load8(q + 4) ^ ONES * ':');
		for (uint64_t z = zero_bytes(d); z; z &= z - 1)
			count++;
	}
	for (; i + 5 <= n; i++)
		if (memcmp(p + i, "\"id\":", 5) == 0)
			count++;
	return count;
}

/* The first '"' or '\\' in [p, end), or end, where 16 NULs follow end
 * (dag_copy's text): every load of 16 bytes stays in the buffer, and
 * what lies past end matches neither. */
static inline const char *quote_or_escape(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	for (;; p += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)p);
		unsigned m = (unsigned)_mm_movemask_epi8(
		        _mm_or_si128(_mm_cmpeq_epi8(x, quote),
		                     _mm_cmpeq_epi8(x, bslash)));
		if (m)
			return p + __builtin_ctz(m);
		if (end - p <= 16)
			return end;
	}
#else
	while (p < end && *p != '"' && *p != '\\')
		p++;
	return p;
#endif
}

/*
 * Arena bytes a DAG's steps will take over the workflow's life: what is
 * kept of the DAG text (its strings and argument values: about half of
 * it, the rest being keys and punctuation), plus per step its struct, one
 * attempt, an argument, its place in the order and a short output
 * (counted by the "id" keys: one per step). An underestimate costs a
 * second block; an overestimate, memory that replay faults in for nothing.
 */
static size_t dag_estimate(const char *dag, size_t len)
{
	return len / 2 + count_id_keys(dag, len) *
	                     (sizeof(wf_fstep) + sizeof(wf_fattempt) +
	                      sizeof(wf_farg) + sizeof(wf_fstep *) + 8);
}

/* Grow an array in w's arena (the old copy is left there: arrays grow
 * rarely, by doubling). */
static int arena_grow(wf_fwf *w, void **a, size_t elem, size_t n,
                      size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 1;
	while (c < need)
		c *= 2;
	void *p = arena_alloc(w, c * elem);
	if (!p)
		return WF_ENOMEM;
	if (n)
		memcpy(p, *a, n * elem);
	*a = p;
	*cap = c;
	return 0;
}

static int grow_att(wf_fwf *w, wf_fattempt **a, size_t *n, size_t *cap)
{
	if (arena_grow(w, (void **)a, sizeof **a, *n, cap, *n + 1) < 0)
		return WF_ENOMEM;
	memset(&(*a)[*n], 0, sizeof **a);
	(*n)++;
	return 0;
}

/* A text field of ev, into w's arena. */
/* A field with bytes (text or JSON), as opposed to a number. */
static int is_text(const wf_field *fl)
{
	return fl->kind == WF_FIELD_TEXT || fl->kind == WF_FIELD_JSON;
}

static int atext(wf_fwf *w, const wf_event *ev, unsigned i, char **out)
{
	if (i >= ev->nfields || !is_text(&ev->fields[i]))
		return WF_ECORRUPT;
	*out = arena_strndup(w, ev->fields[i].v.s.ptr, ev->fields[i].v.s.len);
	return *out ? 0 : WF_ENOMEM;
}

/* ---- DAGs ----
 *
 * A DAG is JSON: {"steps": [{"id", "fn", "name", "options": {"step_type",
 * "max_retries", "catch_exceptions", "checkpoint"}, "user_metadata",
 * "args": [{"step": id} | {"value": any}]}, ...], "output": id}.
 * It is read by a scanner that allocates nothing but what it keeps (in
 * the workflow's arena): replay reads one per workflow, and a cJSON tree
 * per DAG was most of the time an engine's open took.
 */

/*
 * The scanner reads a copy of the DAG (dag_copy) that ends in a NUL and
 * 16 more: reading the byte at end is safe and matches no token (the
 * text may hold NULs too, which match none either), so that looking for
 * the next token needs no bounds check, and strings are searched 16
 * bytes at a time up to the end. Only skip_value and the string search
 * look at end itself.
 *
 * Each reader takes the position (p) and returns the one after what it
 * read, or NULL when what is there is not what it reads: the position
 * stays in a register, where a scanner struct in memory made every token
 * a store and a load. A reader that fails may leave whitespace unread,
 * which every reader skips first.
 */

#define DAG_PAD 16

/* The DAG text as the scanner reads it, in f's buffer; NULL when out of
 * memory. */
static const char *dag_copy(wf_fold *f, const char *text, size_t len)
{
	if (len + 1 + DAG_PAD > f->dagtext_cap) {
		size_t cap = f->dagtext_cap ? f->dagtext_cap : 4096;
		while (cap < len + 1 + DAG_PAD)
			cap *= 2;
		char *p = realloc(f->dagtext, cap);
		if (!p)
			return NULL;
		f->dagtext = p;
		f->dagtext_cap = cap;
	}
	memcpy(f->dagtext, text, len);
	memset(f->dagtext + len, 0, 1 + DAG_PAD);
	return f->dagtext;
}

/* JSON whitespace. The engine writes none: one compare (the four, and
 * the NUL at the end, are below '!') settles most calls. */
static inline const char *skip_ws(const char *p)
{
	while ((unsigned char)*p <= ' ' &&
	       (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static inline const char *eat(const char *p, char ch)
{
	if (*p == ch)
		return p + 1;
	if ((unsigned char)*p > ' ')
		return NULL; /* (ch is not whitespace) */
	p = skip_ws(p);
	return *p == ch ? p + 1 : NULL;
}

/* A string: its raw span between the quotes (escapes left as they are);
 * *esc, if asked, says whether it has any. */
static inline const char *raw_string(const char *p, const char *end,
                                     const char **s, size_t *n, int *esc)
{
	if (!(p = eat(p, '"')))
		return NULL;
	const char *start = p;
	int e = 0;
	for (;;) {
		p = quote_or_escape(p, end);
		if (p >= end)
			return NULL;
		if (*p == '"')
			break;
		/* A backslash and the byte it escapes; the quote must
		 * come after them. */
		e = 1;
		if (end - p <= 2)
			return NULL;
		p += 2;
	}
	*s = start;
	*n = (size_t)(p - start);
	if (esc)
		*esc = e;
	return p + 1;
}

/* A key and its colon. */
static inline const char *key(const char *p, const char *end,
                              const char **k, size_t *n)
{
	p = raw_string(p, end, k, n, NULL);
	return p ? eat(p, ':') : NULL;
}

/* Ends a number, true or false for skip_value (as strchr(",}] \t\r\n", ch)
 * would say: its terminating NUL matches too). */
static inline int value_end(char ch)
{
	switch (ch) {
	case ',':
	case '}':
	case ']':
	case ' ':
	case '\t':
	case '\r':
	case '\n':
	case '\0':
		return 1;
	default:
		return 0;
	}
}

static const char *skip_value(const char *p, const char *end, int depth)
{
	p = skip_ws(p);
	if (p >= end || depth > 10000)
		return NULL;
	const char *s, *q;
	size_t n;
	switch (*p) {
	case '"':
		return raw_string(p, end, &s, &n, NULL);
	case '{':
	case '[': {
		char close = *p == '{' ? '}' : ']';
		p++;
		if ((q = eat(p, close)))
			return q;
		do {
			if (close == '}' && !(p = key(p, end, &s, &n)))
				return NULL;
			if (!(p = skip_value(p, end, depth + 1)))
				return NULL;
		} while ((q = eat(p, ',')) && (p = q));
		return eat(p, close);
	}
	default:
		/* (The NUL at the end is one of the ends.) */
		while (!value_end(*p))
			p++;
		return p;
	}
}

/* string_value of a string with escapes: cJSON unescapes it. */
static const char *unescaped(wf_fwf *w, const char *s, size_t n)
{
	char *q = malloc(n + 3);
	if (!q)
		return NULL;
	q[0] = '"';
	memcpy(q + 1, s, n);
	q[n + 1] = '"';
	q[n + 2] = '\0';
	cJSON *j = cJSON_Parse(q);
	free(q);
	const char *r = cJSON_IsString(j)
	                    ? arena_strndup(w, j->valuestring,
	                                    strlen(j->valuestring))
	                    : NULL;
	cJSON_Delete(j);
	return r;
}

/* A string value, unescaped, into the arena (*out; NULL: refused, or out
 * of memory). A step type, if it is one of the two (most are), is the
 * literal instead of a copy. */
static inline const char *string_value(wf_fwf *w, const char *p,
                                       const char *end, const char **out,
                                       int step_type)
{
	const char *s;
	size_t n;
	int esc;
	if (!(p = raw_string(p, end, &s, &n, &esc)))
		return NULL;
	if (esc)
		*out = unescaped(w, s, n);
	else if (step_type && n == 8 && memcmp(s, "FUNCTION", 8) == 0)
		*out = sym.function;
	else if (step_type && n == 12 && memcmp(s, "ACTOR_METHOD", 12) == 0)
		*out = sym.actor_method;
	else
		*out = arena_strndup(w, s, n);
	return *out ? p : NULL;
}

/* A value's JSON text, into the arena (*out; depth: as skip_value's). */
static const char *value_text(wf_fwf *w, const char *p, const char *end,
                              int depth, const char **out)
{
	const char *start = skip_ws(p);
	if (!(p = skip_value(start, end, depth)))
		return NULL;
	*out = arena_strndup(w, start, (size_t)(p - start));
	return *out ? p : NULL;
}

/* Is the key (n bytes at k) the literal want? (A macro: memcmp of a
 * constant size is a compare or two, not a call.) */
#define key_is(k, n, want) \
	((n) == sizeof(want) - 1 && memcmp(k, want, sizeof(want) - 1) == 0)

static const char *number_value(const char *p, const char *end, int *out)
{
	p = skip_ws(p);
	if (*p == 't' || *p == 'f') {
		/* As skip_value reads it (tru, falsey: lenient); the words
		 * themselves at once. (A NUL ends the text: the compares
		 * stop there.) */
		*out = *p == 't';
		if (p[0] == 't' && p[1] == 'r' && p[2] == 'u' && p[3] == 'e' &&
		    value_end(p[4]))
			return p + 4;
		if (p[0] == 'f' && p[1] == 'a' && p[2] == 'l' && p[3] == 's' &&
		    p[4] == 'e' && value_end(p[5]))
			return p + 5;
		while (!value_end(*p))
			p++;
		return p;
	}
	/* Most are small integers: read here, when what follows them ends
	 * a number for strtod too (it is slow). */
	const char *q = p + (*p == '-'), *digits = q;
	int v = 0;
	while (q - digits < 9 && *q >= '0' && *q <= '9')
		v = v * 10 + (*q++ - '0');
	if (q > digits && value_end(*q)) {
		*out = *p == '-' ? -v : v;
		return q;
	}
	char *e;
	double d = strtod(p, &e);
	if (e == p || e > end)
		return NULL;
	*out = (int)d;
	return e;
}

static const char *parse_options(const char *p, const char *end,
                                 wf_fstep *s, wf_fwf *w)
{
	const char *q;
	if (!(p = eat(p, '{')))
		return NULL;
	if ((q = eat(p, '}')))
		return q;
	do {
		const char *k;
		size_t n;
		if (!(p = key(p, end, &k, &n)))
			return NULL;
		if (key_is(k, n, "step_type"))
			p = string_value(w, p, end, &s->step_type, 1);
		else if (key_is(k, n, "max_retries"))
			p = number_value(p, end, &s->max_retries);
		else if (key_is(k, n, "catch_exceptions"))
			p = number_value(p, end, &s->catch_exceptions);
		else if (key_is(k, n, "checkpoint"))
			p = number_value(p, end, &s->checkpoint);
		else
			p = skip_value(p, end, 0);
		if (!p)
			return NULL;
	} while ((q = eat(p, ',')) && (p = q));
	return eat(p, '}');
}

/* An argument: {"step": id} or {"value": any} (values read depth deep,
 * as skip_value reads). */
static const char *parse_arg(const char *p, const char *end, wf_fwf *w,
                             wf_farg *a, int depth)
{
	const char *q;
	a->step = a->value = NULL;
	if (!(p = eat(p, '{')))
		return NULL;
	do {
		const char *k;
		size_t n;
		if (!(p = key(p, end, &k, &n)))
			return NULL;
		if (key_is(k, n, "step"))
			p = string_value(w, p, end, &a->step, 0);
		else if (key_is(k, n, "value"))
			p = value_text(w, p, end, depth, &a->value);
		else
			p = skip_value(p, end, depth);
		if (!p)
			return NULL;
	} while ((q = eat(p, ',')) && (p = q));
	if (!(p = eat(p, '}')))
		return NULL;
	if (!a->step && !a->value)
		a->value = sym.null;
	return p;
}

/* @return 0, -1 (refused) or -2 (out of memory). */
static int parse_args(const char **pp, const char *end, wf_fstep *s,
                      wf_fwf *w)
{
	const char *p = *pp, *q;
	/* A second "args" key replaces the first (as cJSON would read it),
	 * never appends to an array sized for the first. */
	s->args = NULL;
	s->nargs = 0;
	if (!(p = eat(p, '[')))
		return -1;
	if ((q = eat(p, ']'))) {
		*pp = q;
		return 0;
	}
	/*
	 * Most steps have a few: read them in one pass into a local array,
	 * their values one level deep (as the counting pass below reads
	 * them, so that the same are too deep). Anything else (many, or a
	 * refusal, whose reason and code the two passes settle) is read
	 * again by the two passes.
	 */
	const char *start = p;
	wf_farg local[16];
	size_t n = 0;
	do
		p = n < sizeof local / sizeof local[0]
		        ? parse_arg(p, end, w, &local[n++], 1)
		        : NULL;
	while (p && (q = eat(p, ',')) && (p = q));
	if (p && (q = eat(p, ']'))) {
		if (!(s->args = arena_alloc(w, n * sizeof *s->args)))
			return -2;
		memcpy(s->args, local, n * sizeof *s->args);
		s->nargs = n;
		*pp = q;
		return 0;
	}
	/* Count first (one arena allocation for the array). */
	p = start;
	size_t count = 0;
	do {
		if (!(p = skip_value(p, end, 0)))
			return -1;
		count++;
	} while ((q = eat(p, ',')) && (p = q));
	if (!(s->args = arena_alloc(w, count * sizeof *s->args)))
		return -2;
	p = start;
	do
		if (!(p = parse_arg(p, end, w, &s->args[s->nargs++], 0)))
			return -1;
	while ((q = eat(p, ',')) && (p = q));
	if (!(p = eat(p, ']')))
		return -1;
	*pp = p;
	return 0;
}

/* @return 0, -1 (refused) or -2 (out of memory). */
static int parse_step(const char **pp, const char *end, wf_fwf *w,
                      wf_fstep **out)
{
	const char *p = *pp, *q;
	wf_fstep *s = arena_alloc(w, sizeof *s);
	if (!s)
		return -2;
	memset(s, 0, sizeof *s);
	s->max_retries = 3;
	s->checkpoint = 1;
	if (!(p = eat(p, '{')))
		return -1;
	if ((q = eat(p, '}'))) {
		p = q;
	} else {
		do {
			const char *k;
			size_t n;
			int r;
			if (!(p = key(p, end, &k, &n)))
				return -1;
			if (key_is(k, n, "id"))
				p = string_value(w, p, end, &s->id, 0);
			else if (key_is(k, n, "fn"))
				p = string_value(w, p, end, &s->fn, 0);
			else if (key_is(k, n, "name"))
				p = string_value(w, p, end, &s->name, 0);
			else if (key_is(k, n, "options"))
				p = parse_options(p, end, s, w);
			else if (key_is(k, n, "user_metadata"))
				p = value_text(w, p, end, 0, &s->user_metadata);
			else if (key_is(k, n, "args")) {
				if ((r = parse_args(&p, end, s, w)) < 0)
					return r;
			} else
				p = skip_value(p, end, 0);
			if (!p)
				return -1;
		} while ((q = eat(p, ',')) && (p = q));
		if (!(p = eat(p, '}')))
			return -1;
	}
	if (!s->fn)
		s->fn = s->name;
	if (!s->step_type)
		s->step_type = sym.function;
	if (!s->user_metadata || s->user_metadata[0] != '{')
		s->user_metadata = sym.obj;
	*out = s;
	*pp = p;
	return 0;
}

/* Parse one step and append it to f->dagv (checks its id is new). */
static int add_parsed(const char **pp, const char *end, wf_fold *f,
                      wf_fwf *w, size_t *n, char *err, size_t errlen)
{
	wf_fstep *s;
	int rc = parse_step(pp, end, w, &s);
	if (rc < 0)
		return rc;
	if (!s->id || !s->name) {
		errf(err, errlen, "DAG step without id or name");
		return -3;
	}
	size_t idn = strlen(s->id);
	s->id_len = (uint32_t)idn;
	if (step_n(w, s->id, idn)) {
		errf(err, errlen, "DAG step id %s already exists", s->id);
		return -3;
	}
	for (size_t i = 0; i < *n; i++)
		if (f->dagv[i]->id_len == idn &&
		    memcmp(f->dagv[i]->id, s->id, idn) == 0) {
			errf(err, errlen, "DAG step id %s given twice", s->id);
			return -3;
		}
	if (*n == f->dagcap) {
		size_t nc = f->dagcap ? f->dagcap * 2 : 32;
		wf_fstep **v = realloc(f->dagv, nc * sizeof *v);
		if (!v)
			return -2;
		f->dagv = v;
		f->dagcap = nc;
	}
	f->dagv[(*n)++] = s;
	return 0;
}

/*
 * Read a DAG into w's arena: f->dagv[0 .. *n) gets its steps (the array
 * is the fold's, kept from one DAG to the next), which are not yet added
 * to w. On a parse error the arena keeps what was read (it is freed with
 * the workflow).
 */
static int parse_dag(wf_fold *f, wf_fwf *w, const char *text, size_t len,
                     size_t *n, const char **output, char *err,
                     size_t errlen)
{
	*n = 0;
	*output = NULL;
	if (!(text = dag_copy(f, text, len)))
		return WF_ENOMEM;
	const char *p = text, *end = text + len, *q;
	int rc = 0;
	if (!(p = eat(p, '{'))) {
		rc = -1;
	} else if ((q = eat(p, '}'))) {
		p = q;
	} else {
		do {
			const char *k;
			size_t kn;
			if (!(p = key(p, end, &k, &kn))) {
				rc = -1;
			} else if (key_is(k, kn, "output")) {
				if (!(p = string_value(w, p, end, output, 0)))
					rc = -1;
			} else if (!key_is(k, kn, "steps")) {
				if (!(p = skip_value(p, end, 0)))
					rc = -1;
			} else if (!(p = eat(p, '['))) {
				rc = -1;
			} else if ((q = eat(p, ']'))) {
				p = q;
			} else {
				do
					rc = add_parsed(&p, end, f, w, n, err,
					                errlen);
				while (rc == 0 && (q = eat(p, ',')) && (p = q));
				if (rc == 0 && !(p = eat(p, ']')))
					rc = -1;
			}
		} while (rc == 0 && (q = eat(p, ',')) && (p = q));
		if (rc == 0 && !eat(p, '}'))
			rc = -1;
	}
	if (rc == 0 && !*n && !*output) {
		errf(err, errlen, "DAG is not an object with a steps array");
		rc = -3;
	}
	if (rc < 0) {
		if (rc == -1)
			errf(err, errlen, "DAG is not valid JSON of the expected shape");
		*n = 0;
		return rc == -2 ? WF_ENOMEM : WF_ECORRUPT;
	}
	return 0;
}

/* Add parsed steps to w. */
static int add_steps(wf_fwf *w, wf_fstep **v, size_t n)
{
	if (arena_grow(w, (void **)&w->order, sizeof *w->order, w->nsteps,
	               &w->corder, w->nsteps + n) < 0)
		return WF_ENOMEM;
	w->steps.borrow = 1;
	for (size_t i = 0; i < n; i++)
		w->order[w->nsteps++] = v[i];
	if (w->nsteps < STEP_MAP_MIN)
		return 0;
	/* Large: index every step not yet in the map, and count its name
	 * (an actor's workflow gains a step per call: both must not cost a
	 * scan of all its steps). */
	for (size_t i = w->steps.len; i < w->nsteps; i++)
		if (wf_map_put(&w->steps, w->order[i]->id, w->order[i]) < 0) {
			wf_map_free(&w->steps); /* rebuilt by the next add */
			return WF_ENOMEM;
		}
	w->names.borrow = 1;
	for (size_t i = w->names_counted; i < w->nsteps; i++) {
		const char *name = w->order[i]->name;
		intptr_t c = (intptr_t)wf_map_get(&w->names, name);
		if (wf_map_put(&w->names, name, (void *)(c + 1)) < 0) {
			wf_map_free(&w->names); /* recounted by the next add */
			w->names.borrow = 1;
			w->names_counted = 0;
			return WF_ENOMEM;
		}
	}
	w->names_counted = w->nsteps;
	return 0;
}

/* ---- freezing finished workflows (see fold.h) ----
 *
 * The block: a version byte, then the workflow's user metadata, output
 * step, output and attempts, then its steps in order. Integers are
 * varints (signed ones zigzag), times deltas from the time written before
 * (so most take 3-5 bytes), strings a varint length + 1 (0 for NULL) then
 * their bytes and a NUL, so that a thawed workflow's strings point into
 * the block. "Symbols" (causes, outcomes, step types, "{}", "null") are one
 * byte. A step's name, fn and id are mostly derived from each other and
 * from the step before: flags say so.
 */

#define FREEZE_VERSION 1

static const char *const syms[] = {
	NULL,           sym.run,      sym.resume,     sym.call,
	sym.create,     sym.succeeded, sym.failed,    sym.successful,
	sym.canceled,   sym.empty,    sym.function,   sym.actor_method,
	sym.obj,        sym.null,
}; /* (sym_index and sym_at find them too: keep the three in step) */
#define SYM_LITERAL 255

/* The index in syms of each of sym's members, by its offset. */
#define AT(m, i) [offsetof(struct symtext, m)] = i
static const uint8_t sym_by_offset[sizeof sym] = {
	AT(run, 1),       AT(resume, 2),    AT(call, 3),
	AT(create, 4),    AT(succeeded, 5), AT(failed, 6),
	AT(successful, 7), AT(canceled, 8), AT(empty, 9),
	AT(function, 10), AT(actor_method, 11), AT(obj, 12),
	AT(null, 13),
};
#undef AT

/* The index in syms of s, if it is one of sym's members, else 0. */
static inline int sym_at(const char *s)
{
	uintptr_t off = (uintptr_t)s - (uintptr_t)&sym;
	return off < sizeof sym ? sym_by_offset[off] : 0;
}

/* The index in syms of the n bytes at s, or 0: the candidates of each
 * length, compared as words (memcmp of a constant size). */
static int sym_index(const char *s, size_t n)
{
#define IS(lit) (memcmp(s, lit, sizeof(lit) - 1) == 0)
	switch (n) {
	case 0:
		return 9;
	case 2:
		return IS("{}") ? 12 : 0;
	case 3:
		return IS("run") ? 1 : 0;
	case 4:
		return IS("call") ? 3 : IS("null") ? 13 : 0;
	case 6:
		return IS("resume")   ? 2
		       : IS("create") ? 4
		       : IS("FAILED") ? 6
		                      : 0;
	case 8:
		return IS("CANCELED") ? 8 : IS("FUNCTION") ? 10 : 0;
	case 9:
		return IS("SUCCEEDED") ? 5 : 0;
	case 10:
		return IS("SUCCESSFUL") ? 7 : 0;
	case 12:
		return IS("ACTOR_METHOD") ? 11 : 0;
	default:
		return 0;
	}
#undef IS
}

/* Make room for n more bytes, or set oom. */
static void fb_grow(fbuf *b, size_t n)
{
	if (b->oom)
		return;
	size_t cap = b->cap ? b->cap : 1024;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *q = realloc(b->p, cap);
	if (!q) {
		b->oom = 1;
		return;
	}
	b->p = q;
	b->cap = cap;
}

/* Is there room for n more bytes? (Inlined: a workflow is packed a few
 * hundred writes at a time. Once out of memory, what is written is
 * thrown away.) */
static inline int fb_room(fbuf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return 1;
	fb_grow(b, n);
	return !b->oom;
}

static void fb_need(fbuf *b, size_t n)
{
	(void)fb_room(b, n);
}

static inline void fb_u(fbuf *b, uint64_t v)
{
	if (fb_room(b, WF_VARINT_MAX))
		b->len += wf_varint_put(b->p + b->len, v);
}

static inline void fb_byte(fbuf *b, uint8_t v)
{
	if (fb_room(b, 1))
		b->p[b->len++] = v;
}

/* The n bytes at s (no NUL among them), and a NUL. */
static void fb_strn(fbuf *b, const char *s, size_t n)
{
	fb_u(b, n + 1);
	if (fb_room(b, n + 1)) {
		memcpy(b->p + b->len, s, n);
		b->p[b->len + n] = '\0';
		b->len += n + 1;
	}
}

static void fb_str(fbuf *b, const char *s)
{
	if (!s)
		fb_u(b, 0);
	else
		fb_strn(b, s, strlen(s));
}

/* fb_sym of text that is not one of sym's: the length, once, picks the
 * symbols that could match, and a literal's text needs it. */
static void fb_sym_text(fbuf *b, const char *s)
{
	size_t n = strlen(s);
	int i = sym_index(s, n);
	if (i) {
		fb_byte(b, (uint8_t)i);
		return;
	}
	fb_byte(b, SYM_LITERAL);
	fb_strn(b, s, n);
}

static inline void fb_sym(fbuf *b, const char *s)
{
	int i = s ? sym_at(s) : 0;
	if (!s || i)
		fb_byte(b, (uint8_t)i);
	else
		fb_sym_text(b, s);
}

static void fb_time(fbuf *b, int64_t t)
{
	fb_u(b, wf_zigzag(t - b->t));
	b->t = t;
}

static void fb_atts(fbuf *b, const wf_fattempt *a, size_t n)
{
	fb_u(b, n);
	for (size_t i = 0; i < n; i++) {
		/* The numbers in room made once (out of memory, what is
		 * written is thrown away). */
		if (!fb_room(b, 4 * WF_VARINT_MAX))
			return;
		uint8_t *p = b->p + b->len;
		p += wf_varint_put(p, wf_zigzag(a[i].run));
		p += wf_varint_put(p, wf_zigzag(a[i].n));
		p += wf_varint_put(p, wf_zigzag(a[i].start_ns - b->t));
		p += wf_varint_put(p, wf_zigzag(a[i].end_ns - a[i].start_ns));
		b->t = a[i].end_ns;
		b->len = (size_t)(p - b->p);
		fb_sym(b, a[i].cause);
		fb_sym(b, a[i].outcome);
		fb_str(b, a[i].error);
	}
}

enum {
	FS_FN_IS_NAME = 1,    /* fn == name */
	FS_NAME_AS_PREV = 2,  /* name == the previous step's name */
	FS_ID_IS_NAME = 4,    /* id == name */
	FS_ID_NUMBERED = 8,   /* id == name + "_" + N (N follows) */
	FS_OUTPUT = 16,
	FS_CATCH = 32,
	FS_CHECKPOINT = 64,
	FS_CONT = 128,
};

/* N if id (idn bytes) is name (n bytes) + "_" + N (N > 0, no leading
 * zero, at most 9 digits), else 0. */
static uint64_t id_number(const char *id, size_t idn, const char *name,
                          size_t n)
{
	if (idn < n + 2 || idn - n - 1 > 9 || memcmp(id, name, n) != 0 ||
	    id[n] != '_' || id[n + 1] < '1' || id[n + 1] > '9')
		return 0;
	uint64_t v = 0;
	for (const char *p = id + n + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	return v;
}

static void fb_step(fbuf *b, const wf_fstep *s, const char *prev_name)
{
	/* Equal pointers are equal strings: a step without "fn" has its
	 * name's, and a thawed one shares its predecessor's name. */
	size_t nlen = strlen(s->name);
	int id_is_name = s->id_len == nlen && memcmp(s->id, s->name, nlen) == 0;
	uint64_t num = id_is_name ? 0 : id_number(s->id, s->id_len, s->name,
	                                          nlen);
	int flags = (s->fn == s->name || strcmp(s->fn, s->name) == 0
	                 ? FS_FN_IS_NAME
	                 : 0) |
	            (prev_name && (prev_name == s->name ||
	                           strcmp(prev_name, s->name) == 0)
	                 ? FS_NAME_AS_PREV
	                 : 0) |
	            (id_is_name ? FS_ID_IS_NAME : num ? FS_ID_NUMBERED : 0) |
	            (s->has_output ? FS_OUTPUT : 0) |
	            (s->catch_exceptions ? FS_CATCH : 0) |
	            (s->checkpoint ? FS_CHECKPOINT : 0) | (s->cont ? FS_CONT : 0);
	fb_byte(b, (uint8_t)flags);
	if (!(flags & FS_NAME_AS_PREV))
		fb_strn(b, s->name, nlen);
	if (!(flags & FS_FN_IS_NAME))
		fb_str(b, s->fn);
	if (flags & FS_ID_NUMBERED)
		fb_u(b, num);
	else if (!(flags & FS_ID_IS_NAME))
		fb_strn(b, s->id, s->id_len);
	fb_sym(b, s->step_type);
	fb_u(b, wf_zigzag(s->max_retries));
	fb_u(b, (uint64_t)s->state);
	fb_sym(b, s->user_metadata);
	fb_u(b, s->nargs);
	for (size_t i = 0; i < s->nargs; i++) {
		if (s->args[i].step) {
			fb_byte(b, 0);
			fb_str(b, s->args[i].step);
		} else {
			fb_byte(b, 1);
			fb_sym(b, s->args[i].value);
		}
	}
	fb_time(b, s->start_ns);
	fb_time(b, s->end_ns);
	fb_atts(b, s->att, s->natt);
	if (flags & FS_OUTPUT)
		fb_sym(b, s->output);
	if (flags & FS_CONT)
		fb_str(b, s->cont);
}

/* Pack a finished workflow and give back its arena. Nothing happens if
 * memory is short (freezing only saves memory). */
/* Append w's packed form (thawed w) to b. */
static void pack(fbuf *b, const wf_fwf *w)
{
	b->t = 0;
	fb_byte(b, FREEZE_VERSION);
	fb_sym(b, w->user_metadata);
	fb_str(b, w->output_step);
	fb_sym(b, w->output);
	fb_atts(b, w->att, w->natt);
	fb_u(b, w->nsteps);
	for (size_t i = 0; i < w->nsteps; i++)
		fb_step(b, w->order[i], i ? w->order[i - 1]->name : NULL);
}

static void freeze(wf_fold *f, wf_fwf *w)
{
	if (w->frozen || w->actor_class || f->no_freeze)
		return;
	fbuf *b = &f->scratch;
	b->len = 0;
	b->oom = 0;
	pack(b, w);
	if (b->oom)
		return;
	size_t cap = b->len;
	unsigned char *blob = slab_get(&f->slab, &cap);
	if (!blob)
		return;
	memcpy(blob, b->p, b->len);
	/* The old block (a workflow frozen before, resumed, finished again)
	 * held the strings just packed: free it only now. */
	if (w->blob && w->blob_cap)
		slab_put_blob(&f->slab, w->blob, w->blob_cap);
	arena_free(w);
	wf_map_free(&w->steps);
	wf_map_free(&w->names);
	w->names_counted = 0;
	w->order = NULL;
	w->corder = 0;
	w->att = NULL;
	w->catt = 0;
	w->user_metadata = w->output = NULL;
	w->output_step = NULL;
	w->blob = blob;
	w->blob_len = b->len;
	w->blob_cap = cap;
	w->frozen = 1;
}

typedef struct rbuf {
	const uint8_t *p, *end;
	int bad;
	int64_t t;
} rbuf;

static uint64_t rb_u(rbuf *r)
{
	uint64_t v = 0;
	size_t n = r->bad ? 0 : wf_varint_get(r->p, (size_t)(r->end - r->p), &v);
	if (!n) {
		r->bad = 1;
		return 0;
	}
	r->p += n;
	return v;
}

static uint8_t rb_byte(rbuf *r)
{
	if (r->bad || r->p >= r->end) {
		r->bad = 1;
		return 0;
	}
	return *r->p++;
}

static char *rb_str(rbuf *r)
{
	uint64_t n = rb_u(r);
	if (!n || r->bad)
		return NULL;
	if (n > (uint64_t)(r->end - r->p) || r->p[n - 1] != '\0') {
		r->bad = 1;
		return NULL;
	}
	char *s = (char *)r->p;
	r->p += n;
	return s;
}

static const char *rb_sym(rbuf *r)
{
	uint8_t c = rb_byte(r);
	if (c == SYM_LITERAL)
		return rb_str(r);
	if (c >= sizeof syms / sizeof syms[0]) {
		r->bad = 1;
		return NULL;
	}
	return syms[c];
}

static int64_t rb_time(rbuf *r)
{
	r->t += wf_unzigzag(rb_u(r));
	return r->t;
}

static int rb_int(rbuf *r)
{
	return (int)wf_unzigzag(rb_u(r));
}

static wf_fattempt *rb_atts(rbuf *r, wf_fwf *w, size_t *n)
{
	*n = (size_t)rb_u(r);
	if (r->bad || *n > (size_t)(r->end - r->p)) {
		r->bad = 1;
		return NULL;
	}
	if (!*n)
		return NULL;
	wf_fattempt *a = arena_alloc(w, *n * sizeof *a);
	if (!a)
		return NULL;
	for (size_t i = 0; i < *n && !r->bad; i++) {
		a[i].run = rb_int(r);
		a[i].n = rb_int(r);
		a[i].start_ns = rb_time(r);
		a[i].end_ns = rb_time(r);
		a[i].cause = rb_sym(r);
		a[i].outcome = rb_sym(r);
		a[i].error = rb_str(r);
	}
	return a;
}

/* Unpack a frozen workflow. @return 0, WF_ENOMEM, or WF_ECORRUPT (a block
 * this code did not write). */
static int thaw(wf_fwf *w)
{
	if (!w->frozen)
		return 0;
	rbuf r = {w->blob, w->blob + w->blob_len, 0, 0};
	size_t nsteps = w->nsteps;
	w->arena_hint = w->blob_len + nsteps * (sizeof(wf_fstep) +
	                                        sizeof(wf_fattempt) + 32) +
	                w->natt * sizeof(wf_fattempt) + 64;
	wf_fstep **v = NULL;
	int rc = 0;
	if (rb_byte(&r) != FREEZE_VERSION)
		return WF_ECORRUPT;
	char *md = (char *)rb_sym(&r);
	const char *output_step = rb_str(&r);
	char *output = (char *)rb_sym(&r);
	size_t natt;
	wf_fattempt *att = rb_atts(&r, w, &natt);
	if (!r.bad && natt && !att)
		rc = WF_ENOMEM;
	size_t n = rc ? 0 : (size_t)rb_u(&r);
	/* The counts kept outside the block (the list reads them without a
	 * thaw) must be the block's. */
	if (!r.bad && (n != nsteps || natt != w->natt))
		r.bad = 1;
	if (!rc && !r.bad && n && !(v = malloc(n * sizeof *v)))
		rc = WF_ENOMEM;
	const char *prev = NULL;
	for (size_t i = 0; i < n && !rc && !r.bad; i++) {
		wf_fstep *s = arena_alloc(w, sizeof *s);
		if (!s) {
			rc = WF_ENOMEM;
			break;
		}
		memset(s, 0, sizeof *s);
		v[i] = s;
		int flags = rb_byte(&r);
		s->name = flags & FS_NAME_AS_PREV ? prev : rb_str(&r);
		s->fn = flags & FS_FN_IS_NAME ? s->name : rb_str(&r);
		if (!s->name || !s->fn) {
			r.bad = 1;
			break;
		}
		if (flags & FS_ID_NUMBERED) {
			char id[600];
			snprintf(id, sizeof id, "%s_%" PRIu64, s->name, rb_u(&r));
			if (!(s->id = arena_strndup(w, id, strlen(id))))
				rc = WF_ENOMEM;
		} else {
			s->id = flags & FS_ID_IS_NAME ? s->name : rb_str(&r);
		}
		prev = s->name;
		s->step_type = rb_sym(&r);
		s->max_retries = rb_int(&r);
		s->state = (int)rb_u(&r);
		s->user_metadata = rb_sym(&r);
		s->catch_exceptions = !!(flags & FS_CATCH);
		s->checkpoint = !!(flags & FS_CHECKPOINT);
		s->nargs = (size_t)rb_u(&r);
		if (s->nargs > (size_t)(r.end - r.p)) {
			r.bad = 1;
			break;
		}
		if (s->nargs && !(s->args = arena_alloc(w, s->nargs *
		                                                sizeof *s->args))) {
			rc = WF_ENOMEM;
			break;
		}
		for (size_t k = 0; k < s->nargs; k++) {
			int kind = rb_byte(&r);
			s->args[k].step = kind == 0 ? rb_str(&r) : NULL;
			s->args[k].value = kind == 0 ? NULL : rb_sym(&r);
		}
		s->start_ns = rb_time(&r);
		s->end_ns = rb_time(&r);
		s->att = rb_atts(&r, w, &s->natt);
		s->catt = s->natt;
		if (!r.bad && s->natt && !s->att)
			rc = WF_ENOMEM;
		if (flags & FS_OUTPUT) {
			s->has_output = 1;
			s->output = (char *)rb_sym(&r);
		}
		if (flags & FS_CONT)
			s->cont = rb_str(&r);
		if (!s->id || !s->step_type || !s->user_metadata)
			r.bad = 1;
		else
			s->id_len = (uint32_t)strlen(s->id);
	}
	if (!rc && r.bad)
		rc = WF_ECORRUPT;
	if (!rc) {
		w->nsteps = 0;
		rc = add_steps(w, v, n);
		if (rc)
			w->nsteps = nsteps;
	}
	free(v);
	if (rc) {
		/* Still frozen: drop what was unpacked. */
		arena_free(w);
		wf_map_free(&w->steps);
		wf_map_free(&w->names);
		w->names_counted = 0;
		w->order = NULL;
		w->corder = 0;
		return rc;
	}
	w->user_metadata = md;
	w->output_step = output_step;
	w->output = output;
	w->att = att;
	w->natt = w->catt = natt;
	w->frozen = 0;
	return 0;
}


/* ---- saving and restoring the whole fold (snapshots) ----
 *
 * The payload: "WFSF", a version byte, the last sequence number folded,
 * the last session started, the interned sessions, then each workflow:
 * id, status, session (index + 1, 0 for none), start and end, step and
 * attempt counts, actor class and state (JSON text) for actors, and its
 * packed form as freeze writes it. Restored workflows are frozen (thawed
 * on first use), actors excepted: they are thawed and their state parsed.
 */

#define SAVE_MAGIC "WFSF"
/* 2: the latest event time after the last seq (1: without; still read) */
#define SAVE_VERSION 2

static void fb_bytes(fbuf *b, const void *p, size_t n)
{
	fb_u(b, n);
	fb_need(b, n);
	if (!b->oom) {
		memcpy(b->p + b->len, p, n);
		b->len += n;
	}
}

typedef struct hashed {
	uint32_t h;
	const wf_fwf *w;
} hashed;

static int cmp_hashed(const void *a, const void *b)
{
	const hashed *x = a, *y = b;
	return x->h != y->h ? (x->h < y->h ? -1 : 1) : strcmp(x->w->id, y->w->id);
}

/* The workflows with their ids' hashes, ascending by hash, then id
 * (malloc'd, f->wfs.len of them), or NULL. Two passes of a 16-bit radix
 * sort, then equal hashes (rare) put in id order. */
/* How many workflows ahead a pass over them all fetches their memory. */
#define PREFETCH_AHEAD 16

static hashed *sorted_by_hash(const wf_fold *f)
{
	size_t n = f->wfs.len;
	hashed *a = wf_big_alloc((n ? n : 1) * sizeof *a);
	hashed *t = wf_big_alloc((n ? n : 1) * sizeof *t);
	size_t *cnt = malloc(65536 * sizeof *cnt);
	if (!a || !t || !cnt) {
		free(a);
		free(t);
		free(cnt);
		return NULL;
	}
	const char *k;
	void *v;
	size_t m = 0;
	for (size_t i = 0; m < n && wf_map_next(&f->wfs, &i, &k, &v);)
		a[m++].w = v;
	/* The workflows are all over memory: their ids (after each struct,
	 * new_wf) are fetched ahead of hashing. */
	for (size_t i = 0; i < m; i++) {
		if (i + PREFETCH_AHEAD < m)
			__builtin_prefetch(a[i + PREFETCH_AHEAD].w + 1);
		a[i].h = wf_fold_id_hash((const char *)(a[i].w + 1));
	}
	for (int pass = 0; pass < 2; pass++) {
		int sh = 16 * pass;
		memset(cnt, 0, 65536 * sizeof *cnt);
		for (size_t i = 0; i < n; i++)
			cnt[(a[i].h >> sh) & 0xffff]++;
		size_t sum = 0;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = cnt[d];
			cnt[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			t[cnt[(a[i].h >> sh) & 0xffff]++] = a[i];
		hashed *x = a;
		a = t;
		t = x;
	}
	for (size_t i = 0; i + 1 < n;) {
		size_t j = i + 1;
		while (j < n && a[j].h == a[i].h)
			j++;
		if (j - i > 1)
			qsort(a + i, j - i, sizeof *a, cmp_hashed);
		i = j;
	}
	free(t);
	free(cnt);
	return a;
}

int wf_fold_save(wf_fold *f, uint8_t **out, size_t *len)
{
	return wf_fold_save_recs(f, out, len, NULL, NULL, NULL);
}

/* Frozen blocks shorter than this are copied by a save with references:
 * a reference costs 32 bytes of its own. */
#define REF_MIN 128u

/* wf_fold_save_recs of the map as it is. The sessions sess[0..nsess)
 * come first, in that order (a lazy restore's: the records left unread
 * name them by index), then the others; the record count is the map's
 * plus extra (records saved elsewhere). */
static int save(wf_fold *f, uint8_t **out, size_t *len, wf_fold_rec **recs,
                size_t *nrecs, const char *const *sess, uint64_t nsess,
                uint64_t extra, wf_fold_refs *refs)
{
	*out = NULL;
	*len = 0;
	wf_fold_rec *rv = NULL;
	wf_fold_ref *fv = NULL;
	size_t nf = 0, cf = 0;
	uint64_t moved = 0; /* bytes of blocks referenced so far */
	if (refs) {
		refs->v = NULL;
		refs->n = 0;
	}
	if (recs) {
		*recs = NULL;
		*nrecs = 0;
	}
	if (recs && !(rv = wf_big_alloc((f->wfs.len + 1) * sizeof *rv)))
		return WF_ENOMEM;
	/* Records in the order of their ids' hashes (then ids): a snapshot's
	 * directory is then a sorted list that a lazy restore searches. */
	size_t nw = f->wfs.len;
	hashed *hw = sorted_by_hash(f);
	if (!hw) {
		free(rv);
		return WF_ENOMEM;
	}
	size_t nr = 0;
	fbuf b = {0};
	fbuf one = {0};
	if (refs) {
		/* A take (the state under a lock, written later): its copy is
		 * the records' headers and the unfinished workflows, sized
		 * ahead in memory that faults in fast (bigmem.h); the
		 * references, one per frozen workflow at most. */
		b.cap = nw * 128 + ((size_t)1 << 20);
		b.p = wf_big_alloc(b.cap);
		cf = nw;
		fv = wf_big_alloc((nw ? nw : 1) * sizeof *fv);
		if (!b.p || !fv) {
			free(b.p);
			free(fv);
			free(rv);
			free(hw);
			return WF_ENOMEM;
		}
	}
	fb_need(&b, 4);
	if (!b.oom) {
		memcpy(b.p, SAVE_MAGIC, 4);
		b.len = 4;
	}
	fb_byte(&b, SAVE_VERSION);
	fb_u(&b, f->last_seq);
	fb_u(&b, (uint64_t)f->max_ns);
	fb_str(&b, f->last_session);
	/* Sessions: sess first, then the rest in map order; workflows name
	 * them by index. */
	wf_map idx = {0};
	idx.borrow = 1;
	const char *k;
	void *v;
	uintptr_t n = 0;
	for (uint64_t i = 0; i < nsess; i++)
		if (wf_map_put(&idx, sess[i], (void *)++n) < 0)
			b.oom = 1;
	uint64_t nall = nsess;
	for (size_t i = 0; wf_map_next(&f->sessions, &i, &k, &v);)
		nall += wf_map_get(&idx, v) == NULL;
	fb_u(&b, nall);
	for (uint64_t i = 0; i < nsess; i++)
		fb_str(&b, sess[i]);
	for (size_t i = 0; wf_map_next(&f->sessions, &i, &k, &v);) {
		if (wf_map_get(&idx, v))
			continue;
		fb_str(&b, v);
		if (wf_map_put(&idx, v, (void *)++n) < 0)
			b.oom = 1;
	}
	fb_u(&b, nw + extra);
	for (size_t i = 0; !b.oom && i < nw; i++) {
		const wf_fwf *w = hw[i].w;
		if (i + PREFETCH_AHEAD < nw) { /* (in hash order: all over) */
			const wf_fwf *x = hw[i + PREFETCH_AHEAD].w;
			__builtin_prefetch(x);
			__builtin_prefetch(&x->nsteps);
			__builtin_prefetch(&x->blob_len);
			__builtin_prefetch(x + 1); /* its id */
		}
		if (rv) {
			rv[nr].off = b.len + moved;
			rv[nr].status = (uint8_t)w->status;
			rv[nr++].id_hash = hw[i].h;
		}
		fb_str(&b, w->id);
		fb_byte(&b, (uint8_t)w->status);
		fb_u(&b, w->session ? (uintptr_t)wf_map_get(&idx, w->session) : 0);
		fb_u(&b, wf_zigzag(w->start_ns));
		fb_u(&b, wf_zigzag(w->end_ns));
		fb_u(&b, w->nsteps);
		fb_u(&b, w->natt);
		fb_str(&b, w->actor_class);
		if (w->actor_class) {
			char *st = cJSON_PrintUnformatted(w->actor_state);
			if (!st)
				b.oom = 1;
			fb_str(&b, st);
			free(st);
		}
		if (w->frozen && refs && w->blob_len >= REF_MIN) {
			/* Left where it is, pinned (wf_fold_unpin). */
			fb_u(&b, w->blob_len);
			wf_fold_ref *v = wf_vec_room(fv, &cf, nf, sizeof *v, 1024);
			if (!v) {
				b.oom = 1;
				break;
			}
			fv = v;
			fv[nf++] = (wf_fold_ref){b.len + moved, b.len, w->blob,
			                         w->blob_len};
			moved += w->blob_len;
		} else if (w->frozen) {
			fb_bytes(&b, w->blob, w->blob_len);
		} else {
			one.len = 0;
			pack(&one, w);
			if (one.oom)
				b.oom = 1;
			fb_bytes(&b, one.p, one.len);
		}
	}
	wf_map_free(&idx);
	free(one.p);
	free(hw);
	if (b.oom) {
		free(b.p);
		free(rv);
		free(fv);
		return WF_ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	if (recs) {
		*recs = rv;
		*nrecs = nr;
	}
	if (nf) {
		refs->v = fv;
		refs->n = nf;
		f->slab.pins++;
	} else {
		free(fv);
	}
	return 0;
}

void wf_fold_unpin(wf_fold *f)
{
	wf_slab *s = &f->slab;
	if (!s->pins || --s->pins)
		return;
	for (size_t i = 0; i < s->ngrave; i++)
		slab_put(s, s->grave[i].p, s->grave[i].size);
	s->ngrave = 0;
}

int wf_fold_save_recs(wf_fold *f, uint8_t **out, size_t *len,
                      wf_fold_rec **recs, size_t *nrecs, wf_fold_refs *refs)
{
	if (refs) {
		refs->v = NULL;
		refs->n = 0;
	}
	int rc = wf_fold_read_all(f, NULL, 0);
	if (rc < 0) {
		*out = NULL;
		*len = 0;
		if (recs) {
			*recs = NULL;
			*nrecs = 0;
		}
		return rc;
	}
	return save(f, out, len, recs, nrecs, NULL, 0, 0, refs);
}

uint32_t wf_fold_id_hash(const char *id)
{
	return (uint32_t)XXH3_64bits(id, strlen(id));
}

const char *wf_fold_only(const wf_fold *f)
{
	return f->only;
}

static int restore_fail(char *err, size_t errlen, const char *what)
{
	errf(err, errlen, "snapshot payload: %s", what);
	return WF_ECORRUPT;
}

/*
 * n records from r into the map, as frozen workflows whose blocks stay in
 * r's buffer (no copy: on these machines, fresh memory is what costs).
 * sess: the payload header's sessions. A record's step and attempt
 * counts cannot exceed its block's bytes (each takes one at least): a
 * bound that its own save keeps, unlike the buffer's length. On failure the records this call put are taken out again, so
 * that the map holds whole blocks or nothing of them.
 * @return 0, WF_ECORRUPT, WF_ENOMEM.
 */
static int restore_recs(wf_fold *f, rbuf *r, const char *const *sess,
                        uint64_t nsess, uint64_t n)
{
	/* (the records must fill r exactly) */
	int rc = 0;
	uint64_t put = 0;
	const uint8_t *from = r->p;
	for (uint64_t i = 0; i < n && !rc; i++) {
		const char *id = rb_str(r);
		int status = rb_byte(r);
		uint64_t si = rb_u(r);
		int64_t start = wf_unzigzag(rb_u(r));
		int64_t end = wf_unzigzag(rb_u(r));
		uint64_t nsteps = rb_u(r), natt = rb_u(r);
		const char *cls = rb_str(r);
		const char *state = cls ? rb_str(r) : NULL;
		uint64_t bl = rb_u(r);
		if (r->bad || !id || si > nsess || status > WF_STATUS_SUCCESSFUL ||
		    bl > (uint64_t)(r->end - r->p) || nsteps > bl || natt > bl ||
		    (cls && !state) || wf_map_get(&f->wfs, id)) {
			rc = WF_ECORRUPT;
			break;
		}
		if (f->only && strcmp(id, f->only) != 0) {
			r->p += bl; /* another workflow's: not asked for */
			continue;
		}
		wf_fwf *w = new_wf(f, id, strlen(id));
		if (!w) {
			rc = WF_ENOMEM;
			break;
		}
		w->blob = (unsigned char *)r->p;
		w->blob_len = (size_t)bl;
		w->blob_cap = 0;
		r->p += bl;
		w->frozen = 1;
		w->status = status;
		w->session = si ? sess[si - 1] : NULL;
		w->start_ns = start;
		w->end_ns = end;
		w->nsteps = (size_t)nsteps;
		w->natt = (size_t)natt;
		f->wfs.borrow = 1; /* the key is w->id */
		if (wf_map_put(&f->wfs, w->id, w) < 0) {
			free_wf(w);
			rc = WF_ENOMEM;
			break;
		}
		put++;
		if (cls) {
			/* Actors live thawed, their state parsed. */
			char *c = NULL;
			rc = thaw(w);
			if (!rc && !(c = arena_strndup(w, cls, strlen(cls))))
				rc = WF_ENOMEM;
			if (!rc && !(w->actor_state = cJSON_Parse(state)))
				rc = wf_json_valid(state, strlen(state)) ? WF_ENOMEM
				                                         : WF_ECORRUPT;
			w->actor_class = c;
		}
	}
	if (!rc && r->p != r->end)
		rc = WF_ECORRUPT; /* bytes after the last record */
	if (rc && put) {
		/* Take back what this call put: the ids again, from the top. */
		rbuf u = {from, r->end, 0, 0};
		for (uint64_t i = 0; i < put && !u.bad; i++) {
			const char *id = rb_str(&u);
			rb_byte(&u);
			for (int k = 0; k < 5; k++)
				rb_u(&u);
			if (rb_str(&u))
				rb_str(&u);
			uint64_t bl = rb_u(&u);
			if (u.bad || !id || bl > (uint64_t)(u.end - u.p))
				break;
			u.p += bl;
			if (f->only && strcmp(id, f->only) != 0) {
				i--;
				continue;
			}
			free_wf(wf_map_del(&f->wfs, id));
		}
	}
	return rc;
}

/* The payload header: last seq, last session, the sessions (interned into
 * *sess, malloc'd), the record count. @return 0, WF_ECORRUPT (what),
 * WF_ENOMEM. */
static int restore_head(wf_fold *f, rbuf *r, size_t len, uint64_t *last_seq,
                        const char ***sess, uint64_t *nsess, uint64_t *nwfs,
                        const char **what)
{
	*sess = NULL;
	*what = "malformed";
	int version = r->p[-1]; /* (rbufs start after magic and version) */
	*last_seq = rb_u(r);
	f->max_ns = version >= 2 ? (int64_t)rb_u(r) : INT64_MAX;
	const char *last = rb_str(r);
	*nsess = rb_u(r);
	if (r->bad || *nsess > len) {
		*what = "bad header";
		return WF_ECORRUPT;
	}
	const char **sv = calloc(*nsess + 1, sizeof *sv);
	if (!sv)
		return WF_ENOMEM;
	int rc = 0;
	for (uint64_t i = 0; i < *nsess && !rc; i++) {
		const char *s = rb_str(r);
		if (!s || !(sv[i] = intern_session(f, s, strlen(s))))
			rc = r->bad || !s ? WF_ECORRUPT : WF_ENOMEM;
	}
	*nwfs = rc ? 0 : rb_u(r);
	if (!rc && r->bad)
		rc = WF_ECORRUPT;
	if (!rc && last && !(f->last_session = strdup(last)))
		rc = WF_ENOMEM;
	if (rc) {
		free(sv);
		return rc;
	}
	*sess = sv;
	return 0;
}

static const char *restore_bad_start(const wf_fold *f, const uint8_t *p,
                                     size_t len)
{
	return f->wfs.len || f->last_seq || f->adopted || f->lazy
	           ? "the fold is not empty"
	       : len < 5 || memcmp(p, SAVE_MAGIC, 4) != 0 ? "no magic"
	       : p[4] != 1 && p[4] != SAVE_VERSION ? "unknown version"
	                              : NULL;
}

int wf_fold_restore(wf_fold *f, uint8_t *p, size_t len, char *err,
                    size_t errlen)
{
	const char *bad_start = restore_bad_start(f, p, len);
	if (bad_start) {
		free(p);
		return restore_fail(err, errlen, bad_start);
	}
	rbuf r = {p + 5, p + len, 0, 0};
	uint64_t last_seq, nsess, nwfs;
	const char **sess, *what;
	int rc = restore_head(f, &r, len, &last_seq, &sess, &nsess, &nwfs,
	                     &what);
	if (!rc && nwfs > len)
		rc = WF_ECORRUPT;
	f->wfs.borrow = 1;
	if (!rc && wf_map_reserve(&f->wfs, (size_t)nwfs) < 0)
		rc = WF_ENOMEM;
	if (!rc)
		rc = restore_recs(f, &r, sess, nsess, nwfs);
	free(sess);
	f->adopted = p; /* also on failure: blocks may point into it */
	if (rc == WF_ECORRUPT)
		return restore_fail(err, errlen, what);
	if (rc)
		errf(err, errlen, "out of memory restoring a snapshot");
	else
		f->last_seq = last_seq;
	return rc;
}

/* ---- lazy restore: records read when first asked for ---- */

typedef struct lazy {
	wf_fold_pager pg;
	uint8_t *state;        /* per block: 0 unread, 1 read, 2 unreadable,
	                          3 rebuilt from the journal */
	size_t unread;         /* blocks in state 0 */
	const char **sess;     /* the header's sessions, interned */
	uint64_t nsess;
	uint64_t seq;          /* the position the records are as of */
	uint8_t **bufs;        /* blocks read: frozen records point into them */
	size_t nbufs, cbufs;
	int busy;              /* reading or rebuilding: no lookup reads */
	int failed;            /* sticky: rebuilding failed (WF_E*) */
	char why[300];         /* and why */
	/* While rebuilding unreadable blocks from the journal: the hashes
	 * their records had (ascending), and the ids of records with those
	 * hashes that readable blocks gave (kept as they are). */
	uint32_t *rh;
	size_t nrh;
	wf_map keep;
} lazy;

static void lazy_free(wf_fold *f)
{
	lazy *z = f->lazy;
	if (!z)
		return;
	if (z->pg.release)
		z->pg.release(z->pg.ctx);
	/* The blocks stay while workflows point into them: with the fold. */
	for (size_t i = 0; i < z->nbufs; i++)
		free(z->bufs[i]);
	free(z->bufs);
	free(z->state);
	free(z->sess);
	free(z->rh);
	wf_map_free(&z->keep);
	free(z);
	f->lazy = NULL;
}

uint64_t wf_fold_unread(const wf_fold *f)
{
	const lazy *z = f->lazy;
	uint64_t n = 0;
	if (z)
		for (size_t b = 0; b < z->pg.nblocks; b++)
			if (z->state[b] == 0)
				n += z->pg.first[b + 1] - z->pg.first[b];
	return n;
}

int wf_fold_restore_lazy(wf_fold *f, uint8_t *head, size_t len,
                         const wf_fold_pager *pg, char *err, size_t errlen)
{
	const char *bad_start = restore_bad_start(f, head, len);
	const char *what = bad_start;
	int rc = bad_start ? WF_ECORRUPT : 0;
	lazy *z = NULL;
	if (!rc && !(z = calloc(1, sizeof *z)))
		rc = WF_ENOMEM;
	if (z) {
		z->pg = *pg;
		f->lazy = z; /* released with the fold from now on */
	} else if (pg->release) {
		pg->release(pg->ctx);
	}
	uint64_t last_seq = 0, nwfs = 0;
	rbuf r = {head + 5, head + len, 0, 0};
	if (!rc)
		rc = restore_head(f, &r, len, &last_seq, &z->sess, &z->nsess,
		                  &nwfs, &what);
	if (!rc && (r.p != r.end || nwfs != pg->nrecs || !pg->nblocks ||
	            pg->first[0] != 0 || pg->first[pg->nblocks] != nwfs)) {
		rc = WF_ECORRUPT;
		what = "the header and the directory disagree";
	}
	if (!rc && !(z->state = calloc(pg->nblocks, 1)))
		rc = WF_ENOMEM;
	free(head); /* (nothing points into the header) */
	if (rc == WF_ECORRUPT)
		return restore_fail(err, errlen, what);
	if (rc) {
		errf(err, errlen, "out of memory restoring a snapshot");
		return rc;
	}
	z->unread = pg->nblocks;
	z->seq = last_seq;
	f->last_seq = last_seq;
	return 0;
}

/*
 * Memory for a block's bytes (the pager's read): kept while the fold
 * lives, since its records point into it. Carved from the slab's chunks
 * (their pages present, and huge where the kernel has them: a block
 * malloc'd had each 4 KiB page faulted in by the decompression, a third
 * of a read's time on the VMs wflow is measured on), or malloc'd if it is
 * larger than a quarter of a chunk, and kept in bufs. A block that then
 * turns out bad keeps its memory until the fold is freed.
 */
static uint8_t *block_alloc(void *ctx, size_t n)
{
	wf_fold *f = ctx;
	lazy *z = f->lazy;
	uint8_t *p = slab_carve(&f->slab, n ? n : 1);
	if (p)
		return p;
	if (z->nbufs == z->cbufs) {
		size_t cap = z->cbufs ? 2 * z->cbufs : 16;
		uint8_t **v = realloc(z->bufs, cap * sizeof *v);
		if (!v)
			return NULL;
		z->bufs = v;
		z->cbufs = cap;
	}
	if ((p = malloc(n ? n : 1)))
		z->bufs[z->nbufs++] = p;
	return p;
}

/* Read block b into the map. @return 0, WF_ENOMEM, or WF_ECORRUPT (the
 * block cannot be read or does not unpack: z->why; nothing of it put). */
static int lazy_read(wf_fold *f, size_t b)
{
	lazy *z = f->lazy;
	uint8_t *raw = NULL;
	size_t len = 0;
	int rc = z->pg.read(z->pg.ctx, b, block_alloc, f, &raw, &len, z->why,
	                    sizeof z->why);
	if (rc == WF_ENOMEM)
		return rc;
	if (rc < 0)
		return WF_ECORRUPT;
	uint64_t n = z->pg.first[b + 1] - z->pg.first[b];
	rbuf r = {raw, raw + len, 0, 0};
	if (wf_map_reserve(&f->wfs, (size_t)n) < 0)
		return WF_ENOMEM;
	rc = restore_recs(f, &r, z->sess, z->nsess, n);
	if (rc == WF_ECORRUPT)
		snprintf(z->why, sizeof z->why, "block %zu of the records does "
		         "not unpack", b);
	return rc;
}

/* The hashes of the records of unreadable blocks, ascending. */
static int lazy_hashes(lazy *z)
{
	size_t n = 0;
	for (size_t b = 0; b < z->pg.nblocks; b++)
		if (z->state[b] == 2)
			n += (size_t)(z->pg.first[b + 1] - z->pg.first[b]);
	free(z->rh);
	z->nrh = 0;
	if (!(z->rh = malloc((n ? n : 1) * sizeof *z->rh)))
		return WF_ENOMEM;
	for (size_t b = 0; b < z->pg.nblocks; b++)
		if (z->state[b] == 2)
			for (uint64_t k = z->pg.first[b]; k < z->pg.first[b + 1]; k++)
				z->rh[z->nrh++] = wf_get_u32(z->pg.hashes + 4 * k);
	return 0;
}

static int has_hash(const uint32_t *v, size_t n, uint32_t h)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo] == h;
}

/* In a rebuild: 1 if an event of workflow id (n bytes) is to be folded. */
static int lazy_wanted(const lazy *z, const char *id, size_t n)
{
	return has_hash(z->rh, z->nrh, (uint32_t)XXH3_64bits(id, n)) &&
	       !wf_map_get_n(&z->keep, id, n);
}

/*
 * Every block not read yet, read; the unreadable ones rebuilt from the
 * journal up to the snapshot's position: the events of the workflows
 * whose id hashes one of their records' (those readable blocks gave
 * excepted), folded into this fold as a replay would have. Every lookup
 * of such a workflow got here before anything changed it, so the rebuilt
 * state is the one the snapshot had. Then the pager goes.
 */
/* A rebuild that failed part way left the workflows of the unreadable
 * blocks as far as the journal went: wrong answers, unlike none. They go
 * (those readable blocks gave, in z->keep, stay), so that lookups of them
 * fail as the lookups of the others do. */
static void drop_partial(wf_fold *f)
{
	lazy *z = f->lazy;
	const char *k;
	void *v;
	/* (wf_map_del leaves a tombstone and moves nothing: the walk goes
	 * on where it was) */
	for (size_t i = 0; wf_map_next(&f->wfs, &i, &k, &v);) {
		wf_fwf *w = v;
		if (!has_hash(z->rh, z->nrh, wf_fold_id_hash(w->id)) ||
		    wf_map_get(&z->keep, w->id))
			continue;
		wf_map_del(&f->wfs, w->id);
		free_wf(w);
	}
}

int wf_fold_read_all(wf_fold *f, char *err, size_t errlen)
{
	lazy *z = f->lazy;
	if (!z)
		return 0;
	if (z->failed) {
		errf(err, errlen, "%s", z->why);
		return z->failed;
	}
	z->busy = 1;
	int ahead = f->slab.ahead_on;
	wf_fold_populate_ahead(f, 1);
	int rc = 0;
	size_t bad = 0;
	char first_why[300] = "";
	for (size_t b = 0; b < z->pg.nblocks; b++)
		if (z->state[b] == 2) {
			/* (a lookup found it so, and came here at once) */
			snprintf(first_why, sizeof first_why, "%s", z->why);
			break;
		}
	for (size_t b = 0; b < z->pg.nblocks && !rc; b++) {
		if (z->state[b] == 0) {
			rc = lazy_read(f, b);
			if (rc == WF_ECORRUPT) {
				if (!bad++)
					snprintf(first_why, sizeof first_why, "%s",
					         z->why);
				z->state[b] = 2;
				z->unread--;
				rc = 0;
			} else if (rc == 0) {
				z->state[b] = 1;
				z->unread--;
			}
		} else if (z->state[b] == 2) {
			bad++;
		}
	}
	if (!rc && bad) {
		rc = lazy_hashes(z);
		z->keep.borrow = 1;
		const char *k;
		void *v;
		for (size_t i = 0; !rc && wf_map_next(&f->wfs, &i, &k, &v);) {
			const wf_fwf *w = v;
			if (has_hash(z->rh, z->nrh, wf_fold_id_hash(w->id)) &&
			    wf_map_put(&z->keep, w->id, v) < 0)
				rc = WF_ENOMEM;
		}
		char rerr[300] = "";
		if (!rc && !z->pg.replay) {
			rc = WF_ECORRUPT;
			snprintf(rerr, sizeof rerr, "no journal to rebuild from");
		}
		if (!rc) {
			/* Replaying moves the position, the latest time and
			 * the last session: they are put back. */
			uint64_t seq = f->last_seq;
			int64_t max_ns = f->max_ns;
			char *ls = f->last_session;
			f->last_session = NULL;
			rc = z->pg.replay(z->pg.ctx, f, z->seq, rerr, sizeof rerr);
			free(f->last_session);
			f->last_session = ls;
			f->last_seq = seq;
			f->max_ns = max_ns;
		}
		for (size_t b = 0; !rc && b < z->pg.nblocks; b++)
			if (z->state[b] == 2)
				z->state[b] = 3;
		if (rc) {
			snprintf(z->why, sizeof z->why, "snapshot: %s; rebuilding "
			         "its records from the journal failed: %s",
			         first_why, rerr);
			z->failed = rc == WF_ENOMEM ? WF_ENOMEM : WF_ECORRUPT;
			rc = z->failed;
			drop_partial(f);
		}
	}
	z->busy = 0;
	wf_fold_populate_ahead(f, ahead);
	if (rc) {
		if (rc == WF_ENOMEM && !z->failed)
			snprintf(z->why, sizeof z->why, "out of memory reading a "
			         "snapshot's records");
		errf(err, errlen, "%s", z->why);
		return rc;
	}
	/* Everything is in the map now: the blocks stay (records point
	 * into them), the rest goes. */
	if (z->pg.release)
		z->pg.release(z->pg.ctx);
	z->pg.release = NULL;
	z->pg.replay = NULL;
	return 0;
}

int wf_fold_save_unread(wf_fold *f, uint8_t **out, size_t *len,
                        wf_fold_rec **recs, size_t *nrecs, size_t **blocks,
                        size_t *nblocks, const wf_fold_pager **pg,
                        wf_fold_refs *refs)
{
	if (refs) {
		refs->v = NULL;
		refs->n = 0;
	}
	lazy *z = f->lazy;
	*blocks = NULL;
	*nblocks = 0;
	*pg = NULL;
	if (z && !z->failed && !z->busy && z->unread && !z->pg.statuses) {
		/* An older snapshot's blocks, which do not say their records'
		 * statuses: read, once, so that the one saved now does. */
		int rc = wf_fold_read_all(f, NULL, 0);
		if (rc == WF_ENOMEM)
			return rc;
	}
	if (!z || z->failed || z->busy || !z->unread)
		return wf_fold_save_recs(f, out, len, recs, nrecs, refs);
	/* An unread block whose hash range holds a record of the map is
	 * read: the records and the blocks left must interleave in hash
	 * order. Reading one adds records in its own range only, which can
	 * touch the next block's at one hash: again until none is read. */
	const uint8_t *hv = z->pg.hashes;
	int again = 1, rc = 0;
	while (again && !rc) {
		again = 0;
		size_t nw = f->wfs.len;
		hashed *hw = sorted_by_hash(f);
		if (!hw)
			return WF_ENOMEM;
		for (size_t b = 0; b < z->pg.nblocks && !rc; b++) {
			uint64_t a = z->pg.first[b], e = z->pg.first[b + 1];
			if (z->state[b] != 0 || a == e)
				continue;
			uint32_t lo = wf_get_u32(hv + 4 * a);
			uint32_t hi = wf_get_u32(hv + 4 * (e - 1));
			size_t l = 0, r = nw;
			while (l < r) {
				size_t m = l + (r - l) / 2;
				if (hw[m].h < lo)
					l = m + 1;
				else
					r = m;
			}
			if (l == nw || hw[l].h > hi)
				continue;
			z->busy = 1;
			rc = lazy_read(f, b);
			z->busy = 0;
			if (rc == WF_ECORRUPT)
				z->state[b] = 2; /* rebuilt by read_all, below */
			else if (rc == 0)
				z->state[b] = 1;
			if (rc != WF_ENOMEM)
				z->unread--;
			again = 1;
		}
		free(hw);
	}
	if (rc == WF_ECORRUPT || !z->unread)
		return wf_fold_save_recs(f, out, len, recs, nrecs, refs);
	if (rc)
		return rc;
	size_t *bl = malloc(z->unread * sizeof *bl);
	if (!bl)
		return WF_ENOMEM;
	size_t k = 0;
	uint64_t extra = 0;
	for (size_t b = 0; b < z->pg.nblocks; b++)
		if (z->state[b] == 0) {
			bl[k++] = b;
			extra += z->pg.first[b + 1] - z->pg.first[b];
		}
	rc = save(f, out, len, recs, nrecs, z->sess, z->nsess, extra, refs);
	if (rc < 0) {
		free(bl);
		return rc;
	}
	*blocks = bl;
	*nblocks = k;
	*pg = &z->pg;
	return 0;
}

/* Read unread block b for a lookup or a list. One that cannot be read
 * is rebuilt, with any other such, by wf_fold_read_all, which reads
 * everything else too (and lets the pager go). @return 0 (read), 1
 * (everything read), or < 0 (err). */
static int lazy_read_block(wf_fold *f, size_t b, char *err, size_t errlen)
{
	lazy *z = f->lazy;
	z->busy = 1;
	int rc = lazy_read(f, b);
	z->busy = 0;
	if (rc == WF_ENOMEM) {
		errf(err, errlen, "out of memory reading a snapshot's records");
		return rc;
	}
	z->state[b] = rc ? 2 : 1;
	z->unread--;
	if (!rc)
		return 0;
	rc = wf_fold_read_all(f, err, errlen);
	return rc < 0 ? rc : 1;
}

/* Read the blocks that may hold id (n bytes): those with a record whose
 * hash is id's. A block that cannot be read makes every block read and
 * the bad ones rebuilt (wf_fold_read_all): rare, and then simple.
 * @return 0 or a WF_E* code (err). */
static int lazy_find(wf_fold *f, const char *id, size_t n, char *err,
                     size_t errlen)
{
	lazy *z = f->lazy;
	if (z->failed && !z->busy) {
		errf(err, errlen, "%s", z->why);
		return z->failed;
	}
	if (z->busy || !z->unread)
		return 0;
	uint32_t h = (uint32_t)XXH3_64bits(id, n);
	const uint8_t *hv = z->pg.hashes;
	uint64_t lo = 0, hi = z->pg.nrecs;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (wf_get_u32(hv + 4 * mid) < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t b = 0;
	for (uint64_t k = lo; k < z->pg.nrecs && wf_get_u32(hv + 4 * k) == h;
	     k++) {
		/* The block of record k: the last whose first is <= k. */
		size_t l = 0, r = z->pg.nblocks;
		while (r - l > 1) {
			size_t m = l + (r - l) / 2;
			if (z->pg.first[m] <= k)
				l = m;
			else
				r = m;
		}
		b = l;
		if (z->state[b] != 0)
			continue;
		int rc = lazy_read_block(f, b, err, errlen);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	return 0;
}

/* Could a record whose status is journaled as s (a pager's statuses) be
 * listed under mask? (RUNNING may be RESUMABLE, as wf_fold_wf_status
 * derives it; NONE is RESUMABLE.) */
static int status_may(uint8_t s, unsigned mask)
{
	switch (s) {
	case WF_STATUS_NONE:
		return (mask & WF_STATUS_BIT(WF_STATUS_RESUMABLE)) != 0;
	case WF_STATUS_RUNNING:
		return (mask & (WF_STATUS_BIT(WF_STATUS_RUNNING) |
		                WF_STATUS_BIT(WF_STATUS_RESUMABLE))) != 0;
	case WF_STATUS_FAILED:
	case WF_STATUS_CANCELED:
	case WF_STATUS_SUCCESSFUL:
		return (mask & WF_STATUS_BIT(s)) != 0;
	default:
		return 1; /* not known */
	}
}

/*
 * Before listing the workflows of mask: read a lazy restore's unread
 * blocks that may hold a record listed under it (all of them if the
 * statuses are not known). A record left unread is as the snapshot saved
 * it (an event of its workflow reads its block first), so the map then
 * holds every workflow the list shows.
 */
static int lazy_read_for(wf_fold *f, unsigned mask)
{
	lazy *z = f->lazy;
	if (z && (z->failed || z->busy || !z->unread || !z->pg.statuses))
		return wf_fold_read_all(f, NULL, 0);
	if (!z)
		return 0;
	int ahead = f->slab.ahead_on, rc = 0;
	wf_fold_populate_ahead(f, 1);
	for (size_t b = 0; b < z->pg.nblocks && z->unread && !rc; b++) {
		if (z->state[b] != 0)
			continue;
		int need = 0;
		for (uint64_t k = z->pg.first[b];
		     k < z->pg.first[b + 1] && !need; k++)
			need = status_may(z->pg.statuses[k], mask);
		rc = need ? lazy_read_block(f, b, NULL, 0) : 0;
	}
	wf_fold_populate_ahead(f, ahead);
	return rc < 0 ? rc : 0;
}

/* ---- apply ---- */

static wf_fstep *need_step(wf_fwf *w, const wf_event *ev, char *err,
                           size_t errlen)
{
	if (ev->nfields < 2 || ev->fields[1].kind != WF_FIELD_TEXT) {
		errf(err, errlen, "event seq %" PRIu64 ": no step id", ev->seq);
		return NULL;
	}
	/* The id is what a copy to a C string of 512 bytes would hold:
	 * it ends at byte 511, or at a NUL. Looked up whole first: a step
	 * whose id matches has no NUL, nor has the field then. */
	const char *id = ev->fields[1].v.s.ptr;
	size_t n = ev->fields[1].v.s.len < 511 ? ev->fields[1].v.s.len : 511;
	wf_fstep *s = step_for_event(w, id, n);
	size_t k = s || !n ? n : strnlen(id, n);
	if (k < n)
		s = step_n(w, id, n = k);
	if (!s)
		errf(err, errlen, "event seq %" PRIu64 ": workflow %s has no "
		     "step %.*s", ev->seq, w->id, (int)n, id);
	return s;
}

static int status_by_name(const wf_event *ev, unsigned i)
{
	static const char *names[] = {"NONE", "RUNNING", "FAILED", "RESUMABLE",
	                              "CANCELED", "SUCCESSFUL"};
	for (int s = 1; s < 6; s++)
		if (field_is(ev, i, names[s]))
			return s;
	return -1;
}

/* ---- virtual actors ---- */

/* [workflow_id, class, state]: a new workflow, SUCCESSFUL at once, with
 * one attempt (cause "create") and no steps. */
static int actor_created(wf_fold *f, wf_fwf *w, const wf_event *ev,
                         const char *id, char *err, size_t errlen)
{
	if (w) {
		errf(err, errlen, "event seq %" PRIu64 ": actor %s created, but "
		     "workflow %s exists", ev->seq, id, id);
		return WF_ECORRUPT;
	}
	if (ev->nfields < 3 || ev->fields[1].kind != WF_FIELD_TEXT ||
	    ev->fields[2].kind != WF_FIELD_JSON) {
		errf(err, errlen, "event seq %" PRIu64 ": actor_created without "
		     "class or state", ev->seq);
		return WF_ECORRUPT;
	}
	cJSON *state = cJSON_ParseWithLength(ev->fields[2].v.s.ptr,
	                                     ev->fields[2].v.s.len);
	if (!state && wf_json_valid(ev->fields[2].v.s.ptr,
	                            ev->fields[2].v.s.len))
		return WF_ENOMEM; /* JSON that cJSON could not parse */
	if (!state) {
		errf(err, errlen, "event seq %" PRIu64 ": actor %s: state is not "
		     "JSON", ev->seq, id);
		return WF_ECORRUPT;
	}
	if (!(w = new_wf(f, id, strlen(id)))) {
		cJSON_Delete(state);
		return WF_ENOMEM;
	}
	w->actor_state = state;
	w->arena_hint = strlen(id) + ev->fields[1].v.s.len + 64 +
	                4 * sizeof(wf_fattempt);
	int rc = 0;
	char *cls = NULL;
	if ((rc = atext(w, ev, 1, &cls)) < 0 ||
	    (rc = grow_att(w, &w->att, &w->natt, &w->catt)) < 0) {
		free_wf(w);
		return rc ? rc : WF_ENOMEM;
	}
	w->actor_class = cls;
	w->user_metadata = NULL; /* {} */
	w->status = WF_STATUS_SUCCESSFUL;
	w->start_ns = w->end_ns = ev->time_ns;
	wf_fattempt *a = &w->att[0];
	a->n = 1;
	a->start_ns = a->end_ns = ev->time_ns;
	a->cause = sym.create;
	a->outcome = sym.successful;
	f->wfs.borrow = 1;
	if (wf_map_put(&f->wfs, w->id, w) < 0) {
		free_wf(w);
		return WF_ENOMEM;
	}
	return 0;
}

/* [workflow_id, dag]: the call's steps join the workflow; its output step
 * is now the call's. */
static int actor_call(wf_fold *f, wf_fwf *w, const wf_event *ev, char *err,
                      size_t errlen)
{
	if (!w->actor_class) {
		errf(err, errlen, "event seq %" PRIu64 ": actor call on workflow "
		     "%s, which is not an actor", ev->seq, w->id);
		return WF_ECORRUPT;
	}
	if (ev->nfields < 2 || ev->fields[1].kind != WF_FIELD_JSON)
		return WF_ECORRUPT;
	const char *out = NULL;
	size_t n = 0;
	w->arena_hint = dag_estimate(ev->fields[1].v.s.ptr,
	                             ev->fields[1].v.s.len);
	int rc = parse_dag(f, w, ev->fields[1].v.s.ptr, ev->fields[1].v.s.len,
	                   &n, &out, err, errlen);
	if (rc == 0 && !out) {
		errf(err, errlen, "event seq %" PRIu64 ": actor call without an "
		     "output step", ev->seq);
		rc = WF_ECORRUPT;
	}
	if (rc == 0)
		rc = add_steps(w, f->dagv, n);
	if (rc)
		return rc;
	w->output_step = out;
	return 0;
}

/* [workflow_id, step_id, patch]: apply the patch to the state. */
static int actor_state(wf_fwf *w, const wf_event *ev, char *err,
                       size_t errlen)
{
	if (!w->actor_class || !need_step(w, ev, err, errlen)) {
		if (!w->actor_class)
			errf(err, errlen, "event seq %" PRIu64 ": state change of "
			     "workflow %s, which is not an actor", ev->seq, w->id);
		return WF_ECORRUPT;
	}
	if (ev->nfields < 3 || ev->fields[2].kind != WF_FIELD_JSON)
		return WF_ECORRUPT;
	cJSON *ops = cJSON_ParseWithLength(ev->fields[2].v.s.ptr,
	                                   ev->fields[2].v.s.len);
	if (!ops && wf_json_valid(ev->fields[2].v.s.ptr,
	                          ev->fields[2].v.s.len))
		return WF_ENOMEM; /* JSON that cJSON could not parse */
	if (!ops) {
		errf(err, errlen, "event seq %" PRIu64 ": actor %s: state patch "
		     "is not JSON", ev->seq, w->id);
		return WF_ECORRUPT;
	}
	char why[300];
	int rc = wf_jpatch(&w->actor_state, ops, why, sizeof why);
	cJSON_Delete(ops);
	if (rc == WF_ECORRUPT)
		errf(err, errlen, "event seq %" PRIu64 ": actor %s: %s", ev->seq,
		     w->id, why);
	return rc;
}

/* Does this version know type? (The fold's own types first: most
 * events are one of them, and the schema table is searched in order.) */
static int known_type(uint16_t type)
{
	return (type >= WF_EV_SESSION_STARTED && type <= WF_EV_ACTOR_STATE) ||
	       wf_event_schema_find(type) != NULL;
}

/* The first checks of apply, below, without their messages: keep the two
 * in step. (test_load_parallel compares a filtered fold with a full one.) */
int wf_fold_ignores(const wf_fold *f, const wf_event *ev)
{
	uint16_t type = ev->type;
	if (ev->opaque || !known_type(type))
		return (type & WF_EVENT_SAFE_IGNORE) != 0;
	if (type == WF_EV_NOTICE)
		return 1;
	if (type == WF_EV_SESSION_STARTED || !f->only || f->lazy)
		return 0;
	if (ev->nfields < 1 || ev->fields[0].kind != WF_FIELD_TEXT ||
	    ev->fields[0].v.s.len >= 256)
		return 0; /* an error: apply says which */
	const char *idp = ev->fields[0].v.s.ptr;
	size_t idn = ev->fields[0].v.s.len;
	size_t k = idn ? strnlen(idp, idn) : 0;
	return k != f->only_len || memcmp(idp, f->only, k) != 0;
}

static int apply(wf_fold *f, const wf_event *ev, char *err, size_t errlen)
{
	uint16_t type = ev->type;
	if (ev->opaque || !known_type(type)) {
		if (type & WF_EVENT_SAFE_IGNORE)
			return 0;
		errf(err, errlen, "event seq %" PRIu64 ": unknown event type %u "
		     "(written by a newer wflow?)", ev->seq, (unsigned)type);
		return WF_EINCOMPAT;
	}
	int64_t t = ev->time_ns;
	if (type == WF_EV_NOTICE)
		return 0; /* for auditors; no state */
	if (type == WF_EV_SESSION_STARTED) {
		char *s;
		int rc = text(ev, 0, &s);
		if (rc)
			return rc;
		free(f->last_session);
		f->last_session = s;
		return 0;
	}
	char id[256];
	if (ev->nfields < 1 || ev->fields[0].kind != WF_FIELD_TEXT ||
	    ev->fields[0].v.s.len >= sizeof id) {
		errf(err, errlen, "event seq %" PRIu64 ": no workflow id", ev->seq);
		return WF_ECORRUPT;
	}
	/* The id is the field up to a NUL, if it has one (as a copy to a C
	 * string would be); looked up in place (wf_map_get_n cuts it
	 * there), measured and copied (id) only to be kept or printed. */
	const char *idp = ev->fields[0].v.s.ptr;
	size_t idn = ev->fields[0].v.s.len;
	int rc;
	if (f->only) {
		size_t k = idn ? strnlen(idp, idn) : 0;
		if (k != f->only_len || memcmp(idp, f->only, k) != 0)
			return 0; /* another workflow's: not asked for */
	}
	if (f->lazy && f->lazy->busy &&
	    !lazy_wanted(f->lazy, idp, idn ? strnlen(idp, idn) : 0))
		return 0; /* rebuilding unreadable records: not one of them */
	/* A new workflow's id is looked up where the map has not been read
	 * lately (a cache miss): its entry is fetched while the DAG, which
	 * does not depend on it, is measured. Only text fields have a length
	 * (the kinds are checked below too, where they are read). */
	size_t hint = 0;
	if (type == WF_EV_WORKFLOW_CREATED) {
		wf_map_prefetch(&f->wfs, idp, idn);
		if (ev->nfields >= 3 && is_text(&ev->fields[1]) &&
		    is_text(&ev->fields[2]))
			hint = dag_estimate(ev->fields[2].v.s.ptr,
			                    ev->fields[2].v.s.len) +
			       ev->fields[1].v.s.len + 2 * sizeof(wf_fattempt);
	}
	wf_fwf *w = wf_map_get_n(&f->wfs, idp, idn);
	if (!w && f->lazy && !f->lazy->busy) {
		/* Perhaps in a snapshot's records not read yet. */
		if ((rc = lazy_find(f, idp, idn ? strnlen(idp, idn) : 0, err,
		                    errlen)) < 0)
			return rc;
		w = wf_map_get_n(&f->wfs, idp, idn);
	}
	if (w && w->frozen && type != WF_EV_WORKFLOW_DELETED &&
	    (rc = thaw(w)) < 0) {
		errf(err, errlen, "event seq %" PRIu64 ": workflow %s: %s",
		     ev->seq, w->id, rc == WF_ENOMEM ? "out of memory" :
		     "cannot unpack its folded state");
		return rc;
	}
	if (type == WF_EV_ACTOR_CREATED || type == WF_EV_WORKFLOW_CREATED ||
	    !w) {
		idn = idn ? strnlen(idp, idn) : 0;
		memcpy(id, idp, idn);
		id[idn] = '\0';
	}
	if (type == WF_EV_ACTOR_CREATED)
		return actor_created(f, w, ev, id, err, errlen);
	if (type == WF_EV_WORKFLOW_CREATED) {
		if (w) {
			errf(err, errlen, "event seq %" PRIu64 ": workflow %s "
			     "created twice", ev->seq, id);
			return WF_ECORRUPT;
		}
		if (!(w = new_wf(f, id, idn)))
			return WF_ENOMEM;
		if (hint)
			w->arena_hint = hint + idn;
		size_t n = 0;
		rc = atext(w, ev, 1, &w->user_metadata);
		if (rc == 0 && (ev->nfields < 3 || !is_text(&ev->fields[2])))
			rc = WF_ECORRUPT;
		if (rc == 0) {
			rc = parse_dag(f, w, ev->fields[2].v.s.ptr,
			               ev->fields[2].v.s.len, &n,
			               &w->output_step, err, errlen);
		}
		if (rc == 0)
			rc = add_steps(w, f->dagv, n);
		f->wfs.borrow = 1; /* the key is w->id */
		if (rc == 0)
			rc = wf_map_put(&f->wfs, w->id, w);
		if (rc) {
			if (rc == WF_ECORRUPT && err)
				errf(err + strlen(err), errlen - strlen(err),
				     " (event seq %" PRIu64 ")", ev->seq);
			free_wf(w);
			return rc;
		}
		return 0;
	}
	if (!w) {
		errf(err, errlen, "event seq %" PRIu64 ": no workflow %s", ev->seq,
		     id);
		return WF_ECORRUPT;
	}
	switch (type) {
	case WF_EV_WORKFLOW_DELETED:
		wf_map_del(&f->wfs, w->id);
		free_wf(w);
		return 0;
	case WF_EV_ATTEMPT_STARTED: {
		const char *session = NULL;
		if (ev->nfields > 3 && ev->fields[3].kind == WF_FIELD_TEXT &&
		    !(session = intern_session(f, ev->fields[3].v.s.ptr,
		                               ev->fields[3].v.s.len)))
			return WF_ENOMEM;
		if ((rc = grow_att(w, &w->att, &w->natt, &w->catt)) < 0)
			return rc;
		wf_fattempt *a = &w->att[w->natt - 1];
		a->n = (int)num(ev, 1);
		a->start_ns = t;
		a->cause = field_is(ev, 2, "resume") ? sym.resume
		           : field_is(ev, 2, "call") ? sym.call
		                                     : sym.run;
		w->session = session;
		w->start_ns = t;
		w->end_ns = 0;
		return 0;
	}
	case WF_EV_STATUS_CHANGED: {
		int s = status_by_name(ev, 1);
		if (s < 0 || s == WF_STATUS_RESUMABLE) {
			errf(err, errlen, "event seq %" PRIu64 ": bad status",
			     ev->seq);
			return WF_ECORRUPT;
		}
		w->status = s;
		if (s == WF_STATUS_RUNNING)
			return 0;
		if (s != WF_STATUS_CANCELED)
			w->end_ns = t;
		if (w->natt) {
			wf_fattempt *a = &w->att[w->natt - 1];
			a->end_ns = t;
			static const char *const out[] = {
				sym.empty, sym.empty,    sym.failed,
				sym.empty, sym.canceled, sym.successful};
			a->outcome = out[s];
		}
		/* Finished (until a resume): pack it. */
		freeze(f, w);
		return 0;
	}
	case WF_EV_WORKFLOW_OUTPUT:
		return atext(w, ev, 1, &w->output);
	case WF_EV_ACTOR_CALL:
		return actor_call(f, w, ev, err, errlen);
	case WF_EV_ACTOR_STATE:
		return actor_state(w, ev, err, errlen);
	case WF_EV_CONTINUATION: {
		wf_fstep *s = need_step(w, ev, err, errlen);
		if (!s)
			return WF_ECORRUPT;
		const char *out = NULL;
		size_t n = 0;
		if (ev->nfields < 3 || ev->fields[2].kind != WF_FIELD_JSON)
			return WF_ECORRUPT;
		w->arena_hint = dag_estimate(ev->fields[2].v.s.ptr,
		                             ev->fields[2].v.s.len);
		rc = parse_dag(f, w, ev->fields[2].v.s.ptr,
		               ev->fields[2].v.s.len, &n, &out, err, errlen);
		if (rc == 0 && !out) {
			errf(err, errlen, "event seq %" PRIu64 ": continuation "
			     "without an output step", ev->seq);
			rc = WF_ECORRUPT;
		}
		if (rc == 0)
			rc = add_steps(w, f->dagv, n);
		if (rc)
			return rc;
		s->cont = out;
		return 0;
	}
	default:
		break;
	}
	/* Step events. */
	wf_fstep *s = need_step(w, ev, err, errlen);
	if (!s)
		return WF_ECORRUPT;
	int run = w->natt ? w->att[w->natt - 1].n : 0;
	int n = (int)num(ev, 2);
	if (type == WF_EV_STEP_STARTED) {
		if ((rc = grow_att(w, &s->att, &s->natt, &s->catt)) < 0)
			return rc;
		wf_fattempt *a = &s->att[s->natt - 1];
		a->run = run;
		a->n = n;
		a->start_ns = t;
		if (n <= 1) {
			s->start_ns = t;
			s->end_ns = 0;
		}
		s->state = WF_FSTEP_RUNNING;
		return 0;
	}
	/* Succeeded or failed: the try that started last. */
	wf_fattempt *a = s->natt ? &s->att[s->natt - 1] : NULL;
	/* catch_exceptions: after the last try failed, the step is done and
	 * its output is [null, error]; the try keeps its failure. */
	int caught = type == WF_EV_STEP_SUCCEEDED && a && a->end_ns &&
	             a->outcome && strcmp(a->outcome, "FAILED") == 0 &&
	             s->state == WF_FSTEP_FAILED;
	if (!caught && (!a || a->end_ns)) {
		errf(err, errlen, "event seq %" PRIu64 ": step %s of workflow %s "
		     "ends without having started", ev->seq, s->id, w->id);
		return WF_ECORRUPT;
	}
	if (type == WF_EV_STEP_FAILED) {
		char *e = NULL;
		if (ev->nfields > 3 && (rc = atext(w, ev, 3, &e)) < 0)
			return rc;
		a->outcome = sym.failed;
		a->error = e;
		a->end_ns = t;
		s->state = WF_FSTEP_FAILED;
		return 0;
	}
	/* WF_EV_STEP_SUCCEEDED */
	char *out = NULL;
	if (ev->nfields > 3 && (rc = atext(w, ev, 3, &out)) < 0)
		return rc;
	if (!caught) {
		a->outcome = sym.succeeded;
		a->end_ns = t;
	}
	s->end_ns = t;
	s->state = WF_FSTEP_SUCCEEDED;
	s->output = out; /* a re-run's new output; the old stays in the arena */
	s->has_output = out != NULL;
	return 0;
}

int wf_fold_apply(wf_fold *f, const wf_event *ev, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	int rc = apply(f, ev, err, errlen);
	if (rc == WF_ENOMEM)
		errf(err, errlen, "out of memory folding event seq %" PRIu64,
		     ev->seq);
	if (rc == WF_ECORRUPT && err && errlen && !err[0]) {
		/* The checks that found a field missing or of the wrong
		 * kind leave the message to this one. */
		const wf_event_schema *sc = wf_event_schema_find(ev->type);
		errf(err, errlen, "event seq %" PRIu64 " (%s): a field is "
		     "missing or of the wrong kind", ev->seq,
		     sc ? sc->name : "unknown type");
	}
	if (rc == 0) {
		f->last_seq = ev->seq;
		if (ev->time_ns > f->max_ns)
			f->max_ns = ev->time_ns;
	}
	return rc;
}

/* ---- answers ---- */

static cJSON *secs(int64_t ns)
{
	return cJSON_CreateNumber((double)ns / 1e9);
}

/* o[key] = ns in seconds. @return 0 or WF_ENOMEM. */
static int add_secs(cJSON *o, const char *key, int64_t ns)
{
	cJSON *v = secs(ns);
	if (v && cJSON_AddItemToObject(o, key, v))
		return 0;
	cJSON_Delete(v); /* not added: the key's copy failed */
	return WF_ENOMEM;
}

static int add_stats(cJSON *o, int64_t start, int64_t end)
{
	cJSON *st = cJSON_AddObjectToObject(o, "stats");
	if (!st)
		return WF_ENOMEM;
	if (start && add_secs(st, "start_time", start) < 0)
		return WF_ENOMEM;
	if (end && add_secs(st, "end_time", end) < 0)
		return WF_ENOMEM;
	if (start && end &&
	    !cJSON_AddNumberToObject(o, "duration", (double)(end - start) / 1e9))
		return WF_ENOMEM;
	return 0;
}

static int add_json(cJSON *o, const char *key, const char *text)
{
	cJSON *v = cJSON_Parse(text ? text : "{}");
	if (!v && wf_json_valid(text ? text : "{}", text ? strlen(text) : 2))
		return WF_ENOMEM; /* JSON that cJSON could not parse */
	if (!v)
		v = cJSON_CreateObject();
	if (v && cJSON_AddItemToObject(o, key, v))
		return 0;
	cJSON_Delete(v); /* not added: the key's copy failed */
	return WF_ENOMEM;
}

static int add_attempts(cJSON *o, const wf_fattempt *a, size_t n, int steps)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "attempts");
	if (!arr)
		return WF_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		cJSON *x = cJSON_CreateObject();
		if (!x || !cJSON_AddItemToArray(arr, x))
			return WF_ENOMEM;
		/* (An answer with a key missing would be a wrong answer.) */
		if (!cJSON_AddNumberToObject(x, "attempt", a[i].n) ||
		    (steps && !cJSON_AddNumberToObject(x, "run", a[i].run)) ||
		    (!steps && a[i].cause &&
		     !cJSON_AddStringToObject(x, "cause", a[i].cause)) ||
		    (a[i].start_ns && add_secs(x, "start_time", a[i].start_ns)) ||
		    (a[i].end_ns && add_secs(x, "end_time", a[i].end_ns)) ||
		    (a[i].outcome &&
		     !cJSON_AddStringToObject(x, "outcome", a[i].outcome)) ||
		    (a[i].error && !cJSON_AddStringToObject(x, "error", a[i].error)))
			return WF_ENOMEM;
	}
	return 0;
}

static cJSON *step_meta(const wf_fstep *s)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON *opt;
	int ok = cJSON_AddStringToObject(o, "name", s->name) &&
	         cJSON_AddStringToObject(o, "step_id", s->id) &&
	         (opt = cJSON_AddObjectToObject(o, "step_options")) &&
	         cJSON_AddStringToObject(opt, "step_type", s->step_type) &&
	         cJSON_AddNumberToObject(opt, "max_retries", s->max_retries) &&
	         cJSON_AddBoolToObject(opt, "catch_exceptions",
	                               s->catch_exceptions) &&
	         cJSON_AddBoolToObject(opt, "checkpoint", s->checkpoint) &&
	         add_json(o, "user_metadata", s->user_metadata) == 0 &&
	         add_stats(o, s->start_ns, s->end_ns) == 0 &&
	         add_attempts(o, s->att, s->natt, 1) == 0;
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int wf_fold_metadata(const wf_fold *f, const char *id, const char *step,
                     cJSON **out, char *err, size_t errlen)
{
	*out = NULL;
	const wf_fwf *w;
	int rc = wf_fold_find(f, id, &w);
	if (rc == WF_ENOTFOUND)
		errf(err, errlen, "No such workflow_id %s", id);
	else if (rc < 0 && f->lazy && f->lazy->failed)
		errf(err, errlen, "workflow %s: %s", id, f->lazy->why);
	else if (rc < 0)
		errf(err, errlen, "workflow %s: %s", id, rc == WF_ENOMEM ?
		     "out of memory unpacking its folded state" :
		     "its folded state does not unpack");
	if (rc < 0)
		return rc;
	if (step) {
		const wf_fstep *s = wf_fold_step(w, step);
		if (!s) {
			errf(err, errlen, "No such step_id %s in workflow %s", step,
			     id);
			return WF_ENOTFOUND;
		}
		return (*out = step_meta(s)) ? 0 : WF_ENOMEM;
	}
	cJSON *o = cJSON_CreateObject();
	int ok = o &&
	         cJSON_AddStringToObject(o, "status",
	                                 wf_status_name(wf_fold_wf_status(f, w))) &&
	         add_json(o, "user_metadata", w->user_metadata) == 0 &&
	         add_stats(o, w->start_ns, w->end_ns) == 0 &&
	         cJSON_AddStringToObject(o, "workflow_id", w->id) &&
	         add_attempts(o, w->att, w->natt, 0) == 0;
	if (!ok) {
		cJSON_Delete(o);
		return WF_ENOMEM;
	}
	*out = o;
	return 0;
}

static int cmp_wf(const void *a, const void *b)
{
	return strcmp((*(const wf_fwf *const *)a)->id,
	              (*(const wf_fwf *const *)b)->id);
}

int wf_fold_rows(const wf_fold *f, unsigned mask, wf_fold_row **out,
                 size_t *nout)
{
	*out = NULL;
	*nout = 0;
	size_t n = 0;
	/* Reading records changes the fold's memory, not its state. */
	int lrc = lazy_read_for((wf_fold *)f, mask);
	if (lrc < 0)
		return lrc;
	const wf_fwf **v = malloc((f->wfs.len + 1) * sizeof *v);
	if (!v)
		return WF_ENOMEM;
	const char *k;
	void *x;
	for (size_t i = 0; wf_map_next(&f->wfs, &i, &k, &x);) {
		const wf_fwf *w = x;
		if (mask & WF_STATUS_BIT(wf_fold_wf_status(f, w)))
			v[n++] = w;
	}
	qsort(v, n, sizeof *v, cmp_wf);
	wf_fold_row *r = malloc((n ? n : 1) * sizeof *r);
	if (!r) {
		free(v);
		return WF_ENOMEM;
	}
	for (size_t k = 0; k < n; k++)
		r[k] = (wf_fold_row){v[k]->id, wf_fold_wf_status(f, v[k]),
		                     v[k]->start_ns, v[k]->end_ns, v[k]->nsteps,
		                     v[k]->natt};
	free(v);
	*out = r;
	*nout = n;
	return 0;
}

cJSON *wf_fold_row_json(const wf_fold_row *r)
{
	cJSON *x = cJSON_CreateObject();
	if (!x || !cJSON_AddStringToObject(x, "workflow_id", r->id) ||
	    !cJSON_AddStringToObject(x, "status", wf_status_name(r->status)) ||
	    (r->start_ns && add_secs(x, "start_time", r->start_ns)) ||
	    (r->end_ns && add_secs(x, "end_time", r->end_ns)) ||
	    (r->start_ns && r->end_ns &&
	     !cJSON_AddNumberToObject(x, "duration",
	                              (double)(r->end_ns - r->start_ns) / 1e9)) ||
	    !cJSON_AddNumberToObject(x, "steps", (double)r->steps) ||
	    !cJSON_AddNumberToObject(x, "attempts", (double)r->attempts)) {
		cJSON_Delete(x);
		return NULL;
	}
	return x;
}

int wf_fold_list(const wf_fold *f, unsigned mask, cJSON **out)
{
	*out = NULL;
	wf_fold_row *v;
	size_t n;
	int rc = wf_fold_rows(f, mask, &v, &n);
	if (rc < 0)
		return rc;
	cJSON *arr = cJSON_CreateArray();
	rc = arr ? 0 : WF_ENOMEM;
	for (size_t k = 0; k < n && !rc; k++) {
		cJSON *x = wf_fold_row_json(&v[k]);
		if (!x || !cJSON_AddItemToArray(arr, x)) {
			cJSON_Delete(x);
			rc = WF_ENOMEM;
		}
	}
	free(v);
	if (rc) {
		cJSON_Delete(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

const char *wf_status_name(wf_status s)
{
	switch (s) {
	case WF_STATUS_RUNNING:
		return "RUNNING";
	case WF_STATUS_FAILED:
		return "FAILED";
	case WF_STATUS_RESUMABLE:
		return "RESUMABLE";
	case WF_STATUS_CANCELED:
		return "CANCELED";
	case WF_STATUS_SUCCESSFUL:
		return "SUCCESSFUL";
	default:
		return "NONE";
	}
}
