/* addr.c - IPv4/IPv6 address values: parse, canonical text, compare. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common.h"

int rv_addr_set(rv_addr *a, const uint8_t *bytes, size_t len)
{
	memset(a, 0, sizeof(*a));
	if (len == 4)
		a->family = AF_INET;
	else if (len == 16)
		a->family = AF_INET6;
	else
		return -EINVAL;
	memcpy(a->bytes, bytes, len);
	return 0;
}

int rv_addr_parse(const char *text, rv_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, text, a->bytes) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, a->bytes) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	memset(a, 0, sizeof(*a));
	return -EINVAL;
}

const char *rv_addr_str(const rv_addr *a, char *buf, size_t len)
{
	/* glibc's inet_ntop already produces the RFC 5952 form for IPv6. */
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    inet_ntop(a->family, a->bytes, buf, (socklen_t)len) == NULL) {
		if (len > 0) {
			strncpy(buf, "?", len - 1);
			buf[len - 1] = '\0';
		}
	}
	return buf;
}

bool rv_addr_equal(const rv_addr *a, const rv_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

void rv_ascii_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

int rv_hostport_parse(const char *text, rv_addr *a, uint16_t *port)
{
	char host[RV_ADDR_STRLEN + 2];
	const char *colon, *h = text;
	size_t hl;
	char *end;
	unsigned long p;

	/* "[v6]:port" or "v4:port": the last colon separates the port. */
	colon = strrchr(text, ':');
	if (colon == NULL || colon == text)
		return -EINVAL;
	hl = (size_t)(colon - text);
	if (text[0] == '[') {
		if (hl < 3 || text[hl - 1] != ']')
			return -EINVAL;
		h = text + 1;
		hl -= 2;
	} else if (memchr(text, ':', hl) != NULL) {
		return -EINVAL; /* a bare IPv6 address needs brackets */
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || p == 0 ||
	    p > 65535)
		return -EINVAL;
	if (rv_addr_parse(host, a) < 0)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

bool rv_addr_is_loopback(const rv_addr *a)
{
	static const uint8_t v6_loopback[16] = {[15] = 1};

	if (a->family == AF_INET)
		return a->bytes[0] == 127;
	return memcmp(a->bytes, v6_loopback, 16) == 0;
}
