/* dnswire.c - DNS message scanning, compressed names, rcode/TSIG error/type
 * names (see dnswire.h). */
#include <stdio.h>
#include <string.h>

#include "dname.h"
#include "dnswire.h"

bool rv_dnswire_name_skip(const uint8_t *w, size_t len, size_t *off)
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
			return false;  /* 0x40/0x80: retired label types (RFC 6891 5) */
		o += 1u + l;
		if (l == 0) {
			*off = o;
			return true;
		}
	}
}

bool rv_dnswire_name_read(const uint8_t *w, size_t len, size_t *off, uint8_t *out,
		size_t *outlen)
{
	size_t o = *off, n = 0;
	bool jumped = false;

	/* A name has at most 127 labels, so an honest encoding needs fewer hops. */
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
		if (o + 1 + l > len || n + 1 + l > RV_DNAME_WIRE_MAX)
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

/* RFC 8945 4.2: algorithm name, time signed, fudge, MAC size, MAC, original
 * ID, error, other len, other data. rd..end is the RDATA. */
static bool tsig_read(const uint8_t *w, size_t len, size_t start, size_t fixed, size_t end,
		rv_dns_tsig *t)
{
	size_t p = start;

	if (!rv_dnswire_name_read(w, len, &p, t->name, &t->name_len))
		return false;
	t->rr_class = rv_get16(w + fixed + 2);
	t->ttl = rv_get32(w + fixed + 4);
	p = fixed + RV_DNS_RR_FIXED;
	if (!rv_dnswire_name_read(w, end, &p, t->alg, &t->alg_len) || p + 10 > end)
		return false;
	t->timers = w + p;
	t->mac_len = rv_get16(w + p + 8);
	p += 10;
	if (p + t->mac_len + 6 > end)
		return false;
	t->mac = w + p;
	p += t->mac_len;
	t->orig_id = rv_get16(w + p);
	t->error = rv_get16(w + p + 2);
	t->other_len = rv_get16(w + p + 4);
	p += 6;
	if (p + t->other_len != end)
		return false;
	t->other = w + p;
	t->off = start;
	return true;
}

int rv_dnswire_scan(const uint8_t *w, size_t len, rv_dns_msg *m, char *err, size_t errlen)
{
	size_t o = RV_DNS_HDR;

	memset(m, 0, sizeof(*m));
	if (w == NULL || len < RV_DNS_HDR) {
		snprintf(err, errlen, "message of %zu bytes", len);
		return -EBADMSG;
	}
	m->id = rv_get16(w);
	m->flags = rv_get16(w + 2);
	m->qd = rv_get16(w + 4);
	m->an = rv_get16(w + 6);
	m->ns = rv_get16(w + 8);
	m->ar = rv_get16(w + 10);
	for (unsigned i = 0; i < m->qd; i++)
		if (!rv_dnswire_name_skip(w, len, &o) || (o += 4) > len)
			goto bad;
	m->an_off = o;
	unsigned total = (unsigned)m->an + m->ns + m->ar;
	for (unsigned i = 0; i < total; i++) {
		size_t start = o;
		if (!rv_dnswire_name_skip(w, len, &o) || o + RV_DNS_RR_FIXED > len)
			goto bad;
		uint16_t type = rv_get16(w + o);
		size_t rd = o + RV_DNS_RR_FIXED, rdlen = rv_get16(w + o + 8);
		if (rd + rdlen > len)
			goto bad;
		if (type == RV_TYPE_TSIG && i >= (unsigned)m->an + m->ns) {
			if (i != total - 1) {
				snprintf(err, errlen, "TSIG is not the last record");
				return -EBADMSG;
			}
			if (!tsig_read(w, len, start, o, rd + rdlen, &m->tsig))
				goto bad;
			m->has_tsig = true;
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

const char *rv_dns_rcode_name(unsigned rcode, char *buf, size_t len)
{
	/* IANA "DNS RCODEs" 0..10 (RFC 1035, RFC 2136); the 4-bit header rcode
	 * goes to 15, the rest is unassigned there. */
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
	};
	if (rcode < RV_ARRAY_LEN(names))
		return names[rcode];
	snprintf(buf, len, "RCODE%u", rcode);
	return buf;
}

const char *rv_dns_tsig_error_name(unsigned error, char *buf, size_t len)
{
	switch (error) {
	case 16: return "BADSIG";
	case 17: return "BADKEY";
	case 18: return "BADTIME";
	case 22: return "BADTRUNC";
	default: break;
	}
	snprintf(buf, len, "%u", error);
	return buf;
}

const char *rv_dns_type_name(unsigned type, char *buf, size_t len)
{
	/* The types a zone of ours may hold (ours, its apex, what else gets
	 * reported as foreign: DNSSEC records of a signed zone, RPZ triggers). */
	static const struct {
		unsigned type;
		const char *name;
	} types[] = {
		{1, "A"}, {2, "NS"}, {5, "CNAME"}, {6, "SOA"}, {12, "PTR"}, {13, "HINFO"},
		{15, "MX"}, {16, "TXT"}, {28, "AAAA"}, {33, "SRV"}, {35, "NAPTR"},
		{39, "DNAME"}, {43, "DS"}, {46, "RRSIG"}, {47, "NSEC"}, {48, "DNSKEY"},
		{50, "NSEC3"}, {51, "NSEC3PARAM"}, {52, "TLSA"}, {59, "CDS"}, {60, "CDNSKEY"},
		{63, "ZONEMD"}, {64, "SVCB"}, {65, "HTTPS"}, {99, "SPF"}, {257, "CAA"},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(types); i++)
		if (types[i].type == type)
			return types[i].name;
	snprintf(buf, len, "TYPE%u", type);
	return buf;
}
