/*
 * dnsmsg.h - DNS response wire format -> the addresses a client learned and the
 * name it asked for. Pure functions over byte buffers (no I/O, no globals), so
 * unit and fuzz tests call them directly.
 */
#ifndef RV_DNSMSG_H
#define RV_DNSMSG_H

#include "common.h"

/* Why a message was (not) learned from. Counted per value in rv_stats.verdicts. */
typedef enum rv_verdict {
	RV_LEARN = 0,          /* NOERROR answer to A/AAAA with >= 1 address at the end of the chain */
	RV_SKIP_MSG_TYPE,      /* dnstap type other than CLIENT_RESPONSE / AUTH_RESPONSE */
	RV_SKIP_NO_MESSAGE,    /* dnstap message without a response_message */
	RV_SKIP_NOT_RESPONSE,  /* QR bit clear, or opcode not QUERY */
	RV_SKIP_RCODE,         /* rcode other than NOERROR */
	RV_SKIP_QTYPE,         /* question type not A/AAAA (PTR, MX, ...), or QDCOUNT != 1 */
	RV_SKIP_NO_ADDRESS,    /* NOERROR but no A/AAAA at the end of the CNAME chain (NODATA) */
	RV_SKIP_CHAIN,         /* CNAME loop or chain longer than the configured limit */
	RV_SKIP_IGNORED,       /* dropped by a configured guard (ignored response address, ...) */
	RV_SKIP_RPZ,           /* answer rewritten by a response policy (SOA in the additional section) */
	RV_BAD_PROTOBUF,       /* frame is not a valid dnstap protobuf */
	RV_BAD_DNS,            /* response_message is not a valid DNS message */
	RV_VERDICT_COUNT
} rv_verdict;

/* Short stable name for logs and stats ("learn", "skip-rcode", "bad-dns", ...). */
const char *rv_verdict_name(rv_verdict v);

/* Addresses beyond this many in one answer are dropped (and addrs_truncated set);
 * a resolver answer with more is either hostile or not worth a PTR each. */
#define RV_ANSWER_MAX_ADDRS 64

/* CNAME links of a chain (max-chain-depth is at most 64) plus the DNAMEs of
 * the answer section kept for the record-level history. */
#define RV_ANSWER_MAX_LINKS 72

/* One CNAME or DNAME record of the chain, as offsets of its owner and target
 * names into the message (rv_answer.wire); rv_answer_name() makes the text. */
typedef struct rv_answer_link {
	uint16_t owner;
	uint16_t target;
	uint16_t type;           /* 5 (CNAME) or 39 (DNAME) */
	uint32_t ttl;
} rv_answer_link;

typedef struct rv_answer {
	char qname[RV_NAME_MAX]; /* question name, lower-case presentation form, no trailing dot */
	uint16_t qtype;          /* 1 (A) or 28 (AAAA) when learned */
	uint8_t rcode;
	uint8_t depth;           /* CNAME links followed from qname to the addresses */
	uint32_t min_ttl;        /* smallest TTL among the chain's CNAMEs and the addresses */
	bool addrs_truncated;
	size_t naddrs;
	rv_addr addrs[RV_ANSWER_MAX_ADDRS]; /* de-duplicated, in answer order */
	/*
	 * The records themselves, for record-level outputs (the passive-DNS
	 * history): valid only while wire is, i.e. during the sinks' observe()
	 * call. Names stay offsets until someone asks for their text, so the
	 * table-only path pays nothing for them.
	 */
	const uint8_t *wire;     /* the message parsed (borrowed) */
	size_t wire_len;
	uint16_t addr_owner;     /* offset of the name owning the addresses (end of the chain) */
	uint32_t addr_ttl[RV_ANSWER_MAX_ADDRS]; /* TTL of addrs[i]'s record */
	size_t nlinks;           /* links[0..depth) = the CNAMEs in chain order, then DNAMEs */
	rv_answer_link links[RV_ANSWER_MAX_LINKS];
} rv_answer;

/*
 * The name at offset off of a->wire (one of a->links[] or a->addr_owner, which
 * rv_dnsmsg_parse() checked) in the presentation form qname uses, into out
 * (RV_NAME_MAX octets). Only while a->wire is valid.
 */
void rv_answer_name(const rv_answer *a, uint16_t off, char *out);

/*
 * A 64-bit fingerprint of a->links (each link's type and its owner and target
 * names, octets as they are): two answers with the same question, addresses
 * and fingerprint hold the same records, so record-level outputs can count a
 * repeat without making any name's text. (The same records in another case
 * give another fingerprint: a repeat then costs the full path, never a wrong
 * count.) Only while a->wire is valid.
 */
uint64_t rv_answer_chain_hash(const rv_answer *a);

/*
 * Empties out: qname "", every count and flag 0. Only addrs[0..naddrs) and the
 * qname up to its NUL are meaningful, so the rest (2 KiB) is left as it is:
 * clearing it, twice per frame, cost 7 % of the ingest path (callgrind).
 */
void rv_answer_clear(rv_answer *out);

/*
 * Parses a DNS response and walks the answer section's CNAME chain from the
 * question name (case-insensitive, any RR order, loop-guarded, at most max_depth
 * links; DNAME-synthesised CNAMEs are followed like any CNAME), collecting every
 * A/AAAA record owned by the last name of the chain.
 *
 * Returns 0 (and *why = RV_LEARN) when out holds >= 1 address;
 * -ENOENT when the message is valid but not learnable (*why says why);
 * -EBADMSG when the wire is malformed (*why = RV_BAD_DNS).
 * out is always written as rv_answer_clear() says (qname may be empty on
 * error). Borrows wire.
 */
int rv_dnsmsg_parse(const uint8_t *wire, size_t len, unsigned max_depth,
		rv_answer *out, rv_verdict *why) RV_MUST_CHECK;

#endif
