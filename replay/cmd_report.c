/*
 * wflow report: one self-contained HTML page about a journal, for a person
 * to open instead of reading JSON: the workflow list, a Gantt chart of the
 * step tries of each workflow, and the stats (events by type, workflows by
 * status, the time span, the slowest steps by name).
 *
 * How this works: the timelines (replay/timeline.h) give the workflows and
 * their tries; a second pass over the same events (as many as the first
 * one read, so that both agree while a writer appends) counts them by
 * type. The page is written directly: inline CSS, and the charts as inline
 * SVG drawn here (a <title> in each bar is its tooltip), so it needs no
 * script and no network. Every text from the journal is escaped.
 *
 * Big journals: the charts are drawn for the GANTT_MAX most recent
 * workflows, the list holds the LIST_MAX most recent, and a chart shows at
 * most ROWS_MAX steps; the page says so where it cuts. The stats cover
 * everything.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replay/cli.h"
#include "replay/events.h"
#include "replay/map.h"
#include "replay/timeline.h"

const char usage_report[] =
	"usage: wflow report DIR -o FILE.html\n"
	"\n"
	"Write one self-contained HTML page about the journal (inline CSS\n"
	"and SVG: no script, nothing fetched from the network), to open in a\n"
	"browser:\n"
	"  - the journal, its time span, events and workflows\n"
	"  - the workflow list: id, status, start, end, duration, steps,\n"
	"    tries, attempts (the 5000 most recent)\n"
	"  - a Gantt chart per workflow: its attempts, and every try of each\n"
	"    step as a bar on a time axis, colored by outcome (succeeded,\n"
	"    failed, continued, interrupted by a crash, canceled, running,\n"
	"    unfinished), status changes as lines; hover a bar for its\n"
	"    details (the 200 most recent workflows, 60 steps each)\n"
	"  - stats: events by type, workflows by status, the slowest steps\n"
	"    (p50, p95 and max duration of their finished tries, by name)\n"
	"Takes no lock: works while an engine runs.\n"
	"\n"
	"  -o, --output FILE  the file to write (required; - for stdout)\n"
	"  -h, --help         show this help\n"
	"\n"
	"exit codes: 0 written, 1 the journal is damaged or missing from DIR,\n"
	"2 usage error, unreadable directory, or FILE cannot be written.\n";

#define GANTT_MAX 200
#define LIST_MAX 5000
#define ROWS_MAX 60
#define SLOWEST_MAX 30

/* The chart's geometry (pixels). */
#define SVG_W 1160
#define LABEL_W 210
#define RIGHT_W 20
#define AXIS_H 24
#define ROW_H 18
#define BAR_H 12

/* The colors of the outcomes: the bars, the legend, the status text. */
static const struct {
	const char *outcome, *color, *label;
} colors[] = {
	{"SUCCEEDED", "#2e7d32", "succeeded"},
	{"FAILED", "#c62828", "failed"},
	{"CONTINUED", "#1565c0", "continued (returned a sub-workflow)"},
	{"INTERRUPTED", "#ef6c00", "interrupted (crash)"},
	{"CANCELED", "#5d4037", "canceled (with the workflow)"},
	{"RUNNING", "#6a1b9a", "running"},
	{"UNFINISHED", "#9e9e9e", "unfinished (the workflow stopped)"},
};
#define ATTEMPT_COLOR "#b0bec5"

static const char *color_of(const char *outcome)
{
	for (size_t i = 0; i < sizeof colors / sizeof colors[0]; i++)
		if (strcmp(colors[i].outcome, outcome) == 0)
			return colors[i].color;
	return "#9e9e9e";
}

static const char *const statuses[] = {"CREATED",   "RUNNING",  "FAILED",
                                       "RESUMABLE", "CANCELED", "SUCCESSFUL",
                                       "DELETED"};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

/* ---- formatting ---------------------------------------------------------- */

/* s as HTML text or attribute value. Control characters, which HTML does
 * not allow, become '?'. */
static void esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(c < 0x20 && c != '\t' && c != '\n' ? '?' : c, f);
		}
	}
}

/* At most max characters of s (UTF-8 sequences kept whole), escaped, with
 * an ellipsis if cut. */
static void esc_cut(FILE *f, const char *s, size_t max)
{
	size_t n = 0, chars = 0;
	while (s[n] && chars < max) {
		n++;
		while ((s[n] & 0xC0) == 0x80)
			n++;
		chars++;
	}
	if (!s[n]) {
		esc(f, s);
		return;
	}
	char *c = strndup(s, n);
	if (c) {
		esc(f, c);
		free(c);
	}
	fputs("\xe2\x80\xa6", f);
}

/* A duration for people: "850 ns", "12.5 µs", "3.20 ms", "1.25 s",
 * "4 min 05 s", "2 h 07 min". */
static void fmt_dur(char *out, size_t n, int64_t ns)
{
	double v = (double)ns;
	if (ns < 0)
		snprintf(out, n, "-");
	else if (ns < 1000)
		snprintf(out, n, "%" PRId64 " ns", ns);
	else if (ns < 1000000)
		snprintf(out, n, "%.1f \xc2\xb5s", v / 1e3);
	else if (ns < INT64_C(1000000000))
		snprintf(out, n, v < 1e7 ? "%.2f ms" : "%.1f ms", v / 1e6);
	else if (ns < INT64_C(60000000000))
		snprintf(out, n, "%.2f s", v / 1e9);
	else if (ns < INT64_C(3600000000000))
		snprintf(out, n, "%d min %02d s", (int)(ns / 60000000000),
		         (int)(ns / 1000000000 % 60));
	else
		snprintf(out, n, "%" PRId64 " h %02d min", ns / 3600000000000,
		         (int)(ns / 60000000000 % 60));
}

/* A tick label: fmt_dur without the zeros that end a fraction ("+1.5 ms",
 * not "+1.50 ms"). */
static void fmt_tick(char *out, size_t n, int64_t ns)
{
	fmt_dur(out, n, ns);
	char *dot = strchr(out, '.');
	if (!dot)
		return;
	char *unit = strchr(dot, ' '), *z = unit;
	while (z > dot + 1 && z[-1] == '0')
		z--;
	if (z == dot + 1)
		z = dot;
	memmove(z, unit, strlen(unit) + 1);
}

/* ns since the epoch as "2026-11-27 17:25:05.123Z". */
static void fmt_time(char *out, size_t n, int64_t ns)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	if (ns <= 0 || !gmtime_r(&s, &tm)) {
		snprintf(out, n, "-");
		return;
	}
	char date[24];
	strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out, n, "%s.%03dZ", date, (int)(ns / 1000000 % 1000));
}

static void put_count(FILE *f, uint64_t v)
{
	/* 1234567 as "1,234,567". */
	char d[32], o[48];
	int n = snprintf(d, sizeof d, "%" PRIu64, v), k = 0;
	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			o[k++] = ',';
		o[k++] = d[i];
	}
	o[k] = '\0';
	fputs(o, f);
}

/* ---- what the page shows of a workflow ----------------------------------- */

typedef struct wsum {
	int64_t start, end; /* end 0: not finished */
	int64_t last;       /* where its open bars end */
	const char *status;
	size_t steps;
	int attempts;
} wsum;

/* The status as journaled. None yet: its first attempt was journaled
 * before its RUNNING (they may be in different commits), or nothing. */
static const char *status_of(const wf_tl_wf *w)
{
	if (w->deleted)
		return "DELETED";
	if (w->status)
		return w->status;
	for (size_t i = 0; i < w->nchanges; i++)
		if (w->changes[i].what[0] == 'a')
			return "RUNNING";
	return "CREATED";
}

static int wf_running(const wf_tl_wf *w)
{
	return strcmp(status_of(w), "RUNNING") == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fill s for w; scratch holds w->ntries pointers. A deletion is not part
 * of the run it ends: the times are those of the workflow before it. */
static void summarize(const wf_timeline *t, const wf_tl_wf *w,
                      const char **scratch, wsum *s)
{
	memset(s, 0, sizeof *s);
	s->status = status_of(w);
	s->start = w->nchanges ? w->changes[0].time_ns : 0;
	int64_t last = s->start, last_status = 0;
	const char *before = NULL; /* the status before a deletion */
	for (size_t i = 0; i < w->nchanges; i++) {
		const wf_tl_change *c = &w->changes[i];
		if (c->what[0] == 's' && c->status &&
		    strcmp(c->status, "DELETED") == 0)
			continue;
		if (c->time_ns > last)
			last = c->time_ns;
		if (c->what[0] == 'a') {
			/* The highest number, as wflow ls counts: an actor's
			 * calls are attempts 2, 3... (its creation is 1). */
			s->attempts++;
			if (c->attempt > s->attempts)
				s->attempts = c->attempt;
		} else if (c->what[0] == 's') {
			last_status = c->time_ns;
			before = c->status;
		}
	}
	for (size_t i = 0; i < w->ntries; i++) {
		const wf_tl_try *tr = &w->tries[i];
		if (tr->start_ns > last)
			last = tr->start_ns;
		if (tr->end_ns > last)
			last = tr->end_ns;
		scratch[i] = tr->step_id;
	}
	qsort(scratch, w->ntries, sizeof *scratch, cmp_str);
	for (size_t i = 0; i < w->ntries; i++)
		s->steps += !i || strcmp(scratch[i], scratch[i - 1]) != 0;
	/* It ended if it stopped (not RUNNING, not RESUMABLE), deleted or
	 * not; an actor is SUCCESSFUL between its calls. */
	if (before && strcmp(before, "RUNNING") != 0 &&
	    strcmp(before, "RESUMABLE") != 0)
		s->end = last_status;
	/* A running workflow's open tries go on to the journal's end. */
	s->last = wf_running(w) && t->last_ns > last ? t->last_ns : last;
}

/* ---- the Gantt chart ----------------------------------------------------- */

/* A tick step for span over about n ticks: 1, 2 or 5 times a power of
 * ten nanoseconds. */
static int64_t tick_step(int64_t span, int n)
{
	int64_t raw = span / n, p = 1;
	while (p <= raw / 10)
		p *= 10;
	static const int m[] = {1, 2, 5, 10};
	for (size_t i = 0; i < 4; i++)
		if (p * m[i] >= raw)
			return p * m[i] > 0 ? p * m[i] : 1;
	return p * 10;
}

typedef struct chart {
	int64_t t0, span;
} chart;

static double xpos(const chart *c, int64_t t)
{
	double cw = SVG_W - LABEL_W - RIGHT_W;
	double x = LABEL_W + (double)(t - c->t0) * cw / (double)c->span;
	return x < LABEL_W ? LABEL_W : x;
}

static void bar(FILE *f, const chart *c, int row, int64_t start, int64_t end,
                const char *fill)
{
	double x0 = xpos(c, start), x1 = xpos(c, end);
	double wpx = x1 - x0 < 1 ? 1 : x1 - x0;
	fprintf(f,
	        "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
	        "fill=\"%s\">",
	        x0, AXIS_H + row * ROW_H + (ROW_H - BAR_H) / 2, wpx, BAR_H,
	        fill);
}

/* The end of the attempt that w->changes[i] started: the next attempt,
 * or the workflow leaving RUNNING; else last (*open set). */
static int64_t attempt_end(const wf_tl_wf *w, size_t i, int64_t last, int *open)
{
	*open = 0;
	for (size_t k = i + 1; k < w->nchanges; k++) {
		const wf_tl_change *nx = &w->changes[k];
		if (nx->what[0] == 'a' || (nx->what[0] == 's' && nx->status &&
		                           strcmp(nx->status, "RUNNING") != 0))
			return nx->time_ns;
	}
	*open = 1;
	return last;
}

/* Where a try that has not ended is cut: with its attempt; RUNNING if
 * that goes on, else UNFINISHED. */
static int64_t try_end(const wf_tl_wf *w, const wsum *s, const wf_tl_try *tr,
                       const char **outcome)
{
	int open = 0;
	int64_t end = s->last;
	for (size_t i = w->nchanges; i-- > 0;)
		if (w->changes[i].what[0] == 'a' &&
		    w->changes[i].attempt == tr->run) {
			end = attempt_end(w, i, s->last, &open);
			break;
		}
	*outcome = open && wf_running(w) ? "RUNNING" : "UNFINISHED";
	return end > tr->start_ns ? end : tr->start_ns;
}

static int gantt(FILE *f, const wf_tl_wf *w, const wsum *s, size_t wi)
{
	/* Rows: the attempts, then each step in order of its first try. */
	wf_map rows = {0};
	rows.borrow = 1;
	size_t nrows = 0;
	const char **label = malloc((w->ntries + 1) * sizeof *label);
	if (!label)
		return -1;
	for (size_t i = 0; i < w->ntries; i++) {
		const char *id = w->tries[i].step_id;
		if (wf_map_get(&rows, id))
			continue;
		if (wf_map_put(&rows, id, (void *)(uintptr_t)(nrows + 1)) < 0) {
			wf_map_free(&rows);
			free(label);
			return -1;
		}
		label[nrows++] = id;
	}
	size_t shown = nrows < ROWS_MAX ? nrows : ROWS_MAX;
	chart c = {s->start, s->last - s->start};
	if (c.span <= 0)
		c.span = 1000;
	int h = AXIS_H + (int)(shown + 1) * ROW_H + 4;
	char d[48], a[48];
	fprintf(f, "<h3 id=\"wf-%zu\">", wi);
	esc(f, w->id);
	fprintf(f, " <span class=\"st-%s\">%s</span> <span class=\"muted\">",
	        s->status, s->status);
	fmt_time(a, sizeof a, s->start);
	fmt_dur(d, sizeof d, c.span);
	fprintf(f, "created %s, %s, %zu step%s, %zu tr%s</span></h3>\n", a, d,
	        nrows, nrows == 1 ? "" : "s", w->ntries,
	        w->ntries == 1 ? "y" : "ies");
	fprintf(f,
	        "<svg class=\"gantt\" width=\"%d\" height=\"%d\" viewBox=\"0 0 "
	        "%d %d\" shape-rendering=\"crispEdges\" role=\"img\">\n",
	        SVG_W, h, SVG_W, h);
	/* The axis: ticks relative to the workflow's creation. */
	int64_t step = tick_step(c.span, 8);
	for (int64_t k = 0; k <= c.span; k += step) {
		double x = xpos(&c, c.t0 + k);
		char lab[48];
		fmt_tick(lab, sizeof lab, k);
		fprintf(f,
		        "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		        "stroke=\"#e0e0e0\"/><text x=\"%.1f\" y=\"%d\" "
		        "text-anchor=\"%s\">+%s</text>\n",
		        x, AXIS_H - 6, x, h, x, AXIS_H - 10,
		        k ? "middle" : "start", lab);
	}
	/* Row 0: the attempts. */
	fprintf(f, "<text x=\"4\" y=\"%d\" class=\"rl\">attempts</text>\n",
	        AXIS_H + ROW_H - 5);
	for (size_t i = 0; i < w->nchanges; i++) {
		const wf_tl_change *ch = &w->changes[i];
		if (ch->what[0] != 'a')
			continue;
		int unended;
		int64_t end = attempt_end(w, i, s->last, &unended);
		bar(f, &c, 0, ch->time_ns, end, ATTEMPT_COLOR);
		fmt_dur(d, sizeof d, end - ch->time_ns);
		fprintf(f, "<title>attempt %d (", ch->attempt);
		esc(f, ch->cause ? ch->cause : "?");
		fprintf(f, "): %s</title></rect>\n", d);
		double x0 = xpos(&c, ch->time_ns), x1 = xpos(&c, end);
		if (x1 - x0 > 60) {
			fprintf(f,
			        "<text x=\"%.1f\" y=\"%d\" class=\"in\">#%d ",
			        x0 + 3, AXIS_H + ROW_H - 5, ch->attempt);
			esc_cut(f, ch->cause ? ch->cause : "", 20);
			fputs("</text>\n", f);
		}
	}
	/* Step labels, then the tries. */
	for (size_t row = 1; row <= shown; row++) {
		fprintf(f, "<text x=\"4\" y=\"%zu\" class=\"rl\"><title>",
		        AXIS_H + (row + 1) * ROW_H - 5);
		esc(f, label[row - 1]);
		fputs("</title>", f);
		esc_cut(f, label[row - 1], 30);
		fputs("</text>\n", f);
	}
	free(label);
	for (size_t i = 0; i < w->ntries; i++) {
		const wf_tl_try *tr = &w->tries[i];
		size_t row = (uintptr_t)wf_map_get(&rows, tr->step_id);
		if (row > shown)
			continue;
		int64_t end = tr->end_ns;
		const char *outcome = tr->outcome;
		if (!end || !outcome)
			end = try_end(w, s, tr, &outcome);
		bar(f, &c, (int)row, tr->start_ns, end, color_of(outcome));
		fmt_dur(d, sizeof d, end - tr->start_ns);
		fputs("<title>", f);
		esc(f, tr->step_id);
		fprintf(f, ", try %d of attempt %d: %s, %s", tr->n, tr->run,
		        outcome, d);
		if (tr->error) {
			fputs("\n", f);
			esc(f, tr->error);
		}
		fputs("</title></rect>\n", f);
		double x0 = xpos(&c, tr->start_ns), x1 = xpos(&c, end);
		if (x1 - x0 > 28)
			fprintf(f,
			        "<text x=\"%.1f\" y=\"%zu\" class=\"in\">#%d"
			        "</text>\n",
			        x0 + 3, AXIS_H + (row + 1) * ROW_H - 5, tr->n);
	}
	/* Status changes: a line across the chart each. */
	for (size_t i = 0; i < w->nchanges; i++) {
		const wf_tl_change *ch = &w->changes[i];
		/* (A deletion comes after the chart's end.) */
		if (ch->what[0] != 's' || ch->time_ns > c.t0 + c.span)
			continue;
		double x = xpos(&c, ch->time_ns);
		const char *st = ch->status ? ch->status : "STATUS";
		fprintf(f,
		        "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		        "class=\"sc st-%s\"><title>%s (",
		        x, AXIS_H - 4, x, h, st, st);
		esc(f, ch->cause ? ch->cause : "?");
		fmt_time(a, sizeof a, ch->time_ns);
		fprintf(f, ") at %s</title></line>\n", a);
	}
	fputs("</svg>\n", f);
	if (shown < nrows)
		fprintf(f,
		        "<p class=\"note\">%zu more steps not shown (a chart "
		        "shows the first %d).</p>\n",
		        nrows - shown, ROWS_MAX);
	wf_map_free(&rows);
	return 0;
}

/* ---- the slowest steps --------------------------------------------------- */

typedef struct dur_of {
	const char *name;
	int64_t ns;
	int failed;
} dur_of;

typedef struct step_stat {
	const char *name;
	size_t n, failed;
	int64_t p50, p95, max;
} step_stat;

static int cmp_dur(const void *a, const void *b)
{
	const dur_of *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->ns < y->ns ? -1 : x->ns > y->ns;
}

static int cmp_slow(const void *a, const void *b)
{
	const step_stat *x = a, *y = b;
	if (x->p95 != y->p95)
		return x->p95 > y->p95 ? -1 : 1;
	if (x->max != y->max)
		return x->max > y->max ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The value at percentile p of v[0..n) (sorted): nearest rank, the
 * ceil(p% of n)-th (in integers: the tool does not link libm). */
static int64_t pct(const dur_of *v, size_t n, size_t p)
{
	size_t r = (p * n + 99) / 100;
	return v[r ? r - 1 : 0].ns;
}

/* Finished tries (succeeded, failed, continued) by step name, slowest p95
 * first. @return how many names (*out malloc'd), or -1. */
static long slowest(const wf_timeline *t, step_stat **out)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		n += t->wfs[i]->ntries;
	dur_of *v = malloc((n + 1) * sizeof *v);
	step_stat *st = malloc((n + 1) * sizeof *st);
	if (!v || !st) {
		free(v);
		free(st);
		return -1;
	}
	size_t k = 0;
	for (size_t i = 0; i < t->n; i++) {
		const wf_tl_wf *w = t->wfs[i];
		for (size_t j = 0; j < w->ntries; j++) {
			const wf_tl_try *tr = &w->tries[j];
			/* Cut short by a crash or a cancel, or still
			 * running: not how long the step takes. */
			if (!tr->end_ns || !tr->outcome ||
			    (strcmp(tr->outcome, "SUCCEEDED") != 0 &&
			     strcmp(tr->outcome, "FAILED") != 0 &&
			     strcmp(tr->outcome, "CONTINUED") != 0))
				continue;
			v[k].name = tr->name;
			v[k].ns = tr->end_ns > tr->start_ns
			                  ? tr->end_ns - tr->start_ns
			                  : 0;
			v[k].failed = strcmp(tr->outcome, "FAILED") == 0;
			k++;
		}
	}
	qsort(v, k, sizeof *v, cmp_dur);
	size_t ns = 0;
	for (size_t i = 0; i < k;) {
		size_t j = i, failed = 0;
		while (j < k && strcmp(v[j].name, v[i].name) == 0)
			failed += (size_t)v[j++].failed;
		st[ns].name = v[i].name;
		st[ns].n = j - i;
		st[ns].failed = failed;
		st[ns].p50 = pct(v + i, j - i, 50);
		st[ns].p95 = pct(v + i, j - i, 95);
		st[ns].max = v[j - 1].ns;
		ns++;
		i = j;
	}
	free(v);
	qsort(st, ns, sizeof *st, cmp_slow);
	*out = st;
	return (long)ns;
}

/* ---- events by type ------------------------------------------------------ */

/* Count the first limit events of jdir by type (counts: 65536 of them).
 * @return -1 ok, else the exit code (after saying why). */
static int count_types(const char *jdir, uint64_t limit, uint64_t *counts)
{
	wf_reader *r;
	int rc = wf_reader_open(&r, jdir, NULL);
	if (rc < 0) {
		int code = cli_open_failed("report", jdir, rc, r);
		wf_reader_close(r);
		return code;
	}
	cli_progress *p = cli_progress_start("report", "counting events", jdir);
	const wf_event *ev;
	uint64_t n = 0;
	while (n < limit && (rc = wf_reader_next(r, &ev)) == 1) {
		counts[ev->type]++;
		n++;
	}
	cli_progress_stop(p);
	int code = -1;
	if (rc < 0) {
		fprintf(stderr, "wflow report: %s: %s (%s)\n", jdir,
		        wf_reader_errmsg(r), wf_strerror(rc));
		code = rc == WF_ECORRUPT || rc == WF_EINCOMPAT ? EXIT_DAMAGED
		                                               : EXIT_USAGE;
	}
	wf_reader_close(r);
	return code;
}

/* ---- the page ------------------------------------------------------------ */

static const char css[] =
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,"
	"sans-serif;margin:24px 32px;color:#212121;background:#fff}\n"
	"h1{font-size:22px;margin:0 0 4px}\n"
	"h2{font-size:18px;margin:32px 0 8px;padding-bottom:4px;"
	"border-bottom:1px solid #ddd}\n"
	"h3{font-size:14px;margin:20px 0 2px;font-weight:600}\n"
	"code{font:13px ui-monospace,Menlo,Consolas,monospace}\n"
	"table{border-collapse:collapse;font-variant-numeric:tabular-nums}\n"
	"th,td{padding:3px 12px 3px 0;border-bottom:1px solid #eee;"
	"text-align:left;white-space:nowrap}\n"
	"th{font-weight:600;border-bottom:1px solid #bbb}\n"
	".n{text-align:right;padding-left:12px}\n"
	".muted,.note{color:#616161}\n"
	".note{font-style:italic}\n"
	"nav a{margin-right:16px}\n"
	"a{color:#1565c0;text-decoration:none}\n"
	".legend{margin:4px 0 8px}\n"
	".legend i{display:inline-block;width:11px;height:11px;"
	"margin:0 4px 0 14px;vertical-align:-1px}\n"
	".legend i:first-child{margin-left:0}\n"
	"svg.gantt{display:block;margin:2px 0 10px;background:#fafafa}\n"
	"svg text{font:11px system-ui,sans-serif;fill:#424242}\n"
	"svg text.in{fill:#fff}\n"
	"svg line.sc{stroke-width:1.5;stroke-dasharray:3 2}\n"
	".st-SUCCESSFUL{color:#2e7d32;stroke:#2e7d32}\n"
	".st-FAILED{color:#c62828;stroke:#c62828}\n"
	".st-RESUMABLE{color:#ef6c00;stroke:#ef6c00}\n"
	".st-CANCELED{color:#757575;stroke:#757575}\n"
	".st-RUNNING{color:#6a1b9a;stroke:#6a1b9a}\n"
	".st-DELETED{color:#9e9e9e;stroke:#9e9e9e}\n";

static void th(FILE *f, const char *const *names, size_t n)
{
	fputs("<tr>", f);
	for (size_t i = 0; i < n; i++) {
		/* A name starting with '#' is a number column. */
		if (names[i][0] == '#')
			fprintf(f, "<th class=\"n\">%s</th>", names[i] + 1);
		else
			fprintf(f, "<th>%s</th>", names[i]);
	}
	fputs("</tr>\n", f);
}

static void page_head(FILE *f, const wf_timeline *t, const char *jdir,
                      uint64_t events)
{
	char a[48], b[48], d[48], now[48];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	fmt_time(now, sizeof now, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	      "<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width\">\n"
	      "<title>wflow report: ",
	      f);
	esc(f, jdir);
	fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", css);
	fputs("<h1>wflow report</h1>\n<p class=\"muted\">journal <code>", f);
	esc(f, jdir);
	fprintf(f, "</code>, written %s by wflow %s</p>\n", now, wf_version());
	fputs("<nav><a href=\"#workflows\">Workflows</a>"
	      "<a href=\"#gantt\">Gantt charts</a>"
	      "<a href=\"#stats\">Stats</a></nav>\n",
	      f);
	fmt_time(a, sizeof a, t->first_ns);
	fmt_time(b, sizeof b, t->last_ns);
	fmt_dur(d, sizeof d, t->last_ns - t->first_ns);
	size_t tries = 0;
	for (size_t i = 0; i < t->n; i++)
		tries += t->wfs[i]->ntries;
	fprintf(f,
	        "<h2 id=\"span\">Time span</h2>\n<table>\n"
	        "<tr><th>first event</th><td>%s</td></tr>\n"
	        "<tr><th>last event</th><td>%s</td></tr>\n"
	        "<tr><th>span</th><td>%s</td></tr>\n"
	        "<tr><th>events</th><td>",
	        a, b, t->events ? d : "-");
	put_count(f, events);
	fputs("</td></tr>\n<tr><th>workflows</th><td>", f);
	put_count(f, t->n);
	fputs("</td></tr>\n<tr><th>step tries</th><td>", f);
	put_count(f, tries);
	fputs("</td></tr>\n</table>\n", f);
}

static void page_list(FILE *f, const wf_timeline *t, const wsum *sums,
                      size_t gantt_from)
{
	static const char *const cols[] = {"id",     "status",    "start",
	                                   "end",    "#duration", "#steps",
	                                   "#tries", "#attempts"};
	size_t from = t->n > LIST_MAX ? t->n - LIST_MAX : 0;
	fputs("<h2 id=\"workflows\">Workflows</h2>\n", f);
	if (from) {
		fputs("<p class=\"note\">The ", f);
		put_count(f, LIST_MAX);
		fputs(" most recent of ", f);
		put_count(f, t->n);
		fputs(" workflows (all are in the stats).</p>\n", f);
	}
	if (!t->n) {
		fputs("<p class=\"note\">No workflows in the journal.</p>\n",
		      f);
		return;
	}
	fputs("<p class=\"muted\">Statuses as journaled: RUNNING means "
	      "nothing later says otherwise (if its engine has stopped since, "
	      "the workflow is RESUMABLE: <code>wflow ls</code> shows "
	      "that).</p>\n<table>\n",
	      f);
	th(f, cols, sizeof cols / sizeof cols[0]);
	for (size_t i = from; i < t->n; i++) {
		const wf_tl_wf *w = t->wfs[i];
		const wsum *s = &sums[i];
		char a[48], b[48], d[48] = "-";
		fmt_time(a, sizeof a, s->start);
		fmt_time(b, sizeof b, s->end);
		if (s->end)
			fmt_dur(d, sizeof d, s->end - s->start);
		fputs("<tr><td>", f);
		if (i >= gantt_from)
			fprintf(f, "<a href=\"#wf-%zu\">", i);
		esc(f, w->id);
		if (i >= gantt_from)
			fputs("</a>", f);
		fprintf(f,
		        "</td><td class=\"st-%s\">%s</td><td>%s</td><td>%s"
		        "</td><td class=\"n\">%s</td><td class=\"n\">%zu</td>"
		        "<td class=\"n\">%zu</td><td class=\"n\">%d</td>"
		        "</tr>\n",
		        s->status, s->status, a, b, d, s->steps, w->ntries,
		        s->attempts);
	}
	fputs("</table>\n", f);
}

static int page_gantt(FILE *f, const wf_timeline *t, const wsum *sums,
                      size_t gantt_from)
{
	fputs("<h2 id=\"gantt\">Gantt charts</h2>\n<div class=\"legend\">", f);
	for (size_t i = 0; i < sizeof colors / sizeof colors[0]; i++)
		fprintf(f, "<i style=\"background:%s\"></i>%s", colors[i].color,
		        colors[i].label);
	fprintf(f,
	        "<i style=\"background:%s\"></i>workflow attempt; dashed "
	        "lines: status changes. Hover a bar for its details.</div>\n",
	        ATTEMPT_COLOR);
	if (gantt_from) {
		fprintf(f, "<p class=\"note\">The %d most recent of ",
		        GANTT_MAX);
		put_count(f, t->n);
		fputs(" workflows.</p>\n", f);
	}
	for (size_t i = gantt_from; i < t->n; i++)
		if (gantt(f, t->wfs[i], &sums[i], i) < 0)
			return -1;
	return 0;
}

static int page_stats(FILE *f, const wf_timeline *t, const uint64_t *counts,
                      uint64_t events)
{
	fputs("<h2 id=\"stats\">Stats</h2>\n<h3>Events by type</h3>\n"
	      "<table>\n",
	      f);
	static const char *const ecols[] = {"type", "#events", "#share"};
	th(f, ecols, 3);
	for (unsigned ty = 0; ty < 65536; ty++) {
		if (!counts[ty])
			continue;
		const wf_event_schema *sc = wf_event_schema_find((uint16_t)ty);
		if (sc)
			fprintf(f, "<tr><td>%s</td><td class=\"n\">", sc->name);
		else
			fprintf(f,
			        "<tr><td>type %u (unknown)</td>"
			        "<td class=\"n\">",
			        ty);
		put_count(f, counts[ty]);
		fprintf(f, "</td><td class=\"n\">%.1f%%</td></tr>\n",
		        100.0 * (double)counts[ty] / (double)events);
	}
	fputs("<tr><th>all</th><th class=\"n\">", f);
	put_count(f, events);
	fputs("</th><th></th></tr>\n</table>\n", f);

	fputs("<h3>Workflows by status</h3>\n<table>\n", f);
	static const char *const scols[] = {"status", "#workflows"};
	th(f, scols, 2);
	size_t by[NSTATUS + 1] = {0};
	for (size_t i = 0; i < t->n; i++) {
		const char *st = status_of(t->wfs[i]);
		size_t k = 0;
		while (k < NSTATUS && strcmp(statuses[k], st) != 0)
			k++;
		by[k]++;
	}
	for (size_t k = 0; k <= NSTATUS; k++) {
		if (!by[k])
			continue;
		const char *st = k < NSTATUS ? statuses[k] : "unknown";
		fprintf(f, "<tr><td class=\"st-%s\">%s</td><td class=\"n\">",
		        st, st);
		put_count(f, by[k]);
		fputs("</td></tr>\n", f);
	}
	fputs("<tr><th>all</th><th class=\"n\">", f);
	put_count(f, t->n);
	fputs("</th></tr>\n</table>\n", f);

	step_stat *st;
	long ns = slowest(t, &st);
	if (ns < 0)
		return -1;
	fputs("<h3>Slowest steps</h3>\n<p class=\"muted\">By step name (its "
	      "id without the _N of repeated calls), over the tries that "
	      "ended (succeeded, failed or continued); slowest p95 first.",
	      f);
	if (ns > SLOWEST_MAX)
		fprintf(f, " The %d slowest of %ld names.", SLOWEST_MAX, ns);
	fputs("</p>\n", f);
	if (!ns) {
		fputs("<p class=\"note\">No step try has ended.</p>\n", f);
	} else {
		static const char *const cols[] = {"step", "#tries", "#failed",
		                                   "#p50", "#p95",   "#max"};
		fputs("<table>\n", f);
		th(f, cols, 6);
		for (long i = 0; i < ns && i < SLOWEST_MAX; i++) {
			char p50[48], p95[48], mx[48];
			fmt_dur(p50, sizeof p50, st[i].p50);
			fmt_dur(p95, sizeof p95, st[i].p95);
			fmt_dur(mx, sizeof mx, st[i].max);
			fputs("<tr><td>", f);
			esc(f, st[i].name);
			fputs("</td><td class=\"n\">", f);
			put_count(f, st[i].n);
			fputs("</td><td class=\"n\">", f);
			put_count(f, st[i].failed);
			fprintf(f,
			        "</td><td class=\"n\">%s</td><td class=\"n\">%s"
			        "</td><td class=\"n\">%s</td></tr>\n",
			        p50, p95, mx);
		}
		fputs("</table>\n", f);
	}
	free(st);
	return 0;
}

static int write_report(FILE *f, const wf_timeline *t, const char *jdir,
                        const uint64_t *counts, uint64_t events)
{
	size_t most = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->wfs[i]->ntries > most)
			most = t->wfs[i]->ntries;
	wsum *sums = calloc(t->n + 1, sizeof *sums);
	const char **scratch = malloc((most + 1) * sizeof *scratch);
	if (!sums || !scratch) {
		free(sums);
		free(scratch);
		return -1;
	}
	for (size_t i = 0; i < t->n; i++)
		summarize(t, t->wfs[i], scratch, &sums[i]);
	free(scratch);
	size_t gantt_from = t->n > GANTT_MAX ? t->n - GANTT_MAX : 0;
	page_head(f, t, jdir, events);
	page_list(f, t, sums, gantt_from);
	int rc = page_gantt(f, t, sums, gantt_from);
	if (rc == 0)
		rc = page_stats(f, t, counts, events);
	if (rc == 0)
		fputs("</body>\n</html>\n", f);
	free(sums);
	return rc;
}

int cmd_report(int argc, char **argv)
{
	cli_args a;
	int rc = cli_parse_args(argc, argv, "report", OPT_OUT, 1, 1,
	                        cli_dir_only, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(usage_report, stdout);
		return EXIT_INTACT;
	}
	if (!a.out)
		return cli_usage_error("report", "missing -o FILE.html", NULL);
	wf_timeline *t;
	char *jdir;
	rc = cli_timeline_load("report", a.pos[0], NULL, 0, &t, &jdir);
	if (rc >= 0)
		return rc;
	uint64_t *counts = calloc(65536, sizeof *counts);
	int code = -1;
	if (!counts) {
		fprintf(stderr, "wflow report: out of memory\n");
		code = EXIT_USAGE;
	} else {
		code = count_types(jdir, t->events, counts);
	}
	if (code < 0) {
		uint64_t events = 0;
		for (unsigned ty = 0; ty < 65536; ty++)
			events += counts[ty];
		char *tmp;
		FILE *f = cli_outfile_open("report", a.out, &tmp);
		code = EXIT_USAGE;
		if (f) {
			int ok = write_report(f, t, jdir, counts, events) == 0;
			if (!ok)
				fprintf(stderr,
				        "wflow report: out of memory\n");
			rc = cli_outfile_close("report", a.out, f, tmp, ok);
			code = rc >= 0 ? rc : EXIT_INTACT;
		}
	}
	free(counts);
	wf_timeline_free(t);
	free(jdir);
	return code;
}
