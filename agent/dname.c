/* dname.c - DNS name text <-> wire codec (see dname.h for the rules). */
#include <string.h>

#include "dname.h"

int rv_dname_from_text(const char *text, size_t len, unsigned flags, uint8_t *out,
		size_t *outlen, const char **why)
{
	size_t o = 1, lab = 0, i = 0;   /* lab: where the current label's length goes */
	const char *reason;

	if (len == 0) {
		reason = "empty name";
		goto bad;
	}
	if (len == 1 && text[0] == '.') {
		out[0] = 0;
		*outlen = 1;
		return 0;
	}
	while (i < len) {
		unsigned char ch = (unsigned char)text[i];

		if (ch == '.') {
			if (o - lab - 1 == 0) {
				reason = "empty label";   /* "a..b", ".a" */
				goto bad;
			}
			out[lab] = (uint8_t)(o - lab - 1);
			lab = o++;
			if (++i == len)
				break;                    /* the trailing dot: absolute */
			if (o >= RV_DNAME_WIRE_MAX) {
				reason = "name longer than 255 octets";
				goto bad;
			}
			continue;
		}
		if (ch == '\\') {
			if (i + 1 >= len) {
				reason = "bad escape";
				goto bad;
			}
			unsigned char d = (unsigned char)text[i + 1];
			if (d >= '0' && d <= '9') {
				unsigned v = 0;
				if (i + 3 >= len) {
					reason = "bad escape";
					goto bad;
				}
				for (size_t k = 1; k <= 3; k++) {
					d = (unsigned char)text[i + k];
					if (d < '0' || d > '9') {
						reason = "bad escape";
						goto bad;
					}
					v = v * 10 + (d - '0');
				}
				if (v > 255) {
					reason = "bad escape";
					goto bad;
				}
				ch = (unsigned char)v;
				i += 4;
			} else {
				ch = d;
				i += 2;
			}
		} else {
			i++;
		}
		if (o - lab - 1 == RV_DNAME_LABEL_MAX) {
			reason = "label longer than 63 octets";
			goto bad;
		}
		/* One octet for this one and one for the root label still to come. */
		if (o + 2 > RV_DNAME_WIRE_MAX) {
			reason = "name longer than 255 octets";
			goto bad;
		}
		if ((flags & RV_DNAME_LOWER) && ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch | 0x20);
		out[o++] = ch;
	}
	if (o - lab - 1 > 0) {
		/* No trailing dot: close the last label. */
		out[lab] = (uint8_t)(o - lab - 1);
		lab = o++;
	}
	/* lab is where the root label goes; o == lab + 1 <= 255 by the checks above. */
	out[lab] = 0;
	*outlen = o;
	return 0;
bad:
	if (why != NULL)
		*why = reason;
	return -EINVAL;
}

int rv_dname_to_text(const uint8_t *wire, size_t len, unsigned flags, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	if (outlen < 2)
		return -ENOSPC;
	for (;;) {
		if (i >= len || i >= RV_DNAME_WIRE_MAX)
			return -EINVAL;
		uint8_t l = wire[i++];
		if (l == 0)
			break;
		if (l > RV_DNAME_LABEL_MAX || i + l > len || i + l >= RV_DNAME_WIRE_MAX)
			return -EINVAL;
		/* The dot, 4 bytes per octet at worst, and the NUL. */
		if (o + 1 + 4 * (size_t)l + 1 > outlen)
			return -ENOSPC;
		if (o > 0)
			out[o++] = '.';
		char *p = out + o;
		for (size_t k = 0; k < l; k++)
			p = rv_dname_octet_text(wire[i + k], flags, p);
		o = (size_t)(p - out);
		i += l;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	return (int)o;
}

size_t rv_dname_strip_dot(const char *text, size_t len)
{
	if (len > 0 && text[len - 1] == '.') {
		size_t bs = 0;
		for (size_t i = len - 1; i > 0 && text[i - 1] == '\\'; i--)
			bs++;
		if (bs % 2 == 0)
			len--;
	}
	return len;
}

int rv_dname_canon(const char *text, char *out, size_t outlen, const char **why)
{
	uint8_t w[RV_DNAME_WIRE_MAX];
	size_t wl;

	if (rv_dname_from_text(text, strlen(text), RV_DNAME_LOWER, w, &wl, why) < 0)
		return -EINVAL;
	return rv_dname_to_text(w, wl, 0, out, outlen);
}
