/*
 * fuzz_seeds OUT JOURNAL...: the seed corpora of the fuzz targets, cut
 * from real journals (e.g. those of `wflow demo` and `wflow-bench gen`),
 * so that the fuzzers start from what the library writes:
 *
 *   OUT/frame/     segment bodies, whole and cut after 1, 4, 16 KB
 *   OUT/event/     each workflow's events (with the session before them),
 *                  and a journal's first events, as fuzz_event reads them
 *   OUT/snapshot/  the fold of each of those, as fuzz_snapshot's
 *                  modes read it (payload, payload to wrap, whole file,
 *                  whole file loaded lazily)
 *   OUT/cli/       argument lists for fuzz_cli
 *
 * A seed is named after a hash of its bytes (running it again adds
 * nothing new). Not a fuzz target; built so that it does not rot.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "journal/format.h"
#include "journal/frame.h"
#include "journal/journal.h"
#include "replay/events.h"
#include "replay/fold.h"
#include "replay/snapshot.h"

/* Seeds larger than this are not written (libFuzzer's -max_len). */
#define MAX_SEED (64u << 10)
/* Workflows taken from one journal. */
#define MAX_GROUPS 24

static const char *out_dir;
static int written;

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "fuzz_seeds: %s %s\n", what, arg ? arg : "");
	exit(1);
}

static void put(const char *kind, const void *p, size_t n)
{
	if (n > MAX_SEED)
		return;
	char dir[4096], path[4200];
	snprintf(dir, sizeof dir, "%s/%s", out_dir, kind);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die("cannot create", dir);
	snprintf(path, sizeof path, "%s/seed-%016" PRIx64, dir,
	         (uint64_t)XXH3_64bits(p, n));
	FILE *f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		die("cannot write", path);
	written++;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("cannot open", path);
	size_t cap = 1 << 16, n = 0, r;
	uint8_t *p = malloc(cap);
	while (p && (r = fread(p + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap && !(p = realloc(p, cap *= 2)))
			break;
	}
	fclose(f);
	if (!p)
		die("out of memory reading", path);
	*len = n;
	return p;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- frames: segment bodies, cut where a zstd stream starts ---- */

static void frame_seeds(const char *jdir)
{
	DIR *d = opendir(jdir);
	if (!d)
		die("cannot list", jdir);
	char *names[4096];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 4096) {
		size_t l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".wfj") == 0)
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		char path[4200];
		size_t len;
		snprintf(path, sizeof path, "%s/%s", jdir, names[i]);
		uint8_t *b = slurp(path, &len);
		/* Prefixes of the body, all starting at its first frame (which
		 * starts a zstd stream): up to about 1, 4, 16 and 60 KB. */
		static const size_t cuts[] = {1024, 4096, 16384, 61440};
		size_t off = WF_SEG_HEADER_SIZE, k = 0;
		while (off < len && k < 4) {
			wf_frame_hdr h;
			const char *why;
			if (wf_frame_parse(b + off, len - off, &h, &why) != 0 ||
			    h.comp_len > len - off - h.hdr_len)
				break;
			size_t next = off + h.hdr_len + (size_t)h.comp_len;
			if (next - WF_SEG_HEADER_SIZE > cuts[k] && off > 64) {
				put("frame", b + WF_SEG_HEADER_SIZE,
				    off - WF_SEG_HEADER_SIZE);
				k++;
			}
			off = next;
		}
		if (k < 4 && off > WF_SEG_HEADER_SIZE)
			put("frame", b + WF_SEG_HEADER_SIZE, off - WF_SEG_HEADER_SIZE);
		free(b);
		free(names[i]);
	}
}

/* ---- events: per workflow, re-encoded as in a payload ---- */

typedef struct group {
	char id[256];
	uint8_t *buf;
	size_t len, cap;
	int64_t t;
	int nev;
} group;

static int workflow_event(const wf_event *ev)
{
	return ev->type != WF_EV_SESSION_STARTED && ev->type != WF_EV_NOTICE &&
	       ev->nfields && ev->fields[0].kind == WF_FIELD_TEXT;
}

static void add(group *g, const wf_event *ev)
{
	if (g->len > MAX_SEED)
		return;
	if (!g->buf) {
		uint8_t opts = 1; /* freeze finished workflows, as the engine */
		g->cap = 4096;
		if (!(g->buf = malloc(g->cap)))
			die("out of memory", NULL);
		g->buf[0] = opts;
		g->len = 1;
	}
	if (wf_event_encode(&g->buf, &g->len, &g->cap, ev, &g->t) != 0)
		die("cannot encode an event", g->id);
	g->nev++;
}

/* The fold of a group's events, as fuzz_snapshot's four modes. */
static void snapshot_seeds(const group *g)
{
	wf_fold *f;
	if (wf_fold_new(&f) != 0)
		die("out of memory", NULL);
	size_t off = 1;
	int64_t t = 0;
	uint64_t seq = 0;
	while (off < g->len) {
		wf_event ev;
		size_t used;
		const char *why;
		char err[600];
		if (wf_event_decode(g->buf + off, g->len - off, &t, &ev, &used,
		                    &why) != 0)
			die("cannot decode a seed's event", why);
		ev.seq = ++seq;
		if (wf_fold_apply(f, &ev, err, sizeof err) != 0)
			break; /* (a cut history: fold what applies) */
		off += used;
	}
	uint8_t *p;
	size_t len;
	if (wf_fold_save(f, &p, &len) != 0)
		die("out of memory", NULL);
	uint8_t *m = malloc(len + 1);
	if (!m)
		die("out of memory", NULL);
	memcpy(m + 1, p, len);
	for (uint8_t mode = 0; mode < 2; mode++) {
		m[0] = mode;
		put("snapshot", m, len + 1);
	}
	/* Modes 2 and 3: the file wf_snapshot_write makes. */
	char dir[4200], err[600];
	snprintf(dir, sizeof dir, "%s/.snap-tmp", out_dir);
	uint64_t id = 0x6a6f75726e616cull;
	if (wf_snapshot_write(NULL, dir, id, f, NULL, err, sizeof err) != 0)
		die("cannot write a snapshot:", err);
	char path[4400];
	snprintf(path, sizeof path, "%s/%020" PRIu64 ".wfs", dir,
	         wf_fold_last_seq(f));
	size_t flen;
	uint8_t *file = slurp(path, &flen);
	uint8_t *w = malloc(flen + 1);
	if (!w)
		die("out of memory", NULL);
	memcpy(w + 1, file, flen);
	/* 2, 3, and 3 with bit 2: loaded lazily. */
	static const uint8_t file_modes[] = {2, 3, 7};
	for (size_t k = 0; k < sizeof file_modes; k++) {
		w[0] = file_modes[k];
		put("snapshot", w, flen + 1);
	}
	remove(path);
	remove(dir);
	free(w);
	free(file);
	free(m);
	free(p);
	wf_fold_free(f);
}

static void event_seeds(const char *jdir)
{
	wf_reader *r;
	if (wf_reader_open(&r, jdir, NULL) != 0)
		die("cannot read", jdir);
	static group groups[MAX_GROUPS];
	group head = {"(journal)", NULL, 0, 0, 0, 0};
	size_t ng = 0;
	wf_event session;
	char session_text[256];
	int have_session = 0;
	const wf_event *ev;
	int rc;
	while ((rc = wf_reader_next(r, &ev)) == 1) {
		if (head.nev < 200)
			add(&head, ev);
		if (ev->type == WF_EV_SESSION_STARTED &&
		    wf_event_text(ev, 0, session_text, sizeof session_text) == 0) {
			session = *ev;
			session.nfields = 1;
			session.fields[0] = wf_field_text(session_text,
			                                  strlen(session_text));
			have_session = 1;
		}
		if (!workflow_event(ev))
			continue;
		char id[256];
		if (wf_event_text(ev, 0, id, sizeof id) != 0)
			continue;
		group *g = NULL;
		for (size_t i = 0; i < ng && !g; i++)
			if (strcmp(groups[i].id, id) == 0)
				g = &groups[i];
		if (!g && ng < MAX_GROUPS && (ev->type == WF_EV_WORKFLOW_CREATED ||
		                              ev->type == WF_EV_ACTOR_CREATED)) {
			g = &groups[ng++];
			memset(g, 0, sizeof *g);
			snprintf(g->id, sizeof g->id, "%s", id);
			if (have_session)
				add(g, &session);
		}
		if (g)
			add(g, ev);
	}
	if (rc < 0)
		die("journal does not read:", wf_reader_errmsg(r));
	wf_reader_close(r);
	put("event", head.buf, head.len);
	snapshot_seeds(&head);
	free(head.buf);
	for (size_t i = 0; i < ng; i++) {
		put("event", groups[i].buf, groups[i].len);
		snapshot_seeds(&groups[i]);
		/* The same events, folding only this workflow. */
		groups[i].buf[0] = 3;
		put("event", groups[i].buf, groups[i].len);
		free(groups[i].buf);
	}
}

/* ---- cli: argument lists ---- */

static void cli_seed(unsigned allow, int min_pos, int npos_extra,
                     const char *const *args)
{
	uint8_t buf[1024];
	size_t n = 2;
	buf[0] = (uint8_t)allow;
	buf[1] = (uint8_t)(((allow >> 8) & 3) | (unsigned)min_pos << 2 |
	                   (unsigned)npos_extra << 4);
	for (; *args; args++) {
		size_t l = strlen(*args);
		if (n + l + 1 > sizeof buf)
			break;
		memcpy(buf + n, *args, l + 1);
		n += l + 1;
	}
	put("cli", buf, n - 1); /* no NUL after the last argument */
}

static void cli_seeds(void)
{
	/* OPT_*: JSON 1, SINCE 2, STATUS 4, UNTIL 8, AT 16, WORKFLOW 32,
	 * STEP 64, TYPE 128, FOLLOW 256, OUT 512. */
	cli_seed(1 | 4, 1, 0,
	         (const char *[]){"dir", "--status", "FAILED,running", "--json",
	                          NULL});
	cli_seed(2 | 8 | 32 | 64 | 128 | 256, 1, 0,
	         (const char *[]){"dir", "--since", "2026-11-27T14:02:00Z",
	                          "--until=@1795807896.5", "--workflow",
	                          "order/42", "--step=charge_card", "--type",
	                          "step_started,notice", "-f", NULL});
	cli_seed(16, 2, 1,
	         (const char *[]){"dir", "vid", "add_1", "--at",
	                          "2026-11-27T14:02:00.123456+05:30", NULL});
	cli_seed(16, 2, 1,
	         (const char *[]){"dir", "wf", "--at", "12345", "--", "--json",
	                          NULL});
	cli_seed(2 | 8, 1, 0,
	         (const char *[]){"dir", "--since", "1795807896.25", "--until",
	                          "2026-02-28 23:59:60-0800", NULL});
	cli_seed(512 | 1, 1, 3,
	         (const char *[]){"dir", "a", "b", "-o", "out.json", "--output",
	                          "x.html", "--help", NULL});
	cli_seed(0, 1, 0, (const char *[]){"--bogus", "dir", "extra", NULL});
	cli_seed(2, 1, 0,
	         (const char *[]){"d", "--since", "caf\xc3\xa9\x01\"\\", NULL});
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: fuzz_seeds OUT [JOURNAL_DIR...]\n");
		return 2;
	}
	out_dir = argv[1];
	if (mkdir(out_dir, 0755) < 0 && errno != EEXIST)
		die("cannot create", out_dir);
	for (int i = 2; i < argc; i++) {
		char jdir[4096];
		struct stat st;
		snprintf(jdir, sizeof jdir, "%s/journal", argv[i]);
		if (stat(jdir, &st) != 0 || !S_ISDIR(st.st_mode))
			snprintf(jdir, sizeof jdir, "%s", argv[i]);
		frame_seeds(jdir);
		event_seeds(jdir);
	}
	cli_seeds();
	printf("fuzz_seeds: %d seeds written to %s\n", written, out_dir);
	return 0;
}
