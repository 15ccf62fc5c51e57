/*
 * dnstcp.h - DNS over TCP message framing (RFC 1035 4.2.2: each message is
 * preceded by its length as a 2-byte big-endian integer), over a libevent
 * input buffer. Shared by the UPDATE writer and the AXFR reconcile.
 */
#ifndef RV_DNSTCP_H
#define RV_DNSTCP_H

#include "common.h"

struct evbuffer;

/* Moves the next complete message out of in into buf (which must hold 65535
 * bytes). Returns its length, or -EAGAIN if in does not hold a whole message yet
 * (nothing is consumed then). */
int rv_dnstcp_take(struct evbuffer *in, uint8_t *buf) RV_MUST_CHECK;

#endif
