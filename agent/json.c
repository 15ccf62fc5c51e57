/* json.c - JSON string literals (see json.h). */
#include <event2/buffer.h>

#include "json.h"

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong 3- and 4-octet forms, surrogates, beyond U+10FFFF. */
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

int rv_json_str(struct evbuffer *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *run = p; /* octets copied as they are */
	int rc = 0;

	if (evbuffer_add(out, "\"", 1) < 0)
		return -ENOMEM;
	while (*p != '\0') {
		char esc[8];
		size_t n;

		if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
			p++;
			continue;
		}
		if (*p >= 0x80 && (n = utf8_len(p)) > 0) {
			p += n;
			continue;
		}
		if (p > run && evbuffer_add(out, run, (size_t)(p - run)) < 0)
			return -ENOMEM;
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			rc = evbuffer_add(out, esc, 2);
		} else {
			rc = evbuffer_add_printf(out, "\\u%04x", *p) < 0 ? -1 : 0;
		}
		if (rc < 0)
			return -ENOMEM;
		run = ++p;
	}
	if (p > run && evbuffer_add(out, run, (size_t)(p - run)) < 0)
		return -ENOMEM;
	return evbuffer_add(out, "\"", 1) < 0 ? -ENOMEM : 0;
}
