/*
 * dnsmsg.c - DNS response wire format -> question name + the addresses at the
 * end of its CNAME chain.
 *
 * A walker over the raw message (RFC 1035 4.1): no allocation, no copy, names
 * compared where they lie with compression pointers followed on the fly, and
 * text made once, for the question name. It replaced ldns (ldns_wire2pkt() +
 * ldns_rdf2str() per name), which cost ~25k instructions a frame: a full
 * packet allocated, every name printed to follow a chain (BENCHMARKS.md).
 *
 * Two steps. check_message() reads the whole message once and rejects any
 * malformed part, in every section, as ldns did; it remembers what the
 * verdict needs. The chain walk and the address collection then re-read the
 * answer section only, relying on that check (names, bounds), so they carry
 * no error paths of their own.
 *
 * Everything here is a pure function of its input: no globals, no logging.
 */
#include <stddef.h>
#include <string.h>

#include <xxhash.h>

#include "dname.h"
#include "dnsmsg.h"
#include "dnswire.h"

#define DNS_HEADER_SIZE 12   /* RFC 1035 4.1.1 */
#define DNS_RR_FIXED 10      /* TYPE, CLASS, TTL, RDLENGTH: RFC 1035 4.1.3 */
#define DNS_LABEL_MAX 63     /* RFC 1035 2.3.4 */
#define DNS_NAME_MAX 255     /* octets on the wire, root label included */
/* A name has at most 127 labels; a compressor needs at most one pointer per
 * label run, so more hops than that are never an honest encoding. */
#define DNS_PTR_HOPS_MAX 128

/* RV_ALWAYS_INLINE where it pays: a call per RR or per comparison
 * (prologue, epilogue, the struct rr through memory) cost more than the few
 * loads the helpers do (callgrind). */
enum {
	DNS_TYPE_A = 1,
	DNS_TYPE_CNAME = 5,
	DNS_TYPE_SOA = 6,
	DNS_TYPE_AAAA = 28,
	DNS_TYPE_DNAME = 39,
	DNS_TYPE_OPT = 41,
	DNS_TYPE_TSIG = 250,
	DNS_CLASS_IN = 1,
	DNS_OPCODE_QUERY = 0,
	DNS_RCODE_NOERROR = 0,
};

/* The longest name (one 253-octet label, every octet a "\DDD") and its NUL. */
_Static_assert(RV_NAME_MAX >= 4 * (DNS_NAME_MAX - 2) + 1,
	       "rv_answer.qname cannot hold every presentation-form name");

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

/* RFC 4343: names compare case-insensitively, and only ASCII letters fold. */
static inline uint8_t fold(uint8_t c)
{
	return (uint8_t)(c - 'A') < 26 ? (uint8_t)(c + ('a' - 'A')) : c;
}

/*
 * Checks the name at off and sets *next to the offset just past it where it
 * lies (after its root label or its first pointer). RFC 1035 4.1.4 pointers
 * are followed with the rules that make decompression safe on hostile input:
 * a pointer must point before the start of the label run it ends (so every
 * hop goes strictly backwards, and no loop can be built), into the message
 * body (the header holds no name, and 0 would be the ID), in at most
 * DNS_PTR_HOPS_MAX hops. Labels are at most 63 octets and the whole name at
 * most 255 (RFC 1035 2.3.4); the label types 0x40 and 0x80 are malformed
 * (RFC 6891 5 retired the extended label types, RFC 2673 bit labels with them).
 * Returns the pointers followed (>= 0), or -EBADMSG.
 */
static int name_check(const uint8_t *w, size_t len, size_t off, size_t *next)
{
	size_t run = off; /* where the current run of labels started */
	size_t total = 1; /* the root label */
	unsigned hops = 0;
	bool jumped = false;

	for (;;) {
		size_t ptr;
		uint8_t b;

		if (off >= len)
			return -EBADMSG;
		b = w[off];
		if (b == 0)
			break;
		if (b <= DNS_LABEL_MAX) {
			total += 1u + b;
			if (total > DNS_NAME_MAX)
				return -EBADMSG;
			off += 1u + b; /* the next octet read checks the bound */
			continue;
		}
		if ((b & 0xc0) != 0xc0 || len - off < 2)
			return -EBADMSG;
		ptr = (size_t)(b & 0x3f) << 8 | w[off + 1];
		if (ptr < DNS_HEADER_SIZE || ptr >= run ||
		    ++hops > DNS_PTR_HOPS_MAX)
			return -EBADMSG;
		if (!jumped)
			*next = off + 2;
		jumped = true;
		off = run = ptr;
	}
	if (!jumped)
		*next = off + 1;
	return (int)hops;
}

/* Offset just past a name that name_check() accepted. */
static size_t name_skip(const uint8_t *w, size_t off)
{
	uint8_t b;

	while ((b = w[off]) != 0 && b <= DNS_LABEL_MAX)
		off += 1u + b;
	return off + (b == 0 ? 1 : 2);
}

/* Follows pointers (of a name name_check() accepted) to the next label. */
static inline size_t name_deref(const uint8_t *w, size_t off)
{
	while (w[off] > DNS_LABEL_MAX)
		off = (size_t)(w[off] & 0x3f) << 8 | w[off + 1];
	return off;
}

/*
 * Case-insensitive equality of two names name_check() accepted, label by label
 * where they lie. Length octets (<= 63) are below 'A' and compare as
 * themselves. Two label runs at the same offset are the same suffix: a
 * compressed message shares suffixes, so most comparisons end there early.
 */
RV_ALWAYS_INLINE bool name_equal(const uint8_t *w, size_t a, size_t b)
{
	for (;;) {
		uint8_t n;

		a = name_deref(w, a);
		b = name_deref(w, b);
		if (a == b)
			return true;
		n = w[a];
		if (n != w[b])
			return false;
		if (n == 0)
			return true;
		/* Folded only where the octets differ: most are equal or
		 * differ in more than case. */
		for (size_t i = 1; i <= n; i++)
			if (w[a + i] != w[b + i] && fold(w[a + i]) != fold(w[b + i]))
				return false;
		a += 1u + n;
		b += 1u + n;
	}
}

/*
 * A name name_check() accepted -> the form the agent stores and logs: RFC 1035
 * 5.1 presentation form, lower-case, no trailing dot, "." for the root, with
 * the escapes of dname.h (the forms ldns_rdf2str() wrote before this file
 * replaced it: stored names must not change). Octets go through dname.h's
 * inline printer, the one rv_dname_to_text() uses, while the pointers are
 * followed here, in place: no copy of the name first. out has RV_NAME_MAX
 * octets (see the static assert).
 */
static const bool prints_as_itself[256] = {
	/* What rv_dname_octet_text() copies unchanged, for the octets hostnames
	 * are made of: a lookup instead of its five tests per octet. */
	['a' ... 'z'] = true, ['0' ... '9'] = true, ['-'] = true, ['_'] = true,
};

/* The n octets of the label whose length octet is at off, printed at p;
 * returns the end of what it wrote. len bounds what may be read. */
RV_ALWAYS_INLINE char *label_text(const uint8_t *w, size_t len, size_t off, uint8_t n, char *p)
{
	size_t i = 1;

	/* Four octets at a time while all four print as themselves (one
	 * test, one 4-byte copy): host names are nearly all such octets. */
	for (; i + 3 <= n; i += 4) {
		const uint8_t *q = w + off + i;

		if (!(prints_as_itself[q[0]] & prints_as_itself[q[1]] &
		      prints_as_itself[q[2]] & prints_as_itself[q[3]]))
			break;
		memcpy(p, q, 4);
		p += 4;
	}
	/* The last 1..3 octets the same way, when the loop above did not stop
	 * early and the 4 octets from there lie in the message (they do but for
	 * a name at its very end): the octets past the label are copied too,
	 * and then overwritten (out has room to spare: the static assert). */
	if (i <= n && i + 3 > n && off + i + 4 <= len) {
		const uint8_t *q = w + off + i;
		size_t r = n + 1 - i;

		if (prints_as_itself[q[0]] & (prints_as_itself[q[1]] | (r < 2)) &
		    (prints_as_itself[q[2]] | (r < 3))) {
			memcpy(p, q, 4);
			return p + r;
		}
	}
	for (; i <= n; i++) {
		uint8_t c = w[off + i];

		if (prints_as_itself[c])
			*p++ = (char)c;
		else
			p = rv_dname_octet_text(c, RV_DNAME_LOWER, p);
	}
	return p;
}

static void name_text(const uint8_t *w, size_t len, size_t off, char *out)
{
	char *p = out;

	for (;;) {
		uint8_t n;

		off = name_deref(w, off);
		n = w[off];
		if (n == 0)
			break;
		if (p != out)
			*p++ = '.';
		p = label_text(w, len, off, n, p);
		off += 1u + n;
	}
	if (p == out)
		*p++ = '.';
	*p = '\0';
}

/*
 * name_check() and name_text() in one walk, for the question's name at offset
 * 12. A pointer there can never be valid (it would have to point before the
 * name's start, into the header), so the name lies in one piece: the checks
 * that remain are name_check()'s for labels (lengths, 255 octets, the
 * message's end). *next as name_check() gives it; out is filled even when the
 * name is bad (the caller empties it then).
 */
static int qname_check_text(const uint8_t *w, size_t len, char *out, size_t *next)
{
	size_t off = DNS_HEADER_SIZE, total = 1;
	char *p = out;

	for (;;) {
		uint8_t n;

		if (off >= len)
			return -EBADMSG;
		n = w[off];
		if (n == 0)
			break;
		if (n > DNS_LABEL_MAX)
			return -EBADMSG;
		total += 1u + n;
		/* The label and the octet after it lie in the message. */
		if (total > DNS_NAME_MAX || len - off <= 1u + n)
			return -EBADMSG;
		if (p != out)
			*p++ = '.';
		p = label_text(w, len, off, n, p);
		off += 1u + n;
	}
	if (p == out)
		*p++ = '.';
	*p = '\0';
	*next = off + 1;
	return 0;
}

/* One resource record (RFC 1035 4.1.3): offsets into the message. */
struct rr {
	size_t owner;
	uint16_t type;
	uint16_t class;
	uint32_t ttl;
	size_t rdata;
	uint16_t rdlen;
};

/* Reads the fixed fields of the RR whose name ends at off. */
RV_ALWAYS_INLINE size_t rr_fields(const uint8_t *w, size_t owner, size_t off,
			struct rr *rr)
{
	rr->owner = owner;
	rr->type = rv_get16(w + off);
	rr->class = rv_get16(w + off + 2);
	rr->ttl = rv_get32(w + off + 4);
	rr->rdlen = rv_get16(w + off + 8);
	rr->rdata = off + DNS_RR_FIXED;
	return rr->rdata + rr->rdlen;
}

/* The RR at off, which check_message() accepted; returns the offset past it. */
static size_t rr_read(const uint8_t *w, size_t off, struct rr *rr)
{
	return rr_fields(w, off, name_skip(w, off), rr);
}

/* A name name_check() accepted where it starts (start 0: none), and the
 * pointers it followed. */
struct known_name {
	size_t start;
	unsigned hops;
};

/* Checks the RR at *off (owner name, fixed fields, RDATA inside the message)
 * and moves *off past it. */
RV_ALWAYS_INLINE int rr_check(const uint8_t *w, size_t len, size_t *off, struct rr *rr,
		    bool q_checked, const struct known_name *target)
{
	size_t p, o = *off;

	/* Nearly every owner is a bare pointer to the question name (RFC 1035
	 * 4.1.4), which q_checked says name_check() accepted at offset 12 with
	 * no pointer of its own: the pointer, after it, obeys every rule (it
	 * goes backwards, into the body, one hop), and the name is the same
	 * name; nothing more to walk. */
	if (q_checked && len - o >= 2 && w[o] == 0xc0 && w[o + 1] == DNS_HEADER_SIZE)
		p = o + 2;
	/* The other common owner, in a chain: a bare pointer to the target of
	 * the CNAME before it, which name_check() accepted where it starts. The
	 * pointer obeys the rules (backwards, into the body) if it is before
	 * this owner; following it walks that same accepted name, from its own
	 * start, so the only sums that grow are the hops: one more. */
	else if (target->start >= DNS_HEADER_SIZE && target->start < o && len - o >= 2 &&
		 w[o] == (0xc0 | target->start >> 8) && w[o + 1] == (target->start & 0xff) &&
		 target->hops < DNS_PTR_HOPS_MAX)
		p = o + 2;
	/* The root (the OPT RR's owner, RFC 6891 6.1.2): one octet, nothing
	 * to walk. */
	else if (o < len && w[o] == 0)
		p = o + 1;
	else if (name_check(w, len, o, &p) < 0)
		return -EBADMSG;
	if (len - p < DNS_RR_FIXED)
		return -EBADMSG;
	if (len - p - DNS_RR_FIXED < rv_get16(w + p + 8))
		return -EBADMSG;
	*off = rr_fields(w, *off, p, rr);
	return 0;
}

/*
 * The answer section's first RRs as check_message() read them: the chain walk
 * looks at every answer RR once per link and once more for the addresses, and
 * re-reading each from the wire (owner name skipped, fixed fields decoded)
 * cost more than the rest of the walk (callgrind: 300 instructions a frame).
 * Answers beyond these are read again, as before.
 */
#define AN_CACHE 32

/* What check_message() found out. */
struct msg {
	const uint8_t *w;
	unsigned qdcount;
	unsigned ancount;
	size_t qname;      /* the first question's name */
	uint16_t qtype;
	uint16_t qclass;
	size_t answers;    /* first RR of the answer section */
	uint8_t ext_rcode; /* upper 8 bits of the rcode from the OPT RR */
	bool soa_additional;
	/* The IN CNAMEs among the cached answers, in answer order: each link of
	 * the chain walk looks at these only, not at every answer again. */
	unsigned ncnames;
	uint8_t cnames[AN_CACHE];
	struct rr an[AN_CACHE]; /* answers[0..min(ancount, AN_CACHE)) */
};

/* Answer RR i, which starts at *off: the cached one, or read into *spare;
 * *off moves past it (where RR i + 1 starts). Not copied out of the cache:
 * the walks look at most RRs' type only. */
static inline const struct rr *answer_at(const struct msg *m, unsigned i, size_t *off,
					 struct rr *spare)
{
	const struct rr *rr = spare;

	if (i < AN_CACHE)
		rr = &m->an[i];
	else
		rr_read(m->w, *off, spare);
	*off = rr->rdata + rr->rdlen;
	return rr;
}

/*
 * Reads every section, header counts first (RFC 1035 4.1). Every owner name
 * is checked and every RDATA kept inside the message; RDATA is only looked
 * into where the verdict depends on it:
 * - answer IN A / AAAA: exactly 4 / 16 octets (RFC 1035 3.4.1, RFC 3596 2.2),
 *   wherever owned: a wrong size is a broken message, not a shorter address;
 * - answer CNAME (any class, as ldns did): exactly one name (RFC 1035 3.3.1),
 *   possibly compressed (RFC 3597 4 keeps CNAME compressible), that ends where
 *   RDLENGTH says;
 * - additional: SOA (response policy, see below), OPT (RFC 6891 6.1.1: at most
 *   one; 6.1.3: its TTL's top octet extends the rcode) and TSIG (RFC 8945 5.1:
 *   only as the last record).
 * Octets after the last section are ignored, as ldns did: they carry nothing
 * we read, and named never sends any.
 */
static int check_message(struct msg *m, const uint8_t *w, size_t len, char *qname)
{
	unsigned qd = rv_get16(w + 4), an = rv_get16(w + 6);
	unsigned ns = rv_get16(w + 8), ar = rv_get16(w + 10);
	size_t off = DNS_HEADER_SIZE;
	bool opt = false;
	struct rr rr;
	struct known_name target = {0, 0};

	memset(m, 0, offsetof(struct msg, an));
	m->w = w;
	m->qdcount = qd;
	m->ancount = an;
	m->qname = off;
	for (unsigned i = 0; i < qd; i++) {
		size_t name = off;

		/* The one question's name is printed as it is checked (the
		 * verdict and the logs want it). */
		if (qd == 1) {
			if (qname_check_text(w, len, qname, &off) < 0 || len - off < 4)
				return -EBADMSG;
		} else if (name_check(w, len, name, &off) < 0 || len - off < 4) {
			return -EBADMSG;
		}
		if (i == 0) {
			m->qname = name;
			m->qtype = rv_get16(w + off);
			m->qclass = rv_get16(w + off + 2);
		}
		off += 4; /* QTYPE, QCLASS */
	}

	m->answers = off;
	for (unsigned i = 0; i < an; i++) {
		size_t end;

		if (rr_check(w, len, &off, &rr, qd > 0, &target) < 0)
			return -EBADMSG;
		if (i < AN_CACHE) {
			m->an[i] = rr;
			if (rr.type == DNS_TYPE_CNAME && rr.class == DNS_CLASS_IN)
				m->cnames[m->ncnames++] = (uint8_t)i;
		}
		if (rr.class == DNS_CLASS_IN &&
		    ((rr.type == DNS_TYPE_A && rr.rdlen != 4) ||
		     (rr.type == DNS_TYPE_AAAA && rr.rdlen != 16)))
			return -EBADMSG;
		if (rr.type == DNS_TYPE_CNAME) {
			int hops = name_check(w, len, rr.rdata, &end);

			if (hops < 0 || end != off)
				return -EBADMSG;
			target.start = rr.rdata;
			target.hops = (unsigned)hops;
		}
	}

	for (unsigned i = 0; i < ns; i++)
		if (rr_check(w, len, &off, &rr, qd > 0, &target) < 0)
			return -EBADMSG;

	for (unsigned i = 0; i < ar; i++) {
		if (rr_check(w, len, &off, &rr, qd > 0, &target) < 0)
			return -EBADMSG;
		switch (rr.type) {
		case DNS_TYPE_SOA:
			m->soa_additional = true;
			break;
		case DNS_TYPE_OPT:
			if (opt)
				return -EBADMSG;
			opt = true;
			m->ext_rcode = (uint8_t)(rr.ttl >> 24);
			break;
		case DNS_TYPE_TSIG:
			if (i + 1 != ar)
				return -EBADMSG;
			break;
		default:
			break;
		}
	}
	return 0;
}

/*
 * Finds the IN CNAME owned by name in the answer section. RFC 2181 10.1: a
 * name has at most one CNAME; identical duplicates are harmless (we keep the
 * first), two different targets make the chain ambiguous and the message
 * inconsistent. Returns the RR's index (and *cname), -ENOENT when name has no
 * CNAME, -EBADMSG on a conflict.
 */
static int find_cname(const struct msg *m, size_t name, struct rr *cname)
{
	size_t off = m->answers;
	int found = -ENOENT;

	if (m->ancount <= AN_CACHE) {
		/* The same walk, over the IN CNAMEs only (every answer is cached). */
		for (unsigned k = 0; k < m->ncnames; k++) {
			const struct rr *rr = &m->an[m->cnames[k]];

			if (!name_equal(m->w, rr->owner, name))
				continue;
			if (found < 0) {
				found = (int)m->cnames[k];
				*cname = *rr;
				continue;
			}
			if (!name_equal(m->w, cname->rdata, rr->rdata))
				return -EBADMSG;
		}
		return found;
	}
	for (unsigned i = 0; i < m->ancount; i++) {
		struct rr spare;
		const struct rr *rr = answer_at(m, i, &off, &spare);

		if (rr->type != DNS_TYPE_CNAME || rr->class != DNS_CLASS_IN ||
		    !name_equal(m->w, rr->owner, name))
			continue;
		if (found < 0) {
			found = (int)i;
			*cname = *rr;
			continue;
		}
		if (!name_equal(m->w, cname->rdata, rr->rdata))
			return -EBADMSG;
	}
	return found;
}

/* Adds a unless already present; sets addrs_truncated when there is no room.
 * Returns true when a is (now) in out->addrs. */
static bool add_addr(rv_answer *out, const rv_addr *a, uint32_t ttl)
{
	for (size_t i = 0; i < out->naddrs; i++)
		if (rv_addr_equal(&out->addrs[i], a))
			return true;
	if (out->naddrs >= RV_ANSWER_MAX_ADDRS) {
		out->addrs_truncated = true;
		return false;
	}
	out->addr_ttl[out->naddrs] = ttl;
	out->addrs[out->naddrs++] = *a;
	return true;
}

void rv_answer_clear(rv_answer *out)
{
	out->qname[0] = '\0';
	out->qtype = 0;
	out->rcode = 0;
	out->depth = 0;
	out->min_ttl = 0;
	out->addrs_truncated = false;
	out->naddrs = 0;
	out->wire = NULL;
	out->wire_len = 0;
	out->addr_owner = 0;
	out->nlinks = 0;
}

/* Appends the wire name at off (pointers followed, labels as they are: no
 * case folding, which a fingerprint does not need) to buf at *n; the name
 * was checked by check_message(), so it fits in 255 octets. */
static void name_raw(const uint8_t *w, size_t off, uint8_t *buf, size_t *n)
{
	for (;;) {
		uint8_t len;

		off = name_deref(w, off);
		len = w[off];
		memcpy(buf + *n, w + off, 1u + len);
		*n += 1u + len;
		if (len == 0)
			return;
		off += 1u + len;
	}
}

uint64_t rv_answer_chain_hash(const rv_answer *a)
{
	/* XXH3 over the links' types and names, copied label run by label run
	 * (FNV per folded octet cost 540 instructions a frame: callgrind). */
	uint8_t buf[RV_ANSWER_MAX_LINKS * (2 + 2 * 255)];
	size_t n = 0;

	if (a->wire == NULL)
		return a->nlinks;
	for (size_t i = 0; i < a->nlinks; i++) {
		buf[n++] = (uint8_t)(a->links[i].type >> 8);
		buf[n++] = (uint8_t)a->links[i].type;
		name_raw(a->wire, a->links[i].owner, buf, &n);
		name_raw(a->wire, a->links[i].target, buf, &n);
	}
	return XXH3_64bits(buf, n);
}

void rv_answer_name(const rv_answer *a, uint16_t off, char *out)
{
	if (a->wire == NULL || off < DNS_HEADER_SIZE || off >= a->wire_len) {
		out[0] = '\0';
		return;
	}
	name_text(a->wire, a->wire_len, off, out);
}

int rv_dnsmsg_parse(const uint8_t *wire, size_t len, unsigned max_depth,
		    rv_answer *out, rv_verdict *why)
{
	struct msg m;
	uint64_t used[(UINT16_MAX + 1) / 64]; /* the CNAME loop guard, a bit per answer */
	size_t name, off, end;
	unsigned depth = 0;
	uint32_t min_ttl = UINT32_MAX;
	int rc = -EBADMSG;

	rv_answer_clear(out);
	*why = RV_BAD_DNS;

	if (wire == NULL || len < DNS_HEADER_SIZE || len > UINT16_MAX)
		goto out;
	if (check_message(&m, wire, len, out->qname) < 0) {
		out->qname[0] = '\0';
		goto out;
	}

	out->rcode = wire[3] & 0x0f;
	/* The name is useful in logs even when we do not learn from it. */
	if (m.qdcount == 1)
		out->qtype = m.qtype;

	rc = -ENOENT;
	/* RFC 1035 4.1.1: QR is the top bit of octet 2, OPCODE the next four. */
	if ((wire[2] & 0x80) == 0 ||
	    (wire[2] >> 3 & 0x0f) != DNS_OPCODE_QUERY) {
		*why = RV_SKIP_NOT_RESPONSE;
		goto out;
	}
	/* RFC 6891 6.1.3: with EDNS the rcode has 8 more bits in the OPT TTL;
	 * BADVERS and friends are not NOERROR either. */
	if (out->rcode != DNS_RCODE_NOERROR || m.ext_rcode != 0) {
		*why = RV_SKIP_RCODE;
		goto out;
	}
	/* RFC 9619: QDCOUNT is 1 in practice; anything else is not a question we
	 * can attribute addresses to. Checked before any answer is looked at. */
	if (m.qdcount != 1 ||
	    (m.qtype != DNS_TYPE_A && m.qtype != DNS_TYPE_AAAA) ||
	    m.qclass != DNS_CLASS_IN) {
		*why = RV_SKIP_QTYPE;
		goto out;
	}
	/* BIND adds the policy zone's SOA to the additional section of every answer
	 * a response policy rewrote (response-policy add-soa, on by default); an
	 * ordinary answer never carries an SOA there. A rewritten answer says what a
	 * policy wanted, not what the name resolves to: never learn from it. */
	if (m.soa_additional) {
		*why = RV_SKIP_RPZ;
		goto out;
	}

	/*
	 * Walk the chain (RFC 1034 3.6.2, RFC 2181 10.1). Servers usually put the
	 * CNAMEs first and in order, but nothing requires it, so each link searches
	 * the whole answer section. A DNAME is never followed itself: RFC 6672 3.
	 * has the server synthesise the CNAME it implies, which we follow like any
	 * other. A name visited twice means the CNAME owned by it is reached twice,
	 * so marking used CNAME records is the loop guard.
	 */
	/* Only the words we can touch; nearly always one, and no memset call. */
	if (m.ancount <= 64)
		used[0] = 0;
	else
		memset(used, 0, (m.ancount + 63) / 64 * sizeof(used[0]));
	name = m.qname;
	for (;;) {
		struct rr cname = {0}; /* set when found (gcc cannot tell) */
		int i = find_cname(&m, name, &cname);

		if (i == -ENOENT)
			break;
		if (i < 0) {
			rc = -EBADMSG;
			*why = RV_BAD_DNS;
			goto out;
		}
		/* depth is a uint8_t in rv_answer: a longer chain is not stored. */
		if ((used[i / 64] >> (i % 64) & 1) != 0 || depth >= max_depth ||
		    depth >= UINT8_MAX) {
			*why = RV_SKIP_CHAIN;
			goto out;
		}
		used[i / 64] |= UINT64_C(1) << (i % 64);
		if (cname.ttl < min_ttl)
			min_ttl = cname.ttl;
		/* depth < max_depth <= 64 < RV_ANSWER_MAX_LINKS (config bound) */
		if (out->nlinks < RV_ANSWER_MAX_LINKS)
			out->links[out->nlinks++] = (rv_answer_link){
				.owner = (uint16_t)cname.owner,
				.target = (uint16_t)cname.rdata,
				.type = DNS_TYPE_CNAME,
				.ttl = cname.ttl,
			};
		name = cname.rdata;
		depth++;
	}

	/* Every IN A/AAAA owned by the chain's last name, in answer order. */
	off = m.answers;
	for (unsigned i = 0; i < m.ancount; i++) {
		struct rr spare;
		const struct rr *rr = answer_at(&m, i, &off, &spare);
		rv_addr a;

		/* A DNAME's target is one name (RFC 6672 2.1). One that is not
		 * readable is not kept for the history, and the message is judged
		 * as before DNAMEs were kept (the verdict never depended on them). */
		if (rr->class == DNS_CLASS_IN && rr->type == DNS_TYPE_DNAME &&
		    out->nlinks < RV_ANSWER_MAX_LINKS &&
		    name_check(wire, len, rr->rdata, &end) >= 0 && end == off) {
			out->links[out->nlinks++] = (rv_answer_link){
				.owner = (uint16_t)rr->owner,
				.target = (uint16_t)rr->rdata,
				.type = DNS_TYPE_DNAME,
				.ttl = rr->ttl,
			};
			continue;
		}
		if (rr->class != DNS_CLASS_IN ||
		    (rr->type != DNS_TYPE_A && rr->type != DNS_TYPE_AAAA) ||
		    !name_equal(wire, rr->owner, name))
			continue;
		/* check_message() fixed the size at 4 or 16. */
		if (rv_addr_set(&a, wire + rr->rdata, rr->rdlen) < 0) {
			rc = -EBADMSG;
			*why = RV_BAD_DNS;
			goto out;
		}
		if (add_addr(out, &a, rr->ttl) && rr->ttl < min_ttl)
			min_ttl = rr->ttl;
	}
	out->wire = wire;
	out->wire_len = len;
	out->addr_owner = (uint16_t)name;

	out->depth = (uint8_t)depth;
	if (out->naddrs == 0) {
		*why = RV_SKIP_NO_ADDRESS;
		goto out;
	}
	out->min_ttl = min_ttl;
	*why = RV_LEARN;
	rc = 0;
out:
	return rc;
}
