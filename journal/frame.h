/*
 * Frames, independent of the file that holds them (see format.h): encode a
 * batch's raw events into a frame, parse and check a frame header, decode a
 * frame's payload, decode events. Pure functions over memory plus two
 * zstd contexts; segment.c, writer.c, reader.c and the fuzzers use them.
 */
#ifndef WF_JOURNAL_FRAME_H
#define WF_JOURNAL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "journal.h"

typedef struct wf_frame_hdr {
	uint64_t checksum;
	uint8_t flags;
	uint64_t comp_len;
	uint64_t raw_len;
	uint64_t count;
	uint64_t first_seq;
	uint32_t prev_link;
	size_t hdr_len; /**< bytes of header before the payload */
} wf_frame_hdr;

/**
 * Parse a frame header from p[0..avail).
 * @return 0 parsed; 1 need more bytes (avail too small: at the end of a file
 *         this is an incomplete frame); WF_ECORRUPT bad marker, flags,
 *         varint or bounds (*why says which).
 */
int wf_frame_parse(const uint8_t *p, size_t avail, wf_frame_hdr *h,
                   const char **why);

/** XXH3 checksum of a whole frame (header + payload, hdr_len+comp_len). */
uint64_t wf_frame_checksum(const uint8_t *frame, size_t len, uint64_t seed);

/** @return 1 if p starts with the frame sync marker. */
int wf_frame_is_marker(const uint8_t *p);

/** Encode a varint-based header into out (WF_FRAME_HDR_MAX bytes), without
 * the checksum (filled by the caller). @return header length. */
size_t wf_frame_put_header(uint8_t *out, const wf_frame_hdr *h);

/* ---- events in a raw payload ---- */

/**
 * Decode one event from p[0..len).
 * @param prev_time the previous event's time in this frame (0 first);
 *        updated.
 * @param used receives the bytes consumed.
 * @return 0; WF_ECORRUPT (truncated/overlong, *why says which);
 *         WF_EINCOMPAT (unknown field kind in a type without SAFE_IGNORE).
 */
int wf_event_decode(const uint8_t *p, size_t len, int64_t *prev_time,
                    wf_event *ev, size_t *used, const char **why);

/** Append ev's encoding to *buf (growing it). */
int wf_event_encode(uint8_t **buf, size_t *len, size_t *cap,
                    const wf_event *ev, int64_t *prev_time);

/* ---- zstd ---- */

typedef struct wf_decoder wf_decoder;
int wf_decoder_new(wf_decoder **out);
void wf_decoder_free(wf_decoder *d);
/**
 * Decompress a frame's payload into out (raw_len bytes, allocated by the
 * caller). A reset frame starts a new stream; any other continues the
 * stream of the frames decoded before it.
 * @return 0 or WF_ECORRUPT (*why says which).
 */
int wf_decoder_frame(wf_decoder *d, const wf_frame_hdr *h,
                     const uint8_t *payload, uint8_t *out, const char **why);

#endif
