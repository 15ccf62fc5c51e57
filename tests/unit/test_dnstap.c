/*
 * test_dnstap.c - rv_dnstap_decode(): dnstap protobuf frame -> observation.
 *
 * Frames are packed here with the protobuf-c code generated from
 * proto/dnstap.proto; a real BIND capture (tests/data/named-capture.fstrm,
 * see tests/data/README.md) checks that we read what named actually sends.
 * The differential tests at the end decode the fuzz corpora, the capture and
 * mutations of both with the protobuf-c decoder dnstap.c replaced
 * (dnstap_pbc_ref.c) and ask for the same verdict and observation.
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
#include "rv_test.h"
#include <ldns/ldns.h>

#include <dirent.h>

#include "dnstap.h"
#include "dnstap.pb-c.h"
/* The protobuf-c decoder dnstap.c replaced: the differential tests' reference. */
#include "dnstap_pbc_ref.c"

#define DEPTH 8

static const uint8_t client4[4] = { 192, 0, 2, 99 };
static const uint8_t client6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				     0, 0, 0, 0, 0, 0, 0, 0x63 };
static const uint8_t server4[4] = { 127, 0, 0, 1 };

/* A compressed DNS response: one question and one answer RR (or none). */
static uint8_t *dns_wire(const char *question, const char *answer,
			 ldns_pkt_rcode rcode, size_t *len)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *rr;
	uint8_t *wire = NULL;

	assert_non_null(p);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rd(p, true);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	assert_int_equal(ldns_rr_new_question_frm_str(&rr, question, NULL, NULL),
			 LDNS_STATUS_OK);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr);
	if (answer != NULL) {
		assert_int_equal(ldns_rr_new_frm_str(&rr, answer, 300, NULL, NULL),
				 LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return wire;
}

struct frame {
	uint8_t *buf;
	size_t len;
};

static struct frame pack(const Dnstap__Dnstap *d)
{
	struct frame f;

	f.len = dnstap__dnstap__get_packed_size(d);
	f.buf = malloc(f.len ? f.len : 1);
	assert_non_null(f.buf);
	assert_int_equal(dnstap__dnstap__pack(d, f.buf), f.len);
	return f;
}

/* A typical BIND frame of the given Message.Type answering www.example.com A
 * with 192.0.2.1; client and response_message optional. */
static struct frame make_frame(Dnstap__Message__Type type,
			       const uint8_t *client, size_t client_len,
			       bool with_response)
{
	Dnstap__Dnstap d;
	Dnstap__Message m;
	size_t wlen = 0;
	uint8_t *wire = dns_wire("www.example.com. IN A",
				 "Www.Example.com. 300 IN A 192.0.2.1",
				 LDNS_RCODE_NOERROR, &wlen);
	struct frame f;

	dnstap__dnstap__init(&d);
	dnstap__message__init(&m);
	d.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
	d.has_identity = true;
	d.identity.data = (uint8_t *)"resolver1";
	d.identity.len = 9;
	d.message = &m;
	m.type = type;
	m.has_socket_family = true;
	m.socket_family = client_len == 16 ? DNSTAP__SOCKET_FAMILY__INET6
					   : DNSTAP__SOCKET_FAMILY__INET;
	m.has_socket_protocol = true;
	m.socket_protocol = DNSTAP__SOCKET_PROTOCOL__UDP;
	if (client != NULL) {
		m.has_query_address = true;
		m.query_address.data = (uint8_t *)client;
		m.query_address.len = client_len;
		m.has_query_port = true;
		m.query_port = 40000;
	}
	m.has_response_address = true;
	m.response_address.data = (uint8_t *)server4;
	m.response_address.len = sizeof(server4);
	m.has_response_port = true;
	m.response_port = 53;
	m.has_response_time_sec = true;
	m.response_time_sec = 1700000000;
	m.has_response_time_nsec = true;
	m.response_time_nsec = 123456789;
	if (with_response) {
		m.has_response_message = true;
		m.response_message.data = wire;
		m.response_message.len = wlen;
	}
	f = pack(&d);
	free(wire);
	return f;
}

static int decode(const struct frame *f, rv_observation *obs, rv_verdict *why)
{
	int rc = rv_dnstap_decode(f->buf, f->len, DEPTH, obs, why);

	/* The result and the verdict always agree. */
	if (rc == 0)
		assert_int_equal(*why, RV_LEARN);
	else if (rc == -EBADMSG)
		assert_true(*why == RV_BAD_PROTOBUF || *why == RV_BAD_DNS);
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

static void test_client_response(void **state)
{
	struct frame f = make_frame(DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE,
				    client4, sizeof(client4), true);
	rv_observation obs;
	rv_verdict why;

	(void)state;
	assert_int_equal(decode(&f, &obs, &why), 0);
	assert_int_equal(why, RV_LEARN);
	assert_int_equal(obs.msg_type, RV_DNSTAP_CLIENT_RESPONSE);
	assert_true(obs.has_client);
	assert_addr(&obs.client, "192.0.2.99");
	assert_true(obs.has_response_addr);
	assert_addr(&obs.response_addr, "127.0.0.1");
	assert_int_equal(obs.response_port, 53);
	assert_true(obs.has_time);
	assert_int_equal(obs.time_sec, 1700000000);
	assert_int_equal(obs.time_nsec, 123456789);
	assert_string_equal(obs.answer.qname, "www.example.com");
	assert_int_equal(obs.answer.qtype, 1);
	assert_int_equal(obs.answer.naddrs, 1);
	assert_addr(&obs.answer.addrs[0], "192.0.2.1");
	free(f.buf);
}

static void test_auth_response(void **state)
{
	struct frame f = make_frame(DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE,
				    client4, sizeof(client4), true);
	rv_observation obs;
	rv_verdict why;

	(void)state;
	assert_int_equal(decode(&f, &obs, &why), 0);
	assert_int_equal(obs.msg_type, RV_DNSTAP_AUTH_RESPONSE);
	assert_string_equal(obs.answer.qname, "www.example.com");
	assert_int_equal(obs.answer.naddrs, 1);
	free(f.buf);
}

static void test_ipv6_client(void **state)
{
	struct frame f = make_frame(DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE,
				    client6, sizeof(client6), true);
	rv_observation obs;
	rv_verdict why;
	char buf[RV_ADDR_STRLEN];

	(void)state;
	assert_int_equal(decode(&f, &obs, &why), 0);
	assert_true(obs.has_client);
	assert_int_equal(obs.client.family, AF_INET6);
	assert_string_equal(rv_addr_str(&obs.client, buf, sizeof(buf)),
			    "2001:db8::63");
	free(f.buf);
}

static void test_odd_client_address(void **state)
{
	static const uint8_t five[5] = { 1, 2, 3, 4, 5 };
	struct frame f = make_frame(DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE,
				    five, sizeof(five), true);
	rv_observation obs;
	rv_verdict why;

	(void)state;
	/* A bad address is dropped, the answer is still learnt. */
	assert_int_equal(decode(&f, &obs, &why), 0);
	assert_false(obs.has_client);
	free(f.buf);

	f = make_frame(DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE, NULL, 0, true);
	assert_int_equal(decode(&f, &obs, &why), 0);
	assert_false(obs.has_client);
	free(f.buf);
}

static void test_skipped_types(void **state)
{
	static const Dnstap__Message__Type skipped[] = {
		DNSTAP__MESSAGE__TYPE__RESOLVER_RESPONSE,
		DNSTAP__MESSAGE__TYPE__UPDATE_RESPONSE,
		DNSTAP__MESSAGE__TYPE__CLIENT_QUERY,
		DNSTAP__MESSAGE__TYPE__AUTH_QUERY,
		DNSTAP__MESSAGE__TYPE__FORWARDER_RESPONSE,
	};
	rv_observation obs;
	rv_verdict why;

	(void)state;
	for (size_t i = 0; i < RV_ARRAY_LEN(skipped); i++) {
		struct frame f = make_frame(skipped[i], client4, sizeof(client4),
					    true);

		assert_int_equal(decode(&f, &obs, &why), -ENOENT);
		assert_int_equal(why, RV_SKIP_MSG_TYPE);
		assert_int_equal(obs.msg_type, (int)skipped[i]);
		assert_int_equal(obs.answer.naddrs, 0);
		free(f.buf);
	}
}

static void test_no_message(void **state)
{
	Dnstap__Dnstap d;
	struct frame f;
	rv_observation obs;
	rv_verdict why;

	(void)state;
	dnstap__dnstap__init(&d);
	d.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
	f = pack(&d);
	assert_int_equal(decode(&f, &obs, &why), -ENOENT);
	assert_int_equal(why, RV_SKIP_NO_MESSAGE);
	free(f.buf);

	/* A Dnstap.Type this schema does not know yet. */
	d.type = (Dnstap__Dnstap__Type)7;
	f = pack(&d);
	assert_int_equal(decode(&f, &obs, &why), -ENOENT);
	assert_int_equal(why, RV_SKIP_NO_MESSAGE);
	free(f.buf);
}

static void test_no_response_message(void **state)
{
	struct frame f = make_frame(DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE,
				    client4, sizeof(client4), false);
	rv_observation obs;
	rv_verdict why;

	(void)state;
	assert_int_equal(decode(&f, &obs, &why), -ENOENT);
	assert_int_equal(why, RV_SKIP_NO_MESSAGE);
	free(f.buf);
}

static void test_bad_dns_inside(void **state)
{
	Dnstap__Dnstap d;
	Dnstap__Message m;
	struct frame f;
	rv_observation obs;
	rv_verdict why;
	uint8_t junk[7] = { 1, 2, 3, 4, 5, 6, 7 };

	(void)state;
	dnstap__dnstap__init(&d);
	dnstap__message__init(&m);
	d.message = &m;
	m.type = DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE;
	m.has_response_message = true;
	m.response_message.data = junk;
	m.response_message.len = sizeof(junk);
	f = pack(&d);
	assert_int_equal(decode(&f, &obs, &why), -EBADMSG);
	assert_int_equal(why, RV_BAD_DNS);
	free(f.buf);

	/* Present but empty. */
	m.response_message.len = 0;
	f = pack(&d);
	assert_int_equal(decode(&f, &obs, &why), -EBADMSG);
	assert_int_equal(why, RV_BAD_DNS);
	free(f.buf);
}

static void test_dns_verdict_passes_through(void **state)
{
	Dnstap__Dnstap d;
	Dnstap__Message m;
	struct frame f;
	rv_observation obs;
	rv_verdict why;
	size_t wlen;
	uint8_t *wire = dns_wire("nx.example.com. IN A", NULL,
				 LDNS_RCODE_NXDOMAIN, &wlen);

	(void)state;
	dnstap__dnstap__init(&d);
	dnstap__message__init(&m);
	d.message = &m;
	m.type = DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE;
	m.has_response_message = true;
	m.response_message.data = wire;
	m.response_message.len = wlen;
	f = pack(&d);
	assert_int_equal(decode(&f, &obs, &why), -ENOENT);
	assert_int_equal(why, RV_SKIP_RCODE);
	assert_string_equal(obs.answer.qname, "nx.example.com");
	assert_false(obs.has_time);
	assert_false(obs.has_client);
	free(f.buf);
	free(wire);
}

/* xorshift32: deterministic garbage. */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_garbage(void **state)
{
	static const uint8_t not_protobuf[] = "this is not a protobuf";
	struct frame f;
	rv_observation obs;
	rv_verdict why;
	uint32_t seed = 0xdeadbeef;

	(void)state;
	f.buf = (uint8_t *)not_protobuf;
	f.len = sizeof(not_protobuf);
	assert_int_equal(decode(&f, &obs, &why), -EBADMSG);
	assert_int_equal(why, RV_BAD_PROTOBUF);

	/* Empty: the required Dnstap.type is missing. */
	assert_int_equal(rv_dnstap_decode(NULL, 0, DEPTH, &obs, &why), -EBADMSG);
	assert_int_equal(why, RV_BAD_PROTOBUF);

	for (int i = 0, end = (int)rv_test_work(20000); i < end; i++) {
		size_t n = rnd(&seed) % 300;
		uint8_t *w = malloc(n ? n : 1);

		assert_non_null(w);
		for (size_t j = 0; j < n; j++)
			w[j] = (uint8_t)rnd(&seed);
		f.buf = w;
		f.len = n;
		(void)decode(&f, &obs, &why);
		free(w);
	}

	/* A valid frame with a few bytes flipped. */
	f = make_frame(DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE, client4,
		       sizeof(client4), true);
	for (int i = 0, end = (int)rv_test_work(20000); i < end; i++) {
		struct frame g = { malloc(f.len), f.len };

		assert_non_null(g.buf);
		memcpy(g.buf, f.buf, f.len);
		for (int k = 0; k < 1 + (int)(rnd(&seed) % 4); k++)
			g.buf[rnd(&seed) % g.len] = (uint8_t)rnd(&seed);
		(void)decode(&g, &obs, &why);
		free(g.buf);
	}
	free(f.buf);
}

static void test_truncated_every_length(void **state)
{
	struct frame f = make_frame(DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE,
				    client6, sizeof(client6), true);
	rv_observation obs;
	rv_verdict why;

	(void)state;
	for (size_t n = 0; n < f.len; n++) {
		/* Exact-size copy so valgrind/ASan catch any overread. */
		struct frame g = { malloc(n ? n : 1), n };

		assert_non_null(g.buf);
		memcpy(g.buf, f.buf, n);
		(void)decode(&g, &obs, &why);
		free(g.buf);
	}
	assert_int_equal(decode(&f, &obs, &why), 0);
	free(f.buf);
}

/*
 * A frame near the 64 KiB a DNS message can have (the protobuf-c decoder
 * this file once tested kept a 64 KiB arena and fell back to malloc here):
 * a three-byte length prefix; the next frame decodes as usual.
 */
static void test_large_frame(void **state)
{
	enum { NRR = 4060 };
	static const uint8_t head[] = {
		0x12, 0x34, 0x81, 0x80, 0, 1, NRR >> 8, NRR & 0xff, 0, 0, 0, 0,
		3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c',
		'o', 'm', 0, 0, 1, 0, 1,
	};
	Dnstap__Dnstap d;
	Dnstap__Message m;
	struct frame f, small;
	rv_observation obs;
	rv_verdict why;
	size_t wlen = sizeof(head) + NRR * 16;
	uint8_t *wire = malloc(wlen);
	uint8_t *p;

	(void)state;
	assert_non_null(wire);
	memcpy(wire, head, sizeof(head));
	p = wire + sizeof(head);
	for (unsigned i = 0; i < NRR; i++) {
		/* www.example.com. (a pointer to the question) 300 IN A 10.0.x.y */
		static const uint8_t rr[12] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 1,
						 0x2c, 0, 4 };

		memcpy(p, rr, sizeof(rr));
		p[12] = 10;
		p[13] = 0;
		p[14] = (uint8_t)(i >> 8);
		p[15] = (uint8_t)i;
		p += 16;
	}
	assert_true(wlen > 64 * 1024 - 600 && wlen <= UINT16_MAX);

	dnstap__dnstap__init(&d);
	dnstap__message__init(&m);
	d.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
	d.message = &m;
	m.type = DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE;
	m.has_query_address = true;
	m.query_address.data = (uint8_t *)client4;
	m.query_address.len = sizeof(client4);
	m.has_response_message = true;
	m.response_message.data = wire;
	m.response_message.len = wlen;
	/* The query too: the frame exceeds 64 KiB. */
	m.has_query_message = true;
	m.query_message.data = wire;
	m.query_message.len = wlen;
	f = pack(&d);
	assert_true(f.len > 2 * wlen);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(decode(&f, &obs, &why), 0);
		assert_string_equal(obs.answer.qname, "www.example.com");
		assert_int_equal(obs.answer.naddrs, RV_ANSWER_MAX_ADDRS);
		assert_true(obs.answer.addrs_truncated);
		assert_addr(&obs.answer.addrs[63], "10.0.0.63");
		assert_addr(&obs.client, "192.0.2.99");

		small = make_frame(DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE,
				   client6, sizeof(client6), true);
		assert_int_equal(decode(&small, &obs, &why), 0);
		assert_int_equal(obs.answer.naddrs, 1);
		assert_false(obs.answer.addrs_truncated);
		assert_addr(&obs.answer.addrs[0], "192.0.2.1");
		free(small.buf);
	}
	free(f.buf);
	free(wire);
}

/*
 * The real capture. Frame Streams file format (fstrm "content type" file):
 * an escape (BE32 0), a control frame (BE32 length + payload: BE32 type START
 * and a CONTENT_TYPE field), then data frames (BE32 length > 0 + payload) until
 * an escape followed by a STOP control frame.
 */
enum { FSTRM_CONTROL_START = 2, FSTRM_CONTROL_STOP = 3 };

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

struct expect {
	const char *qname;
	uint16_t qtype;
	int msg_type;
	const char *client;
	unsigned depth;
	uint32_t min_ttl;
	const char *addrs[3];
	int seen;
};

static void check_learned(struct expect *e, size_t ne, const rv_observation *o)
{
	char buf[RV_ADDR_STRLEN];

	for (size_t i = 0; i < ne; i++) {
		size_t n = 0;

		if (strcmp(e[i].qname, o->answer.qname) != 0 ||
		    e[i].qtype != o->answer.qtype || e[i].msg_type != o->msg_type)
			continue;
		e[i].seen++;
		assert_true(o->has_client);
		assert_string_equal(rv_addr_str(&o->client, buf, sizeof(buf)),
				    e[i].client);
		assert_true(o->has_time);
		assert_true(o->time_sec > 1600000000);
		assert_int_equal(o->answer.depth, e[i].depth);
		assert_int_equal(o->answer.min_ttl, e[i].min_ttl);
		/* Same set of addresses; the server picks the order. */
		while (n < RV_ARRAY_LEN(e[i].addrs) && e[i].addrs[n] != NULL)
			n++;
		assert_int_equal(o->answer.naddrs, n);
		for (size_t k = 0; k < n; k++) {
			bool found = false;

			for (size_t j = 0; j < o->answer.naddrs; j++)
				if (strcmp(rv_addr_str(&o->answer.addrs[j], buf,
						       sizeof(buf)),
					   e[i].addrs[k]) == 0)
					found = true;
			assert_true(found);
		}
		return;
	}
	fail_msg("unexpected learn: %s type %u", o->answer.qname,
		 o->answer.qtype);
}

static void test_named_capture(void **state)
{
	/* See tests/data/README.md for the zones and the queries. */
	struct expect learned[] = {
		{ "plain.example.test", 1, RV_DNSTAP_CLIENT_RESPONSE, "127.0.0.1",
		  0, 300, { "192.0.2.30" }, 0 },
		{ "plain.example.test", 1, RV_DNSTAP_AUTH_RESPONSE, "127.0.0.1",
		  0, 300, { "192.0.2.30" }, 0 },
		{ "www.example.test", 1, RV_DNSTAP_CLIENT_RESPONSE, "127.0.0.1",
		  1, 60, { "192.0.2.10" }, 0 },
		{ "www.example.test", 28, RV_DNSTAP_CLIENT_RESPONSE, "::1",
		  1, 60, { "2001:db8::10" }, 0 },
		{ "deep.example.test", 1, RV_DNSTAP_CLIENT_RESPONSE, "127.0.0.1",
		  3, 30, { "192.0.2.20", "192.0.2.21" }, 0 },
		{ "deep.example.test", 28, RV_DNSTAP_CLIENT_RESPONSE, "127.0.0.1",
		  3, 120, { "2001:db8::20" }, 0 },
		{ "mixed.example.test", 1, RV_DNSTAP_CLIENT_RESPONSE, "127.0.0.1",
		  1, 30, { "192.0.2.20", "192.0.2.21" }, 0 },
		{ "www.old.example.test", 1, RV_DNSTAP_CLIENT_RESPONSE,
		  "127.0.0.1", 1, 300, { "192.0.2.40" }, 0 },
	};
	static const struct {
		const char *qname;
		rv_verdict why;
	} skipped[] = {
		{ "nx.example.test", RV_SKIP_RCODE },
		{ "plain.example.test", RV_SKIP_NO_ADDRESS }, /* AAAA: NODATA */
		{ "example.test", RV_SKIP_QTYPE },            /* MX */
		{ "loop1.example.test", RV_SKIP_RCODE },      /* named: SERVFAIL */
	};
	static const char ctype[] = "protobuf:dnstap.Dnstap";
	char path[4096];
	uint8_t *buf;
	size_t len, off, nframes = 0, nlearn = 0, nskip = 0;
	uint32_t clen;
	long size;
	FILE *fp;
	bool stopped = false;

	(void)state;
	snprintf(path, sizeof(path), "%s/named-capture.fstrm", RV_TEST_DATA);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	size = ftell(fp);
	assert_true(size > 0 && size < 1 << 20);
	rewind(fp);
	len = (size_t)size;
	buf = malloc(len);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, len, fp), len);
	fclose(fp);

	/* START control frame with our content type. */
	assert_true(len >= 12);
	assert_int_equal(be32(buf), 0);
	clen = be32(buf + 4);
	assert_true(clen >= 4 && clen <= len - 8);
	assert_int_equal(be32(buf + 8), FSTRM_CONTROL_START);
	assert_non_null(memmem(buf + 8, clen, ctype, sizeof(ctype) - 1));
	off = 8 + clen;

	while (off + 4 <= len) {
		uint32_t flen = be32(buf + off);
		rv_observation obs;
		rv_verdict why;
		int rc;

		off += 4;
		if (flen == 0) {
			assert_true(off + 8 <= len);
			assert_int_equal(be32(buf + off), 4);
			assert_int_equal(be32(buf + off + 4), FSTRM_CONTROL_STOP);
			off += 8;
			stopped = true;
			break;
		}
		assert_true(flen <= len - off);
		rc = rv_dnstap_decode(buf + off, flen, DEPTH, &obs, &why);
		off += flen;
		nframes++;
		if (rc == 0) {
			nlearn++;
			check_learned(learned, RV_ARRAY_LEN(learned), &obs);
			continue;
		}
		assert_int_equal(rc, -ENOENT);
		for (size_t i = 0; i < RV_ARRAY_LEN(skipped); i++)
			if (strcmp(skipped[i].qname, obs.answer.qname) == 0 &&
			    skipped[i].why == why)
				nskip++;
	}
	assert_true(stopped);
	assert_int_equal(off, len);
	assert_int_equal(nframes, 12);
	assert_int_equal(nlearn, RV_ARRAY_LEN(learned));
	assert_int_equal(nskip, RV_ARRAY_LEN(skipped));
	for (size_t i = 0; i < RV_ARRAY_LEN(learned); i++)
		assert_int_equal(learned[i].seen, 1);
	free(buf);
}


/* ------------------------------------------------------------ differential */

static size_t ndiff_runs, ndiff_learned, ndiff_bad;

/*
 * Decodes len bytes (copied to a buffer of exactly that size, so ASan and
 * valgrind see any overread) with both decoders and fails on any difference.
 * Returns our result.
 */
static int check_same(const uint8_t *bytes, size_t len)
{
	static rv_observation obs, ref;
	rv_verdict why, ref_why;
	uint8_t *b = malloc(len ? len : 1);
	const char *diff;
	int rc, ref_rc;

	assert_non_null(b);
	if (len > 0)
		memcpy(b, bytes, len);
	rc = rv_dnstap_decode(len ? b : NULL, len, DEPTH, &obs, &why);
	ref_rc = rv_dnstap_decode_ref(len ? b : NULL, len, DEPTH, &ref, &ref_why);
	diff = dnstap_diff(rc, why, &obs, ref_rc, ref_why, &ref);
	if (diff != NULL) {
		fprintf(stderr, "differs in %s: rc %d/%d why %s/%s; frame (%zu bytes):", diff, rc,
			ref_rc, rv_verdict_name(why), rv_verdict_name(ref_why), len);
		for (size_t i = 0; i < len; i++)
			fprintf(stderr, " %02x", b[i]);
		fprintf(stderr, "\n");
		fail_msg("hand decoder and protobuf-c differ in %s", diff);
	}
	rv_dnstap_release_ref();
	free(b);
	ndiff_runs++;
	ndiff_learned += rc == 0;
	ndiff_bad += rc == -EBADMSG && why == RV_BAD_PROTOBUF;
	return rc;
}

/* One field of a (sub)message: where it starts and ends, its number and wire
 * type, and for length-delimited ones where its value starts. */
struct span {
	size_t off, end, val;
	uint32_t num;
	unsigned wt;
};

static bool get_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; *off < len && shift < 64; shift += 7) {
		uint8_t b = p[(*off)++];

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* Splits a well-formed message into its fields; -1 if it is not one. */
static int split(const uint8_t *p, size_t len, struct span *sp, int max)
{
	size_t off = 0;
	int n = 0;

	while (off < len && n < max) {
		uint64_t key, v;

		sp[n].off = off;
		if (!get_varint(p, len, &off, &key))
			return -1;
		sp[n].num = (uint32_t)(key >> 3);
		sp[n].wt = key & 7;
		switch (sp[n].wt) {
		case 0:
			if (!get_varint(p, len, &off, &v))
				return -1;
			break;
		case 1:
			off += 8;
			break;
		case 2:
			if (!get_varint(p, len, &off, &v) || v > len - off)
				return -1;
			sp[n].val = off;
			off += v;
			break;
		case 5:
			off += 4;
			break;
		default:
			return -1;
		}
		if (off > len)
			return -1;
		sp[n++].end = off;
	}
	return off == len ? n : -1;
}

/* out = the fields of p in the order given by idx[0..n). */
static size_t reorder(const uint8_t *p, const struct span *sp, const int *idx, int n,
		      uint8_t *out)
{
	size_t o = 0;

	for (int i = 0; i < n; i++) {
		memcpy(out + o, p + sp[idx[i]].off, sp[idx[i]].end - sp[idx[i]].off);
		o += sp[idx[i]].end - sp[idx[i]].off;
	}
	return o;
}

/* The key and length of a length-delimited field (its value follows). */
static size_t put_ld(uint8_t *out, uint32_t num, size_t len)
{
	size_t o = 0;
	uint64_t key = (uint64_t)num << 3 | 2;

	do {
		out[o++] = (uint8_t)((key & 0x7f) | (key > 0x7f ? 0x80 : 0));
		key >>= 7;
	} while (key);
	do {
		out[o++] = (uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
		len >>= 7;
	} while (len);
	return o;
}

/* Unknown and odd fields to insert: every wire type, numbers far past the
 * schema, multi-byte keys, a key for field 0 the long way, overlong varints,
 * and some that protobuf-c rejects (groups, wire types 6 and 7, an 11-byte
 * varint, a 6-byte key). */
static const struct {
	uint8_t b[16];
	size_t len;
} extras[] = {
	{ { 0xf8, 0x07, 0x01 }, 3 },                          /* 127 varint */
	{ { 0x81, 0x08, 1, 2, 3, 4, 5, 6, 7, 8 }, 10 },       /* 128 fixed64 */
	{ { 0xaa, 0x10, 0x02, 0xab, 0xcd }, 5 },              /* 261 bytes */
	{ { 0xfd, 0xff, 0xff, 0xff, 0x0f, 9, 9, 9, 9 }, 9 }, /* 2^29-1 fixed32 */
	{ { 0x80, 0x00, 0x05 }, 3 },                          /* field 0, long key */
	{ { 0xb0, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 12 },
	{ { 0xb0, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 13 },
	{ { 0xb3, 0x01, 0xb4, 0x01 }, 4 },                    /* group 22 */
	{ { 0xb6, 0x01, 0x00 }, 3 },                          /* wire type 6 */
	{ { 0xb7, 0x01, 0x00 }, 3 },                          /* wire type 7 */
	{ { 0x82, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00 }, 7 },  /* 6-byte key */
	{ { 0x92, 0x80, 0x80, 0x80, 0x00, 0x00 }, 6 },        /* 5-byte key, field 2 */
	{ { 0x32, 0x85, 0x80, 0x80, 0x80, 0x10, 1, 2, 3, 4, 5 }, 11 }, /* length 2^32 + 5 */
	{ { 0x32, 0x82, 0x80, 0x80, 0x80, 0x00, 1, 2 }, 8 },  /* length 2, overlong */
	{ { 0x32, 0x82, 0x80, 0x80, 0x80, 0x80, 0x00, 1, 2 }, 9 }, /* 6-byte length */
	{ { 0x08, 0x06 }, 2 },                                /* field 1 varint */
	{ { 0x0a, 0x00 }, 2 },                                /* field 1 empty bytes */
	{ { 0x0d, 6, 0, 0, 0 }, 5 },                          /* field 1 fixed32 */
	{ { 0x72, 0x00 }, 2 },                                /* field 14 empty */
	{ { 0x78, 0x01 }, 2 },                                /* field 15 varint 1 */
	{ { 0x7a, 0x02, 0x08, 0x01 }, 4 },                    /* field 15 bytes */
	{ { 0x3d, 0x35, 0, 0, 0 }, 5 },                       /* field 7 fixed32 */
	{ { 0x38, 0xff, 0xff, 0x03 }, 4 },                    /* field 7 65535 */
	{ { 0x38, 0x80, 0x80, 0x04 }, 4 },                    /* field 7 65536 */
	{ { 0x60, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 11 },
	{ { 0x6d, 0xff, 0xc9, 0x9a, 0x3b }, 5 },              /* nsec 999999999 */
	{ { 0x6d, 0x00, 0xca, 0x9a, 0x3b }, 5 },              /* nsec 10^9 */
	{ { 0x18, 0x04 }, 2 },                                /* field 3 = 4 */
	{ { 0x18, 0x85, 0x80, 0x80, 0x80, 0x10 }, 6 },        /* field 3, 2^32 + 5 */
	{ { 0x22, 0x04, 10, 0, 0, 9 }, 6 },                   /* field 4, 4 bytes */
	{ { 0x22, 0x00 }, 2 },                                /* field 4, empty */
	{ { 0x2a, 0x03, 1, 2, 3 }, 5 },                       /* field 5, 3 bytes */
	{ { 0x7a, 0x04, 0x18, 0x01, 0x12, 0x00 }, 6 },        /* field 15: a Policy */
	{ { 0x7a, 0x02, 0x1a, 0x00 }, 4 },                    /* field 15: bad Policy */
	{ { 0x80, 0x01, 0x02 }, 3 },                          /* field 16 varint */
	{ { 0x82, 0x01, 0x00 }, 3 },                          /* field 16 bytes */
	{ { 0x0a, 0xfb, 0xff, 0xff, 0xff, 0x0f }, 6 },        /* length 2^32 - 5 */
};

/*
 * Every mutation of one frame: truncation at every length, every bit
 * flipped, every byte set to 0x00/0x80/0xff, its fields (and the Message's)
 * in other orders, duplicated or dropped, and the extras above inserted at
 * every field boundary, at the top level and inside the Message.
 */
static void mutate_frame(const uint8_t *f, size_t len)
{
	uint8_t *b = malloc(2 * len + 64);
	struct span top[32], msg[48];
	int ntop, nmsg, idx[96], mi = -1;

	assert_non_null(b);
	check_same(f, len);
	for (size_t n = 0; n < len; n++)
		check_same(f, n);
	for (size_t i = 0; i < len; i++) {
		static const uint8_t set[] = { 0x00, 0x80, 0xff };

		memcpy(b, f, len);
		for (int bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1u << bit);
			check_same(b, len);
			b[i] ^= (uint8_t)(1u << bit);
		}
		for (size_t k = 0; k < RV_ARRAY_LEN(set); k++) {
			b[i] = set[k];
			check_same(b, len);
		}
	}

	ntop = split(f, len, top, 32);
	if (ntop <= 0) {
		free(b);
		return;
	}
	/* Reversed, rotated, each field dropped, each duplicated. */
	for (int i = 0; i < ntop; i++)
		idx[i] = ntop - 1 - i;
	check_same(b, reorder(f, top, idx, ntop, b));
	for (int r = 1; r < ntop; r++) {
		for (int i = 0; i < ntop; i++)
			idx[i] = (i + r) % ntop;
		check_same(b, reorder(f, top, idx, ntop, b));
	}
	for (int d = 0; d < ntop; d++) {
		int n = 0;

		for (int i = 0; i < ntop; i++)
			if (i != d)
				idx[n++] = i;
		check_same(b, reorder(f, top, idx, n, b));
		for (int i = 0; i < ntop; i++)
			idx[i] = i;
		idx[ntop] = d;
		check_same(b, reorder(f, top, idx, ntop + 1, b));
	}
	/* Extras at every top-level field boundary. */
	for (int at = 0; at <= ntop; at++) {
		for (size_t e = 0; e < RV_ARRAY_LEN(extras); e++) {
			size_t o = at < ntop ? top[at].off : len;

			memcpy(b, f, o);
			memcpy(b + o, extras[e].b, extras[e].len);
			memcpy(b + o + extras[e].len, f + o, len - o);
			check_same(b, len + extras[e].len);
		}
	}

	for (int i = 0; i < ntop; i++)
		if (top[i].num == 14 && top[i].wt == 2)
			mi = i;
	if (mi < 0) {
		free(b);
		return;
	}
	nmsg = split(f + top[mi].val, top[mi].end - top[mi].val, msg, 48);
	if (nmsg > 0) {
		const uint8_t *mp = f + top[mi].val;
		uint8_t *sub = malloc(top[mi].end - top[mi].val + 64);
		size_t mlen = top[mi].end - top[mi].val;

		assert_non_null(sub);
		/* The Message rebuilt (same length, so the prefix still fits)
		 * in other orders; then with an extra inside (a longer
		 * prefix); then twice, the second copy lacking one field. */
		for (int r = 0; r < nmsg; r++) {
			for (int i = 0; i < nmsg; i++)
				idx[i] = r == 0 ? nmsg - 1 - i : (i + r) % nmsg;
			memcpy(b, f, len);
			reorder(mp, msg, idx, nmsg, b + top[mi].val);
			check_same(b, len);
		}
		for (int at = 0; at <= nmsg; at++) {
			for (size_t e = 0; e < RV_ARRAY_LEN(extras); e++) {
				size_t o = at < nmsg ? msg[at].off : mlen, n, hdr;

				memcpy(sub, mp, o);
				memcpy(sub + o, extras[e].b, extras[e].len);
				memcpy(sub + o + extras[e].len, mp + o, mlen - o);
				n = mlen + extras[e].len;
				memcpy(b, f, top[mi].off);
				hdr = put_ld(b + top[mi].off, 14, n);
				memcpy(b + top[mi].off + hdr, sub, n);
				memcpy(b + top[mi].off + hdr + n, f + top[mi].end, len - top[mi].end);
				check_same(b, top[mi].off + hdr + n + len - top[mi].end);
			}
		}
		for (int d = -1; d < nmsg; d++) {
			size_t o = 0, n = 0, hdr;

			for (int i = 0; i < nmsg; i++)
				if (i != d)
					idx[n++] = i;
			n = reorder(mp, msg, idx, (int)n, sub);
			memcpy(b, f, top[mi].end);
			o = top[mi].end;
			hdr = put_ld(b + o, 14, n);
			memcpy(b + o + hdr, sub, n);
			o += hdr + n;
			memcpy(b + o, f + top[mi].end, len - top[mi].end);
			check_same(b, o + len - top[mi].end);
			/* ... and the shorter copy first. */
			memcpy(b, f, top[mi].off);
			o = top[mi].off;
			hdr = put_ld(b + o, 14, n);
			memcpy(b + o + hdr, sub, n);
			o += hdr + n;
			memcpy(b + o, f + top[mi].off, len - top[mi].off);
			check_same(b, o + len - top[mi].off);
		}
		/* Twice, the later copy (then the earlier) with an extra at its
		 * end: merging an empty bytes field, an overriding port, ... */
		for (size_t e = 0; e < RV_ARRAY_LEN(extras); e++) {
			size_t n = mlen + extras[e].len, o, hdr;

			memcpy(sub, mp, mlen);
			memcpy(sub + mlen, extras[e].b, extras[e].len);
			for (int later = 0; later < 2; later++) {
				o = later ? top[mi].end : top[mi].off;
				memcpy(b, f, o);
				hdr = put_ld(b + o, 14, n);
				memcpy(b + o + hdr, sub, n);
				memcpy(b + o + hdr + n, f + o, len - o);
				check_same(b, hdr + n + len);
			}
		}
		free(sub);
	}
	free(b);
}

/* Every file of a fuzz corpus directory, as a frame (fstrm: the data frames
 * of the stream, read leniently). */
static void corpus_frames(const char *name, bool fstrm, bool mutate)
{
	char path[4096];
	struct dirent *de;
	DIR *dir;
	size_t nfiles = 0;

	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/%s", RV_SRCDIR, name);
	dir = opendir(path);
	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		char file[4352];
		uint8_t *buf;
		long size;
		FILE *fp;

		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
		fp = fopen(file, "rb");
		assert_non_null(fp);
		assert_int_equal(fseek(fp, 0, SEEK_END), 0);
		size = ftell(fp);
		assert_true(size >= 0);
		rewind(fp);
		buf = malloc((size_t)size + 1);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
		fclose(fp);
		nfiles++;
		if (!fstrm) {
			check_same(buf, (size_t)size);
			/* Every file's systematic mutations, or every
			 * RV_WORK_SCALE-th file's. */
			if (mutate && size < 2048 && nfiles % (1000 / rv_test_work(1000)) == 0)
				mutate_frame(buf, (size_t)size);
		} else {
			size_t off = 0;

			while (off + 4 <= (size_t)size) {
				uint32_t flen = be32(buf + off);

				off += 4;
				if (flen == 0) { /* control frame: its length, skip */
					if (off + 4 > (size_t)size)
						break;
					flen = be32(buf + off);
					off += 4;
				} else if (flen <= (size_t)size - off) {
					check_same(buf + off, flen);
				}
				if (flen > (size_t)size - off)
					break;
				off += flen;
			}
		}
		free(buf);
	}
	closedir(dir);
	assert_true(nfiles > 0);
}

static void test_differential_corpus(void **state)
{
	(void)state;
	ndiff_runs = ndiff_learned = ndiff_bad = 0;
	corpus_frames("dnstap", false, true);
	corpus_frames("fstrm", true, false);
	/* The dnsmsg corpus is DNS wire, not protobuf: nearly all rejected,
	 * which both must agree on too. */
	corpus_frames("dnsmsg", false, false);
	print_message("differential: %zu decodes, %zu learned, %zu bad protobuf\n",
		      ndiff_runs, ndiff_learned, ndiff_bad);
	assert_true(ndiff_learned > 100);
	assert_true(ndiff_bad > 1000);
}

/* The real capture's frames and their mutations. */
static void test_differential_capture(void **state)
{
	char path[4096];
	uint8_t *buf;
	size_t len, off, nframes = 0;
	long size;
	FILE *fp;

	(void)state;
	ndiff_runs = ndiff_learned = ndiff_bad = 0;
	snprintf(path, sizeof(path), "%s/named-capture.fstrm", RV_TEST_DATA);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	size = ftell(fp);
	assert_true(size > 12);
	rewind(fp);
	len = (size_t)size;
	buf = malloc(len);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, len, fp), len);
	fclose(fp);
	off = 8 + be32(buf + 4);
	while (off + 4 <= len) {
		uint32_t flen = be32(buf + off);

		off += 4;
		if (flen == 0)
			break;
		assert_true(flen <= len - off);
		mutate_frame(buf + off, flen);
		off += flen;
		nframes++;
	}
	assert_int_equal(nframes, 12);
	free(buf);

	/* And frames packed here, with every optional field. */
	{
		struct frame f = make_frame(DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE,
					    client6, sizeof(client6), true);

		mutate_frame(f.buf, f.len);
		free(f.buf);
	}
	print_message("differential: %zu decodes, %zu learned, %zu bad protobuf\n",
		      ndiff_runs, ndiff_learned, ndiff_bad);
	assert_true(ndiff_learned > 1000);
}

/* Random bytes and random edits of valid frames (seeded: reproducible). */
static void test_differential_random(void **state)
{
	struct frame f = make_frame(DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE, client4,
				    sizeof(client4), true);
	uint32_t seed = 0x5eed;
	uint8_t b[512];

	(void)state;
	for (int i = 0, end = (int)rv_test_work(30000); i < end; i++) {
		size_t n = rnd(&seed) % 64;

		for (size_t j = 0; j < n; j++)
			b[j] = (uint8_t)rnd(&seed);
		/* Start with a plausible key half the time. */
		if (n > 0 && (i & 1))
			b[0] = 0x78;
		check_same(b, n);
	}
	for (int i = 0, end = (int)rv_test_work(30000); i < end; i++) {
		size_t n = f.len;

		memcpy(b, f.buf, n);
		for (int k = 0; k < 1 + (int)(rnd(&seed) % 6); k++) {
			size_t at = rnd(&seed) % n;

			switch (rnd(&seed) % 3) {
			case 0:
				b[at] = (uint8_t)rnd(&seed);
				break;
			case 1: /* delete a byte */
				memmove(b + at, b + at + 1, n - at - 1);
				n--;
				break;
			default: /* insert one */
				if (n < sizeof(b)) {
					memmove(b + at + 1, b + at, n - at);
					b[at] = (uint8_t)rnd(&seed);
					n++;
				}
			}
		}
		check_same(b, n);
	}
	free(f.buf);
}

/* Protobuf encoding by hand, for frames protobuf-c never writes: fields out
 * of number order, given twice, unknown ones between known ones. */
struct pbuf {
	uint8_t b[1024];
	size_t n;
};

static void pb_varint(struct pbuf *p, uint64_t v)
{
	do {
		assert_true(p->n < sizeof(p->b));
		p->b[p->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
}

static void pb_key(struct pbuf *p, unsigned num, unsigned wt)
{
	pb_varint(p, (uint64_t)num << 3 | wt);
}

static void pb_bytes(struct pbuf *p, unsigned num, const void *data, size_t len)
{
	pb_key(p, num, 2);
	pb_varint(p, len);
	assert_true(len <= sizeof(p->b) - p->n);
	memcpy(p->b + p->n, data, len);
	p->n += len;
}

static void pb_fixed32(struct pbuf *p, unsigned num, uint32_t v)
{
	pb_key(p, num, 5);
	assert_true(sizeof(p->b) - p->n >= 4);
	for (int i = 0; i < 4; i++)
		p->b[p->n++] = (uint8_t)(v >> (8 * i));
}

/*
 * The reader takes fields in number order first, one compare each, and then
 * whatever is left field by field. Frames that leave that order (shuffled,
 * repeated, unknown fields, a Message given twice) must still decode exactly
 * as protobuf-c decodes them, and the later of two values must win.
 */
static void test_field_order(void **state)
{
	size_t la = 0, lb = 0;
	uint8_t *dns_a = dns_wire("a.example.com. IN A", "a.example.com. 300 IN A 192.0.2.1",
				  LDNS_RCODE_NOERROR, &la);
	uint8_t *dns_b = dns_wire("b.example.com. IN A", "b.example.com. 300 IN A 192.0.2.2",
				  LDNS_RCODE_NOERROR, &lb);
	uint32_t seed = 0x0dde;
	size_t nlearned = 0;
	enum { NCHUNK = 16 };

	(void)state;
	for (int round = 0, end = (int)rv_test_work(20000); round < end; round++) {
		struct pbuf chunk[NCHUNK], msg = {.n = 0}, top = {.n = 0}, one;
		unsigned order[2 * NCHUNK], n = 0;
		bool v6 = rnd(&seed) & 1;

		/* Every Message field once, some with two possible values. */
		for (unsigned i = 0; i < NCHUNK; i++)
			chunk[i].n = 0;
		pb_key(&chunk[0], 1, 0), pb_varint(&chunk[0], 6);        /* type */
		pb_key(&chunk[1], 2, 0), pb_varint(&chunk[1], 1);        /* family */
		pb_key(&chunk[2], 3, 0), pb_varint(&chunk[2], 1 + rnd(&seed) % 2);
		pb_bytes(&chunk[3], 4, v6 ? client6 : client4, v6 ? sizeof(client6) : sizeof(client4));
		pb_bytes(&chunk[4], 5, server4, sizeof(server4));
		pb_key(&chunk[5], 6, 0), pb_varint(&chunk[5], 40000 + rnd(&seed) % 100);
		pb_key(&chunk[6], 7, 0), pb_varint(&chunk[6], rnd(&seed) % 2 ? 53 : 70000);
		pb_key(&chunk[7], 8, 0), pb_varint(&chunk[7], 1700000000);
		pb_fixed32(&chunk[8], 9, rnd(&seed));
		pb_bytes(&chunk[9], 10, dns_a, la);                      /* query_message */
		pb_key(&chunk[10], 12, 0), pb_varint(&chunk[10], 1700000000 + rnd(&seed) % 1000);
		pb_fixed32(&chunk[11], 13, rnd(&seed) % 1000000000u);
		pb_bytes(&chunk[12], 14, rnd(&seed) & 1 ? dns_a : dns_b, rnd(&seed) & 1 ? la : lb);
		pb_key(&chunk[13], 16, 0), pb_varint(&chunk[13], 1);     /* http_protocol */
		pb_key(&chunk[14], 20, 0), pb_varint(&chunk[14], 7);     /* unknown */
		pb_bytes(&chunk[15], 11, "\7example\3com", 13);        /* query_zone */

		/* A random sequence: each chunk 0..2 times, in random order. */
		for (unsigned i = 0; i < NCHUNK; i++)
			for (unsigned k = rnd(&seed) % 3 + (i == 0); k > 0 && n < 2 * NCHUNK; k--)
				order[n++] = i;
		for (unsigned i = n; i > 1; i--) {
			unsigned j = rnd(&seed) % i, t = order[i - 1];

			order[i - 1] = order[j];
			order[j] = t;
		}
		for (unsigned i = 0; i < n; i++) {
			assert_true(chunk[order[i]].n <= sizeof(msg.b) - msg.n);
			memcpy(msg.b + msg.n, chunk[order[i]].b, chunk[order[i]].n);
			msg.n += chunk[order[i]].n;
		}

		/* The Dnstap around it: identity, version, the Message (once or
		 * split in two), type, in one of several orders. */
		switch (rnd(&seed) % 4) {
		case 0: /* number order, as packers write it */
			pb_bytes(&top, 1, "ns1", 3);
			pb_bytes(&top, 2, "bind9", 5);
			pb_bytes(&top, 14, msg.b, msg.n);
			pb_key(&top, 15, 0), pb_varint(&top, 1);
			break;
		case 1: /* type first, version after the message */
			pb_key(&top, 15, 0), pb_varint(&top, 1);
			pb_bytes(&top, 14, msg.b, msg.n);
			pb_bytes(&top, 2, "bind9", 5);
			pb_bytes(&top, 1, "ns1", 3);
			pb_bytes(&top, 1, "ns2", 3);
			break;
		case 2: { /* the Message in two parts: protobuf-c merges them */
			size_t cut = 0;

			for (unsigned i = 0; i < n / 2; i++)
				cut += chunk[order[i]].n;
			one.n = 0;
			pb_bytes(&one, 14, msg.b, cut);
			pb_bytes(&one, 14, msg.b + cut, msg.n - cut);
			pb_bytes(&top, 1, "ns1", 3);
			memcpy(top.b + top.n, one.b, one.n);
			top.n += one.n;
			pb_key(&top, 15, 0), pb_varint(&top, 1);
			break;
		}
		default: /* extra, and an unknown top-level field */
			pb_bytes(&top, 3, "x", 1);
			pb_bytes(&top, 14, msg.b, msg.n);
			pb_key(&top, 9, 0), pb_varint(&top, 5);
			pb_key(&top, 15, 0), pb_varint(&top, 1);
			break;
		}
		if (check_same(top.b, top.n) == 0)
			nlearned++;
	}
	/* The later of two response messages is the one read. */
	{
		struct pbuf msg = {.n = 0}, top = {.n = 0};
		rv_observation obs;
		rv_verdict why;

		pb_bytes(&msg, 14, dns_a, la);
		pb_key(&msg, 1, 0), pb_varint(&msg, 6);
		pb_bytes(&msg, 14, dns_b, lb);
		pb_key(&top, 15, 0), pb_varint(&top, 1);
		pb_bytes(&top, 14, msg.b, msg.n);
		assert_int_equal(rv_dnstap_decode(top.b, top.n, DEPTH, &obs, &why), 0);
		assert_string_equal(obs.answer.qname, "b.example.com");
		assert_int_equal(check_same(top.b, top.n), 0);
	}
	print_message("field order: %zu learned\n", nlearned);
	assert_true(nlearned > 100);
	free(dns_a);
	free(dns_b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_response),
		cmocka_unit_test(test_auth_response),
		cmocka_unit_test(test_ipv6_client),
		cmocka_unit_test(test_odd_client_address),
		cmocka_unit_test(test_skipped_types),
		cmocka_unit_test(test_no_message),
		cmocka_unit_test(test_no_response_message),
		cmocka_unit_test(test_bad_dns_inside),
		cmocka_unit_test(test_dns_verdict_passes_through),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_truncated_every_length),
		cmocka_unit_test(test_large_frame),
		cmocka_unit_test(test_named_capture),
		cmocka_unit_test(test_differential_corpus),
		cmocka_unit_test(test_differential_capture),
		cmocka_unit_test(test_differential_random),
		cmocka_unit_test(test_field_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
