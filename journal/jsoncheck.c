/*
 * JSON validation without allocation (see jsoncheck.h): a loop over the
 * bytes with an explicit stack of open containers (one bit each: object or
 * array), and a state for what may come next.
 */
#include "jsoncheck.h"

#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_DEPTH 1000

static const char *ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* A string at p (the opening quote). @return past the closing quote, or
 * NULL. */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Does any byte of x equal 0 / lie below 0x20? (The classic bit tricks:
 * a borrow out of a byte sets its high bit. They may flag a byte after a
 * true one as well, never miss one: a flagged word is rescanned bytewise.) */
static int special8(uint64_t x)
{
	uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
	return (((q - ONES) & ~q) | ((b - ONES) & ~b) |
	        ((x - ONES * 0x20) & ~x)) & HIGHS
	               ? 1
	               : 0;
}

static const char *string(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
	              ctl = _mm_set1_epi8(0x1f);
#endif
	p++;
	while (p < end) {
		/* Most of a journal's JSON is plain string bytes: skip
		 * them sixteen (SSE2, every x86-64) or eight at a time. */
#ifdef __SSE2__
		while (end - p >= 16) {
			__m128i x = _mm_loadu_si128((const __m128i *)p);
			__m128i hit = _mm_or_si128(
				_mm_or_si128(_mm_cmpeq_epi8(x, quote),
				             _mm_cmpeq_epi8(x, bslash)),
				/* c < 0x20, unsigned: min(c, 0x1f) == c */
				_mm_cmpeq_epi8(_mm_min_epu8(x, ctl), x));
			int m = _mm_movemask_epi8(hit);
			if (m) {
				p += __builtin_ctz((unsigned)m);
				break;
			}
			p += 16;
		}
#endif
		while (end - p >= 8) {
			uint64_t x;
			memcpy(&x, p, 8);
			if (special8(x))
				break;
			p += 8;
		}
		if (p >= end)
			break;
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL;
		if (c != '\\') {
			/* Skip a run of plain bytes quickly. */
			p++;
			continue;
		}
		if (++p >= end)
			return NULL;
		switch (*p) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			p++;
			break;
		case 'u':
			if (end - p < 5 || !hex(p[1]) || !hex(p[2]) || !hex(p[3]) ||
			    !hex(p[4]))
				return NULL;
			p += 5;
			break;
		default:
			return NULL;
		}
	}
	return NULL;
}

/* A number at p. @return past it, or NULL. */
static const char *number(const char *p, const char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p >= end)
		return NULL;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	} else {
		return NULL;
	}
	if (p < end && *p == '.') {
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return NULL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return NULL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

static const char *literal(const char *p, const char *end, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(end - p) < n || memcmp(p, w, n) != 0)
		return NULL;
	return p + n;
}

int wf_json_valid(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	uint8_t stack[(MAX_DEPTH + 7) / 8]; /* 1: object, 0: array */
	int depth = 0;
	for (;;) {
		/* A value is expected here. */
		p = ws(p, end);
		if (p >= end)
			return 0;
		switch (*p) {
		case '{':
		case '[': {
			if (depth == MAX_DEPTH)
				return 0;
			int obj = *p == '{';
			if (obj)
				stack[depth / 8] |= (uint8_t)(1u << (depth % 8));
			else
				stack[depth / 8] &= (uint8_t)~(1u << (depth % 8));
			depth++;
			p = ws(p + 1, end);
			if (p < end && *p == (obj ? '}' : ']')) {
				depth--;
				p++;
				break; /* empty: the value is complete */
			}
			if (obj) {
				if (p >= end || *p != '"' || !(p = string(p, end)))
					return 0;
				p = ws(p, end);
				if (p >= end || *p != ':')
					return 0;
				p++;
			}
			continue; /* now the first element's value */
		}
		case '"':
			p = string(p, end);
			break;
		case 't':
			p = literal(p, end, "true");
			break;
		case 'f':
			p = literal(p, end, "false");
			break;
		case 'n':
			p = literal(p, end, "null");
			break;
		default:
			p = number(p, end);
			break;
		}
		if (!p)
			return 0;
		/* A value is complete: close containers, or go to the next
		 * element. */
		for (;;) {
			p = ws(p, end);
			if (depth == 0)
				return p == end;
			if (p >= end)
				return 0;
			int obj = (stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
			if (*p == ',') {
				p = ws(p + 1, end);
				if (obj) {
					if (p >= end || *p != '"' ||
					    !(p = string(p, end)))
						return 0;
					p = ws(p, end);
					if (p >= end || *p != ':')
						return 0;
					p++;
				}
				break; /* the next value */
			}
			if (*p != (obj ? '}' : ']'))
				return 0;
			depth--;
			p++;
		}
	}
}
