/*
 * dnstap.h - one dnstap protobuf frame -> an observation (who asked, when, which
 * name, which addresses). Pure function over the frame bytes.
 */
#ifndef RV_DNSTAP_H
#define RV_DNSTAP_H

#include "common.h"
#include "dnsmsg.h"

/* dnstap Message.Type values we care about (from dnstap.proto). */
enum {
	RV_DNSTAP_AUTH_RESPONSE = 2,
	RV_DNSTAP_CLIENT_RESPONSE = 6,
};

typedef struct rv_observation {
	int msg_type;            /* dnstap Message.Type */
	bool has_client;
	rv_addr client;          /* query_address: the client that asked */
	bool has_response_addr;
	rv_addr response_addr;   /* response_address: where the query arrived (the view hint) */
	uint16_t response_port;
	bool has_time;
	int64_t time_sec;        /* response_time; 0 if absent */
	uint32_t time_nsec;
	/* Borrowed from the decoded frame: valid while the frame is, i.e.
	 * during the sinks' observe() call. */
	const uint8_t *identity; /* dnstap identity (the sensor); NULL if absent */
	size_t identity_len;
	int socket_protocol;     /* dnstap SocketProtocol: 1 UDP, 2 TCP, 3 DOT, 4 DOH; 0 unknown */
	rv_answer answer;
} rv_observation;

/* "udp", "tcp", "dot", "doh" or "unknown" for rv_observation.socket_protocol. */
const char *rv_dnstap_transport_name(int socket_protocol);

/*
 * Decodes a dnstap.Dnstap protobuf frame. Learns only from CLIENT_RESPONSE and
 * AUTH_RESPONSE (RESOLVER_* are upstream answers, UPDATE_* are
 * ours). Returns 0 with *why = RV_LEARN, -ENOENT (skipped, *why says why) or
 * -EBADMSG (RV_BAD_PROTOBUF / RV_BAD_DNS). Borrows frame; obs owns no memory
 * but points into the frame (identity, answer.wire): keep the frame until
 * the observation is done with. Accepts and rejects what protobuf-c's
 * dnstap__dnstap__unpack() does (dnstap.c lists the rules). Allocates
 * nothing; thread-safe.
 */
int rv_dnstap_decode(const uint8_t *frame, size_t len, unsigned max_depth,
		rv_observation *obs, rv_verdict *why) RV_MUST_CHECK;

/* Releases what the thread's last decode held. The decoder holds nothing
 * (observations borrow the frame), so this does nothing; kept for callers
 * written against the protobuf-c decoder, which kept a per-thread arena. */
void rv_dnstap_release(void);

#endif
