/*
 * Event encoding: the varint helpers, wf_event_encode/wf_event_decode
 * (byte-exact against format.h, round trips, every truncation, overlong
 * varints, lengths past the end, random garbage: WF_ECORRUPT, never a crash
 * or a read out of bounds), unknown field kinds (SAFE_IGNORE types read as
 * opaque, others stop the reader with WF_EINCOMPAT), and wf_batch_add's
 * argument checks.
 */
#include "test.h"

#include <time.h>

/* Decode from an exactly-sized heap copy, so ASan sees any over-read. The
 * copy (which the decoded text points into) lives until the next call. */
static uint8_t *copy;

static int decode_copy(const uint8_t *p, size_t len, int64_t *prev,
                       wf_event *ev, size_t *used, const char **why)
{
	free(copy);
	copy = malloc(len ? len : 1);
	CHECK(copy);
	if (len)
		memcpy(copy, p, len);
	*why = NULL;
	int rc = wf_event_decode(copy, len, prev, ev, used, why);
	/* A successful decode's text must lie inside the input. */
	if (rc == 0) {
		CHECK(*used <= len);
		CHECK(ev->nfields <= WF_EVENT_MAX_FIELDS);
		for (uint32_t i = 0; i < ev->nfields; i++) {
			const wf_field *f = &ev->fields[i];
			CHECK(f->kind <= WF_FIELD_JSON);
			if (f->kind >= WF_FIELD_TEXT && f->v.s.len)
				CHECK((const uint8_t *)f->v.s.ptr >= copy &&
				      (const uint8_t *)f->v.s.ptr + f->v.s.len <=
				          copy + *used);
		}
	} else {
		CHECK(rc == WF_ECORRUPT || rc == WF_EINCOMPAT);
		CHECK(*why != NULL && **why);
	}
	return rc;
}

static void test_varint(void)
{
	const uint64_t vals[] = {0,       1,          127,        128,
	                         16383,   16384,      2097151,    2097152,
	                         1u << 31, UINT32_MAX, (uint64_t)1 << 63,
	                         UINT64_MAX - 1, UINT64_MAX};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		uint8_t b[WF_VARINT_MAX + 1];
		uint64_t v = vals[i], got = 0;
		size_t n = wf_varint_put(b, v), want = 1;
		for (uint64_t x = v >> 7; x; x >>= 7)
			want++;
		CHECK_EQ_U64(n, want);
		CHECK_EQ_U64(wf_varint_get(b, n, &got), n);
		CHECK_EQ_U64(got, v);
		CHECK_EQ_U64(wf_varint_get(b, n + 1, &got), n); /* extra byte */
		for (size_t a = 0; a < n; a++) /* truncated */
			CHECK_EQ_U64(wf_varint_get(b, a, &got), 0);
		for (size_t k = 0; k + 1 < n; k++) /* continuation bits */
			CHECK(b[k] & 0x80);
		CHECK(!(b[n - 1] & 0x80));
	}
	CHECK_EQ_U64(wf_varint_put((uint8_t[16]){0}, UINT64_MAX), WF_VARINT_MAX);
	/* LEB128, low group first: 300 = AC 02 */
	{
		uint8_t b[4];
		CHECK_EQ_U64(wf_varint_put(b, 300), 2);
		CHECK(b[0] == 0xAC && b[1] == 0x02);
	}
	/* overlong: 11 bytes, or a 10th byte with more than 1 bit of value */
	{
		uint8_t b[12];
		uint64_t got;
		memset(b, 0x80, sizeof b);
		b[11] = 0;
		CHECK_EQ_U64(wf_varint_get(b, sizeof b, &got), 0);
		memset(b, 0xFF, 9);
		b[9] = 0x02;
		CHECK_EQ_U64(wf_varint_get(b, 10, &got), 0);
		b[9] = 0x01;
		CHECK_EQ_U64(wf_varint_get(b, 10, &got), 10);
		CHECK_EQ_U64(got, UINT64_MAX);
	}
	/* zigzag */
	CHECK_EQ_U64(wf_zigzag(0), 0);
	CHECK_EQ_U64(wf_zigzag(-1), 1);
	CHECK_EQ_U64(wf_zigzag(1), 2);
	CHECK_EQ_U64(wf_zigzag(-2), 3);
	CHECK_EQ_U64(wf_zigzag(INT64_MAX), UINT64_MAX - 1);
	CHECK_EQ_U64(wf_zigzag(INT64_MIN), UINT64_MAX);
	const int64_t ivals[] = {0, 1, -1, 63, -64, 64, INT64_MAX, INT64_MIN,
	                         INT64_MIN + 1};
	for (size_t i = 0; i < sizeof ivals / sizeof ivals[0]; i++)
		CHECK_EQ_I64(wf_unzigzag(wf_zigzag(ivals[i])), ivals[i]);
	/* fixed width, little-endian */
	{
		uint8_t b[8];
		wf_put_u32(b, 0x11223344u);
		CHECK(b[0] == 0x44 && b[3] == 0x11);
		CHECK_EQ_U64(wf_get_u32(b), 0x11223344u);
		wf_put_u64(b, 0x0102030405060708ull);
		CHECK(b[0] == 0x08 && b[7] == 0x01);
		CHECK_EQ_U64(wf_get_u64(b), 0x0102030405060708ull);
	}
}

/* The example event of the format, and its bytes. */
static const uint8_t ev1_bytes[] = {
    0x05,             /* type 5 */
    0xD0, 0x0F,       /* time delta zigzag(1000) = 2000 */
    0x0D,             /* body length 13 */
    0x00, 0xAC, 0x02, /* UINT 300 */
    0x01, 0x03,       /* INT -2 */
    0x02, 0x02, 'a', 'b', /* TEXT "ab" */
    0x03, 0x02, '{', '}', /* JSON "{}" */
};
static const uint8_t ev2_bytes[] = {
    0x81, 0x80, 0x02, /* type 0x8001 */
    0xC7, 0x01,       /* time delta zigzag(-100) = 199 */
    0x00,             /* no body */
};

static void example_events(wf_event *e1, wf_event *e2)
{
	memset(e1, 0, sizeof *e1);
	e1->type = 5;
	e1->time_ns = 1000;
	e1->nfields = 4;
	e1->fields[0] = wf_field_u(300);
	e1->fields[1] = wf_field_i(-2);
	e1->fields[2] = wf_field_text("ab", 2);
	e1->fields[3] = wf_field_json("{}", 2);
	memset(e2, 0, sizeof *e2);
	e2->type = WF_EVENT_SAFE_IGNORE | 1;
	e2->time_ns = 900;
}

static void test_encode_decode(void)
{
	wf_event e1, e2, got;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, used;
	int64_t prev = 0;
	const char *why;

	example_events(&e1, &e2);
	CHECK_OK(wf_event_encode(&buf, &len, &cap, &e1, &prev));
	CHECK_EQ_I64(prev, 1000);
	CHECK_EQ_U64(len, sizeof ev1_bytes);
	CHECK(memcmp(buf, ev1_bytes, len) == 0);
	CHECK_OK(wf_event_encode(&buf, &len, &cap, &e2, &prev));
	CHECK_EQ_I64(prev, 900);
	CHECK_EQ_U64(len, sizeof ev1_bytes + sizeof ev2_bytes);
	CHECK(memcmp(buf + sizeof ev1_bytes, ev2_bytes, sizeof ev2_bytes) == 0);

	/* decode both back, the time chaining through prev */
	prev = 0;
	CHECK_OK(decode_copy(buf, len, &prev, &got, &used, &why));
	CHECK_EQ_U64(used, sizeof ev1_bytes);
	CHECK_EQ_I64(prev, 1000);
	CHECK_EVENT(&got, &e1);
	CHECK_OK(decode_copy(buf + used, len - used, &prev, &got, &used, &why));
	CHECK_EQ_U64(used, sizeof ev2_bytes);
	CHECK_EVENT(&got, &e2);

	/* extremes round-trip, times included */
	wf_event x;
	memset(&x, 0, sizeof x);
	x.type = 0xFFFF;
	x.time_ns = INT64_MAX;
	x.nfields = WF_EVENT_MAX_FIELDS;
	for (uint32_t i = 0; i < x.nfields; i++)
		x.fields[i] = i % 4 == 0   ? wf_field_u(i & 4 ? 0 : UINT64_MAX)
		              : i % 4 == 1 ? wf_field_i(i & 4 ? INT64_MIN : -1)
		              : i % 4 == 2 ? wf_field_text("\0\xff\n", i & 4 ? 3 : 0)
		                           : wf_field_json("[1,2]", 5);
	len = 0;
	int64_t times[] = {INT64_MAX, 1, INT64_MIN, -1, 0, INT64_MAX};
	prev = 0;
	for (size_t t = 0; t < sizeof times / sizeof times[0]; t++) {
		x.time_ns = times[t];
		CHECK_OK(wf_event_encode(&buf, &len, &cap, &x, &prev));
	}
	size_t off = 0;
	prev = 0;
	for (size_t t = 0; t < sizeof times / sizeof times[0]; t++) {
		x.time_ns = times[t];
		CHECK_OK(decode_copy(buf + off, len - off, &prev, &got, &used, &why));
		CHECK_EVENT(&got, &x);
		off += used;
	}
	CHECK_EQ_U64(off, len);

	/* encode refuses what it cannot represent */
	x.nfields = WF_EVENT_MAX_FIELDS + 1;
	size_t before = len;
	CHECK_RC(wf_event_encode(&buf, &len, &cap, &x, &prev), WF_EINVAL);
	x.nfields = 1;
	x.fields[0].kind = 4;
	CHECK_RC(wf_event_encode(&buf, &len, &cap, &x, &prev), WF_EINVAL);
	CHECK_EQ_U64(len, before);
	free(buf);
}

static void expect_corrupt(const uint8_t *p, size_t len, const char *what)
{
	wf_event ev;
	size_t used;
	int64_t prev = 0;
	const char *why;
	t_context("decoding %s", what);
	CHECK_RC(decode_copy(p, len, &prev, &ev, &used, &why), WF_ECORRUPT);
	t_context("%s", "");
}

static void test_malformed(void)
{
	/* truncated at every byte */
	for (size_t l = 0; l < sizeof ev1_bytes; l++) {
		char what[64];
		snprintf(what, sizeof what, "the example cut to %zu bytes", l);
		expect_corrupt(ev1_bytes, l, what);
	}
	for (size_t l = 0; l < sizeof ev2_bytes; l++)
		expect_corrupt(ev2_bytes, l, "the second example, cut");

	/* overlong varints in each position */
	uint8_t b[32];
	memset(b, 0x80, 11);
	b[11] = 0x00;
	expect_corrupt(b, 12, "an 11-byte type");
	uint8_t t_big[] = {0x80, 0x80, 0x04, 0x00, 0x00}; /* type 65536 */
	expect_corrupt(t_big, sizeof t_big, "a type above 16 bits");
	b[0] = 0x01;
	memset(b + 1, 0x80, 11);
	b[12] = 0x00;
	expect_corrupt(b, 14, "an 11-byte time delta");
	uint8_t t_body[] = {0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	                    0xFF, 0xFF, 0xFF, 0x7F, 0x00};
	expect_corrupt(t_body, sizeof t_body, "an overlong body length");
	uint8_t f_over[] = {0x01, 0x00, 0x0C, 0x00, 0x80, 0x80, 0x80, 0x80,
	                    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
	expect_corrupt(f_over, sizeof f_over, "an overlong UINT field");

	/* lengths past the end */
	uint8_t past[] = {0x01, 0x00, 0x05, 0x00, 0x01};
	expect_corrupt(past, sizeof past, "a body length past the end");
	uint8_t huge[] = {0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00};
	expect_corrupt(huge, sizeof huge, "a 4 GiB body length");
	uint8_t text[] = {0x01, 0x00, 0x03, 0x02, 0x05, 'a', 'b', 'c', 'd'};
	expect_corrupt(text, sizeof text, "a text length past its body");
	uint8_t tmax[] = {0x01, 0x00, 0x0B, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	                  0xFF, 0xFF, 0xFF, 0xFF, 0x01};
	expect_corrupt(tmax, sizeof tmax, "a text length of 2^64-1");
	uint8_t cut_field[] = {0x01, 0x00, 0x02, 0x00, 0x80};
	expect_corrupt(cut_field, sizeof cut_field, "a field cut by the body");
	uint8_t no_value[] = {0x01, 0x00, 0x01, 0x01};
	expect_corrupt(no_value, sizeof no_value, "a field kind with no value");

	/* 17 fields: more than a wf_event holds; must not overflow */
	{
		uint8_t many[64];
		size_t n = 0;
		many[n++] = 0x01;
		many[n++] = 0x00;
		many[n++] = 2 * (WF_EVENT_MAX_FIELDS + 1);
		for (int i = 0; i <= WF_EVENT_MAX_FIELDS; i++) {
			many[n++] = WF_FIELD_UINT;
			many[n++] = (uint8_t)i;
		}
		wf_event ev;
		size_t used;
		int64_t prev = 0;
		const char *why;
		int rc = decode_copy(many, n, &prev, &ev, &used, &why);
		CHECK(rc == WF_ECORRUPT || rc == WF_EINCOMPAT);
	}

	/* Random garbage and random damage to valid encodings. */
	uint64_t st = 7;
	for (int round = 0; round < 200000; round++) {
		uint8_t g[40];
		size_t len = t_splitmix(&st) % sizeof g;
		if (round % 2) {
			for (size_t i = 0; i < len; i++)
				g[i] = (uint8_t)t_splitmix(&st);
		} else {
			len = sizeof ev1_bytes;
			memcpy(g, ev1_bytes, len);
			g[t_splitmix(&st) % len] ^= (uint8_t)(1u << (t_splitmix(&st) % 8));
			len -= t_splitmix(&st) % 3;
		}
		wf_event ev;
		size_t used;
		int64_t prev = 0;
		const char *why;
		decode_copy(g, len, &prev, &ev, &used, &why);
	}
}

static void test_unknown_kind(void)
{
	/* type 42 / 0x802A, time delta 0, body: kind 9 then two bytes */
	uint8_t strict[] = {42, 0x00, 0x03, 0x09, 0x01, 0x02};
	uint8_t safe[] = {0xAA, 0x80, 0x02, 0x00, 0x03, 0x09, 0x01, 0x02};
	wf_event ev;
	size_t used;
	int64_t prev = 5;
	const char *why;
	CHECK_RC(decode_copy(strict, sizeof strict, &prev, &ev, &used, &why),
	         WF_EINCOMPAT);
	prev = 5;
	CHECK_OK(decode_copy(safe, sizeof safe, &prev, &ev, &used, &why));
	CHECK_EQ_U64(used, sizeof safe); /* stepped over the body */
	CHECK_EQ_U64(ev.type, WF_EVENT_SAFE_IGNORE | 42);
	CHECK_EQ_I64(ev.time_ns, 5);
	CHECK_EQ_U64(ev.opaque, 1);
	CHECK_EQ_U64(ev.nfields, 0);
	/* a known field before the unknown one changes nothing */
	uint8_t safe2[] = {0xAA, 0x80, 0x02, 0x00, 0x05, 0x00, 0x07, 0x09, 0x01,
	                   0x02};
	CHECK_OK(decode_copy(safe2, sizeof safe2, &prev, &ev, &used, &why));
	CHECK_EQ_U64(ev.opaque, 1);
	CHECK_EQ_U64(ev.nfields, 0);
}

static void test_batch(void)
{
	wf_batch *b;
	wf_event ev, e1, e2;
	CHECK_OK(wf_batch_new(&b));
	CHECK_EQ_U64(wf_batch_count(b), 0);
	CHECK_EQ_U64(wf_batch_size(b), 0);

	memset(&ev, 0, sizeof ev);
	ev.type = 1;
	ev.time_ns = 1;
	ev.nfields = WF_EVENT_MAX_FIELDS + 1;
	for (uint32_t i = 0; i < ev.nfields; i++)
		ev.fields[i < WF_EVENT_MAX_FIELDS ? i : 0] = wf_field_u(i);
	CHECK_RC(wf_batch_add(b, &ev), WF_EINVAL);
	ev.nfields = 2;
	ev.fields[1].kind = 4;
	CHECK_RC(wf_batch_add(b, &ev), WF_EINVAL);
	ev.fields[1].kind = 0xFF;
	CHECK_RC(wf_batch_add(b, &ev), WF_EINVAL);
	/* failed adds leave nothing behind */
	CHECK_EQ_U64(wf_batch_count(b), 0);
	CHECK_EQ_U64(wf_batch_size(b), 0);
	ev.fields[1].kind = WF_FIELD_INT;
	CHECK_OK(wf_batch_add(b, &ev));
	CHECK_EQ_U64(wf_batch_count(b), 1);

	/* the batch holds the events' encoding */
	wf_batch_clear(b);
	CHECK_EQ_U64(wf_batch_count(b), 0);
	CHECK_EQ_U64(wf_batch_size(b), 0);
	example_events(&e1, &e2);
	CHECK_OK(wf_batch_add(b, &e1));
	CHECK_OK(wf_batch_add(b, &e2));
	CHECK_EQ_U64(wf_batch_count(b), 2);
	CHECK_EQ_U64(wf_batch_size(b), sizeof ev1_bytes + sizeof ev2_bytes);
	wf_batch_free(b);
}

/* Through a journal: raw events, unknown kinds, time 0 = now. */
static void test_journal(void)
{
	char dir[512], dir2[512];
	wf_journal_opts o;
	wf_batch *b;
	wf_event e1, e2, now_ev;
	const wf_event *ev;
	char text[2] = {'a', 'b'};
	uint8_t unknown[] = {0x09, 0x01, 0x02};
	uint8_t known[] = {0x00, 0x2A};

	t_subdir(dir, sizeof dir, "j");
	t_opts_default(&o);
	o.durability = WF_DURABILITY_NONE;
	example_events(&e1, &e2);
	e1.fields[2] = wf_field_text(text, 2);
	memset(&now_ev, 0, sizeof now_ev);
	now_ev.type = 8;

	struct timespec t0, t1;
	clock_gettime(CLOCK_REALTIME, &t0);
	wf_journal *j = t_open_writer(dir, &o);
	CHECK_OK(wf_batch_new(&b));
	CHECK_OK(wf_batch_add(b, &e1));
	text[0] = 'X'; /* copied at add */
	CHECK_OK(wf_batch_add_raw(b, WF_EVENT_SAFE_IGNORE | 42, 7777, unknown,
	                          sizeof unknown));
	CHECK_OK(wf_batch_add_raw(b, 43, 8888, known, sizeof known));
	CHECK_OK(wf_batch_add(b, &now_ev)); /* time 0: now */
	CHECK_OK(wf_batch_add(b, &e2));
	CHECK_EQ_U64(wf_batch_count(b), 5);
	CHECK_OK_MSG(wf_journal_commit(j, b, NULL), wf_journal_errmsg(j));
	CHECK_OK(wf_journal_close(j));
	clock_gettime(CLOCK_REALTIME, &t1);

	text[0] = 'a';
	wf_reader *r = t_open_reader(dir, NULL);
	CHECK_RC(wf_reader_next(r, &ev), 1);
	e1.seq = 1;
	CHECK_EVENT(ev, &e1);
	CHECK_RC(wf_reader_next(r, &ev), 1);
	CHECK_EQ_U64(ev->seq, 2);
	CHECK_EQ_U64(ev->type, WF_EVENT_SAFE_IGNORE | 42);
	CHECK_EQ_I64(ev->time_ns, 7777);
	CHECK_EQ_U64(ev->opaque, 1);
	CHECK_EQ_U64(ev->nfields, 0);
	CHECK_RC(wf_reader_next(r, &ev), 1);
	CHECK_EQ_U64(ev->seq, 3);
	CHECK_EQ_U64(ev->type, 43);
	CHECK_EQ_I64(ev->time_ns, 8888);
	CHECK_EQ_U64(ev->opaque, 0);
	CHECK_EQ_U64(ev->nfields, 1);
	CHECK_EQ_U64(ev->fields[0].kind, WF_FIELD_UINT);
	CHECK_EQ_U64(ev->fields[0].v.u, 42);
	CHECK_RC(wf_reader_next(r, &ev), 1);
	CHECK_EQ_U64(ev->seq, 4);
	int64_t lo = (int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec;
	int64_t hi = (int64_t)t1.tv_sec * 1000000000 + t1.tv_nsec;
	CHECK_MSG(ev->time_ns >= lo && ev->time_ns <= hi,
	          "time 0 became %" PRId64 ", not in [%" PRId64 ", %" PRId64 "]",
	          ev->time_ns, lo, hi);
	CHECK_RC(wf_reader_next(r, &ev), 1);
	e2.seq = 5;
	CHECK_EVENT(ev, &e2);
	CHECK_RC(wf_reader_next(r, &ev), 0);
	wf_reader_close(r);

	/* The same unknown kind in a type without SAFE_IGNORE stops the
	 * reader: skipping it could fold a wrong state. */
	t_subdir(dir2, sizeof dir2, "strict");
	j = t_open_writer(dir2, &o);
	CHECK_OK(wf_batch_add(b, &e1));
	CHECK_OK(wf_batch_add_raw(b, 42, 7777, unknown, sizeof unknown));
	CHECK_OK(wf_batch_add(b, &e2));
	CHECK_OK_MSG(wf_journal_commit(j, b, NULL), wf_journal_errmsg(j));
	CHECK_OK(wf_journal_close(j));
	r = t_open_reader(dir2, NULL);
	CHECK_RC(wf_reader_next(r, &ev), 1);
	e1.seq = 1;
	CHECK_EVENT(ev, &e1);
	CHECK_RC(wf_reader_next(r, &ev), WF_EINCOMPAT);
	CHECK(strlen(wf_reader_errmsg(r)) > 0);
	/* and does not go on past it */
	CHECK(wf_reader_next(r, &ev) < 0);
	wf_reader_close(r);
	wf_batch_free(b);
}

int main(void)
{
	test_varint();
	test_encode_decode();
	test_malformed();
	test_unknown_kind();
	test_batch();
	test_journal();
	free(copy);
	printf("events: varints, encoding, malformed input, unknown kinds, "
	       "batches\n");
	return 0;
}
