/* Unit tests: rearview-report's pure parts - the zone-file reader, lenient
 * TXT, registered domains (libpsl's built-in list), summaries and escaping. */
#include <libpsl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "ptrcheck.h"
#include "report.h"
#include "zonefile.h"

typedef struct seen {
	char owner[8][256], type[8][16], ptr[8][256], txt[8][256];
	unsigned ttl[8];
	int n;
} seen;

static int collect(void *arg, const rv_zonefile_rr *rr)
{
	seen *s = arg;
	if (s->n == 8)
		return -ENOSPC;
	snprintf(s->owner[s->n], 256, "%s", rr->owner);
	snprintf(s->type[s->n], 16, "%s", rr->type);
	snprintf(s->ptr[s->n], 256, "%s", rr->ptr ? rr->ptr : "");
	snprintf(s->txt[s->n], 256, "%.*s", (int)rr->txt_len, rr->txt ? (const char *)rr->txt : "");
	s->ttl[s->n] = rr->ttl;
	s->n++;
	return 0;
}

static void test_zonefile(void **state)
{
	(void)state;
	static const char z[] =
		"; comment\n"
		"$ORIGIN rpz.test.\n$TTL 1h\n"
		"4.3.2.1.in-addr.arpa 300 IN PTR www.Example.test.\n"
		"\tIN 60 TXT \"first=1 last=2\" \"count=3\\\"q\\065\" ; trailing\n"
		"x ( TXT\n  bare\\032word )\n"
		"y.rpz.test. CNAME z\n";
	seen s = {0};
	char err[128];
	assert_int_equal(rv_zonefile_parse(z, sizeof(z) - 1, NULL, collect, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.owner[0], "4.3.2.1.in-addr.arpa.rpz.test");
	assert_string_equal(s.ptr[0], "www.Example.test");
	assert_int_equal(s.ttl[0], 300);
	assert_string_equal(s.owner[1], "4.3.2.1.in-addr.arpa.rpz.test");  /* owner repeated */
	assert_string_equal(s.type[1], "TXT");
	assert_string_equal(s.txt[1], "first=1 last=2 count=3\"qA");
	assert_int_equal(s.ttl[1], 60);
	assert_string_equal(s.owner[2], "x.rpz.test");
	assert_string_equal(s.txt[2], "bare word");
	assert_int_equal(s.ttl[2], 3600);
	assert_string_equal(s.type[3], "CNAME");

	static const char bad[] = "a.test. IN TXT \"open\n";
	memset(&s, 0, sizeof(s));
	assert_int_equal(rv_zonefile_parse(bad, sizeof(bad) - 1, NULL, collect, &s, err, sizeof(err)),
			-EBADMSG);
	assert_non_null(strstr(err, "line 1"));
	static const char rel[] = "a IN PTR b.\n";
	assert_int_equal(rv_zonefile_parse(rel, sizeof(rel) - 1, NULL, collect, &s, err, sizeof(err)),
			-EBADMSG);
	static const char inc[] = "$INCLUDE /etc/passwd\n";
	assert_int_equal(rv_zonefile_parse(inc, sizeof(inc) - 1, "x", collect, &s, err, sizeof(err)),
			-EBADMSG);
	static const char paren[] = "a.test. ( IN TXT x\n";
	assert_int_equal(rv_zonefile_parse(paren, sizeof(paren) - 1, NULL, collect, &s, err,
			sizeof(err)), -EBADMSG);
}

static void test_txt(void **state)
{
	(void)state;
	rv_report_meta m;
	char extra[64];
	const char *ours = "first=10 last=20 count=5 depth=2 score=3.25 country=au";
	assert_int_equal(rv_report_txt_parse(ours, strlen(ours), &m, extra, sizeof(extra)), 0);
	assert_int_equal(m.first, 10);
	assert_int_equal(m.last, 20);
	assert_int_equal(m.count, 5);
	assert_int_equal(m.depth, 2);
	assert_true(m.has_score);
	assert_true(m.score > 3.24 && m.score < 3.26);
	assert_string_equal(m.country, "AU");
	const char *theirs = "depth=1,first=10,last=20,count=0,trend=up,update=1700000000,score=1";
	assert_int_equal(rv_report_txt_parse(theirs, strlen(theirs), &m, extra, sizeof(extra)), 0);
	assert_int_equal(m.count, 1);  /* 0 read as 1, as the agent does */
	assert_string_equal(extra, "trend=up update=1700000000");
	const char *garbage = "hello world first=x last=2 count=1";
	assert_int_equal(rv_report_txt_parse(garbage, strlen(garbage), &m, extra, sizeof(extra)), -EBADMSG);
	assert_int_equal(m.last, 2);
	const char *rev = "first=5 last=4 count=1";
	assert_int_equal(rv_report_txt_parse(rev, strlen(rev), &m, extra, sizeof(extra)), -EBADMSG);
	const char *nan = "first=1 last=2 count=1 score=nan country=<x>";
	assert_int_equal(rv_report_txt_parse(nan, strlen(nan), &m, extra, sizeof(extra)), 0);
	assert_false(m.has_score);
	assert_string_equal(m.country, "");
}

static rv_report *sample(const psl_ctx_t *psl)
{
	int e;
	rv_report *r = rv_report_new("rpz.test.", psl, &e);
	assert_non_null(r);
	const char *t1 = "first=1000 last=5000 count=4 depth=0 score=4 country=AU";
	const char *t2 = "first=2000 last=2000 count=1 score=0.5";
	assert_int_equal(rv_report_add(r, "10.2.0.192.in-addr.arpa.rpz.test.", "PTR",
			"www.shop.example.co.uk", NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "10.2.0.192.in-addr.arpa.rpz.test", "TXT", NULL,
			(const uint8_t *)t1, strlen(t1)), 0);
	assert_int_equal(rv_report_add(r, "11.2.0.192.in-addr.arpa.rpz.test", "PTR",
			"img.example.co.uk", NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "11.2.0.192.in-addr.arpa.rpz.test", "PTR",
			"other.test", NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "11.2.0.192.in-addr.arpa.rpz.test", "TXT", NULL,
			(const uint8_t *)t2, strlen(t2)), 0);
	assert_int_equal(rv_report_add(r, "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1."
			"0.0.2.ip6.arpa.rpz.test", "PTR", "a.b.c.github.io", NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "12.2.0.192.in-addr.arpa.rpz.test", "TXT", NULL,
			(const uint8_t *)t2, strlen(t2)), 0);                     /* TXT alone */
	assert_int_equal(rv_report_add(r, "www.example.rpz.test", "PTR", "x.test", NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "rpz.test", "SOA", NULL, NULL, 0), 0);  /* ignored */
	assert_int_equal(rv_report_add(r, "rpz.test", "NS", NULL, NULL, 0), 0);   /* ignored */
	assert_int_equal(rv_report_add(r, "rpz.test", "MX", NULL, NULL, 0), 0);
	assert_int_equal(rv_report_finish(r), 0);
	return r;
}

static void test_regdom_and_rows(void **state)
{
	(void)state;
	rv_report *r = sample(psl_builtin());
	assert_int_equal(rv_report_count(r), 3);
	assert_int_equal(rv_report_foreign_count(r), 3);
	assert_int_equal(rv_report_dup_count(r), 1);
	rv_report_entry *e = rv_report_entry_at(r, 0);  /* sorted: IPv4 first */
	assert_string_equal(e->name, "www.shop.example.co.uk");
	assert_string_equal(e->regdom, "example.co.uk");
	e = rv_report_entry_at(r, 1);
	assert_int_equal(e->nptr, 2);
	assert_string_equal(e->dups, "other.test");
	e = rv_report_entry_at(r, 2);
	assert_int_equal(e->addr.family, AF_INET6);
	assert_string_equal(e->regdom, "c.github.io");  /* a private suffix of the list */
	assert_string_equal(rv_report_regdom(r, "example.test"), "example.test");
	rv_report_free(&r);
	assert_null(r);
	/* Without a list: the last two labels; an escaped dot is no separator. */
	r = sample(NULL);
	assert_string_equal(rv_report_regdom(r, "a.b\\.c.d"), "b\\.c.d");
	rv_report_free(&r);
}

static char *render(rv_report *r, const rv_report_opts *o, int fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	if (fmt == 'h')
		assert_int_equal(rv_report_write_html(r, o, f), 0);
	else
		assert_int_equal(rv_report_write(r, o, fmt, f), 0);
	fclose(f);
	return buf;
}

static void test_summaries(void **state)
{
	(void)state;
	rv_report *r = sample(psl_builtin());
	rv_report_opts o = {.now = 10000, .top = 10, .weak_score = 2, .source = "test"};
	char *t = render(r, &o, 't');
	assert_non_null(strstr(t, "addresses: 3 of 3 selected (IPv4 2, IPv6 1); foreign records: 3; "
			"owners with duplicate PTRs: 1; weak guesses: 2"));
	/* example.co.uk: two addresses, count 4 + 1. */
	assert_non_null(strstr(t, "          2            5  example.co.uk\n"));
	assert_non_null(strstr(t, "  192.0.2.11: img.example.co.uk other.test\n"));
	free(t);
	char *j = render(r, &o, 'j');
	assert_non_null(strstr(j, "\"top_domains_by_addresses\":[\n {\"key\":\"example.co.uk\","
			"\"addresses\":2,\"count\":5}"));
	assert_non_null(strstr(j, "\"weak\":[\"2001:db8::10\",\"192.0.2.11\"]"));
	free(j);
	/* Filters. */
	assert_int_equal(rv_addr_parse("192.0.2.10", &o.cidr), 0);
	o.cidr_bits = 32;
	char *c = render(r, &o, 'c');
	assert_non_null(strstr(c, "\n192.0.2.10,4,www.shop.example.co.uk,example.co.uk,1000,5000,4,0,"
			"4.00,AU,1,1,,,,,\n"));
	assert_null(strstr(c, "192.0.2.11"));
	free(c);
	memset(&o.cidr, 0, sizeof(o.cidr));
	o.since = 3000;
	o.domain = "co.uk";
	c = render(r, &o, 'c');
	assert_non_null(strstr(c, "192.0.2.10"));
	assert_null(strstr(c, "192.0.2.11"));
	free(c);
	int64_t tt;
	assert_int_equal(rv_report_parse_time("-7d", 1000000, &tt), 0);
	assert_int_equal(tt, 1000000 - 7 * 86400);
	assert_int_equal(rv_report_parse_time("12345", 0, &tt), 0);
	assert_int_equal(tt, 12345);
	assert_int_equal(rv_report_parse_time("-7x", 0, &tt), -EINVAL);
	rv_report_free(&r);
}

static char *esc(int kind, const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	rv_report_escape(f, kind, s);
	fclose(f);
	return buf;
}

static void test_escaping(void **state)
{
	(void)state;
	static const struct { int k; const char *in, *out; } v[] = {
		{'h', "<script>a&b\"c'", "&lt;script&gt;a&amp;b&quot;c&#39;"},
		{'j', "a\"b\\c\n</script>\x01\xc3", "a\\\"b\\\\c\\u000a\\u003c/script\\u003e\\u0001\\u00c3"},
		{'c', "plain", "plain"},
		{'c', "a,b\"c", "\"a,b\"\"c\""},
		{'c', "=HYPERLINK(1)", "\"'=HYPERLINK(1)\""},
		{'t', "a\033[31mb", "a\\027[31mb"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *o = esc(v[i].k, v[i].in);
		assert_string_equal(o, v[i].out);
		free(o);
	}
	/* A hostile name reaches HTML only escaped. */
	int e;
	rv_report *r = rv_report_new("rpz.test", NULL, &e);
	assert_int_equal(rv_report_add(r, "1.0.0.10.in-addr.arpa.rpz.test", "PTR",
			"<img src=x onerror=alert(1)>.test", NULL, 0), 0);
	assert_int_equal(rv_report_finish(r), 0);
	rv_report_opts o = {.now = 1, .top = 5, .weak_score = 2, .source = "<b>"};
	char *h = render(r, &o, 'h');
	assert_null(strstr(h, "<img"));
	assert_null(strstr(h, "<b>"));
	/* Canonical text escapes the blanks and parentheses (RFC 1035 5.1). */
	assert_non_null(strstr(h, "&lt;img\\032src=x\\032onerror=alert\\(1\\)&gt;.test"));
	free(h);
	rv_report_free(&r);
}

/* Rows share interned names, and a TXT is stored only when meta cannot
 * rebuild it octet for octet: what the report shows stays the same. */
static void test_compact_rows(void **state)
{
	(void)state;
	static const struct { const char *owner, *name, *txt; bool stored; } v[] = {
		/* the agent's TXT, and the older one without score and country */
		{"1.0.0.10", "www.example.test", "first=100 last=200 count=3 depth=1 score=2.50 country=DE", false},
		{"2.0.0.10", "www.example.test", "first=100 last=200 count=3 depth=1", false},
		/* written otherwise: kept as found */
		{"3.0.0.10", "cdn.example.test", "first=100 last=200 count=3 depth=1 score=2.5", true},
		{"4.0.0.10", "cdn.example.test", "first=100 last=200 count=3 depth=1 country=de", true},
		{"5.0.0.10", "cdn.example.test", "last=200 first=100 count=3 depth=1", true},
		{"6.0.0.10", "cdn.example.test", "first=100 last=200 count=0 depth=1", true},
		{"7.0.0.10", "cdn.example.test", "first=100,last=200,count=3,depth=1,trend=up", true},
		{"8.0.0.10", "cdn.example.test", "free text\\ \x01", true},
	};
	int e;
	rv_report *r = rv_report_new("rpz.test", NULL, &e);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char o[128];
		snprintf(o, sizeof(o), "%s.in-addr.arpa.rpz.test", v[i].owner);
		assert_int_equal(rv_report_add(r, o, "PTR", v[i].name, NULL, 0), 0);
		assert_int_equal(rv_report_add(r, o, "TXT", NULL, (const uint8_t *)v[i].txt,
				strlen(v[i].txt)), 0);
	}
	assert_int_equal(rv_report_add(r, "9.0.0.10.in-addr.arpa.rpz.test", "PTR", "www.example.test",
			NULL, 0), 0);
	assert_int_equal(rv_report_finish(r), 0);
	assert_int_equal(rv_report_count(r), 9);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const rv_report_entry *x = rv_report_entry_at(r, i);
		char buf[RV_REPORT_TXT_BUF];
		assert_string_equal(x->name, v[i].name);
		if (v[i].stored)
			assert_non_null(x->txt);
		else
			assert_null(x->txt);
		const char *t = rv_report_entry_txt(x, buf, sizeof(buf));
		if (i == 7)
			assert_string_equal(t, "free text\\092 \\001");  /* printable, as before */
		else
			assert_string_equal(t, v[i].txt);
	}
	/* One copy of each name. */
	assert_ptr_equal(rv_report_entry_at(r, 0)->name, rv_report_entry_at(r, 1)->name);
	assert_ptr_equal(rv_report_entry_at(r, 0)->name, rv_report_entry_at(r, 8)->name);
	assert_ptr_equal(rv_report_entry_at(r, 2)->name, rv_report_entry_at(r, 7)->name);
	assert_string_equal(rv_report_entry_at(r, 6)->extra, "trend=up");
	char buf[RV_REPORT_TXT_BUF];
	assert_null(rv_report_entry_txt(rv_report_entry_at(r, 8), buf, sizeof(buf)));  /* no TXT */
	rv_report_free(&r);
}

/* --hot-zone: the hot zone is read first; an address with any record there
 * is reported from it, the main zone's PTR and TXT at it are ignored, and
 * foreign records of both zones are kept. */
static void test_hot_zone(void **state)
{
	(void)state;
	int e;
	rv_report *r = rv_report_new("rpz.test", NULL, &e);
	assert_non_null(r);
	assert_int_equal(rv_report_hot_begin(r, "rpz.test."), -EINVAL);  /* the main zone */
	assert_int_equal(rv_report_hot_begin(r, "."), -EINVAL);
	assert_int_equal(rv_report_hot_begin(r, "hot.rpz.test."), 0);
	const char *tnew = "first=900 last=1000 count=7 depth=0";
	const char *told = "first=100 last=200 count=3 depth=1";
	/* hot: 10.0.0.1 (also in main), 10.0.0.4 (hot only), 10.0.0.2 only a
	 * record that is not ours (it still hides the main zone's PTR). */
	assert_int_equal(rv_report_add(r, "hot.rpz.test", "SOA", NULL, NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "hot.rpz.test", "NS", NULL, NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "1.0.0.10.in-addr.arpa.hot.rpz.test", "PTR",
			"new.example.test", NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "1.0.0.10.in-addr.arpa.hot.rpz.test", "TXT", NULL,
			(const uint8_t *)tnew, strlen(tnew)), 0);
	assert_int_equal(rv_report_add(r, "4.0.0.10.in-addr.arpa.hot.rpz.test", "PTR",
			"hot-only.example.test", NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "2.0.0.10.in-addr.arpa.hot.rpz.test", "CNAME", NULL,
			NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "hot.rpz.test", "MX", NULL, NULL, 0), 0);
	rv_report_hot_end(r);
	/* main */
	assert_int_equal(rv_report_add(r, "rpz.test", "SOA", NULL, NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "1.0.0.10.in-addr.arpa.rpz.test", "PTR",
			"old.example.test", NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "1.0.0.10.in-addr.arpa.rpz.test", "TXT", NULL,
			(const uint8_t *)told, strlen(told)), 0);
	assert_int_equal(rv_report_add(r, "1.0.0.10.in-addr.arpa.rpz.test", "CNAME", NULL, NULL, 0),
			0);
	assert_int_equal(rv_report_add(r, "2.0.0.10.in-addr.arpa.rpz.test", "PTR",
			"hidden.example.test", NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "3.0.0.10.in-addr.arpa.rpz.test", "PTR",
			"main-only.example.test", NULL, 0), 0);
	assert_int_equal(rv_report_add(r, "3.0.0.10.in-addr.arpa.rpz.test", "TXT", NULL,
			(const uint8_t *)told, strlen(told)), 0);
	assert_int_equal(rv_report_add(r, "www.rpz.test", "PTR", "x.test", NULL, 0), 0);
	assert_int_equal(rv_report_finish(r), 0);

	assert_int_equal(rv_report_count(r), 3);
	assert_int_equal(rv_report_dup_count(r), 0);
	rv_report_entry *x = rv_report_entry_at(r, 0);
	char a[RV_ADDR_STRLEN], buf[RV_REPORT_TXT_BUF];
	assert_string_equal(rv_addr_str(&x->addr, a, sizeof(a)), "10.0.0.1");
	assert_string_equal(x->name, "new.example.test");
	assert_int_equal(x->nptr, 1);
	assert_null(x->dups);
	assert_int_equal(x->ntxt, 1);
	assert_int_equal(x->meta.count, 7);
	assert_string_equal(rv_report_entry_txt(x, buf, sizeof(buf)), tnew);
	assert_true(x->hot);
	x = rv_report_entry_at(r, 1);
	assert_string_equal(rv_addr_str(&x->addr, a, sizeof(a)), "10.0.0.3");
	assert_string_equal(x->name, "main-only.example.test");
	assert_false(x->hot);
	x = rv_report_entry_at(r, 2);
	assert_string_equal(rv_addr_str(&x->addr, a, sizeof(a)), "10.0.0.4");
	assert_string_equal(x->name, "hot-only.example.test");
	assert_true(x->hot);
	/* Foreign: both zones' (the main zone's CNAME at a hot address too). */
	static const char *const fw[] = {
		"2.0.0.10.in-addr.arpa.hot.rpz.test CNAME (not PTR or TXT)",
		"hot.rpz.test MX (at the apex)",
		"1.0.0.10.in-addr.arpa.rpz.test CNAME (not PTR or TXT)",
		"www.rpz.test PTR (owner outside the reverse trees)",
	};
	assert_int_equal(rv_report_foreign_count(r), 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(rv_report_foreign_at(r, i), fw[i]);
	rv_report_free(&r);
}

static void test_revname(void **state)
{
	(void)state;
	rv_addr a;
	uint8_t w[256];
	assert_int_equal(rv_addr_parse("192.0.2.99", &a), 0);
	size_t n = rv_ptrcheck_revname(&a, w);
	assert_int_equal(n, 25);
	assert_memory_equal(w, "\00299\0012\0010\003192\007in-addr\004arpa", 25);
	assert_int_equal(rv_addr_parse("2001:db8::1", &a), 0);
	n = rv_ptrcheck_revname(&a, w);
	assert_int_equal(n, 64 + 10);
	assert_memory_equal(w, "\0011\0010", 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zonefile),
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_regdom_and_rows),
		cmocka_unit_test(test_summaries),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_compact_rows),
		cmocka_unit_test(test_hot_zone),
		cmocka_unit_test(test_revname),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
