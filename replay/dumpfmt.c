/*
 * The dump's JSON lines (see dumpfmt.h), written by hand for speed.
 *
 * How: wf_dump_format first reserves the worst case for the whole line (a
 * text byte never takes more than 6 output bytes, "\u00XX" or "\ufffd"),
 * then writes through a plain pointer with no bounds checks in the loops.
 * Text is copied in runs of bytes that need no escape (one table lookup a
 * byte); only quotes, backslashes, control characters and bytes >= 0x80
 * leave the fast loop, the last to have their UTF-8 sequence checked.
 * A JSON field is checked by a small non-recursive validator before it is
 * embedded as is; it allocates nothing, so a payload nested 10,000 deep or
 * a broken one costs the same as any other: at worst it becomes a string.
 */
#include "dumpfmt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "parts.h"

/* Bytes that leave the fast copy loop of a JSON string. */
static const uint8_t special[256] = {
        /* control characters */
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        ['"'] = 1,
        ['\\'] = 1,
        /* >= 0x80: start or middle of a UTF-8 sequence, to be checked */
        [0x80] = 1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
};

static const char hexdig[] = "0123456789abcdef";

/*
 * Length of the well-formed UTF-8 sequence at p (at most n bytes), or 0.
 * Well-formed per Unicode table 3-7: no overlong forms, no surrogates,
 * nothing above U+10FFFF.
 */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	uint8_t lo = 0x80, hi = 0xBF;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return len;
}

size_t wf_dump_string(char *out, const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	char *o = out;
	size_t i = 0;

	*o++ = '"';
	while (i < n) {
		size_t run = i;
		while (run < n && !special[p[run]])
			run++;
		memcpy(o, p + i, run - i);
		o += run - i;
		i = run;
		if (i >= n)
			break;
		uint8_t c = p[i];
		if (c >= 0x80) {
			size_t l = utf8_len(p + i, n - i);
			if (l) {
				memcpy(o, p + i, l);
				o += l;
				i += l;
			} else {
				/* One replacement character per bad byte,
				 * as most decoders do. */
				memcpy(o, "\\ufffd", 6);
				o += 6;
				i++;
			}
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"':
		case '\\':
			*o++ = (char)c;
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		case '\b':
			*o++ = 'b';
			break;
		case '\f':
			*o++ = 'f';
			break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hexdig[c >> 4];
			o[4] = hexdig[c & 15];
			o += 5;
		}
		i++;
	}
	*o++ = '"';
	return (size_t)(o - out);
}

/* ---- JSON validation ----------------------------------------------------- */

/* Deeper nesting than this is printed as a string (valid, but rare enough
 * not to deserve an allocation). */
#define JSON_MAX_DEPTH 1024

typedef struct jscan {
	const uint8_t *p;
	size_t n, i;
	int newline; /* saw a '\n' or '\r' between tokens */
} jscan;

static void js_ws_slow(jscan *s)
{
	while (s->i < s->n) {
		uint8_t c = s->p[s->i];
		if (c == ' ' || c == '\t')
			s->i++;
		else if (c == '\n' || c == '\r') {
			s->newline = 1;
			s->i++;
		} else
			break;
	}
}

/* Compact JSON has no whitespace: test one byte before the loop. */
static inline void js_ws(jscan *s)
{
	if (s->i < s->n && s->p[s->i] <= ' ')
		js_ws_slow(s);
}

static int js_string(jscan *s)
{
	s->i++; /* the opening quote */
	while (s->i < s->n) {
		uint8_t c = s->p[s->i];
		if (!special[c]) {
			s->i++;
			continue;
		}
		if (c == '"') {
			s->i++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (s->i + 1 >= s->n)
				return -1;
			c = s->p[s->i + 1];
			if (c == 'u') {
				if (s->i + 6 > s->n)
					return -1;
				for (size_t k = 2; k < 6; k++) {
					uint8_t h = s->p[s->i + k];
					if (!((h >= '0' && h <= '9') ||
					      (h >= 'a' && h <= 'f') ||
					      (h >= 'A' && h <= 'F')))
						return -1;
				}
				s->i += 6;
			} else if (c && strchr("\"\\/bfnrt", c)) {
				s->i += 2;
			} else
				return -1;
			continue;
		}
		size_t l = utf8_len(s->p + s->i, s->n - s->i);
		if (!l)
			return -1;
		s->i += l;
	}
	return -1;
}

static int js_digits(jscan *s)
{
	size_t start = s->i;
	while (s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9')
		s->i++;
	return s->i > start ? 0 : -1;
}

static int js_number(jscan *s)
{
	if (s->p[s->i] == '-')
		s->i++;
	if (s->i >= s->n)
		return -1;
	if (s->p[s->i] == '0')
		s->i++;
	else if (js_digits(s) < 0)
		return -1;
	if (s->i < s->n && s->p[s->i] == '.') {
		s->i++;
		if (js_digits(s) < 0)
			return -1;
	}
	if (s->i < s->n && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
		s->i++;
		if (s->i < s->n && (s->p[s->i] == '+' || s->p[s->i] == '-'))
			s->i++;
		if (js_digits(s) < 0)
			return -1;
	}
	return 0;
}

static int js_literal(jscan *s, const char *word, size_t len)
{
	if (s->n - s->i < len || memcmp(s->p + s->i, word, len) != 0)
		return -1;
	s->i += len;
	return 0;
}

/*
 * Is p[0..n) exactly one JSON value (RFC 8259, with surrounding
 * whitespace)? *newline is set if line breaks occur between tokens (inside
 * strings they would be invalid).
 */
static int json_valid(const uint8_t *p, size_t n, int *newline)
{
	/* stack[d] is '{' or '[' for each open container */
	uint8_t stack[JSON_MAX_DEPTH];
	size_t depth = 0;
	jscan s = {p, n, 0, 0};

value:
	js_ws(&s);
	if (s.i >= n)
		return 0;
	switch (p[s.i]) {
	case '{':
	case '[':
		if (depth == JSON_MAX_DEPTH)
			return 0;
		stack[depth++] = p[s.i++];
		js_ws(&s);
		if (s.i < n &&
		    p[s.i] == (stack[depth - 1] == '{' ? '}' : ']')) {
			s.i++;
			depth--;
			goto after;
		}
		if (stack[depth - 1] == '{')
			goto key;
		goto value;
	case '"':
		if (js_string(&s) < 0)
			return 0;
		break;
	case 't':
		if (js_literal(&s, "true", 4) < 0)
			return 0;
		break;
	case 'f':
		if (js_literal(&s, "false", 5) < 0)
			return 0;
		break;
	case 'n':
		if (js_literal(&s, "null", 4) < 0)
			return 0;
		break;
	default:
		if (p[s.i] != '-' && (p[s.i] < '0' || p[s.i] > '9'))
			return 0;
		if (js_number(&s) < 0)
			return 0;
	}
after:
	js_ws(&s);
	if (depth == 0) {
		*newline = s.newline;
		return s.i == n;
	}
	if (s.i >= n)
		return 0;
	if (p[s.i] == ',') {
		s.i++;
		if (stack[depth - 1] == '[')
			goto value;
		js_ws(&s);
		goto key;
	}
	if (p[s.i] != (stack[depth - 1] == '{' ? '}' : ']'))
		return 0;
	s.i++;
	depth--;
	goto after;
key:
	if (s.i >= n || p[s.i] != '"' || js_string(&s) < 0)
		return 0;
	js_ws(&s);
	if (s.i >= n || p[s.i] != ':')
		return 0;
	s.i++;
	goto value;
}

/* ---- the line ------------------------------------------------------------ */

static char *put_u64(char *o, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*o++ = tmp[--n];
	return o;
}

static char *put_i64(char *o, int64_t v)
{
	if (v < 0) {
		*o++ = '-';
		return put_u64(o, (uint64_t)0 - (uint64_t)v);
	}
	return put_u64(o, (uint64_t)v);
}

static char *put_str(char *o, const char *s)
{
	size_t n = strlen(s);
	memcpy(o, s, n);
	return o + n;
}

/* A string literal, its length known at compile time. */
#define PUT_LIT(o, lit)                                                        \
	(memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

static char *put_2(char *o, unsigned v)
{
	o[0] = (char)('0' + v / 10 % 10);
	o[1] = (char)('0' + v % 10);
	return o + 2;
}

/*
 * "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" in UTC, without gmtime (slow, and takes
 * the locale lock): days to civil date after Howard Hinnant's
 * days_from_civil inverse, which is exact for every int64 ns time.
 */
static char *put_time(char *o, int64_t ns)
{
	int64_t secs = ns / 1000000000, frac = ns % 1000000000;
	if (frac < 0) {
		frac += 1000000000;
		secs--;
	}
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;

	*o++ = '"';
	if (y < 0) {
		*o++ = '-';
		y = -y;
	}
	o = put_2(o, (unsigned)(y / 100));
	o = put_2(o, (unsigned)(y % 100));
	*o++ = '-';
	o = put_2(o, (unsigned)m);
	*o++ = '-';
	o = put_2(o, (unsigned)d);
	*o++ = 'T';
	o = put_2(o, (unsigned)(sod / 3600));
	*o++ = ':';
	o = put_2(o, (unsigned)(sod / 60 % 60));
	*o++ = ':';
	o = put_2(o, (unsigned)(sod % 60));
	*o++ = '.';
	for (int k = 8; k >= 0; k--) {
		o[k] = (char)('0' + frac % 10);
		frac /= 10;
	}
	o += 9;
	*o++ = 'Z';
	*o++ = '"';
	return o;
}

static char *put_name(char *o, const wf_event_schema *sc, uint32_t i)
{
	*o++ = '"';
	if (sc && i < sc->nfields && sc->fields[i])
		o = put_str(o, sc->fields[i]);
	else {
		*o++ = 'f';
		o = put_u64(o, i);
	}
	*o++ = '"';
	*o++ = ':';
	return o;
}

static char *put_json(char *o, const wf_field *f)
{
	const uint8_t *p = (const uint8_t *)f->v.s.ptr;
	size_t n = f->v.s.len;
	int newline = 0;

	if (!json_valid(p, n, &newline))
		return o + wf_dump_string(o, f->v.s.ptr, n);
	memcpy(o, p, n);
	if (newline)
		for (size_t i = 0; i < n; i++)
			if (o[i] == '\n' || o[i] == '\r')
				o[i] = ' ';
	return o + n;
}

int wf_dump_format(char **buf, size_t *cap, size_t *len, const wf_event *ev)
{
	uint32_t nf = ev->opaque ? 0 : ev->nfields;
	if (nf > WF_EVENT_MAX_FIELDS)
		nf = WF_EVENT_MAX_FIELDS;

	/* Worst case: fixed parts, then per field its name and 6 bytes per
	 * byte of text (or a number). Names of schema fields are short. */
	size_t need = 160;
	for (uint32_t i = 0; i < nf; i++) {
		const wf_field *f = &ev->fields[i];
		need += 64 + 24;
		if (f->kind == WF_FIELD_TEXT || f->kind == WF_FIELD_JSON) {
			if (f->v.s.len > (SIZE_MAX - need) / 6 - 2)
				return WF_ENOMEM;
			need += 6 * f->v.s.len + 2;
		}
	}
	if (*cap - *len < need) {
		size_t ncap = *cap ? *cap : 4096;
		while (ncap - *len < need) {
			if (ncap > SIZE_MAX / 2)
				return WF_ENOMEM;
			ncap *= 2;
		}
		char *nb = realloc(*buf, ncap);
		if (!nb)
			return WF_ENOMEM;
		*buf = nb;
		*cap = ncap;
	}

	char *o = *buf + *len;
	const wf_event_schema *sc = wf_event_schema_find(ev->type);

	o = PUT_LIT(o, "{\"seq\":");
	o = put_u64(o, ev->seq);
	o = PUT_LIT(o, ",\"time\":");
	o = put_time(o, ev->time_ns);
	o = PUT_LIT(o, ",\"type\":");
	if (sc && !ev->opaque) {
		*o++ = '"';
		o = put_str(o, sc->name);
		*o++ = '"';
	} else
		o = put_u64(o, ev->type);
	if (ev->opaque) {
		o = PUT_LIT(o, ",\"opaque\":true}\n");
		*len = (size_t)(o - *buf);
		return 0;
	}

	o = PUT_LIT(o, ",\"fields\":{");
	int first = 1;
	for (uint32_t i = 0; i < nf; i++) {
		const wf_field *f = &ev->fields[i];
		if (f->kind == WF_FIELD_JSON)
			continue;
		if (!first)
			*o++ = ',';
		first = 0;
		o = put_name(o, sc, i);
		switch (f->kind) {
		case WF_FIELD_UINT:
			o = put_u64(o, f->v.u);
			break;
		case WF_FIELD_INT:
			o = put_i64(o, f->v.i);
			break;
		case WF_FIELD_TEXT:
			o += wf_dump_string(o, f->v.s.ptr, f->v.s.len);
			break;
		default:
			/* The reader never returns other kinds; should a
			 * future one slip through, keep the line valid. */
			o = PUT_LIT(o, "null");
		}
	}
	o = PUT_LIT(o, "},\"payloads\":{");
	first = 1;
	for (uint32_t i = 0; i < nf; i++) {
		const wf_field *f = &ev->fields[i];
		if (f->kind != WF_FIELD_JSON)
			continue;
		if (!first)
			*o++ = ',';
		first = 0;
		o = put_name(o, sc, i);
		o = put_json(o, f);
	}
	o = PUT_LIT(o, "}}\n");
	*len = (size_t)(o - *buf);
	return 0;
}

/* ---- filters, and one workflow's lines read in parts ---- */

int wf_dump_wanted(const wf_dump_filter *f, const wf_event *ev, int *started)
{
	/* Wall-clock times go back a little under concurrent commits: from
	 * the first event at or after since_ns on, every event is in. */
	if (f->since_time && !*started) {
		if (ev->time_ns < f->since_ns)
			return 0;
		*started = 1;
	}
	if (f->ntypes) {
		int hit = 0;
		for (int i = 0; i < f->ntypes && !hit; i++)
			hit = ev->type == f->types[i];
		if (!hit)
			return 0;
	}
	int scoped = ev->type != WF_EV_SESSION_STARTED && ev->type != WF_EV_NOTICE;
	if (f->workflow) {
		size_t n = strlen(f->workflow);
		if (!scoped || !ev->nfields || ev->fields[0].kind != WF_FIELD_TEXT ||
		    ev->fields[0].v.s.len != n ||
		    memcmp(ev->fields[0].v.s.ptr, f->workflow, n) != 0)
			return 0;
	}
	if (f->step) {
		/* Events that name a step carry its id second. */
		int has_step = ev->type == WF_EV_STEP_STARTED ||
		               ev->type == WF_EV_STEP_SUCCEEDED ||
		               ev->type == WF_EV_STEP_FAILED ||
		               ev->type == WF_EV_CONTINUATION ||
		               ev->type == WF_EV_ACTOR_STATE;
		if (!has_step || ev->nfields < 2 ||
		    ev->fields[1].kind != WF_FIELD_TEXT)
			return 0;
		const char *id = ev->fields[1].v.s.ptr;
		size_t idn = ev->fields[1].v.s.len, n = strlen(f->step);
		int same = idn == n && memcmp(id, f->step, n) == 0;
		/* A name matches its numbered ids too: add -> add_1 (the
		 * engine's numbers have no leading 0). */
		int numbered = idn > n + 1 && memcmp(id, f->step, n) == 0 &&
		               id[n] == '_' && id[n + 1] >= '1' && id[n + 1] <= '9';
		if (numbered)
			for (size_t k = n + 1; k < idn; k++)
				numbered &= id[k] >= '0' && id[k] <= '9';
		if (!same && !numbered)
			return 0;
	}
	return 1;
}

typedef struct dump_lines {
	const wf_dump_filter *f;
	char **buf;
	size_t *cap, *len;
} dump_lines;

static int parts_want(const void *ctx, const wf_event *ev)
{
	int started = 1; /* (no since_time here) */
	return wf_dump_wanted(ctx, ev, &started);
}

/* fn of the parts (parts.h): every event of the first part, the kept
 * ones of the others, in order. */
static int parts_line(void *ctx, const wf_event *ev)
{
	const dump_lines *c = ctx;
	return parts_want(c->f, ev) ? wf_dump_format(c->buf, c->cap, c->len, ev)
	                            : 0;
}

int wf_dump_parts(wf_reader *r, const char *jdir, uint64_t from,
                  const wf_dump_filter *f, int nparts, uint64_t min_bytes,
                  wf_damage_fn on_damage, void *damage_ud, char **buf,
                  size_t *cap, size_t *len, int *used)
{
	*used = 1;
	if (f->since_time)
		return 1; /* what is in depends on every event before */
	size_t len0 = *len;
	dump_lines c = {f, buf, cap, len};
	wf_parts_opts o = {.nparts = nparts, .min_bytes = min_bytes,
	                   .want = parts_want, .want_ctx = f,
	                   .fn = parts_line, .fn_ctx = &c,
	                   .on_damage = on_damage, .damage_ud = damage_ud};
	wf_parts_result res;
	int rc = wf_parts_scan(r, jdir, from, &o, &res);
	if (rc == 0)
		*used = res.used;
	else
		*len = len0;
	return rc;
}
