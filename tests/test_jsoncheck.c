/*
 * wf_json_valid (journal/jsoncheck.c), the reader's check of JSON fields
 * in `wflow verify`: every document cJSON prints (random trees: what the
 * engine writes) is accepted; malformed ones are refused (truncations of
 * valid documents at every byte, and a list of classic mistakes);
 * nesting of 1000 is accepted and 1001 refused, as cJSON does.
 */
#include "test.h"

#include <cjson/cJSON.h>

#include "journal/jsoncheck.h"

static uint64_t rng = 42;

static cJSON *random_value(int depth)
{
	switch (t_splitmix(&rng) % (depth > 4 ? 4 : 7)) {
	case 0:
		return cJSON_CreateNull();
	case 1:
		return cJSON_CreateBool(t_splitmix(&rng) & 1);
	case 2: {
		double v = (double)(int64_t)(t_splitmix(&rng) % 2000000) - 1e6;
		if (t_splitmix(&rng) & 1)
			v /= 7.0;
		if (t_splitmix(&rng) % 5 == 0)
			v *= 1e-30;
		return cJSON_CreateNumber(v);
	}
	case 3: {
		char s[16];
		int n = (int)(t_splitmix(&rng) % 15);
		for (int i = 0; i < n; i++) {
			int c = (int)(t_splitmix(&rng) % 96) + 32;
			s[i] = (char)(c == 127 ? '\n' : c);
			if (t_splitmix(&rng) % 9 == 0)
				s[i] = "\"\\\t\x01/"[t_splitmix(&rng) % 5];
		}
		s[n] = '\0';
		return cJSON_CreateString(s);
	}
	case 4:
	case 5: {
		cJSON *a = cJSON_CreateArray();
		int n = (int)(t_splitmix(&rng) % 5);
		for (int i = 0; i < n; i++)
			cJSON_AddItemToArray(a, random_value(depth + 1));
		return a;
	}
	default: {
		cJSON *o = cJSON_CreateObject();
		int n = (int)(t_splitmix(&rng) % 5);
		for (int i = 0; i < n; i++) {
			char k[8];
			snprintf(k, sizeof k, "k%d\"%d", i, (int)(t_splitmix(&rng) % 9));
			cJSON_AddItemToObject(o, k, random_value(depth + 1));
		}
		return o;
	}
	}
}

static void refused(const char *s)
{
	t_context("refuse %s", s);
	CHECK(!wf_json_valid(s, strlen(s)));
}

static void accepted(const char *s)
{
	t_context("accept %s", s);
	CHECK(wf_json_valid(s, strlen(s)));
}

int main(void)
{
	for (int round = 0; round < 3000; round++) {
		cJSON *v = random_value(0);
		char *s = round & 1 ? cJSON_Print(v) : cJSON_PrintUnformatted(v);
		size_t n = strlen(s);
		t_context("round %d: %s", round, s);
		CHECK(wf_json_valid(s, n));
		/* Every proper prefix of a container or string is malformed. */
		if (s[0] == '{' || s[0] == '[' || s[0] == '"')
			for (size_t k = 0; k < n; k++)
				CHECK_MSG(!wf_json_valid(s, k), "prefix of %zu bytes", k);
		free(s);
		cJSON_Delete(v);
	}
	accepted("  {\"a\": [1, -0, 0.5, 1e10, -2.5E-3, true, false, null]}\n");
	accepted("\"\\u00e9\\n\\\"\"");
	accepted("0");
	accepted("[]");
	accepted("{}");
	refused("");
	refused("   ");
	refused("{");
	refused("}");
	refused("[1,]");
	refused("{\"a\":1,}");
	refused("{\"a\" 1}");
	refused("{a:1}");
	refused("[1 2]");
	refused("01");
	refused("1.");
	refused(".5");
	refused("+1");
	refused("1e");
	refused("tru");
	refused("nul");
	refused("\"abc");
	refused("\"a\\x\"");
	refused("\"\\u12\"");
	refused("\"tab\there\"");
	refused("1 2");
	refused("{} x");
	refused("[\"a\":1]");
	refused("{\"a\":1 \"b\":2}");
	refused("NaN");
	refused("Infinity");
	/* Nesting: 1000 levels, as cJSON allows, and not 1001. */
	char deep[2 * 1001 + 1];
	for (int depth = 1000; depth <= 1001; depth++) {
		for (int i = 0; i < depth; i++) {
			deep[i] = '[';
			deep[depth + i] = ']';
		}
		t_context("nesting %d", depth);
		CHECK(wf_json_valid(deep, 2 * (size_t)depth) == (depth <= 1000));
	}
	/* Strings are skipped 16 and 8 bytes at a time: every byte value
	 * at every position of strings of 1..40 bytes (across the word
	 * boundaries) is judged as a byte-at-a-time reading judges it. A
	 * control byte anywhere is refused; a quote ends the string early
	 * (the rest is then not JSON); a backslash must start an escape;
	 * bytes from 0x20 up (UTF-8's too) are plain. */
	for (size_t len = 1; len <= 40; len++) {
		for (size_t at = 0; at < len; at++) {
			for (int c = 0; c < 256; c++) {
				char b[64];
				b[0] = '"';
				memset(b + 1, 'x', len);
				b[1 + at] = (char)c;
				b[1 + len] = '"';
				int want = c >= 0x20 && c != '"' && c != '\\';
				if (c == '\\' && at + 1 < len) {
					b[2 + at] = 'n'; /* a valid escape */
					want = 1;
				}
				t_context("string of %zu bytes, byte %d at %zu", len,
				          c, at);
				CHECK(wf_json_valid(b, len + 2) == want);
			}
		}
	}
	printf("jsoncheck: ok\n");
	return 0;
}
