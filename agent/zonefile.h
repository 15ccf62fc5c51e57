/*
 * zonefile.h - reads DNS master files (RFC 1035 5) as `dig AXFR` and
 * `named-compilezone -s full` write them: one record per line, "owner TTL
 * class type rdata", comments after ';', $ORIGIN and $TTL, parentheses
 * spanning lines, an omitted owner (line starting with blank) repeating the
 * last one, TTL and class in either order and optional. Pure over bytes: the
 * input is a buffer, records go to a callback. $INCLUDE and $GENERATE are
 * refused (neither tool writes them, and $INCLUDE would read other files).
 */
#ifndef RV_ZONEFILE_H
#define RV_ZONEFILE_H

#include "common.h"

typedef struct rv_zonefile_rr {
	const char *owner;   /* absolute, presentation form as written, no trailing dot */
	uint32_t ttl;
	const char *type;    /* mnemonic as written, upper-cased: "PTR", "TXT", "TYPE65534" */
	const char *ptr;     /* PTR: the target, absolute, no trailing dot; else NULL */
	const uint8_t *txt;  /* TXT: the strings, escapes decoded, joined with one space; else NULL */
	size_t txt_len;
	unsigned line;       /* where the record starts (1-based) */
	size_t consumed;     /* bytes of text read so far: the parse never looks
	                      * before this again, so a caller may drop those pages */
} rv_zonefile_rr;

/* Returns 0 to go on, or -errno to stop the parse with it. */
typedef int (*rv_zonefile_fn)(void *arg, const rv_zonefile_rr *rr);

/*
 * Parses text[0..len). origin (may be NULL or "") is the initial $ORIGIN for
 * relative names. Returns 0, what fn returned, or -EBADMSG with err = "line N:
 * message" (unterminated quote or parenthesis, no type, a relative name
 * without origin, a bad name, $INCLUDE). Records before the error have been
 * handed over: the caller must treat the result as incomplete.
 */
int rv_zonefile_parse(const char *text, size_t len, const char *origin, rv_zonefile_fn fn,
		void *arg, char *err, size_t errlen) RV_MUST_CHECK;

#endif
