/*
 * Fuzz target for the wflow tool's argument parsing (replay/cli.c, which
 * the tool links and the library does not): options anywhere, "--",
 * "--x V" and "--x=V", SEQ|ISO 8601|@epoch points of history, status and
 * event type lists, positional ids; and the JSON string writer the tool
 * prints ids with (wf_dump_string).
 *
 * Input: two bytes of options (which OPT_* the command allows, and how
 * many positionals it takes), then the arguments, separated by NUL bytes.
 *
 * Invariants checked (a failure aborts, which the fuzzer reports):
 *  - no crash, no sanitizer report, no leak;
 *  - a parse that succeeds has its positionals within the bounds asked;
 *  - a time point prints (cli_iso_time) to a text that parses back to the
 *    same time, to the millisecond;
 *  - any bytes written as a JSON string (wf_dump_string) are valid JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal/jsoncheck.h"
#include "replay/cli.h"
#include "replay/dumpfmt.h"
#include "replay/events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

static void fail(const char *what, const char *arg)
{
	fprintf(stderr, "fuzz_cli: %s: [%s]\n", what, arg ? arg : "");
	abort();
}

/* A time point printed and parsed again: the same millisecond. */
static void check_time(const char *arg, const cli_point *pt)
{
	if (!pt->is_time || pt->time_ns < 0)
		return;
	cJSON *secs = cJSON_CreateNumber((double)pt->time_ns / 1e9);
	if (!secs)
		return;
	char text[64];
	cli_iso_time(text, sizeof text, secs);
	cJSON_Delete(secs);
	if (strcmp(text, "-") == 0)
		return; /* past what the tool prints (year 9999) */
	cli_point back;
	if (cli_parse_point(text, &back) != 0 || !back.is_time)
		fail("a printed time does not parse", text);
	int64_t ms = pt->time_ns / 1000000, got = back.time_ns / 1000000;
	if (ms - got > 1 || got - ms > 1)
		fail("a printed time parses to another time", arg);
}

static void check_string(const char *s, size_t n)
{
	char *out = malloc(6 * n + 2);
	if (!out)
		return;
	size_t len = wf_dump_string(out, s, n);
	if (len > 6 * n + 2 || !wf_json_valid(out, len))
		fail("a JSON string is not JSON", s);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		/* The parser explains refusals on stderr: not the fuzzer's
		 * business (its own reports do not go through this stream). */
		FILE *null = fopen("/dev/null", "w");
		if (null)
			stderr = null;
		quiet = 1;
	}
	if (size < 2 || size > 4096)
		return 0;
	unsigned allow = (unsigned)data[0] | ((unsigned)(data[1] & 3) << 8);
	int min_pos = (data[1] >> 2) & 3;
	int max_pos = min_pos + ((data[1] >> 4) % (CLI_MAX_POS - min_pos + 1));
	/* The arguments: NUL-separated, in a copy that ends with one. */
	char *buf = malloc(size - 1);
	char *argv[MAX_ARGS + 1];
	int argc = 0;
	if (!buf)
		return 0;
	memcpy(buf, data + 2, size - 2);
	buf[size - 2] = '\0';
	for (char *p = buf; p < buf + size - 1 && argc < MAX_ARGS;
	     p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;

	static const char *const names[] = {"DIR", "ID", "STEP", "A4",
	                                    "A5",  "A6", "A7",   "A8"};
	cli_args a;
	int rc = cli_parse_args(argc, argv, "fuzz", allow, min_pos, max_pos,
	                        names, &a);
	if (rc < 0 && (a.npos > max_pos || (!a.help && a.npos < min_pos)))
		fail("positionals out of bounds", argv[0]);
	if (rc < 0 && a.ntypes > CLI_MAX_TYPES)
		fail("too many types", argv[0]);

	for (int i = 0; i < argc; i++) {
		cli_point pt;
		if (cli_parse_point(argv[i], &pt) == 0)
			check_time(argv[i], &pt);
		(void)cli_status_by_name(argv[i], strlen(argv[i]));
		(void)wf_event_type_by_name(argv[i]);
		(void)cli_is_opt(argv[i], "--since");
		check_string(argv[i], strlen(argv[i]));
	}
	/* The whole input as one string (NUL bytes included). */
	check_string((const char *)data, size);
	free(buf);
	return 0;
}
