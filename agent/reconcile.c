/*
 * reconcile.c - AXFR (RFC 5936) of the RPZ over TCP, TSIG-verified per RFC 8945
 * 5.3.1, fed record by record into the table's reconcile pass. See reconcile.h
 * for what is done with each record.
 *
 * Two layers. The transfer parser (rv_axfr) is pure: it builds the query and
 * takes the reply's messages as bytes, verifies them (tsig.c) and hands each
 * complete address owner to a callback; records of a message are used only
 * once its TSIG (or, for an unsigned message in the middle of the stream, the
 * next signed message's TSIG, which covers it) has verified, so a forged or
 * damaged transfer changes nothing in the table. The client (rv_reconcile)
 * runs it on the agent's libevent loop (one bufferevent, an inactivity timer)
 * and never blocks it: each read callback handles the whole messages that have
 * arrived.
 *
 * Speed: a 1M-address RPZ is a 2M-record transfer. Messages are walked in
 * place (dnswire.c: bounds-checked, no per-record allocation) and the TSIG
 * chain is one streaming HMAC per signed message (libcrypto): parsing every
 * message into allocated RRs with ldns, as an earlier version did, cost more
 * than BIND took to send them.
 */
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
#include <openssl/crypto.h>

#include "dname.h"
#include "dnstcp.h"
#include "dnswire.h"
#include "log.h"
#include "reconcile.h"
#include "tsig.h"

#define SUB "reconcile"

/* Bytes of TXT text we look at (ours is ~80; the reference tool's ~120). */
#define TXT_MAX 1024

/* ---- owner names and TXT metadata (pure) ---- */

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
	size_t ol = rv_dname_strip_dot(owner, strlen(owner));
	size_t zl = rv_dname_strip_dot(zone, strlen(zone));
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

/* ---- the transfer parser ---- */

struct rv_axfr {
	char zone[RV_NAME_MAX];        /* canonical text (rv_dname_canon), for owner names */
	uint8_t zone_wire[RV_DNAME_WIRE_MAX];  /* lower-case */
	size_t zone_wire_len;
	rv_tsig key;
	bool has_key;
	rv_tsig_reply chain;           /* RFC 8945 5.3.1 over the reply */
	uint16_t id;
	bool queried;
	bool ended;                    /* complete or failed: no more messages */
	rv_axfr_owner_fn fn;
	void *arg;
	rv_axfr_rr_fn rr_fn;
	void *rr_arg;

	/* Unsigned messages received since the last signed one: their records are
	 * used only once the next signed message, which covers them, verifies. */
	uint8_t *pending[RV_TSIG_UNSIGNED_MAX];
	size_t pending_len[RV_TSIG_UNSIGNED_MAX];
	size_t npending;

	unsigned soas;                 /* SOAs of the zone seen: 1 opening, 2 closing */
	uint8_t owner[RV_DNAME_WIRE_MAX];  /* the owner whose RRs are being collected */
	size_t owner_len;              /* 0: none yet */
	bool owner_apex;
	unsigned nptr, ntxt;
	bool txt_ok;
	rv_candidate meta;
	char ptr[RV_NAME_MAX];
	rv_reconcile_stats st;
};

static void drop_pending(rv_axfr *x)
{
	for (size_t i = 0; i < x->npending; i++)
		free(x->pending[i]);
	x->npending = 0;
}

rv_axfr *rv_axfr_new(const char *zone, const rv_tsig_key *key, rv_axfr_owner_fn fn, void *arg,
		int *err)
{
	rv_axfr *x = calloc(1, sizeof(*x));
	int e = -ENOMEM;

	if (x == NULL)
		goto fail;
	e = -EINVAL;
	if (zone == NULL || fn == NULL ||
	    rv_dname_from_text(zone, strlen(zone), RV_DNAME_LOWER, x->zone_wire, &x->zone_wire_len,
			    NULL) < 0 || x->zone_wire_len < 2 ||
	    rv_dname_to_text(x->zone_wire, x->zone_wire_len, 0, x->zone, sizeof(x->zone)) < 0)
		goto fail;
	if (key != NULL) {
		if (rv_tsig_init(&x->key, key) < 0)
			goto fail;
		x->has_key = true;
	}
	x->fn = fn;
	x->arg = arg;
	*err = 0;
	return x;
fail:
	rv_axfr_free(&x);
	*err = e;
	return NULL;
}

void rv_axfr_free(rv_axfr **xp)
{
	rv_axfr *x = *xp;

	if (x == NULL)
		return;
	drop_pending(x);
	rv_tsig_reply_clear(&x->chain);
	rv_tsig_clear(&x->key);
	free(x);
	*xp = NULL;
}

void rv_axfr_set_rr_fn(rv_axfr *x, rv_axfr_rr_fn fn, void *arg)
{
	x->rr_fn = fn;
	x->rr_arg = arg;
}

const rv_reconcile_stats *rv_axfr_stats(const rv_axfr *x)
{
	return &x->st;
}

int rv_axfr_query(rv_axfr *x, uint16_t id, int64_t now, uint8_t *buf, size_t cap)
{
	uint8_t mac[RV_TSIG_MAC_MAX];
	size_t n = RV_DNS_HDR + x->zone_wire_len + 4;

	if (cap < n)
		return -EMSGSIZE;
	memset(buf, 0, RV_DNS_HDR);
	rv_put16(buf, id);               /* flags 0: QUERY, RD clear */
	rv_put16(buf + 4, 1);            /* QDCOUNT */
	memcpy(buf + RV_DNS_HDR, x->zone_wire, x->zone_wire_len);
	rv_put16(buf + n - 4, RV_TYPE_AXFR);
	rv_put16(buf + n - 2, RV_CLASS_IN);
	rv_tsig_reply_clear(&x->chain);
	if (x->has_key) {
		int rc = rv_tsig_sign(&x->key, NULL, 0, buf, &n, cap, now, mac);
		if (rc < 0)
			return rc;
		rv_tsig_reply_init(&x->chain, &x->key, id, mac, x->key.mac_len);
		OPENSSL_cleanse(mac, sizeof(mac));
	}
	x->id = id;
	x->queried = true;
	return (int)n;
}

static void note_foreign(rv_axfr *x, const uint8_t *owner, size_t owner_len, const char *what,
		uint64_t n)
{
	if (n == 0)
		return;
	if (x->st.foreign == 0) {
		char o[RV_NAME_MAX];
		if (rv_dname_to_text(owner, owner_len, 0, o, sizeof(o)) < 0)
			snprintf(o, sizeof(o), "?");
		snprintf(x->st.foreign_example, sizeof(x->st.foreign_example), "%.230s %.60s", o,
				what);
	}
	x->st.foreign += n;
}

static void note_foreign_rr(rv_axfr *x, const uint8_t *owner, size_t owner_len, unsigned type)
{
	char buf[16];
	note_foreign(x, owner, owner_len, rv_dns_type_name(type, buf, sizeof(buf)), 1);
}

/* The owner's RRs are complete: hand its address over. 0 or fn's -errno. */
static int flush_owner(rv_axfr *x)
{
	char o[RV_NAME_MAX];
	rv_addr addr;

	if (x->owner_len == 0 || x->owner_apex)
		goto out;
	if (x->nptr == 0) {
		/* A TXT alone is not one of our address records (ours always come in
		 * pairs): someone else's, leave it. */
		note_foreign(x, x->owner, x->owner_len, "TXT without PTR", x->ntxt);
		goto out;
	}
	if (rv_dname_to_text(x->owner, x->owner_len, 0, o, sizeof(o)) < 0 ||
	    rv_rpz_owner_to_addr(o, x->zone, &addr) < 0) {
		note_foreign(x, x->owner, x->owner_len, "PTR (not an address owner)",
				x->nptr + x->ntxt);
		goto out;
	}
	if (x->ptr[0] == '\0') {
		note_foreign(x, x->owner, x->owner_len, "PTR (unusable target)", x->nptr + x->ntxt);
		goto out;
	}
	/* Exactly one PTR and one TXT of ours: trust the statistics. Otherwise
	 * meta = NULL, so a known address gets both RRsets rewritten. */
	const rv_candidate *meta = x->nptr == 1 && x->ntxt == 1 && x->txt_ok ? &x->meta : NULL;
	int rc = x->fn(x->arg, &addr, x->ptr, meta);
	if (rc < 0)
		return rc;
	x->st.addresses++;
	switch (rc) {
	case RV_RECONCILE_MATCH: x->st.matched++; break;
	case RV_RECONCILE_REWRITE: x->st.rewritten++; break;
	case RV_RECONCILE_ADOPTED: x->st.adopted++; break;
	case RV_RECONCILE_REMOVE: x->st.removed++; break;
	default: break;
	}
out:
	x->owner_len = 0;
	return 0;
}

/* PTR target: a name, compressible (RFC 3597 4), printed as the table's names
 * are (lower-case, the same escapes), so equal names compare equal. */
static void ptr_target(rv_axfr *x, const uint8_t *w, size_t len, size_t rd, size_t rdlen)
{
	uint8_t wn[RV_DNAME_WIRE_MAX];
	size_t wl, p = rd;

	x->ptr[0] = '\0';
	if (!rv_dnswire_name_read(w, len, &p, wn, &wl) || p != rd + rdlen ||
	    rv_dname_to_text(wn, wl, 0, x->ptr, sizeof(x->ptr)) < 0)
		x->ptr[0] = '\0';
	/* "." (the root) is an RPZ action (NXDOMAIN), not a name we publish. */
	else if (strcmp(x->ptr, ".") == 0)
		x->ptr[0] = '\0';
}

/* TXT: one or more <character-string>s (RFC 1035 3.3.14), joined with spaces;
 * bytes that cannot be part of our text become '?'. */
static void txt_meta(rv_axfr *x, const uint8_t *d, size_t n)
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
	x->txt_ok = rv_rpz_txt_parse(txt, &x->meta) == 0;
}

/* The answer section of a verified message. 0 to go on, 1 at the closing SOA,
 * or -errno (err set). */
static int on_records(rv_axfr *x, const uint8_t *w, size_t len, char *err, size_t errlen)
{
	rv_dns_msg m;
	uint8_t owner[RV_DNAME_WIRE_MAX];
	size_t owner_len;
	int rc = rv_dnswire_scan(w, len, &m, err, errlen);

	if (rc < 0)
		return rc;
	size_t o = m.an_off;
	for (unsigned i = 0; i < m.an; i++) {
		if (!rv_dnswire_name_read(w, len, &o, owner, &owner_len) ||
		    o + RV_DNS_RR_FIXED > len)
			goto bad;
		unsigned type = rv_get16(w + o), cls = rv_get16(w + o + 2);
		size_t rdlen = rv_get16(w + o + 8), rd = o + RV_DNS_RR_FIXED;
		o = rd + rdlen;
		if (o > len)
			goto bad;
		bool apex = owner_len == x->zone_wire_len &&
			memcmp(owner, x->zone_wire, owner_len) == 0;
		if (type == RV_TYPE_SOA && apex) {
			/* RFC 5936 2.2: the transfer is framed by the zone's SOA. */
			if (++x->soas == 1) {
				size_t p = rd;
				if (rv_dnswire_name_skip(w, len, &p) && rv_dnswire_name_skip(w, len, &p) &&
				    p + 4 <= rd + rdlen)
					x->st.serial = rv_get32(w + p);
				continue;
			}
			if (i + 1 != m.an) {
				snprintf(err, errlen, "records after the closing SOA");
				return -EBADMSG;
			}
			rc = flush_owner(x);
			if (rc < 0)
				goto fn_failed;
			return 1;
		}
		if (x->soas == 0) {
			snprintf(err, errlen, "transfer does not start with the SOA of the zone");
			return -EBADMSG;
		}
		x->st.records++;
		if (x->rr_fn != NULL) {
			/* The TTL sits 6 octets before the RDATA (TTL, RDLENGTH). */
			rc = x->rr_fn(x->rr_arg, owner, owner_len, type, cls, rv_get32(w + rd - 6), w,
					len, rd, rdlen);
			if (rc < 0)
				goto fn_failed;
		}
		/* Owners come grouped (canonical order); a new one closes the last. */
		if (x->owner_len != owner_len || memcmp(x->owner, owner, owner_len) != 0) {
			rc = flush_owner(x);
			if (rc < 0)
				goto fn_failed;
			memcpy(x->owner, owner, owner_len);
			x->owner_len = owner_len;
			x->owner_apex = apex;
			x->nptr = x->ntxt = 0;
			x->txt_ok = false;
			x->ptr[0] = '\0';
		}
		if (apex) {
			if (type != RV_TYPE_NS)
				note_foreign_rr(x, owner, owner_len, type);
		} else if (type == RV_TYPE_PTR && cls == RV_CLASS_IN) {
			if (x->nptr++ == 0)
				ptr_target(x, w, len, rd, rdlen);
		} else if (type == RV_TYPE_TXT && cls == RV_CLASS_IN) {
			if (x->ntxt++ == 0)
				txt_meta(x, w + rd, rdlen);
		} else {
			note_foreign_rr(x, owner, owner_len, type);
		}
	}
	return 0;
bad:
	snprintf(err, errlen, "malformed record in message %" PRIu64, x->st.messages);
	return -EBADMSG;
fn_failed:
	snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}

/* Keeps an unsigned message until the next signed one covers it. 0 or -errno. */
static int hold_unsigned(rv_axfr *x, const uint8_t *w, size_t len, const rv_dns_msg *m,
		char *err, size_t errlen)
{
	/* The closing SOA must come in a signed message (RFC 8945 5.3.1: the last
	 * message is signed); say so now rather than time out waiting for one. */
	size_t o = m->an_off;
	for (unsigned i = 0; i < m->an; i++) {
		if (!rv_dnswire_name_skip(w, len, &o) || o + RV_DNS_RR_FIXED > len)
			break;  /* reported when its records are read */
		if (rv_get16(w + o) == RV_TYPE_SOA) {
			snprintf(err, errlen, "the transfer ends in an unsigned message");
			return -EACCES;
		}
		o += RV_DNS_RR_FIXED + rv_get16(w + o + 8);
	}
	/* tsig.c allows at most RV_TSIG_UNSIGNED_MAX in a row: pending has room. */
	uint8_t *copy = malloc(len);
	if (copy == NULL || x->npending >= RV_TSIG_UNSIGNED_MAX) {
		free(copy);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(copy, w, len);
	x->pending[x->npending] = copy;
	x->pending_len[x->npending++] = len;
	return 0;
}

static int message(rv_axfr *x, const uint8_t *w, size_t len, int64_t now, char *err,
		size_t errlen)
{
	rv_dns_msg m;
	char why[256], rb[16], tb[16], what[32];
	int rc;

	x->st.messages++;
	x->st.bytes += len + 2;
	if (!x->queried) {
		snprintf(err, errlen, "no query sent");
		return -EINVAL;
	}
	rc = rv_dnswire_scan(w, len, &m, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "message %" PRIu64 ": %s", x->st.messages, why);
		return rc;
	}
	/* RFC 5936 2.2.1: every message carries the query's ID. */
	if (m.id != x->id || !rv_dns_qr(&m) || rv_dns_opcode(&m) != RV_OPCODE_QUERY) {
		snprintf(err, errlen, "message %" PRIu64 " is not a reply to our query",
				x->st.messages);
		return -EBADMSG;
	}
	unsigned rcode = rv_dns_rcode(&m);
	if (rcode != RV_RCODE_NOERROR) {
		/* BIND answers a bad key or signature with NOTAUTH and a TSIG that
		 * carries the error (RFC 8945 5.3.2). */
		const char *rn = rv_dns_rcode_name(rcode, rb, sizeof(rb));
		if (m.has_tsig && m.tsig.error != 0) {
			snprintf(err, errlen, "%s, TSIG error %s", rn,
					rv_dns_tsig_error_name(m.tsig.error, tb, sizeof(tb)));
			return -EACCES;
		}
		snprintf(err, errlen, "%s", rn);
		return -EREMOTEIO;
	}
	if (x->has_key) {
		snprintf(what, sizeof(what), "message %" PRIu64, x->st.messages);
		rc = rv_tsig_reply_check(&x->chain, w, len, &m, now, what, err, errlen);
		if (rc == RV_TSIG_HELD)
			return hold_unsigned(x, w, len, &m, err, errlen);
		if (rc < 0)
			return rc;
	}
	/* Verified: first the unsigned messages this MAC covered, in order. */
	rc = 0;
	for (size_t i = 0; i < x->npending && rc == 0; i++) {
		rc = on_records(x, x->pending[i], x->pending_len[i], err, errlen);
		if (rc == 1) {
			snprintf(err, errlen, "the transfer ends in an unsigned message");
			rc = -EACCES;
		}
	}
	drop_pending(x);
	if (rc == 0)
		rc = on_records(x, w, len, err, errlen);
	return rc;
}

int rv_axfr_message(rv_axfr *x, const uint8_t *w, size_t len, int64_t now, char *err,
		size_t errlen)
{
	if (x->ended) {
		snprintf(err, errlen, "the transfer is over");
		return -EINVAL;
	}
	int rc = message(x, w, len, now, err, errlen);
	if (rc != 0) {
		x->ended = true;
		drop_pending(x);
	}
	return rc;
}

/* ---- the AXFR client ---- */

struct rv_reconcile {
	struct event_base *base;
	rv_table *table;
	rv_reconcile_done_fn done;
	void *done_arg;
	char zone[RV_NAME_MAX];        /* without trailing dot, as given: for messages */
	char main_zone[RV_NAME_MAX];   /* the zone transferred last (zone, once hot is done) */
	rv_tsig_key key;
	bool has_key;
	bool hot_phase;                /* transferring the hot zone (opts.hot_zone) */
	void (*hot_owner)(void *arg, const rv_addr *addr);
	void *hot_arg;
	rv_reconcile_stats hot_st;     /* the hot zone's transfer, added to the main one's */
	rv_axfr *axfr;
	bool adopt;
	bool begun;                    /* rv_table_reconcile_begin called */
	unsigned timeout_ms;
	struct sockaddr_storage sa;
	socklen_t salen;
	char peer[RV_DNSTCP_PEER_MAX];

	struct bufferevent *bev;
	struct event *timer;
	bool connected;
	bool finished;
	struct timespec t0;
	uint64_t missing;              /* rv_table_reconcile_end's count */
	rv_reconcile_stats st;         /* what done() gets */

	uint8_t rbuf[RV_DNS_MSG_MAX];
};

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

/* The hot zone's counters into the main zone's (serial and foreign example
 * stay the main zone's, unless it has none). */
static void add_stats(rv_reconcile_stats *st, const rv_reconcile_stats *hot)
{
	st->messages += hot->messages;
	st->bytes += hot->bytes;
	st->records += hot->records;
	st->addresses += hot->addresses;
	st->matched += hot->matched;
	st->rewritten += hot->rewritten;
	st->adopted += hot->adopted;
	st->removed += hot->removed;
	if (st->foreign == 0 && hot->foreign > 0)
		memcpy(st->foreign_example, hot->foreign_example, sizeof(st->foreign_example));
	st->foreign += hot->foreign;
}

static int open_transfer(rv_reconcile *r, const char *zone);

/* Ends the reconcile and reports. r may be freed by the callback: callers
 * return at once. */
static void finish(rv_reconcile *r, int result, const char *fmt, ...) RV_PRINTF(3, 4);
static void finish(rv_reconcile *r, int result, const char *fmt, ...)
{
	char detail[512], msg[2048];
	va_list ap;

	close_conn(r);
	r->finished = true;
	/* No transfer object when the main zone's could not be created after
	 * the hot zone's: its counters are then the whole story. */
	if (r->axfr != NULL)
		r->st = *rv_axfr_stats(r->axfr);
	else
		memset(&r->st, 0, sizeof(r->st));
	add_stats(&r->st, &r->hot_st);
	r->st.missing = r->missing;
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

/* rv_axfr_owner_fn: one verified address owner into the table's pass. */
static int on_owner(void *arg, const rv_addr *addr, const char *ptr, const rv_candidate *meta)
{
	rv_reconcile *r = arg;

	if (!r->begun) {
		rv_table_reconcile_begin(r->table);
		r->begun = true;
	}
	if (r->hot_phase && r->hot_owner != NULL)
		r->hot_owner(r->hot_arg, addr);
	return rv_table_reconcile_record(r->table, addr, ptr, meta, r->adopt, (int64_t)time(NULL));
}

/* One whole DNS message. Returns 0 to go on, or 1 when finish() was called
 * (r may be gone). */
static int on_message(rv_reconcile *r, const uint8_t *w, size_t len)
{
	char err[512];
	int rc = rv_axfr_message(r->axfr, w, len, (int64_t)time(NULL), err, sizeof(err));

	if (rc == 0)
		return 0;
	if (rc < 0) {
		finish(r, rc, "%s", err);
		return 1;
	}
	if (r->hot_phase) {
		/* The hot zone is read: the main zone follows, same table pass. */
		r->hot_st = *rv_axfr_stats(r->axfr);
		close_conn(r);
		rv_axfr_free(&r->axfr);
		r->hot_phase = false;
		memcpy(r->zone, r->main_zone, sizeof(r->zone));
		int e = open_transfer(r, r->zone);
		if (e < 0)
			finish(r, e, "cannot start the transfer: %s", strerror(-e));
		return 1;  /* the old connection is gone (and r, after finish): stop reading */
	}
	if (!r->begun) {
		/* An empty zone: still a pass, so end() re-sends everything. */
		rv_table_reconcile_begin(r->table);
		r->begun = true;
	}
	r->missing = rv_table_reconcile_end(r->table);
	const rv_reconcile_stats *st = rv_axfr_stats(r->axfr);
	finish(r, 0, "%" PRIu64 " records, %" PRIu64 " addresses: %" PRIu64 " matched, %" PRIu64
			" rewritten, %" PRIu64 " adopted, %" PRIu64 " removed, %" PRIu64 " missing, %"
			PRIu64 " foreign", st->records, st->addresses, st->matched, st->rewritten,
			st->adopted, st->removed, r->missing, st->foreign);
	return 1;
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
				"end of the transfer", rv_axfr_stats(r->axfr)->messages);
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
			r->connected ? "no data" : "no connection", r->timeout_ms,
			rv_axfr_stats(r->axfr)->messages);
}

/* The AXFR query, framed for TCP into the output buffer. */
static int send_query(rv_reconcile *r)
{
	uint8_t q[2 + RV_DNS_HDR + RV_DNAME_WIRE_MAX + 4 + RV_DNAME_WIRE_MAX + RV_DNS_RR_FIXED +
		RV_DNAME_WIRE_MAX + 16 + RV_TSIG_MAC_MAX + 6];
	uint16_t id;

	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint16_t)(time(NULL) ^ getpid());
	int n = rv_axfr_query(r->axfr, id, (int64_t)time(NULL), q + 2, sizeof(q) - 2);
	if (n < 0)
		return n;
	rv_put16(q, (unsigned)n);
	return evbuffer_add(bufferevent_get_output(r->bev), q, (size_t)n + 2) < 0 ? -ENOMEM : 0;
}

/* The transfer of zone on a new connection: 0 or -errno. The connect's
 * outcome arrives through event_cb. */
static int open_transfer(rv_reconcile *r, const char *zone)
{
	int e, fd, one = 1;

	r->axfr = rv_axfr_new(zone, r->has_key ? &r->key : NULL, on_owner, r, &e);
	if (r->axfr == NULL)
		return e;
	fd = socket(r->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r->bev = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (r->bev == NULL) {
		close(fd);
		return -ENOMEM;
	}
	r->connected = false;
	bufferevent_setcb(r->bev, read_cb, NULL, event_cb, r);
	/* Fewer, larger reads: a big transfer is megabytes (libevent reads 4 KiB
	 * per callback by default). */
	(void)bufferevent_set_max_single_read(r->bev, 256 * 1024);
	e = send_query(r);
	if (e < 0)
		return e;
	if (bufferevent_enable(r->bev, EV_READ | EV_WRITE) < 0)
		return -ENOMEM;
	/* A refused connect is reported later through event_cb, from the loop;
	 * -1 here means the socket itself is unusable: a start error. */
	if (bufferevent_socket_connect(r->bev, (struct sockaddr *)&r->sa, (int)r->salen) < 0)
		return errno ? -errno : -ECONNREFUSED;
	arm_timer(r);
	return 0;
}

/* zone without its trailing dot into out (RV_NAME_MAX): 0 or -EINVAL. */
static int copy_zone(const char *zone, char *out)
{
	size_t zl = rv_dname_strip_dot(zone, strlen(zone));
	if (zl == 0 || zl >= RV_NAME_MAX)
		return -EINVAL;
	memcpy(out, zone, zl);
	out[zl] = '\0';
	return 0;
}

rv_reconcile *rv_reconcile_start(struct event_base *base, const rv_reconcile_opts *opts,
		rv_table *table, rv_reconcile_done_fn done, void *arg, int *err)
{
	rv_reconcile *r = NULL;
	int e = -EINVAL;

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
	r->hot_owner = opts->hot_owner;
	r->hot_arg = opts->hot_arg;
	if (opts->key != NULL) {
		r->key = *opts->key;
		r->has_key = true;
	}
	e = copy_zone(opts->zone, r->main_zone);
	if (e < 0)
		goto fail;
	memcpy(r->zone, r->main_zone, sizeof(r->zone));
	if (opts->hot_zone != NULL) {
		e = copy_zone(opts->hot_zone, r->zone);
		if (e < 0)
			goto fail;
		r->hot_phase = true;
	}
	e = rv_dnstcp_peer(opts->server, opts->port, &r->sa, &r->salen, r->peer);
	if (e < 0)
		goto fail;
	e = -ENOMEM;
	r->timer = evtimer_new(base, timeout_cb, r);
	if (r->timer == NULL)
		goto fail;
	e = open_transfer(r, r->zone);
	if (e < 0)
		goto fail;
	*err = 0;
	return r;
fail:
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
	if (r->timer != NULL)
		event_free(r->timer);
	rv_axfr_free(&r->axfr);
	explicit_bzero(&r->key, sizeof(r->key));
	free(r);
	*rp = NULL;
}
