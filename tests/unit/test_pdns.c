/*
 * test_pdns.c - passive-DNS records of an observation and their aggregate,
 * and the history store (history_db.c) on a real SQLite file: what an analyst
 * gets back is what the answers held.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "dnsmsg.h"
#include "history_db.h"
#include "pdns.h"

/* A compressed NOERROR response to question with the given answer RRs. */
static uint8_t *build(size_t *len, const char *question, ...)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_buffer *buf = ldns_buffer_new(512);
	ldns_rr *rr = NULL;
	const char *s;
	uint8_t *w;
	va_list ap;

	assert_non_null(p);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rd(p, true);
	ldns_pkt_set_opcode(p, LDNS_PACKET_QUERY);
	assert_int_equal(ldns_rr_new_question_frm_str(&rr, question, NULL, NULL), LDNS_STATUS_OK);
	assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr));
	va_start(ap, question);
	while ((s = va_arg(ap, const char *)) != NULL) {
		assert_int_equal(ldns_rr_new_frm_str(&rr, s, 3600, NULL, NULL), LDNS_STATUS_OK);
		assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr));
	}
	va_end(ap);
	assert_int_equal(ldns_pkt2buffer_wire(buf, p), LDNS_STATUS_OK);
	*len = ldns_buffer_position(buf);
	w = malloc(*len);
	assert_non_null(w);
	memcpy(w, ldns_buffer_begin(buf), *len);
	ldns_buffer_free(buf);
	ldns_pkt_free(p);
	return w;
}

struct got {
	size_t n;
	char line[16][2 * RV_NAME_MAX + 64];
};

static void collect(void *arg, const rv_pdns_rec *r)
{
	struct got *g = arg;

	assert_true(g->n < 16);
	char text[RV_ADDR_STRLEN];

	snprintf(g->line[g->n++], sizeof(g->line[0]), "%s %s %s %u", r->rrname,
			rv_rrtype_name(r->rrtype), rv_pdns_rec_rdata(r, text), r->ttl);
}

/* Every link of the chain, with its own TTL, then the addresses at its end,
 * names in the stored form (lower case, escapes kept); records off the chain
 * are not the client's answer and are left out. */
static void test_records_of_chain(void **state)
{
	rv_observation obs;
	rv_verdict why;
	struct got g = {0};
	size_t len;
	uint8_t *w = build(&len, "WWW.Example.COM. IN A",
			"WWW.Example.COM. 300 IN CNAME a\\.b.cdn.net.",
			"a\\.b.cdn.net. 60 IN CNAME x\\032y.edge.net.",
			"x\\032y.edge.net. 20 IN A 192.0.2.1",
			"x\\032y.edge.net. 30 IN A 192.0.2.2",
			"other.net. 30 IN A 198.51.100.9",
			"cdn.net. 500 IN DNAME cdn.example.", NULL);

	(void)state;
	memset(&obs, 0, sizeof(obs));
	assert_int_equal(rv_dnsmsg_parse(w, len, 8, &obs.answer, &why), 0);
	assert_int_equal(rv_pdns_records(&obs, collect, &g), 5);
	assert_string_equal(g.line[0], "www.example.com CNAME a\\.b.cdn.net 300");
	assert_string_equal(g.line[1], "a\\.b.cdn.net CNAME x\\032y.edge.net 60");
	assert_string_equal(g.line[2], "cdn.net DNAME cdn.example 500");
	assert_string_equal(g.line[3], "x\\032y.edge.net A 192.0.2.1 20");
	assert_string_equal(g.line[4], "x\\032y.edge.net A 192.0.2.2 30");
	free(w);
}

static void test_sensor(void **state)
{
	rv_observation obs = {0};
	char s[64];

	(void)state;
	rv_pdns_sensor(&obs, "host1", s);
	assert_string_equal(s, "host1");
	obs.identity = (const uint8_t *)"ns1 \x01x";
	obs.identity_len = 6;
	rv_pdns_sensor(&obs, "host1", s);
	assert_string_equal(s, "ns1??x");
}

static int sum(void *arg, const rv_pdns_entry *e)
{
	uint64_t *total = arg;

	*total += e->count;
	return 0;
}

/* Sightings of one record fold into one entry (first/last/count, TTL of the
 * newest); a full aggregate refuses new records and keeps updating old ones. */
static void test_aggregate(void **state)
{
	rv_pdns_agg *agg = rv_pdns_agg_new(2);
	rv_pdns_rec a = {.rrname = "a.example", .rrtype = RV_RRTYPE_A, .rdata = "192.0.2.1", .ttl = 10};
	rv_pdns_rec b = {.rrname = "b.example", .rrtype = RV_RRTYPE_A, .rdata = "192.0.2.1", .ttl = 10};
	rv_pdns_rec c = {.rrname = "c.example", .rrtype = RV_RRTYPE_A, .rdata = "192.0.2.1", .ttl = 10};
	uint64_t total = 0;

	(void)state;
	assert_non_null(agg);
	assert_int_equal(rv_pdns_agg_add(agg, "s", &a, 100), 1);
	a.ttl = 20;
	assert_int_equal(rv_pdns_agg_add(agg, "s", &a, 200), 0);
	a.ttl = 5;
	assert_int_equal(rv_pdns_agg_add(agg, "s", &a, 50), 0);
	assert_int_equal(rv_pdns_agg_add(agg, "other-sensor", &a, 50), 1);
	assert_int_equal(rv_pdns_agg_add(agg, "s", &b, 50), -ENOSPC);
	assert_int_equal(rv_pdns_agg_add(agg, "s", &a, 300), 0);
	(void)c;
	assert_int_equal(rv_pdns_agg_size(agg), 2);
	assert_int_equal(rv_pdns_agg_foreach(agg, sum, &total), 0);
	assert_int_equal(total, 5);
	rv_pdns_agg_free(&agg);
	assert_null(agg);

	/* Growth past the initial buckets keeps every record findable. */
	agg = rv_pdns_agg_new(100000);
	for (int i = 0; i < 5000; i++) {
		char name[32];
		rv_pdns_rec r = {.rrname = name, .rrtype = RV_RRTYPE_A, .rdata = "192.0.2.7"};

		snprintf(name, sizeof(name), "n%d.example", i);
		assert_int_equal(rv_pdns_agg_add(agg, "s", &r, i), 1);
		assert_int_equal(rv_pdns_agg_add(agg, "s", &r, i), 0);
	}
	assert_int_equal(rv_pdns_agg_size(agg), 5000);
	rv_pdns_agg_free(&agg);
}

struct counted {
	char want[128];
	uint64_t count;
	int64_t first, last;
	uint32_t ttl;
};

static int find_count(void *arg, const rv_pdns_entry *e)
{
	struct counted *c = arg;
	char line[600];

	snprintf(line, sizeof(line), "%s %s %s", e->rrname, rv_rrtype_name(e->rrtype), e->rdata);
	if (strcmp(line, c->want) == 0) {
		c->count = e->count;
		c->first = e->time_first;
		c->last = e->time_last;
		c->ttl = e->ttl;
	}
	return 0;
}

static struct counted count_of(rv_pdns_agg *agg, const char *want)
{
	struct counted c = {0};

	snprintf(c.want, sizeof(c.want), "%s", want);
	assert_int_equal(rv_pdns_agg_foreach(agg, find_count, &c), 0);
	return c;
}

/* Repeats go through the combiner's slot and reach the records at drain,
 * with the right counts, times and last TTL; a different chain to the same
 * address is a different answer (its records are counted, not the old
 * chain's); an aggregate swapped under it drains first. */
static void test_combiner(void **state)
{
	rv_pdns_combiner *c = rv_pdns_combiner_new();
	rv_pdns_agg *agg = rv_pdns_agg_new(1000), *agg2 = rv_pdns_agg_new(1000);
	rv_observation obs;
	rv_verdict why;
	size_t len, len2, len3, recs;
	uint8_t *w1 = build(&len, "www.example.com. IN A",
			"www.example.com. 300 IN CNAME edge.cdn.net.",
			"edge.cdn.net. 20 IN A 192.0.2.1", NULL);
	uint8_t *w2 = build(&len2, "WWW.example.com. IN A",
			"WWW.example.com. 250 IN CNAME edge.cdn.net.",
			"edge.cdn.net. 10 IN A 192.0.2.1", NULL);
	uint8_t *w3 = build(&len3, "www.example.com. IN A",
			"www.example.com. 300 IN CNAME other.cdn.net.",
			"other.cdn.net. 20 IN A 192.0.2.1", NULL);

	(void)state;
	assert_non_null(c);
	memset(&obs, 0, sizeof(obs));
	assert_int_equal(rv_dnsmsg_parse(w1, len, 8, &obs.answer, &why), 0);
	for (int t = 100; t < 110; t++) {
		assert_int_equal(rv_pdns_combiner_observe(c, agg, "s", &obs, t, &recs), 0);
		assert_int_equal(recs, 2);
	}
	/* Before the drain the records hold only the first sighting. */
	assert_int_equal(count_of(agg, "edge.cdn.net A 192.0.2.1").count, 1);
	/* The same answer with a different case and TTLs is the same record set
	 * (names fold); its TTLs are the last ones. */
	assert_int_equal(rv_dnsmsg_parse(w2, len2, 8, &obs.answer, &why), 0);
	assert_int_equal(rv_pdns_combiner_observe(c, agg, "s", &obs, 120, &recs), 0);
	assert_int_equal(rv_dnsmsg_parse(w3, len3, 8, &obs.answer, &why), 0);
	assert_int_equal(rv_pdns_combiner_observe(c, agg, "s", &obs, 130, &recs), 0);
	rv_pdns_combiner_drain(c);
	struct counted k = count_of(agg, "edge.cdn.net A 192.0.2.1");
	assert_int_equal(k.count, 11);
	assert_int_equal(k.first, 100);
	assert_int_equal(k.last, 120);
	assert_int_equal(k.ttl, 10);
	assert_int_equal(count_of(agg, "www.example.com CNAME edge.cdn.net").count, 11);
	assert_int_equal(count_of(agg, "www.example.com CNAME other.cdn.net").count, 1);
	assert_int_equal(count_of(agg, "other.cdn.net A 192.0.2.1").count, 1);

	/* A new aggregate: what the slots counted goes to the old one first. */
	assert_int_equal(rv_pdns_combiner_observe(c, agg, "s", &obs, 140, &recs), 0);
	assert_int_equal(rv_pdns_combiner_observe(c, agg, "s", &obs, 141, &recs), 0);
	assert_int_equal(rv_pdns_combiner_observe(c, agg2, "s", &obs, 142, &recs), 0);
	assert_int_equal(count_of(agg, "other.cdn.net A 192.0.2.1").count, 3);
	assert_int_equal(count_of(agg2, "other.cdn.net A 192.0.2.1").count, 1);
	rv_pdns_combiner_drain(c);

	rv_pdns_combiner_free(&c);
	assert_null(c);
	rv_pdns_agg_free(&agg);
	rv_pdns_agg_free(&agg2);
	free(w1);
	free(w2);
	free(w3);
}

static void test_rrtype(void **state)
{
	uint16_t t;

	(void)state;
	assert_int_equal(rv_rrtype_parse("aaaa", &t), 0);
	assert_int_equal(t, 28);
	assert_int_equal(rv_rrtype_parse("TYPE5", &t), 0);
	assert_int_equal(t, 5);
	assert_int_equal(rv_rrtype_parse("MXX", &t), -EINVAL);
	assert_null(rv_rrtype_name(15));
}

static void test_reverse_name(void **state)
{
	char out[RV_NAME_MAX], back[RV_NAME_MAX];
	static const char *const names[] = {"www.example.com", "a\\.b.c", "x\\032y.z", "com",
		"a\\\\.b", "\\046\\046.x"};

	(void)state;
	rv_hdb_reverse_name("www.example.com", out);
	assert_string_equal(out, "com.example.www");
	rv_hdb_reverse_name("a\\.b.c", out);
	assert_string_equal(out, "c.a\\.b");
	for (size_t i = 0; i < RV_ARRAY_LEN(names); i++) {
		rv_hdb_reverse_name(names[i], out);
		rv_hdb_reverse_name(out, back);
		assert_string_equal(back, names[i]);
	}
}

/* ------------------------------------------------------------------ store */

static char dbpath[64];

static int setup_db(void **state)
{
	int fd;

	(void)state;
	snprintf(dbpath, sizeof(dbpath), "/tmp/rv-test-hdb-XXXXXX");
	fd = mkstemp(dbpath);
	assert_true(fd >= 0);
	close(fd);
	unlink(dbpath); /* SQLite creates it */
	return 0;
}

static int teardown_db(void **state)
{
	char p[96];

	(void)state;
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	return 0;
}

static void add(rv_pdns_agg *agg, const char *name, uint16_t type, const char *rdata,
		int64_t first, int64_t last, uint64_t count)
{
	rv_pdns_rec r = {.rrname = name, .rrtype = type, .rdata = rdata, .ttl = 60};

	assert_true(rv_pdns_agg_add_span(agg, "sensor1", &r, first, last, count) >= 0);
}

/* Runs q and returns the rows as "rrname TYPE rdata first last count", sorted
 * by the store's order, joined with '|'. */
static char *run(rv_hdb *db, const rv_hdb_query *q)
{
	static char out[4096];
	rv_hdb_cursor *c;
	rv_pdns_entry e;
	int rc;

	out[0] = '\0';
	assert_int_equal(rv_hdb_query_start(db, q, &c), 0);
	while ((rc = rv_hdb_next(c, &e)) == 1) {
		char line[512];

		snprintf(line, sizeof(line), "%s%s %s %s %lld %lld %llu", out[0] ? "|" : "",
				e.rrname, rv_rrtype_name(e.rrtype), e.rdata, (long long)e.time_first,
				(long long)e.time_last, (unsigned long long)e.count);
		strncat(out, line, sizeof(out) - strlen(out) - 1);
		assert_string_equal(e.sensor, "sensor1");
	}
	assert_int_equal(rc, 0);
	rv_hdb_cursor_free(&c);
	return out;
}

static void test_store(void **state)
{
	rv_hdb *w = NULL, *r = NULL;
	rv_pdns_agg *agg = rv_pdns_agg_new(1000);
	rv_hdb_query q;
	char why[256];
	size_t rows, deleted;

	(void)state;
	assert_int_equal(rv_hdb_open(dbpath, false, &r, why, sizeof(why)), -ENOENT);
	assert_int_equal(rv_hdb_open(dbpath, true, &w, why, sizeof(why)), 0);
	add(agg, "www.example.com", RV_RRTYPE_CNAME, "edge.cdn.net", 100, 200, 3);
	add(agg, "edge.cdn.net", RV_RRTYPE_A, "192.0.2.10", 100, 200, 3);
	add(agg, "api.example.com", RV_RRTYPE_A, "192.0.2.200", 150, 150, 1);
	add(agg, "a\\.b.example.com", RV_RRTYPE_AAAA, "2001:db8::1", 120, 130, 2);
	add(agg, "example.com", RV_RRTYPE_A, "198.51.100.1", 10, 20, 1);
	add(agg, "x\\032y.notexample.com", RV_RRTYPE_A, "192.0.3.1", 10, 20, 1);
	assert_int_equal(rv_hdb_write(w, agg, &rows, why, sizeof(why)), 0);
	assert_int_equal(rows, 6);
	/* A second batch merges into the same rows. */
	rv_pdns_agg_free(&agg);
	agg = rv_pdns_agg_new(1000);
	add(agg, "edge.cdn.net", RV_RRTYPE_A, "192.0.2.10", 50, 300, 2);
	assert_int_equal(rv_hdb_write(w, agg, &rows, why, sizeof(why)), 0);
	rv_pdns_agg_free(&agg);

	assert_int_equal(rv_hdb_open(dbpath, false, &r, why, sizeof(why)), 0);
	rv_hdb_query_init(&q, RV_HQ_RRSET_NAME);
	q.name = "edge.cdn.net";
	assert_string_equal(run(r, &q), "edge.cdn.net A 192.0.2.10 50 300 5");

	/* "*.example.com": strictly under it, at a label boundary. */
	rv_hdb_query_init(&q, RV_HQ_RRSET_SUFFIX);
	q.name = "example.com";
	assert_string_equal(run(r, &q), "a\\.b.example.com AAAA 2001:db8::1 120 130 2|"
			"api.example.com A 192.0.2.200 150 150 1|"
			"www.example.com CNAME edge.cdn.net 100 200 3");
	q.rrtype = RV_RRTYPE_A;
	assert_string_equal(run(r, &q), "api.example.com A 192.0.2.200 150 150 1");

	/* Names with escapes round-trip exactly. */
	rv_hdb_query_init(&q, RV_HQ_RRSET_NAME);
	q.name = "x\\032y.notexample.com";
	assert_string_equal(run(r, &q), "x\\032y.notexample.com A 192.0.3.1 10 20 1");

	rv_hdb_query_init(&q, RV_HQ_RDATA_NAME);
	q.name = "edge.cdn.net";
	assert_string_equal(run(r, &q), "www.example.com CNAME edge.cdn.net 100 200 3");

	/* 192.0.2.0/24 holds two; the /32 one; 192.0.3.1 is outside. */
	rv_hdb_query_init(&q, RV_HQ_RDATA_IP);
	assert_int_equal(rv_addr_parse("192.0.2.0", &q.ip_lo), 0);
	assert_int_equal(rv_addr_parse("192.0.2.255", &q.ip_hi), 0);
	assert_string_equal(run(r, &q), "edge.cdn.net A 192.0.2.10 50 300 5|"
			"api.example.com A 192.0.2.200 150 150 1");
	q.limit = 1;
	assert_string_equal(run(r, &q), "edge.cdn.net A 192.0.2.10 50 300 5");
	q.limit = 10;
	q.time_last_after = 250;
	assert_string_equal(run(r, &q), "edge.cdn.net A 192.0.2.10 50 300 5");
	q.time_last_after = INT64_MIN;
	q.time_first_after = 100;
	assert_string_equal(run(r, &q), "api.example.com A 192.0.2.200 150 150 1");

	rv_hdb_query_init(&q, RV_HQ_RDATA_IP);
	assert_int_equal(rv_addr_parse("2001:db8::", &q.ip_lo), 0);
	assert_int_equal(rv_addr_parse("2001:db8::ffff", &q.ip_hi), 0);
	assert_string_equal(run(r, &q), "a\\.b.example.com AAAA 2001:db8::1 120 130 2");

	/* Retention: everything last seen before 150 goes. */
	assert_int_equal(rv_hdb_expire(w, 150, 0, &deleted, why, sizeof(why)), 0);
	assert_int_equal(deleted, 3);
	rv_hdb_query_init(&q, RV_HQ_RRSET_SUFFIX);
	q.name = "com";
	assert_string_equal(run(r, &q), "api.example.com A 192.0.2.200 150 150 1|"
			"www.example.com CNAME edge.cdn.net 100 200 3");
	/* A size cap below what the schema needs empties the table, then stops. */
	assert_int_equal(rv_hdb_expire(w, 0, 1, &deleted, why, sizeof(why)), 0);
	assert_int_equal(deleted, 3);
	rv_hdb_free(&r);
	rv_hdb_free(&w);
}

/* A file from a newer agent is refused, never written; garbage is refused. */
static void test_schema_guard(void **state)
{
	rv_hdb *w = NULL;
	char why[256], cmd[256];
	FILE *f;

	(void)state;
	assert_int_equal(rv_hdb_open(dbpath, true, &w, why, sizeof(why)), 0);
	rv_hdb_free(&w);
	snprintf(cmd, sizeof(cmd), "sqlite3 %s 'PRAGMA user_version = 7' 2>/dev/null", dbpath);
	if (system(cmd) != 0) {
		/* No sqlite3 shell: write the version field (offset 60) ourselves. */
		uint8_t v[4] = {0, 0, 0, 7};

		f = fopen(dbpath, "r+b");
		assert_non_null(f);
		assert_int_equal(fseek(f, 60, SEEK_SET), 0);
		assert_int_equal(fwrite(v, 1, 4, f), 4);
		fclose(f);
	}
	assert_int_equal(rv_hdb_open(dbpath, true, &w, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "schema version 7"));
	assert_null(w);

	f = fopen(dbpath, "wb");
	assert_non_null(f);
	fputs("this is not a database, but it is long enough to look like one......"
	      "................................................................", f);
	fclose(f);
	assert_int_equal(rv_hdb_open(dbpath, true, &w, why, sizeof(why)), -EIO);
	assert_null(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_of_chain),
		cmocka_unit_test(test_sensor),
		cmocka_unit_test(test_aggregate),
		cmocka_unit_test(test_combiner),
		cmocka_unit_test(test_rrtype),
		cmocka_unit_test(test_reverse_name),
		cmocka_unit_test_setup_teardown(test_store, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_schema_guard, setup_db, teardown_db),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
