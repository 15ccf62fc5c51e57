/* long_name.h - test helper: a name text of exactly len characters, labels of
 * at most 63 ("aaa...a.bbb...b.c..."), for the 255-octet limits (RFC 1035
 * 3.1): len 253 is 255 octets on the wire, 254 one too many. */
#ifndef RV_TEST_LONG_NAME_H
#define RV_TEST_LONG_NAME_H

#include <string.h>

static inline void long_name(char *out, size_t len)
{
	size_t n = 0;
	while (n < len) {
		size_t lab = len - n < 63 ? len - n : 63;
		memset(out + n, 'a' + (char)(n % 26), lab);
		n += lab;
		if (n < len)
			out[n++] = '.';
	}
	out[len] = '\0';
}

#endif
