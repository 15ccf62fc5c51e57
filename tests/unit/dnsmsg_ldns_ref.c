/*
 * dnsmsg_ldns_ref.c - the ldns-based rv_dnsmsg_parse() that agent/dnsmsg.c
 * replaced (commit 88474c0), kept as the reference of the differential tests:
 * test_dnsmsg.c and (with -DRV_FUZZ_DIFFERENTIAL) fuzz_dnsmsg.c #include this
 * file, so it is built into them only, never into the agent. Unchanged but for
 * names: every function is static and prefixed ref_ (rv_dnsmsg_parse_ref).
 *
 * After it, dnsmsg_diff_class() says whether the two parsers must agree on a
 * given message, or why not (the deliberate differences).
 */
#include <ldns/ldns.h>
#include <string.h>

#include "dnsmsg.h"

/*
 * Case-insensitive equality of two uncompressed wire-format names (RFC 4343:
 * only ASCII letters fold). Label length octets are at most 63, below 'A', so
 * folding every octet never confuses a length with a letter, and equal bytes
 * imply equal label structure. Cheaper than ldns_dname_compare(), which orders
 * names label by label; we only need equality, once per answer RR per link.
 */
static bool ref_dname_equal(const ldns_rdf *a, const ldns_rdf *b)
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
static bool ref_rr_is(const ldns_rr *rr, ldns_rr_type type)
{
	return ldns_rr_get_type(rr) == type &&
	       ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN;
}

/* Question name -> out->qname: lower-case presentation form without the
 * trailing dot; the root stays ".". */
static int ref_store_qname(const ldns_rdf *owner, rv_answer *out)
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
static int ref_find_cname(const ldns_rr_list *an, const ldns_rdf *name)
{
	size_t count = ldns_rr_list_rr_count(an);
	int found = -ENOENT;

	for (size_t i = 0; i < count; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);

		if (!ref_rr_is(rr, LDNS_RR_TYPE_CNAME) ||
		    !ref_dname_equal(ldns_rr_owner(rr), name))
			continue;
		if (ldns_rr_rd_count(rr) != 1 ||
		    ldns_rdf_get_type(ldns_rr_rdf(rr, 0)) != LDNS_RDF_TYPE_DNAME)
			return -EBADMSG;
		if (found < 0) {
			found = (int)i;
			continue;
		}
		if (!ref_dname_equal(ldns_rr_rdf(ldns_rr_list_rr(an, (size_t)found), 0),
				 ldns_rr_rdf(rr, 0)))
			return -EBADMSG;
	}
	return found;
}

/* An A or AAAA record -> address; -EBADMSG when its rdata has the wrong size
 * (RFC 1035 3.4.1: 4 octets; RFC 3596 2.2: 16 octets). */
static int ref_rr_addr(const ldns_rr *rr, rv_addr *a)
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
static size_t ref_skip_name(const uint8_t *wire, size_t len, size_t off)
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
static bool ref_answer_rdlengths_ok(const uint8_t *wire, size_t len)
{
	unsigned qd = (unsigned)wire[4] << 8 | wire[5];
	unsigned an = (unsigned)wire[6] << 8 | wire[7];
	size_t off = LDNS_HEADER_SIZE;

	for (unsigned i = 0; i < qd; i++) {
		off = ref_skip_name(wire, len, off);
		if (off == 0 || len - off < 4)
			return false;
		off += 4; /* QTYPE, QCLASS */
	}
	for (unsigned i = 0; i < an; i++) {
		unsigned type, class, rdlen;

		off = ref_skip_name(wire, len, off);
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
static bool ref_add_addr(rv_answer *out, const rv_addr *a)
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

static int rv_dnsmsg_parse_ref(const uint8_t *wire, size_t len, unsigned max_depth,
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
	if (!ref_answer_rdlengths_ok(wire, len))
		goto out;

	qd = ldns_pkt_question(pkt);
	an = ldns_pkt_answer(pkt);
	if (qd == NULL || an == NULL)
		goto out;
	out->rcode = (uint8_t)ldns_pkt_get_rcode(pkt);
	/* The name is useful in logs even when we do not learn from it. */
	if (ldns_rr_list_rr_count(qd) == 1) {
		q = ldns_rr_list_rr(qd, 0);
		if (ref_store_qname(ldns_rr_owner(q), out) < 0)
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
		int i = ref_find_cname(an, name);
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

		if (!ref_rr_is(rr, LDNS_RR_TYPE_A) && !ref_rr_is(rr, LDNS_RR_TYPE_AAAA))
			continue;
		/* A wrong-size address is malformed wherever it is owned. */
		if (ref_rr_addr(rr, &a) < 0) {
			rc = -EBADMSG;
			*why = RV_BAD_DNS;
			goto out;
		}
		if (!ref_dname_equal(ldns_rr_owner(rr), name))
			continue;
		if (ref_add_addr(out, &a) && ldns_rr_ttl(rr) < min_ttl)
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

/* ------------------------------------------------------------------------
 * Differential oracle.
 *
 * The two parsers must give identical results on every message except where a
 * difference is deliberate. dnsmsg_diff_class() reads the message with the
 * rules of RFC 1035 4.1 as agent/dnsmsg.c states them (RDLENGTH frames every
 * RR), independently written, and compares that framing with ldns's own, RR
 * by RR. Its answer:
 *
 * DIFF_SAME          well-formed, and ldns reads every RR as RDLENGTH frames
 *                    it: both parsers must agree on everything.
 * DIFF_MALFORMED     broken under rules both parsers have (bounds, label
 *                    length and type, name length, pointer to 0 or past the
 *                    end, A/AAAA size): the new parser must say bad-dns.
 * DIFF_PTR_STRICT    a pointer the new parser refuses and ldns follows: not
 *                    strictly backwards (target at or after the start of the
 *                    label run it ends), into the header, or more than 128
 *                    hops. Must be bad-dns.
 * DIFF_CNAME_RDATA   an answer CNAME whose RDATA is not exactly one name
 *                    (ldns reads a name wherever it ends and goes on from
 *                    there; an empty one it only refused on the chain).
 *                    Must be bad-dns.
 * DIFF_OPT_TWICE     two OPT RRs (RFC 6891 6.1.1; ldns kept the last): bad-dns.
 * DIFF_TSIG_NOT_LAST TSIG before the end of the additional section (RFC 8945
 *                    5.1; ldns stopped reading the section early): bad-dns.
 * DIFF_LDNS_FRAMING  well-formed by RDLENGTH, but ldns parses some RR's RDATA
 *                    by its type's layout and rejects it or ends elsewhere
 *                    (then reads the next RR from the wrong place). The new
 *                    parser never looks inside RDATA it does not use: no
 *                    comparison.
 * The first reason met, in message order, is the class; *ldns_diverged says
 * whether ldns had framed some RR before it differently (then ldns may accept
 * a message the other classes call malformed: it read other octets).
 * ------------------------------------------------------------------------ */
enum dnsmsg_diff {
	DIFF_SAME,
	DIFF_MALFORMED,
	DIFF_PTR_STRICT,
	DIFF_CNAME_RDATA,
	DIFF_OPT_TWICE,
	DIFF_TSIG_NOT_LAST,
	DIFF_LDNS_FRAMING,
	DIFF_CLASSES
};

static unsigned oracle_u16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* The name at start: DIFF_SAME and *next (just past it where it lies), or why
 * not. Written apart from dnsmsg.c on purpose. */
static enum dnsmsg_diff oracle_name(const uint8_t *w, size_t len, size_t start,
				    size_t *next)
{
	size_t pos = start, run = start, octets = 1;
	unsigned hops = 0;
	bool jumped = false;

	for (;;) {
		uint8_t l;

		if (pos >= len)
			return DIFF_MALFORMED;
		l = w[pos];
		if (l >= 0xc0) {
			size_t t;

			if (pos + 2 > len)
				return DIFF_MALFORMED;
			t = (size_t)(l & 0x3f) * 256 + w[pos + 1];
			if (t == 0 || t >= len)
				return DIFF_MALFORMED; /* ldns refuses these too */
			if (t < 12 || t >= run || ++hops > 128)
				return DIFF_PTR_STRICT;
			if (!jumped)
				*next = pos + 2;
			jumped = true;
			pos = run = t;
			continue;
		}
		if (l > 63)
			return DIFF_MALFORMED;
		if (l == 0)
			break;
		octets += (size_t)l + 1;
		if (octets > 255)
			return DIFF_MALFORMED;
		pos += (size_t)l + 1;
	}
	if (!jumped)
		*next = pos + 1;
	return DIFF_SAME;
}

static enum dnsmsg_diff dnsmsg_diff_class(const uint8_t *w, size_t len,
					  bool *ldns_diverged)
{
	static const ldns_pkt_section sections[4] = {
		LDNS_SECTION_QUESTION, LDNS_SECTION_ANSWER,
		LDNS_SECTION_AUTHORITY, LDNS_SECTION_ADDITIONAL,
	};
	size_t pos = 12;
	unsigned opts = 0;
	bool ldns_differs = false;

	*ldns_diverged = false;
	if (w == NULL || len < 12 || len > 65535)
		return DIFF_MALFORMED;
	for (int s = 0; s < 4; s++) {
		unsigned count = oracle_u16(w + 4 + 2 * s);

		for (unsigned i = 0; i < count; i++) {
			size_t start = pos, after, end, lpos;
			unsigned type, class, rdlen;
			enum dnsmsg_diff d = oracle_name(w, len, pos, &after);
			ldns_rr *rr = NULL;

			if (d != DIFF_SAME)
				return d;
			if (s == 0) {
				if (len - after < 4)
					return DIFF_MALFORMED;
				pos = after + 4;
				continue;
			}
			if (len - after < 10)
				return DIFF_MALFORMED;
			type = oracle_u16(w + after);
			class = oracle_u16(w + after + 2);
			rdlen = oracle_u16(w + after + 8);
			end = after + 10 + rdlen;
			if (end > len)
				return DIFF_MALFORMED;
			if (s == 1 && class == 1 &&
			    ((type == 1 && rdlen != 4) || (type == 28 && rdlen != 16)))
				return DIFF_MALFORMED;
			if (s == 1 && type == 5) {
				size_t tend;

				d = oracle_name(w, len, after + 10, &tend);
				if (d == DIFF_PTR_STRICT)
					return d;
				if (d != DIFF_SAME || tend != end)
					return DIFF_CNAME_RDATA;
			}
			if (s == 3 && type == 41 && ++opts > 1)
				return DIFF_OPT_TWICE;
			if (s == 3 && type == 250 && i + 1 != count)
				return DIFF_TSIG_NOT_LAST;
			/* How ldns frames the same RR. */
			lpos = start;
			if (ldns_wire2rr(&rr, w, len, &lpos, sections[s]) ==
			    LDNS_STATUS_OK)
				ldns_rr_free(rr);
			else
				lpos = 0; /* refused */
			if (lpos != end)
				*ldns_diverged = ldns_differs = true;
			pos = end;
		}
	}
	return ldns_differs ? DIFF_LDNS_FRAMING : DIFF_SAME;
}

/* NULL when a and b are the same result, else what differs. */
static const char *dnsmsg_diff_result(int ra, rv_verdict wa, const rv_answer *a,
				      int rb, rv_verdict wb, const rv_answer *b)
{
	if (ra != rb)
		return "rc";
	if (wa != wb)
		return "verdict";
	if (strcmp(a->qname, b->qname) != 0)
		return "qname";
	if (a->qtype != b->qtype)
		return "qtype";
	if (a->rcode != b->rcode)
		return "rcode";
	if (a->depth != b->depth)
		return "depth";
	if (a->min_ttl != b->min_ttl)
		return "min_ttl";
	if (a->naddrs != b->naddrs || a->addrs_truncated != b->addrs_truncated)
		return "naddrs";
	/* Only addrs[0..naddrs) is meaningful (rv_answer_clear()). */
	if (memcmp(a->addrs, b->addrs, a->naddrs * sizeof(a->addrs[0])) != 0)
		return "addrs";
	return NULL;
}
