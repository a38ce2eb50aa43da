/*
 * wflow history DIR ID [--json]: everything that happened to workflow ID,
 * in journal order: its creation, each attempt (run, resume, actor call)
 * and status change with who caused it (run, resume, cancel, a failed
 * step, a crash detected when the next engine opened), and every try of
 * every step with its start, end, outcome and error. What Ray overwrote
 * on resume is all here.
 *
 * How: one pass over the journal (replay/timeline.c) keeping only ID's
 * events (a long journal is read in parts at once, one per core:
 * replay/parts.h); the human form merges the workflow's changes and its steps'
 * tries by sequence number into one table.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "replay/cli.h"
#include "replay/timeline.h"

const char usage_history[] =
	"usage: wflow history DIR ID [--json]\n"
	"\n"
	"Everything that happened to workflow (or actor) ID, in order: its\n"
	"creation, every attempt (run, resume, actor call) and status change\n"
	"with its cause (run, resume, cancel, step failed, crash detected at\n"
	"open), and every try of every step: start, end, duration, outcome\n"
	"(SUCCEEDED, FAILED, CONTINUED: returned a nested step, INTERRUPTED:\n"
	"the engine died, CANCELED: the workflow was) and error. If ID was\n"
	"deleted and used again, each life is shown. A long journal (32 MiB\n"
	"or more) is read in parts at once, one per core.\n"
	"\n"
	"A journal whose oldest segments were deleted (the engine's\n"
	"wf_config.retention_s) starts later: a workflow created before its\n"
	"first event starts at its first event left (\"created before the\n"
	"journal's first event\"; in JSON, created_before_journal and status\n"
	"UNKNOWN until it changes).\n"
	"\n"
	"  --json      one JSON object: {\"workflow_id\", \"lives\": [{\"status\",\n"
	"              \"user_metadata\", \"changes\": [...], \"tries\":\n"
	"              [...]}]}; times in epoch seconds\n"
	"  -h, --help  show this help\n"
	"\n"
	"exit codes: 0 printed, 1 no such workflow (\"No such workflow_id\n"
	"ID\") or the journal is damaged, 2 usage error or unreadable\n"
	"directory.\n";

static const char *const history_pos[] = {"DIR", "ID"};

static cJSON *secs(int64_t ns)
{
	return cJSON_CreateNumber((double)ns / 1e9);
}

static void iso(char *out, size_t n, int64_t ns)
{
	cJSON *v = secs(ns);
	cli_iso_time(out, n, ns ? v : NULL);
	cJSON_Delete(v);
}

static cJSON *life_json(const wf_tl_wf *w)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *md = w->user_metadata ? cJSON_Parse(w->user_metadata) : NULL;
	cJSON_AddStringToObject(o, "status", w->status    ? w->status
	                                     : w->retired ? "UNKNOWN"
	                                                  : "NONE");
	if (w->retired)
		cJSON_AddBoolToObject(o, "created_before_journal", 1);
	cJSON_AddItemToObject(o, "user_metadata",
	                      md ? md : cJSON_CreateObject());
	if (w->actor_class)
		cJSON_AddStringToObject(o, "actor_class", w->actor_class);
	if (w->deleted)
		cJSON_AddTrueToObject(o, "deleted");
	cJSON *ch = cJSON_AddArrayToObject(o, "changes");
	for (size_t i = 0; i < w->nchanges; i++) {
		const wf_tl_change *c = &w->changes[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddItemToArray(ch, x);
		cJSON_AddNumberToObject(x, "seq", (double)c->seq);
		cJSON_AddItemToObject(x, "time", secs(c->time_ns));
		cJSON_AddStringToObject(x, "what", c->what);
		if (c->status)
			cJSON_AddStringToObject(x, "status", c->status);
		if (c->what[0] == 'a')
			cJSON_AddNumberToObject(x, "attempt", c->attempt);
		if (c->cause)
			cJSON_AddStringToObject(x, "cause", c->cause);
		if (c->session)
			cJSON_AddStringToObject(x, "session", c->session);
	}
	cJSON *tr = cJSON_AddArrayToObject(o, "tries");
	for (size_t i = 0; i < w->ntries; i++) {
		const wf_tl_try *t = &w->tries[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddItemToArray(tr, x);
		cJSON_AddStringToObject(x, "step_id", t->step_id);
		cJSON_AddStringToObject(x, "name", t->name);
		cJSON_AddNumberToObject(x, "run", t->run);
		cJSON_AddNumberToObject(x, "try", t->n);
		cJSON_AddNumberToObject(x, "seq", (double)t->seq_start);
		cJSON_AddItemToObject(x, "start_time", secs(t->start_ns));
		if (t->end_ns) {
			cJSON_AddItemToObject(x, "end_time", secs(t->end_ns));
			cJSON_AddNumberToObject(x, "duration",
			                        (double)(t->end_ns - t->start_ns) /
			                            1e9);
		}
		cJSON_AddStringToObject(x, "outcome",
		                        t->outcome ? t->outcome : "RUNNING");
		if (t->error)
			cJSON_AddStringToObject(x, "error", t->error);
	}
	return o;
}

/* One table row per change and per try start, in sequence order. */
static void life_text(const wf_tl_wf *w, int life, int lives)
{
	if (lives > 1)
		printf("%s(life %d of %d of id %s)\n", life > 1 ? "\n" : "",
		       life, lives, w->id);
	printf("workflow %s: %s%s%s%s\n", w->id,
	       w->status    ? w->status
	       : w->retired ? "UNKNOWN (set before the journal's first event)"
	                    : "NONE",
	       w->actor_class ? ", actor of class " : "",
	       w->actor_class ? w->actor_class : "",
	       w->deleted ? " (deleted)" : "");
	if (w->user_metadata && strcmp(w->user_metadata, "{}") != 0)
		printf("user metadata: %s\n", w->user_metadata);
	printf("%8s  %-24s  %s\n", "SEQ", "TIME", "WHAT");
	size_t c = 0, t = 0;
	while (c < w->nchanges || t < w->ntries) {
		int take_change =
		        t == w->ntries ||
		        (c < w->nchanges &&
		         w->changes[c].seq <= w->tries[t].seq_start);
		char when[40], detail[1200];
		uint64_t seq;
		if (take_change) {
			const wf_tl_change *x = &w->changes[c++];
			seq = x->seq;
			iso(when, sizeof when, x->time_ns);
			if (x->what[0] == 'a')
				snprintf(detail, sizeof detail,
				         "attempt %d started (%s%s%s)", x->attempt,
				         x->cause ? x->cause : "?",
				         x->session ? ", session " : "",
				         x->session ? x->session : "");
			else if (x->what[0] == 'c')
				snprintf(detail, sizeof detail, "created (%s)",
				         x->cause ? x->cause : "run");
			else if (x->what[0] == 'r')
				snprintf(detail, sizeof detail, "created before the "
				         "journal's first event: %s", x->cause);
			else
				snprintf(detail, sizeof detail, "%s (%s)",
				         x->status ? x->status : "?",
				         x->cause ? x->cause : "?");
		} else {
			const wf_tl_try *x = &w->tries[t++];
			seq = x->seq_start;
			iso(when, sizeof when, x->start_ns);
			char dur[48] = "";
			if (x->end_ns)
				snprintf(dur, sizeof dur, " after %.6f s",
				         (double)(x->end_ns - x->start_ns) / 1e9);
			snprintf(detail, sizeof detail,
			         "  step %s try %d (attempt %d): %s%s%s%.900s",
			         x->step_id, x->n, x->run,
			         x->outcome ? x->outcome : "RUNNING", dur,
			         x->error ? ": " : "", x->error ? x->error : "");
		}
		printf("%8" PRIu64 "  %-24s  %s\n", seq, when, detail);
	}
}

int cmd_history(int argc, char **argv)
{
	cli_args a;
	int rc = cli_parse_args(argc, argv, "history", OPT_JSON, 2, 2,
	                        history_pos, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(usage_history, stdout);
		return EXIT_INTACT;
	}
	char *dir;
	if ((rc = cli_resolve_dir("history", a.pos[0], &dir)) >= 0)
		return rc;
	if (!cli_has_segments(dir)) {
		cli_no_segments("history", dir);
		free(dir);
		return EXIT_DAMAGED;
	}
	const char *id = a.pos[1];
	wf_timeline *t;
	char err[600] = "";
	rc = wf_timeline_load(dir, &id, 1, &t, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "wflow history: %s: %s (%s)\n", dir, err,
		        wf_strerror(rc));
		free(dir);
		return rc == WF_ECORRUPT || rc == WF_EINCOMPAT ? EXIT_DAMAGED
		                                               : EXIT_USAGE;
	}
	free(dir);
	if (!t->n && t->start) {
		fprintf(stderr, "wflow history: No such workflow_id %s in the "
		        "journal, which starts at event %" PRIu64 ": the history "
		        "before it was retired (wflow meta shows the state of a "
		        "workflow created before)\n", id, t->start);
		wf_timeline_free(t);
		return EXIT_DAMAGED;
	}
	if (!t->n) {
		fprintf(stderr, "wflow history: No such workflow_id %s\n", id);
		wf_timeline_free(t);
		return EXIT_DAMAGED;
	}
	int code = EXIT_INTACT;
	if (a.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "workflow_id", id);
		cJSON *lives = cJSON_AddArrayToObject(o, "lives");
		for (size_t i = 0; i < t->n; i++)
			cJSON_AddItemToArray(lives, life_json(t->wfs[i]));
		code = cli_print_json("history", o);
		cJSON_Delete(o);
	} else {
		for (size_t i = 0; i < t->n; i++)
			life_text(t->wfs[i], (int)i + 1, (int)t->n);
	}
	wf_timeline_free(t);
	return cli_finish_stdout("history", code);
}
