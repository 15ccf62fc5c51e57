/*
 * reconcile.c - AXFR (RFC 5936) of the RPZ over TCP, TSIG-verified per RFC 8945
 * 5.3.1, fed record by record into the table's reconcile pass. See reconcile.h
 * for what is done with each record.
 *
 * The transfer runs on the agent's libevent loop (one bufferevent, an inactivity
 * timer) and never blocks it: each read callback handles the whole messages
 * that have arrived. Records of a message are used only once its TSIG (or, for
 * an unsigned message in the middle of the stream, the next signed message's
 * TSIG, which covers it) has verified, so a forged or damaged transfer changes
 * nothing in the table.
 *
 * Speed: a 1M-address RPZ is a 2M-record transfer. Messages are walked in
 * place (bounds-checked, no per-record allocation) and the TSIG chain is one
 * streaming HMAC per signed message (libcrypto, as rpz.c): ldns_wire2pkt plus
 * ldns_pkt_tsig_verify_next parsed every message twice into allocated RRs and
 * cost more than BIND took to send them. ldns still turns the configured zone
 * and key names into wire form once per reconcile.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <ldns/ldns.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "log.h"
#include "dnstcp.h"
#include "reconcile.h"

#define SUB "reconcile"

/* RFC 8945 5.2.3 suggests a fudge of 300 s. */
#define TSIG_FUDGE 300
/* RFC 8945 5.3.1: a signed message at least every 100 messages. */
#define MAX_UNSIGNED_RUN 99
/* RR types and classes we look at (RFC 1035 3.2.2, RFC 5936, RFC 8945). */
#define T_NS 2
#define T_SOA 6
#define T_PTR 12
#define T_TXT 16
#define T_TSIG 250
#define T_AXFR 252
#define C_IN 1
#define C_ANY 255
/* TYPE, CLASS, TTL, RDLENGTH */
#define RR_FIXED 10
/* Largest DNS message over TCP (RFC 1035 4.2.2). */
#define MSG_MAX 65535
/* Bytes of TXT text we look at (ours is ~80; the reference tool's ~120). */
#define TXT_MAX 1024

/* ---- owner names and TXT metadata (pure) ---- */

/* Length of s[0..len) without one trailing unescaped dot. */
static size_t strip_dot(const char *s, size_t len)
{
	if (len > 0 && s[len - 1] == '.') {
		size_t bs = 0;
		for (size_t i = len - 1; i > 0 && s[i - 1] == '\\'; i--)
			bs++;
		if (bs % 2 == 0)
			len--;
	}
	return len;
}

static bool suffix_ci(const char *s, size_t len, const char *suf, size_t *prefix)
{
	size_t sl = strlen(suf);
	if (len < sl || strncasecmp(s + len - sl, suf, sl) != 0)
		return false;
	*prefix = len - sl;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "d.c.b.a" (exactly as rv_rpz_reverse_name writes it) -> a.b.c.d */
static int parse_v4(const char *s, size_t len, rv_addr *out)
{
	uint8_t b[4];
	size_t i = 0;

	for (int label = 0; label < 4; label++) {
		size_t start = i;
		unsigned v = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		size_t n = i - start;
		/* "01" names another owner than the "1" we write: not ours. */
		if (n == 0 || v > 255 || (n > 1 && s[start] == '0'))
			return -EINVAL;
		b[3 - label] = (uint8_t)v;
		if (label < 3) {
			if (i >= len || s[i] != '.')
				return -EINVAL;
			i++;
		}
	}
	if (i != len)
		return -EINVAL;
	return rv_addr_set(out, b, 4);
}

/* 32 nibbles, lowest first (RFC 3596 2.5). */
static int parse_v6(const char *s, size_t len, rv_addr *out)
{
	uint8_t b[16] = {0};

	if (len != 63)
		return -EINVAL;
	for (int n = 0; n < 32; n++) {
		int v = hexval(s[2 * n]);
		if (v < 0 || (n < 31 && s[2 * n + 1] != '.'))
			return -EINVAL;
		int byte = 15 - n / 2;
		b[byte] |= (uint8_t)(n % 2 == 0 ? v : v << 4);
	}
	return rv_addr_set(out, b, 16);
}

int rv_rpz_owner_to_addr(const char *owner, const char *zone, rv_addr *out)
{
	size_t ol = strip_dot(owner, strlen(owner));
	size_t zl = strip_dot(zone, strlen(zone));
	size_t pl;

	memset(out, 0, sizeof(*out));
	if (zl > 0) {
		/* owner = prefix "." zone */
		if (ol < zl + 2 || owner[ol - zl - 1] != '.' ||
		    strncasecmp(owner + ol - zl, zone, zl) != 0)
			return -EINVAL;
		ol -= zl + 1;
	}
	if (suffix_ci(owner, ol, ".in-addr.arpa", &pl))
		return parse_v4(owner, pl, out);
	if (suffix_ci(owner, ol, ".ip6.arpa", &pl))
		return parse_v6(owner, pl, out);
	return -EINVAL;
}

/* Non-negative decimal integer, optionally with a fraction (ignored: tolerant
 * of writers that print seconds with decimals), into *v <= max. */
static bool parse_uint(const char *s, size_t len, uint64_t max, uint64_t *v)
{
	size_t i = 0;
	uint64_t x = 0;

	if (len == 0 || s[0] < '0' || s[0] > '9')
		return false;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (x > (max - d) / 10)
			return false;
		x = x * 10 + d;
	}
	if (i < len && s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
	}
	if (i != len)
		return false;
	*v = x;
	return true;
}

/* "123" or "123.45": a non-negative decimal below 1e9; anything else 0. */
static double parse_score(const char *s, size_t len)
{
	double v = 0, scale = 0;
	if (len == 0 || len > 16)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.' && scale == 0) {
			scale = 1;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
		if (scale > 0)
			scale *= 10;
	}
	if (scale > 0)
		v /= scale;
	return v < 1e9 ? v : 0;
}

int rv_rpz_txt_parse(const char *txt, rv_candidate *meta)
{
	enum { K_FIRST = 1, K_LAST = 2, K_COUNT = 4 };
	unsigned have = 0;
	uint64_t first = 0, last = 0, count = 0, depth = 0;
	double score = 0;
	const char *p = txt;

	memset(meta, 0, sizeof(*meta));
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		const char *tok = p;
		while (*p && *p != ' ' && *p != ',' && *p != '\t')
			p++;
		size_t tl = (size_t)(p - tok);
		const char *eq = memchr(tok, '=', tl);
		if (eq == NULL)
			continue;  /* not key=value: someone else's text, skip it */
		size_t kl = (size_t)(eq - tok), vl = tl - kl - 1;
		const char *val = eq + 1;
		uint64_t v;
#define KEY(k) (kl == sizeof(k) - 1 && strncasecmp(tok, k, kl) == 0)
		if (KEY("first")) {
			if (!parse_uint(val, vl, INT64_MAX, &v))
				return -EBADMSG;
			first = v;
			have |= K_FIRST;
		} else if (KEY("last")) {
			if (!parse_uint(val, vl, INT64_MAX, &v))
				return -EBADMSG;
			last = v;
			have |= K_LAST;
		} else if (KEY("count")) {
			if (!parse_uint(val, vl, UINT64_MAX, &v))
				return -EBADMSG;
			count = v;
			have |= K_COUNT;
		} else if (KEY("depth")) {
			if (!parse_uint(val, vl, 255, &v))
				return -EBADMSG;
			depth = v;
		} else if (KEY("score")) {
			/* Ours: the frequency as of last (two decimals). Optional and
			 * advisory: a value that is not a plain decimal is ignored. */
			score = parse_score(val, vl);
		}
#undef KEY
		/* Anything else (country, trend, update, ...) is skipped. */
	}
	if (have != (K_FIRST | K_LAST | K_COUNT) || first > last)
		return -EBADMSG;
	meta->first = (int64_t)first;
	meta->last = (int64_t)last;
	meta->count = count ? count : 1;
	meta->depth = (unsigned)depth;
	meta->freq = score;
	return 0;
}

/* ---- DNS wire helpers (RFC 1035 4.1, bounds-checked) ---- */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Skips the (possibly compressed) name at *off. false if it runs off the end. */
static bool name_skip(const uint8_t *w, size_t len, size_t *off)
{
	size_t o = *off;
	for (;;) {
		if (o >= len)
			return false;
		uint8_t l = w[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return false;
			*off = o + 2;
			return true;
		}
		if (l & 0xc0)
			return false;  /* 0x40/0x80: obsolete label types */
		o += 1u + l;
		if (l == 0) {
			*off = o;
			return true;
		}
	}
}

/*
 * Reads the name at *off (following compression pointers, RFC 1035 4.1.4) into
 * out as lower-case uncompressed wire (at most 255 octets) and moves *off past
 * it. Every pointer must point before itself and the name must fit 255 octets,
 * so a pointer loop cannot run forever. false if malformed.
 */
static bool name_read(const uint8_t *w, size_t len, size_t *off, uint8_t *out, size_t *outlen)
{
	size_t o = *off, n = 0;
	bool jumped = false;

	for (int hops = 0; hops < 128; ) {
		if (o >= len)
			return false;
		uint8_t l = w[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return false;
			size_t target = (size_t)(l & 0x3f) << 8 | w[o + 1];
			if (target >= o)
				return false;
			if (!jumped)
				*off = o + 2;
			jumped = true;
			o = target;
			hops++;
			continue;
		}
		if (l & 0xc0)
			return false;
		if (o + 1 + l > len || n + 1 + l > 255)
			return false;
		out[n++] = l;
		for (unsigned i = 0; i < l; i++) {
			uint8_t c = w[o + 1 + i];
			out[n++] = c >= 'A' && c <= 'Z' ? (uint8_t)(c | 0x20) : c;
		}
		o += 1u + l;
		if (l == 0) {
			if (!jumped)
				*off = o;
			*outlen = n;
			return true;
		}
	}
	return false;
}

/*
 * Presentation form of an uncompressed wire name, without the trailing dot, as
 * ldns_rdf2str prints it (the table's names come from there, so the zone's PTR
 * targets must compare equal): '.', ';', '(', ')' and '\' escaped with a
 * backslash, bytes outside 0x21..0x7e as \DDD (RFC 1035 5.1). The root is ".".
 */
static bool name_text(const uint8_t *wn, size_t wlen, char *out, size_t outlen)
{
	size_t o = 0, i = 0;

	if (outlen < 2)
		return false;
	while (i < wlen && wn[i] != 0) {
		uint8_t l = wn[i++];
		if (o > 0)
			out[o++] = '.';
		for (unsigned k = 0; k < l; k++, i++) {
			uint8_t c = wn[i];
			if (o + 5 >= outlen)
				return false;
			if (c == '.' || c == ';' || c == '(' || c == ')' || c == '\\') {
				out[o++] = '\\';
				out[o++] = (char)c;
			} else if (c < 0x21 || c > 0x7e) {
				out[o++] = '\\';
				out[o++] = (char)('0' + c / 100);
				out[o++] = (char)('0' + c / 10 % 10);
				out[o++] = (char)('0' + c % 10);
			} else {
				out[o++] = (char)c;
			}
		}
		if (o + 2 >= outlen)
			return false;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	return true;
}

/* One scanned DNS message: offsets into its wire, nothing copied. */
typedef struct msg_view {
	uint16_t id, flags, qd, an, ar;
	size_t an_off;              /* first answer RR */
	bool has_tsig;
	size_t tsig_off;            /* start of the TSIG RR = end of the digested part */
	uint8_t tsig_name[255], tsig_alg[255];
	size_t tsig_name_len, tsig_alg_len;
	uint16_t tsig_class;
	uint32_t tsig_ttl;
	const uint8_t *timers;      /* time signed (6) + fudge (2), as on the wire */
	const uint8_t *mac;
	uint16_t mac_len, orig_id, error, other_len;
	const uint8_t *other;
} msg_view;

/* Walks every section; finds the TSIG RR, which must be the last additional
 * record (RFC 8945 5.1). Pure. 0 or -EBADMSG with err. */
static int msg_scan(const uint8_t *w, size_t len, msg_view *m, char *err, size_t errlen)
{
	size_t o = 12;

	memset(m, 0, sizeof(*m));
	if (len < 12) {
		snprintf(err, errlen, "message of %zu bytes", len);
		return -EBADMSG;
	}
	m->id = rd16(w);
	m->flags = rd16(w + 2);
	m->qd = rd16(w + 4);
	m->an = rd16(w + 6);
	unsigned ns = rd16(w + 8);
	m->ar = rd16(w + 10);
	for (unsigned i = 0; i < m->qd; i++)
		if (!name_skip(w, len, &o) || (o += 4) > len)
			goto bad;
	m->an_off = o;
	unsigned total = (unsigned)m->an + ns + m->ar;
	for (unsigned i = 0; i < total; i++) {
		size_t start = o;
		if (!name_skip(w, len, &o) || o + RR_FIXED > len)
			goto bad;
		uint16_t type = rd16(w + o);
		size_t rdlen = rd16(w + o + 8), rd = o + RR_FIXED;
		if (rd + rdlen > len)
			goto bad;
		if (type == T_TSIG && i >= (unsigned)m->an + ns) {
			if (i != total - 1) {
				snprintf(err, errlen, "TSIG is not the last record");
				return -EBADMSG;
			}
			/* RFC 8945 4.2: algorithm name, time signed, fudge, MAC size,
			 * MAC, original ID, error, other len, other data. */
			size_t p = start, end = rd + rdlen;
			if (!name_read(w, len, &p, m->tsig_name, &m->tsig_name_len))
				goto bad;
			m->tsig_class = rd16(w + o + 2);
			m->tsig_ttl = rd32(w + o + 4);
			p = rd;
			if (!name_read(w, end, &p, m->tsig_alg, &m->tsig_alg_len) || p + 10 > end)
				goto bad;
			m->timers = w + p;
			m->mac_len = rd16(w + p + 8);
			p += 10;
			if (p + m->mac_len + 6 > end)
				goto bad;
			m->mac = w + p;
			p += m->mac_len;
			m->orig_id = rd16(w + p);
			m->error = rd16(w + p + 2);
			m->other_len = rd16(w + p + 4);
			p += 6;
			if (p + m->other_len != end)
				goto bad;
			m->other = w + p;
			m->has_tsig = true;
			m->tsig_off = start;
		}
		o = rd + rdlen;
	}
	if (o != len)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "malformed message (%zu bytes)", len);
	return -EBADMSG;
}

/* ---- TSIG (RFC 8945) ---- */

typedef struct tsig {
	const char *digest;         /* OpenSSL name of the hash */
	size_t size;                /* its output = full MAC length */
	uint8_t secret[384];
	size_t secret_len;
	uint8_t name[255], alg[255];/* canonical wire form (RFC 8945 4.3.3) */
	size_t name_len, alg_len;
	EVP_MAC *hmac;
	EVP_MAC_CTX *ctx;
} tsig;

static bool dname_wire(const char *text, uint8_t *out, size_t *outlen)
{
	ldns_rdf *d = ldns_dname_new_frm_str(text);
	bool ok = d != NULL && ldns_rdf_size(d) <= 255;
	if (ok) {
		size_t n = ldns_rdf_size(d);
		memcpy(out, ldns_rdf_data(d), n);
		for (size_t i = 0; i < n; i++)
			if (out[i] >= 'A' && out[i] <= 'Z')
				out[i] |= 0x20;  /* label lengths are < 64: never letters */
		*outlen = n;
	}
	ldns_rdf_deep_free(d);
	return ok;
}

/* 0, or -EINVAL for a key we cannot use (unknown algorithm, bad secret). */
static int tsig_init(tsig *t, const rv_tsig_key *k)
{
	static const struct {
		const char *alg, *digest;
	} algs[] = {
		{"hmac-sha256.", "SHA256"}, {"hmac-sha512.", "SHA512"},
		{"hmac-sha1.", "SHA1"}, {"hmac-md5.sig-alg.reg.int.", "MD5"},
	};
	size_t sl = strnlen(k->secret, sizeof(k->secret));

	for (size_t i = 0; i < RV_ARRAY_LEN(algs) && t->digest == NULL; i++)
		if (strcasecmp(k->algorithm, algs[i].alg) == 0)
			t->digest = algs[i].digest;
	if (t->digest == NULL || sl == 0 || sl % 4 != 0 || sl / 4 * 3 > sizeof(t->secret) ||
	    k->name[0] == '\0' || !dname_wire(k->name, t->name, &t->name_len) ||
	    !dname_wire(k->algorithm, t->alg, &t->alg_len))
		return -EINVAL;
	const EVP_MD *md = EVP_get_digestbyname(t->digest);
	int n = EVP_DecodeBlock(t->secret, (const unsigned char *)k->secret, (int)sl);
	if (md == NULL || EVP_MD_get_size(md) <= 0 || n < 0)
		return -EINVAL;
	t->size = (size_t)EVP_MD_get_size(md);
	/* EVP_DecodeBlock writes the '=' padding as zero bytes: drop them. */
	size_t pad = k->secret[sl - 1] == '=' ? (k->secret[sl - 2] == '=' ? 2 : 1) : 0;
	t->secret_len = (size_t)n - pad;
	t->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	t->ctx = t->hmac ? EVP_MAC_CTX_new(t->hmac) : NULL;
	return t->ctx ? 0 : -ENOMEM;
}

static void tsig_clear(tsig *t)
{
	EVP_MAC_CTX_free(t->ctx);
	EVP_MAC_free(t->hmac);
	OPENSSL_cleanse(t->secret, sizeof(t->secret));
	memset(t, 0, sizeof(*t));
}

static bool tsig_begin(tsig *t)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)t->digest, 0),
		OSSL_PARAM_construct_end(),
	};
	return EVP_MAC_init(t->ctx, t->secret, t->secret_len, params) == 1;
}

static void tsig_add(tsig *t, const void *p, size_t n)
{
	/* An update can only fail on a broken context: the final MAC then
	 * mismatches, which is the safe outcome. */
	(void)EVP_MAC_update(t->ctx, p, n);
}

static void tsig_add16(tsig *t, unsigned v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	tsig_add(t, b, 2);
}

/* "TSIG variables" after the message (RFC 8945 4.3.3): all of them for a
 * request and the first reply, only the timers for later replies (5.3.1). */
static void tsig_add_vars(tsig *t, const uint8_t *timers, unsigned error, const uint8_t *other,
		unsigned other_len, bool timers_only)
{
	if (!timers_only) {
		tsig_add(t, t->name, t->name_len);
		tsig_add16(t, C_ANY);
		tsig_add16(t, 0);
		tsig_add16(t, 0);  /* TTL 0 */
		tsig_add(t, t->alg, t->alg_len);
	}
	tsig_add(t, timers, 8);
	if (!timers_only) {
		tsig_add16(t, error);
		tsig_add16(t, other_len);
		tsig_add(t, other, other_len);
	}
}

static bool tsig_end(tsig *t, uint8_t *mac, size_t *mac_len)
{
	return EVP_MAC_final(t->ctx, mac, mac_len, 64) == 1 && *mac_len == t->size;
}

/* ---- the AXFR client ---- */

struct rv_reconcile {
	struct event_base *base;
	rv_table *table;
	rv_reconcile_done_fn done;
	void *done_arg;
	char zone[RV_NAME_MAX];        /* without trailing dot, as given */
	uint8_t zone_wire[255];
	size_t zone_wire_len;
	tsig key;
	bool has_key;
	bool adopt;
	unsigned timeout_ms;
	struct sockaddr_storage sa;
	socklen_t salen;
	char peer[RV_ADDR_STRLEN + 8];

	struct bufferevent *bev;
	struct event *timer;
	bool connected;
	bool finished;
	uint16_t id;
	struct timespec t0;

	/* TSIG chain (RFC 8945 5.3.1): the MAC the next signed message covers (the
	 * request's, then each verified message's), and the unsigned messages
	 * received since (covered by the next MAC, used only once it verifies). */
	uint8_t mac[64];
	size_t mac_len;
	bool first_verified;
	uint8_t *pending[MAX_UNSIGNED_RUN];
	size_t pending_len[MAX_UNSIGNED_RUN];
	size_t npending;

	/* transfer state */
	unsigned soas;                 /* SOAs of the zone seen: 1 opening, 2 closing */
	bool begun;                    /* rv_table_reconcile_begin called */
	uint8_t owner[255];            /* the owner whose RRs are being collected */
	size_t owner_len;              /* 0: none yet */
	bool owner_apex;
	unsigned nptr, ntxt;
	bool txt_ok;
	rv_candidate meta;
	char ptr[RV_NAME_MAX];
	rv_reconcile_stats st;

	uint8_t rbuf[MSG_MAX];
};

static const char *tsig_error_name(unsigned e, char *buf, size_t len)
{
	switch (e) {
	case 16: return "BADSIG";
	case 17: return "BADKEY";
	case 18: return "BADTIME";
	case 22: return "BADTRUNC";
	}
	snprintf(buf, len, "%u", e);
	return buf;
}

static const char *rcode_name(int rcode, char *buf, size_t len)
{
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
	};
	if (rcode >= 0 && (size_t)rcode < RV_ARRAY_LEN(names))
		return names[rcode];
	snprintf(buf, len, "RCODE%d", rcode);
	return buf;
}

static double elapsed(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void close_conn(rv_reconcile *r)
{
	if (r->bev != NULL) {
		bufferevent_free(r->bev);
		r->bev = NULL;
	}
	if (r->timer != NULL)
		evtimer_del(r->timer);
}

static void drop_pending(rv_reconcile *r)
{
	for (size_t i = 0; i < r->npending; i++)
		free(r->pending[i]);
	r->npending = 0;
}

/* Ends the reconcile and reports. r may be freed by the callback: callers
 * return at once. */
static void finish(rv_reconcile *r, int result, const char *fmt, ...) RV_PRINTF(3, 4);
static void finish(rv_reconcile *r, int result, const char *fmt, ...)
{
	char detail[512], msg[2048];
	va_list ap;

	close_conn(r);
	drop_pending(r);
	r->finished = true;
	r->st.seconds = elapsed(&r->t0);
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "AXFR of %s from %s: %s", r->zone, r->peer, detail);
	if (result == 0 && r->st.foreign > 0)
		rv_debug(SUB, "zone %s holds %" PRIu64 " foreign records (e.g. %s): left alone",
				r->zone, r->st.foreign, r->st.foreign_example);
	r->done(r->done_arg, result, &r->st, msg);
}

static void note_foreign(rv_reconcile *r, const uint8_t *owner, size_t owner_len,
		const char *what, uint64_t n)
{
	if (n == 0)
		return;
	if (r->st.foreign == 0) {
		char o[RV_NAME_MAX];
		if (!name_text(owner, owner_len, o, sizeof(o)))
			snprintf(o, sizeof(o), "?");
		snprintf(r->st.foreign_example, sizeof(r->st.foreign_example), "%.230s %.60s", o, what);
	}
	r->st.foreign += n;
}

static void note_foreign_rr(rv_reconcile *r, const uint8_t *owner, size_t owner_len,
		unsigned type)
{
	char what[32];
	const ldns_rr_descriptor *d = ldns_rr_descript((uint16_t)type);
	if (d != NULL && d->_name != NULL)
		snprintf(what, sizeof(what), "%s", d->_name);
	else
		snprintf(what, sizeof(what), "TYPE%u", type);
	note_foreign(r, owner, owner_len, what, 1);
}

/* The owner's RRs are complete: hand its address to the table. 0 or -ENOMEM. */
static int flush_owner(rv_reconcile *r)
{
	char o[RV_NAME_MAX];
	rv_addr addr;

	if (r->owner_len == 0 || r->owner_apex)
		goto out;
	if (r->nptr == 0) {
		/* A TXT alone is not one of our address records (ours always come in
		 * pairs): someone else's, leave it. */
		note_foreign(r, r->owner, r->owner_len, "TXT without PTR", r->ntxt);
		goto out;
	}
	if (!name_text(r->owner, r->owner_len, o, sizeof(o)) ||
	    rv_rpz_owner_to_addr(o, r->zone, &addr) < 0) {
		note_foreign(r, r->owner, r->owner_len, "PTR (not an address owner)",
				r->nptr + r->ntxt);
		goto out;
	}
	if (r->ptr[0] == '\0') {
		note_foreign(r, r->owner, r->owner_len, "PTR (unusable target)", r->nptr + r->ntxt);
		goto out;
	}
	/* Exactly one PTR and one TXT of ours: trust the statistics. Otherwise
	 * meta = NULL, so a known address gets both RRsets rewritten. */
	const rv_candidate *meta = r->nptr == 1 && r->ntxt == 1 && r->txt_ok ? &r->meta : NULL;
	if (!r->begun) {
		rv_table_reconcile_begin(r->table);
		r->begun = true;
	}
	int rc = rv_table_reconcile_record(r->table, &addr, r->ptr, meta, r->adopt,
			(int64_t)time(NULL));
	if (rc < 0)
		return rc;
	r->st.addresses++;
	switch (rc) {
	case RV_RECONCILE_MATCH: r->st.matched++; break;
	case RV_RECONCILE_REWRITE: r->st.rewritten++; break;
	case RV_RECONCILE_ADOPTED: r->st.adopted++; break;
	case RV_RECONCILE_REMOVE: r->st.removed++; break;
	}
out:
	r->owner_len = 0;
	return 0;
}

/* PTR target: a name, compressible (RFC 3597 4). */
static void ptr_target(rv_reconcile *r, const uint8_t *w, size_t len, size_t rd, size_t rdlen)
{
	uint8_t wn[255];
	size_t wl, p = rd;

	r->ptr[0] = '\0';
	if (!name_read(w, len, &p, wn, &wl) || p != rd + rdlen ||
	    !name_text(wn, wl, r->ptr, sizeof(r->ptr)))
		r->ptr[0] = '\0';
	/* "." (the root) is an RPZ action (NXDOMAIN), not a name we publish. */
	else if (strcmp(r->ptr, ".") == 0)
		r->ptr[0] = '\0';
}

/* TXT: one or more <character-string>s (RFC 1035 3.3.14), joined with spaces;
 * bytes that cannot be part of our text become '?'. */
static void txt_meta(rv_reconcile *r, const uint8_t *d, size_t n)
{
	char txt[TXT_MAX + 1];
	size_t off = 0, i = 0;

	while (i < n && off < TXT_MAX) {
		size_t sl = d[i++];
		if (sl > n - i)
			sl = n - i;
		if (off > 0)
			txt[off++] = ' ';
		for (size_t k = 0; k < sl && off < TXT_MAX; k++) {
			uint8_t c = d[i + k];
			txt[off++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		i += sl;
	}
	txt[off] = '\0';
	r->txt_ok = rv_rpz_txt_parse(txt, &r->meta) == 0;
}

/* The answer section of a verified message. 0 to go on, 1 at the closing SOA,
 * or -errno (err set). */
static int on_records(rv_reconcile *r, const uint8_t *w, size_t len, char *err, size_t errlen)
{
	msg_view m;
	uint8_t owner[255];
	size_t owner_len;
	int rc = msg_scan(w, len, &m, err, errlen);

	if (rc < 0)
		return rc;
	size_t o = m.an_off;
	for (unsigned i = 0; i < m.an; i++) {
		if (!name_read(w, len, &o, owner, &owner_len) || o + RR_FIXED > len)
			goto bad;
		unsigned type = rd16(w + o), cls = rd16(w + o + 2);
		size_t rdlen = rd16(w + o + 8), rd = o + RR_FIXED;
		o = rd + rdlen;
		if (o > len)
			goto bad;
		bool apex = owner_len == r->zone_wire_len &&
			memcmp(owner, r->zone_wire, owner_len) == 0;
		if (type == T_SOA && apex) {
			/* RFC 5936 2.2: the transfer is framed by the zone's SOA. */
			if (++r->soas == 1) {
				size_t p = rd;
				if (name_skip(w, len, &p) && name_skip(w, len, &p) && p + 4 <= rd + rdlen)
					r->st.serial = rd32(w + p);
				continue;
			}
			if (i + 1 != m.an) {
				snprintf(err, errlen, "records after the closing SOA");
				return -EBADMSG;
			}
			rc = flush_owner(r);
			if (rc < 0)
				goto nomem;
			return 1;
		}
		if (r->soas == 0) {
			snprintf(err, errlen, "transfer does not start with the SOA of the zone");
			return -EBADMSG;
		}
		r->st.records++;
		/* Owners come grouped (canonical order); a new one closes the last. */
		if (r->owner_len != owner_len || memcmp(r->owner, owner, owner_len) != 0) {
			rc = flush_owner(r);
			if (rc < 0)
				goto nomem;
			memcpy(r->owner, owner, owner_len);
			r->owner_len = owner_len;
			r->owner_apex = apex;
			r->nptr = r->ntxt = 0;
			r->txt_ok = false;
			r->ptr[0] = '\0';
		}
		if (apex) {
			if (type != T_NS)
				note_foreign_rr(r, owner, owner_len, type);
		} else if (type == T_PTR && cls == C_IN) {
			if (r->nptr++ == 0)
				ptr_target(r, w, len, rd, rdlen);
		} else if (type == T_TXT && cls == C_IN) {
			if (r->ntxt++ == 0)
				txt_meta(r, w + rd, rdlen);
		} else {
			note_foreign_rr(r, owner, owner_len, type);
		}
	}
	return 0;
bad:
	snprintf(err, errlen, "malformed record in message %" PRIu64, r->st.messages);
	return -EBADMSG;
nomem:
	snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}

/* Verifies a signed message against the chain (RFC 8945 5.3.1): the first over
 * the request's MAC and every TSIG variable; later ones over the previous MAC,
 * the unsigned messages since, and this one, with the timers only. The digested
 * message is the wire without its TSIG RR and with ARCOUNT one less (4.3.2);
 * its ID already equals the original ID (checked). 0 or -EACCES. */
static int verify(rv_reconcile *r, const uint8_t *w, const msg_view *m, char *err, size_t errlen)
{
	tsig *t = &r->key;
	char buf[16];

	if (m->error != 0) {
		snprintf(err, errlen, "TSIG error %s", tsig_error_name(m->error, buf, sizeof(buf)));
		return -EACCES;
	}
	/* RFC 8945 4.2: class ANY, TTL 0; our key and algorithm; the Original ID
	 * of our query. */
	if (m->tsig_class != C_ANY || m->tsig_ttl != 0 || m->orig_id != r->id ||
	    m->tsig_name_len != t->name_len || memcmp(m->tsig_name, t->name, t->name_len) != 0 ||
	    m->tsig_alg_len != t->alg_len || memcmp(m->tsig_alg, t->alg, t->alg_len) != 0) {
		snprintf(err, errlen, "TSIG of message %" PRIu64 " is for another key or malformed",
				r->st.messages);
		return -EACCES;
	}
	/* Truncated MACs (5.2.2.1) are not accepted: BIND sends full ones. */
	if (m->mac_len != t->size) {
		snprintf(err, errlen, "TSIG of message %" PRIu64 " has a %u-byte MAC (want %zu)",
				r->st.messages, m->mac_len, t->size);
		return -EACCES;
	}
	uint8_t hdr[12], mac[64];
	size_t mac_len = 0;
	memcpy(hdr, w, 12);
	hdr[10] = (uint8_t)((m->ar - 1) >> 8);
	hdr[11] = (uint8_t)(m->ar - 1);
	if (!tsig_begin(t)) {
		snprintf(err, errlen, "HMAC setup failed");
		return -EACCES;
	}
	tsig_add16(t, (unsigned)r->mac_len);
	tsig_add(t, r->mac, r->mac_len);
	for (size_t i = 0; i < r->npending; i++)
		tsig_add(t, r->pending[i], r->pending_len[i]);
	tsig_add(t, hdr, 12);
	tsig_add(t, w + 12, m->tsig_off - 12);
	tsig_add_vars(t, m->timers, m->error, m->other, m->other_len, r->first_verified);
	if (!tsig_end(t, mac, &mac_len) || CRYPTO_memcmp(mac, m->mac, mac_len) != 0) {
		snprintf(err, errlen, "TSIG of message %" PRIu64 " does not verify", r->st.messages);
		return -EACCES;
	}
	/* RFC 8945 5.4.2 (and 5.3.1: on every signed message). */
	int64_t signed_at = (int64_t)rd16(m->timers) << 32 | rd32(m->timers + 2);
	int64_t skew = (int64_t)time(NULL) - signed_at;
	if (skew < 0)
		skew = -skew;
	if (skew > rd16(m->timers + 6)) {
		snprintf(err, errlen, "TSIG time of message %" PRIu64 " off by %" PRId64 " s",
				r->st.messages, skew);
		return -EACCES;
	}
	memcpy(r->mac, mac, mac_len);
	r->mac_len = mac_len;
	r->first_verified = true;
	return 0;
}

/* Keeps an unsigned message until the next signed one covers it. 0 or -errno. */
static int hold_unsigned(rv_reconcile *r, const uint8_t *w, size_t len, char *err, size_t errlen)
{
	if (r->npending == MAX_UNSIGNED_RUN) {
		snprintf(err, errlen, "more than %d unsigned messages in a row (RFC 8945 5.3.1)",
				MAX_UNSIGNED_RUN);
		return -EACCES;
	}
	/* The closing SOA must come in a signed message (5.3.1: the last message
	 * is signed); say so now rather than time out waiting for one. */
	msg_view m;
	int rc = msg_scan(w, len, &m, err, errlen);
	if (rc < 0)
		return rc;
	size_t o = m.an_off;
	for (unsigned i = 0; i < m.an; i++) {
		if (!name_skip(w, len, &o) || o + RR_FIXED > len)
			break;  /* reported when its records are read */
		if (rd16(w + o) == T_SOA) {
			snprintf(err, errlen, "the transfer ends in an unsigned message");
			return -EACCES;
		}
		o += RR_FIXED + rd16(w + o + 8);
	}
	uint8_t *copy = malloc(len);
	if (copy == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(copy, w, len);
	r->pending[r->npending] = copy;
	r->pending_len[r->npending++] = len;
	return 0;
}

/* One whole DNS message. Returns 0 to go on, or 1 when finish() was called
 * (r may be gone). */
static int on_message(rv_reconcile *r, const uint8_t *w, size_t len)
{
	msg_view m;
	char err[384], rb[16];
	int rc;

	r->st.messages++;
	r->st.bytes += len + 2;
	rc = msg_scan(w, len, &m, err, sizeof(err));
	if (rc < 0) {
		finish(r, rc, "message %" PRIu64 ": %s", r->st.messages, err);
		return 1;
	}
	/* RFC 5936 2.2.1: every message carries the query's ID. */
	unsigned opcode = (m.flags >> 11) & 0xf, rcode = m.flags & 0xf;
	if (m.id != r->id || !(m.flags & 0x8000) || opcode != 0) {
		finish(r, -EBADMSG, "message %" PRIu64 " is not a reply to our query", r->st.messages);
		return 1;
	}
	if (rcode != 0) {
		/* BIND answers a bad key or signature with NOTAUTH and a TSIG that
		 * carries the error (RFC 8945 5.3.2). */
		const char *rn = rcode_name((int)rcode, rb, sizeof(rb));
		if (m.has_tsig && m.error != 0) {
			char tb[16];
			finish(r, -EACCES, "%s, TSIG error %s", rn, tsig_error_name(m.error, tb, sizeof(tb)));
		} else {
			finish(r, -EREMOTEIO, "%s", rn);
		}
		return 1;
	}
	if (r->has_key) {
		if (!m.has_tsig) {
			if (!r->first_verified) {
				/* 5.3.1: the first message must be signed. */
				finish(r, -EACCES, "message 1 of the transfer not signed");
				return 1;
			}
			/* Its records wait for the next MAC; the closing SOA must come in
			 * a signed message (5.3.1: the last one is signed). */
			rc = hold_unsigned(r, w, len, err, sizeof(err));
			if (rc < 0) {
				finish(r, rc, "%s", err);
				return 1;
			}
			return 0;
		}
		rc = verify(r, w, &m, err, sizeof(err));
		if (rc < 0) {
			finish(r, rc, "%s", err);
			return 1;
		}
	}
	/* Verified: first the unsigned messages this MAC covered, in order. */
	rc = 0;
	for (size_t i = 0; i < r->npending && rc == 0; i++) {
		rc = on_records(r, r->pending[i], r->pending_len[i], err, sizeof(err));
		if (rc == 1) {
			snprintf(err, sizeof(err), "the transfer ends in an unsigned message");
			rc = -EACCES;
		}
	}
	drop_pending(r);
	if (rc == 0)
		rc = on_records(r, w, len, err, sizeof(err));
	if (rc < 0) {
		finish(r, rc, "%s", err);
		return 1;
	}
	if (rc == 1) {
		if (!r->begun) {
			/* An empty zone: still a pass, so end() re-sends everything. */
			rv_table_reconcile_begin(r->table);
			r->begun = true;
		}
		r->st.missing = rv_table_reconcile_end(r->table);
		finish(r, 0, "%" PRIu64 " records, %" PRIu64 " addresses: %" PRIu64 " matched, %"
				PRIu64 " rewritten, %" PRIu64 " adopted, %" PRIu64 " removed, %" PRIu64
				" missing, %" PRIu64 " foreign", r->st.records, r->st.addresses,
				r->st.matched, r->st.rewritten, r->st.adopted, r->st.removed,
				r->st.missing, r->st.foreign);
		return 1;
	}
	return 0;
}

static void arm_timer(rv_reconcile *r)
{
	struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
	evtimer_add(r->timer, &tv);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	rv_reconcile *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	arm_timer(r);
	for (;;) {
		int len = rv_dnstcp_take(in, r->rbuf);
		if (len < 0)
			return;
		if (on_message(r, r->rbuf, (size_t)len) != 0)
			return;  /* finished: r may be freed */
	}
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
	rv_reconcile *r = arg;
	int e = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (events & BEV_EVENT_CONNECTED) {
		r->connected = true;
		return;
	}
	if (events & BEV_EVENT_EOF) {
		finish(r, -ECONNRESET, "connection closed after %" PRIu64 " messages, before the "
				"end of the transfer", r->st.messages);
	} else if (events & BEV_EVENT_ERROR) {
		if (e == 0)
			e = r->connected ? ECONNRESET : ECONNREFUSED;
		finish(r, -e, "%s%s", r->connected ? "" : "connect: ", strerror(e));
	}
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	rv_reconcile *r = arg;

	(void)fd;
	(void)what;
	finish(r, -ETIMEDOUT, "%s within %u ms (after %" PRIu64 " messages)",
			r->connected ? "no data" : "no connection", r->timeout_ms, r->st.messages);
}

/* The AXFR query (RFC 5936 2.1), signed when we have a key, framed for TCP into
 * the output buffer. */
static int send_query(rv_reconcile *r)
{
	uint8_t q[2 + 12 + 255 + 4 + 255 + RR_FIXED + 255 + 16 + 64 + 6];
	size_t n = 2;

	if (getrandom(&r->id, sizeof(r->id), 0) != sizeof(r->id))
		r->id = (uint16_t)(time(NULL) ^ getpid());
	memset(q, 0, sizeof(q));
	q[n++] = (uint8_t)(r->id >> 8);
	q[n++] = (uint8_t)r->id;
	n += 2;           /* flags: QUERY, RD clear */
	q[n + 1] = 1;     /* QDCOUNT 1 */
	n += 8;
	memcpy(q + n, r->zone_wire, r->zone_wire_len);
	n += r->zone_wire_len;
	q[n++] = 0;
	q[n++] = T_AXFR;
	q[n++] = 0;
	q[n++] = C_IN;
	if (r->has_key) {
		tsig *t = &r->key;
		uint64_t now = (uint64_t)time(NULL);
		uint8_t timers[8] = {(uint8_t)(now >> 40), (uint8_t)(now >> 32), (uint8_t)(now >> 24),
				     (uint8_t)(now >> 16), (uint8_t)(now >> 8), (uint8_t)now,
				     TSIG_FUDGE >> 8, TSIG_FUDGE & 0xff};
		/* RFC 8945 4.3.3: the request, then every TSIG variable. */
		if (!tsig_begin(t))
			return -EINVAL;
		tsig_add(t, q + 2, n - 2);
		tsig_add_vars(t, timers, 0, NULL, 0, false);
		if (!tsig_end(t, r->mac, &r->mac_len))
			return -EINVAL;
		memcpy(q + n, t->name, t->name_len);
		n += t->name_len;
		q[n++] = 0;
		q[n++] = T_TSIG;
		q[n++] = 0;
		q[n++] = C_ANY;
		n += 4;   /* TTL 0 */
		size_t rdlen = t->alg_len + 8 + 2 + r->mac_len + 6;
		q[n++] = (uint8_t)(rdlen >> 8);
		q[n++] = (uint8_t)rdlen;
		memcpy(q + n, t->alg, t->alg_len);
		n += t->alg_len;
		memcpy(q + n, timers, 8);
		n += 8;
		q[n++] = (uint8_t)(r->mac_len >> 8);
		q[n++] = (uint8_t)r->mac_len;
		memcpy(q + n, r->mac, r->mac_len);
		n += r->mac_len;
		q[n++] = (uint8_t)(r->id >> 8);   /* original ID */
		q[n++] = (uint8_t)r->id;
		n += 4;   /* error 0, other length 0 */
		q[2 + 11] = 1;   /* ARCOUNT 1 */
	}
	q[0] = (uint8_t)((n - 2) >> 8);
	q[1] = (uint8_t)(n - 2);
	return evbuffer_add(bufferevent_get_output(r->bev), q, n) < 0 ? -ENOMEM : 0;
}

static int parse_server(rv_reconcile *r, const char *server, uint16_t port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&r->sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&r->sa;

	memset(&r->sa, 0, sizeof(r->sa));
	if (inet_pton(AF_INET, server, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		r->salen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, server, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		r->salen = sizeof(*s6);
	} else {
		return -EINVAL;
	}
	snprintf(r->peer, sizeof(r->peer), "%s#%u", server, port);
	return 0;
}

rv_reconcile *rv_reconcile_start(struct event_base *base, const rv_reconcile_opts *opts,
		rv_table *table, rv_reconcile_done_fn done, void *arg, int *err)
{
	rv_reconcile *r = NULL;
	int e = -EINVAL, fd = -1, one = 1;

	if (base == NULL || opts == NULL || table == NULL || done == NULL || opts->zone == NULL ||
	    opts->server == NULL || opts->timeout_ms == 0)
		goto fail;
	e = -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	r->base = base;
	r->table = table;
	r->done = done;
	r->done_arg = arg;
	r->adopt = opts->adopt;
	r->timeout_ms = opts->timeout_ms;
	e = -EINVAL;
	size_t zl = strip_dot(opts->zone, strlen(opts->zone));
	if (zl == 0 || zl >= sizeof(r->zone) - 1)
		goto fail;
	memcpy(r->zone, opts->zone, zl);
	r->zone[zl] = '.';
	r->zone[zl + 1] = '\0';
	bool zone_ok = dname_wire(r->zone, r->zone_wire, &r->zone_wire_len);
	r->zone[zl] = '\0';
	if (!zone_ok)
		goto fail;
	if (opts->key != NULL) {
		e = tsig_init(&r->key, opts->key);
		if (e < 0)
			goto fail;
		r->has_key = true;
	}
	e = -EINVAL;
	if (parse_server(r, opts->server, opts->port) < 0)
		goto fail;
	e = -ENOMEM;
	r->timer = evtimer_new(base, timeout_cb, r);
	if (r->timer == NULL)
		goto fail;

	fd = socket(r->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = -errno;
		goto fail;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (r->bev == NULL)
		goto fail;
	fd = -1;  /* owned by bev now */
	bufferevent_setcb(r->bev, read_cb, NULL, event_cb, r);
	/* Fewer, larger reads: a big transfer is megabytes (libevent reads 4 KiB
	 * per callback by default). */
	(void)bufferevent_set_max_single_read(r->bev, 256 * 1024);
	e = send_query(r);
	if (e < 0)
		goto fail;
	e = -ENOMEM;
	if (bufferevent_enable(r->bev, EV_READ | EV_WRITE) < 0)
		goto fail;
	/* A refused connect is reported later through event_cb, from the loop;
	 * -1 here means the socket itself is unusable: a start error. */
	if (bufferevent_socket_connect(r->bev, (struct sockaddr *)&r->sa, (int)r->salen) < 0) {
		e = errno ? -errno : -ECONNREFUSED;
		goto fail;
	}
	arm_timer(r);
	*err = 0;
	return r;
fail:
	if (fd >= 0)
		close(fd);
	if (r != NULL) {
		r->finished = true;
		rv_reconcile_free(&r);
	}
	*err = e;
	return NULL;
}

void rv_reconcile_free(rv_reconcile **rp)
{
	rv_reconcile *r = *rp;

	if (r == NULL)
		return;
	close_conn(r);
	drop_pending(r);
	if (r->timer != NULL)
		event_free(r->timer);
	tsig_clear(&r->key);
	OPENSSL_cleanse(r->mac, sizeof(r->mac));
	free(r);
	*rp = NULL;
}
