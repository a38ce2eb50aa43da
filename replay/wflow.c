/*
 * wflow: the command-line tool for a journal directory.
 *
 *   wflow verify DIR [--json]          check every segment, frame and event,
 *                                      and their logic (replay/logic.c)
 *   wflow dump DIR [filters]           events as JSON lines (--follow)
 *   wflow meta DIR ID [STEP] [--at T]  get_metadata, offline, now or then
 *   wflow ls DIR [--status S] [--json] the workflows, one a line
 *   wflow history DIR ID               replay/cmd_history.c
 *   wflow stats DIR                    replay/cmd_stats.c
 *   wflow trace DIR [ID...] -o FILE    replay/cmd_trace.c
 *   wflow report DIR -o FILE.html      replay/cmd_report.c
 *   wflow demo DIR                     the seed's examples, run by the engine
 *
 * How this works: verify and dump are a loop over wf_reader_next. verify
 * opens the reader in salvage mode with JSON checking, so that it goes on
 * past damage and names every damaged range (the reader's on_damage
 * callback collects them); the reader does the checks (checksums, chain,
 * sequence numbers, decoding), verify only counts and reports. dump opens
 * it in the ordinary tolerate-tail mode, as the engine would, formats each
 * event with wf_dump_format (replay/dumpfmt.c, shared with wflow-bench) and
 * writes in large blocks.
 *
 * meta and ls replay the journal into the fold (wf_fold_load_dir), the
 * same function from events to state that the live engine answers from,
 * so `wflow meta` prints what wf_get_metadata would have returned at the
 * end of the journal, and ls what wf_list_all would (with times and
 * counts). They take no lock: they work while an engine runs.
 *
 * demo (replay/demo.c) is the one command that writes: it opens an engine
 * on DIR and runs the seed document's examples through the public API.
 *
 * DIR is a journal directory (holding *.wfj segments) or an engine
 * directory with the journal in DIR/journal.
 *
 * Exit codes: 0 done / intact (a torn tail is a warning), 1 the journal is
 * damaged or missing from DIR, or the workflow or step does not exist
 * (meta), or a demo check failed; 2 usage error or unreadable directory.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal/journal.h"
#include "journal/segment.h"
#include "replay/cli.h"
#include "replay/demo.h"
#include "replay/dumpfmt.h"
#include "replay/events.h"
#include "replay/fold.h"
#include "replay/logic.h"
#include "replay/parts.h"
#include "replay/snapshot.h"
#include "wflow.h"


static const char usage_main[] =
	"usage: wflow <command> [options]\n"
	"\n"
	"Tool for a wflow journal. DIR is a journal directory (holding\n"
	"*.wfj segments) or an engine directory with its journal in\n"
	"DIR/journal. Every command but demo only reads, without a lock.\n"
	"\n"
	"commands:\n"
	"  verify DIR [--json]          check every segment, frame and event,\n"
	"                               and what the fold needs of them\n"
	"  dump DIR [filters]           print events as JSON lines (--follow)\n"
	"  meta DIR ID [STEP] [--at T]  a workflow's or step's metadata, now\n"
	"                               or as it was at T\n"
	"  ls DIR [--status S]          list the workflows and actors\n"
	"  history DIR ID [--json]      every attempt, status change and step\n"
	"                               try of a workflow, with their causes\n"
	"  stats DIR [--json]           events, bytes, statuses, slowest steps\n"
	"  trace DIR [ID...] -o FILE    Chrome Trace Event JSON for Perfetto\n"
	"  report DIR -o FILE.html      one self-contained HTML page: list,\n"
	"                               Gantt charts, stats\n"
	"  demo DIR                     run the seed's examples into DIR\n"
	"  help [COMMAND]               show help\n"
	"\n"
	"options:\n"
	"  --version               print the version\n"
	"  -h, --help              show this help\n"
	"\n"
	"exit codes: 0 done or intact, 1 journal damaged or not found in DIR\n"
	"(meta: no such workflow or step; demo: a check failed), 2 usage\n"
	"error or unreadable directory.\n";

static const char usage_verify[] =
	"usage: wflow verify DIR [--json]\n"
	"\n"
	"Read the whole journal and check every segment header, every frame\n"
	"(checksum, chain, sequence numbers, decompression) and every event\n"
	"(decoding, JSON fields parse). Damage does not stop it: each\n"
	"damaged range is reported with its file and byte offset, and the\n"
	"check goes on with the next intact frame.\n"
	"\n"
	"Prints a summary (segments, frames, events, sequence numbers, raw\n"
	"and on-disk bytes, compression ratio); damaged ranges and warnings\n"
	"go to stderr.\n"
	"\n"
	"A journal that starts after event 1 had its oldest segments deleted\n"
	"(the engine's wf_config.retention_s): that is fine if a snapshot\n"
	"beside it (DIR/snapshots) holds the state they built (\"retired\"),\n"
	"and damage if none does.\n"
	"\n"
	"  --json      print the report as one JSON object on stdout: ok,\n"
	"              segments, frames, events, first_seq, last_seq,\n"
	"              bytes_raw, bytes_disk, retired_upto,\n"
	"              retired_snapshot_seq, damage [{file, offset, length,\n"
	"              torn, what}]\n"
	"  -h, --help  show this help\n"
	"\n"
	"exit codes: 0 intact (an incomplete last frame, the torn tail a\n"
	"crash leaves, is only a warning), 1 damage found or no journal in\n"
	"DIR, 2 usage error or unreadable directory.\n";

static const char usage_dump[] =
	"usage: wflow dump DIR [--workflow ID] [--step NAME] [--type T[,T...]]\n"
	"                      [--since SEQ|TIME] [--until SEQ|TIME] [--follow]\n"
	"\n"
	"Print every event as one JSON object per line, for jq:\n"
	"  {\"seq\":1,\"time\":\"2026-11-27T17:25:05.123456789Z\","
	"\"type\":\"step_started\",\n"
	"   \"fields\":{\"workflow_id\":\"order/000123\",...},"
	"\"payloads\":{...}}\n"
	"Text and number fields are in \"fields\", JSON fields in\n"
	"\"payloads\", both by their names in the event schema (f0, f1, ...\n"
	"when unknown).\n"
	"An event type this version does not know is printed by number.\n"
	"\n"
	"  --workflow ID     only the events of workflow (or actor) ID\n"
	"  --step NAME       only the events of step NAME: a step id (add_1)\n"
	"                    or a name (add: add, add_1, add_2, ...)\n"
	"  --type T[,T...]   only events of these types (step_failed, ...)\n"
	"  --since SEQ|TIME  from the first event at or after SEQ or TIME\n"
	"  --until SEQ|TIME  up to the last event at or before SEQ or TIME\n"
	"  -f, --follow      at the end, wait for the events a writer appends\n"
	"                    and print them as they come (Ctrl-C ends)\n"
	"  -h, --help        show this help\n"
	"SEQ is a sequence number; TIME is ISO 8601 (2026-11-27T14:02:00Z,\n"
	"UTC unless a zone is given) or epoch seconds (@1795807896.5).\n"
	"\n"
	"exit codes: 0 done (a torn tail is a warning), 1 damage found (the\n"
	"events before it are printed) or no journal in DIR, 2 usage error or\n"
	"unreadable directory.\n";

static const char usage_meta[] =
	"usage: wflow meta DIR ID [STEP] [--at SEQ|TIME]\n"
	"\n"
	"Print, as pretty JSON, the metadata of workflow ID (or of its step\n"
	"STEP, a step id such as \"add\" or \"add_1\"): exactly what\n"
	"wf_get_metadata(e, ID, STEP) would return, computed offline by\n"
	"replaying the journal through the engine's own fold. Workflow\n"
	"level: status, user_metadata, stats {start_time, end_time},\n"
	"workflow_id, attempts, duration; step level: name, step_id,\n"
	"step_options, user_metadata, stats, attempts, duration. Times are\n"
	"seconds since the epoch. A workflow that was RUNNING when its\n"
	"engine died shows RESUMABLE. Takes no lock: works while an engine\n"
	"runs (it then shows the journal as of the last complete commit).\n"
	"Starts from the engine's newest snapshot if there is one (DIR/\n"
	"snapshots); reads a long journal (32 MiB or more) in parts at\n"
	"once, one per core, keeping only the events of ID.\n"
	"\n"
	"  --at SEQ|TIME  the metadata as it was then: the journal folded up\n"
	"                 to event SEQ, or to the last event at or before TIME\n"
	"                 (ISO 8601, 2026-11-27T14:02:00Z, or epoch seconds,\n"
	"                 @1795807896); RUNNING is shown as the engine that was\n"
	"                 live then would have (the last session started).\n"
	"                 From a snapshot that ends by then (TIME: whose\n"
	"                 events are all from before it), if any; in parts\n"
	"                 as above\n"
	"  -h, --help     show this help\n"
	"\n"
	"exit codes: 0 printed, 1 no such workflow or step (\"No such\n"
	"workflow_id ID\"), or the journal is damaged or missing, 2 usage\n"
	"error or unreadable directory.\n";

static const char usage_ls[] =
	"usage: wflow ls DIR [--status S[,S...]] [--json]\n"
	"\n"
	"List the workflows in the journal, sorted by id, one a line:\n"
	"  ID  STATUS  START  END  DURATION S  STEPS  ATTEMPTS\n"
	"START and END are the times of the last attempt (ISO 8601, UTC;\n"
	"\"-\" while unknown: a running or cancelled workflow has no end).\n"
	"Computed offline by replaying the journal through the engine's own\n"
	"fold; takes no lock.\n"
	"\n"
	"  --status S  only workflows whose status is S: RUNNING, FAILED,\n"
	"              RESUMABLE, CANCELED or SUCCESSFUL (any case; a\n"
	"              comma-separated list, or the option repeated, for\n"
	"              several)\n"
	"  --json      print the fold's JSON array instead: [{workflow_id,\n"
	"              status, start_time, end_time, steps, attempts}, ...]\n"
	"  -h, --help  show this help\n"
	"\n"
	"exit codes: 0 listed (also when none match), 1 the journal is\n"
	"damaged or missing, 2 usage error (an unknown status name) or\n"
	"unreadable directory.\n";

static const char usage_demo[] =
	"usage: wflow demo DIR\n"
	"\n"
	"Run the examples of the seed document (Ray Workflows, \"Workflow\n"
	"Metadata\") through the public C API, with an engine on DIR\n"
	"(created if missing; durability always), and print for each one\n"
	"the Python it stands for, the C calls, what wf_get_metadata\n"
	"returns, and the seed's checks on it:\n"
	"  add_example    add.step(10, 20).run(): workflow metadata\n"
	"  add_example_2  .options(name=\"add_step\"): step metadata\n"
	"  add_example_3  workflow and step user metadata\n"
	"  note1_cancel   metadata while RUNNING, then CANCELED (Note 1)\n"
	"  note2_resume   FAILED, then resumed: stats updated (Note 2)\n"
	"Workflows with these ids that an earlier demo left in DIR are\n"
	"deleted first, so the demo can be run again on the same DIR. DIR\n"
	"must not be open in another engine.\n"
	"\n"
	"  -h, --help  show this help\n"
	"\n"
	"exit codes: 0 every check passed, 1 a check failed (they are\n"
	"listed), 2 usage error, or the engine could not be opened on DIR.\n";


/* ---- arguments ----------------------------------------------------------- */











/* ---- verify -------------------------------------------------------------- */

typedef struct damage {
	char *file;
	uint64_t offset, length;
	int torn;
	char *what;
} damage;

typedef struct damage_list {
	damage *v;
	size_t n, cap;
	int oom;
} damage_list;

static void collect_damage(void *ud, const wf_damage *d)
{
	damage_list *l = ud;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		damage *v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			l->oom = 1;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	damage *x = &l->v[l->n];
	x->file = strdup(d->file ? d->file : "?");
	x->what = strdup(d->what ? d->what : "damage");
	if (!x->file || !x->what) {
		free(x->file);
		free(x->what);
		l->oom = 1;
		return;
	}
	x->offset = d->offset;
	x->length = d->length;
	x->torn = d->torn;
	l->n++;
}

static void damage_free(damage_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].file);
		free(l->v[i].what);
	}
	free(l->v);
}




/* A journal that starts at event `start` > 1: the last event of the
 * newest usable snapshot beside it (the engine's <dir>/snapshots) if
 * that holds the state of the events before it, else 0. Checks what
 * folding one workflow from it checks (header, directory, first block). */
static uint64_t retired_cover(const char *jdir, uint64_t journal_id,
                              uint64_t start, uint64_t next_seq)
{
	char sdir[4200];
	snprintf(sdir, sizeof sdir, "%s/../snapshots", jdir);
	wf_fold *f;
	uint64_t seq = 0;
	if (wf_fold_new(&f) < 0)
		return 0;
	if (wf_fold_set_only(f, "") < 0 ||
	    wf_snapshot_load(NULL, sdir, journal_id, next_seq, &f, &seq, NULL,
	                     0) != 1)
		seq = 0;
	wf_fold_free(f);
	return seq + 1 >= start ? seq : 0;
}

typedef struct retired {
	uint64_t upto;  /* events 1..upto are not in the journal (0: none) */
	uint64_t cover; /* the snapshot that holds them ends here (0: none) */
} retired;

static void verify_text(const char *dir, const wf_journal_stats *st,
                        uint64_t unknown, const damage_list *dl,
                        const char *fatal, const wf_logic *lg,
                        const retired *rt)
{
	size_t ni;
	uint64_t lerr, lwarn;
	const wf_logic_issue *is = wf_logic_issues(lg, &ni, &lerr, &lwarn);
	char h1[32], h2[32];
	cli_human(h1, sizeof h1, st->bytes_raw);
	cli_human(h2, sizeof h2, st->bytes_disk);
	printf("journal     %s\n", dir);
	printf("segments    %" PRIu64 "\n", st->segments);
	printf("frames      %" PRIu64 "\n", st->frames);
	printf("events      %" PRIu64, st->events);
	if (st->events)
		printf(" (seq %" PRIu64 " .. %" PRIu64 ")", st->first_seq,
		       st->last_seq);
	printf("\n");
	if (rt->upto && rt->cover)
		printf("retired     events 1 .. %" PRIu64 " (segments deleted by "
		       "retention); the snapshot up to event %" PRIu64
		       " holds their state\n", rt->upto, rt->cover);
	if (unknown)
		printf("unknown     %" PRIu64 " events of types this version "
		       "does not name\n",
		       unknown);
	printf("bytes raw   %" PRIu64 " (%s, decompressed)\n", st->bytes_raw,
	       h1);
	printf("bytes disk  %" PRIu64 " (%s)\n", st->bytes_disk, h2);
	printf("ratio       %.2f\n", cli_ratio(st->bytes_raw, st->bytes_disk));
	printf("logical     %" PRIu64 " error%s, %" PRIu64 " warning%s\n", lerr,
	       lerr == 1 ? "" : "s", lwarn, lwarn == 1 ? "" : "s");
	for (size_t i = 0; i < ni; i++)
		fprintf(stderr, "wflow verify: %s%s: event seq %" PRIu64 ": %s\n",
		        is[i].warning ? "warning: " : "logical error: ", dir,
		        is[i].seq, is[i].what);
	if (lerr + lwarn > ni)
		fprintf(stderr, "wflow verify: (%" PRIu64 " more not shown)\n",
		        lerr + lwarn - ni);
	size_t bad = 0, torn = 0;
	for (size_t i = 0; i < dl->n; i++) {
		const damage *d = &dl->v[i];
		if (d->torn) {
			torn++;
			fprintf(stderr,
			        "wflow verify: warning: %s: offset %" PRIu64
			        ": %s (%" PRIu64
			        " bytes not read; expected after "
			        "a crash)\n",
			        d->file, d->offset, d->what, d->length);
		} else {
			bad++;
			fprintf(stderr,
			        "%s: offset %" PRIu64 ": %s (%" PRIu64
			        " bytes skipped)\n",
			        d->file, d->offset, d->what, d->length);
		}
	}
	if (fatal)
		fprintf(stderr, "wflow verify: %s\n", fatal);
	if (bad || fatal)
		printf("result      DAMAGED: %zu damaged range%s%s\n", bad,
		       bad == 1 ? "" : "s", fatal ? ", reading stopped" : "");
	else if (lerr)
		printf("result      LOGICAL ERRORS: intact frames, but events the "
		       "fold cannot trust\n");
	else if (torn)
		printf("result      intact, with a torn tail (warning)\n");
	else
		printf("result      intact\n");
	if (bad || fatal)
		fprintf(stderr, "wflow verify: %s: journal is damaged\n", dir);
	else if (lerr)
		fprintf(stderr, "wflow verify: %s: journal has logical errors\n",
		        dir);
}

static void verify_json(const char *dir, const wf_journal_stats *st,
                        uint64_t unknown, const damage_list *dl,
                        const char *fatal, int ok, const wf_logic *lg,
                        const retired *rt)
{
	size_t ni;
	uint64_t lerr, lwarn;
	const wf_logic_issue *is = wf_logic_issues(lg, &ni, &lerr, &lwarn);
	printf("{\"ok\":%s,\"dir\":", ok ? "true" : "false");
	cli_json_str(stdout, dir);
	printf(",\"segments\":%" PRIu64 ",\"frames\":%" PRIu64
	       ",\"events\":%" PRIu64 ",\"first_seq\":%" PRIu64
	       ",\"last_seq\":%" PRIu64 ",\"bytes_raw\":%" PRIu64
	       ",\"bytes_disk\":%" PRIu64 ",\"compression_ratio\":%.3f"
	       ",\"unknown_types\":%" PRIu64 ",\"torn\":%s",
	       st->segments, st->frames, st->events, st->first_seq,
	       st->last_seq, st->bytes_raw, st->bytes_disk,
	       cli_ratio(st->bytes_raw, st->bytes_disk), unknown,
	       st->torn ? "true" : "false");
	printf(",\"retired_upto\":%" PRIu64 ",\"retired_snapshot_seq\":%" PRIu64,
	       rt->upto, rt->cover);
	if (fatal) {
		printf(",\"error\":");
		cli_json_str(stdout, fatal);
	}
	printf(",\"damage\":[");
	for (size_t i = 0; i < dl->n; i++) {
		const damage *d = &dl->v[i];
		printf("%s{\"file\":", i ? "," : "");
		cli_json_str(stdout, d->file);
		printf(",\"offset\":%" PRIu64 ",\"length\":%" PRIu64
		       ",\"torn\":%s,\"what\":",
		       d->offset, d->length, d->torn ? "true" : "false");
		cli_json_str(stdout, d->what);
		printf("}");
	}
	printf("],\"logical_errors\":%" PRIu64 ",\"warnings\":%" PRIu64
	       ",\"issues\":[",
	       lerr, lwarn);
	for (size_t i = 0; i < ni; i++) {
		printf("%s{\"seq\":%" PRIu64 ",\"warning\":%s,\"what\":",
		       i ? "," : "", is[i].seq, is[i].warning ? "true" : "false");
		cli_json_str(stdout, is[i].what);
		printf("}");
	}
	printf("]}\n");
}

static int cmd_verify(int argc, char **argv)
{
	cli_args a;
	int rc = cli_parse_args(argc, argv, "verify", OPT_JSON, 1, 1, cli_dir_only, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(usage_verify, stdout);
		return EXIT_INTACT;
	}
	char *dir;
	if ((rc = cli_resolve_dir("verify", a.pos[0], &dir)) >= 0)
		return rc;

	damage_list dl = {0};
	wf_reader_opts o = WF_READER_OPTS_INIT;
	o.recovery = WF_RECOVER_SALVAGE;
	o.verify_json = 1;
	o.on_damage = collect_damage;
	o.damage_ud = &dl;
	cli_read_ahead(&o);
	wf_reader *r;
	rc = wf_reader_open(&r, dir, &o);
	if (rc < 0) {
		int code = cli_open_failed("verify", dir, rc, r);
		wf_reader_close(r);
		free(dir);
		return code;
	}

	const wf_event *ev;
	uint64_t unknown = 0;
	char fatal[600] = "";
	wf_logic *lg = NULL;
	if (wf_logic_new(&lg) < 0) {
		fprintf(stderr, "wflow verify: out of memory\n");
		wf_reader_close(r);
		damage_free(&dl);
		free(dir);
		return EXIT_USAGE;
	}
	retired rt = {0, 0};
	uint64_t start = wf_seg_first(wf_io_posix(), dir);
	if (start > 1)
		wf_logic_starts_late(lg);
	int lrc = 0;
	cli_progress *bar = cli_progress_start("verify", "reading", dir);
	while ((rc = wf_reader_next(r, &ev)) > 0) {
		if (!wf_event_schema_find(ev->type))
			unknown++;
		if (!lrc)
			lrc = wf_logic_event(lg, ev);
	}
	cli_progress_stop(bar);
	if (lrc < 0 && rc >= 0)
		snprintf(fatal, sizeof fatal,
		         "out of memory checking the events' logic");
	wf_logic_finish(lg);
	if (rc < 0)
		snprintf(fatal, sizeof fatal, "%s (%s)", wf_reader_errmsg(r),
		         wf_strerror(rc));
	if (dl.oom && !*fatal)
		snprintf(fatal, sizeof fatal,
		         "out of memory recording damaged ranges");

	wf_journal_stats st;
	wf_reader_stats(r, &st);
	if (start > 1) {
		/* Retired (wflow.h, wf_config.retention_s) if a snapshot
		 * holds what the missing events built; else events are
		 * missing, which is damage. */
		rt.upto = start - 1;
		rt.cover = retired_cover(dir, wf_reader_journal_id(r), start,
		                         st.last_seq + 1);
		if (!rt.cover) {
			char what[300];
			snprintf(what, sizeof what, "the journal starts at event %"
			         PRIu64 ": events 1..%" PRIu64 " are missing "
			         "(segments deleted or lost), and no usable "
			         "snapshot holds the state they built",
			         start, start - 1);
			wf_damage d = {.file = dir, .what = what};
			collect_damage(&dl, &d);
		}
	}
	int bad = 0;
	for (size_t i = 0; i < dl.n; i++)
		if (!dl.v[i].torn)
			bad = 1;

	int code;
	size_t ni;
	uint64_t lerr, lwarn;
	wf_logic_issues(lg, &ni, &lerr, &lwarn);
	if ((rc < 0 && rc != WF_ECORRUPT && rc != WF_EINCOMPAT && !bad) ||
	    lrc < 0)
		code = EXIT_USAGE; /* could not read: I/O error, memory */
	else if (rc < 0 || bad || dl.oom || lerr)
		code = EXIT_DAMAGED;
	else
		code = EXIT_INTACT;

	if (st.segments == 0 && !bad && rc >= 0) {
		cli_no_segments("verify", dir);
		code = EXIT_DAMAGED;
		if (a.json)
			verify_json(dir, &st, unknown, &dl,
			            "no journal here (no *.wfj segment files)",
			            0, lg, &rt);
	} else if (a.json) {
		verify_json(dir, &st, unknown, &dl, *fatal ? fatal : NULL,
		            code == EXIT_INTACT, lg, &rt);
	} else {
		verify_text(dir, &st, unknown, &dl, *fatal ? fatal : NULL, lg,
		            &rt);
	}
	wf_logic_free(lg);
	if (fflush(stdout) != 0 && code == EXIT_INTACT)
		code = EXIT_USAGE;
	wf_reader_close(r);
	damage_free(&dl);
	free(dir);
	return code;
}

/* ---- dump ---------------------------------------------------------------- */

/* Blocks written to stdout; large, for throughput with jq or wc. */
#define DUMP_FLUSH_AT (1u << 20)

/* Write all of buf to fd 1. @return 0, 1 = the reader went away (EPIPE:
 * `wflow dump | head`), -1 error (message printed). */
static int write_out(const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, buf, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				return 1;
			fprintf(stderr, "wflow dump: writing to stdout: %s\n",
			        strerror(errno));
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static void dump_damage(void *ud, const wf_damage *d)
{
	(void)ud;
	/* Corruption is reported when next() fails; only the torn tail,
	 * which ends the dump normally, is reported here. */
	if (d->torn)
		fprintf(stderr,
		        "wflow dump: warning: %s: offset %" PRIu64
		        ": %s (%" PRIu64
		        " bytes not read; expected after a crash)\n",
		        d->file, d->offset, d->what, d->length);
}

/* Open dir's reader for dump (at --since SEQ if given) into *r.
 * @return -1, or an exit code (message printed; nothing to close). */
static int dump_open(const char *dir, const cli_args *a, wf_reader **r)
{
	wf_reader_opts o = WF_READER_OPTS_INIT;
	o.on_damage = dump_damage;
	int rc = wf_reader_open(r, dir, &o);
	if (rc < 0) {
		int code = cli_open_failed("dump", dir, rc, *r);
		wf_reader_close(*r);
		return code;
	}
	if (a->since.set && !a->since.is_time &&
	    (rc = wf_reader_seek(*r, a->since.seq)) < 0) {
		fprintf(stderr, "wflow dump: %s: %s (%s)\n", dir,
		        wf_reader_errmsg(*r), wf_strerror(rc));
		wf_reader_close(*r);
		return rc == WF_ECORRUPT ? EXIT_DAMAGED : EXIT_USAGE;
	}
	return -1;
}

static int cmd_dump(int argc, char **argv)
{
	cli_args a;
	int rc = cli_parse_args(argc, argv, "dump",
	                        OPT_SINCE | OPT_UNTIL | OPT_WORKFLOW | OPT_STEP |
	                            OPT_TYPE | OPT_FOLLOW,
	                        1, 1, cli_dir_only, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(usage_dump, stdout);
		return EXIT_INTACT;
	}
	char *dir;
	if ((rc = cli_resolve_dir("dump", a.pos[0], &dir)) >= 0)
		return rc;

	wf_dump_filter flt = {a.workflow, a.step, a.types, a.ntypes,
	                      a.since.set && a.since.is_time, a.since.time_ns};
	wf_reader *r;
	int code = dump_open(dir, &a, &r);
	if (code >= 0) {
		free(dir);
		return code;
	}
	code = EXIT_INTACT;

	/* EPIPE from write() instead of death by SIGPIPE: `| head` is a
	 * normal way to end a dump. */
	signal(SIGPIPE, SIG_IGN);

	char *buf = NULL;
	size_t cap = 0, len = 0;
	const wf_event *ev;
	int out = 0, started = 0;
	/* One workflow's events out of a long journal: read in parts at
	 * once, one per core (parts.h), its lines written when all are
	 * there. Not with --until or --follow (one pass stops early or goes
	 * on), nor --since TIME (what is in depends on every event). */
	int done = 0;
	if (a.workflow && !a.until.set && !a.follow && !flt.since_time &&
	    wf_parts_cores() >= 2) {
		int used;
		int pr = wf_dump_parts(r, dir, a.since.set ? a.since.seq : 1,
		                       &flt, wf_parts_cores(), (uint64_t)32 << 20,
		                       dump_damage, NULL, &buf, &cap, &len, &used);
		if (pr == 0) {
			out = write_out(buf, len);
			len = 0;
			done = 1;
		} else if (pr == 2) { /* again, in one pass */
			wf_reader_close(r);
			if ((code = dump_open(dir, &a, &r)) >= 0) {
				free(buf);
				free(dir);
				return code;
			}
			code = EXIT_INTACT;
		}
	}
	rc = 0;
	while (!done) {
		while ((rc = wf_reader_next(r, &ev)) > 0) {
			if (cli_point_reached(&a.until, ev)) {
				rc = 0;
				a.follow = 0; /* past --until: done */
				break;
			}
			if (!wf_dump_wanted(&flt, ev, &started))
				continue;
			if (wf_dump_format(&buf, &cap, &len, ev) < 0) {
				rc = WF_ENOMEM;
				break;
			}
			if (len >= DUMP_FLUSH_AT) {
				if ((out = write_out(buf, len)) != 0)
					break;
				len = 0;
			}
		}
		if (out == 0 && len) {
			out = write_out(buf, len);
			len = 0;
		}
		if (rc != 0 || out != 0 || !a.follow)
			break;
		/* --follow: what a writer appends shows up in the next
		 * wf_reader_next; poll a few times a second. */
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (out < 0) {
		code = EXIT_USAGE;
	} else if (out == 0 && rc < 0) {
		if (rc == WF_ENOMEM)
			fprintf(stderr, "wflow dump: out of memory\n");
		else
			fprintf(stderr, "wflow dump: %s (%s)\n",
			        wf_reader_errmsg(r), wf_strerror(rc));
		code = rc == WF_ECORRUPT || rc == WF_EINCOMPAT ? EXIT_DAMAGED
		                                               : EXIT_USAGE;
	} else if (out == 0) {
		wf_journal_stats st;
		wf_reader_stats(r, &st);
		if (st.segments == 0) {
			cli_no_segments("dump", dir);
			code = EXIT_DAMAGED;
		}
	}
	free(buf);
	wf_reader_close(r);
	free(dir);
	return code;
}

/* ---- meta, ls: the fold, offline ----------------------------------------- */





static const char *const meta_pos[] = {"DIR", "ID", "STEP"};


static int cmd_meta(int argc, char **argv)
{
	cli_args a;
	int rc = cli_parse_args(argc, argv, "meta", OPT_AT, 2, 3, meta_pos, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(usage_meta, stdout);
		return EXIT_INTACT;
	}
	wf_fold *f;
	/* Only ID's events are folded: a long journal's other workflows
	 * cost their decoding, not their folding. */
	rc = cli_load_fold_at("meta", a.pos[0], a.pos[1], &a.at, &f);
	if (rc >= 0)
		return rc;
	const char *id = a.pos[1], *step = a.npos > 2 ? a.pos[2] : NULL;
	cJSON *md = NULL;
	char err[600] = "";
	rc = wf_fold_metadata(f, id, step, &md, err, sizeof err);
	int code;
	if (rc == WF_ENOTFOUND) {
		fprintf(stderr, "wflow meta: %s\n", *err ? err : "not found");
		code = EXIT_DAMAGED;
	} else if (rc < 0) {
		fprintf(stderr, "wflow meta: %s (%s)\n",
		        *err ? err : "cannot compute the metadata",
		        wf_strerror(rc));
		code = EXIT_USAGE;
	} else {
		code = cli_print_json("meta", md);
	}
	cJSON_Delete(md);
	wf_fold_free(f);
	return cli_finish_stdout("meta", code);
}




/* wflow ls --json: the array wf_fold_list gives, printed as cJSON_Print
 * prints it, one row at a time (at 10^7 events, the whole array took
 * 1 GB). */
static int ls_json(const wf_fold_row *v, size_t n)
{
	fputc('[', stdout);
	for (size_t k = 0; k < n; k++) {
		cJSON *x = wf_fold_row_json(&v[k]);
		char *s = x ? cJSON_Print(x) : NULL;
		cJSON_Delete(x);
		if (!s) {
			fprintf(stderr, "\nwflow ls: out of memory\n");
			return EXIT_USAGE;
		}
		if (k)
			fputs(", ", stdout);
		/* one level deeper inside the array: a tab after each line
		 * break */
		for (const char *p = s, *nl; *p; p = nl + 1) {
			if (!(nl = strchr(p, '\n'))) {
				fputs(p, stdout);
				break;
			}
			fwrite(p, 1, (size_t)(nl - p) + 1, stdout);
			fputc('\t', stdout);
		}
		free(s);
	}
	fputs("]\n", stdout);
	return EXIT_INTACT;
}

static int cmd_ls(int argc, char **argv)
{
	cli_args a;
	int rc = cli_parse_args(argc, argv, "ls", OPT_JSON | OPT_STATUS, 1, 1,
	                    cli_dir_only, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(usage_ls, stdout);
		return EXIT_INTACT;
	}
	wf_fold *f;
	if ((rc = cli_load_fold("ls", a.pos[0], &f)) >= 0)
		return rc;
	unsigned mask = a.status_mask ? a.status_mask : WF_STATUS_ALL;
	/* Straight from the fold's rows: a JSON object per workflow, all
	 * at once, was most of the time and memory of a long journal's. */
	wf_fold_row *v;
	size_t n;
	if ((rc = wf_fold_rows(f, mask, &v, &n)) < 0) {
		wf_fold_free(f);
		fprintf(stderr, "wflow ls: cannot list the workflows (%s)\n",
		        wf_strerror(rc));
		return EXIT_USAGE;
	}
	if (a.json) {
		int code = ls_json(v, n);
		free(v);
		wf_fold_free(f);
		return cli_finish_stdout("ls", code);
	}
	int idw = 2;
	for (size_t k = 0; k < n; k++)
		if ((int)strlen(v[k].id) > idw)
			idw = (int)strlen(v[k].id);
	printf("%-*s  %-10s  %-24s  %-24s  %12s  %5s  %8s\n", idw, "ID",
	       "STATUS", "START", "END", "DURATION S", "STEPS", "ATTEMPTS");
	for (size_t k = 0; k < n; k++) {
		const wf_fold_row *w = &v[k];
		/* (as wf_fold_list gives them: seconds as doubles) */
		char start[40] = "-", end[40] = "-";
		if (w->start_ns)
			cli_iso_secs(start, sizeof start,
			             (double)w->start_ns / 1e9);
		if (w->end_ns)
			cli_iso_secs(end, sizeof end, (double)w->end_ns / 1e9);
		printf("%-*s  %-10s  %-24s  %-24s", idw, w->id,
		       wf_status_name(w->status), start, end);
		if (w->start_ns && w->end_ns)
			printf("  %12.6f",
			       (double)(w->end_ns - w->start_ns) / 1e9);
		else
			printf("  %12s", "-");
		cli_print_count((long long)(double)w->steps, 5);
		cli_print_count((long long)(double)w->attempts, 8);
		printf("\n");
	}
	free(v);
	wf_fold_free(f);
	return cli_finish_stdout("ls", EXIT_INTACT);
}

/* ---- demo ---------------------------------------------------------------- */

static int cmd_demo(int argc, char **argv)
{
	cli_args a;
	int rc = cli_parse_args(argc, argv, "demo", 0, 1, 1, cli_dir_only, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(usage_demo, stdout);
		return EXIT_INTACT;
	}
	/* The demo prints as it goes: when stdout is a pipe, keep the
	 * lines in order with what goes to stderr. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cli_finish_stdout("demo", wf_demo_run(a.pos[0]));
}

/* ---- main ---------------------------------------------------------------- */

/* The commands: name, function, help text. */
static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{"verify", cmd_verify, usage_verify},
	{"dump", cmd_dump, usage_dump},
	{"meta", cmd_meta, usage_meta},
	{"ls", cmd_ls, usage_ls},
	{"history", cmd_history, usage_history},
	{"stats", cmd_stats, usage_stats},
	{"trace", cmd_trace, usage_trace},
	{"report", cmd_report, usage_report},
	{"demo", cmd_demo, usage_demo},
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--version") == 0) {
		printf("wflow %s\n", wf_version());
		return EXIT_INTACT;
	}
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		fputs(usage_main, stdout);
		return EXIT_INTACT;
	}
	if (strcmp(cmd, "help") == 0) {
		if (argc < 3) {
			fputs(usage_main, stdout);
			return EXIT_INTACT;
		}
		const struct command *c = find_command(argv[2]);
		if (!c) {
			fprintf(stderr, "wflow help: unknown command %s\n",
			        argv[2]);
			return EXIT_USAGE;
		}
		fputs(c->usage, stdout);
		return EXIT_INTACT;
	}
	const struct command *c = find_command(cmd);
	if (c)
		return c->fn(argc - 2, argv + 2);
	fprintf(stderr, "wflow: unknown command %s\n", cmd);
	fputs(usage_main, stderr);
	return EXIT_USAGE;
}
