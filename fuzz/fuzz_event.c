/*
 * Fuzz target for what decodes and interprets events: the event codec
 * (journal/event.c), the engine's event vocabulary (replay/events.c), the
 * fold that turns events into state (replay/fold.c: DAG scanner, step and
 * attempt bookkeeping, actors' JSON Patch, freezing), the dump's JSON
 * lines (replay/dumpfmt.c), wflow verify's JSON and logical checks
 * (journal/jsoncheck.c, replay/logic.c), and get_metadata's answers.
 *
 * Input: one byte of options, then events back to back as in a frame's
 * decompressed payload (type, time delta, body). Event i gets sequence
 * number i + 1. Options: bit 0, freeze finished workflows (the default of
 * the engine); bit 1, fold only the workflow named by the first event's
 * first field (wflow meta's mode).
 *
 * Invariants checked (a failure aborts, which the fuzzer reports):
 *  - no crash, no sanitizer report, no leak;
 *  - every dump line is valid JSON (dumpfmt.h promises it for any bytes);
 *  - a JSON field that wflow verify calls valid parses with cJSON (so a
 *    journal verify passes can be replayed);
 *  - an event the fold refuses leaves the fold's answers unchanged;
 *  - a snapshot of the fold (wf_fold_save, wf_fold_restore) gives the same
 *    answers (list and every workflow's metadata) as the fold itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal/frame.h"
#include "journal/journal.h"
#include "journal/jsoncheck.h"
#include "replay/dumpfmt.h"
#include "replay/events.h"
#include "replay/fold.h"
#include "replay/logic.h"

#include "fuzz_fold.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENTS 4096

static void check_json_fields(const wf_event *ev)
{
	for (uint32_t i = 0; i < ev->nfields; i++) {
		const wf_field *fl = &ev->fields[i];
		if (fl->kind != WF_FIELD_JSON ||
		    !wf_json_valid(fl->v.s.ptr, fl->v.s.len))
			continue;
		cJSON *j = cJSON_ParseWithLength(fl->v.s.ptr, fl->v.s.len);
		if (!j) {
			char shown[200];
			snprintf(shown, sizeof shown, "%.*s",
			         (int)(fl->v.s.len < 150 ? fl->v.s.len : 150),
			         fl->v.s.ptr);
			fuzz_fail("verify accepts JSON that cJSON refuses", shown);
		}
		cJSON_Delete(j);
	}
}

static void check_dump(const wf_event *ev, char **buf, size_t *cap)
{
	size_t len = 0;
	if (wf_dump_format(buf, cap, &len, ev) != 0)
		return;
	if (!wf_json_valid(*buf, len))
		fuzz_fail("a dump line is not JSON", *buf);
}

/* A fold with options opts; NULL when out of memory. */
static wf_fold *new_fold(unsigned opts, const wf_event *first)
{
	wf_fold *f;
	if (wf_fold_new(&f) != 0)
		return NULL;
	wf_fold_set_freezing(f, opts & 1);
	if ((opts & 2) && first && first->nfields &&
	    first->fields[0].kind == WF_FIELD_TEXT) {
		char id[256];
		if (wf_event_text(first, 0, id, sizeof id) == 0)
			wf_fold_set_only(f, id);
	}
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	unsigned opts = data[0];
	data++;
	size--;
	/* Decode everything first (the events point into data). */
	wf_event *evs = malloc(MAX_EVENTS * sizeof *evs);
	if (!evs)
		return 0;
	size_t n = 0, off = 0;
	int64_t t = 0;
	while (off < size && n < MAX_EVENTS) {
		size_t used = 0;
		const char *why = NULL;
		if (wf_event_decode(data + off, size - off, &t, &evs[n], &used,
		                    &why) != 0)
			break;
		evs[n].seq = n + 1;
		n++;
		off += used;
	}
	/* f folds every event; g, the reference, only those f accepted:
	 * after a refusal both must answer the same. */
	const wf_event *first = n ? &evs[0] : NULL;
	wf_fold *f = new_fold(opts, first), *g = new_fold(opts, first);
	wf_logic *lg = NULL;
	if (!f || !g || wf_logic_new(&lg) != 0) {
		wf_fold_free(f);
		wf_fold_free(g);
		free(evs);
		return 0;
	}
	char *line = NULL;
	size_t cap = 0;
	int refusals = 0;
	for (size_t i = 0; i < n; i++) {
		const wf_event *ev = &evs[i];
		char buf[300];
		(void)wf_event_schema_find(ev->type);
		for (unsigned k = 0; k < ev->nfields; k++)
			(void)wf_event_text(ev, k, buf, sizeof buf);
		(void)wf_event_status(ev, 1);
		check_dump(ev, &line, &cap);
		check_json_fields(ev);
		wf_logic_event(lg, ev);
		char err[600];
		int rc = wf_fold_apply(f, ev, err, sizeof err);
		if (rc == 0) {
			if (wf_fold_apply(g, ev, err, sizeof err) != 0)
				fuzz_fail("the reference fold refuses an event", err);
			continue;
		}
		if (rc == WF_ENOMEM || refusals++ >= 8)
			continue; /* (bounded: comparing costs) */
		char id[256];
		const char *only = wf_event_text(ev, 0, id, sizeof id) == 0 ? id
		                                                            : NULL;
		char *a = fuzz_answers(f, 1, only), *b = fuzz_answers(g, 1, only);
		if (a && b && strcmp(a, b) != 0) {
			fprintf(stderr, "event seq %zu: %s\nrefused: %s\nreference: "
			        "%s\n", i + 1, err, a, b);
			fuzz_fail("a refused event changed the fold", NULL);
		}
		free(a);
		free(b);
	}
	wf_logic_finish(lg);
	size_t ni;
	uint64_t errors, warnings;
	(void)wf_logic_issues(lg, &ni, &errors, &warnings);
	char *want = fuzz_answers(f, 1, NULL);
	fuzz_check_restore(f, want);
	free(want);
	free(line);
	wf_logic_free(lg);
	wf_fold_free(f);
	wf_fold_free(g);
	free(evs);
	return 0;
}
