/*
 * rpz.c - the RPZ writer: turns the changes its feed hands it (publish.h: the
 * table's best names, one pending change per address in the outbox) into RFC 2136
 * UPDATE messages signed with TSIG (RFC 8945) and sends them to BIND over one
 * persistent TCP connection (RFC 1035 4.2.2 framing, RFC 7766), one message in
 * flight at a time.
 *
 * Message building and reply checking are pure functions over byte buffers (unit
 * and fuzz tests call them directly); names go through dname.c, the reply is
 * scanned by dnswire.c and TSIG is tsig.c's. The writer is the libevent glue
 * around them and never blocks the loop.
 *
 * Batching: BIND's cost is per transaction (a journal fsync, and for a policy
 * zone a walk of the whole zone by its policy code), so we pack as many addresses as fit in the byte budget into one
 * UPDATE, and while one is in flight the next batch accumulates in the outbox
 * ("Nagle" for UPDATEs).
 *
 * Pacing (see rpz.h): a backlog of at least one full batch goes back to back;
 * a partial batch (one that empties the queue) goes at most once per
 * max(flush_interval, PACE_RTT_FACTOR smoothed round trips), so a trickle of
 * changes never turns into one small transaction per round trip, and the
 * slower BIND gets (a bigger policy zone), the bigger the batches. A change
 * that finds the writer idle (no partial batch within that gap) goes at once,
 * on the loop's next turn, with whatever else that turn learned: an idle
 * lookup reaches BIND without waiting for the interval, and only load makes
 * changes wait to be batched. The tail of a burst is not held back unless a
 * partial batch went out just before.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "dname.h"
#include "dnstcp.h"
#include "dnswire.h"
#include "log.h"
#include "rpz.h"
#include "stats.h"
#include "tsig.h"

#define SUB "rpz"

/* A partial batch waits this many smoothed UPDATE round trips after the
 * previous send: our small transactions keep BIND busy at most 1/4 of the time. */
#define PACE_RTT_FACTOR 4

/* ---- names ---- */

int rv_rpz_reverse_name(const rv_addr *a, const char *zone, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t zl = rv_dname_strip_dot(zone, strlen(zone)), off = 0;
	int r;

	if (outlen == 0)
		return -ENOSPC;
	out[0] = '\0';
	if (a->family == AF_INET) {
		r = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa.", a->bytes[3], a->bytes[2],
				a->bytes[1], a->bytes[0]);
		if (r < 0 || (size_t)r >= outlen)
			goto nospc;
		off = (size_t)r;
	} else if (a->family == AF_INET6) {
		/* RFC 3596 2.5: nibbles in reverse order, low nibble first. */
		if (outlen < 32 * 2 + sizeof("ip6.arpa."))
			goto nospc;
		for (int i = 15; i >= 0; i--) {
			out[off++] = hex[a->bytes[i] & 0xf];
			out[off++] = '.';
			out[off++] = hex[a->bytes[i] >> 4];
			out[off++] = '.';
		}
		memcpy(out + off, "ip6.arpa.", sizeof("ip6.arpa."));
		off += sizeof("ip6.arpa.") - 1;
	} else {
		return -EINVAL;
	}
	if (zl > 0) {
		if (off + zl + 2 > outlen)
			goto nospc;
		memcpy(out + off, zone, zl);
		out[off + zl] = '.';
		out[off + zl + 1] = '\0';
	}
	return 0;
nospc:
	out[0] = '\0';
	return -ENOSPC;
}

int rv_rpz_format_txt(const rv_change *c, char *out, size_t outlen)
{
	/* The score is a float that depends on configured weights: clamp it so a
	 * silly weight cannot print "inf" or overflow the TXT string (255 octets). */
	double score = c->score;
	if (!(score >= 0.0))
		score = 0.0;
	if (score > 999999999.0)
		score = 999999999.0;
	bool cc = c->country[0] != '\0';
	int r = snprintf(out, outlen, "first=%" PRId64 " last=%" PRId64 " count=%" PRIu64
			" depth=%u score=%.2f%s%.2s", c->first, c->last, c->count, c->depth, score,
			cc ? " country=" : "", cc ? c->country : "");
	if (r < 0 || (size_t)r >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}

/* ---- the wire encoder ----
 *
 * We write UPDATE messages ourselves instead of through a DNS library: ldns'
 * name compression (a tree of every name written, compared label by label)
 * and running it twice per message (to sign, then for the wire) took 68% of
 * the CPU of a full batch with 36-label ip6.arpa owners; and writing the bytes
 * ourselves makes the byte budget exact instead of an upper bound ~2.8x the
 * real size.
 *
 * Layout (RFC 2136 2): header; zone section "<zone> IN SOA" at offset 12; no
 * prerequisites; then per change, in the update section,
 *   owner ANY PTR 0 -          delete the PTR RRset (2.5.2), unless the
 *   owner ANY TXT 0 -          delete the TXT RRset     zone is known to be empty there
 *   owner IN  PTR ttl target   add (2.5.1), unless the change removes
 *   owner IN  TXT ttl "meta"
 * and last the TSIG RR (RFC 8945 4.2) in the additional section.
 * The owner is the address labels followed by a compression pointer (RFC 1035
 * 4.1.4) to "in-addr.arpa.<zone>" / "ip6.arpa.<zone>" (written out once, ending
 * in a pointer to the zone at offset 12); its three repeats are pointers to the
 * first copy. Pointers hold 14-bit offsets, so only a name that starts in the
 * first 16 KiB can be pointed to: past that, each repeat is written like the
 * first (address labels + suffix pointer). PTR targets are written out in full:
 * RFC 3597 4 would allow compressing them, but names are short next to the
 * owners and a plain target cannot be misread.
 */

#define PTR_REACH 0x4000                  /* offsets a pointer can hold */
#define ZONE_PTR (0xc000 | RV_DNS_HDR)    /* the zone name in the zone section */

/* The reverse suffixes, without the zone, per address family (0 IPv4, 1 IPv6). */
static const uint8_t arpa_labels[2][14] = { "\7in-addr\4arpa", "\3ip6\4arpa" };
static const size_t arpa_len[2] = { 13, 9 };

/* Name text (RFC 1035 5.1 escapes, trailing dot optional) -> full wire form
 * into out[RV_DNAME_WIRE_MAX]; 0 or -EINVAL, the root included: it is no
 * usable zone, and as a PTR target it is an RPZ action (NXDOMAIN), not a name. */
static int name_wire(const char *s, size_t len, uint8_t *out, size_t *outlen)
{
	if (rv_dname_from_text(s, len, 0, out, outlen, NULL) < 0 || *outlen < 2)
		return -EINVAL;
	return 0;
}

/* The address labels of an owner name: "4.3.2.1" or the 32 nibbles, low first
 * (RFC 3596 2.5). Returns their length (at most 64). */
static size_t addr_labels(const rv_addr *a, uint8_t *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (a->family == AF_INET) {
		for (int i = 3; i >= 0; i--) {
			unsigned v = a->bytes[i];
			size_t lp = o++;
			if (v >= 100)
				out[o++] = (uint8_t)('0' + v / 100);
			if (v >= 10)
				out[o++] = (uint8_t)('0' + v / 10 % 10);
			out[o++] = (uint8_t)('0' + v % 10);
			out[lp] = (uint8_t)(o - lp - 1);
		}
		return o;
	}
	for (int i = 15; i >= 0; i--) {
		out[o++] = 1;
		out[o++] = (uint8_t)hex[a->bytes[i] & 0xf];
		out[o++] = 1;
		out[o++] = (uint8_t)hex[a->bytes[i] >> 4];
	}
	return o;
}

struct enc {
	uint8_t *buf;
	size_t len;
	size_t limit;        /* the budget minus the TSIG RR */
	size_t nrr;          /* update section RRs */
	size_t suffix[2];    /* where "in-addr.arpa.<zone>" / "ip6.arpa.<zone>" is; 0: nowhere reachable yet */
};

struct owner {
	uint8_t labels[64];
	size_t len;
	unsigned fam;        /* 0 IPv4, 1 IPv6 */
	size_t at;           /* a copy a pointer can reach; 0: none yet */
};

static void put(struct enc *e, const void *p, size_t n)
{
	if (n > 0)
		memcpy(e->buf + e->len, p, n);
	e->len += n;
}

static void put16(struct enc *e, unsigned v)
{
	rv_put16(e->buf + e->len, v);
	e->len += 2;
}

static size_t owner_size(const struct enc *e, const struct owner *o)
{
	if (o->at != 0)
		return 2;
	return o->len + (e->suffix[o->fam] != 0 ? 0 : arpa_len[o->fam]) + 2;
}

static void put_owner(struct enc *e, struct owner *o)
{
	size_t start = e->len;

	if (o->at != 0) {
		put16(e, 0xc000 | (unsigned)o->at);
		return;
	}
	put(e, o->labels, o->len);
	if (e->suffix[o->fam] != 0) {
		put16(e, 0xc000 | (unsigned)e->suffix[o->fam]);
	} else {
		if (e->len < PTR_REACH)
			e->suffix[o->fam] = e->len;
		put(e, arpa_labels[o->fam], arpa_len[o->fam]);
		put16(e, ZONE_PTR);
	}
	if (start < PTR_REACH)
		o->at = start;
}

/* One update-section RR with rdata a[0..al) b[0..bl); -ENOSPC past the limit. */
static int put_rr(struct enc *e, struct owner *o, unsigned type, unsigned cls, uint32_t ttl,
		const void *a, size_t al, const void *b, size_t bl)
{
	if (e->len + owner_size(e, o) + RV_DNS_RR_FIXED + al + bl > e->limit)
		return -ENOSPC;
	put_owner(e, o);
	put16(e, type);
	put16(e, cls);
	rv_put32(e->buf + e->len, ttl);
	e->len += 4;
	put16(e, (unsigned)(al + bl));
	put(e, a, al);
	put(e, b, bl);
	e->nrr++;
	return 0;
}

/* One change (target NULL: remove the address). absent: the zone holds nothing
 * at the owner, so the RRset deletions are left out (BIND's work per new
 * address is then two RRs instead of four). All or nothing: on -ENOSPC the
 * message is as it was. */
static int put_change(struct enc *e, struct owner *o, const uint8_t *target, size_t tlen,
		const char *txt, size_t txtlen, uint32_t ttl, bool absent)
{
	struct enc saved = *e;
	uint8_t sl = (uint8_t)txtlen;   /* one <character-string> (RFC 1035 3.3) */

	if ((!absent && (put_rr(e, o, RV_TYPE_PTR, RV_CLASS_ANY, 0, NULL, 0, NULL, 0) < 0 ||
			 put_rr(e, o, RV_TYPE_TXT, RV_CLASS_ANY, 0, NULL, 0, NULL, 0) < 0)) ||
	    (target != NULL &&
	     (put_rr(e, o, RV_TYPE_PTR, RV_CLASS_IN, ttl, target, tlen, NULL, 0) < 0 ||
	      put_rr(e, o, RV_TYPE_TXT, RV_CLASS_IN, ttl, &sl, 1, txt, txtlen) < 0))) {
		*e = saved;
		return -ENOSPC;
	}
	return 0;
}

/* Everything of c that can be invalid, checked before any byte is written:
 * the owner (at most 255 octets, RFC 1035 3.1, with zone_len counting the
 * root), the PTR target (made absolute), the TXT text. -EINVAL if unusable. */
static int prep_change(const rv_change *c, size_t zone_len_wire, struct owner *o,
		uint8_t target[RV_DNAME_WIRE_MAX], size_t *tlen, char txt[128], size_t *txtlen)
{
	if (c->addr.family != AF_INET && c->addr.family != AF_INET6)
		return -EINVAL;
	o->fam = c->addr.family == AF_INET6;
	o->len = addr_labels(&c->addr, o->labels);
	o->at = 0;
	if (o->len + arpa_len[o->fam] + zone_len_wire > RV_DNAME_WIRE_MAX)
		return -EINVAL;
	if (c->remove)
		return 0;
	size_t nl = strnlen(c->name, RV_NAME_MAX);
	if (nl >= RV_NAME_MAX || name_wire(c->name, nl, target, tlen) < 0)
		return -EINVAL;
	if (rv_rpz_format_txt(c, txt, RV_TXT_MAX + 1) < 0)
		return -EINVAL;
	*txtlen = strlen(txt);
	return 0;
}

/* A rough size of one change, for the writer to decide how many to take from
 * the table: exact for a change in the first 16 KiB, an underestimate past it
 * (where the owner is repeated in full), so batches come out full and what
 * does not fit leads the next one. */
static size_t change_est(const rv_change *c)
{
	uint8_t l[64];
	size_t owner = addr_labels(&c->addr, l) + 2;
	size_t n = owner + RV_DNS_RR_FIXED + 2 + RV_DNS_RR_FIXED;
	if (!c->remove)
		n += 2 + RV_DNS_RR_FIXED + strnlen(c->name, RV_NAME_MAX) + 2 + 2 +
			RV_DNS_RR_FIXED + 1 + 60;
	return n;
}

/* ---- TSIG: what the writer needs to size messages (signing is tsig.c's) ---- */

struct tsig {
	size_t rr_len;   /* rv_tsig_rr_len() of the key */
};

/* 0, or -EINVAL for a key we cannot sign with. */
static int tsig_prepare(const rv_tsig_key *k, struct tsig *t)
{
	rv_tsig ts;
	int r = rv_tsig_init(&ts, k);

	t->rr_len = r == 0 ? rv_tsig_rr_len(&ts) : 0;
	rv_tsig_clear(&ts);
	return r;
}

/* ---- one UPDATE message ---- */

struct rv_rpz_msg {
	uint8_t *wire;
	size_t len;
	uint16_t id;
	uint8_t mac[RV_TSIG_MAC_MAX];   /* our MAC, which the reply's covers (RFC 8945 5.3) */
	size_t mac_len;                 /* 0: unsigned */
};

static uint16_t random_id(void)
{
	static uint32_t fallback;
	uint16_t id;

	/* Message IDs should be unpredictable (RFC 5452 4.3); TSIG protects the
	 * UPDATE itself, so the fallback for a machine without entropy yet (early
	 * boot, GRND_NONBLOCK) only needs to vary. */
	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) == (ssize_t)sizeof(id))
		return id;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fallback = fallback * 1103515245u + 12345u + (uint32_t)ts.tv_nsec;
	return (uint16_t)(fallback >> 16);
}

/* Zone text -> wire; 0 or -EINVAL (the root is no usable RPZ). */
static int zone_wire(const char *zone, uint8_t out[RV_DNAME_WIRE_MAX], size_t *len)
{
	if (zone == NULL)
		return -EINVAL;
	return name_wire(zone, strnlen(zone, RV_NAME_MAX), out, len);
}

/* Bytes of everything but the changes: header, zone section, TSIG RR. */
static size_t msg_fixed(size_t zone_len_wire, const struct tsig *t)
{
	return RV_DNS_HDR + zone_len_wire + 4 + (t != NULL ? t->rr_len : 0);
}

/*
 * Invalid names (a PTR target that is no valid name, an owner name over 255
 * octets): if changes[0] is invalid we return -EINVAL with *n_used = 1 so the
 * caller can drop (and log) exactly that change; an invalid change further on
 * ends the batch just before it, so it becomes changes[0] of the next call. A
 * -EINVAL with *n_used = 0 means the zone or the key is unusable (configuration).
 * Size: a change goes in only if it fits whole in max_bytes minus the TSIG RR,
 * so the signed message never exceeds max_bytes.
 */
int rv_rpz_msg_build(const rv_rpz_build *b, const rv_change *changes, size_t n,
		size_t *n_used, rv_rpz_msg **msg)
{
	rv_tsig t;
	uint8_t zone[RV_DNAME_WIRE_MAX];
	size_t zlen, used = 0;
	struct enc e = { 0 };
	rv_rpz_msg *m = NULL;
	int ret = -EINVAL;

	memset(&t, 0, sizeof(t));
	*n_used = 0;
	*msg = NULL;
	if (b == NULL || changes == NULL || n == 0 || zone_wire(b->zone, zone, &zlen) < 0)
		goto out;
	if (b->key != NULL && rv_tsig_init(&t, b->key) < 0)
		goto out;
	size_t budget = b->max_bytes < RV_DNS_MSG_MAX ? b->max_bytes : RV_DNS_MSG_MAX;
	struct tsig sz = { .rr_len = b->key != NULL ? rv_tsig_rr_len(&t) : 0 };
	ret = -EMSGSIZE;
	if (budget < msg_fixed(zlen, &sz))
		goto out;

	ret = -ENOMEM;
	m = calloc(1, sizeof(*m));
	e.buf = malloc(budget);
	if (m == NULL || e.buf == NULL)
		goto out;
	e.limit = budget - sz.rr_len;
	m->id = random_id();
	/* Header (RFC 2136 2.2): ID, QR 0, opcode UPDATE, all flags zero (RD
	 * too); ZOCOUNT 1, PRCOUNT 0, UPCOUNT and ADCOUNT filled in below. */
	put16(&e, m->id);
	put16(&e, RV_OPCODE_UPDATE << 11);
	put16(&e, 1);
	put16(&e, 0);
	put16(&e, 0);
	put16(&e, 0);
	/* Zone section: zone IN SOA (2.3). */
	put(&e, zone, zlen);
	put16(&e, RV_TYPE_SOA);
	put16(&e, RV_CLASS_IN);

	for (used = 0; used < n; used++) {
		const rv_change *c = &changes[used];
		struct owner o;
		uint8_t target[RV_DNAME_WIRE_MAX];
		char txt[128];
		size_t tlen = 0, txtlen = 0;

		if (prep_change(c, zlen, &o, target, &tlen, txt, &txtlen) < 0) {
			if (used > 0)
				break;          /* the next batch starts with it */
			*n_used = 1;
			ret = -EINVAL;
			goto out;
		}
		if (put_change(&e, &o, c->remove ? NULL : target, tlen, txt, txtlen, b->ttl,
				!c->remove && c->absent) < 0)
			break;
	}
	if (used == 0) {
		ret = -EMSGSIZE;
		goto out;
	}
	/* At least 12 bytes per RR: far fewer than 65,535 fit. */
	rv_put16(e.buf + 8, (unsigned)e.nrr);

	if (b->key != NULL) {
		/* e.limit left room for the TSIG RR. */
		ret = rv_tsig_sign(&t, NULL, 0, e.buf, &e.len, budget, (int64_t)time(NULL), m->mac);
		if (ret < 0)
			goto out;
		m->mac_len = t.mac_len;
	}
	m->wire = e.buf;
	m->len = e.len;
	e.buf = NULL;
	*msg = m;
	*n_used = used;
	m = NULL;
	ret = 0;
out:
	rv_tsig_clear(&t);
	free(e.buf);
	rv_rpz_msg_free(&m);
	return ret;
}

const uint8_t *rv_rpz_msg_wire(const rv_rpz_msg *m, size_t *len)
{
	*len = m->len;
	return m->wire;
}

uint16_t rv_rpz_msg_id(const rv_rpz_msg *m)
{
	return m->id;
}

void rv_rpz_msg_free(rv_rpz_msg **m)
{
	if (m == NULL || *m == NULL)
		return;
	free((*m)->wire);
	explicit_bzero((*m)->mac, sizeof((*m)->mac));
	free(*m);
	*m = NULL;
}

int rv_rpz_check_reply(const rv_rpz_msg *m, const rv_tsig_key *key,
		const uint8_t *wire, size_t len, int *rcode, char *err, size_t errlen)
{
	rv_dns_msg msg;
	rv_tsig t;
	rv_tsig_reply chk;
	char rbuf[16], why[160];
	int ret = -EBADMSG;

	memset(&t, 0, sizeof(t));
	memset(&chk, 0, sizeof(chk));
	*rcode = -1;
	if (errlen > 0)
		err[0] = '\0';
	if (wire == NULL || len < RV_DNS_HDR) {
		snprintf(err, errlen, "short reply (%zu bytes)", len);
		goto out;
	}
	if (rv_dnswire_scan(wire, len, &msg, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "malformed reply: %s", why);
		goto out;
	}
	if (msg.id != m->id) {
		snprintf(err, errlen, "reply ID %u does not match request ID %u", msg.id, m->id);
		goto out;
	}
	if (!rv_dns_qr(&msg) || rv_dns_opcode(&msg) != RV_OPCODE_UPDATE) {
		snprintf(err, errlen, "not an UPDATE reply");
		goto out;
	}
	*rcode = (int)rv_dns_rcode(&msg);
	const char *rname = rv_dns_rcode_name((unsigned)*rcode, rbuf, sizeof(rbuf));

	if (m->mac_len > 0) {
		/* RFC 8945 5.3: the reply to a signed request must be signed, over our
		 * MAC, and in time (5.4.2); on a key or signature failure BIND answers
		 * NOTAUTH with a TSIG that carries the error and an empty MAC (5.3.2),
		 * which we report as such. */
		ret = -EACCES;
		if (key == NULL) {
			snprintf(err, errlen, "%s, no key to verify the reply", rname);
			goto out;
		}
		if (rv_tsig_init(&t, key) < 0) {
			snprintf(err, errlen, "%s, unusable key", rname);
			goto out;
		}
		rv_tsig_reply_init(&chk, &t, m->id, m->mac, m->mac_len);
		ret = rv_tsig_reply_check(&chk, wire, len, &msg, (int64_t)time(NULL), "reply", why,
				sizeof(why));
		if (ret != 0) {
			/* A single reply has nothing after it to cover it. */
			if (ret == RV_TSIG_HELD || ret == -EACCES) {
				ret = -EACCES;
				snprintf(err, errlen, "%s, %s", rname, why);
			} else {
				snprintf(err, errlen, "%s, %s", rname, strerror(-ret));
			}
			goto out;
		}
	}
	if (*rcode != RV_RCODE_NOERROR) {
		snprintf(err, errlen, "%s", rname);
		ret = -EREMOTEIO;
		goto out;
	}
	snprintf(err, errlen, "NOERROR");
	ret = 0;
out:
	rv_tsig_reply_clear(&chk);
	rv_tsig_clear(&t);
	return ret;
}

/* ---- the writer ---- */

enum fail_kind { F_CONN, F_TIMEOUT, F_RCODE, F_TSIG, F_PROTO, F_BUILD };

static const char *const fail_verb[] = {
	[F_CONN] = "failed",
	[F_TIMEOUT] = "timed out",
	[F_RCODE] = "was answered",
	[F_TSIG] = "failed the TSIG check",
	[F_PROTO] = "got a bad reply",
	[F_BUILD] = "could not be built",
};

struct rv_rpz_writer {
	struct event_base *base;
	rv_change_feed feed;       /* where changes come from and results go */
	rv_rpz_writer_opts opts;   /* strings point to the copies below */
	char *server;
	char *zone;
	rv_tsig_key key;                /* signs the next UPDATE (rv_rpz_writer_set_key) */
	bool has_key;
	/* The key that signed the UPDATE in flight: its reply is verified with
	 * it, even if a reload installed another key meanwhile. */
	rv_tsig_key flight_key;
	struct sockaddr_storage sa;
	socklen_t salen;
	char peer[RV_ADDR_STRLEN + 8];  /* "127.0.0.1#5353", as BIND logs it */
	size_t fixed;                   /* msg_fixed(): header, zone, TSIG */
	size_t budget;                  /* batch_bytes, clamped */

	struct bufferevent *bev;        /* NULL: not connected */
	bool connected;
	struct event *flush_ev;         /* flush_interval_ms after a kick */
	struct event *timeout_ev;       /* connect + reply of the UPDATE in flight */
	struct event *retry_ev;         /* backoff after a failure */

	/* Changes popped from the table and not yet acknowledged: buf[0..n_flight)
	 * are in the UPDATE in flight, buf[n_flight..n_buf) did not fit in it and
	 * lead the next batch. */
	rv_change *buf;
	size_t n_buf, n_flight, cap;
	rv_rpz_msg *msg;                /* in flight, or NULL */
	uint8_t *rbuf;                  /* one reply, RV_DNS_MSG_MAX */

	bool in_backoff;
	bool held;                      /* rv_rpz_writer_hold: start no UPDATE */
	struct event *drain_ev;         /* rv_rpz_writer_drain deadline */
	void (*drained)(void *arg, size_t left);
	uint64_t drain_deadline_ms;
	void *drained_arg;
	uint64_t sent_ms;               /* monotonic time the last UPDATE was sent */
	int64_t last_ok;                /* epoch seconds of the last acknowledged UPDATE */
	rv_stats_histogram latency;     /* send -> verified NOERROR reply */
	uint64_t partial_ms;            /* ...and the last partial one; 0: never */
	uint64_t rate_ok_ms;            /* max_rate: no UPDATE goes before this time */
	size_t last_used;               /* addresses in the last UPDATE sent (rate_ok_ms) */
	bool uncapped;                  /* flush_now lifted max_rate (shutdown) */
	unsigned srtt_ms;               /* smoothed reply time of successful UPDATEs; 0: none yet */
	unsigned backoff_ms;
	unsigned fail_streak;           /* consecutive failed attempts */
	char last_fail[256];            /* to log repeats at debug only */
	char last_error[256];           /* the last failure, as logged (for /healthz) */
	size_t avg_change;              /* bytes per change in the last UPDATE, for kick() */
};

static void start_batch(rv_rpz_writer *w);

static struct timeval ms_tv(unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	return tv;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* At least one full batch is waiting (in buf or in the table). */
static bool batch_full(const rv_rpz_writer *w)
{
	size_t est = w->fixed + (w->feed.queued(w->feed.arg) + w->n_buf) * w->avg_change;
	return est >= w->budget;
}

/*
 * How long a partial batch still waits, at least min_ms: until
 * max(flush_interval, PACE_RTT_FACTOR * srtt) after the previous partial one.
 */
static unsigned pace_delay_ms(const rv_rpz_writer *w, unsigned min_ms)
{
	uint64_t gap = (uint64_t)PACE_RTT_FACTOR * w->srtt_ms;
	if (gap < w->opts.flush_interval_ms)
		gap = w->opts.flush_interval_ms;
	uint64_t now = mono_ms(), due = w->partial_ms + gap;
	uint64_t d = w->partial_ms != 0 && due > now ? due - now : 0;
	if (d < min_ms)
		d = min_ms;
	return d > 3600000 ? 3600000 : (unsigned)d;
}

static void arm_flush(rv_rpz_writer *w, unsigned ms)
{
	struct timeval tv = ms_tv(ms);
	evtimer_add(w->flush_ev, &tv);
}

static void close_conn(rv_rpz_writer *w)
{
	if (w->bev != NULL)
		bufferevent_free(w->bev);
	w->bev = NULL;
	w->connected = false;
}

/* Drops buf[0..k) and keeps the rest in order. */
static void buf_shift(rv_rpz_writer *w, size_t k)
{
	memmove(w->buf, w->buf + k, (w->n_buf - k) * sizeof(*w->buf));
	w->n_buf -= k;
}

static void fail(rv_rpz_writer *w, enum fail_kind kind, const char *detail)
{
	size_t n = w->n_flight;

	event_del(w->timeout_ev);
	/* Nothing is lost: the table queues the addresses again (at the front), and
	 * pops their then-current best name when we retry. */
	for (size_t i = 0; i < n; i++)
		w->feed.requeue(w->feed.arg, &w->buf[i]);
	buf_shift(w, n);
	w->n_flight = 0;
	rv_rpz_msg_free(&w->msg);
	close_conn(w);

	rv_stats.rpz_updates_failed++;
	switch (kind) {
	case F_RCODE: rv_stats.rpz_rcode_errors++; break;
	case F_TSIG: rv_stats.rpz_tsig_errors++; break;
	case F_TIMEOUT: rv_stats.rpz_timeouts++; break;
	case F_CONN:
	case F_PROTO: rv_stats.rpz_conn_errors++; break;
	case F_BUILD: break;
	}

	unsigned delay = w->backoff_ms;
	w->fail_streak++;
	char sig[sizeof(w->last_fail)];
	/* What makes a failure "the same one": its kind, plus the rcode or TSIG
	 * error text where that is stable. Connection errors are one failure
	 * however the peer's close happens to surface (EOF, ECONNRESET, EPIPE
	 * depend on timing), so a dead server is reported once, not per flip. */
	snprintf(sig, sizeof(sig), "%d %s", (int)kind,
		 kind == F_CONN || kind == F_TIMEOUT ? "" : detail);
	/* First failure of a streak (or a different one) at error, repeats at debug:
	 * a BIND outage must not flood the log. */
	int level = (w->fail_streak == 1 || strcmp(sig, w->last_fail) != 0) ? RV_LOG_ERR
		: RV_LOG_DEBUG;
	memcpy(w->last_fail, sig, sizeof(sig));
	snprintf(w->last_error, sizeof(w->last_error), "UPDATE to %s zone %s %s: %s", w->peer,
		 w->zone, fail_verb[kind], detail);
	rv_log(level, SUB, "UPDATE to %s zone %s %s: %s (%zu addresses kept queued, "
			"retrying in %.1f s)", w->peer, w->zone, fail_verb[kind], detail,
			w->feed.queued(w->feed.arg) + w->n_buf, delay / 1000.0);

	w->in_backoff = true;
	struct timeval tv = ms_tv(delay);
	evtimer_add(w->retry_ev, &tv);
	w->backoff_ms = delay >= w->opts.retry_max_ms / 2 ? w->opts.retry_max_ms : delay * 2;
}

static void succeed(rv_rpz_writer *w)
{
	size_t n = w->n_flight;

	event_del(w->timeout_ev);
	for (size_t i = 0; i < n; i++)
		w->feed.committed(w->feed.arg, &w->buf[i]);
	buf_shift(w, n);
	w->n_flight = 0;
	rv_rpz_msg_free(&w->msg);
	rv_stats.rpz_updates_ok++;
	rv_stats.rpz_records_committed += n;
	rv_debug(SUB, "UPDATE to %s zone %s: %zu addresses committed", w->peer, w->zone, n);
	if (w->fail_streak > 0) {
		rv_notice(SUB, "%s zone %s accepting updates again after %u failed attempts",
				w->peer, w->zone, w->fail_streak);
		w->fail_streak = 0;
		w->last_fail[0] = '\0';
		w->last_error[0] = '\0';
	}
	w->backoff_ms = w->opts.retry_min_ms;
	/* RFC 6298-style smoothing (gain 1/8): one slow reply does not stall
	 * the next batches. */
	unsigned rtt = (unsigned)(mono_ms() - w->sent_ms);
	rv_stats_histogram_observe(&w->latency, rtt);
	w->last_ok = (int64_t)time(NULL);
	w->srtt_ms = w->srtt_ms == 0 ? rtt : (7 * w->srtt_ms + rtt) / 8;
	/* A backlog drains in back-to-back full batches; a partial one is paced. */
	if (batch_full(w))
		start_batch(w);
	else if (w->n_buf > 0 || w->feed.queued(w->feed.arg) > 0)
		arm_flush(w, pace_delay_ms(w, 0));
}

static void on_reply(rv_rpz_writer *w, const uint8_t *data, size_t len)
{
	char err[256];
	int rcode;

	if (w->msg == NULL) {
		/* Nothing asked: not a DNS server we understand. */
		rv_warn(SUB, "%s: unexpected message of %zu bytes, closing the connection",
				w->peer, len);
		close_conn(w);
		return;
	}
	int r = rv_rpz_check_reply(w->msg, w->has_key ? &w->flight_key : NULL, data, len, &rcode,
			err, sizeof(err));
	if (r == 0)
		succeed(w);
	else if (r == -EACCES)
		fail(w, F_TSIG, err);
	else if (r == -EREMOTEIO) {
		rv_stats.rpz_rcodes[rcode >= 0 && rcode < 15 ? rcode : 15]++;
		fail(w, F_RCODE, err);
	}
	else
		fail(w, F_PROTO, err);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	rv_rpz_writer *w = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (w->bev == bev) {
		int len = rv_dnstcp_take(in, w->rbuf);
		if (len < 0)
			return;
		/* on_reply may free bev (close_conn): the loop condition checks it. */
		on_reply(w, w->rbuf, (size_t)len);
	}
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
	rv_rpz_writer *w = arg;
	int e = EVUTIL_SOCKET_ERROR();
	char detail[128];

	(void)bev;
	if (events & BEV_EVENT_CONNECTED) {
		w->connected = true;
		rv_info(SUB, "connected to %s", w->peer);
		return;
	}
	if (!(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (w->msg == NULL) {
		/* BIND closes idle connections (tcp-idle-timeout, 30 s): reconnect on
		 * the next batch. */
		rv_debug(SUB, "%s closed the idle connection", w->peer);
		close_conn(w);
		return;
	}
	if (events & BEV_EVENT_EOF)
		snprintf(detail, sizeof(detail), "connection closed by the server");
	else if (!w->connected)
		snprintf(detail, sizeof(detail), "connect: %s", e ? strerror(e) : "failed");
	else
		snprintf(detail, sizeof(detail), "%s", e ? strerror(e) : "connection error");
	fail(w, F_CONN, detail);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	rv_rpz_writer *w = arg;
	char detail[64];

	(void)fd;
	(void)what;
	snprintf(detail, sizeof(detail), "%s within %u ms",
			w->connected ? "no reply" : "no connection", w->opts.timeout_ms);
	fail(w, F_TIMEOUT, detail);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	rv_rpz_writer *w = arg;

	(void)fd;
	(void)what;
	w->in_backoff = false;
	start_batch(w);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_batch(arg);
}

/* Opens the connection (non-blocking). 0, or -errno. */
static int connect_server(rv_rpz_writer *w)
{
	int one = 1;
	int fd = socket(w->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* A request and its reply are whole messages: don't let Nagle hold the
	 * tail of one back for the server's delayed ACK. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	w->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (w->bev == NULL) {
		close(fd);
		return -ENOMEM;
	}
	w->connected = false;
	bufferevent_setcb(w->bev, read_cb, NULL, event_cb, w);
	if (bufferevent_enable(w->bev, EV_READ | EV_WRITE) < 0 ||
	    bufferevent_socket_connect(w->bev, (struct sockaddr *)&w->sa, (int)w->salen) < 0) {
		int e = errno ? errno : ECONNREFUSED;
		close_conn(w);
		return -e;
	}
	return 0;
}

/* Fills buf from the feed up to about one batch. */
static void fill(rv_rpz_writer *w)
{
	size_t est = w->fixed;

	for (size_t i = 0; i < w->n_buf; i++)
		est += change_est(&w->buf[i]);
	while (est <= w->budget) {
		if (w->n_buf == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 256;
			rv_change *nb = realloc(w->buf, cap * sizeof(*nb));
			if (nb == NULL)
				break;
			w->buf = nb;
			w->cap = cap;
		}
		if (w->feed.pop(w->feed.arg, &w->buf[w->n_buf]) < 0)
			break;
		est += change_est(&w->buf[w->n_buf]);
		w->n_buf++;
	}
}

static void start_batch(rv_rpz_writer *w)
{
	char addr[RV_ADDR_STRLEN];
	rv_rpz_build b = {
		.zone = w->zone, .ttl = w->opts.ttl, .max_bytes = w->budget,
		.key = w->has_key ? &w->key : NULL,
	};
	size_t used = 0;
	int r;

	if (w->msg != NULL || w->in_backoff || w->held)
		return;
	if (w->opts.max_rate != 0 && !w->uncapped) {
		uint64_t now = mono_ms();
		if (now < w->rate_ok_ms) {
			arm_flush(w, (unsigned)(w->rate_ok_ms - now));
			return;
		}
	}
	event_del(w->flush_ev);
	fill(w);
	for (;;) {
		if (w->n_buf == 0)
			return;
		b.max_bytes = w->budget;
		r = rv_rpz_msg_build(&b, w->buf, w->n_buf, &used, &w->msg);
		if (r == -EMSGSIZE && w->budget < RV_DNS_MSG_MAX) {
			/* One change larger than batch_bytes (a long name, a tiny budget):
			 * send it alone rather than never. */
			b.max_bytes = RV_DNS_MSG_MAX;
			r = rv_rpz_msg_build(&b, w->buf, 1, &used, &w->msg);
		}
		if ((r == -EINVAL && used == 1) || r == -EMSGSIZE) {
			rv_err(SUB, "dropping the change for %s (name \"%s\"): %s",
					rv_addr_str(&w->buf[0].addr, addr, sizeof(addr)),
					w->buf[0].name, r == -EMSGSIZE ? "too large" : "invalid name");
			/* Not retried until the address gets another best name. */
			w->feed.rejected(w->feed.arg, &w->buf[0]);
			rv_stats.rpz_rejected++;
			buf_shift(w, 1);
			continue;
		}
		break;
	}
	if (r < 0) {
		fail(w, F_BUILD, strerror(-r));
		return;
	}
	w->n_flight = used;
	if (w->has_key)
		w->flight_key = w->key;
	size_t mlen;
	(void)rv_rpz_msg_wire(w->msg, &mlen);
	w->avg_change = (mlen - w->fixed) / used;

	if (w->bev == NULL) {
		r = connect_server(w);
		if (r < 0) {
			char detail[128];
			snprintf(detail, sizeof(detail), "connect: %s", strerror(-r));
			fail(w, F_CONN, detail);
			return;
		}
	}
	size_t len;
	const uint8_t *wire = rv_rpz_msg_wire(w->msg, &len);
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	struct evbuffer *out = bufferevent_get_output(w->bev);
	/* Before the connection completes, libevent buffers the bytes. */
	if (evbuffer_add(out, hdr, 2) < 0 || evbuffer_add(out, wire, len) < 0) {
		fail(w, F_BUILD, strerror(ENOMEM));
		return;
	}
	rv_stats.rpz_updates_sent++;
	w->sent_ms = mono_ms();
	w->last_used = used;
	if (w->opts.max_rate != 0)
		w->rate_ok_ms = w->sent_ms + (uint64_t)used * 1000 / w->opts.max_rate;
	if (used == w->n_buf && w->feed.queued(w->feed.arg) == 0)
		w->partial_ms = w->sent_ms;
	rv_debug(SUB, "UPDATE id %u to %s zone %s: %zu addresses, %zu bytes (srtt %u ms)",
			rv_rpz_msg_id(w->msg), w->peer, w->zone, used, len, w->srtt_ms);
	struct timeval tv = ms_tv(w->opts.timeout_ms);
	evtimer_add(w->timeout_ev, &tv);
}

static uint64_t read_last_ok(const void *arg)
{
	const rv_rpz_writer *w = arg;

	return w->last_ok > 0 ? (uint64_t)w->last_ok : 0;
}

/* Defaults for zero values, and the batch budget: at rv_rpz_writer_new and at
 * every rv_rpz_writer_set_opts. */
static void normalise_opts(rv_rpz_writer *w)
{
	if (w->opts.timeout_ms == 0)
		w->opts.timeout_ms = 5000;
	if (w->opts.retry_min_ms == 0)
		w->opts.retry_min_ms = 1;
	if (w->opts.retry_max_ms < w->opts.retry_min_ms)
		w->opts.retry_max_ms = w->opts.retry_min_ms;
	w->budget = w->opts.batch_bytes == 0 || w->opts.batch_bytes > RV_DNS_MSG_MAX
		? RV_DNS_MSG_MAX : w->opts.batch_bytes;
}

rv_rpz_writer *rv_rpz_writer_new(struct event_base *base, const rv_rpz_writer_opts *opts,
		const rv_tsig_key *key, const rv_change_feed *feed, int *err)
{
	rv_rpz_writer *w = NULL;
	uint8_t zone[255];
	size_t zlen = 0;
	struct tsig t;
	rv_addr a;
	int ret = -EINVAL;

	if (base == NULL || opts == NULL || feed == NULL || opts->server == NULL ||
	    opts->zone == NULL || opts->port == 0)
		goto out;
	if (zone_wire(opts->zone, zone, &zlen) < 0 || rv_addr_parse(opts->server, &a) < 0 ||
	    (key != NULL && tsig_prepare(key, &t) < 0))
		goto out;
	ret = -ENOMEM;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		goto out;
	w->base = base;
	w->feed = *feed;
	w->opts = *opts;
	w->server = strdup(opts->server);
	w->zone = strdup(opts->zone);
	w->rbuf = malloc(RV_DNS_MSG_MAX);
	if (w->server == NULL || w->zone == NULL || w->rbuf == NULL)
		goto out;
	w->opts.server = w->server;
	w->opts.zone = w->zone;
	if (key != NULL) {
		w->key = *key;
		w->has_key = true;
	}
	normalise_opts(w);
	w->backoff_ms = w->opts.retry_min_ms;
	w->fixed = msg_fixed(zlen, key != NULL ? &t : NULL);
	/* Until we have built one: an address like BIND's with a 30-character name. */
	rv_change typical = { .addr = a };
	memset(typical.name, 'x', 30);
	w->avg_change = change_est(&typical);

	ret = rv_dnstcp_peer(opts->server, opts->port, &w->sa, &w->salen, w->peer);
	if (ret < 0)
		goto out;
	ret = -ENOMEM;

	/* UPDATE round trips, 1 ms to 10 s: a loaded BIND takes tens of ms. */
	static const uint32_t latency_bounds[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000,
		2500, 5000, 10000};
	w->latency.nbounds = RV_ARRAY_LEN(latency_bounds);
	w->latency.bounds_ms = latency_bounds;
	if (rv_stats_register_histogram(opts->mover ? "rearview_rpz_move_update_duration_seconds"
			: "rearview_rpz_update_duration_seconds", opts->mover
			? "time from sending an UPDATE of the hot-zone move to its verified NOERROR reply"
			: "time from sending an UPDATE to its verified NOERROR reply",
			&w->latency, w) < 0 ||
	    rv_stats_register(RV_GAUGE, NULL, opts->mover
			? "rearview_rpz_move_last_success_timestamp_seconds"
			: "rearview_rpz_last_success_timestamp_seconds", opts->mover
			? "epoch time of the last UPDATE of the hot-zone move the primary acknowledged (0: none yet)"
			: "epoch time of the last UPDATE the primary acknowledged (0: none yet)",
			read_last_ok, w) < 0)
		goto out;

	w->flush_ev = evtimer_new(base, flush_cb, w);
	w->timeout_ev = evtimer_new(base, timeout_cb, w);
	w->retry_ev = evtimer_new(base, retry_cb, w);
	if (w->flush_ev == NULL || w->timeout_ev == NULL || w->retry_ev == NULL)
		goto out;
	ret = 0;
out:
	explicit_bzero(&t, sizeof(t));
	if (ret < 0)
		rv_rpz_writer_free(&w);
	if (err != NULL)
		*err = ret;
	return w;
}

void rv_rpz_writer_free(rv_rpz_writer **wp)
{
	rv_rpz_writer *w;

	if (wp == NULL || *wp == NULL)
		return;
	w = *wp;
	rv_stats_unregister(w);
	/* Whatever we hold goes back to the table: a later writer (or the AXFR
	 * reconcile at the next start) still sees it as not written. */
	for (size_t i = 0; i < w->n_buf; i++)
		w->feed.requeue(w->feed.arg, &w->buf[i]);
	close_conn(w);
	if (w->flush_ev)
		event_free(w->flush_ev);
	if (w->timeout_ev)
		event_free(w->timeout_ev);
	if (w->retry_ev)
		event_free(w->retry_ev);
	if (w->drain_ev)
		event_free(w->drain_ev);
	rv_rpz_msg_free(&w->msg);
	explicit_bzero(&w->key, sizeof(w->key));
	explicit_bzero(&w->flight_key, sizeof(w->flight_key));
	free(w->buf);
	free(w->rbuf);
	free(w->server);
	free(w->zone);
	free(w);
	*wp = NULL;
}

void rv_rpz_writer_set_opts(rv_rpz_writer *w, const rv_rpz_writer_opts *opts)
{
	/* server, port and zone stay: the connection, the changes in flight and
	 * the reconcile all belong to them. */
	w->opts.ttl = opts->ttl;
	w->opts.flush_interval_ms = opts->flush_interval_ms;
	w->opts.batch_bytes = opts->batch_bytes;
	w->opts.timeout_ms = opts->timeout_ms;
	w->opts.retry_min_ms = opts->retry_min_ms;
	w->opts.retry_max_ms = opts->retry_max_ms;
	w->opts.max_rate = opts->max_rate;
	normalise_opts(w);
	if (w->backoff_ms > w->opts.retry_max_ms)
		w->backoff_ms = w->opts.retry_max_ms;
	if (w->backoff_ms < w->opts.retry_min_ms)
		w->backoff_ms = w->opts.retry_min_ms;
	/* The wait after the last UPDATE follows the new cap (a cap that was
	 * lifted or raised must not keep the old, longer one); a flush already
	 * timed for the old values is re-planned by the next kick. */
	w->rate_ok_ms = w->opts.max_rate == 0 ? 0
		: w->sent_ms + (uint64_t)w->last_used * 1000 / w->opts.max_rate;
	if (w->msg == NULL && !w->in_backoff)
		event_del(w->flush_ev);
}

int rv_rpz_writer_set_key(rv_rpz_writer *w, const rv_tsig_key *key)
{
	uint8_t zone[RV_DNAME_WIRE_MAX];
	size_t zlen = 0;
	struct tsig t;

	if (key == NULL || !w->has_key)
		return -EINVAL; /* signed stays signed: tests alone run unsigned */
	if (tsig_prepare(key, &t) < 0 || zone_wire(w->zone, zone, &zlen) < 0) {
		explicit_bzero(&t, sizeof(t));
		return -EINVAL;
	}
	/* The UPDATE in flight keeps flight_key; the next one is signed with this. */
	w->key = *key;
	w->fixed = msg_fixed(zlen, &t);
	explicit_bzero(&t, sizeof(t));
	return 0;
}

void rv_rpz_writer_kick(rv_rpz_writer *w)
{
	/* In flight: its reply starts the next batch. Backing off: the retry does.
	 * Held: the release does. */
	if (w->msg != NULL || w->in_backoff || w->held)
		return;
	if (batch_full(w))
		start_batch(w);
	else if (!evtimer_pending(w->flush_ev, NULL))
		/* 0 when the last partial batch is a gap ago: the timer fires
		 * after the current read's frames are all in the feed. */
		arm_flush(w, pace_delay_ms(w, 0));
}

void rv_rpz_writer_flush_now(rv_rpz_writer *w)
{
	w->uncapped = true;
	start_batch(w);
}

bool rv_rpz_writer_idle(const rv_rpz_writer *w)
{
	return w->msg == NULL && w->n_buf == 0 && w->feed.queued(w->feed.arg) == 0;
}

void rv_rpz_writer_hold(rv_rpz_writer *w, bool hold)
{
	if (w->held == hold)
		return;
	w->held = hold;
	if (!hold && (w->n_buf > 0 || w->feed.queued(w->feed.arg) > 0))
		rv_rpz_writer_kick(w);
}

bool rv_rpz_writer_in_flight(const rv_rpz_writer *w)
{
	return w->msg != NULL;
}

unsigned rv_rpz_writer_failures(const rv_rpz_writer *w, char *why, size_t len)
{
	if (why != NULL && len > 0)
		snprintf(why, len, "%s", w->fail_streak > 0 ? w->last_error : "");
	return w->fail_streak;
}

static void drain_finish(rv_rpz_writer *w, size_t left)
{
	void (*fn)(void *, size_t) = w->drained;
	w->drained = NULL;
	if (w->drain_ev) {
		event_free(w->drain_ev);
		w->drain_ev = NULL;
	}
	if (fn)
		fn(w->drained_arg, left);
}

/* Polls every 20 ms until idle or the deadline: cheap, and it keeps the
 * success and failure paths free of shutdown logic. */
static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
	rv_rpz_writer *w = arg;
	(void)fd;
	(void)what;
	if (rv_rpz_writer_idle(w) || w->held) {
		drain_finish(w, w->held ? w->n_buf + w->feed.queued(w->feed.arg) : 0);
		return;
	}
	uint64_t now = mono_ms();
	if (now >= w->drain_deadline_ms) {
		drain_finish(w, w->n_buf + w->feed.queued(w->feed.arg));
		return;
	}
	struct timeval tv = ms_tv(20);
	evtimer_add(w->drain_ev, &tv);
}

int rv_rpz_writer_drain(rv_rpz_writer *w, unsigned timeout_ms,
		void (*done)(void *arg, size_t left), void *arg)
{
	if (w->drain_ev)
		return -EALREADY;
	w->drain_ev = evtimer_new(w->base, drain_cb, w);
	if (!w->drain_ev)
		return -ENOMEM;
	w->drained = done;
	w->drained_arg = arg;
	w->drain_deadline_ms = mono_ms() + timeout_ms;
	rv_rpz_writer_flush_now(w);
	struct timeval tv = ms_tv(0);
	evtimer_add(w->drain_ev, &tv);
	return 0;
}
