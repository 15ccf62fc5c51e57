/* dnstcp.c - DNS over TCP message framing over a libevent buffer. */
#include <event2/buffer.h>

#include "dnstcp.h"

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
