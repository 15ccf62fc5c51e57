/*
 * json.h - JSON text for the outputs that speak it (COF lines, the query API,
 * error bodies). Output only: the one JSON the agent reads, named's
 * statistics, is parsed by json-c (bindstats.c), never by hand.
 */
#ifndef RV_JSON_H
#define RV_JSON_H

#include "common.h"

struct evbuffer;

/*
 * Appends s as a JSON string literal, quotes included (RFC 8259 7): '"' and
 * '\' escaped, control characters as \u00XX, and any byte >= 0x80 that does
 * not start a well-formed UTF-8 sequence as \u00XX of that byte, so the
 * output is always valid JSON whatever s holds. Returns 0 or -ENOMEM.
 */
int rv_json_str(struct evbuffer *out, const char *s);

#endif
