/*
 * The synthetic engine (see synth.h).
 *
 * How this works: 16 workflow records, of which 8 are "in flight" (held by
 * a worker) at any time; a failed workflow is parked for a while and then
 * resumed, and a finished one frees its record for a new workflow. Each call
 * picks an in-flight workflow at random and advances its little state
 * machine by one event:
 *
 *   workflow_created -> attempt_started -> status_changed RUNNING ->
 *   (step_started -> step_succeeded | step_failed [retry] | continuation)*
 *   -> workflow_output -> status_changed SUCCESSFUL [-> workflow_deleted]
 *
 * A step that fails beyond its retries fails the workflow (status FAILED);
 * it is parked and later resumed (attempt_started cause "resume"). Now and
 * then the engine "restarts" (session_started), and every in-flight
 * workflow is recovered with a new attempt, as a real engine does.
 *
 * The values are drawn from the family of the workflow (order, etl, train,
 * cart actor, report), so that they are as repetitive as real ones: the
 * same keys and step names over and over, ids that count up, amounts,
 * hashes and timings that do not. Compression ratios measured on this
 * stream should be close to those of a real engine, neither flattered by
 * identical events nor ruined by random noise.
 *
 * The only randomness is xoshiro256** seeded by splitmix64: no rand(), no
 * clock, no locale-dependent formatting (%f is avoided for that reason).
 */
#include "synth.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay/events.h"

#define NRECS 16
#define IN_FLIGHT 8
#define MAX_STEPS 24
#define ARENA_SIZE (64 * 1024)

/* 2026-11-27T17:25:05Z */
#define START_SECONDS INT64_C(1795800305)

enum phase {
	PH_FREE = 0,
	PH_CREATE,
	PH_ATTEMPT,
	PH_RUNNING,
	PH_STEP_START,
	PH_STEP_END,
	PH_CAUGHT, /* a step's last try failed; it succeeds with the error */
	PH_FAILED,
	PH_PARKED,
	PH_OUTPUT,
	PH_SUCCESS,
	PH_DELETE,
};

enum family {
	FAM_ORDER,
	FAM_ETL,
	FAM_TRAIN,
	FAM_CART,
	FAM_REPORT,
	FAM_COUNT,
};

typedef struct sstep {
	char id[40];
	const char *name; /* base name */
	unsigned attempt; /* attempts started so far */
	int tries_left;   /* before the workflow fails */
	int max_retries;
	int catch_exc;
	int finish_of; /* >= 0: completes that continued step */
} sstep;

typedef struct swf {
	enum phase phase;
	enum family fam;
	char id[64];
	unsigned attempt; /* workflow attempts (run, resumes) */
	unsigned resumes;
	unsigned wait;     /* events to stay parked */
	const char *cause; /* of the next attempt */
	unsigned nsteps, cur;
	sstep steps[MAX_STEPS];
	unsigned amount; /* order total, cart subtotal, rows... */
	const char *tag; /* its dataset, model or report */
	char last_out[512];
	size_t last_out_len;
	char err[192]; /* the error of the last failed try */
	char failed_step[40];
} swf;

struct wf_synth {
	uint64_t rng[4];
	int64_t now;
	uint64_t emitted;
	uint64_t next_restart;
	int need_session;
	unsigned pid;
	unsigned host;
	unsigned counter[FAM_COUNT];
	swf wf[NRECS];
	char arena[ARENA_SIZE];
	size_t used;
};

/* ---- randomness ---------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rnd(wf_synth *s)
{
	uint64_t *r = s->rng;
	uint64_t out = rotl(r[1] * 5, 7) * 9;
	uint64_t t = r[1] << 17;
	r[2] ^= r[0];
	r[3] ^= r[1];
	r[1] ^= r[2];
	r[0] ^= r[3];
	r[2] ^= t;
	r[3] = rotl(r[3], 45);
	return out;
}

/* Uniform in [lo, hi] (the modulo bias is irrelevant here). */
static unsigned rint_(wf_synth *s, unsigned lo, unsigned hi)
{
	return lo + (unsigned)(rnd(s) % ((uint64_t)hi - lo + 1));
}

/* True with probability permille / 1000. */
static int chance(wf_synth *s, unsigned permille)
{
	return rnd(s) % 1000 < permille;
}

#define PICK(s, arr) ((arr)[rnd(s) % (sizeof(arr) / sizeof((arr)[0]))])

/* ---- text in the per-event arena ----------------------------------------- */

typedef struct sbuf {
	char *p;
	size_t len, cap;
} sbuf;

static sbuf sb_open(wf_synth *s)
{
	sbuf b = {s->arena + s->used, 0, ARENA_SIZE - s->used};
	return b;
}

static void sb_close(wf_synth *s, sbuf *b)
{
	s->used += b->len;
}

#if defined(__GNUC__)
static void sb_printf(sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#endif

static void sb_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	/* Sizes are bounded by construction; truncation only guards. */
	if (n > 0)
		b->len += (size_t)n < b->cap - b->len ? (size_t)n
		                                      : b->cap - b->len - 1;
}

static void sb_hex(wf_synth *s, sbuf *b, unsigned n)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t r = 0;
	for (unsigned i = 0; i < n && b->len + 1 < b->cap; i++) {
		if (i % 16 == 0)
			r = rnd(s);
		b->p[b->len++] = hex[r & 15];
		r >>= 4;
	}
	b->p[b->len] = 0;
}

static void sb_alnum(wf_synth *s, sbuf *b, unsigned n)
{
	static const char al[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                         "abcdefghijklmnopqrstuvwxyz";
	for (unsigned i = 0; i < n && b->len + 1 < b->cap; i++)
		b->p[b->len++] = al[rnd(s) % 62];
	b->p[b->len] = 0;
}

/* A decimal fraction "0.dddd" (no %f: locale-independent). */
static void sb_frac(sbuf *b, unsigned ten_thousandths)
{
	sb_printf(b, "%u.%04u", ten_thousandths / 10000,
	          ten_thousandths % 10000);
}

/* ---- the vocabulary of each family --------------------------------------- */

static const char *const regions[] = {
        "eu-west-1", "eu-west-1",      "eu-central-1",
        "us-east-1", "us-east-1",      "us-east-1",
        "us-west-2", "ap-southeast-1", "ap-northeast-1",
};
static const char *const currencies[] = {"EUR", "EUR", "USD",
                                         "USD", "GBP", "CHF"};
static const char *const channels[] = {"web", "web", "mobile", "api",
                                       "partner"};
static const char *const datasets[] = {
        "events_raw",   "clickstream", "payments",       "inventory_snapshots",
        "crm_contacts", "app_logs",    "ad_impressions",
};
static const char *const models[] = {"resnet50-ft", "bert-base-ner",
                                     "xgb-churn", "llama3-8b-lora",
                                     "two-tower-recs"};
static const char *const reports[] = {"weekly-sales-eu", "weekly-sales-us",
                                      "monthly-finance", "churn-cohorts",
                                      "sla-breaches"};

static const char *const order_steps[] = {
        "validate_order",     "fraud_check", "reserve_stock",
        "apply_coupon",       "charge_card", "create_invoice",
        "allocate_warehouse", "ship",        "notify_customer",
        "update_crm",         "send_survey", "archive_order",
};
static const char *const etl_steps[] = {
        "extract",
        "validate_schema",
        "transform",
        "dedupe",
        "enrich",
        "transform",
        "aggregate",
        "load",
        "compact_partition",
        "publish_metrics",
        "update_catalog",
        "notify_owners",
};
static const char *const cart_methods[] = {
        "add_item", "add_item",    "add_item", "remove_item", "apply_coupon",
        "add_item", "set_address", "add_item", "checkout",
};
static const char *const report_steps[] = {
        "query_warehouse", "pivot",  "render_charts",
        "render_pdf",      "upload", "email_recipients",
        "audit_log",
};

static const char *const services[] = {"payments-api", "inventory",
                                       "warehouse-db", "crm-gateway",
                                       "feature-store"};

/* ---- DAG building -------------------------------------------------------- */

/* Give w->steps[i] its id: the first use of a base name is the name, later
 * ones name_1, name_2, ... (per workflow, as the engine does). */
static void assign_id(swf *w, unsigned i)
{
	unsigned seen = 0;
	for (unsigned k = 0; k < w->nsteps; k++)
		if (k != i && w->steps[k].finish_of < 0 && w->steps[k].id[0] &&
		    w->steps[k].name == w->steps[i].name)
			seen++;
	if (seen)
		snprintf(w->steps[i].id, sizeof w->steps[i].id, "%s_%u",
		         w->steps[i].name, seen);
	else
		snprintf(w->steps[i].id, sizeof w->steps[i].id, "%s",
		         w->steps[i].name);
}

static void add_step(wf_synth *s, swf *w, const char *name)
{
	sstep *st = &w->steps[w->nsteps++];
	memset(st, 0, sizeof *st);
	st->name = name;
	st->finish_of = -1;
	if (w->fam == FAM_CART) {
		st->max_retries = 0;
	} else {
		unsigned r = rint_(s, 0, 99);
		st->max_retries = r < 70 ? 3 : r < 85 ? 1 : r < 95 ? 5 : 0;
		st->catch_exc = chance(s, 60);
	}
	st->tries_left = st->max_retries + 1;
	assign_id(w, w->nsteps - 1);
}

/* Choose S steps, keeping the family's pipeline order. */
static void plan_steps(wf_synth *s, swf *w)
{
	w->nsteps = 0;
	switch (w->fam) {
	case FAM_ORDER: {
		unsigned n = rint_(s, 4, 12);
		unsigned pool = sizeof order_steps / sizeof order_steps[0];
		for (unsigned i = 0; i < pool && w->nsteps < n; i++)
			if (i == 0 || i == 4 || rnd(s) % pool < n)
				add_step(s, w, order_steps[i]);
		break;
	}
	case FAM_ETL: {
		unsigned n = rint_(s, 3, 12);
		unsigned pool = sizeof etl_steps / sizeof etl_steps[0];
		for (unsigned i = 0; i < pool && w->nsteps < n; i++)
			if (i == 0 || i == 7 || rnd(s) % pool < n)
				add_step(s, w, etl_steps[i]);
		break;
	}
	case FAM_TRAIN: {
		add_step(s, w, "fetch_dataset");
		add_step(s, w, "split");
		unsigned epochs = rint_(s, 1, 8);
		for (unsigned i = 0; i < epochs; i++)
			add_step(s, w, "train_epoch");
		add_step(s, w, "evaluate");
		if (chance(s, 700))
			add_step(s, w, "export_model");
		break;
	}
	case FAM_CART: {
		unsigned n = rint_(s, 3, 9);
		for (unsigned i = 0; i < n; i++)
			add_step(s, w,
			         i + 1 == n ? "checkout"
			                    : PICK(s, cart_methods));
		break;
	}
	case FAM_REPORT: {
		unsigned pool = sizeof report_steps / sizeof report_steps[0];
		for (unsigned i = 0; i < pool; i++)
			if (i < 2 || chance(s, 650))
				add_step(s, w, report_steps[i]);
		break;
	}
	default:
		break;
	}
}

static void put_options(wf_synth *s, sbuf *b, const sstep *st, int actor)
{
	(void)s;
	sb_printf(b,
	          "{\"step_type\":\"%s\",\"max_retries\":%d,"
	          "\"catch_exceptions\":%s,\"checkpoint\":%s}",
	          actor ? "ACTOR_METHOD" : "FUNCTION", st->max_retries,
	          st->catch_exc ? "true" : "false",
	          st->finish_of < 0 && strcmp(st->name, "split") == 0 ? "false"
	                                                              : "true");
}

/* Literal arguments of a first step or an actor call. */
static void put_first_args(wf_synth *s, sbuf *b, swf *w, unsigned i)
{
	switch (w->fam) {
	case FAM_ORDER:
		sb_printf(b, "[{\"value\":{\"order_id\":\"%s\",\"items\":%u}}]", w->id + 6,
		          rint_(s, 1, 7));
		break;
	case FAM_ETL:
		sb_printf(b, "[{\"value\":\"%s\"},{\"value\":\"2026-11-27/%02u\"},"
		          "{\"value\":{\"batch_size\":%u}}]",
		          w->tag, rint_(s, 0, 23), rint_(s, 1, 8) * 500);
		break;
	case FAM_TRAIN:
		sb_printf(b, "[{\"value\":\"s3://datasets/%s/v%u\"},"
		          "{\"value\":{\"seed\":%u}}]", w->tag,
		          rint_(s, 1, 14), rint_(s, 0, 99999));
		break;
	case FAM_CART:
		if (strcmp(w->steps[i].name, "add_item") == 0)
			sb_printf(b, "[{\"value\":\"SKU-%05u\"},{\"value\":%u}]",
			          rint_(s, 10000, 10400), rint_(s, 1, 3));
		else if (strcmp(w->steps[i].name, "apply_coupon") == 0)
			sb_printf(b, "[{\"value\":\"BLACKFRIDAY%u\"}]", rint_(s, 10, 50));
		else if (strcmp(w->steps[i].name, "remove_item") == 0)
			sb_printf(b, "[{\"value\":\"SKU-%05u\"}]", rint_(s, 10000, 10400));
		else
			sb_printf(b, "[]");
		break;
	default:
		sb_printf(b, "[{\"value\":\"%s\"},{\"value\":\"2026-W48\"}]", w->tag);
	}
}

/* {"steps":[...],"output":id} for steps[from..to), as the engine writes a
 * DAG: arguments are {"value": v} or {"step": id} */
static void put_dag(wf_synth *s, sbuf *b, swf *w, unsigned from, unsigned to)
{
	int actor = w->fam == FAM_CART;
	sb_printf(b, "{\"steps\":[");
	for (unsigned i = from; i < to; i++) {
		const sstep *st = &w->steps[i];
		sb_printf(b, "%s{\"id\":\"%s\",\"name\":\"%s\",\"options\":",
		          i > from ? "," : "", st->id, st->name);
		put_options(s, b, st, actor);
		sb_printf(b, ",\"args\":");
		if (i == from || actor)
			put_first_args(s, b, w, i);
		else if (chance(s, 300))
			sb_printf(b, "[{\"step\":\"%s\"},{\"value\":%u}]",
			          w->steps[i - 1].id, rint_(s, 1, 100));
		else
			sb_printf(b, "[{\"step\":\"%s\"}]",
			          w->steps[i - 1].id);
		if (chance(s, 150))
			sb_printf(b, ",\"user_metadata\":{\"sla_ms\":%u}",
			          rint_(s, 1, 60) * 250);
		else if (chance(s, 50))
			sb_printf(b,
			          ",\"user_metadata\":{\"step_k\":\"step_v\"}");
		sb_printf(b, "}");
	}
	sb_printf(b, "],\"output\":\"%s\"}", w->steps[to - 1].id);
}

static void put_metadata(wf_synth *s, sbuf *b, swf *w)
{
	switch (w->fam) {
	case FAM_ORDER:
		sb_printf(b,
		          "{\"owner\":\"team-%u\",\"priority\":%u,"
		          "\"region\":\"%s\"",
		          rint_(s, 1, 20), rint_(s, 1, 5), PICK(s, regions));
		if (chance(s, 600))
			sb_printf(b, ",\"ticket\":\"OPS-%u\"",
			          rint_(s, 1000, 9999));
		sb_printf(b, ",\"customer_id\":%u,\"channel\":\"%s\"}",
		          rint_(s, 100000, 999999), PICK(s, channels));
		break;
	case FAM_ETL:
		sb_printf(b,
		          "{\"owner\":\"data-eng\",\"priority\":%u,"
		          "\"region\":\"%s\",\"dataset\":\"%s\","
		          "\"sla_minutes\":%u}",
		          rint_(s, 2, 4), PICK(s, regions), w->tag,
		          rint_(s, 1, 12) * 15);
		break;
	case FAM_TRAIN:
		sb_printf(b,
		          "{\"owner\":\"ml-platform\",\"priority\":1,"
		          "\"gpu\":\"%s\",\"experiment\":\"exp-%u\","
		          "\"tags\":[\"nightly\",\"%s\"]}",
		          chance(s, 700) ? "a100" : "h100", rint_(s, 100, 999),
		          w->tag);
		break;
	case FAM_CART:
		/* Most actors get the default {}, as in the seed. */
		if (chance(s, 250))
			sb_printf(b, "{\"tenant\":\"acme-%u\"}",
			          rint_(s, 1, 40));
		else
			sb_printf(b, "{}");
		break;
	default:
		sb_printf(b,
		          "{\"owner\":\"finance\",\"requested_by\":"
		          "\"user%u@example.com\",\"format\":\"%s\"}",
		          rint_(s, 1, 300), chance(s, 800) ? "pdf" : "xlsx");
	}
}

/* A step's output, by what the step does. */
static void put_output(wf_synth *s, sbuf *b, swf *w, const sstep *st)
{
	const char *n = st->name;
	unsigned a = w->amount;

	if (!strcmp(n, "validate_order"))
		sb_printf(b,
		          "{\"valid\":true,\"items\":%u,\"total_cents\":%u,"
		          "\"currency\":\"%s\"}",
		          rint_(s, 1, 7), a, PICK(s, currencies));
	else if (!strcmp(n, "fraud_check")) {
		sb_printf(b, "{\"score\":");
		sb_frac(b, rint_(s, 0, 3500));
		sb_printf(b, ",\"decision\":\"%s\"}",
		          chance(s, 950) ? "accept" : "review");
	} else if (!strcmp(n, "reserve_stock")) {
		sb_printf(b, "{\"reservation_id\":\"rsv_");
		sb_hex(s, b, 8);
		sb_printf(b, "\",\"skus\":[\"SKU-%05u\"",
		          rint_(s, 10000, 10400));
		for (unsigned k = rint_(s, 0, 2); k; k--)
			sb_printf(b, ",\"SKU-%05u\"", rint_(s, 10000, 10400));
		sb_printf(b, "]}");
	} else if (!strcmp(n, "charge_card")) {
		sb_printf(b, "{\"charge_id\":\"ch_");
		sb_alnum(s, b, 16);
		sb_printf(b, "\",\"amount_cents\":%u,\"status\":\"succeeded\"}",
		          a);
	} else if (!strcmp(n, "create_invoice"))
		sb_printf(b, "\"INV-2026-%06u\"", rint_(s, 1, 250000));
	else if (!strcmp(n, "ship"))
		sb_printf(b, "{\"carrier\":\"%s\",\"tracking\":\"1Z%u%u\"}",
		          chance(s, 500) ? "ups" : "dhl",
		          rint_(s, 10000, 99999), rint_(s, 100000, 999999));
	else if (!strcmp(n, "extract"))
		sb_printf(b,
		          "{\"rows\":%u,\"bytes\":%u,\"source\":\"s3://lake/"
		          "raw/%s/2026/11/27/%02u/\"}",
		          a, a * rint_(s, 180, 420), w->tag, rint_(s, 0, 23));
	else if (!strcmp(n, "transform") || !strcmp(n, "dedupe") ||
	         !strcmp(n, "enrich")) {
		unsigned drop = rint_(s, 0, a / 50 + 1);
		sb_printf(b,
		          "{\"rows_in\":%u,\"rows_out\":%u,"
		          "\"elapsed_s\":%u.%02u}",
		          a, a - drop, rint_(s, 0, 300), rint_(s, 0, 99));
		w->amount = a - drop;
	} else if (!strcmp(n, "load") || !strcmp(n, "aggregate"))
		sb_printf(b,
		          "{\"table\":\"analytics.%s\",\"rows\":%u,"
		          "\"partition\":\"2026-11-27/%02u\"}",
		          w->tag, a, rint_(s, 0, 23));
	else if (!strcmp(n, "train_epoch")) {
		/* ids are train_epoch, train_epoch_1, ...: the epoch */
		const char *num = st->id + strlen("train_epoch");
		sb_printf(b, "{\"epoch\":%d,\"loss\":",
		          *num == '_' ? atoi(num + 1) : 0);
		sb_frac(b, rint_(s, 800, 25000));
		sb_printf(b, ",\"accuracy\":");
		sb_frac(b, rint_(s, 5000, 9900));
		sb_printf(b, ",\"lr\":0.001}");
	} else if (!strcmp(n, "evaluate")) {
		sb_printf(b, "{\"accuracy\":");
		sb_frac(b, rint_(s, 7000, 9800));
		sb_printf(b, ",\"f1\":");
		sb_frac(b, rint_(s, 6500, 9700));
		sb_printf(b, ",\"auc\":");
		sb_frac(b, rint_(s, 8000, 9990));
		sb_printf(b, "}");
	} else if (!strcmp(n, "export_model")) {
		sb_printf(b,
		          "{\"uri\":\"s3://models/%s/model.onnx\","
		          "\"sha256\":\"",
		          w->id + 6);
		sb_hex(s, b, 64);
		sb_printf(b, "\",\"size_bytes\":%u}",
		          rint_(s, 1u << 20, 1u << 30));
	} else if (w->fam == FAM_CART) {
		if (!strcmp(n, "add_item"))
			w->amount += rint_(s, 199, 8999);
		else if (!strcmp(n, "remove_item") && w->amount > 3000)
			w->amount -= rint_(s, 199, 2999);
		if (!strcmp(n, "checkout"))
			sb_printf(
			        b,
			        "{\"order\":\"order/%06u\",\"total_cents\":%u}",
			        rint_(s, 100000, 999999), w->amount);
		else
			sb_printf(b, "%u", w->amount);
	} else if (!strcmp(n, "render_pdf") || !strcmp(n, "upload")) {
		sb_printf(b,
		          "{\"pages\":%u,\"url\":\"https://reports.internal/r/",
		          rint_(s, 2, 60));
		sb_hex(s, b, 12);
		sb_printf(b, ".pdf\"}");
	} else if (!strcmp(n, "query_warehouse") || !strcmp(n, "pivot"))
		sb_printf(b, "[%u,%u,%u,%u]", rint_(s, 0, 99999),
		          rint_(s, 0, 99999), rint_(s, 0, 99999),
		          rint_(s, 0, 999));
	else if (!strcmp(n, "notify_customer") ||
	         !strcmp(n, "email_recipients"))
		sb_printf(b, "%s", chance(s, 900) ? "true" : "null");
	else if (!strcmp(n, "split"))
		sb_printf(b, "{\"train\":%u,\"test\":%u}", a, a / 9);
	else
		sb_printf(b, "null");
}

/* An exception text, as a Python worker would report it. */
static void put_error(wf_synth *s, sbuf *b, swf *w)
{
	unsigned k = rint_(s, 0, 7);
	/* Training runs fail on memory, the others on the network. */
	if (w->fam == FAM_TRAIN && chance(s, 600))
		k = 5;
	switch (k) {
	case 0:
		sb_printf(b, "TimeoutError: %s did not answer within %us",
		          PICK(s, services), rint_(s, 1, 6) * 10);
		break;
	case 1:
		sb_printf(b,
		          "ConnectionResetError: [Errno 104] Connection reset "
		          "by peer (10.%u.%u.%u:5432)",
		          rint_(s, 0, 31), rint_(s, 0, 255), rint_(s, 1, 254));
		break;
	case 2:
		sb_printf(b,
		          "HTTPError: 503 Service Unavailable from "
		          "https://%s.internal/v2/%u",
		          PICK(s, services), rint_(s, 1, 9999));
		break;
	case 3:
		sb_printf(b, "ValueError: invalid sku 'SKU-%05u'",
		          rint_(s, 10000, 99999));
		break;
	case 4:
		sb_printf(b, "KeyError: 'customer_id' in record %u",
		          rint_(s, 10000, 99999));
		break;
	case 5:
		sb_printf(b,
		          "RuntimeError: CUDA out of memory. Tried to "
		          "allocate %u.00 MiB",
		          rint_(s, 1, 40) * 256);
		break;
	case 6:
		sb_printf(b,
		          "OSError: [Errno 28] No space left on device: "
		          "'/scratch/%u'",
		          rint_(s, 10000, 99999));
		break;
	default:
		sb_printf(b,
		          "PermissionError: s3://lake/raw/%s/part-%05u.parquet:"
		          " AccessDenied",
		          PICK(s, datasets), rint_(s, 0, 999));
	}
}

/* ---- the state machine --------------------------------------------------- */

static void start_workflow(wf_synth *s, swf *w)
{
	memset(w, 0, sizeof *w);
	unsigned r = rint_(s, 0, 99);
	w->fam = r < 40   ? FAM_ORDER
	         : r < 62 ? FAM_ETL
	         : r < 70 ? FAM_TRAIN
	         : r < 92 ? FAM_CART
	                  : FAM_REPORT;
	unsigned c = ++s->counter[w->fam];
	w->tag = "orders";
	switch (w->fam) {
	case FAM_ORDER:
		snprintf(w->id, sizeof w->id, "order/%06u", c);
		w->amount = rint_(s, 499, 49999);
		break;
	case FAM_ETL:
		snprintf(w->id, sizeof w->id, "etl-2026-11-27-%04u", c);
		w->tag = PICK(s, datasets);
		w->amount = rint_(s, 1000, 2000000);
		break;
	case FAM_TRAIN:
		w->tag = PICK(s, models);
		snprintf(w->id, sizeof w->id, "train/%s-%04u", w->tag, c);
		w->amount = rint_(s, 10000, 900000);
		break;
	case FAM_CART:
		/* A new actor each time here; ids still look like users. */
		snprintf(w->id, sizeof w->id, "cart/u%06u",
		         100000 + c * 7 % 900000);
		w->amount = 0;
		break;
	default:
		w->tag = PICK(s, reports);
		snprintf(w->id, sizeof w->id, "report/%s-%04u", w->tag, c);
		w->amount = 0;
	}
	plan_steps(s, w);
	w->phase = PH_CREATE;
	w->cause = "run";
}

static void ev_text(wf_event *ev, const char *p)
{
	ev->fields[ev->nfields++] = wf_field_text(p, strlen(p));
}

static void ev_sb_text(wf_synth *s, wf_event *ev, sbuf *b)
{
	ev->fields[ev->nfields++] = wf_field_text(b->p, b->len);
	sb_close(s, b);
}

static void ev_sb_json(wf_synth *s, wf_event *ev, sbuf *b)
{
	ev->fields[ev->nfields++] = wf_field_json(b->p, b->len);
	sb_close(s, b);
}

static void begin(wf_event *ev, uint16_t type, const swf *w)
{
	ev->type = type;
	ev->nfields = 0;
	if (w)
		ev_text(ev, w->id);
}

/* A step returned a sub-workflow: its 1-3 steps run next, then the step
 * completes with the output of the last of them. */
static int continue_step(wf_synth *s, wf_event *ev, swf *w)
{
	unsigned k = rint_(s, 1, 3);
	if (w->nsteps + k + 1 > MAX_STEPS)
		return 0;
	unsigned at = w->cur + 1, tail = w->nsteps - at;
	memmove(&w->steps[at + k + 1], &w->steps[at], tail * sizeof(sstep));
	const char *name = w->steps[w->cur].name;
	for (unsigned i = 0; i < k; i++) {
		sstep *st = &w->steps[at + i];
		memset(st, 0, sizeof *st);
		st->name = name;
		st->finish_of = -1;
		st->max_retries = w->steps[w->cur].max_retries;
		st->tries_left = st->max_retries + 1;
	}
	/* The slot after them completes the continued step. */
	sstep *fin = &w->steps[at + k];
	memset(fin, 0, sizeof *fin);
	fin->name = name;
	fin->finish_of = (int)w->cur;
	w->nsteps += k + 1;
	for (unsigned i = 0; i < k; i++)
		assign_id(w, at + i);
	for (unsigned i = at + k + 1; i < w->nsteps; i++)
		if (w->steps[i].finish_of >= (int)at)
			w->steps[i].finish_of += (int)k + 1;

	begin(ev, WF_EV_CONTINUATION, w);
	ev_text(ev, w->steps[w->cur].id);
	sbuf b = sb_open(s);
	put_dag(s, &b, w, at, at + k);
	ev_sb_json(s, ev, &b);
	return 1;
}

static void step_end(wf_synth *s, wf_event *ev, swf *w)
{
	sstep *st = &w->steps[w->cur];
	/* Resumed workflows mostly get through. */
	unsigned fail = w->resumes ? 15 : w->fam == FAM_TRAIN ? 50 : 30;

	if (chance(s, fail)) {
		sbuf b = sb_open(s);
		put_error(s, &b, w);
		st->tries_left--;
		begin(ev, WF_EV_STEP_FAILED, w);
		ev_text(ev, st->id);
		ev->fields[ev->nfields++] = wf_field_u(st->attempt);
		snprintf(w->err, sizeof w->err, "%.*s", (int)b.len, b.p);
		ev_sb_text(s, ev, &b);
		if (st->tries_left <= 0 && st->catch_exc) {
			/* catch_exceptions: as the engine writes it, the
			 * failed try, then the step's success with the error
			 * as its output (next event, PH_CAUGHT). */
			w->phase = PH_CAUGHT;
		} else if (st->tries_left > 0) {
			w->phase = PH_STEP_START;
		} else {
			snprintf(w->failed_step, sizeof w->failed_step, "%s",
			         st->id);
			w->phase = PH_FAILED;
		}
		return;
	}
	if (w->fam != FAM_ETL && chance(s, 25) && continue_step(s, ev, w)) {
		w->cur++;
		w->phase = PH_STEP_START;
		return;
	}
	begin(ev, WF_EV_STEP_SUCCEEDED, w);
	ev_text(ev, st->id);
	ev->fields[ev->nfields++] = wf_field_u(st->attempt);
	sbuf b = sb_open(s);
	put_output(s, &b, w, st);
	if (b.len < sizeof w->last_out) {
		memcpy(w->last_out, b.p, b.len);
		w->last_out_len = b.len;
	}
	ev_sb_json(s, ev, &b);
	w->cur++;
	w->phase = w->cur < w->nsteps ? PH_STEP_START : PH_OUTPUT;
}

/* One event of workflow w. */
static void advance(wf_synth *s, wf_event *ev, swf *w)
{
	sbuf b;

	switch (w->phase) {
	case PH_CREATE:
		begin(ev, WF_EV_WORKFLOW_CREATED, w);
		b = sb_open(s);
		put_metadata(s, &b, w);
		ev_sb_json(s, ev, &b);
		b = sb_open(s);
		put_dag(s, &b, w, 0, w->nsteps);
		ev_sb_json(s, ev, &b);
		w->phase = PH_ATTEMPT;
		break;
	case PH_ATTEMPT:
		begin(ev, WF_EV_ATTEMPT_STARTED, w);
		ev->fields[ev->nfields++] = wf_field_u(++w->attempt);
		ev_text(ev, w->cause);
		w->phase = PH_RUNNING;
		break;
	case PH_RUNNING:
		begin(ev, WF_EV_STATUS_CHANGED, w);
		ev_text(ev, "RUNNING");
		ev_text(ev, w->cause);
		w->phase = w->cur < w->nsteps ? PH_STEP_START : PH_OUTPUT;
		break;
	case PH_STEP_START: {
		sstep *st = &w->steps[w->cur];
		if (st->finish_of >= 0) {
			sstep *orig = &w->steps[st->finish_of];
			begin(ev, WF_EV_STEP_SUCCEEDED, w);
			ev_text(ev, orig->id);
			ev->fields[ev->nfields++] = wf_field_u(orig->attempt);
			b = sb_open(s);
			sb_printf(&b, "%.*s", (int)w->last_out_len,
			          w->last_out);
			if (!b.len)
				sb_printf(&b, "null");
			ev_sb_json(s, ev, &b);
			w->cur++;
			w->phase =
			        w->cur < w->nsteps ? PH_STEP_START : PH_OUTPUT;
			break;
		}
		begin(ev, WF_EV_STEP_STARTED, w);
		ev_text(ev, st->id);
		ev->fields[ev->nfields++] = wf_field_u(++st->attempt);
		w->phase = PH_STEP_END;
		break;
	}
	case PH_STEP_END:
		step_end(s, ev, w);
		break;
	case PH_CAUGHT: {
		sstep *st = &w->steps[w->cur];
		begin(ev, WF_EV_STEP_SUCCEEDED, w);
		ev_text(ev, st->id);
		ev->fields[ev->nfields++] = wf_field_u(st->attempt);
		b = sb_open(s);
		sb_printf(&b, "[null,\"%s\"]", w->err);
		ev_sb_json(s, ev, &b);
		w->cur++;
		w->phase = w->cur < w->nsteps ? PH_STEP_START : PH_OUTPUT;
		break;
	}
	case PH_FAILED:
		begin(ev, WF_EV_STATUS_CHANGED, w);
		ev_text(ev, "FAILED");
		b = sb_open(s);
		sb_printf(&b, "step %s failed: %s", w->failed_step, w->err);
		ev_sb_text(s, ev, &b);
		if (w->resumes < 2 && chance(s, 700)) {
			w->phase = PH_PARKED;
			w->wait = rint_(s, 50, 3000);
			w->resumes++;
			w->cause = "resume";
			w->steps[w->cur].tries_left =
			        w->steps[w->cur].max_retries + 1;
		} else
			w->phase = PH_FREE;
		break;
	case PH_OUTPUT:
		begin(ev, WF_EV_WORKFLOW_OUTPUT, w);
		b = sb_open(s);
		sb_printf(&b, "%.*s", (int)w->last_out_len, w->last_out);
		if (!b.len)
			sb_printf(&b, "null");
		ev_sb_json(s, ev, &b);
		w->phase = PH_SUCCESS;
		break;
	case PH_SUCCESS:
		begin(ev, WF_EV_STATUS_CHANGED, w);
		ev_text(ev, "SUCCESSFUL");
		ev_text(ev, "completed");
		w->phase = chance(s, 15) ? PH_DELETE : PH_FREE;
		break;
	case PH_DELETE:
		begin(ev, WF_EV_WORKFLOW_DELETED, w);
		w->phase = PH_FREE;
		break;
	default:
		break;
	}
}

/* Keep IN_FLIGHT workflows running: resume a parked one whose wait is
 * over, else start a new one. */
static void fill_slots(wf_synth *s)
{
	unsigned active = 0;
	for (unsigned i = 0; i < NRECS; i++)
		if (s->wf[i].phase != PH_FREE && s->wf[i].phase != PH_PARKED)
			active++;
	while (active < IN_FLIGHT) {
		swf *pick = NULL, *free_rec = NULL, *soonest = NULL;
		for (unsigned i = 0; i < NRECS; i++) {
			swf *w = &s->wf[i];
			if (w->phase == PH_PARKED) {
				if (w->wait == 0 && !pick)
					pick = w;
				if (!soonest || w->wait < soonest->wait)
					soonest = w;
			} else if (w->phase == PH_FREE && !free_rec)
				free_rec = w;
		}
		if (!pick && free_rec) {
			start_workflow(s, free_rec);
		} else {
			if (!pick)
				pick = soonest;
			pick->phase = PH_ATTEMPT;
		}
		active++;
	}
}

/* The engine restarted: every workflow it was running is recovered with a
 * new attempt (its running step is started again). */
static void restart(wf_synth *s, wf_event *ev)
{
	s->pid = rint_(s, 1000, 4000000);
	s->host = rint_(s, 1, 12);
	for (unsigned i = 0; i < NRECS; i++) {
		swf *w = &s->wf[i];
		if (w->phase >= PH_RUNNING && w->phase <= PH_STEP_END) {
			w->phase = PH_ATTEMPT;
			w->cause = "resume";
		} else if (w->phase == PH_OUTPUT || w->phase == PH_SUCCESS) {
			w->phase = PH_ATTEMPT;
			w->cause = "resume";
		}
	}
	begin(ev, WF_EV_SESSION_STARTED, NULL);
	sbuf b = sb_open(s);
	sb_printf(&b, "sess-");
	sb_hex(s, &b, 16);
	ev_sb_text(s, ev, &b);
	ev->fields[ev->nfields++] = wf_field_u(s->pid);
	b = sb_open(s);
	sb_printf(&b, "wflow-worker-%02u.eu-west-1.internal", s->host);
	ev_sb_text(s, ev, &b);
}

int wf_synth_new(wf_synth **out, uint64_t seed)
{
	wf_synth *s = calloc(1, sizeof *s);
	*out = s;
	if (!s)
		return WF_ENOMEM;
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&x);
	s->now = START_SECONDS * 1000000000 + (int64_t)(rnd(s) % 1000000000);
	s->need_session = 1;
	for (unsigned f = 0; f < FAM_COUNT; f++)
		s->counter[f] = rint_(s, 0, 500);
	return 0;
}

int wf_synth_next(wf_synth *s, wf_event *ev)
{
	s->used = 0;
	ev->seq = 0;
	ev->opaque = 0;

	/* Time between events: mostly tens to hundreds of microseconds,
	 * sometimes a pause of milliseconds (workers all busy in steps). */
	int64_t gap = 3000 + (int64_t)(rnd(s) % 250000);
	if (chance(s, 8))
		gap += (int64_t)(rnd(s) % 40000000);
	s->now += gap;
	ev->time_ns = s->now;

	if (s->need_session || s->emitted == s->next_restart) {
		s->need_session = 0;
		s->next_restart = s->emitted + rint_(s, 150000, 600000);
		restart(s, ev);
		s->emitted++;
		return 0;
	}

	fill_slots(s);
	swf *pick = NULL;
	unsigned n = 0;
	/* Reservoir choice among the in-flight workflows. */
	for (unsigned i = 0; i < NRECS; i++) {
		swf *w = &s->wf[i];
		if (w->phase == PH_FREE || w->phase == PH_PARKED)
			continue;
		if (rnd(s) % ++n == 0)
			pick = w;
	}
	advance(s, ev, pick);
	for (unsigned i = 0; i < NRECS; i++)
		if (s->wf[i].phase == PH_PARKED && s->wf[i].wait)
			s->wf[i].wait--;
	s->emitted++;
	return 0;
}

void wf_synth_free(wf_synth *s)
{
	free(s);
}
