/* Unit tests for ingest.c: verdict counting, guards, clock sanity, dispatch to
 * every sink; and the table sink with the table's per-address name budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <ldns/ldns.h>

#include "dnstap.pb-c.h"
#include "guard.h"
#include "ingest.h"
#include "stats.h"
#include "table.h"
#include "table_sink.h"

#define NOW 1800000000

static int64_t fixed_clock(void)
{
	return NOW;
}

struct frame {
	uint8_t *buf;
	size_t len;
};

/* A CLIENT_RESPONSE for `name A` answering with the given address records
 * (each "1.2.3.4"), stamped at time t (0: no time). */
static struct frame frame_at(const char *name, const char *const *addrs, size_t n, int64_t t)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *rr;
	char q[600];
	assert_non_null(p);
	ldns_pkt_set_qr(p, true);
	snprintf(q, sizeof(q), "%s. IN A", name);
	assert_int_equal(ldns_rr_new_question_frm_str(&rr, q, NULL, NULL), LDNS_STATUS_OK);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr);
	for (size_t i = 0; i < n; i++) {
		snprintf(q, sizeof(q), "%s. 300 IN A %s", name, addrs[i]);
		assert_int_equal(ldns_rr_new_frm_str(&rr, q, 300, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	uint8_t *wire = NULL;
	size_t wlen = 0;
	assert_int_equal(ldns_pkt2wire(&wire, p, &wlen), LDNS_STATUS_OK);
	ldns_pkt_free(p);

	static const uint8_t client[4] = {192, 0, 2, 99};
	Dnstap__Dnstap d;
	Dnstap__Message m;
	dnstap__dnstap__init(&d);
	dnstap__message__init(&m);
	d.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
	d.message = &m;
	m.type = DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE;
	m.has_query_address = true;
	m.query_address.data = (uint8_t *)client;
	m.query_address.len = 4;
	if (t > 0) {
		m.has_response_time_sec = true;
		m.response_time_sec = (uint64_t)t;
	}
	m.has_response_message = true;
	m.response_message.data = wire;
	m.response_message.len = wlen;
	struct frame f;
	f.len = dnstap__dnstap__get_packed_size(&d);
	f.buf = malloc(f.len);
	assert_non_null(f.buf);
	dnstap__dnstap__pack(&d, f.buf);
	free(wire);
	return f;
}

/* A sink that records what it was given. */
struct rec {
	unsigned calls;
	int64_t last_time;
	size_t last_naddrs;
	char last_name[RV_NAME_MAX];
};

static void rec_observe(void *arg, const rv_observation *obs)
{
	struct rec *r = arg;
	r->calls++;
	r->last_time = obs->time_sec;
	r->last_naddrs = obs->answer.naddrs;
	snprintf(r->last_name, sizeof(r->last_name), "%s", obs->answer.qname);
}

static rv_ingest *mk(const rv_guard *g, struct rec *r1, struct rec *r2)
{
	rv_ingest_opts o = {.max_chain_depth = 8, .max_skew_s = 300, .clock = fixed_clock};
	rv_ingest *in = rv_ingest_new(&o, g);
	assert_non_null(in);
	rv_sink s1 = {.name = "one", .observe = rec_observe, .arg = r1};
	assert_int_equal(rv_ingest_add_sink(in, &s1), 0);
	if (r2) {
		rv_sink s2 = {.name = "two", .observe = rec_observe, .arg = r2};
		assert_int_equal(rv_ingest_add_sink(in, &s2), 0);
	}
	return in;
}

static int feed(rv_ingest *in, const char *name, const char *const *addrs, size_t n, int64_t t)
{
	struct frame f = frame_at(name, addrs, n, t);
	int rc = rv_ingest_frame(in, NULL, f.buf, f.len);
	free(f.buf);
	return rc;
}

static void test_every_sink_gets_each_observation(void **state)
{
	(void)state;
	rv_stats_reset();
	struct rec a = {0}, b = {0};
	rv_ingest *in = mk(NULL, &a, &b);
	const char *addrs[] = {"198.51.100.7"};
	assert_int_equal(feed(in, "www.example.com", addrs, 1, NOW - 1), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_string_equal(b.last_name, "www.example.com");
	assert_int_equal(b.last_time, NOW - 1);
	assert_int_equal(rv_stats.verdicts[RV_LEARN], 1);
	assert_int_equal(rv_stats.addresses_seen, 1);
	/* Garbage: counted as malformed, no sink called. */
	uint8_t junk[] = {0xff, 0xff, 0xff};
	assert_int_equal(rv_ingest_frame(in, NULL, junk, sizeof(junk)), -EBADMSG);
	assert_int_equal(a.calls, 1);
	assert_int_equal(rv_stats.verdicts[RV_BAD_PROTOBUF], 1);
	rv_ingest_free(&in);
	assert_null(in);
}

static void test_clock_skew_is_clamped(void **state)
{
	(void)state;
	rv_stats_reset();
	struct rec r = {0};
	rv_ingest *in = mk(NULL, &r, NULL);
	const char *addrs[] = {"198.51.100.7"};
	/* 10 days ahead: the agent's clock instead, counted */
	assert_int_equal(feed(in, "future.example", addrs, 1, NOW + 10 * 86400), 0);
	assert_int_equal(r.last_time, NOW);
	assert_int_equal(rv_stats.clock_clamped, 1);
	/* 30 days behind: same */
	assert_int_equal(feed(in, "past.example", addrs, 1, NOW - 30 * 86400), 0);
	assert_int_equal(r.last_time, NOW);
	assert_int_equal(rv_stats.clock_clamped, 2);
	/* within the skew: kept as sent */
	assert_int_equal(feed(in, "ok.example", addrs, 1, NOW + 299), 0);
	assert_int_equal(r.last_time, NOW + 299);
	assert_int_equal(feed(in, "ok.example", addrs, 1, NOW - 299), 0);
	assert_int_equal(r.last_time, NOW - 299);
	/* no time at all: the agent's clock, not counted as skew */
	assert_int_equal(feed(in, "notime.example", addrs, 1, 0), 0);
	assert_int_equal(r.last_time, NOW);
	assert_int_equal(rv_stats.clock_clamped, 2);
	rv_ingest_free(&in);
}

static void test_guards(void **state)
{
	(void)state;
	rv_stats_reset();
	char err[256];
	int e = 0;
	rv_guard *g = rv_guard_new("10.0.0.0/8", "ads.example", "", &e, err, sizeof(err));
	assert_non_null(g);
	struct rec r = {0};
	rv_ingest *in = mk(g, &r, NULL);
	/* one address ignored, one kept: the sink sees only the kept one */
	const char *mixed[] = {"10.1.2.3", "198.51.100.9"};
	assert_int_equal(feed(in, "www.example.com", mixed, 2, NOW), 0);
	assert_int_equal(r.last_naddrs, 1);
	assert_int_equal(rv_stats.addresses_ignored, 1);
	assert_int_equal(rv_stats.addresses_seen, 1);
	/* an ignored name: no sink call, verdict skip-ignored */
	unsigned calls = r.calls;
	assert_int_equal(feed(in, "x.ads.example", mixed, 2, NOW), -ENOENT);
	assert_int_equal(r.calls, calls);
	assert_int_equal(rv_stats.verdicts[RV_SKIP_IGNORED], 1);
	rv_ingest_free(&in);
	rv_guard_free(&g);
}

/* A future-stamped sighting can neither win the best name nor keep an address
 * from expiring (the review's reproduction: one sighting 10 days ahead beat 50
 * real ones and sat at the old end of the LRU). */
static void test_future_sighting_wins_nothing(void **state)
{
	(void)state;
	rv_stats_reset();
	rv_table_opts to = {.max_addresses = 100, .max_candidates = 8, .half_life_s = 86400,
			    .depth_weight = 0.25};
	rv_table *t = rv_table_new(&to);
	rv_ingest_opts o = {.max_chain_depth = 8, .max_skew_s = 300, .clock = fixed_clock};
	rv_ingest *in = rv_ingest_new(&o, NULL);
	rv_sink ts = rv_table_sink(t);
	assert_int_equal(rv_ingest_add_sink(in, &ts), 0);
	const char *addrs[] = {"198.51.100.10"};
	for (int i = 0; i < 50; i++)
		assert_int_equal(feed(in, "real.example", addrs, 1, NOW - 100 + i), 0);
	assert_int_equal(feed(in, "forged.example", addrs, 1, NOW + 10 * 86400), 0);
	rv_addr a;
	assert_int_equal(rv_addr_parse("198.51.100.10", &a), 0);
	assert_string_equal(rv_table_best(t, &a), "real.example");
	/* and it expires on time: nothing was seen after NOW */
	assert_int_equal(rv_table_expire(t, NOW + 1), 1);
	assert_null(rv_table_best(t, &a));
	rv_ingest_free(&in);
	rv_table_free(&t);
}

/* The name budget: 8 candidates of 255-octet names of binary labels (each
 * about 1,000 characters as \DDD text) keep at most max-name-bytes per address. */
static void test_name_budget_worst_case(void **state)
{
	(void)state;
	rv_table_opts to = {.max_addresses = 100, .max_candidates = 8, .half_life_s = 86400,
			    .depth_weight = 0.25};
	rv_table *t = rv_table_new(&to);
	rv_addr a;
	assert_int_equal(rv_addr_parse("198.51.100.11", &a), 0);
	for (int k = 0; k < 8; k++) {
		/* 4 labels of 63 octets, each octet \DDD: 252 octets, ~1,011 chars */
		char name[RV_NAME_MAX];
		size_t off = 0;
		for (int l = 0; l < 4; l++) {
			for (int i = 0; i < 63; i++)
				off += (size_t)snprintf(name + off, sizeof(name) - off, "\\%03d",
						(k * 7 + l * 63 + i) % 256);
			if (l < 3)
				name[off++] = '.';
		}
		name[off] = '\0';
		assert_true(strlen(name) > 1000);
		assert_true(rv_table_observe(t, &a, name, 0, 60, NOW + k) >= 0);
	}
	size_t bytes = 0;
	rv_table_names(t, &bytes);
	/* one such name fits in the default 1,024-byte budget, never two */
	assert_true(bytes <= RV_TABLE_NAME_BUDGET + 64);
	assert_non_null(rv_table_best(t, &a));
	/* ordinary names share the budget: 8 of ~25 characters all stay */
	rv_addr b;
	assert_int_equal(rv_addr_parse("198.51.100.12", &b), 0);
	for (int k = 0; k < 8; k++) {
		char name[64];
		snprintf(name, sizeof(name), "host%d.cdn.example.net", k);
		assert_true(rv_table_observe(t, &b, name, 0, 60, NOW) >= 0);
	}
	size_t names = rv_table_names(t, NULL);
	assert_int_equal(names, 1 + 8);
	rv_table_free(&t);
}

/* ---- the batch path (rv_ingest_batch_cb) against one frame at a time ---- */

/* A sink that logs each observation as text, and checks the prefetch
 * contract: every observation announced first, observed in announcement
 * order, unchanged in between. */
struct logsink {
	char *log;
	size_t len, cap;
	const rv_observation *pending[64];
	char pending_text[64][512];
	size_t head, tail;
	unsigned ran_ahead; /* observes made while a later one was announced */
};

static void obs_text(const rv_observation *obs, char *out, size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "%s t=%lld d=%u ttl=%u:", obs->answer.qname,
			(long long)obs->time_sec, obs->answer.depth, obs->answer.min_ttl);
	for (size_t i = 0; i < obs->answer.naddrs && n < cap; i++) {
		char a[RV_ADDR_STRLEN];
		rv_addr_str(&obs->answer.addrs[i], a, sizeof(a));
		n += (size_t)snprintf(out + n, cap - n, " %s", a);
	}
}

static void log_prefetch(void *arg, const rv_observation *obs)
{
	struct logsink *l = arg;
	assert_true(l->head - l->tail < 64);
	l->pending[l->head % 64] = obs;
	obs_text(obs, l->pending_text[l->head % 64], sizeof(l->pending_text[0]));
	l->head++;
}

static void log_observe(void *arg, const rv_observation *obs)
{
	struct logsink *l = arg;
	char line[512];

	obs_text(obs, line, sizeof(line));
	if (l->head != l->tail) {
		assert_ptr_equal(l->pending[l->tail % 64], obs);
		assert_string_equal(l->pending_text[l->tail % 64], line);
		l->tail++;
		if (l->head != l->tail)
			l->ran_ahead++;
	}
	size_t n = strlen(line);
	if (l->len + n + 2 > l->cap) {
		l->cap = (l->len + n + 2) * 2;
		l->log = realloc(l->log, l->cap);
		assert_non_null(l->log);
	}
	memcpy(l->log + l->len, line, n);
	l->len += n;
	l->log[l->len++] = '\n';
	l->log[l->len] = '\0';
}

#define BATCH_FRAMES 1500

/* The same frames, one at a time and in batches of 1..32: the same
 * observations in the same order, the same verdicts, and tables that agree
 * on every address (with the table small enough to evict, and large enough
 * to grow its index, between a prefetch and its observe). */
static void test_batch_matches_one_by_one(void **state)
{
	(void)state;
	static const size_t caps[] = {100000, 64};
	struct frame *frames = calloc(BATCH_FRAMES, sizeof(*frames));
	unsigned seed = 7;

	assert_non_null(frames);
	for (size_t i = 0; i < BATCH_FRAMES; i++) {
		if (i % 13 == 5) {
			frames[i].len = 3;
			frames[i].buf = malloc(3);
			memset(frames[i].buf, 0xff, 3);
			continue;
		}
		char name[64], abuf[12][32];
		const char *addrs[12];
		size_t n = 1 + (size_t)rand_r(&seed) % (i % 7 == 0 ? 12 : 3);
		snprintf(name, sizeof(name), "%s%u.example", i % 11 == 3 ? "x.ads." : "h",
				(unsigned)rand_r(&seed) % 50);
		for (size_t k = 0; k < n; k++) {
			unsigned v = (unsigned)rand_r(&seed) % 3000;
			snprintf(abuf[k], sizeof(abuf[k]), "%s.%u.%u", k == 2 ? "10.9" : "198.51",
					v / 250, v % 250);
			addrs[k] = abuf[k];
		}
		frames[i] = frame_at(name, addrs, n, NOW - (int64_t)(rand_r(&seed) % 100));
	}
	char err[256];
	int e = 0;
	rv_guard *g = rv_guard_new("10.0.0.0/8", "ads.example", "", &e, err, sizeof(err));
	assert_non_null(g);

	for (size_t c = 0; c < RV_ARRAY_LEN(caps); c++) {
		rv_table_opts to = {.max_addresses = caps[c], .max_candidates = 4,
				    .half_life_s = 86400, .depth_weight = 0.25};
		rv_table *t[2];
		rv_ingest *in[2];
		struct logsink ls[2];
		struct rv_stats st[2];
		rv_ingest_opts o = {.max_chain_depth = 8, .max_skew_s = 300, .clock = fixed_clock};

		memset(ls, 0, sizeof(ls));
		for (int k = 0; k < 2; k++) {
			rv_stats_reset();
			t[k] = rv_table_new(&to);
			in[k] = rv_ingest_new(&o, g);
			assert_non_null(t[k]);
			assert_non_null(in[k]);
			rv_sink ts = rv_table_sink(t[k]);
			rv_sink lsink = {.name = "log", .observe = log_observe, .arg = &ls[k],
					 .prefetch = k == 1 ? log_prefetch : NULL};
			assert_int_equal(rv_ingest_add_sink(in[k], &ts), 0);
			assert_int_equal(rv_ingest_add_sink(in[k], &lsink), 0);
			if (k == 0) {
				for (size_t i = 0; i < BATCH_FRAMES; i++)
					(void)rv_ingest_frame(in[0], NULL, frames[i].buf, frames[i].len);
			} else {
				rv_fs_frame batch[RV_FS_BATCH_MAX];
				for (size_t i = 0; i < BATCH_FRAMES;) {
					size_t n = 1 + (size_t)rand_r(&seed) % RV_FS_BATCH_MAX;
					if (n > BATCH_FRAMES - i)
						n = BATCH_FRAMES - i;
					for (size_t j = 0; j < n; j++)
						batch[j] = (rv_fs_frame){frames[i + j].buf, frames[i + j].len};
					rv_ingest_batch_cb(in[1], NULL, batch, n);
					/* Nothing is left pending when a batch returns. */
					assert_int_equal(ls[1].head, ls[1].tail);
					i += n;
				}
			}
			st[k] = rv_stats;
		}
		assert_non_null(ls[0].log);
		assert_string_equal(ls[1].log, ls[0].log);
		assert_true(ls[1].ran_ahead > 100);
		assert_memory_equal(st[1].verdicts, st[0].verdicts, sizeof(st[0].verdicts));
		assert_int_equal(st[1].addresses_ignored, st[0].addresses_ignored);
		assert_true(st[0].addresses_ignored > 0);
		assert_int_equal(st[1].addresses_seen, st[0].addresses_seen);
		assert_int_equal(rv_table_size(t[1]), rv_table_size(t[0]));
		size_t same = 0;
		for (unsigned v = 0; v < 3000; v++) {
			char text[32];
			rv_addr a;
			rv_change c0, c1;
			snprintf(text, sizeof(text), "198.51.%u.%u", v / 250, v % 250);
			assert_int_equal(rv_addr_parse(text, &a), 0);
			int r0 = rv_table_describe(t[0], &a, &c0);
			int r1 = rv_table_describe(t[1], &a, &c1);
			assert_int_equal(r1, r0);
			if (r0 < 0)
				continue;
			assert_string_equal(c1.name, c0.name);
			assert_int_equal(c1.count, c0.count);
			assert_int_equal(c1.first, c0.first);
			assert_int_equal(c1.last, c0.last);
			same++;
		}
		/* The big table outgrew its first 1,024 index slots (it grew while
		 * hashes were in flight); the small one evicted. */
		assert_true(c == 0 ? same > 1100 : same <= 64);
		for (int k = 0; k < 2; k++) {
			rv_ingest_free(&in[k]);
			rv_table_free(&t[k]);
			free(ls[k].log);
		}
	}
	rv_guard_free(&g);
	for (size_t i = 0; i < BATCH_FRAMES; i++)
		free(frames[i].buf);
	free(frames);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_sink_gets_each_observation),
		cmocka_unit_test(test_clock_skew_is_clamped),
		cmocka_unit_test(test_guards),
		cmocka_unit_test(test_future_sighting_wins_nothing),
		cmocka_unit_test(test_name_budget_worst_case),
		cmocka_unit_test(test_batch_matches_one_by_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
