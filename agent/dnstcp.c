/* dnstcp.c - the server's address, and DNS over TCP message framing over a
 * libevent buffer. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "dnstcp.h"

int rv_dnstcp_peer(const char *server, uint16_t port, struct sockaddr_storage *sa,
		socklen_t *salen, char *peer)
{
	rv_addr a;

	memset(sa, 0, sizeof(*sa));
	if (server == NULL || rv_addr_parse(server, &a) < 0)
		return -EINVAL;
	if (a.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a.bytes, 4);
		*salen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a.bytes, 16);
		*salen = sizeof(*sin6);
	}
	if (peer != NULL) {
		char abuf[RV_ADDR_STRLEN];
		snprintf(peer, RV_DNSTCP_PEER_MAX, "%s#%u", rv_addr_str(&a, abuf, sizeof(abuf)),
				port);
	}
	return 0;
}

int rv_dnstcp_take(struct evbuffer *in, uint8_t *buf)
{
	uint8_t hdr[2];
	if (evbuffer_copyout(in, hdr, 2) != 2)
		return -EAGAIN;
	size_t len = (size_t)hdr[0] << 8 | hdr[1];
	if (evbuffer_get_length(in) < 2 + len)
		return -EAGAIN;
	evbuffer_drain(in, 2);
	if (evbuffer_remove(in, buf, len) != (int)len)
		return -EAGAIN; /* cannot happen: the length was checked above */
	return (int)len;
}
