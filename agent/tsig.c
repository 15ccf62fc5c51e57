/*
 * tsig.c - TSIG signing and verification (RFC 8945) over libcrypto's HMAC
 * (EVP_MAC), for the UPDATE writer and the AXFR reconcile alike.
 *
 * The MAC is computed as a stream (EVP_MAC_update per piece): the message, the
 * TSIG variables and, in a zone transfer, the previous MAC and the unsigned
 * messages since need not lie in one buffer.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "tsig.h"

/* RFC 8945 6 ("TSIG Algorithm Names" registry): the HMACs. */
static const struct {
	const char *name;     /* canonical, absolute */
	const char *alias;    /* BIND's short spelling, NULL if the same without the dot */
	const char *digest;   /* libcrypto's name of the hash */
	size_t block;         /* the hash's block size (RFC 2104 B) */
} algorithms[] = {
	{ "hmac-md5.sig-alg.reg.int.", "hmac-md5", "MD5", 64 },
	{ "hmac-sha1.", NULL, "SHA1", 64 },
	{ "hmac-sha224.", NULL, "SHA224", 64 },
	{ "hmac-sha256.", NULL, "SHA256", 64 },
	{ "hmac-sha384.", NULL, "SHA384", 128 },
	{ "hmac-sha512.", NULL, "SHA512", 128 },
};

_Static_assert(RV_TSIG_SECRET_MAX >= 128, "a secret must hold the largest HMAC block");
_Static_assert(RV_TSIG_MAC_MAX == EVP_MAX_MD_SIZE, "RV_TSIG_MAC_MAX is libcrypto's largest digest");

/* Index of name in algorithms[], or -1. Case-insensitive, trailing dot optional. */
static int alg_index(const char *name)
{
	size_t len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < RV_ARRAY_LEN(algorithms); i++) {
		const char *c = algorithms[i].name;
		if ((strlen(c) - 1 == len && strncasecmp(name, c, len) == 0) ||
		    (algorithms[i].alias != NULL && strlen(algorithms[i].alias) == len &&
		     strncasecmp(name, algorithms[i].alias, len) == 0))
			return (int)i;
	}
	return -1;
}

const char *rv_tsig_algorithm(const char *name)
{
	int i = alg_index(name);
	return i < 0 ? NULL : algorithms[i].name;
}

int rv_tsig_init(rv_tsig *t, const rv_tsig_key *k)
{
	uint8_t raw[sizeof(k->secret) / 4 * 3];
	size_t sl = strnlen(k->secret, sizeof(k->secret));
	int ret = -EINVAL;

	memset(t, 0, sizeof(*t));
	int a = alg_index(k->algorithm);
	if (a < 0 || sl == 0 || sl % 4 != 0 || sl >= sizeof(k->secret))
		goto out;
	t->alg = (unsigned)a;
	size_t nl = strnlen(k->name, sizeof(k->name));
	if (nl >= sizeof(k->name) ||
	    rv_dname_from_text(k->name, nl, RV_DNAME_LOWER, t->name, &t->name_len, NULL) < 0 ||
	    t->name_len < 2 ||
	    rv_dname_from_text(algorithms[a].name, strlen(algorithms[a].name), RV_DNAME_LOWER,
			t->alg_name, &t->alg_len, NULL) < 0)
		goto out;
	const EVP_MD *md = EVP_get_digestbyname(algorithms[a].digest);
	int ms = md != NULL ? EVP_MD_get_size(md) : -1;
	if (ms <= 0 || ms > RV_TSIG_MAC_MAX)
		goto out;
	t->mac_len = (size_t)ms;
	/* tsig_key.c accepted only strict base64; EVP_DecodeBlock writes the '='
	 * padding as zero octets, which are dropped. */
	int n = EVP_DecodeBlock(raw, (const unsigned char *)k->secret, (int)sl);
	size_t pad = k->secret[sl - 1] == '=' ? (k->secret[sl - 2] == '=' ? 2 : 1) : 0;
	if (n < 0 || (size_t)n <= pad)
		goto out;
	size_t rl = (size_t)n - pad;
	if (rl > algorithms[a].block) {
		/* RFC 2104 2: HMAC uses H(key) for a key longer than the block. */
		unsigned dl = 0;
		if (EVP_Digest(raw, rl, t->secret, &dl, md, NULL) != 1)
			goto out;
		t->secret_len = dl;
	} else {
		memcpy(t->secret, raw, rl);
		t->secret_len = rl;
	}
	ret = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	if (ret < 0)
		rv_tsig_clear(t);
	return ret;
}

void rv_tsig_clear(rv_tsig *t)
{
	OPENSSL_cleanse(t, sizeof(*t));
}

/* algorithm name, time signed 6, fudge 2, MAC size 2 + MAC, original ID 2,
 * error 2, other length 2 (RFC 8945 4.2) */
static size_t rdata_len(const rv_tsig *t)
{
	return t->alg_len + 6 + 2 + 2 + t->mac_len + 2 + 2 + 2;
}

size_t rv_tsig_rr_len(const rv_tsig *t)
{
	return t->name_len + RV_DNS_RR_FIXED + rdata_len(t);
}

/* ---- the MAC stream ---- */

static EVP_MAC_CTX *mac_new(void)
{
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	/* The context holds its own reference to the MAC. */
	EVP_MAC_CTX *ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
	EVP_MAC_free(hmac);
	return ctx;
}

static bool mac_begin(EVP_MAC_CTX *ctx, const rv_tsig *t)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
				(char *)algorithms[t->alg].digest, 0),
		OSSL_PARAM_construct_end(),
	};
	return EVP_MAC_init(ctx, t->secret, t->secret_len, params) == 1;
}

static void mac_add(EVP_MAC_CTX *ctx, const void *p, size_t n)
{
	/* An update fails only on a broken context: the final MAC then differs,
	 * which is the safe outcome, and mac_end reports it. */
	if (n > 0)
		(void)EVP_MAC_update(ctx, p, n);
}

static void mac_add16(EVP_MAC_CTX *ctx, unsigned v)
{
	uint8_t b[2];
	rv_put16(b, v);
	mac_add(ctx, b, 2);
}

/* The previous MAC as a response digests it: its length, then it (4.3.1). */
static void mac_add_prior(EVP_MAC_CTX *ctx, const uint8_t *mac, size_t len)
{
	mac_add16(ctx, (unsigned)len);
	mac_add(ctx, mac, len);
}

/* The TSIG variables (4.3.3): all of them, or only the timers for a later
 * message of a reply (5.3.1). Names in canonical (lower-case) form. */
static void mac_add_vars(EVP_MAC_CTX *ctx, const rv_tsig *t, const uint8_t *timers,
		unsigned error, const uint8_t *other, unsigned other_len, bool timers_only)
{
	if (!timers_only) {
		mac_add(ctx, t->name, t->name_len);
		mac_add16(ctx, RV_CLASS_ANY);
		mac_add16(ctx, 0);
		mac_add16(ctx, 0);  /* TTL 0 */
		mac_add(ctx, t->alg_name, t->alg_len);
	}
	mac_add(ctx, timers, 8);
	if (!timers_only) {
		mac_add16(ctx, error);
		mac_add16(ctx, other_len);
		mac_add(ctx, other, other_len);
	}
}

static bool mac_end(EVP_MAC_CTX *ctx, const rv_tsig *t, uint8_t *mac)
{
	size_t n = 0;
	return EVP_MAC_final(ctx, mac, &n, RV_TSIG_MAC_MAX) == 1 && n == t->mac_len;
}

/* ---- signing ---- */

int rv_tsig_sign(const rv_tsig *t, const uint8_t *prior, size_t prior_len, uint8_t *msg,
		size_t *len, size_t cap, int64_t now, uint8_t *mac)
{
	size_t n = *len;
	uint8_t timers[8];
	EVP_MAC_CTX *ctx = NULL;
	int ret = -EBADMSG;

	if (n < RV_DNS_HDR)
		goto out;
	ret = -EMSGSIZE;
	if (cap < n || cap - n < rv_tsig_rr_len(t) || rv_get16(msg + 10) == 0xffff)
		goto out;
	/* Time signed: 48 bits of seconds since the epoch. */
	uint64_t ts = (uint64_t)now;
	rv_put16(timers, (unsigned)(ts >> 32) & 0xffff);
	rv_put32(timers + 2, (uint32_t)ts);
	rv_put16(timers + 6, RV_TSIG_FUDGE);

	ret = -ENOMEM;
	ctx = mac_new();
	if (ctx == NULL)
		goto out;
	ret = -EIO;
	if (!mac_begin(ctx, t))
		goto out;
	if (prior != NULL)
		mac_add_prior(ctx, prior, prior_len);
	mac_add(ctx, msg, n);
	mac_add_vars(ctx, t, timers, 0, NULL, 0, false);
	if (!mac_end(ctx, t, mac))
		goto out;

	uint8_t *p = msg + n;
	memcpy(p, t->name, t->name_len);
	p += t->name_len;
	rv_put16(p, RV_TYPE_TSIG);
	rv_put16(p + 2, RV_CLASS_ANY);
	rv_put32(p + 4, 0);
	rv_put16(p + 8, (unsigned)rdata_len(t));
	p += RV_DNS_RR_FIXED;
	memcpy(p, t->alg_name, t->alg_len);
	p += t->alg_len;
	memcpy(p, timers, 8);
	p += 8;
	rv_put16(p, (unsigned)t->mac_len);
	p += 2;
	memcpy(p, mac, t->mac_len);
	p += t->mac_len;
	rv_put16(p, rv_get16(msg));      /* Original ID */
	rv_put16(p + 2, 0);              /* error */
	rv_put16(p + 4, 0);              /* other length */
	p += 6;
	rv_put16(msg + 10, rv_get16(msg + 10) + 1u);
	*len = (size_t)(p - msg);
	ret = 0;
out:
	EVP_MAC_CTX_free(ctx);
	return ret;
}

/* ---- verifying ---- */

void rv_tsig_reply_init(rv_tsig_reply *r, const rv_tsig *key, uint16_t id,
		const uint8_t *req_mac, size_t req_mac_len)
{
	memset(r, 0, sizeof(*r));
	r->key = key;
	r->id = id;
	if (req_mac_len > sizeof(r->mac))
		req_mac_len = 0;   /* never a MAC we made: nothing will verify */
	if (req_mac_len > 0)
		memcpy(r->mac, req_mac, req_mac_len);
	r->mac_len = req_mac_len;
}

void rv_tsig_reply_clear(rv_tsig_reply *r)
{
	EVP_MAC_CTX_free(r->ctx);
	OPENSSL_cleanse(r, sizeof(*r));
}

/* The digest of the next signed message, opened (key, then the previous MAC,
 * 5.3.1) unless unsigned messages already went into it. 0 or -errno + err. */
static int chain_digest(rv_tsig_reply *r, char *err, size_t errlen)
{
	if (r->unsigned_run > 0)
		return 0;
	if (r->ctx == NULL)
		r->ctx = mac_new();
	if (r->ctx == NULL || !mac_begin(r->ctx, r->key)) {
		snprintf(err, errlen, "HMAC setup failed");
		return r->ctx == NULL ? -ENOMEM : -EIO;
	}
	mac_add_prior(r->ctx, r->mac, r->mac_len);
	return 0;
}

int rv_tsig_reply_check(rv_tsig_reply *r, const uint8_t *w, size_t len, const rv_dns_msg *m,
		int64_t now, const char *what, char *err, size_t errlen)
{
	const rv_tsig *t = r->key;
	const rv_dns_tsig *ts = &m->tsig;
	char buf[16];
	int rc;

	if (!m->has_tsig) {
		/* 5.3.1: the first message is signed, then at least every 100th. */
		if (!r->verified) {
			snprintf(err, errlen, "%s not signed", what);
			return -EACCES;
		}
		if (r->unsigned_run >= RV_TSIG_UNSIGNED_MAX) {
			snprintf(err, errlen, "more than %d unsigned messages in a row",
					RV_TSIG_UNSIGNED_MAX);
			return -EACCES;
		}
		rc = chain_digest(r, err, errlen);
		if (rc < 0)
			return rc;
		mac_add(r->ctx, w, len);
		r->unsigned_run++;
		return RV_TSIG_HELD;
	}
	if (ts->error != 0) {
		snprintf(err, errlen, "TSIG error %s", rv_dns_tsig_error_name(ts->error, buf,
				sizeof(buf)));
		return -EACCES;
	}
	/* 4.2: class ANY, TTL 0; our key and algorithm (names compare
	 * case-insensitively: both are lower-case wire here); our request's ID. */
	if (ts->rr_class != RV_CLASS_ANY || ts->ttl != 0 || ts->orig_id != r->id ||
	    ts->name_len != t->name_len || memcmp(ts->name, t->name, t->name_len) != 0 ||
	    ts->alg_len != t->alg_len || memcmp(ts->alg, t->alg_name, t->alg_len) != 0) {
		snprintf(err, errlen, "%s TSIG is for another key or malformed", what);
		return -EACCES;
	}
	/* Truncated MACs (5.2.2.1) are not accepted: BIND sends full ones. */
	if (ts->mac_len != t->mac_len) {
		snprintf(err, errlen, "%s TSIG has a %u-byte MAC (want %zu)", what, ts->mac_len,
				t->mac_len);
		return -EACCES;
	}
	rc = chain_digest(r, err, errlen);
	if (rc < 0)
		return rc;
	/* 4.3.2: the message as it was before the TSIG was added: the Original
	 * ID in the header, ARCOUNT one less, without the TSIG RR. */
	uint8_t hdr[RV_DNS_HDR], mac[RV_TSIG_MAC_MAX];
	memcpy(hdr, w, RV_DNS_HDR);
	rv_put16(hdr, r->id);
	rv_put16(hdr + 10, m->ar - 1u);
	mac_add(r->ctx, hdr, RV_DNS_HDR);
	mac_add(r->ctx, w + RV_DNS_HDR, ts->off - RV_DNS_HDR);
	mac_add_vars(r->ctx, t, ts->timers, ts->error, ts->other, ts->other_len, r->verified);
	r->unsigned_run = 0;
	if (!mac_end(r->ctx, t, mac) || CRYPTO_memcmp(mac, ts->mac, t->mac_len) != 0) {
		snprintf(err, errlen, "%s TSIG does not verify", what);
		return -EACCES;
	}
	/* 5.4.2 (and 5.3.1: on every signed message), so an old reply cannot be
	 * replayed. */
	int64_t signed_at = (int64_t)rv_get16(ts->timers) << 32 | rv_get32(ts->timers + 2);
	int64_t skew = now - signed_at;
	if (skew < 0)
		skew = -skew;
	if (skew > rv_get16(ts->timers + 6)) {
		snprintf(err, errlen, "%s TSIG time off by %lld s", what, (long long)skew);
		return -EACCES;
	}
	memcpy(r->mac, mac, t->mac_len);
	r->mac_len = t->mac_len;
	r->verified = true;
	return 0;
}
