/*
 * Unit tests for tsig.c. What our signatures are checked against:
 *  - ldns (an independent TSIG implementation) for the algorithms it knows
 *    (hmac-md5, -sha1, -sha256, -sha512), both ways;
 *  - for all six, libcrypto's one-shot HMAC() over the RFC 8945 4.3.3 input
 *    assembled here byte by byte;
 *  - real zone transfers from named (tests/data/axfr/, one per algorithm):
 *    the query there was signed by Python's hmac module and accepted by named,
 *    our signer must produce it byte for byte; every reply message named signed
 *    must verify, and no tampered one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <ldns/ldns.h>
#include <openssl/evp.h>

#include "rv_test.h"
#include <openssl/hmac.h>

#include "dnswire.h"
#include "tsig.h"

static const char *const all_algs[] = {
	"hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512",
};
static const char *const digests[] = { "MD5", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512" };
static const bool ldns_knows[] = { true, true, false, true, false, true };

#define SECRET "fiLFPrTAww06rSgrthCfsEeeb0QkZHfJsa+gzOXq4Ok="
#define NOW ((int64_t)1700000000)

static rv_tsig_key mk_key(const char *alg, const char *name, const char *secret)
{
	rv_tsig_key k;
	memset(&k, 0, sizeof(k));
	const char *canon = rv_tsig_algorithm(alg);
	assert_non_null(canon);
	snprintf(k.algorithm, sizeof(k.algorithm), "%s", canon);
	snprintf(k.name, sizeof(k.name), "%s", name);
	snprintf(k.secret, sizeof(k.secret), "%s", secret);
	return k;
}

/* A query for example. SOA (or, with qr, its reply) with ID id. */
static size_t mk_msg(uint8_t *m, uint16_t id, bool qr)
{
	static const uint8_t q[] = { 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 6, 0, 1 };
	memset(m, 0, 12);
	rv_put16(m, id);
	rv_put16(m + 2, qr ? 0x8400 : 0);
	rv_put16(m + 4, 1);
	memcpy(m + 12, q, sizeof(q));
	return 12 + sizeof(q);
}

static void test_algorithm_names(void **state)
{
	(void)state;
	assert_string_equal(rv_tsig_algorithm("hmac-sha256"), "hmac-sha256.");
	assert_string_equal(rv_tsig_algorithm("HMAC-SHA384."), "hmac-sha384.");
	assert_string_equal(rv_tsig_algorithm("Hmac-Sha224"), "hmac-sha224.");
	assert_string_equal(rv_tsig_algorithm("hmac-md5"), "hmac-md5.sig-alg.reg.int.");
	assert_string_equal(rv_tsig_algorithm("HMAC-MD5.SIG-ALG.REG.INT"),
			"hmac-md5.sig-alg.reg.int.");
	assert_null(rv_tsig_algorithm("hmac-sha3-256"));
	assert_null(rv_tsig_algorithm("gss-tsig"));
	assert_null(rv_tsig_algorithm(""));
	assert_null(rv_tsig_algorithm("hmac-sha256.."));
}

static void test_init(void **state)
{
	rv_tsig t;
	rv_tsig_key k;

	(void)state;
	for (size_t i = 0; i < RV_ARRAY_LEN(all_algs); i++) {
		k = mk_key(all_algs[i], "Rearview-Key.", SECRET);
		assert_int_equal(rv_tsig_init(&t, &k), 0);
		assert_int_equal(t.secret_len, 32);
		assert_int_equal(t.name_len, 14);
		assert_memory_equal(t.name, "\014rearview-key", 13);   /* canonical: lower case */
		rv_tsig_clear(&t);
	}
	k = mk_key("hmac-sha256", "k.", SECRET);
	snprintf(k.algorithm, sizeof(k.algorithm), "gss-tsig.");
	assert_int_equal(rv_tsig_init(&t, &k), -EINVAL);
	k = mk_key("hmac-sha256", "k.", "");
	assert_int_equal(rv_tsig_init(&t, &k), -EINVAL);
	k = mk_key("hmac-sha256", "k.", "AAA");
	assert_int_equal(rv_tsig_init(&t, &k), -EINVAL);
	k = mk_key("hmac-sha256", "k.", "A*AA");
	assert_int_equal(rv_tsig_init(&t, &k), -EINVAL);
	k = mk_key("hmac-sha256", "a..b.", SECRET);
	assert_int_equal(rv_tsig_init(&t, &k), -EINVAL);
	k = mk_key("hmac-sha256", ".", SECRET);
	assert_int_equal(rv_tsig_init(&t, &k), -EINVAL);
	/* the algorithm compares case-insensitively */
	k = mk_key("hmac-sha256", "k.", SECRET);
	snprintf(k.algorithm, sizeof(k.algorithm), "HMAC-SHA256.");
	assert_int_equal(rv_tsig_init(&t, &k), 0);
	assert_int_equal(t.mac_len, 32);
}

/* The MAC a signed request must carry, computed here from RFC 8945 4.3.3 with
 * libcrypto's one-shot HMAC(). */
static void independent_mac(size_t alg, const rv_tsig_key *k, const uint8_t *msg, size_t len,
		int64_t now, uint8_t *mac, unsigned *mac_len)
{
	uint8_t buf[1024], secret[64];
	size_t n = 0;
	ldns_rdf *name = ldns_dname_new_frm_str(k->name), *an = ldns_dname_new_frm_str(k->algorithm);
	assert_non_null(name);
	assert_non_null(an);
	ldns_dname2canonical(name);
	memcpy(buf, msg, len);
	n = len;
	memcpy(buf + n, ldns_rdf_data(name), ldns_rdf_size(name));
	n += ldns_rdf_size(name);
	rv_put16(buf + n, 255);                     /* class ANY */
	rv_put32(buf + n + 2, 0);                   /* TTL */
	n += 6;
	memcpy(buf + n, ldns_rdf_data(an), ldns_rdf_size(an));
	n += ldns_rdf_size(an);
	rv_put16(buf + n, 0);                       /* time signed, 48 bits */
	rv_put32(buf + n + 2, (uint32_t)now);
	rv_put16(buf + n + 6, 300);                 /* fudge */
	rv_put16(buf + n + 8, 0);                   /* error */
	rv_put16(buf + n + 10, 0);                  /* other len */
	n += 12;
	int sl = EVP_DecodeBlock(secret, (const unsigned char *)k->secret, (int)strlen(k->secret));
	assert_int_equal(sl, 33);                   /* 32 + one '=' decoded as 0 */
	assert_non_null(HMAC(EVP_get_digestbyname(digests[alg]), secret, 32, buf, n, mac, mac_len));
	ldns_rdf_deep_free(name);
	ldns_rdf_deep_free(an);
}

/* Our signed requests: exactly the MAC RFC 8945 prescribes (all algorithms),
 * and ldns verifies them (the ones it knows). */
static void test_sign_request(void **state)
{
	(void)state;
	for (size_t i = 0; i < RV_ARRAY_LEN(all_algs); i++) {
		rv_tsig_key k = mk_key(all_algs[i], "rearview-key.", SECRET);
		rv_tsig t;
		uint8_t m[512], mac[RV_TSIG_MAC_MAX], want[EVP_MAX_MD_SIZE];
		unsigned want_len = 0;
		assert_int_equal(rv_tsig_init(&t, &k), 0);
		size_t len = mk_msg(m, 0xbeef, false), plain = len;
		independent_mac(i, &k, m, len, NOW, want, &want_len);
		/* no room: nothing written */
		assert_int_equal(rv_tsig_sign(&t, NULL, 0, m, &len, plain + rv_tsig_rr_len(&t) - 1,
				NOW, mac), -EMSGSIZE);
		assert_int_equal(len, plain);
		assert_int_equal(rv_tsig_sign(&t, NULL, 0, m, &len, sizeof(m), NOW, mac), 0);
		assert_int_equal(len, plain + rv_tsig_rr_len(&t));
		assert_int_equal(want_len, t.mac_len);
		assert_memory_equal(mac, want, want_len);
		rv_dns_msg s;
		char err[128];
		assert_int_equal(rv_dnswire_scan(m, len, &s, err, sizeof(err)), 0);
		assert_true(s.has_tsig);
		assert_int_equal(s.ar, 1);
		assert_int_equal(s.tsig.orig_id, 0xbeef);
		assert_int_equal(s.tsig.rr_class, 255);
		assert_int_equal(s.tsig.mac_len, want_len);
		assert_memory_equal(s.tsig.mac, want, want_len);
		if (ldns_knows[i]) {
			ldns_pkt *p = NULL;
			assert_int_equal(ldns_wire2pkt(&p, m, len), LDNS_STATUS_OK);
			/* ldns checks the time against its own clock: sign now for it */
			len = plain;
			rv_put16(m + 10, 0);
			assert_int_equal(rv_tsig_sign(&t, NULL, 0, m, &len, sizeof(m), time(NULL), mac), 0);
			ldns_pkt_free(p);
			assert_int_equal(ldns_wire2pkt(&p, m, len), LDNS_STATUS_OK);
			assert_true(ldns_pkt_tsig_verify(p, m, len, k.name, k.secret, NULL));
			assert_false(ldns_pkt_tsig_verify(p, m, len, k.name,
					"AAAAPrTAww06rSgrthCfsEeeb0QkZHfJsa+gzOXq4Ok=", NULL));
			ldns_pkt_free(p);
		}
		rv_tsig_clear(&t);
	}
}

/* A secret longer than the HMAC block is hashed once at init (RFC 2104 2):
 * the MAC is the one ldns computes from the whole secret. */
static void test_long_secret(void **state)
{
	char b64[400];
	uint8_t raw[200];

	(void)state;
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 7 + 1);
	EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw));
	static const char *const algs[] = { "hmac-sha256", "hmac-sha512" };
	for (size_t a = 0; a < 2; a++) {
		rv_tsig_key k = mk_key(algs[a], "long-key.", b64);
		rv_tsig t;
		uint8_t m[512], mac[RV_TSIG_MAC_MAX];
		assert_int_equal(rv_tsig_init(&t, &k), 0);
		assert_true(t.secret_len <= RV_TSIG_SECRET_MAX);
		size_t len = mk_msg(m, 1, false);
		assert_int_equal(rv_tsig_sign(&t, NULL, 0, m, &len, sizeof(m), time(NULL), mac), 0);
		ldns_pkt *p = NULL;
		assert_int_equal(ldns_wire2pkt(&p, m, len), LDNS_STATUS_OK);
		assert_true(ldns_pkt_tsig_verify(p, m, len, k.name, k.secret, NULL));
		ldns_pkt_free(p);
	}
}

/* Signs a reply to a request whose MAC is req_mac, with ldns. */
static size_t ldns_reply(const rv_tsig_key *k, uint16_t id, const uint8_t *req_mac,
		size_t req_mac_len, uint8_t *out)
{
	ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str("example."), LDNS_RR_TYPE_SOA,
			LDNS_RR_CLASS_IN, 0);
	uint8_t *w = NULL, rm[2 + RV_TSIG_MAC_MAX];
	size_t len;

	ldns_pkt_set_id(p, id);
	ldns_pkt_set_qr(p, true);
	rv_put16(rm, (unsigned)req_mac_len);
	memcpy(rm + 2, req_mac, req_mac_len);
	ldns_rdf *mac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, req_mac_len + 2, rm);
	assert_int_equal(ldns_pkt_tsig_sign(p, k->name, k->secret, 300, k->algorithm, mac),
			LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt2wire(&w, p, &len), LDNS_STATUS_OK);
	memcpy(out, w, len);
	free(w);
	ldns_rdf_deep_free(mac);
	ldns_pkt_free(p);
	return len;
}

static int check(const rv_tsig *t, uint16_t id, const uint8_t *req_mac, size_t req_mac_len,
		const uint8_t *w, size_t len, int64_t now, char *err, size_t errlen)
{
	rv_tsig_reply r;
	rv_dns_msg m;
	/* The message ID is the caller's check (RFC 8945 4.3.2: the MAC covers
	 * the Original ID), as rpz.c and reconcile.c make it. */
	if (rv_dnswire_scan(w, len, &m, err, errlen) < 0 || m.id != id)
		return -EBADMSG;
	rv_tsig_reply_init(&r, t, id, req_mac, req_mac_len);
	int rc = rv_tsig_reply_check(&r, w, len, &m, now, "reply", err, errlen);
	rv_tsig_reply_clear(&r);
	return rc;
}

/* Replies signed by ldns verify with ours; the wrong key, another key's name,
 * another algorithm, a changed request MAC, any flipped bit do not. */
static void test_verify_reply(void **state)
{
	char err[256];

	(void)state;
	for (size_t i = 0; i < RV_ARRAY_LEN(all_algs); i++) {
		if (!ldns_knows[i])
			continue;
		rv_tsig_key k = mk_key(all_algs[i], "rearview-key.", SECRET);
		rv_tsig t;
		uint8_t q[512], mac[RV_TSIG_MAC_MAX], w[1024];
		assert_int_equal(rv_tsig_init(&t, &k), 0);
		size_t ql = mk_msg(q, 0x4242, false);
		assert_int_equal(rv_tsig_sign(&t, NULL, 0, q, &ql, sizeof(q), time(NULL), mac), 0);
		size_t len = ldns_reply(&k, 0x4242, mac, t.mac_len, w);
		int64_t now = time(NULL);
		assert_int_equal(check(&t, 0x4242, mac, t.mac_len, w, len, now, err, sizeof(err)), 0);
		/* the time: within the fudge both ways, not beyond */
		assert_int_equal(check(&t, 0x4242, mac, t.mac_len, w, len, now + 290, err,
				sizeof(err)), 0);
		assert_int_equal(check(&t, 0x4242, mac, t.mac_len, w, len, now - 290, err,
				sizeof(err)), 0);
		assert_int_equal(check(&t, 0x4242, mac, t.mac_len, w, len, now + 400, err,
				sizeof(err)), -EACCES);
		assert_non_null(strstr(err, "reply TSIG time off by"));
		/* another request MAC, another Original ID */
		uint8_t other[RV_TSIG_MAC_MAX];
		memcpy(other, mac, t.mac_len);
		other[0] ^= 1;
		assert_int_equal(check(&t, 0x4242, other, t.mac_len, w, len, now, err, sizeof(err)),
				-EACCES);
		assert_string_equal(err, "reply TSIG does not verify");
		rv_dns_msg sm;
		assert_int_equal(rv_dnswire_scan(w, len, &sm, err, sizeof(err)), 0);
		size_t oid = (size_t)(sm.tsig.mac - w) + t.mac_len;
		rv_put16(w + oid, 0x4243);
		assert_int_equal(check(&t, 0x4242, mac, t.mac_len, w, len, now, err, sizeof(err)),
				-EACCES);
		assert_string_equal(err, "reply TSIG is for another key or malformed");
		rv_put16(w + oid, 0x4242);
		/* the wrong secret */
		rv_tsig_key wk = mk_key(all_algs[i], "rearview-key.",
				"AAAAPrTAww06rSgrthCfsEeeb0QkZHfJsa+gzOXq4Ok=");
		size_t wl = ldns_reply(&wk, 0x4242, mac, t.mac_len, w);
		assert_int_equal(check(&t, 0x4242, mac, t.mac_len, w, wl, now, err, sizeof(err)),
				-EACCES);
		assert_string_equal(err, "reply TSIG does not verify");
		/* another key name; another algorithm */
		wk = mk_key(all_algs[i], "stranger.", SECRET);
		wl = ldns_reply(&wk, 0x4242, mac, t.mac_len, w);
		assert_int_equal(check(&t, 0x4242, mac, t.mac_len, w, wl, now, err, sizeof(err)),
				-EACCES);
		assert_string_equal(err, "reply TSIG is for another key or malformed");
		wk = mk_key(i == 3 ? "hmac-sha512" : "hmac-sha256", "rearview-key.", SECRET);
		wl = ldns_reply(&wk, 0x4242, mac, t.mac_len, w);
		assert_int_equal(check(&t, 0x4242, mac, t.mac_len, w, wl, now, err, sizeof(err)),
				-EACCES);
		/* every flipped bit: never accepted, except letter case in the names */
		len = ldns_reply(&k, 0x4242, mac, t.mac_len, w);
		for (size_t b = 0; b < len * 8; b++) {
			w[b / 8] ^= (uint8_t)(1u << (b % 8));
			int rc = check(&t, 0x4242, mac, t.mac_len, w, len, now, err, sizeof(err));
			w[b / 8] ^= (uint8_t)(1u << (b % 8));
			uint8_t c = w[b / 8] | 0x20;
			bool case_flip = b % 8 == 5 && c >= 'a' && c <= 'z' && b / 8 > 12 + 13;
			if (rc == 0 && !case_flip)
				fail_msg("%s: bit %zu flipped: accepted", all_algs[i], b);
		}
		/* every truncation: never accepted */
		for (size_t l = 0; l < len; l++)
			assert_true(check(&t, 0x4242, mac, t.mac_len, w, l, now, err, sizeof(err)) < 0);
		rv_tsig_clear(&t);
	}
}

/* Names compare case-insensitively and are digested in canonical form: a
 * reply that spells key and algorithm in capitals still verifies. A truncated
 * MAC (RFC 8945 5.2.2.1) is refused. TSIG errors are named. Our own signer
 * covers responses too (a request MAC as prior). */
static void test_case_truncation_errors(void **state)
{
	char err[256];
	uint8_t q[512], w[1024], mac[RV_TSIG_MAC_MAX], rmac[RV_TSIG_MAC_MAX];
	rv_tsig t;
	rv_dns_msg m;

	(void)state;
	for (size_t i = 0; i < RV_ARRAY_LEN(all_algs); i++) {
		rv_tsig_key k = mk_key(all_algs[i], "rearview-key.", SECRET);
		assert_int_equal(rv_tsig_init(&t, &k), 0);
		size_t ql = mk_msg(q, 7, false);
		assert_int_equal(rv_tsig_sign(&t, NULL, 0, q, &ql, sizeof(q), NOW, mac), 0);
		size_t len = mk_msg(w, 7, true);
		assert_int_equal(rv_tsig_sign(&t, mac, t.mac_len, w, &len, sizeof(w), NOW, rmac), 0);
		assert_int_equal(check(&t, 7, mac, t.mac_len, w, len, NOW, err, sizeof(err)), 0);
		/* capitals in the RR's key and algorithm names */
		assert_int_equal(rv_dnswire_scan(w, len, &m, err, sizeof(err)), 0);
		size_t an = m.tsig.off + t.name_len + RV_DNS_RR_FIXED;
		for (size_t o = m.tsig.off; o < an + t.alg_len; o++)
			if ((o < m.tsig.off + t.name_len || o >= an) && w[o] >= 'a' && w[o] <= 'z')
				w[o] &= 0xdf;
		assert_int_equal(check(&t, 7, mac, t.mac_len, w, len, NOW, err, sizeof(err)), 0);
		/* a truncated MAC: keep half of it, fix MAC size and RDLENGTH */
		assert_int_equal(rv_dnswire_scan(w, len, &m, err, sizeof(err)), 0);
		size_t mo = (size_t)(m.tsig.mac - w), half = t.mac_len / 2;
		rv_put16(w + mo - 2, (unsigned)half);
		memmove(w + mo + half, w + mo + t.mac_len, len - mo - t.mac_len);
		size_t rdl = m.tsig.off + t.name_len + 8;
		rv_put16(w + rdl, rv_get16(w + rdl) - (unsigned)half);
		assert_int_equal(check(&t, 7, mac, t.mac_len, w, len - half, NOW, err, sizeof(err)),
				-EACCES);
		char want[64];
		snprintf(want, sizeof(want), "reply TSIG has a %zu-byte MAC (want %zu)", half,
				t.mac_len);
		assert_string_equal(err, want);
		rv_tsig_clear(&t);
	}
	/* TSIG errors, as BIND sends them: NOTAUTH, the error set, an empty MAC */
	rv_tsig_key k = mk_key("hmac-sha256", "rearview-key.", SECRET);
	assert_int_equal(rv_tsig_init(&t, &k), 0);
	static const struct { uint16_t e; const char *msg; } terr[] = {
		{ 16, "TSIG error BADSIG" }, { 17, "TSIG error BADKEY" },
		{ 18, "TSIG error BADTIME" }, { 22, "TSIG error BADTRUNC" }, { 99, "TSIG error 99" },
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(terr); i++) {
		size_t len = mk_msg(w, 7, true);
		assert_int_equal(rv_tsig_sign(&t, mac, t.mac_len, w, &len, sizeof(w), NOW, rmac), 0);
		assert_int_equal(rv_dnswire_scan(w, len, &m, err, sizeof(err)), 0);
		size_t eo = (size_t)(m.tsig.mac - w) + t.mac_len + 2;
		rv_put16(w + eo, terr[i].e);
		assert_int_equal(check(&t, 7, mac, t.mac_len, w, len, NOW, err, sizeof(err)), -EACCES);
		assert_string_equal(err, terr[i].msg);
	}
	/* an unsigned reply to a signed request */
	size_t len = mk_msg(w, 7, true);
	assert_int_equal(check(&t, 7, mac, t.mac_len, w, len, NOW, err, sizeof(err)), -EACCES);
	assert_string_equal(err, "reply not signed");
	rv_tsig_clear(&t);
}

/* RFC 8945 5.3.1: after a verified message, up to 99 unsigned ones may follow,
 * covered by the next signed one; not 100. */
static void test_unsigned_run(void **state)
{
	char err[256];
	uint8_t q[512], w[1024], u[64], mac[RV_TSIG_MAC_MAX];
	rv_tsig t;
	rv_tsig_reply r;
	rv_dns_msg m;
	rv_tsig_key k = mk_key("hmac-sha256", "rearview-key.", SECRET);

	(void)state;
	assert_int_equal(rv_tsig_init(&t, &k), 0);
	size_t ql = mk_msg(q, 9, false);
	assert_int_equal(rv_tsig_sign(&t, NULL, 0, q, &ql, sizeof(q), time(NULL), mac), 0);
	size_t len = ldns_reply(&k, 9, mac, t.mac_len, w);
	size_t ul = mk_msg(u, 9, true);
	rv_tsig_reply_init(&r, &t, 9, mac, t.mac_len);
	/* the first message must be signed */
	assert_int_equal(rv_dnswire_scan(u, ul, &m, err, sizeof(err)), 0);
	assert_int_equal(rv_tsig_reply_check(&r, u, ul, &m, time(NULL), "message 1", err,
			sizeof(err)), -EACCES);
	assert_string_equal(err, "message 1 not signed");
	assert_int_equal(rv_dnswire_scan(w, len, &m, err, sizeof(err)), 0);
	assert_int_equal(rv_tsig_reply_check(&r, w, len, &m, time(NULL), "message 1", err,
			sizeof(err)), 0);
	assert_int_equal(rv_dnswire_scan(u, ul, &m, err, sizeof(err)), 0);
	for (int i = 0; i < RV_TSIG_UNSIGNED_MAX; i++)
		assert_int_equal(rv_tsig_reply_check(&r, u, ul, &m, time(NULL), "message", err,
				sizeof(err)), RV_TSIG_HELD);
	assert_int_equal(rv_tsig_reply_check(&r, u, ul, &m, time(NULL), "message", err,
			sizeof(err)), -EACCES);
	assert_string_equal(err, "more than 99 unsigned messages in a row");
	rv_tsig_reply_clear(&r);
	rv_tsig_clear(&t);
}

/* ---- real transfers from named (tests/data/axfr/) ---- */

struct capture {
	uint8_t data[65536];
	size_t len;
	size_t off[64], mlen[64];   /* message i at data + off[i]; 0 is the query */
	size_t n;
};

static void load_capture(const char *alg, struct capture *c, rv_tsig_key *k)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/axfr/%s.key", RV_TEST_DATA, alg);
	assert_int_equal(rv_test_key_file(path, k), 0);
	snprintf(path, sizeof(path), "%s/axfr/%s.axfr", RV_TEST_DATA, alg);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	c->len = fread(c->data, 1, sizeof(c->data), f);
	fclose(f);
	c->n = 0;
	for (size_t o = 0; o + 2 <= c->len; ) {
		size_t l = rv_get16(c->data + o);
		assert_true(o + 2 + l <= c->len && c->n < 64);
		c->off[c->n] = o + 2;
		c->mlen[c->n++] = l;
		o += 2 + l;
	}
	assert_true(c->n >= 3);    /* the query and a transfer of several messages */
}

static int64_t signed_at(const rv_dns_msg *m)
{
	return (int64_t)rv_get16(m->tsig.timers) << 32 | rv_get32(m->tsig.timers + 2);
}

static void test_named_vectors(void **state)
{
	static struct capture c;
	char err[256];
	rv_dns_msg m;

	(void)state;
	for (size_t i = 0; i < RV_ARRAY_LEN(all_algs); i++) {
		rv_tsig_key k;
		rv_tsig t;
		load_capture(all_algs[i], &c, &k);
		assert_int_equal(rv_tsig_init(&t, &k), 0);
		/* The query (signed by Python's hmac, accepted by named): ours is the
		 * same, byte for byte, at the same ID and time. */
		const uint8_t *qw = c.data + c.off[0];
		assert_int_equal(rv_dnswire_scan(qw, c.mlen[0], &m, err, sizeof(err)), 0);
		assert_true(m.has_tsig);
		uint8_t q[512], mac[RV_TSIG_MAC_MAX];
		size_t ql = m.tsig.off;
		memcpy(q, qw, ql);
		rv_put16(q + 10, 0);
		assert_int_equal(rv_tsig_sign(&t, NULL, 0, q, &ql, sizeof(q), signed_at(&m), mac), 0);
		assert_int_equal(ql, c.mlen[0]);
		assert_memory_equal(q, qw, ql);
		/* Every reply message verifies in turn (named signs each one). */
		rv_tsig_reply r;
		rv_tsig_reply_init(&r, &t, m.id, mac, t.mac_len);
		for (size_t j = 1; j < c.n; j++) {
			const uint8_t *w = c.data + c.off[j];
			rv_dns_msg rm;
			assert_int_equal(rv_dnswire_scan(w, c.mlen[j], &rm, err, sizeof(err)), 0);
			int rc = rv_tsig_reply_check(&r, w, c.mlen[j], &rm,
					rm.has_tsig ? signed_at(&rm) : 0, "message", err, sizeof(err));
			if (rc != 0 && rc != RV_TSIG_HELD)
				fail_msg("%s message %zu: %s", all_algs[i], j, err);
			assert_true(j + 1 < c.n || rc == 0);
		}
		rv_tsig_reply_clear(&r);
		/* The same with one octet of the second message changed: that
		 * message or a later one fails, never all of them pass. */
		c.data[c.off[2] + c.mlen[2] / 2] ^= 0x40;
		rv_tsig_reply_init(&r, &t, m.id, mac, t.mac_len);
		int bad = 0;
		for (size_t j = 1; j < c.n && bad == 0; j++) {
			const uint8_t *w = c.data + c.off[j];
			rv_dns_msg rm;
			if (rv_dnswire_scan(w, c.mlen[j], &rm, err, sizeof(err)) < 0)
				bad = -EBADMSG;
			else if (rv_tsig_reply_check(&r, w, c.mlen[j], &rm, rm.has_tsig ? signed_at(&rm)
					: 0, "message", err, sizeof(err)) < 0)
				bad = -EACCES;
		}
		assert_true(bad < 0);
		rv_tsig_reply_clear(&r);
		rv_tsig_clear(&t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_algorithm_names),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_sign_request),
		cmocka_unit_test(test_long_secret),
		cmocka_unit_test(test_verify_reply),
		cmocka_unit_test(test_case_truncation_errors),
		cmocka_unit_test(test_unsigned_run),
		cmocka_unit_test(test_named_vectors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
