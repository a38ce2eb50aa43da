/*
 * Frame headers, checksums and the zstd decoder (format.h has the layout).
 *
 * Parsing never trusts a length: every varint is bounded, the flags must
 * be known ones, and the caller checks comp length against what remains
 * of the file before it reads (or allocates for) the payload.
 */
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>
#include <zstd.h>

#include "frame.h"
#include "varint.h"

static const uint8_t marker[4] = {WF_FRAME_MAGIC0, WF_FRAME_MAGIC1,
                                  WF_FRAME_MAGIC2, WF_FRAME_MAGIC3};

int wf_frame_is_marker(const uint8_t *p)
{
	return memcmp(p, marker, 4) == 0;
}

int wf_frame_parse(const uint8_t *p, size_t avail, wf_frame_hdr *h,
                   const char **why)
{
	if (avail < 4)
		return 1;
	if (!wf_frame_is_marker(p)) {
		*why = "no frame sync marker";
		return WF_ECORRUPT;
	}
	if (avail < WF_FRAME_SUM_START + 1)
		return 1;
	h->checksum = wf_get_u64(p + 4);
	h->flags = p[12];
	if (h->flags & ~WF_FRAME_FLAGS_KNOWN) {
		*why = "unknown frame flags";
		return WF_ECORRUPT;
	}
	size_t off = 13;
	uint64_t *vals[4] = {&h->comp_len, &h->raw_len, &h->count,
	                     &h->first_seq};
	for (int i = 0; i < 4; i++) {
		size_t n = wf_varint_get(p + off, avail - off, vals[i]);
		if (!n) {
			/* Truncated, or a varint longer than 10 bytes. */
			if (avail - off >= WF_VARINT_MAX) {
				*why = "bad varint in frame header";
				return WF_ECORRUPT;
			}
			return 1;
		}
		off += n;
	}
	if (avail - off < 4)
		return 1;
	h->prev_link = wf_get_u32(p + off);
	off += 4;
	h->hdr_len = off;
	if (h->raw_len > WF_FRAME_MAX_RAW || h->count == 0 ||
	    h->count > WF_FRAME_MAX_EVENTS || h->count > h->raw_len ||
	    h->comp_len > WF_FRAME_MAX_RAW + (WF_FRAME_MAX_RAW >> 4) ||
	    h->first_seq == 0 || h->first_seq > WF_SEQ_LIMIT - h->count ||
	    (!(h->flags & WF_FRAME_ZSTD) && h->comp_len != h->raw_len)) {
		*why = "frame header fields out of bounds";
		return WF_ECORRUPT;
	}
	return 0;
}

uint64_t wf_frame_checksum(const uint8_t *frame, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(frame + WF_FRAME_SUM_START,
	                            len - WF_FRAME_SUM_START, seed);
}

size_t wf_frame_put_header(uint8_t *out, const wf_frame_hdr *h)
{
	memcpy(out, marker, 4);
	wf_put_u64(out + 4, 0);
	out[12] = h->flags;
	size_t off = 13;
	off += wf_varint_put(out + off, h->comp_len);
	off += wf_varint_put(out + off, h->raw_len);
	off += wf_varint_put(out + off, h->count);
	off += wf_varint_put(out + off, h->first_seq);
	wf_put_u32(out + off, h->prev_link);
	return off + 4;
}

struct wf_decoder {
	ZSTD_DCtx *dctx;
	int in_stream; /* the previous frame left a usable stream */
};

int wf_decoder_new(wf_decoder **out)
{
	wf_decoder *d = calloc(1, sizeof *d);
	if (!d || !(d->dctx = ZSTD_createDCtx())) {
		free(d);
		*out = NULL;
		return WF_ENOMEM;
	}
	/* The writer never uses windows above 8 MiB (levels <= 19 with our
	 * reset interval); refuse frames asking for more memory than that. */
	ZSTD_DCtx_setParameter(d->dctx, ZSTD_d_windowLogMax, 24);
	*out = d;
	return 0;
}

void wf_decoder_free(wf_decoder *d)
{
	if (!d)
		return;
	ZSTD_freeDCtx(d->dctx);
	free(d);
}

int wf_decoder_frame(wf_decoder *d, const wf_frame_hdr *h,
                     const uint8_t *payload, uint8_t *out, const char **why)
{
	if (!(h->flags & WF_FRAME_ZSTD)) {
		memcpy(out, payload, h->raw_len);
		d->in_stream = 0;
		return 0;
	}
	if (h->flags & WF_FRAME_RESET) {
		ZSTD_DCtx_reset(d->dctx, ZSTD_reset_session_only);
	} else if (!d->in_stream) {
		*why = "frame continues a compression stream whose start was "
		       "not read";
		return WF_ECORRUPT;
	}
	d->in_stream = 0;
	ZSTD_inBuffer in = {payload, h->comp_len, 0};
	/* One spare byte: a payload that decodes to more than raw_len fills
	 * it, and is caught below instead of being cut silently. */
	ZSTD_outBuffer o = {out, h->raw_len + 1, 0};
	for (;;) {
		size_t in0 = in.pos, out0 = o.pos;
		size_t r = ZSTD_decompressStream(d->dctx, &o, &in);
		if (ZSTD_isError(r)) {
			*why = "zstd payload does not decompress";
			return WF_ECORRUPT;
		}
		if (in.pos == in0 && o.pos == out0)
			break;
		if (o.pos > h->raw_len)
			break;
	}
	if (in.pos != in.size || o.pos != h->raw_len) {
		*why = "payload does not decompress to its declared length";
		return WF_ECORRUPT;
	}
	d->in_stream = 1;
	return 0;
}
