/*
 * rpz.c - the RPZ writer: turns the table's queued changes into RFC 2136
 * UPDATE messages signed with TSIG (RFC 8945) and sends them to BIND over one
 * persistent TCP connection (RFC 1035 4.2.2 framing, RFC 7766), one message in
 * flight at a time.
 *
 * Message building and reply checking are pure functions over byte buffers (unit
 * and fuzz tests call them directly); the writer is the libevent glue around
 * them and never blocks the loop.
 *
 * Batching (DESIGN 4.3): BIND's cost is per transaction (journal fsync, and a
 * walk of the whole policy zone per RPZ change, DESIGN 4.2), so we pack as many
 * addresses as fit in the byte budget into one UPDATE, and while one is in
 * flight the next batch accumulates in the table ("Nagle" for UPDATEs).
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
#include <ldns/ldns.h>

#include "log.h"
#include "rpz.h"
#include "stats.h"

#define SUB "rpz"

/* RFC 8945 5.2.3 suggests a fudge of 300 s (clock skew tolerated by BIND). */
#define TSIG_FUDGE 300

/* Fixed part of an RR in the wire format: TYPE, CLASS, TTL, RDLENGTH. */
#define RR_FIXED 10

/* Largest TSIG MAC we can produce (hmac-sha512). */
#define TSIG_MAC_MAX 64

/* TSIG error codes (RFC 8945 5.3, IANA "DNS RCODEs"): ldns' rcode table stops at 10. */
static const char *tsig_error_name(unsigned e)
{
	switch (e) {
	case 16: return "BADSIG";
	case 17: return "BADKEY";
	case 18: return "BADTIME";
	case 22: return "BADTRUNC";
	default: return NULL;
	}
}

static const char *rcode_name(int rcode, char *buf, size_t len)
{
	ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, rcode);
	if (lt != NULL && lt->name != NULL)
		return lt->name;
	snprintf(buf, len, "RCODE%d", rcode);
	return buf;
}

/* ---- names ---- */

/* Length of zone without one trailing unescaped dot (zone may come either way). */
static size_t zone_len(const char *zone)
{
	size_t len = strlen(zone);
	if (len > 0 && zone[len - 1] == '.') {
		size_t bs = 0;
		for (size_t i = len - 1; i > 0 && zone[i - 1] == '\\'; i--)
			bs++;
		if (bs % 2 == 0)
			len--;
	}
	return len;
}

int rv_rpz_reverse_name(const rv_addr *a, const char *zone, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t zl = zone_len(zone), off = 0;
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
	int r = snprintf(out, outlen, "first=%" PRId64 " last=%" PRId64 " count=%" PRIu64
			" depth=%u", c->first, c->last, c->count, c->depth);
	if (r < 0 || (size_t)r >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}

/* Wire length of the reverse part of an owner name, without the zone:
 * "4.3.2.1.in-addr.arpa" or the 32 nibbles + "ip6.arpa". */
static size_t reverse_wire_len(const rv_addr *a)
{
	if (a->family == AF_INET) {
		size_t n = (1 + 7) + (1 + 4); /* in-addr, arpa */
		for (int i = 0; i < 4; i++)
			n += 1 + (a->bytes[i] >= 100 ? 3 : a->bytes[i] >= 10 ? 2 : 1);
		return n;
	}
	return 32 * 2 + (1 + 3) + (1 + 4); /* nibbles, ip6, arpa */
}

/*
 * Upper bound of the wire size of one change's RRs, not counting name
 * compression (ldns compresses, but only within the first 16 KiB of a message,
 * so we never count on it). zone_wire includes the root label.
 * Deletes: owner + fixed, no rdata. PTR: + target. TXT: + length byte + text.
 * A presentation name is never shorter on the wire than strlen + 2 (escapes
 * only shrink), so the text length bounds the target.
 */
static size_t change_bound(size_t zone_wire, const rv_change *c)
{
	size_t owner = reverse_wire_len(&c->addr) + zone_wire;
	size_t n = 2 * (owner + RR_FIXED);
	if (!c->remove) {
		size_t name = strnlen(c->name, RV_NAME_MAX) + 2;
		n += owner + RR_FIXED + name;
		char txt[128];
		/* the TXT string; the widest metadata is < 100 characters */
		size_t tl = rv_rpz_format_txt(c, txt, sizeof(txt)) == 0 ? strlen(txt) : 255;
		n += owner + RR_FIXED + 1 + tl;
	}
	return n;
}

/* Header, zone section and the TSIG RR we are going to append. */
static size_t fixed_bound(size_t zone_wire, const rv_tsig_key *key)
{
	size_t n = 12 + zone_wire + 4;
	if (key != NULL) {
		/* owner, fixed, algorithm, time signed 6, fudge 2, MAC size 2 + MAC,
		 * original ID 2, error 2, other length 2 (RFC 8945 4.2) */
		n += strlen(key->name) + 1 + RR_FIXED + strlen(key->algorithm) + 1 + 6 + 2 +
			2 + TSIG_MAC_MAX + 2 + 2 + 2;
	}
	return n;
}

/* zone text -> absolute dname; NULL if it is not a valid name. */
static ldns_rdf *zone_dname(const char *zone)
{
	char buf[RV_NAME_MAX + 2];
	size_t zl = zone_len(zone);

	if (zl == 0 || zl >= RV_NAME_MAX)
		return NULL;
	memcpy(buf, zone, zl);
	buf[zl] = '.';
	buf[zl + 1] = '\0';
	return ldns_dname_new_frm_str(buf);
}

/* ---- one UPDATE message ---- */

struct rv_rpz_msg {
	uint8_t *wire;
	size_t len;
	uint16_t id;
	ldns_rdf *mac;   /* MAC of our TSIG (RFC 8945 5.3.1: the reply's MAC covers it); NULL if unsigned */
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

/* An RR with owner (cloned) and at most one rdata field (consumed). */
static ldns_rr *mk_rr(const ldns_rdf *owner, ldns_rr_type type, ldns_rr_class cls,
		uint32_t ttl, ldns_rdf *rdata)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *o = ldns_rdf_clone(owner);

	if (rr == NULL || o == NULL)
		goto fail;
	ldns_rr_set_owner(rr, o);
	o = NULL;
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, cls);
	ldns_rr_set_ttl(rr, ttl);
	if (rdata != NULL) {
		if (!ldns_rr_push_rdf(rr, rdata))
			goto fail;
	}
	return rr;
fail:
	ldns_rdf_deep_free(o);
	ldns_rdf_deep_free(rdata);
	ldns_rr_free(rr);
	return NULL;
}

/* The PTR target: the change's name made absolute; NULL if it is no valid name. */
static ldns_rdf *target_dname(const char *name)
{
	char buf[RV_NAME_MAX + 2];
	size_t len = strnlen(name, RV_NAME_MAX);

	if (len == 0 || len >= RV_NAME_MAX)
		return NULL;
	memcpy(buf, name, len);
	buf[len] = '\0';
	/* The table stores names without the trailing dot; tolerate one anyway. */
	if (zone_len(buf) == len) {
		buf[len] = '.';
		buf[len + 1] = '\0';
	}
	if (strcmp(buf, ".") == 0)
		return NULL;
	return ldns_dname_new_frm_str(buf);
}

/*
 * Appends one change to the update section (RFC 2136 2.5): delete the owner's
 * PTR and TXT RRsets (class ANY, TTL 0, no rdata, 2.5.2), then, unless the
 * change removes the address, add the new PTR and TXT (2.5.1). All or nothing.
 * -EINVAL for an unusable owner or target name, -ENOMEM.
 */
static int add_change(ldns_pkt *pkt, const char *zone, uint32_t ttl, const rv_change *c)
{
	char owner_txt[RV_NAME_MAX + 128], txt[128];
	uint8_t txt_wire[1 + sizeof(txt)];
	ldns_rdf *owner = NULL, *target = NULL, *txt_rdf = NULL;
	ldns_rr *rrs[4] = { NULL };
	size_t nrr = 0;
	int ret = -EINVAL;

	if (rv_rpz_reverse_name(&c->addr, zone, owner_txt, sizeof(owner_txt)) < 0)
		goto out;
	owner = ldns_dname_new_frm_str(owner_txt);  /* fails above 255 octets */
	if (owner == NULL)
		goto out;
	if (!c->remove) {
		target = target_dname(c->name);
		if (target == NULL)
			goto out;
		if (rv_rpz_format_txt(c, txt, sizeof(txt)) < 0)
			goto out;
		size_t tl = strlen(txt);
		txt_wire[0] = (uint8_t)tl;
		memcpy(txt_wire + 1, txt, tl);
		ret = -ENOMEM;
		txt_rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, tl + 1, txt_wire);
		if (txt_rdf == NULL)
			goto out;
	}
	ret = -ENOMEM;
	rrs[nrr] = mk_rr(owner, LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_ANY, 0, NULL);
	if (rrs[nrr++] == NULL)
		goto out;
	rrs[nrr] = mk_rr(owner, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_ANY, 0, NULL);
	if (rrs[nrr++] == NULL)
		goto out;
	if (!c->remove) {
		rrs[nrr] = mk_rr(owner, LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_IN, ttl, target);
		target = NULL;
		if (rrs[nrr++] == NULL)
			goto out;
		rrs[nrr] = mk_rr(owner, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, ttl, txt_rdf);
		txt_rdf = NULL;
		if (rrs[nrr++] == NULL)
			goto out;
	}
	for (size_t i = 0; i < nrr; i++) {
		/* ldns_pkt_push_rr only fails on allocation; the pushed RRs of a
		 * failed change are then freed with the whole packet. */
		if (!ldns_pkt_push_rr(pkt, LDNS_SECTION_AUTHORITY, rrs[i])) {
			for (size_t j = i; j < nrr; j++)
				ldns_rr_free(rrs[j]);
			nrr = 0;
			goto out;
		}
	}
	nrr = 0;
	ret = 0;
out:
	for (size_t i = 0; i < nrr; i++)
		ldns_rr_free(rrs[i]);
	ldns_rdf_deep_free(owner);
	ldns_rdf_deep_free(target);
	ldns_rdf_deep_free(txt_rdf);
	return ret;
}

/* ldns_pkt_tsig_sign() leaks when it fails (ldns 1.8.3), so never let it: only
 * the algorithm names it knows (tsig_key.c maps BIND's names to these). */
static bool key_usable(const rv_tsig_key *k)
{
	static const char *const algs[] = {
		"hmac-sha256.", "hmac-sha512.", "hmac-sha1.", "hmac-md5.sig-alg.reg.int.",
	};
	if (k->name[0] == '\0' || k->secret[0] == '\0')
		return false;
	for (size_t i = 0; i < RV_ARRAY_LEN(algs); i++)
		if (strcmp(k->algorithm, algs[i]) == 0)
			return true;
	return false;
}

/*
 * Invalid names (a PTR target ldns cannot parse, an owner name over 255 octets):
 * if changes[0] is invalid we return -EINVAL with *n_used = 1 so the caller can
 * drop (and log) exactly that change; an invalid change further on ends the
 * batch just before it, so it becomes changes[0] of the next call. A -EINVAL
 * with *n_used = 0 means the zone or the key is unusable (configuration).
 */
int rv_rpz_msg_build(const rv_rpz_build *b, const rv_change *changes, size_t n,
		size_t *n_used, rv_rpz_msg **msg)
{
	ldns_rdf *zone = NULL;
	ldns_rr_list *empty = NULL;
	ldns_pkt *pkt = NULL;
	rv_rpz_msg *m = NULL;
	uint8_t *wire = NULL;
	size_t wire_len = 0, used = 0;
	int ret = -EINVAL;

	*n_used = 0;
	*msg = NULL;
	if (b == NULL || b->zone == NULL || changes == NULL || n == 0)
		goto out;
	size_t budget = b->max_bytes < RV_DNS_MSG_MAX ? b->max_bytes : RV_DNS_MSG_MAX;
	zone = zone_dname(b->zone);
	if (zone == NULL)
		goto out;
	size_t size = fixed_bound(ldns_rdf_size(zone), b->key);
	size_t zone_wire = ldns_rdf_size(zone);
	if (b->key != NULL && !key_usable(b->key))
		goto out;

	ret = -ENOMEM;
	empty = ldns_rr_list_new();
	if (empty == NULL)
		goto out;
	/* Zone section: zone IN SOA (RFC 2136 2.3). Takes zone. */
	pkt = ldns_update_pkt_new(zone, LDNS_RR_CLASS_IN, NULL, empty, NULL);
	zone = NULL;
	if (pkt == NULL || ldns_pkt_authority(pkt) == NULL)
		goto out;
	/* ldns sets RD and leaves ID 0 (DESIGN 5); RD is meaningless in an UPDATE
	 * (RFC 2136 2.2 calls it zero). */
	ldns_pkt_set_rd(pkt, false);
	ldns_pkt_set_id(pkt, random_id());

	for (used = 0; used < n; used++) {
		size_t bound = change_bound(zone_wire, &changes[used]);
		if (size + bound > budget)
			break;
		int r = add_change(pkt, b->zone, b->ttl, &changes[used]);
		if (r == -EINVAL && used > 0)
			break;          /* the next batch starts with it */
		if (r == -EINVAL) {
			*n_used = 1;
			ret = -EINVAL;
			goto out;
		}
		if (r < 0) {
			ret = r;
			goto out;
		}
		size += bound;
	}
	if (used == 0) {
		ret = -EMSGSIZE;
		goto out;
	}

	ret = -EINVAL;
	if (b->key != NULL) {
		if (ldns_pkt_tsig_sign(pkt, b->key->name, b->key->secret, TSIG_FUDGE,
				b->key->algorithm, NULL) != LDNS_STATUS_OK)
			goto out;
		ldns_rr *tsig = ldns_pkt_tsig(pkt);
		if (tsig == NULL || ldns_rr_rd_count(tsig) < 4)
			goto out;
	}
	ret = -ENOMEM;
	if (ldns_pkt2wire(&wire, pkt, &wire_len) != LDNS_STATUS_OK || wire == NULL)
		goto out;
	if (wire_len > budget) {
		/* Cannot happen while change_bound() is an upper bound. */
		ret = -EMSGSIZE;
		goto out;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		goto out;
	if (b->key != NULL) {
		m->mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(pkt), 3));
		if (m->mac == NULL)
			goto out;
	}
	m->wire = wire;
	m->len = wire_len;
	m->id = ldns_pkt_id(pkt);
	wire = NULL;
	*msg = m;
	*n_used = used;
	m = NULL;
	ret = 0;
out:
	free(wire);
	rv_rpz_msg_free(&m);
	ldns_pkt_free(pkt);
	ldns_rr_list_free(empty);
	ldns_rdf_deep_free(zone);
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
	ldns_rdf_deep_free((*m)->mac);
	free(*m);
	*m = NULL;
}

static bool dname_equal(const ldns_rdf *a, const char *b)
{
	ldns_rdf *d = ldns_dname_new_frm_str(b);
	bool eq = a != NULL && d != NULL && ldns_rdf_get_type(a) == LDNS_RDF_TYPE_DNAME &&
		ldns_dname_compare(a, d) == 0;
	ldns_rdf_deep_free(d);
	return eq;
}

int rv_rpz_check_reply(const rv_rpz_msg *m, const rv_tsig_key *key,
		const uint8_t *wire, size_t len, int *rcode, char *err, size_t errlen)
{
	ldns_pkt *pkt = NULL;
	char rbuf[16];
	int ret = -EBADMSG;

	*rcode = -1;
	if (errlen > 0)
		err[0] = '\0';
	if (wire == NULL || len < 12) {
		snprintf(err, errlen, "short reply (%zu bytes)", len);
		goto out;
	}
	ldns_status st = ldns_wire2pkt(&pkt, wire, len);
	if (st != LDNS_STATUS_OK || pkt == NULL) {
		snprintf(err, errlen, "malformed reply: %s", ldns_get_errorstr_by_id(st));
		goto out;
	}
	if (ldns_pkt_id(pkt) != m->id) {
		snprintf(err, errlen, "reply ID %u does not match request ID %u",
				ldns_pkt_id(pkt), m->id);
		goto out;
	}
	if (!ldns_pkt_qr(pkt) || ldns_pkt_get_opcode(pkt) != LDNS_PACKET_UPDATE) {
		snprintf(err, errlen, "not an UPDATE reply");
		goto out;
	}
	*rcode = ldns_pkt_get_rcode(pkt);
	const char *rname = rcode_name(*rcode, rbuf, sizeof(rbuf));

	if (m->mac != NULL) {
		/* RFC 8945 5.3: the reply to a signed request must be signed; on a key or
		 * signature failure BIND answers NOTAUTH with a TSIG that carries the
		 * error and an empty MAC (5.3.2), which we report as such. */
		ldns_rr *tsig = ldns_pkt_tsig(pkt);
		ret = -EACCES;
		if (key == NULL) {
			snprintf(err, errlen, "%s, no key to verify the reply", rname);
			goto out;
		}
		if (tsig == NULL || ldns_rr_rd_count(tsig) < 7) {
			snprintf(err, errlen, "%s, reply not signed", rname);
			goto out;
		}
		ldns_rdf *erdf = ldns_rr_rdf(tsig, 5);
		unsigned terr = ldns_rdf_size(erdf) == 2 ? ldns_rdf2native_int16(erdf) : 0xffff;
		if (terr != 0) {
			const char *tn = tsig_error_name(terr);
			if (tn != NULL)
				snprintf(err, errlen, "%s, TSIG error %s", rname, tn);
			else
				snprintf(err, errlen, "%s, TSIG error %u", rname, terr);
			goto out;
		}
		/* ldns computes the MAC with the name we pass, not the one in the
		 * reply, it digests the header ID as received rather than the Original
		 * ID (RFC 8945 4.3.3), and it never checks class ANY / TTL 0 (4.2): check
		 * them ourselves (names compare case-insensitively, RFC 4343). */
		const ldns_rdf *orig_id = ldns_rr_rdf(tsig, 4);
		if (ldns_rr_get_class(tsig) != LDNS_RR_CLASS_ANY || ldns_rr_ttl(tsig) != 0 ||
		    ldns_rdf_size(orig_id) != 2 || ldns_rdf2native_int16(orig_id) != m->id ||
		    !dname_equal(ldns_rr_owner(tsig), key->name) ||
		    !dname_equal(ldns_rr_rdf(tsig, 0), key->algorithm)) {
			snprintf(err, errlen, "%s, reply TSIG is for another key or malformed", rname);
			goto out;
		}
		if (!ldns_pkt_tsig_verify(pkt, wire, len, key->name, key->secret, m->mac)) {
			snprintf(err, errlen, "%s, reply TSIG does not verify", rname);
			goto out;
		}
	}
	if (m->mac != NULL) {
		/* RFC 8945 5.4.2: the client checks the reply's time too, else an old
		 * signed reply could be replayed. */
		ldns_rr *tsig = ldns_pkt_tsig(pkt);
		const ldns_rdf *tr = ldns_rr_rdf(tsig, 1), *fr = ldns_rr_rdf(tsig, 2);
		if (ldns_rdf_size(tr) != 6 || ldns_rdf_size(fr) != 2) {
			snprintf(err, errlen, "%s, malformed reply TSIG", rname);
			ret = -EACCES;
			goto out;
		}
		const uint8_t *t = ldns_rdf_data(tr);
		int64_t signed_at = 0;
		for (int i = 0; i < 6; i++)
			signed_at = signed_at << 8 | t[i];
		int64_t skew = (int64_t)time(NULL) - signed_at;
		if (skew < 0)
			skew = -skew;
		if (skew > ldns_rdf2native_int16(fr)) {
			snprintf(err, errlen, "%s, reply TSIG time off by %" PRId64 " s", rname, skew);
			ret = -EACCES;
			goto out;
		}
	}
	if (*rcode != LDNS_RCODE_NOERROR) {
		snprintf(err, errlen, "%s", rname);
		ret = -EREMOTEIO;
		goto out;
	}
	snprintf(err, errlen, "NOERROR");
	ret = 0;
out:
	ldns_pkt_free(pkt);
	return ret;
}

/* ---- the writer ---- */

enum fail_kind { F_CONN, F_TIMEOUT, F_RCODE, F_TSIG, F_PROTO, F_BUILD };

static const char *const fail_verb[] = {
	[F_CONN] = "failed",
	[F_TIMEOUT] = "timed out",
	[F_RCODE] = "refused",
	[F_TSIG] = "failed the TSIG check",
	[F_PROTO] = "got a bad reply",
	[F_BUILD] = "could not be built",
};

struct rv_rpz_writer {
	struct event_base *base;
	rv_table *table;
	rv_rpz_writer_opts opts;   /* strings point to the copies below */
	char *server;
	char *zone;
	rv_tsig_key key;
	bool has_key;
	struct sockaddr_storage sa;
	socklen_t salen;
	char peer[RV_ADDR_STRLEN + 8];  /* "127.0.0.1#5353", as BIND logs it */
	size_t zone_wire;
	size_t fixed;                   /* fixed_bound() of every message */
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
	unsigned backoff_ms;
	unsigned fail_streak;           /* consecutive failed attempts */
	char last_fail[256];            /* to log repeats at debug only */
	size_t avg_bound;               /* bytes per change, for kick()'s estimate */
};

static void start_batch(rv_rpz_writer *w);

static struct timeval ms_tv(unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	return tv;
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
		rv_table_requeue(w->table, &w->buf[i]);
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
	snprintf(sig, sizeof(sig), "%d %s", (int)kind, detail);
	/* First failure of a streak (or a different one) at error, repeats at debug:
	 * a BIND outage must not flood the log. */
	int level = (w->fail_streak == 1 || strcmp(sig, w->last_fail) != 0) ? RV_LOG_ERR
		: RV_LOG_DEBUG;
	memcpy(w->last_fail, sig, sizeof(sig));
	rv_log(level, SUB, "UPDATE to %s zone %s %s: %s (%zu addresses kept queued, "
			"retrying in %.1f s)", w->peer, w->zone, fail_verb[kind], detail,
			rv_table_queued(w->table) + w->n_buf, delay / 1000.0);

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
		rv_table_committed(w->table, &w->buf[i]);
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
	}
	w->backoff_ms = w->opts.retry_min_ms;
	/* Drain a backlog in back-to-back batches; what arrived while this one was
	 * in flight goes now rather than after another flush interval. */
	if (w->n_buf > 0 || rv_table_queued(w->table) > 0)
		start_batch(w);
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
	int r = rv_rpz_check_reply(w->msg, w->has_key ? &w->key : NULL, data, len, &rcode,
			err, sizeof(err));
	if (r == 0)
		succeed(w);
	else if (r == -EACCES)
		fail(w, F_TSIG, err);
	else if (r == -EREMOTEIO)
		fail(w, F_RCODE, err);
	else
		fail(w, F_PROTO, err);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	rv_rpz_writer *w = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	/* RFC 1035 4.2.2: each message is preceded by its 2-byte length. */
	while (w->bev == bev) {
		uint8_t hdr[2];
		if (evbuffer_copyout(in, hdr, 2) != 2)
			return;
		size_t len = (size_t)hdr[0] << 8 | hdr[1];
		if (evbuffer_get_length(in) < 2 + len)
			return;
		evbuffer_drain(in, 2);
		if (evbuffer_remove(in, w->rbuf, len) != (int)len)
			return;
		/* on_reply may free bev (close_conn): the loop condition checks it. */
		on_reply(w, w->rbuf, len);
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

/* Fills buf from the table up to about one batch. */
static void fill(rv_rpz_writer *w)
{
	size_t est = w->fixed;

	for (size_t i = 0; i < w->n_buf; i++)
		est += change_bound(w->zone_wire, &w->buf[i]);
	while (est <= w->budget) {
		if (w->n_buf == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 256;
			rv_change *nb = realloc(w->buf, cap * sizeof(*nb));
			if (nb == NULL)
				break;
			w->buf = nb;
			w->cap = cap;
		}
		if (rv_table_pop_queued(w->table, &w->buf[w->n_buf]) < 0)
			break;
		est += change_bound(w->zone_wire, &w->buf[w->n_buf]);
		w->n_buf++;
	}
	if (w->n_buf > 0)
		w->avg_bound = (est - w->fixed) / w->n_buf;
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

	if (w->msg != NULL || w->in_backoff)
		return;
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
	rv_debug(SUB, "UPDATE id %u to %s zone %s: %zu addresses, %zu bytes",
			rv_rpz_msg_id(w->msg), w->peer, w->zone, used, len);
	struct timeval tv = ms_tv(w->opts.timeout_ms);
	evtimer_add(w->timeout_ev, &tv);
}

rv_rpz_writer *rv_rpz_writer_new(struct event_base *base, const rv_rpz_writer_opts *opts,
		const rv_tsig_key *key, rv_table *table, int *err)
{
	rv_rpz_writer *w = NULL;
	ldns_rdf *zone = NULL;
	rv_addr a;
	int ret = -EINVAL;

	if (base == NULL || opts == NULL || table == NULL || opts->server == NULL ||
	    opts->zone == NULL || opts->port == 0)
		goto out;
	zone = zone_dname(opts->zone);
	if (zone == NULL || rv_addr_parse(opts->server, &a) < 0 ||
	    (key != NULL && !key_usable(key)))
		goto out;
	ret = -ENOMEM;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		goto out;
	w->base = base;
	w->table = table;
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
	if (w->opts.timeout_ms == 0)
		w->opts.timeout_ms = 5000;
	if (w->opts.retry_min_ms == 0)
		w->opts.retry_min_ms = 1;
	if (w->opts.retry_max_ms < w->opts.retry_min_ms)
		w->opts.retry_max_ms = w->opts.retry_min_ms;
	w->backoff_ms = w->opts.retry_min_ms;
	w->budget = opts->batch_bytes == 0 || opts->batch_bytes > RV_DNS_MSG_MAX
		? RV_DNS_MSG_MAX : opts->batch_bytes;
	w->zone_wire = ldns_rdf_size(zone);
	w->fixed = fixed_bound(w->zone_wire, w->has_key ? &w->key : NULL);
	/* Until we have seen some: an IPv4 address with a 30-character name. */
	rv_change typical = { .addr = a };
	memset(typical.name, 'x', 30);
	w->avg_bound = change_bound(w->zone_wire, &typical);

	memset(&w->sa, 0, sizeof(w->sa));
	if (a.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&w->sa;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(opts->port);
		memcpy(&sin->sin_addr, a.bytes, 4);
		w->salen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&w->sa;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(opts->port);
		memcpy(&sin6->sin6_addr, a.bytes, 16);
		w->salen = sizeof(*sin6);
	}
	char abuf[RV_ADDR_STRLEN];
	snprintf(w->peer, sizeof(w->peer), "%s#%u", rv_addr_str(&a, abuf, sizeof(abuf)),
			opts->port);

	w->flush_ev = evtimer_new(base, flush_cb, w);
	w->timeout_ev = evtimer_new(base, timeout_cb, w);
	w->retry_ev = evtimer_new(base, retry_cb, w);
	if (w->flush_ev == NULL || w->timeout_ev == NULL || w->retry_ev == NULL)
		goto out;
	ret = 0;
out:
	ldns_rdf_deep_free(zone);
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
	/* Whatever we hold goes back to the table: a later writer (or the AXFR
	 * reconcile at the next start) still sees it as not written. */
	for (size_t i = 0; i < w->n_buf; i++)
		rv_table_requeue(w->table, &w->buf[i]);
	close_conn(w);
	if (w->flush_ev)
		event_free(w->flush_ev);
	if (w->timeout_ev)
		event_free(w->timeout_ev);
	if (w->retry_ev)
		event_free(w->retry_ev);
	rv_rpz_msg_free(&w->msg);
	explicit_bzero(&w->key, sizeof(w->key));
	free(w->buf);
	free(w->rbuf);
	free(w->server);
	free(w->zone);
	free(w);
	*wp = NULL;
}

void rv_rpz_writer_kick(rv_rpz_writer *w)
{
	/* In flight: its reply starts the next batch. Backing off: the retry does. */
	if (w->msg != NULL || w->in_backoff)
		return;
	size_t est = w->fixed + (rv_table_queued(w->table) + w->n_buf) * w->avg_bound;
	if (est >= w->budget || w->opts.flush_interval_ms == 0) {
		start_batch(w);
	} else if (!evtimer_pending(w->flush_ev, NULL)) {
		struct timeval tv = ms_tv(w->opts.flush_interval_ms);
		evtimer_add(w->flush_ev, &tv);
	}
}

void rv_rpz_writer_flush_now(rv_rpz_writer *w)
{
	start_batch(w);
}

bool rv_rpz_writer_idle(const rv_rpz_writer *w)
{
	return w->msg == NULL && w->n_buf == 0 && rv_table_queued(w->table) == 0;
}
