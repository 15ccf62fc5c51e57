/*
 * update_srv.h - test helper for in-process DNS servers that take the agent's
 * TSIG-signed UPDATEs over TCP (test_rpz.c, test_rpz_hot.c): one framed
 * message out of the input buffer, parsed and its TSIG checked with ldns, and
 * the signed reply built the way named answers (same ID and question, QR,
 * opcode UPDATE, the request's MAC in the reply's TSIG). Include after
 * <cmocka.h> and <ldns/ldns.h>.
 */
#ifndef RV_TEST_UPDATE_SRV_H
#define RV_TEST_UPDATE_SRV_H

#include <stdint.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "tsig_key.h"

/* The next whole message of in, parsed; NULL while it is incomplete. Fails
 * the test if it does not parse or its TSIG does not verify with key. *len
 * gets its length. */
static inline ldns_pkt *update_srv_take(struct evbuffer *in, const rv_tsig_key *key, size_t *len)
{
	uint8_t hdr[2];
	if (evbuffer_copyout(in, hdr, 2) != 2)
		return NULL;
	size_t n = (size_t)hdr[0] << 8 | hdr[1];
	if (evbuffer_get_length(in) < n + 2)
		return NULL;
	evbuffer_drain(in, 2);
	uint8_t *q = malloc(n);
	assert_non_null(q);
	evbuffer_remove(in, q, n);
	ldns_pkt *req = NULL;
	assert_int_equal(ldns_wire2pkt(&req, q, n), LDNS_STATUS_OK);
	assert_true(ldns_pkt_tsig_verify(req, q, n, key->name, key->secret, NULL));
	free(q);
	*len = n;
	return req;
}

/* The reply to req with rcode, signed with key (a wrong key makes a reply the
 * agent must reject), as a TCP frame: 2 length octets, then the message.
 * *len gets the frame's length; free() the result. */
static inline uint8_t *update_srv_reply(const ldns_pkt *req, const rv_tsig_key *key,
		ldns_pkt_rcode rcode, size_t *len)
{
	ldns_pkt *p = ldns_pkt_new();
	assert_non_null(p);
	ldns_pkt_set_id(p, ldns_pkt_id(req));
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_opcode(p, LDNS_PACKET_UPDATE);
	ldns_pkt_set_rcode(p, rcode);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION,
			ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(req), 0)));
	assert_int_equal(ldns_pkt_tsig_sign(p, key->name, key->secret, 300, key->algorithm,
			ldns_rr_rdf(ldns_pkt_tsig(req), 3)), LDNS_STATUS_OK);
	uint8_t *w = NULL;
	size_t wl;
	assert_int_equal(ldns_pkt2wire(&w, p, &wl), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	uint8_t *frame = malloc(wl + 2);
	assert_non_null(frame);
	frame[0] = (uint8_t)(wl >> 8);
	frame[1] = (uint8_t)wl;
	memcpy(frame + 2, w, wl);
	free(w);
	*len = wl + 2;
	return frame;
}

#endif
