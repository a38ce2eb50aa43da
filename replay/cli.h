/*
 * Shared parts of the wflow tool's commands (replay/cli.c): exit codes,
 * argument parsing, the journal of a DIR, the fold of it, output helpers.
 * Each command is a function int cmd_NAME(int argc, char **argv) taking
 * the arguments after its name and returning the exit code.
 */
#ifndef WF_REPLAY_CLI_H
#define WF_REPLAY_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "journal/journal.h"
#include "replay/fold.h"
#include "wflow.h"

/* Exit codes: done / intact (a torn tail is a warning); the journal is
 * damaged, or the thing asked for does not exist; usage or I/O error. */
enum { EXIT_INTACT = 0, EXIT_DAMAGED = 1, EXIT_USAGE = 2 };

/* Options a command accepts (cli_parse_args' allow). */
enum {
	OPT_JSON = 1,
	OPT_SINCE = 2,    /* --since SEQ|TIME */
	OPT_STATUS = 4,   /* --status S[,S...] */
	OPT_UNTIL = 8,    /* --until SEQ|TIME */
	OPT_AT = 16,      /* --at SEQ|TIME */
	OPT_WORKFLOW = 32, /* --workflow ID */
	OPT_STEP = 64,    /* --step NAME */
	OPT_TYPE = 128,   /* --type T[,T...] */
	OPT_FOLLOW = 256, /* --follow, -f */
	OPT_OUT = 512,    /* -o FILE, --output FILE */
};

/* A point of history: a sequence number, or a wall-clock time. */
typedef struct cli_point {
	int set;
	int is_time;
	uint64_t seq;
	int64_t time_ns;
} cli_point;

#define CLI_MAX_POS 8
#define CLI_MAX_TYPES 16

typedef struct cli_args {
	const char *pos[CLI_MAX_POS]; /* positional arguments: DIR first */
	int npos;
	int json;
	cli_point since, until, at;
	unsigned status_mask; /* --status (0: not given) */
	const char *workflow, *step, *out;
	uint16_t types[CLI_MAX_TYPES];
	int ntypes;
	int follow;
	int help;
} cli_args;

extern const char *const cli_dir_only[]; /* {"DIR"} */

/* "wflow CMD: what[ arg]" and a hint on stderr. @return EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *what, const char *arg);

/*
 * Parse "DIR [more positionals] [options]" (options anywhere; "--" ends
 * them). allow: the OPT_* cmd takes; min_pos..max_pos positionals, named
 * by pos_names in the "missing" message. @return -1 ok, else exit code.
 */
int cli_parse_args(int argc, char **argv, const char *cmd, unsigned allow,
                   int min_pos, int max_pos, const char *const *pos_names,
                   cli_args *a);

/* The value of option argv[*i] ("--x V" or "--x=V"; namelen = strlen of
 * "--x"), or NULL if missing. */
const char *cli_opt_value(int argc, char **argv, int *i, size_t namelen);
/* Is s the option name (alone, or followed by "=")? */
int cli_is_opt(const char *s, const char *name);

/*
 * SEQ (a bare integer), epoch seconds ("@1795807896", or with a fraction
 * "1795807896.5"), or ISO 8601 ("2026-11-27T14:02:00Z", a zone offset,
 * fractions; no zone means UTC). @return 0, or -1 if it is none of them.
 */
int cli_parse_point(const char *v, cli_point *pt);
/* 1 if ev is past pt (seq > SEQ, or time > TIME); 0 if pt is not set. */
int cli_point_reached(const cli_point *pt, const wf_event *ev);

/* The status named s (n bytes, any case), or WF_STATUS_NONE. */
wf_status cli_status_by_name(const char *s, size_t n);

/* The journal directory of DIR (DIR/journal if it is one, else DIR),
 * checked readable. @return -1 ok (*out malloc'd), else exit code. */
int cli_resolve_dir(const char *cmd, const char *dir, char **out);
/* 1 if dir holds a segment file. */
int cli_has_segments(const char *dir);
/* Message and exit code for a failed wf_reader_open. */
int cli_open_failed(const char *cmd, const char *dir, int rc, wf_reader *r);
/* For a command that reads the whole journal: with two cores or more, a
 * thread of the reader's checks and decompresses frames ahead while the
 * command decodes and counts (journal.h, readahead; nothing it sees
 * changes). */
void cli_read_ahead(wf_reader_opts *o);
void cli_no_segments(const char *cmd, const char *dir);
/* Replay DIR (from its newest snapshot if any) into a fold; problems are
 * printed. @return -1 ok (*out set), else the exit code. */
int cli_load_fold(const char *cmd, const char *dir_arg, wf_fold **out);
/* The same, folding only workflow id (wf_fold_set_only). */
int cli_load_fold_only(const char *cmd, const char *dir_arg, const char *id,
                       wf_fold **out);
/* The same, as it was at pt (--at SEQ|TIME; all if not set): for SEQ a
 * snapshot that ends by then helps; a long journal is read in parts. */
int cli_load_fold_at(const char *cmd, const char *dir_arg, const char *id,
                     const cli_point *pt, wf_fold **out);

/* Output. */
void cli_json_str(FILE *f, const char *s); /* a JSON string, escaped */
double cli_ratio(uint64_t raw, uint64_t disk);
void cli_human(char *out, size_t n, uint64_t bytes); /* "1.5 MiB" */
int cli_print_json(const char *cmd, const cJSON *v); /* pretty + "\n" */
/* stdout failed? Then say so and return EXIT_USAGE, else code. */
int cli_finish_stdout(const char *cmd, int code);
/* Epoch seconds (a JSON number) as "2026-11-27T17:25:05.123Z", or "-". */
void cli_iso_time(char *out, size_t n, const cJSON *v);
/* The same of a time in seconds since the epoch. */
void cli_iso_secs(char *out, size_t n, double secs);
/* A count given as a number or as an array; -1 if neither. */
long long cli_count_of(const cJSON *v);
void cli_print_count(long long n, int width); /* "  %*lld" or "-" */

/* Long reads, timelines, output files (replay/cli_io.c). */
typedef struct cli_progress cli_progress;
struct wf_timeline;
/* A progress bar on stderr for reading jdir, if stderr is a terminal and
 * the journal is large; else NULL. Stop it (NULL ok) when done. */
cli_progress *cli_progress_start(const char *cmd, const char *what,
                                 const char *jdir);
/* A bar of total things the caller counts with cli_progress_set. */
cli_progress *cli_progress_count(const char *cmd, const char *what,
                                 const char *jdir, uint64_t total);
void cli_progress_set(cli_progress *p, uint64_t done);
void cli_progress_stop(cli_progress *p);
/* The timelines of DIR (of ids, or all when nids is 0); problems printed.
 * @return -1 ok (*out, and *jdir_out if not NULL, malloc'd), else the
 * exit code. */
int cli_timeline_load(const char *cmd, const char *dir_arg,
                      const char *const *ids, size_t nids,
                      struct wf_timeline **out, char **jdir_out);
/* Open path for writing ("-": stdout) through a temporary file (*tmp);
 * cli_outfile_close renames it into place if ok, else removes it.
 * @return the stream, or NULL (message printed). */
FILE *cli_outfile_open(const char *cmd, const char *path, char **tmp);
/* @return -1 ok, else the exit code (message printed). */
int cli_outfile_close(const char *cmd, const char *path, FILE *f, char *tmp,
                      int ok);

/* Commands in files of their own (replay/cmd_*.c). */
int cmd_history(int argc, char **argv);
extern const char usage_history[];
int cmd_stats(int argc, char **argv);
extern const char usage_stats[];
int cmd_trace(int argc, char **argv);
extern const char usage_trace[];
int cmd_report(int argc, char **argv);
extern const char usage_report[];

#endif
