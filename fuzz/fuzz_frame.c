/*
 * Fuzz target for the frame decoder on its own (journal/frame.c): frame
 * headers, the zstd stream that runs through a segment's frames, and the
 * events in each decoded payload. No files and no checksums are involved
 * (fuzz_journal covers the segment files and the reader around them), so
 * every input byte reaches a decoder.
 *
 * The input is a segment's body: frames back to back, as they follow the
 * 64-byte segment header. Frames are parsed and decoded in order with one
 * decoder, as a reader does, until one does not parse.
 *
 * Invariants checked (a failure aborts, which the fuzzer reports):
 *  - no crash, no sanitizer report, no leak;
 *  - a parsed header encodes back (wf_frame_put_header) to bytes that
 *    parse to the same fields;
 *  - every event decoded from a payload encodes back (wf_event_encode)
 *    to bytes that decode to the same event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal/format.h"
#include "journal/frame.h"
#include "journal/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Payloads above this are skipped: zstd can declare 256 MiB of zeros in
 * a few bytes, and decoding that on every run would only make the fuzzer
 * slow (the reader's bound is the format's, checked by wf_frame_parse). */
#define MAX_RAW ((uint64_t)1 << 20)

static void fail(const char *what, uint64_t a, uint64_t b)
{
	fprintf(stderr, "fuzz_frame: %s (%llu vs %llu)\n", what,
	        (unsigned long long)a, (unsigned long long)b);
	abort();
}

/* Re-encode a parsed header and parse it again: the same fields. */
static void check_header(const wf_frame_hdr *h)
{
	uint8_t buf[WF_FRAME_HDR_MAX];
	size_t n = wf_frame_put_header(buf, h);
	if (n > WF_FRAME_HDR_MAX || n < WF_FRAME_HDR_MIN)
		fail("encoded header size out of bounds", n, WF_FRAME_HDR_MAX);
	wf_frame_hdr g;
	const char *why = NULL;
	int rc = wf_frame_parse(buf, n, &g, &why);
	if (rc != 0)
		fail("re-encoded header does not parse", (uint64_t)rc, 0);
	if (g.flags != h->flags || g.comp_len != h->comp_len ||
	    g.raw_len != h->raw_len || g.count != h->count ||
	    g.first_seq != h->first_seq || g.prev_link != h->prev_link ||
	    g.hdr_len != n)
		fail("re-encoded header parses differently", g.raw_len,
		     h->raw_len);
}

static int same_field(const wf_field *a, const wf_field *b)
{
	if (a->kind != b->kind)
		return 0;
	if (a->kind == WF_FIELD_UINT)
		return a->v.u == b->v.u;
	if (a->kind == WF_FIELD_INT)
		return a->v.i == b->v.i;
	return a->v.s.len == b->v.s.len &&
	       (a->v.s.len == 0 ||
	        memcmp(a->v.s.ptr, b->v.s.ptr, a->v.s.len) == 0);
}

/* Encode ev (its time relative to prev) and decode it again. */
static void check_event(const wf_event *ev)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, used = 0;
	int64_t t_enc = 0, t_dec = 0;
	if (wf_event_encode(&buf, &len, &cap, ev, &t_enc) != 0)
		fail("a decoded event does not encode", ev->nfields, 0);
	wf_event back;
	const char *why = NULL;
	if (wf_event_decode(buf, len, &t_dec, &back, &used, &why) != 0)
		fail("a re-encoded event does not decode", len, 0);
	if (used != len || back.type != ev->type ||
	    back.time_ns != ev->time_ns || back.nfields != ev->nfields ||
	    back.opaque)
		fail("a re-encoded event decodes differently", back.nfields,
		     ev->nfields);
	for (uint32_t i = 0; i < ev->nfields; i++)
		if (!same_field(&back.fields[i], &ev->fields[i]))
			fail("a re-encoded field decodes differently", i,
			     ev->fields[i].kind);
	free(buf);
}

/* Step through the events of a decoded payload, as the reader does. */
static void decode_events(const uint8_t *raw, size_t len, uint64_t count)
{
	size_t off = 0;
	int64_t t = 0;
	for (uint64_t i = 0; i < count && off <= len; i++) {
		wf_event ev;
		size_t used = 0;
		const char *why = NULL;
		int64_t before = t;
		if (wf_event_decode(raw + off, len - off, &t, &ev, &used,
		                    &why) != 0)
			return;
		if (used == 0 || used > len - off)
			fail("event decoder consumed a bad length", used,
			     len - off);
		if (!ev.opaque) {
			/* Its time is relative to the event before it. */
			wf_event rel = ev;
			rel.time_ns = (int64_t)((uint64_t)ev.time_ns -
			                        (uint64_t)before);
			check_event(&rel);
		}
		off += used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wf_decoder *d;
	if (wf_decoder_new(&d) != 0)
		return 0;
	uint8_t *raw = NULL;
	size_t off = 0;
	while (off < size) {
		wf_frame_hdr h;
		const char *why = NULL;
		if (wf_frame_parse(data + off, size - off, &h, &why) != 0)
			break;
		check_header(&h);
		if (h.comp_len > size - off - h.hdr_len)
			break; /* runs past the input, as past a file's end */
		size_t total = h.hdr_len + (size_t)h.comp_len;
		(void)wf_frame_checksum(data + off, total, 0x5a5a5a5a5a5a5a5aull);
		if (h.raw_len > MAX_RAW)
			break;
		uint8_t *p = realloc(raw, (size_t)h.raw_len + 1);
		if (!p)
			break;
		raw = p;
		if (wf_decoder_frame(d, &h, data + off + h.hdr_len, raw, &why) ==
		    0)
			decode_events(raw, (size_t)h.raw_len, h.count);
		off += total;
	}
	free(raw);
	wf_decoder_free(d);
	return 0;
}
