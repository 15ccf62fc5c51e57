/*
 * dname.h - DNS names: presentation form (RFC 1035 5.1) <-> uncompressed wire
 * form, and the checks every name the agent reads from its configuration or
 * sends to BIND must pass. Pure functions over byte buffers.
 *
 * Text: labels separated by '.'; "\X" is the octet X for any X that is not a
 * digit ("\." a dot inside a label, "\\" a backslash, "\"" a quote), "\DDD" the
 * octet with decimal value DDD (000..255); every other byte stands for itself.
 * One trailing unescaped dot (an absolute name) is optional; "." alone is the
 * root. Wire: length-prefixed labels ending in the root label; labels of 1..63
 * octets and names of at most 255 octets (RFC 1035 2.3.4, 3.1), counted after
 * escapes.
 *
 * Printing escapes '.', ';', '(', ')' and '\' with a backslash and every octet
 * outside 0x21..0x7e as "\DDD": the forms the agent has always stored (its names
 * were first printed by ldns_rdf2str), so snapshot names, the table's names and
 * the zone's PTR targets read back by the AXFR reconcile compare equal byte for
 * byte. dnsmsg.c (the ingest hot path) prints with the same inline octet
 * printer below, following compression pointers itself.
 */
#ifndef RV_DNAME_H
#define RV_DNAME_H

#include "common.h"

#define RV_DNAME_WIRE_MAX 255   /* octets, root label included (RFC 1035 3.1) */
#define RV_DNAME_LABEL_MAX 63   /* octets (RFC 1035 2.3.4) */

/* Flags. */
#define RV_DNAME_LOWER 1u       /* fold ASCII letters to lower case (RFC 4343) */

/*
 * text[0..len) -> wire into out (RV_DNAME_WIRE_MAX octets), *outlen its length.
 * Returns 0, or -EINVAL with *why (static text: "empty label", "label longer
 * than 63 octets", "name longer than 255 octets", "bad escape", "empty name")
 * when why is not NULL. The root (".") is a valid name: callers that cannot use
 * it check for *outlen == 1.
 */
int rv_dname_from_text(const char *text, size_t len, unsigned flags, uint8_t *out,
		size_t *outlen, const char **why) RV_MUST_CHECK;

/*
 * Wire name (uncompressed, as rv_dname_from_text or rv_dnswire_name_read make
 * it) -> presentation form without the trailing dot, "." for the root, into
 * out. outlen of RV_NAME_MAX always suffices. Returns the text length, or
 * -EINVAL for a malformed wire name (a label over 63 octets, no root label
 * within len or 255 octets), -ENOSPC if out is too small.
 */
int rv_dname_to_text(const uint8_t *wire, size_t len, unsigned flags, char *out,
		size_t outlen) RV_MUST_CHECK;

/*
 * The canonical text of a name: parsed and printed again, lower-cased, without
 * the trailing dot ("Ex\097mple.COM." -> "example.com"): the form names have in
 * the table, so a configured name compares with learned ones with strcmp.
 * Returns the length, -EINVAL (with *why as rv_dname_from_text) or -ENOSPC.
 */
int rv_dname_canon(const char *text, char *out, size_t outlen, const char **why) RV_MUST_CHECK;

/* Length of text[0..len) without one trailing unescaped dot: "a.b." -> 3;
 * "a\\." (an escaped dot ends the label) stays 3. */
size_t rv_dname_strip_dot(const char *text, size_t len);

/*
 * Writes the presentation form of one octet of a label at p and returns the
 * position after it (1, 2 or 4 bytes). Inline, and per octet, so the ingest
 * path's walker (dnsmsg.c), which follows compression pointers itself, prints
 * with exactly this code at no cost over a loop of its own (callgrind, 24,000
 * parses of named's responses: 39,627,295 instructions with dnsmsg.c's own
 * loop, 39,637,295 with this one).
 */
static inline char *rv_dname_octet_text(uint8_t c, unsigned flags, char *p)
{
	if (c == '.' || c == ';' || c == '(' || c == ')' || c == '\\') {
		*p++ = '\\';
		*p++ = (char)c;
	} else if (c < 0x21 || c > 0x7e) {
		*p++ = '\\';
		*p++ = (char)('0' + c / 100);
		*p++ = (char)('0' + c / 10 % 10);
		*p++ = (char)('0' + c % 10);
	} else {
		*p++ = (char)((flags & RV_DNAME_LOWER) && (uint8_t)(c - 'A') < 26
				? (uint8_t)(c + ('a' - 'A')) : c);
	}
	return p;
}

#endif
