/*
 * dnstap.c - one dnstap.Dnstap protobuf frame -> an observation.
 *
 * protobuf-c (code generated from proto/dnstap.proto at build time) does the
 * decoding; dnsmsg.c reads the DNS response inside. The unpacked message is
 * freed before returning: obs owns nothing and borrows nothing from the frame.
 */
#include <string.h>

#include "dnstap.h"
#include "dnstap.pb-c.h"

/* Nanoseconds are a fraction of a second; anything else is not a time. */
#define NSEC_PER_SEC 1000000000u

/* dnstap addresses are raw network-order bytes, 4 for INET and 16 for INET6
 * (dnstap.proto "query_address"); any other length is ignored, not fatal. */
static bool take_addr(protobuf_c_boolean has, const ProtobufCBinaryData *b,
		      rv_addr *a)
{
	if (!has || b->data == NULL)
		return false;
	return rv_addr_set(a, b->data, b->len) == 0;
}

int rv_dnstap_decode(const uint8_t *frame, size_t len, unsigned max_depth,
		     rv_observation *obs, rv_verdict *why)
{
	Dnstap__Dnstap *d = NULL;
	const Dnstap__Message *m;
	int rc = -EBADMSG;

	memset(obs, 0, sizeof(*obs));
	*why = RV_BAD_PROTOBUF;

	if (frame == NULL && len > 0)
		goto out;
	/* NULL allocator: protobuf-c's malloc-based default. Unpack fails on bad
	 * wire types, overruns and missing required fields (Dnstap.type,
	 * Message.type). */
	d = dnstap__dnstap__unpack(NULL, len, frame);
	if (d == NULL)
		goto out;

	rc = -ENOENT;
	/* MESSAGE is the only Dnstap.Type the schema defines; protobuf-c does not
	 * check enum values, so a future type arrives here as a number. */
	if (d->type != DNSTAP__DNSTAP__TYPE__MESSAGE || d->message == NULL) {
		*why = RV_SKIP_NO_MESSAGE;
		goto out;
	}
	m = d->message;
	obs->msg_type = (int)m->type;
	/* DESIGN.md 4.1: BIND sends CLIENT_RESPONSE for RD=1 queries and
	 * AUTH_RESPONSE for RD=0 ones; RESOLVER_* are upstream traffic and
	 * UPDATE_* our own writes, neither is what a client saw. */
	if (m->type != DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE &&
	    m->type != DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE) {
		*why = RV_SKIP_MSG_TYPE;
		goto out;
	}

	obs->has_client = take_addr(m->has_query_address, &m->query_address,
				    &obs->client);
	obs->has_response_addr = take_addr(m->has_response_address,
					   &m->response_address,
					   &obs->response_addr);
	if (m->has_response_port && m->response_port <= UINT16_MAX)
		obs->response_port = (uint16_t)m->response_port;
	if (m->has_response_time_sec && m->response_time_sec <= INT64_MAX) {
		obs->has_time = true;
		obs->time_sec = (int64_t)m->response_time_sec;
		if (m->has_response_time_nsec &&
		    m->response_time_nsec < NSEC_PER_SEC)
			obs->time_nsec = m->response_time_nsec;
	}

	/* An empty but present message is a broken one: dnsmsg says so. */
	if (!m->has_response_message) {
		*why = RV_SKIP_NO_MESSAGE;
		goto out;
	}
	rc = rv_dnsmsg_parse(m->response_message.data, m->response_message.len,
			     max_depth, &obs->answer, why);
out:
	if (d != NULL)
		dnstap__dnstap__free_unpacked(d, NULL);
	return rc;
}
