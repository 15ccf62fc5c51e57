/*
 * dnswire.h - DNS message wire format (RFC 1035 4.1) shared by the UPDATE
 * writer (rpz.c), the AXFR reconcile (reconcile.c) and TSIG (tsig.c):
 * big-endian field access, a bounds-checked scanner that finds every section
 * and the TSIG RR, compressed-name reading, and the rcode / TSIG error / RR type
 * names used in logs. Pure functions over byte buffers.
 *
 * The ingest path (dnsmsg.c) keeps its own allocation-free walker, which
 * compares names where they lie instead of copying them; it shares the field
 * accessors below.
 */
#ifndef RV_DNSWIRE_H
#define RV_DNSWIRE_H

#include "common.h"

/* Largest DNS message (RFC 1035 4.2.2: TCP length prefix). */
#define RV_DNS_MSG_MAX 65535
#define RV_DNS_HDR 12        /* header octets (RFC 1035 4.1.1) */
#define RV_DNS_RR_FIXED 10   /* TYPE, CLASS, TTL, RDLENGTH (RFC 1035 4.1.3) */

/* RR types, classes and opcodes the agent writes or reads. */
enum {
	RV_TYPE_NS = 2,
	RV_TYPE_SOA = 6,
	RV_TYPE_PTR = 12,
	RV_TYPE_TXT = 16,
	RV_TYPE_TSIG = 250,   /* RFC 8945 */
	RV_TYPE_AXFR = 252,   /* RFC 5936 */
	RV_CLASS_IN = 1,
	RV_CLASS_ANY = 255,
	RV_OPCODE_QUERY = 0,
	RV_OPCODE_UPDATE = 5, /* RFC 2136 */
	RV_RCODE_NOERROR = 0,
	RV_RCODE_NOTAUTH = 9,
};

static inline uint16_t rv_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rv_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void rv_put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void rv_put32(uint8_t *p, uint32_t v)
{
	rv_put16(p, v >> 16);
	rv_put16(p + 2, v & 0xffff);
}

/* The TSIG RR of a message (RFC 8945 4.2), pointers into the message. */
typedef struct rv_dns_tsig {
	size_t off;               /* start of the RR = end of what its MAC covers */
	uint8_t name[255];        /* key name, lower-case uncompressed wire */
	size_t name_len;
	uint8_t alg[255];         /* algorithm name, likewise */
	size_t alg_len;
	uint16_t rr_class;
	uint32_t ttl;
	const uint8_t *timers;    /* time signed (6 octets) + fudge (2), as on the wire */
	const uint8_t *mac;
	uint16_t mac_len;
	uint16_t orig_id;
	uint16_t error;
	const uint8_t *other;
	uint16_t other_len;
} rv_dns_tsig;

/* One scanned message: header fields and offsets into its wire, nothing copied. */
typedef struct rv_dns_msg {
	uint16_t id, flags;
	uint16_t qd, an, ns, ar;
	size_t an_off;            /* first answer (UPDATE: prerequisite) RR */
	bool has_tsig;
	rv_dns_tsig tsig;
} rv_dns_msg;

/* QR, opcode and the 4-bit rcode of the header (RFC 1035 4.1.1). */
static inline bool rv_dns_qr(const rv_dns_msg *m) { return (m->flags & 0x8000) != 0; }
static inline unsigned rv_dns_opcode(const rv_dns_msg *m) { return (m->flags >> 11) & 0xf; }
static inline unsigned rv_dns_rcode(const rv_dns_msg *m) { return m->flags & 0xf; }

/*
 * Walks every section of w[0..len): each name well-formed, each RDATA inside
 * the message, nothing after the last record. A TSIG RR must be the last
 * additional record (RFC 8945 5.1); its fields are read into m->tsig. Pure.
 * Returns 0, or -EBADMSG with err (a short reason).
 */
int rv_dnswire_scan(const uint8_t *w, size_t len, rv_dns_msg *m, char *err,
		size_t errlen) RV_MUST_CHECK;

/* Skips the (possibly compressed) name at *off; false if it runs off the end
 * or uses a reserved label type. */
bool rv_dnswire_name_skip(const uint8_t *w, size_t len, size_t *off) RV_MUST_CHECK;

/*
 * Reads the name at *off, following compression pointers (RFC 1035 4.1.4), into
 * out (RV_DNAME_WIRE_MAX octets) as lower-case uncompressed wire and moves *off
 * past it where it lies. Every pointer must point before itself and the name
 * must fit 255 octets, so a pointer loop cannot run forever. false if malformed.
 */
bool rv_dnswire_name_read(const uint8_t *w, size_t len, size_t *off, uint8_t *out,
		size_t *outlen) RV_MUST_CHECK;

/* "NOERROR", "NOTAUTH", ... (IANA DNS RCODEs); unknown ones as "RCODE<n>" in buf. */
const char *rv_dns_rcode_name(unsigned rcode, char *buf, size_t len);
/* TSIG error names (RFC 8945 3, IANA): "BADSIG", "BADKEY", "BADTIME",
 * "BADTRUNC"; others as the number in buf. */
const char *rv_dns_tsig_error_name(unsigned error, char *buf, size_t len);
/* RR type mnemonic ("A", "CNAME", "RRSIG", ...), or "TYPE<n>" (RFC 3597 5) in buf. */
const char *rv_dns_type_name(unsigned type, char *buf, size_t len);

#endif
