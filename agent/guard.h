/*
 * guard.h - what the agent must never learn from (issue: poisoning and noise).
 *   - addresses in ignore-cidr (default: unspecified, loopback, link-local, multicast)
 *   - names equal to or under an ignore-suffix
 *   - answers sent from an ignore-response-address (e.g. the xray view's own
 *     address: its answers are our own PTRs, learning from them would loop)
 * Pure: built once from the config text, then queried on the ingest path.
 */
#ifndef RV_GUARD_H
#define RV_GUARD_H

#include "common.h"

typedef struct rv_guard rv_guard;

/* Parses the three space-separated lists (any may be NULL or ""). On a bad item
 * returns NULL with *err = -EINVAL and errbuf naming the option and the item. */
rv_guard *rv_guard_new(const char *cidrs, const char *suffixes, const char *response_addrs,
		int *err, char *errbuf, size_t errlen);
void rv_guard_free(rv_guard **g);

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is also checked against the
 * IPv4 entries, as the IPv4 address it names. */
bool rv_guard_ignore_addr(const rv_guard *g, const rv_addr *a);
/* name: lower-case presentation form without trailing dot. */
bool rv_guard_ignore_name(const rv_guard *g, const char *name);
/* The answer left the server from addr#port (dnstap response_address/port). */
bool rv_guard_ignore_response(const rv_guard *g, const rv_addr *addr, uint16_t port);

#endif
