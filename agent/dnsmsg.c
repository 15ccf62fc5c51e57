/*
 * dnsmsg.c - DNS response wire format -> question name + the addresses at the
 * end of its CNAME chain.
 *
 * ldns does the wire parsing (RFC 1035 4.1, name compression included); this
 * file only decides what a response teaches us. Everything here is a pure
 * function of its input: no globals, no logging, every ldns object is freed
 * before returning.
 */
#include <ldns/ldns.h>
#include <string.h>

#include "dnsmsg.h"

static const char *const verdict_names[RV_VERDICT_COUNT] = {
	[RV_LEARN] = "learn",
	[RV_SKIP_MSG_TYPE] = "skip-msg-type",
	[RV_SKIP_NO_MESSAGE] = "skip-no-message",
	[RV_SKIP_NOT_RESPONSE] = "skip-not-response",
	[RV_SKIP_RCODE] = "skip-rcode",
	[RV_SKIP_QTYPE] = "skip-qtype",
	[RV_SKIP_NO_ADDRESS] = "skip-no-address",
	[RV_SKIP_CHAIN] = "skip-chain",
	[RV_SKIP_IGNORED] = "skip-ignored",
	[RV_SKIP_RPZ] = "skip-rpz",
	[RV_BAD_PROTOBUF] = "bad-protobuf",
	[RV_BAD_DNS] = "bad-dns",
};

const char *rv_verdict_name(rv_verdict v)
{
	if ((unsigned)v >= RV_VERDICT_COUNT || verdict_names[v] == NULL)
		return "unknown";
	return verdict_names[v];
}

/*
 * Case-insensitive equality of two uncompressed wire-format names (RFC 4343:
 * only ASCII letters fold). Label length octets are at most 63, below 'A', so
 * folding every octet never confuses a length with a letter, and equal bytes
 * imply equal label structure. Cheaper than ldns_dname_compare(), which orders
 * names label by label; we only need equality, once per answer RR per link.
 */
static bool dname_equal(const ldns_rdf *a, const ldns_rdf *b)
{
	size_t n = ldns_rdf_size(a);
	const uint8_t *pa = ldns_rdf_data(a);
	const uint8_t *pb = ldns_rdf_data(b);

	if (n != ldns_rdf_size(b))
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t ca = pa[i], cb = pb[i];

		if (ca >= 'A' && ca <= 'Z')
			ca = (uint8_t)(ca - 'A' + 'a');
		if (cb >= 'A' && cb <= 'Z')
			cb = (uint8_t)(cb - 'A' + 'a');
		if (ca != cb)
			return false;
	}
	return true;
}

/* Only class IN data is address data (RFC 1035 3.2.4); CH/HS records are
 * never followed nor collected. */
static bool rr_is(const ldns_rr *rr, ldns_rr_type type)
{
	return ldns_rr_get_type(rr) == type &&
	       ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN;
}

/* Question name -> out->qname: lower-case presentation form without the
 * trailing dot; the root stays ".". */
static int store_qname(const ldns_rdf *owner, rv_answer *out)
{
	char *text = ldns_rdf2str(owner);
	size_t n;
	int rc = -EBADMSG;

	if (text == NULL)
		goto out;
	n = strlen(text);
	if (n == 0 || n >= sizeof(out->qname))
		goto out;
	if (n > 1 && text[n - 1] == '.')
		text[--n] = '\0';
	memcpy(out->qname, text, n + 1);
	rv_ascii_lower(out->qname);
	rc = 0;
out:
	free(text);
	return rc;
}

/*
 * Finds the CNAME owned by name in the answer section. RFC 2181 10.1: a name
 * has at most one CNAME; identical duplicates are harmless (we keep the first),
 * two different targets make the chain ambiguous and the message inconsistent.
 * Returns the index, -ENOENT when name has no CNAME, -EBADMSG on a conflict.
 */
static int find_cname(const ldns_rr_list *an, const ldns_rdf *name)
{
	size_t count = ldns_rr_list_rr_count(an);
	int found = -ENOENT;

	for (size_t i = 0; i < count; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);

		if (!rr_is(rr, LDNS_RR_TYPE_CNAME) ||
		    !dname_equal(ldns_rr_owner(rr), name))
			continue;
		if (ldns_rr_rd_count(rr) != 1 ||
		    ldns_rdf_get_type(ldns_rr_rdf(rr, 0)) != LDNS_RDF_TYPE_DNAME)
			return -EBADMSG;
		if (found < 0) {
			found = (int)i;
			continue;
		}
		if (!dname_equal(ldns_rr_rdf(ldns_rr_list_rr(an, (size_t)found), 0),
				 ldns_rr_rdf(rr, 0)))
			return -EBADMSG;
	}
	return found;
}

/* An A or AAAA record -> address; -EBADMSG when its rdata has the wrong size
 * (RFC 1035 3.4.1: 4 octets; RFC 3596 2.2: 16 octets). */
static int rr_addr(const ldns_rr *rr, rv_addr *a)
{
	const ldns_rdf *rd;
	size_t want = ldns_rr_get_type(rr) == LDNS_RR_TYPE_A ? 4 : 16;

	if (ldns_rr_rd_count(rr) != 1)
		return -EBADMSG;
	rd = ldns_rr_rdf(rr, 0);
	if (ldns_rdf_size(rd) != want)
		return -EBADMSG;
	return rv_addr_set(a, ldns_rdf_data(rd), want) == 0 ? 0 : -EBADMSG;
}

/* Offset just past the (possibly compressed) name at off, or 0 if it does not
 * fit. Only called on messages ldns accepted, so pointers are not chased. */
static size_t skip_name(const uint8_t *wire, size_t len, size_t off)
{
	while (off < len) {
		uint8_t b = wire[off];

		if (b == 0)
			return off + 1;
		if ((b & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if ((b & 0xc0) != 0)
			return 0; /* RFC 6891 5: extended label types are gone */
		off += 1u + b;
	}
	return 0;
}

/*
 * ldns reads the 4 or 16 octets an A/AAAA needs and silently skips whatever
 * else RDLENGTH covers, so a 5-octet A parses as a valid one. RFC 1035 3.4.1
 * and RFC 3596 2.2 fix the size: check RDLENGTH on the wire for every IN
 * A/AAAA of the answer section (the only section we learn from).
 */
static bool answer_rdlengths_ok(const uint8_t *wire, size_t len)
{
	unsigned qd = (unsigned)wire[4] << 8 | wire[5];
	unsigned an = (unsigned)wire[6] << 8 | wire[7];
	size_t off = LDNS_HEADER_SIZE;

	for (unsigned i = 0; i < qd; i++) {
		off = skip_name(wire, len, off);
		if (off == 0 || len - off < 4)
			return false;
		off += 4; /* QTYPE, QCLASS */
	}
	for (unsigned i = 0; i < an; i++) {
		unsigned type, class, rdlen;

		off = skip_name(wire, len, off);
		if (off == 0 || len - off < 10)
			return false;
		type = (unsigned)wire[off] << 8 | wire[off + 1];
		class = (unsigned)wire[off + 2] << 8 | wire[off + 3];
		rdlen = (unsigned)wire[off + 8] << 8 | wire[off + 9];
		off += 10;
		if (len - off < rdlen)
			return false;
		if (class == LDNS_RR_CLASS_IN &&
		    ((type == LDNS_RR_TYPE_A && rdlen != 4) ||
		     (type == LDNS_RR_TYPE_AAAA && rdlen != 16)))
			return false;
		off += rdlen;
	}
	return true;
}

/* Adds a unless already present; sets addrs_truncated when there is no room.
 * Returns true when a is (now) in out->addrs. */
static bool add_addr(rv_answer *out, const rv_addr *a)
{
	for (size_t i = 0; i < out->naddrs; i++)
		if (rv_addr_equal(&out->addrs[i], a))
			return true;
	if (out->naddrs >= RV_ANSWER_MAX_ADDRS) {
		out->addrs_truncated = true;
		return false;
	}
	out->addrs[out->naddrs++] = *a;
	return true;
}

int rv_dnsmsg_parse(const uint8_t *wire, size_t len, unsigned max_depth,
		    rv_answer *out, rv_verdict *why)
{
	ldns_pkt *pkt = NULL;
	const ldns_rr_list *qd, *an;
	const ldns_rr *q;
	const ldns_rdf *name;
	uint8_t used[(UINT16_MAX + 1) / 8];
	size_t count;
	unsigned depth = 0;
	uint32_t min_ttl = UINT32_MAX;
	int rc = -EBADMSG;

	memset(out, 0, sizeof(*out));
	*why = RV_BAD_DNS;

	if (wire == NULL || len < LDNS_HEADER_SIZE || len > UINT16_MAX)
		goto out;
	if (ldns_wire2pkt(&pkt, wire, len) != LDNS_STATUS_OK) {
		pkt = NULL;
		goto out;
	}
	if (!answer_rdlengths_ok(wire, len))
		goto out;

	qd = ldns_pkt_question(pkt);
	an = ldns_pkt_answer(pkt);
	if (qd == NULL || an == NULL)
		goto out;
	out->rcode = (uint8_t)ldns_pkt_get_rcode(pkt);
	/* The name is useful in logs even when we do not learn from it. */
	if (ldns_rr_list_rr_count(qd) == 1) {
		q = ldns_rr_list_rr(qd, 0);
		if (store_qname(ldns_rr_owner(q), out) < 0)
			goto out;
		out->qtype = (uint16_t)ldns_rr_get_type(q);
	}

	rc = -ENOENT;
	if (!ldns_pkt_qr(pkt) || ldns_pkt_get_opcode(pkt) != LDNS_PACKET_QUERY) {
		*why = RV_SKIP_NOT_RESPONSE;
		goto out;
	}
	/* RFC 6891 6.1.3: with EDNS the rcode has 8 more bits in the OPT TTL;
	 * BADVERS and friends are not NOERROR either. */
	if (ldns_pkt_get_rcode(pkt) != LDNS_RCODE_NOERROR ||
	    ldns_pkt_edns_extended_rcode(pkt) != 0) {
		*why = RV_SKIP_RCODE;
		goto out;
	}
	/* RFC 9619: QDCOUNT is 1 in practice; anything else is not a question we
	 * can attribute addresses to. Checked before any answer is looked at. */
	if (ldns_rr_list_rr_count(qd) != 1) {
		*why = RV_SKIP_QTYPE;
		goto out;
	}
	q = ldns_rr_list_rr(qd, 0);
	if ((ldns_rr_get_type(q) != LDNS_RR_TYPE_A &&
	     ldns_rr_get_type(q) != LDNS_RR_TYPE_AAAA) ||
	    ldns_rr_get_class(q) != LDNS_RR_CLASS_IN) {
		*why = RV_SKIP_QTYPE;
		goto out;
	}

	/* BIND adds the policy zone's SOA to the additional section of every answer
	 * a response policy rewrote (response-policy add-soa, on by default); an
	 * ordinary answer never carries an SOA there. A rewritten answer says what a
	 * policy wanted, not what the name resolves to: never learn from it. */
	for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_pkt_additional(pkt)); i++) {
		if (ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_additional(pkt), i)) ==
		    LDNS_RR_TYPE_SOA) {
			*why = RV_SKIP_RPZ;
			goto out;
		}
	}

	/*
	 * Walk the chain (RFC 1034 3.6.2, RFC 2181 10.1). Servers usually put the
	 * CNAMEs first and in order, but nothing requires it, so each link searches
	 * the whole answer section. A DNAME is never followed itself: RFC 6672 3.
	 * has the server synthesise the CNAME it implies, which we follow like any
	 * other. A name visited twice means the CNAME owned by it is reached twice,
	 * so marking used CNAME records is the loop guard.
	 */
	count = ldns_rr_list_rr_count(an);
	if (count > UINT16_MAX) /* ANCOUNT is 16 bits: cannot happen */
		goto out;
	memset(used, 0, (count + 7) / 8); /* only the bits we can touch */
	name = ldns_rr_owner(q);
	for (;;) {
		int i = find_cname(an, name);
		const ldns_rr *rr;

		if (i == -ENOENT)
			break;
		if (i < 0) {
			rc = -EBADMSG;
			*why = RV_BAD_DNS;
			goto out;
		}
		/* depth is a uint8_t in rv_answer: a longer chain is not stored. */
		if ((used[i / 8] & (1u << (i % 8))) != 0 || depth >= max_depth ||
		    depth >= UINT8_MAX) {
			*why = RV_SKIP_CHAIN;
			goto out;
		}
		used[i / 8] |= (uint8_t)(1u << (i % 8));
		rr = ldns_rr_list_rr(an, (size_t)i);
		if (ldns_rr_ttl(rr) < min_ttl)
			min_ttl = ldns_rr_ttl(rr);
		name = ldns_rr_rdf(rr, 0);
		depth++;
	}

	for (size_t i = 0; i < count; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		rv_addr a;

		if (!rr_is(rr, LDNS_RR_TYPE_A) && !rr_is(rr, LDNS_RR_TYPE_AAAA))
			continue;
		/* A wrong-size address is malformed wherever it is owned. */
		if (rr_addr(rr, &a) < 0) {
			rc = -EBADMSG;
			*why = RV_BAD_DNS;
			goto out;
		}
		if (!dname_equal(ldns_rr_owner(rr), name))
			continue;
		if (add_addr(out, &a) && ldns_rr_ttl(rr) < min_ttl)
			min_ttl = ldns_rr_ttl(rr);
	}

	out->depth = (uint8_t)depth;
	if (out->naddrs == 0) {
		*why = RV_SKIP_NO_ADDRESS;
		goto out;
	}
	out->min_ttl = min_ttl;
	*why = RV_LEARN;
	rc = 0;
out:
	ldns_pkt_free(pkt);
	return rc;
}
