/* addr.c - IPv4/IPv6 address values: parse, canonical text, compare. */
#include <arpa/inet.h>
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
