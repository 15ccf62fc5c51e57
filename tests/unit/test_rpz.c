/*
 * test_rpz.c - RPZ names, UPDATE construction (parsed back with ldns), the byte
 * budget, reply checks, and the writer against an in-process fake DNS server
 * with a fake table (the four table functions the writer uses are defined here,
 * so the real table.o is not linked into this test).
 */
#include <setjmp.h>
#include <signal.h>
#include <time.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <ldns/ldns.h>

#include "long_name.h"
#include "log.h"
#include "rpz.h"
#include "rv_test.h"
#include "stats.h"
#include "update_srv.h"

static const rv_tsig_key test_key = {
	.name = "rearview-key.",
	.algorithm = "hmac-sha256.",
	.secret = "fiLFPrTAww06rSgrthCfsEeeb0QkZHfJsa+gzOXq4Ok=",
};

static const rv_tsig_key wrong_key = {
	.name = "rearview-key.",
	.algorithm = "hmac-sha256.",
	.secret = "AAAAPrTAww06rSgrthCfsEeeb0QkZHfJsa+gzOXq4Ok=",
};

/* ---- fake change feed (the publisher's role; the real one is tested in
 * test_table.c and by the integration suites) ---- */

#define FT_MAX 4096

struct fake_table {
	rv_change changes[FT_MAX];
	size_t n;
	size_t queue[FT_MAX];   /* indices, queue[head..head+qlen) mod FT_MAX */
	size_t head, qlen;
	bool queued[FT_MAX];
	unsigned committed[FT_MAX];
	unsigned requeued;
	unsigned rejected;  /* rv_table_rejected() calls */
};

static struct fake_table *ft;

/* The address encodes the change's index, so committed/requeue find it. */
static size_t ft_index(const rv_change *c)
{
	return (size_t)c->addr.bytes[14] << 8 | c->addr.bytes[15];
}

static size_t ft_queued(void *t)
{
	(void)t;
	return ft->qlen;
}

static int ft_pop(void *t, rv_change *out)
{
	(void)t;
	if (ft->qlen == 0)
		return -ENOENT;
	size_t i = ft->queue[ft->head];
	ft->head = (ft->head + 1) % FT_MAX;
	ft->qlen--;
	ft->queued[i] = false;
	*out = ft->changes[i];
	return 0;
}

static void ft_committed(void *t, const rv_change *c)
{
	(void)t;
	ft->committed[ft_index(c)]++;
}

static void ft_rejected(void *t, const rv_change *c)
{
	(void)t;
	(void)c;
	ft->rejected++;
}

static void ft_requeue(void *t, const rv_change *c)
{
	size_t i = ft_index(c);
	(void)t;
	ft->requeued++;
	if (ft->queued[i])
		return;
	ft->head = (ft->head + FT_MAX - 1) % FT_MAX;
	ft->queue[ft->head] = i;
	ft->qlen++;
	ft->queued[i] = true;
}

static const rv_change_feed ft_feed = {
	.queued = ft_queued, .pop = ft_pop, .committed = ft_committed,
	.requeue = ft_requeue, .rejected = ft_rejected, .arg = NULL,
};

static void ft_add(size_t n)
{
	for (size_t k = 0; k < n; k++) {
		size_t i = ft->n++;
		rv_change *c = &ft->changes[i];
		memset(c, 0, sizeof(*c));
		c->addr.family = (i % 2) ? AF_INET6 : AF_INET;
		if (c->addr.family == AF_INET) {
			/* IPv4 cannot hold the index in bytes 14/15: they are zero
			 * padding; keep the index there anyway (rv_addr is a plain
			 * struct), the RPZ name only uses bytes 0..3. */
			c->addr.bytes[0] = 10;
			c->addr.bytes[1] = (uint8_t)(i >> 8);
			c->addr.bytes[2] = (uint8_t)i;
			c->addr.bytes[3] = 1;
		} else {
			c->addr.bytes[0] = 0x20;
			c->addr.bytes[1] = 0x01;
			c->addr.bytes[2] = 0x0d;
			c->addr.bytes[3] = 0xb8;
		}
		c->addr.bytes[14] = (uint8_t)(i >> 8);
		c->addr.bytes[15] = (uint8_t)i;
		snprintf(c->name, sizeof(c->name), "host-%zu.example.com", i);
		c->first = 1700000000;
		c->last = 1700000000 + (int64_t)i;
		c->count = i + 1;
		c->depth = (unsigned)(i % 3);
		ft->queue[(ft->head + ft->qlen) % FT_MAX] = i;
		ft->qlen++;
		ft->queued[i] = true;
	}
}

static int ft_setup(void **state)
{
	(void)state;
	ft = calloc(1, sizeof(*ft));
	memset(&rv_stats, 0, sizeof(rv_stats));
	return ft == NULL ? -1 : 0;
}

static int ft_teardown(void **state)
{
	(void)state;
	free(ft);
	ft = NULL;
	return 0;
}

/* ---- helpers ---- */

static rv_change mk(const char *addr, const char *name)
{
	rv_change c;
	memset(&c, 0, sizeof(c));
	assert_int_equal(rv_addr_parse(addr, &c.addr), 0);
	snprintf(c.name, sizeof(c.name), "%s", name);
	c.first = 1700000000;
	c.last = 1700000100;
	c.count = 7;
	c.depth = 2;
	return c;
}

static char *rdf_str(const ldns_rdf *r)
{
	char *s = ldns_rdf2str(r);
	assert_non_null(s);
	return s;
}

static void assert_rdf_str(const ldns_rdf *r, const char *want)
{
	char *s = rdf_str(r);
	assert_string_equal(s, want);
	free(s);
}

/* ---- names and TXT ---- */

static void test_reverse_name(void **state)
{
	char out[256];
	rv_change c;

	(void)state;
	c = mk("1.2.3.4", "x");
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "rpz.example", out, sizeof(out)), 0);
	assert_string_equal(out, "4.3.2.1.in-addr.arpa.rpz.example.");
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "rpz.example.", out, sizeof(out)), 0);
	assert_string_equal(out, "4.3.2.1.in-addr.arpa.rpz.example.");
	c = mk("192.168.200.10", "x");
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "rpz", out, sizeof(out)), 0);
	assert_string_equal(out, "10.200.168.192.in-addr.arpa.rpz.");
	c = mk("2001:db8::1", "x");
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "zone", out, sizeof(out)), 0);
	assert_string_equal(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
			"8.b.d.0.1.0.0.2.ip6.arpa.zone.");
	c = mk("fe80::abcd:ef01", "x");
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "z.", out, sizeof(out)), 0);
	assert_string_equal(out, "1.0.f.e.d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
			"0.0.0.0.0.8.e.f.ip6.arpa.z.");

	/* exact fit, one byte short */
	c = mk("1.2.3.4", "x");
	size_t need = strlen("4.3.2.1.in-addr.arpa.rpz.example.") + 1;
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "rpz.example", out, need), 0);
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "rpz.example", out, need - 1), -ENOSPC);
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "rpz.example", out, 5), -ENOSPC);
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "rpz.example", out, 0), -ENOSPC);
	c = mk("2001:db8::1", "x");
	need = 64 + strlen("ip6.arpa.zone.") + 1;
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "zone", out, need), 0);
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "zone", out, need - 1), -ENOSPC);
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "zone", out, 40), -ENOSPC);
	c.addr.family = 99;
	assert_int_equal(rv_rpz_reverse_name(&c.addr, "zone", out, sizeof(out)), -EINVAL);
}

static void test_format_txt(void **state)
{
	char out[128];
	rv_change c = mk("1.2.3.4", "x");

	(void)state;
	assert_int_equal(rv_rpz_format_txt(&c, out, sizeof(out)), 0);
	assert_string_equal(out, "first=1700000000 last=1700000100 count=7 depth=2 score=0.00");
	c.first = INT64_MIN;
	c.last = INT64_MAX;
	c.count = UINT64_MAX;
	c.depth = UINT32_MAX;
	assert_int_equal(rv_rpz_format_txt(&c, out, sizeof(out)), 0);
	c.score = 1e300;
	memcpy(c.country, "NZ", 3);
	assert_int_equal(rv_rpz_format_txt(&c, out, sizeof(out)), 0);
	assert_string_equal(out, "first=-9223372036854775808 last=9223372036854775807 "
			"count=18446744073709551615 depth=4294967295 score=999999999.00 country=NZ");
	/* TXT strings are at most 255 octets; the widest metadata is far below */
	assert_true(strlen(out) <= 128);
	c = mk("1.2.3.4", "x");
	c.score = 3.14159;
	assert_int_equal(rv_rpz_format_txt(&c, out, sizeof(out)), 0);
	assert_string_equal(out, "first=1700000000 last=1700000100 count=7 depth=2 score=3.14");
	c.score = -1.0 / 0.0 * 0.0; /* NaN */
	assert_int_equal(rv_rpz_format_txt(&c, out, sizeof(out)), 0);
	assert_non_null(strstr(out, " score=0.00"));
	assert_int_equal(rv_rpz_format_txt(&c, out, 10), -ENOSPC);
}

/* ---- UPDATE construction ---- */

static ldns_pkt *parse_wire(const rv_rpz_msg *m, const uint8_t **wire, size_t *len)
{
	ldns_pkt *p = NULL;
	*wire = rv_rpz_msg_wire(m, len);
	assert_int_equal(ldns_wire2pkt(&p, *wire, *len), LDNS_STATUS_OK);
	return p;
}

static void assert_rr(const ldns_rr *rr, const char *owner, ldns_rr_type type,
		ldns_rr_class cls, uint32_t ttl, const char *rdata)
{
	assert_rdf_str(ldns_rr_owner(rr), owner);
	assert_int_equal(ldns_rr_get_type(rr), type);
	assert_int_equal(ldns_rr_get_class(rr), cls);
	assert_int_equal(ldns_rr_ttl(rr), ttl);
	if (rdata == NULL) {
		assert_int_equal(ldns_rr_rd_count(rr), 0);
	} else {
		assert_int_equal(ldns_rr_rd_count(rr), 1);
		assert_rdf_str(ldns_rr_rdf(rr, 0), rdata);
	}
}

static void test_build(void **state)
{
	rv_change ch[3] = {
		mk("1.2.3.4", "www.example.com"),
		mk("2001:db8::1", "v6.example.net"),
		mk("10.0.0.1", ""),
	};
	ch[2].remove = true;
	rv_rpz_build b = { .zone = "rpz.example", .ttl = 600, .max_bytes = 65535, .key = &test_key };
	rv_rpz_msg *m = NULL;
	size_t used = 0, len;
	const uint8_t *wire;

	(void)state;
	assert_int_equal(rv_rpz_msg_build(&b, ch, 3, &used, &m), 0);
	assert_int_equal(used, 3);
	ldns_pkt *p = parse_wire(m, &wire, &len);
	assert_int_equal(ldns_pkt_get_opcode(p), LDNS_PACKET_UPDATE);
	assert_false(ldns_pkt_qr(p));
	assert_false(ldns_pkt_rd(p));
	assert_int_equal(ldns_pkt_id(p), rv_rpz_msg_id(m));
	/* zone section: rpz.example. IN SOA; no prerequisites */
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	ldns_rr *z = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	assert_rdf_str(ldns_rr_owner(z), "rpz.example.");
	assert_int_equal(ldns_rr_get_type(z), LDNS_RR_TYPE_SOA);
	assert_int_equal(ldns_rr_get_class(z), LDNS_RR_CLASS_IN);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	/* update section: 4 + 4 + 2 */
	ldns_rr_list *up = ldns_pkt_authority(p);
	assert_int_equal(ldns_rr_list_rr_count(up), 10);
	const char *o1 = "4.3.2.1.in-addr.arpa.rpz.example.";
	assert_rr(ldns_rr_list_rr(up, 0), o1, LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_ANY, 0, NULL);
	assert_rr(ldns_rr_list_rr(up, 1), o1, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_ANY, 0, NULL);
	assert_rr(ldns_rr_list_rr(up, 2), o1, LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_IN, 600,
			"www.example.com.");
	assert_rr(ldns_rr_list_rr(up, 3), o1, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, 600,
			"\"first=1700000000 last=1700000100 count=7 depth=2 score=0.00\"");
	const char *o2 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
		"8.b.d.0.1.0.0.2.ip6.arpa.rpz.example.";
	assert_rr(ldns_rr_list_rr(up, 4), o2, LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_ANY, 0, NULL);
	assert_rr(ldns_rr_list_rr(up, 5), o2, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_ANY, 0, NULL);
	assert_rr(ldns_rr_list_rr(up, 6), o2, LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_IN, 600,
			"v6.example.net.");
	assert_rr(ldns_rr_list_rr(up, 7), o2, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, 600,
			"\"first=1700000000 last=1700000100 count=7 depth=2 score=0.00\"");
	const char *o3 = "1.0.0.10.in-addr.arpa.rpz.example.";
	assert_rr(ldns_rr_list_rr(up, 8), o3, LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_ANY, 0, NULL);
	assert_rr(ldns_rr_list_rr(up, 9), o3, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_ANY, 0, NULL);
	/* TSIG: present, our key and algorithm, verifiable */
	ldns_rr *tsig = ldns_pkt_tsig(p);
	assert_non_null(tsig);
	assert_rdf_str(ldns_rr_owner(tsig), "rearview-key.");
	assert_rdf_str(ldns_rr_rdf(tsig, 0), "hmac-sha256.");
	assert_int_equal(ldns_pkt_arcount(p), 0);   /* ldns moves the TSIG out */
	assert_true(ldns_pkt_tsig_verify(p, wire, len, test_key.name, test_key.secret, NULL));
	assert_false(ldns_pkt_tsig_verify(p, wire, len, wrong_key.name, wrong_key.secret, NULL));
	ldns_pkt_free(p);
	rv_rpz_msg_free(&m);
	assert_null(m);
	rv_rpz_msg_free(&m);

	/* unsigned (tests only); the zone with its trailing dot */
	b.key = NULL;
	b.zone = "rpz.example.";
	assert_int_equal(rv_rpz_msg_build(&b, ch, 1, &used, &m), 0);
	p = parse_wire(m, &wire, &len);
	assert_null(ldns_pkt_tsig(p));
	assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_authority(p)), 4);
	ldns_pkt_free(p);
	rv_rpz_msg_free(&m);

	/* absent: an add without the two RRset deletions; a removal is never
	 * shortened (absent is ignored there) */
	ch[0].absent = true;
	ch[2].absent = true;
	assert_int_equal(rv_rpz_msg_build(&b, ch, 3, &used, &m), 0);
	p = parse_wire(m, &wire, &len);
	up = ldns_pkt_authority(p);
	assert_int_equal(ldns_rr_list_rr_count(up), 2 + 4 + 2);
	assert_rr(ldns_rr_list_rr(up, 0), o1, LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_IN, 600,
			"www.example.com.");
	assert_rr(ldns_rr_list_rr(up, 1), o1, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, 600,
			"\"first=1700000000 last=1700000100 count=7 depth=2 score=0.00\"");
	assert_rr(ldns_rr_list_rr(up, 2), o2, LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_ANY, 0, NULL);
	assert_rr(ldns_rr_list_rr(up, 6), o3, LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_ANY, 0, NULL);
	assert_rr(ldns_rr_list_rr(up, 7), o3, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_ANY, 0, NULL);
	ldns_pkt_free(p);
	rv_rpz_msg_free(&m);
	ch[0].absent = false;
	ch[2].absent = false;

	/* IDs are random: 32 messages, not all the same, not all zero */
	b.key = &test_key;
	uint16_t ids[32];
	bool differ = false;
	for (int i = 0; i < 32; i++) {
		assert_int_equal(rv_rpz_msg_build(&b, ch, 1, &used, &m), 0);
		ids[i] = rv_rpz_msg_id(m);
		if (i > 0 && ids[i] != ids[0])
			differ = true;
		rv_rpz_msg_free(&m);
	}
	assert_true(differ);
}

static void test_long_and_invalid_names(void **state)
{
	rv_rpz_build b = { .zone = "rpz.example", .ttl = 60, .max_bytes = 65535, .key = &test_key };
	rv_rpz_msg *m = NULL;
	size_t used = 99, len;
	const uint8_t *wire;
	char name[300];

	(void)state;
	long_name(name, 250);
	rv_change ok = mk("2001:db8::1", name);
	assert_int_equal(rv_rpz_msg_build(&b, &ok, 1, &used, &m), 0);
	assert_int_equal(used, 1);
	ldns_pkt *p = parse_wire(m, &wire, &len);
	char want[sizeof(name) + 2];
	snprintf(want, sizeof(want), "%s.", name);
	assert_rr(ldns_rr_list_rr(ldns_pkt_authority(p), 2), "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
			"0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.rpz.example.", LDNS_RR_TYPE_PTR,
			LDNS_RR_CLASS_IN, 60, want);
	ldns_pkt_free(p);
	rv_rpz_msg_free(&m);

	/* invalid names */
	long_name(name, 254);              /* 256 octets on the wire */
	rv_change bad[] = {
		mk("1.1.1.1", name),
		mk("1.1.1.2", "a..b"),
		mk("1.1.1.3", ""),
		mk("1.1.1.4", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com"),
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++) {
		used = 99;
		rv_change two[2] = { bad[i], ok };
		assert_int_equal(rv_rpz_msg_build(&b, two, 2, &used, &m), -EINVAL);
		assert_int_equal(used, 1);      /* caller drops changes[0] */
		assert_null(m);
		/* behind a good change: the batch stops before it */
		rv_change two2[3] = { ok, bad[i], ok };
		assert_int_equal(rv_rpz_msg_build(&b, two2, 3, &used, &m), 0);
		assert_int_equal(used, 1);
		rv_rpz_msg_free(&m);
	}
	/* a removal needs no name */
	rv_change rm = mk("1.1.1.5", "");
	rm.remove = true;
	assert_int_equal(rv_rpz_msg_build(&b, &rm, 1, &used, &m), 0);
	rv_rpz_msg_free(&m);
	/* a trailing dot is tolerated */
	rv_change dot = mk("1.1.1.6", "www.example.com.");
	assert_int_equal(rv_rpz_msg_build(&b, &dot, 1, &used, &m), 0);
	rv_rpz_msg_free(&m);

	/* zone too long for an IPv6 owner (73 octets + zone > 255) */
	long_name(name, 200);
	rv_rpz_build lz = b;
	lz.zone = name;
	rv_change v4 = mk("1.2.3.4", "x.com");
	assert_int_equal(rv_rpz_msg_build(&lz, &v4, 1, &used, &m), 0);
	rv_rpz_msg_free(&m);
	assert_int_equal(rv_rpz_msg_build(&lz, &ok, 1, &used, &m), -EINVAL);
	assert_int_equal(used, 1);

	/* unusable zone, nothing to do, budget too small */
	lz.zone = "bad..zone";
	assert_int_equal(rv_rpz_msg_build(&lz, &v4, 1, &used, &m), -EINVAL);
	assert_int_equal(used, 0);
	lz.zone = "";
	assert_int_equal(rv_rpz_msg_build(&lz, &v4, 1, &used, &m), -EINVAL);
	assert_int_equal(rv_rpz_msg_build(&b, &v4, 0, &used, &m), -EINVAL);
	rv_rpz_build tiny = b;
	tiny.max_bytes = 200;
	assert_int_equal(rv_rpz_msg_build(&tiny, &v4, 1, &used, &m), -EMSGSIZE);
	assert_int_equal(used, 0);
	assert_null(m);
	/* an unusable key: no secret, or an algorithm we do not know */
	rv_tsig_key k = test_key;
	k.secret[0] = '\0';
	rv_rpz_build bk = b;
	bk.key = &k;
	assert_int_equal(rv_rpz_msg_build(&bk, &v4, 1, &used, &m), -EINVAL);
	assert_int_equal(used, 0);
	assert_null(m);
	k = test_key;
	snprintf(k.algorithm, sizeof(k.algorithm), "gss-tsig.");
	assert_int_equal(rv_rpz_msg_build(&bk, &v4, 1, &used, &m), -EINVAL);
	assert_int_equal(used, 0);
}

static void budget_run(size_t max_bytes, size_t name_len)
{
	enum { N = 2000 };
	rv_change *ch = calloc(N, sizeof(*ch));
	unsigned *seen = calloc(N, sizeof(*seen));
	rv_rpz_build b = { .zone = "rpz.example.org", .ttl = 300, .max_bytes = max_bytes,
		.key = &test_key };
	char name[300], owner[RV_NAME_MAX];
	size_t done = 0, batches = 0;

	assert_non_null(ch);
	assert_non_null(seen);
	for (size_t i = 0; i < N; i++) {
		uint8_t bytes[16] = { 0x20, 0x01, 0x0d, 0xb8 };
		bytes[14] = (uint8_t)(i >> 8);
		bytes[15] = (uint8_t)i;
		long_name(name, name_len);
		char tag[16];
		snprintf(tag, sizeof(tag), "h%05zu", i % 100000);
		memcpy(name, tag, 6);
		ch[i] = mk("::1", name);
		assert_int_equal(rv_addr_set(&ch[i].addr, bytes, i % 3 ? 16 : 4), 0);
	}
	while (done < N) {
		rv_rpz_msg *m = NULL;
		size_t used = 0, len;
		const uint8_t *wire;
		assert_int_equal(rv_rpz_msg_build(&b, ch + done, N - done, &used, &m), 0);
		assert_true(used > 0);
		if (batches == 0)
			assert_true(used < N);
		ldns_pkt *p = parse_wire(m, &wire, &len);
		assert_true(len <= max_bytes);
		assert_true(ldns_pkt_tsig_verify(p, wire, len, test_key.name, test_key.secret, NULL));
		ldns_rr_list *up = ldns_pkt_authority(p);
		assert_int_equal(ldns_rr_list_rr_count(up), 4 * used);
		/* every change of the batch, in order, exactly once overall */
		for (size_t k = 0; k < used; k++) {
			size_t i = done + k;
			assert_int_equal(rv_rpz_reverse_name(&ch[i].addr, b.zone, owner,
					sizeof(owner)), 0);
			/* all four owners, before and past the 16 KiB pointers reach */
			for (size_t r = 0; r < 4; r++) {
				char *o = rdf_str(ldns_rr_owner(ldns_rr_list_rr(up, 4 * k + r)));
				assert_string_equal(o, owner);
				free(o);
			}
			seen[i]++;
		}
		ldns_pkt_free(p);
		rv_rpz_msg_free(&m);
		done += used;
		batches++;
	}
	for (size_t i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	free(ch);
	free(seen);
}

static void test_budget(void **state)
{
	(void)state;
	budget_run(65535, 240);
	budget_run(4096, 240);
	budget_run(65535, 20);
	budget_run(1400, 20);
	/* an over-large budget is clamped to one DNS message */
	budget_run(1000000, 240);
}


/* ---- the encoder: names, exact sizes ---- */

/* Builds one change alone; returns the parsed PTR target as text (caller frees)
 * or NULL when the build fails with -EINVAL. */
static char *build_target(const char *name)
{
	rv_rpz_build b = { .zone = "rpz.example", .ttl = 60, .max_bytes = 65535, .key = &test_key };
	rv_change c = mk("192.0.2.1", name);
	rv_rpz_msg *m = NULL;
	size_t used = 0, len;
	const uint8_t *wire;

	int r = rv_rpz_msg_build(&b, &c, 1, &used, &m);
	if (r == -EINVAL) {
		assert_int_equal(used, 1);
		assert_null(m);
		return NULL;
	}
	assert_int_equal(r, 0);
	ldns_pkt *p = parse_wire(m, &wire, &len);
	assert_true(ldns_pkt_tsig_verify(p, wire, len, test_key.name, test_key.secret, NULL));
	ldns_rr *ptr = ldns_rr_list_rr(ldns_pkt_authority(p), 2);
	assert_int_equal(ldns_rr_get_type(ptr), LDNS_RR_TYPE_PTR);
	/* the target we wrote equals ldns' own reading of the presentation form */
	char abs[RV_NAME_MAX + 2];
	snprintf(abs, sizeof(abs), "%s%s", name, name[strlen(name) - 1] == '.' ? "" : ".");
	ldns_rdf *want = ldns_dname_new_frm_str(abs);
	assert_non_null(want);
	assert_int_equal(ldns_rdf_size(want), ldns_rdf_size(ldns_rr_rdf(ptr, 0)));
	assert_memory_equal(ldns_rdf_data(want), ldns_rdf_data(ldns_rr_rdf(ptr, 0)),
			ldns_rdf_size(want));
	ldns_rdf_deep_free(want);
	char *s = rdf_str(ldns_rr_rdf(ptr, 0));
	ldns_pkt_free(p);
	rv_rpz_msg_free(&m);
	return s;
}

static void assert_target(const char *name, const char *want)
{
	char *s = build_target(name);
	if (want == NULL) {
		if (s != NULL)
			fail_msg("\"%s\" accepted as %s", name, s);
		return;
	}
	if (s == NULL)
		fail_msg("\"%s\" refused", name);
	assert_string_equal(s, want);
	free(s);
}

static void test_name_escapes(void **state)
{
	char name[RV_NAME_MAX], want[RV_NAME_MAX + 8];

	(void)state;
	/* RFC 1035 5.1 escapes, as ldns_rdf2str writes them into the table */
	assert_target("a\\.b.example", "a\\.b.example.");
	assert_target("sp\\032ace.example", "sp\\032ace.example.");
	assert_target("\\097bc.example", "abc.example.");
	assert_target("x\\\\y.example", "x\\\\y.example.");
	assert_target("\\000\\255.example", "\\000\\255.example.");
	assert_target("q\\\"uote.example", "q\"uote.example.");
	assert_target("end\\.", "end\\..");          /* an escaped dot is no terminator */
	assert_target("www.example.com.", "www.example.com.");
	/* malformed escapes and labels */
	assert_target("a\\", NULL);
	assert_target("a\\25", NULL);
	assert_target("a\\25.b", NULL);
	assert_target("\\256.example", NULL);
	assert_target("\\1x2.example", NULL);
	assert_target(".example", NULL);
	assert_target("a..example", NULL);
	assert_target(".", NULL);
	assert_target("..", NULL);
	assert_target("a.b..", NULL);

	/* labels: 63 octets fit, 64 do not (RFC 1035 2.3.4), counted after escapes */
	memset(name, 'a', 63);
	snprintf(name + 63, sizeof(name) - 63, ".com");
	snprintf(want, sizeof(want), "%s.", name);
	assert_target(name, want);
	memset(name, 'a', 64);
	snprintf(name + 64, sizeof(name) - 64, ".com");
	assert_target(name, NULL);
	memset(name, 'a', 62);
	snprintf(name + 62, sizeof(name) - 62, "\\046.com");     /* 63 octets */
	char *s = build_target(name);
	assert_non_null(s);
	free(s);
	memset(name, 'a', 63);
	snprintf(name + 63, sizeof(name) - 63, "\\046.com");     /* 64 octets */
	assert_target(name, NULL);

	/* names: 255 octets on the wire fit, 256 do not (RFC 1035 3.1) */
	long_name(name, 253);                    /* 253 + 2 = 255 */
	snprintf(want, sizeof(want), "%s.", name);
	assert_target(name, want);
	assert_target(want, want);               /* with the trailing dot: same name */
	long_name(name, 254);
	assert_target(name, NULL);
	/* a long text that is short on the wire: 63+63+63+61 octets as \DDD */
	size_t o = 0;
	const size_t labs[] = { 63, 63, 63, 61 };
	for (size_t l = 0; l < 4; l++) {
		for (size_t k = 0; k < labs[l]; k++)
			o += (size_t)snprintf(name + o, sizeof(name) - o, "\\%03u", 'a' + (unsigned)l);
		if (l < 3)
			name[o++] = '.';
	}
	name[o] = '\0';
	assert_true(o > 1000 && o < RV_NAME_MAX);
	s = build_target(name);
	assert_non_null(s);
	free(s);
	name[o - 4] = '\0';                      /* 254 octets: still fine */
	s = build_target(name);
	assert_non_null(s);
	free(s);
	/* one octet more: 256 */
	name[o - 4] = '\\';
	snprintf(name + o, sizeof(name) - o, "x");
	assert_target(name, NULL);
	/* a name that fills RV_NAME_MAX without its NUL is never read past */
	rv_change c = mk("192.0.2.1", "x");
	memset(c.name, 'a', sizeof(c.name));
	rv_rpz_build b = { .zone = "rpz.example", .ttl = 60, .max_bytes = 65535, .key = NULL };
	rv_rpz_msg *m = NULL;
	size_t used = 0;
	assert_int_equal(rv_rpz_msg_build(&b, &c, 1, &used, &m), -EINVAL);
	assert_int_equal(used, 1);

	/* the zone may be escaped too; the owner ends in it */
	b.zone = "r\\.pz.example.";
	c = mk("192.0.2.1", "x.com");
	assert_int_equal(rv_rpz_msg_build(&b, &c, 1, &used, &m), 0);
	const uint8_t *wire;
	size_t len;
	ldns_pkt *p = parse_wire(m, &wire, &len);
	assert_rdf_str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)), "r\\.pz.example.");
	assert_rdf_str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_authority(p), 3)),
			"1.2.0.192.in-addr.arpa.r\\.pz.example.");
	ldns_pkt_free(p);
	rv_rpz_msg_free(&m);
}

/* Wire octets of name text without escapes, with the root label. */
static size_t plain_wire(const char *name)
{
	return strlen(name) + 2;
}

static size_t txt_len(const rv_change *c)
{
	char t[RV_TXT_MAX + 1];
	assert_int_equal(rv_rpz_format_txt(c, t, sizeof(t)), 0);
	return strlen(t);
}

/* Address labels of the owner: "4.3.2.1" or 32 nibbles. */
static size_t addr_part(const rv_change *c)
{
	char owner[RV_NAME_MAX];
	if (c->addr.family == AF_INET6)
		return 64;
	assert_int_equal(rv_rpz_reverse_name(&c->addr, "", owner, sizeof(owner)), 0);
	/* "4.3.2.1." has as many characters as "4.3.2.1" has wire octets */
	return strlen(owner) - strlen("in-addr.arpa.");
}

/* The largest a change can cost anywhere in a message: four full owners
 * (address labels + suffix pointer), fixed parts, rdata. */
static size_t change_max(const rv_change *c)
{
	return 4 * (addr_part(c) + 2 + 10) + plain_wire(c->name) + 1 + txt_len(c);
}

static void test_exact_size(void **state)
{
	rv_change ch[4] = {
		mk("1.2.3.4", "www.example.com"),
		mk("2001:db8::1", "v6.example.net"),
		mk("10.20.30.40", "a.b.c.example"),
		mk("2001:db8::2", "x.org"),
	};
	rv_rpz_build b = { .zone = "rpz.example", .ttl = 600, .max_bytes = 65535, .key = &test_key };
	rv_rpz_msg *m = NULL;
	size_t used = 0, len;

	(void)state;
	/* header, zone, TSIG: "rearview-key." 14, "hmac-sha256." 13, MAC 32 */
	size_t zone = 13, tsig = 14 + 10 + 13 + 6 + 2 + 2 + 32 + 2 + 2 + 2;
	size_t want = 12 + zone + 4 + tsig;
	for (size_t i = 0; i < 4; i++) {
		/* the first owner of each family spells out in-addr.arpa / ip6.arpa
		 * (13 / 9 octets); later ones point at it; every owner ends in a
		 * pointer; repeats are pointers */
		size_t arpa = (i < 2) ? (ch[i].addr.family == AF_INET ? 13 : 9) : 0;
		want += addr_part(&ch[i]) + arpa + 2 + 10;          /* delete PTR */
		want += 2 + 10;                                     /* delete TXT */
		want += 2 + 10 + plain_wire(ch[i].name);            /* PTR */
		want += 2 + 10 + 1 + txt_len(&ch[i]);               /* TXT */
	}
	assert_int_equal(rv_rpz_msg_build(&b, ch, 4, &used, &m), 0);
	assert_int_equal(used, 4);
	rv_rpz_msg_wire(m, &len);
	assert_int_equal(len, want);
	rv_rpz_msg_free(&m);

	/* a budget of exactly that: all four; one byte less: three */
	b.max_bytes = want;
	assert_int_equal(rv_rpz_msg_build(&b, ch, 4, &used, &m), 0);
	assert_int_equal(used, 4);
	rv_rpz_msg_wire(m, &len);
	assert_int_equal(len, want);
	rv_rpz_msg_free(&m);
	b.max_bytes = want - 1;
	assert_int_equal(rv_rpz_msg_build(&b, ch, 4, &used, &m), 0);
	assert_int_equal(used, 3);
	rv_rpz_msg_free(&m);

	/* unsigned: no TSIG RR, same changes */
	b.max_bytes = 65535;
	b.key = NULL;
	assert_int_equal(rv_rpz_msg_build(&b, ch, 4, &used, &m), 0);
	rv_rpz_msg_wire(m, &len);
	assert_int_equal(len, want - tsig);
	rv_rpz_msg_free(&m);

	/* every algorithm we accept signs so that ldns verifies it; sizes follow
	 * the MAC length */
	static const struct { const char *alg; size_t mac; } algs[] = {
		{ "hmac-sha256.", 32 }, { "hmac-sha512.", 64 }, { "hmac-sha1.", 20 },
		{ "hmac-md5.sig-alg.reg.int.", 16 },
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(algs); i++) {
		rv_tsig_key k = test_key;
		snprintf(k.algorithm, sizeof(k.algorithm), "%s", algs[i].alg);
		/* a key name in upper case is signed in canonical (lower) case */
		snprintf(k.name, sizeof(k.name), "%s", i == 1 ? "RearView-Key." : "rearview-key.");
		b.key = &k;
		assert_int_equal(rv_rpz_msg_build(&b, ch, 4, &used, &m), 0);
		const uint8_t *wire;
		ldns_pkt *p = parse_wire(m, &wire, &len);
		size_t alen = strlen(algs[i].alg) + 1;
		assert_int_equal(len, want - tsig + 14 + 10 + alen + 6 + 2 + 2 + algs[i].mac + 6);
		assert_true(ldns_pkt_tsig_verify(p, wire, len, "rearview-key.", k.secret, NULL));
		assert_false(ldns_pkt_tsig_verify(p, wire, len, "rearview-key.", wrong_key.secret,
				NULL));
		ldns_rr *t = ldns_pkt_tsig(p);
		assert_int_equal(ldns_rr_get_class(t), LDNS_RR_CLASS_ANY);
		assert_int_equal(ldns_rr_ttl(t), 0);
		assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(t, 4)), rv_rpz_msg_id(m));
		assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(t, 2)), 300);
		/* time signed: now */
		const uint8_t *ts = ldns_rdf_data(ldns_rr_rdf(t, 1));
		int64_t at = 0;
		for (int j = 0; j < 6; j++)
			at = at << 8 | ts[j];
		assert_true(llabs(at - (int64_t)time(NULL)) <= 2);
		ldns_pkt_free(p);
		rv_rpz_msg_free(&m);
	}
}

/* Random budgets over a mixed stream: every message is within its budget and
 * the change that did not fit would not have (within one change of max_bytes). */
static void test_budget_fill(void **state)
{
	enum { N = 1500 };
	rv_change *ch = calloc(N, sizeof(*ch));
	rv_rpz_build b = { .zone = "rpz.test", .ttl = 60, .key = &test_key };

	(void)state;
	assert_non_null(ch);
	srand(7);
	for (size_t i = 0; i < N; i++) {
		uint8_t bytes[16];
		for (size_t k = 0; k < 16; k++)
			bytes[k] = (uint8_t)rand();
		char name[64];
		snprintf(name, sizeof(name), "h%zu.%.*s.example", i, (int)(i % 40) + 1,
				"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
		ch[i] = mk("::1", name);
		assert_int_equal(rv_addr_set(&ch[i].addr, bytes, i % 2 ? 16 : 4), 0);
		ch[i].remove = i % 11 == 0;
	}
	for (int round = 0; round < 60; round++) {
		size_t start = (size_t)rand() % (N / 2);
		b.max_bytes = round == 0 ? 65535 : 400 + (size_t)rand() % 65200;
		rv_rpz_msg *m = NULL;
		size_t used = 0, len;
		int r = rv_rpz_msg_build(&b, ch + start, N - start, &used, &m);
		if (r == -EMSGSIZE) {
			assert_true(b.max_bytes < 1000);
			continue;
		}
		assert_int_equal(r, 0);
		assert_true(used < N - start);
		rv_rpz_msg_wire(m, &len);
		assert_true(len <= b.max_bytes);
		size_t slack = b.max_bytes - len;
		if (slack >= change_max(&ch[start + used]))
			fail_msg("budget %zu: %zu bytes, %zu changes, next would have fit",
					b.max_bytes, len, used);
		rv_rpz_msg_free(&m);
	}
	free(ch);
}

/* ---- replies ---- */

/* A reply to req, signed (if key) over the request MAC req_mac (RFC 8945 5.3). */
static uint8_t *mk_reply(const rv_rpz_msg *req, uint16_t id, ldns_pkt_rcode rcode,
		const rv_tsig_key *key, bool use_req_mac, size_t *len)
{
	const uint8_t *rw;
	size_t rlen;
	ldns_pkt *q = parse_wire(req, &rw, &rlen);
	ldns_pkt *p = ldns_pkt_new();
	uint8_t *wire = NULL;

	assert_non_null(p);
	ldns_pkt_set_id(p, id);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_opcode(p, LDNS_PACKET_UPDATE);
	ldns_pkt_set_rcode(p, rcode);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION,
			ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0)));
	if (key != NULL) {
		const ldns_rdf *mac = NULL;
		if (use_req_mac && ldns_pkt_tsig(q) != NULL)
			mac = ldns_rr_rdf(ldns_pkt_tsig(q), 3);
		assert_int_equal(ldns_pkt_tsig_sign(p, key->name, key->secret, 300, key->algorithm,
				mac), LDNS_STATUS_OK);
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	ldns_pkt_free(q);
	return wire;
}

/* What BIND sends for an unknown key or a bad signature: NOTAUTH + TSIG with
 * the error set and an empty MAC (RFC 8945 5.3.2). */
static uint8_t *mk_tsig_error_reply(const rv_rpz_msg *req, uint16_t tsig_error, size_t *len)
{
	size_t l;
	uint8_t *w = mk_reply(req, rv_rpz_msg_id(req), LDNS_RCODE_NOTAUTH, &test_key, true, &l);
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, w, l), LDNS_STATUS_OK);
	free(w);
	ldns_rr *t = ldns_pkt_tsig(p);
	uint8_t zero[2] = { 0, 0 };
	ldns_rdf_deep_free(ldns_rr_set_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2,
			zero), 3));
	ldns_rdf_deep_free(ldns_rr_set_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16,
			tsig_error), 5));
	w = NULL;
	assert_int_equal(ldns_pkt2wire(&w, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return w;
}

static void test_check_reply(void **state)
{
	rv_change ch = mk("1.2.3.4", "www.example.com");
	rv_rpz_build b = { .zone = "rpz.example", .ttl = 600, .max_bytes = 65535, .key = &test_key };
	rv_rpz_msg *m = NULL;
	size_t used, len;
	uint8_t *w;
	int rcode;
	char err[256];

	(void)state;
	assert_int_equal(rv_rpz_msg_build(&b, &ch, 1, &used, &m), 0);
	uint16_t id = rv_rpz_msg_id(m);

	w = mk_reply(m, id, LDNS_RCODE_NOERROR, &test_key, true, &len);
	assert_int_equal(rv_rpz_check_reply(m, &test_key, w, len, &rcode, err, sizeof(err)), 0);
	assert_int_equal(rcode, 0);
	/* every truncation of a good reply is malformed, never a crash */
	for (size_t l = 0; l < len; l++) {
		int r = rv_rpz_check_reply(m, &test_key, w, l, &rcode, err, sizeof(err));
		if (r != -EBADMSG)
			fail_msg("truncated to %zu of %zu: %d (%s)", l, len, r, err);
	}
	/* a flipped bit anywhere: never accepted */
	for (size_t i = 0; i < len * 8; i++) {
		w[i / 8] ^= (uint8_t)(1u << (i % 8));
		int r = rv_rpz_check_reply(m, &test_key, w, len, &rcode, err, sizeof(err));
		w[i / 8] ^= (uint8_t)(1u << (i % 8));
		/* the only harmless flips: letter case in the TSIG names (RFC 4343) */
		uint8_t c = w[i / 8] | 0x20;
		bool case_flip = i % 8 == 5 && c >= 'a' && c <= 'z' && i / 8 > 12 + 17;
		if (r == 0 && !case_flip)
			fail_msg("bit %zu flipped: accepted", i);
	}
	free(w);

	/* signed with the wrong key, or not over our MAC */
	w = mk_reply(m, id, LDNS_RCODE_NOERROR, &wrong_key, true, &len);
	assert_int_equal(rv_rpz_check_reply(m, &test_key, w, len, &rcode, err, sizeof(err)),
			-EACCES);
	assert_string_equal(err, "NOERROR, reply TSIG does not verify");
	free(w);
	w = mk_reply(m, id, LDNS_RCODE_NOERROR, &test_key, false, &len);
	assert_int_equal(rv_rpz_check_reply(m, &test_key, w, len, &rcode, err, sizeof(err)),
			-EACCES);
	free(w);
	/* unsigned reply to a signed request */
	w = mk_reply(m, id, LDNS_RCODE_NOERROR, NULL, false, &len);
	assert_int_equal(rv_rpz_check_reply(m, &test_key, w, len, &rcode, err, sizeof(err)),
			-EACCES);
	assert_string_equal(err, "NOERROR, reply not signed");
	assert_int_equal(rv_rpz_check_reply(m, NULL, w, len, &rcode, err, sizeof(err)), -EACCES);
	free(w);
	/* TSIG errors BIND reports */
	static const struct { uint16_t e; const char *msg; } terr[] = {
		{ 16, "NOTAUTH, TSIG error BADSIG" },
		{ 17, "NOTAUTH, TSIG error BADKEY" },
		{ 18, "NOTAUTH, TSIG error BADTIME" },
		{ 99, "NOTAUTH, TSIG error 99" },
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(terr); i++) {
		w = mk_tsig_error_reply(m, terr[i].e, &len);
		assert_int_equal(rv_rpz_check_reply(m, &test_key, w, len, &rcode, err, sizeof(err)),
				-EACCES);
		assert_int_equal(rcode, LDNS_RCODE_NOTAUTH);
		assert_string_equal(err, terr[i].msg);
		free(w);
	}
	/* rcodes, properly signed */
	static const struct { ldns_pkt_rcode rc; const char *msg; } rcs[] = {
		{ LDNS_RCODE_REFUSED, "REFUSED" },
		{ LDNS_RCODE_NOTAUTH, "NOTAUTH" },
		{ LDNS_RCODE_NOTZONE, "NOTZONE" },
		{ LDNS_RCODE_SERVFAIL, "SERVFAIL" },
		{ LDNS_RCODE_YXRRSET, "YXRRSET" },
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(rcs); i++) {
		w = mk_reply(m, id, rcs[i].rc, &test_key, true, &len);
		assert_int_equal(rv_rpz_check_reply(m, &test_key, w, len, &rcode, err, sizeof(err)),
				-EREMOTEIO);
		assert_int_equal(rcode, rcs[i].rc);
		assert_string_equal(err, rcs[i].msg);
		free(w);
	}
	/* not our reply */
	w = mk_reply(m, (uint16_t)(id + 1), LDNS_RCODE_NOERROR, &test_key, true, &len);
	assert_int_equal(rv_rpz_check_reply(m, &test_key, w, len, &rcode, err, sizeof(err)),
			-EBADMSG);
	free(w);
	w = mk_reply(m, id, LDNS_RCODE_NOERROR, NULL, false, &len);
	w[2] &= 0x7f;                  /* QR = 0: our own request echoed */
	assert_int_equal(rv_rpz_check_reply(m, &test_key, w, len, &rcode, err, sizeof(err)),
			-EBADMSG);
	w[2] |= 0x80;
	w[2] &= 0x87;                  /* opcode QUERY */
	assert_int_equal(rv_rpz_check_reply(m, &test_key, w, len, &rcode, err, sizeof(err)),
			-EBADMSG);
	free(w);
	/* our request itself */
	const uint8_t *rw = rv_rpz_msg_wire(m, &len);
	assert_int_equal(rv_rpz_check_reply(m, &test_key, rw, len, &rcode, err, sizeof(err)),
			-EBADMSG);
	/* garbage */
	uint8_t g[512];
	srand(42);
	for (int round = 0; round < 2000; round++) {
		size_t gl = (size_t)rand() % sizeof(g);
		for (size_t i = 0; i < gl; i++)
			g[i] = (uint8_t)rand();
		if (gl >= 2 && round % 2) {    /* sometimes with our ID and the QR bit */
			g[0] = (uint8_t)(id >> 8);
			g[1] = (uint8_t)id;
		}
		int r = rv_rpz_check_reply(m, &test_key, g, gl, &rcode, err, sizeof(err));
		assert_true(r < 0);
	}
	assert_int_equal(rv_rpz_check_reply(m, &test_key, NULL, 0, &rcode, err, sizeof(err)),
			-EBADMSG);
	assert_int_equal(rcode, -1);
	rv_rpz_msg_free(&m);

	/* unsigned request, unsigned reply */
	b.key = NULL;
	assert_int_equal(rv_rpz_msg_build(&b, &ch, 1, &used, &m), 0);
	w = mk_reply(m, rv_rpz_msg_id(m), LDNS_RCODE_NOERROR, NULL, false, &len);
	assert_int_equal(rv_rpz_check_reply(m, NULL, w, len, &rcode, err, sizeof(err)), 0);
	free(w);
	rv_rpz_msg_free(&m);
}

/* ---- the writer against a fake server ---- */

enum srv_mode { S_OK, S_REFUSED, S_CLOSE, S_SILENT, S_BADSIG };

struct fake_srv {
	struct event_base *base;
	struct evconnlistener *lis;
	uint16_t port;
	enum srv_mode script[16];   /* mode for the first messages, then S_OK */
	unsigned nscript;
	unsigned messages;          /* UPDATEs received */
	unsigned rrs;               /* update-section RRs received */
	size_t max_len;
	size_t full_len;            /* messages at least this long (if > 0)... */
	unsigned full;              /* ...are counted here: full batches */
	struct bufferevent *conns[64];
	unsigned nconns;
	unsigned accepted;
	unsigned delay_ms;          /* reply this late (BIND busy with a big zone) */
	const rv_tsig_key *key;     /* the key named has (NULL: test_key) */
};

struct delayed_reply {
	struct fake_srv *s;
	struct bufferevent *bev;
	uint8_t *wire;              /* the framed reply (length octets first) */
	size_t len;
};

static void srv_send_delayed(evutil_socket_t fd, short what, void *arg)
{
	struct delayed_reply *d = arg;
	(void)fd;
	(void)what;
	for (unsigned i = 0; i < d->s->nconns; i++) {
		if (d->s->conns[i] == d->bev)   /* still connected */
			bufferevent_write(d->bev, d->wire, d->len);
	}
	free(d->wire);
	free(d);
}

static void srv_read(struct bufferevent *bev, void *arg)
{
	struct fake_srv *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	const rv_tsig_key *sk = s->key ? s->key : &test_key;
	ldns_pkt *req;
	size_t len;

	while ((req = update_srv_take(in, sk, &len)) != NULL) {
		enum srv_mode mode = s->messages < s->nscript ? s->script[s->messages] : S_OK;
		s->messages++;
		if (len > s->max_len)
			s->max_len = len;
		if (s->full_len > 0 && len >= s->full_len)
			s->full++;
		if (mode == S_OK)
			s->rrs += (unsigned)ldns_pkt_nscount(req);
		if (mode == S_CLOSE) {
			ldns_pkt_free(req);
			for (unsigned i = 0; i < s->nconns; i++)
				if (s->conns[i] == bev)
					s->conns[i] = NULL;
			bufferevent_free(bev);
			return;
		}
		if (mode == S_SILENT) {
			ldns_pkt_free(req);
			continue;
		}
		size_t fl;
		uint8_t *frame = update_srv_reply(req, mode == S_BADSIG ? &wrong_key : sk,
				mode == S_REFUSED ? LDNS_RCODE_REFUSED : LDNS_RCODE_NOERROR, &fl);
		ldns_pkt_free(req);
		if (s->delay_ms > 0) {
			struct delayed_reply *d = calloc(1, sizeof(*d));
			assert_non_null(d);
			*d = (struct delayed_reply){ .s = s, .bev = bev, .wire = frame, .len = fl };
			struct timeval tv = { 0, (suseconds_t)s->delay_ms * 1000 };
			assert_int_equal(event_base_once(s->base, -1, EV_TIMEOUT, srv_send_delayed,
					d, &tv), 0);
		} else {
			bufferevent_write(bev, frame, fl);
			free(frame);
		}
	}
}

static void srv_event(struct bufferevent *bev, short events, void *arg)
{
	struct fake_srv *s = arg;
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		for (unsigned i = 0; i < s->nconns; i++)
			if (s->conns[i] == bev)
				s->conns[i] = NULL;
		bufferevent_free(bev);
	}
}

static void srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		int salen, void *arg)
{
	struct fake_srv *s = arg;
	(void)l;
	(void)sa;
	(void)salen;
	struct bufferevent *bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(bev);
	assert_true(s->nconns < RV_ARRAY_LEN(s->conns));
	s->conns[s->nconns++] = bev;
	s->accepted++;
	bufferevent_setcb(bev, srv_read, NULL, srv_event, s);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void srv_listen(struct fake_srv *s, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lis = evconnlistener_new_bind(s->base, srv_accept, s,
			LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16, (struct sockaddr *)&sin,
			sizeof(sin));
	assert_non_null(s->lis);
	socklen_t sl = sizeof(sin);
	getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&sin, &sl);
	s->port = ntohs(sin.sin_port);
}

static void srv_close(struct fake_srv *s)
{
	for (unsigned i = 0; i < s->nconns; i++)
		if (s->conns[i] != NULL)
			bufferevent_free(s->conns[i]);
	s->nconns = 0;
	if (s->lis != NULL)
		evconnlistener_free(s->lis);
	s->lis = NULL;
}

/* Runs the loop until the writer is idle (true) or ms pass (false); ms is
 * scaled by RV_TIME_SCALE (valgrind, sanitizers). Where a test expects false
 * (the writer is held back), waiting longer only makes that stricter. */
static bool run_until_idle(struct event_base *base, rv_rpz_writer *w, unsigned ms)
{
	struct timespec t0, t;
	ms = rv_test_ms(ms);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (rv_rpz_writer_idle(w))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			return false;
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(200);
	}
}

static rv_rpz_writer_opts writer_opts(uint16_t port)
{
	rv_rpz_writer_opts o = {
		.server = "127.0.0.1", .port = port, .zone = "rpz.example", .ttl = 600,
		.flush_interval_ms = 20, .batch_bytes = 16384, .timeout_ms = rv_test_ms(300),
		.retry_min_ms = 10, .retry_max_ms = 40,
	};
	return o;
}

static void assert_all_committed_once(void)
{
	for (size_t i = 0; i < ft->n; i++)
		if (ft->committed[i] != 1)
			fail_msg("change %zu committed %u times", i, ft->committed[i]);
	assert_int_equal(ft->qlen, 0);
}

static void test_writer_ok(void **state)
{
	struct event_base *base = event_base_new();
	struct fake_srv s = { .base = base };
	int err = 0;

	(void)state;
	srv_listen(&s, 0);
	rv_rpz_writer_opts o = writer_opts(s.port);
	rv_rpz_writer *w = rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err);
	assert_non_null(w);
	assert_true(rv_rpz_writer_idle(w));

	/* a few: wait for the flush interval */
	ft_add(3);
	rv_rpz_writer_kick(w);
	assert_false(rv_rpz_writer_idle(w));
	assert_true(run_until_idle(base, w, 3000));
	assert_int_equal(s.messages, 1);
	/* a backlog: back-to-back batches within the budget, one connection */
	ft_add(3000);
	rv_rpz_writer_kick(w);
	assert_true(run_until_idle(base, w, 10000));
	assert_all_committed_once();
	assert_true(s.messages > 10);
	assert_true(s.max_len <= 16384);
	assert_int_equal(s.accepted, 1);
	assert_int_equal(s.rrs, 4 * 3003);
	assert_int_equal(rv_stats.rpz_updates_ok, s.messages);
	assert_int_equal(rv_stats.rpz_updates_sent, s.messages);
	assert_int_equal(rv_stats.rpz_records_committed, 3003);
	assert_int_equal(rv_stats.rpz_updates_failed, 0);
	assert_int_equal(ft->requeued, 0);

	/* flush_now ignores the interval */
	ft_add(1);
	rv_rpz_writer_flush_now(w);
	assert_false(rv_rpz_writer_idle(w));
	assert_true(run_until_idle(base, w, 3000));

	/* A name that cannot be encoded (a 70-octet label) is dropped for good and
	 * reported to the table; the changes around it are still written. */
	size_t bad = ft->n;
	ft_add(3);
	memset(ft->changes[bad].name, 'x', 70);
	ft->changes[bad].name[70] = '\0';
	rv_rpz_writer_kick(w);
	assert_true(run_until_idle(base, w, 3000));
	assert_int_equal(ft->rejected, 1);
	assert_int_equal(rv_stats.rpz_rejected, 1);
	assert_int_equal(ft->committed[bad], 0);
	assert_int_equal(ft->committed[bad + 1], 1);
	assert_int_equal(ft->committed[bad + 2], 1);

	rv_rpz_writer_free(&w);
	assert_null(w);
	srv_close(&s);
	event_base_free(base);
}

static void test_writer_failures(void **state)
{
	struct event_base *base = event_base_new();
	struct fake_srv s = { .base = base,
		.script = { S_REFUSED, S_REFUSED, S_CLOSE, S_SILENT, S_BADSIG }, .nscript = 5 };
	int err = 0;

	(void)state;
	srv_listen(&s, 0);
	rv_rpz_writer_opts o = writer_opts(s.port);
	rv_rpz_writer *w = rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err);
	assert_non_null(w);
	ft_add(500);
	rv_rpz_writer_kick(w);
	assert_true(run_until_idle(base, w, 10000));
	assert_all_committed_once();
	assert_int_equal(rv_stats.rpz_updates_failed, 5);
	assert_int_equal(rv_stats.rpz_rcode_errors, 2);
	/* ...both REFUSED: the by-rcode family says which */
	assert_int_equal(rv_stats.rpz_rcodes[LDNS_RCODE_REFUSED], 2);
	assert_int_equal(rv_stats.rpz_conn_errors, 1);
	assert_int_equal(rv_stats.rpz_timeouts, 1);
	assert_int_equal(rv_stats.rpz_tsig_errors, 1);
	assert_true(ft->requeued > 0);
	assert_int_equal(rv_stats.rpz_records_committed, 500);
	/* every failure closes the connection */
	assert_int_equal(s.accepted, 5 + 1);
	rv_rpz_writer_free(&w);
	srv_close(&s);
	event_base_free(base);
}

static void test_writer_server_down(void **state)
{
	struct event_base *base = event_base_new();
	struct fake_srv s = { .base = base };
	int err = 0;

	(void)state;
	/* find a free port, then leave it closed */
	srv_listen(&s, 0);
	uint16_t port = s.port;
	srv_close(&s);
	rv_rpz_writer_opts o = writer_opts(port);
	rv_rpz_writer *w = rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err);
	assert_non_null(w);
	ft_add(50);
	rv_rpz_writer_flush_now(w);
	assert_false(run_until_idle(base, w, 300));
	assert_true(rv_stats.rpz_conn_errors >= 2);
	assert_int_equal(rv_stats.rpz_updates_ok, 0);
	/* nothing lost while BIND is away: queued, or held for the next batch */
	assert_false(rv_rpz_writer_idle(w));
	for (size_t i = 0; i < ft->n; i++)
		assert_int_equal(ft->committed[i], 0);
	/* BIND comes back on the same port */
	srv_listen(&s, port);
	assert_true(run_until_idle(base, w, 3000));
	assert_all_committed_once();

	/* freeing with an UPDATE in flight puts its changes back into the table */
	s.script[s.messages] = S_SILENT;
	s.nscript = s.messages + 1;
	ft_add(10);
	rv_rpz_writer_flush_now(w);
	for (unsigned i = 0; i < rv_test_ms(50) && s.messages < s.nscript; i++) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_int_equal(ft->qlen, 0);
	assert_false(rv_rpz_writer_idle(w));
	rv_rpz_writer_free(&w);
	assert_int_equal(ft->qlen, 10);
	srv_close(&s);
	event_base_free(base);
}

/* Adds one change every step_ms for total_ms, kicking the writer each time.
 * Returns the milliseconds it really took (a loaded machine sleeps longer). */
static unsigned trickle(struct event_base *base, rv_rpz_writer *w, unsigned step_ms,
		unsigned total_ms)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned t = 0; t < total_ms; t += step_ms) {
		ft_add(1);
		rv_rpz_writer_kick(w);
		for (unsigned k = 0; k < step_ms; k++) {
			event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
			usleep(1000);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (unsigned)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
}

static void test_writer_pacing(void **state)
{
	struct event_base *base = event_base_new();
	struct fake_srv s = { .base = base };
	int err = 0;
	struct timespec t0, t1;

	(void)state;
	srv_listen(&s, 0);
	rv_rpz_writer_opts o = writer_opts(s.port);

	/* a trickle against a fast server: at most one UPDATE per flush interval
	 * (not one per round trip, which is well under a millisecond here) */
	o.flush_interval_ms = 40;
	rv_rpz_writer *w = rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err);
	assert_non_null(w);
	unsigned ms = trickle(base, w, 2, 400);
	assert_true(run_until_idle(base, w, 3000));
	assert_all_committed_once();
	print_message("trickle, fast server: %u UPDATEs for %zu changes in %u ms\n", s.messages,
			ft->n, ms);
	assert_true(s.messages >= 3);
	assert_true(s.messages <= ms / 40 + 2);

	/* an idle writer sends a lone change at once, not a (long) flush
	 * interval later; a change right after it waits for the pacing gap */
	rv_rpz_writer_free(&w);
	o.flush_interval_ms = rv_test_ms(5000);
	w = rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err);
	assert_non_null(w);
	unsigned idle0 = s.messages;
	ft_add(1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rv_rpz_writer_kick(w);
	assert_true(run_until_idle(base, w, 1000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("idle writer: a lone change committed in %ld ms (flush interval %u ms)\n",
			(long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000),
			o.flush_interval_ms);
	assert_int_equal(s.messages, idle0 + 1);
	ft_add(1);
	rv_rpz_writer_kick(w);
	for (int k = 0; k < 300; k++) {   /* 300 ms: well inside the gap */
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_int_equal(s.messages, idle0 + 1);
	assert_false(rv_rpz_writer_idle(w));
	rv_rpz_writer_flush_now(w);
	assert_true(run_until_idle(base, w, 1000));
	assert_int_equal(s.messages, idle0 + 2);
	assert_all_committed_once();

	/* a burst is not held back: full batches back to back and the tail right
	 * after, well before the (long) flush interval would have sent it */
	rv_rpz_writer_free(&w);
	o.flush_interval_ms = rv_test_ms(5000);
	w = rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err);
	assert_non_null(w);
	unsigned before = s.messages;
	ft_add(2000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rv_rpz_writer_kick(w);
	assert_true(run_until_idle(base, w, 3000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 <
			(long)o.flush_interval_ms * 3 / 5);
	assert_true(s.messages - before > 5);
	assert_all_committed_once();
	rv_rpz_writer_free(&w);

	/* a slow server (50 ms per UPDATE) and a short flush interval: partial
	 * batches go at most once per 4 round trips. Batches of 64 KiB, so the
	 * ~170 B x 400 trickled changes fill at most one: a loaded machine
	 * stretches the round trips (and so the pauses), and a batch that fills
	 * up meanwhile rightly goes at once; it is counted apart. */
	s.delay_ms = 50;
	o.flush_interval_ms = 5;
	o.batch_bytes = 65535;
	w = rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err);
	assert_non_null(w);
	ft_add(1);
	rv_rpz_writer_flush_now(w);
	assert_true(run_until_idle(base, w, 3000));   /* learns the round trip */
	before = s.messages;
	s.full_len = 65535 - 1024;   /* more than one change below the budget */
	s.full = 0;
	ms = trickle(base, w, 2, 800);
	assert_true(run_until_idle(base, w, 5000));
	assert_all_committed_once();
	unsigned n = s.messages - before, partial = n - s.full;
	print_message("trickle, slow server: %u UPDATEs (%u partial) in %u ms\n", n, partial, ms);
	assert_true(partial >= 2);
	assert_true(s.full <= 1);
	/* one per 4 x 50 ms (the first at once), plus the tail; without the
	 * round-trip rule it would be one per 50 ms */
	assert_true(partial <= ms / 200 + 2);
	assert_int_equal(rv_stats.rpz_updates_failed, 0);
	rv_rpz_writer_free(&w);
	srv_close(&s);
	event_base_free(base);
}

static unsigned ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (unsigned)((t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000);
}

static void test_writer_rate_cap(void **state)
{
	struct event_base *base = event_base_new();
	struct fake_srv s = { .base = base };
	int err = 0;
	struct timespec t0;

	(void)state;
	srv_listen(&s, 0);
	rv_rpz_writer_opts o = writer_opts(s.port);

	/* 1,000 addresses at most 2,000/s: the first batch goes at once, the rest
	 * no faster than the cap, so the whole burst takes at least (1000 - one
	 * batch) / 2000 s; a fast local server would take a few ms without it. */
	o.max_rate = 2000;
	rv_rpz_writer *w = rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err);
	assert_non_null(w);
	ft_add(1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rv_rpz_writer_kick(w);
	assert_true(run_until_idle(base, w, 10000));
	unsigned ms = ms_since(&t0);
	assert_all_committed_once();
	unsigned per_msg = 1000 / s.messages + 1;
	print_message("capped at 2000/s: 1000 addresses in %u UPDATEs, %u ms\n", s.messages, ms);
	assert_true(s.messages >= 2);
	assert_true(ms >= (1000 - 2 * per_msg) / 2);
	assert_int_equal(rv_stats.rpz_updates_failed, 0);
	rv_rpz_writer_free(&w);

	/* Shutdown lifts the cap: at 10/s these 1,000 would take 100 s. */
	o.max_rate = 10;
	w = rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err);
	assert_non_null(w);
	ft_add(1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rv_rpz_writer_kick(w);
	assert_true(run_until_idle(base, w, 300) == false); /* held back by the cap */
	rv_rpz_writer_flush_now(w);
	assert_true(run_until_idle(base, w, 20000));
	print_message("capped at 10/s, then flush_now: 1000 more addresses in %u ms\n", ms_since(&t0));
	assert_all_committed_once();
	rv_rpz_writer_free(&w);
	srv_close(&s);
	event_base_free(base);
}

/* Key rotation (SIGHUP): the UPDATE in flight is checked against the key that
 * signed it, the next one is signed with the new key; nothing fails. */
static void test_writer_set_key(void **state)
{
	struct event_base *base = event_base_new();
	struct fake_srv s = { .base = base, .delay_ms = 150 };
	rv_tsig_key new_key = wrong_key;   /* another secret, as tsig-keygen makes */
	int err = 0;

	(void)state;
	srv_listen(&s, 0);
	rv_rpz_writer_opts o = writer_opts(s.port);
	o.timeout_ms = rv_test_ms(2000);
	rv_rpz_writer *w = rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err);
	assert_non_null(w);
	ft_add(3);
	rv_rpz_writer_flush_now(w);
	assert_true(rv_rpz_writer_in_flight(w));
	/* Rotated while the server holds the reply (signed with the old key). */
	assert_int_equal(rv_rpz_writer_set_key(w, &new_key), 0);
	assert_true(run_until_idle(base, w, 3000));
	assert_int_equal(s.messages, 1);
	assert_int_equal(rv_stats.rpz_updates_ok, 1);
	/* named has the new key now; the next UPDATE is signed with it (srv_read
	 * verifies the request's TSIG with s.key). */
	s.key = &new_key;
	ft_add(2);
	rv_rpz_writer_kick(w);
	assert_true(run_until_idle(base, w, 3000));
	assert_int_equal(s.messages, 2);
	assert_int_equal(rv_stats.rpz_updates_ok, 2);
	assert_int_equal(rv_stats.rpz_updates_failed, 0);
	assert_int_equal(rv_stats.rpz_tsig_errors, 0);
	assert_all_committed_once();

	/* A key the writer cannot sign with is refused; the running key stays. */
	rv_tsig_key bad = new_key;
	snprintf(bad.algorithm, sizeof(bad.algorithm), "gss-tsig.");
	assert_int_equal(rv_rpz_writer_set_key(w, &bad), -EINVAL);
	assert_int_equal(rv_rpz_writer_set_key(w, NULL), -EINVAL);
	ft_add(1);
	rv_rpz_writer_kick(w);
	assert_true(run_until_idle(base, w, 3000));
	assert_int_equal(rv_stats.rpz_updates_ok, 3);

	/* New pacing values take effect without losing the queue. */
	rv_rpz_writer_opts o2 = o;
	o2.flush_interval_ms = 1;
	o2.batch_bytes = 600;
	o2.max_rate = 100000;
	rv_rpz_writer_set_opts(w, &o2);
	ft_add(50);
	rv_rpz_writer_kick(w);
	assert_true(run_until_idle(base, w, 5000));
	assert_true(s.max_len <= 600 + 300);   /* a lone large change may go alone */
	assert_all_committed_once();

	/* flush_now (above) lifted the cap for good, as at shutdown: a new writer.
	 * A strict cap (1 address/s): after an UPDATE of 5, the next waits 5 s... */
	rv_rpz_writer_free(&w);
	w = rv_rpz_writer_new(base, &o, &new_key, &ft_feed, &err);
	assert_non_null(w);
	o2.max_rate = 1;
	o2.batch_bytes = 16384;
	rv_rpz_writer_set_opts(w, &o2);
	ft_add(5);
	rv_rpz_writer_kick(w);
	assert_true(run_until_idle(base, w, 3000));
	ft_add(1);
	rv_rpz_writer_kick(w);
	assert_false(run_until_idle(base, w, 300));
	/* ...until a reload lifts the cap: then it goes at once. */
	o2.max_rate = 0;
	rv_rpz_writer_set_opts(w, &o2);
	rv_rpz_writer_kick(w);
	assert_true(run_until_idle(base, w, 1000));
	assert_all_committed_once();
	rv_rpz_writer_free(&w);
	srv_close(&s);
	event_base_free(base);
}

static void test_writer_new_errors(void **state)
{
	struct event_base *base = event_base_new();
	rv_rpz_writer_opts o = writer_opts(53);
	int err = 0;

	(void)state;
	o.server = "not-an-address";
	assert_null(rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err));
	assert_int_equal(err, -EINVAL);
	o = writer_opts(53);
	o.zone = "bad..zone";
	assert_null(rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err));
	o = writer_opts(0);
	assert_null(rv_rpz_writer_new(base, &o, &test_key, &ft_feed, &err));
	o = writer_opts(53);
	rv_tsig_key k = test_key;
	snprintf(k.algorithm, sizeof(k.algorithm), "gss-tsig.");
	assert_null(rv_rpz_writer_new(base, &o, &k, &ft_feed, &err));
	assert_int_equal(err, -EINVAL);
	o = writer_opts(53);
	o.server = "::1";
	rv_rpz_writer *w = rv_rpz_writer_new(base, &o, NULL, &ft_feed, &err);
	assert_non_null(w);
	assert_int_equal(err, 0);
	rv_rpz_writer_free(&w);
	rv_rpz_writer_free(&w);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reverse_name),
		cmocka_unit_test(test_format_txt),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_long_and_invalid_names),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_name_escapes),
		cmocka_unit_test(test_exact_size),
		cmocka_unit_test(test_budget_fill),
		cmocka_unit_test(test_check_reply),
		cmocka_unit_test_setup_teardown(test_writer_ok, ft_setup, ft_teardown),
		cmocka_unit_test_setup_teardown(test_writer_failures, ft_setup, ft_teardown),
		cmocka_unit_test_setup_teardown(test_writer_server_down, ft_setup, ft_teardown),
		cmocka_unit_test_setup_teardown(test_writer_pacing, ft_setup, ft_teardown),
		cmocka_unit_test_setup_teardown(test_writer_rate_cap, ft_setup, ft_teardown),
		cmocka_unit_test_setup_teardown(test_writer_set_key, ft_setup, ft_teardown),
		cmocka_unit_test_setup_teardown(test_writer_new_errors, ft_setup, ft_teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	if (getenv("RV_TEST_DEBUG"))
		rv_log_level = RV_LOG_DEBUG;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
