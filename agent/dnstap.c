/*
 * dnstap.c - one dnstap.Dnstap protobuf frame -> an observation.
 *
 * A hand-written reader of the protobuf wire format (proto2, the messages of
 * proto/dnstap.proto), not protobuf-c: the generic unpacker allocated the
 * message, copied every bytes field and walked descriptor tables, 3.2k of the
 * 7.9k instructions a frame cost (callgrind, default bench mix). This reader
 * makes one pass over the frame, allocates nothing and copies nothing: what
 * the observation borrows (identity, the DNS message) points into the frame.
 * It first takes the known fields in number order, the order every packer
 * writes, with one compare of the key byte each, and then reads whatever is
 * left field by field with the generic rules below.
 *
 * It accepts and rejects exactly what protobuf-c 1.4's
 * dnstap__dnstap__unpack() does, and reads the same values; the unit tests
 * and the differential fuzz target check that against protobuf-c itself
 * (tests/unit/dnstap_pbc_ref.c). Its rules, all of them:
 *  - a field key is a varint of at most 5 bytes whose first byte has a field
 *    number (bits 3..6) != 0; wire types 3, 4, 6 and 7 (groups, reserved) are
 *    errors, known or not;
 *  - varints have at most 10 bytes; a value's bits beyond 64 are dropped, a
 *    32-bit field keeps the low 32 bits;
 *  - a length prefix is a varint of at most 5 bytes (overlong encodings are
 *    fine); the data must fit in what is left of the (sub)message;
 *  - a known field with another wire type than its schema's is an error;
 *    unknown fields of a valid wire type are skipped, at every level;
 *  - the required Dnstap.type and Message.type must be present (any value:
 *    enums are not checked), in every occurrence of a Message;
 *  - a field given twice: the last one wins, for scalars and for bytes (an
 *    empty one too). A Message given twice is merged, later fields over
 *    earlier ones, where a bytes field counts only if it is non-empty
 *    (protobuf-c's merge_messages()); the Policy submessage is checked the
 *    same way, then ignored.
 */
#include <stddef.h>
#include <string.h>

#include "dnstap.h"

/* Nanoseconds are a fraction of a second; anything else is not a time. */
#define NSEC_PER_SEC 1000000000u

/* Wire types (protobuf encoding). */
enum { WT_VARINT = 0, WT_64BIT = 1, WT_LEN = 2, WT_32BIT = 5 };

/* Field numbers of proto/dnstap.proto used below. */
enum {
	D_IDENTITY = 1, D_VERSION = 2, D_EXTRA = 3, D_MESSAGE = 14, D_TYPE = 15,
};
enum {
	M_TYPE = 1, M_SOCKET_FAMILY = 2, M_SOCKET_PROTOCOL = 3,
	M_QUERY_ADDRESS = 4, M_RESPONSE_ADDRESS = 5, M_QUERY_PORT = 6,
	M_RESPONSE_PORT = 7, M_QUERY_TIME_SEC = 8, M_QUERY_TIME_NSEC = 9,
	M_QUERY_MESSAGE = 10, M_QUERY_ZONE = 11, M_RESPONSE_TIME_SEC = 12,
	M_RESPONSE_TIME_NSEC = 13, M_RESPONSE_MESSAGE = 14, M_POLICY = 15,
	M_HTTP_PROTOCOL = 16,
};
enum { P_TYPE = 1, P_RULE = 2, P_ACTION = 3, P_MATCH = 4, P_VALUE = 5 };

/* One field as read: its number, wire type and value (v for varint and
 * fixed types, p/len for length-delimited ones). */
struct pb_field {
	uint32_t num;
	unsigned wt;
	uint64_t v;
	const uint8_t *p;
	size_t len;
};

/* A bytes field: has is protobuf-c's has_ flag, len 0 its NULL data. */
struct pb_bytes {
	bool has;
	const uint8_t *p;
	size_t len;
};

/* The Message fields the observation uses, after merging. */
struct pb_message {
	bool has_type, has_socket_protocol, has_response_port;
	bool has_response_time_sec, has_response_time_nsec;
	int32_t type;
	int32_t socket_protocol;
	uint32_t response_port;
	uint64_t response_time_sec;
	uint32_t response_time_nsec;
	struct pb_bytes query_address, response_address, response_message;
};

/*
 * Reads the field at *at (rem bytes left in its message) into f and advances
 * *at past it. false when the message ends inside the key or the value, or
 * on a key or wire type protobuf-c rejects (see the rules above).
 */
RV_ALWAYS_INLINE bool pb_next(const uint8_t **at, size_t *rem, struct pb_field *f)
{
	const uint8_t *p = *at;
	size_t n = *rem, i, used;

	/* The key: nearly always one byte (field numbers below 16). */
	if ((p[0] & 0xf8) == 0)
		return false;
	f->wt = p[0] & 7;
	if ((p[0] & 0x80) == 0) {
		f->num = p[0] >> 3;
		used = 1;
		/* The common values: a one-byte varint or length. */
		if (n >= 2 && p[1] < 0x80) {
			if (f->wt == WT_VARINT) {
				f->v = p[1];
				*at = p + 2;
				*rem = n - 2;
				return true;
			}
			if (f->wt == WT_LEN) {
				if (p[1] > n - 2)
					return false;
				f->p = p + 2;
				f->len = p[1];
				*at = p + 2 + p[1];
				*rem = n - 2 - p[1];
				return true;
			}
		}
	} else {
		uint32_t num = (p[0] & 0x7f) >> 3;
		unsigned shift = 4;
		size_t max = n < 5 ? n : 5;

		for (i = 1; i < max; i++) {
			num |= (uint32_t)(p[i] & 0x7f) << shift;
			shift += 7;
			if ((p[i] & 0x80) == 0)
				break;
		}
		if (i == max)
			return false;
		f->num = num;
		used = i + 1;
	}
	p += used;
	n -= used;

	switch (f->wt) {
	case WT_VARINT: {
		size_t max = n < 10 ? n : 10;
		uint64_t v = 0;
		unsigned shift = 0;

		for (i = 0; i < max; i++) {
			v |= (uint64_t)(p[i] & 0x7f) << shift;
			shift += 7;
			if ((p[i] & 0x80) == 0)
				break;
		}
		if (i == max)
			return false;
		f->v = v;
		used = i + 1;
		break;
	}
	case WT_64BIT:
		if (n < 8)
			return false;
		f->v = 0;
		for (i = 0; i < 8; i++)
			f->v |= (uint64_t)p[i] << (8 * i);
		used = 8;
		break;
	case WT_LEN: {
		size_t max = n < 5 ? n : 5;
		uint64_t v = 0;
		unsigned shift = 0;

		for (i = 0; i < max; i++) {
			v |= (uint64_t)(p[i] & 0x7f) << shift;
			shift += 7;
			if ((p[i] & 0x80) == 0)
				break;
		}
		if (i == max)
			return false;
		i++;
		if (v > n - i)
			return false;
		f->p = p + i;
		f->len = (size_t)v;
		used = i + (size_t)v;
		break;
	}
	case WT_32BIT:
		if (n < 4)
			return false;
		f->v = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
		       (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		used = 4;
		break;
	default: /* 3, 4: groups; 6, 7: undefined */
		return false;
	}
	*at = p + used;
	*rem = n - used;
	return true;
}

RV_ALWAYS_INLINE void take_bytes(struct pb_bytes *b, const struct pb_field *f)
{
	b->has = true;
	b->p = f->p;
	b->len = f->len;
}

/* A field's one-byte key: its number (below 16) and wire type together. */
#define KEY(num, wt) ((num) << 3 | (wt))

/* A Policy: no field is used, but protobuf-c unpacks it, so its errors are
 * the frame's. */
static bool check_policy(const uint8_t *at, size_t rem)
{
	struct pb_field f = {0};

	while (rem > 0) {
		if (!pb_next(&at, &rem, &f))
			return false;
		switch (f.num) {
		case P_TYPE:
		case P_RULE:
		case P_VALUE:
			if (f.wt != WT_LEN)
				return false;
			break;
		case P_ACTION:
		case P_MATCH:
			if (f.wt != WT_VARINT)
				return false;
			break;
		default:
			break;
		}
	}
	return true;
}

/*
 * Stores the Message field f (number, wire type, value) into *m; false when a
 * known field has another wire type than its schema's (unknown fields are
 * skipped). The one place that knows the Message's fields: both paths of
 * read_message() go through it.
 */
RV_ALWAYS_INLINE bool msg_store(struct pb_message *m, const struct pb_field *f)
{
	switch (f->num) {
	case M_TYPE:
		if (f->wt != WT_VARINT)
			return false;
		m->has_type = true;
		m->type = (int32_t)(uint32_t)f->v;
		return true;
	case M_SOCKET_PROTOCOL:
		if (f->wt != WT_VARINT)
			return false;
		m->has_socket_protocol = true;
		m->socket_protocol = (int32_t)(uint32_t)f->v;
		return true;
	case M_RESPONSE_PORT:
		if (f->wt != WT_VARINT)
			return false;
		m->has_response_port = true;
		m->response_port = (uint32_t)f->v;
		return true;
	case M_RESPONSE_TIME_SEC:
		if (f->wt != WT_VARINT)
			return false;
		m->has_response_time_sec = true;
		m->response_time_sec = f->v;
		return true;
	case M_RESPONSE_TIME_NSEC:
		if (f->wt != WT_32BIT)
			return false;
		m->has_response_time_nsec = true;
		m->response_time_nsec = (uint32_t)f->v;
		return true;
	case M_QUERY_ADDRESS:
		if (f->wt != WT_LEN)
			return false;
		take_bytes(&m->query_address, f);
		return true;
	case M_RESPONSE_ADDRESS:
		if (f->wt != WT_LEN)
			return false;
		take_bytes(&m->response_address, f);
		return true;
	case M_RESPONSE_MESSAGE:
		if (f->wt != WT_LEN)
			return false;
		take_bytes(&m->response_message, f);
		return true;
	case M_SOCKET_FAMILY:
	case M_QUERY_PORT:
	case M_QUERY_TIME_SEC:
	case M_HTTP_PROTOCOL:
		return f->wt == WT_VARINT;
	case M_QUERY_TIME_NSEC:
		return f->wt == WT_32BIT;
	case M_QUERY_MESSAGE:
	case M_QUERY_ZONE:
		return f->wt == WT_LEN;
	case M_POLICY:
		return f->wt == WT_LEN && check_policy(f->p, f->len);
	default:
		return true;
	}
}

/* One occurrence of Dnstap.message into *m (zeroed by the caller). */
RV_ALWAYS_INLINE bool read_message(const uint8_t *at, size_t rem, struct pb_message *m)
{
	struct pb_field f = {0};

	/* Packers write the fields in number order (protobuf-c, BIND, the
	 * other resolvers): each known one is first looked for where it is
	 * expected, with one compare of its key byte; with the key a constant
	 * there, the compiler folds the key decoding and msg_store()'s switch
	 * away. Whatever is left (nothing, for those packers) is then read
	 * field by field. Both read in frame order, so the later of two
	 * occurrences still wins. */
#define IN_ORDER(num, wt)                                                   \
	do {                                                                \
		if (rem > 0 && at[0] == KEY(num, wt) &&                     \
		    (!pb_next(&at, &rem, &f) || !msg_store(m, &f)))         \
			return false;                                       \
	} while (0)
	IN_ORDER(M_TYPE, WT_VARINT);
	IN_ORDER(M_SOCKET_FAMILY, WT_VARINT);
	IN_ORDER(M_SOCKET_PROTOCOL, WT_VARINT);
	IN_ORDER(M_QUERY_ADDRESS, WT_LEN);
	IN_ORDER(M_RESPONSE_ADDRESS, WT_LEN);
	IN_ORDER(M_QUERY_PORT, WT_VARINT);
	IN_ORDER(M_RESPONSE_PORT, WT_VARINT);
	IN_ORDER(M_QUERY_TIME_SEC, WT_VARINT);
	IN_ORDER(M_QUERY_TIME_NSEC, WT_32BIT);
	IN_ORDER(M_QUERY_MESSAGE, WT_LEN);
	IN_ORDER(M_QUERY_ZONE, WT_LEN);
	IN_ORDER(M_RESPONSE_TIME_SEC, WT_VARINT);
	IN_ORDER(M_RESPONSE_TIME_NSEC, WT_32BIT);
	IN_ORDER(M_RESPONSE_MESSAGE, WT_LEN);
#undef IN_ORDER

	while (rem > 0)
		if (!pb_next(&at, &rem, &f) || !msg_store(m, &f))
			return false;
	return m->has_type;
}

/* protobuf-c's merge of an earlier occurrence into a later one: the later
 * one's fields win where it has them; a bytes field only if non-empty. */
static void merge_bytes(struct pb_bytes *acc, const struct pb_bytes *later)
{
	if (later->len > 0 || acc->len == 0)
		*acc = *later;
}

static void merge_message(struct pb_message *acc, const struct pb_message *m)
{
	acc->has_type = true;
	acc->type = m->type;
	if (m->has_socket_protocol) {
		acc->has_socket_protocol = true;
		acc->socket_protocol = m->socket_protocol;
	}
	if (m->has_response_port) {
		acc->has_response_port = true;
		acc->response_port = m->response_port;
	}
	if (m->has_response_time_sec) {
		acc->has_response_time_sec = true;
		acc->response_time_sec = m->response_time_sec;
	}
	if (m->has_response_time_nsec) {
		acc->has_response_time_nsec = true;
		acc->response_time_nsec = m->response_time_nsec;
	}
	merge_bytes(&acc->query_address, &m->query_address);
	merge_bytes(&acc->response_address, &m->response_address);
	merge_bytes(&acc->response_message, &m->response_message);
}

/* dnstap addresses are raw network-order bytes, 4 for INET and 16 for INET6
 * (dnstap.proto "query_address"); any other length is ignored, not fatal. */
static bool take_addr(const struct pb_bytes *b, rv_addr *a)
{
	if (!b->has || b->len == 0)
		return false;
	return rv_addr_set(a, b->p, b->len) == 0;
}

/* The Dnstap fields the observation uses, after merging. */
struct pb_dnstap {
	struct pb_bytes identity;
	struct pb_message m;
	bool has_dtype, has_message;
	int32_t dtype;
};

/* Stores the Dnstap field f into *d, as msg_store() does for a Message; a
 * second Message is merged into the first, as protobuf-c does. */
RV_ALWAYS_INLINE bool dnstap_store(struct pb_dnstap *d, const struct pb_field *f)
{
	switch (f->num) {
	case D_IDENTITY:
		if (f->wt != WT_LEN)
			return false;
		take_bytes(&d->identity, f);
		return true;
	case D_VERSION:
	case D_EXTRA:
		return f->wt == WT_LEN;
	case D_MESSAGE: {
		struct pb_message one = {0};

		if (f->wt != WT_LEN)
			return false;
		/* Most frames have one: read it in place. */
		if (!d->has_message) {
			d->has_message = true;
			return read_message(f->p, f->len, &d->m);
		}
		if (!read_message(f->p, f->len, &one))
			return false;
		merge_message(&d->m, &one);
		return true;
	}
	case D_TYPE:
		if (f->wt != WT_VARINT)
			return false;
		d->has_dtype = true;
		d->dtype = (int32_t)(uint32_t)f->v;
		return true;
	default:
		return true;
	}
}

/* rv_dnstap_decode() but for clearing the answer, which rv_dnsmsg_parse()
 * does itself: *parsed says whether it was called. */
RV_ALWAYS_INLINE int decode(const uint8_t *frame, size_t len, unsigned max_depth,
		     rv_observation *obs, rv_verdict *why, bool *parsed)
{
	const uint8_t *at = frame;
	size_t rem = len;
	struct pb_field f = {0};
	struct pb_dnstap d = {0};
	const struct pb_message *m = &d.m;
	const struct pb_bytes *identity = &d.identity;

	/* Not memset(): obs is 2 KiB, nearly all of it the answer's buffers. */
	memset(obs, 0, offsetof(rv_observation, answer));
	*why = RV_BAD_PROTOBUF;

	if (frame == NULL && len > 0)
		return -EBADMSG;
	/* In number order first, then the rest, as in read_message(). */
#define IN_ORDER(num, wt)                                                   \
	do {                                                                \
		if (rem > 0 && at[0] == KEY(num, wt) &&                     \
		    (!pb_next(&at, &rem, &f) || !dnstap_store(&d, &f)))     \
			return -EBADMSG;                                    \
	} while (0)
	IN_ORDER(D_IDENTITY, WT_LEN);
	IN_ORDER(D_VERSION, WT_LEN);
	IN_ORDER(D_EXTRA, WT_LEN);
	IN_ORDER(D_MESSAGE, WT_LEN);
	IN_ORDER(D_TYPE, WT_VARINT);
#undef IN_ORDER
	while (rem > 0)
		if (!pb_next(&at, &rem, &f) || !dnstap_store(&d, &f))
			return -EBADMSG;
	/* Dnstap.type is required. */
	if (!d.has_dtype)
		return -EBADMSG;

	/* MESSAGE (1) is the only Dnstap.Type the schema defines; enum values
	 * are not checked, so a future type arrives here as a number. */
	if (d.dtype != 1 || !d.has_message) {
		*why = RV_SKIP_NO_MESSAGE;
		return -ENOENT;
	}
	obs->msg_type = (int)m->type;
	/* BIND sends CLIENT_RESPONSE for RD=1 queries and AUTH_RESPONSE for
	 * RD=0 ones (README "How it works"); RESOLVER_* are upstream traffic and
	 * UPDATE_* our own writes, neither is what a client saw. */
	if (m->type != RV_DNSTAP_CLIENT_RESPONSE && m->type != RV_DNSTAP_AUTH_RESPONSE) {
		*why = RV_SKIP_MSG_TYPE;
		return -ENOENT;
	}

	if (m->has_socket_protocol && m->socket_protocol >= 1 && m->socket_protocol <= 4)
		obs->socket_protocol = (int)m->socket_protocol;
	if (identity->has && identity->len > 0) {
		obs->identity = identity->p;
		obs->identity_len = identity->len;
	}
	obs->has_client = take_addr(&m->query_address, &obs->client);
	obs->has_response_addr = take_addr(&m->response_address, &obs->response_addr);
	if (m->has_response_port && m->response_port <= UINT16_MAX)
		obs->response_port = (uint16_t)m->response_port;
	if (m->has_response_time_sec && m->response_time_sec <= INT64_MAX) {
		obs->has_time = true;
		obs->time_sec = (int64_t)m->response_time_sec;
		if (m->has_response_time_nsec && m->response_time_nsec < NSEC_PER_SEC)
			obs->time_nsec = m->response_time_nsec;
	}

	/* An empty but present message is a broken one: dnsmsg says so. */
	if (!m->response_message.has) {
		*why = RV_SKIP_NO_MESSAGE;
		return -ENOENT;
	}
	*parsed = true;
	return rv_dnsmsg_parse(m->response_message.len > 0 ? m->response_message.p : NULL,
			       m->response_message.len, max_depth, &obs->answer, why);
}

int rv_dnstap_decode(const uint8_t *frame, size_t len, unsigned max_depth,
		     rv_observation *obs, rv_verdict *why)
{
	bool parsed = false;
	int rc = decode(frame, len, max_depth, obs, why, &parsed);

	if (!parsed)
		rv_answer_clear(&obs->answer);
	return rc;
}

void rv_dnstap_release(void)
{
	/* Nothing to release: observations borrow from the frame itself. Kept so
	 * that callers need not know which decoder they have. */
}

const char *rv_dnstap_transport_name(int socket_protocol)
{
	static const char *const names[] = {"unknown", "udp", "tcp", "dot", "doh"};

	if (socket_protocol < 0 || (size_t)socket_protocol >= RV_ARRAY_LEN(names))
		return "unknown";
	return names[socket_protocol];
}
