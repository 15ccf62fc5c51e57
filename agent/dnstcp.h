/*
 * dnstcp.h - DNS over TCP to one server (RFC 1035 4.2.2, RFC 7766): the
 * server's socket address, and message framing (each message is preceded by
 * its length as a 2-byte big-endian integer) over a libevent input buffer.
 * Shared by the UPDATE writer and the AXFR reconcile.
 */
#ifndef RV_DNSTCP_H
#define RV_DNSTCP_H

#include <sys/socket.h>

#include "common.h"

struct evbuffer;

/* "BIND#53" as BIND logs peers: an IPv6 address plus "#65535" fits. */
#define RV_DNSTCP_PEER_MAX (RV_ADDR_STRLEN + 8)

/* Numeric IPv4 or IPv6 server address + port -> *sa / *salen, and peer (NULL
 * or RV_DNSTCP_PEER_MAX bytes) = "ADDRESS#PORT" with the address in canonical
 * form. 0, or -EINVAL if server is not a numeric address. */
int rv_dnstcp_peer(const char *server, uint16_t port, struct sockaddr_storage *sa,
		socklen_t *salen, char *peer) RV_MUST_CHECK;

/* Moves the next complete message out of in into buf (which must hold 65535
 * bytes). Returns its length, or -EAGAIN if in does not hold a whole message yet
 * (nothing is consumed then). */
int rv_dnstcp_take(struct evbuffer *in, uint8_t *buf) RV_MUST_CHECK;

#endif
