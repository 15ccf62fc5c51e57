/*
 * test_dnsmsg.c - rv_dnsmsg_parse(): DNS response -> qname + chain-end addresses.
 *
 * Messages are built with ldns from presentation-form RRs, either compressed
 * (what servers send) or uncompressed (so mixed-case names survive: ldns
 * compresses case-insensitively and would turn every later copy of a name into
 * a pointer to the first one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "dnsmsg.h"

#define DEPTH 8

struct msg {
	uint8_t *wire;
	size_t len;
};

/* Wire for a response with one question ("name CLASS TYPE") and the given
 * answer RRs (NULL-terminated), rcode, compressed or not. */
static struct msg vbuild(bool compress, ldns_pkt_rcode rcode,
			 const char *question, va_list ap)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_buffer *buf = ldns_buffer_new(512);
	ldns_rr *rr = NULL;
	const char *s;
	struct msg m;

	assert_non_null(p);
	assert_non_null(buf);
	ldns_pkt_set_id(p, 0x1234);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rd(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_opcode(p, LDNS_PACKET_QUERY);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	if (question != NULL) {
		assert_int_equal(ldns_rr_new_question_frm_str(&rr, question,
							      NULL, NULL),
				 LDNS_STATUS_OK);
		assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr));
	}
	while ((s = va_arg(ap, const char *)) != NULL) {
		/* "ADD:" puts the record in the additional section. */
		ldns_pkt_section sec = LDNS_SECTION_ANSWER;
		if (strncmp(s, "ADD:", 4) == 0) {
			sec = LDNS_SECTION_ADDITIONAL;
			s += 4;
		}
		assert_int_equal(ldns_rr_new_frm_str(&rr, s, 3600, NULL, NULL),
				 LDNS_STATUS_OK);
		assert_true(ldns_pkt_push_rr(p, sec, rr));
	}
	if (compress)
		assert_int_equal(ldns_pkt2buffer_wire(buf, p), LDNS_STATUS_OK);
	else
		assert_int_equal(ldns_pkt2buffer_wire_compress(buf, p, NULL),
				 LDNS_STATUS_OK);
	m.len = ldns_buffer_position(buf);
	m.wire = malloc(m.len);
	assert_non_null(m.wire);
	memcpy(m.wire, ldns_buffer_begin(buf), m.len);
	ldns_buffer_free(buf);
	ldns_pkt_free(p);
	return m;
}

static struct msg build(bool compress, ldns_pkt_rcode rcode,
			const char *question, ...)
{
	va_list ap;
	struct msg m;

	va_start(ap, question);
	m = vbuild(compress, rcode, question, ap);
	va_end(ap);
	return m;
}

/* The common case: compressed NOERROR answer. */
#define MSG(q, ...) build(true, LDNS_RCODE_NOERROR, q, __VA_ARGS__, NULL)
#define RAW(q, ...) build(false, LDNS_RCODE_NOERROR, q, __VA_ARGS__, NULL)

static int parse(const struct msg *m, unsigned depth, rv_answer *a,
		 rv_verdict *why)
{
	int rc = rv_dnsmsg_parse(m->wire, m->len, depth, a, why);

	/* The result and the verdict always agree. */
	if (rc == 0)
		assert_int_equal(*why, RV_LEARN);
	else if (rc == -EBADMSG)
		assert_int_equal(*why, RV_BAD_DNS);
	else
		assert_int_equal(rc, -ENOENT);
	return rc;
}

static void assert_addr(const rv_addr *a, const char *text)
{
	rv_addr want;

	assert_int_equal(rv_addr_parse(text, &want), 0);
	assert_memory_equal(a, &want, sizeof(want));
}

/* Parses m expecting a learn; frees m. */
static void expect_learn(struct msg m, unsigned depth, rv_answer *a)
{
	rv_verdict why;

	assert_int_equal(parse(&m, depth, a, &why), 0);
	assert_int_equal(why, RV_LEARN);
	free(m.wire);
}

/* Parses m expecting rc/why; frees m. */
static void expect_verdict(struct msg m, unsigned depth, int rc, rv_verdict v)
{
	rv_answer a;
	rv_verdict why;

	assert_int_equal(parse(&m, depth, &a, &why), rc);
	assert_int_equal(why, v);
	free(m.wire);
}

static void test_simple_a(void **state)
{
	rv_answer a;

	(void)state;
	expect_learn(MSG("www.example.com. IN A",
			 "www.example.com. 300 IN A 192.0.2.1"), DEPTH, &a);
	assert_string_equal(a.qname, "www.example.com");
	assert_int_equal(a.qtype, 1);
	assert_int_equal(a.rcode, 0);
	assert_int_equal(a.depth, 0);
	assert_int_equal(a.min_ttl, 300);
	assert_false(a.addrs_truncated);
	assert_int_equal(a.naddrs, 1);
	assert_int_equal(a.addrs[0].family, AF_INET);
	assert_addr(&a.addrs[0], "192.0.2.1");
}

static void test_aaaa_canonical(void **state)
{
	static const uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
					  0, 0, 0, 0, 0, 0, 0, 0x01 };
	char buf[RV_ADDR_STRLEN];
	rv_answer a;

	(void)state;
	expect_learn(MSG("v6.example.com. IN AAAA",
			 "v6.example.com. 60 IN AAAA 2001:DB8:0:0:0::1"), DEPTH, &a);
	assert_int_equal(a.qtype, 28);
	assert_int_equal(a.naddrs, 1);
	assert_int_equal(a.addrs[0].family, AF_INET6);
	assert_memory_equal(a.addrs[0].bytes, want, 16);
	assert_string_equal(rv_addr_str(&a.addrs[0], buf, sizeof(buf)),
			    "2001:db8::1");
	assert_int_equal(a.min_ttl, 60);
}

static void test_chain_depth(void **state)
{
	rv_answer a;

	(void)state;
	expect_learn(MSG("www.example.com. IN A",
			 "www.example.com. 300 IN CNAME cdn.example.net.",
			 "cdn.example.net. 200 IN A 192.0.2.2"), DEPTH, &a);
	assert_string_equal(a.qname, "www.example.com");
	assert_int_equal(a.depth, 1);
	assert_int_equal(a.min_ttl, 200);
	assert_int_equal(a.naddrs, 1);
	assert_addr(&a.addrs[0], "192.0.2.2");

	/* The smallest TTL may be a CNAME's. */
	expect_learn(MSG("a.example.com. IN A",
			 "a.example.com. 300 IN CNAME b.example.org.",
			 "b.example.org. 30 IN CNAME c.example.net.",
			 "c.example.net. 300 IN CNAME d.cdn.example.",
			 "d.cdn.example. 100 IN A 192.0.2.3"), DEPTH, &a);
	assert_string_equal(a.qname, "a.example.com");
	assert_int_equal(a.depth, 3);
	assert_int_equal(a.min_ttl, 30);
	assert_int_equal(a.naddrs, 1);
	assert_addr(&a.addrs[0], "192.0.2.3");
}

static void test_chain_any_order(void **state)
{
	rv_answer a;

	(void)state;
	expect_learn(MSG("a.example.com. IN AAAA",
			 "d.cdn.example. 100 IN AAAA 2001:db8::3",
			 "c.example.net. 300 IN CNAME d.cdn.example.",
			 "b.example.org. 300 IN CNAME c.example.net.",
			 "a.example.com. 300 IN CNAME b.example.org."), DEPTH, &a);
	assert_int_equal(a.depth, 3);
	assert_int_equal(a.naddrs, 1);
	assert_addr(&a.addrs[0], "2001:db8::3");

	expect_learn(MSG("a.example.com. IN A",
			 "c.example.net. 300 IN CNAME d.cdn.example.",
			 "d.cdn.example. 100 IN A 192.0.2.4",
			 "a.example.com. 300 IN CNAME b.example.org.",
			 "d.cdn.example. 100 IN A 192.0.2.5",
			 "b.example.org. 300 IN CNAME c.example.net."), DEPTH, &a);
	assert_int_equal(a.depth, 3);
	assert_int_equal(a.naddrs, 2);
	assert_addr(&a.addrs[0], "192.0.2.4");
	assert_addr(&a.addrs[1], "192.0.2.5");
}

static void test_mixed_case(void **state)
{
	rv_answer a;
	struct msg m;

	(void)state;
	/* Uncompressed: every name keeps its own case on the wire. */
	m = RAW("Www.ExAmple.COM. IN A",
		"www.EXAMPLE.com. 300 IN CNAME CDN.Example.NET.",
		"cdn.EXAMPLE.net. 300 IN CNAME Edge.Cdn.Example.Net.",
		"EDGE.cdn.example.NET. 300 IN A 192.0.2.6");
	assert_non_null(memmem(m.wire, m.len, "\003Www\007ExAmple\003COM", 17));
	assert_non_null(memmem(m.wire, m.len, "\003www\007EXAMPLE\003com", 17));
	expect_learn(m, DEPTH, &a);
	assert_string_equal(a.qname, "www.example.com");
	assert_int_equal(a.depth, 2);
	assert_int_equal(a.naddrs, 1);
	assert_addr(&a.addrs[0], "192.0.2.6");

	/* Compressed, as a server would send it. */
	expect_learn(MSG("Www.ExAmple.COM. IN A",
			 "www.example.com. 300 IN CNAME CDN.Example.NET.",
			 "cdn.example.net. 300 IN A 192.0.2.7"), DEPTH, &a);
	assert_string_equal(a.qname, "www.example.com");
	assert_int_equal(a.depth, 1);
	assert_addr(&a.addrs[0], "192.0.2.7");
}

static void test_cname_loop(void **state)
{
	(void)state;
	expect_verdict(MSG("a.example.com. IN A",
			   "a.example.com. IN CNAME b.example.com.",
			   "b.example.com. IN CNAME a.example.com.",
			   "a.example.com. IN A 192.0.2.1"),
		       DEPTH, -ENOENT, RV_SKIP_CHAIN);
	expect_verdict(MSG("a.example.com. IN A",
			   "a.example.com. IN CNAME A.EXAMPLE.COM."),
		       DEPTH, -ENOENT, RV_SKIP_CHAIN);
	/* A loop that does not include the question name. */
	expect_verdict(MSG("a.example.com. IN A",
			   "a.example.com. IN CNAME b.example.com.",
			   "b.example.com. IN CNAME c.example.com.",
			   "c.example.com. IN CNAME b.example.com."),
		       DEPTH, -ENOENT, RV_SKIP_CHAIN);
	/* Even with a limit far above the loop length. */
	expect_verdict(MSG("a.example.com. IN A",
			   "a.example.com. IN CNAME b.example.com.",
			   "b.example.com. IN CNAME a.example.com."),
		       UINT32_MAX, -ENOENT, RV_SKIP_CHAIN);
}

static void test_chain_too_long(void **state)
{
	rv_answer a;

#define THREE_LINKS MSG("a.example.com. IN A",                            \
			"a.example.com. IN CNAME b.example.com.",         \
			"b.example.com. IN CNAME c.example.com.",         \
			"c.example.com. IN CNAME d.example.com.",         \
			"d.example.com. IN A 192.0.2.1")
	(void)state;
	expect_verdict(THREE_LINKS, 2, -ENOENT, RV_SKIP_CHAIN);
	expect_verdict(THREE_LINKS, 0, -ENOENT, RV_SKIP_CHAIN);
	expect_learn(THREE_LINKS, 3, &a);
	assert_int_equal(a.depth, 3);
	/* max_depth 0 still learns plain answers. */
	expect_learn(MSG("a.example.com. IN A", "a.example.com. IN A 192.0.2.1"),
		     0, &a);
	assert_int_equal(a.depth, 0);
#undef THREE_LINKS
}

static void test_dname(void **state)
{
	rv_answer a;

	(void)state;
	/* RFC 6672: the server sends the DNAME and the CNAME it synthesised. */
	expect_learn(MSG("www.example.com. IN A",
			 "example.com. 300 IN DNAME example.net.",
			 "www.example.com. 300 IN CNAME www.example.net.",
			 "www.example.net. 300 IN A 192.0.2.8"), DEPTH, &a);
	assert_string_equal(a.qname, "www.example.com");
	assert_int_equal(a.depth, 1);
	assert_int_equal(a.naddrs, 1);
	assert_addr(&a.addrs[0], "192.0.2.8");

	/* The DNAME alone is not followed. */
	expect_verdict(MSG("www.example.com. IN A",
			   "example.com. 300 IN DNAME example.net.",
			   "www.example.net. 300 IN A 192.0.2.8"),
		       DEPTH, -ENOENT, RV_SKIP_NO_ADDRESS);
}

static void test_several_addresses(void **state)
{
	rv_answer a;

	(void)state;
	expect_learn(MSG("www.example.com. IN A",
			 "www.example.com. 300 IN A 192.0.2.1",
			 "www.example.com. 300 IN A 192.0.2.2",
			 "WWW.example.com. 20 IN A 192.0.2.1",
			 "www.example.com. 300 IN A 192.0.2.3",
			 "www.example.com. 300 IN A 192.0.2.2"), DEPTH, &a);
	assert_int_equal(a.naddrs, 3);
	assert_false(a.addrs_truncated);
	assert_addr(&a.addrs[0], "192.0.2.1");
	assert_addr(&a.addrs[1], "192.0.2.2");
	assert_addr(&a.addrs[2], "192.0.2.3");
	assert_int_equal(a.min_ttl, 20);
}

static void test_only_chain_end(void **state)
{
	rv_answer a;

	(void)state;
	/* An unrelated A record rides along: not ours. */
	expect_learn(MSG("www.example.com. IN A",
			 "other.example.com. 5 IN A 192.0.2.99",
			 "www.example.com. 300 IN A 192.0.2.1"), DEPTH, &a);
	assert_int_equal(a.naddrs, 1);
	assert_addr(&a.addrs[0], "192.0.2.1");
	assert_int_equal(a.min_ttl, 300);

	/* Addresses owned by a name in the middle of the chain are not at its
	 * end; addresses past a name never reached are not either. */
	expect_learn(MSG("www.example.com. IN A",
			 "www.example.com. 300 IN CNAME cdn.example.net.",
			 "www.example.com. 300 IN A 192.0.2.97",
			 "cdn.example.net. 300 IN A 192.0.2.1",
			 "unrelated.example.net. 300 IN CNAME www.example.com.",
			 "x.example.org. 300 IN A 192.0.2.98"), DEPTH, &a);
	assert_int_equal(a.depth, 1);
	assert_int_equal(a.naddrs, 1);
	assert_addr(&a.addrs[0], "192.0.2.1");

	/* Unrelated addresses only: nothing to learn. */
	expect_verdict(MSG("www.example.com. IN A",
			   "other.example.com. 300 IN A 192.0.2.99"),
		       DEPTH, -ENOENT, RV_SKIP_NO_ADDRESS);
}

static void test_nxdomain(void **state)
{
	rv_answer a;
	rv_verdict why;
	struct msg m = build(true, LDNS_RCODE_NXDOMAIN, "nx.example.com. IN A",
			     NULL);

	(void)state;
	assert_int_equal(parse(&m, DEPTH, &a, &why), -ENOENT);
	assert_int_equal(why, RV_SKIP_RCODE);
	assert_int_equal(a.rcode, 3);
	assert_string_equal(a.qname, "nx.example.com");
	free(m.wire);

	/* Even with addresses in it: a SERVFAIL is not an answer. */
	expect_verdict(build(true, LDNS_RCODE_SERVFAIL, "www.example.com. IN A",
			     "www.example.com. IN A 192.0.2.1", NULL),
		       DEPTH, -ENOENT, RV_SKIP_RCODE);
}

/* An answer rewritten by a response policy (BIND adds the policy zone's SOA to
 * the additional section) is never learned; other additional data is fine. */
static void test_rpz_rewritten(void **state)
{
	(void)state;
	expect_verdict(MSG("blocked.example.com. IN A",
			   "blocked.example.com. 5 IN A 10.0.0.1",
			   "ADD:rpz.local. 5 IN SOA ns.rpz.local. hostmaster.rpz.local. 1 3600 600 86400 5"),
		       DEPTH, -ENOENT, RV_SKIP_RPZ);
	rv_answer a;
	expect_learn(MSG("www.example.com. IN A", "www.example.com. IN A 192.0.2.7",
			 "ADD:ns1.example.com. IN A 192.0.2.53"),
		     DEPTH, &a);
	assert_int_equal(a.naddrs, 1);
	assert_string_equal(rv_verdict_name(RV_SKIP_RPZ), "skip-rpz");
}

static void test_nodata(void **state)
{
	rv_answer a;
	rv_verdict why;
	struct msg m = build(true, LDNS_RCODE_NOERROR,
			     "www.example.com. IN AAAA", NULL);

	(void)state;
	expect_verdict(m, DEPTH, -ENOENT, RV_SKIP_NO_ADDRESS);

	/* A chain that ends without addresses. */
	m = MSG("www.example.com. IN AAAA",
		"www.example.com. IN CNAME cdn.example.net.",
		"cdn.example.net. IN TXT \"no address here\"");
	assert_int_equal(parse(&m, DEPTH, &a, &why), -ENOENT);
	assert_int_equal(why, RV_SKIP_NO_ADDRESS);
	assert_int_equal(a.naddrs, 0);
	assert_int_equal(a.depth, 1);
	free(m.wire);
}

static void test_ptr_question(void **state)
{
	(void)state;
	expect_verdict(MSG("1.2.0.192.in-addr.arpa. IN PTR",
			   "1.2.0.192.in-addr.arpa. IN PTR www.example.com."),
		       DEPTH, -ENOENT, RV_SKIP_QTYPE);
}

static void test_mx_question(void **state)
{
	(void)state;
	/* Addresses in the answer of a non-address question are never learnt. */
	expect_verdict(MSG("example.com. IN MX",
			   "example.com. IN MX 10 mail.example.com.",
			   "example.com. IN A 192.0.2.1"),
		       DEPTH, -ENOENT, RV_SKIP_QTYPE);
}

static void test_class(void **state)
{
	(void)state;
	expect_verdict(MSG("www.example.com. CH A",
			   "www.example.com. CH A 192.0.2.1"),
		       DEPTH, -ENOENT, RV_SKIP_QTYPE);
	/* Only IN records are followed and collected. */
	expect_verdict(MSG("www.example.com. IN A",
			   "www.example.com. CH A 192.0.2.1"),
		       DEPTH, -ENOENT, RV_SKIP_NO_ADDRESS);
	expect_verdict(MSG("www.example.com. IN A",
			   "www.example.com. CH CNAME cdn.example.net.",
			   "cdn.example.net. IN A 192.0.2.1"),
		       DEPTH, -ENOENT, RV_SKIP_NO_ADDRESS);
}

static void test_not_response(void **state)
{
	struct msg m = MSG("www.example.com. IN A",
			   "www.example.com. IN A 192.0.2.1");
	rv_answer a;
	rv_verdict why;

	(void)state;
	/* RFC 1035 4.1.1: QR is the top bit of octet 2, OPCODE the next four. */
	m.wire[2] &= (uint8_t)~0x80;
	assert_int_equal(parse(&m, DEPTH, &a, &why), -ENOENT);
	assert_int_equal(why, RV_SKIP_NOT_RESPONSE);

	m.wire[2] |= 0x80;
	assert_int_equal(parse(&m, DEPTH, &a, &why), 0);

	m.wire[2] = (uint8_t)((m.wire[2] & ~0x78) | (5 << 3)); /* UPDATE */
	assert_int_equal(parse(&m, DEPTH, &a, &why), -ENOENT);
	assert_int_equal(why, RV_SKIP_NOT_RESPONSE);
	m.wire[2] = (uint8_t)((m.wire[2] & ~0x78) | (4 << 3)); /* NOTIFY */
	assert_int_equal(parse(&m, DEPTH, &a, &why), -ENOENT);
	assert_int_equal(why, RV_SKIP_NOT_RESPONSE);
	free(m.wire);
}

static void test_qdcount(void **state)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *rr;
	uint8_t *wire = NULL;
	size_t len = 0;
	struct msg m;

	(void)state;
	expect_verdict(build(true, LDNS_RCODE_NOERROR, NULL,
			     "www.example.com. IN A 192.0.2.1", NULL),
		       DEPTH, -ENOENT, RV_SKIP_QTYPE);

	ldns_pkt_set_qr(p, true);
	assert_int_equal(ldns_rr_new_question_frm_str(&rr, "a.example. IN A",
						      NULL, NULL), 0);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr);
	assert_int_equal(ldns_rr_new_question_frm_str(&rr, "b.example. IN A",
						      NULL, NULL), 0);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr);
	assert_int_equal(ldns_rr_new_frm_str(&rr, "a.example. IN A 192.0.2.1",
					     300, NULL, NULL), 0);
	ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	m.wire = wire;
	m.len = len;
	expect_verdict(m, DEPTH, -ENOENT, RV_SKIP_QTYPE); /* frees wire */
}

static void test_edns(void **state)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *rr;
	uint8_t *wire = NULL;
	size_t len = 0;
	struct msg m;

	(void)state;
	ldns_pkt_set_qr(p, true);
	assert_int_equal(ldns_rr_new_question_frm_str(&rr, "a.example. IN A",
						      NULL, NULL), 0);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr);
	assert_int_equal(ldns_rr_new_frm_str(&rr, "a.example. IN A 192.0.2.1",
					     300, NULL, NULL), 0);
	ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	ldns_pkt_set_edns_udp_size(p, 1232);
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	m.wire = wire;
	m.len = len;
	expect_verdict(m, DEPTH, 0, RV_LEARN);

	/* RFC 6891 BADVERS: header RCODE 0, extended RCODE 1 in the OPT. */
	ldns_pkt_set_edns_extended_rcode(p, 1);
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	m.wire = wire;
	m.len = len;
	expect_verdict(m, DEPTH, -ENOENT, RV_SKIP_RCODE);
	ldns_pkt_free(p);
}

static void test_cname_conflict(void **state)
{
	rv_answer a;

	(void)state;
	/* RFC 2181 10.1: one CNAME per name; two targets is inconsistent. */
	expect_verdict(MSG("www.example.com. IN A",
			   "www.example.com. IN CNAME a.example.net.",
			   "www.example.com. IN CNAME b.example.net.",
			   "a.example.net. IN A 192.0.2.1"),
		       DEPTH, -EBADMSG, RV_BAD_DNS);
	/* The same CNAME twice is only redundant. */
	expect_learn(MSG("www.example.com. IN A",
			 "www.example.com. IN CNAME a.example.net.",
			 "www.example.com. IN CNAME A.example.net.",
			 "a.example.net. IN A 192.0.2.1"), DEPTH, &a);
	assert_int_equal(a.depth, 1);
}

static void test_names(void **state)
{
	rv_answer a;

	(void)state;
	expect_learn(MSG(". IN A", ". IN A 192.0.2.1"), DEPTH, &a);
	assert_string_equal(a.qname, ".");
	/* RFC 1035 5.1 escapes survive; letters are still lower-cased. */
	expect_learn(RAW("A\\.B.Example.COM. IN A",
			 "a\\.b.example.com. IN A 192.0.2.1"), DEPTH, &a);
	assert_string_equal(a.qname, "a\\.b.example.com");
}

static void test_bad_address_rdata(void **state)
{
	static const uint8_t five[5] = { 192, 0, 2, 1, 0 };
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *owner = ldns_dname_new_frm_str("www.example.com.");
	uint8_t *wire = NULL;
	size_t len = 0;
	struct msg m;
	ldns_rr *q;

	(void)state;
	ldns_pkt_set_qr(p, true);
	assert_int_equal(ldns_rr_new_question_frm_str(&q, "www.example.com. IN A",
						      NULL, NULL), 0);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_A);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, 300);
	ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 5, five));
	ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	m.wire = wire;
	m.len = len;
	expect_verdict(m, DEPTH, -EBADMSG, RV_BAD_DNS);

	/* AAAA with 4 octets: same, by patching RDLENGTH of a real answer. */
	m = MSG("v6.example.com. IN AAAA", "v6.example.com. IN AAAA 2001:db8::1");
	assert_int_equal(m.wire[m.len - 18], 0);
	assert_int_equal(m.wire[m.len - 17], 16);
	m.wire[m.len - 17] = 4;
	m.len -= 12;
	expect_verdict(m, DEPTH, -EBADMSG, RV_BAD_DNS);
}

static void test_truncated_every_length(void **state)
{
	struct msg m = MSG("Www.Example.com. IN A",
			   "www.example.com. 300 IN CNAME cdn.example.net.",
			   "cdn.example.net. 300 IN CNAME edge.cdn.example.",
			   "edge.cdn.example. 60 IN A 192.0.2.1",
			   "edge.cdn.example. 60 IN AAAA 2001:db8::1");
	rv_answer a;
	rv_verdict why;

	(void)state;
	for (size_t n = 0; n < m.len; n++) {
		/* Copy so valgrind/ASan see the exact end of the buffer. */
		uint8_t *w = malloc(n ? n : 1);
		int rc;

		assert_non_null(w);
		memcpy(w, m.wire, n);
		rc = rv_dnsmsg_parse(w, n, DEPTH, &a, &why);
		assert_true(rc == -EBADMSG || rc == -ENOENT || rc == 0);
		if (rc == -EBADMSG)
			assert_int_equal(why, RV_BAD_DNS);
		if (n < 12)
			assert_int_equal(rc, -EBADMSG);
		free(w);
	}
	assert_int_equal(rv_dnsmsg_parse(m.wire, m.len, DEPTH, &a, &why), 0);
	assert_int_equal(a.depth, 2);
	assert_int_equal(a.naddrs, 2);
	free(m.wire);
	assert_int_equal(rv_dnsmsg_parse(NULL, 0, DEPTH, &a, &why), -EBADMSG);
	assert_int_equal(why, RV_BAD_DNS);
	assert_string_equal(a.qname, "");
}

/* xorshift32: deterministic garbage, independent of libc's rand(). */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_garbage(void **state)
{
	struct msg m = MSG("www.example.com. IN A",
			   "www.example.com. 300 IN CNAME cdn.example.net.",
			   "cdn.example.net. 300 IN A 192.0.2.1");
	uint32_t seed = 0x5eed1234;
	rv_answer a;
	rv_verdict why;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t n = i % 2 == 0 ? rnd(&seed) % 600 : m.len;
		uint8_t *w = malloc(n ? n : 1);
		int rc;

		assert_non_null(w);
		if (i % 2 == 0) {
			/* Pure noise. */
			for (size_t j = 0; j < n; j++)
				w[j] = (uint8_t)rnd(&seed);
		} else {
			/* A valid message with a few bytes flipped. */
			memcpy(w, m.wire, n);
			for (int k = 0; k < 1 + (int)(rnd(&seed) % 4); k++)
				w[rnd(&seed) % n] = (uint8_t)rnd(&seed);
		}
		rc = rv_dnsmsg_parse(w, n, DEPTH, &a, &why);
		assert_true(rc == -EBADMSG || rc == -ENOENT || rc == 0);
		if (rc == 0)
			assert_true(a.naddrs >= 1 && a.naddrs <= RV_ANSWER_MAX_ADDRS);
		free(w);
	}
	free(m.wire);
}

static void test_too_many_addresses(void **state)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *rr;
	uint8_t *wire = NULL;
	size_t len = 0;
	char text[128];
	rv_answer a;
	rv_verdict why;

	(void)state;
	ldns_pkt_set_qr(p, true);
	assert_int_equal(ldns_rr_new_question_frm_str(&rr, "many.example. IN A",
						      NULL, NULL), 0);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr);
	for (int i = 0; i < RV_ANSWER_MAX_ADDRS + 6; i++) {
		snprintf(text, sizeof(text), "many.example. %d IN A 10.0.%d.%d",
			 1000 - i, i / 256, i % 256);
		assert_int_equal(ldns_rr_new_frm_str(&rr, text, 300, NULL, NULL), 0);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
		if (i + 1 == RV_ANSWER_MAX_ADDRS) {
			/* Exactly the limit: all kept, nothing truncated. */
			assert_int_equal(ldns_pkt2wire(&wire, p, &len), 0);
			assert_int_equal(rv_dnsmsg_parse(wire, len, DEPTH, &a, &why), 0);
			assert_int_equal(a.naddrs, RV_ANSWER_MAX_ADDRS);
			assert_false(a.addrs_truncated);
			free(wire);
		}
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), 0);
	ldns_pkt_free(p);
	assert_int_equal(rv_dnsmsg_parse(wire, len, DEPTH, &a, &why), 0);
	assert_int_equal(why, RV_LEARN);
	assert_int_equal(a.naddrs, RV_ANSWER_MAX_ADDRS);
	assert_true(a.addrs_truncated);
	assert_addr(&a.addrs[0], "10.0.0.0");
	assert_addr(&a.addrs[RV_ANSWER_MAX_ADDRS - 1], "10.0.0.63");
	/* TTLs of dropped addresses do not count. */
	assert_int_equal(a.min_ttl, 1000 - (RV_ANSWER_MAX_ADDRS - 1));
	free(wire);
}

static void test_verdict_names(void **state)
{
	(void)state;
	assert_string_equal(rv_verdict_name(RV_LEARN), "learn");
	assert_string_equal(rv_verdict_name(RV_SKIP_RCODE), "skip-rcode");
	assert_string_equal(rv_verdict_name(RV_BAD_DNS), "bad-dns");
	assert_string_equal(rv_verdict_name(RV_BAD_PROTOBUF), "bad-protobuf");
	assert_string_equal(rv_verdict_name(RV_VERDICT_COUNT), "unknown");
	assert_string_equal(rv_verdict_name((rv_verdict)-1), "unknown");
	for (int i = 0; i < RV_VERDICT_COUNT; i++) {
		assert_string_not_equal(rv_verdict_name((rv_verdict)i), "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(rv_verdict_name((rv_verdict)i),
						rv_verdict_name((rv_verdict)j));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_a),
		cmocka_unit_test(test_aaaa_canonical),
		cmocka_unit_test(test_chain_depth),
		cmocka_unit_test(test_chain_any_order),
		cmocka_unit_test(test_mixed_case),
		cmocka_unit_test(test_cname_loop),
		cmocka_unit_test(test_chain_too_long),
		cmocka_unit_test(test_dname),
		cmocka_unit_test(test_several_addresses),
		cmocka_unit_test(test_only_chain_end),
		cmocka_unit_test(test_nxdomain),
		cmocka_unit_test(test_nodata),
		cmocka_unit_test(test_rpz_rewritten),
		cmocka_unit_test(test_ptr_question),
		cmocka_unit_test(test_mx_question),
		cmocka_unit_test(test_class),
		cmocka_unit_test(test_not_response),
		cmocka_unit_test(test_qdcount),
		cmocka_unit_test(test_edns),
		cmocka_unit_test(test_cname_conflict),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bad_address_rdata),
		cmocka_unit_test(test_truncated_every_length),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_too_many_addresses),
		cmocka_unit_test(test_verdict_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
