/* addr.c - IPv4/IPv6 address values: parse, canonical text, compare. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common.h"

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

/* "a.b.c.d" at p; returns the end. */
static char *v4_text(const uint8_t *b, char *p)
{
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (i > 0)
			*p++ = '.';
		if (v >= 100) {
			*p++ = (char)('0' + v / 100);
			v %= 100;
			*p++ = (char)('0' + v / 10);
			v %= 10;
		} else if (v >= 10) {
			*p++ = (char)('0' + v / 10);
			v %= 10;
		}
		*p++ = (char)('0' + v);
	}
	return p;
}

/*
 * RFC 5952 text of an IPv6 address, as glibc's inet_ntop writes it (the unit
 * test compares the two on millions of addresses): lower-case hex without
 * leading zeros, the longest run of two or more zero groups (the first of
 * equals) as "::", and the ::a.b.c.d / ::ffff:a.b.c.d forms.
 */
static char *v6_text(const uint8_t *b, char *p)
{
	static const char hex[] = "0123456789abcdef";
	unsigned w[8];
	int best = -1, best_len = 0;

	for (int i = 0; i < 8; i++)
		w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
	for (int i = 0; i < 8;) {
		int j = i;

		while (j < 8 && w[j] == 0)
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j > i ? j : i + 1;
	}
	if (best_len < 2)
		best = -1;
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			*p++ = ':';
			if (i == 0)
				*p++ = ':';
			i += best_len - 1;
			continue;
		}
		/* glibc: an embedded IPv4 address after ::, or after ::ffff: */
		if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)))
			return v4_text(b + 12, p);
		bool lead = true;
		for (int k = 12; k >= 0; k -= 4) {
			unsigned d = (w[i] >> k) & 0xf;

			if (d == 0 && lead && k > 0)
				continue;
			lead = false;
			*p++ = hex[d];
		}
		if (i < 7)
			*p++ = ':';
	}
	return p;
}

const char *rv_addr_str(const rv_addr *a, char *buf, size_t len)
{
	/* Our own printer: glibc's inet_ntop formats through sprintf, ~1,500
	 * instructions an address, which the history paid for every new
	 * record (callgrind). */
	char tmp[RV_ADDR_STRLEN], *end;

	if (a->family == AF_INET)
		end = v4_text(a->bytes, tmp);
	else if (a->family == AF_INET6)
		end = v6_text(a->bytes, tmp);
	else
		end = tmp + snprintf(tmp, sizeof(tmp), "?");
	*end = '\0';
	if (len == 0)
		return buf;
	if ((size_t)(end - tmp) >= len) {
		/* too small: "?" (as much as fits), never a cut address */
		end = tmp;
		*end++ = '?';
		*end = '\0';
	}
	{
		size_t n = (size_t)(end - tmp);

		if (n >= len)
			n = len - 1;
		memcpy(buf, tmp, n);
		buf[n] = '\0';
	}
	return buf;
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
