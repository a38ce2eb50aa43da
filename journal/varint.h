/* LEB128 varints and zigzag; little-endian fixed-width integers. */
#ifndef WF_JOURNAL_VARINT_H
#define WF_JOURNAL_VARINT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define WF_VARINT_MAX 10

/** @return bytes written to p (at most WF_VARINT_MAX). */
static inline size_t wf_varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/** @return bytes read, 0 if truncated or longer than 10 bytes/64 bits. */
static inline size_t wf_varint_get(const uint8_t *p, size_t avail,
                                   uint64_t *out)
{
	if (avail && p[0] < 0x80) { /* the common case: one byte */
		*out = p[0];
		return 1;
	}
	uint64_t v = 0;
	for (size_t i = 0; i < avail && i < WF_VARINT_MAX; i++) {
		uint64_t b = p[i];
		if (i == 9 && b > 1)
			return 0; /* would overflow 64 bits */
		v |= (b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*out = v;
			return i + 1;
		}
	}
	return 0;
}

static inline uint64_t wf_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t wf_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Little-endian fixed-width integers. memcpy compiles to one load or
 * store (the byte loops it replaces were not merged by gcc 12 -O2, and a
 * snapshot's directory check reads half a million of them). */
static inline void wf_put_u32(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	memcpy(p, &v, 4);
}

static inline void wf_put_u64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, 8);
}

static inline uint32_t wf_get_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

static inline uint64_t wf_get_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

#endif
