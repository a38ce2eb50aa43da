/*
 * What the wflow tool's commands share: argument parsing (options
 * anywhere, "--" ends them, SEQ|TIME points of history), finding the
 * journal of a DIR, replaying it into a fold, printing JSON, times and
 * sizes, and the exit codes.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "replay/dumpfmt.h"
#include "replay/events.h"
#include "replay/parts.h"

const char *const cli_dir_only[] = {"DIR"};

/* The value of option s ("--x V" or "--x=V", s starting with name), or
 * NULL if missing. */
const char *cli_opt_value(int argc, char **argv, int *i, size_t namelen)
{
	const char *s = argv[*i];
	if (s[namelen] == '=')
		return s + namelen + 1;
	if (*i + 1 < argc)
		return argv[++*i];
	return NULL;
}

int cli_is_opt(const char *s, const char *name)
{
	size_t n = strlen(name);
	return strncmp(s, name, n) == 0 && (s[n] == 0 || s[n] == '=');
}

/* ---- points of history: SEQ or TIME ---- */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* ISO 8601: YYYY-MM-DD[(T| )hh:mm[:ss[.frac]]][Z|(+|-)hh[:]mm]; no zone
 * means UTC. @return 0 and *ns, or -1. */
static int parse_iso(const char *s, int64_t *ns)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -1;
	const char *p = s + n;
	int64_t frac = 0;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		int k = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &k) != 2 || k != 5)
			return -1;
		p += 1 + k;
		if (*p == ':') {
			if (sscanf(p + 1, "%2d%n", &sec, &k) != 1 || k != 2)
				return -1;
			p += 1 + k;
			if (*p == '.' || *p == ',') {
				int64_t scale = 100000000;
				p++;
				if (*p < '0' || *p > '9')
					return -1;
				for (; *p >= '0' && *p <= '9'; p++) {
					frac += (*p - '0') * scale;
					scale /= 10;
				}
			}
		}
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om = 0, k = 0;
		int sign = *p == '-' ? -1 : 1;
		if (sscanf(p + 1, "%2d%n", &oh, &k) != 1 || k != 2)
			return -1;
		p += 1 + k;
		if (*p == ':')
			p++;
		if (*p >= '0' && *p <= '9') {
			if (sscanf(p, "%2d%n", &om, &k) != 1 || k != 2)
				return -1;
			p += k;
		}
		if (oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
	}
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
	                            31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (*p || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
	    sec > 60 || y < 1970 || y > 9999)
		return -1;
	int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
	               h * 3600 + mi * 60 + sec - off;
	/* Event times are int64 nanoseconds (up to 2262-04-11): a later
	 * point is after all of them. */
	*ns = secs > INT64_MAX / 1000000000 - 1 ? INT64_MAX
	                                         : secs * 1000000000 + frac;
	return 0;
}

int cli_parse_point(const char *v, cli_point *pt)
{
	memset(pt, 0, sizeof *pt);
	if (!v || !*v)
		return -1;
	/* @EPOCH[.frac] or EPOCH.frac: epoch seconds. */
	const char *e = v[0] == '@' ? v + 1 : v;
	if (*e >= '0' && *e <= '9' && strspn(e, "0123456789.") == strlen(e) &&
	    (e != v || strchr(e, '.'))) {
		char *end;
		errno = 0;
		double secs = strtod(e, &end);
		if (*end || errno || !isfinite(secs) || secs < 0 ||
		    secs > 253402300799.0)
			return -1;
		pt->set = 1;
		pt->is_time = 1;
		pt->time_ns = secs >= 9223372036.0 ? INT64_MAX /* as parse_iso */
		                                   : (int64_t)(secs * 1e9 + 0.5);
		return 0;
	}
	/* A bare integer: a sequence number. */
	if (strspn(v, "0123456789") == strlen(v)) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(v, &end, 10);
		if (errno)
			return -1;
		pt->set = 1;
		pt->seq = n;
		return 0;
	}
	int64_t ns;
	if (parse_iso(v, &ns) < 0)
		return -1;
	pt->set = 1;
	pt->is_time = 1;
	pt->time_ns = ns;
	return 0;
}

int cli_point_reached(const cli_point *pt, const wf_event *ev)
{
	if (!pt->set)
		return 0;
	return pt->is_time ? ev->time_ns > pt->time_ns : ev->seq > pt->seq;
}

static int point_opt(const char *cmd, const char *name, int argc,
                     char **argv, int *i, cli_point *pt)
{
	const char *v = cli_opt_value(argc, argv, i, strlen(name));
	if (!v) {
		char what[64];
		snprintf(what, sizeof what, "%s needs a value", name);
		return cli_usage_error(cmd, what, NULL);
	}
	if (cli_parse_point(v, pt) < 0) {
		char what[200];
		snprintf(what, sizeof what,
		         "%s: not a sequence number, an ISO 8601 time "
		         "(2026-11-27T14:02:00Z) or epoch seconds "
		         "(@1795807896):",
		         name);
		return cli_usage_error(cmd, what, v);
	}
	return -1;
}

/* --type T[,T...]: event type names. */
static int parse_types(const char *cmd, const char *v, cli_args *a)
{
	const char *p = v;
	for (;;) {
		size_t n = strcspn(p, ",");
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), p);
		uint16_t t = wf_event_type_by_name(name);
		if (!t || a->ntypes == CLI_MAX_TYPES) {
			fprintf(stderr,
			        "wflow %s: --type: unknown event type '%s' (see "
			        "the \"type\" of wflow dump's lines)\n",
			        cmd, name);
			return EXIT_USAGE;
		}
		a->types[a->ntypes++] = t;
		if (!p[n])
			return -1;
		p += n + 1;
	}
}

/* "wflow CMD: what[ arg]", a hint, exit code 2. */
int cli_usage_error(const char *cmd, const char *what, const char *arg)
{
	fprintf(stderr, "wflow%s%s: %s%s%s\nTry 'wflow %s%s--help'.\n",
	        cmd ? " " : "", cmd ? cmd : "", what, arg ? " " : "",
	        arg ? arg : "", cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}


/* The status named s (any case), or WF_STATUS_NONE. */
wf_status cli_status_by_name(const char *s, size_t n)
{
	for (int st = WF_STATUS_RUNNING; st <= WF_STATUS_SUCCESSFUL; st++) {
		const char *name = wf_status_name((wf_status)st);
		if (strlen(name) == n && strncasecmp(name, s, n) == 0)
			return (wf_status)st;
	}
	return WF_STATUS_NONE;
}


/* Add the statuses of "S[,S...]" to *mask. @return -1 ok, else exit code. */
static int cli_parse_status(const char *cmd, const char *v, unsigned *mask)
{
	const char *p = v;
	for (;;) {
		size_t n = strcspn(p, ",");
		wf_status st = cli_status_by_name(p, n);
		if (st == WF_STATUS_NONE) {
			fprintf(stderr,
			        "wflow %s: --status: unknown status '%.*s' "
			        "(expected RUNNING, FAILED, RESUMABLE, "
			        "CANCELED or SUCCESSFUL)\n",
			        cmd, (int)n, p);
			return EXIT_USAGE;
		}
		*mask |= WF_STATUS_BIT(st);
		if (!p[n])
			return -1;
		p += n + 1;
	}
}






/* Parse "cmd DIR [more positionals] [options]" (options anywhere; "--"
 * ends them). allow says which options cmd takes (OPT_*); min_pos and
 * max_pos bound the positionals, named by pos_names for the "missing"
 * message. @return -1 ok, else exit code. */
int cli_parse_args(int argc, char **argv, const char *cmd, unsigned allow,
                      int min_pos, int max_pos, const char *const *pos_names,
                      cli_args *a)
{
	int only_pos = 0;
	memset(a, 0, sizeof *a);
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (!only_pos && strcmp(s, "--") == 0) {
			only_pos = 1;
		} else if (!only_pos &&
		           (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)) {
			a->help = 1;
		} else if (!only_pos && (allow & OPT_JSON) &&
		           strcmp(s, "--json") == 0) {
			a->json = 1;
		} else if (!only_pos && (allow & OPT_SINCE) &&
		           cli_is_opt(s, "--since")) {
			int rc = point_opt(cmd, "--since", argc, argv, &i,
			                   &a->since);
			if (rc >= 0)
				return rc;
		} else if (!only_pos && (allow & OPT_UNTIL) &&
		           cli_is_opt(s, "--until")) {
			int rc = point_opt(cmd, "--until", argc, argv, &i,
			                   &a->until);
			if (rc >= 0)
				return rc;
		} else if (!only_pos && (allow & OPT_AT) &&
		           cli_is_opt(s, "--at")) {
			int rc = point_opt(cmd, "--at", argc, argv, &i, &a->at);
			if (rc >= 0)
				return rc;
		} else if (!only_pos && (allow & OPT_WORKFLOW) &&
		           cli_is_opt(s, "--workflow")) {
			if (!(a->workflow = cli_opt_value(argc, argv, &i, 10)))
				return cli_usage_error(cmd, "--workflow needs an id",
				                       NULL);
		} else if (!only_pos && (allow & OPT_STEP) &&
		           cli_is_opt(s, "--step")) {
			if (!(a->step = cli_opt_value(argc, argv, &i, 6)))
				return cli_usage_error(cmd, "--step needs a name",
				                       NULL);
		} else if (!only_pos && (allow & OPT_TYPE) &&
		           cli_is_opt(s, "--type")) {
			const char *v = cli_opt_value(argc, argv, &i, 6);
			if (!v)
				return cli_usage_error(cmd, "--type needs an event "
				                       "type", NULL);
			int rc = parse_types(cmd, v, a);
			if (rc >= 0)
				return rc;
		} else if (!only_pos && (allow & OPT_FOLLOW) &&
		           (strcmp(s, "--follow") == 0 || strcmp(s, "-f") == 0)) {
			a->follow = 1;
		} else if (!only_pos && (allow & OPT_OUT) &&
		           (strcmp(s, "-o") == 0 || cli_is_opt(s, "--output"))) {
			const char *v = s[1] == 'o' ? (i + 1 < argc ? argv[++i]
			                                            : NULL)
			                            : cli_opt_value(argc, argv, &i,
			                                            8);
			if (!v || !*v)
				return cli_usage_error(cmd, "-o needs a file name",
				                       NULL);
			a->out = v;
		} else if (!only_pos && (allow & OPT_STATUS) &&
		           cli_is_opt(s, "--status")) {
			const char *v = cli_opt_value(argc, argv, &i, 8);
			if (!v)
				return cli_usage_error(cmd, "--status needs "
				                   "a value", NULL);
			int rc = cli_parse_status(cmd, v, &a->status_mask);
			if (rc >= 0)
				return rc;
		} else if (!only_pos && s[0] == '-' && s[1]) {
			return cli_usage_error(cmd, "unknown option", s);
		} else if (a->npos < max_pos) {
			a->pos[a->npos++] = s;
		} else {
			return cli_usage_error(cmd, "unexpected argument", s);
		}
	}
	if (!a->help && a->npos < min_pos) {
		char what[64];
		snprintf(what, sizeof what, "missing %s", pos_names[a->npos]);
		return cli_usage_error(cmd, what, NULL);
	}
	return -1;
}


/*
 * The journal directory for DIR: DIR/journal if that is a directory, else
 * DIR. Unreadable or missing: message and exit code 2.
 * @return -1 ok (*out malloc'd), else exit code.
 */
int cli_resolve_dir(const char *cmd, const char *dir, char **out)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		fprintf(stderr, "wflow %s: %s: %s\n", cmd, dir,
		        strerror(errno));
		return EXIT_USAGE;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "wflow %s: %s: not a directory\n", cmd, dir);
		return EXIT_USAGE;
	}
	size_t n = strlen(dir);
	char *sub = malloc(n + sizeof "/journal");
	if (!sub) {
		fprintf(stderr, "wflow %s: out of memory\n", cmd);
		return EXIT_USAGE;
	}
	memcpy(sub, dir, n);
	memcpy(sub + n, "/journal", sizeof "/journal");
	if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
		*out = sub;
	} else {
		memcpy(sub, dir, n + 1);
		*out = sub;
	}
	/* Readable? Listing it is what the reader does first. */
	if (access(*out, R_OK | X_OK) != 0) {
		fprintf(stderr, "wflow %s: %s: %s\n", cmd, *out,
		        strerror(errno));
		free(*out);
		*out = NULL;
		return EXIT_USAGE;
	}
	return -1;
}


void cli_read_ahead(wf_reader_opts *o)
{
	o->readahead = wf_parts_cores() >= 2;
}

/* Exit code and message for a failed wf_reader_open. */
int cli_open_failed(const char *cmd, const char *dir, int rc, wf_reader *r)
{
	fprintf(stderr, "wflow %s: %s: %s (%s)\n", cmd, dir,
	        wf_reader_errmsg(r), wf_strerror(rc));
	return rc == WF_ECORRUPT || rc == WF_EINCOMPAT ? EXIT_DAMAGED
	                                               : EXIT_USAGE;
}


void cli_no_segments(const char *cmd, const char *dir)
{
	fprintf(stderr,
	        "wflow %s: %s: no journal here (no *.wfj segment files)\n", cmd,
	        dir);
}


/* Print a JSON string (escaped; see wf_dump_string). */
void cli_json_str(FILE *f, const char *s)
{
	size_t n = strlen(s);
	char *buf = malloc(6 * n + 2);
	if (!buf) {
		fputs("\"\"", f);
		return;
	}
	fwrite(buf, 1, wf_dump_string(buf, s, n), f);
	free(buf);
}


double cli_ratio(uint64_t raw, uint64_t disk)
{
	return disk ? (double)raw / (double)disk : 0.0;
}


void cli_human(char *out, size_t n, uint64_t bytes)
{
	const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	unsigned u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, n, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}


/* 1 if dir holds a segment file. The fold may accept an empty directory as
 * an empty journal; for the tool it is a mistyped DIR, as for verify. */
int cli_has_segments(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int found = 0;
	while (!found && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		found = n > 4 && strcmp(e->d_name + n - 4, ".wfj") == 0;
	}
	closedir(d);
	return found;
}


/*
 * Replay DIR's journal into a fold. Problems are printed.
 * @return -1 ok (*out set), else the exit code.
 */
int cli_load_fold(const char *cmd, const char *dir_arg, wf_fold **out)
{
	return cli_load_fold_only(cmd, dir_arg, NULL, out);
}

/* cli_load_fold_only, as of point at (NULL: all). */
static int load_fold(const char *cmd, const char *dir_arg, const char *id,
                     const wf_fold_at *at, wf_fold **out);

int cli_load_fold_only(const char *cmd, const char *dir_arg, const char *id,
                       wf_fold **out)
{
	return load_fold(cmd, dir_arg, id, NULL, out);
}

int cli_load_fold_at(const char *cmd, const char *dir_arg, const char *id,
                     const cli_point *pt, wf_fold **out)
{
	wf_fold_at at = {pt->is_time, pt->seq, pt->time_ns};
	return load_fold(cmd, dir_arg, id, pt->set ? &at : NULL, out);
}

static int load_fold(const char *cmd, const char *dir_arg, const char *id,
                     const wf_fold_at *at, wf_fold **out)
{
	char *dir;
	int rc = cli_resolve_dir(cmd, dir_arg, &dir);
	if (rc >= 0)
		return rc;
	if (!cli_has_segments(dir)) {
		cli_no_segments(cmd, dir);
		free(dir);
		return EXIT_DAMAGED;
	}
	char err[600] = "";
	int used;
	rc = at  ? wf_fold_load_dir_at(out, dir, id, at, wf_parts_cores(),
	                               (uint64_t)32 << 20, &used, err,
	                               sizeof err)
	     : id ? wf_fold_load_dir_only(out, dir, id, err, sizeof err)
	          : wf_fold_load_dir(out, dir, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "wflow %s: %s: %s (%s)\n", cmd, dir,
		        *err ? err : "cannot replay the journal",
		        wf_strerror(rc));
		free(dir);
		*out = NULL;
		return rc == WF_ECORRUPT || rc == WF_EINCOMPAT ||
		                       rc == WF_ENOTFOUND
		               ? EXIT_DAMAGED
		               : EXIT_USAGE;
	}
	free(dir);
	return -1;
}


/* Print v as pretty JSON and a newline. @return an exit code. */
int cli_print_json(const char *cmd, const cJSON *v)
{
	char *s = cJSON_Print(v);
	if (!s) {
		fprintf(stderr, "wflow %s: out of memory\n", cmd);
		return EXIT_USAGE;
	}
	fputs(s, stdout);
	fputc('\n', stdout);
	free(s);
	return EXIT_INTACT;
}


/* stdout failed (disk full, closed pipe)? Then the output is incomplete:
 * say so, exit 2. */
int cli_finish_stdout(const char *cmd, int code)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "wflow %s: writing to stdout: %s\n", cmd,
		        strerror(errno));
		return EXIT_USAGE;
	}
	return code;
}


/* seconds since the epoch as "2026-11-27T17:25:05.123Z"; "-" if v is not
 * a number. */
void cli_iso_time(char *out, size_t n, const cJSON *v)
{
	if (!cJSON_IsNumber(v))
		snprintf(out, n, "-");
	else
		cli_iso_secs(out, n, v->valuedouble);
}

void cli_iso_secs(char *out, size_t n, double secs)
{
	if (!(secs >= 0) || secs > 253402300799.0) {
		snprintf(out, n, "-");
		return;
	}
	/* Round to milliseconds first, so that .9996 carries into the
	 * seconds instead of printing as .1000. */
	long long ms = (long long)(secs * 1000.0 + 0.5);
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, n, "-");
		return;
	}
	char date[24];
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, n, "%s.%03dZ", date, (int)(ms % 1000));
}


/* A count the fold gives as a number (or as an array of the things). */
long long cli_count_of(const cJSON *v)
{
	if (cJSON_IsNumber(v))
		return (long long)v->valuedouble;
	if (cJSON_IsArray(v))
		return cJSON_GetArraySize(v);
	return -1;
}


void cli_print_count(long long n, int width)
{
	if (n < 0)
		printf("  %*s", width, "-");
	else
		printf("  %*lld", width, n);
}
