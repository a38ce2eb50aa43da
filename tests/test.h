/*
 * Small helpers shared by the journal tests: assert macros that print
 * file:line and the values and exit(1) (never compiled out), a scratch
 * directory under /tmp removed at exit, file surgery (copy, truncate, flip
 * a bit, walk the frames of a segment), a deterministic PRNG, and a
 * collector for damage reports.
 *
 * Each test is its own executable; exit 0 = pass, 1 = fail, 77 = skip.
 * Set WFLOW_TEST_KEEP=1 to keep the scratch directory for inspection.
 */
#ifndef WF_TEST_H
#define WF_TEST_H

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "journal/format.h"
#include "journal/frame.h"
#include "journal/journal.h"
#include "journal/varint.h"
#include "wflow.h"

#if defined(__GNUC__)
#define T_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define T_NORETURN __attribute__((noreturn))
#else
#define T_PRINTF(a, b)
#define T_NORETURN
#endif

/* ---- failure reporting ------------------------------------------------ */

/* What the test is doing (e.g. "truncated to L=1234"), printed on failure. */
static char t_ctx[512];

static inline void t_context(const char *fmt, ...) T_PRINTF(1, 2);
static inline void t_context(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t_ctx, sizeof t_ctx, fmt, ap);
	va_end(ap);
}

static inline void t_fail(const char *file, int line, const char *fmt, ...)
	T_PRINTF(3, 4) T_NORETURN;
static inline void t_fail(const char *file, int line, const char *fmt, ...)
{
	/* The first failure wins: another thread failing afterwards (e.g.
	 * because exit() is removing the scratch directory under it) waits
	 * for the process to end instead of reporting a consequence. */
	static atomic_flag failing = ATOMIC_FLAG_INIT;
	va_list ap;
	if (atomic_flag_test_and_set(&failing))
		for (;;)
			pause();
	fflush(stdout);
	fprintf(stderr, "%s:%d: FAIL: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (t_ctx[0])
		fprintf(stderr, "  context: %s\n", t_ctx);
	exit(1);
}

#define CHECK(cond)                                                           \
	do {                                                                      \
		if (!(cond))                                                          \
			t_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                   \
	} while (0)

/* CHECK with a printf-style explanation. */
#define CHECK_MSG(cond, ...)                                                  \
	do {                                                                      \
		if (!(cond)) {                                                        \
			char t_m_[2048];                                                  \
			if (snprintf(t_m_, sizeof t_m_, __VA_ARGS__) < 0)                 \
				t_m_[0] = 0;                                                  \
			t_fail(__FILE__, __LINE__, "CHECK(%s): %s", #cond, t_m_);         \
		}                                                                     \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                    \
	do {                                                                      \
		uint64_t t_a_ = (uint64_t)(a), t_b_ = (uint64_t)(b);                  \
		if (t_a_ != t_b_)                                                     \
			t_fail(__FILE__, __LINE__,                                        \
			       "%s == %s: got %" PRIu64 " (0x%" PRIx64                    \
			       "), expected %" PRIu64 " (0x%" PRIx64 ")",                 \
			       #a, #b, t_a_, t_a_, t_b_, t_b_);                           \
	} while (0)

#define CHECK_EQ_I64(a, b)                                                    \
	do {                                                                      \
		int64_t t_a_ = (int64_t)(a), t_b_ = (int64_t)(b);                     \
		if (t_a_ != t_b_)                                                     \
			t_fail(__FILE__, __LINE__,                                        \
			       "%s == %s: got %" PRId64 ", expected %" PRId64, #a, #b,    \
			       t_a_, t_b_);                                               \
	} while (0)

/* rc must be 0; msg (evaluated only on failure) is the handle's message. */
#define CHECK_OK_MSG(rc, msg)                                                 \
	do {                                                                      \
		int t_r_ = (rc);                                                      \
		if (t_r_ != 0)                                                        \
			t_fail(__FILE__, __LINE__, "%s returned %d (%s): %s", #rc, t_r_, \
			       wf_strerror(t_r_), (msg));                                 \
	} while (0)

#define CHECK_OK(rc) CHECK_OK_MSG(rc, "")

/* rc must equal the WF_E* code want. */
#define CHECK_RC(rc, want)                                                    \
	do {                                                                      \
		int t_r_ = (rc), t_w_ = (want);                                       \
		if (t_r_ != t_w_)                                                     \
			t_fail(__FILE__, __LINE__, "%s: got %d (%s), expected %d (%s)",   \
			       #rc, t_r_, wf_strerror(t_r_), t_w_, wf_strerror(t_w_));    \
	} while (0)

/* The string s must contain needle (case-insensitive). */
#define CHECK_CONTAINS(s, needle)                                             \
	do {                                                                      \
		const char *t_s_ = (s), *t_n_ = (needle);                             \
		if (!t_s_ || !t_contains(t_s_, t_n_))                                 \
			t_fail(__FILE__, __LINE__, "%s = \"%s\" does not contain \"%s\"", \
			       #s, t_s_ ? t_s_ : "(null)", t_n_);                         \
	} while (0)

static inline int t_contains(const char *s, const char *needle)
{
	size_t n = strlen(needle);
	for (; *s; s++)
		if (strncasecmp(s, needle, n) == 0)
			return 1;
	return n == 0;
}

/*
 * Does the message name the number v (a byte offset or a sequence number)?
 * Looks for v as a whole decimal token (not part of a longer digit run, so
 * a 20-digit segment file name does not count as "0"), or as a 0x hex
 * token.
 */
static inline int t_names_number(const char *s, uint64_t v)
{
	char dec[32], hex[32];
	snprintf(dec, sizeof dec, "%" PRIu64, v);
	snprintf(hex, sizeof hex, "0x%" PRIx64, v);
	size_t nd = strlen(dec), nh = strlen(hex);
	for (const char *p = s; *p; p++) {
		int before_ok = p == s || !isalnum((unsigned char)p[-1]);
		if (!before_ok)
			continue;
		if (strncmp(p, dec, nd) == 0 && !isalnum((unsigned char)p[nd]))
			return 1;
		if (strncasecmp(p, hex, nh) == 0 && !isxdigit((unsigned char)p[nh]))
			return 1;
	}
	return 0;
}

/* ---- scale, PRNG ---------------------------------------------------- */

/* WFLOW_TEST_SCALE multiplies the sizes of the big tests (default 1). */
static inline double t_scale(void)
{
	const char *s = getenv("WFLOW_TEST_SCALE");
	double v = s ? atof(s) : 1.0;
	return v > 0 ? v : 1.0;
}

static inline uint64_t t_splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* ---- scratch directory ----------------------------------------------- */

static char t_root[256];
static pid_t t_root_pid; /* only the creating process removes it */

static inline int t_rm_cb(const char *path, const struct stat *sb, int flag,
                          struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void t_rmtree(const char *path)
{
	nftw(path, t_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void t_cleanup(void)
{
	if (!t_root[0] || getpid() != t_root_pid)
		return;
	if (getenv("WFLOW_TEST_KEEP")) {
		fprintf(stderr, "kept %s\n", t_root);
	} else {
		/* After a failure another thread may still be writing into it
		 * for a moment (until it fails too): retry. */
		struct stat st;
		for (int i = 0; i < 100 && stat(t_root, &st) == 0; i++) {
			t_rmtree(t_root);
			if (stat(t_root, &st) == 0)
				nanosleep(&(struct timespec){0, 10000000}, NULL);
		}
	}
	t_root[0] = 0;
}

/* Create the test's scratch directory (removed at exit); returns it. */
static inline const char *t_tmproot(void)
{
	if (t_root[0])
		return t_root;
	snprintf(t_root, sizeof t_root, "/tmp/wflow-test-XXXXXX");
	if (!mkdtemp(t_root))
		t_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
	t_root_pid = getpid();
	atexit(t_cleanup);
	return t_root;
}

/* out = <root>/<name> (not created). */
static inline void t_path(char *out, size_t n, const char *dir,
                          const char *name)
{
	int r = snprintf(out, n, "%s/%s", dir, name);
	if (r < 0 || (size_t)r >= n)
		t_fail(__FILE__, __LINE__, "path too long: %s/%s", dir, name);
}

static inline void t_subdir(char *out, size_t n, const char *name)
{
	t_path(out, n, t_tmproot(), name);
}

/* ---- files -------------------------------------------------------------- */

static inline uint8_t *t_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		t_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(sz > 0 ? (size_t)sz : 1);
	if (!buf || (sz > 0 && fread(buf, 1, (size_t)sz, f) != (size_t)sz))
		t_fail(__FILE__, __LINE__, "read %s", path);
	fclose(f);
	*len = (size_t)sz;
	return buf;
}

static inline void t_write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		t_fail(__FILE__, __LINE__, "write %s: %s", path, strerror(errno));
}

static inline uint64_t t_file_size(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		t_fail(__FILE__, __LINE__, "stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_size;
}

static inline void t_truncate(const char *path, uint64_t len)
{
	if (truncate(path, (off_t)len) != 0)
		t_fail(__FILE__, __LINE__, "truncate %s: %s", path, strerror(errno));
}

/* XOR the byte at off with mask. */
static inline void t_flip(const char *path, uint64_t off, uint8_t mask)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	if (fd < 0 || pread(fd, &b, 1, (off_t)off) != 1)
		t_fail(__FILE__, __LINE__, "flip %s@%" PRIu64, path, off);
	b ^= mask;
	if (pwrite(fd, &b, 1, (off_t)off) != 1)
		t_fail(__FILE__, __LINE__, "flip %s@%" PRIu64, path, off);
	close(fd);
}

static inline int t_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Copy the regular files of src into dst (created; must not exist). The
 * LOCK file is not copied. */
static inline void t_copy_dir(const char *src, const char *dst)
{
	if (mkdir(dst, 0755) != 0)
		t_fail(__FILE__, __LINE__, "mkdir %s: %s", dst, strerror(errno));
	DIR *d = opendir(src);
	if (!d)
		t_fail(__FILE__, __LINE__, "opendir %s: %s", src, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d))) {
		char a[512], b[512];
		struct stat st;
		if (strcmp(e->d_name, "LOCK") == 0)
			continue;
		t_path(a, sizeof a, src, e->d_name);
		if (stat(a, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		t_path(b, sizeof b, dst, e->d_name);
		size_t len;
		uint8_t *buf = t_read_file(a, &len);
		t_write_file(b, buf, len);
		free(buf);
	}
	closedir(d);
}

/* ---- segments and frames ------------------------------------------------ */

#define T_MAX_SEGS 4096

typedef struct t_segs {
	size_t n;
	char name[T_MAX_SEGS][32]; /* e.g. "00000000000000000001.wfj" */
	uint64_t first_seq[T_MAX_SEGS];
} t_segs;

static inline int t_seg_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* The segment files of dir (names <20 digits>.wfj), sorted by name. */
static inline void t_list_segments(const char *dir, t_segs *s)
{
	DIR *d = opendir(dir);
	if (!d)
		t_fail(__FILE__, __LINE__, "opendir %s: %s", dir, strerror(errno));
	s->n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l != WF_SEG_NAME_DIGITS + strlen(WF_SEG_SUFFIX) ||
		    strcmp(e->d_name + WF_SEG_NAME_DIGITS, WF_SEG_SUFFIX) != 0)
			continue;
		if (s->n == T_MAX_SEGS)
			t_fail(__FILE__, __LINE__, "too many segments in %s", dir);
		snprintf(s->name[s->n++], sizeof s->name[0], "%s", e->d_name);
	}
	closedir(d);
	qsort(s->name, s->n, sizeof s->name[0], t_seg_cmp);
	for (size_t i = 0; i < s->n; i++)
		s->first_seq[i] = strtoull(s->name[i], NULL, 10);
}

static inline void t_seg_path(char *out, size_t n, const char *dir,
                              const t_segs *s, size_t i)
{
	t_path(out, n, dir, s->name[i]);
}

typedef struct t_frame {
	uint64_t off; /* start of the frame in its file */
	uint64_t len; /* header + payload */
	wf_frame_hdr h;
} t_frame;

/*
 * Walk the frames of a segment file from offset 64 with wf_frame_parse.
 * Fails the test unless the frames tile the file exactly (a clean journal).
 * Returns a malloc'd array of *n frames.
 */
static inline t_frame *t_frames(const char *path, size_t *n)
{
	size_t len, cap = 64;
	uint8_t *buf = t_read_file(path, &len);
	t_frame *f = malloc(cap * sizeof *f);
	uint64_t off = WF_SEG_HEADER_SIZE;
	*n = 0;
	if (len < WF_SEG_HEADER_SIZE)
		t_fail(__FILE__, __LINE__, "%s: %zu bytes, no header", path, len);
	while (off < len) {
		const char *why = "";
		wf_frame_hdr h;
		int rc = wf_frame_parse(buf + off, len - off, &h, &why);
		if (rc != 0)
			t_fail(__FILE__, __LINE__,
			       "%s: wf_frame_parse at %" PRIu64 " returned %d (%s)", path,
			       off, rc, why ? why : "");
		if (!wf_frame_is_marker(buf + off))
			t_fail(__FILE__, __LINE__, "%s: no marker at %" PRIu64, path, off);
		if (*n == cap)
			f = realloc(f, (cap *= 2) * sizeof *f);
		f[*n].off = off;
		f[*n].len = h.hdr_len + h.comp_len;
		f[*n].h = h;
		(*n)++;
		off += h.hdr_len + h.comp_len;
	}
	if (off != len)
		t_fail(__FILE__, __LINE__, "%s: frames end at %" PRIu64 ", file %zu",
		       path, off, len);
	free(buf);
	return f;
}

/* ---- damage reports ------------------------------------------------------ */

#define T_MAX_DAMAGE 64

typedef struct t_damage {
	int n;                        /* reports received (may exceed kept) */
	struct {
		char file[512];
		char what[256];
		uint64_t offset, length;
		int torn;
	} d[T_MAX_DAMAGE];
} t_damage;

static inline void t_on_damage(void *ud, const wf_damage *d)
{
	t_damage *td = ud;
	if (td->n < T_MAX_DAMAGE) {
		snprintf(td->d[td->n].file, sizeof td->d[0].file, "%s",
		         d->file ? d->file : "");
		snprintf(td->d[td->n].what, sizeof td->d[0].what, "%s",
		         d->what ? d->what : "");
		td->d[td->n].offset = d->offset;
		td->d[td->n].length = d->length;
		td->d[td->n].torn = d->torn;
	}
	td->n++;
}

/* Does path (as reported) name the file base (e.g. "000...1.wfj")? */
static inline int t_names_file(const char *path, const char *base)
{
	size_t lp = strlen(path), lb = strlen(base);
	return lp >= lb && strcmp(path + lp - lb, base) == 0 &&
	       (lp == lb || path[lp - lb - 1] == '/');
}

/* ---- opening ---------------------------------------------------------- */

static inline wf_journal *t_open_writer_at(const char *file, int line,
                                           const char *dir,
                                           const wf_journal_opts *o)
{
	wf_journal *j = NULL;
	int rc = wf_journal_open(&j, dir, o);
	if (rc != 0)
		t_fail(file, line, "wf_journal_open(%s): %d (%s): %s", dir, rc,
		       wf_strerror(rc), j ? wf_journal_errmsg(j) : "(no handle)");
	CHECK(j != NULL);
	return j;
}
#define t_open_writer(dir, o) t_open_writer_at(__FILE__, __LINE__, dir, o)

static inline wf_reader *t_open_reader_at(const char *file, int line,
                                          const char *dir,
                                          const wf_reader_opts *o)
{
	wf_reader *r = NULL;
	int rc = wf_reader_open(&r, dir, o);
	if (rc != 0)
		t_fail(file, line, "wf_reader_open(%s): %d (%s): %s", dir, rc,
		       wf_strerror(rc), r ? wf_reader_errmsg(r) : "(no handle)");
	CHECK(r != NULL);
	return r;
}
#define t_open_reader(dir, o) t_open_reader_at(__FILE__, __LINE__, dir, o)

/*
 * Read a journal to its end or first error. Opens the reader (a failed
 * open counts as the error), calls fn (if any) on every event, and returns
 * the final code (0 = clean end) with the count of events and the message
 * of the failure (the handle's errmsg) in msg.
 */
typedef void (*t_event_fn)(void *ud, const wf_event *ev);

static inline int t_read_all(const char *dir, const wf_reader_opts *o,
                             t_event_fn fn, void *ud, uint64_t *count,
                             char *msg, size_t msglen)
{
	wf_reader *r = NULL;
	const wf_event *ev;
	int rc = wf_reader_open(&r, dir, o);
	*count = 0;
	if (msg && msglen)
		msg[0] = 0;
	if (rc == 0) {
		while ((rc = wf_reader_next(r, &ev)) == 1) {
			if (fn)
				fn(ud, ev);
			(*count)++;
		}
	}
	if (rc < 0 && msg && r)
		snprintf(msg, msglen, "%s", wf_reader_errmsg(r));
	wf_reader_close(r);
	return rc;
}

/* Compare a field with an expected one. Returns 1 if equal. */
static inline int t_field_eq(const wf_field *a, const wf_field *b)
{
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case WF_FIELD_UINT:
		return a->v.u == b->v.u;
	case WF_FIELD_INT:
		return a->v.i == b->v.i;
	default:
		return a->v.s.len == b->v.s.len &&
		       (a->v.s.len == 0 ||
		        memcmp(a->v.s.ptr, b->v.s.ptr, a->v.s.len) == 0);
	}
}

/* Check that got equals want (type, time, fields; seq only if want->seq). */
#define CHECK_EVENT(got, want) t_check_event(__FILE__, __LINE__, got, want)
static inline void t_check_event(const char *file, int line,
                                 const wf_event *got, const wf_event *want)
{
	if (want->seq && got->seq != want->seq)
		t_fail(file, line, "event seq %" PRIu64 ", expected %" PRIu64,
		       got->seq, want->seq);
	if (got->type != want->type)
		t_fail(file, line, "event %" PRIu64 ": type %u, expected %u",
		       got->seq, got->type, want->type);
	if (got->time_ns != want->time_ns)
		t_fail(file, line,
		       "event %" PRIu64 ": time_ns %" PRId64 ", expected %" PRId64,
		       got->seq, got->time_ns, want->time_ns);
	if (got->opaque)
		t_fail(file, line, "event %" PRIu64 ": opaque=%u", got->seq,
		       got->opaque);
	if (got->nfields != want->nfields)
		t_fail(file, line, "event %" PRIu64 ": %u fields, expected %u",
		       got->seq, got->nfields, want->nfields);
	for (uint32_t i = 0; i < want->nfields; i++)
		if (!t_field_eq(&got->fields[i], &want->fields[i]))
			t_fail(file, line,
			       "event %" PRIu64 ": field %u differs (kind %u vs %u)",
			       got->seq, i, got->fields[i].kind, want->fields[i].kind);
}

static inline void t_opts_default(wf_journal_opts *o)
{
	wf_journal_opts d = WF_JOURNAL_OPTS_INIT;
	*o = d;
}

static inline void t_ropts_default(wf_reader_opts *o)
{
	wf_reader_opts d = WF_READER_OPTS_INIT;
	*o = d;
}

#endif
