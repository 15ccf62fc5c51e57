/*
 * test_dnsmsg.c - rv_dnsmsg_parse(): DNS response -> qname + chain-end addresses.
 *
 * Messages are built with ldns from presentation-form RRs, either compressed
 * (what servers send) or uncompressed (so mixed-case names survive: ldns
 * compresses case-insensitively and would turn every later copy of a name into
 * a pointer to the first one).
 */
#include <dirent.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include "rv_test.h"
#include <ldns/ldns.h>

#include "dnsmsg.h"
/* The ldns-based parser this one replaced: the differential tests' reference. */
#include "dnsmsg_ldns_ref.c"

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

/* ------------------------------------------------------------------------
 * Hand-made wire: what a builder would never produce.
 * ------------------------------------------------------------------------ */

struct wbuf {
	uint8_t b[4096];
	size_t n;
};

static void put(struct wbuf *w, const void *p, size_t n)
{
	assert_true(w->n + n <= sizeof(w->b));
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void put16(struct wbuf *w, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(w, b, 2);
}

/* TYPE, CLASS, TTL, RDLENGTH after an owner name already put. */
static void put_fixed(struct wbuf *w, unsigned type, unsigned class,
		      uint32_t ttl, unsigned rdlen)
{
	put16(w, type);
	put16(w, class);
	put16(w, ttl >> 16);
	put16(w, ttl & 0xffff);
	put16(w, rdlen);
}

/* Header (QR, RD, RA, NOERROR) and the question "a.example. IN A" at
 * offset 12: a name at 12, 11 octets, so the answer section starts at 27. */
#define QNAME "\001a\007example"
static void put_head(struct wbuf *w, unsigned an, unsigned ns, unsigned ar)
{
	w->n = 0;
	put16(w, 0x1234);
	put16(w, 0x8180);
	put16(w, 1);
	put16(w, an);
	put16(w, ns);
	put16(w, ar);
	put(w, QNAME, sizeof(QNAME)); /* with its root label */
	put16(w, 1);
	put16(w, 1);
}

/* "a.example. 300 IN A 192.0.2.1", owner a pointer to the question name. */
static void put_a(struct wbuf *w)
{
	static const uint8_t addr[4] = { 192, 0, 2, 1 };

	put(w, "\300\014", 2);
	put_fixed(w, 1, 1, 300, 4);
	put(w, addr, 4);
}

static int parse_w(const struct wbuf *w, rv_answer *a, rv_verdict *why)
{
	/* Exact-size copy so valgrind/ASan see any overread. */
	uint8_t *copy = malloc(w->n);
	struct msg m = { copy, w->n };
	int rc;

	assert_non_null(copy);
	memcpy(copy, w->b, w->n);
	rc = parse(&m, DEPTH, a, why);
	free(copy);
	return rc;
}

static void expect_w(const struct wbuf *w, int rc, rv_verdict v)
{
	rv_answer a;
	rv_verdict why;

	assert_int_equal(parse_w(w, &a, &why), rc);
	assert_int_equal(why, v);
}

static void test_wire_baseline(void **state)
{
	struct wbuf w;
	rv_answer a;
	rv_verdict why;

	(void)state;
	put_head(&w, 1, 0, 0);
	put_a(&w);
	assert_int_equal(parse_w(&w, &a, &why), 0);
	assert_string_equal(a.qname, "a.example");
	assert_int_equal(a.naddrs, 1);
	assert_int_equal(a.min_ttl, 300);

	/* Octets after the last section carry nothing we read; ldns ignored
	 * them, and so do we. */
	put(&w, "\377\377\377", 3);
	expect_w(&w, 0, RV_LEARN);

	/* An authority section is checked and skipped: its records count, its
	 * SOA is not a policy's (only the additional section's is). */
	put_head(&w, 1, 1, 0);
	put_a(&w);
	put(&w, "\300\016", 2); /* "example." inside the question name */
	put_fixed(&w, 6, 1, 300, 30);
	put(&w, "\002ns\300\016\002hm\300\016", 10);
	put(&w, "\0\0\0\1\0\0\0\1\0\0\0\1\0\0\0\1\0\0\0\1", 20);
	expect_w(&w, 0, RV_LEARN);
	/* ... and with its count one too high, the message ends too early. */
	w.b[9] = 2;
	expect_w(&w, -EBADMSG, RV_BAD_DNS);
}

/* RFC 1035 4.1.4 pointers: only strictly backwards, into the message body. */
static void test_wire_pointers(void **state)
{
	struct wbuf w;

	(void)state;
	/* Into the header. */
	put_head(&w, 1, 0, 0);
	put_a(&w);
	w.b[28] = 2;
	expect_w(&w, -EBADMSG, RV_BAD_DNS);
	w.b[28] = 0;
	expect_w(&w, -EBADMSG, RV_BAD_DNS);
	/* At itself (a loop), past the end. */
	w.b[28] = 27;
	expect_w(&w, -EBADMSG, RV_BAD_DNS);
	w.b[27] = 0xc1;
	w.b[28] = 0;
	expect_w(&w, -EBADMSG, RV_BAD_DNS);

	/* Forward, to a real name further on: ldns followed it; RFC 1035 4.1.4
	 * has a pointer name a "prior occurance". The answer's owner points into
	 * the RDATA of the TXT record after it, which holds "a.example.". */
	put_head(&w, 2, 0, 0);
	put(&w, "\300\067", 2); /* 55: the TXT RDATA below */
	put_fixed(&w, 1, 1, 300, 4);
	put(&w, "\300\0\2\1", 4);
	put(&w, "\300\014", 2);
	put_fixed(&w, 16, 1, 300, 11);
	assert_int_equal(w.n, 55);
	put(&w, QNAME, sizeof(QNAME));
	expect_w(&w, -EBADMSG, RV_BAD_DNS);

	/* A pointer inside a name may not point into the run of labels it ends
	 * either: "b" + pointer to that "b" would loop until the length limit. */
	put_head(&w, 1, 0, 0);
	put(&w, "\001b\300\033", 4); /* 27: itself */
	put_fixed(&w, 1, 1, 300, 4);
	put(&w, "\300\0\2\1", 4);
	expect_w(&w, -EBADMSG, RV_BAD_DNS);
	/* ... backwards to the question name is what compressors write. */
	w.b[30] = 12;
	expect_w(&w, -ENOENT, RV_SKIP_NO_ADDRESS);
}

/* Pointers to pointers, each strictly backwards: at most 128 hops. */
static void test_wire_pointer_hops(void **state)
{
	(void)state;
	for (unsigned hops = 127; hops <= 130; hops++) {
		struct wbuf w;
		size_t first;

		put_head(&w, 2, 0, 0);
		/* A TXT RR whose RDATA (opaque to us) holds the pointer chain:
		 * the first to the question name, each next to the one before. */
		put(&w, "\300\014", 2);
		put_fixed(&w, 16, 1, 300, (unsigned)(2 * (hops - 1)));
		first = w.n;
		put(&w, "\300\014", 2);
		for (unsigned i = 1; i < hops - 1; i++)
			put16(&w, 0xc000u | (unsigned)(first + 2 * (i - 1)));
		/* The A RR's owner: one more hop to the last of them. */
		put16(&w, 0xc000u | (unsigned)(first + 2 * (hops - 2)));
		put_fixed(&w, 1, 1, 300, 4);
		put(&w, "\300\0\2\1", 4);
		if (hops <= 128)
			expect_w(&w, 0, RV_LEARN);
		else
			expect_w(&w, -EBADMSG, RV_BAD_DNS);
	}
}

static void test_wire_labels(void **state)
{
	struct wbuf w;
	uint8_t label[64];
	rv_answer a;
	rv_verdict why;

	(void)state;
	/* Extended (0x40) and reserved (0x80) label types. */
	put_head(&w, 1, 0, 0);
	put_a(&w);
	w.b[12] = 0x41;
	expect_w(&w, -EBADMSG, RV_BAD_DNS);
	w.b[12] = 0x81;
	expect_w(&w, -EBADMSG, RV_BAD_DNS);

	/* 63 octets is the longest label; 255 octets the longest name. */
	for (int extra = 0; extra <= 1; extra++) {
		memset(label, 'x', sizeof(label));
		w.n = 0;
		put16(&w, 0x1234);
		put16(&w, 0x8180);
		put16(&w, 1);
		put16(&w, 1);
		put16(&w, 0);
		put16(&w, 0);
		for (int i = 0; i < 3; i++) {
			label[0] = 63;
			put(&w, label, 64);
		}
		label[0] = (uint8_t)(61 + extra); /* 3 * 64 + 62 + 1 = 255 */
		put(&w, label, (size_t)label[0] + 1);
		put(&w, "\0\0\1\0\1", 5);
		put(&w, "\300\014", 2);
		put_fixed(&w, 1, 1, 300, 4);
		put(&w, "\300\0\2\1", 4);
		if (extra == 0) {
			assert_int_equal(parse_w(&w, &a, &why), 0);
			assert_int_equal(strlen(a.qname), 3 * 64 + 61);
		} else {
			expect_w(&w, -EBADMSG, RV_BAD_DNS);
		}
	}
	put_head(&w, 1, 0, 0);
	put(&w, "\100", 1);
	memset(label, 'y', sizeof(label));
	put(&w, label, 64);
	put(&w, "\0", 1);
	put_fixed(&w, 1, 1, 300, 4);
	put(&w, "\300\0\2\1", 4);
	expect_w(&w, -EBADMSG, RV_BAD_DNS);
}

/* RFC 1035 3.3.1: a CNAME's RDATA is exactly one name. */
static void test_wire_cname_rdata(void **state)
{
	struct wbuf w;
	rv_answer a;
	rv_verdict why;

	(void)state;
	/* a.example CNAME b.a.example (compressed), b.a.example A. */
	put_head(&w, 2, 0, 0);
	put(&w, "\300\014", 2);
	put_fixed(&w, 5, 1, 60, 4);
	put(&w, "\001b\300\014", 4);
	put(&w, "\300\047", 2); /* 39: the CNAME's target */
	put_fixed(&w, 1, 1, 300, 4);
	put(&w, "\300\0\2\1", 4);
	assert_int_equal(parse_w(&w, &a, &why), 0);
	assert_int_equal(a.depth, 1);
	assert_int_equal(a.min_ttl, 60);

	/* One octet too many inside RDLENGTH. */
	put_head(&w, 2, 0, 0);
	put(&w, "\300\014", 2);
	put_fixed(&w, 5, 1, 60, 5);
	put(&w, "\001b\300\014\0", 5);
	put(&w, "\300\047", 2);
	put_fixed(&w, 1, 1, 300, 4);
	put(&w, "\300\0\2\1", 4);
	expect_w(&w, -EBADMSG, RV_BAD_DNS);

	/* A name running past RDLENGTH (RDLENGTH 2 of its 4 octets). */
	put_head(&w, 2, 0, 0);
	put(&w, "\300\014", 2);
	put_fixed(&w, 5, 1, 60, 2);
	put(&w, "\001b\300\014", 4);
	put_a(&w);
	expect_w(&w, -EBADMSG, RV_BAD_DNS);

	/* An empty CNAME is malformed even off the chain (ldns only refused
	 * it on the chain). */
	put_head(&w, 2, 0, 0);
	put_a(&w);
	put(&w, "\300\016", 2);
	put_fixed(&w, 5, 1, 60, 0);
	expect_w(&w, -EBADMSG, RV_BAD_DNS);
}

/* The additional section: one OPT at most, TSIG only last. */
static void test_wire_additional(void **state)
{
	struct wbuf w;

	(void)state;
	put_head(&w, 1, 0, 2);
	put_a(&w);
	put(&w, "\0", 1);
	put_fixed(&w, 41, 1232, 0, 0);
	put(&w, "\003key\0", 5);
	put_fixed(&w, 250, 255, 0, 0);
	expect_w(&w, 0, RV_LEARN);
	/* TSIG first, OPT last: RFC 8945 5.1 puts TSIG at the end. */
	put_head(&w, 1, 0, 2);
	put_a(&w);
	put(&w, "\003key\0", 5);
	put_fixed(&w, 250, 255, 0, 0);
	put(&w, "\0", 1);
	put_fixed(&w, 41, 1232, 0, 0);
	expect_w(&w, -EBADMSG, RV_BAD_DNS);
	/* Two OPT RRs: RFC 6891 6.1.1. */
	put_head(&w, 1, 0, 2);
	put_a(&w);
	put(&w, "\0", 1);
	put_fixed(&w, 41, 1232, 0, 0);
	put(&w, "\0", 1);
	put_fixed(&w, 41, 1232, 0, 0);
	expect_w(&w, -EBADMSG, RV_BAD_DNS);
	/* The extended rcode is the top octet of the OPT TTL (RFC 6891 6.1.3). */
	put_head(&w, 1, 0, 1);
	put_a(&w);
	put(&w, "\0", 1);
	put_fixed(&w, 41, 1232, 0x01000000u, 0);
	expect_w(&w, -ENOENT, RV_SKIP_RCODE);
	w.b[w.n - 6] = 0;
	w.b[w.n - 5] = 0xff; /* the EDNS version: not an rcode */
	expect_w(&w, 0, RV_LEARN);
}

/* ------------------------------------------------------------------------
 * Differential tests against the ldns-based parser this one replaced
 * (dnsmsg_ldns_ref.c; see dnsmsg_diff_class() for the deliberate
 * differences).
 * ------------------------------------------------------------------------ */

static const char *const dnsmsg_diff_names[DIFF_CLASSES] = {
	"same", "malformed", "pointer-strict", "cname-rdata", "opt-twice",
	"tsig-not-last", "ldns-framing",
};

struct diff_stats {
	unsigned long runs;
	unsigned long cls[DIFF_CLASSES];
	unsigned long learned;      /* DIFF_SAME runs that learned */
	unsigned long verdicts[RV_VERDICT_COUNT];
	unsigned long ldns_agreed;  /* DIFF_LDNS_FRAMING runs with equal results */
	unsigned long ref_accepted[DIFF_CLASSES]; /* must-be-bad, ldns did not */
};

static void diff_one(const uint8_t *wire, size_t len, unsigned depth,
		     struct diff_stats *st)
{
	/* Exact-size copy so valgrind/ASan see any overread. */
	uint8_t *w = malloc(len ? len : 1);
	rv_answer a, b;
	rv_verdict wa, wb;
	int ra, rb;
	enum dnsmsg_diff cls;
	bool diverged;
	const char *what;

	assert_non_null(w);
	if (len > 0)
		memcpy(w, wire, len);
	ra = rv_dnsmsg_parse(w, len, depth, &a, &wa);
	rb = rv_dnsmsg_parse_ref(w, len, depth, &b, &wb);
	cls = dnsmsg_diff_class(w, len, &diverged);
	what = dnsmsg_diff_result(ra, wa, &a, rb, wb, &b);
	st->runs++;
	st->cls[cls]++;
	switch (cls) {
	case DIFF_SAME:
		if (what != NULL) {
			char hex[3 * 600 + 1] = "";

			for (size_t i = 0; i < len && i < 600; i++)
				snprintf(hex + 3 * i, 4, "%02x ", w[i]);
			fail_msg("%s differs: new rc %d %s '%s' depth %u n %zu, "
				 "ldns rc %d %s '%s' depth %u n %zu; wire %s",
				 what, ra, rv_verdict_name(wa), a.qname, a.depth,
				 a.naddrs, rb, rv_verdict_name(wb), b.qname,
				 b.depth, b.naddrs, hex);
		}
		st->verdicts[wa]++;
		if (ra == 0)
			st->learned++;
		break;
	case DIFF_LDNS_FRAMING:
		if (what == NULL)
			st->ldns_agreed++;
		break;
	default:
		assert_int_equal(ra, -EBADMSG);
		assert_int_equal(wa, RV_BAD_DNS);
		/* ldns refuses what both call malformed, unless it had gone
		 * astray in an RDATA before. */
		if (cls == DIFF_MALFORMED && !diverged)
			assert_int_equal(rb, -EBADMSG);
		if (rb != -EBADMSG)
			st->ref_accepted[cls]++;
		break;
	}
	/* Invariants whatever the class. */
	assert_true(ra == 0 || ra == -ENOENT || ra == -EBADMSG);
	if (ra == 0)
		assert_true(a.naddrs >= 1 && a.naddrs <= RV_ANSWER_MAX_ADDRS &&
			    a.depth <= depth);
	assert_true(strlen(a.qname) < sizeof(a.qname));
	free(w);
}

static void diff_report(const char *what, const struct diff_stats *st)
{
	print_message("%s: %lu messages;", what, st->runs);
	for (int i = 0; i < DIFF_CLASSES; i++)
		if (st->cls[i] > 0)
			print_message(" %s %lu", dnsmsg_diff_names[i], st->cls[i]);
	print_message("\n  same class by verdict:");
	for (int i = 0; i < RV_VERDICT_COUNT; i++)
		if (st->verdicts[i] > 0)
			print_message(" %s %lu", rv_verdict_name((rv_verdict)i),
				      st->verdicts[i]);
	print_message("\n  ldns-framing with equal results %lu; must-be-bad "
		      "that ldns accepted:", st->ldns_agreed);
	for (int i = 0; i < DIFF_CLASSES; i++)
		if (st->ref_accepted[i] > 0)
			print_message(" %s %lu", dnsmsg_diff_names[i],
				      st->ref_accepted[i]);
	print_message("\n");
}

static void diff_dir(const char *dir, struct diff_stats *st)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		uint8_t buf[70000];
		size_t n;
		FILE *fp;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fp = fopen(path, "rb");
		if (fp == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		for (unsigned depth = 0; depth <= 16; depth += 8)
			diff_one(buf, n, depth, st);
	}
	closedir(d);
}

/* (a) Every corpus file, and any directory named in RV_DIFF_CORPUS
 * (colon-separated, e.g. tests/fuzz/corpus-new/dnsmsg after a fuzz run). */
static void test_diff_corpus(void **state)
{
	struct diff_stats st = { 0 };
	const char *env = getenv("RV_DIFF_CORPUS");

	(void)state;
	diff_dir(RV_SRCDIR "/tests/fuzz/corpus/dnsmsg", &st);
	assert_true(st.runs > 0);
	if (env != NULL) {
		char dirs[4096];
		char *save = NULL;

		snprintf(dirs, sizeof(dirs), "%s", env);
		for (char *p = strtok_r(dirs, ":", &save); p != NULL;
		     p = strtok_r(NULL, ":", &save))
			diff_dir(p, &st);
	}
	diff_report("corpus", &st);
}

/* Names for the generator: mixed case, escapes, the root, a long label. */
static const char *const gen_names[] = {
	"www.example.com.", "WWW.Example.COM.", "cdn.example.net.",
	"CDN.Example.NET.", "edge.cdn.example.", "a.b.c.example.org.",
	"x.example.", "ex\\.ample.com.", "\\032sp\\(1\\)\\200.example.",
	"example.com.", ".", "*.wild.example.",
	"l0123456789012345678901234567890123456789012345678901234567890.example.com.",
};

static const char *pick(uint32_t *s)
{
	return gen_names[rnd(s) % RV_ARRAY_LEN(gen_names)];
}

static void push(ldns_pkt *p, ldns_pkt_section sec, const char *fmt, ...)
	RV_PRINTF(3, 4);
static void push(ldns_pkt *p, ldns_pkt_section sec, const char *fmt, ...)
{
	char text[512];
	ldns_rr *rr;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (ldns_rr_new_frm_str(&rr, text, 300, NULL, NULL) != LDNS_STATUS_OK)
		fail_msg("ldns cannot read \"%s\"", text);
	assert_true(ldns_pkt_push_rr(p, sec, rr));
}

/* A realistic response (see the list below), as named might send it, with
 * the seeded choices that make the verdicts vary. */
static struct msg gen_message(uint32_t *s)
{
	static const char *const other_qtypes[] = { "MX", "PTR", "TXT", "CNAME" };
	static const ldns_pkt_rcode rcodes[] = { LDNS_RCODE_NXDOMAIN,
		LDNS_RCODE_SERVFAIL, LDNS_RCODE_REFUSED };
	ldns_pkt *p = ldns_pkt_new();
	ldns_buffer *buf = ldns_buffer_new(512);
	const char *chain[6];
	unsigned r = rnd(s) % 100, depth = rnd(s) % 5;
	bool v6 = rnd(s) % 2;
	const char *qtype = v6 ? "AAAA" : "A";
	char text[512];
	ldns_rr *rr;
	struct msg m;

	assert_non_null(p);
	assert_non_null(buf);
	ldns_pkt_set_id(p, (uint16_t)rnd(s));
	ldns_pkt_set_qr(p, rnd(s) % 32 != 0);
	ldns_pkt_set_rd(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_opcode(p, rnd(s) % 32 != 0 ? LDNS_PACKET_QUERY
						: LDNS_PACKET_NOTIFY);
	ldns_pkt_set_rcode(p, (uint8_t)(r < 85 ? LDNS_RCODE_NOERROR
					       : rcodes[r % 3]));
	if (rnd(s) % 10 == 0)
		qtype = other_qtypes[rnd(s) % RV_ARRAY_LEN(other_qtypes)];
	for (unsigned i = 0; i <= depth; i++)
		chain[i] = pick(s);
	snprintf(text, sizeof(text), "%s %s %s", chain[0],
		 rnd(s) % 30 == 0 ? "CH" : "IN", qtype);
	assert_int_equal(ldns_rr_new_question_frm_str(&rr, text, NULL, NULL),
			 LDNS_STATUS_OK);
	assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr));

	/* The chain, in order or not (ldns pushes in order; a swap below). */
	for (unsigned i = 0; i < depth; i++)
		push(p, LDNS_SECTION_ANSWER, "%s %u %s CNAME %s", chain[i],
		     rnd(s) % 600, rnd(s) % 40 == 0 ? "CH" : "IN", chain[i + 1]);
	/* Addresses at its end, duplicates and the other family included. */
	for (unsigned i = 0, n = rnd(s) % 5; i < n; i++) {
		bool six = rnd(s) % 5 == 0 ? !v6 : v6;

		if (six)
			push(p, LDNS_SECTION_ANSWER, "%s %u IN AAAA 2001:db8::%x",
			     chain[depth], rnd(s) % 600, rnd(s) % 8);
		else
			push(p, LDNS_SECTION_ANSWER, "%s %u IN A 192.0.2.%u",
			     chain[depth], rnd(s) % 600, rnd(s) % 8);
	}
	/* Extras: unrelated data, DNAME, conflicting or duplicate CNAMEs. */
	if (rnd(s) % 8 == 0)
		push(p, LDNS_SECTION_ANSWER, "%s 5 IN A 198.51.100.%u", pick(s),
		     rnd(s) % 8);
	if (rnd(s) % 16 == 0)
		push(p, LDNS_SECTION_ANSWER, "%s IN TXT \"v=spf1 -all\"", pick(s));
	if (rnd(s) % 16 == 0)
		push(p, LDNS_SECTION_ANSWER, "example.com. IN DNAME %s", pick(s));
	if (rnd(s) % 12 == 0)
		push(p, LDNS_SECTION_ANSWER, "%s IN CNAME %s", chain[rnd(s) % (depth + 1)],
		     pick(s));
	if (rnd(s) % 16 == 0)
		push(p, LDNS_SECTION_ANSWER, "%s IN MX 10 %s", pick(s), pick(s));
	if (rnd(s) % 4 == 0 && ldns_pkt_ancount(p) > 1) {
		/* Swap two answers: chains in any order. */
		ldns_rr_list *an = ldns_pkt_answer(p);
		size_t i = rnd(s) % ldns_rr_list_rr_count(an);
		size_t j = rnd(s) % ldns_rr_list_rr_count(an);
		ldns_rr *tmp = ldns_rr_list_rr(an, i);

		ldns_rr_list_set_rr(an, ldns_rr_list_rr(an, j), i);
		ldns_rr_list_set_rr(an, tmp, j);
	}
	if (rnd(s) % 3 == 0)
		push(p, LDNS_SECTION_AUTHORITY, "example.com. IN NS %s", pick(s));
	if (rnd(s) % 8 == 0)
		push(p, LDNS_SECTION_AUTHORITY, "example.com. 60 IN SOA %s "
		     "hostmaster.example.com. 1 3600 600 86400 60", pick(s));
	if (rnd(s) % 4 == 0)
		push(p, LDNS_SECTION_ADDITIONAL, "ns%u.example.com. IN A 192.0.2.53",
		     rnd(s) % 3);
	if (rnd(s) % 25 == 0)
		push(p, LDNS_SECTION_ADDITIONAL, "rpz.local. 5 IN SOA ns.rpz.local. "
		     "hostmaster.rpz.local. 1 3600 600 86400 5");
	if (rnd(s) % 2 == 0) {
		ldns_pkt_set_edns_udp_size(p, 1232);
		if (rnd(s) % 20 == 0)
			ldns_pkt_set_edns_extended_rcode(p, 1);
	}
	/* Compressed as servers send it, or not (keeps every name's case). */
	if (rnd(s) % 5 != 0)
		assert_int_equal(ldns_pkt2buffer_wire(buf, p), LDNS_STATUS_OK);
	else
		assert_int_equal(ldns_pkt2buffer_wire_compress(buf, p, NULL),
				 LDNS_STATUS_OK);
	m.len = ldns_buffer_position(buf);
	m.wire = malloc(m.len + 64); /* room for appended octets */
	assert_non_null(m.wire);
	memcpy(m.wire, ldns_buffer_begin(buf), m.len);
	ldns_buffer_free(buf);
	ldns_pkt_free(p);
	return m;
}

/* Offsets of every RR's TYPE field, framed by RDLENGTH, up to the first
 * thing that does not fit. */
static size_t rr_offsets(const uint8_t *w, size_t len, size_t *out, size_t max)
{
	size_t pos = 12, n = 0;

	if (len < 12)
		return 0;
	for (int s = 0; s < 4; s++) {
		unsigned count = (unsigned)w[4 + 2 * s] << 8 | w[5 + 2 * s];

		for (unsigned i = 0; i < count && n < max; i++) {
			while (pos < len && w[pos] != 0 && w[pos] < 0xc0)
				pos += 1u + w[pos];
			if (pos >= len)
				return n;
			pos += w[pos] == 0 ? 1 : 2;
			if (pos + (s == 0 ? 4 : 10) > len)
				return n;
			out[n++] = pos;
			pos += s == 0 ? 4 : 10u + ((unsigned)w[pos + 8] << 8 | w[pos + 9]);
		}
	}
	return n;
}

/* One random change of the kind that finds parser bugs: a field of an RR,
 * a pointer, a label length, a count, the flags, the length. */
static void mutate(uint8_t *w, size_t *len, uint32_t *s)
{
	static const uint16_t types[] = { 1, 5, 6, 28, 39, 41, 250, 16, 2, 0 };
	size_t rrs[64];
	size_t nrr = rr_offsets(w, *len, rrs, RV_ARRAY_LEN(rrs));
	size_t at = nrr > 0 ? rrs[rnd(s) % nrr] : 12;

	switch (rnd(s) % 12) {
	case 0: /* any octet */
		if (*len > 0)
			w[rnd(s) % *len] = (uint8_t)rnd(s);
		break;
	case 1: /* letter case */
		for (int k = 0; k < 8 && *len > 0; k++) {
			size_t i = rnd(s) % *len;

			if ((w[i] | 0x20) >= 'a' && (w[i] | 0x20) <= 'z') {
				w[i] ^= 0x20;
				break;
			}
		}
		break;
	case 2: /* TYPE */
		if (at + 2 <= *len) {
			uint16_t t = types[rnd(s) % RV_ARRAY_LEN(types)];

			w[at] = (uint8_t)(t >> 8);
			w[at + 1] = (uint8_t)t;
		}
		break;
	case 3: /* CLASS */
		if (at + 4 <= *len)
			w[at + 3] = (uint8_t)(rnd(s) % 4);
		break;
	case 4: /* TTL, RDLENGTH */
		if (at + 10 <= *len)
			w[at + 4 + rnd(s) % 6] = (uint8_t)rnd(s);
		break;
	case 5: /* a pointer's target */
		for (int k = 0; k < 16 && *len > 1; k++) {
			size_t i = rnd(s) % (*len - 1);

			if (w[i] >= 0xc0) {
				w[i + 1] = (uint8_t)(rnd(s) % (*len + 8));
				break;
			}
		}
		break;
	case 6: /* a label length */
		if (*len > 12)
			w[12 + rnd(s) % (*len - 12)] = (uint8_t)(rnd(s) % 70);
		break;
	case 7: /* a section count */
		if (*len >= 12) {
			size_t i = 4 + 2 * (rnd(s) % 4);

			w[i + 1] = (uint8_t)(w[i + 1] + (rnd(s) % 3) - 1);
		}
		break;
	case 8: /* flags, opcode, rcode */
		if (*len >= 4)
			w[2 + rnd(s) % 2] = (uint8_t)rnd(s);
		break;
	case 9: /* truncate */
		if (*len > 0)
			*len = rnd(s) % *len;
		break;
	case 10: /* trailing octets */
		for (unsigned k = rnd(s) % 8 + 1; k > 0; k--)
			w[(*len)++] = (uint8_t)rnd(s);
		break;
	default: /* nothing: the message as built */
		break;
	}
}

/* (b) 200,000 mutations of realistic messages (RV_DIFF_N to change). */
static void test_diff_mutations(void **state)
{
	static const unsigned depths[] = { 0, 1, 2, 3, 8, UINT32_MAX };
	struct diff_stats st = { 0 };
	const char *env = getenv("RV_DIFF_N");
	unsigned long n = env != NULL ? strtoul(env, NULL, 10) : rv_test_work(200000);
	uint32_t seed = 0x0ddba11;

	(void)state;
	/* ldns_rr_new_frm_str() mallocs and frees a 64 KiB buffer per record:
	 * with glibc's default trim threshold every call grows and shrinks the
	 * heap (a brk pair and fresh pages each, 30 s of system time here). */
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
	for (unsigned long done = 0; done < n;) {
		struct msg base = gen_message(&seed);

		/* 16 variants of each: the first unmutated. */
		for (int v = 0; v < 16 && done < n; v++, done++) {
			uint8_t w[4096];
			size_t len = base.len;
			unsigned depth = depths[rnd(&seed) % RV_ARRAY_LEN(depths)];

			assert_true(len + 64 <= sizeof(w));
			memcpy(w, base.wire, len);
			for (unsigned k = v == 0 ? 0 : 1 + rnd(&seed) % 3; k > 0; k--)
				mutate(w, &len, &seed);
			diff_one(w, len, depth, &st);
		}
		free(base.wire);
	}
	diff_report("mutations", &st);
	/* The generator must reach every verdict the parser can give, or the
	 * comparison proves less than it seems. */
	assert_true(st.cls[DIFF_SAME] > n / 2);
	for (int v = 0; v < RV_VERDICT_COUNT; v++)
		if (v != RV_SKIP_MSG_TYPE && v != RV_SKIP_NO_MESSAGE &&
		    v != RV_SKIP_IGNORED && v != RV_BAD_PROTOBUF)
			assert_true(st.verdicts[v] > 0);
}

/* Every octet value in a label prints as ldns_rdf2str() printed it. */
static void test_diff_escapes(void **state)
{
	struct wbuf w;
	struct diff_stats st = { 0 };

	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		w.n = 0;
		put16(&w, 0x1234);
		put16(&w, 0x8180);
		put16(&w, 1);
		put16(&w, 1);
		put16(&w, 0);
		put16(&w, 0);
		put(&w, "\003a", 2);
		put(&w, &(uint8_t){ (uint8_t)c }, 1);
		put(&w, "b\002Ex\0\0\1\0\1", 9);
		put_a(&w);
		diff_one(w.b, w.n, DEPTH, &st);
	}
	assert_int_equal(st.cls[DIFF_SAME], 256);
	assert_int_equal(st.learned, 256);
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
		cmocka_unit_test(test_wire_baseline),
		cmocka_unit_test(test_wire_pointers),
		cmocka_unit_test(test_wire_pointer_hops),
		cmocka_unit_test(test_wire_labels),
		cmocka_unit_test(test_wire_cname_rdata),
		cmocka_unit_test(test_wire_additional),
		cmocka_unit_test(test_diff_escapes),
		cmocka_unit_test(test_diff_corpus),
		cmocka_unit_test(test_diff_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
