/*
 * Events and batches.
 *
 * An event is encoded as type, time delta, body length, body (format.h).
 * The body length comes first so that a reader can step over an event it
 * cannot decode; fields are self-describing (a kind byte each), so dump and
 * verify decode events of types they have never heard of.
 *
 * A batch is the pending commit: its events, already encoded, in one
 * buffer. Encoding happens in the caller's thread, outside the journal's
 * lock; the commit only compresses and writes. Sequence numbers are not
 * encoded (the frame header carries the first one), which is what makes
 * that possible.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "varint.h"

struct wf_batch {
	uint8_t *buf;
	size_t len, cap;
	uint32_t count;
	int64_t prev_time;
};

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 256;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return WF_ENOMEM;
		n *= 2;
	}
	uint8_t *p = realloc(*buf, n);
	if (!p)
		return WF_ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int wf_event_encode(uint8_t **buf, size_t *len, size_t *cap,
                    const wf_event *ev, int64_t *prev_time)
{
	if (ev->nfields > WF_EVENT_MAX_FIELDS)
		return WF_EINVAL;
	size_t body = 0;
	for (uint32_t i = 0; i < ev->nfields; i++) {
		const wf_field *f = &ev->fields[i];
		switch (f->kind) {
		case WF_FIELD_UINT:
			body += 1 + varint_len(f->v.u);
			break;
		case WF_FIELD_INT:
			body += 1 + varint_len(wf_zigzag(f->v.i));
			break;
		case WF_FIELD_TEXT:
		case WF_FIELD_JSON:
			if (f->v.s.len && !f->v.s.ptr)
				return WF_EINVAL;
			body += 1 + varint_len(f->v.s.len) + f->v.s.len;
			break;
		default:
			return WF_EINVAL;
		}
	}
	/* Deltas are computed in unsigned arithmetic: any two times give a
	 * delta that wraps back exactly in the decoder. */
	uint64_t delta = wf_zigzag((int64_t)((uint64_t)ev->time_ns -
	                                     (uint64_t)*prev_time));
	int rc = reserve(buf, cap, *len + 3 * WF_VARINT_MAX + body);
	if (rc)
		return rc;
	uint8_t *p = *buf + *len;
	p += wf_varint_put(p, ev->type);
	p += wf_varint_put(p, delta);
	p += wf_varint_put(p, body);
	for (uint32_t i = 0; i < ev->nfields; i++) {
		const wf_field *f = &ev->fields[i];
		*p++ = f->kind;
		switch (f->kind) {
		case WF_FIELD_UINT:
			p += wf_varint_put(p, f->v.u);
			break;
		case WF_FIELD_INT:
			p += wf_varint_put(p, wf_zigzag(f->v.i));
			break;
		default:
			p += wf_varint_put(p, f->v.s.len);
			if (f->v.s.len)
				memcpy(p, f->v.s.ptr, f->v.s.len);
			p += f->v.s.len;
			break;
		}
	}
	*len = (size_t)(p - *buf);
	*prev_time = ev->time_ns;
	return 0;
}

int wf_event_decode(const uint8_t *p, size_t len, int64_t *prev_time,
                    wf_event *ev, size_t *used, const char **why)
{
	uint64_t type, delta, body;
	size_t n, off = 0;
	if (!(n = wf_varint_get(p, len, &type)) || type > 0xffff) {
		*why = "bad event type";
		return WF_ECORRUPT;
	}
	off += n;
	if (!(n = wf_varint_get(p + off, len - off, &delta))) {
		*why = "bad event time";
		return WF_ECORRUPT;
	}
	off += n;
	if (!(n = wf_varint_get(p + off, len - off, &body)) ||
	    body > len - off - n) {
		*why = "event body runs past the frame";
		return WF_ECORRUPT;
	}
	off += n;
	ev->type = (uint16_t)type;
	ev->time_ns = (int64_t)((uint64_t)*prev_time +
	                        (uint64_t)wf_unzigzag(delta));
	ev->opaque = 0;
	ev->nfields = 0;
	const uint8_t *b = p + off, *end = b + body;
	*used = off + (size_t)body;
	*prev_time = ev->time_ns;
	while (b < end) {
		uint8_t kind = *b++;
		wf_field *f = &ev->fields[ev->nfields];
		if (kind > WF_FIELD_JSON || ev->nfields == WF_EVENT_MAX_FIELDS) {
			/* A newer writer's encoding: skippable only if the type
			 * says so; the body length lets us step over it. */
			if (type & WF_EVENT_SAFE_IGNORE) {
				ev->opaque = 1;
				ev->nfields = 0;
				return 0;
			}
			*why = kind > WF_FIELD_JSON
			           ? "unknown field kind in an event type that "
			             "may not be ignored (written by a newer wflow?)"
			           : "too many fields in an event type that may "
			             "not be ignored (written by a newer wflow?)";
			return WF_EINCOMPAT;
		}
		uint64_t v;
		if (!(n = wf_varint_get(b, (size_t)(end - b), &v))) {
			*why = "bad field value";
			return WF_ECORRUPT;
		}
		b += n;
		f->kind = kind;
		if (kind == WF_FIELD_UINT) {
			f->v.u = v;
		} else if (kind == WF_FIELD_INT) {
			f->v.i = wf_unzigzag(v);
		} else {
			if (v > (uint64_t)(end - b)) {
				*why = "field text runs past the event";
				return WF_ECORRUPT;
			}
			f->v.s.ptr = (const char *)b;
			f->v.s.len = (size_t)v;
			b += v;
		}
		ev->nfields++;
	}
	return 0;
}

int wf_batch_new(wf_batch **out)
{
	*out = calloc(1, sizeof(wf_batch));
	return *out ? 0 : WF_ENOMEM;
}

void wf_batch_free(wf_batch *b)
{
	if (!b)
		return;
	free(b->buf);
	free(b);
}

void wf_batch_clear(wf_batch *b)
{
	b->len = 0;
	b->count = 0;
	b->prev_time = 0;
}

uint32_t wf_batch_count(const wf_batch *b)
{
	return b->count;
}

size_t wf_batch_size(const wf_batch *b)
{
	return b->len;
}

/* Internal: the writer reads a batch's bytes. */
const uint8_t *wf_batch_bytes(const wf_batch *b);
const uint8_t *wf_batch_bytes(const wf_batch *b)
{
	return b->buf;
}

int wf_batch_add(wf_batch *b, const wf_event *ev)
{
	if (!b || !ev)
		return WF_EINVAL;
	if (b->count == UINT32_MAX || b->count >= WF_FRAME_MAX_EVENTS)
		return WF_EINVAL;
	wf_event tmp;
	const wf_event *e = ev;
	if (ev->time_ns == 0) {
		/* Copy only the header; fields stay borrowed from ev. */
		if (ev->nfields > WF_EVENT_MAX_FIELDS)
			return WF_EINVAL;
		tmp.type = ev->type;
		tmp.time_ns = now_ns();
		tmp.nfields = ev->nfields;
		memcpy(tmp.fields, ev->fields, ev->nfields * sizeof(wf_field));
		e = &tmp;
	}
	int rc = wf_event_encode(&b->buf, &b->len, &b->cap, e, &b->prev_time);
	if (rc == 0)
		b->count++;
	return rc;
}

int wf_batch_add_raw(wf_batch *b, uint16_t type, int64_t time_ns,
                     const void *body, size_t len)
{
	if (!b || (len && !body))
		return WF_EINVAL;
	if (time_ns == 0)
		time_ns = now_ns();
	int rc = reserve(&b->buf, &b->cap, b->len + 3 * WF_VARINT_MAX + len);
	if (rc)
		return rc;
	uint8_t *p = b->buf + b->len;
	p += wf_varint_put(p, type);
	p += wf_varint_put(p, wf_zigzag((int64_t)((uint64_t)time_ns -
	                                          (uint64_t)b->prev_time)));
	p += wf_varint_put(p, len);
	if (len)
		memcpy(p, body, len);
	p += len;
	b->len = (size_t)(p - b->buf);
	b->prev_time = time_ns;
	b->count++;
	return 0;
}
