/*
 * Fuzz target for everything that decodes journal bytes: segment headers,
 * frame headers, checksums, zstd payloads, events, the reader's state
 * machine in its three recovery modes, and the writer's tail recovery.
 *
 * The input is the content of one segment file, served from memory
 * through the journal's I/O seam (no disk I/O, so it runs fast). The file
 * is named after the first sequence number in its header, so the fuzzer
 * gets past the name check and into the frames.
 *
 * Invariants checked (a failure aborts, which the fuzzer reports):
 *  - no crash, no sanitizer report, no leak;
 *  - if a writer opens the input, the journal it leaves is whole: after
 *    appending one event, an absolute-mode reader reads to the end without
 *    error and the last event it returns is the one appended.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal/format.h"
#include "journal/frame.h"
#include "journal/journal.h"
#include "journal/varint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXF 4

typedef struct mfile {
	char name[64];
	uint8_t *data;
	size_t len, cap;
	int used;
} mfile;

typedef struct memfs {
	mfile f[MAXF];
} memfs;

static mfile *by_path(memfs *m, const char *path, int create)
{
	const char *name = strrchr(path, '/');
	name = name ? name + 1 : path;
	for (int i = 0; i < MAXF; i++)
		if (m->f[i].used && strcmp(m->f[i].name, name) == 0)
			return &m->f[i];
	if (!create)
		return NULL;
	for (int i = 0; i < MAXF; i++)
		if (!m->f[i].used) {
			memset(&m->f[i], 0, sizeof m->f[i]);
			m->f[i].used = 1;
			snprintf(m->f[i].name, sizeof m->f[i].name, "%s", name);
			return &m->f[i];
		}
	return NULL;
}

static int m_open(void *ctx, const char *path, int flags)
{
	memfs *m = ctx;
	if (flags & WF_IO_DIR)
		return 100;
	mfile *f = by_path(m, path, flags & WF_IO_CREATE);
	return f ? (int)(f - m->f) : -ENOENT;
}

static int m_close(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
	return 0;
}

static ssize_t m_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off)
{
	mfile *f = &((memfs *)ctx)->f[fd];
	if (off >= f->len)
		return 0;
	size_t k = f->len - (size_t)off < n ? f->len - (size_t)off : n;
	memcpy(buf, f->data + off, k);
	return (ssize_t)k;
}

static int m_grow(mfile *f, size_t len)
{
	if (len > f->cap) {
		size_t cap = len * 2;
		uint8_t *p = realloc(f->data, cap);
		if (!p)
			return -ENOMEM;
		f->data = p;
		f->cap = cap;
	}
	if (len > f->len)
		memset(f->data + f->len, 0, len - f->len);
	return 0;
}

static ssize_t m_pwrite(void *ctx, int fd, const void *buf, size_t n,
                        uint64_t off)
{
	mfile *f = &((memfs *)ctx)->f[fd];
	if (m_grow(f, (size_t)off + n) < 0)
		return -ENOSPC;
	memcpy(f->data + off, buf, n);
	if (off + n > f->len)
		f->len = (size_t)off + n;
	return (ssize_t)n;
}

static int m_sync(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
	return 0;
}

static int m_ftruncate(void *ctx, int fd, uint64_t len)
{
	mfile *f = &((memfs *)ctx)->f[fd];
	if (m_grow(f, (size_t)len) < 0)
		return -ENOSPC;
	f->len = (size_t)len;
	return 0;
}

static int m_fsize(void *ctx, int fd, uint64_t *size)
{
	*size = ((memfs *)ctx)->f[fd].len;
	return 0;
}

static int m_rename(void *ctx, const char *from, const char *to)
{
	memfs *m = ctx;
	mfile *f = by_path(m, from, 0);
	if (!f)
		return -ENOENT;
	mfile *old = by_path(m, to, 0);
	if (old) {
		free(old->data);
		old->used = 0;
	}
	const char *name = strrchr(to, '/');
	snprintf(f->name, sizeof f->name, "%s", name ? name + 1 : to);
	return 0;
}

static int m_unlink(void *ctx, const char *path)
{
	mfile *f = by_path(ctx, path, 0);
	if (!f)
		return -ENOENT;
	free(f->data);
	f->used = 0;
	return 0;
}

static int m_mkdir(void *ctx, const char *path)
{
	(void)ctx;
	(void)path;
	return -EEXIST;
}

static int m_lock(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
	return 0;
}

static int m_list(void *ctx, const char *dir, wf_io_list_fn fn, void *ud)
{
	memfs *m = ctx;
	(void)dir;
	for (int i = 0; i < MAXF; i++)
		if (m->f[i].used && fn(ud, m->f[i].name))
			break;
	return 0;
}

static int m_random(void *ctx, void *buf, size_t n)
{
	(void)ctx;
	memset(buf, 0x5a, n);
	return 0;
}

static void memfs_free(memfs *m)
{
	for (int i = 0; i < MAXF; i++)
		if (m->f[i].used)
			free(m->f[i].data);
}

static void memfs_load(memfs *m, const uint8_t *data, size_t size)
{
	memset(m, 0, sizeof *m);
	uint64_t seq = size >= 48 ? wf_get_u64(data + 40) : 1;
	char name[64];
	snprintf(name, sizeof name, "%020llu.wfj", (unsigned long long)seq);
	mfile *f = by_path(m, name, 1);
	if (size && m_grow(f, size) == 0) {
		memcpy(f->data, data, size);
		f->len = size;
	}
}

static wf_io mem_io(memfs *m)
{
	wf_io io = {m,         m_open,   m_close,    m_pread,  m_pwrite,
	            m_sync,    m_sync,   m_ftruncate, m_fsize, m_rename,
	            m_unlink,  m_mkdir,  m_lock,     m_list,   m_random};
	return io;
}

static void read_all(const wf_io *io, wf_recovery mode, int verify_json)
{
	wf_reader_opts o = WF_READER_OPTS_INIT;
	o.io = io;
	o.recovery = mode;
	o.verify_json = verify_json;
	wf_reader *r;
	if (wf_reader_open(&r, "/mem", &o) == 0) {
		const wf_event *ev;
		int n = 0;
		while (wf_reader_next(r, &ev) == 1 && n++ < 100000)
			;
	}
	wf_reader_close(r);
}

static void writer_roundtrip(const wf_io *io)
{
	wf_journal_opts o = WF_JOURNAL_OPTS_INIT;
	o.io = io;
	o.durability = WF_DURABILITY_NONE;
	wf_journal *j;
	if (wf_journal_open(&j, "/mem", &o) != 0) {
		wf_journal_close(j);
		return;
	}
	wf_batch *b;
	if (wf_batch_new(&b) != 0)
		abort();
	wf_event ev = {0};
	ev.type = 0x1234;
	ev.time_ns = 42;
	ev.nfields = 1;
	ev.fields[0] = wf_field_text("fuzz-marker", 11);
	uint64_t seq = 0;
	if (wf_batch_add(b, &ev) != 0 || wf_journal_commit(j, b, &seq) != 0)
		abort();
	wf_batch_free(b);
	wf_journal_close(j);

	wf_reader_opts ro = WF_READER_OPTS_INIT;
	ro.io = io;
	ro.recovery = WF_RECOVER_ABSOLUTE;
	wf_reader *r;
	if (wf_reader_open(&r, "/mem", &ro) != 0)
		abort();
	const wf_event *e;
	uint64_t last = 0;
	uint16_t last_type = 0;
	int rc;
	while ((rc = wf_reader_next(r, &e)) == 1) {
		last = e->seq;
		last_type = e->type;
	}
	/* An event of a type that may not be ignored, with a field kind this
	 * version does not know, is a legitimate stop (WF_EINCOMPAT). */
	if (rc != 0 && rc != WF_EINCOMPAT) {
		fprintf(stderr, "writer left a journal that does not read: %s\n",
		        wf_reader_errmsg(r));
		abort();
	}
	if (rc == 0 && (last != seq || last_type != 0x1234)) {
		fprintf(stderr, "appended event not last: seq %llu vs %llu\n",
		        (unsigned long long)last, (unsigned long long)seq);
		abort();
	}
	wf_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	/* The pure decoders, straight on the input. */
	wf_frame_hdr h;
	const char *why;
	wf_frame_parse(data, size, &h, &why);
	wf_event ev;
	size_t used;
	int64_t t = 0;
	for (size_t off = 0; off < size;) {
		if (wf_event_decode(data + off, size - off, &t, &ev, &used,
		                    &why) != 0 || used == 0)
			break;
		off += used;
	}

	memfs m;
	memfs_load(&m, data, size);
	wf_io io = mem_io(&m);
	read_all(&io, WF_RECOVER_TOLERATE_TAIL, 1);
	read_all(&io, WF_RECOVER_ABSOLUTE, 0);
	read_all(&io, WF_RECOVER_SALVAGE, 1);
	writer_roundtrip(&io);
	memfs_free(&m);
	return 0;
}
