/*
 * dnstap_pbc_ref.c - the protobuf-c based rv_dnstap_decode() that the
 * hand-written reader in agent/dnstap.c replaced, kept as the reference of
 * the differential tests: test_dnstap.c and (with -DRV_FUZZ_DIFFERENTIAL)
 * fuzz_dnstap.c #include this file, so it is built into them only, never
 * into the agent. The same code but for the allocator (protobuf-c's default
 * one here; the agent's copy had a bump arena) and the names
 * (rv_dnstap_decode_ref, rv_dnstap_release_ref).
 *
 * After it, dnstap_diff() names the first difference between two results.
 * There is no deliberate difference: the two must always agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnstap.h"
#include "dnstap.pb-c.h"

/* The last unpacked frame: what the last reference observation borrowed. */
static Dnstap__Dnstap *ref_last;

static void rv_dnstap_release_ref(void)
{
	dnstap__dnstap__free_unpacked(ref_last, NULL);
	ref_last = NULL;
}

static bool ref_take_addr(protobuf_c_boolean has, const ProtobufCBinaryData *b,
			  rv_addr *a)
{
	if (!has || b->data == NULL)
		return false;
	return rv_addr_set(a, b->data, b->len) == 0;
}

static int rv_dnstap_decode_ref(const uint8_t *frame, size_t len, unsigned max_depth,
				rv_observation *obs, rv_verdict *why)
{
	Dnstap__Dnstap *d;
	const Dnstap__Message *m;
	int rc = -EBADMSG;

	rv_dnstap_release_ref();
	memset(obs, 0, offsetof(rv_observation, answer));
	rv_answer_clear(&obs->answer);
	*why = RV_BAD_PROTOBUF;

	if (frame == NULL && len > 0)
		goto out;
	d = dnstap__dnstap__unpack(NULL, len, frame);
	if (d == NULL)
		goto out;
	ref_last = d;

	rc = -ENOENT;
	if (d->type != DNSTAP__DNSTAP__TYPE__MESSAGE || d->message == NULL) {
		*why = RV_SKIP_NO_MESSAGE;
		goto out;
	}
	m = d->message;
	obs->msg_type = (int)m->type;
	if (m->type != DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE &&
	    m->type != DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE) {
		*why = RV_SKIP_MSG_TYPE;
		goto out;
	}

	if (m->has_socket_protocol && m->socket_protocol >= 1 && m->socket_protocol <= 4)
		obs->socket_protocol = (int)m->socket_protocol;
	if (d->has_identity && d->identity.len > 0) {
		obs->identity = d->identity.data;
		obs->identity_len = d->identity.len;
	}
	obs->has_client = ref_take_addr(m->has_query_address, &m->query_address,
					&obs->client);
	obs->has_response_addr = ref_take_addr(m->has_response_address,
					       &m->response_address,
					       &obs->response_addr);
	if (m->has_response_port && m->response_port <= UINT16_MAX)
		obs->response_port = (uint16_t)m->response_port;
	if (m->has_response_time_sec && m->response_time_sec <= INT64_MAX) {
		obs->has_time = true;
		obs->time_sec = (int64_t)m->response_time_sec;
		if (m->has_response_time_nsec &&
		    m->response_time_nsec < 1000000000u)
			obs->time_nsec = m->response_time_nsec;
	}

	if (!m->has_response_message) {
		*why = RV_SKIP_NO_MESSAGE;
		goto out;
	}
	rc = rv_dnsmsg_parse(m->response_message.data, m->response_message.len,
			     max_depth, &obs->answer, why);
out:
	return rc;
}

static bool dnstap_bytes_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/*
 * NULL if the two decodes agree: same result and verdict, same observation
 * fields (borrowed bytes compared by content, the answer's arrays up to their
 * counts); else the name of the first field that differs.
 */
static const char *dnstap_diff(int rc, rv_verdict why, const rv_observation *o,
			       int ref_rc, rv_verdict ref_why, const rv_observation *r)
{
	const rv_answer *a = &o->answer, *b = &r->answer;

	if (rc != ref_rc)
		return "result";
	if (why != ref_why)
		return "verdict";
	if (o->msg_type != r->msg_type)
		return "msg_type";
	if (o->has_client != r->has_client ||
	    (o->has_client && !rv_addr_equal(&o->client, &r->client)))
		return "client";
	if (o->has_response_addr != r->has_response_addr ||
	    (o->has_response_addr && !rv_addr_equal(&o->response_addr, &r->response_addr)))
		return "response_addr";
	if (o->response_port != r->response_port)
		return "response_port";
	if (o->has_time != r->has_time || o->time_sec != r->time_sec ||
	    o->time_nsec != r->time_nsec)
		return "time";
	if ((o->identity == NULL) != (r->identity == NULL) ||
	    !dnstap_bytes_equal(o->identity, o->identity_len, r->identity, r->identity_len))
		return "identity";
	if (o->socket_protocol != r->socket_protocol)
		return "socket_protocol";
	if (strcmp(a->qname, b->qname) != 0)
		return "qname";
	if (a->qtype != b->qtype || a->rcode != b->rcode || a->depth != b->depth ||
	    a->min_ttl != b->min_ttl || a->addrs_truncated != b->addrs_truncated)
		return "answer header";
	if (a->naddrs != b->naddrs)
		return "naddrs";
	for (size_t i = 0; i < a->naddrs; i++)
		if (!rv_addr_equal(&a->addrs[i], &b->addrs[i]) || a->addr_ttl[i] != b->addr_ttl[i])
			return "addrs";
	if (rc == 0 && (!dnstap_bytes_equal(a->wire, a->wire_len, b->wire, b->wire_len) ||
			a->addr_owner != b->addr_owner))
		return "wire";
	if (a->nlinks != b->nlinks)
		return "nlinks";
	for (size_t i = 0; i < a->nlinks; i++)
		if (a->links[i].owner != b->links[i].owner ||
		    a->links[i].target != b->links[i].target ||
		    a->links[i].type != b->links[i].type || a->links[i].ttl != b->links[i].ttl)
			return "links";
	return NULL;
}
